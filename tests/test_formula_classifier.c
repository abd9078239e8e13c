/*
 * FORMULAS §3, the two-layer classifier in row form:
 *     z1 = x W1 + b1,  h1 = σ(z1),  θ = h1 W2 + b2,  ŷ = softmax(θ),  J = CE(y, ŷ)
 * with the hand-derived gradients
 *     ∂J/∂θ = ŷ − y,  ∂J/∂b2 = ŷ − y,  ∂J/∂W2 = h1ᵀ (ŷ − y),  δ1 = ∂J/∂h1 = (ŷ − y) W2ᵀ,
 *     δ2 = ∂J/∂z1 = δ1 ∘ h1 ∘ (1 − h1),  ∂J/∂b1 = δ2,  ∂J/∂W1 = xᵀ δ2,  ∂J/∂x = δ2 W1ᵀ.
 * The model is built from tape primitives; the formulas are evaluated here with plain loops in
 * double, and every gradient, the intermediate ones included, is compared to 1e-9 relative.
 *
 * With a batch of m rows, J is the SUM of the rows' cross-entropies (ad_softmax_xent's mean times
 * m), so ∂J/∂θ is ŷ − y in every row with no 1/m. The biases are shared by the rows, so their
 * gradients are the column sums of ŷ − y and δ2 (FORMULAS §2: a weight used several times gets the
 * sum); xᵀ δ2 and h1ᵀ (ŷ − y) already sum over rows.
 */
#include "harness.h"

enum { DX = 5, DZ = 6, DY = 4, MAXM = 5 };
static const int targets[MAXM] = {3, 0, 2, 3, 1};

/* c (m x n) = a (m x k) b (k x n), each operand optionally transposed as stored. */
static void matmul(const double *a, bool ta, const double *b, bool tb, double *c, int m, int k,
                   int n) {
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            double s = 0;
            for (int l = 0; l < k; l++)
                s += (ta ? a[l * m + i] : a[i * k + l]) * (tb ? b[j * k + l] : b[l * n + j]);
            c[i * n + j] = s;
        }
}

static void col_sums(const double *a, int m, int n, double *s) {
    for (int j = 0; j < n; j++) {
        s[j] = 0;
        for (int i = 0; i < m; i++) s[j] += a[i * n + j];
    }
}

static void compare(const char *what, const double *got, const double *want, int n) {
    REQUIRE(got != NULL);
    double err = CHECK_ARRAY(what, got, want, (size_t)n, 1e-9, 1e-12);
    th_note("%-6s max rel err %.2e", what, err);
}

static void check_classifier(int m, uint64_t seed) {
    ad_params *ps = ad_params_new();
    /* x is a parameter so that the tape computes ∂J/∂x. */
    ad_tensor *x = th_param(ps, "x", m, DX, -1, 1, seed);
    ad_tensor *W1 = th_param(ps, "W1", DX, DZ, -0.8, 0.8, seed + 1);
    ad_tensor *b1 = th_param(ps, "b1", 1, DZ, -0.5, 0.5, seed + 2);
    ad_tensor *W2 = th_param(ps, "W2", DZ, DY, -0.8, 0.8, seed + 3);
    ad_tensor *b2 = th_param(ps, "b2", 1, DY, -0.5, 0.5, seed + 4);

    ad_tape *tp = ad_tape_new();
    ad_tensor *z1 = ad_add(tp, ad_matmul(tp, x, W1), b1);
    ad_tensor *h1 = ad_sigmoid(tp, z1);
    ad_tensor *theta = ad_add(tp, ad_matmul(tp, h1, W2), b2);
    ad_tensor *J = ad_scale(tp, ad_softmax_xent(tp, theta, targets, NULL), m); /* Σ over rows */
    ad_params_zero_grad(ps);
    ad_backward(tp, J);

    /* The closed form, from the parameter values alone. */
    double z[MAXM * DZ], h[MAXM * DZ], th[MAXM * DY], err[MAXM * DY], ce = 0;
    double d1[MAXM * DZ], d2[MAXM * DZ], gW1[DX * DZ], gb1[DZ], gx[MAXM * DX], gW2[DZ * DY],
        gb2[DY];
    const double *xv = ad_data(x), *w1 = ad_data(W1), *w2 = ad_data(W2);
    matmul(xv, false, w1, false, z, m, DX, DZ);
    for (int i = 0; i < m; i++)
        for (int j = 0; j < DZ; j++) {
            z[i * DZ + j] += ad_data(b1)[j];
            h[i * DZ + j] = 1 / (1 + exp(-z[i * DZ + j]));
        }
    matmul(h, false, w2, false, th, m, DZ, DY);
    for (int i = 0; i < m; i++) {
        double mx = -INFINITY, s = 0;
        for (int j = 0; j < DY; j++) th[i * DY + j] += ad_data(b2)[j];
        for (int j = 0; j < DY; j++) mx = fmax(mx, th[i * DY + j]);
        for (int j = 0; j < DY; j++) s += exp(th[i * DY + j] - mx);
        for (int j = 0; j < DY; j++)
            err[i * DY + j] = exp(th[i * DY + j] - mx) / s - (j == targets[i]); /* ŷ − y */
        ce += log(s) + mx - th[i * DY + targets[i]];
    }
    col_sums(err, m, DY, gb2);                   /* ∂J/∂b2 = ŷ − y, summed over rows */
    matmul(h, true, err, false, gW2, DZ, m, DY); /* ∂J/∂W2 = h1ᵀ (ŷ − y) */
    matmul(err, false, w2, true, d1, m, DY, DZ); /* δ1 = (ŷ − y) W2ᵀ */
    for (int k = 0; k < m * DZ; k++)
        d2[k] = d1[k] * h[k] * (1 - h[k]);       /* δ2 = δ1 ∘ h1 ∘ (1 − h1) */
    col_sums(d2, m, DZ, gb1);                    /* ∂J/∂b1 = δ2, summed over rows */
    matmul(xv, true, d2, false, gW1, DX, m, DZ); /* ∂J/∂W1 = xᵀ δ2 */
    matmul(d2, false, w1, true, gx, m, DZ, DX);  /* ∂J/∂x = δ2 W1ᵀ */

    th_note("batch of %d rows", m);
    CHECK_NEAR(ad_item(J), ce, 1e-12, 0);
    compare("dJ/dθ", ad_grad(theta), err, m * DY);
    compare("δ1", ad_grad(h1), d1, m * DZ);
    compare("δ2", ad_grad(z1), d2, m * DZ);
    compare("dJ/dW1", ad_grad(W1), gW1, DX * DZ);
    compare("dJ/db1", ad_grad(b1), gb1, DZ);
    compare("dJ/dx", ad_grad(x), gx, m * DX);
    compare("dJ/dW2", ad_grad(W2), gW2, DZ * DY);
    compare("dJ/db2", ad_grad(b2), gb2, DY);
    ad_tape_free(tp);
    ad_params_free(ps);
}

/* The lecture's single example (a 1 x Dx row): J is one CE and the biases get ŷ − y and δ2. */
TEST(classifier_single_row_matches_formulas) { check_classifier(1, 10); }

/* A batch of rows with a repeated class. */
TEST(classifier_batch_matches_formulas) { check_classifier(MAXM, 20); }
