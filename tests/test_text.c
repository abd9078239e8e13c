/*
 * Tests of models/text.c: the vocabulary (ids, counts, pruning order and ties, <unk> taking the
 * dropped counts, save/load), token files read as words and as characters (UTF-8, CRLF, blank
 * lines, no final newline, eos), splits, LM lanes and windows against a hand computation,
 * tagged sentences, and every bad file refused with its status and a message naming it.
 *
 * Each case writes its input files byte for byte into a fresh directory, so the bytes a case
 * reads are the ones it shows.
 */
#include "harness.h"
#include "text.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

/* ------------------------------------------------------------ helpers ---- */

static char dir[256];
static char *paths[32];
static int npaths;

static void dir_make(void) {
    const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(dir, sizeof dir, "%s/seqgrad_text_XXXXXX", base);
    REQUIRE(mkdtemp(dir) != NULL);
}

static void dir_remove(void) {
    DIR *d = opendir(dir);
    if (d) {
        for (struct dirent *e; (e = readdir(d));) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            char p[512];
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            if (unlink(p) != 0) rmdir(p);
        }
        closedir(d);
        rmdir(dir);
    }
    while (npaths)
        free(paths[--npaths]);
}

/* "<dir>/<name>", valid until dir_remove(). */
static const char *in_dir(const char *name) {
    if (npaths == (int)(sizeof paths / sizeof paths[0])) th_abort_case();
    char *p = malloc(strlen(dir) + strlen(name) + 2);
    sprintf(p, "%s/%s", dir, name);
    return paths[npaths++] = p;
}

/* Write n bytes (a string literal's sizeof - 1 keeps its NULs) to <dir>/name; its path. */
static const char *put(const char *name, const char *bytes, size_t n) {
    const char *path = in_dir(name);
    FILE *f = fopen(path, "wb");
    REQUIRE(f);
    REQUIRE(fwrite(bytes, 1, n, f) == n);
    REQUIRE(fclose(f) == 0);
    return path;
}
#define PUT(name, literal) put((name), (literal), sizeof(literal) - 1)

/* The status is want and the message starts with "<path>:" and holds each needle. */
static void check_error(int line, nn_status got, nn_status want, const char *path,
                        const char *const *needles) {
    const char *msg = nn_last_error();
    if (got != want)
        th_fail(__FILE__, line, "status %s, want %s (%s)", nn_status_name(got),
                nn_status_name(want), msg);
    size_t n = strlen(path);
    if (strncmp(msg, path, n) != 0 || msg[n] != ':')
        th_fail(__FILE__, line, "message does not start with \"%s:\": %s", path, msg);
    for (; *needles; needles++)
        if (!strstr(msg, *needles))
            th_fail(__FILE__, line, "message lacks \"%s\": %s", *needles, msg);
}
#define CHECK_ERROR(got, want, path, ...)                                                          \
    do {                                                                                           \
        const char *needles_[] = {__VA_ARGS__, NULL};                                              \
        check_error(__LINE__, (got), (want), (path), needles_);                                    \
    } while (0)

/* ids[from .. from+n) equal want[0 .. n). */
static void check_ids(int line, const int *ids, const int *want, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (ids[i] != want[i]) {
            th_fail(__FILE__, line, "id %zu is %d, want %d", i, ids[i], want[i]);
            return;
        }
}
#define CHECK_IDS(ids, ...)                                                                        \
    do {                                                                                           \
        const int want_[] = {__VA_ARGS__};                                                         \
        check_ids(__LINE__, (ids), want_, sizeof want_ / sizeof want_[0]);                         \
    } while (0)

static int id_of(const text_vocab *v, const char *w) {
    int id = text_vocab_find(v, w);
    if (id < 0) th_fail(__FILE__, __LINE__, "'%s' is not in the vocabulary", w);
    return id;
}

/* --------------------------------------------------------- vocabulary ---- */

TEST(vocab_new_holds_unk_only) {
    text_vocab *v = text_vocab_new();
    CHECK(text_vocab_size(v) == 1);
    CHECK(strcmp(text_vocab_word(v, TEXT_UNK), TEXT_UNK_WORD) == 0);
    CHECK(text_vocab_find(v, "<unk>") == TEXT_UNK);
    CHECK(text_vocab_count(v, TEXT_UNK) == 0);
    CHECK(text_vocab_total(v) == 0);
    text_vocab_free(v);
    text_vocab_free(NULL);
}

