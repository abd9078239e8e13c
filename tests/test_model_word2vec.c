/*
 * test_model_word2vec.c — models/word2vec.c against FORMULAS §9 through the model's own code:
 * w2v_loss for skip-gram and CBOW, negative sampling and full softmax, against the closed forms
 * (computed here with plain loops in double, to 1e-9) and central differences; a worker's sparse
 * SGD step against -alpha times those gradients; then the parts off the tape: the subsampling
 * formula, the unigram^0.75 sampler, the dynamic window, the rate schedule, and training itself.
 */
#include "harness.h"
#include "word2vec.h"

#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

enum { NV = 10, DIM = 4 };

static double sigmoid(double x) { return 1 / (1 + exp(-x)); }
static double dot(const double *a, const double *b) {
    double s = 0;
    for (int j = 0; j < DIM; j++) s += a[j] * b[j];
    return s;
}
static void add_row(double *g, int w, double a, const double *x) {
    for (int j = 0; j < DIM; j++) g[w * DIM + j] += a * x[j];
}

static w2v_config tiny_config(w2v_arch arch, w2v_output out, int K) {
    w2v_config c = w2v_defaults(arch, out);
    c.dim = DIM;
    c.negative = K;
    return c;
}

/* ----------------------------------------------- the closed forms (§9) ---- */

/* The input row h_p of each example: v_c, or the mean of the context's v. */
static void inputs(const w2v_config *cfg, const double *V, const w2v_batch *b, double *h) {
    for (int p = 0; p < b->n; p++) {
        double *hp = h + p * DIM;
        for (int j = 0; j < DIM; j++) hp[j] = 0;
        if (cfg->arch == W2V_SKIPGRAM) {
            for (int j = 0; j < DIM; j++) hp[j] = V[b->input[p] * DIM + j];
            continue;
        }
        const int n = b->in_start[p + 1] - b->in_start[p];
        for (int k = b->in_start[p]; k < b->in_start[p + 1]; k++)
            for (int j = 0; j < DIM; j++) hp[j] += V[b->input[k] * DIM + j] / n;
    }
}

/* ∂F/∂h of example p goes to v_c (skip-gram) or, times 1/n, to each context word (CBOW). The
 * update rule of word2vec.c's CBOW (whole = true) gives each context word the whole ∂F/∂h. */
static bool whole;
static void to_inputs(const w2v_config *cfg, const w2v_batch *b, int p, const double *dh,
                      double *gV) {
    if (cfg->arch == W2V_SKIPGRAM) {
        add_row(gV, b->input[p], 1, dh);
        return;
    }
    const int n = b->in_start[p + 1] - b->in_start[p];
    for (int k = b->in_start[p]; k < b->in_start[p + 1]; k++)
        add_row(gV, b->input[k], whole ? 1.0 : 1.0 / n, dh);
}

