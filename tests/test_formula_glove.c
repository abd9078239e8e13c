/*
 * FORMULAS §10, GloVe: the window co-occurrence counts of the lecture's worked example, then the
 * weighted least-squares costs built on the tape from row gathers, with their gradients compared
 * to the closed form (plain loops, double) to 1e-9 relative:
 *     J = Σ_{X_ij>0} f(X_ij) (w_iᵀ w̃_j + b_i + b̃_j − log X_ij)²,  f(x) = min(1, (x/x_max)^α),
 *     ∂J/∂w_i = Σ_j 2 f(X_ij) diff_ij w̃_j,  ∂J/∂w̃_j = Σ_i 2 f(X_ij) diff_ij w_i,
 *     ∂J/∂b_i = Σ_j 2 f(X_ij) diff_ij,      ∂J/∂b̃_j = Σ_i 2 f(X_ij) diff_ij.
 */
#include "harness.h"

enum { NW = 8, DIM = 3, MAXPAIRS = NW * NW };

static const char *const vocab[NW] = {"I",        "like", "enjoy",  "deep",
                                      "learning", "NLP",  "flying", "."};
static const char corpus[] = "I like deep learning . I like NLP . I enjoy flying .";

/* The table of FORMULAS §10, rows and columns in vocab order. */
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

/*
 * Symmetric window counts: X[a][b] and X[b][a] each gain 1 for every two tokens a, b at most
 * `window` apart. The table has X(".", "I") = 0 although "." is followed by "I" twice: it counts
 * within sentences, "." closing its own. across_sentences = true lets the window run over that
 * boundary. Returns the number of tokens, or -1 on a word outside the vocabulary.
 */
static int count_cooccurrences(const char *text, int window, bool across_sentences,
                               int X[NW][NW]) {
    int ids[64], sent[64], n = 0, s = 0;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", text);
    for (char *tok = strtok(buf, " "); tok && n < 64; tok = strtok(NULL, " ")) {
        int id = -1;
        for (int w = 0; w < NW; w++)
            if (strcmp(tok, vocab[w]) == 0) id = w;
        if (id < 0) return -1;
        ids[n] = id;
        sent[n++] = s;
        if (strcmp(tok, ".") == 0) s++;
    }
    memset(X, 0, sizeof(int[NW][NW]));
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n && j - i <= window; j++)
            if (across_sentences || sent[i] == sent[j]) {
                X[ids[i]][ids[j]]++;
                X[ids[j]][ids[i]]++;
            }
    return n;
}

TEST(glove_counts_match_worked_example) {
    int X[NW][NW];
    REQUIRE(count_cooccurrences(corpus, 1, false, X) == 13);
    int total = 0, mismatches = 0;
    for (int i = 0; i < NW; i++)
        for (int j = 0; j < NW; j++) {
            CHECK_MSG(X[i][j] == table[i][j], "X(%s, %s) = %d, the table says %d", vocab[i],
                      vocab[j], X[i][j], table[i][j]);
            mismatches += X[i][j] != table[i][j];
            total += X[i][j];
        }
    th_note("%d of 64 entries differ from FORMULAS §10", mismatches);
    CHECK(total == 20); /* X_i summed over i: 10 adjacent pairs within sentences, both orders */

    /* Counting across the sentence boundary adds exactly X(".", "I") = X("I", ".") = 2. */
    int Y[NW][NW];
    REQUIRE(count_cooccurrences(corpus, 1, true, Y) == 13);
    for (int i = 0; i < NW; i++)
        for (int j = 0; j < NW; j++) {
            const bool dot_i = (i == 7 && j == 0) || (i == 0 && j == 7);
            CHECK_MSG(Y[i][j] == table[i][j] + (dot_i ? 2 : 0), "across sentences X(%s, %s) = %d",
                      vocab[i], vocab[j], Y[i][j]);
        }
}

/* ------------------------------------------------------- weighted costs ---- */

static double glove_f(double x) { return x < 100 ? pow(x / 100, 0.75) : 1; }

typedef struct {
    int n, wi[MAXPAIRS], wj[MAXPAIRS];
    double logx[MAXPAIRS], weight[MAXPAIRS];
} pairs;

/* The pairs with X_ij > 0 of the worked example, weighted by f(X_ij) or (lecture) by X_ij. */
static pairs example_pairs(bool lecture_weights) {
    int X[NW][NW];
    pairs p = {.n = 0};
    if (count_cooccurrences(corpus, 1, false, X) < 0) return p;
    for (int i = 0; i < NW; i++)
        for (int j = 0; j < NW; j++)
            if (X[i][j] > 0) {
                p.wi[p.n] = i;
                p.wj[p.n] = j;
                p.logx[p.n] = log(X[i][j]);
                p.weight[p.n++] = lecture_weights ? X[i][j] : glove_f(X[i][j]);
            }
    return p;
}

