"""``torch.nn.parallel.replicate``: copies of a module, one per GPU.

A module's parameters and buffers are broadcast to the GPUs, which needs CUDA: with
tensors to copy, PyTorch's CPU-only build (and so chainrule) raises
``AssertionError("Broadcast function not implemented for CPU tensors")``.  A module
without parameters or buffers is copied without any device, as in PyTorch.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any, TypeVar

from chainrule.nn.module import Module
from chainrule.nn.parallel._devices import device_index

__all__ = ["replicate"]

T = TypeVar("T", bound=Module)


def replicate(network: T, devices: Sequence[Any], detach: bool = False) -> list[T]:
    """One copy of ``network`` per device in ``devices`` (none for no devices)."""
    if not devices:
        return []
    for d in devices:
        device_index(d)  # a CPU device: ValueError, as PyTorch
    if any(True for _ in network.parameters()) or any(True for _ in network.buffers()):
        raise AssertionError("Broadcast function not implemented for CPU tensors")
    return [copy.deepcopy(network) for _ in devices]
