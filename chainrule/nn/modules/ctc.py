"""``nn.CTCLoss``: the module around ``chainrule.nn.functional.ctc.ctc_loss`` (PyTorch's arguments)."""

from __future__ import annotations

from typing import Any

from chainrule.autograd.tensor import Tensor
from chainrule.nn.functional.ctc import ctc_loss
from chainrule.nn.modules.loss import _Loss

__all__ = ["CTCLoss"]


class CTCLoss(_Loss):
    """Connectionist temporal classification loss -log p(target | input), summed over all alignments.

    forward(log_probs (T, N, C) or (T, C), targets (N, S) padded or concatenated (Σ lengths,),
    input_lengths (N,), target_lengths (N,)); 'mean' divides each loss by its target length
    before averaging over the batch.  See :func:`chainrule.nn.functional.ctc_loss`.
    """

    def __init__(self, blank: int = 0, reduction: str = "mean", zero_infinity: bool = False) -> None:
        super().__init__(reduction=reduction)
        self.blank = blank
        self.zero_infinity = zero_infinity

    def forward(self, log_probs: Tensor, targets: Tensor, input_lengths: Any, target_lengths: Any) -> Tensor:
        return ctc_loss(log_probs, targets, input_lengths, target_lengths, self.blank, self.reduction,
                        self.zero_infinity)
