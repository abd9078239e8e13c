/*
 * ops_softmax.c — the row-wise softmax and the losses: fused softmax cross-entropy, max-margin
 * (hinge) and squared error. Each loss is a 1 x 1 node whose backward scales by its dJ.
 *
 * Stability: every exponential is of x - max(row) <= 0, so no logit, however large, overflows;
 * log Σ_j exp(x_j) = max + log Σ_j exp(x_j - max) keeps the cross-entropy exact for logits of
 * ±1e4, where the naive softmax gives 0/0.
 */
#include "ad_internal.h"

/*
 * The row kernels, built for the widest vectors. A max or a sum is kept in AD_LANES running lanes
 * (one AVX-512 vector of floats) so the loop vectorizes without reordering a single sum; the sums
 * are in double, as the one-by-one sums they replace were: Σ exp over 10000 classes in float
 * lanes would lose ~1e-6 of the loss.
 */
enum { AD_LANES = 16 };

/*
 * max_j x_j of a row of n >= 1, in four of GCC's 16-byte vectors (4 floats or 2 doubles, SSE2's
 * width): written as a scalar loop, a max with IEEE semantics does not vectorize, and wider
 * generic vectors come out scalar in the clones that lack them. The max is cheap beside the
 * exponentials; what matters is that no clone does it one value at a time.
 */
#ifdef AD_DOUBLE
typedef int64_t ad_real_bits;
#else
typedef int32_t ad_real_bits;
#endif
typedef ad_real ad_vreal __attribute__((vector_size(16)));
typedef ad_real_bits ad_vbits __attribute__((vector_size(16)));
enum { AD_VLEN = 16 / sizeof(ad_real), AD_VACC = 4 };

/* lane = the larger of v and lane, lane by lane (lane where v is NaN). A macro: a function
 * taking vectors by value would depend on the clone's ABI. */
#define VMAX_INTO(lane, v)                                                                         \
    do {                                                                                           \
        const ad_vbits gt_ = (v) > (lane); /* all ones where v is larger */                        \
        (lane) = (ad_vreal)((gt_ & (ad_vbits)(v)) | (~gt_ & (ad_vbits)(lane)));                    \
    } while (0)

AD_VECTOR_CLONES
static ad_real row_max(const ad_real *restrict x, ptrdiff_t n) {
    ad_vreal lane[AD_VACC];
    for (int a = 0; a < AD_VACC; a++)
        for (int l = 0; l < AD_VLEN; l++) lane[a][l] = x[0];
    ptrdiff_t j = 0;
    for (; j + AD_VACC * AD_VLEN <= n; j += AD_VACC * AD_VLEN)
        for (int a = 0; a < AD_VACC; a++) {
            ad_vreal v;
            memcpy(&v, x + j + a * AD_VLEN, sizeof v);
            VMAX_INTO(lane[a], v);
        }
    for (int a = 1; a < AD_VACC; a++) VMAX_INTO(lane[0], lane[a]);
    ad_real mx = x[0];
    for (; j < n; j++) mx = x[j] > mx ? x[j] : mx;
    for (int l = 0; l < AD_VLEN; l++) mx = lane[0][l] > mx ? lane[0][l] : mx;
    return mx;
}

/* Σ_j exp(x_j - mx), in double (n terms of at most 1) */
AD_VECTOR_CLONES
static double row_sum_exp(const ad_real *restrict x, ptrdiff_t n, ad_real mx) {
    double lane[AD_LANES] = {0};
    ptrdiff_t j = 0;
    for (; j + AD_LANES <= n; j += AD_LANES)
        for (int l = 0; l < AD_LANES; l++) lane[l] += (double)AD_EXP(x[j + l] - mx);
    double s = 0;
    for (; j < n; j++) s += (double)AD_EXP(x[j] - mx);
    for (int l = 0; l < AD_LANES; l++) s += lane[l];
    return s;
}

