"""The convolution and pooling entries of the back-end table (a base of ``ArrayMath``): batch-last
im2col/col2im, the products of a convolution over column chunks, and pooled scratch arrays for
``ops/window.py``.  Shapes follow ``nn/functional/conv.py``: G groups, M output channels per
group, K = C_in/G times the kernel size, P = L·N columns (output positions times batch, batch
last).

im2col and col2im have a compiled kernel (``kernels/im2col.c``, 1-D and 2-D windows, float32
and float64), run on :func:`threads.intra_threads` threads over ranges of channels, and a NumPy
twin (one strided copy or add per kernel offset) that gives the same numbers: im2col copies
values and col2im adds the same terms in the same order (kernel offsets in row-major order).
"""

from __future__ import annotations

import ctypes
import functools
import itertools
from typing import NamedTuple

import numpy as np

from chainrule.backend import native, threads
from chainrule.backend.pool import POOL

# below this many column entries a conv is too small for threads to pay for their start
_THREADED_MIN = 1 << 20
_P = ctypes.c_ssize_t


@functools.lru_cache(maxsize=256)
def offset_slices(kernel: tuple, stride: tuple, dilation: tuple, outs: tuple) -> list:
    """(kernel offset tuple, slices of the padded input read at that offset) for every kernel
    position, row-major.  Cached: building the slices costs more than a small pooling pass."""
    out = []
    for offs in itertools.product(*[range(k) for k in kernel]):
        src = (Ellipsis,) + tuple(slice(o * d, o * d + s * (n - 1) + 1, s)
                                  for o, d, s, n in zip(offs, dilation, stride, outs))
        out.append((offs, src))
    return out


def padded_shape(spatial: tuple, pads: tuple) -> tuple:
    """The spatial shape with ((before, after), ...) padding added."""
    return tuple(n + pb + pa for n, (pb, pa) in zip(spatial, pads))


def _inner(spatial: tuple, pads: tuple) -> tuple:
    """(C, *spatial, N) slices of the unpadded part of a padded batch-last array."""
    return (slice(None),) + tuple(slice(pb, pb + n) for n, (pb, _) in zip(spatial, pads)) + (slice(None),)


def _cut(src: tuple) -> tuple:
    """An offset's slices (Ellipsis, *spatial) for a batch-last (C, *spatial, N) array."""
    return (slice(None),) + src[1:] + (slice(None),)


def im2col_twin(x: np.ndarray, kernel: tuple, stride: tuple, dilation: tuple, pads: tuple,
                outs: tuple) -> np.ndarray:
    """Batch-last im2col with NumPy: x (N, C, *spatial) -> cols (C, *kernel, *outs, N),
    cols[c, k, o, n] = x_pad[n, c, o·s + k·δ] (x_pad: x with the zero padding ``pads``)."""
    xt = np.moveaxis(x, 0, -1)  # (C, *spatial, N), a view
    xp = xt
    spatial = x.shape[2:]
    if any(pb or pa for pb, pa in pads):
        xp = POOL.zeros((x.shape[1],) + padded_shape(spatial, pads) + (x.shape[0],), x.dtype)
        xp[_inner(spatial, pads)] = xt
    cols = POOL.empty((x.shape[1],) + kernel + outs + (x.shape[0],), x.dtype)
    for offs, src in offset_slices(kernel, stride, dilation, outs):
        cols[(slice(None),) + offs] = xp[_cut(src)]
    return cols


def col2im_twin(cols: np.ndarray, spatial: tuple, kernel: tuple, stride: tuple, dilation: tuple,
                pads: tuple) -> np.ndarray:
    """Batch-last col2im with NumPy: cols (C, *kernel, *outs, N) -> (N, C, *spatial), the entries
    read from one input position by several windows summed, the padding cropped."""
    outs = cols.shape[1 + len(kernel):-1]
    padded = POOL.zeros((cols.shape[0],) + padded_shape(spatial, pads) + (cols.shape[-1],), cols.dtype)
    for offs, dst in offset_slices(kernel, stride, dilation, outs):
        padded[_cut(dst)] += cols[(slice(None),) + offs]
    if padded.shape[1:-1] != spatial:
        padded = padded[_inner(spatial, pads)]
    return np.moveaxis(padded, -1, 0)


