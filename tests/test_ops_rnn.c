/*
 * Tests of autodiff/ops_rnn.c: each fused op's values against the composition of primitive ops it
 * replaces (to ~1e-12), its gradient by central differences, its shape errors; then a whole LSTM
 * and GRU step built with the fused ops against the same step composed, in value and gradient.
 */
#include "harness.h"

enum { B = 3, H = 4, K = 5 }; /* batch, hidden, width of the product's inner dimension */

/* Columns [g·H, g·H + H) of x: one gate. */
static ad_tensor *gate(ad_tape *tp, ad_tensor *x, int g) { return ad_slice_cols(tp, x, g * H, H); }

/* The compositions the fused ops replace, as nn/cells.c wrote them. */
static ad_tensor *lstm_cell_composed(ad_tape *tp, ad_tensor *xw, ad_tensor *hu, ad_tensor *c) {
    ad_tensor *z = ad_add(tp, xw, hu);
    ad_tensor *i = ad_sigmoid(tp, gate(tp, z, 0)), *f = ad_sigmoid(tp, gate(tp, z, 1));
    ad_tensor *g = ad_tanh(tp, gate(tp, z, 2));
    return ad_add(tp, ad_mul(tp, f, c), ad_mul(tp, i, g));
}
static ad_tensor *lstm_hidden_composed(ad_tape *tp, ad_tensor *xw, ad_tensor *hu, ad_tensor *c) {
    ad_tensor *o = ad_sigmoid(tp, gate(tp, ad_add(tp, xw, hu), 3));
    return ad_mul(tp, o, ad_tanh(tp, c));
}
static ad_tensor *gru_composed(ad_tape *tp, ad_tensor *xw, ad_tensor *hu, ad_tensor *h) {
    ad_tensor *r = ad_sigmoid(tp, ad_add(tp, gate(tp, xw, 0), gate(tp, hu, 0)));
    ad_tensor *z = ad_sigmoid(tp, ad_add(tp, gate(tp, xw, 1), gate(tp, hu, 1)));
    ad_tensor *n = ad_tanh(tp, ad_add(tp, gate(tp, xw, 2), ad_mul(tp, r, gate(tp, hu, 2))));
    return ad_add(tp, ad_mul(tp, z, h), ad_mul(tp, ad_one_minus(tp, z), n));
}

typedef ad_tensor *(*gate_op)(ad_tape *, ad_tensor *, ad_tensor *, ad_tensor *);
static ad_tensor *fused_lstm_cell(ad_tape *tp, ad_tensor *a, ad_tensor *b, ad_tensor *c) {
    return ad_lstm_cell(tp, a, b, c);
}
static ad_tensor *fused_lstm_hidden(ad_tape *tp, ad_tensor *a, ad_tensor *b, ad_tensor *c) {
    return ad_lstm_hidden(tp, a, b, c);
}
static ad_tensor *fused_gru(ad_tape *tp, ad_tensor *a, ad_tensor *b, ad_tensor *c) {
    return ad_gru_cell(tp, a, b, c);
}

/* ------------------------------------------------------------------ addmm ---- */

typedef struct {
    ad_tensor *c, *a, *b;
    bool composed;
} addmm_case;

static ad_tensor *addmm_loss(ad_tape *tp, void *ctx) {
    addmm_case *k = ctx;
    ad_tensor *y = k->composed ? ad_add(tp, k->c, ad_matmul(tp, k->a, k->b))
                               : ad_addmm(tp, k->c, k->a, k->b);
    return th_project(tp, y, 11);
}

