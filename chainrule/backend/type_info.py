"""``torch.finfo`` and ``torch.iinfo``: the limits of a floating and of an integer dtype.

Read from NumPy's ``finfo``/``iinfo`` (``ml_dtypes``' numbers for ``bfloat16``, written out
below since NumPy has no such type), given as Python floats and ints as PyTorch gives them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.backend.numpy_backend import bfloat16, get_default_dtype, to_numpy_dtype

# bfloat16: 8 exponent bits as float32's, 7 stored mantissa bits
_BFLOAT16 = dict(bits=16, eps=2.0 ** -7, max=float.fromhex("0x1.fep127"), min=-float.fromhex("0x1.fep127"),
                 tiny=2.0 ** -126, resolution=0.01)


def _name(dtype: Any) -> str:
    return getattr(dtype, "name", str(dtype))


class finfo:  # noqa: N801  (PyTorch's name)
    """The limits of floating dtype ``type`` (the default dtype if none): ``bits``, ``eps`` (the
    gap between 1 and the next number), ``max``, ``min`` (= -max), ``tiny`` = ``smallest_normal``
    (the smallest positive normal number), ``resolution`` (10^-digits) and ``dtype`` (its name)."""

    def __init__(self, type: Any = None) -> None:  # noqa: A002  (PyTorch's keyword)
        if type is bfloat16:
            values = dict(_BFLOAT16)
            self.dtype = "bfloat16"
        else:
            d = get_default_dtype() if type is None else to_numpy_dtype(type)
            if d.kind != "f":
                raise TypeError(f"torch.finfo() requires a floating point input type, got {_name(d)}. "
                                "Use torch.iinfo to handle integer types")
            f = np.finfo(d)
            values = dict(bits=int(f.bits), eps=float(f.eps), max=float(f.max), min=float(f.min),
                          tiny=float(f.smallest_normal), resolution=10.0 ** -int(f.precision))
            self.dtype = d.name
        self.bits, self.eps, self.max, self.min = values["bits"], values["eps"], values["max"], values["min"]
        self.tiny = self.smallest_normal = values["tiny"]
        self.resolution = values["resolution"]

    def __repr__(self) -> str:
        return (f"finfo(resolution={self.resolution:g}, min={self.min:g}, max={self.max:g}, eps={self.eps:g}, "
                f"smallest_normal={self.smallest_normal:g}, tiny={self.tiny:g}, dtype={self.dtype})")


class iinfo:  # noqa: N801  (PyTorch's name)
    """The limits of integer dtype ``type``: ``bits``, ``min``, ``max`` and ``dtype`` (its name)."""

    def __init__(self, type: Any) -> None:  # noqa: A002  (PyTorch's keyword)
        d = None if type is bfloat16 else to_numpy_dtype(type)
        if d is None or d.kind not in "iu":
            raise TypeError(f"torch.iinfo() requires an integer input type, got {_name(type)}. "
                            "Use torch.finfo to handle floating types")
        i = np.iinfo(d)
        self.bits, self.min, self.max = int(i.bits), int(i.min), int(i.max)
        self.dtype = d.name

    def __repr__(self) -> str:
        return f"iinfo(min={float(self.min):g}, max={float(self.max):g}, dtype={self.dtype})"
