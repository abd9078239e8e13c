/*
 * window_lm — the fixed-window neural language model (models/window_lm.h, FORMULAS §5) on real
 * text, side by side with the smoothed n-gram model it was meant to beat (models/ngram.h:
 * interpolated modified Kneser-Ney).
 *
 *   window_lm [train] [options]   train (the default: ~1 min on the State of the Union addresses),
 *                                 then print the validation perplexity of both models and a few
 *                                 sampled sentences
 *   window_lm eval                perplexity of a checkpoint and of Kneser-Ney, validation and test
 *   window_lm generate            sample sentences from a checkpoint, after a prompt
 *   window_lm --tour              a ~40 s version of train, for the README's tour
 *
 * Data and split. A corpus is one sentence per line, tokens separated by spaces (the cache's
 * sotu.words by default: 61k sentences, 2M tokens, addresses from 1790 on in order; kjv.words
 * works as well). Its lines are split contiguously: the first 90% train, the next 5% validate,
 * the last 5% (the most recent addresses) test (--split). The vocabulary is the --vocab most
 * frequent words of the training lines; every other word is <unk>, and "</s>" ends each line.
 * Both models predict every token of a split, <unk> and </s> included, each from the words
 * before it in its own sentence (<s> in front of the first): their perplexities are of the same
 * events. eval reads --data (the same default) with the checkpoint's vocabulary and split, and
 * fits the Kneser-Ney model to its training lines again (a few seconds).
 *
 * A run writes into --out DIR: model.safetensors (the checkpoint: weights, Adam's state, the
 * model's shape, the split and where training stood, as counters), model.safetensors.vocab (the
 * vocabulary), curve.csv and curve.png (training and validation loss against the step). eval,
 * generate and --resume read the shape from the checkpoint; an option that disagrees with it is
 * an error, as is a checkpoint of another model. A resumed run goes on exactly as the
 * uninterrupted one would (the sampler's state is a counter).
 */
#include "common.h"
#include "run.h"
#include "ngram.h"
#include "text.h"
#include "window_lm.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define EOS_WORD "</s>"

/* ---------------------------------------------------------------- options ---- */

/* Options that fix the model or the split: read from a checkpoint, an error when they disagree. */
enum { S_WINDOW, S_EMBED, S_HIDDEN, S_TRAIN_PPM, S_VALID_PPM, S_COUNT };
static const char *const shape_option[S_COUNT] = {"--window", "--embed", "--hidden", "--split",
                                                  "--split"};

typedef struct options {
    const char *command; /* train, eval, generate */
    const char *data;    /* NULL: the cache's sotu.words */
    const char *out, *model, *resume;
    long shape[S_COUNT];
    bool shape_given[S_COUNT];
    long max_vocab, order;
    long batch, steps, eval_every, valid_tokens, checkpoint_every, threads;
    double lr, lr_final, clip;
    uint64_t seed;
    const char *prompt;
    long sentences, length;
    double temperature;
    bool tour;
} options;

