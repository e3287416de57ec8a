"""Version counters: backward refuses values that were changed in place after they were saved.

A graph node keeps its inputs (``_parents``) and its output by reference, and
its vjp reads their values during backward.  If one of them is modified in
place in between (``b.add_(1)``, ``x[0] = 5``, an optimiser step), the vjp
would silently compute the gradient at the wrong point.  As in PyTorch, such a
modification is detected and reported instead:

* One process-wide clock, ``TICK()``, numbers every recorded node and every in-place
  modification in the order they happen.  A node stores its tick (``Tensor._clk``: one slot
  write per recorded operation, the only cost on the forward hot path); ``EDITED[0]`` is the
  tick of the latest modification.  The ticks also order the graph: a node's inputs were
  recorded before it (``graph.py`` sorts by them).
* A tensor's ``VersionCounter`` (``Tensor._vc``, created lazily: None means
  "never modified, version 0") counts the modifications of its memory and
  remembers the clock of the last few.  A tensor and the views of its memory
  (reshape, transpose, basic indexing, ``detach``...) share one counter.
* While walking the graph, the engine looks closer at a node only when something
  was modified after the node was recorded (``t._clk < EDITED[0]``: one comparison per node
  otherwise), and then checks the tensors its vjp reads (``Primitive.saves_output``
  and ``Primitive.saved_inputs``): modified after the node's clock means an error
  naming the op, the tensor and its version then and now.

In-place ops that *rebind* (see ``ops/inplace.py``: while recording, ``x`` gets
a new array and its old contents become a hidden node) give ``x`` a new counter
that continues the old one's count: the old memory, still read by the hidden
node and by earlier views, keeps the old counter.  So ``x.mul_(y); x.add_(1)``
is fine (mul's saved input is the old memory, untouched by ``add_``), while
``y = a.exp(); y.add_(1)`` is an error (exp's saved output was modified), as
in PyTorch.

The clock is process-wide, not part of the (thread-local) grad mode: ``itertools.count``
hands out each tick once, whatever the thread.
"""

from __future__ import annotations

import itertools
import weakref
from collections import deque
from typing import Any

import numpy as np

from chainrule.backend.views import memory_root

TICK = itertools.count(1).__next__  # the process-wide clock: each call returns the next tick
EDITED = [0]  # the tick of the latest in-place modification (a one-element list: a mutable cell)
_HISTORY = 16  # clocks of the last modifications kept per counter, for "version then" in messages


class VersionCounter:
    """How often one block of memory was modified in place, and when (in ticks of the clock)."""

    __slots__ = ("version", "clocks", "sharers")

    def __init__(self, version: int = 0, clocks: Any = ()) -> None:
        self.version = version
        # the clocks of the last (up to _HISTORY) modifications, oldest first
        self.clocks = deque(clocks, _HISTORY)
        # weak references to the tensors made on this memory by ``share`` (views, detach()),
        # None until the first: an in-place write while recording keeps them up to date
        self.sharers: list | None = None

    def modified_after(self, clock: int) -> bool:
        clocks = self.clocks
        return bool(clocks) and clocks[-1] > clock

    def version_at(self, clock: int) -> tuple[int, bool]:
        """(version at tick ``clock``, exact?): inexact when the history is too short to tell."""
        later = sum(1 for c in self.clocks if c > clock)
        exact = later < len(self.clocks) or len(self.clocks) == self.version
        return self.version - later, exact

    def __reduce__(self) -> tuple:
        # A pickled copy (pickle, multiprocessing) holds copies of the arrays, no longer the memory
        # the sharers view: the weak references (unpicklable) are left behind.
        return (VersionCounter, (self.version, tuple(self.clocks)))

    def __repr__(self) -> str:
        return f"VersionCounter(version={self.version})"


def counter(t: Any) -> VersionCounter:
    """t's counter, created on first use (shared with the views made afterwards)."""
    vc = getattr(t, "_vc", None)
    if vc is None:
        vc = t._vc = VersionCounter()
    return vc


