"""torch.version as on PyTorch's CPU-only build (no CUDA, HIP, ROCm or XPU)."""

from __future__ import annotations

import pytest

import chainrule as cr


def test_values() -> None:
    assert cr.version.__version__ == cr.__version__
    assert cr.version.cuda is None and cr.version.hip is None and cr.version.rocm is None and cr.version.xpu is None
    assert cr.version.debug is False and isinstance(cr.version.git_version, str)


def test_gpu_program_idiom() -> None:
    info = f"torch {cr.__version__}, CUDA {cr.version.cuda}, cuDNN {cr.backends.cudnn.version()}"
    assert "CUDA None" in info


def test_names_match_pytorch() -> None:
    torch = pytest.importorskip("torch")
    theirs = {n for n in dir(torch.version) if not n.startswith("_") and n != "Optional"}
    assert theirs <= set(dir(cr.version))
    if not torch.cuda.is_available() and torch.version.cuda is None:
        assert cr.version.cuda == torch.version.cuda
