/*
 * classify — a bidirectional GRU text classifier trained on the Brown corpus's genres, against a
 * bag-of-words baseline (multinomial naive Bayes).
 *
 *   classify train [options]        train on brown-train.genres, report dev and test accuracy
 *   classify eval [options]         accuracy of a saved model on brown-test.genres
 *   classify predict [options] TEXT the most probable genres of a text
 *   classify --tour                 a short run that shows what it learned
 *
 * Brown's 500 documents are ~2,300 words each: far longer than a recurrent network needs to see
 * to recognise a genre, and only 400 of them to train on. So each document is cut into chunks of
 * --chunk words (100; a last piece shorter than half a chunk is dropped) and every chunk is one
 * example labelled with its document's genre. The split is by document (data/README.md: the 9th
 * of every 10 to dev, the 10th to test), so no test chunk shares a document with a training one.
 * Besides chunk accuracy, a document's genre is predicted from all its chunks (the sum of their
 * log-probabilities) and document accuracy reported too.
 */
#include "classifier.h"
#include "common.h"
#include "vectors.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* --------------------------------------------------------------- options ---- */

typedef struct options {
    const char *train, *dev, *test, *model, *resume, *curve, *vectors;
    clf_config cfg;
    long chunk, min_count, max_vocab, epochs, batch, checkpoint_every, seed, threads, eval_every;
    double lr, lr_decay, clip, time_limit, alpha, word_dropout;
    bool tour, freeze;
} options;

/* The help text, the option table and its switch read as tables: */
// clang-format off
static void usage(FILE *f) {
    fprintf(f,
"usage: classify train|eval|predict [options] [TEXT]\n"
"       classify --tour\n"
"A bidirectional GRU classifier of the Brown corpus's 15 genres, on chunks of documents,\n"
"against multinomial naive Bayes on the same chunks' word counts.\n"
"\n"
"data (default: the cache's Brown split, see data/README.md):\n"
"  --train FILE  --dev FILE  --test FILE\n"
"                      \"genre<TAB>words\" lines (brown-{train,dev,test}.genres)\n"
"  --chunk N           words per example (100)\n"
"  --min-count N       words seen fewer times in training are <unk> (2)\n"
"  --max-vocab N       at most N words (20000)\n"
"model:\n"
"  --model PATH        checkpoint to write (train) or read (eval, predict); lexicon PATH.lex\n"
"                      (default classify.ckpt)\n"
"  --dim N  --hidden N   embedding width, units per direction (64 64)\n"
"  --vectors FILE      start the embeddings from these vectors (word2vec .bin or text, or GloVe\n"
"                      text: word2vec's output on words.txt); the dimension becomes theirs\n"
"  --freeze-embeddings keep the embeddings as they start (with --vectors: the network learns on\n"
"                      top of them instead of overfitting 20000 x dim values; again on --resume)\n"
"  --cell gru|lstm     (gru)\n"
"  --pool mean|final|both   mean over the steps, the final states, or both (mean)\n"
"  --dropout P         (0.5)\n"
"  --word-dropout P    in training, each word is <unk> with probability P (0.1): the network\n"
"                      cannot lean on the few words that give a training document away\n"
"  --alpha X           naive Bayes smoothing (0: the best of 0.01 0.03 0.1 0.3 1 on dev)\n"
"training:\n"
"  --epochs N (3)  --batch N (32)  --lr X Adam (0.003)  --lr-decay X per epoch (0.7)\n"
"  --clip X (5)  --time-limit SEC (0: none)\n"
"  --checkpoint-every N  save PATH every N steps (and at every epoch's end)\n"
"  --resume PATH       continue the run saved in PATH\n"
"  --curve FILE        learning curve CSV (default PATH.curve.csv), plotted by gnuplot to\n"
"                      FILE's name less .csv + .loss.png and .accuracy.png\n"
"  --eval-every N      a point on the curve (dev accuracy) every N steps and at each epoch's\n"
"                      end (100)\n"
"  --seed N (1)  --threads N (1: the products are small; 0: every core)\n"
"  --tour              a short run (about 30 s)\n"
"  -h, --help\n");
}

enum { OPT_TRAIN = 256, OPT_DEV, OPT_TEST, OPT_CHUNK, OPT_MINC, OPT_MAXV, OPT_MODEL, OPT_DIM,
       OPT_HIDDEN, OPT_CELL, OPT_POOL, OPT_DROP, OPT_ALPHA, OPT_EPOCHS, OPT_BATCH, OPT_LR,
       OPT_DECAY, OPT_CLIP, OPT_TIME, OPT_CKPT, OPT_RESUME, OPT_CURVE, OPT_SEED, OPT_THREADS,
       OPT_EVAL, OPT_VECTORS, OPT_FREEZE, OPT_TOUR, OPT_WDROP };

