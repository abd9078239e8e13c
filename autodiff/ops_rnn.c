/*
 * ops_rnn.c — the recurrent cells' elementwise gate math fused into single nodes, and the product
 * with an addend that feeds them.
 *
 * Written as primitive ops, an LSTM step records ~17 nodes (an add for the bias, one for x Wx,
 * four slices, three sigmoids, two tanh, three products, an add), each one pass over the batch
 * forward, one backward, and a gradient buffer cleared for each. The ops below do a cell's gate
 * math in one pass per output: the LSTM in two nodes (c', then h', so each node keeps one
 * output), the GRU (PyTorch's form) in one. They take the two products of a step apart,
 *   xw = x Wx + bx (a row of the all-steps product)   and   hu = h Wh + bh (ad_addmm),
 * and add them inside the pass, so neither an add node nor a slice per gate remains.
 *
 * Each forward keeps the gate activations it computed in an arena buffer (aux) for its backward,
 * which then needs no exp. Gradients of xw and hu are the same (∂pre/∂xw = ∂pre/∂hu = 1, except
 * the GRU's n gate, where hu_n enters through r); both accumulate, and may even be one tensor.
 */
#include "ad_internal.h"
#include "vecmath.h"

#ifdef AD_DOUBLE
/* The double build is the tests' reference: libm, and one code path. */
#define ROW_KERNEL
static inline ad_real gate_sigmoid(ad_real x) { return ad_sigmoid_of(x); }
static inline ad_real gate_tanh(ad_real x) { return AD_TANH(x); }
#else
/* Branch-free exp/tanh, so each row's loop vectorizes (vecmath.h), built for the widest vectors. */
#define ROW_KERNEL AD_VECTOR_CLONES
static inline ad_real gate_sigmoid(ad_real x) { return ad_sigmoidf(x); }
static inline ad_real gate_tanh(ad_real x) { return ad_tanhf(x); }
#endif

/* ------------------------------------------------------------------ addmm ---- */

/*
 * y = c + a b, with a m x k, b k x n, and c m x n or a 1 x n row added to every row (a bias).
 * One gemm with beta = 1 into a copy of c, so z = xw + h W needs no add pass of its own.
 *   dc += dy (a row c: the column sums of dy),  da += dy bᵀ,  db += aᵀ dy
 */
static void addmm_backward(ad_tensor *y) {
    ad_tensor *c = y->in[0], *a = y->in[1], *b = y->in[2];
    const int m = y->rows, n = y->cols, k = a->cols;
    if (c->grad) { /* one thread: a row c's column sums run down all rows, as ad_add's */
        const ad_real *dy = y->grad;
        if (c->rows == m)
            for (size_t j = 0, len = ad_size(y); j < len; j++) c->grad[j] += dy[j];
        else
            for (ptrdiff_t i = 0; i < m; i++)
                for (ptrdiff_t j = 0; j < n; j++) c->grad[j] += dy[i * n + j];
    }
    if (a->grad)
        ad_gemm(y->tape, false, true, m, k, n, y->grad, n, b->val, n, 1, a->grad, k);
    if (b->grad)
        ad_gemm(y->tape, true, false, k, n, m, a->val, k, y->grad, n, 1, b->grad, n);
}
static const ad_op addmm_op = {"ad_addmm", addmm_backward, 0};

ad_tensor *(ad_addmm)(ad_tape *tp, ad_tensor *c, ad_tensor *a, ad_tensor *b) {
    static const char op[] = "ad_addmm";
    if (!c || !a || !b) ad_fail(tp, op, "an operand is NULL");
    if (a->cols != b->rows)
        ad_fail(tp, op, "a b with a %dx%d and b %dx%d: a has %d columns, b has %d rows", a->rows,
                a->cols, b->rows, b->cols, a->cols, b->rows);
    if (c->cols != b->cols || (c->rows != a->rows && c->rows != 1))
        ad_fail(tp, op, "c is %dx%d but a b is %dx%d: c must be %dx%d or 1x%d", c->rows, c->cols,
                a->rows, b->cols, a->rows, b->cols, b->cols);
    const int m = a->rows, n = b->cols, k = a->cols;
    ad_tensor *y = ad_node(tp, &addmm_op, m, n, 3, c, a, b);
    if (c->rows == m) memcpy(y->val, c->val, ad_size(y) * sizeof(ad_real));
    else
        for (ptrdiff_t i = 0; i < m; i++)
            memcpy(y->val + i * n, c->val, (size_t)n * sizeof(ad_real));
    ad_gemm(tp, false, false, m, n, k, a->val, k, b->val, n, 1, y->val, n);
    return ad_done(tp, y);
}

