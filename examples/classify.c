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
#include "run.h"
#include "vectors.h"

#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* --------------------------------------------------------------- options ---- */

typedef struct options {
    const char *train, *dev, *test, *model, *vectors;
    clf_config cfg;
    ex_epoch_options run;
    long chunk, min_count, max_vocab;
    double alpha, word_dropout;
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
"  --tour              a short run (about 30 s; 2 epochs, --batch 16 --lr 0.01, --dim 32\n"
"                      --hidden 32 --dropout 0.3 --max-vocab 8000 --min-count 3\n"
"                      --word-dropout 0.25, at most 45 s of training)\n"
"  -h, --help\n");
}

enum { OPT_TRAIN = 256, OPT_DEV, OPT_TEST, OPT_CHUNK, OPT_MINC, OPT_MAXV, OPT_MODEL, OPT_DIM,
       OPT_HIDDEN, OPT_CELL, OPT_POOL, OPT_DROP, OPT_ALPHA, OPT_VECTORS, OPT_FREEZE, OPT_TOUR,
       OPT_WDROP };

static const struct option long_options[] = {
    {"train", required_argument, 0, OPT_TRAIN},   {"dev", required_argument, 0, OPT_DEV},
    {"test", required_argument, 0, OPT_TEST},     {"chunk", required_argument, 0, OPT_CHUNK},
    {"min-count", required_argument, 0, OPT_MINC}, {"max-vocab", required_argument, 0, OPT_MAXV},
    {"model", required_argument, 0, OPT_MODEL},   {"dim", required_argument, 0, OPT_DIM},
    {"hidden", required_argument, 0, OPT_HIDDEN}, {"cell", required_argument, 0, OPT_CELL},
    {"pool", required_argument, 0, OPT_POOL},     {"dropout", required_argument, 0, OPT_DROP},
    {"alpha", required_argument, 0, OPT_ALPHA},   {"word-dropout", required_argument, 0, OPT_WDROP},
    {"vectors", required_argument, 0, OPT_VECTORS},
    {"freeze-embeddings", no_argument, 0, OPT_FREEZE},
    EX_EPOCH_LONG_OPTIONS,
    {"tour", no_argument, 0, OPT_TOUR},           {"help", no_argument, 0, 'h'},
    {0, 0, 0, 0},
};

