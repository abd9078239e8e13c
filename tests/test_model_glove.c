/*
 * models/glove: FORMULAS §10 through the model's own code. The counts of the worked example
 * (window 1, stopping at sentence ends) and 1/distance-weighted counts worked by hand; a large
 * random stream against a brute-force count; f(x); the cost's gradient against the closed form
 * and central differences; the trainer's steps against Stanford's AdaGrad loop written out in
 * plain double; resuming; the final vectors w + w̃ in GloVe's text format.
 */
#include "glove.h"
#include "harness.h"

#include <unistd.h>

/* A corpus of lines of ids, as text_read would give it. */
typedef struct corpus {
    int ids[64];
    size_t starts[16];
    text_ids t;
} corpus;

/* lines: ids separated by spaces, lines by '|'. */
static void corpus_make(corpus *c, const char *lines) {
    size_t n = 0, nl = 0;
    c->starts[nl++] = 0;
    for (const char *p = lines; *p;) {
        if (*p == '|') {
            c->starts[nl++] = n;
            p++;
        } else if (*p == ' ') {
            p++;
        } else {
            char *end;
            c->ids[n++] = (int)strtol(p, &end, 10);
            p = end;
        }
    }
    c->starts[nl] = n;
    c->t = (text_ids){.ids = c->ids, .n = n, .line_start = c->starts, .nlines = nl};
}

/* ----------------------------------------------------------- counting ---- */

/* FORMULAS §10's words, with <unk> at 0 as in every vocabulary. */
enum { NW = 8, V = NW + 1 };
static const char *const words[NW] = {"I", "like", "enjoy", "deep", "learning", "NLP", "flying",
                                      "."};
static const int table[NW][NW] = {
    {0, 2, 1, 0, 0, 0, 0, 0}, /* I */
    {2, 0, 0, 1, 0, 1, 0, 0}, /* like */
    {1, 0, 0, 0, 0, 0, 1, 0}, /* enjoy */
    {0, 1, 0, 0, 1, 0, 0, 0}, /* deep */
    {0, 0, 0, 1, 0, 0, 0, 1}, /* learning */
    {0, 1, 0, 0, 0, 0, 0, 1}, /* NLP */
    {0, 0, 1, 0, 0, 0, 0, 1}, /* flying */
    {0, 0, 0, 0, 1, 1, 1, 0}, /* . */
};
/* "I like deep learning . | I like NLP . | I enjoy flying ." as ids 1 + the index above. */
static const char example[] = "1 2 4 5 8 | 1 2 6 8 | 1 3 7 8";

TEST(glove_counts_match_worked_example) {
    corpus c;
    corpus_make(&c, example);
    REQUIRE(c.t.n == 13 && c.t.nlines == 3);
    glove_cooc X;
    REQUIRE(glove_count(&X, &c.t, V, &(glove_count_config){.window = 1}) == NN_OK);
    CHECK(X.vocab == V);
    CHECK(X.n == 18); /* the nonzero entries of the table */
    for (int i = 0; i < NW; i++)
        for (int j = 0; j < NW; j++)
            CHECK_MSG(glove_cooc_get(&X, i + 1, j + 1) == table[i][j], "X(%s, %s) = %g, not %d",
                      words[i], words[j], glove_cooc_get(&X, i + 1, j + 1), table[i][j]);
    glove_cooc_free(&X);
    CHECK(X.pairs == NULL && X.n == 0);

    /* Across line ends, "." before "I" twice: X(., I) = X(I, .) = 2 more, nothing else. */
    REQUIRE(glove_count(&X, &c.t, V, &(glove_count_config){.window = 1, .across_lines = true}) ==
            NN_OK);
    CHECK(X.n == 20);
    for (int i = 0; i < NW; i++)
        for (int j = 0; j < NW; j++) {
            const int extra = (i == 7 && j == 0) || (i == 0 && j == 7) ? 2 : 0;
            CHECK_MSG(glove_cooc_get(&X, i + 1, j + 1) == table[i][j] + extra,
                      "across lines X(%s, %s) = %g", words[i], words[j],
                      glove_cooc_get(&X, i + 1, j + 1));
        }
    glove_cooc_free(&X);
}

