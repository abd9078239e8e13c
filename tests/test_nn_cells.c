/*
 * Tests of nn/cells.c, nn/rnn.c and nn/layers.c: each cell's step against its equations (FORMULAS
 * §4, §6 forms A and B, §7), the runner's gradients by central differences (single layer,
 * stacked, bidirectional, variable lengths: §8), padding invariance, truncated BPTT with carried
 * state, dropout between layers, and the linear and embedding layers.
 */
#include "harness.h"
#include "nn.h"

static const nn_cell_kind all_kinds[] = {NN_ELMAN, NN_ELMAN_RELU, NN_GRU, NN_GRU_CHO, NN_LSTM};
enum { NKINDS = sizeof all_kinds / sizeof all_kinds[0] };

static double sigm(double v) { return 1 / (1 + exp(-v)); }

/* Bitwise equality of two arrays of reals (the strongest form of "unchanged"). */
static int count_bit_differences(const ad_real *a, const ad_real *b, size_t n) {
    int diff = 0;
    for (size_t k = 0; k < n; k++) diff += memcmp(&a[k], &b[k], sizeof a[k]) != 0;
    return diff;
}

/* ---------------------------------------------------- one step against §4, §6, §7 ---- */

enum { SB = 2, SIN = 3, SH = 4 }; /* batch, input, hidden of the one-step tests */

/* Column col of the row-form product v M (M with ld columns): Σ_k v_k M[k][col]. */
static double vm(const double *v, int n, const double *M, int ld, int col) {
    double s = 0;
    for (int k = 0; k < n; k++) s += v[k] * M[k * ld + col];
    return s;
}

/* A cell's parameter values, read from its tensors; bh and Wc NULL where the cell has none. */
typedef struct {
    const double *Wx, *Wh, *bx, *bh, *Wc;
} cell_vals;

/* §4, row form: h' = act(x Wx + bx + h Wh + bh) (the lecture's a = b + W h + U x, b = bx + bh). */
static void ref_elman(const cell_vals *p, bool relu, const double *x, const double *h,
                      double *h_out) {
    for (int j = 0; j < SH; j++) {
        double a = vm(x, SIN, p->Wx, SH, j) + p->bx[j] + vm(h, SH, p->Wh, SH, j) + p->bh[j];
        h_out[j] = relu ? fmax(a, 0) : tanh(a);
    }
}

/* §7, gates i f g o in blocks of H: c' = f ∘ c + i ∘ g, h' = o ∘ tanh(c'). */
static void ref_lstm(const cell_vals *p, const double *x, const double *h, const double *c,
                     double *h_out, double *c_out) {
    const int G = 4 * SH;
    for (int j = 0; j < SH; j++) {
        double z[4];
        for (int q = 0; q < 4; q++) {
            int col = q * SH + j;
            z[q] = vm(x, SIN, p->Wx, G, col) + p->bx[col] + vm(h, SH, p->Wh, G, col) + p->bh[col];
        }
        double i = sigm(z[0]), f = sigm(z[1]), g = tanh(z[2]), o = sigm(z[3]);
        c_out[j] = f * c[j] + i * g;
        h_out[j] = o * tanh(c_out[j]);
    }
}

/* §6 form A, gates r z n: n = tanh(x W_n + b_n + r ∘ (h U_n + c_n)), h' = z ∘ h + (1 - z) ∘ n. */
static void ref_gru(const cell_vals *p, const double *x, const double *h, double *h_out) {
    const int G = 3 * SH;
    for (int j = 0; j < SH; j++) {
        double xr = vm(x, SIN, p->Wx, G, j) + p->bx[j];
        double xz = vm(x, SIN, p->Wx, G, SH + j) + p->bx[SH + j];
        double xn = vm(x, SIN, p->Wx, G, 2 * SH + j) + p->bx[2 * SH + j];
        double hr = vm(h, SH, p->Wh, G, j) + p->bh[j];
        double hz = vm(h, SH, p->Wh, G, SH + j) + p->bh[SH + j];
        double hn = vm(h, SH, p->Wh, G, 2 * SH + j) + p->bh[2 * SH + j];
        double r = sigm(xr + hr), z = sigm(xz + hz), n = tanh(xn + r * hn);
        h_out[j] = z * h[j] + (1 - z) * n;
    }
}

/* §6 form B (Cho): u = σ(h W_u + x U_u + b_u), r = σ(h W_r + x U_r + b_r),
 * h̃ = tanh((r ∘ h) W_h + x U_h + b_h), h' = (1 - u) ∘ h + u ∘ h̃; W_u | W_r is Wh (H x 2H), W_h is
 * Wc, U_u | U_r | U_h is Wx and b_u | b_r | b_h is bx. */
static void ref_gru_cho(const cell_vals *p, const double *x, const double *h, double *h_out) {
    double u[SH], rh[SH];
    for (int j = 0; j < SH; j++) {
        u[j] = sigm(vm(h, SH, p->Wh, 2 * SH, j) + vm(x, SIN, p->Wx, 3 * SH, j) + p->bx[j]);
        double r = sigm(vm(h, SH, p->Wh, 2 * SH, SH + j) + vm(x, SIN, p->Wx, 3 * SH, SH + j) +
                        p->bx[SH + j]);
        rh[j] = r * h[j];
    }
    for (int j = 0; j < SH; j++) {
        double cand = tanh(vm(rh, SH, p->Wc, SH, j) + vm(x, SIN, p->Wx, 3 * SH, 2 * SH + j) +
                           p->bx[2 * SH + j]);
        h_out[j] = (1 - u[j]) * h[j] + u[j] * cand;
    }
}

