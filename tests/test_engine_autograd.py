"""The reverse-mode engine: the classic autograd bugs, one test each.

Expected values come from hand-derived formulas (stated next to each
assertion) or from finite differences.
"""

from __future__ import annotations

import gc
import tracemalloc
import weakref

import numpy as np
import pytest

import chainrule as cr
from chainrule.autograd.gradcheck import gradcheck


def leaf(values, dtype=cr.float64) -> cr.Tensor:
    return cr.tensor(values, dtype=dtype, requires_grad=True)


# ---------------------------------------------------------------- accumulation in the graph
def test_non_leaf_used_several_times_gets_the_sum_of_its_contributions():
    x = leaf([1.0, -2.0, 3.0])
    y = x * 2  # a non-leaf
    z = (y * y + y * 3 + y).sum()  # dz/dy = 2y + 4;  dz/dx = 2 (2y + 4) = 8x + 8
    z.backward()
    np.testing.assert_allclose(x.grad.numpy(), 8 * x.detach().numpy() + 8)


def test_diamond_graph():
    x = leaf([0.5, 1.5])
    a = x.exp()
    b = a * x  # x e^x
    c = a + b  # e^x + x e^x; dc/dx = e^x + e^x + x e^x = (2 + x) e^x
    c.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), (2 + x._array) * np.exp(x._array))


def test_same_tensor_as_both_operands():
    x = leaf([3.0])
    (x * x).backward(cr.tensor([1.0], dtype=cr.float64))  # d(x²)/dx = 2x
    assert x.grad.item() == 6.0
    x.grad = None
    (x + x + x).sum().backward()
    assert x.grad.item() == 3.0


@pytest.mark.parametrize("shape", [(), (3,), (5000,)])
def test_a_leaf_used_many_times_gets_every_contribution(shape):
    """Small leaf gradients are summed once at the end of the walk, large ones as they come."""
    rng = np.random.default_rng(5)
    w = leaf(rng.standard_normal(shape))
    cs = [cr.tensor(rng.standard_normal(shape), dtype=cr.float64) for _ in range(300)]
    total = w * cs[0]
    for c in cs[1:]:
        total = total + (w * c).tanh()
    total.sum().backward()
    expected = cs[0]._array + sum(c._array * (1 - np.tanh(w._array * c._array) ** 2) for c in cs[1:])
    # 300 terms of size ~1: summation order changes the last bits (absolute 1e-14)
    np.testing.assert_allclose(w.grad.numpy(), expected, rtol=1e-10, atol=1e-12)
    assert type(w.grad._array) is np.ndarray and w.grad.shape == shape


def test_leaf_gradient_accumulates_across_backward_calls():
    x = leaf([1.0, 2.0])
    (x * 3).sum().backward()
    (x * x).sum().backward()  # 3 + 2x
    np.testing.assert_array_equal(x.grad.numpy(), [5.0, 7.0])


# ---------------------------------------------------------------- shapes of gradients
@pytest.mark.parametrize("dim", [(0, 2), (-1, 0), -2, (1,), None, (-3, -2, -1)])
@pytest.mark.parametrize("keepdim", [False, True])
def test_reduction_gradients_have_the_input_shape(dim, keepdim):
    x = leaf(np.arange(24.0).reshape(2, 3, 4))
    s = x.sum(dim, keepdim=keepdim) if dim is not None else x.sum()
    w = cr.tensor(np.arange(1.0, s.numel() + 1).reshape(s.shape), dtype=cr.float64)
    (s * w).sum().backward()
    assert x.grad.shape == (2, 3, 4)
    # d/dx sum(w * sum_dim x) = w broadcast back over the reduced axes
    axes = tuple(range(3)) if dim is None else tuple(d % 3 for d in np.atleast_1d(dim))
    expected = np.broadcast_to(w.numpy().reshape([1 if i in axes else n for i, n in enumerate((2, 3, 4))]),
                               (2, 3, 4))
    np.testing.assert_array_equal(x.grad.numpy(), expected)


