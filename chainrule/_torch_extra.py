"""More of PyTorch's top-level functions (issue 12's coverage of ``torch.*``):

* the linear-algebra names PyTorch keeps at ``torch.*`` (``det``, ``inverse``, ``svd`` with
  its old (U, S, V) convention, ``qr(some=)``, ``cholesky_solve``...), composed from
  ``chainrule.linalg`` and differentiable through it;
* the window functions (``hann_window``...), with PyTorch's ``periodic`` convention;
* a few tensor functions: ``nanquantile``, ``renorm``, ``put``,
  ``histogram``, ``frexp``, ``nextafter``, ``binomial``, ``poisson``.
"""

from __future__ import annotations

import builtins
import math
from typing import Any, NamedTuple

import numpy as np

from chainrule import ops as _ops
from chainrule._lobpcg import lobpcg
from chainrule._lowrank import pca_lowrank, svd_lowrank
from chainrule.autograd.primitive import apply2
from chainrule.autograd.tensor import Tensor
from chainrule.ops import householder as _hh
from chainrule.ops import linalg_ops as _la
from chainrule.ops import lu_ops as _lu
from chainrule.ops import pointwise as _pw
from chainrule.ops._lift import as_tensor_arg

# -- linear algebra at torch.* ------------------------------------------------------------------


class _SignLogAbsDet(NamedTuple):
    sign: Tensor
    logabsdet: Tensor


class _SVD(NamedTuple):
    U: Tensor
    S: Tensor
    V: Tensor


class _QR(NamedTuple):
    Q: Tensor
    R: Tensor


class _TriangularSolve(NamedTuple):
    solution: Tensor
    cloned_coefficient: Tensor


class _Histogram(NamedTuple):
    hist: Tensor
    bin_edges: Tensor


class _HistogramDD(NamedTuple):
    hist: Tensor
    bin_edges: tuple[Tensor, ...]


class _Frexp(NamedTuple):
    mantissa: Tensor
    exponent: Tensor


def lu(A: Tensor, pivot: bool = True, get_infos: bool = False) -> tuple[Tensor, ...]:
    """``torch.lu`` (deprecated in PyTorch for ``linalg.lu_factor``): (LU, pivots), and ``infos``
    with ``get_infos``.  As PyTorch's, it factorises a singular matrix without raising."""
    LU, pivots, info = _lu.lu_factor_ex(A, pivot=pivot)
    return (LU, pivots, info) if get_infos else (LU, pivots)


def lu_solve(b: Tensor, LU_data: Tensor, LU_pivots: Tensor) -> Tensor:
    """``torch.lu_solve`` (the old argument order): X with A X = b from A's ``lu_factor``."""
    return _lu.lu_solve(LU_data, LU_pivots, b)


def lu_unpack(LU_data: Tensor, LU_pivots: Tensor, unpack_data: bool = True,
              unpack_pivots: bool = True) -> _lu.LUResult:
    """``torch.lu_unpack``: (P, L, U) from the packed LU and its pivots (see ``linalg.lu``)."""
    return _lu.lu_unpack(LU_data, LU_pivots, unpack_data, unpack_pivots)


geqrf = _hh.geqrf
orgqr = _hh.orgqr
ormqr = _hh.ormqr


def det(input: Tensor) -> Tensor:
    """det A of (*, n, n) -> (*); gradient ḡ det(A) A⁻ᵀ."""
    return _la.det(input)


def logdet(input: Tensor) -> Tensor:
    """log det A (nan where det A < 0, -inf where it is 0)."""
    return _la.logdet(input)


def slogdet(input: Tensor) -> _SignLogAbsDet:
    """(sign, logabsdet) of det A; the gradient flows through logabsdet (A⁻ᵀ ḡ)."""
    return _SignLogAbsDet(*_la.slogdet(input))


def inverse(input: Tensor) -> Tensor:
    """A⁻¹ (``linalg.inv``)."""
    return _la.inv(input)


def cholesky(input: Tensor, upper: bool = False) -> Tensor:
    """``torch.cholesky`` (deprecated in PyTorch for ``linalg.cholesky``): L with A = L Lᵀ."""
    return _la.cholesky(input, upper=upper)


