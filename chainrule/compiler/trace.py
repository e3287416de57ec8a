"""Capture, stage 1: traced arrays and the tape they write.

While :func:`chainrule.compile` captures a call, every array the call computes with is a
:class:`TraceArray`: a NumPy array in a wrapper that NumPy cannot see through (as the strict
test back end's), registered as a CPU array class with :data:`TraceMath` as its table.  Each
operation on one — a table entry (``m.matmul``), an operator (``a * b``, ``a += b``), an array
method (``a.reshape``), indexing, a NumPy function or ufunc given a traced array (through
NumPy's ``__array_function__``/``__array_ufunc__`` protocols), a draw from the default
generator — is computed at once on the real arrays (so the call itself runs exactly as
eager) and written on the :class:`Tape` as a :class:`Step`: the function, its arguments with
traced arrays replaced by their slot numbers, and the slot of the result.  Replaying the
steps in order on new arrays is the call again, without the Tensors, the graph or the rules (``plan.py``).
A float argument of the call given to such an operation is a slot read as well (``scalars.py``).

What a tape cannot replay is written down instead of guessed:

* a traced value read by Python (``bool(x)``, ``float(x)``, ``x.item()``, ``.numpy()``) becomes
  a **value guard**: the replay checks that it reads the same value and otherwise hands the
  call back to eager (possible only while nothing outside the plan has been changed yet);
* a shape that depends on the values (boolean-mask indexing, ``nonzero``, ``unique``, the
  distinct rows of an index: :data:`VALUE_SHAPED`) is marked, and so is every array computed
  from such a result (with the results it came from); when Python reads a marked shape
  (``x.shape``, ``len(x)``, ``x.size``), that shape becomes a value guard (unless the results it
  came from have theirs guarded already), since the plan keeps what Python computed from a
  shape as a constant;
* a result the tape cannot hold, an in-place write into an array that is not traced: the
  tape is **broken** (``Tape.breaks``),
  the call still finishes eagerly, and the function stays eager.

In-place writes are seen three ways: an in-place operator (``a += b``, ``a[i] = v``), a result
that is one of the arguments (``out=``), and, for a table entry or method, an argument whose
values changed during the call (a CRC of its memory taken before is compared after).  A write that
leaves the values as they were during the capture is not seen.

Outside a capture a traced array left behind (saved in a graph, stored in an attribute)
still computes: its operations return plain NumPy arrays and record nothing.
"""

from __future__ import annotations

import operator
import sys
import threading
import zlib
from typing import Any, Callable, NamedTuple

import numpy as np

from chainrule.backend import ArrayMath
from chainrule.backend.wrapped_table import WrappedTable
from chainrule.compiler.returned import function_frame, read_site
from chainrule.compiler.scalars import ScalarArg

_ndarray = np.ndarray
_generic = np.generic


class Ref(NamedTuple):
    """A traced array among a step's arguments: slot ``slot`` of the plan."""

    slot: int


class Step(NamedTuple):
    """One recorded operation.

    ``kind``: 'call' (``out = fn(*args, **kwargs)``), 'op' (a Python operator, ``fn`` its
    symbol: '+', '+=', '[]', '[]='...), 'method' (``out = args[0].<fn>(*args[1:])``), 'draw'
    (``out = default_generator().<fn>(*args)``), 'guard' (``args[0]`` read as ``fn`` must give
    ``kwargs['value']``), 'host' (a host step, see capture.py).  ``out`` is a slot, a tuple of
    slots (a function returning several arrays) or None; ``label`` names the function for
    ``explain``."""

    kind: str
    fn: Any
    args: tuple
    kwargs: dict
    out: Any
    label: str
    writes: tuple = ()  # the slots whose memory the step writes in place


class Fixed(NamedTuple):
    """A Python value among a step's results (a flag beside the arrays): it must come out the same."""

    value: Any


def _holdable(res: Any) -> bool:
    if type(res) is _ndarray or isinstance(res, _generic) or res is None or type(res) in (bool, int, float, str):
        return True
    return isinstance(res, (tuple, list)) and all(_holdable(r) for r in res)


