/*
 * classifier.c — the recurrent sequence classifier as a composition of nn/ layers, its labelled
 * text reader and lexicon file, and the naive Bayes baseline.
 */
#include "classifier.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FAIL(op, ...) ad_fail_at(__FILE__, __LINE__, op, __VA_ARGS__)

/* --------------------------------------------------------------- data ---- */

/* A growing array of T. */
#define GROW(ptr, n, cap) ((n) < (cap) ? true : grow_array((void **)&(ptr), &(cap), sizeof *(ptr)))

static bool grow_array(void **p, size_t *cap, size_t elem) {
    size_t c = *cap ? 2 * *cap : 1024;
    void *q = realloc(*p, c * elem);
    if (!q) return false;
    *p = q;
    *cap = c;
    return true;
}

nn_status clf_read(const char *path, text_vocab *words, bool grow_words, text_vocab *labels,
                   bool grow_labels, clf_docs *out) {
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "r");
    if (!f) return nn_set_error(NN_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    size_t cap_ids = 0, cap_lines = 0, cap_labels = 0;
    text_ids *t = &out->text;
    char *line = NULL;
    size_t line_cap = 0;
    long lineno = 0;
    nn_status s = NN_OK;
    if (!GROW(t->line_start, 0, cap_lines)) goto oom;
    t->line_start[0] = 0;
    while (getline(&line, &line_cap, f) > 0) {
        lineno++;
        line[strcspn(line, "\r\n")] = 0;
        if (line[strspn(line, " \t")] == 0) continue; /* blank */
        char *tab = strchr(line, '\t');
        if (!tab || tab == line) {
            s = nn_set_error(NN_ERR_FORMAT, "%s: line %ld: expected 'label<TAB>tokens'", path,
                             lineno);
            goto done;
        }
        *tab = 0;
        int label = grow_labels ? text_vocab_add(labels, line, 1) : text_vocab_find(labels, line);
        if (label <= 0) { /* 0 is <unk>: never a label */
            s = nn_set_error(NN_ERR_FORMAT, "%s: line %ld: unknown label '%s'", path, lineno, line);
            goto done;
        }
        char *save = NULL;
        for (char *w = strtok_r(tab + 1, " \t", &save); w; w = strtok_r(NULL, " \t", &save)) {
            if (!GROW(t->ids, t->n, cap_ids)) goto oom;
            t->ids[t->n++] = grow_words ? text_vocab_add(words, w, 1) : text_vocab_id(words, w);
        }
        if (t->n == t->line_start[t->nlines]) continue; /* a label with no text */
        if (!GROW(out->label, t->nlines, cap_labels) ||
            !GROW(t->line_start, t->nlines + 2, cap_lines))
            goto oom;
        out->label[t->nlines++] = label;
        t->line_start[t->nlines] = t->n;
    }
    if (ferror(f))
        s = nn_set_error(NN_ERR_IO, "%s: read failed: %s", path, strerror(errno));
    else if (t->nlines == 0)
        s = nn_set_error(NN_ERR_FORMAT, "%s: no labelled text in it", path);
    goto done;
oom:
    s = nn_set_error(NN_ERR_MEMORY, "%s: out of memory reading it", path);
done:
    free(line);
    fclose(f);
    if (s != NN_OK) clf_docs_free(out);
    return s;
}

void clf_docs_free(clf_docs *d) {
    free(d->text.ids);
    free(d->text.line_start);
    free(d->label);
    memset(d, 0, sizeof *d);
}

/* ---------------------------------------------------------------- model ---- */

static const char *const pool_names[] = {"mean", "final", "both"};

const char *clf_pool_name(clf_pool p) {
    return (unsigned)p < 3 ? pool_names[p] : "?";
}

int clf_pool_parse(const char *name) {
    for (int p = 0; p < 3; p++)
        if (strcmp(name, pool_names[p]) == 0) return p;
    return -1;
}

clf_config clf_config_default(void) {
    return (clf_config){
        .dim = 64, .hidden = 64, .cell = NN_GRU, .pool = CLF_POOL_MEAN, .dropout = 0.5};
}

static int pooled_width(const clf_config *c) {
    return (c->pool == CLF_POOL_BOTH ? 4 : 2) * c->hidden;
}

