/* Tests of nn/optim.c: every optimizer against its formula, written out here the way
 * torch.optim computes it, over several steps; weight decay and the biases it skips; lazy sparse
 * updates from real embedding gradients; frozen parameters; gradient clipping; schedules. */
#include "harness.h"
#include "nn.h"

/* --------------------------------------------------------- the mirror ---- */
/* The test's own copy of a store's values and optimizer state, in double, updated element by
 * element by the reference formulas below. It has the store's flat layout, padding included. */

typedef struct {
    size_t n;
    double *th, *s0, *s1;
    bool *started; /* SGD's momentum buffer exists (PyTorch creates it at the first update) */
} mirror;

static mirror mirror_new(ad_params *ps) {
    mirror m = {.n = ad_params_size(ps)};
    m.th = calloc(m.n, sizeof(double));
    m.s0 = calloc(m.n, sizeof(double));
    m.s1 = calloc(m.n, sizeof(double));
    m.started = calloc(m.n, sizeof(bool));
    for (size_t i = 0; i < m.n; i++) m.th[i] = ad_params_values(ps)[i];
    return m;
}

static void mirror_free(mirror *m) {
    free(m->th);
    free(m->s0);
    free(m->s1);
    free(m->started);
}

/* One element of one step, as torch.optim: c holds every hyperparameter explicitly. */
static void ref_update(const nn_optim_config *c, long t, double decay, double g, double *th,
                       double *s0, double *s1, bool *started) {
    g += decay * *th;
    switch (c->kind) {
    case NN_SGD: *th -= c->lr * g; break;
    case NN_MOMENTUM:
    case NN_NESTEROV:
        /* torch: buf = g.clone() at first, then buf = μ buf + (1 - dampening) g */
        *s0 = *started ? c->momentum * *s0 + g : g;
        *started = true;
        if (c->kind == NN_NESTEROV) g += c->momentum * *s0;
        else g = *s0;
        *th -= c->lr * g;
        break;
    case NN_ADAGRAD:
        *s0 += g * g; /* state_sum.addcmul_(grad, grad) */
        *th -= c->lr * g / (sqrt(*s0) + c->eps);
        break;
    case NN_RMSPROP: /* square_avg.mul_(alpha).addcmul_(grad, grad, value=1 - alpha) */
        *s0 = c->rho * *s0 + (1 - c->rho) * g * g;
        *th -= c->lr * g / (sqrt(*s0) + c->eps);
        break;
    case NN_ADAM: {
        *s0 = c->beta1 * *s0 + (1 - c->beta1) * g;
        *s1 = c->beta2 * *s1 + (1 - c->beta2) * g * g;
        double bc1 = 1 - pow(c->beta1, (double)t), bc2 = 1 - pow(c->beta2, (double)t);
        double step_size = c->lr / bc1, denom = sqrt(*s1) / sqrt(bc2) + c->eps;
        *th -= step_size * *s0 / denom;
        break;
    }
    }
}

/* One reference step over the store's gradients. rows[p], when given and not NULL, marks the
 * rows of parameter p to update (sparse mode); otherwise all of them. Frozen ones are skipped. */
static void mirror_step(mirror *m, ad_params *ps, const nn_optim_config *c, long t,
                        const bool *const *rows) {
    for (int p = 0; p < ad_params_count(ps); p++) {
        ad_tensor *x = ad_params_at(ps, p);
        if (!ad_grad(x)) continue;
        const size_t off = ad_param_offset(x), cols = (size_t)ad_cols(x);
        const double decay = ad_rows(x) > 1 ? c->weight_decay : 0;
        for (int r = 0; r < ad_rows(x); r++) {
            if (rows && rows[p] && !rows[p][r]) continue;
            for (size_t j = 0; j < cols; j++) {
                size_t i = off + (size_t)r * cols + j;
                ref_update(c, t, decay, ad_params_grads(ps)[i], &m->th[i], &m->s0[i], &m->s1[i],
                           &m->started[i]);
            }
        }
    }
}

static void to_double(double *out, const ad_real *x, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = x[i];
}

