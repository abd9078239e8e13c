/*
 * Training end to end (FORMULAS §12): "a working network drives the loss near 0 on a small
 * subset". A small character-level LSTM language model overfits a few sentences — whole
 * sequences, truncated BPTT across windows with the state carried, padded sequences of unequal
 * lengths under nn_seq_mask — and then predicts every next character greedily. A run interrupted
 * by a checkpoint and resumed in a fresh process state continues bit for bit.
 *
 * lm_program is also the API bar: the user's whole program (data loading aside) that
 * trains an LSTM language model, in about 30 lines of C on nn.h.
 */
#include "harness.h"
#include "nn.h"

#include <unistd.h>

/* ------------------------------------------------------------------ data ---- */

static const char ALPHABET[] = " .abcdefghijklmnopqrstuvwxyz";
enum { VOCAB = sizeof ALPHABET - 1 };

static int char_id(char c) {
    const char *p = c ? strchr(ALPHABET, c) : NULL;
    if (!p) {
        th_fail(__FILE__, __LINE__, "character '%c' is not in the alphabet", c);
        th_abort_case();
    }
    return (int)(p - ALPHABET);
}

enum { MAX_ROWS = 512 }; /* T·B of every batch below */

/* Next-character batch of B sentences, time-major: x[t·B+b] = s_b[t], y[t·B+b] = s_b[t+1], for
 * t < lengths[b] = strlen(s_b) - 1. Padding rows hold junk, ids cycling over the vocabulary: the
 * runner's output there is 0, so no model could predict them, and only a mask that drops them
 * lets the loss reach 0. Returns T, the longest length. Each sentence starts with its own
 * character, so the prefix always determines the next one and a loss near 0 is reachable. */
static int batch_of(const char *const *s, int B, int *x, int *y, int *lengths) {
    int T = 0;
    for (int b = 0; b < B; b++) {
        lengths[b] = (int)strlen(s[b]) - 1;
        T = lengths[b] > T ? lengths[b] : T;
    }
    REQUIRE(T * B <= MAX_ROWS);
    for (int t = 0; t < T; t++)
        for (int b = 0; b < B; b++) {
            bool real = t < lengths[b];
            x[t * B + b] = real ? char_id(s[b][t]) : (t * B + b) % VOCAB;
            y[t * B + b] = real ? char_id(s[b][t + 1]) : (t * B + b + 1) % VOCAB;
        }
    return T;
}

/* Index of the largest of n logits (the first on ties). */
static int argmax(const ad_real *v, int n) {
    int best = 0;
    for (int k = 1; k < n; k++)
        if (v[k] > v[best]) best = k;
    return best;
}

/* ------------------------------------------- the user's whole program ---- */

typedef struct lm_result {
    double loss;          /* nats per token at the end */
    int steps;            /* optimizer steps taken */
    int correct, counted; /* greedy next-token predictions right, of the real (unpadded) rows */
} lm_result;

enum { LM_EMBED = 16, LM_HIDDEN = 32, LM_MAX_STEPS = 1000 };
#define LM_TARGET 0.05 /* nats per token: "near 0" */

/* An LSTM language model over time-major ids x (T·B rows) with next-token targets y and optional
 * lengths (NULL: all T): embedding → LSTM → linear → softmax cross-entropy, Adam with gradient
 * clipping until the loss is near 0, then greedy prediction. As a user would write it. */
enum { LM_PROGRAM_FIRST_LINE = __LINE__ };
static lm_result lm_program(const int *x, const int *y, int T, int B, const int *lengths) {
    nn_rng rng = nn_rng_new(42);
    ad_params *ps = ad_params_new();
    nn_embedding emb;
    nn_embedding_init(&emb, ps, "embed", VOCAB, LM_EMBED, &rng);
    nn_rnn lstm;
    nn_rnn_config cfg = {.kind = NN_LSTM, .input = LM_EMBED, .hidden = LM_HIDDEN, .forget_bias = 1};
    nn_rnn_init(&lstm, ps, "lstm", &cfg, &rng);
    nn_linear out;
    nn_linear_init(&out, ps, "out", LM_HIDDEN, VOCAB, true, &rng);
    nn_optim *opt = nn_optim_new(ps, &(nn_optim_config){.kind = NN_ADAM, .lr = 0.01});
    ad_real w[MAX_ROWS];
    nn_seq_mask(w, T, B, lengths);
    ad_tape *tp = ad_tape_new();
    lm_result r = {0};
    ad_tensor *logits;
    for (;; r.steps++) {
        ad_tape_reset(tp);
        ad_tensor *e = nn_embedding_forward(tp, &emb, x, T * B);
        logits = nn_linear_forward(tp, &out, nn_rnn_forward(tp, &lstm, e, T, lengths, NULL).out);
        ad_tensor *loss = ad_softmax_xent(tp, logits, y, w);
        if ((r.loss = ad_item(loss)) < LM_TARGET || r.steps == LM_MAX_STEPS) break;
        nn_train_step(tp, loss, opt, 1.0);
    }
    for (int i = 0; i < T * B; i++) { /* the logits of the parameters that reached the target */
        r.counted += w[i] != 0;
        r.correct += w[i] != 0 && argmax(ad_data(logits) + i * VOCAB, VOCAB) == y[i];
    }
    ad_tape_free(tp);
    nn_optim_free(opt);
    ad_params_free(ps);
    return r;
}
enum { LM_PROGRAM_LINES = __LINE__ - LM_PROGRAM_FIRST_LINE - 1 };

