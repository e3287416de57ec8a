"""The errors layers raise for input of the wrong dtype, and the one check most of them use.

A layer computes in its parameters' dtype; input of another dtype (integer, bool, or another
float type) is refused, as PyTorch refuses it, instead of being converted silently: an int64
batch fed to a float32 ``Linear`` is almost always a bug in the data pipeline, and a float64
batch fed to it would otherwise run (slowly) in float64 or lose precision without a word.

PyTorch raises ``RuntimeError`` for these ("mat1 and mat2 must have the same dtype") and
``NotImplementedError`` where a kernel has no integer version ("batch_norm" not implemented
for 'Long'); chainrule raised ``TypeError``.  The classes below are both, so an ``except``
written for PyTorch's type or for chainrule's earlier one catches them.
"""

from __future__ import annotations

from typing import Any

import numpy as np


class DtypeError(RuntimeError, TypeError):
    """An input's dtype does not match the parameters' (or is not one the op accepts)."""


class DtypeNotImplementedError(NotImplementedError, TypeError):
    """The op has no version for this dtype (integer or bool input to a normalisation)."""


def mismatch_message(where: str, what: str, got: np.dtype, want: np.dtype, of: str = "the weight's") -> str:
    """'<where>: input dtype int64 does not match the weight's float32; ...' with the way out."""
    fix = f"convert the {what} with .to({want})"
    if np.dtype(got).kind == "f":
        fix += f" or the layer with .to({got})"
    return f"{where}: {what} dtype {got} does not match {of} {want}; {fix}"


def check_same_dtype(where: str, input: Any, weight: Any, what: str = "input") -> None:
    """Raise :class:`DtypeError` unless ``input`` (a Tensor) has ``weight``'s dtype."""
    got, want = input._array.dtype, weight._array.dtype
    if got != want:
        raise DtypeError(mismatch_message(where, what, got, want))
