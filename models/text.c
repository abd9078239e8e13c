/*
 * text.c — corpora for the models: a vocabulary (an open-addressing hash table over words copied
 * into an arena), token files read as ids, splits and LM batches, tagged sentences.
 *
 * A file is read a line at a time through stdio (getline and one reused buffer); a token is
 * looked up where it lies in that buffer, so the hot loop allocates nothing but the growth of
 * the id arrays. Every line is checked to be UTF-8 (strict: no overlong forms, surrogates, code
 * points past U+10FFFF or NUL bytes); a UTF-8 byte order mark at the start of a file is skipped;
 * a "\r" before the "\n" is dropped (CRLF files).
 *
 * Lines. Word files: tokens are separated by ASCII whitespace; a line with no token is skipped
 * (no line, no eos). Character files: every line is a line, an empty one included (its only
 * token is the eos, the "\n"); each UTF-8 code point is a token, space included.
 *
 * A vocabulary file (text_vocab_save) has "word count" per line in id order, split at the last
 * space, so a word may itself be a space; backslash, newline, carriage return and tab in a word
 * are written \\ \n \r \t. The first line must be <unk>.
 *
 * On an error nothing the caller passed changes: counting and growing go into a scratch
 * vocabulary merged into the caller's only when the whole file has been read.
 */
#include "text.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ vocabulary ---- */

#define ARENA_BLOCK (1 << 20) /* bytes of each string block; a longer word gets its own */

typedef struct arena_block {
    struct arena_block *next;
    size_t used, size;
    char bytes[];
} arena_block;

struct text_vocab {
    char **word;    /* id -> the word, NUL-terminated, in the arena */
    uint32_t *len;  /* id -> its length in bytes */
    uint64_t *hash; /* id -> its hash, so that growing the table rehashes nothing */
    long *count;    /* id -> its count */
    int n, cap;     /* words, and room in the arrays above */
    int *slot;      /* the table: an id, or -1 for an empty slot; nslot a power of two */
    size_t nslot;
    long total;
    arena_block *arena;
};

static void *vocab_alloc(void *p, size_t n, const char *what) {
    void *q = realloc(p, n ? n : 1);
    if (!q)
        ad_fail_at(__FILE__, __LINE__, "text_vocab", "out of memory for %s (%zu bytes)", what, n);
    return q;
}

/* FNV-1a, 64 bits: a byte at a time is fast enough for tokens of a few bytes. */
static uint64_t hash_bytes(const char *s, size_t len) {
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
    return h;
}

static char *arena_copy(text_vocab *v, const char *s, size_t len) {
    arena_block *b = v->arena;
    if (!b || b->size - b->used < len + 1) {
        size_t size = len + 1 > ARENA_BLOCK ? len + 1 : ARENA_BLOCK;
        b = vocab_alloc(NULL, sizeof *b + size, "words");
        b->next = v->arena, b->used = 0, b->size = size;
        v->arena = b;
    }
    char *p = b->bytes + b->used;
    memcpy(p, s, len);
    p[len] = '\0';
    b->used += len + 1;
    return p;
}

/* The slot holding (s, len), or the empty slot where it would go. */
static size_t vocab_slot(const text_vocab *v, const char *s, size_t len, uint64_t h) {
    size_t mask = v->nslot - 1, i = (size_t)h & mask;
    for (;; i = (i + 1) & mask) {
        int id = v->slot[i];
        if (id < 0) return i;
        if (v->hash[id] == h && v->len[id] == len && memcmp(v->word[id], s, len) == 0) return i;
    }
}

static void vocab_rehash(text_vocab *v, size_t nslot) {
    free(v->slot);
    v->slot = vocab_alloc(NULL, nslot * sizeof *v->slot, "the hash table");
    v->nslot = nslot;
    memset(v->slot, -1, nslot * sizeof *v->slot);
    for (int id = 0; id < v->n; id++) {
        size_t i = (size_t)v->hash[id] & (nslot - 1);
        while (v->slot[i] >= 0)
            i = (i + 1) & (nslot - 1);
        v->slot[i] = id;
    }
}

