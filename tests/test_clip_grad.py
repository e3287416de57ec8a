"""Gradient clipping (the notes' g ← γ g/‖g‖ when ‖g‖ > γ) and parameter vectors, with hand numbers."""

from __future__ import annotations

import math

import numpy as np
import pytest

import chainrule as cr
from chainrule.nn.utils import (
    clip_grad_norm_,
    clip_grad_value_,
    parameters_to_vector,
    vector_to_parameters,
)


def with_grads(*grads, dtype=cr.float32):
    params = []
    for g in grads:
        p = cr.zeros(len(g), dtype=dtype, requires_grad=True)
        p.grad = cr.tensor(g, dtype=dtype)
        params.append(p)
    return params


def test_clip_grad_norm_rescales_to_max_norm():
    a, b = with_grads([3.0, 4.0], [12.0], dtype=cr.float64)
    total = clip_grad_norm_([a, b], max_norm=6.5)
    assert float(total) == pytest.approx(13.0)  # √(9 + 16 + 144), the norm before clipping
    coef = 6.5 / (13.0 + 1e-6)  # PyTorch's max_norm / (‖g‖ + 1e-6)
    np.testing.assert_allclose(a.grad.data, [3.0 * coef, 4.0 * coef], rtol=1e-12)
    np.testing.assert_allclose(b.grad.data, [12.0 * coef], rtol=1e-12)
    new_norm = math.sqrt(float((a.grad.data**2).sum() + (b.grad.data**2).sum()))
    assert new_norm == pytest.approx(6.5, rel=1e-6)  # the notes: ‖g̃‖ = γ


def test_clip_grad_norm_leaves_small_gradients_alone():
    a, b = with_grads([3.0, 4.0], [12.0])
    total = clip_grad_norm_([a, b], max_norm=20.0)
    assert float(total) == pytest.approx(13.0) and total.dtype == np.float32
    np.testing.assert_array_equal(a.grad.data, [3.0, 4.0])
    np.testing.assert_array_equal(b.grad.data, [12.0])


def test_clip_grad_norm_other_norms():
    a, b = with_grads([3.0, -4.0], [-12.0], dtype=cr.float64)
    assert float(clip_grad_norm_([a, b], max_norm=100.0, norm_type=1)) == pytest.approx(19.0)
    assert float(clip_grad_norm_([a, b], max_norm=100.0, norm_type=3)) == pytest.approx(
        (27 + 64 + 1728) ** (1 / 3))
    total = clip_grad_norm_([a, b], max_norm=6.0, norm_type=math.inf)
    assert float(total) == 12.0  # max |g|
    coef = 6.0 / (12.0 + 1e-6)
    np.testing.assert_allclose(b.grad.data, [-12.0 * coef], rtol=1e-12)
    np.testing.assert_allclose(a.grad.data, [3.0 * coef, -4.0 * coef], rtol=1e-12)
    c, = with_grads([1.0, -5.0], dtype=cr.float64)
    assert float(clip_grad_norm_(c, max_norm=1.0, norm_type="inf")) == 5.0  # a single Tensor, 'inf'


def test_clip_grad_norm_skips_missing_grads_and_handles_none_at_all():
    a, = with_grads([3.0, 4.0])
    b = cr.zeros(2, requires_grad=True)
    assert float(clip_grad_norm_([a, b], 1.0)) == pytest.approx(5.0)
    assert b.grad is None
    assert float(clip_grad_norm_([b], 1.0)) == 0.0


def test_clip_grad_norm_nonfinite():
    a, = with_grads([1.0, float("nan")])
    with pytest.raises(RuntimeError, match="non-finite"):
        clip_grad_norm_([a], 1.0, error_if_nonfinite=True)
    total = clip_grad_norm_([a], 1.0)
    assert math.isnan(float(total))


@pytest.mark.parametrize("norm_type", [2, 1.0, "inf"])
def test_clip_grad_norm_nonfinite_message_is_pytorchs(norm_type):
    torch = pytest.importorskip("torch")
    messages = []
    for lib in (torch, cr):
        g = lib.tensor([1.0, float("nan")])
        p = lib.zeros(2, requires_grad=True)
        p.grad = g
        for fn in (lambda: lib.nn.utils.clip_grad_norm_([p], 1.0, norm_type=norm_type, error_if_nonfinite=True),
                   lambda: lib.nn.utils.get_total_norm([g], norm_type=norm_type, error_if_nonfinite=True)):
            with pytest.raises(RuntimeError) as info:
                fn()
            messages.append(str(info.value))
    assert messages[2:] == messages[:2]


def test_clip_grad_value():
    a, b = with_grads([-3.0, 0.5, 7.0], [0.2, -0.9])
    assert clip_grad_value_([a, b], clip_value=1.0) is None
    np.testing.assert_array_equal(a.grad.data, [-1.0, 0.5, 1.0])
    np.testing.assert_allclose(b.grad.data, [0.2, -0.9], rtol=1e-7)
    assert a.grad.dtype == np.float32


def test_parameters_to_vector_and_back():
    a = cr.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    b = cr.tensor([5.0], requires_grad=True)
    vec = parameters_to_vector([a, b])
    np.testing.assert_array_equal(vec.data, [1, 2, 3, 4, 5])
    (vec * cr.tensor([1.0, 2.0, 3.0, 4.0, 5.0])).sum().backward()  # differentiable
    np.testing.assert_array_equal(a.grad.data, [[1, 2], [3, 4]])
    vector_to_parameters(cr.tensor([10.0, 20.0, 30.0, 40.0, 50.0]), [a, b])
    np.testing.assert_array_equal(a.data, [[10, 20], [30, 40]])
    np.testing.assert_array_equal(b.data, [50])
    with pytest.raises(ValueError, match="5 elements"):
        vector_to_parameters(cr.tensor([1.0, 2.0]), [a, b])
