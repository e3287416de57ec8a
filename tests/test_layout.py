"""``torch.layout`` (``chainrule/backend/layout.py``): the layout objects, ``Tensor.layout``, the factories'
``layout=`` keyword (dense only) and ``empty_strided``; PyTorch as an oracle where it is installed."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest

import chainrule as cr

NAMES = ("strided", "sparse_coo", "sparse_csr", "sparse_csc", "sparse_bsr", "sparse_bsc", "_mkldnn", "jagged")
NOT_DENSE = ("sparse_coo", "sparse_csr", "sparse_csc", "sparse_bsr", "sparse_bsc", "_mkldnn")

# every factory whose PyTorch signature has layout=, called the same way in both libraries
FACTORIES = {
    "zeros": lambda L, **k: L.zeros(2, 3, **k),
    "ones": lambda L, **k: L.ones(2, 3, **k),
    "empty": lambda L, **k: L.empty(2, 3, **k),
    "full": lambda L, **k: L.full((2, 3), 1.5, **k),
    "rand": lambda L, **k: L.rand(2, 3, **k),
    "randn": lambda L, **k: L.randn(2, 3, **k),
    "randint": lambda L, **k: L.randint(0, 5, (2, 3), **k),
    "randperm": lambda L, **k: L.randperm(5, **k),
    "arange": lambda L, **k: L.arange(5, **k),
    "linspace": lambda L, **k: L.linspace(0, 1, 5, **k),
    "logspace": lambda L, **k: L.logspace(0, 1, 5, **k),
    "eye": lambda L, **k: L.eye(3, **k),
    "normal": lambda L, **k: L.normal(0.0, 1.0, (2, 3), **k),
    "zeros_like": lambda L, **k: L.zeros_like(L.ones(2, 3), **k),
    "ones_like": lambda L, **k: L.ones_like(L.ones(2, 3), **k),
    "empty_like": lambda L, **k: L.empty_like(L.ones(2, 3), **k),
    "full_like": lambda L, **k: L.full_like(L.ones(2, 3), 2.0, **k),
    "rand_like": lambda L, **k: L.rand_like(L.ones(2, 3), **k),
    "randn_like": lambda L, **k: L.randn_like(L.ones(2, 3), **k),
    "randint_like": lambda L, **k: L.randint_like(L.ones(2, 3), 5, **k),
    "empty_strided": lambda L, **k: L.empty_strided((2, 3), (3, 1), **k),
    "hann_window": lambda L, **k: L.hann_window(4, **k),
    "hamming_window": lambda L, **k: L.hamming_window(4, **k),
    "bartlett_window": lambda L, **k: L.bartlett_window(4, **k),
    "blackman_window": lambda L, **k: L.blackman_window(4, **k),
    "kaiser_window": lambda L, **k: L.kaiser_window(4, **k),
    "tril_indices": lambda L, **k: L.tril_indices(3, 3, **k),
    "triu_indices": lambda L, **k: L.triu_indices(3, 3, **k),
    "new_zeros": lambda L, **k: L.ones(2).new_zeros((2, 3), **k),
    "new_ones": lambda L, **k: L.ones(2).new_ones((2, 3), **k),
    "new_empty": lambda L, **k: L.ones(2).new_empty((2, 3), **k),
    "new_full": lambda L, **k: L.ones(2).new_full((2, 3), 1.5, **k),
}


def test_layout_objects():
    for name in NAMES:
        obj = getattr(cr, name)
        assert isinstance(obj, cr.layout)
        assert repr(obj) == str(obj) == f"torch.{name}"
        assert copy.copy(obj) is obj and copy.deepcopy(obj) is obj
        assert pickle.loads(pickle.dumps(obj)) is obj
    assert len({id(getattr(cr, n)) for n in NAMES}) == len(NAMES)
    assert cr.ones(2).layout is cr.strided and cr.tensor(1.0).layout is cr.strided
    assert "strided" in cr.__all__ and "layout" in cr.__all__


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_dense_layouts_are_accepted(name):
    f = FACTORIES[name]
    plain = f(cr)
    for lay in (None, cr.strided, cr.jagged):
        out = f(cr, layout=lay)
        assert out.layout is cr.strided and out.shape == plain.shape and out.dtype == plain.dtype


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_other_layouts_raise(name):
    f = FACTORIES[name]
    for lay in NOT_DENSE:
        with pytest.raises(RuntimeError, match=r"dense \(torch.strided\) tensors only") as err:
            f(cr, layout=getattr(cr, lay))
        assert isinstance(err.value, NotImplementedError) and f"torch.{lay}" in str(err.value)
    with pytest.raises(TypeError, match="argument 'layout' must be torch.layout, not str"):
        f(cr, layout="strided")


def test_scalar_tensor_ignores_layout_as_pytorch():
    assert cr.scalar_tensor(2.0, layout=cr.sparse_coo).layout is cr.strided


def test_empty_strided():
    t = cr.empty_strided((2, 3), (1, 2))
    assert t.shape == (2, 3) and t.stride() == (1, 2) and not t.is_contiguous()
    # element (i, j) lies at i·1 + j·2: the 6 elements fill memory 0..5 exactly once
    t.copy_(cr.tensor([[0.0, 2.0, 4.0], [1.0, 3.0, 5.0]]))
    np.testing.assert_array_equal(t.numpy(), [[0, 2, 4], [1, 3, 5]])
    assert cr.empty_strided((2, 2), (0, 0)).stride() == (0, 0)
    assert cr.empty_strided((0, 3), (5, 1)).shape == (0, 3)
    assert cr.empty_strided([4], [2], dtype=cr.float64, requires_grad=True).requires_grad
    with pytest.raises(RuntimeError, match="dimensionality of sizes"):
        cr.empty_strided((2, 3), (1,))
    with pytest.raises(RuntimeError, match="overflowed"):
        cr.empty_strided((2,), (-1,))


# ---------------------------------------------------------------- PyTorch as the oracle
def test_layout_objects_match_torch():
    torch = pytest.importorskip("torch")
    for name in NAMES:
        assert repr(getattr(cr, name)) == repr(getattr(torch, name))
        assert str(getattr(cr, name)) == str(getattr(torch, name))
    assert str(torch.ones(2).layout) == str(cr.ones(2).layout)


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_strided_factories_match_torch(name):
    torch = pytest.importorskip("torch")
    f = FACTORIES[name]
    want = f(torch, layout=torch.strided)
    got = f(cr, layout=cr.strided)
    assert tuple(got.shape) == tuple(want.shape) and str(got.dtype) == str(want.dtype).replace("torch.", "")
    assert str(got.layout) == str(want.layout)
    with pytest.raises(TypeError) as t_err:
        f(torch, layout="strided")
    with pytest.raises(TypeError) as c_err:
        f(cr, layout="strided")
    if "argument 'layout' must be" in str(t_err.value):  # (overloaded functions list their signatures instead)
        assert str(c_err.value) == str(t_err.value)


def test_empty_strided_matches_torch():
    torch = pytest.importorskip("torch")
    for size, stride in (((2, 3), (1, 2)), ((2, 2), (0, 0)), ((0, 3), (5, 1)), ((3, 1, 2), (2, 7, 1))):
        want = torch.empty_strided(size, stride)
        got = cr.empty_strided(size, stride)
        assert got.stride() == want.stride() and tuple(got.shape) == tuple(want.shape)
        assert got.is_contiguous() == want.is_contiguous()
    for size, stride in (((2, 3), (1,)), ((2,), (-1,))):
        with pytest.raises(RuntimeError) as t_err:
            torch.empty_strided(size, stride)
        with pytest.raises(RuntimeError) as c_err:
            cr.empty_strided(size, stride)
        assert str(c_err.value) == str(t_err.value)
