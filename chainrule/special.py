"""``chainrule.special``: ``torch.special`` — the special functions, most of them the same
functions as at ``chainrule.*`` under SciPy's names, plus a few composed here:

* ``ndtr(x)`` = Φ(x) = ½ (1 + erf(x/√2)) = ½ erfc(-x/√2), the standard normal CDF;
* ``ndtri(p)`` = Φ⁻¹(p) = √2 erfinv(2p - 1);
* ``log_ndtr(x)`` = log Φ(x), from erfcx in the left tail (finite for every finite x);
* ``entr(x)`` = -x ln x (0 at 0, -inf for x < 0);
* ``xlog1py(x, y)`` = x ln(1 + y), 0 where x = 0;
* ``erfcx(x)`` = e^(x²) erfc(x), a primitive (finite for large x; overflows for x < -26).

Gradients come from the functions they are composed of.

Bessel functions (``bessel_j0/j1/y0/y1``, ``modified_bessel_i0/i1/k0/k1``, the scaled K's,
``spherical_bessel_j0``), ``airy_ai``, the orthogonal polynomials (Chebyshev T, U, V, W and
their shifted forms, Hermite H and He, Laguerre L, Legendre P), ``gammainc``/``gammaincc`` and
``zeta`` are computed by ``chainrule.backend.special_more`` (methods and accuracy there).  As in
PyTorch the Bessel, Airy and polynomial functions have no gradient (their results do not
require grad); ``i0``, ``i0e``, ``i1``, ``i1e`` have one; ``gammainc``/``gammaincc`` are
differentiable in x only and ``zeta`` in q only (the other argument raises NotImplementedError
in backward, as PyTorch, and in forward mode when it carries a tangent).  ``i0e``, ``i1e``,
``gammainc``/``gammaincc`` and ``zeta`` are primitives of ``chainrule.ops.pointwise`` (their
reverse- and forward-mode rules side by side); forward mode works in x (q) where PyTorch has
no forward-mode rule for igamma/igammac/zeta at all.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from chainrule import ops as _ops
from chainrule.autograd.grad_mode import STATE
from chainrule.autograd.primitive import apply1, apply2
from chainrule.autograd.tensor import Tensor
from chainrule.backend import special_more as _sm
from chainrule.ops import (
    digamma,
    erf,
    erfc,
    erfinv,
    exp2,
    expm1,
    log1p,
    logit,
    logsumexp,
    polygamma,
    round,
    sinc,
    xlogy,
)
from chainrule.ops import lgamma as gammaln
from chainrule.ops import sigmoid as expit
from chainrule.ops._lift import as_tensor_arg
from chainrule.ops.pointwise import _I1, ERFCX, I0E, I1E, IGAMMA, IGAMMAC, ZETA

psi = digamma

_SQRT1_2 = 1.0 / math.sqrt(2.0)


def _float(x: Any, where: str) -> Tensor:
    from chainrule.backend import get_default_dtype

    t = as_tensor_arg(x, where)
    return t.to(get_default_dtype()) if t.dtype.kind in "biu" else t


def ndtr(input: Tensor) -> Tensor:
    """Φ(x) = ½ erfc(-x/√2), the area under the standard normal density left of x."""
    x = _float(input, "special.ndtr")
    return 0.5 * erfc(-x * _SQRT1_2)


def ndtri(input: Tensor) -> Tensor:
    """Φ⁻¹(p) = √2 erfinv(2p - 1) (±inf at 0 and 1, nan outside [0, 1])."""
    p = _float(input, "special.ndtri")
    return math.sqrt(2.0) * erfinv(2 * p - 1)


def log_ndtr(input: Tensor) -> Tensor:
    """log Φ(x), in two pieces that stay accurate in both tails:

    * x < -1: log(½ erfcx(-x/√2)) - x²/2 (Φ(x) = ½ e^(-x²/2) erfcx(-x/√2); Φ itself underflows
      below x ≈ -38, its log does not);
    * x ≥ -1: log1p(-½ erfc(x/√2)) (Φ = 1 - ½ erfc(x/√2): log Φ ≈ -½ erfc(x/√2) keeps its digits
      when Φ rounds to 1).

    Each piece sees only arguments from its own side of -1, so the other's gradient is never
    inf · 0."""
    x = _float(input, "special.log_ndtr")
    left = Tensor._wrap(np.asarray(x._array < -1.0))
    xl = _ops.clamp(x, max=-1.0)
    xr = _ops.clamp(x, min=-1.0)
    low = _ops.log(0.5 * erfcx(-xl * _SQRT1_2)) - xl * xl * 0.5
    high = log1p(-0.5 * erfc(xr * _SQRT1_2))
    return _ops.where(left, low, high)


def entr(input: Tensor) -> Tensor:
    """-x ln x for x > 0, 0 at x = 0, -inf for x < 0 (nan stays nan)."""
    x = _float(input, "special.entr")
    a = x._array
    pos = Tensor._wrap(a > 0)
    safe = _ops.where(pos, x, 1.0)  # (log never sees x <= 0, so no nan in the gradient)
    out = _ops.where(pos, -x * _ops.log(safe), 0.0)
    return _ops.where(Tensor._wrap(a < 0), Tensor._wrap(np.array(-np.inf, dtype=a.dtype)), out)


def xlog1py(input: Any, other: Any) -> Tensor:
    """x ln(1 + y), 0 where x = 0 (unless y is nan)."""
    x = _float(input if isinstance(input, Tensor) else _ops.tensor(input), "special.xlog1py")
    y = _float(other if isinstance(other, Tensor) else _ops.tensor(other, dtype=x.dtype), "special.xlog1py")
    # replaced by 0 only where x = 0 and log1p(y) is not finite (y <= -1): elsewhere at x = 0 the
    # product is 0 by itself and d/dx = log1p(y), as PyTorch's
    zero = Tensor._wrap(np.asarray((x._array == 0) & (y._array <= -1)))
    safe_y = _ops.where(zero, Tensor._wrap(np.zeros((), y.dtype)), y)
    return _ops.where(zero, Tensor._wrap(np.zeros((), x.dtype)), x * log1p(safe_y))


def erfcx(input: Tensor) -> Tensor:
    """e^(x²) erfc(x), the scaled complementary error function (finite for large x, where the
    product would be inf · 0; ``backend/special.py``)."""
    return apply1(ERFCX, _float(input, "special.erfcx"))


def multigammaln(input: Tensor, p: int) -> Tensor:
    """The multivariate log-gamma ln Γ_p(x) (``chainrule.mvlgamma``)."""
    return _ops.mvlgamma(input, p)


def softmax(input: Tensor, dim: int, *, dtype: Any = None) -> Tensor:
    """softmax along ``dim`` (``dim`` is required here, as in PyTorch)."""
    return _ops.softmax(input, dim, dtype=dtype)


def log_softmax(input: Tensor, dim: int, *, dtype: Any = None) -> Tensor:
    """log softmax along ``dim``."""
    return _ops.log_softmax(input, dim, dtype=dtype)


__all__ = [
    "digamma", "entr", "erf", "erfc", "erfcx", "erfinv", "exp2", "expit", "expm1", "gammaln", "log1p", "log_ndtr",
    "log_softmax", "logit", "logsumexp", "multigammaln", "ndtr", "ndtri", "polygamma", "psi", "round", "sinc",
    "softmax", "xlog1py", "xlogy",
]


# ---------------------------------------------------------------- Bessel, Airy, gamma, zeta, polynomials
# The array routines live in ``chainrule.backend.special_more`` (methods and accuracy there).


def _into(res: Tensor, out: Tensor | None) -> Tensor:
    """``res``, or, given ``out=``, ``out`` with res's values written into it (PyTorch's out arguments)."""
    if out is None:
        return res
    out.copy_(res)
    return out


def _out(arr: Any, dtype: Any) -> Tensor:
    return Tensor._wrap(np.asarray(arr).astype(dtype, copy=False))


def _unary_nograd(fn: Any, name: str, doc: str) -> Any:
    """A function of one tensor with no gradient (PyTorch records none: the result does not
    require grad, so ``backward`` through it fails as in PyTorch)."""

    def f(input: Tensor, *, out: Tensor | None = None) -> Tensor:
        x = _float(input, f"special.{name}")
        res = _out(fn(x._array), x.dtype)
        return _into(res, out)

    f.__name__ = f.__qualname__ = name
    f.__doc__ = doc + " Method and accuracy: ``chainrule.backend.special_more``."
    return f


airy_ai = _unary_nograd(_sm.airy_ai_array, "airy_ai", "Ai(x), the Airy function of the first kind (no gradient).")
bessel_j0 = _unary_nograd(_sm.bessel_j0_array, "bessel_j0",
                          "J₀(x), the Bessel function of the first kind (no gradient).")
bessel_j1 = _unary_nograd(_sm.bessel_j1_array, "bessel_j1",
                          "J₁(x), the Bessel function of the first kind (no gradient).")
bessel_y0 = _unary_nograd(_sm.bessel_y0_array, "bessel_y0",
                          "Y₀(x), the Bessel function of the second kind: -inf at 0, NaN below (no gradient).")
bessel_y1 = _unary_nograd(_sm.bessel_y1_array, "bessel_y1",
                          "Y₁(x), the Bessel function of the second kind: -inf at 0, NaN below (no gradient).")
modified_bessel_i0 = _unary_nograd(_sm.i0_full_array, "modified_bessel_i0", "I₀(x) (no gradient; ``i0`` has one).")
modified_bessel_i1 = _unary_nograd(_sm.i1_full_array, "modified_bessel_i1", "I₁(x) (no gradient; ``i1`` has one).")
modified_bessel_k0 = _unary_nograd(_sm.modified_bessel_k0_array, "modified_bessel_k0",
                                   "K₀(x): inf at 0, NaN for x < 0 (no gradient).")
modified_bessel_k1 = _unary_nograd(_sm.modified_bessel_k1_array, "modified_bessel_k1",
                                   "K₁(x): inf at 0, NaN for x < 0 (no gradient).")
scaled_modified_bessel_k0 = _unary_nograd(_sm.scaled_modified_bessel_k0_array, "scaled_modified_bessel_k0",
                                          "eˣ K₀(x) (no gradient).")
scaled_modified_bessel_k1 = _unary_nograd(_sm.scaled_modified_bessel_k1_array, "scaled_modified_bessel_k1",
                                          "eˣ K₁(x) (no gradient).")
spherical_bessel_j0 = _unary_nograd(_sm.spherical_bessel_j0_array, "spherical_bessel_j0",
                                    "j₀(x) = sin(x)/x, 1 at 0 (no gradient).")


def _no_tangent(t: Tensor, message: str) -> None:
    """Forward mode: the argument PyTorch has no derivative for must not carry a tangent (its
    reverse mode raises the same NotImplementedError when the argument needs a gradient)."""
    if STATE.forward_depth > 0 and getattr(t, "_tangent", None) is not None:
        raise NotImplementedError(message)


def i0(input: Tensor, *, out: Tensor | None = None) -> Tensor:
    """I₀(x), the modified Bessel function of order 0 (``chainrule.i0``); dI₀/dx = I₁."""
    res = _ops.i0(_float(input, "special.i0"))
    return _into(res, out)


def i0e(input: Tensor) -> Tensor:
    """e^(-|x|) I₀(x), finite for all x (series below |x| = 30, asymptotic series above);
    d/dx = I₁e(x) - sign(x) I₀e(x)."""
    return apply1(I0E, _float(input, "special.i0e"))


def i1(input: Tensor) -> Tensor:
    """I₁(x), the modified Bessel function of order 1; d/dx = I₀(x) - I₁(x)/x (½ at 0)."""
    return apply1(_I1(), _float(input, "special.i1"))  # (the primitive behind I₀'s derivative)


def i1e(input: Tensor) -> Tensor:
    """e^(-|x|) I₁(x); d/dx = I₀e(x) - I₁e(x) (sign x + 1/x) (½ at 0)."""
    return apply1(I1E, _float(input, "special.i1e"))


def _pair(a: Any, b: Any, where: str) -> tuple[Tensor, Tensor]:
    """Two arguments made tensors of one floating dtype: two tensors promote; a Python number
    takes the tensor's dtype; integer results become the default float dtype."""
    from chainrule.backend import get_default_dtype

    if not isinstance(a, Tensor) and not isinstance(b, Tensor):
        raise TypeError(f"{where}: expected at least one Tensor argument")
    tensors = [as_tensor_arg(v, where) for v in (a, b) if isinstance(v, Tensor)]
    dt = np.result_type(*[t._array.dtype for t in tensors])
    if dt.kind != "f":
        dt = np.dtype(get_default_dtype())

    def cast(v: Any) -> Tensor:
        if not isinstance(v, Tensor):
            return Tensor._wrap(np.asarray(v, dtype=dt))
        return v if v._array.dtype == dt else v.to(dt)  # (.to keeps the graph)

    return cast(a), cast(b)


