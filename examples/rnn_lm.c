/*
 * rnn_lm — a recurrent language model (models/rnn_lm.h) on real text: train, evaluate, generate.
 *
 *   rnn_lm [train] [options]           train (the default: a char-level LSTM on the King James
 *                                      Bible, ~30 s), then print the validation perplexity and a
 *                                      generated passage
 *   rnn_lm eval --model PATH           perplexity (and bits per character) on a split
 *   rnn_lm generate --model PATH       sample a passage after a prompt
 *
 * A run writes into --out DIR: model.safetensors (the checkpoint: weights, optimizer state, the
 * model's configuration and the position in the data as counters), model.safetensors.vocab (the
 * vocabulary), curve.csv and curve.png (training and validation loss against the step).
 *
 * Checkpoints. The configuration (level, cell, layers, widths, batch, BPTT length) is read from the
 * checkpoint, so eval, generate and --resume need no other option; an option given that disagrees
 * with it is an error, as is a checkpoint of another model. The state carried between windows is
 * part of the checkpoint (a frozen tensor "train.carry"), so a resumed run goes on exactly as
 * the uninterrupted one would.
 *
 * Prompts. At word level an unknown word becomes <unk> (a note says which). At character level a
 * character the model never saw is an error naming it: the model has no <unk> for characters.
 */
#include "common.h"
#include "run.h"
#include "rnn_lm.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---------------------------------------------------------------- options ---- */

/* Options that fix the model's shape or the data's layout: taken from a checkpoint, and an
 * error when given otherwise. */
enum { S_LEVEL, S_CELL, S_LAYERS, S_EMBED, S_HIDDEN, S_BATCH, S_BPTT, S_COUNT };
static const char *const shape_option[S_COUNT] = {"--level", "--cell", "--layers", "--embed",
                                                  "--hidden", "--batch", "--bptt"};

typedef struct options {
    const char *command; /* train, eval, generate */
    const char *data;    /* NULL: the cache's kjv.txt */
    const char *out;     /* the run's directory */
    const char *model;   /* eval, generate: the checkpoint */
    const char *resume;
    /* the model and its data */
    long shape[S_COUNT];
    bool shape_given[S_COUNT];
    double dropout, forget_bias;
    long min_count, max_vocab;
    double train_frac, valid_frac;
    const char *split; /* eval: train, valid or test */
    /* training */
    nn_optim_kind optim;
    double lr, clip;
    long steps, epochs;
    long checkpoint_every, eval_every, log_every, valid_tokens;
    uint64_t seed;
    long threads;
    const char *save_init, *dump_ids;
    bool tour;
    /* generation */
    const char *prompt;
    long length;
    double temperature;
} options;

