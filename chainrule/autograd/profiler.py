"""The profiler's recording interpreter and its events (``torch.autograd.profiler``).

While a profiler records, this thread's grad-mode state holds a :class:`_Recorder`
(``STATE.profiler``), and ``STATE.mode`` is ``SPECIAL``: every operation then leaves the fast
recording path for ``primitive._apply_special`` (the path forward mode and anomaly checks
take), which hands the whole apply to :meth:`_Recorder.run`, and the engine's general walk
opens an event around each node's vector-Jacobian product.  Nothing is added to the fast
path: with no profiler the hot path reads the same flags as before, and the engine's one
test per ``backward`` call reads a list's emptiness first (``grad_mode.DIFFERING``).

What becomes an event:

* each primitive a Tensor operation runs, forward, named by the op (``matmul``, ``add``,
  ``tanh``, a ``Kernel``'s table entry such as ``greater``);
* each node's backward, named ``<op>_backward`` (``matmul_backward``); with
  ``create_graph=True`` the ops its rule runs are its children;
* each :class:`record_function` range (a user annotation), which holds the events opened
  inside it.

Times are ``time.perf_counter_ns`` wall-clock intervals on this thread, reported in
microseconds as PyTorch's: an event's *total* spans its children, its *self* time is the total
less its children's totals.  With ``profile_memory=True`` the recorder runs ``tracemalloc``
(NumPy reports its array memory to it) and an event's memory is the net number of bytes
allocated while it ran (allocations less frees, its children included; self = less the
children's), as PyTorch's "CPU Mem" column; arrays reused from ``backend.pool.POOL`` are not new
allocations and do not count.

An optimiser's ``step`` and ``zero_grad`` are ranges named as PyTorch names them
(``Optimizer.step#SGD.step``, :func:`run_in_range`); their array updates (``optim/_functional.py``)
are not ops, so the range's time is all self time.

A ``chainrule.compile``'d call runs eagerly while a profiler records (as under anomaly
checks: a plan would call the table directly, and no op would be seen), so its ops are events
and their times are eager times.

Not seen: operations in other threads (the recorder belongs to the thread that started it) and
factories that make a tensor from nothing (``zeros``, ``randn``).  An in-place op
(``x.add_(y)``) shows as the op it computes (``add``).
"""

from __future__ import annotations

import functools
import os
import threading
import time
import tracemalloc
from typing import Any, Callable, Iterable, NamedTuple

from chainrule.autograd.grad_mode import STATE

__all__ = [
    "EventList", "FunctionEvent", "FunctionEventAvg", "profile", "record_function",
]

_now = time.perf_counter_ns


class Interval(NamedTuple):
    """An event's time range, in microseconds from the recorder's start."""

    start: float
    end: float

    def elapsed_us(self) -> float:
        return self.end - self.start


class FunctionEvent:
    """One recorded interval: an op's forward, a node's backward, or a ``record_function`` range.

    Times are microseconds (floats), as PyTorch's ``FunctionEvent``: ``cpu_time_total`` spans
    the children, ``self_cpu_time_total`` is that less the children's totals."""

    __slots__ = (
        "id", "name", "thread", "start_ns", "end_ns", "cpu_parent", "cpu_children", "input_shapes",
        "cpu_memory_usage", "is_user_annotation", "stack", "flops", "trace_name", "_mem0", "_origin",
    )

    def __init__(self, id: int, name: str, thread: int, start_ns: int, origin: int,
                 is_user_annotation: bool = False) -> None:
        self.id = id
        # (as PyTorch's: the profiler's step ranges are all "ProfilerStep*" in the tables, and
        # keep their number in the trace)
        self.trace_name = name
        self.name = "ProfilerStep*" if name.startswith("ProfilerStep#") else name
        self.thread = thread
        self.start_ns = start_ns
        self.end_ns = -1  # (-1: still open)
        self.cpu_parent: FunctionEvent | None = None
        self.cpu_children: list[FunctionEvent] = []
        self.input_shapes: list | None = None
        self.cpu_memory_usage = 0
        self.is_user_annotation = is_user_annotation
        self.stack: list[str] = []
        self.flops = 0
        self._mem0 = 0
        self._origin = origin

    key = property(lambda self: self.name, doc="The name events are grouped by (``key_averages``).")
    count = 1
    is_async = False
    node_id = -1
    device_type = "CPU"
    self_cuda_time_total = cuda_time_total = self_device_time_total = device_time_total = 0.0

    @property
    def time_range(self) -> Interval:
        """(start, end) in microseconds since the recording began."""
        return Interval((self.start_ns - self._origin) / 1e3, (self.end_ns - self._origin) / 1e3)

    @property
    def cpu_time_total(self) -> float:
        """The event's wall-clock time in microseconds, its children included."""
        return (self.end_ns - self.start_ns) / 1e3

    cpu_time = cpu_time_total

    @property
    def self_cpu_time_total(self) -> float:
        """``cpu_time_total`` less the children's (the time spent in the event itself), in µs."""
        return max(self.cpu_time_total - sum(c.cpu_time_total for c in self.cpu_children), 0.0)

    @property
    def self_cpu_memory_usage(self) -> int:
        """Net bytes allocated by the event itself (its children's excluded)."""
        return self.cpu_memory_usage - sum(c.cpu_memory_usage for c in self.cpu_children)

    def __repr__(self) -> str:
        return (f"<FunctionEvent id={self.id} name={self.name} cpu_time={_format_time(self.cpu_time_total)} "
                f"self_cpu_time={_format_time(self.self_cpu_time_total)} input_shapes={self.input_shapes} "
                f"cpu_memory_usage={self.cpu_memory_usage}>")


