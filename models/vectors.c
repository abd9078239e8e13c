/*
 * vectors.c — word vectors once trained: word2vec's text and binary formats and GloVe's text
 * format, nearest neighbours and analogies by cosine similarity, and the questions-words
 * evaluation (3CosAdd, as word2vec's compute-accuracy and gensim's evaluate_word_analogies).
 *
 * Values are written as "%.9g", which reads back to the same float32: a text round trip is as
 * exact as a binary one. Binary floats are written and read little-endian whatever the host.
 */
#include "vectors.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WV_MAX_DIM 1000000  /* a header asking for more is malformed, not an allocation */
#define WV_MAX_WORD 4096    /* bytes of one word in a binary file */

/* ------------------------------------------------------------------ table ---- */

nn_status wv_table_make(wv_table *t, int n, int dim, const char *const *words,
                        const ad_real *vec) {
    if (!t || n < 0 || dim < 1 || (n > 0 && (!words || !vec)))
        ad_fail_at(__FILE__, __LINE__, "wv_table_make", "%d words of dim %d (words %p, vec %p)",
                   n, dim, (const void *)words, (const void *)vec);
    memset(t, 0, sizeof *t);
    t->words = calloc(n ? (size_t)n : 1, sizeof *t->words);
    t->vec = malloc((n ? (size_t)n : 1) * (size_t)dim * sizeof *t->vec);
    if (!t->words || !t->vec) {
        free(t->words);
        free(t->vec);
        t->words = NULL;
        t->vec = NULL;
        return nn_set_error(NN_ERR_MEMORY, "wv_table_make: out of memory for %d x %d", n, dim);
    }
    t->dim = dim;
    for (int i = 0; i < n; i++) {
        if (!words[i]) ad_fail_at(__FILE__, __LINE__, "wv_table_make", "word %d is NULL", i);
        t->words[i] = strdup(words[i]);
        t->n = i + 1; /* so wv_table_free frees what was copied */
        if (!t->words[i]) {
            wv_table_free(t);
            return nn_set_error(NN_ERR_MEMORY, "wv_table_make: out of memory");
        }
    }
    for (size_t k = 0; k < (size_t)n * (size_t)dim; k++) t->vec[k] = (float)vec[k];
    return NN_OK;
}

void wv_table_free(wv_table *t) {
    if (!t) return;
    for (int i = 0; i < t->n; i++) free(t->words[i]);
    free(t->words);
    free(t->vec);
    memset(t, 0, sizeof *t);
}

int wv_table_find(const wv_table *t, const char *word) {
    for (int i = 0; i < t->n; i++)
        if (strcmp(t->words[i], word) == 0) return i;
    return -1;
}

/* ---------------------------------------------------------------- saving ---- */

static const char *format_name(wv_format f) {
    switch (f) {
    case WV_WORD2VEC_TEXT: return "word2vec text";
    case WV_WORD2VEC_BINARY: return "word2vec binary";
    case WV_GLOVE_TEXT: return "GloVe text";
    }
    return "an unknown format";
}

static void put_le32(FILE *f, float x) {
    uint32_t u;
    memcpy(&u, &x, 4);
    const unsigned char b[4] = {(unsigned char)u, (unsigned char)(u >> 8),
                                (unsigned char)(u >> 16), (unsigned char)(u >> 24)};
    fwrite(b, 1, 4, f);
}

static float get_le32(const unsigned char *b) {
    const uint32_t u = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
                       (uint32_t)b[3] << 24;
    float x;
    memcpy(&x, &u, 4);
    return x;
}

static void write_table(FILE *f, const wv_table *t, wv_format fmt) {
    if (fmt != WV_GLOVE_TEXT) fprintf(f, "%d %d\n", t->n, t->dim);
    for (int i = 0; i < t->n; i++) {
        const float *v = t->vec + (size_t)i * (size_t)t->dim;
        fputs(t->words[i], f);
        if (fmt == WV_WORD2VEC_BINARY) {
            fputc(' ', f);
            for (int j = 0; j < t->dim; j++) put_le32(f, v[j]);
        } else {
            for (int j = 0; j < t->dim; j++) fprintf(f, " %.9g", (double)v[j]);
        }
        fputc('\n', f);
    }
}