static void usage(FILE *f) {
    fprintf(f,
"usage: rnn_lm [train|eval|generate] [options]\n"
"\n"
"  train     train a language model, then report its validation perplexity and generate a\n"
"            passage (the default command; with no options a ~30 s tour: a character-level\n"
"            LSTM on the King James Bible)\n"
"  eval      perplexity of a checkpoint on a split of the corpus\n"
"  generate  sample text from a checkpoint after a prompt\n"
"\n"
"data:\n"
"  --data FILE          corpus, one line of text per line (default: the data cache's kjv.txt,\n"
"                       or kjv.words at word level)\n"
"  --level char|word    tokens: characters (code points, newline included) or words with </s>\n"
"                       at each line end (default char)\n"
"  --min-count N        words seen fewer times become <unk> (word level, default 2)\n"
"  --max-vocab N        keep the N most frequent tokens, <unk> included (0: all; default 0 for\n"
"                       characters, 10000 for words)\n"
"  --split TRAIN,VALID  fractions of the lines for training and validation, the rest for test,\n"
"                       contiguous in that order (default 0.9,0.05)\n"
"model:\n"
"  --cell elman|elman_relu|gru|gru_cho|lstm   (default lstm)\n"
"  --layers N           stacked layers (default 2)\n"
"  --embed N            embedding width (default 32)\n"
"  --hidden N           hidden width per layer (default 128)\n"
"  --dropout P          on embeddings, between layers and on outputs (default 0)\n"
"  --forget-bias B      LSTM forget-gate bias at init (default 1)\n"
"training:\n"
"  --bptt T             window length of truncated BPTT (default 64)\n"
"  --batch B            parallel lanes of the text (default 32)\n"
"  --optim sgd|momentum|nesterov|adagrad|rmsprop|adam   (default adam)\n"
"  --lr X               learning rate (default 0.01)\n"
"  --clip X             clip the gradient's norm to X, 0 for none (default 5)\n"
"  --steps N            updates (default 300)\n"
"  --epochs N           passes over the training split instead of --steps\n"
"  --eval-every N       validation loss every N steps, into the curve (default 100)\n"
"  --log-every N        a row of the curve (mean training loss) every N steps (default 10)\n"
"  --valid-tokens N     score the first N validation tokens only (0: all; default 20000)\n"
"  --checkpoint-every N save the checkpoint every N steps as well as at the end (default 0)\n"
"  --resume PATH        continue the run of a checkpoint (its configuration is used)\n"
"  --out DIR            where the checkpoint, curve.csv and curve.png go (default rnn_lm.out)\n"
"  --seed N             initial weights, dropout, sampling (default 1)\n"
"  --threads N          threads for the products and kernels (default: every core)\n"
"  --save-init PATH     also save the initial weights as a checkpoint (for comparisons)\n"
"  --dump-ids PREFIX    write the training and validation ids as PREFIX.train.i32 and\n"
"                       PREFIX.valid.i32 (little-endian int32; for comparisons)\n"
"eval and generate:\n"
"  --model PATH         the checkpoint (default DIR/model.safetensors of --out)\n"
"  --split train|valid|test   which part to score (eval; default valid); --split a,b as above\n"
"generation (also after training):\n"
"  --prompt TEXT        what the passage starts from (default \"And God said\", lower case for\n"
"                       words)\n"
"  --length N           tokens to generate (default 400 characters or 60 words; 0: none)\n"
"  --temperature T      divides the logits; 0 is greedy (default 0.7)\n"
"  --tour               the defaults, then passages at temperatures 0.5 and 1 (scripts/tour)\n"
"  -h, --help           this text\n");
}

static const char *const cell_names[] = {[NN_ELMAN] = "elman", [NN_ELMAN_RELU] = "elman_relu",
                                         [NN_GRU] = "gru", [NN_GRU_CHO] = "gru_cho",
                                         [NN_LSTM] = "lstm"};
enum { CELL_KINDS = sizeof cell_names / sizeof cell_names[0] };

static long parse_cell(const char *s) {
    for (int k = 0; k < CELL_KINDS; k++)
        if (strcmp(s, cell_names[k]) == 0) return k;
    ex_die("--cell: '%s' is not one of elman, elman_relu, gru, gru_cho, lstm", s);
}

static nn_optim_kind parse_optim(const char *s) {
    for (int k = NN_SGD; k <= NN_ADAM; k++)
        if (strcmp(s, nn_optim_kind_name((nn_optim_kind)k)) == 0) return (nn_optim_kind)k;
    ex_die("--optim: '%s' is not one of sgd, momentum, nesterov, adagrad, rmsprop, adam", s);
}

static const char *level_name(long level) { return level == TEXT_CHARS ? "char" : "word"; }

