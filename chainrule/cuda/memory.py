"""``torch.cuda.memory``: the caching allocator's counters, as PyTorch's CPU-only build answers.

Without CUDA nothing is allocated on a GPU.  PyTorch's CPU build answers the plain counters
(``memory_allocated``, ``max_memory_allocated``, ``memory_reserved``, ``max_memory_reserved``, and
the deprecated ``memory_cached`` / ``max_memory_cached`` with a FutureWarning) with 0 and
``memory_stats()`` with an empty ``OrderedDict`` (``memory_stats_as_nested_dict()``: ``{}``), without
touching CUDA; the calls that reach the allocator itself fail: ``memory_summary()`` looks up a
statistic the empty dict lacks (``KeyError: 'allocated_bytes.all.current'``), the resets
(``reset_peak_memory_stats``, ``reset_accumulated_memory_stats``, and the deprecated
``reset_max_memory_allocated`` / ``reset_max_memory_cached``, which warn first) and
``memory_snapshot`` find no allocator (``AttributeError``), ``set_per_process_memory_fraction``
raises "Torch not compiled with CUDA enabled".  chainrule answers and raises the same way.
"""

from __future__ import annotations

import warnings
from collections import OrderedDict
from typing import Any, NoReturn


class OutOfMemoryError(RuntimeError):
    """A device ran out of memory (``torch.OutOfMemoryError``, also ``torch.cuda.OutOfMemoryError``).

    For programs that catch it (``except torch.cuda.OutOfMemoryError:`` around a batch, to retry
    smaller): chainrule allocates host memory with NumPy, whose failures raise Python's
    ``MemoryError``, so nothing in chainrule raises this one."""


def memory_allocated(device: Any = None) -> int:
    """Bytes of GPU memory held by tensors: 0."""
    return 0


def max_memory_allocated(device: Any = None) -> int:
    """Peak bytes of GPU memory held by tensors: 0."""
    return 0


def memory_reserved(device: Any = None) -> int:
    """Bytes of GPU memory reserved by the caching allocator: 0."""
    return 0


def max_memory_reserved(device: Any = None) -> int:
    """Peak bytes of GPU memory reserved by the caching allocator: 0."""
    return 0


def memory_cached(device: Any = None) -> int:
    """Deprecated name of :func:`memory_reserved` (FutureWarning, as PyTorch's): 0."""
    warnings.warn("`torch.cuda.memory_cached` has been renamed to `torch.cuda.memory_reserved`",
                  FutureWarning, stacklevel=2)
    return memory_reserved(device)


def max_memory_cached(device: Any = None) -> int:
    """Deprecated name of :func:`max_memory_reserved` (FutureWarning, as PyTorch's): 0."""
    warnings.warn("`torch.cuda.max_memory_cached` has been renamed to `torch.cuda.max_memory_reserved`",
                  FutureWarning, stacklevel=2)
    return max_memory_reserved(device)


def memory_stats(device: Any = None) -> dict[str, Any]:
    """The allocator's statistics ("allocated_bytes.all.current"...): none without CUDA, an empty
    ``OrderedDict`` (as PyTorch's CPU build)."""
    return OrderedDict()


def memory_stats_as_nested_dict(device: Any = None) -> dict[str, Any]:
    """The allocator's statistics as nested dicts: ``{}`` without CUDA."""
    return {}


def memory_summary(device: Any = None, abbreviated: bool = False) -> str:
    """A printable table of the allocator's statistics.  PyTorch's CPU build builds it from
    ``memory_stats()``, which is empty, and fails on the first statistic it reads
    (``KeyError: 'allocated_bytes.all.current'``); so does this."""
    stats = memory_stats(device)
    return str(stats["allocated_bytes.all.current"])  # (raises KeyError: there are no statistics)


def _no_allocator(name: str) -> NoReturn:
    raise AttributeError(f"module 'torch._C' has no attribute '{name}'")


def reset_peak_memory_stats(device: Any = None) -> None:
    """Reset the peak counters: PyTorch's CPU build has no CUDA allocator to reset and raises
    ``AttributeError`` (naming its missing binding), as does this."""
    _no_allocator("_cuda_resetPeakMemoryStats")


def reset_accumulated_memory_stats(device: Any = None) -> None:
    """Reset the accumulated counters: ``AttributeError`` without CUDA, as PyTorch's CPU build."""
    _no_allocator("_cuda_resetAccumulatedMemoryStats")


def reset_max_memory_allocated(device: Any = None) -> None:
    """Deprecated: warns and calls :func:`reset_peak_memory_stats` (which raises), as PyTorch's."""
    warnings.warn("torch.cuda.reset_max_memory_allocated now calls torch.cuda.reset_peak_memory_stats, "
                  "which resets /all/ peak memory stats.", FutureWarning, stacklevel=2)
    reset_peak_memory_stats(device)


def reset_max_memory_cached(device: Any = None) -> None:
    """Deprecated: warns and calls :func:`reset_peak_memory_stats` (which raises), as PyTorch's."""
    warnings.warn("torch.cuda.reset_max_memory_cached now calls torch.cuda.reset_peak_memory_stats, "
                  "which resets /all/ peak memory stats.", FutureWarning, stacklevel=2)
    reset_peak_memory_stats(device)


def memory_snapshot(mempool_id: Any = None, include_traces: bool = True) -> list:
    """The allocator's state: ``AttributeError`` without CUDA, as PyTorch's CPU build."""
    _no_allocator("_cuda_memorySnapshot")


def set_per_process_memory_fraction(fraction: float, device: Any = None) -> None:
    """Cap this process's share of a GPU's memory: raises, as PyTorch's CPU build."""
    from chainrule.cuda import _no_cuda

    _no_cuda("set_per_process_memory_fraction")


def empty_cache() -> None:
    """Release cached GPU memory: a no-op (there is none)."""