/* ------------------------------------------------------ test 1: overfit ---- */

TEST(lstm_lm_overfits_whole_sentences) {
    static const char *const s[] = {"the cat sat on a mat", "a dog ran to the sea",
                                    "my bird sang all day", "we read books at ten"};
    enum { B = 4 };
    int x[MAX_ROWS], y[MAX_ROWS], lengths[B];
    const int T = batch_of(s, B, x, y, lengths);
    for (int b = 0; b < B; b++) REQUIRE(lengths[b] == T); /* all of one length: no mask needed */
    lm_result r = lm_program(x, y, T, B, NULL);
    CHECK_MSG(r.loss < LM_TARGET, "loss %.4f after %d steps", r.loss, r.steps);
    CHECK_MSG(r.correct == T * B, "greedy: %d of %d right", r.correct, T * B);
    th_note("%d x %d characters: loss %.4f nats/token after %d Adam steps, greedy %d/%d",
            B, T, r.loss, r.steps, r.correct, r.counted);
    th_note("lm_program is %d lines", LM_PROGRAM_LINES);
}

TEST(lstm_lm_overfits_padded_sentences_of_unequal_length) {
    static const char *const s[] = {"the cat sat.", "a dog ran to the sea.",
                                    "my bird sang all day long.", "we read."};
    enum { B = 4 };
    int x[MAX_ROWS], y[MAX_ROWS], lengths[B];
    const int T = batch_of(s, B, x, y, lengths);
    int real = 0;
    for (int b = 0; b < B; b++) real += lengths[b];
    lm_result r = lm_program(x, y, T, B, lengths);
    CHECK_MSG(r.loss < LM_TARGET, "loss %.4f after %d steps", r.loss, r.steps);
    CHECK(r.counted == real);
    CHECK_MSG(r.correct == real, "greedy: %d of %d right", r.correct, real);
    th_note("%d sentences of %d..%d steps padded to %d: loss %.4f after %d steps, greedy %d/%d",
            B, lengths[3], lengths[2], T, r.loss, r.steps, r.correct, r.counted);
}

/* Truncated BPTT: B streams, each a sentence repeated, read in W windows of TW steps. The state
 * carries from each window into the next (nn_rnn_state_store) while the gradient stops at the
 * window's start; every epoch starts the streams again from zeros. Some characters depend on
 * context from before their window ("the " is followed by c, m or s depending on the words
 * before), so 100% greedy accuracy needs the carried state. */
enum { TB_B = 2, TB_W = 9, TB_TW = 8, TB_MAX_EPOCHS = 300 };

typedef struct tbptt_lm {
    ad_params *ps;
    nn_embedding emb;
    nn_rnn lstm;
    nn_linear out;
    nn_rnn_state *state;
} tbptt_lm;

/* The loss of window k (carrying the state on), its logits in *logits. */
static ad_tensor *tbptt_window(ad_tape *tp, tbptt_lm *m, const int *x, const int *y, int k,
                               ad_tensor **logits) {
    const int rows = TB_TW * TB_B;
    ad_tensor *e = nn_embedding_forward(tp, &m->emb, x + k * rows, rows);
    nn_rnn_result h = nn_rnn_forward(tp, &m->lstm, e, TB_TW, NULL, m->state);
    nn_rnn_state_store(m->state, &h);
    *logits = nn_linear_forward(tp, &m->out, h.out);
    return ad_softmax_xent(tp, *logits, y + k * rows, NULL);
}

