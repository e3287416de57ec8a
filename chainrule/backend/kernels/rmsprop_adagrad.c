/* Adagrad's and RMSprop's updates in one pass each (chainrule/backend/optim_math.py; their
 * NumPy twins there, adagrad_update_twin and rmsprop_update_twin).
 *
 * Adagrad:   S <- S + g²;   w <- w - (g / (√S + eps)) · clr
 * RMSprop:   S <- α S + (1 - α) g²
 *            centered:  ḡ <- ḡ + (1 - α)(g - ḡ),  D = √(S - ḡ²) + eps;   else D = √S + eps
 *            momentum:  b <- μ b + g / D,  w <- w - b · lr;              else w <- w - (g / D) · lr
 *
 * Each line is the twin's NumPy operations in the twin's order, in the arrays' precision, and
 * the file is compiled in ISO C without -ffast-math (no fused multiply-add), so the results are
 * the twin's bits.  All arrays contiguous, n elements; ga (ḡ) and b may be NULL (not centered,
 * no momentum).  Each function exists for float (_f32) and double (_f64).
 */
#include <math.h>
#include <stddef.h>

#define ADAGRAD_UPDATE(SUFFIX, T, SQRT)                                                      \
void adagrad_update_##SUFFIX(ptrdiff_t n, T *w, const T *g, T *s, T clr, T eps) {           \
    for (ptrdiff_t i = 0; i < n; i++) {                                                     \
        T gi = g[i];                                                                        \
        T q = gi * gi;                                                                      \
        T si = s[i] + q;                                                                    \
        s[i] = si;                                                                          \
        T d = SQRT(si);                                                                     \
        d = d + eps;                                                                        \
        d = gi / d;                                                                         \
        d = d * clr;                                                                        \
        w[i] = w[i] - d;                                                                    \
    }                                                                                       \
}

ADAGRAD_UPDATE(f32, float, sqrtf)
ADAGRAD_UPDATE(f64, double, sqrt)

/* One RMSprop loop per (centered, momentum) pair, so that each is a straight loop the compiler
 * can vectorise: CENTER and MOMENTUM are 0 or 1 constants. */
#define RMSPROP_LOOP(T, SQRT, CENTER, MOMENTUM)                                              \
    for (ptrdiff_t i = 0; i < n; i++) {                                                     \
        T gi = g[i];                                                                        \
        T si = s[i] * alpha;                                                                \
        T q = gi * gi;                                                                      \
        q = q * one_alpha;                                                                  \
        si = si + q;                                                                        \
        s[i] = si;                                                                          \
        T d;                                                                                \
        if (CENTER) {                                                                       \
            T a = ga[i];                                                                    \
            T e = gi - a;                                                                   \
            e = e * one_alpha;                                                              \
            a = a + e;                                                                      \
            ga[i] = a;                                                                      \
            e = a * a;                                                                      \
            d = si - e;                                                                     \
            d = SQRT(d);                                                                    \
        } else {                                                                            \
            d = SQRT(si);                                                                   \
        }                                                                                   \
        d = d + eps;                                                                        \
        d = gi / d;                                                                         \
        if (MOMENTUM) {                                                                     \
            T bi = b[i] * mu;                                                               \
            bi = bi + d;                                                                    \
            b[i] = bi;                                                                      \
            d = bi * lr;                                                                    \
        } else {                                                                            \
            d = d * lr;                                                                     \
        }                                                                                   \
        w[i] = w[i] - d;                                                                    \
    }

#define RMSPROP_UPDATE(SUFFIX, T, SQRT)                                                      \
void rmsprop_update_##SUFFIX(ptrdiff_t n, T *w, const T *g, T *s, T *ga, T *b,             \
                             T lr, T alpha, T one_alpha, T eps, T mu) {                     \
    if (ga && b) {                                                                          \
        RMSPROP_LOOP(T, SQRT, 1, 1)                                                         \
    } else if (ga) {                                                                        \
        RMSPROP_LOOP(T, SQRT, 1, 0)                                                         \
    } else if (b) {                                                                         \
        RMSPROP_LOOP(T, SQRT, 0, 1)                                                         \
    } else {                                                                                \
        RMSPROP_LOOP(T, SQRT, 0, 0)                                                         \
    }                                                                                       \
}

RMSPROP_UPDATE(f32, float, sqrtf)
RMSPROP_UPDATE(f64, double, sqrt)