/* Worked by hand, window 3, a = 1, b = 2, c = 3, <unk> = 0. Line 1 "a b c a": ab at distance
 * 1 and 2, ac at 2 and 1, bc at 1, aa at 3 (X_aa gains 2/3: each a is in the other's window).
 * Line 2 "c <unk> b": <unk> is dropped, so c and b are 1 apart. Line 3 "b": no pair. */
TEST(glove_counts_weighted_by_distance) {
    corpus c;
    corpus_make(&c, "1 2 3 1 | 3 0 2 | 2");
    glove_cooc X;
    REQUIRE(glove_count(&X, &c.t, 4, &(glove_count_config){.window = 3}) == NN_OK);
    const double want[4][4] = {{0, 0, 0, 0},
                               {0, 2.0 / 3, 1.5, 1.5},
                               {0, 1.5, 0, 2},
                               {0, 1.5, 2, 0}};
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++)
            CHECK_MSG(th_close(glove_cooc_get(&X, i, j), want[i][j], 1e-7, 0),
                      "X(%d, %d) = %.9g, by hand %.9g", i, j, glove_cooc_get(&X, i, j),
                      want[i][j]);
    CHECK(X.n == 7);
    glove_cooc_free(&X);

    /* Unweighted: every pair within the window adds 1. */
    REQUIRE(glove_count(&X, &c.t, 4, &(glove_count_config){.window = 3, .unweighted = true}) ==
            NN_OK);
    CHECK(glove_cooc_get(&X, 1, 2) == 2 && glove_cooc_get(&X, 1, 3) == 2);
    CHECK(glove_cooc_get(&X, 1, 1) == 2 && glove_cooc_get(&X, 2, 3) == 2);
    glove_cooc_free(&X);

    /* Across lines the stream is a b c a c b b: every pair of it by hand. */
    REQUIRE(glove_count(&X, &c.t, 4, &(glove_count_config){.window = 3, .across_lines = true}) ==
            NN_OK);
    const double across[4][4] = {{0, 0, 0, 0},
                                 {0, 2.0 / 3, 1 + 0.5 + 0.5 + 1.0 / 3, 0.5 + 1 + 1},
                                 {0, 1 + 0.5 + 0.5 + 1.0 / 3, 2, 1 + 1.0 / 3 + 1.0 / 3 + 1 + 0.5},
                                 {0, 2.5, 1 + 1.0 / 3 + 1.0 / 3 + 1 + 0.5, 1}};
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++)
            CHECK_MSG(th_close(glove_cooc_get(&X, i, j), across[i][j], 1e-7, 0),
                      "across lines X(%d, %d) = %.9g, by hand %.9g", i, j,
                      glove_cooc_get(&X, i, j), across[i][j]);
    glove_cooc_free(&X);
}

/* A brute-force count: every addition listed, sorted and summed. */
typedef struct entry {
    int i, j;
    double x;
} entry;

static int entry_cmp(const void *a, const void *b) {
    const entry *p = a, *q = b;
    if (p->i != q->i) return p->i < q->i ? -1 : 1;
    return p->j < q->j ? -1 : p->j > q->j;
}

static int pair_cmp(const void *a, const void *b) {
    const glove_pair *p = a, *q = b;
    if (p->i != q->i) return p->i < q->i ? -1 : 1;
    return p->j < q->j ? -1 : p->j > q->j;
}

/* 120000 tokens over 6000 words, so that both the dense block of the frequent words and the hash
 * tables (grown several times) hold entries, against a count that lists every addition; on one
 * thread and on two, which must give the same pairs in the same order. */