class FunctionEventAvg:
    """The events of one key added up (``EventList.key_averages``): counts, total and self times
    (µs), memory; ``cpu_time`` is the average total per call."""

    is_async = False
    node_id = -1

    def __init__(self, key: str, input_shapes: list | None = None) -> None:
        self.key = key
        self.count = 0
        self.cpu_time_total = 0.0
        self.self_cpu_time_total = 0.0
        self.cpu_memory_usage = 0
        self.self_cpu_memory_usage = 0
        self.input_shapes = input_shapes
        self.flops = 0
        self.stack: list[str] = []
        self.cpu_parent: Any = None  # (the first event's: ``table(top_level_events_only=True)``)
        self.is_user_annotation = False
        self.self_cuda_time_total = self.cuda_time_total = 0.0
        self.self_device_time_total = self.device_time_total = 0.0

    @property
    def cpu_time(self) -> float:
        """The average total time per call, in microseconds."""
        return 0.0 if self.count == 0 else self.cpu_time_total / self.count

    cuda_time = device_time = property(lambda self: 0.0)

    def add(self, other: FunctionEvent | FunctionEventAvg) -> FunctionEventAvg:
        """Add ``other``'s counts, times and memory into this average (its key must be this one)."""
        if other.key != self.key:
            raise ValueError(f"FunctionEventAvg.add: key {other.key!r} into an average of {self.key!r}")
        return self._accumulate(other)

    def _accumulate(self, other: FunctionEvent | FunctionEventAvg) -> FunctionEventAvg:
        """Add ``other``'s counts, times, memory and flops, whatever its key (``total_average``)."""
        self.count += other.count
        self.cpu_time_total += other.cpu_time_total
        self.self_cpu_time_total += other.self_cpu_time_total
        self.cpu_memory_usage += other.cpu_memory_usage
        self.self_cpu_memory_usage += other.self_cpu_memory_usage
        self.flops += other.flops
        return self

    def __iadd__(self, other: FunctionEvent | FunctionEventAvg) -> FunctionEventAvg:
        return self.add(other)

    def __repr__(self) -> str:
        return (f"<FunctionEventAvg key={self.key} self_cpu_time={_format_time(self.self_cpu_time_total)} "
                f"cpu_time={_format_time(self.cpu_time)} input_shapes={self.input_shapes} "
                f"cpu_memory_usage={self.cpu_memory_usage}>")


# the keys ``table(sort_by=...)`` accepts: the averages' attributes (device times are all 0 here)
SORT_KEYS = (
    "cpu_time", "cpu_time_total", "self_cpu_time_total", "count", "cpu_memory_usage", "self_cpu_memory_usage",
    "cuda_time", "cuda_time_total", "self_cuda_time_total", "device_time", "device_time_total",
    "self_device_time_total", "flops",
)


