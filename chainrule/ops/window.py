"""Sliding-window primitives: Unfold (im2col) and Fold (col2im), their batch-last twins
Im2Col / Col2Im (used by the convolution), max pooling.

``Unfold`` lays every window of the input out as columns (s = stride, δ = dilation, x_pad = x
with zeros around it), so that a convolution becomes one matrix product per group:

    cols[n, c, k_1, ..., k_d, o_1, ..., o_d] = x_pad[n, c, o_1 s_1 + k_1 δ_1, ..., o_d s_d + k_d δ_d]

``Fold`` is its transpose: it adds every column entry back where it was read (overlaps summed)
and crops the padding.  Each one's vjp is the other, so a convolution built from them is
differentiable any number of times.  The loops run over the kernel offsets only, each moving a
whole (N, C, o_1, ..., o_d) block with one strided copy or add.

Sizes: o = (n + pad_before + pad_after - δ (k - 1) - 1) // s + 1
(the notes' (n - k + 2 pad) / s + 1 when δ = 1 and the padding is symmetric).
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np

from chainrule.autograd.primitive import Primitive, apply1, table_of
from chainrule.autograd.tensor import Tensor
from chainrule.backend.conv_math import offset_slices, padded_shape
from chainrule.backend.pool import memory_order


def out_size(n: int, k: int, s: int, d: int, pad_before: int, pad_after: int) -> int:
    """Output length of a sliding window: (n + pads - d (k - 1) - 1) // s + 1."""
    return (n + pad_before + pad_after - d * (k - 1) - 1) // s + 1


def _linear(m: Any, op: Primitive, a: Any) -> Any:
    """The linear primitive ``op`` applied inside a vjp/jvp rule: its forward on raw arrays, recorded
    on Tensors (``TensorMath``, create_graph=True) so that it can be differentiated again."""
    return apply1(op, a) if m.is_tensor else op.forward(m, a)


def empty_like_layout(shape: tuple, dtype: Any, ref: Any, fill: float | None = 0.0, m: Any = None) -> Any:
    """An array of ``shape`` whose memory order of axes follows ``ref``'s (a batch-last feature map
    stays batch-last), filled with ``fill`` (None: uninitialised).  NumPy's element-wise ops
    preserve such layouts, so the whole forward/backward pass can stay in one.  ``m``: ``ref``'s
    table (looked up when not given)."""
    m = table_of((ref,), "empty_like_layout") if m is None else m
    order = memory_order(ref)  # outermost axis first
    buf = m.pooled_empty(tuple(shape[a] for a in order), dtype)
    if fill is not None:
        buf.fill(fill)
    return buf.transpose(sorted(range(len(order)), key=order.__getitem__))  # the inverse permutation


class _Window(Primitive):
    """Shared geometry of the window primitives: kernel, stride, dilation, pads, input spatial shape."""

    __slots__ = ("kernel", "stride", "dilation", "pads", "spatial", "outs")

    def __init__(self, kernel: tuple, stride: tuple, dilation: tuple, pads: tuple, spatial: tuple) -> None:
        self.kernel, self.stride, self.dilation = kernel, stride, dilation
        self.pads = pads  # ((before, after), ...) per spatial dim
        self.spatial = spatial  # the unpadded input's spatial shape
        self.outs = tuple(out_size(n, k, s, d, pb, pa)
                          for n, k, s, d, (pb, pa) in zip(spatial, kernel, stride, dilation, pads))

    def _padded_shape(self) -> tuple:
        return padded_shape(self.spatial, self.pads)

    def _offsets(self) -> list:
        """(kernel offset tuple, slice into the padded input) for every kernel position, row-major."""
        return offset_slices(self.kernel, self.stride, self.dilation, self.outs)

    def _inner(self) -> tuple:
        return (Ellipsis,) + tuple(slice(pb, pb + n) for n, (pb, _) in zip(self.spatial, self.pads))

    def _pad(self, m: Any, x: Any, fill: float = 0.0) -> Any:
        if not any(pb or pa for pb, pa in self.pads):
            return x
        xp = empty_like_layout(x.shape[:2] + self._padded_shape(), x.dtype, x, fill, m=m)
        xp[self._inner()] = x
        return xp


class _LinearWindow(_Window):
    """A linear window map (Unfold, Fold, Im2Col, Col2Im, the max-pool scatter and gather): the vjp
    applies its ``transposed`` map of the same geometry, the jvp the map itself."""

    __slots__ = ()
    transposed: Any

    def _transpose(self) -> _Window:
        return self.transposed(self.kernel, self.stride, self.dilation, self.pads, self.spatial)

    def vjp(self, m, need, g, y, x):
        return (_linear(m, self._transpose(), g),)

    def jvp(self, m, dxs, y, x):
        return _linear(m, self, dxs[0])


