"""torch.optim.swa_utils: AveragedModel, the averaging functions, SWALR and update_bn, with PyTorch as oracle."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.optim import swa_utils as S

torch = pytest.importorskip("torch")


def _models(seed: int = 0) -> tuple[cr.nn.Module, torch.nn.Module]:
    """The same small network with a batch norm in chainrule and in PyTorch, with equal weights."""
    cr.manual_seed(seed)
    cm = cr.nn.Sequential(cr.nn.Linear(3, 4), cr.nn.BatchNorm1d(4), cr.nn.ReLU(), cr.nn.Linear(4, 2))
    tm = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    tm.load_state_dict({k: torch.tensor(v.numpy()) for k, v in cm.state_dict().items()})
    return cm, tm


def _train_step(cm: cr.nn.Module, tm: torch.nn.Module, rng: np.random.Generator) -> None:
    """Move both models' parameters by the same amounts and run a batch through them (BN buffers move)."""
    with cr.no_grad(), torch.no_grad():
        for cp, tp in zip(cm.parameters(), tm.parameters()):
            d = rng.standard_normal(tuple(cp.shape)).astype(np.float32)
            cp.add_(cr.tensor(d))
            tp.add_(torch.tensor(d))
        x = rng.standard_normal((6, 3)).astype(np.float32)
        cm(cr.tensor(x))
        tm(torch.tensor(x))


def _assert_same_state(cs: dict, ts: dict) -> None:
    assert list(cs) == list(ts)
    for k in cs:
        np.testing.assert_allclose(cs[k].numpy(), ts[k].numpy(), rtol=1e-5, atol=1e-6, err_msg=k)


AVERAGERS = {
    "swa": ({}, {}),
    "ema_multi": ({"multi_avg_fn": S.get_ema_multi_avg_fn(0.9)},
                  {"multi_avg_fn": torch.optim.swa_utils.get_ema_multi_avg_fn(0.9)}),
    "ema_single": ({"avg_fn": S.get_ema_avg_fn(0.8)}, {"avg_fn": torch.optim.swa_utils.get_ema_avg_fn(0.8)}),
    "swa_multi": ({"multi_avg_fn": S.get_swa_multi_avg_fn()},
                  {"multi_avg_fn": torch.optim.swa_utils.get_swa_multi_avg_fn()}),
    "swa_single": ({"avg_fn": S.get_swa_avg_fn()}, {"avg_fn": torch.optim.swa_utils.get_swa_avg_fn()}),
}


@pytest.mark.parametrize("use_buffers", [False, True])
@pytest.mark.parametrize("kind", sorted(AVERAGERS))
def test_averaged_parameters_match_pytorch(kind: str, use_buffers: bool) -> None:
    if kind == "swa_multi" and use_buffers:
        pytest.skip("PyTorch's swa multi_avg_fn raises on the long num_batches_tracked buffer (integer addcdiv_)")
    cm, tm = _models()
    ckw, tkw = AVERAGERS[kind]
    ca = S.AveragedModel(cm, use_buffers=use_buffers, **ckw)
    ta = torch.optim.swa_utils.AveragedModel(tm, use_buffers=use_buffers, **tkw)
    rng = np.random.default_rng(1)
    for _ in range(4):
        _train_step(cm, tm, rng)
        ca.update_parameters(cm)
        ta.update_parameters(tm)
        _assert_same_state(ca.state_dict(), ta.state_dict())
    assert int(ca.n_averaged) == 4
    # the copy is independent of the model: the average differs from the current weights
    assert not np.allclose(ca.module[0].weight.detach().numpy(), cm[0].weight.detach().numpy())
    x = np.random.default_rng(2).standard_normal((5, 3)).astype(np.float32)
    ca.eval()
    ta.eval()
    with torch.no_grad():
        np.testing.assert_allclose(ca(cr.tensor(x)).detach().numpy(), ta(torch.tensor(x)).numpy(), rtol=1e-5, atol=1e-6)


def test_swa_average_is_the_mean() -> None:
    cm = cr.nn.Linear(2, 2)
    avg = S.AveragedModel(cm)
    seen = []
    for k in range(5):
        with cr.no_grad():
            cm.weight.copy_(cr.full((2, 2), float(k * k)))
        seen.append(k * k)
        avg.update_parameters(cm)
    np.testing.assert_allclose(avg.module.weight.detach().numpy(), np.full((2, 2), np.mean(seen)), rtol=1e-6)
    assert not avg.module.weight.requires_grad or avg.module.weight.grad is None


def test_state_dict_keys_and_round_trip() -> None:
    cm, tm = _models()
    ca, ta = S.AveragedModel(cm), torch.optim.swa_utils.AveragedModel(tm)
    assert list(ca.state_dict()) == list(ta.state_dict())
    assert list(ca.state_dict())[0] == "n_averaged"
    ca.update_parameters(cm)
    ca.update_parameters(cm)
    fresh = S.AveragedModel(_models(seed=5)[0])
    fresh.load_state_dict(ca.state_dict())
    assert int(fresh.n_averaged) == 2
    _assert_same_state(fresh.state_dict(), ca.state_dict())
    assert ca.n_averaged.dtype == cr.int64


