"""The functions tests/test_multiprocessing.py runs in child processes.

They live in a module of their own (not in the test file) because a "spawn" child imports the
module its function comes from: this one imports chainrule and nothing else.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

import chainrule as cr
import chainrule.nn as nn


def put_rank(rank: int, q: Any, scale: float) -> None:
    """spawn's fn(i, *args): send (i, a tensor made from i) back to the parent."""
    q.put((rank, cr.full((2, 3), float(rank) * scale, dtype=cr.float64)))


def raise_on(rank: int, bad: int) -> None:
    """Rank ``bad`` raises; the others would sleep for a minute unless terminated."""
    if rank == bad:
        raise ValueError(f"rank {rank} failed on purpose")
    time.sleep(60)


def exit_with(rank: int, code: int) -> None:
    """Exit with status ``code``; a negative code: die of that signal."""
    if code < 0:
        os.kill(os.getpid(), -code)
        time.sleep(30)
    sys.exit(code)


def wait_for(rank: int, event: Any) -> None:
    """Run until the parent sets ``event`` (join(timeout) must say False meanwhile)."""
    if not event.wait(30):
        raise RuntimeError("the parent never set the event")


def echo(inbox: Any, outbox: Any) -> None:
    """Receive tensors, write into the shared ones, send back what arrived (with is_shared)."""
    shared, plain = inbox.get()
    shared[0] = 100.0  # the parent's memory
    plain[0] = 100.0  # a copy: the parent's tensor stays as it was
    outbox.put((shared.is_shared(), plain.is_shared(), plain.clone(), shared[1:]))
    inbox.get()  # stay alive until the parent has read the reply (shared[1:] is a handle to memory)


def write_rank(rank: int, t: cr.Tensor) -> None:
    """Each process writes its own slot of a shared tensor."""
    t[rank] = float(rank + 10)


def hogwild(rank: int, model: nn.Module, steps: int, done: cr.Tensor) -> None:
    """Hogwild: SGD on the shared parameters, without locks, on y = 2 x0 - x1 + 0.5; each process
    counts its steps in its slot of the shared ``done``."""
    cr.manual_seed(rank)
    opt = cr.optim.SGD(model.parameters(), lr=0.1)
    w_true = cr.tensor([[2.0], [-1.0]])
    for _ in range(steps):
        x = cr.randn(16, 2)
        y = x @ w_true + 0.5
        loss = nn.functional.mse_loss(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        done[rank] += 1
