"""PyTorch's top-level functions that are other spellings of something chainrule already has.

Three kinds (issue 12, the coverage of ``torch.*``):

* **in-place functions** ``torch.abs_(x)``, ``torch.clamp_(x, 0, 1)``...: PyTorch's top-level
  form of the Tensor method of the same name.  One generic mechanism, :func:`_method`, makes
  each (``abs_ = _method("abs_")``); the method does the work (the in-place rules of
  ``ops/inplace.py``: version counters, rebinding while recording).
* **functional layers** ``torch.conv2d``, ``torch.dropout``, ``torch.batch_norm``...: ATen's
  signatures, which are not always ``nn.functional``'s (``torch.dropout(input, p, train)`` has no
  defaults, ``torch.batch_norm`` takes weight and bias first, ``torch.embedding(weight,
  indices)`` swaps the arguments, the losses take ``reduction`` as an int: 0 none, 1 mean,
  2 sum).  Each wrapper maps its arguments onto the ``nn.functional`` function, imported on the
  first call so that ``import chainrule`` does not load ``chainrule.nn``.
* **global switches and state**: the random state as a byte tensor, deterministic-algorithm and
  warn-always flags, anomaly mode, inference mode.
"""

from __future__ import annotations

import importlib
import json
import math
import warnings
from typing import Any, Callable

import numpy as np

from chainrule.autograd.tensor import Tensor

# -- in-place functions: torch.<name>_(input, ...) is input.<name>_(...) --------------------------


def _method(name: str) -> Callable[..., Any]:
    """``torch.<name>(input, *args, **kwargs)`` = ``input.<name>(*args, **kwargs)``."""

    def fn(input: Tensor, *args: Any, **kwargs: Any) -> Any:
        if not isinstance(input, Tensor):
            raise TypeError(f"{name}(): argument 'input' must be a Tensor, not {type(input).__name__}")
        return getattr(input, name)(*args, **kwargs)

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"``chainrule.{name}(input, ...)`` is ``input.{name}(...)`` (PyTorch's top-level form)."
    return fn


abs_ = _method("abs_")
i0_ = _method("i0_")
acos_ = _method("acos_")
acosh_ = _method("acosh_")
addmv_ = _method("addmv_")
arccos_ = _method("arccos_")
arccosh_ = _method("arccosh_")
arcsin_ = _method("arcsin_")
arcsinh_ = _method("arcsinh_")
arctan_ = _method("arctan_")
arctanh_ = _method("arctanh_")
asin_ = _method("asin_")
asinh_ = _method("asinh_")
atan_ = _method("atan_")
atanh_ = _method("atanh_")
ceil_ = _method("ceil_")
clamp_ = _method("clamp_")
clamp_max_ = _method("clamp_max_")
clamp_min_ = _method("clamp_min_")
clip_ = _method("clip_")
cos_ = _method("cos_")
cosh_ = _method("cosh_")
deg2rad_ = _method("deg2rad_")
detach_ = _method("detach_")
erf_ = _method("erf_")
erfc_ = _method("erfc_")
exp2_ = _method("exp2_")
exp_ = _method("exp_")
expm1_ = _method("expm1_")
fill_ = _method("fill_")
fix_ = _method("fix_")
floor_ = _method("floor_")
frac_ = _method("frac_")
gcd_ = _method("gcd_")
lcm_ = _method("lcm_")
log10_ = _method("log10_")
log1p_ = _method("log1p_")
log2_ = _method("log2_")
log_ = _method("log_")
logit_ = _method("logit_")
nan_to_num_ = _method("nan_to_num_")
neg_ = _method("neg_")
negative_ = _method("negative_")
rad2deg_ = _method("rad2deg_")
reciprocal_ = _method("reciprocal_")
relu_ = _method("relu_")
round_ = _method("round_")
rsqrt_ = _method("rsqrt_")
sigmoid_ = _method("sigmoid_")
sin_ = _method("sin_")
sinc_ = _method("sinc_")
sinh_ = _method("sinh_")
sqrt_ = _method("sqrt_")
square_ = _method("square_")
tan_ = _method("tan_")
tanh_ = _method("tanh_")
trunc_ = _method("trunc_")
xlogy_ = _method("xlogy_")
ldexp_ = _method("ldexp_")
zero_ = _method("zero_")
# the two that are not in-place, also plain methods
get_device = _method("get_device")
ger = _method("ger")  # (PyTorch's deprecated name of outer)


