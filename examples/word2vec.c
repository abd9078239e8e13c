/*
 * word2vec — skip-gram and CBOW word vectors (models/word2vec.h, FORMULAS §9) trained on real
 * text, then looked at: nearest neighbours, analogies, the questions-words evaluation.
 *
 *   word2vec [train] [options]          train and save the vectors (the default: words.txt of the
 *                                       data cache, skip-gram, negative sampling, 100 dimensions)
 *   word2vec nearest WORD...            the nearest words to each, by cosine, in saved vectors
 *   word2vec analogy A B C              A is to B as C is to ? (3CosAdd)
 *   word2vec eval-analogies FILE        accuracy on a file in word2vec's questions-words format
 *   word2vec --tour                     a short train (one epoch of CBOW), then what it learned
 *
 * A run writes into --out DIR: vectors.txt and vectors.bin (word2vec's text and binary formats,
 * which gensim's KeyedVectors.load_word2vec_format and word2vec's distance read), the checkpoint
 * model.safetensors (V and U) with model.safetensors.vocab (the vocabulary and its counts) and
 * model.safetensors.options (the settings, key value per line) beside it, curve.csv and
 * curve.png (the loss against the words trained). --resume reads the three checkpoint files and
 * goes on with the epoch after the last one saved.
 */
#include "common.h"
#include "run.h"
#include "text.h"
#include "vectors.h"
#include "word2vec.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

/* ---------------------------------------------------------------- options ---- */

typedef struct options {
    ex_vector_options v; /* the command: train, nearest, analogy, eval-analogies */
    const char *data;
    char *data_from_settings; /* owned: the corpus path a checkpoint's settings name */
    bool cbow, softmax;
    long size, window, negative, min_count, max_vocab, max_lines, iter, batch, stop_after;
    double sample, alpha, min_alpha;
} options;

static void usage(FILE *f) {
    fprintf(f,
"usage: word2vec [train] [options]\n"
"       word2vec nearest WORD... | analogy A B C | eval-analogies FILE   [options]\n"
"\n"
"word2vec (Mikolov et al. 2013): skip-gram or CBOW, with negative sampling or the full softmax,\n"
"trained through the tape by Hogwild workers, one per thread.\n"
"\n"
"  train            read the corpus, train, save DIR/vectors.txt and vectors.bin (the default)\n"
"  nearest WORD..   the --top nearest words of each by cosine (--vectors)\n"
"  analogy A B C    A is to B as C is to ?: the --top best answers by 3CosAdd\n"
"  eval-analogies FILE  accuracy on questions (\": section\" lines, then \"a b c d\")\n"
"\n"
"data:\n"
"  --data FILE       corpus, one sentence per line (default: words.txt of the data cache)\n"
"  --min-count N     words seen fewer times are dropped (default 5)\n"
"  --max-vocab N     keep only the N most frequent words (default: no limit)\n"
"  --max-lines N     read only the first N lines (default: all)\n"
"model and training (word2vec.c's names and defaults):\n"
"  --cbow            CBOW: predict a word from the mean of its context (default: skip-gram)\n"
"  --softmax         the full softmax over the vocabulary instead of negative sampling (slow\n"
"                    on a large vocabulary: every example scores every word)\n"
"  --size N          vector size (default 100)\n"
"  --window N        largest half-window; each position draws one in [1, N] (default 5)\n"
"  --negative N      negatives per example (default 5)\n"
"  --sample X        subsampling threshold of frequent words (default 1e-3; 0: off)\n"
"  --iter N          epochs (default 5)\n"
"  --alpha X         starting learning rate (default 0.025, CBOW 0.05), falling linearly to\n"
"  --min-alpha X     this at the end of the last epoch (default 1e-4)\n"
"  --batch N         centre words per minibatch on a worker's tape (default 4)\n"
"  --threads N       workers (default: every core)\n"
"  --seed N          initial vectors and random draws (default 1)\n"
"  --checkpoint-every N  save the checkpoint every N epochs as well as at the end (default 0)\n"
"  --stop-after N    stop after epoch N of the schedule (checkpoint and vectors saved); a\n"
"                    --resume of the checkpoint goes on from there as if never stopped\n"
"  --resume PATH     continue the run of a checkpoint (its vocabulary and settings are used)\n"
"  --out DIR         where the vectors, the checkpoint and the curve go (default word2vec.out)\n"
"  --questions FILE  after training, the accuracy on these analogy questions\n"
"  --tour            a short run (CBOW, one epoch: ~15 s on 2 cores for words.txt), then\n"
"                    nearest neighbours and analogies\n"
"looking at vectors:\n"
"  --vectors FILE    vectors to read: word2vec binary (a .bin name), word2vec text (a first\n"
"                    line '<words> <dim>') or GloVe text (default DIR/vectors.bin of --out)\n"
"  --top K           answers to show (default 8)\n"
"  --limit N         search only the N most frequent words (default: all for nearest and\n"
"                    analogy, 30000 for eval-analogies as word2vec's compute-accuracy)\n"
"  -h, --help        this text\n");
}