def _from_factor(L: Tensor, upper: bool) -> Tensor:
    """A = L Lᵀ (Uᵀ U) from the factor's triangle.  As PyTorch's, the value reads only the
    triangle, but the gradient is that of L Lᵀ with respect to the whole of L (PyTorch's rule for
    cholesky_solve / cholesky_inverse): T = L - (L - tril L) with the bracket held constant."""
    T = L - (L - (L.triu() if upper else L.tril())).detach()
    return T.mT @ T if upper else T @ T.mT


def cholesky_solve(B: Tensor, L: Tensor, upper: bool = False) -> Tensor:
    """X with A X = B where A = L Lᵀ (``upper``: A = Uᵀ U) is given by its Cholesky factor;
    B (*, n, k).  Differentiable in B and L."""
    L = as_tensor_arg(L, "cholesky_solve")
    B = as_tensor_arg(B, "cholesky_solve")
    if B.ndim < 2:
        raise RuntimeError(f"cholesky_solve: B must have at least 2 dimensions (*, n, k), got shape {tuple(B.shape)}")
    return _la.solve(_from_factor(L, upper), B)


def cholesky_inverse(L: Tensor, upper: bool = False) -> Tensor:
    """A⁻¹ where A = L Lᵀ (``upper``: Uᵀ U) is given by its Cholesky factor (*, n, n)."""
    L = as_tensor_arg(L, "cholesky_inverse")
    return _la.inv(_from_factor(L, upper))


def matrix_power(input: Tensor, n: int) -> Tensor:
    """Aⁿ (``linalg.matrix_power``)."""
    from chainrule.linalg import matrix_power as f

    return f(input, n)


def matrix_exp(A: Tensor) -> Tensor:
    """exp(A) (``linalg.matrix_exp``)."""
    from chainrule.linalg import matrix_exp as f

    return f(A)


def pinverse(input: Tensor, rcond: float = 1e-15) -> Tensor:
    """The pseudo-inverse, singular values below rcond·σ₁ dropped (``linalg.pinv(A, rtol=rcond)``)."""
    from chainrule.linalg import pinv

    return pinv(input, rtol=rcond)


def svd(input: Tensor, some: bool = True, compute_uv: bool = True) -> _SVD:
    """``torch.svd``: (U, S, V) with A = U diag(S) Vᵀ — V, not Vh (``linalg.svd`` returns Vh).
    ``some=False``: full U and V; ``compute_uv=False``: U (m, m) and V (n, n) zero-filled, as PyTorch's."""
    A = as_tensor_arg(input, "svd")
    if not compute_uv:  # (``some`` has no effect then, as in PyTorch)
        m, n = A.shape[-2], A.shape[-1]
        S = _la.svd(A, full_matrices=False)[1]
        batch = tuple(A.shape[:-2])
        return _SVD(Tensor._wrap(np.zeros(batch + (m, m), dtype=A.dtype)), S,
                    Tensor._wrap(np.zeros(batch + (n, n), dtype=A.dtype)))
    U, S, Vh = _la.svd(A, full_matrices=not some)
    return _SVD(U, S, Vh.mT)


def qr(input: Tensor, some: bool = True) -> _QR:
    """``torch.qr``: ``linalg.qr`` with mode 'reduced' (``some=True``) or 'complete'."""
    return _QR(*_la.qr(input, "reduced" if some else "complete"))


def triangular_solve(b: Tensor, A: Tensor, upper: bool = True, transpose: bool = False,
                     unitriangular: bool = False) -> _TriangularSolve:
    """``torch.triangular_solve`` (deprecated in PyTorch): (X, A.clone()) with op(A) X = b, A
    triangular (op = transpose when ``transpose``); note b comes first."""
    from chainrule.linalg import solve_triangular

    A = as_tensor_arg(A, "triangular_solve")
    T = A.triu() if upper else A.tril()
    if transpose:
        T, up = T.mT, not upper
    else:
        up = upper
    return _TriangularSolve(solve_triangular(T, b, upper=up, unitriangular=unitriangular), A.clone())


