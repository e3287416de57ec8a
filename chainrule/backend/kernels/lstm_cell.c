/* The elementwise part of one LSTM time step, fused into one pass over memory.
 *
 * Used by chainrule/backend/recurrent_math.py (the table entries lstm_forward and
 * lstm_backward), which does the matrix products through the table's matmul and calls these
 * two functions once per time step.
 * Layouts (row-major, batch-major): the states and their adjoints are (N, H), contiguous;
 * the gate pre-activations / activations of a step are (N, 4H), contiguous, and its gate
 * adjoints (N, 4H) rows ldd apart; the gate blocks in PyTorch's order i, f, g, o.
 *
 *   forward:   a = z + rec                  (z: W_ih x_t + b,  rec: h_{t-1} W_hh^T)
 *              (z is read from the step's own rows of the gate array, or, when the
 *              layer's input rows repeat, from row rows[n] of a table of the distinct
 *              rows' projections; either way the activations go to the gate array)
 *              i, f, o = 1 / (1 + e^-a)  (sigma),  g = tanh(a)   (written over z)
 *              c = f * c_prev + i * g,   tc = tanh(c),  h = o * tc
 *   backward:  dh = dh_out + dh_rec          (dh_rec: dz_{t+1} W_hh)
 *              dc = dc_next + dh * o * (1 - tc^2)
 *              d_i = dc * g * i(1-i),  d_f = dc * c_prev * f(1-f)
 *              d_g = dc * i * (1 - g^2), d_o = dh * tc * o(1-o)
 *              dc_next <- dc * f
 *
 * The inner loops (over the H units of one batch row) have no dependencies between
 * iterations, so the compiler vectorises them, with glibc's vector expf/tanhf (libmvec)
 * declared below.  No -ffast-math: IEEE semantics stay, so a NaN anywhere in a step's
 * inputs gives NaN in what depends on it, as in the NumPy loop.  Each function exists
 * for float (_f32) and double (_f64).
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>

/* libmvec's SIMD versions of these exist (x86-64 glibc >= 2.22, tanh >= 2.35): declaring
 * them lets GCC call them from vectorised loops (compiled with -fopenmp-simd).  Elsewhere
 * the loops call the scalar functions: slower, same results. */
#if defined(__x86_64__) && defined(__GLIBC__) && !defined(__clang__) && \
    (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 35))
#pragma omp declare simd notinbranch
float expf(float);
#pragma omp declare simd notinbranch
float tanhf(float);
#pragma omp declare simd notinbranch
double exp(double);
#pragma omp declare simd notinbranch
double tanh(double);
#endif

/* The batch rows of a step are independent: with `threads` > 1 they are shared among OpenMP
 * threads.  recurrent_math.py asks for that only while oneDNN holds the cores (its products
 * then run on the same GNU OpenMP team, which is still awake when the cell starts); otherwise
 * OpenBLAS's workers hold them, and a second team would stall both.  Built without OpenMP
 * the pragma is ignored and the rows run on the calling thread. */
#define PARALLEL_ROWS _Pragma("omp parallel for num_threads(threads) if(threads > 1) schedule(static)")

/* min(x, m) that keeps a NaN x (a NaN compares false) */
#define CLAMP(x, m) ((x) > (m) ? (m) : (x))

