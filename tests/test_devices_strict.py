"""Issue 11, item 5: devices are real.  The plumbing tested on a strict back end whose arrays
NumPy refuses (tests/strict_backend.py), registered at run time as device type 'strict'.

The first part checks the registry, moves, factories, modules and state dicts.  The second
runs primitives (forward, vjp through the engine, jvp) on strict tensors: any operation of
ops/ or autograd/ that bypasses the device's table fails loudly, and so does a training
step (Linear, BatchNorm1d, MSE, SGD with momentum).
"""

from __future__ import annotations

import numpy as np
import pytest
from strict_backend import DEVICE, StrictArray, StrictnessError, strict_backend
from strict_backend import host as _values

import chainrule as cr
import chainrule.nn as nn
import chainrule.nn.functional as F
from chainrule.autograd import forward_ad as fwAD
from chainrule.backend import ArrayMath, registry
from chainrule.backend.device import DeviceUnavailableError


# ---------------------------------------------------------------- the strict array itself
def test_numpy_refuses_strict_arrays():
    s = StrictArray(np.ones(3))
    with pytest.raises(TypeError):
        np.exp(s)
    with pytest.raises(StrictnessError):
        np.asarray(s)
    with pytest.raises(StrictnessError):
        np.sum(s)
    with pytest.raises(StrictnessError):
        s + np.ones(3)  # a NumPy array meeting a strict one: an op lost track of devices
    assert ((s + s)._a == 2).all() and isinstance(s.sum(), StrictArray)


# ---------------------------------------------------------------- the registry
def test_register_and_unregister_at_run_time():
    with pytest.raises(RuntimeError, match="Expected one of"):
        cr.device("strict")
    with strict_backend():
        assert registry.is_registered("strict")
        d = cr.device("strict:1")
        assert (d.type, d.index, str(d), repr(d)) == ("strict", 1, "strict:1", "device(type='strict', index=1)")
        assert d == "strict:1" and hash(d) == hash("strict:1")
        with pytest.raises(ValueError, match="already has a back end"):
            registry.register_backend("strict", float, ArrayMath, np.asarray, lambda a, d: a)
        with pytest.raises(ValueError, match="already belong to the 'cpu' back end"):
            registry.register_backend("other", np.ndarray, ArrayMath, np.asarray, lambda a, d: a)
    assert not registry.is_registered("strict")
    with pytest.raises(RuntimeError, match="Expected one of"):
        cr.device("strict")
    with pytest.raises(ValueError, match="cannot be removed"):
        registry.unregister_backend("cpu")


def test_table_of_names_both_devices(strict):
    s, c = StrictArray(np.ones(2)), np.ones(2)
    assert registry.table_of("add", [c, c]) is ArrayMath
    assert registry.table_of("add", [s, s]) is strict.math
    for pair, first, second in [([c, s], "cpu", "strict:0"), ([s, c], "strict:0", "cpu")]:
        with pytest.raises(registry.DeviceMismatchError) as e:
            registry.table_of("add", pair)
        assert str(e.value) == (
            f"add: expected all tensors to be on the same device, but found at least two devices, "
            f"{first} and {second}"
        )
        assert isinstance(e.value, RuntimeError)  # PyTorch raises RuntimeError


# ---------------------------------------------------------------- tensors
@pytest.mark.parametrize("dtype", [cr.float32, cr.float64, cr.int64, cr.bool])
def test_to_strict_and_back_keeps_values(strict, dtype):
    x = cr.tensor([[1.5, -2.0, 0.0], [3.0, 4.25, -1.0]]).to(dtype)
    s = x.to("strict")
    assert type(s._array) is StrictArray
    assert s.device == DEVICE and s.device == "strict:0" and s.device.type == "strict" and s.device.index == 0
    assert isinstance(s.device, cr.device) and s.is_cuda is False
    assert s.shape == x.shape and s.dtype == x.dtype
    back = s.to("cpu")
    assert back.device == "cpu" and type(back._array) is np.ndarray
    np.testing.assert_array_equal(back.numpy(), x.numpy())
    np.testing.assert_array_equal(s.cpu().numpy(), x.numpy())
    assert s.tolist() == x.tolist()
    # a copy: changing the strict tensor does not change x
    s._array[0, 0] = 7
    assert x.tolist()[0][0] != 7


