"""Degenerate inputs of the reductions, softmax and the classification losses behave as in PyTorch.

* ``dim=()`` reduces over every dimension (sum, mean, amax, amin, var, std, logsumexp), as
  PyTorch 2.x; max/min/prod take one int dim and raise TypeError for a tuple, as PyTorch.
* Empty tensors: sum 0, prod 1, mean/var/std NaN, logsumexp -inf, softmax empty; max/amax/argmax
  over an empty dimension raise PyTorch's exception kinds.
* var/std of a single element (NaN with PyTorch's warning, no ZeroDivisionError) and of a
  constant input (gradient 0, not NaN).
* softmax / log_softmax / logsumexp on rows with ±inf or NaN (the compiled row kernel included).
* cross_entropy / nll_loss with every target ignored: loss NaN ('mean'), gradient 0.
* ``prod`` with its gradient without dividing by zero (inputs with one or several zeros).

PyTorch (torch) is the oracle where it is installed; the mathematical statements (finite
differences, closed forms) run without it.  Values and gradients are compared in float32 and
float64, and the warnings each library emits are compared too (no NumPy RuntimeWarning may leak).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F
from chainrule.autograd import grad as autograd_grad
from chainrule.autograd.gradcheck import gradcheck, gradgradcheck
from chainrule.backend import softmax_rows

KERNEL = (softmax_rows, "softmax_rows")  # for the kernel_path fixture (conftest.py)
DTYPES = (np.float32, np.float64)
INF, NAN = np.inf, np.nan


def _torch():
    return pytest.importorskip("torch")


def _tol(dtype):
    return dict(rtol=2e-6, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-13)


def _run(lib, fn, x_np, *, grad=True):
    """Run ``fn(lib, x)`` on a fresh leaf x (a copy of x_np); backpropagate <w, y> with fixed weights w.

    Returns ("raise", exception type) or ("ok", y, dL/dx or None, the set of warning categories)."""
    x = lib.tensor(x_np.copy(), requires_grad=grad and x_np.dtype.kind == "f")
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        try:
            y = fn(lib, x)
        except Exception as e:  # noqa: BLE001  (the kind is compared with the other library's)
            return ("raise", type(e))
        if isinstance(y, tuple):
            y = y[0]
        g = None
        if y.requires_grad:
            w = np.linspace(0.5, 1.5, y.numel()).reshape(tuple(y.shape)).astype(x_np.dtype)
            y.backward(lib.tensor(w))  # (not (y * w).sum(): inf + -inf would warn in the test's own sum)
            g = None if x.grad is None else x.grad.detach().numpy().copy()  # (PyTorch's norm p=0: None)
    return ("ok", y.detach().numpy().copy(), g, {r.category for r in rec})


def _same(ours, ref, dtype, what=""):
    """Both raised the same kind of exception, or both returned equal values, gradients and warnings."""
    if ref[0] == "raise":
        assert ours[0] == "raise" and issubclass(ours[1], ref[1]), f"{what}: PyTorch raised {ref[1]}, got {ours}"
        return
    assert ours[0] == "ok", f"{what}: raised {ours[1]}, PyTorch did not"
    _, y, g, warns = ours
    _, y_ref, g_ref, warns_ref = ref
    assert y.shape == y_ref.shape, what
    assert y.dtype == y_ref.dtype, what
    np.testing.assert_allclose(y, y_ref, **_tol(dtype), err_msg=f"{what}: value")
    assert (g is None) == (g_ref is None), what
    if g is not None:
        assert g.shape == g_ref.shape and g.dtype == g_ref.dtype, what
        np.testing.assert_allclose(g, g_ref, **_tol(dtype), err_msg=f"{what}: gradient")
    assert warns == warns_ref, f"{what}: warnings {warns} (PyTorch: {warns_ref})"


def _both(fn, x_np, what="", grad=True):
    torch = _torch()
    _same(_run(cr, fn, x_np, grad=grad), _run(torch, fn, x_np, grad=grad), x_np.dtype, what)


def _distinct(shape, dtype, seed=0):
    n = int(np.prod(shape))
    return (np.random.default_rng(seed).permutation(n) * 0.37 - 1.1).reshape(shape).astype(dtype)


# ---------------------------------------------------------------- dim=()
DIM_ALL_OPS = ("sum", "mean", "amax", "amin", "var", "std", "logsumexp", "norm")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("name", DIM_ALL_OPS)
def test_empty_dim_tuple_reduces_every_dimension(name, keepdim, dtype):
    """x.op(dim=()) = x.op(dim=(0, 1, 2)), as PyTorch (values, gradients, keepdim shape)."""
    x = _distinct((2, 3, 2), dtype)
    ours = _run(cr, lambda lib, t: getattr(t, name)(dim=(), keepdim=keepdim), x)
    # the oracle: every dimension named.  (PyTorch's own dim=() gives these values but an infinite
    # gradient for var/std, and raises for logsumexp without keepdim: bugs not copied.)
    extra = dict(p=2) if name == "norm" else {}  # (PyTorch's Frobenius norm takes at most 2 dims)
    ref = _run(_torch(), lambda lib, t: getattr(lib, name)(t, dim=(0, 1, 2), keepdim=keepdim, **extra), x)
    _same(ours, ref, dtype, f"{name}(dim=(), keepdim={keepdim})")
    assert ours[1].shape == ((1, 1, 1) if keepdim else ())


@pytest.mark.parametrize("name", ["sum", "mean", "amax", "amin", "var", "std", "norm"])
def test_empty_dim_tuple_matches_pytorch_itself(name):
    x = _distinct((2, 3), np.float64)
    torch = _torch()
    ours = _run(cr, lambda lib, t: getattr(lib, name)(t, dim=[], keepdim=True), x, grad=False)
    ref = _run(torch, lambda lib, t: getattr(lib, name)(t, dim=[], keepdim=True), x, grad=False)
    _same(ours, ref, np.float64, name)


def test_sum_of_empty_dim_tuple_without_pytorch():
    x = cr.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    y = x.sum(dim=())
    assert y.shape == () and y.item() == 15.0
    y.backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.ones((2, 3)))
    assert cr.mean(x, ()).item() == 2.5
    assert cr.amax(x, (), keepdim=True).shape == (1, 1)


@pytest.mark.parametrize("name", ["max", "min", "prod"])
def test_ops_taking_one_dim_reject_a_tuple(name):
    """max(x, dim), min(x, dim) and prod(x, dim) take an int, as PyTorch (a TypeError for a tuple)."""
    x = _distinct((2, 3), np.float64)
    for dim in [(), (0,)]:
        _both(lambda lib, t: getattr(lib, name)(t, dim), x, f"{name}(dim={dim})")
    with pytest.raises(TypeError, match=name):
        getattr(cr, name)(cr.tensor(x), (0,))


def test_any_all_with_empty_dim_tuple_reduce_nothing():
    """any/all(dim=()) reduce nothing in PyTorch (unlike sum): unchanged."""
    torch = _torch()
    x = np.array([[0.0, 1.0], [2.0, 0.0]])
    for name in ("any", "all"):
        ours = getattr(cr, name)(cr.tensor(x) > 0.5, dim=()).numpy()
        ref = getattr(torch, name)(torch.tensor(x) > 0.5, dim=()).numpy()
        np.testing.assert_array_equal(ours, ref)


# ---------------------------------------------------------------- empty tensors
EMPTY_OPS = ("sum", "mean", "amax", "amin", "max", "min", "var", "std", "logsumexp", "prod", "softmax",
             "log_softmax", "argmax", "argmin")
NEEDS_DIM = ("logsumexp", "softmax", "log_softmax")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(0,), (3, 0), (0, 3)])
@pytest.mark.parametrize("name", EMPTY_OPS)
def test_empty_tensors_as_pytorch(name, shape, dtype):
    """Every dim (and no dim): values, gradients, exception kinds and warnings as PyTorch."""
    x = np.zeros(shape, dtype)
    dims = list(range(len(shape))) + ([] if name in NEEDS_DIM else [None])
    for dim in dims:
        for keepdim in (False, True):
            if name in ("softmax", "log_softmax"):
                if keepdim:
                    continue
                fn = (lambda d: lambda lib, t: getattr(lib, name)(t, d))(dim)
            elif dim is None:
                if keepdim:
                    continue
                fn = lambda lib, t: getattr(lib, name)(t)  # noqa: E731
            else:
                fn = (lambda d, k: lambda lib, t: getattr(lib, name)(t, d, keepdim=k))(dim, keepdim)
            _both(fn, x, f"{name}{shape} dim={dim} keepdim={keepdim}")


def test_empty_reductions_without_pytorch():
    """The values that need no oracle: Σ∅ = 0, Π∅ = 1, mean of nothing NaN, log Σ∅ e^x = -inf."""
    x = cr.zeros((3, 0), requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no NumPy warning leaks
        np.testing.assert_array_equal(x.sum(1).detach().numpy(), [0.0, 0.0, 0.0])
        np.testing.assert_array_equal(cr.prod(x, 1).detach().numpy(), [1.0, 1.0, 1.0])
        assert np.isnan(x.mean(1).detach().numpy()).all()
        y = cr.logsumexp(x, 1)
        np.testing.assert_array_equal(y.detach().numpy(), [-INF] * 3)
        y.sum().backward()
        assert x.grad.shape == (3, 0)
        assert cr.softmax(x, 1).shape == (3, 0)


def test_max_of_an_empty_dimension_names_the_op_and_dim():
    x = cr.zeros((3, 0))
    with pytest.raises(IndexError, match=r"amax\(\): Expected reduction dim 1 to have non-zero size"):
        cr.amax(x, 1)
    with pytest.raises(IndexError, match=r"max\(\): Expected reduction dim 1 to have non-zero size"):
        x.max(dim=1)
    with pytest.raises(IndexError, match=r"argmin\(\): Expected reduction dim 1 to have non-zero size"):
        x.argmin(-1)
    with pytest.raises(RuntimeError, match=r"min\(\): Expected reduction dim to be specified for input.numel\(\) == 0"):
        x.min()


# ---------------------------------------------------------------- norm
NORM_PS = (2, 1, 3, INF, -INF, 0, "fro")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("p", NORM_PS)
def test_norm_as_pytorch(p, dtype):
    """Values and gradients, also at a zero row (gradient 0) and with ties (±inf: shared)."""
    x = np.array([[0.0, 0.0, 0.0], [3.0, -4.0, 1.0], [2.0, -2.0, 0.5], [1e-3, 0.0, -2e-3]], dtype)
    for dim in (None, 1, 0, (0, 1), -1):
        for keepdim in (False, True):
            _both(lambda lib, t: lib.norm(t, p, dim, keepdim), x, f"norm p={p} dim={dim} keepdim={keepdim}")
    _both(lambda lib, t: t.norm(p), x, f"Tensor.norm(p={p})")


@pytest.mark.parametrize("p", [2, 1, INF, 0, "fro"])
def test_norm_of_empty_tensors_as_pytorch(p):
    for shape in [(0,), (3, 0), (0, 3)]:
        x = np.zeros(shape, np.float64)
        for dim in [None] + list(range(len(shape))):
            _both(lambda lib, t: lib.norm(t, p, dim), x, f"norm p={p} {shape} dim={dim}")


def test_norm_errors_as_pytorch():
    torch = _torch()
    for args in [(np.arange(3), "fro", None), (np.ones((2, 3, 4)), "fro", (0, 1, 2)), (np.ones((2, 3)), "abc", None)]:
        with pytest.raises(RuntimeError):
            torch.norm(torch.tensor(args[0]), args[1], args[2])
        with pytest.raises(RuntimeError, match="norm"):
            cr.norm(cr.tensor(args[0]), args[1], args[2])


@pytest.mark.parametrize("p", [2, 1, 3, 1.5, INF, -INF])
def test_norm_gradcheck(p):
    x = cr.tensor(_distinct((3, 4), np.float64) + 0.05, requires_grad=True)  # no zero, no tie
    assert gradcheck(lambda t: cr.norm(t, p, 1), (x,), check_forward_ad=True)
    assert gradcheck(lambda t: cr.norm(t, p), (x,), check_forward_ad=True)
    if p not in (1, INF, -INF):  # (piecewise linear: no second derivative to check)
        assert gradgradcheck(lambda t: cr.norm(t, p, (0, 1)), (x,))


def test_norm_gradient_at_the_origin_is_zero():
    """‖x‖₂ has no derivative at x = 0; PyTorch's (and this) subgradient is 0, not 0/0."""
    x = cr.zeros(3, dtype=cr.float64, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cr.norm(x).backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.zeros(3))


