/*
 * ref_elman.c — FORMULAS §4 by hand: the Elman forward pass and BPTT in plain loops (see
 * ref_elman.h for the equations in row form). Deliberately naive and independent of the tape.
 */
#include "ref_elman.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static _Noreturn void ref_fail(int line, const char *what) {
    fprintf(stderr, "%s:%d: ref_elman_new: %s\n", __FILE__, line, what);
    abort();
}

static int ref_len(const ref_elman_in *in, int s) { return in->len ? in->len[s] : in->T; }

ref_elman *ref_elman_new(const ref_elman_in *in) {
    const int T = in->T, B = in->B, D = in->D, H = in->H, K = in->K;
    if (T < 1 || B < 1 || D < 1 || H < 1 || K < 1) ref_fail(__LINE__, "sizes must be positive");
    for (int s = 0; s < B; s++)
        if (ref_len(in, s) < 1 || ref_len(in, s) > T)
            ref_fail(__LINE__, "a length is outside 1..T");
    const size_t n_hs = (size_t)(T + 1) * B * H, n_go = (size_t)T * B * K;
    const size_t n_gh = (size_t)T * B * H, n_gx = (size_t)T * B * D;
    const size_t n = n_hs + n_go + 2 * n_gh + n_gx + (size_t)D * H + (size_t)H * H + H +
                     (size_t)H * K + K;
    ref_elman *r = calloc(1, sizeof *r + n * sizeof(double)); /* every sum starts at 0 */
    if (!r) ref_fail(__LINE__, "out of memory");
    r->hs = r->mem;
    r->go = r->hs + n_hs;
    r->gh = r->go + n_go;
    r->ga = r->gh + n_gh;
    r->gx = r->ga + n_gh;
    r->gU = r->gx + n_gx;
    r->gW = r->gU + D * H;
    r->gb = r->gW + H * H;
    r->gV = r->gb + H;
    r->gc = r->gV + H * K;

    const double *U = in->U, *W = in->W, *b = in->b, *V = in->V, *c = in->c;
    /* Row s at time index t of a time-major array of the given width (in hs, t = 0 is h(0)). */
#define AT(p, t, s, width) ((p) + ((size_t)(t) * B + (s)) * (width))
    for (int k = 0; k < B * H; k++) r->hs[k] = in->h0[k];
    for (int t = 0; t < T; t++)
        for (int s = 0; s < B; s++) {
            if (t >= ref_len(in, s)) continue;
            const double *x = AT(in->x, t, s, D), *hp = AT(r->hs, t, s, H);
            double *h = AT(r->hs, t + 1, s, H), *go = AT(r->go, t, s, K);
            for (int k = 0; k < H; k++) { /* a = h(t−1) W + x(t) U + b;  h = tanh a */
                double a = b[k];
                for (int j = 0; j < H; j++) a += hp[j] * W[j * H + k];
                for (int d = 0; d < D; d++) a += x[d] * U[d * H + k];
                h[k] = tanh(a);
            }
            const int y = in->y[t * B + s];
            double mx = -INFINITY, z = 0;
            for (int q = 0; q < K; q++) { /* o = h V + c, kept in go until ∇o replaces it */
                go[q] = c[q];
                for (int k = 0; k < H; k++) go[q] += h[k] * V[k * K + q];
                mx = fmax(mx, go[q]);
            }
            for (int q = 0; q < K; q++) z += exp(go[q] - mx);
            r->L += log(z) + mx - go[y];
            for (int q = 0; q < K; q++) /* ∇o(t) = ŷ(t) − y(t) */
                go[q] = exp(go[q] - mx) / z - (q == y);
        }
    for (int t = T - 1; t >= 0; t--)
        for (int s = 0; s < B; s++) {
            if (t >= ref_len(in, s)) continue;
            const double *go = AT(r->go, t, s, K), *h = AT(r->hs, t + 1, s, H);
            /* ∇a(t+1) below the row's last step; at τ the base case has no W term */
            const double *ga_next = t + 1 < ref_len(in, s) ? AT(r->ga, t + 1, s, H) : NULL;
            double *gh = AT(r->gh, t, s, H), *ga = AT(r->ga, t, s, H);
            for (int k = 0; k < H; k++) {
                double g = 0;
                for (int q = 0; q < K; q++) g += go[q] * V[k * K + q]; /* ∇o(t) Vᵀ */
                if (ga_next) /* + ∇a(t+1) Wᵀ */
                    for (int j = 0; j < H; j++) g += ga_next[j] * W[k * H + j];
                gh[k] = g;
                ga[k] = g * (1 - h[k] * h[k]);
            }
        }
    for (int t = 0; t < T; t++)
        for (int s = 0; s < B; s++) {
            if (t >= ref_len(in, s)) continue;
            const double *x = AT(in->x, t, s, D), *hp = AT(r->hs, t, s, H);
            const double *h = AT(r->hs, t + 1, s, H), *go = AT(r->go, t, s, K);
            const double *ga = AT(r->ga, t, s, H);
            double *gx = AT(r->gx, t, s, D);
            for (int q = 0; q < K; q++) {
                r->gc[q] += go[q];
                for (int k = 0; k < H; k++) r->gV[k * K + q] += h[k] * go[q];
            }
            for (int k = 0; k < H; k++) {
                r->gb[k] += ga[k];
                for (int j = 0; j < H; j++) r->gW[j * H + k] += hp[j] * ga[k];
                for (int d = 0; d < D; d++) r->gU[d * H + k] += x[d] * ga[k];
            }
            for (int d = 0; d < D; d++) /* ∇x(t) = ∇a(t) Uᵀ */
                for (int k = 0; k < H; k++) gx[d] += ga[k] * U[d * H + k];
        }
#undef AT
    return r;
}

void ref_elman_free(ref_elman *r) { free(r); }
