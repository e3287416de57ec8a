/* Adam's moment update in one pass (chainrule/backend/optim_math.py; its NumPy twin there).
 *
 *   M <- b1 M + (1 - b1) g
 *   S <- b2 S + (1 - b2) g²          (AMSGrad: Smax <- max(Smax, S), and S below is Smax)
 *   t <- (M / (√S + eps_c)) · step_size
 *
 * adam_segments also subtracts t from each parameter (its twin: the moments', then NumPy's
 * subtraction per parameter).
 * Each line is the twin's NumPy operations in the twin's order, in the arrays' precision, and
 * the file is compiled in ISO C without -ffast-math (no fused multiply-add), so the results are
 * the twin's bits.  All arrays contiguous, n elements; smax may be NULL.
 * Each function exists for float (_f32) and double (_f64).
 */
#include <math.h>
#include <stddef.h>

/* One element: M, S (and Smax) updated in place, the step t returned.  Pure arithmetic on its
 * arguments (no pointers), so that the loops below vectorise; the order of the operations is
 * the twin's, and vector sqrt and division are IEEE's, so vectors give the same bits. */
#define ADAM_ELEMENT(SUFFIX, T, SQRT)                                                        \
static inline T adam_step_##SUFFIX(T mi, T si, T step_size, T eps_c) {                      \
    T d = SQRT(si);                                                                         \
    d = d + eps_c;                                                                          \
    d = mi / d;                                                                             \
    return d * step_size;                                                                   \
}

/* The loop body, with or without AMSGrad's maximum: m[i], s[i] (smax[i]) updated, t the step. */
#define ADAM_BODY(SUFFIX, T, WITH_MAX)                                                          \
        T gi = g[i];                                                                        \
        T mi = m[i] * b1;                                                                   \
        T a = gi * one_b1;                                                                  \
        mi = mi + a;                                                                        \
        m[i] = mi;                                                                          \
        T si = s[i] * b2;                                                                   \
        T q = gi * gi;                                                                      \
        q = q * one_b2;                                                                     \
        si = si + q;                                                                        \
        s[i] = si;                                                                          \
        if (WITH_MAX) {                                                                     \
            T x = smax[i];                                                                  \
            si = (x > si || x != x) ? x : si;                                               \
            smax[i] = si;                                                                   \
        }                                                                                   \
        T t = adam_step_##SUFFIX(mi, si, step_size, eps_c);

#define ADAM_MOMENTS(SUFFIX, T)                                                              \
void adam_moments_##SUFFIX(ptrdiff_t n, const T *restrict g, T *restrict m, T *restrict s,  \
                           T *restrict smax, T *restrict out,                               \
                           T b1, T one_b1, T b2, T one_b2, T step_size, T eps_c) {          \
    if (smax) {                                                                             \
        _Pragma("omp simd")                                                                 \
        for (ptrdiff_t i = 0; i < n; i++) { ADAM_BODY(SUFFIX, T, 1) out[i] = t; }              \
    } else {                                                                                \
        _Pragma("omp simd")                                                                 \
        for (ptrdiff_t i = 0; i < n; i++) { ADAM_BODY(SUFFIX, T, 0) out[i] = t; }              \
    }                                                                                       \
}

/* Adam's whole step for parameters whose moments and gradients lie in flat buffers: segment
 * k of the flat arrays (len[k] elements, in order) belongs to parameter w[k], which takes
 * w <- w - t in place; the twin's subtraction of t, in its precision, so the same bits. */
#define ADAM_SEGMENTS(SUFFIX, T)                                                             \
void adam_segments_##SUFFIX(ptrdiff_t nseg, const ptrdiff_t *len, T *const *w,             \
                            const T *restrict g0, T *restrict m0, T *restrict s0,           \
                            T *restrict smax0, T b1, T one_b1, T b2, T one_b2,              \
                            T step_size, T eps_c) {                                         \
    ptrdiff_t off = 0;                                                                      \
    for (ptrdiff_t k = 0; k < nseg; k++) {                                                  \
        T *restrict wk = w[k];                                                              \
        const T *restrict g = g0 + off;                                                     \
        T *restrict m = m0 + off;                                                           \
        T *restrict s = s0 + off;                                                           \
        ptrdiff_t n = len[k];                                                               \
        if (smax0) {                                                                        \
            T *restrict smax = smax0 + off;                                                 \
            _Pragma("omp simd")                                                             \
            for (ptrdiff_t i = 0; i < n; i++) { ADAM_BODY(SUFFIX, T, 1) wk[i] = wk[i] - t; }   \
        } else {                                                                            \
            T *smax = NULL;                                                                 \
            (void)smax;                                                                     \
            _Pragma("omp simd")                                                             \
            for (ptrdiff_t i = 0; i < n; i++) { ADAM_BODY(SUFFIX, T, 0) wk[i] = wk[i] - t; }   \
        }                                                                                   \
        off += n;                                                                           \
    }                                                                                       \
}

ADAM_ELEMENT(f32, float, sqrtf)
ADAM_ELEMENT(f64, double, sqrt)
ADAM_MOMENTS(f32, float)
ADAM_SEGMENTS(f32, float)
ADAM_MOMENTS(f64, double)
ADAM_SEGMENTS(f64, double)

/* SGD with momentum (dampening 0), one pass; its NumPy twin is optim_math.sgd_momentum_twin:
 *
 *   v <- mu v + g;   d = v (Nesterov: mu v + g);   w <- w - lr d
 */
#define SGD_MOMENTUM(SUFFIX, T)                                                               \
void sgd_momentum_##SUFFIX(ptrdiff_t n, T *w, const T *g, T *v, T mu, T lr, int nesterov) { \
    for (ptrdiff_t i = 0; i < n; i++) {                                                     \
        T vi = v[i] * mu;                                                                   \
        vi = vi + g[i];                                                                     \
        v[i] = vi;                                                                          \
        T d;                                                                                \
        if (nesterov) {                                                                     \
            d = vi * mu;                                                                    \
            d = d + g[i];                                                                   \
            d = d * lr;                                                                     \
        } else {                                                                            \
            d = vi * lr;                                                                    \
        }                                                                                   \
        w[i] = w[i] - d;                                                                    \
    }                                                                                       \
}

SGD_MOMENTUM(f32, float)
SGD_MOMENTUM(f64, double)
