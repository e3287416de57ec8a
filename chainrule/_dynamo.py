"""``torch._dynamo`` as PyTorch programs use it around ``torch.compile``: its settings
(``config``: ``torch._dynamo.config.cache_size_limit = 64``, ``suppress_errors = True``, see
``chainrule/compiler/settings.py`` for what each does here), ``reset``, ``disable``,
``is_compiling``, the shape hints ``mark_dynamic``/``maybe_mark_dynamic``/``mark_static``,
``graph_break``, ``explain``, ``allow_in_graph``/``assume_constant_result`` (as
``torch.compiler``'s) and ``OptimizedModule`` (also as ``eval_frame.OptimizedModule``, the name
that ``isinstance`` checks in other people's code use)."""

from __future__ import annotations

import types
from dataclasses import dataclass, field
from typing import Any

from chainrule.autograd.tensor import Tensor
from chainrule.compiler import allow_in_graph, assume_constant_result
from chainrule.compiler.api import CompiledFunction, OptimizedModule, disable, is_compiling, reset
from chainrule.compiler.settings import config
from chainrule.compiler.trace import CURRENT

eval_frame = types.SimpleNamespace(OptimizedModule=OptimizedModule)


def _check_dims(t: Any, index: Any, what: str) -> None:
    if not isinstance(t, Tensor):
        raise TypeError(f"torch._dynamo.{what}: expected a Tensor, got {type(t).__name__}")
    for i in index if isinstance(index, (list, tuple)) else [index]:
        if not isinstance(i, int) or not -t.ndim <= i < t.ndim:
            raise IndexError(f"torch._dynamo.{what}: dimension {i!r} out of range for a tensor of shape "
                             f"{tuple(t.shape)}")


def mark_dynamic(t: Tensor, index: int | list[int], min: int | None = None, max: int | None = None) -> None:  # noqa: A002
    """A hint that dimension ``index`` of ``t`` will change size.  The dimensions are checked; the
    hint changes nothing here: every shape is guarded, and a new size is a new kind of call,
    captured once (within ``config.recompile_limit``)."""
    _check_dims(t, index, "mark_dynamic")


def maybe_mark_dynamic(t: Tensor, index: int | list[int]) -> None:
    """As :func:`mark_dynamic`."""
    _check_dims(t, index, "maybe_mark_dynamic")


def mark_static(t: Tensor, index: int | list[int] | None = None) -> None:
    """A hint that ``t``'s sizes stay as they are, which is what the guards assume already."""
    if index is not None:
        _check_dims(t, index, "mark_static")


def graph_break() -> None:
    """Inside a capture: the call cannot become a plan, and this kind of call runs eagerly
    (``fullgraph=True``: :class:`~chainrule.compiler.GraphBreak`).  Elsewhere: nothing.  PyTorch
    splits the graph here and compiles both halves; a plan here is one whole call or none."""
    tape = CURRENT[0]
    if tape is not None and tape.active:
        tape.broken("torch._dynamo.graph_break() was called")


@dataclass
class ExplainOutput:
    """What :func:`explain` found: PyTorch's fields, for chainrule's one plan per kind of call.
    A "graph" is a plan; a "break" is why a call could not become one (it then runs eagerly)."""

    graph_count: int = 0
    graph_break_count: int = 0
    break_reasons: list[str] = field(default_factory=list)
    op_count: int = 0
    ops_per_graph: list[int] = field(default_factory=list)
    out_guards: list[str] = field(default_factory=list)
    compile_times: str = ""
    plans: str = ""  # (chainrule's own: CompiledFunction.explain(), each plan step by step)

    def __str__(self) -> str:
        lines = [f"Graph Count: {self.graph_count}", f"Graph Break Count: {self.graph_break_count}",
                 f"Op Count: {self.op_count}"]
        if self.break_reasons:
            lines.append("Break Reasons:")
            lines += [f"  Break Reason {k + 1}: {r}" for k, r in enumerate(self.break_reasons)]
        if self.compile_times:
            lines.append(f"Compile Times: {self.compile_times}")
        return "\n".join(lines)


def explain(fn: Any, *extra_args: Any, **extra_kwargs: Any) -> Any:
    """``torch._dynamo.explain(fn)(*args, **kwargs)``: compile ``fn`` afresh, call it once on the
    arguments (its effects happen, as PyTorch's), and say what was captured
    (:class:`ExplainOutput`).  The older form ``explain(fn, *args)`` calls at once."""

    def inner(*args: Any, **kwargs: Any) -> ExplainOutput:
        import time

        compiled = CompiledFunction(fn, name=getattr(fn, "__qualname__", None))
        t0 = time.perf_counter()
        compiled(*args, **kwargs)
        seconds = time.perf_counter() - t0
        plans = [e.plan for e in compiled.entries if e.plan is not None]
        return ExplainOutput(
            graph_count=len(plans),
            graph_break_count=sum(1 for e in compiled.entries if e.plan is None),
            break_reasons=[e.reason for e in compiled.entries if e.plan is None],
            op_count=sum(p.n_steps for p in plans),
            ops_per_graph=[p.n_steps for p in plans],
            out_guards=[e.guard_source for e in compiled.entries],
            compile_times=f"capture of the first call: {seconds:.4f} s",
            plans=compiled.explain(),
        )

    return inner(*extra_args, **extra_kwargs) if extra_args or extra_kwargs else inner


__all__ = [
    "ExplainOutput", "allow_in_graph", "assume_constant_result", "explain",
    "OptimizedModule", "config", "disable", "eval_frame", "graph_break", "is_compiling", "mark_dynamic",
    "mark_static", "maybe_mark_dynamic", "reset",
]
