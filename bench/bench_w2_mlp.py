"""Workload w2: MLP 784-512-512-10 (ReLU), CrossEntropyLoss, batch 128, SGD momentum 0.9 — one training step.

An MNIST-sized classifier: the time goes into the matrix products (BLAS, for
both frameworks) and the element-wise passes over the 128×512 activations and
the 512×784 weights.  Target: chainrule at least 1.0× PyTorch's steps/s.
Run: ``python bench/bench_w2_mlp.py``.
"""

from __future__ import annotations

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _harness import run_workload  # noqa: E402

SIZES = (784, 512, 512, 10)
BATCH = 128


def _data():
    rng = np.random.default_rng(0)
    x = rng.random((BATCH, SIZES[0])).astype(np.float32)  # pixel intensities in [0, 1)
    y = rng.integers(0, SIZES[-1], BATCH).astype(np.int64)
    return x, y


def build(nn, optim, as_tensor):
    """The same code builds the chainrule and the PyTorch side."""
    x, y = (as_tensor(a) for a in _data())
    a, b, c, d = SIZES
    model = nn.Sequential(nn.Linear(a, b), nn.ReLU(), nn.Linear(b, c), nn.ReLU(), nn.Linear(c, d))
    criterion = nn.CrossEntropyLoss()
    opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    return (lambda: criterion(model(x), y)), opt


if __name__ == "__main__":
    run_workload("w2: MLP 784-512-512-10, CrossEntropy, batch 128, SGD momentum 0.9", build, target=1.0,
                 script=os.path.abspath(__file__))