static void parse_options(int argc, char **argv, options *o) {
    *o = (options){.command = "train", .out = "rnn_lm.out", .dropout = 0, .forget_bias = 1,
                   .min_count = -1, .max_vocab = -1, .train_frac = 0.9, .valid_frac = 0.05,
                   .split = "valid", .optim = NN_ADAM, .lr = 0.01, .clip = 5, .steps = 300,
                   .eval_every = 100, .log_every = 10, .valid_tokens = 20000, .seed = 1, .length = -1,
                   .temperature = 0.7};
    const long shape_default[S_COUNT] = {TEXT_CHARS, NN_LSTM, 2, 32, 128, 32, 64};
    memcpy(o->shape, shape_default, sizeof o->shape);
    static const char *const commands[] = {"train", "eval", "generate"};
    o->command = ex_take_command(&argc, &argv, commands, 3, o->command);
    enum { O_DATA = 256, O_LEVEL, O_MINCOUNT, O_MAXVOCAB, O_SPLIT, O_CELL, O_LAYERS, O_EMBED,
           O_HIDDEN, O_DROPOUT, O_FORGET, O_BPTT, O_BATCH, O_OPTIM, O_LR, O_CLIP, O_STEPS,
           O_EPOCHS, O_EVALEVERY, O_LOGEVERY, O_VALIDTOK, O_CKEVERY, O_RESUME, O_OUT, O_SEED, O_THREADS,
           O_SAVEINIT, O_DUMPIDS, O_MODEL, O_PROMPT, O_LENGTH, O_TEMP, O_TOUR };
    static const struct option longs[] = {
        {"data", 1, 0, O_DATA}, {"level", 1, 0, O_LEVEL}, {"min-count", 1, 0, O_MINCOUNT},
        {"max-vocab", 1, 0, O_MAXVOCAB}, {"split", 1, 0, O_SPLIT}, {"cell", 1, 0, O_CELL},
        {"layers", 1, 0, O_LAYERS}, {"embed", 1, 0, O_EMBED}, {"hidden", 1, 0, O_HIDDEN},
        {"dropout", 1, 0, O_DROPOUT}, {"forget-bias", 1, 0, O_FORGET}, {"bptt", 1, 0, O_BPTT},
        {"batch", 1, 0, O_BATCH}, {"optim", 1, 0, O_OPTIM}, {"lr", 1, 0, O_LR},
        {"clip", 1, 0, O_CLIP}, {"steps", 1, 0, O_STEPS}, {"epochs", 1, 0, O_EPOCHS},
        {"eval-every", 1, 0, O_EVALEVERY}, {"log-every", 1, 0, O_LOGEVERY},
        {"valid-tokens", 1, 0, O_VALIDTOK},
        {"checkpoint-every", 1, 0, O_CKEVERY}, {"resume", 1, 0, O_RESUME}, {"out", 1, 0, O_OUT},
        {"seed", 1, 0, O_SEED}, {"threads", 1, 0, O_THREADS}, {"save-init", 1, 0, O_SAVEINIT},
        {"dump-ids", 1, 0, O_DUMPIDS}, {"model", 1, 0, O_MODEL}, {"prompt", 1, 0, O_PROMPT},
        {"length", 1, 0, O_LENGTH}, {"temperature", 1, 0, O_TEMP}, {"tour", 0, 0, O_TOUR},
        {"help", 0, 0, 'h'},
        {0, 0, 0, 0}};
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", longs, NULL)) != -1) {
        const char *a = optarg;
        int s = -1;
        switch (c) {
        case 'h': usage(stdout); exit(0);
        case O_DATA: o->data = a; break;
        case O_LEVEL:
            if (strcmp(a, "char") && strcmp(a, "word"))
                ex_die("--level: '%s' is neither char nor word", a);
            o->shape[s = S_LEVEL] = strcmp(a, "char") == 0 ? TEXT_CHARS : TEXT_WORDS;
            break;
        case O_CELL: o->shape[s = S_CELL] = parse_cell(a); break;
        case O_LAYERS:
            o->shape[s = S_LAYERS] = ex_parse_long("--layers", a, 1, NN_MAX_LAYERS);
            break;
        case O_EMBED: o->shape[s = S_EMBED] = ex_parse_long("--embed", a, 1, 1 << 16); break;
        case O_HIDDEN: o->shape[s = S_HIDDEN] = ex_parse_long("--hidden", a, 1, 1 << 16); break;
        case O_BATCH: o->shape[s = S_BATCH] = ex_parse_long("--batch", a, 1, 1 << 16); break;
        case O_BPTT: o->shape[s = S_BPTT] = ex_parse_long("--bptt", a, 1, 1 << 16); break;
        case O_MINCOUNT: o->min_count = ex_parse_long("--min-count", a, 1, LONG_MAX); break;
        case O_MAXVOCAB: o->max_vocab = ex_parse_long("--max-vocab", a, 0, INT_MAX); break;
        case O_SPLIT:
            if (strcmp(a, "train") == 0 || strcmp(a, "valid") == 0 || strcmp(a, "test") == 0) {
                o->split = a;
            } else {
                char *comma = strchr(a, ',');
                if (!comma)
                    ex_die("--split: '%s' is neither train, valid, test nor TRAIN,VALID", a);
                *comma = 0;
                o->train_frac = ex_parse_double("--split", a, 0, 1);
                o->valid_frac = ex_parse_double("--split", comma + 1, 0, 1);
                if (o->train_frac <= 0 || o->valid_frac <= 0 || o->train_frac + o->valid_frac > 1)
                    ex_die("--split: %s,%s: both must be > 0 and sum to at most 1", a, comma + 1);
            }
            break;
        case O_DROPOUT: o->dropout = ex_parse_double("--dropout", a, 0, 0.95); break;
        case O_FORGET: o->forget_bias = ex_parse_double("--forget-bias", a, -100, 100); break;
        case O_OPTIM: o->optim = parse_optim(a); break;
        case O_LR: o->lr = ex_parse_double("--lr", a, 1e-12, 1e6); break;
        case O_CLIP: o->clip = ex_parse_double("--clip", a, 0, 1e12); break;
        case O_STEPS: o->steps = ex_parse_long("--steps", a, 1, LONG_MAX); break;
        case O_EPOCHS: o->epochs = ex_parse_long("--epochs", a, 1, 1000000); break;
        case O_EVALEVERY: o->eval_every = ex_parse_long("--eval-every", a, 1, LONG_MAX); break;
        case O_LOGEVERY: o->log_every = ex_parse_long("--log-every", a, 1, LONG_MAX); break;
        case O_VALIDTOK: o->valid_tokens = ex_parse_long("--valid-tokens", a, 0, LONG_MAX); break;
        case O_CKEVERY: o->checkpoint_every = ex_parse_long("--checkpoint-every", a, 0, LONG_MAX);
            break;
        case O_RESUME: o->resume = a; break;
        case O_OUT: o->out = a; break;
        case O_SEED: o->seed = (uint64_t)ex_parse_long("--seed", a, 0, LONG_MAX); break;
        case O_THREADS: o->threads = ex_parse_long("--threads", a, 1, 1024); break;
        case O_SAVEINIT: o->save_init = a; break;
        case O_DUMPIDS: o->dump_ids = a; break;
        case O_MODEL: o->model = a; break;
        case O_PROMPT: o->prompt = a; break;
        case O_LENGTH: o->length = ex_parse_long("--length", a, 0, 10000000); break;
        case O_TEMP: o->temperature = ex_parse_double("--temperature", a, 0, 1e6); break;
        case O_TOUR: o->tour = true; break;
        default: ex_option_error(c, argv);
        }
        if (s >= 0) o->shape_given[s] = true;
    }
    if (optind < argc) ex_die("unexpected argument '%s' (--help for the options)", argv[optind]);
    if (o->resume && strcmp(o->command, "train"))
        ex_die("--resume is for train; %s takes --model", o->command);
    if (o->tour && strcmp(o->command, "train")) ex_die("--tour is for train");
}

