"""Capture, values read only to be returned: ``return loss.item()`` replays.

A value Python reads from a traced array (``x.item()``) is a value guard (``trace.py``): the
replay checks that it reads the same value, since Python may have acted on it.  A training
step that ends ``return loss.item()`` reads a new loss every call, so that guard would fail
every time and the step would run eagerly.  But when the compiled function's own code does
nothing with the value except put it in what it returns, there is nothing to check: the
replay reads the value again and returns it in the same place (:class:`Read`).

Which reads qualify, decided from the code, never from the values:

* the compiled function makes the read itself (in its own frame, called by the capture; not in
  a helper it calls, nor in a Module's ``forward``, whose hooks see the output), directly
  through ``t.item()``, ``t.tolist()``, ``float(t)`` or ``int(t)``;
* the instructions from the read to the function's ``return`` run straight through (no jump)
  and only move values: they load a local or a constant, store a local, build a tuple, list
  or dict, drop a value, or make another such read (``return loss.item(), acc.item()``);
* what the function returns holds the very object that was read, where those instructions
  put it.

Anything else (``if loss.item() > 4:``, ``history.append(loss.item())``, ``loss.item() * n``,
a ``with`` block around the ``return``) keeps the value guard.  Python 3.10 to 3.13 name their
instructions differently; an instruction this module does not know keeps the guard too.
"""

from __future__ import annotations

import dis
import os
from types import CodeType, FrameType
from typing import Any, NamedTuple

import numpy as np


class Read(NamedTuple):
    """A returned value that the function read from slot ``slot`` through the Tensor method
    ``method`` ('item', 'tolist', '__float__', '__int__'): the replay reads it again."""

    slot: int
    method: str


# what each method makes of the array it reads (the replay's source spells the same)
AS_RETURNED = {
    "item": lambda a: a.item(), "tolist": lambda a: a.tolist(),
    "__float__": lambda a: float(a.item()), "__int__": lambda a: int(a.item()),
}
SOURCE = {"item": "{}.item()", "tolist": "{}.tolist()", "__float__": "float({}.item())", "__int__": "int({}.item())"}


class Site(NamedTuple):
    """Where the compiled function read a value: its frame, the offset of the call that read
    it, and the Tensor method it called."""

    frame: FrameType
    offset: int
    method: str


_LIB = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_TENSOR = os.path.join(_LIB, "autograd", "tensor.py")
_CAPTURE = os.path.join(_LIB, "compiler", "capture.py")


def read_site(frame: FrameType | None) -> Site | None:
    """The site of a read made in ``frame`` (the reader, inside chainrule), when the compiled
    function made it directly by one of :data:`AS_RETURNED`'s Tensor methods, else None."""
    entry = None
    while frame is not None and frame.f_code.co_filename.startswith(_LIB + os.sep):
        entry, frame = frame, frame.f_back  # (entry: the chainrule function the caller called)
    if frame is None or entry is None or entry.f_code.co_filename != _TENSOR \
            or entry.f_code.co_name not in AS_RETURNED:
        return None
    caller = frame.f_back  # the compiled function itself, called by the capture
    if caller is None or caller.f_code.co_filename != _CAPTURE or caller.f_code.co_name != "capture":
        return None
    return Site(frame, _instruction_at(frame.f_code, frame.f_lasti), entry.f_code.co_name)


def _instruction_at(code: CodeType, lasti: int) -> int:
    """The offset of the call running at ``lasti`` (3.11 points into its inline caches, or at
    the PRECALL that a call of a builtin type such as ``float`` runs in once specialised)."""
    offset, precall = -1, False
    for ins in dis.get_instructions(code):
        if ins.offset > lasti and not (precall and ins.opname == "CALL"):
            break
        offset, precall = ins.offset, ins.opname == "PRECALL"
    return offset


class _Built(NamedTuple):
    """A tuple, list or dict the instructions build: the symbols of its items (a dict's values)."""

    items: list