/* The store's values and the optimizer's state arrays equal the mirror's. */
static void mirror_compare(const char *file, int line, const mirror *m, ad_params *ps,
                           const nn_optim *o, int step) {
    double *got = malloc(m->n * sizeof *got);
    char what[64];
    to_double(got, ad_params_values(ps), m->n);
    snprintf(what, sizeof what, "values after step %d", step);
    th_check_array(file, line, what, got, m->th, m->n, 1e-12, 1e-15);
    for (int i = 0; i < nn_optim_state_count(o); i++) {
        const char *name;
        to_double(got, nn_optim_state(o, i, &name), m->n);
        snprintf(what, sizeof what, "state %s after step %d", name, step);
        th_check_array(file, line, what, got, i == 0 ? m->s0 : m->s1, m->n, 1e-12, 1e-15);
    }
    free(got);
}
#define MIRROR_COMPARE(m, ps, o, step) mirror_compare(__FILE__, __LINE__, (m), (ps), (o), (step))

/* ----------------------------------------------------- dense formulas ---- */

/* A weight W (3 x 4) and a bias row b (1 x 4); gradients written straight into the store, new
 * ones each step. The optimizer runs with run, the formulas with cfg (the same but for defaults).
 * lr_change_at > 0 halves the learning rate before that step. */
static void check_formula_as(nn_optim_config run, nn_optim_config cfg, int steps,
                             int lr_change_at) {
    ad_params *ps = ad_params_new();
    ad_tensor *W = th_param(ps, "W", 3, 4, -1, 1, 1), *b = th_param(ps, "b", 1, 4, -1, 1, 2);
    nn_optim *o = nn_optim_new(ps, &run);
    mirror m = mirror_new(ps);
    for (int s = 1; s <= steps; s++) {
        th_fill_uniform(ad_grad(W), 12, -1, 1, 100 + (uint64_t)s);
        th_fill_uniform(ad_grad(b), 4, -2, 2, 200 + (uint64_t)s);
        if (s == lr_change_at) {
            cfg.lr /= 2;
            nn_optim_set_lr(o, cfg.lr);
            CHECK(nn_optim_lr(o) == cfg.lr);
        }
        mirror_step(&m, ps, &cfg, s, NULL);
        nn_optim_step(o);
        CHECK(nn_optim_steps(o) == s);
        MIRROR_COMPARE(&m, ps, o, s);
    }
    mirror_free(&m);
    nn_optim_free(o);
    ad_params_free(ps);
}

static void check_formula(nn_optim_config cfg, int steps, int lr_change_at) {
    check_formula_as(cfg, cfg, steps, lr_change_at);
}

TEST(sgd_formula) {
    check_formula((nn_optim_config){.kind = NN_SGD, .lr = 0.1}, 4, 0);
    check_formula((nn_optim_config){.kind = NN_SGD, .lr = 0.1, .weight_decay = 0.3}, 4, 3);
}

TEST(momentum_formula) {
    check_formula((nn_optim_config){.kind = NN_MOMENTUM, .lr = 0.05, .momentum = 0.9}, 5, 0);
    check_formula(
        (nn_optim_config){.kind = NN_MOMENTUM, .lr = 0.05, .momentum = 0.7, .weight_decay = 0.1},
        5, 4);
}

TEST(nesterov_formula) {
    check_formula((nn_optim_config){.kind = NN_NESTEROV, .lr = 0.05, .momentum = 0.9}, 5, 0);
    check_formula(
        (nn_optim_config){.kind = NN_NESTEROV, .lr = 0.05, .momentum = 0.5, .weight_decay = 0.2},
        5, 0);
}

TEST(adagrad_formula) {
    check_formula((nn_optim_config){.kind = NN_ADAGRAD, .lr = 0.1, .eps = 1e-10}, 4, 0);
    check_formula(
        (nn_optim_config){.kind = NN_ADAGRAD, .lr = 0.1, .eps = 1e-3, .weight_decay = 0.05}, 4, 2);
}

TEST(rmsprop_formula) {
    check_formula((nn_optim_config){.kind = NN_RMSPROP, .lr = 0.01, .rho = 0.99, .eps = 1e-8}, 4,
                  0);
    check_formula((nn_optim_config){.kind = NN_RMSPROP, .lr = 0.01, .rho = 0.9, .eps = 1e-2,
                                    .weight_decay = 0.1},
                  4, 3);
}

