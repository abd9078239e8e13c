/*
 * optim.c — optimizers over the store's flat value and gradient arrays, gradient clipping and
 * learning-rate schedules.
 *
 * Every update is PyTorch's torch.optim one (g the gradient, t the step count from 1):
 *   weight decay   g ← g + λθ                   (parameters with more than one row only)
 *   SGD            θ ← θ − lr g
 *   MOMENTUM       v ← μ v + g;  θ ← θ − lr v                        (dampening 0; v₀ = 0)
 *   NESTEROV       v ← μ v + g;  θ ← θ − lr (g + μ v)
 *   ADAGRAD        s ← s + g²;   θ ← θ − lr g / (√s + ε)             (s₀ = 0, ε = 1e-10)
 *   RMSPROP        s ← ρ s + (1 − ρ) g²;  θ ← θ − lr g / (√s + ε)    (not centered)
 *   ADAM           m ← β₁ m + (1 − β₁) g;  v ← β₂ v + (1 − β₂) g²
 *                  θ ← θ − lr (m / (1 − β₁ᵗ)) / (√v / √(1 − β₂ᵗ) + ε)
 * PyTorch starts the momentum buffer as a copy of the first gradient; with dampening 0 that is
 * v = μ·0 + g, the same thing.
 *
 * State arrays have the store's layout, so parameter k's state sits at ad_param_offset(k) like
 * its value and gradient. Sparse (lazy) mode: a parameter whose gradient came only from
 * ad_gather_rows has only those rows updated, value and state, as TensorFlow's LazyAdam; Adam's
 * bias correction still uses the global step count. A parameter no op used since zero_grad (0
 * touched rows) is left alone in sparse mode, as PyTorch skips a parameter whose gradient is None.
 */
#include "nn_internal.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

/* Dense parameters are cut into blocks of this many reals, one OpenMP iteration each. */
#define BLOCK 4096

#define MAX_STATES 2

struct nn_optim {
    ad_params *ps;
    nn_optim_config cfg; /* with the defaults filled in */
    size_t size;         /* ad_params_size when created: the state arrays' length */
    long steps;
    int nstate;
    ad_real *state[MAX_STATES];
    const char *state_name[MAX_STATES];
};


/* ------------------------------------------------------------- creation ---- */

const char *nn_optim_kind_name(nn_optim_kind k) {
    static const char *const names[] = {"sgd", "momentum", "nesterov", "adagrad", "rmsprop",
                                        "adam"};
    return (unsigned)k < sizeof names / sizeof names[0] ? names[k] : "unknown";
}

/* Fill the zeros that mean "default" and check every hyperparameter is in its range. */
static nn_optim_config resolve(const nn_optim_config *in) {
    static const char op[] = "nn_optim_new";
    nn_optim_config c = *in;
    if ((unsigned)c.kind > NN_ADAM) nn_fail(op, "unknown optimizer kind %d", (int)c.kind);
    if (c.rho == 0) c.rho = 0.99;
    if (c.beta1 == 0) c.beta1 = 0.9;
    if (c.beta2 == 0) c.beta2 = 0.999;
    if (c.eps == 0) c.eps = c.kind == NN_ADAGRAD ? 1e-10 : 1e-8;
    const char *kn = nn_optim_kind_name(c.kind);
    if (!(c.lr >= 0) || !isfinite(c.lr)) nn_fail(op, "%s: lr %g is not >= 0", kn, c.lr);
    if (!(c.weight_decay >= 0) || !isfinite(c.weight_decay))
        nn_fail(op, "%s: weight_decay %g is not >= 0", kn, c.weight_decay);
    if (!(c.eps > 0) || !isfinite(c.eps)) nn_fail(op, "%s: eps %g is not > 0", kn, c.eps);
    if (c.kind == NN_MOMENTUM && !(c.momentum >= 0 && c.momentum < 1))
        nn_fail(op, "MOMENTUM: momentum %g is outside [0, 1)", c.momentum);
    if (c.kind == NN_NESTEROV && !(c.momentum > 0 && c.momentum < 1)) /* as PyTorch: μ > 0 */
        nn_fail(op, "NESTEROV: momentum %g is outside (0, 1)", c.momentum);
    if (c.kind == NN_RMSPROP && !(c.rho > 0 && c.rho < 1))
        nn_fail(op, "RMSPROP: rho %g is outside (0, 1)", c.rho);
    if (c.kind == NN_ADAM && !(c.beta1 > 0 && c.beta1 < 1 && c.beta2 > 0 && c.beta2 < 1))
        nn_fail(op, "ADAM: betas (%g, %g) are outside (0, 1)", c.beta1, c.beta2);
    return c;
}