TEST(glove_counts_match_brute_force_on_a_large_stream) {
    enum { N = 120000, VOC = 6000, WIN = 5, LINE = 37 };
    int *ids = malloc(N * sizeof *ids);
    size_t *starts = malloc((N / LINE + 2) * sizeof *starts);
    REQUIRE(ids && starts);
    nn_rng r = nn_rng_new(7);
    size_t nl = 0;
    for (int p = 0; p < N; p++) {
        if (p % LINE == 0) starts[nl++] = (size_t)p;
        /* roughly Zipf: a uniform exponent, then <unk> now and then */
        ids[p] = (int)exp(nn_rng_uniform(&r) * log((double)VOC));
        if (ids[p] >= VOC) ids[p] = VOC - 1;
        if (nn_rng_below(&r, 50) == 0) ids[p] = TEXT_UNK;
    }
    starts[nl] = N;
    text_ids t = {.ids = ids, .n = N, .line_start = starts, .nlines = nl};
    glove_cooc X, Y;
    const int threads = ad_num_threads();
    ad_set_num_threads(1);
    REQUIRE(glove_count(&X, &t, VOC, &(glove_count_config){.window = WIN}) == NN_OK);
    ad_set_num_threads(2);
    REQUIRE(glove_count(&Y, &t, VOC, &(glove_count_config){.window = WIN}) == NN_OK);
    ad_set_num_threads(threads);
    CHECK(X.n == Y.n && memcmp(X.pairs, Y.pairs, X.n * sizeof *X.pairs) == 0);
    glove_cooc_free(&Y);

    entry *e = malloc((size_t)N * WIN * 2 * sizeof *e);
    REQUIRE(e);
    size_t ne = 0;
    for (size_t l = 0; l < nl; l++) {
        int kept[LINE], nk = 0;
        for (size_t p = starts[l]; p < starts[l + 1]; p++)
            if (ids[p] != TEXT_UNK) kept[nk++] = ids[p];
        for (int a = 0; a < nk; a++)
            for (int b = a + 1; b < nk && b - a <= WIN; b++) {
                e[ne++] = (entry){kept[a], kept[b], 1.0 / (b - a)};
                e[ne++] = (entry){kept[b], kept[a], 1.0 / (b - a)};
            }
    }
    qsort(e, ne, sizeof *e, entry_cmp);
    size_t nu = 0;
    for (size_t k = 0; k < ne; k++) {
        if (nu > 0 && e[nu - 1].i == e[k].i && e[nu - 1].j == e[k].j)
            e[nu - 1].x += e[k].x;
        else
            e[nu++] = e[k];
    }
    th_note("%zu additions, %zu distinct entries", ne, nu);
    CHECK(nu > 200000); /* enough to grow each hash table from its first 4096 cells */
    REQUIRE(X.n == nu);
    qsort(X.pairs, X.n, sizeof *X.pairs, pair_cmp);
    size_t bad = 0;
    for (size_t k = 0; k < nu; k++)
        if (X.pairs[k].i != e[k].i || X.pairs[k].j != e[k].j ||
            !th_close(X.pairs[k].x, e[k].x, 1e-6, 0)) {
            if (bad++ == 0)
                th_fail(__FILE__, __LINE__, "entry %zu: (%d, %d, %g), brute force (%d, %d, %g)",
                        k, X.pairs[k].i, X.pairs[k].j, X.pairs[k].x, e[k].i, e[k].j, e[k].x);
        }
    CHECK(bad == 0);
    glove_cooc_free(&X);
    free(e);
    free(ids);
    free(starts);
}

TEST(glove_count_rejects_bad_input) {
    corpus c;
    corpus_make(&c, "1 2 9");
    glove_cooc X;
    EXPECT_ERROR(glove_count(&X, &c.t, 4, NULL), "glove_count", "outside the vocabulary");
    /* No two words of the vocabulary within a window: a clear error, not an empty table. */
    corpus_make(&c, "1 | 2 | 0 3 0");
    CHECK(glove_count(&X, &c.t, 4, NULL) == NN_ERR_FORMAT);
    CHECK(strstr(nn_last_error(), "no co-occurrences") != NULL);
}

/* --------------------------------------------------------------- f(x) ---- */

TEST(glove_weight_values) {
    CHECK_NEAR(glove_weight(1, 100, 0.75), 0.031622776601683794, 1e-15, 0); /* 0.01^0.75 */
    CHECK_NEAR(glove_weight(50, 100, 0.75), 0.59460355750136051, 1e-15, 0); /* 0.5^0.75 */
    CHECK_NEAR(glove_weight(99.99, 100, 0.75), 0.9999249990626, 1e-12, 0);
    CHECK(glove_weight(100, 100, 0.75) == 1);
    CHECK(glove_weight(1e6, 100, 0.75) == 1);
    CHECK_NEAR(glove_weight(5, 10, 1), 0.5, 1e-15, 0);
    CHECK_NEAR(glove_weight(0.25, 1, 0.5), 0.5, 1e-15, 0);
}

/* ----------------------------------------------------------- the cost ---- */

typedef struct loss_ctx {
    const glove *g;
    const glove_cooc *X;
} loss_ctx;

