"""``chainrule.accelerator``: PyTorch's device-agnostic accelerator probes (``torch.accelerator``),
answering as a CPU-only build: there is no accelerator.

``is_available()`` is False, ``current_accelerator()`` None and ``device_count()`` 0, so
``torch.accelerator.current_accelerator() or torch.device('cpu')`` picks the CPU.
"""

from __future__ import annotations

from typing import Any

__all__ = ["current_accelerator", "device_count", "is_available"]


def is_available() -> bool:
    """Whether an accelerator (CUDA, MPS, XPU...) can be used: never, in chainrule."""
    return False


def current_accelerator(check_available: bool = False) -> Any:
    """The accelerator device type, as a ``device``: None (there is none)."""
    return None


def device_count() -> int:
    """The number of accelerator devices: 0."""
    return 0
