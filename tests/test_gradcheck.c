/*
 * Tests of autodiff/gradcheck.c: the checker every op test relies on must catch a wrong gradient,
 * say where it is, sample as told, leave the parameters as it found them and skip what it should.
 *
 * The wrong gradients come from an op defined here with the internal API (ad_internal.h), as a
 * library op would be: y = x², whose backward is off by a factor on one chosen coordinate.
 */
#include "ad_internal.h"
#include "harness.h"

/* y = x²; dx += 2 x dy, times bad_factor at [bad_row, bad_col] (a wrong backward). Each case sets
 * the three before use. */
static double bad_factor = 1.01;
static int bad_row = 1, bad_col = 2;

static void wrong_square_backward(ad_tensor *y) {
    ad_tensor *x = y->in[0];
    if (!x->grad) return;
    for (int i = 0; i < y->rows; i++)
        for (int j = 0; j < y->cols; j++) {
            const size_t k = (size_t)i * (size_t)y->cols + (size_t)j;
            ad_real g = 2 * x->val[k] * y->grad[k];
            if (i == bad_row && j == bad_col) g = (ad_real)(g * bad_factor);
            x->grad[k] += g;
        }
}
static const ad_op WRONG_SQUARE = {"wrong_square", wrong_square_backward, 0};

static ad_tensor *wrong_square(ad_tape *tp, ad_tensor *x) {
    ad_tensor *y = ad_node(tp, &WRONG_SQUARE, x->rows, x->cols, 1, x);
    for (size_t k = 0; k < ad_size(y); k++) y->val[k] = x->val[k] * x->val[k];
    return ad_done(tp, y);
}

/* J = Σ R_A ∘ tanh(A) + Σ R_B ∘ wrong_square(B): only B's gradient is wrong. */
typedef struct {
    ad_tensor *A, *B;
    int calls; /* how many times the checker recorded the loss */
} two_case;

static ad_tensor *two_loss(ad_tape *tp, void *ctx) {
    two_case *c = ctx;
    c->calls++;
    return ad_add(tp, th_project(tp, ad_tanh(tp, c->A), 1),
                  th_project(tp, wrong_square(tp, c->B), 2));
}

static void snapshot(ad_params *ps, ad_real *out) {
    memcpy(out, ad_params_values(ps), ad_params_size(ps) * sizeof(ad_real));
}

TEST(catches_a_wrong_gradient_and_names_it) {
    ad_params *ps = ad_params_new();
    two_case c = {th_param(ps, "A", 3, 4, -1, 1, 1), th_param(ps, "B", 3, 4, 0.5, 1.5, 2), 0};
    bad_factor = 1.01, bad_row = 1, bad_col = 2;
    ad_gradcheck_result r;
    CHECK(ad_gradcheck(ps, two_loss, &c, &th_tight, &r) == -1);
    CHECK(r.failed);
    CHECK_MSG(strcmp(r.tensor, "B") == 0 && r.row == 1 && r.col == 2, "reported %s[%d,%d]",
              r.tensor, r.row, r.col);
    CHECK_NEAR(r.analytic / r.numeric, 1.01, 1e-6, 0);
    CHECK_MSG(strstr(r.message, "B[1,2]") && strstr(r.message, "mismatch"), "%s", r.message);
    CHECK(r.max_rel_err > 0.009 && r.max_rel_err < 0.011);

    /* The default options catch it too, and so they do for a wrong first coordinate. */
    CHECK(ad_gradcheck(ps, two_loss, &c, NULL, NULL) == -1);
    bad_row = 0, bad_col = 0;
    CHECK(ad_gradcheck(ps, two_loss, &c, &th_tight, &r) == -1);
    CHECK(strcmp(r.tensor, "B") == 0 && r.row == 0 && r.col == 0);

    /* Made right, the same loss passes: all 24 coordinates checked, none skipped. */
    bad_factor = 1;
    CHECK(ad_gradcheck(ps, two_loss, &c, &th_tight, &r) == 0);
    CHECK(!r.failed && r.checked == 24 && r.skipped == 0);
    CHECK(r.max_rel_err < 1e-7);
    CHECK_MSG(strstr(r.message, "agree") != NULL, "%s", r.message);
    ad_params_free(ps);
}

TEST(a_nan_gradient_fails) {
    ad_params *ps = ad_params_new();
    two_case c = {th_param(ps, "A", 2, 2, -1, 1, 3), th_param(ps, "B", 2, 3, 0.5, 1.5, 4), 0};
    bad_factor = NAN, bad_row = 0, bad_col = 1;
    ad_gradcheck_result r;
    CHECK(ad_gradcheck(ps, two_loss, &c, &th_tight, &r) == -1);
    CHECK(strcmp(r.tensor, "B") == 0 && r.row == 0 && r.col == 1);
    ad_params_free(ps);
}