# ---------------------------------------------------------------- var / std
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["var", "std"])
@pytest.mark.parametrize("kw", [dict(correction=0), dict(correction=1), dict(unbiased=True), dict(unbiased=False),
                                {}])
def test_var_std_of_one_element_as_pytorch(name, kw, dtype):
    """One element: 0 without correction; NaN and PyTorch's warning with correction=1 (no ZeroDivisionError)."""
    one = np.array([2.5], dtype)
    rows = np.array([[2.5], [-1.0], [4.0]], dtype)  # one element per row
    _both(lambda lib, t: getattr(lib, name)(t, **kw), one, f"{name}({kw})")
    _both(lambda lib, t: getattr(lib, name)(t, 0, **kw), one, f"{name}(dim=0, {kw})")
    _both(lambda lib, t: getattr(lib, name)(t, 1, keepdim=True, **kw), rows, f"{name}(rows, {kw})")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["var", "std"])
@pytest.mark.parametrize("correction", [0, 1])
def test_var_std_of_a_constant_as_pytorch(name, correction, dtype):
    """A constant input (exactly representable mean): value 0, gradient 0."""
    x = np.array([[3.0, 3.0, 3.0, 3.0], [-0.5, -0.5, -0.5, -0.5]], dtype)
    for dim in (None, 1, (0, 1)):
        _both(lambda lib, t: getattr(lib, name)(t, dim, correction=correction), x, f"{name} dim={dim}")