TEST(vocab_add_find_count) {
    text_vocab *v = text_vocab_new();
    char word[8] = "cat";
    CHECK(text_vocab_add(v, word, 2) == 1);
    strcpy(word, "dog"); /* the vocabulary holds its own copy */
    CHECK(text_vocab_add(v, word, 1) == 2);
    CHECK(text_vocab_add(v, "cat", 3) == 1); /* counts add up */
    CHECK(text_vocab_add(v, "bird", 0) == 3);
    CHECK(strcmp(text_vocab_word(v, 1), "cat") == 0);
    CHECK(text_vocab_count(v, 1) == 5);
    CHECK(text_vocab_count(v, 2) == 1);
    CHECK(text_vocab_count(v, 3) == 0);
    CHECK(text_vocab_total(v) == 6);
    CHECK(text_vocab_find(v, "cow") == -1);
    CHECK(text_vocab_id(v, "cow") == TEXT_UNK);
    CHECK(text_vocab_id(v, "dog") == 2);
    CHECK(text_vocab_find(v, "") == -1);
    CHECK(text_vocab_find(v, "Cat") == -1); /* case matters */
    EXPECT_ERROR(text_vocab_word(v, 4), "text_vocab_word", "id 4");
    EXPECT_ERROR(text_vocab_count(v, -1), "text_vocab_count");
    EXPECT_ERROR(text_vocab_add(v, "x", -1), "text_vocab_add", "count -1");
    text_vocab_free(v);
}

TEST(vocab_many_words_survive_growth) {
    /* 100k words make the table and the arena grow many times over. */
    text_vocab *v = text_vocab_new();
    char w[32];
    for (int i = 0; i < 100000; i++) {
        snprintf(w, sizeof w, "w%d", i);
        REQUIRE(text_vocab_add(v, w, i % 7) == i + 1);
    }
    int bad = 0;
    for (int i = 0; i < 100000; i++) {
        snprintf(w, sizeof w, "w%d", i);
        if (text_vocab_find(v, w) != i + 1 || strcmp(text_vocab_word(v, i + 1), w) != 0) bad++;
    }
    CHECK(bad == 0);
    CHECK(text_vocab_size(v) == 100001);
    text_vocab_free(v);
}

TEST(prune_orders_by_count_ties_by_first_appearance) {
    text_vocab *v = text_vocab_new();
    /* first appearance order: a b c d e f */
    text_vocab_add(v, "a", 2);
    text_vocab_add(v, "b", 5);
    text_vocab_add(v, "c", 1);
    text_vocab_add(v, "d", 5);
    text_vocab_add(v, "e", 2);
    text_vocab_add(v, "f", 3);
    text_vocab_add(v, TEXT_UNK_WORD, 4); /* <unk>'s own count stays and grows */
    text_vocab_prune(v, 2, 0);
    /* kept: b 5, d 5 (tie: b first), f 3, a 2, e 2 (tie: a first); c (1) goes to <unk> */
    CHECK(text_vocab_size(v) == 6);
    const char *want[] = {"<unk>", "b", "d", "f", "a", "e"};
    const long count[] = {5, 5, 5, 3, 2, 2};
    for (int id = 0; id < 6; id++) {
        CHECK_MSG(strcmp(text_vocab_word(v, id), want[id]) == 0, "id %d is %s, want %s", id,
                  text_vocab_word(v, id), want[id]);
        CHECK(text_vocab_count(v, id) == count[id]);
        CHECK(text_vocab_find(v, want[id]) == id); /* the table follows the new ids */
    }
    CHECK(text_vocab_find(v, "c") == -1);
    CHECK(text_vocab_id(v, "c") == TEXT_UNK);
    CHECK(text_vocab_total(v) == 22);
    /* Growing after a prune goes on from the end. */
    CHECK(text_vocab_add(v, "c", 1) == 6);
    text_vocab_free(v);
}

