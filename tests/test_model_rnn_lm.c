/*
 * The RNN language model (models/rnn_lm.h): its gradient through every cell, stacked, with
 * dropout and a carried state; the carry continuing a sequence exactly; evaluation over lanes;
 * sampling (temperature → 0 is the argmax, a seed reproduces a draw, the draw follows the
 * softmax); generation; text to ids and back.
 */
#include "harness.h"
#include "rnn_lm.h"

/* ------------------------------------------------------------- helpers ---- */

enum { V = 7, E = 3, H = 4 };

typedef struct lm_fixture {
    ad_params *ps;
    rnnlm m;
} lm_fixture;

static lm_fixture fixture(nn_cell_kind cell, int layers, double dropout, uint64_t seed) {
    lm_fixture f = {.ps = ad_params_new()};
    nn_rng r = nn_rng_new(seed);
    rnnlm_config cfg = {.level = TEXT_CHARS, .cell = cell, .vocab = V, .embed = E, .hidden = H,
                        .layers = layers, .dropout = dropout, .forget_bias = 0.5};
    rnnlm_init(&f.m, f.ps, &cfg, &r);
    /* Biases away from 0 and larger weights, so no gradient is small by symmetry. */
    for (int i = 0; i < ad_params_count(f.ps); i++) {
        ad_tensor *p = ad_params_at(f.ps, i);
        if (ad_rows(p) == 1)
            th_fill_uniform(ad_data(p), (size_t)ad_cols(p), -0.5, 0.5, seed + 100 + (uint64_t)i);
    }
    return f;
}

static void ids_fill(int *ids, int n, uint64_t seed) {
    nn_rng r = nn_rng_new(seed);
    for (int i = 0; i < n; i++) ids[i] = (int)nn_rng_below(&r, V);
}

static int argmax(const ad_real *v, int n) {
    int best = 0;
    for (int k = 1; k < n; k++)
        if (v[k] > v[best]) best = k;
    return best;
}

/* ----------------------------------------------------------- gradients ---- */

enum { GT = 4, GB = 2 }; /* a window of 4 steps of 2 lanes */

typedef struct grad_ctx {
    const rnnlm *m;
    const int *x, *y;
    const nn_rnn_state *carry; /* the state the window starts from: fixed, as in training */
} grad_ctx;

static ad_tensor *window_loss(ad_tape *tp, void *p) {
    const grad_ctx *c = p;
    return rnnlm_loss(tp, c->m, c->x, c->y, GT, GB, c->carry, NULL);
}

/* The second window of a stream, as truncated BPTT trains it: the first window ran (with
 * dropout), its final state is carried in, and the gradient of the second window's loss runs
 * back through its 4 steps, 2 layers and every dropout mask. */
static void check_cell(nn_cell_kind cell) {
    lm_fixture f = fixture(cell, 2, 0.25, 7 + (uint64_t)cell);
    int x[2 * GT * GB], y[2 * GT * GB];
    ids_fill(x, 2 * GT * GB, 11);
    ids_fill(y, 2 * GT * GB, 12);
    nn_rnn_state *carry = rnnlm_state_new(&f.m, GB);
    REQUIRE(carry);
    ad_tape *tp = ad_tape_new();
    ad_tape_seed(tp, 5);
    rnnlm_loss(tp, &f.m, x, y, GT, GB, NULL, carry); /* window 1 */

    grad_ctx c = {&f.m, x + GT * GB, y + GT * GB, carry};
    double carried = 0; /* the carry must matter, or this case tests nothing more than zeros */
    for (size_t k = 0; k < (size_t)carry->layers * carry->nstate * GB * H; k++)
        carried += fabs((double)carry->data[k]);
    CHECK_MSG(carried > 0.1, "%s: the carried state is %g in sum: ~0", nn_cell_kind_name(cell),
              carried);
    ad_tape_reset(tp);
    ad_tape_seed(tp, 1);
    const double with_carry = (double)ad_item(window_loss(tp, &c));
    grad_ctx z = c;
    z.carry = NULL;
    ad_tape_reset(tp);
    ad_tape_seed(tp, 1);
    const double from_zeros = (double)ad_item(window_loss(tp, &z));
    CHECK_MSG(fabs(with_carry - from_zeros) > 1e-4, "%s: loss %.9f with the carry, %.9f without",
              nn_cell_kind_name(cell), with_carry, from_zeros);

    ad_gradcheck_result r = CHECK_GRADCHECK(f.ps, window_loss, &c, &th_tight);
    th_note("%-8s %d coordinates, max rel err %.2e", nn_cell_kind_name(cell), r.checked,
            r.max_rel_err);
    ad_tape_free(tp);
    nn_rnn_state_free(carry);
    ad_params_free(f.ps);
}

