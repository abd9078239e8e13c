/*
 * ad_internal.h — what an op of the tape is made of. Only autodiff/ includes this.
 *
 * Writing an op (one ops_<family>.c file, one line in ad.h, one test):
 *
 *     // y = tanh(x); dx += dy (1 - y²)
 *     static void tanh_backward(ad_tensor *y) {
 *         ad_tensor *x = y->in[0];
 *         for (size_t k = 0; k < ad_size(y); k++) x->grad[k] += y->grad[k] * (1 - y->val[k] * y->val[k]);
 *     }
 *     static const ad_op TANH = {"tanh", tanh_backward, 0};
 *
 *     ad_tensor *(ad_tanh)(ad_tape *tp, ad_tensor *x) {
 *         ad_tensor *y = ad_node(tp, &TANH, x->rows, x->cols, 1, x);
 *         for (...) y->val[k] = tanh(x->val[k]);
 *         return ad_done(tp, y);
 *     }
 *
 * ad_node checks its inputs and records the node; ad_done runs the finite check in debug mode.
 * A backward reads y->grad and ADDS into in[i]->grad for each input with in[i]->grad != NULL:
 * the tape allocates (zeroed) the gradient of every input that needs one before calling it, and
 * leaves it NULL for inputs that need none, so a backward tests `if (x->grad)`.
 */
#ifndef SEQGRAD_AD_INTERNAL_H
#define SEQGRAD_AD_INTERNAL_H

#include "ad.h"

#include "vecmath.h"

#include <math.h>
#include <string.h>

/* The float build's exp and tanh are vecmath.h's, which vectorize; the double build keeps libm's
 * (the reference the gradient tests hold to 1e-7). The others are calls in both builds. */
#ifdef AD_DOUBLE
#define AD_EXP exp
#define AD_LOG log
#define AD_LOG1P log1p
#define AD_TANH tanh
#define AD_FABS fabs
#define AD_SQRT sqrt
#else
#define AD_EXP ad_expf
#define AD_LOG logf
#define AD_LOG1P log1pf
#define AD_TANH ad_tanhf
#define AD_FABS fabsf
#define AD_SQRT sqrtf
#endif

#define AD_ALIGN 64 /* bytes: every buffer starts on a cache line (AVX-512 loads) */

/* The op descriptor: a node points at its op's, so the tape needs no central table. */
typedef struct ad_op {
    const char *name;
    void (*backward)(ad_tensor *y); /* adds into in[i]->grad; NULL for ops with no gradient */
    unsigned flags;
} ad_op;

enum {
    /* The op's backward writes only some rows of its parameter inputs and records them with
     * ad_param_touch_row (embedding gather, sampled losses); other ops make a parameter's
     * gradient dense. */
    AD_OP_SPARSE_ROWS = 1u << 0,
    /* The op's backward writes every element of its first input's gradient, and assigns (=)
     * instead of adding when that input's grad_unset is set: the tape then skips clearing a
     * buffer that is about to be overwritten (the logits' gradient of a language model is tens
     * of MB). The tape sets grad_unset only when this op is the first to write that gradient. */
    AD_OP_SETS_GRAD0 = 1u << 1,
};

/* LEAF: ad_leaf, values and gradient in the caller's memory (neither cleared nor freed here). */
typedef enum { AD_KIND_NODE, AD_KIND_INPUT, AD_KIND_LEAF, AD_KIND_PARAM } ad_kind;

typedef struct ad_param_info ad_param_info; /* params.c */

struct ad_tensor {
    int rows, cols;
    ad_real *val;          /* rows*cols, AD_ALIGN-aligned */
    ad_real *grad;         /* same shape, or NULL until the backward pass needs it */
    const ad_op *op;       /* NULL for leaves */
    ad_tensor **in;        /* the op's inputs */
    int nin;
    ad_kind kind;
    bool requires_grad;    /* a gradient must flow here: a parameter, or depends on one */
    bool grad_unset;       /* grad is allocated but not cleared: its first writer assigns */
    ad_tape *tape;         /* NULL for parameters */
    unsigned gen;          /* the tape's recording it belongs to (see ad_tape_reset) */
    /* What an op keeps for its backward: scalar arguments and one arena buffer. */
    ad_real arg[2];
    int iarg[2];
    void *aux;
    const char *file;      /* where the builder was called */
    int line;
    ad_param_info *param;  /* parameters only */
};

static inline size_t ad_size(const ad_tensor *t) { return (size_t)t->rows * (size_t)t->cols; }

/* Record a node of op on tp with nin inputs (varargs, ad_tensor *) and a fresh value buffer.
 * Stops with a message naming op and site if an input is NULL or belongs to another tape. */
ad_tensor *ad_node(ad_tape *tp, const ad_op *op, int rows, int cols, int nin, ...);
/* The same with the inputs given as an array (variadic ops such as concat). */
ad_tensor *ad_node_v(ad_tape *tp, const ad_op *op, int rows, int cols, int nin,
                     ad_tensor *const *in);
/* Finish a builder: the finite check in debug mode. Returns y. */
ad_tensor *ad_done(ad_tape *tp, ad_tensor *y);

/* C (m x n, row-major) = op(A) op(B) + beta C, with op(A) m x k and op(B) k x n: every product
 * of the tape goes through here (gemm.c). tp is the tape of the op making the product, or NULL;
 * a small product may keep a transposed copy of B there (ad_tape_transposed). */
void ad_gemm(ad_tape *tp, bool ta, bool tb, int m, int n, int k, const ad_real *A, int lda,
             const ad_real *B, int ldb, ad_real beta, ad_real *C, int ldc);

