"""``torch.profiler``: the profiler with activities, a schedule and trace handlers.

:class:`profile` is PyTorch's ``torch.profiler.profile`` on the CPU: each recording it makes
is a ``chainrule.autograd.profiler.profile`` (the recording interpreter: every op forward and
backward, every ``record_function`` range; see that module for what is measured), started and
stopped by the ``schedule`` as PyTorch's profiler starts and stops its traces:

    def trace_handler(prof):
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=10))

    with profile(activities=[ProfilerActivity.CPU],
                 schedule=schedule(wait=1, warmup=1, active=2, repeat=1),
                 on_trace_ready=trace_handler) as prof:
        for batch in loader:
            train_step(batch)
            prof.step()

``ProfilerActivity.CUDA`` (and the other devices) are accepted and record nothing: chainrule
computes on the CPU.  A profile without ``ProfilerActivity.CPU`` in ``activities`` records
nothing at all.
"""

from __future__ import annotations

import enum
import os
import socket
import time
import warnings
from functools import partial
from typing import Any, Callable, Iterable

from chainrule.autograd import profiler as _legacy
from chainrule.autograd.profiler import EventList, record_function

__all__ = [
    "ProfilerAction", "ProfilerActivity", "profile", "record_function", "schedule", "supported_activities",
    "tensorboard_trace_handler",
]


class ProfilerActivity(enum.Enum):
    """What to profile: ``CPU`` (the ops, recorded) or a device's kernels (accepted, nothing to record)."""

    CPU = 0
    XPU = 1
    MTIA = 2
    CUDA = 3
    HPU = 4
    PrivateUse1 = 5

    def __str__(self) -> str:
        return f"ProfilerActivity.{self.name}"


def supported_activities() -> set[ProfilerActivity]:
    """The activities this build records: the CPU's."""
    return {ProfilerActivity.CPU}


class ProfilerAction(enum.Enum):
    """What the profiler does during a step, as a ``schedule`` answers it."""

    NONE = 0
    WARMUP = 1
    RECORD = 2
    RECORD_AND_SAVE = 3


def schedule(*, wait: int, warmup: int, active: int, repeat: int = 0, skip_first: int = 0,
             skip_first_wait: int = 0) -> Callable[[int], ProfilerAction]:
    """PyTorch's step schedule: skip the first ``skip_first`` steps, then cycles of ``wait`` steps
    (NONE), ``warmup`` steps (WARMUP) and ``active`` steps (RECORD, the last one
    RECORD_AND_SAVE: the trace is handed to ``on_trace_ready`` when that step ends); ``repeat``
    cycles (0: until the profile ends). ``skip_first_wait`` != 0 leaves out the first cycle's wait.

    Returns ``fn(step) -> ProfilerAction``."""
    for name, value in (("wait", wait), ("warmup", warmup), ("active", active), ("repeat", repeat),
                        ("skip_first", skip_first), ("skip_first_wait", skip_first_wait)):
        if not isinstance(value, int) or isinstance(value, bool):
            raise TypeError(f"schedule: {name} must be an int, got {type(value).__name__}")
    if wait < 0 or warmup < 0 or active <= 0 or repeat < 0 or skip_first < 0:
        raise ValueError(
            f"schedule: invalid arguments wait={wait} (need >= 0), warmup={warmup} (need >= 0), "
            f"active={active} (need > 0), repeat={repeat} (need >= 0), skip_first={skip_first} (need >= 0)"
        )
    if warmup == 0:
        warnings.warn("Profiler won't be using warmup, this can skew profiler results", stacklevel=2)
    cycle = wait + warmup + active

    def schedule_fn(step: int) -> ProfilerAction:
        if step < 0:
            raise ValueError(f"schedule: the step must be >= 0, got {step}")
        if step < skip_first:
            return ProfilerAction.NONE
        step -= skip_first
        if skip_first_wait != 0:
            step += wait
        if repeat > 0 and step / cycle >= repeat:
            return ProfilerAction.NONE
        mod = step % cycle
        if mod < wait:
            return ProfilerAction.NONE
        if mod < wait + warmup:
            return ProfilerAction.WARMUP
        return ProfilerAction.RECORD if mod < cycle - 1 else ProfilerAction.RECORD_AND_SAVE

    return schedule_fn


def _default_schedule_fn(_: int) -> ProfilerAction:
    """Without a schedule: record the whole block."""
    return ProfilerAction.RECORD


def tensorboard_trace_handler(dir_name: str, worker_name: str | None = None, use_gzip: bool = False,
                              use_python_export: bool = False) -> Callable[[Any], None]:
    """An ``on_trace_ready`` handler writing each trace to ``dir_name`` as
    ``{worker_name}.{time_ns}.pt.trace.json[.gz]`` (the folder TensorBoard's profiler plugin
    reads); ``worker_name`` defaults to ``{hostname}_{pid}``."""
    if not isinstance(dir_name, (str, os.PathLike)):
        raise TypeError(f"tensorboard_trace_handler: dir_name must be a path, got {type(dir_name).__name__}")

    def handler_fn(prof: Any) -> None:
        nonlocal worker_name
        if not os.path.isdir(dir_name):
            try:
                os.makedirs(dir_name, exist_ok=True)
            except Exception as e:
                raise RuntimeError(f"Can't create directory: {dir_name}") from e
        if not worker_name:
            worker_name = f"{socket.gethostname()}_{os.getpid()}"
        file_name = f"{worker_name}.{time.time_ns()}.pt.trace.json" + (".gz" if use_gzip else "")
        prof.export_chrome_trace(os.path.join(dir_name, file_name))

    return handler_fn


