/*
 * FORMULAS §4 through nn/: the Elman cell of nn_rnn (one layer, one direction) with an nn_linear
 * output layer and a softmax cross-entropy per step, against the hand-written BPTT of the lecture.
 *
 * In nn's row form a batch row s runs
 *     a(t) = x(t) Wx + bx + h(t−1) Wh + bh,  h(t) = tanh(a(t)),  o(t) = h(t) V + c,
 * i.e. the lecture's U = Wx, W = Wh, b = bx + bh (nn keeps PyTorch's two biases, each of which gets
 * the whole ∇b), with every product transposed:
 *     ∇o(t) = ŷ(t) − y(t)
 *     ∇h(τ) = ∇o(τ) Vᵀ,   ∇h(t) = (∇h(t+1) ∘ (1 − h(t+1)²)) Whᵀ + ∇o(t) Vᵀ     for t < τ
 *     ∇a(t) = ∇h(t) ∘ (1 − h(t)²)
 *     ∇c = Σ_t ∇o(t),  ∇V = Σ_t h(t)ᵀ ∇o(t),  ∇bx = ∇bh = Σ_t ∇a(t),
 *     ∇Wh = Σ_t h(t−1)ᵀ ∇a(t),  ∇Wx = Σ_t x(t)ᵀ ∇a(t),  and ∇x(t) = ∇a(t) Wxᵀ (§2),
 * summed over the batch rows too; L = Σ_t Σ_rows CE. h(0) is a nonzero carried state (it enters
 * the tape as a constant), so the Wh term of the first step counts. With variable lengths, τ is
 * each sequence's own length and padded steps add nothing.
 */
#include "harness.h"
#include "nn.h"

enum { B = 3, T = 7, D = 4, H = 5, K = 6 }; /* batch, steps τ, input, hidden, output sizes */

typedef struct {
    ad_params *ps;
    nn_rnn rnn;
    nn_linear lin;   /* V (H x K) and c */
    ad_tensor *x;    /* (T·B) x D, time-major; a parameter so that ∇x is checked too */
    nn_rnn_state *h0;
    int y[T][B];
} model;

static void model_init(model *m) {
    m->ps = ad_params_new();
    nn_rng rng = nn_rng_new(1);
    const nn_rnn_config cfg = {.kind = NN_ELMAN, .input = D, .hidden = H, .layers = 1};
    nn_rnn_init(&m->rnn, m->ps, "rnn", &cfg, &rng);
    nn_linear_init(&m->lin, m->ps, "out", H, K, true, &rng);
    m->x = ad_param(m->ps, "x", T * B, D);
    /* Values of the lecture's scale, biases nonzero (init leaves them 0). */
    const nn_cell *c = &m->rnn.cell[0][0];
    th_fill_uniform(ad_data(c->Wx), D * H, -0.6, 0.6, 1);
    th_fill_uniform(ad_data(c->Wh), H * H, -0.6, 0.6, 2);
    th_fill_uniform(ad_data(c->bx), H, -0.3, 0.3, 3);
    th_fill_uniform(ad_data(c->bh), H, -0.3, 0.3, 4);
    th_fill_uniform(ad_data(m->lin.W), H * K, -0.8, 0.8, 5);
    th_fill_uniform(ad_data(m->lin.b), K, -0.3, 0.3, 6);
    th_fill_uniform(ad_data(m->x), T * B * D, -1, 1, 7);
    m->h0 = nn_rnn_state_new(&m->rnn, B);
    th_fill_uniform(m->h0->data, B * H, -0.5, 0.5, 8);
    for (int t = 0; t < T; t++)
        for (int s = 0; s < B; s++) m->y[t][s] = (3 * t + 5 * s + 1) % K;
}

static void model_free(model *m) {
    nn_rnn_state_free(m->h0);
    ad_params_free(m->ps);
}

/* The reference, in the lecture's names. hs[0] = h(0), hs[t] = h(t); entries of padded steps
 * stay 0. */
typedef struct {
    double hs[T + 1][B][H], go[T][B][K], ga[T][B][H], gx[T][B][D];
    double gU[D][H], gW[H][H], gb[H], gV[H][K], gc[K], L;
} bptt;

