"""Capture, values read only to be returned: ``return loss.item()`` replays.

A value Python reads from a traced array (``x.item()``) is a value guard (``trace.py``): the
replay checks that it reads the same value, since Python may have acted on it.  A training
step that ends ``return loss.item()`` reads a new loss every call, so that guard would fail
every time and the step would run eagerly.  But when the compiled function's own code does
nothing with the value except put it in what it returns, there is nothing to check: the
replay reads the value again and returns it in the same place (:class:`Read`).

Which reads qualify, decided from the code, never from the values:

* the compiled function makes the read itself (in its own frame, called by the capture, or in
  a compiled Module's ``forward``, which its ``__call__`` runs without hooks: a hook makes the
  capture eager; not in a helper it calls), directly through ``t.item()``, ``t.tolist()``,
  ``float(t)`` or ``int(t)``;
* the instructions from the read to the function's ``return`` run straight through (no jump)
  and only move values: they load a local or a constant, store a local, build a tuple, list
  or dict, drop a value, or make another such read (``return loss.item(), acc.item()``);
* what the function returns holds the value read (as many times as those instructions put it
  there, and nowhere else an equal value stands).

Anything else (``if loss.item() > 4:``, ``history.append(loss.item())``, ``loss.item() * n``,
a ``with`` block around the ``return``) keeps the value guard.  Python 3.10 to 3.13 name their
instructions differently; an instruction this module does not know keeps the guard too.

Any other Python value in what the function returns is this call's and may be stale at the
next (a learning rate a scheduler changes): the capture breaks the tape on it, unless it is a
constant of the code that the ``return`` certainly returns (:func:`constants`).
"""

from __future__ import annotations

import dis
import os
from types import CodeType, FrameType
from typing import Any, Callable, NamedTuple

import numpy as np


class Read(NamedTuple):
    """A returned value that the function read from slot ``slot`` through the Tensor method
    ``method`` ('item', 'tolist', '__float__', '__int__'): the replay reads it again."""

    slot: int
    method: str


# each Tensor method that reads a value: what it makes of the array it reads, and how the
# replay's source spells the same
READS: dict[str, tuple[Callable[[Any], Any], str]] = {
    "item": (lambda a: a.item(), "{}.item()"),
    "tolist": (lambda a: a.tolist(), "{}.tolist()"),
    "__float__": (lambda a: float(a.item()), "float({}.item())"),
    "__int__": (lambda a: int(a.item()), "int({}.item())"),
}


class Site(NamedTuple):
    """Where the compiled function read a value: its frame, the offset of the call that read
    it, and the Tensor method it called."""

    frame: FrameType
    offset: int
    method: str


_LIB = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_TENSOR = os.path.join(_LIB, "autograd", "tensor.py")
_CAPTURE = os.path.join(_LIB, "compiler", "capture.py")
_MODULE = os.path.join(_LIB, "nn", "module.py")


def function_frame(frame: FrameType | None) -> FrameType | None:
    """The frame, among ``frame`` and those it runs under, of the function the capture called
    (or of the compiled Module's ``forward``, under the Module's ``__call__``); None if none."""
    chain: list[FrameType] = []
    while frame is not None and not (frame.f_code.co_filename == _CAPTURE and frame.f_code.co_name == "capture"):
        chain.append(frame)
        frame = frame.f_back
    if frame is None:
        return None
    while chain and chain[-1].f_code.co_filename == _MODULE:  # (Module.__call__, _call_impl)
        chain.pop()
    return chain[-1] if chain and not chain[-1].f_code.co_filename.startswith(_LIB + os.sep) else None


def read_site(frame: FrameType | None) -> Site | None:
    """The site of a read made in ``frame`` (the reader, inside chainrule), when the compiled
    function made it directly by one of :data:`READS`' Tensor methods, else None."""
    entry = None
    while frame is not None and frame.f_code.co_filename.startswith(_LIB + os.sep):
        entry, frame = frame, frame.f_back  # (entry: the chainrule function the caller called)
    if frame is None or entry is None or entry.f_code.co_filename != _TENSOR \
            or entry.f_code.co_name not in READS or function_frame(frame) is not frame:
        return None
    return Site(frame, instruction_at(frame.f_code, frame.f_lasti), entry.f_code.co_name)


def instruction_at(code: CodeType, lasti: int) -> int:
    """The offset of the call running at ``lasti`` (3.11 points into its inline caches, or at
    the PRECALL that a call of a builtin type such as ``float`` runs in once specialised)."""
    offset, precall = -1, False
    for ins in dis.get_instructions(code):
        if ins.offset > lasti and not (precall and ins.opname == "CALL"):
            break
        offset, precall = ins.offset, ins.opname == "PRECALL"
    return offset


