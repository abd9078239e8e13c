/*
 * nn.h — layers, recurrent cells, a sequence runner, and training utilities on the seqgrad tape.
 *
 * Everything here is a composition of the tape's public ops (ad.h): no layer has a hand-written
 * backward, and BPTT is the tape's reverse pass over the unrolled steps. Parameters belong to an
 * ad_params store; a layer struct only points at them, so layers are plain values with no _free.
 *
 * Conventions
 * - Row form: a batch is rows, y = x W + b with W (in x out) and b (1 x out).
 * - Sequences are TIME-MAJOR tensors of (T·B) x width: rows t·B .. t·B+B-1 hold step t of the B
 *   sequences. One product then covers every step (x Wx for all gates of all steps at once).
 * - Variable lengths: lengths[b] <= T per sequence; steps t >= lengths[b] are padding. They change
 *   neither the outputs that count, the loss (pass nn_seq_mask weights to ad_softmax_xent), nor any
 *   gradient; final states are taken at each sequence's true end.
 * - Gate order and weight layout (the same as PyTorch's, transposed to row form):
 *     Elman  1 gate              h' = act(x Wx + bx + h Wh + bh)
 *     LSTM   4 gates i f g o     Wx: in x 4H, Wh: H x 4H, bx, bh: 1 x 4H
 *     GRU    3 gates r z n       form A (PyTorch): n = tanh(x Wx_n + bx_n + r ∘ (h Wh_n + bh_n))
 *     GRU_CHO (form B, Cho 2014) gates u r in Wh (H x 2H), candidate weight Wc (H x H), bias bx only
 *   so weight_ih_l{k} = Wxᵀ, weight_hh_l{k} = Whᵀ, bias_ih_l{k} = bx, bias_hh_l{k} = bh.
 *
 * Errors: shape and usage errors stop with a message (as in ad.h). Files (checkpoints) return an
 * nn_status and leave a message naming the file and the problem in nn_last_error().
 */
#ifndef SEQGRAD_NN_H
#define SEQGRAD_NN_H

#include "ad.h"

#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------- status codes ---- */

typedef enum nn_status {
    NN_OK = 0,
    NN_ERR_IO,       /* open, read, write, rename, a full disk */
    NN_ERR_FORMAT,   /* not a checkpoint, truncated, malformed header */
    NN_ERR_VERSION,  /* a checkpoint of a format version this build does not read */
    NN_ERR_CHECKSUM, /* the data does not match its checksum */
    NN_ERR_MISMATCH, /* a tensor missing, extra, of another shape or type, another optimizer */
    NN_ERR_MEMORY,
} nn_status;

/* The message of the last failure in this thread: names the file and what was wrong. */
const char *nn_last_error(void);
const char *nn_status_name(nn_status s);
/* Record a failure's message for nn_last_error() and return s, for code built on nn/ (models,
 * data readers): return nn_set_error(NN_ERR_IO, "%s: cannot open: %s", path, strerror(errno)).
 * The message should start with the file's path. */
