/*
 * glove.c — GloVe: window co-occurrence counts, FORMULAS §10's cost on the tape, and Stanford's
 * AdaGrad over shuffled pairs on several threads.
 *
 * Why each thread has its own small parameter store: a backward through ad_gather_rows adds into
 * the shared store's gradient block and appends to its list of touched rows, neither of which two
 * threads may do at once. So a thread copies the rows its batch needs into leaves of its own
 * (the gather), records the same cost on its own tape, and steps the shared rows with the
 * gradients it finds on those leaves (the scatter). The shared rows are written without locks:
 * the threads work on blocks of pairs that share no row (see struct glove_trainer), where
 * Stanford's glove lets them collide (Hogwild). glove_loss records the same cost through
 * ad_gather_rows on the store itself: the tests hold it to FORMULAS §10's closed form, and the
 * trainer's steps to Stanford's loop written out by hand.
 */
#include "glove.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "vecmath.h" /* AD_VECTOR_CLONES */

#define FAIL(op, ...) ad_fail_at(__FILE__, __LINE__, op, __VA_ARGS__)

/* The math of ad_real's precision (the tests run the double build). */
#ifdef AD_DOUBLE
#define R_SQRT sqrt
#define R_LOG log
#define R_EXP exp
#else
#define R_SQRT sqrtf
#define R_LOG logf
#define R_EXP expf
#endif

/* Ask for the cache line of p. GCC's dead-code elimination drops __builtin_prefetch in the loops
 * below (it finds them without effect), so on x86 the instruction is written out. */
static inline void prefetch_line(const void *p) {
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
    __asm__ volatile("prefetchw %0" : : "m"(*(const char *)p));
#else
    __builtin_prefetch(p, 1, 3);
#endif
}

/* ------------------------------------------------------- co-occurrences ---- */

/*
 * X is symmetric, so only the entries lo <= hi are kept while counting, and both orders are
 * written out at the end. The most frequent words (ids below DENSE_MAX, where most additions
 * land) get a dense triangle of doubles; entries with a rarer word live in open-addressing hash
 * tables (linear probing, 12-byte cells: one cache miss per addition), whose counts stay small
 * enough for a float.
 *
 * The entries are split into PARTS partitions by lo mod PARTS, each with its own hash table (and
 * its own cells of the triangle). Each thread reads the whole corpus and adds only the pairs of
 * its partitions, so no two threads write the same memory, and a partition sees its pairs in
 * corpus order whatever the number of threads: the pairs come out in the same order on 1 or 2
 * threads (a resumed run replays its shuffles on them).
 */
enum { DENSE_MAX = 4096, PARTS = 16 };
#define EMPTY UINT32_MAX

typedef struct cell {
    uint32_t lo, hi; /* lo == EMPTY: free */
    float x;
} cell;

typedef struct table {
    cell *cells;
    size_t cap; /* a power of two */
    size_t used;
    int bits;
} table;

typedef struct counter {
    int k;         /* ids below k are dense */
    double *dense; /* k (k + 1) / 2: entry (lo, hi) at hi (hi + 1) / 2 + lo */
    table part[PARTS];
} counter;

static size_t slot_of(uint32_t lo, uint32_t hi, int bits) {
    const uint64_t key = (uint64_t)lo << 32 | hi;
    return (size_t)((key * 0x9E3779B97F4A7C15ull) >> (64 - bits));
}

static bool table_alloc(table *h, int bits) {
    cell *cells = malloc(((size_t)1 << bits) * sizeof *cells);
    if (!cells) return false;
    *h = (table){.cells = cells, .cap = (size_t)1 << bits, .used = h->used, .bits = bits};
    for (size_t s = 0; s < h->cap; s++) h->cells[s].lo = EMPTY;
    return true;
}

/* Double the table when it is three quarters full. */
static bool table_grow(table *h) {
    const table old = *h;
    if (!table_alloc(h, old.bits + 1)) return false;
    const size_t mask = h->cap - 1;
    for (size_t s = 0; s < old.cap; s++) {
        if (old.cells[s].lo == EMPTY) continue;
        size_t t = slot_of(old.cells[s].lo, old.cells[s].hi, h->bits);
        while (h->cells[t].lo != EMPTY) t = (t + 1) & mask;
        h->cells[t] = old.cells[s];
    }
    free(old.cells);
    return true;
}

/* Where X_lo,hi is, or would first be looked for. */
static const void *counter_cell(const counter *c, uint32_t lo, uint32_t hi) {
    if (hi < (uint32_t)c->k) return &c->dense[(size_t)hi * (hi + 1) / 2 + lo];
    const table *h = &c->part[lo % PARTS];
    return &h->cells[slot_of(lo, hi, h->bits)];
}

