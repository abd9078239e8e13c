/*
 * Tests of models/ngram.c, interpolated modified Kneser-Ney: counts and continuation counts of a
 * tiny corpus counted by hand, its discounts and probabilities worked out by hand, the whole
 * model against a brute-force reference that rescans the corpus for every count (orders 2..5),
 * and distributions that sum to 1 over the vocabulary for many contexts.
 */
#include "harness.h"
#include "ngram.h"

/* ---------------------------------------------------- the tiny corpus ---- */
/*
 * ids: 0 <unk>, 1 </s>, 2 a, 3 b, 4 c; <s> is 5 (the vocabulary size). Three sentences:
 *     <s> a b c </s>      <s> a b </s>      <s> b c a </s>
 * Trigrams (raw = a): <s>ab 2, abc 1, bc</s> 1, ab</s> 1, <s>bc 1, bca 1, ca</s> 1.
 * Bigrams, raw:       <s>a 2, ab 2, bc 2, c</s> 1, b</s> 1, <s>b 1, ca 1, a</s> 1.
 *          a (KN):    <s>a 2, <s>b 1 (raw: nothing precedes <s>); ab 1 (only <s> before it),
 *                     bc 2 (a and <s> before it), c</s> 1, b</s> 1, ca 1, a</s> 1.
 * Unigrams, raw:      a 3, b 3, c 2, </s> 3, <unk> 0, <s> 3 (sentences).
 *           a (KN):   a 2 (<s>, c), b 2 (a, <s>), c 1 (b), </s> 3 (c, b, a), <unk> 0.
 */
enum { UNK = 0, EOS = 1, A = 2, B = 3, C = 4, V5 = 5, BOS5 = 5 };
static const int TINY[] = {A, B, C, EOS, A, B, EOS, B, C, A, EOS};
enum { TINY_N = sizeof TINY / sizeof TINY[0] };

static ngram_lm *tiny_model(void) {
    ngram_lm *lm = ngram_new(&(ngram_config){.order = 3, .vocab = V5, .eos = EOS});
    ngram_count(lm, TINY, TINY_N);
    ngram_estimate(lm);
    return lm;
}

#define RAW(lm, ...) ngram_raw_count((lm), (const int[]){__VA_ARGS__}, \
                                     (int)(sizeof((int[]){__VA_ARGS__}) / sizeof(int)))
#define KN(lm, ...) ngram_kn_count((lm), (const int[]){__VA_ARGS__}, \
                                   (int)(sizeof((int[]){__VA_ARGS__}) / sizeof(int)))

TEST(tiny_corpus_raw_counts_by_hand) {
    ngram_lm *lm = tiny_model();
    CHECK(ngram_distinct(lm, 3) == 7 && ngram_distinct(lm, 2) == 8 && ngram_distinct(lm, 1) == 4);
    CHECK(RAW(lm, BOS5, A, B) == 2 && RAW(lm, A, B, C) == 1 && RAW(lm, B, C, EOS) == 1);
    CHECK(RAW(lm, A, B, EOS) == 1 && RAW(lm, BOS5, B, C) == 1 && RAW(lm, B, C, A) == 1);
    CHECK(RAW(lm, C, A, EOS) == 1);
    CHECK(RAW(lm, A, B, A) == 0 && RAW(lm, EOS, A, B) == 0); /* no history crosses a sentence */
    CHECK(RAW(lm, BOS5, A) == 2 && RAW(lm, A, B) == 2 && RAW(lm, B, C) == 2);
    CHECK(RAW(lm, C, EOS) == 1 && RAW(lm, B, EOS) == 1 && RAW(lm, BOS5, B) == 1);
    CHECK(RAW(lm, C, A) == 1 && RAW(lm, A, EOS) == 1 && RAW(lm, EOS, A) == 0);
    CHECK(RAW(lm, A) == 3 && RAW(lm, B) == 3 && RAW(lm, C) == 2 && RAW(lm, EOS) == 3);
    CHECK(RAW(lm, UNK) == 0 && RAW(lm, BOS5) == 3);
    ngram_free(lm);
}

