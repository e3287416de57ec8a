"""``torch.Size``: a tensor's shape, a tuple of ints that says what it is.

``Tensor.shape`` and ``Tensor.size()`` give one.  It is a tuple in every respect (it equals
the tuple of the same ints and hashes as it does, NumPy takes it as a shape), plus what
PyTorch's adds: :meth:`Size.numel`, PyTorch's printed form ``torch.Size([2, 3])`` (so a program
prints what it prints under PyTorch), and slices, sums and repeats that stay ``Size``.
"""

from __future__ import annotations

import math
import operator
from typing import Any, Iterable, SupportsIndex

_new = tuple.__new__


class Size(tuple):
    """A shape: ``Size([2, 3])``, ``Size()`` (a 0-d tensor's), or from any iterable of ints
    (0-d integer tensors too: anything with ``__index__``)."""

    __slots__ = ()

    def __new__(cls, sizes: Iterable[Any] = ()) -> Size:
        dims = []
        for i, s in enumerate(sizes):
            try:
                dims.append(operator.index(s))
            except TypeError:
                raise TypeError(f"torch.Size() takes an iterable of 'int' (item {i} is '{type(s).__name__}')") from None
        return _new(cls, dims)

    def numel(self) -> int:
        """The number of elements of a tensor of this shape (1 for ``Size()``)."""
        return math.prod(self)

    def __getitem__(self, index: Any) -> Any:
        got = tuple.__getitem__(self, index)
        return _new(Size, got) if type(index) is slice else got

    def __add__(self, other: Any) -> Any:
        if not isinstance(other, tuple):
            return NotImplemented
        return _new(Size, tuple.__add__(self, other))

    def __radd__(self, other: Any) -> Any:
        if not isinstance(other, tuple):
            return NotImplemented
        return _new(Size, tuple.__add__(other, self))

    def __mul__(self, n: SupportsIndex) -> Size:
        return _new(Size, tuple.__mul__(self, n))

    __rmul__ = __mul__

    def __repr__(self) -> str:
        return f"torch.Size([{', '.join(map(str, self))}])"

    __str__ = __repr__

    def __reduce__(self) -> tuple:
        return (Size, (tuple(self),))


def as_size(shape: tuple) -> Size:
    """``shape`` (a tuple of ints, as NumPy gives it) as a ``Size``, unchecked: the fast path of
    ``Tensor.shape``."""
    return _new(Size, shape)
