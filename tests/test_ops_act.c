/* Gradient and value tests of autodiff/ops_act.c: one case per op. */
#include "harness.h"

typedef ad_tensor *(*unary_fn)(ad_tape *, ad_tensor *);
typedef struct {
    ad_tensor *x;
    unary_fn f;
} act_case;

static ad_tensor *act_loss(ad_tape *tp, void *ctx) {
    act_case *c = ctx;
    return th_project(tp, c->f(tp, c->x), 11);
}

/* Values against f computed here in double; then the gradient by central differences. */
static void check_unary(unary_fn f, double (*ref)(double), double lo, double hi) {
    ad_params *ps = ad_params_new();
    act_case c = {th_param(ps, "x", 3, 7, lo, hi, 4), f};
    ad_tape *tp = ad_tape_new();
    ad_tensor *y = f(tp, c.x);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 7; j++) CHECK_NEAR(ad_get(y, i, j), ref(ad_get(c.x, i, j)), 1e-13, 1e-15);
    ad_tape_free(tp);
    ad_gradcheck_opts o = th_tight;
    o.kink_tol = 1e-3; /* relu, leaky relu and hard tanh: a coordinate within h of a kink */
    CHECK_GRADCHECK(ps, act_loss, &c, &o);
    ad_params_free(ps);
}

static double r_sigmoid(double x) { return 1 / (1 + exp(-x)); }
static double r_relu(double x) { return x > 0 ? x : 0; }
static double r_leaky(double x) { return x > 0 ? x : 0.1 * x; }
static double r_hard_tanh(double x) { return x < -1 ? -1 : x > 1 ? 1 : x; }
static double r_cube(double x) { return x * x * x; }
static double r_square(double x) { return x * x; }
static double r_log_sigmoid(double x) { return -log1p(exp(-x)); }
static ad_tensor *leaky(ad_tape *tp, ad_tensor *x) { return ad_leaky_relu(tp, x, 0.1); }
static ad_tensor *f_tanh(ad_tape *tp, ad_tensor *x) { return ad_tanh(tp, x); }
static ad_tensor *f_sigmoid(ad_tape *tp, ad_tensor *x) { return ad_sigmoid(tp, x); }
static ad_tensor *f_relu(ad_tape *tp, ad_tensor *x) { return ad_relu(tp, x); }
static ad_tensor *f_hard_tanh(ad_tape *tp, ad_tensor *x) { return ad_hard_tanh(tp, x); }
static ad_tensor *f_cube(ad_tape *tp, ad_tensor *x) { return ad_cube(tp, x); }
static ad_tensor *f_square(ad_tape *tp, ad_tensor *x) { return ad_square(tp, x); }
static ad_tensor *f_exp(ad_tape *tp, ad_tensor *x) { return ad_exp(tp, x); }
static ad_tensor *f_log(ad_tape *tp, ad_tensor *x) { return ad_log(tp, x); }
static ad_tensor *f_log_sigmoid(ad_tape *tp, ad_tensor *x) { return ad_log_sigmoid(tp, x); }

TEST(tanh_op) { check_unary(f_tanh, tanh, -3, 3); }
TEST(sigmoid_op) { check_unary(f_sigmoid, r_sigmoid, -6, 6); }
TEST(relu_op) { check_unary(f_relu, r_relu, -2, 2); }
TEST(leaky_relu_op) { check_unary(leaky, r_leaky, -2, 2); }
TEST(hard_tanh_op) { check_unary(f_hard_tanh, r_hard_tanh, -2, 2); }
TEST(cube_op) { check_unary(f_cube, r_cube, -2, 2); }
TEST(square_op) { check_unary(f_square, r_square, -2, 2); }
TEST(exp_op) { check_unary(f_exp, exp, -3, 3); }
TEST(log_op) { check_unary(f_log, log, 0.2, 4); }
TEST(log_sigmoid_op) { check_unary(f_log_sigmoid, r_log_sigmoid, -8, 8); }

/* σ and log σ stay finite and exact where the naive formulas overflow. */
TEST(sigmoid_and_log_sigmoid_are_stable_at_extremes) {
    ad_tape *tp = ad_tape_new();
    ad_real v[4] = {-1000, -40, 40, 1000};
    ad_tensor *x = ad_input(tp, 1, 4, v);
    ad_tensor *s = ad_sigmoid(tp, x), *ls = ad_log_sigmoid(tp, x);
    CHECK(ad_get(s, 0, 0) == 0 && ad_get(s, 0, 3) == 1);
    CHECK_NEAR(ad_get(ls, 0, 0), -1000, 1e-15, 0);
    CHECK_NEAR(ad_get(ls, 0, 1), -40, 1e-15, 0);
    CHECK_NEAR(ad_get(ls, 0, 2), -exp(-40.0), 1e-12, 0);
    CHECK(ad_get(ls, 0, 3) == 0);
    ad_tape_free(tp);
}

