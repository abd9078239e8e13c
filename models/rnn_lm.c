/*
 * rnn_lm.c — the recurrent language model: embedding, a stack of cells, a linear layer and the
 * softmax cross-entropy, as tape calls; evaluation over lanes; generation by sampling.
 */
#include "rnn_lm.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define fail(op, ...) ad_fail_at(__FILE__, __LINE__, (op), __VA_ARGS__)

/* ------------------------------------------------------------------ model ---- */

void rnnlm_init(rnnlm *m, ad_params *ps, const rnnlm_config *cfg, nn_rng *r) {
    if (!m || !ps || !cfg || !r) fail("rnnlm_init", "NULL model, store, config or rng");
    if (cfg->level != TEXT_CHARS && cfg->level != TEXT_WORDS)
        fail("rnnlm_init", "level %d is neither TEXT_CHARS nor TEXT_WORDS", (int)cfg->level);
    if (cfg->vocab < 2 || cfg->embed < 1 || cfg->hidden < 1)
        fail("rnnlm_init", "vocab %d (>= 2), embed %d and hidden %d (>= 1) out of range",
             cfg->vocab, cfg->embed, cfg->hidden);
    if (!(cfg->dropout >= 0 && cfg->dropout < 1))
        fail("rnnlm_init", "dropout %g is outside [0, 1)", cfg->dropout);
    m->cfg = *cfg;
    m->cfg.layers = cfg->layers > 0 ? cfg->layers : 1;
    nn_embedding_init(&m->embed, ps, "embed", cfg->vocab, cfg->embed, r);
    nn_rnn_config rc = {.kind = cfg->cell, .input = cfg->embed, .hidden = cfg->hidden,
                        .layers = m->cfg.layers, .dropout = cfg->dropout,
                        .forget_bias = cfg->forget_bias};
    nn_rnn_init(&m->rnn, ps, "rnn", &rc, r);
    nn_linear_init(&m->out, ps, "out", cfg->hidden, cfg->vocab, true, r);
}

nn_rnn_state *rnnlm_state_new(const rnnlm *m, int B) {
    if (B < 1) fail("rnnlm_state_new", "batch %d < 1", B);
    return nn_rnn_state_new(&m->rnn, B);
}

/* logits = dropout(RNN(dropout(E[x]))) W + b; nn_rnn drops out between its layers. */
ad_tensor *rnnlm_forward(ad_tape *tp, const rnnlm *m, const int *x, int T, int B,
                         const nn_rnn_state *carry_in, nn_rnn_state *carry_out) {
    if (T < 1 || B < 1) fail("rnnlm_forward", "T = %d and B = %d must be >= 1", T, B);
    for (int i = 0; i < T * B; i++)
        if (x[i] < 0 || x[i] >= m->cfg.vocab)
            fail("rnnlm_forward", "x[%d] = %d is outside the vocabulary [0, %d)", i, x[i],
                 m->cfg.vocab);
    const ad_real p = (ad_real)m->cfg.dropout;
    ad_tensor *e = ad_dropout(tp, nn_embedding_forward(tp, &m->embed, x, T * B), p);
    nn_rnn_result r = nn_rnn_forward(tp, &m->rnn, e, T, NULL, carry_in);
    if (carry_out) nn_rnn_state_store(carry_out, &r);
    return nn_linear_forward(tp, &m->out, ad_dropout(tp, r.out, p));
}

ad_tensor *rnnlm_loss(ad_tape *tp, const rnnlm *m, const int *x, const int *y, int T, int B,
                      const nn_rnn_state *carry_in, nn_rnn_state *carry_out) {
    return ad_softmax_xent(tp, rnnlm_forward(tp, m, x, T, B, carry_in, carry_out), y, NULL);
}

/* ------------------------------------------------------------- evaluation ---- */

