/*
 * tagger.c — the BiLSTM tagger (FORMULAS §8) as a composition of nn/ layers, its word features,
 * its lexicon file, and the most-frequent-tag baseline.
 */
#include "tagger.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FAIL(op, ...) ad_fail_at(__FILE__, __LINE__, op, __VA_ARGS__)

/* ------------------------------------------------------------- tag sets ---- */

/* One part of a compound tag, lowercased in place: "fw-" off the front, then "-hl", "-tl", "-nc"
 * off the end as often as they come ("nn-tl-hl"), then a negation "*" (but not the tag "*"). */
static void base_part(char *p) {
    if (strncmp(p, "fw-", 3) == 0 && p[3]) /* a plain copy: gcc's -Warray-bounds misreads memmove
                                            * here under -fsanitize */
        for (char *d = p, *s = p + 3; (*d++ = *s++) != 0;) continue;
    for (size_t n = strlen(p); n > 3 && p[n - 3] == '-';) {
        const char *s = p + n - 2;
        if (strcmp(s, "hl") && strcmp(s, "tl") && strcmp(s, "nc")) break;
        p[n -= 3] = 0;
    }
    size_t n = strlen(p);
    if (n > 1 && p[n - 1] == '*') p[n - 1] = 0;
}

void tagger_base_tag(const char *tag, char *out, size_t size) {
    if (!tag || !out || size == 0) FAIL("tagger_base_tag", "NULL tag or empty output");
    char buf[256], *save = NULL;
    snprintf(buf, sizeof buf, "%s", tag);
    for (char *c = buf; *c; c++)
        *c = (char)tolower((unsigned char)*c);
    out[0] = 0;
    size_t used = 0;
    /* strtok_r would drop empty parts, but Brown has no "a++b"; a lone "+" stays as it is */
    if (strchr(buf, '+') == NULL || strcmp(buf, "+") == 0) {
        base_part(buf);
        snprintf(out, size, "%s", buf);
        return;
    }
    for (char *p = strtok_r(buf, "+", &save); p; p = strtok_r(NULL, "+", &save)) {
        base_part(p);
        int w = snprintf(out + used, size - used, "%s%s", used ? "+" : "", p);
        if (w < 0 || (size_t)w >= size - used) return; /* truncated: still NUL-terminated */
        used += (size_t)w;
    }
}

/* ------------------------------------------------------- word features ---- */

int tagger_shape(const char *word, bool first) {
    int upper = 0, lower = 0, digit = 0, hyphen = 0;
    for (const unsigned char *c = (const unsigned char *)word; *c; c++) {
        upper += isupper(*c) != 0;
        lower += islower(*c) != 0;
        digit += isdigit(*c) != 0;
        hyphen += *c == '-';
    }
    int kind; /* 0 lower, 1 capitalised, 2 capitalised first, 3 all capitals, 4 mixed, 5 none */
    if (upper + lower == 0)
        kind = 5;
    else if (upper == 0)
        kind = 0;
    else if (isupper((unsigned char)word[0]) && upper == 1 && lower > 0)
        kind = first ? 2 : 1;
    else if (lower == 0)
        kind = 3;
    else
        kind = 4;
    return (kind * 2 + (digit > 0)) * 2 + (hyphen > 0);
}

void tagger_suffix(const char *word, int k, char *out, size_t size) {
    if (k < 1 || (size_t)k >= size)
        FAIL("tagger_suffix", "suffix of %d characters into %zu bytes", k, size);
    size_t n = strlen(word);
    for (int i = 0; i < k; i++) {
        long at = (long)n - k + i;
        out[i] = at < 0 ? '^' : (char)tolower((unsigned char)word[at]);
    }
    out[k] = 0;
}

static void lowercase(const char *word, char *out, size_t size) {
    size_t i = 0;
    for (; word[i] && i + 1 < size; i++)
        out[i] = (char)tolower((unsigned char)word[i]);
    out[i] = 0;
}

enum { WORD_MAX = 512 };

void tagger_lexicon_init(tagger_lexicon *lx) {
    lx->words = text_vocab_new();
    lx->suffixes = text_vocab_new();
    lx->tags = text_vocab_new();
    if (!lx->words || !lx->suffixes || !lx->tags) FAIL("tagger_lexicon_init", "out of memory");
}