nn_status nn_set_error(nn_status s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ------------------------------------------------ random numbers, init ---- */

typedef struct nn_rng {
    uint64_t state;
} nn_rng;

nn_rng nn_rng_new(uint64_t seed);
uint64_t nn_rng_next(nn_rng *r);                /* 64 random bits */
double nn_rng_uniform(nn_rng *r);               /* [0, 1) */
double nn_rng_normal(nn_rng *r);                /* N(0, 1) */
uint32_t nn_rng_below(nn_rng *r, uint32_t n);   /* [0, n), unbiased */

/* Xavier/Glorot uniform for a (fan_in x fan_out) weight: U(-a, a), a = sqrt(6 / (fan_in +
 * fan_out)), so Var(W) = 2 / (fan_in + fan_out) (FORMULAS §12). */
void nn_init_xavier_uniform(ad_tensor *W, nn_rng *r);
void nn_init_uniform(ad_tensor *W, double lo, double hi, nn_rng *r);
void nn_init_constant(ad_tensor *W, double value);

/* ------------------------------------------------------------- layers ---- */

typedef struct nn_linear {
    ad_tensor *W; /* in x out, Xavier */
    ad_tensor *b; /* 1 x out, zero; NULL without bias */
} nn_linear;

void nn_linear_init(nn_linear *l, ad_params *ps, const char *name, int in, int out, bool bias,
                    nn_rng *r);
ad_tensor *nn_linear_forward(ad_tape *tp, const nn_linear *l, ad_tensor *x); /* x W + b */

typedef struct nn_embedding {
    ad_tensor *E; /* vocab x dim, U(-0.1, 0.1) by default */
} nn_embedding;

void nn_embedding_init(nn_embedding *e, ad_params *ps, const char *name, int vocab, int dim,
                       nn_rng *r);
/* n rows: E[ids[0]], ..., E[ids[n-1]]. The gradient touches only those rows (sparse updates). */
ad_tensor *nn_embedding_forward(ad_tape *tp, const nn_embedding *e, const int *ids, int n);

/* ---------------------------------------------------------------- cells ---- */

typedef enum nn_cell_kind {
    NN_ELMAN,      /* tanh */
    NN_ELMAN_RELU,
    NN_GRU,        /* form A, as PyTorch */
    NN_GRU_CHO,    /* form B, Cho et al. 2014 */
    NN_LSTM,
} nn_cell_kind;

/* One direction of one layer. */
typedef struct nn_cell {
    nn_cell_kind kind;
    int input, hidden, gates;
    ad_tensor *Wx, *Wh, *bx, *bh; /* bh is NULL for GRU_CHO */
    ad_tensor *Wc;                /* GRU_CHO's candidate weight; NULL otherwise */
} nn_cell;

const char *nn_cell_kind_name(nn_cell_kind k);
int nn_cell_gates(nn_cell_kind k);
int nn_cell_nstate(nn_cell_kind k); /* 2 for LSTM (h, c), else 1 */

/* Parameters named "<name>.Wx" etc.; Xavier weights, zero biases. forget_bias sets the LSTM's
 * forget-gate bias (bx only; 1 is a common choice, 0 matches PyTorch's default layout). */
void nn_cell_init(nn_cell *c, ad_params *ps, const char *name, nn_cell_kind kind, int input,
                  int hidden, double forget_bias, nn_rng *r);

/* One step. xw = x Wx + bx precomputed for this step (B x gates·H); state[] the previous states
 * (h, and c for LSTM), each B x H; writes the new states to next[] (next[0] = h). */
void nn_cell_step(ad_tape *tp, const nn_cell *c, ad_tensor *xw, ad_tensor *const *state,
                  ad_tensor **next);

/* ----------------------------------------------------- sequence runner ---- */

#define NN_MAX_LAYERS 8

typedef struct nn_rnn {
    nn_cell_kind kind;
    int layers, input, hidden;
    bool bidirectional;
    double dropout;                       /* between layers, in training */
    nn_cell cell[NN_MAX_LAYERS][2];       /* [layer][0 forward, 1 backward] */
} nn_rnn;

typedef struct nn_rnn_config {
    nn_cell_kind kind;
    int input, hidden, layers;            /* layers 0 means 1 */
    bool bidirectional;
    double dropout;
    double forget_bias;                   /* LSTM */
} nn_rnn_config;

void nn_rnn_init(nn_rnn *rnn, ad_params *ps, const char *name, const nn_rnn_config *cfg,
                 nn_rng *r);
int nn_rnn_output_width(const nn_rnn *rnn); /* hidden, or 2·hidden when bidirectional */

/* States carried between calls (truncated BPTT), outside any tape: for every layer and
 * direction, h (and c) of B sequences. */
typedef struct nn_rnn_state {
    int layers, dirs, nstate, batch, hidden;
    ad_real *data; /* [layer][dir][state][batch][hidden] */
} nn_rnn_state;

nn_rnn_state *nn_rnn_state_new(const nn_rnn *rnn, int batch); /* zeros */
void nn_rnn_state_free(nn_rnn_state *s);                       /* NULL is a no-op */
void nn_rnn_state_zero(nn_rnn_state *s);

typedef struct nn_rnn_result {
    ad_tensor *out; /* (T·B) x output width: the last layer's states, padding rows zero */
    ad_tensor *final[NN_MAX_LAYERS][2][2]; /* [layer][dir][h or c], B x H, at each true end */
} nn_rnn_result;

/* Run the stack over x ((T·B) x input, time-major). lengths: B entries in [1, T], or NULL for
 * all T. init: initial states (entering the tape detached), or NULL for zeros. With two or more
 * threads (ad_set_num_threads) a layer runs in parts at once, each on a child tape of tp
 * (ad_tape_child) and a thread of its own, forward and backward: a bidirectional layer its two
 * directions, a unidirectional one blocks of the batch (as many as threads, at most B). The
 * values and gradients are those of the serial runner, up to the order of the parts' sums. */
nn_rnn_result nn_rnn_forward(ad_tape *tp, const nn_rnn *rnn, ad_tensor *x, int T,
                             const int *lengths, const nn_rnn_state *init);

/* Copy a result's final states into s, for the next window of truncated BPTT. */
void nn_rnn_state_store(nn_rnn_state *s, const nn_rnn_result *res);

/* Per-row weights of a time-major (T·B) batch: 1 where t < lengths[b], else 0 (NULL lengths: all
 * 1). w has T·B entries. For ad_softmax_xent's weights. */
void nn_seq_mask(ad_real *w, int T, int B, const int *lengths);

/* ---------------------------------------------------- PyTorch layout ---- */

/* Copy between a runner's parameters and PyTorch's nn.RNN/GRU/LSTM state_dict tensors, given in
 * PyTorch's own shapes (weight_ih_l{k}[_reverse]: gates·H x in, weight_hh: gates·H x H, biases
 * gates·H). name is e.g. "weight_ih_l1_reverse". Returns 0, or -1 if the name or size does not fit
 * (GRU_CHO has no PyTorch counterpart). */
int nn_rnn_from_torch(nn_rnn *rnn, const char *name, const ad_real *data, size_t n);
int nn_rnn_to_torch(const nn_rnn *rnn, const char *name, ad_real *data, size_t n);

/* ---------------------------------------------------------- optimizers ---- */

typedef enum nn_optim_kind {
    NN_SGD,      /* θ -= lr g                                               */
    NN_MOMENTUM, /* v = μ v + g; θ -= lr v                    (PyTorch SGD) */
    NN_NESTEROV, /* v = μ v + g; θ -= lr (g + μ v)                           */
    NN_ADAGRAD,  /* s += g²; θ -= lr g / (√s + ε)                           */
    NN_RMSPROP,  /* s = ρ s + (1-ρ) g²; θ -= lr g / (√s + ε)                */
    NN_ADAM,     /* m, v moments; bias-corrected; θ -= lr m̂ / (√v̂ + ε)     */
} nn_optim_kind;

typedef struct nn_optim_config {
    nn_optim_kind kind;
    double lr;
    double momentum;     /* μ, MOMENTUM and NESTEROV */
    double rho;          /* RMSPROP (0: 0.99) */
    double beta1, beta2; /* ADAM (0: 0.9, 0.999) */
    double eps;          /* ADAGRAD, RMSPROP, ADAM (0: 1e-8; ADAGRAD 1e-10) */
    double weight_decay; /* L2: g += λ θ on parameters with more than one row (not biases) */
    bool sparse;         /* lazy updates: rows of a parameter only ad_gather_rows touched are the
                            only rows updated (their state too), as TensorFlow's LazyAdam */
} nn_optim_config;

typedef struct nn_optim nn_optim;

/* Create after the last ad_param of the store: the state arrays take the store's size then (a
 * step on a store that grew since stops with a message). Zeros in cfg mean the defaults above;
 * nn_optim_get_config returns them filled in. weight_decay is PyTorch's (g += λθ): the lecture's
 * L2 term λΣθ² has gradient 2λθ, i.e. weight_decay = 2λ. In sparse mode a parameter that no op
 * touched since zero_grad is left alone (as PyTorch skips a None gradient), and decay reaches
 * only the touched rows. */
nn_optim *nn_optim_new(ad_params *ps, const nn_optim_config *cfg);
const char *nn_optim_kind_name(nn_optim_kind k); /* "sgd", "momentum", ..., "adam" */
void nn_optim_free(nn_optim *o); /* NULL is a no-op */
void nn_optim_step(nn_optim *o); /* one update from the gradients in the store */
void nn_optim_set_lr(nn_optim *o, double lr);
double nn_optim_lr(const nn_optim *o);
long nn_optim_steps(const nn_optim *o);
const nn_optim_config *nn_optim_get_config(const nn_optim *o);
/* The optimizer's state as flat arrays with the store's layout: count, and each by index with its
 * PyTorch name ("momentum", "sum", "square_avg", "exp_avg", "exp_avg_sq"). For checkpoints. */
int nn_optim_state_count(const nn_optim *o);
ad_real *nn_optim_state(const nn_optim *o, int i, const char **name);
void nn_optim_set_steps(nn_optim *o, long steps);

/* One training step on a recorded loss, in the order that matters: zero the gradients, backward,
 * clip to max_norm (if > 0), update. Returns the loss. The tape is left as it is: reset it after
 * reading anything else it holds. */
double nn_train_step(ad_tape *tp, ad_tensor *loss, nn_optim *o, double max_norm);

/* Scale all gradients so their global L2 norm is at most max_norm (by exactly max_norm / norm);
 * returns the norm before. A non-finite norm is returned and nothing is scaled. */
double nn_clip_grad_norm(ad_params *ps, double max_norm);

/* Learning-rate schedules (FORMULAS §12). */
double nn_lr_step_halving(double lr0, int epoch, int every); /* lr0 / 2^floor(epoch/every) */
double nn_lr_exp_decay(double lr0, double k, double t);      /* lr0 e^{-k t} */

/* --------------------------------------------------------- checkpoints ---- */
/*
 * A checkpoint is a safetensors file (PyTorch's safetensors.torch.load_file and numpy read it):
 * an 8-byte little-endian header length, a JSON header naming each tensor with its dtype (F32 or
 * F64), shape and byte range, then the raw little-endian data. Parameters are stored under their
 * names; optimizer state as "optim.<state>.<param>"; "__metadata__" holds the format name
 * "seqgrad", its version, the optimizer kind and step count, the user's counters, and a CRC-32 of
 * the data. Written to a temporary file in the same directory, flushed and fsynced, then renamed
 * over the target: a crash or a full disk leaves the old checkpoint in place.
 */

#define NN_CHECKPOINT_VERSION 1
#define NN_CHECKPOINT_MAX_COUNTERS 16

/* Whatever else a run needs to resume exactly: step, epoch, RNG states, data position. */
typedef struct nn_counters {
    int n;
    const char *name[NN_CHECKPOINT_MAX_COUNTERS];
    uint64_t value[NN_CHECKPOINT_MAX_COUNTERS];
} nn_counters;

/* opt and counters may be NULL. */
nn_status nn_checkpoint_save(const char *path, ad_params *ps, const nn_optim *opt,
                             const nn_counters *counters);
/* Every parameter of ps (and the state of opt, if given) must be in the file with its shape and
 * type (no F32/F64 conversion); a tensor the model lacks, another optimizer kind or a counter
 * missing from the file is NN_ERR_MISMATCH. With opt NULL the optimizer state in the file is
 * skipped (weights only). Hyperparameters such as the learning rate are not stored: a resumed run
 * sets them from its own config, schedule or counters. On any error nothing in memory changes.
 * counters (may be NULL): names to look up; values filled. NN_ERR_IO from the final directory
 * sync means the new file is already in place. */
nn_status nn_checkpoint_load(const char *path, ad_params *ps, nn_optim *opt,
                             nn_counters *counters);

/* Only the counters of a checkpoint (after the same checks of the file as a load): what a program
 * needs to build the right model before loading it. Nothing else is read into memory. */
nn_status nn_checkpoint_counters(const char *path, nn_counters *counters);

/*
 * Files written atomically (checkpoints, word vectors): readers see the old file or the new one
 * whole, never a part. nn_file_begin creates "<path>.tmp.<pid>" beside path and returns it open
 * for writing (its name in *tmp), or NULL with the reason set (nn_last_error). Write to it,
 * stopping at the first failed write so that errno still tells why; then nn_file_commit checks,
 * flushes, fsyncs and closes it, renames it over path and fsyncs the directory; or it removes the
 * temporary and reports which step failed and why (NN_ERR_IO). It frees *tmp either way. A crash
 * or a full disk leaves the old file in place.
 */
nn_status nn_file_begin(const char *path, FILE **f, char **tmp);
nn_status nn_file_commit(FILE *f, char *tmp, const char *path);

#ifdef __cplusplus
}
#endif
#endif