class EventList(list):
    """A list of :class:`FunctionEvent` (or of averages), with PyTorch's summaries."""

    def __init__(self, events: Iterable = (), profile_memory: bool = False, with_flops: bool = False,
                 use_device: str | None = None) -> None:
        super().__init__(events)
        self._profile_memory = profile_memory
        self._with_flops = with_flops
        self.use_device = use_device

    @property
    def self_cpu_time_total(self) -> float:
        """The events' self times added up (µs): the time the recording saw, each moment once."""
        return sum(e.self_cpu_time_total for e in self)

    def key_averages(self, group_by_input_shape: bool = False, group_by_stack_n: int = 0,
                     group_by_overload_name: bool = False) -> EventList:
        """One :class:`FunctionEventAvg` per event name (and input shapes, with
        ``group_by_input_shape=True``), in the order the keys first occur."""
        groups: dict[Any, FunctionEventAvg] = {}
        for e in self:
            shapes = e.input_shapes if group_by_input_shape else None
            key: Any = (e.key, str(shapes)) if group_by_input_shape else e.key
            if group_by_stack_n > 0:
                key = (key, tuple(e.stack[:group_by_stack_n]))
            avg = groups.get(key)
            if avg is None:
                avg = groups[key] = FunctionEventAvg(e.key, shapes if shapes is not None else
                                                     ([] if group_by_input_shape else None))
                if group_by_stack_n > 0:
                    avg.stack = list(e.stack[:group_by_stack_n])
                # (as PyTorch's: the first event's parent decides top_level_events_only)
                avg.cpu_parent, avg.is_user_annotation = e.cpu_parent, e.is_user_annotation
            avg.add(e)
        return EventList(groups.values(), self._profile_memory, self._with_flops, self.use_device)

    def total_average(self) -> FunctionEventAvg:
        """All events added up into one average, keyed "Total"."""
        total = FunctionEventAvg("Total")
        for e in self:
            total._accumulate(e)
        return total

    def table(self, sort_by: str | None = None, row_limit: int = 100, max_src_column_width: int = 75,
              max_name_column_width: int = 55, max_shapes_column_width: int = 80, header: str | None = None,
              top_level_events_only: bool = False, time_unit: str | None = None) -> str:
        """The events as PyTorch's text table (see :func:`build_table`)."""
        return build_table(self, sort_by=sort_by, header=header, row_limit=row_limit,
                           max_src_column_width=max_src_column_width,
                           max_name_column_width=max_name_column_width,
                           max_shapes_column_width=max_shapes_column_width, with_flops=self._with_flops,
                           profile_memory=self._profile_memory, top_level_events_only=top_level_events_only,
                           time_unit=time_unit)

    def export_chrome_trace(self, path: str | os.PathLike) -> None:
        """Write the events as a Chrome trace (``chrome://tracing``, Perfetto) to ``path``:
        JSON ``{"traceEvents": [...]}``, one complete ("X") event per interval; written to a
        temporary file beside ``path`` and renamed, so a reader never sees half a file. A path
        ending in ``.gz`` is gzip-compressed."""
        write_chrome_trace(self, path)


def _format_time(time_us: float) -> str:
    if time_us >= 1e6:
        return f"{time_us / 1e6:.3f}s"
    if time_us >= 1e3:
        return f"{time_us / 1e3:.3f}ms"
    return f"{time_us:.3f}us"


def _format_time_share(time_us: float, total_us: float) -> str:
    if total_us == 0:
        return "NaN"
    return f"{time_us * 100.0 / total_us:.2f}%"


def _format_memory(nbytes: int) -> str:
    kb, mb, gb = 1024, 1024**2, 1024**3
    if abs(nbytes) >= gb:
        return f"{nbytes / gb:.2f} GB"
    if abs(nbytes) >= mb:
        return f"{nbytes / mb:.2f} MB"
    if abs(nbytes) >= kb:
        return f"{nbytes / kb:.2f} KB"
    return f"{nbytes} B"


def _time_in(time_us: float, unit: str | None) -> str:
    if unit is None:
        return _format_time(time_us)
    return {"s": f"{time_us / 1e6:.3f}s", "ms": f"{time_us / 1e3:.3f}ms", "us": f"{time_us:.3f}us"}[unit]


