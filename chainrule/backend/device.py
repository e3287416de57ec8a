"""Devices: ``chainrule.device`` (parsed like ``torch.device``) and the errors for devices
without a back end (other back ends than the CPU are registered in ``backend/registry.py``).

A device without a back end raises :class:`DeviceUnavailableError`, never ignored: a program that
asked for a GPU must not silently run somewhere else.  CPU-only PyTorch raises AssertionError
("Torch not compiled with CUDA enabled") for CUDA/XPU, and RuntimeError or NotImplementedError for
MPS and integer devices; this error is all of those, so any ``except`` written for PyTorch catches it.
"""

from __future__ import annotations

from typing import Any, NoReturn

# the device types torch.device knows, in the order its error message lists them
DEVICE_TYPES = (
    "cpu", "cuda", "ipu", "xpu", "mkldnn", "opengl", "opencl", "ideep", "hip", "ve", "fpga", "maia",
    "xla", "lazy", "vulkan", "mps", "meta", "hpu", "mtia", "privateuseone",
)
_TYPES = frozenset(DEVICE_TYPES)
EXTRA_TYPES: set[str] = set()
_NAMES = {"cuda": "CUDA", "xpu": "XPU", "mps": "MPS", "hip": "HIP (ROCm)", "meta": "meta"}


class DeviceUnavailableError(AssertionError, NotImplementedError):
    """A device without a back end was asked for (see the module docstring for the bases)."""


class device:  # noqa: N801  (the PyTorch name)
    """A device: ``type`` ('cpu', 'cuda', 'mps'...) and an optional ``index``, built and printed
    as ``torch.device`` (``device('cuda:1')``, ``device('cuda', 1)``, ``device(other)``), immutable
    and hashable.  Unlike ``torch.device``, a device also equals its string (``device('cpu') == 'cpu'``).
    """

    __slots__ = ("type", "index")  # read-only: __setattr__ refuses
    type: str
    index: int | None

    def __init__(self, type: Any, index: int | None = None) -> None:  # noqa: A002  (the PyTorch name)
        if isinstance(type, device):
            if index is not None:
                raise RuntimeError(f"device(): the device {type} already has its index; got index={index}")
            t, i = type.type, type.index
        elif isinstance(type, str):
            t, i = _parse(type)
            if index is not None:
                if i is not None:
                    raise RuntimeError(
                        f"type (string) must not include an index because index was passed explicitly: {type}"
                    )
                if isinstance(index, bool) or not isinstance(index, int):
                    raise TypeError(f"device(): index must be an int, got {index.__class__.__name__}")
                if index < 0:
                    raise RuntimeError(f"Device index must not be negative, got {index}")
                i = int(index)
        elif isinstance(type, int) and not isinstance(type, bool):
            # torch reads a bare integer as the accelerator with that index; there is none here
            raise DeviceUnavailableError(
                f"device({type}): an integer device means accelerator {type}, and chainrule has none "
                "(Cannot access accelerator device when none is available); use 'cpu'"
            )
        else:
            raise TypeError(
                f"device(): expected a device string such as 'cpu' or 'cuda:0', or a device, "
                f"got {type.__class__.__name__}"
            )
        object.__setattr__(self, "type", t)
        object.__setattr__(self, "index", i)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"device is immutable: can't set {name!r}")

    def __str__(self) -> str:
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __repr__(self) -> str:
        if self.index is None:
            return f"device(type='{self.type}')"
        return f"device(type='{self.type}', index={self.index})"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, device):
            return self.type == other.type and self.index == other.index
        if isinstance(other, str):
            return str(self) == other
        return NotImplemented

    def __hash__(self) -> int:
        return hash(str(self))  # equal to its string's hash, since it compares equal to it

    def __reduce__(self) -> tuple:
        return (device, (str(self),))


def _parse(s: str) -> tuple:
    """'cuda:1' -> ('cuda', 1); raises RuntimeError with PyTorch's messages."""
    t, sep, idx = s.partition(":")
    if t not in _TYPES and t not in EXTRA_TYPES:
        if t.strip() in _TYPES or not t:
            raise RuntimeError(f"Invalid device string: {s!r}")
        raise RuntimeError(
            f"Expected one of {', '.join(DEVICE_TYPES + tuple(sorted(EXTRA_TYPES)))} device type at start "
            f"of device string: {s}"
        )
    if not sep:
        return t, None
    # a decimal index without sign, spaces or leading zeros, as PyTorch's parser
    if not (idx.isdigit() and idx.isascii()) or (len(idx) > 1 and idx[0] == "0"):
        raise RuntimeError(f"Invalid device string: {s!r}")
    return t, int(idx)


CPU = device("cpu")


def as_device(dev: Any, where: str) -> device:
    """``dev`` (a string, a device or an int) as a device; TypeError naming ``where`` otherwise."""
    if isinstance(dev, device):
        return dev
    if isinstance(dev, str) or (isinstance(dev, int) and not isinstance(dev, bool)):
        return device(dev)
    raise TypeError(
        f"{where}: argument 'device' must be a device or a string such as 'cpu', "
        f"not {dev.__class__.__name__} ({dev!r})"
    )


def check_device(dev: Any, where: str) -> None:
    """Accept ``None`` and any CPU device, raise :class:`DeviceUnavailableError` for any other:
    for the ``device=`` arguments that only make CPU tensors (layers; factories and ``to`` use
    ``registry.target_device``).  ``where`` names the caller in the message."""
    if dev is None or dev is CPU or dev == "cpu":
        return
    try:
        d = as_device(dev, where)
    except DeviceUnavailableError as e:
        raise DeviceUnavailableError(f"{where}: {e}") from None
    if d.type == "cpu":
        return
    from chainrule.backend.registry import is_registered

    if is_registered(d.type):
        raise DeviceUnavailableError(
            f"{where}: device={str(d)!r} is not supported here (its parameters are made on the CPU); "
            f"leave device out and move the result with .to({str(d)!r})"
        )
    refuse(d, where)


def refuse(d: device, where: str) -> NoReturn:
    """Raise the error for device ``d``, which has no back end (PyTorch's CPU-only wording)."""
    name = _NAMES.get(d.type, d.type)
    if d.type in ("cuda", "xpu"):
        torch_says = f"Torch not compiled with {name} enabled"
    else:
        torch_says = f"PyTorch is not linked with support for {d.type} devices"
    raise DeviceUnavailableError(
        f"{where}: chainrule has no {name} back end ({torch_says}); only the NumPy CPU back end "
        f"and back ends registered with chainrule.backend.registry.register_backend are available, "
        f"so device {str(d)!r} cannot be used: use device='cpu' or leave device out"
    )
