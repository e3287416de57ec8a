"""Helpers shared by the distributions: lazy parameters, probs ↔ logits conversions, noise."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from chainrule.autograd.primitive import Primitive, apply
from chainrule.autograd.tensor import Tensor
from chainrule.backend.random import default_generator
from chainrule.backend.special import polygamma_array

__all__ = [
    "lazy_property", "clamp_probs", "probs_to_logits", "logits_to_probs", "standard_normal", "uniform",
    "standard_gamma", "constant", "sum_rightmost", "lgamma", "digamma", "where_mask",
]


class lazy_property:
    """A parameter computed from the other one on first use, then stored on the instance.

    A non-data descriptor: once computed, the instance attribute shadows it.  So
    ``'probs' in d.__dict__`` tells whether ``probs`` was given or not yet needed.
    """

    def __init__(self, fn: Callable[[Any], Any]) -> None:
        self.fn = fn
        self.__doc__ = fn.__doc__
        self.name = fn.__name__

    def __get__(self, instance: Any, owner: Any = None) -> Any:
        if instance is None:
            return self
        value = self.fn(instance)
        instance.__dict__[self.name] = value
        return value


def clamp_probs(probs: Tensor) -> Tensor:
    """Probabilities clamped to [ε, 1 − ε] (ε the dtype's machine epsilon), so that their logs are finite."""
    eps = float(np.finfo(probs.dtype).eps)
    return probs.clamp(min=eps, max=1 - eps)


def probs_to_logits(probs: Tensor, is_binary: bool = False) -> Tensor:
    """log p (categorical), or log p − log(1 − p) (binary), from clamped probabilities."""
    p = clamp_probs(probs)
    if is_binary:
        return p.log() - (-p).log1p()
    return p.log()


def logits_to_probs(logits: Tensor, is_binary: bool = False) -> Tensor:
    """σ(l) (binary), or softmax over the last dimension (categorical)."""
    from chainrule.ops import softmax

    if is_binary:
        return logits.sigmoid()
    return softmax(logits, -1)


def standard_normal(shape: tuple[int, ...], dtype: Any) -> Tensor:
    """N(0, 1) noise from the global generator (``cr.manual_seed``)."""
    return Tensor._wrap(default_generator().standard_normal(shape).astype(dtype, copy=False))


def uniform(shape: tuple[int, ...], dtype: Any) -> Tensor:
    """U[0, 1) noise from the global generator."""
    return Tensor._wrap(default_generator().random(shape).astype(dtype, copy=False))


def constant(value: Any, like: Tensor, shape: tuple[int, ...] | None = None) -> Tensor:
    """A Tensor without gradient holding ``value`` (a number or array) in ``like``'s dtype."""
    arr = np.asarray(value, dtype=like.dtype)
    if shape is not None:
        arr = np.broadcast_to(arr, shape).copy()
    return Tensor._wrap(arr)


def lgamma(x: Tensor) -> Tensor:
    """log Γ(x), differentiable (``chainrule.lgamma``)."""
    from chainrule.ops import lgamma as op

    return op(x)


def digamma(x: Tensor) -> Tensor:
    """ψ(x) = d log Γ(x)/dx, differentiable (``chainrule.digamma``)."""
    from chainrule.ops import digamma as op

    return op(x)


def where_mask(mask: Any, a: Tensor, b: Tensor) -> Tensor:
    """``a`` where the host boolean array ``mask`` is true, else ``b`` (all three broadcast)."""
    from chainrule.ops import where

    shape = np.broadcast_shapes(np.shape(mask), a.shape, b.shape)
    return where(Tensor._wrap(np.broadcast_to(np.asarray(mask, dtype=bool), shape).copy()), a, b)


def sum_rightmost(value: Tensor, dim: int) -> Tensor:
    """``value`` summed over its ``dim`` right-most dimensions (unchanged for dim ≤ 0)."""
    if dim <= 0:
        return value
    return value.reshape(*(tuple(value.shape[: value.ndim - dim]) + (-1,))).sum(-1)


def open_uniform(shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    """U(0, 1) noise kept away from 0 and 1 by the dtype's smallest normal number and epsilon."""
    info = np.finfo(dtype)
    return np.clip(default_generator().random(shape), float(info.tiny), 1 - float(info.eps)).astype(dtype)


# --------------------------------------------------------------------------- Gamma draws
# Implicit reparameterisation (Figurnov et al., 2018): a draw x = F⁻¹(u; α) of Gamma(α, 1) moves
# with α as dx/dα = −(∂F/∂α)(x; α) / p(x; α), F the regularised lower incomplete gamma function
# P(α, x) = Σₙ xᵅ⁺ⁿ e⁻ˣ / Γ(α + n + 1).  Differentiating the series term by term and dividing by
# p(x) = xᵅ⁻¹ e⁻ˣ / Γ(α) leaves a series with no exponentials:
#     dx/dα = −Σₙ rₙ (log x − ψ(α + n + 1)),   r₀ = x/α,  rₙ = rₙ₋₁ · x / (α + n).
_SERIES_MAX_ALPHA = 1e6


def _gamma_dx_dalpha(x: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """dx/dα of a Gamma(α, 1) draw x, in float64 (shapes broadcast)."""
    x64, a64 = np.broadcast_arrays(np.asarray(x, np.float64), np.asarray(alpha, np.float64))
    x64 = np.maximum(x64, np.finfo(np.float64).tiny)
    out = np.empty(x64.shape)
    big = a64 > _SERIES_MAX_ALPHA
    small = ~big
    if small.any():
        xs, a = x64[small], a64[small]
        logx = np.log(xs)
        r = xs / a
        psi = polygamma_array(0, a) + 1 / a          # ψ(α + 1)
        total = r * (logx - psi)
        n = 0
        # the terms grow while α + n < x, then shrink like a Gaussian tail of width √x
        limit = int(np.max(xs - a)) + int(12 * np.sqrt(np.max(xs))) + 60 if xs.size else 0
        while n < max(limit, 0):
            n += 1
            r = r * xs / (a + n)
            psi = psi + 1 / (a + n)
            term = r * (logx - psi)
            total = total + term
            if n % 16 == 0 and np.all(np.abs(term) <= 1e-17 * np.abs(total) + 1e-300):
                break
        out[small] = -total
    if big.any():
        # very large α: the Wilson–Hilferty form x = α (1 − 1/(9α) + z / (3√α))³ holds to O(1/α);
        # z is kept fixed while α moves
        xb, a = x64[big], a64[big]
        c = np.cbrt(xb / a)
        z = (c - 1 + 1 / (9 * a)) * 3 * np.sqrt(a)
        out[big] = c**3 + 3 * a * c**2 * (1 / (9 * a**2) - z / (6 * a**1.5))
    return out


class _StandardGamma(Primitive):
    """x ~ Gamma(α, 1) drawn beforehand; dx/dα by implicit reparameterisation (``_gamma_dx_dalpha``)."""

    __slots__ = ("x",)
    name = "standard_gamma"
    saves_output = True

    def __init__(self, x: np.ndarray) -> None:
        self.x = x

    def forward(self, m: Any, alpha: Any) -> Any:
        return self.x

    def _d(self, y: Any, alpha: Any) -> Any:
        arr = getattr(y, "_array", y)
        a = getattr(alpha, "_array", alpha)
        return _gamma_dx_dalpha(arr, a).astype(arr.dtype)

    def vjp(self, m: Any, need: tuple, g: Any, y: Any, alpha: Any) -> tuple:
        return (g * self._d(y, alpha),)

    def jvp(self, m: Any, dxs: tuple, y: Any, alpha: Any) -> Any:
        return dxs[0] * self._d(y, alpha)


def standard_gamma(alpha: Tensor, shape: tuple[int, ...]) -> Tensor:
    """Gamma(α, 1) draws of ``shape`` (α broadcast to it) from the global generator.

    Differentiable in α by implicit reparameterisation; draws are kept ≥ the dtype's smallest
    normal number (a draw that underflows to 0 would have log 0 = −∞).
    """
    a = np.broadcast_to(alpha._array, shape)
    tiny = float(np.finfo(alpha.dtype).tiny)
    x = np.maximum(default_generator().standard_gamma(a.astype(np.float64)), tiny).astype(alpha.dtype)
    expanded = alpha if alpha.shape == shape else alpha.expand(*shape)
    return apply(_StandardGamma(x), expanded)


# --------------------------------------------------------------------------- incomplete gamma
def _log_gamma_density(a: np.ndarray, x: np.ndarray) -> np.ndarray:
    """log of xᵃ⁻¹ e⁻ˣ / Γ(a), for x > 0."""
    from chainrule.backend.special import lgamma_array

    return (a - 1) * np.log(x) - x - lgamma_array(a)


def regularized_gamma_p(a: np.ndarray, x: np.ndarray) -> np.ndarray:
    """P(a, x) = γ(a, x)/Γ(a), the cdf of Gamma(a, 1) at x, in float64: 0 for x ≤ 0, else
    ``torch.special.gammainc``'s series and continued fraction (backend/special_more.py)."""
    from chainrule.backend.special_more import gammainc_array

    a64, x64 = np.broadcast_arrays(np.asarray(a, np.float64), np.asarray(x, np.float64))
    return np.where(x64 > 0, gammainc_array(a64, np.maximum(x64, 0.0)), 0.0)


class _GammaCdf(Primitive):
    """P(a, x) with dP/dx = the Gamma(a, 1) density and dP/da = −p(x) dx/da (the implicit-gradient series)."""

    name = "regularized_gamma_p"
    saves_output = False

    def forward(self, m: Any, a: Any, x: Any) -> Any:
        return regularized_gamma_p(a, x).astype(np.result_type(a, x))

    @staticmethod
    def _partials(a: Any, x: Any, need_a: bool = True) -> tuple:
        """(dP/da or None, dP/dx) as arrays in the inputs' dtype."""
        a_arr, x_arr = (np.asarray(getattr(v, "_array", v), np.float64) for v in (a, x))
        a_arr, x_arr = np.broadcast_arrays(a_arr, x_arr)
        inside = x_arr > 0
        safe_x = np.where(inside, x_arr, 1.0)
        density = np.where(inside, np.exp(_log_gamma_density(a_arr, safe_x)), 0.0)
        dtype = np.result_type(getattr(a, "dtype", np.float64), getattr(x, "dtype", np.float64))
        da = (-density * np.where(inside, _gamma_dx_dalpha(safe_x, a_arr), 0.0)).astype(dtype) if need_a else None
        return da, density.astype(dtype)

    def vjp(self, m: Any, need: tuple, g: Any, y: Any, a: Any, x: Any) -> tuple:
        da, dx = self._partials(a, x, need[0])
        return (g * da if need[0] else None), (g * dx if need[1] else None)

    def jvp(self, m: Any, dxs: tuple, y: Any, a: Any, x: Any) -> Any:
        da, dx = self._partials(a, x)
        return dxs[0] * da + dxs[1] * dx


def gamma_cdf(a: Tensor, x: Tensor) -> Tensor:
    """P(a, x), the regularised lower incomplete gamma function, differentiable in a and x."""
    return apply(_GammaCdf(), a, x)