/* J = Σ_pairs weight (w_iᵀ w̃_j [+ b_i + b̃_j] − log X_ij)²; the biases may be NULL. */
static ad_tensor *glove_cost(ad_tape *tp, const pairs *p, ad_tensor *W, ad_tensor *Wt,
                             ad_tensor *b, ad_tensor *bt) {
    ad_tensor *s = ad_rowdot(tp, ad_gather_rows(tp, W, p->wi, p->n),
                             ad_gather_rows(tp, Wt, p->wj, p->n)); /* n x 1 */
    if (b) s = ad_add(tp, ad_add(tp, s, ad_gather_rows(tp, b, p->wi, p->n)),
                      ad_gather_rows(tp, bt, p->wj, p->n));
    ad_tensor *diff = ad_sub(tp, s, ad_input(tp, p->n, 1, p->logx));
    return ad_sum(tp, ad_mul(tp, ad_input(tp, p->n, 1, p->weight), ad_square(tp, diff)));
}

/* The closed form: J, and the gradients of W, W̃ (and b, b̃ when the biases are given). */
static double glove_closed_form(const pairs *p, const double *W, const double *Wt, const double *b,
                                const double *bt, double *gW, double *gWt, double *gb,
                                double *gbt) {
    double J = 0;
    for (int k = 0; k < p->n; k++) {
        const int i = p->wi[k], j = p->wj[k];
        double diff = -p->logx[k];
        for (int d = 0; d < DIM; d++) diff += W[i * DIM + d] * Wt[j * DIM + d];
        if (b) diff += b[i] + bt[j];
        J += p->weight[k] * diff * diff;
        const double g = 2 * p->weight[k] * diff;
        for (int d = 0; d < DIM; d++) {
            gW[i * DIM + d] += g * Wt[j * DIM + d];
            gWt[j * DIM + d] += g * W[i * DIM + d];
        }
        if (b) {
            gb[i] += g;
            gbt[j] += g;
        }
    }
    return J;
}

static void compare(const char *what, ad_tensor *param, const double *want, int n) {
    REQUIRE(ad_grad(param) != NULL);
    double err = CHECK_ARRAY(what, ad_grad(param), want, (size_t)n, 1e-9, 1e-12);
    th_note("%s max rel err %.2e", what, err);
}

TEST(glove_full_cost_gradients_match_closed_form) {
    const pairs p = example_pairs(false);
    REQUIRE(p.n == 18);
    ad_params *ps = ad_params_new();
    ad_tensor *W = th_param(ps, "W", NW, DIM, -0.5, 0.5, 1);
    ad_tensor *Wt = th_param(ps, "W~", NW, DIM, -0.5, 0.5, 2);
    ad_tensor *b = th_param(ps, "b", NW, 1, -0.2, 0.2, 3);
    ad_tensor *bt = th_param(ps, "b~", NW, 1, -0.2, 0.2, 4);
    ad_tape *tp = ad_tape_new();
    ad_tensor *J = glove_cost(tp, &p, W, Wt, b, bt);
    ad_params_zero_grad(ps);
    ad_backward(tp, J);

    double gW[NW * DIM] = {0}, gWt[NW * DIM] = {0}, gb[NW] = {0}, gbt[NW] = {0};
    const double j_want = glove_closed_form(&p, ad_data(W), ad_data(Wt), ad_data(b), ad_data(bt),
                                            gW, gWt, gb, gbt);
    CHECK_NEAR(ad_item(J), j_want, 1e-12, 0);
    compare("dJ/dW", W, gW, NW * DIM);
    compare("dJ/dW~", Wt, gWt, NW * DIM);
    compare("dJ/db", b, gb, NW);
    compare("dJ/db~", bt, gbt, NW);
    ad_tape_free(tp);
    ad_params_free(ps);
}

/* The lecture's cost Ĵ = Σ_ij X_ij (u_jᵀ v_i − log X_ij)², no biases, weights X_ij (terms with
 * X_ij = 0 vanish): ∂Ĵ/∂v_i = Σ_j 2 X_ij diff_ij u_j, ∂Ĵ/∂u_j = Σ_i 2 X_ij diff_ij v_i. */
TEST(glove_lecture_cost_gradients_match_closed_form) {
    const pairs p = example_pairs(true);
    REQUIRE(p.n == 18);
    ad_params *ps = ad_params_new();
    ad_tensor *V = th_param(ps, "V", NW, DIM, -0.5, 0.5, 5);
    ad_tensor *U = th_param(ps, "U", NW, DIM, -0.5, 0.5, 6);
    ad_tape *tp = ad_tape_new();
    ad_tensor *J = glove_cost(tp, &p, V, U, NULL, NULL);
    ad_params_zero_grad(ps);
    ad_backward(tp, J);

    double gV[NW * DIM] = {0}, gU[NW * DIM] = {0};
    const double j_want =
        glove_closed_form(&p, ad_data(V), ad_data(U), NULL, NULL, gV, gU, NULL, NULL);
    CHECK_NEAR(ad_item(J), j_want, 1e-12, 0);
    compare("dJ/dV", V, gV, NW * DIM);
    compare("dJ/dU", U, gU, NW * DIM);
    ad_tape_free(tp);
    ad_params_free(ps);
}
