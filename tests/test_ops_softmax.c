/* Gradient and value tests of autodiff/ops_softmax.c: softmax, softmax_xent, hinge, mse. */
#include "harness.h"

/* Plain-loop references in double. */
static void ref_softmax(const ad_real *x, int n, double *p) {
    double mx = x[0], s = 0;
    for (int j = 1; j < n; j++) mx = fmax(mx, x[j]);
    for (int j = 0; j < n; j++) s += exp(x[j] - mx);
    for (int j = 0; j < n; j++) p[j] = exp(x[j] - mx) / s;
}

/* Σ_i w_i (-log softmax(x_i)_t(i)) / Σ_i w_i, w NULL meaning all 1 */
static double ref_xent(const ad_real *x, int m, int n, const int *t, const ad_real *w) {
    double num = 0, den = 0;
    for (int i = 0; i < m; i++) {
        double p[64];
        ref_softmax(x + i * n, n, p);
        double wi = w ? w[i] : 1;
        num += wi * -log(p[t[i]]);
        den += wi;
    }
    return den > 0 ? num / den : 0;
}

/* ------------------------------------------------------------------ softmax ---- */

typedef struct {
    ad_tensor *x;
} softmax_case;
static ad_tensor *softmax_loss(ad_tape *tp, void *ctx) {
    return th_project(tp, ad_softmax(tp, ((softmax_case *)ctx)->x), 21);
}

TEST(softmax_values_and_gradient) {
    ad_params *ps = ad_params_new();
    softmax_case c = {th_param(ps, "x", 3, 5, -3, 3, 1)};
    ad_tape *tp = ad_tape_new();
    ad_tensor *y = ad_softmax(tp, c.x);
    REQUIRE(ad_rows(y) == 3 && ad_cols(y) == 5);
    for (int i = 0; i < 3; i++) {
        double p[5], got[5];
        ref_softmax(ad_data(c.x) + i * 5, 5, p);
        for (int j = 0; j < 5; j++) got[j] = ad_get(y, i, j);
        CHECK_ARRAY("softmax row", got, p, 5, 1e-14, 1e-16);
    }
    ad_tape_free(tp);
    CHECK_GRADCHECK(ps, softmax_loss, &c, &th_tight);
    ad_params_free(ps);
}

/* Logits of ±1e4 overflow exp(); the row maximum is subtracted first. */
TEST(softmax_is_stable_for_huge_logits) {
    ad_tape *tp = ad_tape_new();
    ad_real v[6] = {1e4, -1e4, 0, 1e4, 1e4, -1e4};
    ad_tensor *y = ad_softmax(tp, ad_input(tp, 2, 3, v));
    CHECK(ad_get(y, 0, 0) == 1 && ad_get(y, 0, 1) == 0 && ad_get(y, 0, 2) == 0);
    CHECK(ad_get(y, 1, 0) == 0.5 && ad_get(y, 1, 1) == 0.5 && ad_get(y, 1, 2) == 0);
    ad_tape_free(tp);
}

/* ----------------------------------------------------------- softmax_xent ---- */

typedef struct {
    ad_tensor *x;
    const int *target;
    const ad_real *weight;
} xent_case;
static ad_tensor *xent_loss(ad_tape *tp, void *ctx) {
    xent_case *c = ctx;
    return ad_softmax_xent(tp, c->x, c->target, c->weight);
}

TEST(softmax_xent_values_and_gradient) {
    ad_params *ps = ad_params_new();
    const int target[4] = {2, 0, 4, 2};
    xent_case c = {th_param(ps, "x", 4, 5, -2, 2, 2), target, NULL};
    ad_tape *tp = ad_tape_new();
    ad_tensor *J = xent_loss(tp, &c);
    REQUIRE(ad_rows(J) == 1 && ad_cols(J) == 1);
    CHECK_NEAR(ad_item(J), ref_xent(ad_data(c.x), 4, 5, target, NULL), 1e-14, 0);
    ad_tape_free(tp);
    CHECK_GRADCHECK(ps, xent_loss, &c, &th_tight);
    ad_params_free(ps);
}