static ad_tensor *loss_fn(ad_tape *tp, void *ctx) {
    const loss_ctx *c = ctx;
    return glove_loss(tp, c->g, c->X->pairs, (int)c->X->n, 0, 0);
}

/* J and its gradients in closed form (FORMULAS §10), plain loops in double. */
static double closed_form(const glove_cooc *X, const glove *g, double *gW, double *gWt,
                          double *gb, double *gbt) {
    const int d = g->dim;
    const ad_real *W = ad_data(g->W), *Wt = ad_data(g->Wt), *b = ad_data(g->b),
                  *bt = ad_data(g->bt);
    double J = 0;
    for (size_t k = 0; k < X->n; k++) {
        const int i = X->pairs[k].i, j = X->pairs[k].j;
        const double f = glove_weight(X->pairs[k].x, 100, 0.75);
        double diff = b[i] + bt[j] - log(X->pairs[k].x);
        for (int c = 0; c < d; c++) diff += W[i * d + c] * Wt[j * d + c];
        J += f * diff * diff;
        for (int c = 0; c < d; c++) {
            gW[i * d + c] += 2 * f * diff * Wt[j * d + c];
            gWt[j * d + c] += 2 * f * diff * W[i * d + c];
        }
        gb[i] += 2 * f * diff;
        gbt[j] += 2 * f * diff;
    }
    return J;
}

/* The worked example's counts made larger, so that f(x) takes values below and at 1. */
static void example_counts(glove_cooc *X) {
    corpus c;
    corpus_make(&c, example);
    REQUIRE(glove_count(X, &c.t, V, &(glove_count_config){.window = 2}) == NN_OK);
    for (size_t k = 0; k < X->n; k++) X->pairs[k].x *= (float)(k % 3 == 0 ? 150 : 7);
}

TEST(glove_loss_gradient_matches_closed_form) {
    enum { DIM = 4 };
    glove_cooc X;
    example_counts(&X);
    ad_params *ps = ad_params_new();
    nn_rng r = nn_rng_new(3);
    glove g;
    glove_init(&g, ps, V, DIM, &r);
    /* larger values than the init's ±0.1, so that every term of the gradient counts */
    nn_init_uniform(g.W, -0.5, 0.5, &r);
    nn_init_uniform(g.Wt, -0.5, 0.5, &r);
    nn_init_uniform(g.b, -0.3, 0.3, &r);
    nn_init_uniform(g.bt, -0.3, 0.3, &r);

    ad_tape *tp = ad_tape_new();
    ad_tensor *J = glove_loss(tp, &g, X.pairs, (int)X.n, 0, 0);
    ad_params_zero_grad(ps);
    ad_backward(tp, J);
    double gW[V * DIM] = {0}, gWt[V * DIM] = {0}, gb[V] = {0}, gbt[V] = {0};
    const double want = closed_form(&X, &g, gW, gWt, gb, gbt);
    CHECK_NEAR(ad_item(J), want, 1e-12, 0);
    th_note("J = %.6f over %zu pairs", want, X.n);
    th_note("dJ/dW max rel err %.2e",
            CHECK_ARRAY("dJ/dW", ad_grad(g.W), gW, V * DIM, 1e-9, 1e-12));
    th_note("dJ/dWt max rel err %.2e",
            CHECK_ARRAY("dJ/dWt", ad_grad(g.Wt), gWt, V * DIM, 1e-9, 1e-12));
    CHECK_ARRAY("dJ/db", ad_grad(g.b), gb, V, 1e-9, 1e-12);
    CHECK_ARRAY("dJ/dbt", ad_grad(g.bt), gbt, V, 1e-9, 1e-12);
    /* The accumulators are frozen: no gradient reaches them. */
    CHECK(ad_grad(g.GW) == NULL && ad_grad(g.Gbt) == NULL);
    ad_tape_free(tp);

    /* Central differences on the counts as they are (J of order 1: with the counts above, J is
     * in the hundreds and h = 1e-6 leaves roundoff near 1e-7 of the smallest gradients). */
    glove_cooc Y;
    corpus c;
    corpus_make(&c, example);
    REQUIRE(glove_count(&Y, &c.t, V, &(glove_count_config){.window = 2}) == NN_OK);
    loss_ctx ctx = {&g, &Y};
    ad_gradcheck_result res = CHECK_GRADCHECK(ps, loss_fn, &ctx, &th_tight);
    th_note("gradcheck: %d coordinates, max rel err %.2e", res.checked, res.max_rel_err);
    CHECK(res.checked >= 4 * V); /* W, Wt, b, bt checked; the frozen accumulators not */
    ad_params_free(ps);
    glove_cooc_free(&X);
    glove_cooc_free(&Y);
}