_PROFILES: dict[str, dict[str, Any]] = {
    "default": {"precision": 4, "threshold": 1000, "edgeitems": 3, "linewidth": 80},
    "short": {"precision": 2, "threshold": 1000, "edgeitems": 2, "linewidth": 80},
    "full": {"precision": 4, "threshold": math.inf, "edgeitems": 3, "linewidth": 80},
}


def set_printoptions(precision: int | None = None, threshold: float | None = None, edgeitems: int | None = None,
                     linewidth: int | None = None, profile: str | None = None, sci_mode: bool | None = None) -> None:
    """How Tensors print (PyTorch's options): ``precision`` digits after the point (4),
    ``threshold`` the number of elements above which only ``edgeitems`` (3) at each end of every
    dimension are shown (1000), ``linewidth`` characters per line (80); ``profile`` 'default',
    'short' (precision 2, edgeitems 2) or 'full' (no summary) sets those four first, the other
    arguments then override; ``sci_mode`` True forces scientific notation, False fixed point,
    None (set by every call, as PyTorch) lets the values decide."""
    from chainrule.autograd.tensor import PRINT_OPTIONS

    if profile is not None:
        if profile not in _PROFILES:
            raise ValueError(f"set_printoptions: profile must be 'default', 'short' or 'full', got {profile!r}")
        PRINT_OPTIONS.update(_PROFILES[profile])
    for key, value in (("precision", precision), ("threshold", threshold), ("edgeitems", edgeitems),
                       ("linewidth", linewidth)):
        if value is not None:
            PRINT_OPTIONS[key] = value
    PRINT_OPTIONS["sci_mode"] = sci_mode


def get_printoptions() -> dict[str, Any]:
    """The current print options (the keyword arguments of :func:`set_printoptions`)."""
    from chainrule.autograd.tensor import PRINT_OPTIONS

    return dict(PRINT_OPTIONS)


_LEGACY_NAMES = {
    "float32": "FloatTensor", "float64": "DoubleTensor", "float16": "HalfTensor", "int64": "LongTensor",
    "int32": "IntTensor", "int16": "ShortTensor", "int8": "CharTensor", "uint8": "ByteTensor",
    "bool": "BoolTensor",
}


def typename(obj: Any) -> str:
    """The name PyTorch gives ``obj`` in messages: ``'torch.FloatTensor'`` for a float32 Tensor
    (``torch.<Legacy>Tensor`` by dtype), else the object's own ``module.qualname`` when it has a
    ``__qualname__``/``__name__`` (a class, a function), else that of its class; the module is
    left out for built-ins (``typename(3) == 'int'``)."""
    if isinstance(obj, Tensor):
        dtype = str(obj._array.dtype)
        return f"torch.{_LEGACY_NAMES.get(dtype, dtype.capitalize() + 'Tensor')}"
    if hasattr(obj, "__qualname__") or hasattr(obj, "__name__"):
        module = getattr(obj, "__module__", None) or ""
        qualname = getattr(obj, "__qualname__", None) or obj.__name__
    else:
        module = type(obj).__module__ or ""
        qualname = type(obj).__qualname__
    return qualname if module in ("", "builtins") else f"{module}.{qualname}"


def fill(input: Tensor, value: Any) -> Tensor:
    """A new tensor of ``input``'s shape and dtype, every element ``value`` (the out-of-place
    ``fill_``).  Gradient: 0 for ``input``; a Tensor ``value`` (0-d) receives the sum of the
    output's gradient."""
    from chainrule.ops import where

    if isinstance(value, Tensor) and value.ndim != 0:
        raise RuntimeError(f"fill only supports 0-dimension value tensor but got tensor with {value.ndim} dimensions.")
    everywhere = Tensor._wrap(np.ones((), dtype=bool))
    if isinstance(value, Tensor):
        value = value.to(input.dtype) if value.dtype != input.dtype else value
    return where(everywhere, value, input)


# -- functional layers at torch.*, with ATen's signatures -----------------------------------------


def _F() -> Any:
    return importlib.import_module("chainrule.nn.functional")


_REDUCTIONS = ("none", "mean", "sum")


