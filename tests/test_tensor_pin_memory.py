"""Tensor.pin_memory / is_pinned as on PyTorch's CPU-only build (no accelerator, no pinned memory)."""

from __future__ import annotations

import pytest

import chainrule as cr


def test_is_pinned_is_false() -> None:
    assert cr.randn(2).is_pinned() is False


def test_pin_memory_needs_an_accelerator() -> None:
    with pytest.raises(RuntimeError, match="Cannot access accelerator device when none is available"):
        cr.randn(2).pin_memory()
    with pytest.warns(DeprecationWarning, match="'device' of Tensor.pin_memory"), pytest.raises(RuntimeError):
        cr.randn(2).pin_memory("cuda")


def test_guarded_pinning_as_gpu_programs_write_it() -> None:
    x = cr.randn(3)
    x = x.pin_memory() if cr.cuda.is_available() else x
    assert not x.is_pinned()


def test_against_pytorch() -> None:
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("PyTorch sees a GPU")
    assert torch.randn(2).is_pinned() is False
    with pytest.raises(RuntimeError, match="Cannot access accelerator device when none is available"):
        torch.randn(2).pin_memory()
