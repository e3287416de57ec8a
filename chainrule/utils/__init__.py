"""Utilities (PyTorch's ``torch.utils``): ``chainrule.utils.data``, ``chainrule.utils.checkpoint``,
``chainrule.utils.hooks``, and ``chainrule.utils.benchmark`` (imported on first use, as PyTorch's)."""

from typing import Any as _Any

from chainrule.utils import checkpoint, data, hooks

__all__ = ["benchmark", "checkpoint", "data", "hooks"]


def __getattr__(name: str) -> _Any:
    if name == "benchmark":  # (it imports chainrule itself: not while chainrule is being imported)
        import importlib

        return importlib.import_module("chainrule.utils.benchmark")
    raise AttributeError(f"module 'chainrule.utils' has no attribute {name!r}")
