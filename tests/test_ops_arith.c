/* Gradient and value tests of autodiff/ops_arith.c: broadcasting binary ops, affine maps. */
#include "harness.h"

/* ------------------------------------------------------------ binary ops ---- */

enum kind { ADD, SUB, MUL, DIV };
static const char *const kind_name[] = {"add", "sub", "mul", "div"};

static ad_tensor *apply(ad_tape *tp, enum kind k, ad_tensor *a, ad_tensor *b) {
    switch (k) {
    case ADD: return ad_add(tp, a, b);
    case SUB: return ad_sub(tp, a, b);
    case MUL: return ad_mul(tp, a, b);
    case DIV: return ad_div(tp, a, b);
    }
    return NULL;
}

/* y = f(u, v) and its partial derivatives, in double. */
static double ref(enum kind k, double u, double v, double *du, double *dv) {
    switch (k) {
    case ADD: *du = 1, *dv = 1; return u + v;
    case SUB: *du = 1, *dv = -1; return u - v;
    case MUL: *du = v, *dv = u; return u * v;
    case DIV: *du = 1 / v, *dv = -u / (v * v); return u / v;
    }
    return NAN;
}

typedef struct {
    ad_tensor *a, *b;
    enum kind kind;
} bin_case;
static ad_tensor *bin_loss(ad_tape *tp, void *ctx) {
    bin_case *c = ctx;
    return th_project(tp, apply(tp, c->kind, c->a, c->b), 13);
}

/* Shapes of a and b: equal, a 1 x n row, an m x 1 column and a 1 x 1 scalar on either side, and
 * a column against a row (an outer sum or product). */
static const int shapes[][4] = {
    {3, 4, 3, 4}, {3, 4, 1, 4}, {1, 4, 3, 4}, {3, 4, 3, 1}, {3, 1, 3, 4},
    {3, 4, 1, 1}, {1, 1, 3, 4}, {3, 1, 1, 4}, {1, 4, 3, 1},
};

/* Values against a plain loop; the gradient by central differences; and the gradient of each
 * operand against the closed form, which for a broadcast operand sums dy ∂y/∂x over the
 * dimension it was stretched along. */
static void check_binary(enum kind kind) {
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const int ar = shapes[s][0], ac = shapes[s][1], br = shapes[s][2], bc = shapes[s][3];
        const int m = ar > br ? ar : br, n = ac > bc ? ac : bc;
        ad_params *ps = ad_params_new();
        /* b away from 0 for the division */
        bin_case c = {th_param(ps, "a", ar, ac, -1, 1, 1), th_param(ps, "b", br, bc, 0.5, 2, 2),
                      kind};
        ad_tape *tp = ad_tape_new();
        ad_tensor *y = apply(tp, kind, c.a, c.b);
        REQUIRE(ad_rows(y) == m && ad_cols(y) == n);
        ad_real R[12];
        th_fill_uniform(R, (size_t)(m * n), -1, 1, 13);
        double ga[12] = {0}, gb[12] = {0};
        bool values_ok = true;
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++) {
                const int ka = (ar == 1 ? 0 : i) * ac + (ac == 1 ? 0 : j);
                const int kb = (br == 1 ? 0 : i) * bc + (bc == 1 ? 0 : j);
                double du, dv;
                const double want = ref(kind, ad_data(c.a)[ka], ad_data(c.b)[kb], &du, &dv);
                values_ok &= ad_get(y, i, j) == want;
                ga[ka] += R[i * n + j] * du;
                gb[kb] += R[i * n + j] * dv;
            }
        CHECK_MSG(values_ok, "%s of %dx%d and %dx%d: values differ from the loop",
                  kind_name[kind], ar, ac, br, bc);
        ad_tape_free(tp);

        ad_gradcheck_result r = CHECK_GRADCHECK(ps, bin_loss, &c, &th_tight);
        double got_a[12], got_b[12];
        for (int k = 0; k < ar * ac; k++) got_a[k] = ad_grad(c.a)[k];
        for (int k = 0; k < br * bc; k++) got_b[k] = ad_grad(c.b)[k];
        double ea = CHECK_ARRAY("da", got_a, ga, (size_t)(ar * ac), 1e-14, 1e-300);
        double eb = CHECK_ARRAY("db", got_b, gb, (size_t)(br * bc), 1e-14, 1e-300);
        if (r.failed || ea > 1e-14 || eb > 1e-14)
            th_note("%s of %dx%d and %dx%d", kind_name[kind], ar, ac, br, bc);
        ad_params_free(ps);
    }
}