def _reduction(reduction: Any, where: str) -> str:
    """ATen's int reduction (0 none, 1 mean, 2 sum); the string names are accepted as well."""
    if isinstance(reduction, str) and reduction in _REDUCTIONS:
        return reduction
    if isinstance(reduction, (int, np.integer)) and not isinstance(reduction, bool) and 0 <= reduction <= 2:
        return _REDUCTIONS[int(reduction)]
    raise ValueError(f"{where}: reduction must be 0 (none), 1 (mean) or 2 (sum), got {reduction!r}")


def _same(name: str) -> Callable[..., Any]:
    """``torch.<name>`` with the same signature as ``nn.functional.<name>``."""

    def fn(*args: Any, **kwargs: Any) -> Any:
        return getattr(_F(), name)(*args, **kwargs)

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"``chainrule.{name}`` = ``chainrule.nn.functional.{name}`` (same signature in PyTorch)."
    return fn


conv1d = _same("conv1d")
conv2d = _same("conv2d")
conv3d = _same("conv3d")
conv_transpose1d = _same("conv_transpose1d")
conv_transpose2d = _same("conv_transpose2d")
conv_transpose3d = _same("conv_transpose3d")
bilinear = _same("bilinear")
cosine_similarity = _same("cosine_similarity")
pairwise_distance = _same("pairwise_distance")
pdist = _same("pdist")
pixel_shuffle = _same("pixel_shuffle")
pixel_unshuffle = _same("pixel_unshuffle")
prelu = _same("prelu")
hardshrink = _same("hardshrink")
rms_norm = _same("rms_norm")
adaptive_avg_pool1d = _same("adaptive_avg_pool1d")
avg_pool1d = _same("avg_pool1d")
max_pool1d_with_indices = _same("max_pool1d_with_indices")


def max_pool1d(input: Tensor, kernel_size: Any, stride: Any = (), padding: Any = 0, dilation: Any = 1,
               ceil_mode: bool = False) -> Tensor:
    """``torch.max_pool1d``: ``F.max_pool1d`` without ``return_indices`` (stride ``()`` = kernel_size)."""
    return _F().max_pool1d(input, kernel_size, stride if stride != () else None, padding, dilation, ceil_mode)


def max_pool2d(input: Tensor, kernel_size: Any, stride: Any = (), padding: Any = 0, dilation: Any = 1,
               ceil_mode: bool = False) -> Tensor:
    """``torch.max_pool2d``: ``F.max_pool2d`` without ``return_indices`` (stride ``()`` = kernel_size)."""
    return _F().max_pool2d(input, kernel_size, stride if stride != () else None, padding, dilation, ceil_mode)


def max_pool3d(input: Tensor, kernel_size: Any, stride: Any = (), padding: Any = 0, dilation: Any = 1,
               ceil_mode: bool = False) -> Tensor:
    """``torch.max_pool3d``: ``F.max_pool3d`` without ``return_indices`` (stride ``()`` = kernel_size)."""
    return _F().max_pool3d(input, kernel_size, stride if stride != () else None, padding, dilation, ceil_mode)


def adaptive_max_pool1d(input: Tensor, output_size: Any) -> tuple[Tensor, Tensor]:
    """``torch.adaptive_max_pool1d``: always the pair (values, indices)."""
    return _F().adaptive_max_pool1d(input, output_size, return_indices=True)


def dropout(input: Tensor, p: float, train: bool) -> Tensor:
    """``torch.dropout(input, p, train)`` (no defaults, as ATen's)."""
    return _F().dropout(input, p, train)


def dropout_(input: Tensor, p: float, train: bool) -> Tensor:
    return _F().dropout(input, p, train, inplace=True)


def alpha_dropout(input: Tensor, p: float, train: bool) -> Tensor:
    """``torch.alpha_dropout(input, p, train)`` (SELU-preserving dropout)."""
    return _F().alpha_dropout(input, p, train)


def alpha_dropout_(input: Tensor, p: float, train: bool) -> Tensor:
    return _F().alpha_dropout(input, p, train, inplace=True)


def feature_alpha_dropout(input: Tensor, p: float, train: bool) -> Tensor:
    """``torch.feature_alpha_dropout(input, p, train)`` (whole channels at once)."""
    return _F().feature_alpha_dropout(input, p, train)


def feature_alpha_dropout_(input: Tensor, p: float, train: bool) -> Tensor:
    return _F().feature_alpha_dropout(input, p, train, inplace=True)