nn_status wv_save(const wv_table *t, const char *path, wv_format fmt) {
    if (!t || !path || (fmt != WV_WORD2VEC_TEXT && fmt != WV_WORD2VEC_BINARY &&
                        fmt != WV_GLOVE_TEXT))
        ad_fail_at(__FILE__, __LINE__, "wv_save", "NULL table or path, or format %d", (int)fmt);
    /* A word with whitespace in it would read back as another word and a non-number. */
    for (int i = 0; i < t->n; i++) {
        const char *w = t->words[i];
        bool bad = !w[0];
        for (const char *p = w; *p && !bad; p++) bad = isspace((unsigned char)*p);
        if (bad)
            return nn_set_error(NN_ERR_FORMAT, "%s: word %d ('%s') is empty or contains "
                                "whitespace; the %s format cannot hold it", path, i, w,
                                format_name(fmt));
    }
    FILE *f;
    char *tmp;
    nn_status st = nn_file_begin(path, &f, &tmp);
    if (st) return st;
    write_table(f, t, fmt);
    return nn_file_commit(f, tmp, path);
}

/* --------------------------------------------------------------- loading ---- */

/* A table being filled: grows when the file has no header to say how big it is. */
typedef struct {
    wv_table t;
    int cap;
    const char *path;
} builder;

static nn_status builder_reserve(builder *b, int want) {
    if (want <= b->cap) return NN_OK;
    int cap = b->cap ? b->cap : 1024;
    while (cap < want) cap = cap > INT_MAX / 2 ? INT_MAX : cap * 2;
    char **w = realloc(b->t.words, (size_t)cap * sizeof *w);
    if (w) b->t.words = w;
    float *v = w ? realloc(b->t.vec, (size_t)cap * (size_t)b->t.dim * sizeof *v) : NULL;
    if (v) b->t.vec = v;
    if (!w || !v)
        return nn_set_error(NN_ERR_MEMORY, "%s: out of memory for %d vectors of dim %d", b->path,
                            cap, b->t.dim);
    b->cap = cap;
    return NN_OK;
}

/* Appends a word; its vector is written by the caller at row t.n - 1. */
static nn_status builder_push(builder *b, const char *word, size_t len) {
    nn_status s = builder_reserve(b, b->t.n + 1);
    if (s) return s;
    char *w = malloc(len + 1);
    if (!w) return nn_set_error(NN_ERR_MEMORY, "%s: out of memory", b->path);
    memcpy(w, word, len);
    w[len] = 0;
    b->t.words[b->t.n++] = w;
    return NN_OK;
}

static nn_status builder_fail(builder *b, nn_status s) {
    wv_table_free(&b->t);
    return s;
}

/* The next whitespace-separated token of *p (advanced past it); NULL at the end of the line. */
static char *next_token(char **p, size_t *len) {
    char *s = *p;
    while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n') s++;
    if (!*s) return NULL;
    char *e = s;
    while (*e && *e != ' ' && *e != '\t' && *e != '\r' && *e != '\n') e++;
    *len = (size_t)(e - s);
    *p = e;
    return s;
}

static bool blank(const char *line) {
    for (; *line; line++)
        if (!isspace((unsigned char)*line)) return false;
    return true;
}

/* A whole non-negative integer token. */
static bool parse_count(const char *tok, size_t len, long *out) {
    if (len == 0 || len > 18) return false;
    long v = 0;
    for (size_t i = 0; i < len; i++) {
        if (tok[i] < '0' || tok[i] > '9') return false;
        v = v * 10 + (tok[i] - '0');
    }
    *out = v;
    return true;
}

/* Parses the values of one "word v1 ... vdim" line (p after the word) into out. Returns the number
 * of values found (more than dim are counted, not stored), or -1 with *bad at a non-number. */
