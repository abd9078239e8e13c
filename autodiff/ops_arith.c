/*
 * ops_arith.c — elementwise arithmetic with 2-D broadcasting, and affine maps by constants.
 *
 * Broadcasting: each dimension of a and b is equal or 1, and y takes the larger. An operand
 * stretched along a dimension is read with stride 0 there, and its gradient SUMS over that
 * dimension (a 1 x n bias row added to an m x n batch gets the column sums of dy).
 */
#include "ad_internal.h"

/*
 * How y reads an operand x of an m x n result: row i of y starts at x + i·row_stride and steps
 * col_stride along the row. row_stride is 0 when x has one row (a bias), col_stride 0 when x has
 * one column. So every broadcast comes down to rows whose operands step 1 or 0, and the kernels
 * below are loops over one such row, specialised on the two steps: contiguous loops that
 * vectorize, with no index arithmetic or switch per element.
 */
typedef struct {
    const ad_real *v;
    ad_real *g;
    ptrdiff_t row_stride; /* 0 when x has one row */
    ptrdiff_t col_stride; /* 0 when x has one column */
} operand;

static operand operand_of(const ad_tensor *x, const ad_tensor *y) {
    return (operand){x->val, x->grad, x->rows == 1 && y->rows > 1 ? 0 : (ptrdiff_t)x->cols,
                     x->cols == 1 && y->cols > 1 ? 0 : 1};
}

enum binary_kind { ADD, SUB, MUL, DIV };

/* The rows a kernel runs over: y's rows, or, when both operands are the shape of y, pieces of
 * AD_CHUNK of the whole as if it were one long row (a 20 x 1 gate is then one loop, not 20). */
typedef struct {
    ptrdiff_t count, len, last_len; /* rows, their length, the last one's */
    ptrdiff_t stride[2];            /* of each operand between rows */
    ptrdiff_t step[2];              /* of each operand along a row: 1 or 0 */
} row_plan;

static row_plan plan_rows(const ad_tensor *y) {
    const operand a = operand_of(y->in[0], y), b = operand_of(y->in[1], y);
    const ptrdiff_t m = y->rows, n = y->cols, size = m * n;
    if (a.col_stride == 1 && b.col_stride == 1 && a.row_stride == n && b.row_stride == n) {
        const ptrdiff_t count = (size + AD_CHUNK - 1) / AD_CHUNK;
        return (row_plan){count, AD_CHUNK, size - (count - 1) * AD_CHUNK, {AD_CHUNK, AD_CHUNK},
                          {1, 1}};
    }
    return (row_plan){m, n, n, {a.row_stride, b.row_stride}, {a.col_stride, b.col_stride}};
}

/* One row of the forward: y[j] = u[j·su] ∘ v[j·sv], each step 1 or 0. */
#define BINARY_ROW(OP)                                                                             \
    do {                                                                                           \
        if (su && sv) for (ptrdiff_t j = 0; j < n; j++) y[j] = u[j] OP v[j];                       \
        else if (su) for (ptrdiff_t j = 0; j < n; j++) y[j] = u[j] OP v[0];                        \
        else if (sv) for (ptrdiff_t j = 0; j < n; j++) y[j] = u[0] OP v[j];                        \
        else for (ptrdiff_t j = 0; j < n; j++) y[j] = u[0] OP v[0];                                \
    } while (0)

AD_VECTOR_CLONES
static void binary_row(enum binary_kind kind, ad_real *restrict y, const ad_real *restrict u,
                       ptrdiff_t su, const ad_real *restrict v, ptrdiff_t sv, ptrdiff_t n) {
    switch (kind) {
    case ADD: BINARY_ROW(+); break;
    case SUB: BINARY_ROW(-); break;
    case MUL: BINARY_ROW(*); break;
    case DIV: BINARY_ROW(/); break;
    }
}

/*
 * One row of the backward for one operand x, whose gradient is g (step sg) and value xv (the same
 * step), the other operand's value o (step so): g[j·sg] += T for j < n. With sg = 0 (x has one
 * column) the row's terms are summed first, in double, and added once.
 */
#define GRAD_ROW(T)                                                                                \
    do {                                                                                           \
        if (sg) {                                                                                  \
            if (so) for (ptrdiff_t j = 0; j < n; j++) { const ad_real O = o[j], X = xv[j];         \
                                                        (void)O, (void)X; g[j] += (T); }           \
            else for (ptrdiff_t j = 0; j < n; j++) { const ad_real O = o[0], X = xv[j];            \
                                                     (void)O, (void)X; g[j] += (T); }              \
        } else {                                                                                   \
            double s = 0;                                                                          \
            for (ptrdiff_t j = 0; j < n; j++) { const ad_real O = o[j * so], X = xv[0];            \
                                                (void)O, (void)X; s += (double)(T); }              \
            g[0] += (ad_real)s;                                                                    \
        }                                                                                          \
    } while (0)

/* The rules: y = a + b: da += dy, db += dy;  y = a - b: da += dy, db -= dy;
 *            y = a b: da += dy b, db += dy a;  y = a / b: da += dy / b, db -= dy y / b */
AD_VECTOR_CLONES
static void grad_row(enum binary_kind kind, bool second, ad_real *restrict g, ptrdiff_t sg,
                     const ad_real *restrict xv, const ad_real *restrict o, ptrdiff_t so,
                     const ad_real *restrict dy, const ad_real *restrict yv, ptrdiff_t n) {
    switch (kind) {
    case ADD: GRAD_ROW(dy[j]); break;
    case SUB: if (second) GRAD_ROW(-dy[j]); else GRAD_ROW(dy[j]); break;
    case MUL: GRAD_ROW(dy[j] * O); break;
    case DIV: if (second) GRAD_ROW(-(dy[j] * yv[j] / X)); else GRAD_ROW(dy[j] / O); break;
    }
}

static void binary_backward(ad_tensor *y) {
    const enum binary_kind kind = (enum binary_kind)y->iarg[0];
    const row_plan p = plan_rows(y);
    for (int k = 0; k < 2; k++) {
        const ad_tensor *x = y->in[k], *other = y->in[1 - k];
        if (!x->grad) continue;
        /* A row-broadcast x (a bias) gets the sum over y's rows: they all add into the same
         * row of its gradient, so they go one after another, never split across threads. */
        const size_t par = p.stride[k] == 0 && p.count > 1 ? 0 : ad_size(y);
        AD_PARALLEL_FOR(par, for (ptrdiff_t i = 0; i < p.count; i++) {
            grad_row(kind, k == 1, x->grad + i * p.stride[k], p.step[k],
                     x->val + i * p.stride[k], other->val + i * p.stride[1 - k], p.step[1 - k],
                     y->grad + i * p.len, y->val + i * p.len,
                     i == p.count - 1 ? p.last_len : p.len);
        });
    }
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
    const row_plan p = plan_rows(y);
    AD_PARALLEL_FOR(ad_size(y), for (ptrdiff_t i = 0; i < p.count; i++) {
        binary_row(kind, y->val + i * p.len, a->val + i * p.stride[0], p.step[0],
                   b->val + i * p.stride[1], p.step[1], i == p.count - 1 ? p.last_len : p.len);
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