class Unfold(_LinearWindow):
    """cols = im2col(x):  (N, C, *spatial) -> (N, C, *kernel, *outs);  vjp: Fold (col2im)."""

    __slots__ = ()
    name = "unfold"

    def forward(self, m, x):
        xp = self._pad(m, x)
        cols = m.pooled_empty(x.shape[:2] + self.kernel + self.outs, x.dtype)
        for offs, src in self._offsets():
            cols[(slice(None), slice(None)) + offs] = xp[src]
        return cols


class Fold(_LinearWindow):
    """x = col2im(cols):  (N, C, *kernel, *outs) -> (N, C, *spatial), overlapping entries summed;
    the transpose of Unfold;  vjp: Unfold."""

    __slots__ = ()
    name = "fold"

    def forward(self, m, cols):
        padded = m.pooled_zeros(cols.shape[:2] + self._padded_shape(), cols.dtype)
        for offs, dst in self._offsets():
            padded[dst] += cols[(slice(None), slice(None)) + offs]
        return padded if padded.shape[2:] == self.spatial else padded[self._inner()]


class MaxPool(_Window):
    """y[n, c, o] = max over the window of x_pad (padding = -inf);  the adjoint goes to the argmax:
    ``forward`` keeps ``argk``, for every output the kernel offset (flat index in 0..K-1) of the
    first maximum in row-major window order (ties: the first, as PyTorch).  With
    ``keep_argmax=False`` (nothing can ask for them: no gradient recorded, no tangent, no
    ``return_indices``) it computes the maxima alone, a third of the passes."""

    __slots__ = ("argk", "keep_argmax")
    name = "max_pool"
    # the vjp and jvp read only ``argk`` (kept here), never x or y: an in-place op on either
    # afterwards (ReLU(inplace=True) after pooling) leaves the gradient right
    saves_inputs = ()
    saves_output = False

    def __init__(self, kernel: tuple, stride: tuple, dilation: tuple, pads: tuple, spatial: tuple,
                 keep_argmax: bool = True) -> None:
        super().__init__(kernel, stride, dilation, pads, spatial)
        self.keep_argmax = keep_argmax
        self.argk = None

    def forward(self, m, x):
        fast = m.max_pool_kernel(x, self.kernel, self.stride, self.dilation, self.pads, self.outs, self.keep_argmax)
        if fast is not None:  # the compiled kernel where it covers the window (backend/window_math.py): these bits
            y, self.argk = fast
            return y
        xp = self._pad(m, x, -np.inf)
        kk = math.prod(self.kernel)
        dt = np.int8 if kk <= 127 else (np.int16 if kk <= 32767 else np.int32)
        offsets = self._offsets()
        v = xp[offsets[0][1]]
        best = empty_like_layout(v.shape, v.dtype, v, None, m=m)
        best[...] = v
        if not self.keep_argmax:
            for _, src in offsets[1:]:
                m.maximum(best, xp[src], out=best)
            return best
        argk = empty_like_layout(v.shape, dt, v, 0, m=m)  # best's memory layout: no mixed-layout passes
        for k, (_, src) in enumerate(offsets[1:], 1):
            v = xp[src]
            # argk <- k where v beats the best so far (strictly: ties keep the first);
            # arithmetic on the mask is ~5x faster than masked assignment
            better = v > best
            argk += better * dt(k) - argk * better
            m.maximum(best, v, out=best)
        self.argk = argk
        return best

    def vjp(self, m, need, g, y, x):
        return (_linear(m, MaxPoolScatter(self), g),)

    def jvp(self, m, dxs, y, x):
        return _linear(m, MaxPoolGather(self), dxs[0])


class _ArgmaxWindow(_LinearWindow):
    """A linear map through the argmaxes ``argk`` of a MaxPool (or of its transpose)."""

    __slots__ = ("argk",)

    def __init__(self, pool: Any) -> None:
        _Window.__init__(self, pool.kernel, pool.stride, pool.dilation, pool.pads, pool.spatial)
        self.argk = pool.argk

    def _transpose(self) -> _Window:
        return self.transposed(self)


class MaxPoolScatter(_ArgmaxWindow):
    """dx = the adjoints g put back at their window's argmax (summed where windows overlap);
    the transpose of MaxPoolGather;  vjp: MaxPoolGather."""

    __slots__ = ()
    name = "max_pool_scatter"

    def _disjoint(self) -> bool:
        """True when no input position is read by two windows (e.g. stride = kernel_size)."""
        return all(s >= d * (k - 1) + 1 for s, d, k in zip(self.stride, self.dilation, self.kernel))

    def forward(self, m, g):
        argk = self.argk
        gx = m.max_pool_backward_kernel(g, argk, self.spatial, self.kernel, self.stride, self.dilation, self.pads)
        if gx is not None:  # the compiled kernel where it covers the window (backend/window_math.py): these bits
            return gx
        if memory_order(g) != memory_order(argk):
            # one copy of the small pooled gradient into the forward layout (else every pass below mixes layouts)
            gl = empty_like_layout(g.shape, g.dtype, argk, None, m=m)
            gl[...] = g
            g = gl
        gx = empty_like_layout(g.shape[:2] + self._padded_shape(), g.dtype, argk, m=m)
        if math.prod(self.kernel) == 1:
            for _, dst in self._offsets():
                gx[dst] += g
        elif self._disjoint():  # every position written once: multiply straight into it
            for k, (_, dst) in enumerate(self._offsets()):
                m.multiply(self.argk == k, g, out=gx[dst])
        else:
            for k, (_, dst) in enumerate(self._offsets()):
                gx[dst] += (self.argk == k) * g
        return gx if gx.shape[2:] == self.spatial else gx[self._inner()]


