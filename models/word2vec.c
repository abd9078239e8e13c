/*
 * word2vec.c — skip-gram and CBOW with negative sampling or the full softmax, on the tape
 * (FORMULAS §9), trained by Hogwild workers. See word2vec.h for the model and the threading.
 *
 * A worker's step: put the shared V and U on its tape as leaves with gradients of its own, record
 * J = w2v_loss, backward, and move each touched shared row by -alpha times its gradient. The tape
 * costs a few nodes per minibatch, whatever its size, and no row of the tables is copied.
 */
#include "word2vec.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef _OPENMP
#include <omp.h>
#endif
#ifdef __linux__
#include <sys/mman.h>
#endif

#include "vecmath.h" /* AD_VECTOR_CLONES */

/* --------------------------------------------------------------- config ---- */

w2v_config w2v_defaults(w2v_arch arch, w2v_output output) {
    return (w2v_config){
        .arch = arch,
        .output = output,
        .dim = 100,
        .window = 5,
        .negative = 5,
        .sample = 1e-3,
        .alpha = arch == W2V_CBOW ? 0.05 : 0.025,
        .min_alpha = 1e-4,
        .iter = 5,
        .threads = 0,
        .batch = 4,
        .seed = 1,
        .cbow_mean_gradient = false,
    };
}

static void check_config(const w2v_config *c, const char *op) {
    if (c->arch != W2V_SKIPGRAM && c->arch != W2V_CBOW)
        ad_fail_at(__FILE__, __LINE__, op, "unknown architecture %d", (int)c->arch);
    if (c->output != W2V_NEGATIVE && c->output != W2V_SOFTMAX)
        ad_fail_at(__FILE__, __LINE__, op, "unknown output layer %d", (int)c->output);
    if (c->dim < 1 || c->window < 1 || c->iter < 1 || c->batch < 1 || c->threads < 0 ||
        (c->output == W2V_NEGATIVE && c->negative < 1))
        ad_fail_at(__FILE__, __LINE__, op, "dim %d, window %d, iter %d, batch %d, threads %d, "
                   "negative %d: each must be >= 1 (threads >= 0)", c->dim, c->window, c->iter,
                   c->batch, c->threads, c->negative);
    if (!(c->alpha > 0) || !(c->min_alpha >= 0) || !(c->sample >= 0))
        ad_fail_at(__FILE__, __LINE__, op, "alpha %g, min_alpha %g, sample %g: alpha must be > 0, "
                   "the others >= 0", c->alpha, c->min_alpha, c->sample);
}

double w2v_alpha(const w2v_config *cfg, long done, long total) {
    const double progress = total > 0 ? (double)done / (double)total : 0;
    const double a = cfg->alpha - (cfg->alpha - cfg->min_alpha) * progress;
    return a > cfg->min_alpha ? a : cfg->min_alpha;
}

/* ------------------------------------------------------- random numbers ---- */

/* xorshift64*: a worker draws a few dozen numbers per word, so the generator is inline. */
static inline uint64_t rng_next(uint64_t *s) {
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1Dull;
}

/* [0, n) from the high 32 bits (Lemire's multiply; the bias is below 2^-32 n). */
static inline uint32_t below(uint64_t r, uint32_t n) {
    return (uint32_t)(((r >> 32) * (uint64_t)n) >> 32);
}

static uint64_t mix_seed(uint64_t seed, uint64_t a, uint64_t b) {
    uint64_t z = seed + 0x9E3779B97F4A7C15ull * (a + 1) + 0xD1B54A32D192ED03ull * (b + 1);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return z ? z : 1; /* xorshift never leaves 0 */
}

/* ---------------------------------------------- negatives: an alias table ---- */

/*
 * Word w is drawn with probability count_w^0.75 / Σ count^0.75. word2vec.c fills a table of 10^8
 * ids in proportion; Walker's alias method draws the same distribution exactly from a table the
 * size of the vocabulary: pick a column i uniformly, keep i with probability thresh[i] / 2^32,
 * else take alias[i].
 */
struct w2v_sampler {
    int n;
    uint32_t *thresh;
    int *alias;
};