def celu(input: Tensor, alpha: float = 1.0) -> Tensor:
    return _F().celu(input, alpha)


def celu_(input: Tensor, alpha: float = 1.0) -> Tensor:
    return _F().celu_(input, alpha)


def selu(input: Tensor) -> Tensor:
    return _F().selu(input)


def selu_(input: Tensor) -> Tensor:
    return _F().selu_(input)


def rrelu(input: Tensor, lower: float = 0.125, upper: float = 1.0 / 3.0, training: bool = False,
          generator: Any = None) -> Tensor:
    """``torch.rrelu``: randomized leaky ReLU (slope uniform on [lower, upper] when training, else
    their mean).  ``generator`` other than None is not supported."""
    if generator is not None:
        raise NotImplementedError("rrelu: generator= is not supported (the default generator is used)")
    return _F().rrelu(input, lower, upper, training)


def rrelu_(input: Tensor, lower: float = 0.125, upper: float = 1.0 / 3.0, training: bool = False,
           generator: Any = None) -> Tensor:
    if generator is not None:
        raise NotImplementedError("rrelu_: generator= is not supported (the default generator is used)")
    return _F().rrelu_(input, lower, upper, training)


def threshold(input: Tensor, threshold: float, value: float) -> Tensor:
    """y = x where x > threshold, else value."""
    return _F().threshold(input, threshold, value)


def threshold_(input: Tensor, threshold: float, value: float) -> Tensor:
    return _F().threshold_(input, threshold, value)


def batch_norm(input: Tensor, weight: Tensor | None, bias: Tensor | None, running_mean: Tensor | None,
               running_var: Tensor | None, training: bool, momentum: float, eps: float,
               cudnn_enabled: bool = True) -> Tensor:
    """``torch.batch_norm``: weight and bias come first (``F.batch_norm`` takes the running
    statistics first); ``cudnn_enabled`` is accepted and ignored (CPU)."""
    return _F().batch_norm(input, running_mean, running_var, weight, bias, training, momentum, eps)


def instance_norm(input: Tensor, weight: Tensor | None, bias: Tensor | None, running_mean: Tensor | None,
                  running_var: Tensor | None, use_input_stats: bool, momentum: float, eps: float,
                  cudnn_enabled: bool = True) -> Tensor:
    """``torch.instance_norm`` (argument order as ``torch.batch_norm``)."""
    return _F().instance_norm(input, running_mean, running_var, weight, bias, use_input_stats, momentum, eps)


def layer_norm(input: Tensor, normalized_shape: Any, weight: Tensor | None = None, bias: Tensor | None = None,
               eps: float = 1e-5, cudnn_enable: bool = True) -> Tensor:
    return _F().layer_norm(input, normalized_shape, weight, bias, eps)


def group_norm(input: Tensor, num_groups: int, weight: Tensor | None = None, bias: Tensor | None = None,
               eps: float = 1e-5, cudnn_enabled: bool = True) -> Tensor:
    return _F().group_norm(input, num_groups, weight, bias, eps)


def embedding(weight: Tensor, indices: Any, padding_idx: int = -1, scale_grad_by_freq: bool = False,
              sparse: bool = False) -> Tensor:
    """``torch.embedding(weight, indices)``: the rows ``weight[indices]`` (note the order: weight
    first, unlike ``F.embedding``).  ``padding_idx`` -1 means none (ATen's convention); a row
    given there receives no gradient."""
    pad = None if padding_idx is None or padding_idx < 0 else padding_idx
    return _F().embedding(indices, weight, padding_idx=pad, scale_grad_by_freq=scale_grad_by_freq, sparse=sparse)


def binary_cross_entropy_with_logits(input: Tensor, target: Tensor, weight: Tensor | None = None,
                                     pos_weight: Tensor | None = None, reduction: Any = 1) -> Tensor:
    r = _reduction(reduction, "binary_cross_entropy_with_logits")
    return _F().binary_cross_entropy_with_logits(input, target, weight, reduction=r, pos_weight=pos_weight)


def cosine_embedding_loss(input1: Tensor, input2: Tensor, target: Tensor, margin: float = 0.0,
                          reduction: Any = 1) -> Tensor:
    r = _reduction(reduction, "cosine_embedding_loss")
    return _F().cosine_embedding_loss(input1, input2, target, margin, reduction=r)


