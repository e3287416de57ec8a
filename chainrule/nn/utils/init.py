"""``skip_init`` (PyTorch's ``torch.nn.utils.skip_init``)."""

from __future__ import annotations

import inspect
from typing import Any, TypeVar

from chainrule.nn.module import Module

__all__ = ["skip_init"]

_M = TypeVar("_M", bound=Module)


def skip_init(module_cls: type[_M], *args: Any, **kwargs: Any) -> _M:
    """``module_cls(*args, **kwargs)`` whose parameters and buffers the caller will overwrite.

    PyTorch builds the module on the meta device and allocates it uninitialised; chainrule has
    no meta device, so the module is built as usual (its initialisation runs, costing time but
    no correctness): the values are unspecified and meant to be replaced (``load_state_dict``,
    ``nn.init``).  As in PyTorch the class must accept a ``device`` argument.
    """
    if not (isinstance(module_cls, type) and issubclass(module_cls, Module)):
        raise RuntimeError(f"skip_init: expected a Module class, got {module_cls!r}")
    if "device" not in inspect.signature(module_cls).parameters:
        raise RuntimeError(f"skip_init: {module_cls.__name__} must take a 'device' argument to skip initialization")
    return module_cls(*args, **kwargs)
