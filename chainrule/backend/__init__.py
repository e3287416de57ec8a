"""The array back end: the lowest layer of chainrule.

Everything above this package touches arrays only through NumPy (imported here
as ``xp``) and through :class:`ArrayMath`, the small table of array functions
that the backward (vjp) and forward (jvp) rules of the primitives call.  A
second table with the same names, ``chainrule.ops.tensor_math.TensorMath``,
does the same work on differentiable Tensors; that is what makes
``create_graph=True`` (gradients of gradients) work with one rule per op.
"""

from chainrule.backend.numpy_backend import (
    ArrayMath,
    default_float_dtype,
    get_default_dtype,
    set_default_dtype,
    sum_to,
    to_numpy_dtype,
    xp,
)
from chainrule.backend.random import default_generator, manual_seed

__all__ = [
    "ArrayMath",
    "default_float_dtype",
    "default_generator",
    "get_default_dtype",
    "manual_seed",
    "set_default_dtype",
    "sum_to",
    "to_numpy_dtype",
    "xp",
]
