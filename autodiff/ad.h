/*
 * ad.h — seqgrad's reverse-mode automatic differentiation tape.
 *
 * A short tour
 * ------------
 * Every value is a 2-D row-major tensor of ad_real (float by default; double when the library and
 * its user are built with AD_DOUBLE). Rows are the batch: a vector is 1 x n.
 *
 * An ad_tape records operations as they run (define-by-run). Each builder computes its result at
 * once and appends a node to the tape; ad_backward() walks the tape in reverse from a scalar loss
 * and ACCUMULATES gradients into every tensor that needs one. ad_tape_reset() forgets all nodes
 * but keeps their memory, so a training loop allocates nothing after its first step.
 *
 * Parameters live outside any tape, in an ad_params store that keeps all values in one contiguous
 * block and all gradients in another (an optimizer steps over two flat arrays). A parameter enters
 * any tape directly as a leaf; its gradient sums over every use until ad_params_zero_grad().
 *
 *     ad_params *ps = ad_params_new();
 *     ad_tensor *W = ad_param(ps, "W", 4, 3), *b = ad_param(ps, "b", 1, 3);
 *     ad_tape *tp = ad_tape_new();
 *     for (int step = 0; step < 1000; step++) {
 *         ad_tensor *x = ad_input(tp, 8, 4, batch_x);                // 8 x 4, no gradient
 *         ad_tensor *h = ad_tanh(tp, ad_add(tp, ad_matmul(tp, x, W), b));   // b broadcasts
 *         ad_tensor *loss = ad_softmax_xent(tp, h, batch_y, NULL);   // mean over the 8 rows
 *         ad_params_zero_grad(ps);
 *         ad_backward(tp, loss);
 *         ... step over ad_params_values(ps) / ad_params_grads(ps) ...
 *         ad_tape_reset(tp);
 *     }
 *     ad_tape_free(tp);
 *     ad_params_free(ps);
 *
 * Ownership: the tape owns every tensor it returns, until ad_tape_reset() or ad_tape_free(). The
 * store owns its parameters until ad_params_free(). Data passed to builders (input values, index
 * and target arrays) is copied; the caller keeps its own.
 *
 * Errors come in two kinds. A broken contract (shapes that do not fit, an index out of range, a
 * tape misused) is a programmer error: it stops with a message that names the op, the shapes and
 * the caller's file:line, through the error handler (ad_set_error_handler), which by default
 * prints and aborts. Every builder is a macro that records its caller's file:line for that. A
 * failure of the outside world (memory) is reported the same way, never as a segfault.
 */
#ifndef SEQGRAD_AD_H
#define SEQGRAD_AD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- types ---- */

#ifdef AD_DOUBLE
typedef double ad_real;
#else
typedef float ad_real;
#endif

typedef struct ad_tape ad_tape;     /* an arena that records ops; owns their tensors */
typedef struct ad_tensor ad_tensor; /* a node on a tape, an input, or a parameter */
typedef struct ad_params ad_params; /* persistent parameters: one value block, one grad block */

/* ------------------------------------------------------------- the tape ---- */

ad_tape *ad_tape_new(void);
void ad_tape_free(ad_tape *tp); /* NULL is a no-op */

/* Forget every node recorded since the last reset; keep all memory for the next step. Tensors
 * of the tape are invalid afterwards: using one is caught as a contract error as long as its
 * memory has not been reused by the next recording (a best-effort check, not a guarantee). */
void ad_tape_reset(ad_tape *tp);

/* Seed d(loss)/d(loss) = 1 and accumulate gradients into every tensor the loss depends on that
 * needs one (parameters and the nodes between). loss must be 1 x 1. Nodes that need no gradient
 * are skipped. Gradients of intermediate nodes are cleared first, so a second call on the same
 * recording adds the same amounts to the parameters again (as PyTorch with retain_graph). */
void ad_backward(ad_tape *tp, ad_tensor *loss);

