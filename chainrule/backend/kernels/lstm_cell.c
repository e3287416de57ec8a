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
 * iterations, so the compiler vectorises them: in float with sigma and tanh written out below
 * (inlined, so that a vectorised loop makes no call; within 3 units in the last place), in
 * double with glibc's vector exp/tanh (libmvec).  No -ffast-math: IEEE semantics stay, so a
 * NaN anywhere in a step's inputs gives NaN in what depends on it, as in the NumPy loop.
 * Each step function exists for float (_f32) and double (_f64).
 *
 * lstm_forward_seq_f32 / lstm_backward_seq_f32 run a whole float32 sequence in one call, its
 * products on W_hh packed into panels (gemm_panels.h), where the compiler targets AVX2 with
 * FMA: the text above them says why and how.
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

/* libmvec's SIMD versions of these exist (x86-64 glibc >= 2.22, tanh >= 2.35): declaring
 * them lets GCC call them from vectorised loops (compiled with -fopenmp-simd).  Elsewhere
 * the loops call the scalar functions: slower, same results. */
#if defined(__x86_64__) && defined(__GLIBC__) && !defined(__clang__) && \
    (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 35))
#pragma omp declare simd notinbranch
double exp(double);
#pragma omp declare simd notinbranch
double tanh(double);
#endif

#define INLINE static inline __attribute__((always_inline))

/* a * b + c, fused where the target has FMA (else fmaf would be a library call in the loop;
 * the reduction below stays exact either way: n * 0.693359375 needs at most 16 bits) */
#if defined(__FMA__) || defined(__ARM_FEATURE_FMA)
#define MULADD(a, b, c) fmaf(a, b, c)
#else
#define MULADD(a, b, c) ((a) * (b) + (c))
#endif

/* e^x - 1 in float for x in [-87, 88].  Written out (not expf) so that a vectorised loop makes
 * no call: a call to libmvec's expf spills every live vector register, and with three sigmas
 * and two tanh a unit, the calls took two thirds of the cell's time (w4: 79 -> 50 us a step on
 * one thread).  Cody and Waite's reduction: x = n ln2 + r with n = round(x / ln2), ln2 split
 * into a head with few bits and a tail so that r is exact, |r| <= ln2 / 2; e^r - 1 is its
 * Taylor polynomial to degree 8 (the rest, below r^9 / 9!, is under 1e-9 relative); then
 * e^x - 1 = 2^n (e^r - 1) + (2^n - 1), with 2^n built in the exponent bits.  That last sum
 * adds no cancellation: for n = 0 it is the polynomial (accurate for small x), for n != 0 the
 * result is at least 0.29 in size.  Measured over every 29th float in [-100, 100] against
 * double precision: e^x - 1 within 1.8 units in the last place, sigma 2.8, tanh 2.5 (glibc's
 * tanhf: 2.2).  A NaN x gives NaN. */
INLINE float expm1_f32(float x)
{
    const float shift = 12582912.0f; /* 1.5 * 2^23: adding it rounds to an integer */
    float n = (x * 1.44269504088896341f + shift) - shift;
    float r = MULADD(n, -0.693359375f, x);
    r = MULADD(n, 2.12194440e-4f, r);
    float p = 1.0f / 40320;
    p = MULADD(p, r, 1.0f / 5040);
    p = MULADD(p, r, 1.0f / 720);
    p = MULADD(p, r, 1.0f / 120);
    p = MULADD(p, r, 1.0f / 24);
    p = MULADD(p, r, 1.0f / 6);
    p = MULADD(p, r, 0.5f);
    p = MULADD(p, r, 1.0f);
    p *= r; /* e^r - 1 */
    uint32_t bits = (uint32_t)((int32_t)n + 127) << 23;
    float s;
    memcpy(&s, &bits, sizeof s); /* 2^n */
    return MULADD(s, p, s - 1.0f);
}

/* sigma(a) = 1 / (1 + e^-a), given -a clamped above by the caller; below -87, e^-a is under
 * float's smallest normal and sigma is 1 either way. */
INLINE float sigmoid_of_neg_f32(float na)
{
    na = na < -87.0f ? -87.0f : na;
    return 1.0f / (2.0f + expm1_f32(na));
}

/* tanh x = -e / (2 + e) with e = e^(-2|x|) - 1 in (-1, 0], the sign put back: for small x,
 * e ~ -2|x| is accurate, so no cancellation.  |x| is capped at 43 to keep -2|x| in range
 * (tanh is 1 in float from |x| = 9 on); a NaN stays NaN. */
INLINE float tanh_f32(float x)
{
    float ax = fabsf(x);
    ax = ax > 43.0f ? 43.0f : ax;
    float e = expm1_f32(-2.0f * ax);
    return copysignf(-e / (2.0f + e), x);
}

