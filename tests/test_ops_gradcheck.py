"""Every primitive and tensor function against central finite differences (float64).

Inputs come from hypothesis strategies: mutually broadcastable shapes for the
binary ops, random dims/keepdim for the reductions, and a safe value range per
op (log on [0.2, 2], denominators away from 0, abs/relu/max away from their
kinks), so that the finite differences themselves are accurate.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import chainrule as cr
from chainrule.autograd.gradcheck import gradcheck

FAST = settings(max_examples=6, deadline=None, derandomize=True)
SHAPE = hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=3)
PAIR = hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, min_side=1, max_side=3)
SEED = st.integers(0, 2**31 - 1)


def leaf(values) -> cr.Tensor:
    return cr.tensor(np.asarray(values, dtype=np.float64), requires_grad=True)


def uniform(rng, shape, lo, hi) -> cr.Tensor:
    return leaf(rng.uniform(lo, hi, size=shape))


def away_from_zero(rng, shape, lo=0.2, hi=2.0) -> cr.Tensor:
    """|x| in [lo, hi] with a random sign: no kink of abs/relu/sign within reach of eps."""
    return leaf(rng.uniform(lo, hi, size=shape) * rng.choice([-1.0, 1.0], size=shape))


def distinct(rng, shape) -> cr.Tensor:
    """Values at least 0.1 apart (no ties for max/min), in random order."""
    n = int(np.prod(shape))
    vals = (rng.permutation(n) + rng.uniform(0.1, 0.6, size=n)) * 0.3 - 0.1 * n
    return leaf(vals.reshape(shape))


# ---------------------------------------------------------------- unary elementwise
UNARY = {
    "neg": (lambda x: -x, (-2, 2)),
    "neg_fn": (cr.neg, (-2, 2)),
    "exp": (cr.exp, (-2, 2)),
    "log": (cr.log, (0.2, 2)),
    "log1p": (cr.log1p, (-0.5, 2)),
    "sqrt": (cr.sqrt, (0.1, 2)),
    "sin": (cr.sin, (-3, 3)),
    "cos": (cr.cos, (-3, 3)),
    "tanh": (cr.tanh, (-3, 3)),
    "tanh_method": (lambda x: x.tanh(), (-3, 3)),
    "sigmoid": (cr.sigmoid, (-4, 4)),
    "pow_scalar_2": (lambda x: x**2, (-2, 2)),
    "pow_scalar_3": (lambda x: x**3, (-2, 2)),
    "pow_scalar_half": (lambda x: x**0.5, (0.1, 2)),
    "pow_scalar_neg": (lambda x: x**-1.5, (0.2, 2)),
    "pow_scalar_0": (lambda x: x**0, (-2, 2)),
    "pow_scalar_1": (lambda x: x**1, (-2, 2)),
    "rsqrt": (lambda x: x.rsqrt(), (0.2, 2)),
    "square": (lambda x: x.square(), (-2, 2)),
    "reciprocal": (lambda x: x.reciprocal(), (0.2, 2)),
    "rpow": (lambda x: 2.0**x, (-2, 2)),
    "scalar_mix": (lambda x: (3.0 - x) * 2 + x / 4 - 1 / (x + 3), (-1, 1)),
}


@pytest.mark.parametrize("name", sorted(UNARY))
@FAST
@given(shape=SHAPE, seed=SEED)
def test_unary_gradcheck(name, shape, seed):
    fn, (lo, hi) = UNARY[name]
    x = uniform(np.random.default_rng(seed), shape, lo, hi)
    assert gradcheck(fn, (x,))


KINKED = {
    "abs": cr.abs,
    "abs_operator": lambda x: abs(x),
    "sign": cr.sign,
    "relu": cr.relu,
    "clamp_both": lambda x: cr.clamp(x, -0.1, 0.1),
    "clamp_min": lambda x: x.clamp(min=0.1),
    "clamp_max": lambda x: x.clamp(max=-0.1),
}


@pytest.mark.parametrize("name", sorted(KINKED))
@FAST
@given(shape=SHAPE, seed=SEED)
def test_kinked_unary_gradcheck(name, shape, seed):
    """Away from the kinks (|x| >= 0.2, bounds at ±0.1) these are smooth."""
    x = away_from_zero(np.random.default_rng(seed), shape)
    assert gradcheck(KINKED[name], (x,))


def test_clamp_gradient_is_one_inside_zero_outside():
    x = cr.tensor([-2.0, -0.5, 0.0, 0.5, 2.0], requires_grad=True)
    cr.clamp(x, -1.0, 1.0).sum().backward()
    assert x.grad.tolist() == [0.0, 1.0, 1.0, 1.0, 0.0]


# ---------------------------------------------------------------- binary elementwise (broadcasting)
def _binary_inputs(rng, name, sa, sb):
    if name == "div":
        return uniform(rng, sa, -2, 2), away_from_zero(rng, sb, 0.5, 2.0)
    if name == "pow":
        return uniform(rng, sa, 0.5, 2.0), uniform(rng, sb, -2, 2)
    if name in ("maximum", "minimum", "max_tensor", "clamp_tensor"):
        # a in 2k + [0.1, 0.9], b in 2j + 1 + [0.1, 0.9]: |a - b| >= 0.2, never a tie
        a = 2 * rng.integers(-2, 2, size=sa) + rng.uniform(0.1, 0.9, size=sa)
        b = 2 * rng.integers(-2, 2, size=sb) + 1 + rng.uniform(0.1, 0.9, size=sb)
        return leaf(a), leaf(b)
    return uniform(rng, sa, -2, 2), uniform(rng, sb, -2, 2)


BINARY = {
    "add": lambda a, b: a + b,
    "add_fn_alpha": lambda a, b: cr.add(a, b, alpha=2.5),
    "sub": lambda a, b: a - b,
    "sub_fn_alpha": lambda a, b: cr.sub(a, b, alpha=-0.5),
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
    "pow": lambda a, b: a**b,
    "maximum": cr.maximum,
    "minimum": cr.minimum,
    "max_tensor": lambda a, b: cr.max(a, b),
    "clamp_tensor": lambda a, b: cr.clamp(a, min=b),
}


@pytest.mark.parametrize("name", sorted(BINARY))
@FAST
@given(shapes=PAIR, seed=SEED)
def test_binary_gradcheck_broadcast(name, shapes, seed):
    sa, sb = shapes.input_shapes
    a, b = _binary_inputs(np.random.default_rng(seed), name, sa, sb)
    assert gradcheck(BINARY[name], (a, b))


@FAST
@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=3, min_dims=0, max_dims=3, max_side=3), seed=SEED)
def test_where_gradcheck_broadcast(shapes, seed):
    sc, sa, sb = shapes.input_shapes
    rng = np.random.default_rng(seed)
    cond = cr.tensor(rng.random(sc) > 0.5)
    a, b = uniform(rng, sa, -2, 2), uniform(rng, sb, -2, 2)
    assert gradcheck(lambda a, b: cr.where(cond, a, b), (a, b))
    assert gradcheck(lambda a: a.masked_fill(cond, 3.0), (a,))


def test_reflected_operators_gradcheck():
    x = leaf([0.5, 1.5, -0.7])
    assert gradcheck(lambda x: 2.0 + x, (x,))
    assert gradcheck(lambda x: 2.0 - x, (x,))
    assert gradcheck(lambda x: 2.0 * x, (x,))
    assert gradcheck(lambda x: 2.0 / (x + 3), (x,))
    assert gradcheck(lambda x: np.float64(1.5) ** x, (x,))


# ---------------------------------------------------------------- reductions
@st.composite
def shape_and_dim(draw, min_side=1):
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=min_side, max_side=3))
    nd = len(shape)
    kind = draw(st.sampled_from(["none", "int", "negative", "tuple"]))
    if kind == "none":
        dim = None
    elif kind == "int":
        dim = draw(st.integers(0, nd - 1))
    elif kind == "negative":
        dim = draw(st.integers(-nd, -1))
    else:
        axes = draw(st.lists(st.integers(0, nd - 1), min_size=1, max_size=nd, unique=True))
        dim = tuple(a - nd if draw(st.booleans()) else a for a in axes)
    return shape, dim, draw(st.booleans())


REDUCTIONS = {
    "sum": lambda x, d, k: cr.sum(x, d, keepdim=k) if d is not None else x.sum(),
    "mean": lambda x, d, k: x.mean(d, keepdim=k) if d is not None else x.mean(),
    "amax": lambda x, d, k: cr.amax(x, d, keepdim=k),
    "amin": lambda x, d, k: cr.amin(x, d, keepdim=k),
    "logsumexp": lambda x, d, k: cr.logsumexp(x, d if d is not None else tuple(range(x.ndim)), keepdim=k),
    "var": lambda x, d, k: x.var(d, keepdim=k),
    "var_biased": lambda x, d, k: x.var(d, keepdim=k, unbiased=False),
    "std": lambda x, d, k: x.std(d, keepdim=k),
    "std_correction0": lambda x, d, k: cr.std(x, d, keepdim=k, correction=0),
}


@pytest.mark.parametrize("name", sorted(REDUCTIONS))
@FAST
@given(case=shape_and_dim(min_side=2), seed=SEED)
def test_reduction_gradcheck(name, case, seed):
    shape, dim, keepdim = case
    x = distinct(np.random.default_rng(seed), shape)
    fn = REDUCTIONS[name]
    out = fn(x, dim, keepdim)
    assert gradcheck(lambda x: fn(x, dim, keepdim), (x,))
    # the gradient has the input's shape whatever dim/keepdim were
    g = cr.autograd.grad(out.sum(), x)[0]
    assert g.shape == x.shape


@FAST
@given(case=shape_and_dim(), seed=SEED)
def test_max_min_with_dim_gradcheck(case, seed):
    shape, dim, keepdim = case
    d = dim if isinstance(dim, int) else 0
    x = distinct(np.random.default_rng(seed), shape)
    assert gradcheck(lambda x: x.max(d, keepdim).values, (x,))
    assert gradcheck(lambda x: cr.min(x, d, keepdim)[0], (x,))
    assert gradcheck(lambda x: x.max(), (x,))
    assert gradcheck(lambda x: x.min(), (x,))


def test_max_ties_share_the_gradient():
    x = cr.tensor([1.0, 3.0, 3.0, 2.0], requires_grad=True)
    x.max().backward()
    assert x.grad.tolist() == [0.0, 0.5, 0.5, 0.0]


@pytest.mark.parametrize("fn", [cr.softmax, cr.log_softmax])
@FAST
@given(shape=hnp.array_shapes(min_dims=1, max_dims=3, max_side=4), seed=SEED, data=st.data())
def test_softmax_gradcheck(fn, shape, seed, data):
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    x = uniform(np.random.default_rng(seed), shape, -3, 3)
    assert gradcheck(lambda x: fn(x, dim), (x,))
    assert gradcheck(lambda x: getattr(x, fn.__name__)(dim), (x,))


def test_argmax_argmin_have_no_gradient():
    x = cr.tensor([[1.0, 5.0, 2.0], [7.0, 0.0, 3.0]], requires_grad=True)
    for out in (x.argmax(), x.argmin(1), cr.argmax(x, dim=0, keepdim=True)):
        assert not out.requires_grad and out.grad_fn is None
        assert out.dtype == np.int64
    assert x.argmax().item() == 3
    assert x.argmin(1).tolist() == [0, 1]


# ---------------------------------------------------------------- matmul
MATMUL_SHAPES = [
    ((3,), (3,)),  # dot
    ((2, 3), (3, 4)),  # matrix
    ((3,), (3, 4)),  # vector @ matrix
    ((2, 3), (3,)),  # matrix @ vector
    ((2, 2, 3), (2, 3, 4)),  # batched
    ((2, 1, 2, 3), (3, 3, 2)),  # broadcast batch dims
    ((1, 2, 3), (2, 3, 2)),  # size-1 batch broadcast
    ((3,), (2, 3, 4)),  # 1-D @ batched
    ((2, 4, 3), (3,)),  # batched @ 1-D
    ((2, 3), (2, 3, 2)),  # matrix @ batched
]


@pytest.mark.parametrize("sa,sb", MATMUL_SHAPES)
def test_matmul_gradcheck(sa, sb):
    rng = np.random.default_rng(0)
    a, b = uniform(rng, sa, -1, 1), uniform(rng, sb, -1, 1)
    assert gradcheck(lambda a, b: a @ b, (a, b))
    assert gradcheck(lambda a: cr.matmul(a, b.detach()), (a,))
    assert gradcheck(lambda b: a.detach() @ b, (b,))


def test_mm_bmm_dot_outer_gradcheck():
    rng = np.random.default_rng(1)
    a, b = uniform(rng, (2, 3), -1, 1), uniform(rng, (3, 2), -1, 1)
    assert gradcheck(cr.mm, (a, b))
    a3, b3 = uniform(rng, (2, 2, 3), -1, 1), uniform(rng, (2, 3, 2), -1, 1)
    assert gradcheck(cr.bmm, (a3, b3))
    u, v = uniform(rng, (3,), -1, 1), uniform(rng, (4,), -1, 1)
    assert gradcheck(cr.dot, (u, uniform(rng, (3,), -1, 1)))
    assert gradcheck(cr.outer, (u, v))


def test_matmul_shape_errors_name_the_op_and_shapes():
    with pytest.raises(RuntimeError, match=r"matmul.*\(2, 3\).*\(2, 3\)"):
        cr.randn(2, 3) @ cr.randn(2, 3)
    with pytest.raises(RuntimeError, match="matmul"):
        cr.matmul(cr.tensor(1.0), cr.randn(3))


# ---------------------------------------------------------------- shape ops
def _x(shape, seed=0):
    return uniform(np.random.default_rng(seed), shape, -2, 2)


SHAPE_CASES = {
    "reshape": ((2, 3, 2), lambda x: x.reshape(3, 4)),
    "reshape_minus1": ((2, 3, 2), lambda x: cr.reshape(x, (-1, 2))),
    "view": ((2, 3), lambda x: x.view(6)),
    "view_as": ((2, 3), lambda x: x.view_as(cr.zeros(3, 2))),
    "transpose": ((2, 3, 4), lambda x: x.transpose(0, 2)),
    "transpose_neg": ((2, 3, 4), lambda x: cr.transpose(x, -1, -2)),
    "T": ((2, 3), lambda x: x.T),
    "mT": ((2, 3, 4), lambda x: x.mT),
    "t": ((2, 3), lambda x: x.t()),
    "permute": ((2, 3, 4), lambda x: x.permute(2, 0, 1)),
    "permute_neg": ((2, 3, 4), lambda x: cr.permute(x, (-1, 0, 1))),
    "movedim": ((2, 3, 4), lambda x: cr.movedim(x, 0, 2)),
    "squeeze_all": ((1, 3, 1, 2), lambda x: x.squeeze()),
    "squeeze_dim": ((1, 3, 1, 2), lambda x: x.squeeze(2)),
    "unsqueeze": ((3, 2), lambda x: x.unsqueeze(1)),
    "unsqueeze_neg": ((3, 2), lambda x: cr.unsqueeze(x, -1)),
    "expand": ((3, 1), lambda x: x.expand(2, 3, 4)),
    "expand_minus1": ((3, 1), lambda x: x.expand(-1, 4)),
    "broadcast_to": ((1, 3), lambda x: cr.broadcast_to(x, (2, 3))),
    "expand_as": ((3, 1), lambda x: x.expand_as(cr.zeros(3, 2))),
    "flatten": ((2, 3, 2), lambda x: x.flatten()),
    "flatten_range": ((2, 3, 2, 2), lambda x: cr.flatten(x, 1, 2)),
    "unflatten": ((2, 6), lambda x: x.unflatten(1, (3, 2))),
    "flip": ((2, 3, 2), lambda x: x.flip(0)),
    "flip_dims": ((2, 3, 2), lambda x: cr.flip(x, (0, 2))),
    "pad_last": ((2, 3), lambda x: cr.pad(x, (1, 2))),
    "pad_two": ((2, 3), lambda x: cr.pad(x, (1, 0, 0, 2), value=1.5)),
    "repeat": ((2, 3), lambda x: x.repeat(2, 1)),
    "repeat_new_dims": ((2,), lambda x: x.repeat(3, 2)),
    "split_int": ((5, 2), lambda x: x.split(2)),
    "split_sizes": ((2, 5), lambda x: cr.split(x, [1, 4], dim=1)),
    "chunk": ((5, 2), lambda x: x.chunk(3)),
    "unbind": ((3, 2), lambda x: x.unbind(1)),
    "clone": ((2, 3), lambda x: x.clone()),
    "contiguous": ((2, 3), lambda x: x.contiguous() * 1.0),
    "to_float32_and_back": ((2, 3), lambda x: x.float().double()),
}


@pytest.mark.parametrize("name", sorted(SHAPE_CASES))
def test_shape_op_gradcheck(name):
    shape, fn = SHAPE_CASES[name]
    if name == "to_float32_and_back":
        # float32 rounding (1e-7 relative) stays within the tolerance of eps = 1e-3
        assert gradcheck(fn, (_x(shape),), eps=1e-3, atol=1e-4)
    else:
        assert gradcheck(fn, (_x(shape),))


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_cat_stack_gradcheck(dim):
    a, b, c = _x((2, 3), 1), _x((2, 3), 2), _x((2, 3), 3)
    assert gradcheck(lambda a, b, c: cr.cat([a, b, c], dim), (a, b, c))
    assert gradcheck(lambda a, b, c: cr.stack([a, b, c], dim), (a, b, c))
    # uneven sizes along the cat axis, one input constant
    d = _x((2, 1), 4)
    assert gradcheck(lambda a: cr.cat([a, d.detach(), a], 1), (a,))


# ---------------------------------------------------------------- indexing
INDEX_CASES = {
    "int": 1,
    "negative_int": -1,
    "slice": slice(1, None),
    "step_slice": (slice(None), slice(None, None, 2)),
    "negative_step": slice(None, None, -1),
    "ellipsis_none": (Ellipsis, None, 0),
    "int_array": np.array([0, 2, 2, 1]),
    "int_array_repeats_2d": (np.array([0, 0, 2]), np.array([1, 1, 3])),
    "list_index": [2, 0, 2],
    "tensor_index": cr.tensor([1, 1, 1]),
    "bool_mask_rows": np.array([True, False, True]),
    "mixed": (np.array([2, 0, 2]), slice(1, 3)),
}


@pytest.mark.parametrize("name", sorted(INDEX_CASES))
def test_getitem_gradcheck(name):
    index = INDEX_CASES[name]
    x = _x((3, 4))
    assert gradcheck(lambda x: x[index], (x,))


def test_getitem_bool_mask_tensor_gradcheck():
    x = _x((3, 4))
    mask = x.detach() > 0
    assert gradcheck(lambda x: x[mask], (x,))


def test_repeated_index_accumulates():
    x = cr.tensor([1.0, 2.0, 3.0], requires_grad=True)
    x[[0, 0, 2, 0]].sum().backward()
    assert x.grad.tolist() == [3.0, 0.0, 1.0]
    y = cr.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    (y[np.array([1, 1]), np.array([0, 0])] * cr.tensor([2.0, 5.0])).sum().backward()
    assert y.grad.tolist() == [[0.0, 0.0], [7.0, 0.0]]


def test_slice_gradient_into_a_reused_pooled_buffer_is_zero_outside_the_slice():
    """getitem's vjp writes into pooled arrays (big ones are reused between steps) and zeroes only the
    rows outside a leading slice: what an earlier, larger slice left there must not leak."""
    rng = np.random.default_rng(2)
    a = cr.tensor(rng.standard_normal((40, 50, 20)), dtype=cr.float64, requires_grad=True)  # 320 KB: pooled
    for sl in (slice(0, 40), slice(5, 12), slice(30, 25), slice(-3, None), slice(0, 40, 2)):
        a.grad = None
        g = rng.standard_normal(a.data[sl].shape)
        (a[sl] * cr.tensor(g, dtype=cr.float64)).sum().backward()
        want = np.zeros(a.shape)
        want[sl] = g
        np.testing.assert_array_equal(a.grad.data, want)


def test_gather_index_select_scatter_add_gradcheck():
    x = _x((3, 4))
    idx = cr.tensor([[0, 3, 3], [1, 1, 0], [2, 0, 2]])
    assert gradcheck(lambda x: x.gather(1, idx), (x,))
    assert gradcheck(lambda x: cr.gather(x, 0, cr.tensor([[2, 0, 1, 1]])), (x,))
    assert gradcheck(lambda x: x.index_select(1, cr.tensor([3, 0, 3])), (x,))
    src = _x((3, 3), 5)
    assert gradcheck(lambda x, s: x.scatter_add(1, idx, s), (x, src))


def test_gather_takes_the_indexed_elements():
    x = cr.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    out = cr.gather(x, 1, cr.tensor([[1, 1], [0, 1]]))
    assert out.tolist() == [[2.0, 2.0], [3.0, 4.0]]
    out.sum().backward()
    assert x.grad.tolist() == [[0.0, 2.0], [1.0, 1.0]]


def test_composite_network_gradcheck():
    """A small MLP with a cross-entropy written from primitives: everything together."""
    rng = np.random.default_rng(3)
    x = cr.tensor(rng.standard_normal((4, 3)))
    w1, b1 = uniform(rng, (3, 5), -1, 1), uniform(rng, (5,), -1, 1)
    w2 = uniform(rng, (5, 2), -1, 1)
    y = cr.tensor([0, 1, 1, 0])

    def loss(w1, b1, w2):
        h = (x @ w1 + b1).tanh()
        logp = (h @ w2).log_softmax(-1)
        return -logp[np.arange(4), y.data].mean()

    assert gradcheck(loss, (w1, b1, w2))


@pytest.mark.parametrize("dtype", [cr.float32, cr.float64])
def test_sigmoid_is_accurate_in_both_tails_without_overflow(dtype):
    x = np.array([-1000.0, -30.0, -5.0, 0.0, 5.0, 30.0, 1000.0])
    with np.errstate(over="raise"):
        y = cr.sigmoid(cr.tensor(x, dtype=dtype)).numpy()
    exact = np.where(x < 0, np.exp(np.minimum(x, 0)) / (1 + np.exp(np.minimum(x, 0))), 1 / (1 + np.exp(-np.abs(x))))
    rtol = 1e-6 if dtype == cr.float32 else 1e-15
    np.testing.assert_allclose(y, exact, rtol=rtol, atol=0)  # relative: e^-30 keeps its digits
    assert y.dtype == dtype
