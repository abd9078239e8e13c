/*
 * tagger — a BiLSTM part-of-speech tagger (FORMULAS §8) trained on the Brown corpus.
 *
 *   tagger train [options]          train on brown-train.tagged, pick by brown-dev.tagged, then
 *                                   report test accuracy against the most-frequent-tag baseline
 *   tagger eval [options]           accuracy of a saved model on brown-test.tagged
 *   tagger tag [options] "a sentence"   print word/TAG for each word
 *   tagger --tour                   a short run that shows what it learned
 *
 * The split is the data cache's (data/README.md): documents in file order, the 9th of every 10 to
 * dev and the 10th to test, so the test set is documents the tagger never saw. "Unknown" words
 * are test words whose exact form never occurs in the training file.
 */
#include "common.h"
#include "run.h"
#include "vectors.h"
#include "tagger.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

/* --------------------------------------------------------------- options ---- */

typedef struct options {
    const char *train, *dev, *test, *model, *vectors;
    bool full_tags, tour;
    tagger_config cfg;
    ex_epoch_options run;
    long min_count, max_sentences;
} options;

/* The help text, the option table and its switch read as tables: */
// clang-format off
static void usage(FILE *f) {
    fprintf(f,
"usage: tagger train|eval|tag [options] [\"a sentence\"]\n"
"       tagger --tour\n"
"A bidirectional LSTM part-of-speech tagger on the Brown corpus, against a most-frequent-tag\n"
"baseline (unknown words: the most frequent tag of training hapaxes with the same suffix).\n"
"\n"
"data (default: the cache's Brown split, see data/README.md):\n"
"  --train FILE        training sentences, word/TAG tokens (brown-train.tagged)\n"
"  --dev FILE          development sentences, checked after every epoch (brown-dev.tagged)\n"
"  --test FILE         test sentences, for train's final report and eval (brown-test.tagged)\n"
"  --full-tags         Brown's full tags (~470) instead of the base tags (176: -hl -tl -nc fw- *\n"
"                      stripped; compounds such as ppss+md kept)\n"
"  --max-sentences N   use the first N training sentences only\n"
"model:\n"
"  --model PATH        checkpoint to write (train) or read (eval, tag); its lexicon is PATH.lex\n"
"                      (default tagger.ckpt)\n"
"  --word-dim N  --suffix-dim N  --shape-dim N  --hidden N  --layers N   (100 20 8 128 1)\n"
"  --no-char-features  the word embedding alone (no suffix and shape features)\n"
"  --vectors FILE      start the word embeddings from these vectors (word2vec .bin or text, or\n"
"                      GloVe text, of lowercased words: word2vec's output on words.txt); the\n"
"                      word dimension becomes theirs\n"
"  --min-count N       words seen fewer times in training are <unk> (2)\n"
"  --dropout P         (0.25)\n"
"training:\n"
"  --epochs N (3)  --batch N sentences (32)  --lr X Adam (0.002)  --lr-decay X per epoch (0.7)\n"
"  --clip X            gradient norm clip (5)\n"
"  --time-limit SEC    stop training after this long (0: none)\n"
"  --checkpoint-every N  save PATH every N steps (and at every epoch's end)\n"
"  --resume PATH       continue the run saved in PATH (its lexicon and configuration)\n"
"  --curve FILE        learning curve CSV (default PATH.curve.csv), plotted by gnuplot to\n"
"                      FILE's name less .csv + .loss.png and .accuracy.png\n"
"  --eval-every N      a point on the curve (dev accuracy) every N steps and at each epoch's\n"
"                      end (500)\n"
"  --seed N (1)\n"
"  --threads N         (1: the products here are small, and a second thread mostly waits;\n"
"                      0: every core)\n"
"  --tour              a short run on part of the data (about 30 s on 2 cores)\n"
"  -h, --help\n");
}

enum { OPT_TRAIN = 256, OPT_DEV, OPT_TEST, OPT_MODEL, OPT_FULL, OPT_MAXS, OPT_WDIM, OPT_SDIM,
       OPT_HDIM, OPT_HIDDEN, OPT_LAYERS, OPT_NOCHAR, OPT_MINC, OPT_DROP, OPT_VECTORS, OPT_TOUR };

