"""Capture, stage 2: run the function once on traced arrays and keep what a plan needs.

:func:`capture` finds the tensors a call reads and writes — its tensor arguments, and the
parameters and buffers of the Modules, optimisers and schedulers it can reach (arguments,
closure, the globals its code names: ``reach.py``) — replaces each one's array (and its
gradient's) by a traced input, runs the call with the traced table active, and puts the real
arrays back.
The result, a :class:`Captured`, holds the tape and everything around it:

* ``tracked``: the tensors whose arrays (``field`` 'array') and gradients ('grad') the plan
  reads at its start and writes back at its end;
* ``start``/``end``: the slot each (tensor, field) held at the start and at the end (None: no
  gradient); the plan writes back only what changed;
* host steps (``Step.kind == 'host'``) carry, in their kwargs, what to write back before the
  call and which slots to read again after it;
* ``output``: the returned value with each tensor replaced by the slot of its array;
* ``facts``, ``training``, ``grad_enabled``, ``names``: what the call assumed (shapes, dtypes,
  ``requires_grad``, gradients present or not, ``training`` flags, grad mode, the objects the
  function's names were bound to), which api.py turns into the guard.
"""

from __future__ import annotations

import dataclasses
import threading
import weakref
from collections.abc import Iterator, Sequence
from typing import Any, Callable, NamedTuple

import numpy as np

from chainrule.autograd import grad_mode, host_steps
from chainrule.autograd.graph import toposort
from chainrule.autograd.tensor import Tensor
from chainrule.backend import random as _random
from chainrule.backend import registry
from chainrule.compiler.reach import changed_state, find_state, leaves_of, python_state, stateful
from chainrule.compiler.returned import Read, at_path, constants, instruction_at, put, returned_reads
from chainrule.compiler.scalars import counts, plain_result, settle, stand_in
from chainrule.compiler.trace import CURRENT, Ref, Step, Tape, TraceArray, TraceMath, TracingGenerator
from chainrule.nn.module import Module
from chainrule.ops.creation import making_with
from chainrule.optim.lr_scheduler import LRScheduler
from chainrule.optim.optimizer import Optimizer, has_step_hooks

registry.register_tracer(TraceArray, TraceMath, lambda a: a._tape.read(a, "host", "x.numpy()"), lambda a: a._a)



class Out(NamedTuple):
    """A returned tensor: the slot of its array."""

    slot: int


class Hole(NamedTuple):
    """Where output ``at`` of a compiled Module's outputs with graphs goes in the returned value
    a replay builds (api.py puts the tensor there)."""

    at: int


class Backward(NamedTuple):
    """The backward pass of the returned tensors whose graphs the caller will use (a compiled
    Module's output; ``(logits, loss)``): the tape's steps from ``start`` on, with the gradient
    of output slot ``outs[j]`` in slot ``seeds[j]``, computing the gradient of tracked tensor
    ``leaves[i]`` into slot ``grads[i]`` (None: it got none)."""

    start: int
    outs: list[int]
    seeds: list[int]
    leaves: list[int]
    grads: list[int | None]
    reach: list[frozenset] = []  # per output: the tracked tensors (their indices) below it


class Captured(NamedTuple):
    tape: Tape
    tracked: list[Tensor]
    start: dict[tuple[int, str], Any]
    end: dict[tuple[int, str], Any]
    output: Any
    modules: list[Module]
    names: list[tuple[Any, str, Any]]
    grad_enabled: bool
    result: Any
    facts: list[tuple]  # per tracked tensor at the start: shape, dtype, requires_grad, grad (shape, dtype), class
    training: list[bool]  # per module at the start
    backward: Backward | None  # the returned tensor's backward pass, when its graph is still needed
    code_names: frozenset  # the names the function's code reads (attributes among them)
    # per float argument (scalars.py): its slot, where the replay reads it (``args[1]``), and
    # whether it stayed an input (False: it escaped, and the guard checks its value)
    scalars: tuple = ()


def state_tensor_ids(cap: Captured) -> set[int]:
    """The ids of the tensors a captured call reaches otherwise than through its arguments: the
    parameters, buffers and tensor attributes of its Modules, and what the names it reads hold."""
    found: list[Any] = list(cap.modules)
    for _, _, obj in cap.names:
        found.extend(leaves_of(obj))
    return {id(t) for t in stateful(found)[1]}