/* One nn_cell_step from random parameters and states against the reference of its kind. */
static void check_one_step(nn_cell_kind kind) {
    ad_params *ps = ad_params_new();
    nn_rng rng = nn_rng_new(5);
    nn_cell c;
    nn_cell_init(&c, ps, "cell", kind, SIN, SH, 0, &rng);
    /* Every value nonzero and away from Xavier's pattern, biases included. */
    th_fill_uniform(ad_params_values(ps), ad_params_size(ps), -0.9, 0.9, 100 + (uint64_t)kind);
    double x[SB][SIN], h[SB][SH], cs[SB][SH];
    th_fill_uniform(&x[0][0], SB * SIN, -1, 1, 1);
    th_fill_uniform(&h[0][0], SB * SH, -0.8, 0.8, 2);
    th_fill_uniform(&cs[0][0], SB * SH, -1.5, 1.5, 3);

    ad_tape *tp = ad_tape_new();
    ad_tensor *xw = ad_add(tp, ad_matmul(tp, ad_input(tp, SB, SIN, &x[0][0]), c.Wx), c.bx);
    ad_tensor *state[2] = {ad_input(tp, SB, SH, &h[0][0]), ad_input(tp, SB, SH, &cs[0][0])};
    ad_tensor *next[2] = {NULL, NULL};
    nn_cell_step(tp, &c, xw, state, next);
    REQUIRE(next[0] && ad_rows(next[0]) == SB && ad_cols(next[0]) == SH);

    const cell_vals p = {ad_data(c.Wx), ad_data(c.Wh), ad_data(c.bx), c.bh ? ad_data(c.bh) : NULL,
                         c.Wc ? ad_data(c.Wc) : NULL};
    double want_h[SB][SH], want_c[SB][SH];
    for (int b = 0; b < SB; b++) switch (kind) {
        case NN_ELMAN:
        case NN_ELMAN_RELU: ref_elman(&p, kind == NN_ELMAN_RELU, x[b], h[b], want_h[b]); break;
        case NN_GRU: ref_gru(&p, x[b], h[b], want_h[b]); break;
        case NN_GRU_CHO: ref_gru_cho(&p, x[b], h[b], want_h[b]); break;
        case NN_LSTM: ref_lstm(&p, x[b], h[b], cs[b], want_h[b], want_c[b]); break;
        }
    char what[64];
    snprintf(what, sizeof what, "%s h'", nn_cell_kind_name(kind));
    double err = CHECK_ARRAY(what, ad_data(next[0]), &want_h[0][0], SB * SH, 1e-13, 1e-15);
    if (kind == NN_LSTM) {
        REQUIRE(next[1] && ad_rows(next[1]) == SB && ad_cols(next[1]) == SH);
        err = fmax(err, CHECK_ARRAY("lstm c'", ad_data(next[1]), &want_c[0][0], SB * SH, 1e-13,
                                    1e-15));
    }
    th_note("%s: one step vs its equations, max rel err %.2e", nn_cell_kind_name(kind), err);
    ad_tape_free(tp);
    ad_params_free(ps);
}

TEST(elman_step_matches_formula_4) { check_one_step(NN_ELMAN); }
TEST(elman_relu_step_matches_formula_4_with_relu) { check_one_step(NN_ELMAN_RELU); }
TEST(gru_step_matches_formula_6_form_a) { check_one_step(NN_GRU); }
TEST(gru_cho_step_matches_formula_6_form_b) { check_one_step(NN_GRU_CHO); }
TEST(lstm_step_matches_formula_7) { check_one_step(NN_LSTM); }

/* Shapes and names of each cell's parameters, the gate counts, and the LSTM forget bias. */
TEST(cell_init_shapes_names_and_forget_bias) {
    const int gates[] = {[NN_ELMAN] = 1, [NN_ELMAN_RELU] = 1, [NN_GRU] = 3, [NN_GRU_CHO] = 3,
                         [NN_LSTM] = 4};
    for (int k = 0; k < NKINDS; k++) {
        nn_cell_kind kind = all_kinds[k];
        ad_params *ps = ad_params_new();
        nn_rng rng = nn_rng_new(1);
        nn_cell c;
        nn_cell_init(&c, ps, "c", kind, 5, 3, 1.0, &rng);
        const int G = gates[kind];
        CHECK(nn_cell_gates(kind) == G && c.gates == G);
        CHECK(nn_cell_nstate(kind) == (kind == NN_LSTM ? 2 : 1));
        CHECK(c.input == 5 && c.hidden == 3 && c.kind == kind);
        CHECK(ad_params_find(ps, "c.Wx") == c.Wx && ad_rows(c.Wx) == 5 && ad_cols(c.Wx) == G * 3);
        CHECK(ad_params_find(ps, "c.bx") == c.bx && ad_rows(c.bx) == 1 && ad_cols(c.bx) == G * 3);
        CHECK(ad_params_find(ps, "c.Wh") == c.Wh && ad_rows(c.Wh) == 3);
        if (kind == NN_GRU_CHO) {
            CHECK(ad_cols(c.Wh) == 6 && c.bh == NULL);
            CHECK(c.Wc && ad_params_find(ps, "c.Wc") == c.Wc && ad_rows(c.Wc) == 3 &&
                  ad_cols(c.Wc) == 3);
        } else {
            CHECK(ad_cols(c.Wh) == G * 3 && c.Wc == NULL);
            CHECK(c.bh && ad_params_find(ps, "c.bh") == c.bh && ad_cols(c.bh) == G * 3);
        }
        /* Biases zero, except the LSTM's forget gate (block 1 of i f g o) in bx only. */
        for (int j = 0; j < G * 3; j++) {
            double want = kind == NN_LSTM && j >= 3 && j < 6 ? 1.0 : 0.0;
            CHECK_MSG(ad_data(c.bx)[j] == want, "%s bx[%d] = %g, want %g",
                      nn_cell_kind_name(kind), j, ad_data(c.bx)[j], want);
            if (c.bh) CHECK(ad_data(c.bh)[j] == 0);
        }
        ad_params_free(ps);
    }
}

/* ------------------------------------------------------- the runner's gradients ---- */

enum { IN = 3, HID = 3, T = 5, B = 3 }; /* the gradient tests' sizes */
static const int uneven_lengths[B] = {5, 3, 2};