void tagger_lexicon_free(tagger_lexicon *lx) {
    text_vocab_free(lx->words);
    text_vocab_free(lx->suffixes);
    text_vocab_free(lx->tags);
    memset(lx, 0, sizeof *lx);
}

void tagger_lexicon_count(tagger_lexicon *lx, const char *word) {
    char low[WORD_MAX], sfx[TAGGER_NSUFFIX + 1];
    lowercase(word, low, sizeof low);
    text_vocab_add(lx->words, low, 1);
    for (int k = 1; k <= TAGGER_NSUFFIX; k++) {
        tagger_suffix(word, k, sfx, sizeof sfx);
        text_vocab_add(lx->suffixes, sfx, 1);
    }
}

void tagger_lexicon_prune(tagger_lexicon *lx, long min_words, long min_suffixes) {
    text_vocab_prune(lx->words, min_words, 0);
    text_vocab_prune(lx->suffixes, min_suffixes, 0);
}

void tagger_featurize(const tagger_lexicon *lx, const char *word, bool first,
                      int feat[TAGGER_NFEAT]) {
    char low[WORD_MAX], sfx[TAGGER_NSUFFIX + 1];
    lowercase(word, low, sizeof low);
    feat[0] = text_vocab_id(lx->words, low);
    for (int k = 1; k <= TAGGER_NSUFFIX; k++) {
        tagger_suffix(word, k, sfx, sizeof sfx);
        feat[k] = text_vocab_id(lx->suffixes, sfx);
    }
    feat[1 + TAGGER_NSUFFIX] = tagger_shape(word, first);
}

/* ---------------------------------------------------------------- model ---- */

tagger_config tagger_config_default(void) {
    return (tagger_config){.word_dim = 100,
                           .suffix_dim = 20,
                           .shape_dim = 8,
                           .hidden = 128,
                           .layers = 1,
                           .char_features = true,
                           .dropout = 0.25};
}

void tagger_init(tagger *m, ad_params *ps, const tagger_config *cfg, nn_rng *r) {
    if (cfg->words < 1 || cfg->tags < 1 || cfg->word_dim < 1 || cfg->hidden < 1 ||
        (cfg->char_features && (cfg->suffixes < 1 || cfg->suffix_dim < 1 || cfg->shape_dim < 1)))
        FAIL("tagger_init",
             "words %d, suffixes %d, tags %d and dims %d/%d/%d/hidden %d: each must "
             "be positive",
             cfg->words, cfg->suffixes, cfg->tags, cfg->word_dim, cfg->suffix_dim, cfg->shape_dim,
             cfg->hidden);
    memset(m, 0, sizeof *m);
    m->cfg = *cfg;
    nn_embedding_init(&m->word, ps, "tagger.word", cfg->words, cfg->word_dim, r);
    int input = cfg->word_dim;
    if (cfg->char_features) {
        nn_embedding_init(&m->suffix, ps, "tagger.suffix", cfg->suffixes, cfg->suffix_dim, r);
        nn_embedding_init(&m->shape, ps, "tagger.shape", TAGGER_NSHAPES, cfg->shape_dim, r);
        input += TAGGER_NSUFFIX * cfg->suffix_dim + cfg->shape_dim;
    }
    nn_rnn_init(&m->rnn, ps, "tagger.lstm",
                &(nn_rnn_config){.kind = NN_LSTM,
                                 .input = input,
                                 .hidden = cfg->hidden,
                                 .layers = cfg->layers,
                                 .bidirectional = true,
                                 .dropout = cfg->dropout,
                                 .forget_bias = 1},
                r);
    nn_linear_init(&m->out, ps, "tagger.out", nn_rnn_output_width(&m->rnn), cfg->tags, true, r);
}

tagger_batch *tagger_batch_new(int max_rows, int max_batch) {
    if (max_rows < 1 || max_batch < 1)
        FAIL("tagger_batch_new", "max_rows %d and max_batch %d must be positive", max_rows,
             max_batch);
    tagger_batch *bt = calloc(1, sizeof *bt);
    if (!bt) return NULL;
    bt->max_rows = max_rows;
    bt->lengths = calloc((size_t)max_batch, sizeof *bt->lengths);
    bt->feat = calloc((size_t)max_rows * TAGGER_NFEAT, sizeof *bt->feat);
    bt->tags = calloc((size_t)max_rows, sizeof *bt->tags);
    bt->mask = calloc((size_t)max_rows, sizeof *bt->mask);
    bt->max_batch = max_batch;
    if (!bt->lengths || !bt->feat || !bt->tags || !bt->mask) {
        tagger_batch_free(bt);
        return NULL;
    }
    return bt;
}