TEST(lstm_lm_overfits_with_truncated_bptt) {
    static const char *const sentence[TB_B] = {"the cat sat on the mat. ",
                                               "a dog ran to the sea. "};
    /* The streams back to back in time-major order: window k is rows k·TW·B .. of x and y. */
    int x[TB_W * TB_TW * TB_B], y[TB_W * TB_TW * TB_B];
    for (int t = 0; t < TB_W * TB_TW; t++)
        for (int b = 0; b < TB_B; b++) {
            const char *s = sentence[b];
            const int n = (int)strlen(s);
            x[t * TB_B + b] = char_id(s[t % n]);
            y[t * TB_B + b] = char_id(s[(t + 1) % n]);
        }

    tbptt_lm m;
    nn_rng rng = nn_rng_new(7);
    m.ps = ad_params_new();
    nn_embedding_init(&m.emb, m.ps, "embed", VOCAB, LM_EMBED, &rng);
    nn_rnn_config cfg = {.kind = NN_LSTM, .input = LM_EMBED, .hidden = LM_HIDDEN, .forget_bias = 1};
    nn_rnn_init(&m.lstm, m.ps, "lstm", &cfg, &rng);
    nn_linear_init(&m.out, m.ps, "out", LM_HIDDEN, VOCAB, true, &rng);
    m.state = nn_rnn_state_new(&m.lstm, TB_B);
    REQUIRE(m.state);
    nn_optim *opt = nn_optim_new(m.ps, &(nn_optim_config){.kind = NN_ADAM, .lr = 0.01});
    ad_tape *tp = ad_tape_new();

    double loss = INFINITY;
    int epochs = 0, steps = 0, correct = 0;
    for (; epochs < TB_MAX_EPOCHS; epochs++) {
        /* Measure first, with the parameters as they are: the same windows, the state carried
         * from a zero start, all of it on one tape since nothing is updated. */
        ad_tape_reset(tp);
        nn_rnn_state_zero(m.state);
        loss = 0;
        correct = 0;
        for (int k = 0; k < TB_W; k++) {
            ad_tensor *logits;
            loss += ad_item(tbptt_window(tp, &m, x, y, k, &logits)) / TB_W;
            for (int i = 0; i < TB_TW * TB_B; i++)
                correct += argmax(ad_data(logits) + i * VOCAB, VOCAB) == y[k * TB_TW * TB_B + i];
        }
        if (loss < LM_TARGET) break;
        nn_rnn_state_zero(m.state);
        for (int k = 0; k < TB_W; k++, steps++) {
            ad_tape_reset(tp); /* each window's graph ends here: the gradient is truncated */
            ad_tensor *logits, *L = tbptt_window(tp, &m, x, y, k, &logits);
            ad_params_zero_grad(m.ps);
            ad_backward(tp, L);
            nn_clip_grad_norm(m.ps, 1.0);
            nn_optim_step(opt);
        }
    }
    const int rows = TB_W * TB_TW * TB_B;
    CHECK_MSG(loss < LM_TARGET, "loss %.4f after %d epochs", loss, epochs);
    CHECK_MSG(correct == rows, "greedy: %d of %d right", correct, rows);
    th_note("%d streams x %d windows of %d: loss %.4f after %d epochs (%d steps), greedy %d/%d",
            TB_B, TB_W, TB_TW, loss, epochs, steps, correct, rows);

    /* The carried state matters: the same windows each started from zeros predict worse. */
    ad_tape_reset(tp);
    int correct_cold = 0;
    for (int k = 0; k < TB_W; k++) {
        ad_tensor *logits;
        nn_rnn_state_zero(m.state);
        tbptt_window(tp, &m, x, y, k, &logits);
        for (int i = 0; i < TB_TW * TB_B; i++)
            correct_cold += argmax(ad_data(logits) + i * VOCAB, VOCAB) == y[k * TB_TW * TB_B + i];
    }
    CHECK_MSG(correct_cold < rows, "windows from zero states: still %d of %d", correct_cold, rows);
    th_note("each window from a zero state instead: greedy %d/%d", correct_cold, rows);

    ad_tape_free(tp);
    nn_optim_free(opt);
    nn_rnn_state_free(m.state);
    ad_params_free(m.ps);
}

