"""``torch.backends.cuda`` on a CPU-only build: not built; ``matmul.allow_tf32`` (False),
``matmul.allow_fp16_reduced_precision_reduction`` (True), ``matmul.allow_bf16_reduced_precision_reduction``
(True) keep what is set and change nothing."""

from __future__ import annotations

__all__ = ["is_built", "matmul"]


class _MatmulFlags:
    """The ``matmul`` flags object (attributes set and read back, as PyTorch's)."""

    def __init__(self) -> None:
        self.allow_tf32 = False
        self.allow_fp16_reduced_precision_reduction = True
        self.allow_bf16_reduced_precision_reduction = True

    def __repr__(self) -> str:
        return f"<chainrule.backends.cuda.matmul allow_tf32={self.allow_tf32}>"


matmul = _MatmulFlags()


def is_built() -> bool:
    """Whether this build has CUDA: no."""
    return False
