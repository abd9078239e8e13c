/*
 * bench.c — training speed of the float library, as a user's program sees it (issue 5).
 *
 * For each configuration a model is built from nn.h and trained on seeded random ids: every step
 * is a full forward, backward and plain SGD update (nn_train_step with nn_optim NN_SGD). After a
 * warm-up, R timed repetitions of S steps each give tokens/s (median, min, max). The matrix work
 * of a step is counted analytically as a list of GEMMs (M, N, K, transposes, beta) — what the step
 * has to compute, whoever computes it — and each of those shapes is then timed alone through
 * cblas_sgemm in the same run with the same thread count: the time the step's products would take
 * at sgemm's own speed is the "sgemm peak" the step is measured against.
 *
 * Three more things are measured on the way:
 *   - heap calls per steady step: malloc and friends are replaced here by counting ones that
 *     forward to glibc (as tests/test_alloc.c does), counted over all timed repetitions;
 *   - a check of the analytic GEMM list: cblas_sgemm is interposed too, one step is recorded, and
 *     its shapes are compared with the list (a library that fuses or splits products shows here);
 *   - the tape's cost per recorded op: a chain of ad_add/ad_mul on 1 x 1 tensors, forward only and
 *     forward + backward.
 *
 *   bench [--config a,b,c,d,tape] [--threads 1,2] [--reps N] [--quick] [--csv FILE] [--shapes]
 * (--help lists the rest). bench/run runs it beside PyTorch; bench/README.md explains the figures.
 */
#include "nn.h"

#include <cblas.h>
#include <dlfcn.h>
#include <errno.h>
#include <execinfo.h>
#include <malloc.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------- heap counting ---- */

extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t count, size_t n);
extern void *__libc_realloc(void *p, size_t n);
extern void __libc_free(void *p);
extern void *__libc_memalign(size_t align, size_t n);

/* Atomic: OpenMP and OpenBLAS threads may allocate while the main thread counts. */
static atomic_bool heap_counting;
static atomic_long heap_calls, heap_calls_blas;
/* Set while this thread is inside cblas_sgemm (interposed below): OpenBLAS's threaded GEMM
 * allocates its job array on every call, and that is told apart from the library's own calls. */
static _Thread_local bool in_blas;
static atomic_int heap_traces; /* --heap-trace N: print the stacks of the first N calls counted */
static _Thread_local bool heap_tracing; /* backtrace() may allocate: no trace of the trace */

static void heap_count(void) {
    if (!atomic_load_explicit(&heap_counting, memory_order_relaxed)) return;
    atomic_fetch_add_explicit(in_blas ? &heap_calls_blas : &heap_calls, 1, memory_order_relaxed);
    if (atomic_load_explicit(&heap_traces, memory_order_relaxed) > 0 && !heap_tracing &&
        atomic_fetch_sub(&heap_traces, 1) > 0) {
        heap_tracing = true;
        void *frames[24];
        const int n = backtrace(frames, 24);
        static const char rule[] = "bench: heap call during a steady step:\n";
        fflush(stderr);
        if (write(2, rule, sizeof rule - 1) < 0) { /* nothing to do about it */ }
        backtrace_symbols_fd(frames, n, 2); /* writes without allocating */
        heap_tracing = false;
    }
}

void *malloc(size_t n) {
    heap_count();
    return __libc_malloc(n);
}
void *calloc(size_t count, size_t n) {
    heap_count();
    return __libc_calloc(count, n);
}
void *realloc(void *p, size_t n) {
    heap_count();
    return __libc_realloc(p, n);
}
void free(void *p) {
    if (p) heap_count(); /* free(NULL) touches no heap */
    __libc_free(p);
}
int posix_memalign(void **out, size_t align, size_t n) {
    heap_count();
    if (align % sizeof(void *) != 0 || (align & (align - 1)) != 0) return EINVAL;
    void *p = __libc_memalign(align, n);
    if (!p) return ENOMEM;
    *out = p;
    return 0;
}
void *aligned_alloc(size_t align, size_t n) {
    heap_count();
    return __libc_memalign(align, n);
}
void *memalign(size_t align, size_t n) {
    heap_count();
    return __libc_memalign(align, n);
}

static void heap_start(void) {
    atomic_store(&heap_calls, 0);
    atomic_store(&heap_calls_blas, 0);
    atomic_store(&heap_counting, true);
}
/* Stop counting; return the heap calls made outside cblas_sgemm, and set *blas to those inside. */
static long heap_stop(long *blas) {
    atomic_store(&heap_counting, false);
    if (blas) *blas = atomic_load(&heap_calls_blas);
    return atomic_load(&heap_calls);
}

/* ----------------------------------------------------------- utilities ---- */

static _Noreturn void die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("bench: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(2);
}

