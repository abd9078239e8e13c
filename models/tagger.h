/*
 * tagger.h — a bidirectional LSTM part-of-speech tagger (FORMULAS §8), and the most-frequent-tag
 * baseline it is measured against.
 *
 * Each token enters as the concatenation of a word embedding (the lowercased word; rare and
 * unseen words share <unk>) and, unless turned off, character features that still say something
 * about a word the vocabulary lacks: embeddings of its last 1, 2, 3 and 4 characters and of its
 * shape (capitalisation, first in the sentence, digits, hyphen). A bidirectional LSTM reads the
 * sentence both ways, h(t) = [→h(t); ←h(t)], and a softmax per position gives P(tag | sentence).
 *
 *     x(t) = [E_w w(t); E_s s1(t); ...; E_s s4(t); E_shape shape(t)]     dropout
 *     h(t) = BiLSTM(x)(t)                                                dropout
 *     P(y(t) | w_1:m) = softmax(h(t) W + b)
 *
 * A sentence's words become ids through a tagger_lexicon (the vocabularies, built from the
 * training set and saved beside the checkpoint); batches of B sentences are time-major (T·B rows,
 * as nn.h) with each sentence's true length, and padding changes no loss and no gradient.
 *
 * Ownership: a tagger only points at parameters in the caller's ad_params store. The lexicon owns
 * its vocabularies (tagger_lexicon_free). Misuse (sizes, NULL) stops through ad_fail_at; files
 * return an nn_status with nn_last_error() naming the file.
 */
#ifndef SEQGRAD_TAGGER_H
#define SEQGRAD_TAGGER_H

#include "text.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------- tag sets ---- */

/* Brown's full tag to its base tag: lowercased; on each part of a compound ("ppss+bem"), the
 * "fw-" prefix (foreign word), the "-hl" / "-tl" / "-nc" suffixes (headline, title, cited) and a
 * trailing "*" (negation: "bez*" -> "bez") stripped. The ~470 full tags become 176 (90 simple,
 * the rest compounds such as "ppss+md"). Writes a NUL-terminated string of at most size bytes. */
void tagger_base_tag(const char *tag, char *out, size_t size);

/* ------------------------------------------------------- word features ---- */

#define TAGGER_NSUFFIX 4                  /* suffixes of 1 .. 4 characters */
#define TAGGER_NFEAT (2 + TAGGER_NSUFFIX) /* per token: word, suffixes, shape */
#define TAGGER_NSHAPES 24

/* The shape class of a word in [0, TAGGER_NSHAPES): its case (all lower, capitalised,
 * capitalised and first in the sentence, all capitals, mixed, no letters) x has a digit x has a
 * hyphen. */
int tagger_shape(const char *word, bool first);

/* The last k characters of the lowercased word, padded in front with '^' when it is shorter
 * ("a", k = 2 -> "^a"). Characters are bytes here: Brown is ASCII, and a suffix that cuts a
 * UTF-8 character in two is still a usable feature. */
void tagger_suffix(const char *word, int k, char *out, size_t size);

/* The vocabularies that turn words into the model's ids. */
typedef struct tagger_lexicon {
    text_vocab *words;    /* lowercased words of the training set */
    text_vocab *suffixes; /* suffix strings (tagger_suffix) of the training words */
    text_vocab *tags;     /* the tag set, in the order of the output layer */
} tagger_lexicon;

/* Empty vocabularies (each holding <unk> only). */
void tagger_lexicon_init(tagger_lexicon *lx);
void tagger_lexicon_free(tagger_lexicon *lx); /* frees the vocabularies, zeroes the struct */
/* Count one training token (a word of the corpus, before lowercasing) into words and suffixes. */
void tagger_lexicon_count(tagger_lexicon *lx, const char *word);
/* Keep the words and suffixes counted at least min_count times; the rest become <unk>, which the
 * model thus learns from the training set's rare words. */
void tagger_lexicon_prune(tagger_lexicon *lx, long min_words, long min_suffixes);

/* feat[0] word id, feat[1..4] suffix ids, feat[5] shape. */
void tagger_featurize(const tagger_lexicon *lx, const char *word, bool first,
                      int feat[TAGGER_NFEAT]);