TEST(gradient_elman) { check_cell(NN_ELMAN); }
TEST(gradient_gru) { check_cell(NN_GRU); }
TEST(gradient_gru_cho) { check_cell(NN_GRU_CHO); }
TEST(gradient_lstm) { check_cell(NN_LSTM); }

/* One layer, no dropout: every parameter, every coordinate (the sampled check above leaves some
 * out of the larger tensors). */
TEST(gradient_every_coordinate_one_layer) {
    lm_fixture f = fixture(NN_LSTM, 1, 0, 3);
    int x[2 * GT * GB], y[2 * GT * GB];
    ids_fill(x, 2 * GT * GB, 21);
    ids_fill(y, 2 * GT * GB, 22);
    nn_rnn_state *carry = rnnlm_state_new(&f.m, GB);
    ad_tape *tp = ad_tape_new();
    rnnlm_loss(tp, &f.m, x, y, GT, GB, NULL, carry);
    grad_ctx c = {&f.m, x + GT * GB, y + GT * GB, carry};
    ad_gradcheck_opts o = th_tight;
    o.max_coords = 1000;
    ad_gradcheck_result r = CHECK_GRADCHECK(f.ps, window_loss, &c, &o);
    CHECK(r.checked == (int)(V * E + E * 4 * H + H * 4 * H + 2 * 4 * H + H * V + V));
    ad_tape_free(tp);
    nn_rnn_state_free(carry);
    ad_params_free(f.ps);
}

/* ----------------------------------------------------------- the carry ---- */

/* Three windows with the state carried are one sequence of 3T steps: the same logits. */
TEST(carried_state_continues_the_sequence) {
    const nn_cell_kind cells[] = {NN_ELMAN, NN_GRU, NN_LSTM};
    for (int ci = 0; ci < 3; ci++) {
        lm_fixture f = fixture(cells[ci], 2, 0, 31);
        enum { W = 3 };
        int x[W * GT * GB];
        ids_fill(x, W * GT * GB, 32);
        ad_tape *tp = ad_tape_new();
        ad_tensor *whole = rnnlm_forward(tp, &f.m, x, W * GT, GB, NULL, NULL);
        ad_tape *tw = ad_tape_new();
        nn_rnn_state *carry = rnnlm_state_new(&f.m, GB);
        double worst = 0;
        for (int w = 0; w < W; w++) {
            ad_tape_reset(tw);
            ad_tensor *part = rnnlm_forward(tw, &f.m, x + w * GT * GB, GT, GB, carry, carry);
            for (int k = 0; k < GT * GB * V; k++) {
                double a = ad_data(part)[k], b = ad_data(whole)[w * GT * GB * V + k];
                worst = fmax(worst, fabs(a - b));
            }
        }
        CHECK_MSG(worst < 1e-13, "%s: windows differ from the whole by %g",
                  nn_cell_kind_name(cells[ci]), worst);
        ad_tape_free(tp);
        ad_tape_free(tw);
        nn_rnn_state_free(carry);
        ad_params_free(f.ps);
    }
}

/* The gradient stops at the window's start: window 2's gradient is the same whether its carry
 * came from a recorded window 1 on the same tape or was copied in from outside. */
