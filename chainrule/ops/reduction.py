"""Reductions: sum, mean, prod, max/min, var/std, logsumexp, softmax, log_softmax, argmax.

``dim`` follows PyTorch: None (all axes), an int or a tuple of ints, negative allowed;
``keepdim`` keeps reduced axes with size 1.  A vjp puts back the reduced axes (``_restore``).

Degenerate inputs give PyTorch's answers, quietly (no NumPy RuntimeWarning): over an
empty dimension Σ = 0, Π = 1, mean/var/std = NaN, logsumexp = -inf, softmax is empty,
and max/amax/argmax raise (IndexError naming the dim; RuntimeError without a dim);
var/std with N - correction <= 0 warn as PyTorch and divide by 0 (NaN or inf, never a
ZeroDivisionError); softmax shifts by the row maximum whatever it is, so a row holding
+inf, only -inf, or a NaN is NaN.
"""

from __future__ import annotations

import builtins
import contextlib
import math
import warnings
from typing import Any

import numpy as np

from chainrule.autograd.primitive import Primitive, apply1, kernel
from chainrule.autograd.tensor import Tensor
from chainrule.backend import get_default_dtype
from chainrule.ops._lift import as_tensor_arg, lift


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


def reduce_dims(dim: Any, ndim: int, op: str) -> tuple:
    """``normalize_dims`` for the reductions, where ``dim=()`` also means every axis (PyTorch 2's
    sum/mean/amax/amin/var/std/logsumexp; any/all, squeeze and flip read it as "none")."""
    if dim is not None and not isinstance(dim, (int, np.integer)) and len(dim) == 0:
        dim = None
    return normalize_dims(dim, ndim, op)


def _quiet(degenerate: bool) -> Any:
    """NumPy's floating-point warnings off where a degenerate input makes inf - inf, 0/0 or log 0
    on purpose (PyTorch returns NaN / inf silently); nothing to enter on the common path."""
    return np.errstate(divide="ignore", invalid="ignore", over="ignore") if degenerate else contextlib.nullcontext()


class _Reduction(Primitive):
    __slots__ = ("axes", "keepdim")

    def __init__(self, axes: tuple, keepdim: bool) -> None:
        self.axes = axes
        self.keepdim = keepdim

    def _restore(self, m, g, x):
        """g with the reduced axes put back (size 1), ready to broadcast against x."""
        if self.keepdim or not self.axes or g.ndim == 0:  # (a 0-d g broadcasts as it is)
            return g
        return m.reshape(g, tuple(1 if i in self.axes else n for i, n in enumerate(x.shape)))

    def _count(self, x):
        """N: how many elements each output element reduces."""
        return math.prod(x.shape[a] for a in self.axes)


class Sum(_Reduction):
    """y = Σ_axes x;  dy/dx = 1 (the adjoint is copied to every summed element)."""

    name = "sum"
    saves_inputs = ()
    saves_output = False

    def forward(self, m, x):
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

    def forward(self, m, x):
        if not x.size:  # the mean of nothing: 0/0 = NaN (NumPy's x.mean would also warn)
            with _quiet(True):
                return x.sum(axis=self.axes, keepdims=self.keepdim) / self._count(x)
        return m.mean(x, self.axes, self.keepdim)

    def vjp(self, m, need, g, y, x):
        if not x.size:
            return (m.zeros_like(x),)
        return (m.broadcast_to(self._restore(m, g, x) / self._count(x), x.shape),)

    def jvp(self, m, dxs, y, x):
        if not x.size:
            n = self._count(x)
            return m.sum(dxs[0], self.axes, self.keepdim) * (1.0 / n if n else math.nan)
        return m.mean(dxs[0], self.axes, self.keepdim)


class _Weighted(_Reduction):
    """A reduction whose derivative is a weight w in x's shape: x̄ = w ȳ (ȳ restored to x's
    rank), ẏ = Σ_axes w ẋ; subclasses give ``forward`` and ``_weight(m, y, x)``."""

    __slots__ = ()

    def vjp(self, m, need, g, y, x):
        return (self._weight(m, y, x) * self._restore(m, g, x),)

    def jvp(self, m, dxs, y, x):
        return m.sum(self._weight(m, y, x) * dxs[0], self.axes, self.keepdim)