class _Built(NamedTuple):
    """A tuple, list or dict the instructions build: its (key, symbol) pairs (a dict key that
    is not a constant: ``_OTHER``)."""

    items: list


class _Const(NamedTuple):
    """A constant of the code (``LOAD_CONST``)."""

    value: Any


_ME, _OTHER = object(), object()  # the value read here; anything else
_CALLS = frozenset(("CALL", "CALL_METHOD", "CALL_FUNCTION"))
_LOADS = frozenset(("LOAD_FAST", "LOAD_FAST_CHECK", "LOAD_FAST_BORROW"))
_SKIP = frozenset(("NOP", "CACHE", "EXTENDED_ARG", "PRECALL", "RESUME"))
_MOVES = frozenset(("LOAD_CONST", *_LOADS, "LOAD_FAST_LOAD_FAST", "STORE_FAST", "POP_TOP", "BUILD_TUPLE", "BUILD_LIST",
                    "BUILD_MAP", "BUILD_CONST_KEY_MAP"))  # (what _Machine.move runs)


class _Machine:
    """The instructions that only move values, run on symbols: the stack (what lies below
    the part it saw is popped as ``_OTHER``) and the locals it saw stored."""

    def __init__(self, stack: list) -> None:
        self.stack = stack
        self.local: dict[str, Any] = {}

    def pop(self, n: int = 1) -> list:
        out = [self.stack.pop() if self.stack else _OTHER for _ in range(n)]
        return out[::-1]

    def move(self, i: dis.Instruction) -> bool:
        """Run ``i`` if it only moves values; False if it may do anything else."""
        op, n, stack = i.opname, i.arg or 0, self.stack
        if op == "LOAD_CONST":
            stack.append(_Const(i.argval))
        elif op in _LOADS:
            stack.append(self.local.get(i.argval, _OTHER))
        elif op == "LOAD_FAST_LOAD_FAST":
            stack.extend(self.local.get(name, _OTHER) for name in i.argval)
        elif op == "STORE_FAST":
            self.local[i.argval] = self.pop()[0]
        elif op == "POP_TOP":
            self.pop()
        elif op in ("BUILD_TUPLE", "BUILD_LIST"):
            stack.append(_Built(list(enumerate(self.pop(n)))))
        elif op == "BUILD_CONST_KEY_MAP":
            keys = self.pop()[0]
            values = self.pop(n)
            if type(keys) is not _Const:
                return False
            stack.append(_Built(list(zip(keys.value, values))))
        elif op == "BUILD_MAP":
            flat = self.pop(2 * n)
            if any(_count(key) for key in flat[0::2]):  # (the value read as a key: hashed, compared)
                return False
            stack.append(_Built([(key.value if type(key) is _Const else _OTHER, v)
                                 for key, v in zip(flat[0::2], flat[1::2])]))
        else:
            return False
        return True


def flow(code: CodeType, offset: int) -> tuple[int, list[int]] | None:
    """Where the value that the call at ``offset`` returns ends up: (how many times the
    returned value holds it, 0 if it was dropped; the offsets of the other reads it passes on
    the way), or None when the code may do anything else with it."""
    ins = [i for i in dis.get_instructions(code) if i.opname not in _SKIP or i.offset == offset]
    k = next((j for j, i in enumerate(ins) if i.offset == offset), None)
    if k is None or ins[k].opname not in _CALLS:
        return None
    machine = _Machine([_ME])
    pending: list[int] = []
    k += 1
    while k < len(ins):
        i, op = ins[k], ins[k].opname
        if op in ("LOAD_METHOD", "LOAD_ATTR") and i.argval in ("item", "tolist") \
                and k + 1 < len(ins) and ins[k + 1].opname in _CALLS and ins[k + 1].arg == 0:
            if _count(machine.pop()[0]):  # another read, ``t.item()``: its call must turn out to be a read site
                return None
            machine.stack.append(_OTHER)
            k += 1
            pending.append(ins[k].offset)
        elif op in ("LOAD_GLOBAL", "LOAD_NAME") and i.argval in ("float", "int") and k + 2 < len(ins) \
                and ins[k + 1].opname in _LOADS and ins[k + 2].opname in _CALLS and ins[k + 2].arg == 1:
            if _count(machine.local.get(ins[k + 1].argval, _OTHER)):  # another read, ``float(t)``
                return None
            machine.stack.append(_OTHER)
            k += 2
            pending.append(ins[k].offset)
        elif op == "RETURN_VALUE":
            return _count(machine.pop()[0]), pending
        elif op == "RETURN_CONST":
            return 0, pending
        elif not machine.move(i):
            return None
        if not any(_count(x) for x in (*machine.stack, *machine.local.values())):
            return 0, pending  # dropped: nothing the code can reach holds it any more
        k += 1
    return None


