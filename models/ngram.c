/*
 * ngram.c — interpolated (modified) Kneser-Ney: counting, estimation, queries. See ngram.h for the
 * model. Each order k keeps its k-grams in an open-addressing hash table; a k-gram's entry also
 * holds its statistics as the context of the (k+1)-grams that extend it.
 */
#include "ngram.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ tables ---- */

typedef struct gram_table {
    int k;            /* ids per key */
    size_t n, cap;    /* entries used, allocated */
    size_t mask;      /* slots - 1 (a power of two) */
    uint32_t *slot;   /* entry index + 1; 0 is an empty slot */
    int *key;         /* cap x k ids */
    long *raw;        /* c(g) */
    long *kn;         /* a(g): c(g) or N1+(• g) after estimation */
    /* As a context h of the (k+1)-grams hw: Σ_w a(hw) and N1, N2, N3+ (allocated at estimation,
     * for k < n only). */
    long *total;
    int (*nj)[3];
} gram_table;

struct ngram_lm {
    ngram_config cfg;
    gram_table tab[NGRAM_MAX_ORDER + 1]; /* tab[k]: the k-grams, k = 1..n */
    double disc[NGRAM_MAX_ORDER + 1][3];
    long total0;   /* the empty context: Σ_w a(w), w < vocab */
    int n0[3];
    bool estimated;
};

static void *xmalloc(size_t bytes, int line) {
    void *p = malloc(bytes ? bytes : 1);
    if (!p) ad_fail_at(__FILE__, line, "ngram", "out of memory (%zu bytes)", bytes);
    return p;
}

static void *xcalloc(size_t n, size_t size, int line) {
    void *p = calloc(n ? n : 1, size);
    if (!p) ad_fail_at(__FILE__, line, "ngram", "out of memory (%zu x %zu bytes)", n, size);
    return p;
}

static void *xrealloc(void *p, size_t bytes, int line) {
    p = realloc(p, bytes);
    if (!p) ad_fail_at(__FILE__, line, "ngram", "out of memory (%zu bytes)", bytes);
    return p;
}

static uint64_t hash_ids(const int *g, int k) {
    uint64_t h = 0x9E3779B97F4A7C15u;
    for (int i = 0; i < k; i++) {
        h ^= (uint32_t)g[i];
        h *= 0xFF51AFD7ED558CCDu;
        h ^= h >> 32;
    }
    return h;
}

static void table_init(gram_table *t, int k) {
    memset(t, 0, sizeof *t);
    t->k = k;
    t->cap = 1024;
    t->mask = 2 * t->cap - 1; /* at most half full */
    t->slot = xcalloc(t->mask + 1, sizeof *t->slot, __LINE__);
    t->key = xmalloc(t->cap * (size_t)k * sizeof *t->key, __LINE__);
    t->raw = xmalloc(t->cap * sizeof *t->raw, __LINE__);
}

static void table_free(gram_table *t) {
    free(t->slot);
    free(t->key);
    free(t->raw);
    free(t->kn);
    free(t->total);
    free(t->nj);
}

/* The entry of key g, or -1. */
static long table_find(const gram_table *t, const int *g) {
    if (!t->slot) return -1;
    for (size_t s = hash_ids(g, t->k) & t->mask;; s = (s + 1) & t->mask) {
        uint32_t e = t->slot[s];
        if (e == 0) return -1;
        if (memcmp(t->key + (size_t)(e - 1) * t->k, g, (size_t)t->k * sizeof *g) == 0)
            return (long)e - 1;
    }
}

static void table_grow(gram_table *t) {
    t->cap *= 2;
    t->key = xrealloc(t->key, t->cap * (size_t)t->k * sizeof *t->key, __LINE__);
    t->raw = xrealloc(t->raw, t->cap * sizeof *t->raw, __LINE__);
    if (t->cap > UINT32_MAX / 2)
        ad_fail_at(__FILE__, __LINE__, "ngram_count", "more than %u distinct %d-grams",
                   UINT32_MAX / 4, t->k);
    free(t->slot);
    t->mask = 2 * t->cap - 1;
    t->slot = xcalloc(t->mask + 1, sizeof *t->slot, __LINE__);
    for (size_t e = 0; e < t->n; e++) {
        size_t s = hash_ids(t->key + e * t->k, t->k) & t->mask;
        while (t->slot[s]) s = (s + 1) & t->mask;
        t->slot[s] = (uint32_t)(e + 1);
    }
}