static const struct option long_options[] = {
    {"train", required_argument, 0, OPT_TRAIN},   {"dev", required_argument, 0, OPT_DEV},
    {"test", required_argument, 0, OPT_TEST},     {"chunk", required_argument, 0, OPT_CHUNK},
    {"min-count", required_argument, 0, OPT_MINC}, {"max-vocab", required_argument, 0, OPT_MAXV},
    {"model", required_argument, 0, OPT_MODEL},   {"dim", required_argument, 0, OPT_DIM},
    {"hidden", required_argument, 0, OPT_HIDDEN}, {"cell", required_argument, 0, OPT_CELL},
    {"pool", required_argument, 0, OPT_POOL},     {"dropout", required_argument, 0, OPT_DROP},
    {"alpha", required_argument, 0, OPT_ALPHA},   {"epochs", required_argument, 0, OPT_EPOCHS},
    {"batch", required_argument, 0, OPT_BATCH},   {"lr", required_argument, 0, OPT_LR},
    {"lr-decay", required_argument, 0, OPT_DECAY}, {"clip", required_argument, 0, OPT_CLIP},
    {"time-limit", required_argument, 0, OPT_TIME},
    {"checkpoint-every", required_argument, 0, OPT_CKPT},
    {"resume", required_argument, 0, OPT_RESUME}, {"curve", required_argument, 0, OPT_CURVE},
    {"seed", required_argument, 0, OPT_SEED},     {"threads", required_argument, 0, OPT_THREADS},
    {"word-dropout", required_argument, 0, OPT_WDROP},
    {"eval-every", required_argument, 0, OPT_EVAL},
    {"vectors", required_argument, 0, OPT_VECTORS},
    {"freeze-embeddings", no_argument, 0, OPT_FREEZE},
    {"tour", no_argument, 0, OPT_TOUR},           {"help", no_argument, 0, 'h'},
    {0, 0, 0, 0},
};

static void parse_options(int argc, char **argv, options *o) {
    memset(o, 0, sizeof *o);
    o->model = "classify.ckpt";
    o->cfg = clf_config_default();
    o->chunk = 100, o->min_count = 2, o->max_vocab = 20000, o->epochs = 3, o->batch = 32;
    o->eval_every = 100, o->seed = 1, o->threads = 1, o->lr = 0.003, o->lr_decay = 0.7, o->clip = 5;
    o->word_dropout = 0.1;
    for (int c; (c = getopt_long(argc, argv, "h", long_options, NULL)) != -1;) {
        switch (c) {
        case OPT_TRAIN: o->train = optarg; break;
        case OPT_DEV: o->dev = optarg; break;
        case OPT_TEST: o->test = optarg; break;
        case OPT_CHUNK: o->chunk = ex_parse_long("--chunk", optarg, 2, 100000); break;
        case OPT_MINC: o->min_count = ex_parse_long("--min-count", optarg, 1, 1L << 40); break;
        case OPT_MAXV: o->max_vocab = ex_parse_long("--max-vocab", optarg, 2, 1L << 30); break;
        case OPT_MODEL: o->model = optarg; break;
        case OPT_DIM: o->cfg.dim = (int)ex_parse_long("--dim", optarg, 1, 4096); break;
        case OPT_HIDDEN: o->cfg.hidden = (int)ex_parse_long("--hidden", optarg, 1, 8192); break;
        case OPT_CELL:
            if (strcmp(optarg, "gru") == 0) o->cfg.cell = NN_GRU;
            else if (strcmp(optarg, "lstm") == 0) o->cfg.cell = NN_LSTM;
            else ex_die("--cell: '%s' is not gru or lstm", optarg);
            break;
        case OPT_POOL: {
            int p = clf_pool_parse(optarg);
            if (p < 0) ex_die("--pool: '%s' is not mean, final or both", optarg);
            o->cfg.pool = (clf_pool)p;
            break;
        }
        case OPT_DROP: o->cfg.dropout = ex_parse_double("--dropout", optarg, 0, 0.95); break;
        case OPT_WDROP: o->word_dropout = ex_parse_double("--word-dropout", optarg, 0, 0.95); break;
        case OPT_ALPHA: o->alpha = ex_parse_double("--alpha", optarg, 0, 1e6); break;
        case OPT_EPOCHS: o->epochs = ex_parse_long("--epochs", optarg, 1, 100000); break;
        case OPT_BATCH: o->batch = ex_parse_long("--batch", optarg, 1, 4096); break;
        case OPT_LR: o->lr = ex_parse_double("--lr", optarg, 1e-9, 100); break;
        case OPT_DECAY: o->lr_decay = ex_parse_double("--lr-decay", optarg, 1e-6, 1); break;
        case OPT_CLIP: o->clip = ex_parse_double("--clip", optarg, 0, 1e9); break;
        case OPT_TIME: o->time_limit = ex_parse_double("--time-limit", optarg, 0, 1e9); break;
        case OPT_CKPT:
            o->checkpoint_every = ex_parse_long("--checkpoint-every", optarg, 1, 1L << 40); break;
        case OPT_RESUME: o->resume = optarg; break;
        case OPT_CURVE: o->curve = optarg; break;
        case OPT_SEED: o->seed = ex_parse_long("--seed", optarg, 0, 1L << 40); break;
        case OPT_THREADS: o->threads = ex_parse_long("--threads", optarg, 0, 1024); break;
        case OPT_EVAL: o->eval_every = ex_parse_long("--eval-every", optarg, 1, 1L << 40); break;
        case OPT_VECTORS: o->vectors = optarg; break;
        case OPT_FREEZE: o->freeze = true; break;
        case OPT_TOUR: o->tour = true; break;
        case 'h': usage(stdout); exit(0);
        default: usage(stderr); exit(1);
        }
    }
}