TEST(tiny_corpus_kneser_ney_counts_by_hand) {
    ngram_lm *lm = tiny_model();
    /* the highest order keeps raw counts */
    CHECK(KN(lm, BOS5, A, B) == 2 && KN(lm, A, B, C) == 1 && KN(lm, C, A, EOS) == 1);
    /* bigrams after <s> keep raw counts; the others count the distinct words before them */
    CHECK(KN(lm, BOS5, A) == 2 && KN(lm, BOS5, B) == 1);
    CHECK(KN(lm, A, B) == 1);    /* raw 2, but only ever after <s> */
    CHECK(KN(lm, B, C) == 2);    /* after a and after <s> */
    CHECK(KN(lm, C, EOS) == 1 && KN(lm, B, EOS) == 1 && KN(lm, C, A) == 1 && KN(lm, A, EOS) == 1);
    /* unigrams: continuation counts */
    CHECK(KN(lm, A) == 2 && KN(lm, B) == 2 && KN(lm, C) == 1 && KN(lm, EOS) == 3);
    CHECK(KN(lm, UNK) == 0);
    ngram_free(lm);
}

/* Chen & Goodman: Y = n1/(n1 + 2 n2), D_j = j - (j+1) Y n_{j+1}/n_j, undefined -> Y.
 * Order 3, a's {2,1,1,1,1,1,1}: n1 6, n2 1, n3 0: Y = 0.75, D1 = 1 - 2(.75)(1/6) = 0.75, D2 = 2,
 * D3 = 0/0 -> 0.75. Order 2, a's {2,1,1,2,1,1,1,1}: n1 6, n2 2: Y = 0.6, D1 = 1 - 2(.6)(2/6) = 0.6,
 * D2 = 2, D3 -> 0.6. Order 1, a's {2,2,1,3}: n1 1, n2 2, n3 1, n4 0: Y = 0.2, D1 = 1 - 2(.2)(2) =
 * 0.2, D2 = 2 - 3(.2)(1/2) = 1.7, D3 = 3 - 0 = 3. */
TEST(tiny_corpus_discounts_by_hand) {
    ngram_lm *lm = tiny_model();
    const double want[4][3] = {{0}, {0.2, 1.7, 3}, {0.6, 2, 0.6}, {0.75, 2, 0.75}};
    for (int k = 1; k <= 3; k++) {
        double d[3];
        ngram_get_discounts(lm, k, d);
        for (int j = 0; j < 3; j++) CHECK_NEAR(d[j], want[k][j], 1e-15, 0);
    }
    ngram_free(lm);

    /* one discount per order (interpolated KN): D = Y */
    lm = ngram_new(&(ngram_config){.order = 3, .vocab = V5, .eos = EOS, .discounts = 1});
    ngram_count(lm, TINY, TINY_N);
    ngram_estimate(lm);
    const double Y[4] = {0, 0.2, 0.6, 0.75};
    for (int k = 1; k <= 3; k++) {
        double d[3];
        ngram_get_discounts(lm, k, d);
        for (int j = 0; j < 3; j++) CHECK_NEAR(d[j], Y[k], 1e-15, 0);
    }
    ngram_free(lm);
}

/*
 * Unigrams: total 8; N1 1 (c), N2 2 (a, b), N3+ 1 (</s>); γ = (0.2 + 2(1.7) + 3)/8 = 0.825.
 *   P1(a) = P1(b) = (2 - 1.7)/8 + 0.825/5 = 0.2025, P1(c) = (1 - 0.2)/8 + 0.165 = 0.265,
 *   P1(</s>) = (3 - 3)/8 + 0.165 = 0.165, P1(<unk>) = 0.165.
 * Context b: a's bc 2, b</s> 1: total 3, γ = (0.6 + 2)/3.
 *   P2(c|b) = 0 + (2.6/3) 0.265 = 0.2296666..., P2(</s>|b) = 0.4/3 + (2.6/3) 0.165.
 * Context c: c</s> 1, ca 1: total 2, γ = 0.6.  P2(</s>|c) = 0.4/2 + 0.6 (0.165) = 0.299.
 * Context <s>: <s>a 2, <s>b 1: γ = 2.6/3.  P2(a|<s>) = 0 + (2.6/3) 0.2025 = 0.1755,
 *   P2(b|<s>) = 0.4/3 + 0.1755 = 0.30883...
 * Context a b: abc 1, ab</s> 1: γ = 0.75.  P3(c|a b) = 0.25/2 + 0.75 P2(c|b) = 0.29725.
 * Context <s> b: <s>bc 1: γ = 0.75.  P3(c|<s> b) = 0.25 + 0.75 P2(c|b) = 0.42225.
 * Context b c: bc</s> 1, bca 1: γ = 0.75.  P3(</s>|b c) = 0.125 + 0.75 (0.299) = 0.34925.
 */
