"""``torch._dynamo`` as PyTorch programs use it around ``torch.compile``: its settings
(``config``: ``torch._dynamo.config.cache_size_limit = 64``, ``suppress_errors = True``, see
``chainrule/compiler/settings.py`` for what each does here), ``reset``, ``disable``,
``is_compiling``, the shape hints ``mark_dynamic``/``maybe_mark_dynamic``/``mark_static``,
``graph_break`` and ``OptimizedModule`` (also as ``eval_frame.OptimizedModule``, the name that
``isinstance`` checks in other people's code use)."""

from __future__ import annotations

import types
from typing import Any

from chainrule.autograd.tensor import Tensor
from chainrule.compiler.api import OptimizedModule, disable, is_compiling, reset
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


__all__ = [
    "OptimizedModule", "config", "disable", "eval_frame", "graph_break", "is_compiling", "mark_dynamic",
    "mark_static", "maybe_mark_dynamic", "reset",
]