void tagger_batch_free(tagger_batch *bt) {
    if (!bt) return;
    free(bt->lengths);
    free(bt->feat);
    free(bt->tags);
    free(bt->mask);
    free(bt);
}

void tagger_batch_set(tagger_batch *bt, int B, const int *lengths, const int *const *feats,
                      const int *const *tags) {
    int T = 0;
    for (int b = 0; b < B; b++) {
        if (lengths[b] < 1) FAIL("tagger_batch_set", "sentence %d has %d tokens", b, lengths[b]);
        T = lengths[b] > T ? lengths[b] : T;
    }
    if (B < 1 || B > bt->max_batch || (long)T * B > bt->max_rows)
        FAIL("tagger_batch_set",
             "%d sentences of up to %d tokens do not fit in %d rows and %d "
             "sentences",
             B, T, bt->max_rows, bt->max_batch);
    bt->T = T;
    bt->B = B;
    const int n = T * B;
    memcpy(bt->lengths, lengths, (size_t)B * sizeof *lengths);
    memset(bt->feat, 0, (size_t)n * TAGGER_NFEAT * sizeof *bt->feat);
    memset(bt->tags, 0, (size_t)n * sizeof *bt->tags);
    for (int b = 0; b < B; b++)
        for (int t = 0; t < lengths[b]; t++) {
            for (int k = 0; k < TAGGER_NFEAT; k++)
                bt->feat[k * n + t * B + b] = feats[b][t * TAGGER_NFEAT + k];
            if (tags) bt->tags[t * B + b] = tags[b][t];
        }
    nn_seq_mask(bt->mask, T, B, lengths);
}

/* x(t) = [E_w w; E_s s1; ..; E_s s4; E_shape shape], h = BiLSTM(x), logits = h W + b */
ad_tensor *tagger_logits(ad_tape *tp, const tagger *m, const tagger_batch *bt) {
    const int n = bt->T * bt->B;
    if (n < 1) FAIL("tagger_logits", "an empty batch (tagger_batch_set first)");
    ad_tensor *x = nn_embedding_forward(tp, &m->word, bt->feat, n);
    if (m->cfg.char_features) {
        ad_tensor *parts[TAGGER_NFEAT];
        parts[0] = x;
        for (int k = 1; k <= TAGGER_NSUFFIX; k++)
            parts[k] = nn_embedding_forward(tp, &m->suffix, bt->feat + k * n, n);
        parts[TAGGER_NFEAT - 1] =
            nn_embedding_forward(tp, &m->shape, bt->feat + (TAGGER_NFEAT - 1) * n, n);
        x = ad_concat(tp, TAGGER_NFEAT, parts);
    }
    x = ad_dropout(tp, x, (ad_real)m->cfg.dropout);
    nn_rnn_result r = nn_rnn_forward(tp, &m->rnn, x, bt->T, bt->lengths, NULL);
    ad_tensor *h = ad_dropout(tp, r.out, (ad_real)m->cfg.dropout);
    return nn_linear_forward(tp, &m->out, h);
}

ad_tensor *tagger_loss(ad_tape *tp, const tagger *m, const tagger_batch *bt) {
    return ad_softmax_xent(tp, tagger_logits(tp, m, bt), bt->tags, bt->mask);
}

void tagger_predict(ad_tape *tp, const tagger *m, const tagger_batch *bt, int *pred) {
    ad_tensor *logits = tagger_logits(tp, m, bt);
    const int n = bt->T * bt->B, K = ad_cols(logits);
    const ad_real *z = ad_data(logits);
    for (int i = 0; i < n; i++) {
        if (bt->mask[i] == 0) {
            pred[i] = -1;
            continue;
        }
        int best = 0;
        for (int k = 1; k < K; k++)
            if (z[(size_t)i * K + k] > z[(size_t)i * K + best]) best = k;
        pred[i] = best;
    }
}

/* ---------------------------------------------------------- model files ---- */

#define LEX_MAGIC "seqgrad-tagger-lexicon 1"

