"""``AdaptiveLogSoftmaxWithLoss``: the adaptive softmax of Grave et al. (2017), PyTorch's
``torch.nn.modules.adaptive``.

The classes 0..n_classes-1 are split by ``cutoffs`` c₀ < c₁ < ... < c_{K-1} (and c_K = n_classes)
into a shortlist [0, c₀) and K tail clusters [c_{i}, c_{i+1}).  The head is a linear layer to
c₀ + K logits: one per shortlist class and one per cluster; cluster i has its own two-layer
projection in → ⌊in / div_valueⁱ⁺¹⌋ → c_{i+1} - c_i (no biases).  With h = log_softmax(head(x))
and t_i = log_softmax(tail_i(x)),

    log p(y | x) = h_y                         for y < c₀,
    log p(y | x) = h_{c₀+i} + t_i[y - c_i]     for c_i ≤ y < c_{i+1}.

The probabilities over all classes sum to 1 (each cluster's softmax sums to 1 and carries its
head probability).
"""

from __future__ import annotations

from collections import namedtuple
from typing import Any, Sequence

from chainrule.autograd.tensor import Tensor
from chainrule.nn.functional.activation import log_softmax
from chainrule.nn.module import Module
from chainrule.nn.modules.container import ModuleList, Sequential
from chainrule.nn.modules.linear import Linear
from chainrule.ops.shape import cat

__all__ = ["AdaptiveLogSoftmaxWithLoss"]

_ASMoutput = namedtuple("_ASMoutput", ["output", "loss"])


class AdaptiveLogSoftmaxWithLoss(Module):
    """Adaptive softmax: ``AdaptiveLogSoftmaxWithLoss(in_features, n_classes, cutoffs,
    div_value=4.0, head_bias=False)``.

    ``forward(input, target)``: input (N, in_features) or (in_features,), target (N,) or () of
    class indices in [0, n_classes); returns the named tuple ``(output, loss)`` with output (N,)
    (or ()) the log-probability log p(target | input) of each row and loss = mean(-output).
    ``log_prob(input)``: (N, n_classes) the log-probabilities of every class.
    ``predict(input)``: (N,) the most probable class of each row.
    Formulas in the module docstring (:mod:`chainrule.nn.modules.adaptive`).
    """

    def __init__(self, in_features: int, n_classes: int, cutoffs: Sequence[int], div_value: float = 4.0,
                 head_bias: bool = False, device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        cuts = list(cutoffs)
        if not cuts:
            raise ValueError("AdaptiveLogSoftmaxWithLoss: cutoffs should be a sequence of length larger than 0")
        if (cuts != sorted(cuts) or any(int(c) != c for c in cuts) or min(cuts) <= 0
                or max(cuts) > n_classes - 1 or len(set(cuts)) != len(cuts)):
            raise ValueError(
                "AdaptiveLogSoftmaxWithLoss: cutoffs should be a sequence of unique, positive integers sorted "
                f"in an increasing order, where each value is between 1 and n_classes-1 = {n_classes - 1}; "
                f"got {cuts}")
        self.in_features = in_features
        self.n_classes = n_classes
        self.cutoffs = [int(c) for c in cuts] + [n_classes]
        self.div_value = div_value
        self.head_bias = head_bias
        self.shortlist_size = self.cutoffs[0]
        self.n_clusters = len(self.cutoffs) - 1
        self.head_size = self.shortlist_size + self.n_clusters
        self.head = Linear(in_features, self.head_size, bias=head_bias, device=device, dtype=dtype)
        tails = []
        for i in range(self.n_clusters):
            hsz = int(in_features // (div_value ** (i + 1)))
            osz = self.cutoffs[i + 1] - self.cutoffs[i]
            tails.append(Sequential(Linear(in_features, hsz, bias=False, device=device, dtype=dtype),
                                    Linear(hsz, osz, bias=False, device=device, dtype=dtype)))
        self.tail = ModuleList(tails)

    def reset_parameters(self) -> None:
        self.head.reset_parameters()
        for layer in self.tail.modules():
            if isinstance(layer, Linear):
                layer.reset_parameters()

    def _rows(self, input: Tensor, what: str) -> tuple[Tensor, bool]:
        if input.ndim == 1:
            input, batched = input.unsqueeze(0), False
        elif input.ndim == 2:
            batched = True
        else:
            raise RuntimeError(f"AdaptiveLogSoftmaxWithLoss.{what}: input should be 1-D or 2-D, got shape "
                               f"{tuple(input.shape)}")
        if input.shape[1] != self.in_features:
            raise RuntimeError(f"AdaptiveLogSoftmaxWithLoss.{what}: input should have {self.in_features} features "
                               f"(in_features), got shape {tuple(input.shape)}")
        return input, batched

    def forward(self, input: Tensor, target: Tensor) -> Any:
        """(output, loss): output[n] = log p(target[n] | input[n]), loss = -mean(output)."""
        x, batched = self._rows(input, "forward")
        if target.ndim != (1 if batched else 0) or (batched and target.shape[0] != x.shape[0]):
            raise RuntimeError(
                "AdaptiveLogSoftmaxWithLoss: input and target should have the same size in the batch dimension "
                f"(2-D input with 1-D target, or 1-D input with 0-D target); got input {tuple(input.shape)} "
                f"and target {tuple(target.shape)}")
        t = target.reshape(-1).long()
        if t.numel() and (int(t.min()) < 0 or int(t.max()) >= self.n_classes):
            raise RuntimeError(f"AdaptiveLogSoftmaxWithLoss: target values should be in [0, {self.n_classes - 1}], "
                               f"got values in [{int(t.min())}, {int(t.max())}]")
        head_lp = log_softmax(self.head(x), dim=1)
        # the head's column of each row: its class in the shortlist, else its cluster's column
        cluster = (t >= self.cutoffs[0]).long()
        for c in self.cutoffs[1:-1]:
            cluster = cluster + (t >= c).long()
        head_col = (t * (cluster == 0).long()) + (cluster + (self.shortlist_size - 1)) * (cluster > 0).long()
        output = head_lp.gather(1, head_col.unsqueeze(1)).squeeze(1)
        for i in range(self.n_clusters):
            rows = (cluster == i + 1).nonzero().reshape(-1)
            if rows.numel() == 0:
                continue
            tail_lp = log_softmax(self.tail[i](x.index_select(0, rows)), dim=1)
            rel = t.index_select(0, rows) - self.cutoffs[i]
            output = output.index_add(0, rows, tail_lp.gather(1, rel.unsqueeze(1)).squeeze(1))
        loss = (-output).mean()
        return _ASMoutput(output if batched else output.squeeze(0), loss)

    def _full_log_prob(self, x: Tensor) -> Tensor:
        head_lp = log_softmax(self.head(x), dim=1)
        parts = [head_lp[:, :self.shortlist_size]]
        for i in range(self.n_clusters):
            col = self.shortlist_size + i
            parts.append(log_softmax(self.tail[i](x), dim=1) + head_lp[:, col:col + 1])
        return cat(parts, 1)

    def log_prob(self, input: Tensor) -> Tensor:
        """(N, n_classes) (or (n_classes,)): log p(y | input) of every class y."""
        x, batched = self._rows(input, "log_prob")
        out = self._full_log_prob(x)
        return out if batched else out.squeeze(0)

    def predict(self, input: Tensor) -> Tensor:
        """(N,) (or ()): argmax_y p(y | input), the most probable class of each row."""
        x, batched = self._rows(input, "predict")
        out = self._full_log_prob(x).argmax(dim=1)
        return out if batched else out.squeeze(0)
