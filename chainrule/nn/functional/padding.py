"""``F.pad`` with PyTorch's four modes (the index-building padding modes are compositions of ``getitem``).

``pad`` lists (left, right) for the last dimension, then (top, bottom) for the one before, and
so on.  For a dimension of size n and padding (a, b) the output position j reads input index

* ``'constant'``: the value (negative a or b crop instead);
* ``'reflect'``:  the mirror image without repeating the edge: -i for i < 0, 2(n-1) - i for i ≥ n
  (needs a, b < n);
* ``'replicate'``: the nearest edge element, clamp(i, 0, n-1);
* ``'circular'``: i mod n (needs a, b ≤ n);

with i = j - a.  Gradients add up over the positions that read the same input element.
"""

from __future__ import annotations

from typing import Any, Sequence

from chainrule.autograd.primitive import table_of
from chainrule.autograd.tensor import Tensor
from chainrule.ops import shape as sh
from chainrule.ops.indexing import getitem

__all__ = ["pad"]

_MODES = ("constant", "reflect", "replicate", "circular")


def _source_index(m: Any, n: int, a: int, b: int, mode: str, dim: int, shape: tuple) -> Any:
    """The input position each output position along ``dim`` copies (an index array of table m)."""
    i = m.arange(-a, n + b)
    if mode == "reflect":
        if a >= n or b >= n:
            raise RuntimeError(f"pad: Padding size should be less than the corresponding input dimension, "
                               f"but got: padding ({a}, {b}) at dimension {dim} of input {shape}")
        i = m.abs(i)
        return m.where(i >= n, 2 * (n - 1) - i, i)
    if mode == "replicate":
        if n == 0:
            raise RuntimeError(f"pad: cannot replicate-pad the empty dimension {dim} of input {shape}")
        return m.clip(i, 0, n - 1)
    if a > n or b > n:
        raise RuntimeError(f"pad: Padding value causes wrapping around more than once: padding ({a}, {b}) "
                           f"at dimension {dim} of input {shape}")
    return i % n


def pad(input: Tensor, pad: Sequence[int], mode: str = "constant", value: float | None = None) -> Tensor:
    """Pad (or, with negative constant padding, crop) the last len(pad)/2 dimensions of ``input``."""
    if not isinstance(input, Tensor):
        raise TypeError(f"pad: expected a Tensor, got {type(input).__name__}")
    if mode not in _MODES:
        raise NotImplementedError(f"pad: unknown padding mode {mode!r}; expected one of {_MODES}")
    pad = [int(p) for p in pad]
    if len(pad) % 2 or len(pad) // 2 > input.ndim:
        raise ValueError(f"pad: Padding length must be divisible by 2 and at most twice the number of "
                         f"dimensions ({input.ndim}) of input {tuple(input.shape)}, got {tuple(pad)}")
    shape = tuple(input.shape)
    pairs = [(input.ndim - 1 - k, pad[2 * k], pad[2 * k + 1]) for k in range(len(pad) // 2)]
    x = input
    if mode == "constant":
        crop: list[Any] = [slice(None)] * input.ndim
        for d, a, b in pairs:
            crop[d] = slice(max(-a, 0), shape[d] - max(-b, 0))
        if any(a < 0 or b < 0 for _, a, b in pairs):
            x = getitem(x, tuple(crop))
        widths = [max(p, 0) for p in pad]
        return sh.pad(x, widths, value=0.0 if value is None else float(value))
    if value not in (None, 0, 0.0):
        raise ValueError(f"pad: padding mode {mode!r} does not take a value (got value={value})")
    for d, a, b in pairs:
        if a < 0 or b < 0:
            raise RuntimeError(f"pad: negative padding ({a}, {b}) is only supported in constant mode")
        if a == b == 0:
            continue
        idx = _source_index(table_of((input,), "pad"), shape[d], a, b, mode, d, shape)
        x = getitem(x, (slice(None),) * d + (idx,))
    return x