class _Capture:
    """The capture in progress: lifts the tracked tensors, answers host steps."""

    def __init__(self, tape: Tape, tracked: list[Tensor]) -> None:
        self.thread = threading.get_ident()
        self.tape = tape
        self.tracked = tracked
        self.holds: dict[tuple[int, str], Any] = {}  # (i, field) -> the slot the tensor holds now
        # the gradient tensors given traced arrays by lift(), weakly: one the call lets go of
        # (zero_grad(set_to_none=True)) and nobody else holds is freed then, as in eager
        self.lifted_grads: list[weakref.ref[Tensor]] = []

    def lift(self, kept: dict[tuple[int, str], tuple[Any, int]] | None = None) -> dict[tuple[int, str], Any]:
        """Replace each tracked tensor's array (and gradient's) by a traced input.  ``kept``:
        after a host step, (i, field) -> (the real array it was given back, its slot) for the
        tensors the step does not write: one still holding that array keeps its slot (a value
        guard that reads it may then move before the step: plan.hoist_guards)."""
        kept = kept or {}

        def traced(a: Any, key: tuple[int, str]) -> TraceArray:
            if key in kept and kept[key][0] is a:
                return TraceArray(a, kept[key][1], self.tape)
            return self.tape.input(a)

        for i, t in enumerate(self.tracked):
            a = t._array
            if type(a) is TraceArray:  # left behind by an earlier capture
                a = a._a
            ta = traced(a, (i, "array"))
            t._array = ta  # type: ignore[assignment]
            self.holds[(i, "array")] = ta.slot
            g = t.grad
            if g is None:
                self.holds[(i, "grad")] = None
            else:
                ga = g._array._a if type(g._array) is TraceArray else g._array
                tg = traced(ga, (i, "grad"))
                g._array = tg  # type: ignore[assignment]
                self.lifted_grads.append(weakref.ref(g))
                self.holds[(i, "grad")] = tg.slot
        return dict(self.holds)

    def untouched(self, fn: Callable[..., Any], args: tuple, kwargs: dict) -> frozenset[int] | None:
        """The tracked tensors (their indices) that host step ``fn(*args, **kwargs)`` does not
        write, where that is known: an optimizer's step (no closure) and a scheduler's write
        the optimizer's parameters, gradients, state and group values only; another object
        may say what its host steps write (``host_step_writes``: a GradScaler).  None: unknown."""
        obj = args[0] if args else None
        if any(isinstance(a, Optimizer) and has_step_hooks(a) for a in args[:2]):  # (a step hook runs anything;
            return None  # the replay calls it again: the guard recaptures when the hooks come or go)
        declared = None if isinstance(obj, (Optimizer, LRScheduler)) else getattr(obj, "host_step_writes", None)
        if declared is not None:  # (an object that says what its host steps write: a GradScaler)
            found = declared(fn.__name__, args[1:], kwargs)
            if found is None:
                return None
            written = set().union(*(_written_by(x) if isinstance(x, Optimizer) else {id(x)} for x in found))
        else:
            opt = obj if isinstance(obj, Optimizer) else getattr(obj, "optimizer", None) \
                if isinstance(obj, LRScheduler) else None
            if not isinstance(opt, Optimizer) or kwargs or len(args) > 1:  # (a closure runs anything)
                return None
            written = _written_by(opt)
        arrays = [a for t in self.tracked if id(t) in written for _, a in self._arrays_of(t)]
        # (a tensor that shares memory with one the step writes is written too, whatever its name)
        return frozenset(i for i, t in enumerate(self.tracked) if id(t) not in written and not any(
            np.may_share_memory(a, b) for _, a in self._arrays_of(t) for b in arrays))

    def settle(self) -> dict[tuple[int, str], Any]:
        """Put the real arrays back into the tracked tensors; return the slot each one held
        (a tensor given an array that is not traced breaks the tape: the plan could only
        give it that same array again)."""
        held: dict[tuple[int, str], Any] = {}
        for i, t in enumerate(self.tracked):
            a = t._array
            if type(a) is TraceArray:
                t._array = np.asarray(a._a)  # (a NumPy scalar becomes a 0-d array, as Tensor._wrap makes it)
                held[(i, "array")] = a.slot
            else:
                self.tape.broken("a tracked tensor was given an array made outside the traced table")
                held[(i, "array")] = None
            g = t.grad
            if g is None:
                held[(i, "grad")] = None
            elif type(g._array) is TraceArray:
                held[(i, "grad")] = g._array.slot
                g._array = np.asarray(g._array._a)
            else:
                self.tape.broken("a gradient was given an array made outside the traced table")
                held[(i, "grad")] = None
        for ref in self.lifted_grads:  # a gradient the call let go of (zero_grad(set_to_none=True)),
            g = ref()  # which the caller may still hold
            if g is not None and type(g._array) is TraceArray:
                g._array = np.asarray(g._array._a)
        self.lifted_grads.clear()
        return held

    def host_call(self, fn: Callable[..., Any], args: tuple, kwargs: dict) -> Any:
        """A host step during the capture: settle, run it on real arrays, lift again, record."""
        tape = self.tape
        if any(isinstance(a, Tensor) and type(a._array) is TraceArray for a in (*args[1:], *kwargs.values())):
            tape.broken(f"host step {fn.__qualname__} was given a tensor computed in the function")
        for opt in [a for a in args[:2] if isinstance(a, Optimizer)]:  # (opt.step(), scaler.step(opt)): its
            tracked = {id(t) for t in self.tracked}  # parameters' gradients must be written back
            if any(id(p) not in tracked for g in opt.param_groups for p in g["params"]):
                tape.broken(f"{fn.__qualname__} updates parameters the capture did not find; pass the optimizer, "
                            "its model or the object holding them to the function (an argument, a closure or a "
                            "global name)")
        before = self.settle()
        untouched = self.untouched(fn, args, kwargs)
        given = {} if untouched is None else {  # (the real arrays settle gave back, and their slots)
            (i, field): (a, before[(i, field)]) for i in untouched for field, a in self._arrays_of(self.tracked[i])
            if before.get((i, field)) is not None}
        saved = (CURRENT[0], host_steps.ACTIVE[0])
        gen = _random._STATE["generator"]
        CURRENT[0] = host_steps.ACTIVE[0] = None
        if type(gen) is TracingGenerator:
            _random._STATE["generator"] = gen.real
        try:
            with making_with(None):
                res = fn(*args, **kwargs)
        finally:
            CURRENT[0], host_steps.ACTIVE[0] = saved
            if type(gen) is TracingGenerator and _random._STATE["generator"] is not gen.real:
                tape.broken("a host step replaced the default generator")
            _random._STATE["generator"] = gen
            after = self.lift(given)
        if res is not None:
            tape.broken(f"host step {fn.__qualname__} returned a value (a plan would return the captured one)")
        tape.steps.append(Step("host", fn, args, {"write": before, "read": after, "call": kwargs,
                                                  "untouched": untouched}, None, fn.__qualname__))
        return res

    @staticmethod
    def _arrays_of(t: Tensor) -> list[tuple[str, Any]]:
        """(field, array) of tensor ``t`` and of its gradient (real arrays, after settle)."""
        return [("array", t._array)] + ([] if t.grad is None else [("grad", t.grad._array)])


