"""torch.nn.utils.prune: masks, reparametrisation, iterative pruning and removal, with PyTorch as oracle."""

from __future__ import annotations

import math

import numpy as np
import pytest

import chainrule as cr
from chainrule.nn.utils import prune as P

torch = pytest.importorskip("torch")
TP = pytest.importorskip("torch.nn.utils.prune")


def _distinct(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    """Values with distinct absolute values (no ties for L1 ranking), random signs."""
    rng = np.random.default_rng(seed)
    n = int(np.prod(shape))
    mags = rng.uniform(0.05, 1.0, n)  # (continuous draws: no ties, within a tensor or across tensors)
    return (mags * rng.choice([-1.0, 1.0], n)).reshape(shape).astype(np.float32)


def _pair(kind: str = "linear", seed: int = 0) -> tuple[cr.nn.Module, torch.nn.Module]:
    """The same layer in chainrule and PyTorch, with equal weights free of ties."""
    if kind == "linear":
        cm, tm = cr.nn.Linear(6, 5), torch.nn.Linear(6, 5)
    else:
        cm, tm = cr.nn.Conv2d(3, 4, 2), torch.nn.Conv2d(3, 4, 2)
    state = {k: _distinct(tuple(v.shape), seed + i) for i, (k, v) in enumerate(cm.state_dict().items())}
    cm.load_state_dict({k: cr.tensor(v) for k, v in state.items()})
    tm.load_state_dict({k: torch.tensor(v) for k, v in state.items()})
    return cm, tm


def _np(t) -> np.ndarray:
    return t.detach().numpy()


def _same_reparam(cm: cr.nn.Module, tm: torch.nn.Module, name: str = "weight") -> None:
    np.testing.assert_array_equal(_np(getattr(cm, name + "_mask")), _np(getattr(tm, name + "_mask")))
    np.testing.assert_allclose(_np(getattr(cm, name)), _np(getattr(tm, name)), rtol=1e-6)
    assert list(cm.state_dict()) == list(tm.state_dict())
    assert [n for n, _ in cm.named_parameters()] == [n for n, _ in tm.named_parameters()]
    assert [n for n, _ in cm.named_buffers()] == [n for n, _ in tm.named_buffers()]
    assert isinstance(getattr(cm, name + "_orig"), cr.nn.Parameter)
    assert not isinstance(getattr(cm, name), cr.nn.Parameter)


@pytest.mark.parametrize("amount", [0, 3, 30, 0.0, 0.3, 0.5, 0.55, 1.0])
def test_l1_unstructured_matches_pytorch(amount: float) -> None:
    cm, tm = _pair()
    assert P.l1_unstructured(cm, "weight", amount=amount) is cm
    TP.l1_unstructured(tm, "weight", amount=amount)
    _same_reparam(cm, tm)
    expected = amount if isinstance(amount, int) else round(amount * 30)
    assert int((_np(cm.weight_mask) == 0).sum()) == expected
    assert P.is_pruned(cm) and not P.is_pruned(cr.nn.Linear(2, 2))


def test_l1_unstructured_importance_scores_and_bias() -> None:
    cm, tm = _pair()
    scores = _distinct((5, 6), seed=9)
    P.l1_unstructured(cm, "weight", amount=7, importance_scores=cr.tensor(scores))
    TP.l1_unstructured(tm, "weight", amount=7, importance_scores=torch.tensor(scores))
    _same_reparam(cm, tm)
    P.l1_unstructured(cm, "bias", amount=0.4)
    TP.l1_unstructured(tm, "bias", amount=0.4)
    _same_reparam(cm, tm, "bias")


@pytest.mark.parametrize("kind", ["linear", "conv"])
@pytest.mark.parametrize("n", [1, 2, math.inf, -math.inf])
@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("amount", [1, 0.4])
def test_ln_structured_matches_pytorch(kind: str, n: float, dim: int, amount: float) -> None:
    cm, tm = _pair(kind, seed=3)
    P.ln_structured(cm, "weight", amount=amount, n=n, dim=dim)
    TP.ln_structured(tm, "weight", amount=amount, n=n, dim=dim)
    _same_reparam(cm, tm)
    # whole channels along dim are zero
    mask = np.moveaxis(_np(cm.weight_mask), dim, 0).reshape(cm.weight_mask.shape[dim], -1)
    assert all(row.min() == row.max() for row in mask)


def test_ln_structured_importance_scores() -> None:
    cm, tm = _pair("conv")
    scores = _distinct((4, 3, 2, 2), seed=11)
    P.ln_structured(cm, "weight", amount=2, n=1, dim=0, importance_scores=cr.tensor(scores))
    TP.ln_structured(tm, "weight", amount=2, n=1, dim=0, importance_scores=torch.tensor(scores))
    _same_reparam(cm, tm)


def test_iterative_pruning_composes_masks() -> None:
    cm, tm = _pair("conv", seed=4)
    steps = [
        ("l1_unstructured", {"amount": 0.2}),
        ("ln_structured", {"amount": 1, "n": 2, "dim": 0}),
        ("l1_unstructured", {"amount": 5}),
        ("ln_structured", {"amount": 0.34, "n": 1, "dim": 1}),
        ("l1_unstructured", {"amount": 0.5}),
    ]
    for fn, kw in steps:
        getattr(P, fn)(cm, "weight", **kw)
        getattr(TP, fn)(tm, "weight", **kw)
        _same_reparam(cm, tm)
    hooks = [h for h in cm._forward_pre_hooks.values() if isinstance(h, P.BasePruningMethod)]
    assert len(hooks) == 1 and isinstance(hooks[0], P.PruningContainer) and len(hooks[0]) == 5
    assert [type(m).__name__ for m in hooks[0]] == ["L1Unstructured", "LnStructured"] * 2 + ["L1Unstructured"]


def test_later_pruning_only_prunes_unpruned_units() -> None:
    cr.manual_seed(0)
    m = cr.nn.Linear(10, 10)
    P.random_unstructured(m, "weight", amount=30)
    first = _np(m.weight_mask).copy()
    P.random_unstructured(m, "weight", amount=20)  # 20 of the 70 remaining
    assert int((_np(m.weight_mask) == 0).sum()) == 50
    assert np.all(_np(m.weight_mask) <= first)
    P.l1_unstructured(m, "weight", amount=0.5)  # half of the remaining 50
    assert int((_np(m.weight_mask) == 0).sum()) == 75
    P.random_structured(m, "weight", amount=3, dim=0)  # 3 rows among those not already all zero
    rows = _np(m.weight_mask).reshape(10, 10)
    assert int((rows.sum(1) == 0).sum()) >= 3


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_random_structured_prunes_whole_channels(dim: int) -> None:
    cr.manual_seed(1)
    m = cr.nn.Conv2d(3, 6, 3)
    P.random_structured(m, "weight", amount=0.5, dim=dim)
    mask = np.moveaxis(_np(m.weight_mask), dim, 0)
    per_channel = mask.reshape(mask.shape[0], -1)
    assert all(row.min() == row.max() for row in per_channel)
    assert int((per_channel[:, 0] == 0).sum()) == round(0.5 * mask.shape[0])
    np.testing.assert_array_equal(_np(m.weight), _np(m.weight_orig) * _np(m.weight_mask))


def test_random_unstructured_count() -> None:
    cr.manual_seed(2)
    m = cr.nn.Linear(7, 3)
    P.random_unstructured(m, "weight", amount=0.25)
    assert int((_np(m.weight_mask) == 0).sum()) == round(0.25 * 21)
    assert set(np.unique(_np(m.weight_mask))) <= {0.0, 1.0}


@pytest.mark.parametrize("amount", [9, 0.3])
def test_global_unstructured_matches_pytorch(amount: float) -> None:
    (c1, t1), (c2, t2) = _pair(seed=0), _pair(seed=20)
    cparams = [(c1, "weight"), (c2, "weight"), (c2, "bias")]
    tparams = [(t1, "weight"), (t2, "weight"), (t2, "bias")]
    P.global_unstructured(cparams, pruning_method=P.L1Unstructured, amount=amount)
    TP.global_unstructured(tparams, pruning_method=TP.L1Unstructured, amount=amount)
    for (cm, name), (tm, _) in zip(cparams, tparams):
        _same_reparam(cm, tm, name)
    total = sum(int((_np(getattr(cm, n + "_mask")) == 0).sum()) for cm, n in cparams)
    assert total == (amount if isinstance(amount, int) else round(amount * 65))
    # again, on top of the first masks
    P.global_unstructured(cparams, pruning_method=P.L1Unstructured, amount=4)
    TP.global_unstructured(tparams, pruning_method=TP.L1Unstructured, amount=4)
    for (cm, name), (tm, _) in zip(cparams, tparams):
        _same_reparam(cm, tm, name)


def test_global_unstructured_importance_scores_and_errors() -> None:
    (c1, t1), (c2, t2) = _pair(seed=1), _pair(seed=2)
    s = _distinct((5, 6), seed=30)
    P.global_unstructured([(c1, "weight"), (c2, "weight")], P.L1Unstructured,
                          importance_scores={(c1, "weight"): cr.tensor(s)}, amount=10)
    TP.global_unstructured([(t1, "weight"), (t2, "weight")], TP.L1Unstructured,
                           importance_scores={(t1, "weight"): torch.tensor(s)}, amount=10)
    _same_reparam(c1, t1)
    _same_reparam(c2, t2)
    m = cr.nn.Linear(3, 3)
    with pytest.raises(TypeError, match="unstructured"):
        P.global_unstructured([(m, "weight")], P.LnStructured, amount=1, n=2, dim=0)
    with pytest.raises(TypeError, match="Iterable"):
        P.global_unstructured(3, P.L1Unstructured, amount=1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="dict"):
        P.global_unstructured([(m, "weight")], P.L1Unstructured, importance_scores=[1], amount=1)  # type: ignore[arg-type]
    cr.manual_seed(3)
    P.global_unstructured([(m, "weight"), (m, "bias")], P.RandomUnstructured, amount=5)
    assert int((_np(m.weight_mask) == 0).sum() + (_np(m.bias_mask) == 0).sum()) == 5


def test_remove_makes_pruning_permanent() -> None:
    cm, tm = _pair()
    P.l1_unstructured(cm, "weight", amount=0.4)
    P.ln_structured(cm, "weight", amount=1, n=2, dim=0)
    TP.l1_unstructured(tm, "weight", amount=0.4)
    TP.ln_structured(tm, "weight", amount=1, n=2, dim=0)
    expected = _np(cm.weight_orig) * _np(cm.weight_mask)
    assert P.remove(cm, "weight") is cm
    TP.remove(tm, "weight")
    assert isinstance(cm.weight, cr.nn.Parameter) and cm.weight.requires_grad
    np.testing.assert_array_equal(_np(cm.weight), expected)
    np.testing.assert_allclose(_np(cm.weight), _np(tm.weight))
    assert list(cm.state_dict()) == list(tm.state_dict()) == ["bias", "weight"]
    assert not hasattr(cm, "weight_orig") and not hasattr(cm, "weight_mask")
    assert not P.is_pruned(cm) and not cm._forward_pre_hooks
    with pytest.raises(ValueError, match="has to be pruned"):
        P.remove(cm, "weight")


def test_gradient_reaches_orig_through_unmasked_entries_only() -> None:
    cm, tm = _pair()
    P.l1_unstructured(cm, "weight", amount=12)
    TP.l1_unstructured(tm, "weight", amount=12)
    x = np.random.default_rng(5).standard_normal((4, 6)).astype(np.float32)
    (cm(cr.tensor(x)) ** 2).sum().backward()
    (tm(torch.tensor(x)) ** 2).sum().backward()
    g = _np(cm.weight_orig.grad)
    np.testing.assert_allclose(g, _np(tm.weight_orig.grad), rtol=1e-5, atol=1e-6)
    assert np.all(g[_np(cm.weight_mask) == 0] == 0) and np.any(g != 0)
    assert cm.weight_mask.grad is None and not cm.weight_mask.requires_grad


def test_training_with_a_pruned_layer_matches_pytorch() -> None:
    cm, tm = _pair("conv", seed=6)
    P.ln_structured(cm, "weight", amount=1, n=2, dim=0)
    P.l1_unstructured(cm, "weight", amount=0.25)
    TP.ln_structured(tm, "weight", amount=1, n=2, dim=0)
    TP.l1_unstructured(tm, "weight", amount=0.25)
    copt = cr.optim.SGD(cm.parameters(), lr=0.05, momentum=0.9)
    topt = torch.optim.SGD(tm.parameters(), lr=0.05, momentum=0.9)
    rng = np.random.default_rng(7)
    for _ in range(5):
        x = rng.standard_normal((2, 3, 4, 4)).astype(np.float32)
        for m, opt, lib in ((cm, copt, cr), (tm, topt, torch)):
            opt.zero_grad()
            (m(lib.tensor(x)) ** 2).mean().backward()
            opt.step()
    np.testing.assert_allclose(_np(cm.weight_orig), _np(tm.weight_orig), rtol=1e-4, atol=1e-5)
    cm(cr.zeros(1, 3, 4, 4))  # the hook recomputes weight from the trained orig
    assert np.all(_np(cm.weight)[_np(cm.weight_mask) == 0] == 0)
    np.testing.assert_allclose(_np(cm.weight), _np(cm.weight_orig) * _np(cm.weight_mask))


def test_state_dict_round_trip() -> None:
    cm, tm = _pair()
    P.l1_unstructured(cm, "weight", amount=0.5)
    P.l1_unstructured(cm, "bias", amount=2)
    TP.l1_unstructured(tm, "weight", amount=0.5)
    TP.l1_unstructured(tm, "bias", amount=2)
    sd = cm.state_dict()
    assert list(sd) == list(tm.state_dict()) == ["weight_orig", "bias_orig", "weight_mask", "bias_mask"]
    fresh = P.identity(cr.nn.Linear(6, 5), "weight")
    P.identity(fresh, "bias")
    assert list(fresh.state_dict()) == list(sd)
    fresh.load_state_dict(sd)
    x = cr.tensor(np.random.default_rng(8).standard_normal((3, 6)).astype(np.float32))
    np.testing.assert_allclose(_np(fresh(x)), _np(cm(x)), rtol=1e-6)
    # into PyTorch's pruned layer, by the same keys
    tm.load_state_dict({k: torch.tensor(_np(v)) for k, v in sd.items()})
    np.testing.assert_allclose(_np(tm(torch.tensor(x.numpy()))), _np(cm(x)), rtol=1e-5, atol=1e-6)


def test_pruned_module_copies_and_pickles() -> None:
    import copy
    import pickle

    cm, _ = _pair()
    P.l1_unstructured(cm, "weight", amount=0.5)
    x = cr.tensor(np.random.default_rng(9).standard_normal((2, 6)).astype(np.float32))
    for other in (copy.deepcopy(cm), pickle.loads(pickle.dumps(cm))):
        assert P.is_pruned(other) and list(other.state_dict()) == list(cm.state_dict())
        np.testing.assert_array_equal(_np(other(x)), _np(cm(x)))
        P.remove(other, "weight")
        assert P.is_pruned(cm)


def test_custom_from_mask_identity_and_prune_method() -> None:
    m = P.custom_from_mask(cr.nn.Linear(5, 3), name="bias", mask=cr.tensor([0, 1, 0]))
    np.testing.assert_array_equal(_np(m.bias_mask), [0.0, 1.0, 0.0])
    assert m.bias_mask.dtype == cr.float32
    P.custom_from_mask(m, "bias", mask=cr.tensor([1, 0, 1]))  # combined: all pruned
    np.testing.assert_array_equal(_np(m.bias_mask), [0.0, 0.0, 0.0])
    m2 = P.identity(cr.nn.Linear(2, 2), "weight")
    np.testing.assert_array_equal(_np(m2.weight_mask), np.ones((2, 2)))
    t = cr.tensor([[3.0, -1.0], [0.5, -4.0]])
    np.testing.assert_array_equal(_np(P.L1Unstructured(amount=2).prune(t)), [[3.0, 0.0], [0.0, -4.0]])
    pc = P.PruningContainer()
    pc._tensor_name = "w"
    bad = P.Identity()
    bad._tensor_name = "v"
    with pytest.raises(ValueError, match="'w'"):
        pc.add_pruning_method(bad)
    with pytest.raises(TypeError, match="BasePruningMethod"):
        pc.add_pruning_method("nope")  # type: ignore[arg-type]


def test_bad_arguments() -> None:
    for bad in (-1, 1.5, -0.1):
        with pytest.raises(ValueError, match="amount"):
            P.L1Unstructured(amount=bad)
    with pytest.raises(TypeError, match="amount"):
        P.RandomUnstructured(amount="half")  # type: ignore[arg-type]
    m = cr.nn.Linear(3, 2)
    with pytest.raises(ValueError, match="smaller than the number of parameters"):
        P.l1_unstructured(m, "weight", amount=7)
    # the failed pruning left the parameter as it was
    assert isinstance(m.weight, cr.nn.Parameter) and "weight" in m._parameters
    assert not hasattr(m, "weight_orig") and not hasattr(m, "weight_mask") and not P.is_pruned(m)
    with pytest.raises(ValueError, match="multidimensional"):
        P.ln_structured(m, "bias", amount=1, n=2, dim=0)
    with pytest.raises(IndexError, match="Invalid index"):
        P.ln_structured(m, "weight", amount=1, n=2, dim=2)
    with pytest.raises(AssertionError, match="same shape"):
        P.l1_unstructured(m, "weight", amount=1, importance_scores=cr.ones(3))
    with pytest.raises(AttributeError):
        P.l1_unstructured(m, "nonexistent", amount=1)
    # as PyTorch's rollback: the parameter registered again (after the others)
    tm = torch.nn.Linear(3, 2)
    with pytest.raises(ValueError):
        TP.l1_unstructured(tm, "weight", amount=7)
    assert list(m.state_dict()) == list(tm.state_dict())


def test_namespace() -> None:
    assert cr.nn.utils.prune is P
    for name in P.__all__:
        assert hasattr(TP, name)
