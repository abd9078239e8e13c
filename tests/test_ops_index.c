/* Gradient and value tests of autodiff/ops_index.c: gather, concat, slices. */
#include "harness.h"

/* -------------------------------------------------------------- gather rows ---- */

typedef struct {
    ad_tensor *E;
    const int *idx;
    int n;
    bool through_node; /* gather from 2E, a node, rather than from the parameter itself */
} gather_case;
static ad_tensor *gather_loss(ad_tape *tp, void *ctx) {
    gather_case *c = ctx;
    ad_tensor *E = c->through_node ? ad_scale(tp, c->E, 2) : c->E;
    return th_project(tp, ad_gather_rows(tp, E, c->idx, c->n), 31);
}

TEST(gather_rows_values_and_gradient) {
    ad_params *ps = ad_params_new();
    const int idx[5] = {4, 1, 4, 0, 4};
    gather_case c = {th_param(ps, "E", 6, 3, -1, 1, 1), idx, 5, false};
    ad_tape *tp = ad_tape_new();
    ad_tensor *y = ad_gather_rows(tp, c.E, idx, 5);
    REQUIRE(ad_rows(y) == 5 && ad_cols(y) == 3);
    for (int k = 0; k < 5; k++)
        for (int j = 0; j < 3; j++) CHECK(ad_get(y, k, j) == ad_get(c.E, idx[k], j));
    ad_tape_free(tp);
    CHECK_GRADCHECK(ps, gather_loss, &c, &th_tight);
    ad_params_free(ps);
}

/* dE[r] = Σ_{k: idx_k = r} dy_k: a repeated index accumulates, an unused row gets nothing. */
TEST(gather_rows_repeated_indices_accumulate) {
    ad_params *ps = ad_params_new();
    const int idx[5] = {4, 1, 4, 0, 4};
    gather_case c = {th_param(ps, "E", 6, 3, -1, 1, 2), idx, 5, false};
    ad_tape *tp = ad_tape_new();
    ad_backward(tp, gather_loss(tp, &c));
    ad_real R[15]; /* the projection th_project used */
    th_fill_uniform(R, 15, -1, 1, 31);
    double want[18] = {0}, got[18];
    for (int k = 0; k < 5; k++)
        for (int j = 0; j < 3; j++) want[idx[k] * 3 + j] += R[k * 3 + j];
    for (int k = 0; k < 18; k++) got[k] = ad_grad(c.E)[k];
    CHECK_ARRAY("dE", got, want, 18, 1e-15, 1e-300);
    ad_tape_free(tp);
    ad_params_free(ps);
}

/* The store learns which rows were used; zero_grad clears those (and only those), after which
 * the whole gradient block is zero and no row is listed. */
TEST(gather_rows_touched_rows_and_zero_grad) {
    ad_params *ps = ad_params_new();
    const int idx[4] = {5, 2, 5, 7};
    ad_tensor *E = th_param(ps, "E", 8, 4, -1, 1, 3);
    const int *rows;
    CHECK(ad_param_touched_rows(E, &rows) == 0);
    ad_tape *tp = ad_tape_new();
    ad_backward(tp, th_project(tp, ad_gather_rows(tp, E, idx, 4), 5));

    int n = ad_param_touched_rows(E, &rows);
    REQUIRE(n == 3);
    bool seen[8] = {false};
    for (int k = 0; k < n; k++) {
        REQUIRE(rows[k] >= 0 && rows[k] < 8);
        seen[rows[k]] = true;
    }
    CHECK(seen[2] && seen[5] && seen[7]);
    for (int r = 0; r < 8; r++) { /* the gradient is where the list says, and only there */
        bool nonzero = false;
        for (int j = 0; j < 4; j++) nonzero |= ad_grad(E)[r * 4 + j] != 0;
        CHECK_MSG(nonzero == seen[r], "row %d: gradient %s but %s", r,
                  nonzero ? "nonzero" : "zero", seen[r] ? "touched" : "untouched");
    }

    ad_params_zero_grad(ps);
    for (int k = 0; k < 32; k++) CHECK(ad_grad(E)[k] == 0);
    CHECK(ad_param_touched_rows(E, &rows) == 0);

    /* Row by row: a value planted in an untouched row survives, so zero_grad visited only the
     * touched rows (ad.h: "cleared row by row"). */
    ad_tape_reset(tp);
    ad_backward(tp, th_project(tp, ad_gather_rows(tp, E, idx, 4), 5));
    ad_grad(E)[0] = 42;
    ad_params_zero_grad(ps);
    CHECK(ad_grad(E)[0] == 42);
    for (int k = 4; k < 32; k++) CHECK(ad_grad(E)[k] == 0);
    ad_grad(E)[0] = 0;
    ad_tape_free(tp);
    ad_params_free(ps);
}