/* A runner and its input, everything (x included) a parameter of one store. */
typedef struct {
    ad_params *ps;
    nn_rnn rnn;
    ad_tensor *x; /* (T·B) x IN, time-major */
    int T;
    const int *lengths;       /* NULL: all T */
    const nn_rnn_state *init; /* NULL: zeros */
} seq_model;

static void model_init(seq_model *m, nn_cell_kind kind, int layers, bool bidir, int steps,
                       int batch, const int *lengths, double dropout, uint64_t seed) {
    *m = (seq_model){.ps = ad_params_new(), .T = steps, .lengths = lengths};
    nn_rng rng = nn_rng_new(seed);
    const nn_rnn_config cfg = {.kind = kind, .input = IN, .hidden = HID, .layers = layers,
                               .bidirectional = bidir, .dropout = dropout};
    nn_rnn_init(&m->rnn, m->ps, "rnn", &cfg, &rng);
    m->x = ad_param(m->ps, "x", steps * batch, IN);
    /* Nonzero biases and an input of unit scale: every term of every gate matters. */
    th_fill_uniform(ad_params_values(m->ps), ad_params_size(m->ps), -0.7, 0.7, seed);
}

/* Σ_{l,d,k} project(final[l][d][k]), each state with its own weights. */
static ad_tensor *finals_loss(ad_tape *tp, const nn_rnn *rnn, const nn_rnn_result *res) {
    ad_tensor *L = NULL;
    for (int l = 0; l < rnn->layers; l++)
        for (int d = 0; d < (rnn->bidirectional ? 2 : 1); d++)
            for (int k = 0; k < nn_cell_nstate(rnn->kind); k++) {
                ad_tensor *p = th_project(tp, res->final[l][d][k], 100 + 10 * l + 2 * d + k);
                L = L ? ad_add(tp, L, p) : p;
            }
    return L;
}

/* J = project(out) + finals: the gradient reaches every output and every final state. */
static ad_tensor *result_loss(ad_tape *tp, const nn_rnn *rnn, const nn_rnn_result *res) {
    return ad_add(tp, th_project(tp, res->out, 1), finals_loss(tp, rnn, res));
}

static ad_tensor *model_loss(ad_tape *tp, void *ctx) {
    seq_model *m = ctx;
    nn_rnn_result res = nn_rnn_forward(tp, &m->rnn, m->x, m->T, m->lengths, m->init);
    return result_loss(tp, &m->rnn, &res);
}

/* th_tight's tolerances with a step of 1e-5 rather than 1e-6: the runner's loss sums ~100 terms of
 * order 1, so its rounding (~1e-15) over 2h puts the noise of h = 1e-6 at ~1e-9, th_tight's atol
 * (measured up to 2e-9); at h = 1e-5 the noise is ~1e-10 and the truncation error h² f‴/6 stays
 * below it (measured at most 6e-10 in all). */
static const double RUNNER_STEP = 1e-5;

/* Gradient check of every cell kind in one configuration. */
static void gradcheck_all_kinds(int layers, bool bidir, const int *lengths) {
    for (int k = 0; k < NKINDS; k++) {
        seq_model m;
        model_init(&m, all_kinds[k], layers, bidir, T, B, lengths, 0, 40 + (uint64_t)k);
        ad_gradcheck_opts o = th_tight;
        o.step = RUNNER_STEP;
        /* relu's kink: a coordinate whose step straddles a pre-activation's zero is skipped. */
        if (all_kinds[k] == NN_ELMAN_RELU) o.kink_tol = 1e-3;
        ad_gradcheck_result r = CHECK_GRADCHECK(m.ps, model_loss, &m, &o);
        th_note("%-10s %d coordinates (%d kinks skipped), max abs err %.1e, max rel err %.1e%s",
                nn_cell_kind_name(all_kinds[k]), r.checked, r.skipped, r.max_abs_err,
                r.max_rel_err, r.failed ? "  <- FAILED" : "");
        ad_params_free(m.ps);
    }
}

TEST(gradcheck_single_layer) { gradcheck_all_kinds(1, false, NULL); }
TEST(gradcheck_two_layers_stacked) { gradcheck_all_kinds(2, false, NULL); }
TEST(gradcheck_bidirectional) { gradcheck_all_kinds(1, true, NULL); }
TEST(gradcheck_two_layers_bidirectional_unequal_lengths) {
    gradcheck_all_kinds(2, true, uneven_lengths);
}

/* With two threads a layer runs in parts at once, each on a child tape of its own (nn/rnn.c): a
 * bidirectional layer its two directions, a unidirectional one two blocks of the batch (here 1 and
 * 2 of the 3 sequences). The loss and every gradient equal the serial runner's (one thread), for
 * every cell kind, two layers with dropout between them, unequal lengths and a given initial
 * state; a second backward pass over the same recording adds the same gradient again. */
