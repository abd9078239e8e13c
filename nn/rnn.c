/*
 * rnn.c — the sequence runner: any cell unrolled over T steps, stacked, bidirectional, with
 * variable lengths and carried state (FORMULAS §8). BPTT is the tape's reverse pass over this.
 *
 * Variable lengths: for sequence b, steps t >= lengths[b] are padding. With m_t the B x 1 column
 * [t < lengths[b]], every state moves as s_t = s_{t-1} + m_t ∘ (cell(s_{t-1}) - s_{t-1}): a padded
 * step leaves the state as it was, so the forward direction ends holding the state of its true
 * last step, the backward direction starts from its initial state at each true end, and no
 * gradient reaches a padded step's inputs (it is multiplied by m_t = 0). Outputs at padded steps
 * are m_t ∘ h_t = 0.
 */
#include "nn_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif


void nn_rnn_init(nn_rnn *rnn, ad_params *ps, const char *name, const nn_rnn_config *cfg,
                 nn_rng *r) {
    const int layers = cfg->layers > 0 ? cfg->layers : 1;
    if (layers > NN_MAX_LAYERS)
        nn_fail("nn_rnn_init", "%d layers; at most %d (NN_MAX_LAYERS)", layers,
                    NN_MAX_LAYERS);
    if (cfg->input <= 0 || cfg->hidden <= 0)
        nn_fail("nn_rnn_init", "input %d and hidden %d must be positive", cfg->input,
                    cfg->hidden);
    memset(rnn, 0, sizeof *rnn);
    rnn->kind = cfg->kind;
    rnn->layers = layers;
    rnn->input = cfg->input;
    rnn->hidden = cfg->hidden;
    rnn->bidirectional = cfg->bidirectional;
    rnn->dropout = cfg->dropout;
    const int dirs = cfg->bidirectional ? 2 : 1;
    for (int l = 0; l < layers; l++)
        for (int d = 0; d < dirs; d++) {
            char cell_name[128]; /* PyTorch's suffixes: l0, l0_reverse, l1, ... */
            snprintf(cell_name, sizeof cell_name, "%s.l%d%s", name, l, d ? "_reverse" : "");
            nn_cell_init(&rnn->cell[l][d], ps, cell_name, cfg->kind,
                         l == 0 ? cfg->input : cfg->hidden * dirs, cfg->hidden, cfg->forget_bias, r);
        }
}

int nn_rnn_output_width(const nn_rnn *rnn) { return rnn->hidden * (rnn->bidirectional ? 2 : 1); }

/* ---------------------------------------------------------- carried state ---- */

nn_rnn_state *nn_rnn_state_new(const nn_rnn *rnn, int batch) {
    nn_rnn_state *s = malloc(sizeof *s);
    if (!s) return NULL;
    s->layers = rnn->layers;
    s->dirs = rnn->bidirectional ? 2 : 1;
    s->nstate = nn_cell_nstate(rnn->kind);
    s->batch = batch;
    s->hidden = rnn->hidden;
    size_t n = (size_t)s->layers * s->dirs * s->nstate * batch * rnn->hidden;
    s->data = calloc(n, sizeof *s->data);
    if (!s->data) {
        free(s);
        return NULL;
    }
    return s;
}

void nn_rnn_state_free(nn_rnn_state *s) {
    if (!s) return;
    free(s->data);
    free(s);
}

static ad_real *state_at(const nn_rnn_state *s, int layer, int dir, int which) {
    size_t block = (size_t)s->batch * (size_t)s->hidden;
    return s->data + (((size_t)layer * s->dirs + dir) * s->nstate + which) * block;
}

void nn_rnn_state_zero(nn_rnn_state *s) {
    memset(s->data, 0,
           (size_t)s->layers * s->dirs * s->nstate * s->batch * s->hidden * sizeof *s->data);
}

void nn_rnn_state_store(nn_rnn_state *s, const nn_rnn_result *res) {
    for (int l = 0; l < s->layers; l++)
        for (int d = 0; d < s->dirs; d++)
            for (int k = 0; k < s->nstate; k++)
                memcpy(state_at(s, l, d, k), ad_data(res->final[l][d][k]),
                       (size_t)s->batch * s->hidden * sizeof(ad_real));
}

void nn_seq_mask(ad_real *w, int T, int B, const int *lengths) {
    for (int t = 0; t < T; t++)
        for (int b = 0; b < B; b++) w[t * B + b] = !lengths || t < lengths[b] ? 1 : 0;
}

/* ------------------------------------------------------------ the runner ---- */

