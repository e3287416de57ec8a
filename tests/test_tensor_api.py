"""The Tensor API: creation, dtypes, properties, conversions, operators, indexing, setitem."""

from __future__ import annotations

import operator

import numpy as np
import pytest

import chainrule as cr


# ---------------------------------------------------------------- creation and dtypes
def test_tensor_infers_pytorch_dtypes():
    assert cr.tensor(1.0).dtype == np.float32  # Python floats: the default dtype
    assert cr.tensor([1, 2.5]).dtype == np.float32
    assert cr.tensor(1).dtype == np.int64  # Python ints: int64
    assert cr.tensor([[1, 2], [3, 4]]).dtype == np.int64
    assert cr.tensor([True, False]).dtype == np.bool_
    assert cr.tensor(np.ones(2)).dtype == np.float64  # an array keeps its dtype
    assert cr.tensor(np.arange(3, dtype=np.int32)).dtype == np.int32
    assert cr.tensor([1, 2], dtype=cr.float64).dtype == np.float64
    assert cr.tensor([1.7, 2.2], dtype=cr.int64).tolist() == [1, 2]
    assert cr.tensor([1.0], dtype="float64").dtype == np.float64


def test_tensor_copies_its_data():
    a = np.array([1.0, 2.0])
    t = cr.tensor(a)
    a[0] = 100.0
    assert t.tolist() == [1.0, 2.0]
    s = cr.from_numpy(a)  # from_numpy shares memory
    a[1] = 50.0
    assert s.tolist() == [100.0, 50.0]


def test_default_dtype_can_be_switched():
    try:
        cr.set_default_dtype(cr.float64)
        assert cr.tensor(1.5).dtype == np.float64
        assert cr.zeros(2).dtype == np.float64 and cr.randn(2).dtype == np.float64
    finally:
        cr.set_default_dtype(cr.float32)
    assert cr.get_default_dtype() == np.float32
    with pytest.raises(TypeError):
        cr.set_default_dtype(cr.int64)


def test_creation_functions():
    assert cr.zeros(2, 3).shape == (2, 3) and cr.zeros((2, 3)).tolist() == [[0.0] * 3] * 2
    assert cr.ones([4]).tolist() == [1.0] * 4 and cr.ones(4).dtype == np.float32
    assert cr.empty(2, 2, dtype=cr.float64).shape == (2, 2)
    assert cr.full((2,), 1.5).tolist() == [1.5, 1.5] and cr.full((2,), 1.5).dtype == np.float32
    assert cr.full((2,), 3).dtype == np.int64 and cr.full((1,), True).dtype == np.bool_
    assert cr.arange(4).tolist() == [0, 1, 2, 3] and cr.arange(4).dtype == np.int64
    assert cr.arange(1, 7, 2).tolist() == [1, 3, 5]
    assert cr.arange(0, 1, 0.25).tolist() == [0.0, 0.25, 0.5, 0.75] and cr.arange(0, 1, 0.25).dtype == np.float32
    assert cr.linspace(0, 1, 5).tolist() == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert cr.eye(2).tolist() == [[1.0, 0.0], [0.0, 1.0]]
    assert cr.eye(2, 3).tolist() == [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]
    z = cr.zeros(3, requires_grad=True)
    assert z.requires_grad and z.is_leaf


def test_like_functions_copy_shape_and_dtype():
    x = cr.ones(2, 3, dtype=cr.float64)
    for t in (cr.zeros_like(x), cr.ones_like(x), cr.empty_like(x), cr.full_like(x, 7.0), cr.rand_like(x),
              cr.randn_like(x)):
        assert t.shape == (2, 3) and t.dtype == np.float64
    assert cr.full_like(x, 7.0).tolist() == [[7.0] * 3] * 2
    assert cr.zeros_like(cr.tensor([1, 2])).dtype == np.int64
    assert cr.zeros_like(x, dtype=cr.float32).dtype == np.float32


def test_random_functions_shapes_ranges_and_seed():
    cr.manual_seed(0)
    a, b, c = cr.rand(1000), cr.randn(2, 3), cr.randint(0, 5, (200,))
    assert a.dtype == np.float32 and 0.0 <= a.min().item() and a.max().item() < 1.0
    assert b.shape == (2, 3) and b.dtype == np.float32
    assert c.dtype == np.int64 and set(c.tolist()) == {0, 1, 2, 3, 4}
    assert cr.randint(10, (3,)).shape == (3,)
    assert cr.randn(4, dtype=cr.float64).dtype == np.float64
    cr.manual_seed(0)
    a2, b2, c2 = cr.rand(1000), cr.randn(2, 3), cr.randint(0, 5, (200,))
    assert a2.tolist() == a.tolist() and b2.tolist() == b.tolist() and c2.tolist() == c.tolist()
    cr.manual_seed(1)
    assert cr.rand(1000).tolist() != a.tolist()
    # a standard normal sample of 20,000 has mean within 4 sd of 0 (sd = 1/sqrt(20000))
    assert abs(cr.randn(20_000, dtype=cr.float64).mean().item()) < 4 / np.sqrt(20_000)


