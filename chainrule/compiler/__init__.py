"""The compiled mode (``chainrule.compile``, PyTorch's ``torch.compile``): capture a call once,
replay it as a flat plan.  Read in order: ``trace.py`` (traced arrays, the tape),
``capture.py`` (running the call on them), ``plan.py`` (the tape as one Python function),
``api.py`` (guards, the cache of plans, eager fallback).  As ``torch.compiler``: ``compile``,
``reset``, ``is_compiling`` (and ``is_dynamo_compiling``), ``disable``, ``set_stance``,
``allow_in_graph``, ``assume_constant_result``, ``list_backends``,
``cudagraph_mark_step_begin``.  ``chainrule._dynamo`` is ``torch._dynamo`` (its ``config``)."""

from typing import Any, Callable

from chainrule.compiler.api import CompiledFunction, OptimizedModule, compile, disable, is_compiling, reset
from chainrule.compiler.plan import Diverged, Plan
from chainrule.compiler.settings import set_stance
from chainrule.compiler.trace import GraphBreak

is_dynamo_compiling = is_compiling


def allow_in_graph(fn: Any) -> Any:
    """``torch.compiler.allow_in_graph``: PyTorch then records ``fn`` (a function, or a list of
    them) as one call instead of tracing into its Python.  A capture here records the array
    operations ``fn`` makes whatever Python runs them, so ``fn`` is returned as it is."""
    return fn


def assume_constant_result(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``torch.compiler.assume_constant_result``: the Python values ``fn`` returns may be taken
    as constants of the plan.  A plan here keeps the Python values a capture computed as its
    constants already (guarded where they come from the arguments or state it reads), so
    ``fn`` is returned as it is."""
    return fn


def list_backends(exclude_tags: Any = ("debug", "experimental")) -> list[str]:
    """``torch.compiler.list_backends``: the ``backend=`` names ``compile`` accepts.  Each runs
    chainrule's one compiler (capture, plan, fused loops)."""
    return ["aot_eager", "cudagraphs", "eager", "inductor"]


def cudagraph_mark_step_begin() -> None:
    """``torch.compiler.cudagraph_mark_step_begin``: PyTorch's ``mode="reduce-overhead"`` replays
    CUDA graphs, and this tells it a new training step begins.  A plan here holds no CUDA graph
    and no output of an earlier step is overwritten by a later replay, so there is nothing to do."""


__all__ = [
    "CompiledFunction", "Diverged", "GraphBreak", "OptimizedModule", "Plan", "allow_in_graph",
    "assume_constant_result", "compile", "cudagraph_mark_step_begin", "disable", "is_compiling",
    "is_dynamo_compiling", "list_backends", "reset", "set_stance",
]