def test_to_forms_and_no_ops(strict):
    x = cr.tensor([1.0, 2.0])
    s = x.to("strict")
    assert s.to("strict") is s and s.to(DEVICE) is s and s.to("strict:0") is s  # already there
    assert x.to(device="strict").device == DEVICE
    assert x.to(cr.device("strict")).device == DEVICE
    assert x.to(s).device == DEVICE  # to(other): other's device and dtype
    y = x.to("strict", cr.float64)  # cast on the CPU, then move
    assert y.device == DEVICE and y.dtype == np.float64 and y.tolist() == [1.0, 2.0]
    assert x.cpu() is x and s.cpu() is not s


def test_strict_tensor_exits_only_through_cpu(strict):
    s = cr.tensor([1.0, 2.0]).to("strict")
    with pytest.raises(TypeError, match="strict:0 device type tensor to a NumPy array; use Tensor.cpu"):
        s.numpy()
    with pytest.raises(TypeError, match="Tensor.cpu"):
        np.asarray(s)
    assert cr.tensor(3.5).to("strict").item() == 3.5
    r = repr(s)
    assert r.startswith("tensor([1., 2.]") and "device='strict:0'" in r


def test_move_is_differentiable(strict):
    """y = x.to('strict').to('cpu') is the identity, so d(sum(w y))/dx = w."""
    x = cr.tensor([1.0, -2.0, 3.0], dtype=cr.float64, requires_grad=True)
    w = cr.tensor([0.5, 2.0, -1.0], dtype=cr.float64)
    s = x.to("strict")
    assert s.requires_grad and s.grad_fn is not None and s._op.name == "to_device"
    (s.to("cpu") * w).sum().backward()
    assert x.grad.device == "cpu"
    np.testing.assert_array_equal(x.grad.numpy(), w.numpy())


def test_move_carries_the_forward_mode_tangent(strict):
    x = cr.tensor([1.0, 2.0], dtype=cr.float64)
    with fwAD.dual_level():
        d = fwAD.make_dual(x, cr.tensor([3.0, -4.0], dtype=cr.float64))
        back = d.to("strict").to("cpu")
        np.testing.assert_array_equal(fwAD.unpack_dual(back).tangent.numpy(), [3.0, -4.0])


def test_unregistered_devices_still_raise(strict):
    with pytest.raises(AssertionError, match="Torch not compiled with CUDA enabled"):
        cr.ones(2).to("cuda")
    with pytest.raises(DeviceUnavailableError, match="chainrule has no CUDA back end"):
        cr.ones(2).cuda()
    with pytest.raises(DeviceUnavailableError, match="chainrule has no CUDA back end"):
        nn.Linear(2, 2).cuda()


def test_cuda_goes_to_a_registered_cuda_back_end():
    """.cuda() and Module.cuda() move to the 'cuda' back end once one is registered (here the
    strict arrays stand in for CuPy's)."""
    from strict_backend import StrictMath, from_host, to_host

    registry.register_backend("cuda", StrictArray, StrictMath, to_host, from_host, lambda a: cr.device("cuda", 0))
    try:
        x = cr.tensor([1.0, 2.0])
        c = x.cuda()
        assert c.device == "cuda:0" and c.is_cuda and type(c._array) is StrictArray
        assert c.cuda() is c and c.cpu().tolist() == [1.0, 2.0]
        net = nn.Linear(2, 3)
        assert net.cuda() is net and all(p.is_cuda for p in net.parameters())
        assert cr.zeros(2, device="cuda").is_cuda
    finally:
        registry.unregister_backend("cuda")
    with pytest.raises(AssertionError, match="Torch not compiled with CUDA enabled"):
        cr.ones(1).cuda()


# ---------------------------------------------------------------- factories
FACTORIES = {
    "tensor": (lambda d: cr.tensor([1.0, 2.0], device=d), [1.0, 2.0]),
    "zeros": (lambda d: cr.zeros(2, 3, device=d), np.zeros((2, 3))),
    "ones": (lambda d: cr.ones(2, device=d), [1.0, 1.0]),
    "empty": (lambda d: cr.empty(2, device=d), None),
    "full": (lambda d: cr.full((2,), 1.5, device=d), [1.5, 1.5]),
    "arange": (lambda d: cr.arange(4, device=d), [0, 1, 2, 3]),
    "linspace": (lambda d: cr.linspace(0, 1, 3, device=d), [0.0, 0.5, 1.0]),
    "logspace": (lambda d: cr.logspace(0, 2, 3, device=d), [1.0, 10.0, 100.0]),
    "eye": (lambda d: cr.eye(2, device=d), np.eye(2)),
    "as_tensor": (lambda d: cr.as_tensor(np.array([1.0, 2.0]), device=d), [1.0, 2.0]),
}
RANDOM = {
    "rand": lambda d: cr.rand(3, device=d),
    "randn": lambda d: cr.randn(3, device=d),
    "randint": lambda d: cr.randint(0, 9, (3,), device=d),
    "randperm": lambda d: cr.randperm(5, device=d),
    "normal": lambda d: cr.normal(1.0, 2.0, (3,), device=d),
}


