"""PyTorch 2.13's module API where chainrule differed (found by evaluating ~130 expressions on
modules under both libraries): ``bias=False`` on BatchNorm/InstanceNorm/GroupNorm/SyncBatchNorm
and the lazy norms (γ without β), ``bias=`` in their reprs and LayerNorm's; ``Sequential.pop``;
``del seq[i]`` numbering the rest "0", "1", ... again (state_dict keys as PyTorch's);
ParameterList's repr listing its parameters."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn


@pytest.mark.parametrize("make", [
    lambda L: L.nn.BatchNorm2d(3, bias=False), lambda L: L.nn.BatchNorm1d(3, bias=False),
    lambda L: L.nn.InstanceNorm2d(3, affine=True, bias=False), lambda L: L.nn.GroupNorm(1, 3, bias=False),
    lambda L: L.nn.SyncBatchNorm(3, bias=False),
])
def test_bias_false_keeps_the_weight_only(make):
    m = make(cr)
    assert m.bias is None and m.weight is not None and "bias" not in m.state_dict()
    x = cr.tensor(np.random.default_rng(0).standard_normal((4, 3, 5, 5)), dtype=cr.float32, requires_grad=True)
    if isinstance(m, nn.BatchNorm1d):
        x = cr.tensor(np.random.default_rng(0).standard_normal((4, 3)), dtype=cr.float32, requires_grad=True)
    m(x).square().sum().backward()
    assert m.weight.grad is not None and x.grad is not None
    assert "bias=False" in repr(m)


def test_lazy_norm_with_bias_false():
    m = nn.LazyBatchNorm2d(bias=False)
    m(cr.ones(2, 3, 4, 4))
    assert list(m.state_dict()) == ["weight", "running_mean", "running_var", "num_batches_tracked"]


def test_sequential_pop_and_renumbering():
    s = nn.Sequential(nn.ReLU(), nn.Linear(1, 1), nn.Tanh())
    assert isinstance(s.pop(0), nn.ReLU)
    assert list(s._modules) == ["0", "1"] and list(s.state_dict()) == ["0.weight", "0.bias"]
    del s[-1]
    assert list(s._modules) == ["0"] and isinstance(s[0], nn.Linear)


def test_reprs_and_state_as_pytorch():
    torch = pytest.importorskip("torch")
    for make in [lambda L: L.nn.BatchNorm2d(3), lambda L: L.nn.BatchNorm2d(3, bias=False),
                 lambda L: L.nn.InstanceNorm2d(3), lambda L: L.nn.GroupNorm(2, 4, affine=False),
                 lambda L: L.nn.LayerNorm(4), lambda L: L.nn.LayerNorm(4, bias=False)]:
        assert repr(make(cr)) == repr(make(torch))
        assert list(make(cr).state_dict()) == list(make(torch).state_dict())

    def keys(L):
        s = L.nn.Sequential(L.nn.ReLU(), L.nn.Linear(1, 1), L.nn.Tanh(), L.nn.Linear(1, 2))
        s.pop(0)
        del s[1]
        return list(s.state_dict())

    assert keys(cr) == keys(torch)
    got = repr(cr.nn.ParameterList([cr.nn.Parameter(cr.ones(2, 3))]))
    assert "(0): Parameter containing: [float32 of size 2x3]" in got


def test_attention_out_proj_is_a_linear():
    # (PyTorch's out_proj is NonDynamicallyQuantizableLinear, a Linear: an init loop over
    # nn.Linear modules reaches it; it was a class of chainrule's own)
    m = nn.MultiheadAttention(8, 2)
    assert isinstance(m.out_proj, nn.Linear) and type(m.out_proj).__name__ == "NonDynamicallyQuantizableLinear"
    assert m.out_proj.bias.abs().sum().item() == 0.0
    touched = [mod for mod in m.modules() if isinstance(mod, nn.Linear)]
    assert touched == [m.out_proj]
