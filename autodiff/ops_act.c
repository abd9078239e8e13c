/*
 * ops_act.c — elementwise nonlinearities and dropout. Each op: its rule, then its kernels.
 */
#include "ad_internal.h"

/* y = tanh(x); dx += dy (1 - y²) */
AD_ELEMENTWISE(tanh, AD_TANH(x), 1 - y * y)
ad_tensor *(ad_tanh)(ad_tape *tp, ad_tensor *x) { return tanh_build(tp, x, 0); }

/* y = σ(x) = 1 / (1 + e^-x); dx += dy y (1 - y) */
AD_ELEMENTWISE(sigmoid, ad_sigmoid_of(x), y * (1 - y))
ad_tensor *(ad_sigmoid)(ad_tape *tp, ad_tensor *x) { return sigmoid_build(tp, x, 0); }

/* y = max(0, x); dx += dy [x > 0] */
AD_ELEMENTWISE(relu, x > 0 ? x : 0, x > 0 ? 1 : 0)
ad_tensor *(ad_relu)(ad_tape *tp, ad_tensor *x) { return relu_build(tp, x, 0); }

/* y = x > 0 ? x : a x; dx += dy (x > 0 ? 1 : a) */
AD_ELEMENTWISE(leaky_relu, x > 0 ? x : a * x, x > 0 ? 1 : a)
ad_tensor *(ad_leaky_relu)(ad_tape *tp, ad_tensor *x, ad_real slope) {
    return leaky_relu_build(tp, x, slope);
}

/* y = clamp(x, -1, 1); dx += dy [-1 < x < 1] */
AD_ELEMENTWISE(hard_tanh, x < -1 ? -1 : (x > 1 ? 1 : x), (x > -1 && x < 1) ? 1 : 0)
ad_tensor *(ad_hard_tanh)(ad_tape *tp, ad_tensor *x) { return hard_tanh_build(tp, x, 0); }

/* y = x³; dx += dy 3x² */
AD_ELEMENTWISE(cube, x * x * x, 3 * x * x)
ad_tensor *(ad_cube)(ad_tape *tp, ad_tensor *x) { return cube_build(tp, x, 0); }

/* y = x²; dx += dy 2x */
AD_ELEMENTWISE(square, x * x, 2 * x)
ad_tensor *(ad_square)(ad_tape *tp, ad_tensor *x) { return square_build(tp, x, 0); }

/* y = eˣ; dx += dy y */
AD_ELEMENTWISE(exp, AD_EXP(x), y)
ad_tensor *(ad_exp)(ad_tape *tp, ad_tensor *x) { return exp_build(tp, x, 0); }

/* y = ln x; dx += dy / x */
AD_ELEMENTWISE(log, AD_LOG(x), 1 / x)
ad_tensor *(ad_log)(ad_tape *tp, ad_tensor *x) { return log_build(tp, x, 0); }

/* y = log σ(x) = min(x, 0) - log(1 + e^-|x|), stable for any x; dx += dy σ(-x) */
AD_ELEMENTWISE(log_sigmoid, (x < 0 ? x : 0) - AD_LOG1P(AD_EXP(-AD_FABS(x))), ad_sigmoid_of(-x))
ad_tensor *(ad_log_sigmoid)(ad_tape *tp, ad_tensor *x) { return log_sigmoid_build(tp, x, 0); }

/*
 * Inverted dropout: y = x ∘ m / (1 - p), m_k ~ Bernoulli(1 - p) from the tape's seeded stream;
 * dx += dy ∘ m / (1 - p). The scaled mask is kept for the backward. The identity (x itself, no
 * node) in evaluation mode or for p = 0.
 */
static void dropout_backward(ad_tensor *y) {
    ad_tensor *x = y->in[0];
    if (!x->grad) return;
    const ad_real *mask = y->aux;
    for (size_t k = 0, n = ad_size(y); k < n; k++) x->grad[k] += y->grad[k] * mask[k];
}
static const ad_op dropout_op = {"ad_dropout", dropout_backward, 0};

ad_tensor *(ad_dropout)(ad_tape *tp, ad_tensor *x, ad_real p) {
    if (!x) ad_fail(tp, "ad_dropout", "input is NULL");
    if (!(p >= 0 && p < 1)) ad_fail(tp, "ad_dropout", "probability %g is outside [0, 1)", (double)p);
    if (p == 0 || !ad_tape_training(tp)) return x;
    ad_tensor *y = ad_node(tp, &dropout_op, x->rows, x->cols, 1, x);
    ad_real *mask = ad_alloc(tp, ad_size(y) * sizeof *mask);
    const ad_real keep = 1 / (1 - p);
    for (size_t k = 0, n = ad_size(y); k < n; k++) {
        mask[k] = ad_tape_uniform(tp) < (double)p ? 0 : keep;
        y->val[k] = x->val[k] * mask[k];
    }
    y->aux = mask;
    return ad_done(tp, y);
}
