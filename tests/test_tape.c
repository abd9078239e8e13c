/*
 * Tests of autodiff/tape.c and params.c: the arena and its reuse, gradient accumulation, the
 * parameter store's layout, frozen parameters and detach, contract errors and the NaN debug mode;
 * leaves over the caller's memory, backward from a non-scalar node, custom nodes, child tapes.
 */
#include "harness.h"

#include <stdint.h>
#include <sys/wait.h>
#include <unistd.h>

/* Run stmt, failing the case (not aborting the program) if it stops through the error handler. */
#define EXPECT_NO_ERROR(stmt)                                                                      \
    do {                                                                                           \
        th_expect_error_begin();                                                                   \
        if (setjmp(th_error_jmp) == 0) {                                                           \
            stmt;                                                                                  \
            ad_set_error_handler(NULL, NULL);                                                      \
        } else {                                                                                   \
            ad_set_error_handler(NULL, NULL);                                                      \
            th_fail(__FILE__, __LINE__, "unexpected error: %s", th_error_msg);                     \
        }                                                                                          \
    } while (0)

/* Expect stmt to stop with the given substrings and "test_tape.c:<line of this call>": the
 * caller's file and line, recorded by the builder macros. */
#define EXPECT_ERROR_HERE(stmt, ...)                                                               \
    do {                                                                                           \
        char th_here_[64];                                                                         \
        snprintf(th_here_, sizeof th_here_, "test_tape.c:%d", __LINE__);                           \
        EXPECT_ERROR(stmt, __VA_ARGS__, th_here_);                                                 \
    } while (0)

/* ------------------------------------------------------------ the arena ---- */

/* One training step of an MLP, the same ops every time: a few MB a step (several chunks), with
 * hidden layers large enough for the parallel kernels. */
enum { MLP_ROWS = 256, MLP_IN = 16, MLP_HID = 128 };
typedef struct {
    ad_tensor *W1, *b1, *W2;
    ad_real x[MLP_ROWS * MLP_IN];
} mlp;

static ad_tensor *mlp_loss(ad_tape *tp, mlp *m) {
    ad_tensor *x = ad_input(tp, MLP_ROWS, MLP_IN, m->x);
    ad_tensor *h = ad_tanh(tp, ad_add(tp, ad_matmul(tp, x, m->W1), m->b1));
    return th_project(tp, ad_sigmoid(tp, ad_matmul(tp, h, m->W2)), 3);
}

TEST(reset_reuses_memory) {
    ad_params *ps = ad_params_new();
    static mlp m;
    m.W1 = th_param(ps, "W1", MLP_IN, MLP_HID, -0.5, 0.5, 1);
    m.b1 = th_param(ps, "b1", 1, MLP_HID, -0.1, 0.1, 2);
    m.W2 = th_param(ps, "W2", MLP_HID, 4, -0.1, 0.1, 3);
    th_fill_uniform(m.x, MLP_ROWS * MLP_IN, -1, 1, 4);
    ad_tape *tp = ad_tape_new();
    CHECK(ad_tape_node_count(tp) == 0);

    ad_tensor *loss = mlp_loss(tp, &m);
    ad_backward(tp, loss);
    const size_t reserved = ad_tape_reserved_bytes(tp);
    const int nodes = ad_tape_node_count(tp);
    const ad_real *where = ad_data(loss), *grad_where = ad_grad(loss);
    const double value = ad_item(loss);
    CHECK(nodes >= 8);
    CHECK(reserved > 2 << 20); /* past the first 1 MiB chunk */

    for (int step = 0; step < 50; step++) {
        ad_tape_reset(tp);
        CHECK(ad_tape_node_count(tp) == 0);
        ad_params_zero_grad(ps);
        loss = mlp_loss(tp, &m);
        ad_backward(tp, loss);
        /* Same ops, same places: the arena hands out the memory of the last step again. */
        CHECK(ad_tape_node_count(tp) == nodes);
        CHECK(ad_tape_reserved_bytes(tp) == reserved);
        CHECK(ad_data(loss) == where && ad_grad(loss) == grad_where);
        CHECK(ad_item(loss) == value);
        if (ad_tape_reserved_bytes(tp) != reserved || ad_tape_node_count(tp) != nodes) break;
    }
    th_note("%d nodes a step, %zu bytes reserved", nodes, reserved);
    ad_tape_free(tp);
    ad_tape_free(NULL); /* a no-op */
    ad_params_free(ps);
}

/* Record one tensor of big values and then `small` tiny ones; check none overwrote another. */
static void record_and_check(ad_tape *tp, int big, int small, const ad_real *big_data) {
    ad_tensor *b = big ? ad_input(tp, 1, big, big_data) : NULL;
    ad_tensor *b2 = big ? ad_scale(tp, b, 2) : NULL;
    ad_tensor **ts = malloc((size_t)small * sizeof *ts);
    REQUIRE(ts != NULL);
    for (int i = 0; i < small; i++) ts[i] = ad_fill(tp, 1, 4, (ad_real)i);
    int bad = 0;
    for (int i = 0; i < small; i++)
        for (int j = 0; j < 4; j++) bad += ad_get(ts[i], 0, j) != (ad_real)i;
    for (int k = 0; k < big; k++) {
        bad += ad_data(b)[k] != big_data[k];
        bad += ad_data(b2)[k] != 2 * big_data[k];
    }
    CHECK_MSG(bad == 0, "%d values overwritten (big %d, small %d)", bad, big, small);
    CHECK(ad_tape_node_count(tp) == small + (big ? 2 : 0));
    free(ts);
}

