"""Top-level ``torch`` functions and types that CPU-only programs call, imported into
``chainrule``: thread counts, the float32 matmul precision, the default device, and the legacy
tensor types (``FloatTensor``, ``LongTensor``...).

These change how PyTorch runs, not what it computes; chainrule keeps the settings with
PyTorch's semantics where they mean something here (threads, through threadpoolctl, which
sets the thread count of NumPy's BLAS) and reads back what was set where they do not (the
matmul precision: NumPy's float32 products are always full precision).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from chainrule.autograd.tensor import Tensor, legacy_array
from chainrule.backend import threads
from chainrule.backend.device import CPU, check_device, device

__all__ = [
    "BoolTensor", "ByteTensor", "CharTensor", "DoubleTensor", "FloatTensor", "HalfTensor", "IntTensor", "LongTensor",
    "ShortTensor", "get_default_device", "get_float32_matmul_precision", "get_num_interop_threads",
    "get_num_threads", "set_default_device", "set_float32_matmul_precision", "set_num_interop_threads",
    "set_num_threads", "memory_format", "channels_last", "channels_last_3d", "contiguous_format", "preserve_format",
]

# -- memory formats -------------------------------------------------------------------
class memory_format:  # noqa: N801  (PyTorch's name: torch.memory_format)
    """A layout request (``x.to(memory_format=torch.channels_last)``,
    ``model.to(memory_format=...)``, ``x.contiguous(memory_format=...)``).  chainrule keeps
    every tensor in NumPy's own layout, so the request changes no value and no layout: it is
    accepted, so that programs that ask for one for speed run as they are."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"torch.{self.name}"


channels_last = memory_format("channels_last")
channels_last_3d = memory_format("channels_last_3d")
contiguous_format = memory_format("contiguous_format")
preserve_format = memory_format("preserve_format")


# -- threads ------------------------------------------------------------------------
_THREADS: dict[str, int] = {}  # what set_num_threads / set_num_interop_threads were given


def _positive_int(n: Any, where: str) -> int:
    if isinstance(n, (bool, np.bool_)) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"{where}: expected an int, got {type(n).__name__}")
    if n <= 0:
        raise RuntimeError(f"{where} expects a positive integer, got {n}")
    return int(n)


def set_num_threads(int: int) -> None:  # noqa: A002  (PyTorch's parameter name)
    """Use ``int`` threads for the math inside one op (``torch.set_num_threads``).

    chainrule's ops run in NumPy, whose matrix products use a BLAS thread pool: the limit is
    applied to it (and to any OpenMP pool loaded) with threadpoolctl, and lasts until changed.
    chainrule's own threaded kernels (im2col/col2im) use the same number
    (``backend/threads.py``).  Raises RuntimeError for a number below 1, as PyTorch."""
    n = _positive_int(int, "set_num_threads")
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=n)  # (called, not used with `with`: the limit stays)
    threads.set_intra_threads(n)  # and chainrule's own threaded kernels
    _THREADS["intra"] = n


def get_num_threads() -> int:
    """The number of threads one op may use (``torch.get_num_threads``): what ``set_num_threads``
    set, else ``OMP_NUM_THREADS`` (or ``OPENBLAS_NUM_THREADS``, ``MKL_NUM_THREADS``), else the
    cores this process may run on (``backend/threads.intra_threads``).  Not NumPy's BLAS count:
    once oneDNN holds the threads, BLAS runs on one and oneDNN's team on this many."""
    if "intra" in _THREADS:
        return _THREADS["intra"]
    return threads.intra_threads()


def set_num_interop_threads(int: int) -> None:  # noqa: A002  (PyTorch's parameter name)
    """Threads for running independent ops in parallel (``torch.set_num_interop_threads``):
    chainrule runs ops one after another, so the number is kept and read back, nothing more."""
    _THREADS["inter"] = _positive_int(int, "set_num_interop_threads")


def get_num_interop_threads() -> int:
    """What ``set_num_interop_threads`` set, else the number of usable CPU cores (PyTorch's default)."""
    return _THREADS.get("inter") or threads.cpu_count()


# -- float32 matmul precision --------------------------------------------------------
_PRECISION = {"float32_matmul": "highest"}


def set_float32_matmul_precision(precision: str) -> None:
    """'highest', 'high' or 'medium' (``torch.set_float32_matmul_precision``).

    PyTorch may then use TF32 or bfloat16 internally for float32 matrix products; NumPy always
    computes them in float32, i.e. 'highest', whatever is set.  The value is kept and read back.
    Another value warns and changes nothing, as PyTorch."""
    if precision not in ("highest", "high", "medium"):
        warnings.warn(f"{precision} is not one of 'highest', 'high', or 'medium'; the current "
                      "set_float32_matmul_precision call has no effect.", stacklevel=2)
        return
    _PRECISION["float32_matmul"] = precision


def get_float32_matmul_precision() -> str:
    """What ``set_float32_matmul_precision`` set ('highest' at first)."""
    return _PRECISION["float32_matmul"]


# -- default device --------------------------------------------------------------------
def set_default_device(device: Any) -> None:  # noqa: A002  (PyTorch's parameter name)
    """``torch.set_default_device``: None or a CPU device (already the default); any other
    device raises :class:`~chainrule.backend.device.DeviceUnavailableError`."""
    check_device(device, "set_default_device()")


def get_default_device() -> device:
    """The device factories use: always the CPU."""
    return CPU


# -- legacy tensor types ----------------------------------------------------------------
class _LegacyTensorType(type):
    """The metaclass of ``FloatTensor`` & co: calling one builds a Tensor of its dtype, and
    ``isinstance(x, FloatTensor)`` asks whether ``x`` is a float32 Tensor, as in PyTorch."""

    _dtype: np.dtype

    def __call__(cls, *args: Any, device: Any = None) -> Tensor:
        check_device(device, f"{cls.__name__}()")
        return Tensor._wrap(legacy_array(args, cls._dtype, f"{cls.__name__}()"))

    def __instancecheck__(cls, obj: Any) -> bool:
        return isinstance(obj, Tensor) and obj._array.dtype == cls._dtype


def _legacy(name: str, dtype: Any, what: str) -> Any:
    doc = (f"``torch.{name}``: ``{name}(*sizes)`` a tensor of that shape (zeros; PyTorch leaves it "
           f"uninitialised), ``{name}(data)`` the data as {what}; ``isinstance(x, {name})`` is true for "
           f"{what} tensors.")
    return _LegacyTensorType(name, (), {"_dtype": np.dtype(dtype), "__doc__": doc, "__module__": "chainrule"})


FloatTensor = _legacy("FloatTensor", np.float32, "float32")
DoubleTensor = _legacy("DoubleTensor", np.float64, "float64")
HalfTensor = _legacy("HalfTensor", np.float16, "float16")
LongTensor = _legacy("LongTensor", np.int64, "int64")
IntTensor = _legacy("IntTensor", np.int32, "int32")
ShortTensor = _legacy("ShortTensor", np.int16, "int16")
CharTensor = _legacy("CharTensor", np.int8, "int8")
ByteTensor = _legacy("ByteTensor", np.uint8, "uint8")
BoolTensor = _legacy("BoolTensor", np.bool_, "bool")
