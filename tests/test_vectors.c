/*
 * test_vectors.c — models/vectors.c: the three file formats round trip (bit-exact), every kind of
 * malformed file is refused with a message naming the line, and nearest neighbours, 3CosAdd
 * analogies and the questions-words evaluation give the answers worked out by hand.
 */
#include "harness.h"
#include "vectors.h"

#include <ftw.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

/* ------------------------------------------------------------- helpers ---- */

static char tmpdir[256];

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}
static void remove_tmpdir(void) { nftw(tmpdir, remove_entry, 8, FTW_DEPTH | FTW_PHYS); }

static const char *tmp_path(const char *name) {
    static char buf[4][512];
    static int k;
    if (!tmpdir[0]) {
        const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
        snprintf(tmpdir, sizeof tmpdir, "%s/test_vectors.XXXXXX", base);
        if (!mkdtemp(tmpdir)) {
            perror("mkdtemp");
            exit(2);
        }
        atexit(remove_tmpdir);
    }
    char *b = buf[k++ % 4];
    snprintf(b, sizeof buf[0], "%s/%s", tmpdir, name);
    return b;
}

static const char *write_file(const char *name, const void *data, size_t n) {
    const char *path = tmp_path(name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, n, f) != n || fclose(f) != 0) {
        perror(path);
        exit(2);
    }
    return path;
}
static const char *write_text(const char *name, const char *text) {
    return write_file(name, text, strlen(text));
}

static size_t read_file(const char *path, unsigned char *buf, size_t cap) {
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    size_t n = fread(buf, 1, cap, f);
    fclose(f);
    return n;
}

/* A table of n words of dim d from doubles. */
static wv_table make(int n, int d, const char *const *words, const double *v) {
    ad_real vec[64];
    REQUIRE((size_t)n * (size_t)d <= sizeof vec / sizeof vec[0]);
    for (int k = 0; k < n * d; k++) vec[k] = (ad_real)v[k];
    wv_table t;
    REQUIRE(wv_table_make(&t, n, d, words, vec) == NN_OK);
    return t;
}

static bool same_table(const wv_table *a, const wv_table *b) {
    if (a->n != b->n || a->dim != b->dim) return false;
    for (int i = 0; i < a->n; i++)
        if (strcmp(a->words[i], b->words[i]) != 0) return false;
    return memcmp(a->vec, b->vec, (size_t)a->n * (size_t)a->dim * sizeof(float)) == 0;
}

/* Values whose float32 bits must survive: signs, a denormal, extremes, a long mantissa. */
static wv_table awkward_table(void) {
    static const char *const words[] = {"the", "café", "a-b_c", "x"};
    wv_table t;
    const ad_real zero[4 * 3] = {0};
    REQUIRE(wv_table_make(&t, 4, 3, words, zero) == NN_OK);
    const float v[12] = {0.1f, -0.0f, 3.14159274f, 1e-40f, -1e-38f, 3.4e38f,
                         -123456.789f, 1.0f / 3.0f, 2.5e-7f, -0.999999940f, 65504.0f, 7.0f};
    memcpy(t.vec, v, sizeof v);
    return t;
}

static void expect_load_error(const char *path, wv_format f, nn_status want, const char *a,
                              const char *b) {
    wv_table t;
    nn_status s = wv_load(path, f, 0, &t);
    CHECK_MSG(s == want, "%s: status %s, want %s (%s)", path, nn_status_name(s),
              nn_status_name(want), nn_last_error());
    CHECK(t.n == 0 && t.words == NULL && t.vec == NULL);
    CHECK_MSG(strstr(nn_last_error(), path) != NULL, "message lacks the path: %s", nn_last_error());
    if (a) CHECK_MSG(strstr(nn_last_error(), a) != NULL, "lacks \"%s\": %s", a, nn_last_error());
    if (b) CHECK_MSG(strstr(nn_last_error(), b) != NULL, "lacks \"%s\": %s", b, nn_last_error());
}

/* ---------------------------------------------------------------- table ---- */

TEST(table_make_copies_and_finds) {
    const char *words[] = {"alpha", "beta"};
    ad_real v[4] = {1, 2, 3, 4};
    wv_table t;
    REQUIRE(wv_table_make(&t, 2, 2, words, v) == NN_OK);
    v[0] = 9;
    CHECK(t.n == 2 && t.dim == 2);
    CHECK(t.vec[0] == 1.0f && t.vec[3] == 4.0f);
    CHECK(t.words[0] != words[0] && strcmp(t.words[1], "beta") == 0);
    CHECK(wv_table_find(&t, "beta") == 1);
    CHECK(wv_table_find(&t, "gamma") == -1);
    wv_table_free(&t);
    CHECK(t.n == 0 && t.words == NULL);
    wv_table_free(&t); /* twice is harmless */
    EXPECT_ERROR(wv_table_make(&t, 2, 0, words, v), "wv_table_make", "dim 0");
}