TEST(glove_loss_rejects_bad_pairs) {
    ad_params *ps = ad_params_new();
    nn_rng r = nn_rng_new(1);
    glove g;
    glove_init(&g, ps, 3, 2, &r);
    ad_tape *tp = ad_tape_new();
    glove_pair p[] = {{1, 2, 0.0f}};
    EXPECT_ERROR(glove_loss(tp, &g, p, 1, 0, 0), "glove_loss", "needs > 0");
    p[0] = (glove_pair){1, 3, 1.0f};
    EXPECT_ERROR(glove_loss(tp, &g, p, 1, 0, 0), "ad_gather_rows", "outside the rows");
    ad_tape_free(tp);
    ad_params_free(ps);
}

/* ---------------------------------------------------------- training ---- */

/* Stanford's glove_thread, written out in double over pairs in the given order, in batches whose
 * gradients all come from the values before the batch (batch 1 is Stanford's loop exactly):
 * diff = w·w̃ + b + b̃ − log x, fdiff = f diff, g = fdiff w̃ (clipped), θ −= η g/√G, G += (η g)². */
typedef struct ref_model {
    int vocab, dim;
    double *W, *Wt, *b, *bt, *GW, *GWt, *Gb, *Gbt;
} ref_model;

static ref_model ref_from(const glove *g) {
    const size_t nv = (size_t)g->vocab * (size_t)g->dim, nb = (size_t)g->vocab;
    ref_model m = {g->vocab, g->dim, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL};
    double **dst[] = {&m.W, &m.Wt, &m.b, &m.bt, &m.GW, &m.GWt, &m.Gb, &m.Gbt};
    ad_tensor *src[] = {g->W, g->Wt, g->b, g->bt, g->GW, g->GWt, g->Gb, g->Gbt};
    for (int k = 0; k < 8; k++) {
        const size_t n = k % 4 < 2 ? nv : nb;
        *dst[k] = malloc(n * sizeof(double));
        for (size_t q = 0; q < n; q++) (*dst[k])[q] = ad_data(src[k])[q];
    }
    return m;
}

static void ref_free(ref_model *m) {
    double *all[] = {m->W, m->Wt, m->b, m->bt, m->GW, m->GWt, m->Gb, m->Gbt};
    for (int k = 0; k < 8; k++) free(all[k]);
}

static void ref_step(double *theta, double *G, double g, double lr, double clip) {
    g = g > clip ? clip : g < -clip ? -clip : g;
    *theta -= lr * g / sqrt(*G);
    *G += lr * g * lr * g;
}

static double ref_epoch(ref_model *m, const glove_pair *p, size_t n, size_t batch, double lr,
                        double blr, double clip) {
    const int d = m->dim;
    double cost = 0;
    double *gi = malloc(batch * (size_t)d * sizeof *gi), *gj = malloc(batch * (size_t)d * sizeof *gj),
           *gb = malloc(batch * sizeof *gb);
    for (size_t s = 0; s < n; s += batch) {
        const size_t nb = n - s < batch ? n - s : batch;
        for (size_t k = 0; k < nb; k++) {
            const int i = p[s + k].i, j = p[s + k].j;
            double diff = m->b[i] + m->bt[j] - log(p[s + k].x);
            for (int c = 0; c < d; c++) diff += m->W[i * d + c] * m->Wt[j * d + c];
            const double fdiff = glove_weight(p[s + k].x, 100, 0.75) * diff;
            cost += 0.5 * fdiff * diff;
            for (int c = 0; c < d; c++) {
                gi[k * (size_t)d + (size_t)c] = fdiff * m->Wt[j * d + c];
                gj[k * (size_t)d + (size_t)c] = fdiff * m->W[i * d + c];
            }
            gb[k] = fdiff;
        }
        for (size_t k = 0; k < nb; k++) {
            const int i = p[s + k].i, j = p[s + k].j;
            for (int c = 0; c < d; c++) {
                ref_step(&m->W[i * d + c], &m->GW[i * d + c], gi[k * (size_t)d + (size_t)c], lr,
                         clip);
                ref_step(&m->Wt[j * d + c], &m->GWt[j * d + c], gj[k * (size_t)d + (size_t)c],
                         lr, clip);
            }
            ref_step(&m->b[i], &m->Gb[i], gb[k], blr, INFINITY);
            ref_step(&m->bt[j], &m->Gbt[j], gb[k], blr, INFINITY);
        }
    }
    free(gi);
    free(gj);
    free(gb);
    return cost / (double)n;
}

