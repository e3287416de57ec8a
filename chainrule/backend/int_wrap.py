"""Python ints given to integer tensors, converted as PyTorch converts them.

* In arithmetic (``uint8_tensor - 3``, ``int8_tensor * 1000``) the int wraps modulo 2^bits:
  :func:`wrap_int` (NumPy 2 raises OverflowError instead).
* As a fill value (``full``, ``new_full``, ``fill_``, ``masked_fill``, ``index_fill``,
  ``scatter(value=)``, ``x[i] = v``) it must fit the dtype, except that an unsigned dtype also
  takes a negative value down to -max, wrapped (-1 → 255 for uint8); anything else raises
  RuntimeError: :func:`fill_value`.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def wrap_int(x: int, dtype: Any) -> int:
    """``x`` as a value of integer ``dtype``: itself when in range, else wrapped modulo 2^bits."""
    info = np.iinfo(dtype)
    if info.min <= x <= info.max:
        return x
    return (x - info.min) % (1 << info.bits) + info.min


def fill_value(value: Any, dtype: Any) -> Any:
    """``value`` ready to fill an array of ``dtype`` (a Python int checked and wrapped for an
    integer dtype as described above; anything else as it is)."""
    if type(value) is not int or dtype is None or np.dtype(dtype).kind not in "iu":
        return value
    info = np.iinfo(dtype)
    if info.min <= value <= info.max:
        return value
    if info.min == 0 and -info.max <= value < 0:
        return wrap_int(value, dtype)
    raise RuntimeError(f"value cannot be converted to type {np.dtype(dtype).name} without overflow "
                       f"(got {value}; its range is [{info.min}, {info.max}])")