/* J = Σ_p F_p and its gradients gV, gU by FORMULAS §9. */
static double closed_form(const w2v_config *cfg, const double *V, const double *U,
                          const w2v_batch *b, double *gV, double *gU) {
    double h[64 * DIM], J = 0;
    inputs(cfg, V, b, h);
    memset(gV, 0, NV * DIM * sizeof *gV);
    memset(gU, 0, NV * DIM * sizeof *gU);
    for (int p = 0; p < b->n; p++) {
        const double *v = h + p * DIM;
        double dh[DIM] = {0};
        if (cfg->output == W2V_NEGATIVE) {
            /* F = −log σ(u_oᵀv) − Σ_k log σ(−u_kᵀv); ∂F/∂v = (σ(u_oᵀv) − 1) u_o + Σ_k σ(u_kᵀv) u_k,
             * ∂F/∂u_o = (σ(u_oᵀv) − 1) v, ∂F/∂u_k = σ(u_kᵀv) v */
            const int o = b->target[p];
            const double so = sigmoid(dot(U + o * DIM, v));
            J -= log(so);
            for (int j = 0; j < DIM; j++) dh[j] += (so - 1) * U[o * DIM + j];
            add_row(gU, o, so - 1, v);
            for (int k = 0; k < cfg->negative; k++) {
                const int w = b->neg[p * cfg->negative + k];
                const double sk = sigmoid(dot(U + w * DIM, v));
                J -= log(1 - sk);
                for (int j = 0; j < DIM; j++) dh[j] += sk * U[w * DIM + j];
                add_row(gU, w, sk, v);
            }
        } else {
            /* F = CE(y, softmax(U v)); ∂F/∂v = Uᵀ(ŷ − y), ∂F/∂U = (ŷ − y) vᵀ */
            double z[NV], mx = -INFINITY, s = 0;
            for (int w = 0; w < NV; w++) mx = fmax(mx, z[w] = dot(U + w * DIM, v));
            for (int w = 0; w < NV; w++) s += exp(z[w] - mx);
            J += log(s) + mx - z[b->target[p]];
            for (int w = 0; w < NV; w++) {
                const double e = exp(z[w] - mx) / s - (w == b->target[p]);
                for (int j = 0; j < DIM; j++) dh[j] += e * U[w * DIM + j];
                add_row(gU, w, e, v);
            }
        }
        to_inputs(cfg, b, p, dh, gV);
    }
    return J;
}

/* ---------------------------------------------------------- the batches ---- */

/* Skip-gram: centre 2 twice (its v gets both examples' gradients), a negative (4) drawn twice
 * for one example, and a negative (7) that is another example's target. */
static const int sg_in[] = {2, 2, 5};
static const int sg_target[] = {7, 3, 7};
static const int sg_neg[] = {1, 4, 4, 8, 6, 9, 5, 0, 7};
static const w2v_batch sg_batch = {3, sg_in, NULL, sg_target, sg_neg};

/* CBOW: contexts of 3, 2 and 1 words; word 1 twice in the first context, word 6 in two. */
static const int cb_in[] = {1, 4, 1, 6, 2, 6};
static const int cb_start[] = {0, 3, 5, 6};
static const int cb_target[] = {7, 3, 9};
static const int cb_neg[] = {5, 5, 0, 8, 2, 4, 1, 6, 3};
static const w2v_batch cb_batch = {3, cb_in, cb_start, cb_target, cb_neg};

typedef struct {
    w2v_config cfg;
    ad_params *ps;
    ad_tensor *V, *U;
    const w2v_batch *b;
} loss_case;

static loss_case make_case(w2v_arch arch, w2v_output out, uint64_t seed) {
    loss_case c = {tiny_config(arch, out, 3), ad_params_new(), NULL, NULL,
                   arch == W2V_SKIPGRAM ? &sg_batch : &cb_batch};
    c.V = th_param(c.ps, "V", NV, DIM, -0.8, 0.8, seed);
    c.U = th_param(c.ps, "U", NV, DIM, -0.8, 0.8, seed + 1);
    return c;
}

static ad_tensor *case_loss(ad_tape *tp, void *ctx) {
    loss_case *c = ctx;
    return w2v_loss(tp, &c->cfg, c->V, c->U, c->b);
}

