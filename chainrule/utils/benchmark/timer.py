"""``torch.utils.benchmark.Timer``: ``timeit.Timer`` with warm-up, a thread count, replicates and
:class:`~chainrule.utils.benchmark.common.Measurement` results (PyTorch's algorithms, from
``torch/utils/benchmark/utils/timer.py``, BSD licence).

    t = Timer("x @ x", setup="x = torch.randn(64, 64)")   # `torch` is chainrule in stmt
    m = t.blocked_autorange(min_run_time=0.2)
    m.median                                              # seconds per run
"""

from __future__ import annotations

import enum
import textwrap
import timeit
from collections.abc import Callable
from typing import Any, NoReturn

from chainrule.utils.benchmark import common

__all__ = ["Language", "Timer", "timer"]


def timer() -> float:
    """The clock: ``timeit.default_timer()`` (chainrule's kernels finish before they return, so
    there is no accelerator to synchronise first)."""
    return timeit.default_timer()


class Language(enum.Enum):
    PYTHON = 0
    CPP = 1


class Timer:
    """Measure the execution time of a Python statement (``stmt``), run after ``setup``.

    Args:
        stmt: the code timed, run in a loop.
        setup: code run once before (defines what ``stmt`` uses).
        global_setup: C++ only in PyTorch; must be empty here.
        timer: the clock (seconds as a float); default :func:`timer`.
        globals: the names ``stmt`` and ``setup`` see; ``torch`` is chainrule unless given.
        label: a summary of ``stmt`` (the title in reprs and ``Compare``'s table).
        sub_label: distinguishes measurements of the same ``stmt``/label (``Compare``'s rows).
        description: distinguishes those of the same label and sub_label (``Compare``'s columns).
        env: the environment the task ran in (``Compare`` keeps different envs apart).
        num_threads: ``chainrule.set_num_threads`` while timing (default 1, as PyTorch).
        language: ``Language.PYTHON`` / ``'py'`` / ``'python'`` (C++ timing is not supported).
    """

    _timer_cls: type = timeit.Timer

    def __init__(self, stmt: str = "pass", setup: str = "pass", global_setup: str = "",
                 timer: Callable[[], float] = timer, globals: dict[str, Any] | None = None,
                 label: str | None = None, sub_label: str | None = None, description: str | None = None,
                 env: str | None = None, num_threads: int = 1, language: Language | str = Language.PYTHON) -> None:
        if not isinstance(stmt, str):
            raise ValueError("Currently only a `str` stmt is supported.")
        self._globals = dict(globals or {})
        if language in (Language.PYTHON, "py", "python"):
            import chainrule

            self._globals.setdefault("torch", chainrule)
            self._language = Language.PYTHON
            if global_setup:
                raise ValueError(f"global_setup is C++ only, got `{global_setup}`. Most likely this code can "
                                 "simply be moved to `setup`.")
        elif language in (Language.CPP, "cpp", "c++"):
            raise NotImplementedError("Timer: C++ timing (language='cpp') needs PyTorch's C++ extension; "
                                      "chainrule times Python statements only")
        else:
            raise ValueError(f"Invalid language `{language}`.")
        stmt = textwrap.dedent(stmt)
        stmt = (stmt[1:] if stmt and stmt[0] == "\n" else stmt).rstrip()
        setup = textwrap.dedent(setup)
        setup = (setup[1:] if setup and setup[0] == "\n" else setup).rstrip()
        self._timer = self._timer_cls(stmt=stmt, setup=setup, timer=timer, globals=self._globals)
        self._task_spec = common.TaskSpec(stmt=stmt, setup=setup, global_setup=global_setup, label=label,
                                          sub_label=sub_label, description=description, env=env,
                                          num_threads=num_threads)

    def _timeit(self, number: int) -> float:
        # Even calling a timer in C++ takes ~50 ns, so no real operation should take 1 ns
        return max(self._timer.timeit(number), 1e-9)

    def timeit(self, number: int = 1000000) -> common.Measurement:
        """Run ``stmt`` ``number`` times (after a warm-up of ``max(number // 100, 2)`` runs) and
        return one measurement of them (``timeit.Timer.timeit``'s semantics)."""
        with common.set_torch_threads(self._task_spec.num_threads):
            self._timeit(number=max(int(number // 100), 2))  # warmup
            return common.Measurement(number_per_run=number, raw_times=[self._timeit(number=number)],
                                      task_spec=self._task_spec)

    def repeat(self, repeat: int = -1, number: int = -1) -> None:
        """Not provided, as in PyTorch: use :meth:`blocked_autorange`."""
        raise NotImplementedError("See `Timer.blocked_autorange.`")

    def autorange(self, callback: Callable[[int, float], NoReturn] | None = None) -> None:
        """Not provided, as in PyTorch: use :meth:`blocked_autorange`."""
        raise NotImplementedError("See `Timer.blocked_autorange.`")

    def _threaded_measurement_loop(self, number: int, time_hook: Callable[[], float],
                                   stop_hook: Callable[[list[float]], bool], min_run_time: float,
                                   max_run_time: float | None = None,
                                   callback: Callable[[int, float], NoReturn] | None = None) -> list[float]:
        total_time = 0.0
        can_stop = False
        times: list[float] = []
        with common.set_torch_threads(self._task_spec.num_threads):
            while (total_time < min_run_time) or (not can_stop):
                time_spent = time_hook()
                times.append(time_spent)
                total_time += time_spent
                if callback:
                    callback(number, time_spent)
                can_stop = stop_hook(times)
                if max_run_time and total_time > max_run_time:
                    break
        return times

    def _estimate_block_size(self, min_run_time: float) -> int:
        """Runs per block: grown tenfold until the clock's overhead (the median of five empty
        measurements) is at most 0.01 % of a block that takes min_run_time / 1000, or a block
        takes longer than min_run_time."""
        with common.set_torch_threads(self._task_spec.num_threads):
            overhead = sorted(self._timeit(0) for _ in range(5))[2]
            number = 1
            while True:
                time_taken = self._timeit(number)
                relative_overhead = overhead / time_taken
                if relative_overhead <= 1e-4 and time_taken >= min_run_time / 1000:
                    break
                if time_taken > min_run_time:
                    break
                # Avoid overflow in C++ pybind11 interface
                if number * 10 > 2147483647:
                    break
                number *= 10
        return number

    def blocked_autorange(self, callback: Callable[[int, float], NoReturn] | None = None,
                          min_run_time: float = 0.2) -> common.Measurement:
        """Time blocks of ``stmt`` until at least ``min_run_time`` seconds are measured; the
        block size (runs per block) is chosen first so that the clock's overhead is negligible.
        ``callback(number, time)`` is called after each block."""
        number = self._estimate_block_size(min_run_time)

        def time_hook() -> float:
            return self._timeit(number)

        def stop_hook(times: list[float]) -> bool:
            return True

        times = self._threaded_measurement_loop(number, time_hook, stop_hook, min_run_time=min_run_time,
                                                callback=callback)
        return common.Measurement(number_per_run=number, raw_times=times, task_spec=self._task_spec)

    def adaptive_autorange(self, threshold: float = 0.1, *, min_run_time: float = 0.01, max_run_time: float = 10.0,
                           callback: Callable[[int, float], NoReturn] | None = None) -> common.Measurement:
        """Like :meth:`blocked_autorange`, but also until the blocks vary little: stops once more
        than 3 blocks and ``min_run_time`` seconds are measured and iqr / median < ``threshold``,
        or after ``max_run_time`` seconds whatever the spread."""
        number = self._estimate_block_size(min_run_time=0.05)

        def time_hook() -> float:
            return self._timeit(number)

        def stop_hook(times: list[float]) -> bool:
            if len(times) > 3:
                return common.Measurement(number_per_run=number, raw_times=times,
                                          task_spec=self._task_spec).meets_confidence(threshold=threshold)
            return False

        times = self._threaded_measurement_loop(number, time_hook, stop_hook, min_run_time, max_run_time,
                                                callback=callback)
        return common.Measurement(number_per_run=number, raw_times=times, task_spec=self._task_spec)
