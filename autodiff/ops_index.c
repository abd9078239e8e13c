/*
 * ops_index.c — indexing and reshaping: the embedding gather and its bags, concatenation side by
 * side, and slices of columns or rows. None computes anything but sums: each backward adds dy
 * back into the places its forward read from.
 */
#include "ad_internal.h"

/* ------------------------------------------------------------- gather rows ---- */

/*
 * y_k = E[idx_k] (n x d); dE[idx_k] += dy_k, only at the rows used. Repeated indices accumulate
 * (a word twice in a window gets both gradients), so the backward runs serially: two threads
 * could add into the same row. When E is a parameter the store learns each row touched, and
 * zero_grad and a sparse optimizer visit only those (the op's AD_OP_SPARSE_ROWS flag keeps the
 * tape from marking E dense).
 */
static void gather_backward(ad_tensor *y) {
    ad_tensor *E = y->in[0];
    if (!E->grad) return;
    const int *idx = y->aux;
    const size_t d = (size_t)E->cols;
    const bool is_param = E->kind == AD_KIND_PARAM;
    for (size_t k = 0; k < (size_t)y->rows; k++) {
        ad_real *dE = E->grad + (size_t)idx[k] * d;
        const ad_real *dy = y->grad + k * d;
        for (size_t j = 0; j < d; j++) dE[j] += dy[j];
        if (is_param) ad_param_touch_row(E, idx[k]);
    }
}
static const ad_op gather_op = {"ad_gather_rows", gather_backward, AD_OP_SPARSE_ROWS};

ad_tensor *(ad_gather_rows)(ad_tape *tp, ad_tensor *E, const int *idx, int n) {
    static const char op[] = "ad_gather_rows";
    if (!E) ad_fail(tp, op, "the table is NULL");
    if (n <= 0) ad_fail(tp, op, "%d indices into %s (%dx%d); need at least 1", n, ad_name(E),
                        E->rows, E->cols);
    if (!idx) ad_fail(tp, op, "the index array is NULL (%d indices expected)", n);
    for (int k = 0; k < n; k++)
        if (idx[k] < 0 || idx[k] >= E->rows)
            ad_fail(tp, op, "index %d at position %d is outside the rows [0, %d) of %s (%dx%d)",
                    idx[k], k, E->rows, ad_name(E), E->rows, E->cols);
    ad_tensor *y = ad_node(tp, &gather_op, n, E->cols, 1, E);
    int *copy = ad_alloc(tp, (size_t)n * sizeof *copy);
    memcpy(copy, idx, (size_t)n * sizeof *copy);
    y->aux = copy;
    const ptrdiff_t d = E->cols;
    AD_PARALLEL_FOR((ptrdiff_t)n * d,
        for (ptrdiff_t k = 0; k < n; k++)
            memcpy(y->val + k * d, E->val + (ptrdiff_t)copy[k] * d, (size_t)d * sizeof(ad_real));
        );
    return ad_done(tp, y);
}

/* ------------------------------------------------------------------- bags ---- */

/*
 * y_p = Σ_{k ∈ [start_p, start_{p+1})} E[idx_k] (n x d, a row of zeros for an empty bag), as
 * PyTorch's EmbeddingBag in sum mode; dE[idx_k] += dy_p. A mean is this times a column of
 * 1/count (ad_mul). Sparse rows as with ad_gather_rows, and serial for the same reason.
 */
typedef struct {
    int *idx, *start;
} bag_aux;

static void bag_backward(ad_tensor *y) {
    ad_tensor *E = y->in[0];
    if (!E->grad) return;
    const bag_aux *aux = y->aux;
    const size_t d = (size_t)E->cols;
    const bool is_param = E->kind == AD_KIND_PARAM;
    for (int p = 0; p < y->rows; p++) {
        const ad_real *dy = y->grad + (size_t)p * d;
        for (int k = aux->start[p]; k < aux->start[p + 1]; k++) {
            ad_real *dE = E->grad + (size_t)aux->idx[k] * d;
            for (size_t j = 0; j < d; j++) dE[j] += dy[j];
            if (is_param) ad_param_touch_row(E, aux->idx[k]);
        }
    }
}
static const ad_op bag_op = {"ad_bag_rows", bag_backward, AD_OP_SPARSE_ROWS};

