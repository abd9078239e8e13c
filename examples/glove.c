/*
 * glove — GloVe word vectors (models/glove.h, FORMULAS §10) trained on real text, then looked at:
 * nearest neighbours, analogies, the questions-words evaluation.
 *
 *   glove [train] [options]          count co-occurrences, train, save the vectors (the default:
 *                                    words.txt of the data cache, 100 dimensions, 25 epochs)
 *   glove count [options]            count only: the table, and the strongest partners of --word
 *   glove nearest WORD...            the nearest words to each, by cosine, in saved vectors
 *   glove analogy A B C              A is to B as C is to ? (3CosAdd)
 *   glove eval-analogies FILE        accuracy on a file in word2vec's questions-words format
 *   glove --tour                     a ~25 s train (window 5, dim 50, 10 epochs), then what it learned
 *
 * The vocabulary is every word seen --min-count times (at most --max-vocab of them); other words
 * are <unk> and, as in Stanford's cooccur, dropped before counting. A run writes into --out DIR:
 * vectors.txt (GloVe's text format: "word v1 ... vd" per line, w + w̃, most frequent first),
 * model.safetensors (the checkpoint: W, W̃, biases, AdaGrad's accumulators, and as counters the
 * counting options and the epochs done), model.safetensors.vocab, curve.csv and curve.png.
 * --resume recounts the corpus with the checkpoint's vocabulary and options, replays the
 * shuffles of the epochs done, and goes on as the interrupted run would have.
 */
#include "common.h"
#include "run.h"
#include "glove.h"
#include "text.h"
#include "vectors.h"

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
    ex_vector_options v; /* the command: train, count, nearest, analogy, eval-analogies */
    const char *data, *word;
    long min_count, max_vocab, max_lines, window, dim, epochs, batch;
    double lr, bias_lr, x_max, alpha, grad_clip;
    bool across_lines, unweighted;
} options;

static void usage(FILE *f) {
    fprintf(f,
"usage: glove [train|count] [options]\n"
"       glove nearest WORD... | analogy A B C | eval-analogies FILE   [options]\n"
"\n"
"GloVe (Pennington et al. 2014): co-occurrence counts over a symmetric window weighted by\n"
"1/distance, then weighted least squares on their logarithms, trained by AdaGrad on several\n"
"threads at once. A word's vector is w + w~.\n"
"\n"
"  train           count, train, save DIR/vectors.txt (the default command)\n"
"  count           count only, and show the strongest co-occurrences of --word\n"
"  nearest WORD..  the --top nearest words of each by cosine (--vectors)\n"
"  analogy A B C   A is to B as C is to ?: the --top best answers by 3CosAdd\n"
"  eval-analogies FILE  accuracy on questions (\": section\" lines, then \"a b c d\")\n"
"\n"
"data and counting:\n"
"  --data FILE         corpus, one sentence per line (default: words.txt of the data cache)\n"
"  --min-count N       words seen fewer times are <unk>, left out of the counts (default 5)\n"
"  --max-vocab N       keep only the N most frequent words (default: no limit)\n"
"  --max-lines N       read only the first N lines (default: all)\n"
"  --window N          words on each side (default 10)\n"
"  --across-lines      let windows run over line ends (default: they stop there)\n"
"  --unweighted        add 1 per pair in a window instead of 1/distance\n"
"  --word W            (count) the word whose strongest partners are shown (default: the)\n"
"model and training:\n"
"  --dim N             vector size (default 100)\n"
"  --epochs N          passes over the shuffled co-occurrences (default 25)\n"
"  --lr X              AdaGrad's rate (default 0.05; the accumulators start at 1, as Stanford's)\n"
"  --bias-lr X         rate of the biases (default: --lr; Stanford's current release uses 1)\n"
"  --x-max X, --alpha X  the weighting f(x) = min(1, (x/x_max)^alpha) (default 100, 0.75)\n"
"  --grad-clip X       clip each gradient component (default 100; a negative value: none)\n"
"  --batch N           co-occurrences per recording on a thread's tape (default 128)\n"
"  --threads N         (default: every core)\n"
"  --seed N            initial vectors and shuffles (default 1)\n"
"  --checkpoint-every N  save the checkpoint every N epochs as well as at the end (default 0)\n"
"  --resume PATH       continue the run of a checkpoint (its vocabulary and options are used)\n"
"  --out DIR           where vectors.txt, the checkpoint and the curve go (default glove.out)\n"
"  --questions FILE    after training, the accuracy on these analogy questions\n"
"  --tour              a short run for the README's tour (~25 s on 2 cores): window 5,\n"
"                      50 dimensions, 10 epochs, then nearest neighbours and analogies\n"
"looking at vectors:\n"
"  --vectors FILE      GloVe text vectors to read (default DIR/vectors.txt of --out)\n"
"  --top K             answers to show (default 8)\n"
"  --limit N           search only the N most frequent words (default: all for nearest and\n"
"                      analogy, 30000 for eval-analogies as word2vec's compute-accuracy)\n"
"  -h, --help          this text\n");
}