class GraphBreak(RuntimeError):
    """The captured function did something a plan cannot replay (raised only with ``fullgraph=True``)."""


class Tape:
    """The steps of one capture over numbered slots, and what is known about each slot.

    ``shapes``/``dtypes``: each slot's array as captured; ``root[k]``: the slot whose
    memory slot ``k`` may share (itself unless it is a view); ``inputs``: slots read from
    outside (at the start, or again after a host step); ``breaks``: reasons this tape cannot
    be replayed; ``consts``: the values of slots computed from constants alone (never written
    since); ``pinned``: slots that are an array made outside the tape, written through ``out=``
    (a replay writes the same array again, so it must not leave the plan)."""

    def __init__(self, fullgraph: bool = False) -> None:
        self.steps: list[Step] = []
        self.shapes: list[tuple] = []
        self.dtypes: list[Any] = []
        self.root: list[int] = []
        self.inputs: set[int] = set()
        self.breaks: list[str] = []
        self.side_effects: list[str] = []  # the breaks that are changes of Python state (capture.py)
        self.value_shaped: dict[int, frozenset] = {}  # slot -> the value-shaped results its shape follows
        self._shape_guarded: set[int] = set()  # slots whose shape the replay checks
        self.consts: dict[int, Any] = {}  # slots computed from constants alone, with their values
        self.pinned: set[int] = set()  # results written into an array made outside the tape (out=)
        self.reads: list[tuple] = []  # (guard step, slot, how, value, site) of each value read
        self.frame: Any = False  # the captured function's frame (returned.py), once a step is recorded
        self.active = True
        self.fullgraph = fullgraph

    # -- slots ------------------------------------------------------------------------------
    def new(self, a: Any, root: int | None = None) -> TraceArray:
        """A traced array for real array ``a`` in a new slot (a view of slot ``root`` if given)."""
        k = len(self.shapes)
        self.shapes.append(tuple(np.shape(a)))
        self.dtypes.append(getattr(a, "dtype", None))
        self.root.append(k if root is None else self.root[root])
        return TraceArray(a, k, self)

    def input(self, a: Any) -> TraceArray:
        """A traced array for an array read from outside the plan (a parameter, an argument)."""
        t = self.new(a)
        self.inputs.add(t.slot)
        return t

    def scalar(self) -> int:
        """A new slot for a float argument read from outside (scalars.py)."""
        k = self.new_value_slot()
        self.inputs.add(k)
        return k

    def broken(self, reason: str) -> None:
        if reason not in self.breaks:
            self.breaks.append(reason)
        if self.fullgraph and self.active:
            raise GraphBreak(f"chainrule.compile(fullgraph=True): {reason}")

    # -- recording --------------------------------------------------------------------------
    def record(self, kind: str, fn: Any, args: tuple, kwargs: dict, label: str) -> Any:
        """Run ``fn`` on the real arrays and record it; return the result with traced arrays."""
        real_args, real_kwargs = _unwrap(args), _unwrap(kwargs) if kwargs else kwargs
        if not self.active:
            return _run(kind, fn, real_args, real_kwargs)
        if self.frame is False:  # (the first step: the frame of the function, for what it returns)
            self.frame = function_frame(sys._getframe(1))
        traced = [a for a in _leaves((args, kwargs)) if type(a) is TraceArray]
        scalars = [a for a in _leaves((args, kwargs)) if type(a) is ScalarArg]
        if scalars:  # (a float argument given to the table: followed where the result is an array)
            return self._record_scalars(kind, fn, args, kwargs, label, scalars)
        # A table entry may write into arguments it does not return (out parameters): compare.
        before = [] if kind == "op" or (type(fn) is np.ufunc and "out" not in kwargs) else [
            (t, _digest(t._a)) for t in traced if type(t._a) is _ndarray and t._a.flags.writeable and t._a.size]
        res = _run(kind, fn, real_args, real_kwargs)
        changed = tuple(dict.fromkeys(t.slot for t, old in before if res is not t._a and _digest(t._a) != old))
        for k in changed:
            self._written(k)
        refs, kw = _refs(args), _refs(kwargs) if kwargs else kwargs
        shaped = self._shaped_by(kind, fn, label, args, traced)
        if res is None or kind == "op" and fn in _IN_PLACE:  # an in-place write: []=, +=, copyto, fill
            target = args[0] if args and type(args[0]) is TraceArray else None  # (the table's convention:
            if target is None:  # the destination comes first)
                self.broken(f"{label} wrote into an array that is not traced")
                return res
            self.steps.append(Step(kind, fn, refs, kw, None, label, (target.slot, *changed)))
            self._written(target.slot)
            return target if res is not None else None
        for t in traced:  # the result is an argument itself: written in place (out=), or passed through
            if res is t._a:
                if t.slot not in changed and _passes_through(kind, fn, label):
                    return t  # (x.astype(x.dtype, copy=False), sum_to(g, g.shape)...: nothing to replay)
                self.steps.append(Step(kind, fn, refs, kw, None, label, (t.slot, *changed)))
                self._written(t.slot)
                return t
        if traced and type(res) is _ndarray and any(res is a for a in _leaves(real_args)):
            # an untraced array both read and written (ndarray += traced, scatter_add_rows into it):
            # a replay would start from what the previous one left there
            self.broken(f"{label} wrote into an array that is not traced")
            return res
        if type(res) is _ndarray or isinstance(res, _generic):
            out = self._result(res, traced)
            if any(res is a for a in _leaves(real_kwargs)):  # written into an untraced array (out=)
                self.pinned.add(out.slot)
            self.steps.append(Step(kind, fn, refs, kw, out.slot, label, changed))
            if shaped is not None:
                self.value_shaped[out.slot] = shaped or frozenset((out.slot,))
            if kind != "draw" and fn not in _UNINITIALISED and np.size(res) < FOLD_BELOW \
                    and all(t.slot in self.consts for t in traced) \
                    and not any(type(a) is _ndarray for a in _leaves((args, kwargs))):
                # made from constants only (Python values, folded slots; not an array made outside,
                # which may change in place between calls): the plan may fold it
                self.consts[out.slot] = res
            return out
        if isinstance(res, (tuple, list)) and _holdable(res):  # several results: (y, (flag, a, b)) ...
            pattern, traced_res = self._results(res, traced)
            self.steps.append(Step(kind, fn, refs, kw, pattern, label, changed))
            if shaped is not None:
                for k in _slots(pattern):
                    self.value_shaped[k] = shaped or frozenset((k,))
            return traced_res
        if isinstance(res, (bool, int, float, complex)) and traced:  # a Python number from traced arrays
            k = self.new_value_slot()
            self.steps.append(Step(kind, fn, refs, kw, k, label, changed))
            self.guard(k, "==", res, label)
            return res
        if traced:
            self.broken(f"{label} returned a {type(res).__name__}, which a plan cannot hold")
        return res

    def _record_scalars(self, kind: str, fn: Any, args: tuple, kwargs: dict, label: str, scalars: list) -> Any:
        """Record a step given float arguments (scalars.py): the slots they are read from stand in
        its arguments.  The tape follows them into arrays only: a result that is a Python value
        (or holds one), or no step at all (a call that handed back its argument), is a use of
        them it cannot follow, and they escape.  Their steps are never constants."""
        steps = len(self.steps)
        res = self.record(kind, fn, _map(args, _value), _map(kwargs, _value) if kwargs else kwargs, label)
        added = self.steps[steps:]
        if len(added) != 1 or added[0].kind == "guard" or _has_fixed(added[0].out):
            for s in scalars:
                s.used(f"{label} returned a Python value computed from it")
            return res
        step = added[0]
        self.steps[steps] = step._replace(args=_refs(args), kwargs=_refs(kwargs) if kwargs else kwargs)
        for k in step_outs(step):
            self.consts.pop(k, None)
        return res

    def _written(self, slot: int) -> None:
        """Slot ``slot``'s memory was written: what shares it is no longer a constant."""
        r = self.root[slot]
        for k in [k for k in self.consts if self.root[k] == r]:
            del self.consts[k]

    def _results(self, res: Any, traced: list) -> tuple[Any, Any]:
        """(pattern, value) of a nested result: the pattern holds slots for arrays and
        Fixed(value) for the Python values among them (the replay checks they come out the same)."""
        if type(res) is _ndarray or isinstance(res, _generic):
            t = self._result(res, traced)
            return t.slot, t
        if isinstance(res, (tuple, list)):
            parts = [self._results(r, traced) for r in res]
            value = [v for _, v in parts]
            return tuple(p for p, _ in parts), (value if type(res) is list else tuple(value))
        return Fixed(res), res

    def _result(self, res: Any, traced: list) -> TraceArray:
        for t in traced:  # a view of an argument shares its memory (its root's lifetime)
            if type(res) is _ndarray and type(t._a) is _ndarray and np.may_share_memory(res, t._a):
                return self.new(res, t.slot)
        return self.new(res)

    def _shaped_by(self, kind: str, fn: Any, label: str, args: tuple, traced: list) -> frozenset | None:
        """None when the step's result has a shape that follows from the shapes its inputs had at
        the start; else the value-shaped results it follows (empty: the step's own result)."""
        if _value_shaped(kind, fn, label, args):
            return frozenset()
        if not self.value_shaped or kind == "call" and label in _SHAPE_GIVEN and args \
                and not any(type(a) is TraceArray for a in _leaves(args[0])):
            return None
        found = [self.value_shaped[t.slot] for t in traced if t.slot in self.value_shaped]
        return frozenset().union(*found) if found else None

    def new_value_slot(self) -> int:
        """A new slot for a Python value (a number, a shape) computed from traced arrays."""
        k = len(self.shapes)
        self.shapes.append(())
        self.dtypes.append(None)
        self.root.append(k)
        return k

    def shape_of(self, t: TraceArray) -> tuple:
        """``t``'s shape, read by Python.  The plan keeps what Python computes from a shape as
        constants, which the guards on the inputs' shapes justify, unless the shape may depend
        on the values: then the read is a value guard on ``t``'s own shape (the replay checks it
        comes out the same), unless the value-shaped results it was computed from all have
        theirs guarded already.  Its own, not theirs: a recurrent layer's output (T, N, H) has
        the batch's shape however many distinct rows its input fold had, and Python reading it
        must not tie the plan to that count."""
        sources = self.value_shaped.get(t.slot) if self.active else None
        if sources is not None and t.slot not in self._shape_guarded and not sources <= self._shape_guarded:
            self._shape_guarded.add(t.slot)
            k = self.new_value_slot()
            self.steps.append(Step("call", np.shape, (Ref(t.slot),), {}, k, "np.shape"))
            self.guard(k, "==", self.shapes[t.slot], "x.shape")
        return t._a.shape

    def guard(self, slot: int, how: str, value: Any, label: str) -> None:
        """The replay must read ``value`` from slot ``slot`` (read as ``how``)."""
        self.steps.append(Step("guard", how, (Ref(slot),), {"value": value}, None, f"{label} at {_reader()}"))

    def read(self, t: TraceArray, how: str, label: str) -> Any:
        """A traced value read by Python as ``how`` ('bool', 'float', 'int', 'item', 'host')."""
        value = _READ[how](t._a)
        if self.active and t.slot not in self.consts:  # (a constant reads the same on every replay)
            self.guard(t.slot, how, value, label)
            # (where: a value the function only returns needs no guard: returned.py)
            self.reads.append((self.steps[-1], t.slot, how, value, read_site(sys._getframe(1))))
        return value


