/*
 * FORMULAS §9, word2vec. Every word w has an input vector v_w (row w of V) and an output vector
 * u_w (row w of U); the models are built on the tape from row gathers, and the hand-derived
 * gradients are evaluated here with plain loops in double and compared to 1e-9 relative, read
 * from the rows of V's and U's gradients (rows no formula touches must stay exactly zero).
 *
 * Row form: z = U v becomes z = v Uᵀ (ad_matmul_nt), so ∂F/∂v = Uᵀ(ŷ − y) is the row
 * (ŷ − y) U and ∂F/∂U = (ŷ − y) vᵀ is the outer product with (ŷ − y) as the column.
 */
#include "harness.h"

enum { NV = 10, DIM = 4 }; /* vocabulary, vector size */

typedef struct {
    ad_params *ps;
    ad_tensor *V, *U;
} w2v;

static w2v w2v_new(uint64_t seed) {
    w2v m = {ad_params_new(), NULL, NULL};
    m.V = th_param(m.ps, "V", NV, DIM, -0.7, 0.7, seed);
    m.U = th_param(m.ps, "U", NV, DIM, -0.7, 0.7, seed + 1);
    return m;
}

static double sigmoid(double x) { return 1 / (1 + exp(-x)); }
static double dot(const double *a, const double *b) {
    double s = 0;
    for (int j = 0; j < DIM; j++) s += a[j] * b[j];
    return s;
}
/* row w of g += a · x */
static void add_row(double *g, int w, double a, const double *x) {
    for (int j = 0; j < DIM; j++) g[w * DIM + j] += a * x[j];
}

static double compare(const char *what, ad_tensor *param, const double *want) {
    REQUIRE(ad_grad(param) != NULL);
    double err = CHECK_ARRAY(what, ad_grad(param), want, NV * DIM, 1e-9, 1e-12);
    th_note("%s max rel err %.2e", what, err);
    return err;
}

/* ---------------------------------------------------- negative sampling ---- */

/* F = −log σ(u_oᵀ v_c) − Σ_k log σ(−u_kᵀ v_c), and its closed-form gradients
 *     ∂F/∂v = (σ(u_oᵀv) − 1) u_o + Σ_k σ(u_kᵀv) u_k,  ∂F/∂u_o = (σ(u_oᵀv) − 1) v,
 *     ∂F/∂u_k = σ(u_kᵀv) v,
 * each added into its word's row, so a negative drawn twice gets the sum of both terms. */
static void check_negative_sampling(int c, int o, const int *neg, int nneg, uint64_t seed) {
    w2v m = w2v_new(seed);
    ad_tape *tp = ad_tape_new();
    ad_tensor *v = ad_gather_rows(tp, m.V, &c, 1);      /* 1 x DIM */
    ad_tensor *uo = ad_gather_rows(tp, m.U, &o, 1);     /* 1 x DIM */
    ad_tensor *uk = ad_gather_rows(tp, m.U, neg, nneg); /* K x DIM */
    ad_tensor *pos = ad_log_sigmoid(tp, ad_rowdot(tp, uo, v));                  /* 1 x 1 */
    ad_tensor *negs = ad_log_sigmoid(tp, ad_neg(tp, ad_matmul_nt(tp, uk, v)));  /* K x 1 */
    ad_tensor *F = ad_neg(tp, ad_add(tp, pos, ad_sum(tp, negs)));
    ad_params_zero_grad(m.ps);
    ad_backward(tp, F);

    const double *V = ad_data(m.V), *U = ad_data(m.U);
    const double *vc = V + c * DIM, *u_o = U + o * DIM;
    double gV[NV * DIM] = {0}, gU[NV * DIM] = {0};
    const double so = sigmoid(dot(u_o, vc));
    double f = -log(so);
    add_row(gV, c, so - 1, u_o); /* ∂F/∂v ∋ (σ(u_oᵀv) − 1) u_o */
    add_row(gU, o, so - 1, vc);  /* ∂F/∂u_o */
    for (int k = 0; k < nneg; k++) {
        const double *u_k = U + neg[k] * DIM, sk = sigmoid(dot(u_k, vc));
        f -= log(1 - sk);           /* log σ(−x) = log(1 − σ(x)) */
        add_row(gV, c, sk, u_k);    /* ∂F/∂v ∋ σ(u_kᵀv) u_k */
        add_row(gU, neg[k], sk, vc); /* ∂F/∂u_k */
    }
    CHECK_NEAR(ad_item(F), f, 1e-12, 0);
    compare("dF/dv (row c of dV)", m.V, gV);
    compare("dF/du_o, dF/du_k (rows of dU)", m.U, gU);
    ad_tape_free(tp);
    ad_params_free(m.ps);
}