TEST(tiny_corpus_probabilities_by_hand) {
    ngram_lm *lm = tiny_model();
    const double tol = 1e-14;
    CHECK_NEAR(ngram_prob(lm, NULL, 0, A), 0.2025, tol, 0);
    CHECK_NEAR(ngram_prob(lm, NULL, 0, B), 0.2025, tol, 0);
    CHECK_NEAR(ngram_prob(lm, NULL, 0, C), 0.265, tol, 0);
    CHECK_NEAR(ngram_prob(lm, NULL, 0, EOS), 0.165, tol, 0);
    CHECK_NEAR(ngram_prob(lm, NULL, 0, UNK), 0.165, tol, 0);
    const double p_c_b = 2.6 / 3 * 0.265;
    CHECK_NEAR(ngram_prob(lm, (int[]){B}, 1, C), p_c_b, tol, 0);
    CHECK_NEAR(ngram_prob(lm, (int[]){B}, 1, EOS), 0.4 / 3 + 2.6 / 3 * 0.165, tol, 0);
    CHECK_NEAR(ngram_prob(lm, (int[]){C}, 1, EOS), 0.299, tol, 0);
    CHECK_NEAR(ngram_prob(lm, (int[]){BOS5}, 1, A), 0.1755, tol, 0);
    CHECK_NEAR(ngram_prob(lm, (int[]){BOS5}, 1, B), 0.4 / 3 + 0.1755, tol, 0);
    CHECK_NEAR(ngram_prob(lm, (int[]){A, B}, 2, C), 0.29725, tol, 0);
    CHECK_NEAR(ngram_prob(lm, (int[]){BOS5, B}, 2, C), 0.42225, tol, 0);
    CHECK_NEAR(ngram_prob(lm, (int[]){B, C}, 2, EOS), 0.34925, tol, 0);
    /* An unseen context backs off whole: (c b) was never seen, so P(x | c b) = P(x | b). */
    CHECK_NEAR(ngram_prob(lm, (int[]){C, B}, 2, C), p_c_b, tol, 0);
    /* Only the newest n-1 words count, and <s> ends a context on the left however padded. */
    CHECK_NEAR(ngram_prob(lm, (int[]){EOS, A, B}, 3, C), 0.29725, tol, 0);
    CHECK_NEAR(ngram_prob(lm, (int[]){BOS5, BOS5, BOS5, B}, 4, C), 0.42225, tol, 0);
    CHECK_NEAR(ngram_prob(lm, (int[]){A, BOS5, B}, 3, C), 0.42225, tol, 0);
    ngram_free(lm);
}

TEST(tiny_corpus_contexts_and_perplexity) {
    ngram_lm *lm = tiny_model();
    /* a held-out "b c </s> a": contexts (<s>), (<s> b), (b c), (<s>) */
    const int held[] = {B, C, EOS, A};
    const int want_len[] = {1, 2, 2, 1};
    const int want_ctx[][2] = {{BOS5}, {BOS5, B}, {B, C}, {BOS5}};
    for (int i = 0; i < 4; i++) {
        int ctx[NGRAM_MAX_ORDER];
        int len = ngram_context(lm, held, (size_t)i, ctx);
        REQUIRE(len == want_len[i]);
        for (int j = 0; j < len; j++) CHECK(ctx[j] == want_ctx[i][j]);
    }
    const double p[] = {0.4 / 3 + 0.1755, 0.42225, 0.34925, 0.1755};
    double nll = 0;
    for (int i = 0; i < 4; i++) nll -= log(p[i]);
    CHECK_NEAR(ngram_nll(lm, held, 4), nll, 1e-14, 0);
    double logp[4], want_logp[4];
    ngram_logprobs(lm, held, 4, logp);
    for (int i = 0; i < 4; i++) want_logp[i] = log(p[i]);
    CHECK_ARRAY("logprobs", logp, want_logp, 4, 1e-14, 0);
    CHECK_NEAR(ngram_perplexity(lm, held, 4), exp(nll / 4), 1e-14, 0);
    ngram_free(lm);
}