TEST(adam_formula) {
    check_formula((nn_optim_config){.kind = NN_ADAM, .lr = 0.1, .beta1 = 0.9, .beta2 = 0.999,
                                    .eps = 1e-8},
                  5, 0);
    check_formula((nn_optim_config){.kind = NN_ADAM, .lr = 0.01, .beta1 = 0.8, .beta2 = 0.95,
                                    .eps = 1e-3, .weight_decay = 0.1},
                  5, 4);
}

/* Zero gradients isolate the decay: W shrinks by (1 - lr λ) each step, the bias row stays. */
TEST(weight_decay_shrinks_weights_not_biases) {
    ad_params *ps = ad_params_new();
    ad_tensor *W = th_param(ps, "W", 3, 4, -1, 1, 1), *b = th_param(ps, "b", 1, 4, -1, 1, 2);
    double W0[12], b0[4];
    to_double(W0, ad_data(W), 12);
    to_double(b0, ad_data(b), 4);
    nn_optim *o = nn_optim_new(ps, &(nn_optim_config){.kind = NN_SGD, .lr = 0.5,
                                                       .weight_decay = 0.2});
    for (int s = 0; s < 3; s++) nn_optim_step(o);
    for (int i = 0; i < 12; i++) CHECK_NEAR(ad_data(W)[i], W0[i] * pow(0.9, 3), 1e-14, 0);
    for (int i = 0; i < 4; i++) CHECK(ad_data(b)[i] == b0[i]);
    nn_optim_free(o);
    ad_params_free(ps);
}

/* The zeros of the config stand for PyTorch's defaults, and the defaults are what runs. */
TEST(config_defaults) {
    ad_params *ps = ad_params_new();
    th_param(ps, "W", 3, 4, -1, 1, 1);
    nn_optim *o = nn_optim_new(ps, &(nn_optim_config){.kind = NN_ADAM, .lr = 1e-3});
    const nn_optim_config *c = nn_optim_get_config(o);
    CHECK(c->beta1 == 0.9 && c->beta2 == 0.999 && c->eps == 1e-8 && c->lr == 1e-3);
    nn_optim_free(o);
    o = nn_optim_new(ps, &(nn_optim_config){.kind = NN_ADAGRAD, .lr = 1e-2});
    CHECK(nn_optim_get_config(o)->eps == 1e-10);
    nn_optim_free(o);
    o = nn_optim_new(ps, &(nn_optim_config){.kind = NN_RMSPROP, .lr = 1e-2});
    CHECK(nn_optim_get_config(o)->rho == 0.99 && nn_optim_get_config(o)->eps == 1e-8);
    nn_optim_free(o);
    ad_params_free(ps);
    /* And they run as written out. */
    check_formula_as((nn_optim_config){.kind = NN_ADAM, .lr = 0.1},
                     (nn_optim_config){.kind = NN_ADAM, .lr = 0.1, .beta1 = 0.9, .beta2 = 0.999,
                                       .eps = 1e-8},
                     3, 0);
    check_formula_as((nn_optim_config){.kind = NN_ADAGRAD, .lr = 0.1},
                     (nn_optim_config){.kind = NN_ADAGRAD, .lr = 0.1, .eps = 1e-10}, 3, 0);
    check_formula_as((nn_optim_config){.kind = NN_RMSPROP, .lr = 0.1},
                     (nn_optim_config){.kind = NN_RMSPROP, .lr = 0.1, .rho = 0.99, .eps = 1e-8},
                     3, 0);
}

/* State arrays: how many, PyTorch's names, the store's length. */
TEST(state_names) {
    static const struct {
        nn_optim_kind kind;
        int n;
        const char *names[2];
    } want[] = {
        {NN_SGD, 0, {NULL, NULL}},        {NN_MOMENTUM, 1, {"momentum", NULL}},
        {NN_NESTEROV, 1, {"momentum", NULL}}, {NN_ADAGRAD, 1, {"sum", NULL}},
        {NN_RMSPROP, 1, {"square_avg", NULL}}, {NN_ADAM, 2, {"exp_avg", "exp_avg_sq"}},
    };
    ad_params *ps = ad_params_new();
    th_param(ps, "W", 3, 4, -1, 1, 1);
    th_param(ps, "b", 1, 4, -1, 1, 2);
    for (size_t k = 0; k < sizeof want / sizeof want[0]; k++) {
        nn_optim *o = nn_optim_new(ps, &(nn_optim_config){.kind = want[k].kind, .lr = 0.1,
                                                           .momentum = 0.9});
        REQUIRE(nn_optim_state_count(o) == want[k].n);
        for (int i = 0; i < want[k].n; i++) {
            const char *name = NULL;
            ad_real *s = nn_optim_state(o, i, &name);
            CHECK(name && strcmp(name, want[k].names[i]) == 0);
            for (size_t j = 0; j < ad_params_size(ps); j++) CHECK(s[j] == 0);
        }
        nn_optim_free(o);
    }
    nn_optim_free(NULL);
    ad_params_free(ps);
}

