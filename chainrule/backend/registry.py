"""The registry of back ends: which array library serves which device type ('cpu', 'cuda', ...).

A back end has ``array_types`` (the classes of its arrays), ``math`` (its table, the ``m`` of
the primitives' rules), ``to_host(a) -> ndarray`` (a copy the caller owns) and
``from_host(a, device)`` (the copies through which ``to``, the factories and ``save`` move data),
and optionally ``device_of(a)`` for back ends with several devices ('cuda:0', 'cuda:1').

chainrule registers only 'cpu'; others (CuPy for 'cuda', a test back end) are added at run time
with :func:`register_backend`.  Callers test ``type(a) is np.ndarray`` first and come here only
for other array types, so the CPU costs nothing on the hot path.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple, Sequence

import numpy as np

from chainrule.backend import device as _dev
from chainrule.backend.device import CPU, device
from chainrule.backend.numpy_backend import ArrayMath

_ndarray = np.ndarray


class Backend(NamedTuple):
    """One back end: the arrays, the table and the copies to and from the host (NumPy)."""

    type: str
    array_types: tuple
    math: Any
    to_host: Callable[[Any], np.ndarray]
    from_host: Callable[[np.ndarray, device], Any]
    device_of: Callable[[Any], device] | None = None


class DeviceMismatchError(RuntimeError):
    """An operation got tensors on two devices (PyTorch raises a RuntimeError too)."""


CPU_BACKEND = Backend("cpu", (_ndarray,), ArrayMath, np.asarray, lambda a, dev: a)

_BY_TYPE: dict[str, Backend] = {"cpu": CPU_BACKEND}  # device type -> back end
_BY_ARRAY: dict[type, Backend] = {_ndarray: CPU_BACKEND}  # array class -> back end
ARRAY_TYPES = _BY_ARRAY  # (the same dict, read by Tensor._wrap: `type(a) in ARRAY_TYPES`)
_PLAIN: dict[str, device] = {"cpu": CPU}  # device type -> its device without an index


def register_backend(
    type: str,  # noqa: A002  (the name device.type uses)
    array_types: type | Sequence[type],
    math: Any,
    to_host: Callable[[Any], np.ndarray],
    from_host: Callable[[np.ndarray, device], Any],
    device_of: Callable[[Any], device] | None = None,
) -> Backend:
    """Make device type ``type`` usable: ``device(type)`` parses (also a name PyTorch does not
    know), factories and ``.to`` create and move arrays there, arrays of ``array_types`` live there.

    ValueError for 'cpu', a type already registered, an invalid name, or an array class
    another back end already claims."""
    if not isinstance(type, str) or not type.isidentifier():
        raise ValueError(f"register_backend: the device type must be a name such as 'cuda', got {type!r}")
    if type in _BY_TYPE:
        raise ValueError(f"register_backend: device type {type!r} already has a back end; unregister it first")
    classes = tuple(array_types) if isinstance(array_types, (tuple, list)) else (array_types,)
    if not classes:
        raise ValueError(f"register_backend({type!r}): give at least one array class")
    for c in classes:
        if c in _BY_ARRAY:
            raise ValueError(
                f"register_backend({type!r}): arrays of class {c.__name__} already belong to the "
                f"{_BY_ARRAY[c].type!r} back end"
            )
    b = Backend(type, classes, math, to_host, from_host, device_of)
    _BY_TYPE[type] = b
    for c in classes:
        _BY_ARRAY[c] = b
    _dev.EXTRA_TYPES.add(type)
    _PLAIN[type] = device(type)
    return b


def unregister_backend(type: str) -> None:  # noqa: A002
    """Remove the back end of device type ``type`` (not 'cpu'); KeyError when there is none."""
    if type == "cpu":
        raise ValueError("unregister_backend: the CPU back end cannot be removed")
    b = _BY_TYPE.pop(type)
    _PLAIN.pop(type, None)
    for c in b.array_types:
        _BY_ARRAY.pop(c, None)
    if type not in _dev.DEVICE_TYPES:
        _dev.EXTRA_TYPES.discard(type)


def is_registered(type: str) -> bool:  # noqa: A002
    return type in _BY_TYPE


def backend_for(dev: Any, where: str) -> Backend:
    """The back end of device ``dev`` (a device or a string); DeviceUnavailableError when none is registered."""
    d = _dev.as_device(dev, where)
    b = _BY_TYPE.get(d.type)
    if b is None:
        _dev.refuse(d, where)
    return b


def backend_of(a: Any) -> Backend:
    """The back end an array belongs to (TypeError for an array class nobody registered)."""
    b = _BY_ARRAY.get(type(a))
    if b is None:
        for c, cand in _BY_ARRAY.items():  # a subclass (np.matrix, a memmap...) of a registered class
            if isinstance(a, c):
                return cand
        raise TypeError(f"no back end holds arrays of type {type(a).__name__}")
    return b


def device_of(a: Any) -> device:
    """The device array ``a`` lives on: CPU for NumPy arrays."""
    if type(a) is _ndarray:
        return CPU
    b = backend_of(a)
    return b.device_of(a) if b.device_of is not None else _PLAIN[b.type]


def to_host(a: Any) -> np.ndarray:
    """``a`` as a NumPy array (itself when it is one)."""
    if type(a) is _ndarray:
        return a
    return backend_of(a).to_host(a)


def already_on(have: device, want: device) -> bool:
    """Whether an array on ``have`` is already where ``want`` asks ('cuda': whichever CUDA device)."""
    return have.type == want.type and (want.index is None or have.index is None or have.index == want.index)


def to_device(a: Any, dev: device, where: str = "to()") -> Any:
    """Array ``a`` on device ``dev``: ``a`` itself when it is there already, else a copy through the host."""
    if already_on(device_of(a), dev):
        return a
    b = backend_for(dev, where)
    host = to_host(a)
    return host if b is CPU_BACKEND else b.from_host(host, dev)


def target_device(dev: Any, where: str) -> device | None:
    """A ``device=`` argument of a factory or ``to``: None for None and CPU devices, else the
    device, checked to have a back end (DeviceUnavailableError otherwise)."""
    if dev is None or dev is CPU:
        return None
    d = _dev.as_device(dev, where) if not isinstance(dev, device) else dev
    if d.type == "cpu":
        return None
    backend_for(d, where)
    return d


TRACERS: set[type] = set()
"""The array classes registered by :func:`register_tracer`."""
_STANDS_FOR: dict[type, Callable[[Any], np.ndarray]] = {}


def register_tracer(array_type: type, math: Any, to_host: Callable[[Any], np.ndarray],
                    stands_for: Callable[[Any], np.ndarray] | None = None) -> None:
    """Let arrays of ``array_type`` stand in for CPU arrays (the compiled mode's traced arrays):
    they live on the CPU, and an operation that meets one computes with its table ``math``,
    which also takes plain NumPy arrays.  Their ``base`` must answer as the NumPy array each
    stands for (None when it owns its memory): the engine reads it to skip a copy.
    ``stands_for(a)``: that NumPy array, read without recording anything (for questions about
    memory only: which array a view lies in, :func:`memory_of`)."""
    _BY_ARRAY[array_type] = Backend("cpu", (array_type,), math, to_host, lambda a, dev: a, lambda a: CPU)
    TRACERS.add(array_type)
    if stands_for is not None:
        _STANDS_FOR[array_type] = stands_for


def memory_of(a: Any) -> Any:
    """The NumPy array whose memory ``a`` is (a itself, or what a tracer stands for), or None
    (another back end's array)."""
    if type(a) is _ndarray:
        return a
    real = _STANDS_FOR.get(type(a))
    return real(a) if real is not None else (a if isinstance(a, _ndarray) else None)


def table_of(where: str, arrays: Sequence[Any]) -> Any:
    """The math table of ``arrays``' back end; :class:`DeviceMismatchError` naming ``where`` and
    two devices when they live on different ones.  On one device, an array that is not a
    NumPy array chooses the table (a tracer's arrays beside plain CPU ones)."""
    first = None
    table = ArrayMath
    for a in arrays:
        d = device_of(a)
        if first is None:
            first = d
        elif d != first:
            raise DeviceMismatchError(
                f"{where}: expected all tensors to be on the same device, but found at least two "
                f"devices, {first} and {d}"
            )
        if type(a) is not _ndarray:
            table = backend_of(a).math
    return table
