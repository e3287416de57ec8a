"""Lazy layers (``torch.nn.LazyLinear``, ``LazyConv2d``, ``LazyBatchNorm1d``...): the input size
(``in_features`` / ``in_channels`` / ``num_features``) is read from the first input.

Until then the parameters are :class:`UninitializedParameter` objects (shape (0,)), which
``state_dict`` lists and optimisers can already hold: at the first forward the layer builds its
ordinary twin (``cls_to_become``, e.g. ``Linear(in_features, ...)``, initialised as that class
initialises), moves the twin's values into those same Parameter objects (which become plain
``Parameter``\\ s), and turns into an instance of the twin's class, as PyTorch's lazy modules do.
``load_state_dict`` on a layer not yet run materialises it from the checkpoint's shapes.

Simplified from PyTorch: an uninitialized parameter is an empty Parameter (arithmetic on it is
not refused), and no ``UninitializedBuffer`` class: a lazy buffer is an empty Tensor.
"""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np

from chainrule.autograd.primitive import table_of
from chainrule.autograd.tensor import Tensor
from chainrule.nn.module import Module
from chainrule.nn.parameter import Parameter
from chainrule.ops.creation import empty

__all__ = [
    "LazyBatchNorm1d", "LazyBatchNorm2d", "LazyBatchNorm3d", "LazyConv1d", "LazyConv2d", "LazyConv3d",
    "LazyConvTranspose1d", "LazyConvTranspose2d", "LazyConvTranspose3d", "LazyInstanceNorm1d",
    "LazyInstanceNorm2d", "LazyInstanceNorm3d", "LazyLinear", "LazyModuleMixin", "UninitializedParameter",
]


class UninitializedParameter(Parameter):
    """A parameter whose shape is not known yet (an empty Parameter until :meth:`materialize`)."""

    def __init__(self, requires_grad: bool = True, device: Any = None, dtype: Any = None) -> None:
        from chainrule.backend import get_default_dtype
        from chainrule.backend.device import check_device

        check_device(device, "UninitializedParameter")
        super().__init__(empty(0, dtype=np.dtype(dtype) if dtype is not None else get_default_dtype()), requires_grad)

    def materialize(self, shape: Any, device: Any = None, dtype: Any = None) -> None:
        """Give it ``shape`` (uninitialised values) and make it a plain ``Parameter``, in place."""
        dt = np.dtype(dtype) if dtype is not None else self._array.dtype
        self._array = table_of((self._array,), "materialize").empty(tuple(shape), dt)  # on its device
        self.__class__ = Parameter  # type: ignore[assignment]

    def __repr__(self) -> str:
        return "<UninitializedParameter>"