# functions that hand back their argument itself when there is nothing to do (a dtype it already
# has, a shape it already has): such a result is no write
_PASS_METHODS = frozenset(("astype", "reshape", "view", "ravel", "squeeze", "transpose", "swapaxes"))
_PASS_ENTRIES = frozenset((
    "m.astype", "m.broadcast_to", "m.sum_to", "m.reshape", "m.reshape_view", "m.asarray", "m.from_host", "m.raw",
    "m.expand_dims", "m.squeeze", "m.transpose", "np.asarray", "np.ascontiguousarray", "np.asanyarray",
    "np.require", "np.broadcast_to", "np.reshape", "np.squeeze",
))


def _passes_through(kind: str, fn: Any, label: str) -> bool:
    """Whether a call that returned its argument unchanged merely handed it back (see above);
    a ufunc that returns its argument wrote into it (``out``), whatever the values."""
    if kind == "method":
        return fn in _PASS_METHODS
    return kind == "call" and label in _PASS_ENTRIES


def _digest(a: np.ndarray) -> Any:
    """A fingerprint of ``a``'s values, to see whether a call wrote into it: a CRC of its memory,
    or of the contiguous array it is a view of (a write through the view changes that), else
    of a contiguous copy, dropped at once."""
    while not a.flags.c_contiguous and isinstance(a.base, np.ndarray):
        a = a.base
    if not a.flags.c_contiguous:
        a = np.ascontiguousarray(a)
    return zlib.crc32(memoryview(a).cast("B"))  # type: ignore[arg-type]


