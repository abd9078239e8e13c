/*
 * window_lm.h — the fixed-window neural language model of Bengio et al. 2003 (FORMULAS §5).
 *
 * The n-1 = window words before a position predict the word at it:
 *
 *   e = [e(1); e(2); ...; e(window)]     the window's embeddings, concatenated (oldest first)
 *   h = tanh(W e + b1)
 *   ŷ = softmax(U h + b2)                over the vocabulary
 *
 * written in row form on the tape: e is 1 x (window·embed), h = tanh(e W + b1) with W
 * (window·embed) x hidden, logits = h U + b2 with U hidden x vocab. A batch is B such rows.
 *
 * Vocabulary and sentences follow ngram.h, so both models read a stream alike and their
 * perplexities on the same held-out ids compare: ids [0, vocab) are text.h's (<unk> = 0 an
 * ordinary word, eos ends a sentence and is predicted); the embedding has one row more, id vocab,
 * for <s>, which fills the window in front of a sentence's first word. A window never reaches
 * back across the start of its sentence (or of the stream).
 *
 * Parameters (in the caller's ad_params, named "<name>.emb.E", "<name>.hidden.W" and ".b",
 * "<name>.out.W" and ".b"): E (vocab+1) x embed ~ U(-0.1, 0.1), W and U Xavier, biases 0.
 * Usage errors (sizes, ids out of range) stop through ad.h's error handler.
 */
#ifndef SEQGRAD_WINDOW_LM_H
#define SEQGRAD_WINDOW_LM_H

#include "nn.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct wlm_config {
    int vocab;  /* predicted ids [0, vocab); <s> is the id vocab */
    int eos;    /* the id that ends a sentence, or -1: a stream is one sentence */
    int window; /* n-1: context words */
    int embed;  /* width of one word's embedding */
    int hidden; /* tanh units */
} wlm_config;

typedef struct wlm {
    wlm_config cfg;
    nn_embedding emb; /* E: (vocab+1) x embed, the words and <s> */
    nn_linear hidden; /* W: (window·embed) x hidden, b1: 1 x hidden */
    nn_linear out;    /* U: hidden x vocab, b2: 1 x vocab */
} wlm;

void wlm_init(wlm *m, ad_params *ps, const char *name, const wlm_config *cfg, nn_rng *r);

/* ----------------------------------------------------------- the model ---- */

/* Logits (B x vocab) of B windows: ctx holds B rows of window ids in [0, vocab], oldest first. */
ad_tensor *wlm_logits(ad_tape *tp, const wlm *m, const int *ctx, int B);

/* The mean cross-entropy J = (1/B) Σ_b -log ŷ_b[y_b] of B windows and their next words. */
ad_tensor *wlm_loss(ad_tape *tp, const wlm *m, const int *ctx, const int *y, int B);

/* ------------------------------------------------------------ windows ---- */

/* The window before position i of a stream: ids i-window .. i-1, with every position before the
 * start of i's sentence (the stream's start or the token after an eos) as <s>. */
void wlm_window(const wlm_config *cfg, const int *ids, size_t i, int *ctx);

/* B windows and targets: for each b, position pos[b] of the stream. ctx is B x window, y B ids. */
void wlm_batch(const wlm_config *cfg, const int *ids, const size_t *pos, int B, int *ctx, int *y);

/* --------------------------------------------------------- evaluation ---- */

/* -Σ_i ln ŷ(ids[i] | its window) over a held-out stream (which starts a sentence), in nats,
 * computed `batch` positions at a time on tp (reset before and after; evaluation mode). The
 * perplexity is exp(nll / n) (FORMULAS §1). Every token counts, <unk> and eos included. */
double wlm_nll(ad_tape *tp, const wlm *m, const int *ids, size_t n, int batch);
double wlm_perplexity(ad_tape *tp, const wlm *m, const int *ids, size_t n, int batch);

/* ln ŷ(ids[i] | its window) of every position, into logp[0..n): for mixing with another model. */
void wlm_logprobs(ad_tape *tp, const wlm *m, const int *ids, size_t n, int batch, double *logp);

/* The next word after a window (window ids in [0, vocab]), drawn from softmax(logits /
 * temperature); temperature 0 takes the most likely word. Resets tp. */
int wlm_sample(ad_tape *tp, const wlm *m, const int *ctx, double temperature, nn_rng *r);

#ifdef __cplusplus
}
#endif
#endif
