"""Loss modules (PyTorch's ``torch.nn`` losses): thin Modules around ``chainrule.nn.functional.loss``.

``forward(input, target)`` returns the loss; the formulas and shapes are in the
functional forms.  ``weight`` and ``pos_weight`` are registered as buffers (so they
appear in ``state_dict`` and follow ``.to(dtype)``), as PyTorch does.
"""

from __future__ import annotations

import math
from typing import Any

from chainrule.autograd.tensor import Tensor
from chainrule.nn.functional import loss as F
from chainrule.nn.functional.linear_cross_entropy import (
    LinearCrossEntropyOptions,
    LinearCrossEntropyShapeError,
    linear_cross_entropy,
)
from chainrule.nn.module import Module
from chainrule.nn.modules._elsewhere import reexports
from chainrule.nn.modules.linear import Linear

__all__ = [
    "BCELoss",
    "BCEWithLogitsLoss",
    "CrossEntropyLoss",
    "HuberLoss",
    "KLDivLoss",
    "L1Loss",
    "LinearCrossEntropyLoss",
    "LinearCrossEntropyOptions",
    "MSELoss",
    "NLLLoss",
    "SmoothL1Loss",
]


def _buffer(value: Any) -> Tensor | None:
    if value is None or isinstance(value, Tensor):
        return value
    return Tensor._from_data(value)


class _Loss(Module):
    _allowed: tuple[str, ...] = F.REDUCTIONS

    def __init__(self, size_average: Any = None, reduce: Any = None, reduction: str = "mean") -> None:
        super().__init__()
        self.reduction = F.check_reduction(F.legacy_reduction(size_average, reduce, reduction),
                                           type(self).__name__, self._allowed)

    def extra_repr(self) -> str:
        return "" if self.reduction == "mean" else f"reduction={self.reduction!r}"


class _WeightedLoss(_Loss):
    def __init__(self, weight: Any = None, size_average: Any = None, reduce: Any = None,
                 reduction: str = "mean") -> None:
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", _buffer(weight))


class MSELoss(_Loss):
    """Mean squared error: ℓ = (x - y)²."""

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.mse_loss(input, target, reduction=self.reduction)


class L1Loss(_Loss):
    """Mean absolute error: ℓ = |x - y|."""

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.l1_loss(input, target, reduction=self.reduction)


class HuberLoss(_Loss):
    """ℓ = ½ d² if |d| < δ else δ (|d| - ½ δ),  d = x - y."""

    def __init__(self, reduction: str = "mean", delta: float = 1.0) -> None:
        super().__init__(reduction=reduction)
        if not delta > 0:
            raise ValueError(f"HuberLoss: delta must be positive, got {delta}")
        self.delta = delta

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.huber_loss(input, target, reduction=self.reduction, delta=self.delta)

    def extra_repr(self) -> str:
        return ", ".join(s for s in (super().extra_repr(), f"delta={self.delta}") if s)


class SmoothL1Loss(_Loss):
    """ℓ = ½ d² / β if |d| < β else |d| - ½ β,  d = x - y."""

    def __init__(self, size_average: Any = None, reduce: Any = None, reduction: str = "mean",
                 beta: float = 1.0) -> None:
        super().__init__(size_average, reduce, reduction)
        if beta < 0:
            raise ValueError(f"SmoothL1Loss: beta must be non-negative, got {beta}")
        self.beta = beta

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.smooth_l1_loss(input, target, reduction=self.reduction, beta=self.beta)

    def extra_repr(self) -> str:
        return ", ".join(s for s in (super().extra_repr(), f"beta={self.beta}") if s)


class BCELoss(_WeightedLoss):
    """Binary cross-entropy of probabilities: ℓ = -w [t log x + (1 - t) log(1 - x)] (logs clamped at -100)."""

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.binary_cross_entropy(input, target, weight=self.weight, reduction=self.reduction)


class BCEWithLogitsLoss(_Loss):
    """Binary cross-entropy of logits, stable for any x: ℓ = -w [p t log σ(x) + (1 - t) log(1 - σ(x))]."""

    def __init__(self, weight: Any = None, size_average: Any = None, reduce: Any = None, reduction: str = "mean",
                 pos_weight: Any = None) -> None:
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", _buffer(weight))
        self.register_buffer("pos_weight", _buffer(pos_weight))

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.binary_cross_entropy_with_logits(input, target, weight=self.weight, reduction=self.reduction,
                                                  pos_weight=self.pos_weight)


class CrossEntropyLoss(_WeightedLoss):
    """Cross-entropy of logits (N, C, ...) against class indices (N, ...) or class probabilities (N, C, ...)."""

    def __init__(self, weight: Any = None, size_average: Any = None, ignore_index: int = -100, reduce: Any = None,
                 reduction: str = "mean", label_smoothing: float = 0.0) -> None:
        super().__init__(weight, size_average, reduce, reduction)
        if not 0.0 <= label_smoothing <= 1.0:
            raise ValueError(f"CrossEntropyLoss: label_smoothing must be between 0.0 and 1.0, got {label_smoothing}")
        self.ignore_index = ignore_index
        self.label_smoothing = label_smoothing

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.cross_entropy(input, target, weight=self.weight, ignore_index=self.ignore_index,
                               reduction=self.reduction, label_smoothing=self.label_smoothing)


