/*
 * common.c — the plumbing every example shares (common.h): failing cleanly, number options,
 * the data cache, progress on stderr, learning curves as CSV and their plots by gnuplot.
 *
 * Nothing here is clever on purpose: an example's own file should show the model, and this file
 * keeps the chores (terminals, clocks, child processes) out of its way.
 */
#include "common.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

const char *ex_program = "example";

/* A progress bar is half-drawn on the terminal: a message must start on a line of its own. */
static bool bar_on_screen;

static void end_bar_line(void) {
    if (bar_on_screen) fputc('\n', stderr);
    bar_on_screen = false;
}

void ex_init(int argc, char **argv) {
    if (argc > 0 && argv[0] && argv[0][0]) {
        const char *slash = strrchr(argv[0], '/');
        ex_program = slash ? slash + 1 : argv[0];
    }
    /* Results go to stdout and progress to stderr: line-buffer stdout so that the two keep
     * their order when both go to one log (the tour pipes them together). */
    setvbuf(stdout, NULL, _IOLBF, 0);
}

static void vnote(const char *fmt, va_list ap) {
    end_bar_line();
    fflush(stdout);
    fprintf(stderr, "%s: ", ex_program);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

static void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void note(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vnote(fmt, ap);
    va_end(ap);
}

void ex_say(const char *fmt, ...) {
    if (bar_on_screen) fputs("\r\033[K", stderr); /* the bar's line, cleared for the message */
    bar_on_screen = false;
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
}

_Noreturn void ex_die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vnote(fmt, ap);
    va_end(ap);
    /* A program stopped by bad input has nothing to clean up: flush what it printed and leave
     * without the atexit handlers (nor LeakSanitizer's audit of what the stack still held). */
    fflush(NULL);
    _exit(1);
}

void ex_check_status(nn_status s) {
    if (s == NN_OK) return;
    const char *msg = nn_last_error();
    if (msg && msg[0]) ex_die("%s", msg);
    ex_die("%s (no message)", nn_status_name(s));
}

/* ------------------------------------------------------------------------ number options ---- */

/* "a whole number >= 1", "a number in [0, 1]": the range part of a parse error. */
static void describe_long_range(char *buf, size_t n, long min, long max) {
    if (min == LONG_MIN && max == LONG_MAX)
        snprintf(buf, n, "a whole number");
    else if (max == LONG_MAX)
        snprintf(buf, n, "a whole number >= %ld", min);
    else if (min == LONG_MIN)
        snprintf(buf, n, "a whole number <= %ld", max);
    else
        snprintf(buf, n, "a whole number in [%ld, %ld]", min, max);
}

long ex_parse_long(const char *option, const char *text, long min, long max) {
    char range[96];
    describe_long_range(range, sizeof range, min, max);
    if (!text) ex_die("%s: a value is missing (%s)", option, range);
    char *end;
    errno = 0;
    const long v = strtol(text, &end, 10);
    /* strtol skips leading blanks; trailing ones are tolerated too (a quoted "10 "). */
    while (end != text && (*end == ' ' || *end == '\t'))
        end++;
    if (end == text || *end != '\0' || errno == ERANGE || v < min || v > max)
        ex_die("%s: '%s' is not %s", option, text, range);
    return v;
}

double ex_parse_double(const char *option, const char *text, double min, double max) {
    char range[128];
    if (isinf(min) && isinf(max))
        snprintf(range, sizeof range, "a number");
    else if (isinf(max))
        snprintf(range, sizeof range, "a number >= %g", min);
    else if (isinf(min))
        snprintf(range, sizeof range, "a number <= %g", max);
    else
        snprintf(range, sizeof range, "a number in [%g, %g]", min, max);
    if (!text) ex_die("%s: a value is missing (%s)", option, range);
    char *end;
    errno = 0;
    const double v = strtod(text, &end);
    while (end != text && (*end == ' ' || *end == '\t'))
        end++;
    /* isfinite: "nan" and "inf" parse, but no option of ours means them. */
    if (end == text || *end != '\0' || errno == ERANGE || !isfinite(v) || v < min || v > max)
        ex_die("%s: '%s' is not %s", option, text, range);
    return v;
}

