/*
 * A training loop on the tape allocates nothing once warm (ad.h: "a training loop allocates
 * nothing after its first step"). This program replaces the heap functions with counting ones
 * that forward to glibc's own (__libc_malloc and friends), runs an Elman RNN language model built
 * from primitives, and counts every heap call over 1000 steady steps.
 *
 * Float build, and only without sanitizers (they replace malloc themselves).
 */
#include "harness.h"
#include "nn.h"

#include <errno.h>
#include <malloc.h>
#include <stdatomic.h>

/* ------------------------------------------------------ the interposer ---- */

extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t count, size_t n);
extern void *__libc_realloc(void *p, size_t n);
extern void __libc_free(void *p);
extern void *__libc_memalign(size_t align, size_t n);

enum {
    N_MALLOC, N_CALLOC, N_REALLOC, N_FREE, N_POSIX_MEMALIGN, N_ALIGNED_ALLOC, N_MEMALIGN, N_KINDS
};
static const char *const kind_names[N_KINDS] = {"malloc", "calloc", "realloc", "free",
                                                "posix_memalign", "aligned_alloc", "memalign"};

/* Atomic: OpenMP and OpenBLAS threads may call in while the main thread counts. */
static atomic_bool counting;
static atomic_long calls[N_KINDS];

static void count(int kind) {
    if (atomic_load_explicit(&counting, memory_order_relaxed))
        atomic_fetch_add_explicit(&calls[kind], 1, memory_order_relaxed);
}

void *malloc(size_t n) {
    count(N_MALLOC);
    return __libc_malloc(n);
}
void *calloc(size_t count_, size_t n) {
    count(N_CALLOC);
    return __libc_calloc(count_, n);
}
void *realloc(void *p, size_t n) {
    count(N_REALLOC);
    return __libc_realloc(p, n);
}
void free(void *p) {
    if (p) count(N_FREE); /* free(NULL) touches no heap */
    __libc_free(p);
}
int posix_memalign(void **out, size_t align, size_t n) {
    count(N_POSIX_MEMALIGN);
    if (align % sizeof(void *) != 0 || (align & (align - 1)) != 0) return EINVAL;
    void *p = __libc_memalign(align, n);
    if (!p) return ENOMEM;
    *out = p;
    return 0;
}
void *aligned_alloc(size_t align, size_t n) {
    count(N_ALIGNED_ALLOC);
    return __libc_memalign(align, n);
}
void *memalign(size_t align, size_t n) {
    count(N_MEMALIGN);
    return __libc_memalign(align, n);
}

static void start_counting(void) {
    for (int k = 0; k < N_KINDS; k++) atomic_store(&calls[k], 0);
    atomic_store(&counting, true);
}

/* Stop counting; return the number of heap calls since start_counting, and describe them. */
static long stop_counting(char *what, size_t size) {
    atomic_store(&counting, false);
    long total = 0;
    size_t off = 0;
    what[0] = 0;
    for (int k = 0; k < N_KINDS; k++) {
        const long n = atomic_load(&calls[k]);
        total += n;
        if (n && off < size)
            off += (size_t)snprintf(what + off, size - off, "%s%s %ld", off ? ", " : "",
                                    kind_names[k], n);
    }
    return total;
}

/* The counter sees calls from this file, from the library (linked statically) and from shared
 * libraries (libgomp, OpenBLAS): without this the zero below could be vacuous. */
TEST(interposer_counts_heap_calls) {
    void *(*volatile alloc)(size_t) = malloc; /* through a pointer: the compiler may not elide */
    void (*volatile release)(void *) = free;
    char what[256];
    start_counting();
    void *p = alloc(24);
    release(p);
    long n = stop_counting(what, sizeof what);
    CHECK_MSG(n == 2 && calls[N_MALLOC] == 1 && calls[N_FREE] == 1, "counted %s", what);

    start_counting();
    ad_tape *tp = ad_tape_new(); /* calloc, malloc and posix_memalign inside the library */
    ad_tape_free(tp);
    n = stop_counting(what, sizeof what);
    CHECK_MSG(calls[N_POSIX_MEMALIGN] >= 1 && calls[N_FREE] >= 2, "counted %s", what);

    start_counting();
    char *s = strdup("from inside libc");
    release(s);
    n = stop_counting(what, sizeof what);
    CHECK_MSG(n == 2, "strdup and free: counted %s", what);
}

