/*
 * ngram.h — a smoothed n-gram language model: interpolated Kneser-Ney over a stream of word ids,
 * the count-based baseline the neural language models are compared against.
 *
 * The model (Chen & Goodman 1998, "modified" Kneser-Ney with three discounts per order):
 *
 *   P_k(w | h) = max(a(hw) - D_k(a(hw)), 0) / Σ_v a(hv)  +  γ(h) P_{k-1}(w | h')
 *   γ(h)       = (D_k1 N1(h·) + D_k2 N2(h·) + D_k3+ N3+(h·)) / Σ_v a(hv)
 *   P_0(w)     = 1 / V                                   (the uniform floor: no word has P = 0)
 *
 * h is the context of k-1 words, h' the same without its oldest word, N_j(h·) the number of words
 * v with a(hv) = j (3+: at least 3). A context never seen backs off whole:
 * P_k(w|h) = P_{k-1}(w|h').
 * The counts a(g) are raw counts c(g) at the highest order and for n-grams that begin with <s>;
 * below, they are continuation counts N1+(• g): how many distinct words precede g (Kneser-Ney's
 * idea: "Francisco" is frequent but follows only "San", so it is a poor guess after a new word).
 * The discounts of order k come from the count-of-counts n_j of its a's (Chen & Goodman):
 *   Y = n1 / (n1 + 2 n2),  D_j = j - (j + 1) Y n_{j+1} / n_j   (j = 1, 2, 3)
 * With one discount (original interpolated KN) D = Y for every count. A discount the statistics
 * leave undefined or outside (0, j] (tiny corpora) falls back to Y, or 0.5 when Y is undefined.
 *
 * Vocabulary and sentences: ids [0, vocab) are the words the model predicts, text.h's ids, where
 * <unk> (0) is an ordinary word and "</s>" (the eos id) ends each sentence and is predicted like
 * any word. The id `vocab` is <s> (NGRAM_BOS of the model): it only ever stands in a context, in
 * front of the first word of a sentence, and is never predicted, so Σ_{w<vocab} P(w | h) = 1. A
 * stream starts a sentence, and so does the token after every eos. Histories never cross <s>.
 *
 * Use: ngram_new, ngram_count (any number of streams), ngram_estimate, then queries. Usage errors
 * (ids out of range, counting after estimating) stop through ad.h's error handler, as does running
 * out of memory. The model is read-only after ngram_estimate: queries may run in parallel.
 */
#ifndef SEQGRAD_NGRAM_H
#define SEQGRAD_NGRAM_H

#include "text.h"

#ifdef __cplusplus
extern "C" {
#endif

#define NGRAM_MAX_ORDER 6

typedef struct ngram_lm ngram_lm;

typedef struct ngram_config {
    int order;     /* n, 1..NGRAM_MAX_ORDER: contexts of up to n-1 words */
    int vocab;     /* predicted ids are [0, vocab); <s> is the id vocab */
    int eos;       /* the id that ends a sentence, or -1: a stream is one sentence */
    int discounts; /* 3: modified Kneser-Ney (D1, D2, D3+); 1: one discount per order; 0 means 3 */
} ngram_config;

ngram_lm *ngram_new(const ngram_config *cfg);
void ngram_free(ngram_lm *lm); /* NULL is a no-op */
const ngram_config *ngram_get_config(const ngram_lm *lm);
int ngram_bos(const ngram_lm *lm); /* the id of <s>: the config's vocab */

/* Count every k-gram (k = 1..n) of a stream of ids in [0, vocab), with <s> before each sentence.
 * Streams are independent: each starts a sentence. Not after ngram_estimate. */
void ngram_count(ngram_lm *lm, const int *ids, size_t n);

/* Turn the counts into the model: continuation counts, discounts, context totals. Once. */
void ngram_estimate(ngram_lm *lm);

/* The discounts D_k1, D_k2, D_k3+ of order k (1..n), as estimated; set replaces them (each in
 * [0, j]: a larger one would make probabilities negative). After ngram_estimate. */
void ngram_get_discounts(const ngram_lm *lm, int k, double d[3]);
void ngram_set_discounts(ngram_lm *lm, int k, const double d[3]);

/* Counts of a k-gram g[0..k-1] (<s> allowed as g[0]), 0 when unseen. raw: how often it occurred.
 * kn: the count the model uses, a(g) above (the raw count before ngram_estimate). distinct: how
 * many different k-grams were seen (the <s> unigram not included). */
long ngram_raw_count(const ngram_lm *lm, const int *g, int k);
long ngram_kn_count(const ngram_lm *lm, const int *g, int k);
size_t ngram_distinct(const ngram_lm *lm, int k);

/* P(w | context): context holds len ids, oldest first, each in [0, vocab] (vocab = <s>). Only the
 * part after the last <s> (that <s> kept) and at most the newest n-1 ids are used, so a context
 * padded on the left with several <s> (as the window LM pads) means the same as one <s>. */
double ngram_prob(const ngram_lm *lm, const int *context, int len, int w);

/* The context of position i of a stream as this model reads it: the ids since the start of i's
 * sentence, preceded by <s> when that start is within reach, at most n-1 of them, oldest first.
 * Returns their number. */
int ngram_context(const ngram_lm *lm, const int *ids, size_t i, int *context);

/* -Σ_i ln P(ids[i] | context of i) over a held-out stream (which starts a sentence), in nats; the
 * perplexity is exp(nll / n) (FORMULAS §1). Every token counts, <unk> and eos included. */
double ngram_nll(const ngram_lm *lm, const int *ids, size_t n);
double ngram_perplexity(const ngram_lm *lm, const int *ids, size_t n);

/* ln P(ids[i] | context of i) of every position, into logp[0..n): for mixing with another model. */
void ngram_logprobs(const ngram_lm *lm, const int *ids, size_t n, double *logp);

#ifdef __cplusplus
}
#endif
#endif
