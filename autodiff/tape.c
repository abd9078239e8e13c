/*
 * tape.c — the arena, node recording, the reverse pass, and error reporting.
 *
 * Memory: the tape owns a chain of chunks. Allocation bumps a pointer in the current chunk and
 * moves to the next chunk when it is full, adding one (at least twice the last) only when the
 * chain runs out. A reset rewinds to the first chunk and frees nothing, so a loop that records the
 * same ops every step reuses the same memory from its second step on: no heap allocation, and no
 * fresh pages to fault in (on these machines a first touch costs more than the arithmetic).
 */
#include "ad_internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include <cblas.h> /* openblas_set_num_threads, openblas_get_corename */
#include <dlfcn.h>  /* dlsym: OpenBLAS's kernel switch, when it has one */
#include <string.h>
#include <strings.h> /* strcasecmp */

#ifdef _OPENMP
#include <omp.h>
#endif

typedef struct chunk {
    struct chunk *next;
    size_t size, used;
    char *data; /* AD_ALIGN-aligned */
} chunk;

struct ad_tape {
    chunk *first, *cur;
    size_t reserved;
    ad_tensor **nodes; /* in recording order: already topological */
    int nnodes, cap_nodes;
    unsigned gen;      /* bumped by every reset: tensors of an earlier recording are stale */
    const char *file;  /* call site of the builder being run */
    int line;
    bool training, check_finite;
    uint64_t rng;
    /* child tapes (ad_tape_child): made on first use, handed out again after each reset */
    ad_tape **children;
    int nchildren, used_children, cap_children;
    /* transposed copies of product operands (ad_tape_transposed), kept for one backward pass */
    struct transposed {
        const ad_real *src;
        int rows, cols, ld;
        ad_real *t;
    } transposed[AD_TRANSPOSED_MAX];
    int ntransposed;
    bool in_backward;
};

enum { FIRST_CHUNK = 1 << 20 };

/* ---------------------------------------------------------------- errors ---- */

static void default_handler(const char *message, void *ctx) {
    (void)ctx;
    fprintf(stderr, "seqgrad: %s\n", message);
    fflush(stderr);
}

static ad_error_fn error_fn = default_handler;
static void *error_ctx;

void ad_set_error_handler(ad_error_fn fn, void *ctx) {
    error_fn = fn ? fn : default_handler;
    error_ctx = fn ? ctx : NULL;
}

static _Noreturn void fail_v(const char *file, int line, const char *op, const char *fmt,
                             va_list ap) {
    char msg[512];
    int n = snprintf(msg, sizeof msg, "%s:%d: %s: ", file ? file : "?", line, op);
    if (n < 0) n = 0;
    if ((size_t)n < sizeof msg) vsnprintf(msg + n, sizeof msg - (size_t)n, fmt, ap);
    error_fn(msg, error_ctx);
    abort();
}

_Noreturn void ad_fail_at(const char *file, int line, const char *op, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fail_v(file, line, op, fmt, ap);
}

_Noreturn void ad_fail(ad_tape *tp, const char *op, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fail_v(tp ? tp->file : NULL, tp ? tp->line : 0, op, fmt, ap);
}

void ad_check_same_shape(ad_tape *tp, const char *op, const ad_tensor *a, const ad_tensor *b) {
    if (a->rows != b->rows || a->cols != b->cols)
        ad_fail(tp, op, "shapes %dx%d and %dx%d differ", a->rows, a->cols, b->rows, b->cols);
}

/* ----------------------------------------------------------------- arena ---- */

static chunk *chunk_new(ad_tape *tp, size_t size) {
    chunk *c = malloc(sizeof *c);
    void *data = NULL;
    if (!c || posix_memalign(&data, AD_ALIGN, size) != 0) {
        free(c);
        ad_fail(tp, "tape", "out of memory: could not reserve %zu bytes for the arena "
                            "(%zu already reserved)", size, tp->reserved);
    }
    c->next = NULL;
    c->size = size;
    c->used = 0;
    c->data = data;
    tp->reserved += size;
    return c;
}

