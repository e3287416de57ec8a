"""nn.Module, Parameter and the containers: registration, walking, modes, dtype, state dicts, repr."""

import copy

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.nn import Module, Parameter


class Affine(Module):
    """y = x w + b, built from raw Parameters so the test depends only on the module system."""

    def __init__(self, n_in: int, n_out: int) -> None:
        super().__init__()
        self.w = Parameter(cr.tensor(np.arange(n_in * n_out, dtype=np.float32).reshape(n_in, n_out)))
        self.b = Parameter(cr.zeros(n_out))
        self.register_buffer("calls", cr.tensor(0.0))
        self.register_buffer("scratch", cr.zeros(2), persistent=False)

    def forward(self, x):
        return x @ self.w + self.b


class Net(Module):
    def __init__(self) -> None:
        super().__init__()
        self.first = Affine(2, 3)
        self.second = Affine(3, 1)
        self.plain = 5  # not a parameter

    def forward(self, x):
        return self.second(self.first(x))


def test_registration_by_assignment_and_dotted_names():
    net = Net()
    names = [n for n, _ in net.named_parameters()]
    assert names == ["first.w", "first.b", "second.w", "second.b"]
    assert [n for n, _ in net.named_buffers()] == ["first.calls", "first.scratch", "second.calls", "second.scratch"]
    assert [n for n, _ in net.named_children()] == ["first", "second"]
    assert [n for n, _ in net.named_modules()] == ["", "first", "second"]
    assert all(p.requires_grad and isinstance(p, cr.Tensor) for p in net.parameters())
    assert net.plain == 5 and "plain" not in net._parameters
    assert net.num_parameters() == 2 * 3 + 3 + 3 * 1 + 1


def test_state_dict_skips_non_persistent_buffers_and_shares_values():
    net = Net()
    sd = net.state_dict()
    assert list(sd) == ["first.w", "first.b", "first.calls", "second.w", "second.b", "second.calls"]
    assert not sd["first.w"].requires_grad
    assert np.shares_memory(sd["first.w"]._array, net.first.w._array)


def test_shared_parameter_listed_once_and_modules_once():
    a = Affine(2, 2)
    seq = nn.Sequential(a, a)
    assert len(list(seq.parameters())) == 2
    assert len(list(seq.modules())) == 2
    # state_dict keeps both names (as PyTorch does) so either can be loaded
    assert list(seq.state_dict()) == ["0.w", "0.b", "0.calls", "1.w", "1.b", "1.calls"]


def test_forward_backward_through_module():
    net = Net()
    x = cr.tensor([[1.0, 2.0]])
    y = net(x)
    # first: [1,2] @ [[0,1,2],[3,4,5]] = [6, 9, 12]; second: w = [[0],[1],[2]] -> 9 + 24 = 33
    assert y.item() == pytest.approx(33.0)
    y.sum().backward()
    np.testing.assert_allclose(net.second.w.grad._array, [[6.0], [9.0], [12.0]])
    np.testing.assert_allclose(net.first.w.grad._array, [[0.0, 1.0, 2.0], [0.0, 2.0, 4.0]])
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())
    y = net(x)
    y.sum().backward()
    net.zero_grad(set_to_none=False)
    assert all(np.all(p.grad._array == 0) for p in net.parameters())


def test_train_eval_reach_every_submodule_and_apply_order():
    net = Net()
    assert net.training and net.first.training
    assert net.eval() is net
    assert not any(m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())
    order = []
    net.apply(lambda m: order.append(type(m).__name__))
    assert order == ["Affine", "Affine", "Net"]  # children first, as PyTorch


def test_to_dtype_keeps_parameter_objects():
    net = Net()
    w = net.first.w
    net.to(cr.float64)
    assert net.first.w is w and w.dtype == np.float64
    assert net.first.calls.dtype == np.float64
    net.float()
    assert w.dtype == np.float32
    with pytest.raises(RuntimeError, match="device"):
        net.to("cuda")


def test_load_state_dict_round_trip_and_errors():
    src, dst = Net(), Net()
    for p in src.parameters():
        p._array[...] = np.random.default_rng(0).normal(size=p.shape)
    result = dst.load_state_dict(src.state_dict())
    assert result.missing_keys == [] and result.unexpected_keys == []
    for (n, p), (_, q) in zip(src.named_parameters(), dst.named_parameters()):
        np.testing.assert_array_equal(p._array, q._array, err_msg=n)
        assert not np.shares_memory(p._array, q._array)  # copied, not aliased
    bad = dict(src.state_dict())
    del bad["first.b"]
    bad["extra.weight"] = cr.zeros(1)
    bad["second.w"] = cr.zeros(1, 3)
    with pytest.raises(RuntimeError) as err:
        dst.load_state_dict(bad)
    msg = str(err.value)
    assert '"first.b"' in msg and '"extra.weight"' in msg
    assert "size mismatch for second.w" in msg and "(1, 3)" in msg and "(3, 1)" in msg
    res = dst.load_state_dict({k: v for k, v in src.state_dict().items() if k != "first.b"}, strict=False)
    assert res.missing_keys == ["first.b"]