// clang-format on

/* ------------------------------------------------------------- chunks ---- */

static text_vocab *raw_words, *labels; /* every word form read; the genres of the training file */

/* Documents cut into chunks: chunk k is ids[off[k] .. off[k] + len[k]) (model ids), of document
 * doc[k], labelled label[k]. */
typedef struct chunks {
    size_t n, ndocs;
    int *ids;
    size_t *off;
    int *len, *doc, *label;
    int *doc_label;
} chunks;

static void chunks_free(chunks *c) {
    free(c->ids), free(c->off), free(c->len), free(c->doc), free(c->label), free(c->doc_label);
    memset(c, 0, sizeof *c);
}

/* Read path (labels grow only for the training file) and cut it; map raw ids through model
 * vocabulary words (NULL: keep the raw ids, for counting). */
static void chunks_read(const char *path, bool grow_labels, int chunk, chunks *c, clf_docs *docs) {
    ex_check_status(clf_read(path, raw_words, true, labels, grow_labels, docs));
    memset(c, 0, sizeof *c);
    const text_ids *t = &docs->text;
    c->ndocs = t->nlines;
    c->ids = malloc(t->n * sizeof *c->ids);
    const size_t most = t->n / (size_t)(chunk / 2 > 0 ? chunk / 2 : 1) + t->nlines + 1;
    c->off = malloc(most * sizeof *c->off);
    c->len = malloc(most * sizeof *c->len);
    c->doc = malloc(most * sizeof *c->doc);
    c->label = malloc(most * sizeof *c->label);
    c->doc_label = malloc(c->ndocs * sizeof *c->doc_label);
    if (!c->ids || !c->off || !c->len || !c->doc || !c->label || !c->doc_label)
        ex_die("out of memory");
    memcpy(c->ids, t->ids, t->n * sizeof *c->ids);
    for (size_t d = 0; d < t->nlines; d++) {
        c->doc_label[d] = docs->label[d];
        for (size_t at = t->line_start[d]; at < t->line_start[d + 1]; at += (size_t)chunk) {
            size_t len = t->line_start[d + 1] - at;
            if (len > (size_t)chunk) len = (size_t)chunk;
            if (len < (size_t)(chunk + 1) / 2 && at > t->line_start[d]) break; /* a short tail */
            c->off[c->n] = at, c->len[c->n] = (int)len, c->doc[c->n] = (int)d;
            c->label[c->n++] = docs->label[d];
        }
    }
}

static void chunks_map(chunks *c, const int *map, size_t ntok) {
    for (size_t i = 0; i < ntok; i++)
        c->ids[i] = map[c->ids[i]];
}

/* raw id -> model id, for every raw word read so far. */
static int *vocab_map(const text_vocab *words) {
    const int n = text_vocab_size(raw_words);
    int *map = malloc((size_t)n * sizeof *map);
    if (!map) ex_die("out of memory");
    for (int i = 0; i < n; i++)
        map[i] = text_vocab_id(words, text_vocab_word(raw_words, i));
    return map;
}

/* Time-major ids of chunks order[first .. first+B). Returns T. */
static int fill_batch(const chunks *c, const int *order, size_t first, int B, int *ids,
                      int *lengths, int *y) {
    int T = 1;
    for (int b = 0; b < B; b++)
        T = c->len[order[first + (size_t)b]] > T ? c->len[order[first + (size_t)b]] : T;
    for (int b = 0; b < B; b++) {
        const int k = order[first + (size_t)b];
        lengths[b] = c->len[k];
        y[b] = c->label[k];
        for (int t = 0; t < T; t++)
            ids[t * B + b] = t < c->len[k] ? c->ids[c->off[k] + (size_t)t] : 0;
    }
    return T;
}

/* ------------------------------------------------------------ evaluation ---- */

typedef struct accuracy {
    double chunks, docs; /* percent */
} accuracy;

/* Chunk and document accuracy from per-chunk log-probabilities (n x classes). */
static accuracy score(const chunks *c, const double *logp, int classes) {
    accuracy a = {0, 0};
    double *doc = calloc(c->ndocs * (size_t)classes, sizeof *doc);
    if (!doc) ex_die("out of memory");
    long right = 0;
    for (size_t k = 0; k < c->n; k++) {
        const double *p = logp + k * (size_t)classes;
        int best = 1;
        for (int j = 1; j < classes; j++) {
            if (p[j] > p[best]) best = j;
            doc[(size_t)c->doc[k] * classes + j] += p[j];
        }
        right += best == c->label[k];
    }
    a.chunks = 100.0 * (double)right / (double)c->n;
    right = 0;
    for (size_t d = 0; d < c->ndocs; d++) {
        int best = 1;
        for (int j = 1; j < classes; j++)
            if (doc[d * classes + j] > doc[d * classes + best]) best = j;
        right += best == c->doc_label[d];
    }
    a.docs = 100.0 * (double)right / (double)c->ndocs;
    free(doc);
    return a;
}