def build_table(events: Any, sort_by: str | None = None, header: str | None = None, row_limit: int = 100,
                max_src_column_width: int = 75, max_name_column_width: int = 55,
                max_shapes_column_width: int = 80, with_flops: bool = False, profile_memory: bool = False,
                top_level_events_only: bool = False, time_unit: str | None = None) -> str:
    """PyTorch's profiler table: Name, Self CPU %, Self CPU, CPU total %, CPU total, CPU time avg,
    [CPU Mem, Self CPU Mem], # of Calls, [Input Shapes], [Source Location], [Total FLOPs].

    Percentages are of the events' summed self time (the footer's "Self CPU time total").
    ``sort_by`` is one of :data:`SORT_KEYS` (descending); ``row_limit`` rows at most (-1: all)."""
    if sort_by is not None and sort_by not in SORT_KEYS:
        raise ValueError(f"table: sort_by must be one of {', '.join(SORT_KEYS)}; got {sort_by!r}")
    if time_unit not in (None, "s", "ms", "us"):
        raise ValueError(f"table: time_unit must be 's', 'ms', 'us' or None; got {time_unit!r}")
    if len(events) == 0:
        return ""
    if sort_by is not None:
        events = sorted(events, key=lambda e: getattr(e, sort_by.replace("cuda", "device")), reverse=True)
    has_shapes = any(e.input_shapes for e in events)
    stacks = [e.stack for e in events if e.stack]
    name_w = min(max(len(e.key) for e in events) + 4, max_name_column_width)
    shapes_w = min(max(len(str(e.input_shapes)) for e in events) + 4, max_shapes_column_width)
    headers = ["Name", "Self CPU %", "Self CPU", "CPU total %", "CPU total", "CPU time avg"]
    if profile_memory:
        headers += ["CPU Mem", "Self CPU Mem"]
    headers.append("# of Calls")
    widths = [name_w] + [12] * (len(headers) - 1)
    aligns = [">"] * len(headers)
    if has_shapes:
        headers.append("Input Shapes")
        widths.append(shapes_w)
        aligns.append(">")
    if stacks:
        headers.append("Source Location")
        widths.append(min(max(len(s) for st in stacks for s in st) + 4, max_src_column_width))
        aligns.append("<")
    raw_flops = [e.flops for e in events if e.flops > 0]
    flops_scale, flops_unit = 1.0, ""
    if with_flops and raw_flops:
        units = ["FLOPs", "KFLOPs", "MFLOPs", "GFLOPs", "TFLOPs", "PFLOPs"]
        import math

        power = int(max(0, min(math.log10(min(raw_flops)) / 3, len(units) - 1)))
        flops_scale, flops_unit = 10.0 ** (-3 * power), units[power]
        headers.append(f"Total {flops_unit}")
        widths.append(12)
        aligns.append(">")
    row_format = "".join("{: " + a + str(w) + "}  " for a, w in zip(aligns, widths))
    sep = "".join("-" * w + "  " for w in widths)
    line_length = sum(w + 2 for w in widths) - 2
    total_self = sum(e.self_cpu_time_total for e in events)
    out: list[str] = []
    if header is not None:
        out += ["=" * line_length, header]
    if top_level_events_only:
        out += ["=" * line_length, "This report only display top-level ops statistics"]
    out += [sep, row_format.format(*headers), sep]
    shown = 0
    for e in events:
        if shown == row_limit:
            break
        if top_level_events_only and e.cpu_parent is not None:
            continue
        shown += 1
        name = e.key
        if len(name) >= max_name_column_width - 3:
            name = name[: max_name_column_width - 3] + "..."
        row: list[Any] = [
            name, _format_time_share(e.self_cpu_time_total, total_self), _time_in(e.self_cpu_time_total, time_unit),
            _format_time_share(e.cpu_time_total, total_self), _time_in(e.cpu_time_total, time_unit),
            _time_in(e.cpu_time, time_unit),
        ]
        if profile_memory:
            row += [_format_memory(e.cpu_memory_usage), _format_memory(e.self_cpu_memory_usage)]
        row.append(e.count)
        if has_shapes:
            row.append(str(e.input_shapes)[:shapes_w])
        if stacks:
            row.append(e.stack[0][-widths[headers.index("Source Location")]:] if e.stack else "")
        if with_flops and raw_flops:
            row.append("--" if e.flops <= 0 else f"{e.flops * flops_scale:8.3f}")
        out.append(row_format.format(*row))
    out += [sep, f"Self CPU time total: {_time_in(total_self, time_unit)}"]
    return "\n".join(out) + "\n"


