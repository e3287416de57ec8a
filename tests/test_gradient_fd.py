"""torch.gradient: exact on polynomials (degree 2 inside, degree edge_order at the ends), uniform
and coordinate spacing, gradients by finite differences (float64), PyTorch as the oracle."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.autograd.gradcheck import gradcheck, gradgradcheck

R = np.random.default_rng(7)


def _quadratic(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return 3 * x**2 - 2 * x + 1, 6 * x - 2


def test_edge_order_2_exact_on_a_quadratic_uniform_and_nonuniform():
    xs = np.sort(R.uniform(-2, 2, 9))
    for coords, h in ((np.linspace(-1, 3, 9), 0.5), (xs, None)):
        f, df = _quadratic(coords)
        spacing = h if h is not None else [cr.tensor(coords)]
        (g,) = cr.gradient(cr.tensor(f), spacing=spacing, edge_order=2)
        np.testing.assert_allclose(g.numpy(), df, rtol=1e-10, atol=1e-10)


def test_edge_order_1_exact_on_a_line_and_central_inside():
    x = np.linspace(0, 2, 5)  # h = 0.5
    (g,) = cr.gradient(cr.tensor(4 * x - 1), spacing=0.5)
    np.testing.assert_allclose(g.numpy(), 4.0, rtol=1e-12)
    f, df = _quadratic(x)
    (g,) = cr.gradient(cr.tensor(f), spacing=0.5)
    np.testing.assert_allclose(g.numpy()[1:-1], df[1:-1], rtol=1e-12)  # the central difference is exact
    np.testing.assert_allclose(g.numpy()[[0, -1]], [(f[1] - f[0]) / 0.5, (f[-1] - f[-2]) / 0.5], rtol=1e-12)


def test_several_dims_and_dim_argument():
    a, b = np.meshgrid(np.arange(4.0), np.arange(5.0), indexing="ij")
    f = cr.tensor(2 * a + 3 * b)  # d/da = 2, d/db = 3 with unit spacing
    ga, gb = cr.gradient(f)
    np.testing.assert_allclose(ga.numpy(), 2.0)
    np.testing.assert_allclose(gb.numpy(), 3.0)
    (gb2,) = cr.gradient(f, dim=1, spacing=2.0)
    np.testing.assert_allclose(gb2.numpy(), 1.5)
    gb3, ga3 = cr.gradient(f, dim=[-1, 0], spacing=[1.0, 0.5])
    np.testing.assert_allclose(gb3.numpy(), 3.0)
    np.testing.assert_allclose(ga3.numpy(), 4.0)
    (gi,) = cr.gradient(cr.arange(5) * 2)
    assert gi.dtype == cr.float32
    np.testing.assert_allclose(gi.numpy(), 2.0)


@pytest.mark.parametrize("edge_order", [1, 2])
def test_gradcheck(edge_order):
    x = cr.tensor(R.standard_normal((4, 5)), requires_grad=True)
    c = cr.tensor(np.sort(R.uniform(0, 3, 5)), requires_grad=True)

    def fn(x, c):
        return cr.stack(cr.gradient(x, spacing=[0.7, c], edge_order=edge_order))

    assert gradcheck(fn, [x, c])
    assert gradgradcheck(fn, [x, c])


def test_bad_input():
    with pytest.raises(RuntimeError, match="at least edge_order\\+1"):
        cr.gradient(cr.ones(2, 4), edge_order=2)
    with pytest.raises(RuntimeError, match="edge_order=1 and edge_order=2"):
        cr.gradient(cr.ones(5), edge_order=3)
    with pytest.raises(RuntimeError, match="dim argument was not given"):
        cr.gradient(cr.ones(3, 4), spacing=[2.0])
    with pytest.raises(RuntimeError, match="same length"):
        cr.gradient(cr.ones(3, 4), spacing=[1.0, 2.0], dim=1)
    with pytest.raises(RuntimeError, match="length 4"):
        cr.gradient(cr.ones(3, 4), spacing=[cr.arange(3.0)], dim=1)
    with pytest.raises(RuntimeError, match="multiple times"):
        cr.gradient(cr.ones(3, 4), dim=[1, -1])
    with pytest.raises(TypeError, match="spacing"):
        cr.gradient(cr.ones(3), spacing="x")


def test_against_pytorch():
    torch = pytest.importorskip("torch")
    a = R.standard_normal((4, 5, 3))
    c0, c2 = np.sort(R.uniform(0, 3, 4)), np.sort(R.uniform(0, 3, 3))
    cases = [
        {}, {"spacing": 2.5}, {"spacing": [0.5, 3.0, 1.0], "edge_order": 2}, {"dim": 1}, {"dim": [2, 0]},
        {"dim": (0, 2), "spacing": ("c0", "c2")}, {"dim": (0, 2), "spacing": ("c0", "c2"), "edge_order": 2},
    ]
    for kw in cases:
        def mk(lib: object, kw: dict = kw) -> dict:
            out = dict(kw)
            if "spacing" in kw and isinstance(kw["spacing"], tuple):
                out["spacing"] = tuple(lib.tensor({"c0": c0, "c2": c2}[s]) for s in kw["spacing"])  # type: ignore
            return out
        x, tx = cr.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
        ours, theirs = cr.gradient(x, **mk(cr)), torch.gradient(tx, **mk(torch))
        assert len(ours) == len(theirs)
        w = [R.standard_normal(a.shape) for _ in ours]
        for o, t in zip(ours, theirs, strict=True):
            np.testing.assert_allclose(o.detach().numpy(), t.detach().numpy(), rtol=1e-10, atol=1e-12, err_msg=str(kw))
        sum((o * cr.tensor(wk)).sum() for o, wk in zip(ours, w, strict=True)).backward()
        sum((t * torch.tensor(wk)).sum() for t, wk in zip(theirs, w, strict=True)).backward()
        np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-10, atol=1e-12, err_msg=str(kw))
