"""Forward results that once differed from PyTorch 2.13's (an audit): var_mean / std_mean's
positional ``unbiased``, take_along_dim's broadcasting, quantile's shape for a 0-d input,
cov / corrcoef of one variable, multilabel_margin_loss with repeated labels, lstsq's results per
driver.  Each is checked against the mathematics and against PyTorch as oracle."""

import math

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F
from chainrule.autograd.gradcheck import gradcheck

torch = pytest.importorskip("torch")

X = [[1.0, 2.0, 3.0, 4.0], [2.0, 5.0, 1.0, 0.0], [0.5, -1.0, 2.0, 7.0]]


def _same(ours, theirs, atol=1e-6):
    """Same shape, dtype kind and values (NaN where PyTorch has NaN)."""
    ours = ours if isinstance(ours, tuple) else (ours,)
    theirs = theirs if isinstance(theirs, tuple) else (theirs,)
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        a_np, b_np = a.detach().numpy(), b.detach().numpy()
        assert a_np.shape == b_np.shape, (a_np.shape, b_np.shape)
        assert a_np.dtype.kind == b_np.dtype.kind, (a_np.dtype, b_np.dtype)
        np.testing.assert_allclose(a_np, b_np, rtol=1e-6, atol=atol, equal_nan=True)


# ------------------------------------------------------------------ 1. var/std(_mean) overloads
OVERLOADS = [
    ((True,), {}), ((False,), {}), ((), {"unbiased": False}), ((1,), {}), ((-1, True), {}),
    ((1, False, True), {}), (((0, 1),), {}), ((None,), {}), ((), {"correction": 0}),
    ((1,), {"correction": 2}), ((1,), {"correction": 2.5}), ((), {"dim": 1, "keepdim": True}),
    ((None,), {"correction": 0, "keepdim": True}), ((0,), {"keepdim": True, "correction": 1}),
    ((), {"dim": [0, 1], "unbiased": False}),
]


@pytest.mark.parametrize("name", ["var", "std", "var_mean", "std_mean"])
@pytest.mark.parametrize("args,kwargs", OVERLOADS)
def test_var_std_overloads_match_pytorch(name, args, kwargs):
    _same(getattr(cr, name)(cr.tensor(X), *args, **kwargs), getattr(torch, name)(torch.tensor(X), *args, **kwargs))
    if name in ("var", "std"):  # the Tensor method's overloads too
        _same(getattr(cr.tensor(X), name)(*args, **kwargs), getattr(torch.tensor(X), name)(*args, **kwargs))


def test_var_mean_positional_unbiased_is_not_a_dim():
    flat = [v for row in X for v in row]
    mu = sum(flat) / len(flat)
    ss = sum((v - mu) ** 2 for v in flat)
    for unbiased, n in ((True, len(flat) - 1), (False, len(flat))):
        v, m = cr.var_mean(cr.tensor(X), unbiased)
        assert v.shape == () and m.shape == ()
        assert math.isclose(float(v), ss / n, rel_tol=1e-6) and math.isclose(float(m), mu, rel_tol=1e-6)
        s, m = cr.std_mean(cr.tensor(X), unbiased)
        assert s.shape == () and math.isclose(float(s), math.sqrt(ss / n), rel_tol=1e-6)


def test_var_mean_positional_unbiased_gradients():
    x = cr.tensor(X, dtype=cr.float64, requires_grad=True)
    for fn in (cr.var_mean, cr.std_mean):
        assert gradcheck(lambda t, fn=fn: fn(t, False), (x,))
        assert gradcheck(lambda t, fn=fn: fn(t, 1, True, True), (x,))