static int vocab_find(const text_vocab *v, const char *s, size_t len, uint64_t h) {
    return v->slot[vocab_slot(v, s, len, h)];
}

/* The id of (s, len), added with count 0 when absent. */
static int vocab_intern(text_vocab *v, const char *s, size_t len, uint64_t h) {
    size_t i = vocab_slot(v, s, len, h);
    if (v->slot[i] >= 0) return v->slot[i];
    if (len > UINT32_MAX || v->n == INT_MAX)
        ad_fail_at(__FILE__, __LINE__, "text_vocab_add",
                   "%d words, the next of %zu bytes: too many", v->n, len);
    if (v->n == v->cap) {
        v->cap = v->cap ? (v->cap > INT_MAX / 2 ? INT_MAX : 2 * v->cap) : 64;
        v->word = vocab_alloc(v->word, (size_t)v->cap * sizeof *v->word, "the words");
        v->len = vocab_alloc(v->len, (size_t)v->cap * sizeof *v->len, "the words");
        v->hash = vocab_alloc(v->hash, (size_t)v->cap * sizeof *v->hash, "the words");
        v->count = vocab_alloc(v->count, (size_t)v->cap * sizeof *v->count, "the counts");
    }
    int id = v->n++;
    v->word[id] = arena_copy(v, s, len);
    v->len[id] = (uint32_t)len;
    v->hash[id] = h;
    v->count[id] = 0;
    v->slot[i] = id;
    if ((size_t)v->n * 2 > v->nslot) vocab_rehash(v, v->nslot * 2); /* load at most 1/2 */
    return id;
}

text_vocab *text_vocab_new(void) {
    text_vocab *v = vocab_alloc(NULL, sizeof *v, "a vocabulary");
    memset(v, 0, sizeof *v);
    vocab_rehash(v, 1024);
    vocab_intern(v, TEXT_UNK_WORD, strlen(TEXT_UNK_WORD), hash_bytes(TEXT_UNK_WORD, 5));
    return v;
}

void text_vocab_free(text_vocab *v) {
    if (!v) return;
    for (arena_block *b = v->arena, *next; b; b = next)
        next = b->next, free(b);
    free(v->word), free(v->len), free(v->hash), free(v->count), free(v->slot);
    free(v);
}

static void check_vocab(const text_vocab *v, const char *op) {
    if (!v) ad_fail_at(__FILE__, __LINE__, op, "vocabulary is NULL");
}

int text_vocab_add(text_vocab *v, const char *word, long count) {
    check_vocab(v, "text_vocab_add");
    if (!word || count < 0)
        ad_fail_at(__FILE__, __LINE__, "text_vocab_add", "word %s, count %ld (must be >= 0)",
                   word ? word : "NULL", count);
    size_t len = strlen(word);
    int id = vocab_intern(v, word, len, hash_bytes(word, len));
    v->count[id] += count;
    v->total += count;
    return id;
}

int text_vocab_find(const text_vocab *v, const char *word) {
    check_vocab(v, "text_vocab_find");
    if (!word) ad_fail_at(__FILE__, __LINE__, "text_vocab_find", "word is NULL");
    size_t len = strlen(word);
    return vocab_find(v, word, len, hash_bytes(word, len));
}

int text_vocab_id(const text_vocab *v, const char *word) {
    int id = text_vocab_find(v, word);
    return id < 0 ? TEXT_UNK : id;
}

static void check_id(const text_vocab *v, int id, const char *op) {
    check_vocab(v, op);
    if (id < 0 || id >= v->n)
        ad_fail_at(__FILE__, __LINE__, op, "id %d outside the vocabulary [0, %d)", id, v->n);
}

const char *text_vocab_word(const text_vocab *v, int id) {
    check_id(v, id, "text_vocab_word");
    return v->word[id];
}

long text_vocab_count(const text_vocab *v, int id) {
    check_id(v, id, "text_vocab_count");
    return v->count[id];
}

int text_vocab_size(const text_vocab *v) {
    check_vocab(v, "text_vocab_size");
    return v->n;
}