/* ------------------------------------------------ test 2: exact resume ---- */
/*
 * A run whose every step depends on state beyond the weights: Adam's moments and step count,
 * dropout masks (between the two LSTM layers and on the embeddings), a data-order RNG that draws
 * each epoch's sentence for each of RB lanes, and the LSTM state carried from window to window of
 * that epoch. RN steps in one go must equal RN/2 steps, a checkpoint, and RN/2 more steps in a
 * fresh store, optimizer, runner and tape, bit for bit. RN/2 falls inside an epoch, so the
 * carried state and the epoch's draws are live at the checkpoint.
 *
 * The dropout stream: ad.h has no call that reads the tape's RNG state, so it cannot be saved.
 * Instead each step reseeds the tape with a hash of (dropout seed, step): the masks of step s are
 * then a function of the two counters the checkpoint holds, whatever tape draws them.
 *
 * The carried BPTT state is not a parameter, and it cannot be recomputed after a resume: it came
 * from windows run with earlier parameters, which are gone. So it is saved, in a second store of
 * its own (one tensor, copied to and from the nn_rnn_state) and a second checkpoint beside the
 * first. Keeping it out of the model's store keeps the model checkpoint loadable by a model
 * without it (a weights-only load refuses tensors the model lacks) and out of the optimizer's
 * and the clipping's way. Both files carry the step; the state is written first, and a load whose
 * two steps differ (a crash between the two saves) is refused.
 */
enum { RB = 3, RW = 3, RTW = 6, RN = 16, RLAYERS = 2, RHIDDEN = 16, REMBED = 8 };
#define RDROPOUT 0.3
static const char *const RSENT[] = {"the cat sat on mats", "a dog ran to a lake",
                                    "my bird sang a song", "we read nine books.",
                                    "fish swim in a pond"};
enum { NSENT = sizeof RSENT / sizeof RSENT[0] };

typedef struct run {
    ad_params *ps;
    nn_embedding emb;
    nn_rnn lstm;
    nn_linear out;
    nn_optim *opt;
    ad_tape *tp;
    nn_rnn_state *bptt;    /* carried from window to window within an epoch */
    ad_params *bptt_store; /* its checkpoint copy: one tensor of the state's layout */
    nn_rng data;           /* draws each epoch's sentences */
    uint64_t dropout_seed;
    int lane[RB];          /* the sentence each lane reads this epoch */
    long step;
} run;

static size_t bptt_bytes(const run *r) {
    const nn_rnn_state *s = r->bptt;
    return (size_t)s->layers * s->dirs * s->nstate * s->batch * s->hidden * sizeof(ad_real);
}

/* A run at step 0. init_seed fixes the initial weights only. */
static run *run_new(uint64_t init_seed) {
    run *r = calloc(1, sizeof *r);
    REQUIRE(r);
    nn_rng rng = nn_rng_new(init_seed);
    r->ps = ad_params_new();
    nn_embedding_init(&r->emb, r->ps, "embed", VOCAB, REMBED, &rng);
    nn_rnn_config cfg = {.kind = NN_LSTM, .input = REMBED, .hidden = RHIDDEN, .layers = RLAYERS,
                         .dropout = RDROPOUT, .forget_bias = 1};
    nn_rnn_init(&r->lstm, r->ps, "lstm", &cfg, &rng);
    nn_linear_init(&r->out, r->ps, "out", RHIDDEN, VOCAB, true, &rng);
    r->opt = nn_optim_new(r->ps, &(nn_optim_config){.kind = NN_ADAM, .lr = 0.02});
    r->tp = ad_tape_new();
    r->bptt = nn_rnn_state_new(&r->lstm, RB);
    REQUIRE(r->bptt);
    r->bptt_store = ad_params_new();
    const nn_rnn_state *s = r->bptt;
    ad_param(r->bptt_store, "bptt", s->layers * s->dirs * s->nstate * s->batch, s->hidden);
    r->data = nn_rng_new(2024);
    r->dropout_seed = 99;
    return r;
}

static void run_free(run *r) {
    ad_tape_free(r->tp);
    nn_optim_free(r->opt);
    nn_rnn_state_free(r->bptt);
    ad_params_free(r->bptt_store);
    ad_params_free(r->ps);
    free(r);
}

/* A hash of (seed, step): the seed of that step's dropout masks. */
static uint64_t step_seed(uint64_t seed, long step) {
    nn_rng h = nn_rng_new(seed ^ ((uint64_t)step * 0xD1B54A32D192ED03ull));
    return nn_rng_next(&h);
}