# ------------------------------------------------------------------ 2. take_along_dim
@pytest.mark.parametrize("idx,dim", [
    ([[0], [2], [1]], 1),        # (3, 1): gathers one column per row
    ([[0, 2, 1, 0]], 0),         # (1, 4): one row picked per column
    ([[2], [0]], 0),             # (2, 1): broadcast to (2, 4) against the input's 4 columns
    ([[3, 1]], 1),               # (1, 2): broadcast to (3, 2) against the input's 3 rows
    ([[3, 1]], None),            # flattened input and indices
    ([[[5]]], None),
])
def test_take_along_dim_broadcasts_as_pytorch(idx, dim):
    x = np.arange(12.0).reshape(3, 4) * 1.5
    ours = cr.take_along_dim(cr.tensor(x), cr.tensor(idx), dim)
    theirs = torch.take_along_dim(torch.tensor(x), torch.tensor(idx), dim)
    _same(ours, theirs)
    _same(cr.tensor(x).take_along_dim(cr.tensor(idx), dim=dim), theirs)
    # the mathematics: out = input broadcast, then gathered along dim
    if dim is None:
        expected = x.reshape(-1)[np.asarray(idx).reshape(-1)]
    else:
        i = np.asarray(idx)
        sizes = tuple(s if a != dim else i.shape[dim] for a, s in enumerate(x.shape))
        shape = list(np.broadcast_shapes(sizes, i.shape))
        ib = np.broadcast_to(i, shape)
        shape[dim] = x.shape[dim]
        expected = np.take_along_axis(np.broadcast_to(x, shape), ib, dim)
    np.testing.assert_array_equal(ours.numpy(), expected)


def test_take_along_dim_default_dim_and_errors():
    x = cr.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert cr.take_along_dim(x, cr.tensor([3, 0])).tolist() == [4.0, 1.0]
    with pytest.raises(RuntimeError, match="same number of dimensions"):
        cr.take_along_dim(x, cr.tensor([1, 0]), 1)
    with pytest.raises(RuntimeError, match="Long"):
        cr.take_along_dim(x, cr.tensor([[1.0]]), 1)


def test_take_along_dim_broadcast_gradient():
    x = cr.tensor(np.arange(12.0).reshape(3, 4) / 7, requires_grad=True)
    idx = cr.tensor([[2], [0]])
    assert gradcheck(lambda t: cr.take_along_dim(t, idx, 0), (x,))
    idx2 = cr.tensor([[3, 1, 1]])
    assert gradcheck(lambda t: cr.take_along_dim(t, idx2, 1), (x,))


# ------------------------------------------------------------------ 3. quantile of a 0-d input
@pytest.mark.parametrize("fn", ["quantile", "nanquantile"])
@pytest.mark.parametrize("q", [0.3, [0.3, 0.7]])
@pytest.mark.parametrize("dim", [None, 0, -1])
@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("x", [5.0, [5.0], [[1.0, 2.0, 4.0]]])
def test_quantile_shapes_match_pytorch(fn, q, dim, keepdim, x):
    theirs = getattr(torch, fn)(torch.tensor(x), torch.tensor(q), dim=dim, keepdim=keepdim)
    ours = getattr(cr, fn)(cr.tensor(x), cr.tensor(q), dim=dim, keepdim=keepdim)
    _same(ours, theirs)
    if not isinstance(q, list):
        _same(getattr(cr, fn)(cr.tensor(x), q, dim=dim, keepdim=keepdim), theirs)


def test_quantile_of_0d_input_is_0d():
    for fn in (cr.quantile, cr.nanquantile):
        out = fn(cr.tensor(5.0), 0.3, dim=0, keepdim=True)
        assert out.shape == () and float(out) == 5.0  # one value: every quantile is it
        assert fn(cr.tensor(5.0), cr.tensor([0.1, 0.9]), dim=0, keepdim=True).shape == (2,)
    with pytest.raises(IndexError):
        cr.quantile(cr.tensor(5.0), 0.3, dim=1)