def test_std_gradient_of_a_constant_is_zero_not_nan():
    """d std / dx at a constant x: std = 0 there, PyTorch's convention is the subgradient 0."""
    for x_np in ([3.0, 3.0, 3.0], [7.0]):
        x = cr.tensor(x_np, requires_grad=True)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            y = cr.std(x, correction=0)
            y.backward()
        assert y.item() == 0.0
        np.testing.assert_array_equal(x.grad.numpy(), np.zeros(len(x_np)))
        g, = autograd_grad(cr.std(x, correction=0), [x], create_graph=True)  # the recorded backward too
        np.testing.assert_array_equal(g.detach().numpy(), np.zeros(len(x_np)))


def test_var_of_one_element_with_correction_is_nan_with_a_warning():
    x = cr.tensor([2.5], requires_grad=True)
    with pytest.warns(UserWarning, match=r"var\(\): degrees of freedom is <= 0"):
        y = cr.var(x)
    assert np.isnan(y.item())
    y.backward()  # no ZeroDivisionError: 2/(N - 1) = 2/0 = inf, times x - x̄ = 0
    assert np.isnan(x.grad.numpy()).all()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["var", "std"])
def test_var_std_of_random_input_as_pytorch(name, dtype):
    x = np.random.default_rng(3).standard_normal((3, 4, 2)).astype(dtype)
    for dim in (None, 0, (0, 2), -1):
        for kw in (dict(correction=0), dict(correction=1), dict(unbiased=False), dict(correction=2)):
            _both(lambda lib, t: getattr(lib, name)(t, dim, keepdim=True, **kw), x, f"{name} {dim} {kw}")