static void check_against_formulas(w2v_arch arch, w2v_output out, uint64_t seed) {
    loss_case c = make_case(arch, out, seed);
    ad_tape *tp = ad_tape_new();
    ad_tensor *J = case_loss(tp, &c);
    ad_params_zero_grad(c.ps);
    ad_backward(tp, J);
    double gV[NV * DIM], gU[NV * DIM];
    const double want = closed_form(&c.cfg, ad_data(c.V), ad_data(c.U), c.b, gV, gU);
    CHECK_NEAR(ad_item(J), want, 1e-12, 0);
    double e1 = CHECK_ARRAY("dJ/dV", ad_grad(c.V), gV, NV * DIM, 1e-9, 1e-13);
    double e2 = CHECK_ARRAY("dJ/dU", ad_grad(c.U), gU, NV * DIM, 1e-9, 1e-13);
    th_note("J %.6f; max rel err dV %.1e, dU %.1e", ad_item(J), e1, e2);
    /* rows no formula touches stay exactly zero (negative sampling is sparse) */
    if (out == W2V_NEGATIVE) {
        const int *rows;
        const int n = ad_param_touched_rows(c.U, &rows);
        CHECK(n > 0);
        for (int w = 0; w < NV; w++) {
            bool used = false;
            for (int k = 0; k < n; k++) used |= rows[k] == w;
            for (int j = 0; j < DIM && !used; j++) CHECK(ad_grad(c.U)[w * DIM + j] == 0);
        }
    }
    ad_tape_free(tp);

    /* and central differences on the same loss */
    ad_gradcheck_result r = CHECK_GRADCHECK(c.ps, case_loss, &c, &th_tight);
    th_note("gradcheck: %d coordinates, max rel err %.1e", r.checked, r.max_rel_err);
    ad_params_free(c.ps);
}

TEST(skipgram_negative_sampling_formulas) {
    check_against_formulas(W2V_SKIPGRAM, W2V_NEGATIVE, 11);
}
TEST(cbow_negative_sampling_formulas) { check_against_formulas(W2V_CBOW, W2V_NEGATIVE, 12); }
TEST(skipgram_softmax_formulas) { check_against_formulas(W2V_SKIPGRAM, W2V_SOFTMAX, 13); }
TEST(cbow_softmax_formulas) { check_against_formulas(W2V_CBOW, W2V_SOFTMAX, 14); }

TEST(loss_contract_errors) {
    loss_case c = make_case(W2V_CBOW, W2V_NEGATIVE, 1);
    ad_tape *tp = ad_tape_new();
    static const int empty_start[] = {0, 3, 3, 6};
    w2v_batch b = cb_batch;
    b.in_start = empty_start;
    EXPECT_ERROR(w2v_loss(tp, &c.cfg, c.V, c.U, &b), "w2v_loss", "example 1 has no context");
    b = cb_batch;
    b.neg = NULL;
    EXPECT_ERROR(w2v_loss(tp, &c.cfg, c.V, c.U, &b), "w2v_loss", "negatives");
    c.cfg.dim = 5;
    EXPECT_ERROR(w2v_loss(tp, &c.cfg, c.V, c.U, &cb_batch), "w2v_loss", "dim is 5");
    ad_tape_free(tp);
    ad_params_free(c.ps);
}

/* ------------------------------------------------------ the worker step ---- */

static text_vocab *tiny_vocab(void) {
    text_vocab *v = text_vocab_new();
    char w[16];
    for (int i = 1; i < NV; i++) {
        snprintf(w, sizeof w, "w%d", i);
        REQUIRE(text_vocab_add(v, w, 100 * (NV - i)) == i);
    }
    return v;
}

/* One step moves exactly the rows the batch uses, each by -alpha times its gradient (the rows
 * of the shared tables, through the worker's copies); CBOW's context words by the whole ∂F/∂h
 * each, as word2vec.c, unless cbow_mean_gradient. */