TEST(arena_grows_past_the_first_chunk) {
    enum { BIG = 200000, HUGE = 2000000, SMALL = 30000 }; /* 1.6 MB, 16 MB; ~5 MB of small */
    ad_real *data = malloc(HUGE * sizeof *data);
    REQUIRE(data != NULL);
    th_fill_uniform(data, HUGE, -1, 1, 5);
    ad_tape *tp = ad_tape_new();
    const size_t first = ad_tape_reserved_bytes(tp);

    /* A tensor larger than a whole chunk, then many small ones across several chunks. */
    record_and_check(tp, BIG, SMALL, data);
    const size_t grown = ad_tape_reserved_bytes(tp);
    CHECK(grown >= first + 2 * BIG * sizeof(ad_real) + SMALL * 4 * sizeof(ad_real));
    ad_tape_reset(tp);
    record_and_check(tp, BIG, SMALL, data);
    CHECK(ad_tape_reserved_bytes(tp) == grown);

    /* Small ones only, then a request larger than every chunk of the chain: a chunk is inserted
     * after the first and the smaller ones further on are still used. */
    ad_tape_reset(tp);
    record_and_check(tp, 0, SMALL, data);
    CHECK(ad_tape_reserved_bytes(tp) == grown);
    ad_tape_reset(tp);
    record_and_check(tp, HUGE, SMALL, data);
    const size_t huge = ad_tape_reserved_bytes(tp);
    CHECK(huge >= grown + 2 * HUGE * sizeof(ad_real));
    for (int again = 0; again < 3; again++) {
        ad_tape_reset(tp);
        record_and_check(tp, HUGE, SMALL, data);
        CHECK(ad_tape_reserved_bytes(tp) == huge);
    }
    th_note("first chunk %zu bytes, %zu after growth, %zu with the 16 MB tensors", first, grown,
            huge);
    ad_tape_free(tp);
    free(data);
}

/* y = tanh(x W + b) and dJ/dW for J = Σ y, in plain loops: x 3x4, W 4x2, b 1x2. */
static void tanh_layer_ref(const ad_real *x, const ad_real *W, const ad_real *b, double *y,
                           double *dW) {
    memset(dW, 0, 8 * sizeof *dW);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 2; j++) {
            double a = b[j];
            for (int k = 0; k < 4; k++) a += x[i * 4 + k] * W[k * 2 + j];
            y[i * 2 + j] = tanh(a);
            for (int k = 0; k < 4; k++) dW[k * 2 + j] += x[i * 4 + k] * (1 - tanh(a) * tanh(a));
        }
}

static void copy_out(double *out, const ad_real *v, size_t n) {
    for (size_t k = 0; k < n; k++) out[k] = (double)v[k];
}

TEST(values_and_gradients_are_right_after_reset_and_reuse) {
    ad_params *ps = ad_params_new();
    ad_tensor *W = th_param(ps, "W", 4, 2, -1, 1, 6), *b = th_param(ps, "b", 1, 2, -1, 1, 7);
    ad_real x1[12], x2[12];
    th_fill_uniform(x1, 12, -1, 1, 8);
    th_fill_uniform(x2, 12, -2, 2, 9);
    double want_y[6], want_dW[8], got[8];
    ad_tape *tp = ad_tape_new();

    for (int step = 0; step < 3; step++) {
        /* Steps 0 and 2 see x1, step 1 x2 after a junk prelude that leaves different data in
         * the memory the next steps reuse. */
        const ad_real *x = step == 1 ? x2 : x1;
        if (step == 1) ad_mul(tp, ad_fill(tp, 50, 50, (ad_real)1e30), ad_fill(tp, 1, 50, -1));
        ad_params_zero_grad(ps);
        ad_tensor *y = ad_tanh(tp, ad_add(tp, ad_matmul(tp, ad_input(tp, 3, 4, x), W), b));
        ad_backward(tp, ad_sum(tp, y));
        tanh_layer_ref(x, ad_data(W), ad_data(b), want_y, want_dW);
        copy_out(got, ad_data(y), 6);
        CHECK_ARRAY("y", got, want_y, 6, 1e-14, 1e-15);
        copy_out(got, ad_grad(W), 8);
        CHECK_ARRAY("dW", got, want_dW, 8, 1e-13, 1e-15);
        ad_tape_reset(tp);
    }
    ad_tape_free(tp);
    ad_params_free(ps);
}

/* ------------------------------------------------------------ gradients ---- */

TEST(gradients_accumulate_over_uses_and_backward_calls) {
    ad_params *ps = ad_params_new();
    ad_tensor *w = ad_param(ps, "w", 1, 3);
    const ad_real w0[3] = {0.5, -1, 2};
    memcpy(ad_data(w), w0, sizeof w0);
    ad_tape *tp = ad_tape_new();

    /* J = Σ w∘w + Σ 3w uses w three times: dJ/dw = 2w + 3, the sum over the uses. */
    ad_tensor *sq = ad_mul(tp, w, w);
    ad_tensor *loss = ad_add(tp, ad_sum(tp, sq), ad_sum(tp, ad_scale(tp, w, 3)));
    CHECK(ad_item(loss) == 0.25 + 1 + 4 + 3 * 1.5);
    ad_backward(tp, loss);
    for (int j = 0; j < 3; j++) CHECK(ad_grad(w)[j] == 2 * w0[j] + 3);
    for (int j = 0; j < 3; j++) CHECK(ad_grad(sq)[j] == 1);

    /* A second backward over the same recording adds the same amount to the parameter again,
     * while the intermediates start from zero (not 2). */
    ad_backward(tp, loss);
    for (int j = 0; j < 3; j++) CHECK(ad_grad(w)[j] == 2 * (2 * w0[j] + 3));
    for (int j = 0; j < 3; j++) CHECK(ad_grad(sq)[j] == 1);

    /* And a new recording adds on top until zero_grad. */
    ad_tape_reset(tp);
    ad_backward(tp, ad_sum(tp, ad_mul(tp, w, w)));
    for (int j = 0; j < 3; j++) CHECK(ad_grad(w)[j] == 2 * (2 * w0[j] + 3) + 2 * w0[j]);

    ad_params_zero_grad(ps);
    for (int j = 0; j < 3; j++) CHECK(ad_grad(w)[j] == 0);
    CHECK(ad_grad(w) == ad_params_grads(ps));
    ad_tape_free(tp);
    ad_params_free(ps);
}

