/*
 * cells.c — the recurrent cells, each a step written as its equations (FORMULAS §4, §6, §7).
 *
 * Row form: x is B x in, h is B x H. The runner passes xw = x Wx + bx for the step, computed for
 * all steps in one product; each cell makes one product for all gates of h, then slices it.
 */
#include "nn_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

/* Gate g of a B x (gates·H) tensor. */
static ad_tensor *gate(ad_tape *tp, ad_tensor *all, int g, int H) {
    return ad_slice_cols(tp, all, g * H, H);
}

/*
 * Elman (§4):  h' = tanh(x Wx + bx + h Wh + bh)      (relu in place of tanh for ELMAN_RELU)
 */
static void elman_step(ad_tape *tp, const nn_cell *c, ad_tensor *xw, ad_tensor *const *s,
                       ad_tensor **next) {
    ad_tensor *a = ad_add(tp, ad_addmm(tp, xw, s[0], c->Wh), c->bh); /* xw + h Wh, one gemm */
    next[0] = c->kind == NN_ELMAN_RELU ? ad_relu(tp, a) : ad_tanh(tp, a);
}

/*
 * LSTM (§7), gates i f g o:
 *   i = σ(x W_i + h U_i + b_i)     f = σ(x W_f + h U_f + b_f)
 *   g = tanh(x W_g + h U_g + b_g)  o = σ(x W_o + h U_o + b_o)
 *   c' = f ∘ c + i ∘ g             h' = o ∘ tanh(c')
 * With hu = h Wh + bh, the gate math is two fused ops (one pass each; ad.h), equal to
 *   z = xw + hu;  i, f, o = σ(slices 0, 1, 3 of z);  g = tanh(slice 2 of z);
 *   c' = ad_add(ad_mul(f, c), ad_mul(i, g));  h' = ad_mul(o, ad_tanh(c')).
 */
static void lstm_step(ad_tape *tp, const nn_cell *c, ad_tensor *xw, ad_tensor *const *s,
                      ad_tensor **next) {
    ad_tensor *hu = ad_addmm(tp, c->bh, s[0], c->Wh); /* all four gates of h in one product */
    next[1] = ad_lstm_cell(tp, xw, hu, s[1]);         /* c' = f ∘ c + i ∘ g  */
    next[0] = ad_lstm_hidden(tp, xw, hu, next[1]);    /* h' = o ∘ tanh(c')   */
}

/*
 * GRU form A (§6, PyTorch), gates r z n:
 *   r = σ(x W_r + b_r + h U_r + c_r)       z = σ(x W_z + b_z + h U_z + c_z)
 *   n = tanh(x W_n + b_n + r ∘ (h U_n + c_n))
 *   h' = z ∘ h + (1 - z) ∘ n
 * With hu = h Wh + bh, the gate math is one fused op (one pass; ad.h), equal to
 *   r = σ(xw_r + hu_r);  z = σ(xw_z + hu_z);  n = tanh(xw_n + r ∘ hu_n)   (slices of xw, hu)
 *   h' = ad_add(ad_mul(z, h), ad_mul(ad_one_minus(z), n)).
 */
static void gru_step(ad_tape *tp, const nn_cell *c, ad_tensor *xw, ad_tensor *const *s,
                     ad_tensor **next) {
    ad_tensor *hu = ad_addmm(tp, c->bh, s[0], c->Wh); /* all three gates of h in one product */
    next[0] = ad_gru_cell(tp, xw, hu, s[0]);
}

/*
 * GRU form B (§6, Cho et al. 2014), gates u r, candidate weight Wc:
 *   u = σ(h W_u + x U_u + b_u)     r = σ(h W_r + x U_r + b_r)
 *   h̃ = tanh((r ∘ h) Wc + x U_h + b_h)
 *   h' = (1 - u) ∘ h + u ∘ h̃
 */
