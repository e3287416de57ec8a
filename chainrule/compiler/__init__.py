"""The compiled mode (``chainrule.compile``, PyTorch's ``torch.compile``): capture a call once,
replay it as a flat plan.  Read in order: ``trace.py`` (traced arrays, the tape),
``capture.py`` (running the call on them), ``plan.py`` (the tape as one Python function),
``api.py`` (guards, the cache of plans, eager fallback).  As ``torch.compiler``: ``compile``,
``reset``, ``is_compiling``, ``disable``."""

from chainrule.compiler.api import CompiledFunction, OptimizedModule, compile, disable, is_compiling, reset
from chainrule.compiler.plan import Diverged, Plan
from chainrule.compiler.trace import GraphBreak

__all__ = [
    "CompiledFunction", "Diverged", "GraphBreak", "OptimizedModule", "Plan", "compile", "disable", "is_compiling",
    "reset",
]
