"""Reductions: sum, mean, max/min, var/std, logsumexp, softmax, log_softmax, argmax.

``dim`` follows PyTorch: None (all axes), an int, or a tuple of ints, negative
allowed; ``keepdim`` keeps reduced axes with size 1.  The vjp of a reduction
puts back the reduced axes (``_restore``) and broadcasts.
"""

from __future__ import annotations

import builtins
from typing import Any

import numpy as np

from chainrule.autograd.primitive import Primitive, apply1
from chainrule.autograd.tensor import Tensor
from chainrule.backend import get_default_dtype
from chainrule.ops._lift import as_tensor_arg


def normalize_dims(dim: Any, ndim: int, op: str) -> tuple:
    """dim -> sorted tuple of non-negative axes; None means every axis."""
    if dim is None:
        return tuple(range(ndim))
    dims = (dim,) if isinstance(dim, (int, np.integer)) else tuple(dim)
    out = []
    for d in dims:
        d = int(d)
        if not -builtins.max(ndim, 1) <= d < builtins.max(ndim, 1):
            raise IndexError(
                f"{op}(): dimension out of range (expected to be in range of "
                f"[{-builtins.max(ndim, 1)}, {builtins.max(ndim, 1) - 1}], but got {d})"
            )
        out.append(d % builtins.max(ndim, 1))
    if len(set(out)) != len(out):
        raise ValueError(f"{op}(): dim {dim} appears more than once")
    return tuple(sorted(out)) if ndim else ()


def _kept_shape(shape: tuple, axes: tuple) -> tuple:
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


class _Reduction(Primitive):
    __slots__ = ("axes", "keepdim")

    def __init__(self, axes: tuple, keepdim: bool) -> None:
        self.axes = axes
        self.keepdim = keepdim

    def _restore(self, m, g, x):
        """g with the reduced axes put back (size 1), ready to broadcast against x."""
        if self.keepdim or not self.axes or g.ndim == 0:  # (a 0-d g broadcasts as it is)
            return g
        return m.reshape(g, _kept_shape(x.shape, self.axes))


class Sum(_Reduction):
    """y = Σ_axes x;  dy/dx = 1 (the adjoint is copied to every summed element)."""

    name = "sum"
    saves_inputs = ()
    saves_output = False

    def forward(self, x):
        return x.sum(axis=self.axes, keepdims=self.keepdim)

    def vjp(self, m, need, g, y, x):
        return (m.broadcast_to(self._restore(m, g, x), x.shape),)

    def jvp(self, m, dxs, y, x):
        return m.sum(dxs[0], self.axes, self.keepdim)


class Mean(_Reduction):
    """y = (1/N) Σ_axes x;  dy/dx = 1/N."""

    name = "mean"
    saves_inputs = ()
    saves_output = False

    def forward(self, x):
        return x.mean(axis=self.axes, keepdims=self.keepdim)

    def _count(self, x):
        n = 1
        for a in self.axes:
            n *= x.shape[a]
        return n

    def vjp(self, m, need, g, y, x):
        return (m.broadcast_to(self._restore(m, g, x) / self._count(x), x.shape),)

    def jvp(self, m, dxs, y, x):
        return m.mean(dxs[0], self.axes, self.keepdim)


class Amax(_Reduction):
    """y = max over axes;  the adjoint is shared equally among the maximal elements."""

    name = "amax"

    def forward(self, x):
        return x.max(axis=self.axes, keepdims=self.keepdim)

    def _share(self, m, y, x):
        hit = m.astype(x == self._restore(m, y, x), x.dtype)  # in x's dtype: bool / int64 is float64
        return hit / m.sum(hit, self.axes, True)

    def vjp(self, m, need, g, y, x):
        return (self._share(m, y, x) * self._restore(m, g, x),)

    def jvp(self, m, dxs, y, x):
        return m.sum(self._share(m, y, x) * dxs[0], self.axes, self.keepdim)


class Amin(Amax):
    """y = min over axes;  the adjoint is shared equally among the minimal elements."""

    name = "amin"

    def forward(self, x):
        return x.min(axis=self.axes, keepdims=self.keepdim)


class Var(_Reduction):
    """y = Σ (x - x̄)² / (N - correction);  dy/dx = 2 (x - x̄) / (N - correction)."""

    __slots__ = ("correction",)
    name = "var"
    saves_inputs = (0,)
    saves_output = False

    def __init__(self, axes: tuple, keepdim: bool, correction: float) -> None:
        super().__init__(axes, keepdim)
        self.correction = correction

    def _dof(self, x):
        n = 1
        for a in self.axes:
            n *= x.shape[a]
        return n - self.correction

    def forward(self, x):
        return x.var(axis=self.axes, keepdims=self.keepdim, ddof=self.correction)

    def _dydx(self, m, x):
        return (x - m.mean(x, self.axes, True)) * (2.0 / self._dof(x))

    def vjp(self, m, need, g, y, x):
        return (self._dydx(m, x) * self._restore(m, g, x),)

    def jvp(self, m, dxs, y, x):
        return m.sum(self._dydx(m, x) * dxs[0], self.axes, self.keepdim)


