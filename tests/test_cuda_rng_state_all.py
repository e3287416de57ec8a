"""torch.cuda's generator states as on PyTorch's CPU-only build: checkpoint code saves
``torch.cuda.get_rng_state_all()`` unconditionally and restores it with ``set_rng_state_all``."""

from __future__ import annotations

import pytest

import chainrule as cr


def test_get_all_is_empty_and_set_all_accepts_it() -> None:
    assert cr.cuda.get_rng_state_all() == []
    cr.cuda.set_rng_state_all(cr.cuda.get_rng_state_all())
    cr.cuda.set_rng_state_all([cr.get_rng_state()])  # deferred until CUDA starts: never


def test_set_rng_state_is_deferred_not_refused() -> None:
    cr.cuda.set_rng_state(cr.get_rng_state())
    with pytest.raises(TypeError, match="new_state must be a Tensor"):
        cr.cuda.set_rng_state([1, 2])
    with pytest.raises(AssertionError, match="not compiled with CUDA"):
        cr.cuda.get_rng_state()  # still refused, as PyTorch's CPU build


def test_checkpoint_round_trip(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "ckpt.pt"
    cr.save({"cpu_rng": cr.get_rng_state(), "cuda_rng": cr.cuda.get_rng_state_all()}, path)
    ckpt = cr.load(path)
    cr.set_rng_state(ckpt["cpu_rng"])
    cr.cuda.set_rng_state_all(ckpt["cuda_rng"])


def test_against_pytorch() -> None:
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("PyTorch sees a GPU")
    assert torch.cuda.get_rng_state_all() == []
    torch.cuda.set_rng_state(torch.get_rng_state())
    torch.cuda.set_rng_state_all([torch.get_rng_state()])
