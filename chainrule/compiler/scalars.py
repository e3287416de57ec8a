"""Capture, stage 1½: Python float arguments as inputs of the plan.

A float passed at the top level of a call's arguments (``step(x, 0.5)``, ``step(x, lr=0.1)``)
enters the capture as a :class:`ScalarArg` standing in for it, with a slot of the tape of its
own.  Where the call gives it to the back-end table (``x * alpha`` lifts it with
``m.asarray(alpha, x.dtype)``; ``x ** alpha`` and ``clip`` take it as an operand of a traced
array), the step records a read of that slot, and a replay passes the new float there: the
entry is called with a Python float, as in eager, so the dtype rules of a Python scalar and
the numbers are eager's, bit for bit.

Every other use is one the tape cannot follow, and makes the argument **escape**: Python
arithmetic (``alpha * 2``), comparisons and truth (``if alpha > 0``), conversions (``float``,
``int``, ``round``, ``math.exp`` — C code reads a value that is not a float through
``__float__``), formatting, hashing, NumPy given it outside the table, a table entry that
returns a Python value computed from it, and the stand-in kept by anything after the call (an
attribute, a list, a graph node's field).  Each such use answers exactly as the float would,
so the call itself runs as eager; the argument then stays what it is without this module, a
constant of the plan checked by the guard (a capture per value).

The stand-in is no float (so that C code cannot read it unseen), but ``isinstance(alpha, float)``
holds, as ``alpha.__class__`` is float; ``type(alpha)`` is this class.  Code that wants the
exact type takes another path or fails during the capture, where eager would not:
``json.dumps(alpha)`` and ``decimal.Decimal(alpha)`` raise TypeError (``float(alpha)`` there,
or ``specialize_float``, keeps the float).

The replay reads the argument itself whether it escaped or not: an escaped one is checked by the
guard to equal the captured value (with the sign of a zero), so the steps that read it before it
escaped get that value again.
"""

from __future__ import annotations

import gc
import math
import sys
from typing import Any

_float = float


class ScalarArg:
    """A float argument during a capture: ``value`` in slot ``slot`` of the tape; ``escaped``:
    the first use the tape could not follow ('' while none)."""

    __slots__ = ("value", "slot", "escaped", "__weakref__")

    def __init__(self, value: float, slot: int) -> None:
        self.value = value
        self.slot = slot
        self.escaped = ""

    @property  # type: ignore[misc]
    def __class__(self) -> type:  # isinstance(alpha, float), as for the float it stands for
        return _float

    def used(self, how: str) -> float:
        """The float, read by a use the tape cannot follow."""
        if not self.escaped:
            self.escaped = how
        return self.value

    def __float__(self) -> float:
        return self.used("float(x)")

    def __int__(self) -> int:
        return int(self.used("int(x)"))

    def __bool__(self) -> bool:
        return bool(self.used("bool(x)"))

    def __hash__(self) -> int:
        return hash(self.used("hash(x)"))

    def __round__(self, ndigits: Any = None) -> Any:
        return round(self.used("round(x)"), ndigits)

    def __trunc__(self) -> int:
        return math.trunc(self.used("math.trunc(x)"))

    def __floor__(self) -> int:
        return math.floor(self.used("math.floor(x)"))

    def __ceil__(self) -> int:
        return math.ceil(self.used("math.ceil(x)"))

    def __complex__(self) -> complex:
        return complex(self.used("complex(x)"))

    def __format__(self, spec: str) -> str:
        return format(self.used("format(x)"), spec)

    def __repr__(self) -> str:
        return repr(self.used("repr(x)"))

    def __str__(self) -> str:
        return str(self.used("str(x)"))

    def __neg__(self) -> float:
        return -self.used("-x")

    def __pos__(self) -> float:
        return +self.used("+x")

    def __abs__(self) -> float:
        return abs(self.used("abs(x)"))

    def __getattr__(self, name: str) -> Any:  # .real, .imag, .is_integer(), .hex()...
        if name.startswith("__"):
            raise AttributeError(name)
        attr = getattr(self.value, name)  # (a name a float lacks raises, as for the float, and reads nothing)
        self.used(f"x.{name}")
        return attr

    def __copy__(self) -> float:
        return self.used("copy(x)")

    def __deepcopy__(self, memo: Any) -> float:
        return self.used("deepcopy(x)")

    def __reduce_ex__(self, protocol: Any) -> Any:
        return (_float, (self.used("pickle"),))

    # NumPy given the stand-in outside the table: the float's own result
    def __array__(self, dtype: Any = None, copy: Any = None) -> Any:
        import numpy as np

        return np.asarray(self.used("np.asarray(x)"), dtype)

    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        fn = ufunc if method == "__call__" else getattr(ufunc, method)
        return fn(*(_plain(a, f"np.{ufunc.__name__}") for a in inputs), **kwargs)