# ---------------------------------------------------------------- properties and conversions
def test_properties():
    x = cr.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], requires_grad=True)
    assert x.shape == (2, 3) and x.ndim == 2 and x.dim() == 2 and x.numel() == 6
    assert x.size() == (2, 3) and x.size(1) == 3 and len(x) == 2
    assert x.dtype == np.float32 and x.is_floating_point() and x.device == "cpu"
    assert x.T.shape == (3, 2) and x.T.tolist() == [[1.0, 4.0], [2.0, 5.0], [3.0, 6.0]]
    assert x.requires_grad and x.is_leaf and x.grad is None and x.grad_fn is None
    y = x * 2
    assert not y.is_leaf and y.grad_fn is not None and y.requires_grad


def test_conversions():
    x = cr.tensor([[1.5, 2.0]], requires_grad=True)
    assert cr.tensor(2.5).item() == 2.5 and isinstance(cr.tensor(2.5).item(), float)
    assert cr.tensor([7]).item() == 7 and isinstance(cr.tensor(7).item(), int)
    with pytest.raises(RuntimeError, match="one element"):
        x.item()
    with pytest.raises(RuntimeError, match="detach"):
        x.numpy()  # a tensor that requires grad
    arr = x.detach().numpy()
    assert isinstance(arr, np.ndarray) and arr.tolist() == [[1.5, 2.0]]
    assert x.tolist() == [[1.5, 2.0]]
    assert float(cr.tensor(2.5)) == 2.5 and int(cr.tensor(3)) == 3
    assert [10, 20, 30][cr.tensor(1)] == 20  # __index__
    with pytest.raises(RuntimeError, match="ambiguous"):
        bool(cr.tensor([1.0, 2.0]))
    assert bool(cr.tensor(1.0))


def test_zero_dim_results_are_arrays():
    """NumPy returns scalars for 0-d results; a Tensor's data is always an ndarray."""
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    for t in (x.sum(), x.mean(), x.max(), x[0], x @ x, x.sum() * 2, x.var()):
        assert type(t._array) is np.ndarray and t.shape == ()
        assert isinstance(t.detach().numpy(), np.ndarray)
    s = cr.tensor(2.0, requires_grad=True)
    (s * s).backward()
    assert type(s.grad._array) is np.ndarray and s.grad.item() == 4.0