static w2v_sampler *sampler_new(const text_vocab *v, int n) {
    w2v_sampler *s = malloc(sizeof *s);
    double *p = malloc((size_t)n * sizeof *p);
    int *small = malloc((size_t)n * sizeof *small), *large = malloc((size_t)n * sizeof *large);
    if (s) {
        s->thresh = malloc((size_t)n * sizeof *s->thresh);
        s->alias = malloc((size_t)n * sizeof *s->alias);
    }
    if (!s || !p || !small || !large || !s->thresh || !s->alias)
        ad_fail_at(__FILE__, __LINE__, "w2v_init", "out of memory for the negative sampler");
    s->n = n;
    double z = 0;
    for (int w = 0; w < n; w++) {
        p[w] = w == TEXT_UNK ? 0 : pow((double)text_vocab_count(v, w), 0.75);
        z += p[w];
    }
    int ns = 0, nl = 0;
    for (int w = 0; w < n; w++) {
        p[w] *= n / z; /* mean 1 */
        if (p[w] < 1) small[ns++] = w;
        else large[nl++] = w;
    }
    while (ns > 0 && nl > 0) {
        const int a = small[--ns], b = large[--nl];
        s->thresh[a] = (uint32_t)(p[a] * 4294967296.0);
        s->alias[a] = b;
        p[b] -= 1 - p[a];
        if (p[b] < 1) small[ns++] = b;
        else large[nl++] = b;
    }
    /* what is left has probability 1 up to rounding: always itself */
    while (nl > 0) {
        const int b = large[--nl];
        s->thresh[b] = UINT32_MAX;
        s->alias[b] = b;
    }
    while (ns > 0) {
        const int a = small[--ns];
        s->thresh[a] = UINT32_MAX;
        s->alias[a] = a;
    }
    free(p);
    free(small);
    free(large);
    return s;
}

static void sampler_free(w2v_sampler *s) {
    if (!s) return;
    free(s->thresh);
    free(s->alias);
    free(s);
}

static inline int sampler_draw(const w2v_sampler *s, uint64_t r) {
    const uint32_t i = below(r, (uint32_t)s->n);
    return (uint32_t)r < s->thresh[i] ? (int)i : s->alias[i];
}

int w2v_draw_negative(const w2v_model *m, uint64_t random64) {
    return sampler_draw(m->neg, random64);
}

double w2v_negative_probability(const w2v_model *m, int w) {
    const w2v_sampler *s = m->neg;
    double p = 0;
    for (int i = 0; i < s->n; i++) {
        /* column i keeps i when the low 32 bits are below thresh[i], else gives alias[i] */
        const double keep = s->alias[i] == i ? 1.0 : s->thresh[i] / 4294967296.0;
        if (i == w) p += keep;
        if (s->alias[i] == w && s->alias[i] != i) p += 1 - keep;
    }
    return p / s->n;
}

/* ---------------------------------------------------------------- model ---- */

double w2v_keep_probability(const w2v_model *m, int w) {
    if (w == TEXT_UNK) return 0;
    if (m->cfg.sample <= 0) return 1;
    const double f = (double)text_vocab_count(m->vocab, w) / m->vocab_words, t = m->cfg.sample;
    const double p = (sqrt(f / t) + 1) * t / f;
    return p < 1 ? p : 1;
}

void w2v_init(w2v_model *m, const w2v_config *cfg, const text_vocab *vocab) {
    if (!m || !cfg || !vocab) ad_fail_at(__FILE__, __LINE__, "w2v_init", "NULL argument");
    check_config(cfg, "w2v_init");
    memset(m, 0, sizeof *m);
    m->cfg = *cfg;
    m->vocab = vocab;
    m->nwords = text_vocab_size(vocab);
    for (int w = 0; w < m->nwords; w++)
        if (w != TEXT_UNK) m->vocab_words += (double)text_vocab_count(vocab, w);
    if (m->nwords < 2 || !(m->vocab_words > 0))
        ad_fail_at(__FILE__, __LINE__, "w2v_init", "the vocabulary has no counted word besides "
                   "<unk> (%d entries)", m->nwords);
    const int d = cfg->dim;
    m->ps = ad_params_new();
    m->V = ad_param(m->ps, "V", m->nwords, d);
    m->U = ad_param(m->ps, "U", m->nwords, d);
    nn_rng r = nn_rng_new(cfg->seed);
    nn_init_uniform(m->V, -0.5 / d, 0.5 / d, &r);
    m->keep = malloc((size_t)m->nwords * sizeof *m->keep);
    if (!m->keep) ad_fail_at(__FILE__, __LINE__, "w2v_init", "out of memory");
    for (int w = 0; w < m->nwords; w++) {
        const double p = w2v_keep_probability(m, w);
        /* kept when a 32-bit random number is below keep[w]; 1 means always */
        m->keep[w] = p >= 1 ? UINT32_MAX : (uint32_t)(p * 4294967296.0);
    }
    m->neg = sampler_new(vocab, m->nwords);
}

