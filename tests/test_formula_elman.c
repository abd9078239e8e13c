/*
 * FORMULAS §4, the Elman RNN and backpropagation through time. The lecture writes column vectors,
 *     a(t) = b + W h(t−1) + U x(t),  h(t) = tanh(a(t)),  o(t) = c + V h(t),
 *     L = Σ_t CE(y(t), ŷ(t));
 * the tape works in row form (a batch of B independent sequences, one per row):
 *     a(t) = h(t−1) W + x(t) U + b,  h(t) = tanh(a(t)),  o(t) = h(t) V + c,
 * so the row-form W, U, V are the transposes of the lecture's and every transpose in the BPTT
 * formulas moves to the other side:
 *     ∇o(t) = ŷ(t) − y(t)                                 (per row)
 *     ∇h(τ) = ∇o(τ) Vᵀ,   ∇h(t) = (∇h(t+1) ∘ (1 − h(t+1)²)) Wᵀ + ∇o(t) Vᵀ   for t < τ
 *     ∇c = Σ_t Σ_rows ∇o(t),  ∇V = Σ_t h(t)ᵀ ∇o(t)
 *     ∇a(t) = ∇h(t) ∘ (1 − h(t)²),  ∇b = Σ_t Σ_rows ∇a(t),
 *     ∇W = Σ_t h(t−1)ᵀ ∇a(t),  ∇U = Σ_t x(t)ᵀ ∇a(t).
 * L sums over the time steps AND over the batch rows: ad_softmax_xent returns the mean over the B
 * rows, so each step's loss is scaled by B. h(0) is a fixed nonzero input (no gradient), so the
 * W term of the first step is exercised too.
 *
 * The tape's gradients are compared with the hand-written BPTT of ref_elman.c (plain loops,
 * double; shared with test_nn_elman_bptt) and with the forward-mode RTRL recursion of §4, all to
 * 1e-9 relative.
 */
#include "harness.h"
#include "ref_elman.h"

enum { B = 3, T = 7, D = 4, H = 5, K = 6 }; /* batch, steps τ, input, hidden, output sizes */

typedef struct {
    ad_params *ps;
    ad_tensor *U, *W, *b, *V, *c;
    double x[T][B][D], h0[B][H];
    int y[T][B];
} elman;

static void elman_init(elman *m) {
    m->ps = ad_params_new();
    m->U = th_param(m->ps, "U", D, H, -0.6, 0.6, 1);
    m->W = th_param(m->ps, "W", H, H, -0.6, 0.6, 2);
    m->b = th_param(m->ps, "b", 1, H, -0.3, 0.3, 3);
    m->V = th_param(m->ps, "V", H, K, -0.8, 0.8, 4);
    m->c = th_param(m->ps, "c", 1, K, -0.3, 0.3, 5);
    th_fill_uniform(&m->x[0][0][0], T * B * D, -1, 1, 6);
    th_fill_uniform(&m->h0[0][0], B * H, -0.5, 0.5, 7);
    for (int t = 0; t < T; t++)
        for (int r = 0; r < B; r++) m->y[t][r] = (3 * t + 5 * r + 1) % K;
}

/* The nodes whose gradients the test reads, one per time step (index t = 0..τ−1 is step t+1). */
typedef struct {
    ad_tensor *h[T], *o[T], *L;
} elman_nodes;

static elman_nodes elman_forward(ad_tape *tp, const elman *m) {
    elman_nodes n = {.L = NULL};
    ad_tensor *h = ad_input(tp, B, H, &m->h0[0][0]);
    for (int t = 0; t < T; t++) {
        ad_tensor *x = ad_input(tp, B, D, &m->x[t][0][0]);
        ad_tensor *a = ad_add(tp, ad_add(tp, ad_matmul(tp, h, m->W), ad_matmul(tp, x, m->U)), m->b);
        h = n.h[t] = ad_tanh(tp, a);
        n.o[t] = ad_add(tp, ad_matmul(tp, h, m->V), m->c);
        ad_tensor *Lt = ad_scale(tp, ad_softmax_xent(tp, n.o[t], m->y[t], NULL), B); /* Σ rows */
        n.L = n.L ? ad_add(tp, n.L, Lt) : Lt;
    }
    return n;
}

/* The hand-written BPTT of ref_elman.c on the same weights and data, every sequence of length τ. */
static ref_elman *elman_reference(const elman *m) {
    const ref_elman_in in = {.T = T, .B = B, .D = D, .H = H, .K = K,
                             .U = ad_data(m->U), .W = ad_data(m->W), .b = ad_data(m->b),
                             .V = ad_data(m->V), .c = ad_data(m->c),
                             .x = &m->x[0][0][0], .y = &m->y[0][0], .len = NULL,
                             .h0 = &m->h0[0][0]};
    return ref_elman_new(&in);
}

/* Build the model, run the tape forward and backward on tp, and the reference on the same data. */
static ref_elman *elman_run(elman *m, ad_tape *tp, elman_nodes *n) {
    elman_init(m);
    *n = elman_forward(tp, m);
    ad_params_zero_grad(m->ps);
    ad_backward(tp, n->L);
    return elman_reference(m);
}