def _written_by(opt: Optimizer) -> set[int]:
    """The ids of the tensors an optimiser's step (no closure) may write: its parameters (and
    their gradients), tensor group values, and its state."""
    written = {id(v) for g in opt.param_groups for v in (*g["params"], *g.values()) if isinstance(v, Tensor)}
    return written | {id(v) for st in opt.state.values() if isinstance(st, dict) for v in st.values()
                      if isinstance(v, Tensor)}


def capture(fn: Callable[..., Any], args: tuple, kwargs: dict, arg_tensors: list[Tensor],
            fullgraph: bool = False, arg_objects: Sequence[tuple[str, Any]] = (), floats: bool = True) -> Captured:
    """Run ``fn(*args, **kwargs)`` once, eagerly, on traced arrays (see the module docstring).

    The call's effects are those of an eager call; its exceptions propagate (after the real
    arrays are back in place).  ``arg_objects``: (where, object) for the user's objects among
    the arguments (a config), whose Python values a replay would not change: compared before
    and after, as the names the function reads.  ``floats``: the top-level float arguments may be
    inputs of the plan (scalars.py; False: ``specialize_float``)."""
    modules, tracked, named, code_names = find_state(fn, args, kwargs, arg_tensors)
    tape = Tape(fullgraph)
    cap = _Capture(tape, tracked)
    facts = [_facts(t) for t in tracked]
    training = [bool(m.training) for m in modules]
    grad_enabled = grad_mode.is_grad_enabled()
    elsewhere = [t for t in tracked if not isinstance(_real(t._array), np.ndarray)]
    if elsewhere:  # the plan runs NumPy: a call on another device stays eager
        tape.broken(f"tensors on device {elsewhere[0].device}: the compiled mode runs on the CPU back end")
        tape.active = False
        result = fn(*args, **kwargs)
        return Captured(tape, tracked, {}, {}, None, modules, named, grad_enabled, result, facts, training, None,
                        code_names)
    real_gen = _random._STATE["generator"]
    state_before = python_state(modules, named, arg_objects)
    args, kwargs, stand_ins = stand_in(args, kwargs, tape.scalar) if floats else (args, kwargs, [])
    held = counts(stand_ins)
    start = cap.lift()
    CURRENT[0], host_steps.ACTIVE[0] = tape, cap
    _random._STATE["generator"] = TracingGenerator(real_gen, tape)
    backward = None
    with making_with(TraceMath):  # (the arrays the call makes are traced too)
        try:
            result = plain_result(fn(*args, **kwargs))
            output = _outputs(result, tape)
            for guard, paths, read in returned_reads(tape.reads, result):  # (``return loss.item()``)
                tape.steps = [st for st in tape.steps if st is not guard]
                for path in paths:
                    output = put(output, path, read)
            frame = tape.frame
            literal = [] if not frame else constants(frame.f_code, instruction_at(frame.f_code, frame.f_lasti))
            _check_returned_values(output, tape, [path for path, c in literal if at_path(result, path) is c])
            graphs = [t for t in tensors_in(result) if needs_graph(t)]
            # (a call that already cannot be replayed needs no backward plan; tracing one would
            # also run the Python its backward calls, a Module's backward hooks, one time too many)
            if graphs and not tape.breaks and all(type(t._array) is TraceArray for t in graphs):
                backward = _capture_backward(tape, graphs, tracked)
        finally:
            tape.reads.clear()  # (their sites hold the call's frame, and so its arrays)
            tape.frame = None
            CURRENT[0] = host_steps.ACTIVE[0] = None
            if type(_random._STATE["generator"]) is TracingGenerator:
                _random._STATE["generator"] = _random._STATE["generator"].real
            else:
                tape.broken("the function replaced the default generator (manual_seed)")
            tape.active = False
            end = cap.settle()
    _settle_outputs(result)
    # Python state the call changed (a side effect a replay would not repeat): often once, a
    # cache filled at the first call, so the next call may capture again (api.py)
    changes = [f"the function stored a tensor in an attribute of {type(m).__name__}" for m in modules
               for v in vars(m).values() if isinstance(v, Tensor) and type(v._array) is TraceArray]
    changes += [f"the function changed {what}, a Python side effect a replay would not repeat"
                for what in changed_state(state_before, python_state(modules, named, arg_objects))]
    for reason in dict.fromkeys(changes):
        tape.broken(reason)
        tape.side_effects.append(reason)
    frame = None  # (the call's frame holds its arguments)
    del state_before, args, kwargs
    settle(stand_ins, [n - 1 for n in held])  # (less the call's args or kwargs, let go of above)
    scalars = tuple((s.slot, where, not s.escaped) for s, where in stand_ins)
    return Captured(tape, tracked, start, end, output, modules, named, grad_enabled, result, facts, training,
                    backward, code_names, scalars)


