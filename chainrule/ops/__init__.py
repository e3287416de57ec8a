"""The ops layer: every primitive (forward, vjp, jvp side by side) and the functions built on them;
importing it attaches the operators and methods to ``Tensor`` (``methods``).

The names below are declarations for type checkers, which read only literal imports and a literal ``__all__``."""

# ruff: noqa: F401, I001  (the imports are this package's public names, listed in __all__, packed)

from chainrule.ops import methods as _methods  # (binds Tensor methods)
from chainrule.ops.arrange import (
    addbmm, addmm, addmv, addr, aminmax, argsort, argwhere, atleast_1d, atleast_2d, atleast_3d, baddbmm, bincount,
    block_diag, broadcast_shapes, bucketize, can_cast, cartesian_prod, cdist, chain_matmul, clone, column_stack,
    combinations, concatenate, corrcoef, count_nonzero, cov, cross, cummax, cummin, cumprod, cumsum,
    cumulative_trapezoid, detach, diag, diag_embed, diagflat, diagonal, diagonal_scatter, diff, dist, dsplit, gradient,
    dstack, einsum, fliplr, flipud, histc, hsplit, hstack, index_add, index_copy, index_fill, index_put,
    index_reduce, inner,
    is_complex, is_floating_point, is_nonzero, is_same_size, is_signed, kron, kthvalue, logcumsumexp,
    masked_scatter, masked_select, median, meshgrid, mode, moveaxis, msort, mv, nanmean, nanmedian, nansum, narrow,
    nonzero, promote_types, quantile, ravel, repeat_interleave, result_type, roll, rot90, row_stack, scalar_tensor,
    scatter, scatter_reduce, searchsorted, select, select_scatter, slice_scatter, sort, split_with_sizes, std_mean,
    swapaxes, swapdims, take, tensor_split, tensordot, tile, topk, trapezoid, trapz, tril, tril_indices, triu,
    triu_indices, unique, unique_consecutive, unravel_index, unsafe_chunk, unsafe_split, vander, var_mean, vdot,
    vsplit, vstack,
)
from chainrule.ops.creation import (
    arange, as_tensor, bernoulli, empty, empty_like, empty_strided, eye, from_numpy, full, full_like, linspace,
    logspace, multinomial, normal, ones, ones_like, rand, rand_like, randint, randn, randn_like, randperm, tensor,
    zeros, zeros_like,
)
from chainrule.ops.elementwise import (
    abs, add, clamp, cos, exp, log, log1p, maximum, minimum, mul, neg, pow, relu, sigmoid, sign, sin, sqrt, sub,
    tanh, where,
)
from chainrule.ops.indexing import gather, index_select, masked_fill, scatter_add, take_along_dim
from chainrule.ops.linalg import bmm, dot, matmul, mm, outer
from chainrule.ops.pointwise import (
    absolute, acos, acosh, addcdiv, addcmul, allclose, arccos, arccosh, arcsin, arcsinh, arctan, arctan2, arctanh,
    asin, asinh, atan, atan2, atanh, bitwise_and, bitwise_left_shift, bitwise_not, bitwise_or, bitwise_right_shift,
    bitwise_xor, ceil, clamp_max, clamp_min, copysign, cosh, deg2rad, digamma, div, divide, eq, equal, erf, erfc,
    erfinv, exp2, expm1, fix, float_power, floor, floor_divide, fmax, fmin, fmod, frac, gcd, ge, greater,
    greater_equal, gt, heaviside, hypot, i0, isclose, isfinite, isin, isinf, isnan, isneginf, isposinf, isreal, lcm,
    ldexp, le, lerp, less, less_equal, lgamma, log2, log10, logaddexp, logaddexp2, logical_and, logical_not,
    logical_or, logical_xor, logit, lt, multiply, mvlgamma, nan_to_num, ne, negative, not_equal, polygamma,
    positive, rad2deg, reciprocal, remainder, round, rsqrt, rsub, sgn, signbit, sinc, sinh, square, subtract, tan,
    true_divide, trunc, xlogy,
)
from chainrule.ops.reduction import (
    all, amax, amin, any, argmax, argmin, log_softmax, logsumexp, max, mean, min, norm, prod, softmax, std, sum,
    var,
)
from chainrule.ops.shape import (
    broadcast_tensors, broadcast_to, cat, chunk, concat, expand, flatten, flip, movedim, pad, permute, repeat,
    reshape, split, squeeze, stack, t, transpose, unbind, unflatten, unsqueeze, view,
)