static void usage(FILE *f) {
    fprintf(f,
"usage: window_lm [train|eval|generate] [options]\n"
"\n"
"A fixed-window neural language model (Bengio et al. 2003): the embeddings of the previous N\n"
"words, concatenated, a tanh layer, a softmax over the vocabulary; against an interpolated\n"
"modified Kneser-Ney n-gram model on the same split.\n"
"\n"
"  train     train, then print the validation perplexity of both models and a few sampled\n"
"            sentences (the default command; with no options ~1 min on the State of the Union\n"
"            addresses)\n"
"  eval      perplexities of a checkpoint and of Kneser-Ney on the validation and test lines\n"
"  generate  sample sentences from a checkpoint after a prompt\n"
"\n"
"data:\n"
"  --data FILE          corpus, one sentence per line, tokens separated by spaces\n"
"                       (default: sotu.words of the data cache; kjv.words works as well)\n"
"  --split TRAIN,VALID  fractions of the lines for training and validation, the rest for test,\n"
"                       contiguous in that order (default 0.9,0.05)\n"
"  --vocab N            keep the N most frequent words of the training lines, <unk> and </s>\n"
"                       included; the others are <unk> (default 10000)\n"
"model:\n"
"  --window N           context words (default 4: a 5-gram model)\n"
"  --embed N            embedding width (default 64)\n"
"  --hidden N           tanh units (default 128)\n"
"  --order N            of the Kneser-Ney baseline, 1..%d (default window + 1)\n"
"training:\n"
"  --batch B            windows per step, drawn at random from the training lines (default 256)\n"
"  --lr X               Adam's learning rate at the first step (default 0.006)\n"
"  --lr-final X         ... decayed linearly to X at the last (default: a tenth of --lr)\n"
"  --clip X             clip the gradient's norm to X, 0 for none (default 5)\n"
"  --steps N            updates (default 1500)\n"
"  --eval-every N       validation loss every N steps, into the curve (default 250)\n"
"  --valid-tokens N     the curve scores the first N validation tokens (0: all; default 10000);\n"
"                       the final figures score all of them\n"
"  --checkpoint-every N save the checkpoint every N steps as well as at the end (default 0)\n"
"  --resume PATH        continue the run of a checkpoint (its shape and split are used)\n"
"  --out DIR            where the checkpoint, curve.csv and curve.png go (default window_lm.out)\n"
"  --seed N             initial weights, the windows drawn, sampling (default 1)\n"
"  --threads N          threads for the products and kernels (default: every core)\n"
"  --tour               a ~40 s run on the default data (1500 steps of 128, --vocab 5000,\n"
"                       --lr 0.015), then the perplexities of both models and of their mixture, and\n"
"                       a few sentences\n"
"eval and generate:\n"
"  --model PATH         the checkpoint (default DIR/model.safetensors of --out)\n"
"generation (also after training):\n"
"  --prompt TEXT        the first sentence starts with these words (default: none); unknown\n"
"                       words are read as <unk>\n"
"  --sentences N        sentences to sample (default 3; 0: none)\n"
"  --length N           at most N words per sentence (default 40)\n"
"  --temperature T      divides the logits; 0 takes the most likely word (default 0.8)\n"
"  -h, --help           this text\n", NGRAM_MAX_ORDER);
}

static void parse_split(options *o, const char *arg) {
    char buf[64];
    snprintf(buf, sizeof buf, "%s", arg);
    char *comma = strchr(buf, ',');
    if (!comma) ex_die("--split: '%s' is not TRAIN,VALID (e.g. 0.9,0.05)", arg);
    *comma = 0;
    const double tr = ex_parse_double("--split", buf, 0, 1);
    const double va = ex_parse_double("--split", comma + 1, 0, 1);
    if (tr <= 0 || va <= 0 || tr + va >= 1)
        ex_die("--split: %s: both must be > 0, and their sum < 1 to leave test lines", arg);
    o->shape[S_TRAIN_PPM] = lround(tr * 1e6);
    o->shape[S_VALID_PPM] = lround(va * 1e6);
    o->shape_given[S_TRAIN_PPM] = o->shape_given[S_VALID_PPM] = true;
}