static const char *const commands[] = {"train", "count", "nearest", "analogy", "eval-analogies"};

static void parse_options(int argc, char **argv, options *o) {
    *o = (options){.v = {.command = "train", .out = "glove.out", .top = 8, .seed = 1},
                   .min_count = 5, .window = 10, .dim = 100, .epochs = 25, .batch = 128,
                   .lr = 0.05, .x_max = GLOVE_X_MAX, .alpha = GLOVE_ALPHA, .grad_clip = 100,
                   .word = "the"};
    o->v.command = ex_take_command(&argc, &argv, commands, sizeof commands / sizeof *commands,
                                 o->v.command);
    enum { O_DATA = 256, O_MINCOUNT, O_MAXVOCAB, O_MAXLINES, O_WINDOW, O_ACROSS, O_UNWEIGHTED,
           O_WORD, O_DIM, O_EPOCHS, O_LR, O_BIASLR, O_XMAX, O_ALPHA, O_CLIP, O_BATCH };
    static const struct option longs[] = {
        {"data", 1, 0, O_DATA}, {"min-count", 1, 0, O_MINCOUNT}, {"max-vocab", 1, 0, O_MAXVOCAB},
        {"max-lines", 1, 0, O_MAXLINES}, {"window", 1, 0, O_WINDOW},
        {"across-lines", 0, 0, O_ACROSS}, {"unweighted", 0, 0, O_UNWEIGHTED},
        {"word", 1, 0, O_WORD}, {"dim", 1, 0, O_DIM}, {"epochs", 1, 0, O_EPOCHS},
        {"lr", 1, 0, O_LR}, {"bias-lr", 1, 0, O_BIASLR}, {"x-max", 1, 0, O_XMAX},
        {"alpha", 1, 0, O_ALPHA}, {"grad-clip", 1, 0, O_CLIP}, {"batch", 1, 0, O_BATCH},
        EX_VECTOR_LONG_OPTIONS, {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
    bool epochs_given = false, dim_given = false, window_given = false;
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", longs, NULL)) != -1) {
        const char *a = optarg;
        switch (c) {
        case 'h': usage(stdout); exit(0);
        case O_DATA: o->data = a; break;
        case O_MINCOUNT: o->min_count = ex_parse_long("--min-count", a, 1, LONG_MAX); break;
        case O_MAXVOCAB: o->max_vocab = ex_parse_long("--max-vocab", a, 2, INT_MAX); break;
        case O_MAXLINES: o->max_lines = ex_parse_long("--max-lines", a, 1, LONG_MAX); break;
        case O_WINDOW: o->window = ex_parse_long("--window", a, 1, 1000), window_given = true;
            break;
        case O_ACROSS: o->across_lines = true; break;
        case O_UNWEIGHTED: o->unweighted = true; break;
        case O_WORD: o->word = a; break;
        case O_DIM: o->dim = ex_parse_long("--dim", a, 1, 1 << 16), dim_given = true; break;
        case O_EPOCHS: o->epochs = ex_parse_long("--epochs", a, 1, 1 << 20), epochs_given = true;
            break;
        case O_LR: o->lr = ex_parse_double("--lr", a, 1e-12, 1e6); break;
        case O_BIASLR: o->bias_lr = ex_parse_double("--bias-lr", a, 1e-12, 1e6); break;
        case O_XMAX: o->x_max = ex_parse_double("--x-max", a, 1e-12, 1e12); break;
        case O_ALPHA: o->alpha = ex_parse_double("--alpha", a, 1e-6, 100); break;
        case O_CLIP: o->grad_clip = ex_parse_double("--grad-clip", a, -1e30, 1e30); break;
        case O_BATCH: o->batch = ex_parse_long("--batch", a, 1, 1 << 20); break;
        default:
            if (!ex_vector_option(c, a, &o->v)) ex_option_error(c, argv);
        }
    }
    ex_vector_options_finish(argc, argv, &o->v);
    if (o->v.tour) {
        if (!epochs_given) o->epochs = 10;
        if (!dim_given) o->dim = 50;
        if (!window_given) o->window = 5;
    }
}

/* ----------------------------------------------------------- checkpoints ---- */

/* What a checkpoint needs besides its tensors: how the corpus was read and counted (to count it
 * again the same way on --resume), the shape, and the epochs done. */
enum { C_DIM, C_WINDOW, C_ACROSS, C_UNWEIGHTED, C_MAXLINES, C_SEED, C_EPOCH, C_COUNT };
static const char *const counter_name[C_COUNT] = {"glove.dim", "glove.window",
                                                  "glove.across_lines", "glove.unweighted",
                                                  "glove.max_lines", "glove.seed", "epoch"};

/* A checkpoint's counters, read before a model exists to load it into; nn_checkpoint_load checks
 * everything else afterwards. Dies with a message naming the file on failure. */
static void peek_counters(const char *path, uint64_t *values) {
    nn_counters c = ex_counters(C_COUNT, counter_name, NULL);
    ex_counters_peek(path, "glove", &c);
    memcpy(values, c.value, C_COUNT * sizeof *values);
    if (values[C_DIM] < 1 || values[C_DIM] > 1 << 16 || values[C_WINDOW] < 1 ||
        values[C_WINDOW] > 1000 || values[C_EPOCH] > 1 << 20)
        ex_die("%s: its glove configuration is out of range", path);
}

/* ------------------------------------------------------------------- a run ---- */

typedef struct run {
    options *o;
    text_vocab *vocab;
    text_ids ids;
    glove_cooc cooc;
    ad_params *ps;
    glove g;
    glove_trainer *trainer;
    ex_progress *prog;
    long epochs_before; /* pairs done in earlier epochs of this run, for the progress bar */
} run;

/* The first --max-lines lines (all by default) of the corpus. */
static void keep_lines(text_ids *ids, long max_lines) {
    if (max_lines > 0 && (size_t)max_lines < ids->nlines) {
        ids->nlines = (size_t)max_lines;
        ids->n = ids->line_start[ids->nlines];
    }
}

/* The corpus as ids: of a fresh vocabulary, the words seen --min-count times in the lines used,
 * or of a saved one. */
static void load_corpus(run *r, const char *vocab_path) {
    const options *o = r->o;
    const double t0 = ex_seconds();
    if (vocab_path) {
        ex_check_status(text_vocab_load(vocab_path, &r->vocab));
        ex_check_status(text_read(o->data, TEXT_WORDS, r->vocab, -1, &r->ids));
        keep_lines(&r->ids, o->max_lines);
    } else {
        /* every word of the file first, to read it as ids and cut it to its first lines ... */
        text_vocab *all = text_vocab_new();
        ex_check_status(text_count(o->data, TEXT_WORDS, all));
        ex_check_status(text_read(o->data, TEXT_WORDS, all, -1, &r->ids));
        keep_lines(&r->ids, o->max_lines);
        /* ... then the vocabulary of the counts in those lines, and every id renamed into it */
        r->vocab = ex_vocab_of_ids(all, r->ids.ids, r->ids.n, o->min_count, (int)o->max_vocab);
        ex_ids_rename(r->ids.ids, r->ids.n, all, r->vocab);
        text_vocab_free(all);
    }
    if (text_vocab_size(r->vocab) < 2)
        ex_die("%s: no word is seen %ld times (--min-count): nothing to learn", o->data,
               o->min_count);
    size_t unk = 0;
    for (size_t k = 0; k < r->ids.n; k++) unk += r->ids.ids[k] == TEXT_UNK;
    printf("glove: %s: %zu lines, %zu tokens (%.1f%% <unk>), %d words seen %ld+ times (%.1f s)\n",
           o->data, r->ids.nlines, r->ids.n, r->ids.n ? 100.0 * (double)unk / (double)r->ids.n : 0,
           text_vocab_size(r->vocab) - 1, o->min_count, ex_seconds() - t0);
}

static void count(run *r) {
    const options *o = r->o;
    const double t0 = ex_seconds();
    const nn_status s = glove_count(&r->cooc, &r->ids, text_vocab_size(r->vocab),
                                    &(glove_count_config){.window = (int)o->window,
                                                          .across_lines = o->across_lines,
                                                          .unweighted = o->unweighted});
    if (s != NN_OK) ex_die("%s: %s", o->data, nn_last_error());
    printf("glove: %zu co-occurrences (nonzero X_ij, both orders), window %ld%s%s, in %.1f s\n",
           r->cooc.n, o->window, o->unweighted ? ", unweighted" : ", 1/distance",
           o->across_lines ? ", across lines" : "", ex_seconds() - t0);
}

static void on_progress(void *ctx, size_t pairs_done, double mean_cost) {
    run *r = ctx;
    ex_progress_update(r->prog, r->epochs_before + (long)pairs_done,
                       r->epochs_before + (long)pairs_done, mean_cost);
}

static void save_checkpoint(run *r, const char *path) {
    const options *o = r->o;
    const uint64_t v[C_COUNT] = {(uint64_t)o->dim, (uint64_t)o->window, o->across_lines,
                                 o->unweighted, (uint64_t)o->max_lines, o->v.seed,
                                 (uint64_t)glove_trainer_epoch(r->trainer)};
    nn_counters c = ex_counters(C_COUNT, counter_name, v);
    ex_check_status(nn_checkpoint_save(path, r->ps, NULL, &c));
}

static void save_vectors(run *r, const char *path) {
    wv_table t;
    ex_check_status(glove_table(&r->g, r->vocab, &t));
    ex_check_status(wv_save(&t, path, WV_GLOVE_TEXT));
    wv_table_free(&t);
}

/* ------------------------------------------------------- looking at vectors ---- */

/* A word of the table, matched as given or lower-cased (the cache is lower case). */
static int find_word(const wv_table *t, const char *word, const char *path) {
    int id = wv_table_find(t, word);
    if (id < 0) {
        char *low = ex_joined(word, "");
        for (char *p = low; *p; p++) *p = (char)tolower((unsigned char)*p);
        id = wv_table_find(t, low);
        free(low);
    }
    if (id < 0) fprintf(stderr, "%s: \"%s\" is not in %s\n", ex_program, word, path);
    return id;
}

static void show_nearest(const wv_table *t, int id, int limit, int top) {
    int ids[1000];
    float sims[1000];
    const int n = wv_nearest(t, t->vec + (size_t)id * (size_t)t->dim, limit, &id, 1, top, ids,
                             sims);
    printf("  %-14s", t->words[id]);
    for (int k = 0; k < n; k++) printf(" %s %.2f", t->words[ids[k]], sims[k]);
    printf("\n");
}

/* The best answers to a : b :: c : ? — 3CosAdd, the query b − a + c of unit vectors. */
static void show_analogy(const wv_table *t, const int *abc, int limit, int top) {
    const int d = t->dim;
    float *q = calloc((size_t)d, sizeof *q);
    if (!q) ex_die("out of memory");
    const float sign[3] = {-1, 1, 1};
    for (int w = 0; w < 3; w++) {
        const float *x = t->vec + (size_t)abc[w] * (size_t)d;
        double n = 0;
        for (int j = 0; j < d; j++) n += (double)x[j] * x[j];
        n = sqrt(n);
        for (int j = 0; j < d && n > 0; j++) q[j] += sign[w] * (float)(x[j] / n);
    }
    int ids[1000];
    float sims[1000];
    const int n = wv_nearest(t, q, limit, abc, 3, top, ids, sims);
    printf("  %s : %s :: %s : ?  ", t->words[abc[0]], t->words[abc[1]], t->words[abc[2]]);
    for (int k = 0; k < n; k++) printf(" %s %.2f", t->words[ids[k]], sims[k]);
    printf("\n");
    free(q);
}

static void print_accuracy(const wv_analogy_result *a, int limit) {
    const double acc = a->answered ? 100.0 * (double)a->correct / (double)a->answered : 0;
    printf("glove: analogies: %.2f%% of %ld answered (%ld questions; %ld with a word outside the "
           "%d most frequent skipped)\n", acc, a->answered, a->questions,
           a->questions - a->answered, limit);
    if (a->sem_answered)
        printf("  semantic   %.2f%% of %ld\n", 100.0 * (double)a->sem_correct /
               (double)a->sem_answered, a->sem_answered);
    if (a->syn_answered)
        printf("  syntactic  %.2f%% of %ld\n", 100.0 * (double)a->syn_correct /
               (double)a->syn_answered, a->syn_answered);
}

/* Probes for the end of a training run: whichever of these the vocabulary has. */
static void show_what_it_learned(const wv_table *t, const options *o) {
    static const char *const probes[] = {"red", "king", "three", "river", "happy", "dog", "music",
                                         "run"};
    static const char *const analogies[][3] = {
        {"man", "king", "woman"}, {"good", "better", "bad"}, {"france", "paris", "italy"}};
    const int limit = o->v.limit_given ? (int)o->v.limit : 0, top = (int)o->v.top;
    printf("glove: nearest neighbours (cosine):\n");
    for (size_t k = 0; k < sizeof probes / sizeof *probes; k++) {
        const int id = wv_table_find(t, probes[k]);
        if (id >= 0) show_nearest(t, id, limit, top);
    }
    printf("glove: analogies (3CosAdd):\n");
    for (size_t k = 0; k < sizeof analogies / sizeof *analogies; k++) {
        int abc[3], found = 0;
        for (int w = 0; w < 3; w++) found += (abc[w] = wv_table_find(t, analogies[k][w])) >= 0;
        if (found == 3) show_analogy(t, abc, limit, top < 5 ? top : 5);
    }
}

/* ----------------------------------------------------------------- train ---- */

static int cmd_train(options *o) {
    run r = {.o = o};
    uint64_t c[C_COUNT] = {0};
    char *vocab_in = NULL;
    if (o->v.resume) { /* the checkpoint's options win; it must be of this model */
        peek_counters(o->v.resume, c);
        o->dim = (long)c[C_DIM], o->window = (long)c[C_WINDOW], o->across_lines = c[C_ACROSS];
        o->unweighted = c[C_UNWEIGHTED], o->max_lines = (long)c[C_MAXLINES];
        o->v.seed = c[C_SEED];
        vocab_in = ex_joined(o->v.resume, ".vocab");
        if ((long)c[C_EPOCH] >= o->epochs)
            ex_die("%s has done %ld epochs, as many as --epochs %ld asks for", o->v.resume,
                   (long)c[C_EPOCH], o->epochs);
    }
    load_corpus(&r, vocab_in);
    count(&r);
    text_ids_free(&r.ids); /* the counts are all training needs */

    nn_rng init = nn_rng_new(o->v.seed);
    r.ps = ad_params_new();
    glove_init(&r.g, r.ps, text_vocab_size(r.vocab), (int)o->dim, &init);
    if (o->v.resume) {
        nn_counters cc = {.n = C_COUNT};
        for (int i = 0; i < C_COUNT; i++) cc.name[i] = counter_name[i];
        const nn_status s = nn_checkpoint_load(o->v.resume, r.ps, NULL, &cc);
        if (s == NN_ERR_MISMATCH)
            ex_die("%s does not fit this model (%d words in %s, dim %ld): %s", o->v.resume,
                   text_vocab_size(r.vocab), vocab_in, o->dim, nn_last_error());
        ex_check_status(s);
    }
    r.trainer = glove_trainer_new(&r.g, &r.cooc, &(glove_train_config){
        .lr = o->lr, .bias_lr = o->bias_lr, .x_max = o->x_max, .alpha = o->alpha,
        .grad_clip = o->grad_clip, .batch = (int)o->batch, .threads = (int)o->v.threads,
        .seed = o->v.seed ^ 0x5A1E, .progress = on_progress, .progress_ctx = &r,
        .progress_every = 1 << 20});
    if (!r.trainer) ex_die("%s", nn_last_error());
    if (o->v.resume) {
        glove_trainer_skip(r.trainer, (int)c[C_EPOCH]);
        printf("glove: resuming %s after epoch %ld\n", o->v.resume, (long)c[C_EPOCH]);
    }

    if (mkdir(o->v.out, 0777) != 0 && errno != EEXIST)
        ex_die("%s: cannot make the directory: %s", o->v.out, strerror(errno));
    char *ckpt = ex_joined(o->v.out, "/model.safetensors"), *vocab_out = ex_joined(ckpt, ".vocab");
    char *csv = ex_joined(o->v.out, "/curve.csv"), *png = ex_joined(o->v.out, "/curve.png");
    char *vec_path = ex_joined(o->v.out, "/vectors.txt");
    ex_check_status(text_vocab_save(r.vocab, vocab_out));
    const glove_train_config *k = glove_trainer_config(r.trainer);
    printf("glove: dim %ld, %d words; AdaGrad lr %g (biases %g), x_max %g, alpha %g, clip %g, "
           "batch %d, %d threads, %ld epochs\n", o->dim, r.g.vocab - 1, k->lr, k->bias_lr,
           k->x_max, k->alpha, k->grad_clip, k->batch, k->threads, o->epochs);

    const long first = glove_trainer_epoch(r.trainer);
    ex_curve *curve = ex_curve_open(csv, "epoch,cost,seconds");
    r.prog = ex_progress_new("train", (o->epochs - first) * (long)r.cooc.n, 10);
    const double t_run = ex_seconds();
    for (long e = first; e < o->epochs; e++) {
        const double t0 = ex_seconds();
        const double cost = glove_train_epoch(r.trainer);
        const double secs = ex_seconds() - t0;
        r.epochs_before += (long)r.cooc.n;
        if (!isfinite(cost))
            ex_die("the cost is %g in epoch %ld: training diverged (a lower --lr?)", cost, e + 1);
        ex_progress_update(r.prog, r.epochs_before, r.epochs_before, cost);
        ex_curve_row(curve, (double[]){(double)(e + 1), cost, secs});
        if (o->v.checkpoint_every && (e + 1) % o->v.checkpoint_every == 0 && e + 1 < o->epochs)
            save_checkpoint(&r, ckpt);
    }
    ex_progress_done(r.prog);
    ex_curve_close(curve);
    const double t_train = ex_seconds() - t_run;
    printf("glove: %ld epochs in %.1f s (%.2f s per epoch, %.0f co-occurrences/s)\n",
           o->epochs - first, t_train, t_train / (double)(o->epochs - first),
           (double)r.cooc.n * (double)(o->epochs - first) / t_train);
    save_checkpoint(&r, ckpt);
    save_vectors(&r, vec_path);
    printf("glove: vectors %s (GloVe text), checkpoint %s\n", vec_path, ckpt);
    ex_plot_and_say(csv, png, "glove: cost per co-occurrence", "cost");

    wv_table t;
    ex_check_status(glove_table(&r.g, r.vocab, &t));
    show_what_it_learned(&t, o);
    if (o->v.questions) {
        wv_analogy_result a;
        const int limit = o->v.limit_given ? (int)o->v.limit : 30000;
        ex_check_status(wv_eval_analogies(&t, o->v.questions, limit, &a));
        print_accuracy(&a, limit);
    }
    wv_table_free(&t);
    glove_trainer_free(r.trainer);
    glove_cooc_free(&r.cooc);
    ad_params_free(r.ps);
    text_vocab_free(r.vocab);
    free(vocab_in), free(ckpt), free(vocab_out), free(csv), free(png), free(vec_path);
    return 0;
}

/* ----------------------------------------------------------------- count ---- */

static int pair_by_x(const void *a, const void *b) {
    const float x = ((const glove_pair *)a)->x, y = ((const glove_pair *)b)->x;
    return x < y ? 1 : x > y ? -1 : 0;
}

static int cmd_count(options *o) {
    run r = {.o = o};
    load_corpus(&r, NULL);
    count(&r);
    double total = 0;
    size_t over = 0;
    for (size_t k = 0; k < r.cooc.n; k++) {
        total += r.cooc.pairs[k].x;
        over += r.cooc.pairs[k].x >= o->x_max;
    }
    printf("glove: sum of X %.0f; %zu entries (%.2f%%) at or over x_max %g, where f(x) = 1\n",
           total, over, r.cooc.n ? 100.0 * (double)over / (double)r.cooc.n : 0, o->x_max);
    const int w = text_vocab_find(r.vocab, o->word);
    if (w <= 0) {
        ex_die("--word \"%s\" is not in the vocabulary", o->word);
    }
    size_t n = 0;
    for (size_t k = 0; k < r.cooc.n; k++)
        if (r.cooc.pairs[k].i == w) r.cooc.pairs[n++] = r.cooc.pairs[k];
    qsort(r.cooc.pairs, n, sizeof *r.cooc.pairs, pair_by_x);
    printf("glove: the strongest co-occurrences of \"%s\" (%zu partners):\n ", o->word, n);
    for (size_t k = 0; k < n && k < (size_t)o->v.top * 2; k++)
        printf(" %s %.1f", text_vocab_word(r.vocab, r.cooc.pairs[k].j), r.cooc.pairs[k].x);
    printf("\n");
    glove_cooc_free(&r.cooc);
    text_ids_free(&r.ids);
    text_vocab_free(r.vocab);
    return 0;
}

/* ------------------------------------------------------- saved vectors ---- */

static int cmd_look(options *o) {
    const char *path = o->v.vectors;
    char *own = NULL;
    if (!path) path = own = ex_joined(o->v.out, "/vectors.txt");
    wv_table t;
    const nn_status s = wv_load(path, WV_GLOVE_TEXT, 0, &t);
    if (s != NN_OK) {
        if (s == NN_ERR_IO && !o->v.vectors)
            ex_die("%s (train first, or name the vectors with --vectors)", nn_last_error());
        ex_check_status(s);
    }
    if (t.n < 2) ex_die("%s: %d words: too few to compare", path, t.n);
    int status = 0;
    const int limit = (int)o->v.limit, top = (int)o->v.top;
    if (!strcmp(o->v.command, "nearest")) {
        for (int k = 0; k < o->v.nargs; k++) {
            const int id = find_word(&t, o->v.args[k], path);
            if (id < 0) status = 1;
            else show_nearest(&t, id, limit, top);
        }
    } else if (!strcmp(o->v.command, "analogy")) {
        int abc[3];
        for (int w = 0; w < 3; w++)
            if ((abc[w] = find_word(&t, o->v.args[w], path)) < 0) status = 1;
        if (status == 0) show_analogy(&t, abc, limit, top);
    } else {
        wv_analogy_result a;
        ex_check_status(wv_eval_analogies(&t, o->v.args[0], limit, &a));
        if (a.questions == 0) ex_die("%s: no questions in it (\"a b c d\" lines)", o->v.args[0]);
        print_accuracy(&a, limit);
    }
    wv_table_free(&t);
    free(own);
    return status;
}

int main(int argc, char **argv) {
    ex_init(argc, argv);
    options o;
    parse_options(argc, argv, &o);
    if (o.v.threads) ad_set_num_threads((int)o.v.threads);
    if (!strcmp(o.v.command, "train") || !strcmp(o.v.command, "count")) {
        if (!o.data) o.data = ex_data_path("words.txt");
        return !strcmp(o.v.command, "train") ? cmd_train(&o) : cmd_count(&o);
    }
    return cmd_look(&o);
}
