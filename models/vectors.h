/*
 * vectors.h — word vectors once trained (word2vec, GloVe): the file formats other tools read,
 * nearest neighbours and analogies.
 *
 * Formats:
 *   word2vec text    first line "<words> <dim>", then "word v1 v2 ... vdim" per line
 *   word2vec binary  the same first line, then per word "word " and dim little-endian float32s,
 *                    then "\n" (what word2vec's -binary 1 writes and its `distance` reads)
 *   GloVe text       "word v1 ... vdim" per line, no header
 * gensim's KeyedVectors.load_word2vec_format reads the first two (binary=False/True).
 */
#ifndef SEQGRAD_VECTORS_H
#define SEQGRAD_VECTORS_H

#include "text.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct wv_table {
    int n, dim;
    char **words;  /* n words, owned */
    float *vec;    /* n x dim, row-major, owned */
} wv_table;

/* A table of n words (copied) and vectors (copied, converted from ad_real). */
nn_status wv_table_make(wv_table *t, int n, int dim, const char *const *words,
                        const ad_real *vec);
void wv_table_free(wv_table *t);
int wv_table_find(const wv_table *t, const char *word); /* -1 when absent */

typedef enum wv_format { WV_WORD2VEC_TEXT, WV_WORD2VEC_BINARY, WV_GLOVE_TEXT } wv_format;

/* Written atomically (temporary file and rename), as checkpoints are. */
nn_status wv_save(const wv_table *t, const char *path, wv_format f);
/* Reads any of the three (max_words > 0 keeps the first max_words). A malformed line names its
 * number; a wrong count of values names the word. */
nn_status wv_load(const char *path, wv_format f, int max_words, wv_table *out);

/* The k nearest words to a vector by cosine similarity among the first `limit` words (0: all),
 * skipping the words listed in exclude (n_exclude ids). Fills ids and sims; returns how many. */
int wv_nearest(const wv_table *t, const float *query, int limit, const int *exclude,
               int n_exclude, int k, int *ids, float *sims);

/* a : b :: c : ?  by 3CosAdd (argmax cos(x, b - a + c), x not in {a, b, c}) among the first
 * `limit` words. Returns the id, or -1 when a word is outside the first `limit`. */
int wv_analogy(const wv_table *t, int a, int b, int c, int limit);

/* The questions-words evaluation: ": section" headers, then "a b c d" lines, matched without
 * case against the first `limit` words (word2vec's compute-accuracy uses 30000). Questions with a
 * word outside them are skipped and counted. Accuracy is over the questions answered. */
typedef struct wv_analogy_result {
    long questions, answered, correct;
    long sem_answered, sem_correct; /* sections whose name does not start with "gram" */
    long syn_answered, syn_correct; /* the "gram*" sections */
} wv_analogy_result;

nn_status wv_eval_analogies(const wv_table *t, const char *questions_path, int limit,
                            wv_analogy_result *res);

#ifdef __cplusplus
}
#endif
#endif