static const char *const commands[] = {"train", "nearest", "analogy", "eval-analogies"};

static void parse_options(int argc, char **argv, options *o) {
    *o = (options){.v = {.command = "train", .out = "word2vec.out", .top = 8, .seed = 1},
                   .size = 100, .window = 5, .negative = 5, .min_count = 5, .iter = 5, .batch = 4,
                   .sample = 1e-3, .alpha = -1, .min_alpha = 1e-4};
    o->v.command = ex_take_command(&argc, &argv, commands, sizeof commands / sizeof *commands,
                                 o->v.command);
    enum { O_DATA = 256, O_MINCOUNT, O_MAXVOCAB, O_MAXLINES, O_CBOW, O_SOFTMAX, O_SIZE, O_WINDOW,
           O_NEGATIVE, O_SAMPLE, O_ITER, O_ALPHA, O_MINALPHA, O_BATCH, O_STOP };
    static const struct option longs[] = {
        {"data", 1, 0, O_DATA}, {"min-count", 1, 0, O_MINCOUNT}, {"max-vocab", 1, 0, O_MAXVOCAB},
        {"max-lines", 1, 0, O_MAXLINES}, {"cbow", 0, 0, O_CBOW}, {"softmax", 0, 0, O_SOFTMAX},
        {"size", 1, 0, O_SIZE}, {"window", 1, 0, O_WINDOW}, {"negative", 1, 0, O_NEGATIVE},
        {"sample", 1, 0, O_SAMPLE}, {"iter", 1, 0, O_ITER}, {"alpha", 1, 0, O_ALPHA},
        {"min-alpha", 1, 0, O_MINALPHA}, {"batch", 1, 0, O_BATCH},
        {"stop-after", 1, 0, O_STOP}, EX_VECTOR_LONG_OPTIONS, {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
    bool iter_given = false, arch_given = false;
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", longs, NULL)) != -1) {
        const char *a = optarg;
        switch (c) {
        case 'h': usage(stdout); exit(0);
        case O_DATA: o->data = a; break;
        case O_MINCOUNT: o->min_count = ex_parse_long("--min-count", a, 1, LONG_MAX); break;
        case O_MAXVOCAB: o->max_vocab = ex_parse_long("--max-vocab", a, 1, INT_MAX - 1); break;
        case O_MAXLINES: o->max_lines = ex_parse_long("--max-lines", a, 1, LONG_MAX); break;
        case O_CBOW: o->cbow = true, arch_given = true; break;
        case O_SOFTMAX: o->softmax = true; break;
        case O_SIZE: o->size = ex_parse_long("--size", a, 1, 1 << 16); break;
        case O_WINDOW: o->window = ex_parse_long("--window", a, 1, 64); break;
        case O_NEGATIVE: o->negative = ex_parse_long("--negative", a, 1, 1000); break;
        case O_SAMPLE: o->sample = ex_parse_double("--sample", a, 0, 1); break;
        case O_ITER: o->iter = ex_parse_long("--iter", a, 1, 1 << 20), iter_given = true; break;
        case O_ALPHA: o->alpha = ex_parse_double("--alpha", a, 1e-12, 100); break;
        case O_MINALPHA: o->min_alpha = ex_parse_double("--min-alpha", a, 0, 100); break;
        case O_BATCH: o->batch = ex_parse_long("--batch", a, 1, 1 << 16); break;
        case O_STOP: o->stop_after = ex_parse_long("--stop-after", a, 1, 1 << 20); break;
        default:
            if (!ex_vector_option(c, a, &o->v)) ex_option_error(c, argv);
        }
    }
    ex_vector_options_finish(argc, argv, &o->v);
    if (o->v.tour) {
        if (!iter_given) o->iter = 1;
        if (!arch_given) o->cbow = true;
    }
    if (o->alpha < 0) o->alpha = o->cbow ? 0.05 : 0.025;
    if (o->min_alpha > o->alpha)
        ex_die("--min-alpha %g is above --alpha %g", o->min_alpha, o->alpha);
}

static void make_dir(const char *dir) {
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        ex_die("%s: cannot create the output directory: %s", dir, strerror(errno));
}

/* ------------------------------------------------- the checkpoint's settings ---- */

/* The settings a resumed run must reuse, as "key value" lines beside the checkpoint. */
static void save_settings(const options *o, const char *path) {
    FILE *f;
    char *tmp;
    if (nn_file_begin(path, &f, &tmp) != NN_OK) ex_die("%s", nn_last_error());
    fprintf(f, "model word2vec\narch %s\noutput %s\nsize %ld\nwindow %ld\nnegative %ld\n"
               "sample %.17g\nalpha %.17g\nmin_alpha %.17g\niter %ld\nbatch %ld\nseed %llu\n"
               "min_count %ld\nmax_vocab %ld\nmax_lines %ld\ndata %s\n",
            o->cbow ? "cbow" : "skipgram", o->softmax ? "softmax" : "negative", o->size,
            o->window, o->negative, o->sample, o->alpha, o->min_alpha, o->iter, o->batch,
            (unsigned long long)o->v.seed, o->min_count, o->max_vocab, o->max_lines, o->data);
    if (nn_file_commit(f, tmp, path) != NN_OK) ex_die("%s", nn_last_error());
}

/* The settings of a checkpoint; its corpus unless --data names another (a moved copy). */
static void load_settings(options *o, const char *path, const char *checkpoint) {
    FILE *f = fopen(path, "r");
    if (!f)
        ex_die("%s: cannot open (%s): is %s a checkpoint of word2vec?", path, strerror(errno),
               checkpoint);
    bool is_w2v = false;
    int lineno = 0, got = 0;
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) >= 0) {
        lineno++;
        line[strcspn(line, "\r\n")] = 0;
        char *value = strchr(line, ' ');
        if (!value) continue;
        *value++ = 0; /* "key value...": the value runs to the end of the line (a path) */
        const char *key = line;
        char *end;
        errno = 0;
        const double x = strtod(value, &end);
        const bool num = *end == 0 && errno == 0 && isfinite(x) && x >= 0;
        if (!strcmp(key, "model")) is_w2v = !strcmp(value, "word2vec");
        else if (!strcmp(key, "arch")) o->cbow = !strcmp(value, "cbow");
        else if (!strcmp(key, "output")) o->softmax = !strcmp(value, "softmax");
        else if (!strcmp(key, "data")) {
            if (!o->data) {
                if (!(o->data_from_settings = strdup(value))) ex_die("out of memory");
                o->data = o->data_from_settings;
            }
        }
        else if (!num) ex_die("%s: line %d: '%s' is not a number", path, lineno, value);
        else if (!strcmp(key, "size")) o->size = (long)x, got++;
        else if (!strcmp(key, "window")) o->window = (long)x, got++;
        else if (!strcmp(key, "negative")) o->negative = (long)x, got++;
        else if (!strcmp(key, "sample")) o->sample = x, got++;
        else if (!strcmp(key, "alpha")) o->alpha = x, got++;
        else if (!strcmp(key, "min_alpha")) o->min_alpha = x, got++;
        else if (!strcmp(key, "iter")) o->iter = (long)x, got++;
        else if (!strcmp(key, "batch")) o->batch = (long)x, got++;
        else if (!strcmp(key, "seed")) o->v.seed = (uint64_t)strtoull(value, NULL, 10), got++;
        else if (!strcmp(key, "min_count")) o->min_count = (long)x, got++;
        else if (!strcmp(key, "max_vocab")) o->max_vocab = (long)x, got++;
        else if (!strcmp(key, "max_lines")) o->max_lines = (long)x, got++;
    }
    free(line);
    fclose(f);
    if (!is_w2v || got != 12)
        ex_die("%s: not the settings of a word2vec checkpoint (is %s one?)", path, checkpoint);
    if (o->size < 1 || o->size > 1 << 16 || o->window < 1 || o->window > 64 || o->negative < 1 ||
        o->iter < 1 || o->batch < 1 || !(o->alpha > 0) || o->sample > 1)
        ex_die("%s: settings out of range", path);
}