void w2v_free(w2v_model *m) {
    if (!m) return;
    ad_params_free(m->ps);
    free(m->keep);
    sampler_free(m->neg);
    memset(m, 0, sizeof *m);
}

/* The vocabulary of lines [0, nlines) of t (ids of the unpruned vocabulary all), pruned as
 * text_vocab_prune does, and t's ids renumbered to it. */
static nn_status restrict_to_slice(const char *path, text_vocab **v, text_ids *t, long min_count,
                                   int max_words) {
    const int n0 = text_vocab_size(*v);
    long *count = calloc((size_t)n0, sizeof *count);
    int *map = malloc((size_t)n0 * sizeof *map);
    text_vocab *s = text_vocab_new();
    if (!count || !map || !s) {
        free(count);
        free(map);
        text_vocab_free(s);
        return nn_set_error(NN_ERR_MEMORY, "%s: out of memory", path);
    }
    for (size_t k = 0; k < t->n; k++) count[t->ids[k]]++;
    /* in the order of first appearance, so that prune breaks ties as it would on the slice */
    for (int w = 0; w < n0; w++)
        if (w != TEXT_UNK && count[w] > 0) text_vocab_add(s, text_vocab_word(*v, w), count[w]);
    text_vocab_prune(s, min_count, max_words ? max_words + 1 : 0);
    for (int w = 0; w < n0; w++)
        map[w] = w == TEXT_UNK ? TEXT_UNK : text_vocab_id(s, text_vocab_word(*v, w));
    for (size_t k = 0; k < t->n; k++) t->ids[k] = map[t->ids[k]];
    free(count);
    free(map);
    text_vocab_free(*v);
    *v = s;
    return NN_OK;
}

nn_status w2v_read_corpus(const char *path, long min_count, int max_words, long max_lines,
                          text_vocab **vocab, text_ids *ids) {
    if (!path || !vocab || !ids || min_count < 0 || max_words < 0 || max_lines < 0)
        ad_fail_at(__FILE__, __LINE__, "w2v_read_corpus", "NULL argument or negative count");
    *vocab = NULL;
    memset(ids, 0, sizeof *ids);
    text_vocab *v = text_vocab_new();
    nn_status s = text_count(path, TEXT_WORDS, v);
    const bool slice = max_lines > 0;
    if (!s && !slice) text_vocab_prune(v, min_count, max_words ? max_words + 1 : 0);
    if (!s) s = text_read(path, TEXT_WORDS, v, -1, ids);
    if (!s && slice && (size_t)max_lines < ids->nlines) {
        ids->nlines = (size_t)max_lines; /* a prefix of the lines: the arrays stay as they are */
        ids->n = ids->line_start[ids->nlines];
    }
    if (!s && slice) s = restrict_to_slice(path, &v, ids, min_count, max_words);
    if (!s && text_vocab_size(v) < 2)
        s = nn_set_error(NN_ERR_FORMAT, "%s: no word occurs at least %ld times (min-count)", path,
                         min_count);
    if (s) {
        text_ids_free(ids);
        text_vocab_free(v);
        return s;
    }
    *vocab = v;
    return NN_OK;
}

nn_status w2v_table(const w2v_model *m, wv_table *out) {
    const int n = m->nwords - 1;
    const char **words = malloc((size_t)n * sizeof *words);
    if (!words) return nn_set_error(NN_ERR_MEMORY, "w2v_table: out of memory");
    for (int w = 1; w < m->nwords; w++) words[w - 1] = text_vocab_word(m->vocab, w);
    nn_status s = wv_table_make(out, n, m->cfg.dim, words, ad_data(m->V) + m->cfg.dim);
    free(words);
    return s;
}

/* ------------------------------------------------------------- the loss ---- */