@pytest.mark.parametrize("name", list(FACTORIES))
def test_factories_make_strict_tensors(strict, name):
    make, want = FACTORIES[name]
    t = make("strict")
    assert type(t._array) is StrictArray and t.device == DEVICE and t.is_leaf
    if want is not None:
        np.testing.assert_allclose(_values(t), want, rtol=1e-6)


@pytest.mark.parametrize("name", list(RANDOM))
def test_random_factories_draw_the_same_numbers_on_any_device(strict, name):
    cr.manual_seed(3)
    on_cpu = RANDOM[name](None).numpy()
    cr.manual_seed(3)
    t = RANDOM[name]("strict")
    assert t.device == DEVICE
    np.testing.assert_array_equal(_values(t), on_cpu)


def test_tensor_constructor_device(strict):
    t = cr.Tensor([1.0, 2.0], device="strict")
    assert t.device == DEVICE and t.tolist() == [1.0, 2.0]
    u = cr.Tensor(t)  # a new leaf on the same array, on its device
    assert u.device == DEVICE and u._array is t._array
    assert f"{cr.tensor(2.5).to('strict'):.2f}" == "2.50"


def test_factory_requires_grad_gives_a_strict_leaf(strict):
    t = cr.zeros(2, device="strict", requires_grad=True)
    assert t.requires_grad and t.is_leaf and t.device == DEVICE


def test_like_and_new_factories_default_to_the_input_device(strict):
    s = cr.ones(2, 3).to("strict")
    for t in [cr.zeros_like(s), cr.ones_like(s), cr.empty_like(s), cr.full_like(s, 2.0), cr.rand_like(s),
              cr.randn_like(s), s.new_zeros(2), s.new_ones(2), s.new_full((2,), 3.0), s.new_tensor([1.0])]:
        assert t.device == DEVICE, t
    assert cr.zeros_like(s, device="cpu").device == "cpu"
    assert cr.ones(2).new_zeros(2, device="strict").device == DEVICE
    np.testing.assert_array_equal(_values(cr.full_like(s, 2.0)), np.full((2, 3), 2.0))
    # torch.tensor(tensor_on_device) copies on that device
    assert cr.tensor(s).device == DEVICE and cr.tensor(s, device="cpu").device == "cpu"


def test_layer_device_argument_says_to_move(strict):
    with pytest.raises(RuntimeError, match=r"Linear: device='strict' is not supported here.*\.to\('strict'\)"):
        nn.Linear(2, 2, device="strict")


# ---------------------------------------------------------------- modules and state
def _net():
    cr.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Tanh(), nn.Linear(4, 2))


def test_module_to_moves_parameters_and_buffers(strict):
    net = _net()
    before = {k: v.numpy().copy() for k, v in net.state_dict().items()}
    params = list(net.parameters())
    assert net.to("strict") is net
    assert [id(p) for p in net.parameters()] == [id(p) for p in params]  # the same Parameter objects
    for name, t in list(net.named_parameters()) + list(net.named_buffers()):
        assert t.device == DEVICE, name
    assert isinstance(net[0].weight, nn.Parameter) and net[0].weight.requires_grad
    net.cpu()
    for k, v in net.state_dict().items():
        assert v.device == "cpu"
        np.testing.assert_array_equal(v.numpy(), before[k])


def test_module_to_moves_gradients_and_casts(strict):
    net = nn.Linear(2, 2)
    net.weight.grad = cr.ones(2, 2)
    net.to("strict", cr.float64)  # move, then cast with the strict table
    assert net.weight.device == DEVICE and net.weight.dtype == np.float64
    assert net.weight.grad.device == DEVICE
    np.testing.assert_array_equal(_values(net.weight.grad), np.ones((2, 2)))


