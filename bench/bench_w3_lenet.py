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
from _harness import main  # noqa: E402

BATCH = 64


def _data():
    rng = np.random.default_rng(0)
    x = rng.random((BATCH, 1, 28, 28)).astype(np.float32)  # pixel intensities in [0, 1)
    y = rng.integers(0, 10, BATCH).astype(np.int64)
    return x, y


def make_cr_step():
    import chainrule as cr
    from chainrule import nn, optim

    cr.manual_seed(0)
    x, y = (cr.tensor(a) for a in _data())
    model = nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10),
    )
    loss_fn = nn.CrossEntropyLoss()
    opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

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
    model = nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10),
    )
    loss_fn = nn.CrossEntropyLoss()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    def step():
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()

    return step


if __name__ == "__main__":
    main("w3: LeNet-5, batch 64x1x28x28, CrossEntropy, SGD momentum 0.9", make_cr_step, make_torch_step,
         target=1.0, script=os.path.abspath(__file__))