class Prod(_Weighted):
    """y = Π_axes x;  ∂y/∂x_i = Π_{j≠i} x_j, the product of the others along the reduced axes.

    The product of the others is computed without dividing y by x_i, so an input with one
    zero (whose gradient is the product of the rest) or several zeros (gradient 0) is exact:
    ``m.prod_others`` multiplies the exclusive cumulative products from both ends.  ``axes`` is
    one axis or all of them (``prod`` takes one int dim, as PyTorch).
    """

    name = "prod"

    def forward(self, m, x):
        return x.prod(axis=self.axes, keepdims=self.keepdim)

    def _weight(self, m, y, x):
        if not self.axes:  # a 0-d input: y = x
            return m.ones_like(x)
        if m.is_tensor and not (m.raw(x) == 0).any():
            # recorded backward: y / x is the product of the others where no x_i is 0, and costs
            # O(N) where TensorMath.prod_others records an N x N masked product
            return self._restore(m, y, x) / x
        if len(self.axes) == 1:
            return m.prod_others(x, self.axes[0])
        return m.reshape(m.prod_others(m.reshape(x, (-1,)), 0), x.shape)  # every axis: flattened


class Amax(_Weighted):
    """y = max over axes;  the adjoint is shared equally among the maximal elements."""

    name = "amax"

    def forward(self, m, x):
        return x.max(axis=self.axes, keepdims=self.keepdim)

    def _weight(self, m, y, x):
        hit = m.astype(x == self._restore(m, y, x), x.dtype)  # in x's dtype: bool / int64 is float64
        return hit / m.sum(hit, self.axes, True)


class Amin(Amax):
    """y = min over axes;  the adjoint is shared equally among the minimal elements."""

    name = "amin"

    def forward(self, m, x):
        return x.min(axis=self.axes, keepdims=self.keepdim)


class Var(_Reduction):
    """y = Σ (x - x̄)² / (N - correction);  dy/dx = 2 (x - x̄) / (N - correction).

    N - correction <= 0 (one element with correction 1, an empty dim) divides by max(N - correction, 0)
    as PyTorch: NaN (0/0) or inf, and the gradient's 2/0 is inf (times x - x̄ = 0: NaN)."""

    __slots__ = ("correction",)
    name = "var"
    saves_inputs = (0,)
    saves_output = False

    def __init__(self, axes: tuple, keepdim: bool, correction: float) -> None:
        super().__init__(axes, keepdim)
        self.correction = correction

    def _dof(self, x):
        return self._count(x) - self.correction

    def forward(self, m, x):
        if self._dof(x) > 0 and x.size:
            return x.var(axis=self.axes, keepdims=self.keepdim, ddof=self.correction)
        n = self._count(x)  # the same sums by hand, without NumPy's warnings (PyTorch's was given by var())
        with _quiet(True):
            d = x - x.sum(axis=self.axes, keepdims=True) / n
            return (d * d).sum(axis=self.axes, keepdims=self.keepdim) / builtins.max(n - self.correction, 0)

    def _half_scale(self, x):
        """1/(N - correction): inf where N = correction (PyTorch's 2/0), never a ZeroDivisionError."""
        dof = self._dof(x)
        return 1.0 / dof if dof else math.inf

    def _dydx(self, m, y, x):
        return (x - m.mean(x, self.axes, True)) * (2.0 * self._half_scale(x))

    def vjp(self, m, need, g, y, x):
        if not x.size:
            return (m.zeros_like(x),)
        with _quiet(self._dof(x) <= 0):
            return (self._dydx(m, y, x) * self._restore(m, g, x),)

    def jvp(self, m, dxs, y, x):
        if not x.size:
            return m.sum(dxs[0], self.axes, self.keepdim) * math.nan
        with _quiet(self._dof(x) <= 0):
            return m.sum(self._dydx(m, y, x) * dxs[0], self.axes, self.keepdim)


class Std(Var):
    """y = √var;  dy/dx = (x - x̄) / ((N - correction) y), and 0 where y = 0.

    At a constant input y = 0 and the derivative does not exist; PyTorch takes 0 there (not
    the 0/0 = NaN that the chain rule through √ would give), and so does this rule."""

    __slots__ = ()
    name = "std"

    def forward(self, m, x):
        return m.sqrt(super().forward(m, x))

    def _dydx(self, m, y, x):
        y = self._restore(m, y, x)
        zero = y == 0
        inv = m.where(zero, m.zeros_like(y), 1 / m.where(zero, m.ones_like(y), y))  # 1/y, 0 where y = 0
        return (x - m.mean(x, self.axes, True)) * (inv * self._half_scale(x))


