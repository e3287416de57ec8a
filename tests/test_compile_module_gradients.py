"""A compiled Module's backward pass hands its gradients to ``.grad`` as eager's does: without a
copy where the array is the replay's own and nobody else holds it, with one where it is shared
(the gradient passed to ``backward``, one array for two parameters, an array the forward saved)."""

from __future__ import annotations

import numpy as np

import chainrule as cr
from chainrule import nn


def _mlp():
    cr.manual_seed(0)
    return nn.Sequential(nn.Linear(12, 16), nn.ReLU(), nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 3))


def test_a_compiled_mlps_backward_keeps_its_gradient_arrays_without_copying(monkeypatch, count_copies):
    eager, model = _mlp(), _mlp()
    compiled = cr.compile(model)
    x = cr.tensor(np.random.default_rng(0).standard_normal((8, 12)).astype(np.float32))
    for _ in range(3):  # (captures, then replays)
        model.zero_grad(set_to_none=True)
        compiled(x).square().sum().backward()
    assert compiled.__dict__["_compiled"].stats["replays"] >= 1
    calls = count_copies()
    model.zero_grad(set_to_none=True)
    compiled(x).square().sum().backward()
    assert calls == []  # (each weight and bias gradient is a new array of the replay's backward)
    monkeypatch.undo()
    eager.zero_grad(set_to_none=True)
    eager(x).square().sum().backward()
    for p, q in zip(model.parameters(), eager.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-5, atol=1e-6)


class _Shared(nn.Module):
    """out = x + a + b: a's and b's gradient is the output's gradient itself, one array."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Parameter(cr.zeros(4))
        self.b = nn.Parameter(cr.ones(4))

    def forward(self, x):
        return x + self.a + self.b


def test_a_gradient_shared_by_two_parameters_or_with_the_caller_is_copied():
    model = _Shared()
    compiled = cr.compile(model)
    x = cr.tensor(np.arange(4.0, dtype=np.float32))  # (a's shape and dtype: both gradients are g itself)
    seed = np.full(4, 2.0, dtype=np.float32)
    for _ in range(4):
        model.zero_grad(set_to_none=True)
        g = cr.tensor(seed.copy())
        compiled(x).backward(g)
    assert compiled.__dict__["_compiled"].stats["replays"] >= 2
    a, b = model.a.grad.numpy(), model.b.grad.numpy()
    assert compiled.__dict__["_compiled"].entries[-1].plan.fresh == (False, False)
    np.testing.assert_array_equal(a, seed)
    np.testing.assert_array_equal(b, seed)
    assert not np.shares_memory(a, b)
    assert not np.shares_memory(a, g.numpy()) and not np.shares_memory(b, g.numpy())
    model.a.grad.mul_(10.0)  # (an in-place change of one gradient leaves the other and the caller's)
    np.testing.assert_array_equal(model.b.grad.numpy(), seed)
    np.testing.assert_array_equal(g.numpy(), seed)


class _PassThrough(nn.Module):
    """out = (w reshaped + x) reshaped back: w's gradient is a view of the output's gradient."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(cr.ones(6))

    def forward(self, x):
        return (self.w.reshape(2, 3) + x).reshape(6)


def test_a_gradient_that_is_the_callers_array_or_a_view_of_it_is_copied():
    model = _PassThrough()
    compiled = cr.compile(model)
    x = cr.zeros(2, 3)
    for _ in range(4):
        model.zero_grad(set_to_none=True)
        g = cr.tensor(np.arange(6.0))
        compiled(x).backward(g)
    assert compiled.__dict__["_compiled"].stats["replays"] >= 2
    assert compiled.__dict__["_compiled"].entries[-1].plan.fresh == (False,)
    assert not np.shares_memory(model.w.grad.numpy(), g.numpy())
    g.numpy()[...] = -1.0
    np.testing.assert_array_equal(model.w.grad.numpy(), np.arange(6.0))
