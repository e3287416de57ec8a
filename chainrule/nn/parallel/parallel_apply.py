"""``torch.nn.parallel.parallel_apply``: run ``modules[i](*inputs[i], **kwargs_tup[i])`` in threads, one per GPU.

Each thread runs on its GPU's current stream, so PyTorch asks the accelerator for it
before running anything: on a CPU-only build (and so in chainrule) this raises
``RuntimeError("Cannot access accelerator device when none is available.")`` for
integer devices or ``None``, ``ValueError`` for CPU devices, and
``AssertionError("No available accelerator found.")`` for empty lists.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from chainrule.nn.module import Module
from chainrule.nn.parallel._devices import NO_ACCELERATOR, device_index

__all__ = ["parallel_apply"]


def parallel_apply(
    modules: Sequence[Module],
    inputs: Sequence[Any],
    kwargs_tup: Sequence[dict[str, Any]] | None = None,
    devices: Sequence[Any] | None = None,
) -> list[Any]:
    """Apply each module to its inputs on its device (needs an accelerator: see the module docstring)."""
    if len(modules) != len(inputs):
        raise AssertionError(f"The number of modules {len(modules)} is not equal to the number of inputs {len(inputs)}")
    if kwargs_tup is not None and len(modules) != len(kwargs_tup):
        raise AssertionError(
            f"The number of modules {len(modules)} is not equal to the number of kwargs_tup {len(kwargs_tup)}"
        )
    if devices is not None and len(modules) != len(devices):
        raise AssertionError(
            f"The number of modules {len(modules)} is not equal to the number of devices {len(devices)}"
        )
    for d in devices if devices is not None else [None] * len(modules):
        if d is not None:
            device_index(d, cuda_only=True)
        raise RuntimeError(NO_ACCELERATOR)  # PyTorch asks for the device's current stream
    raise AssertionError("No available accelerator found.")
