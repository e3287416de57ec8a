"""Indexing: x[index], x[index] = v, gather, scatter-add.

The vjp of reading x[index] is a *scatter-add*: the adjoint of each selected
element is added back at its position, and an element selected twice (an
integer-array index with repeats) receives the sum of both adjoints.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from chainrule.autograd.grad_mode import STATE
from chainrule.autograd.primitive import Primitive, apply, apply1, table_of
from chainrule.autograd.tensor import Tensor
from chainrule.autograd.version import bump, share_if_view
from chainrule.backend.int_wrap import fill_value
from chainrule.ops._lift import as_tensor_arg
from chainrule.ops.elementwise import where
from chainrule.ops.inplace import has_tangent, rebind


def _sequence_as_tuple(index: list) -> bool:
    """PyTorch's reading of a list index: as a tuple of indices (one per axis) when it is short
    (under 32 entries) and holds a tensor, an array, a sequence, a slice, None or Ellipsis
    (``x[[rows, cols]]`` is ``x[rows, cols]``); else as one integer index (``x[[0, 2]]``)."""
    return len(index) < 32 and any(
        i is None or i is Ellipsis or isinstance(i, (slice, Tensor, np.ndarray, list, tuple)) for i in index
    )


def normalize_index(index: Any, like: Tensor) -> Any:
    """The index with Tensors, NumPy arrays and lists in it replaced by private copies on ``like``'s
    device: the vjp scatters by them during backward, when the caller's index may have changed
    in place (PyTorch keeps its own copy too).  Host indices of a tensor on another device are
    moved there, as PyTorch accepts CPU indices for a CUDA tensor."""
    if isinstance(index, tuple):
        return tuple(normalize_index(i, like) for i in index)
    if isinstance(index, list) and _sequence_as_tuple(index):
        warnings.warn("Using a non-tuple sequence for multidimensional indexing is deprecated (in PyTorch too); "
                      "use x[tuple(seq)] instead of x[seq]", UserWarning, stacklevel=4)
        return tuple(normalize_index(i, like) for i in index)
    if isinstance(index, Tensor):
        a = index._array.copy()
    elif isinstance(index, np.ndarray):
        a = index.copy()
    elif isinstance(index, list):
        a = [i.item() if isinstance(i, Tensor) else i for i in index]
    else:
        return index
    return table_of((like,), "indexing").from_host(a) if type(a) is not type(like._array) else a


class LinearMap(Primitive):
    """A primitive linear in its input (an index, a shape change, a move): its vjp (the
    transposed map) and jvp (the map itself) read neither the input nor the output."""

    __slots__ = ()
    saves_inputs = ()
    saves_output = False


class GetItem(LinearMap):
    """y = x[index];  vjp: scatter-add g into zeros of x's shape."""

    __slots__ = ("index",)
    name = "getitem"

    def __init__(self, index: Any) -> None:
        self.index = index

    def forward(self, m, x):
        return x[self.index]

    def vjp(self, m, need, g, y, x):
        return (m.scatter_add(x.shape, self.index, g),)

    def jvp(self, m, dxs, y, x):
        return dxs[0][self.index]


class ScatterAdd(LinearMap):
    """y = zeros(shape) with x added at ``index``;  vjp: g[index] (the transpose of GetItem)."""

    __slots__ = ("shape", "index")
    name = "scatter_add"

    def __init__(self, shape: tuple, index: Any) -> None:
        self.shape, self.index = shape, index

    def forward(self, m, x):
        return m.scatter_add(self.shape, self.index, x)

    def vjp(self, m, need, g, y, x):
        return (m.getitem(g, self.index),)

    def jvp(self, m, dxs, y, x):
        return m.scatter_add(self.shape, self.index, dxs[0])


class IndexPut(LinearMap):
    """y = x with y[index] = v (what ``x[index] = v`` records);  dL/dx = g with g[index] = 0,  dL/dv = g[index]."""

    __slots__ = ("index",)
    name = "index_put"

    def __init__(self, index: Any) -> None:
        self.index = index

    def forward(self, m, x, v):
        y = x.copy()
        y[self.index] = v
        return y

    def vjp(self, m, need, g, y, x, v):
        gx = gv = None
        if need[0]:
            keep = table_of((g,)).ones(x.shape, np.bool_)  # a constant mask on g's device (g may be a Tensor)
            keep[self.index] = False
            gx = g * keep
        if need[1]:
            gv = m.sum_to(m.getitem(g, self.index), v.shape)
        return gx, gv

    def jvp(self, m, dxs, y, x, v):
        out = m.copy(dxs[0])
        out[self.index] = dxs[1]
        return out


def getitem(input: Tensor, index: Any) -> Tensor:
    """x[index] with NumPy semantics (slices, ints, None, ..., integer arrays, boolean masks)."""
    idx = normalize_index(index, input)
    try:
        # basic indexing gives a view of input's memory: then they share the version counter
        return share_if_view(apply1(GetItem(idx), input), input)
    except IndexError as e:
        raise IndexError(f"getitem: index {index!r} is invalid for a tensor of shape"
                         f" {tuple(input.shape)}: {e}") from None