TEST(softmax_xent_weighted_mean_and_gradient) {
    ad_params *ps = ad_params_new();
    const int target[4] = {1, 3, 0, 2};
    const ad_real weight[4] = {0.5, 2, 0.25, 1};
    xent_case c = {th_param(ps, "x", 4, 4, -2, 2, 3), target, weight};
    ad_tape *tp = ad_tape_new();
    ad_tensor *J = xent_loss(tp, &c);
    CHECK_NEAR(ad_item(J), ref_xent(ad_data(c.x), 4, 4, target, weight), 1e-14, 0);
    ad_tape_free(tp);
    CHECK_GRADCHECK(ps, xent_loss, &c, &th_tight);
    ad_params_free(ps);
}

/* The loss and the gradient of the logits after one backward of a fresh recording. */
static double xent_grad(ad_params *ps, xent_case *c, double *grad) {
    ad_params_zero_grad(ps);
    ad_tape *tp = ad_tape_new();
    ad_tensor *J = xent_loss(tp, c);
    ad_backward(tp, J);
    double loss = ad_item(J);
    for (int k = 0; k < ad_rows(c->x) * ad_cols(c->x); k++) grad[k] = ad_grad(c->x)[k];
    ad_tape_free(tp);
    return loss;
}

/* A row of weight 0 (padding) is out of the loss and its logits get exactly zero gradient, and
 * its target does not matter. */
TEST(softmax_xent_zero_weight_masks_a_row) {
    ad_params *ps = ad_params_new();
    int target[3] = {1, 4, 0};
    const ad_real weight[3] = {1, 0, 1};
    xent_case c = {th_param(ps, "x", 3, 5, -2, 2, 4), target, weight};
    double g1[15], g2[15];
    double J1 = xent_grad(ps, &c, g1);
    /* the same as the unweighted mean of the two other rows */
    ad_real kept[10];
    memcpy(kept, ad_data(c.x), 5 * sizeof(ad_real));
    memcpy(kept + 5, ad_data(c.x) + 10, 5 * sizeof(ad_real));
    const int kept_target[2] = {1, 0};
    CHECK_NEAR(J1, ref_xent(kept, 2, 5, kept_target, NULL), 1e-14, 0);
    for (int j = 0; j < 5; j++) CHECK(g1[5 + j] == 0);
    target[1] = 2; /* the masked row's target changes nothing */
    double J2 = xent_grad(ps, &c, g2);
    CHECK(J1 == J2);
    CHECK(memcmp(g1, g2, sizeof g1) == 0);
    CHECK_GRADCHECK(ps, xent_loss, &c, &th_tight);
    ad_params_free(ps);
}

TEST(softmax_xent_all_weights_zero_gives_zero) {
    ad_params *ps = ad_params_new();
    const int target[2] = {0, 1};
    const ad_real weight[2] = {0, 0};
    xent_case c = {th_param(ps, "x", 2, 3, -2, 2, 5), target, weight};
    double g[6];
    CHECK(xent_grad(ps, &c, g) == 0);
    for (int k = 0; k < 6; k++) CHECK(g[k] == 0);
    ad_params_free(ps);
}

/* Logits of ±1e4: finite and exact. Row 0: CE = 1e4 - (-1e4) + log(1 + e^-1e4 + e^-2e4) = 2e4.
 * Row 1: two tied maxima, CE = log 2. Gradient (ŷ - y) / 2 with ŷ = (1, 0, 0) and (0, ½, ½). */