def watched(tensors: tuple) -> bool:
    """Whether one of ``tensors`` has a hook, a post-accumulate-grad hook or ``retain_grad`` (Python
    that backward runs, which a replay cannot)."""
    for t in tensors:
        extra = getattr(t, "_extra", None)
        if extra and (extra.get("hooks") or extra.get("post_acc") or extra.get("retain_grad")):
            return True
    return False


def needs_graph(t: Tensor) -> bool:
    """Whether ``t``'s graph is there for a later backward: not a leaf, and no node of it freed
    by an earlier ``backward()`` (``logits.softmax(-1)`` after ``loss.backward()``).  Through a
    freed node a backward raises in eager too, so such a tensor is returned without a graph."""
    if not (t.requires_grad and t._op is not None):
        return False
    freed: list[Tensor] = []
    toposort([t], on_freed=freed.append)
    return not freed


def _capture_backward(tape: Tape, outs: list[Tensor], tracked: list[Tensor]) -> Backward:
    """Record the backward pass from ``outs`` to the tracked tensors that require grad, with
    traced seeds standing for the gradients the caller will pass (the graphs are kept for them)."""
    from chainrule.autograd.engine import grad as _grad

    start = len(tape.steps)
    seeds = [tape.input(np.ones(t._array.shape, t._array.dtype)) for t in outs]
    leaves = [i for i, t in enumerate(tracked) if t.requires_grad]
    seed_ts = [Tensor._wrap(seed) for seed in seeds]  # type: ignore[arg-type]
    grads = _grad(outs, [tracked[i] for i in leaves], grad_outputs=seed_ts, retain_graph=True, allow_unused=True)
    slots: list[int | None] = []
    for g in grads:
        ga = None if g is None else g._array
        if ga is not None and type(ga) is not TraceArray:
            tape.broken("a gradient was computed outside the traced table")
        slots.append(ga.slot if type(ga) is TraceArray else None)
    out_slots = [a.slot for a in (t._array for t in outs) if isinstance(a, TraceArray)]  # (all are: see capture)
    # which tracked tensors each output's graph reaches: a tensor only unused outputs reach gets
    # no gradient at replay (None, as eager leaves it), not a zero one (ReplayNode)
    index = {id(t): i for i, t in enumerate(tracked)}
    reach = [frozenset(index[id(t)] for t in toposort([o], leaves=True) if id(t) in index) for o in outs]
    return Backward(start, out_slots, [seed.slot for seed in seeds], leaves, slots, reach)


