"""The array back end: the lowest layer of chainrule.

Everything above this package touches arrays only through a table of array functions:
:class:`ArrayMath` is the NumPy one, and every primitive's forward, vjp and jvp rule receives it
as ``m``.  Its twin on differentiable Tensors, ``chainrule.ops.tensor_math.TensorMath``, has the
same names: that makes ``create_graph=True`` (gradients of gradients) work with one rule per op.
"""

from chainrule.backend import allocator as _allocator
from chainrule.backend.numpy_backend import ArrayMath, get_default_dtype, set_default_dtype, sum_to, to_numpy_dtype
from chainrule.backend.random import default_generator, manual_seed

__all__ = ["ArrayMath", "default_generator", "get_default_dtype", "manual_seed", "set_default_dtype", "sum_to",
           "to_numpy_dtype"]

_allocator.keep_freed_memory()  # once, at import: see allocator.py