/* ---------------------------------------------------------- shared checks ---- */

/* xw and hu: the same shape, gates·H columns. h (or c): B x H. Returns H. */
static int check_gates(ad_tape *tp, const char *op, const ad_tensor *xw, const ad_tensor *hu,
                       const ad_tensor *h, int gates, const char *hname) {
    if (!xw || !hu || !h) ad_fail(tp, op, "an operand is NULL");
    if (xw->rows != hu->rows || xw->cols != hu->cols)
        ad_fail(tp, op, "xw is %dx%d but hu is %dx%d: they must have the same shape", xw->rows,
                xw->cols, hu->rows, hu->cols);
    if (xw->cols % gates != 0)
        ad_fail(tp, op, "xw and hu are %dx%d: %d columns are not %d gates of equal width",
                xw->rows, xw->cols, xw->cols, gates);
    const int H = xw->cols / gates;
    if (h->rows != xw->rows || h->cols != H)
        ad_fail(tp, op, "%s is %dx%d but xw and hu are %dx%d: %s must be %dx%d (B x H, %d gates "
                "of H)", hname, h->rows, h->cols, xw->rows, xw->cols, hname, xw->rows, H, gates);
    return H;
}

/* Where a backward adds one row's gate gradients: the rows of dxw and dhu (either may be NULL,
 * and both may be the same buffer). */
static inline void add_gate_grad(ad_real *dxw, ad_real *dhu, ptrdiff_t k, ad_real g) {
    if (dxw) dxw[k] += g;
    if (dhu) dhu[k] += g;
}

/* --------------------------------------------------------------- LSTM c' ---- */

/*
 * c' = σ(p_f) ∘ c + σ(p_i) ∘ tanh(p_g),  p = xw + hu (B x 4H, gates i f g o), c B x H.
 * aux keeps i, f, g per row (B x 3H). With dc' = dy:
 *   dp_i = dc' g i(1-i),  dp_f = dc' c f(1-f),  dp_g = dc' i (1-g²)   into dxw and dhu
 *   dc += dc' f
 */
static ROW_KERNEL void lstm_cell_row(ptrdiff_t H, const ad_real *restrict xw,
                                     const ad_real *restrict hu, const ad_real *restrict c,
                                     ad_real *restrict y, ad_real *restrict act) {
    for (ptrdiff_t j = 0; j < H; j++) {
        const ad_real i = gate_sigmoid(xw[j] + hu[j]);
        const ad_real f = gate_sigmoid(xw[H + j] + hu[H + j]);
        const ad_real g = gate_tanh(xw[2 * H + j] + hu[2 * H + j]);
        act[j] = i;
        act[H + j] = f;
        act[2 * H + j] = g;
        y[j] = f * c[j] + i * g;
    }
}

static void lstm_cell_backward(ad_tensor *y) {
    ad_tensor *xw = y->in[0], *hu = y->in[1], *c = y->in[2];
    const ptrdiff_t B = y->rows, H = y->cols, G = 4 * H;
    const ad_real *act = y->aux, *dy = y->grad, *cv = c->val;
    ad_real *dxw = xw->grad, *dhu = hu->grad, *dc = c->grad;
    AD_PARALLEL_FOR((size_t)(B * G),
        for (ptrdiff_t r = 0; r < B; r++) {
            ad_real *dxr = dxw ? dxw + r * G : NULL, *dhr = dhu ? dhu + r * G : NULL;
            const ad_real *a = act + r * 3 * H;
            for (ptrdiff_t j = 0; j < H; j++) {
                const ad_real d = dy[r * H + j], i = a[j], f = a[H + j], g = a[2 * H + j];
                add_gate_grad(dxr, dhr, j, d * g * i * (1 - i));
                add_gate_grad(dxr, dhr, H + j, d * cv[r * H + j] * f * (1 - f));
                add_gate_grad(dxr, dhr, 2 * H + j, d * i * (1 - g * g));
                if (dc) dc[r * H + j] += d * f;
            }
        });
}
static const ad_op lstm_cell_op = {"ad_lstm_cell", lstm_cell_backward, 0};

