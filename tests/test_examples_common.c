/*
 * test_examples_common.c — the examples' shared plumbing (examples/common.c): option parsing and
 * its messages, the data cache's paths and failures, the progress line on a terminal (a pty) and
 * in a log, learning curves, and gnuplot's image of one.
 *
 * What ends the program (ex_die and the parsers' errors) runs in a child process whose stderr is
 * captured, so that a case can check the exit status and the message.
 */
#include "common.h"
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

/* ---------------------------------------------------------------------------- helpers ---- */

/* What a child printed on stdout and stderr (merged), and how it ended. */
typedef struct {
    char out[16384];
    int status; /* exit status; 128 + signal when killed */
} child_result;

typedef void (*child_fn)(void *ctx);

static void read_all(int fd, char *buf, size_t cap) {
    size_t n = 0;
    for (;;) {
        const ssize_t r = read(fd, buf + n, cap - 1 - n);
        if (r > 0 && n + (size_t)r < cap - 1)
            n += (size_t)r;
        else if (r > 0) {
            n = cap - 1;
            break;
        } else if (r < 0 && errno == EINTR)
            continue;
        else
            break; /* EOF, or EIO once a pty's slave side has closed */
    }
    buf[n] = '\0';
}

static int wait_child(pid_t pid) {
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* Run fn(ctx) in a child with stdout and stderr on a pipe, or on a terminal `cols` wide when
 * cols > 0 (NULL, with a note, when the machine has no pseudo-terminals). The child exits 0 when
 * fn returns. */
static child_result *run_child(child_fn fn, void *ctx, int cols) {
    static child_result r;
    int rd = -1, wr = -1;
    char slave[64] = "";
    if (cols > 0) {
        rd = posix_openpt(O_RDWR | O_NOCTTY);
        if (rd < 0 || grantpt(rd) != 0 || unlockpt(rd) != 0) {
            th_note("no pseudo-terminal here (%s): the terminal's form is not checked",
                    strerror(errno));
            if (rd >= 0) close(rd);
            return NULL;
        }
        snprintf(slave, sizeof slave, "%s", ptsname(rd));
        struct winsize ws = {.ws_row = 24, .ws_col = (unsigned short)cols};
        ioctl(rd, TIOCSWINSZ, &ws);
    } else {
        int fds[2];
        REQUIRE(pipe(fds) == 0);
        rd = fds[0], wr = fds[1];
    }
    fflush(NULL);
    const pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        if (cols > 0) {
            wr = open(slave, O_RDWR | O_NOCTTY);
            if (wr < 0) _exit(99);
            struct termios tio; /* no "\n" to "\r\n": the bytes as written */
            if (tcgetattr(wr, &tio) == 0)
                tio.c_oflag &= ~(tcflag_t)OPOST, tcsetattr(wr, TCSANOW, &tio);
        }
        close(rd);
        dup2(wr, STDOUT_FILENO), dup2(wr, STDERR_FILENO);
        close(wr);
        fn(ctx);
        fflush(NULL);
        _exit(0);
    }
    if (wr >= 0) close(wr);
    read_all(rd, r.out, sizeof r.out);
    close(rd);
    r.status = wait_child(pid);
    return &r;
}

/* Printable even when NULL (gcc's -Wformat-overflow cannot tell that it never is here). */
static const char *shown(const char *s) { return s ? s : "(null)"; }
#define CHECK_HAS(text, needle)                                                                    \
    CHECK_MSG(strstr((text), (needle)) != NULL, "output lacks \"%s\": %s", shown(needle),        \
              shown(text))
#define CHECK_LACKS(text, needle)                                                                  \
    CHECK_MSG(strstr((text), (needle)) == NULL, "output has \"%s\": %s", shown(needle),          \
              shown(text))

/* snprintf into an array, failing the case when the text does not fit. */
#define PATHF(buf, ...) REQUIRE(snprintf((buf), sizeof(buf), __VA_ARGS__) < (int)sizeof(buf))

