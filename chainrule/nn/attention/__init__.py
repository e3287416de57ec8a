"""``torch.nn.attention``: choosing the kernel of ``F.scaled_dot_product_attention``.

:class:`SDPBackend` names PyTorch's attention backends and :func:`sdpa_kernel` enables only the
given ones inside a block (the flags ``chainrule.backends.cuda.math_sdp_enabled()`` and its
friends read back the choice).  chainrule has a single attention kernel, on the CPU, so the
choice never changes a result: as on PyTorch's CPU build, attention runs while ``MATH`` or
``FLASH_ATTENTION`` is enabled, and with neither of them it raises a RuntimeError (no viable
backend).  :mod:`chainrule.nn.attention.bias` has the causal masks ``causal_upper_left`` and
``causal_lower_right``.

    with sdpa_kernel(SDPBackend.MATH):
        out = F.scaled_dot_product_attention(q, k, v)
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from enum import IntEnum
from typing import Any

from chainrule.backends import cuda as _flags

__all__ = ["WARN_FOR_UNFUSED_KERNELS", "SDPBackend", "sdpa_kernel"]

# PyTorch warns, when this is True, why a fused kernel could not be used; chainrule has no fused
# kernels to fall back from, so there is never anything to say.
WARN_FOR_UNFUSED_KERNELS = False


class SDPBackend(IntEnum):
    """The backends of scaled dot-product attention (PyTorch's values)."""

    ERROR = -1
    MATH = 0
    FLASH_ATTENTION = 1
    EFFICIENT_ATTENTION = 2
    CUDNN_ATTENTION = 3
    OVERRIDEABLE = 4


_backend_names = {
    "cudnn": "CUDNN_ATTENTION",
    "flash": "FLASH_ATTENTION",
    "mem_efficient": "EFFICIENT_ATTENTION",
    "math": "MATH",
    "overrideable": "OVERRIDEABLE",
}


def _backend_from_string(name: str) -> SDPBackend:
    return SDPBackend[name]


def _cur_sdpa_kernel_backends(with_priority: bool = False) -> list[SDPBackend]:
    """The enabled backends (in priority order when ``with_priority``)."""
    backends = [SDPBackend[val] for name, val in _backend_names.items() if _flags.SDP_ENABLED[name]]
    if with_priority:
        order = _flags.SDP_PRIORITY
        backends.sort(key=lambda b: order.index(int(b)))
    return backends


def _sdpa_kernel(backends: Iterable[Any], set_priority: bool = False) -> None:
    """Enable exactly ``backends``; ``set_priority``: their order first in the priority order."""
    backends = list(backends)
    for name, val in _backend_names.items():
        _flags.set_sdp_enabled(name, SDPBackend[val] in backends)
    if set_priority:
        user = [int(b) for b in backends]
        _flags.SDP_PRIORITY[:] = user + [b for b in _flags.SDP_PRIORITY if b not in user]


@contextlib.contextmanager
def sdpa_kernel(backends: list[SDPBackend] | SDPBackend, set_priority: bool = False) -> Iterator[dict]:
    """Enable only ``backends`` for scaled dot-product attention inside the block; the previous
    flags (and, with ``set_priority``, the previous priority order) come back on leaving it.

    Args:
        backends: an :class:`SDPBackend` or a list of them (anything else: AssertionError, as
            PyTorch; repeats are dropped).
        set_priority: whether the list's order is also the backends' priority order.

    On chainrule the choice never changes a result (one CPU kernel); attention raises while
    neither ``MATH`` nor ``FLASH_ATTENTION`` is enabled, as on PyTorch's CPU build.
    """
    if not isinstance(backends, (list, SDPBackend)):
        raise AssertionError("Backend must be an instance of SDPBackend or a list of SDPBackend instances, "
                             f"got {type(backends).__name__}")
    backend_list = [backends] if isinstance(backends, SDPBackend) else list(dict.fromkeys(backends))
    previous = _cur_sdpa_kernel_backends(with_priority=set_priority)
    previous_order = list(_flags.SDP_PRIORITY)
    try:
        _sdpa_kernel(backend_list, set_priority)
        yield {}
    finally:
        _sdpa_kernel(previous, set_priority)
        if set_priority:
            _flags.SDP_PRIORITY[:] = previous_order