/* c(g) += 1, adding g when new. */
static void table_add(gram_table *t, const int *g) {
    size_t s = hash_ids(g, t->k) & t->mask;
    for (;; s = (s + 1) & t->mask) {
        uint32_t e = t->slot[s];
        if (e == 0) break;
        if (memcmp(t->key + (size_t)(e - 1) * t->k, g, (size_t)t->k * sizeof *g) == 0) {
            t->raw[e - 1]++;
            return;
        }
    }
    if (t->n == t->cap) {
        table_grow(t);
        s = hash_ids(g, t->k) & t->mask;
        while (t->slot[s]) s = (s + 1) & t->mask;
    }
    memcpy(t->key + t->n * t->k, g, (size_t)t->k * sizeof *g);
    t->raw[t->n] = 1;
    t->slot[s] = (uint32_t)(++t->n);
}

/* ------------------------------------------------------------- model ---- */

ngram_lm *ngram_new(const ngram_config *cfg) {
    if (!cfg) ad_fail_at(__FILE__, __LINE__, "ngram_new", "cfg is NULL");
    if (cfg->order < 1 || cfg->order > NGRAM_MAX_ORDER)
        ad_fail_at(__FILE__, __LINE__, "ngram_new", "order %d is not in 1..%d", cfg->order,
                   NGRAM_MAX_ORDER);
    if (cfg->vocab < 1)
        ad_fail_at(__FILE__, __LINE__, "ngram_new", "vocab %d is not >= 1", cfg->vocab);
    if (cfg->eos < -1 || cfg->eos >= cfg->vocab)
        ad_fail_at(__FILE__, __LINE__, "ngram_new", "eos %d is not -1 or an id in [0, %d)",
                   cfg->eos, cfg->vocab);
    if (cfg->discounts != 0 && cfg->discounts != 1 && cfg->discounts != 3)
        ad_fail_at(__FILE__, __LINE__, "ngram_new", "discounts %d is not 1 or 3", cfg->discounts);
    ngram_lm *lm = xcalloc(1, sizeof *lm, __LINE__);
    lm->cfg = *cfg;
    if (lm->cfg.discounts == 0) lm->cfg.discounts = 3;
    for (int k = 1; k <= cfg->order; k++) table_init(&lm->tab[k], k);
    return lm;
}

void ngram_free(ngram_lm *lm) {
    if (!lm) return;
    for (int k = 1; k <= lm->cfg.order; k++) table_free(&lm->tab[k]);
    free(lm);
}

const ngram_config *ngram_get_config(const ngram_lm *lm) { return &lm->cfg; }

int ngram_bos(const ngram_lm *lm) { return lm->cfg.vocab; }

void ngram_count(ngram_lm *lm, const int *ids, size_t n) {
    if (lm->estimated)
        ad_fail_at(__FILE__, __LINE__, "ngram_count", "the model is already estimated");
    if (n > 0 && !ids) ad_fail_at(__FILE__, __LINE__, "ngram_count", "ids is NULL");
    const int order = lm->cfg.order, V = lm->cfg.vocab, bos = V;
    int g[NGRAM_MAX_ORDER]; /* the history (up to n-1 ids, oldest first), then the word */
    int hlen = 0;
    bool start = true;
    for (size_t i = 0; i < n; i++) {
        const int w = ids[i];
        if (w < 0 || w >= V)
            ad_fail_at(__FILE__, __LINE__, "ngram_count", "ids[%zu] = %d is not in [0, %d)", i, w,
                       V);
        if (start && order > 1) { /* a sentence begins: <s> is its history and a unigram */
            g[0] = bos;
            hlen = 1;
            table_add(&lm->tab[1], g);
        }
        start = false;
        /* every k-gram ending here: the newest k-1 ids of the history, then w */
        for (int k = 1; k <= order && k <= hlen + 1; k++) {
            int key[NGRAM_MAX_ORDER];
            memcpy(key, g + hlen - (k - 1), (size_t)(k - 1) * sizeof *key);
            key[k - 1] = w;
            table_add(&lm->tab[k], key);
        }
        if (order > 1) {
            if (hlen == order - 1) memmove(g, g + 1, (size_t)--hlen * sizeof *g);
            g[hlen++] = w;
        }
        if (w == lm->cfg.eos) start = true;
    }
}

/* Chen & Goodman's discounts from the count-of-counts n[1..4] of order k's a's. */
static void estimate_discounts(const long n[5], int kinds, double d[3]) {
    const double Y = n[1] + 2 * n[2] > 0 ? (double)n[1] / (double)(n[1] + 2 * n[2]) : NAN;
    const double fallback = Y > 0 && Y <= 1 ? Y : 0.5;
    for (int j = 1; j <= 3; j++) {
        double D = kinds == 1 ? Y : j - (j + 1) * Y * (double)n[j + 1] / (double)n[j];
        d[j - 1] = isfinite(D) && D > 0 && D <= j ? D : fallback;
    }
}

