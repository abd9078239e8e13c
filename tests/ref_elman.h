/*
 * ref_elman.h — the hand-written reference of FORMULAS §4 for the tests: an Elman RNN's forward
 * pass and its backpropagation through time, in plain loops and double precision, independent of
 * the tape. Shared by test_formula_elman (the tape built from primitives) and test_nn_elman_bptt
 * (nn's Elman cell).
 *
 * Row form (a batch of B independent sequences, one per row; W, U, V are the transposes of the
 * lecture's, so every transpose in the BPTT formulas moves to the other side):
 *     a(t) = h(t−1) W + x(t) U + b,  h(t) = tanh(a(t)),  o(t) = h(t) V + c,
 *     L = Σ_t Σ_rows −log softmax(o(t))_{y(t)}                   (a sum, not a mean)
 *     ∇o(t) = ŷ(t) − y(t)
 *     ∇h(τ) = ∇o(τ) Vᵀ,   ∇h(t) = ∇a(t+1) Wᵀ + ∇o(t) Vᵀ   for t < τ
 *     ∇a(t) = ∇h(t) ∘ (1 − h(t)²),  ∇x(t) = ∇a(t) Uᵀ
 *     ∇c = Σ ∇o(t),  ∇V = Σ h(t)ᵀ ∇o(t),  ∇b = Σ ∇a(t),  ∇W = Σ h(t−1)ᵀ ∇a(t),  ∇U = Σ x(t)ᵀ ∇a(t)
 * the sums over the steps and the rows. With lengths, τ is each row's own length: its BPTT starts
 * at its own last step and its padded steps add nothing.
 *
 * Arrays are flat, row-major, time-major: row s of step t (t = 0 is step 1) starts at
 * (t·B + s)·width. Only the double build uses this (ad_real = double there).
 */
#ifndef SEQGRAD_TEST_REF_ELMAN_H
#define SEQGRAD_TEST_REF_ELMAN_H

/* What the reference runs on. All pointers are read only and stay the caller's. */
typedef struct {
    int T, B, D, H, K;       /* steps τ, batch rows, input, hidden, output sizes */
    const double *U, *W, *b; /* D x H, H x H, H */
    const double *V, *c;     /* H x K, K */
    const double *x;         /* T·B x D: x(t+1) of row s at x[(t·B + s)·D] */
    const int *y;            /* T·B targets in 0..K−1: y(t+1) of row s at y[t·B + s] */
    const int *len;          /* B lengths in 1..T, or NULL for all T */
    const double *h0;        /* B x H: h(0), a constant (its gradient is not computed) */
} ref_elman_in;

/*
 * Everything the reference computes, in the lecture's names. Per-step arrays are time-major with
 * index t = 0..T−1 for step t+1, except hs, which holds h(0) first: hs + t·B·H is h(t), t = 0..T.
 * Entries of padded steps (t ≥ len[s]) stay 0.
 */
typedef struct {
    double L;             /* Σ_t Σ_rows CE */
    double *hs;           /* (T+1)·B x H */
    double *go, *gh, *ga; /* T·B x K, T·B x H, T·B x H: ∇o(t), ∇h(t), ∇a(t) */
    double *gx;           /* T·B x D: ∇x(t) */
    double *gU, *gW, *gb; /* D x H, H x H, H */
    double *gV, *gc;      /* H x K, K */
    double mem[];         /* the storage of all the arrays above */
} ref_elman;

/* Run the forward pass and BPTT. Returns one allocation, freed by ref_elman_free; aborts with a
 * message if memory runs out or the sizes are not positive. */
ref_elman *ref_elman_new(const ref_elman_in *in);
/* Free a result; NULL is a no-op. */
void ref_elman_free(ref_elman *r);

#endif