/* -------------------------------------------------------------------------- data cache ---- */

/* The strings ex_data_path returns live until exit; freed then, so valgrind sees no leak. */
static char **data_paths;
static size_t n_data_paths;

static void free_data_paths(void) {
    for (size_t i = 0; i < n_data_paths; i++)
        free(data_paths[i]);
    free(data_paths);
    data_paths = NULL, n_data_paths = 0;
}

static char *keep_string(const char *a, const char *b, const char *c) {
    const size_t n = strlen(a) + strlen(b) + strlen(c) + 1;
    char *s = malloc(n);
    char **grown = realloc(data_paths, (n_data_paths + 1) * sizeof *data_paths);
    if (!s || !grown) ex_die("out of memory");
    if (!data_paths) atexit(free_data_paths);
    data_paths = grown;
    snprintf(s, n, "%s%s%s", a, b, c);
    return data_paths[n_data_paths++] = s;
}

static bool is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Whether dir is seqgrad's source tree: it holds the header this file implements. */
static bool is_source_root(const char *dir) {
    char probe[PATH_MAX];
    struct stat st;
    return snprintf(probe, sizeof probe, "%s/examples/common.h", dir) < (int)sizeof probe &&
           stat(probe, &st) == 0;
}

/* <repo>/data/cache. The repository is found from the executable (<repo>/<build>/examples/x,
 * the usual layout, which holds even when the tree has moved since it was built), else from the
 * source root meson compiled in (a build directory outside the tree), else the current
 * directory (run from the repository root). */
static const char *default_cache(void) {
    static char cache[PATH_MAX];
    if (cache[0]) return cache;
    char exe[PATH_MAX];
    const ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        for (int up = 0; up < 3; up++) { /* strip the file name, then examples/, then <build>/ */
            char *slash = strrchr(exe, '/');
            if (!slash) break;
            *slash = '\0';
        }
        if (exe[0] && is_source_root(exe) &&
            snprintf(cache, sizeof cache, "%s/data/cache", exe) < (int)sizeof cache)
            return cache;
    }
#ifdef SEQGRAD_SOURCE_ROOT
    if (is_source_root(SEQGRAD_SOURCE_ROOT)) {
        snprintf(cache, sizeof cache, "%s/data/cache", SEQGRAD_SOURCE_ROOT);
        return cache;
    }
#endif
    snprintf(cache, sizeof cache, "data/cache");
    return cache;
}

const char *ex_data_path(const char *name) {
    const char *env = getenv("SEQGRAD_DATA");
    const bool from_env = env && env[0];
    const char *dir = from_env ? env : default_cache();
    const char *where = from_env ? "$SEQGRAD_DATA" : "the data cache";
    const char *path = keep_string(dir, dir[strlen(dir) - 1] == '/' ? "" : "/", name);

    struct stat st;
    if (!is_dir(dir))
        ex_die("%s %s does not exist: run scripts/fetch-data to fill it (it needs %s)", where, dir,
               name);
    if (stat(path, &st) != 0)
        ex_die("%s is not in %s (%s): run scripts/fetch-data to fetch it", name, where, dir);
    if (!S_ISREG(st.st_mode)) ex_die("%s: not a regular file", path);
    if (st.st_size == 0) ex_die("%s: the file is empty: run scripts/fetch-data again", path);
    if (access(path, R_OK) != 0) ex_die("%s: cannot read: %s", path, strerror(errno));
    return path;
}

/* ---------------------------------------------------------------------------- progress ---- */