def chrome_trace(events: Iterable[FunctionEvent], metadata: dict | None = None) -> dict:
    """The events as a Chrome trace object: ``{"traceEvents": [...], "displayTimeUnit": "ms"}``
    (times in microseconds; ``metadata``'s keys added at the top level, as PyTorch's ``add_metadata``)."""
    pid = os.getpid()
    trace: list[dict] = [
        {"ph": "M", "name": "process_name", "pid": pid, "tid": 0, "args": {"name": "python"}},
    ]
    for e in events:
        if e.end_ns < 0:
            continue
        args: dict[str, Any] = {}
        if e.input_shapes is not None:
            args["Input Dims"] = e.input_shapes
        if e.cpu_memory_usage:
            args["CPU Mem"] = e.cpu_memory_usage
        if e.stack:
            args["Call stack"] = ";".join(e.stack)
        if e.flops:
            args["flops"] = e.flops
        trace.append({
            "ph": "X", "cat": "user_annotation" if e.is_user_annotation else "cpu_op", "name": e.trace_name,
            "pid": pid, "tid": e.thread, "ts": e.start_ns / 1e3, "dur": (e.end_ns - e.start_ns) / 1e3,
            "args": args,
        })
    return {"schemaVersion": 1, **(metadata or {}), "displayTimeUnit": "ms", "traceEvents": trace}


def write_chrome_trace(events: Iterable[FunctionEvent], path: str | os.PathLike, metadata: dict | None = None) -> None:
    """Write :func:`chrome_trace` of ``events`` to ``path`` atomically (a temporary file in the
    same folder, then ``os.replace``); gzip when ``path`` ends in ``.gz``."""
    import json
    import tempfile

    path = os.fspath(path)
    data = json.dumps(chrome_trace(events, metadata)).encode()
    if path.endswith(".gz"):
        import gzip

        data = gzip.compress(data)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".trace-", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


# -- the recording interpreter --------------------------------------------------------------------

class _Recorder:
    """What one recording saw: its events in the order they began, and the stack of open ones.

    Installed as ``STATE.profiler`` of the thread that started it (:func:`start`); the apply
    path and the engine call :meth:`run` / :meth:`open` / :meth:`close` through it."""

    def __init__(self, record_shapes: bool = False, profile_memory: bool = False, with_stack: bool = False,
                 with_flops: bool = False) -> None:
        self.record_shapes = record_shapes
        self.profile_memory = profile_memory
        self.with_stack = with_stack
        self.with_flops = with_flops
        self.events: list[FunctionEvent] = []
        self.open_events: list[FunctionEvent] = []
        self.thread = threading.get_native_id()
        self.origin = _now()
        self._started_tracemalloc = False

    def open(self, name: str, inputs: Any = None, user: bool = False) -> FunctionEvent:
        """Begin an event named ``name`` inside the innermost open one; ``inputs`` (Tensors) give
        its input shapes when shapes are recorded."""
        ev = FunctionEvent(len(self.events), name, self.thread, 0, self.origin, user)
        if self.open_events:
            parent = self.open_events[-1]
            ev.cpu_parent = parent
            parent.cpu_children.append(ev)
        if inputs is not None and self.record_shapes:
            ev.input_shapes = [list(getattr(t, "shape", ())) for t in inputs]
        if self.with_stack:
            ev.stack = _user_stack()
        if self.profile_memory:
            ev._mem0 = tracemalloc.get_traced_memory()[0]
        self.events.append(ev)
        self.open_events.append(ev)
        ev.start_ns = _now()  # (last: the bookkeeping above is not the event's time)
        return ev

    def close(self, ev: FunctionEvent) -> None:
        """End ``ev`` (and any event still open inside it: an exception skipped their ends)."""
        now = _now()
        if ev.end_ns >= 0:
            return
        mem = tracemalloc.get_traced_memory()[0] if self.profile_memory else 0
        stack = self.open_events
        while stack:
            top = stack.pop()
            top.end_ns = now
            if self.profile_memory:
                top.cpu_memory_usage = mem - top._mem0
            if top is ev:
                break

    def run(self, op: Any, inputs: tuple, apply: Callable[[Any, tuple], Any]) -> Any:
        """``apply(op, inputs)`` (the checked apply path) as one event named by the op."""
        ev = self.open(op.name, inputs)
        try:
            out = apply(op, inputs)
        finally:
            self.close(ev)
        if self.with_flops:
            ev.flops = _flops(op.name, inputs, out)
        return out

    def start(self) -> None:
        if STATE.profiler is not None:
            raise RuntimeError("profiler: a profiler is already recording on this thread (profilers do not nest)")
        if self.profile_memory and not tracemalloc.is_tracing():
            tracemalloc.start()
            self._started_tracemalloc = True
        self.thread = threading.get_native_id()
        self.origin = _now()
        STATE.profiler = self
        STATE.refresh()

    def stop(self) -> None:
        """Close what is still open and leave the recording mode (always safe to call)."""
        if self.open_events:
            self.close(self.open_events[0])
        if STATE.profiler is self:
            STATE.profiler = None
            STATE.refresh()
        if self._started_tracemalloc:
            tracemalloc.stop()
            self._started_tracemalloc = False

    def event_list(self) -> EventList:
        return EventList([e for e in self.events if e.end_ns >= 0], self.profile_memory, self.with_flops)


