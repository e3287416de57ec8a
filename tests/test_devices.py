"""Issue 10, item 6: devices are never silently ignored.

chainrule runs on the CPU only.  ``cr.device`` parses device strings as ``torch.device``
does; asking for any other device (``'cuda'``, ``'cuda:0'``, ``'mps'``...) anywhere a device
is accepted raises one clear error of the type PyTorch raises on a CPU-only build
(``AssertionError: Torch not compiled with CUDA enabled`` for CUDA), and ``device='cpu'``
is accepted wherever PyTorch accepts it.  Exception types are compared with torch's.
"""

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn as nn
from chainrule import optim
from chainrule.train import Trainer
from chainrule.utils.data.sampler import Generator

DEVICE_STRINGS = ["cpu", "cpu:0", "cpu:1", "cuda", "cuda:0", "cuda:12", "mps", "mps:0", "xpu", "meta"]
BAD_STRINGS = ["foo", "CPU", " cpu", "cpu ", "cuda:x", "cuda:-1", "cuda:01", "cuda:", ":0", "", "cuda:0:1"]


# ---------------------------------------------------------------- cr.device
@pytest.mark.parametrize("s", DEVICE_STRINGS)
def test_device_parses_like_torch(s):
    torch = pytest.importorskip("torch")
    d, t = cr.device(s), torch.device(s)
    assert (d.type, d.index) == (t.type, t.index)
    assert str(d) == str(t) and repr(d) == repr(t)


def test_device_type_and_index_forms():
    torch = pytest.importorskip("torch")
    assert repr(cr.device("cuda", 0)) == repr(torch.device("cuda", 0)) == "device(type='cuda', index=0)"
    assert repr(cr.device(type="cuda", index=2)) == repr(torch.device(type="cuda", index=2))
    assert repr(cr.device("cpu")) == "device(type='cpu')"
    d = cr.device("cuda:3")
    assert cr.device(d) == d and cr.device(d).index == 3
    assert (cr.device("cuda:1").type, cr.device("cuda:1").index) == ("cuda", 1)


@pytest.mark.parametrize("s", BAD_STRINGS)
def test_invalid_device_strings_raise_like_torch(s):
    torch = pytest.importorskip("torch")
    with pytest.raises(Exception) as want:
        torch.device(s)
    with pytest.raises(want.type) as got:
        cr.device(s)
    assert repr(s) in str(got.value) or s in str(got.value)


def test_invalid_device_messages():
    with pytest.raises(RuntimeError, match="Expected one of cpu, cuda.* device type at start of device string: foo"):
        cr.device("foo")
    with pytest.raises(RuntimeError, match="Invalid device string: 'cuda:x'"):
        cr.device("cuda:x")


def test_invalid_device_arguments_raise_like_torch():
    torch = pytest.importorskip("torch")
    for args in [("cuda", -1), ("cuda:1", 0)]:
        with pytest.raises(Exception) as want:
            torch.device(*args)
        with pytest.raises(want.type):
            cr.device(*args)
    with pytest.raises(TypeError):
        cr.device(None)
    with pytest.raises(TypeError):
        cr.device(cr.float64)


def test_device_equality_and_hash():
    assert cr.device("cpu") == cr.device("cpu")
    assert cr.device("cuda:0") == cr.device("cuda", 0)
    assert cr.device("cpu") != cr.device("cpu:0")  # as torch: the index is part of the device
    assert cr.device("cuda") != cr.device("cpu")
    # backward compatibility: Tensor.device was the string 'cpu'
    assert cr.device("cpu") == "cpu" and "cpu" == cr.device("cpu")
    assert cr.device("cpu") != "cuda" and cr.device("cuda:1") == "cuda:1"
    assert hash(cr.device("cpu")) == hash(cr.device("cpu")) == hash("cpu")
    assert len({cr.device("cpu"), cr.device("cpu"), cr.device("cuda")}) == 2
    with pytest.raises(AttributeError):
        cr.device("cpu").type = "cuda"  # immutable, like torch.device