# -- window functions ----------------------------------------------------------------------------


def _factory_options(layout: Any, pin_memory: bool, where: str) -> None:
    """The factories' ``layout=`` (dense only) and ``pin_memory=`` (False only) keywords."""
    from chainrule.backend.layout import check_layout
    from chainrule.ops.creation import _check_pin_memory

    _check_pin_memory(pin_memory, where)
    check_layout(layout, where)


def _window(name: str, window_length: int, periodic: bool, dtype: Any, device: Any, requires_grad: bool,
            fn: Any) -> Tensor:
    """w[k] = fn(k, N) for k < window_length, N = window_length + 1 when ``periodic`` (the
    symmetric window one longer, its last point dropped: the DFT-even form), else window_length."""
    from chainrule.backend import get_default_dtype
    from chainrule.backend.device import check_device

    check_device(device, f"{name}()")
    if not isinstance(window_length, (int, np.integer)) or window_length < 0:
        raise RuntimeError(f"{name}: window_length must be a non-negative int, got {window_length!r}")
    dt = np.dtype(dtype) if dtype is not None else get_default_dtype()
    if dt.kind != "f":
        raise RuntimeError(f"{name}: expected a floating point dtype, got {dt}")
    if window_length == 0:
        w = np.zeros((0,))
    elif window_length == 1:
        w = np.ones((1,))
    else:
        N = window_length + 1 if periodic else window_length
        w = fn(np.arange(window_length, dtype=np.float64), N)
    out = Tensor._wrap(w.astype(dt))
    if requires_grad:
        out.requires_grad_(True)
    return out


def hann_window(window_length: int, periodic: bool = True, *, dtype: Any = None, device: Any = None,
                requires_grad: bool = False,
                layout: Any = None, pin_memory: bool = False) -> Tensor:
    """w[k] = ½ - ½ cos(2πk / (N - 1))."""
    _factory_options(layout, pin_memory, "hann_window()")
    return _window("hann_window", window_length, periodic, dtype, device, requires_grad,
                   lambda k, N: 0.5 - 0.5 * np.cos(2 * math.pi * k / (N - 1)))


def hamming_window(window_length: int, periodic: bool = True, alpha: float = 0.54, beta: float = 0.46, *,
                   dtype: Any = None, device: Any = None, requires_grad: bool = False,
                   layout: Any = None, pin_memory: bool = False) -> Tensor:
    """w[k] = α - β cos(2πk / (N - 1))."""
    _factory_options(layout, pin_memory, "hamming_window()")
    return _window("hamming_window", window_length, periodic, dtype, device, requires_grad,
                   lambda k, N: alpha - beta * np.cos(2 * math.pi * k / (N - 1)))


def blackman_window(window_length: int, periodic: bool = True, *, dtype: Any = None, device: Any = None,
                    requires_grad: bool = False,
                    layout: Any = None, pin_memory: bool = False) -> Tensor:
    """w[k] = 0.42 - 0.5 cos(2πk / (N - 1)) + 0.08 cos(4πk / (N - 1))."""
    _factory_options(layout, pin_memory, "blackman_window()")
    return _window("blackman_window", window_length, periodic, dtype, device, requires_grad,
                   lambda k, N: 0.42 - 0.5 * np.cos(2 * math.pi * k / (N - 1))
                   + 0.08 * np.cos(4 * math.pi * k / (N - 1)))


def bartlett_window(window_length: int, periodic: bool = True, *, dtype: Any = None, device: Any = None,
                    requires_grad: bool = False,
                    layout: Any = None, pin_memory: bool = False) -> Tensor:
    """w[k] = 1 - |2k / (N - 1) - 1| (triangular)."""
    _factory_options(layout, pin_memory, "bartlett_window()")
    return _window("bartlett_window", window_length, periodic, dtype, device, requires_grad,
                   lambda k, N: 1 - np.abs(2 * k / (N - 1) - 1))