static long parse_values(char *p, float *out, int dim, char **bad, size_t *badlen) {
    long count = 0;
    size_t len;
    for (char *tok; (tok = next_token(&p, &len));) {
        char save = tok[len];
        tok[len] = 0;
        char *end;
        errno = 0;
        float x = strtof(tok, &end);
        tok[len] = save;
        /* ERANGE for a denormal is still a number; only a token strtof does not consume is not */
        if (end != tok + len) {
            *bad = tok;
            *badlen = len;
            return -1;
        }
        if (count < dim) out[count] = x;
        count++;
    }
    return count;
}

static nn_status value_error(builder *b, long line, const char *word, size_t wlen, long value_no,
                             const char *bad, size_t badlen) {
    return builder_fail(b, nn_set_error(NN_ERR_FORMAT, "%s: line %ld: '%.*s' is not a number "
                                        "(value %ld of word '%.*s')", b->path, line,
                                        (int)(badlen > 40 ? 40 : badlen), bad, value_no,
                                        (int)wlen, word));
}

/* A word's values, checked against dim; -1 from parse_values names the bad token. */
static nn_status parse_entry(builder *b, long line, char *p, const char *word, size_t wlen,
                             const char *why_dim) {
    nn_status s = builder_push(b, word, wlen);
    if (s) return builder_fail(b, s);
    float *row = b->t.vec + (size_t)(b->t.n - 1) * (size_t)b->t.dim;
    char *bad = NULL;
    size_t badlen = 0;
    long count = parse_values(p, row, b->t.dim, &bad, &badlen);
    if (count < 0) {
        /* which value: count the tokens before the bad one */
        long k = 1;
        size_t len;
        for (char *q = p, *tok; (tok = next_token(&q, &len)) && tok < bad;) k++;
        return value_error(b, line, word, wlen, k, bad, badlen);
    }
    if (count != b->t.dim)
        return builder_fail(b, nn_set_error(NN_ERR_FORMAT, "%s: line %ld: word '%.*s' has %ld "
                                            "values, expected %d%s", b->path, line, (int)wlen,
                                            word, count, b->t.dim, why_dim));
    return NN_OK;
}

static nn_status load_word2vec_text(FILE *f, builder *b, int max_words) {
    char *line = NULL;
    size_t cap = 0;
    long lineno = 0;
    nn_status s = NN_OK;
    long n = 0, dim = 0;
    if (getline(&line, &cap, f) < 0) {
        s = builder_fail(b, nn_set_error(NN_ERR_FORMAT, "%s: empty file (expected a header line "
                                         "'<words> <dim>')", b->path));
        goto done;
    }
    lineno = 1;
    {
        char *p = line, *t1, *t2;
        size_t l1 = 0, l2 = 0, l3;
        t1 = next_token(&p, &l1);
        t2 = t1 ? next_token(&p, &l2) : NULL;
        if (!t2 || next_token(&p, &l3) || !parse_count(t1, l1, &n) || !parse_count(t2, l2, &dim) ||
            n > INT_MAX || dim < 1 || dim > WV_MAX_DIM) {
            line[strcspn(line, "\r\n")] = 0;
            s = builder_fail(b, nn_set_error(NN_ERR_FORMAT, "%s: line 1: expected the header "
                                             "'<words> <dim>' (dim in [1, %d]), found '%.60s'",
                                             b->path, WV_MAX_DIM, line));
            goto done;
        }
    }
    b->t.dim = (int)dim;
    const long want = max_words > 0 && max_words < n ? max_words : n;
    if ((s = builder_reserve(b, want > 0 ? (int)want : 1))) {
        builder_fail(b, s);
        goto done;
    }
    while (b->t.n < want) {
        if (getline(&line, &cap, f) < 0) {
            s = builder_fail(b, nn_set_error(NN_ERR_FORMAT, "%s: the header announces %ld words "
                                             "but the file ends after %d (line %ld)", b->path, n,
                                             b->t.n, lineno));
            goto done;
        }
        lineno++;
        char *p = line;
        size_t wlen;
        char *word = next_token(&p, &wlen);
        if (!word) {
            s = builder_fail(b, nn_set_error(NN_ERR_FORMAT, "%s: line %ld: an empty line where "
                                             "word %d of %ld was expected", b->path, lineno,
                                             b->t.n + 1, n));
            goto done;
        }
        if ((s = parse_entry(b, lineno, p, word, wlen, "")) != NN_OK) goto done;
    }
    /* All announced words read (not only the first max_words): anything but blank lines after
     * them means the header's count is wrong. */
    if (want == n) {
        while (getline(&line, &cap, f) >= 0) {
            lineno++;
            if (!blank(line)) {
                s = builder_fail(b, nn_set_error(NN_ERR_FORMAT, "%s: line %ld: more words than "
                                                 "the %ld the header announces", b->path, lineno,
                                                 n));
                goto done;
            }
        }
    }
done:
    free(line);
    return s;
}

