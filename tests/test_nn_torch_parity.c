/*
 * nn's runner against torch.nn.RNN / GRU / LSTM (nn/rnn.c, nn/cells.c, nn/torch.c).
 *
 * tests/fixtures/gen_torch_rnn.py ran each PyTorch module (2 layers, bidirectional, input 5,
 * hidden 4, T = 6, batch 3 of lengths 6, 4, 2 through pack_padded_sequence) and wrote its
 * state_dict, the inputs, outputs, final states, a loss over outputs and final states, and every
 * gradient. Here the same weights enter nn_rnn_from_torch, the same loss is built on the tape, and
 * everything is compared. Against the float32 run agreement is held to 1e-5 relative (float32's
 * own rounding); against the float64 run of the same numbers (the _f64 files), to 1e-10 on the
 * double build, so that an error too small to show through float32 still fails.
 *
 * The fixtures are found through SEQGRAD_FIXTURES (tests/meson.build sets it to the source
 * tree's tests/fixtures); no torch is needed to run this.
 */
#include "harness.h"
#include "nn.h"

/* Tolerances, |got - want| <= atol + rtol max(|got|, |want|). */
typedef struct {
    double rtol, atol;
} tolerance;

static const tolerance vs_float32 = {1e-5, 1e-6};
/* The float64 run agrees with the double build to ~1e-15; float builds are held as for float32. */
static const tolerance vs_float64 = {sizeof(ad_real) == sizeof(double) ? 1e-10 : 1e-5,
                                     sizeof(ad_real) == sizeof(double) ? 1e-12 : 1e-6};

/* ------------------------------------------------------ fixture files ---- */

#define FX_MAX_RECORDS 64
#define FX_MAX_DIMS 4

/* One record: `name ndim d0 d1 ...` then prod(d) values (see gen_torch_rnn.py). */
typedef struct {
    char name[64];
    int ndim, dims[FX_MAX_DIMS];
    size_t n;
    double *v;
} fx_record;

typedef struct {
    int count;
    fx_record rec[FX_MAX_RECORDS];
} fixture;

static void fx_free(fixture *fx) {
    for (int i = 0; i < fx->count; i++) free(fx->rec[i].v);
    free(fx);
}

/* Read <SEQGRAD_FIXTURES>/<file>; NULL (with a failure naming the problem) if it cannot. */
static fixture *fx_load(const char *file) {
    const char *dir = getenv("SEQGRAD_FIXTURES");
    if (!dir || !*dir) {
        th_fail(__FILE__, __LINE__,
                "SEQGRAD_FIXTURES is not set: run through `meson test` (tests/meson.build sets it) "
                "or set it to the source tree's tests/fixtures");
        return NULL;
    }
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    FILE *f = fopen(path, "r");
    if (!f) {
        th_fail(__FILE__, __LINE__, "cannot open fixture %s (SEQGRAD_FIXTURES=%s)", path, dir);
        return NULL;
    }
    fixture *fx = calloc(1, sizeof *fx);
    char tok[64];
    bool ok = fx != NULL;
    while (ok && fscanf(f, "%63s", tok) == 1) {
        if (tok[0] == '#') { /* a comment runs to the end of its line */
            int ch;
            while ((ch = fgetc(f)) != EOF && ch != '\n') {}
            continue;
        }
        if (fx->count == FX_MAX_RECORDS) {
            ok = false;
            break;
        }
        fx_record *r = &fx->rec[fx->count];
        snprintf(r->name, sizeof r->name, "%s", tok);
        ok = fscanf(f, "%d", &r->ndim) == 1 && r->ndim >= 0 && r->ndim <= FX_MAX_DIMS;
        r->n = 1;
        for (int d = 0; ok && d < r->ndim; d++) {
            ok = fscanf(f, "%d", &r->dims[d]) == 1 && r->dims[d] > 0;
            r->n *= ok ? (size_t)r->dims[d] : 1;
        }
        r->v = ok ? malloc(r->n * sizeof *r->v) : NULL;
        ok = ok && r->v;
        for (size_t i = 0; ok && i < r->n; i++) ok = fscanf(f, "%lf", &r->v[i]) == 1;
        if (r->v) fx->count++;
    }
    fclose(f);
    if (!ok) {
        th_fail(__FILE__, __LINE__, "fixture %s is malformed near record %d \"%s\"", path,
                fx ? fx->count : 0, tok);
        if (fx) fx_free(fx);
        return NULL;
    }
    return fx;
}