class _Plane(NamedTuple):
    """A window's geometry as 2-D (a 1-D window is a column: W = KW = 1), the kernel's arguments."""

    h: int
    w: int
    kh: int
    kw: int
    sh: int
    sw: int
    dh: int
    dw: int
    ph: int
    pw: int
    oh: int
    ow: int


def _plane(spatial: tuple, kernel: tuple, stride: tuple, dilation: tuple, pads: tuple, outs: tuple) -> _Plane | None:
    """The 2-D geometry of a 1-D or 2-D window, or None beyond two dimensions (a 1-D window runs
    down the rows)."""
    if len(kernel) == 2:
        (h, w), (kh, kw), (sh, sw), (dh, dw), (oh, ow) = spatial, kernel, stride, dilation, outs
        return _Plane(h, w, kh, kw, sh, sw, dh, dw, pads[0][0], pads[1][0], oh, ow)
    if len(kernel) == 1:
        return _Plane(spatial[0], 1, kernel[0], 1, stride[0], 1, dilation[0], 1, pads[0][0], 0, outs[0], 1)
    return None


def _kernel(symbol: str, dtype: np.dtype, nargs: int):
    return native.typed_function("im2col", symbol, dtype, [ctypes.c_void_p] * 2 + [_P] * nargs)


def _batch_last(x: np.ndarray) -> np.ndarray:
    """x itself when its batch axis is innermost in memory, else its values copied into that layout
    (a network's input, (N, C, H, W) in memory): then every window row is one contiguous copy,
    where reading N values a whole image apart for each window is about 3x slower."""
    if x.strides[0] == x.itemsize or x.shape[0] <= 1:
        return x
    xt = POOL.empty(x.shape[1:] + x.shape[:1], x.dtype)
    xt[...] = np.moveaxis(x, 0, -1)
    return np.moveaxis(xt, -1, 0)


