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


def make_cr_step():
    import chainrule as cr
    from chainrule import nn, optim

    cr.manual_seed(0)
    x, y = (cr.tensor(a) for a in _data())
    model = nn.Sequential(nn.Linear(13, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 1))
    loss_fn = nn.BCEWithLogitsLoss()
    opt = optim.Adam(model.parameters(), lr=1e-3)

    def step():
        opt.zero_grad()
        loss = loss_fn(model(x), y)
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