/* X_lo,hi += x for lo <= hi. */
static bool counter_add(counter *c, uint32_t lo, uint32_t hi, double x) {
    if (hi < (uint32_t)c->k) {
        c->dense[(size_t)hi * (hi + 1) / 2 + lo] += x;
        return true;
    }
    table *h = &c->part[lo % PARTS];
    const size_t mask = h->cap - 1;
    size_t s = slot_of(lo, hi, h->bits);
    for (;; s = (s + 1) & mask) {
        cell *e = &h->cells[s];
        if (e->lo == lo && e->hi == hi) {
            e->x += (float)x;
            return true;
        }
        if (e->lo == EMPTY) break;
    }
    if ((h->used + 1) * 4 > h->cap * 3) /* the slot found moves with the table */
        return table_grow(h) && counter_add(c, lo, hi, x);
    h->cells[s] = (cell){lo, hi, (float)x};
    h->used++;
    return true;
}

/* The pairs of one span of tokens (a line, or the whole corpus) that fall in the partitions this
 * thread owns (own[lo % PARTS]): each token with the `window` kept tokens before it, at distance
 * d = 1, 2, ...; two tokens a, b add to X_ab and X_ba, so X_aa gains twice. hist: a ring of the
 * last `window` ids. <unk> tokens are skipped. */
static bool count_span(counter *c, const int *ids, size_t n, int window, const double *weight,
                       int *hist, const bool *own) {
    int kept = 0, head = 0; /* kept: tokens in the ring (at most window); head: the next slot */
    for (size_t p = 0; p < n; p++) {
        const uint32_t w = (uint32_t)ids[p];
        if (w == TEXT_UNK) continue;
        for (int d = 1, at = head - 1; d <= kept; d++, at--) { /* the cells first: their */
            if (at < 0) at += window;                           /* misses overlap */
            const uint32_t v = (uint32_t)hist[at], lo = v < w ? v : w, hi = v < w ? w : v;
            if (own[lo % PARTS]) prefetch_line(counter_cell(c, lo, hi));
        }
        for (int d = 1, at = head - 1; d <= kept; d++, at--) {
            if (at < 0) at += window;
            const uint32_t v = (uint32_t)hist[at], lo = v < w ? v : w, hi = v < w ? w : v;
            if (own[lo % PARTS] && !counter_add(c, lo, hi, lo == hi ? 2 * weight[d] : weight[d]))
                return false;
        }
        hist[head] = (int)w;
        head = head + 1 == window ? 0 : head + 1;
        kept += kept < window;
    }
    return true;
}

static void counter_free(counter *c) {
    free(c->dense);
    for (int p = 0; p < PARTS; p++) free(c->part[p].cells);
}

/* Both orders of every entry: (lo, hi) and (hi, lo), once for lo == hi. The triangle first, then
 * the partitions in order. */
static nn_status counter_emit(const counter *c, glove_cooc *out) {
    size_t n = 0;
    for (int hi = 0; hi < c->k; hi++)
        for (int lo = 0; lo <= hi; lo++)
            if (c->dense[(size_t)hi * (size_t)(hi + 1) / 2 + (size_t)lo] != 0) n += lo == hi ? 1 : 2;
    for (int q = 0; q < PARTS; q++)
        for (size_t s = 0; s < c->part[q].cap; s++)
            if (c->part[q].cells[s].lo != EMPTY)
                n += c->part[q].cells[s].lo == c->part[q].cells[s].hi ? 1 : 2;
    if (n == 0) return nn_set_error(NN_ERR_FORMAT, "glove_count: no co-occurrences (no two words "
                                                   "of the vocabulary within a window)");
    glove_pair *p = malloc(n * sizeof *p);
    if (!p) return nn_set_error(NN_ERR_MEMORY, "glove_count: no memory for %zu pairs", n);
    size_t k = 0;
    for (int hi = 0; hi < c->k; hi++)
        for (int lo = 0; lo <= hi; lo++) {
            const double x = c->dense[(size_t)hi * (size_t)(hi + 1) / 2 + (size_t)lo];
            if (x == 0) continue;
            p[k++] = (glove_pair){lo, hi, (float)x};
            if (lo != hi) p[k++] = (glove_pair){hi, lo, (float)x};
        }
    for (int q = 0; q < PARTS; q++)
        for (size_t s = 0; s < c->part[q].cap; s++) {
            const cell e = c->part[q].cells[s];
            if (e.lo == EMPTY) continue;
            p[k++] = (glove_pair){(int)e.lo, (int)e.hi, e.x};
            if (e.lo != e.hi) p[k++] = (glove_pair){(int)e.hi, (int)e.lo, e.x};
        }
    out->n = n;
    out->pairs = p;
    return NN_OK;
}

