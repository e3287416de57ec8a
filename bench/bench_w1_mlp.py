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
from _harness import run_workload  # noqa: E402

SIZES = (13, 32, 32, 1)
BATCH = 64


def _data():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((BATCH, SIZES[0])).astype(np.float32)
    y = (rng.random((BATCH, 1)) < 0.5).astype(np.float32)
    return x, y


def build(nn, optim, as_tensor):
    """The same code builds the chainrule and the PyTorch side."""
    x, y = (as_tensor(a) for a in _data())
    a, b, c, d = SIZES
    model = nn.Sequential(nn.Linear(a, b), nn.ReLU(), nn.Linear(b, c), nn.ReLU(), nn.Linear(c, d))
    criterion = nn.BCEWithLogitsLoss()
    opt = optim.Adam(model.parameters(), lr=1e-3)
    return (lambda: criterion(model(x), y)), opt


if __name__ == "__main__":
    run_workload("w1: MLP 13-32-32-1, BCEWithLogits, batch 64, Adam", build, target=2.0,
                 script=os.path.abspath(__file__))