def gammainc(input: Any, other: Any, *, out: Tensor | None = None) -> Tensor:
    """P(a, x) = γ(a, x)/Γ(a) = 1/Γ(a) ∫₀ˣ t^(a-1) e^(-t) dt, the regularised lower incomplete
    gamma function (a = input, x = other; NaN for a < 0 or x < 0).  Series for x < a + 1,
    Lentz's continued fraction for Q above (relative error ~1e-14).  Differentiable in x only."""
    a, x = _pair(input, other, "special.gammainc")
    _no_tangent(a, "the derivative for 'igamma: input' is not implemented.")
    res = apply2(IGAMMA, a, x)
    return _into(res, out)


def gammaincc(input: Any, other: Any, *, out: Tensor | None = None) -> Tensor:
    """Q(a, x) = 1 - P(a, x), the regularised upper incomplete gamma function."""
    a, x = _pair(input, other, "special.gammaincc")
    _no_tangent(a, "the derivative for 'igammac: input' is not implemented.")
    res = apply2(IGAMMAC, a, x)
    return _into(res, out)


def zeta(input: Any, other: Any, *, out: Tensor | None = None) -> Tensor:
    """The Hurwitz zeta function ζ(s, q) = Σ_{k>=0} (q + k)^(-s) (s = input > 1, q = other):
    Euler–Maclaurin summation (relative error ~1e-15); inf at s = 1 and q = 0, -1, ...; NaN for s < 1.
    Differentiable in q only."""
    s, q = _pair(input, other, "special.zeta")
    _no_tangent(s, "the derivative for 'zeta' is not implemented.")
    res = apply2(ZETA, s, q)
    return _into(res, out)