class LazyModuleMixin:
    """The lazy behaviour: ``cls_to_become`` (the ordinary class), the index of the input
    dimension that gives the missing size (``_in_dim``; a method ``_in_size`` for the rest)."""

    cls_to_become: str = ""  # "module:Class", imported when needed (the classes import nn)
    _unbatched_ndim = -1  # input ndim without a batch dimension (its size is then shape[0])
    _in_dim = 1

    def _lazy_setup(self, args: tuple, kwargs: dict) -> None:
        d = self.__dict__
        d["_lazy_args"] = (args, kwargs)
        proto = self._real_class()(self._proto_size(), *args, **kwargs)  # checks the arguments now, as PyTorch's
        for name, p in proto._parameters.items():
            if p is not None:
                self._parameters[name] = UninitializedParameter(p.requires_grad, dtype=p._array.dtype)  # type: ignore[attr-defined]
        for name, b in proto._buffers.items():
            if b is not None and b.ndim > 0:  # a per-feature buffer (running_mean...): lazy too
                self._buffers[name] = empty(0, dtype=b.dtype)  # type: ignore[attr-defined]
                d.setdefault("_lazy_buffers", set()).add(name)
            else:
                self._buffers[name] = b  # type: ignore[attr-defined]
        d["_non_persistent_buffers_set"] = set(proto._non_persistent_buffers_set)

    def _real_class(self) -> Any:
        mod, cls = self.cls_to_become.split(":")
        return getattr(importlib.import_module(mod), cls)

    def _proto_size(self) -> int:
        return 1

    def has_uninitialized_params(self) -> bool:
        """True until the first forward (or ``load_state_dict``) gave the parameters their shapes."""
        return bool(self.__dict__.get("_lazy_buffers")) or any(
            isinstance(p, UninitializedParameter) for p in self._parameters.values())  # type: ignore[attr-defined]

    def _in_size(self, input: Tensor) -> int:
        if not isinstance(input, Tensor):
            raise TypeError(f"{type(self).__name__}: expected a Tensor input, got {type(input).__name__}")
        if input.ndim == self._unbatched_ndim:
            return int(input.shape[0])
        if input.ndim <= self._in_dim:
            raise RuntimeError(f"{type(self).__name__}: cannot infer the input size from an input of shape "
                               f"{tuple(input.shape)}")
        return int(input.shape[self._in_dim])

    def initialize_parameters(self, input: Tensor) -> None:
        """Materialise from ``input``'s size (what the first forward does)."""
        if self.has_uninitialized_params():
            self._materialize(self._in_size(input))

    def _materialize(self, n: int) -> None:
        args, kwargs = self.__dict__["_lazy_args"]
        real = self._real_class()(n, *args, **kwargs)
        real.train(self.training)  # type: ignore[attr-defined]
        for name, p in list(real._parameters.items()):
            old = self._parameters.get(name)  # type: ignore[attr-defined]
            if isinstance(old, UninitializedParameter):  # keep the object (an optimiser may hold it)
                old._array = p._array
                old.__class__ = Parameter  # type: ignore[assignment]
                real._parameters[name] = old
        keep = {k: v for k, v in self.__dict__.items() if k.endswith("_hooks")}
        d = self.__dict__
        d.clear()
        d.update(real.__dict__)
        d.update(keep)
        self.__class__ = type(real)

    def _materialize_from_state(self, state_dict: Any, prefix: str) -> None:
        """``load_state_dict`` hook: give the parameters the checkpoint's shapes first."""
        if not self.has_uninitialized_params():
            return
        key = prefix + self._state_key
        if key in state_dict:
            self._materialize(self._size_from_state(tuple(state_dict[key].shape)))

    _state_key = "weight"

    def _size_from_state(self, shape: tuple) -> int:
        return int(shape[1])

    def forward(self, input: Tensor, *args: Any, **kwargs: Any) -> Any:
        self.initialize_parameters(input)
        return self.forward(input, *args, **kwargs)  # (self is now the ordinary layer)

    def extra_repr(self) -> str:
        args, kwargs = self.__dict__["_lazy_args"]
        return ", ".join([repr(a) for a in args] + [f"{k}={v!r}" for k, v in kwargs.items()])


class _Lazy(LazyModuleMixin, Module):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        Module.__init__(self)
        self._lazy_setup(args, kwargs)


class LazyLinear(_Lazy):
    """``Linear`` with ``in_features`` = the first input's last dimension."""

    cls_to_become = "chainrule.nn.modules.linear:Linear"
    _in_dim = -1
    _unbatched_ndim = -99

    def __init__(self, out_features: int, bias: bool = True, device: Any = None, dtype: Any = None) -> None:
        super().__init__(out_features, bias=bias, device=device, dtype=dtype)

    def _in_size(self, input: Tensor) -> int:
        if not isinstance(input, Tensor) or input.ndim == 0:
            raise RuntimeError(f"LazyLinear: expected an input with at least 1 dimension, got "
                               f"{getattr(input, 'shape', type(input).__name__)}")
        return int(input.shape[-1])


class _LazyConvNd(_Lazy):
    def __init__(self, out_channels: int, kernel_size: Any, stride: Any = 1, padding: Any = 0, dilation: Any = 1,
                 groups: int = 1, bias: bool = True, padding_mode: str = "zeros", device: Any = None,
                 dtype: Any = None) -> None:
        self.__dict__["_groups"] = groups
        super().__init__(out_channels, kernel_size, stride, padding, dilation, groups, bias, padding_mode,
                         device=device, dtype=dtype)

    def _proto_size(self) -> int:
        return int(self.__dict__["_groups"])  # (in_channels must be divisible by groups)

    def _size_from_state(self, shape: tuple) -> int:
        return int(shape[1]) * int(self.__dict__["_groups"])  # weight (out, in / groups, *k)


class LazyConv1d(_LazyConvNd):
    """``Conv1d`` with ``in_channels`` from the first input ((N, C, L) or (C, L))."""

    cls_to_become = "chainrule.nn.modules.conv:Conv1d"
    _unbatched_ndim = 2