TEST(negative_sampling_distinct_negatives) {
    const int neg[] = {1, 4, 8, 6};
    check_negative_sampling(2, 7, neg, 4, 1);
}

/* Negative 5 drawn twice: row 5 of dU must be 2 σ(u_5ᵀv) v, and v gets u_5's term twice. */
TEST(negative_sampling_repeated_negative_sums) {
    const int neg[] = {5, 0, 5};
    check_negative_sampling(3, 9, neg, 3, 2);
}

/* ------------------------------------------------------- softmax-CE form ---- */

/* ŷ = softmax(v Uᵀ) for a row v; returns log Σ exp z (to form the CE). */
static double softmax_scores(const double *U, const double *v, double *yhat) {
    double z[NV], mx = -INFINITY, s = 0;
    for (int w = 0; w < NV; w++) z[w] = dot(U + w * DIM, v);
    for (int w = 0; w < NV; w++) mx = fmax(mx, z[w]);
    for (int w = 0; w < NV; w++) s += exp(z[w] - mx);
    for (int w = 0; w < NV; w++) yhat[w] = exp(z[w] - mx) / s;
    return log(s) + mx;
}

/* F(o, v) = CE(y, softmax(U v)): ∂F/∂z = ŷ − y, ∂F/∂v = Uᵀ(ŷ − y), ∂F/∂U = (ŷ − y) vᵀ. */
TEST(softmax_ce_form_matches_formulas) {
    w2v m = w2v_new(3);
    const int c = 6, o = 1;
    ad_tape *tp = ad_tape_new();
    ad_tensor *v = ad_gather_rows(tp, m.V, &c, 1);
    ad_tensor *z = ad_matmul_nt(tp, v, m.U); /* 1 x NV: z = U v as a row */
    ad_tensor *F = ad_softmax_xent(tp, z, &o, NULL); /* one row: the mean is the CE itself */
    ad_params_zero_grad(m.ps);
    ad_backward(tp, F);

    const double *U = ad_data(m.U), *vc = ad_data(m.V) + c * DIM;
    double e[NV], gV[NV * DIM] = {0}, gU[NV * DIM] = {0};
    const double lse = softmax_scores(U, vc, e);
    e[o] -= 1; /* ŷ − y */
    for (int w = 0; w < NV; w++) {
        add_row(gV, c, e[w], U + w * DIM); /* Uᵀ(ŷ − y) = Σ_w (ŷ − y)_w u_w */
        add_row(gU, w, e[w], vc);          /* row w of (ŷ − y) vᵀ */
    }
    CHECK_NEAR(ad_item(F), lse - dot(U + o * DIM, vc), 1e-12, 0);
    REQUIRE(ad_grad(z) != NULL);
    double err = CHECK_ARRAY("dF/dz", ad_grad(z), e, NV, 1e-9, 1e-12);
    th_note("dF/dz = yhat - y max rel err %.2e", err);
    compare("dF/dv = U^T(yhat - y)", m.V, gV);
    compare("dF/dU = (yhat - y) v^T", m.U, gU);
    ad_tape_free(tp);
    ad_params_free(m.ps);
}

/* ------------------------------------------------- skip-gram and CBOW ---- */

/* A window of m = 2 around the centre word 7; context word 5 occurs twice. */
enum { HALF = 2, NCTX = 2 * HALF };
static const int sentence[] = {2, 5, 7, 5, 1};
static const int centre = 7, context[NCTX] = {2, 5, 5, 1};