@pytest.mark.parametrize("fn", ["max", "min", "argmax", "argmin", "median", "kthvalue", "mode", "amax"])
@pytest.mark.parametrize("dim", [0, -1])
@pytest.mark.parametrize("keepdim", [False, True])
def test_0d_input_with_dim_siblings(fn, dim, keepdim):
    """The other reductions along one dim of a 0-d input: 0-d results, as PyTorch."""
    args = (1,) if fn == "kthvalue" else ()
    theirs = getattr(torch, fn)(torch.tensor(5.0), *args, dim=dim, keepdim=keepdim)
    ours = getattr(cr, fn)(cr.tensor(5.0), *args, dim=dim, keepdim=keepdim)
    _same(tuple(ours) if isinstance(ours, tuple) else ours, tuple(theirs) if isinstance(theirs, tuple) else theirs)


# ------------------------------------------------------------------ 4. cov / corrcoef of one variable
@pytest.mark.parametrize("x", [[1.0, 2.0, 4.0], [[1.0, 2.0, 4.0]], [[1.0, 2.0, 4.0], [3.0, 1.0, 0.0]], [[5.0]], 3.0])
def test_cov_corrcoef_shapes_match_pytorch(x):
    for kw in ({}, {"correction": 0}, {"correction": 2}):
        _same(cr.cov(cr.tensor(x), **kw), torch.cov(torch.tensor(x), **kw))
    with np.errstate(invalid="ignore", divide="ignore"):
        _same(cr.corrcoef(cr.tensor(x)), torch.corrcoef(torch.tensor(x)))


def test_one_row_cov_is_the_0d_variance():
    row = [1.0, 2.0, 4.0]  # mean 7/3, Σ(x - x̄)² = 14/3
    c = cr.cov(cr.tensor([row]))
    assert c.shape == () and math.isclose(float(c), 7 / 3, rel_tol=1e-6)
    r = cr.corrcoef(cr.tensor([row]))
    assert r.shape == () and float(r) == 1.0
    x = cr.tensor([row], dtype=cr.float64, requires_grad=True)
    assert gradcheck(cr.cov, (x,))


# ------------------------------------------------------------------ 5. multilabel_margin_loss
def _mlml(x, y):
    """PyTorch's definition: for each listed target entry j (before the first -1, repeats
    included), Σ over the classes i listed nowhere of max(0, 1 - (x_j - x_i)), / C."""
    out = []
    for xr, yr in zip(x, y):
        listed = []
        for t in yr:
            if t < 0:
                break
            listed.append(t)
        s = sum(max(0.0, 1 - (xr[j] - xr[i])) for j in listed for i in range(len(xr)) if i not in listed)
        out.append(s / len(xr))
    return out


def test_multilabel_margin_loss_repeated_labels():
    x = [[0.1, 0.2, 0.4, 0.8], [1.0, -2.0, 3.0, 0.5], [-3.0, 2.0, 0.5, 1.0]]
    y = [[3, 3, 0, -1], [1, 1, 1, 2], [1, 1, 1, 1]]
    expected = _mlml(x, y)
    assert expected[0] != _mlml([x[0]], [[3, 0, -1, 0]])[0]  # the repeat counts
    ours = F.multilabel_margin_loss(cr.tensor(x), cr.tensor(y), reduction="none")
    np.testing.assert_allclose(ours.numpy(), expected, rtol=1e-6)
    for red in ("none", "mean", "sum"):
        _same(F.multilabel_margin_loss(cr.tensor(x), cr.tensor(y), reduction=red),
              torch.nn.functional.multilabel_margin_loss(torch.tensor(x), torch.tensor(y), reduction=red))
        _same(cr.nn.MultiLabelMarginLoss(reduction=red)(cr.tensor(x), cr.tensor(y)),
              torch.nn.MultiLabelMarginLoss(reduction=red)(torch.tensor(x), torch.tensor(y)))
    _same(F.multilabel_margin_loss(cr.tensor(x[0]), cr.tensor(y[0])),
          torch.nn.functional.multilabel_margin_loss(torch.tensor(x[0]), torch.tensor(y[0])))