/* One direction of one layer over all T steps; returns the (T·B) x H outputs. */
static ad_tensor *run_direction(ad_tape *tp, const nn_cell *c, ad_tensor *in, int T, int B,
                                bool reverse, ad_tensor *const *mask, ad_tensor **state) {
    const int nstate = nn_cell_nstate(c->kind);
    ad_tensor *xw = ad_addmm(tp, c->bx, in, c->Wx); /* x Wx + bx: every step in one product */
    ad_tensor **out = ad_tape_scratch(tp, (size_t)T * sizeof *out);
    for (int k = 0; k < T; k++) {
        const int t = reverse ? T - 1 - k : k;
        ad_tensor *next[2];
        nn_cell_step(tp, c, ad_slice_rows(tp, xw, t * B, B), state, next);
        for (int j = 0; j < nstate; j++)
            state[j] = mask ? ad_add(tp, state[j], ad_mul(tp, mask[t], ad_sub(tp, next[j], state[j])))
                            : next[j];
        out[t] = mask ? ad_mul(tp, state[0], mask[t]) : state[0];
    }
    return ad_concat_rows(tp, T, out);
}

/*
 * Both directions of a layer at once. A recurrent step is a product of a few million
 * multiply-adds and elementwise work over one batch: too small to split over two threads, but
 * the two directions do not depend on each other. Each is recorded on a child tape by a thread of
 * its own and comes back as one node of tp, Z = [out_fwd | out_bwd] with the final states below
 * the outputs (rows T·B + k·B: state k), whose backward runs the two children's backward passes
 * at once. Same ops as the serial runner in the same order within each direction: the same
 * values and gradients, up to the order in which the two directions' input gradients add up.
 */
typedef struct {
    ad_tape *child[2];
    ad_tensor *packed[2]; /* on child d: its outputs above its final states, ((T + ns)·B) x H */
    ad_tensor *in;        /* the layer input, on tp */
    ad_real *din[2];      /* child d's gradient of its leaf over in (NULL: in needs none) */
    int H;
} both_directions;

static void both_directions_backward(void *ctx, ad_tensor *Z) {
    both_directions *b = ctx;
    const int rows = ad_rows(Z), H = b->H;
    const size_t nin = (size_t)ad_rows(b->in) * (size_t)ad_cols(b->in);
    const ad_real *dz = ad_grad(Z);
#pragma omp parallel for num_threads(2) schedule(static, 1)
    for (int d = 0; d < 2; d++) {
        ad_real *g = ad_tape_scratch(b->child[d], (size_t)rows * H * sizeof *g);
        for (int r = 0; r < rows; r++)
            memcpy(g + (size_t)r * H, dz + (size_t)r * 2 * H + (size_t)d * H, (size_t)H * sizeof *g);
        if (b->din[d]) memset(b->din[d], 0, nin * sizeof *b->din[d]); /* a second backward */
        ad_backward_from(b->child[d], b->packed[d], g);
    }
    ad_real *gin = ad_grad(b->in);
    if (gin)
        for (size_t k = 0; k < nin; k++) gin[k] += b->din[0][k] + b->din[1][k];
}

/* Z for layer l (see above); its final states go into res. */
static ad_tensor *run_both_directions(ad_tape *tp, const nn_rnn *rnn, int l, ad_tensor *in, int T,
                                      int B, ad_tensor *const *mask, const nn_rnn_state *init,
                                      nn_rnn_result *res) {
    const int H = rnn->hidden, ns = nn_cell_nstate(rnn->kind);
    both_directions *b = ad_tape_scratch(tp, sizeof *b);
    b->in = in;
    b->H = H;
    const size_t nin = (size_t)ad_rows(in) * (size_t)ad_cols(in);
    for (int d = 0; d < 2; d++) {
        b->child[d] = ad_tape_child(tp);
        b->din[d] = NULL;
        if (ad_requires_grad(in)) {
            b->din[d] = ad_tape_scratch(tp, nin * sizeof *b->din[d]);
            memset(b->din[d], 0, nin * sizeof *b->din[d]);
        }
    }
#pragma omp parallel for num_threads(2) schedule(static, 1)
    for (int d = 0; d < 2; d++) {
        ad_tape *c = b->child[d];
        const nn_cell *cell = &rnn->cell[l][d];
        ad_tensor *x = ad_leaf(c, ad_rows(in), ad_cols(in), ad_data(in), b->din[d]);
        ad_tensor **m = NULL;
        if (mask) {
            m = ad_tape_scratch(c, (size_t)T * sizeof *m);
            for (int t = 0; t < T; t++) m[t] = ad_leaf(c, B, 1, ad_data(mask[t]), NULL);
        }
        ad_tensor *parts[3];
        for (int k = 0; k < ns; k++)
            parts[1 + k] = init ? ad_input(c, B, H, state_at(init, l, d, k)) : ad_fill(c, B, H, 0);
        parts[0] = run_direction(c, cell, x, T, B, d == 1, m, parts + 1);
        b->packed[d] = ad_concat_rows(c, 1 + ns, parts);
    }
    const int rows = (T + ns) * B;
    ad_tensor *Z = ad_custom(tp, rows, 2 * H, 1, &in, both_directions_backward, b, true);
    for (int d = 0; d < 2; d++) {
        const ad_real *p = ad_data(b->packed[d]);
        for (int r = 0; r < rows; r++)
            memcpy(ad_data(Z) + (size_t)r * 2 * H + (size_t)d * H, p + (size_t)r * H,
                   (size_t)H * sizeof *p);
    }
    for (int d = 0; d < 2; d++)
        for (int k = 0; k < ns; k++)
            res->final[l][d][k] = ad_slice_cols(tp, ad_slice_rows(tp, Z, (T + k) * B, B), d * H, H);
    return ad_slice_rows(tp, Z, 0, T * B);
}