INLINE double sigmoid_of_neg_f64(double na) { return 1 / (1 + exp(na)); }

/* The batch rows of a step are independent: with `threads` > 1 they are shared among OpenMP
 * threads.  recurrent_math.py asks for that only while oneDNN holds the cores (its products
 * then run on the same GNU OpenMP team, which is still awake when the cell starts); otherwise
 * OpenBLAS's workers hold them, and a second team would stall both.  Built without OpenMP
 * the pragma is ignored and the rows run on the calling thread. */
#define PARALLEL_ROWS _Pragma("omp parallel for num_threads(threads) if(threads > 1) schedule(static)")

/* min(x, m) that keeps a NaN x (a NaN compares false) */
#define CLAMP(x, m) ((x) > (m) ? (m) : (x))

/* One batch row of a step, units u0 <= r < u1.  Forward: xi the row's input projections (gate
 * blocks H apart; xi may be zi itself: read, then overwritten, element by element, which has
 * no dependence between iterations, as the pragma tells the compiler), zi its gate row,
 * ri its recurrent part h_{t-1} W_hh^T, cp/cn/tn/hn its c_{t-1}, c_t, tanh c_t, h_t.  Backward:
 * di the row's gate adjoints, zi its gate activations, dho/dhr the output's and the recurrent
 * part of dL/dh_t, dcn dL/dc_t in, dL/dc_{t-1} out. */
#define DEFINE_LSTM_UNITS(REAL, SUFFIX, SIGMOID_NEG, TANH, ZMAX)                                 \
INLINE void forward_units_##SUFFIX(ptrdiff_t H, ptrdiff_t u0, ptrdiff_t u1, const REAL *xi,      \
                                   REAL *zi, const REAL *restrict ri, const REAL *restrict cp,  \
                                   REAL *restrict cn, REAL *restrict tn, REAL *restrict hn)     \
{                                                                                                \
    const REAL *xf = xi + H, *xg = xi + 2 * H, *xo = xi + 3 * H;                                 \
    REAL *zf = zi + H, *zg = zi + 2 * H, *zo = zi + 3 * H;                                       \
    const REAL *rf = ri + H, *rg = ri + 2 * H, *ro = ri + 3 * H;                                 \
    _Pragma("omp simd")                                                                          \
    for (ptrdiff_t r = u0; r < u1; r++) {                                                        \
        /* -a clamped: e^-a stays finite (sigma is then 0 to working precision anyway) */        \
        REAL i = SIGMOID_NEG(CLAMP(-(xi[r] + ri[r]), ZMAX));                                     \
        REAL f = SIGMOID_NEG(CLAMP(-(xf[r] + rf[r]), ZMAX));                                     \
        REAL o = SIGMOID_NEG(CLAMP(-(xo[r] + ro[r]), ZMAX));                                     \
        REAL g = TANH(xg[r] + rg[r]);                                                            \
        REAL cj = f * cp[r] + i * g;                                                             \
        REAL t = TANH(cj);                                                                       \
        zi[r] = i; zf[r] = f; zg[r] = g; zo[r] = o;                                              \
        cn[r] = cj; tn[r] = t; hn[r] = o * t;                                                    \
    }                                                                                            \
}                                                                                                \
                                                                                                 \
INLINE void backward_units_##SUFFIX(ptrdiff_t H, ptrdiff_t u0, ptrdiff_t u1, REAL *restrict di,  \
                                    const REAL *restrict zi, const REAL *restrict tn,            \
                                    const REAL *restrict cp, const REAL *restrict dho,           \
                                    const REAL *restrict dhr, REAL *restrict dcn)                \
{                                                                                                \
    const REAL *zf = zi + H, *zg = zi + 2 * H, *zo = zi + 3 * H;                                 \
    REAL *df = di + H, *dg = di + 2 * H, *dout = di + 3 * H;                                     \
    for (ptrdiff_t r = u0; r < u1; r++) {                                                        \
        REAL i = zi[r], f = zf[r], g = zg[r], o = zo[r], t = tn[r];                              \
        REAL dh = dho[r] + dhr[r];                                                               \
        REAL dc = dcn[r] + dh * o * (1 - t * t);                                                 \
        di[r] = dc * g * (i - i * i);                                                            \
        df[r] = dc * cp[r] * (f - f * f);                                                        \
        dg[r] = dc * i * (1 - g * g);                                                            \
        dout[r] = dh * t * (o - o * o);                                                          \
        dcn[r] = dc * f;                                                                         \
    }                                                                                            \
}                                                                                                \
                                                                                                 \