/* log softmax of the model's logits for every chunk (class 0, <unk>, is never a label). */
static double *model_logp(const clf *m, const chunks *c, ad_tape *tp, int chunk) {
    enum { EB = 64 };
    const int K = m->cfg.classes;
    double *logp = malloc(c->n * (size_t)K * sizeof *logp);
    int *order = malloc(c->n * sizeof *order), *ids = malloc((size_t)chunk * EB * sizeof *ids);
    if (!logp || !order || !ids) ex_die("out of memory");
    for (size_t k = 0; k < c->n; k++)
        order[k] = (int)k;
    int lengths[EB], y[EB];
    ad_tape_set_training(tp, false);
    for (size_t first = 0; first < c->n; first += EB) {
        const int B = (int)(c->n - first < EB ? c->n - first : EB);
        const int T = fill_batch(c, order, first, B, ids, lengths, y);
        ad_tensor *z = clf_logits(tp, m, ids, T, B, lengths);
        for (int b = 0; b < B; b++) {
            const ad_real *row = ad_data(z) + (size_t)b * K;
            double mx = row[1], s = 0;
            for (int j = 1; j < K; j++)
                mx = row[j] > mx ? row[j] : mx;
            for (int j = 1; j < K; j++)
                s += exp(row[j] - mx);
            double *out = logp + (first + (size_t)b) * K;
            out[0] = -INFINITY;
            for (int j = 1; j < K; j++)
                out[j] = row[j] - mx - log(s);
        }
        ad_tape_reset(tp);
    }
    ad_tape_set_training(tp, true);
    free(order), free(ids);
    return logp;
}

static double *nb_logp(const clf_nb *nb, const chunks *c, int K) {
    double *logp = malloc(c->n * (size_t)K * sizeof *logp);
    if (!logp) ex_die("out of memory");
    for (size_t k = 0; k < c->n; k++) {
        double *p = logp + k * (size_t)K;
        clf_nb_predict(nb, c->ids + c->off[k], c->len[k], p);
        p[0] = -INFINITY;        /* <unk>: never trained, already -inf; kept out of the argmax */
        double mx = p[1], s = 0; /* normalised, so documents sum log-probabilities */
        for (int j = 1; j < K; j++)
            mx = p[j] > mx ? p[j] : mx;
        for (int j = 1; j < K; j++)
            s += exp(p[j] - mx);
        for (int j = 1; j < K; j++)
            p[j] -= mx + log(s);
    }
    return logp;
}

static clf_nb *nb_train(const chunks *c, int V, int K, double alpha) {
    clf_nb *nb = clf_nb_new(V, K, alpha);
    if (!nb) ex_die("out of memory");
    for (size_t k = 0; k < c->n; k++)
        clf_nb_add(nb, c->ids + c->off[k], c->len[k], c->label[k]);
    return nb;
}

static accuracy nb_accuracy(const clf_nb *nb, const chunks *c, int K) {
    double *logp = nb_logp(nb, c, K);
    accuracy a = score(c, logp, K);
    free(logp);
    return a;
}

static accuracy model_accuracy(const clf *m, const chunks *c, ad_tape *tp, int chunk) {
    double *logp = model_logp(m, c, tp, chunk);
    accuracy a = score(c, logp, m->cfg.classes);
    free(logp);
    return a;
}

static void print_result(const clf *m, accuracy a, double alpha, accuracy nb) {
    char name[64], base[64];
    snprintf(name, sizeof name, "Bi%s classifier", m->cfg.cell == NN_LSTM ? "LSTM" : "GRU");
    snprintf(base, sizeof base, "naive Bayes (alpha %g)", alpha);
    printf("  %-28s %6.2f%% of chunks   %6.2f%% of documents\n", name, a.chunks, a.docs);
    printf("  %-28s %6.2f%% of chunks   %6.2f%% of documents\n", base, nb.chunks, nb.docs);
}

/* A point of the learning curve: dev accuracy now beside naive Bayes's, and the mean training
 * loss since the last point (then reset). Returns the accuracy; curve may be NULL. */
static accuracy curve_point(ex_curve *curve, const clf *m, const chunks *dev, ad_tape *tp,
                            int chunk, accuracy nb_dev, double step, double epoch, double *loss_sum,
                            long *loss_n) {
    accuracy a = model_accuracy(m, dev, tp, chunk);
    if (curve)
        ex_curve_row(curve, (double[]){step, epoch, *loss_sum / (double)(*loss_n ? *loss_n : 1),
                                       a.chunks, nb_dev.chunks});
    *loss_sum = 0, *loss_n = 0;
    return a;
}

/* The loss in one picture and the accuracies in another: "x.csv" -> x.loss.png, x.accuracy.png */
static void plot_curve(const char *csv, const char *title, const char *accuracy_columns) {
    char stem[4096], png[4200];
    snprintf(stem, sizeof stem, "%s", csv);
    size_t n = strlen(stem);
    if (n > 4 && strcmp(stem + n - 4, ".csv") == 0) stem[n - 4] = 0;
    snprintf(png, sizeof png, "%s.loss.png", stem);
    if (ex_plot(csv, png, title, "train_loss") != 0) return;
    snprintf(png, sizeof png, "%s.accuracy.png", stem);
    ex_plot(csv, png, title, accuracy_columns);
}