/* Another use of the table makes its gradient dense. */
TEST(gather_rows_with_a_dense_use_reports_dense) {
    ad_params *ps = ad_params_new();
    const int idx[2] = {1, 1};
    ad_tensor *E = th_param(ps, "E", 3, 2, -1, 1, 4);
    ad_tape *tp = ad_tape_new();
    ad_tensor *J = ad_add(tp, ad_sum(tp, ad_gather_rows(tp, E, idx, 2)), ad_sum(tp, E));
    ad_backward(tp, J);
    const int *rows;
    CHECK(ad_param_touched_rows(E, &rows) == -1);
    const double want[6] = {1, 1, 3, 3, 1, 1};
    double got[6];
    for (int k = 0; k < 6; k++) got[k] = ad_grad(E)[k];
    CHECK_ARRAY("dE", got, want, 6, 0, 0);
    ad_params_zero_grad(ps);
    for (int k = 0; k < 6; k++) CHECK(ad_grad(E)[k] == 0);
    ad_tape_free(tp);
    ad_params_free(ps);
}

/* The table may be a node (here 2E): the gradient flows on through it. */
TEST(gather_rows_from_a_node) {
    ad_params *ps = ad_params_new();
    const int idx[3] = {2, 0, 2};
    gather_case c = {th_param(ps, "E", 4, 3, -1, 1, 5), idx, 3, true};
    CHECK_GRADCHECK(ps, gather_loss, &c, &th_tight);
    CHECK(ad_grad(c.E)[3] == 0 && ad_grad(c.E)[9] == 0); /* rows 1 and 3 unused */
    ad_params_free(ps);
}

/* The op keeps its own copy of the indices. */
TEST(gather_rows_copies_indices) {
    ad_params *ps = ad_params_new();
    ad_tensor *E = th_param(ps, "E", 3, 2, -1, 1, 6);
    int idx[1] = {2};
    ad_tape *tp = ad_tape_new();
    ad_tensor *J = ad_sum(tp, ad_gather_rows(tp, E, idx, 1));
    idx[0] = 0;
    ad_backward(tp, J);
    CHECK(ad_grad(E)[4] == 1 && ad_grad(E)[5] == 1 && ad_grad(E)[0] == 0);
    ad_tape_free(tp);
    ad_params_free(ps);
}

TEST(gather_rows_index_errors) {
    ad_params *ps = ad_params_new();
    ad_tensor *E = ad_param(ps, "E", 6, 3);
    ad_tape *tp = ad_tape_new();
    const int big[3] = {0, 1, 6}, neg[2] = {-1, 0};
    EXPECT_ERROR(ad_gather_rows(tp, E, big, 3), "ad_gather_rows", "position 2", "index 6", "6x3",
                 "test_ops_index.c");
    EXPECT_ERROR(ad_gather_rows(tp, E, neg, 2), "ad_gather_rows", "position 0", "index -1");
    ad_tape_free(tp);
    ad_params_free(ps);
}