void clf_init(clf *m, ad_params *ps, const clf_config *cfg, nn_rng *r) {
    if (cfg->vocab < 1 || cfg->classes < 1 || cfg->dim < 1 || cfg->hidden < 1 ||
        (unsigned)cfg->pool > CLF_POOL_BOTH)
        FAIL("clf_init", "vocab %d, classes %d, dim %d, hidden %d, pool %d: sizes must be positive",
             cfg->vocab, cfg->classes, cfg->dim, cfg->hidden, (int)cfg->pool);
    memset(m, 0, sizeof *m);
    m->cfg = *cfg;
    nn_embedding_init(&m->emb, ps, "clf.emb", cfg->vocab, cfg->dim, r);
    nn_rnn_init(&m->rnn, ps, "clf.rnn",
                &(nn_rnn_config){.kind = cfg->cell,
                                 .input = cfg->dim,
                                 .hidden = cfg->hidden,
                                 .bidirectional = true,
                                 .forget_bias = 1},
                r);
    nn_linear_init(&m->out, ps, "clf.out", pooled_width(cfg), cfg->classes, true, r);
}

/* Mean over the real steps of each text, as one product: v = P h with P (B x T·B),
 * P[b][t·B + b] = 1 / lengths[b] for t < lengths[b]. Padding rows of h are zero already, but P
 * does not rely on it. */
static ad_tensor *mean_pool(ad_tape *tp, ad_tensor *h, int T, int B, const int *lengths) {
    ad_tensor *P = ad_input(tp, B, T * B, NULL); /* zeros */
    ad_real *p = ad_data(P);
    for (int b = 0; b < B; b++) {
        const int len = lengths ? lengths[b] : T;
        for (int t = 0; t < len; t++)
            p[(size_t)b * T * B + t * B + b] = (ad_real)1 / len;
    }
    return ad_matmul(tp, P, h);
}

ad_tensor *clf_logits(ad_tape *tp, const clf *m, const int *ids, int T, int B, const int *lengths) {
    if (T < 1 || B < 1) FAIL("clf_logits", "T %d and B %d must be positive", T, B);
    ad_tensor *x =
        ad_dropout(tp, nn_embedding_forward(tp, &m->emb, ids, T * B), (ad_real)m->cfg.dropout);
    nn_rnn_result r = nn_rnn_forward(tp, &m->rnn, x, T, lengths, NULL);
    /* final states: the forward direction's at each true end, the backward's at step 0 */
    ad_tensor *final = ad_concat2(tp, r.final[0][0][0], r.final[0][1][0]);
    ad_tensor *v;
    switch (m->cfg.pool) {
    case CLF_POOL_MEAN:
        v = mean_pool(tp, r.out, T, B, lengths);
        break;
    case CLF_POOL_FINAL:
        v = final;
        break;
    default:
        v = ad_concat2(tp, mean_pool(tp, r.out, T, B, lengths), final);
        break;
    }
    return nn_linear_forward(tp, &m->out, ad_dropout(tp, v, (ad_real)m->cfg.dropout));
}

ad_tensor *clf_loss(ad_tape *tp, const clf *m, const int *ids, int T, int B, const int *lengths,
                    const int *labels) {
    return ad_softmax_xent(tp, clf_logits(tp, m, ids, T, B, lengths), labels, NULL);
}

void clf_predict(ad_tape *tp, const clf *m, const int *ids, int T, int B, const int *lengths,
                 int *pred) {
    ad_tensor *z = clf_logits(tp, m, ids, T, B, lengths);
    const int K = ad_cols(z);
    for (int b = 0; b < B; b++) {
        const ad_real *row = ad_data(z) + (size_t)b * K;
        int best = 0;
        for (int k = 1; k < K; k++)
            if (row[k] > row[best]) best = k;
        pred[b] = best;
    }
}

/* ---------------------------------------------------------- model files ---- */

#define LEX_MAGIC "seqgrad-classifier-lexicon 1"

nn_status clf_lexicon_save(const char *path, const text_vocab *words, const text_vocab *labels,
                           const clf_config *cfg) {
    FILE *f = fopen(path, "w");
    if (!f) return nn_set_error(NN_ERR_IO, "%s: cannot write: %s", path, strerror(errno));
    fprintf(f, "%s\n", LEX_MAGIC);
    fprintf(f, "config %d %d %d %d %s %s %.17g\n", cfg->vocab, cfg->classes, cfg->dim, cfg->hidden,
            nn_cell_kind_name(cfg->cell), clf_pool_name(cfg->pool), cfg->dropout);
    text_vocab_write_section(f, "words", words);
    text_vocab_write_section(f, "labels", labels);
    bool bad = ferror(f) != 0;
    if (fclose(f) != 0 || bad)
        return nn_set_error(NN_ERR_IO, "%s: write failed: %s", path, strerror(errno));
    return NN_OK;
}

static int cell_parse(const char *name) {
    const nn_cell_kind kinds[] = {NN_ELMAN, NN_ELMAN_RELU, NN_GRU, NN_GRU_CHO, NN_LSTM};
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++)
        if (strcmp(name, nn_cell_kind_name(kinds[k])) == 0) return (int)kinds[k];
    return -1;
}