/* ----------------------------------------------------------- checkpoints ---- */

/* The counters of a checkpoint: the configuration, then where training stood. rnnlm.model names
 * the model and its kind: 10·cell + level. */
enum { C_MODEL, C_LAYERS, C_EMBED, C_HIDDEN, C_BATCH, C_BPTT, C_STEP, C_TAPE_RNG, C_COUNT };
static const char *const counter_name[C_COUNT] = {
    "rnnlm.model", "rnnlm.layers", "rnnlm.embed", "rnnlm.hidden", "rnnlm.batch",
    "rnnlm.bptt",  "step",         "tape_rng"};

/* A checkpoint's counters, read before a model exists to load it into; nn_checkpoint_load checks
 * everything else afterwards. Dies with a message naming the file on failure. */
static void peek_counters(const char *path, uint64_t *values) {
    nn_counters c = ex_counters(C_COUNT, counter_name, NULL);
    ex_counters_peek(path, "rnn_lm", &c);
    memcpy(values, c.value, C_COUNT * sizeof *values);
    if (values[C_MODEL] % 10 > 1 || values[C_MODEL] / 10 >= CELL_KINDS || values[C_LAYERS] < 1 ||
        values[C_LAYERS] > NN_MAX_LAYERS || values[C_EMBED] < 1 || values[C_HIDDEN] < 1 ||
        values[C_BATCH] < 1 || values[C_BPTT] < 1 || values[C_EMBED] > 1 << 16 ||
        values[C_HIDDEN] > 1 << 16 || values[C_BATCH] > 1 << 16 || values[C_BPTT] > 1 << 16)
        ex_die("%s: its rnn_lm configuration is out of range (model %" PRIu64 ", %" PRIu64
               " layers)", path, values[C_MODEL], values[C_LAYERS]);
}