TEST(softmax_xent_is_exact_for_huge_logits) {
    ad_params *ps = ad_params_new();
    const int target[2] = {1, 2};
    xent_case c = {ad_param(ps, "x", 2, 3), target, NULL};
    const ad_real v[6] = {1e4, -1e4, 0, -1e4, 1e4, 1e4};
    memcpy(ad_data(c.x), v, sizeof v);
    double g[6];
    double J = xent_grad(ps, &c, g);
    CHECK_NEAR(J, (2e4 + log(2.0)) / 2, 1e-15, 0);
    const double want[6] = {0.5, -0.5, 0, 0, 0.25, -0.25};
    CHECK_ARRAY("dlogits", g, want, 6, 1e-15, 1e-300);
    ad_params_free(ps);
}

/* The op keeps its own copy of targets and weights. */
TEST(softmax_xent_copies_targets_and_weights) {
    ad_params *ps = ad_params_new();
    ad_tensor *x = th_param(ps, "x", 2, 3, -1, 1, 6);
    int target[2] = {0, 2};
    ad_real weight[2] = {1, 3};
    double p0[3], p1[3];
    ref_softmax(ad_data(x), 3, p0);
    ref_softmax(ad_data(x) + 3, 3, p1);
    ad_tape *tp = ad_tape_new();
    ad_tensor *J = ad_softmax_xent(tp, x, target, weight);
    target[0] = 1;
    weight[0] = 0;
    ad_backward(tp, J);
    const double want[6] = {(p0[0] - 1) / 4, p0[1] / 4, p0[2] / 4,
                            3 * p1[0] / 4, 3 * p1[1] / 4, 3 * (p1[2] - 1) / 4};
    double got[6];
    for (int k = 0; k < 6; k++) got[k] = ad_grad(x)[k];
    CHECK_ARRAY("dlogits", got, want, 6, 1e-14, 1e-16);
    ad_tape_free(tp);
    ad_params_free(ps);
}

/* FORMULAS §1: ∂CE/∂θ = ŷ - y, CE = -log ŷ_y; over T rows J is the mean and exp(J) the
 * perplexity, exp((1/T) Σ_t -log ŷ(t)_y(t)). */
TEST(formula_softmax_ce_gradient_is_error_vector) {
    ad_params *ps = ad_params_new();
    enum { T = 3, N = 6 };
    const int y[T] = {4, 0, 4};
    ad_tensor *theta = th_param(ps, "theta", T, N, -3, 3, 7);
    ad_tape *tp = ad_tape_new();
    ad_tensor *J = ad_softmax_xent(tp, theta, y, NULL);
    ad_backward(tp, J);
    double log_ppl = 0, got[T * N], want[T * N];
    for (int t = 0; t < T; t++) {
        double yhat[N];
        ref_softmax(ad_data(theta) + t * N, N, yhat);
        log_ppl += -log(yhat[y[t]]) / T;
        for (int i = 0; i < N; i++) {
            want[t * N + i] = (yhat[i] - (i == y[t])) / T; /* the mean's 1/T */
            got[t * N + i] = ad_grad(theta)[t * N + i];
        }
    }
    CHECK_ARRAY("dJ/dtheta", got, want, T * N, 1e-12, 1e-15);
    CHECK_NEAR(ad_item(J), log_ppl, 1e-13, 0);
    CHECK_NEAR(exp(ad_item(J)), exp(log_ppl), 1e-12, 0);
    ad_tape_free(tp);
    ad_params_free(ps);
}

/* Large enough for the OpenMP loops (rows x cols >= AD_PAR_MIN): the reduction and the parallel
 * backward agree with the serial reference. */