static void check_worker_step(w2v_arch arch, w2v_output out, bool mean_gradient) {
    text_vocab *voc = tiny_vocab();
    w2v_config cfg = tiny_config(arch, out, 3);
    cfg.cbow_mean_gradient = mean_gradient;
    whole = arch == W2V_CBOW && !mean_gradient;
    w2v_model m;
    w2v_init(&m, &cfg, voc);
    th_fill_uniform(ad_data(m.U), NV * DIM, -0.5, 0.5, 3); /* U starts at zero: make it count */
    const w2v_batch *b = arch == W2V_SKIPGRAM ? &sg_batch : &cb_batch;
    double V0[NV * DIM], U0[NV * DIM], gV[NV * DIM], gU[NV * DIM];
    memcpy(V0, ad_data(m.V), sizeof V0);
    memcpy(U0, ad_data(m.U), sizeof U0);
    const double J = closed_form(&cfg, V0, U0, b, gV, gU);
    whole = false;

    w2v_worker *w = w2v_worker_new(&m, 5);
    const double alpha = 0.125;
    CHECK_NEAR(w2v_worker_step(w, &m, b, alpha), J, 1e-12, 0);
    double want[NV * DIM];
    for (int k = 0; k < NV * DIM; k++) want[k] = V0[k] - alpha * gV[k];
    CHECK_ARRAY("V after the step", ad_data(m.V), want, NV * DIM, 1e-12, 1e-15);
    for (int k = 0; k < NV * DIM; k++) want[k] = U0[k] - alpha * gU[k];
    CHECK_ARRAY("U after the step", ad_data(m.U), want, NV * DIM, 1e-12, 1e-15);
    for (int k = 0; k < NV * DIM; k++)
        if (gV[k] == 0) CHECK(ad_data(m.V)[k] == V0[k]); /* untouched rows exactly as they were */

    /* The next step reuses the worker's memory, and starts from a clean gradient: from where the
     * first step left V and U, it again moves them by -alpha times the gradient there. */
    memcpy(V0, ad_data(m.V), sizeof V0);
    memcpy(U0, ad_data(m.U), sizeof U0);
    whole = arch == W2V_CBOW && !mean_gradient;
    const double J1 = closed_form(&cfg, V0, U0, b, gV, gU);
    whole = false;
    CHECK_NEAR(w2v_worker_step(w, &m, b, alpha), J1, 1e-12, 0);
    for (int k = 0; k < NV * DIM; k++) want[k] = V0[k] - alpha * gV[k];
    CHECK_ARRAY("V after a second step", ad_data(m.V), want, NV * DIM, 1e-12, 1e-15);
    for (int k = 0; k < NV * DIM; k++) want[k] = U0[k] - alpha * gU[k];
    CHECK_ARRAY("U after a second step", ad_data(m.U), want, NV * DIM, 1e-12, 1e-15);
    w2v_worker_free(w);
    w2v_free(&m);
    text_vocab_free(voc);
}

TEST(worker_step_skipgram_negative) { check_worker_step(W2V_SKIPGRAM, W2V_NEGATIVE, false); }
TEST(worker_step_cbow_negative) { check_worker_step(W2V_CBOW, W2V_NEGATIVE, false); }
TEST(worker_step_skipgram_softmax) { check_worker_step(W2V_SKIPGRAM, W2V_SOFTMAX, false); }
TEST(worker_step_cbow_softmax) { check_worker_step(W2V_CBOW, W2V_SOFTMAX, false); }
TEST(worker_step_cbow_mean_gradient) { check_worker_step(W2V_CBOW, W2V_NEGATIVE, true); }

/* ------------------------------------------------------- off the tape ---- */

TEST(learning_rate_falls_linearly) {
    w2v_config c = w2v_defaults(W2V_SKIPGRAM, W2V_NEGATIVE);
    c.alpha = 0.025;
    c.min_alpha = 0.0001;
    CHECK_NEAR(w2v_alpha(&c, 0, 1000), 0.025, 1e-15, 0);
    CHECK_NEAR(w2v_alpha(&c, 250, 1000), 0.025 - 0.0249 * 0.25, 1e-14, 0);
    CHECK_NEAR(w2v_alpha(&c, 1000, 1000), 0.0001, 1e-14, 0);
    CHECK_NEAR(w2v_alpha(&c, 1500, 1000), 0.0001, 1e-14, 0); /* never below min_alpha */
    CHECK(w2v_defaults(W2V_CBOW, W2V_NEGATIVE).alpha == 0.05);
}

