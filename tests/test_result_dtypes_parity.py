"""Result dtypes where chainrule silently differed from PyTorch (found by evaluating ~200
everyday expressions under both): ``cat`` of int64 and float32 is float32 (PyTorch's
promotion, not NumPy's float64); ``clamp`` of an integer tensor to float bounds is floating
(it truncated: [1, 2, 3].clamp(1.5, 2.5) gave [1, 2, 2]) and ``clamp_`` refuses it; ``arange``
with a 0-d integer tensor bound is int64; ``x.type()`` names the legacy class
('torch.FloatTensor')."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr


def test_cat_promotes_as_pytorch():
    y = cr.cat([cr.ones(2, dtype=cr.int64), cr.tensor([0.5])])
    assert y.dtype == cr.float32 and y.tolist() == [1.0, 1.0, 0.5]
    assert cr.cat([cr.ones(1, dtype=cr.float32), cr.ones(1, dtype=cr.float64)]).dtype == cr.float64
    assert cr.stack([cr.ones(2, dtype=cr.int32), cr.ones(2, dtype=cr.int64)]).dtype == cr.int64
    a = cr.tensor([1.0, 2.0], requires_grad=True)
    (cr.cat([a.double(), cr.zeros(1, dtype=cr.int64)]) * 3).sum().backward()
    assert a.grad.dtype == cr.float32 and a.grad.tolist() == [3.0, 3.0]


def test_clamp_of_integers_to_float_bounds_is_floating():
    y = cr.tensor([1, 2, 3]).clamp(1.5, 2.5)
    assert y.dtype == cr.float32 and y.tolist() == [1.5, 2.0, 2.5]
    assert cr.tensor([1, 5]).clamp(max=2).tolist() == [1, 2]
    x = cr.tensor([1, 5, 3])
    with pytest.raises(RuntimeError, match="can't be cast"):
        x.clamp_(1.5, 2.5)
    assert x.tolist() == [1, 5, 3]


def test_arange_with_a_tensor_bound():
    y = cr.arange(cr.tensor(3))
    assert y.dtype == cr.int64 and y.tolist() == [0, 1, 2]
    assert cr.arange(cr.tensor(2.0)).dtype == cr.float32


def test_type_names_the_legacy_class():
    assert cr.ones(1).type() == "torch.FloatTensor"
    assert cr.ones(1, dtype=cr.int64).type() == "torch.LongTensor"
    assert cr.ones(1).type(cr.float64).dtype == cr.float64


def test_as_pytorch_does():
    torch = pytest.importorskip("torch")
    for expr in ["L.cat([L.ones(2, dtype=L.int64), L.tensor([0.5])])", "L.tensor([1, 2, 3]).clamp(1.5, 2.5)",
                 "L.arange(L.tensor(3))", "L.stack([L.ones(2, dtype=L.uint8), L.ones(2, dtype=L.int8)])"]:
        got, want = eval(expr, {"L": cr}), eval(expr, {"L": torch})
        assert str(got.dtype) == str(want.dtype).split(".")[-1]
        np.testing.assert_array_equal(got.numpy(), want.numpy())
    for dt in ["float32", "float64", "float16", "int64", "int32", "uint8", "bool"]:
        assert cr.zeros(1, dtype=getattr(cr, dt)).type() == torch.zeros(1, dtype=getattr(torch, dt)).type()
