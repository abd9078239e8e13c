/* Gradient and value tests of autodiff/ops_matmul.c. */
#include "harness.h"

typedef struct {
    ad_tensor *a, *b;
    int kind; /* 0: a b, 1: a bᵀ, 2: aᵀ b */
} mm_case;

static ad_tensor *mm_loss(ad_tape *tp, void *ctx) {
    mm_case *c = ctx;
    ad_tensor *y = c->kind == 0 ? ad_matmul(tp, c->a, c->b)
                   : c->kind == 1 ? ad_matmul_nt(tp, c->a, c->b)
                                  : ad_matmul_tn(tp, c->a, c->b);
    return th_project(tp, y, 7);
}

/* y = A' B' against a naive triple loop, then the gradient of both operands. */
static void check_matmul_with(int kind, int ar, int ac, int br, int bc,
                              const ad_gradcheck_opts *opts) {
    ad_params *ps = ad_params_new();
    mm_case c = {th_param(ps, "a", ar, ac, -1, 1, 1), th_param(ps, "b", br, bc, -1, 1, 2), kind};
    ad_tape *tp = ad_tape_new();
    ad_tensor *y = kind == 0 ? ad_matmul(tp, c.a, c.b)
                   : kind == 1 ? ad_matmul_nt(tp, c.a, c.b) : ad_matmul_tn(tp, c.a, c.b);
    const int m = kind == 2 ? ac : ar, k = kind == 2 ? ar : ac, n = kind == 1 ? br : bc;
    REQUIRE(ad_rows(y) == m && ad_cols(y) == n);
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            double s = 0;
            for (int l = 0; l < k; l++) {
                double av = kind == 2 ? ad_get(c.a, l, i) : ad_get(c.a, i, l);
                double bv = kind == 1 ? ad_get(c.b, j, l) : ad_get(c.b, l, j);
                s += av * bv;
            }
            CHECK_NEAR(ad_get(y, i, j), s, 1e-12, 1e-12);
        }
    ad_tape_free(tp);
    CHECK_GRADCHECK(ps, mm_loss, &c, opts);
    ad_params_free(ps);
}

static void check_matmul(int kind, int ar, int ac, int br, int bc) {
    check_matmul_with(kind, ar, ac, br, bc, &th_tight);
}

TEST(matmul_values_and_gradient) { check_matmul(0, 3, 4, 4, 5); }
TEST(matmul_nt_values_and_gradient) { check_matmul(1, 3, 4, 5, 4); }
TEST(matmul_tn_values_and_gradient) { check_matmul(2, 4, 3, 4, 5); }
TEST(matmul_vector_times_matrix) { check_matmul(0, 1, 6, 6, 2); }

/* The same weight used twice gets the sum of both uses (FORMULAS §2). */
typedef struct {
    ad_tensor *x, *W;
} twice_case;
static ad_tensor *twice_loss(ad_tape *tp, void *ctx) {
    twice_case *c = ctx;
    ad_tensor *h = ad_tanh(tp, ad_matmul(tp, c->x, c->W));
    return th_project(tp, ad_matmul(tp, h, c->W), 3);
}
TEST(matmul_weight_used_twice_accumulates) {
    ad_params *ps = ad_params_new();
    twice_case c = {th_param(ps, "x", 2, 3, -1, 1, 5), th_param(ps, "W", 3, 3, -1, 1, 6)};
    CHECK_GRADCHECK(ps, twice_loss, &c, &th_tight);
    ad_params_free(ps);
}

TEST(matmul_shape_error_names_op_shapes_and_caller) {
    ad_params *ps = ad_params_new();
    ad_tensor *a = ad_param(ps, "a", 2, 3), *b = ad_param(ps, "b", 4, 5);
    ad_tape *tp = ad_tape_new();
    char line[16];
    snprintf(line, sizeof line, ":%d:", __LINE__ + 1);
    EXPECT_ERROR(ad_matmul(tp, a, b), "ad_matmul", "2x3", "4x5", "test_ops_matmul.c", line);
    EXPECT_ERROR(ad_matmul_nt(tp, a, b), "ad_matmul_nt", "2x3", "4x5");
    ad_tape_free(tp);
    ad_params_free(ps);
}

/* Products of up to 32 rows go to libxsmm's kernels when the library has them, larger ones to
 * OpenBLAS (autodiff/gemm.c): values and gradients on both sides of that line, every transpose. */
TEST(matmul_values_and_gradient_around_the_small_product_line) {
    /* the loss sums hundreds of products: its central differences carry rounding of ~1e-8 */
    static const ad_gradcheck_opts opts = {.step = 1e-6, .rtol = 1e-6, .atol = 1e-7,
                                           .max_coords = 200};
    for (int m = 31; m <= 33; m++) {
        check_matmul_with(0, m, 9, 9, 21, &opts);
        check_matmul_with(1, m, 9, 21, 9, &opts);
        check_matmul_with(2, 9, m, 9, 21, &opts);
    }
}

/* A small product's backward with B transposed (dA = dY Bᵀ) may run from a transposed copy of B
 * kept on the tape (ad_tape_transposed): it must follow B's values. Here B changes in place between
 * two backward passes over one recording (as an optimizer step would), and again before a new
 * recording; dA = dY Bᵀ each time with the current B. */