/* Skip-gram: J = Σ_{j≠0} F(w_{c+j}, v_c), all sharing v_c. On the tape: v_c gathered once per
 * context word, each row scored against U, and the mean CE times 2m (the SUM over the window). */
TEST(skip_gram_window_sums_over_context_words) {
    REQUIRE(sentence[HALF] == centre);
    w2v m = w2v_new(4);
    int centres[NCTX];
    for (int j = 0; j < NCTX; j++) centres[j] = centre;
    ad_tape *tp = ad_tape_new();
    ad_tensor *v = ad_gather_rows(tp, m.V, centres, NCTX); /* NCTX x DIM, all v_c */
    ad_tensor *J = ad_scale(tp, ad_softmax_xent(tp, ad_matmul_nt(tp, v, m.U), context, NULL), NCTX);
    ad_params_zero_grad(m.ps);
    ad_backward(tp, J);

    const double *U = ad_data(m.U), *vc = ad_data(m.V) + centre * DIM;
    double gV[NV * DIM] = {0}, gU[NV * DIM] = {0}, j_want = 0;
    for (int j = 0; j < NCTX; j++) { /* one F per context word, summed */
        double e[NV];
        j_want += softmax_scores(U, vc, e) - dot(U + context[j] * DIM, vc);
        e[context[j]] -= 1;
        for (int w = 0; w < NV; w++) {
            add_row(gV, centre, e[w], U + w * DIM);
            add_row(gU, w, e[w], vc);
        }
    }
    CHECK_NEAR(ad_item(J), j_want, 1e-12, 0);
    compare("skip-gram dJ/dv_c", m.V, gV);
    compare("skip-gram dJ/dU", m.U, gU);
    ad_tape_free(tp);
    ad_params_free(m.ps);
}

/* CBOW: v_avg = (Σ context vectors) / 2m, J = F(w_c, v_avg). ∂J/∂v_avg = Uᵀ(ŷ − y); each context
 * row gets ∂J/∂v_avg / 2m, so word 5, in the window twice, gets twice that. */
TEST(cbow_spreads_gradient_over_context_rows) {
    w2v m = w2v_new(5);
    ad_tape *tp = ad_tape_new();
    ad_tensor *ctx = ad_gather_rows(tp, m.V, context, NCTX);
    ad_tensor *vavg = ad_scale(tp, ad_sum_rows(tp, ctx), 1.0 / NCTX);
    ad_tensor *J = ad_softmax_xent(tp, ad_matmul_nt(tp, vavg, m.U), &centre, NULL);
    ad_params_zero_grad(m.ps);
    ad_backward(tp, J);

    const double *U = ad_data(m.U), *V = ad_data(m.V);
    double va[DIM] = {0}, e[NV], gva[DIM] = {0}, gV[NV * DIM] = {0}, gU[NV * DIM] = {0};
    for (int j = 0; j < NCTX; j++)
        for (int d = 0; d < DIM; d++) va[d] += V[context[j] * DIM + d] / NCTX;
    const double lse = softmax_scores(U, va, e);
    e[centre] -= 1;
    for (int w = 0; w < NV; w++) {
        for (int d = 0; d < DIM; d++) gva[d] += e[w] * U[w * DIM + d];
        add_row(gU, w, e[w], va);
    }
    for (int j = 0; j < NCTX; j++) add_row(gV, context[j], 1.0 / NCTX, gva);

    CHECK_NEAR(ad_item(J), lse - dot(U + centre * DIM, va), 1e-12, 0);
    CHECK_ARRAY("v_avg", ad_data(vavg), va, DIM, 1e-13, 1e-15);
    REQUIRE(ad_grad(vavg) != NULL);
    double err = CHECK_ARRAY("dJ/dv_avg", ad_grad(vavg), gva, DIM, 1e-9, 1e-12);
    th_note("dJ/dv_avg = U^T(yhat - y) max rel err %.2e", err);
    compare("CBOW dJ/dV (context rows, /2m each)", m.V, gV);
    compare("CBOW dJ/dU", m.U, gU);
    ad_tape_free(tp);
    ad_params_free(m.ps);
}
