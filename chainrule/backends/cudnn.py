"""``torch.backends.cudnn`` on a CPU-only build: cuDNN is not available; the flags keep their
values (PyTorch's defaults: ``enabled`` True, ``benchmark`` False, ``deterministic`` False,
``allow_tf32`` True) and change nothing."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

__all__ = ["allow_tf32", "benchmark", "deterministic", "enabled", "flags", "is_available", "version"]

enabled = True
benchmark = False
deterministic = False
allow_tf32 = True


def is_available() -> bool:
    """Whether cuDNN can be used: no (there is no CUDA)."""
    return False


def version() -> int | None:
    """cuDNN's version: None, as PyTorch's CPU build."""
    return None


@contextlib.contextmanager
def flags(enabled: bool = False, benchmark: bool = False, deterministic: bool = False,
          allow_tf32: bool = True) -> Iterator[None]:
    """Set the flags for a ``with`` block and restore them after (``torch.backends.cudnn.flags``)."""
    g = globals()
    names = ("enabled", "benchmark", "deterministic", "allow_tf32")
    old = {n: g[n] for n in names}
    g.update(enabled=enabled, benchmark=benchmark, deterministic=deterministic, allow_tf32=allow_tf32)
    try:
        yield
    finally:
        g.update(old)
