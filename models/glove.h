/*
 * glove.h — GloVe word vectors (Pennington et al. 2014; FORMULAS §10): co-occurrence counts X_ij
 * over a symmetric window, then weighted least squares on log X_ij,
 *
 *     J = Σ_{X_ij>0} f(X_ij) (w_iᵀ w̃_j + b_i + b̃_j − log X_ij)²,  f(x) = min(1, (x/x_max)^α),
 *
 * trained by AdaGrad over the pairs in a fresh random order each epoch, on several threads at once
 * without locks, each thread recording its minibatches on its own tape. A word's final vector is
 * w + w̃ (u + v).
 *
 *     text_ids ids;                                    // text_read(path, TEXT_WORDS, v, -1, &ids)
 *     glove_cooc c;
 *     glove_count(&c, &ids, text_vocab_size(v), &(glove_count_config){.window = 10});
 *     glove g;
 *     glove_init(&g, ps, text_vocab_size(v), 100, &rng);
 *     glove_trainer *t = glove_trainer_new(&g, &c, &(glove_train_config){0}); // the defaults
 *     for (int e = 0; e < 25; e++) printf("cost %f\n", glove_train_epoch(t));
 *     glove_table(&g, v, &table);                      // w + w̃, for wv_save and the evaluations
 *
 * Ownership: a glove struct only points at parameters of the caller's store (as nn/'s layers);
 * glove_cooc owns its pairs; the trainer owns its per-thread tapes and reorders the pairs of the
 * glove_cooc it was given (grouped into blocks, then shuffled), which must outlive it.
 */
#ifndef SEQGRAD_GLOVE_H
#define SEQGRAD_GLOVE_H

#include "text.h"
#include "vectors.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ----------------------------------------------------- co-occurrences ---- */

/* One nonzero entry of X: word i (the row, w), context word j (the column, w̃), its count. */
typedef struct glove_pair {
    int i, j;
    float x;
} glove_pair;

/* The nonzero entries of X, both X_ij and X_ji (one entry for X_ii): what training visits. */
typedef struct glove_cooc {
    int vocab;
    size_t n;
    glove_pair *pairs; /* owned; in no particular order (the trainer shuffles them) */
} glove_cooc;

typedef struct glove_count_config {
    int window;           /* tokens on each side (0: 10) */
    bool unweighted;      /* add 1 for a pair; by default 1/d for two tokens d apart, as
                             Stanford's cooccur */
    bool across_lines;    /* let the window run over line ends; by default it stops there (one
                             sentence per line), as Stanford's cooccur and FORMULAS §10's table */
} glove_count_config;

/*
 * Count X over the tokens of t (ids in [0, vocab)): each two tokens at most `window` apart add
 * the same amount to X_ij and X_ji (2 to X_ii for a word near itself). <unk> tokens (TEXT_UNK)
 * are dropped first, as Stanford's cooccur skips words outside its vocabulary: the window closes
 * over them. cfg may be NULL for the defaults. NN_ERR_MEMORY when the table does not fit; a
 * corpus with no pair at all is NN_ERR_FORMAT ("no co-occurrences"). An id outside the vocabulary
 * is a contract error.
 */
nn_status glove_count(glove_cooc *out, const text_ids *t, int vocab, const glove_count_config *cfg);
void glove_cooc_free(glove_cooc *c); /* frees the pairs, zeroes the struct */
/* X_ij by a scan of the pairs (0 when absent): for tests and small tables. */
double glove_cooc_get(const glove_cooc *c, int i, int j);

/* ---------------------------------------------------------------- model ---- */

#define GLOVE_X_MAX 100.0
#define GLOVE_ALPHA 0.75

/* f(x) = (x / x_max)^α for x < x_max, else 1. */
double glove_weight(double x, double x_max, double alpha);

typedef struct glove {
    int vocab, dim;
    ad_tensor *W, *Wt;   /* "glove.W", "glove.Wt": word and context vectors, vocab x dim */
    ad_tensor *b, *bt;   /* "glove.b", "glove.bt": their biases, vocab x 1 */
    /* AdaGrad's accumulated squared steps, one per value of W, Wt, b, bt ("glove.W.G", ...):
     * frozen parameters, so that a checkpoint of the store holds the whole training state. */
    ad_tensor *GW, *GWt, *Gb, *Gbt;
} glove;