/* Take the shape from a checkpoint's counters; an option given that disagrees is an error. */
static void shape_from_checkpoint(options *o, const char *path, const uint64_t *c) {
    const long from[S_COUNT] = {(long)(c[C_MODEL] % 10), (long)(c[C_MODEL] / 10),
                                (long)c[C_LAYERS], (long)c[C_EMBED], (long)c[C_HIDDEN],
                                (long)c[C_BATCH], (long)c[C_BPTT]};
    for (int s = 0; s < S_COUNT; s++) {
        if (o->shape_given[s] && o->shape[s] != from[s]) {
            char given[32], has[32];
            if (s == S_LEVEL) {
                snprintf(given, sizeof given, "%s", level_name(o->shape[s]));
                snprintf(has, sizeof has, "%s", level_name(from[s]));
            } else if (s == S_CELL) {
                snprintf(given, sizeof given, "%s", cell_names[o->shape[s]]);
                snprintf(has, sizeof has, "%s", cell_names[from[s]]);
            } else {
                snprintf(given, sizeof given, "%ld", o->shape[s]);
                snprintf(has, sizeof has, "%ld", from[s]);
            }
            ex_die("%s %s, but %s is a checkpoint of a model with %s %s: leave the option out "
                   "(it is read from the checkpoint) or start a new run", shape_option[s], given,
                   path, shape_option[s] + 2, has);
        }
        o->shape[s] = from[s];
    }
}

/* ------------------------------------------------------------------- a run ---- */

typedef struct run {
    options *o;
    text_unit level;
    text_vocab *vocab;
    int eos;                /* "\n" or </s> */
    text_ids ids;
    text_span train, valid, test;
    ad_params *ps;
    rnnlm m;
    ad_tensor *carry_param; /* the carried state, saved with the checkpoint; frozen */
    nn_rnn_state *carry;
    nn_optim *opt;
    ad_tape *tp;
    long step;
    char *default_model; /* --out's model.safetensors, when --model is not given */
} run;

/* The vocabulary: from the corpus, or as a checkpoint saved it. */
static void load_vocab(run *r, const char *checkpoint) {
    const options *o = r->o;
    const char *eos_token = r->level == TEXT_CHARS ? "\n" : RNNLM_EOS_WORD;
    if (checkpoint) {
        char *path = ex_joined(checkpoint, ".vocab");
        ex_check_status(text_vocab_load(path, &r->vocab));
        free(path);
    } else {
        r->vocab = text_vocab_new();
        ex_check_status(text_count(o->data, r->level, r->vocab));
        const bool words = r->level == TEXT_WORDS;
        const long min_count = o->min_count > 0 ? o->min_count : words ? 2 : 1;
        const long max_vocab = o->max_vocab >= 0 ? o->max_vocab : words ? 10000 : 0;
        text_vocab_prune(r->vocab, min_count, (int)max_vocab);
        if (text_vocab_find(r->vocab, eos_token) < 0) text_vocab_add(r->vocab, eos_token, 0);
    }
    r->eos = text_vocab_find(r->vocab, eos_token);
    if (r->eos < 0) ex_die("%s.vocab: it has no \"%s\": not a vocabulary of rnn_lm", checkpoint,
                           r->level == TEXT_CHARS ? "\\n" : RNNLM_EOS_WORD);
    if (text_vocab_size(r->vocab) < 3)
        ex_die("%s: a vocabulary of %d tokens: the corpus has nothing to learn", o->data,
               text_vocab_size(r->vocab));
}

static void load_corpus(run *r) {
    const options *o = r->o;
    ex_check_status(text_read(o->data, r->level, r->vocab, r->eos, &r->ids));
    text_split(&r->ids, o->train_frac, o->valid_frac, &r->train, &r->valid, &r->test);
}

/* A span must give every one of B lanes two tokens (one to read, one to predict). */
static void need_lanes(const char *what, text_span s, long B, const char *data) {
    if (s.n < (size_t)(2 * B))
        ex_die("%s: the %s split has %zu tokens, too few for %ld lanes (--batch): give more text "
               "or fewer lanes", data, what, s.n, B);
}

static void build_model(run *r) {
    const options *o = r->o;
    nn_rng rng = nn_rng_new(o->seed);
    r->ps = ad_params_new();
    rnnlm_config cfg = {.level = r->level, .cell = (nn_cell_kind)o->shape[S_CELL],
                        .vocab = text_vocab_size(r->vocab), .embed = (int)o->shape[S_EMBED],
                        .hidden = (int)o->shape[S_HIDDEN], .layers = (int)o->shape[S_LAYERS],
                        .dropout = o->dropout, .forget_bias = o->forget_bias};
    rnnlm_init(&r->m, r->ps, &cfg, &rng);
    const int B = (int)o->shape[S_BATCH];
    r->carry = rnnlm_state_new(&r->m, B);
    if (!r->carry) ex_die("out of memory");
    const int rows = r->carry->layers * r->carry->dirs * r->carry->nstate * B;
    r->carry_param = ad_param(r->ps, "train.carry", rows, r->carry->hidden);
    ad_param_set_frozen(r->carry_param, true);
    r->tp = ad_tape_new();
    ad_tape_seed(r->tp, o->seed);
}