/* Resuming: after set_steps(100), Adam's bias correction uses t = 101, 102, ... */
TEST(adam_resumes_step_count) {
    nn_optim_config cfg = {.kind = NN_ADAM, .lr = 0.01, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8};
    ad_params *ps = ad_params_new();
    ad_tensor *W = th_param(ps, "W", 3, 4, -1, 1, 1);
    nn_optim *o = nn_optim_new(ps, &cfg);
    nn_optim_set_steps(o, 100);
    mirror m = mirror_new(ps);
    for (int s = 101; s <= 103; s++) {
        th_fill_uniform(ad_grad(W), 12, -1, 1, (uint64_t)s);
        mirror_step(&m, ps, &cfg, s, NULL);
        nn_optim_step(o);
        CHECK(nn_optim_steps(o) == s);
        MIRROR_COMPARE(&m, ps, o, s);
    }
    mirror_free(&m);
    nn_optim_free(o);
    ad_params_free(ps);
}

/* A frozen parameter is neither updated nor given state, even with gradient left in its place
 * of the flat array. */
TEST(frozen_parameters_are_skipped) {
    ad_params *ps = ad_params_new();
    ad_tensor *W = th_param(ps, "W", 3, 4, -1, 1, 1), *b = th_param(ps, "b", 1, 4, -1, 1, 2);
    th_fill_uniform(ad_grad(W), 12, -1, 1, 3);
    th_fill_uniform(ad_grad(b), 4, -1, 1, 4);
    const size_t boff = ad_param_offset(b);
    ad_param_set_frozen(W, true);
    double W0[12];
    to_double(W0, ad_data(W), 12);
    nn_optim_config cfg = {.kind = NN_ADAM, .lr = 0.1, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8,
                           .weight_decay = 0.1};
    nn_optim *o = nn_optim_new(ps, &cfg);
    mirror m = mirror_new(ps);
    for (int s = 1; s <= 3; s++) {
        mirror_step(&m, ps, &cfg, s, NULL);
        nn_optim_step(o);
        MIRROR_COMPARE(&m, ps, o, s);
    }
    for (int i = 0; i < 12; i++) {
        CHECK(ad_data(W)[i] == W0[i]);
        CHECK(nn_optim_state(o, 0, NULL)[ad_param_offset(W) + (size_t)i] == 0);
    }
    CHECK(nn_optim_state(o, 0, NULL)[boff] != 0); /* while b, not frozen, moved */
    mirror_free(&m);
    nn_optim_free(o);
    ad_params_free(ps);
}

/* Large enough for the OpenMP path (> 32768 reals): the blocks still cover everything once. */
TEST(large_parameter_parallel_update) {
    nn_optim_config cfg = {.kind = NN_ADAM, .lr = 0.01, .beta1 = 0.9, .beta2 = 0.99, .eps = 1e-8,
                           .weight_decay = 0.01};
    ad_params *ps = ad_params_new();
    ad_tensor *W = th_param(ps, "W", 300, 201, -1, 1, 1), *b = th_param(ps, "b", 1, 201, -1, 1, 2);
    nn_optim *o = nn_optim_new(ps, &cfg);
    mirror m = mirror_new(ps);
    for (int s = 1; s <= 3; s++) {
        th_fill_uniform(ad_grad(W), 300 * 201, -1, 1, 10 + (uint64_t)s);
        th_fill_uniform(ad_grad(b), 201, -1, 1, 20 + (uint64_t)s);
        mirror_step(&m, ps, &cfg, s, NULL);
        nn_optim_step(o);
        MIRROR_COMPARE(&m, ps, o, s);
    }
    mirror_free(&m);
    nn_optim_free(o);
    ad_params_free(ps);
}

