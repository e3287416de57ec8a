"""``torch.testing`` (chainrule/testing.py): assert_close's rule, default tolerances and messages
(PyTorch's messages as the oracle where installed), assert_allclose, make_tensor."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import chainrule as torch


def _message(lib, fn) -> str:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fn(lib)
    except (AssertionError, ValueError, TypeError) as e:
        return f"{type(e).__name__}: {e}".replace("chainrule.autograd.tensor.Tensor", "torch.Tensor")
    return "passed"


CASES = {
    "one element off": lambda t: t.testing.assert_close(t.tensor([1., 2., 3.]), t.tensor([1., 2.5, 3.])),
    "dtypes": lambda t: t.testing.assert_close(t.tensor([1., 2.]), t.tensor([1., 2.], dtype=t.float64)),
    "shapes": lambda t: t.testing.assert_close(t.tensor([1., 2.]), t.tensor([1., 2., 3.])),
    "rtol alone": lambda t: t.testing.assert_close(t.tensor([1.]), t.tensor([1.]), rtol=1e-3),
    "integers": lambda t: t.testing.assert_close(t.tensor([1, 2]), t.tensor([1, 3])),
    "floats close": lambda t: t.testing.assert_close(1.0, 1.0 + 1e-9),
    "floats apart": lambda t: t.testing.assert_close(1.0, 1.1),
    "an item of a list": lambda t: t.testing.assert_close([t.ones(2), 1], [t.ones(2), 2]),
    "keys": lambda t: t.testing.assert_close({"a": t.ones(2)}, {"b": t.ones(2)}),
    "nested item": lambda t: t.testing.assert_close({"a": [t.ones(2)]}, {"a": [t.zeros(2)]}),
    "nan": lambda t: t.testing.assert_close(t.tensor([math.nan]), t.tensor([math.nan])),
    "nan equal": lambda t: t.testing.assert_close(t.tensor([math.nan]), t.tensor([math.nan]), equal_nan=True),
    "tensor and float": lambda t: t.testing.assert_close(t.tensor([1.]), 1.0),
    "msg": lambda t: t.testing.assert_close(t.tensor([1., 2.]), t.tensor([1., 2.5]), msg="custom"),
    "msg callable": lambda t: t.testing.assert_close(t.tensor([1.]), t.tensor([2.]), msg=lambda m: "X" + m[:9]),
    "2-D index": lambda t: t.testing.assert_close(t.tensor([[1., 2.], [3, 4]]), t.tensor([[1., 2.], [3, 5]])),
    "bool": lambda t: t.testing.assert_close(t.tensor([True]), t.tensor([False])),
    "check_dtype off": lambda t: t.testing.assert_close(t.tensor([1., 2.]), t.tensor([1., 2.], dtype=t.float64),
                                                        check_dtype=False),
    "int and float": lambda t: t.testing.assert_close(1, 1.0),
    "numpy arrays": lambda t: t.testing.assert_close(np.ones(2), np.ones(2) + 1),
    "tuple and list": lambda t: t.testing.assert_close((1, 2), [1, 2]),
    "lengths": lambda t: t.testing.assert_close([1, 2], [1, 2, 3]),
    "requires_grad": lambda t: t.testing.assert_close(t.ones(2, requires_grad=True), t.ones(2)),
    "empty": lambda t: t.testing.assert_close(t.ones(0), t.ones(0)),
    "inf against -inf": lambda t: t.testing.assert_close(t.tensor([1., math.inf]), t.tensor([1., -math.inf])),
    "inf against inf": lambda t: t.testing.assert_close(t.tensor([math.inf]), t.tensor([math.inf])),
    "strings": lambda t: t.testing.assert_close("a", "a"),
    "0-d": lambda t: t.testing.assert_close(t.tensor(1.), t.tensor(2.)),
    "within float32's tolerance": lambda t: t.testing.assert_close(t.tensor([100., 2.]), t.tensor([100.0001, 2.])),
    "float16": lambda t: t.testing.assert_close(t.ones(2, dtype=t.float16), t.ones(2, dtype=t.float16) * 1.0005),
    "integers within a tolerance": lambda t: t.testing.assert_close(t.tensor([10, 20]), t.tensor([11, 20]), rtol=0.0,
                                                                    atol=1.0),
    "integers beyond a tolerance": lambda t: t.testing.assert_close(t.tensor([10, 20]), t.tensor([13, 20]), rtol=0.0,
                                                                    atol=1.0),
    "allclose": lambda t: t.testing.assert_allclose(t.tensor([1., 2.]), [1., 2.]),
    "allclose apart": lambda t: t.testing.assert_allclose(t.tensor([1., 2.]), [1., 2.1]),
    "allclose own tolerance": lambda t: t.testing.assert_allclose(t.tensor([1., 2.]), [1., 2.00015]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_assert_close_says_what_pytorch_says(case):
    real = pytest.importorskip("torch")
    assert _message(torch, CASES[case]) == _message(real, CASES[case])


def test_the_rule_and_the_default_tolerances():
    """|a - e| <= atol + rtol |e| with float32's 1e-5 and 1.3e-6, float64's 1e-7 and 1e-7."""
    e = 1000.0
    inside, outside = 1e-5 + 1.3e-6 * e, 1e-5 + 1.3e-6 * e
    torch.testing.assert_close(torch.tensor([e + 0.9 * inside], dtype=torch.float64).float(), torch.tensor([e]))
    with pytest.raises(AssertionError, match="Mismatched elements: 1 / 1"):
        torch.testing.assert_close(torch.tensor([e + 3 * outside]), torch.tensor([e]))
    one = torch.tensor([1.0], dtype=torch.float64)
    torch.testing.assert_close(torch.tensor([1.0 + 5e-8], dtype=torch.float64), one)
    with pytest.raises(AssertionError, match=r"up to 1e-07 allowed"):
        torch.testing.assert_close(torch.tensor([1.0 + 5e-7], dtype=torch.float64),
                                   torch.tensor([1.0], dtype=torch.float64))
    torch.testing.assert_close(torch.tensor([1.0]), torch.tensor([1.5]), rtol=0.0, atol=0.5)
    with pytest.raises(AssertionError, match="Greatest absolute difference: 1 at index \\(1,\\)"):
        torch.testing.assert_close(torch.tensor([3, 4]), torch.tensor([3, 5]))
    with pytest.raises(AssertionError, match="The failure occurred for item \\['w'\\]\\[1\\]"):
        torch.testing.assert_close({"w": [1.0, 2.0]}, {"w": [1.0, 2.5]})


def test_assert_allclose_warns_as_deprecated():
    with pytest.warns(FutureWarning, match="assert_close"):
        torch.testing.assert_allclose(torch.ones(2), torch.ones(2))


@pytest.mark.parametrize("dtype, low, high", [
    (torch.float32, -9, 9), (torch.float64, -9, 9), (torch.int64, -9, 10), (torch.int32, -9, 10), (torch.uint8, 0, 10),
])
def test_make_tensor_draws_from_pytorchs_default_ranges(dtype, low, high):
    torch.manual_seed(0)
    t = torch.testing.make_tensor(64, 64, dtype=dtype, device="cpu")
    v = t.numpy()
    assert t.dtype == dtype and tuple(t.shape) == (64, 64)
    assert v.min() >= low and v.max() < high
    assert v.min() < low + 1.5 and v.max() > high - 1.5  # (4,096 uniform draws reach both ends)
    u = torch.testing.make_tensor((5,), dtype=dtype, device="cpu", low=2, high=4).numpy()
    assert u.min() >= 2 and u.max() < 4


def test_make_tensor_options():
    torch.manual_seed(1)
    b = torch.testing.make_tensor((200,), dtype=torch.bool, device="cpu").numpy()
    assert b.dtype == np.bool_ and 0 < b.sum() < 200
    n = torch.testing.make_tensor(3, 4, dtype=torch.float32, device="cpu", noncontiguous=True)
    assert not n.is_contiguous() and tuple(n.shape) == (3, 4)
    z = torch.testing.make_tensor((500,), dtype=torch.int64, device="cpu", low=-1, high=2, exclude_zero=True).numpy()
    assert (z != 0).all() and set(np.unique(z)) <= {-1, 1}
    g = torch.testing.make_tensor((3,), dtype=torch.float64, device="cpu", requires_grad=True)
    assert g.requires_grad and g.is_leaf
    with pytest.raises(ValueError, match="`low` must be less than `high`"):
        torch.testing.make_tensor((3,), dtype=torch.float32, device="cpu", low=5, high=1)
    with pytest.raises(ValueError, match="not supported for boolean and integral dtypes"):
        torch.testing.make_tensor((3,), dtype=torch.int64, device="cpu", requires_grad=True)