/* Value and gradient against c + a b composed, for c a full matrix (rows = B) or a row (1). */
static void check_addmm(int crows) {
    ad_params *ps = ad_params_new();
    addmm_case k = {th_param(ps, "c", crows, H, -1, 1, 1), th_param(ps, "a", B, K, -1, 1, 2),
                    th_param(ps, "b", K, H, -1, 1, 3), false};
    ad_tape *tp = ad_tape_new();
    ad_tensor *got = ad_addmm(tp, k.c, k.a, k.b);
    ad_tensor *want = ad_add(tp, k.c, ad_matmul(tp, k.a, k.b));
    REQUIRE(ad_rows(got) == B && ad_cols(got) == H);
    CHECK_ARRAY("addmm", ad_data(got), ad_data(want), B * H, 1e-13, 1e-15);
    ad_tape_free(tp);

    /* The composed gradient, then the fused one: the same to rounding. */
    k.composed = true;
    ad_params_zero_grad(ps);
    tp = ad_tape_new();
    ad_backward(tp, addmm_loss(tp, &k));
    const size_t n = ad_params_size(ps);
    double *want_g = malloc(n * sizeof *want_g);
    REQUIRE(want_g);
    memcpy(want_g, ad_params_grads(ps), n * sizeof *want_g);
    k.composed = false;
    ad_params_zero_grad(ps);
    ad_tape_reset(tp);
    ad_backward(tp, addmm_loss(tp, &k));
    CHECK_ARRAY("addmm gradient", ad_params_grads(ps), want_g, n, 1e-13, 1e-15);
    free(want_g);
    ad_tape_free(tp);

    CHECK_GRADCHECK(ps, addmm_loss, &k, &th_tight);
    ad_params_free(ps);
}

TEST(addmm_full_addend_values_and_gradient) { check_addmm(B); }
TEST(addmm_row_addend_broadcasts_values_and_gradient) { check_addmm(1); }

TEST(addmm_shape_errors_name_op_and_shapes) {
    ad_params *ps = ad_params_new();
    ad_tensor *a = ad_param(ps, "a", 2, 3), *b = ad_param(ps, "b", 3, 4);
    ad_tensor *bad_b = ad_param(ps, "bad_b", 5, 4), *bad_c = ad_param(ps, "bad_c", 3, 4);
    ad_tensor *narrow_c = ad_param(ps, "narrow_c", 1, 3);
    ad_tape *tp = ad_tape_new();
    char line[16];
    snprintf(line, sizeof line, ":%d:", __LINE__ + 1);
    EXPECT_ERROR(ad_addmm(tp, bad_c, a, bad_b), "ad_addmm", "2x3", "5x4", "test_ops_rnn.c", line);
    EXPECT_ERROR(ad_addmm(tp, bad_c, a, b), "ad_addmm", "3x4", "2x4");
    EXPECT_ERROR(ad_addmm(tp, narrow_c, a, b), "ad_addmm", "1x3", "2x4");
    ad_tape_free(tp);
    ad_params_free(ps);
}

/* ------------------------------------------------------------ the gate ops ---- */

typedef struct {
    ad_tensor *xw, *hu, *s; /* s: c or h */
    gate_op op;
    bool same;              /* pass xw as hu too: one tensor, both gradients */
} gate_case;

static ad_tensor *gate_loss(ad_tape *tp, void *ctx) {
    gate_case *k = ctx;
    return th_project(tp, k->op(tp, k->xw, k->same ? k->xw : k->hu, k->s), 5);
}

/* A fused op against its composition: values, the gradient of every operand, and central
 * differences. The inputs span the gates' nonlinear ranges (pre-activations to ±3). */