/* ------------------------------------------------------- sparse (lazy) ---- */

/* A small model: an embedding E (6 x 3) whose rows feed y = tanh(E[idx] W + b), W 3 x 2, b 1 x 2.
 * A step with n = 0 uses no embedding (y = tanh(x W + b) on a fixed input): E gets no gradient. */
typedef struct {
    ad_params *ps;
    ad_tensor *E, *W, *b;
    nn_optim *o;
    mirror m;
} emb_model;

static emb_model emb_new(const nn_optim_config *cfg) {
    emb_model e = {.ps = ad_params_new()};
    e.E = th_param(e.ps, "E", 6, 3, -1, 1, 1);
    e.W = th_param(e.ps, "W", 3, 2, -1, 1, 2);
    e.b = th_param(e.ps, "b", 1, 2, -1, 1, 3);
    e.o = nn_optim_new(e.ps, cfg);
    e.m = mirror_new(e.ps);
    return e;
}

static void emb_free(emb_model *e) {
    mirror_free(&e->m);
    nn_optim_free(e->o);
    ad_params_free(e->ps);
}

/* zero_grad, forward, backward: real gradients, E's from ad_gather_rows only. */
static void emb_backward(emb_model *e, ad_tape *tp, const int *idx, int n, uint64_t seed) {
    ad_tape_reset(tp);
    ad_params_zero_grad(e->ps);
    static const ad_real x0[6] = {0.3, -0.2, 0.5, 0.1, 0.7, -0.4};
    ad_tensor *x = n > 0 ? ad_gather_rows(tp, e->E, idx, n) : ad_input(tp, 2, 3, x0);
    ad_tensor *y = ad_tanh(tp, ad_add(tp, ad_matmul(tp, x, e->W), e->b));
    ad_backward(tp, th_project(tp, y, seed));
}

/* Lazy mode against the formula applied to the used rows only, and beside it dense mode against
 * the formula on every row; the two agree on the rows used at the first step. */
static void check_sparse(nn_optim_config cfg) {
    static const int idx[4][3] = {{1, 3, 1}, {3, 4, 0}, {0, 0, 0}, {5, 1, 0}};
    static const int nidx[4] = {3, 2, 0, 2}; /* step 3 uses no embedding row */
    nn_optim_config dense_cfg = cfg;
    cfg.sparse = true;
    dense_cfg.sparse = false;
    emb_model sp = emb_new(&cfg), de = emb_new(&dense_cfg);
    ad_tape *tp = ad_tape_new();
    for (int s = 1; s <= 4; s++) {
        const int *ids = idx[s - 1], n = nidx[s - 1];
        bool used[6] = {false};
        for (int k = 0; k < n; k++) used[ids[k]] = true;
        const bool *rows[3] = {used, NULL, NULL}; /* E lazily; W and b are dense */

        emb_backward(&sp, tp, ids, n, 40 + (uint64_t)s);
        const int *touched;
        int nt = ad_param_touched_rows(sp.E, &touched), nused = 0;
        for (int r = 0; r < 6; r++) nused += used[r];
        REQUIRE(nt == nused);
        CHECK(ad_param_touched_rows(sp.W, &touched) == -1);
        /* What the rows not used hold before the step, value and state, bit for bit. */
        ad_real before[3][18];
        for (int i = 0; i < 18; i++) before[0][i] = ad_data(sp.E)[i];
        for (int k = 0; k < nn_optim_state_count(sp.o); k++)
            for (int i = 0; i < 18; i++)
                before[1 + k][i] = nn_optim_state(sp.o, k, NULL)[ad_param_offset(sp.E) + (size_t)i];
        mirror_step(&sp.m, sp.ps, &cfg, s, rows);
        nn_optim_step(sp.o);
        MIRROR_COMPARE(&sp.m, sp.ps, sp.o, s);
        for (int i = 0; i < 18; i++) {
            if (used[i / 3]) continue;
            CHECK(ad_data(sp.E)[i] == before[0][i]);
            for (int k = 0; k < nn_optim_state_count(sp.o); k++)
                CHECK(nn_optim_state(sp.o, k, NULL)[ad_param_offset(sp.E) + (size_t)i] ==
                      before[1 + k][i]);
        }

        emb_backward(&de, tp, ids, n, 40 + (uint64_t)s);
        mirror_step(&de.m, de.ps, &dense_cfg, s, NULL);
        nn_optim_step(de.o);
        MIRROR_COMPARE(&de.m, de.ps, de.o, s);

        if (s == 1) { /* the same start: used rows alike, unused rows moved only in dense mode */
            int moved = 0;
            for (int i = 0; i < 18; i++) {
                if (used[i / 3]) CHECK(ad_data(sp.E)[i] == ad_data(de.E)[i]);
                else moved += ad_data(de.E)[i] != ad_data(sp.E)[i];
            }
            if (cfg.weight_decay > 0) CHECK(moved == 18 - 3 * nused);
        }
    }
    ad_tape_free(tp);
    emb_free(&sp);
    emb_free(&de);
}

