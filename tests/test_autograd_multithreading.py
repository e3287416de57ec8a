"""torch.autograd.set_multithreading_enabled / is_multithreading_enabled: a per-thread flag, set by a
call, a ``with`` block or a decorator; backward runs on the calling thread either way (as PyTorch's
does for CPU tensors)."""

from __future__ import annotations

import math
import threading

import pytest

import chainrule as cr
from chainrule import autograd


@pytest.fixture(autouse=True)
def _restore():
    yield
    autograd.set_multithreading_enabled(True)


def test_default_is_enabled():
    assert autograd.is_multithreading_enabled() is True


def test_plain_call_sets_at_once():
    autograd.set_multithreading_enabled(False)
    assert autograd.is_multithreading_enabled() is False
    autograd.set_multithreading_enabled(True)
    assert autograd.is_multithreading_enabled() is True


def test_context_manager_restores_previous_value_even_on_error():
    with autograd.set_multithreading_enabled(False):
        assert not autograd.is_multithreading_enabled()
        with autograd.set_multithreading_enabled(True):
            assert autograd.is_multithreading_enabled()
        assert not autograd.is_multithreading_enabled()
    assert autograd.is_multithreading_enabled()
    with pytest.raises(ZeroDivisionError):
        with autograd.set_multithreading_enabled(False):
            raise ZeroDivisionError
    assert autograd.is_multithreading_enabled()


def test_decorator_sets_the_flag_during_each_call_only():
    seen = []

    @autograd.set_multithreading_enabled(False)
    def f(x):
        seen.append(autograd.is_multithreading_enabled())
        return x * 2

    assert autograd.is_multithreading_enabled()  # decorating does not change it
    assert f(3) == 6 and seen == [False]
    assert autograd.is_multithreading_enabled()
    assert f.__name__ == "f"


def test_clone_makes_a_context_with_the_same_mode():
    ctx = autograd.set_multithreading_enabled(False)
    c = ctx.clone()
    assert c.mode is False and not autograd.is_multithreading_enabled()
    c.__exit__(None, None, None)
    ctx.__exit__(None, None, None)
    assert autograd.is_multithreading_enabled()


def test_flag_is_per_thread():
    autograd.set_multithreading_enabled(False)
    other = []
    t = threading.Thread(target=lambda: other.append(autograd.is_multithreading_enabled()))
    t.start()
    t.join()
    assert other == [True] and not autograd.is_multithreading_enabled()


@pytest.mark.parametrize("mode", [True, False])
def test_backward_runs_on_the_calling_thread_with_the_same_gradient(mode):
    x = cr.tensor([0.5, -1.0, 2.0], dtype=cr.float64, requires_grad=True)
    threads = []
    x.register_hook(lambda g: threads.append(threading.get_ident()))
    with autograd.set_multithreading_enabled(mode):
        (x.exp() * x).sum().backward()
    assert threads == [threading.get_ident()]
    ex = [(1 + v) * math.exp(v) for v in (0.5, -1.0, 2.0)]
    assert x.grad.tolist() == pytest.approx(ex, rel=1e-14)


def test_matches_pytorch():
    torch = pytest.importorskip("torch")
    for lib in (torch.autograd, autograd):
        assert lib.is_multithreading_enabled() is True
        with lib.set_multithreading_enabled(False):
            assert lib.is_multithreading_enabled() is False
        assert lib.is_multithreading_enabled() is True
        lib.set_multithreading_enabled(False)
        assert lib.is_multithreading_enabled() is False
        lib.set_multithreading_enabled(True)
    assert cr.autograd.set_multithreading_enabled.__init__.__code__.co_varnames[1] == "mode"
