"""Kernels' ranges on GNU OpenMP's team while oneDNN holds the threads (backend/threads.py,
kernels/team.c).

While ``threads.OPENMP_HELD`` names the current thread setting, ``run_ranges`` hands its ranges
to the OpenMP team (the threads oneDNN's primitives and sgemm run on) instead of chainrule's own
workers.  Checked: every range runs once, off the own pool; the bits equal the own pool's; an
error in any range reaches the caller; a call from inside a range (the team busy) runs its ranges
itself; a forked child and a compiler without OpenMP keep the own pool.
"""

from __future__ import annotations

import ctypes
import math
import os
import select
import shutil
import signal
import threading

import numpy as np
import pytest

from chainrule.backend import native, threads


def _team_or_skip():
    threads._state["team"] = None
    if threads.openmp_team() is None:
        pytest.skip("kernels/team.c does not build with OpenMP here")


@pytest.fixture
def held(two_threads):
    """Two threads, with the OpenMP team holding them (as after a oneDNN primitive)."""
    _team_or_skip()
    saved = threads.OPENMP_HELD[0]
    threads.OPENMP_HELD[0] = threads.settings()
    yield
    threads.OPENMP_HELD[0] = saved


def _recording_kernel():
    seen: list = []
    lock = threading.Lock()

    def kernel(lo, hi):
        with lock:
            seen.append((lo, hi, threading.get_ident(), threading.current_thread().name))

    return kernel, seen


def test_every_range_runs_once_on_the_team(held):
    kernel, seen = _recording_kernel()
    threads.run_ranges(kernel, 10, 2)
    assert sorted((lo, hi) for lo, hi, *_ in seen) == [(0, 5), (5, 10)]
    caller = threading.get_ident()
    others = [(ident, name) for *_, ident, name in seen if ident != caller]
    assert len(others) == 1  # one range ran on the caller, the other on a second thread ...
    assert others[0][1] != "chainrule-kernel"  # ... that is OpenMP's, not the own pool's


def test_without_the_hold_the_own_pool_runs_them(two_threads):
    _team_or_skip()
    saved = threads.OPENMP_HELD[0]
    threads.OPENMP_HELD[0] = None
    try:
        kernel, seen = _recording_kernel()
        threads.run_ranges(kernel, 10, 2)
    finally:
        threads.OPENMP_HELD[0] = saved
    assert {name for *_, name in seen} - {threading.current_thread().name} == {"chainrule-kernel"}


def test_a_stale_hold_is_not_used(held):
    """A hold taken under another thread setting (set_num_threads since) is not the team's now."""
    threads.OPENMP_HELD[0] = (2, -1)
    kernel, seen = _recording_kernel()
    threads.run_ranges(kernel, 10, 2)
    assert "chainrule-kernel" in {name for *_, name in seen}


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_same_bits_as_the_own_pool(two_threads, monkeypatch, approximate):
    """GELU over 2^20 + 5 elements (threaded, with a tail): the team's result is the own pool's,
    bit for bit, and both are GELU: x Φ(x) (or its tanh form), checked in float64 with math.erf
    on a sample of the elements."""
    from chainrule.backend.numpy_backend import ArrayMath as m

    _team_or_skip()
    x = np.random.default_rng(0).standard_normal((1 << 20) + 5).astype(np.float32)
    calls = []
    real = threads._run_on_team
    monkeypatch.setattr(threads, "_run_on_team", lambda *a: calls.append(1) or real(*a))
    saved = threads.OPENMP_HELD[0]
    try:
        threads.OPENMP_HELD[0] = None
        pool = m.gelu(x, approximate), m.gelu_backward(x * 0.5, x, approximate)
        threads.OPENMP_HELD[0] = threads.settings()
        team = m.gelu(x, approximate), m.gelu_backward(x * 0.5, x, approximate)
    finally:
        threads.OPENMP_HELD[0] = saved
    if native.load("gelu") is not None:
        assert len(calls) == 2
    for a, b in zip(pool, team):
        np.testing.assert_array_equal(a, b)
    for i in range(0, x.size, 997):
        v = float(x[i])
        if approximate == "tanh":
            y = 0.5 * v * (1 + math.tanh(math.sqrt(2 / math.pi) * (v + 0.044715 * v**3)))
        else:
            y = 0.5 * v * (1 + math.erf(v / math.sqrt(2)))
        assert abs(float(team[0][i]) - y) <= 1e-6 * max(1.0, abs(y))