/* Σ_j a_j b_j, in double */
AD_VECTOR_CLONES
static double row_dot(const ad_real *restrict a, const ad_real *restrict b, ptrdiff_t n) {
    double lane[AD_LANES] = {0};
    ptrdiff_t j = 0;
    for (; j + AD_LANES <= n; j += AD_LANES)
        for (int l = 0; l < AD_LANES; l++) lane[l] += (double)a[j + l] * (double)b[j + l];
    double s = 0;
    for (; j < n; j++) s += (double)a[j] * (double)b[j];
    for (int l = 0; l < AD_LANES; l++) s += lane[l];
    return s;
}

/* y_j = exp(x_j - mx) / s, the quotient in double as one product by 1/s */
AD_VECTOR_CLONES
static void row_softmax(const ad_real *restrict x, ad_real *restrict y, ptrdiff_t n, ad_real mx,
                        double inv_s) {
    for (ptrdiff_t j = 0; j < n; j++) y[j] = (ad_real)((double)AD_EXP(x[j] - mx) * inv_s);
}

/* dx_j += y_j (dy_j - dot) */
AD_VECTOR_CLONES
static void row_softmax_grad(const ad_real *restrict y, const ad_real *restrict dy,
                             ad_real *restrict dx, ptrdiff_t n, ad_real dot) {
    for (ptrdiff_t j = 0; j < n; j++) dx[j] += y[j] * (dy[j] - dot);
}

/* dx_j += g exp((x_j - mx) - log_s): g times the softmax, recomputed */
AD_VECTOR_CLONES
static void row_add_softmax(const ad_real *restrict x, ad_real *restrict dx, ptrdiff_t n,
                            ad_real mx, ad_real log_s, ad_real g) {
    for (ptrdiff_t j = 0; j < n; j++) dx[j] += g * AD_EXP((x[j] - mx) - log_s);
}

/* dx_j = g exp((x_j - mx) - log_s): the same, into a gradient not yet written (AD_OP_SETS_GRAD0) */
AD_VECTOR_CLONES
static void row_set_softmax(const ad_real *restrict x, ad_real *restrict dx, ptrdiff_t n,
                            ad_real mx, ad_real log_s, ad_real g) {
    for (ptrdiff_t j = 0; j < n; j++) dx[j] = g * AD_EXP((x[j] - mx) - log_s);
}

/* ------------------------------------------------------------------ softmax ---- */

/* y_ij = exp(x_ij) / Σ_k exp(x_ik); dx_i += y_i ∘ (dy_i - Σ_j dy_ij y_ij) */
static void softmax_backward(ad_tensor *y) {
    ad_tensor *x = y->in[0];
    if (!x->grad) return;
    const ptrdiff_t m = y->rows, n = y->cols;
    AD_PARALLEL_FOR(m * n,
        for (ptrdiff_t i = 0; i < m; i++) {
            const ad_real *yv = y->val + i * n, *dy = y->grad + i * n;
            row_softmax_grad(yv, dy, x->grad + i * n, n, (ad_real)row_dot(dy, yv, n));
        });
}
static const ad_op softmax_op = {"ad_softmax", softmax_backward, 0};

ad_tensor *(ad_softmax)(ad_tape *tp, ad_tensor *x) {
    if (!x) ad_fail(tp, "ad_softmax", "input is NULL");
    ad_tensor *y = ad_node(tp, &softmax_op, x->rows, x->cols, 1, x);
    const ptrdiff_t m = x->rows, n = x->cols;
    AD_PARALLEL_FOR(m * n,
        for (ptrdiff_t i = 0; i < m; i++) {
            const ad_real *xv = x->val + i * n;
            const ad_real mx = row_max(xv, n);
            row_softmax(xv, y->val + i * n, n, mx, 1 / row_sum_exp(xv, n, mx));
        });
    return ad_done(tp, y);
}

/* ------------------------------------------------------- softmax cross-entropy ---- */