struct ex_progress {
    char what[64];
    long total;
    double every;   /* seconds between plain lines (not a terminal) */
    bool tty;       /* stderr is a terminal: one line redrawn in place */
    double t_start; /* ex_progress_new */
    double t_shown; /* the last line printed or bar drawn */
    /* Rates and the ETA are measured from the first update, so a resumed run that starts at
     * step 5000 does not count the steps of the run before it. */
    long updates, step0, tokens0, step, tokens;
    double t0, t_last;
    double loss_sum; /* losses since the last line: the line shows their mean */
    long loss_n;
    double loss_shown; /* that mean, kept for the final line */
    bool any_loss;     /* a finite loss was seen: otherwise the field is left out */
};

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* 5.2k, 31.0M, 2.50: a rate in two or three figures. */
static void fmt_si(char *buf, size_t n, double x) {
    if (x < 10)
        snprintf(buf, n, "%.2f", x);
    else if (x < 100)
        snprintf(buf, n, "%.1f", x);
    else if (x < 1e3)
        snprintf(buf, n, "%.0f", x);
    else if (x < 1e6)
        snprintf(buf, n, "%.1fk", x / 1e3);
    else if (x < 1e9)
        snprintf(buf, n, "%.1fM", x / 1e6);
    else
        snprintf(buf, n, "%.1fG", x / 1e9);
}

/* 7s, 1m05s, 2h03m; with tenths under ten seconds when `fine` (a run's length, not an ETA). */
static void fmt_time(char *buf, size_t n, double s, bool fine) {
    if (!(s >= 0)) s = 0;
    if (fine && s < 10)
        snprintf(buf, n, "%.1fs", s);
    else if (s < 60)
        snprintf(buf, n, "%.0fs", floor(s));
    else if (s < 3600)
        snprintf(buf, n, "%dm%02ds", (int)(s / 60), (int)fmod(s, 60));
    else
        snprintf(buf, n, "%dh%02dm", (int)(s / 3600), (int)fmod(s / 60, 60));
}

ex_progress *ex_progress_new(const char *what, long total, double every) {
    ex_progress *p = calloc(1, sizeof *p);
    if (!p) ex_die("out of memory");
    snprintf(p->what, sizeof p->what, "%s", what ? what : "");
    p->total = total > 0 ? total : 0;
    p->every = every > 0 ? every : 10.0;
    p->tty = isatty(STDERR_FILENO);
    p->t_start = p->t_shown = now();
    p->loss_shown = NAN;
    return p;
}

/* The fields after the step count: rate, loss, and elapsed time or ETA. */
static void fmt_fields(const ex_progress *p, char *buf, size_t n, bool final) {
    char rate[32] = "", loss[32] = "", eta[48] = "", t[16];
    const double dt = p->t_last - p->t0;
    const long dsteps = p->step - p->step0;
    /* One update alone has no interval; then count from creation, which a run that starts at
     * step 1 is. */
    const bool from_start = p->updates < 2 || dt <= 0;
    const double span = from_start ? p->t_last - p->t_start : dt;
    const double toks = from_start ? (double)p->tokens : (double)(p->tokens - p->tokens0);
    const double steps = from_start ? (double)p->step : (double)dsteps;
    if (span > 0 && p->tokens > 0) {
        fmt_si(t, sizeof t, toks / span);
        snprintf(rate, sizeof rate, "  %s tok/s", t);
    } else if (span > 0 && steps > 0) {
        fmt_si(t, sizeof t, steps / span);
        snprintf(rate, sizeof rate, "  %s steps/s", t);
    }
    if (p->any_loss) {
        const double l = p->loss_shown, a = fabs(l);
        snprintf(loss, sizeof loss,
                 a > 0 && a < 0.01 ? "  loss %.2e"
                 : a < 1e4         ? "  loss %.3f"
                                   : "  loss %.4g",
                 l);
    }
    if (final) {
        fmt_time(t, sizeof t, p->t_last - p->t_start, true);
        snprintf(eta, sizeof eta, "  in %s", t);
    } else if (p->total > 0 && steps > 0 && span > 0 && p->step < p->total) {
        fmt_time(t, sizeof t, (double)(p->total - p->step) * span / steps, false);
        snprintf(eta, sizeof eta, "  ETA %s", t);
    }
    snprintf(buf, n, "%s%s%s", rate, loss, eta);
}