clip = clamp
__all__ = [
    "abs", "add", "all", "amax", "amin", "any", "arange", "argmax", "argmin", "as_tensor", "bernoulli", "bmm",
    "broadcast_tensors", "broadcast_to", "cat", "chunk", "clamp", "clip", "concat", "cos", "dot", "empty",
    "empty_like", "empty_strided", "exp", "expand", "eye", "flatten", "flip", "from_numpy", "full", "full_like",
    "gather",
    "index_select", "linspace", "log", "log1p", "log_softmax", "logspace", "logsumexp", "masked_fill", "matmul",
    "max", "maximum", "mean", "min", "minimum", "mm", "movedim", "mul", "multinomial", "neg", "norm", "normal",
    "ones", "ones_like", "outer", "pad", "permute", "pow", "prod", "rand", "rand_like", "randint", "randn",
    "randn_like", "randperm", "relu", "repeat", "reshape", "scatter_add", "sigmoid", "sign", "sin", "softmax",
    "split", "sqrt", "squeeze", "stack", "std", "sub", "sum", "t", "take_along_dim", "tanh", "tensor", "transpose",
    "unbind", "unflatten", "unsqueeze", "var", "view", "where", "zeros", "zeros_like", "absolute", "acos", "acosh",
    "addbmm", "addcdiv", "addcmul", "addmm", "addmv", "addr", "allclose", "aminmax", "arccos", "arccosh", "arcsin",
    "arcsinh", "arctan", "arctan2", "arctanh", "argsort", "argwhere", "asin", "asinh", "atan", "atan2", "atanh",
    "atleast_1d", "atleast_2d", "atleast_3d", "baddbmm", "bincount", "bucketize", "cartesian_prod", "cdist", "ceil",
    "clamp_max", "clamp_min", "column_stack", "cosh", "count_nonzero", "cross", "cummax", "cummin", "cumprod",
    "cumsum", "diag", "diag_embed", "diagflat", "diagonal", "diff", "div", "divide", "dsplit", "dstack", "einsum",
    "eq", "equal", "erf", "erfc", "erfinv", "exp2", "expm1", "fix", "fliplr", "flipud", "float_power", "floor",
    "floor_divide", "fmod", "frac", "ge", "greater", "greater_equal", "gt", "heaviside", "histc", "hsplit",
    "hstack", "hypot", "i0", "ldexp", "index_add", "index_copy", "index_fill", "inner", "isclose", "isfinite",
    "isinf", "isnan", "isneginf", "isposinf", "isreal", "kron", "kthvalue", "le", "lerp", "less", "less_equal",
    "log10", "log2", "logaddexp", "logaddexp2", "logcumsumexp", "logical_and", "logical_not", "logical_or",
    "logical_xor", "logit", "lt", "masked_select", "median", "meshgrid", "moveaxis", "msort", "multiply", "mv",
    "nan_to_num", "nanmean", "nansum", "narrow", "ne", "negative", "nonzero", "not_equal", "positive", "quantile",
    "ravel", "reciprocal", "remainder", "repeat_interleave", "roll", "rot90", "round", "row_stack", "rsqrt",
    "scatter", "searchsorted", "select", "sgn", "signbit", "sinh", "sort", "square", "std_mean", "subtract",
    "swapaxes", "swapdims", "take", "tan", "tensor_split", "tensordot", "tile", "topk", "tril", "triu",
    "true_divide", "trunc", "unique", "unique_consecutive", "var_mean", "vdot", "vsplit", "vstack", "xlogy",
    "bitwise_and", "bitwise_left_shift", "bitwise_not", "bitwise_or", "bitwise_right_shift", "bitwise_xor",
    "block_diag", "chain_matmul", "combinations", "copysign", "corrcoef", "cov", "cumulative_trapezoid", "deg2rad",
    "diagonal_scatter", "dist", "gradient", "fmax", "fmin", "gcd", "index_put", "isin", "lcm", "masked_scatter", "mode",
    "rad2deg", "rsub", "select_scatter", "sinc", "slice_scatter", "trapezoid", "trapz", "tril_indices",
    "triu_indices", "unravel_index", "vander", "broadcast_shapes", "can_cast", "clone", "concatenate", "detach",
    "is_complex", "is_floating_point", "is_nonzero", "is_same_size", "is_signed", "promote_types", "result_type",
    "scalar_tensor", "split_with_sizes", "unsafe_chunk", "unsafe_split", "digamma", "lgamma", "mvlgamma",
    "polygamma", "scatter_reduce", "nanmedian", "index_reduce",
]