def _polynomial(kind: str, name: str, doc: str) -> Any:
    def f(input: Any, n: Any, *, out: Tensor | None = None) -> Tensor:
        x, nn = _pair(input, n, f"special.{name}")
        res = _out(_sm.polynomial_array(kind, x._array, nn._array), x.dtype)
        return _into(res, out)

    f.__name__ = f.__qualname__ = name
    f.__doc__ = doc + (" x and n broadcast (n a tensor or a number, truncated to an integer; 0 for "
                       "n < 0). By the three-term recurrence in float64; no gradient, as PyTorch.")
    return f


chebyshev_polynomial_t = _polynomial("t", "chebyshev_polynomial_t", "Tₙ(x): T₀ = 1, T₁ = x, Tₖ₊₁ = 2x Tₖ - Tₖ₋₁.")
chebyshev_polynomial_u = _polynomial("u", "chebyshev_polynomial_u", "Uₙ(x): U₀ = 1, U₁ = 2x, Uₖ₊₁ = 2x Uₖ - Uₖ₋₁.")
chebyshev_polynomial_v = _polynomial("v", "chebyshev_polynomial_v", "Vₙ(x): V₀ = 1, V₁ = 2x - 1, Vₖ₊₁ = 2x Vₖ - Vₖ₋₁.")
chebyshev_polynomial_w = _polynomial("w", "chebyshev_polynomial_w", "Wₙ(x): W₀ = 1, W₁ = 2x + 1, Wₖ₊₁ = 2x Wₖ - Wₖ₋₁.")
shifted_chebyshev_polynomial_t = _polynomial("st", "shifted_chebyshev_polynomial_t", "T*ₙ(x) = Tₙ(2x - 1).")
shifted_chebyshev_polynomial_u = _polynomial("su", "shifted_chebyshev_polynomial_u", "U*ₙ(x) = Uₙ(2x - 1).")
shifted_chebyshev_polynomial_v = _polynomial("sv", "shifted_chebyshev_polynomial_v", "V*ₙ(x) = Vₙ(2x - 1).")
shifted_chebyshev_polynomial_w = _polynomial("sw", "shifted_chebyshev_polynomial_w", "W*ₙ(x) = Wₙ(2x - 1).")
hermite_polynomial_h = _polynomial("h", "hermite_polynomial_h",
                                   "Hₙ(x) (physicists'): H₀ = 1, H₁ = 2x, Hₖ₊₁ = 2x Hₖ - 2k Hₖ₋₁.")
