/*
 * ops_sampled.c — the negative-sampling loss (word2vec's objective, FORMULAS §9) as one op.
 *
 *   J = -Σ_r log σ(s_r a_r · b_r),   a_r = A[ia_r], b_r = B[ib_r]   (1 x 1)
 *
 * It equals the composition
 *   ad_neg(ad_sum(ad_log_sigmoid(ad_mul(ad_rowdot(ad_gather_rows(A, ia), ad_gather_rows(B, ib)), S))))
 * in value and gradient (tests/test_ops_sampled.c holds it to that), without what the composition
 * moves through memory: two n x d gathers, their n x d gradients and the scatter back, three to
 * six copies of each row against the three passes over it the arithmetic needs (the dot forward,
 * one axpy per side backward). That traffic was most of word2vec's time on the tape.
 *
 * With z_r = a_r · b_r and x_r = s_r z_r:  ∂J/∂z_r = -s_r σ(-x_r), kept from the forward, and
 *   dA[ia_r] += dJ ∂J/∂z_r b_r,   dB[ib_r] += dJ ∂J/∂z_r a_r.
 * Rows repeat (a centre word against its K + 1 outputs, a frequent negative), so the backward
 * runs on one thread, in r order. A parameter table learns the rows it touched, as with
 * ad_gather_rows (ad_param_touched_rows). The op is for the small batches of sparse models, whose
 * workers each own a core (word2vec's Hogwild): neither pass splits across threads.
 */
#include "ad_internal.h"

typedef struct {
    int *ia, *ib;   /* copies of the caller's indices */
    ad_real *dz;    /* ∂J/∂z_r, per unit of dJ */
} sampled_aux;

/* a · b in 16 interleaved partial sums, then the tail: the compiler keeps the 16 in one AVX-512
 * register (or two AVX2 ones) without reassociating, so every clone rounds alike. */
static inline ad_real dot16(const ad_real *restrict a, const ad_real *restrict b, int d) {
    ad_real acc[16] = {0};
    int j = 0;
    for (; j + 16 <= d; j += 16)
        for (int k = 0; k < 16; k++) acc[k] += a[j + k] * b[j + k];
    ad_real s = 0;
    for (; j < d; j++) s += a[j] * b[j];
    for (int k = 0; k < 16; k++) s += acc[k];
    return s;
}

static inline void axpy(ad_real *restrict y, ad_real c, const ad_real *restrict x, int d) {
    for (int j = 0; j < d; j++) y[j] += c * x[j];
}

/* How many pairs ahead the forward asks for rows: the tables are megabytes and the rows random. */
enum { PREFETCH_AHEAD = 8 };

/* With write intent: the rows are about to be written (gradients) or are shared rows other
 * threads write, which then arrive owned instead of shared and upgraded later. */
static inline void prefetch_row_for_write(ad_real *row, int d) {
    for (char *p = (char *)row, *end = (char *)(row + d); p < end; p += 64)
        __builtin_prefetch(p, 1, 3);
}

/* The loss, and ∂J/∂z into dz. -log σ(x) is summed as the log of a product of σ's (one log per
 * hundreds of pairs instead of one each), flushed before the product can underflow; a pair far
 * on the wrong side (x < -20, σ below 2e-9) takes the exact -x + log1p(eˣ) instead. */
AD_VECTOR_CLONES
static double sampled_forward(ad_real *A, const int *ia, ad_real *B, const int *ib,
                              const ad_real *sign, int n, int d, ad_real *restrict dz) {
    double loss = 0, prod = 1;
    for (int r = 0; r < n; r++) {
        if (r + PREFETCH_AHEAD < n) {
            prefetch_row_for_write(A + (size_t)ia[r + PREFETCH_AHEAD] * d, d);
            prefetch_row_for_write(B + (size_t)ib[r + PREFETCH_AHEAD] * d, d);
        }
        const ad_real s = sign ? sign[r] : 1;
        const ad_real x = s * dot16(A + (size_t)ia[r] * d, B + (size_t)ib[r] * d, d);
        dz[r] = -s * ad_sigmoid_of(-x);
        if (x > -20) {
            prod *= (double)ad_sigmoid_of(x);
            if (prod < 1e-280) {
                loss -= log(prod);
                prod = 1;
            }
        } else {
            loss += -(double)x + log1p(exp((double)x));
        }
    }
    return loss - log(prod);
}