TEST(subsampling_formula) {
    text_vocab *v = text_vocab_new();
    const long counts[] = {100000, 5000, 100, 3};
    char w[8];
    long total = 0;
    for (int i = 0; i < 4; i++) {
        snprintf(w, sizeof w, "s%d", i);
        text_vocab_add(v, w, counts[i]);
        total += counts[i];
    }
    w2v_config cfg = w2v_defaults(W2V_SKIPGRAM, W2V_NEGATIVE);
    cfg.sample = 1e-3;
    w2v_model m;
    w2v_init(&m, &cfg, v);
    for (int i = 0; i < 4; i++) {
        const double f = (double)counts[i] / total, t = 1e-3;
        const double want = fmin(1, (sqrt(f / t) + 1) * t / f);
        CHECK_NEAR(w2v_keep_probability(&m, i + 1), want, 1e-12, 0);
    }
    CHECK(w2v_keep_probability(&m, 1) < 0.05); /* the frequent word is mostly dropped */
    CHECK(w2v_keep_probability(&m, 4) == 1);
    CHECK(w2v_keep_probability(&m, TEXT_UNK) == 0);
    w2v_free(&m);
    cfg.sample = 0;
    w2v_init(&m, &cfg, v);
    CHECK(w2v_keep_probability(&m, 1) == 1);
    w2v_free(&m);
    text_vocab_free(v);
}

/* The alias table draws word w with probability count^0.75 / Σ count^0.75: exactly by its own
 * table, and empirically over many draws. */
TEST(negatives_follow_unigram_to_the_three_quarters) {
    text_vocab *v = text_vocab_new();
    enum { N = 40 };
    double z = 0, want[N + 1] = {0};
    char w[8];
    for (int i = 1; i <= N; i++) {
        const long c = (long)(1 + 100000 / (i * i)); /* Zipf-like, from 100001 down to 63 */
        snprintf(w, sizeof w, "n%d", i);
        text_vocab_add(v, w, c);
        want[i] = pow((double)c, 0.75);
        z += want[i];
    }
    w2v_config cfg = w2v_defaults(W2V_SKIPGRAM, W2V_NEGATIVE);
    w2v_model m;
    w2v_init(&m, &cfg, v);
    double sum = 0;
    for (int i = 0; i <= N; i++) {
        const double p = w2v_negative_probability(&m, i);
        CHECK_NEAR(p, want[i] / z, 1e-7, 1e-12);
        sum += p;
    }
    CHECK_NEAR(sum, 1, 1e-9, 0);
    CHECK(w2v_negative_probability(&m, TEXT_UNK) == 0);

    enum { DRAWS = 2000000 };
    long seen[N + 1] = {0};
    uint64_t s = 12345;
    for (int k = 0; k < DRAWS; k++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        uint64_t r = s ^ (s >> 29);
        r *= 0xBF58476D1CE4E5B9ull;
        r ^= r >> 32;
        seen[w2v_draw_negative(&m, r)]++;
    }
    CHECK(seen[TEXT_UNK] == 0);
    double worst = 0;
    for (int i = 1; i <= N; i++) {
        const double p = want[i] / z, sd = sqrt(DRAWS * p * (1 - p));
        worst = fmax(worst, fabs((double)seen[i] - DRAWS * p) / sd);
    }
    th_note("largest deviation %.2f standard deviations over %d words", worst, N);
    CHECK(worst < 5);
    w2v_free(&m);
    text_vocab_free(v);
}

/* ------------------------------------------------------------ training ---- */

static char tmpdir[256];
static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}
static void remove_tmpdir(void) { nftw(tmpdir, remove_entry, 8, FTW_DEPTH | FTW_PHYS); }
static const char *tmp_path(const char *name) {
    static char buf[512];
    if (!tmpdir[0]) {
        const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
        snprintf(tmpdir, sizeof tmpdir, "%s/test_w2v.XXXXXX", base);
        if (!mkdtemp(tmpdir)) exit(2);
        atexit(remove_tmpdir);
    }
    snprintf(buf, sizeof buf, "%s/%s", tmpdir, name);
    return buf;
}