static nn_status load_glove_text(FILE *f, builder *b, int max_words) {
    char *line = NULL;
    size_t cap = 0;
    long lineno = 0;
    nn_status s = NN_OK;
    char why[96] = "";
    while (getline(&line, &cap, f) >= 0) {
        lineno++;
        if (max_words > 0 && b->t.n >= max_words) break;
        char *p = line;
        size_t wlen;
        char *word = next_token(&p, &wlen);
        if (!word) continue; /* blank lines carry nothing */
        if (b->t.n == 0) {
            /* the first line sets the dimension */
            char *q = p, *tok;
            size_t len;
            long count = 0;
            while ((tok = next_token(&q, &len))) count++;
            long n0 = 0, d0 = 0;
            size_t l2 = 0;
            char *q2 = p, *t2 = next_token(&q2, &l2);
            if (count == 1 && parse_count(word, wlen, &n0) && parse_count(t2, l2, &d0)) {
                s = builder_fail(b, nn_set_error(NN_ERR_FORMAT, "%s: line 1 looks like a "
                                                 "word2vec header ('%ld %ld'), not a GloVe "
                                                 "vector: read it as word2vec text", b->path, n0,
                                                 d0));
                goto done;
            }
            if (count < 1 || count > WV_MAX_DIM) {
                s = builder_fail(b, nn_set_error(NN_ERR_FORMAT, "%s: line %ld: word '%.*s' has "
                                                 "%ld values; a vector needs 1 to %d", b->path,
                                                 lineno, (int)wlen, word, count, WV_MAX_DIM));
                goto done;
            }
            b->t.dim = (int)count;
            snprintf(why, sizeof why, " (as on line %ld)", lineno);
        }
        if ((s = parse_entry(b, lineno, p, word, wlen, why)) != NN_OK) goto done;
    }
    if (b->t.n == 0)
        s = builder_fail(b, nn_set_error(NN_ERR_FORMAT, "%s: no vectors in the file", b->path));
done:
    free(line);
    return s;
}

