"""The affine layer y = x Wᵀ + b (the notes' a_i = W_i z_{i-1} + b_i, one row per example) and bilinear.

``linear`` runs one fused primitive on 2-D data, (N, in) -> (N, out):

    forward   y  = x Wᵀ + b                 (one BLAS call, b added in place)
    reverse   dx = g W,   dW = gᵀ x,   db = Σ_n g_n
    forward-mode  dy = dx Wᵀ + x dWᵀ + db

dW is computed as gᵀ x, a fresh C-contiguous (out, in) array like W itself (an
F-ordered gradient makes every optimiser pass over W several times slower; see
the MatMul.vjp note, commit caf2e39).  Inputs (*, in) are flattened to 2-D and back.
y and dx, the big ones, are written into arrays of the buffer pool (backend.pool): a
fresh multi-megabyte array every step costs its page faults (measured ~0.5 ms for
the 2 MB dx of an LSTM language model's output layer).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from chainrule.autograd.primitive import Primitive, apply, apply2
from chainrule.autograd.tensor import Tensor
from chainrule.backend.dtype_check import DtypeError, mismatch_message
from chainrule.backend.pool import memory_order
from chainrule.ops import shape
from chainrule.ops.linalg import product

__all__ = ["Linear2d", "bilinear", "linear"]


_POOLED = 1 << 15  # elements: y and dx at least this big are written into pooled arrays


class Linear2d(Primitive):
    """y = x Wᵀ (+ b) for x (N, in), W (out, in), b (out,);  dx = g W, dW = gᵀ x, db = Σ_n g."""

    name = "linear"
    saves_output = False

    def saved_inputs(self, need):  # dL/dx reads W, dL/dW reads x, dL/db reads nothing
        return tuple(i for i, n in ((1, need[0]), (0, need[1])) if n)
    fresh_grads = True  # g W, gᵀ x and Σ g are new arrays

    def forward(self, m, x, w, b=None):
        n, out = x.shape[0], w.shape[0]
        if n * out < _POOLED:  # small (the per-call cost matters more than the allocation)
            y = product(m, x, w.T)
        else:
            y = m.matmul(x, w.T, out=m.pooled_empty((n, out), np.result_type(x.dtype, w.dtype)))
        if b is not None:
            y += b
        return y

    def vjp(self, m, need, g, y, x, w, b=None):
        gx = None
        if need[0]:
            if m.is_tensor or g.shape[0] * w.shape[1] < _POOLED:
                gx = product(m, g, w)
            else:
                gx = m.matmul(g, w, out=m.pooled_empty((g.shape[0], w.shape[1]), np.result_type(g.dtype, w.dtype)))
        gw = product(m, m.swapaxes(g, 0, 1), x) if need[1] else None  # (out, N) @ (N, in): C-contiguous
        if b is None:
            return gx, gw
        return gx, gw, (m.sum(g, 0) if need[2] else None)

    def jvp(self, m, dxs, y, x, w, b=None):
        dy = dxs[0] @ m.swapaxes(w, 0, 1) + x @ m.swapaxes(dxs[1], 0, 1)
        if b is not None:
            dy = dy + dxs[2]
        return dy


LINEAR = Linear2d()


def _fmt(shp: Any) -> str:
    return "(" + ", ".join(str(int(s)) for s in shp) + ("," if len(shp) == 1 else "") + ")"


def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None, _layer: str = "linear") -> Tensor:
    """y = input @ weightᵀ + bias: input (*, in), weight (out, in), bias (out,) or None -> (*, out).

    A 1-D input (in,) gives (out,).  Raises ValueError naming the layer, the expected
    and the received shapes when they do not fit.
    """
    if isinstance(input, Tensor) and isinstance(weight, Tensor):
        # the common case straight to the primitive (this runs once per layer per step):
        # 2-D input and weight of one dtype whose shapes fit; everything else is checked below
        x, w = input._array, weight._array
        if (x.ndim == 2 and w.ndim == 2 and x.shape[1] == w.shape[1] and x.dtype is w.dtype
                and (bias is None or (isinstance(bias, Tensor) and bias._array.dtype is w.dtype
                                      and bias._array.shape == (w.shape[0],)))):
            return apply2(LINEAR, input, weight) if bias is None else apply(LINEAR, input, weight, bias)
    if not isinstance(input, Tensor) or not isinstance(weight, Tensor):
        raise TypeError(
            f"{_layer}: expected Tensors for input and weight, got {type(input).__name__} and "
            f"{type(weight).__name__}"
        )
    if weight.ndim != 2:
        raise ValueError(f"{_layer}: expected a 2-D weight (out_features, in_features), got shape {_fmt(weight.shape)}")
    out_f, in_f = weight.shape
    if input.ndim == 0 or input.shape[-1] != in_f:
        raise ValueError(f"{_layer}: expected input of shape (*, {in_f}), got {_fmt(input.shape)}")
    if bias is not None and (not isinstance(bias, Tensor) or tuple(bias.shape) != (out_f,)):
        got = _fmt(bias.shape) if isinstance(bias, Tensor) else type(bias).__name__
        raise ValueError(f"{_layer}: expected bias of shape ({out_f},), got {got}")
    dt = weight._array.dtype
    # integer or bool input is refused too, as PyTorch ("mat1 and mat2 must have the same dtype"):
    # converting it silently would hide a data pipeline that forgot its .float()
    if input._array.dtype != dt:
        raise DtypeError(mismatch_message(_layer, "input", input._array.dtype, dt))
    if bias is not None and bias._array.dtype != dt:
        raise DtypeError(mismatch_message(_layer, "bias", bias._array.dtype, dt))
    order = _rows_in_memory_order(input._array)
    src = input if order is None else shape.permute(input, *order)  # (a permuted view: memory's row order)
    lead = tuple(src.shape[:-1])
    x2 = src if src.ndim == 2 else shape.reshape(src, (math.prod(lead), in_f))
    y = apply2(LINEAR, x2, weight) if bias is None else apply(LINEAR, x2, weight, bias)
    if src.ndim != 2:
        y = shape.reshape(y, lead + (out_f,))
    if order is not None:  # the input's permutation back, as a view
        y = shape.permute(y, *[order.index(k) for k in range(src.ndim)])
    return y


def _rows_in_memory_order(x: Any) -> list | None:
    """For an input (*, in) that is a permuted view of one C-ordered block with the features
    innermost (a batch-first RNN's output, ``h.transpose(0, 1)``), the axis order that makes it
    that block; None where it already is one, or is no such view.

    The layer then runs on the block, whose rows flatten without a copy, and gives its output
    the input's permutation: the same numbers, as a view.  Flattening the permuted view itself
    copies all of it (2 MiB at w4's LSTM output, 0.6 ms); the output, ``out`` features wide
    instead of ``in``, is what a later reshape copies, if any."""
    if x.ndim < 3 or x.size == 0:
        return None
    order = memory_order(x)
    if order[-1] != x.ndim - 1 or order == list(range(x.ndim)) or not x.transpose(order).flags.c_contiguous:
        return None
    return order


def bilinear(input1: Tensor, input2: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """y_k = x1ᵀ A_k x2 + b_k: input1 (*, in1), input2 (*, in2), weight (out, in1, in2), bias (out,) -> (*, out).

    A composition of matmuls (no fused primitive): (x1 A) reshaped, times x2.
    """
    if weight.ndim != 3:
        raise ValueError(f"bilinear: expected weight (out, in1, in2), got {_fmt(weight.shape)}")
    out_f, in1, in2 = weight.shape
    for what, t in (("input1", input1), ("input2", input2), ("bias", bias)):
        if t is not None and t._array.dtype != weight._array.dtype:
            raise DtypeError(mismatch_message("bilinear", what, t._array.dtype, weight._array.dtype))
    if input1.shape[-1] != in1 or input2.shape[-1] != in2 or tuple(input1.shape[:-1]) != tuple(input2.shape[:-1]):
        raise ValueError(
            f"bilinear: expected inputs (*, {in1}) and (*, {in2}) with the same leading shape, "
            f"got {_fmt(input1.shape)} and {_fmt(input2.shape)}"
        )
    lead = tuple(input1.shape[:-1])
    n = math.prod(lead)
    x1 = shape.reshape(input1, (n, in1))
    x2 = shape.reshape(input2, (n, 1, in2))
    # t[n, k, j] = Σ_i x1[n, i] A[k, i, j]
    t = shape.reshape(x1 @ shape.reshape(shape.permute(weight, 1, 0, 2), (in1, out_f * in2)), (n, out_f, in2))
    y = (t * x2).sum(-1)
    if bias is not None:
        y = y + bias
    return shape.reshape(y, lead + (out_f,))
