/*
 * vecmath.h — exp, sigmoid and tanh that a compiler vectorizes, and the macro that builds a hot
 * kernel for the CPU's widest vectors. Not part of the public API: autodiff/ includes it through
 * ad_internal.h, and the models' own hot loops (word2vec, GloVe) use AD_VECTOR_CLONES.
 *
 * libm's expf and tanhf are one call per element: a loop that uses them runs one value at a time,
 * and in the word LM the softmax over 10000 classes alone spent a quarter of a step in them. The
 * functions below are straight-line float arithmetic and integer bit operations (no call, no
 * branch, no table), so GCC turns a plain loop over them into SSE/AVX2/AVX-512 code.
 *
 * Accuracy (tests/test_float.c sweeps them against double libm): ad_expf within 2 ulp over the
 * normal range, exactly 0 below -103.97 and +inf above 88.73; ad_tanhf and ad_sigmoidf within a
 * few ulp, relatively accurate near 0 too. NaN stays NaN. The double build (AD_DOUBLE) keeps
 * libm's exp and tanh: it is the reference the gradient tests hold to 1e-7.
 */
#ifndef SEQGRAD_VECMATH_H
#define SEQGRAD_VECMATH_H

#include <stdint.h>
#include <string.h>

/*
 * AD_VECTOR_CLONES before a kernel: GCC compiles it three times (AVX-512, AVX2, the build's SSE2
 * baseline) and picks one when the library loads, so the library runs on any x86-64 and still
 * uses 16-float vectors where the CPU has them. Only where GCC supports it (ifunc); elsewhere a
 * plain function. A clone is not inlined into its caller: put it on a loop, not on one element.
 * The build is -std=c11, so no FMA contraction: every clone rounds the same and gives the same
 * results, bit for bit.
 */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define AD_VECTOR_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define AD_VECTOR_CLONES
#endif

static inline uint32_t ad_bits_of_float(float x) {
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}
static inline float ad_float_of_bits(uint32_t u) {
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

/*
 * c ? a : b by bit masks. Written with ?: GCC jumps to a copy of what follows a clamp with the
 * constant in it (jump threading); under the default -ftrapping-math it then may not turn that
 * branch back into a vector select, and the whole loop stays scalar. Bit operations cannot trap.
 */
static inline float ad_pickf(int c, float a, float b) {
    const uint32_t m = 0u - (uint32_t)(c != 0);
    return ad_float_of_bits((m & ad_bits_of_float(a)) | (~m & ad_bits_of_float(b)));
}

/*
 * e^x = 2^n e^r with n = round(x / ln 2), r = x - n ln 2 in [-ln2/2, ln2/2] (ln 2 in two parts,
 * Cody and Waite, so r is exact to float precision), e^r by Cephes' degree-7 minimax polynomial.
 * n comes from the rounding trick t + 1.5·2^23 (no float-to-int conversion, so NaN is no UB), and
 * 2^n is built in the exponent bits as 2^⌊n/2⌋ · 2^(n-⌊n/2⌋), both normal for n in [-150, 128],
 * so results down in the subnormals round once and overflow gives +inf. x is clamped to
 * [-104, 89] first: outside, the result is 0 or inf anyway. The clamps leave NaN as it is.
 */
static inline float ad_expf(float x) {
    x = ad_pickf(x > 89.0f, 89.0f, x);
    x = ad_pickf(x < -104.0f, -104.0f, x);
    const float magic = 0x1.8p23f; /* adding it rounds to an integer in the low mantissa bits */
    const float k = x * 1.44269504088896341f + magic;
    const float fn = k - magic;
    const int32_t n = (int32_t)(ad_bits_of_float(k) - ad_bits_of_float(magic));
    const float r = (x - fn * 0.693359375f) - fn * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * (r * r) + r + 1.0f;
    const int32_t h = n / 2; /* rounds towards 0: h and n - h both in [-75, 64] */
    const float s1 = ad_float_of_bits((uint32_t)(h + 127) << 23);
    const float s2 = ad_float_of_bits((uint32_t)(n - h + 127) << 23);
    return p * s1 * s2;
}

/* σ(x) = 1 / (1 + e^-x) for x >= 0, e^x / (1 + e^x) below: one exponential of -|x| <= 0, which
 * cannot overflow, so no branch is needed for stability, and small results keep their relative
 * accuracy down into the subnormals. */
static inline float ad_sigmoidf(float x) {
    const float e = ad_expf(-ad_float_of_bits(ad_bits_of_float(x) & 0x7fffffffu));
    return ad_pickf(x < 0, e, 1.0f) / (1.0f + e);
}

/*
 * tanh x: for |x| < 0.625 Cephes' odd minimax polynomial (1 - 2/(e^2|x| + 1) would cancel there
 * and lose the relative accuracy of small x); above, 1 - 2/(e^2|x| + 1), which is at least 0.55
 * so at most a bit cancels, and is 1 once e^2|x| overflows. The sign is put back by its bit.
 */
static inline float ad_tanhf(float x) {
    const uint32_t sign = ad_bits_of_float(x) & 0x80000000u;
    const float ax = ad_float_of_bits(ad_bits_of_float(x) & 0x7fffffffu);
    const float z = ax * ax;
    float p = -5.70498872745e-3f;
    p = p * z + 2.06390887954e-2f;
    p = p * z - 5.37397155531e-2f;
    p = p * z + 1.33314422036e-1f;
    p = p * z - 3.33332819422e-1f;
    const float small = p * z * ax + ax;
    const float large = 1.0f - 2.0f / (ad_expf(2.0f * ax) + 1.0f);
    return ad_float_of_bits(ad_bits_of_float(ad_pickf(ax < 0.625f, small, large)) | sign);
}

#endif
