/*
 * text.h — corpora for the models: vocabularies, token files, id sequences, splits, batches.
 *
 * A corpus on disk is plain UTF-8 text, one sentence (or line) per line, tokens separated by
 * whitespace: the form scripts/fetch-data writes its cache in, and the form a user's own corpus
 * takes. Word models read tokens; character models read the characters of each line (UTF-8 code
 * points) with "\n" as a token of its own.
 *
 * Every vocabulary has "<unk>" at id 0 (TEXT_UNK): a word it does not know maps there, never to
 * an error. Ids after it run from the most frequent word down.
 *
 * Files return an nn_status with nn_last_error() naming the file and the problem (missing, empty,
 * not UTF-8, a malformed line and its number).
 */
#ifndef SEQGRAD_TEXT_H
#define SEQGRAD_TEXT_H

#include "nn.h"

#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ----------------------------------------------------------- vocabulary ---- */

#define TEXT_UNK 0
#define TEXT_UNK_WORD "<unk>"

typedef struct text_vocab text_vocab;

text_vocab *text_vocab_new(void);        /* holds "<unk>" only */
void text_vocab_free(text_vocab *v);     /* NULL is a no-op */
int text_vocab_add(text_vocab *v, const char *word, long count); /* its id; count is added */
int text_vocab_find(const text_vocab *v, const char *word);      /* -1 when absent */
int text_vocab_id(const text_vocab *v, const char *word);        /* TEXT_UNK when absent */
const char *text_vocab_word(const text_vocab *v, int id);
long text_vocab_count(const text_vocab *v, int id);
int text_vocab_size(const text_vocab *v);
long text_vocab_total(const text_vocab *v); /* sum of all counts */

/* Keep the words counted at least min_count times, the max_size most frequent of them (0: no
 * limit; <unk> counts as one), renumbered by falling count (ties by first appearance); the
 * counts of the others go to <unk>. */
void text_vocab_prune(text_vocab *v, long min_count, int max_size);

/* "word count" per line, in id order. */
nn_status text_vocab_save(const text_vocab *v, const char *path);
nn_status text_vocab_load(const char *path, text_vocab **out);

/* A vocabulary as one section of a larger file (a model's lexicon): a line "<section> N", then
 * N lines "word count" in id order; the words must hold no white space (read back by %s).
 * read adds the words to v, which must hold <unk> only, checks that they come out as ids
 * 0..N-1, and counts the lines it reads in *line, for its messages naming path. */
void text_vocab_write_section(FILE *f, const char *section, const text_vocab *v);
nn_status text_vocab_read_section(FILE *f, const char *path, const char *section, text_vocab *v,
                                  long *line);

/* ---------------------------------------------------------------- ids ---- */

/* A corpus as ids: tokens in order, and where each line (sentence) starts. */
typedef struct text_ids {
    int *ids;
    size_t n;
    size_t *line_start; /* nlines + 1 entries: line k is ids[line_start[k] .. line_start[k+1]) */
    size_t nlines;
} text_ids;

void text_ids_free(text_ids *t); /* frees the arrays, zeroes the struct */

typedef enum text_unit { TEXT_WORDS, TEXT_CHARS } text_unit;

/* Count the tokens of a file into v (v grows). Empty or missing file: an error. */
nn_status text_count(const char *path, text_unit unit, text_vocab *v);

/* Read a file as ids of v (which does not grow: unknown tokens become TEXT_UNK). When eos >= 0
 * it is appended after every line (word models' "</s>"; for characters, the id of "\n"). */
nn_status text_read(const char *path, text_unit unit, const text_vocab *v, int eos, text_ids *out);

/* Split lines [0, nlines) into train / valid / test by fractions (e.g. 0.8, 0.1: test takes the
 * rest), contiguously in that order, at line boundaries. Views into t: no copies. */
typedef struct text_span {
    const int *ids;
    size_t n;
} text_span;
void text_split(const text_ids *t, double train, double valid, text_span *tr, text_span *va,
                text_span *te);

/* -------------------------------------------------------- LM batches ---- */

/* A stream cut into B parallel lanes (as Zaremba et al.): lane b reads tokens
 * [b·L, (b+1)·L) with L = n / B. Window w of length T gives time-major x[t·B + b] and the next
 * tokens y[t·B + b], for t < T; the last window may be shorter (its length is returned). */
typedef struct text_lanes {
    const int *ids;
    size_t lane_len;
    int batch;
} text_lanes;

text_lanes text_lanes_make(text_span s, int batch);
size_t text_lanes_windows(const text_lanes *l, int T);
int text_lanes_window(const text_lanes *l, int T, size_t w, int *x, int *y);

/* ------------------------------------------------------------- tagging ---- */

/* A tagged corpus: one sentence per line of "word/TAG" tokens (the last '/' separates them). */
typedef struct text_tagged {
    text_ids words; /* ids of the words (a word vocabulary) */
    int *tags;      /* words.n tags, ids of a tag vocabulary */
} text_tagged;

nn_status text_read_tagged(const char *path, text_vocab *words, text_vocab *tags, bool grow,
                           text_tagged *out);
void text_tagged_free(text_tagged *t);

#ifdef __cplusplus
}
#endif
#endif
