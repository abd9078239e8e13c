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

/* ----------------------------------------------- vecmath.h: exp, sigmoid, tanh ---- */
#include "vecmath.h" /* autodiff/: the float build's vectorizable functions */

#include <float.h>

/* |got - want| in units in the last place of want (a float); below FLT_MIN in units of the
 * smallest subnormal, the spacing there. */
static double ulps(float got, double want) {
    if (isnan(want)) return isnan(got) ? 0 : INFINITY;
    if (fabs(want) < FLT_MIN) return fabs((double)got - want) / 0x1p-149;
    int e;
    frexp(want, &e);
    return fabs((double)got - want) / ldexp(1, e - 24);
}

/* The worst error of f against ref at: a uniform grid of 2^21 points over [lo, hi] (every float
 * there would be 2^31 calls), and ±2^-k (1 + j/64) for small x, where relative accuracy is
 * hardest to keep. Points whose exact result overflows float are left out. */
static double sweep(float (*f)(float), double (*ref)(double), double lo, double hi,
                    double *worst_x) {
    double worst = 0;
    const int N = 1 << 21;
    for (int k = 0; k <= N + 64 * 2 * 40; k++) {
        double xd;
        if (k <= N) xd = lo + (hi - lo) * k / N;
        else {
            const int i = k - N - 1, e = 1 + i / 128, j = i % 64;
            xd = ldexp(1 + j / 64.0, -e) * ((i / 64) % 2 ? -1 : 1);
            if (xd < lo || xd > hi) continue;
        }
        const float x = (float)xd;
        const double want = ref((double)x);
        if (fabs(want) > FLT_MAX) continue;
        const double u = ulps(f(x), want);
        if (u > worst) worst = u, *worst_x = x;
    }
    return worst;
}

static double r_sigmoid(double x) { return 1 / (1 + exp(-x)); }

TEST(vecmath_exp_sigmoid_tanh_are_within_a_few_ulp) {
    double at_e = 0, at_s = 0, at_t = 0;
    const double e = sweep(ad_expf, exp, -104, 88.7, &at_e);
    const double s = sweep(ad_sigmoidf, r_sigmoid, -104, 104, &at_s);
    const double t = sweep(ad_tanhf, tanh, -12, 12, &at_t);
    th_note("max error: exp %.2f ulp (at %g), sigmoid %.2f ulp (at %g), tanh %.2f ulp (at %g)",
            e, at_e, s, at_s, t, at_t);
    CHECK(e <= 1.5);
    CHECK(s <= 3);
    CHECK(t <= 2);
    /* a subnormal result rounds once: within one subnormal step */
    CHECK(ulps(ad_expf(-100), exp(-100.0)) <= 1 && ad_expf(-100) > 0);
    CHECK(ulps(ad_sigmoidf(-100), r_sigmoid(-100)) <= 1);
}

TEST(vecmath_special_values) {
    CHECK(ad_expf(0) == 1 && ad_expf(1e-30f) == 1);
    CHECK(ad_expf(-INFINITY) == 0 && ad_expf(-104) == 0 && ad_expf(-1e30f) == 0);
    CHECK(ad_expf(INFINITY) == INFINITY && ad_expf(89) == INFINITY && ad_expf(1e30f) == INFINITY);
    CHECK(isnan(ad_expf(NAN)) && isnan(ad_sigmoidf(NAN)) && isnan(ad_tanhf(NAN)));
    CHECK(ad_sigmoidf(-INFINITY) == 0 && ad_sigmoidf(INFINITY) == 1 && ad_sigmoidf(0) == 0.5f);
    CHECK(ad_tanhf(INFINITY) == 1 && ad_tanhf(-INFINITY) == -1 && ad_tanhf(50) == 1);
    CHECK(ad_tanhf(0) == 0 && signbit(ad_tanhf(-0.0f)) && ad_tanhf(1e-30f) == 1e-30f);
    /* odd, to the bit */
    for (float x = 1e-6f; x < 20; x *= 1.37f) CHECK(ad_tanhf(-x) == -ad_tanhf(x));
}

/* The ops run the kernels the CPU's clone was built from (AVX-512, AVX2 or SSE2): the same
 * accuracy through the tape, on a tensor longer than a chunk with a ragged end. */