VALUE_SHAPED = frozenset((
    "argwhere", "unique", "distinct_rows", "embedding_bags", "nonzero", "flatnonzero", "compress", "extract",
    "bincount", "trim_zeros", "setdiff1d", "intersect1d", "union1d", "setxor1d", "unique_values", "unique_counts",
    "unique_inverse", "unique_all"))
"""Table entries, NumPy functions and array methods whose result's shape depends on the values
of their inputs (and ``where`` with one argument; ``repeat``/``delete``/``insert`` given traced
counts or positions; indexing with a traced boolean mask)."""
_SHAPED_BY_LATER_ARGS = frozenset(("repeat", "delete", "insert"))
_SHAPE_GIVEN = frozenset(("m.scatter_add",))
"""Table entries whose result has the shape their first argument gives (a Python shape), so
the value-shaped arrays they also read (``scatter_add``'s index, a vjp's gradient) do not make
the result's shape depend on values."""


def _value_shaped(kind: str, fn: Any, label: str, args: tuple) -> bool:
    """Whether this step's result has a shape that depends on values (see :data:`VALUE_SHAPED`)."""
    if kind == "call" and label.startswith(("m.", "np.")):
        name = label.partition(".")[2]
        if name in VALUE_SHAPED or name == "where" and len(args) == 1:
            return True
        if name in _SHAPED_BY_LATER_ARGS:
            return any(type(a) is TraceArray for a in _leaves(args[1:]))
    if kind == "method":
        if fn in VALUE_SHAPED:
            return True
        if fn in _SHAPED_BY_LATER_ARGS:
            return any(type(a) is TraceArray for a in _leaves(args[1:]))
    if kind == "op" and fn == "[]" or kind == "call" and label == "m.getitem":
        return any(type(a) is TraceArray and a._a.dtype == np.bool_ for a in _leaves(args[1:]))
    return False


