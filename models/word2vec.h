/*
 * word2vec.h — skip-gram and CBOW (Mikolov et al. 2013), each with negative sampling or the full
 * softmax, trained through the tape (FORMULAS §9).
 *
 * Every word w has an input vector v_w (row w of V: the vectors saved and evaluated) and an output
 * vector u_w (row w of U). Each line of the corpus is a sentence; words below min_count (TEXT_UNK
 * in the ids) and frequent words dropped by subsampling are removed from it first, then every
 * position c draws a half-window b uniform in [1, window] (word2vec.c's "dynamic window") and
 *   skip-gram  makes one example per context word o:  input v_c,                   target o
 *   CBOW       makes one example per centre word c:    input h = mean of the v_o,  target c
 * with the loss of an example (h the input)
 *   negative sampling  F = −log σ(u_oᵀh) − Σ_k log σ(−u_kᵀh), K negatives from unigram^0.75
 *   full softmax       F = CE(onehot(o), softmax(U h))   (costs the vocabulary size per example)
 * and J = Σ F over a minibatch; plain SGD whose rate falls linearly from alpha to min_alpha over
 * the whole run (every epoch), as word2vec.c and gensim do. One departure from the gradient, kept
 * for parity with them: CBOW moves each context word by the whole ∂F/∂h rather than ∂F/∂h / n
 * (cbow_mean_gradient = true gives the plain gradient).
 *
 * Threads: `threads` workers run at once (Hogwild, Recht et al. 2011, as word2vec.c and gensim):
 * each owns a tape, its own gradient of the shared tables and a contiguous slice of the corpus's
 * lines. For a minibatch it puts the shared V and U on its tape as leaves (ad_leaf: read in place,
 * the gradient its own), records J (w2v_loss; for CBOW with word2vec.c's rule built in),
 * runs backward, and subtracts alpha times its gradient of each touched row from the shared row,
 * without locks. Two workers can update the same row at once; one of the two updates may then be
 * partly lost. The gradients are sparse and the rates small, so such collisions are rare and
 * small (word2vec.c and gensim rely on the same), and it is why the workers never wait. A
 * worker's gradients take 2 x words x dim reals of address space, of which only the pages of
 * rows it touched are ever mapped.
 * Results with threads > 1 are therefore not bit-reproducible; with one thread they are.
 */
#ifndef SEQGRAD_WORD2VEC_H
#define SEQGRAD_WORD2VEC_H

#include "text.h"
#include "vectors.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum w2v_arch { W2V_SKIPGRAM, W2V_CBOW } w2v_arch;
typedef enum w2v_output { W2V_NEGATIVE, W2V_SOFTMAX } w2v_output;

typedef struct w2v_config {
    w2v_arch arch;
    w2v_output output;
    int dim;          /* vector size */
    int window;       /* the largest half-window */
    int negative;     /* K, negatives per example (W2V_NEGATIVE) */
    double sample;    /* subsampling threshold t: a word of frequency f is kept with probability
                         (sqrt(f/t) + 1) t/f (word2vec.c's formula); 0 keeps every word */
    double alpha;     /* learning rate at the start ... */
    double min_alpha; /* ... falling linearly to this at the end of the last epoch */
    int iter;         /* epochs */
    int threads;      /* workers (0: ad_num_threads()) */
    int batch;        /* centre words per minibatch of a worker */
    uint64_t seed;
    bool cbow_mean_gradient; /* CBOW: move each context word by the gradient of the mean,
                                (1/n) ∂F/∂h; false (the default) moves it by the whole ∂F/∂h, as
                                word2vec.c and gensim do (their alpha assumes it) */
} w2v_config;

/* word2vec.c's defaults: dim 100, window 5, K 5, sample 1e-3, 5 epochs, alpha 0.025 for
 * skip-gram and 0.05 for CBOW, min_alpha 1e-4 (gensim's); 4 centre words per batch (CBOW
 * loses about a point of analogy accuracy at 8: its context rows go stale within a batch). */
w2v_config w2v_defaults(w2v_arch arch, w2v_output output);

/* --------------------------------------------------------------- corpus ---- */

/* Read a corpus file (its first max_lines lines; 0: all) as ids of a vocabulary of the words seen
 * there at least min_count times (the max_words most frequent of them; 0: no limit), most
 * frequent first. The words dropped become TEXT_UNK, which training skips. Both outputs belong to
 * the caller (text_vocab_free, text_ids_free). */
nn_status w2v_read_corpus(const char *path, long min_count, int max_words, long max_lines,
                          text_vocab **vocab, text_ids *ids);

/* ---------------------------------------------------------------- model ---- */

typedef struct w2v_sampler w2v_sampler; /* negatives: an alias table over unigram^0.75 */

