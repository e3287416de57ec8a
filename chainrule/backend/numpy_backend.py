"""NumPy back end: dtypes, the one un-broadcasting helper, and ArrayMath, the table of array
functions the primitives' rules get on raw arrays.  Its twin on Tensors,
``chainrule.ops.tensor_math.TensorMath``, has the same names and signatures, so each rule is written once.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from chainrule.backend.activation_math import ActivationMath
from chainrule.backend.arrange_math import ArrangeMath
from chainrule.backend.conv_math import ConvMath
from chainrule.backend.conv_onednn import ConvOnednnMath
from chainrule.backend.conv_weight_grad import ConvWeightGradMath
from chainrule.backend.embedding_math import EmbeddingMath
from chainrule.backend.gemm_onednn import matmul as gemm_matmul
from chainrule.backend.householder_math import HouseholderMath
from chainrule.backend.int_wrap import fill_value
from chainrule.backend.ldl_math import LDLMath
from chainrule.backend.lu_math import LUMath
from chainrule.backend.mask_math import MaskMath
from chainrule.backend.norm_math import NormMath
from chainrule.backend.optim_math import OptimMath, vector_norm
from chainrule.backend.pool import POOL
from chainrule.backend.product_math import ProductMath
from chainrule.backend.recurrent_math import RecurrentMath
from chainrule.backend.rnn_onednn import RecurrentOnednnMath
from chainrule.backend.softmax_rows import shifted_exp
from chainrule.backend.special import erfcx_array, erfinv_array, i0_array, i1_array, lgamma_array, polygamma_array
from chainrule.backend.special_more import gammainc_array, gammaincc_array, i0e_array, i1e_array, zeta_array
from chainrule.backend.window_math import WindowMath

_DEFAULT = {"float": np.dtype(np.float32)}


class UnsupportedDtypeError(TypeError):
    """A PyTorch dtype that NumPy cannot compute in (``bfloat16``) was used for data."""


class UnsupportedDtype:
    """A PyTorch dtype name chainrule knows but cannot compute in: ``chainrule.bfloat16``.

    Programs naming it (an ``autocast`` dtype, a dtype table) import and run; making data of it
    raises :class:`UnsupportedDtypeError`: NumPy reads a dtype-like object's ``dtype`` attribute,
    so every conversion through ``np.dtype`` raises."""

    __slots__ = ("name", "itemsize")
    is_floating_point, is_complex, is_signed = True, False, True

    def __init__(self, name: str, itemsize: int) -> None:
        self.name = name
        self.itemsize = itemsize

    @property
    def dtype(self) -> np.dtype:
        raise UnsupportedDtypeError(
            f"dtype {self.name}: chainrule computes with NumPy, which has no {self.name} arithmetic; "
            "use float32 (or float16 for storage) instead"
        )

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f"chainrule.{self.name}"

    def __reduce__(self) -> str:
        return self.name  # (pickled as the module-level name: bfloat16 stays a singleton)


bfloat16 = UnsupportedDtype("bfloat16", 2)

_DTYPE_ALIASES: dict[str, Any] = {
    "float": np.float32, "float32": np.float32, "float64": np.float64, "double": np.float64,
    "half": np.float16, "float16": np.float16, "int": np.int32, "int32": np.int32, "long": np.int64,
    "int64": np.int64, "int8": np.int8, "uint8": np.uint8, "int16": np.int16, "bool": np.bool_,
    "bfloat16": bfloat16,
}


def to_numpy_dtype(dtype: Any) -> np.dtype:
    """Turn a chainrule/NumPy dtype or its name ('float32', 'long') into a NumPy dtype."""
    if isinstance(dtype, str):
        if dtype not in _DTYPE_ALIASES:
            raise TypeError(f"unknown dtype name {dtype!r}")
        return np.dtype(_DTYPE_ALIASES[dtype])
    return np.dtype(dtype)


def get_default_dtype() -> np.dtype:
    """The dtype given to floating-point data created without one (float32 unless changed)."""
    return _DEFAULT["float"]


def set_default_dtype(dtype: Any) -> None:
    """Set the default floating dtype (float32 or float64), like ``torch.set_default_dtype``."""
    d = to_numpy_dtype(dtype)
    if d.kind != "f":
        raise TypeError(f"set_default_dtype: only floating dtypes are allowed, got {d}")
    _DEFAULT["float"] = d


def sum_to(g: Any, shape: tuple) -> Any:
    """Undo broadcasting (the one place that does): sum ``g`` down to ``shape``.

    Every broadcast copy of an element got a share of the gradient, and the shares add up:
    leading axes broadcasting added are summed away, axes where ``shape`` has size 1 summed
    with keepdims.  Works on NumPy arrays and on Tensors alike.
    """
    gshape = g.shape
    if gshape == shape:
        return g
    lead = len(gshape) - len(shape)
    if lead < 0:
        raise ValueError(f"sum_to: cannot reduce shape {gshape} to the larger shape {shape}")
    axes = tuple(range(lead)) + tuple(
        i + lead for i, n in enumerate(shape) if n == 1 and gshape[i + lead] != 1
    )
    if axes:
        g = g.sum(axis=axes, keepdims=True)
    return g.reshape(shape)


def _column_sums(x: np.ndarray) -> np.ndarray:
    """Σ_i x[i, :] as ``ones @ x`` (see ``ArrayMath.sum``); the ones are kept per (rows, dtype)."""
    key = (x.shape[0], x.dtype)
    ones = _ONES.get(key)
    if ones is None:
        if len(_ONES) > 64:
            _ONES.clear()
        ones = _ONES[key] = np.ones(x.shape[0], x.dtype)
    return np.dot(ones, x)


_ONES: dict = {}
_prod = math.prod
_add_reduce = np.add.reduce
_true_divide = np.true_divide
_intp = np.intp
_ndarray = np.ndarray
_F32, _F64 = np.dtype(np.float32), np.dtype(np.float64)
_FILL_LIMIT = 4096  # elements: below this, materialising a broadcast beats creating the view


def _scatter_add(shape, index, g):
    """zeros(shape) with g added at index; repeated indices accumulate (np.add.at).  A basic
    index (ints, slices, None, ...) selects each element at most once: a plain assignment does it."""
    items = index if type(index) is tuple else (index,)
    if all(type(i) is int or type(i) is slice or i is None or i is Ellipsis for i in items):
        out = POOL.empty(tuple(shape), g.dtype)  # pooled: a big one is needed again every step
        lead = index[0] if type(index) is tuple and len(index) == 1 else index
        if type(lead) is slice and lead.step in (None, 1) and len(shape):
            # a run of rows (a time slice of a sequence): zero only the rows outside it
            start, stop, _ = lead.indices(shape[0])
            stop = max(start, stop)
            out[:start] = 0
            out[stop:] = 0
            out[start:stop] = g
        else:
            out.fill(0)
            out[index] = g
    else:
        out = np.zeros(shape, dtype=g.dtype)
        np.add.at(out, index, g)
    return out


class ArrayMath(ActivationMath, ArrangeMath, ConvMath, ConvOnednnMath, ConvWeightGradMath, EmbeddingMath,
                HouseholderMath, RecurrentOnednnMath, LDLMath, LUMath, MaskMath, NormMath, OptimMath, ProductMath,
                RecurrentMath, WindowMath):
    """Array functions for the rules, on raw NumPy arrays; one area's entries (with their
    compiled kernels) live in a class of their own among the bases."""

    is_tensor = False
    exp = staticmethod(np.exp)
    log = staticmethod(np.log)
    sin = staticmethod(np.sin)
    cos = staticmethod(np.cos)
    tanh = staticmethod(np.tanh)
    sqrt = staticmethod(np.sqrt)
    sign = staticmethod(np.sign)
    abs = staticmethod(np.abs)
    where = staticmethod(np.where)
    maximum = staticmethod(np.maximum)
    minimum = staticmethod(np.minimum)
    matmul = staticmethod(gemm_matmul)  # np.matmul; float32 products on oneDNN's sgemm while it holds the threads
    log1p = staticmethod(np.log1p)
    expm1 = staticmethod(np.expm1)
    exp2 = staticmethod(np.exp2)
    log2 = staticmethod(np.log2)
    log10 = staticmethod(np.log10)
    floor = staticmethod(np.floor)
    ceil = staticmethod(np.ceil)
    trunc = staticmethod(np.trunc)
    sinh = staticmethod(np.sinh)
    cosh = staticmethod(np.cosh)
    tan = staticmethod(np.tan)
    asin = staticmethod(np.arcsin)
    acos = staticmethod(np.arccos)
    atan = staticmethod(np.arctan)
    asinh = staticmethod(np.arcsinh)
    acosh = staticmethod(np.arccosh)
    atanh = staticmethod(np.arctanh)
    atan2 = staticmethod(np.arctan2)
    fmod = staticmethod(np.fmod)
    remainder = staticmethod(np.remainder)
    broadcast_view = staticmethod(np.broadcast_to)  # a read-only view, never a copy

    @staticmethod
    def as_strided(a, shape, strides):
        """A view of a's memory with ``shape`` and element ``strides`` (from a's first element)."""
        return np.lib.stride_tricks.as_strided(a, tuple(shape), tuple(int(s) * a.itemsize for s in strides))

    @staticmethod
    def data_ptr(a: Any) -> int:
        """The address of a's first element, as an int (0 for an empty array, as PyTorch's
        ``Tensor.data_ptr``): equal for views that start at the same element."""
        return int(a.__array_interface__["data"][0]) if a.size else 0

    clip = staticmethod(np.clip)
    moveaxis = staticmethod(np.moveaxis)
    isfinite = staticmethod(np.isfinite)
    isnan = staticmethod(np.isnan)
    any = staticmethod(np.any)
    all = staticmethod(np.all)
    arange = staticmethod(np.arange)
    copyto = staticmethod(np.copyto)
    multiply = staticmethod(np.multiply)  # with out=: into a given array
    # comparisons and logical/bitwise operations (bool or integer results, no gradient)
    equal = staticmethod(np.equal)
    not_equal = staticmethod(np.not_equal)
    less = staticmethod(np.less)
    less_equal = staticmethod(np.less_equal)
    greater = staticmethod(np.greater)
    greater_equal = staticmethod(np.greater_equal)
    logical_and = staticmethod(np.logical_and)
    logical_or = staticmethod(np.logical_or)
    logical_xor = staticmethod(np.logical_xor)
    logical_not = staticmethod(np.logical_not)
    bitwise_and = staticmethod(np.bitwise_and)
    bitwise_or = staticmethod(np.bitwise_or)
    bitwise_xor = staticmethod(np.bitwise_xor)
    empty_like = staticmethod(np.empty_like)
    ix_ = staticmethod(np.ix_)
    eye = staticmethod(np.eye)
    heaviside = staticmethod(np.heaviside)
    round = staticmethod(np.round)
    erfinv = staticmethod(erfinv_array)
    erfcx = staticmethod(erfcx_array)  # e^(x²) erfc(x), finite for large x
    i0 = staticmethod(i0_array)
    i1 = staticmethod(i1_array)
    # torch.special's scaled Bessel, incomplete gamma and Hurwitz zeta functions (float64 results:
    # their primitives cast back to the input's dtype)
    frexp = staticmethod(np.frexp)  # (mantissa, exponent)
    nextafter = staticmethod(np.nextafter)
    i0e = staticmethod(i0e_array)
    i1e = staticmethod(i1e_array)
    gammainc = staticmethod(gammainc_array)  # (a, x): P(a, x)
    gammaincc = staticmethod(gammaincc_array)  # (a, x): Q(a, x)
    zeta = staticmethod(zeta_array)  # (s, q): ζ(s, q)

    @staticmethod
    def argmax(x, axis=None, keepdims=False):
        """Index of the largest element along ``axis`` (of the flattened array if None), int64."""
        return np.asarray(np.argmax(x, axis=axis, keepdims=keepdims), dtype=np.int64)

    @staticmethod
    def argmin(x, axis=None, keepdims=False):
        return np.asarray(np.argmin(x, axis=axis, keepdims=keepdims), dtype=np.int64)

    # factories (typed Any: callers must not count on NumPy's array types)
    zeros: Any = staticmethod(np.zeros)
    ones: Any = staticmethod(np.ones)

    @staticmethod
    def full(shape: Any, fill: Any, dtype: Any = None) -> Any:
        """``np.full``, a Python int wrapped into an integer dtype's range (``backend/int_wrap.py``)."""
        return np.full(shape, fill_value(fill, dtype), dtype)

    empty: Any = staticmethod(np.empty)

    pooled_empty = staticmethod(POOL.empty)  # (shape, dtype): uninitialised, from the buffer pool

    # from_host(a, dtype=None): host data (NumPy, Python values) as this back end's array (here no copy)
    from_host: Any = staticmethod(np.asarray)
    asarray: Any = staticmethod(np.asarray)

    @staticmethod
    def copy(x, dtype=None):
        """A writable copy of ``x`` (an array or a host value), converted to ``dtype`` if given."""
        return np.array(x, dtype=dtype, copy=True)

    @staticmethod
    def reshape_view(x, shape):
        """x.reshape(shape), a view whenever the strides allow one, else copied into a pooled array."""
        if x.flags.c_contiguous or x.size < 1 << 15:
            return x.reshape(shape)
        try:
            return np.reshape(x, shape, copy=False)
        except TypeError:  # NumPy < 2.1: no copy argument
            return x.reshape(shape)
        except ValueError:  # needs a copy
            out = POOL.empty(shape, x.dtype)
            out.reshape(x.shape)[...] = x
            return out
    concatenate = staticmethod(np.concatenate)
    flip = staticmethod(np.flip)
    sum_to = staticmethod(sum_to)
    # the fused cross-entropy's rows: z = x - max_row(x), e = e^z, returns Σ_row e (softmax_rows.py)
    shifted_exp = staticmethod(shifted_exp)
    scatter_add = staticmethod(_scatter_add)

    # the array methods (x.reshape, x.sum...) have 2-10x less overhead than the np.* functions
    @staticmethod
    def reshape(x, shape):
        return x.reshape(shape)

    @staticmethod
    def transpose(x, axes):
        return x.transpose(axes)

    @staticmethod
    def swapaxes(x, axis1, axis2):
        return x.swapaxes(axis1, axis2)

    @staticmethod
    def squeeze(x, axis):
        return x.squeeze(axis)

    @staticmethod
    def expand_dims(x, axis):
        """x with a new axis of size 1 at ``axis`` (negative: from the end of the result)."""
        shape = x.shape
        d = axis % (len(shape) + 1)
        return x.reshape(shape[:d] + (1,) + shape[d:])

    @staticmethod
    def broadcast_to(x, shape):
        """x broadcast to ``shape``: a small result filled into a new array (10x cheaper than
        np.broadcast_to's view), a large one a read-only view."""
        shape = tuple(shape)
        if x.shape == shape:
            return x
        if _prod(shape) <= _FILL_LIMIT:
            out = np.empty(shape, dtype=x.dtype)
            out[...] = x
            return out
        return np.broadcast_to(x, shape)

    @staticmethod
    def zeros_like(x):
        return np.zeros(x.shape, x.dtype)

    @staticmethod
    def ones_like(x):
        return np.ones(x.shape, x.dtype)

    @staticmethod
    def sigmoid(x):
        """σ(x) without overflow: with e = e^-|x| <= 1, σ = 1/(1 + e) for x >= 0, e/(1 + e) for
        x < 0 (the numerator chosen by arithmetic: np.where costs ~10x more on random signs)."""
        e = np.exp(-np.abs(x))
        return (e + (x >= 0) * (1 - e)) / (1 + e)

    # sum and mean call the ufunc's reduce themselves: ndarray.sum/.mean go through a Python
    # wrapper in NumPy (numpy/_core/_methods.py) that costs more than a small reduction.
    @staticmethod
    def sum(x, axis=None, keepdims=False):
        """x.sum(axis).  The column sums of a 2-D float32/float64 array (axis 0, a Linear layer's
        bias gradient) are ``ones @ x`` on BLAS: NumPy's reduce adds the rows one after another
        at 2.6 µs for (64, 32) and 54 µs for (2048, 65), the product takes 0.9 and 12 µs and
        sums in blocks (closer to the exact sum; not NumPy's bits, and -0 sums to +0)."""
        if (axis == 0 or axis == (0,)) and not keepdims and type(x) is _ndarray and x.ndim == 2 \
                and x.shape[0] > 1 and (x.dtype is _F32 or x.dtype is _F64):
            return _column_sums(x)
        return _add_reduce(x, axis, None, None, keepdims)

    @staticmethod
    def mean(x, axis=None, keepdims=False):
        """x.mean(axis): for a non-empty float32/float64 x, NumPy's own steps (the sum, then a
        division by the count as an intp, rounded to x's dtype), so the same bits.  A 0-d result
        is divided as a Python float: NumPy divides it in float64 too, and its scalars cost more."""
        dt = x.dtype
        if (dt is not _F32 and dt is not _F64) or not x.size:
            return x.mean(axis=axis, keepdims=keepdims)
        s = _add_reduce(x, axis, None, None, keepdims)
        if type(s) is _ndarray:
            return _true_divide(s, _intp(x.size // s.size), out=s, casting="unsafe")
        return dt.type(float(s) / x.size)

    @staticmethod
    def prod_others(x, axis):
        """out_i = Π_{j≠i} x_j along ``axis`` (the gradient of a product) without dividing by x_i:
        the exclusive cumulative products from both ends multiplied, so zeros in x are exact."""
        xm = np.moveaxis(x, axis, -1)
        out = np.ones_like(xm)
        if xm.shape[-1] > 1:
            np.cumprod(xm[..., :-1], axis=-1, out=out[..., 1:])  # before: 1, x0, x0 x1, ...
            after = np.cumprod(xm[..., :0:-1], axis=-1)[..., ::-1]  # after: x1 x2 ..., x2 ..., ...
            out[..., :-1] *= after
        return np.moveaxis(out, -1, axis)

    @staticmethod
    def getitem(x, index):
        return x[index]

    @staticmethod
    def cumsum(x, axis):
        return np.cumsum(x, axis=axis, dtype=x.dtype)

    @staticmethod
    def einsum(equation, *xs):
        return np.einsum(equation, *xs, optimize=len(xs) > 2)

    @staticmethod
    def pad(x, pad_width, value=0.0):
        return np.pad(x, pad_width, constant_values=value)

    @staticmethod
    def astype(x, dtype):
        return x.astype(dtype, copy=False)

    @staticmethod
    def const(value, like):
        """An array holding ``value`` with ``like``'s dtype (a constant, no gradient)."""
        return np.asarray(value, dtype=like.dtype)

    @staticmethod
    def raw(x):
        """The raw array (the identity here; TensorMath unwraps a Tensor)."""
        return x

    # ---- linear algebra (chainrule/ops/linalg_ops.py) -------------------------------------
    inv = staticmethod(np.linalg.inv)
    det = staticmethod(np.linalg.det)
    slogdet = staticmethod(np.linalg.slogdet)
    solve = staticmethod(np.linalg.solve)
    cholesky = staticmethod(np.linalg.cholesky)
    eigh = staticmethod(np.linalg.eigh)
    svd = staticmethod(np.linalg.svd)
    qr = staticmethod(np.linalg.qr)
    LinAlgError = np.linalg.LinAlgError

    # ---- optimiser updates (optim/_functional.py): ufuncs with out=, into reused scratch arrays
    add = staticmethod(np.add)
    subtract = staticmethod(np.subtract)
    divide = staticmethod(np.divide)
    negative = staticmethod(np.negative)
    full_like = staticmethod(np.full_like)

    @staticmethod
    def scalar(value, dtype):
        """``value`` as a 0-d array of ``dtype`` (a ufunc takes it twice as fast as a Python float)."""
        return np.array(value, dtype=dtype)

    @staticmethod
    def norm(x) -> float:
        """The 2-norm of all of ``x``'s elements, as a Python float (optim_math.vector_norm)."""
        return vector_norm(x, 2.0)

    @staticmethod
    def machine_eps(dtype) -> float:
        """The gap between 1 and the next number of a floating dtype (PyTorch's ``finfo(dtype).eps``)."""
        return float(np.finfo(dtype).eps)

    # ---- the rest of ops/: tests, integer arithmetic, factories, special functions --------
    isinf = staticmethod(np.isinf)
    isposinf = staticmethod(np.isposinf)
    isneginf = staticmethod(np.isneginf)
    isreal = staticmethod(np.isreal)
    signbit = staticmethod(np.signbit)
    isclose = staticmethod(np.isclose)
    isin = staticmethod(np.isin)
    invert = staticmethod(np.invert)  # (logical not on bool arrays)
    floor_divide = staticmethod(np.floor_divide)
    left_shift = staticmethod(np.left_shift)
    right_shift = staticmethod(np.right_shift)
    gcd = staticmethod(np.gcd)
    lcm = staticmethod(np.lcm)
    nan_to_num = staticmethod(np.nan_to_num)
    tril = staticmethod(np.tril)
    linspace = staticmethod(np.linspace)
    logspace = staticmethod(np.logspace)
    lgamma = staticmethod(lgamma_array)
    polygamma = staticmethod(polygamma_array)  # (n, x): ψ⁽ⁿ⁾(x)

    @staticmethod
    def slogdet_sign(x):
        """The sign of det x (-1, 0 or 1) in x's dtype, (*, n, n) -> (*)."""
        return np.asarray(np.linalg.slogdet(x)[0], dtype=x.dtype)

    @staticmethod
    def sum_of(arrays):
        """The elementwise sum of a list of same-shape arrays in one pass (a leaf's gradient parts)."""
        return np.sum(arrays, axis=0)