static void check_batch(const w2v_config *cfg, ad_tensor *V, ad_tensor *U, const w2v_batch *b) {
    static const char op[] = "w2v_loss";
    if (!V || !U || !b || !b->input || !b->target || b->n < 1)
        ad_fail_at(__FILE__, __LINE__, op, "NULL V, U or batch arrays, or %d examples",
                   b ? b->n : 0);
    if (ad_cols(V) != cfg->dim || ad_cols(U) != cfg->dim)
        ad_fail_at(__FILE__, __LINE__, op, "V is %dx%d and U %dx%d; dim is %d", ad_rows(V),
                   ad_cols(V), ad_rows(U), ad_cols(U), cfg->dim);
    if (cfg->arch == W2V_CBOW) {
        if (!b->in_start || b->in_start[0] != 0)
            ad_fail_at(__FILE__, __LINE__, op, "CBOW needs in_start, starting at 0");
        for (int p = 0; p < b->n; p++)
            if (b->in_start[p + 1] <= b->in_start[p])
                ad_fail_at(__FILE__, __LINE__, op, "CBOW example %d has no context word "
                           "(in_start %d, %d)", p, b->in_start[p], b->in_start[p + 1]);
    }
    if (cfg->output == W2V_NEGATIVE && !b->neg)
        ad_fail_at(__FILE__, __LINE__, op, "negative sampling needs the negatives");
}

/* J on tp; whole_context: CBOW's context rows get word2vec.c's step instead of the gradient (see
 * below). */
static ad_tensor *loss_on_tape(ad_tape *tp, const w2v_config *cfg, ad_tensor *V, ad_tensor *U,
                               const w2v_batch *b, bool whole_context) {
    check_batch(cfg, V, U, b);
    const int n = b->n;
    const bool cbow = cfg->arch == W2V_CBOW;

    /* h: one input row per example. CBOW: the mean of each example's context rows, their bag's
     * sum times 1/count. */
    ad_tensor *h = NULL;
    if (cbow) {
        ad_tensor *sum = ad_bag_rows(tp, V, b->input, b->in_start, n); /* n x dim */
        ad_tensor *inv = ad_input(tp, n, 1, NULL);
        for (int p = 0; p < n; p++)
            ad_data(inv)[p] = (ad_real)1 / (ad_real)(b->in_start[p + 1] - b->in_start[p]);
        if (!whole_context) {
            h = ad_mul(tp, sum, inv);
        } else {
            /* word2vec.c and gensim move every context row by the whole ∂F/∂h, n times its
             * gradient: h = sum + detach(sum/n - sum) has the mean as its value and sends ∂F/∂h
             * to each context row unscaled. */
            h = ad_add(tp, sum, ad_detach(tp, ad_sub(tp, ad_mul(tp, sum, inv), sum)));
        }
    }

    if (cfg->output == W2V_SOFTMAX) {
        /* z = U h as rows: h Uᵀ (n x words); J = Σ_p CE = n · mean */
        if (!cbow) h = ad_gather_rows(tp, V, b->input, n);
        ad_tensor *z = ad_matmul_nt(tp, h, U);
        return ad_scale(tp, ad_softmax_xent(tp, z, b->target, NULL), (ad_real)n);
    }

    /* Negative sampling: pair r = p(K+1) + j scores example p against its target (j = 0, sign
     * +1) or its negative j (sign -1): J = -Σ_r log σ(s_r h_pᵀ u_r), one fused op. */
    const int K = cfg->negative, R = n * (K + 1);
    int *in_row = ad_tape_scratch(tp, (size_t)R * sizeof *in_row);
    int *out_row = ad_tape_scratch(tp, (size_t)R * sizeof *out_row);
    ad_real *sign = ad_tape_scratch(tp, (size_t)R * sizeof *sign);
    for (int p = 0, r = 0; p < n; p++)
        for (int j = 0; j <= K; j++, r++) {
            in_row[r] = cbow ? p : b->input[p]; /* skip-gram reads v_c straight from V */
            out_row[r] = j == 0 ? b->target[p] : b->neg[p * K + j - 1];
            sign[r] = j == 0 ? 1 : -1;
        }
    return ad_sampled_logistic(tp, cbow ? h : V, in_row, U, out_row, sign, R);
}