/*
 * CE_i = log Σ_j exp(x_ij) - x_i,t(i) = lse_i - x_i,t(i);  J = Σ_i w_i CE_i / Σ_i w_i
 * dx_ij += dJ w_i (p_ij - [j = t(i)]) / Σ w,  p_ij = exp(x_ij - lse_i)   (FORMULAS §1: ŷ - y)
 * The forward keeps each row's max and log Σ_j exp(x_ij - max) (2m reals, not an m x n copy of
 * the probabilities); the backward recomputes p = exp((x - max) - log s) from them. Kept apart,
 * not summed into lse: lse ≈ 1e4 would round away the last ~12 digits of p. A row of weight 0
 * is skipped in both passes, so padding contributes nothing, not even 0 · NaN.
 */
typedef struct {
    int *target;     /* m, copied */
    ad_real *weight; /* m, copied; NULL: all 1 */
    ad_real *max;    /* m: each row's largest logit */
    ad_real *log_s;  /* m: log Σ_j exp(x_ij - max_i) */
    double scale;    /* 1 / Σ w, or 0 when Σ w = 0 */
} xent_cache;

static void xent_backward(ad_tensor *y) {
    ad_tensor *x = y->in[0];
    if (!x->grad) return;
    const xent_cache *c = y->aux;
    const double g = (double)y->grad[0] * c->scale;
    const ptrdiff_t m = x->rows, n = x->cols;
    const bool set = x->grad_unset; /* the first writer of x's gradient: = instead of += */
    AD_PARALLEL_FOR(m * n,
        for (ptrdiff_t i = 0; i < m; i++) {
            const double w = c->weight ? (double)c->weight[i] : 1.0;
            ad_real *dx = x->grad + i * n;
            if (w == 0) {
                if (set) memset(dx, 0, (size_t)n * sizeof *dx);
                continue;
            }
            const ad_real gi = (ad_real)(g * w);
            if (set) row_set_softmax(x->val + i * n, dx, n, c->max[i], c->log_s[i], gi);
            else row_add_softmax(x->val + i * n, dx, n, c->max[i], c->log_s[i], gi);
            dx[c->target[i]] -= gi;
        });
}
static const ad_op xent_op = {"ad_softmax_xent", xent_backward, AD_OP_SETS_GRAD0};

ad_tensor *(ad_softmax_xent)(ad_tape *tp, ad_tensor *logits, const int *targets,
                             const ad_real *weights) {
    static const char op[] = "ad_softmax_xent";
    if (!logits) ad_fail(tp, op, "logits are NULL");
    if (!targets) ad_fail(tp, op, "targets are NULL (one class index per row of %dx%d logits)",
                          logits->rows, logits->cols);
    const ptrdiff_t m = logits->rows, n = logits->cols;
    /* Check the contract before any parallel loop: an error must not leave from inside one. */
    double wsum = 0;
    for (ptrdiff_t i = 0; i < m; i++) {
        if (targets[i] < 0 || targets[i] >= n)
            ad_fail(tp, op, "row %td of %tdx%td logits has target %d, outside the %td classes "
                            "[0, %td)", i, m, n, targets[i], n, n);
        if (weights) {
            if (!(weights[i] >= 0) || !isfinite(weights[i]))
                ad_fail(tp, op, "row %td has weight %g; weights must be finite and >= 0", i,
                        (double)weights[i]);
            wsum += (double)weights[i];
        }
    }
    if (!weights) wsum = (double)m;

    ad_tensor *y = ad_node(tp, &xent_op, 1, 1, 1, logits);
    xent_cache *c = ad_alloc(tp, sizeof *c);
    c->target = ad_alloc(tp, (size_t)m * sizeof *c->target);
    memcpy(c->target, targets, (size_t)m * sizeof *c->target);
    c->weight = NULL;
    if (weights) {
        c->weight = ad_alloc(tp, (size_t)m * sizeof *c->weight);
        memcpy(c->weight, weights, (size_t)m * sizeof *c->weight);
    }
    c->max = ad_alloc(tp, (size_t)m * sizeof *c->max);
    c->log_s = ad_alloc(tp, (size_t)m * sizeof *c->log_s);
    c->scale = wsum > 0 ? 1 / wsum : 0;
    y->aux = c;

    double loss = 0; /* in double: a float sum over a long batch drifts */
    AD_PARALLEL_FOR_SUM(m * n, loss,
        for (ptrdiff_t i = 0; i < m; i++) {
            const double w = c->weight ? (double)c->weight[i] : 1.0;
            const ad_real *xv = logits->val + i * n;
            const ad_real mx = row_max(xv, n);
            const double log_s = log(row_sum_exp(xv, n, mx));
            c->max[i] = mx;
            c->log_s[i] = (ad_real)log_s;
            if (w == 0) continue;
            /* (max - x_t) + log s: no lse ≈ 1e4 to round away a confident row's small loss */
            loss += w * ((double)mx - (double)xv[c->target[i]] + log_s);
        });
    y->val[0] = (ad_real)(loss * c->scale);
    return ad_done(tp, y);
}

