/*
 * window_lm.c — the fixed-window neural LM (FORMULAS §5) as tape calls: one embedding gather per
 * window position, a concatenation, a tanh layer and a softmax layer.
 */
#include "window_lm.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define WLM_MAX_WINDOW 64

void wlm_init(wlm *m, ad_params *ps, const char *name, const wlm_config *cfg, nn_rng *r) {
    if (!m || !ps || !name || !cfg || !r)
        ad_fail_at(__FILE__, __LINE__, "wlm_init", "NULL argument");
    if (cfg->vocab < 1 || cfg->embed < 1 || cfg->hidden < 1 || cfg->window < 1 ||
        cfg->window > WLM_MAX_WINDOW)
        ad_fail_at(__FILE__, __LINE__, "wlm_init",
                   "vocab %d, window %d (1..%d), embed %d, hidden %d: each must be >= 1",
                   cfg->vocab, cfg->window, WLM_MAX_WINDOW, cfg->embed, cfg->hidden);
    if (cfg->eos < -1 || cfg->eos >= cfg->vocab)
        ad_fail_at(__FILE__, __LINE__, "wlm_init", "eos %d is not -1 or an id in [0, %d)",
                   cfg->eos, cfg->vocab);
    char part[128];
    m->cfg = *cfg;
    snprintf(part, sizeof part, "%s.emb", name);
    nn_embedding_init(&m->emb, ps, part, cfg->vocab + 1, cfg->embed, r);
    snprintf(part, sizeof part, "%s.hidden", name);
    nn_linear_init(&m->hidden, ps, part, cfg->window * cfg->embed, cfg->hidden, true, r);
    snprintf(part, sizeof part, "%s.out", name);
    nn_linear_init(&m->out, ps, part, cfg->hidden, cfg->vocab, true, r);
}

/* ----------------------------------------------------------- the model ---- */

ad_tensor *wlm_logits(ad_tape *tp, const wlm *m, const int *ctx, int B) {
    const int n = m->cfg.window;
    if (B < 1 || !ctx) ad_fail_at(__FILE__, __LINE__, "wlm_logits", "%d windows", B);
    /* e = [e(1); ...; e(n)]: position j's ids of the B windows, gathered, side by side */
    ad_tensor *cols[WLM_MAX_WINDOW];
    int *ids = ad_tape_scratch(tp, (size_t)B * sizeof *ids);
    for (int j = 0; j < n; j++) {
        for (int b = 0; b < B; b++) {
            ids[b] = ctx[(size_t)b * n + j];
            if (ids[b] < 0 || ids[b] > m->cfg.vocab)
                ad_fail_at(__FILE__, __LINE__, "wlm_logits", "ctx[%d][%d] = %d is not in [0, %d]",
                           b, j, ids[b], m->cfg.vocab);
        }
        cols[j] = nn_embedding_forward(tp, &m->emb, ids, B);      /* B x embed */
    }
    ad_tensor *e = n == 1 ? cols[0] : ad_concat(tp, n, cols);      /* B x (n·embed) */
    ad_tensor *h = ad_tanh(tp, nn_linear_forward(tp, &m->hidden, e)); /* h = tanh(e W + b1) */
    return nn_linear_forward(tp, &m->out, h);                      /* h U + b2: B x vocab */
}

ad_tensor *wlm_loss(ad_tape *tp, const wlm *m, const int *ctx, const int *y, int B) {
    for (int b = 0; b < B; b++)
        if (y[b] < 0 || y[b] >= m->cfg.vocab)
            ad_fail_at(__FILE__, __LINE__, "wlm_loss", "y[%d] = %d is not in [0, %d)", b, y[b],
                       m->cfg.vocab);
    return ad_softmax_xent(tp, wlm_logits(tp, m, ctx, B), y, NULL);
}

/* ------------------------------------------------------------ windows ---- */

void wlm_window(const wlm_config *cfg, const int *ids, size_t i, int *ctx) {
    /* Walk back from i-1 until the window is full or the sentence starts; <s> fills the rest. */
    int j = cfg->window;
    size_t p = i;
    while (j > 0 && p > 0 && !(cfg->eos >= 0 && ids[p - 1] == cfg->eos)) ctx[--j] = ids[--p];
    while (j > 0) ctx[--j] = cfg->vocab;
}

