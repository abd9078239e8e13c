/*
 * run.h — the plumbing of a training run that the example programs share: commands and options,
 * time, shuffling, vocabularies, pretrained vectors for an embedding table, learning-curve
 * pictures, and checkpoints. (common.h has the rest: errors, progress, curves, data paths.)
 * Like common.h, every call here dies with a message naming the file on failure.
 */
#ifndef SEQGRAD_EXAMPLES_RUN_H
#define SEQGRAD_EXAMPLES_RUN_H

#include "nn.h"
#include "text.h"
#include "vectors.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---------------------------------------------------- commands, options ---- */

/* A program whose first argument may be a command: when argv[1] does not start with '-' it must
 * be one of the n commands ("'x' is not a command: train, eval or generate (--help for more)"),
 * and it is taken out of argv for getopt. Returns it, or dflt when there is none. */
const char *ex_take_command(int *argc, char ***argv, const char *const *commands, size_t n,
                            const char *dflt);

/* The command that getopt left at argv[optind], one of the n commands ("unknown command 'x':
 * train, eval or tag (--help)"); NULL when there is none. */
const char *ex_command_at(int argc, char **argv, const char *const *commands, size_t n);

/* argv[0 .. argc) joined by spaces into buf (cut to size), each followed by one: a text given as
 * one argument or as several words reads the same. */
void ex_join_args(int argc, char **argv, char *buf, size_t size);

/* The options of a run in epochs (ex_epochs below) that the tagger and the classifier share. A
 * program puts EX_EPOCH_LONG_OPTIONS in its getopt_long table, its defaults in the struct, and
 * passes each option getopt returns to ex_epoch_option, which takes it (true) or leaves it to the
 * program (false). */
typedef struct ex_epoch_options {
    const char *resume, *curve;
    long epochs, batch, checkpoint_every, seed, threads, eval_every;
    double lr, lr_decay, clip, time_limit;
} ex_epoch_options;

/* getopt_long codes from 1000 up: a program's own stay below. */
enum { EX_OPT_EPOCHS = 1000, EX_OPT_BATCH, EX_OPT_LR, EX_OPT_DECAY, EX_OPT_CLIP, EX_OPT_TIME,
       EX_OPT_CKPT, EX_OPT_RESUME, EX_OPT_CURVE, EX_OPT_SEED, EX_OPT_THREADS, EX_OPT_EVAL };
// clang-format off
#define EX_EPOCH_LONG_OPTIONS                                                                      \
    {"epochs", 1, 0, EX_OPT_EPOCHS},      {"batch", 1, 0, EX_OPT_BATCH},                           \
    {"lr", 1, 0, EX_OPT_LR},              {"lr-decay", 1, 0, EX_OPT_DECAY},                        \
    {"clip", 1, 0, EX_OPT_CLIP},          {"time-limit", 1, 0, EX_OPT_TIME},                       \
    {"checkpoint-every", 1, 0, EX_OPT_CKPT}, {"resume", 1, 0, EX_OPT_RESUME},                      \
    {"curve", 1, 0, EX_OPT_CURVE},        {"seed", 1, 0, EX_OPT_SEED},                             \
    {"threads", 1, 0, EX_OPT_THREADS},    {"eval-every", 1, 0, EX_OPT_EVAL}
// clang-format on
bool ex_epoch_option(int c, const char *arg, ex_epoch_options *t);

/* The options the vector programs (word2vec, glove) share: the command and its arguments, where
 * a run goes, and how the vectors are looked at. A program puts EX_VECTOR_LONG_OPTIONS in its
 * getopt_long table, passes each option getopt returns to ex_vector_option (true: taken), and
 * after the options calls ex_vector_options_finish, which takes the arguments left (nearest
 * WORD..., analogy A B C, eval-analogies FILE; the other commands none), checks that --resume and
 * --tour come with train, and makes --limit 30000 for eval-analogies unless given. Either dies
 * saying what is wrong. */
typedef struct ex_vector_options {
    const char *command; /* train, nearest, analogy, eval-analogies, ... */
    char **args;         /* the words (nearest, analogy) or the questions file */
    int nargs;
    const char *out, *vectors, *resume, *questions;
    long threads, checkpoint_every, top, limit;
    bool limit_given, tour;
    uint64_t seed;
} ex_vector_options;

/* getopt_long codes from 1100 up */
enum { EX_VOPT_THREADS = 1100, EX_VOPT_SEED, EX_VOPT_CKPT, EX_VOPT_RESUME, EX_VOPT_OUT,
       EX_VOPT_QUESTIONS, EX_VOPT_TOUR, EX_VOPT_VECTORS, EX_VOPT_TOP, EX_VOPT_LIMIT };
// clang-format off
#define EX_VECTOR_LONG_OPTIONS                                                                     \
    {"threads", 1, 0, EX_VOPT_THREADS},   {"seed", 1, 0, EX_VOPT_SEED},                            \
    {"checkpoint-every", 1, 0, EX_VOPT_CKPT}, {"resume", 1, 0, EX_VOPT_RESUME},                    \
    {"out", 1, 0, EX_VOPT_OUT},           {"questions", 1, 0, EX_VOPT_QUESTIONS},                  \
    {"tour", 0, 0, EX_VOPT_TOUR},         {"vectors", 1, 0, EX_VOPT_VECTORS},                      \
    {"top", 1, 0, EX_VOPT_TOP},           {"limit", 1, 0, EX_VOPT_LIMIT}
// clang-format on
bool ex_vector_option(int c, const char *arg, ex_vector_options *v);
void ex_vector_options_finish(int argc, char **argv, ex_vector_options *v);

/* getopt_long's answer c (':' or '?') for an option it did not take, with opterr = 0 and an
 * optstring starting with ':': "--x needs a value" or "unknown option '--x'". */