def test_tensor_device_is_a_device_that_equals_cpu():
    x = cr.ones(2)
    assert isinstance(x.device, cr.device)
    assert x.device == "cpu" and x.device == cr.device("cpu") and x.device.type == "cpu"
    assert x.device.index is None and str(x.device) == "cpu" and repr(x.device) == "device(type='cpu')"
    assert x.is_cuda is False


def test_cuda_namespace():
    assert cr.cuda.is_available() is False
    assert cr.cuda.device_count() == 0


# ---------------------------------------------------------------- factories
def _factories(device):
    x = cr.ones(2, 3)
    return {
        "tensor": lambda: cr.tensor([1.0, 2.0], device=device),
        "as_tensor": lambda: cr.as_tensor(np.ones(2), device=device),
        "zeros": lambda: cr.zeros(2, device=device),
        "ones": lambda: cr.ones(2, device=device),
        "empty": lambda: cr.empty(2, device=device),
        "full": lambda: cr.full((2,), 1.5, device=device),
        "arange": lambda: cr.arange(3, device=device),
        "linspace": lambda: cr.linspace(0, 1, 3, device=device),
        "logspace": lambda: cr.logspace(0, 1, 3, device=device),
        "eye": lambda: cr.eye(2, device=device),
        "rand": lambda: cr.rand(2, device=device),
        "randn": lambda: cr.randn(2, device=device),
        "randint": lambda: cr.randint(0, 3, (2,), device=device),
        "randperm": lambda: cr.randperm(3, device=device),
        "normal": lambda: cr.normal(0.0, 1.0, (2,), device=device),
        "zeros_like": lambda: cr.zeros_like(x, device=device),
        "ones_like": lambda: cr.ones_like(x, device=device),
        "empty_like": lambda: cr.empty_like(x, device=device),
        "full_like": lambda: cr.full_like(x, 2.0, device=device),
        "rand_like": lambda: cr.rand_like(x, device=device),
        "randn_like": lambda: cr.randn_like(x, device=device),
        "new_tensor": lambda: x.new_tensor([1.0], device=device),
        "new_zeros": lambda: x.new_zeros(2, device=device),
        "new_ones": lambda: x.new_ones(2, device=device),
    }


def _torch_factories(torch, device):
    x = torch.ones(2, 3)
    return {
        "tensor": lambda: torch.tensor([1.0, 2.0], device=device),
        "zeros": lambda: torch.zeros(2, device=device),
        "randn": lambda: torch.randn(2, device=device),
        "zeros_like": lambda: torch.zeros_like(x, device=device),
        "new_zeros": lambda: x.new_zeros(2, device=device),
    }


@pytest.mark.parametrize("dev", ["cpu", "cpu:0", cr.device("cpu"), None])
@pytest.mark.parametrize("name", list(_factories("cpu")))
def test_factories_accept_cpu(name, dev):
    t = _factories(dev)[name]()
    assert t.device == "cpu"


@pytest.mark.parametrize("dev", ["cuda", "cuda:0", cr.device("cuda", 1), "mps", "xpu", "meta"])
@pytest.mark.parametrize("name", list(_factories("cpu")))
def test_factories_refuse_other_devices(name, dev):
    with pytest.raises(RuntimeError, match=f"{name}\\(\\): chainrule has no .* back end"):
        _factories(dev)[name]()


@pytest.mark.parametrize("name", ["tensor", "zeros", "randn", "zeros_like", "new_zeros"])
def test_factories_refuse_cuda_with_torchs_exception(name):
    torch = pytest.importorskip("torch")
    with pytest.raises(Exception) as want:
        _torch_factories(torch, "cuda")[name]()
    with pytest.raises(want.type, match="Torch not compiled with CUDA enabled"):
        _factories("cuda")[name]()
    with pytest.raises(Exception) as want_mps:
        _torch_factories(torch, "mps")[name]()
    with pytest.raises(want_mps.type):
        _factories("mps")[name]()


def test_factory_rejects_a_dtype_as_device():
    torch = pytest.importorskip("torch")
    with pytest.raises(TypeError):
        torch.zeros(2, device=torch.float64)
    with pytest.raises(TypeError, match="zeros\\(\\): .*device"):
        cr.zeros(2, device=cr.float64)