long text_vocab_total(const text_vocab *v) {
    check_vocab(v, "text_vocab_total");
    return v->total;
}

typedef struct rank {
    long count;
    int id;
} rank;

static int rank_cmp(const void *pa, const void *pb) {
    const rank *a = pa, *b = pb;
    if (a->count != b->count) return a->count > b->count ? -1 : 1;
    return (a->id > b->id) - (a->id < b->id);
}

void text_vocab_prune(text_vocab *v, long min_count, int max_size) {
    check_vocab(v, "text_vocab_prune");
    if (max_size < 0)
        ad_fail_at(__FILE__, __LINE__, "text_vocab_prune", "max_size %d (0: no limit)", max_size);
    /* The words other than <unk> by falling count, ties in their present (first-seen) order. */
    rank *r = vocab_alloc(NULL, (size_t)v->n * sizeof *r, "the ranking");
    int m = 0;
    for (int id = 1; id < v->n; id++)
        r[m++] = (rank){v->count[id], id};
    qsort(r, (size_t)m, sizeof *r, rank_cmp);
    int keep = 0;
    while (keep < m && r[keep].count >= min_count)
        keep++;
    if (max_size > 0 && keep > max_size - 1) keep = max_size - 1;
    long unk = v->count[TEXT_UNK];
    for (int k = keep; k < m; k++)
        unk += r[k].count;
    /* Renumber in place through copies of the per-id arrays. */
    size_t n = (size_t)keep + 1;
    char **word = vocab_alloc(NULL, n * sizeof *word, "the words");
    uint32_t *len = vocab_alloc(NULL, n * sizeof *len, "the words");
    uint64_t *hash = vocab_alloc(NULL, n * sizeof *hash, "the words");
    long *count = vocab_alloc(NULL, n * sizeof *count, "the counts");
    word[0] = v->word[0], len[0] = v->len[0], hash[0] = v->hash[0], count[0] = unk;
    for (int k = 0; k < keep; k++) {
        int id = r[k].id;
        word[k + 1] = v->word[id], len[k + 1] = v->len[id], hash[k + 1] = v->hash[id];
        count[k + 1] = v->count[id];
    }
    free(r);
    free(v->word), free(v->len), free(v->hash), free(v->count);
    v->word = word, v->len = len, v->hash = hash, v->count = count;
    v->n = v->cap = (int)n;
    size_t nslot = 1024;
    while (nslot < n * 2)
        nslot *= 2;
    vocab_rehash(v, nslot);
}

/* ------------------------------------------------------------ save, load ---- */

nn_status text_vocab_save(const text_vocab *v, const char *path) {
    check_vocab(v, "text_vocab_save");
    if (!path) ad_fail_at(__FILE__, __LINE__, "text_vocab_save", "path is NULL");
    FILE *f = fopen(path, "w");
    if (!f) return nn_set_error(NN_ERR_IO, "%s: cannot write: %s", path, strerror(errno));
    for (int id = 0; id < v->n; id++) {
        for (const char *c = v->word[id]; *c; c++) {
            switch (*c) {
            case '\\':
                fputs("\\\\", f);
                break;
            case '\n':
                fputs("\\n", f);
                break;
            case '\r':
                fputs("\\r", f);
                break;
            case '\t':
                fputs("\\t", f);
                break;
            default:
                putc(*c, f);
            }
        }
        fprintf(f, " %ld\n", v->count[id]);
    }
    int bad = ferror(f);
    if (fclose(f) != 0 || bad)
        return nn_set_error(NN_ERR_IO, "%s: cannot write: %s", path, strerror(errno ? errno : EIO));
    return NN_OK;
}

void text_vocab_write_section(FILE *f, const char *section, const text_vocab *v) {
    check_vocab(v, "text_vocab_write_section");
    fprintf(f, "%s %d\n", section, v->n);
    for (int id = 0; id < v->n; id++)
        fprintf(f, "%s %ld\n", v->word[id], v->count[id]);
}

