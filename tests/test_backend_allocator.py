"""The allocator settings made at import (backend/allocator.py): freed array memory is kept for
the next step instead of being returned to the OS and faulted in again page by page."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
glibc = pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="the settings are glibc's"
)

# Three 16 MiB arrays made, written and freed per round: 48 MiB free at the top of the heap,
# more than glibc's adaptive trim threshold (2 x the largest block freed), so by default each
# round returns the memory and the next one faults it in again.
CHURN = """
import resource, numpy as np, chainrule
from chainrule.backend import allocator
def churn():
    arrays = [np.ones(4 << 20, np.float32) for _ in range(3)]
    del arrays
churn(); churn()
f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    churn()
print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0) / 10, allocator.status())
"""


def _run(**env: str) -> tuple[float, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k != "GLIBC_TUNABLES"}
    out = subprocess.run([sys.executable, "-c", CHURN], capture_output=True, text=True, cwd=ROOT,
                         env={**clean, "PYTHONPATH": ROOT, **env}, timeout=120, check=True)
    faults, status = out.stdout.split(maxsplit=1)
    return float(faults), status.strip()


@glibc
def test_freed_arrays_are_reused_without_page_faults():
    faults, status = _run()
    assert status == "set"
    assert faults < 10  # 48 MiB faulted in again: 12,288 faults of 4 KiB pages, or at least 24 of 2 MiB


@glibc
def test_switched_off_the_memory_is_returned_and_faulted_again():
    # the same churn without the settings: what they prevent (so the test above can fail)
    faults, status = _run(CHAINRULE_MALLOC="0")
    assert status == "switched off by CHAINRULE_MALLOC=0"
    assert faults >= 20


@glibc
def test_the_users_own_malloc_settings_are_left_alone():
    _, status = _run(MALLOC_TRIM_THRESHOLD_="1000000")
    assert status == "left to the user's MALLOC_TRIM_THRESHOLD_"
    _, status = _run(GLIBC_TUNABLES="glibc.malloc.trim_threshold=1000000")
    assert status == "left to the user's GLIBC_TUNABLES"