def _count(x: Any) -> int:
    """How many times symbol ``x`` holds the value read."""
    if x is _ME:
        return 1
    return sum(_count(v) for _, v in x.items) if type(x) is _Built else 0


def constants(code: CodeType, offset: int) -> list[tuple[tuple, Any]]:
    """The constants of the code that the ``return`` at ``offset`` certainly returns: (path,
    constant) for each.  Found by running the instructions just before it that only move values,
    back to the first that may do anything else or that a jump may reach."""
    ins = [i for i in dis.get_instructions(code) if i.opname not in _SKIP]
    r = next((j for j, i in enumerate(ins) if i.offset == offset), None)
    if r is None or ins[r].opname not in ("RETURN_VALUE", "RETURN_CONST"):
        return []
    if ins[r].opname == "RETURN_CONST":
        return [((), ins[r].argval)]
    start = r  # (a jump into the run would bring another stack: the run starts after any target)
    while start > 0 and ins[start - 1].opname in _MOVES and not ins[start].is_jump_target:
        start -= 1
    machine = _Machine([])
    if not all(machine.move(i) for i in ins[start:r]):
        return []
    return _constants(machine.pop()[0], ())


def _constants(x: Any, path: tuple) -> list[tuple[tuple, Any]]:
    if type(x) is _Const:
        return [(path, x.value)]
    if type(x) is _Built:
        return [c for key, v in x.items if key is not _OTHER for c in _constants(v, path + (key,))]
    return []


def _find(x: Any, target: Any, path: tuple = ()) -> list[tuple]:
    """The paths (tuple and list positions, dict keys) at which ``x`` holds a value of
    ``target``'s type equal to it."""
    if type(x) is type(target) and _plain(x) and x == target:
        return [path]
    if type(x) in (tuple, list):
        return [p for j, v in enumerate(x) for p in _find(v, target, path + (j,))]
    if type(x) is dict:
        return [p for k, v in x.items() for p in _find(v, target, path + (k,))]
    return []


def _plain(x: Any) -> bool:
    """Whether ``x`` is a Python number, or a list of them (nested): what ``==`` compares
    without running anything else (a list of tensors would compare them, on the tape)."""
    return type(x) in (bool, int, float, complex) or type(x) is list and all(_plain(v) for v in x)


def at_path(x: Any, path: tuple) -> Any:
    """The part of ``x`` (plain tuples, lists and dicts) that ``path`` leads to; ``_OTHER`` if none."""
    for key in path:
        if type(x) is dict and key in x or type(x) in (tuple, list) and type(key) is int and 0 <= key < len(x):
            x = x[key]
        else:
            return _OTHER
    return x


def put(x: Any, path: tuple, value: Any) -> Any:
    """``x`` with the part at ``path`` replaced by ``value`` (containers rebuilt)."""
    if not path:
        return value
    key, rest = path[0], path[1:]
    if type(x) is dict:
        return {k: put(v, rest, value) if k == key else v for k, v in x.items()}
    return type(x)(put(v, rest, value) if j == key else v for j, v in enumerate(x))


def returned_reads(reads: list, result: Any) -> list[tuple[Any, list[tuple], Read]]:
    """Of the reads a capture made (``Tape.reads``: (guard step, slot, how, value, site)), those
    that only reach ``result``: (their guard step, their paths in it, the output there)."""
    sites: dict[int, set[int]] = {}
    for *_, site in reads:
        if site is not None:
            sites.setdefault(id(site.frame), set()).add(site.offset)
    found = []
    for step, slot, _, value, site in reads:
        where = None if site is None else flow(site.frame.f_code, site.offset)
        if where is None:
            continue
        count, pending = where
        if not set(pending) <= sites[id(site.frame)]:
            continue
        # the places that hold what was read, found as often as the code put it there: where it
        # was put (an equal value the result holds elsewhere too would make that ambiguous)
        paths = _find(result, READS[site.method][0](np.asarray(value)))
        if len(paths) == count:
            found.append((step, paths, Read(slot, site.method)))
    return found
