"""detect_anomaly: the first NaN in a forward value or a gradient raises, naming the op and where it was made."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import chainrule as cr
from chainrule.autograd import detect_anomaly, is_anomaly_enabled, set_detect_anomaly
from chainrule.autograd.grad_mode import STATE


def t64(a, requires_grad=False) -> cr.Tensor:
    return cr.tensor(np.asarray(a, dtype=np.float64), requires_grad=requires_grad)


@pytest.fixture(autouse=True)
def _quiet_numpy():
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield
    assert not STATE.anomaly and not STATE.special  # every test leaves the mode off


def make_nan_forward(x):
    return x.log() * 0  # log 0 = -inf (allowed), then -inf · 0 = NaN: the mul is the culprit


def test_forward_nan_names_the_op_and_the_creating_line():
    x = t64([1.0, 0.0], requires_grad=True)
    with detect_anomaly(), pytest.raises(RuntimeError) as err:
        make_nan_forward(x)
    msg = str(err.value)
    assert "'mul'" in msg and "forward value" in msg and "1 of 2" in msg
    assert "while computing a gradient" not in msg
    assert "make_nan_forward" in msg and "x.log() * 0" in msg  # the stored stack points at the line


def test_inf_alone_is_not_an_anomaly():
    with detect_anomaly():
        y = t64([0.0, 1.0]).log()
    assert np.isneginf(y.data[0])


def test_backward_nan_names_the_op_and_the_input():
    # sqrt at 0: forward fine (0), backward 1/(2·sqrt 0) = inf, times an upstream 0 = NaN
    x = t64([0.0, 4.0], requires_grad=True)
    with detect_anomaly():
        y = x.sqrt()
        loss = (y * t64([0.0, 1.0])).sum()
        with pytest.raises(RuntimeError) as err:
            loss.backward()
    msg = str(err.value)
    assert "backward of 'sqrt'" in msg and "input 0" in msg and "x.sqrt()" in msg


def test_without_anomaly_mode_the_nan_passes_silently():
    x = t64([0.0, 4.0], requires_grad=True)
    (x.sqrt() * t64([0.0, 1.0])).sum().backward()
    assert np.isnan(x.grad.data[0]) and x.grad.data[1] == 0.25  # d sqrt(x)/dx = 1/(2·2)


def test_backward_nan_with_create_graph():
    # with create_graph the vjp runs as recorded tensor ops, so the first NaN is the forward
    # value of one of them (0/0 inside sqrt's rule); its stored stack names the vjp it ran in
    x = t64([0.0], requires_grad=True)
    with detect_anomaly():
        y = (x.sqrt() * 0).sum()
        with pytest.raises(RuntimeError, match="contains NaN") as err:
            cr.autograd.grad(y, x, create_graph=True)
    assert "in vjp" in str(err.value) and "while computing a gradient" in str(err.value)


def test_check_nan_false_and_nesting_and_set_detect_anomaly():
    x = t64([0.0])
    with detect_anomaly(check_nan=False):
        y = make_nan_forward(x)  # recorded, not raised
        assert is_anomaly_enabled()
        with detect_anomaly():
            with pytest.raises(RuntimeError):
                make_nan_forward(x)
        assert is_anomaly_enabled()
    assert np.isnan(y.data[0]) and not is_anomaly_enabled()
    set_detect_anomaly(True)
    try:
        assert is_anomaly_enabled() and STATE.special
    finally:
        set_detect_anomaly(False)
    with set_detect_anomaly(True):
        with pytest.raises(RuntimeError):
            make_nan_forward(x)
    assert not is_anomaly_enabled()


def test_detect_anomaly_as_decorator_and_gradients_unchanged():
    @detect_anomaly()
    def run(x):
        loss = (x.exp() * x).sum()
        loss.backward()
        return loss

    x = t64([0.5, -1.0], requires_grad=True)
    run(x)
    np.testing.assert_allclose(x.grad.numpy(), np.exp(x.data) * (1 + x.data))  # d(x e^x) = (1 + x) e^x


def test_anomaly_mode_and_names_leave_backward_on_its_lean_walk():
    """Anomaly mode keeps each result's creation stack, and ``t.name`` labels a tensor; neither is
    a hook, so neither may switch later backward passes (outside anomaly mode) to the general
    walk, which keeps every leaf's gradient until its end. The flag that switches is process-wide
    and never cleared, so this runs in a fresh interpreter."""
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent("""
        import warnings
        import numpy as np
        import chainrule as cr
        from chainrule.autograd import detect_anomaly
        from chainrule.autograd.grad_mode import HOOKS
        x = cr.tensor(np.ones(3), requires_grad=True)
        with detect_anomaly(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            (x * 2).sum().backward()
        y = x * 3
        y.name = "y"
        y.sum().backward()
        print(HOOKS.any)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False"]