/* --------------------------------------------------- the Elman RNN LM ---- */

/* Elman RNN language model (FORMULAS §4, row form), teacher-forced over a fixed toy corpus:
 *   e(t) = E[x(t)],  h(t) = tanh(e(t) U + h(t-1) W + b),  o(t) = h(t) V + c,
 *   L = Σ_t mean_batch CE(x(t+1), softmax(o(t))). */
enum { VOCAB = 50, EMB = 16, HID = 32, BATCH = 4, T = 12 };

typedef struct {
    ad_params *ps;
    ad_tensor *E, *U, *W, *b, *V, *c;
    int ids[T + 1][BATCH]; /* time-major: the inputs of step t and the targets of step t-1 */
} rnn_lm;

static void rnn_init(rnn_lm *m) {
    m->ps = ad_params_new();
    m->E = th_param(m->ps, "E", VOCAB, EMB, -0.5, 0.5, 1);
    m->U = th_param(m->ps, "U", EMB, HID, -0.35, 0.35, 2);
    m->W = th_param(m->ps, "W", HID, HID, -0.3, 0.3, 3);
    m->b = ad_param(m->ps, "b", 1, HID);
    m->V = th_param(m->ps, "V", HID, VOCAB, -0.3, 0.3, 4);
    m->c = ad_param(m->ps, "c", 1, VOCAB);
    /* Row r of the batch walks the vocabulary by 7 from 11 r: each next word is determined. */
    for (int t = 0; t <= T; t++)
        for (int r = 0; r < BATCH; r++) m->ids[t][r] = (11 * r + 7 * t) % VOCAB;
}

/* One SGD step; returns the loss before the update. */
static double rnn_step(rnn_lm *m, ad_tape *tp, ad_real lr) {
    ad_tensor *h = ad_fill(tp, BATCH, HID, 0), *loss = NULL;
    for (int t = 0; t < T; t++) {
        ad_tensor *e = ad_gather_rows(tp, m->E, m->ids[t], BATCH);
        h = ad_tanh(tp, ad_add(tp, ad_add(tp, ad_matmul(tp, e, m->U), ad_matmul(tp, h, m->W)),
                               m->b));
        ad_tensor *logits = ad_add(tp, ad_matmul(tp, h, m->V), m->c);
        ad_tensor *l = ad_softmax_xent(tp, logits, m->ids[t + 1], NULL);
        loss = loss ? ad_add(tp, loss, l) : l;
    }
    const double value = (double)ad_item(loss);
    ad_backward(tp, loss);
    ad_real *v = ad_params_values(m->ps);
    const ad_real *g = ad_params_grads(m->ps);
    for (size_t k = 0, n = ad_params_size(m->ps); k < n; k++) v[k] -= lr * g[k];
    ad_params_zero_grad(m->ps);
    ad_tape_reset(tp);
    return value;
}

TEST(rnn_lm_training_steps_allocate_nothing) {
    enum { WARMUP = 5, STEPS = 1000 };
    const ad_real lr = 0.05f;
    rnn_lm m;
    rnn_init(&m);
    ad_tape *tp = ad_tape_new();
    const double first = rnn_step(&m, tp, lr);
    for (int s = 1; s < WARMUP; s++) rnn_step(&m, tp, lr);
    const size_t reserved = ad_tape_reserved_bytes(tp);

    char what[256];
    double last = 0;
    start_counting();
    for (int s = 0; s < STEPS; s++) last = rnn_step(&m, tp, lr);
    const long n = stop_counting(what, sizeof what);

    CHECK_MSG(n == 0, "%ld heap calls in %d steady steps (%.1f a step): %s", n, STEPS,
              (double)n / STEPS, what);
    CHECK(ad_tape_reserved_bytes(tp) == reserved);
    CHECK_MSG(last < 0.05 * first, "the loss went from %.4g to %.4g", first, last);
    th_note("%ld heap calls over %d steps%s%s; %zu bytes reserved by the tape; loss %.4g -> %.4g",
            n, STEPS, n ? ": " : "", what, reserved, first, last);
    ad_tape_free(tp);
    ad_params_free(m.ps);
}