/* src (rows x cols, row stride ld) transposed, in tp's arena, during a backward pass of tp: made
 * on the first request and handed out again for the same operand until the pass ends (the
 * weight of a recurrent step, transposed once for all its steps; nothing changes values while a
 * pass runs). NULL outside a backward pass, where values may change between ops, and when
 * AD_TRANSPOSED_MAX operands are held already: the caller multiplies with src as it is. */
enum { AD_TRANSPOSED_MAX = 16 };
const ad_real *ad_tape_transposed(ad_tape *tp, const ad_real *src, int rows, int cols, int ld);

/* Arena memory that lives until the next reset: AD_ALIGN-aligned, not cleared. */
void *ad_alloc(ad_tape *tp, size_t bytes);

/* Stop with "file:line: op: message" through the error handler, using the tape's current call
 * site. Never returns. (ad_fail_at, in ad.h, takes the site explicitly.) */
_Noreturn void ad_fail(ad_tape *tp, const char *op, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Shape checks used by builders; each stops with both shapes named. */
void ad_check_same_shape(ad_tape *tp, const char *op, const ad_tensor *a, const ad_tensor *b);

/* The tape's random stream (dropout): a uniform double in [0, 1). */
double ad_tape_uniform(ad_tape *tp);

/* Sparse gradient bookkeeping for parameters (params.c). */
void ad_param_touch_row(ad_tensor *param, int row);
void ad_param_mark_dense(ad_tensor *param);


/* Stable logistic function: never exponentiates a positive number. The float build's is
 * vecmath.h's ad_sigmoidf, without a branch, so a loop over it vectorizes. */
static inline ad_real ad_sigmoid_of(ad_real x) {
#ifdef AD_DOUBLE
    if (x >= 0) return 1 / (1 + AD_EXP(-x));
    ad_real e = AD_EXP(x);
    return e / (1 + e);
#else
    return ad_sigmoidf(x);
#endif
}

/*
 * AD_ELEMENTWISE(name, FORWARD, DERIVATIVE) writes the two kernels of an elementwise op y = f(x)
 * with an optional scalar argument a (the node's arg[0]):
 *   static ad_tensor *name_build(ad_tape *tp, ad_tensor *x, ad_real a)   — records y = FORWARD
 *   static void name_backward(ad_tensor *y)                              — dx += dy * DERIVATIVE
 * FORWARD is an expression in x and a; DERIVATIVE one in x, y and a (y the output value). The
 * public builder, with its own signature and math comment, then calls name_build.
 * The loops are name_forward_run / name_backward_run over a range [k0, k1), built for the widest
 * vectors (AD_VECTOR_CLONES); the tensor is cut into AD_CHUNK pieces for the OpenMP threads.
 */
#define AD_CHUNK 4096
#define AD_ELEMENTWISE(name, FORWARD, DERIVATIVE)                                                  \
    AD_VECTOR_CLONES                                                                               \
    static void name##_backward_run(const ad_real *restrict xv, const ad_real *restrict yv,       \
                                    const ad_real *restrict dy, ad_real *restrict dx, ad_real a,  \
                                    ptrdiff_t k0, ptrdiff_t k1) {                                  \
        for (ptrdiff_t k = k0; k < k1; k++) {                                                      \
            const ad_real x = xv[k], y = yv[k];                                                    \
            (void)x, (void)y, (void)a;                                                             \
            dx[k] += dy[k] * (DERIVATIVE);                                                         \
        }                                                                                          \
    }                                                                                              \
    static void name##_backward(ad_tensor *yt) {                                                   \
        ad_tensor *xt = yt->in[0];                                                                 \
        if (!xt->grad) return;                                                                     \
        const ptrdiff_t n = (ptrdiff_t)ad_size(yt), chunks = (n + AD_CHUNK - 1) / AD_CHUNK;       \
        AD_PARALLEL_FOR((size_t)n, for (ptrdiff_t c = 0; c < chunks; c++) {                        \
            name##_backward_run(xt->val, yt->val, yt->grad, xt->grad, yt->arg[0], c * AD_CHUNK,    \
                                c == chunks - 1 ? n : (c + 1) * AD_CHUNK);                         \
        });                                                                                        \
    }                                                                                              \
    static const ad_op name##_op = {"ad_" #name, name##_backward, 0};                              \
    AD_VECTOR_CLONES                                                                               \
    static void name##_forward_run(const ad_real *restrict xv, ad_real *restrict yv, ad_real a,   \
                                   ptrdiff_t k0, ptrdiff_t k1) {                                   \
        for (ptrdiff_t k = k0; k < k1; k++) {                                                      \
            const ad_real x = xv[k];                                                               \
            (void)a;                                                                               \
            yv[k] = (FORWARD);                                                                     \
        }                                                                                          \
    }                                                                                              \
    static ad_tensor *name##_build(ad_tape *tp, ad_tensor *xt, ad_real a) {                        \
        if (!xt) ad_fail(tp, "ad_" #name, "input is NULL");                                       \
        ad_tensor *yt = ad_node(tp, &name##_op, xt->rows, xt->cols, 1, xt);                        \
        yt->arg[0] = a;                                                                            \
        const ptrdiff_t n = (ptrdiff_t)ad_size(yt), chunks = (n + AD_CHUNK - 1) / AD_CHUNK;       \
        AD_PARALLEL_FOR((size_t)n, for (ptrdiff_t c = 0; c < chunks; c++) {                        \
            name##_forward_run(xt->val, yt->val, a, c * AD_CHUNK,                                  \
                               c == chunks - 1 ? n : (c + 1) * AD_CHUNK);                          \
        });                                                                                        \
        return ad_done(tp, yt);                                                                    \
    }

#endif
