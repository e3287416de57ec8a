"""chainrule: a readable deep-learning library on NumPy with a PyTorch-compatible API.

    import chainrule as cr
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    (x * x).sum().backward()
    x.grad  # tensor([2., 4.])
"""

import builtins as _builtins

import numpy as _np

from chainrule import cuda, func
from chainrule import ops as _ops
from chainrule._version import __version__ as __version__  # (`as`: exported for type checkers)
from chainrule.autograd import (
    Tensor,
    detect_anomaly,
    enable_grad,
    inference_mode,
    is_grad_enabled,
    no_grad,
    set_grad_enabled,
    to_dot,
    trace,
)
from chainrule.backend import get_default_dtype, manual_seed, set_default_dtype
from chainrule.backend.device import device
from chainrule.ops import *  # noqa: F401,F403  (the tensor functions: cr.exp, cr.matmul, ...)
from chainrule.serialization import CheckpointError, load, save  # safetensors files, no pickle
from chainrule.utils.data.sampler import Generator  # seedable random source (torch.Generator)

float32 = float = _np.dtype(_np.float32)
float64 = double = _np.dtype(_np.float64)
float16 = half = _np.dtype(_np.float16)
int64 = long = _np.dtype(_np.int64)
int32 = int = _np.dtype(_np.int32)
int16 = _np.dtype(_np.int16)
int8 = _np.dtype(_np.int8)
uint8 = _np.dtype(_np.uint8)
bool = _np.dtype(_np.bool_)


def is_tensor(obj: object) -> _builtins.bool:  # `bool` is the dtype below
    return isinstance(obj, Tensor)


def numel(input: Tensor) -> _builtins.int:
    return input.numel()


__all__ = [
    "CheckpointError",
    "Generator",
    "Tensor",
    "cuda",
    "detect_anomaly",
    "device",
    "enable_grad",
    "func",
    "get_default_dtype",
    "inference_mode",
    "is_grad_enabled",
    "is_tensor",
    "load",
    "manual_seed",
    "no_grad",
    "numel",
    "save",
    "set_default_dtype",
    "set_grad_enabled",
    "to_dot",
    "trace",
]
__all__ += _ops.__all__  # the tensor functions (a form type checkers follow)
