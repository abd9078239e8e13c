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
 * A layer in parts at once. A recurrent step is a product of a few million multiply-adds and
 * elementwise work over one batch: too small to split over two threads step by step (that would
 * be a wait at every step). But whole runs over the T steps are independent of each other: the
 * two directions of a bidirectional layer, and the sequences of the batch. So a layer is cut into
 * parts, each one direction over a block of the batch, and each part is recorded on a child tape
 * by a thread of its own. They come back as one node of tp,
 *     Z = [out_fwd | out_bwd], with the final states below the outputs (rows T·B + k·B: state k),
 * whose backward runs the children's backward passes at once. A part holds its block's rows of
 * every step, so its row r is Z's row (r / nb)·B + b0 + r % nb.
 *
 * Parts of one direction share the cell's parameters. The first adds into their gradients; the
 * others see them as leaves with gradient buffers of their own, added in after the threads join,
 * so no two threads write one gradient. Each part runs the serial runner's ops in the same order
 * on its rows: the same values, and the same gradients up to the order in which the parts' sums
 * add up.
 */
#define MAX_PARTS 8
#define CELL_PARAMS 5 /* Wx Wh bx bh Wc */

typedef struct {
    ad_tape *child;
    int dir, b0, nb;   /* direction, first sequence of the block and its size */
    nn_cell cell;      /* the direction's cell, or a copy over leaves (a later block) */
    ad_tensor *owner[CELL_PARAMS]; /* a later block: the parameters its leaves are over, */
    ad_real *pgrad[CELL_PARAMS];   /* and the buffers the leaves' gradients go to */
    ad_real *x, *dx;   /* the block's rows of the layer input; their gradient (NULL: none) */
    ad_tensor *packed; /* on child: outputs above final states, ((T + ns)·nb) x H */
} layer_part;

typedef struct {
    int nparts, T, B, H;
    ad_tensor *in; /* the layer input, on tp */
    layer_part part[MAX_PARTS];
} layer_parts;

static ad_tensor **param_slot(nn_cell *c, int k) {
    ad_tensor **slot[CELL_PARAMS] = {&c->Wx, &c->Wh, &c->bx, &c->bh, &c->Wc};
    return slot[k];
}

/* Z's row for a part's row r. */
static size_t z_row(const layer_parts *lp, const layer_part *p, int r) {
    return (size_t)(r / p->nb) * (size_t)lp->B + (size_t)p->b0 + (size_t)(r % p->nb);
}

static size_t size_of(ad_tensor *t) { return (size_t)ad_rows(t) * (size_t)ad_cols(t); }

static void layer_parts_backward(void *ctx, ad_tensor *Z) {
    layer_parts *lp = ctx;
    const int H = lp->H, in_cols = ad_cols(lp->in);
    const size_t W = (size_t)ad_cols(Z);
    const ad_real *dz = ad_grad(Z);
#pragma omp parallel for num_threads(lp->nparts) schedule(static, 1)
    for (int i = 0; i < lp->nparts; i++) {
        layer_part *p = &lp->part[i];
        const int rows = ad_rows(p->packed);
        ad_real *g = ad_tape_scratch(p->child, (size_t)rows * H * sizeof *g);
        for (int r = 0; r < rows; r++)
            memcpy(g + (size_t)r * H, dz + z_row(lp, p, r) * W + (size_t)p->dir * H,
                   (size_t)H * sizeof *g);
        /* the part's own buffers start from zero: a second backward adds the same again */
        if (p->dx) memset(p->dx, 0, (size_t)lp->T * p->nb * in_cols * sizeof *p->dx);
        for (int k = 0; k < CELL_PARAMS; k++)
            if (p->pgrad[k]) memset(p->pgrad[k], 0, size_of(p->owner[k]) * sizeof *p->pgrad[k]);
        ad_backward_from(p->child, p->packed, g);
    }
    ad_real *gin = ad_grad(lp->in);
    for (int i = 0; i < lp->nparts; i++) {
        const layer_part *p = &lp->part[i];
        if (gin && p->dx)
            for (int r = 0; r < lp->T * p->nb; r++) {
                ad_real *dst = gin + z_row(lp, p, r) * in_cols;
                const ad_real *src = p->dx + (size_t)r * in_cols;
                for (int j = 0; j < in_cols; j++) dst[j] += src[j];
            }
        for (int k = 0; k < CELL_PARAMS; k++) {
            ad_real *dst = p->pgrad[k] ? ad_grad(p->owner[k]) : NULL;
            if (dst)
                for (size_t j = 0, n = size_of(p->owner[k]); j < n; j++) dst[j] += p->pgrad[k][j];
        }
    }
}

/* Layer l as dirs x blocks parts at once (see above): Z's output rows; its final states go into
 * res. */
