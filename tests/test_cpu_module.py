"""torch.cpu (chainrule.cpu): the device-agnostic no-op functions and torch.cpu.amp."""

import inspect
import warnings

import pytest

import chainrule as cr


def test_device_functions():
    assert cr.cpu.is_available() is True and cr.cpu.is_initialized() is True
    assert cr.cpu.device_count() == 1
    assert cr.cpu.current_device() == "cpu"
    assert cr.cpu.synchronize() is None and cr.cpu.synchronize("cpu") is None
    assert cr.cpu.set_device("cpu") is None


def test_streams():
    default = cr.cpu.current_stream()
    assert isinstance(default, cr.cpu.Stream)
    s = cr.cpu.Stream(priority=0)
    with cr.cpu.stream(s):
        assert cr.cpu.current_stream() is s
        with cr.cpu.stream(None):
            assert cr.cpu.current_stream() is s
    assert cr.cpu.current_stream() is default
    assert s.record_event() is None and s.wait_stream(default) is None and s.wait_event(None) is None
    e = cr.cpu.Event()
    assert e.query() is True and e.record() is None and e.synchronize() is None and e.wait() is None


def test_amp_autocast_warns_and_enables_cpu_autocast():
    with pytest.warns(FutureWarning, match=r"torch.amp.autocast\('cpu', args...\)"):
        ctx = cr.cpu.amp.autocast()
    assert isinstance(ctx, cr.autocast)
    assert ctx.device == "cpu" and ctx.fast_dtype == cr.bfloat16
    assert not cr.is_autocast_enabled("cpu")
    with ctx:
        assert cr.is_autocast_enabled("cpu")
    assert not cr.is_autocast_enabled("cpu")
    with pytest.warns(FutureWarning):
        off = cr.cpu.amp.autocast(enabled=False)
    with off:
        assert not cr.is_autocast_enabled("cpu")
    with pytest.warns(FutureWarning, match="GradScaler"):
        scaler = cr.cpu.amp.GradScaler()
    assert scaler.is_enabled()


def test_against_torch():
    torch = pytest.importorskip("torch")
    for name in ("is_available", "device_count", "current_device", "is_initialized"):
        assert getattr(torch.cpu, name)() == getattr(cr.cpu, name)(), name
    assert set(torch.cpu.__all__) - {"get_capabilities"} <= set(cr.cpu.__all__)
    for name in ("synchronize", "set_device", "current_stream", "stream"):
        assert list(inspect.signature(getattr(torch.cpu, name)).parameters) == \
            list(inspect.signature(getattr(cr.cpu, name)).parameters), name
    with warnings.catch_warnings(record=True) as theirs:
        warnings.simplefilter("always")
        torch.cpu.amp.autocast()
    with warnings.catch_warnings(record=True) as ours:
        warnings.simplefilter("always")
        cr.cpu.amp.autocast()
    assert [(w.category, str(w.message)) for w in theirs] == [(w.category, str(w.message)) for w in ours]
    assert [p for p in inspect.signature(torch.cpu.amp.autocast.__init__).parameters] == \
        [p for p in inspect.signature(cr.cpu.amp.autocast.__init__).parameters]
