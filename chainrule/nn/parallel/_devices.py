"""Device arguments of ``nn.parallel``'s functions, read as a CPU-only PyTorch build reads them.

chainrule has no CUDA device (``torch.cuda.is_available()`` is False), so the
functions that need one raise the errors a CPU-only PyTorch build raises.
"""

from __future__ import annotations

from typing import Any

from chainrule.backend.device import device

NO_ACCELERATOR = "Cannot access accelerator device when none is available."


def device_index(d: Any, cuda_only: bool = False) -> int:
    """PyTorch's ``_get_device_index(d, optional=True)``: an int stays, a device gives its index.

    A CPU device raises ``ValueError`` ("Expected a non cpu device", or with ``cuda_only``
    "Expected a cuda device", the wording of ``torch.cuda._utils``); a device without an
    index would mean the current accelerator, and there is none (``RuntimeError``)."""
    if isinstance(d, int) and not isinstance(d, bool):
        return d
    if isinstance(d, str):
        d = device(d)
    if isinstance(d, device):
        if cuda_only and d.type != "cuda":
            raise ValueError(f"Expected a cuda device, but got: {d}")
        if d.type == "cpu":
            raise ValueError(f"Expected a non cpu device, but got: {d}")
        if d.index is not None:
            return d.index
    raise RuntimeError(NO_ACCELERATOR)