def test_broadcast_gradients_are_summed_back():
    a = leaf(np.ones((3, 1)))
    b = leaf(np.ones((4,)))
    c = leaf(2.0)
    (a * b * c).sum().backward()
    # each a[i] meets 4 b's, each b[j] meets 3 a's, c meets all 12 products
    np.testing.assert_array_equal(a.grad.numpy(), np.full((3, 1), 8.0))
    np.testing.assert_array_equal(b.grad.numpy(), np.full((4,), 6.0))
    assert c.grad.shape == () and c.grad.item() == 12.0


# ---------------------------------------------------------------- dtypes
def _float32_graph(x, y):
    """Every kind of mixing that must not change float32: Python floats, NumPy float64
    scalars, 0-d float64 tensors, int64 tensors."""
    c64 = cr.tensor(0.5, dtype=cr.float64)
    n = cr.tensor([1, 2, 3])
    z = (x * 2.5 + 1.0) / 3.0 - np.float64(0.25) * y
    z = z * c64 + n - (2 - z) ** 2 + z**np.float64(2.0)
    z = cr.maximum(z, y) + cr.minimum(z, y * 0.5) + cr.where(x > 0, z, 1.5)
    z = z.tanh() + z.sigmoid() + z.exp() * 1e-3 + (z * z + 1).log() + (z * z + 1).sqrt() + z.abs()
    z = z.relu() + z.clamp(-1.0, 1.0) + z.sin() * z.cos()
    m = z.reshape(3, 1) @ y.reshape(1, 3)
    z = m.softmax(-1).sum(0) + m.log_softmax(0).mean(1) + m.logsumexp(1) + m.var(0) + m.std(1)
    z = z + m.max(0).values + m.amin(1) + m[[0, 0, 2], 1] + m.T[0] + cr.cat([z, z])[:3] + z.flip(0)
    return z.sum() / 2


def test_float32_stays_float32_through_every_op_and_its_gradient():
    rng = np.random.default_rng(0)
    x = cr.tensor(rng.uniform(0.2, 1.0, 3), dtype=cr.float32, requires_grad=True)
    y = cr.tensor(rng.uniform(0.2, 1.0, 3), dtype=cr.float32, requires_grad=True)
    out = _float32_graph(x, y)
    assert out.dtype == np.float32
    out.backward()
    assert x.grad.dtype == np.float32 and y.grad.dtype == np.float32
    # the same graph in float64 gives the same gradient up to float32 rounding
    x64 = cr.tensor(x._array, dtype=cr.float64, requires_grad=True)
    y64 = cr.tensor(y._array, dtype=cr.float64, requires_grad=True)
    _float32_graph(x64, y64).backward()
    np.testing.assert_allclose(x.grad.numpy(), x64.grad.numpy(), rtol=1e-4, atol=1e-5)


def test_leaf_grad_has_the_leafs_dtype_even_when_the_graph_is_float64():
    """The rule: a leaf's .grad always has the leaf's dtype.  A float32 leaf mixed with a
    float64 *tensor* of the same rank gives a float64 result (as PyTorch), and the
    gradient is converted back to float32 on its way into x.grad."""
    x = leaf([1.0, 2.0], dtype=cr.float32)
    w = leaf([3.0, 4.0], dtype=cr.float64)
    y = x * w
    assert y.dtype == np.float64
    y.sum().backward()
    assert x.grad.dtype == np.float32 and w.grad.dtype == np.float64
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 4.0])


def test_promotion_follows_pytorch_not_numpy():
    f32 = cr.ones(3)
    assert (f32 * cr.tensor(2.0, dtype=cr.float64)).dtype == np.float32  # 0-d does not promote
    assert (f32 + cr.tensor([1, 2, 3])).dtype == np.float32  # int64 does not promote
    assert (cr.tensor([1, 2, 3]) * cr.tensor(0.5, dtype=cr.float64)).dtype == np.float64  # higher category
    assert (cr.tensor([1, 2, 3]) * 0.5).dtype == np.float32  # Python float: default dtype
    assert (cr.tensor([1, 2, 3]) * 2).dtype == np.int64
    assert (cr.tensor([1, 2, 3]) / 2).dtype == np.float32  # true division of ints
    assert (f32 * cr.ones(3, dtype=cr.float64)).dtype == np.float64  # both dimensioned


