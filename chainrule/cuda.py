"""``chainrule.cuda``: the little of ``torch.cuda`` that code probes before choosing a device.

chainrule computes with NumPy on the CPU, so there is never a CUDA device:
``is_available()`` is False and ``device_count()`` is 0, and the usual PyTorch idiom
``device = 'cuda' if cr.cuda.is_available() else 'cpu'`` picks the CPU.  Asking for a CUDA
device anyway raises (see ``chainrule.backend.device.check_device``).
"""

from __future__ import annotations


def is_available() -> bool:
    """Whether a CUDA device can be used: never, in chainrule."""
    return False


def device_count() -> int:
    """The number of CUDA devices: 0."""
    return 0


__all__ = ["device_count", "is_available"]
