"""Convolutions: conv1d, conv2d and the causal 1-D convolution, as im2col + one matrix product.

For input x (N, C_in, *spatial), weight W (C_out, C_in / groups, *kernel) and
bias b (C_out,), output position o of channel j is (cross-correlation, the
kernel is not flipped — as the notes' "Implementation: not flipped kernel")

    y[n, j, o] = b[j] + Σ_c Σ_k W[j, c, k] · x_pad[n, g·C_in/G + c, o·s + k·δ]

where g = j // (C_out / G) is j's group.  ``Unfold`` lays the windows out as
columns (N, G, C_in/G · K, L) (K = kernel size product, L = number of output
positions), so the whole layer is one batched product W_g @ cols_g.  Its
gradients follow from those of Unfold (its vjp is Fold/col2im) and matmul,
so the convolution is differentiable twice.

Output size per spatial dim: (n + 2 pad - δ (k - 1) - 1) // s + 1, which is the
notes' (n - k + 2 pad) / s + 1 for δ = 1.
"""

from __future__ import annotations

import math
from typing import Any

from chainrule.autograd.primitive import Primitive, apply
from chainrule.autograd.tensor import Tensor
from chainrule.backend import conv_onednn, conv_weight_grad
from chainrule.backend.conv_math import blocked_shape
from chainrule.backend.dtype_check import DtypeError
from chainrule.ops.window import Im2Col, _linear, fold_nd, out_size, unfold_nd

# OpenBLAS runs one product on all its threads once M·N·K passes ~2.6e5.  On an
# oversubscribed machine those threads wait on each other.  With CHUNK_GEMMS = True the
# long column axis (L·N) is cut into pieces below that size, all done in one batched
# NumPy call: single-threaded products.  Off by default: on a quiet machine the
# threaded products make a LeNet step ~25% faster, and on a crowded one the other
# products (Linear layers) stall just the same.
CHUNK_GEMMS = False
_GEMM_MNK = 1 << 18
_MIN_CHUNK = 64


BLOCK_COLUMNS = 512  # columns per block of a one-group convolution's input-gradient columns (see Conv)


def _rows_per_block(outs: tuple, n: int) -> int:
    """The most output rows r, dividing OH = outs[0], whose r·OW·N columns stay within
    ``BLOCK_COLUMNS`` (1 when one row already has more)."""
    oh, per_row = outs[0], math.prod(outs[1:]) * n
    best = 1
    for r in range(2, oh + 1):
        if oh % r == 0 and r * per_row <= BLOCK_COLUMNS:
            best = r
    return best if oh else 1