def kaiser_window(window_length: int, periodic: bool = True, beta: float = 12.0, *, dtype: Any = None,
                  device: Any = None, requires_grad: bool = False,
                  layout: Any = None, pin_memory: bool = False) -> Tensor:
    """w[k] = I₀(β √(1 - (2k / (N - 1) - 1)²)) / I₀(β)."""
    _factory_options(layout, pin_memory, "kaiser_window()")
    return _window("kaiser_window", window_length, periodic, dtype, device, requires_grad,
                   lambda k, N: np.i0(beta * np.sqrt(np.clip(1 - (2 * k / (N - 1) - 1) ** 2, 0, None))) / np.i0(beta))


# -- tensor functions ----------------------------------------------------------------------------


def nanquantile(input: Tensor, q: Any, dim: int | None = None, keepdim: bool = False, *,
                interpolation: str = "linear") -> Tensor:
    """``quantile`` over the non-NaN values of each slice (nan where a slice has none).  Shapes
    as ``quantile``: a 1-D ``q`` puts its axis first."""
    x = as_tensor_arg(input, "nanquantile")
    if x._array.dtype.kind != "f":
        raise RuntimeError(f"nanquantile: expected a floating input, got {x.dtype}")
    qs = np.asarray(q._array if isinstance(q, Tensor) else q, dtype=np.float64)
    if qs.ndim > 1 or ((qs < 0) | (qs > 1)).any():
        raise RuntimeError(f"nanquantile: q must be a scalar or a 1-D tensor of values in [0, 1], got {q!r}")
    if interpolation not in ("linear", "lower", "higher", "midpoint", "nearest"):
        raise ValueError(f"nanquantile: interpolation must be one of linear, lower, higher, midpoint, nearest, "
                         f"got {interpolation!r}")
    if dim is None:
        x, d = x.reshape(-1), 0
    else:
        if not -max(x.ndim, 1) <= dim < max(x.ndim, 1):
            raise IndexError(f"nanquantile: dim {dim} out of range for a {x.ndim}-d input")
        d = dim % max(x.ndim, 1)
    if x.ndim == 0:
        x = x.reshape(1)
    s = _ops.sort(x, d)[0].movedim(d, 0)  # (n, *rest), NaNs sorted last
    valid = (~np.isnan(s._array)).sum(0)  # (*rest)
    qv = qs.reshape((-1,) + (1,) * (s.ndim - 1))
    pos = qv * np.maximum(valid - 1, 0)  # (Q, *rest)
    lo, hi = np.floor(pos).astype(np.int64), np.ceil(pos).astype(np.int64)
    if interpolation == "lower":
        hi = lo
    elif interpolation == "higher":
        lo = hi
    elif interpolation == "nearest":
        lo = hi = np.round(pos).astype(np.int64)
    frac = np.full(pos.shape, 0.5) if interpolation == "midpoint" else pos - lo
    a = _ops.gather(s, 0, Tensor._wrap(lo))
    b = _ops.gather(s, 0, Tensor._wrap(hi))
    out = a + (b - a) * Tensor._wrap(frac.astype(x.dtype))
    empty = Tensor._wrap(np.broadcast_to(valid == 0, out.shape).copy())
    out = _ops.where(empty, Tensor._wrap(np.array(np.nan, dtype=x.dtype)), out)
    if keepdim:
        if dim is None:
            out = out.reshape(out.shape[0], *([1] * as_tensor_arg(input, "nanquantile").ndim))
        elif as_tensor_arg(input, "nanquantile").ndim:  # (a 0-d input keeps its 0 dims, as quantile)
            out = out.unsqueeze(d + 1)
    return out.squeeze(0) if qs.ndim == 0 else out


def renorm(input: Tensor, p: float, dim: int, maxnorm: float) -> Tensor:
    """Each slice ``input.select(dim, i)`` whose p-norm exceeds ``maxnorm`` scaled down to norm
    ``maxnorm`` (factor maxnorm / (norm + 1e-7), as PyTorch's); the others unchanged."""
    x = as_tensor_arg(input, "renorm")
    if p <= 0:
        raise RuntimeError(f"renorm: p must be positive, got {p}")
    if maxnorm < 0:
        raise RuntimeError(f"renorm: maxnorm must be non-negative, got {maxnorm}")
    if x.ndim == 0:
        raise RuntimeError("renorm: the input needs at least 1 dimension")
    d = dim % x.ndim
    others = tuple(i for i in range(x.ndim) if i != d)
    norms = _ops.norm(x, p=float(p), dim=others, keepdim=True) if others else _ops.abs(x)
    over = Tensor._wrap(norms._array > maxnorm)
    factor = _ops.where(over, maxnorm / (norms + 1e-7), 1.0)
    return x * factor.to(x.dtype)