void lstm_forward_step_##SUFFIX(int threads, ptrdiff_t N, ptrdiff_t H, const REAL *zin,          \
                                const int64_t *rows, REAL *z,                                    \
                                const REAL *restrict rec, const REAL *restrict c_prev,           \
                                REAL *restrict c, REAL *restrict tc, REAL *restrict h)           \
{                                                                                                \
    PARALLEL_ROWS                                                                                \
    for (ptrdiff_t n = 0; n < N; n++) /* the input projection: own row of zin, or row rows[n] */ \
        forward_units_##SUFFIX(H, 0, H, zin + (rows ? rows[n] : n) * 4 * H, z + n * 4 * H,       \
                               rec + n * 4 * H, c_prev + n * H, c + n * H, tc + n * H, h + n * H); \
}                                                                                                \
                                                                                                 \
void lstm_backward_step_##SUFFIX(int threads, ptrdiff_t N, ptrdiff_t H, REAL *restrict d,        \
                                 ptrdiff_t ldd, const REAL *restrict z,                          \
                                 const REAL *restrict tc, const REAL *restrict c_prev,           \
                                 const REAL *restrict dh_out, const REAL *restrict dh_rec,       \
                                 REAL *restrict dc_next)                                         \
{                                                                                                \
    PARALLEL_ROWS                                                                                \
    for (ptrdiff_t n = 0; n < N; n++)                                                            \
        backward_units_##SUFFIX(H, 0, H, d + n * ldd, z + n * 4 * H, tc + n * H, c_prev + n * H, \
                                dh_out + n * H, dh_rec + n * H, dc_next + n * H);                \
}

DEFINE_LSTM_UNITS(float, f32, sigmoid_of_neg_f32, tanh_f32, 80.0f)
DEFINE_LSTM_UNITS(double, f64, sigmoid_of_neg_f64, tanh, 700.0)


/* ------------------------------------------------------------------ a whole sequence per call
 *
 * Step by step, the time loop costs two calls per step (the product h_{t-1} W_hh^T, then the
 * cell), each a parallel region: its threads start and meet, and each thread's cell reads the
 * recurrent part that the other thread's share of the product wrote (the product splits the
 * gate columns, the cell the batch rows).  Here one parallel region runs the whole loop, and
 * each thread owns a block of hidden units, of 16 at a time (one panel): it computes the gate
 * columns of its units (four panels, one per gate), then the cell of its units for every batch
 * row, from what it has just computed; the threads meet once a step, when h_t is whole (the
 * next product reads all of it).  Backward, a thread runs the cell of its units (writing
 * their gate adjoints), the threads meet (dz_t is whole), and each computes its units' part of
 * dL/dh_{t-1} = dz_t W_hh, which only its own next cell reads.  A thread packs the panels of
 * its own units.  Each element is computed as the step functions and gemm_panels_f32 compute
 * it (the same multiply-add chains, the same cell), so the results are the same bits.
 */
#if defined(__AVX2__) && defined(__FMA__)
#include "gemm_panels.h"

int lstm_sequence_available(void) { return 1; }

/* Floats of the packed W_hh for the forward (four gates, each ceil(H / 16) panels of H x 16)
 * and for the backward (ceil(H / 16) panels of 4H x 16): the same number. */
ptrdiff_t lstm_packed_size_f32(ptrdiff_t H) { return 4 * ((H + NR - 1) / NR) * H * NR; }

/* The units [u0, u1) thread `tid` of `nt` owns: a contiguous share of the ceil(H / 16) panels. */
static void own_units(ptrdiff_t H, int nt, int tid, ptrdiff_t *u0, ptrdiff_t *u1)
{
    ptrdiff_t panels = (H + NR - 1) / NR;
    ptrdiff_t q0 = panels * tid / nt, q1 = panels * (tid + 1) / nt;
    *u0 = q0 * NR;
    *u1 = q1 * NR < H ? q1 * NR : H;
}

static void team(int *nt, int *tid)
{
#ifdef _OPENMP
    *nt = omp_get_num_threads();
    *tid = omp_get_thread_num();
#else
    *nt = 1;
    *tid = 0;
#endif
}

/* Forward over T steps (t = 0 .. T-1, or T-1 .. 0 when `reverse`), batch N, hidden size H:
 *   zin    (T, N, 4H) the input projections, own rows (then zin is acts), or with `rows`
 *          (T, N) a table whose row rows[t][n] is position (t, n)'s projections;
 *   acts   (T, N, 4H) out: the gate activations i, f, g, o;
 *   w_hh   (4H, H), C order; P lstm_packed_size_f32(H) floats of scratch for its panels;
 *   h0, c0 (N, H); out (T, N, H) the h_t; cs, tcs (T, N, H) c_t and tanh c_t;
 *   rec    (N, 4H) scratch for h_{t-1} W_hh^T. */