static void carry_copy(run *r, bool to_param) {
    const size_t n = (size_t)ad_rows(r->carry_param) * (size_t)ad_cols(r->carry_param);
    if (to_param) memcpy(ad_data(r->carry_param), r->carry->data, n * sizeof(ad_real));
    else memcpy(r->carry->data, ad_data(r->carry_param), n * sizeof(ad_real));
}

static void save_checkpoint(run *r, const char *path) {
    carry_copy(r, true);
    const options *o = r->o;
    const uint64_t v[C_COUNT] = {(uint64_t)(10 * o->shape[S_CELL] + o->shape[S_LEVEL]),
                                 (uint64_t)o->shape[S_LAYERS], (uint64_t)o->shape[S_EMBED],
                                 (uint64_t)o->shape[S_HIDDEN], (uint64_t)o->shape[S_BATCH],
                                 (uint64_t)o->shape[S_BPTT], (uint64_t)r->step,
                                 ad_tape_rng_state(r->tp)};
    nn_counters c = ex_counters(C_COUNT, counter_name, v);
    ex_check_status(nn_checkpoint_save(path, r->ps, r->opt, &c));
}

/* Load weights (and, with an optimizer, its state and the position) from a checkpoint whose
 * shape was already taken by shape_from_checkpoint. */
static void load_checkpoint(run *r, const char *path) {
    nn_counters c = ex_counters(C_COUNT, counter_name, NULL);
    const nn_status s = nn_checkpoint_load(path, r->ps, r->opt, &c);
    if (s == NN_ERR_MISMATCH)
        ex_die("%s does not fit this model (%s-level %s, %ld layer(s), embed %ld, hidden %ld, "
               "%d tokens in %s.vocab): %s", path, level_name(r->o->shape[S_LEVEL]),
               cell_names[r->o->shape[S_CELL]], r->o->shape[S_LAYERS], r->o->shape[S_EMBED],
               r->o->shape[S_HIDDEN], text_vocab_size(r->vocab), path, nn_last_error());
    ex_check_status(s);
    r->step = (long)c.value[C_STEP];
    ad_tape_set_rng_state(r->tp, c.value[C_TAPE_RNG]);
    carry_copy(r, false);
}

/* The checkpoint of eval and generate: its shape, vocabulary and weights. */
static void open_model(run *r) {
    options *o = r->o;
    if (!o->model) o->model = r->default_model = ex_joined(o->out, "/model.safetensors");
    uint64_t c[C_COUNT];
    peek_counters(o->model, c);
    shape_from_checkpoint(o, o->model, c);
    r->level = (text_unit)o->shape[S_LEVEL];
    load_vocab(r, o->model);
    build_model(r);
    load_checkpoint(r, o->model);
    ad_tape_set_training(r->tp, false);
}

static void free_run(run *r) {
    ad_tape_free(r->tp);
    nn_optim_free(r->opt);
    nn_rnn_state_free(r->carry);
    ad_params_free(r->ps);
    text_ids_free(&r->ids);
    text_vocab_free(r->vocab);
    free(r->default_model);
}

/* ------------------------------------------------------------- generation ---- */

static int *encode_prompt(const run *r, const char *prompt, int *n) {
    int *ids = NULL, unknown = 0;
    ex_check_status(rnnlm_encode(r->vocab, r->level, prompt, "--prompt", &ids, n, &unknown));
    if (*n == 0) ex_die("--prompt: empty: give at least one %s", r->level == TEXT_CHARS ?
                        "character" : "word");
    if (unknown)
        fprintf(stderr, "%s: --prompt: %d of its %d words are not in the vocabulary: read as %s\n",
                ex_program, unknown, *n, TEXT_UNK_WORD);
    return ids;
}

static const char *default_prompt(text_unit level) {
    return level == TEXT_CHARS ? "And God said" : "and god said";
}

/* --length, or its default for the level. */
static long passage_length(const options *o, text_unit level) {
    return o->length >= 0 ? o->length : level == TEXT_CHARS ? 400 : 60;
}

static const char *default_data(text_unit level) {
    return ex_data_path(level == TEXT_CHARS ? "kjv.txt" : "kjv.words");
}

