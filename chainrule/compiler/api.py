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

import re
import traceback
import types
import warnings
import weakref
from typing import Any, Callable

from chainrule.autograd import grad_mode, host_steps
from chainrule.compiler.capture import (
    Captured,
    capture,
    needs_graph,
    tensors_in,
)
from chainrule.compiler.guards import arg_tensors, float_check, guard_checks
from chainrule.compiler.plan import Diverged, Plan, Unreplayable, build_guard, build_plan, give_back_heap
from chainrule.compiler.replay_node import with_graphs
from chainrule.compiler.settings import STANCE, config
from chainrule.compiler.trace import GraphBreak
from chainrule.nn.module import Module

_MODES = (None, "default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
STATE_RETRIES = 1  # captures a function may spend on calls that change Python state (a cache filled once)


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
                    return with_graphs(e.plan.backward, ys, saved, leaves, rest, e.plan.reach, e.plan.fresh)
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
        found = arg_tensors(args, kwargs, arg_lines, arg_ns, objects)
        cap = capture(self.fn, args, kwargs, [t for _, t in found], self.fullgraph, objects,
                      floats=not config.specialize_float)
        reason = _unreplayable(cap)
        # a float argument the plan reads as an input is checked for its type only (scalars.py);
        # an eager entry checks its value, as one escaped
        by_value = {f"if type({e}) is not float: return False": float_check(e, arg_lines)
                    for _, e, inputs in cap.scalars if inputs and reason is None}
        by_type = {v: t for t, v in by_value.items()}
        where, guard_lines, guard_ns = guard_checks(cap, found, [by_type.get(line, line) for line in arg_lines], arg_ns,
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


def _unreplayable(cap: Captured) -> str | None:
    tape = cap.tape
    if tape.breaks:
        return "; ".join(tape.breaks)
    if cap.backward is None and any(needs_graph(t) for t in tensors_in(cap.result)):
        return ("the function returns tensors whose graphs are still needed for backward and were not all computed "
                "in the capture; compile the whole training step (forward, backward() and optimizer.step())")
    return None


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