void lstm_forward_seq_f32(int threads, ptrdiff_t T, ptrdiff_t N, ptrdiff_t H, int reverse, const float *zin,
                          const int64_t *rows, float *acts, const float *w_hh, float *P, const float *h0,
                          const float *c0, float *out, float *cs, float *tcs, float *rec)
{
    const ptrdiff_t G = 4 * H, panels = (H + NR - 1) / NR;
#pragma omp parallel num_threads(threads) if(threads > 1)
    {
        int nt, tid;
        team(&nt, &tid);
        ptrdiff_t u0, u1;
        own_units(H, nt, tid, &u0, &u1);
        /* W_hh^T's gate block g, (H, H), is element (k, j) at w_hh[(gH + j) H + k] */
        for (int g = 0; g < 4; g++)
            for (ptrdiff_t u = u0; u < u1; u += NR)
                pack_panel(H, H, w_hh + g * H * H, 1, H, u / NR, P + (g * panels + u / NR) * H * NR);
        const float *h = h0, *c_prev = c0;
        for (ptrdiff_t s = 0; s < T; s++) {
            ptrdiff_t t = reverse ? T - 1 - s : s;
            for (int g = 0; g < 4; g++)
                for (ptrdiff_t u = u0; u < u1; u += NR)
                    panel_product(N, H, h, H, P + (g * panels + u / NR) * H * NR, rec + g * H + u, G,
                                  u1 - u < NR ? u1 - u : NR);
            for (ptrdiff_t n = 0; n < N; n++) {
                ptrdiff_t at = t * N + n;
                forward_units_f32(H, u0, u1, zin + (rows ? rows[at] : at) * G, acts + at * G, rec + n * G,
                                  c_prev + n * H, cs + at * H, tcs + at * H, out + at * H);
            }
            h = out + t * N * H;
            c_prev = cs + t * N * H;
#pragma omp barrier
        }
    }
}

/* Backward through time (the steps of the forward in reverse order):
 *   dz     (T, N, ld) out: the pre-activation adjoints, rows ld >= 4H apart;
 *   acts, tcs, cs as the forward left them; c0 (N, H);
 *   dh_out (T, N, H) the outputs' gradients; w_hh (4H, H), C order; P scratch for its panels;
 *   dh_rec (N, H) zeros in, dL/dh0 out when `need_h0` (else its last value is not computed);
 *   dc     (N, H) dL/dc_n in, dL/dc0 out. */
void lstm_backward_seq_f32(int threads, ptrdiff_t T, ptrdiff_t N, ptrdiff_t H, int reverse, int need_h0, float *dz,
                           ptrdiff_t ld, const float *acts, const float *tcs, const float *cs, const float *c0,
                           const float *dh_out, const float *w_hh, float *P, float *dh_rec, float *dc)
{
    const ptrdiff_t G = 4 * H;
#pragma omp parallel num_threads(threads) if(threads > 1)
    {
        int nt, tid;
        team(&nt, &tid);
        ptrdiff_t u0, u1;
        own_units(H, nt, tid, &u0, &u1);
        for (ptrdiff_t u = u0; u < u1; u += NR) /* W_hh (4H, H): columns u .. u + 15 */
            pack_panel(G, H, w_hh, H, 1, u / NR, P + (u / NR) * G * NR);
        for (ptrdiff_t s = 0; s < T; s++) {
            ptrdiff_t t = reverse ? s : T - 1 - s;
            int first = reverse ? t == T - 1 : t == 0; /* the forward's first step: c_{t-1} is c0 */
            const float *c_prev = first ? c0 : cs + (reverse ? t + 1 : t - 1) * N * H;
            for (ptrdiff_t n = 0; n < N; n++) {
                ptrdiff_t at = t * N + n;
                backward_units_f32(H, u0, u1, dz + at * ld, acts + at * G, tcs + at * H, c_prev + n * H,
                                   dh_out + at * H, dh_rec + n * H, dc + n * H);
            }
#pragma omp barrier
            if (!first || need_h0) /* dh_{t-1} = dz_t W_hh, its units' columns */
                for (ptrdiff_t u = u0; u < u1; u += NR)
                    panel_product(N, G, dz + t * N * ld, ld, P + (u / NR) * G * NR, dh_rec + u, H,
                                  u1 - u < NR ? u1 - u : NR);
        }
    }
}

#else /* no AVX2 with FMA: the Python loop calls the step functions */

int lstm_sequence_available(void) { return 0; }

#endif