def test_multilabel_margin_loss_repeated_labels_random_and_gradients():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((6, 5))
    y = rng.integers(0, 5, (6, 5))
    y[::2, 3] = -1
    ours = F.multilabel_margin_loss(cr.tensor(x), cr.tensor(y), reduction="none")
    np.testing.assert_allclose(ours.numpy(), _mlml(x.tolist(), y.tolist()), rtol=1e-10)
    tx = torch.tensor(x, requires_grad=True)
    torch.nn.functional.multilabel_margin_loss(tx, torch.tensor(y)).backward()
    cx = cr.tensor(x, requires_grad=True)
    F.multilabel_margin_loss(cx, cr.tensor(y)).backward()
    np.testing.assert_allclose(cx.grad.numpy(), tx.grad.numpy(), rtol=1e-10, atol=1e-12)
    xt = cr.tensor(x, requires_grad=True)
    assert gradcheck(lambda t: F.multilabel_margin_loss(t, cr.tensor(y), reduction="none"), (xt,))


# ------------------------------------------------------------------ 6. lstsq per driver
DRIVERS = [None, "gelsy", "gels", "gelsd", "gelss"]


def _lstsq_inputs():
    g = torch.Generator().manual_seed(0)
    r = lambda *s: torch.randn(*s, dtype=torch.float64, generator=g)  # noqa: E731
    return {"tall": r(5, 3), "wide": r(3, 5), "square": r(3, 3), "tall_rank_deficient": r(5, 2) @ r(2, 3),
            "batch": r(2, 5, 3)}


@pytest.mark.parametrize("case", list(_lstsq_inputs()))
@pytest.mark.parametrize("driver", DRIVERS)
@pytest.mark.parametrize("vector", [False, True])
def test_lstsq_results_match_pytorch(case, driver, vector):
    A = _lstsq_inputs()[case]
    B = torch.randn(*A.shape[:-1], 2, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    B = B[..., 0] if vector else B
    theirs = torch.linalg.lstsq(A, B, driver=driver)
    ours = cr.linalg.lstsq(cr.tensor(A.numpy()), cr.tensor(B.numpy()), driver=driver)
    if driver == "gels" and case == "tall_rank_deficient":
        # gels assumes full rank: LAPACK's answer for a singular R is not a least-squares solution
        theirs, ours = theirs[2:], ours[2:]
    _same(tuple(ours), tuple(theirs), atol=1e-9)


def test_lstsq_gels_residuals_from_the_mathematics():
    A = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    B = np.array([[1.0], [1.0], [0.0]])
    # normal equations: X = (AᵀA)⁻¹AᵀB = [1/3, 1/3]; residual r = AX - B = (-2/3, -2/3, 2/3)
    out = cr.linalg.lstsq(cr.tensor(A), cr.tensor(B), driver="gels")
    np.testing.assert_allclose(out.solution.numpy(), [[1 / 3], [1 / 3]], atol=1e-12)
    np.testing.assert_allclose(out.residuals.numpy(), [4 / 3], atol=1e-12)
    assert out.rank.shape == (0,) and out.singular_values.shape == (0,)
    d = cr.linalg.lstsq(cr.tensor(A), cr.tensor(B), driver="gelsd")
    np.testing.assert_allclose(d.residuals.numpy(), [4 / 3], atol=1e-12)
    assert d.rank.shape == () and int(d.rank) == 2 and d.singular_values.shape == (2,)
    np.testing.assert_allclose(d.singular_values.numpy(), [math.sqrt(3), 1.0], atol=1e-12)
    a = cr.tensor(A, requires_grad=True)
    b = cr.tensor(B, requires_grad=True)
    assert gradcheck(lambda s, t: cr.linalg.lstsq(s, t, driver="gels").residuals, (a, b))
    assert gradcheck(lambda s, t: cr.linalg.lstsq(s, t, driver="gels").solution, (a, b))