/* ----------------------------------------------------------- round trips ---- */

TEST(word2vec_text_round_trip_is_bit_exact) {
    wv_table t = awkward_table(), u;
    const char *path = tmp_path("rt.txt");
    REQUIRE(wv_save(&t, path, WV_WORD2VEC_TEXT) == NN_OK);
    unsigned char buf[512];
    size_t n = read_file(path, buf, sizeof buf - 1);
    buf[n] = 0;
    CHECK(strncmp((char *)buf, "4 3\nthe 0.100000001 -0 3.14159274\n", 34) == 0);
    REQUIRE(wv_load(path, WV_WORD2VEC_TEXT, 0, &u) == NN_OK);
    CHECK(same_table(&t, &u));
    wv_table_free(&u);
    REQUIRE(wv_load(path, WV_WORD2VEC_TEXT, 2, &u) == NN_OK); /* max_words */
    CHECK(u.n == 2 && strcmp(u.words[1], "café") == 0 && u.vec[5] == t.vec[5]);
    wv_table_free(&u);
    wv_table_free(&t);
}

TEST(word2vec_binary_round_trip_and_layout) {
    wv_table t = awkward_table(), u;
    const char *path = tmp_path("rt.bin");
    REQUIRE(wv_save(&t, path, WV_WORD2VEC_BINARY) == NN_OK);
    unsigned char buf[512];
    size_t n = read_file(path, buf, sizeof buf);
    /* "4 3\n", then per word: the word, a space, 3 little-endian float32s, "\n" */
    CHECK(n == 4 + (4 + 12 + 1) + (strlen("café") + 1 + 12 + 1) + (6 + 12 + 1) + (2 + 12 + 1));
    CHECK(memcmp(buf, "4 3\nthe ", 8) == 0);
    const unsigned char one_tenth_le[4] = {0xcd, 0xcc, 0xcc, 0x3d}; /* 0.1f = 0x3dcccccd */
    CHECK(memcmp(buf + 8, one_tenth_le, 4) == 0);
    CHECK(buf[8 + 12] == '\n');
    REQUIRE(wv_load(path, WV_WORD2VEC_BINARY, 0, &u) == NN_OK);
    CHECK(same_table(&t, &u));
    wv_table_free(&u);
    REQUIRE(wv_load(path, WV_WORD2VEC_BINARY, 3, &u) == NN_OK);
    CHECK(u.n == 3 && strcmp(u.words[2], "a-b_c") == 0);
    wv_table_free(&u);
    wv_table_free(&t);
}

TEST(glove_text_round_trip) {
    wv_table t = awkward_table(), u;
    const char *path = tmp_path("rt.glove");
    REQUIRE(wv_save(&t, path, WV_GLOVE_TEXT) == NN_OK);
    unsigned char buf[64];
    size_t n = read_file(path, buf, sizeof buf - 1);
    buf[n] = 0;
    CHECK(strncmp((char *)buf, "the 0.100000001 ", 16) == 0); /* no header */
    REQUIRE(wv_load(path, WV_GLOVE_TEXT, 0, &u) == NN_OK);
    CHECK(same_table(&t, &u));
    wv_table_free(&u);
    REQUIRE(wv_load(path, WV_GLOVE_TEXT, 1, &u) == NN_OK);
    CHECK(u.n == 1 && u.dim == 3);
    wv_table_free(&u);
    wv_table_free(&t);
}

/* Files written by other tools: word2vec.c's "%lf " leaves a space before each newline, Windows
 * line ends, blank lines after the last vector. */
TEST(reads_foreign_spacing) {
    const char *path = write_text("foreign.txt", "2 2\r\nfoo 1.000000 -2.500000 \r\n"
                                                 "bar\t3 4\n\n\n");
    wv_table u;
    REQUIRE(wv_load(path, WV_WORD2VEC_TEXT, 0, &u) == NN_OK);
    CHECK(u.n == 2 && strcmp(u.words[1], "bar") == 0);
    CHECK(u.vec[1] == -2.5f && u.vec[3] == 4.0f);
    wv_table_free(&u);
}