def test_averaging_functions_validate() -> None:
    for bad in (-0.1, 1.5):
        with pytest.raises(ValueError, match="decay"):
            S.get_ema_avg_fn(bad)
        with pytest.raises(ValueError, match="decay"):
            S.get_ema_multi_avg_fn(bad)
    with pytest.raises(AssertionError, match="Only one"):
        S.AveragedModel(cr.nn.Linear(2, 2), avg_fn=S.get_swa_avg_fn(), multi_avg_fn=S.get_swa_multi_avg_fn())
    with pytest.raises(TypeError, match="Module"):
        S.AveragedModel("model")  # type: ignore[arg-type]


@pytest.mark.parametrize("strategy", ["cos", "linear"])
@pytest.mark.parametrize("anneal_epochs", [0, 1, 3, 10])
def test_swalr_sequence_matches_pytorch(strategy: str, anneal_epochs: int) -> None:
    cw, tw = cr.nn.Parameter(cr.zeros(2)), torch.nn.Parameter(torch.zeros(2))
    cb, tb = cr.nn.Parameter(cr.zeros(2)), torch.nn.Parameter(torch.zeros(2))
    copt = cr.optim.SGD([{"params": [cw]}, {"params": [cb], "lr": 0.3}], lr=0.9)
    topt = torch.optim.SGD([{"params": [tw]}, {"params": [tb], "lr": 0.3}], lr=0.9)
    cs = S.SWALR(copt, swa_lr=[0.05, 0.01], anneal_epochs=anneal_epochs, anneal_strategy=strategy)
    ts = torch.optim.swa_utils.SWALR(topt, swa_lr=[0.05, 0.01], anneal_epochs=anneal_epochs,
                                     anneal_strategy=strategy)
    np.testing.assert_allclose(cs.get_last_lr(), ts.get_last_lr(), rtol=1e-12)
    for _ in range(14):
        copt.step()
        topt.step()
        cs.step()
        ts.step()
        np.testing.assert_allclose(cs.get_last_lr(), ts.get_last_lr(), rtol=1e-12)
        np.testing.assert_allclose([g["lr"] for g in copt.param_groups], [g["lr"] for g in topt.param_groups])
    np.testing.assert_allclose(cs.get_last_lr(), [0.05, 0.01], rtol=1e-12)


def test_swalr_state_dict_and_errors() -> None:
    opt = cr.optim.SGD([cr.nn.Parameter(cr.zeros(2))], lr=1.0)
    s = S.SWALR(opt, swa_lr=0.1, anneal_epochs=4, anneal_strategy="linear")
    s.step()
    sd = s.state_dict()
    assert "anneal_func" not in sd and "optimizer" not in sd and sd["_anneal_strategy"] == "linear"
    opt2 = cr.optim.SGD([cr.nn.Parameter(cr.zeros(2))], lr=1.0)
    s2 = S.SWALR(opt2, swa_lr=0.1)
    s2.load_state_dict(sd)
    assert s2.anneal_func(0.5) == 0.5 and s2.anneal_epochs == 4
    with pytest.raises(ValueError, match="anneal_strategy"):
        S.SWALR(opt, swa_lr=0.1, anneal_strategy="exp")  # type: ignore[arg-type]
    for bad in (-1, 2.5):
        with pytest.raises(ValueError, match="anneal_epochs"):
            S.SWALR(opt, swa_lr=0.1, anneal_epochs=bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="swa_lr"):
        S.SWALR(opt, swa_lr=[0.1, 0.2])
    with pytest.raises(TypeError, match="Optimizer"):
        S.SWALR("opt", swa_lr=0.1)  # type: ignore[arg-type]


@pytest.mark.parametrize("tuples", [False, True])
def test_update_bn_matches_pytorch(tuples: bool) -> None:
    cm, tm = _models()
    rng = np.random.default_rng(3)
    xs = [rng.standard_normal((7, 3)).astype(np.float32) * 2 + 1 for _ in range(4)]
    cload = [(cr.tensor(x), 0) if tuples else cr.tensor(x) for x in xs]
    tload = [(torch.tensor(x), 0) if tuples else torch.tensor(x) for x in xs]
    cm.eval()
    tm.eval()
    cm[1].momentum = tm[1].momentum = 0.3
    ca, ta = S.AveragedModel(cm), torch.optim.swa_utils.AveragedModel(tm)
    ca.eval()
    ta.eval()
    S.update_bn(cload, ca)
    torch.optim.swa_utils.update_bn(tload, ta)
    _assert_same_state(ca.state_dict(), ta.state_dict())
    bn = ca.module[1]
    assert bn.momentum == 0.3 and int(bn.num_batches_tracked) == 4
    assert not ca.training and not bn.training
    # the cumulative average: the mean of the four batches' means of the layer's input
    with cr.no_grad():
        means = [cm[0](cr.tensor(x)).numpy().mean(0) for x in xs]
    np.testing.assert_allclose(bn.running_mean.numpy(), np.mean(means, 0), rtol=1e-5, atol=1e-6)


def test_update_bn_without_batch_norm_is_a_no_op() -> None:
    m = cr.nn.Linear(2, 2)
    m.eval()
    S.update_bn([cr.randn(3, 2)], m)
    assert not m.training


def test_namespace() -> None:
    assert cr.optim.swa_utils is S
    for name in S.__all__:
        assert hasattr(torch.optim.swa_utils, name)