static void check_gate_op(const char *name, int gates, gate_op fused, gate_op composed) {
    ad_params *ps = ad_params_new();
    gate_case k = {th_param(ps, "xw", B, gates * H, -1.5, 1.5, 21),
                   th_param(ps, "hu", B, gates * H, -1.5, 1.5, 22),
                   th_param(ps, "s", B, H, -2, 2, 23), fused, false};
    ad_tape *tp = ad_tape_new();
    ad_tensor *got = fused(tp, k.xw, k.hu, k.s), *want = composed(tp, k.xw, k.hu, k.s);
    REQUIRE(ad_rows(got) == B && ad_cols(got) == H);
    double err = CHECK_ARRAY(name, ad_data(got), ad_data(want), B * H, 1e-12, 1e-14);

    const size_t n = ad_params_size(ps);
    double *want_g = malloc(n * sizeof *want_g);
    REQUIRE(want_g);
    k.op = composed;
    ad_params_zero_grad(ps);
    ad_tape_reset(tp);
    ad_backward(tp, gate_loss(tp, &k));
    memcpy(want_g, ad_params_grads(ps), n * sizeof *want_g);
    k.op = fused;
    ad_params_zero_grad(ps);
    ad_tape_reset(tp);
    ad_backward(tp, gate_loss(tp, &k));
    char what[64];
    snprintf(what, sizeof what, "%s gradient", name);
    err = fmax(err, CHECK_ARRAY(what, ad_params_grads(ps), want_g, n, 1e-12, 1e-14));
    th_note("%s: fused vs composed, max rel err %.2e (values and gradients)", name, err);
    free(want_g);
    ad_tape_free(tp);

    CHECK_GRADCHECK(ps, gate_loss, &k, &th_tight);
    k.same = true; /* xw and hu one tensor: its gradient is the sum of both shares */
    CHECK_GRADCHECK(ps, gate_loss, &k, &th_tight);
    ad_params_free(ps);
}

TEST(lstm_cell_matches_composition_and_gradient) {
    check_gate_op("ad_lstm_cell", 4, fused_lstm_cell, lstm_cell_composed);
}
TEST(lstm_hidden_matches_composition_and_gradient) {
    check_gate_op("ad_lstm_hidden", 4, fused_lstm_hidden, lstm_hidden_composed);
}
TEST(gru_cell_matches_composition_and_gradient) {
    check_gate_op("ad_gru_cell", 3, fused_gru, gru_composed);
}

/* Operands that need no gradient (tape inputs) are skipped, the others still get theirs. */
typedef struct {
    ad_tensor *hu, *s;
    const ad_real *xw_vals;
    int gates;
    gate_op op;
} input_case;
static ad_tensor *input_loss(ad_tape *tp, void *ctx) {
    input_case *k = ctx;
    ad_tensor *xw = ad_input(tp, B, k->gates * H, k->xw_vals);
    return th_project(tp, k->op(tp, xw, k->hu, k->s), 8);
}
TEST(gate_ops_with_an_operand_that_needs_no_gradient) {
    const gate_op ops[] = {fused_lstm_cell, fused_lstm_hidden, fused_gru};
    const int gates[] = {4, 4, 3};
    ad_real xw[B * 4 * H];
    th_fill_uniform(xw, B * 4 * H, -1.5, 1.5, 31);
    for (int q = 0; q < 3; q++) {
        ad_params *ps = ad_params_new();
        input_case k = {th_param(ps, "hu", B, gates[q] * H, -1.5, 1.5, 32),
                        th_param(ps, "s", B, H, -2, 2, 33), xw, gates[q], ops[q]};
        CHECK_GRADCHECK(ps, input_loss, &k, &th_tight);
        ad_params_free(ps);
    }
}

TEST(gate_op_shape_errors_name_op_and_shapes) {
    ad_params *ps = ad_params_new();
    ad_tensor *xw4 = ad_param(ps, "xw4", 2, 12), *hu4 = ad_param(ps, "hu4", 2, 12);
    ad_tensor *hu8 = ad_param(ps, "hu8", 2, 8), *odd = ad_param(ps, "odd", 2, 10);
    ad_tensor *c3 = ad_param(ps, "c3", 2, 3), *c4 = ad_param(ps, "c4", 2, 4);
    ad_tensor *h3x4 = ad_param(ps, "h3x4", 3, 4);
    ad_tape *tp = ad_tape_new();
    char line[16];
    snprintf(line, sizeof line, ":%d:", __LINE__ + 1);
    EXPECT_ERROR(ad_lstm_cell(tp, xw4, hu8, c3), "ad_lstm_cell", "2x12", "2x8", "test_ops_rnn.c",
                 line);
    EXPECT_ERROR(ad_lstm_cell(tp, xw4, hu4, c4), "ad_lstm_cell", "2x4", "2x12", "2x3");
    EXPECT_ERROR(ad_lstm_hidden(tp, odd, odd, c3), "ad_lstm_hidden", "2x10", "4 gates");
    EXPECT_ERROR(ad_gru_cell(tp, xw4, hu4, c3), "ad_gru_cell", "2x3", "2x12", "2x4");
    EXPECT_ERROR(ad_gru_cell(tp, xw4, hu4, h3x4), "ad_gru_cell", "3x4", "2x12");
    EXPECT_ERROR(ad_gru_cell(tp, xw4, NULL, c4), "ad_gru_cell", "NULL");
    ad_tape_free(tp);
    ad_params_free(ps);
}