static nn_status load_word2vec_binary(FILE *f, builder *b, int max_words) {
    long n = 0, dim = 0;
    char head[128];
    if (!fgets(head, sizeof head, f)) {
        return builder_fail(b, nn_set_error(NN_ERR_FORMAT, "%s: empty file (expected a header "
                                            "line '<words> <dim>')", b->path));
    }
    {
        char *p = head, *t1, *t2;
        size_t l1 = 0, l2 = 0, l3;
        t1 = next_token(&p, &l1);
        t2 = t1 ? next_token(&p, &l2) : NULL;
        if (!strchr(head, '\n') || !t2 || next_token(&p, &l3) || !parse_count(t1, l1, &n) ||
            !parse_count(t2, l2, &dim) || n > INT_MAX || dim < 1 || dim > WV_MAX_DIM) {
            head[strcspn(head, "\r\n")] = 0;
            for (char *q = head; *q; q++)
                if (!isprint((unsigned char)*q)) *q = '?';
            return builder_fail(b, nn_set_error(NN_ERR_FORMAT, "%s: line 1: expected the header "
                                                "'<words> <dim>' (dim in [1, %d]), found '%.60s'",
                                                b->path, WV_MAX_DIM, head));
        }
    }
    b->t.dim = (int)dim;
    const long want = max_words > 0 && max_words < n ? max_words : n;
    nn_status s = builder_reserve(b, want > 0 ? (int)want : 1);
    if (s) return builder_fail(b, s);
    unsigned char *raw = malloc((size_t)dim * 4);
    char *word = malloc(WV_MAX_WORD + 1);
    if (!raw || !word) {
        free(raw);
        free(word);
        return builder_fail(b, nn_set_error(NN_ERR_MEMORY, "%s: out of memory", b->path));
    }
    while (b->t.n < want) {
        /* as word2vec's distance and gensim read it: newlines before a word are skipped, the
         * word ends at a space */
        size_t len = 0;
        int c;
        while ((c = getc(f)) == '\n') {}
        while (c != EOF && c != ' ' && len < WV_MAX_WORD) {
            word[len++] = (char)c;
            c = getc(f);
        }
        if (c == EOF) {
            s = nn_set_error(NN_ERR_FORMAT, "%s: the header announces %ld words but the file "
                             "ends after %d%s", b->path, n, b->t.n,
                             len ? " (inside the next word)" : "");
            break;
        }
        if (c != ' ' || len == 0) {
            s = nn_set_error(NN_ERR_FORMAT, "%s: entry %d: %s", b->path, b->t.n + 1,
                             len ? "a word longer than 4096 bytes (is this a binary file?)"
                                 : "an empty word");
            break;
        }
        if ((s = builder_push(b, word, len))) break;
        size_t got = fread(raw, 4, (size_t)dim, f);
        if (got != (size_t)dim) {
            s = nn_set_error(NN_ERR_FORMAT, "%s: entry %d (word '%.*s'): the file ends after %zu "
                             "of its %ld values", b->path, b->t.n, (int)len, word, got, dim);
            break;
        }
        float *row = b->t.vec + (size_t)(b->t.n - 1) * (size_t)dim;
        for (long j = 0; j < dim; j++) row[j] = get_le32(raw + 4 * j);
    }
    if (!s && want == n) {
        int c;
        while ((c = getc(f)) != EOF && isspace(c)) {}
        if (c != EOF)
            s = nn_set_error(NN_ERR_FORMAT, "%s: more data after the %ld words the header "
                             "announces", b->path, n);
    }
    free(raw);
    free(word);
    return s ? builder_fail(b, s) : NN_OK;
}

nn_status wv_load(const char *path, wv_format fmt, int max_words, wv_table *out) {
    if (!path || !out)
        ad_fail_at(__FILE__, __LINE__, "wv_load", "NULL path or output table");
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "rb");
    if (!f) return nn_set_error(NN_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    builder b = {.path = path};
    nn_status s;
    switch (fmt) {
    case WV_WORD2VEC_TEXT: s = load_word2vec_text(f, &b, max_words); break;
    case WV_WORD2VEC_BINARY: s = load_word2vec_binary(f, &b, max_words); break;
    case WV_GLOVE_TEXT: s = load_glove_text(f, &b, max_words); break;
    default: ad_fail_at(__FILE__, __LINE__, "wv_load", "unknown format %d", (int)fmt);
    }
    if (!s && ferror(f)) s = builder_fail(&b, nn_set_error(NN_ERR_IO, "%s: read error", path));
    fclose(f);
    if (!s) *out = b.t;
    return s;
}

/* --------------------------------------------------- nearest, analogies ---- */

static double norm_of(const float *v, int dim) {
    double s = 0;
    for (int j = 0; j < dim; j++) s += (double)v[j] * v[j];
    return sqrt(s);
}

static int limit_of(const wv_table *t, int limit) {
    return limit > 0 && limit < t->n ? limit : t->n;
}

/* Insert (id, sim) into the best-first list of at most k entries; ties keep the lower id. */
static void keep_best(int *ids, float *sims, int *count, int k, int id, float sim) {
    if (*count == k && !(sim > sims[k - 1])) return;
    int pos = *count < k ? (*count)++ : k - 1;
    while (pos > 0 && sim > sims[pos - 1]) {
        ids[pos] = ids[pos - 1];
        sims[pos] = sims[pos - 1];
        pos--;
    }
    ids[pos] = id;
    sims[pos] = sim;
}