TEST(gradient_stops_at_the_window_start) {
    lm_fixture f = fixture(NN_GRU, 1, 0, 41);
    int x[2 * GT * GB], y[2 * GT * GB];
    ids_fill(x, 2 * GT * GB, 42);
    ids_fill(y, 2 * GT * GB, 43);
    nn_rnn_state *carry = rnnlm_state_new(&f.m, GB);
    const size_t np = ad_params_size(f.ps);
    double *g1 = calloc(np, sizeof *g1);
    ad_tape *tp = ad_tape_new();
    rnnlm_loss(tp, &f.m, x, y, GT, GB, NULL, carry); /* window 1 on this tape stays recorded */
    ad_tensor *loss = rnnlm_loss(tp, &f.m, x + GT * GB, y + GT * GB, GT, GB, carry, NULL);
    ad_params_zero_grad(f.ps);
    ad_backward(tp, loss);
    for (size_t k = 0; k < np; k++) g1[k] = ad_params_grads(f.ps)[k];
    ad_tape_reset(tp);
    loss = rnnlm_loss(tp, &f.m, x + GT * GB, y + GT * GB, GT, GB, carry, NULL);
    ad_params_zero_grad(f.ps);
    ad_backward(tp, loss);
    double *g2 = calloc(np, sizeof *g2);
    for (size_t k = 0; k < np; k++) g2[k] = ad_params_grads(f.ps)[k];
    CHECK_ARRAY("gradient", g1, g2, np, 0, 0);
    free(g1);
    free(g2);
    ad_tape_free(tp);
    nn_rnn_state_free(carry);
    ad_params_free(f.ps);
}

/* ---------------------------------------------------------- evaluation ---- */

TEST(evaluate_is_the_mean_over_lanes_and_windows) {
    lm_fixture f = fixture(NN_LSTM, 2, 0.5, 51);
    enum { N = 103, B = 3, T = 5 };
    int ids[N];
    ids_fill(ids, N, 52);
    text_span s = {ids, N};
    ad_tape *tp = ad_tape_new();
    ad_tape_set_training(tp, true);
    ad_tape_seed(tp, 1);
    rnnlm_score a = rnnlm_evaluate(tp, &f.m, s, B, T);
    CHECK(ad_tape_training(tp)); /* restored */
    ad_tape_seed(tp, 2);         /* other dropout masks, were dropout on */
    rnnlm_score b = rnnlm_evaluate(tp, &f.m, s, B, T);
    CHECK(a.nats == b.nats);

    /* By hand: lane k is ids[k·L .. (k+1)·L), L = 34; every token but a lane's last is
     * predicted, from the state of the lane so far (one window of L - 1 steps, no dropout). */
    const int L = N / B;
    CHECK(a.tokens == (long)B * (L - 1));
    int x[B * (L - 1)], y[B * (L - 1)];
    for (int t = 0; t < L - 1; t++)
        for (int k = 0; k < B; k++) {
            x[t * B + k] = ids[k * L + t];
            y[t * B + k] = ids[k * L + t + 1];
        }
    ad_tape_set_training(tp, false);
    ad_tape_reset(tp);
    double want = (double)ad_item(rnnlm_loss(tp, &f.m, x, y, L - 1, B, NULL, NULL));
    CHECK_NEAR(a.nats, want, 1e-12, 0);
    CHECK_NEAR(rnnlm_perplexity(a), exp(want), 1e-12, 0);
    CHECK_NEAR(rnnlm_bits_per_token(a), want / log(2.0), 1e-12, 0);
    th_note("%ld tokens: %.4f nats, perplexity %.3f (uniform: %d)", a.tokens, a.nats,
            rnnlm_perplexity(a), V);
    ad_tape_free(tp);
    ad_params_free(f.ps);
}