TEST(prune_max_size_counts_unk) {
    text_vocab *v = text_vocab_new();
    text_vocab_add(v, "x", 1);
    text_vocab_add(v, "y", 9);
    text_vocab_add(v, "z", 4);
    text_vocab_add(v, "w", 4);
    text_vocab_prune(v, 0, 3); /* <unk> + the two most frequent */
    CHECK(text_vocab_size(v) == 3);
    CHECK(id_of(v, "y") == 1);
    CHECK(id_of(v, "z") == 2); /* z and w tie: z came first */
    CHECK(text_vocab_find(v, "w") == -1);
    CHECK(text_vocab_count(v, TEXT_UNK) == 5); /* w 4 + x 1 */
    CHECK(text_vocab_total(v) == 18);
    text_vocab_prune(v, 0, 1); /* <unk> alone takes everything */
    CHECK(text_vocab_size(v) == 1);
    CHECK(text_vocab_count(v, TEXT_UNK) == 18);
    EXPECT_ERROR(text_vocab_prune(v, 0, -1), "text_vocab_prune");
    text_vocab_free(v);
}

TEST(vocab_save_load_round_trip) {
    dir_make();
    text_vocab *v = text_vocab_new();
    /* Words a character model meets: space, newline, tab, backslash, multibyte. */
    const char *words[] = {"the", " ", "\n", "\t", "a\\nb", "caf\xc3\xa9", "\xf0\x9d\x84\x9e",
                           "x y", "\\"};
    for (int i = 0; i < 9; i++)
        text_vocab_add(v, words[i], 10 + i);
    text_vocab_add(v, TEXT_UNK_WORD, 3);
    const char *path = in_dir("vocab.txt");
    REQUIRE(text_vocab_save(v, path) == NN_OK);
    text_vocab *u = NULL;
    REQUIRE(text_vocab_load(path, &u) == NN_OK);
    REQUIRE(u != NULL);
    CHECK(text_vocab_size(u) == text_vocab_size(v));
    for (int id = 0; id < text_vocab_size(v); id++) {
        CHECK_MSG(strcmp(text_vocab_word(u, id), text_vocab_word(v, id)) == 0, "id %d", id);
        CHECK(text_vocab_count(u, id) == text_vocab_count(v, id));
        CHECK(text_vocab_find(u, text_vocab_word(v, id)) == id);
    }
    CHECK(text_vocab_total(u) == text_vocab_total(v));
    /* The file is "word count" lines, the first "<unk> 3". */
    FILE *f = fopen(path, "r");
    char line[64];
    REQUIRE(f && fgets(line, sizeof line, f));
    CHECK(strcmp(line, "<unk> 3\n") == 0);
    REQUIRE(fgets(line, sizeof line, f));
    CHECK(strcmp(line, "the 10\n") == 0);
    fclose(f);
    text_vocab_free(u);
    text_vocab_free(v);
    dir_remove();
}

TEST(vocab_load_bad_files) {
    dir_make();
    text_vocab *u = (text_vocab *)1;
    const char *p = in_dir("missing.txt");
    CHECK_ERROR(text_vocab_load(p, &u), NN_ERR_IO, p, "cannot open");
    CHECK(u == NULL);
    p = PUT("empty.txt", "");
    CHECK_ERROR(text_vocab_load(p, &u), NN_ERR_FORMAT, p, "empty");
    p = PUT("nounk.txt", "the 3\n<unk> 1\n");
    CHECK_ERROR(text_vocab_load(p, &u), NN_ERR_FORMAT, p, ":1:", "<unk>");
    p = PUT("twice.txt", "<unk> 0\nthe 3\na 2\nthe 1\n");
    CHECK_ERROR(text_vocab_load(p, &u), NN_ERR_FORMAT, p, ":4:", "twice");
    p = PUT("nocount.txt", "<unk> 0\nthe\n");
    CHECK_ERROR(text_vocab_load(p, &u), NN_ERR_FORMAT, p, ":2:", "word count");
    p = PUT("badcount.txt", "<unk> 0\nthe 3x\n");
    CHECK_ERROR(text_vocab_load(p, &u), NN_ERR_FORMAT, p, ":2:");
    p = PUT("negative.txt", "<unk> 0\nthe -3\n");
    CHECK_ERROR(text_vocab_load(p, &u), NN_ERR_FORMAT, p, ":2:");
    p = PUT("escape.txt", "<unk> 0\na\\qb 3\n");
    CHECK_ERROR(text_vocab_load(p, &u), NN_ERR_FORMAT, p, ":2:", "escape");
    p = PUT("utf8.txt", "<unk> 0\nthe 1\ncaf\xe9 2\n");
    CHECK_ERROR(text_vocab_load(p, &u), NN_ERR_FORMAT, p, ":3:", "UTF-8");
    CHECK(u == NULL);
    dir_remove();
}