class LogSumExp(_Reduction):
    """y = log Σ e^x, computed as c + log Σ e^(x - c) with c = max x (no overflow);  dy/dx = e^(x - y) = softmax(x)."""

    name = "logsumexp"

    def forward(self, x):
        c = x.max(axis=self.axes, keepdims=True)
        c = np.where(np.isfinite(c), c, 0)  # all -inf (or inf) along an axis: no shift
        s = np.log(np.exp(x - c).sum(axis=self.axes, keepdims=True)) + c
        return s if self.keepdim else s.squeeze(axis=self.axes)

    def vjp(self, m, need, g, y, x):
        return (m.exp(x - self._restore(m, y, x)) * self._restore(m, g, x),)

    def jvp(self, m, dxs, y, x):
        return m.sum(m.exp(x - self._restore(m, y, x)) * dxs[0], self.axes, self.keepdim)


class Softmax(Primitive):
    """y_k = e^(x_k) / Σ_m e^(x_m) along ``dim``.

    Jacobian (the notes' softmax Jacobian): dy_k/dx_j = y_k (δ_kj - y_j), so
    vjp: g ↦ y ⊙ (g - Σ_k g_k y_k).
    """

    __slots__ = ("dim",)
    name = "softmax"
    saves_inputs = ()

    def __init__(self, dim: int) -> None:
        self.dim = dim

    def forward(self, x):
        c = x.max(axis=self.dim, keepdims=True)
        e = np.exp(x - np.where(np.isfinite(c), c, 0))
        return e / e.sum(axis=self.dim, keepdims=True)

    def vjp(self, m, need, g, y, x):
        return (y * (g - m.sum(g * y, (self.dim,), True)),)

    def jvp(self, m, dxs, y, x):
        dx = dxs[0]
        return y * (dx - m.sum(dx * y, (self.dim,), True))


class LogSoftmax(Primitive):
    """y = x - logsumexp(x) along ``dim`` (stable);  vjp: g ↦ g - softmax(x) Σ g."""

    __slots__ = ("dim",)
    name = "log_softmax"
    saves_inputs = ()

    def __init__(self, dim: int) -> None:
        self.dim = dim

    def forward(self, x):
        c = x.max(axis=self.dim, keepdims=True)
        z = x - np.where(np.isfinite(c), c, 0)
        return z - np.log(np.exp(z).sum(axis=self.dim, keepdims=True))

    def vjp(self, m, need, g, y, x):
        return (g - m.exp(y) * m.sum(g, (self.dim,), True),)

    def jvp(self, m, dxs, y, x):
        dx = dxs[0]
        return dx - m.sum(m.exp(y) * dx, (self.dim,), True)


# ---------------------------------------------------------------- public functions
def _floating(input: Any, dtype: Any = None) -> Tensor:
    """``input`` in ``dtype`` if given; integer/bool tensors in the default float dtype
    (NumPy would make float64 of them)."""
    if dtype is not None:
        return input.to(dtype)
    if isinstance(input, Tensor) and input.data.dtype.kind in "biu":
        return input.to(get_default_dtype())
    return input


def _reduce(cls, input, dim, keepdim, name, *extra):
    input = as_tensor_arg(input, name)
    axes = normalize_dims(dim, input.ndim, name)
    return apply1(cls(axes, keepdim, *extra), input)


def sum(input: Tensor, dim: Any = None, keepdim: bool = False, *, dtype: Any = None, axis: Any = None,
        keepdims: bool | None = None) -> Tensor:
    """Σ over ``dim`` (all axes by default)."""
    dim = axis if dim is None else dim
    keepdim = keepdims if keepdims is not None else keepdim
    if dtype is not None:
        input = input.to(dtype)
    elif input.data.dtype.kind in "bi":
        input = input.to(np.int64)
    return _reduce(Sum, input, dim, keepdim, "sum")


def mean(input: Tensor, dim: Any = None, keepdim: bool = False, *, dtype: Any = None, axis: Any = None,
         keepdims: bool | None = None) -> Tensor:
    """Arithmetic mean over ``dim``."""
    dim = axis if dim is None else dim
    keepdim = keepdims if keepdims is not None else keepdim
    if dtype is not None:
        input = input.to(dtype)
    if input.data.dtype.kind not in "fc":
        raise RuntimeError(
            f"mean(): could not infer output dtype. Input dtype must be floating point, got {input.dtype}"
        )
    return _reduce(Mean, input, dim, keepdim, "mean")