static ad_tensor *run_layer_parts(ad_tape *tp, const nn_rnn *rnn, int l, ad_tensor *in, int T,
                                  int B, int blocks, ad_tensor *const *mask,
                                  const nn_rnn_state *init, nn_rnn_result *res) {
    const int H = rnn->hidden, ns = nn_cell_nstate(rnn->kind), dirs = rnn->bidirectional ? 2 : 1;
    const int in_cols = ad_cols(in);
    layer_parts *lp = ad_tape_scratch(tp, sizeof *lp);
    *lp = (layer_parts){.nparts = dirs * blocks, .T = T, .B = B, .H = H, .in = in};
    for (int d = 0; d < dirs; d++)
        for (int s = 0; s < blocks; s++) {
            layer_part *p = &lp->part[d * blocks + s];
            p->child = ad_tape_child(tp);
            p->dir = d;
            p->b0 = s * B / blocks;
            p->nb = (s + 1) * B / blocks - p->b0;
            p->cell = rnn->cell[l][d];
            for (int k = 0; k < CELL_PARAMS && s > 0; k++) {
                p->owner[k] = *param_slot(&p->cell, k);
                if (p->owner[k] && ad_grad(p->owner[k]))
                    p->pgrad[k] = ad_tape_scratch(tp, size_of(p->owner[k]) * sizeof(ad_real));
            }
            const size_t nx = (size_t)T * p->nb * in_cols;
            p->x = blocks == 1 ? ad_data(in) : ad_tape_scratch(tp, nx * sizeof *p->x);
            if (ad_requires_grad(in)) {
                p->dx = ad_tape_scratch(tp, nx * sizeof *p->dx);
                memset(p->dx, 0, nx * sizeof *p->dx);
            }
        }
    ad_tensor *Z = ad_custom(tp, (T + ns) * B, dirs * H, 1, &in, layer_parts_backward, lp, true);
    const size_t W = (size_t)dirs * H;
#pragma omp parallel for num_threads(lp->nparts) schedule(static, 1)
    for (int i = 0; i < lp->nparts; i++) {
        layer_part *p = &lp->part[i];
        ad_tape *c = p->child;
        for (int k = 0; k < CELL_PARAMS; k++)
            if (p->owner[k])
                *param_slot(&p->cell, k) = ad_leaf(c, ad_rows(p->owner[k]), ad_cols(p->owner[k]),
                                                   ad_data(p->owner[k]), p->pgrad[k]);
        if (p->x != ad_data(in))
            for (int t = 0; t < T; t++)
                memcpy(p->x + (size_t)t * p->nb * in_cols,
                       ad_data(in) + ((size_t)t * B + p->b0) * in_cols,
                       (size_t)p->nb * in_cols * sizeof *p->x);
        ad_tensor *x = ad_leaf(c, T * p->nb, in_cols, p->x, p->dx);
        ad_tensor **m = NULL;
        if (mask) {
            m = ad_tape_scratch(c, (size_t)T * sizeof *m);
            for (int t = 0; t < T; t++) m[t] = ad_leaf(c, p->nb, 1, ad_data(mask[t]) + p->b0, NULL);
        }
        ad_tensor *parts[3];
        for (int k = 0; k < ns; k++) {
            const ad_real *s0 = init ? state_at(init, l, p->dir, k) + (size_t)p->b0 * H : NULL;
            parts[1 + k] = s0 ? ad_input(c, p->nb, H, s0) : ad_fill(c, p->nb, H, 0);
        }
        parts[0] = run_direction(c, &p->cell, x, T, p->nb, p->dir == 1, m, parts + 1);
        p->packed = ad_concat_rows(c, 1 + ns, parts);
        const ad_real *src = ad_data(p->packed);
        for (int r = 0; r < ad_rows(p->packed); r++)
            memcpy(ad_data(Z) + z_row(lp, p, r) * W + (size_t)p->dir * H, src + (size_t)r * H,
                   (size_t)H * sizeof *src);
    }
    for (int d = 0; d < dirs; d++)
        for (int k = 0; k < ns; k++) {
            ad_tensor *fk = ad_slice_rows(tp, Z, (T + k) * B, B);
            res->final[l][d][k] = dirs == 1 ? fk : ad_slice_cols(tp, fk, d * H, H);
        }
    return ad_slice_rows(tp, Z, 0, T * B);
}

/* How many blocks of the batch each direction of a layer is cut into, to run as parts at once
 * (above); 0 to run it serially on tp: one thread to use, a region already running (a worker of
 * a Hogwild model), or a single part. */
static int batch_blocks(int dirs, int B) {
#ifdef _OPENMP
    if (omp_in_parallel()) return 0;
    int blocks = ad_num_threads() / dirs;
    if (blocks > B) blocks = B;
    if (blocks > MAX_PARTS / dirs) blocks = MAX_PARTS / dirs;
    return dirs * blocks >= 2 ? blocks : 0;
#else
    (void)dirs;
    (void)B;
    return 0;
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
        const int blocks = batch_blocks(dirs, B);
        if (blocks > 0) {
            in = run_layer_parts(tp, rnn, l, in, T, B, blocks, mask, init, &res);
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