/* ------------------------------------------------------------- reading ---- */

/* CRLF line ends, a blank line, runs of spaces and tabs, multibyte words, no final newline. */
static const char words_file[] = "the cat  sat\r\n"
                                 "\r\n"
                                 "\tthe\tdog \xc3\xa9t\xc3\xa9\n"
                                 "   \n"
                                 "the cat";

TEST(read_words) {
    dir_make();
    const char *p = PUT("words.txt", words_file);
    text_vocab *v = text_vocab_new();
    REQUIRE(text_count(p, TEXT_WORDS, v) == NN_OK);
    /* the 3, cat 2, sat 1, dog 1, été 1: ids in first-seen order before any prune */
    CHECK(text_vocab_size(v) == 6);
    CHECK(id_of(v, "the") == 1 && text_vocab_count(v, 1) == 3);
    CHECK(id_of(v, "cat") == 2 && text_vocab_count(v, 2) == 2);
    CHECK(id_of(v, "sat") == 3);
    CHECK(id_of(v, "dog") == 4);
    CHECK(id_of(v, "\xc3\xa9t\xc3\xa9") == 5);
    CHECK(text_vocab_find(v, "cat\r") == -1);
    CHECK(text_vocab_total(v) == 8);
    text_vocab_prune(v, 2, 0); /* <unk> the cat; sat dog été dropped */
    CHECK(text_vocab_size(v) == 3);
    CHECK(text_vocab_count(v, TEXT_UNK) == 3 && text_vocab_total(v) == 8);
    int eos = text_vocab_add(v, "</s>", 0);
    CHECK(eos == 3);
    text_ids t;
    REQUIRE(text_read(p, TEXT_WORDS, v, eos, &t) == NN_OK);
    /* Three lines (the blank ones are no lines), each followed by eos. */
    CHECK(t.nlines == 3);
    CHECK(t.n == 11);
    CHECK_IDS(t.ids, 1, 2, 0, 3, /**/ 1, 0, 0, 3, /**/ 1, 2, 3);
    REQUIRE(t.line_start);
    CHECK(t.line_start[0] == 0 && t.line_start[1] == 4 && t.line_start[2] == 8 &&
          t.line_start[3] == 11);
    text_ids_free(&t);
    CHECK(t.ids == NULL && t.n == 0 && t.line_start == NULL && t.nlines == 0);
    /* Without eos. */
    REQUIRE(text_read(p, TEXT_WORDS, v, -1, &t) == NN_OK);
    CHECK(t.nlines == 3 && t.n == 8);
    CHECK_IDS(t.ids, 1, 2, 0, 1, 0, 0, 1, 2);
    CHECK(t.line_start[1] == 3 && t.line_start[2] == 6 && t.line_start[3] == 8);
    CHECK(text_vocab_size(v) == 4); /* reading does not grow the vocabulary */
    text_ids_free(&t);
    EXPECT_ERROR(text_read(p, TEXT_WORDS, v, 4, &t), "text_read", "eos 4");
    text_vocab_free(v);
    dir_remove();
}

/* 2-, 3- and 4-byte characters, a space, an empty line, CRLF, no final newline. */
static const char chars_file[] = "h\xc3\xa9 \xe2\x9c\x93\r\n"
                                 "\n"
                                 "\xf0\x9d\x84\x9eh";