/* ------------------------------------------------- whole steps, fused vs composed ---- */

/* One step of each cell from the same parameters: the fused form as nn/cells.c writes it,
 * hu = ad_addmm(bh, h, Wh), against the primitive composition z = xw + (h Wh + bh). */
typedef struct {
    ad_tensor *xw, *h, *c, *Wh, *bh;
    bool lstm, composed;
} step_case;

static ad_tensor *step_loss(ad_tape *tp, void *ctx) {
    step_case *k = ctx;
    ad_tensor *hu = k->composed ? ad_add(tp, ad_matmul(tp, k->h, k->Wh), k->bh)
                                : ad_addmm(tp, k->bh, k->h, k->Wh);
    if (!k->lstm) {
        ad_tensor *h1 = k->composed ? gru_composed(tp, k->xw, hu, k->h)
                                    : ad_gru_cell(tp, k->xw, hu, k->h);
        return th_project(tp, h1, 3);
    }
    ad_tensor *c1 = k->composed ? lstm_cell_composed(tp, k->xw, hu, k->c)
                                : ad_lstm_cell(tp, k->xw, hu, k->c);
    ad_tensor *h1 = k->composed ? lstm_hidden_composed(tp, k->xw, hu, c1)
                                : ad_lstm_hidden(tp, k->xw, hu, c1);
    return ad_add(tp, th_project(tp, h1, 3), th_project(tp, c1, 4));
}

static void check_step(bool lstm) {
    const int G = (lstm ? 4 : 3) * H;
    ad_params *ps = ad_params_new();
    step_case k = {th_param(ps, "xw", B, G, -1, 1, 41), th_param(ps, "h", B, H, -0.9, 0.9, 42),
                   lstm ? th_param(ps, "c", B, H, -2, 2, 43) : NULL,
                   th_param(ps, "Wh", H, G, -0.8, 0.8, 44), th_param(ps, "bh", 1, G, -0.5, 0.5, 45),
                   lstm, true};
    const size_t n = ad_params_size(ps);
    double *want_g = malloc(n * sizeof *want_g);
    REQUIRE(want_g);
    ad_tape *tp = ad_tape_new();
    ad_tensor *loss = step_loss(tp, &k);
    const double want = ad_item(loss);
    ad_backward(tp, loss);
    memcpy(want_g, ad_params_grads(ps), n * sizeof *want_g);
    const int composed_nodes = ad_tape_node_count(tp);

    k.composed = false;
    ad_params_zero_grad(ps);
    ad_tape_reset(tp);
    loss = step_loss(tp, &k);
    CHECK_NEAR(ad_item(loss), want, 1e-12, 1e-14);
    ad_backward(tp, loss);
    double err = CHECK_ARRAY(lstm ? "lstm step gradient" : "gru step gradient",
                             ad_params_grads(ps), want_g, n, 1e-12, 1e-14);
    th_note("%s step: %d nodes fused, %d composed; gradients max rel err %.2e",
            lstm ? "lstm" : "gru", ad_tape_node_count(tp), composed_nodes, err);
    CHECK(ad_tape_node_count(tp) < composed_nodes);
    free(want_g);
    ad_tape_free(tp);
    CHECK_GRADCHECK(ps, step_loss, &k, &th_tight);
    ad_params_free(ps);
}

TEST(lstm_step_fused_matches_composed) { check_step(true); }
TEST(gru_step_fused_matches_composed) { check_step(false); }