TEST(evaluate_rejects_a_span_too_short) {
    lm_fixture f = fixture(NN_ELMAN, 1, 0, 61);
    int ids[5] = {1, 2, 3, 4, 5};
    ad_tape *tp = ad_tape_new();
    EXPECT_ERROR(rnnlm_evaluate(tp, &f.m, (text_span){ids, 5}, 3, 4), "rnnlm_evaluate",
                 "5 tokens in 3 lanes");
    ad_tape_free(tp);
    ad_params_free(f.ps);
}

TEST(forward_rejects_ids_outside_the_vocabulary) {
    lm_fixture f = fixture(NN_ELMAN, 1, 0, 62);
    int x[2] = {1, V};
    ad_tape *tp = ad_tape_new();
    EXPECT_ERROR(rnnlm_forward(tp, &f.m, x, 2, 1, NULL, NULL), "rnnlm_forward", "x[1] = 7");
    ad_tape_free(tp);
    ad_params_free(f.ps);
}

/* A model that learns: a stream of "abcabd" repeated, read in lanes with truncated BPTT, is
 * predicted almost surely after a few hundred Adam steps, except which of c/d follows "ab",
 * which needs the carried context: the state has to carry over window edges for it. */
TEST(training_drives_the_loss_down) {
    lm_fixture f = {.ps = ad_params_new()};
    nn_rng rng = nn_rng_new(71);
    rnnlm_init(&f.m, f.ps, &(rnnlm_config){.level = TEXT_CHARS, .cell = NN_LSTM, .vocab = V,
                                           .embed = 8, .hidden = 16, .forget_bias = 1}, &rng);
    enum { N = 600, B = 4, T = 5 };
    int ids[N];
    const int pattern[6] = {1, 2, 3, 1, 2, 4};
    for (int i = 0; i < N; i++) ids[i] = pattern[i % 6];
    text_span s = {ids, N};
    text_lanes lanes = text_lanes_make(s, B);
    nn_optim *opt = nn_optim_new(f.ps, &(nn_optim_config){.kind = NN_ADAM, .lr = 0.02});
    nn_rnn_state *carry = rnnlm_state_new(&f.m, B);
    ad_tape *tp = ad_tape_new();
    int x[T * B], y[T * B];
    const double before = rnnlm_evaluate(tp, &f.m, s, B, T).nats;
    for (int epoch = 0; epoch < 12; epoch++) {
        nn_rnn_state_zero(carry);
        for (size_t w = 0; w < text_lanes_windows(&lanes, T); w++) {
            const int Tw = text_lanes_window(&lanes, T, w, x, y);
            nn_train_step(tp, rnnlm_loss(tp, &f.m, x, y, Tw, B, carry, carry), opt, 5.0);
            ad_tape_reset(tp);
        }
    }
    const double after = rnnlm_evaluate(tp, &f.m, s, B, T).nats;
    CHECK_MSG(after < 0.05, "%.4f nats per token after training (%.4f before)", after, before);
    th_note("%.3f → %.4f nats per token", before, after);
    ad_tape_free(tp);
    nn_rnn_state_free(carry);
    nn_optim_free(opt);
    ad_params_free(f.ps);
}

/* ------------------------------------------------------------ sampling ---- */

TEST(sample_at_temperature_zero_is_the_argmax) {
    nn_rng r = nn_rng_new(1);
    for (int trial = 0; trial < 200; trial++) {
        ad_real logits[V];
        th_fill_uniform(logits, V, -3, 3, 1000 + (uint64_t)trial);
        const int want = argmax(logits, V);
        CHECK(rnnlm_sample(logits, V, 0, &r) == want);
        /* the limit: the gaps here are > 1e-6, so 1e-3 leaves the others below e^-1000 = 0 */
        CHECK(rnnlm_sample(logits, V, 1e-3, &r) == want);
    }
    const ad_real tie[4] = {1, 5, 5, 2}; /* the first of equal maxima */
    CHECK(rnnlm_sample(tie, 4, 0, &r) == 1);
}