def _slots(pattern: Any) -> list[int]:
    """The slots in a result pattern (an int, or nested tuples of ints and Fixed values)."""
    if type(pattern) is int:
        return [pattern]
    if type(pattern) is tuple:
        return [s for p in pattern for s in _slots(p)]
    return []


def step_outs(step: Step) -> list[int]:
    """The slots a step's result fills."""
    return [] if step.out is None else _slots(step.out)


def step_uses(step: Step) -> list[int]:
    """The slots a step reads (a host step: the slots it writes back to the tensors first)."""
    if step.kind == "host":
        return [v for v in step.kwargs["write"].values() if v is not None]
    return [x.slot for x in _leaves((step.args, step.kwargs)) if type(x) is Ref]


def _reader() -> str:
    """Where a value was read: the first frame outside this package, and the first outside chainrule."""
    import os
    import sys

    here = os.path.dirname(__file__)
    lib = os.path.dirname(here)
    f: Any = sys._getframe(1)
    reader = user = None
    while f is not None:
        name = f.f_code.co_filename
        if reader is None and not name.startswith(here):
            reader = f"{os.path.relpath(name, os.path.dirname(lib))}:{f.f_lineno} ({f.f_code.co_name})"
        if not name.startswith(lib):
            user = f"{name}:{f.f_lineno}"
            break
        f = f.f_back
    return f"{reader}, called from {user}" if user and reader and not reader.startswith("/") else str(reader)