/* Thread `me` of `team` counts its partitions over every line (or the whole stream). */
static bool count_all(counter *c, const text_ids *t, bool across_lines, int window,
                      const double *weight, int me, int team) {
    int *hist = malloc((size_t)window * sizeof *hist);
    bool own[PARTS], ok = hist != NULL;
    for (int q = 0; q < PARTS; q++) own[q] = q % team == me;
    if (ok && (across_lines || !t->line_start || t->nlines == 0)) {
        ok = count_span(c, t->ids, t->n, window, weight, hist, own);
    } else {
        for (size_t l = 0; l < t->nlines && ok; l++) {
            const size_t a = t->line_start[l], b = t->line_start[l + 1];
            ok = count_span(c, t->ids + a, b - a, window, weight, hist, own);
        }
    }
    free(hist);
    return ok;
}

nn_status glove_count(glove_cooc *out, const text_ids *t, int vocab,
                      const glove_count_config *cfg) {
    static const char op[] = "glove_count";
    if (!out || !t) FAIL(op, "the %s is NULL", out ? "corpus" : "output");
    if (vocab < 1) FAIL(op, "a vocabulary of %d words", vocab);
    if (t->n > 0 && !t->ids) FAIL(op, "the corpus has %zu tokens but no ids", t->n);
    const glove_count_config def = {0};
    if (!cfg) cfg = &def;
    const int window = cfg->window ? cfg->window : 10;
    if (window < 1) FAIL(op, "window %d; needs at least 1", window);
    /* every check before the threads start: a contract error must not leave from inside them */
    for (size_t p = 0; p < t->n; p++)
        if (t->ids[p] < 0 || t->ids[p] >= vocab)
            FAIL(op, "token %zu has id %d, outside the vocabulary [0, %d)", p, t->ids[p], vocab);
    for (size_t l = 0; t->line_start && l < t->nlines; l++)
        if (t->line_start[l] > t->line_start[l + 1] || t->line_start[l + 1] > t->n)
            FAIL(op, "line %zu spans tokens [%zu, %zu) of %zu", l, t->line_start[l],
                 t->line_start[l + 1], t->n);
    *out = (glove_cooc){.vocab = vocab};

    double weight[1001];
    double *wt = window <= 1000 ? weight : malloc(((size_t)window + 1) * sizeof *wt);
    counter c = {.k = vocab < DENSE_MAX ? vocab : DENSE_MAX};
    c.dense = calloc((size_t)c.k * (size_t)(c.k + 1) / 2, sizeof *c.dense);
    bool ok = wt && c.dense;
    for (int q = 0; q < PARTS && ok; q++) ok = table_alloc(&c.part[q], 12);
    nn_status st = NN_OK;
    if (!ok) {
        st = nn_set_error(NN_ERR_MEMORY, "glove_count: no memory for the count tables");
        goto done;
    }
    for (int d = 1; d <= window; d++) wt[d] = cfg->unweighted ? 1.0 : 1.0 / d;

    int team = ad_num_threads() < PARTS ? ad_num_threads() : PARTS;
    if (t->n < 100000) team = 1; /* not worth a team */
    if (team <= 1) {
        ok = count_all(&c, t, cfg->across_lines, window, wt, 0, 1);
    } else {
#ifdef _OPENMP
#pragma omp parallel num_threads(team) reduction(&& : ok)
        ok = count_all(&c, t, cfg->across_lines, window, wt, omp_get_thread_num(),
                       omp_get_num_threads());
#else
        ok = count_all(&c, t, cfg->across_lines, window, wt, 0, 1);
#endif
    }
    if (!ok) {
        st = nn_set_error(NN_ERR_MEMORY, "glove_count: no memory for the distinct pairs");
        goto done;
    }
    st = counter_emit(&c, out);
done:
    counter_free(&c);
    if (wt != weight) free(wt);
    return st;
}

void glove_cooc_free(glove_cooc *c) {
    if (!c) return;
    free(c->pairs);
    *c = (glove_cooc){0};
}

double glove_cooc_get(const glove_cooc *c, int i, int j) {
    for (size_t k = 0; k < c->n; k++)
        if (c->pairs[k].i == i && c->pairs[k].j == j) return c->pairs[k].x;
    return 0;
}

/* ----------------------------------------------------------------- model ---- */

double glove_weight(double x, double x_max, double alpha) {
    return x < x_max ? pow(x / x_max, alpha) : 1.0;
}

