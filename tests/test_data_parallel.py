"""nn.DataParallel and nn.parallel's functions, as a CPU-only PyTorch build runs them."""

from __future__ import annotations

import warnings
from collections import namedtuple

import pytest

import chainrule as cr
import chainrule.nn as nn
from chainrule.nn import parallel as P
from chainrule.nn.parallel.scatter_gather import scatter_kwargs


def _model() -> nn.Module:
    cr.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))


def test_names() -> None:
    assert nn.DataParallel is P.DataParallel is P.data_parallel.__globals__["DataParallel"]
    for name in ("replicate", "scatter", "parallel_apply", "gather", "data_parallel", "DistributedDataParallel"):
        assert name in P.__all__ and callable(getattr(P, name))


@pytest.mark.parametrize("ids", [None, [0], [0, 1], ["cuda:0"], [cr.device("cuda", 1)], ["cpu"], [-1]])
def test_constructor_ignores_devices_without_a_gpu(ids: list | None) -> None:
    m = _model()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning, as PyTorch's CPU-only build
        dp = nn.DataParallel(m, device_ids=ids, output_device=5, dim=1)
    assert dp.module is m and dp.device_ids == []
    assert not hasattr(dp, "dim") and not hasattr(dp, "output_device")


def test_forward_is_the_module_and_parameters_are_shared() -> None:
    m = _model()
    dp = nn.DataParallel(m)
    x = cr.randn(4, 3)
    assert cr.equal(dp(x), m(x))
    assert [id(p) for p in dp.parameters()] == [id(p) for p in m.parameters()]
    dp(x).sum().backward()
    assert m[0].weight.grad is not None


def test_kwargs_reach_the_module() -> None:
    class F(nn.Module):
        def forward(self, x: cr.Tensor, scale: float = 1.0) -> cr.Tensor:
            return x * scale

    x = cr.ones(2)
    assert cr.equal(nn.DataParallel(F())(x, scale=3.0), cr.full((2,), 3.0))


def test_state_dict_and_train_eval() -> None:
    m = _model()
    dp = nn.DataParallel(m)
    sd = dp.state_dict()
    assert list(sd) == ["module." + k for k in m.state_dict()]
    other = nn.DataParallel(nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2)))
    r = other.load_state_dict(sd)
    assert r.missing_keys == [] and r.unexpected_keys == []
    assert cr.equal(other.module[0].weight, m[0].weight)
    with pytest.raises(RuntimeError, match="Missing key"):
        nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2)).load_state_dict(sd)
    plain = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    plain.load_state_dict(dp.module.state_dict())
    dp.eval()
    assert not m.training and not m[1].training
    dp.train()
    assert m[1].training


def test_no_attribute_forwarding() -> None:
    dp = nn.DataParallel(nn.Linear(3, 2))
    assert dp.module.weight.shape == (2, 3)
    with pytest.raises(AttributeError, match="'DataParallel' object has no attribute 'weight'"):
        dp.weight  # noqa: B018
    with pytest.raises(TypeError):
        dp[0]  # type: ignore[index]
    assert "(module): Linear(in_features=3, out_features=2" in repr(dp)


@pytest.mark.parametrize("ids", [None, [0], ["cpu"]])
def test_data_parallel_function_needs_an_accelerator(ids: list | None) -> None:
    with pytest.raises(RuntimeError, match="device type could not be determined"):
        P.data_parallel(_model(), cr.randn(4, 3), device_ids=ids)


def test_scatter_and_gather() -> None:
    x = cr.randn(4, 3)
    assert P.scatter([1, "a"], [0, 1]) == [[1, "a"], [1, "a"]]
    assert P.scatter({"a": 2}, [0, 1]) == [{"a": 2}, {"a": 2}]
    assert P.scatter((), [0, 1]) == [(), ()]
    Pt = namedtuple("Pt", "a b")
    assert P.scatter(Pt(1, 2), [0, 1]) == [Pt(1, 2), Pt(1, 2)]
    with pytest.raises(ValueError, match="Expected a non cpu device, but got: cpu"):
        P.scatter(x, ["cpu", "cpu"])
    with pytest.raises(AttributeError, match="_scatter"):
        P.scatter(x, [0, 1])
    assert scatter_kwargs((1,), {"k": 2}, [0, 1]) == (((1,), (1,)), ({"k": 2}, {"k": 2}))
    assert scatter_kwargs((), None, [0, 1]) == ((), ())
    assert P.gather([None, None], 0) is None
    assert P.gather([{"a": None}], 0) == {"a": None}
    for target in (-1, "cpu", 0, None):
        with pytest.raises(AssertionError, match="Gather function not implemented for CPU tensors"):
            P.gather([x, x], target)


def test_replicate_and_parallel_apply() -> None:
    m = nn.Linear(3, 2)
    assert P.replicate(m, []) == []
    with pytest.raises(AssertionError, match="Broadcast function not implemented for CPU tensors"):
        P.replicate(m, [0, 1])
    with pytest.raises(ValueError, match="Expected a non cpu device"):
        P.replicate(m, ["cpu"])
    reps = P.replicate(nn.ReLU(), [0, 1])
    assert len(reps) == 2 and all(isinstance(r, nn.ReLU) for r in reps)
    x = cr.randn(4, 3)
    with pytest.raises(RuntimeError, match="Cannot access accelerator device when none is available"):
        P.parallel_apply([m, m], [x, x])
    with pytest.raises(RuntimeError, match="Cannot access accelerator device"):
        P.parallel_apply([m], [(x,)], None, [0])
    with pytest.raises(ValueError, match="Expected a cuda device, but got: cpu"):
        P.parallel_apply([m], [(x,)], None, ["cpu"])
    with pytest.raises(AssertionError, match="No available accelerator found"):
        P.parallel_apply([], [], None, [])


def test_distributed_data_parallel_cpu_is_deprecated() -> None:
    assert issubclass(P.DistributedDataParallelCPU, P.DistributedDataParallel)


def test_against_pytorch() -> None:
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("PyTorch sees a GPU")
    tm = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2))
    tdp = torch.nn.DataParallel(tm, device_ids=[0, 1])
    dp = nn.DataParallel(_model(), device_ids=[0, 1])
    assert tdp.device_ids == dp.device_ids == []
    assert list(tdp.state_dict()) == list(dp.state_dict())
    assert sorted(torch.nn.parallel.__all__) == sorted(P.__all__)
