/*
 * torch.c — convert between the runner's parameters and PyTorch's nn.RNN / nn.GRU / nn.LSTM
 * state_dict. The gate order is PyTorch's (LSTM i f g o, GRU r z n), so a weight converts by a
 * transpose alone: weight_ih_l{k} (gates·H x in) = Wxᵀ, weight_hh_l{k} (gates·H x H) = Whᵀ,
 * bias_ih_l{k} = bx, bias_hh_l{k} = bh; "_reverse" names the backward direction.
 */
#include "nn.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

/* The runner's tensor that PyTorch calls name, and whether PyTorch stores it transposed. */
static ad_tensor *lookup(const nn_rnn *rnn, const char *name, bool *transposed) {
    if (rnn->kind == NN_GRU_CHO) return NULL; /* form B has no PyTorch counterpart */
    char kind[8], which[8];
    int used = 0;
    if (sscanf(name, "%7[a-z]_%7[a-z]_l%n", kind, which, &used) != 2 || used == 0) return NULL;
    /* the layer number as PyTorch writes it: digits, no sign, no leading zero */
    const char *rest = name + used;
    if (!isdigit((unsigned char)rest[0]) || (rest[0] == '0' && isdigit((unsigned char)rest[1])))
        return NULL;
    int layer = 0;
    for (; isdigit((unsigned char)*rest) && layer < 1000; rest++) layer = layer * 10 + (*rest - '0');
    int dir;
    if (*rest == 0) dir = 0;
    else if (strcmp(rest, "_reverse") == 0 && rnn->bidirectional) dir = 1;
    else return NULL;
    if (layer < 0 || layer >= rnn->layers) return NULL;
    const nn_cell *c = &rnn->cell[layer][dir];
    const bool ih = strcmp(which, "ih") == 0, hh = strcmp(which, "hh") == 0;
    if (strcmp(kind, "weight") == 0) {
        *transposed = true;
        return ih ? c->Wx : hh ? c->Wh : NULL;
    }
    if (strcmp(kind, "bias") == 0) {
        *transposed = false;
        return ih ? c->bx : hh ? c->bh : NULL;
    }
    return NULL;
}

static int convert(const nn_rnn *rnn, const char *name, ad_real *torch, size_t n, bool to_torch) {
    bool transposed = false;
    ad_tensor *t = lookup(rnn, name, &transposed);
    if (!t || n != (size_t)ad_rows(t) * (size_t)ad_cols(t)) return -1;
    ad_real *ours = ad_data(t);
    const size_t rows = (size_t)ad_rows(t), cols = (size_t)ad_cols(t);
    for (size_t i = 0; i < rows; i++)
        for (size_t j = 0; j < cols; j++) {
            /* ours is rows x cols; PyTorch's weight is cols x rows */
            ad_real *theirs = transposed ? &torch[j * rows + i] : &torch[i * cols + j];
            if (to_torch) *theirs = ours[i * cols + j];
            else ours[i * cols + j] = *theirs;
        }
    return 0;
}

int nn_rnn_from_torch(nn_rnn *rnn, const char *name, const ad_real *data, size_t n) {
    return convert(rnn, name, (ad_real *)data, n, false); /* only read when !to_torch */
}

int nn_rnn_to_torch(const nn_rnn *rnn, const char *name, ad_real *data, size_t n) {
    return convert(rnn, name, data, n, true);
}
