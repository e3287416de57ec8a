"""The C allocator's settings for array work: keep freed memory for the next step.

A training step allocates and frees the same large arrays (activations, gradients, im2col
columns) every time.  glibc's ``malloc`` returns freed memory at the top of its heap to the
operating system once more than its *trim threshold* is free there, and serves blocks above its
*mmap threshold* with fresh ``mmap`` pages.  By default both thresholds adapt to the largest
block freed so far (trim = 2 × mmap threshold), which for a step's mix of sizes still hands
megabytes back every step; the next step then touches them again, one page fault per 4 KiB
page, each one zeroed by the kernel.  Measured on the 2-core development machine, one thread,
best of 5 rounds (page faults per step, ms per step, without → with the settings below):

====================================  ======================  ===========
a training step of                    page faults per step    ms per step
====================================  ======================  ===========
the CIFAR CNN of ``bench_models``      2,090 → 0               50.7 → 45.6
the transformer of ``bench_models``    2,656 → 0               57.2 → 50.8
Conv2d(16, 32, 3), batch 16, 32 px     992 → 0                 10.1 → 8.0
the same at 16 px                      224 → 0                 2.24 → 1.77
w2's MLP, batch 128                    0 → 0                   5.45 → 5.33
====================================  ======================  ===========

at the same peak memory (its high-water mark is what it was; memory is kept, not given back
and taken again).

:func:`keep_freed_memory` fixes the two thresholds (``mallopt``): blocks below 32 MiB come from
the heap, and the heap is trimmed only when 128 MiB at its top are free.  It runs once, when
chainrule is imported, and only where the C library is glibc.  It changes nothing when the user
has chosen malloc settings already (a ``MALLOC_*_`` variable or ``GLIBC_TUNABLES`` naming
malloc) or sets ``CHAINRULE_MALLOC=0``.  The settings are the process's: they also apply to other
libraries in it (PyTorch's CPU tensors come from the same ``malloc``).
"""

from __future__ import annotations

import ctypes
import os
import platform
from typing import Any

MMAP_THRESHOLD = 32 << 20  # glibc's largest allowed value on 64-bit systems
TRIM_THRESHOLD = 128 << 20
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # mallopt's parameter numbers (malloc.h)

_state: dict[str, Any] = {"applied": False, "why": "not tried"}


def _user_chose() -> str | None:
    """The environment variable through which the user set glibc's malloc, if any."""
    for name in ("MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TOP_PAD_", "MALLOC_MMAP_MAX_"):
        if name in os.environ:
            return name
    if "malloc" in os.environ.get("GLIBC_TUNABLES", ""):
        return "GLIBC_TUNABLES"
    return None


def keep_freed_memory() -> bool:
    """Fix glibc's trim and mmap thresholds (see the module docstring); True when they were set."""
    if os.environ.get("CHAINRULE_MALLOC", "1").strip().lower() in ("0", "false", "no", "off"):
        _state.update(applied=False, why="switched off by CHAINRULE_MALLOC=0")
        return False
    chosen = _user_chose()
    if chosen is not None:
        _state.update(applied=False, why=f"left to the user's {chosen}")
        return False
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        _state.update(applied=False, why="the C library is not glibc")
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        _state.update(applied=False, why="mallopt not found")
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    ok = mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1 and mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1
    _state.update(applied=ok, why="set" if ok else "mallopt refused the values")
    return ok


def status() -> str:
    """Whether :func:`keep_freed_memory` set the thresholds, or why not."""
    return str(_state["why"])