void wlm_batch(const wlm_config *cfg, const int *ids, const size_t *pos, int B, int *ctx, int *y) {
    for (int b = 0; b < B; b++) {
        wlm_window(cfg, ids, pos[b], ctx + (size_t)b * cfg->window);
        y[b] = ids[pos[b]];
    }
}

/* --------------------------------------------------------- evaluation ---- */

double wlm_nll(ad_tape *tp, const wlm *m, const int *ids, size_t n, int batch) {
    if (batch < 1) ad_fail_at(__FILE__, __LINE__, "wlm_nll", "batch %d is not >= 1", batch);
    const bool training = ad_tape_training(tp);
    ad_tape_set_training(tp, false);
    double nll = 0;
    for (size_t i0 = 0; i0 < n; i0 += (size_t)batch) {
        const int B = (int)(n - i0 < (size_t)batch ? n - i0 : (size_t)batch);
        ad_tape_reset(tp);
        int *ctx = ad_tape_scratch(tp, (size_t)B * m->cfg.window * sizeof *ctx);
        int *y = ad_tape_scratch(tp, (size_t)B * sizeof *y);
        for (int b = 0; b < B; b++) {
            wlm_window(&m->cfg, ids, i0 + (size_t)b, ctx + (size_t)b * m->cfg.window);
            y[b] = ids[i0 + (size_t)b];
        }
        nll += (double)ad_item(wlm_loss(tp, m, ctx, y, B)) * B; /* the loss is the batch mean */
    }
    ad_tape_reset(tp);
    ad_tape_set_training(tp, training);
    return nll;
}

double wlm_perplexity(ad_tape *tp, const wlm *m, const int *ids, size_t n, int batch) {
    return n ? exp(wlm_nll(tp, m, ids, n, batch) / (double)n) : NAN;
}

void wlm_logprobs(ad_tape *tp, const wlm *m, const int *ids, size_t n, int batch, double *logp) {
    if (batch < 1) ad_fail_at(__FILE__, __LINE__, "wlm_logprobs", "batch %d is not >= 1", batch);
    const bool training = ad_tape_training(tp);
    ad_tape_set_training(tp, false);
    const int V = m->cfg.vocab;
    for (size_t i0 = 0; i0 < n; i0 += (size_t)batch) {
        const int B = (int)(n - i0 < (size_t)batch ? n - i0 : (size_t)batch);
        ad_tape_reset(tp);
        int *ctx = ad_tape_scratch(tp, (size_t)B * m->cfg.window * sizeof *ctx);
        for (int b = 0; b < B; b++)
            wlm_window(&m->cfg, ids, i0 + (size_t)b, ctx + (size_t)b * m->cfg.window);
        const ad_real *z = ad_data(wlm_logits(tp, m, ctx, B));
        for (int b = 0; b < B; b++) { /* log-softmax of row b at its word, in double */
            const ad_real *zb = z + (size_t)b * V;
            double mx = zb[0], sum = 0;
            for (int k = 1; k < V; k++) mx = zb[k] > mx ? zb[k] : mx;
            for (int k = 0; k < V; k++) sum += exp(zb[k] - mx);
            logp[i0 + (size_t)b] = zb[ids[i0 + (size_t)b]] - mx - log(sum);
        }
    }
    ad_tape_reset(tp);
    ad_tape_set_training(tp, training);
}

int wlm_sample(ad_tape *tp, const wlm *m, const int *ctx, double temperature, nn_rng *r) {
    if (!(temperature >= 0))
        ad_fail_at(__FILE__, __LINE__, "wlm_sample", "temperature %g is not >= 0", temperature);
    ad_tape_reset(tp);
    const ad_real *z = ad_data(wlm_logits(tp, m, ctx, 1));
    const int V = m->cfg.vocab;
    int best = 0;
    for (int k = 1; k < V; k++) best = z[k] > z[best] ? k : best;
    int w = best;
    if (temperature > 0) { /* inverse CDF of softmax(z / T), shifted by the maximum for exp */
        double sum = 0;
        for (int k = 0; k < V; k++) sum += exp((z[k] - z[best]) / temperature);
        double u = nn_rng_uniform(r) * sum;
        for (int k = 0; k < V; k++) {
            u -= exp((z[k] - z[best]) / temperature);
            if (u < 0) {
                w = k;
                break;
            }
        }
    }
    ad_tape_reset(tp);
    return w;
}