def version(t: Any) -> int:
    """How many times t's memory was modified in place (PyTorch's ``t._version``)."""
    vc = getattr(t, "_vc", None)
    return 0 if vc is None else vc.version


def bump(t: Any) -> None:
    """Record one in-place modification of t's memory (call it for every in-place write)."""
    bump_all((t,))


def bump_all(tensors: Any) -> None:
    """``bump`` each tensor, with one tick of the clock (an optimiser step over its parameters)."""
    EDITED[0] = clock = TICK()
    for t in tensors:
        try:
            vc = t._vc
        except AttributeError:  # (the slot is left unset until first needed)
            vc = None
        if vc is None:
            vc = t._vc = VersionCounter()
        vc.version += 1
        vc.clocks.append(clock)


def _joins(vc: VersionCounter, t: Any) -> None:
    """t shares the memory ``vc`` counts (the dead references are dropped now and then)."""
    refs = vc.sharers
    if refs is None:
        refs = vc.sharers = []
    elif len(refs) >= 32 and len(refs) & (len(refs) - 1) == 0:  # (at 32, 64, 128...: amortised)
        refs[:] = [r for r in refs if r() is not None]
    refs.append(weakref.ref(t))


def share(view: Any, base: Any) -> Any:
    """Make ``view`` (whose data is a view of ``base``'s) count its versions with ``base``; returns view."""
    if view is not base:
        vc = view._vc = counter(base)
        _joins(vc, view)
    return view


def share_view(view: Any, base: Any) -> Any:
    """``share``, and ``view`` remembers ``base`` as the tensor it is a view of (a slice, a
    transpose, a reshape...: an in-place operation through it writes base's elements, see
    ``ops/inplace.py``); returns view."""
    if view is not base:
        share(view, base)
        view._base = base
    return view


def share_if_view(out: Any, base: Any) -> Any:
    """``share_view`` when out's array really is a view of base's memory (reshape and indexing
    copy in some cases: then out has its own memory and its own counter); returns out."""
    if _root(out._array) is _root(base._array):
        share_view(out, base)
    return out


def sharers(x: Any) -> list:
    """The live tensors made on x's memory by ``share`` (views, ``detach()``), x aside, whose
    arrays still lie in it."""
    vc = getattr(x, "_vc", None)
    refs = vc.sharers if vc is not None else None
    if not refs:
        return []
    root = _root(x._array)
    found = []
    for r in refs:
        t = r()
        if t is not None and t is not x and _root(t._array) is root:
            found.append(t)
    return found


def _root(a: np.ndarray) -> Any:
    """The object that owns a's memory (NumPy chains views through ``.base``; a compiled
    capture's traced array answers for the array it stands for); another back end's array
    is its own."""
    root = memory_root(a)
    return a if root is None else root


def rebound(x: Any, old: Any) -> VersionCounter:
    """For ``rebind``: count the modification and give x a new counter for its new array.

    ``old`` is the hidden node that now holds x's old memory and x's old place in the graph.
    Returns the counter of that memory, for ``old``.  The new counter continues the count
    (``x._version`` goes up by one, as in PyTorch) and carries the history, so nodes that
    saved the *object* x see the change.  x remembers ``old`` (``inputs_as_recorded``).
    """
    bump(x)
    vc = x._vc
    x._vc = VersionCounter(vc.version, vc.clocks)
    extra = x._extras(any_hook=False)
    olds = extra.setdefault("rebound", [])  # (tick of the edit, x before it), oldest first
    olds.append((EDITED[0], old))
    if len(olds) > _HISTORY:  # forget the oldest: its consumers can no longer run backward
        extra["forgotten"] = olds.pop(0)[0]
    return vc


def edit_tick() -> int:
    """A new tick of the clock for an edit of the graph (``superseded``), after every node
    recorded so far; it counts as the latest modification (the engine looks closer)."""
    EDITED[0] = tick = TICK()
    return tick


