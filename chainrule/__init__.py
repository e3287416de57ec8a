"""chainrule: a readable deep-learning library on NumPy with a PyTorch-compatible API.

    import chainrule as cr
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    (x * x).sum().backward()
    x.grad  # tensor([2., 4.])
"""

import builtins as _builtins
from typing import TYPE_CHECKING as _TYPE_CHECKING
from typing import Any as _Any

import numpy as _np

from chainrule import (
    _tensor_methods_extra,  # noqa: F401  (x.det(), x.svd(), x.renorm_()...)
    accelerator,
    amp,
    backends,
    cpu,
    cuda,
    func,
    random,
    version,
)
from chainrule import _torch_extra as _extra
from chainrule import _torch_toplevel as _toplevel
from chainrule import ops as _ops
from chainrule._torch_api import (
    BoolTensor,
    ByteTensor,
    CharTensor,
    DoubleTensor,
    FloatTensor,
    HalfTensor,
    IntTensor,
    LongTensor,
    ShortTensor,
    channels_last,
    channels_last_3d,
    contiguous_format,
    get_default_device,
    get_float32_matmul_precision,
    get_num_interop_threads,
    get_num_threads,
    memory_format,
    preserve_format,
    set_default_device,
    set_float32_matmul_precision,
    set_num_interop_threads,
    set_num_threads,
)
from chainrule._torch_extra import *  # noqa: F401,F403  (torch.det, torch.hann_window, torch.nanquantile...)
from chainrule._torch_toplevel import *  # noqa: F401,F403  (torch.abs_, torch.conv2d, torch.seed...)
from chainrule._version import __version__ as __version__  # (`as`: exported for type checkers)
from chainrule.amp import GradScaler, autocast, is_autocast_enabled
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
from chainrule.autograd.size import Size
from chainrule.backend import get_default_dtype, manual_seed, set_default_dtype
from chainrule.backend.device import device
from chainrule.backend.layout import (
    _mkldnn,  # noqa: F401  (torch._mkldnn: named, never made)
    jagged,
    layout,
    sparse_bsc,
    sparse_bsr,
    sparse_coo,
    sparse_csc,
    sparse_csr,
    strided,
)
from chainrule.backend.numpy_backend import bfloat16  # a name only: NumPy cannot compute in it
from chainrule.backend.type_info import finfo, iinfo
from chainrule.batching import vmap  # torch.vmap, the same object as torch.func.vmap
from chainrule.cuda.memory import OutOfMemoryError  # torch.OutOfMemoryError, the same class as torch.cuda's
from chainrule.ops import *  # noqa: F401,F403  (the tensor functions: cr.exp, cr.matmul, ...)
from chainrule.ops.foreach import *  # noqa: F401,F403  (torch._foreach_add, _foreach_lerp_...: one op over a list)
from chainrule.random import default_generator  # torch.default_generator (the default stream as a Generator)
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
dtype = _np.dtype  # torch.dtype: chainrule's dtypes are NumPy's (isinstance(x.dtype, torch.dtype) holds)


# The sub-packages a PyTorch program reaches as attributes (torch.nn, torch.optim, torch.linalg...):
# imported on first use, so that `import chainrule` stays fast (chainrule.nn alone takes longer
# than the rest of chainrule together).  `import chainrule.nn` works as always.
_LAZY = frozenset({
    "nn", "optim", "linalg", "special", "data", "models", "text", "train", "examples", "plot", "compiler",
    "_dynamo", "_inductor", "distributions", "distributed", "jit", "testing", "multiprocessing",
    "profiler", "hub", "types",
})
if _TYPE_CHECKING:
    from chainrule import linalg, nn, optim, profiler, special


def __getattr__(name: str) -> _Any:
    if name in _LAZY:
        import importlib

        return importlib.import_module(f"chainrule.{name}")  # (the import sets it as an attribute too)
    raise AttributeError(f"module 'chainrule' has no attribute {name!r}")


def __dir__() -> list:
    return sorted(set(globals()) | _LAZY)


def compile(model: _Any = None, **kwargs: _Any) -> _Any:  # noqa: A001  (PyTorch's name)
    """``torch.compile``: capture a function, a Module or a whole training step once and replay
    it as a flat plan (``chainrule.compiler.compile``; ``docs/compile.md``)."""
    from chainrule.compiler import compile as _compile

    return _compile(model, **kwargs)


def is_tensor(obj: object) -> _builtins.bool:  # `bool` is the dtype below
    return isinstance(obj, Tensor)


def numel(input: Tensor) -> _builtins.int:
    return input.numel()


__all__ = [
    "BoolTensor",
    "ByteTensor",
    "CharTensor",
    "CheckpointError",
    "DoubleTensor",
    "FloatTensor",
    "Generator",
    "GradScaler",
    "HalfTensor",
    "IntTensor",
    "LongTensor",
    "OutOfMemoryError",
    "ShortTensor",
    "Size",
    "Tensor",
    "dtype",
    "finfo",
    "iinfo",
    "accelerator",
    "amp",
    "version",
    "autocast",
    "backends",
    "bfloat16",
    "channels_last",
    "channels_last_3d",
    "compile",
    "contiguous_format",
    "cpu",
    "cuda",
    "default_generator",
    "detect_anomaly",
    "device",
    "enable_grad",
    "func",
    "get_default_device",
    "get_default_dtype",
    "get_float32_matmul_precision",
    "get_num_interop_threads",
    "get_num_threads",
    "inference_mode",
    "is_autocast_enabled",
    "is_grad_enabled",
    "is_tensor",
    "jagged",
    "layout",
    "load",
    "manual_seed",
    "memory_format",
    "no_grad",
    "numel",
    "preserve_format",
    "random",
    "save",
    "set_default_device",
    "set_default_dtype",
    "set_float32_matmul_precision",
    "set_num_interop_threads",
    "set_num_threads",
    "set_grad_enabled",
    "sparse_bsc",
    "sparse_bsr",
    "sparse_coo",
    "sparse_csc",
    "sparse_csr",
    "strided",
    "to_dot",
    "trace",
    "vmap",
]
__all__ += _ops.__all__  # the tensor functions (a form type checkers follow)
__all__ += _toplevel.__all__  # PyTorch's other top-level spellings (in-place, functional, state)
__all__ += _extra.__all__  # torch.det, torch.svd, the windows, nanquantile...