@pytest.mark.parametrize("dim", [None, 1, (0, 2)])
@pytest.mark.parametrize("correction", [0, 1])
def test_std_gradcheck(dim, correction):
    x = cr.tensor(np.random.default_rng(4).standard_normal((2, 3, 4)), requires_grad=True)

    def f(t):
        return cr.std(t, dim, correction=correction)

    assert gradcheck(f, (x,), check_forward_ad=True)
    assert gradgradcheck(f, (x,))


# ---------------------------------------------------------------- softmax, log_softmax, logsumexp
NONFINITE_ROWS = [[INF, 0.0, 1.0], [-INF, 0.0, 1.0], [-INF, -INF, -INF], [INF, INF, 0.0], [INF, -INF, 2.0],
                  [NAN, 0.0, 1.0], [-INF, 1.0, 2.0], [1.0, 2.0, 3.0]]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["softmax", "log_softmax", "logsumexp"])
@pytest.mark.parametrize("dim", [0, 1])
def test_non_finite_rows_as_pytorch(name, dim, dtype):
    """+inf in a row: NaN (softmax, log_softmax), +inf (logsumexp); an all -inf row: NaN / -inf;
    -inf entries: 0 probability.  Values, gradients, and no warning."""
    x = np.array(NONFINITE_ROWS, dtype)
    x = x if dim == 1 else x.T.copy()
    _both(lambda lib, t: getattr(lib, name)(t, dim), x, f"{name} dim={dim}")
    for row in NONFINITE_ROWS:  # one row at a time too (1-D)
        _both(lambda lib, t: getattr(lib, name)(t, 0), np.array(row, dtype), f"{name} {row}")


