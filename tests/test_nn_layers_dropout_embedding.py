"""dropout (inverted, seeded) and embedding (lookup, scatter-add backward, padding_idx, max_norm)."""

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F
from chainrule.autograd.gradcheck import gradcheck, gradgradcheck

RNG = np.random.default_rng(3)


def test_dropout_eval_and_p0_are_identity():
    x = cr.randn(4, 5)
    assert F.dropout(x, 0.5, training=False) is x
    assert F.dropout(x, 0.0) is x


def test_dropout_mask_scaling_exact_and_gradient():
    cr.manual_seed(0)
    x = cr.tensor(RNG.random((20, 30)) + 0.5, requires_grad=True)
    y = F.dropout(x, 0.25)
    kept = y._array != 0
    np.testing.assert_allclose(y._array[kept], x._array[kept] / 0.75, rtol=1e-15)
    y.sum().backward()
    np.testing.assert_allclose(x.grad._array, kept / 0.75)  # dy/dx = mask / (1 - p)


def test_dropout_mean_preserved_and_keep_rate():
    cr.manual_seed(1)
    x = cr.ones(200_000)
    y = F.dropout(x, 0.3)._array
    keep = np.mean(y != 0)
    # Bernoulli(0.7) over 2e5 draws: std of the rate ≈ 0.001
    assert abs(keep - 0.7) < 0.006
    assert abs(y.mean() - 1.0) < 0.01
    assert y.dtype == np.float32


def test_dropout_is_reproducible_with_manual_seed_and_p1_zeroes():
    x = cr.ones(50)
    cr.manual_seed(7)
    a = F.dropout(x, 0.5)._array
    cr.manual_seed(7)
    b = F.dropout(x, 0.5)._array
    np.testing.assert_array_equal(a, b)
    assert np.all(F.dropout(x, 1.0)._array == 0)
    for bad in (-0.1, 1.5):
        with pytest.raises(ValueError, match="between 0 and 1"):
            F.dropout(x, bad)


def test_dropout2d_zeroes_whole_channels():
    cr.manual_seed(2)
    y = F.dropout2d(cr.ones(4, 6, 3, 3), 0.5)._array
    per_channel = y.reshape(4, 6, 9)
    assert np.all((per_channel == 0).all(-1) | (per_channel == 2.0).all(-1))


def test_embedding_forward_and_backward_with_repeated_indices():
    w = RNG.standard_normal((6, 3))
    idx = np.array([[1, 4, 1], [5, 1, 0]])
    wt = cr.tensor(w, requires_grad=True)
    y = F.embedding(cr.tensor(idx), wt)
    np.testing.assert_array_equal(y._array, w[idx])
    g = RNG.standard_normal((2, 3, 3))
    y.backward(cr.tensor(g))
    ref = np.zeros_like(w)
    for p in np.ndindex(idx.shape):  # scatter-add by a loop: row idx[p] receives g[p]
        ref[idx[p]] += g[p]
    np.testing.assert_allclose(wt.grad._array, ref, atol=1e-12)
    assert gradcheck(lambda t: F.embedding(cr.tensor(idx), t), (cr.tensor(w, requires_grad=True),))
    assert gradgradcheck(lambda t: F.embedding(cr.tensor(idx), t) ** 2, (cr.tensor(w, requires_grad=True),))


def test_embedding_padding_idx_gets_no_gradient():
    w = cr.tensor(RNG.standard_normal((5, 2)), requires_grad=True)
    idx = cr.tensor(np.array([0, 2, 2, 4, 2]))
    F.embedding(idx, w, padding_idx=2).sum().backward()
    np.testing.assert_array_equal(w.grad._array, [[1, 1], [0, 0], [0, 0], [0, 0], [1, 1]])
    w.grad = None
    F.embedding(idx, w, padding_idx=-1).sum().backward()  # -1 is row 4
    np.testing.assert_array_equal(w.grad._array[4], [0, 0])


def test_embedding_max_norm_renormalises_rows_in_place():
    w = cr.tensor(np.array([[3.0, 4.0], [0.3, 0.4], [6.0, 8.0]]))
    y = F.embedding(cr.tensor(np.array([0, 1])), w, max_norm=1.0)
    np.testing.assert_allclose(y._array, [[0.6, 0.8], [0.3, 0.4]], rtol=1e-6)
    np.testing.assert_allclose(w._array[2], [6.0, 8.0])  # not looked up: untouched


def test_embedding_index_errors_name_the_bad_index():
    w = cr.zeros(4, 2)
    with pytest.raises(IndexError, match="index 7 is out of range"):
        F.embedding(cr.tensor(np.array([1, 7])), w)
    with pytest.raises(IndexError, match="index -1"):
        F.embedding(cr.tensor(np.array([-1])), w)
    with pytest.raises(TypeError, match="integer index"):
        F.embedding(cr.tensor(np.array([1.0])), w)


def test_embedding_gradient_uses_the_indices_of_the_forward_pass():
    """The indices are copied when checked: changing the caller's index array before backward
    (here to an index far out of range) does not move or break the scatter-add."""
    weight = cr.tensor(np.zeros((5, 3)), requires_grad=True)
    idx = np.array([1, 3, 1])
    y = F.embedding(cr.from_numpy(idx), weight)  # shares idx's memory
    idx[0] = 10**9
    (y * cr.tensor(np.arange(9.0).reshape(3, 3))).sum().backward()
    want = np.zeros((5, 3))
    want[1] = [0 + 6, 1 + 7, 2 + 8]  # rows 0 and 2 of the upstream gradient
    want[3] = [3, 4, 5]
    np.testing.assert_array_equal(weight.grad._array, want)