static void check_parts_at_once(bool bidir) {
    const int dirs = bidir ? 2 : 1;
    for (int kind = 0; kind < NKINDS; kind++) {
        seq_model m;
        /* dropout between the layers: the masks must not depend on the thread count either */
        model_init(&m, all_kinds[kind], 2, bidir, T, B, uneven_lengths, 0.3, 70 + (uint64_t)kind);
        nn_rnn_state *init = nn_rnn_state_new(&m.rnn, B);
        th_fill_uniform(init->data, (size_t)2 * dirs * nn_cell_nstate(all_kinds[kind]) * B * HID,
                        -0.5, 0.5, 80 + (uint64_t)kind);
        m.init = init;
        const size_t n = ad_params_size(m.ps);
        double *g[2], J[2];
        int nodes[2];
        ad_tape *tp = ad_tape_new();
        for (int v = 0; v < 2; v++) {
            ad_set_num_threads(v + 1);
            g[v] = malloc(n * sizeof *g[v]);
            REQUIRE(g[v]);
            ad_params_zero_grad(m.ps);
            ad_tape_seed(tp, 11);
            ad_tensor *loss = model_loss(tp, &m);
            nodes[v] = ad_tape_node_count(tp);
            ad_backward(tp, loss);
            J[v] = ad_item(loss);
            for (size_t k = 0; k < n; k++) g[v][k] = ad_params_grads(m.ps)[k];
            if (v == 1) { /* again, on the same recording: twice the gradient */
                ad_backward(tp, loss);
                for (size_t k = 0; k < n; k++)
                    CHECK_NEAR(ad_params_grads(m.ps)[k], 2 * g[1][k], 1e-12, 1e-14);
            }
            ad_tape_reset(tp);
        }
        ad_set_num_threads(0);
        /* the parent tape holds one node per layer instead of every step of the layer */
        CHECK_MSG(nodes[1] < nodes[0] / 2, "%s: %d nodes on the tape with 2 threads, %d with 1",
                  nn_cell_kind_name(all_kinds[kind]), nodes[1], nodes[0]);
        CHECK_NEAR(J[1], J[0], 1e-14, 0);
        CHECK_ARRAY(nn_cell_kind_name(all_kinds[kind]), g[1], g[0], n, 1e-13, 1e-15);
        free(g[0]);
        free(g[1]);
        ad_tape_free(tp);
        nn_rnn_state_free(init);
        ad_params_free(m.ps);
    }
}

TEST(bidirectional_directions_at_once_equal_one_after_the_other) { check_parts_at_once(true); }

TEST(batch_blocks_at_once_equal_the_whole_batch_in_one) { check_parts_at_once(false); }

/* Output shape, and the bidirectional output being [forward ; backward] side by side (§8). */
TEST(bidirectional_output_is_forward_beside_backward) {
    seq_model bi;
    model_init(&bi, NN_GRU, 1, true, T, B, NULL, 0, 3);
    REQUIRE(nn_rnn_output_width(&bi.rnn) == 2 * HID);
    /* Two unidirectional runners holding the forward and backward cells; the backward one is fed
     * the sequence reversed in time. */
    nn_rnn fw = bi.rnn, bw = bi.rnn;
    fw.bidirectional = bw.bidirectional = false;
    bw.cell[0][0] = bi.rnn.cell[0][1];
    REQUIRE(nn_rnn_output_width(&fw) == HID);
    ad_real xr[T * B * IN];
    for (int t = 0; t < T; t++)
        memcpy(&xr[t * B * IN], &ad_data(bi.x)[(T - 1 - t) * B * IN], B * IN * sizeof *xr);
    ad_tape *tp = ad_tape_new();
    nn_rnn_result rb = nn_rnn_forward(tp, &bi.rnn, bi.x, T, NULL, NULL);
    nn_rnn_result rf = nn_rnn_forward(tp, &fw, bi.x, T, NULL, NULL);
    nn_rnn_result rr = nn_rnn_forward(tp, &bw, ad_input(tp, T * B, IN, xr), T, NULL, NULL);
    REQUIRE(ad_rows(rb.out) == T * B && ad_cols(rb.out) == 2 * HID);
    for (int t = 0; t < T; t++)
        for (int b = 0; b < B; b++)
            for (int j = 0; j < HID; j++) {
                CHECK_NEAR(ad_get(rb.out, t * B + b, j), ad_get(rf.out, t * B + b, j), 1e-13,
                           1e-15);
                CHECK_NEAR(ad_get(rb.out, t * B + b, HID + j),
                           ad_get(rr.out, (T - 1 - t) * B + b, j), 1e-13, 1e-15);
            }
    /* The backward direction ends at t = 0: its final state is its output there. */
    for (int b = 0; b < B; b++)
        for (int j = 0; j < HID; j++)
            CHECK(ad_get(rb.final[0][1][0], b, j) == ad_get(rb.out, b, HID + j));
    ad_tape_free(tp);
    ad_params_free(bi.ps);
}

/* Stacked (§8): a 2-layer runner is layer 0's runner followed by layer 1's on its output. */
static void check_stacking(bool bidir) {
    seq_model m;
    model_init(&m, NN_LSTM, 2, bidir, T, B, uneven_lengths, 0, 5);
    nn_rnn first = m.rnn, second = m.rnn;
    first.layers = second.layers = 1;
    second.input = nn_rnn_output_width(&m.rnn);
    second.cell[0][0] = m.rnn.cell[1][0];
    second.cell[0][1] = m.rnn.cell[1][1];
    ad_tape *tp = ad_tape_new();
    nn_rnn_result both = nn_rnn_forward(tp, &m.rnn, m.x, T, uneven_lengths, NULL);
    nn_rnn_result r0 = nn_rnn_forward(tp, &first, m.x, T, uneven_lengths, NULL);
    nn_rnn_result r1 = nn_rnn_forward(tp, &second, r0.out, T, uneven_lengths, NULL);
    const size_t n = (size_t)T * B * nn_rnn_output_width(&m.rnn);
    CHECK_ARRAY("stacked output", ad_data(both.out), ad_data(r1.out), n, 1e-14, 1e-300);
    for (int d = 0; d < (bidir ? 2 : 1); d++)
        for (int k = 0; k < 2; k++) {
            CHECK_ARRAY("layer 0 final", ad_data(both.final[0][d][k]), ad_data(r0.final[0][d][k]),
                        B * HID, 1e-14, 1e-300);
            CHECK_ARRAY("layer 1 final", ad_data(both.final[1][d][k]), ad_data(r1.final[0][d][k]),
                        B * HID, 1e-14, 1e-300);
        }
    ad_tape_free(tp);
    ad_params_free(m.ps);
}

TEST(stacked_layers_feed_the_next) { check_stacking(false); }
TEST(stacked_bidirectional_layers_feed_the_next) { check_stacking(true); }

/* ----------------------------------------------------------- padding invariance ---- */

/* Everything one run produces, copied out of its tape. */
typedef struct {
    ad_real *out, *final[2][2][2], *grads;
    double loss;
} run_copy;