nn_optim *nn_optim_new(ad_params *ps, const nn_optim_config *cfg) {
    if (!ps || !cfg) nn_fail("nn_optim_new", "NULL %s", ps ? "config" : "parameter store");
    nn_optim *o = calloc(1, sizeof *o);
    if (!o) nn_fail("nn_optim_new", "out of memory");
    o->ps = ps;
    o->cfg = resolve(cfg);
    o->size = ad_params_size(ps);
    switch (o->cfg.kind) {
    case NN_SGD: break;
    case NN_MOMENTUM:
    case NN_NESTEROV: o->state_name[o->nstate++] = "momentum"; break;
    case NN_ADAGRAD: o->state_name[o->nstate++] = "sum"; break;
    case NN_RMSPROP: o->state_name[o->nstate++] = "square_avg"; break;
    case NN_ADAM:
        o->state_name[o->nstate++] = "exp_avg";
        o->state_name[o->nstate++] = "exp_avg_sq";
        break;
    }
    for (int i = 0; i < o->nstate; i++) {
        o->state[i] = calloc(o->size ? o->size : 1, sizeof(ad_real));
        if (!o->state[i]) {
            nn_optim_free(o);
            nn_fail("nn_optim_new", "out of memory for %zu reals of optimizer state", o->size);
        }
    }
    return o;
}

void nn_optim_free(nn_optim *o) {
    if (!o) return;
    for (int i = 0; i < MAX_STATES; i++) free(o->state[i]);
    free(o);
}

void nn_optim_set_lr(nn_optim *o, double lr) {
    if (!(lr >= 0) || !isfinite(lr)) nn_fail("nn_optim_set_lr", "lr %g is not >= 0", lr);
    o->cfg.lr = lr;
}
double nn_optim_lr(const nn_optim *o) { return o->cfg.lr; }
long nn_optim_steps(const nn_optim *o) { return o->steps; }
void nn_optim_set_steps(nn_optim *o, long steps) {
    if (steps < 0) nn_fail("nn_optim_set_steps", "step count %ld is negative", steps);
    o->steps = steps;
}
const nn_optim_config *nn_optim_get_config(const nn_optim *o) { return &o->cfg; }

int nn_optim_state_count(const nn_optim *o) { return o->nstate; }
ad_real *nn_optim_state(const nn_optim *o, int i, const char **name) {
    if (i < 0 || i >= o->nstate)
        nn_fail("nn_optim_state", "index %d outside the %d state arrays of %s", i, o->nstate,
                   nn_optim_kind_name(o->cfg.kind));
    if (name) *name = o->state_name[i];
    return o->state[i];
}

/* ---------------------------------------------------------------- steps ---- */

/* What one step needs, fixed before the loops: the flat arrays and the step's constants. */
typedef struct {
    nn_optim_kind kind;
    ad_real *theta;
    const ad_real *grad;
    ad_real *s0, *s1;
    double lr, mu, rho, beta1, beta2, eps;
    double bc1, sqrt_bc2; /* Adam: 1 - β₁ᵗ and √(1 - β₂ᵗ) */
} step_ctx;

/* Update the reals [lo, hi) of the flat arrays; decay is λ or 0 for this parameter. Serial: the
 * callers split the work. Arithmetic is in double, also in the float build. */
