"""Launching a test worker on 2 MPI processes (tests/test_distributed_collectives.py, tests/test_ddp.py)."""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def mpiexec() -> str | None:
    """The venv's mpiexec (the mpich wheel puts it beside python), else one on PATH."""
    here = Path(sys.executable).parent / "mpiexec"
    return str(here) if here.exists() else shutil.which("mpiexec")


def skip_reason() -> str | None:
    if importlib.util.find_spec("mpi4py") is None:
        return 'mpi4py is not installed (pip install "chainrule[distributed]")'
    if mpiexec() is None:
        return "no mpiexec (install an MPI: the mpich wheel or the system's)"
    return None


needs_mpi = pytest.mark.skipif(skip_reason() is not None, reason=str(skip_reason()))


def launch(worker: str, *args: str, n: int = 2, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run tests/<worker> on n ranks; returns the finished process (killed after ``timeout`` s)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env["OMP_NUM_THREADS"] = env["OPENBLAS_NUM_THREADS"] = "1"  # 2 ranks on 2 cores
    cmd = [str(mpiexec()), "-n", str(n), sys.executable, str(ROOT / "tests" / worker), *args]
    # a session of its own, so that a job past its timeout is killed whole (mpiexec and its ranks)
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT, start_new_session=True
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"{worker} {' '.join(args)}: still running after {timeout} s\n{out[-3000:]}\n{err[-3000:]}")
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def expect_ok(proc: subprocess.CompletedProcess, names: list[str]) -> None:
    """The job succeeded and printed ``OK <name>`` for every check."""
    report = f"exit {proc.returncode}\n--- stdout\n{proc.stdout[-4000:]}\n--- stderr\n{proc.stderr[-4000:]}"
    assert proc.returncode == 0, report
    done = {line.split()[1] for line in proc.stdout.splitlines() if line.startswith("OK ")}
    assert set(names) <= done, f"missing {sorted(set(names) - done)}\n{report}"
