"""Plan, stage 3: a captured tape written out as one Python function, and its guard.

:func:`build_plan` turns a :class:`~chainrule.compiler.capture.Captured` into a
:class:`Plan`.  The replay is generated source code, one line per step, in which slot ``k``
is the local variable ``vk``::

    def replay(args, kwargs):
        v0 = T0._array                  # inputs: the tracked tensors' arrays, the arguments'
        v5 = m_matmul(v4, v0)           # a table entry
        v6 = v5 + v1                    # an operator
        v6 *= c2                        # in place
        if bool(v9) != True: raise Diverged(3)   # a value Python read during the capture
        T0._array = v12                 # before a host step: write back what changed
        H0()                            # the host step (optimizer.step())
        v13 = T0._array                 # and read again what it may have changed
        return W(v6)                    # the outputs, as new Tensors

Locals are the cheapest names Python has, so the replay pays only for the calls themselves:
no Tensors, nodes, rule lookups or graph walk.  Before that the plan drops the steps whose
results nothing uses, and after the last use of a large array (``FREE_AT`` elements and
more) its name is deleted, so memory is given back when eager would give it back.
``Plan.explain()`` prints the source with a table of the steps.

The guard is generated the same way: one function that checks, for every assumption the
capture made, that it still holds (``guard_source``).
"""

from __future__ import annotations

import ctypes
import math
import re
import threading
from collections.abc import Sequence
from typing import Any, Callable, NamedTuple

import numpy as np

from chainrule.autograd import grad_mode
from chainrule.autograd.tensor import Tensor
from chainrule.backend import native
from chainrule.backend import random as _random
from chainrule.backend.gemm_onednn import matmul_for
from chainrule.compiler.buffers import is_allocation, is_product, plan_buffers
from chainrule.compiler.capture import Captured, Hole, Instance, Out, named_tuple
from chainrule.compiler.fuse import fuse, private_slots, schedule
from chainrule.compiler.passes import rewrites
from chainrule.compiler.reach import read_name
from chainrule.compiler.returned import READS, Read
from chainrule.compiler.trace import _READ, OPERATORS, Fixed, Ref, Step, step_outs, step_uses

FREE_AT = 4096  # elements: a local holding an array at least this large is deleted after its last use


class Unreplayable(Exception):
    """The capture cannot become a plan (the message says why)."""


class Diverged(Exception):
    """A value guard failed during a replay, before anything outside the plan changed.

    ``args``: (the step's index, the kind of read).  A "bool" read (``if cond:``, a flag an
    entry returns) has one other outcome, which another plan of the same kind of call may
    have captured (``api.CompiledFunction`` tries it)."""


_READERS = {
    "bool": "bool({})", "float": "float({})", "int": "int({})", "index": "IDX({})", "item": "{}.item()",
    "tolist": "{}.tolist()", "==": "{}", "host": "HOST({})",
}