TEST(save_is_atomic_and_refuses_unwritable_words) {
    wv_table t = awkward_table();
    const char *path = tmp_path("atomic.txt");
    write_text("atomic.txt", "old contents\n");
    REQUIRE(wv_save(&t, path, WV_WORD2VEC_TEXT) == NN_OK);
    wv_table u;
    REQUIRE(wv_load(path, WV_WORD2VEC_TEXT, 0, &u) == NN_OK); /* replaced whole */
    wv_table_free(&u);
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    CHECK(access(tmp, F_OK) != 0); /* no temporary left behind */

    const char *nodir = tmp_path("no/such/dir/v.bin");
    CHECK(wv_save(&t, nodir, WV_WORD2VEC_BINARY) == NN_ERR_IO);
    CHECK(strstr(nn_last_error(), nodir) != NULL);

    free(t.words[2]);
    t.words[2] = strdup("two words");
    CHECK(wv_save(&t, path, WV_WORD2VEC_TEXT) == NN_ERR_FORMAT);
    CHECK(strstr(nn_last_error(), "'two words'") != NULL);
    REQUIRE(wv_load(path, WV_WORD2VEC_TEXT, 0, &u) == NN_OK); /* the old file is intact */
    CHECK(strcmp(u.words[2], "a-b_c") == 0);
    wv_table_free(&u);
    wv_table_free(&t);
}

/* ------------------------------------------------------- malformed files ---- */

TEST(malformed_word2vec_text) {
    expect_load_error(tmp_path("missing.txt"), WV_WORD2VEC_TEXT, NN_ERR_IO, "cannot open", NULL);
    expect_load_error(write_text("empty.txt", ""), WV_WORD2VEC_TEXT, NN_ERR_FORMAT, "empty",
                      NULL);
    expect_load_error(write_text("nohead.txt", "foo 1 2\nbar 3 4\n"), WV_WORD2VEC_TEXT,
                      NN_ERR_FORMAT, "line 1", "header");
    expect_load_error(write_text("dim0.txt", "1 0\nfoo\n"), WV_WORD2VEC_TEXT, NN_ERR_FORMAT,
                      "line 1", "header");
    /* wrong counts, both ways */
    expect_load_error(write_text("fewer.txt", "3 2\nfoo 1 2\nbar 3 4\n"), WV_WORD2VEC_TEXT,
                      NN_ERR_FORMAT, "announces 3 words", "ends after 2");
    expect_load_error(write_text("more.txt", "1 2\nfoo 1 2\nbar 3 4\n"), WV_WORD2VEC_TEXT,
                      NN_ERR_FORMAT, "line 3", "more words than the 1");
    /* a short line, a long line, a non-number, an empty line */
    expect_load_error(write_text("short.txt", "2 3\nfoo 1 2 3\nbar 4 5\n"), WV_WORD2VEC_TEXT,
                      NN_ERR_FORMAT, "line 3: word 'bar' has 2 values", "expected 3");
    expect_load_error(write_text("long.txt", "2 2\nfoo 1 2 3\nbar 4 5\n"), WV_WORD2VEC_TEXT,
                      NN_ERR_FORMAT, "line 2: word 'foo' has 3 values", "expected 2");
    expect_load_error(write_text("nan.txt", "2 3\nfoo 1 2 3\nbar 4 x5 6\n"), WV_WORD2VEC_TEXT,
                      NN_ERR_FORMAT, "line 3: 'x5' is not a number", "value 2 of word 'bar'");
    expect_load_error(write_text("blank.txt", "2 1\nfoo 1\n\nbar 2\n"), WV_WORD2VEC_TEXT,
                      NN_ERR_FORMAT, "line 3", "empty line");
    /* max_words stops before a problem further on */
    wv_table u;
    CHECK(wv_load(tmp_path("short.txt"), WV_WORD2VEC_TEXT, 1, &u) == NN_OK && u.n == 1);
    wv_table_free(&u);
}