typedef struct w2v_model {
    w2v_config cfg;
    const text_vocab *vocab; /* borrowed: row w of V and U is word w; row TEXT_UNK is unused */
    int nwords;              /* rows of V and U: text_vocab_size(vocab) */
    ad_params *ps;           /* V then U: what a checkpoint holds */
    ad_tensor *V;            /* nwords x dim, U(-0.5/dim, 0.5/dim) as word2vec.c */
    ad_tensor *U;            /* nwords x dim, zero */
    double vocab_words;      /* Σ counts of the vocabulary's words (not <unk>): frequencies */
    uint32_t *keep;          /* subsampling: w is kept when a 32-bit random < keep[w] (or
                                always when keep[w] is UINT32_MAX) */
    w2v_sampler *neg;
    /* the schedule: words consumed in the run so far (all workers, atomically) out of
     * iter x the words of an epoch */
    long words_done;
    long words_total;
} w2v_model;

/* A model for vocab (which must outlive it); cfg zeros are not defaults: use w2v_defaults. */
void w2v_init(w2v_model *m, const w2v_config *cfg, const text_vocab *vocab);
void w2v_free(w2v_model *m);

/* The learning rate after `done` of `total` words: alpha - (alpha - min_alpha) done / total,
 * never below min_alpha. */
double w2v_alpha(const w2v_config *cfg, long done, long total);

/* Probability that subsampling keeps one occurrence of word w. */
double w2v_keep_probability(const w2v_model *m, int w);

/* The probability with which the sampler draws word w as a negative (exact, from its table):
 * count_w^0.75 / Σ count^0.75 up to float rounding; 0 for TEXT_UNK. */
double w2v_negative_probability(const w2v_model *m, int w);
int w2v_draw_negative(const w2v_model *m, uint64_t random64);

/* ----------------------------------------------------------- the loss ---- */

/* A minibatch of n examples, as ids of V's and U's rows. */
typedef struct w2v_batch {
    int n;
    const int *input;    /* skip-gram: n centre words; CBOW: the context words of all examples */
    const int *in_start; /* CBOW: n + 1 offsets, example p averages input[in_start[p] ..
                            in_start[p+1]) (at least one word); NULL for skip-gram */
    const int *target;   /* n words to predict: skip-gram the context word, CBOW the centre */
    const int *neg;      /* negative sampling: K per example, n·K words; NULL for softmax */
} w2v_batch;

/* J = Σ_p F_p recorded on tp from the rows of V and U (any tensors of dim columns: the model's
 * parameters, or leaves over them as a worker has), for cfg's arch, output and K. Negative
 * sampling is one ad_sampled_logistic over the n (K + 1) scored pairs; the full softmax gathers
 * the inputs and uses ad_matmul_nt and ad_softmax_xent (U must then hold every word). CBOW's mean
 * is the sum of the context rows (ad_bag_rows) times 1/count. Returns the 1 x 1 J, whose gradient
 * is the true one (the workers apply word2vec.c's CBOW rule, above). */
ad_tensor *w2v_loss(ad_tape *tp, const w2v_config *cfg, ad_tensor *V, ad_tensor *U,
                    const w2v_batch *b);

/* -------------------------------------------------------------- training ---- */

/* One worker: its tape, its gradients of the shared tables, its random stream. */
typedef struct w2v_worker w2v_worker;
w2v_worker *w2v_worker_new(const w2v_model *m, uint64_t seed);
void w2v_worker_free(w2v_worker *w); /* NULL is a no-op */

/* One SGD step of a worker on the shared V and U: every row b uses moves by -alpha times its
 * gradient of J (a row used twice, by the sum of both; a CBOW context word by n times its share,
 * unless cbow_mean_gradient). Returns J. */
double w2v_worker_step(w2v_worker *w, w2v_model *m, const w2v_batch *b, double alpha);

/* Called now and then by the first worker during an epoch: words consumed in the run so far, out
 * of words_total, and the mean loss per example of its recent batches. */
typedef void (*w2v_progress_fn)(void *ctx, long words_done, long words_total, double loss);

typedef struct w2v_stats {
    long words;    /* corpus words in the vocabulary consumed (before subsampling) */
    long kept;     /* of them, kept by subsampling */
    long examples; /* examples trained on */
    double loss;   /* mean F per example */
    double seconds;
} w2v_stats;

/* Epoch `epoch` (0-based, of cfg.iter) over corpus: cfg.threads workers over contiguous slices of
 * its lines, the rate following the run's schedule. The workers own the cores: for the epoch's
 * duration the library's thread count (ad_set_num_threads) is 1, and it is restored after. Epoch e of a fresh model and epoch e of a
 * model restored from a checkpoint taken after epoch e - 1 train alike (the random streams are
 * seeded by seed, epoch and worker). */
w2v_stats w2v_train_epoch(w2v_model *m, const text_ids *corpus, int epoch, w2v_progress_fn fn,
                          void *ctx);

/* --------------------------------------------------------------- output ---- */

/* The input vectors V of every word but <unk>, in vocabulary order (most frequent first). */
nn_status w2v_table(const w2v_model *m, wv_table *out);

#ifdef __cplusplus
}
#endif
#endif