class Norm(_Weighted):
    """Vector p-norm over ``axes``:  y = (Σ |x|^p)^(1/p);  p = ∞: max |x|;  p = -∞: min |x|.

    dy/dx = sign(x) (|x| / y)^(p-1)  (p = 2: x / y;  p = 1: sign x), and 0 where y = 0: PyTorch's
    subgradient at the origin (the chain rule through √ would give 0/0 there).  Written with
    (|x| / y)^(p-1) rather than |x|^(p-1) / y^(p-1), which overflows for large p.
    p = ±∞: sign(x) shared equally among the elements where |x| = y, as ``amax``.
    (p = 0, the number of non-zero elements, has no gradient and is not a Norm: see ``norm``.)
    """

    __slots__ = ("p",)
    name = "norm"

    def __init__(self, axes: tuple, keepdim: bool, p: float) -> None:
        super().__init__(axes, keepdim)
        self.p = p

    def forward(self, m, x):
        p, a = self.p, m.abs(x)
        if p == 2:
            return m.sqrt((x * x).sum(axis=self.axes, keepdims=self.keepdim))
        if p == 1:  # Σ|x|
            return a.sum(axis=self.axes, keepdims=self.keepdim)
        if p == math.inf:  # max |x|
            return a.max(axis=self.axes, keepdims=self.keepdim)
        if p == -math.inf:  # min |x|
            return a.min(axis=self.axes, keepdims=self.keepdim)
        with _quiet(p < 0):  # (a zero element: 0^p = inf for p < 0, the norm 0, as PyTorch)
            return (a**p).sum(axis=self.axes, keepdims=self.keepdim) ** (1.0 / p)

    def _weight(self, m, y, x):
        p = self.p
        if p == 1:
            return m.sign(x)
        y = self._restore(m, y, x)
        if p in (math.inf, -math.inf):
            hit = m.astype(m.abs(x) == y, x.dtype)
            return m.sign(x) * hit / m.sum(hit, self.axes, True)
        zero = y == 0
        safe = m.where(zero, m.ones_like(y), y)
        r = x / safe if p == 2 else m.sign(x) * (m.abs(x) / safe) ** (p - 1)
        return m.where(zero, m.zeros_like(r), r)


class LogSumExp(_Reduction):
    """y = log Σ e^x, computed as c + log Σ e^(x - c) with c = max x (no overflow);  dy/dx = e^(x - y) = softmax(x)."""

    __slots__ = ("degenerate",)
    name = "logsumexp"

    def __init__(self, axes: tuple, keepdim: bool) -> None:
        super().__init__(axes, keepdim)
        self.degenerate = False  # an output ±inf or NaN: e^(x - y) makes inf - inf on purpose

    def forward(self, m, x):
        if not x.size:  # log Σ over nothing = log 0 = -inf, as PyTorch (x.max would raise)
            with _quiet(True):
                return m.log(m.exp(x).sum(axis=self.axes, keepdims=self.keepdim))
        c = x.max(axis=self.axes, keepdims=True)
        self.degenerate = not m.isfinite(c).all()
        with _quiet(self.degenerate):
            if self.degenerate:
                c = m.where(m.isfinite(c), c, 0)  # all -inf (-> -inf) or a +inf (-> inf) along an axis: no shift
            s = m.log(m.exp(x - c).sum(axis=self.axes, keepdims=True)) + c
        return s if self.keepdim else s.squeeze(axis=self.axes)

    def vjp(self, m, need, g, y, x):
        with _quiet(self.degenerate):
            return (m.exp(x - self._restore(m, y, x)) * self._restore(m, g, x),)

    def jvp(self, m, dxs, y, x):
        with _quiet(self.degenerate):
            return m.sum(m.exp(x - self._restore(m, y, x)) * dxs[0], self.axes, self.keepdim)