nn_status tagger_lexicon_save(const char *path, const tagger_lexicon *lx,
                              const tagger_config *cfg) {
    FILE *f = fopen(path, "w");
    if (!f) return nn_set_error(NN_ERR_IO, "%s: cannot write: %s", path, strerror(errno));
    fprintf(f, "%s\n", LEX_MAGIC);
    fprintf(f, "config %d %d %d %d %d %d %d %d %d %.17g\n", cfg->words, cfg->suffixes, cfg->tags,
            cfg->word_dim, cfg->suffix_dim, cfg->shape_dim, cfg->hidden, cfg->layers,
            cfg->char_features, cfg->dropout);
    text_vocab_write_section(f, "words", lx->words);
    text_vocab_write_section(f, "suffixes", lx->suffixes);
    text_vocab_write_section(f, "tags", lx->tags);
    bool bad = ferror(f) != 0;
    if (fclose(f) != 0 || bad)
        return nn_set_error(NN_ERR_IO, "%s: write failed: %s", path, strerror(errno));
    return NN_OK;
}

nn_status tagger_lexicon_load(const char *path, tagger_lexicon *lx, tagger_config *cfg) {
    FILE *f = fopen(path, "r");
    if (!f) return nn_set_error(NN_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    char magic[64] = "";
    if (!fgets(magic, sizeof magic, f) || strncmp(magic, LEX_MAGIC, strlen(LEX_MAGIC)) != 0) {
        fclose(f);
        return nn_set_error(NN_ERR_FORMAT, "%s: not a tagger lexicon (no '%s' line)", path,
                            LEX_MAGIC);
    }
    tagger_config c = tagger_config_default();
    int chars = 0;
    if (fscanf(f, " config %d %d %d %d %d %d %d %d %d %lf", &c.words, &c.suffixes, &c.tags,
               &c.word_dim, &c.suffix_dim, &c.shape_dim, &c.hidden, &c.layers, &chars,
               &c.dropout) != 10) {
        fclose(f);
        return nn_set_error(NN_ERR_FORMAT, "%s: line 2: a malformed config line", path);
    }
    c.char_features = chars != 0;
    tagger_lexicon_init(lx);
    long line = 2;
    nn_status s = text_vocab_read_section(f, path, "words", lx->words, &line);
    if (s == NN_OK) s = text_vocab_read_section(f, path, "suffixes", lx->suffixes, &line);
    if (s == NN_OK) s = text_vocab_read_section(f, path, "tags", lx->tags, &line);
    fclose(f);
    if (s == NN_OK &&
        (text_vocab_size(lx->words) != c.words || text_vocab_size(lx->suffixes) != c.suffixes ||
         text_vocab_size(lx->tags) != c.tags))
        s = nn_set_error(NN_ERR_FORMAT, "%s: the vocabularies' sizes differ from the config's",
                         path);
    if (s != NN_OK) {
        tagger_lexicon_free(lx);
        return s;
    }
    *cfg = c;
    return NN_OK;
}

/* ---------------------------------------------------------- the baseline ---- */

/* (word, tag) pairs are collected as keys word·ntags + tag and counted by sorting. */
typedef struct pair_counts {
    long long *keys;
    size_t n, cap;
} pair_counts;

struct tagger_baseline {
    int ntags;
    text_vocab *forms; /* words as written in training */
    pair_counts pairs;
    int *best;            /* per form: its most frequent tag */
    text_vocab *suffixes; /* "C:suf" of the hapax legomena, C = 1 when capitalised */
    pair_counts sfx_pairs;
    int *sfx_best;
    long *tag_total;
    int top; /* the most frequent tag overall */
};

static void pairs_add(pair_counts *p, long long key) {
    if (p->n == p->cap) {
        size_t cap = p->cap ? 2 * p->cap : 4096;
        long long *k = realloc(p->keys, cap * sizeof *k);
        if (!k) FAIL("tagger_baseline_count", "out of memory");
        p->keys = k;
        p->cap = cap;
    }
    p->keys[p->n++] = key;
}

static int cmp_ll(const void *a, const void *b) {
    long long x = *(const long long *)a, y = *(const long long *)b;
    return (x > y) - (x < y);
}

/* best[i] = the tag counted most often with item i (the smallest tag id on ties), -1 if none. */
static int *pairs_best(pair_counts *p, int items, int ntags) {
    int *best = malloc((size_t)(items > 0 ? items : 1) * sizeof *best);
    long *top = calloc((size_t)(items > 0 ? items : 1), sizeof *top);
    if (!best || !top) FAIL("tagger_baseline_finish", "out of memory");
    for (int i = 0; i < items; i++)
        best[i] = -1;
    qsort(p->keys, p->n, sizeof *p->keys, cmp_ll);
    for (size_t a = 0, b; a < p->n; a = b) {
        for (b = a; b < p->n && p->keys[b] == p->keys[a];)
            b++;
        int item = (int)(p->keys[a] / ntags), tag = (int)(p->keys[a] % ntags);
        if ((long)(b - a) > top[item]) top[item] = (long)(b - a), best[item] = tag;
    }
    free(top);
    return best;
}

tagger_baseline *tagger_baseline_new(int ntags) {
    if (ntags < 1) FAIL("tagger_baseline_new", "%d tags", ntags);
    tagger_baseline *b = calloc(1, sizeof *b);
    if (!b) return NULL;
    b->ntags = ntags;
    b->forms = text_vocab_new();
    b->suffixes = text_vocab_new();
    b->tag_total = calloc((size_t)ntags, sizeof *b->tag_total);
    if (!b->forms || !b->suffixes || !b->tag_total) {
        tagger_baseline_free(b);
        return NULL;
    }
    return b;
}

void tagger_baseline_free(tagger_baseline *b) {
    if (!b) return;
    text_vocab_free(b->forms);
    text_vocab_free(b->suffixes);
    free(b->pairs.keys);
    free(b->sfx_pairs.keys);
    free(b->best);
    free(b->sfx_best);
    free(b->tag_total);
    free(b);
}

void tagger_baseline_count(tagger_baseline *b, const char *word, int tag) {
    if (tag < 0 || tag >= b->ntags)
        FAIL("tagger_baseline_count", "tag %d outside [0, %d)", tag, b->ntags);
    if (b->best) FAIL("tagger_baseline_count", "counting after tagger_baseline_finish");
    int id = text_vocab_add(b->forms, word, 1);
    pairs_add(&b->pairs, (long long)id * b->ntags + tag);
    b->tag_total[tag]++;
}

static void suffix_key(const char *word, int k, char *key, size_t size) {
    char sfx[TAGGER_NSUFFIX + 1];
    tagger_suffix(word, k, sfx, sizeof sfx);
    snprintf(key, size, "%d:%s", isupper((unsigned char)word[0]) != 0, sfx);
}

void tagger_baseline_finish(tagger_baseline *b) {
    if (b->best) return;
    b->best = pairs_best(&b->pairs, text_vocab_size(b->forms), b->ntags);
    b->top = 0;
    for (int t = 1; t < b->ntags; t++)
        if (b->tag_total[t] > b->tag_total[b->top]) b->top = t;
    char key[32];
    for (int id = 1; id < text_vocab_size(b->forms); id++) {
        if (text_vocab_count(b->forms, id) != 1) continue;
        for (int k = 1; k <= 3; k++) {
            suffix_key(text_vocab_word(b->forms, id), k, key, sizeof key);
            int s = text_vocab_add(b->suffixes, key, 1);
            pairs_add(&b->sfx_pairs, (long long)s * b->ntags + b->best[id]);
        }
    }
    b->sfx_best = pairs_best(&b->sfx_pairs, text_vocab_size(b->suffixes), b->ntags);
}

bool tagger_baseline_known(const tagger_baseline *b, const char *word) {
    int id = text_vocab_find(b->forms, word);
    return id > 0 && text_vocab_count(b->forms, id) > 0;
}

int tagger_baseline_tag(const tagger_baseline *b, const char *word, bool suffix_rule) {
    if (!b->best) FAIL("tagger_baseline_tag", "tagger_baseline_finish was not called");
    int id = text_vocab_find(b->forms, word);
    if (id > 0 && b->best[id] >= 0) return b->best[id];
    if (suffix_rule) {
        char key[32];
        for (int k = 3; k >= 1; k--) {
            suffix_key(word, k, key, sizeof key);
            int s = text_vocab_find(b->suffixes, key);
            if (s > 0 && b->sfx_best[s] >= 0) return b->sfx_best[s];
        }
    }
    return b->top;
}