/* ------------------------------------------------------------ the model ---- */

/* Pretrained word vectors for the embedding table: word2vec binary (a name ending in .bin),
 * word2vec text (a first line "<words> <dim>") or GloVe text. */
static void vectors_load(const char *path, wv_table *t) {
    wv_format f = WV_GLOVE_TEXT;
    size_t n = strlen(path);
    if (n > 4 && strcmp(path + n - 4, ".bin") == 0) {
        f = WV_WORD2VEC_BINARY;
    } else {
        FILE *in = fopen(path, "r");
        if (!in) ex_die("%s: cannot open: %s", path, strerror(errno));
        char line[256] = "", extra[8];
        long a, b;
        if (fgets(line, sizeof line, in) && sscanf(line, "%ld %ld %7s", &a, &b, extra) == 2)
            f = WV_WORD2VEC_TEXT;
        fclose(in);
    }
    ex_check_status(wv_load(path, f, 0, t));
}

/* Row id of E takes the vector of word id of v where the table has one; returns how many did. */
static int vectors_copy(const wv_table *t, const text_vocab *v, ad_tensor *E) {
    if (t->dim != ad_cols(E))
        ad_fail_at(__FILE__, __LINE__, "vectors_copy", "vectors of %d, embeddings of %d", t->dim,
                   ad_cols(E));
    int found = 0;
    for (int id = 1; id < text_vocab_size(v) && id < ad_rows(E); id++) {
        int j = wv_table_find(t, text_vocab_word(v, id));
        if (j < 0) continue;
        for (int k = 0; k < t->dim; k++)
            ad_data(E)[(size_t)id * t->dim + k] = (ad_real)t->vec[(size_t)j * t->dim + k];
        found++;
    }
    return found;
}

typedef struct model {
    text_vocab *words, *labels;
    clf m;
    ad_params *ps;
} model;

static void model_load(model *md, const char *path) {
    char lex[4096];
    snprintf(lex, sizeof lex, "%s.lex", path);
    clf_config cfg;
    if (clf_lexicon_load(lex, &md->words, &md->labels, &cfg) != NN_OK)
        ex_die("%s\n  (a classifier model is its checkpoint and the lexicon PATH.lex beside it: "
               "is %s a model that 'classify train' wrote?)",
               nn_last_error(), path);
    nn_rng r = nn_rng_new(1);
    md->ps = ad_params_new();
    clf_init(&md->m, md->ps, &cfg, &r);
}

static void model_save(const model *md, const char *path, const nn_optim *opt,
                       const nn_counters *counters) {
    char lex[4096];
    snprintf(lex, sizeof lex, "%s.lex", path);
    ex_check_status(clf_lexicon_save(lex, md->words, md->labels, &md->m.cfg));
    ex_check_status(nn_checkpoint_save(path, md->ps, opt, counters));
}

static void model_free(model *md) {
    text_vocab_free(md->words);
    text_vocab_free(md->labels);
    ad_params_free(md->ps);
}

/* The three most probable genres of a text (lowercased, split at spaces, cut to --chunk words
 * at most... the model reads it whole). */