static void compare_ref(const glove *g, const ref_model *m, const char *what) {
    const size_t nv = (size_t)g->vocab * (size_t)g->dim, nb = (size_t)g->vocab;
    ad_tensor *got[] = {g->W, g->Wt, g->b, g->bt, g->GW, g->GWt, g->Gb, g->Gbt};
    const double *want[] = {m->W, m->Wt, m->b, m->bt, m->GW, m->GWt, m->Gb, m->Gbt};
    static const char *const names[] = {"W", "Wt", "b", "bt", "GW", "GWt", "Gb", "Gbt"};
    for (int k = 0; k < 8; k++) {
        char label[96];
        snprintf(label, sizeof label, "%s: %s", what, names[k]);
        CHECK_ARRAY(label, ad_data(got[k]), want[k], k % 4 < 2 ? nv : nb, 1e-10, 1e-13);
    }
}

/* The trainer's epochs, one thread, against the loop above on the order it used (the pairs are
 * shuffled in place, so after an epoch they hold that order). Batch 1 is Stanford's loop; in
 * batch 4 a word twice in a batch takes both steps from the same values. */
static void trainer_matches_reference(int batch, double bias_lr, double clip) {
    enum { DIM = 5 };
    glove_cooc X;
    example_counts(&X);
    ad_params *ps = ad_params_new();
    nn_rng r = nn_rng_new(11);
    glove g;
    glove_init(&g, ps, V, DIM, &r);
    ref_model m = ref_from(&g);
    glove_trainer *t = glove_trainer_new(&g, &X, &(glove_train_config){
        .batch = batch, .threads = 1, .seed = 5, .bias_lr = bias_lr, .grad_clip = clip});
    REQUIRE(t != NULL);
    const glove_train_config *k = glove_trainer_config(t);
    CHECK(k->lr == 0.05 && k->x_max == 100 && k->alpha == 0.75);
    for (int e = 0; e < 3; e++) {
        const double cost = glove_train_epoch(t);
        const double want = ref_epoch(&m, X.pairs, X.n, (size_t)batch, k->lr, k->bias_lr,
                                      k->grad_clip < 0 ? INFINITY : k->grad_clip);
        CHECK_NEAR(cost, want, 1e-11, 0);
    }
    CHECK(glove_trainer_epoch(t) == 3);
    char what[64];
    snprintf(what, sizeof what, "batch %d, bias_lr %g, clip %g", batch, bias_lr, clip);
    compare_ref(&g, &m, what);
    glove_trainer_free(t);
    ref_free(&m);
    ad_params_free(ps);
    glove_cooc_free(&X);
}

TEST(glove_trainer_is_stanfords_adagrad) {
    trainer_matches_reference(1, 0, 0);    /* Stanford's loop: η 0.05 everywhere, clip 100 */
    trainer_matches_reference(4, 0, 0);    /* minibatches of 4, the last one short */
    trainer_matches_reference(1, 1, 0.01); /* biases at η 1 (Stanford's release), tight clip */
    trainer_matches_reference(64, 0, -1);  /* the whole table in one batch, no clip */
}

/* On T threads the pairs are grouped into T x T blocks by the groups of their words (every T-th
 * run of 16 ids) and an epoch takes them in T rounds, thread k on block (k, (k + r) mod T) in
 * round r: blocks of one round share no row, so the epoch equals the blocks one after another.
 * After the epoch the pairs hold the blocks in order, each in the order it was visited. */
static int group_of(int w) { return w / 16 % 2; }