/* ------------------------------------------- the brute-force reference ---- */
/*
 * Every count recomputed by rescanning the corpus's positions, every distinct n-gram found by a
 * linear search, every distribution by the recursion of ngram.h written directly: slow and plain.
 */
enum { RV = 9, RBOS = RV, REOS = 1, RN = 700, RMAXG = 4096 };

typedef struct ref_pos {
    int hist[NGRAM_MAX_ORDER]; /* the history as the model sees it (ngram_context), oldest first */
    int hlen, w;
} ref_pos;

typedef struct ref_model {
    int order, npos;
    ref_pos pos[RN];
    double disc[NGRAM_MAX_ORDER + 1][3];
} ref_model;

/* c(g): positions whose history ends with g[0..k-2] and whose word is g[k-1]. */
static long ref_raw(const ref_model *r, const int *g, int k) {
    long c = 0;
    for (int p = 0; p < r->npos; p++) {
        const ref_pos *q = &r->pos[p];
        if (q->hlen < k - 1 || q->w != g[k - 1]) continue;
        bool match = true;
        for (int j = 0; j < k - 1; j++) match &= q->hist[q->hlen - (k - 1) + j] == g[j];
        c += match;
    }
    return c;
}

/* a(g): raw at the top order and after <s>, else the number of distinct words v with c(v g) > 0 */
static long ref_a(const ref_model *r, const int *g, int k) {
    if (k == r->order || g[0] == RBOS) return ref_raw(r, g, k);
    int vg[NGRAM_MAX_ORDER + 1];
    memcpy(vg + 1, g, (size_t)k * sizeof *g);
    long n = 0;
    for (int v = 0; v <= RV; v++) {
        vg[0] = v;
        n += ref_raw(r, vg, k + 1) > 0;
    }
    return n;
}

/* The distribution P_{m+1}(· | h) of context h (m ids). */
static void ref_dist(const ref_model *r, const int *h, int m, double *out) {
    double lower[RV];
    if (m == 0)
        for (int w = 0; w < RV; w++) lower[w] = 1.0 / RV;
    else
        ref_dist(r, h + 1, m - 1, lower);
    long a[RV], total = 0;
    int nj[3] = {0};
    int g[NGRAM_MAX_ORDER + 1];
    memcpy(g, h, (size_t)m * sizeof *h);
    for (int w = 0; w < RV; w++) {
        g[m] = w;
        a[w] = ref_a(r, g, m + 1);
        total += a[w];
        if (a[w] > 0) nj[(a[w] < 3 ? a[w] : 3) - 1]++;
    }
    if (total == 0) {
        memcpy(out, lower, sizeof lower);
        return;
    }
    const double *D = r->disc[m + 1];
    double gamma = (D[0] * nj[0] + D[1] * nj[1] + D[2] * nj[2]) / (double)total;
    for (int w = 0; w < RV; w++) {
        double head = a[w] > 0 ? fmax((double)a[w] - D[(a[w] < 3 ? a[w] : 3) - 1], 0) : 0;
        out[w] = head / (double)total + gamma * lower[w];
    }
}

/* Chen & Goodman's discounts from the distinct k-grams found by linear search. */
static void ref_discounts(ref_model *r) {
    static int seen[RMAXG][NGRAM_MAX_ORDER];
    for (int k = 1; k <= r->order; k++) {
        int ns = 0;
        long n[5] = {0};
        for (int p = 0; p < r->npos; p++) {
            const ref_pos *q = &r->pos[p];
            if (q->hlen < k - 1) continue;
            int g[NGRAM_MAX_ORDER];
            memcpy(g, q->hist + q->hlen - (k - 1), (size_t)(k - 1) * sizeof *g);
            g[k - 1] = q->w;
            bool dup = false;
            for (int s = 0; s < ns && !dup; s++)
                dup = memcmp(seen[s], g, (size_t)k * sizeof *g) == 0;
            if (dup) continue;
            REQUIRE(ns < RMAXG);
            memcpy(seen[ns++], g, (size_t)k * sizeof *g);
            long a = ref_a(r, g, k);
            if (a <= 4) n[a]++;
        }
        double Y = n[1] + 2 * n[2] > 0 ? (double)n[1] / (double)(n[1] + 2 * n[2]) : NAN;
        double fallback = Y > 0 && Y <= 1 ? Y : 0.5;
        for (int j = 1; j <= 3; j++) {
            double D = j - (j + 1) * Y * (double)n[j + 1] / (double)n[j];
            r->disc[k][j - 1] = isfinite(D) && D > 0 && D <= j ? D : fallback;
        }
    }
}