int wv_nearest(const wv_table *t, const float *query, int limit, const int *exclude,
               int n_exclude, int k, int *ids, float *sims) {
    if (!t || !query || k < 0 || (k > 0 && (!ids || !sims)) || n_exclude < 0 ||
        (n_exclude > 0 && !exclude))
        ad_fail_at(__FILE__, __LINE__, "wv_nearest", "NULL argument or negative count");
    const int L = limit_of(t, limit), d = t->dim;
    const double qn = norm_of(query, d);
    int count = 0;
    if (k == 0) return 0;
    for (int i = 0; i < L; i++) {
        bool skip = false;
        for (int e = 0; e < n_exclude && !skip; e++) skip = exclude[e] == i;
        if (skip) continue;
        const float *x = t->vec + (size_t)i * (size_t)d;
        double dot = 0;
        for (int j = 0; j < d; j++) dot += (double)x[j] * query[j];
        const double xn = norm_of(x, d);
        const float sim = xn > 0 && qn > 0 ? (float)(dot / (xn * qn)) : 0.0f;
        keep_best(ids, sims, &count, k, i, sim);
    }
    return count;
}

int wv_analogy(const wv_table *t, int a, int b, int c, int limit) {
    if (!t) ad_fail_at(__FILE__, __LINE__, "wv_analogy", "NULL table");
    const int L = limit_of(t, limit), d = t->dim;
    if (a < 0 || b < 0 || c < 0 || a >= L || b >= L || c >= L) return -1;
    /* 3CosAdd on unit vectors: b - a + c, and the cosine of each candidate with it */
    double *q = malloc((size_t)d * sizeof *q);
    if (!q) ad_fail_at(__FILE__, __LINE__, "wv_analogy", "out of memory");
    const int abc[3] = {a, b, c};
    const double sign[3] = {-1, 1, 1};
    for (int j = 0; j < d; j++) q[j] = 0;
    for (int w = 0; w < 3; w++) {
        const float *x = t->vec + (size_t)abc[w] * (size_t)d;
        const double n = norm_of(x, d);
        if (n > 0)
            for (int j = 0; j < d; j++) q[j] += sign[w] * x[j] / n;
    }
    int best = -1;
    double best_sim = -INFINITY;
    for (int i = 0; i < L; i++) {
        if (i == a || i == b || i == c) continue;
        const float *x = t->vec + (size_t)i * (size_t)d;
        double dot = 0;
        for (int j = 0; j < d; j++) dot += (double)x[j] * q[j];
        const double n = norm_of(x, d);
        const double sim = n > 0 ? dot / n : 0;
        if (sim > best_sim) {
            best_sim = sim;
            best = i;
        }
    }
    free(q);
    return best;
}

/* ------------------------------------------------ questions-words evaluation ---- */

/*
 * Every question is answered at once: the unit vectors of the first `limit` words form a matrix M
 * (a parameter of a private store, so the product runs through the tape and BLAS with the
 * library's thread setting), the queries b - a + c a chunk of rows Q, and the answer of each row
 * the argmax of Q Mᵀ outside the question's own three words. Words are matched without ASCII case
 * as word2vec's compute-accuracy does (it upper-cases everything): when two of the first `limit`
 * words fold to the same key, the more frequent (earlier) one stands for both.
 */

static uint64_t fold_hash(const char *s, size_t len) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)tolower((unsigned char)s[i]);
        h *= 1099511628211ull;
    }
    return h;
}

static bool fold_equal(const char *a, size_t alen, const char *b) {
    size_t i = 0;
    for (; i < alen && b[i]; i++)
        if (tolower((unsigned char)a[i]) != tolower((unsigned char)b[i])) return false;
    return i == alen && !b[i];
}

typedef struct {
    int *slot;  /* open addressing: word id + 1, 0 empty */
    size_t mask;
    const wv_table *t;
    int *canon; /* L entries: the id standing for each word (itself unless a case variant) */
} fold_index;

