/*
 * params.c — parameters: persistent tensors whose values sit in one contiguous block and whose
 * gradients sit in another with the same layout, so an optimizer, a clipper or a checkpoint walks
 * two flat arrays. Each parameter starts on an AD_ALIGN boundary; the padding between them is
 * zero in both blocks and stays zero under any elementwise update.
 *
 * Gradient bookkeeping for sparse updates: a parameter's gradient is CLEAN (all zero), SPARSE
 * (only rows that ad_gather_rows touched, listed) or DENSE. zero_grad clears a SPARSE gradient row by
 * row, so an embedding table of which a step used a few rows costs only those rows.
 */
#include "ad_internal.h"

#include <stdio.h>
#include <stdlib.h>

typedef enum { GRAD_CLEAN, GRAD_SPARSE, GRAD_DENSE } grad_state;

struct ad_param_info {
    ad_params *store;
    char *name;
    size_t offset;      /* in reals, into the store's blocks */
    bool frozen;
    grad_state state;
    int *touched;       /* rows written while SPARSE, ntouched of them */
    int ntouched;
    unsigned char *row_mark; /* rows x 1: already in touched */
};

struct ad_params {
    ad_real *val, *grad;
    size_t size, cap; /* reals used and reserved */
    ad_tensor **list;
    int n, cap_list;
};

#define PAD_REALS (AD_ALIGN / sizeof(ad_real))

static void *xalloc(size_t bytes, const char *what) {
    void *p = malloc(bytes ? bytes : 1);
    if (!p) ad_fail_at(__FILE__, __LINE__, "ad_param", "out of memory allocating %zu bytes for %s",
                       bytes, what);
    return p;
}

ad_params *ad_params_new(void) {
    ad_params *ps = xalloc(sizeof *ps, "a parameter store");
    memset(ps, 0, sizeof *ps);
    return ps;
}

void ad_params_free(ad_params *ps) {
    if (!ps) return;
    for (int i = 0; i < ps->n; i++) {
        ad_param_info *pi = ps->list[i]->param;
        free(pi->name);
        free(pi->touched);
        free(pi->row_mark);
        free(pi);
        free(ps->list[i]);
    }
    free(ps->list);
    free(ps->val);
    free(ps->grad);
    free(ps);
}

/* Point every parameter at its place in the (possibly moved) blocks. */
static void rebase(ad_params *ps) {
    for (int i = 0; i < ps->n; i++) {
        ad_tensor *t = ps->list[i];
        t->val = ps->val + t->param->offset;
        t->grad = t->param->frozen ? NULL : ps->grad + t->param->offset;
    }
}

static void grow(ad_params *ps, size_t need) {
    size_t cap = ps->cap ? ps->cap : 4096;
    while (cap < need) cap *= 2;
    void *val = NULL, *grad = NULL;
    if (posix_memalign(&val, AD_ALIGN, cap * sizeof(ad_real)) != 0 ||
        posix_memalign(&grad, AD_ALIGN, cap * sizeof(ad_real)) != 0) {
        free(val);
        ad_fail_at(__FILE__, __LINE__, "ad_param", "out of memory growing the parameters to %zu "
                                                   "values", cap);
    }
    memset(val, 0, cap * sizeof(ad_real));
    memset(grad, 0, cap * sizeof(ad_real));
    if (ps->size) {
        memcpy(val, ps->val, ps->size * sizeof(ad_real));
        memcpy(grad, ps->grad, ps->size * sizeof(ad_real));
    }
    free(ps->val);
    free(ps->grad);
    ps->val = val;
    ps->grad = grad;
    ps->cap = cap;
    rebase(ps);
}

ad_tensor *ad_param(ad_params *ps, const char *name, int rows, int cols) {
    if (!ps) ad_fail_at(__FILE__, __LINE__, "ad_param", "NULL parameter store");
    if (!name || !*name) ad_fail_at(__FILE__, __LINE__, "ad_param", "a parameter needs a name");
    if (rows <= 0 || cols <= 0)
        ad_fail_at(__FILE__, __LINE__, "ad_param", "parameter %s has empty shape %dx%d", name,
                   rows, cols);
    if (ad_params_find(ps, name))
        ad_fail_at(__FILE__, __LINE__, "ad_param", "a parameter named %s already exists", name);

    size_t offset = (ps->size + PAD_REALS - 1) / PAD_REALS * PAD_REALS;
    size_t n = (size_t)rows * (size_t)cols;
    if (offset + n > ps->cap) grow(ps, offset + n);
    if (ps->n == ps->cap_list) {
        int cap = ps->cap_list ? 2 * ps->cap_list : 16;
        ad_tensor **list = realloc(ps->list, (size_t)cap * sizeof *list);
        if (!list) ad_fail_at(__FILE__, __LINE__, "ad_param", "out of memory adding %s", name);
        ps->list = list;
        ps->cap_list = cap;
    }

    ad_param_info *pi = xalloc(sizeof *pi, name);
    memset(pi, 0, sizeof *pi);
    pi->store = ps;
    pi->name = xalloc(strlen(name) + 1, name);
    strcpy(pi->name, name);
    pi->offset = offset;

    ad_tensor *t = xalloc(sizeof *t, name);
    memset(t, 0, sizeof *t);
    t->rows = rows;
    t->cols = cols;
    t->kind = AD_KIND_PARAM;
    t->requires_grad = true;
    t->param = pi;
    t->file = "parameter";
    t->val = ps->val + offset;
    t->grad = ps->grad + offset;
    ps->list[ps->n++] = t;
    ps->size = offset + n;
    return t;
}