static void parse_options(int argc, char **argv, options *o) {
    memset(o, 0, sizeof *o);
    o->model = "classify.ckpt";
    o->cfg = clf_config_default();
    o->chunk = 100, o->min_count = 2, o->max_vocab = 20000, o->word_dropout = 0.1;
    o->run = (ex_epoch_options){.epochs = 3, .batch = 32, .eval_every = 100, .seed = 1,
                                .threads = 1, .lr = 0.003, .lr_decay = 0.7, .clip = 5};
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
        case OPT_VECTORS: o->vectors = optarg; break;
        case OPT_FREEZE: o->freeze = true; break;
        case OPT_TOUR: o->tour = true; break;
        case 'h': usage(stdout); exit(0);
        default:
            if (!ex_epoch_option(c, optarg, &o->run)) {
                usage(stderr);
                exit(1);
            }
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

/* ------------------------------------------------------------ the model ---- */

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

enum { C_TAPE_RNG = EX_EPOCH_COUNTERS, C_WORD_RNG, C_NCOUNTERS };
static const char *const counter_names[C_NCOUNTERS] = {EX_EPOCH_COUNTER_NAMES, "tape_rng",
                                                       "word_rng"};

/* What cmd_train's steps, checkpoints and curve points share: ex_epochs' ctx. */
typedef struct trainer {
    const options *o;
    model *md;
    nn_optim *opt;
    ad_tape *tp;
    const chunks *train, *dev;
    int *ids, *lengths, *y; /* a batch */
    nn_rng word_rng;
    nn_counters counters;
    ex_curve *curve; /* NULL: none */
    accuracy nb_dev;
} trainer;

static double train_step(void *ctx, const int *order, size_t k, long *tokens) {
    trainer *t = ctx;
    const size_t B = (size_t)t->o->run.batch, first = k * B;
    const int nb = (int)(t->train->n - first < B ? t->train->n - first : B);
    const int T = fill_batch(t->train, order, first, nb, t->ids, t->lengths, t->y);
    if (t->o->word_dropout > 0)
        for (int i = 0; i < T * nb; i++)
            if (nn_rng_uniform(&t->word_rng) < t->o->word_dropout) t->ids[i] = TEXT_UNK;
    const double loss = nn_train_step(
        t->tp, clf_loss(t->tp, &t->md->m, t->ids, T, nb, t->lengths, t->y), t->opt, t->o->run.clip);
    ad_tape_reset(t->tp);
    for (int b = 0; b < nb; b++)
        *tokens += t->lengths[b];
    return loss;
}

static void train_save(void *ctx) {
    trainer *t = ctx;
    t->counters.value[C_TAPE_RNG] = ad_tape_rng_state(t->tp);
    t->counters.value[C_WORD_RNG] = t->word_rng.state;
    model_save(t->md, t->o->model, t->opt, &t->counters);
}

/* A point of the learning curve: dev accuracy now beside naive Bayes's; at an epoch's end a line
 * on stderr too. */
static void train_evaluate(void *ctx, double step, double epoch_pos, double mean_loss,
                           long epoch_end, bool out_of_time) {
    trainer *t = ctx;
    accuracy a = model_accuracy(&t->md->m, t->dev, t->tp, (int)t->o->chunk);
    if (t->curve)
        ex_curve_row(t->curve, (double[]){step, epoch_pos, mean_loss, a.chunks, t->nb_dev.chunks});
    if (epoch_end)
        fprintf(stderr, "classify: epoch %ld: dev accuracy %.2f%% of chunks, %.2f%% of documents"
                "%s\n", epoch_end, a.chunks, a.docs, out_of_time ? " (time limit reached)" : "");
}

static int cmd_train(const options *o) {
    const double t_start = ex_seconds();
    const int chunk = (int)o->chunk;
    clf_docs dtrain, ddev, dtest;
    chunks train, dev, test;
    chunks_read(o->train, true, chunk, &train, &dtrain);
    chunks_read(o->dev, false, chunk, &dev, &ddev);
    chunks_read(o->test, false, chunk, &test, &dtest);

    model md = {0};
    if (o->run.resume) {
        model_load(&md, o->run.resume);
        if (text_vocab_size(md.labels) != text_vocab_size(labels))
            ex_die("%s: a model of %d genres, but %s has %d", o->run.resume,
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
            ex_vectors_load(o->vectors, &vecs);
            cfg.dim = vecs.dim;
        }
        cfg.vocab = text_vocab_size(md.words);
        cfg.classes = text_vocab_size(md.labels);
        nn_rng r = nn_rng_new((uint64_t)o->run.seed);
        md.ps = ad_params_new();
        clf_init(&md.m, md.ps, &cfg, &r);
        if (o->vectors) {
            printf("vectors: %d of the %d words have one in %s\n",
                   ex_vectors_copy(&vecs, md.words, md.m.emb.E), cfg.vocab - 1, o->vectors);
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

    const int B = (int)o->run.batch;
    trainer t = {.o = o, .md = &md, .tp = ad_tape_new(), .train = &train, .dev = &dev,
                 .word_rng = nn_rng_new((uint64_t)o->run.seed + 2),
                 .counters = ex_counters(C_NCOUNTERS, counter_names, NULL), .nb_dev = nb_dev};
    t.opt = nn_optim_new(md.ps,
                         &(nn_optim_config){.kind = NN_ADAM, .lr = o->run.lr, .sparse = true});
    ad_tape *tp = t.tp;
    ad_tape_seed(tp, (uint64_t)o->run.seed + 17);
    t.ids = malloc((size_t)chunk * B * sizeof *t.ids);
    t.lengths = malloc((size_t)B * sizeof *t.lengths), t.y = malloc((size_t)B * sizeof *t.y);
    if (!t.ids || !t.lengths || !t.y) ex_die("out of memory");
    uint64_t *counter = t.counters.value;
    counter[EX_C_ORDER_RNG] = nn_rng_new((uint64_t)o->run.seed + 1).state;
    if (o->run.resume) {
        ex_check_status(nn_checkpoint_load(o->run.resume, md.ps, t.opt, &t.counters));
        t.word_rng.state = counter[C_WORD_RNG];
        ad_tape_set_rng_state(tp, counter[C_TAPE_RNG]);
        printf("resumed %s at step %llu (epoch %llu)\n", o->run.resume,
               (unsigned long long)counter[EX_C_STEP], (unsigned long long)counter[EX_C_EPOCH] + 1);
    }
    char curve_path[4096];
    ex_curve_path(curve_path, sizeof curve_path, o->run.curve, o->model, o->tour);
    t.curve = curve_path[0] ? ex_curve_open(curve_path,
                                            "step,epoch,train_loss,dev_accuracy,nb_dev_accuracy")
                            : NULL;
    ex_epochs_run(&(ex_epochs){
        .run = &o->run, .items = train.n, .batches = (train.n + (size_t)B - 1) / (size_t)B,
        .t_start = t_start, .save_each_epoch = !o->tour, .eval_between = t.curve != NULL,
        .opt = t.opt, .counters = &t.counters, .ctx = &t, .step = train_step, .save = train_save,
        .evaluate = train_evaluate});
    if (t.curve) {
        ex_curve_close(t.curve);
        ex_plot_loss_accuracy(curve_path, "BiGRU genre classifier",
                              "dev_accuracy,nb_dev_accuracy");
    }
    accuracy a = model_accuracy(&md.m, &test, tp, chunk), nb_test = nb_accuracy(nb, &test, K);
    printf("test accuracy (%zu documents, %zu chunks of %d words, %d genres) after %.0f s:\n",
           test.ndocs, test.n, chunk, K - 1, ex_seconds() - t_start);
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
    free(t.ids), free(t.lengths), free(t.y);
    clf_nb_free(nb);
    ad_tape_free(tp);
    nn_optim_free(t.opt);
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
    char text[65536];
    ex_join_args(argc, argv, text, sizeof text);
    predict_text(&md, text);
    model_free(&md);
    return 0;
}

int main(int argc, char **argv) {
    ex_init(argc, argv);
    options o;
    parse_options(argc, argv, &o);
    static const char *const commands[] = {"train", "eval", "predict"};
    const char *cmd = o.tour ? "train" : ex_command_at(argc, argv, commands, 3);
    if (!cmd) {
        usage(stderr);
        return 1;
    }
    ad_set_num_threads((int)o.run.threads);
    raw_words = text_vocab_new();
    labels = text_vocab_new();
    const bool train = strcmp(cmd, "train") == 0, eval = strcmp(cmd, "eval") == 0;
    if ((train || eval) && !o.train) o.train = ex_data_path("brown-train.genres");
    if (train && !o.dev) o.dev = ex_data_path("brown-dev.genres");
    if ((train || eval) && !o.test) o.test = ex_data_path("brown-test.genres");
    if (o.tour) {
        /* What it learns in two epochs, 45 s of training at most: a smaller network on the 8000
         * most frequent words, twice the steps of half the size at a larger rate, less dropout
         * but more word dropout. (More epochs overfit: chunk accuracy falls after the second.) */
        const clf_config d = clf_config_default();
        if (o.cfg.dim == d.dim) o.cfg.dim = 32;
        if (o.cfg.hidden == d.hidden) o.cfg.hidden = 32;
        if (o.cfg.dropout == d.dropout) o.cfg.dropout = 0.3;
        if (o.max_vocab == 20000) o.max_vocab = 8000;
        if (o.min_count == 2) o.min_count = 3;
        if (o.word_dropout == 0.1) o.word_dropout = 0.25;
        o.run.epochs = 2;
        o.run.batch = 16;
        o.run.lr = 0.01;
        if (o.run.time_limit == 0) o.run.time_limit = 45;
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