def _run(kind: str, fn: Any, args: tuple, kwargs: dict) -> Any:
    if kind == "call":
        return fn(*args, **kwargs)
    if kind == "op":
        return OPERATORS[fn][1](*args)
    if kind == "method":
        return getattr(args[0], fn)(*args[1:], **kwargs)
    if kind == "draw":
        return getattr(_real_generator(), fn)(*args, **kwargs)
    raise ValueError(kind)


_READ: dict[str, Callable[[Any], Any]] = {
    "bool": bool, "float": float, "int": int, "index": operator.index, "item": lambda a: a.item(),
    "host": lambda a: np.array(a, copy=True), "tolist": lambda a: a.tolist(), "==": lambda a: a,
}

# symbol -> (how plan.py writes it, the function); the symbol is the step's fn
OPERATORS: dict[str, tuple[str, Callable[..., Any]]] = {
    "+": ("{0} + {1}", operator.add), "-": ("{0} - {1}", operator.sub), "*": ("{0} * {1}", operator.mul),
    "/": ("{0} / {1}", operator.truediv), "//": ("{0} // {1}", operator.floordiv),
    "%": ("{0} % {1}", operator.mod), "**": ("{0} ** {1}", operator.pow), "@": ("{0} @ {1}", operator.matmul),
    "&": ("{0} & {1}", operator.and_), "|": ("{0} | {1}", operator.or_), "^": ("{0} ^ {1}", operator.xor),
    "<": ("{0} < {1}", operator.lt), "<=": ("{0} <= {1}", operator.le), ">": ("{0} > {1}", operator.gt),
    ">=": ("{0} >= {1}", operator.ge), "==": ("{0} == {1}", operator.eq), "!=": ("{0} != {1}", operator.ne),
    "neg": ("-{0}", operator.neg), "pos": ("+{0}", operator.pos), "abs": ("abs({0})", operator.abs),
    "~": ("~{0}", operator.invert), "[]": ("{0}[{1}]", operator.getitem),
    "[]=": ("{0}[{1}] = {2}", operator.setitem),
    "+=": ("{0} += {1}", operator.iadd), "-=": ("{0} -= {1}", operator.isub), "*=": ("{0} *= {1}", operator.imul),
    "/=": ("{0} /= {1}", operator.itruediv),
}
# constants a plan may hold: small ones (a large one would be memory the plan keeps for ever,
# and its step is cheap next to the work on it)
FOLD_BELOW = 4096
# factories of uninitialised memory (a buffer to be written): never a constant
_UNINITIALISED = (ArrayMath.empty, ArrayMath.pooled_empty, ArrayMath.empty_like)
_IN_PLACE = frozenset(("[]=", "+=", "-=", "*=", "/="))
_DUNDER = {
    "add": "+", "sub": "-", "mul": "*", "truediv": "/", "floordiv": "//", "mod": "%", "pow": "**",
    "matmul": "@", "and": "&", "or": "|", "xor": "^",
}


def _map(x: Any, f: Callable[[Any], Any]) -> Any:
    """``x`` with each traced array or float argument ``t`` in it replaced by ``f(t)``, through
    tuples, lists, dicts and slices."""
    t = type(x)
    if t is TraceArray or t is ScalarArg:
        return f(x)
    if t is tuple or t is list:
        return t(_map(v, f) for v in x)
    if t is dict:
        return {k: _map(v, f) for k, v in x.items()}
    if t is slice:
        return slice(_map(x.start, f), _map(x.stop, f), _map(x.step, f))
    return x


