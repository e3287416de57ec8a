"""Workload w3: LeNet-5 on a 64×1×28×28 batch, CrossEntropyLoss, SGD momentum 0.9 — one training step.

    conv 1→6 (5×5, pad 2) → ReLU → max-pool 2 → conv 6→16 (5×5) → ReLU → max-pool 2
    → flatten (400) → 120 → ReLU → 84 → ReLU → 10

Sizes (the notes' (in - k + 2 pad)/stride + 1): 28 → 28 → 14 → 10 → 5.  The time
goes into the two convolutions (im2col + batched matrix products and their
col2im/weight-gradient products) and the pooling/ReLU passes over the
64×6×28×28 and 64×16×10×10 feature maps.  Target: chainrule at least 1.0×
PyTorch's steps/s.  Run: ``python bench/bench_w3_lenet.py``.
"""

from __future__ import annotations

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _harness import run_workload  # noqa: E402

BATCH = 64


def _data():
    rng = np.random.default_rng(0)
    x = rng.random((BATCH, 1, 28, 28)).astype(np.float32)  # pixel intensities in [0, 1)
    y = rng.integers(0, 10, BATCH).astype(np.int64)
    return x, y


def build(nn, optim, as_tensor):
    """The same code builds the chainrule and the PyTorch side."""
    x, y = (as_tensor(a) for a in _data())
    model = nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10),
    )
    criterion = nn.CrossEntropyLoss()
    opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    return (lambda: criterion(model(x), y)), opt


if __name__ == "__main__":
    run_workload("w3: LeNet-5, batch 64x1x28x28, CrossEntropy, SGD momentum 0.9", build, target=1.0,
                 script=os.path.abspath(__file__))
