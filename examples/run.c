/* run.c — see run.h. */
#include "run.h"

#include "common.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---------------------------------------------------- commands, options ---- */

/* "train, eval or generate" */
static const char *command_list(const char *const *commands, size_t n, char *list, size_t size) {
    list[0] = 0;
    for (size_t k = 0; k < n; k++)
        snprintf(list + strlen(list), size - strlen(list), "%s%s",
                 k == 0 ? "" : k + 1 == n ? " or " : ", ", commands[k]);
    return list;
}

static bool is_command(const char *word, const char *const *commands, size_t n) {
    for (size_t k = 0; k < n; k++)
        if (strcmp(word, commands[k]) == 0) return true;
    return false;
}

const char *ex_take_command(int *argc, char ***argv, const char *const *commands, size_t n,
                            const char *dflt) {
    char **v = *argv, list[512];
    if (*argc < 2 || v[1][0] == '-') return dflt;
    if (!is_command(v[1], commands, n))
        ex_die("'%s' is not a command: %s (--help for more)", v[1],
               command_list(commands, n, list, sizeof list));
    const char *cmd = v[1];
    v[1] = v[0]; /* getopt starts after it */
    --*argc, ++*argv;
    return cmd;
}

const char *ex_command_at(int argc, char **argv, const char *const *commands, size_t n) {
    char list[512];
    if (optind >= argc) return NULL;
    if (!is_command(argv[optind], commands, n))
        ex_die("unknown command '%s': %s (--help)", argv[optind],
               command_list(commands, n, list, sizeof list));
    return argv[optind];
}

void ex_join_args(int argc, char **argv, char *buf, size_t size) {
    buf[0] = 0;
    for (int i = 0; i < argc && strlen(buf) + 2 < size; i++) { /* room for a byte, ' ', NUL */
        strncat(buf, argv[i], size - strlen(buf) - 2);
        strcat(buf, " ");
    }
}

bool ex_epoch_option(int c, const char *arg, ex_epoch_options *t) {
    switch (c) {
    case EX_OPT_EPOCHS: t->epochs = ex_parse_long("--epochs", arg, 1, 100000); break;
    case EX_OPT_BATCH: t->batch = ex_parse_long("--batch", arg, 1, 4096); break;
    case EX_OPT_LR: t->lr = ex_parse_double("--lr", arg, 1e-9, 100); break;
    case EX_OPT_DECAY: t->lr_decay = ex_parse_double("--lr-decay", arg, 1e-6, 1); break;
    case EX_OPT_CLIP: t->clip = ex_parse_double("--clip", arg, 0, 1e9); break;
    case EX_OPT_TIME: t->time_limit = ex_parse_double("--time-limit", arg, 0, 1e9); break;
    case EX_OPT_CKPT:
        t->checkpoint_every = ex_parse_long("--checkpoint-every", arg, 1, 1L << 40);
        break;
    case EX_OPT_RESUME: t->resume = arg; break;
    case EX_OPT_CURVE: t->curve = arg; break;
    case EX_OPT_SEED: t->seed = ex_parse_long("--seed", arg, 0, 1L << 40); break;
    case EX_OPT_THREADS: t->threads = ex_parse_long("--threads", arg, 0, 1024); break;
    case EX_OPT_EVAL: t->eval_every = ex_parse_long("--eval-every", arg, 1, 1L << 40); break;
    default: return false;
    }
    return true;
}

bool ex_vector_option(int c, const char *arg, ex_vector_options *v) {
    switch (c) {
    case EX_VOPT_THREADS: v->threads = ex_parse_long("--threads", arg, 1, 1024); break;
    case EX_VOPT_SEED: v->seed = (uint64_t)ex_parse_long("--seed", arg, 0, LONG_MAX); break;
    case EX_VOPT_CKPT:
        v->checkpoint_every = ex_parse_long("--checkpoint-every", arg, 0, LONG_MAX);
        break;
    case EX_VOPT_RESUME: v->resume = arg; break;
    case EX_VOPT_OUT: v->out = arg; break;
    case EX_VOPT_QUESTIONS: v->questions = arg; break;
    case EX_VOPT_TOUR: v->tour = true; break;
    case EX_VOPT_VECTORS: v->vectors = arg; break;
    case EX_VOPT_TOP: v->top = ex_parse_long("--top", arg, 1, 1000); break;
    case EX_VOPT_LIMIT:
        v->limit = ex_parse_long("--limit", arg, 1, INT_MAX), v->limit_given = true;
        break;
    default: return false;
    }
    return true;
}