def _unwrap(x: Any) -> Any:
    """Traced arrays -> their real arrays (float arguments -> their floats)."""
    return _map(x, lambda t: t._a if type(t) is TraceArray else t.value)


def _value(x: Any) -> Any:
    """A float argument -> its float (a traced array stays)."""
    return x.value if type(x) is ScalarArg else x


def _has_fixed(pattern: Any) -> bool:
    return type(pattern) is Fixed or type(pattern) is tuple and any(_has_fixed(p) for p in pattern)


def _refs(x: Any) -> Any:
    """Traced arrays -> Ref(slot)."""
    return _map(x, lambda t: Ref(t.slot))


def _leaves(x: Any) -> Any:
    t = type(x)
    if t is tuple or t is list:
        for v in x:
            yield from _leaves(v)
    elif t is dict:
        for v in x.values():
            yield from _leaves(v)
    elif t is slice:
        yield from _leaves((x.start, x.stop, x.step))
    else:
        yield x


def _tape_of(args: tuple) -> Tape | None:
    for a in _leaves(args):
        if type(a) is TraceArray:
            return a._tape
    return None


class TraceArray:
    """A real array (``_a``) in slot ``slot`` of a tape (see the module docstring)."""

    __slots__ = ("_a", "slot", "_tape", "__weakref__")
    __hash__ = None  # type: ignore[assignment]

    def __init__(self, a: Any, slot: int, tape: Tape) -> None:
        self._a = a
        self.slot = slot
        self._tape = tape

    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        # a ufunc given a traced array (np.add(a, t), ndarray + t, np.multiply(.., out=t)) is recorded
        fn = ufunc if method == "__call__" else getattr(ufunc, method)
        label = f"np.{ufunc.__name__}" + ("" if method == "__call__" else f".{method}")
        return self._tape.record("call", fn, inputs, kwargs, label)

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        # a NumPy function given a traced array (np.moveaxis(t, ...)) is recorded as a call
        return self._tape.record("call", func, args, kwargs, f"np.{func.__name__}")

    @property
    def __array_interface__(self) -> Any:
        self._tape.broken("NumPy converted a traced array (np.asarray, np.array...) outside the back-end table")
        return self._a.__array_interface__

    # static facts: the plan is guarded on the inputs' shapes and dtypes, so these are constants
    # (a shape that depends on values is guarded when read: Tape.shape_of)
    shape = property(lambda self: self._tape.shape_of(self))
    ndim = property(lambda self: self._a.ndim)
    dtype = property(lambda self: self._a.dtype)
    size = property(lambda self: (self._tape.shape_of(self), self._a.size)[1])
    itemsize = property(lambda self: self._a.itemsize)
    nbytes = property(lambda self: (self._tape.shape_of(self), self._a.nbytes)[1])
    flags = property(lambda self: (self._tape.shape_of(self), self._a.flags)[1])  # (contiguity follows the shape)
    strides = property(lambda self: (self._tape.shape_of(self), self._a.strides)[1])

    @property
    def T(self) -> Any:  # noqa: N802  (ndarray's name)
        return self._tape.record("method", "transpose", (self,), {}, "x.T")

    @property
    def base(self) -> Any:
        return None if getattr(self._a, "base", None) is None else self._a.base

    def __len__(self) -> int:
        self._tape.shape_of(self)
        return len(self._a)

    # values read by Python: value guards
    def __bool__(self) -> bool:
        return self._tape.read(self, "bool", "bool(x)")

    def __float__(self) -> float:
        return self._tape.read(self, "float", "float(x)")

    def __int__(self) -> int:
        return self._tape.read(self, "int", "int(x)")

    def __index__(self) -> int:
        return self._tape.read(self, "index", "operator.index(x)")

    def item(self, *args: Any) -> Any:
        if args:
            self._tape.broken("x.item(index)")
            return self._a.item(*args)
        return self._tape.read(self, "item", "x.item()")

    def tolist(self) -> Any:
        return self._tape.read(self, "tolist", "x.tolist()")

    def __getitem__(self, index: Any) -> Any:
        return self._tape.record("op", "[]", (self, index), {}, "x[i]")

    def __setitem__(self, index: Any, value: Any) -> None:
        self._tape.record("op", "[]=", (self, index, value), {}, "x[i] = v")

    def __getattr__(self, name: str) -> Any:
        # the ndarray's methods (reshape, sum, astype, copy, fill...), recorded as methods
        if name.startswith("__"):
            raise AttributeError(name)
        attr = getattr(self._a, name)
        if not callable(attr):
            if isinstance(attr, (_ndarray, _generic)):
                self._tape.broken(f"the array attribute x.{name} of a traced array")
            return attr

        def method(*args: Any, **kwargs: Any) -> Any:
            return self._tape.record("method", name, (self, *args), kwargs, f"x.{name}")

        return method

    def __repr__(self) -> str:
        return f"TraceArray(slot {self.slot}, shape {self._a.shape}, dtype {self._a.dtype})"