TEST(zero_grad_clears_every_parameter) {
    ad_params *ps = ad_params_new();
    ad_tensor *a = th_param(ps, "a", 3, 5, -1, 1, 10), *b = th_param(ps, "b", 7, 2, -1, 1, 11);
    ad_tape *tp = ad_tape_new();
    ad_backward(tp, ad_add(tp, th_project(tp, a, 1), ad_sum(tp, ad_square(tp, b))));
    size_t nonzero = 0, n = ad_params_size(ps);
    for (size_t k = 0; k < n; k++) nonzero += ad_params_grads(ps)[k] != 0;
    CHECK(nonzero == 15 + 14);
    /* The caller may write gradients too (a clipper, a test): zero_grad clears those as well. */
    ad_grad(b)[3] = 42;
    ad_params_zero_grad(ps);
    for (size_t k = 0; k < n; k++) CHECK(ad_params_grads(ps)[k] == 0);
    ad_tape_free(tp);
    ad_params_free(ps);
}

/* zero_grad clears a gradient that only ad_gather_rows wrote row by row, so the store must know
 * every row written since the last zero_grad, whatever the previous step did. Step 1 uses E
 * densely and gathers rows 1 and 2; step 2 only gathers rows 1 and 3: both must be listed, and
 * zero_grad must leave no row of E's gradient behind. */
TEST(sparse_rows_are_tracked_after_a_dense_step) {
    ad_params *ps = ad_params_new();
    ad_tensor *E = th_param(ps, "E", 6, 3, -1, 1, 20);
    ad_tape *tp = ad_tape_new();
    const int step1[2] = {1, 2}, step2[2] = {1, 3};
    const int *rows = NULL;

    ad_tensor *dense = ad_sum(tp, ad_square(tp, E)); /* recorded first: its backward runs last */
    ad_backward(tp, ad_add(tp, dense, ad_sum(tp, ad_gather_rows(tp, E, step1, 2))));
    CHECK(ad_param_touched_rows(E, &rows) == -1);
    ad_params_zero_grad(ps);
    CHECK(ad_param_touched_rows(E, &rows) == 0);
    ad_tape_reset(tp);

    ad_backward(tp, ad_sum(tp, ad_gather_rows(tp, E, step2, 2)));
    int n = ad_param_touched_rows(E, &rows);
    CHECK_MSG(n == 2, "%d rows listed after gathering rows 1 and 3", n);
    bool has1 = false, has3 = false;
    for (int k = 0; k < n && rows; k++) has1 |= rows[k] == 1, has3 |= rows[k] == 3;
    CHECK(has1 && has3);
    ad_params_zero_grad(ps);
    int left = 0;
    for (int k = 0; k < 18; k++) left += ad_grad(E)[k] != 0;
    CHECK_MSG(left == 0, "%d gradient entries of E survive zero_grad", left);
    ad_tape_free(tp);
    ad_params_free(ps);
}

TEST(sparse_rows_are_listed_once_and_cleared_row_by_row) {
    ad_params *ps = ad_params_new();
    ad_tensor *E = th_param(ps, "E", 8, 2, -1, 1, 21);
    ad_tape *tp = ad_tape_new();
    const int idx[5] = {4, 0, 4, 7, 0};
    const int *rows = NULL;
    CHECK(ad_param_touched_rows(E, &rows) == 0);
    ad_backward(tp, ad_sum(tp, ad_gather_rows(tp, E, idx, 5)));
    const int n = ad_param_touched_rows(E, &rows);
    REQUIRE(n == 3);
    CHECK(rows[0] == 4 && rows[1] == 0 && rows[2] == 7); /* in the order the backward met them */
    for (int r = 0; r < 8; r++) {
        const double want = r == 4 || r == 0 ? 2 : r == 7 ? 1 : 0; /* repeats accumulate */
        CHECK(ad_grad(E)[r * 2] == want && ad_grad(E)[r * 2 + 1] == want);
    }
    ad_params_zero_grad(ps);
    for (int k = 0; k < 16; k++) CHECK(ad_grad(E)[k] == 0);
    CHECK(ad_param_touched_rows(E, &rows) == 0);
    ad_tape_free(tp);
    ad_params_free(ps);
}

/* ---------------------------------------------------- the parameter store ---- */

/* Every parameter where the store says, aligned, disjoint, in order; padding zero in both blocks;
 * the values and gradients written so far intact (value k of parameter i is i*1000 + k, its
 * gradient the negative). Returns the number of problems. */
static int check_layout(ad_params *ps, int n) {
    int bad = 0;
    const ad_real *vals = ad_params_values(ps), *grads = ad_params_grads(ps);
    size_t end = 0;
    CHECK(ad_params_count(ps) == n);
    CHECK((uintptr_t)vals % 64 == 0 && (uintptr_t)grads % 64 == 0);
    for (int i = 0; i < n; i++) {
        ad_tensor *p = ad_params_at(ps, i);
        const size_t off = ad_param_offset(p), size = (size_t)ad_rows(p) * (size_t)ad_cols(p);
        bad += !(off * sizeof(ad_real) % 64 == 0);
        bad += !(off >= end);
        bad += !(ad_data(p) == vals + off && ad_grad(p) == grads + off);
        for (size_t k = end; k < off; k++) bad += vals[k] != 0 || grads[k] != 0; /* padding */
        for (size_t k = 0; k < size; k++) {
            bad += vals[off + k] != (ad_real)(i * 1000 + (int)k);
            bad += grads[off + k] != -(ad_real)(i * 1000 + (int)k);
        }
        end = off + size;
    }
    CHECK(ad_params_size(ps) == end);
    return bad;
}