/* ---------------------------------------------------------- concat and slices ---- */

typedef struct {
    ad_tensor *a, *b, *c;
} three_case;

static ad_tensor *concat_loss(ad_tape *tp, void *ctx) {
    three_case *t = ctx;
    ad_tensor *xs[3] = {t->a, t->b, t->c};
    return th_project(tp, ad_concat(tp, 3, xs), 41);
}

TEST(concat_values_and_gradient) {
    ad_params *ps = ad_params_new();
    three_case t = {th_param(ps, "a", 2, 1, -1, 1, 7), th_param(ps, "b", 2, 3, -1, 1, 8),
                    th_param(ps, "c", 2, 2, -1, 1, 9)};
    ad_tape *tp = ad_tape_new();
    ad_tensor *xs[3] = {t.a, t.b, t.c};
    ad_tensor *y = ad_concat(tp, 3, xs);
    REQUIRE(ad_rows(y) == 2 && ad_cols(y) == 6);
    for (int i = 0; i < 2; i++) {
        CHECK(ad_get(y, i, 0) == ad_get(t.a, i, 0));
        for (int j = 0; j < 3; j++) CHECK(ad_get(y, i, 1 + j) == ad_get(t.b, i, j));
        for (int j = 0; j < 2; j++) CHECK(ad_get(y, i, 4 + j) == ad_get(t.c, i, j));
    }
    ad_tape_free(tp);
    CHECK_GRADCHECK(ps, concat_loss, &t, &th_tight);
    ad_params_free(ps);
}

/* concat2(a, a): both halves' gradients land in a. */
static ad_tensor *concat2_loss(ad_tape *tp, void *ctx) {
    three_case *t = ctx;
    return th_project(tp, ad_concat2(tp, ad_concat2(tp, t->a, t->b), t->a), 42);
}
TEST(concat2_gradient_and_repeated_input) {
    ad_params *ps = ad_params_new();
    three_case t = {th_param(ps, "a", 3, 2, -1, 1, 10), th_param(ps, "b", 3, 1, -1, 1, 11), NULL};
    CHECK_GRADCHECK(ps, concat2_loss, &t, &th_tight);
    ad_real R[15];
    th_fill_uniform(R, 15, -1, 1, 42);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 2; j++) /* column j of a sits at j and 3 + j of the 3 x 5 output */
            CHECK_NEAR(ad_grad(t.a)[i * 2 + j], R[i * 5 + j] + R[i * 5 + 3 + j], 1e-15, 0);
    ad_params_free(ps);
}

/* Slicing a matrix apart and concatenating the pieces gives it back, bit for bit; the slices of
 * a concatenation are its inputs. */
TEST(slice_and_concat_round_trip) {
    ad_params *ps = ad_params_new();
    ad_tensor *x = th_param(ps, "x", 4, 5, -1, 1, 12), *z = th_param(ps, "z", 4, 2, -1, 1, 13);
    ad_tape *tp = ad_tape_new();
    ad_tensor *cols = ad_concat2(tp, ad_slice_cols(tp, x, 0, 2), ad_slice_cols(tp, x, 2, 3));
    REQUIRE(ad_rows(cols) == 4 && ad_cols(cols) == 5);
    CHECK(memcmp(ad_data(cols), ad_data(x), 20 * sizeof(ad_real)) == 0);

    ad_tensor *top = ad_slice_rows(tp, x, 0, 1), *rest = ad_slice_rows(tp, x, 1, 3);
    REQUIRE(ad_rows(top) == 1 && ad_rows(rest) == 3 && ad_cols(rest) == 5);
    CHECK(memcmp(ad_data(top), ad_data(x), 5 * sizeof(ad_real)) == 0);
    CHECK(memcmp(ad_data(rest), ad_data(x) + 5, 15 * sizeof(ad_real)) == 0);

    ad_tensor *xz = ad_concat2(tp, x, z);
    ad_tensor *back = ad_slice_cols(tp, xz, 5, 2);
    CHECK(memcmp(ad_data(back), ad_data(z), 8 * sizeof(ad_real)) == 0);
    ad_tape_free(tp);
    ad_params_free(ps);
}