static ad_real *copy_of(ad_tensor *t) {
    size_t n = (size_t)ad_rows(t) * (size_t)ad_cols(t);
    ad_real *c = malloc(n * sizeof *c);
    memcpy(c, ad_data(t), n * sizeof *c);
    return c;
}

static run_copy run_and_copy(seq_model *m) {
    run_copy c;
    memset(&c, 0, sizeof c);
    ad_tape *tp = ad_tape_new();
    nn_rnn_result res = nn_rnn_forward(tp, &m->rnn, m->x, m->T, m->lengths, m->init);
    ad_tensor *L = result_loss(tp, &m->rnn, &res);
    ad_params_zero_grad(m->ps);
    ad_backward(tp, L);
    c.loss = ad_item(L);
    c.out = copy_of(res.out);
    for (int l = 0; l < m->rnn.layers; l++)
        for (int d = 0; d < 2; d++)
            for (int k = 0; k < 2; k++)
                if (res.final[l][d][k]) c.final[l][d][k] = copy_of(res.final[l][d][k]);
    c.grads = malloc(ad_params_size(m->ps) * sizeof *c.grads);
    memcpy(c.grads, ad_params_grads(m->ps), ad_params_size(m->ps) * sizeof *c.grads);
    ad_tape_free(tp);
    return c;
}

static void run_copy_free(run_copy *c) {
    free(c->out);
    free(c->grads);
    for (int l = 0; l < 2; l++)
        for (int d = 0; d < 2; d++)
            for (int k = 0; k < 2; k++) free(c->final[l][d][k]);
}

/* Rows of padded steps: garbage there must change nothing that counts. */
static void check_padding_invariance(nn_cell_kind kind) {
    seq_model m;
    model_init(&m, kind, 2, true, T, B, uneven_lengths, 0, 61);
    const int nstate = nn_cell_nstate(kind), W = 2 * HID;
    run_copy a = run_and_copy(&m);
    for (int t = 0; t < T; t++)
        for (int b = 0; b < B; b++)
            if (t >= uneven_lengths[b])
                th_fill_uniform(&ad_data(m.x)[(t * B + b) * IN], IN, -30, 30, 1000 + 7 * t + b);
    run_copy z = run_and_copy(&m);

    /* (1) Outputs at valid positions, final states, loss and every gradient are unchanged. */
    int bits = 0, padded_out_nonzero = 0, padded_dx_nonzero = 0;
    for (int t = 0; t < T; t++)
        for (int b = 0; b < B; b++) {
            const size_t row = (size_t)(t * B + b);
            if (t < uneven_lengths[b]) {
                CHECK_ARRAY("valid output row", &z.out[row * W], &a.out[row * W], W, 1e-14, 1e-300);
                bits += count_bit_differences(&z.out[row * W], &a.out[row * W], W);
            } else /* (2) padded output rows are exactly zero, in both runs */
                for (int j = 0; j < W; j++)
                    padded_out_nonzero += a.out[row * W + j] != 0 || z.out[row * W + j] != 0;
        }
    CHECK_MSG(padded_out_nonzero == 0, "%d output values at padded steps are not 0",
              padded_out_nonzero);
    for (int l = 0; l < 2; l++)
        for (int d = 0; d < 2; d++)
            for (int k = 0; k < nstate; k++) {
                CHECK_ARRAY("final state", z.final[l][d][k], a.final[l][d][k], B * HID, 1e-14,
                            1e-300);
                bits += count_bit_differences(z.final[l][d][k], a.final[l][d][k], B * HID);
            }
    CHECK_NEAR(z.loss, a.loss, 1e-14, 0);
    bits += z.loss != a.loss;
    const size_t np = ad_params_size(m.ps);
    CHECK_ARRAY("parameter gradients", z.grads, a.grads, np, 1e-14, 1e-300);
    bits += count_bit_differences(z.grads, a.grads, np);
    /* ... and the padded rows of x receive no gradient at all. */
    const ad_real *dx = &z.grads[ad_param_offset(m.x)];
    for (int t = 0; t < T; t++)
        for (int b = 0; b < B; b++)
            for (int j = 0; j < IN; j++)
                padded_dx_nonzero += t >= uneven_lengths[b] && dx[(t * B + b) * IN + j] != 0;
    CHECK_MSG(padded_dx_nonzero == 0, "%d gradient values at padded rows of x are not 0",
              padded_dx_nonzero);
    th_note("%s: padded inputs replaced, %d values differ bitwise (outputs, states, loss, %zu "
            "gradients)", nn_cell_kind_name(kind), bits, np);

    /* (3) Each sequence run alone over its own length gives the same outputs and final states:
     * the forward direction stops at the true end, the backward one starts there. */
    double worst = 0;
    ad_tape *tp = ad_tape_new();
    for (int b = 0; b < B; b++) {
        const int len = uneven_lengths[b];
        ad_tensor *xb = ad_input(tp, len, IN, NULL);
        for (int t = 0; t < len; t++)
            memcpy(&ad_data(xb)[t * IN], &ad_data(m.x)[(t * B + b) * IN], IN * sizeof(ad_real));
        nn_rnn_result r = nn_rnn_forward(tp, &m.rnn, xb, len, NULL, NULL);
        for (int t = 0; t < len; t++) {
            double row[2 * HID];
            for (int j = 0; j < W; j++) row[j] = ad_get(r.out, t, j);
            worst = fmax(worst, CHECK_ARRAY("output alone", &a.out[(t * B + b) * W], row, W,
                                            1e-12, 1e-15));
        }
        for (int l = 0; l < 2; l++)
            for (int d = 0; d < 2; d++)
                for (int k = 0; k < nstate; k++) {
                    char what[64];
                    snprintf(what, sizeof what, "final[%d][%d][%d] of sequence %d alone", l, d, k,
                             b);
                    worst = fmax(worst, CHECK_ARRAY(what, &a.final[l][d][k][b * HID],
                                                    ad_data(r.final[l][d][k]), HID, 1e-12, 1e-15));
                }
    }
    th_note("%s: batch with lengths vs each sequence alone, max rel err %.2e",
            nn_cell_kind_name(kind), worst);
    ad_tape_free(tp);
    run_copy_free(&a);
    run_copy_free(&z);
    ad_params_free(m.ps);
}

