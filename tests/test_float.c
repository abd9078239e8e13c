/*
 * The float build (ad_real = float, the library users link) against double arithmetic: a small
 * model's loss and gradients agree with a double computation in plain loops to float precision,
 * and the gradient checker's float defaults pass on smooth losses.
 */
#include "harness.h"

_Static_assert(sizeof(ad_real) == sizeof(float), "test_float runs on the float build");

/* A two-layer classifier (FORMULAS §3 with tanh), row form:
 *   z1 = x W1 + b1,  h = tanh(z1),  θ = h W2 + b2,  J = Σ_i w_i CE(y_i, softmax(θ_i)) / Σ_i w_i */
enum { B = 5, DX = 6, H = 8, C = 4 };

typedef struct {
    ad_tensor *W1, *b1, *W2, *b2;
    ad_real x[B * DX];
    int y[B];
    const ad_real *w; /* row weights, or NULL */
} net;

static ad_tensor *net_loss(ad_tape *tp, void *ctx) {
    net *n = ctx;
    ad_tensor *x = ad_input(tp, B, DX, n->x);
    ad_tensor *h = ad_tanh(tp, ad_add(tp, ad_matmul(tp, x, n->W1), n->b1));
    ad_tensor *logits = ad_add(tp, ad_matmul(tp, h, n->W2), n->b2);
    return ad_softmax_xent(tp, logits, n->y, n->w);
}

static net make_net(ad_params *ps) {
    net n = {th_param(ps, "W1", DX, H, -0.8, 0.8, 1), th_param(ps, "b1", 1, H, -0.2, 0.2, 2),
             th_param(ps, "W2", H, C, -0.8, 0.8, 3), th_param(ps, "b2", 1, C, -0.2, 0.2, 4),
             {0}, {2, 0, 3, 1, 2}, NULL};
    th_fill_uniform(n.x, B * DX, -1.5, 1.5, 5);
    return n;
}

static double at(ad_tensor *t, int i, int j) { return (double)ad_get(t, i, j); }

/* The loss and gradients of net in double, by the hand-derived rules of FORMULAS §3. */
static double net_reference(net *n, double *dW1, double *db1, double *dW2, double *db2) {
    double h[B][H], dtheta[B][C], dz1[B][H], wsum = 0, J = 0;
    for (int i = 0; i < B; i++) wsum += n->w ? (double)n->w[i] : 1;
    for (int i = 0; i < B; i++) {
        const double wi = n->w ? (double)n->w[i] : 1;
        for (int k = 0; k < H; k++) {
            double z = at(n->b1, 0, k);
            for (int d = 0; d < DX; d++) z += (double)n->x[i * DX + d] * at(n->W1, d, k);
            h[i][k] = tanh(z);
        }
        double theta[C], mx = -INFINITY, s = 0;
        for (int c = 0; c < C; c++) {
            theta[c] = at(n->b2, 0, c);
            for (int k = 0; k < H; k++) theta[c] += h[i][k] * at(n->W2, k, c);
            mx = fmax(mx, theta[c]);
        }
        for (int c = 0; c < C; c++) s += exp(theta[c] - mx);
        J += wi * (log(s) + mx - theta[n->y[i]]) / wsum;
        for (int c = 0; c < C; c++) /* ∂J/∂θ = w (ŷ - y) / Σw */
            dtheta[i][c] = wi * (exp(theta[c] - mx) / s - (c == n->y[i])) / wsum;
    }
    memset(dW1, 0, DX * H * sizeof *dW1);
    memset(db1, 0, H * sizeof *db1);
    memset(dW2, 0, H * C * sizeof *dW2);
    memset(db2, 0, C * sizeof *db2);
    for (int i = 0; i < B; i++) {
        for (int c = 0; c < C; c++) {
            db2[c] += dtheta[i][c];
            for (int k = 0; k < H; k++) dW2[k * C + c] += h[i][k] * dtheta[i][c]; /* h1ᵀ δ */
        }
        for (int k = 0; k < H; k++) {
            double dh = 0; /* δ1 = δ W2ᵀ */
            for (int c = 0; c < C; c++) dh += dtheta[i][c] * at(n->W2, k, c);
            dz1[i][k] = dh * (1 - h[i][k] * h[i][k]); /* δ2 = δ1 ∘ tanh' */
            db1[k] += dz1[i][k];
            for (int d = 0; d < DX; d++) dW1[d * H + k] += (double)n->x[i * DX + d] * dz1[i][k];
        }
    }
    return J;
}

