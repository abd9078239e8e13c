/*
 * layers.c — the linear layer and the embedding table.
 */
#include "nn.h"

#include <stdio.h>

/* Parameter names are "<layer>.<part>"; a name longer than this is a usage error upstream. */
#define NAME_MAX_LEN 128

static ad_tensor *named_param(ad_params *ps, const char *layer, const char *part, int rows,
                              int cols) {
    char name[NAME_MAX_LEN];
    snprintf(name, sizeof name, "%s.%s", layer, part);
    return ad_param(ps, name, rows, cols);
}

/* y = x W + b, W: in x out (Xavier), b: 1 x out (zero) */
void nn_linear_init(nn_linear *l, ad_params *ps, const char *name, int in, int out, bool bias,
                    nn_rng *r) {
    l->W = named_param(ps, name, "W", in, out);
    nn_init_xavier_uniform(l->W, r);
    l->b = bias ? named_param(ps, name, "b", 1, out) : NULL;
}

/* With a bias, one node: b's rows are copied into y and the product added onto them (one sgemm,
 * beta 1), with no separate add and no second buffer the size of y. */
ad_tensor *nn_linear_forward(ad_tape *tp, const nn_linear *l, ad_tensor *x) {
    return l->b ? ad_addmm(tp, l->b, x, l->W) : ad_matmul(tp, x, l->W);
}

/* y_i = E[ids_i]; E: vocab x dim, U(-0.1, 0.1) */
void nn_embedding_init(nn_embedding *e, ad_params *ps, const char *name, int vocab, int dim,
                       nn_rng *r) {
    e->E = named_param(ps, name, "E", vocab, dim);
    nn_init_uniform(e->E, -0.1, 0.1, r);
}

ad_tensor *nn_embedding_forward(ad_tape *tp, const nn_embedding *e, const int *ids, int n) {
    return ad_gather_rows(tp, e->E, ids, n);
}
