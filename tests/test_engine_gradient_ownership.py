"""Whose memory a leaf's ``.grad`` is: the backward's own new array where nobody else holds it
(no copy), a copy where it is shared — with the caller's seed, another parameter, a hook that
kept the gradient it was shown.  The general walk (taken while any tensor has a hook) must
decide as the lean walk does, so that one hooked tensor anywhere in the process does not make
every later backward copy every gradient."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn


def _mlp():
    cr.manual_seed(0)
    return nn.Sequential(nn.Linear(12, 16), nn.ReLU(), nn.Linear(16, 3))


@pytest.fixture
def copies(count_copies):
    return count_copies()


@pytest.fixture(params=["lean walk", "general walk"])
def walk(request):
    """The general walk is taken while some tensor, anywhere, has a hook."""
    keep = []
    if request.param == "general walk":
        t = cr.ones(2, requires_grad=True)
        t.register_hook(lambda g: g)
        keep.append(t)
    yield request.param
    keep.clear()


def test_an_mlps_gradients_are_the_backwards_own_arrays(walk, copies):
    model = _mlp()
    x = cr.tensor(np.random.default_rng(0).standard_normal((5, 12)).astype(np.float32))
    model(x).square().sum().backward()
    assert copies == []
    want = _mlp()
    want(x).square().sum().backward()
    for p, q in zip(model.parameters(), want.parameters()):
        np.testing.assert_array_equal(p.grad.numpy(), q.grad.numpy())


def test_one_gradient_for_two_parameters_and_the_callers_seed_are_copied(walk):
    a = cr.zeros(4, requires_grad=True)
    b = cr.ones(4, requires_grad=True)
    seed = cr.tensor(np.full(4, 2.0))
    (a + b).backward(seed)
    assert not np.shares_memory(a.grad.numpy(), b.grad.numpy())
    assert not np.shares_memory(a.grad.numpy(), seed.numpy())
    a.grad.mul_(10.0)
    np.testing.assert_array_equal(b.grad.numpy(), np.full(4, 2.0))
    np.testing.assert_array_equal(seed.numpy(), np.full(4, 2.0))


def test_a_gradient_a_leafs_hook_kept_is_not_the_leafs_grad():
    w = cr.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    x = cr.tensor(np.ones((4, 2)))
    seen = []
    w.register_hook(seen.append)
    (x @ w).sum().backward()
    np.testing.assert_array_equal(seen[0].numpy(), np.full((2, 3), 4.0))
    assert not np.shares_memory(w.grad.numpy(), seen[0].numpy())
    w.grad.zero_()
    np.testing.assert_array_equal(seen[0].numpy(), np.full((2, 3), 4.0))


def test_a_gradient_a_module_hook_saw_is_not_changed_by_the_next_accumulation():
    model = _mlp()
    seen = []
    model[2].register_full_backward_hook(lambda mod, gin, gout: seen.append(gout[0]))
    x = cr.tensor(np.random.default_rng(1).standard_normal((5, 12)).astype(np.float32))
    model(x).sum().backward()
    first = seen[0].numpy().copy()
    model(x).sum().backward()  # (accumulates into .grad)
    np.testing.assert_array_equal(seen[0].numpy(), first)