/* -------------------------------------------------------------------- hinge ---- */

/* J = (1/m) Σ_ij max(0, margin - s_ij + c_ij);
 * where the term is positive: ds_ij -= dJ/m, dc_ij += dJ/m (at the kink, 0) */
static void hinge_backward(ad_tensor *y) {
    ad_tensor *s = y->in[0], *c = y->in[1];
    const ad_real margin = y->arg[0], g = y->grad[0] / (ad_real)s->rows;
    for (size_t k = 0, n = ad_size(s); k < n; k++) {
        if (!(margin - s->val[k] + c->val[k] > 0)) continue;
        if (s->grad) s->grad[k] -= g;
        if (c->grad) c->grad[k] += g;
    }
}
static const ad_op hinge_op = {"ad_hinge", hinge_backward, 0};

ad_tensor *(ad_hinge)(ad_tape *tp, ad_tensor *s, ad_tensor *c, ad_real margin) {
    if (!s || !c) ad_fail(tp, "ad_hinge", "an operand is NULL");
    ad_check_same_shape(tp, "ad_hinge", s, c);
    ad_tensor *y = ad_node(tp, &hinge_op, 1, 1, 2, s, c);
    y->arg[0] = margin;
    double sum = 0;
    for (size_t k = 0, n = ad_size(s); k < n; k++) {
        const ad_real t = margin - s->val[k] + c->val[k];
        if (t > 0) sum += (double)t;
    }
    y->val[0] = (ad_real)(sum / s->rows);
    return ad_done(tp, y);
}

/* ---------------------------------------------------------------------- mse ---- */

/* J = (1/N) Σ_k (y_k - t_k)², N = m n; dy_k += 2 dJ (y_k - t_k) / N, dt_k -= the same */
static void mse_backward(ad_tensor *j) {
    ad_tensor *y = j->in[0], *t = j->in[1];
    const ad_real g = 2 * j->grad[0] / (ad_real)ad_size(y);
    for (size_t k = 0, n = ad_size(y); k < n; k++) {
        const ad_real d = g * (y->val[k] - t->val[k]);
        if (y->grad) y->grad[k] += d;
        if (t->grad) t->grad[k] -= d;
    }
}
static const ad_op mse_op = {"ad_mse", mse_backward, 0};

ad_tensor *(ad_mse)(ad_tape *tp, ad_tensor *y, ad_tensor *t) {
    if (!y || !t) ad_fail(tp, "ad_mse", "an operand is NULL");
    ad_check_same_shape(tp, "ad_mse", y, t);
    ad_tensor *j = ad_node(tp, &mse_op, 1, 1, 2, y, t);
    double sum = 0;
    for (size_t k = 0, n = ad_size(y); k < n; k++) {
        const double d = (double)y->val[k] - (double)t->val[k];
        sum += d * d;
    }
    j->val[0] = (ad_real)(sum / (double)ad_size(y));
    return ad_done(tp, j);
}