TEST(tape_exp_sigmoid_tanh_match_double) {
    enum { M = 3, N = 3001 };
    static ad_real x[M * N];
    th_fill_uniform(x, M * N, -20, 20, 21);
    ad_tape *tp = ad_tape_new();
    ad_tensor *in = ad_input(tp, M, N, x);
    ad_tensor *ye = ad_exp(tp, in), *ys = ad_sigmoid(tp, in), *yt = ad_tanh(tp, in);
    double we = 0, ws = 0, wt = 0;
    for (int k = 0; k < M * N; k++) {
        we = fmax(we, ulps(ad_data(ye)[k], exp((double)x[k])));
        ws = fmax(ws, ulps(ad_data(ys)[k], r_sigmoid((double)x[k])));
        wt = fmax(wt, ulps(ad_data(yt)[k], tanh((double)x[k])));
    }
    th_note("through the tape: exp %.2f, sigmoid %.2f, tanh %.2f ulp", we, ws, wt);
    CHECK(we <= 1.5 && ws <= 3 && wt <= 2);
    ad_tape_free(tp);
}

/* Softmax cross-entropy over a word LM's 10000 classes: the float loss within 1e-6 of the loss
 * in double from the same float logits, each gradient entry within a few 1e-6 of p - y. */
TEST(softmax_xent_over_10000_classes_matches_double) {
    enum { M = 24, V = 10000 };
    static ad_real x[M * V];
    th_fill_uniform(x, M * V, -6, 6, 22);
    x[5 * V + 17] = 40; /* one confident row */
    int t[M];
    for (int i = 0; i < M; i++) t[i] = (i * 7919 + 3) % V;
    ad_params *ps = ad_params_new();
    ad_tensor *logits = ad_param(ps, "logits", M, V);
    memcpy(ad_data(logits), x, sizeof x);
    ad_tape *tp = ad_tape_new();
    ad_tensor *loss = ad_softmax_xent(tp, logits, t, NULL);
    ad_backward(tp, loss);
    double J = 0, worst_g = 0;
    for (int i = 0; i < M; i++) {
        const ad_real *r = x + (size_t)i * V;
        double mx = r[0], s = 0;
        for (int j = 1; j < V; j++) mx = fmax(mx, r[j]);
        for (int j = 0; j < V; j++) s += exp(r[j] - mx);
        J += (mx - r[t[i]] + log(s)) / M;
        for (int j = 0; j < V; j++) {
            const double want = (exp(r[j] - mx) / s - (j == t[i])) / M;
            const double got = ad_grad(logits)[(size_t)i * V + j];
            worst_g = fmax(worst_g, fabs(got - want) / (fabs(want) + 1e-30 / M));
        }
    }
    const double rel = fabs((double)ad_item(loss) - J) / J;
    th_note("loss %.9g, double %.9g: rel err %.2g; worst gradient rel err %.2g",
            (double)ad_item(loss), J, rel, worst_g);
    CHECK(rel < 1e-6);
    CHECK(worst_g < 4e-6);
    ad_tape_free(tp);
    ad_params_free(ps);
}

/* The negative-sampling loss in float against double, over scores from -120 to 120: the float σ
 * underflows far out (below about -87) and a product of thousands of σ's would too, yet every
 * pair's -log σ(x) is summed to float precision and each ∂J/∂z is -s σ(-x). */
TEST(sampled_logistic_matches_double_far_out) {
    enum { D = 2, N = 2401 };
    ad_params *ps = ad_params_new();
    ad_tensor *A = ad_param(ps, "A", 1, D), *B = ad_param(ps, "B", N, D);
    ad_data(A)[0] = 1;
    static int ia[N], ib[N];
    static ad_real sign[N];
    double J = 0;
    for (int r = 0; r < N; r++) {
        const ad_real z = (ad_real)(-120 + 0.1 * r); /* exact in float to a few ulp */
        ad_data(B)[r * D] = z;
        ib[r] = r;
        sign[r] = r % 3 ? 1 : -1;
        const double x = sign[r] * (double)z;
        J += x > 0 ? log1p(exp(-x)) : -x + log1p(exp(x));
    }
    ad_tape *tp = ad_tape_new();
    ad_tensor *loss = ad_sampled_logistic(tp, A, ia, B, ib, sign, N);
    ad_backward(tp, loss);
    double worst_g = 0;
    for (int r = 0; r < N; r++) {
        const double x = sign[r] * (double)ad_data(B)[r * D];
        const double want = -sign[r] * r_sigmoid(-x); /* dB_r = ∂J/∂z_r · A = ∂J/∂z_r */
        worst_g = fmax(worst_g, fabs(ad_grad(B)[r * D] - want) / (fabs(want) + 1e-30));
    }
    const double rel = fabs((double)ad_item(loss) - J) / J;
    th_note("loss %.9g, double %.9g: rel err %.2g; worst gradient rel err %.2g",
            (double)ad_item(loss), J, rel, worst_g);
    CHECK(isfinite(ad_item(loss)));
    CHECK(rel < 1e-6);
    CHECK(worst_g < 1e-5);
    ad_tape_free(tp);
    ad_params_free(ps);
}