def superseded(x: Any, old: Any, tick: int) -> None:
    """For an in-place write into x's memory that keeps x's memory and counter (a view and its
    base, ``ops/inplace.py``): x stood for ``old`` until ``tick`` (``edit_tick``, taken after
    the nodes of the write itself, which read x as it was), for the nodes recorded before it
    (``inputs_as_recorded``)."""
    extra = x._extras(any_hook=False)
    olds = extra.setdefault("rebound", [])
    olds.append((tick, old))
    if len(olds) > _HISTORY:
        extra["forgotten"] = olds.pop(0)[0]


def inputs_as_recorded(t: Any) -> tuple:
    """t's inputs as they were when t was recorded; sets ``t._parents`` to them.

    A node holds its inputs as Tensor objects.  An in-place op while recording (``rebind``)
    makes the object x the output of the new op, so a node recorded before the edit would
    send its gradient through the edit too (``y = x + 1; x.mul_(2)``: dy/dx is 1, not 2).
    For such a node the input is x's old node instead: the one x was rebound from by the
    first edit after t's tick.  Inputs whose values t's vjp reads stay x: the edit is an
    error for them (``check_saved`` reports it with x's versions, as PyTorch does).  Called
    by the graph walks only when something was edited after t was recorded.  (Inputs packed by
    ``saved_tensors_hooks`` are read from the packed values: they too become the old node.)"""
    extra = getattr(t, "_extra", None)
    saved = () if extra and "saved" in extra else t._op.saved_inputs(t._need)
    fixed = tuple([p if i in saved else _as_of(p, t._clk, t._op.name) for i, p in enumerate(t._parents)])
    t._parents = fixed
    return fixed


def _as_of(x: Any, tick: int, op: str) -> Any:
    """The tensor that stood for x at ``tick`` (x itself unless x was rebound since)."""
    extra = getattr(x, "_extra", None)
    if not extra or "rebound" not in extra:
        return x
    if tick < extra.get("forgotten", 0):
        raise RuntimeError(
            f"backward through {op}: its input was modified in place more than {_HISTORY} times "
            "since; run backward before modifying it again, or use out-of-place ops"
        )
    for edited_at, old in extra["rebound"]:
        if edited_at > tick:
            return old
    return x


def check_saved(t: Any) -> None:
    """Raise if a tensor that t's vjp reads was modified in place after t was recorded.

    The engine calls this only when something was modified after t was recorded.
    """
    op = t._op
    clock = t._clk
    if op.saves_output:
        vc = getattr(t, "_vc", None)
        if vc is not None and vc.modified_after(clock):
            raise _error(op, "output 0", t, vc, clock)
    parents = t._parents
    for i in op.saved_inputs(t._need):
        p = parents[i]
        vc = getattr(p, "_vc", None)
        if vc is not None and vc.modified_after(clock):
            raise _error(op, f"input {i}", p, vc, clock)
    for label, s in op.saved_others():
        vc = getattr(s, "_vc", None)
        if vc is not None and vc.modified_after(clock):
            raise _error(op, label, s, vc, clock)


def _error(op: Any, which: str, t: Any, vc: VersionCounter, clock: int) -> RuntimeError:
    then, exact = vc.version_at(clock)
    expected = f"version {then}" if exact else f"version {then} or lower"
    return RuntimeError(
        "one of the variables needed for gradient computation has been modified by an inplace "
        f"operation: the {which} of {op.name} (shape {tuple(t._array.shape)}, dtype {t._array.dtype}) "
        f"is at version {vc.version}; expected {expected} instead. {op.name}'s backward reads that "
        "tensor's values, which were changed after it was recorded: use an out-of-place op "
        "(x = x + 1 instead of x.add_(1)) or modify a .clone(); detect_anomaly() shows where "
        f"{op.name} was called."
    )
