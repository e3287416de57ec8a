"""How a tensor's values print (``repr``): NumPy's layout of a host array, PyTorch's numbers.

``tensor_body`` writes the part inside ``tensor(...)``: NumPy's ``array2string`` lays the values
out (brackets, line breaks at ``linewidth``, the first and last ``edgeitems`` of a dimension with
more than ``threshold`` elements in all), and a floating tensor's numbers are written as PyTorch
writes them (:func:`_float_format`).  The options are ``torch.set_printoptions``'.
"""

from __future__ import annotations

import math
import sys
from typing import Any, Callable

import numpy as np


def tensor_body(values: np.ndarray, options: dict[str, Any]) -> str:
    """The printed values of host array ``values`` under ``options`` (precision, threshold,
    edgeitems, linewidth, sci_mode), as they stand inside ``tensor(...)``."""
    threshold = sys.maxsize if options["threshold"] == math.inf else int(options["threshold"])
    kw: dict[str, Any] = {"precision": options["precision"], "edgeitems": options["edgeitems"],
                          "max_line_width": options["linewidth"], "threshold": threshold}
    if values.dtype.kind == "f":
        shown = values if values.size <= threshold else _summarized(values, options["edgeitems"])
        kw["formatter"] = {"float_kind": _float_format(shown, options["precision"], options["sci_mode"])}
    text = np.array2string(values, separator=", ", prefix="tensor(", **kw)
    return text.replace(", ..., ", ",  ..., ")  # (PyTorch sets a summary's ... apart within a row)


def _summarized(values: np.ndarray, edge: int) -> np.ndarray:
    """The elements a summarised print shows: the first and last ``edge`` along each long axis."""
    for axis, n in enumerate(values.shape):
        if n > 2 * edge:
            values = np.take(values, list(range(edge)) + list(range(n - edge, n)), axis=axis)
    return values


def _float_format(values: np.ndarray, precision: int, sci_mode: bool | None) -> Callable[[Any], str]:
    """How PyTorch writes each number of a floating tensor, one way for the whole tensor, from
    its finite non-zero values: all whole numbers print as ``3.`` (integer mode), others with
    ``precision`` digits after the point (``1.5000``); scientific notation (``1.0000e+05``)
    where the largest magnitude exceeds 1e8 or 1000 times the smallest, or, outside integer
    mode, the smallest is below 1e-4 (``sci_mode`` True or False overrides).  Every number is
    right-aligned to the widest.  (The tensor's values as PyTorch reads them: float32 values
    widened to Python floats.)"""
    finite = values[np.isfinite(values) & (values != 0)].astype(np.float64)
    whole, sci, width = True, False, 1
    if finite.size:
        mags = np.abs(finite)
        lo, hi = float(mags.min()), float(mags.max())
        whole = bool(np.all(finite == np.ceil(finite)))
        sci = hi / lo > 1000.0 or hi > 1.0e8 or (not whole and lo < 1.0e-4)
        # the widest string is one of the extremes: the largest and smallest value, and (for the
        # exponent's digits) the smallest magnitude of either sign
        small = finite[mags == lo]
        extremes = [float(finite.max()), float(finite.min()), float(small.min()), float(small.max())]
        if sci:
            width = max(len(f"{v:.{precision}e}") for v in extremes)
        elif whole:
            width = max(len(f"{v:.0f}") + 1 for v in extremes)
        else:
            width = max(len(f"{v:.{precision}f}") for v in extremes)
    if sci_mode is not None:
        sci = sci_mode

    def fmt(v: Any) -> str:
        v = float(v)
        if sci:
            s = f"{v:.{precision}e}"
        elif whole:
            s = f"{v:.0f}" + ("" if math.isinf(v) or math.isnan(v) else ".")
        else:
            s = f"{v:.{precision}f}"
        return s.rjust(width)

    return fmt