def _real(a: Any) -> Any:
    return a._a if type(a) is TraceArray else a


def _facts(t: Tensor) -> tuple:
    a = _real(t._array)
    g = t.grad
    return (a.shape, a.dtype, bool(t.requires_grad),
            None if g is None else (_real(g._array).shape, _real(g._array).dtype), type(a))


def named_tuple(x: Any) -> bool:
    """Whether ``x`` is a namedtuple of the function's (``Output(logits, loss)``): a returned
    value rebuilt field by field, as a tuple is (the plan's own markers, Out and Hole, are not)."""
    return isinstance(x, tuple) and type(x) not in (tuple, Out, Hole, Read) and hasattr(type(x), "_fields")


def returned_dataclass(x: Any) -> bool:
    """Whether ``x`` is a dataclass instance (``Output(logits=..., loss=...)``, a Hugging Face
    ``ModelOutput``): a returned value rebuilt by calling its class with its ``__init__`` fields."""
    return dataclasses.is_dataclass(x) and not isinstance(x, type)


class Instance:
    """A returned dataclass in a template (the plan's output, a replay's result before its
    tensors are in): its class and its ``__init__`` fields; :func:`instantiate` calls the class."""

    __slots__ = ("cls", "fields")

    def __init__(self, cls: type, fields: dict[str, Any]) -> None:
        self.cls, self.fields = cls, fields


def _parts(x: Any) -> Iterator[Any]:
    """``x`` and everything in it: the items of tuples, namedtuples and lists, the values of
    dicts, the fields of dataclasses, in order."""
    yield x
    if type(x) in (tuple, list) or named_tuple(x):
        items: Any = x
    elif type(x) is dict:
        items = x.values()
    elif returned_dataclass(x):
        items = [getattr(x, f.name) for f in dataclasses.fields(x)]
    else:
        return
    for v in items:
        yield from _parts(v)


def tensors_in(result: Any) -> Iterator[Tensor]:
    """The tensors in a returned value (a tensor, or tuples, namedtuples, lists, dicts and
    dataclasses of them)."""
    return (x for x in _parts(result) if isinstance(x, Tensor))


_NOT = object()  # (_items: not a container)


def _items(x: Any, each: Callable[[Any], Any]) -> Any:
    """``x``'s tuple, list, namedtuple or dict rebuilt with ``each(v)`` for each item ``v``;
    ``_NOT`` when ``x`` is none of them."""
    if type(x) in (tuple, list):
        return type(x)(each(v) for v in x)
    if named_tuple(x):
        return type(x)(*(each(v) for v in x))
    if type(x) is dict:
        return {k: each(v) for k, v in x.items()}
    return _NOT


def rebuild(x: Any, leaf: Callable[[Any], Any]) -> Any:
    """``x`` with its tuples, namedtuples, lists and dicts rebuilt and every other value ``v``
    in them replaced by ``leaf(v)``; a dataclass becomes an :class:`Instance` of its rebuilt
    ``__init__`` fields."""
    if returned_dataclass(x):
        return Instance(type(x), {f.name: rebuild(getattr(x, f.name), leaf) for f in dataclasses.fields(x) if f.init})
    y = _items(x, lambda v: rebuild(v, leaf))
    return leaf(x) if y is _NOT else y


