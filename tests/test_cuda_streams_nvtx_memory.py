"""``torch.cuda``'s streams and events, ``torch.cuda.nvtx`` and the allocator's counters, as PyTorch's
CPU-only build has them (``chainrule/cuda/streams.py``, ``nvtx.py``, ``memory.py``).

The first tests state the CPU-only build's behaviour directly; the oracle tests run the same calls on
the installed PyTorch (skipped without it, or where it has CUDA) and compare exception types and
messages."""

from __future__ import annotations

import warnings
from collections import OrderedDict

import pytest

import chainrule as cr
from chainrule.backend.device import DeviceUnavailableError
from chainrule.cuda import nvtx

# (label, call) pairs run on both libraries; each either returns or raises
CALLS = {
    "Event()": lambda L: L.cuda.Event(),
    "Event(enable_timing=True)": lambda L: L.cuda.Event(enable_timing=True),
    "Event(blocking=True)": lambda L: L.cuda.Event(enable_timing=False, blocking=True, interprocess=False),
    "Stream()": lambda L: L.cuda.Stream(),
    "Stream(device=0, priority=-1)": lambda L: L.cuda.Stream(device=0, priority=-1),
    "current_stream()": lambda L: L.cuda.current_stream(),
    "default_stream()": lambda L: L.cuda.default_stream(),
    "set_stream(None)": lambda L: L.cuda.set_stream(None),
    "nvtx.range_push": lambda L: L.cuda.nvtx.range_push("step"),
    "nvtx.range_pop": lambda L: L.cuda.nvtx.range_pop(),
    "nvtx.mark": lambda L: L.cuda.nvtx.mark("here"),
    "nvtx.range_start": lambda L: L.cuda.nvtx.range_start("a"),
    "nvtx.range_end": lambda L: L.cuda.nvtx.range_end(0),
    "memory_summary()": lambda L: L.cuda.memory_summary(),
    "memory_summary(abbreviated=True)": lambda L: L.cuda.memory_summary(abbreviated=True),
    "memory_stats()": lambda L: L.cuda.memory_stats(),
    "memory_stats_as_nested_dict()": lambda L: L.cuda.memory_stats_as_nested_dict(),
    "memory_reserved()": lambda L: L.cuda.memory_reserved(),
    "max_memory_reserved()": lambda L: L.cuda.max_memory_reserved(),
    "memory_allocated('cuda:0')": lambda L: L.cuda.memory_allocated("cuda:0"),
    "reset_peak_memory_stats()": lambda L: L.cuda.reset_peak_memory_stats(),
    "reset_accumulated_memory_stats()": lambda L: L.cuda.reset_accumulated_memory_stats(),
    "memory_snapshot()": lambda L: L.cuda.memory_snapshot(),
    "set_per_process_memory_fraction(0.5)": lambda L: L.cuda.set_per_process_memory_fraction(0.5),
}


def _outcome(fn, lib):
    """('ok', value) or (exception type name, message), with warnings recorded."""
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        try:
            res: tuple = ("ok", fn(lib))
        except Exception as e:  # noqa: BLE001  (the exception itself is the result)
            res = (_kind(e), str(e))
    return res, [(x.category.__name__, str(x.message)) for x in w]


def _kind(e: BaseException) -> str:
    """The PyTorch-visible type: chainrule's DeviceUnavailableError is PyTorch's AssertionError."""
    return "AssertionError" if isinstance(e, DeviceUnavailableError) else type(e).__name__


def test_streams_and_events_cannot_be_made():
    with pytest.raises(RuntimeError, match="^torch.cuda.Stream requires CUDA support$"):
        cr.cuda.Stream()
    with pytest.raises(RuntimeError, match="^Tried to instantiate dummy base class Event$"):
        cr.cuda.Event(enable_timing=True)
    for fn in (cr.cuda.current_stream, cr.cuda.default_stream):
        with pytest.raises(AssertionError, match="Torch not compiled with CUDA enabled"):
            fn()
    assert isinstance(cr.cuda.Stream, type) and isinstance(cr.cuda.Event, type)


def test_the_stream_context_is_a_no_op():
    ran = []
    with cr.cuda.stream(None):
        ran.append(1)
    with cr.cuda.StreamContext(object()):  # (PyTorch's CPU build does not look at the stream)
        ran.append(2)
    assert ran == [1, 2] and isinstance(cr.cuda.stream(None), cr.cuda.StreamContext)
    assert cr.cuda.set_stream(None) is None


