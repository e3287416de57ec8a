"""Random small training steps, compiled and eager, from the same start: the same losses and the
same parameters, buffers and optimiser state after six steps, bit for bit (the plan without
fused loops).  A step draws its model (Linear, activations, dropout, LayerNorm, BatchNorm, a
residual block), its optimiser (SGD with or without momentum, Nesterov, weight decay, Adam,
AdamW, RMSprop, Adagrad, Adamax, NAdam, RAdam), a StepLR scheduler or none, gradient clipping
or none, and its loss, from a seeded generator."""

from __future__ import annotations

import random
import warnings

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.nn import functional as F


class _Residual(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.inner = nn.Linear(width, width)

    def forward(self, x):
        return x + self.inner(x).tanh()


def _setup(seed: int):
    r = random.Random(seed)
    width = r.choice([4, 6, 8])
    made = {"linear": lambda: nn.Linear(width, width), "relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh,
            "dropout": lambda: nn.Dropout(0.2), "layernorm": lambda: nn.LayerNorm(width),
            "batchnorm": lambda: nn.BatchNorm1d(width), "silu": nn.SiLU, "residual": lambda: _Residual(width)}
    layers = [nn.Linear(5, width)] + [made[r.choice(sorted(made))]() for _ in range(r.randint(1, 5))]
    model = nn.Sequential(*layers, nn.Linear(width, 3)).double()
    ps = model.parameters()
    optimisers = {
        "sgd": lambda: cr.optim.SGD(ps, lr=0.05),
        "sgd momentum": lambda: cr.optim.SGD(ps, lr=0.05, momentum=0.9, weight_decay=1e-3),
        "nesterov": lambda: cr.optim.SGD(ps, lr=0.05, momentum=0.9, nesterov=True),
        "adam": lambda: cr.optim.Adam(ps, lr=1e-2), "adamw": lambda: cr.optim.AdamW(ps, lr=1e-2, weight_decay=0.1),
        "rmsprop": lambda: cr.optim.RMSprop(ps, lr=1e-2, momentum=0.5), "adagrad": lambda: cr.optim.Adagrad(ps, lr=0.1),
        "adamax": lambda: cr.optim.Adamax(ps, lr=1e-2), "nadam": lambda: cr.optim.NAdam(ps, lr=1e-2),
        "radam": lambda: cr.optim.RAdam(ps, lr=1e-2),
    }
    opt = optimisers[r.choice(sorted(optimisers))]()
    scheduler = cr.optim.lr_scheduler.StepLR(opt, 2, 0.5) if r.random() < 0.5 else None
    clip = r.random() < 0.4
    loss = r.choice(["cross_entropy", "mse_loss", "smooth_l1_loss"])

    def step(x, y):
        opt.zero_grad()
        out = model(x)
        target = y if loss == "cross_entropy" else F.one_hot(y, 3).double()
        value = getattr(F, loss)(out, target)
        value.backward()
        if clip:
            nn.utils.clip_grad_norm_(model.parameters(), 0.5)
        opt.step()
        if scheduler is not None:
            scheduler.step()
        return value

    return model, opt, step


@pytest.mark.parametrize("first", [0, 12])
def test_random_training_steps_compiled_equal_eager(first):
    for seed in range(first, first + 12):
        cr.manual_seed(seed)
        model_e, opt_e, eager = _setup(seed)
        cr.manual_seed(seed)
        model_c, opt_c, step = _setup(seed)
        compiled = cr.compile(step, options={"fusion": False})
        rng = np.random.default_rng(seed)
        for k in range(6):
            x, y = cr.tensor(rng.standard_normal((8, 5))), cr.tensor(rng.integers(0, 3, 8))
            cr.manual_seed(1000 + k)  # (dropout draws the same masks on both sides)
            want = eager(x, y).item()
            cr.manual_seed(1000 + k)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                got = compiled(x, y).item()
            assert got == want, f"seed {seed}, step {k}"
        for (name, a), (_, b) in zip(model_e.state_dict().items(), model_c.state_dict().items()):
            np.testing.assert_array_equal(b.numpy(), a.numpy(), err_msg=f"seed {seed}: {name}")
        assert compiled.stats["replays"] >= 3, (seed, compiled.stats)
