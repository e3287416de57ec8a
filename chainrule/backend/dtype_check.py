"""The errors layers raise for input of the wrong dtype, and the one check most of them use.

A layer computes in its parameters' dtype and refuses input of another, as PyTorch, instead of
converting it silently.  PyTorch raises RuntimeError (NotImplementedError where a kernel has no
integer version); the classes below are also TypeErrors, so either ``except`` catches them.
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