static void gru_cho_step(ad_tape *tp, const nn_cell *c, ad_tensor *xw, ad_tensor *const *s,
                         ad_tensor **next) {
    const int H = c->hidden;
    ad_tensor *hw = ad_matmul(tp, s[0], c->Wh); /* both gates of h in one product */
    ad_tensor *u = ad_sigmoid(tp, ad_add(tp, gate(tp, xw, 0, H), gate(tp, hw, 0, H)));
    ad_tensor *r = ad_sigmoid(tp, ad_add(tp, gate(tp, xw, 1, H), gate(tp, hw, 1, H)));
    ad_tensor *cand = ad_tanh(tp, ad_add(tp, gate(tp, xw, 2, H),
                                         ad_matmul(tp, ad_mul(tp, r, s[0]), c->Wc)));
    next[0] = ad_add(tp, ad_mul(tp, ad_one_minus(tp, u), s[0]), ad_mul(tp, u, cand));
}

/* ------------------------------------------------------------- the table ---- */

typedef struct {
    const char *name;
    int gates, nstate;
    void (*step)(ad_tape *, const nn_cell *, ad_tensor *, ad_tensor *const *, ad_tensor **);
} cell_type;

static const cell_type cell_types[] = {
    [NN_ELMAN] = {"elman", 1, 1, elman_step},
    [NN_ELMAN_RELU] = {"elman_relu", 1, 1, elman_step},
    [NN_GRU] = {"gru", 3, 1, gru_step},
    [NN_GRU_CHO] = {"gru_cho", 3, 1, gru_cho_step},
    [NN_LSTM] = {"lstm", 4, 2, lstm_step},
};

static const cell_type *type_of(nn_cell_kind k) {
    if ((unsigned)k >= sizeof cell_types / sizeof cell_types[0])
        nn_fail("nn_cell", "unknown cell kind %d", (int)k);
    return &cell_types[k];
}

const char *nn_cell_kind_name(nn_cell_kind k) { return type_of(k)->name; }
int nn_cell_gates(nn_cell_kind k) { return type_of(k)->gates; }
int nn_cell_nstate(nn_cell_kind k) { return type_of(k)->nstate; }

static ad_tensor *cell_param(ad_params *ps, const char *cell, const char *part, int rows,
                             int cols) {
    char name[160];
    snprintf(name, sizeof name, "%s.%s", cell, part);
    return ad_param(ps, name, rows, cols);
}

void nn_cell_init(nn_cell *c, ad_params *ps, const char *name, nn_cell_kind kind, int input,
                  int hidden, double forget_bias, nn_rng *r) {
    const cell_type *t = type_of(kind);
    const int G = t->gates, H = hidden;
    *c = (nn_cell){.kind = kind, .input = input, .hidden = hidden, .gates = G};
    /* Xavier per gate block: each gate is an (in x H) map, so a = sqrt(6 / (in + H)). */
    c->Wx = cell_param(ps, name, "Wx", input, G * H);
    nn_init_uniform(c->Wx, -sqrt(6.0 / (input + H)), sqrt(6.0 / (input + H)), r);
    const double ah = sqrt(6.0 / (2.0 * H));
    c->bx = cell_param(ps, name, "bx", 1, G * H);
    if (kind == NN_GRU_CHO) {
        c->Wh = cell_param(ps, name, "Wh", H, 2 * H);
        c->Wc = cell_param(ps, name, "Wc", H, H);
        nn_init_uniform(c->Wc, -ah, ah, r);
    } else {
        c->Wh = cell_param(ps, name, "Wh", H, G * H);
        c->bh = cell_param(ps, name, "bh", 1, G * H);
    }
    nn_init_uniform(c->Wh, -ah, ah, r);
    if (kind == NN_LSTM)
        for (int j = H; j < 2 * H; j++) ad_data(c->bx)[j] = (ad_real)forget_bias;
}

void nn_cell_step(ad_tape *tp, const nn_cell *c, ad_tensor *xw, ad_tensor *const *state,
                  ad_tensor **next) {
    type_of(c->kind)->step(tp, c, xw, state, next);
}
