"""``torch.nn.parallel.scatter_gather``: ``scatter``, ``scatter_kwargs`` and ``gather``.

The walk over containers is PyTorch's: tuples, lists and dicts (and named tuples) are
taken apart and rebuilt, and objects that are not tensors are repeated once per device,
which works without any device.  Moving a *tensor* between GPUs needs CUDA: on a
CPU-only PyTorch build, and so in chainrule, scattering a tensor to a CPU device raises
``ValueError("Expected a non cpu device, ...")``, to GPU indices ``AttributeError`` (the
build has no ``torch._C._scatter``), and gathering CPU tensors ``AssertionError("Gather
function not implemented for CPU tensors")``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from chainrule.autograd.tensor import Tensor
from chainrule.nn.parallel._devices import device_index

__all__ = ["scatter", "scatter_kwargs", "gather"]


def _is_namedtuple(obj: Any) -> bool:
    return isinstance(obj, tuple) and hasattr(obj, "_asdict") and hasattr(obj, "_fields")


def _scatter_tensor(target_gpus: Sequence[Any]) -> Any:
    for d in target_gpus:
        device_index(d)  # a CPU device: ValueError, as PyTorch's Scatter
    raise AttributeError(
        "module 'torch._C' has no attribute '_scatter': scattering a tensor across GPUs needs CUDA, "
        "and chainrule (like a CPU-only PyTorch build) has none"
    )


def scatter(inputs: Any, target_gpus: Sequence[Any], dim: int = 0) -> Any:
    """Slice tensors into chunks along ``dim``, one per device of ``target_gpus``; repeat other objects.

    Returns a list with one entry per device (for a tuple input, a list of tuples...).
    Tensors cannot be scattered without CUDA (see the module docstring)."""

    def scatter_map(obj: Any) -> Any:
        if isinstance(obj, Tensor):
            return _scatter_tensor(target_gpus)
        if _is_namedtuple(obj):
            return [type(obj)(*args) for args in zip(*map(scatter_map, obj))]
        if isinstance(obj, tuple) and len(obj) > 0:
            return list(zip(*map(scatter_map, obj)))
        if isinstance(obj, list) and len(obj) > 0:
            return [list(i) for i in zip(*map(scatter_map, obj))]
        if isinstance(obj, dict) and len(obj) > 0:
            return [type(obj)(i) for i in zip(*map(scatter_map, obj.items()))]
        return [obj for _ in target_gpus]

    return scatter_map(inputs)


def scatter_kwargs(
    inputs: tuple[Any, ...],
    kwargs: dict[str, Any] | None,
    target_gpus: Sequence[Any],
    dim: int = 0,
) -> tuple[tuple[Any, ...], tuple[dict[str, Any], ...]]:
    """``scatter`` of the positional and the keyword arguments, padded to the same number of devices."""
    scattered_inputs = scatter(inputs, target_gpus, dim) if inputs else []
    scattered_kwargs = scatter(kwargs, target_gpus, dim) if kwargs else []
    if len(scattered_inputs) < len(scattered_kwargs):
        scattered_inputs.extend(() for _ in range(len(scattered_kwargs) - len(scattered_inputs)))
    elif len(scattered_kwargs) < len(inputs):
        scattered_kwargs.extend({} for _ in range(len(scattered_inputs) - len(scattered_kwargs)))
    return tuple(scattered_inputs), tuple(scattered_kwargs)


def gather(outputs: Any, target_device: Any, dim: int = 0) -> Any:
    """Concatenate, along ``dim``, the per-device ``outputs`` (a sequence, one per device) on ``target_device``.

    Containers are walked as in ``scatter``; ``None`` stays ``None``.  Tensors are on the
    CPU here, which PyTorch's gather refuses (``AssertionError``)."""

    def gather_map(outs: Any) -> Any:
        out = outs[0]
        if isinstance(out, Tensor):
            raise AssertionError("Gather function not implemented for CPU tensors")
        if out is None:
            return None
        if isinstance(out, dict):
            if not all(len(out) == len(d) for d in outs):
                raise ValueError("All dicts must have the same number of keys")
            return type(out)((k, gather_map([d[k] for d in outs])) for k in out)
        if _is_namedtuple(out):
            return type(out)._make(map(gather_map, zip(*outs, strict=True)))
        return type(out)(map(gather_map, zip(*outs, strict=True)))

    return gather_map(outputs)