static void show(ex_progress *p, bool final) {
    if (p->loss_n > 0) p->loss_shown = p->loss_sum / (double)p->loss_n;
    p->loss_sum = 0, p->loss_n = 0;
    p->t_shown = now();

    char fields[160], line[320];
    fmt_fields(p, fields, sizeof fields, final);
    const char *sep = p->what[0] ? " " : "";
    const double frac = p->total > 0 ? fmin(1.0, (double)p->step / (double)p->total) : 0;
    if (p->tty) {
        enum { W = 16 }; /* the bar's width: the whole line fits 80 columns */
        char bar[W + 4] = "";
        if (p->total > 0) {
            const int full = (int)(frac * W);
            bar[0] = '[';
            for (int i = 0; i < W; i++)
                bar[1 + i] = i < full ? '=' : i == full ? '>' : ' ';
            bar[W + 1] = ']', bar[W + 2] = ' ', bar[W + 3] = '\0';
            snprintf(line, sizeof line, "%s%s%s%3d%% %ld/%ld steps%s", p->what, sep, bar,
                     (int)(100 * frac), p->step, p->total, fields);
        } else {
            snprintf(line, sizeof line, "%s%s%ld steps%s", p->what, sep, p->step, fields);
        }
        /* A line longer than the terminal would wrap, and \r would then redraw only its tail. */
        struct winsize ws;
        const int cols =
            ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0 ? ws.ws_col : 80;
        if ((int)strlen(line) > cols - 1) line[cols - 1 > 0 ? cols - 1 : 0] = '\0';
        fflush(stdout);
        fprintf(stderr, "\r%s\033[K%s", line, final ? "\n" : "");
        bar_on_screen = !final;
    } else {
        if (p->total > 0)
            snprintf(line, sizeof line, "%s%s%ld/%ld steps (%d%%)%s", p->what,
                     p->what[0] ? ": " : "", p->step, p->total, (int)(100 * frac), fields);
        else
            snprintf(line, sizeof line, "%s%s%ld steps%s", p->what, p->what[0] ? ": " : "", p->step,
                     fields);
        fflush(stdout);
        fprintf(stderr, "%s%s\n", final ? "done " : "", line);
    }
    fflush(stderr);
}

void ex_progress_update(ex_progress *p, long step, long tokens, double loss) {
    if (!p) return;
    const double t = now();
    if (p->updates == 0) p->step0 = step, p->tokens0 = tokens, p->t0 = t;
    p->updates++;
    p->step = step, p->tokens = tokens, p->t_last = t;
    p->loss_sum += loss, p->loss_n++;
    if (isfinite(loss)) p->any_loss = true;
    /* A terminal is redrawn ten times a second at most; a log gets a line every `every` s. */
    if (t - p->t_shown >= (p->tty ? 0.1 : p->every)) show(p, false);
}

void ex_progress_done(ex_progress *p) {
    if (!p) return;
    if (p->updates == 0) p->t_last = now();
    show(p, true);
    free(p);
}

/* ------------------------------------------------------------------------------- curves ---- */

struct ex_curve {
    FILE *f;
    char *path;
    int ncols;
    bool failed; /* a write failed: said once, then rows are dropped and training goes on */
};

ex_curve *ex_curve_open(const char *csv_path, const char *columns) {
    if (!csv_path || !columns || !columns[0] || strpbrk(columns, "\n\r\""))
        ex_die("ex_curve_open: the columns must be a non-empty comma-separated list of names");
    ex_curve *c = calloc(1, sizeof *c);
    if (!c || !(c->path = strdup(csv_path))) ex_die("out of memory");
    c->ncols = 1;
    for (const char *s = columns; *s; s++)
        c->ncols += *s == ',';
    if (!(c->f = fopen(csv_path, "w"))) ex_die("%s: cannot write: %s", csv_path, strerror(errno));
    if (fprintf(c->f, "%s\n", columns) < 0 || fflush(c->f) != 0)
        ex_die("%s: cannot write: %s", csv_path, strerror(errno));
    return c;
}

void ex_curve_row(ex_curve *c, const double *values) {
    if (!c || c->failed) return;
    /* A value not measured at this row (NAN: a validation loss every 100 steps) is an empty
     * field, which gnuplot reads as missing. */
    for (int i = 0; i < c->ncols; i++) {
        if (i) fputc(',', c->f);
        if (isfinite(values[i]))
            fprintf(c->f, "%.9g", values[i]);
        else if (isinf(values[i]))
            fputs(values[i] > 0 ? "inf" : "-inf", c->f);
    }
    fputc('\n', c->f);
    if (fflush(c->f) != 0 || ferror(c->f)) {
        note("%s: cannot write the learning curve (%s); going on without it", c->path,
             strerror(errno));
        c->failed = true;
    }
}

