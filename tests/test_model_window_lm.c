/*
 * Tests of models/window_lm.c, the fixed-window neural LM (FORMULAS §5): the tape's loss and
 * gradients against the closed form written out by hand below (§1-§2 applied to §5), central
 * differences, windows at sentence starts, held-out likelihood, sampling, and a tiny overfit.
 */
#include "harness.h"
#include "nn.h"
#include "window_lm.h"

enum { V = 7, EOS = 1, BOS = V, WIN = 3, EMB = 4, HID = 5, NB = 4 };

static void randomize(ad_params *ps, uint64_t seed) {
    for (int i = 0; i < ad_params_count(ps); i++) {
        ad_tensor *t = ad_params_at(ps, i);
        th_fill_uniform(ad_data(t), (size_t)ad_rows(t) * ad_cols(t), -0.8, 0.8, seed + i);
    }
}

static void tiny_model(wlm *m, ad_params *ps) {
    nn_rng r = nn_rng_new(1);
    wlm_init(m, ps, "wlm", &(wlm_config){.vocab = V, .eos = EOS, .window = WIN, .embed = EMB,
                                        .hidden = HID}, &r);
    randomize(ps, 11); /* biases too: zeros would hide a bias gradient that went astray */
}

/* Windows with <s> padding, a repeated id inside one window and across windows. */
static const int CTX[NB * WIN] = {BOS, BOS, 2, 3, 3, 4, 6, 0, 3, BOS, 5, 3}; /* no 1 */
static const int Y[NB] = {3, 5, 1, 0};

/* ----------------------------------------------- FORMULAS §5 by hand ---- */

typedef struct hand_grads {
    double J;
    double E[(V + 1) * EMB], W[WIN * EMB * HID], b1[HID], U[HID * V], b2[V];
} hand_grads;

/* Row form of §5 for B windows, J the mean cross-entropy:
 *   e = [E[c1] E[c2] E[c3]], z = e W + b1, h = tanh z, θ = h U + b2, ŷ = softmax θ
 *   δθ = (ŷ - y)/B                              (§1, for the mean)
 *   dU = hᵀ δθ, db2 = Σ_b δθ                    (§2, row form)
 *   δh = δθ Uᵀ, δz = δh ∘ (1 - h²)               (tanh' = 1 - tanh²)
 *   dW = eᵀ δz, db1 = Σ_b δz, δe = δz Wᵀ
 *   dE[c_j] += δe[block j]                       (a row used several times sums its gradients) */
static void hand_forward_backward(const double *E, const double *W, const double *b1,
                                  const double *U, const double *b2, const int *ctx, const int *y,
                                  int B, hand_grads *g) {
    memset(g, 0, sizeof *g);
    for (int b = 0; b < B; b++) {
        double e[WIN * EMB], h[HID], th[V], p[V], dth[V], dh[HID], dz[HID];
        for (int j = 0; j < WIN; j++)
            for (int d = 0; d < EMB; d++) e[j * EMB + d] = E[ctx[b * WIN + j] * EMB + d];
        for (int k = 0; k < HID; k++) {
            double z = b1[k];
            for (int i = 0; i < WIN * EMB; i++) z += e[i] * W[i * HID + k];
            h[k] = tanh(z);
        }
        double mx = -INFINITY, s = 0;
        for (int v = 0; v < V; v++) {
            th[v] = b2[v];
            for (int k = 0; k < HID; k++) th[v] += h[k] * U[k * V + v];
            mx = fmax(mx, th[v]);
        }
        for (int v = 0; v < V; v++) s += exp(th[v] - mx);
        for (int v = 0; v < V; v++) p[v] = exp(th[v] - mx) / s;
        g->J += -log(p[y[b]]) / B;
        for (int v = 0; v < V; v++) dth[v] = (p[v] - (v == y[b])) / B;
        for (int k = 0; k < HID; k++) {
            dh[k] = 0;
            for (int v = 0; v < V; v++) {
                g->U[k * V + v] += h[k] * dth[v];
                dh[k] += dth[v] * U[k * V + v];
            }
            dz[k] = dh[k] * (1 - h[k] * h[k]);
            g->b1[k] += dz[k];
        }
        for (int v = 0; v < V; v++) g->b2[v] += dth[v];
        for (int i = 0; i < WIN * EMB; i++) {
            double de = 0;
            for (int k = 0; k < HID; k++) {
                g->W[i * HID + k] += e[i] * dz[k];
                de += dz[k] * W[i * HID + k];
            }
            g->E[ctx[b * WIN + i / EMB] * EMB + i % EMB] += de;
        }
    }
}

