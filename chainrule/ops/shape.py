"""Shape primitives: reshape, permute, expand, cat, pad, flip; and what is composed of them.

None of these changes a value, so each vjp just moves the adjoint back:
reshape back, permute by the inverse permutation, sum over expanded axes,
slice the pieces of a concatenation, crop the padding, flip again.
"""

from __future__ import annotations

import functools
import itertools
import math
from typing import Any, Sequence

import numpy as np

from chainrule.autograd.primitive import apply, apply1
from chainrule.autograd.tensor import Tensor
from chainrule.autograd.version import share_if_view, share_view
from chainrule.ops._lift import as_tensor_arg, promote_types
from chainrule.ops.indexing import LinearMap
from chainrule.ops.reduction import normalize_dims


def _resolve_shape(shape: tuple, size: int, old: tuple) -> tuple:
    """``shape`` with its -1 (at most one) filled in so that it holds ``size`` elements; RuntimeError if impossible."""
    known = 1
    for s in shape:
        if s != -1:
            known *= s
    free = shape.count(-1)
    ok = free <= 1 and all(s >= -1 for s in shape)
    if ok and free == 1:
        ok = known != 0 and size % known == 0
        shape = tuple(size // known if s == -1 else s for s in shape) if ok else shape
    if not ok or (free == 0 and known != size):
        raise RuntimeError(f"reshape: shape {list(shape)} is invalid for input of size {size} (shape {old})")
    return shape


def _shape_arg(shape: Any) -> tuple:
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = shape[0]
    return tuple(int(s) for s in shape)


class Reshape(LinearMap):
    """y = x viewed with another shape (same elements, row-major order);  vjp: reshape back."""

    __slots__ = ("shape",)
    name = "reshape"

    def __init__(self, shape: tuple) -> None:
        self.shape = shape

    def forward(self, m, x):
        return m.reshape_view(x, self.shape)

    def vjp(self, m, need, g, y, x):
        return (m.reshape(g, x.shape),)

    def jvp(self, m, dxs, y, x):
        return m.reshape(dxs[0], self.shape)


class Permute(LinearMap):
    """y = x with axes reordered;  vjp: the inverse permutation."""

    __slots__ = ("axes",)
    name = "permute"

    def __init__(self, axes: tuple) -> None:
        self.axes = axes

    def forward(self, m, x):
        return x.transpose(self.axes)

    def vjp(self, m, need, g, y, x):
        return (m.transpose(g, tuple(sorted(range(len(self.axes)), key=self.axes.__getitem__))),)  # the inverse

    def jvp(self, m, dxs, y, x):
        return m.transpose(dxs[0], self.axes)


class Expand(LinearMap):
    """y = x broadcast to ``shape`` (a view);  vjp: sum over the broadcast axes."""

    __slots__ = ("shape",)
    name = "expand"

    def __init__(self, shape: tuple) -> None:
        self.shape = shape

    def forward(self, m, x):
        return m.broadcast_view(x, self.shape)

    def vjp(self, m, need, g, y, x):
        return (m.sum_to(g, x.shape),)

    def jvp(self, m, dxs, y, x):
        return m.broadcast_to(dxs[0], self.shape)


class Cat(LinearMap):
    """y = [x_1, x_2, ...] joined along ``dim``;  vjp: cut the adjoint back into pieces."""

    __slots__ = ("dim",)
    name = "cat"

    def __init__(self, dim: int) -> None:
        self.dim = dim

    def forward(self, m, *xs):
        return m.concatenate(xs, self.dim)

    def vjp(self, m, need, g, y, *xs):
        head, grads, stop = (slice(None),) * self.dim, [], 0
        for x, n in zip(xs, need):
            start, stop = stop, stop + x.shape[self.dim]
            grads.append(m.getitem(g, head + (slice(start, stop),)) if n else None)
        return tuple(grads)

    def jvp(self, m, dxs, y, *xs):
        return m.concatenate(list(dxs), self.dim)


class Pad(LinearMap):
    """Constant padding; ``widths`` is NumPy's ((before, after), ...) per axis;  vjp: crop."""

    __slots__ = ("widths", "value")
    name = "pad"

    def __init__(self, widths: tuple, value: float) -> None:
        self.widths, self.value = widths, value

    def forward(self, m, x):
        return m.pad(x, self.widths, self.value)

    def vjp(self, m, need, g, y, x):
        return (m.getitem(g, tuple(slice(b, b + n) for (b, _), n in zip(self.widths, x.shape))),)  # crop

    def jvp(self, m, dxs, y, x):
        return m.pad(dxs[0], self.widths, 0.0)


class Flip(LinearMap):
    """y = x reversed along ``dims``;  vjp: reverse again."""

    __slots__ = ("dims",)
    name = "flip"

    def __init__(self, dims: tuple) -> None:
        self.dims = dims

    def forward(self, m, x):
        return m.copy(m.flip(x, self.dims))  # (a copy, as PyTorch's: NumPy's flip is a view)

    def vjp(self, m, need, g, y, x):
        return (m.flip(g, self.dims),)

    def jvp(self, m, dxs, y, x):
        return m.flip(dxs[0], self.dims)


# ---------------------------------------------------------------- public functions
def reshape(input: Tensor, *shape: Any) -> Tensor:
    """Same elements, new shape (one entry may be -1)."""
    input = as_tensor_arg(input, "reshape")
    new = _resolve_shape(_shape_arg(shape), input._array.size, input.shape)
    if new == input.shape:
        return input
    # a view of input's memory whenever the strides allow it (then it shares the version counter)
    return share_if_view(apply1(Reshape(new), input), input)


view = reshape


def flatten(input: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """Merge dims start_dim..end_dim into one."""
    nd = input.ndim
    if nd == 0:
        return reshape(input, 1)
    s, e = start_dim % nd, end_dim % nd
    if s > e:
        raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim}")
    return reshape(input, input.shape[:s] + (math.prod(input.shape[s : e + 1]),) + input.shape[e + 1 :])


def unflatten(input: Tensor, dim: int, sizes: Sequence[int]) -> Tensor:
    """Axis ``dim`` split into ``sizes`` (one of them may be -1: the rest of that axis's size,
    found from the axis alone, so that it is defined when another axis is empty)."""
    d = normalize_dims(dim, input.ndim, "unflatten")[0]
    sizes = tuple(int(s) for s in sizes)
    n = input.shape[d]
    if sizes.count(-1) == 1:
        known = math.prod(s for s in sizes if s != -1)
        if known == 0 or n % known:
            raise RuntimeError(f"unflatten: sizes {list(sizes)} cannot split dimension {dim} of size {n}")
        sizes = tuple(n // known if s == -1 else s for s in sizes)
    if math.prod(sizes) != n:
        raise RuntimeError(f"unflatten: provided sizes {list(sizes)} don't multiply up to the size of dim {dim} ({n}) "
                           "in the input tensor")
    return reshape(input, input.shape[:d] + sizes + input.shape[d + 1 :])


def permute(input: Tensor, *dims: Any) -> Tensor:
    """Reorder the axes."""
    dims = _shape_arg(dims)
    if sorted(d % max(input.ndim, 1) for d in dims) != list(range(input.ndim)):
        raise RuntimeError(f"permute: dims {dims} are not a permutation of the {input.ndim} axes")
    axes = tuple(d % input.ndim for d in dims)
    if axes == tuple(range(input.ndim)):
        return input
    return share_view(apply1(Permute(axes), input), input)  # a view: one version counter


def transpose(input: Tensor, dim0: int, dim1: int) -> Tensor:
    """Swap two axes."""
    nd = input.ndim
    if nd < 2 and dim0 in (0, -1) and dim1 in (0, -1):
        return input
    axes = list(range(nd))
    d0, d1 = normalize_dims((dim0,), nd, "transpose")[0], normalize_dims((dim1,), nd, "transpose")[0]
    axes[d0], axes[d1] = axes[d1], axes[d0]
    return permute(input, *axes)


def t(input: Tensor) -> Tensor:
    """Transpose of a matrix (a 0-D or 1-D tensor is returned as is)."""
    if input.ndim > 2:
        raise RuntimeError(f"t(): expects a tensor with <= 2 dimensions, got shape {tuple(input.shape)}")
    return input if input.ndim < 2 else transpose(input, 0, 1)


def squeeze(input: Tensor, dim: Any = None) -> Tensor:
    """Remove axes of size 1 (all of them, or those in ``dim`` that have size 1)."""
    axes = range(input.ndim) if dim is None else normalize_dims(dim, input.ndim, "squeeze")
    return reshape(input, tuple(n for i, n in enumerate(input.shape) if not (i in axes and n == 1)))


def unsqueeze(input: Tensor, dim: int) -> Tensor:
    """Insert an axis of size 1 at ``dim`` (negative counts from the end of the result)."""
    nd = input.ndim + 1
    if not -nd <= dim < nd:
        raise IndexError(f"unsqueeze: dim {dim} out of range for a result with {nd} dims")
    d = dim % nd
    return reshape(input, input.shape[:d] + (1,) + input.shape[d:])


def expand(input: Tensor, *sizes: Any) -> Tensor:
    """Broadcast to a larger shape without copying (-1 keeps a size)."""
    sizes = _shape_arg(sizes)
    lead = len(sizes) - input.ndim
    if lead < 0:
        raise RuntimeError(f"expand: the number of sizes ({len(sizes)}) is less than the tensor's dims ({input.ndim})")
    shape = tuple(input.shape[i - lead] if s == -1 and i >= lead else s for i, s in enumerate(sizes))
    if not broadcasts_to(input.shape, shape):
        raise RuntimeError(f"expand: shape {tuple(input.shape)} cannot be expanded to {shape}")
    if shape == input.shape:
        return input
    return share_view(apply1(Expand(shape), input), input)  # a (read-only) view


def broadcasts_to(shape: tuple, target: tuple) -> bool:
    """True when ``shape`` broadcasts to exactly ``target`` (NumPy's rule)."""
    try:
        return np.broadcast_shapes(shape, target) == tuple(target)
    except ValueError:
        return False


def broadcast_to(input: Tensor, shape: Sequence[int]) -> Tensor:
    return expand(input, tuple(shape))


def expand_as(input: Tensor, other: Tensor) -> Tensor:
    return expand(input, other.shape)


def broadcast_tensors(*tensors: Tensor) -> list[Tensor]:
    shape = np.broadcast_shapes(*[t.shape for t in tensors])
    return [expand(t, shape) for t in tensors]


def cat(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Join tensors along an existing axis."""
    tensors = [as_tensor_arg(x, "cat") for x in tensors]
    if not tensors:
        raise ValueError("cat(): expected a non-empty list of Tensors")
    nd = tensors[0].ndim
    d = normalize_dims(dim, nd, "cat")[0]
    for i, x in enumerate(tensors):
        if x.ndim != nd or x.shape[:d] + x.shape[d + 1 :] != tensors[0].shape[:d] + tensors[0].shape[d + 1 :]:
            raise RuntimeError(f"cat(): sizes of tensors must match except in dimension {d}; tensor 0 has shape "
                               f"{tensors[0].shape} but tensor {i} has shape {tuple(x.shape)}")
    if len(tensors) == 1:
        return tensors[0]
    dtypes = {x._array.dtype for x in tensors}
    if len(dtypes) > 1:  # (PyTorch's promotion: int64 with float32 is float32)
        dt = functools.reduce(promote_types, dtypes)
        tensors = [x if x._array.dtype == dt else x.to(dt) for x in tensors]
    return apply(Cat(d), *tensors)


concat = cat


def stack(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Join tensors of equal shape along a new axis."""
    tensors = [as_tensor_arg(x, "stack") for x in tensors]
    if not tensors:
        raise ValueError("stack(): expected a non-empty list of Tensors")
    for i, x in enumerate(tensors):
        if x.shape != tensors[0].shape:
            raise RuntimeError(f"stack(): expects each tensor to be equal size, but got {tensors[0].shape} at entry 0 "
                               f"and {tuple(x.shape)} at entry {i}")
    d = dim % (tensors[0].ndim + 1)
    return cat([unsqueeze(x, d) for x in tensors], d)


def split(tensor: Tensor, split_size_or_sections: Any, dim: int = 0) -> tuple[Tensor, ...]:
    """Cut into pieces of a given size (the last may be smaller) or of the given sizes."""
    d = normalize_dims(dim, tensor.ndim, "split")[0]
    n = tensor.shape[d]
    if isinstance(split_size_or_sections, int):
        step = split_size_or_sections
        if step <= 0:
            raise ValueError(f"split: split_size must be positive, got {step}")
        sizes = [min(step, n - s) for s in range(0, n, step)] or [0]
    else:
        sizes = list(split_size_or_sections)
        if sum(sizes) != n:
            raise RuntimeError(f"split: sizes {sizes} do not add up to {n} (dimension {d} of {tuple(tensor.shape)})")
    starts = itertools.accumulate([0] + sizes)
    return tuple(tensor[(slice(None),) * d + (slice(s, s + k),)] for s, k in zip(starts, sizes))


def chunk(input: Tensor, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:
    """Cut into ``chunks`` pieces of (nearly) equal size, as PyTorch."""
    n = input.shape[normalize_dims(dim, input.ndim, "chunk")[0]]
    if n == 0:  # (an empty axis: ``chunks`` empty pieces, as PyTorch)
        return split(input, [0] * chunks, dim)
    return split(input, -(-n // chunks), dim)  # pieces of ceil(n / chunks)


def unbind(input: Tensor, dim: int = 0) -> tuple[Tensor, ...]:
    """All slices along ``dim``, each without that axis."""
    d = normalize_dims(dim, input.ndim, "unbind")[0]
    return tuple(input[(slice(None),) * d + (i,)] for i in range(input.shape[d]))


def pad(input: Tensor, pad: Sequence[int], mode: str = "constant", value: float = 0.0) -> Tensor:
    """PyTorch's F.pad: ``pad`` lists (left, right) for the last axis, then the one before, ..."""
    if mode != "constant":
        raise NotImplementedError(f"pad: only mode='constant' is implemented, got {mode!r}")
    if len(pad) % 2 or len(pad) // 2 > input.ndim:
        raise ValueError(f"pad: pad {tuple(pad)} must have an even length of at most 2*{input.ndim}")
    widths = [(0, 0)] * input.ndim
    for i in range(len(pad) // 2):
        widths[input.ndim - 1 - i] = (int(pad[2 * i]), int(pad[2 * i + 1]))
    if any(b < 0 or a < 0 for b, a in widths):
        raise NotImplementedError("pad: negative padding (cropping) is not supported")
    if all(w == (0, 0) for w in widths):
        return input
    return apply1(Pad(tuple(widths), value), input)


def flip(input: Tensor, dims: Any) -> Tensor:
    """Reverse the order of elements along ``dims``."""
    return apply1(Flip(normalize_dims(dims, input.ndim, "flip")), input)


def repeat(input: Tensor, *sizes: Any) -> Tensor:
    """Tile the tensor ``sizes[i]`` times along each axis (PyTorch ``Tensor.repeat``)."""
    sizes = _shape_arg(sizes)
    if len(sizes) < input.ndim:
        raise RuntimeError("repeat: number of repeat dims can not be smaller than number of tensor dims")
    ns = (1,) * (len(sizes) - input.ndim) + input.shape
    # interleave: (1, n0, 1, n1, ...) expanded to (r0, n0, r1, n1, ...) -> (r0*n0, r1*n1, ...)
    x = reshape(input, tuple(v for n in ns for v in (1, n)))
    x = expand(x, tuple(v for r, n in zip(sizes, ns) for v in (r, n)))
    return reshape(x, tuple(r * n for r, n in zip(sizes, ns)))


def movedim(input: Tensor, source: int | Sequence[int], destination: int | Sequence[int]) -> Tensor:
    """Move the axes ``source`` to ``destination`` (one or several); the others keep their order."""
    src, dst = ([a] if isinstance(a, int) else list(a) for a in (source, destination))
    nd = input.ndim
    if len(src) != len(dst) or not all(-max(nd, 1) <= d < max(nd, 1) for d in src + dst):
        raise RuntimeError(f"movedim: source {source} and destination {destination} are not as many axes of {nd}")
    if nd == 0:  # (a 0-d tensor: axes 0 and -1 name its one position, as in PyTorch)
        return input
    order: list[int | None] = [None] * nd
    for s, t in zip(src, dst):
        order[t % nd] = s % nd
    rest = iter(a for a in range(nd) if a not in order)
    return permute(input, *[o if o is not None else next(rest) for o in order])
