"""More special functions on NumPy arrays (float64 inside): Bessel functions of the first and
second kind and their modified forms, the Airy function Ai, the regularised incomplete gamma
functions, the Hurwitz zeta function and the classical orthogonal polynomials.

Every function takes and returns float64 arrays; ``chainrule.special`` casts to the tensor's
dtype.  The methods, written from the mathematics (Abramowitz & Stegun, "Handbook of
Mathematical Functions", chapters 6, 9, 10, 22 and 23; DLMF 10.32, 8.9):

* J₀, J₁, Y₀, Y₁: the ascending (power) series for |x| <= 17, Hankel's asymptotic expansion
  (A&S 9.2.5) above.  The series adds terms of size up to ~e^x/x, so near x = 17 the absolute
  error is about 1e-10; elsewhere it is ~1e-14.
* I₀, I₁ (and e^(-|x|)-scaled): power series for |x| <= 30, the asymptotic series (A&S 9.7.1)
  above; relative error ~1e-15.
* K₀, K₁ (and e^x-scaled): the logarithmic series (A&S 9.6.13, 9.6.11) for x <= 2; for x > 2
  the trapezoidal rule on K_ν(x) = ∫₀^∞ e^(-x cosh t) cosh(νt) dt, which converges
  exponentially fast in the step (step 0.1: error below 1e-15 relative) up to x = 30, and the
  asymptotic series (A&S 9.7.2) above.
* Ai: the Maclaurin series (A&S 10.4.2) on [-8, 2], e^(-ζ)-free K_(1/3) integral above
  (Ai(x) = √(x/3)/π K_(1/3)(ζ), ζ = ⅔x^(3/2)), the oscillatory asymptotic expansion
  (A&S 10.4.60) below -8; absolute error ~1e-11 (the series' cancellation near -8).
* P(a, x), Q(a, x): the series for P when x < a + 1, Lentz's continued fraction for Q above
  (both take ~√a steps near x = a); error ~1e-14 for a <= 1e3, growing about as 1e-16·a beyond
  (the rounding of a ln x - x - ln Γ(a) in the prefactor): ~1e-10 at a = 1e6.
* ζ(s, q): Euler–Maclaurin summation (q shifted above 10 by adding its first terms, seven
  Bernoulli terms); relative error ~1e-15.  A negative q costs |q| additions.
* Polynomials: their three-term recurrences, run up to the largest degree asked for.
"""

from __future__ import annotations

import math

import numpy as np

from chainrule.backend.special import _BERNOULLI, i0_array, i1_array, lgamma_array

_GAMMA = 0.57721566490153286061  # Euler's constant
_LN2 = math.log(2.0)
_SERIES_MAX = 17.0  # J, Y: power series below, Hankel's expansion above


def _f64(x: np.ndarray) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