rnnlm_score rnnlm_evaluate(ad_tape *tp, const rnnlm *m, text_span s, int B, int T) {
    if (B < 1 || T < 1) fail("rnnlm_evaluate", "B = %d and T = %d must be >= 1", B, T);
    text_lanes lanes = text_lanes_make(s, B);
    if (lanes.lane_len < 2)
        fail("rnnlm_evaluate", "%zu tokens in %d lanes leave none to predict", s.n, B);
    int *x = malloc((size_t)T * B * sizeof *x), *y = malloc((size_t)T * B * sizeof *y);
    nn_rnn_state *carry = rnnlm_state_new(m, B);
    if (!x || !y || !carry) fail("rnnlm_evaluate", "out of memory for %d x %d ids", T, B);

    const bool training = ad_tape_training(tp);
    ad_tape_set_training(tp, false);
    rnnlm_score sc = {0, 0};
    const size_t windows = text_lanes_windows(&lanes, T);
    for (size_t w = 0; w < windows; w++) {
        ad_tape_reset(tp);
        const int Tw = text_lanes_window(&lanes, T, w, x, y);
        ad_tensor *loss = rnnlm_loss(tp, m, x, y, Tw, B, carry, carry);
        sc.nats += (double)ad_item(loss) * Tw * B; /* the window's mean, back to a sum */
        sc.tokens += (long)Tw * B;
    }
    ad_tape_reset(tp);
    ad_tape_set_training(tp, training);
    if (sc.tokens > 0) sc.nats /= (double)sc.tokens;
    nn_rnn_state_free(carry);
    free(x);
    free(y);
    return sc;
}

double rnnlm_perplexity(rnnlm_score s) { return exp(s.nats); }
double rnnlm_bits_per_token(rnnlm_score s) { return s.nats / log(2.0); }

/* ------------------------------------------------------------- generation ---- */

/* p_k ∝ exp((l_k − max l) / temperature), in double. As temperature → 0 every entry below the
 * maximum underflows to 0 and the draw is the argmax; temperature 0 takes that limit exactly. */
int rnnlm_sample(const ad_real *logits, int n, double temperature, nn_rng *r) {
    if (n < 1 || !(temperature >= 0) || !isfinite(temperature))
        fail("rnnlm_sample", "n = %d entries, temperature %g (needs n >= 1, finite >= 0)", n,
             temperature);
    int best = 0;
    for (int k = 1; k < n; k++)
        if (logits[k] > logits[best]) best = k;
    if (temperature == 0) return best;
    double total = 0;
    for (int k = 0; k < n; k++) total += exp(((double)logits[k] - logits[best]) / temperature);
    double u = nn_rng_uniform(r) * total;
    for (int k = 0; k < n; k++) {
        u -= exp(((double)logits[k] - logits[best]) / temperature);
        if (u < 0) return k;
    }
    return best; /* rounding left u a hair above 0: the mode is as good a pick as any */
}

void rnnlm_generate(ad_tape *tp, const rnnlm *m, const int *prompt, int n_prompt, int *out, int n,
                    double temperature, nn_rng *r) {
    if (n_prompt < 1 || n < 0) fail("rnnlm_generate", "prompt of %d ids (needs >= 1), %d to draw",
                                    n_prompt, n);
    nn_rnn_state *carry = rnnlm_state_new(m, 1);
    if (!carry) fail("rnnlm_generate", "out of memory");
    const bool training = ad_tape_training(tp);
    ad_tape_set_training(tp, false);
    const int V = m->cfg.vocab;
    ad_tape_reset(tp);
    /* The whole prompt in one window; its last row predicts the first new token. */
    ad_tensor *logits = rnnlm_forward(tp, m, prompt, n_prompt, 1, NULL, carry);
    for (int k = 0; k < n; k++) {
        out[k] = rnnlm_sample(ad_data(logits) + (size_t)(ad_rows(logits) - 1) * V, V,
                              temperature, r);
        ad_tape_reset(tp);
        if (k + 1 < n) logits = rnnlm_forward(tp, m, &out[k], 1, 1, carry, carry);
    }
    ad_tape_reset(tp);
    ad_tape_set_training(tp, training);
    nn_rnn_state_free(carry);
}

/* ------------------------------------------------------------------ text ---- */

/* Length of the UTF-8 sequence starting at s (1..4), or 0 when it is not valid UTF-8 (a stray
 * continuation byte, a truncated sequence, an overlong form, a surrogate, beyond U+10FFFF). */