def test_softmax_of_inf_and_zero_is_nan_nan():
    """The issue's example: softmax([inf, 0]) = [nan, nan] (PyTorch's: inf - inf in the shifted exponent)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.isnan(cr.softmax(cr.tensor([INF, 0.0]), 0).numpy()).all()
        assert np.isnan(cr.log_softmax(cr.tensor([INF, 0.0]), 0).numpy()).all()
        np.testing.assert_array_equal(cr.softmax(cr.tensor([-INF, 0.0]), 0).numpy(), [0.0, 1.0])


@pytest.mark.parametrize("dtype", DTYPES)
def test_shifted_exp_shifts_every_row_by_its_maximum(kernel_path, dtype):
    """The row kernel and its NumPy twin: z = x - max_row x for every row (PyTorch's softmax), so a
    row with +inf or only -inf, or with a NaN, gives s = NaN; -inf entries give e = 0."""
    x = np.array([[1.0, NAN, 2.0], [1.0, INF, 2.0], [-INF, -INF, -INF], [0.0, -INF, 1.0]], dtype)
    z, e = np.empty_like(x), np.empty_like(x)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s = softmax_rows.shifted_exp(x, z, e)
    assert np.isnan(z[0]).all() and np.isnan(s[0])  # NaN max: everything NaN
    np.testing.assert_array_equal(z[1], [-INF, NAN, -INF])  # inf - inf = NaN
    assert np.isnan(e[1, 1]) and e[1, 0] == 0 and np.isnan(s[1])
    assert np.isnan(z[2]).all() and np.isnan(s[2])  # -inf - (-inf) = NaN
    np.testing.assert_array_equal(z[3], [-1.0, -INF, 0.0])
    np.testing.assert_allclose(e[3], [np.exp(-1.0), 0.0, 1.0], rtol=1e-6)
    np.testing.assert_allclose(s[3], 1.0 + np.exp(-1.0), rtol=1e-6)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kw", [{}, dict(label_smoothing=0.1), dict(weight=[1.0, 2.0, 0.5])])
def test_cross_entropy_of_non_finite_logits_as_pytorch(kernel_path, kw, dtype):
    torch = _torch()
    x = np.array(NONFINITE_ROWS, dtype)
    for target in ([1, 1, 1, 2, 2, 0, 0, 2], [0, 1, 2, 0, -100, 1, 0, -100]):
        def f(lib, t, target=target):
            extra = dict(kw)
            if "weight" in extra:
                extra["weight"] = lib.tensor(np.array(kw["weight"], dtype))
            return lib.nn.functional.cross_entropy(t, lib.tensor(np.array(target)), **extra)
        _same(_run(cr, f, x), _run(torch, f, x), dtype, f"cross_entropy {kw} {target}")


# ---------------------------------------------------------------- every target ignored
def _ce(kw, dtype):
    def f(lib, t):
        extra = dict(kw)
        if "weight" in extra:
            extra["weight"] = lib.tensor(np.array(kw["weight"], dtype))
        target = lib.tensor(np.array(extra.pop("target", [-100, -100, -100])))
        loss = getattr(lib.nn.functional, extra.pop("fn", "cross_entropy"))
        return loss(t, target, **extra)
    return f


ALL_IGNORED = [{}, dict(label_smoothing=0.2), dict(weight=[1.0, 2.0, 3.0]),
               dict(weight=[1.0, 2.0, 3.0], label_smoothing=0.1), dict(ignore_index=1, target=[1, 1, 1]),
               dict(fn="nll_loss"), dict(fn="nll_loss", weight=[1.0, 2.0, 3.0])]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("kw", ALL_IGNORED)
def test_every_target_ignored_as_pytorch(kw, reduction, dtype):
    """'mean': 0/0 = NaN loss and gradient 0; 'sum': 0; 'none': zeros.  No warning."""
    x = np.random.default_rng(5).standard_normal((3, 3)).astype(dtype)
    _both(_ce(dict(kw, reduction=reduction), dtype), x, f"{kw} {reduction}")


@pytest.mark.parametrize("kw", [{}, dict(label_smoothing=0.2), dict(weight=[1.0, 2.0, 3.0])])
def test_every_target_ignored_gives_nan_loss_and_zero_gradient(kw):
    """Without the oracle: the mean over no rows is 0/0 = NaN; no row contributes, so the gradient is 0,
    also in the recorded backward (create_graph) and in forward mode."""
    x = cr.tensor(np.random.default_rng(6).standard_normal((4, 3)), requires_grad=True)
    target = cr.tensor(np.array([-100] * 4))
    w = kw.get("weight")
    extra = dict(kw, weight=cr.tensor(w)) if w else kw
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss = F.cross_entropy(x, target, **extra)
        assert np.isnan(loss.item())
        g, = autograd_grad(loss, [x], create_graph=True)
        np.testing.assert_array_equal(g.detach().numpy(), np.zeros((4, 3)))
        loss.backward()
        np.testing.assert_array_equal(x.grad.numpy(), np.zeros((4, 3)))
        _, dy = cr.func.jvp(lambda t: F.cross_entropy(t, target, **extra), (x.detach(),),
                            (cr.ones((4, 3), dtype=cr.float64),))
        assert np.isnan(dy.item())  # d(0/0) = NaN, as the value


# ---------------------------------------------------------------- prod
def _with_zeros(dtype):
    """Rows with no zero, one zero, two zeros, all zeros (and a negative sign)."""
    return np.array([[1.5, -2.0, 0.5, 3.0], [1.5, 0.0, -0.5, 2.0], [0.0, 2.0, 0.0, -1.5], [0.0, 0.0, 0.0, 0.0]],
                    dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("keepdim", [False, True])
def test_prod_as_pytorch(keepdim, dtype):
    x = _with_zeros(dtype)
    for dim in (0, 1, -1):
        _both(lambda lib, t: lib.prod(t, dim, keepdim=keepdim), x, f"prod dim={dim}")
        _both(lambda lib, t: t.prod(dim, keepdim), x, f"Tensor.prod dim={dim}")
    for rows in (x[:1], x[1:2], x[2:3], x):  # no zero, one zero, two zeros, many zeros in total
        _both(lambda lib, t: lib.prod(t), rows, f"prod {rows.tolist()}")
    _both(lambda lib, t: lib.prod(t, 0), np.array(2.5, dtype), "prod of a 0-d tensor")


def test_prod_dtypes_as_pytorch():
    torch = _torch()
    for a in (np.array([[1, 2, 3], [4, 5, 6]], np.int32), np.array([[True, False], [True, True]])):
        for dim in (None, 0):
            ours = (cr.prod(cr.tensor(a)) if dim is None else cr.prod(cr.tensor(a), dim)).numpy()
            ref = (torch.prod(torch.tensor(a)) if dim is None else torch.prod(torch.tensor(a), dim)).numpy()
            assert ours.dtype == ref.dtype == np.int64
            np.testing.assert_array_equal(ours, ref)
    x = np.array([1.5, 2.0, 3.0], np.float32)
    ours = cr.prod(cr.tensor(x), dtype=cr.float64).numpy()
    ref = torch.prod(torch.tensor(x), dtype=torch.float64).numpy()
    assert ours.dtype == ref.dtype == np.float64 and ours == ref


def test_prod_gradient_is_the_product_of_the_others():
    """∂/∂x_i Π_j x_j = Π_{j≠i} x_j, exactly, also where x has zeros (no 0/0)."""
    x_np = _with_zeros(np.float64)
    for dim in (None, 0, 1):
        x = cr.tensor(x_np, requires_grad=True)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            cr.prod(x, dim).sum().backward() if dim is not None else cr.prod(x).backward()
        want = np.empty_like(x_np)
        for idx in np.ndindex(*x_np.shape):
            others = x_np.copy()
            if dim is None:
                others[idx] = 1.0
                want[idx] = others.prod()
            else:
                line = np.take(others, idx[1 - dim], axis=1 - dim).copy()
                line[idx[dim]] = 1.0
                want[idx] = line.prod()
        np.testing.assert_array_equal(x.grad.numpy(), want)


@pytest.mark.parametrize("case", ["none", "one zero", "two zeros", "all zeros"])
@pytest.mark.parametrize("dim", [None, 0, 1])
def test_prod_gradcheck(case, dim):
    rng = np.random.default_rng(8)
    x_np = rng.uniform(0.5, 1.5, (3, 4)) * rng.choice([-1.0, 1.0], (3, 4))
    zeros = {"none": [], "one zero": [(1, 2)], "two zeros": [(1, 2), (1, 0)], "all zeros": list(np.ndindex(3, 4))}
    for idx in zeros[case]:
        x_np[idx] = 0.0
    x = cr.tensor(x_np, requires_grad=True)

    def f(t):
        return cr.prod(t) if dim is None else cr.prod(t, dim)

    assert gradcheck(f, (x,), check_forward_ad=True)
    assert gradgradcheck(f, (x,))


def test_prod_gradcheck_broadcast_and_keepdim():
    rng = np.random.default_rng(9)
    a = cr.tensor(rng.uniform(0.5, 1.5, (3, 1)), requires_grad=True)
    b = cr.tensor(np.array([[1.2, 0.0, -0.7, 0.9]]), requires_grad=True)
    assert gradcheck(lambda s, t: cr.prod(s * t, 1, keepdim=True), (a, b), check_forward_ad=True)
    assert gradgradcheck(lambda s, t: cr.prod(s * t, 0), (a, b))
    c = cr.tensor(np.array([[[0.0, 1.3]], [[0.8, -1.1]]]), requires_grad=True)
    assert gradcheck(lambda s: cr.prod(s.expand(2, 3, 2), 1), (c,), check_forward_ad=True)  # Π of copies: s³
    assert gradgradcheck(lambda s: cr.prod(s.expand(2, 3, 2), 1), (c,))


def test_prod_of_empty_shapes_gradients():
    for shape, dim, out in [((3, 0), 1, (3,)), ((0, 3), 1, (0,)), ((0,), None, ())]:
        x = cr.zeros(shape, dtype=cr.float64, requires_grad=True)
        y = cr.prod(x) if dim is None else cr.prod(x, dim)
        assert y.shape == out
        np.testing.assert_array_equal(y.detach().numpy(), np.ones(out))
        y.sum().backward()
        assert x.grad.shape == shape


def test_the_sum_of_unsigned_integers_is_int64():
    """As PyTorch: an image's uint8 pixels sum to an int64 (NumPy's sum gives uint64)."""
    x = cr.tensor(np.array([[200, 100], [255, 1]], dtype=np.uint8))
    for s in (x.sum(), x.sum(0), cr.sum(x, dim=1, keepdim=True)):
        assert s.dtype == cr.int64
    assert x.sum().item() == 556