/* Two kinds of sentence: animals that eat and sleep, numbers that add up. A word's neighbours
 * after training must be of its own kind. */
static const char *const animals[] = {"cat", "dog", "horse", "cow", "sheep", "goat"};
static const char *const numbers[] = {"one", "two", "three", "four", "five", "six"};

static const char *write_corpus(int lines, uint64_t seed) {
    const char *path = tmp_path("corpus.txt");
    FILE *f = fopen(path, "w");
    if (!f) exit(2);
    uint64_t s = seed;
    for (int i = 0; i < lines; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        const int a = (int)((s >> 33) % 6), b = (int)((s >> 45) % 6), c = (int)((s >> 55) % 6);
        if (i % 2)
            fprintf(f, "the %s eats grass and the %s sleeps near the %s\n", animals[a],
                    animals[b], animals[c]);
        else
            fprintf(f, "%s plus %s equals %s minus %s\n", numbers[a], numbers[b], numbers[c],
                    numbers[(a + b) % 6]);
    }
    fclose(f);
    return path;
}

static int kind_of(const char *w) {
    for (int i = 0; i < 6; i++) {
        if (!strcmp(w, animals[i])) return 1;
        if (!strcmp(w, numbers[i])) return 2;
    }
    return 0;
}

/* For every animal and number: is its nearest animal-or-number neighbour of its own kind? */
static int neighbours_of_own_kind(const w2v_model *m) {
    wv_table t;
    REQUIRE(w2v_table(m, &t) == NN_OK);
    int good = 0;
    for (int i = 0; i < t.n; i++) {
        const int k = kind_of(t.words[i]);
        if (!k) continue;
        int ids[32];
        float sims[32];
        const int n = wv_nearest(&t, t.vec + (size_t)i * t.dim, 0, &i, 1, 32, ids, sims);
        for (int r = 0; r < n; r++) {
            const int kr = kind_of(t.words[ids[r]]);
            if (!kr) continue;
            good += kr == k;
            break;
        }
    }
    wv_table_free(&t);
    return good;
}

static void train_tiny(w2v_arch arch, w2v_output out, int threads, w2v_stats *first,
                       w2v_stats *last, int *good) {
    text_vocab *voc;
    text_ids ids;
    REQUIRE(w2v_read_corpus(write_corpus(600, 9), 1, 0, 0, &voc, &ids) == NN_OK);
    w2v_config cfg = w2v_defaults(arch, out);
    cfg.dim = 16;
    cfg.iter = 8;
    cfg.sample = 0;
    cfg.threads = threads;
    w2v_model m;
    w2v_init(&m, &cfg, voc);
    for (int e = 0; e < cfg.iter; e++) {
        w2v_stats st = w2v_train_epoch(&m, &ids, e, NULL, NULL);
        if (e == 0) *first = st;
        *last = st;
    }
    CHECK(m.words_done == m.words_total);
    *good = neighbours_of_own_kind(&m);
    w2v_free(&m);
    text_ids_free(&ids);
    text_vocab_free(voc);
}

static void check_training(w2v_arch arch, w2v_output out, int threads) {
    w2v_stats first = {0}, last = {0};
    int good = 0;
    train_tiny(arch, out, threads, &first, &last, &good);
    th_note("loss per example %.3f -> %.3f; %d of 12 neighbours of their own kind; %.0f words/s",
            first.loss, last.loss, good, (double)last.words / last.seconds);
    /* the first epoch's mean already includes what it learned: the loss keeps falling after */
    CHECK(last.loss < first.loss - 0.1);
    CHECK(good >= 11);
    CHECK(first.words == 600 / 2 * (11 + 7) && first.kept == first.words); /* sample 0 */
}