/* ------------------------------------------------------------------- a run ---- */

typedef struct run {
    options *o;
    text_vocab *vocab;
    text_ids ids;
    w2v_model m;
    ex_progress *prog;
    ex_curve *curve;
} run;

static void load_corpus(run *r, const char *vocab_path) {
    const options *o = r->o;
    const double t0 = ex_seconds();
    if (vocab_path) {
        ex_check_status(text_vocab_load(vocab_path, &r->vocab));
        ex_check_status(text_read(o->data, TEXT_WORDS, r->vocab, -1, &r->ids));
        if (o->max_lines > 0 && (size_t)o->max_lines < r->ids.nlines) {
            r->ids.nlines = (size_t)o->max_lines;
            r->ids.n = r->ids.line_start[r->ids.nlines];
        }
    } else {
        ex_check_status(w2v_read_corpus(o->data, o->min_count, (int)o->max_vocab, o->max_lines,
                                        &r->vocab, &r->ids));
    }
    size_t unk = 0;
    for (size_t k = 0; k < r->ids.n; k++) unk += r->ids.ids[k] == TEXT_UNK;
    if (unk == r->ids.n) ex_die("%s: no word of the vocabulary in the corpus", o->data);
    printf("word2vec: %s: %zu lines, %zu words (%.1f%% below --min-count %ld), a vocabulary of "
           "%d (%.1f s)\n", o->data, r->ids.nlines, r->ids.n,
           r->ids.n ? 100.0 * (double)unk / (double)r->ids.n : 0, o->min_count,
           text_vocab_size(r->vocab) - 1, ex_seconds() - t0);
}

