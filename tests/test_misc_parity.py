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