TEST(glove_trainer_two_threads_take_blocks_in_rounds) {
    enum { VOC = 80, DIM = 4, N = 600 };
    glove_pair *p = malloc(N * sizeof *p);
    REQUIRE(p);
    nn_rng r = nn_rng_new(12);
    for (int k = 0; k < N; k++) /* distinct (i, j): j runs ahead of i by at least 1 */
        p[k] = (glove_pair){k % VOC, (k % VOC + 1 + k / VOC) % VOC,
                            (float)(0.5 + 150 * nn_rng_uniform(&r))};
    glove_cooc X = {.vocab = VOC, .n = N, .pairs = p};
    ad_params *ps = ad_params_new();
    nn_rng init = nn_rng_new(6);
    glove g;
    glove_init(&g, ps, VOC, DIM, &init);
    ref_model m = ref_from(&g);
    glove_trainer *t = glove_trainer_new(&g, &X, &(glove_train_config){
        .batch = 8, .threads = 2, .seed = 3, .grad_clip = -1});
    REQUIRE(t != NULL);
    for (int e = 0; e < 2; e++) {
        const double cost = glove_train_epoch(t);
        /* the blocks, in order: (0,0) (0,1) (1,0) (1,1) */
        size_t start[5] = {0}, k = 0;
        for (int b = 0; b < 4; b++) {
            start[b] = k;
            while (k < N && group_of(p[k].i) * 2 + group_of(p[k].j) == b) k++;
        }
        start[4] = k;
        REQUIRE(k == N); /* every pair in its block */
        CHECK(start[1] > start[0] && start[2] > start[1] && start[3] > start[2]);
        double want = 0;
        const int rounds[2][2] = {{0, 3}, {1, 2}}; /* round 0: (0,0), (1,1); round 1: (0,1), (1,0) */
        for (int round = 0; round < 2; round++)
            for (int q = 0; q < 2; q++) {
                const int b = rounds[round][q];
                const size_t nb = start[b + 1] - start[b];
                want += ref_epoch(&m, p + start[b], nb, 8, 0.05, 0.05, INFINITY) * (double)nb;
            }
        CHECK_NEAR(cost, want / N, 1e-11, 0);
    }
    compare_ref(&g, &m, "two threads");
    glove_trainer_free(t);
    ref_free(&m);
    ad_params_free(ps);
    free(p);
}

/* A checkpoint after 2 epochs, resumed by a fresh trainer that replays 2 shuffles, continues as
 * the run that was not interrupted. */
TEST(glove_trainer_resumes_exactly) {
    enum { DIM = 3 };
    glove_cooc X, Y;
    example_counts(&X);
    example_counts(&Y);
    REQUIRE(X.n == Y.n && memcmp(X.pairs, Y.pairs, X.n * sizeof *X.pairs) == 0);
    ad_params *ps = ad_params_new(), *qs = ad_params_new();
    nn_rng r = nn_rng_new(2), s = nn_rng_new(2);
    glove g, h;
    glove_init(&g, ps, V, DIM, &r);
    glove_init(&h, qs, V, DIM, &s);
    const glove_train_config cfg = {.batch = 3, .threads = 1, .seed = 9};
    glove_pair *orig = malloc(X.n * sizeof *orig);
    REQUIRE(orig);
    memcpy(orig, X.pairs, X.n * sizeof *orig);
    glove_trainer *t = glove_trainer_new(&g, &X, &cfg);
    for (int e = 0; e < 2; e++) glove_train_epoch(t);
    /* the "checkpoint": every parameter, accumulators included */
    memcpy(ad_params_values(qs), ad_params_values(ps), ad_params_size(ps) * sizeof(ad_real));
    const double c3 = glove_train_epoch(t);

    glove_trainer *u = glove_trainer_new(&h, &Y, &cfg);
    glove_trainer_skip(u, 2);
    CHECK(glove_trainer_epoch(u) == 2);
    CHECK(glove_train_epoch(u) == c3);
    CHECK(memcmp(ad_params_values(qs), ad_params_values(ps),
                 ad_params_size(ps) * sizeof(ad_real)) == 0);
    CHECK(memcmp(X.pairs, Y.pairs, X.n * sizeof *X.pairs) == 0);
    EXPECT_ERROR(glove_trainer_skip(u, 1), "glove_trainer_skip", "already run");
    /* the shuffles permute the pairs: the same ones, each once */
    CHECK(memcmp(orig, X.pairs, X.n * sizeof *orig) != 0);
    qsort(orig, X.n, sizeof *orig, pair_cmp);
    qsort(X.pairs, X.n, sizeof *X.pairs, pair_cmp);
    CHECK(memcmp(orig, X.pairs, X.n * sizeof *orig) == 0);
    free(orig);
    glove_trainer_free(t);
    glove_trainer_free(u);
    ad_params_free(ps);
    ad_params_free(qs);
    glove_cooc_free(&X);
    glove_cooc_free(&Y);
}

