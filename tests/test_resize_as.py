"""Tensor.resize_as_ / torch.resize_as_: in-place resize to another tensor's shape, PyTorch's rules."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr


def _a(*shape, dtype=cr.float64):
    return cr.arange(float(np.prod(shape)), dtype=dtype).reshape(*shape)


def test_same_numel_is_a_reshape_in_c_order_and_returns_self():
    a = _a(2, 3)
    r = a.resize_as_(cr.zeros(3, 2))
    assert r is a and a.shape == (3, 2)
    assert a.tolist() == [[0, 1], [2, 3], [4, 5]]


def test_same_shape_changes_nothing():
    a = _a(2, 3).t()
    r = a.resize_as_(cr.zeros(3, 2))
    assert r is a and a.tolist() == [[0, 3], [1, 4], [2, 5]]


def test_shrinking_keeps_the_first_elements_and_shares_memory():
    a = _a(2, 3)
    base = a._array
    a.resize_as_(cr.zeros(4))
    assert a.tolist() == [0, 1, 2, 3]
    assert np.shares_memory(a._array, base)


def test_growing_keeps_the_elements_and_fills_zeros():
    a = _a(2, 3)
    cr.resize_as_(a, cr.zeros(2, 4))
    assert a.shape == (2, 4) and a.flatten()[:6].tolist() == [0, 1, 2, 3, 4, 5]
    assert a.flatten()[6:].tolist() == [0, 0]


def test_dtype_is_kept_and_template_dtype_ignored():
    a = cr.arange(6)
    a.resize_as_(cr.zeros(2, 2, dtype=cr.float32))
    assert a.dtype == cr.int64 and a.tolist() == [[0, 1], [2, 3]]


def test_non_contiguous_input_is_read_in_c_order():
    a = _a(2, 3).t()  # [[0, 3], [1, 4], [2, 5]]
    a.resize_as_(cr.zeros(6))
    assert a.tolist() == [0, 3, 1, 4, 2, 5]


def test_channels_last_lays_values_out_nhwc():
    a = _a(1, 2, 3, 4)
    a.resize_as_(cr.zeros(2, 2, 3, 2), memory_format=cr.channels_last)
    # element (n, c, h, w) is memory position ((n·H + h)·W + w)·C + c
    want = np.arange(24.0).reshape(2, 3, 2, 2).transpose(0, 3, 1, 2)
    assert np.array_equal(a.numpy(), want)


def test_errors():
    x = cr.zeros(3, requires_grad=True)
    for t in (x, x * 2):
        with pytest.raises(RuntimeError, match="cannot resize variables that require grad"):
            t.resize_as_(cr.zeros(2))
    with cr.no_grad(), pytest.raises(RuntimeError, match="require grad"):
        x.resize_as_(cr.zeros(2))
    with pytest.raises(TypeError, match="Tensors, got int"):
        cr.zeros(3).resize_as_(3)
    with pytest.raises(TypeError, match="memory_format"):
        cr.zeros(3).resize_as_(cr.zeros(2), memory_format="C")
    with pytest.raises(RuntimeError, match="rank 4"):
        cr.zeros(3).resize_as_(cr.zeros(2), memory_format=cr.channels_last)


def test_a_saved_input_resized_makes_backward_refuse():
    w = cr.tensor([1.0, 2.0, 3.0], requires_grad=True)
    x = cr.tensor([4.0, 5.0, 6.0])
    y = (w * x).sum()
    x.resize_as_(cr.zeros(2))
    with pytest.raises(RuntimeError):
        y.backward()


def test_a_resized_tensor_is_differentiable_afterwards():
    a = _a(2, 3)
    a.resize_as_(cr.zeros(3, 2))
    a.requires_grad_()
    (a * a).sum().backward()
    assert a.grad.tolist() == [[0, 2], [4, 6], [8, 10]]


@pytest.mark.parametrize("src,tmpl", [((2, 3), (3, 2)), ((2, 3), (4,)), ((2, 3), (2, 2, 2)), ((5,), (5,)),
                                      ((4,), ())])
def test_matches_pytorch(src, tmpl):
    torch = pytest.importorskip("torch")
    n = int(np.prod(tmpl))
    for fn in ("method", "function"):
        a, ta = _a(*src), torch.arange(float(np.prod(src)), dtype=torch.float64).reshape(src)
        if fn == "method":
            a.resize_as_(cr.zeros(*tmpl)), ta.resize_as_(torch.zeros(tmpl))
        else:
            cr.resize_as_(a, cr.zeros(*tmpl)), torch.resize_as_(ta, torch.zeros(tmpl))
        assert a.shape == tuple(ta.shape)
        k = min(n, int(np.prod(src)))  # (grown elements are uninitialised in PyTorch)
        assert a.flatten()[:k].tolist() == ta.flatten()[:k].tolist()


def test_matches_pytorch_channels_last_and_transposed_same_shape():
    torch = pytest.importorskip("torch")
    a, ta = _a(1, 2, 3, 4), torch.arange(24.0, dtype=torch.float64).reshape(1, 2, 3, 4)
    a.resize_as_(cr.zeros(2, 2, 3, 2), memory_format=cr.channels_last)
    ta.resize_as_(torch.zeros(2, 2, 3, 2), memory_format=torch.channels_last)
    assert np.array_equal(a.numpy(), ta.numpy())
    b, tb = _a(2, 3).t(), torch.arange(6.0, dtype=torch.float64).reshape(2, 3).t()
    b.resize_as_(cr.zeros(3, 2)), tb.resize_as_(torch.zeros(3, 2))
    assert np.array_equal(b.numpy(), tb.numpy())