/* Backward from a node y of any shape, seeded with the upstream gradient dy (rows*cols, y's
 * shape): adds dy-weighted gradients (a vector-Jacobian product) into everything y depends on,
 * as ad_backward does from a loss (which is this with dy = 1). */
void ad_backward_from(ad_tape *tp, ad_tensor *y, const ad_real *dy);

/* Tapes within a tape, for parts of one step recorded and run on threads of their own (the two
 * directions of a bidirectional layer, or blocks of the batch, at once). A child of tp is an
 * empty tape in tp's training and debug modes, with a random stream of its own (mixed from tp's
 * state, which it leaves as it was); it is made on first use, reset with tp and handed out again
 * after that reset, and freed with tp, so a steady training loop allocates nothing. Handing
 * children out is not thread-safe: take them before the threads start; each is then used by one
 * thread. A contract error on a child inside a parallel region goes to the error handler there:
 * a handler that leaves by longjmp must not be used around such code. Tensors of tp enter a child
 * as ad_leaf over their values (with a gradient buffer to add into tp's afterwards); a child's
 * results come back to tp as ad_custom nodes, whose backward runs ad_backward_from on the
 * child. */
ad_tape *ad_tape_child(ad_tape *tp);

/* A node of tp whose rows x cols values the caller computes (write them into ad_data of the
 * result before any op reads it) and whose gradient the caller propagates, as a PyTorch
 * autograd.Function: in the reverse pass, backward(ctx, y) reads ad_grad(y) and adds into the
 * gradients of in[0..nin) (ad_grad of each; NULL for one that needs none) and of any parameter
 * it used. requires_grad: the reverse pass must call backward even when no input needs a
 * gradient (parameters used inside). ctx must live until tp's reset. */
typedef void (*ad_custom_backward)(void *ctx, ad_tensor *y);
ad_tensor *(ad_custom)(ad_tape *tp, int rows, int cols, int nin, ad_tensor *const *in,
                       ad_custom_backward backward, void *ctx, bool requires_grad);

/* Training mode (the default) enables dropout; evaluation mode makes it the identity. */
void ad_tape_set_training(ad_tape *tp, bool training);
bool ad_tape_training(const ad_tape *tp);

/* The seed of the tape's random stream (dropout masks). Same seed, same ops: same masks. The
 * stream runs on across resets; its raw state can be read and restored (exact resume from a
 * checkpoint). */
void ad_tape_seed(ad_tape *tp, uint64_t seed);
uint64_t ad_tape_rng_state(const ad_tape *tp);
void ad_tape_set_rng_state(ad_tape *tp, uint64_t state);

/* Debug mode: check every op's output (and, in backward, every gradient it produces) for NaN or
 * Inf and stop at the first, naming the op, its shapes and where it was built. Off by default. */
void ad_tape_set_check_finite(ad_tape *tp, bool on);

/* Scratch memory from the arena (64-byte aligned, not cleared), valid until the next reset: for
 * code built on the tape that needs per-step arrays without touching the heap. */
void *ad_tape_scratch(ad_tape *tp, size_t bytes);

/* Memory statistics: bytes reserved by the arena, nodes recorded since the last reset. */
size_t ad_tape_reserved_bytes(const ad_tape *tp);
int ad_tape_node_count(const ad_tape *tp);

/* -------------------------------------------------------------- tensors ---- */

int ad_rows(const ad_tensor *t);
int ad_cols(const ad_tensor *t);
ad_real *ad_data(ad_tensor *t);          /* rows*cols values, row-major */
ad_real *ad_grad(ad_tensor *t);          /* its gradient, or NULL when none was needed */
ad_real ad_get(const ad_tensor *t, int row, int col);
ad_real ad_item(const ad_tensor *t);     /* the value of a 1 x 1 tensor */
const char *ad_name(const ad_tensor *t); /* a parameter's name, or the op that made it */
bool ad_requires_grad(const ad_tensor *t);