# ---------------------------------------------------------------- identity, retain, free
def test_equal_valued_leaves_are_distinct():
    a = leaf([1.0, 2.0])
    b = leaf([1.0, 2.0])
    assert len({a, b}) == 2
    d = {a: "a", b: "b"}
    assert d[a] == "a" and d[b] == "b"
    (a * 2 + b * 3).sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), [2.0, 2.0])
    np.testing.assert_array_equal(b.grad.numpy(), [3.0, 3.0])


def test_second_backward_with_retain_graph_accumulates_exactly_twice():
    x = leaf([0.3, -1.2, 2.0])
    y = (x.sin() * x).sum()
    y.backward(retain_graph=True)
    first = x.grad.numpy().copy()
    y.backward()
    np.testing.assert_array_equal(x.grad.numpy(), 2 * first)
    np.testing.assert_allclose(first, np.sin(x._array) + x._array * np.cos(x._array))


def test_second_backward_through_a_freed_graph_raises():
    x = leaf([1.0, 2.0])
    y = (x.exp() * 2).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        y.backward()


def test_backward_on_a_non_scalar_needs_a_gradient():
    x = leaf([1.0, 2.0])
    with pytest.raises(RuntimeError, match="scalar outputs"):
        (x * 2).backward()
    with pytest.raises(RuntimeError, match="shape"):
        (x * 2).backward(cr.ones(3, dtype=cr.float64))
    (x * 2).backward(cr.tensor([1.0, -1.0], dtype=cr.float64))
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, -2.0])


def test_backward_on_a_tensor_without_grad_raises():
    with pytest.raises(RuntimeError, match="does not require grad"):
        cr.ones(2).sum().backward()


# ---------------------------------------------------------------- numerics at the extremes
def test_softmax_family_with_minus_inf_inputs_gives_finite_gradients():
    x = leaf([0.5, -np.inf, 1.5, -np.inf])
    w = cr.tensor([1.0, 2.0, 3.0, 4.0], dtype=cr.float64)
    p = cr.softmax(x, 0)
    (p * w).sum().backward()
    assert np.all(np.isfinite(x.grad.numpy()))
    e = np.exp([0.5, 1.5]) / np.exp([0.5, 1.5]).sum()
    # d/dx_k Σ w p = p_k (w_k - Σ w p); the -inf entries have p = 0 and gradient 0
    expected = np.array([e[0] * (1 - (e[0] + 3 * e[1])), 0.0, e[1] * (3 - (e[0] + 3 * e[1])), 0.0])
    np.testing.assert_allclose(x.grad.numpy(), expected, rtol=1e-12)

    x.grad = None
    lse = cr.logsumexp(x, 0)
    np.testing.assert_allclose(lse.item(), np.log(np.exp(0.5) + np.exp(1.5)), rtol=1e-12)
    lse.backward()
    np.testing.assert_allclose(x.grad.numpy(), [e[0], 0.0, e[1], 0.0], rtol=1e-12)

    x.grad = None
    ls = cr.log_softmax(x, 0)
    (ls[0] + ls[2]).backward()  # d/dx (ls_0 + ls_2) = onehot_0 + onehot_2 - 2 p
    np.testing.assert_allclose(x.grad.numpy(), [1 - 2 * e[0], 0.0, 1 - 2 * e[1], 0.0], rtol=1e-12)


