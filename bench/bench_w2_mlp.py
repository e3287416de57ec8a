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
from _harness import main  # noqa: E402

SIZES = (784, 512, 512, 10)
BATCH = 128


def _data():
    rng = np.random.default_rng(0)
    x = rng.random((BATCH, SIZES[0])).astype(np.float32)  # pixel intensities in [0, 1)
    y = rng.integers(0, SIZES[-1], BATCH).astype(np.int64)
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

    def loss_fn(z, y):  # cross-entropy: −mean log softmax(z)[y]
        return -cr.take_along_dim(z.log_softmax(-1), y.reshape(-1, 1), 1).mean()

    return params, forward, loss_fn


def make_cr_step():
    import chainrule as cr
    import chainrule.optim  # noqa: F401
    from chainrule import nn

    cr.manual_seed(0)
    x, y = (cr.tensor(a) for a in _data())
    if all(hasattr(nn, n) for n in ("Sequential", "Linear", "ReLU", "nn.CrossEntropyLoss")):
        model = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 10))
        params, forward, loss_fn = list(model.parameters()), model, nn.CrossEntropyLoss()
    else:
        print("(nn modules missing: chainrule side built from core ops)", file=sys.stderr)
        params, forward, loss_fn = _cr_model_functional(cr)
    opt = cr.optim.SGD(params, lr=0.01, momentum=0.9)

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
    model = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 10))
    loss_fn = nn.CrossEntropyLoss()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    def step():
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()

    return step


if __name__ == "__main__":
    main("w2: MLP 784-512-512-10, CrossEntropy, batch 128, SGD momentum 0.9", make_cr_step, make_torch_step,
         target=1.0, script=os.path.abspath(__file__))