TEST(add_broadcasts_values_and_gradients) { check_binary(ADD); }
TEST(sub_broadcasts_values_and_gradients) { check_binary(SUB); }
TEST(mul_broadcasts_values_and_gradients) { check_binary(MUL); }
TEST(div_broadcasts_values_and_gradients) { check_binary(DIV); }

/* The same tensor on both sides: x ∘ x has gradient 2x, x / x has gradient 0. */
typedef struct {
    ad_tensor *x;
} one_case;
static ad_tensor *square_by_mul_loss(ad_tape *tp, void *ctx) {
    ad_tensor *x = ((one_case *)ctx)->x;
    return th_project(tp, ad_mul(tp, x, x), 14);
}
TEST(mul_of_a_tensor_by_itself) {
    ad_params *ps = ad_params_new();
    one_case c = {th_param(ps, "x", 2, 3, -1, 1, 3)};
    CHECK_GRADCHECK(ps, square_by_mul_loss, &c, &th_tight);
    ad_real R[6];
    th_fill_uniform(R, 6, -1, 1, 14);
    for (int k = 0; k < 6; k++) CHECK_NEAR(ad_grad(c.x)[k], 2 * R[k] * ad_data(c.x)[k], 1e-15, 0);
    ad_params_free(ps);
}

/* Large enough (m n >= AD_PAR_MIN) for the kernels' OpenMP loops: a row bias, a column scale and
 * a column offset, with every gradient against its closed form. y = (a ∘ col + row) - col2. */
TEST(broadcast_gradients_in_parallel_kernels) {
    enum { M = 256, N = 160 };
    ad_params *ps = ad_params_new();
    ad_tensor *a = th_param(ps, "a", M, N, -1, 1, 4), *row = th_param(ps, "row", 1, N, -1, 1, 5);
    ad_tensor *col = th_param(ps, "col", M, 1, -1, 1, 6);
    ad_tensor *col2 = th_param(ps, "col2", M, 1, -1, 1, 7);
    ad_tape *tp = ad_tape_new();
    ad_tensor *y = ad_sub(tp, ad_add(tp, ad_mul(tp, a, col), row), col2);
    ad_backward(tp, th_project(tp, y, 15));
    static ad_real R[M * N];
    th_fill_uniform(R, M * N, -1, 1, 15);
    double err_y = 0, err_a = 0, err_row = 0, err_col = 0, err_col2 = 0;
    double drow[N] = {0};
    for (int i = 0; i < M; i++) {
        double dcol = 0, dcol2 = 0;
        const double ci = ad_get(col, i, 0);
        for (int j = 0; j < N; j++) {
            const double r = R[i * N + j], aij = ad_get(a, i, j);
            err_y = fmax(err_y, fabs(ad_get(y, i, j) - (aij * ci + ad_get(row, 0, j) -
                                                        ad_get(col2, i, 0))));
            err_a = fmax(err_a, fabs(ad_grad(a)[i * N + j] - r * ci));
            drow[j] += r;
            dcol += r * aij;
            dcol2 -= r;
        }
        err_col = fmax(err_col, fabs(ad_grad(col)[i] - dcol));
        err_col2 = fmax(err_col2, fabs(ad_grad(col2)[i] - dcol2));
    }
    for (int j = 0; j < N; j++) err_row = fmax(err_row, fabs(ad_grad(row)[j] - drow[j]));
    CHECK_MSG(err_y < 1e-15 && err_a < 1e-15, "errors: y %g, da %g", err_y, err_a);
    CHECK_MSG(err_row < 1e-12 && err_col < 1e-12 && err_col2 < 1e-12,
              "errors: drow %g, dcol %g, dcol2 %g", err_row, err_col, err_col2);
    ad_tape_free(tp);
    ad_params_free(ps);
}

TEST(binary_shape_errors_name_op_and_shapes) {
    ad_params *ps = ad_params_new();
    ad_tensor *a = ad_param(ps, "a", 2, 3), *b = ad_param(ps, "b", 3, 2);
    ad_tensor *c = ad_param(ps, "c", 2, 2);
    ad_tape *tp = ad_tape_new();
    EXPECT_ERROR(ad_add(tp, a, b), "ad_add", "2x3", "3x2", "test_ops_arith.c");
    EXPECT_ERROR(ad_sub(tp, a, c), "ad_sub", "2x3", "2x2");
    EXPECT_ERROR(ad_mul(tp, b, a), "ad_mul", "3x2", "2x3");
    EXPECT_ERROR(ad_div(tp, c, b), "ad_div", "2x2", "3x2");
    ad_tape_free(tp);
    ad_params_free(ps);
}