@pytest.mark.parametrize("dtype", [cr.float32, cr.float64])
def test_softmax_family_exact_for_huge_logits(dtype):
    """Logits ±1000: exp overflows unless shifted; the closed forms use the differences."""
    x = cr.tensor([1000.0, 999.0, -1000.0], dtype=dtype, requires_grad=True)
    d = np.exp(-1.0)
    p = np.array([1 / (1 + d), d / (1 + d), 0.0])  # e^-2000 underflows to 0 in either dtype
    # float32: x - logsumexp(x) carries the rounding of 1000.31 (ulp 6e-5), nothing worse
    tol = 1e-4 if dtype == cr.float32 else 1e-13
    np.testing.assert_allclose(cr.softmax(x, 0).detach().numpy(), p, rtol=tol)
    lse = cr.logsumexp(x, 0)
    np.testing.assert_allclose(lse.item(), 1000 + np.log1p(d), rtol=tol)
    lse.backward()
    np.testing.assert_allclose(x.grad.numpy(), p, rtol=tol, atol=tol)
    x.grad = None
    ls = cr.log_softmax(x, 0)
    np.testing.assert_allclose(ls.detach().numpy()[:2], [-np.log1p(d), -1 - np.log1p(d)], rtol=tol)
    ls[0].backward()  # d ls_0 / dx = onehot_0 - p
    np.testing.assert_allclose(x.grad.numpy(), np.array([1.0, 0, 0]) - p, rtol=tol, atol=tol)
    assert x.grad.dtype == dtype


# ---------------------------------------------------------------- long chains and memory
def test_a_100000_op_chain_backpropagates():
    x = leaf([1.0])
    h = x
    for _ in range(100_000):
        h = h * 1.0 + 0.0  # two ops per step: 200,000 nodes, exact in floating point
    h.backward()
    assert x.grad.item() == 1.0

    y = leaf([0.5])
    h = y
    for _ in range(100_000):
        h = h * 0.9999  # d h / dy = 0.9999 ** 100000
    h.backward()
    np.testing.assert_allclose(y.grad.item(), 0.9999**100_000, rtol=1e-9)


def test_total_loss_with_item_keeps_no_graph_and_memory_stays_flat():
    w = leaf(np.ones(64))
    x = cr.tensor(np.linspace(-1, 1, 64))

    def step(total):
        w.grad = None
        loss = ((w * x).tanh() * x).sum()
        loss.backward()
        total += loss.item()
        return total, weakref.ref(loss)

    total = 0.0
    total, first = step(total)
    gc.collect()
    assert first() is None  # nothing keeps the step's graph alive
    tracemalloc.start()
    # the first steps fill Python's free lists (small tuples...), which tracemalloc counts
    for _ in range(3000):
        total, _ = step(total)
    base = tracemalloc.get_traced_memory()[0]
    for _ in range(10_000):
        total, _ = step(total)
    grown = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    # a leak of even one float64 per step would be 80,000 bytes
    assert grown < 16 * 1024, f"memory grew by {grown} bytes over 10,000 steps"
    assert isinstance(total, float)


def test_graph_is_released_after_backward():
    x = leaf(np.ones(5))
    h = x.exp()
    mid = weakref.ref(h)
    y = (h * 2).sum()
    del h
    assert mid() is not None  # the graph still holds the intermediate
    y.backward()
    gc.collect()
    assert mid() is None  # ... and backward freed it
    assert y.grad_fn is not None  # the output itself keeps its op for printing


def test_no_grad_records_no_graph():
    x = leaf([1.0, 2.0])
    with cr.no_grad():
        y = (x * 2).exp().sum()
        z = x[0] + x.sum()
    assert y.grad_fn is None and not y.requires_grad
    assert z.grad_fn is None and not z.requires_grad

    @cr.no_grad()
    def f(t):
        return t * 3

    assert f(x).grad_fn is None
    assert (x * 3).grad_fn is not None
    with cr.no_grad():
        with cr.enable_grad():
            assert (x * 3).requires_grad
    cr.set_grad_enabled(False)
    try:
        assert not (x * 3).requires_grad
    finally:
        cr.set_grad_enabled(True)
    assert cr.is_grad_enabled()


# ---------------------------------------------------------------- values of gradients
def test_zero_upstream_gradient_gives_zero():
    x = leaf([0.5, -1.0, 2.0])
    y = (x.exp() * x.sin()).log1p() * x
    y.backward(cr.zeros(3, dtype=cr.float64))
    np.testing.assert_array_equal(x.grad.numpy(), np.zeros(3))