static void parse_options(int argc, char **argv, options *o) {
    *o = (options){.command = "train", .out = "window_lm.out", .max_vocab = 10000, .batch = 256,
                   .steps = 1500, .eval_every = 250, .valid_tokens = 10000, .lr = 0.006,
                   .lr_final = -1, .clip = 5, .seed = 1, .sentences = 3, .length = 40,
                   .temperature = 0.8};
    const long shape_default[S_COUNT] = {4, 64, 128, 900000, 50000};
    memcpy(o->shape, shape_default, sizeof o->shape);
    static const char *const commands[] = {"train", "eval", "generate"};
    o->command = ex_take_command(&argc, &argv, commands, 3, o->command);
    enum { O_DATA = 256, O_SPLIT, O_VOCAB, O_WINDOW, O_EMBED, O_HIDDEN, O_ORDER, O_BATCH, O_LR,
           O_LRFINAL, O_CLIP, O_STEPS, O_EVALEVERY, O_VALIDTOK, O_CKEVERY, O_RESUME, O_OUT, O_SEED,
           O_THREADS, O_TOUR, O_MODEL, O_PROMPT, O_SENTENCES, O_LENGTH, O_TEMP };
    static const struct option longs[] = {
        {"data", 1, 0, O_DATA}, {"split", 1, 0, O_SPLIT}, {"vocab", 1, 0, O_VOCAB},
        {"window", 1, 0, O_WINDOW}, {"embed", 1, 0, O_EMBED}, {"hidden", 1, 0, O_HIDDEN},
        {"order", 1, 0, O_ORDER}, {"batch", 1, 0, O_BATCH}, {"lr", 1, 0, O_LR},
        {"lr-final", 1, 0, O_LRFINAL}, {"clip", 1, 0, O_CLIP}, {"steps", 1, 0, O_STEPS},
        {"eval-every", 1, 0, O_EVALEVERY},
        {"valid-tokens", 1, 0, O_VALIDTOK}, {"checkpoint-every", 1, 0, O_CKEVERY},
        {"resume", 1, 0, O_RESUME}, {"out", 1, 0, O_OUT}, {"seed", 1, 0, O_SEED},
        {"threads", 1, 0, O_THREADS}, {"tour", 0, 0, O_TOUR}, {"model", 1, 0, O_MODEL},
        {"prompt", 1, 0, O_PROMPT}, {"sentences", 1, 0, O_SENTENCES},
        {"length", 1, 0, O_LENGTH}, {"temperature", 1, 0, O_TEMP}, {"help", 0, 0, 'h'},
        {0, 0, 0, 0}};
    bool steps_given = false, eval_given = false, vocab_given = false, batch_given = false,
         lr_given = false;
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", longs, NULL)) != -1) {
        const char *a = optarg;
        int s = -1;
        switch (c) {
        case 'h': usage(stdout); exit(0);
        case O_DATA: o->data = a; break;
        case O_SPLIT: parse_split(o, a); break;
        case O_VOCAB: o->max_vocab = ex_parse_long("--vocab", a, 3, INT_MAX), vocab_given = true;
            break;
        case O_WINDOW: o->shape[s = S_WINDOW] = ex_parse_long("--window", a, 1, 64); break;
        case O_EMBED: o->shape[s = S_EMBED] = ex_parse_long("--embed", a, 1, 1 << 16); break;
        case O_HIDDEN: o->shape[s = S_HIDDEN] = ex_parse_long("--hidden", a, 1, 1 << 16); break;
        case O_ORDER: o->order = ex_parse_long("--order", a, 1, NGRAM_MAX_ORDER); break;
        case O_BATCH: o->batch = ex_parse_long("--batch", a, 1, 1 << 20), batch_given = true;
            break;
        case O_LR: o->lr = ex_parse_double("--lr", a, 1e-12, 1e6), lr_given = true; break;
        case O_LRFINAL: o->lr_final = ex_parse_double("--lr-final", a, 0, 1e6); break;
        case O_CLIP: o->clip = ex_parse_double("--clip", a, 0, 1e12); break;
        case O_STEPS: o->steps = ex_parse_long("--steps", a, 1, LONG_MAX), steps_given = true;
            break;
        case O_EVALEVERY:
            o->eval_every = ex_parse_long("--eval-every", a, 1, LONG_MAX), eval_given = true;
            break;
        case O_VALIDTOK: o->valid_tokens = ex_parse_long("--valid-tokens", a, 0, LONG_MAX); break;
        case O_CKEVERY: o->checkpoint_every = ex_parse_long("--checkpoint-every", a, 0, LONG_MAX);
            break;
        case O_RESUME: o->resume = a; break;
        case O_OUT: o->out = a; break;
        case O_SEED: o->seed = (uint64_t)ex_parse_long("--seed", a, 0, LONG_MAX); break;
        case O_THREADS: o->threads = ex_parse_long("--threads", a, 1, 1024); break;
        case O_TOUR: o->tour = true; break;
        case O_MODEL: o->model = a; break;
        case O_PROMPT: o->prompt = a; break;
        case O_SENTENCES: o->sentences = ex_parse_long("--sentences", a, 0, 100000); break;
        case O_LENGTH: o->length = ex_parse_long("--length", a, 1, 100000); break;
        case O_TEMP: o->temperature = ex_parse_double("--temperature", a, 0, 1e6); break;
        default: ex_option_error(c, argv);
        }
        if (s >= 0) o->shape_given[s] = true;
    }
    if (optind < argc) ex_die("unexpected argument '%s' (--help for the options)", argv[optind]);
    if (o->resume && strcmp(o->command, "train"))
        ex_die("--resume is for train; %s takes --model", o->command);
    if (o->tour) {
        /* ~20 s of training on 2 cores: half the vocabulary halves the softmax, the largest
         * product, and smaller batches at a higher rate make more steps of it */
        if (strcmp(o->command, "train")) ex_die("--tour is a short train: not for %s", o->command);
        if (!steps_given) o->steps = 1500;
        if (!eval_given) o->eval_every = 500;
        if (!vocab_given) o->max_vocab = 5000;
        if (!batch_given) o->batch = 128;
        if (!lr_given) o->lr = 0.015;
    }
    if (o->lr_final < 0) o->lr_final = o->lr / 10;
}

