/* Adam's moment update in one pass (chainrule/backend/optim_math.py; its NumPy twin there).
 *
 *   M <- b1 M + (1 - b1) g
 *   S <- b2 S + (1 - b2) g²          (AMSGrad: Smax <- max(Smax, S), and S below is Smax)
 *   t <- (M / (√S + eps_c)) · step_size
 *
 * Each line is the twin's NumPy operations in the twin's order, in the arrays' precision, and
 * the file is compiled in ISO C without -ffast-math (no fused multiply-add), so the results are
 * the twin's bits.  All arrays contiguous, n elements; smax may be NULL.
 * Each function exists for float (_f32) and double (_f64).
 */
#include <math.h>
#include <stddef.h>

#define ADAM_MOMENTS(SUFFIX, T, SQRT)                                                        \
void adam_moments_##SUFFIX(ptrdiff_t n, const T *g, T *m, T *s, T *smax, T *t,             \
                           T b1, T one_b1, T b2, T one_b2, T step_size, T eps_c) {          \
    for (ptrdiff_t i = 0; i < n; i++) {                                                     \
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
        if (smax) {                                                                         \
            T x = smax[i];                                                                  \
            si = (x > si || x != x) ? x : si;                                               \
            smax[i] = si;                                                                   \
        }                                                                                   \
        T d = SQRT(si);                                                                     \
        d = d + eps_c;                                                                      \
        d = mi / d;                                                                         \
        t[i] = d * step_size;                                                               \
    }                                                                                       \
}

ADAM_MOMENTS(f32, float, sqrtf)
ADAM_MOMENTS(f64, double, sqrt)

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
