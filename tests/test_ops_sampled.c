/* Value and gradient tests of autodiff/ops_sampled.c (the negative-sampling loss) against the
 * composition of primitives it fuses. */
#include "harness.h"

#include <math.h>

/* ------------------------------------------------------ sampled logistic ---- */

typedef struct {
    ad_tensor *A, *B;
    const int *ia, *ib;
    const ad_real *sign;
    int n;
    bool through_node; /* A enters as the node 2A */
    bool composed;     /* the primitives instead of the fused op */
} pairs_case;

static ad_tensor *pairs_loss(ad_tape *tp, void *ctx) {
    pairs_case *c = ctx;
    ad_tensor *A = c->through_node ? ad_scale(tp, c->A, 2) : c->A;
    if (!c->composed) return ad_sampled_logistic(tp, A, c->ia, c->B, c->ib, c->sign, c->n);
    ad_tensor *z = ad_rowdot(tp, ad_gather_rows(tp, A, c->ia, c->n),
                             ad_gather_rows(tp, c->B, c->ib, c->n));
    if (c->sign) z = ad_mul(tp, z, ad_input(tp, c->n, 1, c->sign));
    return ad_neg(tp, ad_sum(tp, ad_log_sigmoid(tp, z)));
}

/* The fused op's J and gradients against the composition's, on the same parameters. */
static void check_against_composition(pairs_case *c, ad_params *ps) {
    const size_t na = (size_t)ad_rows(c->A) * ad_cols(c->A);
    const size_t nb = (size_t)ad_rows(c->B) * ad_cols(c->B);
    double *gA = malloc(na * sizeof *gA), *gB = malloc(nb * sizeof *gB);
    double *wA = malloc(na * sizeof *wA), *wB = malloc(nb * sizeof *wB);
    REQUIRE(gA && gB && wA && wB);
    ad_tape *tp = ad_tape_new();
    double J[2];
    for (int v = 0; v < 2; v++) {
        c->composed = v == 1;
        ad_params_zero_grad(ps);
        ad_tensor *loss = pairs_loss(tp, c);
        ad_backward(tp, loss);
        J[v] = ad_item(loss);
        double *a = v ? wA : gA, *b = v ? wB : gB;
        for (size_t k = 0; k < na; k++) a[k] = ad_grad(c->A)[k];
        for (size_t k = 0; k < nb; k++) b[k] = ad_grad(c->B)[k];
        ad_tape_reset(tp);
    }
    c->composed = false;
    CHECK_NEAR(J[0], J[1], 1e-12, 1e-12);
    CHECK_ARRAY("dA", gA, wA, na, 1e-12, 1e-14);
    CHECK_ARRAY("dB", gB, wB, nb, 1e-12, 1e-14);
    ad_tape_free(tp);
    free(gA);
    free(gB);
    free(wA);
    free(wB);
}

/* The fused op against the composition, and the gradient check, on tables A (ra rows) and B
 * (rb rows) of width d filled from seed. */
static void check_pairs(int ra, int rb, int d, const int *ia, const int *ib, const ad_real *sign,
                        int n, bool through_node, uint64_t seed) {
    ad_params *ps = ad_params_new();
    pairs_case c = {th_param(ps, "A", ra, d, -0.6, 0.6, seed),
                    th_param(ps, "B", rb, d, -0.6, 0.6, seed + 1), ia, ib, sign, n, through_node,
                    false};
    check_against_composition(&c, ps);
    CHECK_GRADCHECK(ps, pairs_loss, &c, &th_tight);
    ad_params_free(ps);
}

/* Skip-gram's shape: a centre row against its target (+1) and negatives (-1); rows repeat on both
 * sides, the width 37 runs both the 16-wide part of the dot product and its tail. */
TEST(sampled_logistic_equals_its_composition) {
    const int ia[12] = {3, 3, 3, 3, 0, 0, 0, 0, 3, 3, 3, 3};
    const int ib[12] = {1, 4, 2, 4, 5, 1, 1, 0, 2, 5, 4, 3};
    const ad_real sign[12] = {1, -1, -1, -1, 1, -1, -1, -1, 1, -1, -1, -1};
    check_pairs(5, 6, 37, ia, ib, sign, 12, false, 1);
}

/* J = -Σ log σ(s_r z_r) by hand, with a sign other than ±1, NULL signs (all +1), and the rows of
 * unused indices left with no gradient. */
TEST(sampled_logistic_values_by_hand) {
    enum { D = 3 };
    ad_params *ps = ad_params_new();
    ad_tensor *A = th_param(ps, "A", 2, D, -1, 1, 3), *B = th_param(ps, "B", 3, D, -1, 1, 4);
    const int ia[3] = {1, 0, 1}, ib[3] = {2, 2, 0};
    const ad_real sign[3] = {1, -0.5, -1};
    ad_tape *tp = ad_tape_new();
    for (int with_sign = 0; with_sign < 2; with_sign++) {
        double want = 0;
        for (int r = 0; r < 3; r++) {
            double z = 0;
            for (int j = 0; j < D; j++) z += ad_get(A, ia[r], j) * ad_get(B, ib[r], j);
            const double s = with_sign ? sign[r] : 1;
            want += log1p(exp(-s * z));
        }
        ad_tensor *J = ad_sampled_logistic(tp, A, ia, B, ib, with_sign ? sign : NULL, 3);
        CHECK_NEAR(ad_item(J), want, 1e-14, 0);
        ad_params_zero_grad(ps);
        ad_backward(tp, J);
        for (int j = 0; j < D; j++) CHECK(ad_grad(B)[1 * D + j] == 0); /* row 1 is unused */
        ad_tape_reset(tp);
    }
    ad_tape_free(tp);
    ad_params_free(ps);
}