# ---------------------------------------------------------------- Bessel functions J, Y
def _jy_series(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """J₀, J₁, and the sums that Y₀, Y₁ need, by the power series in (x/2)², x >= 0."""
    h = x / 2.0
    q = -h * h
    t0 = np.ones_like(x)  # (-x²/4)^k / k!²
    t1 = h.copy()  # (x/2) (-x²/4)^k / (k! (k+1)!)
    j0, j1 = t0.copy(), t1.copy()
    s0 = np.zeros_like(x)  # Σ H_k t0_k, H_k the harmonic number
    s1 = t1 * (1.0 - 2 * _GAMMA)  # Σ (ψ(k+1) + ψ(k+2)) t1_k; ψ(1)+ψ(2) = 1 - 2γ
    hk = 0.0
    for k in range(1, 80):
        t0 = t0 * q / (k * k)
        t1 = t1 * q / (k * (k + 1))
        hk += 1.0 / k
        j0 += t0
        j1 += t1
        s0 += hk * t0
        s1 += (2 * hk + 1.0 / (k + 1) - 2 * _GAMMA) * t1
        if (np.abs(t0) + np.abs(t1) < 1e-17 * (np.abs(j0) + np.abs(j1) + 1e-300)).all() and k > 2:
            break
    return j0, j1, s0, s1


def _hankel(nu: int, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Hankel's expansion (A&S 9.2.5): J_ν, Y_ν = √(2/(πx)) (P cos χ - Q sin χ, P sin χ + Q cos χ)."""
    mu = 4.0 * nu * nu
    z = 8.0 * x
    a = np.ones_like(x)
    p, q = np.ones_like(x), np.zeros_like(x)
    for k in range(1, 31):
        a = a * (mu - (2 * k - 1) ** 2) / (k * z)
        if k % 2:
            q += a if (k // 2) % 2 == 0 else -a
        else:
            p += a if (k // 2) % 2 == 0 else -a
    chi = x - (nu / 2.0 + 0.25) * np.pi
    amp = np.sqrt(2.0 / (np.pi * x))
    return amp * (p * np.cos(chi) - q * np.sin(chi)), amp * (p * np.sin(chi) + q * np.cos(chi))


def _jy(nu: int, second: bool, x: np.ndarray) -> np.ndarray:
    x = _f64(x)
    a = np.abs(x)
    out = np.full(x.shape, np.nan)
    with np.errstate(all="ignore"):
        small = a <= _SERIES_MAX
        if small.any():
            s = a[small]
            j0, j1, s0, s1 = _jy_series(s)
            if not second:
                out[small] = j0 if nu == 0 else j1
            elif nu == 0:  # A&S 9.1.13 (ln x - ln 2: x/2 underflows for the smallest subnormals)
                out[small] = 2 / np.pi * ((np.log(s) - _LN2 + _GAMMA) * j0 - s0)
            else:  # A&S 9.1.11, n = 1
                out[small] = -2 / (np.pi * s) + (2 / np.pi * (np.log(s) - _LN2) * j1 - s1 / np.pi)
        big = a > _SERIES_MAX
        if big.any():
            j, y = _hankel(nu, a[big])
            out[big] = y if second else j
    if second:
        out = np.where(x == 0, -np.inf, np.where(x < 0, np.nan, out))
    elif nu == 1:
        out = np.where(x < 0, -out, out)
    return out


def bessel_j0_array(x: np.ndarray) -> np.ndarray:
    """J₀(x) (even)."""
    return _jy(0, False, x)


def bessel_j1_array(x: np.ndarray) -> np.ndarray:
    """J₁(x) (odd)."""
    return _jy(1, False, x)


def bessel_y0_array(x: np.ndarray) -> np.ndarray:
    """Y₀(x): -inf at 0, NaN for x < 0."""
    return _jy(0, True, x)


def bessel_y1_array(x: np.ndarray) -> np.ndarray:
    """Y₁(x): -inf at 0, NaN for x < 0."""
    return _jy(1, True, x)


# ---------------------------------------------------------------- modified Bessel functions I, K
def _i_scaled(nu: int, x: np.ndarray) -> np.ndarray:
    """e^(-|x|) I_ν(x), ν = 0 or 1 (I₁ odd)."""
    x = _f64(x)
    a = np.abs(x)
    out = np.zeros(x.shape)
    small = a <= 30.0
    if small.any():
        s = a[small]
        base = i0_array(s) if nu == 0 else i1_array(s)
        out[small] = base * np.exp(-s)
    big = ~small & ~np.isnan(a)
    if big.any():
        b = a[big]
        mu = 4.0 * nu * nu
        c, tot = np.ones_like(b), np.ones_like(b)
        for k in range(1, 20):  # A&S 9.7.1: Σ (-1)^k Π_j (μ - (2j-1)²) / (k! (8x)^k)
            c = c * ((2 * k - 1) ** 2 - mu) / (k * 8.0 * b)
            tot += c
        with np.errstate(all="ignore"):
            out[big] = np.where(np.isinf(b), 0.0, tot / np.sqrt(2 * np.pi * b))
    out[np.isnan(a)] = np.nan
    return np.where(x < 0, -out, out) if nu == 1 else out


def i0e_array(x: np.ndarray) -> np.ndarray:
    """e^(-|x|) I₀(x)."""
    return _i_scaled(0, x)


def i1e_array(x: np.ndarray) -> np.ndarray:
    """e^(-|x|) I₁(x)."""
    return _i_scaled(1, x)


def i0_full_array(x: np.ndarray) -> np.ndarray:
    """I₀(x) (``backend.special.i0_array``): inf beyond x ≈ 713, NaN at ±inf, as PyTorch's
    ``modified_bessel_i0``, without NumPy's warnings there."""
    with np.errstate(over="ignore", invalid="ignore"):
        return i0_array(_f64(x))


def i1_full_array(x: np.ndarray) -> np.ndarray:
    """I₁(x) (``backend.special.i1_array``): ±inf beyond |x| ≈ 713, NaN at ±inf, as PyTorch's."""
    with np.errstate(over="ignore", invalid="ignore"):
        return i1_array(_f64(x))


_T_STEP = 0.1
_T_NODES = np.arange(0.0, 8.0 + _T_STEP / 2, _T_STEP)


def _k_integral_scaled(nu: float, x: np.ndarray) -> np.ndarray:
    """e^x K_ν(x) for x >= ~1: for x <= 30 the trapezoidal rule (step h = 0.1, t <= 8) on
    e^x K_ν(x) = ∫₀^∞ e^(-x (cosh t - 1)) cosh(νt) dt, whose error is about e^(x - π²/h) relative
    (the integrand is analytic in the strip |Im t| < π/2); above 30 the asymptotic series
    √(π/(2x)) Σ Π_j (4ν² - (2j-1)²) / (k! (8x)^k) (A&S 9.7.2), whose smallest term is ~e^(-2x)."""
    out = np.empty(x.shape)
    mid = x <= 30.0
    if mid.any():
        t = _T_NODES
        w = np.full(t.shape, _T_STEP)
        w[0] = _T_STEP / 2
        with np.errstate(under="ignore"):
            f = np.exp(-np.multiply.outer(x[mid], np.cosh(t) - 1.0)) * (np.cosh(nu * t) * w)
        out[mid] = f.sum(axis=-1)
    big = ~mid
    if big.any():
        b = x[big]
        mu = 4.0 * nu * nu
        c, tot = np.ones_like(b), np.ones_like(b)
        for k in range(1, 25):
            c = c * (mu - (2 * k - 1) ** 2) / (k * 8.0 * b)
            tot += c
        out[big] = np.sqrt(np.pi / (2.0 * b)) * tot
    return out


def _k(nu: int, scaled: bool, x: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):  # (subnormal x: 1/x overflows to inf)
        return _k_inner(nu, scaled, _f64(x))


def _k_inner(nu: int, scaled: bool, x: np.ndarray) -> np.ndarray:
    out = np.full(x.shape, np.nan)
    small = (x > 0) & (x <= 2.0)
    if small.any():
        s = x[small]
        h2 = s * s / 4.0
        lg = np.log(s) - _LN2
        if nu == 0:  # A&S 9.6.13: K₀ = -(ln(x/2) + γ) I₀ + Σ H_k (x²/4)^k / k!²
            t, acc, hk = np.ones_like(s), np.zeros_like(s), 0.0
            for k in range(1, 40):
                t = t * h2 / (k * k)
                hk += 1.0 / k
                acc += hk * t
            val = -(lg + _GAMMA) * i0_array(s) + acc
        else:  # A&S 9.6.11: K₁ = 1/x + ln(x/2) I₁ - (x/4) Σ (ψ(k+1)+ψ(k+2)) (x²/4)^k / (k!(k+1)!)
            t, hk = np.ones_like(s), 0.0
            acc = (1.0 - 2 * _GAMMA) * t
            for k in range(1, 40):
                t = t * h2 / (k * (k + 1))
                hk += 1.0 / k
                acc += (2 * hk + 1.0 / (k + 1) - 2 * _GAMMA) * t
            val = 1.0 / s + lg * i1_array(s) - s / 4.0 * acc
        out[small] = val * np.exp(s) if scaled else val
    big = x > 2.0
    if big.any():
        b = x[big]
        fin = np.isfinite(b)
        v = np.zeros_like(b)
        v[fin] = _k_integral_scaled(float(nu), b[fin])
        with np.errstate(under="ignore"):
            out[big] = v if scaled else v * np.exp(-b)
    return np.where(x == 0, np.inf, out)


def modified_bessel_k0_array(x: np.ndarray) -> np.ndarray:
    """K₀(x): inf at 0, NaN for x < 0."""
    return _k(0, False, x)


def modified_bessel_k1_array(x: np.ndarray) -> np.ndarray:
    """K₁(x): inf at 0, NaN for x < 0."""
    return _k(1, False, x)


def scaled_modified_bessel_k0_array(x: np.ndarray) -> np.ndarray:
    """e^x K₀(x)."""
    return _k(0, True, x)


def scaled_modified_bessel_k1_array(x: np.ndarray) -> np.ndarray:
    """e^x K₁(x)."""
    return _k(1, True, x)


def spherical_bessel_j0_array(x: np.ndarray) -> np.ndarray:
    """j₀(x) = sin(x)/x (1 at 0; a Taylor polynomial for |x| < 1e-4; 0 at ±inf)."""
    x = _f64(x)
    with np.errstate(all="ignore"):
        x2 = x * x
        out = np.where(np.abs(x) < 1e-4, 1.0 - x2 / 6.0 + x2 * x2 / 120.0, np.sin(x) / x)
    return np.where(np.isinf(x), 0.0, out)


# ---------------------------------------------------------------- Airy Ai
_AI0 = 0.355028053887817239  # Ai(0) = 1/(3^(2/3) Γ(2/3))
_AI1 = 0.258819403792806798  # -Ai'(0) = 1/(3^(1/3) Γ(1/3))


def airy_ai_array(x: np.ndarray) -> np.ndarray:
    """Ai(x), the solution of y'' = xy that decays as x → +inf (NaN at ±inf, as PyTorch)."""
    with np.errstate(all="ignore"):  # (huge |x|: ζ overflows, Ai underflows to 0)
        return _airy(_f64(x))


def _airy(x: np.ndarray) -> np.ndarray:
    out = np.full(x.shape, np.nan)
    mid = (x >= -8.0) & (x <= 2.0)
    if mid.any():  # A&S 10.4.2: Ai = c₁ f - c₂ g
        s = x[mid]
        s3 = s * s * s
        tf, tg = np.ones_like(s), s.copy()
        f, g = tf.copy(), tg.copy()
        for k in range(1, 60):
            tf = tf * s3 / ((3 * k - 1) * (3 * k))
            tg = tg * s3 / ((3 * k) * (3 * k + 1))
            f += tf
            g += tg
        out[mid] = _AI0 * f - _AI1 * g
    pos = (x > 2.0) & np.isfinite(x)
    if pos.any():
        p = x[pos]
        zeta = 2.0 / 3.0 * p * np.sqrt(p)
        with np.errstate(under="ignore"):
            out[pos] = np.sqrt(p / 3.0) / np.pi * _k_integral_scaled(1.0 / 3.0, zeta) * np.exp(-zeta)
    neg = (x < -8.0) & np.isfinite(x)
    if neg.any():  # A&S 10.4.60
        z = -x[neg]
        zeta = 2.0 / 3.0 * z * np.sqrt(z)
        u = 1.0
        even, odd = np.ones_like(z), np.zeros_like(z)
        zk = np.ones_like(z)
        for k in range(1, 25):
            u = u * (6 * k - 5) * (6 * k - 3) * (6 * k - 1) / ((2 * k - 1) * 216.0 * k)
            zk = zk / zeta
            term = u * zk * (1 if (k // 2) % 2 == 0 else -1)
            if k % 2:
                odd += term
            else:
                even += term
        ph = zeta + np.pi / 4
        out[neg] = (np.sin(ph) * even - np.cos(ph) * odd) / (np.sqrt(np.pi) * z**0.25)
    return out


# ---------------------------------------------------------------- incomplete gamma
def _gammainc_pq(a: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(P(a, x), Q(a, x)) for a > 0, x > 0 finite."""
    with np.errstate(all="ignore"):
        logpre = a * np.log(x) - x - lgamma_array(a)
    p = np.zeros_like(a)
    q = np.zeros_like(a)
    # both the series and the fraction need ~√a steps where x is near a
    steps = int(min(200_000, 100 + 12 * math.sqrt(float(a.max())))) if a.size else 0
    ser = x < a + 1.0
    if ser.any():  # P = x^a e^-x / Γ(a+1) Σ xⁿ / ((a+1)...(a+n))
        aa, xx = a[ser], x[ser]
        term = 1.0 / aa
        tot = term.copy()
        ap = aa.copy()
        for _ in range(steps):
            ap = ap + 1.0
            term = term * xx / ap
            tot += term
            if (term < tot * 1e-17).all():
                break
        pv = np.exp(logpre[ser]) * tot
        p[ser], q[ser] = pv, 1.0 - pv
    cf = ~ser
    if cf.any():  # Q = x^a e^-x / Γ(a) · 1/(x+1-a- 1·(1-a)/(x+3-a- 2·(2-a)/(x+5-a- ...))), Lentz
        aa, xx = a[cf], x[cf]
        tiny = 1e-300
        b = xx + 1.0 - aa
        c = np.full_like(b, 1.0 / tiny)
        d = 1.0 / b
        h = d.copy()
        for i in range(1, steps):
            an = -i * (i - aa)
            b = b + 2.0
            d = an * d + b
            d = np.where(np.abs(d) < tiny, tiny, d)
            c = b + an / c
            c = np.where(np.abs(c) < tiny, tiny, c)
            d = 1.0 / d
            delta = d * c
            h = h * delta
            if (np.abs(delta - 1.0) < 1e-16).all():
                break
        qv = np.exp(logpre[cf]) * h
        p[cf], q[cf] = 1.0 - qv, qv
    return p, q


def _gammainc(a: np.ndarray, x: np.ndarray, upper: bool) -> np.ndarray:
    a, x = np.broadcast_arrays(_f64(a), _f64(x))
    out = np.full(a.shape, np.nan)
    ok = (a > 0) & (x > 0) & np.isfinite(a) & np.isfinite(x)
    if ok.any():
        p, q = _gammainc_pq(a[ok], x[ok])
        out[ok] = q if upper else p
    # edges: P(0, x>0) = 1, P(a>0, 0) = 0, P(a, inf) = 1
    edge_x0 = (x == 0) & (a > 0)
    edge_a0 = (a == 0) & (x > 0)
    edge_inf = np.isposinf(x) & (a > 0) & np.isfinite(a)
    for mask, lo in ((edge_x0, 0.0), (edge_a0, 1.0), (edge_inf, 1.0)):
        out = np.where(mask, 1.0 - lo if upper else lo, out)
    big_a = np.isposinf(a) & (x >= 0) & np.isfinite(x)
    out = np.where(big_a, 1.0 if upper else 0.0, out)
    return out


def gammainc_array(a: np.ndarray, x: np.ndarray) -> np.ndarray:
    """P(a, x) = γ(a, x)/Γ(a), the regularised lower incomplete gamma function."""
    return _gammainc(a, x, False)


def gammaincc_array(a: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Q(a, x) = 1 - P(a, x)."""
    return _gammainc(a, x, True)


# ---------------------------------------------------------------- Hurwitz zeta


def zeta_array(s: np.ndarray, q: np.ndarray) -> np.ndarray:
    """ζ(s, q) = Σ_{k>=0} (q + k)^(-s): inf at s = 1 and at q = 0, -1, -2, ...; NaN for s < 1."""
    s, q = np.broadcast_arrays(_f64(s), _f64(q))
    out = np.zeros(s.shape)
    n_shift = 10
    with np.errstate(all="ignore"):
        # shift q up to >= n_shift (the terms for negative q are (q+k)^-s, real when s is whole)
        lo = np.where(np.isfinite(q), np.maximum(0, np.ceil(n_shift - q)), 0).astype(np.int64)
        lo = np.where(np.isnan(s), 0, lo)
        few = lo <= n_shift + 1  # q >= -1: at most 11 terms each, added for all elements at once
        for k in range(int(lo[few].max()) if few.any() else 0):
            out += np.where(few & (k < lo), (q + k) ** (-s), 0.0)
        flat_out, flat_q, flat_s, flat_lo = out.reshape(-1), q.ravel(), s.ravel(), lo.ravel()
        for i in np.flatnonzero(~few):  # q < -1: |q| + 10 terms, summed element by element
            flat_out[i] = ((flat_q[i] + np.arange(flat_lo[i])) ** -flat_s[i]).sum()
        qq = q + lo
        tail = qq ** (1.0 - s) / (s - 1.0) + 0.5 * qq ** (-s)
        fac = s.copy()  # s (s+1) ... (s+2j-2)
        pw = qq ** (-s - 1.0)
        for j, b in enumerate(_BERNOULLI, start=1):
            tail += b / math.factorial(2 * j) * fac * pw
            fac = fac * (s + 2 * j - 1) * (s + 2 * j)
            pw = pw / (qq * qq)
        out = out + tail
    # the edges as PyTorch: s = 1 -> inf (even for q = NaN), q = 0, -1, ... -> inf (even for
    # s = NaN), s = inf -> inf (q < 1), 1 (q = 1), NaN (q > 1), q = inf -> NaN
    pole_q = (q <= 0) & (q == np.floor(q))
    out = np.where(np.isposinf(s), np.where(q < 1, np.inf, np.where(q == 1, 1.0, np.nan)), out)
    out = np.where(np.isnan(s) | np.isnan(q) | np.isposinf(q) | (s < 1), np.nan, out)
    out = np.where(pole_q & ~(s <= 1), np.inf, out)
    return np.where(s == 1, np.inf, out)


# ---------------------------------------------------------------- orthogonal polynomials
def _recurrence(kind: str, x: np.ndarray, n: np.ndarray) -> np.ndarray:
    """The degree-n polynomial of ``kind`` at x by its three-term recurrence; 0 for n < 0
    (n truncated towards zero, as PyTorch)."""
    x, n = np.broadcast_arrays(_f64(x), _f64(n))
    with np.errstate(invalid="ignore"):
        deg = np.where(np.isfinite(n), np.trunc(n), -1).astype(np.int64)
    if kind.startswith("s"):  # shifted Chebyshev: x -> 2x - 1
        x = 2.0 * x - 1.0
        kind = kind[1:]
    first = {"t": x, "u": 2 * x, "v": 2 * x - 1, "w": 2 * x + 1, "h": 2 * x, "he": x,
             "l": 1.0 - x, "p": x}[kind]
    prev, cur = np.ones_like(x), np.array(first, dtype=np.float64)
    out = np.where(deg == 0, 1.0, np.where(deg == 1, cur, 0.0))
    top = int(deg.max()) if deg.size else 0
    with np.errstate(all="ignore"):
        for k in range(1, top):  # cur = p_k, prev = p_(k-1) -> p_(k+1)
            if kind in "tuvw":
                nxt = 2 * x * cur - prev
            elif kind == "h":
                nxt = 2 * x * cur - 2 * k * prev
            elif kind == "he":
                nxt = x * cur - k * prev
            elif kind == "l":
                nxt = ((2 * k + 1 - x) * cur - k * prev) / (k + 1)
            else:
                nxt = ((2 * k + 1) * x * cur - k * prev) / (k + 1)
            prev, cur = cur, nxt
            out = np.where(deg == k + 1, cur, out)
    return out


def polynomial_array(kind: str, x: np.ndarray, n: np.ndarray) -> np.ndarray:
    """kind: t, u, v, w (Chebyshev), st, su, sv, sw (shifted), h, he (Hermite), l (Laguerre),
    p (Legendre)."""
    return _recurrence(kind, x, n)
