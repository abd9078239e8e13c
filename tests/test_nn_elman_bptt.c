/*
 * FORMULAS §4 through nn/: the Elman cell of nn_rnn (one layer, one direction) with an nn_linear
 * output layer and a softmax cross-entropy per step, against the hand-written BPTT of the lecture
 * (ref_elman.c, the reference test_formula_elman also holds the tape to).
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
#include "ref_elman.h"

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

/* The hand-written BPTT of ref_elman.c on the model's numbers, with the lecture's U = Wx, W = Wh
 * and b = bx + bh; len NULL for all τ. */
static ref_elman *model_reference(const model *m, const int *len) {
    const nn_cell *cell = &m->rnn.cell[0][0];
    double b[H];
    for (int k = 0; k < H; k++) b[k] = ad_data(cell->bx)[k] + ad_data(cell->bh)[k];
    const ref_elman_in in = {.T = T, .B = B, .D = D, .H = H, .K = K,
                             .U = ad_data(cell->Wx), .W = ad_data(cell->Wh), .b = b,
                             .V = ad_data(m->lin.W), .c = ad_data(m->lin.b),
                             .x = ad_data(m->x), .y = &m->y[0][0], .len = len,
                             .h0 = m->h0->data};
    return ref_elman_new(&in);
}

/* Compare every gradient the tape left with the reference; note each largest relative error. */
static void compare(const model *m, ad_tensor *logits, const ref_elman *r) {
    const nn_cell *cell = &m->rnn.cell[0][0];
    REQUIRE(ad_grad(logits));
    const struct {
        const char *name;
        const double *got, *want;
        int n;
    } g[] = {
        {"∇o(t)", ad_grad(logits), r->go, T * B * K},
        {"∇c", ad_grad(m->lin.b), r->gc, K},
        {"∇V", ad_grad(m->lin.W), r->gV, H * K},
        {"∇b as ∇bx", ad_grad(cell->bx), r->gb, H},
        {"∇b as ∇bh", ad_grad(cell->bh), r->gb, H},
        {"∇W = ∇Wh", ad_grad(cell->Wh), r->gW, H * H},
        {"∇U = ∇Wx", ad_grad(cell->Wx), r->gU, D * H},
        {"∇x(t)", ad_grad(m->x), r->gx, T * B * D},
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

    ref_elman *r = model_reference(&m, NULL);
    CHECK_NEAR(ad_item(L), r->L, 1e-12, 0);
    /* The forward pass too: h(t) is the runner's output. */
    double err = CHECK_ARRAY("h(t)", ad_data(res.out), r->hs + B * H, T * B * H, 1e-12, 1e-15);
    th_note("h(t)       max rel err %.2e", err);
    CHECK_ARRAY("h(τ) final", ad_data(res.final[0][0][0]), r->hs + T * B * H, B * H, 1e-12,
                1e-15);
    compare(&m, logits, r);
    ref_elman_free(r);
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

    ref_elman *r = model_reference(&m, len);
    CHECK_NEAR(ad_item(L), r->L, 1e-12, 0);
    for (int s = 0; s < B; s++) /* the final state is h(len) */
        CHECK_ARRAY("h(len) final", ad_data(res.final[0][0][0]) + s * H,
                    r->hs + (len[s] * B + s) * H, H, 1e-12, 1e-15);
    compare(&m, logits, r);
    ref_elman_free(r);
    ad_tape_free(tp);
    model_free(&m);
}
