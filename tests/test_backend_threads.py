"""The kernels' thread pool (backend/threads.py): persistent workers handed one range at a time.

Every range runs exactly once, whoever calls; an error in any range reaches the caller and
leaves the pool usable; the workers are reused (no thread per call) and stop when the thread
count changes; two Python threads calling at once both get their work done.
"""

from __future__ import annotations

import threading
import time

import pytest

from chainrule.backend import threads


def _kernel_threads(settle_to: int | None = None) -> int:
    """The live kernel workers; with ``settle_to``, after waiting (up to 5 s) for stopped ones to
    finish exiting."""
    deadline = time.monotonic() + 5
    while True:
        n = sum(t.name == "chainrule-kernel" and t.is_alive() for t in threading.enumerate())
        if settle_to is None or n == settle_to or time.monotonic() > deadline:
            return n
        time.sleep(0.01)


@pytest.fixture
def three():
    saved = threads._state["count"]
    threads.set_intra_threads(3)
    yield
    if saved is None:
        threads._state["count"] = None
        threads._drop_pool()
    else:
        threads.set_intra_threads(saved)


def test_every_range_runs_once_and_the_workers_are_reused(three):
    seen: list = []
    lock = threading.Lock()

    def kernel(lo, hi):
        with lock:
            seen.append((lo, hi, threading.current_thread().name))

    threads.run_ranges(kernel, 9, 3)
    assert sorted((lo, hi) for lo, hi, _ in seen) == [(0, 3), (3, 6), (6, 9)]
    assert {name for *_, name in seen} - {threading.current_thread().name} == {"chainrule-kernel"}
    workers = _kernel_threads(settle_to=2)
    assert workers == 2
    for _ in range(50):
        threads.run_ranges(lambda lo, hi: None, 9, 3)
    assert _kernel_threads() == workers  # (no new thread per call)


@pytest.mark.parametrize("where", [0, 1, 2])
def test_an_error_in_any_range_reaches_the_caller_and_the_pool_goes_on(three, where):
    def kernel(lo, hi):
        if lo == 3 * where:
            raise ValueError(f"range {lo}")

    with pytest.raises(ValueError, match=f"range {3 * where}"):
        threads.run_ranges(kernel, 9, 3)
    got: list = []
    threads.run_ranges(lambda lo, hi: got.extend(range(lo, hi)), 9, 3)
    assert sorted(got) == list(range(9))


def test_two_callers_at_once_both_get_every_range(three, fine_switching):
    """One has the workers; the other, finding them busy, runs its ranges itself (the threads
    switch every microsecond, so that their calls overlap)."""
    results: dict = {0: [], 1: []}
    errors: list = []
    barrier = threading.Barrier(2)

    def call(k):
        try:
            barrier.wait()
            for _ in range(200):
                part: list = []
                lock = threading.Lock()

                def kernel(lo, hi):
                    with lock:
                        part.extend(range(lo, hi))

                threads.run_ranges(kernel, 30, 3)
                results[k].append(sorted(part) == list(range(30)))
        except BaseException as e:  # (reported below)
            errors.append(e)

    callers = [threading.Thread(target=call, args=(k,)) for k in (0, 1)]
    for c in callers:
        c.start()
    for c in callers:
        c.join(60)
    assert not errors and all(results[0]) and all(results[1]) and len(results[0]) == len(results[1]) == 200


def test_a_new_thread_count_stops_the_old_workers(three):
    threads.run_ranges(lambda lo, hi: None, 9, 3)
    assert _kernel_threads(settle_to=2) == 2  # (earlier pools' workers exit once told)
    threads.set_intra_threads(2)
    threads.run_ranges(lambda lo, hi: None, 9, 2)
    assert _kernel_threads(settle_to=1) == 1


def test_a_worker_stopped_before_it_took_its_task_stops_cleanly(monkeypatch):
    """Stopping a worker whose task is handed over but not yet taken (an interrupted call stops
    its pool at once) neither raises nor runs the task: the thread reads "stop" when it wakes.
    The thread is held back here by starting it only after the stop."""
    held: list = []
    real = threading.Thread

    class Later:
        def __init__(self, target, name, daemon):
            held.append(real(target=target, name=name, daemon=daemon))

        def start(self):
            pass

    monkeypatch.setattr(threads.threading, "Thread", Later)
    ran: list = []
    w = threads._Worker()
    w.start(lambda lo, hi: ran.append((lo, hi)), 0, 4)
    w.stop()
    monkeypatch.undo()
    held[0].start()
    held[0].join(timeout=5)
    assert not held[0].is_alive() and ran == []