def put(input: Tensor, index: Tensor, source: Tensor, accumulate: bool = False) -> Tensor:
    """input with the elements at the flat indices ``index`` (row-major; negative count from the
    end) set to ``source`` (added with ``accumulate``).  Differentiable in input and source."""
    x = as_tensor_arg(input, "put")
    src = as_tensor_arg(source, "put")
    idx = index._array if isinstance(index, Tensor) else np.asarray(index)
    if idx.dtype.kind not in "iu":
        raise RuntimeError(f"put: index must be an integer tensor, got {idx.dtype}")
    if idx.size != src.numel():
        raise RuntimeError(f"put: index ({idx.size} elements) and source ({src.numel()}) must have as many elements")
    n = x.numel()
    if idx.size and (idx.max() >= n or idx.min() < -n):
        raise IndexError(f"put: index out of range for an input of {n} elements")
    flat = _ops.index_put(x.reshape(-1), (Tensor._wrap(idx.reshape(-1) % max(n, 1)),), src.reshape(-1),
                          accumulate=accumulate)
    return flat.reshape(*x.shape)


def histogram(input: Tensor, bins: Any = 100, *, range: Any = None, weight: Tensor | None = None,
              density: bool = False) -> _Histogram:
    """(hist, bin_edges) of the values (``bins`` an int or the edges; ``range`` (min, max))."""
    x = as_tensor_arg(input, "histogram")
    if x.dtype.kind != "f":
        raise RuntimeError(f"histogram: expected a floating-point input, got {x.dtype}")
    b = bins._array if isinstance(bins, Tensor) else bins
    w = weight._array if isinstance(weight, Tensor) else None
    h, e = np.histogram(x._array.reshape(-1), bins=b, range=range, weights=None if w is None else w.reshape(-1),
                        density=density)
    return _Histogram(Tensor._wrap(h.astype(x.dtype)), Tensor._wrap(e.astype(x.dtype)))


def histogramdd(input: Tensor, bins: Any = 10, *, range: Any = None, weight: Tensor | None = None,
                density: bool = False) -> _HistogramDD:
    """(hist, bin_edges): the D-dimensional histogram of the points in ``input`` (..., D) (its
    rows).  ``bins``: an int for every dimension, one int per dimension, or per dimension a 1-D
    Tensor of increasing edges; ``range`` [min_0, max_0, ..., min_(D-1), max_(D-1)] (by default
    the data's extent, widened by 0.5 either way where it is a point).  Bin i of a dimension is
    [e_i, e_(i+1)), the last also holding its right edge; points outside are left out.  ``hist``
    (b_0, ..., b_(D-1)) counts (or sums ``weight`` (...) per point); with ``density`` it is
    divided by the total and by each bin's volume, so that it integrates to 1."""
    x = as_tensor_arg(input, "histogramdd")
    if x.dtype.kind != "f":
        raise RuntimeError(f"histogramdd: expected a floating-point input, got {x.dtype}")
    if x.ndim < 2:
        raise RuntimeError(f"histogramdd: input should have at least 2 dimensions (..., D), got shape "
                           f"{tuple(x.shape)}")
    D = x.shape[-1]
    pts = x._array.reshape(-1, D)
    if isinstance(bins, int):
        b: Any = [bins] * D
    else:
        b = [e._array if isinstance(e, Tensor) else e for e in bins]
        if len(b) != D:
            raise RuntimeError(f"histogramdd: expected {D} sequences of bin edges or bin counts (one per dimension "
                               f"of the points (..., D)), got {len(b)}")
    for e in b:
        if isinstance(e, np.ndarray) and (e.ndim != 1 or e.size < 1 or np.any(np.diff(e) < 0)):
            raise RuntimeError(f"histogramdd: bin edges must be 1-D, non-empty and increasing, got {e!r}")
        if isinstance(e, (int, np.integer)) and e <= 0:
            raise RuntimeError(f"histogramdd: bins must be positive, got {e}")
    pairs = None
    if range is not None:
        r = [float(v) for v in range]
        if len(r) != 2 * D:
            raise RuntimeError(f"histogramdd: range should have {2 * D} elements (min and max of each of the {D} "
                               f"dimensions), got {len(r)}")
        pairs = [(r[2 * i], r[2 * i + 1]) for i in builtins.range(D)]
        if any(lo > hi for lo, hi in pairs):
            raise RuntimeError(f"histogramdd: each min of range must be at most its max, got {list(range)}")
    w = None
    if weight is not None:
        w = weight._array.reshape(-1)
        if w.size != pts.shape[0]:
            raise RuntimeError(f"histogramdd: weight should have one value per point, shape "
                               f"{tuple(x.shape[:-1])}, got {tuple(weight.shape)}")
    h, edges = np.histogramdd(pts, bins=b, range=pairs, weights=w, density=density)
    return _HistogramDD(Tensor._wrap(h.astype(x.dtype)), tuple(Tensor._wrap(e.astype(x.dtype)) for e in edges))


