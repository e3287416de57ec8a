"""TensorMath: the math table of the vjp/jvp rules, on differentiable Tensors.

Same names and signatures as ``chainrule.backend.ArrayMath``.  The engine
hands this table to the rules when ``create_graph=True``, so the backward
pass is recorded like any other computation and can be differentiated again.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.autograd.primitive import apply1, kernel, table_of
from chainrule.autograd.tensor import Tensor
from chainrule.backend import sum_to
from chainrule.ops import activation, arrange, indexing, linalg, linalg_ops, pointwise, reduction, shape
from chainrule.ops import elementwise as ew
from chainrule.ops._lift import lift


def _scatter_add(shp: tuple, index: Any, g: Tensor) -> Tensor:
    return apply1(indexing.ScatterAdd(tuple(shp), index), g)


class TensorMath:
    """Tensor functions for the vjp/jvp rules when the backward pass is recorded."""

    is_tensor = True
    exp = staticmethod(ew.exp)
    log = staticmethod(ew.log)
    sin = staticmethod(ew.sin)
    cos = staticmethod(ew.cos)
    tanh = staticmethod(ew.tanh)
    sqrt = staticmethod(ew.sqrt)
    sign = staticmethod(ew.sign)
    abs = staticmethod(ew.abs)
    sigmoid = staticmethod(ew.sigmoid)
    maximum = staticmethod(ew.maximum)
    minimum = staticmethod(ew.minimum)
    matmul = staticmethod(linalg.matmul)
    scatter_add = staticmethod(_scatter_add)

    where = staticmethod(ew.where)

    @staticmethod
    def reshape(x, shp):
        return shape.reshape(x, tuple(shp))

    @staticmethod
    def transpose(x, axes):
        return shape.permute(x, *axes)

    swapaxes = staticmethod(shape.transpose)

    @staticmethod
    def broadcast_to(x, shp):
        return shape.expand(x, tuple(shp))

    expand_dims = staticmethod(shape.unsqueeze)

    squeeze = staticmethod(shape.squeeze)

    concatenate = staticmethod(shape.cat)

    flip = staticmethod(shape.flip)

    @staticmethod
    def zeros_like(x):
        return kernel("zeros_like", x)

    @staticmethod
    def ones_like(x):
        return kernel("ones_like", x)

    @staticmethod
    def sum_to(x, shp):
        return sum_to(x, tuple(shp))

    # axis=() reduces nothing here, as in NumPy and ArrayMath (the public sum/mean read dim=() as
    # every axis, like PyTorch)
    @staticmethod
    def sum(x, axis=None, keepdims=False):
        return x if axis == () else reduction.sum(x, axis, keepdims)

    @staticmethod
    def mean(x, axis=None, keepdims=False):
        return x if axis == () else reduction.mean(x, axis, keepdims)

    @staticmethod
    def prod_others(x, axis):
        """out_i = Π_{j≠i} x_j along ``axis``, recorded: the product along a new axis of n copies of x,
        copy i with its element i replaced by 1.  O(n²) memory, differentiable to any order through
        ``reduction.Prod``; only the recorded backward of a product over zeros comes here."""
        axis = axis % x.ndim
        n = x.shape[axis]
        copies = shape.expand(shape.unsqueeze(x, axis), *x.shape[:axis], n, *x.shape[axis:])
        eye = table_of((x,)).eye(n, dtype=np.bool_).reshape((1,) * axis + (n, n) + (1,) * (x.ndim - axis - 1))
        masked = ew.where(Tensor._wrap(eye), lift(1, x), copies)
        return apply1(reduction.Prod((axis + 1,), False), masked)

    exp2 = staticmethod(pointwise.exp2)
    inv = staticmethod(linalg_ops.inv)
    solve = staticmethod(linalg_ops.solve)
    getitem = staticmethod(indexing.getitem)
    einsum = staticmethod(arrange.einsum)

    @staticmethod
    def i0(x):
        return apply1(pointwise.I0(), x)

    @staticmethod
    def i1(x):
        return apply1(pointwise._I1(), x)

    @staticmethod
    def erf(x):
        return apply1(activation.ERF, x)

    @staticmethod
    def polygamma(n, x):
        return apply1(pointwise.Polygamma(n), x)

    @staticmethod
    def cumsum(x, axis):
        return apply1(arrange.Cumsum(axis), x)

    @staticmethod
    def pad(x, widths, value=0.0):
        flat = []
        for b, a in reversed(widths):
            flat += [b, a]
        return shape.pad(x, flat, value=value)

    @staticmethod
    def astype(x, dtype):
        return x.to(dtype)

    @staticmethod
    def const(value, like):
        return Tensor._wrap(table_of((like,)).const(value, like._array))

    @staticmethod
    def raw(x):
        return x._array