static void update_range(const step_ctx *c, size_t lo, size_t hi, double decay) {
    ad_real *th = c->theta, *s0 = c->s0, *s1 = c->s1;
    const ad_real *gr = c->grad;
    switch (c->kind) {
    case NN_SGD:
        for (size_t i = lo; i < hi; i++) th[i] = (ad_real)(th[i] - c->lr * (gr[i] + decay * th[i]));
        break;
    case NN_MOMENTUM:
        for (size_t i = lo; i < hi; i++) {
            double g = gr[i] + decay * th[i];
            double v = c->mu * s0[i] + g;
            s0[i] = (ad_real)v;
            th[i] = (ad_real)(th[i] - c->lr * v);
        }
        break;
    case NN_NESTEROV:
        for (size_t i = lo; i < hi; i++) {
            double g = gr[i] + decay * th[i];
            double v = c->mu * s0[i] + g;
            s0[i] = (ad_real)v;
            th[i] = (ad_real)(th[i] - c->lr * (g + c->mu * v));
        }
        break;
    case NN_ADAGRAD:
        for (size_t i = lo; i < hi; i++) {
            double g = gr[i] + decay * th[i];
            double s = s0[i] + g * g;
            s0[i] = (ad_real)s;
            th[i] = (ad_real)(th[i] - c->lr * g / (sqrt(s) + c->eps));
        }
        break;
    case NN_RMSPROP:
        for (size_t i = lo; i < hi; i++) {
            double g = gr[i] + decay * th[i];
            double s = c->rho * s0[i] + (1 - c->rho) * g * g;
            s0[i] = (ad_real)s;
            th[i] = (ad_real)(th[i] - c->lr * g / (sqrt(s) + c->eps));
        }
        break;
    case NN_ADAM:
        for (size_t i = lo; i < hi; i++) {
            double g = gr[i] + decay * th[i];
            double m = c->beta1 * s0[i] + (1 - c->beta1) * g;
            double v = c->beta2 * s1[i] + (1 - c->beta2) * g * g;
            s0[i] = (ad_real)m;
            s1[i] = (ad_real)v;
            th[i] = (ad_real)(th[i] - c->lr * (m / c->bc1) / (sqrt(v) / c->sqrt_bc2 + c->eps));
        }
        break;
    }
}

/* All n reals from off, in blocks spread over the threads when there are enough of them. */
static void update_dense(const step_ctx *c, size_t off, size_t n, double decay) {
    const ptrdiff_t nblocks = (ptrdiff_t)((n + BLOCK - 1) / BLOCK);
    AD_PARALLEL_FOR(n,
        for (ptrdiff_t b = 0; b < nblocks; b++) {
            size_t lo = off + (size_t)b * BLOCK, end = off + n;
            update_range(c, lo, lo + BLOCK < end ? lo + BLOCK : end, decay);
        });
}

/* The listed rows only (distinct, so threads never share a row). */
static void update_rows(const step_ctx *c, size_t off, size_t cols, const int *rows, int nrows,
                        double decay) {
    AD_PARALLEL_FOR((size_t)nrows * cols,
        for (int k = 0; k < nrows; k++) {
            size_t lo = off + (size_t)rows[k] * cols;
            update_range(c, lo, lo + cols, decay);
        });
}

void nn_optim_step(nn_optim *o) {
    ad_params *ps = o->ps;
    if (ad_params_size(ps) != o->size)
        nn_fail("nn_optim_step", "the store holds %zu reals but the optimizer was made for %zu;"
                   " create the optimizer after the last ad_param", ad_params_size(ps), o->size);
    o->steps++;
    const nn_optim_config *cfg = &o->cfg;
    step_ctx c = {
        .kind = cfg->kind,
        .theta = ad_params_values(ps),
        .grad = ad_params_grads(ps),
        .s0 = o->state[0],
        .s1 = o->state[1],
        .lr = cfg->lr,
        .mu = cfg->momentum,
        .rho = cfg->rho,
        .beta1 = cfg->beta1,
        .beta2 = cfg->beta2,
        .eps = cfg->eps,
        .bc1 = 1 - pow(cfg->beta1, (double)o->steps),
        .sqrt_bc2 = sqrt(1 - pow(cfg->beta2, (double)o->steps)),
    };
    const int count = ad_params_count(ps);
    for (int p = 0; p < count; p++) {
        ad_tensor *t = ad_params_at(ps, p);
        if (!ad_grad(t)) continue; /* frozen */
        const int rows = ad_rows(t);
        const size_t cols = (size_t)ad_cols(t), off = ad_param_offset(t);
        const double decay = rows > 1 ? cfg->weight_decay : 0; /* biases are 1 x n */
        if (cfg->sparse) {
            const int *touched;
            int ntouched = ad_param_touched_rows(t, &touched);
            if (ntouched >= 0) {
                update_rows(&c, off, cols, touched, ntouched, decay);
                continue;
            }
        }
        update_dense(&c, off, (size_t)rows * cols, decay);
    }
}

