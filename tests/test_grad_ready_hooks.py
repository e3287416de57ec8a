"""Gradients ready as they are computed (issue 11, item 4).

A post-accumulate-grad hook runs the moment a parameter's gradient is final — during the
backward pass, not after it — so data-parallel training can send a bucket of gradients while
the earlier layers' gradients are still being computed. Checked on the engine's fast walk
(no tensor hooks anywhere: ``HOOKS.any`` False) for an MLP and a CNN: each hook sees the
gradient ``autograd.grad`` computes for that parameter, the layers come in reverse order,
and when a layer's hook runs, no earlier layer has a gradient yet.
"""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn


@pytest.fixture
def fast_walk(monkeypatch):
    """Clear ``HOOKS`` (set while a hooked tensor of an earlier test is alive, which may be
    until the garbage collector runs) and count the walks."""
    from chainrule.autograd import engine, grad_mode

    monkeypatch.setattr(grad_mode.HOOKS, "any", False)
    monkeypatch.setattr(grad_mode.HOOKS, "live", 0)
    calls = {"fast": 0, "general": 0}
    fast, general = engine._walk_simple, engine._walk

    def count_fast(*a, **k):
        calls["fast"] += 1
        return fast(*a, **k)

    def count_general(*a, **k):
        calls["general"] += 1
        return general(*a, **k)

    monkeypatch.setattr(engine, "_walk_simple", count_fast)
    monkeypatch.setattr(engine, "_walk", count_general)
    return calls


def _mlp() -> nn.Module:
    cr.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 8), nn.Tanh(), nn.Linear(8, 3))


class _CNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        cr.manual_seed(1)
        self.conv1 = nn.Conv2d(1, 4, 3, padding=1)
        self.conv2 = nn.Conv2d(4, 6, 3)
        self.fc = nn.Linear(6 * 3 * 3, 5)

    def forward(self, x):
        h = nn.functional.max_pool2d(nn.functional.relu(self.conv1(x)), 2)  # (N, 4, 5, 5)
        h = nn.functional.relu(self.conv2(h))  # (N, 6, 3, 3)
        return self.fc(h.reshape(h.shape[0], -1))


def _layers(model: nn.Module) -> list:
    """[(layer index, parameter)] in forward order."""
    out = []
    for i, m in enumerate(x for x in model.modules() if isinstance(x, (nn.Linear, nn.Conv2d))):
        out += [(i, m.weight), (i, m.bias)]
    return out


def _check_hooks(model, x, target, fast_walk):
    params = _layers(model)
    plist = [p for _, p in params]
    ref = cr.autograd.grad(nn.functional.cross_entropy(model(x), target), plist)
    seen: list = []
    done = []

    def hook(p):
        k = next(i for i, q in enumerate(plist) if q is p)
        seen.append((k, p.grad._array.copy(), [q.grad is not None for q in plist], bool(done)))

    handles = [p.register_post_accumulate_grad_hook(hook) for p in plist]
    try:
        loss = nn.functional.cross_entropy(model(x), target)
        fast_walk["fast"] = fast_walk["general"] = 0
        loss.backward()
        done.append(True)
    finally:
        for h in handles:
            h.remove()
    assert fast_walk == {"fast": 1, "general": 0}
    assert sorted(k for k, *_ in seen) == list(range(len(plist)))  # each parameter once
    layer_order = [params[k][0] for k, *_ in seen]
    assert layer_order == sorted(layer_order, reverse=True), layer_order
    for k, g, had_grad, after in seen:
        assert not after, "the hook ran after backward returned"
        np.testing.assert_allclose(g, ref[k]._array, rtol=1e-5, atol=1e-7)  # final, not partial
        earlier = [j for j, (layer, _) in enumerate(params) if layer < params[k][0]]
        assert not any(had_grad[j] for j in earlier), "an earlier layer's gradient was already there"
    # what the hooks saw is what backward left in .grad
    for k, g, *_ in seen:
        np.testing.assert_array_equal(g, plist[k].grad._array)


def test_mlp_hooks_see_final_gradients_in_reverse_layer_order_on_the_fast_walk(fast_walk):
    model = _mlp()
    x = cr.randn(16, 6)
    target = cr.tensor(np.arange(16) % 3)
    _check_hooks(model, x, target, fast_walk)


def test_cnn_hooks_see_final_gradients_in_reverse_layer_order_on_the_fast_walk(fast_walk):
    model = _CNN()
    x = cr.randn(4, 1, 10, 10)
    target = cr.tensor(np.arange(4) % 5)
    _check_hooks(model, x, target, fast_walk)


def test_shared_weight_hook_runs_once_with_the_sum_after_its_last_use(fast_walk):
    # one Linear applied twice (layers 1 and 3 of the forward): its hook runs once, with the
    # gradient of both uses, and only after the middle layer's hook (its last use is the first
    # layer, so its gradient is final only once the walk has passed the first layer)
    cr.manual_seed(2)
    shared = nn.Linear(5, 5)
    middle = nn.Linear(5, 5)
    x = cr.randn(3, 5)
    params = [shared.weight, shared.bias, middle.weight, middle.bias]

    def loss_fn():
        return (shared(middle(shared(x).tanh()).tanh()) ** 2).sum()

    ref = cr.autograd.grad(loss_fn(), params)
    seen: list = []
    handles = [p.register_post_accumulate_grad_hook(lambda p: seen.append((p, p.grad._array.copy()))) for p in params]
    try:
        loss_fn().backward()
    finally:
        for h in handles:
            h.remove()
    assert fast_walk["fast"] == 1
    assert len(seen) == 4
    order = [next(i for i, q in enumerate(params) if q is p) for p, _ in seen]
    assert set(order[:2]) == {2, 3} and set(order[2:]) == {0, 1}, order
    for (_p, g), i in zip(seen, order):
        np.testing.assert_allclose(g, ref[i]._array, rtol=1e-5)


def test_hook_sees_final_gradient_when_an_op_passes_none(fast_walk):
    # w reaches the loss by two paths; a Function on one path returns no gradient (None): the
    # hook still runs once, during backward, with the other path's gradient
    class Stop(cr.autograd.Function):
        @staticmethod
        def forward(ctx, h):
            return h * 1.0

        @staticmethod
        def backward(ctx, g):
            return None

    w = cr.tensor([1.0, -2.0, 0.5], requires_grad=True)
    seen = []
    h = w.register_post_accumulate_grad_hook(lambda p: seen.append(p.grad._array.copy()))
    try:
        ((w * 3.0).sum() + Stop.apply(w * w).sum()).backward()
    finally:
        h.remove()
    assert len(seen) == 1
    np.testing.assert_allclose(seen[0], [3.0, 3.0, 3.0])