class _Writer:
    """Source lines, and a namespace for the constants they name."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.ns: dict[str, Any] = {
            "W": Tensor._wrap, "Diverged": Diverged, "gen": _random.default_generator, "HOST": _READ["host"],
            "IDX": int, "np": np, "Tensor": Tensor, "ndarray": np.ndarray, "grad_enabled": grad_mode.is_grad_enabled,
            "read_name": read_name, "asarray": np.asarray,
        }
        self._ids: dict[int, str] = {}
        self.folded: dict[int, Any] = {}  # slot -> constant value (passes.py)
        self.aliases: dict[int, int] = {}  # slot -> the slot it simply is (passes.py)
        self.fusion = True
        self.fused: list[str] = []  # the C source of each fused loop (fuse.py)
        self.buffers = True  # plan the intermediates' memory (buffers.py)
        self.planned: dict[int, Any] = {}  # slot -> its buffer
        self.table: list[tuple] = []  # (kind, what, result, how) per step, for explain()

    def const(self, obj: Any, hint: str = "c") -> str:
        """A name for ``obj`` in the namespace (the same name for the same object)."""
        key = id(obj)
        name = self._ids.get(key)
        if name is None:
            name = self._ids[key] = f"{hint}{len(self._ids)}"
            self.ns[name] = obj
        return name

    def render(self, x: Any) -> str:
        """Source text for an argument: slots as their locals, literals as literals."""
        t = type(x)
        if t is Ref:
            return f"v{x.slot}"
        if x is None or t is bool or t is int or t is str:
            return repr(x)
        if t is float:
            return repr(x) if math.isfinite(x) else self.const(x)
        if t is tuple:
            return "(" + "".join(self.render(v) + ", " for v in x) + ")"
        if t is list:
            return "[" + ", ".join(self.render(v) for v in x) + "]"
        if t is dict and all(type(k) is str for k in x):
            return "{" + ", ".join(f"{k!r}: {self.render(v)}" for k, v in x.items()) + "}"
        if t is slice:
            return f"slice({self.render(x.start)}, {self.render(x.stop)}, {self.render(x.step)})"
        if x is Ellipsis:
            return "..."
        return self.const(x)

    def call_args(self, args: tuple, kwargs: dict) -> str:
        parts = [self.render(a) for a in args] + [f"{k}={self.render(v)}" for k, v in kwargs.items()]
        return ", ".join(parts)

    def compile(self, name: str) -> Callable[..., Any]:
        src = "\n".join(self.lines)
        exec(compile(src, f"<chainrule.compile {name}>", "exec"), self.ns)  # noqa: S102  (our own source)
        return self.ns[name]


def _lhs(w: _Writer, pattern: Any, checks: list[str], i: int) -> str:
    """The assignment target of a result pattern: ``v5``, ``(v5, (_f0, v6, v7))``..."""
    if type(pattern) is int:
        return f"v{pattern}"
    if type(pattern) is Fixed:
        name = f"_f{len(checks)}"
        kind = '"bool"' if type(pattern.value) is bool else '""'
        checks.append(f"if {name} != {w.render(pattern.value)}: raise Diverged({i}, {kind})"
                      if pattern.value is not None else f"if {name} is not None: raise Diverged({i}, {kind})")
        return name
    return "(" + "".join(_lhs(w, p, checks, i) + ", " for p in pattern) + ")"


def _output_slots(x: Any) -> list[int]:
    if type(x) is Out or type(x) is Read:
        return [x.slot]
    if type(x) in (tuple, list) or named_tuple(x):
        return [s for v in x for s in _output_slots(v)]
    if type(x) is dict:
        return [s for v in x.values() for s in _output_slots(v)]
    if type(x) is Instance:
        return [s for v in x.fields.values() for s in _output_slots(v)]
    return []


def _live_steps(steps: list, needed: set[int]) -> list:
    """``steps`` without those whose results nothing in ``needed`` or later uses (side effects kept)."""
    needed = set(needed)
    keep = []
    for step in reversed(steps):
        outs = step_outs(step)
        pure = step.kind in ("call", "op", "method") and outs
        if pure and not any(o in needed for o in outs):
            continue
        keep.append(step)
        needed.update(step_uses(step))
    keep.reverse()
    return keep


def _forward_checks(bwd_steps: list, seeds: set[int], tape: Any) -> tuple[list, list]:
    """The backward pass's checks of a shape that the values set, replaced by checks at the
    forward's end: ``(checks, the other steps)``.  A vjp reads such a shape (``x.shape`` in
    ``x[index]``'s vjp, ``x`` a packed sequence's rows or ``y[mask]``; the engine comparing a
    gradient's shape with its input's); the tape knows which value-shaped results it follows
    (``tape.value_shaped``).  When those are all arrays the forward made, their shapes, checked at
    the forward's end, fix it: a failed check there can still send the call to eager, where in the
    backward pass, after the forward has returned, nothing could.  A shape that follows an array
    the backward pass shaped by its values stays a check there (and the plan is refused)."""
    made = {o for st in bwd_steps for o in step_outs(st)} | seeds
    reads = {st.out: (j, step_uses(st)[0]) for j, st in enumerate(bwd_steps)
             if st.kind == "call" and st.label == "np.shape"}
    moved: set[int] = set()
    sources: dict[int, str] = {}
    for i, st in enumerate(bwd_steps):
        uses = step_uses(st)
        if st.kind != "guard" or len(uses) != 1 or uses[0] not in reads:
            continue
        j, k = reads[uses[0]]
        found = tape.value_shaped.get(k, frozenset((k,)))
        if not found & made:
            moved |= {i, j}
            sources.update((s, st.label) for s in found if s not in sources)
    checks = []
    for s, label in sorted(sources.items()):
        k = tape.new_value_slot()
        checks += [Step("call", np.shape, (Ref(s),), {}, k, "np.shape"),
                   Step("guard", "==", (Ref(k),), {"value": tape.shapes[s]}, None, f"{label} (at the forward's end)")]
    return checks, [st for j, st in enumerate(bwd_steps) if j not in moved]


def _changes_outside(step: Any, root: list[int], inputs: set[int]) -> bool:
    """Whether ``step`` changes something outside the plan: a host step, or a write into the
    memory of an array read from outside (a parameter, a buffer, an argument)."""
    return step.kind == "host" or any(root[w] in inputs for w in step.writes)


def _host_writes(step: Any, root: list[int], inputs: set[int]) -> set[int]:
    """The memory a host step may write: that of every array read from outside, unless the
    capture knew which tracked tensors it leaves alone (capture.py ``untouched``: an
    optimizer's step leaves the batch); those kept their slots across it."""
    untouched = step.kwargs.get("untouched")
    if untouched is None:
        return {root[k] for k in inputs}
    slots = step.kwargs["write"].items()
    spared = {root[s] for (i, _), s in slots if s is not None and i in untouched}
    spared -= {root[s] for (i, _), s in slots if s is not None and i not in untouched}  # (one memory, two names)
    return {root[k] for k in inputs} - spared


def _overlapping(ts: tuple, others: tuple) -> bool:
    """Whether a tensor of ``ts`` (its array or gradient) may share memory with one of ``others``."""
    def arrays(t: Any) -> list:
        return [t._array] + ([] if t.grad is None else [t.grad._array])

    theirs = [b for t in others for b in arrays(t)]
    return any(np.may_share_memory(a, b) for t in ts for a in arrays(t) for b in theirs)


def fresh_results(steps: list, slots: list[int], root: list[int], folded: dict[int, Any],
                  aliases: dict[int, int]) -> tuple[bool, ...]:
    """Per slot of ``slots`` (the gradients a backward replay returns): whether its array is one
    that ``steps`` make anew on every replay and hand to nobody else, so that the engine may keep
    it as a ``.grad`` without copying it (as it keeps an eager op's, ``Primitive.fresh_grads``).

    Made anew: the result of a step that reads traced arrays (a product, a sum, a fused loop)
    or allocates (``empty``), and no view of another slot (``root``).  Not: the gradients given
    to the backward pass (the caller holds them), arrays the forward saved, a folded constant
    (the same array every replay), and a slot returned a second time (the first keeps it)."""
    made = set()
    for st in steps:
        if st.kind in ("call", "op", "method") and (is_allocation(st) or step_uses(st)):
            made.update(step_outs(st))
    seen: set[int] = set()
    fresh = []
    for s in slots:
        while s in aliases:  # (a copy elided: the slot is the array it copied)
            s = aliases[s]
        fresh.append(s in made and root[s] == s and s not in folded and s not in seen)
        seen.add(s)
    return tuple(fresh)


def hoist_guards(steps: list, root: list[int], inputs: set[int]) -> tuple[list, list[str], set[int], set[int]]:
    """Move each value guard, with the steps that compute what it reads, before the first step
    that changes something outside the plan, where that gives the same value: those steps
    are pure and nothing they read is written before the guard.  A failed guard then hands
    the call back to eager with nothing changed.  Returns (steps, labels of the guards that
    could not move: such a plan cannot be replayed, the tracked tensors (indices) a moved guard
    read across a host step that leaves them alone, the tracked tensors such steps write): the
    guard must check that the first share no memory with the second (build_plan)."""
    steps = list(steps)
    late: list[str] = []
    spared: set[int] = set()
    touched: set[int] = set()
    first = next((i for i, st in enumerate(steps) if _changes_outside(st, root, inputs)), len(steps))
    g = first  # (a guard before the first change stays where it is)
    while g < len(steps):
        if steps[g].kind != "guard":
            g += 1
            continue
        producer = {o: i for i, st in enumerate(steps[:g]) if st.kind in ("call", "op", "method")
                    for o in step_outs(st)}
        written = {root[w] for st in steps[:g] for w in st.writes}
        for st in steps[:g]:
            if st.kind == "host":
                written |= _host_writes(st, root, inputs)
        cone: set[int] = set()
        todo = list(step_uses(steps[g]))
        ok = True
        while todo and ok:
            slot = todo.pop()
            if root[slot] in written:
                ok = False
            elif slot in producer and producer[slot] not in cone:
                i = producer[slot]
                if steps[i].writes:
                    ok = False
                cone.add(i)
                todo.extend(step_uses(steps[i]))
        if not ok:
            late.append(steps[g].label)
            g += 1
            continue
        read = {root[u] for i in (*cone, g) for u in step_uses(steps[i])}
        for st in steps[first:g]:  # (the host steps the guard moves across, and what it read of theirs)
            if st.kind == "host" and st.kwargs.get("untouched") is not None:
                untouched = st.kwargs["untouched"]
                slots = st.kwargs["write"].items()
                spared |= {i for (i, _), s in slots if s is not None and i in untouched and root[s] in read}
                touched |= {i for (i, _), s in slots if i not in untouched}
        moved = [i for i in sorted(cone) if i >= first] + [g]
        rest = [st for i, st in enumerate(steps) if i not in moved]
        steps = rest[:first] + [steps[i] for i in moved] + rest[first:]
        first += len(moved)  # (the change that was first is still first after them)
        g += 1
    return steps, late, spared, touched if spared else set()


class Built(NamedTuple):
    """What a plan generates at its first replay (:meth:`Plan.ready`)."""

    source: str
    run: Callable[..., Any]
    backward: Callable[[tuple, Any], tuple] | None
    table: list[tuple]
    exclusive: Any  # a lock when the plan has buffers of its own (buffers.py), else None
    reach: list | None = None  # per output of the backward's node: its inputs (positions) below it
    fresh: tuple = ()  # per gradient the backward returns: whether it is a new array nobody else holds


_GENERATING = threading.Lock()


def give_back_heap() -> None:
    """Return to the operating system the heap memory a capture or a generation used once and freed (glibc
    keeps freed small blocks otherwise, and the process would stay a few MiB larger than eager)."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to do
        pass


class Plan:
    """A replayable capture: ``guard(args, kwargs)`` says whether it applies, ``run(args,
    kwargs)`` replays it (raising :class:`Diverged` when a value guard fails).

    The replay's source, its fused loops and its buffers are generated at its first replay
    (or when asked for: ``source``, ``explain()``), not at the capture: a training step's first
    capture, which sees no gradients yet, is never replayed, and then holds no buffers."""

    def __init__(self, generate: Callable[[], Built], guard_source: str,
                 make_guard: Callable[[], Callable[..., bool]], steps: list, snapshot: bool, n_captured: int) -> None:
        self._generate: Callable[[], Built] | None = generate
        self._built: Built | None = None
        self.guard_source = guard_source
        self.make_guard = make_guard  # (compiled when first asked: see build_guard)
        self.n_steps = len(steps)  # (the steps themselves: held by ``generate`` until it runs, then let go)
        self.snapshot = snapshot
        self.n_captured = n_captured

    def ready(self) -> Built:
        """The generated replay (generated now if this is the first time)."""
        built = self._built
        if built is None:
            with _GENERATING:  # (two threads replaying a new plan at once generate it once)
                if self._built is None:
                    assert self._generate is not None
                    self._built = self._generate()
                    self._generate = None  # (let go of the capture's tape)
                    give_back_heap()
                built = self._built
        return built

    source = property(lambda self: self.ready().source, doc="the replay's generated source")
    backward = property(lambda self: self.ready().backward, doc="the backward replay, if any")
    reach = property(lambda self: self.ready().reach, doc="per output: the backward node's inputs below it")
    fresh = property(lambda self: self.ready().fresh, doc="per gradient of the backward: a new array of its own")
    table = property(lambda self: self.ready().table, doc="explain()'s rows: one per step")
    exclusive = property(lambda self: self.ready().exclusive, doc="the buffers' lock, if any")

    def run(self, args: tuple, kwargs: dict) -> Any:
        built = self._built or self.ready()  # (the attribute first: this runs on every replay)
        lock = built.exclusive
        if lock is None:
            return self._run_once(built.run, args, kwargs)
        if not lock.acquire(blocking=False):  # running already (another thread, or inside itself):
            raise Diverged(-1)  # its buffers are in use, so this call runs eagerly
        try:
            return self._run_once(built.run, args, kwargs)
        finally:
            lock.release()

    def _run_once(self, run: Callable[..., Any], args: tuple, kwargs: dict) -> Any:
        if not self.snapshot:
            return run(args, kwargs)
        g = _random.default_generator()
        state = g.bit_generator.state  # (a failed value guard gives the draws back)
        try:
            return run(args, kwargs)
        except Diverged:
            g.bit_generator.state = state
            raise

    def explain(self) -> str:
        """The plan as the notes' tables show a computation: one row per step (what it computes,
        its result's slot, shape and dtype, whether it is fused, a constant or another array),
        then the guard, the generated replay and the C source of its fused loops."""
        lines = [f"plan: {self.n_steps} steps replayed ({self.n_captured} captured; the others computed "
                 "values nothing used)", "", f"{'#':>4}  {'kind':<6} {'step':<28} {'result':<36} how"]
        for k, (kind, what, result, how) in enumerate(self.table):
            lines.append(f"{k:>4}  {kind:<6} {what[:28]:<28} {result[:36]:<36} {how}")
        lines += ["", "guard:", self.guard_source, "", "replay:", self.source]
        return "\n".join(lines)


def build_plan(cap: Captured, where: list[str], guard_lines: list[str], guard_ns: dict[str, Any],
               fusion: bool = True, buffers: bool = True) -> Plan:
    """The plan of capture ``cap``.  ``where[i]`` is the source text that reaches tracked
    tensor ``i`` at replay time (``T3`` for a parameter, ``args[0]`` for an argument);
    ``guard_lines`` are the guard's checks, which name objects in ``guard_ns``.

    With a backward pass (``cap.backward``: a compiled Module's outputs whose graphs the caller
    uses) the replay returns ``(those outputs' arrays, saved arrays, tensors needing gradients,
    the returned value)``, the value with a :class:`Hole` where each of those outputs goes (None
    when the function returns that one tensor), and ``Plan.backward(saved, gs)`` returns the
    gradients, given the outputs' gradients ``gs``."""
    tape = cap.tape
    bw = cap.backward
    fwd_steps = tape.steps if bw is None else tape.steps[:bw.start]
    bwd_steps: list = []
    saved: list[int] = []
    if bw is not None:
        bwd_steps = _live_steps(tape.steps[bw.start:], {g for g in bw.grads if g is not None})
        checks, bwd_steps = _forward_checks(bwd_steps, set(bw.seeds), tape)
        fwd_steps = fwd_steps + checks
        made = {o for st in bwd_steps for o in step_outs(st)} | set(bw.seeds)
        saved = sorted({u for st in bwd_steps for u in step_uses(st) if u not in made})
        if any(st.kind in ("guard", "host", "draw") for st in bwd_steps):
            raise Unreplayable("the backward pass reads values, draws random numbers or steps an optimiser")
    written = {s for s in cap.end.values() if s is not None}
    needed = set(_output_slots(cap.output)) | written | set(saved)
    if {tape.root[k] for k in needed} & {tape.root[k] for k in tape.pinned}:
        raise Unreplayable("a result that leaves the function was written into an array made outside it (out=)")
    steps, late, spared, touched = hoist_guards(_live_steps(fwd_steps, needed), tape.root, tape.inputs)
    if spared:  # (a read moved before an optimizer's step: it must not share memory with what that step writes)
        guard_lines = guard_lines + [
            f"if overlapping(({''.join(where[i] + ', ' for i in sorted(spared))}), "
            f"({''.join(where[j] + ', ' for j in sorted(touched))})): return False"]
        guard_ns = {**guard_ns, "overlapping": _overlapping}
    if late:
        raise Unreplayable("Python read a computed value (.item(), bool(), float()...) after the function had "
                           "changed parameters or state, so a replay could not go back (return the tensor and "
                           "read it outside the compiled function: `return loss`, then `loss.item()`): "
                           + "; ".join(late[:3]))
    make_guard, guard_source = build_guard(guard_lines, guard_ns)
    kinds = [st.kind for st in steps]  # a draw before a value guard: a failed guard must give it back
    snapshot = "draw" in kinds and "guard" in kinds and kinds.index("draw") < max(
        i for i, k in enumerate(kinds) if k == "guard")
    # (the generator keeps what it needs of the capture, not the capture: its result may hold a
    # graph; and of the tracked tensors only those the replay names, not the call's arguments)
    start, end, output, cap_scalars = cap.start, cap.end, cap.output, cap.scalars
    named = {i: t for i, t in enumerate(cap.tracked) if where[i].startswith("T")}

    def generate() -> Built:
        w = _Writer()
        w.fusion = fusion
        w.buffers = buffers
        final = dict(start)  # what the tracked tensors hold before the end's write-back
        for step in steps:
            if step.kind == "host":
                final = dict(step.kwargs["read"])
        used = {s for step in steps for s in step_uses(step)} | set(_output_slots(output)) | set(saved)
        used |= {s for k, s in end.items() if s is not None and final.get(k) != s}
        keep = set(_output_slots(output)) | written | set(saved)
        for step in steps:
            if step.kind == "host":
                keep |= {s for s in step.kwargs["write"].values() if s is not None}

        body: list[str] = []
        for i, where_i in enumerate(where):
            if where_i.startswith("T"):
                w.ns[where_i] = named[i]
            else:
                body.append(f"T{i} = {where_i}")
                where[i] = f"T{i}"
        holds = dict(start)
        body += _reads(start, where, used)
        body += [f"v{k} = {at}" for k, at, _ in cap_scalars if k in used]  # (float arguments: scalars.py)
        w.folded, w.aliases = rewrites(steps + bwd_steps, tape.root, tape.inputs, tape.consts, keep - set(saved))
        release = _stale_gradients(start, end, used, holds, where)
        body += _body(w, steps, tape, keep, where, holds, used, release)
        body += _writes(end, holds, where)
        if bw is None:
            body.append(f"return {_render_output(output, {}, w.const)}")
        else:
            # the node's inputs: the tensors the backward pass gives a gradient (a tensor it found
            # but never reached, such as a global named like an attribute, is not one of them)
            leaves = "".join(f"{where[i]}, " for i, g in zip(bw.leaves, bw.grads) if g is not None)
            holes = {o: w.const(Hole(j), "hole") for j, o in enumerate(bw.outs)}
            rest = "None" if type(output) is Out else _render_output(output, holes, w.const)
            body.append(f"return ({''.join(f'v{o}, ' for o in bw.outs)}), ({''.join(f'v{k}, ' for k in saved)}), "
                        f"({leaves}), {rest}")
        w.lines = ["def replay(args, kwargs):"] + ["    " + line for line in body]
        run = w.compile("replay")
        source = "\n".join(w.lines)
        backward = None
        if bw is not None:
            b = _Writer()
            b.folded, b.aliases, b.fusion, b.fused, b.table = w.folded, w.aliases, fusion, w.fused, w.table
            b.buffers = False  # (it runs when the graph's backward does, outside the plan's lock: no buffers)
            grads = "".join(f"v{g}, " for g in bw.grads if g is not None)
            lines = [f"({''.join(f'v{k}, ' for k in saved)}) = saved", f"({''.join(f'v{k}, ' for k in bw.seeds)}) = gs"]
            lines += _body(b, bwd_steps, tape, {g for g in bw.grads if g is not None}, where, {}, set())
            lines.append(f"return ({grads})")
            b.lines = ["def backward(saved, gs):"] + ["    " + line for line in lines]
            backward = b.compile("backward")
            source += "\n\n" + "\n".join(b.lines)
        for k, c_source in enumerate(w.fused):
            source += f"\n\n/* fused loop {k} */\n{c_source}"
        reach: list | None = None
        fresh: tuple[bool, ...] = ()
        if bw is not None:
            inputs = [i for i, g in zip(bw.leaves, bw.grads) if g is not None]  # (the node's inputs, in order)
            reach = [frozenset(j for j, i in enumerate(inputs) if i in below) for below in bw.reach]
            fresh = fresh_results(bwd_steps, [g for g in bw.grads if g is not None], tape.root, b.folded, b.aliases)
        return Built(source, run, backward, w.table, threading.Lock() if w.planned else None, reach, fresh)

    return Plan(generate, guard_source, make_guard, steps + bwd_steps, snapshot, len(tape.steps))


def build_guard(lines: list[str], ns: dict[str, Any]) -> tuple[Callable[[], Callable[[tuple, dict], bool]], str]:
    """(a function that compiles the guard made of ``lines``, which name objects in ``ns``; its
    source).  The caller compiles it when the guard is first asked, not during the capture:
    the capture still holds every array of the step it ran, and Python's compiler takes about
    0.8 MiB for a while for a guard of 120 lines; the two together set a compiled training
    step's peak memory (w2: 1.1 MiB above eager's).  The compiling function's ``failing``
    compiles :func:`failing_check`'s twin of the guard."""
    g = _Writer()
    g.ns.update(ns)
    g.lines = ["def guard(args, kwargs):"] + ["    " + line for line in lines] + ["    return True"]

    def make() -> Callable[[tuple, dict], bool]:
        return g.compile("guard")

    make.failing = lambda: failing_check(lines, ns)  # type: ignore[attr-defined]
    return make, "\n".join(g.lines)


def failing_check(lines: list[str], ns: dict[str, Any]) -> Callable[[tuple, dict], str | None]:
    """The guard's twin that names the first check a call fails (its line; None if all hold):
    why a call was captured anew (``CompiledFunction.explain``, the recompile-limit warning).
    Compiled only when asked, after a call no guard accepted."""
    g = _Writer()
    g.ns.update(ns)
    body = [line[: -len("return False")] + f"return {k}, locals()" if line.endswith(": return False") else line
            for k, line in enumerate(lines)]
    g.lines = ["def failing(args, kwargs):"] + ["    " + line for line in body] + ["    return None"]
    check = g.compile("failing")

    def why(args: tuple, kwargs: dict) -> str | None:
        try:
            found = check(args, kwargs)
        except (AttributeError, IndexError, KeyError, TypeError) as e:
            return f"the guard raised {type(e).__name__}: {e}"
        if found is None:
            return None
        k, local = found
        condition = lines[k].strip().removeprefix("if ").removesuffix(": return False")
        for part in _alternatives(condition):  # (the one that holds, of ``x or y or z``)
            try:
                if eval(part, g.ns, local):  # noqa: S307  (the guard's own text)
                    condition = part
                    break
            except Exception:  # noqa: BLE001  (a part that needs an earlier one false: keep the whole)
                break
        # ``a`` is the array of the tensor the line before names (``a = args[0]._array``)
        named = [line.strip()[4:] for line in lines[:k] if line.strip().startswith("a = ")]
        return re.sub(r"\ba\b", named[-1], condition) if named else condition

    return why


def _alternatives(condition: str) -> list[str]:
    """The parts of ``condition`` joined by ``or`` outside brackets."""
    parts, depth, start = [], 0, 0
    for j, ch in enumerate(condition):
        depth += ch in "([{"
        depth -= ch in ")]}"
        if depth == 0 and condition.startswith(" or ", j):
            parts.append(condition[start:j])
            start = j + 4
    return parts + [condition[start:]]


def _body(w: _Writer, steps: list, tape: Any, keep: set[int], where: list[str], holds: dict, used: set[int],
          release: Sequence[str] = ()) -> list[str]:
    """The lines of ``steps``; a large array's local is deleted after its last use unless in ``keep``.

    ``release``: the lines that let go of what the tensors held at the start and the plan never
    reads (:func:`_stale_gradients`); they come right after the last step that may diverge (a
    value guard), since a replay that diverges hands the call to eager with everything as it was."""
    private = private_slots(tape.root, tape.inputs, tape.pinned)
    if w.fusion and native.enabled():
        steps = schedule(steps, tape.shapes, tape.dtypes, w.aliases, w.folded, private, tape.value_shaped.keys())
    after_guards = 1 + max((i for i, st in enumerate(steps) if _may_diverge(st)), default=-1)
    last: dict[int, int] = {}
    for i, step in enumerate(steps):
        for s in step_uses(step):
            last[s] = i
    groups = {}
    if w.fusion:
        groups = fuse(steps, tape.shapes, tape.dtypes, w.aliases, w.folded,
                      lambda s, i: s in keep or last.get(s, -1) > i, private, tape.value_shaped.keys())
    inside = {i for g in groups.values() for i in range(g.first + 1, g.last + 1)}
    planned = plan_buffers(steps, groups, inside, tape, keep, w.aliases, w.folded) if w.buffers else {}
    w.planned.update(planned)

    def fixed_value(s: int) -> Any:
        """The array slot s is on every replay (a constant; a planned buffer, but not one of one
        element, which a loop reads as a number: its value changes), else None."""
        while s in w.aliases:
            s = w.aliases[s]
        if s in planned:
            return planned[s] if planned[s].size > 1 else None
        return w.folded.get(s)

    unbound = {o for g in groups.values() for st in steps[g.first:g.last + 1] for o in step_outs(st)} - {
        o for g in groups.values() for o in g.outputs}
    body: list[str] = [] if after_guards else list(release)
    group_of = {k: n for n, g in enumerate(groups.values(), len(w.fused)) for k in range(g.first, g.last + 1)}
    for i, step in enumerate(steps):  # the table explain() prints: one row per step
        outs = step_outs(step)
        result = ", ".join(f"v{o} {tape.shapes[o]} {tape.dtypes[o]}" for o in outs) if outs else (
            f"writes v{step.writes[0]}" if step.writes else "")
        how = ("constant" if step.out in w.folded else "= an earlier array" if step.out in w.aliases
               else f"fused loop {group_of[i]}" if i in group_of else "")
        if any(o in planned for o in outs):
            how = (how + ", " if how else "") + "planned buffer"
        w.table.append((step.kind, step.label.split(" at ")[0], result, how))
    for i, step in enumerate(steps):
        if i == after_guards and i:
            body.extend(release)
        if i in groups:
            g = groups[i]
            w.fused.append(g.source)
            call, fixed = g.call, {}
            if g.outputs[0] in planned and g.into is not None:  # into planned buffers; inputs the same
                found = {k: fixed_value(s) for k, s in enumerate(g.inputs)}  # every replay are no arguments
                fixed = {k: v for k, v in found.items() if v is not None}
                call = g.into([planned[o] for o in g.outputs], fixed)
            args = [s for k, s in enumerate(g.inputs) if k not in fixed]
            for st in steps[g.first:g.last + 1]:  # the constants the loop reads as arguments, or
                # that are read after it (the graph a call returns keeps them for its backward)
                if st.out in w.folded and (st.out in args or st.out in keep or last.get(st.out, -1) > g.last):
                    body.extend(_step_lines(w, st, i, where, holds, used))
            targets = ", ".join(f"v{o}" for o in g.outputs)  # (one output: the array; several: a tuple)
            body.append(f"{targets} = {w.const(call, 'fused')}({', '.join(f'v{s}' for s in args)})")
        elif i not in inside and is_allocation(step) and step.out in planned:
            body.append(f"v{step.out} = {w.const(planned[step.out], 'buf')}")
        elif i not in inside:
            if is_product(step):
                if step.out in planned:
                    step = step._replace(kwargs={"out": planned[step.out]})
                a, b = (tape.shapes[x.slot] if type(x) is Ref and x.slot not in tape.value_shaped else None
                        for x in step.args)  # (a shape that follows values may take the other path)
                dot = matmul_for(a, b, tape.dtypes[step.out])
                if dot is not None:  # (shapes that never take the oneDNN path: NumPy's product itself)
                    step = step._replace(fn=dot, label="np.dot")
            body.extend(_step_lines(w, step, i, where, holds, used))
        if step.kind == "host":
            holds.clear()
            holds.update(step.kwargs["read"])
        for s in set(step_uses(step)):
            if last.get(s) == i and s not in keep and s not in tape.inputs and s not in unbound \
                    and math.prod(tape.shapes[s]) >= FREE_AT:
                body.append(f"del v{s}")
    return body


def _may_diverge(step: Any) -> bool:
    """Whether the replay of ``step`` may raise :class:`Diverged`: a value guard, or a call with
    Python values among its results, which must come out as captured (:func:`_lhs`)."""
    def fixed(pattern: Any) -> bool:
        return type(pattern) is Fixed or type(pattern) is tuple and any(fixed(p) for p in pattern)

    return step.kind == "guard" or fixed(step.out)


def _stale_gradients(start: dict, end: dict, used: set[int], holds: dict, where: list[str]) -> list[str]:
    """The lines that drop the gradients the tensors held at the start, where the plan neither
    reads them (no step, no host step) nor leaves them in place at the end: a step that begins
    with ``zero_grad()`` (``set_to_none=True``).  Eager lets go of them there, before backward
    makes the new ones; a replay that kept them until its write-back would hold both sets at
    its peak.  ``holds`` learns that the tensors hold None now."""
    lines = []
    for (i, field), s in start.items():
        if field == "grad" and s is not None and s not in used and end.get((i, field)) != s:
            lines.append(f"{where[i]}.grad = None")
            holds[(i, field)] = None
    return lines


def _reads(holds: dict, where: list[str], used: set[int]) -> list[str]:
    lines = []
    for (i, field), s in holds.items():
        if s is None or s not in used:
            continue
        lines.append(f"v{s} = {where[i]}._array" if field == "array" else f"v{s} = {where[i]}.grad._array")
    return lines


def _writes(want: dict, holds: dict, where: list[str]) -> list[str]:
    """Write back each (tensor, field) whose slot changed since the plan last knew it."""
    lines = []
    for (i, field), s in want.items():
        if holds.get((i, field)) == s:
            continue
        if field == "array":
            lines.append(f"{where[i]}._array = asarray(v{s})")
        elif s is None:
            lines.append(f"{where[i]}.grad = None")
        else:
            lines.append(f"{where[i]}.grad = W(v{s})")
    return lines


def _step_lines(w: _Writer, step: Any, i: int, where: list[str], holds: dict, used: set[int]) -> list[str]:
    checks: list[str] = []
    lhs = "" if step.out is None else _lhs(w, step.out, checks, i) + " = "
    return _one_step(w, step, i, where, holds, used, lhs) + checks


def _one_step(w: _Writer, step: Any, i: int, where: list[str], holds: dict, used: set[int], lhs: str) -> list[str]:
    kind = step.kind
    if step.out in w.folded:
        return [f"{lhs}{w.const(w.folded[step.out], 'k')}"]
    if step.out in w.aliases:
        return [f"{lhs}v{w.aliases[step.out]}"]
    if kind == "call":
        name = step.label.replace("m.", "m_").replace("np.", "np_").replace(".", "_")
        return [f"{lhs}{w.const(step.fn, name if name.isidentifier() else 'f')}({w.call_args(step.args, step.kwargs)})"]
    if kind == "method":
        return [f"{lhs}{w.render(step.args[0])}.{step.fn}({w.call_args(step.args[1:], step.kwargs)})"]
    if kind == "draw":
        return [f"{lhs}gen().{step.fn}({w.call_args(step.args, step.kwargs)})"]
    if kind == "op":
        text = OPERATORS[step.fn][0].format(*(w.render(a) for a in step.args))
        return [f"{lhs}{text}"]
    if kind == "guard":
        value = step.kwargs["value"]
        read = _READERS[step.fn].format(w.render(step.args[0]))
        if step.fn == "host":
            return [f"if not np.array_equal({read}, {w.const(value)}): raise Diverged({i}, 'host')"]
        how = "bool" if isinstance(value, (bool, np.bool_)) else step.fn  # (``if t:`` reads .item())
        return [f"if {read} != {w.render(value)}: raise Diverged({i}, {how!r})"]
    if kind == "host":
        lines = _writes(step.kwargs["write"], holds, where)
        lines.append(f"{w.const(step.fn, 'H')}({w.call_args(step.args, step.kwargs['call'])})  "
                     f"# host step: {step.label}")
        lines += _reads(step.kwargs["read"], where, used)
        return lines
    raise ValueError(kind)


def _render_output(x: Any, holes: dict[int, str], const: Callable[[Any], str]) -> str:
    """Source text for the returned value: an output as its array wrapped (or its hole, see
    :class:`Hole`), a returned read (:class:`Read`) read again, containers rebuilt, a namedtuple
    through its class (``const`` names it)."""
    if type(x) is Out:
        return holes[x.slot] if x.slot in holes else f"W(v{x.slot})"
    if type(x) is Read:  # a value the function read only to return it: read again
        return READS[x.method][1].format(f"v{x.slot}")
    if type(x) is tuple:
        return "(" + "".join(_render_output(v, holes, const) + ", " for v in x) + ")"
    if named_tuple(x):
        return f"{const(type(x))}(" + ", ".join(_render_output(v, holes, const) for v in x) + ")"
    if type(x) is list:
        return "[" + ", ".join(_render_output(v, holes, const) for v in x) + "]"
    if type(x) is dict:
        return "{" + ", ".join(f"{k!r}: {_render_output(v, holes, const)}" for k, v in x.items()) + "}"
    if type(x) is Instance:  # a dataclass: its class called, or (with holes: api.py fills them) a template
        fields = {k: _render_output(v, holes, const) for k, v in x.fields.items()}
        if not any(s in holes for s in _output_slots(x)):
            return f"{const(x.cls)}(" + ", ".join(f"{k}={v}" for k, v in fields.items()) + ")"
        return f"{const(Instance)}({const(x.cls)}, {{" + ", ".join(f"{k!r}: {v}" for k, v in fields.items()) + "})"
    return repr(x)