class _AlongDim(Primitive):
    """softmax and log-softmax along ``dim``: the row shifted by its maximum c, then ``_shifted``.

    Shifted by the maximum whatever it is, as PyTorch: a row holding +inf (inf - inf), only
    -inf (-inf + inf) or a NaN is NaN; -inf entries of a finite row get probability 0.
    """

    __slots__ = ("dim",)
    saves_inputs = ()

    def __init__(self, dim: int) -> None:
        self.dim = dim

    def forward(self, m, x):
        if not x.size:
            return x.copy()
        c = x.max(axis=self.dim, keepdims=True)
        # (warnings off whatever the values: entering that costs less than asking whether c is
        # finite, and no Python reads a value, which a compiled plan would have to guard)
        with _quiet(True):
            return self._shifted(m, x, c)


class Softmax(_AlongDim):
    """y_k = e^(x_k) / Σ_m e^(x_m) along ``dim``.

    Jacobian (the notes' softmax Jacobian): dy_k/dx_j = y_k (δ_kj - y_j), so
    vjp: g ↦ y ⊙ (g - Σ_k g_k y_k).
    """

    __slots__ = ()
    name = "softmax"

    def _shifted(self, m, x, c):
        e = m.exp(x - c)
        return e / e.sum(axis=self.dim, keepdims=True)

    def vjp(self, m, need, g, y, x):
        return (y * (g - m.sum(g * y, (self.dim,), True)),)

    def jvp(self, m, dxs, y, x):
        dx = dxs[0]
        return y * (dx - m.sum(dx * y, (self.dim,), True))


class LogSoftmax(_AlongDim):
    """y = x - logsumexp(x) along ``dim`` (stable);  vjp: g ↦ g - softmax(x) Σ g."""

    __slots__ = ()
    name = "log_softmax"

    def _shifted(self, m, x, c):
        z = x - c
        return z - m.log(m.exp(z).sum(axis=self.dim, keepdims=True))

    def vjp(self, m, need, g, y, x):
        return (g - m.exp(y) * m.sum(g, (self.dim,), True),)

    def jvp(self, m, dxs, y, x):
        dx = dxs[0]
        return dx - m.sum(m.exp(y) * dx, (self.dim,), True)


# ---------------------------------------------------------------- public functions
def _floating(input: Any, dtype: Any = None) -> Tensor:
    """``input`` in ``dtype`` if given, else integer/bool tensors in the default float dtype (not NumPy's float64)."""
    if dtype is not None:
        return input.to(dtype)
    if isinstance(input, Tensor) and input._array.dtype.kind in "biu":
        return input.to(get_default_dtype())
    return input


def _reduce(cls, input, dim, keepdim, name, *extra):
    input = as_tensor_arg(input, name)
    axes = reduce_dims(dim, input.ndim, name)
    return apply1(cls(axes, keepdim, *extra), input)


def _one_int_dim(dim: Any, name: str) -> None:
    """max(x, dim), min(x, dim) and prod(x, dim) take a single int, as PyTorch (a TypeError otherwise)."""
    if not isinstance(dim, (int, np.integer)) or isinstance(dim, bool):
        raise TypeError(f"{name}(): argument 'dim' must be int, not {type(dim).__name__} ({dim!r})")


def _check_not_empty(input: Tensor, dim: Any, name: str, no_dim: type = RuntimeError) -> None:
    """max/min/amax/amin/argmax/argmin have no value over an empty dimension: PyTorch's errors."""
    if input._array.size:
        return
    if dim is None or (not isinstance(dim, (int, np.integer)) and len(dim) == 0):
        msg = f"{name}(): Expected reduction dim to be specified for input.numel() == 0."
        if no_dim is RuntimeError:
            msg += " Specify the reduction dim with the 'dim' argument."
        raise no_dim(f"{msg} (input shape {tuple(input.shape)})")
    for d in normalize_dims(dim, input.ndim, name):
        if input.ndim and input.shape[d] == 0:
            raise IndexError(f"{name}(): Expected reduction dim {d} to have non-zero size (input shape "
                             f"{tuple(input.shape)}).")


def sum(input: Tensor, dim: Any = None, keepdim: bool = False, *, dtype: Any = None, axis: Any = None,
        keepdims: bool | None = None) -> Tensor:
    """Σ over ``dim`` (all axes by default)."""
    dim = axis if dim is None else dim
    keepdim = keepdims if keepdims is not None else keepdim
    if dtype is not None:
        input = input.to(dtype)
    elif input._array.dtype.kind in "biu":  # (uint8 too: int64, as PyTorch)
        input = input.to(np.int64)
    return _reduce(Sum, input, dim, keepdim, "sum")