TEST(parameter_store_is_contiguous_and_aligned) {
    static const int shapes[][2] = {{1, 3}, {5, 7}, {2, 2}, {1, 1}, {3, 5}, {40, 40},
                                    {1, 9}, {100, 100}, {7, 3}, {300, 70}, {1, 1}};
    const int n = (int)(sizeof shapes / sizeof shapes[0]);
    ad_params *ps = ad_params_new();
    int moves = 0;
    for (int i = 0; i < n; i++) {
        const ad_real *before = ad_params_values(ps);
        char name[16];
        snprintf(name, sizeof name, "p%d", i);
        ad_tensor *p = ad_param(ps, name, shapes[i][0], shapes[i][1]);
        moves += i > 0 && ad_params_values(ps) != before;
        const size_t size = (size_t)shapes[i][0] * (size_t)shapes[i][1];
        for (size_t k = 0; k < size; k++) {
            CHECK(ad_data(p)[k] == 0 && ad_grad(p)[k] == 0); /* zero-filled */
            ad_data(p)[k] = (ad_real)(i * 1000 + (int)k);
            ad_grad(p)[k] = -(ad_real)(i * 1000 + (int)k);
        }
        int bad = check_layout(ps, i + 1);
        CHECK_MSG(bad == 0, "after adding %s: %d layout problems", name, bad);
    }
    CHECK_MSG(moves >= 1, "the blocks never moved: growth was not exercised");

    /* An optimizer steps over the flat blocks, padding included, and the padding stays zero. */
    ad_params_zero_grad(ps);
    ad_tape *tp = ad_tape_new();
    ad_tensor *loss = NULL;
    for (int i = 0; i < n; i++) {
        ad_tensor *s = ad_sum(tp, ad_square(tp, ad_params_at(ps, i)));
        loss = loss ? ad_add(tp, loss, s) : s;
    }
    ad_backward(tp, loss);
    ad_real *v = ad_params_values(ps);
    const ad_real *g = ad_params_grads(ps);
    for (size_t k = 0; k < ad_params_size(ps); k++) v[k] -= (ad_real)0.25 * g[k]; /* v - v/2 */
    int bad = 0;
    size_t end = 0;
    for (int i = 0; i < n; i++) {
        ad_tensor *p = ad_params_at(ps, i);
        const size_t off = ad_param_offset(p);
        for (size_t k = end; k < off; k++) bad += v[k] != 0;
        for (size_t k = 0; k < (size_t)ad_rows(p) * (size_t)ad_cols(p); k++)
            bad += v[off + k] != (ad_real)(i * 1000 + (int)k) / 2;
        end = off + (size_t)ad_rows(p) * (size_t)ad_cols(p);
    }
    CHECK_MSG(bad == 0, "%d values wrong after a flat update", bad);
    th_note("%d parameters, %zu reals with padding, blocks moved %d times", n,
            ad_params_size(ps), moves);
    ad_tape_free(tp);
    ad_params_free(ps);
    ad_params_free(NULL); /* a no-op */
}

TEST(params_find_at_count) {
    ad_params *ps = ad_params_new();
    CHECK(ad_params_count(ps) == 0 && ad_params_size(ps) == 0);
    CHECK(ad_params_find(ps, "W") == NULL);
    char name[8] = "W";
    ad_tensor *W = ad_param(ps, name, 3, 4);
    name[0] = 'X'; /* the store keeps its own copy of the name */
    ad_tensor *b = ad_param(ps, "b", 1, 4);
    ad_tensor *E = ad_param(ps, "E", 10, 2);
    CHECK(ad_params_count(ps) == 3);
    CHECK(ad_params_at(ps, 0) == W && ad_params_at(ps, 1) == b && ad_params_at(ps, 2) == E);
    CHECK(ad_params_find(ps, "W") == W && ad_params_find(ps, "b") == b);
    CHECK(ad_params_find(ps, "E") == E);
    CHECK(ad_params_find(ps, "X") == NULL && ad_params_find(ps, "") == NULL);
    CHECK(strcmp(ad_name(W), "W") == 0 && strcmp(ad_name(E), "E") == 0);
    CHECK(ad_rows(E) == 10 && ad_cols(E) == 2 && ad_requires_grad(E));
    EXPECT_ERROR(ad_params_at(ps, 3), "ad_params_at", "3");
    EXPECT_ERROR(ad_params_at(ps, -1), "ad_params_at");

    /* A second parameter of the same name is a contract error, and the store is unchanged. */
    EXPECT_ERROR(ad_param(ps, "W", 2, 2), "ad_param", "W", "already exists");
    CHECK(ad_params_count(ps) == 3 && ad_params_find(ps, "W") == W && ad_rows(W) == 3);
    ad_params_free(ps);
}

/* ----------------------------------------------- where gradient flows ---- */