/* "A working network drives the loss near 0" (FORMULAS §12): 18 pairs, 9 words of 8 dimensions
 * fit log X exactly. On two threads too (each steps the shared rows, lock-free). */
static double fit(int threads, int epochs) {
    glove_cooc X;
    example_counts(&X);
    ad_params *ps = ad_params_new();
    nn_rng r = nn_rng_new(4);
    glove g;
    glove_init(&g, ps, V, 8, &r);
    glove_trainer *t = glove_trainer_new(&g, &X, &(glove_train_config){
        .lr = 0.2, .batch = 2, .threads = threads, .seed = 1});
    const double first = glove_train_epoch(t);
    double cost = first;
    for (int e = 1; e < epochs; e++) cost = glove_train_epoch(t);
    th_note("%d thread(s): cost %.3g after 1 epoch, %.3g after %d", threads, first, cost, epochs);
    glove_trainer_free(t);
    ad_params_free(ps);
    glove_cooc_free(&X);
    return cost / first;
}

TEST(glove_trainer_fits_the_worked_example) {
    CHECK(fit(1, 3000) < 1e-6);
    CHECK(fit(2, 3000) < 1e-6);
}

TEST(glove_trainer_rejects_pairs_outside_the_model) {
    ad_params *ps = ad_params_new();
    nn_rng r = nn_rng_new(1);
    glove g;
    glove_init(&g, ps, 3, 2, &r);
    glove_pair p[] = {{1, 2, 1.0f}, {2, 3, 1.0f}};
    glove_cooc X = {.vocab = 4, .n = 2, .pairs = p};
    EXPECT_ERROR(glove_trainer_new(&g, &X, NULL), "glove_trainer_new", "outside the model");
    ad_params_free(ps);
}

/* ----------------------------------------------------------- vectors ---- */

TEST(glove_table_is_w_plus_w_tilde_in_glove_text) {
    enum { DIM = 3 };
    text_vocab *v = text_vocab_new();
    for (int k = 0; k < NW; k++) text_vocab_add(v, words[k], 100 - k);
    REQUIRE(text_vocab_size(v) == V);
    ad_params *ps = ad_params_new();
    nn_rng r = nn_rng_new(8);
    glove g;
    glove_init(&g, ps, V, DIM, &r);
    wv_table tab;
    REQUIRE(glove_table(&g, v, &tab) == NN_OK);
    CHECK(tab.n == NW && tab.dim == DIM); /* <unk> left out */
    for (int k = 0; k < NW; k++) {
        CHECK(strcmp(tab.words[k], text_vocab_word(v, k + 1)) == 0);
        for (int c = 0; c < DIM; c++)
            CHECK_NEAR(tab.vec[k * DIM + c],
                       (float)(ad_data(g.W)[(k + 1) * DIM + c] + ad_data(g.Wt)[(k + 1) * DIM + c]),
                       1e-7, 0);
    }
    /* GloVe's text format: "word v1 ... vd" per line, no header; read back the same. */
    char path[] = "/tmp/test_model_glove_XXXXXX";
    const int fd = mkstemp(path);
    REQUIRE(fd >= 0);
    close(fd);
    REQUIRE(wv_save(&tab, path, WV_GLOVE_TEXT) == NN_OK);
    FILE *f = fopen(path, "r");
    REQUIRE(f != NULL);
    char line[512];
    REQUIRE(fgets(line, sizeof line, f) != NULL);
    fclose(f);
    int fields = 0;
    for (char *tok = strtok(line, " \n"); tok; tok = strtok(NULL, " \n")) fields++;
    CHECK(fields == 1 + DIM);
    CHECK(strncmp(line, "I", 2) == 0); /* the most frequent word first */
    wv_table back;
    REQUIRE(wv_load(path, WV_GLOVE_TEXT, 0, &back) == NN_OK);
    CHECK(back.n == NW && back.dim == DIM);
    for (int k = 0; k < NW * DIM && back.n == NW; k++)
        CHECK_NEAR(back.vec[k], tab.vec[k], 1e-5, 1e-6);
    unlink(path);
    wv_table_free(&back);
    wv_table_free(&tab);
    ad_params_free(ps);
    text_vocab_free(v);
}