/* ---------------------------------------------------------- affine maps ---- */

typedef struct {
    ad_tensor *x;
    int which; /* 0 scale by -2.5, 1 add 0.75, 2 neg, 3 one_minus */
} affine_case;
static ad_tensor *affine(ad_tape *tp, int which, ad_tensor *x) {
    switch (which) {
    case 0: return ad_scale(tp, x, -2.5);
    case 1: return ad_add_const(tp, x, 0.75);
    case 2: return ad_neg(tp, x);
    default: return ad_one_minus(tp, x);
    }
}
static ad_tensor *affine_loss(ad_tape *tp, void *ctx) {
    affine_case *c = ctx;
    return th_project(tp, affine(tp, c->which, c->x), 16);
}

/* y = α x + β with (α, β) = (-2.5, 0), (1, 0.75), (-1, 0), (-1, 1); dx = α dy. */
static void check_affine(int which) {
    static const double alpha[4] = {-2.5, 1, -1, -1}, beta[4] = {0, 0.75, 0, 1};
    ad_params *ps = ad_params_new();
    affine_case c = {th_param(ps, "x", 3, 4, -2, 2, 8), which};
    ad_tape *tp = ad_tape_new();
    ad_tensor *y = affine(tp, which, c.x);
    REQUIRE(ad_rows(y) == 3 && ad_cols(y) == 4);
    for (int k = 0; k < 12; k++)
        CHECK_NEAR(ad_data(y)[k], alpha[which] * ad_data(c.x)[k] + beta[which], 1e-15, 0);
    ad_tape_free(tp);
    CHECK_GRADCHECK(ps, affine_loss, &c, &th_tight);
    ad_real R[12];
    th_fill_uniform(R, 12, -1, 1, 16);
    for (int k = 0; k < 12; k++) CHECK_NEAR(ad_grad(c.x)[k], alpha[which] * R[k], 1e-15, 0);
    ad_params_free(ps);
}

TEST(scale_values_and_gradient) { check_affine(0); }
TEST(add_const_values_and_gradient) { check_affine(1); }
TEST(neg_values_and_gradient) { check_affine(2); }
TEST(one_minus_values_and_gradient) { check_affine(3); }

/* Same-shape operands longer than the kernels' chunks (4096, with a ragged last one) and a 1 x 1
 * operand against them: values against a plain loop, gradients against the closed form. */
TEST(long_same_shape_and_scalar_operands) {
    enum { M = 3, N = 5001 };
    for (int kind = ADD; kind <= DIV; kind++) {
        ad_params *ps = ad_params_new();
        ad_tensor *a = th_param(ps, "a", M, N, -1, 1, 31), *b = th_param(ps, "b", M, N, 0.5, 2, 32);
        ad_tensor *s = th_param(ps, "s", 1, 1, 0.5, 2, 33);
        ad_tape *tp = ad_tape_new();
        ad_tensor *y = apply(tp, (enum kind)kind, a, b), *z = apply(tp, (enum kind)kind, y, s);
        ad_backward(tp, th_project(tp, z, 34));
        static ad_real R[M * N];
        th_fill_uniform(R, M * N, -1, 1, 34);
        double err_y = 0, err_a = 0, err_b = 0, ds = 0;
        const double sv = ad_data(s)[0];
        for (int k = 0; k < M * N; k++) {
            double du, dv, dy, dsk;
            const double yk = ref((enum kind)kind, ad_data(a)[k], ad_data(b)[k], &du, &dv);
            ref((enum kind)kind, yk, sv, &dy, &dsk);
            err_y = fmax(err_y, fabs(ad_data(y)[k] - yk));
            const double gy = R[k] * dy; /* dz/dy ∘ R, then through y */
            err_a = fmax(err_a, fabs(ad_grad(a)[k] - gy * du) / (fabs(gy * du) + 1e-300));
            err_b = fmax(err_b, fabs(ad_grad(b)[k] - gy * dv) / (fabs(gy * dv) + 1e-300));
            ds += R[k] * dsk;
        }
        CHECK_MSG(err_y == 0, "%s: values differ by %g", kind_name[kind], err_y);
        CHECK_MSG(err_a < 1e-14 && err_b < 1e-14, "%s: da %g, db %g", kind_name[kind], err_a,
                  err_b);
        CHECK_NEAR(ad_grad(s)[0], ds, 1e-12, 1e-12);
        ad_tape_free(tp);
        ad_params_free(ps);
    }
}