TEST(sparse_sgd) {
    check_sparse((nn_optim_config){.kind = NN_SGD, .lr = 0.1, .weight_decay = 0.1});
}
TEST(sparse_momentum) {
    check_sparse((nn_optim_config){.kind = NN_MOMENTUM, .lr = 0.1, .momentum = 0.9,
                                   .weight_decay = 0.1});
}
TEST(sparse_nesterov) {
    check_sparse((nn_optim_config){.kind = NN_NESTEROV, .lr = 0.1, .momentum = 0.9});
}
TEST(sparse_adagrad) {
    check_sparse((nn_optim_config){.kind = NN_ADAGRAD, .lr = 0.1, .eps = 1e-10,
                                   .weight_decay = 0.1});
}
TEST(sparse_rmsprop) {
    check_sparse((nn_optim_config){.kind = NN_RMSPROP, .lr = 0.01, .rho = 0.9, .eps = 1e-8,
                                   .weight_decay = 0.1});
}
TEST(sparse_adam) {
    check_sparse((nn_optim_config){.kind = NN_ADAM, .lr = 0.05, .beta1 = 0.9, .beta2 = 0.999,
                                   .eps = 1e-8, .weight_decay = 0.1});
}

/* A large table with many rows used: the rows are split among threads, each updated once. */
TEST(sparse_large_table) {
    nn_optim_config cfg = {.kind = NN_ADAM, .lr = 0.01, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8,
                           .weight_decay = 0.01, .sparse = true};
    ad_params *ps = ad_params_new();
    ad_tensor *E = th_param(ps, "E", 1000, 64, -1, 1, 1);
    nn_optim *o = nn_optim_new(ps, &cfg);
    mirror m = mirror_new(ps);
    ad_tape *tp = ad_tape_new();
    nn_rng r = nn_rng_new(3);
    static int idx[900];
    for (int s = 1; s <= 3; s++) {
        bool used[1000] = {false};
        for (int k = 0; k < 900; k++) used[idx[k] = (int)nn_rng_below(&r, 1000)] = true;
        ad_tape_reset(tp);
        ad_params_zero_grad(ps);
        ad_backward(tp, th_project(tp, ad_gather_rows(tp, E, idx, 900), (uint64_t)s));
        const bool *rows[1] = {used};
        mirror_step(&m, ps, &cfg, s, rows);
        nn_optim_step(o);
        MIRROR_COMPARE(&m, ps, o, s);
    }
    ad_tape_free(tp);
    mirror_free(&m);
    nn_optim_free(o);
    ad_params_free(ps);
}

/* ------------------------------------------------------------ clipping ---- */

/* W and b with dense gradients, E with a sparse one, and a frozen F whose stale gradient in the
 * flat array must count for nothing. */
typedef struct {
    ad_params *ps;
    ad_tensor *W, *b, *E, *F;
    ad_tape *tp;
} clip_case;

static clip_case clip_new(double scale) {
    clip_case c = {.ps = ad_params_new(), .tp = ad_tape_new()};
    c.W = th_param(c.ps, "W", 3, 4, -1, 1, 1);
    c.b = th_param(c.ps, "b", 1, 4, -1, 1, 2);
    c.E = th_param(c.ps, "E", 5, 3, -1, 1, 3);
    c.F = th_param(c.ps, "F", 2, 2, -1, 1, 4);
    th_fill_uniform(ad_grad(c.F), 4, 10, 20, 5);
    ad_param_set_frozen(c.F, true);
    static const int idx[2] = {4, 1};
    ad_tensor *x = ad_gather_rows(c.tp, c.E, idx, 2);
    ad_tensor *y = ad_add(c.tp, ad_matmul(c.tp, x, c.W), c.b);
    ad_backward(c.tp, ad_scale(c.tp, th_project(c.tp, y, 6), scale));
    return c;
}