def test_backward_does_not_mutate_inputs():
    rng = np.random.default_rng(0)
    a, b = leaf(rng.standard_normal((3, 4))), leaf(rng.standard_normal((4, 2)))
    a0, b0 = a._array.copy(), b._array.copy()
    g = cr.tensor(rng.standard_normal((3, 2)), dtype=cr.float64)
    g0 = g._array.copy()
    out = (a @ b).tanh() + a.sum(1, keepdim=True)
    out.backward(g)
    np.testing.assert_array_equal(a._array, a0)
    np.testing.assert_array_equal(b._array, b0)
    np.testing.assert_array_equal(g._array, g0)
    grad_a = a.grad._array.copy()
    a.grad._array += 1.0  # the user owns .grad: changing it must not change anything else
    np.testing.assert_array_equal(a.grad._array, grad_a + 1)


def test_grad_of_add_is_owned_by_each_input():
    """Add hands the same adjoint to both inputs; each leaf must get its own array."""
    a, b = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    (a + b).sum().backward()
    a.grad._array[0] = 100.0
    assert b.grad._array[0] == 1.0


def test_leaf_grads_never_share_memory():
    """.grad arrays are owned: matmul's fresh results are kept as they are, anything that may
    be shared (add's adjoint handed to two inputs, reshape views, the user's seed) is copied."""
    rng = np.random.default_rng(4)
    x, w = leaf(rng.standard_normal((3, 4))), leaf(rng.standard_normal((4, 2)))
    b, r = leaf(rng.standard_normal((3, 2))), leaf(rng.standard_normal(6))
    seed = cr.tensor(rng.standard_normal((3, 2)), dtype=cr.float64)
    out = x @ w + b + r.reshape(3, 2)
    out.backward(seed)
    grads = [x.grad._array, w.grad._array, b.grad._array, r.grad._array, seed._array, out._array]
    for i, g in enumerate(grads[:4]):
        for j, h in enumerate(grads):
            if i != j:
                assert not np.shares_memory(g, h), (i, j)
    np.testing.assert_allclose(w.grad.numpy(), x._array.T @ seed._array)
    np.testing.assert_array_equal(b.grad.numpy(), seed._array)


def test_create_graph_hessian_vector_product():
    """f(x) = Σ x_i³ x_{i+1}: Hv computed by differentiating g·v, checked against the Hessian."""
    rng = np.random.default_rng(1)
    x = leaf(rng.standard_normal(4))
    v = cr.tensor(rng.standard_normal(4), dtype=cr.float64)
    f = (x[:-1] ** 3 * x[1:]).sum()
    (g,) = cr.autograd.grad(f, x, create_graph=True)
    (hv,) = cr.autograd.grad((g * v).sum(), x)
    xs = x._array
    H = np.zeros((4, 4))
    for i in range(3):  # the term x_i³ x_{i+1}
        H[i, i] += 6 * xs[i] * xs[i + 1]
        H[i, i + 1] += 3 * xs[i] ** 2
        H[i + 1, i] += 3 * xs[i] ** 2
    np.testing.assert_allclose(hv.numpy(), H @ v.numpy(), rtol=1e-12)


def test_create_graph_backward_gives_second_derivative_in_grad():
    x = leaf([2.0])
    y = x**4
    y.backward(create_graph=True)  # x.grad = 4x³ (differentiable)
    assert x.grad.requires_grad
    (gx,) = cr.autograd.grad(x.grad.sum(), x)
    assert gx.item() == 12 * 2.0**2


def test_autograd_grad_leaves_dot_grad_alone_and_reports_unused():
    x, z = leaf([1.0, 2.0]), leaf([5.0])
    y = (x * x).sum()
    (gx,) = cr.autograd.grad(y, x, retain_graph=True)
    np.testing.assert_array_equal(gx.numpy(), [2.0, 4.0])
    assert x.grad is None
    with pytest.raises(RuntimeError, match="not used"):
        cr.autograd.grad(y, [x, z], retain_graph=True)
    gx, gz = cr.autograd.grad(y, [x, z], allow_unused=True)
    assert gz is None


