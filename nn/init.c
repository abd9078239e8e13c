/*
 * init.c — the random stream and the initializers that draw from it.
 *
 * The generator is SplitMix64 (Steele, Lea and Flood 2014; java.util.SplittableRandom): the state
 * advances by a fixed odd constant and each output is that counter passed through a strong 64-bit
 * mixer. It passes BigCrush, costs one add and two multiplies, and its whole state is the one
 * 64-bit word nn_rng holds, so a checkpoint stores a stream as a single counter.
 */
#include "nn_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

/* A broken contract: say which call and why, and stop (as ad.h's default handler does). */
#define init_fail(op, what, a, b) nn_fail((op), "%s (%g, %g)", (what), (double)(a), (double)(b))

/* ------------------------------------------------------------------ rng ---- */

#define GOLDEN_GAMMA 0x9E3779B97F4A7C15ull /* 2^64 / φ, odd: the counter visits every state */

nn_rng nn_rng_new(uint64_t seed) { return (nn_rng){seed}; }

uint64_t nn_rng_next(nn_rng *r) {
    uint64_t z = (r->state += GOLDEN_GAMMA);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* The top 53 bits, scaled: every double k / 2^53 in [0, 1) equally likely. */
double nn_rng_uniform(nn_rng *r) { return (double)(nn_rng_next(r) >> 11) * 0x1.0p-53; }

/* Box–Muller: sqrt(-2 ln u1) cos(2π u2). The sine's twin value is dropped: nn_rng has no room to
 * keep it, and a stream that depends only on its counter stays easy to checkpoint. u1 is taken in
 * (0, 1] so the logarithm is finite. */
double nn_rng_normal(nn_rng *r) {
    double u1 = 1.0 - nn_rng_uniform(r);
    double u2 = nn_rng_uniform(r);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586476925 * u2);
}

/* Lemire's multiply-shift (2019): the high word of x·n is in [0, n). The low word tells whether x
 * fell in the 2^32 mod n values that would make some results one count more likely; those are
 * drawn again, so every result has exactly floor(2^32 / n) preimages. The modulo runs only when
 * the low word is small, rarely for small n. */
uint32_t nn_rng_below(nn_rng *r, uint32_t n) {
    if (n == 0) init_fail("nn_rng_below", "the range [0, n) is empty", 0, 0);
    uint64_t m = (nn_rng_next(r) >> 32) * (uint64_t)n;
    uint32_t low = (uint32_t)m;
    if (low < n) {
        uint32_t reject = (uint32_t)(-n) % n; /* 2^32 mod n */
        while (low < reject) {
            m = (nn_rng_next(r) >> 32) * (uint64_t)n;
            low = (uint32_t)m;
        }
    }
    return (uint32_t)(m >> 32);
}

/* ----------------------------------------------------------------- init ---- */

/* W = lo + (hi - lo) u, u ~ U[0, 1), in row-major order so one seed gives one matrix. */
void nn_init_uniform(ad_tensor *W, double lo, double hi, nn_rng *r) {
    if (!(lo <= hi) || !isfinite(lo) || !isfinite(hi))
        init_fail("nn_init_uniform", "needs finite lo <= hi", lo, hi);
    ad_real *w = ad_data(W);
    const size_t n = (size_t)ad_rows(W) * (size_t)ad_cols(W);
    for (size_t i = 0; i < n; i++) {
        ad_real v;
        do /* rounding to float can land on hi: draw again, which keeps [lo, hi) uniform */
            v = (ad_real)(lo + (hi - lo) * nn_rng_uniform(r));
        while (v >= (ad_real)hi && (ad_real)lo < (ad_real)hi);
        w[i] = v;
    }
}

/* U(-a, a), a = sqrt(6 / (fan_in + fan_out)): Var = a²/3 = 2 / (fan_in + fan_out) (§12). */
void nn_init_xavier_uniform(ad_tensor *W, nn_rng *r) {
    const double a = sqrt(6.0 / (double)(ad_rows(W) + ad_cols(W)));
    nn_init_uniform(W, -a, a, r);
}

void nn_init_constant(ad_tensor *W, double value) {
    ad_real *w = ad_data(W);
    const size_t n = (size_t)ad_rows(W) * (size_t)ad_cols(W);
    for (size_t i = 0; i < n; i++) w[i] = (ad_real)value;
}