void *ad_alloc(ad_tape *tp, size_t bytes) {
    bytes = (bytes + AD_ALIGN - 1) & ~(size_t)(AD_ALIGN - 1);
    if (bytes == 0) bytes = AD_ALIGN;
    chunk *c = tp->cur;
    while (c->size - c->used < bytes) {
        if (c->next && c->next->size >= bytes) {
            c = c->next; /* rewound by reset: used == 0 */
            continue;
        }
        size_t size = c->size * 2 > bytes ? c->size * 2 : bytes;
        chunk *n = chunk_new(tp, size);
        n->next = c->next; /* a smaller chunk further on stays in the chain */
        c->next = n;
        c = n;
    }
    tp->cur = c;
    void *p = c->data + c->used;
    c->used += bytes;
    return p;
}

void *ad_tape_scratch(ad_tape *tp, size_t bytes) { return ad_alloc(tp, bytes); }

const ad_real *ad_tape_transposed(ad_tape *tp, const ad_real *src, int rows, int cols, int ld) {
    if (!tp->in_backward || tp->ntransposed == AD_TRANSPOSED_MAX) return NULL;
    for (int i = 0; i < tp->ntransposed; i++) {
        const struct transposed *e = &tp->transposed[i];
        if (e->src == src && e->rows == rows && e->cols == cols && e->ld == ld) return e->t;
    }
    ad_real *t = ad_alloc(tp, (size_t)rows * (size_t)cols * sizeof *t);
    enum { TILE = 16 }; /* tiles, so that both sides are read and written a cache line at a time */
    for (int i0 = 0; i0 < rows; i0 += TILE)
        for (int j0 = 0; j0 < cols; j0 += TILE)
            for (int i = i0; i < rows && i < i0 + TILE; i++)
                for (int j = j0; j < cols && j < j0 + TILE; j++)
                    t[(size_t)j * rows + i] = src[(size_t)i * ld + j];
    tp->transposed[tp->ntransposed++] = (struct transposed){src, rows, cols, ld, t};
    return t;
}

/* ------------------------------------------------------------------ tape ---- */

ad_tape *ad_tape_new(void) {
    ad_tape *tp = calloc(1, sizeof *tp);
    if (!tp) ad_fail_at(__FILE__, __LINE__, "ad_tape_new", "out of memory");
    tp->file = "ad_tape_new";
    tp->first = tp->cur = chunk_new(tp, FIRST_CHUNK);
    tp->training = true;
    tp->rng = 0x9E3779B97F4A7C15ull;
    return tp;
}

void ad_tape_free(ad_tape *tp) {
    if (!tp) return;
    for (chunk *c = tp->first, *n; c; c = n) {
        n = c->next;
        free(c->data);
        free(c);
    }
    for (int i = 0; i < tp->nchildren; i++) ad_tape_free(tp->children[i]);
    free(tp->children);
    free(tp->nodes);
    free(tp);
}

void ad_tape_reset(ad_tape *tp) {
    for (chunk *c = tp->first; c; c = c->next) c->used = 0;
    tp->cur = tp->first;
    tp->nnodes = 0;
    tp->gen++;
    tp->ntransposed = 0;
    tp->in_backward = false; /* a pass left by an error handler's longjmp */
    for (int i = 0; i < tp->used_children; i++) ad_tape_reset(tp->children[i]);
    tp->used_children = 0;
}

/* splitmix64's output function: a 64-bit state mixed into a well-spread 64-bit value (the tape's
 * random stream, and the seeds of child tapes). */