def margin_ranking_loss(input1: Tensor, input2: Tensor, target: Tensor, margin: float = 0.0,
                        reduction: Any = 1) -> Tensor:
    r = _reduction(reduction, "margin_ranking_loss")
    return _F().margin_ranking_loss(input1, input2, target, margin, reduction=r)


def hinge_embedding_loss(input: Tensor, target: Tensor, margin: float = 1.0, reduction: Any = 1) -> Tensor:
    r = _reduction(reduction, "hinge_embedding_loss")
    return _F().hinge_embedding_loss(input, target, margin, reduction=r)


def kl_div(input: Tensor, target: Tensor, reduction: Any = 1, *, log_target: bool = False) -> Tensor:
    """``torch.kl_div``: reduction 1 (mean) averages over every element, as ATen's does (not
    'batchmean')."""
    r = _reduction(reduction, "kl_div")
    return _F().kl_div(input, target, reduction=r, log_target=log_target)


def poisson_nll_loss(input: Tensor, target: Tensor, log_input: bool, full: bool, eps: float,
                     reduction: Any) -> Tensor:
    r = _reduction(reduction, "poisson_nll_loss")
    return _F().poisson_nll_loss(input, target, log_input, full, eps=eps, reduction=r)


def triplet_margin_loss(anchor: Tensor, positive: Tensor, negative: Tensor, margin: float = 1.0, p: float = 2.0,
                        eps: float = 1e-6, swap: bool = False, reduction: Any = 1) -> Tensor:
    r = _reduction(reduction, "triplet_margin_loss")
    return _F().triplet_margin_loss(anchor, positive, negative, margin, p, eps, swap, reduction=r)


# -- creation -------------------------------------------------------------------------------------


def range(start: float = 0, end: float | None = None, step: float = 1, *, dtype: Any = None,
          device: Any = None, requires_grad: bool = False, layout: Any = None) -> Tensor:
    """``torch.range`` (deprecated in PyTorch, which warns): start, start+step, ..., **up to and
    including** end; floating-point (the default dtype) unless ``dtype`` says otherwise."""
    from chainrule.backend import get_default_dtype
    from chainrule.backend.device import check_device
    from chainrule.backend.layout import check_layout

    check_device(device, "range()")
    check_layout(layout, "range()")
    warnings.warn("torch.range is deprecated and will be removed; use torch.arange, which excludes the end",
                  UserWarning, stacklevel=2)
    if end is None:
        start, end = 0, start
    if step == 0:
        raise RuntimeError("range: step must be nonzero")
    if (end - start) * step < 0:
        raise RuntimeError(f"range: upper bound and larger bound inconsistent with step sign "
                           f"(start={start}, end={end}, step={step})")
    n = int(math.floor((end - start) / step + 1e-12)) + 1  # (+1: the end is included)
    dt = np.dtype(dtype) if dtype is not None else get_default_dtype()
    out = Tensor._wrap((start + step * np.arange(n, dtype=np.float64)).astype(dt))
    if requires_grad:
        out.requires_grad_(True)
    return out


def randint_like(input: Tensor, low: int = 0, high: int | None = None, *, dtype: Any = None,
                 device: Any = None, requires_grad: bool = False, layout: Any = None) -> Tensor:
    """Integers uniform on [low, high) in ``input``'s shape (and dtype unless ``dtype``);
    ``randint_like(x, high)`` also works."""
    from chainrule.backend.layout import check_layout
    from chainrule.ops import randint

    check_layout(layout, "randint_like()")
    if high is None:
        low, high = 0, low
    out = randint(low, high, tuple(input.shape), dtype=dtype if dtype is not None else input.dtype, device=device)
    if requires_grad:
        out.requires_grad_(True)
    return out


