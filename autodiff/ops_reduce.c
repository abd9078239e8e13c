/*
 * ops_reduce.c — reductions: sums to a scalar or a row, and the row-wise dot product.
 */
#include "ad_internal.h"

/* y = Σ_ij x_ij (1 x 1), scaled by arg[0] (1 for sum, 1/(mn) for mean); dx_ij += arg[0] dy */
static void sum_backward(ad_tensor *y) {
    ad_tensor *x = y->in[0];
    if (!x->grad) return;
    const ad_real g = y->grad[0] * y->arg[0];
    for (size_t k = 0, n = ad_size(x); k < n; k++) x->grad[k] += g;
}
static const ad_op sum_op = {"ad_sum", sum_backward, 0};
static const ad_op mean_op = {"ad_mean", sum_backward, 0};

static ad_tensor *sum_scaled(ad_tape *tp, const ad_op *op, ad_tensor *x, bool mean) {
    if (!x) ad_fail(tp, op->name, "input is NULL");
    ad_tensor *y = ad_node(tp, op, 1, 1, 1, x);
    double s = 0; /* accumulate in double: a float sum of 10⁶ terms drifts */
    for (size_t k = 0, n = ad_size(x); k < n; k++) s += (double)x->val[k];
    y->arg[0] = mean ? (ad_real)(1.0 / (double)ad_size(x)) : 1;
    y->val[0] = (ad_real)(mean ? s / (double)ad_size(x) : s);
    return ad_done(tp, y);
}

ad_tensor *(ad_sum)(ad_tape *tp, ad_tensor *x) { return sum_scaled(tp, &sum_op, x, false); }
ad_tensor *(ad_mean)(ad_tape *tp, ad_tensor *x) { return sum_scaled(tp, &mean_op, x, true); }

/* y_j = Σ_i x_ij (1 x n); dx_ij += dy_j */
static void sum_rows_backward(ad_tensor *y) {
    ad_tensor *x = y->in[0];
    if (!x->grad) return;
    const size_t n = (size_t)x->cols;
    for (size_t i = 0; i < (size_t)x->rows; i++)
        for (size_t j = 0; j < n; j++) x->grad[i * n + j] += y->grad[j];
}
static const ad_op sum_rows_op = {"ad_sum_rows", sum_rows_backward, 0};

ad_tensor *(ad_sum_rows)(ad_tape *tp, ad_tensor *x) {
    if (!x) ad_fail(tp, "ad_sum_rows", "input is NULL");
    ad_tensor *y = ad_node(tp, &sum_rows_op, 1, x->cols, 1, x);
    const size_t n = (size_t)x->cols;
    memset(y->val, 0, n * sizeof(ad_real));
    for (size_t i = 0; i < (size_t)x->rows; i++)
        for (size_t j = 0; j < n; j++) y->val[j] += x->val[i * n + j];
    return ad_done(tp, y);
}

/* y_i = a_i · b_i (m x 1); da_i += dy_i b_i, db_i += dy_i a_i */
static void rowdot_backward(ad_tensor *y) {
    ad_tensor *a = y->in[0], *b = y->in[1];
    const ptrdiff_t m = a->rows, n = a->cols;
    AD_PARALLEL_FOR(ad_size(a),
        for (ptrdiff_t i = 0; i < m; i++) {
            const ad_real g = y->grad[i];
            const ad_real *av = a->val + i * n, *bv = b->val + i * n;
            if (a->grad)
                for (ptrdiff_t j = 0; j < n; j++) a->grad[i * n + j] += g * bv[j];
            if (b->grad)
                for (ptrdiff_t j = 0; j < n; j++) b->grad[i * n + j] += g * av[j];
        });
}
static const ad_op rowdot_op = {"ad_rowdot", rowdot_backward, 0};

ad_tensor *(ad_rowdot)(ad_tape *tp, ad_tensor *a, ad_tensor *b) {
    if (!a || !b) ad_fail(tp, "ad_rowdot", "an operand is NULL");
    ad_check_same_shape(tp, "ad_rowdot", a, b);
    ad_tensor *y = ad_node(tp, &rowdot_op, a->rows, 1, 2, a, b);
    const ptrdiff_t m = a->rows, n = a->cols;
    AD_PARALLEL_FOR(ad_size(a),
        for (ptrdiff_t i = 0; i < m; i++) {
            ad_real s = 0;
            for (ptrdiff_t j = 0; j < n; j++) s += a->val[i * n + j] * b->val[i * n + j];
            y->val[i] = s;
        });
    return ad_done(tp, y);
}