/* ----------------------------------------------------------- parameters ---- */

ad_params *ad_params_new(void);
void ad_params_free(ad_params *ps); /* NULL is a no-op; frees every parameter tensor */

/* A new rows x cols parameter, zero-filled, gradient zero. The name is copied; it must be unique
 * in the store. The returned tensor lives until ad_params_free() and may enter any tape. Adding a
 * parameter may move the blocks: do not keep ad_data() pointers across ad_param() calls. */
ad_tensor *ad_param(ad_params *ps, const char *name, int rows, int cols);

int ad_params_count(const ad_params *ps);
ad_tensor *ad_params_at(ad_params *ps, int i);           /* in creation order */
ad_tensor *ad_params_find(ad_params *ps, const char *name); /* NULL if absent */
size_t ad_params_size(const ad_params *ps);   /* length of the value and gradient blocks, the
                                                  zero padding between parameters included */
ad_real *ad_params_values(ad_params *ps);                /* all values, one flat block */
ad_real *ad_params_grads(ad_params *ps);                 /* all gradients, same layout */
size_t ad_param_offset(const ad_tensor *param);          /* where a parameter starts in them */

/* Zero every gradient. Parameters whose gradient only rows gathered by ad_gather_rows touched
 * are cleared row by row; the others in one pass. */
void ad_params_zero_grad(ad_params *ps);

/* Which rows of a parameter received gradient since the last zero_grad, for sparse (lazy)
 * updates. Returns the number of rows and sets *rows to them (owned by the store); returns -1 when
 * the gradient is dense (some op other than ad_gather_rows used the parameter). */
int ad_param_touched_rows(const ad_tensor *param, const int **rows);

/* Stop (frozen = true) or resume gradient flow into a parameter. */
void ad_param_set_frozen(ad_tensor *param, bool frozen);

/* --------------------------------------------------- leaves on the tape ---- */

/* Values copied from data (rows*cols, row-major; NULL means zeros). No gradient. */
ad_tensor *(ad_input)(ad_tape *tp, int rows, int cols, const ad_real *data);
/* A tensor filled with one value. No gradient. */
ad_tensor *(ad_fill)(ad_tape *tp, int rows, int cols, ad_real value);
/* The caller's memory as a rows x cols leaf, read in place (not copied): the caller keeps values
 * unchanged and alive until the tape's reset. The backward ADDS the leaf's gradient into grad
 * (rows*cols, the caller's; the tape never clears it), or computes none when grad is NULL. For
 * Hogwild workers that read one shared table and each keep their own gradient (as PyTorch
 * workers over share_memory() parameters), and for large inputs not worth a copy. */
ad_tensor *(ad_leaf)(ad_tape *tp, int rows, int cols, ad_real *values, ad_real *grad);
/* The same values as x with no gradient path back to x (truncated BPTT, targets). */
ad_tensor *(ad_detach)(ad_tape *tp, ad_tensor *x);

/* ------------------------------------------------------ products (BLAS) ---- */

ad_tensor *(ad_matmul)(ad_tape *tp, ad_tensor *a, ad_tensor *b);    /* y = a b            */
ad_tensor *(ad_matmul_nt)(ad_tape *tp, ad_tensor *a, ad_tensor *b); /* y = a bᵀ           */
ad_tensor *(ad_matmul_tn)(ad_tape *tp, ad_tensor *a, ad_tensor *b); /* y = aᵀ b           */

/* ---------------------------------------------- elementwise arithmetic ---- */
/* Binary ops broadcast as NumPy does in 2-D: each dimension of a and b is equal or 1, so a bias
 * row (1 x n) adds to every row of an m x n batch, and a column (m x 1) scales every column. The
 * gradient of a broadcast operand sums over the dimension it was stretched along. */

