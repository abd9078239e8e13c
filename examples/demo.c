/*
 * demo.c — two small networks trained from tape primitives alone (the public ad.h), to show the
 * loop every model here runs: record a forward pass, ad_backward, an SGD step over the one flat
 * parameter block, ad_tape_reset.
 *
 *   (a) FORMULAS §3, the two-layer classifier θ = σ(x W1 + b1) W2 + b2, ŷ = softmax(θ), on three
 *       interleaved spirals in the plane, in minibatches.
 *   (b) FORMULAS §4, an Elman RNN h(t) = tanh(h(t-1) W + x(t) U + b), o(t) = h(t) V + c, that
 *       learns to predict the next character of a short repeated text (BPTT over SEQ_LEN steps).
 */
#include "ad.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { POINTS = 100, CLASSES = 3, HIDDEN = 32, BATCH = 32 };          /* the classifier */
enum { RNN_HIDDEN = 32, SEQ_BATCH = 16, SEQ_LEN = 16, MAX_VOCAB = 64 }; /* the RNN */
static const char TEXT[] = "the cat sat on the mat. the dog sat on the log. ";

static uint64_t rng = 1;
static double uniform(void) { /* splitmix64, in [0, 1) */
    uint64_t z = (rng += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return (double)((z ^ (z >> 31)) >> 11) * 0x1p-53;
}

/* Xavier-uniform: U(-a, a) with a = sqrt(6 / (n_in + n_out)), so Var(W) = 2 / (n_in + n_out). */
static ad_tensor *xavier(ad_params *ps, const char *name, int n_in, int n_out) {
    ad_tensor *w = ad_param(ps, name, n_in, n_out);
    const double a = sqrt(6.0 / (n_in + n_out));
    for (int k = 0; k < n_in * n_out; k++) ad_data(w)[k] = (ad_real)(a * (2 * uniform() - 1));
    return w;
}

/* θ ← θ − lr ∇J over the flat block, the gradient first scaled to norm <= clip (FORMULAS §12). */
static void sgd_step(ad_params *ps, double lr, double clip) {
    ad_real *theta = ad_params_values(ps), *g = ad_params_grads(ps);
    double norm = 0;
    for (size_t k = 0; k < ad_params_size(ps); k++) norm += (double)g[k] * g[k];
    const double s = sqrt(norm) > clip ? lr * clip / sqrt(norm) : lr;
    for (size_t k = 0; k < ad_params_size(ps); k++) theta[k] -= (ad_real)(s * g[k]);
}

/* Print the loss averaged since the last print: at step 1, then every `every` steps. */
static void report(int step, int every, double loss) {
    static double sum;
    static int count;
    if (step == 1) sum = 0, count = 0;
    sum += loss, count++;
    if (step > 1 && step % every != 0) return;
    printf("  step %5d  loss %.4f\n", step, sum / count);
    sum = 0, count = 0;
}

static int argmax(const ad_real *v, int n) {
    int best = 0;
    for (int j = 1; j < n; j++) best = v[j] > v[best] ? j : best;
    return best;
}

/* (a) ------------------------------------------------------------------------------------------ */
typedef struct { ad_tensor *W1, *b1, *W2, *b2; } mlp;

static ad_tensor *mlp_logits(ad_tape *tp, const mlp *m, ad_tensor *x) {
    ad_tensor *h1 = ad_sigmoid(tp, ad_add(tp, ad_matmul(tp, x, m->W1), m->b1)); /* σ(x W1 + b1) */
    return ad_add(tp, ad_matmul(tp, h1, m->W2), m->b2);                        /* h1 W2 + b2 */
}

static void classifier(int steps) {
    /* Three spirals: class k's arm turns through [4k, 4k + 4] radians as its radius grows. */
    enum { N = CLASSES * POINTS };
    static ad_real xs[N][2];
    static int ys[N];
    for (int i = 0; i < N; i++) {
        const double r = (double)(i % POINTS) / POINTS, noise = 0.2 * (uniform() + uniform() - 1);
        const double t = 4.0 * (i / POINTS) + 4.0 * r + noise;
        xs[i][0] = (ad_real)(r * sin(t)), xs[i][1] = (ad_real)(r * cos(t)), ys[i] = i / POINTS;
    }
    ad_params *ps = ad_params_new();
    const mlp m = {xavier(ps, "W1", 2, HIDDEN), ad_param(ps, "b1", 1, HIDDEN),
                   xavier(ps, "W2", HIDDEN, CLASSES), ad_param(ps, "b2", 1, CLASSES)};
    ad_tape *tp = ad_tape_new();
    for (int step = 1; step <= steps; step++) {
        ad_real bx[BATCH][2];
        int by[BATCH];
        for (int i = 0; i < BATCH; i++) {
            const int k = (int)(uniform() * N);
            bx[i][0] = xs[k][0], bx[i][1] = xs[k][1], by[i] = ys[k];
        }
        ad_tensor *x = ad_input(tp, BATCH, 2, &bx[0][0]);
        ad_tensor *loss = ad_softmax_xent(tp, mlp_logits(tp, &m, x), by, NULL);
        ad_params_zero_grad(ps);
        ad_backward(tp, loss);
        sgd_step(ps, 2.0, 5.0);
        report(step, steps >= 10 ? steps / 10 : 1, ad_item(loss));
        ad_tape_reset(tp);
    }
    ad_tensor *theta = mlp_logits(tp, &m, ad_input(tp, N, 2, &xs[0][0])); /* all points at once */
    int correct = 0;
    for (int i = 0; i < N; i++) correct += argmax(ad_data(theta) + i * CLASSES, CLASSES) == ys[i];
    printf("  accuracy %.1f%% on the %d points\n", 100.0 * correct / N, N);
    ad_tape_free(tp);
    ad_params_free(ps);
}

/* (b) ------------------------------------------------------------------------------------------ */
typedef struct { ad_tensor *U, *W, *b, *V, *c; int vocab, ids[sizeof TEXT]; } elman_net;

/* Run the net over SEQ_BATCH windows of the text starting at start[], from h(0) = 0. Returns the
 * loss averaged over the SEQ_LEN steps; adds the correct next-character guesses to *correct. */
static ad_tensor *elman_loss(ad_tape *tp, const elman_net *e, const int *start, int *correct) {
    const int len = (int)strlen(TEXT), V = e->vocab;
    ad_real onehot[SEQ_BATCH * MAX_VOCAB];
    int target[SEQ_BATCH];
    ad_tensor *h = ad_fill(tp, SEQ_BATCH, RNN_HIDDEN, 0), *loss = NULL;
    for (int t = 0; t < SEQ_LEN; t++) {
        memset(onehot, 0, sizeof onehot);
        for (int i = 0; i < SEQ_BATCH; i++) {
            onehot[i * V + e->ids[(start[i] + t) % len]] = 1;
            target[i] = e->ids[(start[i] + t + 1) % len];
        }
        ad_tensor *x = ad_input(tp, SEQ_BATCH, V, onehot);
        h = ad_tanh(tp, ad_add(tp, ad_add(tp, ad_matmul(tp, h, e->W), ad_matmul(tp, x, e->U)),
                               e->b));
        ad_tensor *o = ad_add(tp, ad_matmul(tp, h, e->V), e->c);
        ad_tensor *l = ad_softmax_xent(tp, o, target, NULL);
        loss = loss ? ad_add(tp, loss, l) : l;
        for (int i = 0; i < SEQ_BATCH; i++) *correct += argmax(ad_data(o) + i * V, V) == target[i];
    }
    return ad_scale(tp, loss, (ad_real)1.0 / SEQ_LEN);
}

static void elman(int steps) {
    elman_net e = {0}; /* each distinct character of the text gets an id */
    const int len = (int)strlen(TEXT);
    char chars[MAX_VOCAB];
    for (int i = 0; i < len; i++) {
        const char *at = memchr(chars, TEXT[i], (size_t)e.vocab);
        if (!at) chars[e.vocab++] = TEXT[i];
        e.ids[i] = at ? (int)(at - chars) : e.vocab - 1;
    }
    ad_params *ps = ad_params_new();
    e.U = xavier(ps, "U", e.vocab, RNN_HIDDEN), e.W = xavier(ps, "W", RNN_HIDDEN, RNN_HIDDEN);
    e.b = ad_param(ps, "b", 1, RNN_HIDDEN);
    e.V = xavier(ps, "V", RNN_HIDDEN, e.vocab), e.c = ad_param(ps, "c", 1, e.vocab);
    ad_tape *tp = ad_tape_new();
    int start[SEQ_BATCH], correct = 0, total = 0;
    for (int step = 1; step <= steps; step++) {
        for (int i = 0; i < SEQ_BATCH; i++) start[i] = (int)(uniform() * len);
        ad_tensor *loss = elman_loss(tp, &e, start, &correct);
        ad_params_zero_grad(ps);
        ad_backward(tp, loss);
        sgd_step(ps, 0.5, 5.0);
        report(step, steps >= 10 ? steps / 10 : 1, ad_item(loss));
        ad_tape_reset(tp);
    }
    correct = 0; /* now over windows starting at every position of the text */
    for (int s = 0; s < len; s += SEQ_BATCH) {
        for (int i = 0; i < SEQ_BATCH; i++) start[i] = (s + i) % len;
        elman_loss(tp, &e, start, &correct);
        total += SEQ_BATCH * SEQ_LEN;
        ad_tape_reset(tp);
    }
    printf("  next-character accuracy %.1f%% over %d windows of %d characters\n",
           100.0 * correct / total, total / SEQ_LEN, SEQ_LEN);
    ad_tape_free(tp);
    ad_params_free(ps);
}

static bool parse_long(const char *s, long lo, long hi, long *out) {
    char *end;
    *out = strtol(s ? s : "", &end, 10);
    return s && *s && !*end && *out >= lo && *out <= hi;
}

int main(int argc, char **argv) {
    long steps = 2000, seed = 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: %s [--steps N] [--seed N]\n"
                   "Trains (a) a two-layer classifier on three spirals and (b) an Elman RNN on\n"
                   "next-character prediction, N SGD steps each (default 2000), printing the loss\n"
                   "as it falls, then the accuracy. The seed picks the data and initial weights.\n",
                   argv[0]);
            return 0;
        } else if (!strcmp(argv[i], "--steps") && parse_long(argv[i + 1], 1, INT_MAX, &steps)) {
            i++;
        } else if (!strcmp(argv[i], "--seed") && parse_long(argv[i + 1], 0, LONG_MAX, &seed)) {
            i++;
        } else {
            fprintf(stderr, "%s: bad argument '%s' (try --help)\n", argv[0], argv[i]);
            return 2;
        }
    }
    rng = (uint64_t)seed;
    printf("(a) two-layer classifier, 3 spirals of %d points, minibatches of %d\n", POINTS, BATCH);
    classifier((int)steps);
    printf("(b) Elman RNN, next character of \"%s\"\n", TEXT);
    elman((int)steps);
    return 0;
}