static void *xmalloc(size_t n) {
    void *p = malloc(n);
    if (!p) die("out of memory (%zu bytes)", n);
    return p;
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct stats {
    double median, min, max;
} stats;

static int cmp_double(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median (the mean of the middle two for an even count), min and max of n values. */
static stats stats_of(const double *v, int n) {
    double s[64];
    if (n < 1 || n > 64) die("stats of %d values", n);
    memcpy(s, v, (size_t)n * sizeof *s);
    qsort(s, (size_t)n, sizeof *s, cmp_double);
    const double med = n % 2 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
    return (stats){med, s[0], s[n - 1]};
}

/* ------------------------------------------------------- GEMM shapes ---- */
/*
 * One entry per distinct cblas_sgemm call: C (m x n) = op(A) (m x k) op(B) (k x n) + beta C, row
 * major, made count times per step. 2 m n k FLOPs each.
 *
 * A layer y = x W + b with x (rows x in) and W (in x out) costs three GEMMs per training step
 * (every layer here has a bias, which ad_addmm copies into y before the product):
 *   forward   y  = b + x W   (rows, out, in)  N N  beta 1
 *   backward  dx += dy Wᵀ    (rows, in, out)  N T  beta 1   (only when x needs a gradient)
 *             dW += xᵀ dy    (in, out, rows)  T N  beta 1
 * so 6·rows·in·out FLOPs when x needs a gradient, 4·rows·in·out when it does not.
 */
enum { MAX_SHAPES = 64 };

typedef struct gemm_shape {
    int m, n, k;
    bool ta, tb;
    bool beta;  /* 0 or 1: the forward overwrites, the backward accumulates */
    long count; /* calls per step */
} gemm_shape;

typedef struct gemm_list {
    int n;
    gemm_shape s[MAX_SHAPES];
} gemm_list;

static bool same_shape(const gemm_shape *a, const gemm_shape *b) {
    return a->m == b->m && a->n == b->n && a->k == b->k && a->ta == b->ta && a->tb == b->tb &&
           a->beta == b->beta;
}

static void list_add(gemm_list *l, gemm_shape s) {
    for (int i = 0; i < l->n; i++)
        if (same_shape(&l->s[i], &s)) {
            l->s[i].count += s.count;
            return;
        }
    if (l->n == MAX_SHAPES) die("more than %d GEMM shapes", MAX_SHAPES);
    l->s[l->n++] = s;
}

/* y = x W, x rows x in, W in x out, made count times: the three GEMMs above. */
static void list_linear(gemm_list *l, int rows, int in, int out, bool need_dx, long count) {
    list_add(l, (gemm_shape){rows, out, in, false, false, true, count});
    if (need_dx) list_add(l, (gemm_shape){rows, in, out, false, true, true, count});
    list_add(l, (gemm_shape){in, out, rows, true, false, true, count});
}

static double list_flops(const gemm_list *l) {
    double f = 0;
    for (int i = 0; i < l->n; i++)
        f += 2.0 * l->s[i].m * (double)l->s[i].n * l->s[i].k * (double)l->s[i].count;
    return f;
}

/* Whether two lists hold the same calls, whatever their order. */
static bool same_list(const gemm_list *a, const gemm_list *b) {
    if (a->n != b->n) return false;
    for (int i = 0; i < a->n; i++) {
        bool found = false;
        for (int j = 0; j < b->n && !found; j++)
            found = same_shape(&a->s[i], &b->s[j]) && a->s[i].count == b->s[j].count;
        if (!found) return false;
    }
    return true;
}

/* Whether the library's calls are the analytic ones cut into blocks: as many FLOPs, and each call
 * a block of an analytic shape (same transposes and beta, no dimension larger). A recurrent layer
 * run as blocks of the batch at once (nn/rnn.c) makes these. */
static bool split_list(const gemm_list *want, const gemm_list *got) {
    for (int i = 0; i < got->n; i++) {
        const gemm_shape *g = &got->s[i];
        bool found = false;
        for (int j = 0; j < want->n && !found; j++) {
            const gemm_shape *w = &want->s[j];
            found = g->ta == w->ta && g->tb == w->tb && g->beta == w->beta && g->m <= w->m &&
                    g->n <= w->n && g->k <= w->k;
        }
        if (!found) return false;
    }
    const double fw = list_flops(want), fg = list_flops(got);
    return fabs(fw - fg) <= 1e-9 * fw;
}

static void print_list(FILE *f, const char *indent, const gemm_list *l) {
    for (int i = 0; i < l->n; i++) {
        const gemm_shape *s = &l->s[i];
        fprintf(f, "%s%5ld x  M %5d  N %5d  K %5d  %c%c  beta %d  %8.3f GFLOP\n", indent, s->count,
                s->m, s->n, s->k, s->ta ? 'T' : 'N', s->tb ? 'T' : 'N', s->beta,
                2e-9 * s->m * (double)s->n * s->k * (double)s->count);
    }
}

/* ------------------------------------------- the products of a step ---- */
/* While recording, every product the tape makes is listed (ad_set_gemm_observer), whichever
 * library runs it: the check that the analytic list is what the library does. */

static atomic_bool gemm_recording;
static pthread_mutex_t gemm_lock = PTHREAD_MUTEX_INITIALIZER; /* a library may call from threads */
static gemm_list gemm_recorded;
static atomic_long gemm_small; /* of them, how many went to libxsmm */

static void observe_gemm(bool ta, bool tb, int m, int n, int k, double beta, bool small,
                         void *ctx) {
    (void)ctx;
    if (!atomic_load_explicit(&gemm_recording, memory_order_relaxed)) return;
    if (small) atomic_fetch_add(&gemm_small, 1);
    pthread_mutex_lock(&gemm_lock);
    list_add(&gemm_recorded, (gemm_shape){m, n, k, ta, tb, beta != 0, 1});
    pthread_mutex_unlock(&gemm_lock);
}

/* cblas_sgemm, interposed: the library (linked statically) calls this definition, which forwards
 * to OpenBLAS's and marks the heap calls made inside it as OpenBLAS's own. */
typedef void (*sgemm_fn)(enum CBLAS_ORDER, enum CBLAS_TRANSPOSE, enum CBLAS_TRANSPOSE, blasint,
                         blasint, blasint, float, const float *, blasint, const float *, blasint,
                         float, float *, blasint);
static sgemm_fn real_sgemm;

void cblas_sgemm(OPENBLAS_CONST enum CBLAS_ORDER order, OPENBLAS_CONST enum CBLAS_TRANSPOSE ta,
                 OPENBLAS_CONST enum CBLAS_TRANSPOSE tb, OPENBLAS_CONST blasint m,
                 OPENBLAS_CONST blasint n, OPENBLAS_CONST blasint k, OPENBLAS_CONST float alpha,
                 OPENBLAS_CONST float *a, OPENBLAS_CONST blasint lda, OPENBLAS_CONST float *b,
                 OPENBLAS_CONST blasint ldb, OPENBLAS_CONST float beta, float *c,
                 OPENBLAS_CONST blasint ldc) {
    const bool outer = !in_blas;
    in_blas = true;
    real_sgemm(order, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    if (outer) in_blas = false;
}

static void sgemm_resolve(void) {
    void *p = dlsym(RTLD_NEXT, "cblas_sgemm");
    if (!p) die("cannot find OpenBLAS's cblas_sgemm: %s", dlerror());
    memcpy(&real_sgemm, &p, sizeof p); /* ISO C has no cast from void * to a function pointer */
}

/* ----------------------------------------------------- configurations ---- */

typedef enum { MODEL_RNN_LM, MODEL_TAGGER, MODEL_WINDOW_LM } model_kind;

typedef struct config {
    const char *name, *what;
    model_kind model;
    nn_cell_kind cell;
    int vocab, emb, hidden, layers, batch;
    int seq;     /* BPTT length (LM), sentence length (tagger), context words (window LM) */
    bool bidir;
    int classes; /* output width: the vocabulary, or the tags */
} config;

/* Sizes from the issue. The char LM's embedding width is not given there: 512 (= hidden), as in
 * the common PyTorch char-rnn (nn.Embedding(vocab, hidden)); torch_bench.py uses the same. */
static const config CONFIGS[] = {
    {"a-lstm", "word LM, Zaremba small, LSTM", MODEL_RNN_LM, NN_LSTM, 10000, 200, 200, 2, 20, 35,
     false, 10000},
    {"a-gru", "word LM, Zaremba small, GRU", MODEL_RNN_LM, NN_GRU, 10000, 200, 200, 2, 20, 35,
     false, 10000},
    {"a-elman", "word LM, Zaremba small, Elman", MODEL_RNN_LM, NN_ELMAN, 10000, 200, 200, 2, 20,
     35, false, 10000},
    {"b-char", "char LM, 2-layer LSTM 512", MODEL_RNN_LM, NN_LSTM, 65, 512, 512, 2, 64, 100, false,
     65},
    {"c-tagger", "BiLSTM tagger", MODEL_TAGGER, NN_LSTM, 20000, 100, 128, 1, 32, 40, true, 45},
    {"d-window", "fixed-window LM", MODEL_WINDOW_LM, NN_LSTM, 10000, 100, 512, 1, 256, 4, false,
     10000},
};
enum { NCONFIGS = sizeof CONFIGS / sizeof CONFIGS[0], MAX_WINDOW = 16 };

/* Tokens one step trains on: every position of every sequence, or one word per window. */
static int config_tokens(const config *c) {
    return c->model == MODEL_WINDOW_LM ? c->batch : c->seq * c->batch;
}

/*
 * The GEMMs of one training step (FLOP formulas in bench/README.md). A recurrent layer of G gates
 * (LSTM 4, GRU 3, Elman 1), hidden H, input I, T steps of B sequences, per direction:
 *   input projection, all steps at once:  linear(T·B, I, G·H), dx needed (the embedding or the
 *                                          layer below takes it)
 *   recurrence, per step:  forward (B, G·H, H) NN x T, beta 1 (added onto a copy of bh);
 *                          dh (B, H, G·H) NT x (T-1): the initial state enters detached, so
 *                          the first step's dh is not needed;
 *                          dWh (H, G·H, B) TN x T
 * then the output layer linear(T·B, H·dirs, classes). The window LM: linear(B, window·E, hidden)
 * with dx (the embeddings), then linear(B, hidden, vocab).
 */
static void config_gemms(const config *c, gemm_list *l) {
    memset(l, 0, sizeof *l);
    if (c->model == MODEL_WINDOW_LM) {
        list_linear(l, c->batch, c->seq * c->emb, c->hidden, true, 1);
        list_linear(l, c->batch, c->hidden, c->classes, true, 1);
        return;
    }
    const int T = c->seq, B = c->batch, H = c->hidden, G = nn_cell_gates(c->cell);
    const int dirs = c->bidir ? 2 : 1;
    int in = c->emb;
    for (int layer = 0; layer < c->layers; layer++) {
        for (int d = 0; d < dirs; d++) {
            list_linear(l, T * B, in, G * H, true, 1);
            /* h Wh: one product per step; the cells add it onto bh's copy (ad_addmm, beta 1),
             * except GRU_CHO, which writes it fresh */
            list_add(l, (gemm_shape){B, G * H, H, false, false, c->cell != NN_GRU_CHO, T});
            if (T > 1) list_add(l, (gemm_shape){B, H, G * H, false, true, true, T - 1});
            list_add(l, (gemm_shape){H, G * H, B, true, false, true, T});
        }
        in = H * dirs;
    }
    list_linear(l, T * B, H * dirs, c->classes, true, 1);
}

/* ------------------------------------------------------------- models ---- */

enum { POOL = 4 }; /* batches of random ids, cycled */

typedef struct model {
    const config *c;
    ad_params *ps;
    nn_embedding emb;
    nn_rnn rnn;
    nn_linear fc, out; /* fc: the window LM's hidden layer */
    nn_optim *opt;
    nn_rnn_state *carry; /* the LMs carry their state across windows (truncated BPTT) */
    ad_tape *tp;
    int *x, *y;          /* POOL batches of inputs and targets */
    int nx, ny;          /* per batch */
    long step;
    double loss;
} model;

static void model_init(model *m, const config *c, uint64_t seed) {
    memset(m, 0, sizeof *m);
    m->c = c;
    nn_rng rng = nn_rng_new(seed);
    m->ps = ad_params_new();
    nn_embedding_init(&m->emb, m->ps, "emb", c->vocab, c->emb, &rng);
    if (c->model == MODEL_WINDOW_LM) {
        if (c->seq > MAX_WINDOW) die("%s: window %d > %d", c->name, c->seq, MAX_WINDOW);
        nn_linear_init(&m->fc, m->ps, "fc", c->seq * c->emb, c->hidden, true, &rng);
        nn_linear_init(&m->out, m->ps, "out", c->hidden, c->classes, true, &rng);
    } else {
        nn_rnn_config rc = {.kind = c->cell, .input = c->emb, .hidden = c->hidden,
                            .layers = c->layers, .bidirectional = c->bidir};
        nn_rnn_init(&m->rnn, m->ps, "rnn", &rc, &rng);
        nn_linear_init(&m->out, m->ps, "out", nn_rnn_output_width(&m->rnn), c->classes, true,
                       &rng);
        if (c->model == MODEL_RNN_LM) {
            m->carry = nn_rnn_state_new(&m->rnn, c->batch);
            if (!m->carry) die("out of memory");
        }
    }
    /* lr small enough that random targets keep every value finite over thousands of steps. */
    m->opt = nn_optim_new(m->ps, &(nn_optim_config){.kind = NN_SGD, .lr = 0.05});
    m->tp = ad_tape_new();
    /* Inputs: time-major T·B ids (RNNs), or window-major seq·B ids (x[w·B + b] is word w of
     * window b). Targets: one per token. */
    m->nx = c->seq * c->batch;
    m->ny = config_tokens(c);
    m->x = xmalloc((size_t)POOL * m->nx * sizeof *m->x);
    m->y = xmalloc((size_t)POOL * m->ny * sizeof *m->y);
    for (int i = 0; i < POOL * m->nx; i++) m->x[i] = (int)nn_rng_below(&rng, (uint32_t)c->vocab);
    for (int i = 0; i < POOL * m->ny; i++) m->y[i] = (int)nn_rng_below(&rng, (uint32_t)c->classes);
}

static void model_free(model *m) {
    ad_tape_free(m->tp);
    nn_optim_free(m->opt);
    nn_rnn_state_free(m->carry);
    ad_params_free(m->ps);
    free(m->x);
    free(m->y);
}

/* One training step: forward, backward, SGD update, as a user writes it. */
static void model_step(model *m) {
    const config *c = m->c;
    ad_tape *tp = m->tp;
    const int k = (int)(m->step++ % POOL);
    const int *x = m->x + (size_t)k * m->nx, *y = m->y + (size_t)k * m->ny;
    ad_tensor *logits;
    nn_rnn_result r;
    if (c->model == MODEL_WINDOW_LM) {
        ad_tensor *words[MAX_WINDOW];
        for (int w = 0; w < c->seq; w++)
            words[w] = nn_embedding_forward(tp, &m->emb, x + w * c->batch, c->batch);
        ad_tensor *h = ad_tanh(tp, nn_linear_forward(tp, &m->fc, ad_concat(tp, c->seq, words)));
        logits = nn_linear_forward(tp, &m->out, h);
    } else {
        ad_tensor *e = nn_embedding_forward(tp, &m->emb, x, c->seq * c->batch);
        r = nn_rnn_forward(tp, &m->rnn, e, c->seq, NULL, m->carry);
        logits = nn_linear_forward(tp, &m->out, r.out);
    }
    ad_tensor *loss = ad_softmax_xent(tp, logits, y, NULL);
    m->loss = nn_train_step(tp, loss, m->opt, 0);
    if (m->carry) nn_rnn_state_store(m->carry, &r);
    ad_tape_reset(tp);
}

/* -------------------------------------------------------- sgemm alone ---- */

typedef struct options {
    bool quick;
    int reps, warmup;
    double rep_seconds;  /* each timed repetition runs about this long */
    double gemm_seconds; /* each sgemm sample runs about this long */
    uint64_t seed;
    const char *csv;
} options;

/* One call of shape s on row-major operands a (op(A) m x k), b (op(B) k x n), c (m x n). */
static void sgemm_call(const gemm_shape *s, float alpha, const float *a, const float *b,
                       float *c) {
    cblas_sgemm(CblasRowMajor, s->ta ? CblasTrans : CblasNoTrans, s->tb ? CblasTrans : CblasNoTrans,
                s->m, s->n, s->k, alpha, a, s->ta ? s->m : s->k, b, s->tb ? s->k : s->n,
                s->beta ? 1.0f : 0.0f, c, s->n);
}

/* Seconds per call of one shape alone, the median of reps samples, at the current thread count.
 * Operands are random and warm; beta as the step uses it. */
static double sgemm_seconds(const gemm_shape *s, const options *o) {
    const size_t na = (size_t)s->m * s->k, nb = (size_t)s->k * s->n, nc = (size_t)s->m * s->n;
    float *a = xmalloc(na * sizeof *a), *b = xmalloc(nb * sizeof *b), *c = xmalloc(nc * sizeof *c);
    nn_rng r = nn_rng_new(5);
    for (size_t i = 0; i < na; i++) a[i] = (float)nn_rng_uniform(&r) - 0.5f;
    for (size_t i = 0; i < nb; i++) b[i] = (float)nn_rng_uniform(&r) - 0.5f;
    for (size_t i = 0; i < nc; i++) c[i] = (float)nn_rng_uniform(&r) - 0.5f;
    /* Accumulating into C over many calls with beta 1 would grow it: scale by a tiny alpha. */
    const float alpha = s->beta ? 1e-6f : 1.0f;
    sgemm_call(s, alpha, a, b, c); /* first touch, thread start-up */
    double t0 = now();
    sgemm_call(s, alpha, a, b, c);
    const double one = now() - t0;
    const long calls = one > 0 ? (long)fmax(1, o->gemm_seconds / one) : 1000;
    double per_call[64];
    for (int rep = 0; rep < o->reps; rep++) {
        t0 = now();
        for (long i = 0; i < calls; i++) sgemm_call(s, alpha, a, b, c);
        per_call[rep] = (now() - t0) / (double)calls;
    }
    free(a);
    free(b);
    free(c);
    return stats_of(per_call, o->reps).median;
}

/* Shapes timed so far, per thread count: the LSTM and GRU share many. */
typedef struct gemm_time {
    gemm_shape s;
    int threads;
    double seconds;
} gemm_time;
static gemm_time gemm_cache[256];
static int gemm_cached;

static double sgemm_seconds_cached(const gemm_shape *s, int threads, const options *o) {
    for (int i = 0; i < gemm_cached; i++)
        if (gemm_cache[i].threads == threads && same_shape(&gemm_cache[i].s, s))
            return gemm_cache[i].seconds;
    const double t = sgemm_seconds(s, o);
    if (gemm_cached < (int)(sizeof gemm_cache / sizeof gemm_cache[0]))
        gemm_cache[gemm_cached++] = (gemm_time){*s, threads, t};
    return t;
}

/* --------------------------------------------------------- one config ---- */

typedef struct result {
    const char *name;
    int threads, tokens, steps, reps;
    stats tok_s;
    double step_ms;        /* median */
    double gflop;          /* per step, analytic */
    double gflops;         /* achieved at the median */
    double sgemm_gflops;   /* the same GEMMs alone */
    double heap_per_step;  /* over every timed step, outside BLAS */
    double heap_blas_per_step; /* inside cblas_sgemm: OpenBLAS's own */
    const char *gemm_check; /* "ok": the library made exactly the analytic GEMMs; "split": the
                               same cut into blocks (split_list); "DIFF": others */
    double gemm_lib_gflop; /* what it made, per step */
    double loss;
} result;

static result run_config(model *m, int threads, const options *o, bool verbose) {
    const config *c = m->c;
    result res = {.name = c->name, .threads = threads, .tokens = config_tokens(c),
                  .reps = o->reps};
    ad_set_num_threads(threads);

    /* Warm-up: the tape's arena grows to its size on the first step; thread pools start. The
     * last warm-up step's time sets how many steps one repetition takes. */
    double t_step = 0;
    for (int i = 0; i < o->warmup; i++) {
        const double t0 = now();
        model_step(m);
        t_step = now() - t0;
    }
    res.steps = (int)fmax(1, ceil(o->rep_seconds / fmax(t_step, 1e-6)));

    double tok_s[64], ms[64];
    heap_start();
    for (int rep = 0; rep < o->reps; rep++) {
        const double t0 = now();
        for (int s = 0; s < res.steps; s++) model_step(m);
        const double dt = now() - t0;
        tok_s[rep] = (double)res.steps * res.tokens / dt;
        ms[rep] = 1e3 * dt / res.steps;
    }
    long heap_blas;
    const long heap = heap_stop(&heap_blas);
    res.heap_per_step = (double)heap / ((double)res.steps * o->reps);
    res.heap_blas_per_step = (double)heap_blas / ((double)res.steps * o->reps);
    res.tok_s = stats_of(tok_s, o->reps);
    res.step_ms = stats_of(ms, o->reps).median;
    res.loss = m->loss;

    /* One more step with every GEMM recorded, against the analytic list. */
    gemm_list want;
    config_gemms(c, &want);
    memset(&gemm_recorded, 0, sizeof gemm_recorded);
    atomic_store(&gemm_small, 0);
    atomic_store(&gemm_recording, true);
    model_step(m);
    atomic_store(&gemm_recording, false);
    res.gemm_check = same_list(&want, &gemm_recorded)    ? "ok"
                     : split_list(&want, &gemm_recorded) ? "split"
                                                         : "DIFF";
    res.gemm_lib_gflop = 1e-9 * list_flops(&gemm_recorded);
    if (verbose) {
        long calls = 0;
        for (int i = 0; i < gemm_recorded.n; i++) calls += gemm_recorded.s[i].count;
        fprintf(stderr, "%s, %d threads: %ld products a step, %ld of them through libxsmm\n",
                c->name, threads, calls, atomic_load(&gemm_small));
    }
    if (strcmp(res.gemm_check, "DIFF") == 0 && verbose) {
        fprintf(stderr, "%s: the library's GEMMs differ from the analytic list.\n"
                        "  analytic (%.4f GFLOP):\n", c->name, 1e-9 * list_flops(&want));
        print_list(stderr, "    ", &want);
        fprintf(stderr, "  library (%.4f GFLOP):\n", res.gemm_lib_gflop);
        print_list(stderr, "    ", &gemm_recorded);
    }

    /* The same GEMMs alone, each at the faster of this thread count and one thread: the best
     * sgemm does with the cores the step has (OpenBLAS splits products that one thread does
     * faster, and the library runs those on one). */
    double t_gemm = 0;
    for (int i = 0; i < want.n; i++) {
        double t = sgemm_seconds_cached(&want.s[i], threads, o);
        if (threads > 1) {
            ad_set_num_threads(1);
            t = fmin(t, sgemm_seconds_cached(&want.s[i], 1, o));
            ad_set_num_threads(threads);
        }
        t_gemm += (double)want.s[i].count * t;
    }
    const double flops = list_flops(&want);
    res.gflop = 1e-9 * flops;
    res.gflops = 1e-9 * flops * res.tok_s.median / res.tokens;
    res.sgemm_gflops = 1e-9 * flops / t_gemm;
    return res;
}

/* ----------------------------------------------------- the tape's cost ---- */

enum { CHAIN = 1000 }; /* ops recorded per tape */

typedef struct tape_result {
    stats fwd_ns, fwdbwd_ns; /* per recorded op */
    double heap_per_step;
    int nodes;
} tape_result;

/* y = ((x + a) c + a) c ..., CHAIN ops on 1 x 1 parameters: it settles near a c / (1 - c). */
static ad_tensor *chain(ad_tape *tp, ad_tensor *a, ad_tensor *c) {
    ad_tensor *y = a;
    for (int i = 0; i < CHAIN / 2; i++) y = ad_mul(tp, ad_add(tp, y, a), c);
    return y;
}

static tape_result bench_tape(const options *o) {
    ad_set_num_threads(1);
    ad_params *ps = ad_params_new();
    ad_tensor *a = ad_param(ps, "a", 1, 1), *c = ad_param(ps, "c", 1, 1);
    ad_data(a)[0] = 0.5f;
    ad_data(c)[0] = 0.5f;
    ad_tape *tp = ad_tape_new();
    tape_result res = {0};
    for (int i = 0; i < 10; i++) { /* warm: the arena reaches its size */
        ad_backward(tp, chain(tp, a, c));
        ad_params_zero_grad(ps);
        ad_tape_reset(tp);
    }
    chain(tp, a, c);
    res.nodes = ad_tape_node_count(tp);
    ad_tape_reset(tp);

    const int iters = o->quick ? 200 : 1000;
    double fwd[64], fwdbwd[64];
    heap_start();
    for (int rep = 0; rep < o->reps; rep++) {
        double t0 = now();
        for (int i = 0; i < iters; i++) {
            chain(tp, a, c);
            ad_tape_reset(tp);
        }
        fwd[rep] = 1e9 * (now() - t0) / ((double)iters * CHAIN);
        t0 = now();
        for (int i = 0; i < iters; i++) {
            ad_backward(tp, chain(tp, a, c));
            ad_params_zero_grad(ps);
            ad_tape_reset(tp);
        }
        fwdbwd[rep] = 1e9 * (now() - t0) / ((double)iters * CHAIN);
    }
    long blas;
    const long heap = heap_stop(&blas);
    res.heap_per_step = (double)(heap + blas) / (2.0 * iters * o->reps);
    res.fwd_ns = stats_of(fwd, o->reps);
    res.fwdbwd_ns = stats_of(fwdbwd, o->reps);
    ad_tape_free(tp);
    ad_params_free(ps);
    return res;
}

/* ------------------------------------------------------------- output ---- */

static void csv_header(FILE *f) {
    fprintf(f, "config,threads,unit,median,min,max,tokens_per_step,steps_per_rep,reps,step_ms,"
               "gflop_per_step,gflops,sgemm_gflops,peak_pct,heap_per_step,heap_blas_per_step,"
               "gemm_check,loss\n");
}

static void csv_result(FILE *f, const result *r) {
    fprintf(f, "%s,%d,tok/s,%.1f,%.1f,%.1f,%d,%d,%d,%.3f,%.4f,%.2f,%.2f,%.1f,%.3f,%.3f,%s,%.4f\n",
            r->name, r->threads, r->tok_s.median, r->tok_s.min, r->tok_s.max, r->tokens, r->steps,
            r->reps, r->step_ms, r->gflop, r->gflops, r->sgemm_gflops,
            100 * r->gflops / r->sgemm_gflops, r->heap_per_step, r->heap_blas_per_step,
            r->gemm_check, r->loss);
}

/* "–" is three bytes and one column: a field holding one is printed 2 bytes wider. */
static void print_header(void) {
    printf("\n%-9s %3s %9s %21s %8s %7s %7s %7s %6s %5s %6s %5s\n", "config", "thr", "tok/s",
           "min–max", "ms/step", "GFLOP", "GFLOP/s", "sgemm", "%peak", "heap", "blas", "gemm");
}

static void print_result(const result *r) {
    char range[40];
    snprintf(range, sizeof range, "%.0f–%.0f", r->tok_s.min, r->tok_s.max);
    printf("%-9s %3d %9.0f %21s %8.2f %7.3f %7.1f %7.1f %5.1f%% %5.2f %6.1f %5s\n", r->name,
           r->threads, r->tok_s.median, range, r->step_ms, r->gflop, r->gflops, r->sgemm_gflops,
           100 * r->gflops / r->sgemm_gflops, r->heap_per_step, r->heap_blas_per_step,
           r->gemm_check);
    fflush(stdout);
}

/* ---------------------------------------------------------------- main ---- */

static void usage(FILE *f) {
    fprintf(f,
            "usage: bench [--config LIST] [--threads LIST] [--reps N] [--quick] [--csv FILE]\n"
            "             [--seed N] [--rep-seconds S] [--shapes] [--verbose] [--heap-trace N]\n"
            "  --config LIST   comma-separated: a (a-lstm, a-gru, a-elman), b, c, d, tape, or a\n"
            "                  full name (default: a,b,c,d,tape)\n"
            "  --threads LIST  thread counts (default 1,2), set with ad_set_num_threads\n"
            "  --reps N        timed repetitions (default 7; --quick 5; at least 5 advised)\n"
            "  --quick         short repetitions (0.2 s) and warm-up: noisy, for a first look\n"
            "  --rep-seconds S length of one timed repetition (default 1; --quick 0.2)\n"
            "  --csv FILE      where to write the results (default bench-seqgrad.csv; - for none)\n"
            "  --shapes        print each configuration's GEMM list and FLOPs, and exit\n"
            "  --verbose       print the GEMM lists when the library's differ from the analytic\n"
            "  --heap-trace N  print the call stacks of the first N heap calls in steady steps\n");
}

static bool in_list(const char *list, const char *name) {
    /* An item selects the configurations whose name it is, or whose name starts "item-". */
    char buf[256];
    snprintf(buf, sizeof buf, "%s", list);
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        const size_t n = strlen(tok);
        if (strcmp(tok, name) == 0 || (strncmp(tok, name, n) == 0 && name[n] == '-')) return true;
    }
    return false;
}

static int first_selected(const char *list) {
    for (int i = 0; i < NCONFIGS; i++)
        if (in_list(list, CONFIGS[i].name)) return i;
    return -1;
}

int main(int argc, char **argv) {
    options o = {.reps = 0, .warmup = 3, .rep_seconds = 1.0, .gemm_seconds = 0.03, .seed = 1,
                 .csv = "bench-seqgrad.csv"};
    const char *config_list = "a,b,c,d,tape", *thread_list = "1,2";
    double rep_seconds = 0;
    bool shapes = false, verbose = false;
    int heap_trace = 0;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const bool has_value = i + 1 < argc;
        if (strcmp(arg, "--config") == 0 && has_value) config_list = argv[++i];
        else if (strcmp(arg, "--threads") == 0 && has_value) thread_list = argv[++i];
        else if (strcmp(arg, "--reps") == 0 && has_value) o.reps = atoi(argv[++i]);
        else if (strcmp(arg, "--csv") == 0 && has_value) o.csv = argv[++i];
        else if (strcmp(arg, "--seed") == 0 && has_value) o.seed = strtoull(argv[++i], NULL, 10);
        else if (strcmp(arg, "--rep-seconds") == 0 && has_value) rep_seconds = atof(argv[++i]);
        else if (strcmp(arg, "--heap-trace") == 0 && has_value) heap_trace = atoi(argv[++i]);
        else if (strcmp(arg, "--quick") == 0) o.quick = true;
        else if (strcmp(arg, "--shapes") == 0) shapes = true;
        else if (strcmp(arg, "--verbose") == 0) verbose = true;
        else if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (o.quick) {
        o.warmup = 2;
        o.rep_seconds = 0.2;
        o.gemm_seconds = 0.005;
    }
    if (rep_seconds > 0) o.rep_seconds = rep_seconds;
    if (o.reps == 0) o.reps = o.quick ? 5 : 7;
    if (o.reps < 1 || o.reps > 64) die("--reps %d: between 1 and 64", o.reps);

    int threads[8], nthreads = 0;
    {
        char buf[128];
        snprintf(buf, sizeof buf, "%s", thread_list);
        for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok && nthreads < 8;
             tok = strtok_r(NULL, ",", &save))
            if ((threads[nthreads++] = atoi(tok)) < 1) die("--threads: %s is not a count", tok);
    }
    bool any = in_list(config_list, "tape");
    for (int i = 0; i < NCONFIGS; i++) any |= in_list(config_list, CONFIGS[i].name);
    if (!any) die("--config %s selects nothing", config_list);

    if (shapes) {
        for (int i = 0; i < NCONFIGS; i++) {
            if (!in_list(config_list, CONFIGS[i].name)) continue;
            gemm_list l;
            config_gemms(&CONFIGS[i], &l);
            printf("%s (%s): %d tokens/step, %.4f GFLOP/step in %d shapes\n", CONFIGS[i].name,
                   CONFIGS[i].what, config_tokens(&CONFIGS[i]), 1e-9 * list_flops(&l), l.n);
            print_list(stdout, "  ", &l);
        }
        return 0;
    }

    sgemm_resolve();
    ad_set_gemm_observer(observe_gemm, NULL);
    if (heap_trace > 0) {
        void *warm[1];
        backtrace(warm, 1); /* loads libgcc_s now, not inside a counted malloc */
        atomic_store(&heap_traces, heap_trace);
    }
    FILE *csv = NULL;
    if (strcmp(o.csv, "-") != 0) {
        csv = fopen(o.csv, "w");
        if (!csv) die("%s: cannot write: %s", o.csv, strerror(errno));
        csv_header(csv);
    }
    const char *coretype = getenv("OPENBLAS_CORETYPE");
    printf("seqgrad bench: float library, %s; OpenBLAS core %s (OPENBLAS_CORETYPE=%s); %d reps "
           "of ~%.2g s after %d warm-up steps\n",
           o.quick ? "quick" : "full", openblas_get_corename(), coretype ? coretype : "unset",
           o.reps, o.rep_seconds, o.warmup);
    printf("tok/s: median of the reps (min–max); GFLOP: analytic GEMM work per step; sgemm: the "
           "same GEMMs alone, GFLOP/s;\nheap: heap calls per steady step outside BLAS, blas: "
           "inside OpenBLAS's sgemm; gemm: the library's GEMMs are the analytic list\n");

    int code = 0;
    for (int i = 0; i < NCONFIGS; i++) {
        const config *c = &CONFIGS[i];
        if (!in_list(config_list, c->name)) continue;
        if (i == first_selected(config_list)) print_header();
        model m;
        model_init(&m, c, o.seed);
        for (int t = 0; t < nthreads; t++) {
            result r = run_config(&m, threads[t], &o, verbose);
            print_result(&r);
            if (csv) {
                csv_result(csv, &r);
                fflush(csv);
            }
            if (!isfinite(r.loss)) {
                fprintf(stderr, "%s: the loss is %g: the timing is not of a sane run\n", c->name,
                        r.loss);
                code = 1;
            }
        }
        model_free(&m);
    }
    if (in_list(config_list, "tape")) {
        tape_result t = bench_tape(&o);
        printf("\ntape: a chain of %d ad_add/ad_mul on 1 x 1 tensors (%d nodes), 1 thread\n",
               CHAIN, t.nodes);
        printf("  forward only        %6.1f ns/op  (%.1f–%.1f)\n", t.fwd_ns.median, t.fwd_ns.min,
               t.fwd_ns.max);
        printf("  forward + backward  %6.1f ns/op  (%.1f–%.1f), zero_grad and reset included\n",
               t.fwdbwd_ns.median, t.fwdbwd_ns.min, t.fwdbwd_ns.max);
        printf("  heap calls per step %6.2f\n", t.heap_per_step);
        if (csv) {
            fprintf(csv, "tape-fwd,1,ns/op,%.2f,%.2f,%.2f,%d,,%d,,,,,,%.3f,,,\n", t.fwd_ns.median,
                    t.fwd_ns.min, t.fwd_ns.max, CHAIN, o.reps, t.heap_per_step);
            fprintf(csv, "tape-fwdbwd,1,ns/op,%.2f,%.2f,%.2f,%d,,%d,,,,,,%.3f,,,\n",
                    t.fwdbwd_ns.median, t.fwdbwd_ns.min, t.fwdbwd_ns.max, CHAIN, o.reps,
                    t.heap_per_step);
        }
    }
    if (csv) {
        fclose(csv);
        printf("\nwrote %s\n", o.csv);
    }
    return code;
}