static void reference_bptt(const model *m, const int *len, bptt *r) {
    const nn_cell *cell = &m->rnn.cell[0][0];
    const double *U = ad_data(cell->Wx), *W = ad_data(cell->Wh), *V = ad_data(m->lin.W);
    const double *c = ad_data(m->lin.b), *X = ad_data(m->x);
    double b[H];
    for (int k = 0; k < H; k++) b[k] = ad_data(cell->bx)[k] + ad_data(cell->bh)[k];
    memset(r, 0, sizeof *r);
    memcpy(r->hs[0], m->h0->data, sizeof r->hs[0]);
    for (int s = 0; s < B; s++)
        for (int t = 0; t < len[s]; t++) {
            const double *x = &X[(t * B + s) * D];
            for (int k = 0; k < H; k++) { /* a = x(t) U + h(t−1) W + b;  h = tanh a */
                double a = b[k];
                for (int j = 0; j < H; j++) a += r->hs[t][s][j] * W[j * H + k];
                for (int d = 0; d < D; d++) a += x[d] * U[d * H + k];
                r->hs[t + 1][s][k] = tanh(a);
            }
            double o[K], mx = -INFINITY, z = 0;
            for (int q = 0; q < K; q++) { /* o = h V + c */
                o[q] = c[q];
                for (int k = 0; k < H; k++) o[q] += r->hs[t + 1][s][k] * V[k * K + q];
                mx = fmax(mx, o[q]);
            }
            for (int q = 0; q < K; q++) z += exp(o[q] - mx);
            for (int q = 0; q < K; q++) /* ∇o(t) = ŷ(t) − y(t) */
                r->go[t][s][q] = exp(o[q] - mx) / z - (q == m->y[t][s]);
            r->L += log(z) + mx - o[m->y[t][s]];
        }
    for (int s = 0; s < B; s++)
        for (int t = len[s] - 1; t >= 0; t--)
            for (int k = 0; k < H; k++) {
                double g = 0; /* ∇h(t) = ∇o(t) Vᵀ (+ ∇a(t+1) Wᵀ below the sequence's end) */
                for (int q = 0; q < K; q++) g += r->go[t][s][q] * V[k * K + q];
                if (t + 1 < len[s])
                    for (int j = 0; j < H; j++) g += r->ga[t + 1][s][j] * W[k * H + j];
                r->ga[t][s][k] = g * (1 - r->hs[t + 1][s][k] * r->hs[t + 1][s][k]);
            }
    for (int s = 0; s < B; s++)
        for (int t = 0; t < len[s]; t++) {
            const double *x = &X[(t * B + s) * D];
            for (int q = 0; q < K; q++) {
                r->gc[q] += r->go[t][s][q];
                for (int k = 0; k < H; k++) r->gV[k][q] += r->hs[t + 1][s][k] * r->go[t][s][q];
            }
            for (int k = 0; k < H; k++) {
                r->gb[k] += r->ga[t][s][k];
                for (int j = 0; j < H; j++) r->gW[j][k] += r->hs[t][s][j] * r->ga[t][s][k];
                for (int d = 0; d < D; d++) r->gU[d][k] += x[d] * r->ga[t][s][k];
            }
            for (int d = 0; d < D; d++) /* ∇x(t) = ∇a(t) Uᵀ */
                for (int k = 0; k < H; k++) r->gx[t][s][d] += r->ga[t][s][k] * U[d * H + k];
        }
}