static const fx_record *fx_find(const fixture *fx, const char *name) {
    for (int i = 0; i < fx->count; i++)
        if (strcmp(fx->rec[i].name, name) == 0) return &fx->rec[i];
    return NULL;
}

/* A record that must be there with n values. */
static const fx_record *fx_get(const fixture *fx, const char *name, size_t n) {
    const fx_record *r = fx_find(fx, name);
    if (!r) th_fail(__FILE__, __LINE__, "fixture has no record \"%s\"", name);
    else if (r->n != n)
        th_fail(__FILE__, __LINE__, "fixture record \"%s\" has %zu values, want %zu", name, r->n,
                n);
    else return r;
    th_abort_case();
}

static int fx_int(const fixture *fx, const char *name) {
    return (int)fx_get(fx, name, 1)->v[0];
}

/* ------------------------------------------------------------ helpers ---- */

static double max_abs_diff(const double *a, const double *b, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs(a[i] - b[i]));
    return m;
}

/* Values of a fixture record as ad_real, for the library (float or double build). */
static ad_real *to_real(const double *v, size_t n) {
    ad_real *r = malloc(n * sizeof *r);
    REQUIRE(r);
    for (size_t i = 0; i < n; i++) r[i] = (ad_real)v[i];
    return r;
}

static double *to_double(const ad_real *v, size_t n) {
    double *d = malloc(n * sizeof *d);
    REQUIRE(d);
    for (size_t i = 0; i < n; i++) d[i] = (double)v[i];
    return d;
}

/* An input tensor holding B x H values of a (layers·dirs, B, H) record, block k. */
static ad_tensor *state_block(ad_tape *tp, const fx_record *r, int k, int B, int H) {
    ad_tensor *t = ad_input(tp, B, H, NULL);
    for (int i = 0; i < B * H; i++) ad_data(t)[i] = (ad_real)r->v[(size_t)k * B * H + i];
    return t;
}

/* The four gradient families of PyTorch's names, for the figures. */
static const char *const families[4] = {"weight_ih", "weight_hh", "bias_ih", "bias_hh"};

static int family_of(const char *torch_name) {
    for (int i = 0; i < 4; i++)
        if (strncmp(torch_name, families[i], strlen(families[i])) == 0) return i;
    return -1;
}

/* ---------------------------------------------------------- the cases ---- */