def test_integer_device_means_an_accelerator():
    torch = pytest.importorskip("torch")
    with pytest.raises(Exception) as want:
        torch.zeros(2, device=0)
    with pytest.raises(want.type):
        cr.zeros(2, device=0)
    with pytest.raises(Exception) as want:
        torch.ones(1).to(0)
    with pytest.raises(want.type):
        cr.ones(1).to(0)


# ---------------------------------------------------------------- Tensor.to / cuda / cpu
TO_CALLS = {
    "to('cuda')": lambda m, x: x.to("cuda"),
    "to('cuda:0')": lambda m, x: x.to("cuda:0"),
    "to(device='cuda')": lambda m, x: x.to(device="cuda"),
    "to(device('cuda'))": lambda m, x: x.to(m.device("cuda")),
    "to('cuda', float64)": lambda m, x: x.to("cuda", m.float64),
    "to(device='cuda', dtype=float64)": lambda m, x: x.to(device="cuda", dtype=m.float64),
    "cuda()": lambda m, x: x.cuda(),
    "cuda(device='cuda:0')": lambda m, x: x.cuda(device="cuda:0"),
    "to('mps')": lambda m, x: x.to("mps"),
    "to('xpu')": lambda m, x: x.to("xpu"),
}


@pytest.mark.parametrize("call", list(TO_CALLS))
def test_tensor_to_other_device_raises_like_torch(call):
    torch = pytest.importorskip("torch")
    with pytest.raises(Exception) as want:
        TO_CALLS[call](torch, torch.ones(2))
    x = cr.ones(2)
    with pytest.raises(want.type, match="chainrule has no .* back end"):
        TO_CALLS[call](cr, x)
    assert x.dtype == np.float32


def test_tensor_to_cuda_message():
    with pytest.raises(AssertionError, match=r"to\(\): chainrule has no CUDA back end \(Torch not compiled with CUDA"):
        cr.ones(2).to("cuda")
    with pytest.raises(AssertionError, match=r"cuda\(\): chainrule has no CUDA back end"):
        cr.ones(2).cuda()


def test_device_strings_are_never_dtype_names():
    x = cr.ones(2)
    for d in ["cpu", "cpu:0", cr.device("cpu")]:
        assert x.to(d) is x
    with pytest.raises(RuntimeError, match="Expected one of"):
        x.to("cdua")  # a typo is a bad device string, not an unknown dtype


def test_tensor_to_cpu_forms():
    torch = pytest.importorskip("torch")
    x = cr.tensor([1.5, -2.0])
    assert x.cpu() is x
    y = x.to("cpu", cr.float64)
    assert y.dtype == np.float64 and y.tolist() == [1.5, -2.0]
    assert x.to(device="cpu", dtype=cr.float64).dtype == np.float64
    assert x.to(cr.device("cpu"), cr.float64).dtype == np.float64
    assert x.to("cpu", dtype=cr.float64).dtype == np.float64
    assert x.to(cr.float64, True).dtype == np.float64  # non_blocking positional
    assert x.to("cpu", cr.float64, True, True).dtype == np.float64
    assert x.to(cr.zeros(1, dtype=cr.float64)).dtype == np.float64
    assert x.to(None) is x and x.to() is x
    assert x.to("cpu", non_blocking=True) is x
    # copy=True always returns a new tensor, even when nothing changes (as torch)
    t = torch.tensor([1.5, -2.0])
    assert t.to(torch.float32, copy=True) is not t
    c = x.to(cr.float32, copy=True)
    assert c is not x and c.dtype == np.float32
    c.data[0] = 9.0
    assert x.tolist() == [1.5, -2.0]
    # a copy made by to(copy=True) is differentiable
    w = cr.tensor([1.0, 2.0], requires_grad=True)
    (w.to("cpu", copy=True) * 3).sum().backward()
    assert w.grad.tolist() == [3.0, 3.0]


def test_tensor_to_bad_arguments_raise_type_error_like_torch():
    torch = pytest.importorskip("torch")
    for call in [lambda m, x: x.to(m.float64, "cpu"), lambda m, x: x.to(foo=1)]:
        with pytest.raises(Exception) as want:
            call(torch, torch.ones(1))
        with pytest.raises(want.type, match="to"):
            call(cr, cr.ones(1))