def test_state_dict_save_and_load_across_devices(strict, tmp_path):
    net = _net()
    want = {k: v.numpy().copy() for k, v in net.state_dict().items()}
    net.to("strict")
    sd = net.state_dict()
    assert all(v.device == DEVICE for v in sd.values())  # state_dict keeps the device, as PyTorch
    cr.save(sd, tmp_path / "net.pt")  # save brings the arrays to the host
    loaded = cr.load(tmp_path / "net.pt")
    for k, v in loaded.items():
        assert v.device == "cpu"
        np.testing.assert_array_equal(v.numpy(), want[k])
    # loading CPU values into a strict module copies them onto its device
    other = _net().to("strict")
    for p in other.parameters():
        p.data = (p.cpu() * 0).to("strict")
    other.load_state_dict(loaded)
    for k, v in other.state_dict().items():
        assert v.device == DEVICE
        np.testing.assert_array_equal(_values(v), want[k])
    # assign=True keeps the state dict's tensors' device (the CPU here)
    other.load_state_dict(loaded, assign=True)
    assert all(p.device == "cpu" for p in other.parameters())


# ---------------------------------------------------------------- operations (need the table)

OPS = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / (b * b + 1),
    "matmul": lambda a, b: a @ b.transpose(0, 1),
    "exp": lambda a, b: a.exp(),
    "tanh": lambda a, b: a.tanh(),
    "sigmoid": lambda a, b: a.sigmoid(),
    "relu": lambda a, b: a.relu(),
    "sum": lambda a, b: a.sum(1),
    "mean": lambda a, b: a.mean(),
    "reshape": lambda a, b: a.reshape(6),
    "getitem": lambda a, b: a[:, 1:],
    "softmax": lambda a, b: F.softmax(a, dim=1),
    "log_softmax": lambda a, b: F.log_softmax(a, dim=1),
    "mse_loss": lambda a, b: F.mse_loss(a, b),
}


def _inputs():
    rng = np.random.default_rng(0)
    return [cr.tensor(rng.standard_normal((2, 3)), dtype=cr.float64) for _ in range(2)]


def test_to_copy_on_strict(strict):
    s = cr.tensor([1.0, 2.0]).to("strict")
    c = s.to("strict", copy=True)  # a Clone through apply
    assert c is not s and c.device == DEVICE and c.tolist() == [1.0, 2.0]


def test_mixing_devices_in_an_op_names_both(strict):
    a, b = cr.ones(2), cr.ones(2).to("strict")
    with pytest.raises(RuntimeError, match="expected all tensors to be on the same device.*cpu and strict:0"):
        a + b


@pytest.mark.parametrize("name", list(OPS))
def test_op_forward_on_strict(strict, name):
    a, b = _inputs()
    want = OPS[name](a, b)
    got = OPS[name](a.to("strict"), b.to("strict"))
    assert got.device == DEVICE
    np.testing.assert_allclose(_values(got), want.numpy(), rtol=1e-12)


@pytest.mark.parametrize("name", list(OPS))
def test_op_vjp_on_strict(strict, name):
    a, b = _inputs()
    ga = [t.detach().requires_grad_(True) for t in (a, b)]
    OPS[name](*ga).sum().backward()
    gs = [t.detach().to("strict").requires_grad_(True) for t in (a, b)]
    OPS[name](*gs).sum().backward()
    for c, s in zip(ga, gs):
        if c.grad is None:
            assert s.grad is None
            continue
        assert s.grad.device == DEVICE
        np.testing.assert_allclose(_values(s.grad), c.grad.numpy(), rtol=1e-12)


@pytest.mark.parametrize("name", list(OPS))
def test_op_jvp_on_strict(strict, name):
    a, b = _inputs()
    da = cr.ones(2, 3, dtype=cr.float64)
    with fwAD.dual_level():
        want = fwAD.unpack_dual(OPS[name](fwAD.make_dual(a, da), b)).tangent
        got = fwAD.unpack_dual(OPS[name](fwAD.make_dual(a.to("strict"), da.to("strict")), b.to("strict"))).tangent
    assert got.device == DEVICE
    np.testing.assert_allclose(_values(got), want.numpy(), rtol=1e-12)


def test_training_step_on_strict(strict):
    """One SGD step of the same net on both devices gives the same parameters."""
    nets = [_net().double(), _net().double().to("strict")]
    rng = np.random.default_rng(1)
    x, y = (cr.tensor(rng.standard_normal(s)) for s in [(8, 3), (8, 2)])
    for net, dev in zip(nets, ["cpu", "strict"]):
        opt = cr.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
        loss = F.mse_loss(net(x.to(dev)), y.to(dev))
        opt.zero_grad()
        loss.backward()
        opt.step()
    for p, q in zip(nets[0].parameters(), nets[1].parameters()):
        assert q.device == DEVICE
        np.testing.assert_allclose(_values(q), p.detach().numpy(), rtol=1e-12)