ad_tensor *(ad_add)(ad_tape *tp, ad_tensor *a, ad_tensor *b); /* y = a + b                  */
ad_tensor *(ad_sub)(ad_tape *tp, ad_tensor *a, ad_tensor *b); /* y = a - b                  */
ad_tensor *(ad_mul)(ad_tape *tp, ad_tensor *a, ad_tensor *b); /* y = a ∘ b                  */
ad_tensor *(ad_div)(ad_tape *tp, ad_tensor *a, ad_tensor *b); /* y = a / b                  */
ad_tensor *(ad_scale)(ad_tape *tp, ad_tensor *x, ad_real c);     /* y = c x                 */
ad_tensor *(ad_add_const)(ad_tape *tp, ad_tensor *x, ad_real c); /* y = x + c               */
ad_tensor *(ad_neg)(ad_tape *tp, ad_tensor *x);                  /* y = -x                  */
ad_tensor *(ad_one_minus)(ad_tape *tp, ad_tensor *x);            /* y = 1 - x               */

/* ------------------------------------------------------ nonlinearities ---- */

ad_tensor *(ad_tanh)(ad_tape *tp, ad_tensor *x);       /* y = tanh x;   dx += dy (1 - y²)     */
ad_tensor *(ad_sigmoid)(ad_tape *tp, ad_tensor *x);    /* y = σ(x);     dx += dy y (1 - y)    */
ad_tensor *(ad_relu)(ad_tape *tp, ad_tensor *x);       /* y = max(0,x); dx += dy [x > 0]      */
ad_tensor *(ad_leaky_relu)(ad_tape *tp, ad_tensor *x, ad_real slope); /* y = x>0 ? x : slope x */
ad_tensor *(ad_hard_tanh)(ad_tape *tp, ad_tensor *x);  /* y = clamp(x,-1,1); dx += dy [|x|<1] */
ad_tensor *(ad_cube)(ad_tape *tp, ad_tensor *x);       /* y = x³;       dx += 3 x² dy         */
ad_tensor *(ad_square)(ad_tape *tp, ad_tensor *x);     /* y = x²;       dx += 2 x dy          */
ad_tensor *(ad_exp)(ad_tape *tp, ad_tensor *x);        /* y = eˣ;       dx += dy y            */
ad_tensor *(ad_log)(ad_tape *tp, ad_tensor *x);        /* y = ln x;     dx += dy / x          */
ad_tensor *(ad_log_sigmoid)(ad_tape *tp, ad_tensor *x);/* y = log σ(x), stable; dx += dy σ(-x) */

/* Inverted dropout: in training, each element is zeroed with probability p and the survivors
 * scaled by 1/(1-p), from the tape's seeded stream; in evaluation (or p = 0), y = x. */
ad_tensor *(ad_dropout)(ad_tape *tp, ad_tensor *x, ad_real p);

/* ------------------------------------------------------- softmax, losses ---- */

/* Row-wise softmax. dx += y ∘ (dy - Σ_j dy_j y_j) per row. */
ad_tensor *(ad_softmax)(ad_tape *tp, ad_tensor *x);

/* Fused softmax + cross-entropy of logits (m x n) against integer targets (m entries in [0,n)).
 * Stable for any finite logits (it subtracts each row's maximum). Returns the 1 x 1 weighted mean
 * J = Σ_i w_i CE_i / Σ_i w_i, with w_i = 1 when weights is NULL; a weight of 0 masks a row (padding)
 * out of the loss and every gradient. dlogits_i += dJ w_i (softmax_i - onehot(target_i)) / Σ w. */
ad_tensor *(ad_softmax_xent)(ad_tape *tp, ad_tensor *logits, const int *targets,
                             const ad_real *weights);

