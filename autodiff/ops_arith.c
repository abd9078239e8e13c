/*
 * ops_arith.c — elementwise arithmetic with 2-D broadcasting, and affine maps by constants.
 *
 * Broadcasting: each dimension of a and b is equal or 1, and y takes the larger. An operand
 * stretched along a dimension is read with stride 0 there, and its gradient SUMS over that
 * dimension (a 1 x n bias row added to an m x n batch gets the column sums of dy).
 */
#include "ad_internal.h"

/* Where y[i,j] reads x: row i or 0, column j or 0. */
typedef struct {
    const ad_real *v;
    ad_real *g;
    size_t row_stride; /* 0 when x has one row */
    size_t col_stride; /* 0 when x has one column */
} operand;

static operand operand_of(const ad_tensor *x, const ad_tensor *y) {
    return (operand){x->val, x->grad, x->rows == 1 && y->rows > 1 ? 0 : (size_t)x->cols,
                     x->cols == 1 && y->cols > 1 ? 0 : 1};
}
#define AT(o, i, j) ((i) * (o).row_stride + (j) * (o).col_stride)

/* Rows may be processed in parallel only when no gradient written collapses rows together. */
static bool rows_independent(const ad_tensor *y) {
    for (int k = 0; k < y->nin; k++)
        if (y->in[k]->grad && y->in[k]->rows == 1 && y->rows > 1) return false;
    return ad_size(y) >= AD_PAR_MIN;
}

enum binary_kind { ADD, SUB, MUL, DIV };

static void binary_backward(ad_tensor *y) {
    const operand a = operand_of(y->in[0], y), b = operand_of(y->in[1], y);
    const enum binary_kind kind = (enum binary_kind)y->iarg[0];
    const ptrdiff_t m = y->rows, n = y->cols;
    const ad_real *dy = y->grad, *yv = y->val;
    AD_PARALLEL_FOR(rows_independent(y) ? AD_PAR_MIN : 0,
        for (ptrdiff_t i = 0; i < m; i++) {
            for (ptrdiff_t j = 0; j < n; j++) {
                const ad_real g = dy[i * n + j];
                const size_t ka = AT(a, (size_t)i, (size_t)j), kb = AT(b, (size_t)i, (size_t)j);
                switch (kind) {
                case ADD: /* y = a + b; da += dy, db += dy */
                    if (a.g) a.g[ka] += g;
                    if (b.g) b.g[kb] += g;
                    break;
                case SUB: /* y = a - b; da += dy, db -= dy */
                    if (a.g) a.g[ka] += g;
                    if (b.g) b.g[kb] -= g;
                    break;
                case MUL: /* y = a b; da += dy b, db += dy a */
                    if (a.g) a.g[ka] += g * b.v[kb];
                    if (b.g) b.g[kb] += g * a.v[ka];
                    break;
                case DIV: /* y = a / b; da += dy / b, db -= dy y / b */
                    if (a.g) a.g[ka] += g / b.v[kb];
                    if (b.g) b.g[kb] -= g * yv[i * n + j] / b.v[kb];
                    break;
                }
            }
        });
}

static const ad_op add_op = {"ad_add", binary_backward, 0};
static const ad_op sub_op = {"ad_sub", binary_backward, 0};
static const ad_op mul_op = {"ad_mul", binary_backward, 0};
static const ad_op div_op = {"ad_div", binary_backward, 0};

static int broadcast_dim(ad_tape *tp, const ad_op *op, const ad_tensor *a, const ad_tensor *b,
                         int da, int db) {
    if (da == db || db == 1) return da;
    if (da == 1) return db;
    ad_fail(tp, op->name, "shapes %dx%d and %dx%d do not broadcast (each dimension must be "
                          "equal, or 1 in one of them)", a->rows, a->cols, b->rows, b->cols);
}

static ad_tensor *binary(ad_tape *tp, const ad_op *op, enum binary_kind kind, ad_tensor *a,
                         ad_tensor *b) {
    if (!a || !b) ad_fail(tp, op->name, "an operand is NULL");
    const int m = broadcast_dim(tp, op, a, b, a->rows, b->rows);
    const int n = broadcast_dim(tp, op, a, b, a->cols, b->cols);
    ad_tensor *y = ad_node(tp, op, m, n, 2, a, b);
    y->iarg[0] = kind;
    const operand oa = operand_of(a, y), ob = operand_of(b, y);
    ad_real *yv = y->val;
    AD_PARALLEL_FOR(ad_size(y),
        for (ptrdiff_t i = 0; i < m; i++) {
            for (ptrdiff_t j = 0; j < n; j++) {
                const ad_real u = oa.v[AT(oa, (size_t)i, (size_t)j)];
                const ad_real v = ob.v[AT(ob, (size_t)i, (size_t)j)];
                ad_real r = 0;
                switch (kind) {
                case ADD: r = u + v; break;
                case SUB: r = u - v; break;
                case MUL: r = u * v; break;
                case DIV: r = u / v; break;
                }
                yv[i * n + j] = r;
            }
        });
    return ad_done(tp, y);
}

ad_tensor *(ad_add)(ad_tape *tp, ad_tensor *a, ad_tensor *b) { return binary(tp, &add_op, ADD, a, b); }
ad_tensor *(ad_sub)(ad_tape *tp, ad_tensor *a, ad_tensor *b) { return binary(tp, &sub_op, SUB, a, b); }
ad_tensor *(ad_mul)(ad_tape *tp, ad_tensor *a, ad_tensor *b) { return binary(tp, &mul_op, MUL, a, b); }
ad_tensor *(ad_div)(ad_tape *tp, ad_tensor *a, ad_tensor *b) { return binary(tp, &div_op, DIV, a, b); }

/* y = c x; dx += c dy */
AD_ELEMENTWISE(scale, a * x, a)
ad_tensor *(ad_scale)(ad_tape *tp, ad_tensor *x, ad_real c) { return scale_build(tp, x, c); }

/* y = x + c; dx += dy */
AD_ELEMENTWISE(add_const, x + a, 1)
ad_tensor *(ad_add_const)(ad_tape *tp, ad_tensor *x, ad_real c) { return add_const_build(tp, x, c); }

/* y = -x; dx -= dy */
AD_ELEMENTWISE(neg, -x, -1)
ad_tensor *(ad_neg)(ad_tape *tp, ad_tensor *x) { return neg_build(tp, x, 0); }

/* y = 1 - x; dx -= dy (the GRU's 1 - z) */
AD_ELEMENTWISE(one_minus, 1 - x, -1)
ad_tensor *(ad_one_minus)(ad_tape *tp, ad_tensor *x) { return one_minus_build(tp, x, 0); }
