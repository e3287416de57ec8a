"""Core benchmark: 50 × (mul, add, tanh) on 10 elements, then sum().backward().

Measures per-op overhead of the autograd engine.  Target (issue 2): chainrule
at least 2× PyTorch's steps/s.  Run: ``python bench/bench_core.py``.
"""

from __future__ import annotations

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _harness import compare, main  # noqa: E402

DEPTH = 50


def make_cr_step():
    import chainrule as cr

    rng = np.random.default_rng(0)
    x, w, b = (cr.tensor(rng.standard_normal(10), dtype=cr.float32, requires_grad=True) for _ in range(3))

    def step():
        x.grad = w.grad = b.grad = None
        h = x
        for _ in range(DEPTH):
            h = (h * w + b).tanh()
        h.sum().backward()

    return step


def make_torch_step():
    import torch

    rng = np.random.default_rng(0)
    x, w, b = (torch.tensor(rng.standard_normal(10), dtype=torch.float32, requires_grad=True) for _ in range(3))

    def step():
        x.grad = w.grad = b.grad = None
        h = x
        for _ in range(DEPTH):
            h = (h * w + b).tanh()
        h.sum().backward()

    return step


# ---- a matmul-heavy step on the core ops alone (no nn): where the time is BLAS, the core
# must add no copies and no float64 promotion (all arrays stay float32).
MLP_SIZES = (784, 512, 512, 10)
MLP_BATCH = 128


def _mlp_arrays():
    rng = np.random.default_rng(0)
    weights = []
    for n_in, n_out in zip(MLP_SIZES[:-1], MLP_SIZES[1:]):
        weights += [rng.standard_normal((n_in, n_out)) / np.sqrt(n_in), np.zeros(n_out)]
    x = rng.random((MLP_BATCH, MLP_SIZES[0]))
    y = rng.integers(0, MLP_SIZES[-1], MLP_BATCH)
    return [w.astype(np.float32) for w in weights], x.astype(np.float32), y


def make_cr_mlp_step():
    import chainrule as cr

    arrays, xa, ya = _mlp_arrays()
    params = [cr.tensor(a, requires_grad=True) for a in arrays]
    x, y, rows = cr.tensor(xa), cr.tensor(ya), cr.arange(MLP_BATCH)

    def step():
        for p in params:
            p.grad = None
        h = x
        for i in range(0, len(params) - 2, 2):
            h = (h @ params[i] + params[i + 1]).relu()
        logp = (h @ params[-2] + params[-1]).log_softmax(-1)
        loss = -logp[rows, y].mean()
        loss.backward()
        return loss

    loss = step()
    assert loss.dtype == np.float32 and all(p.grad.dtype == np.float32 for p in params)
    return step


def make_torch_mlp_step():
    import torch

    arrays, xa, ya = _mlp_arrays()
    params = [torch.tensor(a, requires_grad=True) for a in arrays]
    x, y, rows = torch.from_numpy(xa), torch.from_numpy(ya), torch.arange(MLP_BATCH)

    def step():
        for p in params:
            p.grad = None
        h = x
        for i in range(0, len(params) - 2, 2):
            h = (h @ params[i] + params[i + 1]).relu()
        logp = (h @ params[-2] + params[-1]).log_softmax(-1)
        loss = -logp[rows, y].mean()
        loss.backward()
        return loss

    return step


if __name__ == "__main__":
    main("core: 50x(mul, add, tanh) on 10 elements + backward", make_cr_step, make_torch_step, target=2.0,
         script=os.path.abspath(__file__))
    if "--mem" not in sys.argv:
        compare("core ops, matmul-heavy: MLP 784-512-512-10 forward+backward, batch 128, float32",
                make_cr_mlp_step, make_torch_mlp_step, target=1.0, rounds=3)
