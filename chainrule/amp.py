"""``chainrule.amp``: automatic mixed precision as PyTorch's CPU-only build offers it.

``autocast`` and ``GradScaler`` exist so that training loops written for mixed precision run
unchanged.  They behave as on PyTorch without a GPU, with one difference, said here once:

* :class:`autocast` never lowers precision: inside ``autocast('cpu', dtype=torch.bfloat16)``
  PyTorch runs matrix products in bfloat16, chainrule keeps computing in the tensors' own
  dtype (NumPy has no bfloat16 arithmetic).  Results are therefore at least as accurate as
  PyTorch's, and slightly different.  ``autocast('cuda')`` warns and is disabled, as PyTorch
  says ("CUDA is not available ... Disabling autocast").
* :class:`GradScaler` for ``'cuda'`` (the default device, and ``chainrule.cuda.amp.GradScaler``)
  warns and disables itself as PyTorch's does without CUDA; disabled, ``scale(loss)`` returns
  ``loss``, ``step(opt)`` calls ``opt.step()``, ``update()`` does nothing and ``state_dict()``
  is ``{}``.  ``GradScaler('cpu')`` is a working loss scaler as PyTorch's CPU one: the loss is
  multiplied by the scale (65536 at first), ``unscale_``/``step`` divide the gradients by it and
  skip the step when one of them is inf or NaN, and ``update`` halves the scale after a skipped
  step and doubles it after ``growth_interval`` good ones.
"""

from __future__ import annotations

import functools
import threading
import warnings
from typing import Any, Callable, TypeVar

import numpy as np

from chainrule.autograd.host_steps import host_step
from chainrule.backend.device import DEVICE_TYPES

__all__ = ["GradScaler", "autocast", "custom_bwd", "custom_fwd", "is_autocast_available"]

_F = TypeVar("_F", bound=Callable[..., Any])
_FLOAT32_MAX = float(np.finfo(np.float32).max)



class _State(threading.local):
    """Per thread, as PyTorch's autocast state (and chainrule's grad mode): device type -> whether
    an enabled autocast region is open (read by is_autocast_enabled)."""

    def __init__(self) -> None:
        self.enabled: dict[str, bool] = {}


_STATE = _State()


def _device_type(device_type: Any, where: str) -> str:
    if not isinstance(device_type, str):
        raise ValueError(f"{where}: Expected `device_type` of type `str`, got: `{type(device_type)}`")
    if device_type not in DEVICE_TYPES:
        raise RuntimeError(
            f"{where}: Expected one of {', '.join(DEVICE_TYPES)} device type at start of device string: {device_type}"
        )
    return device_type


def is_autocast_available(device_type: str) -> bool:
    """Whether autocast can be enabled for ``device_type``: only 'cpu' here."""
    return _device_type(device_type, "is_autocast_available()") == "cpu"


class autocast:  # noqa: N801  (the PyTorch name)
    """Context manager (and decorator) for a mixed-precision region, ``torch.autocast``.

    Args:
        device_type: 'cpu' (enabled) or another device type (disabled with PyTorch's warning).
        dtype: the lower precision PyTorch would use; default bfloat16 on the CPU.  chainrule
            does not compute in it (see the module docstring).
        enabled: False makes the region a no-op.
        cache_enabled: accepted for compatibility; there is no cast cache.
    """

    def __init__(self, device_type: str, dtype: Any = None, enabled: bool = True,
                 cache_enabled: bool | None = None) -> None:
        self.device = _device_type(device_type, "autocast")
        if dtype is None:
            from chainrule import bfloat16, float16
            dtype = bfloat16 if self.device == "cpu" else float16
        self.fast_dtype = dtype
        self._cache_enabled = True if cache_enabled is None else bool(cache_enabled)
        if enabled and self.device != "cpu":
            warnings.warn(
                f"User provided device_type of '{self.device}', but {self.device.upper()} is not available "
                "(chainrule computes on the CPU). Disabling autocast.", stacklevel=2)
            enabled = False
        elif enabled and str(dtype) not in ("bfloat16", "float16"):
            warnings.warn(
                "In CPU autocast, but the target dtype is not supported. Disabling autocast.\n"
                "CPU Autocast only supports dtype of torch.bfloat16, torch.float16 currently.", stacklevel=2)
            enabled = False
        self._enabled = bool(enabled)
        self._prev: list[bool] = []

    def __enter__(self) -> autocast:
        self._prev.append(_STATE.enabled.get(self.device, False))
        _STATE.enabled[self.device] = self._enabled
        return self

    def __exit__(self, *exc: Any) -> None:
        _STATE.enabled[self.device] = self._prev.pop()

    def __call__(self, func: _F) -> _F:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with autocast(self.device, self.fast_dtype, self._enabled, self._cache_enabled):
                return func(*args, **kwargs)
        return wrapper  # type: ignore[return-value]


def is_autocast_enabled(device_type: str = "cuda") -> bool:
    """Whether an enabled autocast region for ``device_type`` is open (``torch.is_autocast_enabled``)."""
    return _STATE.enabled.get(_device_type(device_type, "is_autocast_enabled()"), False)