def test_detach_and_requires_grad_():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = (x * 2).detach()
    assert not y.requires_grad and y.grad_fn is None and y.is_leaf
    assert y.tolist() == [2.0, 4.0]
    z = cr.tensor([1.0]).requires_grad_()
    assert z.requires_grad
    with pytest.raises(RuntimeError, match="floating point"):
        cr.tensor([1, 2]).requires_grad_()
    with pytest.raises(RuntimeError, match="floating point"):
        cr.tensor([1, 2], requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf"):
        (x * 2).requires_grad_(False)
    d = x.detach()
    d._array[0] = 9.0  # detach shares memory, as PyTorch
    assert x.tolist()[0] == 9.0


def test_to_and_dtype_methods():
    x = cr.tensor([1.5, -2.5])
    assert x.double().dtype == np.float64 and x.to(cr.float64).dtype == np.float64
    assert x.long().tolist() == [1, -2] and x.int().dtype == np.int32
    assert x.to("cpu") is x and x.float() is x
    assert (x > 0).float().tolist() == [1.0, 0.0]
    w = cr.tensor([1.0, 2.0], requires_grad=True)
    w.double().sum().backward()  # the cast is recorded; the gradient comes back as float32
    assert w.grad.dtype == np.float32 and w.grad.tolist() == [1.0, 1.0]


def test_repr():
    assert repr(cr.tensor([1.0, 2.0])) == "tensor([1., 2.])"
    assert "requires_grad=True" in repr(cr.tensor([1.0], requires_grad=True))
    assert "grad_fn=<MulBackward0>" in repr(cr.tensor([1.0], requires_grad=True) * 2)
    assert "dtype=float64" in repr(cr.tensor([1.0], dtype=cr.float64))


# ---------------------------------------------------------------- operators
A = [1.0, 2.0, 4.0]
OPERATORS = [
    (operator.add, 3.0), (operator.sub, 3.0), (operator.mul, 3.0), (operator.truediv, 4.0), (operator.pow, 2.0),
    (operator.floordiv, 3.0), (operator.mod, 3.0), (operator.eq, 2.0), (operator.ne, 2.0), (operator.lt, 2.0),
    (operator.le, 2.0), (operator.gt, 2.0), (operator.ge, 2.0),
]


@pytest.mark.parametrize("op,s", OPERATORS, ids=[o.__name__ for o, _ in OPERATORS])
def test_operators_and_reflected_operators_match_numpy_semantics(op, s):
    t = cr.tensor(A)
    arr = np.array(A, dtype=np.float32)
    assert op(t, s).tolist() == op(arr, np.float32(s)).tolist()  # tensor op scalar
    assert op(s, t).tolist() == op(np.float32(s), arr).tolist()  # scalar op tensor (reflected)
    assert op(t, cr.tensor([s] * 3)).tolist() == op(arr, np.full(3, s, np.float32)).tolist()


def test_unary_operators_and_matmul():
    t = cr.tensor([1.0, -2.0, 4.0])
    assert (-t).tolist() == [-1.0, 2.0, -4.0] and (+t).tolist() == t.tolist()
    assert abs(t).tolist() == [1.0, 2.0, 4.0]
    assert (t @ t).item() == 21.0
    m = cr.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert (m @ cr.tensor([1.0, 1.0])).tolist() == [3.0, 7.0]
    assert (np.eye(2, dtype=np.float32) @ m).tolist() == m.tolist()  # reflected matmul


def test_logical_operators():
    a, b = cr.tensor([True, True, False]), cr.tensor([True, False, False])
    assert (a & b).tolist() == [True, False, False]
    assert (a | b).tolist() == [True, True, False]
    assert (a ^ b).tolist() == [False, True, False]
    assert (~a).tolist() == [False, False, True]
    assert (True & b).tolist() == [True, False, False]
    assert (cr.tensor([6, 3]) & cr.tensor([3, 1])).tolist() == [2, 1]  # bitwise on integers


def test_comparisons_return_bool_tensors_without_grad():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    c = x > 1.5
    assert c.dtype == np.bool_ and not c.requires_grad and c.tolist() == [False, True]
    assert (2 < x).tolist() == [False, False]  # reflected comparison


def test_in_place_operators():
    x = cr.tensor([1.0, 2.0])
    ident = id(x)
    x += 1
    x *= 2
    x -= cr.tensor([1.0, 1.0])
    x /= 2
    assert id(x) == ident and x.tolist() == [1.5, 2.5]
    w = cr.tensor([1.0, 2.0], requires_grad=True)
    q = w * 1
    q += 1
    q *= w  # q = (w + 1) w;  dq/dw = 2w + 1
    q.sum().backward()
    assert w.grad.tolist() == [3.0, 5.0]
    with pytest.raises(RuntimeError, match="leaf"):
        w += 1
    with cr.no_grad():
        w -= 0.5  # an optimiser update
    assert w.tolist() == [0.5, 1.5] and w.is_leaf and w.requires_grad


# ---------------------------------------------------------------- indexing
def test_basic_and_advanced_indexing_values():
    w = cr.tensor(np.arange(12.0).reshape(3, 4))
    assert w[1].tolist() == [4.0, 5.0, 6.0, 7.0]
    assert w[-1, 1:3].tolist() == [9.0, 10.0]
    assert w[:, ::2].tolist() == [[0.0, 2.0], [4.0, 6.0], [8.0, 10.0]]
    assert w[..., None].shape == (3, 4, 1)
    assert w[[0, 2], [1, 3]].tolist() == [1.0, 11.0]
    assert w[cr.tensor([2, 2])].shape == (2, 4)
    assert w[w > 9].tolist() == [10.0, 11.0]
    assert w[np.array([True, False, True])].shape == (2, 4)
    assert [r.tolist()[0] for r in w] == [0.0, 4.0, 8.0]
    with pytest.raises(IndexError, match="getitem"):
        w[5]


def test_indexing_backward_is_a_scatter_add():
    x = cr.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    y = x[:, 1:] * 2 + x[1, [0, 0, 2]].sum() + x[x > 3].sum() * 10
    y.sum().backward()
    # x[:, 1:]*2 summed: 2 on columns 1, 2;  x[1,[0,0,2]].sum() appears 2x2=4 times in y.sum():
    # x[1,0] twice, x[1,2] once -> 8 and 4;  x[x>3] = x[1,1], x[1,2]: 10 * 4 each
    expected = np.array([[0.0, 2.0, 2.0], [8.0, 2.0 + 40.0, 2.0 + 4.0 + 40.0]])
    np.testing.assert_array_equal(x.grad.numpy(), expected)


# ---------------------------------------------------------------- setitem
def test_setitem_on_a_leaf_that_requires_grad_raises():
    x = cr.tensor([1.0, 2.0, 3.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        x[0] = 5.0


def test_setitem_under_no_grad_writes_in_place():
    x = cr.tensor([1.0, 2.0, 3.0], requires_grad=True)
    data = x._array
    with cr.no_grad():
        x[0] = 5.0
        x[1:] = cr.tensor([7.0, 8.0])
    assert x.tolist() == [5.0, 7.0, 8.0] and x._array is data
    assert x.is_leaf and x.requires_grad and x.grad_fn is None


def test_setitem_on_a_non_leaf_records_the_write():
    x = cr.tensor([1.0, 2.0, 3.0], requires_grad=True)
    v = cr.tensor(7.0, requires_grad=True)
    y = x * 2
    y[1] = v * 3
    assert y.tolist() == [2.0, 21.0, 6.0]
    (y * cr.tensor([1.0, 10.0, 100.0])).sum().backward()
    assert x.grad.tolist() == [2.0, 0.0, 200.0]  # the overwritten element gets nothing
    assert v.grad.item() == 30.0  # d/dv of 10 * 3v


def test_setitem_with_mask_and_broadcast_value():
    x = cr.tensor([1.0, 5.0, 3.0, 6.0], requires_grad=True)
    y = x * 1
    y[y > 4] = 0.0
    y.sum().backward()
    assert y.tolist() == [1.0, 0.0, 3.0, 0.0] and x.grad.tolist() == [1.0, 0.0, 1.0, 0.0]
    z = cr.zeros(2, 3)
    z[:, 1] = cr.tensor([1.0, 2.0])
    z[0] = 9
    assert z.tolist() == [[9.0, 9.0, 9.0], [0.0, 2.0, 0.0]]
    i = cr.tensor([1, 2, 3])
    i[i > 1] = 0
    assert i.tolist() == [1, 0, 0] and i.dtype == np.int64
    r = cr.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    v = cr.tensor([10.0, 20.0], requires_grad=True)
    s = r * 1
    s[[0, 1], [1, 0]] = v  # grads of v are the upstream at the written positions
    (s * cr.tensor([[1.0, 2.0], [3.0, 4.0]])).sum().backward()
    assert v.grad.tolist() == [2.0, 3.0] and r.grad.tolist() == [[1.0, 0.0], [0.0, 4.0]]


def test_integer_tensors_become_the_default_float_in_float_functions():
    i = cr.tensor([1, 4])
    for t in (i.tanh(), cr.tanh(i), i.exp(), i.sqrt(), i.sigmoid(), i / 2, i**0.5, 2.0**i):
        assert t.dtype == np.float32
    assert (i**2).dtype == np.int64 and (-i).dtype == np.int64 and i.abs().dtype == np.int64
    assert (i**0.5).tolist() == [1.0, 2.0]
    for t in (i.var(), i.std(), i.logsumexp(0), i.softmax(0), i.log_softmax(0)):
        assert t.dtype == np.float32
    assert i.var().item() == 4.5  # ((1 - 2.5)² + (4 - 2.5)²) / (2 - 1)
    try:
        cr.set_default_dtype(cr.float64)
        assert i.tanh().dtype == np.float64 and (i / 2).dtype == np.float64 and (i**0.5).dtype == np.float64
    finally:
        cr.set_default_dtype(cr.float32)


def test_tensor_subclasses_work_in_operators():
    class Weight(cr.Tensor):
        pass

    p = Weight([1.0, 2.0], requires_grad=True)
    x = cr.tensor([3.0, 4.0], requires_grad=True)
    y = x * p + p - x + p.tanh()  # d/dp = x + 1 + (1 - tanh² p);  d/dx = p - 1
    y.sum().backward()
    np.testing.assert_allclose(p.grad.numpy(), x._array + 2 - np.tanh(p._array) ** 2, rtol=1e-6)
    assert x.grad.tolist() == [0.0, 1.0]