void ngram_estimate(ngram_lm *lm) {
    if (lm->estimated)
        ad_fail_at(__FILE__, __LINE__, "ngram_estimate", "the model is already estimated");
    const int order = lm->cfg.order, V = lm->cfg.vocab, bos = V;
    for (int k = 1; k <= order; k++) {
        gram_table *t = &lm->tab[k];
        t->kn = xmalloc((t->n ? t->n : 1) * sizeof *t->kn, __LINE__);
        memcpy(t->kn, t->raw, t->n * sizeof *t->kn);
    }
    /* Continuation counts, top down: every distinct k-gram v·s adds one to its suffix s. The
     * (k-1)-grams that begin with <s> have nothing before them and keep their raw counts. */
    for (int k = order; k >= 2; k--) {
        gram_table *t = &lm->tab[k], *lo = &lm->tab[k - 1];
        long *cont = xcalloc(lo->n, sizeof *cont, __LINE__);
        for (size_t e = 0; e < t->n; e++) {
            long s = table_find(lo, t->key + e * k + 1);
            if (s < 0) ad_fail_at(__FILE__, __LINE__, "ngram_estimate", "suffix not counted");
            cont[s]++;
        }
        for (size_t s = 0; s < lo->n; s++)
            if (lo->key[s * (k - 1)] != bos) lo->kn[s] = cont[s];
        free(cont);
    }
    /* Discounts per order, from the a's (the <s> unigram is no word the model predicts). */
    for (int k = 1; k <= order; k++) {
        const gram_table *t = &lm->tab[k];
        long n[5] = {0};
        for (size_t e = 0; e < t->n; e++)
            if (!(k == 1 && t->key[e] == bos) && t->kn[e] <= 4) n[t->kn[e]]++;
        estimate_discounts(n, lm->cfg.discounts, lm->disc[k]);
    }
    /* Context statistics: each k-gram hw adds a(hw) to its context h, one order down. */
    for (int k = 2; k <= order; k++) {
        const gram_table *t = &lm->tab[k];
        gram_table *lo = &lm->tab[k - 1];
        lo->total = xcalloc(lo->n, sizeof *lo->total, __LINE__);
        lo->nj = xcalloc(lo->n, sizeof *lo->nj, __LINE__);
        for (size_t e = 0; e < t->n; e++) {
            long h = table_find(lo, t->key + e * k);
            if (h < 0) ad_fail_at(__FILE__, __LINE__, "ngram_estimate", "context not counted");
            lo->total[h] += t->kn[e];
            lo->nj[h][(t->kn[e] < 3 ? t->kn[e] : 3) - 1]++;
        }
    }
    const gram_table *uni = &lm->tab[1];
    for (size_t e = 0; e < uni->n; e++) {
        if (uni->key[e] == bos) continue;
        lm->total0 += uni->kn[e];
        lm->n0[(uni->kn[e] < 3 ? uni->kn[e] : 3) - 1]++;
    }
    lm->estimated = true;
}

static void check_order(const ngram_lm *lm, int k, const char *op) {
    if (k < 1 || k > lm->cfg.order)
        ad_fail_at(__FILE__, __LINE__, op, "order %d is not in 1..%d", k, lm->cfg.order);
    if (!lm->estimated)
        ad_fail_at(__FILE__, __LINE__, op, "the model is not estimated (ngram_estimate)");
}

void ngram_get_discounts(const ngram_lm *lm, int k, double d[3]) {
    check_order(lm, k, "ngram_get_discounts");
    memcpy(d, lm->disc[k], sizeof lm->disc[k]);
}

void ngram_set_discounts(ngram_lm *lm, int k, const double d[3]) {
    check_order(lm, k, "ngram_set_discounts");
    for (int j = 1; j <= 3; j++)
        if (!(d[j - 1] >= 0 && d[j - 1] <= j))
            ad_fail_at(__FILE__, __LINE__, "ngram_set_discounts", "D%d = %g is not in [0, %d]", j,
                       d[j - 1], j);
    memcpy(lm->disc[k], d, sizeof lm->disc[k]);
}

static long lookup(const ngram_lm *lm, const int *g, int k, bool kn, const char *op) {
    if (k < 1 || k > lm->cfg.order)
        ad_fail_at(__FILE__, __LINE__, op, "order %d is not in 1..%d", k, lm->cfg.order);
    const gram_table *t = &lm->tab[k];
    long e = table_find(t, g);
    if (e < 0) return 0;
    return kn && lm->estimated ? t->kn[e] : t->raw[e];
}

long ngram_raw_count(const ngram_lm *lm, const int *g, int k) {
    return lookup(lm, g, k, false, "ngram_raw_count");
}