def _flops(name: str, inputs: tuple, out: Any) -> int:
    """Floating-point operations of the products (PyTorch counts those of mm, bmm, addmm and
    convolutions): 2·(output elements)·k for a matrix product with inner size k."""
    if name in ("matmul", "mm", "bmm", "linear") and len(inputs) >= 2 and hasattr(out, "numel"):
        a = inputs[0]
        k = a.shape[-1] if len(a.shape) else 1
        return 2 * int(out.numel()) * int(k)
    return 0


_HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # chainrule/


def _user_stack(limit: int = 5) -> list[str]:
    """The innermost frames outside chainrule, as ``file(line): function`` (``with_stack``)."""
    import sys

    out: list[str] = []
    f: Any = sys._getframe(2)
    while f is not None and len(out) < limit:
        fn = f.f_code.co_filename
        if not os.path.abspath(fn).startswith(_HERE):
            out.append(f"{fn}({f.f_lineno}): {f.f_code.co_name}")
        f = f.f_back
    return out


class record_function:
    """``with record_function("name"):`` a labelled range in the profile (a user annotation):
    its events nest inside it and its self time is what it ran outside them. Also a decorator
    (``@record_function("name")``: one range per call). Without a recording profiler on this
    thread it costs one attribute read."""

    def __init__(self, name: str, args: str | None = None) -> None:
        if not isinstance(name, str):
            raise TypeError(f"record_function: name must be a str, got {type(name).__name__}")
        self.name = name
        self.args = args
        self._ev: FunctionEvent | None = None
        self._rec: _Recorder | None = None

    def __enter__(self) -> record_function:
        rec = STATE.profiler
        if rec is not None:
            self._rec, self._ev = rec, rec.open(self.name, user=True)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._rec is not None and self._ev is not None:
            self._rec.close(self._ev)
        self._rec = self._ev = None

    def __call__(self, fn: Callable) -> Callable:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with record_function(self.name, self.args):  # (a range per call: calls may nest)
                return fn(*args, **kwargs)

        return wrapper


def run_in_range(label: str, fn: Callable, args: tuple, kwargs: dict, method: str | None = None) -> Any:
    """``fn(*args, **kwargs)``, a method call, as a range named ``"<label>#<Class>.<method>"`` when
    a profiler records on this thread (PyTorch's ``Optimizer.step#SGD.step``).  The callers test
    ``DIFFERING`` first, so that without a profiler the test is all they pay.  A subclass's method
    calling its parent's (``super().step()``) makes one range, not two.  ``method`` names the method
    when ``fn`` is the function that does its work under another name."""
    rec = STATE.profiler
    if rec is None:
        return fn(*args, **kwargs)
    name = f"{label}#{type(args[0]).__name__}.{method or fn.__name__}"
    if rec.open_events and rec.open_events[-1].name == name:
        return fn(*args, **kwargs)
    ev = rec.open(name, user=True)
    try:
        return fn(*args, **kwargs)
    finally:
        rec.close(ev)


def _open_backward(op: Any, parents: Any) -> FunctionEvent | None:
    """The engine's event for one node's backward (``<op>_backward``), or None when nothing records."""
    rec = STATE.profiler
    if rec is None:
        return None
    return rec.open(f"{op.name}_backward", parents)


