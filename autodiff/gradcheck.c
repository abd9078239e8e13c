/*
 * gradcheck.c — compare the tape's gradient with central differences (FORMULAS §12):
 *     ∂f/∂θ_k ≈ (f(θ + h e_k) - f(θ - h e_k)) / 2h, one coordinate at a time.
 * The loss is re-recorded on a fresh tape for every evaluation, with the tape's random stream
 * reseeded each time, so dropout masks are the same in every evaluation.
 */
#include "ad_internal.h"

#include <stdio.h>
#include <stdlib.h>

#ifdef AD_DOUBLE
#define DEFAULT_STEP 1e-6
#define DEFAULT_RTOL 1e-6
#define DEFAULT_ATOL 1e-9
#else
#define DEFAULT_STEP 1e-2
#define DEFAULT_RTOL 2e-2
#define DEFAULT_ATOL 1e-3
#endif

enum { GRADCHECK_SEED = 12345 };

static double evaluate(ad_tape *tp, ad_loss_fn loss_fn, void *ctx) {
    ad_tape_reset(tp);
    ad_tape_seed(tp, GRADCHECK_SEED);
    ad_tensor *loss = loss_fn(tp, ctx);
    return (double)ad_item(loss);
}

/* splitmix64 step, for sampling coordinates */
static uint64_t next_random(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static size_t gcd(size_t a, size_t b) {
    while (b) {
        size_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

int ad_gradcheck(ad_params *ps, ad_loss_fn loss_fn, void *ctx, const ad_gradcheck_opts *opts,
                 ad_gradcheck_result *res) {
    ad_gradcheck_opts o = opts ? *opts : (ad_gradcheck_opts){0};
    if (o.step <= 0) o.step = DEFAULT_STEP;
    if (o.rtol <= 0) o.rtol = DEFAULT_RTOL;
    if (o.atol <= 0) o.atol = DEFAULT_ATOL;
    if (o.max_coords <= 0) o.max_coords = 64;
    ad_gradcheck_result r_local, *r = res ? res : &r_local;
    memset(r, 0, sizeof *r);

    /* The analytic gradient, left in the parameters' gradients. */
    ad_tape *tp = ad_tape_new();
    ad_params_zero_grad(ps);
    ad_tape_seed(tp, GRADCHECK_SEED);
    ad_tensor *loss = loss_fn(tp, ctx);
    double f0 = (double)ad_item(loss);
    ad_backward(tp, loss);

    uint64_t rng = o.seed ^ 0xD1B54A32D192ED03ull;
    double worst = -1;
    for (int p = 0; p < ad_params_count(ps); p++) {
        ad_tensor *t = ad_params_at(ps, p);
        if (!t->requires_grad) continue;
        size_t n = ad_size(t);
        size_t count = n <= (size_t)o.max_coords ? n : (size_t)o.max_coords;
        /* Distinct coordinates without a list: start + s·stride (mod n), stride coprime to n. */
        size_t start = (size_t)(next_random(&rng) % n), stride = 1;
        if (count < n)
            do stride = 1 + (size_t)(next_random(&rng) % (n - 1));
            while (gcd(stride, n) != 1);
        for (size_t s = 0; s < count; s++) {
            size_t k = count == n ? s : (start + s * stride) % n;
            ad_real saved = t->val[k];
            t->val[k] = (ad_real)((double)saved + o.step);
            double h_plus = (double)t->val[k] - (double)saved; /* the step as represented */
            double fp = evaluate(tp, loss_fn, ctx);
            t->val[k] = (ad_real)((double)saved - o.step);
            double h_minus = (double)saved - (double)t->val[k];
            double fm = evaluate(tp, loss_fn, ctx);
            t->val[k] = saved;

            if (o.kink_tol > 0) {
                double right = (fp - f0) / h_plus, left = (f0 - fm) / h_minus;
                if (fabs(right - left) > o.kink_tol) {
                    r->skipped++;
                    continue;
                }
            }
            double numeric = (fp - fm) / (h_plus + h_minus);
            double analytic = (double)t->grad[k];
            double err = fabs(analytic - numeric);
            double scale = fmax(fabs(analytic), fabs(numeric));
            double rel = scale > o.atol ? err / scale : 0; /* relative only where it means something */
            bool bad = !(err <= o.atol + o.rtol * scale); /* NaN fails too */
            r->checked++;
            if (err > r->max_abs_err || isnan(err)) r->max_abs_err = err;
            if (rel > r->max_rel_err || isnan(rel)) r->max_rel_err = rel;
            /* Report the first failure; with none, the coordinate with the largest error. */
            if (r->failed || (!bad && err <= worst)) continue;
            worst = err;
            r->failed = bad;
            snprintf(r->tensor, sizeof r->tensor, "%s", ad_name(t));
            r->row = (int)(k / (size_t)t->cols);
            r->col = (int)(k % (size_t)t->cols);
            r->analytic = analytic;
            r->numeric = numeric;
        }
    }
    ad_tape_free(tp);
    snprintf(r->message, sizeof r->message,
             "%s: %s[%d,%d] analytic %.10g, numeric %.10g (%d checked, %d kinks skipped, max "
             "abs err %.3g, max rel err %.3g)",
             r->failed ? "gradient mismatch" : "gradients agree", r->tensor, r->row, r->col,
             r->analytic, r->numeric, r->checked, r->skipped, r->max_abs_err, r->max_rel_err);
    return r->failed ? -1 : 0;
}