/* ---------------------------------------------------------------- model ---- */

typedef struct tagger_config {
    int words, suffixes, tags; /* vocabulary sizes (suffixes are ignored without char features) */
    int word_dim, suffix_dim, shape_dim, hidden, layers;
    bool char_features; /* false: the word embedding alone */
    double dropout;     /* on the input features and on the LSTM's output */
} tagger_config;

/* Defaults for the Brown corpus: word 100, suffix 20, shape 8, hidden 128 per direction, one
 * layer, character features on, dropout 0.25. The vocabulary sizes are left 0. */
tagger_config tagger_config_default(void);

typedef struct tagger {
    tagger_config cfg;
    nn_embedding word, suffix, shape;
    nn_rnn rnn; /* bidirectional LSTM */
    nn_linear out;
} tagger;

/* Parameters named "tagger.*" in ps. */
void tagger_init(tagger *m, ad_params *ps, const tagger_config *cfg, nn_rng *r);

/* A batch of B sentences, time-major: row t·B + b is token t of sentence b. */
typedef struct tagger_batch {
    int T, B, max_rows, max_batch;
    int *lengths;  /* B */
    int *feat;     /* TAGGER_NFEAT blocks of T·B ids: feat[k·T·B + t·B + b] */
    int *tags;     /* T·B targets, 0 at padding */
    ad_real *mask; /* T·B: 1 for a real token, 0 for padding (nn_seq_mask) */
} tagger_batch;

/* Room for up to max_rows = T·B tokens and max_batch sentences. NULL when out of memory. */
tagger_batch *tagger_batch_new(int max_rows, int max_batch);
void tagger_batch_free(tagger_batch *bt); /* NULL is a no-op */

/* Fill with B sentences: sentence b has lengths[b] >= 1 tokens, features feats[b] (lengths[b] x
 * TAGGER_NFEAT, as tagger_featurize) and tags tags[b] (lengths[b] ids; tags NULL: none). */
void tagger_batch_set(tagger_batch *bt, int B, const int *lengths, const int *const *feats,
                      const int *const *tags);

/* The (T·B) x tags logits. */
ad_tensor *tagger_logits(ad_tape *tp, const tagger *m, const tagger_batch *bt);
/* The mean cross-entropy over the real tokens of the batch (1 x 1). */
ad_tensor *tagger_loss(ad_tape *tp, const tagger *m, const tagger_batch *bt);
/* The most probable tag of every real token: pred[t·B + b] (-1 at padding). Records on tp. */
void tagger_predict(ad_tape *tp, const tagger *m, const tagger_batch *bt, int *pred);

/* --------------------------------------------------- model files ---- */

/* A model is two files: the checkpoint (nn_checkpoint_save, at path) and its lexicon beside it,
 * "<path>.lex": a text file with the configuration and the three vocabularies. */
nn_status tagger_lexicon_save(const char *path, const tagger_lexicon *lx, const tagger_config *cfg);
/* Fills lx (fresh vocabularies) and cfg; a file that is not a tagger lexicon is NN_ERR_FORMAT. */
nn_status tagger_lexicon_load(const char *path, tagger_lexicon *lx, tagger_config *cfg);

/* ------------------------------------------------- the baseline ---- */

/* Most frequent tag: each word seen in training gets the tag it had most often there. An
 * unknown word gets, with the suffix rule, the most frequent tag of the training set's hapax
 * legomena (words seen once: the ones most like unseen words) sharing its longest suffix of up
 * to 3 characters and its capitalisation; without it (or when no suffix matches), the most
 * frequent tag overall. */
typedef struct tagger_baseline tagger_baseline;

tagger_baseline *tagger_baseline_new(int ntags); /* NULL when out of memory */
void tagger_baseline_free(tagger_baseline *b);   /* NULL is a no-op */
void tagger_baseline_count(tagger_baseline *b, const char *word, int tag);
void tagger_baseline_finish(tagger_baseline *b); /* after the last count, before tagging */
bool tagger_baseline_known(const tagger_baseline *b, const char *word); /* seen in training */
int tagger_baseline_tag(const tagger_baseline *b, const char *word, bool suffix_rule);

#ifdef __cplusplus
}
#endif
#endif