def mean(input: Tensor, dim: Any = None, keepdim: bool = False, *, dtype: Any = None, axis: Any = None,
         keepdims: bool | None = None) -> Tensor:
    """Arithmetic mean over ``dim``."""
    dim = axis if dim is None else dim
    keepdim = keepdims if keepdims is not None else keepdim
    if dtype is not None:
        input = input.to(dtype)
    if input._array.dtype.kind not in "fc":
        raise RuntimeError("mean(): could not infer output dtype. Input dtype must be floating point, "
                           f"got {input.dtype}")
    return _reduce(Mean, input, dim, keepdim, "mean")


def prod(input: Tensor, dim: Any = None, keepdim: bool = False, *, dtype: Any = None) -> Tensor:
    """Π over one ``dim`` (an int) or over every element (dim None); integer and bool inputs give int64.

    Gradient: ∂y/∂x_i = Π_{j≠i} x_j, exact when x has zeros (see :class:`Prod`)."""
    input = as_tensor_arg(input, "prod")
    if dim is not None:
        _one_int_dim(dim, "prod")
    if dtype is not None:
        input = input.to(dtype)
    elif input._array.dtype.kind in "biu":
        input = input.to(np.int64)
    return _reduce(Prod, input, dim, keepdim, "prod")


def amax(input: Tensor, dim: Any = None, keepdim: bool = False) -> Tensor:
    _check_not_empty(input, dim, "amax")
    return _reduce(Amax, input, dim, keepdim, "amax")


def amin(input: Tensor, dim: Any = None, keepdim: bool = False) -> Tensor:
    _check_not_empty(input, dim, "amin")
    return _reduce(Amin, input, dim, keepdim, "amin")


class _ValuesIndices(tuple[Tensor, Tensor]):
    """(values, indices) with attribute access, like torch.return_types.max."""

    @property
    def values(self) -> Tensor:
        return self[0]

    @property
    def indices(self) -> Tensor:
        return self[1]


def _extreme(name: str, pairwise: str, values: Any, indices: Any) -> Any:
    """max or min: of all elements, (values, indices) along one dim, or elementwise of two tensors."""

    def fn(input: Tensor, dim: Any = None, keepdim: bool = False) -> Any:
        if isinstance(dim, Tensor):
            from chainrule.ops import elementwise

            return getattr(elementwise, pairwise)(input, dim)
        input = as_tensor_arg(input, name)
        if dim is not None:
            _one_int_dim(dim, name)
        _check_not_empty(input, dim, name)
        if dim is None:
            return values(input)
        return _ValuesIndices((values(input, dim, keepdim), indices(input, dim, keepdim)))

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"{name}(x): the {'largest' if name == 'max' else 'smallest'} element; {name}(x, dim): " \
        f"(values, indices); {name}(a, b): elementwise ({pairwise})."
    return fn


def _var_like(cls, name, input, dim, unbiased, keepdim, correction):
    if isinstance(dim, bool) and unbiased is None:  # var(x, False): the old positional 'unbiased'
        unbiased, dim = dim, None
    if correction is None:
        correction = 0 if unbiased is False else 1
    input = _floating(as_tensor_arg(input, name))
    axes = reduce_dims(dim, input.ndim, name)
    # PyTorch's reduction factor is numel(input) / numel(output): 0 for an empty input
    factor = math.prod(input.shape[a] for a in axes) if input._array.size else 0
    if factor - correction <= 0:
        warnings.warn(f"{name}(): degrees of freedom is <= 0. Correction should be strictly less than the reduction "
                      f"factor (input numel divided by output numel) (input shape {tuple(input.shape)}, correction "
                      f"{correction})", UserWarning, stacklevel=3)
    return apply1(cls(axes, keepdim, correction), input)


def var(input: Tensor, dim: Any = None, unbiased: bool | None = None, keepdim: bool = False, *,
        correction: float | None = None) -> Tensor:
    """Variance Σ (x - x̄)² / (N - correction), with Bessel's correction by default (correction=1), as PyTorch."""
    return _var_like(Var, "var", input, dim, unbiased, keepdim, correction)