/* At temperature τ the draws follow softmax(l / τ): counts against expectations, within 5 σ. */
TEST(sample_follows_the_softmax) {
    const ad_real logits[4] = {0.5, -1.0, 1.5, 0.0};
    const double temps[2] = {1.0, 0.5};
    for (int ti = 0; ti < 2; ti++) {
        enum { DRAWS = 200000 };
        long count[4] = {0};
        nn_rng r = nn_rng_new(77);
        for (int i = 0; i < DRAWS; i++) count[rnnlm_sample(logits, 4, temps[ti], &r)]++;
        double z = 0, p[4];
        for (int k = 0; k < 4; k++) z += p[k] = exp(logits[k] / temps[ti]);
        for (int k = 0; k < 4; k++) {
            const double want = DRAWS * p[k] / z, sd = sqrt(want * (1 - p[k] / z));
            CHECK_MSG(fabs(count[k] - want) < 5 * sd, "τ = %g, token %d: %ld draws, %.0f expected",
                      temps[ti], k, count[k], want);
        }
    }
}

/* Greedy generation, computed again by re-reading the whole prefix at every step (no carry):
 * equal to rnnlm_generate at temperature 0 and at 1e-4. */
TEST(generate_at_temperature_near_zero_is_greedy) {
    lm_fixture f = fixture(NN_LSTM, 2, 0.3, 81);
    for (int i = 0; i < ad_params_count(f.ps); i++) { /* a peaked model: clear argmaxes */
        ad_tensor *p = ad_params_at(f.ps, i);
        for (int k = 0; k < ad_rows(p) * ad_cols(p); k++) ad_data(p)[k] *= 3;
    }
    enum { NP = 3, N = 12 };
    int seq[NP + N] = {1, 4, 2};
    ad_tape *tp = ad_tape_new();
    ad_tape_set_training(tp, false);
    for (int k = 0; k < N; k++) {
        ad_tape_reset(tp);
        ad_tensor *logits = rnnlm_forward(tp, &f.m, seq, NP + k, 1, NULL, NULL);
        seq[NP + k] = argmax(ad_data(logits) + (NP + k - 1) * V, V);
    }
    ad_tape_set_training(tp, true); /* generate turns dropout off itself */
    int out0[N], out1[N];
    nn_rng r = nn_rng_new(3);
    rnnlm_generate(tp, &f.m, seq, NP, out0, N, 0, &r);
    rnnlm_generate(tp, &f.m, seq, NP, out1, N, 1e-4, &r);
    CHECK(ad_tape_training(tp));
    for (int k = 0; k < N; k++) {
        CHECK_MSG(out0[k] == seq[NP + k], "step %d: %d at temperature 0, greedy %d", k, out0[k],
                  seq[NP + k]);
        CHECK_MSG(out1[k] == seq[NP + k], "step %d: %d at temperature 1e-4, greedy %d", k,
                  out1[k], seq[NP + k]);
    }
    ad_tape_free(tp);
    ad_params_free(f.ps);
}

TEST(generate_with_a_seed_reproduces_its_sample) {
    lm_fixture f = fixture(NN_GRU, 1, 0, 91);
    enum { N = 40 };
    const int prompt[2] = {2, 3};
    int a[N], b[N], c[N];
    ad_tape *tp = ad_tape_new();
    nn_rng r = nn_rng_new(2024);
    rnnlm_generate(tp, &f.m, prompt, 2, a, N, 1.0, &r);
    r = nn_rng_new(2024);
    rnnlm_generate(tp, &f.m, prompt, 2, b, N, 1.0, &r);
    r = nn_rng_new(2025);
    rnnlm_generate(tp, &f.m, prompt, 2, c, N, 1.0, &r);
    int same = 0, other = 0;
    for (int k = 0; k < N; k++) {
        same += a[k] == b[k];
        other += a[k] == c[k];
    }
    CHECK(same == N);
    CHECK_MSG(other < N, "another seed drew the same %d tokens", N); /* a near-uniform model */
    ad_tape_free(tp);
    ad_params_free(f.ps);
}

/* ---------------------------------------------------------------- text ---- */