def custom_fwd(fwd: Callable[..., Any] | None = None, *, device_type: str, cast_inputs: Any = None) -> Any:
    """Decorator for a custom ``autograd.Function``'s ``forward`` (``torch.amp.custom_fwd``).

    Records on ``ctx`` whether ``forward`` ran inside an enabled autocast region for
    ``device_type`` (``custom_bwd`` runs ``backward`` in the same state).  With
    ``cast_inputs``, inside an enabled region ``forward`` runs with autocast disabled; PyTorch
    also casts the floating-point inputs to ``cast_inputs`` there, which chainrule, whose
    autocast never lowers precision (see the module docstring), does not.  Outside an enabled
    region it is a no-op, as PyTorch's.
    """
    if not isinstance(device_type, str):
        raise ValueError(f"Expected `device_type` of type `str`, got: `{type(device_type)}`")
    if fwd is None:
        return functools.partial(custom_fwd, device_type=device_type, cast_inputs=cast_inputs)
    fn = fwd

    @functools.wraps(fn)
    def decorate_fwd(*args: Any, **kwargs: Any) -> Any:
        ctx = args[0]
        ctx._dtype = _default_dtype(device_type)
        on = is_autocast_enabled(device_type)
        if cast_inputs is None:
            ctx._fwd_used_autocast = on
            return fn(*args, **kwargs)
        ctx._fwd_used_autocast = False
        if on:
            with autocast(device_type=device_type, enabled=False):
                return fn(*args, **kwargs)
        return fn(*args, **kwargs)

    return decorate_fwd


def custom_bwd(bwd: Callable[..., Any] | None = None, *, device_type: str) -> Any:
    """Decorator for a custom ``autograd.Function``'s ``backward`` (``torch.amp.custom_bwd``):
    runs it in the autocast state its ``forward`` (decorated with :func:`custom_fwd`) ran in."""
    if not isinstance(device_type, str):
        raise ValueError(f"Expected `device_type` of type `str`, got: `{type(device_type)}`")
    if bwd is None:
        return functools.partial(custom_bwd, device_type=device_type)
    fn = bwd

    @functools.wraps(fn)
    def decorate_bwd(*args: Any, **kwargs: Any) -> Any:
        ctx = args[0]
        with autocast(device_type=device_type, enabled=ctx._fwd_used_autocast, dtype=ctx._dtype):
            return fn(*args, **kwargs)

    return decorate_bwd


def _default_dtype(device_type: str) -> Any:
    from chainrule import bfloat16, float16

    return bfloat16 if device_type == "cpu" else float16


