"""Small PyTorch names: torch.utils.data.StackDataset, torch.typename, torch.ldexp_.  PyTorch is
the oracle where installed; the other tests need no PyTorch."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn as nn
from chainrule.utils.data import DataLoader, StackDataset, TensorDataset


# ----------------------------------------------------------------------------- StackDataset
class _Batched:
    """A data set with __getitems__ that records its calls."""

    def __init__(self, n: int) -> None:
        self.n, self.calls = n, []

    def __getitem__(self, i: int) -> int:
        return 10 * i

    def __getitems__(self, idx: list) -> list:
        self.calls.append(list(idx))
        return [10 * i for i in idx]

    def __len__(self) -> int:
        return self.n


def test_stack_dataset_tuple_and_dict():
    a = TensorDataset(cr.arange(4.0))
    b = ["w", "x", "y", "z"]
    s = StackDataset(a, b)
    assert len(s) == 4
    item = s[2]
    assert isinstance(item, tuple) and float(item[0][0]) == 2.0 and item[1] == "y"
    d = StackDataset(num=b, other=list(range(4)))
    assert d[1] == {"num": "x", "other": 1}
    assert d.__getitems__([3, 0]) == [{"num": "z", "other": 3}, {"num": "w", "other": 0}]


def test_stack_dataset_uses_nested_getitems():
    inner = _Batched(5)
    s = StackDataset(inner, list("abcde"))
    assert s.__getitems__([4, 1]) == [(40, "e"), (10, "b")]
    assert inner.calls == [[4, 1]]


def test_stack_dataset_in_a_dataloader():
    s = StackDataset(x=cr.arange(6.0).reshape(6, 1), y=list(range(6)))
    batches = list(DataLoader(s, batch_size=4))
    assert [tuple(b["x"].shape) for b in batches] == [(4, 1), (2, 1)]
    np.testing.assert_array_equal(batches[1]["y"].numpy(), [4, 5])


def test_stack_dataset_bad_input():
    with pytest.raises(ValueError, match="size mismatch"):
        StackDataset([1, 2], [1, 2, 3])
    with pytest.raises(ValueError, match="not both"):
        StackDataset([1], y=[2])
    with pytest.raises(ValueError, match="at least one"):
        StackDataset()


def test_stack_dataset_against_pytorch():
    torch = pytest.importorskip("torch")
    a, b = list(range(3)), ["p", "q", "r"]
    assert StackDataset(a, b)[1] == torch.utils.data.StackDataset(a, b)[1]
    assert StackDataset(u=a, v=b).__getitems__([2, 0]) == torch.utils.data.StackDataset(u=a, v=b).__getitems__([2, 0])


# ----------------------------------------------------------------------------- typename
def test_typename():
    assert cr.typename(cr.zeros(2)) == "torch.FloatTensor"
    assert cr.typename(cr.zeros(2, dtype=cr.float64)) == "torch.DoubleTensor"
    assert cr.typename(cr.zeros(2, dtype=cr.int64)) == "torch.LongTensor"
    assert cr.typename(cr.zeros(2, dtype=cr.bool)) == "torch.BoolTensor"
    assert cr.typename(3) == "int" and cr.typename(int) == "int"
    assert cr.typename(nn.Linear) == "chainrule.nn.modules.linear.Linear"
    assert cr.typename(nn.Linear(2, 2)) == "chainrule.nn.modules.linear.Linear"
    assert cr.typename(test_typename) == f"{__name__}.test_typename"


def test_typename_against_pytorch():
    torch = pytest.importorskip("torch")
    for dt in ("float32", "float64", "float16", "int64", "int32", "int16", "int8", "uint8", "bool"):
        ours, theirs = cr.zeros(1, dtype=getattr(cr, dt)), torch.zeros(1, dtype=getattr(torch, dt))
        assert cr.typename(ours) == torch.typename(theirs)
    for obj in (3, "s", int, [1], None):
        assert cr.typename(obj) == torch.typename(obj)


# ----------------------------------------------------------------------------- ldexp_
def test_ldexp_in_place():
    x = cr.tensor([1.0, -3.0, 0.5])
    r = cr.ldexp_(x, cr.tensor([2, 0, -1]))
    assert r is x
    np.testing.assert_array_equal(x.numpy(), [4.0, -3.0, 0.25])  # x * 2**e


def test_ldexp_in_place_against_pytorch():
    torch = pytest.importorskip("torch")
    xn, en = np.array([1.5, -2.0, 3.0]), np.array([3, -2, 1])
    x, tx = cr.tensor(xn), torch.tensor(xn)
    cr.ldexp_(x, cr.tensor(en))
    torch.ldexp_(tx, torch.tensor(en))
    np.testing.assert_array_equal(x.numpy(), tx.numpy())


# ----------------------------------------------------------------------------- set_printoptions
@pytest.fixture
def default_printoptions():
    yield
    cr.set_printoptions(profile="default")


def test_printoptions_profiles_and_state(default_printoptions):
    cr.set_printoptions(profile="short")
    assert cr.get_printoptions() == {"precision": 2, "threshold": 1000, "edgeitems": 2, "linewidth": 80,
                                     "sci_mode": None}
    cr.set_printoptions(profile="full", precision=6, sci_mode=True)
    assert cr.get_printoptions() == {"precision": 6, "threshold": float("inf"), "edgeitems": 3, "linewidth": 80,
                                     "sci_mode": True}
    cr.set_printoptions(linewidth=120)  # sci_mode goes back to None with every call, as in PyTorch
    assert cr.get_printoptions()["sci_mode"] is None and cr.get_printoptions()["linewidth"] == 120
    with pytest.raises(ValueError, match="profile"):
        cr.set_printoptions(profile="long")


def test_printoptions_change_the_repr(default_printoptions):
    x = cr.tensor([1.123456, 2.5])
    assert "1.1235" in repr(x)
    cr.set_printoptions(precision=2)
    assert "1.12" in repr(x) and "1.123" not in repr(x)
    cr.set_printoptions(sci_mode=True)
    assert "1.12e+00" in repr(x) and "2.50e+00" in repr(x)
    cr.set_printoptions(threshold=5, edgeitems=2)
    r = repr(cr.arange(10.0))
    assert "..." in r and "0., 1.," in r and "8., 9." in r and "5." not in r
    cr.set_printoptions(profile="full")
    assert "..." not in repr(cr.arange(2000.0))
    cr.set_printoptions(profile="default")
    assert "..." in repr(cr.arange(2000.0))


def test_printoptions_against_pytorch(default_printoptions):
    torch = pytest.importorskip("torch")
    before = torch._tensor_str.get_printoptions()
    try:
        for kw in ({"profile": "short"}, {"profile": "full", "precision": 3}, {"edgeitems": 5, "sci_mode": True}):
            cr.set_printoptions(**kw)
            torch.set_printoptions(**kw)
            assert cr.get_printoptions() == torch._tensor_str.get_printoptions()
        x = [1.123456, 2e-5, 300.5]
        for kw in ({"precision": 2}, {"sci_mode": True}, {"profile": "short"}):
            cr.set_printoptions(**kw)
            torch.set_printoptions(**kw)
            ours = repr(cr.tensor(x)).split("]")[0]
            assert ours == repr(torch.tensor(x)).split("]")[0]
    finally:
        torch.set_printoptions(**{k: v for k, v in before.items()})


# ----------------------------------------------------------------------------- histogramdd
def test_histogramdd_counts_by_hand():
    pts = cr.tensor([[0.1, 0.1], [0.9, 0.2], [0.6, 0.7], [1.0, 1.0], [0.4, 0.6], [2.0, 0.5]])
    h, (e0, e1) = cr.histogramdd(pts, bins=2, range=[0.0, 1.0, 0.0, 1.0])
    np.testing.assert_array_equal(e0.numpy(), [0.0, 0.5, 1.0])
    # [0, .5) x [0, .5): (.1, .1); [.5, 1] x [0, .5): (.9, .2); [.5, 1] x [.5, 1]: (.6, .7), (1, 1)
    # [0, .5) x [.5, 1]: (.4, .6); (2, .5) is outside
    np.testing.assert_array_equal(h.numpy(), [[1, 1], [1, 2]])
    w = cr.tensor([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    hw, _ = cr.histogramdd(pts, bins=[cr.tensor([0.0, 0.5, 1.0]), cr.tensor([0.0, 1.0])], weight=w)
    np.testing.assert_array_equal(hw.numpy(), [[1 + 5], [2 + 3 + 4]])
    hd, edges = cr.histogramdd(cr.randn(40, 3), bins=[2, 3, 4], density=True)
    vol = np.multiply.outer(np.multiply.outer(np.diff(edges[0].numpy()), np.diff(edges[1].numpy())),
                            np.diff(edges[2].numpy()))
    np.testing.assert_allclose((hd.numpy() * vol).sum(), 1.0, rtol=1e-6)


def test_histogramdd_bad_input():
    with pytest.raises(RuntimeError, match="at least 2 dimensions"):
        cr.histogramdd(cr.randn(5), bins=2)
    with pytest.raises(RuntimeError, match="expected 2 sequences"):
        cr.histogramdd(cr.randn(5, 2), bins=[2, 3, 4])
    with pytest.raises(RuntimeError, match="range should have 4 elements"):
        cr.histogramdd(cr.randn(5, 2), bins=2, range=[0.0, 1.0])
    with pytest.raises(RuntimeError, match="floating-point"):
        cr.histogramdd(cr.ones(5, 2, dtype=cr.int64), bins=2)


def test_histogramdd_against_pytorch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    x, w = rng.standard_normal((4, 20, 3)), rng.uniform(size=(4, 20))
    edges = [[-3.0, 0.0, 3.0], [-1.0, 1.0], [-2.0, -1.0, 0.0, 5.0]]
    for kw in ({"bins": 4}, {"bins": [2, 3, 4], "density": True}, {"bins": [2, 3, 4], "range": [-1, 1, -2, 2, 0, 1]},
               {"bins": "edges", "weight": True}):
        def args(lib: object, kw: dict = kw) -> dict:
            out = dict(kw)
            if kw["bins"] == "edges":
                out["bins"] = [lib.tensor(e, dtype=lib.float64) for e in edges]  # type: ignore[attr-defined]
            if kw.get("weight"):
                out["weight"] = lib.tensor(w)  # type: ignore[attr-defined]
            return out
        ours, theirs = cr.histogramdd(cr.tensor(x), **args(cr)), torch.histogramdd(torch.tensor(x), **args(torch))
        np.testing.assert_allclose(ours.hist.numpy(), theirs.hist.numpy(), rtol=1e-12, err_msg=str(kw))
        assert len(ours.bin_edges) == len(theirs.bin_edges) == 3
        for a, b in zip(ours.bin_edges, theirs.bin_edges, strict=True):
            np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-12, atol=1e-15)