/* ------------------------------------------- an nn/ LSTM training loop ---- */

/* The whole nn/ step a word-level LM takes: embedding, a 2-layer LSTM with dropout between the
 * layers, variable lengths, the state carried between windows (truncated BPTT), a masked fused
 * softmax cross-entropy, Adam, global-norm clipping. Steady steps must not touch the heap. */
enum { LM_VOCAB = 40, LM_DIM = 16, LM_HIDDEN = 32, LM_T = 8, LM_B = 4 };

typedef struct {
    ad_params *ps;
    nn_embedding emb;
    nn_rnn rnn;
    nn_linear out;
    nn_optim *opt;
    nn_rnn_state *carry;
    int ids[LM_T * LM_B], next[LM_T * LM_B], lengths[LM_B];
    ad_real mask[LM_T * LM_B];
} lstm_lm;

static double lstm_step(lstm_lm *m, ad_tape *tp) {
    ad_tensor *x = nn_embedding_forward(tp, &m->emb, m->ids, LM_T * LM_B);
    nn_rnn_result r = nn_rnn_forward(tp, &m->rnn, x, LM_T, m->lengths, m->carry);
    ad_tensor *loss = ad_softmax_xent(tp, nn_linear_forward(tp, &m->out, r.out), m->next, m->mask);
    ad_params_zero_grad(m->ps);
    ad_backward(tp, loss);
    nn_clip_grad_norm(m->ps, 5.0);
    nn_optim_step(m->opt);
    nn_rnn_state_store(m->carry, &r);
    const double value = ad_item(loss);
    ad_tape_reset(tp);
    return value;
}

TEST(lstm_lm_nn_training_steps_allocate_nothing) {
    enum { WARMUP = 5, STEPS = 300 };
    lstm_lm m;
    nn_rng rng = nn_rng_new(7);
    m.ps = ad_params_new();
    nn_embedding_init(&m.emb, m.ps, "emb", LM_VOCAB, LM_DIM, &rng);
    nn_rnn_config cfg = {.kind = NN_LSTM, .input = LM_DIM, .hidden = LM_HIDDEN, .layers = 2,
                         .dropout = 0.2, .forget_bias = 1};
    nn_rnn_init(&m.rnn, m.ps, "lstm", &cfg, &rng);
    nn_linear_init(&m.out, m.ps, "out", LM_HIDDEN, LM_VOCAB, true, &rng);
    nn_optim_config oc = {.kind = NN_ADAM, .lr = 0.01};
    m.opt = nn_optim_new(m.ps, &oc);
    m.carry = nn_rnn_state_new(&m.rnn, LM_B);
    REQUIRE(m.opt && m.carry);
    for (int k = 0; k < LM_T * LM_B; k++) { /* a fixed cyclic text: next = ids + 1 */
        m.ids[k] = (k * 7) % LM_VOCAB;
        m.next[k] = (m.ids[k] + 1) % LM_VOCAB;
    }
    const int lengths[LM_B] = {8, 6, 8, 3};
    memcpy(m.lengths, lengths, sizeof lengths);
    nn_seq_mask(m.mask, LM_T, LM_B, m.lengths);

    ad_tape *tp = ad_tape_new();
    ad_tape_seed(tp, 3);
    const double first = lstm_step(&m, tp);
    for (int s = 1; s < WARMUP; s++) lstm_step(&m, tp);
    const size_t reserved = ad_tape_reserved_bytes(tp);
    char what[256];
    double last = 0;
    start_counting();
    for (int s = 0; s < STEPS; s++) last = lstm_step(&m, tp);
    const long n = stop_counting(what, sizeof what);
    CHECK_MSG(n == 0, "%ld heap calls in %d steady steps (%.1f a step): %s", n, STEPS,
              (double)n / STEPS, what);
    CHECK(ad_tape_reserved_bytes(tp) == reserved);
    CHECK_MSG(last < 0.25 * first, "the loss went from %.4g to %.4g", first, last);
    th_note("%ld heap calls over %d LSTM steps; %zu bytes reserved; loss %.4g -> %.4g", n, STEPS,
            reserved, first, last);
    ad_tape_free(tp);
    nn_rnn_state_free(m.carry);
    nn_optim_free(m.opt);
    ad_params_free(m.ps);
}

