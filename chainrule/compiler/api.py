"""``chainrule.compile``: capture once, replay a plan while its guard holds, else eager.

:class:`CompiledFunction` keeps a short list of entries, each a guard with either a plan
(replay it) or nothing (this kind of call stays eager: the capture could not be replayed,
and why is in ``compiled.explain()``).  A call that no guard accepts is captured: it runs
eagerly on traced arrays (capture.py), and its tape becomes a plan (plan.py).  When the
list is full (``recompile_limit``, ``settings.py``) further new kinds of call run eagerly, with a
warning.

A replay whose value guard fails (Python read a value that came out different this time)
runs the call eagerly instead; nothing outside the plan had changed at that point.
"""

from __future__ import annotations

import math
import re
import traceback
import types
import warnings
import weakref
from typing import Any, Callable, Sequence

import numpy as np

from chainrule.autograd import grad_mode, host_steps
from chainrule.autograd.grad_mode import HOOKS
from chainrule.autograd.primitive import Primitive, apply
from chainrule.autograd.tensor import Tensor
from chainrule.backend import get_default_dtype
from chainrule.compiler.capture import (
    Captured,
    Hole,
    capture,
    instantiate,
    named_tuple,
    needs_graph,
    state_tensor_ids,
    tensors_in,
    watched,
)
from chainrule.compiler.plan import Diverged, Plan, Unreplayable, build_guard, build_plan, give_back_heap
from chainrule.compiler.reach import guardable, user_class, user_object
from chainrule.compiler.settings import STANCE, config
from chainrule.compiler.trace import GraphBreak
from chainrule.nn.module import STRUCTURE as module_structure
from chainrule.nn.module import Module