TEST(malformed_glove_text) {
    expect_load_error(write_text("g_empty.txt", "\n\n"), WV_GLOVE_TEXT, NN_ERR_FORMAT,
                      "no vectors", NULL);
    expect_load_error(write_text("g_count.txt", "foo 1 2 3\nbar 1 2 3\nbaz 1 2\n"),
                      WV_GLOVE_TEXT, NN_ERR_FORMAT, "line 3: word 'baz' has 2 values",
                      "expected 3 (as on line 1)");
    expect_load_error(write_text("g_nan.txt", "foo 1 2\nbar 1 nan- \n"), WV_GLOVE_TEXT,
                      NN_ERR_FORMAT, "line 2: 'nan-' is not a number", "value 2 of word 'bar'");
    expect_load_error(write_text("g_head.txt", "2 3\nfoo 1 2 3\nbar 1 2 3\n"), WV_GLOVE_TEXT,
                      NN_ERR_FORMAT, "line 1", "word2vec header");
    expect_load_error(write_text("g_novalue.txt", "foo\n"), WV_GLOVE_TEXT, NN_ERR_FORMAT,
                      "line 1: word 'foo' has 0 values", NULL);
}

TEST(malformed_word2vec_binary) {
    wv_table t = awkward_table();
    const char *path = tmp_path("good.bin");
    REQUIRE(wv_save(&t, path, WV_WORD2VEC_BINARY) == NN_OK);
    wv_table_free(&t);
    unsigned char buf[512];
    const size_t n = read_file(path, buf, sizeof buf);
    /* cut inside the second word's vector: 4 (header) + 17 (first) + "café " (6) + 5 bytes */
    expect_load_error(write_file("cut.bin", buf, 4 + 17 + 6 + 5), WV_WORD2VEC_BINARY,
                      NN_ERR_FORMAT, "entry 2 (word 'café')", "after 1 of its 3 values");
    expect_load_error(write_file("cut2.bin", buf, 4 + 17), WV_WORD2VEC_BINARY, NN_ERR_FORMAT,
                      "announces 4 words", "ends after 1");
    unsigned char more[600];
    memcpy(more, buf, n);
    memcpy(more + n, "extra ", 6);
    expect_load_error(write_file("more.bin", more, n + 6), WV_WORD2VEC_BINARY, NN_ERR_FORMAT,
                      "more data after the 4 words", NULL);
    expect_load_error(write_text("text.bin", "the 0.1 0.2\n"), WV_WORD2VEC_BINARY, NN_ERR_FORMAT,
                      "line 1", "header");
}

/* --------------------------------------------------- nearest neighbours ---- */

/* Directions at known angles in the plane: cos(a, b) = cos of the angle between them. */
static const char *const compass[] = {"east", "ene", "north", "west", "tiny", "south"};
static const double compass_v[] = {
    2, 0,                  /* east, 0° (length 2: cosine ignores length) */
    0.8660254037844387, 0.5, /* ene, 30° */
    0, 3,                  /* north, 90° */
    -1, 0,                 /* west, 180° */
    0.01, 0.0001,          /* tiny, ~0.57°: nearly east */
    0, -1,                 /* south, 270° */
};

TEST(nearest_by_cosine) {
    wv_table t = make(6, 2, compass, compass_v);
    int ids[6];
    float sims[6];
    const float q[2] = {1, 0}; /* due east */
    int n = wv_nearest(&t, q, 0, NULL, 0, 6, ids, sims);
    REQUIRE(n == 6);
    const int want[] = {0, 4, 1, 2, 5, 3}; /* north and south tie at 0: lower id first */
    for (int i = 0; i < 6; i++) CHECK_MSG(ids[i] == want[i], "rank %d: %d, want %d", i, ids[i],
                                          want[i]);
    CHECK_NEAR(sims[0], 1, 1e-6, 0);
    CHECK_NEAR(sims[2], 0.8660254, 1e-6, 0);
    CHECK_NEAR(sims[5], -1, 1e-6, 0);
    CHECK_NEAR(sims[1], 0.01 / sqrt(0.01 * 0.01 + 1e-8), 1e-6, 0);

    /* exclude the query word itself, take 2 */
    const int ex[] = {0, 4};
    n = wv_nearest(&t, t.vec, 0, ex, 2, 2, ids, sims);
    CHECK(n == 2 && ids[0] == 1 && ids[1] == 2);
    /* limit: only the first 3 words are candidates */
    n = wv_nearest(&t, q, 3, NULL, 0, 5, ids, sims);
    CHECK(n == 3 && ids[0] == 0 && ids[1] == 1 && ids[2] == 2);
    wv_table_free(&t);
}

/* ------------------------------------------------------------- analogies ---- */

/* Axis 0 royalty, axis 1 gender (+ male), axis 2 age; 'monarch' lies close to king itself and
 * would win if the question's own words were not excluded. */
static const char *const royals[] = {"king", "queen", "man", "woman", "monarch", "boy", "girl",
                                     "apple"};