/* The negative-sampling loss (word2vec, FORMULAS §9) over n pairs of rows of two tables:
 * J = -Σ_r log σ(s_r A[ia_r] · B[ib_r]) (1 x 1), s_r = sign[r] (+1 for an observed pair, -1 for a
 * sampled negative; NULL: all +1). Equal in value and gradient to ad_gather_rows of both, ad_rowdot,
 * times s, ad_log_sigmoid, ad_sum and ad_neg, without materializing the gathered rows:
 * dA[ia_r] += dJ g_r B[ib_r] and dB[ib_r] += dJ g_r A[ia_r], g_r = -s_r σ(-s_r z_r), only at the
 * rows used (a parameter table records them, as ad_gather_rows does). Indices are copied. */
ad_tensor *(ad_sampled_logistic)(ad_tape *tp, ad_tensor *A, const int *ia, ad_tensor *B,
                                 const int *ib, const ad_real *sign, int n);

/* Max-margin: J = (1/m) Σ_ij max(0, margin - s_ij + c_ij) for scores s of good and c of corrupt
 * examples (same shape, m rows). */
ad_tensor *(ad_hinge)(ad_tape *tp, ad_tensor *s, ad_tensor *c, ad_real margin);

/* Squared error, as torch's MSELoss: J = mean over all elements of (y - t)². */
ad_tensor *(ad_mse)(ad_tape *tp, ad_tensor *y, ad_tensor *t);

/* --------------------------------------------- indexing and reshaping ---- */

/* Embedding lookup: y_i = E[idx_i], n rows of E's width. The backward scatter-adds into only the
 * rows used, and the store records which rows those were (ad_param_touched_rows). */
ad_tensor *(ad_gather_rows)(ad_tape *tp, ad_tensor *E, const int *idx, int n);

/* Bags of rows, as PyTorch's EmbeddingBag (sum mode): y_p = Σ E[idx_k] over k in [start[p],
 * start[p+1]) (n x E's width; zeros for an empty bag). start holds n + 1 offsets from 0, never
 * falling; idx holds start[n] rows. dE[idx_k] += dy_p, at those rows only (recorded as
 * ad_gather_rows records them). A bag's mean is this times a column of 1/count (ad_mul). */
ad_tensor *(ad_bag_rows)(ad_tape *tp, ad_tensor *E, const int *idx, const int *start, int n);

/* [x_0 x_1 ... x_{n-1}] side by side: all of equal rows, columns summed. */
ad_tensor *(ad_concat)(ad_tape *tp, int n, ad_tensor *const *xs);
ad_tensor *(ad_concat2)(ad_tape *tp, ad_tensor *a, ad_tensor *b);
/* x_0 above x_1 ... above x_{n-1}: all of equal columns, rows summed (time steps into one
 * time-major sequence tensor). */
ad_tensor *(ad_concat_rows)(ad_tape *tp, int n, ad_tensor *const *xs);
/* Columns [col, col+ncols) of x. */
ad_tensor *(ad_slice_cols)(ad_tape *tp, ad_tensor *x, int col, int ncols);
/* Rows [row, row+nrows) of x. */
ad_tensor *(ad_slice_rows)(ad_tape *tp, ad_tensor *x, int row, int nrows);

/* ---------------------------------------------------------- reductions ---- */

ad_tensor *(ad_sum)(ad_tape *tp, ad_tensor *x);               /* 1 x 1: Σ_ij x_ij           */
ad_tensor *(ad_mean)(ad_tape *tp, ad_tensor *x);              /* 1 x 1: Σ_ij x_ij / (m n)   */
ad_tensor *(ad_sum_rows)(ad_tape *tp, ad_tensor *x);          /* 1 x n: column sums         */
ad_tensor *(ad_rowdot)(ad_tape *tp, ad_tensor *a, ad_tensor *b); /* m x 1: y_i = a_i · b_i  */