typedef struct {
    ad_tensor *x;
    int kind; /* 0: columns [1, 4), 1: rows [1, 3), 2: both, through a concat */
} slice_case;
static ad_tensor *slice_loss(ad_tape *tp, void *ctx) {
    slice_case *s = ctx;
    ad_tensor *y;
    if (s->kind == 0) y = ad_slice_cols(tp, s->x, 1, 3);
    else if (s->kind == 1) y = ad_slice_rows(tp, s->x, 1, 2);
    else y = ad_slice_rows(tp, ad_slice_cols(tp, ad_concat2(tp, s->x, s->x), 3, 4), 2, 2);
    return th_project(tp, y, 43 + (uint64_t)s->kind);
}

TEST(slice_cols_and_rows_gradients) {
    for (int kind = 0; kind < 3; kind++) {
        ad_params *ps = ad_params_new();
        slice_case s = {th_param(ps, "x", 4, 5, -1, 1, 14), kind};
        ad_gradcheck_result r = CHECK_GRADCHECK(ps, slice_loss, &s, &th_tight);
        if (r.failed) th_note("slice case %d", kind);
        /* dx is dy where the slice read, 0 elsewhere */
        ad_real R[12]; /* the projection: 4x3, 2x5 or 2x4 (a prefix of the same stream) */
        th_fill_uniform(R, 12, -1, 1, 43 + (uint64_t)kind);
        double got[20], want[20] = {0};
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 5; j++) {
                got[i * 5 + j] = ad_grad(s.x)[i * 5 + j];
                if (kind == 0 && j >= 1 && j < 4) want[i * 5 + j] = R[i * 3 + j - 1];
                if (kind == 1 && i >= 1 && i < 3) want[i * 5 + j] = R[(i - 1) * 5 + j];
            }
        /* kind 2: rows 2..3 of columns 3..6 of [x x]: x's columns 3, 4, then 0, 1 */
        if (kind == 2)
            for (int i = 2; i < 4; i++)
                for (int k = 0; k < 4; k++) want[i * 5 + (3 + k) % 5] += R[(i - 2) * 4 + k];
        CHECK_ARRAY("dx", got, want, 20, 1e-15, 1e-300);
        ad_params_free(ps);
    }
}

TEST(index_shape_errors_name_op_range_and_shapes) {
    ad_params *ps = ad_params_new();
    ad_tensor *a = ad_param(ps, "a", 2, 3), *b = ad_param(ps, "b", 3, 3);
    ad_tape *tp = ad_tape_new();
    ad_tensor *xs[3] = {a, a, b};
    EXPECT_ERROR(ad_concat(tp, 3, xs), "ad_concat", "input 2", "3x3", "2x3", "test_ops_index.c");
    EXPECT_ERROR(ad_concat2(tp, a, b), "ad_concat2", "3x3", "2x3");
    EXPECT_ERROR(ad_slice_cols(tp, a, 2, 2), "ad_slice_cols", "[2, 4)", "2x3");
    EXPECT_ERROR(ad_slice_cols(tp, a, -1, 2), "ad_slice_cols", "[-1, 1)", "2x3");
    EXPECT_ERROR(ad_slice_rows(tp, b, 1, 3), "ad_slice_rows", "[1, 4)", "3x3");
    EXPECT_ERROR(ad_slice_rows(tp, b, 1, 0), "ad_slice_rows", "[1, 1)", "3x3");
    ad_tape_free(tp);
    ad_params_free(ps);
}

/* A step in which the table was used both sparsely and densely, then a purely sparse step: the
 * second step's rows must be listed and cleared like any other (a row left marked from the first
 * step would be skipped, and its gradient would pile up across steps). */
