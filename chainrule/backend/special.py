"""Special functions on NumPy arrays for the back-end table: erf (Cody 1969), the modified
Bessel functions I0/I1, ln|Γ| and the polygamma functions (``ArrayMath.erf``, ``.i0``, ``.i1``,
``.lgamma``, ``.polygamma``)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

_A = (3.16112374387056560, 113.864154151050156, 377.485237685302021, 3209.37758913846947,
      0.185777706184603153)
_B = (23.6012909523441209, 244.024637934444173, 1282.61652607737228, 2844.23683343917062)
_C = (0.564188496988670089, 8.88314979438837594, 66.1191906371416295, 298.635138197400131,
      881.952221241769090, 1712.04761263407058, 2051.07837782607147, 1230.33935479799725,
      2.15311535474403846e-8)
_D = (15.7449261107098347, 117.693950891312499, 537.181101862009858, 1621.38957456669019,
      3290.79923573345963, 4362.61909014324716, 3439.36767414372164, 1230.33935480374942)
_P = (0.305326634961232344, 0.360344899949804439, 0.125781726111229246, 0.0160837851487422766,
      6.58749161529837803e-4, 0.0163153871373020978)
_Q = (2.56852019228982242, 1.87295284992346047, 0.527905102951428412, 0.0605183413124413191,
      2.33520497626869185e-3)
_SQRPI = 0.56418958354775628695  # 1/√π


def _rational(t: np.ndarray, a: tuple, b: tuple) -> np.ndarray:
    """Cody's rational function in t, n = len(b) - 1:
    (a[n+1] tⁿ⁺¹ + a[0] tⁿ + ... + a[n-1] t + a[n]) / (tⁿ⁺¹ + b[0] tⁿ + ... + b[n-1] t + b[n]).
    erf(y)/y = R_AB(y²) for |y| <= 0.46875;  erfc(y) e^(y²) = R_CD(y) for 0.46875 < y <= 4."""
    n = len(b) - 1
    num, den = a[n + 1] * t, t
    for i in range(n):
        num = (num + a[i]) * t
        den = (den + b[i]) * t
    return (num + a[n]) / (den + b[n])


def _erfc_big(y: np.ndarray) -> np.ndarray:
    """erfc(y) e^(y²) for y > 4 (a rational function of 1/y²)."""
    ysq = 1.0 / (y * y)
    return (_SQRPI - ysq * _rational(ysq, _P, _Q)) / y


def _exp_neg_sq(y: np.ndarray) -> np.ndarray:
    """e^(-y²) as e^(-ys²) e^(-(y-ys)(y+ys)), ys = y rounded down to 1/16 (Cody's split: no cancellation)."""
    ys = np.trunc(y * 16.0) / 16.0
    return np.exp(-ys * ys) * np.exp(-(y - ys) * (y + ys))


def erf_array(x: np.ndarray) -> np.ndarray:
    """erf(x) = 2/√π ∫₀ˣ e^(-t²) dt on a NumPy array, elementwise, in x's floating dtype.

    Three pieces by |x|: [0, 0.46875] erf directly, (0.46875, 4] and (4, ∞) through
    erfc = 1 - erf; each piece is evaluated only on its own elements.
    """
    x = np.asarray(x)
    if x.dtype.kind != "f":
        x = x.astype(np.float64)
    if x.dtype.itemsize < 4:  # half precision: the rational functions' powers of t overflow it (NaN at |x| ≥ 3)
        return erf_array(x.astype(np.float32)).astype(x.dtype)  # (in float32, as PyTorch computes half)
    y = np.abs(x)
    small = y <= 0.46875
    if small.all():
        return x * _rational(x * x, _A, _B)
    out = np.empty_like(x)
    if small.any():
        xs = x[small]
        out[small] = xs * _rational(xs * xs, _A, _B)
    mid = (y <= 4.0) & ~small
    if mid.any():
        ym = y[mid]
        out[mid] = 1.0 - _exp_neg_sq(ym) * _rational(ym, _C, _D)
    big = y > 4.0  # NaN fails every comparison: handled below
    if big.any():
        yb = np.minimum(y[big], 30.0)  # erfc(30) underflows to 0: erf = 1 (also for inf)
        out[big] = 1.0 - _exp_neg_sq(yb) * _erfc_big(yb)
    out[~(small | mid | big)] = np.nan
    np.negative(out, out=out, where=(x < 0) & ~small)  # erf(-y) = -erf(y)
    return out


def i1_array(x: np.ndarray) -> np.ndarray:
    """I₁(x) = dI₀/dx, the modified Bessel function of the first kind of order 1, elementwise.

    Abramowitz & Stegun 9.6.10 and 9.7.1: the power series Σₖ (x/2)^(2k+1) / (k! (k+1)!) for
    |x| <= 30 (positive terms, summed until they stop changing it), the asymptotic series
    eˣ/√(2πx) · (1 - 3/(8x) - 15/(2(8x)²) - ...) above.  Odd; relative error below 1e-14 in float64.
    """
    x = np.asarray(x)
    dtype = x.dtype if x.dtype.kind == "f" else np.dtype(np.float64)
    a = np.abs(x.astype(np.float64))
    out = np.zeros(a.shape)
    small = a <= 30.0
    if small.any():
        h = a[small] / 2.0
        term = h.copy()
        total = term.copy()
        hh = h * h
        for k in range(1, 150):  # term_k = term_(k-1) · (x/2)² / (k (k+1))
            term = term * hh / (k * (k + 1))
            total += term
            if (term <= 1e-17 * total).all():
                break
        out[small] = total
    big = ~small
    if big.any():
        ab = a[big]
        # asymptotic: Σ c_k with c_k = c_(k-1) · ((2k-1)² - μ) / (k · 8x), μ = 4ν² = 4
        z = 1.0 / (8.0 * ab)
        c = np.ones_like(ab)
        s = np.ones_like(ab)
        for k in range(1, 20):
            c = c * ((2 * k - 1) ** 2 - 4) / k * z
            s += c
        with np.errstate(over="ignore", invalid="ignore"):  # (±inf: inf / inf, NaN as PyTorch's)
            out[big] = np.exp(ab) / np.sqrt(2.0 * np.pi * ab) * s
    return np.where(x < 0, -out, out).astype(dtype, copy=False)


def i0_array(x: np.ndarray) -> np.ndarray:
    """I₀(x), the modified Bessel function of the first kind of order 0 (NumPy's ``np.i0``),
    in x's floating dtype (np.i0 computes in float64)."""
    x = np.asarray(x)
    dtype = x.dtype if x.dtype.kind == "f" else np.dtype(np.float64)
    with np.errstate(all="ignore"):  # I₀ overflows to inf beyond |x| ≈ 713 (and at ±inf), as PyTorch's
        return np.i0(x).astype(dtype, copy=False)


_TWO_OVER_SQRT_PI = 2.0 / np.sqrt(np.pi)


def erfc_array(x: np.ndarray) -> np.ndarray:
    """erfc on an array: 1 - erf x where that is accurate (x < 0.5), else e^(-x²) times the
    rational pieces that ``erf_array`` uses for 1 - erf."""
    x = np.asarray(x)
    if x.dtype.kind == "f" and x.dtype.itemsize < 4:  # (half precision: in float32, see erf_array)
        return erfc_array(x.astype(np.float32)).astype(x.dtype)
    out = 1.0 - erf_array(x)
    pos = x >= 0.5
    if pos.any():
        y = x[pos]
        mid = np.where(y <= 4.0, _rational(np.minimum(y, 4.0), _C, _D), 0.0)
        big = np.where(y > 4.0, _erfc_big(np.clip(y, 4.0, 30.0)), 0.0)
        out[pos] = np.where(y > 30.0, 0.0, _exp_neg_sq(np.minimum(y, 30.0)) * (mid + big))
    return out.astype(x.dtype, copy=False)


def erfcx_array(x: np.ndarray) -> np.ndarray:
    """erfcx(x) = e^(x²) erfc(x), the scaled complementary error function, without forming the
    product where it would be inf · 0: for x > 0.46875 it is Cody's rational functions that
    ``erf_array`` multiplies by e^(-x²) (their whole range, x → ∞ included: erfcx(∞) = 0);
    below, e^(x²) erfc(x) with e^(x²) split as in ``_exp_neg_sq`` (inf for x < -26.6 in
    float64, as the true value overflows there)."""
    x = np.asarray(x)
    if x.dtype.kind != "f":
        x = x.astype(np.float64)
    if x.dtype.itemsize < 4:  # (half precision: in float32, see erf_array)
        return erfcx_array(x.astype(np.float32)).astype(x.dtype)
    out = np.empty_like(x)
    mid = (x > 0.46875) & (x <= 4.0)
    big = x > 4.0
    rest = ~(mid | big)  # (NaN too)
    out[mid] = _rational(x[mid], _C, _D)
    out[big] = _erfc_big(x[big])
    xr = x[rest]
    with np.errstate(over="ignore", divide="ignore"):  # (|x| clamped at 27, where e^(x²) is past float64's range)
        out[rest] = erfc_array(xr) / _exp_neg_sq(np.minimum(np.abs(xr), 27.0))
    return out


def erfinv_array(x: np.ndarray) -> np.ndarray:
    """erf⁻¹ by Newton's method on erf (quadratic convergence from Giles' single-precision start)."""
    x64 = x.astype(np.float64)
    w = -np.log1p(-x64 * x64)
    # M. Giles, "Approximating the erfinv function" (GPU Gems 2012), central branch: good to
    # ~1e-7 for w < 5; the Newton steps below polish it (and the tails) to float64 accuracy.
    t = w - 2.5
    p: Any = 2.81022636e-08
    for c in (3.43273939e-07, -3.5233877e-06, -4.39150654e-06, 0.00021858087, -0.00125372503, -0.00417768164,
              0.246640727, 1.50140941):
        p = c + p * t
    s = np.sqrt(np.maximum(w, 5.0)) - 3.0
    q: Any = -0.000200214257
    for c in (0.000100950558, 0.00134934322, -0.00367342844, 0.00573950773, -0.0076224613, 0.00943887047,
              1.00167406, 2.83297682):
        q = c + q * s
    with np.errstate(all="ignore"):
        y = np.where(w < 5.0, p, q) * x64
        for _ in range(4):  # Newton: y -= (erf y - x) / erf'(y)
            step = (erf_array(y) - x64) / (_TWO_OVER_SQRT_PI * np.exp(-y * y))
            y = np.where(np.isfinite(step), y - step, y)
    y = np.where(x64 == 1.0, np.inf, np.where(x64 == -1.0, -np.inf, y))
    y = np.where(np.abs(x64) > 1.0, np.nan, y)
    return y.astype(x.dtype, copy=False)


# Bernoulli numbers B_2, B_4, ..., B_14 for the asymptotic series of the polygamma functions
_BERNOULLI = (1 / 6, -1 / 30, 1 / 42, -1 / 30, 5 / 66, -691 / 2730, 7 / 6)


def polygamma_array(n: int, x: np.ndarray) -> np.ndarray:
    """ψ⁽ⁿ⁾(x) = dⁿ⁺¹/dxⁿ⁺¹ ln Γ(x) on an array (n = 0: the digamma function ψ).

    The recurrence ψ⁽ⁿ⁾(x) = ψ⁽ⁿ⁾(x+1) + (-1)ⁿ⁺¹ n!/xⁿ⁺¹ moves every x above 10 + 2n, where
    the asymptotic series in 1/x (Bernoulli numbers, 7 terms) is accurate to float64 rounding.
    Poles (x = 0, -1, -2, ...): ψ gives -inf at 0 and NaN at the negative integers, ψ⁽ⁿ⁾ inf
    or NaN, as PyTorch."""
    x64 = np.asarray(x, dtype=np.float64)
    dtype = x.dtype if np.asarray(x).dtype.kind == "f" else np.dtype(np.float64)
    pole = (x64 <= 0) & (x64 == np.floor(x64))
    z = np.where(pole | ~np.isfinite(x64), 20.0 + 2 * n, x64)
    acc = np.zeros_like(z)
    sign = -1.0 if n == 0 else (-1.0) ** (n + 1) * math.factorial(n)
    big = 10.0 + 2 * n
    while True:
        low = z < big
        if not low.any():
            break
        acc += np.where(low, sign / np.where(low, z, 1.0) ** (n + 1), 0.0)
        z = np.where(low, z + 1.0, z)
    if n == 0:
        series = np.log(z) - 0.5 / z
        zk = z * z
        for k, b in enumerate(_BERNOULLI, start=1):
            series -= b / (2 * k * zk)
            zk = zk * z * z
    else:
        series = math.factorial(n - 1) / z**n + math.factorial(n) / (2 * z ** (n + 1))
        for k, b in enumerate(_BERNOULLI, start=1):
            series += b * math.factorial(2 * k + n - 1) / (math.factorial(2 * k) * z ** (2 * k + n))
        series *= (-1.0) ** (n + 1)
    out = series + acc
    out = np.where(np.isposinf(x64), np.inf if n == 0 else 0.0, out)  # ψ(∞) = ∞, ψ⁽ⁿ⁾(∞) = 0
    out = np.where(np.isnan(x64) | np.isneginf(x64), np.nan, out)
    if pole.any():
        at_zero = -np.inf if n == 0 else (np.inf if n % 2 else np.nan)
        out = np.where(pole, np.where(x64 == 0, at_zero, np.nan if n % 2 == 0 else np.inf), out)
    return out.astype(dtype, copy=False)


def lgamma_array(x: np.ndarray) -> np.ndarray:
    """ln |Γ(x)| elementwise (math.lgamma; +inf at the poles 0, -1, -2, ..., as PyTorch)."""
    x64 = np.asarray(x, dtype=np.float64)
    pole = (x64 <= 0) & (x64 == np.floor(x64))
    safe = np.where(pole | np.isnan(x64), 1.0, x64)
    out = np.vectorize(math.lgamma, otypes=[np.float64])(safe) if safe.size else safe.copy()
    out = np.where(pole, np.inf, np.where(np.isnan(x64), np.nan, out))
    return out.astype(x.dtype if np.asarray(x).dtype.kind == "f" else np.float64, copy=False)