long ngram_kn_count(const ngram_lm *lm, const int *g, int k) {
    return lookup(lm, g, k, true, "ngram_kn_count");
}

size_t ngram_distinct(const ngram_lm *lm, int k) {
    if (k < 1 || k > lm->cfg.order)
        ad_fail_at(__FILE__, __LINE__, "ngram_distinct", "order %d is not in 1..%d", k,
                   lm->cfg.order);
    const gram_table *t = &lm->tab[k];
    size_t n = t->n;
    if (k == 1 && table_find(t, &(int){lm->cfg.vocab}) >= 0) n--;
    return n;
}

/* One order's interpolation: the discounted count of w in context h, plus h's share γ(h) of the
 * lower order's probability. */
static double interpolate(const double D[3], long total, const int nj[3], long a, double p_lower) {
    double gamma = (D[0] * nj[0] + D[1] * nj[1] + D[2] * nj[2]) / (double)total;
    double head = a > 0 ? fmax((double)a - D[(a < 3 ? a : 3) - 1], 0.0) / (double)total : 0.0;
    return head + gamma * p_lower;
}

double ngram_prob(const ngram_lm *lm, const int *context, int len, int w) {
    const int V = lm->cfg.vocab, bos = V;
    if (!lm->estimated)
        ad_fail_at(__FILE__, __LINE__, "ngram_prob", "the model is not estimated (ngram_estimate)");
    if (w < 0 || w >= V)
        ad_fail_at(__FILE__, __LINE__, "ngram_prob", "w = %d is not in [0, %d)", w, V);
    if (len < 0 || (len > 0 && !context))
        ad_fail_at(__FILE__, __LINE__, "ngram_prob", "context of length %d", len);
    int start = 0;
    for (int i = 0; i < len; i++) {
        if (context[i] < 0 || context[i] > V)
            ad_fail_at(__FILE__, __LINE__, "ngram_prob", "context[%d] = %d is not in [0, %d]", i,
                       context[i], V);
        if (context[i] == bos) start = i;
    }
    if (len - start > lm->cfg.order - 1) start = len - (lm->cfg.order - 1);
    const int *h = context + len; /* the m newest ids are h - m .. h - 1 */

    double p = 1.0 / V;
    if (lm->total0 == 0) return p; /* nothing counted: uniform */
    p = interpolate(lm->disc[1], lm->total0, lm->n0, ngram_kn_count(lm, &w, 1), p);
    for (int m = 1; m <= len - start; m++) {
        const gram_table *ctx = &lm->tab[m];
        long e = table_find(ctx, h - m);
        /* An unseen context (or one never followed by a word) backs off whole; so does every
         * longer context, since each of them ends with this one. */
        if (e < 0 || ctx->total[e] == 0) break;
        int g[NGRAM_MAX_ORDER];
        memcpy(g, h - m, (size_t)m * sizeof *g);
        g[m] = w;
        p = interpolate(lm->disc[m + 1], ctx->total[e], ctx->nj[e], ngram_kn_count(lm, g, m + 1),
                        p);
    }
    return p;
}

int ngram_context(const ngram_lm *lm, const int *ids, size_t i, int *context) {
    const int want = lm->cfg.order - 1, eos = lm->cfg.eos;
    int len = 0;
    size_t j = i;
    while (len < want) {
        if (j == 0 || ids[j - 1] == eos) {
            context[len++] = lm->cfg.vocab; /* <s> */
            break;
        }
        context[len++] = ids[--j];
    }
    for (int a = 0, b = len - 1; a < b; a++, b--) { /* newest first -> oldest first */
        int x = context[a];
        context[a] = context[b];
        context[b] = x;
    }
    return len;
}

double ngram_nll(const ngram_lm *lm, const int *ids, size_t n) {
    double nll = 0;
    AD_PARALLEL_FOR_SUM(n * (size_t)lm->cfg.order * 8, nll, for (size_t i = 0; i < n; i++) {
        int ctx[NGRAM_MAX_ORDER];
        int len = ngram_context(lm, ids, i, ctx);
        nll -= log(ngram_prob(lm, ctx, len, ids[i]));
    });
    return nll;
}

void ngram_logprobs(const ngram_lm *lm, const int *ids, size_t n, double *logp) {
    AD_PARALLEL_FOR(n * (size_t)lm->cfg.order * 8, for (size_t i = 0; i < n; i++) {
        int ctx[NGRAM_MAX_ORDER];
        int len = ngram_context(lm, ids, i, ctx);
        logp[i] = log(ngram_prob(lm, ctx, len, ids[i]));
    });
}

double ngram_perplexity(const ngram_lm *lm, const int *ids, size_t n) {
    return n ? exp(ngram_nll(lm, ids, n) / (double)n) : NAN;
}