void glove_init(glove *g, ad_params *ps, int vocab, int dim, nn_rng *r) {
    if (!g || !ps || !r) FAIL("glove_init", "a NULL argument");
    if (vocab < 1 || dim < 1) FAIL("glove_init", "vocab %d, dim %d; both need at least 1", vocab,
                                   dim);
    *g = (glove){.vocab = vocab, .dim = dim};
    g->W = ad_param(ps, "glove.W", vocab, dim);
    g->Wt = ad_param(ps, "glove.Wt", vocab, dim);
    g->b = ad_param(ps, "glove.b", vocab, 1);
    g->bt = ad_param(ps, "glove.bt", vocab, 1);
    g->GW = ad_param(ps, "glove.W.G", vocab, dim);
    g->GWt = ad_param(ps, "glove.Wt.G", vocab, dim);
    g->Gb = ad_param(ps, "glove.b.G", vocab, 1);
    g->Gbt = ad_param(ps, "glove.bt.G", vocab, 1);
    /* Stanford's scale: ±0.5 over dim + 1 values per row (the vector and its bias). */
    const double a = 0.5 / (dim + 1);
    ad_tensor *values[] = {g->W, g->Wt, g->b, g->bt};
    for (int k = 0; k < 4; k++) nn_init_uniform(values[k], -a, a, r);
    ad_tensor *acc[] = {g->GW, g->GWt, g->Gb, g->Gbt};
    for (int k = 0; k < 4; k++) {
        nn_init_constant(acc[k], 1.0);
        ad_param_set_frozen(acc[k], true);
    }
}

/* J = Σ_k f_k (w_k · w̃_k + b_k + b̃_k − log x_k)² from a batch's rows (n x dim, n x 1). */
static ad_tensor *cost_of_rows(ad_tape *tp, ad_tensor *wi, ad_tensor *wj, ad_tensor *bi,
                               ad_tensor *bj, const ad_real *logx, const ad_real *fx) {
    const int n = ad_rows(wi);
    ad_tensor *s = ad_add(tp, ad_add(tp, ad_rowdot(tp, wi, wj), bi), bj); /* n x 1 */
    ad_tensor *diff = ad_sub(tp, s, ad_input(tp, n, 1, logx));
    return ad_sum(tp, ad_mul(tp, ad_input(tp, n, 1, fx), ad_square(tp, diff)));
}

ad_tensor *glove_loss(ad_tape *tp, const glove *g, const glove_pair *pairs, int n, double x_max,
                      double alpha) {
    static const char op[] = "glove_loss";
    if (!tp || !g || !pairs) FAIL(op, "a NULL argument");
    if (n < 1) FAIL(op, "%d pairs; needs at least 1", n);
    if (x_max == 0) x_max = GLOVE_X_MAX;
    if (alpha == 0) alpha = GLOVE_ALPHA;
    int *ii = ad_tape_scratch(tp, 2 * (size_t)n * sizeof *ii), *jj = ii + n;
    ad_real *logx = ad_tape_scratch(tp, 2 * (size_t)n * sizeof *logx), *fx = logx + n;
    for (int k = 0; k < n; k++) {
        const glove_pair p = pairs[k];
        if (!(p.x > 0)) FAIL(op, "pair %d (%d, %d) has count %g; needs > 0", k, p.i, p.j, p.x);
        ii[k] = p.i;
        jj[k] = p.j;
        logx[k] = (ad_real)log(p.x);
        fx[k] = (ad_real)glove_weight(p.x, x_max, alpha);
    }
    return cost_of_rows(tp, ad_gather_rows(tp, g->W, ii, n), ad_gather_rows(tp, g->Wt, jj, n),
                        ad_gather_rows(tp, g->b, ii, n), ad_gather_rows(tp, g->bt, jj, n), logx,
                        fx);
}

/* -------------------------------------------------------------- training ---- */

/* One thread's tape, and leaves holding the rows of its current batch. */
typedef struct worker {
    ad_tape *tp;
    ad_params *ps;
    ad_tensor *wi, *wj, *bi, *bj; /* batch x dim, batch x dim, batch x 1, batch x 1 */
    ad_real *logx, *fx;           /* batch each */
    double cost;
    size_t done, next_report;
    char pad[64]; /* keeps the counters of two threads off one cache line */
} worker;

/* The shared tables' values, read once: the store does not move while the trainer lives. */
typedef struct tables {
    ad_real *W, *Wt, *b, *bt, *GW, *GWt, *Gb, *Gbt;
} tables;