AD_VECTOR_CLONES
static void sampled_backward_run(ad_real *A, ad_real *dA, const int *ia, ad_real *B, ad_real *dB,
                                 const int *ib, const ad_real *dz, ad_real g, int n, int d) {
    for (int r = 0; r < n; r++) {
        if (r + PREFETCH_AHEAD < n) { /* gradient rows are as scattered as the tables' */
            if (dA) prefetch_row_for_write(dA + (size_t)ia[r + PREFETCH_AHEAD] * d, d);
            if (dB) prefetch_row_for_write(dB + (size_t)ib[r + PREFETCH_AHEAD] * d, d);
        }
        const ad_real c = g * dz[r];
        ad_real *a = A + (size_t)ia[r] * d, *b = B + (size_t)ib[r] * d;
        if (dA) axpy(dA + (size_t)ia[r] * d, c, b, d);
        if (dB) axpy(dB + (size_t)ib[r] * d, c, a, d);
    }
}

static void sampled_backward(ad_tensor *y) {
    ad_tensor *A = y->in[0], *B = y->in[1];
    const sampled_aux *aux = y->aux;
    const int n = y->iarg[0];
    sampled_backward_run(A->val, A->grad, aux->ia, B->val, B->grad, aux->ib, aux->dz, y->grad[0],
                         n, A->cols);
    ad_tensor *tables[2] = {A, B};
    const int *idx[2] = {aux->ia, aux->ib};
    for (int t = 0; t < 2; t++)
        if (tables[t]->kind == AD_KIND_PARAM && tables[t]->grad)
            for (int r = 0; r < n; r++) ad_param_touch_row(tables[t], idx[t][r]);
}
static const ad_op sampled_op = {"ad_sampled_logistic", sampled_backward, AD_OP_SPARSE_ROWS};

static void check_indices(ad_tape *tp, const char *op, const char *which, const ad_tensor *T,
                          const int *idx, int n) {
    if (!idx) ad_fail(tp, op, "the index array %s is NULL (%d indices expected)", which, n);
    for (int r = 0; r < n; r++)
        if (idx[r] < 0 || idx[r] >= T->rows)
            ad_fail(tp, op, "%s[%d] = %d is outside the rows [0, %d) of %s (%dx%d)", which, r,
                    idx[r], T->rows, ad_name(T), T->rows, T->cols);
}

ad_tensor *(ad_sampled_logistic)(ad_tape *tp, ad_tensor *A, const int *ia, ad_tensor *B,
                                 const int *ib, const ad_real *sign, int n) {
    static const char op[] = "ad_sampled_logistic";
    if (!A || !B) ad_fail(tp, op, "a table is NULL");
    if (A->cols != B->cols)
        ad_fail(tp, op, "rows of %s (%dx%d) and %s (%dx%d) differ in width", ad_name(A), A->rows,
                A->cols, ad_name(B), B->rows, B->cols);
    if (n <= 0) ad_fail(tp, op, "%d pairs; need at least 1", n);
    check_indices(tp, op, "ia", A, ia, n);
    check_indices(tp, op, "ib", B, ib, n);
    ad_tensor *y = ad_node(tp, &sampled_op, 1, 1, 2, A, B);
    sampled_aux *aux = ad_alloc(tp, sizeof *aux);
    aux->ia = ad_alloc(tp, (size_t)n * sizeof *aux->ia);
    aux->ib = ad_alloc(tp, (size_t)n * sizeof *aux->ib);
    aux->dz = ad_alloc(tp, (size_t)n * sizeof *aux->dz);
    memcpy(aux->ia, ia, (size_t)n * sizeof *ia);
    memcpy(aux->ib, ib, (size_t)n * sizeof *ib);
    y->aux = aux;
    y->iarg[0] = n;
    y->val[0] = (ad_real)sampled_forward(A->val, aux->ia, B->val, aux->ib, sign, n, A->cols,
                                         aux->dz);
    return ad_done(tp, y);
}