ad_tensor *w2v_loss(ad_tape *tp, const w2v_config *cfg, ad_tensor *V, ad_tensor *U,
                    const w2v_batch *b) {
    return loss_on_tape(tp, cfg, V, U, b, false);
}

/* --------------------------------------------------------------- worker ---- */

/* A shared table read in place (ad_leaf), this worker's gradient of it, and the rows the step
 * touches: the gradient is zero but at those rows, which the step's update clears again. */
typedef struct {
    ad_real *grad;     /* nwords x dim */
    unsigned *mark;    /* nwords: == step when the row is listed */
    int *rows, n, cap;
    bool all;          /* every row: the full softmax's U */
} shared_grad;

struct w2v_worker {
    const w2v_model *m;
    ad_tape *tp;
    shared_grad gv, gu;
    unsigned step;
    uint64_t rng;
    /* the batch being built from sentences (training) */
    int *b_in, *b_start, *b_target, *b_neg;
    int b_cap_in, b_cap_ex;
    int b_nin, b_n;
    int *sent;
    size_t sent_cap;
};

static void *xrealloc(void *p, size_t bytes) {
    void *q = realloc(p, bytes ? bytes : 1);
    if (!q) ad_fail_at(__FILE__, __LINE__, "w2v_worker", "out of memory (%zu bytes)", bytes);
    return q;
}

static void grow_ints(int **a, int *cap, int want) {
    if (want <= *cap) return;
    int c = *cap ? *cap : 64;
    while (c < want) c *= 2;
    *a = xrealloc(*a, (size_t)c * sizeof **a);
    *cap = c;
}

/* A zero table of a worker's gradient. calloc maps fresh zero pages and touches none; a page is
 * first written when the step touches a row on it. Such a first write costs more than the step's
 * arithmetic on some machines (tens of µs per 4 KiB page), so the table asks for 2 MiB pages. */
static ad_real *gradient_table(size_t reals) {
    ad_real *g = calloc(reals ? reals : 1, sizeof *g);
    if (!g) ad_fail_at(__FILE__, __LINE__, "w2v_worker_new", "out of memory for a gradient of "
                       "%zu values", reals);
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    const uintptr_t huge = (uintptr_t)2 << 20, lo = ((uintptr_t)g + huge - 1) & ~(huge - 1),
                    hi = ((uintptr_t)(g + reals)) & ~(huge - 1);
    if (hi > lo) (void)madvise((void *)lo, hi - lo, MADV_HUGEPAGE); /* advice: may be refused */
#endif
    return g;
}

static void shared_grad_init(shared_grad *s, int words, int dim) {
    s->grad = gradient_table((size_t)words * (size_t)dim);
    s->mark = calloc((size_t)words, sizeof *s->mark);
    if (!s->mark) ad_fail_at(__FILE__, __LINE__, "w2v_worker_new", "out of memory");
}

static void shared_grad_free(shared_grad *s) {
    free(s->grad);
    free(s->mark);
    free(s->rows);
}

static inline void touch(shared_grad *s, unsigned step, int row) {
    if (s->mark[row] == step) return;
    s->mark[row] = step;
    if (s->n == s->cap) grow_ints(&s->rows, &s->cap, s->n + 1);
    s->rows[s->n++] = row;
}

/* shared row -= alpha · the worker's gradient of it, and that gradient back to zero, at every
 * touched row. */
AD_VECTOR_CLONES
static void apply_shared(shared_grad *s, ad_real *shared, int words, int d, ad_real alpha) {
    const int n = s->all ? words : s->n;
    for (int k = 0; k < n; k++) {
        if (!s->all && k + 4 < n)
            for (int j = 0; j < d; j += 64 / (int)sizeof(ad_real))
                __builtin_prefetch(shared + (size_t)s->rows[k + 4] * (size_t)d + j, 1, 3);
        const size_t r = (size_t)(s->all ? k : s->rows[k]) * (size_t)d;
        ad_real *restrict dst = shared + r, *restrict g = s->grad + r;
        for (int j = 0; j < d; j++) {
            dst[j] -= alpha * g[j];
            g[j] = 0;
        }
    }
    s->n = 0;
    s->all = false;
}

