"""Workload w1: MLP 13-32-32-1 (ReLU), BCEWithLogitsLoss, batch 64, Adam — one training step.

The shape of the notes' Heart-data classifier (13 tabular features, a yes/no
target): a small network where per-op and per-parameter overheads dominate.
Target: chainrule at least 2× PyTorch's steps/s.  Run: ``python bench/bench_w1_mlp.py``.
"""

from __future__ import annotations

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _harness import main  # noqa: E402

SIZES = (13, 32, 32, 1)
BATCH = 64


def _data():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((BATCH, SIZES[0])).astype(np.float32)
    y = (rng.random((BATCH, 1)) < 0.5).astype(np.float32)
    return x, y


def _cr_model_functional(cr):
    """The same MLP from core ops (used while nn modules are missing): PyTorch's Linear layout and init."""
    params = []
    for n_in, n_out in zip(SIZES[:-1], SIZES[1:]):
        bound = 1.0 / n_in**0.5
        params.append(cr.rand(n_out, n_in, requires_grad=False) * (2 * bound) - bound)
        params.append(cr.rand(n_out) * (2 * bound) - bound)
    for p in params:
        p.requires_grad_(True)

    def forward(x):
        h = x
        for i in range(0, len(params), 2):
            h = h @ params[i].T + params[i + 1]
            if i + 2 < len(params):
                h = h.relu()
        return h

    def loss_fn(z, y):  # BCE with logits: mean(max(z, 0) − z y + log(1 + e^−|z|))
        return (z.relu() - z * y + (-z.abs()).exp().log1p()).mean()

    return params, forward, loss_fn


def make_cr_step():
    import chainrule as cr
    import chainrule.optim  # noqa: F401
    from chainrule import nn

    cr.manual_seed(0)
    x, y = (cr.tensor(a) for a in _data())
    if all(hasattr(nn, n) for n in ("Sequential", "Linear", "ReLU", "nn.BCEWithLogitsLoss")):
        model = nn.Sequential(nn.Linear(13, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 1))
        params, forward, loss_fn = list(model.parameters()), model, nn.BCEWithLogitsLoss()
    else:
        print("(nn modules missing: chainrule side built from core ops)", file=sys.stderr)
        params, forward, loss_fn = _cr_model_functional(cr)
    opt = cr.optim.Adam(params, lr=1e-3)

    def step():
        opt.zero_grad()
        loss = loss_fn(forward(x), y)
        loss.backward()
        opt.step()

    return step


def make_torch_step():
    import torch
    from torch import nn

    torch.manual_seed(0)
    x, y = (torch.from_numpy(a) for a in _data())
    model = nn.Sequential(nn.Linear(13, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 1))
    loss_fn = nn.BCEWithLogitsLoss()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step():
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()

    return step


if __name__ == "__main__":
    main("w1: MLP 13-32-32-1, BCEWithLogits, batch 64, Adam", make_cr_step, make_torch_step, target=2.0,
         script=os.path.abspath(__file__))