class MaxPoolGather(_ArgmaxWindow):
    """y[n, c, o] = x[argmax position of window o] (x of the input's shape);  vjp: MaxPoolScatter."""

    __slots__ = ()
    name = "max_pool_gather"

    def forward(self, m, x):
        xp = self._pad(m, x)
        out = m.zeros(x.shape[:2] + self.outs, x.dtype)
        for k, (_, src) in enumerate(self._offsets()):
            m.copyto(out, xp[src], where=self.argk == k)
        return out


def unfold_nd(x: Tensor, kernel: tuple, stride: tuple, dilation: tuple, pads: tuple) -> Tensor:
    """im2col: (N, C, *spatial) -> (N, C, *kernel, *outs) (see the module docstring)."""
    return apply1(Unfold(kernel, stride, dilation, pads, tuple(x.shape[2:])), x)


def fold_nd(cols: Tensor, spatial: tuple, kernel: tuple, stride: tuple, dilation: tuple, pads: tuple) -> Tensor:
    """col2im: (N, C, *kernel, *outs) -> (N, C, *spatial), the transpose of ``unfold_nd``."""
    return apply1(Fold(kernel, stride, dilation, pads, tuple(spatial)), cols)


def max_pool_nd(x: Tensor, kernel: tuple, stride: tuple, dilation: tuple, pads: tuple,
                keep_argmax: bool = True) -> tuple:
    """Max pooling over the trailing spatial dims; returns (values, the MaxPool op, which holds the
    argmaxes unless ``keep_argmax`` is False)."""
    op = MaxPool(kernel, stride, dilation, pads, tuple(x.shape[2:]), keep_argmax)
    return apply1(op, x), op


def argmax_indices(op: MaxPool) -> Any:
    """PyTorch's ``return_indices``: the flat index (into the unpadded spatial dims) of each window's max."""
    argk: Any = op.argk
    if argk is None:
        raise RuntimeError("max_pool: the argmaxes were not kept (MaxPool made with keep_argmax=False)")
    m = table_of((argk,), "max_pool")
    kern = m.asarray(list(itertools.product(*[range(k) for k in op.kernel])), np.int64)  # (K, d)
    flat = m.zeros(argk.shape, np.int64)
    d = len(op.kernel)
    for i in range(d):
        o = m.arange(op.outs[i], dtype=np.int64).reshape((-1,) + (1,) * (d - 1 - i))
        pos = o * op.stride[i] + kern[argk.astype(np.int64), i] * op.dilation[i] - op.pads[i][0]
        flat = flat * op.spatial[i] + pos
    return flat


class Im2Col(_LinearWindow):
    """Batch-last im2col:  (N, C, *spatial) -> cols (C, *kernel, *outs, N),

        cols[c, k_1..k_d, o_1..o_d, n] = x_pad[n, c, o·s + k·δ];   vjp: Col2Im.

    With the batch axis last, each kernel offset moves runs of (last output dim × N) contiguous
    values (3-5× faster on LeNet-sized maps), and the convolution is one matrix product
    (C_out, C_in·K) @ (C_in·K, L·N) whose output is a (N, C, ...) view of batch-last memory;
    element-wise ops and pooling keep that layout, so the next Im2Col gets it for free."""

    __slots__ = ()
    name = "im2col"

    def forward(self, m, x):
        return m.im2col(x, self.kernel, self.stride, self.dilation, self.pads, self.outs)


class Col2Im(Im2Col):
    """Batch-last col2im: cols (C, *kernel, *outs, N) -> (N, C, *spatial), entries read by several
    windows summed, padding cropped (the transpose of Im2Col);  vjp: Im2Col."""

    __slots__ = ()
    name = "col2im"

    def forward(self, m, cols):
        return m.col2im(cols, self.spatial, self.kernel, self.stride, self.dilation, self.pads)


Unfold.transposed, Fold.transposed, Im2Col.transposed, Col2Im.transposed = Fold, Unfold, Col2Im, Im2Col
MaxPoolScatter.transposed, MaxPoolGather.transposed = MaxPoolGather, MaxPoolScatter