def amax(input: Tensor, dim: Any = None, keepdim: bool = False) -> Tensor:
    return _reduce(Amax, input, dim, keepdim, "amax")


def amin(input: Tensor, dim: Any = None, keepdim: bool = False) -> Tensor:
    return _reduce(Amin, input, dim, keepdim, "amin")


class _ValuesIndices(tuple):
    """(values, indices) with attribute access, like torch.return_types.max."""

    @property
    def values(self):
        return self[0]

    @property
    def indices(self):
        return self[1]


def max(input: Tensor, dim: Any = None, keepdim: bool = False) -> Any:
    """max(x): the largest element; max(x, dim): (values, indices); max(a, b): elementwise."""
    if isinstance(dim, Tensor):
        from chainrule.ops.elementwise import maximum

        return maximum(input, dim)
    if dim is None:
        return amax(input)
    return _ValuesIndices((amax(input, dim, keepdim), argmax(input, dim, keepdim)))


def min(input: Tensor, dim: Any = None, keepdim: bool = False) -> Any:
    """min(x): the smallest element; min(x, dim): (values, indices); min(a, b): elementwise."""
    if isinstance(dim, Tensor):
        from chainrule.ops.elementwise import minimum

        return minimum(input, dim)
    if dim is None:
        return amin(input)
    return _ValuesIndices((amin(input, dim, keepdim), argmin(input, dim, keepdim)))


def var(input: Tensor, dim: Any = None, unbiased: bool | None = None, keepdim: bool = False, *,
        correction: float | None = None) -> Tensor:
    """Variance with Bessel's correction by default (correction=1), as PyTorch."""
    if isinstance(dim, bool) and unbiased is None:  # var(x, False): the old positional 'unbiased'
        unbiased, dim = dim, None
    if correction is None:
        correction = 0 if unbiased is False else 1
    return _reduce(Var, _floating(input), dim, keepdim, "var", correction)


def std(input: Tensor, dim: Any = None, unbiased: bool | None = None, keepdim: bool = False, *,
        correction: float | None = None) -> Tensor:
    """Standard deviation = sqrt(var)."""
    from chainrule.ops.elementwise import sqrt

    return sqrt(var(input, dim, unbiased, keepdim, correction=correction))


def logsumexp(input: Tensor, dim: Any, keepdim: bool = False) -> Tensor:
    """log Σ exp(x) over ``dim``, stable for large |x|."""
    return _reduce(LogSumExp, _floating(input), dim, keepdim, "logsumexp")


def _one_dim(input: Tensor, dim: Any, name: str) -> int:
    if dim is None:
        dim = 0 if input.ndim in (0, 1, 3) else 1  # PyTorch's legacy implicit choice
    return normalize_dims(dim, input.ndim, name)[0] if input.ndim else 0


def softmax(input: Tensor, dim: Any = None, dtype: Any = None) -> Tensor:
    """softmax along ``dim``: y_k = e^(x_k)/Σ_m e^(x_m)."""
    input = _floating(as_tensor_arg(input, "softmax"), dtype)
    return apply1(Softmax(_one_dim(input, dim, "softmax")), input)


def log_softmax(input: Tensor, dim: Any = None, dtype: Any = None) -> Tensor:
    """log(softmax(x)) along ``dim``, computed stably as x - logsumexp(x)."""
    input = _floating(as_tensor_arg(input, "log_softmax"), dtype)
    return apply1(LogSoftmax(_one_dim(input, dim, "log_softmax")), input)


def _arg(fn, input, dim, keepdim):
    input = as_tensor_arg(input, fn.__name__)
    if dim is None:
        return Tensor._wrap(np.asarray(fn(input.data), dtype=np.int64))
    d = normalize_dims(dim, input.ndim, fn.__name__)[0]
    out = fn(input.data, axis=d, keepdims=keepdim)
    return Tensor._wrap(out.astype(np.int64, copy=False))


def argmax(input: Tensor, dim: Any = None, keepdim: bool = False) -> Tensor:
    """Index of the largest element (flattened if dim is None); no gradient."""
    return _arg(np.argmax, input, dim, keepdim)


def argmin(input: Tensor, dim: Any = None, keepdim: bool = False) -> Tensor:
    """Index of the smallest element (flattened if dim is None); no gradient."""
    return _arg(np.argmin, input, dim, keepdim)


def any(input: Tensor, dim: Any = None, keepdim: bool = False) -> Tensor:
    axes = normalize_dims(dim, input.ndim, "any")
    return Tensor._wrap(np.any(input.data, axis=axes, keepdims=keepdim))


def all(input: Tensor, dim: Any = None, keepdim: bool = False) -> Tensor:
    axes = normalize_dims(dim, input.ndim, "all")
    return Tensor._wrap(np.all(input.data, axis=axes, keepdims=keepdim))