TEST(frozen_parameter_gets_no_gradient) {
    ad_params *ps = ad_params_new();
    ad_tensor *W1 = th_param(ps, "W1", 3, 4, -1, 1, 12), *W2 = th_param(ps, "W2", 4, 2, -1, 1, 13);
    ad_real xv[15];
    th_fill_uniform(xv, 15, -1, 1, 14);
    ad_param_set_frozen(W1, true);
    CHECK(!ad_requires_grad(W1) && ad_grad(W1) == NULL);

    ad_tape *tp = ad_tape_new();
    ad_tensor *x = ad_input(tp, 5, 3, xv);
    ad_tensor *h = ad_tanh(tp, ad_matmul(tp, x, W1)); /* depends on W1 only */
    CHECK(!ad_requires_grad(h));
    ad_tensor *y = ad_matmul(tp, h, W2);
    ad_backward(tp, th_project(tp, y, 15));

    CHECK(ad_grad(W1) == NULL && ad_grad(h) == NULL && ad_grad(x) == NULL);
    const ad_real *g = ad_params_grads(ps) + ad_param_offset(W1);
    for (int k = 0; k < 12; k++) CHECK(g[k] == 0);
    /* W2 still gets dJ/dW2 = hᵀ R (R the projection th_project used). */
    ad_real R[10];
    th_fill_uniform(R, 10, -1, 1, 15);
    double want[8] = {0}, got[8];
    for (int k = 0; k < 4; k++)
        for (int j = 0; j < 2; j++)
            for (int i = 0; i < 5; i++) want[k * 2 + j] += ad_get(h, i, k) * R[i * 2 + j];
    copy_out(got, ad_grad(W2), 8);
    CHECK_ARRAY("dW2", got, want, 8, 1e-13, 1e-15);

    ad_param_set_frozen(W1, false);
    CHECK(ad_requires_grad(W1) && ad_grad(W1) == ad_params_grads(ps) + ad_param_offset(W1));
    ad_tape_reset(tp);
    ad_backward(tp, ad_sum(tp, ad_matmul(tp, ad_input(tp, 5, 3, xv), W1)));
    CHECK_NEAR(ad_grad(W1)[0], xv[0] + xv[3] + xv[6] + xv[9] + xv[12], 1e-14, 1e-15);
    ad_tape_free(tp);
    ad_params_free(ps);
}

TEST(detach_stops_the_gradient) {
    ad_params *ps = ad_params_new();
    ad_tensor *w = ad_param(ps, "w", 1, 3);
    const ad_real w0[3] = {0.5, -1, 2};
    memcpy(ad_data(w), w0, sizeof w0);
    ad_tape *tp = ad_tape_new();
    ad_tensor *sq = ad_square(tp, w);
    ad_tensor *d = ad_detach(tp, sq);
    CHECK(!ad_requires_grad(d) && ad_requires_grad(sq));
    CHECK(memcmp(ad_data(d), ad_data(sq), sizeof w0) == 0 && ad_data(d) != ad_data(sq));
    /* J = Σ detach(w²) w: the gradient is w², not the 3w² of Σ w³. */
    ad_tensor *loss = ad_sum(tp, ad_mul(tp, d, w));
    CHECK(ad_item(loss) == 0.125 - 1 + 8);
    ad_backward(tp, loss);
    for (int j = 0; j < 3; j++) CHECK(ad_grad(w)[j] == w0[j] * w0[j]);
    CHECK(ad_grad(sq) == NULL && ad_grad(d) == NULL);
    ad_tape_free(tp);
    ad_params_free(ps);
}

TEST(nodes_that_need_no_gradient_are_skipped) {
    ad_params *ps = ad_params_new();
    ad_tensor *W = th_param(ps, "W", 3, 3, -1, 1, 16);
    ad_real xv[6];
    th_fill_uniform(xv, 6, -1, 1, 17);
    ad_tape *tp = ad_tape_new();
    ad_tensor *x = ad_input(tp, 2, 3, xv);
    ad_tensor *t = ad_tanh(tp, x);           /* inputs only: no gradient needed */
    ad_tensor *unused = ad_exp(tp, W);       /* needs one, but is off the loss's path */
    ad_tensor *y = ad_matmul(tp, t, W);
    CHECK(!ad_requires_grad(x) && !ad_requires_grad(t));
    CHECK(ad_requires_grad(y) && ad_requires_grad(unused));
    ad_backward(tp, ad_sum(tp, y));
    CHECK(ad_grad(x) == NULL && ad_grad(t) == NULL && ad_grad(unused) == NULL);
    CHECK(ad_grad(y) != NULL);
    for (int k = 0; k < 3; k++)
        for (int j = 0; j < 3; j++)
            CHECK_NEAR(ad_grad(W)[k * 3 + j], ad_get(t, 0, k) + ad_get(t, 1, k), 1e-15, 0);

    /* A loss that depends on no parameter: backward does nothing, and says nothing. */
    ad_params_zero_grad(ps);
    ad_tensor *l2 = ad_sum(tp, t);
    EXPECT_NO_ERROR(ad_backward(tp, l2));
    CHECK(ad_grad(l2) == NULL && ad_grad(t) == NULL);
    for (int k = 0; k < 9; k++) CHECK(ad_grad(W)[k] == 0);
    ad_tape_free(tp);
    ad_params_free(ps);
}

/* ----------------------------------------------------- contract errors ---- */

TEST(tensor_from_before_reset_is_an_error) {
    ad_tape *tp = ad_tape_new();
    /* The arena reuses a stale tensor's memory once the next recording reaches it, and then no
     * check can tell: the filler keeps x beyond the few nodes recorded after each reset here. */
    ad_fill(tp, 100, 100, 0);
    ad_tensor *x = ad_input(tp, 2, 3, NULL);
    ad_tensor *loss = ad_sum(tp, x);
    ad_tape_reset(tp);
    EXPECT_ERROR_HERE(ad_tanh(tp, x), "ad_tanh", "ad_tape_reset");
    EXPECT_ERROR(ad_add(tp, ad_fill(tp, 2, 3, 1), x), "ad_add", "ad_tape_reset");
    ad_tape_reset(tp);
    EXPECT_ERROR(ad_detach(tp, x), "ad_detach", "ad_tape_reset");
    ad_tape_reset(tp);
    EXPECT_ERROR(ad_backward(tp, loss), "ad_backward", "ad_tape_reset");
    ad_tape_free(tp);
}