/*
 * On T > 1 threads the pairs are split into T x T blocks by the groups of their two words, and an
 * epoch is T rounds: in round r thread k takes block (k, (k + r) mod T), so two threads never
 * write the same row of W or W̃ at once. Plain Hogwild, where any thread may step any row, keeps
 * the frequent words' rows bouncing between the cores' caches: on this project's 2-core machine
 * it ran 1.2x faster on 2 threads than on 1; the blocks run 1.8-2x faster. A group
 * is every T-th run of 16 ids (ids run by falling frequency, so the groups are about as busy):
 * 16 biases fill a cache line, as do 16 rows of any width, so no line is shared either (the
 * store aligns every parameter). Each block is shuffled on its own stream: an epoch comes out the
 * same whatever the timing of the threads, though not as on one thread.
 */
struct glove_trainer {
    glove *g;
    tables m;
    glove_cooc *c;
    glove_train_config cfg;
    nn_rng rng;         /* one thread: the shuffle of all pairs */
    int epoch;
    int nworkers;
    worker *w;
    int groups;         /* T: 1 for one thread */
    size_t *block;      /* T·T + 1 offsets: block (a, b) is pairs [block[aT+b], block[aT+b+1]) */
    nn_rng *block_rng;  /* T·T: each block's shuffle */
};

static void worker_free(worker *w) {
    ad_tape_free(w->tp);
    ad_params_free(w->ps);
    free(w->logx);
}

static bool worker_init(worker *w, int batch, int dim) {
    *w = (worker){.tp = ad_tape_new(), .ps = ad_params_new()};
    w->wi = ad_param(w->ps, "wi", batch, dim);
    w->wj = ad_param(w->ps, "wj", batch, dim);
    w->bi = ad_param(w->ps, "bi", batch, 1);
    w->bj = ad_param(w->ps, "bj", batch, 1);
    w->logx = calloc(2 * (size_t)batch, sizeof *w->logx);
    w->fx = w->logx ? w->logx + batch : NULL;
    return w->logx != NULL;
}

static int group_of(int word, int T) { return word / 16 % T; }
static int block_of(glove_pair p, int T) { return group_of(p.i, T) * T + group_of(p.j, T); }

/* Group the pairs into the T x T blocks, in place (one pass of swaps, as a radix sort's). */
static bool make_blocks(glove_trainer *t) {
    const int T = t->cfg.threads < 2 || t->c->n < 2 * (size_t)t->cfg.threads ? 1 : t->cfg.threads;
    const int nb = T * T;
    t->groups = T;
    t->block = calloc((size_t)nb + 1, sizeof *t->block);
    t->block_rng = malloc((size_t)nb * sizeof *t->block_rng);
    size_t *next = malloc((size_t)nb * sizeof *next);
    if (!t->block || !t->block_rng || !next) {
        free(next);
        return false;
    }
    glove_pair *p = t->c->pairs;
    const size_t n = t->c->n;
    for (size_t k = 0; k < n; k++) t->block[block_of(p[k], T) + 1]++;
    for (int b = 0; b < nb; b++) {
        t->block[b + 1] += t->block[b];
        next[b] = t->block[b];
        t->block_rng[b] = nn_rng_new(t->cfg.seed + 0x9E3779B97F4A7C15ull * (uint64_t)(b + 1));
    }
    for (int b = 0; b < nb; b++)
        while (next[b] < t->block[b + 1]) {
            const int home = block_of(p[next[b]], T);
            if (home == b) {
                next[b]++;
            } else { /* send it home, and look at what came back */
                const glove_pair tmp = p[next[home]];
                p[next[home]++] = p[next[b]];
                p[next[b]] = tmp;
            }
        }
    free(next);
    return true;
}