static void predict_text(const model *md, const char *text) {
    enum { MAXW = 4096 };
    static int ids[MAXW];
    int n = 0, unknown = 0;
    char buf[65536];
    snprintf(buf, sizeof buf, "%s", text);
    for (char *p = buf; *p; p++)
        *p = (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
    char *save = NULL;
    for (char *w = strtok_r(buf, " \t\r\n", &save); w && n < MAXW;
         w = strtok_r(NULL, " \t\r\n", &save)) {
        ids[n] = text_vocab_id(md->words, w);
        unknown += ids[n++] == TEXT_UNK;
    }
    if (n == 0) ex_die("nothing to classify: give a text, e.g. classify predict \"the jury said\"");
    ad_tape *tp = ad_tape_new();
    ad_tape_set_training(tp, false);
    ad_tensor *z = ad_softmax(tp, clf_logits(tp, &md->m, ids, n, 1, NULL));
    const int K = md->m.cfg.classes;
    int top[3] = {1, 1, 1};
    for (int r = 0; r < 3 && r < K - 1; r++) {
        int best = -1;
        for (int j = 1; j < K; j++) {
            bool taken = false;
            for (int q = 0; q < r; q++)
                taken |= top[q] == j;
            if (!taken && (best < 0 || ad_data(z)[j] > ad_data(z)[best])) best = j;
        }
        top[r] = best;
        printf("%s%s %.1f%%", r ? ", " : "", text_vocab_word(md->labels, best),
               100.0 * ad_data(z)[best]);
    }
    printf("   (%d words, %d unknown)\n", n, unknown);
    ad_tape_free(tp);
}

/* ---------------------------------------------------------------- train ---- */

static double seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void shuffle(int *a, size_t n, nn_rng *r) {
    for (size_t i = n; i > 1; i--) {
        size_t j = nn_rng_below(r, (uint32_t)i);
        int t = a[i - 1];
        a[i - 1] = a[j], a[j] = t;
    }
}

enum { C_STEP, C_EPOCH, C_BATCH, C_RNG, C_TAPE_RNG, C_WORD_RNG, C_NCOUNTERS };

static int cmd_train(const options *o) {
    const double t_start = seconds();
    const int chunk = (int)o->chunk;
    clf_docs dtrain, ddev, dtest;
    chunks train, dev, test;
    chunks_read(o->train, true, chunk, &train, &dtrain);
    chunks_read(o->dev, false, chunk, &dev, &ddev);
    chunks_read(o->test, false, chunk, &test, &dtest);

    model md = {0};
    if (o->resume) {
        model_load(&md, o->resume);
        if (text_vocab_size(md.labels) != text_vocab_size(labels))
            ex_die("%s: a model of %d genres, but %s has %d", o->resume,
                   text_vocab_size(md.labels) - 1, o->train, text_vocab_size(labels) - 1);
    } else {
        md.words = text_vocab_new();
        md.labels = text_vocab_new();
        for (size_t i = 0; i < dtrain.text.n; i++)
            text_vocab_add(md.words, text_vocab_word(raw_words, dtrain.text.ids[i]), 1);
        text_vocab_prune(md.words, o->min_count, (int)o->max_vocab);
        for (int j = 1; j < text_vocab_size(labels); j++)
            text_vocab_add(md.labels, text_vocab_word(labels, j), 1);
        clf_config cfg = o->cfg;
        wv_table vecs = {0};
        if (o->vectors) {
            vectors_load(o->vectors, &vecs);
            cfg.dim = vecs.dim;
        }
        cfg.vocab = text_vocab_size(md.words);
        cfg.classes = text_vocab_size(md.labels);
        nn_rng r = nn_rng_new((uint64_t)o->seed);
        md.ps = ad_params_new();
        clf_init(&md.m, md.ps, &cfg, &r);
        if (o->vectors) {
            printf("vectors: %d of the %d words have one in %s\n",
                   vectors_copy(&vecs, md.words, md.m.emb.E), cfg.vocab - 1, o->vectors);
            wv_table_free(&vecs);
        }
    }
    if (o->freeze) ad_param_set_frozen(md.m.emb.E, true);
    int *map = vocab_map(md.words);
    chunks_map(&train, map, dtrain.text.n);
    chunks_map(&dev, map, ddev.text.n);
    chunks_map(&test, map, dtest.text.n);
    free(map);
    const clf_config *cfg = &md.m.cfg;
    const int K = cfg->classes;
    printf("classify: %zu genres; %zu training documents -> %zu chunks of %d words, dev %zu -> "
           "%zu, test %zu -> %zu; vocabulary %d\n",
           (size_t)K - 1, train.ndocs, train.n, chunk, dev.ndocs, dev.n, test.ndocs, test.n,
           cfg->vocab);
    printf("model: embeddings %d, bidirectional %s %d, %s pooling, dropout %.2f; %zu parameters\n",
           cfg->dim, nn_cell_kind_name(cfg->cell), cfg->hidden, clf_pool_name(cfg->pool),
           cfg->dropout, ad_params_size(md.ps));

    /* the baseline first: naive Bayes, its smoothing chosen on dev unless given */
    double alpha = o->alpha;
    if (alpha <= 0) {
        static const double grid[] = {0.01, 0.03, 0.1, 0.3, 1};
        double best = -1;
        for (size_t g = 0; g < sizeof grid / sizeof grid[0]; g++) {
            clf_nb *nb = nb_train(&train, cfg->vocab, K, grid[g]);
            accuracy a = nb_accuracy(nb, &dev, K);
            if (a.chunks > best) best = a.chunks, alpha = grid[g];
            clf_nb_free(nb);
        }
    }
    clf_nb *nb = nb_train(&train, cfg->vocab, K, alpha);
    accuracy nb_dev = nb_accuracy(nb, &dev, K);
    printf("naive Bayes (alpha %g): dev accuracy %.2f%% of chunks, %.2f%% of documents\n", alpha,
           nb_dev.chunks, nb_dev.docs);

    nn_optim *opt =
        nn_optim_new(md.ps, &(nn_optim_config){.kind = NN_ADAM, .lr = o->lr, .sparse = true});
    ad_tape *tp = ad_tape_new();
    ad_tape_seed(tp, (uint64_t)o->seed + 17);
    const int B = (int)o->batch;
    int *ids = malloc((size_t)chunk * B * sizeof *ids),
        *lengths = malloc((size_t)B * sizeof *lengths), *y = malloc((size_t)B * sizeof *y),
        *order = malloc(train.n * sizeof *order);
    if (!ids || !lengths || !y || !order) ex_die("out of memory");
    const size_t nbatches = (train.n + (size_t)B - 1) / (size_t)B;
    nn_rng order_rng = nn_rng_new((uint64_t)o->seed + 1),
           word_rng = nn_rng_new((uint64_t)o->seed + 2);
    uint64_t counter[C_NCOUNTERS] = {0};
    nn_counters counters = {
        .n = C_NCOUNTERS, .name = {"step", "epoch", "batch", "order_rng", "tape_rng", "word_rng"}};
    if (o->resume) {
        ex_check_status(nn_checkpoint_load(o->resume, md.ps, opt, &counters));
        for (int k = 0; k < C_NCOUNTERS; k++)
            counter[k] = counters.value[k];
        order_rng.state = counter[C_RNG];
        word_rng.state = counter[C_WORD_RNG];
        ad_tape_set_rng_state(tp, counter[C_TAPE_RNG]);
        printf("resumed %s at step %llu (epoch %llu)\n", o->resume,
               (unsigned long long)counter[C_STEP], (unsigned long long)counter[C_EPOCH] + 1);
    }
    char curve_path[4096];
    snprintf(curve_path, sizeof curve_path, "%s", o->curve ? o->curve : "");
    if (!o->curve && !o->tour) snprintf(curve_path, sizeof curve_path, "%s.curve.csv", o->model);
    ex_curve *curve =
        curve_path[0]
            ? ex_curve_open(curve_path, "step,epoch,train_loss,dev_accuracy,nb_dev_accuracy")
            : NULL;
    ex_progress *prog = ex_progress_new("train", (long)(o->epochs * (long)nbatches), 5.0);
    long tokens = 0, loss_n = 0;
    double loss_sum = 0;
    bool out_of_time = false;
    double epoch_pos = (double)counter[C_EPOCH]; /* epochs done, with the fraction of the current */
    for (long epoch = (long)counter[C_EPOCH]; epoch < o->epochs && !out_of_time; epoch++) {
        nn_optim_set_lr(opt, o->lr * pow(o->lr_decay, (double)epoch));
        nn_rng epoch_rng = order_rng;
        for (size_t k = 0; k < train.n; k++)
            order[k] = (int)k;
        shuffle(order, train.n, &epoch_rng);
        for (size_t k = counter[C_BATCH]; k < nbatches; k++) {
            const size_t first = k * (size_t)B;
            const int nb_ = (int)(train.n - first < (size_t)B ? train.n - first : (size_t)B);
            const int T = fill_batch(&train, order, first, nb_, ids, lengths, y);
            if (o->word_dropout > 0)
                for (int i = 0; i < T * nb_; i++)
                    if (nn_rng_uniform(&word_rng) < o->word_dropout) ids[i] = TEXT_UNK;
            loss_sum +=
                nn_train_step(tp, clf_loss(tp, &md.m, ids, T, nb_, lengths, y), opt, o->clip);
            loss_n++;
            ad_tape_reset(tp);
            for (int b = 0; b < nb_; b++)
                tokens += lengths[b];
            counter[C_STEP]++;
            ex_progress_update(prog, (long)counter[C_STEP], tokens, loss_sum / (double)loss_n);
            const bool last = k + 1 == nbatches;
            counter[C_BATCH] = last ? 0 : k + 1;
            if (last) counter[C_EPOCH] = (uint64_t)epoch + 1;
            counter[C_RNG] = last ? epoch_rng.state : order_rng.state;
            if (o->checkpoint_every && counter[C_STEP] % (uint64_t)o->checkpoint_every == 0 &&
                !last) {
                counter[C_TAPE_RNG] = ad_tape_rng_state(tp), counter[C_WORD_RNG] = word_rng.state;
                for (int j = 0; j < C_NCOUNTERS; j++)
                    counters.value[j] = counter[j];
                model_save(&md, o->model, opt, &counters);
            }
            out_of_time = o->time_limit > 0 && seconds() - t_start > o->time_limit;
            epoch_pos = (double)epoch + (double)(k + 1) / (double)nbatches;
            if (last || out_of_time) break;
            if (curve && counter[C_STEP] % (uint64_t)o->eval_every == 0)
                curve_point(curve, &md.m, &dev, tp, chunk, nb_dev, (double)counter[C_STEP],
                            epoch_pos, &loss_sum, &loss_n);
        }
        order_rng = epoch_rng;
        accuracy a = curve_point(curve, &md.m, &dev, tp, chunk, nb_dev, (double)counter[C_STEP],
                                 epoch_pos, &loss_sum, &loss_n);
        fprintf(stderr,
                "classify: epoch %ld: dev accuracy %.2f%% of chunks, %.2f%% of documents"
                "%s\n",
                epoch + 1, a.chunks, a.docs, out_of_time ? " (time limit reached)" : "");
        if (!o->tour) {
            counter[C_TAPE_RNG] = ad_tape_rng_state(tp), counter[C_WORD_RNG] = word_rng.state;
            for (int j = 0; j < C_NCOUNTERS; j++)
                counters.value[j] = counter[j];
            model_save(&md, o->model, opt, &counters);
        }
    }
    ex_progress_done(prog);
    if (curve) {
        ex_curve_close(curve);
        plot_curve(curve_path, "BiGRU genre classifier", "dev_accuracy,nb_dev_accuracy");
    }
    accuracy a = model_accuracy(&md.m, &test, tp, chunk), nb_test = nb_accuracy(nb, &test, K);
    printf("test accuracy (%zu documents, %zu chunks of %d words, %d genres) after %.0f s:\n",
           test.ndocs, test.n, chunk, K - 1, seconds() - t_start);
    print_result(&md.m, a, alpha, nb_test);
    if (!o->tour) printf("model saved to %s (lexicon %s.lex)\n", o->model, o->model);
    if (o->tour) {
        static const char *const texts[] = {
            "the senate committee voted on the bill yesterday and the governor said he would sign "
            "it",
            "she looked into his eyes and felt her heart beat faster as he took her hand",
            "the sample was heated to 300 degrees and the reaction rate was measured at each "
            "temperature",
        };
        printf("predictions:\n");
        for (size_t k = 0; k < sizeof texts / sizeof texts[0]; k++) {
            printf("  \"%.50s...\": ", texts[k]);
            predict_text(&md, texts[k]);
        }
    }
    free(ids), free(lengths), free(y), free(order);
    clf_nb_free(nb);
    ad_tape_free(tp);
    nn_optim_free(opt);
    model_free(&md);
    chunks_free(&train), chunks_free(&dev), chunks_free(&test);
    clf_docs_free(&dtrain), clf_docs_free(&ddev), clf_docs_free(&dtest);
    return 0;
}

/* ------------------------------------------------------------ eval, predict ---- */

static int cmd_eval(const options *o) {
    model md = {0};
    model_load(&md, o->model);
    ex_check_status(nn_checkpoint_load(o->model, md.ps, NULL, NULL));
    /* the genres in the model's order, so the files' labels get the model's ids */
    for (int j = 1; j < text_vocab_size(md.labels); j++)
        text_vocab_add(labels, text_vocab_word(md.labels, j), 1);
    const int chunk = (int)o->chunk, K = md.m.cfg.classes;
    clf_docs dtrain, dtest;
    chunks train, test;
    chunks_read(o->train, false, chunk, &train, &dtrain);
    chunks_read(o->test, false, chunk, &test, &dtest);
    int *map = vocab_map(md.words);
    chunks_map(&train, map, dtrain.text.n);
    chunks_map(&test, map, dtest.text.n);
    free(map);
    ad_tape *tp = ad_tape_new();
    accuracy a = model_accuracy(&md.m, &test, tp, chunk);
    const double alpha = o->alpha > 0 ? o->alpha : 0.1; /* no dev set here to choose it on */
    clf_nb *nb = nb_train(&train, md.m.cfg.vocab, K, alpha);
    accuracy nb_test = nb_accuracy(nb, &test, K);
    printf("%s on %s (%zu documents, %zu chunks of %d words):\n", o->model, o->test, test.ndocs,
           test.n, chunk);
    print_result(&md.m, a, alpha, nb_test);
    clf_nb_free(nb);
    ad_tape_free(tp);
    chunks_free(&train), chunks_free(&test);
    clf_docs_free(&dtrain), clf_docs_free(&dtest);
    model_free(&md);
    return 0;
}

static int cmd_predict(const options *o, int argc, char **argv) {
    if (argc < 1) ex_die("predict: give the text, e.g. classify predict \"the jury said\"");
    model md = {0};
    model_load(&md, o->model);
    ex_check_status(nn_checkpoint_load(o->model, md.ps, NULL, NULL));
    char text[65536] = "";
    for (int i = 0; i < argc; i++) {
        strncat(text, argv[i], sizeof text - strlen(text) - 2);
        strcat(text, " ");
    }
    predict_text(&md, text);
    model_free(&md);
    return 0;
}

int main(int argc, char **argv) {
    ex_init(argc, argv);
    options o;
    parse_options(argc, argv, &o);
    const char *cmd = optind < argc ? argv[optind] : NULL;
    if (o.tour) cmd = "train";
    if (!cmd) {
        usage(stderr);
        return 1;
    }
    if (strcmp(cmd, "train") && strcmp(cmd, "eval") && strcmp(cmd, "predict"))
        ex_die("unknown command '%s': train, eval or predict (--help)", cmd);
    ad_set_num_threads((int)o.threads);
    raw_words = text_vocab_new();
    labels = text_vocab_new();
    const bool train = strcmp(cmd, "train") == 0, eval = strcmp(cmd, "eval") == 0;
    if ((train || eval) && !o.train) o.train = ex_data_path("brown-train.genres");
    if (train && !o.dev) o.dev = ex_data_path("brown-dev.genres");
    if ((train || eval) && !o.test) o.test = ex_data_path("brown-test.genres");
    if (o.tour) {
        /* a smaller network and a larger step: what it learns in 25 s at most (two epochs take
         * ~25 s on an idle 2-core machine), before the evaluation */
        const clf_config d = clf_config_default();
        if (o.cfg.dim == d.dim) o.cfg.dim = 32;
        if (o.cfg.hidden == d.hidden) o.cfg.hidden = 32;
        o.epochs = 2;
        o.lr = 0.006;
        if (o.time_limit == 0) o.time_limit = 25;
    }
    int rc;
    if (train)
        rc = cmd_train(&o);
    else if (eval)
        rc = cmd_eval(&o);
    else
        rc = cmd_predict(&o, argc - optind - 1, argv + optind + 1);
    text_vocab_free(raw_words);
    text_vocab_free(labels);
    return rc;
}