def instantiate(x: Any, leaf: Callable[[Any], Any]) -> Any:
    """``x`` (a template) with each :class:`Instance` in it made an object of its class and
    every other value ``v`` replaced by ``leaf(v)`` (containers rebuilt), in one pass."""
    if type(x) is Instance:
        return x.cls(**{k: instantiate(v, leaf) for k, v in x.fields.items()})
    y = _items(x, lambda v: instantiate(v, leaf))
    return leaf(x) if y is _NOT else y


def _outputs(result: Any, tape: Tape) -> Any:
    """``result`` with each tensor replaced by Out(slot)."""

    def leaf(v: Any) -> Any:
        if isinstance(v, Tensor):
            a = v._array
            if type(a) is not TraceArray:
                tape.broken("the function returned a tensor made outside the traced table")
                return None
            return Out(a.slot)
        if v is None or isinstance(v, (bool, int, float, str)):
            return v
        tape.broken(f"the function returned a {type(v).__name__}")
        return None

    for t in filter(returned_dataclass, _parts(result)):  # (a replay calls the class with its __init__ fields only)
        late = [f.name for f in dataclasses.fields(t) if not f.init and isinstance(getattr(t, f.name), Tensor)]
        if late:
            tape.broken(f"the function returned a {type(t).__name__} with a tensor in {late[0]}, a field its "
                        "__init__ does not take")
    return rebuild(result, leaf)


def _check_returned_values(output: Any, tape: Tape, literal: list[tuple]) -> None:
    """Break the tape if the function returned a Python value other than None that is neither
    a constant of its code (``literal``: their paths, ``returned.constants``) nor a value it
    read only to return (``returned.py``): a replay would return this call's value again,
    whatever it comes from (a learning rate a scheduler has changed since, a counter)."""
    def values(x: Any, path: tuple) -> list:
        if x is None or type(x) in (Out, Read) or path in literal:
            return []
        if type(x) in (tuple, list) or named_tuple(x):
            return [v for j, part in enumerate(x) for v in values(part, path + (j,))]
        if type(x) is dict:
            return [v for k, part in x.items() for v in values(part, path + (k,))]
        if type(x) is Instance:
            return [v for k, part in x.fields.items() for v in values(part, path + (k,))]
        return [x]

    found = values(output, ())
    if found:
        v = found[0]
        tape.broken(f"the function returned the Python {type(v).__name__} {v!r}, which a replay would return "
                    "again, whatever it came from (a learning rate a scheduler changes, a counter); return "
                    "tensors, values read with .item() only to be returned, or constants")


def _settle_outputs(result: Any) -> None:
    """The returned tensors, and the graph behind them that the caller's backward() walks, hold
    NumPy arrays again.  Outside a capture a traced array still computes, but the compiled
    kernels take NumPy arrays only: a backward pass over the traced arrays a graph saved would
    take the NumPy fallbacks, which round differently from eager (layer norm's backward)."""
    seen: set[int] = set()
    stack = list(tensors_in(result))
    while stack:
        t = stack.pop()
        if id(t) in seen:
            continue
        seen.add(id(t))
        if type(t._array) is TraceArray:
            t._array = np.asarray(t._array._a)
        op = t._op
        if op is not None:
            stack.extend(_settle_fields(op))
            stack.extend(x for _, x in op.saved_others() if isinstance(x, Tensor))
        stack.extend(p for p in (t._parents or ()) if isinstance(p, Tensor))


def _settle_fields(op: Any) -> list[Tensor]:
    """Put real arrays in place of the traced ones a graph node keeps in its attributes (the
    statistics a primitive saved, one or several); return the tensors among them."""
    names = [n for c in type(op).__mro__ for n in getattr(c, "__slots__", ()) if n != "__weakref__"]
    names += list(getattr(op, "__dict__", {}))
    found: list[Tensor] = []
    for name in names:
        v: Any = getattr(op, name, None)
        if type(v) is TraceArray:
            setattr(op, name, np.asarray(v._a))
        elif type(v) in (tuple, list) and any(type(x) is TraceArray for x in v):
            setattr(op, name, type(v)(np.asarray(x._a) if type(x) is TraceArray else x for x in v))
        elif isinstance(v, Tensor):
            found.append(v)
    return found


__all__ = [
    "Captured", "Hole", "Instance", "Out", "Ref", "capture", "instantiate", "named_tuple", "needs_graph", "rebuild",
    "returned_dataclass", "state_tensor_ids", "tensors_in",
]