/* A random corpus of RN tokens: a skewed choice among RV words, </s> about one in seven, and
 * some structure (a word often repeats the word two before it) so that contexts matter. */
static void random_corpus(int *ids, int n, uint64_t seed) {
    nn_rng rng = nn_rng_new(seed);
    for (int i = 0; i < n; i++) {
        double u = nn_rng_uniform(&rng);
        if (u < 0.14) ids[i] = REOS;
        else if (u < 0.4 && i >= 2 && ids[i - 2] != REOS) ids[i] = ids[i - 2];
        else {
            int w = (int)(nn_rng_uniform(&rng) * nn_rng_uniform(&rng) * RV); /* skewed to 0 */
            ids[i] = w == REOS ? 2 : w;
        }
    }
}

static void ref_build(ref_model *r, const ngram_lm *lm, const int *ids, int n) {
    r->order = ngram_get_config(lm)->order;
    r->npos = n;
    for (int i = 0; i < n; i++) {
        r->pos[i].hlen = ngram_context(lm, ids, (size_t)i, r->pos[i].hist);
        r->pos[i].w = ids[i];
    }
    ref_discounts(r);
}

TEST(model_matches_brute_force_reference_orders_2_to_5) {
    static int ids[RN];
    static ref_model ref;
    random_corpus(ids, RN, 7);
    int held[60];
    random_corpus(held, 60, 8);
    for (int order = 2; order <= 5; order++) {
        ngram_lm *lm = ngram_new(&(ngram_config){.order = order, .vocab = RV, .eos = REOS});
        ngram_count(lm, ids, RN);
        ngram_estimate(lm);
        /* The contexts of ngram_context are checked by hand above; here they index the corpus. */
        ref_build(&ref, lm, ids, RN);
        for (int k = 1; k <= order; k++) {
            double d[3];
            ngram_get_discounts(lm, k, d);
            CHECK_ARRAY("discounts", d, ref.disc[k], 3, 1e-15, 0);
        }
        /* contexts: every held-out position's, plus the empty one and unseen ones */
        double worst = 0;
        int checked = 0;
        for (int i = 0; i < 60 + 3; i++) {
            int ctx[NGRAM_MAX_ORDER] = {0}, len;
            if (i < 60) len = ngram_context(lm, held, (size_t)i, ctx);
            else if (i == 60) len = 0;
            else { /* unseen: a run of the rarest word, and a context with </s> inside */
                len = order - 1;
                for (int j = 0; j < len; j++) ctx[j] = i == 61 ? RV - 1 : (j % 2 ? REOS : 3);
            }
            int norm = 0; /* the reference takes the context as the model reads it */
            for (int j = 0; j < len; j++)
                if (ctx[j] == RBOS) norm = j;
            double want[RV];
            ref_dist(&ref, ctx + norm, len - norm, want);
            for (int w = 0; w < RV; w++) {
                double got = ngram_prob(lm, ctx, len, w);
                CHECK_NEAR(got, want[w], 1e-13, 0);
                worst = fmax(worst, fabs(got - want[w]) / want[w]);
                checked++;
            }
        }
        th_note("order %d: %d probabilities, largest relative difference %.2e", order, checked,
                worst);
        ngram_free(lm);
    }
}

/* ----------------------------------------------------- normalization ---- */

static double sum_over_vocab(const ngram_lm *lm, const int *ctx, int len) {
    double s = 0, c = 0; /* Kahan: the sum's own rounding stays well below 1e-12 */
    for (int w = 0; w < ngram_get_config(lm)->vocab; w++) {
        double y = ngram_prob(lm, ctx, len, w) - c, t = s + y;
        c = (t - s) - y;
        s = t;
    }
    return s;
}