#define DEFINE_LSTM_STEP(REAL, SUFFIX, EXP, TANH, ZMAX)                                      \
void lstm_forward_step_##SUFFIX(int threads, ptrdiff_t N, ptrdiff_t H, const REAL *zin,      \
                                const int64_t *rows, REAL *z,                                \
                                const REAL *restrict rec, const REAL *restrict c_prev,       \
                                REAL *restrict c, REAL *restrict tc, REAL *restrict h)       \
{                                                                                            \
    PARALLEL_ROWS                                                                            \
    for (ptrdiff_t n = 0; n < N; n++) {                                                      \
        /* this row's input projection: its own row of zin, or row rows[n] of a table */     \
        const REAL *xi = zin + (rows ? rows[n] : n) * 4 * H;                                 \
        const REAL *xf = xi + H, *xg = xi + 2 * H, *xo = xi + 3 * H;                         \
        REAL *zi = z + n * 4 * H, *zf = zi + H, *zg = zi + 2 * H, *zo = zi + 3 * H;          \
        const REAL *ri = rec + n * 4 * H, *rf = ri + H, *rg = ri + 2 * H, *ro = ri + 3 * H;  \
        const REAL *cp = c_prev + n * H;                                                     \
        REAL *cn = c + n * H, *tn = tc + n * H, *hn = h + n * H;                             \
        /* xi may be zi itself (read, then overwritten, element by element): no           */ \
        /* dependence between iterations, which the pragma tells the compiler              */ \
        _Pragma("omp simd")                                                                  \
        for (ptrdiff_t r = 0; r < H; r++) {                                                  \
            /* -a clamped: e^-a stays finite (sigma is then 0 to working precision anyway) */ \
            REAL ni = CLAMP(-(xi[r] + ri[r]), ZMAX), nf = CLAMP(-(xf[r] + rf[r]), ZMAX);     \
            REAL no = CLAMP(-(xo[r] + ro[r]), ZMAX);                                         \
            REAL i = 1 / (1 + EXP(ni)), f = 1 / (1 + EXP(nf)), o = 1 / (1 + EXP(no));        \
            REAL g = TANH(xg[r] + rg[r]);                                                    \
            REAL cj = f * cp[r] + i * g;                                                     \
            REAL t = TANH(cj);                                                               \
            zi[r] = i; zf[r] = f; zg[r] = g; zo[r] = o;                                      \
            cn[r] = cj; tn[r] = t; hn[r] = o * t;                                            \
        }                                                                                    \
    }                                                                                        \
}                                                                                            \
                                                                                             \
void lstm_backward_step_##SUFFIX(int threads, ptrdiff_t N, ptrdiff_t H, REAL *restrict d,    \
                                 ptrdiff_t ldd, const REAL *restrict z,                      \
                                 const REAL *restrict tc, const REAL *restrict c_prev,       \
                                 const REAL *restrict dh_out, const REAL *restrict dh_rec,   \
                                 REAL *restrict dc_next)                                     \
{                                                                                            \
    PARALLEL_ROWS                                                                            \
    for (ptrdiff_t n = 0; n < N; n++) {                                                      \
        const REAL *zi = z + n * 4 * H, *zf = zi + H, *zg = zi + 2 * H, *zo = zi + 3 * H;    \
        REAL *di = d + n * ldd, *df = di + H, *dg = di + 2 * H, *dout = di + 3 * H;          \
        const REAL *tn = tc + n * H, *cp = c_prev + n * H, *dho = dh_out + n * H;            \
        const REAL *dhr = dh_rec + n * H;                                                    \
        REAL *dcn = dc_next + n * H;                                                         \
        for (ptrdiff_t r = 0; r < H; r++) {                                                  \
            REAL i = zi[r], f = zf[r], g = zg[r], o = zo[r], t = tn[r];                      \
            REAL dh = dho[r] + dhr[r];                                                       \
            REAL dc = dcn[r] + dh * o * (1 - t * t);                                         \
            di[r] = dc * g * (i - i * i);                                                    \
            df[r] = dc * cp[r] * (f - f * f);                                                \
            dg[r] = dc * i * (1 - g * g);                                                    \
            dout[r] = dh * t * (o - o * o);                                                  \
            dcn[r] = dc * f;                                                                 \
        }                                                                                    \
    }                                                                                        \
}

DEFINE_LSTM_STEP(float, f32, expf, tanhf, 80.0f)
DEFINE_LSTM_STEP(double, f64, exp, tanh, 700.0)