w2v_worker *w2v_worker_new(const w2v_model *m, uint64_t seed) {
    if (!m || !m->ps) ad_fail_at(__FILE__, __LINE__, "w2v_worker_new", "no model");
    /* on cache lines of its own: its random state is written for every draw, and a line shared
     * with another thread's data would stall both */
    const size_t bytes = (sizeof(w2v_worker) + 63) / 64 * 64;
    w2v_worker *w = aligned_alloc(64, bytes);
    if (!w) ad_fail_at(__FILE__, __LINE__, "w2v_worker_new", "out of memory");
    memset(w, 0, bytes);
    w->m = m;
    w->tp = ad_tape_new();
    w->rng = mix_seed(seed, 0, 0);
    shared_grad_init(&w->gv, m->nwords, m->cfg.dim);
    shared_grad_init(&w->gu, m->nwords, m->cfg.dim);
    return w;
}

void w2v_worker_free(w2v_worker *w) {
    if (!w) return;
    ad_tape_free(w->tp);
    shared_grad_free(&w->gv);
    shared_grad_free(&w->gu);
    free(w->b_in);
    free(w->b_start);
    free(w->b_target);
    free(w->b_neg);
    free(w->sent);
    free(w);
}

static void check_ids(const w2v_model *m, const int *ids, int n, const char *what) {
    for (int k = 0; k < n; k++)
        if (ids[k] < 0 || ids[k] >= m->nwords)
            ad_fail_at(__FILE__, __LINE__, "w2v_worker_step", "%s id %d at %d is outside the "
                       "vocabulary [0, %d)", what, ids[k], k, m->nwords);
}

double w2v_worker_step(w2v_worker *w, w2v_model *m, const w2v_batch *b, double alpha) {
    const w2v_config *cfg = &m->cfg;
    if (w->m != m) ad_fail_at(__FILE__, __LINE__, "w2v_worker_step", "worker of another model");
    check_batch(cfg, m->V, m->U, b);
    const bool cbow = cfg->arch == W2V_CBOW, softmax = cfg->output == W2V_SOFTMAX;
    const int n = b->n, nin = cbow ? b->in_start[n] : n, K = softmax ? 0 : cfg->negative;
    const int d = cfg->dim;
    check_ids(m, b->input, nin, "input");
    check_ids(m, b->target, n, "target");
    if (!softmax) check_ids(m, b->neg, n * K, "negative");

    if (++w->step == 0) { /* marks wrapped around: forget them all */
        memset(w->gv.mark, 0, (size_t)m->nwords * sizeof *w->gv.mark);
        memset(w->gu.mark, 0, (size_t)m->nwords * sizeof *w->gu.mark);
        w->step = 1;
    }
    /* the rows the step moves: its inputs, and its targets and negatives (the full softmax: all) */
    for (int k = 0; k < nin; k++) touch(&w->gv, w->step, b->input[k]);
    if (softmax) {
        w->gu.all = true;
    } else {
        for (int p = 0; p < n; p++) {
            touch(&w->gu, w->step, b->target[p]);
            for (int k = 0; k < K; k++) touch(&w->gu, w->step, b->neg[p * K + k]);
        }
    }
    /* V and U read in place; only their gradients are the worker's */
    ad_real *V = ad_data(m->V), *U = ad_data(m->U);
    ad_tensor *Vt = ad_leaf(w->tp, m->nwords, d, V, w->gv.grad);
    ad_tensor *Ut = ad_leaf(w->tp, m->nwords, d, U, w->gu.grad);
    ad_tensor *J = loss_on_tape(w->tp, cfg, Vt, Ut, b, cbow && !cfg->cbow_mean_gradient);
    ad_backward(w->tp, J);
    const double loss = (double)ad_item(J);
    apply_shared(&w->gv, V, m->nwords, d, (ad_real)alpha);
    apply_shared(&w->gu, U, m->nwords, d, (ad_real)alpha);
    ad_tape_reset(w->tp);
    return loss;
}

/* -------------------------------------------------------------- training ---- */

/* A worker's run over its slice. Each starts on a cache line of its own: the counters are written
 * for every word, and two workers sharing a line would stall each other. */
typedef struct {
    _Alignas(64) w2v_model *m;
    w2v_worker *w;
    w2v_stats st;
    double loss_recent;
    long ex_recent, words_pending, words_reported;
    w2v_progress_fn fn;
    void *ctx;
} slice_run;