void ex_curve_close(ex_curve *c) {
    if (!c) return;
    if (fclose(c->f) != 0 && !c->failed)
        note("%s: cannot write the learning curve: %s", c->path, strerror(errno));
    free(c->path);
    free(c);
}

/* -------------------------------------------------------------------------------- plots ---- */

/* Whether an executable named name is on $PATH. */
static bool on_path(const char *name) {
    const char *path = getenv("PATH");
    if (!path || !path[0]) return false;
    char dir[PATH_MAX], full[PATH_MAX];
    while (*path) {
        const size_t n = strcspn(path, ":");
        snprintf(dir, sizeof dir, "%.*s", (int)n, path);
        struct stat st;
        if (snprintf(full, sizeof full, "%s/%s", n ? dir : ".", name) < (int)sizeof full &&
            stat(full, &st) == 0 && S_ISREG(st.st_mode) && access(full, X_OK) == 0)
            return true;
        path += n + (path[n] == ':');
    }
    return false;
}

/* A gnuplot string literal: single quotes, a quote inside doubled. */
static void put_quoted(FILE *f, const char *s) {
    fputc('\'', f);
    for (; *s; s++) {
        if (*s == '\'') fputc('\'', f);
        fputc(*s, f);
    }
    fputc('\'', f);
}