nn_status text_vocab_read_section(FILE *f, const char *path, const char *section, text_vocab *v,
                                  long *line) {
    enum { WORD_MAX = 512 }; /* the %511s below */
    char name[32], word[WORD_MAX];
    int n;
    long count;
    ++*line;
    if (fscanf(f, "%31s %d", name, &n) != 2 || strcmp(name, section) || n < 1)
        return nn_set_error(NN_ERR_FORMAT, "%s: line %ld: expected the section '%s N'", path, *line,
                            section);
    for (int id = 0; id < n; id++) {
        ++*line;
        if (fscanf(f, "%511s %ld", word, &count) != 2 || count < 0)
            return nn_set_error(NN_ERR_FORMAT, "%s: line %ld: expected 'word count'", path, *line);
        if (text_vocab_add(v, word, count) != id)
            return nn_set_error(NN_ERR_FORMAT, "%s: line %ld: '%s' is out of order or repeated",
                                path, *line, word);
    }
    return NN_OK;
}

/* ------------------------------------------------------------- reading ---- */

/* The length of the valid UTF-8 sequence at s (at most n bytes), or 0 when it is not one. */
static size_t utf8_len(const unsigned char *s, size_t n) {
    unsigned c = s[0];
    if (c >= 0x01 && c < 0x80) return 1;
    size_t k;
    unsigned lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF)
        k = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        k = 3;
        if (c == 0xE0)
            lo = 0xA0; /* overlong */
        else if (c == 0xED)
            hi = 0x9F; /* surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        k = 4;
        if (c == 0xF0)
            lo = 0x90; /* overlong */
        else if (c == 0xF4)
            hi = 0x8F; /* past U+10FFFF */
    } else {
        return 0; /* NUL, a continuation byte, C0, C1, F5..FF */
    }
    if (n < k || s[1] < lo || s[1] > hi) return 0;
    for (size_t i = 2; i < k; i++)
        if (s[i] < 0x80 || s[i] > 0xBF) return 0;
    return k;
}

/* A file being read a line at a time. */
typedef struct reader {
    const char *path;
    FILE *f;
    char *buf;
    size_t cap;
    size_t lineno; /* of the line in buf, from 1 */
} reader;