glove_trainer *glove_trainer_new(glove *g, glove_cooc *c, const glove_train_config *cfg) {
    static const char op[] = "glove_trainer_new";
    if (!g || !c) FAIL(op, "a NULL argument");
    if (c->n > 0 && !c->pairs) FAIL(op, "%zu pairs but no array", c->n);
    for (size_t k = 0; k < c->n; k++) {
        const glove_pair p = c->pairs[k];
        if (p.i < 0 || p.i >= g->vocab || p.j < 0 || p.j >= g->vocab || !(p.x > 0))
            FAIL(op, "pair %zu (%d, %d, %g) is outside the model's %d words or not > 0", k, p.i,
                 p.j, p.x, g->vocab);
    }
    glove_train_config k = cfg ? *cfg : (glove_train_config){0};
    if (k.lr == 0) k.lr = 0.05;
    if (k.bias_lr == 0) k.bias_lr = k.lr;
    if (k.x_max == 0) k.x_max = GLOVE_X_MAX;
    if (k.alpha == 0) k.alpha = GLOVE_ALPHA;
    if (k.grad_clip == 0) k.grad_clip = 100;
    if (k.batch == 0) k.batch = 128;
    if (k.threads == 0) k.threads = ad_num_threads();
    if (k.progress_every == 0) k.progress_every = 1000000;
    if (!(k.lr > 0) || !(k.bias_lr > 0) || !(k.x_max > 0) || !(k.alpha > 0) || k.batch < 1 ||
        k.threads < 1)
        FAIL(op, "lr %g, bias_lr %g, x_max %g, alpha %g, batch %d, threads %d: all must be > 0",
             k.lr, k.bias_lr, k.x_max, k.alpha, k.batch, k.threads);

    glove_trainer *t = calloc(1, sizeof *t);
    if (!t) {
        nn_set_error(NN_ERR_MEMORY, "glove_trainer_new: no memory");
        return NULL;
    }
    *t = (glove_trainer){.g = g, .c = c, .cfg = k, .rng = nn_rng_new(k.seed)};
    t->m = (tables){ad_data(g->W),  ad_data(g->Wt),  ad_data(g->b),  ad_data(g->bt),
                    ad_data(g->GW), ad_data(g->GWt), ad_data(g->Gb), ad_data(g->Gbt)};
    t->w = calloc((size_t)k.threads, sizeof *t->w);
    bool ok = t->w != NULL;
    while (ok && t->nworkers < k.threads) ok = worker_init(&t->w[t->nworkers++], k.batch, g->dim);
    if (!ok || !make_blocks(t)) {
        glove_trainer_free(t);
        nn_set_error(NN_ERR_MEMORY, "glove_trainer_new: no memory for %d threads' batches",
                     k.threads);
        return NULL;
    }
    return t;
}

void glove_trainer_free(glove_trainer *t) {
    if (!t) return;
    for (int i = 0; i < t->nworkers; i++) worker_free(&t->w[i]);
    free(t->w);
    free(t->block);
    free(t->block_rng);
    free(t);
}

const glove_train_config *glove_trainer_config(const glove_trainer *t) { return &t->cfg; }
int glove_trainer_epoch(const glove_trainer *t) { return t->epoch; }

/*
 * Stanford's AdaGrad on one row: θ −= η g / √G, then G += (η g)², g clipped to ±clip. A square
 * root and a division per value make this loop a large part of an epoch; the build's baseline
 * (SSE2) does 4 at a time, so the CPU's wider units are chosen when the library loads (AVX2: 8,
 * AVX-512: 16). Both are correctly rounded in every width: the results do not change.
 */
AD_VECTOR_CLONES
static void adagrad_row(ad_real *restrict theta, ad_real *restrict G, const ad_real *restrict g,
                        int d, ad_real lr, ad_real clip) {
    for (int c = 0; c < d; c++) {
        ad_real gc = g[c] > clip ? clip : g[c] < -clip ? -clip : g[c];
        const ad_real u = lr * gc;
        theta[c] -= u / R_SQRT(G[c]);
        G[c] += u * u;
    }
}

/*
 * The shared rows are 4 tables of vocab x dim (tens of MB): each pair's rows are cache misses,
 * and they, not the arithmetic, set the speed. So while copying pair k's rows the rows of pair
 * k + PREFETCH_AHEAD are requested, accumulators included, which the steps after the backward
 * then find in cache (a batch's rows fit in L2).
 */
enum { PREFETCH_AHEAD = 8 };

static void prefetch_row(const ad_real *row, size_t n) {
    for (const char *p = (const char *)row, *end = (const char *)(row + n); p < end; p += 64)
        prefetch_line(p);
}

static void prefetch_pair(const tables *m, size_t d, glove_pair q) {
    const size_t i = (size_t)q.i, j = (size_t)q.j;
    prefetch_row(m->W + i * d, d);
    prefetch_row(m->Wt + j * d, d);
    prefetch_row(m->GW + i * d, d);
    prefetch_row(m->GWt + j * d, d);
    prefetch_line(m->b + i);
    prefetch_line(m->bt + j);
    prefetch_line(m->Gb + i);
    prefetch_line(m->Gbt + j);
}

/* The same for a bias, not clipped (as Stanford's). */
static void adagrad_bias(ad_real *theta, ad_real *G, ad_real g, ad_real lr) {
    const ad_real u = lr * g;
    *theta -= u / R_SQRT(*G);
    *G += u * u;
}

/* One batch of n pairs: gather their rows into the leaves, record ½J, backward, and step the
 * shared rows. Rows n .. batch-1 of the leaves are padding with weight 0. Returns ½J. */
