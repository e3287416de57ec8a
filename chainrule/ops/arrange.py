"""Everyday tensor functions with PyTorch's names: triangles and diagonals, sorting and order
statistics, cumulative sums and products, rolling, tiling, splitting and stacking, einsum and the
fused matrix products (addmm...), scatter/index updates, the integer helpers (bincount, unique...).

Differentiable results are composed of differentiable pieces (getitem, gather, where, cat...) or,
for cumsum and einsum, are a primitive here.  Indices, masks and counts are integer/bool tensors
without gradient, as in PyTorch: each one entry of the back-end table (``backend/arrange_math.py``)
run through ``kernel`` on the input's device, or composed from other ops."""

from __future__ import annotations

import builtins
import functools
import itertools
import math
import operator
import string
from collections.abc import Sequence
from typing import Any

import numpy as np

from chainrule.autograd.primitive import Primitive, apply, apply1, kernel, table_of
from chainrule.autograd.tensor import Tensor
from chainrule.autograd.version import share_view
from chainrule.backend import get_default_dtype, sum_to
from chainrule.backend.layout import check_layout
from chainrule.backend.views import diagonal_view
from chainrule.ops import creation, indexing, linalg, reduction, shape
from chainrule.ops import elementwise as ew
from chainrule.ops._lift import _CATEGORY, as_tensor_arg, lift
from chainrule.ops._lift import promote_types as _promote_types
from chainrule.ops._lift import result_type as _result_type
from chainrule.ops.indexing import LinearMap
from chainrule.ops.reduction import _ValuesIndices, normalize_dims


def _dim(input: Tensor, dim: int, name: str) -> int:
    """One dimension as a non-negative axis (a 0-d tensor accepts 0 and -1, as PyTorch)."""
    axes = normalize_dims(dim, input.ndim, name)  # (checks the range for a 0-d input too)
    return axes[0] if input.ndim else 0


def _flat_or_dim(x: Tensor, dim: int | None, name: str) -> tuple[Tensor, int]:
    """(x flattened, 0) when ``dim`` is None, else (x, dim as an axis)."""
    return (shape.reshape(x, (-1,)), 0) if dim is None else (x, _dim(x, dim, name))


def _scalar_pair(x: Tensor) -> _ValuesIndices:
    """(x, 0) for a 0-d input of sort, topk, cummax...: the value is its own, at index 0."""
    return _ValuesIndices((x, x.new_full((), 0, dtype=np.int64)))


def _integer(a: Tensor, fn: str, k: int) -> Tensor:
    """a // k or a % k (``fn``: the table's floor_divide or remainder) of an integer tensor."""
    return kernel(fn, a, a.new_full((), k))


def _keep(vals: Tensor, idx: Tensor, d: int, keepdim: bool) -> _ValuesIndices:
    """(values, indices) with the selected axis ``d`` (of size 1) kept or squeezed away."""
    if not keepdim:
        vals, idx = shape.squeeze(vals, d), shape.squeeze(idx, d)
    return _ValuesIndices((vals, idx))


# ================================================================ triangles and diagonals
def _triangle(x: Tensor, diagonal: int, lower: bool, fill: float, name: str) -> Tensor:
    """x where j <= i + diagonal (lower; j >= i + diagonal for the upper) in its last two dims, else ``fill``."""
    if x.ndim < 2:
        raise RuntimeError(f"{name}: input tensor must have at least 2 dimensions, got shape {tuple(x.shape)}")
    return ew.where(kernel("tri_mask", x, k=diagonal, lower=lower), x, x.new_full((), fill))


def tril(input: Tensor, diagonal: int = 0) -> Tensor:
    """The lower triangle of the last two dims: x[..., i, j] where j <= i + diagonal, else 0."""
    return _triangle(as_tensor_arg(input, "tril"), diagonal, True, 0, "tril")


def triu(input: Tensor, diagonal: int = 0) -> Tensor:
    """The upper triangle of the last two dims: x[..., i, j] where j >= i + diagonal, else 0."""
    return _triangle(as_tensor_arg(input, "triu"), diagonal, False, 0, "triu")


def _diag_positions(x: Tensor, n1: int, n2: int, offset: int) -> tuple[Any, Any]:
    """(rows, cols) of the ``offset`` diagonal of an n1 x n2 matrix, as index arrays on x's device."""
    k = builtins.max(0, builtins.min(n1 + builtins.min(offset, 0), n2 - builtins.max(offset, 0)))
    i = table_of((x,), "diagonal").arange(k)
    return i - builtins.min(offset, 0), i + builtins.max(offset, 0)


