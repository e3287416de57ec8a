"""The factories' ``pin_memory=`` keyword, as on PyTorch's CPU-only build: False is accepted,
True raises (pinned memory needs an accelerator's allocator)."""

from __future__ import annotations

from typing import Any, Callable

import pytest

import chainrule as cr

CALLS: dict[str, Callable[[Any, bool], Any]] = {
    "tensor": lambda t, p: t.tensor([1.0], pin_memory=p),
    "zeros": lambda t, p: t.zeros(2, pin_memory=p),
    "ones": lambda t, p: t.ones(2, pin_memory=p),
    "empty": lambda t, p: t.empty(2, pin_memory=p),
    "full": lambda t, p: t.full((2,), 1.0, pin_memory=p),
    "arange": lambda t, p: t.arange(3, pin_memory=p),
    "linspace": lambda t, p: t.linspace(0, 1, 3, pin_memory=p),
    "logspace": lambda t, p: t.logspace(0, 1, 3, pin_memory=p),
    "eye": lambda t, p: t.eye(2, pin_memory=p),
    "rand": lambda t, p: t.rand(2, pin_memory=p),
    "randn": lambda t, p: t.randn(2, pin_memory=p),
    "randint": lambda t, p: t.randint(3, (2,), pin_memory=p),
    "randperm": lambda t, p: t.randperm(3, pin_memory=p),
    "zeros_like": lambda t, p: t.zeros_like(t.ones(2), pin_memory=p),
    "ones_like": lambda t, p: t.ones_like(t.ones(2), pin_memory=p),
    "empty_like": lambda t, p: t.empty_like(t.ones(2), pin_memory=p),
    "full_like": lambda t, p: t.full_like(t.ones(2), 3.0, pin_memory=p),
    "rand_like": lambda t, p: t.rand_like(t.ones(2), pin_memory=p),
    "randn_like": lambda t, p: t.randn_like(t.ones(2), pin_memory=p),
    "normal": lambda t, p: t.normal(0.0, 1.0, (2,), pin_memory=p),
}


@pytest.mark.parametrize("name", list(CALLS))
def test_pin_memory_false_is_accepted_true_refused(name: str) -> None:
    out = CALLS[name](cr, False)
    assert isinstance(out, cr.Tensor) and not out.is_pinned()
    with pytest.raises(RuntimeError, match="pin_memory=True requires a CUDA or other accelerator backend"):
        CALLS[name](cr, True)


@pytest.mark.parametrize("name", list(CALLS))
def test_against_pytorch(name: str) -> None:
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("PyTorch sees a GPU")
    CALLS[name](torch, False)
    with pytest.raises(RuntimeError):
        CALLS[name](torch, True)