/* ----------------------------------------------------------- checkpoints ---- */

/* A checkpoint's counters: the shape and split, then where training stood. */
enum { C_WINDOW, C_EMBED, C_HIDDEN, C_TRAIN_PPM, C_VALID_PPM, C_STEP, C_SAMPLER, C_COUNT };
static const char *const counter_name[C_COUNT] = {
    "wlm.window", "wlm.embed", "wlm.hidden", "wlm.train_ppm", "wlm.valid_ppm", "step", "sampler"};

/* A checkpoint's counters, read before a model exists to load it into; nn_checkpoint_load checks
 * everything else afterwards. Dies with a message naming the file on failure. */
static void peek_counters(const char *path, uint64_t *values) {
    nn_counters c = ex_counters(C_COUNT, counter_name, NULL);
    ex_counters_peek(path, "window_lm", &c);
    memcpy(values, c.value, C_COUNT * sizeof *values);
    if (values[C_WINDOW] < 1 || values[C_WINDOW] > 64 || values[C_EMBED] < 1 ||
        values[C_EMBED] > 1 << 16 || values[C_HIDDEN] < 1 || values[C_HIDDEN] > 1 << 16 ||
        values[C_TRAIN_PPM] + values[C_VALID_PPM] >= 1000000)
        ex_die("%s: its window_lm configuration is out of range", path);
}

/* Take the shape and split from a checkpoint's counters; a given option that disagrees dies. */
static void shape_from_checkpoint(options *o, const char *path, const uint64_t *c) {
    for (int s = 0; s < S_COUNT; s++) {
        if (o->shape_given[s] && o->shape[s] != (long)c[s])
            ex_die("%s disagrees with %s, a checkpoint of a model with %s %ld (%s %ld given): "
                   "leave the option out (it is read from the checkpoint) or start a new run",
                   shape_option[s], path, shape_option[s] + 2, (long)c[s], shape_option[s],
                   o->shape[s]);
        o->shape[s] = (long)c[s];
    }
}

/* ------------------------------------------------------------------- a run ---- */

typedef struct run {
    options *o;
    text_vocab *vocab;
    int V, eos;
    text_ids ids;
    text_span train, valid, test;
    ad_params *ps;
    wlm m;
    nn_optim *opt;
    ad_tape *tp;
    nn_rng sampler; /* which windows each step trains on */
    long step;
} run;