def _plain(x: Any, how: str) -> Any:
    return x.used(how) if type(x) is ScalarArg else x


def _binary(name: str, sym: str) -> Any:
    method = getattr(_float, name)

    def op(self: ScalarArg, other: Any) -> Any:
        # a float answers NotImplemented for an operand it does not know (a Tensor, an array):
        # then the operand's reflected method takes the stand-in, as it would take the float
        res = method(self.value, other.value if type(other) is ScalarArg else other)
        if res is NotImplemented:
            return res
        self.used(f"x {sym} y")
        if type(other) is ScalarArg:
            other.used(f"x {sym} y")
        return res

    op.__name__ = name
    return op


for _name, _sym in (("add", "+"), ("sub", "-"), ("mul", "*"), ("truediv", "/"), ("floordiv", "//"),
                    ("mod", "%"), ("pow", "**"), ("divmod", "divmod")):
    setattr(ScalarArg, f"__{_name}__", _binary(f"__{_name}__", _sym))
    setattr(ScalarArg, f"__r{_name}__", _binary(f"__r{_name}__", _sym))
for _name, _sym in (("lt", "<"), ("le", "<="), ("gt", ">"), ("ge", ">="), ("eq", "=="), ("ne", "!=")):
    setattr(ScalarArg, f"__{_name}__", _binary(f"__{_name}__", _sym))


def stand_in(args: tuple, kwargs: dict, new_slot: Any) -> tuple[tuple, dict, list[tuple[ScalarArg, str]]]:
    """(args, kwargs) with each top-level float replaced by a :class:`ScalarArg` in a slot from
    ``new_slot()``, and (stand-in, where the replay reads it: ``args[1]``) for each."""
    found: list[tuple[ScalarArg, str]] = []

    def swap(v: Any, where: str) -> Any:
        if type(v) is not _float:
            return v
        s = ScalarArg(v, new_slot())
        found.append((s, where))
        return s

    new_args = tuple(swap(v, f"args[{i}]") for i, v in enumerate(args))
    new_kwargs = {k: swap(v, f"kwargs[{k!r}]") for k, v in kwargs.items()}
    return new_args, new_kwargs, found


def plain_result(x: Any) -> Any:
    """A returned value with the stand-ins in it (through tuples, lists and dicts) replaced by
    their floats: the caller gets what eager returns."""
    t = type(x)
    if t is ScalarArg:
        return x.used("returned")
    if t is tuple or t is list:
        return t(plain_result(v) for v in x) if any(type(v) is ScalarArg or type(v) in (tuple, list, dict)
                                                      for v in x) else x
    if t is dict:
        return {k: plain_result(v) for k, v in x.items()}
    return x


def counts(found: list[tuple[ScalarArg, str]]) -> list[int]:
    """The reference count of each stand-in; :func:`settle` compares it after the call."""
    return [sys.getrefcount(s) for s, _ in found]


def settle(found: list[tuple[ScalarArg, str]], before: list[int]) -> None:
    """After the call: a stand-in held by more than it was before the call (an attribute, a
    list, a graph node's field) has escaped, since a replay would not give the holder the new
    value; the floats replace it in the dicts and lists that hold it, so that it outlives the
    capture nowhere a caller looks."""
    for (s, _), n in zip(found, before):
        if sys.getrefcount(s) <= n:
            continue
        s.used("kept after the call")
        for holder in gc.get_referrers(s):
            if type(holder) is dict:
                for k, v in list(holder.items()):
                    if v is s:
                        holder[k] = s.value
            elif type(holder) is list:
                for i, v in enumerate(holder):
                    if v is s:
                        holder[i] = s.value


__all__ = ["ScalarArg", "counts", "plain_result", "settle", "stand_in"]