static void check_parity(nn_cell_kind kind, const char *file, tolerance tol) {
    fixture *fx = fx_load(file);
    REQUIRE(fx);
    const int in = fx_int(fx, "config.input"), H = fx_int(fx, "config.hidden");
    const int L = fx_int(fx, "config.layers"), T = fx_int(fx, "config.T");
    const int B = fx_int(fx, "config.batch"), dirs = 2, W = dirs * H;
    const int nstate = nn_cell_nstate(kind);
    REQUIRE(fx_int(fx, "config.bidirectional") == 1);

    nn_rnn_config cfg = {.kind = kind, .input = in, .hidden = H, .layers = L,
                         .bidirectional = true};
    ad_params *ps = ad_params_new();
    nn_rng rng = nn_rng_new(1);
    nn_rnn rnn;
    nn_rnn_init(&rnn, ps, "rnn", &cfg, &rng);

    /* Every state_dict tensor goes in; together they must cover every parameter. */
    int loaded = 0;
    size_t loaded_values = 0;
    for (int i = 0; i < fx->count; i++) {
        const fx_record *r = &fx->rec[i];
        if (strncmp(r->name, "param.", 6) != 0) continue;
        ad_real *v = to_real(r->v, r->n);
        int rc = nn_rnn_from_torch(&rnn, r->name + 6, v, r->n);
        CHECK_MSG(rc == 0, "nn_rnn_from_torch(\"%s\", %zu values) returned %d", r->name + 6, r->n,
                  rc);
        free(v);
        loaded++;
        loaded_values += r->n;
    }
    CHECK(loaded == 4 * L * dirs);
    CHECK(loaded == ad_params_count(ps));
    size_t param_values = 0; /* ad_params_size also counts the alignment padding */
    for (int i = 0; i < ad_params_count(ps); i++) {
        ad_tensor *p = ad_params_at(ps, i);
        param_values += (size_t)ad_rows(p) * (size_t)ad_cols(p);
    }
    CHECK(loaded_values == param_values);

    const fx_record *xr = fx_get(fx, "x", (size_t)T * B * in);
    const fx_record *lr = fx_get(fx, "lengths", (size_t)B);
    int lengths[16];
    REQUIRE(B <= 16);
    for (int b = 0; b < B; b++) lengths[b] = (int)lr->v[b];

    ad_tape *tp = ad_tape_new();
    ad_tensor *x = ad_input(tp, T * B, in, NULL);
    for (size_t i = 0; i < xr->n; i++) ad_data(x)[i] = (ad_real)xr->v[i];
    nn_rnn_result res = nn_rnn_forward(tp, &rnn, x, T, lengths, NULL);
    REQUIRE(ad_rows(res.out) == T * B && ad_cols(res.out) == W);

    /* loss = Σ out ∘ R + Σ h_n ∘ R2 (+ Σ c_n ∘ R3); R is nonzero on padded rows, whose outputs
     * must be exactly zero for this to equal PyTorch's masked sum. */
    const fx_record *R = fx_get(fx, "R", (size_t)T * B * W);
    ad_tensor *Rt = ad_input(tp, T * B, W, NULL);
    for (size_t i = 0; i < R->n; i++) ad_data(Rt)[i] = (ad_real)R->v[i];
    ad_tensor *loss = ad_sum(tp, ad_mul(tp, res.out, Rt));
    const char *state_names[2] = {"h_n", "c_n"}, *weight_names[2] = {"R2", "R3"};
    for (int k = 0; k < nstate; k++) {
        const fx_record *Rk = fx_get(fx, weight_names[k], (size_t)L * dirs * B * H);
        for (int l = 0; l < L; l++)
            for (int d = 0; d < dirs; d++) {
                ad_tensor *fin = res.final[l][d][k];
                REQUIRE(fin && ad_rows(fin) == B && ad_cols(fin) == H);
                ad_tensor *w = state_block(tp, Rk, l * dirs + d, B, H);
                loss = ad_add(tp, loss, ad_sum(tp, ad_mul(tp, fin, w)));
            }
    }
    ad_params_zero_grad(ps);
    ad_backward(tp, loss);

    /* Values: every output row (padding included), the final states, the loss. */
    const fx_record *out = fx_get(fx, "out", (size_t)T * B * W);
    double *got = to_double(ad_data(res.out), out->n);
    CHECK_ARRAY("out", got, out->v, out->n, tol.rtol, tol.atol);
    const double err_out = max_abs_diff(got, out->v, out->n);
    free(got);
    double err_state[2] = {0, 0};
    for (int k = 0; k < nstate; k++) {
        const fx_record *want = fx_get(fx, state_names[k], (size_t)L * dirs * B * H);
        double *fin = malloc(want->n * sizeof *fin);
        REQUIRE(fin);
        for (int l = 0; l < L; l++) /* PyTorch's h_n[l·2 + d] is our final[l][d] */
            for (int d = 0; d < dirs; d++)
                for (int i = 0; i < B * H; i++)
                    fin[(size_t)(l * dirs + d) * B * H + i] = ad_data(res.final[l][d][k])[i];
        CHECK_ARRAY(state_names[k], fin, want->v, want->n, tol.rtol, tol.atol);
        err_state[k] = max_abs_diff(fin, want->v, want->n);
        free(fin);
    }
    const double want_loss = fx_get(fx, "loss", 1)->v[0];
    CHECK_NEAR(ad_item(loss), want_loss, tol.rtol, tol.atol);

    /* Gradients in PyTorch's layout: a scratch runner of the same shape holds our gradients as
     * its values (same creation order, same layout), and nn_rnn_to_torch converts them. */
    ad_params *gs = ad_params_new();
    nn_rnn grad_rnn;
    nn_rnn_init(&grad_rnn, gs, "rnn", &cfg, &rng);
    REQUIRE(ad_params_size(gs) == ad_params_size(ps));
    memcpy(ad_params_values(gs), ad_params_grads(ps), ad_params_size(ps) * sizeof(ad_real));
    double err_family[4] = {0, 0, 0, 0};
    int grads = 0;
    for (int i = 0; i < fx->count; i++) {
        const fx_record *r = &fx->rec[i];
        if (strncmp(r->name, "grad.", 5) != 0) continue;
        const char *name = r->name + 5;
        ad_real *g = malloc(r->n * sizeof *g);
        REQUIRE(g);
        int rc = nn_rnn_to_torch(&grad_rnn, name, g, r->n);
        CHECK_MSG(rc == 0, "nn_rnn_to_torch(\"%s\") returned %d", name, rc);
        if (rc == 0) {
            double *gd = to_double(g, r->n);
            char what[96];
            snprintf(what, sizeof what, "d loss / d %s", name);
            CHECK_ARRAY(what, gd, r->v, r->n, tol.rtol, tol.atol);
            const int fam = family_of(name);
            REQUIRE(fam >= 0);
            err_family[fam] = fmax(err_family[fam], max_abs_diff(gd, r->v, r->n));
            free(gd);
        }
        free(g);
        grads++;
    }
    CHECK(grads == loaded);

    char c_err[32] = "";
    if (nstate == 2) snprintf(c_err, sizeof c_err, ", c_n %.2e", err_state[1]);
    th_note("%s: max abs error: out %.2e, h_n %.2e%s, loss %.2e", nn_cell_kind_name(kind),
            err_out, err_state[0], c_err, fabs(ad_item(loss) - want_loss));
    th_note("%s: max abs error of the gradients: weight_ih %.2e, weight_hh %.2e, bias_ih %.2e, "
            "bias_hh %.2e",
            nn_cell_kind_name(kind), err_family[0], err_family[1], err_family[2], err_family[3]);

    ad_params_free(gs);
    ad_tape_free(tp);
    ad_params_free(ps);
    fx_free(fx);
}