def frexp(input: Tensor) -> _Frexp:
    """(mantissa, exponent) with input = mantissa · 2^exponent, |mantissa| in [0.5, 1) (int32 exponent)."""
    x = as_tensor_arg(input, "frexp")
    if x.dtype.kind != "f":
        raise RuntimeError(f"frexp: expected a floating-point input, got {x.dtype}")
    e = Tensor._wrap(np.frexp(x._array)[1].astype(np.int32))  # (no derivative: integers)
    return _Frexp(apply2(_pw.FREXP_MANTISSA, x, e), e)  # dm/dx = 2^(-e)


def nextafter(input: Tensor, other: Any) -> Tensor:
    """The next floating-point value after ``input`` towards ``other``; its derivative is 1 in
    ``input`` and 0 in ``other`` (PyTorch's), in both modes."""
    x = as_tensor_arg(input, "nextafter")
    if x.dtype.kind != "f":
        raise RuntimeError(f"nextafter: expected floating-point inputs, got {x.dtype}")
    if isinstance(other, Tensor):
        o = other if other.dtype == x.dtype else other.to(x.dtype)
    else:
        o = Tensor._wrap(np.asarray(other, dtype=x.dtype))
    return apply2(_pw.NEXTAFTER, x, o)


def _rng(generator: Any) -> np.random.Generator:
    from chainrule.utils.data.sampler import _rng as rng

    return rng(generator)


def binomial(count: Tensor, prob: Tensor, generator: Any = None) -> Tensor:
    """Draws from Binomial(count, prob), elementwise (in count's dtype; not differentiable)."""
    c, p = as_tensor_arg(count, "binomial"), as_tensor_arg(prob, "binomial")
    pa = p._array
    if ((pa < 0) | (pa > 1)).any():
        raise RuntimeError("binomial: prob must be in [0, 1]")
    return Tensor._wrap(_rng(generator).binomial(c._array.astype(np.int64), pa).astype(c.dtype))


def poisson(input: Tensor, generator: Any = None) -> Tensor:
    """Draws from Poisson(rate = input), elementwise (in input's dtype; not differentiable)."""
    x = as_tensor_arg(input, "poisson")
    if (x._array < 0).any():
        raise RuntimeError("poisson: the rates must be non-negative")
    return Tensor._wrap(_rng(generator).poisson(x._array).astype(x.dtype))


def igamma(input: Any, other: Any, *, out: Tensor | None = None) -> Tensor:
    """``torch.igamma``: P(a, x), the regularised lower incomplete gamma function
    (``chainrule.special.gammainc``; differentiable in x only)."""
    from chainrule import special

    return special.gammainc(input, other, out=out)


def igammac(input: Any, other: Any, *, out: Tensor | None = None) -> Tensor:
    """``torch.igammac``: Q(a, x) = 1 - P(a, x) (``chainrule.special.gammaincc``)."""
    from chainrule import special

    return special.gammaincc(input, other, out=out)


