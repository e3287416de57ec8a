"""Training-loop patterns of real PyTorch programs under ``torch.compile``, each compared with
the same loop run eagerly, bit for bit: a step that also updates an EMA teacher in place under
``no_grad`` with OneCycleLR and gradient clipping (self-distillation), and PyTorch's "compiled
optimizer" recipe (only ``opt.step(); sched.step()`` compiled, the learning rate a tensor)."""

from __future__ import annotations

import copy

import numpy as np

import chainrule as torch
from chainrule import nn
from chainrule.nn import functional as F


def _xs(n, shape, seed=0):
    rng = np.random.default_rng(seed)
    return [torch.tensor(rng.standard_normal(shape).astype(np.float32)) for _ in range(n)]


def _distillation(compiled):
    torch.manual_seed(0)
    student = nn.Sequential(nn.Linear(8, 16), nn.GELU(), nn.Linear(16, 4))
    teacher = copy.deepcopy(student)
    for p in teacher.parameters():
        p.requires_grad_(False)
    opt = torch.optim.AdamW(student.parameters(), lr=1e-2, weight_decay=0.05)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=1e-2, total_steps=40)

    def step(x):
        opt.zero_grad(set_to_none=True)
        with torch.no_grad():
            target = F.softmax(teacher(x) / 0.5, dim=-1)
        loss = -(target * F.log_softmax(student(x), dim=-1)).sum(-1).mean()
        loss.backward()
        nn.utils.clip_grad_norm_(student.parameters(), 1.0)
        opt.step()
        sched.step()
        with torch.no_grad():
            for pt, ps in zip(teacher.parameters(), student.parameters()):
                pt.mul_(0.99).add_(ps.detach(), alpha=0.01)
        return loss

    fn = torch.compile(step) if compiled else step
    losses = [fn(x).item() for x in _xs(30, (32, 8))]
    return losses, student, teacher, fn


def test_self_distillation_step_with_an_ema_teacher_replays_eagers_numbers():
    le, se, te, _ = _distillation(False)
    lc, sc, tc, fn = _distillation(True)
    assert fn.stats["replays"] >= 27 and fn.stats["eager"] == 0
    assert le == lc
    for a, b in zip(list(se.parameters()) + list(te.parameters()), list(sc.parameters()) + list(tc.parameters())):
        np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())


def _compiled_optimizer(compiled):
    torch.manual_seed(0)
    model = nn.Sequential(*[nn.Linear(16, 16) for _ in range(3)])
    opt = torch.optim.Adam(model.parameters(), lr=torch.tensor(0.01))
    sched = torch.optim.lr_scheduler.LinearLR(opt, total_iters=5)

    def fn():
        opt.step()
        sched.step()

    f = torch.compile(fn) if compiled else fn
    for x in _xs(8, (4, 16), seed=1):
        model(x).sum().backward()
        f()
        opt.zero_grad()
    return [p.detach().numpy().copy() for p in model.parameters()], f


def test_the_compiled_optimizer_recipe_replays_eagers_numbers():
    pe, _ = _compiled_optimizer(False)
    pc, f = _compiled_optimizer(True)
    assert f.stats["replays"] >= 6 and f.stats["eager"] == 0
    for a, b in zip(pe, pc):
        np.testing.assert_array_equal(a, b)