static void flush(slice_run *s, bool last) {
    w2v_worker *w = s->w;
    w2v_model *m = s->m;
    if (w->b_n > 0) {
        const long done = __atomic_load_n(&m->words_done, __ATOMIC_RELAXED);
        const double alpha = w2v_alpha(&m->cfg, done, m->words_total);
        const w2v_batch b = {w->b_n, w->b_in, m->cfg.arch == W2V_CBOW ? w->b_start : NULL,
                             w->b_target, m->cfg.output == W2V_NEGATIVE ? w->b_neg : NULL};
        const double J = w2v_worker_step(w, m, &b, alpha);
        s->st.loss += J;
        s->st.examples += w->b_n;
        s->loss_recent += J;
        s->ex_recent += w->b_n;
    }
    w->b_n = w->b_nin = 0;
    const long now = __atomic_add_fetch(&m->words_done, s->words_pending, __ATOMIC_RELAXED);
    s->words_pending = 0;
    if (s->fn && (last || s->st.words - s->words_reported >= 20000)) {
        s->fn(s->ctx, now, m->words_total, s->ex_recent ? s->loss_recent / s->ex_recent : 0);
        s->words_reported = s->st.words;
        s->loss_recent = 0;
        s->ex_recent = 0;
    }
}

/* Add one example to the batch being built: its input words, target and K fresh negatives. */
static void add_example(slice_run *s, const int *in, int nin, int target) {
    w2v_worker *w = s->w;
    const w2v_model *m = s->m;
    const int K = m->cfg.output == W2V_NEGATIVE ? m->cfg.negative : 0;
    grow_ints(&w->b_in, &w->b_cap_in, w->b_nin + nin);
    if (w->b_n + 2 > w->b_cap_ex) {
        int c = w->b_cap_ex ? 2 * w->b_cap_ex : 256;
        while (c < w->b_n + 2) c *= 2;
        w->b_target = xrealloc(w->b_target, (size_t)c * sizeof *w->b_target);
        w->b_start = xrealloc(w->b_start, (size_t)c * sizeof *w->b_start);
        w->b_neg = xrealloc(w->b_neg, (size_t)c * (size_t)(K ? K : 1) * sizeof *w->b_neg);
        w->b_cap_ex = c;
    }
    w->b_start[w->b_n] = w->b_nin;
    memcpy(w->b_in + w->b_nin, in, (size_t)nin * sizeof *in);
    w->b_nin += nin;
    w->b_target[w->b_n] = target;
    for (int k = 0; k < K; k++) {
        int neg = target;
        /* a negative equal to the target is drawn again (word2vec.c skips it) */
        for (int tries = 0; neg == target && tries < 16; tries++)
            neg = sampler_draw(m->neg, rng_next(&w->rng));
        w->b_neg[w->b_n * K + k] = neg;
    }
    w->b_n++;
    w->b_start[w->b_n] = w->b_nin;
}

/* One sentence (line) of ids: drop unknown and subsampled words, then make the examples of each
 * position with its dynamic window; a batch is trained every cfg.batch positions. */
static void run_sentence(slice_run *s, const int *ids, size_t len, int *centres) {
    w2v_worker *w = s->w;
    const w2v_model *m = s->m;
    const w2v_config *cfg = &m->cfg;
    if (len > w->sent_cap) {
        w->sent = xrealloc(w->sent, len * sizeof *w->sent);
        w->sent_cap = len;
    }
    size_t L = 0;
    for (size_t t = 0; t < len; t++) {
        const int id = ids[t];
        if (id == TEXT_UNK) continue;
        s->st.words++;
        s->words_pending++;
        if (m->keep[id] != UINT32_MAX && (uint32_t)rng_next(&w->rng) >= m->keep[id]) continue;
        w->sent[L++] = id;
    }
    s->st.kept += (long)L;
    int ctx[2 * 64];
    for (size_t i = 0; i < L; i++) {
        const size_t half = 1 + below(rng_next(&w->rng), (uint32_t)cfg->window);
        const size_t lo = i > half ? i - half : 0, hi = i + half < L ? i + half : L - 1;
        if (cfg->arch == W2V_SKIPGRAM) {
            for (size_t j = lo; j <= hi; j++)
                if (j != i) add_example(s, &w->sent[i], 1, w->sent[j]);
        } else {
            int nctx = 0;
            for (size_t j = lo; j <= hi; j++)
                if (j != i) {
                    if (nctx == (int)(sizeof ctx / sizeof ctx[0])) break;
                    ctx[nctx++] = w->sent[j];
                }
            if (nctx > 0) add_example(s, ctx, nctx, w->sent[i]);
        }
        if (++*centres == cfg->batch) {
            flush(s, false);
            *centres = 0;
        }
    }
}

