"""A Python float argument of a compiled function is an input of its plan where the call only
gives it to array operations: one capture serves every value, and each replay gives eager's
numbers bit for bit.  Any other use (Python arithmetic, an ``if``, a size, a conversion, a
stand-in kept after the call) keeps it a constant checked by the guard: a capture per value."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import chainrule as torch  # (as a PyTorch program would import it)

VALUES = [0.37 * k - 3.1 for k in range(20)]  # (negative, positive, never an integer)


def _same(a, b):
    assert type(a) is type(b)
    if isinstance(a, torch.Tensor):
        assert a.dtype == b.dtype and a.shape == b.shape
        assert a.detach().numpy().tobytes() == b.detach().numpy().tobytes()  # (bit for bit: the sign of a zero)
    elif isinstance(a, (tuple, list)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _same(x, y)
    else:
        assert a == b


def _against_eager(fn, make_args, values=VALUES, **kw):
    """Call ``fn`` compiled and eagerly for each value; return the compiled function."""
    compiled = torch.compile(fn, **kw)
    for v in values:
        args, kwargs = make_args(v)
        _same(compiled(*args, **kwargs), fn(*args, **kwargs))
    return compiled


def _x(*shape, dtype=None, seed=0):
    g = np.random.default_rng(seed)
    return torch.tensor(g.standard_normal(shape), dtype=dtype or torch.float32)


@pytest.mark.parametrize("expr", [
    lambda x, a: x * a,
    lambda x, a: a * x + 1,
    lambda x, a: x / a - a,
    lambda x, a: torch.clamp(x, max=a),
    lambda x, a: torch.clamp(x, min=a, max=2.5),
    lambda x, a: x.abs() ** a,
    lambda x, a: torch.where(x > 0, x, a),
    lambda x, a: torch.nn.functional.hardtanh(x, -1.0, 1.0) * a,
    lambda x, a: x.clone().fill_(a),
    lambda x, a: x.masked_fill(x > 0, a),
    lambda x, a: torch.lerp(x, x.flip(0), a),
    lambda x, a: torch.softmax(x / a, 0),
    # (an array the call makes is made by the traced table, so the float it is filled with follows)
    lambda x, a: torch.full_like(x, a) + x,
    lambda x, a: torch.full((4, 3), a) * x,
    lambda x, a: x.new_full((4, 3), a) - x,
    lambda x, a: torch.zeros(4, 3).fill_(a) + x,
], ids=["mul", "rmul_add", "div_sub", "clamp_max", "clamp_both", "pow", "where", "hardtanh_mul", "fill_",
        "masked_fill", "lerp", "softmax_temperature", "full_like", "full", "new_full", "zeros_fill_"])
def test_a_float_in_array_arithmetic_is_captured_once(expr):
    x = _x(4, 3)
    compiled = _against_eager(expr, lambda v: ((x, v), {}))
    assert compiled.stats["captures"] == 1 and compiled.stats["replays"] == len(VALUES) - 1
    assert compiled.stats["eager"] == 0


def test_the_plan_reads_the_float_from_the_argument():
    compiled = _against_eager(lambda x, a: x * a, lambda v: ((_x(3), v), {}), values=[0.5])
    text = compiled.explain()
    assert "= args[1]\n" in text
    assert "type(args[1]) is not float: return False" in text
    assert "args[1] != 0.5" not in text


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16, torch.int64])
def test_the_result_keeps_a_python_scalars_dtype(dtype):
    """float32 tensor * Python float stays float32; an integer tensor gives the default dtype."""
    torch_ = pytest.importorskip("torch")
    x = _x(5, dtype=torch.float32) * 3
    x = x.to(dtype)
    tx = torch_.tensor(x.numpy())
    compiled = _against_eager(lambda t, a: t * a, lambda v: ((x, v), {}))
    for v in VALUES[:3]:
        y = compiled(x, v)
        ty = tx * v
        assert str(y.dtype) == str(ty.dtype).replace("torch.", "")
        np.testing.assert_allclose(y.numpy(), ty.numpy(), rtol=1e-3 if dtype == torch.float16 else 1e-6)
    assert compiled.stats["captures"] == 1


def test_a_float_in_a_gradient_is_captured_once():
    x = _x(4).requires_grad_()
    f = lambda x, a: torch.autograd.grad((x * a).sum() * a, x)[0]  # noqa: E731
    compiled = _against_eager(f, lambda v: ((x, v), {}))
    assert compiled.stats["captures"] == 1


def test_keyword_float_arguments():
    def f(x, *, scale=1.0, shift=0.0):
        return x * scale + shift

    x = _x(3, 2)
    compiled = _against_eager(f, lambda v: ((x,), {"scale": v, "shift": -v / 3}))
    assert compiled.stats["captures"] == 1
    _same(compiled(x, scale=2.0), f(x, scale=2.0))  # (other keywords: another kind of call)
    assert compiled.stats["captures"] == 2


def test_a_training_step_with_the_learning_rate_and_a_loss_weight_as_floats():
    def build():
        torch.manual_seed(0)
        return torch.nn.Linear(4, 2)

    def step(model, x, y, lr, weight):
        model.zero_grad()
        out = model(x)
        loss = weight * ((out - y) ** 2).mean() + 0.1 * out.abs().mean()
        loss.backward()
        with torch.no_grad():
            for p in model.parameters():
                p -= lr * p.grad
        return loss

    x, y = _x(8, 4, seed=1), _x(8, 2, seed=2)
    eager, compiled_model = build(), build()
    compiled = torch.compile(step)
    for k in range(20):
        lr, w = 0.01 * (1 + k % 7) / 3, 0.5 + 0.1 * k
        _same(compiled(compiled_model, x, y, lr, w), step(eager, x, y, lr, w))
        for p, q in zip(compiled_model.parameters(), eager.parameters()):
            assert np.array_equal(p.detach().numpy(), q.detach().numpy())
    # (the first two calls capture: p.grad is None at the first, a tensor at the second)
    assert compiled.stats["captures"] == 2 and compiled.stats["replays"] == 18


def test_an_optimizer_in_the_closure_and_a_float_loss_weight():
    torch.manual_seed(0)
    model, ref = torch.nn.Linear(3, 1), torch.nn.Linear(3, 1)
    ref.load_state_dict(model.state_dict())
    opt, ref_opt = torch.optim.SGD(model.parameters(), lr=0.1), torch.optim.SGD(ref.parameters(), lr=0.1)
    x, y = _x(6, 3, seed=3), _x(6, 1, seed=4)

    def make(m, o):
        def step(x, y, weight):
            o.zero_grad()
            loss = torch.nn.functional.mse_loss(m(x), y) * weight
            loss.backward()
            o.step()
            return loss
        return step

    compiled = torch.compile(make(model, opt))
    eager = make(ref, ref_opt)
    for k in range(12):
        _same(compiled(x, y, 0.25 + 0.125 * k), eager(x, y, 0.25 + 0.125 * k))
    assert np.array_equal(model.weight.detach().numpy(), ref.weight.detach().numpy())
    assert compiled.stats["captures"] <= 2 and compiled.stats["replays"] >= 10


def test_a_float_random_draws_scale():
    """The float reaches a draw's arguments: the replay draws with the new value."""
    def f(x, sigma):
        return x + torch.randn(x.shape) * sigma

    x = _x(5)
    compiled = torch.compile(f)
    for v in VALUES[:8]:
        torch.manual_seed(7)
        a = compiled(x, v)
        torch.manual_seed(7)
        _same(a, f(x, v))
    assert compiled.stats["captures"] == 1


