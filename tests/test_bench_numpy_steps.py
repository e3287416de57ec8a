"""The hand-written NumPy training steps of bench/numpy_steps.py compute what the workloads compute.

bench/bench_compile.py times them beside PyTorch eager, chainrule eager and compiled, and JAX:
a benchmark of a wrong computation is worthless. Each step is checked against chainrule's eager
step (and PyTorch's, when installed) built by the workload's own ``build`` from the same initial
parameters and data: after 5 steps the losses and parameters agree to float32 rounding. Numbers
only; no speed is checked here (benchmarks are not tests).
"""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

BENCH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bench")
sys.path.insert(0, BENCH)

import bench_w1_mlp  # noqa: E402
import bench_w2_mlp  # noqa: E402
import numpy_steps  # noqa: E402
from _harness import framework  # noqa: E402

STEPS = 5
RTOL, ATOL = 1e-5, 1e-6  # float32 rounding; ATOL for the entries near zero

WORKLOADS = {
    "w1": (bench_w1_mlp, numpy_steps.W1Adam),
    "w2": (bench_w2_mlp, numpy_steps.W2SGD),
}


def _params(opt) -> list:
    return [p for g in opt.param_groups for p in g["params"]]


def _run_framework(module, name: str, initial: list) -> tuple:
    """``STEPS`` eager steps of the workload in framework ``name`` from ``initial``: (losses, parameters)."""
    nn, optim, as_tensor = framework(name)
    loss_fn, opt = module.build(nn, optim, as_tensor)
    params = _params(opt)
    assert [tuple(p.shape) for p in params] == [a.shape for a in initial]
    if name == "torch":
        import torch as lib
    else:
        import chainrule as lib
    with lib.no_grad():
        for p, a in zip(params, initial):
            p.copy_(as_tensor(a.copy()))
    losses = []
    for _ in range(STEPS):
        opt.zero_grad()
        loss = loss_fn()
        loss.backward()
        opt.step()
        losses.append(float(loss.item()))
    return losses, [p.detach().numpy().copy() for p in params]


def _initial(module) -> list:
    """The workload's initial parameters as chainrule makes them (seeded), float32, PyTorch's layout."""
    _, opt = module.build(*framework("chainrule"))
    arrays = [p.detach().numpy().copy() for p in _params(opt)]
    assert all(a.dtype == np.float32 for a in arrays)
    return arrays


def _run_numpy(module, cls, initial: list) -> tuple:
    x, y = module._data()
    step = cls([a.copy() for a in initial], x, y)
    losses = [step.step() for _ in range(STEPS)]
    assert all(p.dtype == np.float32 for p in step.params)
    return losses, [p.copy() for p in step.params]


def _assert_same(got: tuple, want: tuple, what: str) -> None:
    (losses, params), (want_losses, want_params) = got, want
    np.testing.assert_allclose(losses, want_losses, rtol=RTOL, err_msg=f"{what}: losses")
    for i, (p, q) in enumerate(zip(params, want_params)):
        np.testing.assert_allclose(p, q, rtol=RTOL, atol=ATOL, err_msg=f"{what}: parameter {i}")


@pytest.mark.parametrize("workload", sorted(WORKLOADS))
def test_numpy_step_matches_chainrule_eager(workload: str) -> None:
    module, cls = WORKLOADS[workload]
    initial = _initial(module)
    got = _run_numpy(module, cls, initial)
    want = _run_framework(module, "chainrule", initial)
    _assert_same(got, want, f"{workload} NumPy by hand vs chainrule eager")
    # the parameters moved: the comparison is of training, not of five no-ops
    assert all(not np.array_equal(p, a) for p, a in zip(got[1], initial))
    assert got[0][-1] < got[0][0]


@pytest.mark.parametrize("workload", sorted(WORKLOADS))
def test_numpy_step_matches_pytorch(workload: str) -> None:
    pytest.importorskip("torch")
    module, cls = WORKLOADS[workload]
    initial = _initial(module)
    _assert_same(_run_numpy(module, cls, initial), _run_framework(module, "torch", initial),
                 f"{workload} NumPy by hand vs PyTorch eager")


def test_first_loss_from_the_formulas() -> None:
    """The first losses from the definitions, in float64, independently of the fast code paths."""
    for workload, (module, cls) in WORKLOADS.items():
        initial = _initial(module)
        x, y = module._data()
        h = x.astype(np.float64)
        for i in range(0, 4, 2):
            h = np.maximum(h @ initial[i].T.astype(np.float64) + initial[i + 1], 0.0)
        z = h @ initial[4].T.astype(np.float64) + initial[5]
        if workload == "w1":  # BCE on logits: −[y log σ(z) + (1 − y) log(1 − σ(z))]
            s = 1.0 / (1.0 + np.exp(-z))
            want = float(np.mean(-(y * np.log(s) + (1 - y) * np.log(1 - s))))
        else:  # cross-entropy: −log softmax(z)_y
            logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
            want = float(-logp[np.arange(len(y)), y].mean())
        got = cls([a.copy() for a in initial], x, y).step()
        assert got == pytest.approx(want, rel=1e-5), workload


@pytest.mark.parametrize("workload", sorted(WORKLOADS))
def test_jax_step_of_the_benchmark_matches_the_numpy_step(workload: str) -> None:
    """bench_compile.py's JAX steps (an optional yardstick) train the same way: 5 steps agree."""
    pytest.importorskip("jax")
    import bench_compile

    module, cls = WORKLOADS[workload]
    initial = _initial(module)
    js = bench_compile.JAX_STEPS[workload](module, [a.copy() for a in initial])
    losses = [float(js()) for _ in range(STEPS)]
    got = (losses, [np.asarray(p) for p in js.state[0]])
    _assert_same(got, _run_numpy(module, cls, initial), f"{workload} JAX jit vs NumPy by hand")


def test_jax_w5_gradients_match_chainrule() -> None:
    """w5 in JAX: the loss and the gradients for x, w, b are chainrule's (bench_core's chain)."""
    pytest.importorskip("jax")
    import bench_compile

    loss_fn, opt = bench_compile.build_w5(*framework("chainrule"))
    loss = loss_fn()
    loss.backward()
    params = opt.param_groups[0]["params"]
    js = bench_compile.jax_w5([p.detach().numpy().copy() for p in params])
    assert float(js()) == pytest.approx(float(loss.item()), rel=RTOL)
    for p, g in zip(params, js.state[1]):
        np.testing.assert_allclose(np.asarray(g), p.grad.numpy(), rtol=RTOL, atol=ATOL)