TEST(padding_invariance_bidirectional_two_layer_lstm) { check_padding_invariance(NN_LSTM); }
TEST(padding_invariance_bidirectional_two_layer_gru) { check_padding_invariance(NN_GRU); }

/* nn_seq_mask: 1 at valid steps, 0 at padding; all 1 without lengths. */
TEST(seq_mask_marks_valid_steps) {
    ad_real w[T * B];
    nn_seq_mask(w, T, B, uneven_lengths);
    for (int t = 0; t < T; t++)
        for (int b = 0; b < B; b++) CHECK(w[t * B + b] == (t < uneven_lengths[b] ? 1 : 0));
    nn_seq_mask(w, T, B, NULL);
    for (int k = 0; k < T * B; k++) CHECK(w[k] == 1);
}

/* ------------------------------------------------------------- truncated BPTT ---- */

enum { TT = 8, TW = 4, TB = 2 }; /* whole sequence, window, batch */

typedef struct {
    seq_model m;         /* m.x: the whole sequence, TT·TB rows */
    ad_tensor *x1, *x2;  /* its two windows, as parameters of their own */
} tbptt_case;

static void tbptt_init(tbptt_case *c) {
    model_init(&c->m, NN_LSTM, 2, false, TT, TB, NULL, 0, 77);
    c->x1 = ad_param(c->m.ps, "x1", TW * TB, IN);
    c->x2 = ad_param(c->m.ps, "x2", TW * TB, IN);
    const ad_real *x = ad_data(c->m.x);
    memcpy(ad_data(c->x1), x, TW * TB * IN * sizeof *x);
    memcpy(ad_data(c->x2), x + TW * TB * IN, TW * TB * IN * sizeof *x);
}

TEST(truncated_bptt_windows_carry_state) {
    tbptt_case c;
    tbptt_init(&c);
    const nn_rnn *rnn = &c.m.rnn;
    ad_tape *tp = ad_tape_new();
    nn_rnn_result whole = nn_rnn_forward(tp, rnn, c.m.x, TT, NULL, NULL);

    nn_rnn_state *s = nn_rnn_state_new(rnn, TB);
    REQUIRE(s);
    nn_rnn_result w1 = nn_rnn_forward(tp, rnn, c.x1, TW, NULL, NULL);
    nn_rnn_state_store(s, &w1);
    nn_rnn_result w2 = nn_rnn_forward(tp, rnn, c.x2, TW, NULL, s);

    /* Values: the two windows are the whole run cut in two. */
    const int rows = TW * TB;
    double worst = CHECK_ARRAY("window 1 outputs", ad_data(w1.out), ad_data(whole.out),
                               (size_t)rows * HID, 1e-13, 1e-15);
    worst = fmax(worst, CHECK_ARRAY("window 2 outputs", ad_data(w2.out),
                                    ad_data(whole.out) + rows * HID, (size_t)rows * HID, 1e-13,
                                    1e-15));
    for (int l = 0; l < 2; l++)
        for (int k = 0; k < 2; k++)
            worst = fmax(worst, CHECK_ARRAY("final states", ad_data(w2.final[l][0][k]),
                                            ad_data(whole.final[l][0][k]), TB * HID, 1e-13,
                                            1e-15));
    th_note("two windows of %d vs one of %d: max rel err %.2e", TW, TT, worst);

    /* The stored state is window 1's final state, laid out as the runner reads it back. */
    for (int l = 0; l < 2; l++)
        for (int k = 0; k < 2; k++)
            for (int j = 0; j < TB * HID; j++)
                CHECK(s->data[((size_t)l * 2 + k) * TB * HID + j] == ad_data(w1.final[l][0][k])[j]);

    /* Gradients, all on this one tape. Window 2's loss reaches nothing of window 1... */
    ad_tensor *L1 = result_loss(tp, rnn, &w1), *L2 = result_loss(tp, rnn, &w2);
    ad_params_zero_grad(c.m.ps);
    ad_backward(tp, L2);
    int reached = 0;
    for (int k = 0; k < rows * IN; k++) reached += ad_grad(c.x1)[k] != 0;
    CHECK_MSG(reached == 0, "window 2's loss reached %d values of window 1's input", reached);
    /* ... while window 2's own input gets the same gradient as the whole run gives it for the
     * same loss: the carried state holds the same value, only its history is cut. */
    ad_real dx2[TW * TB * IN];
    memcpy(dx2, ad_grad(c.x2), sizeof dx2);
    /* Window 2's loss as a function of the whole run: its rows of the output (a slice of the
     * same shape as w2.out, so th_project weighs it alike) and the final states. */
    ad_tensor *L2_whole = ad_add(tp, th_project(tp, ad_slice_rows(tp, whole.out, rows, rows), 1),
                                 finals_loss(tp, rnn, &whole));
    ad_params_zero_grad(c.m.ps);
    ad_backward(tp, L2_whole);
    CHECK_NEAR(ad_item(L2_whole), ad_item(L2), 1e-12, 1e-14);
    double e = CHECK_ARRAY("dx of window 2: truncated vs whole", dx2, ad_grad(c.m.x) + rows * IN,
                           (size_t)rows * IN, 1e-10, 1e-14);
    th_note("dL2/dx(window 2), truncated vs whole run: max rel err %.2e", e);
    /* In the whole run the same loss does reach the first window's input: what truncation cuts. */
    reached = 0;
    for (int k = 0; k < rows * IN; k++) reached += ad_grad(c.m.x)[k] != 0;
    CHECK_MSG(reached == rows * IN, "the whole run's window-2 loss reached only %d of %d values of "
              "the first window's input", reached, rows * IN);

    /* Both windows' losses together give window 1's input exactly window 1's own gradient. */
    ad_params_zero_grad(c.m.ps);
    ad_backward(tp, L1);
    ad_real dx1[TW * TB * IN];
    memcpy(dx1, ad_grad(c.x1), sizeof dx1);
    ad_params_zero_grad(c.m.ps);
    ad_backward(tp, ad_add(tp, L1, L2));
    CHECK(count_bit_differences(ad_grad(c.x1), dx1, (size_t)rows * IN) == 0);

    nn_rnn_state_free(s);
    ad_tape_free(tp);
    ad_params_free(c.m.ps);
}