@pytest.mark.parametrize("fn", [
    lambda x, a: x * 2 if a > 0 else x - 1,  # an ``if``
    lambda x, a: x * (a * 2),  # Python arithmetic makes a new float
    lambda x, a: x * math.exp(a),  # C code reads it (through __float__)
    lambda x, a: x * float(np.float32(a)),
    lambda x, a: x[: int(abs(a)) + 1],  # a size
    lambda x, a: x.sum() * round(a, 1),
    lambda x, a: torch.nn.functional.dropout(x, p=abs(a) / 10, training=False),
    lambda x, a: x.add(x, alpha=a),  # (add compares alpha with 1)
    lambda x, a: x * torch.tensor(a),
    lambda x, a: x * a if f"{a:.2f}" != "nan" else x,
    lambda x, a: torch.nn.functional.leaky_relu(x, a),  # (the op converts it with float())
    lambda x, a: torch.autograd.grad((x.abs() ** a).sum(), x)[0],  # (pow's derivative compares it with 0, 1, 2)
], ids=["if", "arithmetic", "math_exp", "np_float32", "size", "round", "dropout", "add_alpha", "tensor", "format",
        "leaky_relu", "pow_grad"])
def test_a_float_the_tape_cannot_follow_captures_per_value(fn):
    x = _x(6, 2).requires_grad_()
    values = VALUES[:5]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        compiled = _against_eager(fn, lambda v: ((x, v), {}), values=values * 2)
    assert compiled.stats["captures"] == len(values)
    assert compiled.stats["replays"] == len(values)


