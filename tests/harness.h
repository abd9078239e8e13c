/*
 * harness.h — the test harness: TEST(name) defines a case, CHECK* record a failure with its
 * file:line and go on, REQUIRE* end the case. Each test program runs its cases (or those whose
 * name contains argv[1]) and closes with "<program>: N passed, N failed"; it exits 1 on failure.
 */
#ifndef SEQGRAD_TEST_HARNESS_H
#define SEQGRAD_TEST_HARNESS_H

#include "ad.h"

#include <math.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef void (*th_case_fn)(void);
void th_register(const char *name, th_case_fn fn);
void th_fail(const char *file, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
_Noreturn void th_abort_case(void);
/* A figure for the log (error magnitudes, counts): printed under the case's name. */
void th_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#define TEST(name)                                                                                 \
    static void name(void);                                                                        \
    __attribute__((constructor)) static void th_reg_##name(void) { th_register(#name, name); }     \
    static void name(void)

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) th_fail(__FILE__, __LINE__, "CHECK(%s) failed", #cond);                       \
    } while (0)

#define CHECK_MSG(cond, ...)                                                                       \
    do {                                                                                           \
        if (!(cond)) th_fail(__FILE__, __LINE__, __VA_ARGS__);                                     \
    } while (0)

#define REQUIRE(cond)                                                                              \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            th_fail(__FILE__, __LINE__, "REQUIRE(%s) failed", #cond);                              \
            th_abort_case();                                                                       \
        }                                                                                          \
    } while (0)

/* |a - b| <= atol + rtol max(|a|, |b|) */
bool th_close(double a, double b, double rtol, double atol);
#define CHECK_NEAR(a, b, rtol, atol)                                                               \
    do {                                                                                           \
        double th_a_ = (double)(a), th_b_ = (double)(b);                                           \
        if (!th_close(th_a_, th_b_, (rtol), (atol)))                                               \
            th_fail(__FILE__, __LINE__, "CHECK_NEAR(%s, %s): %.12g vs %.12g", #a, #b, th_a_,      \
                    th_b_);                                                                        \
    } while (0)

/* Compare two arrays of n values; on failure names the first index that differs. Returns the
 * largest relative error (error / max(|a|,|b|), over entries larger than atol). */
double th_check_array(const char *file, int line, const char *what, const double *got,
                      const double *want, size_t n, double rtol, double atol);
#define CHECK_ARRAY(what, got, want, n, rtol, atol)                                                \
    th_check_array(__FILE__, __LINE__, (what), (got), (want), (n), (rtol), (atol))

/* Run ad_gradcheck and fail with its message. Returns the result for figures. */
ad_gradcheck_result th_gradcheck(const char *file, int line, ad_params *ps, ad_loss_fn fn,
                                 void *ctx, const ad_gradcheck_opts *opts);
#define CHECK_GRADCHECK(ps, fn, ctx, opts) th_gradcheck(__FILE__, __LINE__, (ps), (fn), (ctx), (opts))

/* Run stmt expecting it to stop through the library's error handler with a message containing
 * each of the given substrings (a NULL-terminated list). */
extern jmp_buf th_error_jmp;
extern char th_error_msg[1024];
void th_expect_error_begin(void);
void th_expect_error_end(const char *file, int line, bool raised, const char *const *needles);
#define EXPECT_ERROR(stmt, ...)                                                                    \
    do {                                                                                           \
        th_expect_error_begin();                                                                   \
        volatile bool th_raised_ = true; /* set across setjmp */                                   \
        if (setjmp(th_error_jmp) == 0) {                                                           \
            stmt;                                                                                  \
            th_raised_ = false;                                                                    \
        }                                                                                          \
        const char *th_needles_[] = {__VA_ARGS__, NULL};                                           \
        th_expect_error_end(__FILE__, __LINE__, th_raised_, th_needles_);                          \
    } while (0)

/* J = Σ_ij y_ij R_ij with R fixed by seed, uniform in [-1, 1): a scalar loss to which every
 * output coordinate contributes differently, for checking an op's gradient. */
ad_tensor *th_project(ad_tape *tp, ad_tensor *y, uint64_t seed);

/* A parameter of the given shape filled uniform in [lo, hi) from seed. */
ad_tensor *th_param(ad_params *ps, const char *name, int rows, int cols, double lo, double hi,
                    uint64_t seed);

/* Default options of the op gradient tests (double build): h = 1e-6, 1e-7 relative. */
extern const ad_gradcheck_opts th_tight;

/* Fill with a reproducible uniform stream in [lo, hi). */
void th_fill_uniform(ad_real *x, size_t n, double lo, double hi, uint64_t seed);

#endif