static int utf8_len(const unsigned char *s, unsigned *cp) {
    if (s[0] < 0x80) return *cp = s[0], 1;
    int len = s[0] >= 0xF0 ? 4 : s[0] >= 0xE0 ? 3 : s[0] >= 0xC0 ? 2 : 0;
    if (!len || s[0] > 0xF4) return 0;
    unsigned c = s[0] & (0x7Fu >> len);
    for (int k = 1; k < len; k++) {
        if ((s[k] & 0xC0) != 0x80) return 0;
        c = (c << 6) | (s[k] & 0x3F);
    }
    static const unsigned min_for_len[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (c < min_for_len[len] || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) return 0;
    *cp = c;
    return len;
}

/* Look a word up as it is, else in lower case (the word caches are lowercased). */
static int word_id(const text_vocab *v, char *word) {
    int id = text_vocab_find(v, word);
    if (id >= 0) return id;
    for (char *c = word; *c; c++) *c = (char)tolower((unsigned char)*c);
    id = text_vocab_find(v, word);
    return id >= 0 ? id : TEXT_UNK;
}

/* Every token of text, in turn: its bytes in tok, its first code point in *cp; 0 at the end. */
static size_t next_token(const unsigned char *s, size_t *i, text_unit level, char *tok,
                         unsigned *cp) {
    if (level == TEXT_WORDS)
        while (s[*i] && s[*i] < 0x80 && isspace(s[*i])) (*i)++;
    if (!s[*i]) return 0;
    size_t j = *i + (size_t)utf8_len(s + *i, cp); /* the text was checked: never 0 */
    if (level == TEXT_WORDS)
        while (s[j] && !(s[j] < 0x80 && isspace(s[j]))) j++;
    memcpy(tok, s + *i, j - *i);
    tok[j - *i] = 0;
    const size_t len = j - *i;
    *i = j;
    return len;
}

nn_status rnnlm_encode(const text_vocab *v, text_unit level, const char *text, const char *what,
                       int **ids, int *n, int *unknown) {
    if (!v || !text || !ids || !n) fail("rnnlm_encode", "NULL vocabulary, text or output");
    if (!what) what = "the text";
    const unsigned char *s = (const unsigned char *)text;
    const size_t len = strlen(text);
    unsigned cp;
    for (size_t i = 0; i < len;) {
        const int k = utf8_len(s + i, &cp);
        if (!k)
            return nn_set_error(NN_ERR_FORMAT, "%s: byte %zu (0x%02x) is not valid UTF-8", what,
                                i + 1, s[i]);
        i += (size_t)k;
    }
    int *out = malloc((len + 1) * sizeof *out); /* at most one token per byte */
    char *tok = malloc(len + 1);
    if (!out || !tok) {
        free(out);
        free(tok);
        return nn_set_error(NN_ERR_MEMORY, "%s: out of memory for %zu bytes", what, len);
    }
    int count = 0, unk = 0;
    for (size_t i = 0; next_token(s, &i, level, tok, &cp);) {
        int id;
        if (level == TEXT_WORDS) {
            unk += (id = word_id(v, tok)) == TEXT_UNK;
        } else if ((id = text_vocab_find(v, tok)) < 0) {
            const bool printable = cp >= 0x20 && cp != 0x7F;
            nn_set_error(NN_ERR_MISMATCH,
                         "%s: character %d, %s%s%s(U+%04X), is not in the model's vocabulary "
                         "of %d characters",
                         what, count + 1, printable ? "'" : "", printable ? tok : "",
                         printable ? "' " : "", cp, text_vocab_size(v) - 1);
            free(out);
            free(tok);
            return NN_ERR_MISMATCH;
        }
        out[count++] = id;
    }
    free(tok);
    *ids = out;
    *n = count;
    if (unknown) *unknown = unk;
    return NN_OK;
}

void rnnlm_decode(FILE *f, const text_vocab *v, text_unit level, const int *ids, int n) {
    bool line_start = true;
    for (int i = 0; i < n; i++) {
        const char *w = text_vocab_word(v, ids[i]);
        if (level == TEXT_CHARS) {
            fputs(w, f);
        } else if (strcmp(w, RNNLM_EOS_WORD) == 0) {
            fputc('\n', f);
            line_start = true;
        } else {
            if (!line_start) fputc(' ', f);
            fputs(w, f);
            line_start = false;
        }
    }
}
