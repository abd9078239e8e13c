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
static void check_matmul(int kind, int ar, int ac, int br, int bc) {
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
    CHECK_GRADCHECK(ps, mm_loss, &c, &th_tight);
    ad_params_free(ps);
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