nn_status clf_lexicon_load(const char *path, text_vocab **words, text_vocab **labels,
                           clf_config *cfg) {
    FILE *f = fopen(path, "r");
    if (!f) return nn_set_error(NN_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    char magic[64] = "", cell[32], pool[32];
    if (!fgets(magic, sizeof magic, f) || strncmp(magic, LEX_MAGIC, strlen(LEX_MAGIC)) != 0) {
        fclose(f);
        return nn_set_error(NN_ERR_FORMAT, "%s: not a classifier lexicon (no '%s' line)", path,
                            LEX_MAGIC);
    }
    clf_config c = clf_config_default();
    if (fscanf(f, " config %d %d %d %d %31s %31s %lf", &c.vocab, &c.classes, &c.dim, &c.hidden,
               cell, pool, &c.dropout) != 7 ||
        cell_parse(cell) < 0 || clf_pool_parse(pool) < 0) {
        fclose(f);
        return nn_set_error(NN_ERR_FORMAT, "%s: line 2: a malformed config line", path);
    }
    c.cell = (nn_cell_kind)cell_parse(cell);
    c.pool = (clf_pool)clf_pool_parse(pool);
    text_vocab *w = text_vocab_new(), *l = text_vocab_new();
    if (!w || !l) FAIL("clf_lexicon_load", "out of memory");
    long line = 2;
    nn_status s = text_vocab_read_section(f, path, "words", w, &line);
    if (s == NN_OK) s = text_vocab_read_section(f, path, "labels", l, &line);
    fclose(f);
    if (s == NN_OK && (text_vocab_size(w) != c.vocab || text_vocab_size(l) != c.classes))
        s = nn_set_error(NN_ERR_FORMAT, "%s: the vocabularies' sizes differ from the config's",
                         path);
    if (s != NN_OK) {
        text_vocab_free(w);
        text_vocab_free(l);
        return s;
    }
    *words = w;
    *labels = l;
    *cfg = c;
    return NN_OK;
}

/* ---------------------------------------------------------- the baseline ---- */

struct clf_nb {
    int vocab, classes;
    double alpha;
    double *count; /* classes x vocab word counts */
    double *total; /* per class: all its words */
    double *texts; /* per class: its texts */
    double ntexts;
};

clf_nb *clf_nb_new(int vocab, int classes, double alpha) {
    if (vocab < 1 || classes < 1 || !(alpha > 0))
        FAIL("clf_nb_new", "vocab %d, classes %d, alpha %g: all must be positive", vocab, classes,
             alpha);
    clf_nb *nb = calloc(1, sizeof *nb);
    if (!nb) return NULL;
    nb->vocab = vocab;
    nb->classes = classes;
    nb->alpha = alpha;
    nb->count = calloc((size_t)vocab * classes, sizeof *nb->count);
    nb->total = calloc((size_t)classes, sizeof *nb->total);
    nb->texts = calloc((size_t)classes, sizeof *nb->texts);
    if (!nb->count || !nb->total || !nb->texts) {
        clf_nb_free(nb);
        return NULL;
    }
    return nb;
}

void clf_nb_free(clf_nb *nb) {
    if (!nb) return;
    free(nb->count);
    free(nb->total);
    free(nb->texts);
    free(nb);
}

void clf_nb_add(clf_nb *nb, const int *ids, int n, int label) {
    if (label < 0 || label >= nb->classes)
        FAIL("clf_nb_add", "label %d outside [0, %d)", label, nb->classes);
    for (int i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= nb->vocab)
            FAIL("clf_nb_add", "word id %d outside [0, %d)", ids[i], nb->vocab);
        nb->count[(size_t)label * nb->vocab + ids[i]] += 1;
    }
    nb->total[label] += n;
    nb->texts[label] += 1;
    nb->ntexts += 1;
}

int clf_nb_predict(const clf_nb *nb, const int *ids, int n, double *scores) {
    int best = -1;
    double best_score = -INFINITY;
    for (int c = 0; c < nb->classes; c++) {
        double s = -INFINITY;
        if (nb->texts[c] > 0) { /* a class never seen in training is never predicted */
            s = log(nb->texts[c] / nb->ntexts);
            const double denom = log(nb->total[c] + nb->alpha * nb->vocab);
            for (int i = 0; i < n; i++) {
                if (ids[i] < 0 || ids[i] >= nb->vocab)
                    FAIL("clf_nb_predict", "word id %d outside [0, %d)", ids[i], nb->vocab);
                s += log(nb->count[(size_t)c * nb->vocab + ids[i]] + nb->alpha) - denom;
            }
        }
        if (scores) scores[c] = s;
        if (best < 0 || s > best_score) best = c, best_score = s;
    }
    return best;
}