def asarray(obj: Any, *, dtype: Any = None, device: Any = None, copy: bool | None = None,
            requires_grad: bool = False) -> Tensor:
    """``torch.asarray``: a Tensor on ``obj``'s memory where it can be (a Tensor of the same dtype,
    a NumPy array; ``copy=False`` raises when it cannot), a copy where ``copy=True``."""
    from chainrule.backend.device import check_device
    from chainrule.ops import tensor

    check_device(device, "asarray()")
    if isinstance(obj, Tensor):
        same = dtype is None or np.dtype(dtype) == obj.dtype
        if copy is False and not same:
            raise ValueError(f"asarray: copy=False but converting dtype {obj.dtype} to {np.dtype(dtype)} needs a copy")
        if same and not copy:
            out = obj
        else:
            out = obj.detach().clone() if same else obj.detach().to(np.dtype(dtype))
            out = out.detach()
        if requires_grad:
            out.requires_grad_(True)
        return out
    if isinstance(obj, np.ndarray):
        dt = np.dtype(dtype) if dtype is not None else obj.dtype
        if copy is False and dt != obj.dtype:
            raise ValueError(f"asarray: copy=False but converting dtype {obj.dtype} to {dt} needs a copy")
        arr = np.array(obj, dtype=dt, copy=True) if copy else np.asarray(obj, dtype=dt)
        out = Tensor._wrap(arr)
        if requires_grad:
            out.requires_grad_(True)
        return out
    if copy is False:
        raise ValueError(f"asarray: copy=False but a {type(obj).__name__} has no memory a tensor can share")
    return tensor(obj, dtype=dtype, requires_grad=requires_grad)


# -- global state ---------------------------------------------------------------------------------


def get_rng_state() -> Tensor:
    """The default generator's exact state as a uint8 tensor (the bytes of its JSON text), for
    :func:`set_rng_state` — a ByteTensor as PyTorch's, though not in PyTorch's byte layout."""
    from chainrule.backend.random import default_generator

    text = json.dumps(default_generator().bit_generator.state)
    return Tensor._wrap(np.frombuffer(text.encode(), dtype=np.uint8).copy())


def set_rng_state(new_state: Tensor) -> None:
    """Restore a state returned by :func:`get_rng_state` (the same random numbers follow)."""
    from chainrule.backend.random import default_generator

    if not isinstance(new_state, Tensor) or new_state.dtype != np.uint8:
        raise TypeError(f"set_rng_state: expected a uint8 Tensor from get_rng_state(), "
                        f"got {type(new_state).__name__} {getattr(new_state, 'dtype', '')}")
    try:
        state = json.loads(new_state._array.tobytes().decode())
        default_generator().bit_generator.state = state
    except (ValueError, TypeError, KeyError) as e:
        raise RuntimeError(f"set_rng_state: not a state returned by chainrule.get_rng_state() ({e})") from None


def initial_seed() -> int:
    """The seed the default generator was last seeded with (by ``manual_seed`` or :func:`seed`,
    else the random one drawn at import)."""
    from chainrule.backend import random as _random

    return _random.initial_seed()


def seed() -> int:
    """Seed the default generator with a non-deterministic random number; returns it."""
    import secrets

    from chainrule.backend import random as _random

    s = secrets.randbits(63)
    _random.manual_seed(s)
    return s


# Deterministic algorithms: chainrule's NumPy kernels are deterministic already, so the flags
# only have to be remembered and reported (as PyTorch's CPU build mostly is).
_FLAGS: dict[str, Any] = {"deterministic": False, "warn_only": False, "warn_always": False}


def use_deterministic_algorithms(mode: bool, *, warn_only: bool = False) -> None:
    """Remember the mode (every chainrule kernel is deterministic: nothing to switch)."""
    if not isinstance(mode, bool):
        raise TypeError(f"use_deterministic_algorithms: mode must be a bool, got {type(mode).__name__}")
    _FLAGS["deterministic"], _FLAGS["warn_only"] = mode, bool(warn_only)


def are_deterministic_algorithms_enabled() -> bool:
    return bool(_FLAGS["deterministic"])


def is_deterministic_algorithms_warn_only_enabled() -> bool:
    return bool(_FLAGS["warn_only"])


_DEBUG_MODES = {"default": 0, "warn": 1, "error": 2}


def set_deterministic_debug_mode(debug_mode: int | str) -> None:
    """0/'default': off; 1/'warn' and 2/'error' = ``use_deterministic_algorithms(True, warn_only=...)``."""
    if isinstance(debug_mode, str):
        if debug_mode not in _DEBUG_MODES:
            raise RuntimeError(f"invalid value of debug_mode, expected one of 'default', 'warn', 'error', "
                               f"but got {debug_mode}")
        debug_mode = _DEBUG_MODES[debug_mode]
    if debug_mode not in (0, 1, 2):
        raise RuntimeError(f"invalid value of debug_mode, expected 0, 1, or 2, but got {debug_mode}")
    use_deterministic_algorithms(debug_mode != 0, warn_only=debug_mode == 1)


