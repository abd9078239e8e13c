#include "harness.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *name;
    th_case_fn fn;
} th_case;

static th_case cases[512];
static int ncases;
static const char *current;
static int current_failures;
static jmp_buf case_jmp;

void th_register(const char *name, th_case_fn fn) {
    if (ncases == (int)(sizeof cases / sizeof cases[0])) {
        fprintf(stderr, "harness: too many test cases\n");
        exit(2);
    }
    cases[ncases++] = (th_case){name, fn};
}

void th_fail(const char *file, int line, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    printf("  FAIL %s: %s:%d: ", current, file, line);
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    current_failures++;
}

_Noreturn void th_abort_case(void) { longjmp(case_jmp, 1); }

void th_note(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    printf("  note %s: ", current);
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
}

bool th_close(double a, double b, double rtol, double atol) {
    double err = fabs(a - b);
    return err <= atol + rtol * fmax(fabs(a), fabs(b)); /* false for NaN */
}

double th_check_array(const char *file, int line, const char *what, const double *got,
                      const double *want, size_t n, double rtol, double atol) {
    double worst = 0;
    bool reported = false;
    for (size_t i = 0; i < n; i++) {
        double scale = fmax(fabs(got[i]), fabs(want[i]));
        double err = fabs(got[i] - want[i]);
        if (scale > atol && err / scale > worst) worst = err / scale;
        if (!th_close(got[i], want[i], rtol, atol) && !reported) {
            th_fail(file, line, "%s[%zu]: got %.15g, want %.15g (of %zu values)", what, i, got[i],
                    want[i], n);
            reported = true;
        }
    }
    return worst;
}

ad_gradcheck_result th_gradcheck(const char *file, int line, ad_params *ps, ad_loss_fn fn,
                                 void *ctx, const ad_gradcheck_opts *opts) {
    ad_gradcheck_result r;
    if (ad_gradcheck(ps, fn, ctx, opts, &r) != 0) th_fail(file, line, "%s", r.message);
    else if (r.checked == 0) th_fail(file, line, "gradient check compared no coordinate");
    return r;
}

jmp_buf th_error_jmp;
char th_error_msg[1024];

static void capture_error(const char *message, void *ctx) {
    (void)ctx;
    snprintf(th_error_msg, sizeof th_error_msg, "%s", message);
    longjmp(th_error_jmp, 1);
}

void th_expect_error_begin(void) {
    th_error_msg[0] = 0;
    ad_set_error_handler(capture_error, NULL);
}

void th_expect_error_end(const char *file, int line, bool raised, const char *const *needles) {
    ad_set_error_handler(NULL, NULL);
    if (!raised) {
        th_fail(file, line, "expected an error, but the call returned");
        return;
    }
    for (const char *const *n = needles; *n; n++)
        if (!strstr(th_error_msg, *n))
            th_fail(file, line, "error message lacks \"%s\": %s", *n, th_error_msg);
}

void th_fill_uniform(ad_real *x, size_t n, double lo, double hi, uint64_t seed) {
    uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
    for (size_t i = 0; i < n; i++) {
        uint64_t z = (s += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        z ^= z >> 31;
        x[i] = (ad_real)(lo + (hi - lo) * ((double)(z >> 11) * 0x1.0p-53));
    }
}

ad_tensor *th_project(ad_tape *tp, ad_tensor *y, uint64_t seed) {
    ad_tensor *r = ad_input(tp, ad_rows(y), ad_cols(y), NULL);
    th_fill_uniform(ad_data(r), (size_t)ad_rows(y) * (size_t)ad_cols(y), -1, 1, seed);
    return ad_sum(tp, ad_mul(tp, y, r));
}

ad_tensor *th_param(ad_params *ps, const char *name, int rows, int cols, double lo, double hi,
                    uint64_t seed) {
    ad_tensor *t = ad_param(ps, name, rows, cols);
    th_fill_uniform(ad_data(t), (size_t)rows * (size_t)cols, lo, hi, seed);
    return t;
}

const ad_gradcheck_opts th_tight = {.step = 1e-6, .rtol = 1e-7, .atol = 1e-9, .max_coords = 200};

/* Run one case; REQUIRE leaves it by longjmp. Returns true when it passed. */
static bool run_case(const th_case *c) {
    current = c->name;
    current_failures = 0;
    if (setjmp(case_jmp) == 0) c->fn();
    ad_set_error_handler(NULL, NULL);
    return current_failures == 0;
}

int main(int argc, char **argv) {
    const char *prog = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
    const char *filter = argc > 1 ? argv[1] : NULL;
    int passed = 0, failed = 0;
    setvbuf(stdout, NULL, _IOLBF, 0);
    for (int i = 0; i < ncases; i++) {
        if (filter && !strstr(cases[i].name, filter)) continue;
        if (!run_case(&cases[i])) {
            printf("FAIL %s\n", current);
            failed++;
        } else {
            printf("ok   %s\n", current);
            passed++;
        }
    }
    printf("%s: %d passed, %d failed\n", prog, passed, failed);
    return failed ? 1 : 0;
}