TEST(gather_rows_sparse_after_a_dense_step) {
    ad_params *ps = ad_params_new();
    ad_tensor *E = th_param(ps, "E", 4, 2, -1, 1, 15);
    const int idx[1] = {1};
    ad_tape *tp = ad_tape_new();
    /* recorded after the dense use, so its backward runs first: row 1 is touched, then the
     * whole table is made dense */
    ad_tensor *dense = ad_sum(tp, E);
    ad_backward(tp, ad_add(tp, dense, ad_sum(tp, ad_gather_rows(tp, E, idx, 1))));
    const int *rows;
    CHECK(ad_param_touched_rows(E, &rows) == -1);
    ad_params_zero_grad(ps);

    for (int step = 0; step < 2; step++) {
        ad_tape_reset(tp);
        ad_backward(tp, ad_sum(tp, ad_gather_rows(tp, E, idx, 1)));
        int n = ad_param_touched_rows(E, &rows);
        CHECK_MSG(n == 1 && rows[0] == 1, "step %d: %d rows listed, want row 1", step, n);
        CHECK_MSG(ad_grad(E)[2] == 1 && ad_grad(E)[3] == 1,
                  "step %d: dE[1] = (%g, %g), want (1, 1)", step, (double)ad_grad(E)[2],
                  (double)ad_grad(E)[3]);
        ad_params_zero_grad(ps);
        CHECK_MSG(ad_grad(E)[2] == 0 && ad_grad(E)[3] == 0, "step %d: zero_grad left (%g, %g)",
                  step, (double)ad_grad(E)[2], (double)ad_grad(E)[3]);
    }
    ad_tape_free(tp);
    ad_params_free(ps);
}

/* ----------------------------------------------------------------- concat rows ---- */

static ad_tensor *concat_rows_loss(ad_tape *tp, void *ctx) {
    ad_tensor **x = ctx;
    ad_tensor *xs[3] = {x[0], x[1], x[0]}; /* x[0] twice: both blocks' gradients land in it */
    return th_project(tp, ad_concat_rows(tp, 3, xs), 43);
}

TEST(concat_rows_values_gradient_and_errors) {
    ad_params *ps = ad_params_new();
    ad_tensor *x[2] = {th_param(ps, "a", 2, 3, -1, 1, 1), th_param(ps, "b", 1, 3, -1, 1, 2)};
    ad_tape *tp = ad_tape_new();
    ad_tensor *xs[3] = {x[0], x[1], x[0]};
    ad_tensor *y = ad_concat_rows(tp, 3, xs);
    REQUIRE(ad_rows(y) == 5 && ad_cols(y) == 3);
    for (int j = 0; j < 3; j++) {
        CHECK(ad_get(y, 0, j) == ad_get(x[0], 0, j) && ad_get(y, 1, j) == ad_get(x[0], 1, j));
        CHECK(ad_get(y, 2, j) == ad_get(x[1], 0, j));
        CHECK(ad_get(y, 3, j) == ad_get(x[0], 0, j) && ad_get(y, 4, j) == ad_get(x[0], 1, j));
    }
    ad_tensor *wide = ad_input(tp, 1, 4, NULL);
    ad_tensor *bad[2] = {x[0], wide};
    EXPECT_ERROR(ad_concat_rows(tp, 2, bad), "ad_concat_rows", "input 1", "1x4", "2x3");
    ad_tape_free(tp);
    CHECK_GRADCHECK(ps, concat_rows_loss, x, &th_tight);
    ad_params_free(ps);
}

/* ------------------------------------------------------------------- bags ---- */

typedef struct {
    ad_tensor *E;
    const int *idx, *start;
    int n;
    bool composed; /* gather, then a product with the 0/1 bag matrix */
} bag_case;