static double run_batch(const glove_trainer *t, worker *w, const glove_pair *p, int n) {
    const glove *g = t->g;
    const size_t d = (size_t)g->dim;
    const int B = t->cfg.batch;
    const tables *m = &t->m;
    ad_real *wi = ad_data(w->wi), *wj = ad_data(w->wj), *bi = ad_data(w->bi),
            *bj = ad_data(w->bj);
    const double log_xmax = log(t->cfg.x_max);
    const ad_real alpha = (ad_real)t->cfg.alpha;
    for (int k = 0; k < n && k < PREFETCH_AHEAD; k++) prefetch_pair(m, d, p[k]);
    for (int k = 0; k < n; k++) {
        if (k + PREFETCH_AHEAD < n) prefetch_pair(m, d, p[k + PREFETCH_AHEAD]);
        const size_t i = (size_t)p[k].i, j = (size_t)p[k].j;
        memcpy(wi + (size_t)k * d, m->W + i * d, d * sizeof *wi);
        memcpy(wj + (size_t)k * d, m->Wt + j * d, d * sizeof *wj);
        bi[k] = m->b[i];
        bj[k] = m->bt[j];
        const ad_real lx = R_LOG((ad_real)p[k].x);
        w->logx[k] = lx;
        w->fx[k] = p[k].x < t->cfg.x_max ? R_EXP(alpha * (lx - (ad_real)log_xmax)) : 1;
    }
    for (int k = n; k < B; k++) w->fx[k] = w->logx[k] = 0;

    ad_tape *tp = w->tp;
    ad_tensor *loss = ad_scale(tp, cost_of_rows(tp, w->wi, w->wj, w->bi, w->bj, w->logx, w->fx),
                               0.5);
    ad_params_zero_grad(w->ps);
    ad_backward(tp, loss);
    const double cost = ad_item(loss);

    const ad_real *gwi = ad_grad(w->wi), *gwj = ad_grad(w->wj), *gbi = ad_grad(w->bi),
                  *gbj = ad_grad(w->bj);
    const ad_real lr = (ad_real)t->cfg.lr, blr = (ad_real)t->cfg.bias_lr;
    const ad_real clip = t->cfg.grad_clip < 0 ? (ad_real)INFINITY : (ad_real)t->cfg.grad_clip;
    for (int k = 0; k < n; k++) {
        const size_t i = (size_t)p[k].i, j = (size_t)p[k].j;
        adagrad_row(m->W + i * d, m->GW + i * d, gwi + (size_t)k * d, (int)d, lr, clip);
        adagrad_row(m->Wt + j * d, m->GWt + j * d, gwj + (size_t)k * d, (int)d, lr, clip);
        adagrad_bias(m->b + i, m->Gb + i, gbi[k], blr);
        adagrad_bias(m->bt + j, m->Gbt + j, gbj[k], blr);
    }
    ad_tape_reset(tp);
    return cost;
}

/* Worker w trains on pairs [lo, hi) in batches. Thread 0, the caller's, reports progress,
 * counting `scale` pairs for each of its own (its share of all threads' work). */
static void work(glove_trainer *t, worker *w, size_t lo, size_t hi, bool report, size_t scale) {
    const size_t B = (size_t)t->cfg.batch;
    for (size_t k = lo; k < hi; k += B) {
        const int m = (int)(hi - k < B ? hi - k : B);
        w->cost += run_batch(t, w, t->c->pairs + k, m);
        w->done += (size_t)m;
        if (report && t->cfg.progress && w->done >= w->next_report) {
            t->cfg.progress(t->cfg.progress_ctx, w->done * scale, w->cost / (double)w->done);
            w->next_report += t->cfg.progress_every;
        }
    }
}

/* Fisher–Yates over the pairs themselves, so that the threads then read them in order. Each
 * swap is a cache miss into hundreds of MB: the positions are drawn SHUFFLE_AHEAD swaps early
 * (the same draws in the same order) and their pairs requested, so the misses overlap. */
enum { SHUFFLE_AHEAD = 16 };

static size_t draw_below(nn_rng *r, size_t k) {
    return k <= UINT32_MAX ? nn_rng_below(r, (uint32_t)k) : (size_t)(nn_rng_uniform(r) * (double)k);
}

static void shuffle(glove_pair *p, size_t n, nn_rng *r) {
    size_t ahead[SHUFFLE_AHEAD]; /* the position drawn for k is in ahead[(n - k) % AHEAD] */
    for (size_t q = 0; q < SHUFFLE_AHEAD && n - q > 1 && q < n; q++) {
        ahead[q] = draw_below(r, n - q);
        prefetch_line(&p[ahead[q]]);
    }
    for (size_t k = n; k > 1; k--) {
        const size_t slot = (n - k) % SHUFFLE_AHEAD, j = ahead[slot];
        if (k > SHUFFLE_AHEAD + 1) {
            ahead[slot] = draw_below(r, k - SHUFFLE_AHEAD);
            prefetch_line(&p[ahead[slot]]);
        }
        const glove_pair tmp = p[k - 1];
        p[k - 1] = p[j];
        p[j] = tmp;
    }
}