/* Whether to run a bidirectional layer's directions at once: two threads to use, not inside a
 * region already (a worker of a Hogwild model). */
static bool directions_at_once(void) {
#ifdef _OPENMP
    return ad_num_threads() >= 2 && !omp_in_parallel();
#else
    return false;
#endif
}

nn_rnn_result nn_rnn_forward(ad_tape *tp, const nn_rnn *rnn, ad_tensor *x, int T,
                             const int *lengths, const nn_rnn_state *init) {
    if (T <= 0 || ad_rows(x) % T != 0)
        nn_fail("nn_rnn_forward", "x has %d rows, not a multiple of T = %d", ad_rows(x), T);
    const int B = ad_rows(x) / T, H = rnn->hidden, dirs = rnn->bidirectional ? 2 : 1;
    if (ad_cols(x) != rnn->input)
        nn_fail("nn_rnn_forward", "x is %d columns wide, the first layer takes %d",
                    ad_cols(x), rnn->input);
    if (init && (init->batch != B || init->hidden != H || init->layers != rnn->layers ||
                 init->dirs != dirs || init->nstate != nn_cell_nstate(rnn->kind)))
        nn_fail("nn_rnn_forward", "the initial state holds %d layers x %d directions x %d "
                "states of %d x %d, but this %s runner needs %d x %d x %d of %d x %d",
                init->layers, init->dirs, init->nstate, init->batch, init->hidden,
                nn_cell_kind_name(rnn->kind), rnn->layers, dirs, nn_cell_nstate(rnn->kind), B, H);

    ad_tensor **mask = NULL;
    if (lengths) {
        mask = ad_tape_scratch(tp, (size_t)T * sizeof *mask);
        for (int b = 0; b < B; b++)
            if (lengths[b] < 1 || lengths[b] > T)
                nn_fail("nn_rnn_forward", "lengths[%d] = %d is outside [1, T = %d]", b,
                            lengths[b], T);
        for (int t = 0; t < T; t++) {
            mask[t] = ad_input(tp, B, 1, NULL);
            for (int b = 0; b < B; b++) ad_data(mask[t])[b] = t < lengths[b] ? 1 : 0;
        }
    }

    nn_rnn_result res;
    memset(&res, 0, sizeof res);
    ad_tensor *in = x;
    for (int l = 0; l < rnn->layers; l++) {
        if (l > 0 && rnn->dropout > 0) in = ad_dropout(tp, in, (ad_real)rnn->dropout);
        if (dirs == 2 && directions_at_once()) {
            in = run_both_directions(tp, rnn, l, in, T, B, mask, init, &res);
            continue;
        }
        ad_tensor *out[2];
        for (int d = 0; d < dirs; d++) {
            const nn_cell *c = &rnn->cell[l][d];
            ad_tensor *state[2];
            for (int k = 0; k < nn_cell_nstate(c->kind); k++)
                state[k] = init ? ad_input(tp, B, H, state_at(init, l, d, k)) : ad_fill(tp, B, H, 0);
            out[d] = run_direction(tp, c, in, T, B, d == 1, mask, state);
            for (int k = 0; k < nn_cell_nstate(c->kind); k++) res.final[l][d][k] = state[k];
        }
        in = dirs == 2 ? ad_concat2(tp, out[0], out[1]) : out[0];
    }
    res.out = in;
    return res;
}
