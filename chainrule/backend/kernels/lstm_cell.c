/* The elementwise part of one LSTM time step, fused into one pass over memory.
 *
 * Used by chainrule/nn/functional/_rnn_kernel.py (LSTMSequence), which does the
 * matrix products in NumPy and calls these two functions once per time step.
 * Every array is one contiguous block of n = H*N numbers per gate (the kernel's
 * feature-major layout), the gate blocks in PyTorch's order i, f, g, o; z holds the
 * step's input projections W_ih x_t + b, rec the recurrent part W_hh h_{t-1}:
 *
 *   forward:   a = z + rec  (per gate)
 *              i, f, o = 1 / (1 + e^-a)  (sigma),  g = tanh(a)   (written over z)
 *              c = f * c_prev + i * g,   tc = tanh(c),  h = o * tc
 *   backward:  dh = dh_out + dh_rec
 *              dc = dc_next + dh * o * (1 - tc^2)
 *              d_i = dc * g * i(1-i),  d_f = dc * c_prev * f(1-f)
 *              d_o = dh * tc * o(1-o), d_g = dc * i * (1 - g^2)
 *              dc_next <- dc * f
 *
 * The loops have no dependencies between iterations, so the compiler vectorises
 * them (with glibc's vector expf/tanhf where -ffast-math declares them).
 * Each function exists for float (suffix _f32) and double (_f64).
 */
#include <math.h>
#include <stddef.h>

#define CLAMP(x, m) ((x) < (m) ? (x) : (m))

#define DEFINE_LSTM_STEP(REAL, SUFFIX, EXP, TANH, ZMAX)                                   \
void lstm_forward_step_##SUFFIX(ptrdiff_t n, REAL *restrict z, const REAL *restrict rec, \
                                const REAL *restrict c_prev, REAL *restrict c,            \
                                REAL *restrict tc, REAL *restrict h)                      \
{                                                                                         \
    REAL *zi = z, *zf = z + n, *zg = z + 2 * n, *zo = z + 3 * n;                          \
    const REAL *ri = rec, *rf = rec + n, *rg = rec + 2 * n, *ro = rec + 3 * n;            \
    for (ptrdiff_t j = 0; j < n; j++) {                                                   \
        /* -a clamped: e^-a stays finite (sigma is then 0 to working precision anyway) */ \
        REAL ni = CLAMP(-(zi[j] + ri[j]), ZMAX), nf = CLAMP(-(zf[j] + rf[j]), ZMAX);      \
        REAL no = CLAMP(-(zo[j] + ro[j]), ZMAX);                                          \
        REAL i = 1 / (1 + EXP(ni)), f = 1 / (1 + EXP(nf)), o = 1 / (1 + EXP(no));         \
        REAL g = TANH(zg[j] + rg[j]);                                                     \
        REAL cj = f * c_prev[j] + i * g;                                                  \
        REAL t = TANH(cj);                                                                \
        zi[j] = i; zf[j] = f; zo[j] = o; zg[j] = g;                                       \
        c[j] = cj; tc[j] = t; h[j] = o * t;                                               \
    }                                                                                     \
}                                                                                         \
                                                                                          \
void lstm_backward_step_##SUFFIX(ptrdiff_t n, REAL *restrict d, const REAL *restrict z,  \
                                 const REAL *restrict tc, const REAL *restrict c_prev,    \
                                 const REAL *restrict dh_out, const REAL *restrict dh_rec,\
                                 REAL *restrict dc_next)                                  \
{                                                                                         \
    const REAL *zi = z, *zf = z + n, *zg = z + 2 * n, *zo = z + 3 * n;                    \
    REAL *di = d, *df = d + n, *dg = d + 2 * n, *dout = d + 3 * n;                        \
    for (ptrdiff_t j = 0; j < n; j++) {                                                   \
        REAL i = zi[j], f = zf[j], o = zo[j], g = zg[j], t = tc[j];                       \
        REAL dh = dh_out[j] + dh_rec[j];                                                  \
        REAL dc = dc_next[j] + dh * o * (1 - t * t);                                      \
        di[j] = dc * g * (i - i * i);                                                     \
        df[j] = dc * c_prev[j] * (f - f * f);                                             \
        dout[j] = dh * t * (o - o * o);                                                   \
        dg[j] = dc * i * (1 - g * g);                                                     \
        dc_next[j] = dc * f;                                                              \
    }                                                                                     \
}

DEFINE_LSTM_STEP(float, f32, expf, tanhf, 80.0f)
DEFINE_LSTM_STEP(double, f64, exp, tanh, 700.0)
