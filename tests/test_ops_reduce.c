/* Gradient and value tests of autodiff/ops_reduce.c: sum, mean, sum_rows, rowdot. */
#include "harness.h"

typedef struct {
    ad_tensor *a, *b;
    int which; /* 0 sum, 1 mean, 2 sum_rows, 3 rowdot(a, b), 4 rowdot(a, a) */
} reduce_case;

static ad_tensor *reduce(ad_tape *tp, const reduce_case *c) {
    switch (c->which) {
    case 0: return ad_sum(tp, c->a);
    case 1: return ad_mean(tp, c->a);
    case 2: return ad_sum_rows(tp, c->a);
    case 3: return ad_rowdot(tp, c->a, c->b);
    default: return ad_rowdot(tp, c->a, c->a);
    }
}
static ad_tensor *reduce_loss(ad_tape *tp, void *ctx) {
    return th_project(tp, reduce(tp, ctx), 23);
}

/* The reduction of a (3 x 4) and b, with the plain-loop value and gradient of J = Σ R ∘ y. */
static void reference(const reduce_case *c, double *y, double *da, double *db) {
    const int m = ad_rows(c->a), n = ad_cols(c->a);
    const int ny = c->which <= 1 ? 1 : c->which == 2 ? n : m;
    ad_real R[16];
    th_fill_uniform(R, (size_t)ny, -1, 1, 23);
    for (int k = 0; k < ny; k++) y[k] = 0;
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            const int k = i * n + j;
            const double a = ad_data(c->a)[k], b = c->b ? ad_data(c->b)[k] : 0;
            switch (c->which) {
            case 0: y[0] += a, da[k] = R[0]; break;
            case 1: y[0] += a / (m * n), da[k] = R[0] / (m * n); break;
            case 2: y[j] += a, da[k] = R[j]; break;
            case 3: y[i] += a * b, da[k] = R[i] * b, db[k] = R[i] * a; break;
            default: y[i] += a * a, da[k] = 2 * R[i] * a; break;
            }
        }
}

static void check_reduce(int which, int ny_rows, int ny_cols) {
    static const char *const name[] = {"sum", "mean", "sum_rows", "rowdot", "rowdot(a, a)"};
    ad_params *ps = ad_params_new();
    reduce_case c = {th_param(ps, "a", 3, 4, -1, 1, 1), NULL, which};
    if (which == 3) c.b = th_param(ps, "b", 3, 4, -1, 1, 2);
    ad_tape *tp = ad_tape_new();
    ad_tensor *y = reduce(tp, &c);
    REQUIRE(ad_rows(y) == ny_rows && ad_cols(y) == ny_cols);
    double want_y[4], da[12], db[12], got_y[4], got_a[12], got_b[12];
    reference(&c, want_y, da, db);
    for (int k = 0; k < ny_rows * ny_cols; k++) got_y[k] = ad_data(y)[k];
    CHECK_ARRAY(name[which], got_y, want_y, (size_t)(ny_rows * ny_cols), 1e-15, 1e-300);
    ad_tape_free(tp);
    CHECK_GRADCHECK(ps, reduce_loss, &c, &th_tight);
    for (int k = 0; k < 12; k++) got_a[k] = ad_grad(c.a)[k];
    CHECK_ARRAY("da", got_a, da, 12, 1e-15, 1e-300);
    if (c.b) {
        for (int k = 0; k < 12; k++) got_b[k] = ad_grad(c.b)[k];
        CHECK_ARRAY("db", got_b, db, 12, 1e-15, 1e-300);
    }
    ad_params_free(ps);
}

TEST(sum_values_and_gradient) { check_reduce(0, 1, 1); }
TEST(mean_values_and_gradient) { check_reduce(1, 1, 1); }
TEST(sum_rows_values_and_gradient) { check_reduce(2, 1, 4); }
TEST(rowdot_values_and_gradient) { check_reduce(3, 3, 1); }
TEST(rowdot_of_a_tensor_with_itself) { check_reduce(4, 3, 1); }

/* Large enough (m n >= AD_PAR_MIN) for rowdot's OpenMP loops. */
TEST(rowdot_parallel_matches_reference) {
    enum { M = 300, N = 128 };
    ad_params *ps = ad_params_new();
    ad_tensor *a = th_param(ps, "a", M, N, -1, 1, 3), *b = th_param(ps, "b", M, N, -1, 1, 4);
    ad_tape *tp = ad_tape_new();
    ad_tensor *y = ad_rowdot(tp, a, b);
    ad_backward(tp, th_project(tp, y, 24));
    ad_real R[M];
    th_fill_uniform(R, M, -1, 1, 24);
    double err_y = 0, err_g = 0;
    for (int i = 0; i < M; i++) {
        double s = 0;
        for (int j = 0; j < N; j++) {
            const int k = i * N + j;
            s += ad_data(a)[k] * ad_data(b)[k];
            err_g = fmax(err_g, fabs(ad_grad(a)[k] - R[i] * ad_data(b)[k]));
            err_g = fmax(err_g, fabs(ad_grad(b)[k] - R[i] * ad_data(a)[k]));
        }
        err_y = fmax(err_y, fabs(ad_get(y, i, 0) - s));
    }
    CHECK_MSG(err_y < 1e-13 && err_g < 1e-15, "errors: y %g, gradient %g", err_y, err_g);
    ad_tape_free(tp);
    ad_params_free(ps);
}

TEST(rowdot_shape_error_names_op_and_shapes) {
    ad_params *ps = ad_params_new();
    ad_tensor *a = ad_param(ps, "a", 2, 3), *b = ad_param(ps, "b", 2, 4);
    ad_tape *tp = ad_tape_new();
    EXPECT_ERROR(ad_rowdot(tp, a, b), "ad_rowdot", "2x3", "2x4", "test_ops_reduce.c");
    ad_tape_free(tp);
    ad_params_free(ps);
}