_MODES = (None, "default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
STATE_RETRIES = 1  # captures a function may spend on calls that change Python state (a cache filled once)


class ReplayNode(Primitive):
    """A replayed forward as one graph node: its output was computed by the plan, its vjp is
    the plan's backward pass over the arrays the forward saved.  Its inputs are the tensors
    the gradient flows to (parameters, arguments that require grad).

    Several outputs with graphs (``return logits, loss``) are one node too: its output is them
    packed end to end in one flat array, and each returned tensor is a slice of it, reshaped
    (``parts``: (start, stop, shape) of each; None: the one output as it is).  The backward pass
    then runs once, with each output's gradient as the engine gave it to that output (zeros for an
    output nothing used).  Each slice is a :class:`_Part`, whose vjp marks its output as reached
    (``reached``): an input that only unreached outputs depend on (``reach``: per output, the
    inputs below it) gets no gradient, None, as eager leaves it, not a zero one.

    The gradients the backward pass makes anew (``fresh``, from the plan's structure:
    ``plan.fresh_results``) go to the engine as they are; the others (the output's gradient
    passed through, one array for two inputs) are copied here, so that the node keeps the
    promise of ``fresh_grads`` and a ``.grad`` never shares memory with another array."""

    __slots__ = ("backward", "y", "saved", "parts", "reach", "reached", "fresh", "part_grads")
    name = "compiled"
    saves_output = False
    fresh_grads = True

    def __init__(self, backward: Callable[[tuple, Any], tuple], y: Any, saved: tuple,
                 parts: list[tuple] | None = None, reach: list | None = None, fresh: tuple = ()) -> None:
        self.backward = backward
        self.y = y
        self.saved = saved
        self.parts = parts
        self.reach = reach
        self.reached: set[int] = set()
        self.fresh = fresh
        self.part_grads: dict[int, Any] = {}  # output k -> its gradient, as the engine gave it

    def forward(self, m: Any, *xs: Any) -> Any:
        y, self.y = self.y, None
        return y

    def vjp(self, m: Any, need: tuple, g: Any, y: Any, *xs: Any) -> tuple:
        if m.is_tensor:
            raise NotImplementedError("backward(create_graph=True) through a compiled Module: its backward pass "
                                      "is a replayed plan, not differentiable again; use the Module uncompiled")
        if self.parts is None:
            gs: tuple = (g,)
        else:  # (each output's own gradient array, in the memory order eager's backward would get it)
            got, self.part_grads = self.part_grads, {}
            gs = tuple(got[k] if k in got else m.zeros(shape, g.dtype) for k, (_, _, shape) in enumerate(self.parts))
        grads = self.backward(self.saved, gs)
        if self.parts is not None and self.reach is not None:
            reached, self.reached = self.reached, set()  # (a retained graph's next backward counts anew)
            below = set().union(*(self.reach[k] for k in reached))
            need = tuple(n and j in below for j, n in enumerate(need))
        fresh = self.fresh or (False,) * len(grads)
        return tuple((gr if fresh[j] else m.copy(gr)) if n else None for j, (gr, n) in enumerate(zip(grads, need)))


class _Part(Primitive):
    """Output ``k`` of a :class:`ReplayNode` with several: its slice ``[a:b]`` of the packed
    array, reshaped; its vjp tells the node that this output's gradient reached it."""

    __slots__ = ("node", "k", "a", "b", "shape")
    name = "compiled_output"
    saves_output = False

    def __init__(self, node: ReplayNode, k: int, a: int, b: int, shape: tuple) -> None:
        self.node, self.k, self.a, self.b, self.shape = node, k, a, b, shape

    def saved_inputs(self, need: tuple) -> Any:
        return ()

    def forward(self, m: Any, packed: Any) -> Any:
        return packed[self.a:self.b].reshape(self.shape)

    def vjp(self, m: Any, need: tuple, g: Any, y: Any, packed: Any) -> tuple:
        # The node takes this output's gradient as it is: cut from a packed copy it would be
        # C-ordered where eager's may be F-ordered (a transposed product's), and NumPy sums
        # the two orders differently (a bias gradient's last bits).  The packed array's
        # gradient is then only the engine's way to the node: zeros, broadcast.
        self.node.reached.add(self.k)
        self.node.part_grads[self.k] = g
        return (m.broadcast_to(m.zeros((), g.dtype), packed.shape),)


def _with_graphs(backward: Callable[[tuple, Any], tuple], ys: tuple, saved: tuple, leaves: tuple, rest: Any,
                 reach: list | None = None, fresh: tuple = ()) -> Any:
    """A replayed Module's returned value, its outputs joined to one graph node (ReplayNode)."""
    if rest is None:  # the function returned that one tensor
        return apply(ReplayNode(backward, ys[0], saved, fresh=fresh), *leaves)
    parts, at = [], 0
    for y in ys:
        parts.append((at, at + y.size, y.shape))
        at += y.size
    flat = np.empty(at, ys[0].dtype)
    for (a, b, shape), y in zip(parts, ys):  # (one copy of each output, whatever its layout)
        flat[a:b].reshape(shape)[...] = y
    node = ReplayNode(backward, flat, saved, parts, reach, fresh)
    packed = apply(node, *leaves)
    return _fill(rest, [apply(_Part(node, k, a, b, shape), packed) for k, (a, b, shape) in enumerate(parts)])


def _fill(x: Any, outs: list) -> Any:
    return instantiate(x, lambda v: outs[v.at] if type(v) is Hole else v)


class Entry:
    """One kind of call: its guard, its plan (None: such calls run eagerly) and why not.  The
    guard is compiled at its first call (``plan.build_guard`` says why), which then puts the
    compiled function in its place."""

    __slots__ = ("guard", "plan", "reason", "guard_source", "make_failing", "because")
    guard: Callable[[tuple, dict], bool]

    def __init__(self, make_guard: Callable[[], Callable[[tuple, dict], bool]], plan: Plan | None, reason: str,
                 guard_source: str) -> None:
        def first(args: tuple, kwargs: dict) -> bool:
            self.guard = make_guard()
            give_back_heap()  # (what the compiler freed, before a first replay compiles its own source)
            return self.guard(args, kwargs)

        self.guard = first
        self.plan = plan
        self.reason = reason
        self.guard_source = guard_source
        self.make_failing = getattr(make_guard, "failing", None)  # (plan.failing_check, compiled when asked)
        self.because: str | None = None  # the check of the entry asked first that the capturing call failed

    def failing(self, args: tuple, kwargs: dict) -> str | None:
        """The first check of this entry's guard that the call fails (None: none, or unknown).
        Compiled anew at each ask, which is rare (a new capture), and not kept."""
        return None if self.make_failing is None else self.make_failing()(args, kwargs)


class CompiledFunction:
    """``fn`` compiled (see :func:`chainrule.compile`); call it as ``fn``."""

    def __init__(self, fn: Callable[..., Any], fullgraph: bool = False, dynamic: bool | None = None,
                 mode: str | None = None, cache_size_limit: int | None = None, fusion: bool = True,
                 buffers: bool = True, name: str | None = None) -> None:
        if not callable(fn):
            raise TypeError(f"chainrule.compile: expected a function or a Module, got {type(fn).__name__}")
        if mode not in _MODES:
            raise RuntimeError(f"chainrule.compile: unknown mode {mode!r}; expected one of {_MODES[1:]}")
        self.fn = fn
        self.fullgraph = fullgraph
        self.dynamic = dynamic
        self.mode = mode
        self.cache_size_limit = cache_size_limit  # None: config.recompile_limit, read at each new kind of call
        self.name = name or getattr(fn, "__qualname__", type(fn).__name__)
        self.fusion = fusion
        self.buffers = buffers
        self.entries: list[Entry] = []  # in the order they were captured
        self._asking: list[Entry] = []  # the same, the one that answered last first (asked in this order)
        self.stats = {"captures": 0, "replays": 0, "eager": 0, "diverged": 0}
        self._warned = False
        self._state_retries = 0  # captures that only changed Python state, given no entry (_capture)
        _ALL.add(self)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        stance = STANCE[0]  # (torch.compiler.set_stance)
        if _SETTINGS["disable"] or stance == "force_eager":  # (and torch._dynamo.config.disable)
            return self._eager(args, kwargs)
        if stance == "eager_then_compile" and not any(self.stats.values()):  # (its first call)
            return self._eager(args, kwargs)
        if grad_mode.DIFFERING and grad_mode.STATE.mode == grad_mode.SPECIAL:  # forward AD, anomaly mode, profiler
            return self._eager(args, kwargs)
        if host_steps.ACTIVE[0] is not None:  # called inside another capture: part of that one
            return self.fn(*args, **kwargs)
        entries = self._asking
        branch = False  # a plan of this kind of call met the other side of an ``if`` it captured
        for k, e in enumerate(entries):
            try:
                ok = e.guard(args, kwargs)
            except (AttributeError, IndexError, KeyError, TypeError):
                ok = False
            if ok:
                if e.plan is None:
                    if k and not branch:  # (one behind a plan's other branch stays behind it)
                        entries.insert(0, entries.pop(k))
                    return self._eager(args, kwargs)
                try:
                    out = e.plan.run(args, kwargs)
                except Diverged as d:
                    self.stats["diverged"] += 1
                    if len(d.args) > 1 and d.args[1] == "bool":  # (another plan may hold the other side)
                        branch = True
                        continue
                    return self._eager(args, kwargs)
                if k:  # (the entry that answered last is asked first next time: a training loop's
                    entries.insert(0, entries.pop(k))  # steps after the first two are all one kind)
                self.stats["replays"] += 1
                if e.plan.backward is not None:  # a Module's outputs: one graph node whose vjp is the backward plan
                    ys, saved, leaves, rest = out
                    return _with_graphs(e.plan.backward, ys, saved, leaves, rest, e.plan.reach, e.plan.fresh)
                return out
        if self.entries and stance in ("eager_on_recompile", "fail_on_recompile"):
            if stance == "fail_on_recompile":
                raise RuntimeError(f"chainrule.compile: {self.name} would capture a new kind of call (no plan's guard "
                                   "holds), and the stance is 'fail_on_recompile' (torch.compiler.set_stance)")
            return self._eager(args, kwargs)
        full = self._full()
        if full:
            if not self._warned:
                self._warned = True
                why = entries[0].failing(args, kwargs) if entries else None
                hint = ""
                if why and re.fullmatch(r"(args\[\d+\]|kwargs\[[^]]+\]) != .*", why):
                    hint = ("; an int argument, or a float the function uses in Python (an `if`, arithmetic, a size), "
                            "that changes from call to call makes a plan per value: pass it as a tensor "
                            "(cr.tensor(step)), whose values a replay reads")
                warnings.warn(f"chainrule.compile: {full}; new kinds of call to {self.name} run eagerly"
                              + (f" (this call fails the check `{why}` of the kind of call seen last{hint})"
                                 if why else ""), stacklevel=2)
            return self._eager(args, kwargs)
        return self._capture(args, kwargs, branch, entries[0] if entries and not branch else None)

    def _full(self) -> str:
        """Why this function may capture no further kind of call ('' while it may)."""
        limit = config.recompile_limit if self.cache_size_limit is None else self.cache_size_limit
        if len(self.entries) >= limit:
            return f"{limit} kinds of call captured already (recompile_limit)"
        total = config.accumulated_recompile_limit
        if sum(len(f.entries) for f in list(_ALL)) >= total:
            return f"{total} kinds of call captured by all compiled functions together (accumulated_recompile_limit)"
        return ""

    def __get__(self, instance: Any, owner: Any = None) -> Any:
        """A compiled function in a class body (``@torch.compile`` on ``forward``) is a method:
        read from an instance, it is bound to it, as the function it replaces would be."""
        return self if instance is None else types.MethodType(self, instance)

    def _eager(self, args: tuple, kwargs: dict) -> Any:
        self.stats["eager"] += 1
        return self.fn(*args, **kwargs)

    def _capture(self, args: tuple, kwargs: dict, branch: bool = False, asked: Entry | None = None) -> Any:
        """Capture this call (``branch``: a plan of the same kind of call read the other value at
        an ``if``; the new plan is that branch's, asked first; if it cannot replay, its eager
        entry is asked last, so that the plans of the other branches still replay)."""
        self.stats["captures"] += 1
        arg_lines: list[str] = []
        arg_ns: dict[str, Any] = {}
        objects: list[tuple[str, Any]] = []
        found = _arg_tensors(args, kwargs, arg_lines, arg_ns, objects)
        cap = capture(self.fn, args, kwargs, [t for _, t in found], self.fullgraph, objects,
                      floats=not config.specialize_float)
        reason = _unreplayable(cap)
        # a float argument the plan reads as an input is checked for its type only (scalars.py);
        # an eager entry checks its value, as one escaped
        by_value = {f"if type({e}) is not float: return False": _float_check(e, arg_lines)
                    for _, e, inputs in cap.scalars if inputs and reason is None}
        by_type = {v: t for t, v in by_value.items()}
        where, guard_lines, guard_ns = _guards(cap, found, [by_type.get(line, line) for line in arg_lines], arg_ns,
                                               objects)
        if reason is None:
            try:
                plan = build_plan(cap, list(where), guard_lines, guard_ns, self.fusion, self.buffers)
            except Unreplayable as e:
                reason = str(e)
            except Exception as e:  # the compiler's own failure: raise, or eager under suppress_errors
                if not config.suppress_errors:
                    raise
                reason = f"the compiler failed ({type(e).__name__}: {e}; suppress_errors)"
                if config.verbose:
                    reason += "\n" + "".join(traceback.format_exception(e))
        breaks = cap.tape.breaks
        if reason is not None and breaks and set(breaks) <= set(cap.tape.side_effects) \
                and self._state_retries < STATE_RETRIES:
            # the call only changed Python state, which a cache filled at the first call (a rotary
            # embedding's table, a lazy layer) does once: no entry, so that the next call captures
            # again; a function that changes state every call (a counter) becomes eager after that
            self._state_retries += 1
            give_back_heap()
            return cap.result
        if reason is None:
            entry = Entry(plan.make_guard, plan, "", plan.guard_source)
        else:
            if self.fullgraph:
                raise GraphBreak(f"chainrule.compile(fullgraph=True): {reason}")
            warnings.warn(f"chainrule.compile: this call runs eagerly: {reason}", stacklevel=3)
            # eager is right whatever the names hold: checking them would only capture again and again
            # a function whose side effects change them (a counter it increments)
            checks = guard_lines[:guard_lines.index("# the names the function reads")]
            make_guard, guard_source = build_guard([by_value.get(line, line) for line in checks], guard_ns)
            entry = Entry(make_guard, None, reason, guard_source)
        self.entries.append(entry)
        if branch and entry.plan is None:
            self._asking.append(entry)
        else:
            self._asking.insert(0, entry)
        give_back_heap()
        if asked is not None:  # (after the capture, whose arrays are gone: the twin's compiling adds no peak)
            entry.because = asked.failing(args, kwargs)
            give_back_heap()
        return cap.result

    def explain(self) -> str:
        """What was captured: for each kind of call, its guard and its plan (or why it runs eagerly)."""
        if not self.entries:
            return "nothing captured yet: the first call captures"
        parts = [f"{len(self.entries)} kind(s) of call; {self.stats}"]
        for i, e in enumerate(self.entries):
            parts.append(f"--- entry {i} ---")
            if e.because:
                parts.append(f"captured because the call failed the check `{e.because}` of the entry asked first")
            parts.append(e.plan.explain() if e.plan is not None else f"runs eagerly: {e.reason}\n{e.guard_source}")
        return "\n".join(parts)

    def reset(self) -> None:
        """Forget every plan (the next call captures again)."""
        self.entries.clear()
        self._asking.clear()


def _float_check(e: str, lines: list[str]) -> str:
    """The guard's line that checks float argument ``e`` by value (``_arg_tensors``)."""
    return next(line for line in lines if line.startswith(f"if type({e}) is not float or {e} != "))


def _unreplayable(cap: Captured) -> str | None:
    tape = cap.tape
    if tape.breaks:
        return "; ".join(tape.breaks)
    if cap.backward is None and any(needs_graph(t) for t in tensors_in(cap.result)):
        return ("the function returns tensors of several dtypes whose graphs are still needed for backward; return "
                "one dtype, or compile the whole training step (forward, backward() and optimizer.step())")
    return None


def _guards(cap: Captured, found: list[tuple[str, Tensor]], arg_lines: list[str], arg_ns: dict[str, Any],
            objects: Sequence[tuple[str, Any]] = ()) -> tuple[list[str], list[str], dict[str, Any]]:
    """(where each tracked tensor is found at replay, the guard's lines, its namespace)."""
    ns = dict(arg_ns)
    lines = list(arg_lines)
    for e, obj in objects:  # an argument object's values that the code reads (its tensors: found)
        lines += _contents_checks(e, obj, ns, cap.code_names, tensors=False)
    # one tensor in several arguments is one array of the plan, distinct tensors are distinct
    # arrays (each gets its own gradient): a call that passes them otherwise is another kind
    places: dict[int, list[str]] = {}
    for place, t in found:
        places.setdefault(id(t), []).append(place)
    for paths in places.values():
        lines += [f"if {p} is not {paths[0]}: return False" for p in paths[1:]]
    if len(places) > 1:
        lines.append(f"if len({{{', '.join(f'id({ps[0]})' for ps in places.values())}}}) != {len(places)}: "
                     "return False")
    where: list[str] = []
    arg_paths = {id(t): path for path, t in found}
    state = state_tensor_ids(cap) if found else set()
    for i, t in enumerate(cap.tracked):
        path = arg_paths.get(id(t))
        if path is None:
            path = f"T{i}"
            ns[path] = t
        elif id(t) in state:  # an argument that is also a parameter, a buffer or a name's tensor: the
            ns[f"T{i}"] = t  # plan reads both as one array, so the argument must be that tensor
            lines.append(f"if {path} is not T{i}: return False")
        where.append(path)
        lines += _tensor_checks(path, cap.facts[i], ns)
    index = {id(t): i for i, t in enumerate(cap.tracked)}
    mod_index = {id(m): j for j, m in enumerate(cap.modules)}
    # the Modules' checks run only when some Module changed since they last passed (nn/module.py's STRUCTURE)
    ns["STRUCTURE"], ns["SEEN"] = module_structure, [module_structure[0]]
    lines.append("if STRUCTURE[0] != SEEN[0]:")
    classes: dict[type, str] = {}
    for j, m in enumerate(cap.modules):
        ns[f"M{j}"] = m
        cls = classes.setdefault(type(m), f"K{len(classes)}")
        ns[cls] = type(m)
        lines.append(f"    if M{j}.training is not {cap.training[j]} or type(M{j}) is not {cls}: return False")
        lines += ["    " + line for line in _module_checks(f"M{j}", m, index, mod_index, where, ns)]
    lines.append("    SEEN[0] = STRUCTURE[0]")
    for c, name in classes.items():  # (setting a class attribute moves no Module's STRUCTURE: every call)
        lines += _class_checks(name, c)
    lines.append(f"if grad_enabled() is not {cap.grad_enabled}: return False")
    ns["default_dtype"], ns["DEFAULT"] = get_default_dtype, get_default_dtype()
    lines.append("if default_dtype() != DEFAULT: return False")  # (the dtype of new floating tensors)
    # a hook registered on a tracked tensor since the capture: its Python must run (eagerly); the
    # tensors the function makes itself can only get one from the function, which the capture saw
    ns["HOOKS"], ns["watched"] = HOOKS, watched
    lines.append(f"if (HOOKS.any or HOOKS.post_acc) and watched(({''.join(w + ', ' for w in where)})): return False")
    lines.append("# the names the function reads")  # (an eager entry's guard stops here: see _capture)
    for k, (space, name, obj) in enumerate(cap.names):
        if isinstance(obj, (dict, list, tuple, np.ndarray)) or user_object(obj) \
                or name == "self" and hasattr(obj, "__dict__"):
            ns[f"N{k}"] = space
            lines += _contents_checks(f"read_name(N{k}, {name!r})", obj, ns, cap.code_names)
        if not guardable(obj):
            continue
        ns[f"N{k}"] = space
        if isinstance(obj, (bool, int, float, str)):
            ns[f"n{k}"] = obj
            lines.append(f"if read_name(N{k}, {name!r}) != n{k}: return False")
        else:
            ns[f"n{k}"] = obj
            lines.append(f"if read_name(N{k}, {name!r}) is not n{k}: return False")
    return where, lines, ns


_PLAIN = (bool, int, float, str)


def _plain_value(v: Any) -> bool:
    """A value a plan may hold as a constant: a number, a string, None, or a tuple of them."""
    return v is None or type(v) in _PLAIN or type(v) is tuple and len(v) <= 8 and all(_plain_value(x) for x in v)


def _module_checks(e: str, m: Module, index: dict[int, int], mod_index: dict[int, int], where: list[str],
                   ns: dict[str, Any]) -> list[str]:
    """What a Module holds: the same Parameters, buffers and submodules, as many hooks, as many
    attributes, the same plain ones (Dropout's p, BatchNorm's momentum, a layer's stride...) and
    the same functions among them (``self.act = F.relu``; ``forward`` set on the instance)."""
    lines = []
    for table in ("_parameters", "_buffers", "_modules"):
        items = m.__dict__.get(table, {})
        lines.append(f"if len({e}.{table}) != {len(items)}: return False")
        for name, v in items.items():
            if v is None:
                lines.append(f"if {e}.{table}.get({name!r}) is not None: return False")
            elif table == "_modules" and id(v) in mod_index:
                lines.append(f"if {e}.{table}.get({name!r}) is not M{mod_index[id(v)]}: return False")
            elif id(v) in index:
                lines.append(f"if {e}.{table}.get({name!r}) is not {where[index[id(v)]]}: return False")
    for hooks in ("_forward_hooks", "_forward_pre_hooks"):
        n = len(m.__dict__.get(hooks, ()))
        lines.append(f"if len({e}.__dict__.get({hooks!r}, ())) != {n}: return False")
    # as many attributes (one set on the instance since, such as a ``forward`` wrapper, is new code)
    lines.append(f"if len({e}.__dict__) != {len(vars(m))}: return False")
    for name, v in vars(m).items():
        if name != "training" and _plain_value(v):
            lines.append(f"if {e}.__dict__.get({name!r}) != {v!r}: return False")
        elif isinstance(v, Tensor) and id(v) in index:  # a tensor kept as a plain attribute (a mask)
            lines.append(f"if {e}.__dict__.get({name!r}) is not {where[index[id(v)]]}: return False")
        elif callable(v) and not isinstance(v, (Module, Tensor)):  # a function it calls (self.act = F.relu)
            key = f"f{len(ns)}"
            ns[key] = v
            lines.append(f"if {e}.__dict__.get({name!r}) is not {key}: return False")
    return lines


def _class_checks(e: str, cls: type) -> list[str]:
    """The plain class attributes of a Module class of the user's (``scale = 1.0`` in the class
    body, which forward may read as ``self.scale``): the same values.  The library's own classes
    are left out (their class attributes are constants)."""
    lines = []
    for k, c in enumerate(cls.__mro__):
        if not user_class(c):
            continue
        for n, v in vars(c).items():
            if n.startswith("__") or not _plain_value(v):
                continue
            lines.append(f"if {e}.__mro__[{k}].__dict__.get({n!r}) != {v!r}: return False")
    return lines


def _contents_checks(e: str, obj: Any, ns: dict[str, Any], code_names: frozenset, depth: int = 2,
                     tensors: bool = True) -> list[str]:
    """Values a plan may have read through a named container: a dict's, a list's or an object's
    numbers and strings (the same values) and Modules, optimisers, schedulers and tensors (the
    same objects; not tensors when ``tensors`` is False: an argument's, which the plan reads
    where they are), a NumPy array's values (a copy is compared), and the same of the user's
    objects inside them, ``depth`` levels down.  Of an object, only the attributes the
    function's code names (``self.model``, not a counter its caller keeps there)."""
    if isinstance(obj, np.ndarray):
        name = f"a{len(ns)}"
        ns[name] = obj.copy()
        return [f"if not np.array_equal({e}, {name}): return False"]
    if isinstance(obj, (list, tuple)):  # (a list of scales a forward indexes: the same items)
        if len(obj) > 32:
            return []
        lines = [f"if type({e}) is not {type(obj).__name__} or len({e}) != {len(obj)}: return False"]
        for i, v in enumerate(obj):
            if _plain_value(v):
                lines.append(f"if {e}[{i}] != {v!r}: return False")
            elif not tensors and isinstance(v, Tensor):
                continue
            elif guardable(v):
                name = f"o{len(ns)}"
                ns[name] = v
                lines.append(f"if {e}[{i}] is not {name}: return False")
            elif depth and _container(v):  # (a loss object in a list of them: what its code reads)
                lines += _contents_checks(f"{e}[{i}]", v, ns, code_names, depth - 1, tensors)
        return lines
    items = obj if isinstance(obj, dict) else {k: v for k, v in vars(obj).items() if k in code_names}
    kept = {k: v for k, v in items.items() if type(k) is str and (_plain_value(v) or guardable(v))
            and (tensors or not isinstance(v, Tensor))}
    if len(kept) > 32:
        return []
    get = (lambda k: f"{e}.get({k!r})") if isinstance(obj, dict) else (lambda k: f"getattr({e}, {k!r}, None)")
    lines = []
    for k, v in kept.items():
        if _plain_value(v):
            lines.append(f"if {get(k)} != {v!r}: return False")
        else:
            name = f"o{len(ns)}"
            ns[name] = v
            lines.append(f"if {get(k)} is not {name}: return False")
    for k, v in items.items():  # (a config inside a config, a dict a trainer holds, a loss object in a dict)
        if depth and type(k) is str and _container(v):
            lines += _contents_checks(get(k), v, ns, code_names, depth - 1, tensors)
    return lines


def _container(v: Any) -> bool:
    """What :func:`_contents_checks` looks into: a dict, a list or tuple (not one of plain values,
    checked as a value), a NumPy array, an object of the user's."""
    return isinstance(v, (dict, list, tuple, np.ndarray)) and not _plain_value(v) or user_object(v)


def _tensor_checks(e: str, facts: tuple, ns: dict[str, Any]) -> list[str]:
    shape, dtype, requires_grad, grad, cls = facts
    key = f"d_{dtype}"
    ns[key] = dtype
    ns[f"A_{cls.__name__}"] = cls
    # (a dtype is compared by identity first: NumPy's dtypes are shared objects, so that is the
    # common case, and a dtype's == costs more than the rest of the line)
    lines = [f"a = {e}._array",
             f"if type(a) is not A_{cls.__name__} or a.shape != {shape!r} or a.dtype is not {key} and a.dtype != {key} "
             f"or {e}.requires_grad is not {requires_grad}: return False"]
    if grad is None:
        lines.append(f"if {e}.grad is not None: return False")
    else:
        gkey = f"d_{grad[1]}"
        ns[gkey] = grad[1]
        lines += [f"g = {e}.grad", f"if g is None or type(g._array) is not ndarray or g._array.shape != {grad[0]!r} "
                  f"or g._array.dtype is not {gkey} and g._array.dtype != {gkey}: return False"]
    return lines


def _arg_tensors(args: tuple, kwargs: dict, lines: list[str], ns: dict[str, Any],
                 objects: list[tuple[str, Any]] | None = None) -> list[tuple[str, Tensor]]:
    """The tensors among the arguments with the source text that reaches each; the guard
    lines for the arguments' structure and their other values.  A namedtuple or an object of
    the user's (a batch, a config) is checked by class, its tensors are found in its fields,
    and it goes into ``objects`` (its other values are checked after the capture: those the
    function's code reads, see :func:`_guards`)."""
    found: list[tuple[str, Tensor]] = []

    def walk(x: Any, e: str, depth: int) -> None:
        if isinstance(x, Tensor):
            lines.append(f"if not isinstance({e}, Tensor): return False")
            found.append((e, x))
        elif (named_tuple(x) or user_object(x)) and depth < 3 and objects is not None:
            cls = f"k{len(ns)}"
            ns[cls] = type(x)
            lines.append(f"if type({e}) is not {cls}: return False")  # (a namedtuple's length is its class's)
            if named_tuple(x):
                for i, v in enumerate(x):
                    walk(v, f"{e}[{i}]", depth + 1)
                return
            objects.append((e, x))
            for k, v in vars(x).items():
                if k.isidentifier() and (isinstance(v, Tensor) or type(v) in (tuple, list, dict) or named_tuple(v)):
                    walk(v, f"{e}.{k}", depth + 1)
        elif type(x) in (tuple, list) and depth < 3:
            lines.append(f"if type({e}) is not {type(x).__name__} or len({e}) != {len(x)}: return False")
            for i, v in enumerate(x):
                walk(v, f"{e}[{i}]", depth + 1)
        elif type(x) is dict and depth < 3 and all(type(k) is str for k in x):
            lines.append(f"if type({e}) is not dict or sorted({e}) != {sorted(x)!r}: return False")
            for k, v in x.items():
                walk(v, f"{e}[{k!r}]", depth + 1)
        elif type(x) is np.ndarray:  # host data: a plan may hold what Python computed from its values
            name = f"a{len(ns)}"
            ns[name] = x.copy()
            lines.append(f"if type({e}) is not ndarray or {e}.shape != {tuple(x.shape)} or {e}.dtype != {name}.dtype "
                         f"or not np.array_equal({e}, {name}): return False")
        elif x is None or type(x) in (bool, int, float, str):
            lines.append(f"if type({e}) is not {type(x).__name__} or {e} != {x!r}: return False"
                         if x is not None else f"if {e} is not None: return False")
            if type(x) is float and x == 0:  # (0.0 == -0.0, yet what Python computes from them differs)
                ns["copysign"] = math.copysign
                lines[-1] = lines[-1].replace(": return False", f" or copysign(1.0, {e}) != {math.copysign(1.0, x)}"
                                              ": return False")
        else:
            name = f"o{len(ns)}"
            ns[name] = x
            lines.append(f"if {e} is not {name}: return False")

    walk(args, "args", 0)
    walk(kwargs, "kwargs", 0)
    return found


def compile(  # noqa: A001  (PyTorch's name)
    model: Any = None,
    *,
    fullgraph: bool = False,
    dynamic: bool | None = None,
    backend: Any = "inductor",
    mode: str | None = None,
    options: dict[str, Any] | None = None,
    name: str | None = None,
    disable: bool = False,
    recompile_limit: int | None = None,
) -> Any:
    """Compile a function or a Module (``torch.compile``): the first call of each kind is
    captured, later ones replay its plan (see ``docs/how-to/compile.md``).

    ``fullgraph=True`` raises :class:`GraphBreak` where a capture cannot be replayed instead of
    running eagerly; ``dynamic`` is accepted (shapes are always guarded: a new shape captures
    again); ``backend`` and ``mode`` are accepted as PyTorch's (there is one compiler);
    ``recompile_limit`` (or ``options={"cache_size_limit": n}``) is the number of kinds of call
    this function captures (default: ``torch._dynamo.config.recompile_limit``, 8), ``name``
    names it in warnings; ``options`` may also set ``fusion`` (default True: runs of
    elementwise steps become one compiled C loop, equal to NumPy's results to rounding; False:
    bit-identical to eager) and ``buffers`` (default True: the intermediates that stay inside a
    replay get memory planned once, ``compiler/buffers.py``).  Other names in ``options`` are
    PyTorch Inductor's settings (``"max_autotune"``, ``"triton.cudagraphs"``...): they have no
    effect here, and a warning names them.  ``disable=True`` returns ``model`` itself.  Used as
    a decorator with arguments, ``@compile(fullgraph=True)``, it returns the decorator.
    ``torch._dynamo.config`` (``chainrule._dynamo.config``) holds the settings read at each call."""
    if model is None:
        return lambda m: compile(m, fullgraph=fullgraph, dynamic=dynamic, backend=backend, mode=mode,
                                 options=options, name=name, disable=disable, recompile_limit=recompile_limit)
    if disable:
        return model
    options = dict(options or {})
    limit = options.pop("cache_size_limit", recompile_limit)
    fusion = bool(options.pop("fusion", True))
    buffers = bool(options.pop("buffers", True))
    if options:
        warnings.warn(f"chainrule.compile: options {sorted(options)} are not chainrule's (cache_size_limit, fusion, "
                      "buffers); PyTorch Inductor's settings have no effect here", stacklevel=2)
    compiled = CompiledFunction(model, fullgraph, dynamic, mode, None if limit is None else int(limit), fusion,
                                buffers, name)
    return OptimizedModule(model, compiled) if isinstance(model, Module) else compiled


_ALL: weakref.WeakSet = weakref.WeakSet()  # every CompiledFunction, for reset()
_SETTINGS = config._values  # (read on every call: one dict lookup)


def reset() -> None:
    """Forget every compiled function's plans (``torch.compiler.reset``): their next calls capture again."""
    for f in list(_ALL):
        f.reset()


def is_compiling() -> bool:
    """Whether a capture is running (``torch.compiler.is_compiling``): True inside the first,
    captured call of a compiled function."""
    return host_steps.ACTIVE[0] is not None


def disable(fn: Any = None, recursive: bool = True, *, reason: str | None = None) -> Any:
    """``torch.compiler.disable``: ``fn`` as it is (as a decorator too).  PyTorch runs such a
    function outside its graph; here a capture records whatever arrays it computes (its Python
    side effects are checked as any other's), so there is nothing to switch off."""
    if fn is None:
        return lambda f: f
    return fn


class OptimizedModule(Module):
    """A compiled Module (PyTorch's ``OptimizedModule``): calls go through the compiled
    forward; the original is ``_orig_mod`` (its parameters, ``state_dict`` keys prefixed
    ``_orig_mod.``, as PyTorch's)."""

    def __init__(self, mod: Module, compiled: CompiledFunction) -> None:
        super().__init__()
        self._orig_mod = mod
        self.__dict__["_compiled"] = compiled

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return self.__dict__["_compiled"](*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        # PyTorch's OptimizedModule answers the original's attributes (compiled.fc1, compiled.in_features)
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self.__dict__["_modules"]["_orig_mod"], name)

    def explain(self) -> str:
        return self.__dict__["_compiled"].explain()
