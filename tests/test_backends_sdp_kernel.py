"""torch.backends.cuda.sdp_kernel: the deprecated attention-backend context manager that
transformer code written for GPUs enters unconditionally."""

from __future__ import annotations

import pytest

import chainrule as cr
import chainrule.nn.functional as F

cuda = cr.backends.cuda


def test_flags_inside_and_restored() -> None:
    with pytest.warns(FutureWarning, match="sdp_kernel"):
        with cuda.sdp_kernel(enable_flash=False, enable_math=True, enable_mem_efficient=False) as ctx:
            assert ctx == {}
            assert not cuda.flash_sdp_enabled() and cuda.math_sdp_enabled()
            assert not cuda.mem_efficient_sdp_enabled() and cuda.cudnn_sdp_enabled()
    assert cuda.flash_sdp_enabled() and cuda.mem_efficient_sdp_enabled()


def test_attention_runs_inside() -> None:
    q = cr.randn(1, 2, 4, 8)
    want = F.scaled_dot_product_attention(q, q, q)
    with pytest.warns(FutureWarning), cuda.sdp_kernel(enable_flash=True, enable_math=False, enable_mem_efficient=False):
        got = F.scaled_dot_product_attention(q, q, q)
    assert cr.allclose(got, want)


def test_against_pytorch() -> None:
    torch = pytest.importorskip("torch")
    with pytest.warns(FutureWarning), torch.backends.cuda.sdp_kernel(enable_flash=False) as ctx:
        assert ctx == {} and not torch.backends.cuda.flash_sdp_enabled() and torch.backends.cuda.math_sdp_enabled()
    assert torch.backends.cuda.flash_sdp_enabled()