_Noreturn void ex_option_error(int c, char **argv);

/* ---------------------------------------------------------------- small ---- */

double ex_seconds(void);                        /* a monotonic clock */
char *ex_joined(const char *a, const char *b);  /* a + b, malloc'd: the caller frees */
void ex_shuffle(int *a, size_t n, nn_rng *r);   /* Fisher-Yates */
text_span ex_first_tokens(text_span s, long n); /* the first n tokens (n <= 0: all) */

/* ---------------------------------------------------------- vocabularies ---- */

/* The vocabulary of the words of `all` that occur in ids[0 .. n) (ids of all), with their counts
 * there, pruned to min_count and max_size as text_vocab_prune does. The caller frees it. */
text_vocab *ex_vocab_of_ids(const text_vocab *all, const int *ids, size_t n, long min_count,
                            int max_size);
/* ids of `from` renamed, in place, to ids of `to` (TEXT_UNK where to lacks the word). */
void ex_ids_rename(int *ids, size_t n, const text_vocab *from, const text_vocab *to);

/* -------------------------------------------------------------- vectors ---- */

/* Pretrained word vectors: word2vec binary (a name ending in .bin), word2vec text (a first line
 * "<words> <dim>") or GloVe text. */
void ex_vectors_load(const char *path, wv_table *t);
/* Row id of E takes the vector of word id of v where the table has one; returns how many did.
 * A table of another width than E is a broken contract (it stops). */
int ex_vectors_copy(const wv_table *t, const text_vocab *v, ad_tensor *E);

/* -------------------------------------------------------------- curves ---- */

/* The path of a run's learning curve: curve (--curve) when given, else "<model>.curve.csv", but
 * none (an empty string) in a tour. */
void ex_curve_path(char *buf, size_t size, const char *curve, const char *model, bool tour);

/* The loss in one picture and the accuracies in another: "x.csv" -> x.loss.png (column
 * train_loss) and x.accuracy.png (accuracy_columns), when gnuplot is installed. */
void ex_plot_loss_accuracy(const char *csv, const char *title, const char *accuracy_columns);

/* Plot y_columns of csv into png and say where the curve is: "<program>: learning curve PNG
 * (CSV)", or the CSV alone when there is no gnuplot. */
void ex_plot_and_say(const char *csv, const char *png, const char *title, const char *y_columns);

/* ---------------------------------------------------------- checkpoints ---- */
/*
 * A program's checkpoint counters are an enum of indices and a table of names; a name carries the
 * program's prefix ("rnnlm.layers") where the counter is the model's own, so that a checkpoint of
 * another program does not load. nn_checkpoint_save writes atomically (a temporary file renamed
 * over the target): a run saved every N steps and killed leaves the last checkpoint whole.
 */

/* Counters of these n names (n <= NN_CHECKPOINT_MAX_COUNTERS), values from values (NULL: 0). */
nn_counters ex_counters(int n, const char *const *names, const uint64_t *values);

/* The counters c names, read from the checkpoint at path before a model exists to load it into
 * (nn_checkpoint_load checks the rest later). A checkpoint without one of them is "not a
 * checkpoint of <program>": ex_counters_peek dies naming the file. */
void ex_counters_peek(const char *path, const char *program, nn_counters *c);

/* Whether a run that has done `steps` steps saves now: every `every` steps (0: never), but not
 * after the last step, which the run saves anyway. */
bool ex_checkpoint_due(long every, uint64_t steps, bool last);

/* ---------------------------------------------------- epochs of batches ---- */
/*
 * A training run in epochs over shuffled batches that a checkpoint stops and resumes exactly (the
 * tagger, the classifier). Epoch e shuffles 0 .. items-1 with an RNG whose state at the epoch's
 * start the counters keep, runs `batches` steps over it, and trains at lr * lr_decay^e. The first
 * EX_EPOCH_COUNTERS counters of its checkpoints are where it stands, under the names
 * EX_EPOCH_COUNTER_NAMES; the program's own counters (its RNGs) follow.
 */
enum { EX_C_STEP, EX_C_EPOCH, EX_C_BATCH, EX_C_ORDER_RNG, EX_EPOCH_COUNTERS };
#define EX_EPOCH_COUNTER_NAMES "step", "epoch", "batch", "order_rng"

typedef struct ex_epochs {
    const ex_epoch_options *run; /* epochs (in all, counting those a resumed run did before), lr,
                                    lr_decay, time_limit, checkpoint_every, eval_every */
    size_t items, batches;       /* what an epoch shuffles; the steps it takes */
    double t_start;              /* when the run started, for time_limit (ex_seconds) */
    bool save_each_epoch;        /* call save at each epoch's end too */
    bool eval_between;           /* call evaluate every eval_every steps, not only at epochs' end */
    nn_optim *opt;
    nn_counters *counters; /* where the run stands: a fresh run's are 0 but for order_rng, the
                              state of the RNG that shuffles */
    void *ctx;             /* the program's, for the calls below */
    /* One training step on batch k of the epoch's order; adds the tokens it read to *tokens and
     * returns the loss. */
    double (*step)(void *ctx, const int *order, size_t k, long *tokens);
    /* Put the program's own counters into counters, and save the checkpoint. */
    void (*save)(void *ctx);
    /* A point of the learning curve at step (epoch_pos epochs done), with the mean training loss
     * since the last point; epoch_end: the epoch (from 1) that just ended, else 0. */
    void (*evaluate)(void *ctx, double step, double epoch_pos, double mean_loss, long epoch_end,
                     bool out_of_time);
} ex_epochs;

/* Run the epochs from where e->counters stand, with a progress bar on stderr. */
void ex_epochs_run(const ex_epochs *e);

#endif