def std(input: Tensor, dim: Any = None, unbiased: bool | None = None, keepdim: bool = False, *,
        correction: float | None = None) -> Tensor:
    """Standard deviation √var (its gradient at a constant input is 0, as PyTorch's)."""
    return _var_like(Std, "std", input, dim, unbiased, keepdim, correction)


def norm(input: Tensor, p: Any = "fro", dim: Any = None, keepdim: bool = False, dtype: Any = None) -> Tensor:
    """``torch.norm``: the vector p-norm over ``dim`` (every element for None or ``()``).

    p: 'fro' (the 2-norm; over at most two dims, as PyTorch's Frobenius norm), a number, ±inf,
    or 0 (the number of non-zero elements, without gradient).  The gradient at the origin is 0
    (see :class:`Norm`).  The nuclear norm ('nuc') is not implemented."""
    input = as_tensor_arg(input, "norm")
    if dtype is not None:
        input = input.to(dtype)
    if input._array.dtype.kind != "f":
        raise RuntimeError(f"norm(): expected a floating point input, got {input.dtype} (shape {tuple(input.shape)})")
    if isinstance(p, str):
        if p == "nuc":
            raise NotImplementedError("norm(): the nuclear norm (p='nuc') is not implemented")
        if p != "fro":
            raise RuntimeError(f"norm(): order {p!r} not supported (expected 'fro' or a number)")
        if dim is not None and not isinstance(dim, (int, np.integer)) and len(dim) > 2:
            raise RuntimeError(f"norm(): the Frobenius norm takes at most 2 dims, got dim={tuple(dim)}")
        p = 2.0
    p = float(p)
    axes = reduce_dims(dim, input.ndim, "norm")
    if abs(p) == math.inf and builtins.any(input.shape[a] == 0 for a in axes):
        raise RuntimeError(f"norm(): cannot compute the {p} norm over an empty dimension (input shape "
                           f"{tuple(input.shape)}): the operation has no identity")
    if p == 0:  # a count: no gradient (PyTorch's too)
        return sum(kernel("not_equal", input, lift(0, input)), axes, keepdim).to(input.dtype)
    return apply1(Norm(axes, keepdim, p), input)


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
    if input.ndim == 0:  # one element (dim 0 or -1, as PyTorch allows): the rules sum along an axis
        return softmax(input.reshape(1), 0).reshape(())
    return apply1(Softmax(_one_dim(input, dim, "softmax")), input)


def log_softmax(input: Tensor, dim: Any = None, dtype: Any = None) -> Tensor:
    """log(softmax(x)) along ``dim``, computed stably as x - logsumexp(x)."""
    input = _floating(as_tensor_arg(input, "log_softmax"), dtype)
    if input.ndim == 0:  # (as softmax)
        return log_softmax(input.reshape(1), 0).reshape(())
    return apply1(LogSoftmax(_one_dim(input, dim, "log_softmax")), input)


def _arg(fn: str, input: Any, dim: Any, keepdim: bool) -> Tensor:
    input = as_tensor_arg(input, fn)
    _check_not_empty(input, dim, fn, no_dim=IndexError)  # (PyTorch: an IndexError here)
    if dim is None:
        return kernel(fn, input)
    axes = normalize_dims(dim, input.ndim, fn)  # (a 0-d input accepts dim 0 and -1: index 0, 0-d, as PyTorch)
    return kernel(fn, input) if input.ndim == 0 else kernel(fn, input, axis=axes[0], keepdims=keepdim)


def argmax(input: Tensor, dim: Any = None, keepdim: bool = False) -> Tensor:
    """Index of the largest element (flattened if dim is None); no gradient."""
    return _arg("argmax", input, dim, keepdim)


def argmin(input: Tensor, dim: Any = None, keepdim: bool = False) -> Tensor:
    """Index of the smallest element (flattened if dim is None); no gradient."""
    return _arg("argmin", input, dim, keepdim)


max = _extreme("max", "maximum", amax, argmax)
min = _extreme("min", "minimum", amin, argmin)


def any(input: Tensor, dim: Any = None, keepdim: bool = False) -> Tensor:
    return kernel("any", input, axis=normalize_dims(dim, input.ndim, "any"), keepdims=keepdim)


def all(input: Tensor, dim: Any = None, keepdim: bool = False) -> Tensor:
    return kernel("all", input, axis=normalize_dims(dim, input.ndim, "all"), keepdims=keepdim)