static void on_progress(void *ctx, long done, long total, double loss) {
    run *r = ctx;
    ex_progress_update(r->prog, done, done, loss);
    const double row[3] = {(double)done, loss, w2v_alpha(&r->m.cfg, done, total)};
    ex_curve_row(r->curve, row);
}

static void save_checkpoint(run *r, const char *path, long epochs) {
    nn_counters c = {.n = 2, .name = {"word2vec.epochs", "word2vec.words"},
                     .value = {(uint64_t)epochs, (uint64_t)r->m.nwords}};
    ex_check_status(nn_checkpoint_save(path, r->m.ps, NULL, &c));
    char *vocab = ex_joined(path, ".vocab"), *settings = ex_joined(path, ".options");
    ex_check_status(text_vocab_save(r->vocab, vocab));
    save_settings(r->o, settings);
    free(vocab);
    free(settings);
}

/* Print the k nearest of each word, excluding itself. */
static bool show_nearest(const wv_table *t, char **words, int n, int k, int limit) {
    bool all = true;
    int *ids = malloc((size_t)(k + 1) * sizeof *ids);
    float *sims = malloc((size_t)(k + 1) * sizeof *sims);
    if (!ids || !sims) ex_die("out of memory");
    for (int i = 0; i < n; i++) {
        const int w = wv_table_find(t, words[i]);
        if (w < 0) {
            fprintf(stderr, "%s: '%s' is not in the vectors\n", ex_program, words[i]);
            all = false;
            continue;
        }
        const int got = wv_nearest(t, t->vec + (size_t)w * t->dim, limit, &w, 1, k, ids, sims);
        printf("%s:", words[i]);
        for (int j = 0; j < got; j++) printf(" %s (%.3f)", t->words[ids[j]], (double)sims[j]);
        printf("\n");
    }
    free(ids);
    free(sims);
    return all;
}