/* One training step on the next window; returns its loss. */
static double run_step(run *r) {
    const int w = (int)(r->step % RW);
    if (w == 0) { /* a new epoch: each lane draws a sentence and starts from zeros */
        for (int b = 0; b < RB; b++) r->lane[b] = (int)nn_rng_below(&r->data, NSENT);
        nn_rnn_state_zero(r->bptt);
    }
    int x[RTW * RB], y[RTW * RB];
    for (int t = 0; t < RTW; t++)
        for (int b = 0; b < RB; b++) {
            const char *s = RSENT[r->lane[b]] + w * RTW + t;
            x[t * RB + b] = char_id(s[0]);
            y[t * RB + b] = char_id(s[1]);
        }
    ad_tape *tp = r->tp;
    ad_tape_reset(tp);
    ad_tape_seed(tp, step_seed(r->dropout_seed, r->step));
    ad_tensor *e = ad_dropout(tp, nn_embedding_forward(tp, &r->emb, x, RTW * RB), RDROPOUT);
    nn_rnn_result h = nn_rnn_forward(tp, &r->lstm, e, RTW, NULL, r->bptt);
    nn_rnn_state_store(r->bptt, &h);
    ad_tensor *loss = ad_softmax_xent(tp, nn_linear_forward(tp, &r->out, h.out), y, NULL);
    ad_params_zero_grad(r->ps);
    ad_backward(tp, loss);
    nn_clip_grad_norm(r->ps, 0.5); /* small enough to act on most steps */
    nn_optim_step(r->opt);
    r->step++;
    return ad_item(loss);
}

static const char *const COUNTER_NAMES[] = {"step", "data_rng", "dropout_seed", "lane.0",
                                            "lane.1", "lane.2"};
enum { NCOUNTERS = sizeof COUNTER_NAMES / sizeof COUNTER_NAMES[0] };
_Static_assert(NCOUNTERS == 3 + RB, "one lane counter per lane");

static nn_counters counters_named(void) {
    nn_counters c = {.n = NCOUNTERS};
    for (int i = 0; i < NCOUNTERS; i++) c.name[i] = COUNTER_NAMES[i];
    return c;
}

static nn_status run_save(run *r, const char *path, const char *bptt_path) {
    memcpy(ad_data(ad_params_at(r->bptt_store, 0)), r->bptt->data, bptt_bytes(r));
    nn_counters sc = {1, {"step"}, {(uint64_t)r->step}};
    nn_status st = nn_checkpoint_save(bptt_path, r->bptt_store, NULL, &sc);
    if (st != NN_OK) return st;
    nn_counters c = counters_named();
    c.value[0] = (uint64_t)r->step;
    c.value[1] = r->data.state;
    c.value[2] = r->dropout_seed;
    for (int b = 0; b < RB; b++) c.value[3 + b] = (uint64_t)r->lane[b];
    return nn_checkpoint_save(path, r->ps, r->opt, &c);
}

static nn_status run_load(run *r, const char *path, const char *bptt_path) {
    nn_counters c = counters_named(), sc = {1, {"step"}, {0}};
    nn_status st = nn_checkpoint_load(path, r->ps, r->opt, &c);
    if (st == NN_OK) st = nn_checkpoint_load(bptt_path, r->bptt_store, NULL, &sc);
    if (st != NN_OK) return st;
    if (sc.value[0] != c.value[0]) return NN_ERR_MISMATCH; /* the files of two different saves */
    r->step = (long)c.value[0];
    r->data.state = c.value[1];
    r->dropout_seed = c.value[2];
    for (int b = 0; b < RB; b++) r->lane[b] = (int)c.value[3 + b];
    memcpy(r->bptt->data, ad_data(ad_params_at(r->bptt_store, 0)), bptt_bytes(r));
    return NN_OK;
}

static bool same_bits(const void *a, const void *b, size_t n) { return memcmp(a, b, n) == 0; }

/* How a resumed run is spoiled, to show each saved piece matters. */
typedef enum { RESUME_EXACT, RESUME_COLD_STATE, RESUME_OTHER_DROPOUT } resume_kind;

/* A fresh run (other initial weights) loaded from the checkpoint, then RN/2 steps. */
static run *resumed(const char *path, const char *bptt_path, resume_kind how, double *losses) {
    run *r = run_new(555);
    r->data = nn_rng_new(1); /* all of this the load must overwrite */
    r->dropout_seed = 1;
    REQUIRE(run_load(r, path, bptt_path) == NN_OK);
    if (how == RESUME_COLD_STATE) nn_rnn_state_zero(r->bptt);
    if (how == RESUME_OTHER_DROPOUT) r->dropout_seed++;
    for (int s = 0; s < RN / 2; s++) losses[s] = run_step(r);
    return r;
}