static void to_double(ad_tensor *t, double *out) {
    for (int i = 0; i < ad_rows(t) * ad_cols(t); i++) out[i] = ad_data(t)[i];
}

static void grad_to_double(ad_tensor *t, double *out) {
    for (int i = 0; i < ad_rows(t) * ad_cols(t); i++) out[i] = ad_grad(t)[i];
}

TEST(loss_and_gradients_match_formulas_5_by_hand) {
    ad_params *ps = ad_params_new();
    wlm m;
    tiny_model(&m, ps);
    REQUIRE(ad_rows(m.emb.E) == V + 1 && ad_cols(m.emb.E) == EMB);
    REQUIRE(ad_rows(m.hidden.W) == WIN * EMB && ad_cols(m.hidden.W) == HID);
    REQUIRE(ad_rows(m.out.W) == HID && ad_cols(m.out.W) == V);
    REQUIRE(ad_params_find(ps, "wlm.emb.E") == m.emb.E);

    static double E[(V + 1) * EMB], W[WIN * EMB * HID], b1[HID], U[HID * V], b2[V];
    to_double(m.emb.E, E);
    to_double(m.hidden.W, W);
    to_double(m.hidden.b, b1);
    to_double(m.out.W, U);
    to_double(m.out.b, b2);
    static hand_grads want;
    hand_forward_backward(E, W, b1, U, b2, CTX, Y, NB, &want);

    ad_tape *tp = ad_tape_new();
    ad_tensor *J = wlm_loss(tp, &m, CTX, Y, NB);
    ad_params_zero_grad(ps);
    ad_backward(tp, J);
    CHECK_NEAR(ad_item(J), want.J, 1e-13, 0);
    static hand_grads got;
    grad_to_double(m.emb.E, got.E);
    grad_to_double(m.hidden.W, got.W);
    grad_to_double(m.hidden.b, got.b1);
    grad_to_double(m.out.W, got.U);
    grad_to_double(m.out.b, got.b2);
    double worst = 0, r;
    r = CHECK_ARRAY("dE", got.E, want.E, (V + 1) * EMB, 1e-10, 1e-15);
    worst = fmax(worst, r);
    r = CHECK_ARRAY("dW", got.W, want.W, WIN * EMB * HID, 1e-10, 1e-15);
    worst = fmax(worst, r);
    r = CHECK_ARRAY("db1", got.b1, want.b1, HID, 1e-10, 1e-15);
    worst = fmax(worst, r);
    r = CHECK_ARRAY("dU", got.U, want.U, HID * V, 1e-10, 1e-15);
    worst = fmax(worst, r);
    r = CHECK_ARRAY("db2", got.b2, want.b2, V, 1e-10, 1e-15);
    worst = fmax(worst, r);
    th_note("J = %.6f; largest relative difference from the closed form %.2e", want.J, worst);
    /* rows of E no window used get nothing (sparse updates rely on it) */
    int used[V + 1] = {0};
    for (int i = 0; i < NB * WIN; i++) used[CTX[i]] = 1;
    CHECK(!used[EOS]);
    for (int v = 0; v <= V; v++)
        for (int d = 0; d < EMB; d++)
            if (!used[v]) CHECK(got.E[v * EMB + d] == 0);
    ad_tape_free(tp);
    ad_params_free(ps);
}

typedef struct loss_ctx {
    const wlm *m;
} loss_ctx;

static ad_tensor *loss_fn(ad_tape *tp, void *ctx) {
    const loss_ctx *c = ctx;
    return wlm_loss(tp, c->m, CTX, Y, NB);
}

TEST(gradients_match_central_differences) {
    ad_params *ps = ad_params_new();
    wlm m;
    tiny_model(&m, ps);
    loss_ctx c = {&m};
    ad_gradcheck_opts opts = th_tight;
    opts.max_coords = 1000; /* every coordinate of this tiny model */
    ad_gradcheck_result res = CHECK_GRADCHECK(ps, loss_fn, &c, &opts);
    th_note("%d coordinates, largest relative error %.2e", res.checked, res.max_rel_err);
    ad_params_free(ps);
}