TEST(read_chars) {
    dir_make();
    const char *p = PUT("chars.txt", chars_file);
    text_vocab *v = text_vocab_new();
    REQUIRE(text_count(p, TEXT_CHARS, v) == NN_OK);
    /* "\n" is interned first, then h é ' ' ✓ 𝄞; "\n" counts once per line, 3 lines. */
    CHECK(text_vocab_size(v) == 7);
    int nl = id_of(v, "\n");
    CHECK(nl == 1 && text_vocab_count(v, nl) == 3);
    CHECK(id_of(v, "h") == 2 && text_vocab_count(v, 2) == 2);
    CHECK(id_of(v, "\xc3\xa9") == 3);
    CHECK(id_of(v, " ") == 4);
    CHECK(id_of(v, "\xe2\x9c\x93") == 5);
    CHECK(id_of(v, "\xf0\x9d\x84\x9e") == 6);
    CHECK(text_vocab_find(v, "\r") == -1);
    CHECK(text_vocab_total(v) == 9);
    text_ids t;
    REQUIRE(text_read(p, TEXT_CHARS, v, nl, &t) == NN_OK);
    CHECK(t.nlines == 3);
    CHECK(t.n == 9);
    CHECK_IDS(t.ids, 2, 3, 4, 5, 1, /* the empty line */ 1, /**/ 6, 2, 1);
    CHECK(t.line_start[1] == 5 && t.line_start[2] == 6 && t.line_start[3] == 9);
    text_ids_free(&t);
    /* A character the vocabulary lacks reads as <unk>. */
    text_vocab *small = text_vocab_new();
    text_vocab_add(small, "h", 1);
    REQUIRE(text_read(p, TEXT_CHARS, small, -1, &t) == NN_OK);
    CHECK(t.n == 6 && t.nlines == 3);
    CHECK_IDS(t.ids, 1, 0, 0, 0, 0, 1);
    CHECK(t.line_start[1] == 4 && t.line_start[2] == 4);
    text_ids_free(&t);
    text_vocab_free(small);
    text_vocab_free(v);
    dir_remove();
}

TEST(read_skips_byte_order_mark) {
    dir_make();
    const char *p = PUT("bom.txt", "\xef\xbb\xbfthe cat\n");
    text_vocab *v = text_vocab_new();
    REQUIRE(text_count(p, TEXT_WORDS, v) == NN_OK);
    CHECK(text_vocab_size(v) == 3);
    CHECK(id_of(v, "the") == 1);
    text_vocab_free(v);
    dir_remove();
}

TEST(read_bad_files) {
    dir_make();
    text_vocab *v = text_vocab_new();
    text_vocab_add(v, "kept", 7);
    text_ids t = {.n = 99};
    const char *p = in_dir("missing.txt");
    CHECK_ERROR(text_count(p, TEXT_WORDS, v), NN_ERR_IO, p, "cannot open", "No such file");
    CHECK_ERROR(text_read(p, TEXT_WORDS, v, -1, &t), NN_ERR_IO, p, "cannot open");
    CHECK(t.ids == NULL && t.n == 0);
    /* A directory opens but cannot be read. */
    p = in_dir("adir");
    REQUIRE(mkdir(p, 0700) == 0);
    CHECK_ERROR(text_count(p, TEXT_CHARS, v), NN_ERR_IO, p, "cannot read");
    p = PUT("empty.txt", "");
    CHECK_ERROR(text_count(p, TEXT_WORDS, v), NN_ERR_FORMAT, p, "empty");
    CHECK_ERROR(text_read(p, TEXT_CHARS, v, -1, &t), NN_ERR_FORMAT, p, "empty");
    p = PUT("blank.txt", " \n\t\r\n\n");
    CHECK_ERROR(text_count(p, TEXT_WORDS, v), NN_ERR_FORMAT, p, "empty");
    CHECK_ERROR(text_read(p, TEXT_WORDS, v, -1, &t), NN_ERR_FORMAT, p, "empty");
    p = PUT("newlines.txt", "\n\n\n");
    CHECK_ERROR(text_count(p, TEXT_CHARS, v), NN_ERR_FORMAT, p, "empty", "characters");
    /* Not UTF-8: Latin-1 é on line 3, after valid lines. */
    p = PUT("latin1.txt", "fine\nalso fine \xc3\xa9\ncaf\xe9 au lait\n");
    CHECK_ERROR(text_count(p, TEXT_WORDS, v), NN_ERR_FORMAT, p, ":3:", "UTF-8", "0xE9");
    CHECK_ERROR(text_read(p, TEXT_CHARS, v, -1, &t), NN_ERR_FORMAT, p, ":3:", "UTF-8");
    CHECK(t.ids == NULL && t.n == 0 && t.line_start == NULL);
    /* Each kind of malformed sequence, on line 2. */
    static const char *const bad[] = {
        "a\n\xc0\xaf\n",         /* overlong '/' */
        "a\n\xe0\x80\xaf\n",     /* overlong, 3 bytes */
        "a\n\xed\xa0\x80\n",     /* a surrogate */
        "a\n\xf4\x90\x80\x80\n", /* past U+10FFFF */
        "a\n\x80\n",             /* a lone continuation byte */
        "a\nab\xe2\x9c\n",       /* a sequence cut short by the line's end */
        "a\nab\xe2\x9c",         /* ... by the file's end */
        "a\n\xff\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char name[32];
        snprintf(name, sizeof name, "bad%zu.txt", i);
        p = put(name, bad[i], strlen(bad[i]));
        CHECK_ERROR(text_count(p, TEXT_WORDS, v), NN_ERR_FORMAT, p, ":2:", "UTF-8");
    }
    p = put("nul.txt", "a\nb\0c\n", 6);
    CHECK_ERROR(text_count(p, TEXT_CHARS, v), NN_ERR_FORMAT, p, ":2:", "NUL");
    /* A failed count leaves the vocabulary as it was. */
    CHECK(text_vocab_size(v) == 2 && text_vocab_total(v) == 7);
    CHECK(text_vocab_find(v, "fine") == -1);
    text_vocab_free(v);
    dir_remove();
}