TEST(elman_tanh_matches_torch_rnn) { check_parity(NN_ELMAN, "torch_rnn_rnn.txt", vs_float32); }
TEST(gru_matches_torch_gru) { check_parity(NN_GRU, "torch_rnn_gru.txt", vs_float32); }
TEST(lstm_matches_torch_lstm) { check_parity(NN_LSTM, "torch_rnn_lstm.txt", vs_float32); }
TEST(elman_tanh_matches_torch_rnn_f64) {
    check_parity(NN_ELMAN, "torch_rnn_rnn_f64.txt", vs_float64);
}
TEST(gru_matches_torch_gru_f64) { check_parity(NN_GRU, "torch_rnn_gru_f64.txt", vs_float64); }
TEST(lstm_matches_torch_lstm_f64) { check_parity(NN_LSTM, "torch_rnn_lstm_f64.txt", vs_float64); }

/* ------------------------------------------------- layout conversion ---- */

/* from_torch then to_torch gives back the same numbers, and the runner holds the transpose:
 * weight_*[j][i] = W[i][j], biases as they are. */
static void check_round_trip(nn_cell_kind kind) {
    nn_rnn_config cfg = {.kind = kind, .input = 3, .hidden = 2, .layers = 2,
                         .bidirectional = true};
    ad_params *ps = ad_params_new();
    nn_rng rng = nn_rng_new(7);
    nn_rnn rnn;
    nn_rnn_init(&rnn, ps, "rnn", &cfg, &rng);
    const int G = nn_cell_gates(kind), H = cfg.hidden;
    const char *kinds[4] = {"weight_ih", "weight_hh", "bias_ih", "bias_hh"};
    int seed = 100;
    for (int l = 0; l < cfg.layers; l++)
        for (int d = 0; d < 2; d++)
            for (int k = 0; k < 4; k++) {
                char name[64];
                snprintf(name, sizeof name, "%s_l%d%s", kinds[k], l, d ? "_reverse" : "");
                const nn_cell *c = &rnn.cell[l][d];
                const int cols = k == 0 ? c->input : k == 1 ? H : 1;
                const size_t n = (size_t)G * H * cols;
                ad_real src[64], back[64];
                REQUIRE(n <= 64);
                th_fill_uniform(src, n, -1, 1, (uint64_t)seed++);
                CHECK_MSG(nn_rnn_from_torch(&rnn, name, src, n) == 0, "from_torch(%s)", name);
                ad_tensor *ours = k == 0 ? c->Wx : k == 1 ? c->Wh : k == 2 ? c->bx : c->bh;
                for (int j = 0; j < G * H; j++) /* PyTorch's row j is our column j */
                    for (int i = 0; i < cols; i++)
                        CHECK_MSG(ad_get(ours, i, j) == src[(size_t)j * cols + i],
                                  "%s[%d][%d] is not our (%d, %d)", name, j, i, i, j);
                memset(back, 0, sizeof back);
                CHECK_MSG(nn_rnn_to_torch(&rnn, name, back, n) == 0, "to_torch(%s)", name);
                CHECK_MSG(memcmp(src, back, n * sizeof *src) == 0, "%s does not round-trip",
                          name);
            }
    ad_params_free(ps);
}