/* ------------------------------------------------------------ windows ---- */

TEST(windows_pad_with_bos_and_stop_at_sentence_starts) {
    const wlm_config cfg = {.vocab = V, .eos = EOS, .window = WIN, .embed = 1, .hidden = 1};
    const int s[] = {2, 3, 4, 5, EOS, 6, 2, EOS};
    const int want[][WIN] = {
        {BOS, BOS, BOS}, {BOS, BOS, 2}, {BOS, 2, 3}, {2, 3, 4}, {3, 4, 5}, /* ...</s> predicted */
        {BOS, BOS, BOS}, {BOS, BOS, 6}, {BOS, 6, 2},                      /* a new sentence */
    };
    for (size_t i = 0; i < 8; i++) {
        int ctx[WIN];
        wlm_window(&cfg, s, i, ctx);
        for (int j = 0; j < WIN; j++)
            CHECK_MSG(ctx[j] == want[i][j], "position %zu, slot %d: %d, want %d", i, j, ctx[j],
                      want[i][j]);
    }
    /* no eos: the stream is one sentence */
    const wlm_config one = {.vocab = V, .eos = -1, .window = 2, .embed = 1, .hidden = 1};
    int ctx[2];
    wlm_window(&one, s, 5, ctx);
    CHECK(ctx[0] == 5 && ctx[1] == EOS);
    const size_t pos[2] = {3, 6};
    int bctx[2 * WIN], by[2];
    wlm_batch(&cfg, s, pos, 2, bctx, by);
    CHECK(by[0] == 5 && by[1] == 2);
    CHECK(bctx[0] == 2 && bctx[2] == 4 && bctx[3] == BOS && bctx[5] == 6);
}

/* ---------------------------------------------------------- evaluation ---- */

TEST(held_out_nll_is_the_sum_over_positions) {
    ad_params *ps = ad_params_new();
    wlm m;
    tiny_model(&m, ps);
    static double E[(V + 1) * EMB], W[WIN * EMB * HID], b1[HID], U[HID * V], b2[V];
    to_double(m.emb.E, E);
    to_double(m.hidden.W, W);
    to_double(m.hidden.b, b1);
    to_double(m.out.W, U);
    to_double(m.out.b, b2);
    const int s[] = {2, 3, 4, 5, EOS, 6, 2, EOS, 0, 0, 3};
    enum { N = sizeof s / sizeof s[0] };
    double want = 0, want_logp[N];
    for (size_t i = 0; i < N; i++) { /* one window at a time, by hand */
        int ctx[WIN];
        wlm_window(&m.cfg, s, i, ctx);
        static hand_grads g;
        hand_forward_backward(E, W, b1, U, b2, ctx, &s[i], 1, &g);
        want += g.J;
        want_logp[i] = -g.J;
    }
    ad_tape *tp = ad_tape_new();
    for (int batch = 1; batch <= 12; batch += 3) { /* 4 does not divide 11: a short last batch */
        CHECK_NEAR(wlm_nll(tp, &m, s, N, batch), want, 1e-13, 0);
        double logp[N];
        wlm_logprobs(tp, &m, s, N, batch, logp);
        CHECK_ARRAY("logprobs", logp, want_logp, N, 1e-13, 0);
    }
    CHECK_NEAR(wlm_perplexity(tp, &m, s, N, 4), exp(want / N), 1e-13, 0);
    CHECK(ad_tape_training(tp)); /* restored after evaluation */
    ad_tape_free(tp);
    ad_params_free(ps);
}

/* Draws follow softmax(logits / T): frequencies within 4.5 standard errors of the probabilities;
 * a tiny temperature picks the most likely word every time. */