static void generate_passage(run *r, const int *prompt, int n_prompt, long length,
                             double temperature) {
    if (length <= 0) return;
    int *out = malloc((size_t)length * sizeof *out);
    if (!out) ex_die("out of memory");
    nn_rng rng = nn_rng_new(r->o->seed ^ 0x5eed);
    rnnlm_generate(r->tp, &r->m, prompt, n_prompt, out, (int)length, temperature, &rng);
    printf("--- %ld %s at temperature %g ---\n", length,
           r->level == TEXT_CHARS ? "characters" : "words", temperature);
    rnnlm_decode(stdout, r->vocab, r->level, prompt, n_prompt);
    if (r->level == TEXT_WORDS) putchar(' ');
    rnnlm_decode(stdout, r->vocab, r->level, out, (int)length);
    printf("\n---\n");
    free(out);
}

/* ----------------------------------------------------------------- train ---- */

static void dump_span(const char *prefix, const char *suffix, text_span s) {
    char *path = ex_joined(prefix, suffix);
    FILE *f = fopen(path, "wb");
    if (!f) ex_die("%s: cannot write: %s", path, strerror(errno));
    for (size_t i = 0; i < s.n; i++) {
        const int32_t v = s.ids[i];
        const unsigned char le[4] = {(unsigned char)v, (unsigned char)(v >> 8),
                                     (unsigned char)(v >> 16), (unsigned char)(v >> 24)};
        fwrite(le, 1, 4, f);
    }
    if (fclose(f) != 0) ex_die("%s: cannot write: %s", path, strerror(errno));
    free(path);
}

static void report_score(const char *what, rnnlm_score s, text_unit level) {
    printf("%s: %ld tokens, loss %.5f nats/token, perplexity %.3f", what, s.tokens, s.nats,
           rnnlm_perplexity(s));
    if (level == TEXT_CHARS) printf(", %.4f bits/char", rnnlm_bits_per_token(s));
    printf("\n");
}