/* A kink straddled by the step would fail without the kink knob; with it, it is skipped. */
typedef struct {
    ad_tensor *x;
} kink_case;
static ad_tensor *kink_loss(ad_tape *tp, void *ctx) {
    return ad_sum(tp, ad_relu(tp, ((kink_case *)ctx)->x));
}
TEST(relu_kink_is_skipped_only_with_the_knob) {
    ad_params *ps = ad_params_new();
    kink_case c = {ad_param(ps, "x", 1, 3)};
    ad_data(c.x)[0] = 0; /* exactly at the kink */
    ad_data(c.x)[1] = 0.5;
    ad_data(c.x)[2] = -0.5;
    ad_gradcheck_result r;
    CHECK(ad_gradcheck(ps, kink_loss, &c, &th_tight, &r) != 0);
    CHECK_MSG(strstr(r.message, "x[0,0]") != NULL, "message names x[0,0]: %s", r.message);
    ad_gradcheck_opts o = th_tight;
    o.kink_tol = 1e-3;
    CHECK(ad_gradcheck(ps, kink_loss, &c, &o, &r) == 0);
    CHECK(r.skipped == 1 && r.checked == 2);
    ad_params_free(ps);
}

typedef struct {
    ad_tensor *x;
    double p;
} drop_case;
static ad_tensor *drop_loss(ad_tape *tp, void *ctx) {
    drop_case *c = ctx;
    return th_project(tp, ad_dropout(tp, c->x, c->p), 2);
}
TEST(dropout_gradient_and_statistics) {
    ad_params *ps = ad_params_new();
    drop_case small = {th_param(ps, "small", 4, 6, 0.5, 1.5, 8), 0.3};
    CHECK_GRADCHECK(ps, drop_loss, &small, &th_tight); /* same seed, same mask each evaluation */
    drop_case c = {th_param(ps, "x", 40, 50, 0.5, 1.5, 9), 0.3};

    ad_tape *tp = ad_tape_new();
    ad_tape_seed(tp, 1);
    ad_tensor *y = ad_dropout(tp, c.x, 0.3);
    int zeros = 0;
    for (int i = 0; i < 40; i++)
        for (int j = 0; j < 50; j++) {
            double v = ad_get(y, i, j), x = ad_get(c.x, i, j);
            if (v == 0) zeros++;
            else CHECK_NEAR(v, x / 0.7, 1e-14, 0);
        }
    CHECK_MSG(zeros > 520 && zeros < 680, "%d of 2000 dropped at p = 0.3", zeros);

    ad_tape_seed(tp, 1); /* same seed: same mask */
    ad_tensor *y2 = ad_dropout(tp, c.x, 0.3);
    CHECK(memcmp(ad_data(y), ad_data(y2), 2000 * sizeof(ad_real)) == 0);

    ad_tape_set_training(tp, false); /* evaluation: the identity */
    CHECK(ad_dropout(tp, c.x, 0.3) == c.x);
    EXPECT_ERROR(ad_dropout(tp, c.x, 1.0), "ad_dropout", "outside [0, 1)");
    ad_tape_free(tp);
    ad_params_free(ps);
}

/* A tensor longer than the kernels' chunks (4096, with a ragged last one): every value and
 * gradient entry, not only a few, against libm and the closed form. */
TEST(long_tensor_values_and_gradients) {
    enum { M = 3, N = 5001 };
    ad_params *ps = ad_params_new();
    ad_tensor *x = th_param(ps, "x", M, N, -4, 4, 41);
    ad_tape *tp = ad_tape_new();
    ad_tensor *t = ad_tanh(tp, x), *s = ad_sigmoid(tp, x);
    ad_backward(tp, ad_sum(tp, ad_add(tp, t, ad_scale(tp, s, 3))));
    double err_v = 0, err_g = 0;
    for (int k = 0; k < M * N; k++) {
        const double xv = ad_data(x)[k], tv = tanh(xv), sv = 1 / (1 + exp(-xv));
        err_v = fmax(err_v, fmax(fabs(ad_data(t)[k] - tv), fabs(ad_data(s)[k] - sv)));
        const double g = (1 - tv * tv) + 3 * sv * (1 - sv);
        err_g = fmax(err_g, fabs(ad_grad(x)[k] - g) / g);
    }
    CHECK_MSG(err_v < 1e-15 && err_g < 1e-14, "errors: values %g, gradient %g", err_v, err_g);
    ad_tape_free(tp);
    ad_params_free(ps);
}