TEST(tensor_from_another_tape_is_an_error) {
    ad_params *ps = ad_params_new();
    ad_tensor *W = th_param(ps, "W", 3, 3, -1, 1, 18);
    ad_tape *tp1 = ad_tape_new(), *tp2 = ad_tape_new();
    ad_tensor *x = ad_input(tp1, 2, 3, NULL);
    EXPECT_ERROR_HERE(ad_matmul(tp2, x, W), "ad_matmul", "another tape");
    ad_tensor *loss = ad_sum(tp1, ad_matmul(tp1, x, W));
    EXPECT_ERROR(ad_backward(tp2, loss), "ad_backward", "not a node of this tape");
    /* A parameter belongs to no tape: both may use it. */
    EXPECT_NO_ERROR(ad_matmul(tp2, ad_input(tp2, 1, 3, NULL), W));
    ad_tape_free(tp1);
    ad_tape_free(tp2);
    ad_params_free(ps);
}

TEST(loss_must_be_1x1) {
    ad_params *ps = ad_params_new();
    ad_tensor *W = th_param(ps, "W", 2, 3, -1, 1, 19);
    ad_tape *tp = ad_tape_new();
    ad_tensor *y = ad_tanh(tp, W);
    EXPECT_ERROR(ad_backward(tp, y), "ad_backward", "1x1", "2x3");
    EXPECT_ERROR(ad_backward(tp, NULL), "ad_backward", "NULL");
    for (int k = 0; k < 6; k++) CHECK(ad_grad(W)[k] == 0); /* nothing ran */
    ad_tape_free(tp);
    ad_params_free(ps);
}

/* Run stmt in a child process and check that it stops through the error handler with a message
 * containing needle: a NULL dereference then fails the check instead of ending this program. */
enum { CHILD_STOPPED = 0, CHILD_WRONG_MESSAGE = 42, CHILD_RETURNED = 43 };
static const char *child_needle;
static void child_error(const char *message, void *ctx) {
    (void)ctx;
    _exit(strstr(message, child_needle) ? CHILD_STOPPED : CHILD_WRONG_MESSAGE);
}
static const char *child_outcome(int status) {
    static char buf[64];
    if (WIFSIGNALED(status)) return strsignal(WTERMSIG(status));
    if (WEXITSTATUS(status) == CHILD_WRONG_MESSAGE) return "the message lacks the op's name";
    if (WEXITSTATUS(status) == CHILD_RETURNED) return "returned";
    snprintf(buf, sizeof buf, "crashed (exit status %d)", WEXITSTATUS(status)); /* a sanitizer */
    return buf;
}
#define CHECK_STOPS_IN_CHILD(stmt, needle)                                                         \
    do {                                                                                           \
        fflush(stdout);                                                                            \
        pid_t th_pid_ = fork();                                                                    \
        REQUIRE(th_pid_ >= 0);                                                                     \
        if (th_pid_ == 0) {                                                                        \
            child_needle = (needle);                                                               \
            ad_set_error_handler(child_error, NULL);                                               \
            stmt;                                                                                  \
            _exit(CHILD_RETURNED);                                                                 \
        }                                                                                          \
        int th_st_ = 0;                                                                            \
        waitpid(th_pid_, &th_st_, 0);                                                              \
        CHECK_MSG(WIFEXITED(th_st_) && WEXITSTATUS(th_st_) == CHILD_STOPPED, "%s: %s", #stmt,     \
                  child_outcome(th_st_));                                                          \
    } while (0)

TEST(null_arguments_are_contract_errors) {
    ad_tape *tp = ad_tape_new();
    ad_tensor *x = ad_input(tp, 2, 3, NULL);
    EXPECT_ERROR_HERE(ad_tanh(NULL, x), "NULL tape");
    EXPECT_ERROR_HERE(ad_add(tp, x, NULL), "ad_add", "NULL");
    EXPECT_ERROR_HERE(ad_matmul(tp, NULL, x), "ad_matmul", "NULL");
    EXPECT_ERROR_HERE(ad_sum(tp, NULL), "ad_sum", "NULL");
    EXPECT_ERROR_HERE(ad_detach(tp, NULL), "ad_detach", "NULL");
    CHECK_STOPS_IN_CHILD(ad_tanh(tp, NULL), "ad_tanh");
    CHECK_STOPS_IN_CHILD(ad_scale(tp, NULL, 2), "ad_scale");
    CHECK_STOPS_IN_CHILD(ad_dropout(tp, NULL, 0.5), "ad_dropout");
    ad_tape_free(tp);
}

TEST(shape_mismatch_names_op_shapes_and_caller) {
    ad_tape *tp = ad_tape_new();
    ad_tensor *a = ad_input(tp, 2, 3, NULL), *b = ad_input(tp, 4, 5, NULL);
    EXPECT_ERROR_HERE(ad_add(tp, a, b), "ad_add", "2x3", "4x5");
    EXPECT_ERROR_HERE(ad_mul(tp, a, b), "ad_mul", "2x3", "4x5");
    EXPECT_ERROR_HERE(ad_matmul(tp, a, b), "ad_matmul", "2x3", "4x5");
    EXPECT_ERROR_HERE(ad_rowdot(tp, a, b), "ad_rowdot", "2x3", "4x5");
    EXPECT_ERROR_HERE(ad_input(tp, 0, 3, NULL), "ad_input", "0x3");
    ad_tape_free(tp);
}

/* --------------------------------------------------------- debug mode ---- */

TEST(check_finite_stops_at_a_nan_in_forward) {
    ad_tape *tp = ad_tape_new();
    const ad_real v[3] = {1, -1, 2};
    ad_tensor *x = ad_input(tp, 1, 3, v);
    ad_tape_set_check_finite(tp, true);
    EXPECT_ERROR_HERE(ad_log(tp, x), "ad_log", "NaN", "[0,1]", "1x3");
    EXPECT_ERROR_HERE(ad_exp(tp, ad_fill(tp, 2, 2, 1000)), "ad_exp", "Inf");

    /* Off (the default), the same calls return their non-finite values. */
    ad_tape_set_check_finite(tp, false);
    ad_tensor *volatile y = NULL, *volatile z = NULL; /* set between setjmp and its return */
    EXPECT_NO_ERROR(y = ad_log(tp, x));
    EXPECT_NO_ERROR(z = ad_exp(tp, ad_fill(tp, 2, 2, 1000)));
    if (y) CHECK(isnan(ad_get(y, 0, 1)) && ad_get(y, 0, 0) == 0);
    if (z) CHECK(isinf(ad_get(z, 1, 1)));
    ad_tape_free(tp);
}