/* ------------------------------------------------ which op allocates ---- */

/* Each op the RNN step uses, alone: recorded, differentiated, forgotten, warm, ten times over.
 * A failure here names the op to look at when the step above allocates. */
typedef struct {
    ad_params *ps;
    ad_tensor *A, *B, *row, *E;
} op_ctx;

typedef ad_tensor *(*op_fn)(ad_tape *tp, op_ctx *c);
static const int ids[BATCH] = {3, 1, 3, 7};
static const int targets[BATCH] = {0, 2, 1, 2};

static ad_tensor *op_matmul(ad_tape *tp, op_ctx *c) { return ad_matmul(tp, c->A, c->B); }
static ad_tensor *op_add(ad_tape *tp, op_ctx *c) { return ad_add(tp, c->A, c->A); }
static ad_tensor *op_add_row(ad_tape *tp, op_ctx *c) { return ad_add(tp, c->A, c->row); }
static ad_tensor *op_tanh(ad_tape *tp, op_ctx *c) { return ad_tanh(tp, c->A); }
static ad_tensor *op_gather(ad_tape *tp, op_ctx *c) {
    return ad_gather_rows(tp, c->E, ids, BATCH);
}
static ad_tensor *op_xent(ad_tape *tp, op_ctx *c) {
    return ad_softmax_xent(tp, c->A, targets, NULL);
}
static ad_tensor *op_fill(ad_tape *tp, op_ctx *c) {
    (void)c;
    return ad_fill(tp, BATCH, HID, 0.5f);
}

TEST(each_op_of_the_step_allocates_nothing_once_warm) {
    static const struct {
        const char *name;
        op_fn f;
    } ops[] = {{"ad_matmul", op_matmul}, {"ad_add", op_add}, {"ad_add (row broadcast)", op_add_row},
               {"ad_tanh", op_tanh}, {"ad_gather_rows", op_gather},
               {"ad_softmax_xent", op_xent}, {"ad_fill", op_fill}};
    op_ctx c = {ad_params_new(), NULL, NULL, NULL, NULL};
    c.A = th_param(c.ps, "A", BATCH, HID, -1, 1, 5);
    c.B = th_param(c.ps, "B", HID, HID, -1, 1, 6);
    c.row = th_param(c.ps, "row", 1, HID, -1, 1, 7);
    c.E = th_param(c.ps, "E", 10, HID, -1, 1, 8);
    ad_tape *tp = ad_tape_new();
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        char what[256];
        long n = 0;
        for (int round = 0; round < 13; round++) {
            if (round == 3) start_counting();
            ad_tensor *y = ops[i].f(tp, &c);
            ad_backward(tp, ad_rows(y) == 1 && ad_cols(y) == 1 ? y : ad_sum(tp, y));
            ad_params_zero_grad(c.ps);
            ad_tape_reset(tp);
        }
        n = stop_counting(what, sizeof what);
        CHECK_MSG(n == 0, "%s (forward, backward, zero_grad, reset): %ld heap calls in 10 "
                          "rounds: %s", ops[i].name, n, what);
    }
    ad_tape_free(tp);
    ad_params_free(c.ps);
}