static const struct option long_options[] = {
    {"train", required_argument, 0, OPT_TRAIN},     {"dev", required_argument, 0, OPT_DEV},
    {"test", required_argument, 0, OPT_TEST},       {"model", required_argument, 0, OPT_MODEL},
    {"full-tags", no_argument, 0, OPT_FULL},
    {"max-sentences", required_argument, 0, OPT_MAXS},
    {"word-dim", required_argument, 0, OPT_WDIM},   {"suffix-dim", required_argument, 0, OPT_SDIM},
    {"shape-dim", required_argument, 0, OPT_HDIM},  {"hidden", required_argument, 0, OPT_HIDDEN},
    {"layers", required_argument, 0, OPT_LAYERS},
    {"no-char-features", no_argument, 0, OPT_NOCHAR},
    {"min-count", required_argument, 0, OPT_MINC},  {"dropout", required_argument, 0, OPT_DROP},
    {"vectors", required_argument, 0, OPT_VECTORS},
    EX_EPOCH_LONG_OPTIONS,
    {"tour", no_argument, 0, OPT_TOUR},             {"help", no_argument, 0, 'h'},
    {0, 0, 0, 0},
};

static void parse_options(int argc, char **argv, options *o) {
    memset(o, 0, sizeof *o);
    o->model = "tagger.ckpt";
    o->cfg = tagger_config_default();
    o->min_count = 2;
    o->run = (ex_epoch_options){.epochs = 3, .batch = 32, .eval_every = 500, .seed = 1,
                                .threads = 1, .lr = 0.002, .lr_decay = 0.7, .clip = 5};
    for (int c; (c = getopt_long(argc, argv, "h", long_options, NULL)) != -1;) {
        switch (c) {
        case OPT_TRAIN: o->train = optarg; break;
        case OPT_DEV: o->dev = optarg; break;
        case OPT_TEST: o->test = optarg; break;
        case OPT_MODEL: o->model = optarg; break;
        case OPT_FULL: o->full_tags = true; break;
        case OPT_MAXS:
            o->max_sentences = ex_parse_long("--max-sentences", optarg, 1, 1L << 40); break;
        case OPT_WDIM: o->cfg.word_dim = (int)ex_parse_long("--word-dim", optarg, 1, 4096); break;
        case OPT_SDIM:
            o->cfg.suffix_dim = (int)ex_parse_long("--suffix-dim", optarg, 1, 4096); break;
        case OPT_HDIM: o->cfg.shape_dim = (int)ex_parse_long("--shape-dim", optarg, 1, 4096); break;
        case OPT_HIDDEN: o->cfg.hidden = (int)ex_parse_long("--hidden", optarg, 1, 8192); break;
        case OPT_LAYERS:
            o->cfg.layers = (int)ex_parse_long("--layers", optarg, 1, NN_MAX_LAYERS); break;
        case OPT_NOCHAR: o->cfg.char_features = false; break;
        case OPT_MINC: o->min_count = ex_parse_long("--min-count", optarg, 1, 1L << 40); break;
        case OPT_DROP: o->cfg.dropout = ex_parse_double("--dropout", optarg, 0, 0.95); break;
        case OPT_VECTORS: o->vectors = optarg; break;
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

/* ---------------------------------------------------------------- corpora ---- */

/* Sentences of a file: raw word ids (of the shared raw vocabulary, as written), the lexicon's
 * tag ids, the model's features, and whether each word was seen in training. */
typedef struct corpus {
    size_t nsent, ntok;
    size_t *start; /* nsent + 1 */
    int *raw, *tag, *feat;
    bool *unknown;
} corpus;

static void corpus_free(corpus *c) {
    free(c->start), free(c->raw), free(c->tag), free(c->feat), free(c->unknown);
    memset(c, 0, sizeof *c);
}

static text_vocab *raw_words, *raw_tags; /* every form and full tag of every file read */

/* The tag of a full Brown tag in the chosen tag set. */
static const char *tag_name(const char *full, bool full_tags, char *buf, size_t size) {
    if (full_tags) return full;
    tagger_base_tag(full, buf, size);
    return buf;
}

static void corpus_read(const char *path, long max_sentences, corpus *c) {
    text_tagged tt;
    ex_check_status(text_read_tagged(path, raw_words, raw_tags, true, &tt));
    memset(c, 0, sizeof *c);
    c->nsent = tt.words.nlines;
    if (max_sentences > 0 && (size_t)max_sentences < c->nsent) c->nsent = (size_t)max_sentences;
    c->ntok = tt.words.line_start[c->nsent];
    if (c->ntok == 0) ex_die("%s: no tagged words in it", path);
    c->start = malloc((c->nsent + 1) * sizeof *c->start);
    c->raw = malloc(c->ntok * sizeof *c->raw);
    c->tag = malloc(c->ntok * sizeof *c->tag);
    c->feat = malloc(c->ntok * TAGGER_NFEAT * sizeof *c->feat);
    c->unknown = calloc(c->ntok, sizeof *c->unknown);
    if (!c->start || !c->raw || !c->tag || !c->feat || !c->unknown) ex_die("out of memory");
    memcpy(c->start, tt.words.line_start, (c->nsent + 1) * sizeof *c->start);
    for (size_t i = 0; i < c->ntok; i++)
        c->raw[i] = tt.words.ids[i], c->tag[i] = tt.tags[i];
    text_tagged_free(&tt);
}

/* Features and tag ids of the lexicon; unknown = never seen in training (the baseline's count). */
static void corpus_featurize(corpus *c, const tagger_lexicon *lx, const tagger_baseline *base,
                             bool full_tags) {
    char buf[256];
    for (size_t s = 0; s < c->nsent; s++)
        for (size_t i = c->start[s]; i < c->start[s + 1]; i++) {
            const char *w = text_vocab_word(raw_words, c->raw[i]);
            tagger_featurize(lx, w, i == c->start[s], c->feat + i * TAGGER_NFEAT);
            c->unknown[i] = base && !tagger_baseline_known(base, w);
            c->tag[i] = text_vocab_id(lx->tags, tag_name(text_vocab_word(raw_tags, c->tag[i]),
                                                         full_tags, buf, sizeof buf));
        }
}

static size_t longest(const corpus *c) {
    size_t n = 1;
    for (size_t s = 0; s < c->nsent; s++)
        if (c->start[s + 1] - c->start[s] > n) n = c->start[s + 1] - c->start[s];
    return n;
}

/* Sentences of the training set sorted by length and cut into batches, so a batch pads little. */
typedef struct batches {
    size_t n;
    int *order;    /* sentence indices, by length */
    size_t *first; /* batch k: order[first[k] .. first[k+1]) */
} batches;

static const corpus *sort_corpus;
static int by_length(const void *a, const void *b) {
    const int x = *(const int *)a, y = *(const int *)b;
    size_t lx = sort_corpus->start[x + 1] - sort_corpus->start[x];
    size_t ly = sort_corpus->start[y + 1] - sort_corpus->start[y];
    return lx != ly ? (lx < ly ? -1 : 1) : x - y;
}

static batches make_batches(const corpus *c, int B, bool sort) {
    batches bs = {0};
    bs.order = malloc(c->nsent * sizeof *bs.order);
    bs.first = malloc((c->nsent / (size_t)B + 2) * sizeof *bs.first);
    if (!bs.order || !bs.first) ex_die("out of memory");
    for (size_t s = 0; s < c->nsent; s++)
        bs.order[s] = (int)s;
    if (sort) {
        sort_corpus = c;
        qsort(bs.order, c->nsent, sizeof *bs.order, by_length);
    }
    for (size_t s = 0; s < c->nsent; s += (size_t)B)
        bs.first[bs.n++] = s;
    bs.first[bs.n] = c->nsent;
    return bs;
}

static void fill_batch(tagger_batch *bt, const corpus *c, const batches *bs, size_t k) {
    enum { MAXB = 4096 };
    static int lengths[MAXB];
    static const int *feats[MAXB], *tags[MAXB];
    const int B = (int)(bs->first[k + 1] - bs->first[k]);
    for (int b = 0; b < B; b++) {
        const int s = bs->order[bs->first[k] + (size_t)b];
        lengths[b] = (int)(c->start[s + 1] - c->start[s]);
        feats[b] = c->feat + c->start[s] * TAGGER_NFEAT;
        tags[b] = c->tag + c->start[s];
    }
    tagger_batch_set(bt, B, lengths, feats, tags);
}

/* ------------------------------------------------------------ evaluation ---- */

typedef struct accuracy {
    long tokens, correct, unknown, unknown_correct;
} accuracy;

static double pct(long a, long b) {
    return b ? 100.0 * (double)a / (double)b : 0;
}

static void print_accuracy(const char *what, accuracy a) {
    printf("  %-44s %6.2f%%   unknown words %6.2f%% (%ld of %ld tokens)\n", what,
           pct(a.correct, a.tokens), pct(a.unknown_correct, a.unknown), a.unknown, a.tokens);
}

static accuracy evaluate(const tagger *m, const corpus *c, tagger_batch *bt, ad_tape *tp) {
    batches bs = make_batches(c, 64, true);
    accuracy a = {0};
    int *pred = malloc((size_t)bt->max_rows * sizeof *pred);
    if (!pred) ex_die("out of memory");
    ad_tape_set_training(tp, false);
    for (size_t k = 0; k < bs.n; k++) {
        fill_batch(bt, c, &bs, k);
        tagger_predict(tp, m, bt, pred);
        ad_tape_reset(tp);
        for (int b = 0; b < bt->B; b++) {
            const int s = bs.order[bs.first[k] + (size_t)b];
            for (int t = 0; t < bt->lengths[b]; t++) {
                const size_t i = c->start[s] + (size_t)t;
                const bool ok = pred[t * bt->B + b] == c->tag[i];
                a.tokens++, a.correct += ok;
                if (c->unknown[i]) a.unknown++, a.unknown_correct += ok;
            }
        }
    }
    ad_tape_set_training(tp, true);
    free(pred), free(bs.order), free(bs.first);
    return a;
}

static accuracy evaluate_baseline(const tagger_baseline *base, const corpus *c, bool suffix_rule) {
    accuracy a = {0};
    for (size_t i = 0; i < c->ntok; i++) {
        const bool ok = tagger_baseline_tag(base, text_vocab_word(raw_words, c->raw[i]),
                                            suffix_rule) == c->tag[i];
        a.tokens++, a.correct += ok;
        if (c->unknown[i]) a.unknown++, a.unknown_correct += ok;
    }
    return a;
}

/* The baseline counts the training set in the lexicon's tag ids. */
static tagger_baseline *make_baseline(const corpus *train, const tagger_lexicon *lx) {
    tagger_baseline *base = tagger_baseline_new(text_vocab_size(lx->tags));
    if (!base) ex_die("out of memory");
    for (size_t i = 0; i < train->ntok; i++)
        tagger_baseline_count(base, text_vocab_word(raw_words, train->raw[i]), train->tag[i]);
    tagger_baseline_finish(base);
    return base;
}

/* ------------------------------------------------------------ the model ---- */

typedef struct model {
    tagger_lexicon lx;
    tagger m;
    ad_params *ps;
} model;

static void model_load(model *md, const char *path) {
    char lex[4096];
    snprintf(lex, sizeof lex, "%s.lex", path);
    nn_status s = tagger_lexicon_load(lex, &md->lx, &md->m.cfg);
    if (s != NN_OK)
        ex_die("%s\n  (a tagger model is its checkpoint and the lexicon PATH.lex beside it: is %s "
               "a model that 'tagger train' wrote?)",
               nn_last_error(), path);
    nn_rng r = nn_rng_new(1);
    md->ps = ad_params_new();
    tagger_config cfg = md->m.cfg;
    tagger_init(&md->m, md->ps, &cfg, &r);
}

static void model_save(const model *md, const char *path, const nn_optim *opt,
                       const nn_counters *counters) {
    char lex[4096];
    snprintf(lex, sizeof lex, "%s.lex", path);
    ex_check_status(tagger_lexicon_save(lex, &md->lx, &md->m.cfg));
    ex_check_status(nn_checkpoint_save(path, md->ps, opt, counters));
}

/* Tag one line of text: words split at spaces, and punctuation split off their ends. */
static void tag_text(const model *md, const char *text) {
    enum { MAXW = 512 };
    static char words[MAXW][128];
    int n = 0;
    char buf[8192];
    snprintf(buf, sizeof buf, "%s", text);
    char *save = NULL;
    for (char *w = strtok_r(buf, " \t\r\n", &save); w && n < MAXW - 4;
         w = strtok_r(NULL, " \t\r\n", &save)) {
        size_t len = strlen(w), lead = 0;
        while (lead < len && strchr("(\"`", w[lead]) && n < MAXW - 4)
            snprintf(words[n++], sizeof words[0], "%c", w[lead++]);
        size_t end = len;
        while (end > lead + 1 && strchr(".,;:!?)\"'", w[end - 1]))
            end--;
        if (end > lead) snprintf(words[n++], sizeof words[0], "%.*s", (int)(end - lead), w + lead);
        for (size_t k = end; k < len && n < MAXW; k++)
            snprintf(words[n++], sizeof words[0], "%c", w[k]);
    }
    if (n == 0) ex_die("nothing to tag: give a sentence, e.g. tagger tag \"The jury said it.\"");
    static int feat[MAXW * TAGGER_NFEAT];
    for (int i = 0; i < n; i++)
        tagger_featurize(&md->lx, words[i], i == 0, feat + i * TAGGER_NFEAT);
    tagger_batch *bt = tagger_batch_new(n, 1);
    const int *fp[1] = {feat};
    tagger_batch_set(bt, 1, &n, fp, NULL);
    int pred[MAXW];
    ad_tape *tp = ad_tape_new();
    ad_tape_set_training(tp, false);
    tagger_predict(tp, &md->m, bt, pred);
    for (int i = 0; i < n; i++) /* '*': a word the vocabulary lacks, tagged by its features */
        printf("%s%s%s/%s", i ? " " : "", words[i], feat[i * TAGGER_NFEAT] == TEXT_UNK ? "*" : "",
               text_vocab_word(md->lx.tags, pred[i]));
    printf("\n");
    ad_tape_free(tp);
    tagger_batch_free(bt);
}

/* ---------------------------------------------------------------- train ---- */

enum { C_TAPE_RNG = EX_EPOCH_COUNTERS, C_NCOUNTERS };
static const char *const counter_names[C_NCOUNTERS] = {EX_EPOCH_COUNTER_NAMES, "tape_rng"};

/* What cmd_train's steps, checkpoints and curve points share: ex_epochs' ctx. */
typedef struct trainer {
    const options *o;
    model *md;
    nn_optim *opt;
    ad_tape *tp;
    const corpus *train, *dev;
    const batches *bs;
    tagger_batch *bt;
    nn_counters counters;
    ex_curve *curve; /* NULL: none */
} trainer;

static double train_step(void *ctx, const int *order, size_t k, long *tokens) {
    trainer *t = ctx;
    fill_batch(t->bt, t->train, t->bs, (size_t)order[k]);
    const double loss =
        nn_train_step(t->tp, tagger_loss(t->tp, &t->md->m, t->bt), t->opt, t->o->run.clip);
    ad_tape_reset(t->tp);
    for (int b = 0; b < t->bt->B; b++)
        *tokens += t->bt->lengths[b];
    return loss;
}

static void train_save(void *ctx) {
    trainer *t = ctx;
    t->counters.value[C_TAPE_RNG] = ad_tape_rng_state(t->tp);
    model_save(t->md, t->o->model, t->opt, &t->counters);
}

/* A point of the learning curve: dev accuracy now; at an epoch's end a line on stderr too. */
static void train_evaluate(void *ctx, double step, double epoch_pos, double mean_loss,
                           long epoch_end, bool out_of_time) {
    trainer *t = ctx;
    accuracy a = evaluate(&t->md->m, t->dev, t->bt, t->tp);
    if (t->curve)
        ex_curve_row(t->curve, (double[]){step, epoch_pos, mean_loss, pct(a.correct, a.tokens)});
    if (epoch_end)
        fprintf(stderr, "tagger: epoch %ld: dev accuracy %.2f%% (unknown words %.2f%%)%s\n",
                epoch_end, pct(a.correct, a.tokens), pct(a.unknown_correct, a.unknown),
                out_of_time ? " (time limit reached)" : "");
}

/* A lexicon holds full tags when one of them is not its own base tag ("nn-tl"). One whose tags
 * all are maps a corpus the same either way. */
static bool lexicon_has_full_tags(const tagger_lexicon *lx) {
    char buf[256];
    for (int id = 1; id < text_vocab_size(lx->tags); id++) {
        const char *t = text_vocab_word(lx->tags, id);
        tagger_base_tag(t, buf, sizeof buf);
        if (strcmp(buf, t) != 0) return true;
    }
    return false;
}

static int cmd_train(const options *opts) {
    const double t_start = ex_seconds();
    options copy = *opts, *o = &copy;
    corpus train, dev, test;
    corpus_read(o->train, o->max_sentences, &train);
    corpus_read(o->dev, o->tour ? 400 : 0, &dev);
    corpus_read(o->test, o->tour ? 1500 : 0, &test);

    model md = {0};
    if (o->run.resume) {
        model_load(&md, o->run.resume);
        o->full_tags = lexicon_has_full_tags(&md.lx);
    } else {
        tagger_lexicon_init(&md.lx);
        char buf[256];
        for (size_t i = 0; i < train.ntok; i++) {
            tagger_lexicon_count(&md.lx, text_vocab_word(raw_words, train.raw[i]));
            text_vocab_add(
                md.lx.tags,
                tag_name(text_vocab_word(raw_tags, train.tag[i]), o->full_tags, buf, sizeof buf),
                1);
        }
        tagger_lexicon_prune(&md.lx, o->min_count, 2);
        tagger_config cfg = o->cfg;
        wv_table vecs = {0};
        if (o->vectors) {
            ex_vectors_load(o->vectors, &vecs);
            cfg.word_dim = vecs.dim;
        }
        cfg.words = text_vocab_size(md.lx.words);
        cfg.suffixes = text_vocab_size(md.lx.suffixes);
        cfg.tags = text_vocab_size(md.lx.tags);
        nn_rng r = nn_rng_new((uint64_t)o->run.seed);
        md.ps = ad_params_new();
        tagger_init(&md.m, md.ps, &cfg, &r);
        if (o->vectors) {
            printf("vectors: %d of the %d words have one in %s\n",
                   ex_vectors_copy(&vecs, md.lx.words, md.m.word.E), cfg.words - 1, o->vectors);
            wv_table_free(&vecs);
        }
    }
    corpus_featurize(&train, &md.lx, NULL, o->full_tags);
    tagger_baseline *base = make_baseline(&train, &md.lx);
    corpus_featurize(&dev, &md.lx, base, o->full_tags);
    corpus_featurize(&test, &md.lx, base, o->full_tags);
    const tagger_config *cfg = &md.m.cfg;
    printf("tagger: %zu training sentences (%zu tokens), %zu dev, %zu test; %d tags (%s), "
           "%d words, %d suffixes\n",
           train.nsent, train.ntok, dev.nsent, test.nsent, cfg->tags,
           o->full_tags ? "full" : "base", cfg->words, cfg->suffixes);
    char inputs[128];
    if (cfg->char_features)
        snprintf(inputs, sizeof inputs, "word %d + %d suffixes x %d + shape %d", cfg->word_dim,
                 TAGGER_NSUFFIX, cfg->suffix_dim, cfg->shape_dim);
    else
        snprintf(inputs, sizeof inputs, "word %d (no character features)", cfg->word_dim);
    printf("model: embeddings %s, BiLSTM %d per direction x %d layer(s), dropout %.2f; %zu "
           "parameters\n",
           inputs, cfg->hidden, cfg->layers, cfg->dropout, ad_params_size(md.ps));

    nn_optim *opt =
        nn_optim_new(md.ps, &(nn_optim_config){.kind = NN_ADAM, .lr = o->run.lr, .sparse = true});
    ad_tape *tp = ad_tape_new();
    ad_tape_seed(tp, (uint64_t)o->run.seed + 17);
    const int B = (int)o->run.batch;
    size_t maxlen = longest(&train);
    if (longest(&dev) > maxlen) maxlen = longest(&dev);
    if (longest(&test) > maxlen) maxlen = longest(&test);
    const int rows_b = B > 64 ? B : 64; /* evaluation batches are 64 sentences */
    tagger_batch *bt = tagger_batch_new((int)maxlen * rows_b, rows_b);
    if (!bt) ex_die("out of memory");
    batches bs = make_batches(&train, B, true);
    trainer t = {.o = o, .md = &md, .opt = opt, .tp = tp, .train = &train, .dev = &dev,
                 .bs = &bs, .bt = bt, .counters = ex_counters(C_NCOUNTERS, counter_names, NULL)};
    uint64_t *counter = t.counters.value;
    counter[EX_C_ORDER_RNG] = nn_rng_new((uint64_t)o->run.seed + 1).state;
    if (o->run.resume) {
        ex_check_status(nn_checkpoint_load(o->run.resume, md.ps, opt, &t.counters));
        ad_tape_set_rng_state(tp, counter[C_TAPE_RNG]);
        printf("resumed %s at step %llu (epoch %llu, batch %llu)\n", o->run.resume,
               (unsigned long long)counter[EX_C_STEP], (unsigned long long)counter[EX_C_EPOCH] + 1,
               (unsigned long long)counter[EX_C_BATCH]);
    }
    char curve_path[4096];
    ex_curve_path(curve_path, sizeof curve_path, o->run.curve, o->model, o->tour);
    ex_curve *curve = t.curve =
        curve_path[0] ? ex_curve_open(curve_path, "step,epoch,train_loss,dev_accuracy") : NULL;
    ex_epochs_run(&(ex_epochs){
        .run = &o->run, .items = bs.n, .batches = bs.n, .t_start = t_start,
        .save_each_epoch = !o->tour, .eval_between = curve != NULL, .opt = opt,
        .counters = &t.counters, .ctx = &t, .step = train_step, .save = train_save,
        .evaluate = train_evaluate});
    if (curve) {
        ex_curve_close(curve);
        ex_plot_loss_accuracy(curve_path, "BiLSTM tagger", "dev_accuracy");
    }

    accuracy a = evaluate(&md.m, &test, bt, tp);
    printf("test accuracy (%zu sentences, %ld tokens, %s tags) after %.0f s:\n", test.nsent,
           a.tokens, o->full_tags ? "full" : "base", ex_seconds() - t_start);
    print_accuracy("BiLSTM tagger", a);
    print_accuracy("baseline: most frequent tag, suffix rule",
                   evaluate_baseline(base, &test, true));
    print_accuracy("baseline: most frequent tag, unknown -> top",
                   evaluate_baseline(base, &test, false));
    if (!o->tour) printf("model saved to %s (lexicon %s.lex)\n", o->model, o->model);

    if (o->tour) {
        static const char *const examples[] = {
            "The jury praised the administration and operation of the Atlanta police department .",
            "She can can peaches , but he will race the dog in the race .",
            "Twelve zorbles were quickly flimbering over the brindlesnatch on Tuesday .",
        };
        printf("tagged sentences (* = a word outside the vocabulary, tagged by its suffixes and "
               "shape):\n");
        for (size_t k = 0; k < sizeof examples / sizeof examples[0]; k++) {
            printf("  ");
            tag_text(&md, examples[k]);
        }
    }
    tagger_batch_free(bt);
    free(bs.order), free(bs.first);
    ad_tape_free(tp);
    nn_optim_free(opt);
    tagger_baseline_free(base);
    ad_params_free(md.ps);
    tagger_lexicon_free(&md.lx);
    corpus_free(&train), corpus_free(&dev), corpus_free(&test);
    return 0;
}

/* ------------------------------------------------------------ eval, tag ---- */

static int cmd_eval(const options *o) {
    model md = {0};
    model_load(&md, o->model);
    ex_check_status(nn_checkpoint_load(o->model, md.ps, NULL, NULL));
    const bool full = lexicon_has_full_tags(&md.lx);
    corpus train, test;
    corpus_read(o->train, o->max_sentences, &train);
    corpus_read(o->test, 0, &test);
    corpus_featurize(&train, &md.lx, NULL, full);
    tagger_baseline *base = make_baseline(&train, &md.lx);
    corpus_featurize(&test, &md.lx, base, full);
    tagger_batch *bt = tagger_batch_new((int)longest(&test) * 64, 64);
    ad_tape *tp = ad_tape_new();
    accuracy a = evaluate(&md.m, &test, bt, tp);
    printf("%s on %s (%zu sentences, %ld tokens, %s tags):\n", o->model, o->test, test.nsent,
           a.tokens, full ? "full" : "base");
    print_accuracy("BiLSTM tagger", a);
    print_accuracy("baseline: most frequent tag, suffix rule",
                   evaluate_baseline(base, &test, true));
    print_accuracy("baseline: most frequent tag, unknown -> top",
                   evaluate_baseline(base, &test, false));
    ad_tape_free(tp);
    tagger_batch_free(bt);
    tagger_baseline_free(base);
    corpus_free(&train), corpus_free(&test);
    ad_params_free(md.ps);
    tagger_lexicon_free(&md.lx);
    return 0;
}

static int cmd_tag(const options *o, int argc, char **argv) {
    if (argc < 1) ex_die("tag: give the sentence to tag, e.g. tagger tag \"The jury said it.\"");
    model md = {0};
    model_load(&md, o->model);
    ex_check_status(nn_checkpoint_load(o->model, md.ps, NULL, NULL));
    char text[8192];
    ex_join_args(argc, argv, text, sizeof text);
    tag_text(&md, text);
    ad_params_free(md.ps);
    tagger_lexicon_free(&md.lx);
    return 0;
}

int main(int argc, char **argv) {
    ex_init(argc, argv);
    options o;
    parse_options(argc, argv, &o);
    static const char *const commands[] = {"train", "eval", "tag"};
    const char *cmd = o.tour ? "train" : ex_command_at(argc, argv, commands, 3);
    if (!cmd) {
        usage(stderr);
        return 1;
    }
    ad_set_num_threads((int)o.run.threads);
    raw_words = text_vocab_new();
    raw_tags = text_vocab_new();
    if (strcmp(cmd, "tag") && !o.train) o.train = ex_data_path("brown-train.tagged");
    if (strcmp(cmd, "train") == 0 && !o.dev) o.dev = ex_data_path("brown-dev.tagged");
    if (strcmp(cmd, "tag") && !o.test) o.test = ex_data_path("brown-test.tagged");
    if (o.tour) {
        /* half the training set, one epoch of a smaller network: about 30 s */
        if (!o.max_sentences) o.max_sentences = 24000;
        o.run.epochs = 1;
        if (o.cfg.hidden == tagger_config_default().hidden) o.cfg.hidden = 64;
        if (o.run.time_limit == 0) o.run.time_limit = 30;
        o.run.lr = 0.004;
    }
    int rc;
    if (strcmp(cmd, "train") == 0)
        rc = cmd_train(&o);
    else if (strcmp(cmd, "eval") == 0)
        rc = cmd_eval(&o);
    else
        rc = cmd_tag(&o, argc - optind - 1, argv + optind + 1);
    text_vocab_free(raw_words);
    text_vocab_free(raw_tags);
    return rc;
}
