/*
 * classifier.h — a recurrent sequence classifier, and the bag-of-words baseline it is measured
 * against (multinomial naive Bayes).
 *
 * A text of T words is embedded, read both ways by a bidirectional GRU (or LSTM, or any nn/
 * cell), pooled into one vector, and classified by a softmax:
 *
 *     h(t) = [→h(t); ←h(t)] = BiRNN(E w)(t)
 *     mean pooling:  v = (1/T) Σ_t h(t)          final states: v = [→h(T); ←h(1)]
 *     P(class | text) = softmax(dropout(v) W + b)
 *
 * Batches are B texts, time-major (T·B rows as in nn.h) with each text's true length: padding
 * changes neither the pooled vectors nor any gradient.
 *
 * Labelled texts are read from "label<TAB>tokens" lines (the form of the cache's brown.genres).
 *
 * Ownership: a clf only points at parameters in the caller's store; clf_docs and clf_nb own their
 * arrays. Misuse stops through ad_fail_at; files return an nn_status with nn_last_error().
 */
#ifndef SEQGRAD_CLASSIFIER_H
#define SEQGRAD_CLASSIFIER_H

#include "text.h"

#ifdef __cplusplus
extern "C" {
#endif

/* --------------------------------------------------------------- data ---- */

/* Texts with labels: text k is text.ids[text.line_start[k] .. text.line_start[k+1]), labelled
 * label[k]. */
typedef struct clf_docs {
    text_ids text;
    int *label;
} clf_docs;

/* Read "label<TAB>tokens" lines (blank lines skipped). Words become ids of words (grown when
 * grow_words, else unknown words are TEXT_UNK); labels ids of labels (grown when grow_labels,
 * else an unknown label is NN_ERR_FORMAT naming its line). A line without a tab, or a file with
 * no text, is NN_ERR_FORMAT. */
nn_status clf_read(const char *path, text_vocab *words, bool grow_words, text_vocab *labels,
                   bool grow_labels, clf_docs *out);
void clf_docs_free(clf_docs *d); /* frees the arrays, zeroes the struct */

/* ---------------------------------------------------------------- model ---- */

typedef enum clf_pool {
    CLF_POOL_MEAN,  /* the mean of h(t) over the real steps */
    CLF_POOL_FINAL, /* [→h at the last real step; ←h at the first] */
    CLF_POOL_BOTH,  /* the two side by side */
} clf_pool;

const char *clf_pool_name(clf_pool p); /* "mean", "final", "both" */
int clf_pool_parse(const char *name);  /* -1 when unknown */

typedef struct clf_config {
    int vocab, classes;
    int dim, hidden; /* embedding width, hidden units per direction */
    nn_cell_kind cell;
    clf_pool pool;
    double dropout; /* on the embeddings and on the pooled vector */
} clf_config;

/* Defaults: embedding 64, a bidirectional GRU of 64 per direction, mean pooling, dropout 0.5;
 * vocab and classes left 0. */
clf_config clf_config_default(void);

typedef struct clf {
    clf_config cfg;
    nn_embedding emb;
    nn_rnn rnn;
    nn_linear out;
} clf;

/* Parameters named "clf.*" in ps. */
void clf_init(clf *m, ad_params *ps, const clf_config *cfg, nn_rng *r);

/* B texts as time-major ids (T·B: ids[t·B + b], anything at padding) of lengths[b] in [1, T]
 * (NULL: all T). Returns the B x classes logits. */
ad_tensor *clf_logits(ad_tape *tp, const clf *m, const int *ids, int T, int B, const int *lengths);
/* The mean cross-entropy against labels (B entries), 1 x 1. */
ad_tensor *clf_loss(ad_tape *tp, const clf *m, const int *ids, int T, int B, const int *lengths,
                    const int *labels);
/* The most probable class of each text: pred[b]. Records on tp. */
void clf_predict(ad_tape *tp, const clf *m, const int *ids, int T, int B, const int *lengths,
                 int *pred);

/* A model is its checkpoint (nn_checkpoint_save at path) and "<path>.lex" beside it: the config,
 * the word vocabulary and the labels. A file that is not a classifier lexicon is NN_ERR_FORMAT. */
nn_status clf_lexicon_save(const char *path, const text_vocab *words, const text_vocab *labels,
                           const clf_config *cfg);
nn_status clf_lexicon_load(const char *path, text_vocab **words, text_vocab **labels,
                           clf_config *cfg);

/* ---------------------------------------------------- the baseline ---- */

/* Multinomial naive Bayes over word counts with add-alpha smoothing:
 *   class = argmax_c log P(c) + Σ_i log P(w_i | c),  P(w | c) = (n_cw + α) / (n_c + α V). */
typedef struct clf_nb clf_nb;

clf_nb *clf_nb_new(int vocab, int classes, double alpha);      /* NULL when out of memory */
void clf_nb_free(clf_nb *nb);                                  /* NULL is a no-op */
void clf_nb_add(clf_nb *nb, const int *ids, int n, int label); /* one training text */
/* log P(c) + Σ log P(w_i | c) for every class into scores (may be NULL); returns the argmax. */
int clf_nb_predict(const clf_nb *nb, const int *ids, int n, double *scores);

#ifdef __cplusplus
}
#endif
#endif