ad_tensor *(ad_lstm_cell)(ad_tape *tp, ad_tensor *xw, ad_tensor *hu, ad_tensor *c) {
    const ptrdiff_t H = check_gates(tp, "ad_lstm_cell", xw, hu, c, 4, "c");
    const ptrdiff_t B = xw->rows, G = 4 * H;
    ad_tensor *y = ad_node(tp, &lstm_cell_op, (int)B, (int)H, 3, xw, hu, c);
    ad_real *act = ad_alloc(tp, (size_t)(B * 3 * H) * sizeof *act);
    y->aux = act;
    AD_PARALLEL_FOR((size_t)(B * G),
        for (ptrdiff_t r = 0; r < B; r++)
            lstm_cell_row(H, xw->val + r * G, hu->val + r * G, c->val + r * H, y->val + r * H,
                          act + r * 3 * H);
        );
    return ad_done(tp, y);
}

/* --------------------------------------------------------------- LSTM h' ---- */

/*
 * h' = σ(p_o) ∘ tanh(c'),  p_o = xw_o + hu_o (the last H of 4H columns), c' B x H.
 * aux keeps o and tanh(c') per row (B x 2H). With dh' = dy:
 *   dp_o = dh' tanh(c') o(1-o)   into dxw and dhu;   dc' += dh' o (1 - tanh²(c'))
 */
static ROW_KERNEL void lstm_hidden_row(ptrdiff_t H, const ad_real *restrict xw_o,
                                       const ad_real *restrict hu_o, const ad_real *restrict c,
                                       ad_real *restrict y, ad_real *restrict act) {
    for (ptrdiff_t j = 0; j < H; j++) {
        const ad_real o = gate_sigmoid(xw_o[j] + hu_o[j]), t = gate_tanh(c[j]);
        act[j] = o;
        act[H + j] = t;
        y[j] = o * t;
    }
}

static void lstm_hidden_backward(ad_tensor *y) {
    ad_tensor *xw = y->in[0], *hu = y->in[1], *c = y->in[2];
    const ptrdiff_t B = y->rows, H = y->cols, G = 4 * H;
    const ad_real *act = y->aux, *dy = y->grad;
    ad_real *dxw = xw->grad, *dhu = hu->grad, *dc = c->grad;
    AD_PARALLEL_FOR((size_t)(B * G),
        for (ptrdiff_t r = 0; r < B; r++) {
            ad_real *dxr = dxw ? dxw + r * G + 3 * H : NULL;
            ad_real *dhr = dhu ? dhu + r * G + 3 * H : NULL;
            const ad_real *a = act + r * 2 * H;
            for (ptrdiff_t j = 0; j < H; j++) {
                const ad_real d = dy[r * H + j], o = a[j], t = a[H + j];
                add_gate_grad(dxr, dhr, j, d * t * o * (1 - o));
                if (dc) dc[r * H + j] += d * o * (1 - t * t);
            }
        });
}
static const ad_op lstm_hidden_op = {"ad_lstm_hidden", lstm_hidden_backward, 0};

ad_tensor *(ad_lstm_hidden)(ad_tape *tp, ad_tensor *xw, ad_tensor *hu, ad_tensor *c) {
    const ptrdiff_t H = check_gates(tp, "ad_lstm_hidden", xw, hu, c, 4, "c'");
    const ptrdiff_t B = xw->rows, G = 4 * H;
    ad_tensor *y = ad_node(tp, &lstm_hidden_op, (int)B, (int)H, 3, xw, hu, c);
    ad_real *act = ad_alloc(tp, (size_t)(B * 2 * H) * sizeof *act);
    y->aux = act;
    AD_PARALLEL_FOR((size_t)(B * G),
        for (ptrdiff_t r = 0; r < B; r++)
            lstm_hidden_row(H, xw->val + r * G + 3 * H, hu->val + r * G + 3 * H, c->val + r * H,
                            y->val + r * H, act + r * 2 * H);
        );
    return ad_done(tp, y);
}