static uint64_t splitmix_mix(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

ad_tape *ad_tape_child(ad_tape *tp) {
    if (!tp) ad_fail_at(__FILE__, __LINE__, "ad_tape_child", "NULL tape");
    if (tp->used_children == tp->nchildren) {
        if (tp->nchildren == tp->cap_children) {
            const int cap = tp->cap_children ? 2 * tp->cap_children : 4;
            ad_tape **c = realloc(tp->children, (size_t)cap * sizeof *c);
            if (!c) ad_fail(tp, "ad_tape_child", "out of memory");
            tp->children = c;
            tp->cap_children = cap;
        }
        tp->children[tp->nchildren++] = ad_tape_new();
    }
    const uint64_t k = (uint64_t)tp->used_children;
    ad_tape *c = tp->children[tp->used_children++];
    c->training = tp->training;
    c->check_finite = tp->check_finite;
    /* A stream of its own, mixed from the parent's state and its place among the children
     * without drawing from the parent: the parent's masks stay the same whether a step uses
     * children (two threads) or not (one). */
    c->rng = splitmix_mix(tp->rng + 0xD1B54A32D192ED03ull * (k + 1));
    return c;
}

ad_tape *ad_tape_at(ad_tape *tp, const char *file, int line) {
    if (!tp) ad_fail_at(file, line, "tape", "NULL tape");
    tp->file = file;
    tp->line = line;
    return tp;
}

void ad_tape_set_training(ad_tape *tp, bool training) { tp->training = training; }
bool ad_tape_training(const ad_tape *tp) { return tp->training; }
void ad_tape_set_check_finite(ad_tape *tp, bool on) { tp->check_finite = on; }
size_t ad_tape_reserved_bytes(const ad_tape *tp) { return tp->reserved; }
int ad_tape_node_count(const ad_tape *tp) { return tp->nnodes; }

void ad_tape_seed(ad_tape *tp, uint64_t seed) { tp->rng = seed ^ 0x9E3779B97F4A7C15ull; }
uint64_t ad_tape_rng_state(const ad_tape *tp) { return tp->rng; }
void ad_tape_set_rng_state(ad_tape *tp, uint64_t state) { tp->rng = state; }

double ad_tape_uniform(ad_tape *tp) {
    /* splitmix64: one 64-bit state, good enough for masks and cheap to reproduce */
    const uint64_t z = splitmix_mix(tp->rng += 0x9E3779B97F4A7C15ull);
    return (double)(z >> 11) * 0x1.0p-53;
}

/* ----------------------------------------------------------------- nodes ---- */

static void check_input(ad_tape *tp, const ad_op *op, int i, const ad_tensor *x) {
    if (!x) ad_fail(tp, op->name, "input %d is NULL", i);
    if (x->kind == AD_KIND_PARAM) return;
    if (x->tape != tp) ad_fail(tp, op->name, "input %d (%s) belongs to another tape", i, ad_name(x));
    if (x->gen != tp->gen)
        ad_fail(tp, op->name, "input %d (%s, made at %s:%d) was recorded before the last "
                              "ad_tape_reset", i, ad_name(x), x->file, x->line);
}

/* A new tensor on the tape; its value buffer comes from the arena unless the caller brings its own
 * (values = false: ad_leaf). */
static ad_tensor *record_with(ad_tape *tp, const ad_op *op, ad_kind kind, int rows, int cols,
                              bool values) {
    if (rows <= 0 || cols <= 0) ad_fail(tp, op->name, "shape %dx%d is empty", rows, cols);
    if (tp->nnodes == tp->cap_nodes) {
        int cap = tp->cap_nodes ? 2 * tp->cap_nodes : 1024;
        ad_tensor **nodes = realloc(tp->nodes, (size_t)cap * sizeof *nodes);
        if (!nodes) ad_fail(tp, op->name, "out of memory recording node %d", tp->nnodes);
        tp->nodes = nodes;
        tp->cap_nodes = cap;
    }
    ad_tensor *y = ad_alloc(tp, sizeof *y);
    memset(y, 0, sizeof *y);
    y->rows = rows;
    y->cols = cols;
    y->val = values ? ad_alloc(tp, ad_size(y) * sizeof(ad_real)) : NULL;
    y->op = op;
    y->kind = kind;
    y->tape = tp;
    y->file = tp->file;
    y->line = tp->line;
    y->gen = tp->gen;
    tp->nodes[tp->nnodes++] = y;
    return y;
}

static ad_tensor *record(ad_tape *tp, const ad_op *op, ad_kind kind, int rows, int cols) {
    return record_with(tp, op, kind, rows, cols, true);
}

ad_tensor *ad_node_v(ad_tape *tp, const ad_op *op, int rows, int cols, int nin,
                     ad_tensor *const *in) {
    for (int i = 0; i < nin; i++) check_input(tp, op, i, in[i]);
    ad_tensor *y = record(tp, op, AD_KIND_NODE, rows, cols);
    y->in = ad_alloc(tp, (size_t)nin * sizeof *y->in);
    y->nin = nin;
    for (int i = 0; i < nin; i++) {
        y->in[i] = in[i];
        y->requires_grad |= in[i]->requires_grad;
    }
    return y;
}

ad_tensor *ad_node(ad_tape *tp, const ad_op *op, int rows, int cols, int nin, ...) {
    ad_tensor *in[8];
    if (nin > 8) ad_fail(tp, op->name, "ad_node takes at most 8 inputs; use ad_node_v");
    va_list ap;
    va_start(ap, nin);
    for (int i = 0; i < nin; i++) in[i] = va_arg(ap, ad_tensor *);
    va_end(ap);
    return ad_node_v(tp, op, rows, cols, nin, in);
}

static void check_finite(const ad_tensor *y, const ad_real *v, const char *what,
                         const ad_tensor *culprit) {
    size_t n = ad_size(y);
    for (size_t k = 0; k < n; k++) {
        if (isfinite(v[k])) continue;
        char shapes[160] = "";
        size_t off = 0;
        for (int i = 0; i < culprit->nin && off < sizeof shapes - 24; i++)
            off += (size_t)snprintf(shapes + off, sizeof shapes - off, "%s%dx%d", i ? ", " : "",
                                    culprit->in[i]->rows, culprit->in[i]->cols);
        ad_fail_at(culprit->file, culprit->line, culprit->op->name,
                   "%s %s at [%zu,%zu] of a %dx%d tensor (inputs %s) — the first op to produce "
                   "a non-finite value", what, isnan(v[k]) ? "NaN" : "Inf", k / (size_t)y->cols,
                   k % (size_t)y->cols, y->rows, y->cols, off ? shapes : "none");
    }
}

ad_tensor *ad_done(ad_tape *tp, ad_tensor *y) {
    if (tp->check_finite) check_finite(y, y->val, "output", y);
    return y;
}

/* ---------------------------------------------------------------- leaves ---- */

static const ad_op INPUT = {"ad_input", NULL, 0};

ad_tensor *(ad_input)(ad_tape *tp, int rows, int cols, const ad_real *data) {
    ad_tensor *y = record(tp, &INPUT, AD_KIND_INPUT, rows, cols);
    if (data) memcpy(y->val, data, ad_size(y) * sizeof(ad_real));
    else memset(y->val, 0, ad_size(y) * sizeof(ad_real));
    return ad_done(tp, y);
}

ad_tensor *(ad_fill)(ad_tape *tp, int rows, int cols, ad_real value) {
    ad_tensor *y = record(tp, &INPUT, AD_KIND_INPUT, rows, cols);
    for (size_t k = 0, n = ad_size(y); k < n; k++) y->val[k] = value;
    return ad_done(tp, y);
}

/* The caller's memory as a leaf: nothing copied, and a gradient (if any) added into grad. */
static const ad_op LEAF = {"ad_leaf", NULL, 0};

ad_tensor *(ad_leaf)(ad_tape *tp, int rows, int cols, ad_real *values, ad_real *grad) {
    if (!values) ad_fail(tp, "ad_leaf", "the values of a %dx%d leaf are NULL", rows, cols);
    ad_tensor *y = record_with(tp, &LEAF, AD_KIND_LEAF, rows, cols, false);
    y->val = values;
    y->grad = grad;
    y->requires_grad = grad != NULL;
    return ad_done(tp, y);
}

/* A node computed by the caller, with the caller's backward (kept in aux). */
typedef struct {
    ad_custom_backward fn;
    void *ctx;
} custom_aux;

static void custom_backward(ad_tensor *y) {
    const custom_aux *a = y->aux;
    a->fn(a->ctx, y);
}
static const ad_op CUSTOM = {"ad_custom", custom_backward, 0};

ad_tensor *(ad_custom)(ad_tape *tp, int rows, int cols, int nin, ad_tensor *const *in,
                       ad_custom_backward backward, void *ctx, bool requires_grad) {
    if (!backward) ad_fail(tp, "ad_custom", "the backward function is NULL");
    if (nin < 0 || (nin > 0 && !in)) ad_fail(tp, "ad_custom", "%d inputs but no array", nin);
    ad_tensor *y = ad_node_v(tp, &CUSTOM, rows, cols, nin, in);
    custom_aux *a = ad_alloc(tp, sizeof *a);
    a->fn = backward;
    a->ctx = ctx;
    y->aux = a;
    y->requires_grad |= requires_grad;
    return y; /* the caller fills the values: ad_done's check would read them unset */
}

/* y = x, and no gradient flows back: a leaf that shares nothing with x's history. */
static const ad_op DETACH = {"ad_detach", NULL, 0};

ad_tensor *(ad_detach)(ad_tape *tp, ad_tensor *x) {
    check_input(tp, &DETACH, 0, x);
    return (ad_input)(tp, x->rows, x->cols, x->val);
}

/* ------------------------------------------------------------- accessors ---- */

int ad_rows(const ad_tensor *t) { return t->rows; }
int ad_cols(const ad_tensor *t) { return t->cols; }
ad_real *ad_data(ad_tensor *t) { return t->val; }
ad_real *ad_grad(ad_tensor *t) { return t->grad; }
bool ad_requires_grad(const ad_tensor *t) { return t->requires_grad; }

ad_real ad_get(const ad_tensor *t, int row, int col) {
    if (row < 0 || row >= t->rows || col < 0 || col >= t->cols)
        ad_fail_at(t->file, t->line, "ad_get", "[%d,%d] is outside %s's %dx%d", row, col,
                   ad_name(t), t->rows, t->cols);
    return t->val[(size_t)row * (size_t)t->cols + (size_t)col];
}

ad_real ad_item(const ad_tensor *t) {
    if (t->rows != 1 || t->cols != 1)
        ad_fail_at(t->file, t->line, "ad_item", "%s is %dx%d, not 1x1", ad_name(t), t->rows,
                   t->cols);
    return t->val[0];
}

/* ---------------------------------------------------------- reverse pass ---- */

/* Clear n reals; a large buffer (the logits' gradient of a language model is tens of MB) on all
 * threads, or the zeroing alone caps what a second thread can gain. */
static void zero_reals(ad_real *v, size_t n) {
    enum { SLICE = 16384 }; /* 64 KiB of floats per memset */
    if (!ad_parallel_worth(n)) {
        memset(v, 0, n * sizeof *v);
        return;
    }
    const ptrdiff_t slices = (ptrdiff_t)((n + SLICE - 1) / SLICE);
    AD_PARALLEL_FOR(n, for (ptrdiff_t s = 0; s < slices; s++) {
        const size_t lo = (size_t)s * SLICE, len = n - lo < SLICE ? n - lo : SLICE;
        memset(v + lo, 0, len * sizeof *v);
    });
}

/* A node's gradient buffer is made (and cleared) when its last consumer's backward is about to
 * add into it: just before use, so it is still in cache for the first +=. */
static void ensure_grad(ad_tape *tp, ad_tensor *x) {
    if (x->grad || !x->requires_grad) return; /* parameters always have theirs */
    x->grad = ad_alloc(tp, ad_size(x) * sizeof(ad_real));
    zero_reals(x->grad, ad_size(x));
}

/* Whether x is also an input of y after its first place (then y both sets and adds to it). */
static bool appears_again(const ad_tensor *y, const ad_tensor *x) {
    for (int j = 1; j < y->nin; j++)
        if (y->in[j] == x) return true;
    return false;
}

static int node_index(const ad_tape *tp, const ad_tensor *y) {
    for (int i = tp->nnodes - 1; i >= 0; i--)
        if (tp->nodes[i] == y) return i;
    return -1;
}

/* The reverse pass from loss, seeded with dloss (its shape; NULL: 1 for a 1 x 1 loss). */
static void backward_from(ad_tape *tp, ad_tensor *loss, const ad_real *dloss, const char *op) {
    if (loss->kind != AD_KIND_PARAM && loss->tape == tp && loss->gen != tp->gen)
        ad_fail_at(loss->file, loss->line, op,
                   "the loss (%s) was recorded before the last ad_tape_reset", ad_name(loss));
    int last = loss->kind == AD_KIND_PARAM ? -1 : node_index(tp, loss);
    if (last < 0)
        ad_fail_at(loss->file, loss->line, op,
                   "the loss (%s) is not a node of this tape's current recording", ad_name(loss));
    if (!loss->requires_grad) return; /* nothing it depends on needs a gradient */
    /* Transposed copies live for this pass only: between passes a parameter may change (an
     * optimizer step), and the next op reads its current values. */
    tp->ntransposed = 0;
    tp->in_backward = true;

    /* A second backward over the same recording starts the intermediates from zero again (a
     * leaf's gradient is its owner's, and accumulates as a parameter's does). */
    for (int i = 0; i <= last; i++)
        if (tp->nodes[i]->grad && tp->nodes[i]->kind == AD_KIND_NODE)
            zero_reals(tp->nodes[i]->grad, ad_size(tp->nodes[i]));
    ensure_grad(tp, loss);
    if (dloss) {
        for (size_t k = 0, n = ad_size(loss); k < n; k++) loss->grad[k] += dloss[k];
    } else {
        loss->grad[0] = 1;
    }

    for (int i = last; i >= 0; i--) {
        ad_tensor *y = tp->nodes[i];
        if (!y->grad || !y->op->backward) continue; /* not on the loss's path, or a leaf */
        for (int j = 0; j < y->nin; j++) {
            ad_tensor *x = y->in[j];
            if (j == 0 && !x->grad && x->requires_grad && (y->op->flags & AD_OP_SETS_GRAD0) &&
                !appears_again(y, x)) {
                x->grad = ad_alloc(tp, ad_size(x) * sizeof(ad_real)); /* y assigns all of it */
                x->grad_unset = true;
                continue;
            }
            ensure_grad(tp, x);
            if (x->kind == AD_KIND_PARAM && x->grad && !(y->op->flags & AD_OP_SPARSE_ROWS))
                ad_param_mark_dense(x);
        }
        y->op->backward(y);
        if (y->nin > 0) y->in[0]->grad_unset = false; /* y has written it now */
        if (tp->check_finite)
            for (int j = 0; j < y->nin; j++)
                if (y->in[j]->grad) check_finite(y->in[j], y->in[j]->grad, "gradient", y);
    }
    tp->in_backward = false;
    tp->ntransposed = 0;
}

void ad_backward(ad_tape *tp, ad_tensor *loss) {
    if (!loss) ad_fail(tp, "ad_backward", "loss is NULL");
    if (loss->rows != 1 || loss->cols != 1)
        ad_fail_at(loss->file, loss->line, "ad_backward",
                   "the loss must be 1x1, but %s is %dx%d", ad_name(loss), loss->rows, loss->cols);
    backward_from(tp, loss, NULL, "ad_backward");
}

void ad_backward_from(ad_tape *tp, ad_tensor *y, const ad_real *dy) {
    if (!y || !dy) ad_fail(tp, "ad_backward_from", "%s is NULL", y ? "dy" : "y");
    backward_from(tp, y, dy, "ad_backward_from");
}

/* --------------------------------------------------------------- threads ---- */
/*
 * The elementwise kernels run on OpenMP's threads and the products on OpenBLAS's: one pool when
 * meson links Debian's OpenMP build of OpenBLAS (see meson.build), two otherwise. The ops never
 * call BLAS inside a parallel region of their own, so the two never compete within one op.
 * A model whose workers each record on their own tape inside a region (word2vec, glove) makes its
 * products there (the OpenMP build of OpenBLAS runs them on the calling thread). ad_set_num_threads
 * sizes both pools, so a user who asks for n threads gets n busy cores whichever pool is working.
 */

static int num_threads; /* 0: OpenMP's default */

void ad_set_num_threads(int n) {
    num_threads = n > 0 ? n : 0;
    int k = n > 0 ? n : 1;
#ifdef _OPENMP
    if (n <= 0) k = omp_get_num_procs();
    omp_set_num_threads(k);
#endif
    openblas_set_num_threads(k);
}

bool ad_parallel_worth(size_t elements) {
#ifdef _OPENMP
    return elements >= AD_PAR_MIN && omp_get_max_threads() > 1 && !omp_in_parallel();
#else
    (void)elements;
    return false;
#endif
}

int ad_num_threads(void) {
#ifdef _OPENMP
    return num_threads ? num_threads : omp_get_max_threads();
#else
    return 1;
#endif
}

/* ----------------------------------------------------------- BLAS kernels ---- */
/*
 * A DYNAMIC_ARCH OpenBLAS (Debian's) picks its kernels when it loads, from the CPU, or from
 * OPENBLAS_CORETYPE when that is set. On a CPU with AVX-512 its SkylakeX kernels do about twice
 * the sgemm work per second of the Haswell (AVX2) ones, but 0.3.21 does not know every AVX-512 CPU
 * and can settle for Haswell or older. Before main (OpenBLAS's own constructor has run: it is a
 * library we depend on), when the CPU and the OS support AVX-512 and the user did not choose a
 * core, ask OpenBLAS to choose again with OPENBLAS_CORETYPE=SkylakeX. gotoblas_dynamic_quit and
 * _init are looked up at run time: an OpenBLAS built for one CPU has neither and keeps its
 * kernels. No BLAS call can be running yet, so swapping the kernel table is safe.
 */

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
static bool blas_core_has_avx512(const char *core) {
    static const char *const fast[] = {"SkylakeX", "Cooperlake", "SapphireRapids"};
    for (size_t i = 0; i < sizeof fast / sizeof fast[0]; i++)
        if (strcasecmp(core, fast[i]) == 0) return true;
    return false;
}

static void (*blas_symbol(const char *name))(void) {
    void (*fn)(void) = NULL;
    void *p = dlsym(RTLD_DEFAULT, name);
    if (p) memcpy(&fn, &p, sizeof fn); /* ISO C has no cast from object to function pointer */
    return fn;
}

__attribute__((constructor)) static void blas_pick_fast_core(void) {
    if (getenv("OPENBLAS_CORETYPE")) return; /* the user's choice stands */
    __builtin_cpu_init();
    /* libgcc's test includes the OS's support for the AVX-512 registers (XCR0) */
    if (!__builtin_cpu_supports("avx512f") || !__builtin_cpu_supports("avx512bw") ||
        !__builtin_cpu_supports("avx512dq") || !__builtin_cpu_supports("avx512vl"))
        return;
    const char *core = openblas_get_corename();
    if (!core || blas_core_has_avx512(core)) return;
    void (*quit)(void) = blas_symbol("gotoblas_dynamic_quit");
    void (*init)(void) = blas_symbol("gotoblas_dynamic_init");
    if (!quit || !init) return;
    /* gotoblas_dynamic_init reads the variable; remove it afterwards so the environment the
     * program and its children see is the one it was started with */
    if (setenv("OPENBLAS_CORETYPE", "SkylakeX", 1) != 0) return;
    quit();
    init();
    unsetenv("OPENBLAS_CORETYPE");
}
#endif

/* The kernels OpenBLAS uses, e.g. "SkylakeX" (its openblas_get_corename). */
const char *ad_blas_core(void) {
    const char *core = openblas_get_corename();
    return core ? core : "unknown";
}

