"""The ops layer: every primitive (forward, vjp, jvp side by side) and the functions built on them.

Modules: ``elementwise`` (arithmetic, exp/log, activations' primitives),
``reduction`` (sum, mean, prod, max, var, logsumexp, softmax), ``linalg`` (matmul),
``shape`` (reshape, permute, expand, cat, pad, flip), ``indexing`` (getitem,
setitem, gather), ``creation`` (tensor, zeros, randn...).  Importing this
package also attaches the operators and methods to ``Tensor`` (``methods``).
"""

# ruff: noqa: F401  (the imports below are this package's public names, listed in __all__)

from chainrule.ops import methods as _methods  # noqa: F401  (binds Tensor methods)
from chainrule.ops.creation import (
    arange,
    as_tensor,
    bernoulli,
    empty,
    empty_like,
    eye,
    from_numpy,
    full,
    full_like,
    linspace,
    logspace,
    multinomial,
    normal,
    ones,
    ones_like,
    rand,
    rand_like,
    randint,
    randn,
    randn_like,
    randperm,
    tensor,
    zeros,
    zeros_like,
)
from chainrule.ops.elementwise import (
    abs,
    add,
    clamp,
    cos,
    div,
    exp,
    log,
    log1p,
    maximum,
    minimum,
    mul,
    neg,
    pow,
    relu,
    sigmoid,
    sign,
    sin,
    sqrt,
    sub,
    tanh,
    where,
)
from chainrule.ops.indexing import gather, index_select, masked_fill, scatter_add, take_along_dim
from chainrule.ops.linalg import bmm, dot, matmul, mm, outer
from chainrule.ops.reduction import (
    all,
    amax,
    amin,
    any,
    argmax,
    argmin,
    log_softmax,
    logsumexp,
    max,
    mean,
    min,
    norm,
    prod,
    softmax,
    std,
    sum,
    var,
)
from chainrule.ops.shape import (
    broadcast_tensors,
    broadcast_to,
    cat,
    chunk,
    concat,
    expand,
    flatten,
    flip,
    movedim,
    pad,
    permute,
    repeat,
    reshape,
    split,
    squeeze,
    stack,
    t,
    transpose,
    unbind,
    unflatten,
    unsqueeze,
    view,
)

clip = clamp
__all__ = [n for n in dir() if not n.startswith("_")]