# -- resize_as_ -----------------------------------------------------------------------------------

_LAST_ORDERS = {"channels_last": 4, "channels_last_3d": 5}  # memory format -> the rank it needs


def resize_as_(input: Tensor, the_template: Tensor, *, memory_format: Any = None) -> Tensor:
    """Give ``input`` the shape of ``the_template``, in place (``input.resize_(the_template.size())``).

    Same shape: nothing changes.  Otherwise the tensor's elements, read in C order, fill the new
    shape in C order: shrinking keeps the first ``the_template.numel()`` of them (a view of the
    same memory when ``input`` is contiguous, as PyTorch keeps its storage), growing keeps them all
    and appends zeros (PyTorch leaves the new elements uninitialised, so their values are
    unspecified there; a view growing into its base's storage does not reach the base's values
    here: NumPy arrays own their memory).  ``memory_format=torch.channels_last`` (4-D) /
    ``channels_last_3d`` (5-D) lays the elements out in N, (D,) H, W, C order, whose values
    PyTorch shows through its strides; ``contiguous_format`` and ``preserve_format`` are C order.
    The dtype and device stay ``input``'s.

    Raises RuntimeError when ``input`` requires grad ("cannot resize variables that require
    grad", as PyTorch, also under ``no_grad``); a node that saved ``input`` for backward sees
    it changed (its version counter moves) and refuses to run.
    """
    from chainrule.autograd.primitive import table_of
    from chainrule.autograd.version import bump

    if not isinstance(input, Tensor) or not isinstance(the_template, Tensor):
        bad = input if not isinstance(input, Tensor) else the_template
        raise TypeError(f"resize_as_(): expected input and the_template to be Tensors, got {type(bad).__name__}")
    if input.requires_grad:
        raise RuntimeError(
            f"resize_as_(): cannot resize variables that require grad (input of shape {tuple(input.shape)} "
            f"requires grad; resize a detached copy, x.detach().clone().resize_as_(...))"
        )
    name = getattr(memory_format, "name", None) if memory_format is not None else "contiguous_format"
    if name not in ("contiguous_format", "preserve_format", *_LAST_ORDERS):
        raise TypeError(f"resize_as_(): memory_format must be a torch.memory_format, got {memory_format!r}")
    shape = tuple(the_template.shape)
    if shape == tuple(input.shape):
        return input
    if name in _LAST_ORDERS and len(shape) != _LAST_ORDERS[name]:
        raise RuntimeError(
            f"resize_as_(): required rank {_LAST_ORDERS[name]} tensor to use {name} format, the template "
            f"has shape {shape}"
        )
    m = table_of((input,), "resize_as_")
    a = input._array
    n = math.prod(shape)
    flat = m.reshape(a, (-1,))
    if n <= a.size:
        flat = m.getitem(flat, slice(0, n))
    else:
        flat = m.concatenate([flat, m.zeros((n - a.size,), a.dtype)])
    if name in _LAST_ORDERS:  # memory order N, (D,) H, W, C: the logical tensor is its transpose
        last = (shape[0], *shape[2:], shape[1])
        axes = (0, len(shape) - 1, *range(1, len(shape) - 1))
        new = m.copy(m.transpose(m.reshape(flat, last), axes))
    else:
        new = m.reshape(flat, shape)
    input._array = new
    bump(input)
    return input


__all__ = [
    "det", "logdet", "slogdet", "inverse", "cholesky", "cholesky_solve", "cholesky_inverse", "matrix_power",
    "matrix_exp", "pinverse", "svd", "qr", "triangular_solve", "lu", "lu_solve", "lu_unpack", "geqrf", "orgqr",
    "ormqr", "svd_lowrank", "pca_lowrank", "lobpcg",
    "hann_window", "hamming_window", "blackman_window", "bartlett_window", "kaiser_window",
    "nanquantile", "renorm", "put", "histogram", "histogramdd", "frexp", "nextafter", "binomial", "poisson",
    "igamma", "igammac", "resize_as_",
]