TEST(check_finite_stops_at_a_non_finite_gradient) {
    ad_params *ps = ad_params_new();
    ad_tensor *a = ad_param(ps, "a", 1, 1);
    ad_data(a)[0] = 1e-310; /* subnormal: a/b is finite, but d(a/b)/da = 1/b overflows */
    ad_tape *tp = ad_tape_new();
    ad_tape_set_check_finite(tp, true);
    ad_tensor *q = ad_div(tp, a, ad_fill(tp, 1, 1, 1e-310));
    char built[64]; /* the stop names where the op that made the Inf was built */
    snprintf(built, sizeof built, "test_tape.c:%d", __LINE__ - 2);
    ad_tensor *loss = ad_sum(tp, q);
    CHECK(ad_item(loss) == 1); /* the forward is finite */
    EXPECT_ERROR(ad_backward(tp, loss), "ad_div", "gradient", "Inf", built);

    ad_params_zero_grad(ps);
    ad_tape_set_check_finite(tp, false);
    EXPECT_NO_ERROR(ad_backward(tp, loss));
    CHECK(isinf(ad_grad(a)[0]));
    ad_tape_free(tp);
    ad_params_free(ps);
}

/* The dropout stream's raw state restores exactly: the masks after a restore are those that
 * followed the saved point, across resets. */
TEST(rng_state_save_and_restore_reproduces_masks) {
    ad_tape *tp = ad_tape_new();
    ad_tape_seed(tp, 99);
    ad_tensor *x = ad_fill(tp, 4, 25, 1);
    (void)ad_dropout(tp, x, 0.5);
    ad_tape_reset(tp);
    const uint64_t saved = ad_tape_rng_state(tp);
    x = ad_fill(tp, 4, 25, 1);
    ad_real first[100];
    memcpy(first, ad_data(ad_dropout(tp, x, 0.5)), sizeof first);
    ad_tape_reset(tp);
    x = ad_fill(tp, 4, 25, 1);
    ad_real other[100];
    memcpy(other, ad_data(ad_dropout(tp, x, 0.5)), sizeof other);
    CHECK(memcmp(first, other, sizeof first) != 0); /* the stream moved on */
    ad_tape_set_rng_state(tp, saved);
    ad_tape_reset(tp);
    x = ad_fill(tp, 4, 25, 1);
    CHECK(memcmp(first, ad_data(ad_dropout(tp, x, 0.5)), sizeof first) == 0);
    ad_tape_free(tp);
}

/* ----------------------------------------------------------------- leaves ---- */

/* ad_leaf reads the caller's values in place and adds its gradient into the caller's buffer:
 * never cleared by the tape, so two backward passes (and the buffer's own contents) add up. */
TEST(leaf_reads_in_place_and_adds_into_the_callers_gradient) {
    enum { R = 4, C = 3 };
    ad_real val[R * C], grad[R * C];
    th_fill_uniform(val, R * C, -1, 1, 12);
    for (int k = 0; k < R * C; k++) grad[k] = 100;
    const int idx[3] = {2, 0, 2};
    ad_tape *tp = ad_tape_new();
    ad_tensor *L = ad_leaf(tp, R, C, val, grad);
    CHECK(ad_data(L) == val && ad_grad(L) == grad && ad_requires_grad(L));
    ad_tensor *J = ad_sum(tp, ad_gather_rows(tp, L, idx, 3));
    ad_backward(tp, J);
    ad_backward(tp, J);
    for (int r = 0; r < R; r++)
        for (int j = 0; j < C; j++) {
            const double used = r == 2 ? 2 : r == 0 ? 1 : 0;
            CHECK(grad[r * C + j] == 100 + 2 * used);
        }
    /* in place: a change to the caller's values shows in what the next op reads */
    val[1 * C + 2] = 7;
    const int one[1] = {1};
    CHECK(ad_get(ad_gather_rows(tp, L, one, 1), 0, 2) == 7);
    ad_tape_free(tp);
}

/* With no gradient buffer the leaf is a constant: nothing flows to it, and a dense use (a
 * product) of one that has a buffer fills the whole buffer, as a parameter's would be. */
TEST(leaf_without_gradient_and_dense_use) {
    ad_params *ps = ad_params_new();
    ad_tensor *W = th_param(ps, "W", 3, 2, -1, 1, 13);
    ad_real x[2 * 3], gx[2 * 3] = {0};
    th_fill_uniform(x, 6, -1, 1, 14);
    ad_tape *tp = ad_tape_new();
    ad_tensor *c = ad_leaf(tp, 2, 3, x, NULL);
    CHECK(!ad_requires_grad(c) && ad_grad(c) == NULL);
    ad_backward(tp, ad_sum(tp, ad_matmul(tp, c, W)));
    for (int i = 0; i < 3; i++) /* dW = xᵀ 1 */
        for (int j = 0; j < 2; j++) CHECK_NEAR(ad_grad(W)[i * 2 + j], x[i] + x[3 + i], 1e-15, 0);
    ad_tape_reset(tp);
    ad_tensor *L = ad_leaf(tp, 2, 3, x, gx);
    ad_backward(tp, ad_sum(tp, ad_matmul(tp, L, W)));
    for (int i = 0; i < 2; i++) /* dL = 1 Wᵀ */
        for (int k = 0; k < 3; k++)
            CHECK_NEAR(gx[i * 3 + k], ad_get(W, k, 0) + ad_get(W, k, 1), 1e-15, 0);
    EXPECT_ERROR(ad_leaf(tp, 2, 3, NULL, gx), "ad_leaf", "NULL");
    EXPECT_ERROR(ad_leaf(tp, 0, 3, x, gx), "ad_leaf", "0x3");
    ad_tape_free(tp);
    ad_params_free(ps);
}