TEST(probabilities_sum_to_one_over_the_vocabulary) {
    enum { N = 20000, VOC = 200 };
    static int ids[N];
    nn_rng rng = nn_rng_new(3);
    for (int i = 0; i < N; i++) { /* Zipf-like over 200 words, </s> = 1 one in ten */
        double u = nn_rng_uniform(&rng);
        ids[i] = u < 0.1 ? 1 : (int)(VOC * pow(nn_rng_uniform(&rng), 3));
        if (ids[i] == 1 && u >= 0.1) ids[i] = 0;
    }
    for (int order = 2; order <= 5; order++)
        for (int kinds = 1; kinds <= 3; kinds += 2) {
            ngram_lm *lm = ngram_new(&(ngram_config){order, VOC, 1, kinds});
            ngram_count(lm, ids, N - 500);
            ngram_estimate(lm);
            double worst = 0;
            for (int i = N - 500; i < N; i += 7) { /* held-out contexts: seen and unseen */
                int ctx[NGRAM_MAX_ORDER];
                int len = ngram_context(lm, ids + (N - 500), (size_t)(i - (N - 500)), ctx);
                double s = sum_over_vocab(lm, ctx, len);
                CHECK_MSG(fabs(s - 1) <= 1e-12, "order %d, %d discounts, position %d: sum %.17g",
                          order, kinds, i, s);
                worst = fmax(worst, fabs(s - 1));
            }
            const int unseen[4] = {VOC - 1, VOC - 2, VOC - 3, VOC - 4}; /* rare words */
            CHECK(fabs(sum_over_vocab(lm, unseen, order - 1) - 1) <= 1e-12);
            CHECK(fabs(sum_over_vocab(lm, (int[]){VOC}, 1) - 1) <= 1e-12); /* after <s> */
            CHECK(fabs(sum_over_vocab(lm, NULL, 0) - 1) <= 1e-12);
            if (kinds == 3) th_note("order %d: |sum - 1| <= %.1e", order, worst);
            ngram_free(lm);
        }
}

/* A unigram model (order 1) is the discounted unigram counts over the uniform floor; with every
 * word seen once and D = 0.5 each gets (1 - 0.5)/V + (0.5 V / V)/V = 1/V. */
TEST(order_one_and_uniform_cases) {
    const int ids[] = {0, 1, 2, 3};
    ngram_lm *lm = ngram_new(&(ngram_config){.order = 1, .vocab = 4, .eos = -1});
    ngram_count(lm, ids, 4);
    ngram_estimate(lm);
    ngram_set_discounts(lm, 1, (double[]){0.5, 1, 1.5});
    for (int w = 0; w < 4; w++) CHECK_NEAR(ngram_prob(lm, (int[]){2, 3}, 2, w), 0.25, 1e-15, 0);
    CHECK_NEAR(ngram_perplexity(lm, ids, 4), 4, 1e-14, 0);
    ngram_free(lm);
    /* nothing counted: uniform */
    lm = ngram_new(&(ngram_config){.order = 3, .vocab = 10, .eos = 1});
    ngram_estimate(lm);
    CHECK_NEAR(ngram_prob(lm, (int[]){10, 4}, 2, 7), 0.1, 1e-15, 0);
    ngram_free(lm);
}

TEST(usage_errors_stop_with_a_message) {
    EXPECT_ERROR(ngram_new(&(ngram_config){.order = 7, .vocab = 5}), "ngram_new", "order 7");
    EXPECT_ERROR(ngram_new(&(ngram_config){.order = 3, .vocab = 5, .eos = 5}), "ngram_new", "eos");
    ngram_lm *lm = ngram_new(&(ngram_config){.order = 3, .vocab = V5, .eos = EOS});
    EXPECT_ERROR(ngram_count(lm, (int[]){2, 5}, 2), "ngram_count", "ids[1] = 5");
    EXPECT_ERROR(ngram_prob(lm, NULL, 0, 2), "ngram_prob", "not estimated");
    ngram_count(lm, TINY, TINY_N);
    ngram_estimate(lm);
    EXPECT_ERROR(ngram_count(lm, TINY, TINY_N), "ngram_count", "already estimated");
    EXPECT_ERROR(ngram_prob(lm, NULL, 0, 5), "ngram_prob", "w = 5");
    EXPECT_ERROR(ngram_prob(lm, (int[]){6}, 1, 2), "ngram_prob", "context[0] = 6");
    EXPECT_ERROR(ngram_set_discounts(lm, 2, (double[]){1.5, 1, 1}), "ngram_set_discounts", "D1");
    ngram_free(lm);
}