/* Parameters in ps, initialised as Stanford's: W, W̃, b, b̃ uniform in ±0.5/dim, the
 * accumulators 1. */
void glove_init(glove *g, ad_params *ps, int vocab, int dim, nn_rng *r);

/* FORMULAS §10's cost over n pairs, recorded on tp: rows of W, W̃, b, b̃ gathered
 * (ad_gather_rows), so that a backward leaves the gradient in the store. Returns J (1 x 1), with
 * f from x_max and alpha (0: GLOVE_X_MAX, GLOVE_ALPHA). */
ad_tensor *glove_loss(ad_tape *tp, const glove *g, const glove_pair *pairs, int n, double x_max,
                      double alpha);

/* ------------------------------------------------------------- training ---- */

/*
 * Each pair's step is Stanford's AdaGrad on ½J, for every value θ of the two rows (and biases)
 * the pair touches, with g = ∂(½J)/∂θ = f diff w̃ (w; 1) clipped to ±grad_clip:
 *     θ −= η g / √G;   G += (η g)²;   G starts at 1
 * (the step uses G from before this gradient; the first step is η g). PyTorch's Adagrad, and
 * nn_optim's NN_ADAGRAD, differ: s starts at 0 and s += g² comes first, so the first step is
 * η sign(g), whatever the size of g — too large for vectors that start at ±0.5/dim.
 */
typedef struct glove_train_config {
    double lr;        /* η (0: 0.05) */
    double bias_lr;   /* η of the biases (0: lr). Stanford's current release steps its biases
                         without η, which is bias_lr = 1 */
    double x_max;     /* 0: GLOVE_X_MAX */
    double alpha;     /* 0: GLOVE_ALPHA */
    double grad_clip; /* clip each component of a vector's gradient (0: 100, Stanford's; < 0:
                         none). Biases are not clipped, as Stanford's */
    int batch;        /* pairs per recording on a thread's tape (0: 128); the pairs of a batch
                         see the values from before it */
    int threads;      /* 0: ad_num_threads(). On T > 1 threads the pairs are grouped into T x T
                         blocks by the groups of their two words (every T-th run of 16 ids) and
                         an epoch is T rounds, thread k on block (k, (k + r) mod T) in round r:
                         no two threads step the same row at once, and an epoch comes out the
                         same on every run (not the same as on 1 thread) */
    uint64_t seed;    /* of the shuffles */
    /* Called on the calling thread about every progress_every pairs (0: 1M) with the pairs done
     * in this epoch (an estimate over all threads) and the mean cost so far. May be NULL. */
    void (*progress)(void *ctx, size_t pairs_done, double mean_cost);
    void *progress_ctx;
    size_t progress_every;
} glove_train_config;

typedef struct glove_trainer glove_trainer;

/* A trainer for g on the pairs of c (whose words must be < g->vocab). cfg may be NULL. Add no
 * parameter to g's store while the trainer lives (ad_param may move the blocks). NULL with
 * nn_last_error() set when memory runs out. */
glove_trainer *glove_trainer_new(glove *g, glove_cooc *c, const glove_train_config *cfg);
void glove_trainer_free(glove_trainer *t); /* NULL is a no-op */
const glove_train_config *glove_trainer_config(const glove_trainer *t); /* defaults filled in */

/* Shuffle the pairs (each block on its own), then one pass over them. Returns Stanford's
 * "cost": ½ Σ f diff² / number of pairs, each term taken before its pair's step. */
double glove_train_epoch(glove_trainer *t);
int glove_trainer_epoch(const glove_trainer *t); /* epochs done */

/* Resuming from a checkpoint taken after `epochs` epochs (the parameters and accumulators are in
 * the store): replay that many shuffles without training, so that the pairs come in the order
 * the interrupted run would have seen them. Only on a fresh trainer. */
void glove_trainer_skip(glove_trainer *t, int epochs);

/* ------------------------------------------------------------- vectors ---- */

/* The final vectors w + w̃ of words 1 .. vocab-1 of v (<unk>, never trained, left out), in id
 * order (most frequent first), for wv_save (WV_GLOVE_TEXT), wv_nearest and wv_eval_analogies. */
nn_status glove_table(const glove *g, const text_vocab *v, wv_table *out);

#ifdef __cplusplus
}
#endif
#endif