static int fold_find(const fold_index *ix, const char *w, size_t len) {
    for (size_t h = fold_hash(w, len) & ix->mask;; h = (h + 1) & ix->mask) {
        int id = ix->slot[h] - 1;
        if (id < 0) return -1;
        if (fold_equal(w, len, ix->t->words[id])) return id;
    }
}

static bool fold_index_make(fold_index *ix, const wv_table *t, int L) {
    size_t cap = 16;
    while (cap < 2 * (size_t)L) cap *= 2;
    ix->slot = calloc(cap, sizeof *ix->slot);
    ix->canon = malloc((L ? (size_t)L : 1) * sizeof *ix->canon);
    ix->mask = cap - 1;
    ix->t = t;
    if (!ix->slot || !ix->canon) return false;
    for (int i = 0; i < L; i++) {
        const size_t len = strlen(t->words[i]);
        size_t h = fold_hash(t->words[i], len) & ix->mask;
        ix->canon[i] = i;
        for (; ix->slot[h]; h = (h + 1) & ix->mask)
            if (fold_equal(t->words[i], len, t->words[ix->slot[h] - 1])) {
                ix->canon[i] = ix->slot[h] - 1;
                break;
            }
        if (ix->canon[i] == i) ix->slot[h] = i + 1;
    }
    return true;
}

typedef struct {
    int w[4];
    bool syn;
} question;

enum { EVAL_CHUNK = 256 };

/* Answers questions q[0..n) into pred (ids) with the unit matrix M (L x d) held by Mt. */
static void answer_chunk(ad_tape *tp, ad_tensor *Mt, const float *unit, int d, const int *canon,
                         const question *q, int n, int *pred) {
    ad_real *Q = ad_tape_scratch(tp, (size_t)n * (size_t)d * sizeof *Q);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < d; j++)
            Q[(size_t)i * d + j] = (ad_real)unit[(size_t)q[i].w[1] * d + j] -
                                   (ad_real)unit[(size_t)q[i].w[0] * d + j] +
                                   (ad_real)unit[(size_t)q[i].w[2] * d + j];
    ad_tensor *S = ad_matmul_nt(tp, ad_input(tp, n, d, Q), Mt); /* n x L cosines (times |q|) */
    const ad_real *s = ad_data(S);
    const ptrdiff_t L = ad_rows(Mt);
    AD_PARALLEL_FOR((size_t)n * (size_t)L,
        for (int i = 0; i < n; i++) {
            const ad_real *row = s + (size_t)i * (size_t)L;
            int best = -1;
            ad_real best_s = 0;
            for (ptrdiff_t x = 0; x < L; x++) {
                const int cx = canon[x];
                if (cx == q[i].w[0] || cx == q[i].w[1] || cx == q[i].w[2]) continue;
                if (best < 0 || row[x] > best_s) {
                    best_s = row[x];
                    best = (int)x;
                }
            }
            pred[i] = best < 0 ? -1 : canon[best];
        });
}

static nn_status run_questions(const wv_table *t, int L, const int *canon, const question *qs,
                               long nq, wv_analogy_result *res) {
    const int d = t->dim;
    float *unit = malloc((size_t)L * (size_t)d * sizeof *unit);
    ad_params *ps = ad_params_new();
    ad_tape *tp = ad_tape_new();
    if (!unit) {
        ad_params_free(ps);
        ad_tape_free(tp);
        return nn_set_error(NN_ERR_MEMORY, "wv_eval_analogies: out of memory");
    }
    ad_tensor *M = ad_param(ps, "unit vectors", L, d);
    ad_real *m = ad_data(M);
    for (int i = 0; i < L; i++) {
        const float *x = t->vec + (size_t)i * (size_t)d;
        const double n = norm_of(x, d);
        for (int j = 0; j < d; j++) {
            unit[(size_t)i * d + j] = n > 0 ? (float)(x[j] / n) : 0.0f;
            m[(size_t)i * d + j] = unit[(size_t)i * d + j];
        }
    }
    int pred[EVAL_CHUNK];
    for (long start = 0; start < nq; start += EVAL_CHUNK) {
        const int n = nq - start < EVAL_CHUNK ? (int)(nq - start) : EVAL_CHUNK;
        answer_chunk(tp, M, unit, d, canon, qs + start, n, pred);
        ad_tape_reset(tp);
        for (int i = 0; i < n; i++) {
            const question *q = qs + start + i;
            const bool ok = pred[i] == q->w[3];
            res->answered++;
            res->correct += ok;
            if (q->syn) {
                res->syn_answered++;
                res->syn_correct += ok;
            } else {
                res->sem_answered++;
                res->sem_correct += ok;
            }
        }
    }
    free(unit);
    ad_tape_free(tp);
    ad_params_free(ps);
    return NN_OK;
}