TEST(softmax_xent_parallel_matches_reference) {
    enum { M = 80, N = 500 };
    ad_params *ps = ad_params_new();
    ad_tensor *x = th_param(ps, "x", M, N, -4, 4, 8);
    int target[M];
    ad_real weight[M];
    for (int i = 0; i < M; i++) {
        target[i] = (i * 37) % N;
        weight[i] = (ad_real)(i % 5) * 0.5; /* every fifth row masked */
    }
    ad_tape *tp = ad_tape_new();
    ad_tensor *J = ad_softmax_xent(tp, x, target, weight);
    ad_backward(tp, J);
    double num = 0, den = 0, worst = 0;
    for (int i = 0; i < M; i++) den += weight[i];
    for (int i = 0; i < M; i++) {
        double p[N];
        ref_softmax(ad_data(x) + i * N, N, p);
        num += weight[i] * -log(p[target[i]]);
        for (int j = 0; j < N; j++) {
            double want = weight[i] * (p[j] - (j == target[i])) / den;
            double got = ad_grad(x)[i * N + j];
            if (weight[i] == 0) CHECK(got == 0);
            worst = fmax(worst, fabs(got - want));
        }
    }
    CHECK_NEAR(ad_item(J), num / den, 1e-13, 0);
    CHECK_MSG(worst < 1e-16, "largest gradient error %g", worst);
    ad_tape_free(tp);
    ad_params_free(ps);
}

/*
 * Logits that are a node, not a parameter: the cross-entropy is the first to write their
 * gradient, which the tape then hands it uncleared (AD_OP_SETS_GRAD0) and it assigns. The arena
 * is dirtied by a first recording, so a row it failed to write (the masked one) would show the old
 * values. Also: a second consumer recorded later writes first, and the cross-entropy then adds.
 */
typedef struct {
    ad_tensor *W;
    const int *target;
    const ad_real *weight;
    bool also_sum; /* J = xent(2 W) + Σ (2 W)  instead of xent(2 W) alone */
} node_logits_case;
static ad_tensor *node_logits_loss(ad_tape *tp, void *ctx) {
    const node_logits_case *c = ctx;
    ad_tensor *z = ad_scale(tp, c->W, 2);
    ad_tensor *J = ad_softmax_xent(tp, z, c->target, c->weight);
    return c->also_sum ? ad_add(tp, J, ad_sum(tp, z)) : J;
}

TEST(softmax_xent_assigns_a_fresh_gradient_of_node_logits) {
    enum { M = 4, N = 7 };
    ad_params *ps = ad_params_new();
    const int target[M] = {3, 0, 6, 2};
    const ad_real ones[M] = {1, 1, 1, 1}, masked[M] = {1, 0, 2, 1};
    node_logits_case c = {th_param(ps, "W", M, N, -2, 2, 12), target, ones, false};
    ad_tape *tp = ad_tape_new();
    for (int pass = 0; pass < 4; pass++) {
        c.weight = pass < 2 ? ones : masked;
        c.also_sum = pass % 2 == 1;
        ad_params_zero_grad(ps);
        ad_tape_reset(tp);
        ad_backward(tp, node_logits_loss(tp, &c));
        double den = 0;
        for (int i = 0; i < M; i++) den += c.weight[i];
        for (int i = 0; i < M; i++) {
            double p[N];
            ad_real z[N];
            for (int j = 0; j < N; j++) z[j] = 2 * ad_data(c.W)[i * N + j];
            ref_softmax(z, N, p);
            for (int j = 0; j < N; j++) {
                const double want = 2 * (c.weight[i] * (p[j] - (j == target[i])) / den +
                                         (c.also_sum ? 1 : 0));
                CHECK_NEAR(ad_grad(c.W)[i * N + j], want, 1e-14, 1e-14);
            }
        }
        CHECK_GRADCHECK(ps, node_logits_loss, &c, &th_tight);
    }
    ad_tape_free(tp);
    ad_params_free(ps);
}

TEST(softmax_xent_contract_errors) {
    ad_params *ps = ad_params_new();
    ad_tensor *x = ad_param(ps, "x", 3, 5);
    ad_tape *tp = ad_tape_new();
    const int bad[3] = {0, 5, 1}, neg[3] = {0, 1, -1}, ok[3] = {0, 1, 2};
    EXPECT_ERROR(ad_softmax_xent(tp, x, bad, NULL), "ad_softmax_xent", "row 1", "target 5",
                 "5 classes", "test_ops_softmax.c");
    EXPECT_ERROR(ad_softmax_xent(tp, x, neg, NULL), "ad_softmax_xent", "row 2", "target -1");
    const ad_real w[3] = {1, -0.5, 1};
    EXPECT_ERROR(ad_softmax_xent(tp, x, ok, w), "ad_softmax_xent", "row 1", "weight -0.5");
    ad_tape_free(tp);
    ad_params_free(ps);
}