ad_tensor *(ad_bag_rows)(ad_tape *tp, ad_tensor *E, const int *idx, const int *start, int n) {
    static const char op[] = "ad_bag_rows";
    if (!E) ad_fail(tp, op, "the table is NULL");
    if (n <= 0) ad_fail(tp, op, "%d bags from %s (%dx%d); need at least 1", n, ad_name(E),
                        E->rows, E->cols);
    if (!start || !idx) ad_fail(tp, op, "the %s array is NULL", start ? "index" : "start");
    if (start[0] != 0) ad_fail(tp, op, "start[0] is %d, not 0", start[0]);
    for (int p = 0; p < n; p++)
        if (start[p + 1] < start[p])
            ad_fail(tp, op, "start[%d] = %d is below start[%d] = %d", p + 1, start[p + 1], p,
                    start[p]);
    const int m = start[n];
    for (int k = 0; k < m; k++)
        if (idx[k] < 0 || idx[k] >= E->rows)
            ad_fail(tp, op, "index %d at position %d is outside the rows [0, %d) of %s (%dx%d)",
                    idx[k], k, E->rows, ad_name(E), E->rows, E->cols);
    ad_tensor *y = ad_node(tp, &bag_op, n, E->cols, 1, E);
    bag_aux *aux = ad_alloc(tp, sizeof *aux);
    aux->idx = ad_alloc(tp, (size_t)(m > 0 ? m : 1) * sizeof *aux->idx);
    aux->start = ad_alloc(tp, (size_t)(n + 1) * sizeof *aux->start);
    memcpy(aux->idx, idx, (size_t)m * sizeof *idx);
    memcpy(aux->start, start, (size_t)(n + 1) * sizeof *start);
    y->aux = aux;
    const size_t d = (size_t)E->cols;
    for (int p = 0; p < n; p++) {
        ad_real *restrict out = y->val + (size_t)p * d;
        memset(out, 0, d * sizeof *out);
        for (int k = start[p]; k < start[p + 1]; k++) {
            const ad_real *restrict row = E->val + (size_t)idx[k] * d;
            for (size_t j = 0; j < d; j++) out[j] += row[j];
        }
    }
    return ad_done(tp, y);
}

/* ------------------------------------------------------------------ concat ---- */

/* y = [x_0 x_1 ... x_{n-1}] (m x Σ c_k); dx_k += the columns of dy it was copied to */
static void concat_backward(ad_tensor *y) {
    const ptrdiff_t m = y->rows, w = y->cols;
    AD_PARALLEL_FOR(m * w,
        for (ptrdiff_t i = 0; i < m; i++) {
            ptrdiff_t off = 0;
            for (int k = 0; k < y->nin; k++) {
                ad_tensor *x = y->in[k];
                const ptrdiff_t c = x->cols;
                if (x->grad) {
                    const ad_real *dy = y->grad + i * w + off;
                    ad_real *dx = x->grad + i * c;
                    for (ptrdiff_t j = 0; j < c; j++) dx[j] += dy[j];
                }
                off += c;
            }
        });
}
static const ad_op concat_op = {"ad_concat", concat_backward, 0};
static const ad_op concat2_op = {"ad_concat2", concat_backward, 0};

static ad_tensor *concat(ad_tape *tp, const ad_op *op, int n, ad_tensor *const *xs) {
    if (n <= 0 || !xs) ad_fail(tp, op->name, "%d inputs; need at least 1", n);
    long width = 0;
    for (int k = 0; k < n; k++) {
        if (!xs[k]) ad_fail(tp, op->name, "input %d is NULL", k);
        if (xs[k]->rows != xs[0]->rows)
            ad_fail(tp, op->name, "input %d is %dx%d but input 0 is %dx%d: the rows must be equal",
                    k, xs[k]->rows, xs[k]->cols, xs[0]->rows, xs[0]->cols);
        width += xs[k]->cols;
    }
    if (width > 0x7fffffffL) ad_fail(tp, op->name, "%ld columns in all: too many", width);
    ad_tensor *y = ad_node_v(tp, op, xs[0]->rows, (int)width, n, xs);
    const ptrdiff_t m = y->rows, w = y->cols;
    AD_PARALLEL_FOR(m * w,
        for (ptrdiff_t i = 0; i < m; i++) {
            ptrdiff_t off = 0;
            for (int k = 0; k < n; k++) {
                const ptrdiff_t c = xs[k]->cols;
                memcpy(y->val + i * w + off, xs[k]->val + i * c, (size_t)c * sizeof(ad_real));
                off += c;
            }
        });
    return ad_done(tp, y);
}

ad_tensor *(ad_concat)(ad_tape *tp, int n, ad_tensor *const *xs) {
    return concat(tp, &concat_op, n, xs);
}

ad_tensor *(ad_concat2)(ad_tape *tp, ad_tensor *a, ad_tensor *b) {
    ad_tensor *xs[2] = {a, b};
    return concat(tp, &concat2_op, 2, xs);
}