void ex_vector_options_finish(int argc, char **argv, ex_vector_options *v) {
    v->args = argv + optind;
    v->nargs = argc - optind;
    const char *cmd = v->command;
    const bool looks = !strcmp(cmd, "nearest") || !strcmp(cmd, "analogy") ||
                       !strcmp(cmd, "eval-analogies");
    if (!looks && v->nargs > 0)
        ex_die("unexpected argument '%s' (--help for the options)", v->args[0]);
    if (!strcmp(cmd, "nearest") && v->nargs < 1) ex_die("nearest: which words? (WORD...)");
    if (!strcmp(cmd, "analogy") && v->nargs != 3)
        ex_die("analogy takes three words A B C (A is to B as C is to ?), not %d", v->nargs);
    if (!strcmp(cmd, "eval-analogies") && v->nargs != 1)
        ex_die("eval-analogies takes one file of questions");
    if (v->resume && strcmp(cmd, "train")) ex_die("--resume is for train");
    if (v->tour && strcmp(cmd, "train")) ex_die("--tour is a short train: not for %s", cmd);
    if (!v->limit_given && !strcmp(cmd, "eval-analogies")) v->limit = 30000;
}

_Noreturn void ex_option_error(int c, char **argv) {
    if (c == ':') ex_die("%s needs a value (--help for the options)", argv[optind - 1]);
    ex_die("unknown option '%s' (--help for the options)", argv[optind - 1]);
}

/* ---------------------------------------------------------------- small ---- */

double ex_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

char *ex_joined(const char *a, const char *b) {
    const size_t n = strlen(a) + strlen(b) + 1;
    char *s = malloc(n);
    if (!s) ex_die("out of memory");
    snprintf(s, n, "%s%s", a, b);
    return s;
}

void ex_shuffle(int *a, size_t n, nn_rng *r) {
    for (size_t i = n; i > 1; i--) {
        size_t j = nn_rng_below(r, (uint32_t)i);
        int t = a[i - 1];
        a[i - 1] = a[j], a[j] = t;
    }
}

text_span ex_first_tokens(text_span s, long n) {
    if (n > 0 && (size_t)n < s.n) s.n = (size_t)n;
    return s;
}

/* ---------------------------------------------------------- vocabularies ---- */

text_vocab *ex_vocab_of_ids(const text_vocab *all, const int *ids, size_t n, long min_count,
                            int max_size) {
    const int n_all = text_vocab_size(all);
    long *count = calloc((size_t)n_all, sizeof *count);
    if (!count) ex_die("out of memory");
    for (size_t i = 0; i < n; i++) count[ids[i]]++;
    text_vocab *v = text_vocab_new();
    for (int id = 0; id < n_all; id++)
        if (count[id] > 0) text_vocab_add(v, text_vocab_word(all, id), count[id]);
    free(count);
    text_vocab_prune(v, min_count, max_size);
    return v;
}

void ex_ids_rename(int *ids, size_t n, const text_vocab *from, const text_vocab *to) {
    const int n_from = text_vocab_size(from);
    int *map = malloc((size_t)n_from * sizeof *map);
    if (!map) ex_die("out of memory");
    for (int id = 0; id < n_from; id++) map[id] = text_vocab_id(to, text_vocab_word(from, id));
    for (size_t i = 0; i < n; i++) ids[i] = map[ids[i]];
    free(map);
}

/* -------------------------------------------------------------- vectors ---- */