static const double royals_v[] = {
    1.0, 1.0, 0.3,  /* king */
    1.0, -1.0, 0.3, /* queen */
    0.1, 1.0, 0.3,  /* man */
    0.1, -1.0, 0.3, /* woman */
    1.0, 0.9, 0.3,  /* monarch */
    0.1, 1.0, -0.8, /* boy */
    0.1, -1.0, -0.8, /* girl */
    -1.0, 0.0, 0.0, /* apple */
};

/* 3CosAdd by brute force: argmax over x ∉ {a,b,c} of cos(x, b̂ − â + ĉ). */
static int brute_analogy(const wv_table *t, int a, int b, int c, int limit) {
    double q[3] = {0};
    const int w[3] = {a, b, c};
    const double s[3] = {-1, 1, 1};
    for (int k = 0; k < 3; k++) {
        const float *x = t->vec + w[k] * 3;
        double n = sqrt((double)x[0] * x[0] + (double)x[1] * x[1] + (double)x[2] * x[2]);
        for (int j = 0; j < 3; j++) q[j] += s[k] * x[j] / n;
    }
    int best = -1;
    double bs = -2;
    for (int i = 0; i < limit; i++) {
        if (i == a || i == b || i == c) continue;
        const float *x = t->vec + i * 3;
        double n = sqrt((double)x[0] * x[0] + (double)x[1] * x[1] + (double)x[2] * x[2]);
        double qn = sqrt(q[0] * q[0] + q[1] * q[1] + q[2] * q[2]);
        double cs = (x[0] * q[0] + x[1] * q[1] + x[2] * q[2]) / (n * qn);
        if (cs > bs) bs = cs, best = i;
    }
    return best;
}

TEST(analogy_3cosadd) {
    wv_table t = make(8, 3, royals, royals_v);
    /* man : king :: woman : ? -> queen */
    CHECK(wv_analogy(&t, 2, 0, 3, 0) == 1);
    /* king : queen :: man : ? -> woman */
    CHECK(wv_analogy(&t, 0, 1, 2, 0) == 3);
    /* man : boy :: woman : ? -> girl */
    CHECK(wv_analogy(&t, 2, 5, 3, 0) == 6);
    int differ = 0, first = -1;
    for (int a = 0; a < 8; a++)
        for (int b = 0; b < 8; b++)
            for (int c = 0; c < 8; c++) {
                if (a == b || b == c || a == c) continue;
                if (wv_analogy(&t, a, b, c, 0) != brute_analogy(&t, a, b, c, 8) && !differ++)
                    first = a * 100 + b * 10 + c;
            }
    CHECK_MSG(differ == 0, "%d of 336 analogies differ from brute force, first %03d", differ,
              first);
    /* limit: queen (1) is a candidate under limit 4, girl (6) is outside limit 6 */
    CHECK(wv_analogy(&t, 2, 0, 3, 4) == 1);
    CHECK(wv_analogy(&t, 2, 5, 3, 5) == -1); /* boy is outside the first 5 */
    CHECK(wv_analogy(&t, 2, 5, 3, 6) == brute_analogy(&t, 2, 5, 3, 6));
    CHECK(wv_analogy(&t, 2, 5, 3, 6) != 6);
    wv_table_free(&t);
}

/* ------------------------------------------------------- the evaluation ---- */

TEST(eval_analogies_sections_case_and_skips) {
    wv_table t = make(8, 3, royals, royals_v);
    const char *q = write_text("questions.txt",
                               ": family\n"
                               "man king woman queen\n"          /* right */
                               "MAN King WOMAN Queen\n"          /* right, case folded */
                               "king queen man woman\n"          /* right */
                               "man king woman girl\n"           /* wrong: the answer is queen */
                               "man king unicorn queen\n"        /* skipped: unknown word */
                               "\n"
                               ": gram-age\n"
                               "man boy woman girl\n"            /* right */
                               "woman girl man boy\n"            /* right */
                               "boy man girl apple\n"            /* wrong */
                               "apple boy man woman\n");         /* skipped under limit 7 */
    wv_analogy_result r;
    REQUIRE(wv_eval_analogies(&t, q, 0, &r) == NN_OK);
    CHECK(r.questions == 9);
    CHECK(r.answered == 8);
    CHECK(r.sem_answered == 4 && r.syn_answered == 4);
    const int expect_sem = 3;
    CHECK_MSG(r.sem_correct == expect_sem, "semantic %ld", r.sem_correct);
    /* the last question's answer by brute force: apple : boy :: man : ? */
    const int last = brute_analogy(&t, 7, 5, 2, 8) == 3;
    CHECK_MSG(r.syn_correct == 2 + last, "syntactic %ld", r.syn_correct);
    CHECK(r.correct == r.sem_correct + r.syn_correct);

    REQUIRE(wv_eval_analogies(&t, q, 7, &r) == NN_OK); /* apple (7) is outside: two skipped */
    CHECK(r.questions == 9 && r.answered == 6 && r.syn_answered == 2 && r.syn_correct == 2);
    CHECK(r.sem_correct == expect_sem);
    wv_table_free(&t);
}