TEST(elman_bptt_matches_hand_derivation) {
    elman m;
    elman_nodes n;
    ad_tape *tp = ad_tape_new();
    ref_elman *r = elman_run(&m, tp, &n);

    CHECK_NEAR(ad_item(n.L), r->L, 1e-12, 0);
    double worst_o = 0, worst_h = 0;
    char what[32];
    for (int t = 0; t < T; t++) {
        REQUIRE(ad_grad(n.o[t]) && ad_grad(n.h[t]));
        snprintf(what, sizeof what, "∇o(%d)", t + 1);
        worst_o = fmax(worst_o, CHECK_ARRAY(what, ad_grad(n.o[t]), r->go + t * B * K, B * K,
                                            1e-9, 1e-12));
        /* t = τ is the base case ∇h(τ) = ∇o(τ) Vᵀ; the others run the recursion. */
        snprintf(what, sizeof what, "∇h(%d)", t + 1);
        worst_h = fmax(worst_h, CHECK_ARRAY(what, ad_grad(n.h[t]), r->gh + t * B * H, B * H,
                                            1e-9, 1e-12));
    }
    th_note("∇o(t), t = 1..%d: max rel err %.2e", T, worst_o);
    th_note("∇h(t), t = 1..%d (base case and recursion): max rel err %.2e", T, worst_h);
    const struct {
        const char *name;
        ad_tensor *p;
        const double *want;
        int n;
    } grads[] = {{"∇c", m.c, r->gc, K}, {"∇V", m.V, r->gV, H * K}, {"∇b", m.b, r->gb, H},
                 {"∇W", m.W, r->gW, H * H}, {"∇U", m.U, r->gU, D * H}};
    for (size_t i = 0; i < sizeof grads / sizeof grads[0]; i++) {
        double err = CHECK_ARRAY(grads[i].name, ad_grad(grads[i].p), grads[i].want,
                                 (size_t)grads[i].n, 1e-9, 1e-12);
        th_note("%s max rel err %.2e", grads[i].name, err);
    }
    ref_elman_free(r);
    ad_tape_free(tp);
    ad_params_free(m.ps);
}

/*
 * Real-time recurrent learning: carry the Jacobian J_t = dh(t)/dW forward instead of the gradient
 * backward. In row form, with a(t)_k = Σ_p h(t−1)_p W_pk + …,
 *     ∂h(t)_k/∂W_pq = (1 − h(t)_k²) ( [k = q] h(t−1)_p + Σ_j W_jk ∂h(t−1)_j/∂W_pq ),  J_0 = 0,
 * the direct term and the W term of §4's recursion. (§4's ∂h_{m,k}/∂θ_{k,k'} is the entry
 * q = k, p = k' of it: θ_k·∂h_{m−1}/∂θ_{k,k'} is the sum over j. Its recursion needs the whole
 * vector ∂h_{m−1}/∂θ_{k,k'}, hence the full Jacobian here.) Then
 *     ∇W = Σ_t Σ_rows Σ_k (∇o(t) Vᵀ)_k ∂h(t)_k/∂W,
 * each step's loss reaching h(t) only through o(t) once the recurrence is carried forward.
 */
TEST(elman_rtrl_forward_mode_matches_reverse_mode) {
    elman m;
    elman_nodes n;
    ad_tape *tp = ad_tape_new();
    ref_elman *r = elman_run(&m, tp, &n);
    /* The reference's h(t) and ∇o(t), which are not the recursion under test, indexed [t][s][·]. */
    const double(*hs)[B][H] = (const double(*)[B][H])r->hs;
    const double(*go)[B][K] = (const double(*)[B][K])r->go;

    const double *W = ad_data(m.W), *V = ad_data(m.V);
    static double jac[2][B][H][H][H]; /* [parity][row][k][p][q] = ∂h_k/∂W_pq */
    double gW[H][H] = {{0}};
    memset(jac, 0, sizeof jac);
    for (int t = 0; t < T; t++) {
        double(*prev)[H][H][H] = jac[t % 2], (*cur)[H][H][H] = jac[(t + 1) % 2];
        for (int s = 0; s < B; s++)
            for (int k = 0; k < H; k++) {
                const double g1 = 1 - hs[t + 1][s][k] * hs[t + 1][s][k];
                double dl = 0; /* (∇o(t) Vᵀ)_k: the step's own loss reaching h(t)_k */
                for (int q = 0; q < K; q++) dl += go[t][s][q] * V[k * K + q];
                for (int p = 0; p < H; p++)
                    for (int q = 0; q < H; q++) {
                        double da = q == k ? hs[t][s][p] : 0;
                        for (int j = 0; j < H; j++) da += W[j * H + k] * prev[s][j][p][q];
                        cur[s][k][p][q] = g1 * da;
                        gW[p][q] += dl * cur[s][k][p][q];
                    }
            }
    }
    double err = CHECK_ARRAY("∇W (RTRL vs tape)", ad_grad(m.W), &gW[0][0], H * H, 1e-9, 1e-12);
    th_note("∇W forward-mode RTRL vs tape reverse mode: max rel err %.2e", err);
    err = CHECK_ARRAY("∇W (RTRL vs BPTT)", &gW[0][0], r->gW, H * H, 1e-9, 1e-12);
    th_note("∇W forward-mode RTRL vs hand-written BPTT: max rel err %.2e", err);
    ref_elman_free(r);
    ad_tape_free(tp);
    ad_params_free(m.ps);
}