def get_deterministic_debug_mode() -> int:
    if not are_deterministic_algorithms_enabled():
        return 0
    return 1 if is_deterministic_algorithms_warn_only_enabled() else 2


def set_warn_always(b: bool) -> None:
    """Remember the flag (chainrule's warnings use Python's ``warnings`` filters either way)."""
    _FLAGS["warn_always"] = bool(b)


def is_warn_always_enabled() -> bool:
    return bool(_FLAGS["warn_always"])


def set_anomaly_enabled(enabled: bool, check_nan: bool = True) -> None:
    """Switch anomaly detection on or off (``autograd.set_detect_anomaly`` as a plain call)."""
    from chainrule.autograd.anomaly import set_detect_anomaly

    set_detect_anomaly(enabled, check_nan)


def is_anomaly_enabled() -> bool:
    from chainrule.autograd.anomaly import is_anomaly_enabled as f

    return f()


def is_anomaly_check_nan_enabled() -> bool:
    from chainrule.autograd.anomaly import is_anomaly_check_nan_enabled as f

    return f()


def is_inference_mode_enabled() -> bool:
    """True inside ``inference_mode()`` in this thread (not inside a plain ``no_grad``)."""
    from chainrule.autograd.grad_mode import is_inference_mode_enabled as f

    return f()


def is_inference(input: Tensor) -> bool:
    """Whether ``input`` is an inference tensor (made inside ``inference_mode()``): ``input.is_inference()``."""
    if not isinstance(input, Tensor):
        raise TypeError(f"is_inference(): argument 'input' must be a Tensor, not {type(input).__name__}")
    return input.is_inference()


__all__ = [
    "i0_", "abs_", "acos_", "acosh_", "addmv_", "arccos_", "arccosh_", "arcsin_", "arcsinh_", "arctan_", "arctanh_",
    "asin_", "asinh_", "atan_", "atanh_", "ceil_", "clamp_", "clamp_max_", "clamp_min_", "clip_", "cos_", "cosh_",
    "deg2rad_", "detach_", "erf_", "erfc_", "exp2_", "exp_", "expm1_", "fill_", "fix_", "floor_", "frac_", "gcd_",
    "lcm_", "log10_", "log1p_", "log2_", "log_", "logit_", "nan_to_num_", "neg_", "negative_", "rad2deg_",
    "reciprocal_", "relu_", "round_", "rsqrt_", "sigmoid_", "sin_", "sinc_", "sinh_", "sqrt_", "square_", "tan_",
    "tanh_", "trunc_", "xlogy_", "ldexp_", "zero_", "get_device", "ger", "fill", "typename",
    "set_printoptions", "get_printoptions",
    "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d", "bilinear",
    "cosine_similarity", "pairwise_distance", "pdist", "pixel_shuffle", "pixel_unshuffle", "prelu", "hardshrink",
    "rms_norm", "adaptive_avg_pool1d", "avg_pool1d", "max_pool1d_with_indices", "max_pool1d", "max_pool2d",
    "max_pool3d", "adaptive_max_pool1d", "dropout", "dropout_", "alpha_dropout", "alpha_dropout_",
    "feature_alpha_dropout", "feature_alpha_dropout_", "celu", "celu_", "selu", "selu_", "rrelu", "rrelu_",
    "threshold", "threshold_", "batch_norm", "instance_norm", "layer_norm", "group_norm", "embedding",
    "binary_cross_entropy_with_logits", "cosine_embedding_loss", "margin_ranking_loss", "hinge_embedding_loss",
    "kl_div", "poisson_nll_loss", "triplet_margin_loss",
    "range", "randint_like", "asarray",
    "get_rng_state", "set_rng_state", "initial_seed", "seed", "use_deterministic_algorithms",
    "are_deterministic_algorithms_enabled", "is_deterministic_algorithms_warn_only_enabled",
    "set_deterministic_debug_mode", "get_deterministic_debug_mode", "set_warn_always", "is_warn_always_enabled",
    "set_anomaly_enabled", "is_anomaly_enabled", "is_anomaly_check_nan_enabled", "is_inference_mode_enabled",
    "is_inference",
]