TEST(matmul_gradient_follows_the_operands_current_values) {
    enum { M = 3, K = 4, N = 5 };
    ad_params *ps = ad_params_new();
    ad_tensor *a = th_param(ps, "a", M, K, -1, 1, 31), *b = th_param(ps, "b", K, N, -1, 1, 32);
    ad_tape *tp = ad_tape_new();
    ad_tensor *loss = NULL;
    for (int round = 0; round < 3; round++) {
        if (round != 1) { /* rounds 0 and 2 record afresh; round 1 reuses round 0's recording */
            ad_tape_reset(tp);
            loss = ad_sum(tp, ad_matmul(tp, a, b)); /* dY is all ones */
        }
        ad_params_zero_grad(ps);
        ad_backward(tp, loss);
        for (int i = 0; i < M; i++)
            for (int l = 0; l < K; l++) {
                double want = 0;
                for (int j = 0; j < N; j++) want += ad_get(b, l, j);
                CHECK_NEAR(ad_grad(a)[i * K + l], want, 1e-12, 1e-12);
            }
        for (int j = 0; j < K * N; j++) ad_data(b)[j] = (ad_real)(2 * ad_data(b)[j] + 0.25 * j);
    }
    ad_tape_free(tp);
    ad_params_free(ps);
}

/* The same on one recording without a reset: x Wᵀ, then W changes in place (an optimizer step
 * after a backward pass that used Wᵀ), then x Wᵀ again on the same tape must see the new W. */
TEST(matmul_values_follow_the_operands_current_values_on_one_recording) {
    enum { M = 4, K = 6, N = 8 };
    ad_params *ps = ad_params_new();
    ad_tensor *x = th_param(ps, "x", M, K, -1, 1, 33), *W = th_param(ps, "W", N, K, -1, 1, 34);
    ad_tape *tp = ad_tape_new();
    for (int round = 0; round < 2; round++) {
        ad_tensor *y = ad_matmul_nt(tp, x, W);
        ad_backward(tp, ad_sum(tp, ad_matmul(tp, y, W))); /* dy = 1 Wᵀ: a transposed W again */
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) {
                double want = 0;
                for (int l = 0; l < K; l++) want += ad_get(x, i, l) * ad_get(W, j, l);
                CHECK_NEAR(ad_get(y, i, j), want, 1e-12, 1e-12);
            }
        for (int j = 0; j < N * K; j++) ad_data(W)[j] *= 2;
    }
    ad_tape_free(tp);
    ad_params_free(ps);
}

/* Products of 8e6 to 2e9 multiply-adds are split across the threads by the library, over C's
 * rows or columns, whichever are more (autodiff/gemm.c). On 2 threads, for every transpose, with
 * more rows than columns and the reverse (a column count that is no multiple of 16): the values
 * equal a naive triple loop, and both gradients equal those made on one thread, whose products
 * are OpenBLAS's whole ones. */
TEST(large_products_split_across_threads_equal_the_whole_product) {
    const int shapes[][3] = {{700, 301, 40}, {301, 700, 40}}; /* m, n, k: 8.4e6 multiply-adds */
    for (int s = 0; s < 2; s++)
        for (int kind = 0; kind < 3; kind++) {
            const int m = shapes[s][0], n = shapes[s][1], k = shapes[s][2];
            ad_params *ps = ad_params_new();
            mm_case c = {th_param(ps, "a", kind == 2 ? k : m, kind == 2 ? m : k, -1, 1, 41),
                         th_param(ps, "b", kind == 1 ? n : k, kind == 1 ? k : n, -1, 1, 42), kind};
            const size_t na = (size_t)m * k, nb = (size_t)k * n;
            double *g1 = malloc((na + nb) * sizeof *g1);
            REQUIRE(g1);
            ad_tape *tp = ad_tape_new();
            for (int threads = 1; threads <= 2; threads++) {
                ad_set_num_threads(threads);
                ad_params_zero_grad(ps);
                ad_tape_reset(tp);
                ad_backward(tp, mm_loss(tp, &c));
                if (threads == 1) {
                    for (size_t j = 0; j < na; j++) g1[j] = ad_grad(c.a)[j];
                    for (size_t j = 0; j < nb; j++) g1[na + j] = ad_grad(c.b)[j];
                    continue;
                }
                ad_tape_reset(tp);
                ad_tensor *y = kind == 0   ? ad_matmul(tp, c.a, c.b)
                               : kind == 1 ? ad_matmul_nt(tp, c.a, c.b)
                                           : ad_matmul_tn(tp, c.a, c.b);
                int bad = 0;
                for (int i = 0; i < m; i++)
                    for (int j = 0; j < n; j++) {
                        double want = 0;
                        for (int l = 0; l < k; l++)
                            want += (kind == 2 ? ad_get(c.a, l, i) : ad_get(c.a, i, l)) *
                                    (kind == 1 ? ad_get(c.b, j, l) : ad_get(c.b, l, j));
                        bad += fabs(ad_get(y, i, j) - want) > 1e-12 * (1 + fabs(want));
                    }
                CHECK_MSG(bad == 0, "kind %d, %dx%d: %d values differ from the triple loop", kind,
                          m, n, bad);
                CHECK_ARRAY("gradient of a", ad_grad(c.a), g1, na, 1e-12, 1e-14);
                CHECK_ARRAY("gradient of b", ad_grad(c.b), g1 + na, nb, 1e-12, 1e-14);
            }
            ad_set_num_threads(0);
            free(g1);
            ad_tape_free(tp);
            ad_params_free(ps);
        }
}