static int cmd_train(options *o) {
    run r = {.o = o};
    uint64_t c[C_COUNT];
    if (o->resume) {
        peek_counters(o->resume, c);
        shape_from_checkpoint(o, o->resume, c);
    }
    r.level = (text_unit)o->shape[S_LEVEL];
    if (!o->data) o->data = default_data(r.level);
    const int B = (int)o->shape[S_BATCH], T = (int)o->shape[S_BPTT];
    load_vocab(&r, o->resume);
    load_corpus(&r);
    need_lanes("training", r.train, B, o->data);
    need_lanes("validation", r.valid, B, o->data);
    const text_span valid = ex_first_tokens(r.valid, o->valid_tokens);
    need_lanes("validation", valid, B, o->data);
    int n_prompt = 0;
    int *prompt = o->length != 0 ? encode_prompt(&r, o->prompt ? o->prompt
                                                               : default_prompt(r.level), &n_prompt)
                                 : NULL;
    if (o->dump_ids) {
        dump_span(o->dump_ids, ".train.i32", r.train);
        dump_span(o->dump_ids, ".valid.i32", valid);
    }

    build_model(&r);
    r.opt = nn_optim_new(r.ps, &(nn_optim_config){.kind = o->optim, .lr = o->lr});
    if (mkdir(o->out, 0777) != 0 && errno != EEXIST)
        ex_die("%s: cannot make the directory: %s", o->out, strerror(errno));
    char *ckpt = ex_joined(o->out, "/model.safetensors"), *vocab_path = ex_joined(ckpt, ".vocab");
    char *csv = ex_joined(o->out, "/curve.csv"), *png = ex_joined(o->out, "/curve.png");
    if (o->resume) load_checkpoint(&r, o->resume);
    if (o->save_init) save_checkpoint(&r, o->save_init);
    ex_check_status(text_vocab_save(r.vocab, vocab_path));

    text_lanes lanes = text_lanes_make(r.train, B);
    const long windows = (long)text_lanes_windows(&lanes, T);
    const long total = o->epochs ? o->epochs * windows : o->steps;
    printf("rnn_lm: %s-level %s, %ld layer(s), embed %ld, hidden %ld, dropout %g; %d tokens in "
           "the vocabulary\n", level_name(r.level), cell_names[o->shape[S_CELL]],
           o->shape[S_LAYERS], o->shape[S_EMBED], o->shape[S_HIDDEN], o->dropout,
           text_vocab_size(r.vocab));
    printf("rnn_lm: %zu training tokens in %d lanes, windows of %d (%ld per epoch); %s lr %g, "
           "clip %g; %ld steps\n", r.train.n, B, T, windows, nn_optim_kind_name(o->optim),
           o->lr, o->clip, total);
    if (o->resume) printf("rnn_lm: resuming %s at step %ld\n", o->resume, r.step);
    if (r.step > total) ex_die("%s is at step %ld, past the %ld steps asked for", o->resume,
                               r.step, total);

    ex_curve *curve = ex_curve_open(csv, "step,train_loss,valid_loss");
    ex_progress *prog = ex_progress_new("train", total, 10);
    int *x = malloc((size_t)T * B * sizeof *x), *y = malloc((size_t)T * B * sizeof *y);
    if (!x || !y) ex_die("out of memory");
    double loss_sum = 0;
    long loss_n = 0, tokens = 0;
    rnnlm_score score = {0, 0}; /* the last validation */
    for (; r.step < total; r.step++) {
        const long w = r.step % windows;
        if (w == 0) nn_rnn_state_zero(r.carry); /* each epoch starts from zeros */
        const int Tw = text_lanes_window(&lanes, T, (size_t)w, x, y);
        ad_tensor *loss = rnnlm_loss(r.tp, &r.m, x, y, Tw, B, r.carry, r.carry);
        const double J = nn_train_step(r.tp, loss, r.opt, o->clip);
        ad_tape_reset(r.tp);
        if (!isfinite(J))
            ex_die("the loss is %g at step %ld: training diverged (a lower --lr, or --clip?)", J,
                   r.step + 1);
        loss_sum += J, loss_n++;
        tokens += (long)Tw * B;
        ex_progress_update(prog, r.step + 1, tokens, J);
        const bool last = r.step + 1 == total;
        const bool eval = (r.step + 1) % o->eval_every == 0 || last;
        if (eval || (r.step + 1) % o->log_every == 0) { /* NAN: no validation at this row */
            if (eval) score = rnnlm_evaluate(r.tp, &r.m, valid, B, T);
            const double row[3] = {(double)(r.step + 1), loss_sum / (double)loss_n,
                                   eval ? score.nats : NAN};
            ex_curve_row(curve, row);
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
    printf("rnn_lm: checkpoint %s (vocabulary %s)\n", ckpt, vocab_path);
    ex_plot_and_say(csv, png, "rnn_lm: loss (nats/token)", "train_loss,valid_loss");
    if (score.tokens == 0) score = rnnlm_evaluate(r.tp, &r.m, valid, B, T); /* no step ran */
    report_score("validation", score, r.level);
    if (prompt && o->tour) {
        generate_passage(&r, prompt, n_prompt, passage_length(o, r.level) * 3 / 4, 0.5);
        generate_passage(&r, prompt, n_prompt, passage_length(o, r.level) * 3 / 4, 1.0);
    } else if (prompt) {
        generate_passage(&r, prompt, n_prompt, passage_length(o, r.level), o->temperature);
    }
    free(prompt);
    free(x), free(y);
    free(ckpt), free(vocab_path), free(csv), free(png);
    free_run(&r);
    return 0;
}

/* ------------------------------------------------------ eval and generate ---- */

static int cmd_eval(options *o) {
    run r = {.o = o};
    open_model(&r);
    if (!o->data) o->data = default_data(r.level);
    load_corpus(&r);
    const text_span s = strcmp(o->split, "train") == 0 ? r.train
                        : strcmp(o->split, "test") == 0 ? r.test : r.valid;
    const int B = (int)o->shape[S_BATCH], T = (int)o->shape[S_BPTT];
    need_lanes(o->split, s, B, o->data);
    char what[64];
    snprintf(what, sizeof what, "%s split of %s", o->split, strrchr(o->data, '/') ?
             strrchr(o->data, '/') + 1 : o->data);
    report_score(what, rnnlm_evaluate(r.tp, &r.m, s, B, T), r.level);
    free_run(&r);
    return 0;
}

static int cmd_generate(options *o) {
    run r = {.o = o};
    open_model(&r);
    int n = 0;
    int *prompt = encode_prompt(&r, o->prompt ? o->prompt : default_prompt(r.level), &n);
    generate_passage(&r, prompt, n, passage_length(o, r.level), o->temperature);
    free(prompt);
    free_run(&r);
    return 0;
}

int main(int argc, char **argv) {
    ex_init(argc, argv);
    options o;
    parse_options(argc, argv, &o);
    if (o.threads) ad_set_num_threads((int)o.threads);
    if (strcmp(o.command, "train") == 0) return cmd_train(&o);
    return strcmp(o.command, "eval") == 0 ? cmd_eval(&o) : cmd_generate(&o);
}