/* --------------------------------------------------------------- splits ---- */

/* A corpus of `lines` lines, line k holding k+1 tokens of value k. */
static text_ids make_ids(size_t lines) {
    text_ids t = {0};
    t.line_start = malloc((lines + 1) * sizeof *t.line_start);
    t.ids = malloc((lines * (lines + 1) / 2 + 1) * sizeof *t.ids);
    t.line_start[0] = 0;
    for (size_t k = 0; k < lines; k++) {
        for (size_t j = 0; j <= k; j++)
            t.ids[t.n++] = (int)k;
        t.line_start[k + 1] = t.n;
    }
    t.nlines = lines;
    return t;
}

TEST(split_at_line_boundaries) {
    text_ids t = make_ids(10); /* 55 tokens */
    text_span tr, va, te;
    text_split(&t, 0.8, 0.1, &tr, &va, &te);
    /* lines 0-7 (36 tokens), line 8 (9), line 9 (10) */
    CHECK(tr.ids == t.ids && tr.n == 36);
    CHECK(va.ids == t.ids + 36 && va.n == 9);
    CHECK(te.ids == t.ids + 45 && te.n == 10);
    CHECK(va.ids[0] == 8 && te.ids[0] == 9);
    text_ids_free(&t);
    /* 7 lines, 0.5 and 0.25: boundaries round(3.5) = 4 and round(5.25) = 5 lines. */
    t = make_ids(7);
    text_split(&t, 0.5, 0.25, &tr, &va, &te);
    CHECK(tr.n == 10 && va.n == 5 && te.n == 13);
    text_split(&t, 1.0, 0.0, &tr, &va, &te);
    CHECK(tr.n == 28 && va.n == 0 && te.n == 0);
    text_split(&t, 0.0, 0.0, &tr, &va, &te);
    CHECK(tr.n == 0 && va.n == 0 && te.n == 28 && te.ids == t.ids);
    EXPECT_ERROR(text_split(&t, 0.9, 0.2, &tr, &va, &te), "text_split");
    EXPECT_ERROR(text_split(&t, -0.1, 0.2, &tr, &va, &te), "text_split");
    text_ids_free(&t);
}

/* ----------------------------------------------------------- LM batches ---- */

