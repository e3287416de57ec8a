"""``torch.cpu.amp``: PyTorch's deprecated spellings ``torch.cpu.amp.autocast(...)`` =
``torch.amp.autocast('cpu', ...)`` and ``torch.cpu.amp.GradScaler(...)`` =
``torch.amp.GradScaler('cpu', ...)``.  Both warn with PyTorch's FutureWarning; see
:mod:`chainrule.amp` for what an autocast region does on chainrule's CPU."""

from __future__ import annotations

import warnings
from typing import Any

from chainrule import amp as _amp
from chainrule.backend.numpy_backend import bfloat16

__all__ = ["GradScaler", "autocast"]


class autocast(_amp.autocast):  # noqa: N801  (the PyTorch name)
    """``torch.cpu.amp.autocast(enabled=True, dtype=torch.bfloat16, cache_enabled=True)``, i.e.
    ``torch.amp.autocast('cpu', ...)``.

    Args:
        enabled: False makes the region a no-op.
        dtype: the lower precision (bfloat16 or float16; another dtype disables the region with
            PyTorch's warning).
        cache_enabled: accepted for compatibility; there is no cast cache.
    """

    def __init__(self, enabled: bool = True, dtype: Any = bfloat16, cache_enabled: bool = True) -> None:
        warnings.warn("`torch.cpu.amp.autocast(args...)` is deprecated. Please use "
                      "`torch.amp.autocast('cpu', args...)` instead.", FutureWarning, stacklevel=2)
        super().__init__("cpu", dtype=dtype, enabled=enabled, cache_enabled=cache_enabled)


class GradScaler(_amp.GradScaler):
    """``torch.cpu.amp.GradScaler(args...)``, i.e. ``torch.amp.GradScaler('cpu', args...)``."""

    def __init__(self, init_scale: float = 2.0**16, growth_factor: float = 2.0, backoff_factor: float = 0.5,
                 growth_interval: int = 2000, enabled: bool = True) -> None:
        warnings.warn("`torch.cpu.amp.GradScaler(args...)` is deprecated. Please use "
                      "`torch.amp.GradScaler('cpu', args...)` instead.", FutureWarning, stacklevel=2)
        super().__init__("cpu", init_scale, growth_factor, backoff_factor, growth_interval, enabled)