@pytest.mark.parametrize("where", [0, 1])
def test_an_error_in_any_range_reaches_the_caller(held, where):
    def kernel(lo, hi):
        if lo == where * 5:
            raise ZeroDivisionError(f"range {lo}")

    with pytest.raises(ZeroDivisionError, match=f"range {where * 5}"):
        threads.run_ranges(kernel, 10, 2)
    kernel2, seen = _recording_kernel()
    threads.run_ranges(kernel2, 10, 2)  # (the team goes on)
    assert sorted((lo, hi) for lo, hi, *_ in seen) == [(0, 5), (5, 10)]


def test_a_call_from_inside_a_range_runs_its_ranges_itself(held):
    inner: list = []
    lock = threading.Lock()

    def inner_kernel(lo, hi):
        with lock:
            inner.append((lo, hi))

    def outer(lo, hi):
        threads.run_ranges(inner_kernel, 4, 2)

    threads.run_ranges(outer, 10, 2)
    assert sorted(inner) == [(0, 4), (0, 4)]  # each outer range's inner call, whole, on its own thread


def test_a_forked_child_keeps_the_own_pool(held):
    """After the parent ran ranges on the team, a forked child (a DataLoader worker) must not start
    GNU OpenMP again (it would hang): its ranges run, on the own pool."""
    if not hasattr(os, "fork"):
        pytest.skip("no fork here")
    kernel, _ = _recording_kernel()
    threads.run_ranges(kernel, 10, 2)  # (the parent's team exists)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report the threads' names, then leave at once
        try:
            threads.OPENMP_HELD[0] = threads.settings()  # (even were the hold taken again in the child)
            kernel, seen = _recording_kernel()
            threads.run_ranges(kernel, 10, 2)
            names = sorted({name for *_, name in seen} - {threading.current_thread().name})
            os.write(write, (",".join(names) + f";{len(seen)}").encode())
        finally:
            os._exit(0)
    os.close(write)
    ready, _, _ = select.select([read], [], [], 60)
    if not ready:  # (the child hangs: end it, and fail)
        os.kill(pid, signal.SIGKILL)
    with os.fdopen(read) as f:
        report = f.read() if ready else "no report: the child hung"
    os.waitpid(pid, 0)
    assert report == "chainrule-kernel;2"


def test_a_compiler_without_openmp_keeps_the_own_pool(two_threads, monkeypatch, tmp_path):
    """team.c built without -fopenmp says so, and the ranges stay on the own pool."""
    monkeypatch.setenv("CHAINRULE_CACHE", str(tmp_path))
    real = shutil.which(os.environ.get("CC", "cc"))
    if real is None:
        pytest.skip("no C compiler")
    wrapper = tmp_path / "no-openmp-cc"
    wrapper.write_text(f'#!/bin/sh\nfor a in "$@"; do [ "$a" = -fopenmp ] && exit 1; done\nexec {real} "$@"\n')
    wrapper.chmod(0o755)
    monkeypatch.setenv("CC", str(wrapper))
    native.reset()
    saved = threads.OPENMP_HELD[0]
    threads._state["team"] = None
    try:
        lib = native.load("team")
        if lib is None:
            pytest.skip("kernels do not build here")
        assert ctypes.CDLL(lib._name).team_has_openmp() == 0
        assert threads.openmp_team() is None
        threads.OPENMP_HELD[0] = threads.settings()
        kernel, seen = _recording_kernel()
        threads.run_ranges(kernel, 10, 2)
        assert "chainrule-kernel" in {name for *_, name in seen}
    finally:
        threads.OPENMP_HELD[0] = saved
        threads._state["team"] = None
        monkeypatch.undo()
        native.reset()


def _compiler_has_openmp() -> bool:
    """Whether this machine's C compiler builds and links a parallel region (asked directly, not
    through chainrule)."""
    import subprocess
    import tempfile

    cc = shutil.which(os.environ.get("CC", "cc"))
    if cc is None or not native.enabled():
        return False
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "t.c")
        with open(src, "w") as f:
            f.write("#include <omp.h>\nint f(void) { int n = 0;\n"
                    "#pragma omp parallel\n n = omp_get_num_threads(); return n; }\n")
        run = subprocess.run([cc, "-fopenmp", "-fPIC", "-shared", src, "-o", os.path.join(tmp, "t.so")],
                             capture_output=True)
    return run.returncode == 0


def test_torch_backends_openmp_says_whether_the_kernels_have_it(monkeypatch):
    import chainrule as cr

    threads._state["team"] = None
    assert cr.backends.openmp.is_available() is _compiler_has_openmp()
    monkeypatch.setenv("CHAINRULE_NATIVE", "0")
    native.reset()
    threads._state["team"] = None
    try:
        assert cr.backends.openmp.is_available() is False
    finally:
        monkeypatch.undo()
        native.reset()
        threads._state["team"] = None
