"""A strict test back end: arrays that NumPy functions refuse, for testing the device plumbing
without a GPU (issue 11, item 5).

``StrictArray`` wraps an ndarray but is not one: it has no ``__array__``, ``__array_ufunc__`` is
None (every ufunc refuses it), ``__array_function__`` refuses every NumPy function, and
``__array_interface__`` raises, so ``np.asarray(strict)`` fails instead of quietly making an
object array.  Its own operators and methods work (as a GPU array library's do) but refuse a
NumPy array as the other operand: mixing the two means an operation forgot which device it
was on.  ``StrictMath`` is its table: every entry of chainrule's ``ArrayMath`` run on the
unwrapped arrays, refusing NumPy arrays among the arguments.

``strict_backend()`` registers the back end under the device type 'strict' (every array on
device 'strict:0') for the duration of a ``with`` block.
"""

from __future__ import annotations

import contextlib
import operator
from typing import Any, Iterator

import numpy as np

from chainrule.backend import registry
from chainrule.backend.device import device
from chainrule.backend.wrapped_table import WrappedTable

TYPE = "strict"
DEVICE = "strict:0"  # (a string: device('strict') parses only while the back end is registered)


class StrictnessError(TypeError):
    """A NumPy function or a NumPy array met a strict array: an operation bypassed the table."""


def _refuse_numpy(what: str) -> StrictnessError:
    return StrictnessError(f"strict back end: {what} -- an operation bypassed the back-end table")


def unwrap(x: Any) -> Any:
    """StrictArray -> its ndarray (recursively in tuples, lists and slices); a NumPy array is
    refused; scalars, dtypes, None... pass."""
    t = type(x)
    if t is StrictArray:
        return x._a
    if t is tuple or t is list:
        return t(unwrap(v) for v in x)
    if t is slice:
        return slice(unwrap(x.start), unwrap(x.stop), unwrap(x.step))
    if isinstance(x, np.ndarray):
        raise _refuse_numpy(f"a NumPy array of shape {x.shape} met a strict array")
    return x


def wrap(x: Any) -> Any:
    """ndarray (or NumPy scalar) -> StrictArray, recursively in tuples and lists."""
    if isinstance(x, np.ndarray):
        return StrictArray(x)
    if isinstance(x, np.generic):
        return StrictArray(np.asarray(x))
    if isinstance(x, tuple) or type(x) is list:  # (NumPy's namedtuple results too: eigh, svd, qr)
        return (list if type(x) is list else tuple)(wrap(v) for v in x)
    return x


class StrictArray:
    """An ndarray in a wrapper that NumPy cannot see through (see the module docstring)."""

    __slots__ = ("_a",)
    __array_ufunc__ = None  # np.exp(strict), np.add(strict, x): TypeError
    __hash__ = None  # type: ignore[assignment]  (== is elementwise)

    def __init__(self, a: np.ndarray) -> None:
        if type(a) is not np.ndarray:
            raise TypeError(f"StrictArray wraps an ndarray, got {type(a).__name__}")
        self._a = a

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        raise _refuse_numpy(f"numpy.{func.__name__} was called on a strict array")

    @property
    def __array_interface__(self) -> Any:
        raise _refuse_numpy("NumPy tried to convert a strict array (np.asarray, np.array...)")

    # what an array library's arrays offer (as CuPy's): shape, dtype, methods on the same device
    @property
    def shape(self) -> tuple:
        return self._a.shape

    @property
    def ndim(self) -> int:
        return self._a.ndim

    @property
    def dtype(self) -> np.dtype:
        return self._a.dtype

    @property
    def size(self) -> int:
        return self._a.size

    @property
    def T(self) -> StrictArray:  # noqa: N802  (ndarray's name)
        return StrictArray(self._a.T)

    def __len__(self) -> int:
        return len(self._a)

    def __bool__(self) -> bool:
        return bool(self._a)

    def __float__(self) -> float:
        return float(self._a)

    def __int__(self) -> int:
        return int(self._a)

    def __index__(self) -> int:
        return operator.index(self._a)

    def __getitem__(self, index: Any) -> StrictArray:
        return wrap(self._a[unwrap(index)])

    def __setitem__(self, index: Any, value: Any) -> None:
        self._a[unwrap(index)] = unwrap(value)

    def __getattr__(self, name: str) -> Any:
        # the ndarray's methods (reshape, sum, astype, copy, item...) on unwrapped arguments;
        # never its protocols (__array_struct__ would let NumPy read the memory)
        if name.startswith("__"):
            raise AttributeError(name)
        attr = getattr(self._a, name)
        if not callable(attr):
            return wrap(attr)

        def method(*args: Any, **kwargs: Any) -> Any:
            return wrap(attr(*unwrap(args), **{k: unwrap(v) for k, v in kwargs.items()}))

        return method

    def __repr__(self) -> str:
        return f"StrictArray({self._a!r})"


def _operator(name: str) -> Any:
    fn = getattr(np.ndarray, name)

    def op(self: StrictArray, *args: Any) -> Any:
        return wrap(fn(self._a, *unwrap(args)))

    op.__name__ = name
    return op


for _name in (
    "__add__", "__radd__", "__sub__", "__rsub__", "__mul__", "__rmul__", "__truediv__", "__rtruediv__",
    "__floordiv__", "__rfloordiv__", "__mod__", "__rmod__", "__pow__", "__rpow__", "__matmul__",
    "__rmatmul__", "__and__", "__rand__", "__or__", "__ror__", "__xor__", "__rxor__", "__neg__",
    "__pos__", "__abs__", "__invert__", "__lt__", "__le__", "__gt__", "__ge__", "__eq__", "__ne__",
    "__iadd__", "__isub__", "__imul__", "__itruediv__",
):
    setattr(StrictArray, _name, _operator(_name))


class _StrictMath(WrappedTable):
    """The strict back end's table: ``ArrayMath``'s entries on unwrapped arrays."""

    def wrap_entry(self, name: str, fn: Any) -> Any:
        def entry(*args: Any, **kwargs: Any) -> Any:
            return wrap(fn(*unwrap(args), **{k: unwrap(v) for k, v in kwargs.items()}))

        return entry

    @staticmethod
    def raw(x: Any) -> Any:
        return x

    @staticmethod
    def from_host(a: Any, dtype: Any = None) -> StrictArray:
        """The one entry that takes host arrays (as a GPU table's copies them to the device)."""
        return StrictArray(np.array(a, dtype=dtype, copy=True))


StrictMath = _StrictMath()


def to_host(a: StrictArray) -> np.ndarray:
    return a._a.copy()


def from_host(a: np.ndarray, dev: device) -> StrictArray:
    return StrictArray(np.array(a, copy=True))


def host(t: Any) -> np.ndarray:
    """A Tensor's values as a NumPy array, through the one sanctioned exit (``Tensor.cpu``)."""
    c = t.detach().cpu()
    assert type(c._array) is np.ndarray
    return c.numpy()


@contextlib.contextmanager
def strict_backend() -> Iterator[registry.Backend]:
    """Register the strict back end as device type 'strict' while the block runs."""
    where: list[device] = []  # every strict array is on strict:0
    b = registry.register_backend(TYPE, StrictArray, StrictMath, to_host, from_host, lambda a: where[0])
    where.append(device(DEVICE))
    try:
        yield b
    finally:
        registry.unregister_backend(TYPE)
