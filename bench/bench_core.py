"""Core benchmark: 50 × (mul, add, tanh) on 10 elements, then sum().backward().

Measures per-op overhead of the autograd engine.  Target (issue 2): chainrule
at least 2× PyTorch's steps/s.  Run: ``python bench/bench_core.py``.
"""

from __future__ import annotations

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _harness import main  # noqa: E402

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


if __name__ == "__main__":
    main("core: 50x(mul, add, tanh) on 10 elements + backward", make_cr_step, make_torch_step, target=2.0,
         script=os.path.abspath(__file__))
