"""TensorMath: the math table of the vjp/jvp rules, on differentiable Tensors.

Same names and signatures as ``chainrule.backend.ArrayMath``.  The engine
hands this table to the rules when ``create_graph=True``, so the backward
pass is recorded like any other computation and can be differentiated again.
"""

from __future__ import annotations

import numpy as np

from chainrule.autograd.primitive import apply, apply1, kernel, table_of
from chainrule.autograd.tensor import Tensor
from chainrule.backend import sum_to
from chainrule.ops import activation, arrange, indexing, linalg, linalg_ops, pointwise, reduction, shape
from chainrule.ops import elementwise as ew
from chainrule.ops._lift import lift


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
    where = staticmethod(ew.where)
    exp2 = staticmethod(pointwise.exp2)
    matmul = staticmethod(linalg.matmul)
    inv = staticmethod(linalg_ops.inv)
    solve = staticmethod(linalg_ops.solve)
    getitem = staticmethod(indexing.getitem)
    einsum = staticmethod(arrange.einsum)
    swapaxes = staticmethod(shape.transpose)
    expand_dims = staticmethod(shape.unsqueeze)
    squeeze = staticmethod(shape.squeeze)
    concatenate = staticmethod(shape.cat)
    flip = staticmethod(shape.flip)
    reshape = staticmethod(lambda x, shp: shape.reshape(x, tuple(shp)))
    transpose = staticmethod(lambda x, axes: shape.permute(x, *axes))
    broadcast_to = staticmethod(lambda x, shp: shape.expand(x, tuple(shp)))
    zeros_like = staticmethod(lambda x: kernel("zeros_like", x))
    ones_like = staticmethod(lambda x: kernel("ones_like", x))
    sum_to = staticmethod(lambda x, shp: sum_to(x, tuple(shp)))
    scatter_add = staticmethod(lambda shp, index, g: apply1(indexing.ScatterAdd(tuple(shp), index), g))
    scatter_reduce_into = staticmethod(lambda base, index, src, reduce: apply(arrange.ScatterReduce(index, reduce),
                                                                              base, src))
    # NumPy's pad widths ((before, after) per axis) as PyTorch's flat list, last axis first
    pad = staticmethod(lambda x, widths, value=0.0: shape.pad(x, [w for p in reversed(widths) for w in p], value=value))
    # functions with no public op of their own: their primitives
    i0 = staticmethod(lambda x: apply1(pointwise.I0(), x))
    i1 = staticmethod(lambda x: apply1(pointwise._I1(), x))
    i0e = staticmethod(lambda x: apply1(pointwise.I0E, x))
    i1e = staticmethod(lambda x: apply1(pointwise.I1E, x))
    zeta = staticmethod(lambda s, q: apply(pointwise.ZETA, s, q))
    lgamma = staticmethod(lambda x: apply1(pointwise.LGAMMA, x))
    erf = staticmethod(lambda x: apply1(activation.ERF, x))
    polygamma = staticmethod(lambda n, x: apply1(pointwise.Polygamma(n), x))
    cumsum = staticmethod(lambda x, axis: apply1(arrange.Cumsum(axis), x))
    astype = staticmethod(lambda x, dtype: x.to(dtype))
    const = staticmethod(lambda value, like: Tensor._wrap(table_of((like,)).const(value, like._array)))
    raw = staticmethod(lambda x: x._array)

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