/* y = [x_0; x_1; ...; x_{n-1}] (Σ r_k x c), one block after another; dx_k += its block of dy */
static void concat_rows_backward(ad_tensor *y) {
    size_t off = 0;
    for (int k = 0; k < y->nin; k++) {
        ad_tensor *x = y->in[k];
        const size_t n = ad_size(x);
        if (x->grad)
            for (size_t j = 0; j < n; j++) x->grad[j] += y->grad[off + j];
        off += n;
    }
}
static const ad_op concat_rows_op = {"ad_concat_rows", concat_rows_backward, 0};

ad_tensor *(ad_concat_rows)(ad_tape *tp, int n, ad_tensor *const *xs) {
    static const char op[] = "ad_concat_rows";
    if (n <= 0 || !xs) ad_fail(tp, op, "%d inputs; need at least 1", n);
    long rows = 0;
    for (int k = 0; k < n; k++) {
        if (!xs[k]) ad_fail(tp, op, "input %d is NULL", k);
        if (xs[k]->cols != xs[0]->cols)
            ad_fail(tp, op, "input %d is %dx%d but input 0 is %dx%d: the columns must be equal",
                    k, xs[k]->rows, xs[k]->cols, xs[0]->rows, xs[0]->cols);
        rows += xs[k]->rows;
    }
    if (rows > 0x7fffffffL) ad_fail(tp, op, "%ld rows in all: too many", rows);
    ad_tensor *y = ad_node_v(tp, &concat_rows_op, (int)rows, xs[0]->cols, n, xs);
    size_t off = 0;
    for (int k = 0; k < n; k++) {
        memcpy(y->val + off, xs[k]->val, ad_size(xs[k]) * sizeof(ad_real));
        off += ad_size(xs[k]);
    }
    return ad_done(tp, y);
}

/* ------------------------------------------------------------------ slices ---- */

/* y = x[:, c0 : c0+w]; dx[:, c0 : c0+w] += dy */
static void slice_cols_backward(ad_tensor *y) {
    ad_tensor *x = y->in[0];
    if (!x->grad) return;
    const ptrdiff_t m = y->rows, w = y->cols, n = x->cols, c0 = y->iarg[0];
    for (ptrdiff_t i = 0; i < m; i++)
        for (ptrdiff_t j = 0; j < w; j++) x->grad[i * n + c0 + j] += y->grad[i * w + j];
}
static const ad_op slice_cols_op = {"ad_slice_cols", slice_cols_backward, 0};

ad_tensor *(ad_slice_cols)(ad_tape *tp, ad_tensor *x, int col, int ncols) {
    if (!x) ad_fail(tp, "ad_slice_cols", "input is NULL");
    /* ncols > cols - col rather than col + ncols > cols: no overflow for any int arguments */
    if (col < 0 || ncols <= 0 || ncols > x->cols - col)
        ad_fail(tp, "ad_slice_cols", "columns [%d, %lld) of %s's %dx%d: %s", col,
                (long long)col + ncols, ad_name(x), x->rows, x->cols,
                ncols <= 0 ? "an empty range" : "outside its columns");
    ad_tensor *y = ad_node(tp, &slice_cols_op, x->rows, ncols, 1, x);
    y->iarg[0] = col;
    const ptrdiff_t m = x->rows, n = x->cols;
    for (ptrdiff_t i = 0; i < m; i++)
        memcpy(y->val + i * ncols, x->val + i * n + col, (size_t)ncols * sizeof(ad_real));
    return ad_done(tp, y);
}

/* y = x[r0 : r0+h, :]; dx[r0 : r0+h, :] += dy (one contiguous block) */
static void slice_rows_backward(ad_tensor *y) {
    ad_tensor *x = y->in[0];
    if (!x->grad) return;
    ad_real *dx = x->grad + (size_t)y->iarg[0] * (size_t)x->cols;
    for (size_t k = 0, n = ad_size(y); k < n; k++) dx[k] += y->grad[k];
}
static const ad_op slice_rows_op = {"ad_slice_rows", slice_rows_backward, 0};

ad_tensor *(ad_slice_rows)(ad_tape *tp, ad_tensor *x, int row, int nrows) {
    if (!x) ad_fail(tp, "ad_slice_rows", "input is NULL");
    if (row < 0 || nrows <= 0 || nrows > x->rows - row)
        ad_fail(tp, "ad_slice_rows", "rows [%d, %lld) of %s's %dx%d: %s", row,
                (long long)row + nrows, ad_name(x), x->rows, x->cols,
                nrows <= 0 ? "an empty range" : "outside its rows");
    ad_tensor *y = ad_node(tp, &slice_rows_op, nrows, x->cols, 1, x);
    y->iarg[0] = row;
    memcpy(y->val, x->val + (size_t)row * (size_t)x->cols, ad_size(y) * sizeof(ad_real));
    return ad_done(tp, y);
}