TEST(torch_layout_round_trips_elman) { check_round_trip(NN_ELMAN); }
TEST(torch_layout_round_trips_gru) { check_round_trip(NN_GRU); }
TEST(torch_layout_round_trips_lstm) { check_round_trip(NN_LSTM); }

/* A name the runner does not have, or a size that does not fit, is refused and changes nothing. */
TEST(torch_layout_rejects_wrong_names_and_sizes) {
    nn_rnn_config cfg = {.kind = NN_LSTM, .input = 3, .hidden = 2, .layers = 2,
                         .bidirectional = false};
    ad_params *ps = ad_params_new();
    nn_rng rng = nn_rng_new(3);
    nn_rnn rnn;
    nn_rnn_init(&rnn, ps, "rnn", &cfg, &rng);
    const size_t total = ad_params_size(ps);
    double *before = to_double(ad_params_values(ps), total);
    ad_real buf[64];
    th_fill_uniform(buf, 64, -1, 1, 9);
    const size_t ih0 = 8 * 3; /* weight_ih_l0: 4·2 x 3 */

    CHECK(nn_rnn_from_torch(&rnn, "weight_ih_l0", buf, ih0 - 1) == -1);
    CHECK(nn_rnn_from_torch(&rnn, "weight_ih_l0", buf, ih0 + 1) == -1);
    CHECK(nn_rnn_from_torch(&rnn, "weight_hh_l0", buf, ih0) == -1); /* 8 x 2 */
    CHECK(nn_rnn_from_torch(&rnn, "bias_ih_l1", buf, 7) == -1);
    CHECK(nn_rnn_from_torch(&rnn, "weight_ih_l2", buf, 8 * 2) == -1);      /* no third layer */
    CHECK(nn_rnn_from_torch(&rnn, "weight_ih_l0_reverse", buf, ih0) == -1); /* one direction */
    CHECK(nn_rnn_from_torch(&rnn, "weight_ih_l0_rev", buf, ih0) == -1);
    CHECK(nn_rnn_from_torch(&rnn, "weight_hr_l0", buf, 4) == -1); /* LSTM projections: none */
    CHECK(nn_rnn_from_torch(&rnn, "weight_xx_l0", buf, ih0) == -1);
    CHECK(nn_rnn_from_torch(&rnn, "weights_ih_l0", buf, ih0) == -1);
    CHECK(nn_rnn_from_torch(&rnn, "weight_ih_l-1", buf, ih0) == -1);
    CHECK(nn_rnn_from_torch(&rnn, "weight_ih", buf, ih0) == -1);
    CHECK(nn_rnn_from_torch(&rnn, "", buf, ih0) == -1);
    CHECK(nn_rnn_from_torch(&rnn, "rnn.l0.Wx", buf, ih0) == -1); /* our name, not PyTorch's */
    CHECK(nn_rnn_to_torch(&rnn, "weight_ih_l0", buf, ih0 - 1) == -1);
    CHECK(nn_rnn_to_torch(&rnn, "bias_hh_l0_reverse", buf, 8) == -1);
    double *after = to_double(ad_params_values(ps), total);
    CHECK_ARRAY("parameters after refused loads", after, before, total, 0, 0);
    CHECK(nn_rnn_from_torch(&rnn, "weight_ih_l0", buf, ih0) == 0); /* the right call works */
    free(before);
    free(after);
    ad_params_free(ps);

    /* Cho's GRU (form B) has no PyTorch counterpart: every name is refused. */
    cfg.kind = NN_GRU_CHO;
    ps = ad_params_new();
    nn_rnn_init(&rnn, ps, "cho", &cfg, &rng);
    CHECK(nn_rnn_from_torch(&rnn, "weight_ih_l0", buf, 6 * 3) == -1);
    CHECK(nn_rnn_to_torch(&rnn, "bias_ih_l0", buf, 6) == -1);
    ad_params_free(ps);
}