static void run_slice(slice_run *s, const text_ids *c, size_t line_a, size_t line_b) {
    int centres = 0;
    for (size_t k = line_a; k < line_b; k++)
        run_sentence(s, c->ids + c->line_start[k], c->line_start[k + 1] - c->line_start[k],
                     &centres);
    flush(s, true);
}

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The first line of slice t of T: slices of nearly equal token counts. */
static size_t slice_start(const text_ids *c, int t, int T) {
    if (t == 0) return 0;
    if (t == T) return c->nlines;
    const size_t want = (size_t)((double)c->n * t / T);
    size_t lo = 0, hi = c->nlines; /* the first line starting at or after want */
    while (lo < hi) {
        const size_t mid = lo + (hi - lo) / 2;
        if (c->line_start[mid] < want) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

w2v_stats w2v_train_epoch(w2v_model *m, const text_ids *corpus, int epoch, w2v_progress_fn fn,
                          void *ctx) {
    if (!m || !m->ps || !corpus) ad_fail_at(__FILE__, __LINE__, "w2v_train_epoch", "NULL");
    if (epoch < 0 || epoch >= m->cfg.iter)
        ad_fail_at(__FILE__, __LINE__, "w2v_train_epoch", "epoch %d outside [0, %d)", epoch,
                   m->cfg.iter);
    if (m->cfg.window > 64)
        ad_fail_at(__FILE__, __LINE__, "w2v_train_epoch", "window %d > 64", m->cfg.window);
    for (size_t k = 0; k < corpus->n; k++)
        if (corpus->ids[k] < 0 || corpus->ids[k] >= m->nwords)
            ad_fail_at(__FILE__, __LINE__, "w2v_train_epoch", "corpus id %d at %zu is outside "
                       "the vocabulary [0, %d)", corpus->ids[k], k, m->nwords);
    long epoch_words = 0;
    for (size_t k = 0; k < corpus->n; k++) epoch_words += corpus->ids[k] != TEXT_UNK;
    m->words_total = epoch_words * m->cfg.iter;
    m->words_done = epoch_words * epoch;

    int T = m->cfg.threads > 0 ? m->cfg.threads : ad_num_threads();
    if ((size_t)T > corpus->nlines) T = corpus->nlines > 0 ? (int)corpus->nlines : 1;
    slice_run *runs = aligned_alloc(64, (size_t)T * sizeof *runs);
    if (!runs) ad_fail_at(__FILE__, __LINE__, "w2v_train_epoch", "out of memory");
    memset(runs, 0, (size_t)T * sizeof *runs);
    for (int t = 0; t < T; t++) {
        runs[t].m = m;
        runs[t].w = w2v_worker_new(m, mix_seed(m->cfg.seed, (uint64_t)epoch, (uint64_t)t));
        if (t == 0) {
            runs[t].fn = fn;
            runs[t].ctx = ctx;
        }
    }
    /* The workers own the cores: the ops and BLAS inside them run on one thread each. */
    const int saved = ad_num_threads();
    ad_set_num_threads(1);
    const double t0 = now_seconds();
    if (T == 1) {
        run_slice(&runs[0], corpus, 0, corpus->nlines);
    } else {
#pragma omp parallel for num_threads(T) schedule(static, 1)
        for (int t = 0; t < T; t++)
            run_slice(&runs[t], corpus, slice_start(corpus, t, T), slice_start(corpus, t + 1, T));
    }
    const double seconds = now_seconds() - t0;
    ad_set_num_threads(saved);

    w2v_stats st = {0};
    for (int t = 0; t < T; t++) {
        st.words += runs[t].st.words;
        st.kept += runs[t].st.kept;
        st.examples += runs[t].st.examples;
        st.loss += runs[t].st.loss;
        w2v_worker_free(runs[t].w);
    }
    free(runs);
    st.loss = st.examples ? st.loss / (double)st.examples : 0;
    st.seconds = seconds;
    return st;
}