void ex_vectors_load(const char *path, wv_table *t) {
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

int ex_vectors_copy(const wv_table *t, const text_vocab *v, ad_tensor *E) {
    if (t->dim != ad_cols(E))
        ad_fail_at(__FILE__, __LINE__, "ex_vectors_copy", "vectors of %d, embeddings of %d",
                   t->dim, ad_cols(E));
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

/* -------------------------------------------------------------- curves ---- */

void ex_curve_path(char *buf, size_t size, const char *curve, const char *model, bool tour) {
    if (curve) snprintf(buf, size, "%s", curve);
    else if (tour) buf[0] = 0;
    else snprintf(buf, size, "%s.curve.csv", model);
}

void ex_plot_loss_accuracy(const char *csv, const char *title, const char *accuracy_columns) {
    char stem[4096], png[4200];
    snprintf(stem, sizeof stem, "%s", csv);
    size_t n = strlen(stem);
    if (n > 4 && strcmp(stem + n - 4, ".csv") == 0) stem[n - 4] = 0;
    snprintf(png, sizeof png, "%s.loss.png", stem);
    if (ex_plot(csv, png, title, "train_loss") != 0) return;
    snprintf(png, sizeof png, "%s.accuracy.png", stem);
    ex_plot(csv, png, title, accuracy_columns);
}

void ex_plot_and_say(const char *csv, const char *png, const char *title, const char *y_columns) {
    if (ex_plot(csv, png, title, y_columns) == 0)
        printf("%s: learning curve %s (%s)\n", ex_program, png, csv);
    else
        printf("%s: learning curve %s\n", ex_program, csv);
}

/* ---------------------------------------------------------- checkpoints ---- */

nn_counters ex_counters(int n, const char *const *names, const uint64_t *values) {
    if (n < 0 || n > NN_CHECKPOINT_MAX_COUNTERS)
        ad_fail_at(__FILE__, __LINE__, "ex_counters", "%d counters, at most %d", n,
                   NN_CHECKPOINT_MAX_COUNTERS);
    nn_counters c = {.n = n};
    for (int i = 0; i < n; i++) c.name[i] = names[i], c.value[i] = values ? values[i] : 0;
    return c;
}

void ex_counters_peek(const char *path, const char *program, nn_counters *c) {
    const nn_status s = nn_checkpoint_counters(path, c);
    if (s == NN_ERR_MISMATCH) {
        const char *why = nn_last_error(); /* "<path>: counter ... is not in the file" */
        const size_t n = strlen(path);
        if (strncmp(why, path, n) == 0 && strncmp(why + n, ": ", 2) == 0) why += n + 2;
        ex_die("%s: not a checkpoint of %s (%s): a checkpoint of another model?", path, program,
               why);
    }
    ex_check_status(s);
}

bool ex_checkpoint_due(long every, uint64_t steps, bool last) {
    return every > 0 && steps % (uint64_t)every == 0 && !last;
}

/* ---------------------------------------------------- epochs of batches ---- */

void ex_epochs_run(const ex_epochs *e) {
    uint64_t *c = e->counters->value;
    nn_rng order_rng = {c[EX_C_ORDER_RNG]};
    int *order = malloc((e->items ? e->items : 1) * sizeof *order);
    if (!order) ex_die("out of memory");
    ex_progress *prog = ex_progress_new("train", (long)(e->run->epochs * (long)e->batches), 5.0);
    long tokens = 0, loss_n = 0;
    double loss_sum = 0;
    bool out_of_time = false;
    double epoch_pos = (double)c[EX_C_EPOCH]; /* epochs done, with the fraction of the current */
    for (long epoch = (long)c[EX_C_EPOCH]; epoch < e->run->epochs && !out_of_time; epoch++) {
        nn_optim_set_lr(e->opt, e->run->lr * pow(e->run->lr_decay, (double)epoch));
        /* this epoch's order: from the RNG state at its start, which a checkpoint keeps */
        nn_rng epoch_rng = order_rng;
        for (size_t k = 0; k < e->items; k++)
            order[k] = (int)k;
        ex_shuffle(order, e->items, &epoch_rng);
        for (size_t k = c[EX_C_BATCH]; k < e->batches; k++) {
            loss_sum += e->step(e->ctx, order, k, &tokens);
            loss_n++;
            c[EX_C_STEP]++;
            ex_progress_update(prog, (long)c[EX_C_STEP], tokens, loss_sum / (double)loss_n);
            const bool last = k + 1 == e->batches;
            c[EX_C_BATCH] = last ? 0 : k + 1;
            if (last) c[EX_C_EPOCH] = (uint64_t)epoch + 1;
            c[EX_C_ORDER_RNG] = last ? epoch_rng.state : order_rng.state;
            if (ex_checkpoint_due(e->run->checkpoint_every, c[EX_C_STEP], last)) e->save(e->ctx);
            out_of_time = e->run->time_limit > 0 && ex_seconds() - e->t_start > e->run->time_limit;
            epoch_pos = (double)epoch + (double)(k + 1) / (double)e->batches;
            if (last || out_of_time) break;
            if (e->eval_between && c[EX_C_STEP] % (uint64_t)e->run->eval_every == 0) {
                e->evaluate(e->ctx, (double)c[EX_C_STEP], epoch_pos, loss_sum / (double)loss_n, 0,
                            false);
                loss_sum = 0, loss_n = 0;
            }
        }
        order_rng = epoch_rng;
        e->evaluate(e->ctx, (double)c[EX_C_STEP], epoch_pos,
                    loss_sum / (double)(loss_n ? loss_n : 1), epoch + 1, out_of_time);
        loss_sum = 0, loss_n = 0;
        if (e->save_each_epoch) e->save(e->ctx);
    }
    ex_progress_done(prog);
    free(order);
}