class _Windows:
    """im2col/col2im through the compiled kernel for one input and geometry (see the module
    docstring); ``ok`` is False when the kernel cannot take them (then use the twins)."""

    def __init__(self, dtype: np.dtype, plane: _Plane | None, x: np.ndarray | None = None) -> None:
        self.ok = False
        if plane is None or (x is not None and (type(x) is not np.ndarray or any(st % x.itemsize
                                                                                 for st in x.strides))):
            return
        self.im2col_fn = _kernel("im2col", dtype, 19)
        self.col2im_fn = _kernel("col2im", dtype, 17)
        if self.im2col_fn is None or self.col2im_fn is None:
            return
        self.ok = True
        self.plane = plane
        if x is not None:
            self.x = x = _batch_last(x)
            n = x.shape[0]
            st = [v // x.itemsize for v in x.strides]
            if n == 1:  # one sample: its batch stride is never used, so call it batch-last
                st[0] = 1
            # (n, c, y, z) element strides; a 1-D input's positions are rows (z is always 0)
            self.strides = tuple(st) if x.ndim == 4 else (st[0], st[1], st[2], n)

    def im2col(self, cols: np.ndarray, c: int) -> None:
        """cols (C, KH, KW, OH, OW, N) <- every window of x (C channels)."""
        q, fn, n = self.plane, self.im2col_fn, cols.shape[-1]
        px, pc = native.address(self.x), native.address(cols)
        xn, xc, xy, xz = self.strides

        def run(c0: int, c1: int) -> None:
            fn(px, pc, c0, c1, n, q.h, q.w, xn, xc, xy, xz, q.kh, q.kw, q.oh, q.ow, q.sh, q.sw, q.dh, q.dw,
               q.ph, q.pw)

        threads.run_ranges(run, c, threads.threads_for(cols.size, _THREADED_MIN))

    def col2im(self, cols: np.ndarray, out: np.ndarray, c: int, r: int) -> None:
        """out (C, H, W, N) <- col2im of cols (OH/r, C, KH, KW, r, OW, N)."""
        q, fn, n = self.plane, self.col2im_fn, cols.shape[-1]
        ps, po = native.address(cols), native.address(out)

        def run(c0: int, c1: int) -> None:
            fn(ps, po, c0, c1, n, q.h, q.w, q.kh, q.kw, q.oh, q.ow, q.sh, q.sw, q.dh, q.dw, q.ph, q.pw, r, c)

        threads.run_ranges(run, c, threads.threads_for(cols.size, _THREADED_MIN))


def blocked_shape(c: int, kernel: tuple, outs: tuple, n: int, r: int) -> tuple:
    """The shape of columns in blocks of ``r`` output rows: (OH/r, C, *kernel, r, *outs[1:], N)."""
    return (outs[0] // r, c) + tuple(kernel) + (r,) + tuple(outs[1:]) + (n,)


def from_blocks(cols: np.ndarray, d: int) -> np.ndarray:
    """Blocked columns (OH/r, C, *kernel, r, *outs[1:], N) back to plain (C, *kernel, *outs, N) (a copy)."""
    nb, c, kernel, r, rest = cols.shape[0], cols.shape[1], cols.shape[2:2 + d], cols.shape[2 + d], cols.shape[3 + d:]
    order = tuple(range(1, 2 + d)) + (0,) + tuple(range(2 + d, cols.ndim))
    out = POOL.empty((c,) + kernel + (nb * r,) + rest, cols.dtype)
    out.reshape((c,) + kernel + (nb, r) + rest)[...] = cols.transpose(order)
    return out


def _summed(cols: np.ndarray, c: int, spatial: tuple, kernel: tuple, stride: tuple, dilation: tuple,
            pads: tuple, outs: tuple, r: int) -> np.ndarray | None:
    """The kernel's col2im of the columns of C channels in blocks of r output rows (N their last
    axis) -> (N, C, *spatial); None where the kernel cannot take them (then the twin)."""
    if type(cols) is not np.ndarray:
        return None
    win = _Windows(cols.dtype, _plane(spatial, kernel, stride, dilation, pads, outs))
    if not win.ok:
        return None
    n = cols.shape[-1]
    src = cols if cols.flags.c_contiguous else np.ascontiguousarray(cols)
    out = POOL.empty((c,) + tuple(spatial) + (n,), cols.dtype)
    if out.size:
        win.col2im(src, out, c, r)
    return np.moveaxis(out, -1, 0)


class ConvMath:
    """Convolution/pooling table entries on NumPy arrays."""

    @staticmethod
    def im2col(x: np.ndarray, kernel: tuple, stride: tuple, dilation: tuple, pads: tuple,
               outs: tuple) -> np.ndarray:
        """Batch-last im2col: x (N, C, *spatial) -> cols (C, *kernel, *outs, N), a pooled array,
        cols[c, k, o, n] = x_pad[n, c, o·s + k·δ] (zero where o·s + k·δ falls in the padding;
        ``pads`` is ((before, after), ...) per spatial dim).  Any layout of x."""
        win = _Windows(x.dtype, _plane(x.shape[2:], kernel, stride, dilation, pads, outs), x)
        if not win.ok:
            return im2col_twin(x, kernel, stride, dilation, pads, outs)
        cols = POOL.empty((x.shape[1],) + kernel + outs + (x.shape[0],), x.dtype)
        if cols.size:
            win.im2col(cols, x.shape[1])
        return cols

    @staticmethod
    def col2im(cols: np.ndarray, spatial: tuple, kernel: tuple, stride: tuple, dilation: tuple,
               pads: tuple) -> np.ndarray:
        """Batch-last col2im (im2col's transpose): cols (C, *kernel, *outs, N) -> (N, C, *spatial),
        a view of batch-last memory; out[n, c, p] = Σ over the (k, o) with o·s + k·δ = p + pad of
        cols[c, k, o, n]."""
        outs = cols.shape[1 + len(kernel):-1]
        out = _summed(cols, cols.shape[0], spatial, kernel, stride, dilation, pads, outs, outs[0] or 1)
        return col2im_twin(cols, spatial, kernel, stride, dilation, pads) if out is None else out

    @staticmethod
    def col2im_blocks(cols: np.ndarray, spatial: tuple, kernel: tuple, stride: tuple, dilation: tuple,
                      pads: tuple) -> np.ndarray:
        """col2im of columns in blocks of r output rows, (OH/r, C, *kernel, r, *outs[1:], N)
        (``blocked_shape``; block b holds the columns of output rows [b·r, (b+1)·r)) -> (N, C,
        *spatial): the same sums, in the same order, as col2im of the plain columns."""
        d = len(kernel)
        r = cols.shape[2 + d]
        outs = (cols.shape[0] * r,) + cols.shape[3 + d:-1]
        out = _summed(cols, cols.shape[1], spatial, kernel, stride, dilation, pads, outs, r)
        return col2im_twin(from_blocks(cols, d), spatial, kernel, stride, dilation, pads) if out is None else out

    # a zero-filled array from the buffer pool (the padded input of im2col, col2im's sums)
    pooled_zeros = staticmethod(POOL.zeros)

    @staticmethod
    def pooled_contiguous(a: np.ndarray) -> np.ndarray:
        """``a`` itself when C-contiguous, else its values copied into a pooled C-ordered array."""
        if a.flags.c_contiguous:
            return a
        out = POOL.empty(a.shape, a.dtype)
        out[...] = a
        return out

    @staticmethod
    def mm_cols(a: np.ndarray, b: np.ndarray, ch: int) -> np.ndarray:
        """a (G, M, K) @ b (G, K, P) -> (G, M, P) into a pooled array, ``ch`` columns of b per
        product (all chunks in one batched call; ch >= P: one product)."""
        g, m, k = a.shape
        p = b.shape[2]
        out = POOL.empty((g, m, p), np.result_type(a.dtype, b.dtype))
        nb = p // ch
        main = nb * ch
        if nb > 1:
            bv = b[:, :, :main].reshape(g, k, nb, ch).transpose(0, 2, 1, 3)  # (G, nb, K, ch) views
            ov = out[:, :, :main].reshape(g, m, nb, ch).transpose(0, 2, 1, 3)
            np.matmul(a[:, None], bv, out=ov)
        else:
            main = 0
        if main < p:
            np.matmul(a, b[:, :, main:], out=out[:, :, main:])
        return out

    @staticmethod
    def mm_blocks_input(w: np.ndarray, g: np.ndarray, nb: int) -> np.ndarray:
        """wᵀ @ each of the ``nb`` column blocks of g (M, nb·ch) -> (nb, K, ch), a pooled array: a
        convolution's input-gradient columns, in the blocks ``col2im_blocks`` reads."""
        m, k = w.shape
        ch = g.shape[1] // nb
        out = POOL.empty((nb, k, ch), np.result_type(w.dtype, g.dtype))
        np.matmul(ConvMath.pooled_contiguous(w.T), g.reshape(m, nb, ch).transpose(1, 0, 2), out=out)
        return out

    @staticmethod
    def mm_reduce(a: np.ndarray, b: np.ndarray, ch: int) -> np.ndarray:
        """a (G, M, P) @ b (G, K, P)ᵀ -> (G, M, K) (a new C-ordered array): the sum over chunks of
        ``ch`` columns of the chunk products.

        Computed as (b aᵀ)ᵀ, the long axis P summed with the result's rows K and columns M
        swapped, then the small (M, K) result copied back: OpenBLAS's single-threaded product
        runs this shape 10-75% faster than a bᵀ directly (a convolution's weight gradient, M =
        C_out, K = C_in·KH·KW, P = N·OH·OW; e.g. 68 -> 82 GFLOP/s at M 64, K 576, P 8192, and 41
        -> 71 at M 16, K 150, P 3200; performance.md has the table)."""
        g, m, p = a.shape
        k = b.shape[1]
        at = a.transpose(0, 2, 1)  # (G, P, M)
        nb = p // ch
        if nb <= 1:
            out_t = np.matmul(b, at)  # (G, K, M)
        else:
            main = nb * ch
            bv = b[:, :, :main].reshape(g, k, nb, ch).transpose(0, 2, 1, 3)  # (G, nb, K, ch) views
            av = at[:, :main].reshape(g, nb, ch, m)  # (G, nb, ch, M)
            out_t = np.matmul(bv, av).sum(axis=1)
            if main < p:
                out_t += np.matmul(b[:, :, main:], at[:, main:])
        return np.ascontiguousarray(out_t.transpose(0, 2, 1))
