/*
 * FORMULAS §1, softmax and cross-entropy: the tape's gradient of CE with respect to the logits
 * must be the error vector ŷ − y. Each case records the loss on the tape and computes ŷ − y here
 * independently, in double with plain loops, then compares every entry to 1e-9 relative.
 */
#include "harness.h"

enum { M = 4, N = 5 };                      /* a batch of 4 rows of 5 logits */
static const int targets[M] = {2, 0, 4, 2}; /* several classes, one of them twice */

/* ŷ = softmax of each row of theta (m x n), the row maximum subtracted first. */
static void softmax_rows(const double *theta, int m, int n, double *yhat) {
    for (int i = 0; i < m; i++) {
        const double *t = theta + i * n;
        double mx = t[0], z = 0;
        for (int j = 1; j < n; j++) mx = fmax(mx, t[j]);
        for (int j = 0; j < n; j++) z += exp(t[j] - mx);
        for (int j = 0; j < n; j++) yhat[i * n + j] = exp(t[j] - mx) / z;
    }
}

/* want = ŷ − y row by row, and the summed cross-entropy Σ_i −log ŷ_{i,target_i}. */
static double error_vectors(const double *theta, double *want) {
    double yhat[M * N], ce = 0;
    softmax_rows(theta, M, N, yhat);
    for (int i = 0; i < M; i++) {
        for (int j = 0; j < N; j++) want[i * N + j] = yhat[i * N + j] - (j == targets[i]);
        ce -= log(yhat[i * N + targets[i]]);
    }
    return ce;
}

/* ad_softmax_xent returns the MEAN over rows; J = M · mean is the sum Σ_i CE_i, whose gradient
 * is ŷ − y per row with no 1/M. The mean's own gradient is (ŷ − y)/M. */
TEST(fused_xent_gradient_is_yhat_minus_y) {
    ad_params *ps = ad_params_new();
    ad_tensor *theta = th_param(ps, "theta", M, N, -3, 3, 1);
    ad_tape *tp = ad_tape_new();
    ad_tensor *mean = ad_softmax_xent(tp, theta, targets, NULL);
    ad_tensor *J = ad_scale(tp, mean, M);
    ad_params_zero_grad(ps);
    ad_backward(tp, J);

    double want[M * N];
    const double ce = error_vectors(ad_data(theta), want);
    CHECK_NEAR(ad_item(J), ce, 1e-12, 0);
    double err = CHECK_ARRAY("dCE/dtheta", ad_grad(theta), want, M * N, 1e-9, 1e-12);
    th_note("dCE/dtheta (J = sum over rows) max rel err %.2e", err);

    /* Perplexity: exp of the mean negative log-likelihood (§1). */
    CHECK_NEAR(exp(ad_item(mean)), exp(ce / M), 1e-12, 0);

    ad_params_zero_grad(ps);
    ad_backward(tp, mean);
    for (int k = 0; k < M * N; k++) want[k] /= M;
    err = CHECK_ARRAY("dmean/dtheta", ad_grad(theta), want, M * N, 1e-9, 1e-12);
    th_note("dCE/dtheta (mean over rows, (yhat-y)/M) max rel err %.2e", err);
    ad_tape_free(tp);
    ad_params_free(ps);
}

/* The unfused form CE = −Σ_i y_i log ŷ_i from ad_softmax, ad_log and a one-hot y: the chain
 * through the softmax Jacobian collapses to the same ŷ − y. On the way, dCE/dŷ = −y / ŷ. */
TEST(unfused_softmax_log_gradient_is_yhat_minus_y) {
    ad_params *ps = ad_params_new();
    ad_tensor *theta = th_param(ps, "theta", M, N, -3, 3, 2);
    ad_tape *tp = ad_tape_new();
    double onehot[M * N] = {0};
    for (int i = 0; i < M; i++) onehot[i * N + targets[i]] = 1;
    ad_tensor *yhat = ad_softmax(tp, theta);
    ad_tensor *J = ad_neg(tp, ad_sum(tp, ad_mul(tp, ad_input(tp, M, N, onehot), ad_log(tp, yhat))));
    ad_params_zero_grad(ps);
    ad_backward(tp, J);

    double want[M * N], p[M * N], dp[M * N];
    const double ce = error_vectors(ad_data(theta), want);
    softmax_rows(ad_data(theta), M, N, p);
    for (int k = 0; k < M * N; k++) dp[k] = -onehot[k] / p[k];
    CHECK_NEAR(ad_item(J), ce, 1e-12, 0);
    CHECK_ARRAY("softmax values", ad_data(yhat), p, M * N, 1e-12, 1e-15);
    REQUIRE(ad_grad(yhat) != NULL);
    double err = CHECK_ARRAY("dCE/dyhat", ad_grad(yhat), dp, M * N, 1e-9, 1e-12);
    th_note("dCE/dyhat = -y/yhat max rel err %.2e", err);
    err = CHECK_ARRAY("dCE/dtheta", ad_grad(theta), want, M * N, 1e-9, 1e-12);
    th_note("dCE/dtheta through ad_softmax max rel err %.2e", err);
    ad_tape_free(tp);
    ad_params_free(ps);
}

/* ŷ depends only on differences of logits: shifted by +1000, where a naive exp overflows, the
 * fused loss must still give the finite ŷ − y (computed here from the shifted values). */
TEST(fused_xent_gradient_holds_for_large_logits) {
    ad_params *ps = ad_params_new();
    ad_tensor *theta = th_param(ps, "theta", M, N, -3, 3, 3);
    for (int k = 0; k < M * N; k++) ad_data(theta)[k] += 1000;
    ad_tape *tp = ad_tape_new();
    ad_tensor *J = ad_scale(tp, ad_softmax_xent(tp, theta, targets, NULL), M);
    ad_params_zero_grad(ps);
    ad_backward(tp, J);
    double want[M * N];
    const double ce = error_vectors(ad_data(theta), want);
    CHECK(isfinite(ad_item(J)));
    CHECK_NEAR(ad_item(J), ce, 1e-9, 0);
    double err = CHECK_ARRAY("dCE/dtheta", ad_grad(theta), want, M * N, 1e-9, 1e-12);
    th_note("dCE/dtheta at logits ~1000 max rel err %.2e", err);
    ad_tape_free(tp);
    ad_params_free(ps);
}