/* Compare every gradient the tape left with the reference; note each largest relative error. */
static void compare(const model *m, ad_tensor *logits, const bptt *r) {
    const nn_cell *cell = &m->rnn.cell[0][0];
    REQUIRE(ad_grad(logits));
    const struct {
        const char *name;
        const double *got, *want;
        int n;
    } g[] = {
        {"∇o(t)", ad_grad(logits), &r->go[0][0][0], T * B * K},
        {"∇c", ad_grad(m->lin.b), r->gc, K},
        {"∇V", ad_grad(m->lin.W), &r->gV[0][0], H * K},
        {"∇b as ∇bx", ad_grad(cell->bx), r->gb, H},
        {"∇b as ∇bh", ad_grad(cell->bh), r->gb, H},
        {"∇W = ∇Wh", ad_grad(cell->Wh), &r->gW[0][0], H * H},
        {"∇U = ∇Wx", ad_grad(cell->Wx), &r->gU[0][0], D * H},
        {"∇x(t)", ad_grad(m->x), &r->gx[0][0][0], T * B * D},
    };
    for (size_t i = 0; i < sizeof g / sizeof g[0]; i++) {
        REQUIRE(g[i].got);
        double err = CHECK_ARRAY(g[i].name, g[i].got, g[i].want, (size_t)g[i].n, 1e-9, 1e-12);
        th_note("%-10s max rel err %.2e", g[i].name, err);
    }
}

/* All sequences of length τ; one cross-entropy per step, each the mean over the B rows. */
TEST(nn_elman_matches_hand_written_bptt) {
    model m;
    model_init(&m);
    ad_tape *tp = ad_tape_new();
    nn_rnn_result res = nn_rnn_forward(tp, &m.rnn, m.x, T, NULL, m.h0);
    ad_tensor *logits = nn_linear_forward(tp, &m.lin, res.out); /* o(t) for all t: (T·B) x K */
    ad_tensor *L = NULL;
    for (int t = 0; t < T; t++) {
        ad_tensor *o = ad_slice_rows(tp, logits, t * B, B);
        ad_tensor *Lt = ad_scale(tp, ad_softmax_xent(tp, o, m.y[t], NULL), B); /* Σ over rows */
        L = L ? ad_add(tp, L, Lt) : Lt;
    }
    ad_params_zero_grad(m.ps);
    ad_backward(tp, L);

    static bptt r;
    const int len[B] = {T, T, T};
    reference_bptt(&m, len, &r);
    CHECK_NEAR(ad_item(L), r.L, 1e-12, 0);
    /* The forward pass too: h(t) is the runner's output. */
    double err = CHECK_ARRAY("h(t)", ad_data(res.out), &r.hs[1][0][0], T * B * H, 1e-12, 1e-15);
    th_note("h(t)       max rel err %.2e", err);
    CHECK_ARRAY("h(τ) final", ad_data(res.final[0][0][0]), &r.hs[T][0][0], B * H, 1e-12, 1e-15);
    compare(&m, logits, &r);
    ad_tape_free(tp);
    model_free(&m);
}

/* Sequences of lengths τ, 4 and 2, the loss masked by nn_seq_mask: each sequence's BPTT starts at
 * its own last step (the base case ∇h(len) = ∇o(len) Vᵀ) and padded steps contribute nothing. */
TEST(nn_elman_matches_hand_written_bptt_with_lengths) {
    model m;
    model_init(&m);
    const int len[B] = {T, 4, 2};
    ad_tape *tp = ad_tape_new();
    nn_rnn_result res = nn_rnn_forward(tp, &m.rnn, m.x, T, len, m.h0);
    ad_tensor *logits = nn_linear_forward(tp, &m.lin, res.out);
    ad_real w[T * B];
    nn_seq_mask(w, T, B, len);
    double valid = 0;
    for (int k = 0; k < T * B; k++) valid += w[k];
    /* The weighted mean over valid rows, times their number: Σ over valid (t, s) of CE. */
    ad_tensor *L = ad_scale(tp, ad_softmax_xent(tp, logits, &m.y[0][0], w), (ad_real)valid);
    ad_params_zero_grad(m.ps);
    ad_backward(tp, L);

    static bptt r;
    reference_bptt(&m, len, &r);
    CHECK_NEAR(ad_item(L), r.L, 1e-12, 0);
    for (int s = 0; s < B; s++) /* the final state is h(len) */
        CHECK_ARRAY("h(len) final", ad_data(res.final[0][0][0]) + s * H, r.hs[len[s]][s], H,
                    1e-12, 1e-15);
    compare(&m, logits, &r);
    ad_tape_free(tp);
    model_free(&m);
}