/* ------------------------------------------------------------ GRU, form A ---- */

/*
 * PyTorch's GRU, gates r z n (xw, hu B x 3H; h B x H):
 *   r = σ(xw_r + hu_r)   z = σ(xw_z + hu_z)   n = tanh(xw_n + r ∘ hu_n)   h' = z ∘ h + (1-z) ∘ n
 * aux keeps r, z, n per row (B x 3H). With dh' = dy:
 *   dh += dy z
 *   dp_z = dy (h - n) z(1-z)                             into dxw_z and dhu_z
 *   dp_n = dy (1-z)(1-n²):  dxw_n += dp_n,  dhu_n += dp_n r
 *   dp_r = dp_n hu_n r(1-r)                              into dxw_r and dhu_r
 */
static ROW_KERNEL void gru_row(ptrdiff_t H, const ad_real *restrict xw,
                               const ad_real *restrict hu, const ad_real *restrict h,
                               ad_real *restrict y, ad_real *restrict act) {
    for (ptrdiff_t j = 0; j < H; j++) {
        const ad_real r = gate_sigmoid(xw[j] + hu[j]);
        const ad_real z = gate_sigmoid(xw[H + j] + hu[H + j]);
        const ad_real n = gate_tanh(xw[2 * H + j] + r * hu[2 * H + j]);
        act[j] = r;
        act[H + j] = z;
        act[2 * H + j] = n;
        y[j] = z * h[j] + (1 - z) * n;
    }
}

static void gru_backward(ad_tensor *y) {
    ad_tensor *xw = y->in[0], *hu = y->in[1], *h = y->in[2];
    const ptrdiff_t B = y->rows, H = y->cols, G = 3 * H;
    const ad_real *act = y->aux, *dy = y->grad, *hv = h->val, *huv = hu->val;
    ad_real *dxw = xw->grad, *dhu = hu->grad, *dh = h->grad;
    AD_PARALLEL_FOR((size_t)(B * G),
        for (ptrdiff_t r = 0; r < B; r++) {
            ad_real *dxr = dxw ? dxw + r * G : NULL, *dhr = dhu ? dhu + r * G : NULL;
            const ad_real *a = act + r * G, *hur = huv + r * G;
            for (ptrdiff_t j = 0; j < H; j++) {
                const ad_real d = dy[r * H + j], rg = a[j], z = a[H + j], n = a[2 * H + j];
                const ad_real dn = d * (1 - z) * (1 - n * n);
                add_gate_grad(dxr, dhr, H + j, d * (hv[r * H + j] - n) * z * (1 - z));
                if (dxr) dxr[2 * H + j] += dn;
                if (dhr) dhr[2 * H + j] += dn * rg;
                add_gate_grad(dxr, dhr, j, dn * hur[2 * H + j] * rg * (1 - rg));
                if (dh) dh[r * H + j] += d * z;
            }
        });
}
static const ad_op gru_op = {"ad_gru_cell", gru_backward, 0};

ad_tensor *(ad_gru_cell)(ad_tape *tp, ad_tensor *xw, ad_tensor *hu, ad_tensor *h) {
    const ptrdiff_t H = check_gates(tp, "ad_gru_cell", xw, hu, h, 3, "h");
    const ptrdiff_t B = xw->rows, G = 3 * H;
    ad_tensor *y = ad_node(tp, &gru_op, (int)B, (int)H, 3, xw, hu, h);
    ad_real *act = ad_alloc(tp, (size_t)(B * G) * sizeof *act);
    y->aux = act;
    AD_PARALLEL_FOR((size_t)(B * G),
        for (ptrdiff_t r = 0; r < B; r++)
            gru_row(H, xw->val + r * G, hu->val + r * G, h->val + r * H, y->val + r * H,
                    act + r * G);
        );
    return ad_done(tp, y);
}