/* a : b :: c : ? — the k best answers by 3CosAdd: the cosine with b̂ - â + ĉ. */
static bool show_analogy(const wv_table *t, char **abc, int k, int limit) {
    int w[3];
    for (int i = 0; i < 3; i++) {
        if ((w[i] = wv_table_find(t, abc[i])) < 0) {
            fprintf(stderr, "%s: '%s' is not in the vectors\n", ex_program, abc[i]);
            return false;
        }
        if (limit > 0 && w[i] >= limit) {
            fprintf(stderr, "%s: '%s' is not among the %d most frequent words (--limit)\n",
                    ex_program, abc[i], limit);
            return false;
        }
    }
    float *q = calloc((size_t)t->dim, sizeof *q);
    int *ids = malloc((size_t)k * sizeof *ids);
    float *sims = malloc((size_t)k * sizeof *sims);
    if (!q || !ids || !sims) ex_die("out of memory");
    const float sign[3] = {-1, 1, 1};
    for (int i = 0; i < 3; i++) {
        const float *x = t->vec + (size_t)w[i] * t->dim;
        double n = 0;
        for (int j = 0; j < t->dim; j++) n += (double)x[j] * x[j];
        n = sqrt(n);
        for (int j = 0; j < t->dim && n > 0; j++) q[j] += sign[i] * (float)(x[j] / n);
    }
    const int got = wv_nearest(t, q, limit, w, 3, k, ids, sims);
    printf("%s is to %s as %s is to:", abc[0], abc[1], abc[2]);
    for (int j = 0; j < got; j++) printf(" %s (%.3f)", t->words[ids[j]], (double)sims[j]);
    printf("\n");
    free(q);
    free(ids);
    free(sims);
    return true;
}

static void show_eval(const wv_table *t, const char *questions, int limit) {
    wv_analogy_result a;
    const double t0 = ex_seconds();
    ex_check_status(wv_eval_analogies(t, questions, limit, &a));
    const double pct = a.answered ? 100.0 * (double)a.correct / (double)a.answered : 0;
    printf("analogies: %.2f%% right (%ld of %ld answered; %ld of the %ld questions had a word "
           "outside the %d most frequent)\n", pct, a.correct, a.answered,
           a.questions - a.answered, a.questions, limit > 0 && limit < t->n ? limit : t->n);
    printf("  semantic %.2f%% (%ld/%ld), syntactic %.2f%% (%ld/%ld), in %.1f s\n",
           a.sem_answered ? 100.0 * (double)a.sem_correct / (double)a.sem_answered : 0,
           a.sem_correct, a.sem_answered,
           a.syn_answered ? 100.0 * (double)a.syn_correct / (double)a.syn_answered : 0,
           a.syn_correct, a.syn_answered, ex_seconds() - t0);
}