TEST(lanes_windows_by_hand) {
    int ids[23];
    for (int i = 0; i < 23; i++)
        ids[i] = 100 + i;
    /* B = 3: L = 23 / 3 = 7, token 22 is left over; lanes read 100-106, 107-113, 114-120. */
    text_lanes l = text_lanes_make((text_span){ids, 23}, 3);
    CHECK(l.lane_len == 7 && l.batch == 3 && l.ids == ids);
    /* 6 (input, next) pairs a lane; T = 4: windows of 4 and 2. */
    CHECK(text_lanes_windows(&l, 4) == 2);
    int x[300], y[300]; /* T·B entries, for the largest T below */
    CHECK(text_lanes_window(&l, 4, 0, x, y) == 4);
    CHECK_IDS(x, 100, 107, 114, 101, 108, 115, 102, 109, 116, 103, 110, 117);
    CHECK_IDS(y, 101, 108, 115, 102, 109, 116, 103, 110, 117, 104, 111, 118);
    for (int i = 0; i < 12; i++)
        x[i] = y[i] = -1;
    CHECK(text_lanes_window(&l, 4, 1, x, y) == 2); /* the short last window */
    CHECK_IDS(x, 104, 111, 118, 105, 112, 119, -1);
    CHECK_IDS(y, 105, 112, 119, 106, 113, 120, -1);
    /* T dividing the pairs exactly: 6 = 2 x 3, no short window. */
    CHECK(text_lanes_windows(&l, 3) == 2);
    CHECK(text_lanes_window(&l, 3, 1, x, y) == 3);
    CHECK(x[0] == 103 && y[8] == 120);
    CHECK(text_lanes_windows(&l, 100) == 1);
    CHECK(text_lanes_window(&l, 100, 0, x, y) == 6);
    /* Lanes of one token make no pair. */
    text_lanes tiny = text_lanes_make((text_span){ids, 5}, 3);
    CHECK(tiny.lane_len == 1 && text_lanes_windows(&tiny, 4) == 0);
    EXPECT_ERROR(text_lanes_window(&l, 4, 2, x, y), "text_lanes_window", "window 2 of 2");
    text_span all = {ids, 23}; /* outside EXPECT_ERROR: a compound literal there is clobbered */
    EXPECT_ERROR(text_lanes_make(all, 0), "text_lanes_make");
    EXPECT_ERROR(text_lanes_windows(&l, 0), "text_lanes_windows");
}

/* -------------------------------------------------------------- tagging ---- */

TEST(read_tagged) {
    dir_make();
    /* The last '/' separates: "1/2/cd" is the word "1/2"; "AC/DC/np" the word "AC/DC". */
    const char *p = PUT("tagged.txt", "The/at dog/nn ran/vbd ./.\r\n"
                                      "\n"
                                      "1/2/cd of/in AC/DC/np dog/nn");
    text_vocab *w = text_vocab_new(), *g = text_vocab_new();
    text_tagged t;
    REQUIRE(text_read_tagged(p, w, g, true, &t) == NN_OK);
    CHECK(t.words.n == 8 && t.words.nlines == 2);
    CHECK(t.words.line_start[0] == 0 && t.words.line_start[1] == 4 && t.words.line_start[2] == 8);
    CHECK(text_vocab_size(w) == 8 && text_vocab_size(g) == 8);
    CHECK(id_of(w, "1/2") == 5 && id_of(w, "AC/DC") == 7 && id_of(w, "The") == 1);
    CHECK(text_vocab_count(w, id_of(w, "dog")) == 2);
    CHECK(id_of(g, "nn") == 2 && text_vocab_count(g, 2) == 2);
    CHECK(id_of(g, "cd") == 5 && id_of(g, ".") == 4);
    CHECK_IDS(t.words.ids, 1, 2, 3, 4, 5, 6, 7, 2);
    CHECK_IDS(t.tags, 1, 2, 3, 4, 5, 6, 7, 2);
    text_tagged_free(&t);
    CHECK(t.tags == NULL && t.words.ids == NULL);
    /* Without growing: unknown words and tags are <unk>; the vocabularies stay. */
    const char *q = PUT("test.txt", "the/at dog/nn barked/vbd ./.\n");
    REQUIRE(text_read_tagged(q, w, g, false, &t) == NN_OK);
    CHECK_IDS(t.words.ids, 0, 2, 0, 4);
    CHECK_IDS(t.tags, 1, 2, 3, 4);
    CHECK(text_vocab_size(w) == 8 && text_vocab_count(w, 2) == 2);
    text_tagged_free(&t);
    /* Growing again adds counts to the same ids. */
    REQUIRE(text_read_tagged(q, w, g, true, &t) == NN_OK);
    CHECK(text_vocab_count(w, 2) == 3 && id_of(w, "barked") == 9);
    CHECK_IDS(t.words.ids, 8, 2, 9, 4);
    text_tagged_free(&t);
    text_vocab_free(w);
    text_vocab_free(g);
    dir_remove();
}