TEST(trains_skipgram_negative) { check_training(W2V_SKIPGRAM, W2V_NEGATIVE, 1); }
TEST(trains_cbow_negative) { check_training(W2V_CBOW, W2V_NEGATIVE, 1); }
TEST(trains_skipgram_softmax) { check_training(W2V_SKIPGRAM, W2V_SOFTMAX, 1); }
TEST(trains_cbow_softmax) { check_training(W2V_CBOW, W2V_SOFTMAX, 1); }
TEST(trains_hogwild_two_threads) { check_training(W2V_SKIPGRAM, W2V_NEGATIVE, 2); }

/* One thread: the same seed gives the same vectors, and the window draws are uniform: skip-gram
 * makes, per position i of a sentence of L kept words, Σ_b (min(b, i) + min(b, L-1-i)) / window
 * examples in expectation. */
TEST(one_thread_is_reproducible_and_windows_are_uniform) {
    text_vocab *voc;
    text_ids ids;
    REQUIRE(w2v_read_corpus(write_corpus(400, 3), 1, 0, 0, &voc, &ids) == NN_OK);
    w2v_config cfg = w2v_defaults(W2V_SKIPGRAM, W2V_NEGATIVE);
    cfg.dim = 8;
    cfg.iter = 1;
    cfg.sample = 0;
    cfg.threads = 1;
    w2v_model a, b;
    w2v_init(&a, &cfg, voc);
    w2v_init(&b, &cfg, voc);
    w2v_stats sa = w2v_train_epoch(&a, &ids, 0, NULL, NULL);
    w2v_stats sb = w2v_train_epoch(&b, &ids, 0, NULL, NULL);
    CHECK(sa.examples == sb.examples);
    CHECK(memcmp(ad_data(a.V), ad_data(b.V), (size_t)a.nwords * 8 * sizeof(ad_real)) == 0);

    double expect = 0, var = 0;
    for (size_t k = 0; k < ids.nlines; k++) {
        const int L = (int)(ids.line_start[k + 1] - ids.line_start[k]);
        for (int i = 0; i < L; i++) {
            double m1 = 0, m2 = 0;
            for (int bw = 1; bw <= cfg.window; bw++) {
                const double e = fmin(bw, i) + fmin(bw, L - 1 - i);
                m1 += e / cfg.window;
                m2 += e * e / cfg.window;
            }
            expect += m1;
            var += m2 - m1 * m1;
        }
    }
    th_note("%ld examples, expected %.0f ± %.0f", sa.examples, expect, sqrt(var));
    CHECK(fabs((double)sa.examples - expect) < 5 * sqrt(var));
    w2v_free(&a);
    w2v_free(&b);
    text_ids_free(&ids);
    text_vocab_free(voc);
}

/* Subsampling keeps each occurrence with its probability: the kept count of an epoch matches
 * Σ_w count_w · keep(w). */
TEST(subsampling_keeps_the_expected_share) {
    text_vocab *voc;
    text_ids ids;
    REQUIRE(w2v_read_corpus(write_corpus(2000, 5), 1, 0, 0, &voc, &ids) == NN_OK);
    w2v_config cfg = w2v_defaults(W2V_CBOW, W2V_NEGATIVE);
    cfg.dim = 4;
    cfg.iter = 1;
    cfg.sample = 0.01;
    cfg.threads = 1;
    w2v_model m;
    w2v_init(&m, &cfg, voc);
    double expect = 0, var = 0;
    for (int w = 1; w < m.nwords; w++) {
        const double p = w2v_keep_probability(&m, w), c = (double)text_vocab_count(voc, w);
        expect += c * p;
        var += c * p * (1 - p);
    }
    w2v_stats st = w2v_train_epoch(&m, &ids, 0, NULL, NULL);
    th_note("kept %ld of %ld, expected %.0f ± %.0f", st.kept, st.words, expect, sqrt(var));
    CHECK(st.words == (long)m.vocab_words);
    CHECK(fabs((double)st.kept - expect) < 5 * sqrt(var));
    CHECK(st.kept < st.words * 0.8);
    w2v_free(&m);
    text_ids_free(&ids);
    text_vocab_free(voc);
}