static void tour_show(const wv_table *t) {
    static char *probe[] = {"king", "water", "red", "three", "god", "ship", "law"};
    char *found[8];
    int n = 0;
    for (size_t i = 0; i < sizeof probe / sizeof *probe; i++)
        if (wv_table_find(t, probe[i]) >= 0) found[n++] = probe[i];
    printf("\nnearest neighbours (cosine):\n");
    show_nearest(t, found, n, 6, 0);
    static char *abc[][3] = {{"man", "king", "woman"}, {"big", "bigger", "small"}};
    printf("\nanalogies (3CosAdd, the best 5 answers):\n");
    for (size_t q = 0; q < sizeof abc / sizeof *abc; q++) {
        bool have = true;
        for (int i = 0; i < 3; i++) have &= wv_table_find(t, abc[q][i]) >= 0;
        if (have) show_analogy(t, abc[q], 5, 0);
    }
    printf("\n(a full run: word2vec --out DIR; then word2vec nearest WORD... --vectors "
           "DIR/vectors.bin,\n and word2vec eval-analogies questions-words.txt --vectors "
           "DIR/vectors.bin)\n");
}

static int train(options *o) {
    run r = {.o = o};
    long first_epoch = 0;
    if (o->v.resume) {
        char *settings = ex_joined(o->v.resume, ".options");
        load_settings(o, settings, o->v.resume);
        free(settings);
    }
    if (!o->data) o->data = ex_data_path("words.txt");
    char *vocab_path = o->v.resume ? ex_joined(o->v.resume, ".vocab") : NULL;
    load_corpus(&r, vocab_path);
    free(vocab_path);

    w2v_config cfg = w2v_defaults(o->cbow ? W2V_CBOW : W2V_SKIPGRAM,
                                  o->softmax ? W2V_SOFTMAX : W2V_NEGATIVE);
    cfg.dim = (int)o->size;
    cfg.window = (int)o->window;
    cfg.negative = (int)o->negative;
    cfg.sample = o->sample;
    cfg.alpha = o->alpha;
    cfg.min_alpha = o->min_alpha;
    cfg.iter = (int)o->iter;
    cfg.batch = (int)o->batch;
    cfg.threads = (int)o->v.threads;
    cfg.seed = o->v.seed;
    w2v_init(&r.m, &cfg, r.vocab);
    if (o->v.resume) {
        nn_counters c = {.n = 2, .name = {"word2vec.epochs", "word2vec.words"}};
        const nn_status s = nn_checkpoint_load(o->v.resume, r.m.ps, NULL, &c);
        if (s != NN_OK)
            ex_die("%s (is %s a checkpoint of this word2vec run?)", nn_last_error(), o->v.resume);
        if (c.value[1] != (uint64_t)r.m.nwords || c.value[0] > (uint64_t)cfg.iter)
            ex_die("%s: its vocabulary or epochs do not fit its settings", o->v.resume);
        first_epoch = (long)c.value[0];
        printf("word2vec: resuming %s after epoch %ld of %d\n", o->v.resume, first_epoch, cfg.iter);
    }
    char out_layer[48] = "the full softmax";
    if (!o->softmax) snprintf(out_layer, sizeof out_layer, "%d negatives", cfg.negative);
    printf("word2vec: %s with %s, %d dimensions, window %d, sample %g, %d epochs, alpha %g, "
           "%d threads\n", o->cbow ? "CBOW" : "skip-gram", out_layer, cfg.dim, cfg.window,
           cfg.sample, cfg.iter, cfg.alpha, cfg.threads ? cfg.threads : ad_num_threads());
    long epoch_words = 0; /* what the schedule and the progress bar count */
    for (size_t k = 0; k < r.ids.n; k++) epoch_words += r.ids.ids[k] != TEXT_UNK;

    make_dir(o->v.out);
    char *ckpt = ex_joined(o->v.out, "/model.safetensors");
    char *csv = ex_joined(o->v.out, "/curve.csv");
    char *png = ex_joined(o->v.out, "/curve.png"), *txt = ex_joined(o->v.out, "/vectors.txt");
    char *bin = ex_joined(o->v.out, "/vectors.bin");
    r.curve = ex_curve_open(csv, "words,loss,alpha");
    double seconds = 0;
    long words = 0;
    const clock_t cpu0 = clock(); /* CPU time of all threads: a figure a busy machine blurs less */
    const long last = o->stop_after > 0 && o->stop_after < cfg.iter ? o->stop_after : cfg.iter;
    for (long e = first_epoch; e < last; e++) {
        char what[48];
        snprintf(what, sizeof what, "epoch %ld/%d", e + 1, cfg.iter);
        r.prog = ex_progress_new(what, epoch_words * cfg.iter, 10);
        const w2v_stats st = w2v_train_epoch(&r.m, &r.ids, (int)e, on_progress, &r);
        ex_progress_update(r.prog, epoch_words * (e + 1), epoch_words * (e + 1), st.loss);
        ex_progress_done(r.prog);
        seconds += st.seconds;
        words += st.words;
        printf("epoch %ld/%d: loss %.4f per example, %ld words (%ld kept by subsampling), "
               "%ld examples, %.1f s, %.0f words/s\n", e + 1, cfg.iter, st.loss, st.words,
               st.kept, st.examples, st.seconds,
               st.seconds > 0 ? (double)st.words / st.seconds : 0);
        fflush(stdout);
        if ((o->v.checkpoint_every > 0 && (e + 1) % o->v.checkpoint_every == 0) || e + 1 == last)
            save_checkpoint(&r, ckpt, e + 1);
    }
    ex_curve_close(r.curve);
    if (seconds > 0) {
        const double cpu = (double)(clock() - cpu0) / CLOCKS_PER_SEC;
        printf("trained at %.0f words/s\n", (double)words / seconds);
        printf("  (%.0f words per CPU second, %.1f CPU s)\n", cpu > 0 ? (double)words / cpu : 0,
               cpu);
        ex_plot(csv, png, "word2vec: loss per example", "loss");
    }

    wv_table t;
    ex_check_status(w2v_table(&r.m, &t));
    ex_check_status(wv_save(&t, txt, WV_WORD2VEC_TEXT));
    ex_check_status(wv_save(&t, bin, WV_WORD2VEC_BINARY));
    printf("saved %s and %s (%d words), checkpoint %s\n", txt, bin, t.n, ckpt);
    if (o->v.questions) show_eval(&t, o->v.questions, 30000);
    if (o->v.tour) tour_show(&t);
    wv_table_free(&t);
    w2v_free(&r.m);
    text_ids_free(&r.ids);
    text_vocab_free(r.vocab);
    free(ckpt), free(csv), free(png), free(txt), free(bin);
    free(o->data_from_settings);
    return 0;
}

/* ---------------------------------------------------------- saved vectors ---- */

static wv_table load_vectors(const options *o) {
    char *def = o->v.vectors ? NULL : ex_joined(o->v.out, "/vectors.bin");
    const char *path = o->v.vectors ? o->v.vectors : def;
    wv_table t;
    ex_vectors_load(path, &t);
    free(def);
    return t;
}

int main(int argc, char **argv) {
    ex_init(argc, argv);
    options o;
    parse_options(argc, argv, &o);
    if (!strcmp(o.v.command, "train")) return train(&o);
    wv_table t = load_vectors(&o);
    int status = 0;
    if (!strcmp(o.v.command, "nearest"))
        status = show_nearest(&t, o.v.args, o.v.nargs, (int)o.v.top, (int)o.v.limit) ? 0 : 1;
    else if (!strcmp(o.v.command, "analogy"))
        status = show_analogy(&t, o.v.args, (int)o.v.top, (int)o.v.limit) ? 0 : 1;
    else
        show_eval(&t, o.v.args[0], (int)o.v.limit);
    wv_table_free(&t);
    return status;
}