TEST(read_tagged_bad_files) {
    dir_make();
    text_vocab *w = text_vocab_new(), *g = text_vocab_new();
    text_tagged t;
    const char *p = in_dir("missing.txt");
    CHECK_ERROR(text_read_tagged(p, w, g, true, &t), NN_ERR_IO, p, "cannot open");
    p = PUT("empty.txt", "\n\n");
    CHECK_ERROR(text_read_tagged(p, w, g, true, &t), NN_ERR_FORMAT, p, "empty");
    p = PUT("notag.txt", "a/at b/nn\nc/at d e/nn\n");
    CHECK_ERROR(text_read_tagged(p, w, g, true, &t), NN_ERR_FORMAT, p, ":2:", "'d'", "word/TAG");
    p = PUT("noword.txt", "a/at /nn\n");
    CHECK_ERROR(text_read_tagged(p, w, g, true, &t), NN_ERR_FORMAT, p, ":1:", "'/nn'");
    p = PUT("emptytag.txt", "a/at\nb/\n");
    CHECK_ERROR(text_read_tagged(p, w, g, false, &t), NN_ERR_FORMAT, p, ":2:", "'b/'");
    p = PUT("utf8.txt", "a/at\nb/nn\nc\xff/nn\n");
    CHECK_ERROR(text_read_tagged(p, w, g, true, &t), NN_ERR_FORMAT, p, ":3:", "UTF-8");
    CHECK(t.words.ids == NULL && t.tags == NULL);
    /* Nothing was added by the failed reads. */
    CHECK(text_vocab_size(w) == 1 && text_vocab_size(g) == 1);
    CHECK(text_vocab_total(w) == 0 && text_vocab_total(g) == 0);
    text_vocab_free(w);
    text_vocab_free(g);
    dir_remove();
}

/* A larger file: counts and ids agree with a count done here, and nothing is lost between
 * the stdio buffer's refills (lines far longer than any buffer). */
TEST(read_long_lines) {
    dir_make();
    const char *p = in_dir("long.txt");
    FILE *f = fopen(p, "w");
    REQUIRE(f);
    long want[50] = {0};
    for (int line = 0; line < 20; line++) {
        for (int i = 0; i < 5000; i++) {
            int k = (line * 7919 + i * 104729) % 50;
            fprintf(f, "%sw%d", i ? " " : "", k);
            want[k]++;
        }
        fputc('\n', f);
    }
    REQUIRE(fclose(f) == 0);
    text_vocab *v = text_vocab_new();
    REQUIRE(text_count(p, TEXT_WORDS, v) == NN_OK);
    CHECK(text_vocab_total(v) == 100000);
    int bad = 0;
    for (int k = 0; k < 50; k++) {
        char w[8];
        snprintf(w, sizeof w, "w%d", k);
        int id = text_vocab_find(v, w);
        if (want[k] && (id < 0 || text_vocab_count(v, id) != want[k])) bad++;
    }
    CHECK(bad == 0);
    text_ids t;
    REQUIRE(text_read(p, TEXT_WORDS, v, -1, &t) == NN_OK);
    CHECK(t.n == 100000 && t.nlines == 20 && t.line_start[7] == 35000);
    long got[64] = {0};
    for (size_t i = 0; i < t.n; i++)
        got[t.ids[i]]++;
    bad = 0;
    for (int id = 1; id < text_vocab_size(v); id++)
        if (got[id] != text_vocab_count(v, id)) bad++;
    CHECK(bad == 0 && got[0] == 0);
    text_ids_free(&t);
    text_vocab_free(v);
    dir_remove();
}