static text_vocab *vocab_of(const char *const *tokens, int n) {
    text_vocab *v = text_vocab_new();
    for (int i = 0; i < n; i++) text_vocab_add(v, tokens[i], n - i);
    return v;
}

TEST(encode_characters_and_back) {
    const char *const chars[] = {" ", "a", "b", "\n", "é", "c"};
    text_vocab *v = vocab_of(chars, 6);
    int *ids = NULL, n = 0;
    REQUIRE(rnnlm_encode(v, TEXT_CHARS, "ab é\nca", "the prompt", &ids, &n, NULL) == NN_OK);
    const int want[] = {text_vocab_find(v, "a"), text_vocab_find(v, "b"), text_vocab_find(v, " "),
                        text_vocab_find(v, "é"), text_vocab_find(v, "\n"),
                        text_vocab_find(v, "c"), text_vocab_find(v, "a")};
    REQUIRE(n == 7);
    for (int i = 0; i < n; i++) CHECK(ids[i] == want[i]);
    char buf[64] = {0};
    FILE *f = fmemopen(buf, sizeof buf, "w");
    rnnlm_decode(f, v, TEXT_CHARS, ids, n);
    fclose(f);
    CHECK(strcmp(buf, "ab é\nca") == 0);
    free(ids);
    text_vocab_free(v);
}

TEST(encode_names_an_unknown_character) {
    const char *const chars[] = {" ", "a", "b"};
    text_vocab *v = vocab_of(chars, 3);
    int *ids = NULL, n = -1;
    CHECK(rnnlm_encode(v, TEXT_CHARS, "ab ñ", "the prompt", &ids, &n, NULL) == NN_ERR_MISMATCH);
    CHECK(ids == NULL && n == -1);
    const char *msg = nn_last_error();
    CHECK_MSG(strstr(msg, "the prompt: character 4, 'ñ' (U+00F1)") &&
              strstr(msg, "vocabulary of 3 characters"), "message: %s", msg);
    CHECK(rnnlm_encode(v, TEXT_CHARS, "a\tb", "the prompt", &ids, &n, NULL) == NN_ERR_MISMATCH);
    CHECK_MSG(strstr(nn_last_error(), "character 2, (U+0009)"), "message: %s", nn_last_error());
    CHECK(rnnlm_encode(v, TEXT_CHARS, "a\xC3(", "the prompt", &ids, &n, NULL) == NN_ERR_FORMAT);
    CHECK_MSG(strstr(nn_last_error(), "byte 2 (0xc3) is not valid UTF-8"), "message: %s",
              nn_last_error());
    text_vocab_free(v);
}

TEST(encode_words_with_unknowns) {
    const char *const words[] = {"the", "lord", RNNLM_EOS_WORD, "said"};
    text_vocab *v = vocab_of(words, 4);
    int *ids = NULL, n = 0, unknown = -1;
    REQUIRE(rnnlm_encode(v, TEXT_WORDS, "  The LORD  said\tunto moses\n", "the prompt", &ids, &n,
                         &unknown) == NN_OK);
    REQUIRE(n == 5);
    CHECK(ids[0] == text_vocab_find(v, "the")); /* lower case when the word is not there as is */
    CHECK(ids[1] == text_vocab_find(v, "lord"));
    CHECK(ids[2] == text_vocab_find(v, "said"));
    CHECK(ids[3] == TEXT_UNK && ids[4] == TEXT_UNK);
    CHECK(unknown == 2);
    const int seq[] = {ids[0], ids[1], text_vocab_find(v, RNNLM_EOS_WORD), ids[2], TEXT_UNK};
    char buf[64] = {0};
    FILE *f = fmemopen(buf, sizeof buf, "w");
    rnnlm_decode(f, v, TEXT_WORDS, seq, 5);
    fclose(f);
    CHECK_MSG(strcmp(buf, "the lord\nsaid <unk>") == 0, "decoded: '%s'", buf);
    free(ids);
    text_vocab_free(v);
}
