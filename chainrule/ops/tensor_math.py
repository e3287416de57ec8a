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
from chainrule.ops import elementwise as ew
from chainrule.ops import indexing, linalg, reduction, shape
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

    @staticmethod
    def where(cond, a, b):
        return ew.where(cond, a, b)

    @staticmethod
    def reshape(x, shp):
        return shape.reshape(x, tuple(shp))

    @staticmethod
    def transpose(x, axes):
        return shape.permute(x, *axes)

    @staticmethod
    def swapaxes(x, a, b):
        return shape.transpose(x, a, b)

    @staticmethod
    def broadcast_to(x, shp):
        return shape.expand(x, tuple(shp))

    @staticmethod
    def expand_dims(x, axis):
        return shape.unsqueeze(x, axis)

    @staticmethod
    def squeeze(x, axis):
        return shape.squeeze(x, axis)

    @staticmethod
    def concatenate(xs, axis):
        return shape.cat(xs, axis)

    @staticmethod
    def flip(x, dims):
        return shape.flip(x, dims)

    @staticmethod
    def zeros_like(x):
        return kernel("zeros_like", x)

    @staticmethod
    def ones_like(x):
        return kernel("ones_like", x)

    @staticmethod
    def sum_to(x, shp):
        from chainrule.backend import sum_to

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

    @staticmethod
    def exp2(x):
        from chainrule.ops.pointwise import exp2

        return exp2(x)

    @staticmethod
    def i0(x):
        from chainrule.ops.pointwise import I0

        return apply1(I0(), x)

    @staticmethod
    def i1(x):
        from chainrule.ops.pointwise import _I1

        return apply1(_I1(), x)

    @staticmethod
    def erf(x):
        from chainrule.ops.activation import ERF

        return apply1(ERF, x)

    @staticmethod
    def polygamma(n, x):
        from chainrule.ops.pointwise import Polygamma

        return apply1(Polygamma(n), x)

    @staticmethod
    def inv(x):
        from chainrule.ops.linalg_ops import inv

        return inv(x)

    @staticmethod
    def solve(a, b):
        from chainrule.ops.linalg_ops import solve

        return solve(a, b)

    @staticmethod
    def getitem(x, index):
        return indexing.getitem(x, index)

    @staticmethod
    def cumsum(x, axis):
        from chainrule.ops.arrange import Cumsum

        return apply1(Cumsum(axis), x)

    @staticmethod
    def einsum(equation, *xs):
        from chainrule.ops.arrange import einsum

        return einsum(equation, *xs)

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