class LinearCrossEntropyLoss(_WeightedLoss):
    """Cross-entropy of a linear layer's logits: ℓ = cross_entropy(x Wᵀ + b, t) (PyTorch's LinearCrossEntropyLoss).

    Holds ``self.linear``, a :class:`Linear` (in_features -> C·d1···dK, flat, as PyTorch stores
    it), whose weight is reshaped to (C, d1, ..., dK, in_features) and bias to (C, d1, ..., dK)
    in ``forward`` and handed to :func:`chainrule.nn.functional.linear_cross_entropy` with the
    loss's ``weight``, ``reduction``, ``ignore_index``, ``label_smoothing`` and ``options``
    (a :class:`LinearCrossEntropyOptions` chunks the rows so that the (N, C) logits are never
    held at once; None is the plain composition).

    Shapes: input (in_features,) or (N, in_features); target (), (N,) or (N, d1, ..., dK) of
    class indices, or probabilities (C,) or (N, C, d1, ..., dK); output (), (N,) or
    (N, d1, ..., dK) for reduction='none', else a scalar.
    """

    def __init__(self, in_features: int, num_classes: int, *, out_features: tuple[int, ...] = (), bias: bool = False,
                 device: Any = None, dtype: Any = None, reduction: str = "mean", weight: Tensor | None = None,
                 ignore_index: int | None = None, label_smoothing: float = 0.0,
                 options: LinearCrossEntropyOptions | None = None) -> None:
        if weight is not None and tuple(weight.shape) != (num_classes,):
            raise LinearCrossEntropyShapeError(f"LinearCrossEntropyLoss: expected weight shape to be "
                                               f"{(num_classes,)}, got {tuple(weight.shape)}")
        if not 0.0 <= label_smoothing <= 1.0:
            raise ValueError(f"LinearCrossEntropyLoss: expected label_smoothing to be in range [0, 1], "
                             f"got {label_smoothing}")
        super().__init__(weight, None, None, reduction)
        self.num_classes = int(num_classes)
        self.out_features = tuple(int(d) for d in out_features)
        self.ignore_index = ignore_index
        self.label_smoothing = label_smoothing
        self.linear = Linear(in_features, math.prod(self.out_features, start=self.num_classes), bias=bias,
                             device=device, dtype=dtype)
        self.options = options

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        shape = (self.num_classes, *self.out_features)
        linear_weight = self.linear.weight.reshape(*shape, self.linear.in_features)
        bias = self.linear.bias
        return linear_cross_entropy(input, linear_weight, target,
                                    linear_bias=None if bias is None else bias.reshape(*shape),
                                    weight=self.weight, reduction=self.reduction, ignore_index=self.ignore_index,
                                    label_smoothing=self.label_smoothing, options=self.options)

    def extra_repr(self) -> str:
        return (f"in_features={self.linear.in_features}, num_classes={self.num_classes}, "
                f"out_features={self.out_features}, bias={self.linear.bias is not None}, "
                f"reduction={self.reduction}, ignore_index={self.ignore_index}, "
                f"label_smoothing={self.label_smoothing}, options={self.options}")


class NLLLoss(_WeightedLoss):
    """Negative log-likelihood of log-probabilities (N, C, ...) against class indices (N, ...)."""

    def __init__(self, weight: Any = None, size_average: Any = None, ignore_index: int = -100, reduce: Any = None,
                 reduction: str = "mean") -> None:
        super().__init__(weight, size_average, reduce, reduction)
        self.ignore_index = ignore_index

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.nll_loss(input, target, weight=self.weight, ignore_index=self.ignore_index, reduction=self.reduction)


class KLDivLoss(_Loss):
    """ℓ = t (log t - x) for log-probabilities x (or e^t (t - x) with ``log_target``)."""

    _allowed = F.REDUCTIONS + ("batchmean",)

    def __init__(self, size_average: Any = None, reduce: Any = None, reduction: str = "mean",
                 log_target: bool = False) -> None:
        super().__init__(size_average, reduce, reduction)
        self.log_target = log_target

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.kl_div(input, target, reduction=self.reduction, log_target=self.log_target)


# PyTorch keeps these classes in torch.nn.modules.loss; chainrule defines them in the files
# named here, which import this one: served on first use (see _elsewhere.py).
__getattr__ = reexports(__name__, {
    "CTCLoss": "chainrule.nn.modules.ctc",
    "CosineEmbeddingLoss": "chainrule.nn.modules.loss_extra",
    "GaussianNLLLoss": "chainrule.nn.modules.loss_extra",
    "HingeEmbeddingLoss": "chainrule.nn.modules.loss_extra",
    "MarginRankingLoss": "chainrule.nn.modules.loss_extra",
    "MultiLabelMarginLoss": "chainrule.nn.modules.loss_extra",
    "MultiLabelSoftMarginLoss": "chainrule.nn.modules.loss_extra",
    "MultiMarginLoss": "chainrule.nn.modules.loss_extra",
    "PoissonNLLLoss": "chainrule.nn.modules.loss_extra",
    "SoftMarginLoss": "chainrule.nn.modules.loss_extra",
    "TripletMarginLoss": "chainrule.nn.modules.loss_extra",
    "TripletMarginWithDistanceLoss": "chainrule.nn.modules.loss_extra",
})