/* Compare a float gradient with its double reference: relative to float precision, with an
 * absolute floor scaled to the gradient's size (a near-zero entry has no relative accuracy).
 * Returns the largest error relative to the largest entry. */
static double check_grad(const char *what, ad_tensor *p, const double *want, int n) {
    double got[DX * H], scale = 0, err = 0;
    for (int k = 0; k < n; k++) {
        got[k] = (double)ad_grad(p)[k];
        scale = fmax(scale, fabs(want[k]));
        err = fmax(err, fabs(got[k] - want[k]));
    }
    CHECK_ARRAY(what, got, want, (size_t)n, 1e-5, 1e-6 * scale);
    return err / scale;
}

static void check_against_double(const ad_real *weights) {
    ad_params *ps = ad_params_new();
    net n = make_net(ps);
    n.w = weights;
    double dW1[DX * H], db1[H], dW2[H * C], db2[C];
    const double J = net_reference(&n, dW1, db1, dW2, db2);

    ad_tape *tp = ad_tape_new();
    ad_tensor *loss = net_loss(tp, &n);
    ad_backward(tp, loss);
    CHECK_NEAR(ad_item(loss), J, 1e-5, 0);
    double worst = 0;
    worst = fmax(worst, check_grad("dW1", n.W1, dW1, DX * H));
    worst = fmax(worst, check_grad("db1", n.b1, db1, H));
    worst = fmax(worst, check_grad("dW2", n.W2, dW2, H * C));
    worst = fmax(worst, check_grad("db2", n.b2, db2, C));
    th_note("loss %.8g (double %.8g, rel err %.2g), gradient error %.2g of the largest entry",
            (double)ad_item(loss), J, fabs((double)ad_item(loss) - J) / J, worst);
    ad_tape_free(tp);
    ad_params_free(ps);
}

TEST(two_layer_net_matches_double) { check_against_double(NULL); }

TEST(two_layer_net_with_row_weights_matches_double) {
    static const ad_real w[B] = {1, 0, 2, 1, 0.5f}; /* row 1 masked out */
    check_against_double(w);
}

/* The checker's float defaults (h = 1e-2, 2e-2 relative) on smooth losses. */
typedef struct {
    ad_tensor *x, *W;
} smooth_case;
static ad_tensor *smooth_loss(ad_tape *tp, void *ctx) {
    smooth_case *c = ctx;
    return th_project(tp, ad_tanh(tp, ad_matmul(tp, c->x, c->W)), 6);
}

TEST(float_gradcheck_with_defaults_passes_on_smooth_ops) {
    ad_params *ps = ad_params_new();
    smooth_case c = {th_param(ps, "x", 4, 5, -1, 1, 7), th_param(ps, "W", 5, 3, -0.7, 0.7, 8)};
    ad_gradcheck_result r = CHECK_GRADCHECK(ps, smooth_loss, &c, NULL);
    CHECK(r.checked == 20 + 15);
    th_note("tanh(x W): max rel err %.2g over %d coordinates", r.max_rel_err, r.checked);
    ad_params_free(ps);

    ps = ad_params_new();
    net n = make_net(ps);
    r = CHECK_GRADCHECK(ps, net_loss, &n, NULL);
    CHECK(r.checked == DX * H + H + H * C + C);
    th_note("two-layer net: max rel err %.2g over %d coordinates", r.max_rel_err, r.checked);
    ad_params_free(ps);
}

/* The float defaults still catch a gradient that is plainly wrong: a loss whose recorded graph
 * leaves out part of the function (the checker sees the values, the tape only part of them). */
typedef struct {
    ad_tensor *x;
} cut_case;
static ad_tensor *cut_loss(ad_tape *tp, void *ctx) {
    ad_tensor *x = ((cut_case *)ctx)->x;
    /* J = Σ x³ as x ∘ detach(x²): the tape sees dJ/dx = x², the truth is 3x² */
    return ad_sum(tp, ad_mul(tp, x, ad_detach(tp, ad_square(tp, x))));
}

TEST(float_gradcheck_with_defaults_catches_a_wrong_gradient) {
    ad_params *ps = ad_params_new();
    cut_case c = {th_param(ps, "x", 2, 3, 0.5, 1.5, 9)};
    ad_gradcheck_result r;
    CHECK(ad_gradcheck(ps, cut_loss, &c, NULL, &r) == -1);
    CHECK(strcmp(r.tensor, "x") == 0 && r.row == 0 && r.col == 0);
    CHECK_NEAR(r.numeric / r.analytic, 3, 2e-2, 0);
    ad_params_free(ps);
}