def setitem(input: Tensor, index: Any, value: Any) -> None:
    """x[index] = value.  Recorded as IndexPut when a graph is built (not on leaves that require grad)."""
    idx = normalize_index(index, input)
    dtype = input._array.dtype
    v = value if isinstance(value, Tensor) else Tensor._wrap(table_of((input,)).asarray(fill_value(value, dtype),
                                                                                      dtype))
    recorded = (STATE.enabled and (input.requires_grad or v.requires_grad)) or has_tangent(input) or has_tangent(v)
    if not recorded:
        if input.requires_grad and input._op is None and STATE.enabled:
            raise RuntimeError("a leaf Variable that requires grad is being used in an in-place operation")
        input._array[idx] = v._array
        bump(input)
        return
    rebind(input, lambda old: apply(IndexPut(idx), old, v.to(input.dtype) if v.dtype != input.dtype else v))


def index_along(input: Tensor, dim: int, index: Any, name: str, checked: bool = True) -> tuple:
    """The index that reads, for each position p of ``index``, input's element at index[p] along
    ``dim`` and at p elsewhere (``gather``'s; ``scatter`` writes there).  Checked (unless
    ``checked`` is False: indices in range by construction), and holding a private copy of the
    indices: a vjp reads them later."""
    m = table_of((input, index) if isinstance(index, Tensor) else (input,), name)
    idx = m.copy(index._array if isinstance(index, Tensor) else m.asarray(index))
    if idx.ndim != input.ndim:
        raise RuntimeError(f"{name}: index has {idx.ndim} dims but input has {input.ndim} ({tuple(idx.shape)},"
                           f" {tuple(input.shape)})")
    d = dim % input.ndim
    if checked and idx.size and (idx.min() < -input.shape[d] or idx.max() >= input.shape[d]):
        raise IndexError(f"{name}: index out of range for dimension {d} of size {input.shape[d]}")
    grids = list(m.ix_(*[m.arange(n) for n in idx.shape]))
    grids[d] = idx % max(input.shape[d], 1)
    return tuple(grids)


def gather(input: Tensor, dim: int, index: Tensor) -> Tensor:
    """``out[i][j] = input[i][index[i][j]]`` along ``dim`` (PyTorch ``gather``)."""
    input = as_tensor_arg(input, "gather")
    return getitem(input, index_along(input, dim, index, "gather"))


def gather_in_range(input: Tensor, dim: int, index: Tensor) -> Tensor:
    """:func:`gather` for indices in range by construction (a sort's or a selection's own): not
    checked, so that no value is read (which a compiled plan would guard)."""
    return getitem(input, index_along(input, dim, index, "gather", checked=False))


def take_along_dim(input: Tensor, indices: Tensor, dim: int | None = None) -> Tensor:
    """``torch.take_along_dim``: :func:`gather` along ``dim`` after broadcasting ``input`` and
    ``indices`` against each other in every other dim, as PyTorch; ``dim=None`` gathers from the
    flattened input at the flattened indices."""
    from chainrule.ops import shape
    from chainrule.ops.reduction import normalize_dims

    input = as_tensor_arg(input, "take_along_dim")
    if not isinstance(indices, Tensor) or indices._array.dtype != np.int64:
        got = indices.dtype if isinstance(indices, Tensor) else type(indices).__name__
        raise RuntimeError(f"torch.take_along_dim(): dtype of indices should be Long but got {got}")
    if dim is None:
        return gather(shape.reshape(input, (-1,)), 0, shape.reshape(indices, (-1,)))
    if input.ndim != indices.ndim:
        raise RuntimeError("torch.take_along_dim(): input and indices should have the same number of dimensions, "
                           f"but got {input.ndim} dimensions for input, and {indices.ndim} dimensions for indices")
    (d,) = normalize_dims(dim, input.ndim, "take_along_dim") or (0,)
    in_sizes = list(input.shape)
    in_sizes[d] = indices.shape[d]
    try:
        common = list(np.broadcast_shapes(tuple(in_sizes), tuple(indices.shape)))
    except ValueError:
        raise RuntimeError(f"torch.take_along_dim(): the shapes of input {tuple(input.shape)} and indices "
                           f"{tuple(indices.shape)} cannot be broadcast outside dim {d}") from None
    idx = indices if list(indices.shape) == common else shape.broadcast_to(indices, common)
    common[d] = input.shape[d]
    src = input if list(input.shape) == common else shape.broadcast_to(input, common)
    return gather(src, d, idx)


def index_select(input: Tensor, dim: int, index: Tensor) -> Tensor:
    idx = index._array if isinstance(index, Tensor) else table_of((input,)).asarray(index)
    return getitem(input, (slice(None),) * (dim % input.ndim) + (idx,))


def masked_fill(input: Tensor, mask: Any, value: Any) -> Tensor:
    """``value`` where mask is true, input elsewhere (mask broadcasts).  ``value`` is a number or
    a 0-d Tensor (in input's dtype), which gets the gradient (the tangent) of the positions it fills."""
    cond = mask if isinstance(mask, Tensor) else Tensor(mask, dtype=np.bool_)
    if isinstance(value, Tensor):
        if value.ndim != 0:
            raise RuntimeError("masked_fill_ only supports a 0-dimensional value tensor, but got tensor with "
                               f"{value.ndim} dimension(s).")
        return where(cond, value if value.dtype == input.dtype else value.to(input.dtype), input)
    dtype = input._array.dtype
    return where(cond, Tensor._wrap(table_of((input,)).asarray(fill_value(value, dtype), dtype)), input)


def scatter_add(input: Tensor, dim: int, index: Tensor, src: Tensor) -> Tensor:
    """``out = input; out[index[i][j]][j] += src[i][j]`` along ``dim`` (PyTorch ``scatter_add``)."""
    at = index_along(input, dim, index, "scatter_add")
    part = getitem(src, tuple(slice(0, n) for n in at[dim % input.ndim].shape))
    return input + apply1(ScatterAdd(input.shape, at), part)