def test_nvtx_raises_as_a_cpu_only_build():
    for fn in (lambda: nvtx.range_push("a"), nvtx.range_pop, lambda: nvtx.mark("a")):
        with pytest.raises(RuntimeError, match="NVTX functions not installed"):
            fn()
    r = nvtx.range("epoch {}", 3)  # making it is fine; entering it raises
    with pytest.raises(RuntimeError, match="NVTX functions not installed"):
        with r:
            pass

    @nvtx.range("forward")
    def forward():
        return 1

    with pytest.raises(RuntimeError, match="NVTX functions not installed"):
        forward()
    with pytest.raises(AttributeError):
        nvtx.range_start("a")
    assert cr.cuda.nvtx is nvtx


def test_memory_counters_and_stats():
    for name in ("memory_allocated", "max_memory_allocated", "memory_reserved", "max_memory_reserved"):
        assert getattr(cr.cuda, name)() == 0 and getattr(cr.cuda, name)("cuda:0") == 0
    stats = cr.cuda.memory_stats()
    assert stats == OrderedDict() and type(stats) is OrderedDict
    assert cr.cuda.memory_stats_as_nested_dict() == {}
    with pytest.warns(FutureWarning, match="renamed to `torch.cuda.memory_reserved`"):
        assert cr.cuda.memory_cached() == 0
    with pytest.warns(FutureWarning, match="renamed to `torch.cuda.max_memory_reserved`"):
        assert cr.cuda.max_memory_cached() == 0
    with pytest.raises(KeyError, match="allocated_bytes.all.current"):
        cr.cuda.memory_summary()
    for name in ("reset_peak_memory_stats", "reset_accumulated_memory_stats", "memory_snapshot"):
        with pytest.raises(AttributeError, match="has no attribute '_cuda_"):
            getattr(cr.cuda, name)()
    with pytest.warns(FutureWarning, match="resets /all/ peak memory stats"):
        with pytest.raises(AttributeError):
            cr.cuda.reset_max_memory_allocated()
    assert cr.cuda.memory.memory_summary is cr.cuda.memory_summary


# ---------------------------------------------------------------- PyTorch's CPU-only build as the oracle
def _cpu_torch():
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("PyTorch here has CUDA; the oracle is its CPU-only build")
    return torch


@pytest.mark.parametrize("label", sorted(CALLS))
def test_matches_a_cpu_only_torch(label):
    torch = _cpu_torch()
    (t_kind, t_val), t_warn = _outcome(CALLS[label], torch)
    (c_kind, c_val), c_warn = _outcome(CALLS[label], cr)
    assert c_kind == t_kind and c_warn == t_warn
    if t_kind == "ok":
        assert c_val == t_val and type(c_val) is type(t_val)
    elif t_kind != "AssertionError":  # (chainrule's "not compiled with CUDA" message says more)
        assert c_val == t_val
    else:
        assert "Torch not compiled with CUDA enabled" in c_val and t_val == "Torch not compiled with CUDA enabled"


@pytest.mark.parametrize("name", ["reset_max_memory_allocated", "reset_max_memory_cached", "memory_cached",
                                  "max_memory_cached"])
def test_deprecated_memory_names_match_torch(name):
    torch = _cpu_torch()
    fn = lambda L: getattr(L.cuda, name)()  # noqa: E731
    assert _outcome(fn, cr) == _outcome(fn, torch)


def test_nvtx_range_and_stream_context_match_torch():
    torch = _cpu_torch()
    for lib in (torch, cr):
        with lib.cuda.stream(None):
            pass
        r = lib.cuda.nvtx.range("x")
        with pytest.raises(RuntimeError, match="NVTX functions not installed"):
            with r:
                pass
    assert set(nvtx.__all__) <= {n for n in dir(torch.cuda.nvtx) if not n.startswith("_")}


def test_out_of_memory_error_can_be_caught():
    assert cr.cuda.OutOfMemoryError is cr.OutOfMemoryError and issubclass(cr.OutOfMemoryError, RuntimeError)
    try:
        raise cr.cuda.OutOfMemoryError("CUDA out of memory")
    except RuntimeError as e:
        assert str(e) == "CUDA out of memory"


def test_out_of_memory_error_matches_torch():
    torch = _cpu_torch()
    assert torch.cuda.OutOfMemoryError is torch.OutOfMemoryError
    assert [c.__name__ for c in cr.OutOfMemoryError.__mro__] == [c.__name__ for c in torch.OutOfMemoryError.__mro__]
