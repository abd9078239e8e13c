/*
 * ops_matmul.c — matrix products, all through ad_gemm (gemm.c) with transpose flags.
 *
 *   y = A' B',  A' = a or aᵀ,  B' = b or bᵀ                          (FORMULAS §2, row form)
 *   dA' += dy B'ᵀ,  dB' += A'ᵀ dy,  and a transposed operand takes the transpose of its share.
 * Gradients accumulate through gemm's beta = 1.
 */
#include "ad_internal.h"

static void matmul_backward(ad_tensor *y) {
    ad_tensor *a = y->in[0], *b = y->in[1];
    const bool ta = y->iarg[0], tb = y->iarg[1];
    const int m = y->rows, n = y->cols, k = ta ? a->rows : a->cols; /* A' is m x k */
    ad_tape *tp = y->tape;
    if (a->grad) {
        if (!ta) ad_gemm(tp, false, !tb, m, k, n, y->grad, n, b->val, b->cols, 1, a->grad, a->cols);
        else ad_gemm(tp, tb, true, k, m, n, b->val, b->cols, y->grad, n, 1, a->grad, a->cols);
    }
    if (b->grad) {
        if (!tb) ad_gemm(tp, !ta, false, k, n, m, a->val, a->cols, y->grad, n, 1, b->grad, b->cols);
        else ad_gemm(tp, true, ta, n, k, m, y->grad, n, a->val, a->cols, 1, b->grad, b->cols);
    }
}
static const ad_op matmul_op = {"ad_matmul", matmul_backward, 0};
static const ad_op matmul_nt_op = {"ad_matmul_nt", matmul_backward, 0};
static const ad_op matmul_tn_op = {"ad_matmul_tn", matmul_backward, 0};

static ad_tensor *matmul(ad_tape *tp, const ad_op *op, ad_tensor *a, bool ta, ad_tensor *b,
                         bool tb) {
    if (!a || !b) ad_fail(tp, op->name, "an operand is NULL");
    const int m = ta ? a->cols : a->rows, k = ta ? a->rows : a->cols;
    const int kb = tb ? b->cols : b->rows, n = tb ? b->rows : b->cols;
    if (k != kb)
        ad_fail(tp, op->name, "shapes %dx%d and %dx%d do not fit: %s%s has %d columns, %s%s has "
                "%d rows", a->rows, a->cols, b->rows, b->cols, ad_name(a), ta ? "ᵀ" : "", k,
                ad_name(b), tb ? "ᵀ" : "", kb);
    ad_tensor *y = ad_node(tp, op, m, n, 2, a, b);
    y->iarg[0] = ta;
    y->iarg[1] = tb;
    ad_gemm(tp, ta, tb, m, n, k, a->val, a->cols, b->val, b->cols, 0, y->val, n);
    return ad_done(tp, y);
}

ad_tensor *(ad_matmul)(ad_tape *tp, ad_tensor *a, ad_tensor *b) {
    return matmul(tp, &matmul_op, a, false, b, false);
}
ad_tensor *(ad_matmul_nt)(ad_tape *tp, ad_tensor *a, ad_tensor *b) {
    return matmul(tp, &matmul_nt_op, a, false, b, true);
}
ad_tensor *(ad_matmul_tn)(ad_tape *tp, ad_tensor *a, ad_tensor *b) {
    return matmul(tp, &matmul_tn_op, a, true, b, false);
}