TEST(table_holds_every_word_but_unk) {
    text_vocab *voc = tiny_vocab();
    w2v_config cfg = tiny_config(W2V_SKIPGRAM, W2V_NEGATIVE, 2);
    w2v_model m;
    w2v_init(&m, &cfg, voc);
    wv_table t;
    REQUIRE(w2v_table(&m, &t) == NN_OK);
    CHECK(t.n == NV - 1 && t.dim == DIM);
    CHECK(strcmp(t.words[0], "w1") == 0 && wv_table_find(&t, TEXT_UNK_WORD) < 0);
    CHECK(t.vec[DIM] == (float)ad_data(m.V)[2 * DIM]); /* row 1 of the table is word 2 */
    for (int k = 0; k < (NV - 1) * DIM; k++) CHECK(fabs(t.vec[k]) <= 0.5 / DIM);
    wv_table_free(&t);
    w2v_free(&m);
    text_vocab_free(voc);
}

TEST(read_corpus_errors) {
    text_vocab *voc;
    text_ids ids;
    CHECK(w2v_read_corpus(tmp_path("absent.txt"), 1, 0, 0, &voc, &ids) != NN_OK);
    CHECK(strstr(nn_last_error(), "absent.txt") != NULL);
    const char *p = tmp_path("rare.txt");
    FILE *f = fopen(p, "w");
    fputs("every word here once\n", f);
    fclose(f);
    CHECK(w2v_read_corpus(p, 5, 0, 0, &voc, &ids) == NN_ERR_FORMAT);
    CHECK(strstr(nn_last_error(), "min-count") != NULL);
    CHECK(voc == NULL);
}

/* --max-lines: the vocabulary and its counts are those of the first lines only. */
TEST(read_corpus_first_lines) {
    const char *p = tmp_path("slice.txt");
    FILE *f = fopen(p, "w");
    REQUIRE(f);
    fputs("a b c a\nb a d\ne e e e e b\n", f);
    fclose(f);
    text_vocab *voc;
    text_ids ids;
    REQUIRE(w2v_read_corpus(p, 2, 0, 2, &voc, &ids) == NN_OK);
    REQUIRE(text_vocab_size(voc) == 3);
    CHECK(strcmp(text_vocab_word(voc, 1), "a") == 0 && text_vocab_count(voc, 1) == 3);
    CHECK(strcmp(text_vocab_word(voc, 2), "b") == 0 && text_vocab_count(voc, 2) == 2);
    CHECK(text_vocab_find(voc, "e") < 0);
    CHECK(ids.nlines == 2 && ids.n == 7 && ids.line_start[1] == 4);
    const int want[] = {1, 2, TEXT_UNK, 1, 2, 1, TEXT_UNK};
    for (int k = 0; k < 7; k++) CHECK_MSG(ids.ids[k] == want[k], "id %d: %d", k, ids.ids[k]);
    text_ids_free(&ids);
    text_vocab_free(voc);
    REQUIRE(w2v_read_corpus(p, 1, 1, 2, &voc, &ids) == NN_OK); /* max_words */
    CHECK(text_vocab_size(voc) == 2 && ids.ids[1] == TEXT_UNK);
    text_ids_free(&ids);
    text_vocab_free(voc);
    REQUIRE(w2v_read_corpus(p, 1, 0, 0, &voc, &ids) == NN_OK); /* all lines */
    CHECK(strcmp(text_vocab_word(voc, 1), "e") == 0 && ids.nlines == 3);
    text_ids_free(&ids);
    text_vocab_free(voc);
}