TEST(parameters_are_restored_exactly) {
    ad_params *ps = ad_params_new();
    two_case c = {th_param(ps, "A", 5, 6, -1, 1, 5), th_param(ps, "B", 4, 7, 0.5, 1.5, 6), 0};
    bad_factor = 1.01, bad_row = 1, bad_col = 2;
    const size_t n = ad_params_size(ps);
    ad_real *before = malloc(n * sizeof *before), *after = malloc(n * sizeof *after);
    REQUIRE(before && after);
    snapshot(ps, before);
    /* Failing or passing, sampled or not, with a step not representable exactly. */
    ad_gradcheck_opts o = th_tight;
    o.step = 1.234567e-5;
    CHECK(ad_gradcheck(ps, two_loss, &c, &o, NULL) == -1);
    snapshot(ps, after);
    CHECK(memcmp(before, after, n * sizeof *before) == 0);
    o.max_coords = 7;
    ad_gradcheck(ps, two_loss, &c, &o, NULL);
    snapshot(ps, after);
    CHECK(memcmp(before, after, n * sizeof *before) == 0);

    /* The gradients are left holding the analytic gradient of the unperturbed loss. */
    bad_factor = 1;
    CHECK(ad_gradcheck(ps, two_loss, &c, &th_tight, NULL) == 0);
    ad_real *grad = malloc(n * sizeof *grad);
    REQUIRE(grad != NULL);
    memcpy(grad, ad_params_grads(ps), n * sizeof *grad);
    ad_params_zero_grad(ps);
    ad_tape *tp = ad_tape_new();
    ad_backward(tp, two_loss(tp, &c));
    CHECK(memcmp(grad, ad_params_grads(ps), n * sizeof *grad) == 0);
    ad_tape_free(tp);
    free(grad);
    free(before);
    free(after);
    ad_params_free(ps);
}

/* Sampling: a loss that records, on every evaluation after the first, which coordinates of the
 * parameters differ from the unperturbed values. Each must differ in exactly one, by ± step. */
typedef struct {
    two_case two;
    ad_params *ps;
    const ad_real *orig;
    double step;
    int evaluations, bad_perturbations;
    int hits[2][64]; /* A then B: how often each coordinate was perturbed (sizes <= 64) */
} probe_case;

static ad_tensor *probe_loss(ad_tape *tp, void *ctx) {
    probe_case *c = ctx;
    if (c->evaluations++ > 0) {
        int differing = 0;
        for (int p = 0; p < 2; p++) {
            ad_tensor *t = p == 0 ? c->two.A : c->two.B;
            const ad_real *v = ad_data(t), *o = c->orig + ad_param_offset(t);
            for (int k = 0; k < ad_rows(t) * ad_cols(t); k++) {
                if (v[k] == o[k]) continue;
                differing++;
                c->hits[p][k]++;
                const double moved = fabs((double)v[k] - (double)o[k]);
                if (fabs(moved - c->step) > 1e-12) c->bad_perturbations++;
            }
        }
        if (differing != 1) c->bad_perturbations++;
    }
    return two_loss(tp, &c->two);
}