# ---------------------------------------------------------------- modules
MODULE_CALLS = {
    "cuda()": lambda m, net: net.cuda(),
    "cuda(0)": lambda m, net: net.cuda(0),
    "to('cuda')": lambda m, net: net.to("cuda"),
    "to(device='cuda:0')": lambda m, net: net.to(device="cuda:0"),
    "to(device('cuda'))": lambda m, net: net.to(m.device("cuda")),
    "to('mps')": lambda m, net: net.to("mps"),
}


@pytest.mark.parametrize("call", list(MODULE_CALLS))
def test_module_to_other_device_raises_like_torch(call):
    torch = pytest.importorskip("torch")
    with pytest.raises(Exception) as want:
        MODULE_CALLS[call](torch, torch.nn.Linear(2, 2))
    net = nn.Linear(2, 2)
    with pytest.raises(want.type, match="chainrule has no .* back end"):
        MODULE_CALLS[call](cr, net)
    assert net.weight.dtype == np.float32


def test_module_cpu_forms():
    net = nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 1))
    assert net.cpu() is net and net.to("cpu") is net and net.to(cr.device("cpu")) is net
    assert net.to("cpu:0") is net
    net.to("cpu", cr.float64)
    assert all(p.dtype == np.float64 for p in net.parameters())
    net.to(device="cpu", dtype=cr.float32)
    assert all(p.dtype == np.float32 for p in net.parameters())
    net.to(cr.zeros(1, dtype=cr.float64))
    assert all(p.dtype == np.float64 for p in net.parameters())
    assert all(p.device == "cpu" for p in net.parameters())


LAYERS = {
    "Linear": lambda m, d: m.nn.Linear(2, 2, device=d),
    "Bilinear": lambda m, d: m.nn.Bilinear(2, 2, 1, device=d),
    "Conv1d": lambda m, d: m.nn.Conv1d(1, 1, 2, device=d),
    "Conv2d": lambda m, d: m.nn.Conv2d(1, 1, 2, device=d),
    "Embedding": lambda m, d: m.nn.Embedding(4, 2, device=d),
    "BatchNorm1d": lambda m, d: m.nn.BatchNorm1d(3, device=d),
    "LayerNorm": lambda m, d: m.nn.LayerNorm(3, device=d),
    "LSTM": lambda m, d: m.nn.LSTM(3, 2, device=d),
    "GRU": lambda m, d: m.nn.GRU(3, 2, device=d),
    "RNN": lambda m, d: m.nn.RNN(3, 2, device=d),
    "LSTMCell": lambda m, d: m.nn.LSTMCell(3, 2, device=d),
    "GRUCell": lambda m, d: m.nn.GRUCell(3, 2, device=d),
    "MultiheadAttention": lambda m, d: m.nn.MultiheadAttention(4, 2, device=d),
}


@pytest.mark.parametrize("name", list(LAYERS))
def test_layers_device_argument(name):
    torch = pytest.importorskip("torch")
    layer = LAYERS[name](cr, "cpu")
    assert all(p.device == "cpu" for p in layer.parameters())
    LAYERS[name](cr, cr.device("cpu"))
    with pytest.raises(Exception) as want:
        LAYERS[name](torch, "cuda")
    with pytest.raises(want.type, match=f"{name}: chainrule has no CUDA back end"):
        LAYERS[name](cr, "cuda")


def test_generator_and_trainer_device():
    torch = pytest.importorskip("torch")
    Generator(device="cpu")
    Generator(device=cr.device("cpu"))
    with pytest.raises(Exception) as want:
        torch.Generator(device="cuda")
    with pytest.raises(want.type, match="Generator: chainrule has no CUDA back end"):
        Generator(device="cuda")
    net = nn.Linear(2, 1)
    opt = optim.SGD(net.parameters(), lr=0.1)
    Trainer(net, nn.MSELoss(), opt, device="cpu", verbose=0)
    with pytest.raises(RuntimeError, match="Trainer: chainrule has no CUDA back end"):
        Trainer(net, nn.MSELoss(), opt, device="cuda", verbose=0)