def test_autograd_grad_materialize_grads_gives_zeros_for_unused_inputs():
    """PyTorch's ``materialize_grads=True``: an unused input's gradient is zeros of its shape
    (allow_unused then defaults to True; allow_unused=False with it is a ValueError)."""
    x, z = leaf([1.0, 2.0]), leaf([[5.0, 6.0, 7.0]])
    y = (x * x).sum()
    gx, gz = cr.autograd.grad(y, [x, z], retain_graph=True, materialize_grads=True)
    np.testing.assert_array_equal(gx.numpy(), [2.0, 4.0])
    np.testing.assert_array_equal(gz.numpy(), [[0.0, 0.0, 0.0]])
    assert gz.dtype == z.dtype and not gz.requires_grad
    with pytest.raises(ValueError, match="allow_unused=False"):
        cr.autograd.grad(y, [x, z], retain_graph=True, allow_unused=False, materialize_grads=True)
    # with create_graph the zeros take part in a further differentiation, as the other gradients
    gx, gz = cr.autograd.grad(y, [x, z], create_graph=True, materialize_grads=True)
    assert gz.requires_grad
    np.testing.assert_array_equal(gz.detach().numpy(), [[0.0, 0.0, 0.0]])


def test_backward_of_several_outputs_one_feeding_the_other():
    """backward([y, z]) with z = 3y, y = x²: dx = 2x (gy + 3 gz)."""
    x = leaf([1.0, 2.0])
    y = x * x
    z = y * 3
    gy, gz = cr.tensor([1.0, 0.5], dtype=cr.float64), cr.tensor([2.0, -1.0], dtype=cr.float64)
    cr.autograd.backward([z, y], [gz, gy])
    np.testing.assert_array_equal(x.grad.numpy(), 2 * x._array * (gy._array + 3 * gz._array))


def test_backward_inputs_restricts_accumulation():
    a, b = leaf([1.0]), leaf([2.0])
    (a * b).sum().backward(inputs=[a])
    assert a.grad.item() == 2.0 and b.grad is None


# ---------------------------------------------------------------- hooks and retain_grad
def test_retain_grad_and_hooks():
    x = leaf([1.0, 2.0])
    h = x * 3
    h.retain_grad()
    seen = []
    h.register_hook(lambda g: seen.append(g.numpy().copy()))
    x.register_hook(lambda g: g * 10)  # replaces the leaf's gradient
    (h * h).sum().backward()
    np.testing.assert_array_equal(h.grad.numpy(), 2 * h._array)
    np.testing.assert_array_equal(seen[0], 2 * h._array)
    np.testing.assert_array_equal(x.grad.numpy(), 10 * 3 * 2 * h._array)


def test_leaf_hook_sees_the_whole_gradient_once():
    """A leaf used twice: its hook is called once, with the sum (as PyTorch)."""
    x = leaf([1.0, 2.0])
    calls = []
    x.register_hook(lambda g: calls.append(g.tolist()))
    (x * 2 + x * 3).sum().backward()
    assert calls == [[5.0, 5.0]] and x.grad.tolist() == [5.0, 5.0]
    w = leaf([1.0])
    w.register_hook(lambda g: g / g.abs())  # a non-linear hook: normalise the total
    (w * 2 + w * 3).sum().backward()
    assert w.grad.item() == 1.0


def test_hook_handle_remove():
    x = leaf([1.0])
    handle = x.register_hook(lambda g: g * 0)
    handle.remove()
    (x * 2).sum().backward()
    assert x.grad.item() == 2.0


# ---------------------------------------------------------------- a whole model against finite differences
def test_engine_gradients_of_a_shared_weight_network():
    """A weight used in two places and a non-leaf fanned out three ways."""
    rng = np.random.default_rng(2)
    w = leaf(rng.standard_normal((3, 3)) * 0.5)
    x = cr.tensor(rng.standard_normal((2, 3)), dtype=cr.float64)

    def f(w):
        h = (x @ w).tanh()
        h2 = (h @ w).sigmoid()
        return (h * h2 + h.exp() - h.mean(0)).sum()

    assert gradcheck(f, (w,))