/* A node as the first table (CBOW's mean h): its gradient flows on into the parameter. */
TEST(sampled_logistic_through_a_node) {
    const int ia[6] = {0, 0, 0, 1, 1, 1}, ib[6] = {2, 0, 3, 1, 2, 2};
    const ad_real sign[6] = {1, -1, -1, 1, -1, -1};
    check_pairs(2, 4, 18, ia, ib, sign, 6, true, 5);
}

/* Scores far out on either side: the loss stays exact where σ underflows (x < -20 takes
 * -x + log1p(eˣ)), and a long run of small σ's, whose product would underflow, is flushed to the
 * log in time. */
TEST(sampled_logistic_extreme_and_many_scores) {
    enum { D = 2, N = 3000 };
    ad_params *ps = ad_params_new();
    ad_tensor *A = ad_param(ps, "A", 1, D), *B = ad_param(ps, "B", 4, D);
    ad_data(A)[0] = 1;
    const double z[4] = {60, -60, -15, 3}; /* B's rows score these against A */
    for (int k = 0; k < 4; k++) ad_data(B)[k * D] = z[k];
    int *ia = calloc(N, sizeof *ia), *ib = malloc(N * sizeof *ib);
    ad_real *sign = malloc(N * sizeof *sign);
    REQUIRE(ia && ib && sign);
    double want = 0;
    for (int r = 0; r < N; r++) {
        ib[r] = r < 4 ? r : 2; /* mostly σ(-15) ≈ 3e-7: 3000 of them underflow any product */
        sign[r] = r == 1 ? -1 : 1;
        const double x = sign[r] * z[ib[r]];
        want += x > 0 ? log1p(exp(-x)) : -x + log1p(exp(x));
    }
    pairs_case c = {A, B, ia, ib, sign, N, false, false};
    ad_tape *tp = ad_tape_new();
    ad_tensor *J = pairs_loss(tp, &c);
    CHECK(isfinite(ad_item(J)));
    CHECK_NEAR(ad_item(J), want, 1e-12, 0);
    ad_tape_free(tp);
    check_against_composition(&c, ps);
    free(ia);
    free(ib);
    free(sign);
    ad_params_free(ps);
}

/* Both parameter tables learn the rows used, as with ad_gather_rows; nothing else is touched. */
TEST(sampled_logistic_touched_rows) {
    ad_params *ps = ad_params_new();
    ad_tensor *A = th_param(ps, "A", 6, 4, -1, 1, 7), *B = th_param(ps, "B", 9, 4, -1, 1, 8);
    const int ia[4] = {5, 5, 2, 5}, ib[4] = {8, 0, 8, 3};
    ad_tape *tp = ad_tape_new();
    ad_backward(tp, ad_sampled_logistic(tp, A, ia, B, ib, NULL, 4));
    const int *rows;
    CHECK(ad_param_touched_rows(A, &rows) == 2);
    CHECK(ad_param_touched_rows(B, &rows) == 3);
    bool seen[9] = {false};
    for (int k = 0; k < 3; k++) seen[rows[k]] = true;
    CHECK(seen[0] && seen[3] && seen[8]);
    ad_params_zero_grad(ps);
    for (int k = 0; k < 36; k++) CHECK(ad_grad(B)[k] == 0);
    ad_tape_free(tp);
    ad_params_free(ps);
}

TEST(sampled_logistic_contract_errors) {
    ad_params *ps = ad_params_new();
    ad_tensor *A = th_param(ps, "A", 3, 4, -1, 1, 9), *B = th_param(ps, "B", 5, 4, -1, 1, 10);
    ad_tensor *W = th_param(ps, "W", 5, 3, -1, 1, 11);
    const int ok[2] = {0, 1}, bad[2] = {1, 5};
    ad_tape *tp = ad_tape_new();
    EXPECT_ERROR(ad_sampled_logistic(tp, A, ok, B, bad, NULL, 2), "ad_sampled_logistic",
                 "ib[1] = 5", "[0, 5)", "B (5x4)");
    EXPECT_ERROR(ad_sampled_logistic(tp, A, bad, B, ok, NULL, 2), "ia[1] = 5", "A (3x4)");
    EXPECT_ERROR(ad_sampled_logistic(tp, A, ok, W, ok, NULL, 2), "ad_sampled_logistic",
                 "A (3x4)", "W (5x3)", "width");
    EXPECT_ERROR(ad_sampled_logistic(tp, A, ok, B, ok, NULL, 0), "0 pairs");
    EXPECT_ERROR(ad_sampled_logistic(tp, A, NULL, B, ok, NULL, 2), "ia is NULL");
    ad_tape_free(tp);
    ad_params_free(ps);
}
