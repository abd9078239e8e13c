/*
 * gemm.c — every product of the tape: which library does it, on how many threads.
 *
 * Large products go to OpenBLAS. The products of a recurrent step are small in one dimension: a
 * batch of 10 to 64 rows against a weight of a few hundred by a few thousand. For those, sgemm
 * spends most of its time packing the weight into its panel layout again at every call (the
 * weight is 10 to 50 times larger than the batch), and a second thread costs more to wake than
 * it saves. So:
 *   - with libxsmm (Debian's libxsmm-dev; meson finds it), a product of at most SMALL_ROWS rows
 *     runs through a kernel libxsmm generates for its shape, which reads the row-major weight as
 *     it is, without packing. A transposed weight (the dh = dz Whᵀ of a step's backward) is
 *     transposed once per backward pass and kept on the tape for that pass (ad_tape_transposed);
 *   - products under GEMM_SERIAL_BELOW multiply-adds that OpenBLAS does run on one thread;
 *   - products from there to SPLIT_BELOW are split across the threads here, each thread a
 *     one-thread OpenBLAS call on its block of C, which scales better than OpenBLAS's own split
 *     for those shapes; larger ones OpenBLAS splits itself.
 */
#include "ad_internal.h"

#include <cblas.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#ifdef AD_HAVE_LIBXSMM
#include <libxsmm.h>
#endif

/*
 * Products of fewer multiply-adds than this run on one thread whatever the thread count.
 * OpenBLAS splits every product above 2^18 of them across its threads, and for the product of a
 * recurrent step (a batch of 20 to 64 rows against a few hundred columns: 2-4 million) waking the
 * second thread costs more than it saves: with them on one thread, bench/ measured the word LMs
 * 4-10% and the tagger 20-30% faster on 2 threads (and sgemm timed alone agrees for those shapes).
 */
#define GEMM_SERIAL_BELOW 8e6

/*
 * Products of at most this many rows go to libxsmm. Timed alone on one thread of the project's
 * machine (AVX-512), against OpenBLAS 0.3.21 with its SkylakeX kernels: 10 x 200 · 200 x 800 took
 * 30 µs against 81, 20 rows 60 against 91, 32 x 512 · 512 x 2048 650 against 1260; at 64 rows
 * OpenBLAS was ahead (1250 against 1540).
 */
#define SMALL_ROWS 32

/*
 * Products from GEMM_SERIAL_BELOW up to this many multiply-adds are split across the threads by
 * the library, each part a one-thread OpenBLAS call on its block of C's rows or columns
 * (whichever dimension is larger), instead of by OpenBLAS. Timed on the project's machine on 2
 * threads, the library's split gained more over one thread on 17 of 20 shapes of the benchmark's
 * configurations: 1.88x against 1.65x for a word LM's 700 x 200 output gradient (K 10000), 1.83x
 * against 1.44x for the tagger's 100 x 512 weight gradient; OpenBLAS's own split was ahead only on
 * the char LM's largest products (6.7e9 multiply-adds; 1.96x against 1.83x), hence the bound.
 * SPLIT_MIN: rows or columns per thread, at least.
 */
#define SPLIT_BELOW 2e9
#define SPLIT_MIN 16

static ad_gemm_observer observer; /* ad_set_gemm_observer */
static void *observer_ctx;

#ifdef AD_HAVE_LIBXSMM
__attribute__((constructor)) static void xsmm_start(void) { libxsmm_init(); }

/* C = A op(B) + beta C through a libxsmm kernel, when there is one for the shape; false to leave
 * the product to BLAS. libxsmm is column-major: the row-major C = A B is its C' = B' A'. */