/* ------------------------------------------- child tapes, custom nodes ---- */

/* ad_backward_from with an upstream dy is the backward of Σ y ∘ dy. */
TEST(backward_from_a_matrix_is_a_vector_jacobian_product) {
    ad_params *ps = ad_params_new();
    ad_tensor *W = th_param(ps, "W", 3, 4, -1, 1, 15), *x = th_param(ps, "x", 2, 3, -1, 1, 16);
    ad_real dy[8];
    th_fill_uniform(dy, 8, -1, 1, 17);
    ad_tape *tp = ad_tape_new();
    ad_backward_from(tp, ad_tanh(tp, ad_matmul(tp, x, W)), dy);
    double got[12], want[12];
    for (int k = 0; k < 12; k++) got[k] = ad_grad(W)[k];
    ad_params_zero_grad(ps);
    ad_tape_reset(tp);
    ad_tensor *y = ad_tanh(tp, ad_matmul(tp, x, W));
    ad_backward(tp, ad_sum(tp, ad_mul(tp, y, ad_input(tp, 2, 4, dy))));
    for (int k = 0; k < 12; k++) want[k] = ad_grad(W)[k];
    CHECK_ARRAY("dW", got, want, 12, 1e-15, 1e-15);
    EXPECT_ERROR(ad_backward_from(tp, y, NULL), "ad_backward_from", "dy is NULL");
    ad_tape_free(tp);
    ad_params_free(ps);
}

/* A custom node: y = 3 x computed by the caller, its backward adding 3 dy into x; and one with
 * no input that still needs its backward (a parameter used inside). */
typedef struct {
    ad_tensor *x, *P;
    int calls;
} custom_ctx;

static void triple_backward(void *ctx, ad_tensor *y) {
    custom_ctx *c = ctx;
    c->calls++;
    ad_tensor *x = c->x;
    if (ad_grad(x))
        for (int k = 0; k < ad_rows(y) * ad_cols(y); k++) ad_grad(x)[k] += 3 * ad_grad(y)[k];
}

static ad_tensor *triple_loss(ad_tape *tp, void *ctx) {
    custom_ctx *c = ctx;
    ad_tensor *x = ad_tanh(tp, c->P); /* a node, so the custom op has a node input */
    c->x = x;
    ad_tensor *y = ad_custom(tp, ad_rows(x), ad_cols(x), 1, &x, triple_backward, c, false);
    for (int k = 0; k < ad_rows(x) * ad_cols(x); k++) ad_data(y)[k] = 3 * ad_data(x)[k];
    return th_project(tp, ad_square(tp, y), 18);
}

static void param_backward(void *ctx, ad_tensor *y) {
    custom_ctx *c = ctx; /* y = 2 P, P used directly */
    c->calls++;
    for (int k = 0; k < ad_rows(y) * ad_cols(y); k++) ad_grad(c->P)[k] += 2 * ad_grad(y)[k];
}

TEST(custom_node_backward_and_gradient) {
    ad_params *ps = ad_params_new();
    custom_ctx c = {NULL, th_param(ps, "P", 2, 3, -1, 1, 19), 0};
    CHECK_GRADCHECK(ps, triple_loss, &c, &th_tight);
    CHECK(c.calls > 0);

    c.calls = 0;
    ad_params_zero_grad(ps);
    ad_tape *tp = ad_tape_new();
    ad_tensor *y = ad_custom(tp, 2, 3, 0, NULL, param_backward, &c, true);
    CHECK(ad_requires_grad(y));
    for (int k = 0; k < 6; k++) ad_data(y)[k] = 2 * ad_data(c.P)[k];
    ad_backward(tp, ad_sum(tp, y));
    CHECK(c.calls == 1);
    for (int k = 0; k < 6; k++) CHECK(ad_grad(c.P)[k] == 2);
    EXPECT_ERROR(ad_custom(tp, 2, 3, 0, NULL, NULL, &c, true), "ad_custom", "backward");
    ad_tape_free(tp);
    ad_params_free(ps);
}

/* Children: handed out fresh, in the parent's modes with streams of their own, reset with the
 * parent (a child's tensor is then stale), handed out again after the reset. */
TEST(child_tapes_follow_their_parent) {
    ad_tape *tp = ad_tape_new();
    ad_tape_set_training(tp, false);
    ad_tape_seed(tp, 7);
    const uint64_t parent_stream = ad_tape_rng_state(tp);
    ad_tape *a = ad_tape_child(tp), *b = ad_tape_child(tp);
    CHECK(a != b && a != tp);
    CHECK(!ad_tape_training(a) && !ad_tape_training(b));
    /* streams of their own, and the parent's as it was (its dropout masks do not depend on
     * whether a step used children) */
    CHECK(ad_tape_rng_state(tp) == parent_stream);
    CHECK(ad_tape_rng_state(a) != ad_tape_rng_state(b));
    CHECK(ad_tape_rng_state(a) != parent_stream && ad_tape_rng_state(b) != parent_stream);
    ad_tensor *t = ad_fill(a, 2, 2, 1);
    CHECK(ad_tape_node_count(a) == 1);
    ad_tape_reset(tp);
    CHECK(ad_tape_node_count(a) == 0);
    EXPECT_ERROR(ad_sum(a, t), "recorded before the last ad_tape_reset");
    ad_tape_reset(a);
    CHECK(ad_tape_child(tp) == a && ad_tape_child(tp) == b);
    CHECK(ad_tape_child(tp) != a); /* a third one */
    ad_tape_free(tp);              /* frees the children */
}