TEST(resume_from_checkpoint_is_bit_exact) {
    _Static_assert((RN / 2) % RW != 0, "the checkpoint must fall inside an epoch");
    ad_set_num_threads(1); /* one summation order in every product */
    char dir[256];
    const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(dir, sizeof dir, "%s/seqgrad_train_XXXXXX", tmp);
    REQUIRE(mkdtemp(dir));
    char path[300], bptt_path[300];
    snprintf(path, sizeof path, "%s/run.safetensors", dir);
    snprintf(bptt_path, sizeof bptt_path, "%s/run.bptt.safetensors", dir);
    for (size_t i = 0; i < NSENT; i++) REQUIRE(strlen(RSENT[i]) == RW * RTW + 1);

    /* The uninterrupted run. */
    run *a = run_new(1);
    double la[RN];
    for (int s = 0; s < RN; s++) la[s] = run_step(a);

    /* The interrupted one: the first half, a checkpoint, and the end of this process's run. */
    run *b = run_new(1);
    double lb[RN];
    for (int s = 0; s < RN / 2; s++) lb[s] = run_step(b);
    CHECK(same_bits(lb, la, sizeof(double) * (RN / 2)));
    REQUIRE(run_save(b, path, bptt_path) == NN_OK);
    run_free(b);

    run *c = resumed(path, bptt_path, RESUME_EXACT, lb + RN / 2);
    CHECK_MSG(same_bits(lb + RN / 2, la + RN / 2, sizeof(double) * (RN / 2)),
              "second-half losses differ: first %.17g vs %.17g", lb[RN / 2], la[RN / 2]);
    const size_t nbytes = ad_params_size(a->ps) * sizeof(ad_real);
    CHECK(ad_params_size(c->ps) == ad_params_size(a->ps));
    CHECK(same_bits(ad_params_values(c->ps), ad_params_values(a->ps), nbytes));
    CHECK(nn_optim_steps(c->opt) == RN && nn_optim_steps(a->opt) == RN);
    REQUIRE(nn_optim_state_count(c->opt) == 2);
    for (int i = 0; i < 2; i++)
        CHECK_MSG(same_bits(nn_optim_state(c->opt, i, NULL), nn_optim_state(a->opt, i, NULL),
                            nbytes), "optimizer state %d differs", i);
    CHECK(same_bits(c->bptt->data, a->bptt->data, bptt_bytes(a)));
    CHECK(c->data.state == a->data.state && c->step == a->step);
    th_note("losses %.4f (step 1) .. %.4f (step %d) .. %.4f (step %d); halves equal to the bit",
            la[0], la[RN / 2 - 1], RN / 2, la[RN - 1], RN);
    run_free(c);

    /* The comparison is sharp enough to see each piece the checkpoint carries beyond the
     * weights: resuming with the BPTT state at zeros, or with other dropout masks, drifts. */
    double lx[RN / 2];
    run_free(resumed(path, bptt_path, RESUME_COLD_STATE, lx));
    CHECK(!same_bits(lx, la + RN / 2, sizeof lx));
    th_note("resumed with a zero BPTT state: first loss %.6f instead of %.6f", lx[0], la[RN / 2]);
    run_free(resumed(path, bptt_path, RESUME_OTHER_DROPOUT, lx));
    CHECK(!same_bits(lx, la + RN / 2, sizeof lx));
    th_note("resumed with other dropout masks: first loss %.6f instead of %.6f", lx[0],
            la[RN / 2]);

    /* Two files from different saves are refused (a crash between the two writes). */
    run *d = run_new(1);
    run_step(d);
    REQUIRE(run_save(d, path, bptt_path) == NN_OK);
    run_step(d);
    nn_counters sc = {1, {"step"}, {(uint64_t)d->step}};
    REQUIRE(nn_checkpoint_save(bptt_path, d->bptt_store, NULL, &sc) == NN_OK);
    run *e = run_new(1);
    CHECK(run_load(e, path, bptt_path) == NN_ERR_MISMATCH);
    run_free(e);
    run_free(d);

    run_free(a);
    CHECK(unlink(path) == 0);
    CHECK(unlink(bptt_path) == 0);
    CHECK_MSG(rmdir(dir) == 0, "%s holds more than the two checkpoints", dir); /* no temp files */
    ad_set_num_threads(0);
}