/* -------------------------------------------------------------------- hinge ---- */

typedef struct {
    ad_tensor *s, *c;
} pair_case;
static ad_tensor *hinge_loss(ad_tape *tp, void *ctx) {
    pair_case *p = ctx;
    return ad_hinge(tp, p->s, p->c, 1);
}

TEST(hinge_values_and_gradient) {
    ad_params *ps = ad_params_new();
    pair_case p = {th_param(ps, "s", 3, 4, -1, 2, 9), th_param(ps, "c", 3, 4, -1, 1, 10)};
    ad_tape *tp = ad_tape_new();
    ad_tensor *J = hinge_loss(tp, &p);
    double want = 0;
    int active = 0;
    for (int k = 0; k < 12; k++) {
        double t = 1 - ad_data(p.s)[k] + ad_data(p.c)[k];
        if (t > 0) want += t, active++;
    }
    CHECK_MSG(active > 0 && active < 12, "%d of 12 terms active: both cases covered", active);
    CHECK_NEAR(ad_item(J), want / 3, 1e-15, 0);
    ad_tape_free(tp);
    ad_gradcheck_opts o = th_tight;
    o.kink_tol = 1e-3; /* a term within h of its hinge */
    ad_gradcheck_result r = CHECK_GRADCHECK(ps, hinge_loss, &p, &o);
    CHECK(r.skipped == 0);
    ad_params_free(ps);
}

/* ---------------------------------------------------------------------- mse ---- */

static ad_tensor *mse_loss(ad_tape *tp, void *ctx) {
    pair_case *p = ctx;
    return ad_mse(tp, p->s, p->c);
}

/* The target a constant (an input) and, separately, a parameter: both get their gradient. */
typedef struct {
    ad_tensor *y;
    ad_real t[6];
} mse_const_case;
static ad_tensor *mse_const_loss(ad_tape *tp, void *ctx) {
    mse_const_case *c = ctx;
    return ad_mse(tp, c->y, ad_input(tp, 2, 3, c->t));
}

TEST(mse_values_and_gradient) {
    ad_params *ps = ad_params_new();
    pair_case p = {th_param(ps, "y", 2, 3, -1, 1, 11), th_param(ps, "t", 2, 3, -1, 1, 12)};
    ad_tape *tp = ad_tape_new();
    double want = 0;
    for (int k = 0; k < 6; k++) want += pow(ad_data(p.s)[k] - ad_data(p.c)[k], 2) / 6;
    CHECK_NEAR(ad_item(mse_loss(tp, &p)), want, 1e-15, 0);
    ad_tape_free(tp);
    CHECK_GRADCHECK(ps, mse_loss, &p, &th_tight);
    ad_params_free(ps);

    ps = ad_params_new();
    mse_const_case c = {th_param(ps, "y", 2, 3, -1, 1, 13), {0}};
    th_fill_uniform(c.t, 6, -1, 1, 14);
    CHECK_GRADCHECK(ps, mse_const_loss, &c, &th_tight);
    ad_params_free(ps);
}

TEST(loss_shape_errors_name_op_and_shapes) {
    ad_params *ps = ad_params_new();
    ad_tensor *a = ad_param(ps, "a", 2, 3), *b = ad_param(ps, "b", 3, 2);
    ad_tape *tp = ad_tape_new();
    EXPECT_ERROR(ad_hinge(tp, a, b, 1), "ad_hinge", "2x3", "3x2");
    EXPECT_ERROR(ad_mse(tp, a, b), "ad_mse", "2x3", "3x2");
    ad_tape_free(tp);
    ad_params_free(ps);
}