def _binary(sym: str, reflected: bool) -> Any:
    if reflected:
        def op(self: TraceArray, other: Any) -> Any:
            return self._tape.record("op", sym, (other, self), {}, f"a {sym} b")
    else:
        def op(self: TraceArray, other: Any) -> Any:
            return self._tape.record("op", sym, (self, other), {}, f"a {sym} b")
    return op


for _name, _sym in _DUNDER.items():
    setattr(TraceArray, f"__{_name}__", _binary(_sym, False))
    setattr(TraceArray, f"__r{_name}__", _binary(_sym, True))
for _name, _sym in {"lt": "<", "le": "<=", "gt": ">", "ge": ">=", "eq": "==", "ne": "!="}.items():
    setattr(TraceArray, f"__{_name}__", _binary(_sym, False))


def _in_place(sym: str) -> Any:
    def op(self: TraceArray, other: Any) -> Any:
        if type(self._a) is not _ndarray:  # a NumPy scalar cannot change: a += b makes a new one
            return self._tape.record("op", sym[:-1], (self, other), {}, f"a {sym[:-1]} b")
        return self._tape.record("op", sym, (self, other), {}, f"a {sym} b")
    return op


for _name, _sym in {"iadd": "+=", "isub": "-=", "imul": "*=", "itruediv": "/="}.items():
    setattr(TraceArray, f"__{_name}__", _in_place(_sym))
for _name, _sym in {"neg": "neg", "pos": "pos", "abs": "abs", "invert": "~"}.items():
    setattr(TraceArray, f"__{_name}__", lambda self, _s=_sym: self._tape.record("op", _s, (self,), {}, f"{_s} a"))


class _TraceMath(WrappedTable):
    """The traced arrays' table: each of ``ArrayMath``'s entries, recorded."""

    def wrap_entry(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def entry(*args: Any, **kwargs: Any) -> Any:
            tape = _tape_of((args, kwargs)) or CURRENT[0]
            if tape is None or not tape.active:
                return fn(*_unwrap(args), **_unwrap(kwargs))
            return tape.record("call", fn, args, kwargs, f"m.{name}")

        return entry


TraceMath = _TraceMath()
CURRENT: list[Tape | None] = [None]  # the tape of the capture in progress


class TracingGenerator:
    """Stands in for the default generator during a capture: each draw is recorded, and the
    replay draws again from whatever the default generator then is (fresh values each step,
    from the same sequence eager would use)."""

    def __init__(self, real: np.random.Generator, tape: Tape) -> None:
        self.real = real
        self.tape = tape
        self.thread = threading.get_ident()

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.real, name)
        if not callable(attr) or threading.get_ident() != self.thread:  # (another thread's draws)
            return attr

        def draw(*args: Any, **kwargs: Any) -> Any:
            return self.tape.record("draw", name, args, kwargs, f"generator.{name}")

        return draw


def _real_generator() -> np.random.Generator:
    from chainrule.backend import random as _random

    g = _random.default_generator()
    return g.real if type(g) is TracingGenerator else g