def diagonal(input: Tensor, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Tensor:
    """The ``offset`` diagonal of the (dim1, dim2) planes, as a new last axis (PyTorch's layout)."""
    x = as_tensor_arg(input, "diagonal")
    if x.ndim < 2:
        raise RuntimeError(f"diagonal: expected a tensor with at least 2 dimensions, got shape {tuple(x.shape)}")
    d1, d2 = normalize_dims(dim1, x.ndim, "diagonal")[0], normalize_dims(dim2, x.ndim, "diagonal")[0]
    if d1 == d2:
        raise RuntimeError(f"diagonal: dim1 and dim2 cannot be the same ({dim1}, {dim2})")
    rows, cols = _diag_positions(x, x.shape[d1], x.shape[d2], offset)
    moved = shape.permute(x, *[d for d in range(x.ndim) if d not in (d1, d2)], d1, d2)
    y = indexing.getitem(moved, (Ellipsis, rows, cols))
    # a view, as PyTorch's (``x.diagonal().add_(eps)`` writes x's diagonal): the same values
    # in x's memory, which the node's backward never reads
    view = diagonal_view(x._array, offset, d1, d2)
    if view is not None and view.shape == tuple(y.shape):
        y._array = view
        share_view(y, x)
    return y


def diag_embed(input: Tensor, offset: int = 0, dim1: int = -2, dim2: int = -1) -> Tensor:
    """Matrices whose ``offset`` diagonal (in dims dim1, dim2 of the result) is the last axis of input."""
    x = as_tensor_arg(input, "diag_embed")
    x = shape.reshape(x, (1,)) if x.ndim == 0 else x
    size = x.shape[-1] + builtins.abs(offset)
    rows, cols = _diag_positions(x, size, size, offset)
    out = apply1(indexing.ScatterAdd(x.shape[:-1] + (size, size), (Ellipsis, rows, cols)), x)
    nd = out.ndim
    d1, d2 = dim1 % nd, dim2 % nd
    if d1 == d2:
        raise RuntimeError(f"diag_embed: dim1 and dim2 cannot be the same ({dim1}, {dim2})")
    rest = iter(range(nd - 2))  # where each result axis comes from (permute returns out itself for the identity)
    return shape.permute(out, *[nd - 2 if ax == d1 else nd - 1 if ax == d2 else next(rest) for ax in range(nd)])


def diag(input: Tensor, diagonal: int = 0) -> Tensor:
    """1-D input: the square matrix with input on its ``diagonal``; 2-D input: that diagonal."""
    x = as_tensor_arg(input, "diag")
    if x.ndim == 1:
        return diag_embed(x, diagonal)
    if x.ndim == 2:
        return indexing.getitem(x, _diag_positions(x, x.shape[0], x.shape[1], diagonal))
    raise RuntimeError(f"diag: expected a 1-D or 2-D tensor, got shape {tuple(x.shape)}")


def diagflat(input: Tensor, offset: int = 0) -> Tensor:
    """The square matrix with the flattened input on its ``offset`` diagonal."""
    return diag_embed(shape.reshape(as_tensor_arg(input, "diagflat"), (-1,)), offset)


def trace(input: Tensor) -> Tensor:
    """Σᵢ xᵢᵢ of a 2-D tensor."""
    x = as_tensor_arg(input, "trace")
    if x.ndim != 2:
        raise RuntimeError(f"trace: expected a matrix, got shape {tuple(x.shape)}")
    return reduction.sum(diagonal(x))


# ================================================================ sorting and order statistics
def _along(idx: Any, d: int, ndim: int) -> tuple:
    """The index that takes ``idx`` (an index or slice) along axis ``d`` of an ndim-d array."""
    return (slice(None),) * d + (idx,) + (slice(None),) * (ndim - d - 1)


def _picked(input: Tensor, dim: int, name: str, fn: str, keepdim: bool = True, **params: Any) -> _ValuesIndices:
    """(values, indices) for the indices along ``dim`` that the table entry ``fn`` picks (sort,
    cummax, mode...); values = gather(input, dim, indices), so the gradient goes back to them."""
    x = as_tensor_arg(input, name)
    if x.ndim == 0:
        return _scalar_pair(x)
    d = _dim(x, dim, name)
    idx = kernel(fn, x, axis=d, **params)
    return _keep(indexing.gather_in_range(x, d, idx), idx, d, keepdim)


def sort(input: Tensor, dim: int = -1, descending: bool = False, stable: bool = False) -> _ValuesIndices:
    """(values, indices) sorted along ``dim``; stable (ties keep their order), NaN sorts as the largest (as PyTorch)."""
    return _picked(input, dim, "sort", "sort_order", descending=descending)


def argsort(input: Tensor, dim: int = -1, descending: bool = False, stable: bool = False) -> Tensor:
    """The indices that sort ``input`` along ``dim`` (int64, no gradient)."""
    return sort(input, dim, descending, stable)[1]


def msort(input: Tensor) -> Tensor:
    """sort(input, dim=0).values."""
    return sort(input, 0)[0]


def _rank_check(x: Tensor, dim: int, k: int, low: int, name: str) -> int:
    """The axis of ``dim``, after checking low <= k <= its size."""
    d = _dim(x, dim, name)
    n = x.shape[d] if x.ndim else 1
    if not low <= k <= n:
        raise RuntimeError(f"{name}: k ({k}) is out of range for dimension {dim} of size {n} (shape {tuple(x.shape)})")
    return d


def topk(input: Tensor, k: int, dim: int = -1, largest: bool = True, sorted: bool = True) -> _ValuesIndices:
    """The ``k`` largest (smallest if ``largest=False``) entries along ``dim``: (values, indices)."""
    x = as_tensor_arg(input, "topk")
    d = _rank_check(x, dim, k, 0, "topk")
    if x.ndim == 0:
        return _scalar_pair(x)
    idx = kernel("sort_order", x, axis=d, descending=largest)[_along(slice(0, k), d, x.ndim)]
    return _ValuesIndices((indexing.gather_in_range(x, d, idx), idx))


def kthvalue(input: Tensor, k: int, dim: int = -1, keepdim: bool = False) -> _ValuesIndices:
    """The k-th smallest entry (k from 1) along ``dim``: (values, indices)."""
    x = as_tensor_arg(input, "kthvalue")
    return _select_rank(x, _rank_check(x, dim, k, 1, "kthvalue"), k - 1, keepdim)


def _select_rank(x: Tensor, d: int, r: int, keepdim: bool) -> _ValuesIndices:
    if x.ndim == 0:
        return _scalar_pair(x)
    idx = kernel("sort_order", x, axis=d, descending=False)[_along(slice(r, r + 1), d, x.ndim)]
    return _keep(indexing.gather_in_range(x, d, idx), idx, d, keepdim)


def median(input: Tensor, dim: int | None = None, keepdim: bool = False) -> Any:
    """The lower median (entry (n-1)//2 of the sorted values, as PyTorch; no averaging): without
    ``dim`` one value over all elements, with it (values, indices) along ``dim``."""
    x = as_tensor_arg(input, "median")
    if dim is None:
        if x.numel() == 0:
            return x.new_full((), np.nan)
        return _select_rank(shape.reshape(x, (-1,)), 0, (x.numel() - 1) // 2, False)[0]
    d = _dim(x, dim, "median")
    n = x.shape[d] if x.ndim else 1
    if n == 0:
        raise IndexError(f"median: expected a non-empty dimension {dim} (shape {tuple(x.shape)})")
    return _select_rank(x, d, (n - 1) // 2, keepdim)


def quantile(input: Tensor, q: Any, dim: int | None = None, keepdim: bool = False, *,
             interpolation: str = "linear") -> Tensor:
    """The q-quantiles along ``dim`` (all elements when None), between the two nearest sorted
    values by ``interpolation`` ('linear', 'lower', 'higher', 'midpoint', 'nearest').
    A 1-D ``q`` puts its axis first in the result, as PyTorch."""
    x = as_tensor_arg(input, "quantile")
    if x.dtype.kind != "f":
        raise RuntimeError(f"quantile: expected a floating input, got {x.dtype}")
    qs = q.tolist() if hasattr(q, "tolist") else q  # (q's few values, on the host)
    one = not isinstance(qs, (list, tuple))
    qs = [qs] if one else list(qs)
    if not builtins.all(isinstance(v, (int, float)) and 0 <= v <= 1 for v in qs):
        raise RuntimeError(f"quantile: q must be a scalar or a 1-D tensor of values in [0, 1], got {q!r}")
    if interpolation not in ("linear", "lower", "higher", "midpoint", "nearest"):
        raise ValueError(f"quantile: interpolation {interpolation!r} is not linear, lower, higher, midpoint or nearest")
    nd = x.ndim
    x, d = _flat_or_dim(x, dim, "quantile")
    s = sort(x, d)[0] if x.ndim else shape.reshape(x, (1,))
    pos = [v * (s.shape[d] - 1) for v in qs]
    # the sorted positions each interpolation reads ('nearest': round, halves to even, as PyTorch)
    ends: dict[str, Any] = {"lower": (math.floor,) * 2, "higher": (math.ceil,) * 2, "nearest": (round,) * 2}
    lo, hi = ([end(p) for p in pos] for end in ends.get(interpolation, (math.floor, math.ceil)))
    a, b = (indexing.index_select(s, d, x.new_tensor(e, dtype=np.int64)) for e in (lo, hi))
    frac = [0.5] * len(pos) if interpolation == "midpoint" else [p - f for p, f in zip(pos, lo)]
    w = shape.reshape(x.new_tensor(frac), (1,) * d + (-1,) + (1,) * (s.ndim - d - 1))
    out = shape.movedim(a + (b - a) * w, d, 0)  # the q axis first
    if keepdim and (dim is None or nd):  # (a 0-d input keeps its 0 dims: nothing to keep along dim)
        out = shape.reshape(out, (out.shape[0],) + (1,) * nd) if dim is None else shape.unsqueeze(out, d + 1)
    return shape.squeeze(out, 0) if one else out


def cummax(input: Tensor, dim: int) -> _ValuesIndices:
    """(running maximum, its index) along ``dim``; the gradient goes to the entry that holds it."""
    return _picked(input, dim, "cummax", "cum_extreme_index", largest=True)


def cummin(input: Tensor, dim: int) -> _ValuesIndices:
    """(running minimum, its index) along ``dim``."""
    return _picked(input, dim, "cummin", "cum_extreme_index", largest=False)


# ================================================================ cumulative sums and products
class Cumsum(LinearMap):
    """y_i = Σ_{j<=i} x_j along ``dim``;  vjp: the reversed cumulative sum of g;  jvp: cumsum of dx."""

    __slots__ = ("dim",)
    name = "cumsum"

    def __init__(self, dim: int) -> None:
        self.dim = dim

    def forward(self, m, x):
        return m.cumsum(x, self.dim)

    def vjp(self, m, need, g, y, x):
        d = (self.dim,)
        return (m.flip(m.cumsum(m.flip(g, d), self.dim), d),)

    def jvp(self, m, dxs, y, x):
        return m.cumsum(dxs[0], self.dim)


def _scan_input(input: Tensor, dim: int, dtype: Any, name: str) -> tuple[Tensor, int]:
    """(input cast to ``dtype``, or integers and bools to int64 as PyTorch; its axis ``dim``)."""
    x = as_tensor_arg(input, name)
    if dtype is not None:
        x = x.to(dtype)
    elif x.dtype.kind in "biu":
        x = x.to(np.int64)
    return x, _dim(x, dim, name)


def cumsum(input: Tensor, dim: int, *, dtype: Any = None) -> Tensor:
    """Running sums along ``dim``.  Integer and bool inputs give int64 (as PyTorch)."""
    x, d = _scan_input(input, dim, dtype, "cumsum")
    return apply1(Cumsum(d), x) if x.ndim else x.clone()


def _running(x: Tensor, d: int, fill: float, reduce: Any) -> Tensor:
    """y_i = reduce(x_0..x_i) along ``d``: ``reduce`` over the last axis of n copies of x whose
    copy i keeps x_j for j <= i and ``fill`` elsewhere (O(n²) memory along ``d``)."""
    xm = shape.movedim(x, d, -1)
    n = xm.shape[-1]
    copies = shape.expand(shape.unsqueeze(xm, -2), *xm.shape[:-1], n, n)
    return shape.movedim(reduce(_triangle(copies, 0, True, fill, "cumulative"), -1), -1, d)


def cumprod(input: Tensor, dim: int, *, dtype: Any = None) -> Tensor:
    """Running products along ``dim``: y_i = Π_{j<=i} x_j, as the product of n masked copies (O(n²)
    memory along ``dim``) so that the gradient is exact with zeros in x and differentiable again."""
    x, d = _scan_input(input, dim, dtype, "cumprod")
    if x.ndim == 0:
        return x.clone()
    if x.dtype.kind != "f" or x.shape[d] == 0:
        return kernel("cumprod", x, axis=d)
    return _running(x, d, 1.0, reduction.prod)


def logcumsumexp(input: Tensor, dim: int) -> Tensor:
    """y_i = log Σ_{j<=i} e^(x_j) along ``dim``, each as a logsumexp of the first i+1 entries
    (O(n²) memory along ``dim``; stable for any range of x, as PyTorch's)."""
    x = as_tensor_arg(input, "logcumsumexp")
    if x.dtype.kind != "f":
        raise RuntimeError(f"logcumsumexp: expected a floating input, got {x.dtype}")
    d = _dim(x, dim, "logcumsumexp")
    if x.ndim == 0 or x.shape[d] == 0:
        return x.clone()
    return _running(x, d, -np.inf, reduction.logsumexp)


def diff(input: Tensor, n: int = 1, dim: int = -1, prepend: Tensor | None = None,
         append: Tensor | None = None) -> Tensor:
    """The n-th forward difference along ``dim`` (after attaching prepend/append there)."""
    x = as_tensor_arg(input, "diff")
    d = _dim(x, dim, "diff")
    parts = [p for p in (prepend, x, append) if p is not None]
    x = shape.cat([p if p.ndim == x.ndim else shape.expand(p, *x.shape[:d], -1, *x.shape[d + 1 :]) for p in parts], d)
    for _ in range(n):
        k = x.shape[d]
        later, earlier = x[_along(slice(1, k), d, x.ndim)], x[_along(slice(0, builtins.max(k - 1, 0)), d, x.ndim)]
        # bool tensors: the difference of two truth values is their exclusive or (as PyTorch)
        x = kernel("logical_xor", later, earlier) if x.dtype == np.bool_ else later - earlier
    return x


# ================================================================ moving, tiling, splitting, stacking
def roll(input: Tensor, shifts: int | Sequence[int], dims: int | Sequence[int] | None = None) -> Tensor:
    """Shift the elements cyclically by ``shifts`` along ``dims`` (the flattened tensor when None)."""
    x = as_tensor_arg(input, "roll")
    s = [shifts] if isinstance(shifts, (int, np.integer)) else list(shifts)
    if dims is None:
        if len(s) != 1:
            raise RuntimeError(f"roll: shifts {shifts} need matching dims (got dims=None)")
        return shape.reshape(roll(shape.reshape(x, (-1,)), int(s[0]), 0), x.shape)
    ds = [dims] if isinstance(dims, (int, np.integer)) else list(dims)
    if len(s) != len(ds):
        raise RuntimeError(f"roll: shifts and dims must have the same length, got {len(s)} and {len(ds)}")
    for k, dm in zip(s, ds):
        d = _dim(x, dm, "roll")
        n = x.shape[d]
        k = int(k) % n if n else 0
        if k:
            x = shape.cat([x[_along(slice(n - k, n), d, x.ndim)], x[_along(slice(0, n - k), d, x.ndim)]], d)
    return x


def narrow(input: Tensor, dim: int, start: int, length: int) -> Tensor:
    """input[..., start:start+length, ...] along ``dim`` (a view, as PyTorch)."""
    x = as_tensor_arg(input, "narrow")
    d = _dim(x, dim, "narrow")
    n = x.shape[d]
    start = int(start.item() if isinstance(start, Tensor) else start)
    start = start + n if start < 0 else start
    if not (0 <= start <= n and 0 <= length and start + length <= n):
        raise IndexError(f"narrow: start ({start}) + length ({length}) exceeds dimension {dim} of size {n}")
    return x[(slice(None),) * d + (slice(start, start + length),)]


def select(input: Tensor, dim: int, index: int) -> Tensor:
    """input[..., index, ...] along ``dim`` (that axis removed)."""
    x = as_tensor_arg(input, "select")
    d = _dim(x, dim, "select")
    n = x.shape[d]
    if not -n <= index < n:
        raise IndexError(f"select: index {index} out of range for dimension {dim} of size {n}")
    return x[(slice(None),) * d + (int(index),)]


def swapaxes(input: Tensor, axis0: int, axis1: int) -> Tensor:
    """transpose(input, axis0, axis1) (NumPy's name)."""
    return shape.transpose(input, axis0, axis1)


swapdims = swapaxes
moveaxis = shape.movedim


def ravel(input: Tensor) -> Tensor:
    """The elements as a 1-D tensor."""
    return shape.reshape(as_tensor_arg(input, "ravel"), (-1,))


def tile(input: Tensor, dims: Sequence[int]) -> Tensor:
    """Repeat along each axis ``dims[i]`` times; fewer dims than input's are padded with 1s in front."""
    x = as_tensor_arg(input, "tile")
    dims = tuple(dims) if not isinstance(dims, int) else (dims,)
    return shape.repeat(x, *(1,) * builtins.max(0, x.ndim - len(dims)), *dims)


def repeat_interleave(input: Tensor, repeats: Any = None, dim: int | None = None, *,
                      output_size: int | None = None) -> Tensor:
    """Each element repeated ``repeats`` times (an int or one count per element) along ``dim``
    (of the flattened input when None).  With only a tensor of counts: repeat_interleave(counts)
    = the indices 0, 1, ... each repeated its count times."""
    x = as_tensor_arg(input, "repeat_interleave")
    if repeats is None:
        return kernel("repeat_index", x)
    r = repeats if isinstance(repeats, Tensor) else x.new_tensor(repeats, dtype=np.int64)
    x, d = _flat_or_dim(x, dim, "repeat_interleave")
    n = x.shape[d] if x.ndim else 1
    if r.numel() == 1:
        r = shape.expand(shape.reshape(r, (1,)), n)
    elif r.ndim != 1 or r.shape[0] != n:
        raise RuntimeError(f"repeat_interleave: repeats must have {n} entries (dimension {d}), got shape"
                           f" {tuple(r.shape)}")
    if (r < 0).any():
        raise RuntimeError("repeat_interleave: repeats can not be negative")
    return indexing.index_select(x, d, kernel("repeat_index", r))


def tensor_split(input: Tensor, indices_or_sections: Any, dim: int = 0) -> tuple[Tensor, ...]:
    """Split into n nearly equal parts (an int, the first n mod size parts one longer) or at the given indices."""
    x = as_tensor_arg(input, "tensor_split")
    d = _dim(x, dim, "tensor_split")
    n = x.shape[d]
    ios = indices_or_sections
    if isinstance(ios, Tensor):
        ios = ios.tolist() if ios.ndim else int(ios.item())
    if isinstance(ios, (int, np.integer)):
        k = int(ios)
        if k <= 0:
            raise RuntimeError(f"tensor_split: number of sections must be larger than 0, got {k}")
        big, rem = divmod(n, k)
        cuts = list(itertools.accumulate([big + 1] * rem + [big] * (k - 1 - rem)))
    else:
        cuts = [int(i) for i in ios]
    bounds = [builtins.min(c, n) for c in [0] + cuts + [n]]
    return tuple(x[_along(slice(a, builtins.max(a, b)), d, x.ndim)] for a, b in zip(bounds[:-1], bounds[1:]))


def _split_dir(input: Tensor, sections: Any, dim: int, name: str, min_ndim: int) -> tuple[Tensor, ...]:
    x = as_tensor_arg(input, name)
    if x.ndim < min_ndim:
        raise RuntimeError(f"{name}: requires a tensor with at least {min_ndim} dims, got shape {tuple(x.shape)}")
    if isinstance(sections, int) and x.shape[dim] % sections:
        raise RuntimeError(f"{name}: dimension {dim} of size {x.shape[dim]} is not divisible by {sections}")
    return tensor_split(x, sections, dim)


def hsplit(input: Tensor, sections: Any) -> tuple[Tensor, ...]:
    """tensor_split along dim 1 (dim 0 for 1-D input); an int must divide the size."""
    x = as_tensor_arg(input, "hsplit")
    return _split_dir(x, sections, 1 if x.ndim > 1 else 0, "hsplit", 1)


def vsplit(input: Tensor, sections: Any) -> tuple[Tensor, ...]:
    """tensor_split along dim 0 of a tensor with at least 2 dims."""
    return _split_dir(input, sections, 0, "vsplit", 2)


def dsplit(input: Tensor, sections: Any) -> tuple[Tensor, ...]:
    """tensor_split along dim 2 of a tensor with at least 3 dims."""
    return _split_dir(input, sections, 2, "dsplit", 3)


def _atleast(tensors: tuple, n: int, name: str) -> Any:
    """Each tensor with at least n dims: 1s in front up to 2 dims, then (for n = 3) one at the end."""
    out = [shape.reshape(t, (1,) * (builtins.min(n, 2) - t.ndim) + t.shape) for t in _tensors(tensors, name)]
    out = [shape.unsqueeze(t, 2) if n == 3 and t.ndim == 2 else t for t in out]
    return out[0] if len(out) == 1 else tuple(out)


def atleast_1d(*tensors: Any) -> Any:
    """Each tensor with at least 1 dim (a 0-d one becomes shape (1,)); one tensor in, one out."""
    return _atleast(tensors, 1, "atleast_1d")


def atleast_2d(*tensors: Any) -> Any:
    """Each tensor with at least 2 dims: () → (1, 1), (n,) → (1, n)."""
    return _atleast(tensors, 2, "atleast_2d")


def atleast_3d(*tensors: Any) -> Any:
    """Each tensor with at least 3 dims: () → (1, 1, 1), (n,) → (1, n, 1), (m, n) → (m, n, 1)."""
    return _atleast(tensors, 3, "atleast_3d")


def _tensors(args: tuple, name: str) -> list[Tensor]:
    if len(args) == 1 and isinstance(args[0], (list, tuple)):
        args = tuple(args[0])
    return [as_tensor_arg(t, name) for t in args]


def hstack(tensors: Sequence[Tensor]) -> Tensor:
    """cat along dim 1 (dim 0 for 1-D tensors), after atleast_1d."""
    ts = [atleast_1d(t) for t in _tensors((tensors,), "hstack")]
    return shape.cat(ts, 0 if ts[0].ndim == 1 else 1)


def vstack(tensors: Sequence[Tensor]) -> Tensor:
    """cat along dim 0 after atleast_2d (1-D tensors become rows)."""
    return shape.cat([atleast_2d(t) for t in _tensors((tensors,), "vstack")], 0)


row_stack = vstack


def dstack(tensors: Sequence[Tensor]) -> Tensor:
    """cat along dim 2 after atleast_3d."""
    return shape.cat([atleast_3d(t) for t in _tensors((tensors,), "dstack")], 2)


def column_stack(tensors: Sequence[Tensor]) -> Tensor:
    """1-D (and 0-d) tensors become columns, then cat along dim 1."""
    ts = [shape.reshape(t, (t.numel(), 1)) if t.ndim <= 1 else t for t in _tensors((tensors,), "column_stack")]
    return shape.cat(ts, 1)


def meshgrid(*tensors: Any, indexing: str = "ij") -> tuple[Tensor, ...]:
    """Coordinate grids of 1-D tensors: with 'ij' grid k varies along axis k; 'xy' swaps the first two."""
    ts = _tensors(tensors, "meshgrid")
    if indexing not in ("ij", "xy"):
        raise ValueError(f"meshgrid: indexing must be 'ij' or 'xy', got {indexing!r}")
    if builtins.any(t.ndim > 1 for t in ts):
        raise RuntimeError(f"meshgrid: expects 0-D or 1-D tensors, got shapes {[tuple(t.shape) for t in ts]}")
    ts = [atleast_1d(t) for t in ts]
    sizes = tuple(t.shape[0] for t in ts)
    grids = [shape.expand(shape.reshape(t, tuple(-1 if i == k else 1 for i in range(len(ts)))), *sizes)
             for k, t in enumerate(ts)]
    if indexing == "xy" and len(ts) >= 2:  # Cartesian indexing: the first two axes swapped
        grids = [shape.transpose(g, 0, 1) for g in grids]
    return tuple(grids)


def cartesian_prod(*tensors: Tensor) -> Tensor:
    """All combinations of the elements of the 1-D tensors, as rows (1-D result for one tensor)."""
    ts = _tensors(tensors, "cartesian_prod")
    return ts[0] if len(ts) == 1 else shape.stack([shape.reshape(g, (-1,)) for g in meshgrid(*ts, indexing="ij")], 1)


def fliplr(input: Tensor) -> Tensor:
    """Flip along dim 1 (at least 2-D)."""
    x = as_tensor_arg(input, "fliplr")
    if x.ndim < 2:
        raise RuntimeError(f"fliplr: input must be >= 2-D, got shape {tuple(x.shape)}")
    return shape.flip(x, (1,))


def flipud(input: Tensor) -> Tensor:
    """Flip along dim 0 (at least 1-D)."""
    x = as_tensor_arg(input, "flipud")
    if x.ndim < 1:
        raise RuntimeError("flipud: input must be >= 1-D")
    return shape.flip(x, (0,))


def rot90(input: Tensor, k: int = 1, dims: Sequence[int] = (0, 1)) -> Tensor:
    """Rotate by 90°·k in the plane of ``dims``, from the first axis towards the second."""
    x = as_tensor_arg(input, "rot90")
    if len(dims) != 2 or x.ndim < 2:
        raise RuntimeError(f"rot90: expected 2 dims and a tensor of >= 2 dims, got dims={dims}, shape {tuple(x.shape)}")
    d0, d1 = (normalize_dims(d, x.ndim, "rot90")[0] for d in dims)
    if d0 == d1:
        raise RuntimeError(f"rot90: the two dims must differ, got {dims}")
    k %= 4
    if k == 1:
        return shape.transpose(shape.flip(x, (d1,)), d0, d1)
    if k == 2:
        return shape.flip(x, (d0, d1))
    if k == 3:
        return shape.flip(shape.transpose(x, d0, d1), (d1,))
    return x.clone()


# ================================================================ selection by masks and indices
def masked_select(input: Tensor, mask: Tensor) -> Tensor:
    """The elements where ``mask`` (broadcast with input) is true, as a 1-D tensor."""
    x, mk = as_tensor_arg(input, "masked_select"), as_tensor_arg(mask, "masked_select")
    if mk.dtype != np.bool_:
        raise RuntimeError(f"masked_select: expected a bool mask, got {mk.dtype}")
    try:
        shp = np.broadcast_shapes(x.shape, mk.shape)
    except ValueError:
        raise RuntimeError(f"masked_select: mask {tuple(mk.shape)} does not broadcast with input"
                           f" {tuple(x.shape)}") from None
    return indexing.getitem(shape.expand(x, *shp), shape.expand(mk, *shp))


def take(input: Tensor, index: Tensor) -> Tensor:
    """input.flatten()[index], in index's shape."""
    x, idx = as_tensor_arg(input, "take"), as_tensor_arg(index, "take")
    n = x.numel()
    if idx.numel() and (idx._array.min() < -n or idx._array.max() >= n):
        raise IndexError(f"take: index out of range for a tensor of {n} elements")
    return indexing.getitem(shape.reshape(x, (-1,)), idx)


def nonzero(input: Tensor, *, as_tuple: bool = False) -> Any:
    """The indices of the non-zero elements: an (n, ndim) int64 tensor, or one 1-D tensor per dim."""
    x = as_tensor_arg(input, "nonzero")
    coords = kernel("argwhere", shape.reshape(x, (1,)) if as_tuple and x.ndim == 0 else x)  # (0-d: 1-D, as PyTorch)
    return tuple(coords[:, k] for k in range(coords.shape[1])) if as_tuple else coords


argwhere = nonzero


def count_nonzero(input: Tensor, dim: Any = None) -> Tensor:
    """The number of non-zero elements (over ``dim``), int64."""
    x = as_tensor_arg(input, "count_nonzero")
    return reduction.sum(x != 0, normalize_dims(dim, x.ndim, "count_nonzero"), dtype=np.int64)


def _index_at(input: Tensor, dim: int, index: Any, src: Tensor | None, name: str) -> tuple[Tensor, tuple]:
    """(input, the index along ``dim`` that index_add/copy/fill write at), after checking ``src``'s
    shape; the index is a private copy of ``index`` (0-D or 1-D integers): the vjp reads it later."""
    x = as_tensor_arg(input, name)
    d, idx = _dim(x, dim, name), as_tensor_arg(index, name)._array
    if idx.dtype.kind not in "iu" or idx.ndim > 1:
        raise IndexError(f"{name}: index must be a 0-D or 1-D integer tensor, got dtype {idx.dtype}, shape"
                         f" {tuple(idx.shape)}")
    idx = table_of((x._array, idx), name).copy(idx.reshape(-1))
    if src is not None and (src.ndim != x.ndim or src.shape[d] != idx.shape[0]):
        msg = f"source of shape {tuple(src.shape)} must match input {tuple(x.shape)} with {idx.shape[0]} entries"
        raise RuntimeError(f"{name}: {msg} along dim {d}")
    return x, _along(idx, d, x.ndim)


def index_add(input: Tensor, dim: int, index: Tensor, source: Tensor, *, alpha: float = 1) -> Tensor:
    """input with alpha·source[k] added at position index[k] along ``dim`` (repeats accumulate)."""
    src = as_tensor_arg(source, "index_add")
    x, at = _index_at(input, dim, index, src, "index_add")
    return x + apply1(indexing.ScatterAdd(x.shape, at), src * alpha if alpha != 1 else src)


def index_reduce(input: Tensor, dim: int, index: Tensor, source: Tensor, reduce: str, *,
                 include_self: bool = True) -> Tensor:
    """input with source's slice k reduced into the slice index[k] along ``dim``:
    ``out[..., index[k], ...] = reduce(input[..., index[k], ...], source[..., k, ...], ...)``
    (with input's slice only when ``include_self``; slices no index names keep input's values).

    ``reduce``: 'prod', 'mean' (counting input when included; integers round down), 'amax',
    'amin'.  Shapes: index (n,) integers, source input's shape with n along ``dim``.  Gradients
    as :func:`scatter_reduce`'s (index along ``dim`` spread over source's shape)."""
    if reduce not in ("prod", "mean", "amax", "amin"):
        raise RuntimeError(f"index_reduce: reduce must be one of 'prod', 'mean', 'amax', 'amin', got {reduce!r}")
    src = as_tensor_arg(source, "index_reduce")
    x = as_tensor_arg(input, "index_reduce")
    d = _dim(x, dim, "index_reduce")
    idx = as_tensor_arg(index, "index_reduce")
    if idx.dtype.kind not in "iu" or idx.ndim > 1:
        raise IndexError(f"index_reduce: index must be a 0-D or 1-D integer tensor, got dtype {idx.dtype}, "
                         f"shape {tuple(idx.shape)}")
    idx = shape.reshape(idx, (-1,))
    want = tuple(x.shape[:d]) + (idx.shape[0],) + tuple(x.shape[d + 1 :])
    if tuple(src.shape) != want:
        raise RuntimeError(f"index_reduce: source of shape {tuple(src.shape)} must have input's shape "
                           f"{tuple(x.shape)} with {idx.shape[0]} entries along dim {d}, i.e. {want}")
    spread = shape.expand(shape.reshape(idx, (1,) * d + (-1,) + (1,) * (x.ndim - d - 1)), want)
    return scatter_reduce(x, d, spread, src, reduce, include_self=include_self)


def index_copy(input: Tensor, dim: int, index: Tensor, source: Tensor) -> Tensor:
    """input with the slices at index[k] along ``dim`` replaced by source's slice k."""
    src = as_tensor_arg(source, "index_copy")
    x, at = _index_at(input, dim, index, src, "index_copy")
    return apply(indexing.IndexPut(at), x, src.to(x.dtype))


def index_fill(input: Tensor, dim: int, index: Tensor, value: Any) -> Tensor:
    """input with the slices at ``index`` along ``dim`` set to ``value``."""
    x, at = _index_at(input, dim, index, None, "index_fill")
    v = value.to(x.dtype) if isinstance(value, Tensor) else x.new_full((), value)
    return apply(indexing.IndexPut(at), x, v)


def _scatter_parts(x: Tensor, dim: int, index: Any, src: Any, name: str) -> tuple:
    """(the index of the positions that index[i][j]... sends src[i][j]... to along ``dim``, the
    part of ``src`` of index's shape in x's dtype (a number: filled with it))."""
    d = _dim(x, dim, name)
    at = indexing.index_along(x, d, as_tensor_arg(index, name), name)
    if not isinstance(src, Tensor):
        return at, x.new_full(at[d].shape, src)
    return at, indexing.getitem(src, tuple(slice(0, n) for n in at[d].shape)).to(x.dtype)


def scatter(input: Tensor, dim: int, index: Tensor, src: Any = None, *, value: Any = None,
            reduce: str | None = None) -> Tensor:
    """``out = input; out[index[i][j]][j] = src[i][j]`` along ``dim`` 0 (or ``= value``; likewise for other dims);
    ``reduce='add'`` adds ('multiply' is not implemented).  dL/dinput is 0 where overwritten,
    ``dL/dsrc[i][j]`` = dL/dout at the written position (as PyTorch)."""
    x = as_tensor_arg(input, "scatter")
    src = value if src is None else src
    if src is None:
        raise TypeError("scatter: expected src or value")
    if reduce not in (None, "add"):
        raise NotImplementedError(f"scatter: reduce={reduce!r} is not implemented (only 'add')")
    at, part = _scatter_parts(x, dim, index, src, "scatter")
    if reduce == "add":
        return x + apply1(indexing.ScatterAdd(x.shape, at), part)
    return apply(indexing.IndexPut(at), x, part)


def bincount(input: Tensor, weights: Tensor | None = None, minlength: int = 0) -> Tensor:
    """Counts of each value 0..max in a 1-D non-negative integer tensor (weighted sums with ``weights``)."""
    x = as_tensor_arg(input, "bincount")
    if x.ndim != 1 or x.dtype.kind not in "iu" or (x.numel() and x._array.min() < 0):
        raise RuntimeError(f"bincount: expected 1-D non-negative integers, got {x.dtype} of shape {tuple(x.shape)}")
    return kernel("bincount", x, *([] if weights is None else [weights]), minlength=minlength)


def searchsorted(sorted_sequence: Tensor, values: Any, *, out_int32: bool = False, right: bool = False,
                 side: str | None = None, sorter: Tensor | None = None) -> Tensor:
    """For each value, the index where it would be inserted to keep the innermost rows sorted."""
    seq = as_tensor_arg(sorted_sequence, "searchsorted")
    if isinstance(values, (int, float)):  # a Python number: searched for in its own precision
        v = seq.new_tensor(values, dtype=np.result_type(values))
    else:
        v = as_tensor_arg(values, "searchsorted")
    if seq.ndim > 1 and seq.shape[:-1] != v.shape[:-1]:
        raise RuntimeError(f"searchsorted: shapes {tuple(seq.shape)} and {tuple(v.shape)} differ before the last dim")
    right = side == "right" if side is not None else right
    return kernel("searchsorted", seq, v, *([] if sorter is None else [sorter]), right=right, out_int32=out_int32)


def bucketize(input: Any, boundaries: Tensor, *, out_int32: bool = False, right: bool = False) -> Tensor:
    """The bucket index of each input value for 1-D ``boundaries`` (right=False: b[i-1] < x <= b[i])."""
    b = as_tensor_arg(boundaries, "bucketize")
    if b.ndim != 1:
        raise RuntimeError(f"bucketize: boundaries must be 1-D, got shape {tuple(b.shape)}")
    return searchsorted(b, input, out_int32=out_int32, right=right)


def histc(input: Tensor, bins: int = 100, min: float = 0, max: float = 0) -> Tensor:
    """A histogram of ``bins`` equal bins on [min, max] (the data's range when both are 0; values outside ignored)."""
    x = as_tensor_arg(input, "histc")
    lo, hi = float(min), float(max)
    if lo == hi and x.numel():
        lo, hi = float(x._array.min()), float(x._array.max())
    if lo == hi:
        lo, hi = lo - 1, hi + 1
    if lo > hi:
        raise RuntimeError(f"histc: max ({hi}) must be larger than min ({lo})")
    return kernel("histc", x, bins=bins, lo=lo, hi=hi)


def unique(input: Tensor, sorted: bool = True, return_inverse: bool = False, return_counts: bool = False,
           dim: int | None = None) -> Any:
    """The distinct elements (sorted), with optionally the inverse indices and the counts (no gradient)."""
    x = as_tensor_arg(input, "unique")
    d = None if dim is None else _dim(x, dim, "unique")
    parts = [0] + [1] * return_inverse + [2] * return_counts
    out = [kernel("unique", x, axis=d, part=p) for p in parts]
    return out[0] if len(out) == 1 else tuple(out)


def unique_consecutive(input: Tensor, return_inverse: bool = False, return_counts: bool = False,
                       dim: int | None = None) -> Any:
    """Collapse runs of equal consecutive elements (of the flattened input); no gradient."""
    if dim is not None:
        raise NotImplementedError("unique_consecutive: dim is not implemented (the flattened input only)")
    x = as_tensor_arg(input, "unique_consecutive")
    flat = shape.reshape(x, (-1,))
    n = flat.shape[0]
    starts = shape.cat([x.new_full((builtins.min(n, 1),), True, dtype=np.bool_), flat[1:] != flat[:-1]])  # a run begins
    out: list[Tensor] = [indexing.getitem(flat, starts)]
    if return_inverse:
        out.append(shape.reshape(cumsum(starts, 0) - 1, x.shape))
    if return_counts:
        first = nonzero(starts, as_tuple=True)[0]
        out.append(diff(first, append=first.new_full((1,), n)))
    return out[0] if len(out) == 1 else tuple(out)


# ================================================================ statistics pairs
def _with_mean(stat: Any, name: str) -> Any:
    def stat_mean(input: Tensor, dim: Any = None, unbiased: bool | None = None, keepdim: bool = False, *,
                  correction: Any = None) -> tuple[Tensor, Tensor]:
        if isinstance(dim, bool) and unbiased is None:  # var_mean(x, True): the positional 'unbiased', as var's
            unbiased, dim = dim, None
        return stat(input, dim, unbiased, keepdim, correction=correction), reduction.mean(input, dim, keepdim)

    stat_mean.__name__ = stat_mean.__qualname__ = f"{name}_mean"
    stat_mean.__doc__ = f"({name}, mean) over ``dim``, as two differentiable results."
    return stat_mean


std_mean = _with_mean(reduction.std, "std")
var_mean = _with_mean(reduction.var, "var")


def aminmax(input: Tensor, *, dim: int | None = None, keepdim: bool = False) -> tuple[Tensor, Tensor]:
    """(amin, amax) over ``dim`` (every element when None)."""
    return reduction.amin(input, dim, keepdim), reduction.amax(input, dim, keepdim)


def nansum(input: Tensor, dim: Any = None, keepdim: bool = False, *, dtype: Any = None) -> Tensor:
    """sum with NaNs counted as 0 (their gradient is 0)."""
    x = as_tensor_arg(input, "nansum")
    if x.dtype.kind == "f":
        x = ew.where(x != x, x.new_zeros(()), x)  # (x != x: NaN)
    return reduction.sum(x, dim, keepdim, dtype=dtype)


def nanmean(input: Tensor, dim: Any = None, keepdim: bool = False, *, dtype: Any = None) -> Tensor:
    """The mean of the non-NaN elements over ``dim``."""
    x = as_tensor_arg(input, "nanmean")
    if x.dtype.kind != "f":
        raise RuntimeError(f"nanmean: expected a floating input, got {x.dtype}")
    count = reduction.sum(x == x, dim, keepdim, dtype=x.dtype)  # the non-NaN elements
    return nansum(x, dim, keepdim, dtype=dtype) / count


# ================================================================ products: einsum, tensordot, fused forms
_LETTERS = string.ascii_letters


def _parse_einsum(equation: str, shapes: list[tuple]) -> tuple[list[str], str]:
    """Explicit subscripts with '...' spelled out as capital-free letters, and the output."""
    eq = equation.replace(" ", "")
    lhs, arrow, out = eq.partition("->")
    ins = lhs.split(",")
    if len(ins) != len(shapes):
        raise RuntimeError(f"einsum(): the equation has {len(ins)} operands but {len(shapes)} tensors were given")
    used = set(eq) - set(".,->")
    nell = builtins.max([len(s) - (len(t) - 3) for t, s in zip(ins, shapes) if "..." in t] + [0])
    ell = "".join([c for c in _LETTERS if c not in used][:nell])  # spare letters for the '...' dims
    spelled = [t.replace("...", ell[nell - (len(s) - len(t) + 3) :]) for t, s in zip(ins, shapes)]  # (k dims)
    for t, s in zip(spelled, shapes):
        if len(t) != len(s):
            raise RuntimeError(f"einsum(): subscripts {t!r} do not match an operand of shape {s}")
    if arrow:
        out = out.replace("...", ell)
    else:  # implicit mode: the broadcast axes, then the letters used once, in alphabetical order
        letters = "".join(spelled)
        out = ell + "".join(sorted(c for c in set(letters) if letters.count(c) == 1 and c not in ell))
    return spelled, out


class Einsum(Primitive):
    """y = einsum(subs -> out, x₁, ..., xₙ);  dL/dxₖ = einsum(out, the others -> subsₖ) of g,
    jvp = Σₖ einsum with xₖ replaced by dxₖ.  Operands' subscripts have no repeated letter
    (``einsum`` takes diagonals first), so every gradient is an einsum too."""

    __slots__ = ("subs", "out")
    name = "einsum"
    saves_output = False

    def __init__(self, subs: list[str], out: str) -> None:
        self.subs, self.out = subs, out

    def forward(self, m, *xs):
        return m.einsum(",".join(self.subs) + "->" + self.out, *xs)

    def vjp(self, m, need, g, y, *xs):
        return tuple(self._grad(m, k, g, xs) if n else None for k, n in enumerate(need))

    def _grad(self, m, k, g, xs):
        others = [s for i, s in enumerate(self.subs) if i != k]
        # letters of x that appear neither in the output nor in another operand were summed
        # away: their gradient is g broadcast along them
        known = set(self.out).union(*others)
        sub = "".join(c if c in known else "" for c in self.subs[k])
        gk = m.einsum(",".join([self.out] + others) + "->" + sub, g, *[o for i, o in enumerate(xs) if i != k])
        if sub == self.subs[k]:
            return gk
        shp = tuple(n if c in known else 1 for c, n in zip(self.subs[k], xs[k].shape))
        return m.broadcast_to(m.reshape(gk, shp), xs[k].shape)

    def jvp(self, m, dxs, y, *xs):
        eq = ",".join(self.subs) + "->" + self.out
        return functools.reduce(operator.add, (m.einsum(eq, *xs[:k], dx, *xs[k + 1 :]) for k, dx in enumerate(dxs)))


def einsum(equation: str, *operands: Any) -> Tensor:
    """Einstein summation, as ``torch.einsum`` (operands as arguments or one list; '...' broadcasts);
    a letter repeated within one operand takes that operand's diagonal first ('ii->i', 'ii')."""
    xs = _tensors(operands, "einsum")
    subs, out = _parse_einsum(equation, [x.shape for x in xs])
    for k, (s, x) in enumerate(zip(subs, xs)):
        while len(set(s)) < len(s):  # a repeated letter: take the diagonal of its first two places
            c = next(c for c in s if s.count(c) > 1)
            i, j = s.index(c), s.index(c, s.index(c) + 1)
            if x.shape[i] != x.shape[j]:
                raise RuntimeError(f"einsum(): {c} repeated in operand {k} of sizes ({x.shape[i]}, {x.shape[j]})")
            x = diagonal(x, 0, i, j)
            s = s[:i] + s[i + 1 : j] + s[j + 1 :] + c
        subs[k], xs[k] = s, x
    sizes: dict[str, int] = {}
    for s, x in zip(subs, xs):
        for c, n in zip(s, x.shape):
            if sizes.setdefault(c, n) != n and 1 not in (n, sizes[c]):
                raise RuntimeError(f"einsum(): operands do not broadcast: subscript {c} has sizes {sizes[c]} and {n}")
            sizes[c] = builtins.max(sizes[c], n)
    if len(set(out)) != len(out) or builtins.any(c not in sizes for c in out):
        raise RuntimeError(f"einsum(): invalid output subscripts {out!r}")
    if builtins.any(x.dtype != xs[0].dtype for x in xs):
        raise RuntimeError(f"einsum(): expected operands of one dtype, got {[str(x.dtype) for x in xs]}")
    return apply(Einsum(subs, out), *xs)


def tensordot(a: Tensor, b: Tensor, dims: Any = 2) -> Tensor:
    """Contract the last ``dims`` axes of a with the first of b, or the listed pairs ([a dims], [b dims])."""
    a, b = as_tensor_arg(a, "tensordot"), as_tensor_arg(b, "tensordot")
    if isinstance(dims, Tensor):
        dims = dims.tolist()
    if isinstance(dims, (int, np.integer)):
        da, db = list(range(a.ndim - int(dims), a.ndim)), list(range(int(dims)))
    else:
        da, db = ([ds] if isinstance(ds, int) else list(ds) for ds in dims)
    da, db = [d % a.ndim for d in da], [d % b.ndim for d in db]
    sa, sb = list(_LETTERS[: a.ndim]), list(_LETTERS[a.ndim : a.ndim + b.ndim])
    for i, j in zip(da, db):
        if a.shape[i] != b.shape[j]:
            raise RuntimeError(f"tensordot: dims {i} of a {tuple(a.shape)}, {j} of b {tuple(b.shape)} differ")
        sb[j] = sa[i]
    out = "".join(c for k, c in enumerate(sa) if k not in da) + "".join(c for k, c in enumerate(sb) if k not in db)
    return einsum("".join(sa) + "," + "".join(sb) + "->" + out, a, b)


def inner(input: Tensor, other: Tensor) -> Tensor:
    """Σ over the last axis of both (a scalar times a tensor when either is 0-d)."""
    if input.ndim == 0 or other.ndim == 0:
        return input * other
    return tensordot(input, other, ([-1], [-1]))


def vdot(input: Tensor, other: Tensor) -> Tensor:
    """Σ aᵢbᵢ of two 1-D tensors (no conjugation for real dtypes)."""
    return linalg.dot(input, other)


def mv(input: Tensor, vec: Tensor) -> Tensor:
    """Matrix (n, m) times vector (m,) → (n,)."""
    if input.ndim != 2 or vec.ndim != 1:
        raise RuntimeError(f"mv: expected a matrix and a vector, got {tuple(input.shape)} and {tuple(vec.shape)}")
    return linalg.matmul(input, vec)


def _beta_alpha(input: Tensor, prod: Tensor, beta: float, alpha: float) -> Tensor:
    if alpha != 1:
        prod = prod * alpha
    if beta == 0:  # PyTorch ignores input then (NaN and inf in it are not propagated)
        return prod + ew.where(prod.new_full((), False, dtype=np.bool_), input, prod.new_zeros(()))
    return (input * beta if beta != 1 else input) + prod


def addmm(input: Tensor, mat1: Tensor, mat2: Tensor, *, beta: float = 1, alpha: float = 1) -> Tensor:
    """beta·input + alpha·(mat1 @ mat2) for 2-D mat1 (n, m), mat2 (m, p); input broadcasts to (n, p)."""
    return _beta_alpha(input, linalg.mm(mat1, mat2), beta, alpha)


def addmv(input: Tensor, mat: Tensor, vec: Tensor, *, beta: float = 1, alpha: float = 1) -> Tensor:
    """beta·input + alpha·(mat @ vec)."""
    return _beta_alpha(input, mv(mat, vec), beta, alpha)


def addr(input: Tensor, vec1: Tensor, vec2: Tensor, *, beta: float = 1, alpha: float = 1) -> Tensor:
    """beta·input + alpha·outer(vec1, vec2)."""
    return _beta_alpha(input, linalg.outer(vec1, vec2), beta, alpha)


def baddbmm(input: Tensor, batch1: Tensor, batch2: Tensor, *, beta: float = 1, alpha: float = 1) -> Tensor:
    """beta·input + alpha·(batch1 @ batch2) per batch, (b, n, m) @ (b, m, p)."""
    return _beta_alpha(input, linalg.bmm(batch1, batch2), beta, alpha)


def addbmm(input: Tensor, batch1: Tensor, batch2: Tensor, *, beta: float = 1, alpha: float = 1) -> Tensor:
    """beta·input + alpha·Σ_b batch1[b] @ batch2[b]."""
    return _beta_alpha(input, reduction.sum(linalg.bmm(batch1, batch2), 0), beta, alpha)


def kron(input: Tensor, other: Tensor) -> Tensor:
    """The Kronecker product: out[i·q + k, ...] = a[i, ...]·b[k, ...] (the shorter shape padded with 1s)."""
    a, b = as_tensor_arg(input, "kron"), as_tensor_arg(other, "kron")
    nd = builtins.max(a.ndim, b.ndim)
    a, b = (shape.reshape(t, (1,) * (nd - t.ndim) + t.shape) for t in (a, b))
    ai = shape.reshape(a, tuple(v for n in a.shape for v in (n, 1)))  # (a0, 1, a1, 1, ...)
    bi = shape.reshape(b, tuple(v for n in b.shape for v in (1, n)))  # (1, b0, 1, b1, ...)
    return shape.reshape(ai * bi, tuple(p * q for p, q in zip(a.shape, b.shape)))


def cross(input: Tensor, other: Tensor, dim: int | None = None) -> Tensor:
    """The 3-D cross product along ``dim`` (None: the first dim of size 3, as torch.cross)."""
    a, b = as_tensor_arg(input, "cross"), as_tensor_arg(other, "cross")
    shp = np.broadcast_shapes(a.shape, b.shape)
    if dim is None:
        dim = next((i for i, n in enumerate(shp) if n == 3), None)
        if dim is None:
            raise RuntimeError(f"cross: no dimension of size 3 in input (shape {shp})")
    d = dim % len(shp)
    if shp[d] != 3:
        raise RuntimeError(f"cross: dimension {dim} must have size 3, got shapes {tuple(a.shape)} and {tuple(b.shape)}")
    a, b = shape.expand(a, *shp), shape.expand(b, *shp)
    return roll(a, -1, d) * roll(b, -2, d) - roll(a, -2, d) * roll(b, -1, d)  # c_i = a_(i+1) b_(i+2) - a_(i+2) b_(i+1)


_CDIST_MODES = ("use_mm_for_euclid_dist_if_necessary", "use_mm_for_euclid_dist", "donot_use_mm_for_euclid_dist")


def cdist(
    x1: Tensor, x2: Tensor, p: float = 2.0, compute_mode: str = "use_mm_for_euclid_dist_if_necessary"
) -> Tensor:
    """Pairwise p-norm distances between the rows of x1 (..., n, d) and x2 (..., m, d) → (..., n, m):
    out[..., i, j] = ||x1[..., i, :] - x2[..., j, :]||_p; the gradient at a zero distance is 0 (as PyTorch).

    ``compute_mode`` is PyTorch's choice of route for p = 2 (through ||a||² - 2 a·b + ||b||², faster
    on large inputs, or through the differences); the distances are the same up to rounding, so
    every mode takes the differences here, the more accurate route. Any other value raises.
    """
    if compute_mode not in _CDIST_MODES:
        raise ValueError(f"{compute_mode} is not a valid value for compute_mode")
    a, b = as_tensor_arg(x1, "cdist"), as_tensor_arg(x2, "cdist")
    if a.ndim < 2 or b.ndim < 2 or a.shape[-1] != b.shape[-1]:
        raise RuntimeError(f"cdist: expected (..., n, d) and (..., m, d), got {tuple(a.shape)} and {tuple(b.shape)}")
    return reduction.norm(shape.unsqueeze(a, -2) - shape.unsqueeze(b, -3), p, -1)


# ================================================================ index grids, scatters into slices, statistics
def _triangle_indices(row: int, col: int, offset: int, lower: bool, dtype: Any, device: Any) -> Tensor:
    grid = creation.empty(row, col, dtype=np.bool_, device=device)  # (only its shape and device count)
    coords = kernel("argwhere", kernel("tri_mask", grid, k=offset, lower=lower))  # (n, 2), row by row
    return shape.t(coords).to(dtype or np.int64)


def tril_indices(
    row: int, col: int, offset: int = 0, *, dtype: Any = None, device: Any = None, layout: Any = None
) -> Tensor:
    """The (2, n) coordinates of the lower triangle of a row x col matrix, row by row."""
    check_layout(layout, "tril_indices()")
    return _triangle_indices(row, col, offset, True, dtype, device)


def triu_indices(
    row: int, col: int, offset: int = 0, *, dtype: Any = None, device: Any = None, layout: Any = None
) -> Tensor:
    """The (2, n) coordinates of the upper triangle of a row x col matrix, row by row."""
    check_layout(layout, "triu_indices()")
    return _triangle_indices(row, col, offset, False, dtype, device)


def unravel_index(indices: Any, shape_: Sequence[int]) -> tuple[Tensor, ...]:
    """Flat indices → one coordinate tensor per dimension of ``shape``: c_k = (i // stride_k) mod n_k."""
    idx = as_tensor_arg(indices, "unravel_index")
    dims = tuple(int(n) for n in shape_)
    total = math.prod(dims)
    if idx.numel() and (idx._array.min() < -total or idx._array.max() >= total):
        raise RuntimeError(f"unravel_index: index out of range for shape {dims}")
    flat = _integer(idx.to(np.int64), "remainder", builtins.max(total, 1))
    strides = [math.prod(dims[k + 1 :]) for k in range(len(dims))]
    return tuple(_integer(_integer(flat, "floor_divide", s), "remainder", n) for s, n in zip(strides, dims))


def block_diag(*tensors: Tensor) -> Tensor:
    """A block-diagonal matrix of the given (0-, 1- or 2-D) tensors, zeros elsewhere."""
    ts = [shape.reshape(t, (1,) * (2 - t.ndim) + t.shape) for t in _tensors(tensors, "block_diag")]  # rows
    lefts = [0, *itertools.accumulate(t.shape[1] for t in ts)]  # where each block's columns start; last: all
    return shape.cat([shape.pad(t, [a, lefts[-1] - a - t.shape[1]]) for t, a in zip(ts, lefts)], 0)


def combinations(input: Tensor, r: int = 2, with_replacement: bool = False) -> Tensor:
    """All r-element combinations of a 1-D tensor's elements, as rows (itertools order)."""
    x = as_tensor_arg(input, "combinations")
    if x.ndim != 1:
        raise RuntimeError(f"combinations: expected a 1-D tensor, got shape {tuple(x.shape)}")
    pick = itertools.combinations_with_replacement if with_replacement else itertools.combinations
    rows = [list(c) for c in pick(range(x.shape[0]), r)]
    return indexing.getitem(x, shape.reshape(x.new_tensor(rows, dtype=np.int64), (-1, r)))


def masked_scatter(input: Tensor, mask: Tensor, source: Tensor) -> Tensor:
    """input with the positions where ``mask`` (broadcast) is true filled by source's first
    elements in row-major order; gradients: 0 to input there, to those source elements."""
    x = as_tensor_arg(input, "masked_scatter")
    mk = indexing.normalize_index(shape.expand(as_tensor_arg(mask, "masked_scatter"), *x.shape), x)  # (a copy)
    k = int(mk.sum())
    src = shape.reshape(as_tensor_arg(source, "masked_scatter"), (-1,))
    if src.shape[0] < k:
        raise RuntimeError(f"masked_scatter: source has {src.shape[0]} elements but the mask selects {k}")
    return apply(indexing.IndexPut(mk), x, src[:k].to(x.dtype))


def index_put(input: Tensor, indices: Sequence[Any], values: Any, accumulate: bool = False) -> Tensor:
    """input with input[indices] = values (or += with ``accumulate``, repeats adding up)."""
    x = as_tensor_arg(input, "index_put")
    idx = indexing.normalize_index(tuple(indices), x)  # (private copies: the vjp reads them)
    v = values.to(x.dtype) if isinstance(values, Tensor) else x.new_tensor(values)
    if not accumulate:
        return apply(indexing.IndexPut(idx), x, v)
    v = shape.expand(v, *x._array[idx].shape)  # (v itself when it has that shape)
    return x + apply1(indexing.ScatterAdd(x.shape, idx), v)


def select_scatter(input: Tensor, src: Tensor, dim: int, index: int) -> Tensor:
    """input with its slice ``index`` along ``dim`` replaced by ``src``."""
    x = as_tensor_arg(input, "select_scatter")
    d = _dim(x, dim, "select_scatter")
    return apply(indexing.IndexPut((slice(None),) * d + (int(index),)), x, src.to(x.dtype))


def slice_scatter(input: Tensor, src: Tensor, dim: int = 0, start: int | None = None, end: int | None = None,
                  step: int = 1) -> Tensor:
    """input with input[..., start:end:step, ...] (along ``dim``) replaced by ``src``."""
    x = as_tensor_arg(input, "slice_scatter")
    d = _dim(x, dim, "slice_scatter")
    return apply(indexing.IndexPut((slice(None),) * d + (slice(start, end, step),)), x, src.to(x.dtype))


def diagonal_scatter(input: Tensor, src: Tensor, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Tensor:
    """input with its ``offset`` diagonal in (dim1, dim2) replaced by ``src`` (diagonal's layout)."""
    x = as_tensor_arg(input, "diagonal_scatter")
    d1, d2 = normalize_dims(dim1, x.ndim, "diagonal_scatter")[0], normalize_dims(dim2, x.ndim, "diagonal_scatter")[0]
    rows, cols = _diag_positions(x, x.shape[d1], x.shape[d2], offset)
    index: list[Any] = [slice(None)] * x.ndim
    index[d1], index[d2] = rows, cols
    # x[index] has the diagonal axis where the first of two adjacent index arrays stands, else first
    # (NumPy's rule); src has it last (diagonal's layout)
    at = builtins.min(d1, d2) if builtins.abs(d1 - d2) == 1 else 0
    return apply(indexing.IndexPut(tuple(index)), x, shape.movedim(src.to(x.dtype), -1, at))


def unfold_windows(input: Tensor, dimension: int, size: int, step: int) -> Tensor:
    """``Tensor.unfold``: every window of ``size`` along ``dimension`` (stride ``step``), the
    window as a new last axis: shape (..., (n - size)//step + 1, ..., size)."""
    x = as_tensor_arg(input, "unfold")
    d = _dim(x, dimension, "unfold")
    n = x.shape[d] if x.ndim else 1
    if size > n or step <= 0:
        raise RuntimeError(f"unfold: size {size} (<= {n}) and step {step} (> 0) do not fit dim {d} of {tuple(x.shape)}")
    m = table_of((x,), "unfold")
    idx = m.arange(0, n - size + 1, step)[:, None] + m.arange(size)  # (windows, size)
    return shape.movedim(indexing.getitem(x, (slice(None),) * d + (idx,)), d + 1, -1)  # (..., windows, size, ...)


def dist(input: Tensor, other: Tensor, p: float = 2) -> Tensor:
    """The p-norm of input - other (broadcast)."""
    return reduction.norm(input - other, p)


def cov(input: Tensor, *, correction: int = 1, fweights: Tensor | None = None,
        aweights: Tensor | None = None) -> Tensor:
    """The covariance matrix of the variables in the rows of ``input`` (observations in columns);
    one variable (a 1-D input or one row) gives a 0-d variance, as PyTorch."""
    x = as_tensor_arg(input, "cov")
    if fweights is not None or aweights is not None:
        raise NotImplementedError("cov: fweights and aweights are not implemented")
    if x.ndim > 2:
        raise RuntimeError(f"cov: expected a 1-D or 2-D input, got shape {tuple(x.shape)}")
    one = x.ndim < 2 or x.shape[0] == 1  # one variable (1-D input or one row): a 0-d variance, as PyTorch
    x = shape.reshape(x, (1, -1)) if x.ndim < 2 else x
    c = x - reduction.mean(x, 1, True)
    out = linalg.matmul(c, shape.t(c)) / builtins.max(x.shape[1] - correction, 0)
    return shape.reshape(out, ()) if one else out


def corrcoef(input: Tensor) -> Tensor:
    """Pearson correlation coefficients of the rows of ``input`` (clipped to [-1, 1])."""
    c = cov(input)
    if c.ndim == 0:  # one variable (1-D input or one row): 0-d, as PyTorch
        return c / c
    d = ew.sqrt(diagonal(c))
    return ew.clamp(c / shape.unsqueeze(d, 1) / shape.unsqueeze(d, 0), -1, 1)


def _trapezoids(y: Tensor, x: Tensor | None, dx: float | None, dim: int, name: str) -> tuple[Tensor, int]:
    """(the trapezoids' areas along ``dim``, (y_i + y_(i+1))/2 · (x_(i+1) - x_i) or · dx (1 by default); the axis)."""
    yt = as_tensor_arg(y, name)
    d = _dim(yt, dim, name)
    n = yt.shape[d]
    mids = (yt[_along(slice(1, n), d, yt.ndim)] + yt[_along(slice(0, builtins.max(n - 1, 0)), d, yt.ndim)]) * 0.5
    if x is None:
        return mids * (1.0 if dx is None else dx), d
    xt = as_tensor_arg(x, name)
    xd = diff(xt, dim=-1 if xt.ndim == 1 else d)
    return mids * (shape.reshape(xd, (-1,) + (1,) * (yt.ndim - d - 1)) if xt.ndim == 1 else xd), d


def trapezoid(y: Tensor, x: Tensor | None = None, *, dx: float | None = None, dim: int = -1) -> Tensor:
    """∫ y along ``dim`` by the trapezoid rule, at points ``x`` or spacing ``dx`` (1 by default)."""
    return reduction.sum(*_trapezoids(y, x, dx, dim, "trapezoid"))  # (the areas, summed along their axis)


trapz = trapezoid


def cumulative_trapezoid(y: Tensor, x: Tensor | None = None, *, dx: float | None = None, dim: int = -1) -> Tensor:
    """The running trapezoid-rule integral of y along ``dim`` (one element shorter)."""
    return cumsum(*_trapezoids(y, x, dx, dim, "cumulative_trapezoid"))


def _spacings(x: Tensor, spacing: Any, dims: list[int], dim_given: bool) -> list[Any]:
    """``gradient``'s spacing, one entry per dimension of ``dims``: a float h (uniform) or a 1-D
    Tensor of the coordinates along that dimension."""
    def one(s: Any, d: int) -> Any:
        if isinstance(s, Tensor):
            if s.ndim == 0:
                return float(s.item())
            if s.ndim != 1 or s.shape[0] != x.shape[d]:
                raise RuntimeError(f"torch.gradient expected each tensor to be on the same device and to be a 1-D "
                                   f"tensor of coordinates of length {x.shape[d]} (the size of dimension {d}), got "
                                   f"shape {tuple(s.shape)}")
            return s
        if isinstance(s, (bool, str)) or not isinstance(s, (int, float)):
            raise TypeError(f"torch.gradient: spacing must be a number, or a list of numbers or of 1-D tensors, "
                            f"got {type(s).__name__}")
        return float(s)

    if isinstance(spacing, (int, float)) or (isinstance(spacing, Tensor) and spacing.ndim == 0):
        return [one(spacing, d) for d in dims]
    if isinstance(spacing, Tensor) or not isinstance(spacing, Sequence):
        raise TypeError("torch.gradient: spacing must be a number, or a list/tuple of numbers or of 1-D tensors, "
                        f"got {type(spacing).__name__}")
    if len(spacing) != len(dims):
        if dim_given:
            raise RuntimeError(f"torch.gradient expected spacing to be unspecified, a scalar or it's spacing and dim "
                               f"arguments to have the same length, but got a spacing argument of length "
                               f"{len(spacing)} and a dim argument of length {len(dims)}.")
        raise RuntimeError(f"torch.gradient expected spacing to be unspecified, a scalar, or a list of length equal "
                           f"to 'self.dim() = {x.ndim}', since dim argument was not given, but got a list of length "
                           f"{len(spacing)}")
    return [one(s, d) for s, d in zip(spacing, dims, strict=True)]


def _gradient_along(f: Tensor, d: int, h: Any, edge_order: int) -> Tensor:
    """One-dimensional finite differences of f along axis d (see :func:`gradient`)."""
    n, nd = f.shape[d], f.ndim

    def at(a: int, b: int) -> Tensor:  # f[a:b] along d
        return f[_along(slice(a, b), d, nd)]

    if isinstance(h, Tensor):
        c = shape.reshape(h.to(f.dtype), (n,) + (1,) * (nd - d - 1))
        dx = c[1:] - c[:-1]                      # (n-1,...): x_(i+1) - x_i
        hl, hr = dx[:-1], dx[1:]
        mid = (hl * hl * at(2, n) - hr * hr * at(0, n - 2) + (hr * hr - hl * hl) * at(1, n - 1)) / (hl * hr * (hl + hr))
        if edge_order == 1:
            first = (at(1, 2) - at(0, 1)) / dx[0:1]
            last = (at(n - 1, n) - at(n - 2, n - 1)) / dx[n - 2:n - 1]
        else:
            a1, a2 = dx[0:1], dx[1:2]
            first = (-(2 * a1 + a2) / (a1 * (a1 + a2)) * at(0, 1) + (a1 + a2) / (a1 * a2) * at(1, 2)
                     - a1 / (a2 * (a1 + a2)) * at(2, 3))
            b1, b2 = dx[n - 3:n - 2], dx[n - 2:n - 1]
            last = (b2 / (b1 * (b1 + b2)) * at(n - 3, n - 2) - (b1 + b2) / (b1 * b2) * at(n - 2, n - 1)
                    + (2 * b2 + b1) / (b2 * (b1 + b2)) * at(n - 1, n))
    else:
        mid = (at(2, n) - at(0, n - 2)) / (2 * h)
        if edge_order == 1:
            first = (at(1, 2) - at(0, 1)) / h
            last = (at(n - 1, n) - at(n - 2, n - 1)) / h
        else:
            first = (-1.5 * at(0, 1) + 2 * at(1, 2) - 0.5 * at(2, 3)) / h
            last = (0.5 * at(n - 3, n - 2) - 2 * at(n - 2, n - 1) + 1.5 * at(n - 1, n)) / h
    return shape.cat([first, mid, last], d)


def gradient(input: Tensor, *, spacing: Any = 1, dim: int | Sequence[int] | None = None,
             edge_order: int = 1) -> tuple[Tensor, ...]:
    """The derivative of the samples f = ``input`` along each dimension of ``dim`` (all by
    default) by finite differences, one Tensor of input's shape per dimension.

    ``spacing`` is h, the distance between samples (a number for every dimension, or one per
    dimension), or, per dimension, a 1-D Tensor of the sample coordinates x_0 < ... < x_(n-1).
    Inside, the central difference of second order: (f_(i+1) - f_(i-1)) / 2h, and with
    coordinates (h_l² f_(i+1) - h_r² f_(i-1) + (h_r² - h_l²) f_i) / (h_l h_r (h_l + h_r)) with
    h_l = x_i - x_(i-1), h_r = x_(i+1) - x_i.  At the two ends one-sided differences of order
    ``edge_order``: 1, (f_1 - f_0) / h; 2, (-3 f_0 + 4 f_1 - f_2) / 2h (the formulas are exact on
    polynomials of degree ``edge_order``, and inside on degree 2).  Every dimension needs at
    least edge_order + 1 samples.  Integer input gives the default float dtype.
    """
    x = as_tensor_arg(input, "gradient")
    if edge_order not in (1, 2):
        raise RuntimeError("torch.gradient only supports edge_order=1 and edge_order=2.")
    if x.ndim == 0:
        raise RuntimeError("torch.gradient expected a tensor with at least one dimension, got a 0-d tensor")
    dims = list(range(x.ndim)) if dim is None else [dim] if isinstance(dim, int) else list(dim)
    dims = [_dim(x, d, "gradient") for d in dims]
    if len(set(dims)) != len(dims):
        raise RuntimeError(f"torch.gradient: dim {list(dims)} appears multiple times in the list of dims")
    hs = _spacings(x, spacing, dims, dim is not None)
    for d in dims:
        if x.shape[d] < edge_order + 1:
            raise RuntimeError(f"torch.gradient expected each dimension size to be at least edge_order+1 (got size "
                               f"{x.shape[d]} in dimension {d} of shape {tuple(x.shape)}, edge_order={edge_order})")
    if x.dtype.kind in "biu":
        x = x.to(get_default_dtype())
    return tuple(_gradient_along(x, d, h, edge_order) for d, h in zip(dims, hs, strict=True))


def vander(x: Tensor, N: int | None = None, increasing: bool = False) -> Tensor:
    """The Vandermonde matrix: columns x^(N-1), ..., x, 1 (reversed with ``increasing``)."""
    xt = as_tensor_arg(x, "vander")
    if xt.ndim != 1:
        raise RuntimeError(f"vander: x must be a 1-D tensor, got shape {tuple(xt.shape)}")
    n = xt.shape[0] if N is None else N
    if xt.dtype.kind in "biu":
        xt = xt.to(np.int64)
    cols = [shape.unsqueeze(ew.pow(xt, k), 1) for k in (range(n) if increasing else range(n - 1, -1, -1))]
    return shape.cat(cols, 1) if cols else xt.new_zeros((xt.shape[0], 0))


def chain_matmul(*matrices: Tensor) -> Tensor:
    """matrices[0] @ matrices[1] @ ... (left to right)."""
    return functools.reduce(linalg.mm, _tensors(matrices, "chain_matmul"))


def mode(input: Tensor, dim: int = -1, keepdim: bool = False) -> _ValuesIndices:
    """(the most frequent value along ``dim`` (the smallest among equally frequent ones), an index
    where it occurs (the last, as PyTorch on CPU)); the value's gradient goes to that entry."""
    return _picked(input, dim, "mode", "mode_index", keepdim)


# ================================================================ small queries and PyTorch's other names
def clone(input: Tensor, *, memory_format: Any = None) -> Tensor:
    """A copy of input (differentiable: the gradient passes through)."""
    return as_tensor_arg(input, "clone").clone(memory_format=memory_format)


def detach(input: Tensor) -> Tensor:
    """input without its history (no gradient flows back)."""
    return as_tensor_arg(input, "detach").detach()


def split_with_sizes(input: Tensor, split_sizes: Sequence[int], dim: int = 0) -> tuple[Tensor, ...]:
    """split with an explicit list of sizes (which must add up to the dimension's size)."""
    return shape.split(input, list(split_sizes), dim)


concatenate = shape.cat
unsafe_split = shape.split
unsafe_chunk = shape.chunk


def is_floating_point(input: Tensor) -> bool:
    """True for a floating dtype."""
    return np.dtype(input.dtype).kind == "f"


def is_complex(input: Tensor) -> bool:
    """True for a complex dtype (never, here)."""
    return np.dtype(input.dtype).kind == "c"


def is_signed(input: Tensor) -> bool:
    """True for a dtype with negative values (not bool or uint8)."""
    return np.dtype(input.dtype).kind in "fic"


def is_nonzero(input: Tensor) -> bool:
    """The truth of a one-element tensor (RuntimeError for more or fewer elements, as PyTorch)."""
    x = as_tensor_arg(input, "is_nonzero")
    if x.numel() != 1:
        raise RuntimeError(f"is_nonzero: a Tensor with {x.numel()} elements cannot be converted to Scalar")
    return x.item() != 0


def is_same_size(input: Tensor, other: Tensor) -> bool:
    """True when both have the same shape."""
    return tuple(input.shape) == tuple(other.shape)


def result_type(tensor1: Any, tensor2: Any) -> np.dtype:
    """The dtype PyTorch gives a binary op on these operands (tensors or Python numbers)."""
    if not isinstance(tensor1, Tensor):
        if not isinstance(tensor2, Tensor):
            raise TypeError("result_type(): expected at least one Tensor argument")
        return _result_type(lift(tensor1, tensor2), tensor2)
    return _result_type(tensor1, lift(tensor2, tensor1))


def promote_types(type1: Any, type2: Any) -> np.dtype:
    """The dtype both promote to, by PyTorch's rule (``_lift.promote_types``)."""
    return _promote_types(np.dtype(type1), np.dtype(type2))


def can_cast(from_: Any, to: Any) -> bool:
    """True when PyTorch's casting rule allows ``from_`` to ``to`` (no float → int, no → bool)."""
    return _CATEGORY[np.dtype(from_).kind] <= _CATEGORY[np.dtype(to).kind]


def broadcast_shapes(*shapes: Any) -> tuple[int, ...]:
    """The shape that tensors of these shapes broadcast to."""
    try:
        return tuple(np.broadcast_shapes(*[(s,) if isinstance(s, int) else tuple(s) for s in shapes]))
    except ValueError as e:
        raise RuntimeError(f"broadcast_shapes: shapes {shapes} do not broadcast ({e})") from None


def scalar_tensor(
    s: Any, *, dtype: Any = None, device: Any = None, requires_grad: bool = False, layout: Any = None,
    pin_memory: bool = False
) -> Tensor:
    """A 0-d tensor holding ``s`` (the default float dtype unless ``dtype`` is given).  As in PyTorch,
    whose 0-d results are always strided, ``layout`` is not checked."""
    creation._check_pin_memory(pin_memory, "scalar_tensor()")
    return creation.tensor(s, dtype=dtype or get_default_dtype(), device=device, requires_grad=requires_grad)


class ScatterReduce(Primitive):
    """y = base with each src[p] combined into y[index[p]] by max ('amax'), min ('amin') or
    product ('prod'): y[q] = reduce(base[q], {src[p] : index[p] = q}).

    amax/amin: the adjoint of y[q] is shared equally among its contributors equal to y[q]
    (base[q] and those src[p]): dL/dc = g[q]·[c = y[q]]/N[q], N[q] the number of them.
    prod: dL/dc = g[q]·Π(the other contributors): y[q]/c for c ≠ 0; for a zero c the product
    of the others is formed with c replaced by 1 (so one zero gets the product of the rest, and
    a zero among several gets 0).  A recorded backward (second derivatives) of 'prod' raises
    where two src zeros meet at one position (as PyTorch's).  ``include_self=False`` is handled
    by the caller, which passes the reduction's identity as base where src arrives.
    """

    __slots__ = ("index", "reduce")
    name = "scatter_reduce"

    def __init__(self, index: tuple, reduce: str) -> None:
        self.index, self.reduce = index, reduce

    def forward(self, m, base, src):
        return m.scatter_reduce_into(base, self.index, src, self.reduce)

    def _partials(self, m, y, base, src):
        """(∂y/∂base, ∂y[index]/∂src) for the vjp (times g) and the jvp (times the tangents)."""
        at = self.index
        y_at = m.getitem(y, at)
        if self.reduce != "prod":  # amax / amin
            hit_base = m.astype(base == y, y.dtype)
            hit_src = m.astype(src == y_at, y.dtype)
            n = hit_base + m.scatter_add(y.shape, at, hit_src)
            return hit_base / n, hit_src / m.getitem(n, at)
        zero_base, zero_src = base == 0, src == 0
        base1 = m.where(zero_base, m.ones_like(base), base)
        d_base = m.scatter_reduce_into(base1, at, src, "prod") / base1
        zeros_at = m.getitem(m.scatter_add(y.shape, at, m.astype(zero_src, y.dtype)), at)
        lone_zero = zero_src & (zeros_at == 1)
        if m.is_tensor and bool((m.raw(zeros_at)[m.raw(zero_src)] > 1).any()):
            raise RuntimeError("scatter_reduce: the second derivative of reduce='prod' is not implemented where "
                               "two or more src values sent to one position are 0 (as in PyTorch)")
        without = m.getitem(m.scatter_reduce_into(base, at, m.where(lone_zero, m.ones_like(src), src), "prod"), at)
        d_src = m.where(lone_zero, without, y_at / m.where(zero_src, m.ones_like(src), src))
        return d_base, d_src

    def vjp(self, m, need, g, y, base, src):
        d_base, d_src = self._partials(m, y, base, src)
        return (g * d_base if need[0] else None, m.getitem(g, self.index) * d_src if need[1] else None)

    def jvp(self, m, dxs, y, base, src):
        d_base, d_src = self._partials(m, y, base, src)
        return dxs[0] * d_base + m.scatter_add(y.shape, self.index, dxs[1] * d_src)


_REDUCES = ("sum", "prod", "mean", "amax", "amin")


def _identity(reduce: str, dtype: np.dtype) -> Any:
    """The value that leaves a ``reduce`` unchanged, in ``dtype`` (the place of an excluded input)."""
    if reduce == "prod":
        return 1
    largest = reduce == "amin"
    if dtype.kind == "b":
        return largest
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return info.max if largest else info.min
    return np.inf if largest else -np.inf


def scatter_reduce(input: Tensor, dim: int, index: Tensor, src: Tensor, reduce: str, *,
                   include_self: bool = True) -> Tensor:
    """Reduce the ``src`` values sent to each position (``index`` along ``dim``, as ``scatter``)
    together with input's value there (unless ``include_self=False``); positions that receive
    nothing keep input's value.

    ``reduce``: 'sum', 'prod', 'mean' (counting input when it is included; integer means round
    down, as PyTorch), 'amax', 'amin'.  Gradients: 'amax'/'amin' share the adjoint equally among
    the values equal to the result; 'prod' gives each value the product of the others (exact
    with zeros); with ``include_self=False`` input gets no gradient where src arrives.  Shapes:
    index (same number of dims as input, no larger than src), src; output input's shape."""
    x = as_tensor_arg(input, "scatter_reduce")
    if reduce not in _REDUCES:
        raise RuntimeError(f"scatter_reduce: reduce must be one of {', '.join(map(repr, _REDUCES))}, got {reduce!r}")
    at, part = _scatter_parts(x, dim, index, as_tensor_arg(src, "scatter_reduce"), "scatter_reduce")
    def received() -> Tensor:  # how many values each position receives (asked only where needed)
        return apply1(indexing.ScatterAdd(x.shape, at), part.new_full(part.shape, 1, dtype=np.int64))

    count = received() if not include_self else None
    if reduce in ("prod", "amax", "amin"):
        base = x if count is None else ew.where(count > 0, x.new_full((), _identity(reduce, x.dtype)), x)
        return apply(ScatterReduce(at, reduce), base, part)
    base = x if count is None else ew.where(count > 0, x.new_zeros(()), x)
    total = base + apply1(indexing.ScatterAdd(x.shape, at), part)
    if reduce == "sum":
        return total
    n = ew.clamp((received() if count is None else count) + int(include_self), 1).to(x.dtype)  # (a position
    # that receives nothing keeps its value)
    return kernel("floor_divide", total, n) if x.dtype.kind in "iu" else total / n


def nanmedian(input: Tensor, dim: int | None = None, keepdim: bool = False) -> Any:
    """``median`` of the non-NaN elements (NaN where all are NaN): the entry (k-1)//2 of the k
    sorted non-NaN values, as PyTorch.  With ``dim``: (values, indices); without, NaN for no elements."""
    if dim is None and as_tensor_arg(input, "nanmedian").numel() == 0:
        return median(input)  # (NaN, as PyTorch)
    x, d = _flat_or_dim(as_tensor_arg(input, "nanmedian"), dim, "nanmedian")
    if x.ndim == 0:
        return _scalar_pair(x) if dim is not None else x
    if x.shape[d] == 0:
        raise IndexError(f"nanmedian: expected a non-empty dimension (shape {tuple(x.shape)})")
    if x.dtype.kind == "f":  # the middle one of the non-NaN values, which sort first
        rank = ew.clamp(_integer(reduction.sum(x == x, d, True) - 1, "floor_divide", 2), 0)
    else:
        rank = x.new_full(x.shape[:d] + (1,) + x.shape[d + 1 :], (x.shape[d] - 1) // 2, dtype=np.int64)
    idx = indexing.gather_in_range(kernel("sort_order", x, axis=d, descending=False), d, rank)
    vals = indexing.gather_in_range(x, d, idx)
    return shape.reshape(vals, ()) if dim is None else _keep(vals, idx, d, keepdim)


def sum_to_size(input: Tensor, *size: Any) -> Tensor:
    """input summed down to ``size`` (which input must broadcast from), as ``Tensor.sum_to_size``."""
    x = as_tensor_arg(input, "sum_to_size")
    target = shape._shape_arg(size)
    if not shape.broadcasts_to(target, tuple(x.shape)):
        raise RuntimeError(f"sum_to_size: size {target} is not expandable to the tensor's size {tuple(x.shape)}")
    return sum_to(x, target)