def _chunk(mk: int, p: int) -> int:
    """Columns per product for the table's mm_cols/mm_reduce (at least 1: an empty batch has
    p = 0 columns)."""
    if not CHUNK_GEMMS:
        return p or 1
    return min(p, max(_MIN_CHUNK, _GEMM_MNK // max(mk, 1))) or 1


_DIMS = {1: "(N, C, L)", 2: "(N, C, H, W)", 3: "(N, C, D, H, W)"}  # (the batched input's axes)


def ntuple(value: Any, d: int, name: str, what: str) -> tuple:
    """An int or a length-d sequence of ints as a d-tuple (PyTorch's _pair/_single)."""
    if isinstance(value, (tuple, list)):
        if len(value) != d:
            raise ValueError(f"{name}: {what} must be an int or a tuple of {d} ints, got {value!r}")
        out = tuple(int(v) for v in value)
    else:
        out = (int(value),) * d
    return out


def resolve_padding(padding: Any, d: int, kernel: tuple, dilation: tuple, stride: tuple, name: str) -> tuple:
    """Padding as ((before, after), ...) per spatial dim.

    'valid' is no padding; 'same' pads δ (k - 1) in total, the extra element
    (when that is odd) going after, as PyTorch does; it needs stride 1.
    """
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0),) * d
        if padding == "same":
            if any(s != 1 for s in stride):
                raise ValueError(f"{name}: padding='same' is not supported for strided convolutions (stride {stride})")
            pads = []
            for k, dl in zip(kernel, dilation):
                total = dl * (k - 1)
                pads.append((total // 2, total - total // 2))
            return tuple(pads)
        raise ValueError(f"{name}: padding must be an int, a tuple, 'same' or 'valid', got {padding!r}")
    p = ntuple(padding, d, name, "padding")
    if any(v < 0 for v in p):
        raise ValueError(f"{name}: padding must be non-negative, got {padding!r}")
    return tuple((v, v) for v in p)


def _batched(input: Tensor, d: int, name: str) -> tuple:
    """(input with a batch dim, whether one was added): PyTorch also accepts unbatched (C, *spatial).
    The d-dimensional convolutions and poolings (d = 1, 2, 3) check their input with it."""
    if not isinstance(input, Tensor):
        raise TypeError(f"{name}: input must be a Tensor, got {type(input).__name__}")
    if input.ndim == d + 2:
        return input, False
    if input.ndim == d + 1:
        return input.unsqueeze(0), True
    raise ValueError(
        f"{name}: expected {d + 2}-D input {_DIMS[d]} (or {d + 1}-D unbatched), got shape {tuple(input.shape)}"
    )


class Conv(Primitive):
    """y = conv(x, W) + b, fused: batch-last im2col, one product per group, bias.

    Shapes: x (N, C_in, *S), W (C_out, C_in/G, *k), b (C_out,), y (N, C_out, *outs)
    (a view of batch-last memory).  With cols = Im2Col(x) as (G, C_in/G·K, L·N)
    and g = dL/dy as (G, C_out/G, L·N):

        dL/dW_g = g_g colsᵀ_g,   dL/db = Σ_{positions, n} g,   dL/dx = Col2Im(W_gᵀ g_g).

    On raw arrays the saved columns are reused; when the backward pass is
    recorded (create_graph) the same formulas are composed from differentiable
    ops (Im2Col/Col2Im are each other's vjp, matmul), so it can be differentiated again.

    With one group the input gradient's columns Wᵀ g are computed in column blocks of r output
    rows (``_rows_per_block``: about ``BLOCK_COLUMNS`` columns, r dividing OH), each block a
    contiguous (C_in·K, r·OW·N) matrix (``ConvMath.mm_blocks_input``, one batched call), which
    ``ConvMath.col2im_blocks`` reads as they are: OpenBLAS runs that product block by block
    about 25% faster than as one long matrix (64 channels, 3×3, L·N 8192: 8.6 -> 6.9 ms at one
    thread).  The forward and weight-gradient products stay single long ones: in blocks they
    measured no faster (forward) or slower (weight gradient, 82 -> 72 GFLOP/s).
    """

    __slots__ = ("geo", "groups", "cols")
    name = "conv"
    saves_output = False

    def __init__(self, geo: Im2Col, groups: int) -> None:
        self.geo = geo
        self.groups = groups
        self.cols = None

    def _dims(self, x, w) -> tuple:
        g = self.groups
        ck = w.shape[1] * math.prod(self.geo.kernel)
        lp = math.prod(self.geo.outs) * x.shape[0]
        return g, w.shape[0] // g, ck, lp

    def _out(self, m, y2, n: int):
        """(G, C_out/G, L·N) -> the (N, C_out, *outs) view."""
        return m.moveaxis(y2.reshape((y2.shape[0] * y2.shape[1],) + self.geo.outs + (n,)), -1, 0)

    def forward(self, m, x, w, b=None):
        g, og, ck, lp = self._dims(x, w)
        cols = self.geo.forward(m, x)
        self.cols = cols
        y2 = m.mm_cols(w.reshape(g, og, ck), cols.reshape(g, ck, lp), _chunk(og * ck, lp))
        if b is not None:
            y2 += b.reshape(g, og, 1)
        return self._out(m, y2, x.shape[0])

    def _g2(self, m, g, x, w):
        gr, og, ck, lp = self._dims(x, w)
        d = len(self.geo.kernel)
        gt = m.transpose(g, tuple(range(1, d + 2)) + (0,))  # (C_out, *outs, N)
        return m.reshape(gt, (gr, og, lp)), (gr, og, ck, lp)

    def vjp(self, m, need, g, y, x, w, b=None):
        if m.is_tensor:
            return self._vjp_composed(m, need, g, x, w, b)
        gr, og, ck, lp = self._dims(x, w)
        # batch-last, contiguous: free when g arrives in the layout of the forward output
        g2 = m.pooled_contiguous(m.moveaxis(g, 0, -1)).reshape(gr, og, lp)
        gx = gw = gb = None
        if need[1]:
            gw = self._direct_weight_grad(m, x, g, w)
            if gw is None:
                gw = m.mm_reduce(g2, self.cols.reshape(gr, ck, lp), _chunk(og * ck, lp)).reshape(w.shape)
        if len(need) > 2 and need[2]:
            gb = g2.sum(axis=2).reshape(b.shape)
        if need[0] and gr == 1:  # the columns Wᵀ g in blocks (see the class docstring)
            geo, n = self.geo, x.shape[0]
            r = _rows_per_block(geo.outs, n)
            gcols = m.mm_blocks_input(w.reshape(og, ck), g2[0], geo.outs[0] // r)
            gx = m.col2im_blocks(m.reshape(gcols, blocked_shape(w.shape[1], geo.kernel, geo.outs, n, r)),
                                 geo.spatial, geo.kernel, geo.stride, geo.dilation, geo.pads)
        elif need[0]:
            w2t = w.reshape(gr, og, ck).transpose(0, 2, 1)
            gcols = m.mm_cols(m.pooled_contiguous(w2t), g2, _chunk(ck * og, lp))
            gx = self._col2im().forward(m, gcols.reshape(self.cols.shape))
        return (gx, gw) if b is None else (gx, gw, gb)

    def _direct_covers(self, x, w) -> bool:
        """Whether ``backend/conv_weight_grad.py`` covers this layer (one input channel, stride 1:
        as a product, the weight gradient's inner dimension would be the kernel's size alone)."""
        return conv_weight_grad.covers(x.shape, w.shape, self.geo.stride, self.groups)

    def _direct_weight_grad(self, m, x, g, w):
        """dL/dW summed directly from x and g where :meth:`_direct_covers`, else None (also when
        the table has no kernel for it)."""
        if not self._direct_covers(x, w):
            return None
        return m.conv_weight_grad_direct(x, g, w.shape, self.geo.dilation, self.geo.pads)

    def _col2im(self):
        from chainrule.ops.window import Col2Im

        geo = self.geo
        return Col2Im(geo.kernel, geo.stride, geo.dilation, geo.pads, geo.spatial)

    def _vjp_composed(self, m, need, g, x, w, b):
        g2, (gr, og, ck, lp) = self._g2(m, g, x, w)
        gx = gw = gb = None
        if need[1]:
            cols = m.reshape(_linear(m, self.geo, x), (gr, ck, lp))
            gw = m.reshape(m.matmul(g2, m.swapaxes(cols, 1, 2)), w.shape)
        if len(need) > 2 and need[2]:
            gb = m.reshape(m.sum(g2, 2), b.shape)
        if need[0]:
            gcols = m.matmul(m.swapaxes(m.reshape(w, (gr, og, ck)), 1, 2), g2)
            gx = _linear(m, self._col2im(), m.reshape(gcols, (x.shape[1],) + self.geo.kernel + self.geo.outs
                                                      + (x.shape[0],)))
        return (gx, gw) if b is None else (gx, gw, gb)

    def jvp(self, m, dxs, y, x, w, b=None):
        # linear in each argument: dy = conv(dx, W) + conv(x, dW) + db
        gr, og, ck, lp = self._dims(x, w)
        n = x.shape[0]
        cols_dx = m.reshape(_linear(m, self.geo, dxs[0]), (gr, ck, lp))
        cols_x = m.reshape(_linear(m, self.geo, x), (gr, ck, lp))
        dy = m.matmul(m.reshape(w, (gr, og, ck)), cols_dx) + m.matmul(m.reshape(dxs[1], (gr, og, ck)), cols_x)
        if b is not None:
            dy = dy + m.reshape(dxs[2], (gr, og, 1))
        d = len(self.geo.kernel)
        dy = m.reshape(dy, (gr * og,) + self.geo.outs + (n,))
        return m.transpose(dy, (d + 1,) + tuple(range(d + 1)))


class OnednnConv(Conv):
    """:class:`Conv` computed by oneDNN (``backend/conv_onednn.py``: the library under PyTorch's
    CPU convolutions, an optional extra): float32 on the CPU, when it is installed.  The same
    formulas with oneDNN's kernels: no columns are made or saved (x and W are all the backward
    needs), and the output is a C-ordered (N, C_out, *outs) array.  When the backward pass is
    recorded (create_graph) it is composed from differentiable ops, as :class:`Conv`'s."""

    __slots__ = ("setup",)

    def __init__(self, geo: Im2Col, groups: int, pads: tuple) -> None:
        super().__init__(geo, groups)
        self.setup = (geo.stride, pads, geo.dilation, groups)

    def forward(self, m, x, w, b=None):
        return m.conv_onednn_forward(x, w, b, self.geo.outs, self.setup)

    def vjp(self, m, need, g, y, x, w, b=None):
        if m.is_tensor:
            return self._vjp_composed(m, need, g, x, w, b)
        gx = m.conv_onednn_input_grad(g, w, x.shape, self.setup) if need[0] else None
        want_b = b is not None and need[2]
        gw = gb = None
        if need[1]:
            gw = self._direct_weight_grad(m, x, g, w)
            if gw is None:
                gw, gb = m.conv_onednn_weight_grad(x, g, w.shape, want_b, self.setup)
        if want_b and gb is None:
            gb = m.sum(g, (0,) + tuple(range(2, g.ndim)))
        return (gx, gw) if b is None else (gx, gw, gb)


def conv_nd(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None,
    stride: Any,
    pads: tuple,
    dilation: Any,
    groups: int,
    d: int,
    name: str,
) -> Tensor:
    """The d-dimensional convolution with explicit ((before, after), ...) padding (see module docstring)."""
    x, unbatched = _batched(input, d, name)
    if weight.ndim != d + 2:
        raise ValueError(
            f"{name}: expected a {d + 2}-D weight (C_out, C_in/groups, *kernel), got shape {tuple(weight.shape)}"
        )
    stride = ntuple(stride, d, name, "stride")
    dilation = ntuple(dilation, d, name, "dilation")
    if any(s < 1 for s in stride) or any(v < 1 for v in dilation):
        raise ValueError(f"{name}: stride and dilation must be positive, got stride {stride}, dilation {dilation}")
    n, c_in = x.shape[:2]
    c_out, c_g = weight.shape[:2]
    kernel = tuple(weight.shape[2:])
    if groups < 1 or c_in % groups or c_out % groups:
        raise ValueError(
            f"{name}: groups={groups} must divide both in_channels ({c_in}) and out_channels ({c_out})"
        )
    if c_g * groups != c_in:
        raise ValueError(
            f"{name}: expected input with {c_g * groups} channels (weight {tuple(weight.shape)}, groups={groups}), "
            f"got {c_in} channels (input shape {tuple(input.shape)})"
        )
    if bias is not None and tuple(bias.shape) != (c_out,):
        raise ValueError(f"{name}: expected bias of shape ({c_out},), got {tuple(bias.shape)}")
    for n_i, k, dl, (pb, pa) in zip(x.shape[2:], kernel, dilation, pads):
        if n_i + pb + pa < dl * (k - 1) + 1:
            raise ValueError(
                f"{name}: input spatial size {tuple(x.shape[2:])} (padded by {pads}) is smaller than the "
                f"dilated kernel {tuple(dl * (k - 1) + 1 for k, dl in zip(kernel, dilation))}"
            )
    if weight.dtype != x.dtype or (bias is not None and bias.dtype != x.dtype):
        raise DtypeError(f"{name}: input, weight and bias must have the same dtype, got input {x.dtype}, "
                         f"weight {weight.dtype}{'' if bias is None else ', bias ' + str(bias.dtype)}")
    geo = Im2Col(kernel, stride, dilation, pads, tuple(x.shape[2:]))
    if x.device.type == "cpu" and conv_onednn.applies(x.dtype, (x.shape, weight.shape)):
        op: Conv = OnednnConv(geo, groups, pads)
    else:
        op = Conv(geo, groups)
    y = apply(op, x, weight) if bias is None else apply(op, x, weight, bias)
    return y.squeeze(0) if unbatched else y


def conv1d(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: Any = 1,
    padding: Any = 0,
    dilation: Any = 1,
    groups: int = 1,
) -> Tensor:
    """1-D convolution: input (N, C_in, L), weight (C_out, C_in/groups, k), bias (C_out,) -> (N, C_out, L_out).

    L_out = (L + 2 pad - δ (k - 1) - 1) // s + 1.  ``padding`` is an int, 'same' or 'valid'.
    """
    k = ntuple(weight.shape[2:], 1, "conv1d", "kernel") if weight.ndim == 3 else (1,)
    pads = resolve_padding(padding, 1, k, ntuple(dilation, 1, "conv1d", "dilation"),
                           ntuple(stride, 1, "conv1d", "stride"), "conv1d")
    return conv_nd(input, weight, bias, stride, pads, dilation, groups, 1, "conv1d")


def conv2d(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: Any = 1,
    padding: Any = 0,
    dilation: Any = 1,
    groups: int = 1,
) -> Tensor:
    """2-D convolution: input (N, C_in, H, W), weight (C_out, C_in/groups, kh, kw), bias (C_out,)
    -> (N, C_out, H_out, W_out), with H_out = (H + 2 pad - δ (kh - 1) - 1) // s + 1 (same for W).

    ``stride``, ``padding``, ``dilation`` are ints or pairs; ``padding`` may also be 'same' or 'valid'.
    """
    k = tuple(weight.shape[2:]) if weight.ndim == 4 else (1, 1)
    pads = resolve_padding(padding, 2, k, ntuple(dilation, 2, "conv2d", "dilation"),
                           ntuple(stride, 2, "conv2d", "stride"), "conv2d")
    return conv_nd(input, weight, bias, stride, pads, dilation, groups, 2, "conv2d")


def causal_conv1d(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    dilation: int = 1,
    groups: int = 1,
) -> Tensor:
    """Causal 1-D convolution (the notes' convolutional autoregressive models; a chainrule extension).

    The input is padded with δ (k - 1) zeros on the left only, so the output
    keeps the length L and y[t] depends on x[t], x[t - δ], ..., x[t - δ (k - 1)]
    — never on inputs after t.  input (N, C_in, L) -> (N, C_out, L).
    """
    if weight.ndim != 3:
        raise ValueError(f"causal_conv1d: expected a 3-D weight (C_out, C_in/groups, k), got {tuple(weight.shape)}")
    dl = int(dilation)
    pads = ((dl * (weight.shape[2] - 1), 0),)
    return conv_nd(input, weight, bias, 1, pads, dl, groups, 1, "causal_conv1d")


def unfold(input: Tensor, kernel_size: Any, dilation: Any = 1, padding: Any = 0, stride: Any = 1) -> Tensor:
    """im2col (PyTorch's ``F.unfold``): (N, C, H, W) -> (N, C·kh·kw, L), L = H_out·W_out.

    Column l holds the window of output position l, channel-major then kernel
    row-major: out[n, c·kh·kw + u·kw + v, i·W_out + j] = x_pad[n, c, i·s + u·δ, j·s + v·δ].
    Its gradient is ``fold`` (col2im).
    """
    if not isinstance(input, Tensor) or input.ndim != 4:
        raise ValueError(f"unfold: expected a 4-D input (N, C, H, W), got {getattr(input, 'shape', input)!r}")
    kernel = ntuple(kernel_size, 2, "unfold", "kernel_size")
    stride = ntuple(stride, 2, "unfold", "stride")
    dilation = ntuple(dilation, 2, "unfold", "dilation")
    pads = resolve_padding(padding, 2, kernel, dilation, stride, "unfold")
    cols = unfold_nd(input, kernel, stride, dilation, pads)  # (N, C, kh, kw, H_out, W_out)
    n, c = input.shape[:2]
    return cols.reshape(n, c * math.prod(kernel), math.prod(cols.shape[4:]))  # (not -1: N may be 0)


def fold(input: Tensor, output_size: Any, kernel_size: Any, dilation: Any = 1, padding: Any = 0,
         stride: Any = 1) -> Tensor:
    """col2im (PyTorch's ``F.fold``): (N, C·kh·kw, L) -> (N, C, H, W), overlapping entries summed.

    The transpose of ``unfold`` (not its inverse: a pixel read by k windows comes back k times).
    """
    size = ntuple(output_size, 2, "fold", "output_size")
    kernel = ntuple(kernel_size, 2, "fold", "kernel_size")
    stride = ntuple(stride, 2, "fold", "stride")
    dilation = ntuple(dilation, 2, "fold", "dilation")
    pads = resolve_padding(padding, 2, kernel, dilation, stride, "fold")
    if not isinstance(input, Tensor) or input.ndim != 3:
        raise ValueError(f"fold: expected a 3-D input (N, C·kh·kw, L), got {getattr(input, 'shape', input)!r}")
    outs = tuple(out_size(n, k, s, d, pb, pa) for n, k, s, d, (pb, pa) in zip(size, kernel, stride, dilation, pads))
    kk = math.prod(kernel)
    n, ck, positions = input.shape
    if ck % kk or positions != math.prod(outs):
        raise ValueError(f"fold: expected input (N, C·{kk}, {math.prod(outs)}) for output_size {size}, "
                         f"kernel {kernel}, got {tuple(input.shape)}")
    cols = input.reshape((n, ck // kk) + kernel + outs)
    return fold_nd(cols, size, kernel, stride, dilation, pads)