/* Split a comma-separated list in place; trims blanks. Returns the count (at most max). */
static int split_names(char *s, char **out, int max) {
    int n = 0;
    for (char *tok = strtok(s, ","); tok && n < max; tok = strtok(NULL, ",")) {
        while (*tok == ' ' || *tok == '\t')
            tok++;
        char *e = tok + strlen(tok);
        while (e > tok && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r'))
            *--e = 0;
        out[n++] = tok;
    }
    return n;
}

enum { MAX_COLS = 64 };

/* Read the CSV's header, count its rows and find the largest |x| (the first column). Returns
 * false with a note on failure. */
static bool read_header(const char *csv_path, char *header, size_t n, long *rows, double *x_max) {
    FILE *f = fopen(csv_path, "r");
    if (!f) {
        note("%s: cannot read the learning curve to plot it: %s", csv_path, strerror(errno));
        return false;
    }
    const bool ok = fgets(header, (int)n, f) != NULL;
    *rows = 0, *x_max = 0;
    char row[256];
    bool line_start = true;
    while (ok && fgets(row, sizeof row, f)) {
        if (line_start && row[0] != '\n') {
            ++*rows;
            const double x = fabs(strtod(row, NULL));
            if (isfinite(x) && x > *x_max) *x_max = x;
        }
        line_start = strchr(row, '\n') != NULL; /* a row longer than the buffer goes on */
    }
    fclose(f);
    if (!ok) note("%s: empty, no header line: nothing to plot", csv_path);
    return ok;
}

static bool write_script(FILE *f, const char *csv_path, const char *png_path, const char *title,
                         char **cols, const int *ys, int ny, long rows, double x_max) {
    /* pngcairo draws smoother lines and text; plain png (libgd) is the fallback. */
    fputs("if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {\n"
          "    set terminal pngcairo size 900,560 noenhanced font ',11'\n"
          "} else {\n"
          "    set terminal png size 900,560 noenhanced\n"
          "}\n",
          f);
    fputs("set output ", f), put_quoted(f, png_path), fputc('\n', f);
    fputs("set datafile separator ','\n", f);
    fputs("set title ", f), put_quoted(f, title ? title : ""), fputs(" noenhanced\n", f);
    fputs("set xlabel ", f), put_quoted(f, cols[0]), fputs(" noenhanced\n", f);
    fputs("set ylabel ", f), put_quoted(f, ny == 1 ? cols[ys[0]] : ""), fputs(" noenhanced\n", f);
    fputs("set grid\nset key top right noenhanced\nset autoscale xfixmin\nset autoscale xfixmax\n",
          f);
    /* Words or pairs trained run to millions: 500k, 1.5M rather than 1.5e+06. */
    if (x_max >= 1e5) fputs("set format x '%.1s%c'\n", f);
    /* Points where a column has no value (empty fields) are skipped, the line drawn through. */
    fputs("set datafile missing ''\n", f);
    /* Points marked where there are few (a short run's curve), a plain line through many. */
    const double pointsize = rows <= 60 ? 1.2 : 0.4;
    fputs("plot ", f);
    for (int k = 0; k < ny; k++) {
        if (k) fputs(", \\\n     ", f);
        put_quoted(f, k ? "" : csv_path);
        fprintf(f,
                " skip 1 using 1:%d with linespoints pointtype 7 pointsize %.1f linewidth 2 title ",
                ys[k] + 1, pointsize);
        put_quoted(f, cols[ys[k]]);
    }
    fputc('\n', f);
    return !ferror(f);
}

/* Run gnuplot on a script file. Returns its exit status, or -1 when it could not be run. */
static int run_gnuplot(const char *script) {
    fflush(NULL);
    const pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        const int devnull = open("/dev/null", O_RDWR);
        if (devnull >= 0) dup2(devnull, STDIN_FILENO), dup2(devnull, STDOUT_FILENO);
        execlp("gnuplot", "gnuplot", script, (char *)NULL);
        _exit(127);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int ex_plot(const char *csv_path, const char *png_path, const char *title, const char *y_columns) {
    static bool said_install;
    if (!on_path("gnuplot")) {
        if (!said_install)
            note("no plot of %s: install gnuplot-nox for plots (sudo apt-get install gnuplot-nox)",
                 csv_path);
        said_install = true;
        return 1;
    }

    char header[1024], wanted[1024];
    long rows;
    double x_max;
    if (!read_header(csv_path, header, sizeof header, &rows, &x_max)) return -1;
    if (rows == 0) {
        note("%s: no rows yet: nothing to plot", csv_path);
        return -1;
    }
    char *cols[MAX_COLS], *names[MAX_COLS];
    const int ncols = split_names(header, cols, MAX_COLS);
    snprintf(wanted, sizeof wanted, "%s", y_columns ? y_columns : "");
    const int nnames = split_names(wanted, names, MAX_COLS);
    int ys[MAX_COLS];
    for (int k = 0; k < nnames; k++) {
        ys[k] = -1;
        for (int i = 1; i < ncols; i++)
            if (strcmp(names[k], cols[i]) == 0) ys[k] = i;
        if (ys[k] < 0) {
            char have[1024] = "";
            for (int i = 0; i < ncols; i++)
                snprintf(have + strlen(have), sizeof have - strlen(have), "%s%s", i ? ", " : "",
                         cols[i]);
            note("%s: no column '%s' to plot (it has: %s)", csv_path, names[k], have);
            return -1;
        }
    }
    if (nnames == 0) {
        note("ex_plot: no columns named to plot from %s", csv_path);
        return -1;
    }

    const char *tmp = getenv("TMPDIR");
    char script[PATH_MAX];
    snprintf(script, sizeof script, "%s/seqgrad-plot-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
    const int fd = mkstemp(script);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f) {
        note("cannot write a gnuplot script in %s: %s", script, strerror(errno));
        if (fd >= 0) close(fd), unlink(script);
        return -1;
    }
    const bool written =
        write_script(f, csv_path, png_path, title, cols, ys, nnames, rows, x_max) && fclose(f) == 0;
    if (!written) {
        note("%s: cannot write the gnuplot script", script);
        unlink(script);
        return -1;
    }
    unlink(png_path); /* so that an old image is never taken for the new one */
    const int status = run_gnuplot(script);
    unlink(script);
    struct stat st;
    if (status != 0 || stat(png_path, &st) != 0 || st.st_size == 0) {
        note("gnuplot failed to draw %s from %s (exit status %d)", png_path, csv_path, status);
        return -1;
    }
    return 0;
}