def _warn(message: str) -> None:
    warnings.warn(message, stacklevel=3)


class profile:
    """``torch.profiler.profile``: a context manager that records the ops of its block (see the
    module docstring), by steps when given a ``schedule`` (call :meth:`step` after each).

    Args:
        activities: ProfilerActivity values (default: all supported, the CPU); only CPU records.
        schedule: ``fn(step) -> ProfilerAction`` (see :func:`schedule`); default: record throughout.
        on_trace_ready: called with this profiler when a recording ends (a RECORD_AND_SAVE step,
            or the end of the block while recording).
        record_shapes: keep each op's input shapes (``key_averages(group_by_input_shape=True)``).
        profile_memory: measure the bytes each op allocates (``tracemalloc``; slower).
        with_stack: keep each op's innermost user frames ("Source Location").
        with_flops: count the floating-point operations of matrix products.
        with_modules: accepted; module ranges are not recorded (use ``record_function``).
        experimental_config: accepted and ignored (as are execution_trace_observer, acc_events,
            custom_trace_id_callback).
        use_cuda: deprecated in PyTorch; accepted, records nothing.
    """

    def __init__(self, *, activities: Iterable[ProfilerActivity] | None = None,
                 schedule: Callable[[int], ProfilerAction] | None = None,
                 on_trace_ready: Callable[..., Any] | None = None, record_shapes: bool = False,
                 profile_memory: bool = False, with_stack: bool = False, with_flops: bool = False,
                 with_modules: bool = False, experimental_config: Any = None,
                 execution_trace_observer: Any = None, acc_events: bool = False, use_cuda: bool | None = None,
                 custom_trace_id_callback: Any = None) -> None:
        if activities is None:
            self.activities = supported_activities()
        else:
            if isinstance(activities, (str, ProfilerActivity)) or not isinstance(activities, Iterable):
                raise TypeError("profile: activities must be an iterable of ProfilerActivity values "
                                f"(e.g. [ProfilerActivity.CPU]), got {activities!r}")
            self.activities = set(activities)
            bad = [a for a in self.activities if not isinstance(a, ProfilerActivity)]
            if bad:
                raise TypeError(f"profile: activities must be ProfilerActivity values, got {bad[0]!r}")
            if not self.activities:
                raise ValueError("profile: no activities to profile (give e.g. [ProfilerActivity.CPU])")
        if schedule is not None and not callable(schedule):
            raise TypeError(f"profile: schedule must be a callable step -> ProfilerAction, got {schedule!r}")
        if on_trace_ready is not None and not callable(on_trace_ready):
            raise TypeError(f"profile: on_trace_ready must be callable, got {on_trace_ready!r}")
        self.record_shapes = bool(record_shapes)
        self.profile_memory = bool(profile_memory)
        self.with_stack = bool(with_stack)
        self.with_flops = bool(with_flops)
        self.with_modules = bool(with_modules)
        self.on_trace_ready = on_trace_ready
        self.schedule: Callable[[int], ProfilerAction] = schedule or _default_schedule_fn
        self.record_steps = schedule is not None  # "ProfilerStep#N" ranges, as PyTorch's
        self.step_num = 0
        self.step_rec_fn: record_function | None = None
        self.profiler: _legacy.profile | None = None  # the current or last recording
        self._metadata: dict[str, str] = {}
        self.current_action = self._action(self.step_num)
        A = ProfilerAction
        warmup_none = partial(_warn, "Incorrect schedule: WARMUP followed by NONE")
        record_none = partial(_warn, "Incorrect schedule: RECORD followed by NONE")
        record_warmup = partial(_warn, "Incorrect schedule: RECORD followed by WARMUP")
        prepare, start, stop, ready = self.prepare_trace, self.start_trace, self.stop_trace, self._trace_ready
        # (previous action, this one) -> what to do: PyTorch's table (torch/profiler/profiler.py)
        self.action_map: dict[tuple[ProfilerAction, ProfilerAction | None], list[Callable[[], Any]]] = {
            (A.NONE, A.NONE): [],
            (A.NONE, A.WARMUP): [prepare],
            (A.NONE, A.RECORD): [prepare, start],
            (A.NONE, A.RECORD_AND_SAVE): [prepare, start],
            (A.WARMUP, A.NONE): [warmup_none, start, stop],
            (A.WARMUP, A.WARMUP): [],
            (A.WARMUP, A.RECORD): [start],
            (A.WARMUP, A.RECORD_AND_SAVE): [start],
            (A.RECORD, A.NONE): [record_none, stop],
            (A.RECORD, A.WARMUP): [record_warmup, stop],
            (A.RECORD, A.RECORD): [],
            (A.RECORD, A.RECORD_AND_SAVE): [],
            (A.RECORD_AND_SAVE, A.NONE): [stop, ready],
            (A.RECORD_AND_SAVE, A.WARMUP): [stop, ready, prepare],
            (A.RECORD_AND_SAVE, A.RECORD): [stop, ready, prepare, start],
            (A.RECORD_AND_SAVE, A.RECORD_AND_SAVE): [stop, ready, prepare, start],
            (A.WARMUP, None): [start, stop],
            (A.RECORD, None): [stop, ready],
            (A.RECORD_AND_SAVE, None): [stop, ready],
        }

    def _action(self, step: int) -> ProfilerAction:
        action = self.schedule(step)
        if not isinstance(action, ProfilerAction):
            raise TypeError(f"profile: the schedule must return a ProfilerAction, got {action!r} for step {step}")
        return action

    # -- the recording's life, as PyTorch's _KinetoProfile --------------------------------------
    def prepare_trace(self) -> None:
        """Make a new recording (the previous one's results are dropped)."""
        self.profiler = _legacy.profile(
            enabled=ProfilerActivity.CPU in self.activities, record_shapes=self.record_shapes,
            with_flops=self.with_flops, profile_memory=self.profile_memory, with_stack=self.with_stack,
            with_modules=self.with_modules,
        )

    def start_trace(self) -> None:
        """Begin recording (this thread's ops are events from now on)."""
        if self.profiler is None:
            self.prepare_trace()
        assert self.profiler is not None
        self.profiler.__enter__()

    def stop_trace(self) -> None:
        """Stop recording; the results stay readable until the next ``prepare_trace``."""
        if self.profiler is not None:
            self.profiler.__exit__(None, None, None)

    def _trace_ready(self) -> None:
        if self.on_trace_ready is not None:
            self.on_trace_ready(self)

    def _transit_action(self, prev: ProfilerAction, current: ProfilerAction | None) -> None:
        for action in self.action_map.get((prev, current), []):
            action()

    def start(self) -> None:
        """Start profiling (``__enter__``): the schedule's action for step 0 takes effect."""
        self._transit_action(ProfilerAction.NONE, self.current_action)
        if self.record_steps:
            self.step_rec_fn = record_function(f"ProfilerStep#{self.step_num}")
            self.step_rec_fn.__enter__()

    def stop(self) -> None:
        """Stop profiling (``__exit__``, also on an exception): a recording in progress ends and
        is handed to ``on_trace_ready``."""
        try:
            if self.record_steps and self.step_rec_fn is not None:
                self.step_rec_fn.__exit__(None, None, None)
                self.step_rec_fn = None
            self._transit_action(self.current_action, None)
        finally:  # (a failing handler must not leave the thread recording)
            if self.profiler is not None and self.profiler.entered:
                self.profiler.__exit__(None, None, None)

    def step(self) -> None:
        """Signal that the next step begins: its schedule action takes effect (a recording may
        start, or end and be handed to ``on_trace_ready``)."""
        if self.record_steps and self.step_rec_fn is not None:
            self.step_rec_fn.__exit__(None, None, None)
            self.step_rec_fn = None
        prev = self.current_action
        action = self._action(self.step_num + 1)
        self.step_num += 1
        self.current_action = action
        self._transit_action(prev, action)
        if self.record_steps:
            self.step_rec_fn = record_function(f"ProfilerStep#{self.step_num}")
            self.step_rec_fn.__enter__()

    def __enter__(self) -> profile:
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # -- results ----------------------------------------------------------------------------
    def _recording(self) -> _legacy.profile:
        if self.profiler is None:
            raise RuntimeError("profiler: nothing was recorded (no step was in a RECORD phase of the schedule)")
        return self.profiler

    def events(self) -> EventList:
        """The events of the current or last recording (``FunctionEvent``s, in the order they began)."""
        return self._recording().events()

    def key_averages(self, group_by_input_shape: bool = False, group_by_stack_n: int = 0,
                     group_by_overload_name: bool = False) -> EventList:
        """The last recording's events averaged by name (and input shapes / stack); print it with
        ``.table(sort_by="self_cpu_time_total", row_limit=10)``."""
        return self._recording().key_averages(group_by_input_shape, group_by_stack_n)

    def export_chrome_trace(self, path: str | os.PathLike) -> None:
        """Write the last recording as Chrome trace JSON (atomically; ``.gz`` paths compressed)."""
        events = self._recording().events()
        if self._metadata:
            from chainrule.autograd.profiler import write_chrome_trace

            write_chrome_trace(events, path, self._metadata)
        else:
            events.export_chrome_trace(path)

    def add_metadata(self, key: str, value: str) -> None:
        """A string key/value written into the exported trace."""
        self._metadata[str(key)] = str(value)

    def add_metadata_json(self, key: str, value: str) -> None:
        """Like :meth:`add_metadata` (the value a JSON string, kept as text)."""
        self._metadata[str(key)] = str(value)