hermite_polynomial_he = _polynomial("he", "hermite_polynomial_he",
                                    "Heₙ(x) (probabilists'): He₀ = 1, He₁ = x, Heₖ₊₁ = x Heₖ - k Heₖ₋₁.")
laguerre_polynomial_l = _polynomial("l", "laguerre_polynomial_l",
                                    "Lₙ(x): L₀ = 1, L₁ = 1 - x, (k+1) Lₖ₊₁ = (2k+1-x) Lₖ - k Lₖ₋₁.")
legendre_polynomial_p = _polynomial("p", "legendre_polynomial_p",
                                    "Pₙ(x): P₀ = 1, P₁ = x, (k+1) Pₖ₊₁ = (2k+1) x Pₖ - k Pₖ₋₁.")

__all__ += [
    "airy_ai", "bessel_j0", "bessel_j1", "bessel_y0", "bessel_y1", "chebyshev_polynomial_t", "chebyshev_polynomial_u",
    "chebyshev_polynomial_v", "chebyshev_polynomial_w", "gammainc", "gammaincc", "hermite_polynomial_h",
    "hermite_polynomial_he", "i0", "i0e", "i1", "i1e", "laguerre_polynomial_l", "legendre_polynomial_p",
    "modified_bessel_i0", "modified_bessel_i1", "modified_bessel_k0", "modified_bessel_k1",
    "scaled_modified_bessel_k0", "scaled_modified_bessel_k1", "shifted_chebyshev_polynomial_t",
    "shifted_chebyshev_polynomial_u", "shifted_chebyshev_polynomial_v", "shifted_chebyshev_polynomial_w",
    "spherical_bessel_j0", "zeta",
]
