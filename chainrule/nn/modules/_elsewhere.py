"""Re-exports at PyTorch's module paths of classes that chainrule defines in another file.

``torch.nn.modules.pooling`` holds ``MaxPool3d``; chainrule defines it in ``three_d.py``,
which imports ``pooling.py``.  An ordinary import at the end of ``pooling.py`` would make the
two modules import each other, so such names are looked up on first use instead, by the
module-level ``__getattr__`` (PEP 562) that :func:`reexports` builds.
"""

from __future__ import annotations

import importlib
from typing import Any, Callable


def reexports(module: str, names: dict[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` serving ``names`` (class name -> defining module) for ``module``."""

    def __getattr__(name: str) -> Any:
        where = names.get(name)
        if where is None:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        return getattr(importlib.import_module(where), name)

    return __getattr__
