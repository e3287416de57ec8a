"""chainrule.distributed (issue 15): the collectives on 2 MPI processes, and failure behaviour.

The collectives are checked against their definitions inside one launched worker
(tests/_mpi_collectives_worker.py: float32/float64, several shapes, every ReduceOp,
async handles); the failure tests launch a job in which one rank raises or hangs.
"""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
from _mpi_launch import expect_ok, launch, needs_mpi

import chainrule.distributed as dist

WORKER = "_mpi_collectives_worker.py"


def test_without_a_process_group_the_api_says_so():
    assert not dist.is_initialized()
    with pytest.raises(ValueError, match="init_process_group"):
        dist.get_rank()
    with pytest.raises(ValueError, match="init_process_group"):
        dist.get_world_size()
    import chainrule as cr

    with pytest.raises(ValueError, match="init_process_group"):
        dist.all_reduce(cr.ones(2))


def test_chainrule_imports_without_mpi4py():
    # importing chainrule, chainrule.distributed and DDP does not import mpi4py (nor start MPI)
    code = (
        "import sys; import chainrule, chainrule.distributed, chainrule.nn.parallel; "
        "assert 'mpi4py' not in sys.modules, 'mpi4py imported'; "
        "print(chainrule.distributed.is_available() in (True, False))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "True", out.stderr


@pytest.mark.mpi
@needs_mpi
def test_collectives_against_their_definitions():
    proc = launch(WORKER, timeout=180)
    expect_ok(
        proc,
        [
            "all_reduce",
            "async-in-flight",
            "all_reduce-int-noncontiguous",
            "all_reduce-version",
            "broadcast",
            "reduce",
            "all_gather",
            "reduce_scatter",
            "objects",
            "errors",
            "lifecycle",
        ],
    )


@pytest.mark.mpi
@needs_mpi
def test_a_rank_that_raises_stops_the_job():
    t0 = time.perf_counter()
    proc = launch(WORKER, "raise", timeout=60)
    assert proc.returncode != 0
    assert "rank 1 fails on purpose" in proc.stderr
    assert "aborting the job" in proc.stderr
    assert time.perf_counter() - t0 < 60


@pytest.mark.mpi
@needs_mpi
def test_a_rank_that_never_arrives_makes_the_others_time_out():
    t0 = time.perf_counter()
    # the group's timeout is 5 s; rank 1 sleeps 100 s, so a job that ends well before that was
    # ended by rank 0's MPI_Abort (the bound is loose: on a loaded machine start-up alone is slow)
    proc = launch(WORKER, "hang", timeout=100)
    report = f"exit {proc.returncode}\n--- stdout\n{proc.stdout[-3000:]}\n--- stderr\n{proc.stderr[-3000:]}"
    assert proc.returncode != 0, report
    assert "timed out after 5 s" in proc.stderr + proc.stdout, report
    assert time.perf_counter() - t0 < 75, report  # MPI_Abort ended the sleeping rank too


def test_wait_keeps_polling_mpi_while_a_transfer_moves(monkeypatch):
    """MPI moves a collective's data only inside MPI calls, so Work.wait must not sleep while a
    transfer of a few milliseconds is under way (a pause stalls the transfer itself: it made one
    all-reduce of w2's gradients 3-4x slower).  A fake request that finishes after 5 ms of
    polling: no sleep before it is done.  After _SPIN_SECONDS of waiting, wait sleeps between
    polls (a long wait must not burn a core)."""
    calls = {"tests": 0, "sleeps": 0}

    class FakeRequest:
        @staticmethod
        def Testall(requests):
            calls["tests"] += 1
            return time.perf_counter() >= requests[0]

    class FakeMPI:
        Request = FakeRequest

    monkeypatch.setattr(dist, "_MPI", FakeMPI)
    real_sleep = time.sleep

    def counting_sleep(seconds):
        calls["sleeps"] += 1
        real_sleep(seconds)

    monkeypatch.setattr(dist.time, "sleep", counting_sleep)
    dist.Work([time.perf_counter() + 5e-3], "all_reduce", dist.timedelta(seconds=10)).wait()
    assert calls["sleeps"] == 0 and calls["tests"] > 1
    dist.Work([time.perf_counter() + dist._SPIN_SECONDS + 0.05], "all_reduce", dist.timedelta(seconds=10)).wait()
    assert calls["sleeps"] > 0