/* ------------------------------------------------- recurrent cells, fused ---- */
/* A cell's gate math in one pass over the batch (ops_rnn.c), and the product that feeds it. The
 * gate ops take a step's two products apart: xw = x Wx + bx and hu = h Wh + bh (B x gates·H, in
 * PyTorch's gate order), and add them inside the pass. Each equals the composition in its comment
 * (primitive ops), in value and gradient. */

/* y = c + a b; c is m x n, or a 1 x n row added to every row. dc += dy (summed over rows for a
 * row), da += dy bᵀ, db += aᵀ dy. One gemm into a copy of c. */
ad_tensor *(ad_addmm)(ad_tape *tp, ad_tensor *c, ad_tensor *a, ad_tensor *b);
/* LSTM, gates i f g o, p = xw + hu (B x 4H), c B x H:  c' = σ(p_f) ∘ c + σ(p_i) ∘ tanh(p_g) */
ad_tensor *(ad_lstm_cell)(ad_tape *tp, ad_tensor *xw, ad_tensor *hu, ad_tensor *c);
/* LSTM output, from the same xw, hu and the new c' (B x H):  h' = σ(p_o) ∘ tanh(c') */
ad_tensor *(ad_lstm_hidden)(ad_tape *tp, ad_tensor *xw, ad_tensor *hu, ad_tensor *c);
/* GRU (PyTorch's form), gates r z n, xw and hu B x 3H, h B x H:  r = σ(xw_r + hu_r),
 * z = σ(xw_z + hu_z), n = tanh(xw_n + r ∘ hu_n), h' = z ∘ h + (1 - z) ∘ n */
ad_tensor *(ad_gru_cell)(ad_tape *tp, ad_tensor *xw, ad_tensor *hu, ad_tensor *h);

#define ad_addmm(...) AD_AT_(ad_addmm, __VA_ARGS__)
#define ad_lstm_cell(...) AD_AT_(ad_lstm_cell, __VA_ARGS__)
#define ad_lstm_hidden(...) AD_AT_(ad_lstm_hidden, __VA_ARGS__)
#define ad_gru_cell(...) AD_AT_(ad_gru_cell, __VA_ARGS__)

/* ------------------------------------------------------ gradient check ---- */

typedef struct ad_gradcheck_opts {
    double step;      /* central-difference step h (0: 1e-6 in double, 1e-2 in float) */
    double rtol;      /* pass if |analytic - numeric| <= atol + rtol max(|analytic|, |numeric|) */
    double atol;
    int max_coords;   /* per parameter; larger tensors are sampled (0: 64) */
    uint64_t seed;    /* which coordinates are sampled */
    double kink_tol;  /* > 0: skip a coordinate whose one-sided differences disagree by more
                         than this (a kink such as relu at 0 lies within h) */
} ad_gradcheck_opts;

typedef struct ad_gradcheck_result {
    int checked, skipped;         /* coordinates compared, and skipped as kinks */
    double max_abs_err, max_rel_err;
    /* the first failure (failed = true), or else the worst coordinate */
    bool failed;
    char tensor[64];
    int row, col;
    double analytic, numeric;
    char message[256];            /* one line naming tensor, coordinate and both values */
} ad_gradcheck_result;

/* The loss a gradient check differentiates: record it on tp from the parameters in ctx. */
typedef ad_tensor *(*ad_loss_fn)(ad_tape *tp, void *ctx);

/* Compare ad_backward's gradient of loss_fn with central differences, for every parameter of ps
 * that is not frozen. Returns 0 when all checked coordinates pass, -1 otherwise; *res (may be
 * NULL) says which tensor and coordinate failed. The parameters' values are restored; their
 * gradients are left holding the analytic gradient. opts may be NULL for the defaults. */
int ad_gradcheck(ad_params *ps, ad_loss_fn loss_fn, void *ctx, const ad_gradcheck_opts *opts,
                 ad_gradcheck_result *res);

/* --------------------------------------------------------------- errors ---- */

/* Called with a one-line message on a broken contract or an allocation failure. The default
 * prints it to stderr and aborts. A handler that returns still ends in abort(); one that must go
 * on (a test of the message) leaves by longjmp. */