TEST(sampling_follows_the_softmax_with_temperature) {
    ad_params *ps = ad_params_new();
    wlm m;
    tiny_model(&m, ps);
    ad_tape *tp = ad_tape_new();
    const int ctx[WIN] = {BOS, 2, 3};
    const ad_real *z = ad_data(wlm_logits(tp, &m, ctx, 1));
    double p[V], zl[V], s = 0;
    int best = 0;
    for (int v = 0; v < V; v++) zl[v] = z[v], best = zl[v] > zl[best] ? v : best;
    for (int T10 = 5; T10 <= 20; T10 += 15) {
        const double T = T10 / 10.0;
        s = 0;
        for (int v = 0; v < V; v++) s += p[v] = exp(zl[v] / T);
        for (int v = 0; v < V; v++) p[v] /= s;
        enum { DRAWS = 20000 };
        int n[V] = {0};
        nn_rng r = nn_rng_new(5);
        for (int i = 0; i < DRAWS; i++) n[wlm_sample(tp, &m, ctx, T, &r)]++;
        for (int v = 0; v < V; v++) {
            double se = sqrt(p[v] * (1 - p[v]) / DRAWS);
            CHECK_MSG(fabs(n[v] / (double)DRAWS - p[v]) <= 4.5 * se + 1e-12,
                      "T %.1f, word %d: %d of %d, p = %.4f", T, v, n[v], DRAWS, p[v]);
        }
    }
    nn_rng r = nn_rng_new(6);
    for (int i = 0; i < 50; i++) CHECK(wlm_sample(tp, &m, ctx, 1e-3, &r) == best);
    CHECK(wlm_sample(tp, &m, ctx, 0, &r) == best); /* greedy */
    ad_tape_free(tp);
    ad_params_free(ps);
}

/* FORMULAS §12's sanity check: trained on a sentence in which every window decides the next word
 * (each window of 3 is different), the model drives the loss near 0 and predicts every word. */
TEST(overfits_a_tiny_corpus) {
    const int s[] = {2, 3, 4, 5, 6, 3, 2, 5, 4, 0, 6, EOS};
    enum { N = sizeof s / sizeof s[0] };
    nn_rng r = nn_rng_new(2);
    ad_params *ps = ad_params_new();
    wlm m;
    wlm_init(&m, ps, "wlm", &(wlm_config){V, EOS, WIN, 8, 16}, &r);
    nn_optim *opt = nn_optim_new(ps, &(nn_optim_config){.kind = NN_ADAM, .lr = 0.02});
    int ctx[N * WIN], y[N];
    size_t pos[N];
    for (size_t i = 0; i < N; i++) pos[i] = i;
    wlm_batch(&m.cfg, s, pos, N, ctx, y);
    ad_tape *tp = ad_tape_new();
    double J = 0;
    int step;
    for (step = 0; step < 500; step++) {
        ad_tape_reset(tp);
        J = nn_train_step(tp, wlm_loss(tp, &m, ctx, y, N), opt, 5.0);
        if (J < 0.01) break;
    }
    CHECK_MSG(J < 0.01, "loss %.4f after %d steps", J, step);
    ad_tape_reset(tp);
    const ad_real *z = ad_data(wlm_logits(tp, &m, ctx, N));
    int right = 0;
    for (int i = 0; i < N; i++) {
        int best = 0;
        for (int v = 1; v < V; v++) best = z[i * V + v] > z[i * V + best] ? v : best;
        right += best == y[i];
    }
    CHECK(right == N);
    th_note("loss %.4f after %d Adam steps; greedy %d/%d; held-in perplexity %.4f", J, step, right,
            (int)N, wlm_perplexity(tp, &m, s, N, 5));
    ad_tape_free(tp);
    nn_optim_free(opt);
    ad_params_free(ps);
}

TEST(usage_errors_stop_with_a_message) {
    ad_params *ps = ad_params_new();
    nn_rng r = nn_rng_new(1);
    wlm m;
    EXPECT_ERROR(wlm_init(&m, ps, "w", &(wlm_config){V, EOS, 0, 2, 2}, &r), "wlm_init", "window 0");
    EXPECT_ERROR(wlm_init(&m, ps, "w", &(wlm_config){V, V, 2, 2, 2}, &r), "wlm_init", "eos 7");
    wlm_init(&m, ps, "w", &(wlm_config){V, EOS, 2, 2, 2}, &r);
    ad_tape *tp = ad_tape_new();
    EXPECT_ERROR(wlm_logits(tp, &m, (int[]){0, V + 1}, 1), "wlm_logits", "ctx[0][1] = 8");
    ad_tape_reset(tp);
    EXPECT_ERROR(wlm_loss(tp, &m, (int[]){0, BOS}, (int[]){BOS}, 1), "wlm_loss", "y[0] = 7");
    ad_tape_reset(tp);
    EXPECT_ERROR(wlm_sample(tp, &m, (int[]){0, 1}, -1, &r), "wlm_sample", "temperature");
    ad_tape_free(tp);
    ad_params_free(ps);
}