TEST(sampling_checks_exactly_max_coords) {
    ad_params *ps = ad_params_new();
    probe_case c = {{th_param(ps, "A", 6, 10, -1, 1, 7), th_param(ps, "B", 2, 3, 0.5, 1.5, 8), 0},
                    ps, NULL, 1e-6, 0, 0, {{0}}};
    bad_factor = 1;
    ad_real *orig = malloc(ad_params_size(ps) * sizeof *orig);
    REQUIRE(orig != NULL);
    snapshot(ps, orig);
    c.orig = orig;

    /* A has 60 coordinates, more than max_coords = 17: 17 are sampled; B's 6 are all checked. */
    ad_gradcheck_opts o = th_tight;
    o.max_coords = 17;
    o.seed = 99;
    ad_gradcheck_result r;
    CHECK(ad_gradcheck(ps, probe_loss, &c, &o, &r) == 0);
    CHECK_MSG(r.checked == 17 + 6, "%d checked", r.checked);
    CHECK(c.evaluations == 1 + 2 * (17 + 6));
    CHECK(c.bad_perturbations == 0);
    int a_hits = 0, b_hits = 0, a_distinct = 0;
    for (int k = 0; k < 60; k++) {
        a_hits += c.hits[0][k];
        a_distinct += c.hits[0][k] > 0;
        CHECK_MSG(c.hits[0][k] <= 2, "A's coordinate %d checked %d times", k, c.hits[0][k] / 2);
    }
    CHECK_MSG(a_distinct == 17, "17 samples of A's 60 coordinates checked only %d distinct ones",
              a_distinct);
    for (int k = 0; k < 6; k++) {
        b_hits += c.hits[1][k];
        CHECK(c.hits[1][k] == 2); /* once up, once down */
    }
    CHECK(a_hits == 2 * 17 && b_hits == 2 * 6);

    /* max_coords = 0 means 64: A's 60 are then all checked, each once. */
    memset(c.hits, 0, sizeof c.hits);
    c.evaluations = 0;
    o.max_coords = 0;
    CHECK(ad_gradcheck(ps, probe_loss, &c, &o, &r) == 0);
    CHECK(r.checked == 60 + 6 && c.bad_perturbations == 0);
    for (int k = 0; k < 60; k++) CHECK(c.hits[0][k] == 2);

    /* Another seed samples other coordinates of A. */
    int first[60];
    memset(c.hits, 0, sizeof c.hits);
    o.max_coords = 17;
    ad_gradcheck(ps, probe_loss, &c, &o, NULL);
    memcpy(first, c.hits[0], sizeof first);
    memset(c.hits, 0, sizeof c.hits);
    o.seed = 100;
    ad_gradcheck(ps, probe_loss, &c, &o, NULL);
    CHECK(memcmp(first, c.hits[0], sizeof first) != 0);
    free(orig);
    ad_params_free(ps);
}

TEST(frozen_parameters_are_not_checked) {
    ad_params *ps = ad_params_new();
    /* B's gradient is wrong, but B is frozen: nothing of it is compared, and A passes. */
    two_case c = {th_param(ps, "A", 3, 4, -1, 1, 9), th_param(ps, "B", 3, 4, 0.5, 1.5, 10), 0};
    bad_factor = 1.01, bad_row = 1, bad_col = 2;
    ad_param_set_frozen(c.B, true);
    ad_gradcheck_result r;
    CHECK(ad_gradcheck(ps, two_loss, &c, &th_tight, &r) == 0);
    CHECK(r.checked == 12 && strcmp(r.tensor, "A") == 0);
    CHECK(c.calls == 1 + 2 * 12);
    CHECK(ad_grad(c.B) == NULL);
    ad_param_set_frozen(c.B, false);
    CHECK(ad_gradcheck(ps, two_loss, &c, &th_tight, &r) == -1);
    CHECK(strcmp(r.tensor, "B") == 0);
    ad_params_free(ps);
}

/* J = Σ relu(x) ∘ R: a kink wherever x_k = 0. */
typedef struct {
    ad_tensor *x;
} kink_case;
static ad_tensor *kink_loss(ad_tape *tp, void *ctx) {
    return th_project(tp, ad_relu(tp, ((kink_case *)ctx)->x), 4);
}

TEST(kink_tol_skips_exactly_the_kinks) {
    ad_params *ps = ad_params_new();
    kink_case c = {th_param(ps, "x", 3, 4, -1, 1, 11)};
    const int kinks[3] = {0, 5, 11};
    for (int k = 0; k < 3; k++) ad_data(c.x)[kinks[k]] = 0;

    ad_gradcheck_result r;
    CHECK(ad_gradcheck(ps, kink_loss, &c, &th_tight, &r) == -1); /* x[0,0] fails without */
    CHECK(strcmp(r.tensor, "x") == 0 && r.row == 0 && r.col == 0);

    ad_gradcheck_opts o = th_tight;
    o.kink_tol = 1e-3;
    CHECK(ad_gradcheck(ps, kink_loss, &c, &o, &r) == 0);
    CHECK_MSG(r.skipped == 3 && r.checked == 9, "%d skipped, %d checked", r.skipped, r.checked);
    CHECK(strstr(r.message, "3 kinks skipped") != NULL);

    /* A smooth loss has no coordinate whose one-sided differences disagree: nothing skipped,
     * and a wrong gradient is still caught (the knob hides kinks, not errors). */
    two_case t = {th_param(ps, "A", 2, 3, -1, 1, 12), th_param(ps, "B", 3, 4, 0.5, 1.5, 13), 0};
    ad_param_set_frozen(c.x, true);
    bad_factor = 1.01, bad_row = 1, bad_col = 2;
    CHECK(ad_gradcheck(ps, two_loss, &t, &o, &r) == -1);
    CHECK(strcmp(r.tensor, "B") == 0 && r.row == 1 && r.col == 2 && r.skipped == 0);
    ad_params_free(ps);
}