def test_setattr_rules():
    net = Net()
    with pytest.raises(TypeError, match="parameter 'w'"):
        net.first.w = cr.zeros(2, 3)  # a plain tensor over a parameter
    net.first.b = None
    assert net.first.b is None and [n for n, _ in net.first.named_parameters()] == ["w"]
    del net.second
    assert [n for n, _ in net.named_children()] == ["first"]
    with pytest.raises(AttributeError, match="no attribute 'missing'"):
        _ = net.missing
    with pytest.raises(KeyError):
        net.register_parameter("a.b", Parameter(cr.zeros(1)))

    class Early(Module):
        def __init__(self):
            self.w = Parameter(cr.zeros(1))

    with pytest.raises(AttributeError, match="before Module.__init__"):
        Early()


def test_forward_hooks_and_removal():
    lin = Affine(2, 1)
    seen = []
    h = lin.register_forward_hook(lambda m, inp, out: seen.append(out.shape))
    pre = lin.register_forward_pre_hook(lambda m, inp: (inp[0] * 2,))
    out = lin(cr.ones(4, 2))
    assert seen == [(4, 1)]
    np.testing.assert_allclose(out._array, 2 * np.ones((4, 2)) @ lin.w._array)
    h.remove()
    pre.remove()
    lin(cr.ones(1, 2))
    assert seen == [(4, 1)]


def test_sequential_indexing_and_containers():
    a, b, c = Affine(2, 2), Affine(2, 2), Affine(2, 1)
    seq = nn.Sequential(a, b, c)
    assert len(seq) == 3 and seq[0] is a and seq[-1] is c
    sub = seq[1:]
    assert isinstance(sub, nn.Sequential) and list(sub) == [b, c]
    x = cr.ones(1, 2)
    np.testing.assert_allclose(seq(x)._array, c(b(a(x)))._array)
    from collections import OrderedDict

    named = nn.Sequential(OrderedDict([("enc", a), ("dec", c)]))
    assert [n for n, _ in named.named_children()] == ["enc", "dec"]
    ml = nn.ModuleList([a, b])
    ml.append(c)
    assert len(ml) == 3 and ml[2] is c and len(list(ml.parameters())) == 6
    md = nn.ModuleDict({"x": a})
    md["y"] = b
    assert list(md.keys()) == ["x", "y"] and "y" in md
    pl = nn.ParameterList([cr.zeros(2), cr.ones(3)])
    assert [p.shape for p in pl] == [(2,), (3,)]
    with pytest.raises(IndexError, match="out of range"):
        seq[3]


def test_identity_flatten_unflatten():
    x = cr.arange(24.0).reshape(2, 3, 4)
    assert nn.Identity(5, foo=1)(x) is x
    assert nn.Flatten()(x).shape == (2, 12)
    assert nn.Flatten(0, 1)(x).shape == (6, 4)
    assert nn.Unflatten(1, (3, 4))(nn.Flatten()(x)).shape == (2, 3, 4)


def test_repr_is_nested_and_readable():
    seq = nn.Sequential(nn.Flatten(), nn.Sequential(nn.Identity()))
    text = repr(seq)
    assert text == (
        "Sequential(\n"
        "  (0): Flatten(start_dim=1, end_dim=-1)\n"
        "  (1): Sequential(\n"
        "    (0): Identity()\n"
        "  )\n"
        ")"
    )
    assert "total" in Net().summary() and "13" in Net().summary()


def test_deepcopy_gives_independent_parameters():
    net = Net()
    twin = copy.deepcopy(net)
    twin.first.w._array[...] = 0
    assert net.first.w._array.sum() > 0
    assert isinstance(twin.first.w, Parameter)


def test_deep_sequential_walks_without_recursion_limit():
    seq = nn.Sequential(*[nn.Identity() for _ in range(3000)])
    inner = seq
    for _ in range(2000):  # nested containers
        inner = nn.Sequential(inner)
    assert sum(1 for _ in inner.modules()) == 2000 + 1 + 3000


def test_parameter_wraps_without_copy():
    arr = np.ones(3, dtype=np.float32)
    p = Parameter(arr)
    assert p._array is arr and p.requires_grad and p.is_leaf
    assert not Parameter(arr, requires_grad=False).requires_grad
    assert repr(p).startswith("Parameter containing:")