int ad_params_count(const ad_params *ps) { return ps->n; }
size_t ad_params_size(const ad_params *ps) { return ps->size; }
ad_real *ad_params_values(ad_params *ps) { return ps->val; }
ad_real *ad_params_grads(ad_params *ps) { return ps->grad; }

ad_tensor *ad_params_at(ad_params *ps, int i) {
    if (i < 0 || i >= ps->n)
        ad_fail_at(__FILE__, __LINE__, "ad_params_at", "index %d outside the %d parameters", i,
                   ps->n);
    return ps->list[i];
}

ad_tensor *ad_params_find(ad_params *ps, const char *name) {
    for (int i = 0; i < ps->n; i++)
        if (strcmp(ps->list[i]->param->name, name) == 0) return ps->list[i];
    return NULL;
}

static ad_param_info *info(const ad_tensor *t, const char *op) {
    if (!t || t->kind != AD_KIND_PARAM)
        ad_fail_at(t ? t->file : NULL, t ? t->line : 0, op, "%s is not a parameter",
                   t ? ad_name(t) : "NULL");
    return t->param;
}

size_t ad_param_offset(const ad_tensor *t) { return info(t, "ad_param_offset")->offset; }

void ad_param_set_frozen(ad_tensor *t, bool frozen) {
    ad_param_info *pi = info(t, "ad_param_set_frozen");
    pi->frozen = frozen;
    t->requires_grad = !frozen;
    t->grad = frozen ? NULL : pi->store->grad + pi->offset;
}

void ad_param_mark_dense(ad_tensor *t) { t->param->state = GRAD_DENSE; }

void ad_param_touch_row(ad_tensor *t, int row) {
    ad_param_info *pi = t->param;
    if (pi->state == GRAD_DENSE) return;
    if (!pi->row_mark) { /* first sparse use: sized once for every row */
        pi->row_mark = xalloc((size_t)t->rows, pi->name);
        memset(pi->row_mark, 0, (size_t)t->rows);
        pi->touched = xalloc((size_t)t->rows * sizeof *pi->touched, pi->name);
    }
    pi->state = GRAD_SPARSE;
    if (pi->row_mark[row]) return;
    pi->row_mark[row] = 1;
    pi->touched[pi->ntouched++] = row;
}

int ad_param_touched_rows(const ad_tensor *t, const int **rows) {
    ad_param_info *pi = info(t, "ad_param_touched_rows");
    if (pi->state == GRAD_DENSE) {
        *rows = NULL;
        return -1;
    }
    *rows = pi->touched;
    return pi->state == GRAD_CLEAN ? 0 : pi->ntouched;
}

void ad_params_zero_grad(ad_params *ps) {
    for (int i = 0; i < ps->n; i++) {
        ad_tensor *t = ps->list[i];
        ad_param_info *pi = t->param;
        ad_real *g = ps->grad + pi->offset;
        size_t cols = (size_t)t->cols;
        if (pi->state != GRAD_SPARSE) { /* CLEAN too: the caller may have written to it */
            memset(g, 0, ad_size(t) * sizeof(ad_real));
            /* rows gathered before a dense use in the same step are still marked */
            for (int k = 0; k < pi->ntouched; k++) pi->row_mark[pi->touched[k]] = 0;
        } else {
            for (int k = 0; k < pi->ntouched; k++) {
                memset(g + (size_t)pi->touched[k] * cols, 0, cols * sizeof(ad_real));
                pi->row_mark[pi->touched[k]] = 0;
            }
        }
        pi->ntouched = 0;
        pi->state = GRAD_CLEAN;
    }
}

const char *ad_name(const ad_tensor *t) {
    if (!t) return "NULL";
    if (t->kind == AD_KIND_PARAM) return t->param->name;
    return t->op ? t->op->name : "tensor";
}