def _close(ev: FunctionEvent | None) -> None:
    if ev is not None:
        rec = STATE.profiler
        if rec is not None:
            rec.close(ev)


class profile:
    """``torch.autograd.profiler.profile``, the older API: record every op of the ``with`` block.

        with chainrule.autograd.profiler.profile(record_shapes=True) as prof:
            loss = model(x).sum(); loss.backward()
        print(prof.key_averages().table(sort_by="self_cpu_time_total"))

    ``use_cuda`` / ``use_device`` are accepted and record nothing (chainrule computes on the CPU);
    ``with_modules``, ``use_kineto``, ``experimental_config``, ``acc_events`` and
    ``custom_trace_id_callback`` are accepted and ignored. ``enabled=False`` records nothing.
    """

    def __init__(self, enabled: bool = True, *, use_cuda: bool = False, use_device: str | None = None,
                 record_shapes: bool = False, with_flops: bool = False, profile_memory: bool = False,
                 with_stack: bool = False, with_modules: bool = False, use_kineto: bool = False,
                 use_cpu: bool = True, experimental_config: Any = None, acc_events: bool = False,
                 custom_trace_id_callback: Any = None) -> None:
        self.enabled = bool(enabled)
        self.use_device = use_device
        self.record_shapes = bool(record_shapes)
        self.with_flops = bool(with_flops)
        self.profile_memory = bool(profile_memory)
        self.with_stack = bool(with_stack)
        self.with_modules = bool(with_modules)
        self.function_events: EventList | None = None
        self._recorder: _Recorder | None = None
        self.entered = False

    def _new_recorder(self) -> _Recorder:
        return _Recorder(self.record_shapes, self.profile_memory, self.with_stack, self.with_flops)

    def __enter__(self) -> profile:
        if not self.enabled:
            return self
        if self.entered:
            raise RuntimeError("profiler context manager is not reentrant")
        self._recorder = self._new_recorder()
        self._recorder.start()  # (raises if this thread records already: then nothing changed)
        self.entered = True
        return self

    def __exit__(self, *exc: Any) -> None:
        if not self.enabled:
            self.function_events = EventList()
            return
        rec = self._recorder
        if rec is not None:
            rec.stop()
            self.function_events = rec.event_list()
        self.entered = False

    def _events(self) -> EventList:
        if self.function_events is None:
            if self._recorder is None:
                raise RuntimeError("profiler: no results yet (run the profiled block first)")
            return self._recorder.event_list()
        return self.function_events

    def events(self) -> EventList:
        """Every recorded event (:class:`FunctionEvent`), in the order they began."""
        return self._events()

    def key_averages(self, group_by_input_shape: bool = False, group_by_stack_n: int = 0,
                     group_by_overload_name: bool = False) -> EventList:
        """The events grouped by name (and input shapes / stack), one :class:`FunctionEventAvg` each."""
        if group_by_input_shape and not self.record_shapes:
            raise RuntimeError("key_averages(group_by_input_shape=True) needs profile(record_shapes=True)")
        if group_by_stack_n > 0 and not self.with_stack:
            raise RuntimeError("key_averages(group_by_stack_n>0) needs profile(with_stack=True)")
        return self._events().key_averages(group_by_input_shape, group_by_stack_n)

    def total_average(self) -> FunctionEventAvg:
        return self._events().total_average()

    def table(self, sort_by: str | None = None, row_limit: int = 100, max_src_column_width: int = 75,
              max_name_column_width: int = 55, max_shapes_column_width: int = 80, header: str | None = None,
              top_level_events_only: bool = False, time_unit: str | None = None) -> str:
        """The events themselves (not averaged) as the text table; see ``EventList.table``."""
        return self._events().table(sort_by, row_limit, max_src_column_width, max_name_column_width,
                                    max_shapes_column_width, header, top_level_events_only, time_unit)

    def export_chrome_trace(self, path: str | os.PathLike) -> None:
        """Write the events as a Chrome trace JSON file (atomically; see ``EventList.export_chrome_trace``)."""
        self._events().export_chrome_trace(path)

    @property
    def self_cpu_time_total(self) -> float:
        return self._events().self_cpu_time_total

    def __str__(self) -> str:
        return self.table()