static ad_tensor *bag_loss(ad_tape *tp, void *ctx) {
    bag_case *c = ctx;
    if (!c->composed) return th_project(tp, ad_bag_rows(tp, c->E, c->idx, c->start, c->n), 41);
    const int m = c->start[c->n];
    ad_tensor *S = ad_input(tp, c->n, m, NULL);
    for (int p = 0; p < c->n; p++)
        for (int k = c->start[p]; k < c->start[p + 1]; k++) ad_data(S)[p * m + k] = 1;
    return th_project(tp, ad_matmul(tp, S, ad_gather_rows(tp, c->E, c->idx, m)), 41);
}

/* Sums of rows, repeats and an empty bag included, equal the product with the bag matrix in
 * value and gradient, and pass the gradient check. */
TEST(bag_rows_equals_gather_then_product) {
    enum { D = 5 };
    ad_params *ps = ad_params_new();
    const int idx[7] = {3, 1, 3, 0, 2, 2, 5}, start[5] = {0, 3, 3, 4, 7};
    bag_case c = {th_param(ps, "E", 6, D, -1, 1, 42), idx, start, 4, false};
    ad_tape *tp = ad_tape_new();
    ad_tensor *y = ad_bag_rows(tp, c.E, idx, start, 4);
    REQUIRE(ad_rows(y) == 4 && ad_cols(y) == D);
    for (int j = 0; j < D; j++) {
        CHECK_NEAR(ad_get(y, 0, j), 2 * ad_get(c.E, 3, j) + ad_get(c.E, 1, j), 1e-15, 0);
        CHECK(ad_get(y, 1, j) == 0); /* the empty bag */
        CHECK_NEAR(ad_get(y, 3, j), 2 * ad_get(c.E, 2, j) + ad_get(c.E, 5, j), 1e-15, 0);
    }
    double J[2], g[2][6 * D];
    for (int v = 0; v < 2; v++) {
        c.composed = v == 1;
        ad_params_zero_grad(ps);
        ad_tensor *loss = bag_loss(tp, &c);
        ad_backward(tp, loss);
        J[v] = ad_item(loss);
        for (int k = 0; k < 6 * D; k++) g[v][k] = ad_grad(c.E)[k];
        ad_tape_reset(tp);
    }
    CHECK_NEAR(J[0], J[1], 1e-14, 1e-14);
    CHECK_ARRAY("dE", g[0], g[1], 6 * D, 1e-14, 1e-15);
    c.composed = false;
    CHECK_GRADCHECK(ps, bag_loss, &c, &th_tight);
    const int *rows; /* rows 0, 1, 2, 3, 5 used; 4 not */
    CHECK(ad_param_touched_rows(c.E, &rows) == 5);
    for (int j = 0; j < D; j++) CHECK(ad_grad(c.E)[4 * D + j] == 0);
    ad_tape_free(tp);
    ad_params_free(ps);
}

TEST(bag_rows_contract_errors) {
    ad_params *ps = ad_params_new();
    ad_tensor *E = th_param(ps, "E", 4, 2, -1, 1, 43);
    const int idx[3] = {0, 4, 1}, falling[3] = {0, 2, 1}, late[3] = {1, 2, 3}, ok[3] = {0, 1, 1};
    ad_tape *tp = ad_tape_new();
    EXPECT_ERROR(ad_bag_rows(tp, E, idx, late, 2), "ad_bag_rows", "start[0] is 1");
    EXPECT_ERROR(ad_bag_rows(tp, E, idx, falling, 2), "start[2] = 1", "start[1] = 2");
    EXPECT_ERROR(ad_bag_rows(tp, E, idx, (const int[]){0, 3}, 1), "index 4 at position 1",
                 "[0, 4)", "E (4x2)");
    EXPECT_ERROR(ad_bag_rows(tp, E, idx, ok, 0), "0 bags");
    EXPECT_ERROR(ad_bag_rows(tp, E, NULL, ok, 2), "index array is NULL");
    ad_tape_free(tp);
    ad_params_free(ps);
}
