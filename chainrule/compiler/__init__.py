"""The compiled mode (``chainrule.compile``, PyTorch's ``torch.compile``): capture a call once,
replay it as a flat plan.  Read in order: ``trace.py`` (traced arrays, the tape),
``capture.py`` (running the call on them), ``plan.py`` (the tape as one Python function),
``api.py`` (guards, the cache of plans, eager fallback).  As ``torch.compiler``: ``compile``,
``reset``, ``is_compiling`` (and ``is_dynamo_compiling``), ``disable``,
``cudagraph_mark_step_begin``.  ``chainrule._dynamo`` is ``torch._dynamo`` (its ``config``)."""

from chainrule.compiler.api import CompiledFunction, OptimizedModule, compile, disable, is_compiling, reset
from chainrule.compiler.plan import Diverged, Plan
from chainrule.compiler.trace import GraphBreak

is_dynamo_compiling = is_compiling


def cudagraph_mark_step_begin() -> None:
    """``torch.compiler.cudagraph_mark_step_begin``: PyTorch's ``mode="reduce-overhead"`` replays
    CUDA graphs, and this tells it a new training step begins.  A plan here holds no CUDA graph
    and no output of an earlier step is overwritten by a later replay, so there is nothing to do."""


__all__ = [
    "CompiledFunction", "Diverged", "GraphBreak", "OptimizedModule", "Plan", "compile",
    "cudagraph_mark_step_begin", "disable", "is_compiling", "is_dynamo_compiling", "reset",
]
