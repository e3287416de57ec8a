"""``torch.backends.cuda`` on a CPU-only build: not built; ``matmul.allow_tf32`` (False),
``matmul.allow_fp16_reduced_precision_reduction`` (True), ``matmul.allow_bf16_reduced_precision_reduction``
(True) keep what is set and change nothing."""

from __future__ import annotations

import contextlib
import warnings
from typing import Any, Iterator

__all__ = [
    "cudnn_sdp_enabled",
    "enable_cudnn_sdp",
    "enable_flash_sdp",
    "enable_math_sdp",
    "enable_mem_efficient_sdp",
    "flash_sdp_enabled",
    "is_built",
    "math_sdp_enabled",
    "matmul",
    "mem_efficient_sdp_enabled",
    "sdp_kernel",
]


class _MatmulFlags:
    """The ``matmul`` flags object (attributes set and read back, as PyTorch's)."""

    def __init__(self) -> None:
        self.allow_tf32 = False
        self.allow_fp16_reduced_precision_reduction = True
        self.allow_bf16_reduced_precision_reduction = True

    def __repr__(self) -> str:
        return f"<chainrule.backends.cuda.matmul allow_tf32={self.allow_tf32}>"


matmul = _MatmulFlags()


def is_built() -> bool:
    """Whether this build has CUDA: no."""
    return False


# -- scaled_dot_product_attention's backend flags (what nn.attention.sdpa_kernel sets) ------------
# chainrule has one attention kernel, on the CPU; as on PyTorch's CPU build it may run while the
# math or the flash backend is enabled (SDP_CPU_KERNEL, read by F.scaled_dot_product_attention).
SDP_ENABLED: dict[str, bool] = {"cudnn": True, "flash": True, "mem_efficient": True, "math": True,
                                "overrideable": True}
SDP_PRIORITY: list[int] = [1, 2, 0, 3, 4]  # SDPBackend values, PyTorch's default order
SDP_CPU_KERNEL = [True]


def set_sdp_enabled(name: str, enabled: bool) -> None:
    """Enable or disable one attention backend (``'math'``, ``'flash'``, ``'mem_efficient'``,
    ``'cudnn'``, ``'overrideable'``)."""
    SDP_ENABLED[name] = bool(enabled)
    SDP_CPU_KERNEL[0] = SDP_ENABLED["math"] or SDP_ENABLED["flash"]


def flash_sdp_enabled() -> bool:
    """Whether the flash attention backend is enabled."""
    return SDP_ENABLED["flash"]


def enable_flash_sdp(enabled: bool) -> None:
    """Enable or disable the flash attention backend."""
    set_sdp_enabled("flash", enabled)


def mem_efficient_sdp_enabled() -> bool:
    """Whether the memory-efficient attention backend is enabled."""
    return SDP_ENABLED["mem_efficient"]


def enable_mem_efficient_sdp(enabled: bool) -> None:
    """Enable or disable the memory-efficient attention backend (not one the CPU runs)."""
    set_sdp_enabled("mem_efficient", enabled)


def math_sdp_enabled() -> bool:
    """Whether the math attention backend is enabled."""
    return SDP_ENABLED["math"]


def enable_math_sdp(enabled: bool) -> None:
    """Enable or disable the math attention backend."""
    set_sdp_enabled("math", enabled)


def cudnn_sdp_enabled() -> bool:
    """Whether the cuDNN attention backend is enabled."""
    return SDP_ENABLED["cudnn"]


def enable_cudnn_sdp(enabled: bool) -> None:
    """Enable or disable the cuDNN attention backend (not one the CPU runs)."""
    set_sdp_enabled("cudnn", enabled)


@contextlib.contextmanager
def sdp_kernel(
    enable_flash: bool = True,
    enable_math: bool = True,
    enable_mem_efficient: bool = True,
    enable_cudnn: bool = True,
) -> Iterator[Any]:
    """Enable only the named attention backends inside the block (deprecated in PyTorch, with a
    FutureWarning: ``torch.nn.attention.sdpa_kernel`` is the new spelling, and this calls it)."""
    warnings.warn(
        "`torch.backends.cuda.sdp_kernel()` is deprecated. In the future, this context manager will be "
        "removed. Please see `torch.nn.attention.sdpa_kernel()` for the new context manager, with updated "
        "signature.",
        FutureWarning,
        stacklevel=3,
    )
    from chainrule.nn.attention import SDPBackend, sdpa_kernel

    backends = []
    if enable_flash:
        backends.append(SDPBackend.FLASH_ATTENTION)
    if enable_mem_efficient:
        backends.append(SDPBackend.EFFICIENT_ATTENTION)
    if enable_math:
        backends.append(SDPBackend.MATH)
    if enable_cudnn:
        backends.append(SDPBackend.CUDNN_ATTENTION)
    with sdpa_kernel(backends) as context:
        yield context