static nn_status reader_open(reader *r, const char *path) {
    *r = (reader){.path = path};
    r->f = fopen(path, "r");
    if (!r->f) return nn_set_error(NN_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    return NN_OK;
}

static void reader_close(reader *r) {
    if (r->f) fclose(r->f);
    free(r->buf);
    r->f = NULL, r->buf = NULL;
}

/* The next line without its "\n" or "\r\n", checked to be UTF-8: *line and *len, and 1; 0 at
 * the end of the file; -1 (the error set) when it cannot be read or is not UTF-8. */
static int reader_next(reader *r, const char **line, size_t *len, nn_status *st) {
    errno = 0;
    ssize_t n = getline(&r->buf, &r->cap, r->f);
    if (n < 0) {
        if (ferror(r->f)) {
            *st = nn_set_error(NN_ERR_IO, "%s: cannot read: %s", r->path,
                               strerror(errno ? errno : EIO));
            return -1;
        }
        return 0;
    }
    r->lineno++;
    size_t m = (size_t)n;
    if (m && r->buf[m - 1] == '\n') m--;
    if (m && r->buf[m - 1] == '\r') m--;
    const unsigned char *s = (const unsigned char *)r->buf;
    size_t start = 0;
    if (r->lineno == 1 && m >= 3 && s[0] == 0xEF && s[1] == 0xBB && s[2] == 0xBF) start = 3;
    for (size_t i = start; i < m;) {
        if (s[i] >= 0x01 && s[i] < 0x80) {
            i++;
            continue;
        }
        size_t k = utf8_len(s + i, m - i);
        if (!k) {
            *st = nn_set_error(NN_ERR_FORMAT,
                               "%s:%zu: not valid UTF-8 (%s 0x%02X at byte %zu of "
                               "the line)",
                               r->path, r->lineno, s[i] ? "byte" : "a NUL byte", s[i], i + 1);
            return -1;
        }
        i += k;
    }
    *line = r->buf + start;
    *len = m - start;
    return 1;
}

nn_status text_vocab_load(const char *path, text_vocab **out) {
    if (!path || !out) ad_fail_at(__FILE__, __LINE__, "text_vocab_load", "path or out is NULL");
    *out = NULL;
    reader r;
    nn_status st = reader_open(&r, path);
    if (st) return st;
    text_vocab *v = text_vocab_new();
    char *word = NULL;
    size_t wcap = 0;
    const char *line;
    size_t len;
    int got;
    while ((got = reader_next(&r, &line, &len, &st)) > 0) {
        size_t sp = len;
        while (sp > 0 && line[sp - 1] != ' ')
            sp--;
        /* The count: digits after the last space. */
        char num[32];
        size_t nd = len - sp;
        long count = -1;
        if (sp > 1 && nd > 0 && nd < sizeof num) {
            memcpy(num, line + sp, nd);
            num[nd] = '\0';
            char *end;
            errno = 0;
            count = strtol(num, &end, 10);
            if (*end || errno || num[0] < '0' || num[0] > '9') count = -1;
        }
        if (count < 0) {
            st = nn_set_error(NN_ERR_FORMAT, "%s:%zu: not \"word count\"", path, r.lineno);
            got = -1;
            break;
        }
        /* The word, its escapes undone. */
        if (wcap < sp) {
            wcap = sp;
            word = vocab_alloc(word, wcap, "a word");
        }
        size_t wn = 0;
        for (size_t i = 0; i + 1 < sp; i++) {
            char c = line[i];
            if (c == '\\') {
                char e = i + 2 < sp ? line[++i] : '\0';
                c = e == '\\' ? '\\' : e == 'n' ? '\n' : e == 'r' ? '\r' : e == 't' ? '\t' : '\0';
                if (!c) {
                    st = nn_set_error(NN_ERR_FORMAT, "%s:%zu: a bad escape in the word", path,
                                      r.lineno);
                    got = -1;
                    break;
                }
            }
            word[wn++] = c;
        }
        if (got < 0) break;
        uint64_t h = hash_bytes(word, wn);
        if (r.lineno == 1) {
            if (wn != strlen(TEXT_UNK_WORD) || memcmp(word, TEXT_UNK_WORD, wn) != 0) {
                st = nn_set_error(NN_ERR_FORMAT, "%s:1: the first word must be %s", path,
                                  TEXT_UNK_WORD);
                got = -1;
                break;
            }
        } else if (vocab_find(v, word, wn, h) >= 0) {
            st = nn_set_error(NN_ERR_FORMAT, "%s:%zu: '%.*s' is there twice", path, r.lineno,
                              wn > 200 ? 200 : (int)wn, word);
            got = -1;
            break;
        }
        int id = vocab_intern(v, word, wn, h);
        v->count[id] += count;
        v->total += count;
    }
    reader_close(&r);
    free(word);
    if (got == 0 && r.lineno == 0) st = nn_set_error(NN_ERR_FORMAT, "%s: empty (no words)", path);
    if (got < 0 || r.lineno == 0) {
        text_vocab_free(v);
        return st;
    }
    *out = v;
    return NN_OK;
}

static bool is_space(char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/* The next token of line[*pos .. len) by unit: its start and length, 0 when there is none. */
static size_t next_token(const char *line, size_t len, size_t *pos, text_unit unit,
                         const char **tok) {
    size_t i = *pos;
    if (unit == TEXT_CHARS) {
        if (i >= len) return 0;
        size_t k = utf8_len((const unsigned char *)line + i, len - i); /* valid: checked */
        *tok = line + i;
        *pos = i + k;
        return k;
    }
    while (i < len && is_space(line[i]))
        i++;
    size_t j = i;
    while (j < len && !is_space(line[j]))
        j++;
    *tok = line + i;
    *pos = j;
    return j - i;
}

static void check_unit(text_unit unit, const char *op) {
    if (unit != TEXT_WORDS && unit != TEXT_CHARS)
        ad_fail_at(__FILE__, __LINE__, op, "unit %d is neither TEXT_WORDS nor TEXT_CHARS",
                   (int)unit);
}

static nn_status empty_file(const char *path, text_unit unit) {
    return nn_set_error(NN_ERR_FORMAT, "%s: empty (no %s)", path,
                        unit == TEXT_WORDS ? "tokens" : "characters");
}

/* Add each word of src to dst with its count; map[id of src] = id in dst when map is given. */
static void vocab_merge(text_vocab *dst, const text_vocab *src, int *map) {
    for (int id = 0; id < src->n; id++) {
        int to = vocab_intern(dst, src->word[id], src->len[id], src->hash[id]);
        dst->count[to] += src->count[id];
        dst->total += src->count[id];
        if (map) map[id] = to;
    }
}

nn_status text_count(const char *path, text_unit unit, text_vocab *v) {
    check_vocab(v, "text_count");
    check_unit(unit, "text_count");
    if (!path) ad_fail_at(__FILE__, __LINE__, "text_count", "path is NULL");
    reader r;
    nn_status st = reader_open(&r, path);
    if (st) return st;
    text_vocab *scratch = text_vocab_new();
    int newline = unit == TEXT_CHARS ? vocab_intern(scratch, "\n", 1, hash_bytes("\n", 1)) : -1;
    long tokens = 0;
    const char *line, *tok;
    size_t len, k;
    int got;
    while ((got = reader_next(&r, &line, &len, &st)) > 0) {
        size_t pos = 0;
        while ((k = next_token(line, len, &pos, unit, &tok)) > 0) {
            int id = vocab_intern(scratch, tok, k, hash_bytes(tok, k)); /* may move count */
            scratch->count[id]++;
            tokens++;
        }
        if (unit == TEXT_CHARS) scratch->count[newline]++;
    }
    reader_close(&r);
    if (got == 0 && tokens == 0) st = empty_file(path, unit);
    if (got == 0 && tokens > 0) vocab_merge(v, scratch, NULL);
    text_vocab_free(scratch);
    return st;
}

void text_ids_free(text_ids *t) {
    if (!t) return;
    free(t->ids), free(t->line_start);
    *t = (text_ids){0};
}

/* Growable arrays of a text_ids being read; false when memory runs out. */
static bool push_id(text_ids *t, size_t *cap, int id) {
    if (t->n == *cap) {
        size_t c = *cap ? *cap * 2 : 1 << 16;
        int *p = realloc(t->ids, c * sizeof *p);
        if (!p) return false;
        t->ids = p, *cap = c;
    }
    t->ids[t->n++] = id;
    return true;
}

static bool push_line(text_ids *t, size_t *cap) { /* line_start[++nlines] = n */
    if (t->nlines + 2 > *cap) {
        size_t c = *cap ? *cap * 2 : 1 << 12;
        size_t *p = realloc(t->line_start, c * sizeof *p);
        if (!p) return false;
        t->line_start = p, *cap = c;
    }
    t->line_start[++t->nlines] = t->n;
    return true;
}

static bool start_lines(text_ids *t, size_t *cap) { /* line_start[0] = 0 */
    t->line_start = malloc((1 << 12) * sizeof *t->line_start);
    if (!t->line_start) return false;
    *cap = 1 << 12;
    t->line_start[0] = 0;
    return true;
}

static nn_status out_of_memory(const char *path, size_t n) {
    return nn_set_error(NN_ERR_MEMORY, "%s: out of memory after %zu tokens", path, n);
}

nn_status text_read(const char *path, text_unit unit, const text_vocab *v, int eos, text_ids *out) {
    check_vocab(v, "text_read");
    check_unit(unit, "text_read");
    if (!path || !out) ad_fail_at(__FILE__, __LINE__, "text_read", "path or out is NULL");
    if (eos >= v->n)
        ad_fail_at(__FILE__, __LINE__, "text_read", "eos %d outside the vocabulary [0, %d)", eos,
                   v->n);
    *out = (text_ids){0};
    reader r;
    nn_status st = reader_open(&r, path);
    if (st) return st;
    text_ids t = {0};
    size_t cap = 0, lcap = 0, tokens = 0;
    /* Most characters are ASCII: their ids once looked up, -2 until then. */
    int ascii[128];
    for (int c = 0; c < 128; c++)
        ascii[c] = -2;
    const char *line, *tok;
    size_t len, k;
    int got;
    bool ok = start_lines(&t, &lcap);
    while (ok && (got = reader_next(&r, &line, &len, &st)) > 0) {
        size_t pos = 0, before = t.n;
        while (ok && (k = next_token(line, len, &pos, unit, &tok)) > 0) {
            int id;
            unsigned char c = (unsigned char)tok[0];
            if (k == 1 && c < 128 && unit == TEXT_CHARS) {
                if (ascii[c] == -2) ascii[c] = vocab_find(v, tok, 1, hash_bytes(tok, 1));
                id = ascii[c];
            } else {
                id = vocab_find(v, tok, k, hash_bytes(tok, k));
            }
            ok = push_id(&t, &cap, id < 0 ? TEXT_UNK : id);
        }
        tokens += t.n - before;
        if (unit == TEXT_WORDS && t.n == before) continue; /* a blank line is no line */
        if (ok && eos >= 0) ok = push_id(&t, &cap, eos);
        if (ok) ok = push_line(&t, &lcap);
    }
    reader_close(&r);
    if (!ok)
        st = out_of_memory(path, t.n);
    else if (got == 0 && tokens == 0)
        st = empty_file(path, unit);
    if (!ok || got < 0 || tokens == 0) {
        text_ids_free(&t);
        return st;
    }
    *out = t;
    return NN_OK;
}

/* --------------------------------------------------------------- splits ---- */

void text_split(const text_ids *t, double train, double valid, text_span *tr, text_span *va,
                text_span *te) {
    if (!t || !tr || !va || !te)
        ad_fail_at(__FILE__, __LINE__, "text_split", "an argument is NULL");
    if (!(train >= 0 && valid >= 0 && train + valid <= 1 + 1e-12))
        ad_fail_at(__FILE__, __LINE__, "text_split",
                   "fractions train %g, valid %g: each >= 0, their sum <= 1", train, valid);
    /* Boundaries rounded to the nearest line, cumulatively so the parts add up. */
    size_t L = t->nlines;
    size_t a = (size_t)(train * (double)L + 0.5);
    size_t b = (size_t)((train + valid) * (double)L + 0.5);
    if (a > L) a = L;
    if (b > L) b = L;
    size_t sa = L ? t->line_start[a] : 0, sb = L ? t->line_start[b] : 0, n = L ? t->n : 0;
    *tr = (text_span){t->ids, sa};
    *va = (text_span){t->ids ? t->ids + sa : NULL, sb - sa};
    *te = (text_span){t->ids ? t->ids + sb : NULL, n - sb};
}

/* ----------------------------------------------------------- LM batches ---- */

text_lanes text_lanes_make(text_span s, int batch) {
    if (batch < 1 || (s.n && !s.ids))
        ad_fail_at(__FILE__, __LINE__, "text_lanes_make", "batch %d over %zu tokens at %p", batch,
                   s.n, (const void *)s.ids);
    return (text_lanes){s.ids, s.n / (size_t)batch, batch};
}

/* A lane of L tokens makes L - 1 (input, next) pairs, cut into windows of T. */
size_t text_lanes_windows(const text_lanes *l, int T) {
    if (!l || T < 1) ad_fail_at(__FILE__, __LINE__, "text_lanes_windows", "T %d", T);
    if (l->lane_len < 2) return 0;
    return (l->lane_len - 1 + (size_t)T - 1) / (size_t)T;
}

int text_lanes_window(const text_lanes *l, int T, size_t w, int *x, int *y) {
    size_t nw = text_lanes_windows(l, T);
    if (w >= nw || !x || !y)
        ad_fail_at(__FILE__, __LINE__, "text_lanes_window", "window %zu of %zu (x %p, y %p)", w, nw,
                   (void *)x, (void *)y);
    size_t start = w * (size_t)T, len = l->lane_len - 1 - start;
    int steps = len < (size_t)T ? (int)len : T;
    int B = l->batch;
    for (int t = 0; t < steps; t++)
        for (int b = 0; b < B; b++) {
            const int *lane = l->ids + (size_t)b * l->lane_len + start + (size_t)t;
            x[t * B + b] = lane[0];
            y[t * B + b] = lane[1];
        }
    return steps;
}

/* -------------------------------------------------------------- tagging ---- */

void text_tagged_free(text_tagged *t) {
    if (!t) return;
    text_ids_free(&t->words);
    free(t->tags);
    t->tags = NULL;
}

nn_status text_read_tagged(const char *path, text_vocab *words, text_vocab *tags, bool grow,
                           text_tagged *out) {
    check_vocab(words, "text_read_tagged");
    check_vocab(tags, "text_read_tagged");
    if (!path || !out) ad_fail_at(__FILE__, __LINE__, "text_read_tagged", "path or out is NULL");
    *out = (text_tagged){0};
    reader r;
    nn_status st = reader_open(&r, path);
    if (st) return st;
    /* Growing goes into scratch vocabularies, merged (and the ids mapped) at the end. */
    text_vocab *wv = grow ? text_vocab_new() : words, *tv = grow ? text_vocab_new() : tags;
    text_ids t = {0}, tg = {0}; /* tg.ids: the tags */
    size_t cap = 0, tcap = 0, lcap = 0;
    const char *line, *tok;
    size_t len, k;
    int got;
    bool ok = start_lines(&t, &lcap);
    while (ok && (got = reader_next(&r, &line, &len, &st)) > 0) {
        size_t pos = 0, before = t.n;
        while (ok && (k = next_token(line, len, &pos, TEXT_WORDS, &tok)) > 0) {
            size_t slash = k;
            while (slash > 0 && tok[slash - 1] != '/')
                slash--;
            if (slash < 2 || slash == k) { /* no '/', or an empty word or tag */
                st = nn_set_error(NN_ERR_FORMAT, "%s:%zu: token '%.*s' is not word/TAG", path,
                                  r.lineno, k > 200 ? 200 : (int)k, tok);
                got = -1;
                break;
            }
            const char *w = tok, *g = tok + slash;
            size_t wn = slash - 1, gn = k - slash;
            uint64_t wh = hash_bytes(w, wn), gh = hash_bytes(g, gn);
            int wid = grow ? vocab_intern(wv, w, wn, wh) : vocab_find(wv, w, wn, wh);
            int gid = grow ? vocab_intern(tv, g, gn, gh) : vocab_find(tv, g, gn, gh);
            if (grow) wv->count[wid]++, tv->count[gid]++;
            ok = push_id(&t, &cap, wid < 0 ? TEXT_UNK : wid) &&
                 push_id(&tg, &tcap, gid < 0 ? TEXT_UNK : gid);
        }
        if (got < 0) break;
        if (ok && t.n > before) ok = push_line(&t, &lcap);
    }
    reader_close(&r);
    if (!ok)
        st = out_of_memory(path, t.n);
    else if (got == 0 && t.n == 0)
        st = empty_file(path, TEXT_WORDS);
    if (ok && got == 0 && t.n > 0 && grow) {
        int *wmap = malloc((size_t)wv->n * sizeof *wmap),
            *tmap = malloc((size_t)tv->n * sizeof *tmap);
        if (wmap && tmap) {
            vocab_merge(words, wv, wmap);
            vocab_merge(tags, tv, tmap);
            for (size_t i = 0; i < t.n; i++)
                t.ids[i] = wmap[t.ids[i]], tg.ids[i] = tmap[tg.ids[i]];
        } else {
            ok = false;
            st = out_of_memory(path, t.n);
        }
        free(wmap), free(tmap);
    }
    if (grow) text_vocab_free(wv), text_vocab_free(tv);
    if (!ok || got < 0 || t.n == 0) {
        text_ids_free(&t), text_ids_free(&tg);
        return st;
    }
    free(tg.line_start);
    out->words = t;
    out->tags = tg.ids;
    return NN_OK;
}