_ME, _OTHER = object(), object()  # the value read here; anything else
_CALLS = frozenset(("CALL", "CALL_METHOD", "CALL_FUNCTION"))
_LOADS = frozenset(("LOAD_FAST", "LOAD_FAST_CHECK", "LOAD_FAST_BORROW"))
_SKIP = frozenset(("NOP", "CACHE", "EXTENDED_ARG", "PRECALL", "RESUME"))


def flow(code: CodeType, offset: int) -> tuple[int, list[int]] | None:
    """Where the value that the call at ``offset`` returns ends up: (how many times the
    returned value holds it, 0 if it was dropped; the offsets of the other reads it passes on
    the way), or None when the code may do anything else with it."""
    ins = [i for i in dis.get_instructions(code) if i.opname not in _SKIP or i.offset == offset]
    k = next((j for j, i in enumerate(ins) if i.offset == offset), None)
    if k is None or ins[k].opname not in _CALLS:
        return None
    stack: list[Any] = [_ME]  # (what lies below it is not ours: popped as _OTHER)
    local: dict[str, Any] = {}
    pending: list[int] = []

    def pop(n: int = 1) -> list:
        out = [stack.pop() if stack else _OTHER for _ in range(n)]
        return out[::-1]

    k += 1
    while k < len(ins):
        i, op, n = ins[k], ins[k].opname, ins[k].arg or 0
        if op == "LOAD_CONST":
            stack.append(_OTHER)
        elif op in _LOADS:
            stack.append(local.get(i.argval, _OTHER))
        elif op == "LOAD_FAST_LOAD_FAST":
            stack.extend(local.get(name, _OTHER) for name in i.argval)
        elif op == "STORE_FAST":
            local[i.argval] = pop()[0]
        elif op == "POP_TOP":
            pop()
        elif op in ("BUILD_TUPLE", "BUILD_LIST"):
            stack.append(_Built(pop(n)))
        elif op in ("BUILD_MAP", "BUILD_CONST_KEY_MAP"):
            keys = pop()[0:1] if op == "BUILD_CONST_KEY_MAP" else []
            flat = pop(n if keys else 2 * n)
            keys += [] if keys else flat[0::2]
            if any(_count(key) for key in keys):  # (the value as a key: hashed, compared)
                return None
            stack.append(_Built(flat if op == "BUILD_CONST_KEY_MAP" else flat[1::2]))
        elif op in ("LOAD_METHOD", "LOAD_ATTR") and i.argval in ("item", "tolist") \
                and k + 1 < len(ins) and ins[k + 1].opname in _CALLS and ins[k + 1].arg == 0:
            if _count(pop()[0]):  # another read, ``t.item()``: its call must turn out to be a read site
                return None
            stack.append(_OTHER)
            k += 1
            pending.append(ins[k].offset)
        elif op in ("LOAD_GLOBAL", "LOAD_NAME") and i.argval in ("float", "int") and k + 2 < len(ins) \
                and ins[k + 1].opname in _LOADS and ins[k + 2].opname in _CALLS and ins[k + 2].arg == 1:
            if _count(local.get(ins[k + 1].argval, _OTHER)):  # another read, ``float(t)``
                return None
            stack.append(_OTHER)
            k += 2
            pending.append(ins[k].offset)
        elif op == "RETURN_VALUE":
            return _count(pop()[0]), pending
        elif op == "RETURN_CONST":
            return 0, pending
        else:
            return None
        if not any(_count(x) for x in (*stack, *local.values())):
            return 0, pending  # dropped: nothing the code can reach holds it any more
        k += 1
    return None


def _count(x: Any) -> int:
    """How many times symbol ``x`` holds the value read."""
    if x is _ME:
        return 1
    return sum(_count(v) for v in x.items) if type(x) is _Built else 0


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
        paths = _find(result, AS_RETURNED[site.method](np.asarray(value)))
        if len(paths) == count:
            found.append((step, paths, Read(slot, site.method)))
    return found