class LazyConv2d(_LazyConvNd):
    """``Conv2d`` with ``in_channels`` from the first input ((N, C, H, W) or (C, H, W))."""

    cls_to_become = "chainrule.nn.modules.conv:Conv2d"
    _unbatched_ndim = 3


class LazyConv3d(_LazyConvNd):
    """``Conv3d`` with ``in_channels`` from the first input ((N, C, D, H, W) or (C, D, H, W))."""

    cls_to_become = "chainrule.nn.modules.three_d:Conv3d"
    _unbatched_ndim = 4


class _LazyConvTransposeNd(_LazyConvNd):
    def __init__(self, out_channels: int, kernel_size: Any, stride: Any = 1, padding: Any = 0,
                 output_padding: Any = 0, groups: int = 1, bias: bool = True, dilation: Any = 1,
                 padding_mode: str = "zeros", device: Any = None, dtype: Any = None) -> None:
        self.__dict__["_groups"] = groups
        _Lazy.__init__(self, out_channels, kernel_size, stride, padding, output_padding, groups, bias, dilation,
                       padding_mode, device=device, dtype=dtype)

    def _size_from_state(self, shape: tuple) -> int:
        return int(shape[0])  # weight (in, out / groups, *k)


class LazyConvTranspose1d(_LazyConvTransposeNd):
    """``ConvTranspose1d`` with ``in_channels`` from the first input."""

    cls_to_become = "chainrule.nn.modules.conv_transpose:ConvTranspose1d"
    _unbatched_ndim = 2


class LazyConvTranspose2d(_LazyConvTransposeNd):
    """``ConvTranspose2d`` with ``in_channels`` from the first input."""

    cls_to_become = "chainrule.nn.modules.conv_transpose:ConvTranspose2d"
    _unbatched_ndim = 3


class LazyConvTranspose3d(_LazyConvTransposeNd):
    """``ConvTranspose3d`` with ``in_channels`` from the first input."""

    cls_to_become = "chainrule.nn.modules.three_d:ConvTranspose3d"
    _unbatched_ndim = 4


class _LazyNorm(_Lazy):
    _state_key = "running_mean"

    def __init__(self, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                 track_running_stats: bool = True, device: Any = None, dtype: Any = None, *,
                 bias: bool = True) -> None:
        super().__init__(eps=eps, momentum=momentum, affine=affine, track_running_stats=track_running_stats,
                         device=device, dtype=dtype, bias=bias)

    def _materialize_from_state(self, state_dict: Any, prefix: str) -> None:
        if not self.has_uninitialized_params():
            return
        for key in ("weight", "running_mean"):  # (either says num_features)
            if prefix + key in state_dict:
                self._materialize(int(state_dict[prefix + key].shape[0]))
                return


class LazyBatchNorm1d(_LazyNorm):
    """``BatchNorm1d`` with ``num_features`` from the first input ((N, C) or (N, C, L))."""

    cls_to_become = "chainrule.nn.modules.normalization:BatchNorm1d"


class LazyBatchNorm2d(_LazyNorm):
    """``BatchNorm2d`` with ``num_features`` from the first input (N, C, H, W)."""

    cls_to_become = "chainrule.nn.modules.normalization:BatchNorm2d"


class LazyBatchNorm3d(_LazyNorm):
    """``BatchNorm3d`` with ``num_features`` from the first input (N, C, D, H, W)."""

    cls_to_become = "chainrule.nn.modules.normalization_extra:BatchNorm3d"


class LazyInstanceNorm1d(_LazyNorm):
    """``InstanceNorm1d`` with ``num_features`` from the first input ((N, C, L) or (C, L)); note
    PyTorch's lazy defaults affine=True, track_running_stats=True (the eager class's are False)."""

    cls_to_become = "chainrule.nn.modules.normalization_extra:InstanceNorm1d"
    _unbatched_ndim = 2


class LazyInstanceNorm2d(_LazyNorm):
    """``InstanceNorm2d`` with ``num_features`` from the first input ((N, C, H, W) or (C, H, W))."""

    cls_to_become = "chainrule.nn.modules.normalization_extra:InstanceNorm2d"
    _unbatched_ndim = 3


class LazyInstanceNorm3d(_LazyNorm):
    """``InstanceNorm3d`` with ``num_features`` from the first input."""

    cls_to_become = "chainrule.nn.modules.normalization_extra:InstanceNorm3d"
    _unbatched_ndim = 4