class GradScaler:
    """Loss scaling for mixed precision, ``torch.amp.GradScaler``.

    ``scaler.scale(loss).backward(); scaler.step(opt); scaler.update()``.  Enabled only for
    ``device='cpu'``; for 'cuda' (the default) it warns and disables itself, as PyTorch's
    CPU-only build does.  See the module docstring for what each method does.

    In a step compiled by ``chainrule.compile``, the scale is a float32 tensor the plan reads,
    and ``unscale_``, ``step`` and ``update`` are host steps (``autograd/host_steps.py``): a
    replay runs them again, so the finiteness check, the skipped step and the scale's growth
    and back-off happen as in eager.
    """

    def __init__(self, device: str = "cuda", init_scale: float = 2.0**16, growth_factor: float = 2.0,
                 backoff_factor: float = 0.5, growth_interval: int = 2000, enabled: bool = True) -> None:
        self._device = _device_type(device, "GradScaler")
        if enabled and self._device != "cpu":
            warnings.warn(
                f"torch.{self._device}.amp.GradScaler is enabled, but {self._device.upper()} is not available "
                "(chainrule computes on the CPU).  Disabling.", stacklevel=2)
            enabled = False
        self._enabled = bool(enabled)
        if self._enabled:
            if growth_factor <= 1.0:
                raise ValueError(f"GradScaler: the growth factor must be > 1.0, got {growth_factor}")
            if not 0.0 < backoff_factor < 1.0:
                raise ValueError(f"GradScaler: the backoff factor must be < 1.0 (and > 0), got {backoff_factor}")
        # the scale is a float32 tensor, as PyTorch's: a compiled step reads it at each replay
        # (``scale``), and the host steps below change it in place
        from chainrule.autograd.tensor import Tensor

        self._scale_tensor = Tensor._wrap(np.array(init_scale, np.float32))
        self._growth_factor = float(growth_factor)
        self._backoff_factor = float(backoff_factor)
        self._growth_interval = int(growth_interval)
        self._growth_tracker = 0
        self._per_optimizer: dict[int, dict[str, Any]] = {}  # id(optimizer) -> {'unscaled', 'found_inf', 'stepped'}

    @property
    def _scale(self) -> float:
        return float(self._scale_tensor._array)

    @_scale.setter
    def _scale(self, value: float) -> None:
        self._scale_tensor._array[...] = value

    def is_enabled(self) -> bool:
        return self._enabled

    def get_scale(self) -> float:
        """The current scale (1.0 when disabled, as PyTorch)."""
        return self._scale if self._enabled else 1.0

    def get_growth_factor(self) -> float:
        return self._growth_factor

    def set_growth_factor(self, new_factor: float) -> None:
        self._growth_factor = float(new_factor)

    def get_backoff_factor(self) -> float:
        return self._backoff_factor

    def set_backoff_factor(self, new_factor: float) -> None:
        self._backoff_factor = float(new_factor)

    def get_growth_interval(self) -> int:
        return self._growth_interval

    def set_growth_interval(self, new_interval: int) -> None:
        self._growth_interval = int(new_interval)

    def scale(self, outputs: Any) -> Any:
        """``outputs`` (a Tensor or nested lists/tuples of them) times the scale; unchanged when disabled."""
        if not self._enabled:
            return outputs
        if isinstance(outputs, (list, tuple)):
            return type(outputs)(self.scale(o) for o in outputs)
        from chainrule.autograd.tensor import Tensor
        if not isinstance(outputs, Tensor):
            raise ValueError(f"GradScaler.scale(): outputs must be a Tensor or an iterable of Tensors, "
                             f"got {type(outputs).__name__}")
        return outputs * self._scale_tensor

    def _state(self, optimizer: Any) -> dict[str, Any]:
        return self._per_optimizer.setdefault(id(optimizer), {"unscaled": False, "found_inf": False,
                                                              "stepped": False})

    def host_step_writes(self, method: str, args: tuple, kwargs: dict) -> list | None:
        """What host step ``method(*args, **kwargs)`` of this scaler may write, for a compiled
        plan (``compiler/capture.py``): ``update``, the scale; ``unscale_`` and ``step`` (without
        a closure), the optimizer's tensors.  None: not known."""
        if method == "update":
            return [self._scale_tensor]
        if method in ("unscale_", "step") and len(args) == 1 and not kwargs:
            return [args[0]]
        return None

    @host_step
    def unscale_(self, optimizer: Any) -> None:
        """Divide ``optimizer``'s gradients by the scale, in place, and note whether one is inf/NaN."""
        if not self._enabled:
            return
        from chainrule.autograd import version
        state = self._state(optimizer)
        if state["unscaled"]:
            raise RuntimeError("unscale_() has already been called on this optimizer since the last update().")
        if state["stepped"]:
            raise RuntimeError("unscale_() is being called after step().")
        inv = 1.0 / self._scale
        found = False
        for group in optimizer.param_groups:
            for p in group["params"]:
                g = p.grad
                if g is None:
                    continue
                if not np.isfinite(g._array).all():
                    found = True
                g._array *= np.asarray(inv, dtype=g._array.dtype)
                version.bump(g)  # (the gradient's memory changed in place)
        state["unscaled"] = True
        state["found_inf"] = found

    @host_step
    def step(self, optimizer: Any, *args: Any, **kwargs: Any) -> Any:
        """Unscale (unless done) and call ``optimizer.step()`` unless a gradient is inf/NaN."""
        if not self._enabled:
            return optimizer.step(*args, **kwargs)
        state = self._state(optimizer)
        if state["stepped"]:
            raise RuntimeError("step() has already been called since the last update().")
        if not state["unscaled"]:
            self.unscale_(optimizer)
        state["stepped"] = True
        if state["found_inf"]:
            return None
        return optimizer.step(*args, **kwargs)

    @host_step
    def update(self, new_scale: float | None = None) -> None:
        """Back off after a skipped step, grow after ``growth_interval`` good ones (or set ``new_scale``)."""
        if not self._enabled:
            return
        if new_scale is not None:
            self._scale = float(new_scale)
        elif self._per_optimizer:
            if any(s["found_inf"] for s in self._per_optimizer.values()):
                self._scale *= self._backoff_factor
                self._growth_tracker = 0
            else:
                self._growth_tracker += 1
                if self._growth_tracker == self._growth_interval:
                    grown = self._scale * self._growth_factor
                    if grown <= _FLOAT32_MAX:  # (PyTorch keeps its float32 scale when growing would overflow it)
                        self._scale = grown
                    self._growth_tracker = 0
        self._per_optimizer = {}

    def state_dict(self) -> dict[str, Any]:
        """{'scale', 'growth_factor', 'backoff_factor', 'growth_interval', '_growth_tracker'}; {} when disabled."""
        if not self._enabled:
            return {}
        return {"scale": self._scale, "growth_factor": self._growth_factor, "backoff_factor": self._backoff_factor,
                "growth_interval": self._growth_interval, "_growth_tracker": self._growth_tracker}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if not self._enabled:
            return
        if len(state_dict) == 0:
            raise RuntimeError("The source state dict is empty, possibly because it was saved from a disabled "
                               "instance of GradScaler.")
        self._scale = float(state_dict["scale"])
        self._growth_factor = float(state_dict["growth_factor"])
        self._backoff_factor = float(state_dict["backoff_factor"])
        self._growth_interval = int(state_dict["growth_interval"])
        self._growth_tracker = int(state_dict["_growth_tracker"])