/* ---------------------------------------------------------- dropout between layers ---- */

static bool same_result(const nn_rnn *rnn, const nn_rnn_result *a, const nn_rnn_result *b,
                        int first_layer) {
    size_t n = (size_t)ad_rows(a->out) * (size_t)ad_cols(a->out);
    bool same = first_layer > 0 || count_bit_differences(ad_data(a->out), ad_data(b->out), n) == 0;
    for (int l = first_layer; l < rnn->layers; l++)
        for (int d = 0; d < (rnn->bidirectional ? 2 : 1); d++)
            for (int k = 0; k < nn_cell_nstate(rnn->kind); k++)
                same = same && count_bit_differences(ad_data(a->final[l][d][k]),
                                                     ad_data(b->final[l][d][k]),
                                                     (size_t)B * HID) == 0;
    return same;
}

TEST(dropout_is_identity_in_evaluation_and_reproducible_in_training) {
    seq_model m;
    model_init(&m, NN_LSTM, 2, true, T, B, NULL, 0.5, 81);
    nn_rnn plain = m.rnn;
    plain.dropout = 0;
    ad_tape *tp = ad_tape_new(), *ev = ad_tape_new();
    nn_rnn_result ref = nn_rnn_forward(tp, &plain, m.x, T, NULL, NULL);

    /* Evaluation: the dropout-free result, bit for bit, every time. */
    ad_tape_set_training(ev, false);
    nn_rnn_result e1 = nn_rnn_forward(ev, &m.rnn, m.x, T, NULL, NULL);
    nn_rnn_result e2 = nn_rnn_forward(ev, &m.rnn, m.x, T, NULL, NULL);
    CHECK(same_result(&m.rnn, &e1, &ref, 0));
    CHECK(same_result(&m.rnn, &e2, &e1, 0));

    /* Training: the same seed gives the same masks; another seed, others. */
    ad_tape *tr[3] = {ad_tape_new(), ad_tape_new(), ad_tape_new()};
    const uint64_t seeds[3] = {7, 7, 8};
    nn_rnn_result r[3];
    for (int i = 0; i < 3; i++) {
        ad_tape_seed(tr[i], seeds[i]);
        r[i] = nn_rnn_forward(tr[i], &m.rnn, m.x, T, NULL, NULL);
    }
    CHECK(same_result(&m.rnn, &r[0], &r[1], 0));
    CHECK(!same_result(&m.rnn, &r[0], &r[2], 1));
    /* Dropout acts between the layers: layer 0 sees the input untouched, layer 1 does not. */
    for (int d = 0; d < 2; d++)
        for (int k = 0; k < 2; k++)
            CHECK(count_bit_differences(ad_data(r[0].final[0][d][k]), ad_data(ref.final[0][d][k]),
                                        (size_t)B * HID) == 0);
    CHECK(!same_result(&m.rnn, &r[0], &ref, 1));
    for (int i = 0; i < 3; i++) ad_tape_free(tr[i]);
    ad_tape_free(ev);
    ad_tape_free(tp);
    ad_params_free(m.ps);
}

/* As PyTorch: no dropout after the last layer, so a single layer is the same in training. */
TEST(dropout_does_not_touch_a_single_layer) {
    seq_model m;
    model_init(&m, NN_GRU, 1, true, T, B, NULL, 0.5, 82);
    nn_rnn plain = m.rnn;
    plain.dropout = 0;
    ad_tape *tp = ad_tape_new();
    ad_tape_seed(tp, 3);
    nn_rnn_result a = nn_rnn_forward(tp, &m.rnn, m.x, T, NULL, NULL);
    nn_rnn_result b = nn_rnn_forward(tp, &plain, m.x, T, NULL, NULL);
    CHECK(same_result(&m.rnn, &a, &b, 0));
    ad_tape_free(tp);
    ad_params_free(m.ps);
}

/* The checker reseeds the tape for every evaluation, so the masks hold still while it looks. */
TEST(gradcheck_with_dropout_in_training) {
    for (int k = 0; k < NKINDS; k++) {
        seq_model m;
        model_init(&m, all_kinds[k], 2, true, T, B, uneven_lengths, 0.4, 90 + (uint64_t)k);
        ad_gradcheck_opts o = th_tight;
        o.step = RUNNER_STEP;
        if (all_kinds[k] == NN_ELMAN_RELU) o.kink_tol = 1e-3;
        ad_gradcheck_result r = CHECK_GRADCHECK(m.ps, model_loss, &m, &o);
        th_note("%-10s with dropout 0.4: %d coordinates, max abs err %.1e, max rel err %.1e%s",
                nn_cell_kind_name(all_kinds[k]), r.checked, r.max_abs_err, r.max_rel_err,
                r.failed ? "  <- FAILED" : "");
        ad_params_free(m.ps);
    }
}

/* ------------------------------------------------------------ linear, embedding ---- */

typedef struct {
    nn_linear l;
    ad_tensor *x;
} linear_case;

static ad_tensor *linear_loss(ad_tape *tp, void *ctx) {
    linear_case *c = ctx;
    return th_project(tp, nn_linear_forward(tp, &c->l, c->x), 9);
}