/* "Paris" and "paris" fold together: the earlier (more frequent) one answers for both, and a
 * case variant of a question word is not an answer. Here "Paris" lies nearest the query paris -
 * france + germany and "Berlin" next: the answer is Berlin, which counts as berlin. */
TEST(eval_analogies_case_variants) {
    static const char *const w[] = {"france", "paris", "germany", "berlin", "Paris", "Berlin"};
    static const double v[] = {1, 0, 0,   1, 1, 0,   0, 0, 1,   0.3, 1, 1,
                               -0.29, 0.7, 1,   0, 1.1, 1};
    wv_table t = make(6, 3, w, v);
    const char *q = write_text("variants.txt", ": capital\nFrance PARIS Germany BERLIN\n");
    wv_analogy_result r;
    REQUIRE(wv_eval_analogies(&t, q, 0, &r) == NN_OK);
    CHECK(r.answered == 1 && r.correct == 1);
    wv_table_free(&t);
}

TEST(eval_analogies_bad_files) {
    wv_table t = make(8, 3, royals, royals_v);
    wv_analogy_result r;
    const char *q = write_text("three.txt", ": a\nman king woman queen\nman king woman\n");
    CHECK(wv_eval_analogies(&t, q, 0, &r) == NN_ERR_FORMAT);
    CHECK(strstr(nn_last_error(), "line 3") && strstr(nn_last_error(), "found 3 words"));
    q = write_text("none.txt", ": a\n\n: b\n");
    CHECK(wv_eval_analogies(&t, q, 0, &r) == NN_ERR_FORMAT);
    CHECK(strstr(nn_last_error(), "no questions") != NULL);
    q = tmp_path("absent.txt");
    CHECK(wv_eval_analogies(&t, q, 0, &r) == NN_ERR_IO);
    CHECK(strstr(nn_last_error(), "absent.txt") != NULL);
    wv_table_free(&t);
}

/* Many questions at once (several chunks of the batched product) agree with one-at-a-time. */
TEST(eval_analogies_batched_agrees_with_single) {
    enum { N = 300, D = 8 };
    char **words = malloc(N * sizeof *words);
    ad_real *vec = malloc(N * D * sizeof *vec);
    th_fill_uniform(vec, N * D, -1, 1, 42);
    for (int i = 0; i < N; i++) {
        words[i] = malloc(16);
        snprintf(words[i], 16, "w%d", i);
    }
    wv_table t;
    REQUIRE(wv_table_make(&t, N, D, (const char *const *)words, vec) == NN_OK);
    const char *path = tmp_path("many.txt");
    FILE *f = fopen(path, "w");
    REQUIRE(f);
    long expect_correct = 0;
    uint64_t s = 7;
    for (int k = 0; k < 700; k++) {
        int w4[4];
        for (int j = 0; j < 4; j++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            w4[j] = (int)((s >> 33) % N);
        }
        if (w4[0] == w4[1] || w4[0] == w4[2] || w4[1] == w4[2]) continue;
        const int a = wv_analogy(&t, w4[0], w4[1], w4[2], 0);
        if (k % 3 == 0) w4[3] = a; /* make a third of them right */
        expect_correct += a == w4[3];
        fprintf(f, "w%d w%d w%d w%d\n", w4[0], w4[1], w4[2], w4[3]);
    }
    fclose(f);
    wv_analogy_result r;
    REQUIRE(wv_eval_analogies(&t, path, 0, &r) == NN_OK);
    CHECK(r.answered == r.questions && r.answered > 600);
    CHECK_MSG(r.correct == expect_correct, "%ld vs %ld", r.correct, expect_correct);
    CHECK(r.sem_answered == r.answered); /* no section: not "gram" */
    for (int i = 0; i < N; i++) free(words[i]);
    free(words);
    free(vec);
    wv_table_free(&t);
}