static void clip_free(clip_case *c) {
    ad_tape_free(c->tp);
    ad_params_free(c->ps);
}

/* All gradients that count, flattened: W, b, E. */
static size_t clip_grads(clip_case *c, double *out) {
    ad_tensor *ts[3] = {c->W, c->b, c->E};
    size_t n = 0;
    for (int k = 0; k < 3; k++)
        for (int i = 0; i < ad_rows(ts[k]) * ad_cols(ts[k]); i++) out[n++] = ad_grad(ts[k])[i];
    return n;
}

static double norm(const double *g, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += g[i] * g[i];
    return sqrt(s);
}

TEST(clip_above_threshold_scales_to_it) {
    clip_case c = clip_new(3);
    double g0[31], g1[31], F0[4];
    size_t n = clip_grads(&c, g0);
    to_double(F0, ad_params_grads(c.ps) + ad_param_offset(c.F), 4);
    const double before = norm(g0, n), max = before / 2.5;
    CHECK_NEAR(nn_clip_grad_norm(c.ps, max), before, 1e-13, 0);
    clip_grads(&c, g1);
    CHECK_NEAR(norm(g1, n), max, 1e-13, 0);
    for (size_t i = 0; i < n; i++) CHECK_NEAR(g1[i], g0[i] / 2.5, 1e-13, 1e-300);
    const ad_real *gF = ad_params_grads(c.ps) + ad_param_offset(c.F);
    for (int i = 0; i < 4; i++) CHECK(gF[i] == F0[i]);
    clip_free(&c);
}

TEST(clip_below_threshold_changes_nothing) {
    clip_case c = clip_new(1);
    double g0[31], g1[31];
    size_t n = clip_grads(&c, g0);
    const double before = norm(g0, n);
    CHECK_NEAR(nn_clip_grad_norm(c.ps, before * 1.01), before, 1e-13, 0);
    clip_grads(&c, g1);
    for (size_t i = 0; i < n; i++) CHECK(g1[i] == g0[i]);
    clip_free(&c);
}

/* An infinite gradient: the norm says so and nothing is scaled (the step should be skipped). */
TEST(clip_non_finite_norm_scales_nothing) {
    clip_case c = clip_new(1);
    ad_grad(c.W)[5] = INFINITY;
    double g0[31], g1[31];
    size_t n = clip_grads(&c, g0);
    CHECK(isinf(nn_clip_grad_norm(c.ps, 1.0)));
    clip_grads(&c, g1);
    for (size_t i = 0; i < n; i++) CHECK(g1[i] == g0[i]);
    clip_free(&c);
}

/* ----------------------------------------------------------- schedules ---- */

TEST(lr_schedules) {
    CHECK(nn_lr_step_halving(0.1, 0, 5) == 0.1);
    CHECK(nn_lr_step_halving(0.1, 4, 5) == 0.1);
    CHECK(nn_lr_step_halving(0.1, 5, 5) == 0.05);
    CHECK(nn_lr_step_halving(0.1, 9, 5) == 0.05);
    CHECK(nn_lr_step_halving(0.1, 10, 5) == 0.025);
    CHECK(nn_lr_step_halving(0.1, 27, 5) == 0.1 / 32);
    CHECK(nn_lr_step_halving(0.3, 3, 1) == 0.3 / 8);
    CHECK(nn_lr_exp_decay(0.5, 0.1, 0) == 0.5);
    CHECK_NEAR(nn_lr_exp_decay(0.5, 0.1, 10), 0.5 / M_E, 1e-15, 0);
    CHECK_NEAR(nn_lr_exp_decay(0.5, 0.2, 2.5), 0.5 * exp(-0.5), 1e-15, 0);
    CHECK_NEAR(nn_lr_exp_decay(2, 0.01, 100), 2 / M_E, 1e-15, 0);
}