def test_a_float_kept_after_the_call_is_a_constant_and_the_holder_gets_the_float():
    kept = []
    store = {}

    class Scaler(torch.nn.Module):
        def forward(self, x, a):
            self.last = a
            return x * a

    def f(x, a):
        kept.append(a)
        store["a"] = a
        return x * a

    x = _x(3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _against_eager(f, lambda v: ((x, v), {}), values=[0.5, 1.5, 0.5])
        m = Scaler()
        cm = torch.compile(m)
        for v in (0.5, 1.5, 0.5, 2.5):
            _same(cm(x, v), x * v)
            assert m.last == v and type(m.last) is float
    assert all(type(v) is float for v in kept) and kept == [0.5, 0.5, 1.5, 1.5, 0.5, 0.5]
    assert type(store["a"]) is float


def test_a_returned_float_comes_back_a_float():
    def f(x, a):
        return x * a, a

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        compiled = _against_eager(f, lambda v: ((_x(2), v), {}), values=[0.5, 0.25, 0.5])
        out = compiled(_x(2), 0.75)
    assert type(out[1]) is float and out[1] == 0.75


def test_isinstance_sees_a_float_during_the_capture():
    seen = []

    def f(x, a):
        seen.append(isinstance(a, float) and not isinstance(a, int))
        return x * a

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (the list append is a side effect)
        torch.compile(f)(_x(2), 0.5)
    assert seen == [True]


def test_a_float_argument_that_becomes_an_int_or_a_bool_captures_again():
    f = lambda x, a: x * a  # noqa: E731
    x = _x(4)
    compiled = torch.compile(f)
    for v in (0.5, 1.5, 2, 3, True, 2.5):
        _same(compiled(x, v), f(x, v))
    # float (one plan), int 2, int 3 (ints stay constants), bool True; 2.5 replays the float plan
    assert compiled.stats["captures"] == 4
    assert compiled.stats["replays"] == 2


def test_int_arguments_stay_constants():
    f = lambda x, n: x * n  # noqa: E731
    x = _x(4)
    compiled = torch.compile(f)
    for n in (1, 2, 3):
        _same(compiled(x, n), f(x, n))
    assert compiled.stats["captures"] == 3


def test_special_values_replay_exactly():
    """inf, nan and a negative zero are values like any other for an input."""
    f = lambda x, a: x * a + a  # noqa: E731
    x = torch.tensor([1.0, -2.0, 0.0])
    with np.errstate(invalid="ignore"):  # (inf * 0)
        compiled = _against_eager(f, lambda v: ((x, v), {}), values=[0.5, math.inf, -math.inf, math.nan, -0.0, 0.0])
    assert compiled.stats["captures"] == 1
    assert np.signbit(compiled(torch.tensor([1.0]), -0.0).numpy()).all()


def test_a_float_in_a_compiled_modules_forward():
    torch.manual_seed(0)
    lin = torch.nn.Linear(3, 3)

    class Temperature(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = lin

        def forward(self, x, temperature):
            return torch.softmax(self.lin(x) / temperature, dim=-1)

    m = Temperature()
    cm = torch.compile(m)
    x = _x(2, 3)
    for t in (0.5, 1.0, 2.0, 0.1, 3.3):
        m.zero_grad()  # (gradients None at each call: one kind of call)
        out = cm(x, t)
        ref = m(x, t)
        _same(out, ref)
        out.sum().backward()  # (the graph of the returned tensor still works)
    assert cm.__dict__["_compiled"].stats["captures"] == 1


def test_a_negative_zero_is_not_the_constant_zero():
    """0.0 == -0.0, but what Python computes from them differs in sign: a float the plan keeps
    as a constant is checked with its sign."""
    f = lambda x, a: x * (a * 2)  # noqa: E731  (arithmetic: the float stays a constant)
    x = torch.tensor([1.0, -1.0])
    compiled = torch.compile(f)
    for v in (0.0, -0.0, 0.0, -0.0):
        _same(compiled(x, v), f(x, v))
    assert compiled.stats["captures"] == 2


def test_an_if_on_a_tensor_computed_from_the_float_takes_each_branch_once():
    """The float stays an input; Python reading a tensor made from it is a value guard, and the
    other side of the ``if`` is a second plan."""
    def f(x, a):
        y = x * a
        if y.sum() > 0:
            return y + 1
        return y - 1

    x = torch.tensor([1.0, 2.0])
    compiled = _against_eager(f, lambda v: ((x, v), {}))
    assert compiled.stats["captures"] == 2


def test_specialize_float_makes_float_arguments_constants_again():
    """torch._dynamo.config.specialize_float (False, as PyTorch's): True keeps each float a
    constant of the plan."""
    tc = pytest.importorskip("torch._dynamo").config
    assert torch._dynamo.config.specialize_float is tc.specialize_float is False
    f = lambda x, a: x * a  # noqa: E731
    x = _x(3)
    with torch._dynamo.config.patch(specialize_float=True):
        compiled = _against_eager(f, lambda v: ((x, v), {}), values=[0.5, 1.5, 2.5, 0.5])
    assert compiled.stats["captures"] == 3 and compiled.stats["replays"] == 1


_X, _Y, _W = _x(6, seed=5), _x(6, seed=6), _x(6, seed=7)
_MASK = _X > 0
_OPS = {  # (each either follows the float or keeps it a constant: eager's bits either way)
    "tensor_list": lambda x, a: torch.tensor([a, 1.0]) + x[:2],
    "full": lambda x, a: torch.full((6,), a) * x,
    "as_tensor": lambda x, a: torch.as_tensor(a) * x,
    "scalar_tensor": lambda x, a: torch.scalar_tensor(a) * x,
    "new_full": lambda x, a: x.new_full((6,), a) + x,
    "new_tensor": lambda x, a: x.new_tensor(a) + x,
    "fill_": lambda x, a: x.clone().fill_(a),
    "masked_fill": lambda x, a: x.masked_fill(_MASK, a),
    "lerp": lambda x, a: torch.lerp(x, _Y, a),
    "mul_": lambda x, a: x.clone().mul_(a),
    "add_scalar": lambda x, a: x.add(a),
    "clamp_": lambda x, a: x.clone().clamp_(min=a),
    "softplus": lambda x, a: torch.nn.functional.softplus(x, beta=abs(a) + 1),
    "elu": lambda x, a: torch.nn.functional.elu(x, alpha=a),
    "linspace": lambda x, a: torch.linspace(0, a, 6) + x,
    "pow_method": lambda x, a: x.abs().pow(a),
    "exp": lambda x, a: torch.exp(x * a),
    "normal": lambda x, a: torch.normal(0.0, abs(a), (6,)) + x,
    "rsub": lambda x, a: a - x,
    "rdiv": lambda x, a: a / x,
    "rpow": lambda x, a: abs(a) ** x,
    "eq": lambda x, a: x == a,
    "lt": lambda x, a: a < x,
    "maximum": lambda x, a: torch.maximum(x, torch.tensor(a)),
    "index_put": lambda x, a: x.clone().index_fill_(0, torch.tensor([1, 2]), a),
    "setitem": lambda x, a: (lambda z: (z.__setitem__(slice(0, 2), a), z)[1])(x.clone()),
    "mse_weight": lambda x, a: torch.nn.functional.mse_loss(x, _Y) * a,
    "smooth_l1": lambda x, a: torch.nn.functional.smooth_l1_loss(x, _Y, beta=abs(a) + 0.1),
    "huber": lambda x, a: torch.nn.functional.huber_loss(x, _Y, delta=abs(a) + 0.1),
    "addcmul": lambda x, a: torch.addcmul(x, _Y, _W, value=a),
    "threshold": lambda x, a: torch.nn.functional.threshold(x, a, 0.0),
    "hardtanh": lambda x, a: torch.nn.functional.hardtanh(x, min_val=-abs(a) - 1, max_val=abs(a) + 1),
    "nan_to_num": lambda x, a: torch.nan_to_num(x / 0, posinf=a),
    "div_floor": lambda x, a: torch.div(x, a, rounding_mode="floor"),
    "fmod": lambda x, a: torch.fmod(x, a),
    "remainder": lambda x, a: x % a,
    "floordiv": lambda x, a: x // a,
    "where_scalar2": lambda x, a: torch.where(_MASK, a, -1.0),
    "sum_mul": lambda x, a: (x * a).sum() / a,
    "std_scale": lambda x, a: x.std() * a,
    "sigmoid_temp": lambda x, a: torch.sigmoid(x / a),
    "softmax_temp": lambda x, a: torch.softmax(x / a, 0),
    "xlogy": lambda x, a: torch.xlogy(a, x.abs()),
    "round_dec": lambda x, a: torch.round(x * a, decimals=2),
    "max_scalar": lambda x, a: torch.clamp_max(x, a),
    "isclose": lambda x, a: torch.isclose(x, x + a * 1e-9),
}


@pytest.mark.parametrize("name", sorted(_OPS))
def test_each_operation_given_the_float_replays_eagers_bits(name):
    fn = _OPS[name]
    values = [0.73, -1.37, 2.11, 0.73, -0.41]
    compiled = torch.compile(fn)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        for v in values:
            torch.manual_seed(1)
            got = compiled(_X, v)
            torch.manual_seed(1)
            _same(got, fn(_X, v))
    assert compiled.stats["captures"] <= 4  # (one per distinct value at most)


def test_code_that_wants_the_exact_float_type_gets_it_from_float():
    """json.dumps needs the type float itself: float(alpha) gives it (and keeps alpha a constant)."""
    import json

    logged = []

    def f(x, a):
        logged.append(json.dumps({"a": float(a)}))
        return x * a

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (the list append is a side effect)
        _against_eager(f, lambda v: ((_x(2), v), {}), values=[0.5, 1.5])
    assert logged[0] == '{"a": 0.5}'