nn_status wv_eval_analogies(const wv_table *t, const char *questions_path, int limit,
                            wv_analogy_result *res) {
    if (!t || !questions_path || !res)
        ad_fail_at(__FILE__, __LINE__, "wv_eval_analogies", "NULL table, path or result");
    memset(res, 0, sizeof *res);
    FILE *f = fopen(questions_path, "r");
    if (!f)
        return nn_set_error(NN_ERR_IO, "%s: cannot open: %s", questions_path, strerror(errno));
    const int L = limit_of(t, limit);
    fold_index ix = {0};
    question *qs = NULL;
    long nq = 0, qcap = 0, lineno = 0;
    bool syn = false;
    char *line = NULL;
    size_t cap = 0;
    nn_status s = NN_OK;
    if (!fold_index_make(&ix, t, L)) {
        s = nn_set_error(NN_ERR_MEMORY, "%s: out of memory", questions_path);
        goto done;
    }
    while (getline(&line, &cap, f) >= 0) {
        lineno++;
        char *p = line, *tok[5];
        size_t len[5];
        int ntok = 0;
        while (ntok < 5 && (tok[ntok] = next_token(&p, &len[ntok]))) ntok++;
        if (ntok == 0) continue;
        if (tok[0][0] == ':') {
            /* ": gram3-comparative" (or ":gram3-...") opens a section */
            const char *name = len[0] > 1 ? tok[0] + 1 : ntok > 1 ? tok[1] : "";
            syn = strncmp(name, "gram", 4) == 0;
            continue;
        }
        if (ntok != 4) {
            if (ntok == 5) ntok = 5 + (next_token(&p, &len[0]) != NULL); /* "5 or more" */
            s = nn_set_error(NN_ERR_FORMAT, "%s: line %ld: expected four words 'a b c d' or a "
                             "': section' header, found %s%d word%s", questions_path, lineno,
                             ntok > 5 ? "more than " : "", ntok > 5 ? 5 : ntok,
                             ntok == 1 ? "" : "s");
            goto done;
        }
        res->questions++;
        question q = {.syn = syn};
        bool known = true;
        for (int k = 0; k < 4 && known; k++) known = (q.w[k] = fold_find(&ix, tok[k], len[k])) >= 0;
        if (!known) continue;
        if (nq == qcap) {
            qcap = qcap ? 2 * qcap : 1024;
            question *grown = realloc(qs, (size_t)qcap * sizeof *qs);
            if (!grown) {
                s = nn_set_error(NN_ERR_MEMORY, "%s: out of memory", questions_path);
                goto done;
            }
            qs = grown;
        }
        qs[nq++] = q;
    }
    if (ferror(f)) {
        s = nn_set_error(NN_ERR_IO, "%s: read error", questions_path);
        goto done;
    }
    if (res->questions == 0) {
        s = nn_set_error(NN_ERR_FORMAT, "%s: no questions (lines 'a b c d') in the file",
                         questions_path);
        goto done;
    }
    if (nq > 0) s = run_questions(t, L, ix.canon, qs, nq, res);
done:
    free(line);
    free(qs);
    free(ix.slot);
    free(ix.canon);
    fclose(f);
    return s;
}