def test_a_gradient_per_output_or_pytorchs_error():
    """backward and grad need one gradient per output: PyTorch raises RuntimeError
    ("got 2 tensors and 1 gradients"); grad used to drop the second output silently."""
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    outs = [x.sum(), (x * 2).sum()]
    with pytest.raises(RuntimeError, match="got 2 tensors and 1 gradients"):
        cr.autograd.grad(outs, [x], [cr.tensor(1.0)], retain_graph=True)
    with pytest.raises(RuntimeError, match="got 2 tensors and 1 gradients"):
        cr.autograd.backward(outs, [cr.tensor(1.0)])


def test_the_general_walk_frees_each_leaf_gradient_as_it_delivers_it():
    """With a hook registered (the general walk), the leaves' summed gradients are delivered at
    the end, each copied into ``.grad``: the walk must let go of each sum once delivered, so
    that its peak holds one spare gradient, not a second set."""
    w = [cr.tensor(np.ones((512, 512)), requires_grad=True) for _ in range(4)]  # 2 MiB each
    x = cr.tensor(np.ones((2, 512)))
    h = x
    for wi in w:
        h = h @ wi
    h.register_hook(lambda g: g)  # (a hook: the general walk)
    loss = h.sum()
    tracemalloc.start()
    try:
        start = tracemalloc.get_traced_memory()[0]
        loss.backward()
        now, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    one = 512 * 512 * 8
    assert now - start >= 4 * one  # the four gradients
    assert peak - start < 5.5 * one, (peak - start) / one  # and at most one more, while copying
    for wi in w:
        assert wi.grad is not None and wi.grad.shape == (512, 512)


def test_backward_goes_back_to_its_lean_walk_once_the_hooked_tensors_are_gone():
    """A hook or ``retain_grad`` puts backward on the general walk (which runs them) while the
    tensor lives, and only then: one ``retain_grad`` while debugging must not slow every later
    step (the general walk measured 10-13 % slower on w1 and w2 at batch 16).  A deep copy of a
    hooked tensor keeps its hooks running after the original is gone.  In a fresh interpreter:
    the count of hooked tensors is process-wide."""
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent("""
        import copy, gc
        import numpy as np
        import chainrule as cr
        from chainrule.autograd import engine
        walks = []
        lean, general = engine._walk_simple, engine._walk
        engine._walk_simple = lambda *a, **k: (walks.append("lean"), lean(*a, **k))[1]
        engine._walk = lambda *a, **k: (walks.append("general"), general(*a, **k))[1]
        w = cr.tensor(np.ones((3, 3)), requires_grad=True)
        h = w * 2
        h.retain_grad()
        (h * h).sum().backward()
        print(h.grad.numpy().tolist() == [[4.0] * 3] * 3, walks[-1])
        del h
        gc.collect()
        (w * w).sum().backward()
        print(walks[-1])
        seen = []
        t = cr.tensor(np.ones(2), requires_grad=True)
        t.register_hook(lambda g: seen.append(1) or g)
        c = copy.deepcopy(t)
        del t
        gc.collect()
        (c * 2).sum().backward()
        print(seen == [1], walks[-1])
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", "general", "lean", "True", "general"]


# ---------------------------------------------------------------- autograd.grad's deprecated only_inputs
def test_grad_accepts_only_inputs_as_pytorch_does():
    """WGAN-GP scripts pass only_inputs=True; PyTorch ignores it (and warns when it is False)."""
    x = leaf([1.0, -2.0])
    y = (x * x).sum()  # dy/dx = 2x
    (g,) = cr.autograd.grad(outputs=y, inputs=x, create_graph=True, retain_graph=True, only_inputs=True)
    np.testing.assert_allclose(g.detach().numpy(), [2.0, -4.0])
    with pytest.warns(FutureWarning, match="only_inputs argument is deprecated"):
        (g,) = cr.autograd.grad(y, x, None, None, False, False)  # positional, in PyTorch's order
    np.testing.assert_allclose(g.numpy(), [2.0, -4.0])
    assert x.grad is None