/* ------------------------------------------------------------- clipping ---- */

/* Σ g² over n values. */
static double sum_squares(const ad_real *g, size_t n) {
    double s = 0;
    AD_PARALLEL_FOR_SUM(n, s,
        for (size_t i = 0; i < n; i++) s += (double)g[i] * g[i];
    );
    return s;
}

/* g *= k over n values; k = 0 instead sums the squares. Returns the sum (0 when scaling). */
static double square_or_scale(ad_real *g, size_t n, double k) {
    if (k == 0) return sum_squares(g, n);
    AD_PARALLEL_FOR(n,
        for (size_t i = 0; i < n; i++) g[i] = (ad_real)(g[i] * k);
    );
    return 0;
}

/* Over every gradient that is not frozen. One that only ad_gather_rows wrote is visited row by
 * row (its other rows are zero), so a large embedding costs only the rows a step used. 0 rows
 * listed means no op wrote it since zero_grad, but the caller may have: that one is read whole. */
static double all_grads(ad_params *ps, double k) {
    double total = 0;
    for (int p = 0; p < ad_params_count(ps); p++) {
        ad_tensor *t = ad_params_at(ps, p);
        ad_real *g = ad_grad(t);
        if (!g) continue;
        const size_t cols = (size_t)ad_cols(t);
        const int *rows;
        int nrows = ad_param_touched_rows(t, &rows);
        if (nrows > 0)
            for (int r = 0; r < nrows; r++)
                total += square_or_scale(g + (size_t)rows[r] * cols, cols, k);
        else
            total += square_or_scale(g, (size_t)ad_rows(t) * cols, k);
    }
    return total;
}

/*
 * When the global norm exceeds max_norm every gradient is scaled by max_norm / norm, so the norm
 * afterwards is max_norm (PyTorch divides by norm + 1e-6, which lands just under it). A norm that
 * is not finite is returned without scaling anything: the caller should skip the step.
 */
double nn_clip_grad_norm(ad_params *ps, double max_norm) {
    if (!(max_norm > 0)) nn_fail("nn_clip_grad_norm", "max_norm %g is not > 0", max_norm);
    const double norm = sqrt(all_grads(ps, 0));
    if (isfinite(norm) && norm > max_norm) all_grads(ps, max_norm / norm);
    return norm;
}

/* ------------------------------------------------------------ schedules ---- */

/* lr0 / 2^floor(epoch / every) */
double nn_lr_step_halving(double lr0, int epoch, int every) {
    if (every <= 0 || epoch < 0)
        nn_fail("nn_lr_step_halving", "epoch %d, every %d: need epoch >= 0, every > 0", epoch,
                   every);
    return ldexp(lr0, -(epoch / every));
}

/* lr0 e^{-k t} */
double nn_lr_exp_decay(double lr0, double k, double t) { return lr0 * exp(-k * t); }

double nn_train_step(ad_tape *tp, ad_tensor *loss, nn_optim *o, double max_norm) {
    ad_params_zero_grad(o->ps);
    ad_backward(tp, loss);
    if (max_norm > 0) nn_clip_grad_norm(o->ps, max_norm);
    nn_optim_step(o);
    return (double)ad_item(loss);
}