static void shuffle_block(glove_trainer *t, int b) {
    shuffle(t->c->pairs + t->block[b], t->block[b + 1] - t->block[b], &t->block_rng[b]);
}

/* Thread `id` of T: its share of the block shuffles, then its block of each round. */
static void epoch_in_blocks(glove_trainer *t, int id) {
    const int T = t->groups;
    for (int b = id; b < T * T; b += T) shuffle_block(t, b);
#ifdef _OPENMP
#pragma omp barrier
#endif
    for (int r = 0; r < T; r++) {
        const int b = id * T + (id + r) % T;
        work(t, &t->w[id], t->block[b], t->block[b + 1], id == 0, (size_t)T);
#ifdef _OPENMP
#pragma omp barrier
#endif
    }
}

double glove_train_epoch(glove_trainer *t) {
    if (!t) FAIL("glove_train_epoch", "the trainer is NULL");
    if (t->c->n == 0) FAIL("glove_train_epoch", "no pairs to train on");
    for (int i = 0; i < t->nworkers; i++) {
        t->w[i].cost = 0;
        t->w[i].done = 0;
        t->w[i].next_report = t->cfg.progress_every;
    }
    const int T = t->groups;
    bool done = false;
    if (T == 1) { /* no OpenMP region on one thread: it would allocate a team each time */
        shuffle(t->c->pairs, t->c->n, &t->rng);
        work(t, &t->w[0], 0, t->c->n, true, 1);
        done = true;
    }
#ifdef _OPENMP
    if (!done) {
        int got = 0;
#pragma omp parallel num_threads(T)
        {
            const int team = omp_get_num_threads(); /* OpenMP may give fewer */
            if (omp_get_thread_num() == 0) got = team;
            if (team == T) epoch_in_blocks(t, omp_get_thread_num());
        }
        done = got == T;
    }
#endif
    if (!done) { /* fewer threads than blocks need: the rounds one after another */
        for (int b = 0; b < T * T; b++) shuffle_block(t, b);
        for (int r = 0; r < T; r++)
            for (int id = 0; id < T; id++) {
                const int b = id * T + (id + r) % T;
                work(t, &t->w[0], t->block[b], t->block[b + 1], true, 1);
            }
    }
    double cost = 0;
    for (int i = 0; i < t->nworkers; i++) cost += t->w[i].cost;
    t->epoch++;
    return cost / (double)t->c->n;
}

void glove_trainer_skip(glove_trainer *t, int epochs) {
    if (!t || epochs < 0) FAIL("glove_trainer_skip", "a NULL trainer or %d epochs", epochs);
    if (t->epoch != 0) FAIL("glove_trainer_skip", "the trainer has already run %d epochs",
                            t->epoch);
    for (int e = 0; e < epochs; e++) {
        if (t->groups == 1) shuffle(t->c->pairs, t->c->n, &t->rng);
        for (int b = 0; t->groups > 1 && b < t->groups * t->groups; b++) shuffle_block(t, b);
    }
    t->epoch = epochs;
}

/* --------------------------------------------------------------- vectors ---- */

nn_status glove_table(const glove *g, const text_vocab *v, wv_table *out) {
    if (!g || !v || !out) FAIL("glove_table", "a NULL argument");
    if (text_vocab_size(v) != g->vocab)
        FAIL("glove_table", "the vocabulary has %d words, the model %d", text_vocab_size(v),
             g->vocab);
    const int n = g->vocab - 1;
    const size_t d = (size_t)g->dim;
    if (n < 1) return nn_set_error(NN_ERR_FORMAT, "glove_table: no words besides <unk>");
    const char **words = malloc((size_t)n * sizeof *words);
    ad_real *vec = malloc((size_t)n * d * sizeof *vec);
    if (!words || !vec) {
        free(words);
        free(vec);
        return nn_set_error(NN_ERR_MEMORY, "glove_table: no memory for %d vectors", n);
    }
    const ad_real *W = ad_data(g->W), *Wt = ad_data(g->Wt);
    for (int k = 0; k < n; k++) {
        words[k] = text_vocab_word(v, k + 1);
        for (size_t c = 0; c < d; c++)
            vec[(size_t)k * d + c] = W[(size_t)(k + 1) * d + c] + Wt[(size_t)(k + 1) * d + c];
    }
    nn_status st = wv_table_make(out, n, (int)d, words, vec);
    free(words);
    free(vec);
    return st;
}