static int count_char(const char *s, char c) {
    int n = 0;
    for (; *s; s++)
        n += *s == c;
    return n;
}

static void sleep_s(double s) {
    struct timespec ts = {.tv_sec = (time_t)s, .tv_nsec = (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* A fresh directory under $TMPDIR (or /tmp); the case removes what it made. */
static const char *temp_dir(void) {
    static char dir[PATH_MAX];
    const char *tmp = getenv("TMPDIR");
    PATHF(dir, "%s/seqgrad-common-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
    REQUIRE(mkdtemp(dir) != NULL);
    return dir;
}

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    REQUIRE(f != NULL);
    fputs(text, f);
    REQUIRE(fclose(f) == 0);
}

static char *slurp(const char *path) {
    static char buf[16384];
    FILE *f = fopen(path, "r");
    if (!f) return NULL;
    const size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* ---------------------------------------------------------------- messages and options ---- */

TEST(init_names_the_program_by_its_base_name) {
    char arg0[] = "/some/where/build/examples/rnn_lm";
    char *argv[] = {arg0, NULL};
    ex_init(1, argv);
    CHECK(strcmp(ex_program, "rnn_lm") == 0);
    char plain[] = "tagger";
    argv[0] = plain;
    ex_init(1, argv);
    CHECK(strcmp(ex_program, "tagger") == 0);
}

static void die_with_number(void *ctx) {
    (void)ctx;
    ex_die("cannot do %s %d", "this", 42);
}

TEST(die_prints_the_program_and_exits_1) {
    ex_program = "prog";
    child_result *r = run_child(die_with_number, NULL, 0);
    CHECK(r->status == 1);
    CHECK_MSG(strcmp(r->out, "prog: cannot do this 42\n") == 0, "got \"%s\"", r->out);
}

static void check_ok_then_fail(void *ctx) {
    (void)ctx;
    ex_check_status(NN_OK); /* returns */
    ex_check_status(nn_set_error(NN_ERR_FORMAT, "model.ckpt: not a checkpoint of rnn_lm"));
    puts("still running"); /* never reached */
}

static void check_without_message(void *ctx) {
    (void)ctx;
    nn_set_error(NN_ERR_IO, "%s", "");
    ex_check_status(NN_ERR_IO);
}

TEST(check_status_dies_with_the_last_error) {
    ex_program = "prog";
    child_result *r = run_child(check_ok_then_fail, NULL, 0);
    CHECK(r->status == 1);
    CHECK_MSG(strcmp(r->out, "prog: model.ckpt: not a checkpoint of rnn_lm\n") == 0, "got \"%s\"",
              r->out);
    r = run_child(check_without_message, NULL, 0);
    CHECK(r->status == 1);
    CHECK_HAS(r->out, "NN_ERR_IO");
}

TEST(parse_long_accepts_numbers_in_range) {
    CHECK(ex_parse_long("--steps", "1", 1, LONG_MAX) == 1);
    CHECK(ex_parse_long("--steps", "2700", 1, LONG_MAX) == 2700);
    CHECK(ex_parse_long("--steps", " 12 ", 1, 100) == 12);
    CHECK(ex_parse_long("--seed", "-5", LONG_MIN, LONG_MAX) == -5);
    CHECK(ex_parse_long("--layers", "4", 1, 4) == 4);
    CHECK(ex_parse_long("--big", "9223372036854775807", 0, LONG_MAX) == LONG_MAX);
}

typedef struct {
    const char *text;
    long min, max;
    double dmin, dmax;
    bool real;
} parse_case;

static void parse_in_child(void *ctx) {
    const parse_case *c = ctx;
    if (c->real)
        printf("parsed %g\n", ex_parse_double("--lr", c->text, c->dmin, c->dmax));
    else
        printf("parsed %ld\n", ex_parse_long("--steps", c->text, c->min, c->max));
}

TEST(parse_long_rejects_with_the_option_and_range) {
    ex_program = "prog";
    const struct {
        const char *text;
        long min, max;
        const char *want;
    } bad[] = {
        {"x", 1, LONG_MAX, "prog: --steps: 'x' is not a whole number >= 1\n"},
        {"0", 1, LONG_MAX, "prog: --steps: '0' is not a whole number >= 1\n"},
        {"", 1, LONG_MAX, "prog: --steps: '' is not a whole number >= 1\n"},
        {"12k", 1, LONG_MAX, "prog: --steps: '12k' is not a whole number >= 1\n"},
        {"1.5", 1, LONG_MAX, "prog: --steps: '1.5' is not a whole number >= 1\n"},
        {"5", 1, 4, "prog: --steps: '5' is not a whole number in [1, 4]\n"},
        {"99999999999999999999", 0, LONG_MAX,
         "prog: --steps: '99999999999999999999' is not a whole number >= 0\n"},
        {"7", LONG_MIN, 3, "prog: --steps: '7' is not a whole number <= 3\n"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        parse_case c = {.text = bad[i].text, .min = bad[i].min, .max = bad[i].max};
        child_result *r = run_child(parse_in_child, &c, 0);
        CHECK_MSG(r->status == 1, "'%s': exit status %d", bad[i].text, r->status);
        CHECK_MSG(strcmp(r->out, bad[i].want) == 0, "'%s': got \"%s\"", bad[i].text, r->out);
    }
}

TEST(parse_double_accepts_and_rejects) {
    CHECK(ex_parse_double("--lr", "0.025", 0, 1) == 0.025);
    CHECK(ex_parse_double("--lr", "1e-3", 0, 1) == 1e-3);
    CHECK(ex_parse_double("--temperature", "2", 0, HUGE_VAL) == 2.0);
    CHECK(ex_parse_double("--x", "-1.5", -HUGE_VAL, HUGE_VAL) == -1.5);
    ex_program = "prog";
    const struct {
        const char *text;
        double min, max;
        const char *want;
    } bad[] = {
        {"fast", 0, 1, "prog: --lr: 'fast' is not a number in [0, 1]\n"},
        {"1.5", 0, 1, "prog: --lr: '1.5' is not a number in [0, 1]\n"},
        {"nan", 0, 1, "prog: --lr: 'nan' is not a number in [0, 1]\n"},
        {"inf", 0, HUGE_VAL, "prog: --lr: 'inf' is not a number >= 0\n"},
        {"1e999", -HUGE_VAL, HUGE_VAL, "prog: --lr: '1e999' is not a number\n"},
        {"0.1x", 0, 1, "prog: --lr: '0.1x' is not a number in [0, 1]\n"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        parse_case c = {.text = bad[i].text, .dmin = bad[i].min, .dmax = bad[i].max, .real = true};
        child_result *r = run_child(parse_in_child, &c, 0);
        CHECK_MSG(r->status == 1, "'%s': exit status %d", bad[i].text, r->status);
        CHECK_MSG(strcmp(r->out, bad[i].want) == 0, "'%s': got \"%s\"", bad[i].text, r->out);
    }
}

/* ----------------------------------------------------------------------------- the cache ---- */

static void data_path_in_child(void *ctx) {
    printf("%s\n", ex_data_path(ctx));
}

TEST(data_path_uses_seqgrad_data) {
    const char *dir = temp_dir();
    char file[PATH_MAX + 16], empty[PATH_MAX + 16], want[PATH_MAX + 32], slash[PATH_MAX + 2];
    PATHF(file, "%s/kjv.txt", dir);
    PATHF(empty, "%s/moby.txt", dir);
    write_file(file, "in the beginning\n");
    write_file(empty, "");
    ex_program = "prog";
    setenv("SEQGRAD_DATA", dir, 1);

    CHECK(strcmp(ex_data_path("kjv.txt"), file) == 0);
    PATHF(slash, "%s/", dir); /* a trailing slash makes no "//" */
    setenv("SEQGRAD_DATA", slash, 1);
    CHECK(strcmp(ex_data_path("kjv.txt"), file) == 0);
    setenv("SEQGRAD_DATA", dir, 1);

    child_result *r = run_child(data_path_in_child, "sotu.txt", 0);
    CHECK(r->status == 1);
    PATHF(want, "prog: sotu.txt is not in $SEQGRAD_DATA (%s): run scripts/fetch-data", dir);
    CHECK_HAS(r->out, want);

    r = run_child(data_path_in_child, "moby.txt", 0);
    CHECK(r->status == 1);
    CHECK_HAS(r->out, empty);
    CHECK_HAS(r->out, "empty");

    char gone[PATH_MAX + 16];
    PATHF(gone, "%s/nowhere", dir);
    setenv("SEQGRAD_DATA", gone, 1);
    r = run_child(data_path_in_child, "kjv.txt", 0);
    CHECK(r->status == 1);
    CHECK_HAS(r->out, gone);
    CHECK_HAS(r->out, "does not exist: run scripts/fetch-data");

    unsetenv("SEQGRAD_DATA");
    unlink(file), unlink(empty), rmdir(dir);
}

TEST(data_path_defaults_to_the_repository_cache) {
    /* This program runs from <repo>/<build>/tests/, as the examples run from <build>/examples/:
     * the cache is found at <repo>/data/cache whether or not it has been fetched yet. */
    unsetenv("SEQGRAD_DATA");
    ex_program = "prog";
    child_result *r = run_child(data_path_in_child, "no-such-corpus.txt", 0);
    CHECK(r->status == 1);
    CHECK_HAS(r->out, "/data/cache");
    CHECK_HAS(r->out, "run scripts/fetch-data");
    CHECK_MSG(r->out[strlen("prog: ")] != '\0', "got \"%s\"", r->out);
    char exe[PATH_MAX];
    const ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    REQUIRE(n > 0);
    exe[n] = '\0';
    for (int up = 0; up < 3; up++)
        *strrchr(exe, '/') = '\0';
    char want[PATH_MAX + 16], probe[PATH_MAX + 32];
    PATHF(probe, "%s/examples/common.h", exe);
    if (access(probe, F_OK) != 0) { /* a build directory outside the tree */
        th_note("built outside the source tree: the cache's exact path is not checked");
        return;
    }
    PATHF(want, "%s/data/cache", exe);
    CHECK_HAS(r->out, want);
}

/* ------------------------------------------------------------------------------ progress ---- */

typedef struct {
    long total, steps;
    double every, pause; /* seconds between updates */
    long tokens_per_step;
    bool die_midway;
} progress_case;

static void progress_in_child(void *ctx) {
    const progress_case *c = ctx;
    ex_program = "prog";
    ex_progress *p = ex_progress_new("train", c->total, c->every);
    for (long s = 1; s <= c->steps; s++) {
        if (c->pause > 0) sleep_s(c->pause);
        ex_progress_update(p, s, s * c->tokens_per_step, 5.0 - 0.1 * (double)s);
        if (c->die_midway && s == c->steps / 2) ex_die("stopped at step %ld", s);
    }
    ex_progress_done(p);
}

TEST(progress_in_a_log_is_one_plain_line_per_period) {
    /* every = 1 ns: a line per update, the form of a log line. */
    progress_case c = {
        .total = 10, .steps = 10, .every = 1e-9, .pause = 0.001, .tokens_per_step = 640};
    child_result *r = run_child(progress_in_child, &c, 0);
    CHECK(r->status == 0);
    CHECK_MSG(count_char(r->out, '\n') == 11, "%d lines: %s", count_char(r->out, '\n'), r->out);
    CHECK_LACKS(r->out, "\r");
    CHECK_LACKS(r->out, "\033");
    CHECK_HAS(r->out, "train: 3/10 steps (30%)");
    CHECK_HAS(r->out, "tok/s");
    CHECK_HAS(r->out, "ETA");
    CHECK_HAS(r->out, "loss 4.700"); /* step 3's loss: the mean of one */
    CHECK_HAS(r->out, "done train: 10/10 steps (100%)");
    CHECK_HAS(r->out, "loss 4.000  in "); /* the last loss; the run's length */
    const char *last = strstr(r->out, "done ");
    CHECK_MSG(last && strstr(last, " in ") && !strstr(last, "ETA"), "last line: %s", last);
}

TEST(progress_in_a_log_never_floods) {
    /* 2000 updates within a period of an hour: the final line alone, with the mean loss of all
     * the updates since the last line. */
    progress_case c = {.total = 2000, .steps = 2000, .every = 3600, .tokens_per_step = 0};
    child_result *r = run_child(progress_in_child, &c, 0);
    CHECK(r->status == 0);
    CHECK_MSG(count_char(r->out, '\n') == 1, "%s", r->out);
    CHECK_HAS(r->out, "done train: 2000/2000 steps (100%)");
    CHECK_HAS(r->out, "steps/s"); /* no tokens counted: steps per second instead */
    CHECK_LACKS(r->out, "tok/s");
    CHECK_HAS(r->out, "loss -95.050"); /* mean of 5 - 0.1 s over s = 1..2000 */
}

static void progress_resumed(void *ctx) {
    (void)ctx;
    ex_progress *p = ex_progress_new("train", 2000, 1e-9);
    for (long s = 1001; s <= 1011; s++) {
        sleep_s(0.01);
        ex_progress_update(p, s, 0, 1.0);
    }
    ex_progress_done(p);
}

TEST(progress_of_a_resumed_run_measures_its_own_steps) {
    /* Steps 1001..1011 at ~100 steps/s: 989 to go is ~10 s. Counting the 1000 steps of the run
     * before as this run's would make it look 100 times faster, "ETA 0s". */
    child_result *r = run_child(progress_resumed, NULL, 0);
    CHECK(r->status == 0);
    const char *line = strstr(r->out, "1010/2000 steps");
    REQUIRE(line != NULL);
    const char *eta = strstr(line, "ETA ");
    REQUIRE(eta != NULL);
    const int secs = atoi(eta + 4);
    CHECK_MSG(secs >= 4 && secs <= 120, "%.*s", (int)strcspn(line, "\n"), line);
}

TEST(progress_with_an_unknown_total) {
    progress_case c = {.total = 0, .steps = 5, .every = 1e-9, .pause = 0.001};
    child_result *r = run_child(progress_in_child, &c, 0);
    CHECK(r->status == 0);
    CHECK_HAS(r->out, "train: 2 steps");
    CHECK_LACKS(r->out, "ETA");
    CHECK_LACKS(r->out, "%");
}

static void progress_without_loss(void *ctx) {
    (void)ctx;
    ex_progress *p = ex_progress_new("count", 3, 1e-9);
    for (long s = 1; s <= 3; s++)
        ex_progress_update(p, s, 1000 * s, NAN);
    ex_progress_done(p);
}

TEST(progress_leaves_out_a_loss_never_given) {
    child_result *r = run_child(progress_without_loss, NULL, 0);
    CHECK(r->status == 0);
    CHECK_LACKS(r->out, "loss");
    CHECK_HAS(r->out, "done count: 3/3 steps (100%)");
}

TEST(progress_on_a_terminal_redraws_one_line) {
    progress_case c = {
        .total = 40, .steps = 40, .every = 1e-9, .pause = 0.012, .tokens_per_step = 5200};
    child_result *r = run_child(progress_in_child, &c, 100);
    if (!r) return;
    CHECK(r->status == 0);
    /* Redrawn in place with \r, at most ten times a second: about 0.5 s of updates gives a
     * handful of frames, not 40, and a single newline, the final one. */
    const int frames = count_char(r->out, '\r');
    CHECK_MSG(frames >= 2 && frames <= 9, "%d frames: %s", frames, r->out);
    CHECK_MSG(count_char(r->out, '\n') == 1, "%s", r->out);
    CHECK(r->out[strlen(r->out) - 1] == '\n');
    CHECK_HAS(r->out, "train [");
    CHECK_HAS(r->out, "] 100% 40/40 steps");
    CHECK_HAS(r->out, "k tok/s");
    CHECK_HAS(r->out, "ETA");
    CHECK_HAS(r->out, "\033[K"); /* clears what a longer previous frame left */
    /* Every frame has a bar 16 wide, "[" + 16 + "]", and fits 80 columns. */
    const char *b = strstr(r->out, "[");
    REQUIRE(b != NULL);
    CHECK(b[17] == ']');
    for (char *f = r->out; (f = strchr(f, '\r')) != NULL;) {
        f++;
        const size_t len = strcspn(f, "\033\r\n");
        CHECK_MSG(len <= 79, "a frame of %zu columns: \"%.*s\"", len, (int)len, f);
    }
}

TEST(progress_on_a_narrow_terminal_fits_the_width) {
    progress_case c = {
        .total = 30, .steps = 30, .every = 1e-9, .pause = 0.012, .tokens_per_step = 5200};
    child_result *r = run_child(progress_in_child, &c, 40);
    if (!r) return;
    CHECK(r->status == 0);
    /* A frame wider than the terminal would wrap, and \r would then redraw only its tail. */
    for (char *s = r->out; (s = strchr(s, '\r')) != NULL;) {
        s++;
        const size_t len = strcspn(s, "\033\r\n");
        CHECK_MSG(len <= 39, "a frame of %zu columns: \"%.*s\"", len, (int)len, s);
    }
}

TEST(die_during_a_progress_bar_starts_a_new_line) {
    progress_case c = {.total = 20, .steps = 20, .every = 1e-9, .pause = 0.02, .die_midway = true};
    child_result *r = run_child(progress_in_child, &c, 100);
    if (!r) return;
    CHECK(r->status == 1);
    CHECK_HAS(r->out, "\nprog: stopped at step 10\n");
}

/* -------------------------------------------------------------------------------- curves ---- */

TEST(curve_writes_a_header_and_flushed_rows) {
    const char *dir = temp_dir();
    char csv[PATH_MAX + 16];
    PATHF(csv, "%s/curve.csv", dir);
    ex_curve *c = ex_curve_open(csv, "step,train_loss,valid_loss");
    ex_curve_row(c, (double[]){1, 4.5, NAN});
    ex_curve_row(c, (double[]){2, 0.123456789012, 3.25});
    /* Read before the close: the rows are on disk already. */
    char *text = slurp(csv);
    REQUIRE(text != NULL);
    CHECK_MSG(strcmp(text, "step,train_loss,valid_loss\n1,4.5,\n2,0.123456789,3.25\n") == 0,
              "got \"%s\"", text);
    ex_curve_close(c);
    ex_curve_close(NULL);
    unlink(csv), rmdir(dir);
}

static void curve_in_missing_dir(void *ctx) {
    ex_curve_open(ctx, "step,loss");
}

TEST(curve_open_dies_naming_the_file) {
    ex_program = "prog";
    child_result *r = run_child(curve_in_missing_dir, "/nonexistent-dir/curve.csv", 0);
    CHECK(r->status == 1);
    CHECK_HAS(r->out, "prog: /nonexistent-dir/curve.csv: cannot write: No such file");
}

/* --------------------------------------------------------------------------------- plots ---- */

static bool have_gnuplot(void) {
    return system("command -v gnuplot >/dev/null 2>&1") == 0;
}

/* The width and height of a PNG from its IHDR chunk; false when the file is not a PNG. */
static bool png_size(const char *path, unsigned *w, unsigned *h) {
    unsigned char b[24];
    FILE *f = fopen(path, "rb");
    if (!f) return false;
    const size_t n = fread(b, 1, sizeof b, f);
    fclose(f);
    if (n < 24 || memcmp(b, "\x89PNG\r\n\x1a\n", 8) != 0 || memcmp(b + 12, "IHDR", 4) != 0)
        return false;
    *w = (unsigned)b[16] << 24 | (unsigned)b[17] << 16 | (unsigned)b[18] << 8 | b[19];
    *h = (unsigned)b[20] << 24 | (unsigned)b[21] << 16 | (unsigned)b[22] << 8 | b[23];
    return true;
}

static void write_curve(const char *csv) {
    ex_curve *c = ex_curve_open(csv, "step,train loss,valid 'ppl'");
    for (int s = 1; s <= 50; s++)
        ex_curve_row(c, (double[]){s, 4.0 * exp(-s / 15.0) + 1.0,
                                   s % 10 ? NAN : 4.2 * exp(-s / 17.0) + 1.2});
    ex_curve_close(c);
}

typedef struct {
    const char *csv, *png, *columns;
} plot_case;

static void plot_in_child(void *ctx) {
    const plot_case *c = ctx;
    printf("returned %d\n", ex_plot(c->csv, c->png, "t", c->columns));
}

TEST(plot_draws_a_png_with_gnuplot) {
    if (!have_gnuplot()) {
        th_note("gnuplot is not installed (apt-get install gnuplot-nox): the image is not checked");
        return;
    }
    const char *dir = temp_dir();
    char csv[PATH_MAX + 16], png[PATH_MAX + 16];
    PATHF(csv, "%s/curve.csv", dir);
    PATHF(png, "%s/it's a curve.png", dir); /* a quote in the path */
    write_curve(csv);
    CHECK(ex_plot(csv, png, "a test curve", "train loss, valid 'ppl'") == 0);
    unsigned w = 0, h = 0;
    CHECK(png_size(png, &w, &h));
    CHECK_MSG(w == 900 && h == 560, "%ux%u", w, h);
    /* A column the CSV does not have: -1 and a note, no image. */
    unlink(png);
    ex_program = "prog";
    plot_case c = {csv, png, "test_loss"};
    child_result *r = run_child(plot_in_child, &c, 0);
    CHECK_HAS(r->out, "no column 'test_loss' to plot (it has: step, train loss, valid 'ppl')");
    CHECK_HAS(r->out, "returned -1");
    CHECK(access(png, F_OK) != 0);
    /* A header and no rows: nothing to draw. */
    ex_curve_close(ex_curve_open(csv, "step,loss"));
    c.columns = "loss";
    r = run_child(plot_in_child, &c, 0);
    CHECK_HAS(r->out, "no rows yet: nothing to plot");
    CHECK_HAS(r->out, "returned -1");
    unlink(csv), unlink(png), rmdir(dir);
}

static void plot_without_gnuplot(void *ctx) {
    setenv("PATH", ctx, 1);
    printf("returned %d\n", ex_plot("curve.csv", "curve.png", "t", "loss"));
    printf("returned %d\n", ex_plot("curve.csv", "curve.png", "t", "loss"));
}

TEST(plot_without_gnuplot_says_how_to_get_it) {
    const char *dir = temp_dir(); /* an empty directory as the whole PATH */
    ex_program = "prog";
    child_result *r = run_child(plot_without_gnuplot, (void *)dir, 0);
    CHECK(r->status == 0);
    CHECK_HAS(r->out, "install gnuplot-nox for plots");
    CHECK_HAS(r->out, "returned 1\nreturned 1\n");
    /* Said once, not once per plot. */
    const char *first = strstr(r->out, "for plots");
    CHECK(first && !strstr(first + 1, "for plots"));
    rmdir(dir);
}