/* y = x W + b (row form); by §2, dW = xᵀ δ, db = Σ_rows δ, dx = δ Wᵀ. */
TEST(linear_values_and_gradients) {
    enum { M = 5, NI = 4, NO = 3 };
    for (int bias = 0; bias < 2; bias++) {
        ad_params *ps = ad_params_new();
        nn_rng rng = nn_rng_new(11);
        linear_case c;
        nn_linear_init(&c.l, ps, "lin", NI, NO, bias, &rng);
        REQUIRE(ad_params_find(ps, "lin.W") == c.l.W);
        CHECK(ad_rows(c.l.W) == NI && ad_cols(c.l.W) == NO);
        const double a = sqrt(6.0 / (NI + NO));
        int nonzero = 0;
        for (int k = 0; k < NI * NO; k++) {
            CHECK(fabs(ad_data(c.l.W)[k]) <= a);
            nonzero += ad_data(c.l.W)[k] != 0;
        }
        CHECK(nonzero == NI * NO);
        if (bias) {
            REQUIRE(c.l.b && ad_params_find(ps, "lin.b") == c.l.b);
            CHECK(ad_rows(c.l.b) == 1 && ad_cols(c.l.b) == NO);
            for (int j = 0; j < NO; j++) CHECK(ad_data(c.l.b)[j] == 0);
            th_fill_uniform(ad_data(c.l.b), NO, -1, 1, 12);
        } else {
            CHECK(c.l.b == NULL && ad_params_find(ps, "lin.b") == NULL);
        }
        c.x = th_param(ps, "x", M, NI, -1, 1, 13);
        const double *W = ad_data(c.l.W), *x = ad_data(c.x);

        ad_tape *tp = ad_tape_new();
        ad_tensor *y = nn_linear_forward(tp, &c.l, c.x);
        REQUIRE(ad_rows(y) == M && ad_cols(y) == NO);
        double want[M * NO];
        for (int i = 0; i < M; i++)
            for (int j = 0; j < NO; j++)
                want[i * NO + j] = vm(&x[i * NI], NI, W, NO, j) + (bias ? ad_data(c.l.b)[j] : 0);
        CHECK_ARRAY("x W + b", ad_data(y), want, M * NO, 1e-14, 1e-15);

        ad_tensor *L = th_project(tp, y, 9);
        ad_params_zero_grad(ps);
        ad_backward(tp, L);
        const double *d = ad_grad(y);
        REQUIRE(d);
        double dW[NI * NO] = {0}, db[NO] = {0}, dx[M * NI] = {0};
        for (int i = 0; i < M; i++)
            for (int j = 0; j < NO; j++) {
                db[j] += d[i * NO + j];
                for (int k = 0; k < NI; k++) {
                    dW[k * NO + j] += x[i * NI + k] * d[i * NO + j];
                    dx[i * NI + k] += d[i * NO + j] * W[k * NO + j];
                }
            }
        CHECK_ARRAY("dW = xᵀ δ", ad_grad(c.l.W), dW, NI * NO, 1e-13, 1e-15);
        CHECK_ARRAY("dx = δ Wᵀ", ad_grad(c.x), dx, M * NI, 1e-13, 1e-15);
        if (bias) CHECK_ARRAY("db = Σ δ", ad_grad(c.l.b), db, NO, 1e-13, 1e-15);
        ad_tape_free(tp);
        CHECK_GRADCHECK(ps, linear_loss, &c, &th_tight);
        ad_params_free(ps);
    }
}

typedef struct {
    nn_embedding e;
    const int *ids;
    int n;
} embedding_case;

static ad_tensor *embedding_loss(ad_tape *tp, void *ctx) {
    embedding_case *c = ctx;
    return th_project(tp, nn_embedding_forward(tp, &c->e, c->ids, c->n), 4);
}

/* y_i = E[ids_i]; dE[r] = Σ_{i: ids_i = r} δ_i, only the rows used, and the store knows which. */
TEST(embedding_values_and_gradients) {
    enum { V = 7, DIM = 3, N = 5 };
    static const int ids[N] = {2, 5, 2, 0, 2};
    ad_params *ps = ad_params_new();
    nn_rng rng = nn_rng_new(21);
    embedding_case c = {.ids = ids, .n = N};
    nn_embedding_init(&c.e, ps, "emb", V, DIM, &rng);
    REQUIRE(ad_params_find(ps, "emb.E") == c.e.E);
    CHECK(ad_rows(c.e.E) == V && ad_cols(c.e.E) == DIM);
    int nonzero = 0;
    for (int k = 0; k < V * DIM; k++) {
        CHECK(fabs(ad_data(c.e.E)[k]) <= 0.1);
        nonzero += ad_data(c.e.E)[k] != 0;
    }
    CHECK(nonzero == V * DIM);

    ad_tape *tp = ad_tape_new();
    ad_tensor *y = nn_embedding_forward(tp, &c.e, ids, N);
    REQUIRE(ad_rows(y) == N && ad_cols(y) == DIM);
    for (int i = 0; i < N; i++)
        for (int j = 0; j < DIM; j++) CHECK(ad_get(y, i, j) == ad_get(c.e.E, ids[i], j));
    ad_params_zero_grad(ps);
    ad_backward(tp, th_project(tp, y, 4));
    double want[V * DIM] = {0};
    for (int i = 0; i < N; i++)
        for (int j = 0; j < DIM; j++) want[ids[i] * DIM + j] += ad_grad(y)[i * DIM + j];
    CHECK_ARRAY("dE", ad_grad(c.e.E), want, V * DIM, 1e-15, 1e-300);
    const int *rows = NULL;
    int n = ad_param_touched_rows(c.e.E, &rows);
    REQUIRE(n == 3 && rows);
    int seen = 0; /* a bit per row */
    for (int i = 0; i < n; i++) seen |= 1 << rows[i];
    CHECK(seen == (1 << 0 | 1 << 2 | 1 << 5));
    ad_tape_free(tp);
    CHECK_GRADCHECK(ps, embedding_loss, &c, &th_tight);
    ad_params_free(ps);
}