typedef void (*ad_error_fn)(const char *message, void *ctx);
void ad_set_error_handler(ad_error_fn fn, void *ctx);

/* Report a broken contract through the handler as "file:line: op: message" and stop. For code
 * built on the tape (nn/, models/), so its usage errors reach the same handler. */
_Noreturn void ad_fail_at(const char *file, int line, const char *op, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* --------------------------------------------------------------- threads ---- */

/* Threads for both the elementwise kernels (OpenMP) and the products (OpenBLAS); the two pools
 * never run at once. 0 restores the default: every core. */
void ad_set_num_threads(int n);
int ad_num_threads(void);

/* Every matrix product the tape makes, told to fn before it runs, from the thread that runs it
 * (bench/ checks its count of a step's products with this): C (m x n) = op(A) (m x k) op(B)
 * (k x n) + beta C, ta and tb saying whether A and B are transposed. small: it goes to libxsmm's
 * generated kernels (a product of a few rows, when the library was built with libxsmm), else to
 * OpenBLAS. NULL stops it. Set it while no step runs. */
typedef void (*ad_gemm_observer)(bool ta, bool tb, int m, int n, int k, double beta, bool small,
                                 void *ctx);
void ad_set_gemm_observer(ad_gemm_observer fn, void *ctx);

/* The kernels OpenBLAS uses, e.g. "SkylakeX" (openblas_get_corename). On a CPU with AVX-512, when
 * OPENBLAS_CORETYPE is unset and OpenBLAS chose an older core, seqgrad switches it to SkylakeX at
 * start-up (about twice the sgemm speed of its AVX2 kernels); a core set in OPENBLAS_CORETYPE is
 * kept. */
const char *ad_blas_core(void);

/* Whether a loop over this many elements should be split across threads: at least AD_PAR_MIN of
 * them, two or more threads to use, and not already inside a parallel region. A loop that fails
 * this must not enter an OpenMP region at all: libgomp allocates a fresh team for every region
 * that runs on one thread, and a training step would no longer be free of heap allocation. */
bool ad_parallel_worth(size_t elements);
#define AD_PAR_MIN 32768

/* AD_PARALLEL_FOR(elements, for-statement): the loop over OpenMP threads when
 * ad_parallel_worth(elements), else as it is. _SUM adds an OpenMP + reduction over var. */
#define AD_PRAGMA_(x) _Pragma(#x)
#define AD_PARALLEL_FOR(elements, ...)                                                             \
    do {                                                                                           \
        if (ad_parallel_worth(elements)) {                                                         \
            AD_PRAGMA_(omp parallel for)                                                           \
            __VA_ARGS__                                                                            \
        } else {                                                                                   \
            __VA_ARGS__                                                                            \
        }                                                                                          \
    } while (0)
#define AD_PARALLEL_FOR_SUM(elements, var, ...)                                                    \
    do {                                                                                           \
        if (ad_parallel_worth(elements)) {                                                         \
            AD_PRAGMA_(omp parallel for reduction(+ : var))                                        \
            __VA_ARGS__                                                                            \
        } else {                                                                                   \
            __VA_ARGS__                                                                            \
        }                                                                                          \
    } while (0)

/* ----------------------------------------------- call-site bookkeeping ---- */
/* Each builder is also a macro of the same name that first tells the tape where it was called
 * from, so a shape error names the caller's file:line. (ad_op)(...) calls the bare function. */

ad_tape *ad_tape_at(ad_tape *tp, const char *file, int line);
#define AD_AT_(f, tp, ...) (f)(ad_tape_at((tp), __FILE__, __LINE__), __VA_ARGS__)

#define ad_input(...) AD_AT_(ad_input, __VA_ARGS__)
#define ad_fill(...) AD_AT_(ad_fill, __VA_ARGS__)
#define ad_leaf(...) AD_AT_(ad_leaf, __VA_ARGS__)
#define ad_custom(...) AD_AT_(ad_custom, __VA_ARGS__)
#define ad_detach(...) AD_AT_(ad_detach, __VA_ARGS__)
#define ad_matmul(...) AD_AT_(ad_matmul, __VA_ARGS__)
#define ad_matmul_nt(...) AD_AT_(ad_matmul_nt, __VA_ARGS__)
#define ad_matmul_tn(...) AD_AT_(ad_matmul_tn, __VA_ARGS__)
#define ad_add(...) AD_AT_(ad_add, __VA_ARGS__)
#define ad_sub(...) AD_AT_(ad_sub, __VA_ARGS__)
#define ad_mul(...) AD_AT_(ad_mul, __VA_ARGS__)
#define ad_div(...) AD_AT_(ad_div, __VA_ARGS__)
#define ad_scale(...) AD_AT_(ad_scale, __VA_ARGS__)
#define ad_add_const(...) AD_AT_(ad_add_const, __VA_ARGS__)
#define ad_neg(...) AD_AT_(ad_neg, __VA_ARGS__)
#define ad_one_minus(...) AD_AT_(ad_one_minus, __VA_ARGS__)
#define ad_tanh(...) AD_AT_(ad_tanh, __VA_ARGS__)
#define ad_sigmoid(...) AD_AT_(ad_sigmoid, __VA_ARGS__)
#define ad_relu(...) AD_AT_(ad_relu, __VA_ARGS__)
#define ad_leaky_relu(...) AD_AT_(ad_leaky_relu, __VA_ARGS__)
#define ad_hard_tanh(...) AD_AT_(ad_hard_tanh, __VA_ARGS__)
#define ad_cube(...) AD_AT_(ad_cube, __VA_ARGS__)
#define ad_square(...) AD_AT_(ad_square, __VA_ARGS__)
#define ad_exp(...) AD_AT_(ad_exp, __VA_ARGS__)
#define ad_log(...) AD_AT_(ad_log, __VA_ARGS__)
#define ad_log_sigmoid(...) AD_AT_(ad_log_sigmoid, __VA_ARGS__)
#define ad_dropout(...) AD_AT_(ad_dropout, __VA_ARGS__)
#define ad_softmax(...) AD_AT_(ad_softmax, __VA_ARGS__)
#define ad_softmax_xent(...) AD_AT_(ad_softmax_xent, __VA_ARGS__)
#define ad_sampled_logistic(...) AD_AT_(ad_sampled_logistic, __VA_ARGS__)
#define ad_hinge(...) AD_AT_(ad_hinge, __VA_ARGS__)
#define ad_mse(...) AD_AT_(ad_mse, __VA_ARGS__)
#define ad_gather_rows(...) AD_AT_(ad_gather_rows, __VA_ARGS__)
#define ad_bag_rows(...) AD_AT_(ad_bag_rows, __VA_ARGS__)
#define ad_concat(...) AD_AT_(ad_concat, __VA_ARGS__)
#define ad_concat2(...) AD_AT_(ad_concat2, __VA_ARGS__)
#define ad_concat_rows(...) AD_AT_(ad_concat_rows, __VA_ARGS__)
#define ad_slice_cols(...) AD_AT_(ad_slice_cols, __VA_ARGS__)
#define ad_slice_rows(...) AD_AT_(ad_slice_rows, __VA_ARGS__)
#define ad_sum(...) AD_AT_(ad_sum, __VA_ARGS__)
#define ad_mean(...) AD_AT_(ad_mean, __VA_ARGS__)
#define ad_sum_rows(...) AD_AT_(ad_sum_rows, __VA_ARGS__)
#define ad_rowdot(...) AD_AT_(ad_rowdot, __VA_ARGS__)

#ifdef __cplusplus
}
#endif
#endif