static const char *base_name(const char *path) {
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

static double frac(long ppm) { return (double)ppm / 1e6; }

/* The vocabulary a checkpoint saved. */
static void load_vocab(run *r, const char *checkpoint) {
    char *path = ex_joined(checkpoint, ".vocab");
    ex_check_status(text_vocab_load(path, &r->vocab));
    r->eos = text_vocab_find(r->vocab, EOS_WORD);
    if (r->eos < 0) ex_die("%s: it has no \"%s\": not a vocabulary of window_lm", path, EOS_WORD);
    free(path);
    r->V = text_vocab_size(r->vocab);
}

/* The corpus as ids of a vocabulary built from its training lines only (so no word is known
 * for appearing in the held-out lines), or of the vocabulary a checkpoint saved. */
static void load_data(run *r, const char *checkpoint) {
    const options *o = r->o;
    if (checkpoint) {
        load_vocab(r, checkpoint);
        ex_check_status(text_read(o->data, TEXT_WORDS, r->vocab, r->eos, &r->ids));
    } else {
        /* Every word of the file first, to read it as ids and find the training lines... */
        text_vocab *all = text_vocab_new();
        ex_check_status(text_count(o->data, TEXT_WORDS, all));
        const int all_eos = text_vocab_add(all, EOS_WORD, 0);
        ex_check_status(text_read(o->data, TEXT_WORDS, all, all_eos, &r->ids));
        text_split(&r->ids, frac(o->shape[S_TRAIN_PPM]), frac(o->shape[S_VALID_PPM]), &r->train,
                   &r->valid, &r->test);
        /* ... then the vocabulary of their counts, and every id renamed into it. */
        r->vocab = ex_vocab_of_ids(all, r->train.ids, r->train.n, 1, (int)o->max_vocab);
        r->eos = text_vocab_find(r->vocab, EOS_WORD);
        if (r->eos < 0) r->eos = text_vocab_add(r->vocab, EOS_WORD, 0); /* a --vocab of 2 */
        ex_ids_rename(r->ids.ids, r->ids.n, all, r->vocab);
        text_vocab_free(all);
    }
    r->V = text_vocab_size(r->vocab);
    text_split(&r->ids, frac(o->shape[S_TRAIN_PPM]), frac(o->shape[S_VALID_PPM]), &r->train,
               &r->valid, &r->test);
    if (r->train.n < 2 || r->valid.n < 1 || r->test.n < 1)
        ex_die("%s: %zu lines split into %zu training, %zu validation and %zu test tokens: too "
               "little text for --split %.3g,%.3g", o->data, r->ids.nlines, r->train.n,
               r->valid.n, r->test.n, frac(o->shape[S_TRAIN_PPM]), frac(o->shape[S_VALID_PPM]));
    if (r->V < 3) ex_die("%s: a vocabulary of %d words: nothing to learn", o->data, r->V);
}

static void build_model(run *r) {
    const options *o = r->o;
    nn_rng init = nn_rng_new(o->seed);
    r->ps = ad_params_new();
    const wlm_config cfg = {.vocab = r->V, .eos = r->eos, .window = (int)o->shape[S_WINDOW],
                            .embed = (int)o->shape[S_EMBED], .hidden = (int)o->shape[S_HIDDEN]};
    wlm_init(&r->m, r->ps, "wlm", &cfg, &init);
    r->tp = ad_tape_new();
    r->sampler = nn_rng_new(o->seed ^ 0xD1CE);
}

static void save_checkpoint(run *r, const char *path) {
    const options *o = r->o;
    const uint64_t v[C_COUNT] = {
        (uint64_t)o->shape[S_WINDOW], (uint64_t)o->shape[S_EMBED], (uint64_t)o->shape[S_HIDDEN],
        (uint64_t)o->shape[S_TRAIN_PPM], (uint64_t)o->shape[S_VALID_PPM], (uint64_t)r->step,
        r->sampler.state};
    nn_counters c = ex_counters(C_COUNT, counter_name, v);
    ex_check_status(nn_checkpoint_save(path, r->ps, r->opt, &c));
}

/* Weights (and, with an optimizer, its state and the position) from a checkpoint whose shape was
 * already taken by shape_from_checkpoint. */
static void load_checkpoint(run *r, const char *path) {
    nn_counters c = ex_counters(C_COUNT, counter_name, NULL);
    const nn_status s = nn_checkpoint_load(path, r->ps, r->opt, &c);
    if (s == NN_ERR_MISMATCH)
        ex_die("%s does not fit this model (window %ld, embed %ld, hidden %ld, %d words in "
               "%s.vocab): %s", path, r->o->shape[S_WINDOW], r->o->shape[S_EMBED],
               r->o->shape[S_HIDDEN], r->V, path, nn_last_error());
    ex_check_status(s);
    r->step = (long)c.value[C_STEP];
    r->sampler.state = c.value[C_SAMPLER];
}

/* The checkpoint of eval and generate: its shape, vocabulary, weights, and the data for eval. */
static void open_model(run *r, bool data) {
    options *o = r->o;
    if (!o->model) o->model = ex_joined(o->out, "/model.safetensors"); /* lives until exit */
    uint64_t c[C_COUNT];
    peek_counters(o->model, c);
    shape_from_checkpoint(o, o->model, c);
    if (data) load_data(r, o->model);
    else load_vocab(r, o->model);
    build_model(r);
    load_checkpoint(r, o->model);
}

static void free_run(run *r) {
    ad_tape_free(r->tp);
    nn_optim_free(r->opt);
    ad_params_free(r->ps);
    text_ids_free(&r->ids);
    text_vocab_free(r->vocab);
}

/* ------------------------------------------------------------ evaluation ---- */

static ngram_lm *kneser_ney(const run *r) {
    const int order = r->o->order ? (int)r->o->order : (int)r->o->shape[S_WINDOW] + 1;
    ngram_lm *lm = ngram_new(&(ngram_config){.order = order < NGRAM_MAX_ORDER ? order
                                                                              : NGRAM_MAX_ORDER,
                                             .vocab = r->V, .eos = r->eos, .discounts = 3});
    ngram_count(lm, r->train.ids, r->train.n);
    ngram_estimate(lm);
    return lm;
}

static double unk_rate(text_span s) {
    size_t n = 0;
    for (size_t i = 0; i < s.n; i++) n += s.ids[i] == TEXT_UNK;
    return s.n ? (double)n / (double)s.n : 0;
}

enum { EVAL_BATCH = 512 };

/* ln P(mixture) of one token: λ P_wlm + (1 - λ) P_kn, from the two log-probabilities. */
static double mix_logp(double lw, double lk, double lambda) {
    const double mx = fmax(lw, lk);
    return mx + log(lambda * exp(lw - mx) + (1 - lambda) * exp(lk - mx));
}

/* The mean negative log-likelihood of the mixture, or of lw alone when lk is NULL. */
static double mean_nll(const double *lw, const double *lk, size_t n, double lambda) {
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s -= lk ? mix_logp(lw[i], lk[i], lambda) : lw[i];
    return s / (double)n;
}

/* Both models' perplexities on the named splits, one line each. With mix, also the two models
 * interpolated (Bengio et al. mixed theirs with an n-gram model too), the weight λ of the
 * window LM chosen on the first split (valid) from 0, 0.01, ..., 1. */
static void report(run *r, const ngram_lm *kn, const char *const *names, const text_span *spans,
                   int n, bool mix) {
    const options *o = r->o;
    printf("window_lm: perplexity on %s (%d words with <unk> and </s>; every token counts)\n",
           base_name(o->data), r->V);
    char kn_name[48];
    snprintf(kn_name, sizeof kn_name, "Kneser-Ney %d-gram", ngram_get_config(kn)->order);
    double lambda = 0.5;
    for (int i = 0; i < n; i++) {
        const size_t len = spans[i].n;
        double *lw = malloc(len * sizeof *lw), *lk = malloc(len * sizeof *lk);
        if (!lw || !lk) ex_die("out of memory");
        wlm_logprobs(r->tp, &r->m, spans[i].ids, len, EVAL_BATCH, lw);
        ngram_logprobs(kn, spans[i].ids, len, lk);
        if (mix && i == 0) {
            double best = INFINITY;
            for (int k = 0; k <= 100; k++) {
                const double l = mean_nll(lw, lk, len, k / 100.0);
                if (l < best) best = l, lambda = k / 100.0;
            }
        }
        if (i == 0) {
            printf("  %-6s %9s %7s %12s %18s", "split", "tokens", "<unk>", "window LM", kn_name);
            if (mix) printf("   mixed, λ = %.2f", lambda);
            printf("\n");
        }
        printf("  %-6s %9zu %6.2f%% %12.2f %18.2f", names[i], len, 100 * unk_rate(spans[i]),
               exp(mean_nll(lw, NULL, len, 0)), exp(mean_nll(lk, NULL, len, 0)));
        if (mix) printf(" %17.2f", exp(mean_nll(lw, lk, len, lambda)));
        printf("\n");
        free(lw), free(lk);
    }
}

/* ------------------------------------------------------------- generation ---- */

/* The prompt's words as ids (lower case, as the cache is); unknown words become <unk>. */
static int *encode_prompt(const run *r, const char *prompt, int *n) {
    const size_t len = strlen(prompt);
    int *ids = malloc((len / 2 + 1) * sizeof *ids);
    char *word = malloc(len + 1);
    if (!ids || !word) ex_die("out of memory");
    *n = 0;
    for (const char *p = prompt; *p;) {
        while (*p && isspace((unsigned char)*p)) p++;
        size_t k = 0;
        while (*p && !isspace((unsigned char)*p)) word[k++] = (char)tolower((unsigned char)*p++);
        if (k == 0) break;
        word[k] = 0;
        const int id = text_vocab_id(r->vocab, word);
        if (id == TEXT_UNK && strcmp(word, TEXT_UNK_WORD) != 0)
            fprintf(stderr, "%s: --prompt: \"%s\" is not in the vocabulary: read as %s\n",
                    ex_program, word, TEXT_UNK_WORD);
        ids[(*n)++] = id;
    }
    free(word);
    return ids;
}

/* Sentences sampled word by word, each next word drawn from the window of the words before it;
 * the first sentence continues the prompt. */
static void generate(run *r, const int *prompt, int n_prompt) {
    const options *o = r->o;
    if (o->sentences <= 0) return;
    const size_t cap = (size_t)n_prompt + (size_t)o->length + 1;
    int *s = malloc(cap * sizeof *s), *ctx = malloc((size_t)o->shape[S_WINDOW] * sizeof *ctx);
    if (!s || !ctx) ex_die("out of memory");
    nn_rng rng = nn_rng_new(o->seed ^ 0x5EED);
    printf("--- %ld sentences at temperature %g ---\n", o->sentences, o->temperature);
    for (long k = 0; k < o->sentences; k++) {
        size_t n = 0;
        if (k == 0)
            for (int i = 0; i < n_prompt; i++) s[n++] = prompt[i];
        for (long w = 0; w < o->length; w++) {
            wlm_window(&r->m.cfg, s, n, ctx); /* s is one sentence: <s> before it */
            const int next = wlm_sample(r->tp, &r->m, ctx, o->temperature, &rng);
            if (next == r->eos) break;
            s[n++] = next;
        }
        for (size_t i = 0; i < n; i++)
            printf("%s%s", i ? " " : "", text_vocab_word(r->vocab, s[i]));
        printf("\n");
    }
    printf("---\n");
    free(s), free(ctx);
}

/* ----------------------------------------------------------------- train ---- */

/* Adam's rate: linear from --lr at the first step to --lr-final at the last. */
static double lr_at(const options *o, long step) {
    const double t = o->steps > 1 ? (double)step / (double)(o->steps - 1) : 0;
    return o->lr + (o->lr_final - o->lr) * t;
}

static int cmd_train(options *o) {
    run r = {.o = o};
    uint64_t c[C_COUNT];
    if (o->resume) {
        peek_counters(o->resume, c);
        shape_from_checkpoint(o, o->resume, c);
    }
    load_data(&r, o->resume);
    int n_prompt = 0;
    int *prompt = o->prompt && o->sentences > 0 ? encode_prompt(&r, o->prompt, &n_prompt) : NULL;
    build_model(&r);
    r.opt = nn_optim_new(r.ps, &(nn_optim_config){.kind = NN_ADAM, .lr = o->lr, .sparse = true});
    if (mkdir(o->out, 0777) != 0 && errno != EEXIST)
        ex_die("%s: cannot make the directory: %s", o->out, strerror(errno));
    char *ckpt = ex_joined(o->out, "/model.safetensors"), *vocab_path = ex_joined(ckpt, ".vocab");
    char *csv = ex_joined(o->out, "/curve.csv"), *png = ex_joined(o->out, "/curve.png");
    if (o->resume) load_checkpoint(&r, o->resume);
    if (r.step > o->steps)
        ex_die("%s is at step %ld, past the %ld steps asked for (--steps)", o->resume, r.step,
               o->steps);
    ex_check_status(text_vocab_save(r.vocab, vocab_path));

    printf("window_lm: %s, %zu lines: %zu training, %zu validation, %zu test tokens; %d words\n",
           base_name(o->data), r.ids.nlines, r.train.n, r.valid.n, r.test.n, r.V);
    printf("window_lm: window %ld, embed %ld, hidden %ld (%zu parameters); batch %ld, Adam lr %g "
           "to %g, clip %g, %ld steps (%.2f epochs)\n", o->shape[S_WINDOW], o->shape[S_EMBED],
           o->shape[S_HIDDEN], ad_params_size(r.ps), o->batch, o->lr, o->lr_final, o->clip,
           o->steps, (double)o->steps * (double)o->batch / (double)r.train.n);
    if (o->resume) printf("window_lm: resuming %s at step %ld\n", o->resume, r.step);

    const int B = (int)o->batch, W = (int)o->shape[S_WINDOW];
    const text_span valid = ex_first_tokens(r.valid, o->valid_tokens);
    ex_curve *curve = ex_curve_open(csv, "step,train_loss,valid_loss");
    ex_progress *prog = ex_progress_new("train", o->steps, 10);
    size_t *pos = malloc((size_t)B * sizeof *pos);
    int *ctx = malloc((size_t)B * W * sizeof *ctx), *y = malloc((size_t)B * sizeof *y);
    if (!pos || !ctx || !y) ex_die("out of memory");
    double loss_sum = 0;
    long loss_n = 0, tokens = 0;
    for (; r.step < o->steps; r.step++) {
        for (int b = 0; b < B; b++) pos[b] = nn_rng_below(&r.sampler, (uint32_t)r.train.n);
        wlm_batch(&r.m.cfg, r.train.ids, pos, B, ctx, y);
        nn_optim_set_lr(r.opt, lr_at(o, r.step));
        const double J = nn_train_step(r.tp, wlm_loss(r.tp, &r.m, ctx, y, B), r.opt, o->clip);
        ad_tape_reset(r.tp);
        if (!isfinite(J))
            ex_die("the loss is %g at step %ld: training diverged (a lower --lr?)", J, r.step + 1);
        loss_sum += J, loss_n++, tokens += B;
        ex_progress_update(prog, r.step + 1, tokens, J);
        const bool last = r.step + 1 == o->steps;
        if ((r.step + 1) % o->eval_every == 0 || last) {
            const double v = wlm_nll(r.tp, &r.m, valid.ids, valid.n, EVAL_BATCH) / (double)valid.n;
            ex_curve_row(curve, (double[]){(double)(r.step + 1), loss_sum / (double)loss_n, v});
            loss_sum = 0, loss_n = 0;
        }
        if (ex_checkpoint_due(o->checkpoint_every, (uint64_t)r.step + 1, last)) {
            r.step++; /* the checkpoint holds the step to do next */
            save_checkpoint(&r, ckpt);
            r.step--;
        }
    }
    ex_progress_done(prog);
    ex_curve_close(curve);
    save_checkpoint(&r, ckpt);
    printf("window_lm: checkpoint %s (vocabulary %s)\n", ckpt, vocab_path);
    ex_plot_and_say(csv, png, "window_lm: loss (nats/token)", "train_loss,valid_loss");

    ngram_lm *kn = kneser_ney(&r);
    if (o->tour) /* as eval reports: the mixture, its λ chosen on valid, shows what it adds */
        report(&r, kn, (const char *const[]){"valid", "test"}, (text_span[]){r.valid, r.test}, 2,
               true);
    else
        report(&r, kn, (const char *const[]){"valid"}, &r.valid, 1, false);
    ngram_free(kn);
    if (o->tour)
        printf("window_lm: (a short run: Kneser-Ney has counted every training word, the window "
               "LM has seen\n  %.0f%% of them once; bench/quality/window_lm.sh trains it longer)\n",
               100.0 * (double)o->steps * (double)o->batch / (double)r.train.n);
    generate(&r, prompt, n_prompt);
    free(prompt), free(pos), free(ctx), free(y);
    free(ckpt), free(vocab_path), free(csv), free(png);
    free_run(&r);
    return 0;
}

/* ------------------------------------------------------ eval and generate ---- */

static int cmd_eval(options *o) {
    run r = {.o = o};
    open_model(&r, true);
    ngram_lm *kn = kneser_ney(&r);
    report(&r, kn, (const char *const[]){"valid", "test"}, (text_span[]){r.valid, r.test}, 2,
           true);
    ngram_free(kn);
    free_run(&r);
    return 0;
}

static int cmd_generate(options *o) {
    run r = {.o = o};
    open_model(&r, false);
    int n = 0;
    int *prompt = o->prompt ? encode_prompt(&r, o->prompt, &n) : NULL;
    generate(&r, prompt, n);
    free(prompt);
    free_run(&r);
    return 0;
}

int main(int argc, char **argv) {
    ex_init(argc, argv);
    options o;
    parse_options(argc, argv, &o);
    if (o.threads) ad_set_num_threads((int)o.threads);
    if (!o.data && strcmp(o.command, "generate") != 0) o.data = ex_data_path("sotu.words");
    if (strcmp(o.command, "train") == 0) return cmd_train(&o);
    return strcmp(o.command, "eval") == 0 ? cmd_eval(&o) : cmd_generate(&o);
}