static bool small_gemm(ad_tape *tp, bool ta, bool tb, int m, int n, int k, const ad_real *A,
                       int lda, const ad_real *B, int ldb, ad_real beta, ad_real *C, int ldc) {
    if (ta || m > SMALL_ROWS || (beta != 0 && beta != 1) || (tb && !tp)) return false;
    const libxsmm_blasint M = n, N = m, K = k, la = tb ? n : ldb, lb = lda, lc = ldc;
    const ad_real alpha = 1;
    const int flags = 0; /* neither transposed: a transposed B is handed over transposed back */
#ifdef AD_DOUBLE
    const libxsmm_dmmfunction kernel =
        libxsmm_dmmdispatch(M, N, K, &la, &lb, &lc, &alpha, &beta, &flags, NULL);
#else
    const libxsmm_smmfunction kernel =
        libxsmm_smmdispatch(M, N, K, &la, &lb, &lc, &alpha, &beta, &flags, NULL);
#endif
    if (!kernel) return false; /* no code generator for this CPU */
    if (tb) { /* B is n x k: its k x n transpose, kept for the backward pass */
        B = ad_tape_transposed(tp, B, n, k, ldb);
        if (!B) return false;
    }
    if (observer) observer(ta, tb, m, n, k, beta, true, observer_ctx);
    kernel(B, A, C);
    return true;
}
#endif

static void blas_gemm(bool ta, bool tb, int m, int n, int k, const ad_real *A, int lda,
                      const ad_real *B, int ldb, ad_real beta, ad_real *C, int ldc) {
#ifdef AD_DOUBLE
    cblas_dgemm(
#else
    cblas_sgemm(
#endif
        CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n, k, 1,
        A, lda, B, ldb, beta, C, ldc);
}

void ad_set_gemm_observer(ad_gemm_observer fn, void *ctx) {
    observer = fn;
    observer_ctx = fn ? ctx : NULL;
}

void ad_gemm(ad_tape *tp, bool ta, bool tb, int m, int n, int k, const ad_real *A, int lda,
             const ad_real *B, int ldb, ad_real beta, ad_real *C, int ldc) {
#ifdef AD_HAVE_LIBXSMM
    if (small_gemm(tp, ta, tb, m, n, k, A, lda, B, ldb, beta, C, ldc)) return;
#else
    (void)tp;
#endif
    if (observer) observer(ta, tb, m, n, k, beta, false, observer_ctx);
    const double madds = (double)m * n * k;
    int threads = 1; /* > 1: OpenBLAS is set to one thread around the call(s) below */
    bool split = false;
#ifdef _OPENMP
    /* inside a region the OpenMP OpenBLAS runs on the calling thread anyway */
    if (!omp_in_parallel()) {
        const int nt = ad_num_threads();
        if (madds < GEMM_SERIAL_BELOW) {
            threads = nt;
        } else if (nt > 1 && madds < SPLIT_BELOW && (m > n ? m : n) >= SPLIT_MIN * nt) {
            threads = nt;
            split = true;
        } /* else OpenBLAS splits it */
    }
#endif
    if (threads > 1) openblas_set_num_threads(1);
    if (split) {
#ifdef _OPENMP
#pragma omp parallel num_threads(threads)
        {
            const int t = omp_get_thread_num(), nt = omp_get_num_threads();
            if (m > n) { /* rows of C: rows of A, or columns of a transposed A */
                const int r0 = (int)((long)m * t / nt), r1 = (int)((long)m * (t + 1) / nt);
                blas_gemm(ta, tb, r1 - r0, n, k, ta ? A + r0 : A + (size_t)r0 * lda, lda, B, ldb,
                          beta, C + (size_t)r0 * ldc, ldc);
            } else { /* columns of C, in whole cache lines */
                const int per = (n / nt + 15) / 16 * 16;
                const int c0 = t * per < n ? t * per : n;
                const int c1 = t == nt - 1 || c0 + per > n ? n : c0 + per;
                if (c1 > c0)
                    blas_gemm(ta, tb, m, c1 - c0, k, A, lda, tb ? B + (size_t)c0 * ldb : B + c0,
                              ldb, beta, C + c0, ldc);
            }
        }
#endif
    } else {
        blas_gemm(ta, tb, m, n, k, A, lda, B, ldb, beta, C, ldc);
    }
    /* the OpenMP OpenBLAS also set OpenMP's count to 1: both back (read before the call) */
    if (threads > 1) openblas_set_num_threads(threads);
}
