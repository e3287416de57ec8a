"""Loss functions (PyTorch's ``torch.nn.functional`` losses).

Every loss takes ``reduction`` = 'mean' (default) | 'sum' | 'none' and follows
PyTorch's semantics, including the weighted mean of the classification losses
(divide by the sum of the weights of the targets that are not ignored).

=====================================  ===============================================================
loss                                   per element (d = x - y)
=====================================  ===============================================================
mse_loss                               d²
l1_loss                                |d|
huber_loss(δ)                          ½ d² if |d| < δ, else δ (|d| - ½ δ)
smooth_l1_loss(β)                      ½ d² / β if |d| < β, else |d| - ½ β   (= huber / β)
binary_cross_entropy                   -w [t log x + (1 - t) log(1 - x)]        (logs clamped at -100)
binary_cross_entropy_with_logits       -w [p t log σ(x) + (1 - t) log(1 - σ(x))]
nll_loss                               -w_t x[t]
cross_entropy                          -w_t log softmax(x)[t]  (index targets) / -Σ_c w_c t_c log softmax(x)_c
kl_div                                 t (log t - x)
=====================================  ===============================================================

The notes (003, output units and losses) pair Bernoulli / sigmoid with BCE,
Multinoulli / softmax with cross-entropy and Gaussian / linear with MSE; the
formulas there are OCR'd, so the standard forms above are implemented.

Two losses are fused primitives, for numerical stability and speed:

* ``BCEWithLogits``: with softplus(z) = log(1 + e^z) = max(z, 0) + log1p(e^-|z|),
  log σ(x) = -softplus(-x) and log(1 - σ(x)) = -x - softplus(-x), so
  ℓ = (1 - t) x + (1 + (p - 1) t) softplus(-x), finite for |x| = 1000;
  ∂ℓ/∂x = (1 + (p - 1) t) σ(x) - p t,  ∂ℓ/∂t = -x + (p - 1) softplus(-x),  ∂ℓ/∂p = t softplus(-x).
* ``CrossEntropyIndex``: log-softmax + NLL in one pass, via the stable
  log-sum-exp (shift by the row maximum).  Row i's loss is
  ℓ_i = a_i lse(x_i) - <Q_i, x_i>  with
  Q_ij = (1-ε) w_{t_i} [j = t_i] + (ε/C) w_j  and  a_i = Σ_j Q_ij,
  (ε = label_smoothing, w = class weights, all 1 by default, Q_i = 0 for an ignored row), so
  ∂ℓ_i/∂x_i = a_i softmax(x_i) - Q_i  (= softmax - onehot without weights and smoothing).
  With every target ignored, 'mean' is 0/0 = NaN and the gradient 0, as PyTorch (the ignored
  rows get 0, not 0 · (1/0)); a row of logits holding +inf or only -inf is NaN (PyTorch's softmax).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from chainrule.autograd.primitive import Primitive, apply, apply1, table_of
from chainrule.autograd.tensor import Tensor
from chainrule.ops._lift import as_tensor_arg
from chainrule.ops.elementwise import where
from chainrule.ops.reduction import log_softmax

__all__ = [
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "cross_entropy",
    "huber_loss",
    "kl_div",
    "l1_loss",
    "mse_loss",
    "nll_loss",
    "smooth_l1_loss",
]

REDUCTIONS = ("mean", "sum", "none")


class TargetOutOfRangeError(IndexError, ValueError):
    """A class-index target outside [0, C) (an IndexError as in PyTorch, and a ValueError)."""


# ---------------------------------------------------------------- helpers
def legacy_reduction(size_average: Any, reduce: Any, reduction: str) -> str:
    """PyTorch's deprecated ``size_average`` / ``reduce`` flags -> a reduction string."""
    if size_average is None and reduce is None:
        return reduction
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    return ("mean" if size_average else "sum") if reduce else "none"


def check_reduction(reduction: Any, name: str, allowed: tuple = REDUCTIONS) -> str:
    if reduction not in allowed:
        raise ValueError(f"{name}: reduction must be one of {', '.join(map(repr, allowed))}, got {reduction!r}")
    return reduction


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


def _float_input(x: Any, name: str, what: str = "input") -> Tensor:
    x = as_tensor_arg(x, name)
    if x._array.dtype.kind != "f":
        raise TypeError(f"{name}: expected a floating-point {what}, got dtype {x.dtype}")
    return x


def _float_target(target: Any, input: Tensor, name: str) -> Tensor:
    """The target as a Tensor in the input's dtype (integer/bool targets are converted)."""
    target = as_tensor_arg(target, name)
    if target._array.dtype != input._array.dtype:
        if target._array.dtype.kind not in "biuf":
            raise TypeError(f"{name}: target must be numeric, got dtype {target.dtype}")
        target = target.to(input._array.dtype)
    return target


def _pair(input: Any, target: Any, name: str, *, same_shape: bool = False) -> tuple:
    """(input, target) for an elementwise loss, checking their shapes.

    Different but broadcastable shapes give PyTorch's warning (or, with ``same_shape``,
    its error: the BCE losses require equal shapes)."""
    input = _float_input(input, name)
    target = _float_target(target, input, name)
    if input.shape != target.shape:
        if same_shape:
            raise ValueError(
                f"{name}: target size {tuple(target.shape)} must be the same as input size {tuple(input.shape)}"
            )
        try:
            np.broadcast_shapes(input.shape, target.shape)
        except ValueError:
            raise ValueError(
                f"{name}: input shape {tuple(input.shape)} and target shape {tuple(target.shape)} "
                "are not broadcastable"
            ) from None
        warnings.warn(
            f"{name}: using a target size {tuple(target.shape)} that is different to the input size "
            f"{tuple(input.shape)}. This will likely lead to incorrect results due to broadcasting. "
            "Please ensure they have the same size.",
            UserWarning,
            stacklevel=3,
        )
    return input, target


def _weight_tensor(weight: Any, input: Tensor, name: str, what: str = "weight") -> Tensor | None:
    if weight is None:
        return None
    w = as_tensor_arg(weight, name)
    if w._array.dtype != input._array.dtype:
        w = w.to(input._array.dtype)
    try:
        np.broadcast_shapes(w.shape, input.shape)
    except ValueError:
        raise ValueError(
            f"{name}: {what} of shape {tuple(w.shape)} does not broadcast to the input shape {tuple(input.shape)}"
        ) from None
    return w


# ---------------------------------------------------------------- regression losses
def mse_loss(input: Tensor, target: Tensor, size_average: Any = None, reduce: Any = None,
             reduction: str = "mean") -> Tensor:
    """ℓ = (x - y)² elementwise, then reduced.  Shapes: input (*), target (*) (broadcastable)."""
    reduction = check_reduction(legacy_reduction(size_average, reduce, reduction), "mse_loss")
    input, target = _pair(input, target, "mse_loss")
    d = input - target
    return _reduce(d * d, reduction)


def l1_loss(input: Tensor, target: Tensor, size_average: Any = None, reduce: Any = None,
            reduction: str = "mean") -> Tensor:
    """ℓ = |x - y| elementwise, then reduced (subgradient 0 at x = y)."""
    reduction = check_reduction(legacy_reduction(size_average, reduce, reduction), "l1_loss")
    input, target = _pair(input, target, "l1_loss")
    return _reduce((input - target).abs(), reduction)


def huber_loss(input: Tensor, target: Tensor, reduction: str = "mean", delta: float = 1.0,
               weight: Any = None) -> Tensor:
    """ℓ = ½ d² where |d| < δ, δ (|d| - ½ δ) elsewhere (d = x - y): quadratic near 0, linear beyond δ."""
    reduction = check_reduction(reduction, "huber_loss")
    if not delta > 0:
        raise ValueError(f"huber_loss: delta must be positive, got {delta}")
    input, target = _pair(input, target, "huber_loss")
    d = input - target
    a = d.abs()
    loss = where(a < delta, 0.5 * d * d, delta * (a - 0.5 * delta))
    w = _weight_tensor(weight, input, "huber_loss")
    if w is not None:
        loss = loss * w
    return _reduce(loss, reduction)


def smooth_l1_loss(input: Tensor, target: Tensor, size_average: Any = None, reduce: Any = None,
                   reduction: str = "mean", beta: float = 1.0) -> Tensor:
    """ℓ = ½ d² / β where |d| < β, |d| - ½ β elsewhere (d = x - y); β = 0 gives |d|."""
    reduction = check_reduction(legacy_reduction(size_average, reduce, reduction), "smooth_l1_loss")
    if beta < 0:
        raise ValueError(f"smooth_l1_loss: beta must be non-negative, got {beta}")
    input, target = _pair(input, target, "smooth_l1_loss")
    d = input - target
    a = d.abs()
    if beta == 0:
        return _reduce(a, reduction)
    return _reduce(where(a < beta, (0.5 / beta) * d * d, a - 0.5 * beta), reduction)


# ---------------------------------------------------------------- binary cross-entropy
_BCE_EPS = 1e-12  # PyTorch's floor on x (1 - x) in the BCE gradient


class BinaryCrossEntropy(Primitive):
    """ℓ = -(t max(log x, -100) + (1 - t) max(log(1 - x), -100))  (PyTorch clamps the logs at -100);
    ∂ℓ/∂x = (x - t) / max(x (1 - x), 1e-12),  ∂ℓ/∂t = max(log(1 - x), -100) - max(log x, -100)."""

    name = "binary_cross_entropy"

    def forward(self, m, x, t):
        with np.errstate(divide="ignore"):
            lx = m.maximum(m.log(x), -100)
            l1x = m.maximum(m.log1p(-x), -100)
        return -(t * lx + (1 - t) * l1x)

    @staticmethod
    def _partials(m, x, t, need_t):
        dx = (x - t) / m.maximum(x * (1 - x), _BCE_EPS)
        if not need_t:
            return dx, None
        with np.errstate(divide="ignore"):
            dt = m.maximum(m.log(1 - x), -100) - m.maximum(m.log(x), -100)
        return dx, dt

    def vjp(self, m, need, g, y, x, t):
        dx, dt = self._partials(m, x, t, need[1])
        return (g * dx if need[0] else None, g * dt if need[1] else None)

    def jvp(self, m, dxs, y, x, t):
        dx, dt = self._partials(m, x, t, True)
        return dxs[0] * dx + dxs[1] * dt


BINARY_CROSS_ENTROPY = BinaryCrossEntropy()


def binary_cross_entropy(input: Tensor, target: Tensor, weight: Any = None, size_average: Any = None,
                         reduce: Any = None, reduction: str = "mean") -> Tensor:
    """ℓ = -w [t log x + (1 - t) log(1 - x)] for probabilities x in [0, 1] (logs clamped at -100).

    Shapes: input (*), target (*) the same shape, weight broadcastable to it.
    Prefer :func:`binary_cross_entropy_with_logits` on logits (stable for any x)."""
    reduction = check_reduction(legacy_reduction(size_average, reduce, reduction), "binary_cross_entropy")
    input, target = _pair(input, target, "binary_cross_entropy", same_shape=True)
    x = input._array
    if x.size and not (x.min() >= 0 and x.max() <= 1):  # (NaN fails both comparisons)
        raise ValueError(
            "binary_cross_entropy: all elements of input should be between 0 and 1 "
            f"(probabilities; got min {float(x.min()):g}, max {float(x.max()):g} in input of shape "
            f"{tuple(input.shape)}); "
            "use binary_cross_entropy_with_logits for logits"
        )
    loss = apply(BINARY_CROSS_ENTROPY, input, target)
    w = _weight_tensor(weight, input, "binary_cross_entropy")
    if w is not None:
        loss = loss * w
    return _reduce(loss, reduction)


def _softplus_neg(m, x):
    """softplus(-x) = log(1 + e^-x) = max(-x, 0) + log(1 + e^-|x|), with the ``m`` table (no overflow)."""
    ax = m.abs(x)
    return (ax - x) * 0.5 + m.log(1 + m.exp(-ax))


class BCEWithLogits(Primitive):
    """ℓ = (1 - t) x + (1 + (p - 1) t) softplus(-x)  (= -[p t log σ(x) + (1 - t) log(1 - σ(x))]);
    ∂ℓ/∂x = (1 + (p - 1) t) σ(x) - p t,  ∂ℓ/∂t = -x + (p - 1) softplus(-x),  ∂ℓ/∂p = t softplus(-x).

    Inputs (x, t) or (x, t, p) when a ``pos_weight`` p is given (p broadcasts against x)."""

    name = "binary_cross_entropy_with_logits"

    def forward(self, m, x, t, p=None):
        sp = m.maximum(-x, 0) + m.log1p(m.exp(-m.abs(x)))  # softplus(-x), stable for any x
        if p is None:
            return (1 - t) * x + sp
        return (1 - t) * x + (1 + (p - 1) * t) * sp

    def _partials(self, m, need, x, t, p):
        s = m.sigmoid(x)
        if p is None:
            return (s - t if need[0] else None, -x if need[1] else None)
        sp = _softplus_neg(m, x) if (need[1] or need[2]) else None
        return (
            (1 + (p - 1) * t) * s - p * t if need[0] else None,
            (p - 1) * sp - x if need[1] else None,
            t * sp if need[2] else None,
        )

    def vjp(self, m, need, g, y, *xs):
        parts = self._partials(m, need, *xs) if len(xs) == 3 else self._partials(m, need, *xs, None)
        return tuple(None if d is None else g * d for d in parts)

    def jvp(self, m, dxs, y, *xs):
        parts = self._partials(m, (True,) * len(xs), *xs) if len(xs) == 3 else \
            self._partials(m, (True, True), *xs, None)
        out = dxs[0] * parts[0]
        for dx, d in zip(dxs[1:], parts[1:]):
            out = out + dx * d
        return out


BCE_WITH_LOGITS = BCEWithLogits()


def binary_cross_entropy_with_logits(input: Tensor, target: Tensor, weight: Any = None, size_average: Any = None,
                                     reduce: Any = None, reduction: str = "mean", pos_weight: Any = None) -> Tensor:
    """ℓ = -w [p t log σ(x) + (1 - t) log(1 - σ(x))] on logits x, computed stably (finite for |x| = 1000).

    Shapes: input (*), target (*) the same shape; weight broadcastable to it; pos_weight
    (the weight p of the positive term) broadcastable to it, usually (C,) for C classes on the last axis."""
    name = "binary_cross_entropy_with_logits"
    reduction = check_reduction(legacy_reduction(size_average, reduce, reduction), name)
    input, target = _pair(input, target, name, same_shape=True)
    pw = _weight_tensor(pos_weight, input, name, "pos_weight")
    if pw is None:
        loss = apply(BCE_WITH_LOGITS, input, target)
    else:
        loss = apply(BCE_WITH_LOGITS, input, target, pw)
    w = _weight_tensor(weight, input, name)
    if w is not None:
        loss = loss * w
    return _reduce(loss, reduction)


# ---------------------------------------------------------------- classification (index targets)
class CrossEntropyIndex(Primitive):
    """Fused log-softmax + NLL on logits x (M, C) with class indices t (M,), as in the module docstring:
    ℓ_i = a_i lse(x_i) - <Q_i, x_i>;  ∂ℓ_i/∂x_i = a_i softmax(x_i) - Q_i;  then reduced
    ('mean' divides by Σ_i w_{t_i} over the rows not ignored)."""

    __slots__ = ("target", "valid", "weight", "smoothing", "reduction", "wt", "a", "denom", "cache", "table")
    name = "cross_entropy"

    def __init__(self, target: np.ndarray, valid: np.ndarray | None, weight: np.ndarray | None,
                 smoothing: float, reduction: str) -> None:
        self.target = target  # (M,) ints, ignored rows set to 0
        self.valid = valid  # (M,) bool, None when no row is ignored
        self.weight = weight  # (C,) or None
        self.smoothing = float(smoothing)
        self.reduction = reduction
        self.cache = None

    @property
    def plain(self) -> bool:
        return self.valid is None and self.weight is None and self.smoothing == 0.0

    def _setup(self, M: int, C: int, dtype: Any) -> None:
        """wt_i = w_{t_i} (0 for ignored rows), a_i = (1 - ε) wt_i + ε W / C (W = Σ w), the mean's divisor."""
        valid = self.table.ones(M, dtype) if self.valid is None else self.valid.astype(dtype)
        wt = valid if self.weight is None else self.weight[self.target] * valid
        W = C if self.weight is None else self.weight.sum()
        self.wt = wt.astype(dtype, copy=False)
        self.a = ((1 - self.smoothing) * wt + (self.smoothing * W / C) * valid).astype(dtype, copy=False)
        self.denom = self.wt.sum()  # (an array: read by no Python, see _index_target)

    def forward(self, m, x):
        M, C = x.shape
        self.table = m  # the raw arrays' table, for the constants of the rules
        z, e = m.pooled_empty(x.shape, x.dtype), m.pooled_empty(x.shape, x.dtype)
        # shifted by the row maximum (where finite): z <= 0, e = e^z <= 1, no overflow
        s = m.shifted_exp(x, z, e) if C else m.zeros(M, x.dtype)
        self.cache = (e, s)
        rows = m.arange(M)
        with np.errstate(divide="ignore", invalid="ignore"):
            if self.plain:
                loss = m.log(s) - z[rows, self.target]
                self.denom = float(M)
            else:
                self._setup(M, C, x.dtype)
                eps = self.smoothing
                zq = (1 - eps) * self.wt * z[rows, self.target]
                if eps:
                    zw = z.sum(axis=1) if self.weight is None else z @ self.weight
                    zq = zq + (eps / C) * zw
                loss = self.a * m.log(s) - zq
                if self.valid is not None:
                    loss = m.where(self.valid, loss, 0).astype(x.dtype, copy=False)
            if self.reduction == "none":
                return loss
            total = loss.sum()
            return total / self.denom if self.reduction == "mean" else total

    # The rules -----------------------------------------------------------------
    def _q(self, M: int, C: int, dtype: Any) -> tuple:
        """(a (M, 1), Q (M, C)) as arrays."""
        r = self.table
        rows = r.arange(M)
        q = r.zeros((M, C), dtype)
        if self.plain:
            q[rows, self.target] = 1
            return r.ones((M, 1), dtype), q
        q[rows, self.target] = (1 - self.smoothing) * self.wt
        if self.smoothing:
            w = r.ones(C, dtype) if self.weight is None else self.weight.astype(dtype)
            vmask = r.ones(M, dtype) if self.valid is None else self.valid.astype(dtype)
            q += (self.smoothing / C) * vmask[:, None] * w[None, :]
        return self.a[:, None], q

    def _softmax(self, m, x):
        if not m.is_tensor and self.cache is not None:
            e, s = self.cache
            return m.divide(e, s[:, None], out=m.pooled_empty(e.shape, e.dtype))
        xd = m.raw(x)  # the shift is a constant: softmax does not depend on it
        c = xd.max(axis=1, keepdims=True) if xd.size else self.table.zeros((xd.shape[0], 1), xd.dtype)
        with np.errstate(invalid="ignore"):  # any maximum, as shifted_exp: inf - inf is PyTorch's NaN row
            e = m.exp(x - m.const(c, x))
            return e / m.sum(e, (1,), True)

    def _scale(self, m, g, M):
        """g for each row: (M, 1) for 'none', a 0-d factor otherwise."""
        if self.reduction == "none":
            return m.reshape(g, (M, 1))
        if self.reduction == "mean":
            if self.valid is None:  # (a total weight of 0: a row of weight 0 gets 0 · (1/0) = NaN, as PyTorch)
                return g / self.denom
            # an ignored row gets 0: it is left out, not multiplied by 1/0 when nothing counts
            return m.where(self.valid[:, None], g / self.denom, m.zeros_like(g))
        return g

    def vjp(self, m, need, g, y, x):
        if self.reduction == "mean" and (not self.plain or self.denom == 0):
            # 'mean' over a total weight of 0 (every target ignored, or weighted 0): g / 0 and 0 · inf
            # on purpose (see _scale); entered whatever the weight, which no Python reads
            with np.errstate(divide="ignore", invalid="ignore"):
                return self._vjp(m, g, x)
        return self._vjp(m, g, x)

    def _vjp(self, m, g, x):
        M, C = x.shape
        p = self._softmax(m, x)
        gs = self._scale(m, g, M)
        if not m.is_tensor:  # fast path: p is a fresh array, update it in place
            rows = m.arange(M)
            if self.plain:
                p[rows, self.target] -= 1
            else:
                p *= self.a[:, None]
                p -= self._q(M, C, p.dtype)[1]
            p *= gs
            return (p,)
        a, q = self._q(M, C, x.dtype)
        return ((p * m.const(a, x) - m.const(q, x)) * gs,)

    def jvp(self, m, dxs, y, x):
        M, C = x.shape
        a, q = self._q(M, C, x.dtype)
        d = m.sum((self._softmax(m, x) * m.const(a, x) - m.const(q, x)) * dxs[0], (1,))
        if self.reduction == "none":
            return d
        d = m.sum(d)
        if self.reduction != "mean":
            return d
        with np.errstate(divide="ignore", invalid="ignore"):  # (0/0 where nothing counts, as the value)
            return d / self.denom


def _class_layout(input: Tensor, target: Tensor, name: str) -> tuple:
    """(C, expected index-target shape) for input (C,), (N, C) or (N, C, d1, ...)."""
    if input.ndim == 0:
        raise ValueError(f"{name}: input must have at least 1 dimension (C,) or (N, C, ...), got a 0-d tensor")
    if input.ndim == 1:
        return input.shape[0], ()
    return input.shape[1], (input.shape[0],) + tuple(input.shape[2:])


def _index_target(input: Tensor, target: Any, name: str, ignore_index: int) -> tuple:
    """Check an index target; return (C, target shape, flat int targets with ignored set to 0, valid mask or None)."""
    C, want = _class_layout(input, target, name)
    m, t = _target_array(input, target, name)
    flat, valid = check_index_target(m, t, C, want, tuple(input.shape), name, ignore_index)
    return C, want, flat, valid


def check_index_target(m: Any, t: Any, C: int, want: tuple, input_shape: tuple, name: str, ignore_index: int,
                       what: str = "input") -> tuple:
    """Check class-index targets ``t`` (an array of the table ``m``) against ``C`` classes and the
    expected shape ``want`` of logits shaped ``input_shape``; return (flat int targets with the
    ignored set to 0, valid mask or None).  ``what`` names the logits in the messages."""
    if t.dtype.kind not in "iu":
        raise TypeError(
            f"{name}: class-index targets must have an integer dtype (int64), got {t.dtype} "
            f"(target shape {tuple(t.shape)}, {what} shape {input_shape}); floating targets must be class "
            f"probabilities with the {what}'s shape"
        )
    if t.shape != want:
        if len(input_shape) >= 2 and t.ndim >= 1 and t.shape[0] != input_shape[0]:
            raise ValueError(
                f"{name}: expected {what} batch size ({input_shape[0]}) to match target batch size ({t.shape[0]}) "
                f"({what} shape {input_shape}, target shape {tuple(t.shape)})"
            )
        raise ValueError(f"{name}: expected target of shape {want} for {what} of shape {input_shape}, "
                         f"got {tuple(t.shape)}")
    # a private copy: the vjp reads the targets during backward, whatever happens to the
    # caller's target tensor in between (as embedding's indices)
    flat = t.reshape(-1).copy()
    if flat.size:  # the common case costs two reductions: every target in range, none ignored
        lo, hi = flat.min(), flat.max()
        if lo >= 0 and hi < C and not 0 <= ignore_index < C:
            return flat, None
    # the mask, whatever it holds: no Python reads how many targets are ignored, so that a
    # compiled plan replays batches with any count of them (a padding class)
    valid = flat != ignore_index
    flat = m.where(valid, flat, 0)
    out = (flat < 0) | (flat >= C)
    if out.any():
        bad = flat[out][0]
        raise TargetOutOfRangeError(f"{name}: target {int(bad)} is out of range for {C} classes")
    return flat, valid


def _rows(input: Tensor, C: int) -> Tensor:
    """input (C,), (N, C) or (N, C, d1, ...) -> (M, C) with the classes last (a differentiable view)."""
    if input.ndim == 2:
        return input
    if input.ndim == 1:
        return input.reshape(1, C)
    perm = (0, *range(2, input.ndim), 1)
    return input.permute(*perm).reshape(-1, C)


def _target_array(input: Tensor, target: Any, name: str) -> tuple:
    """(table, array): a target's (or class weight's) array and the table of the input's device;
    a Python list or host array goes there (``from_host``), a Tensor must be there already."""
    if isinstance(target, Tensor):
        return table_of((input._array, target._array), name), target._array
    m = table_of((input._array,), name)
    return m, m.from_host(target)


def _class_weight(weight: Any, C: int, input: Tensor, name: str) -> Any:
    if weight is None:
        return None
    w = _target_array(input, weight, name)[1]
    if w.shape != (C,):
        raise ValueError(f"{name}: weight must have shape ({C},) (one per class), got {tuple(w.shape)}")
    return w.astype(input._array.dtype, copy=False)


def cross_entropy(input: Tensor, target: Tensor, weight: Any = None, size_average: Any = None,
                  ignore_index: int = -100, reduce: Any = None, reduction: str = "mean",
                  label_smoothing: float = 0.0) -> Tensor:
    """Cross-entropy of logits against class indices or class probabilities.

    Shapes: input (C,), (N, C) or (N, C, d1, ...) of logits; target either class indices
    (), (N,) or (N, d1, ...) (integer dtype; ``ignore_index`` rows contribute nothing), or
    class probabilities of the input's shape (floating dtype).  ``weight`` (C,) rescales each
    class; ``label_smoothing`` ε mixes the target with the uniform distribution:
    q = (1 - ε) target + ε / C.

    Index targets: ℓ_i = -w_{t_i} log softmax(x_i)[t_i] (smoothed: (1 - ε) that + (ε/C) Σ_c -w_c log softmax(x_i)_c),
    'mean' divides by Σ_i w_{t_i} over the non-ignored rows.  Probability targets:
    ℓ_i = -Σ_c w_c q_ic log softmax(x_i)_c, 'mean' divides by the number of rows N·d1·...
    The weight is a constant (no gradient flows to it).
    """
    name = "cross_entropy"
    reduction = check_reduction(legacy_reduction(size_average, reduce, reduction), name)
    input = _float_input(input, name)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"{name}: label_smoothing must be between 0.0 and 1.0, got {label_smoothing}")
    tdtype = _target_array(input, target, name)[1].dtype
    if tdtype.kind == "f":
        C, _ = _class_layout(input, target, name)
        return _cross_entropy_probs(input, target, weight, reduction, label_smoothing, C, name)
    C, tshape, flat, valid = _index_target(input, target, name, ignore_index)
    w = _class_weight(weight, C, input, name)
    op = CrossEntropyIndex(flat, valid, w, label_smoothing, reduction)
    out = apply1(op, _rows(input, C))
    return out.reshape(tshape) if reduction == "none" and input.ndim != 2 else out


def _cross_entropy_probs(input: Tensor, target: Any, weight: Any, reduction: str, eps: float, C: int,
                         name: str) -> Tensor:
    target = _float_target(target, input, name)
    if target.shape != input.shape:
        _, want = _class_layout(input, target, name)
        if tuple(target.shape) == want:
            raise TypeError(
                f"{name}: class-index targets must have an integer dtype (int64), got {target.dtype} "
                f"(target shape {tuple(target.shape)}, input shape {tuple(input.shape)}); floating targets "
                "must be class probabilities with the input's shape"
            )
        raise ValueError(
            f"{name}: probability targets must have the input's shape {tuple(input.shape)}, got "
            f"{tuple(target.shape)}"
        )
    cdim = 0 if input.ndim == 1 else 1
    q = target * (1 - eps) + eps / C if eps else target
    prod = log_softmax(input, dim=cdim) * q
    w = _class_weight(weight, C, input, name)
    if w is not None:
        prod = prod * Tensor._wrap(w.reshape((C,) + (1,) * (input.ndim - 1 - cdim)))
    if reduction == "none":
        return -prod.sum(cdim)
    total = -prod.sum()
    if reduction == "sum":
        return total
    n = input._array.size // C if C else 0
    return total / n if n else total * float("nan")


def nll_loss(input: Tensor, target: Tensor, weight: Any = None, size_average: Any = None,
             ignore_index: int = -100, reduce: Any = None, reduction: str = "mean") -> Tensor:
    """Negative log-likelihood ℓ_i = -w_{t_i} x[i, t_i] of log-probabilities x.

    Shapes: input (C,), (N, C) or (N, C, d1, ...); target (), (N,) or (N, d1, ...) of class indices.
    'mean' divides by Σ_i w_{t_i} over the rows whose target is not ``ignore_index``."""
    name = "nll_loss"
    reduction = check_reduction(legacy_reduction(size_average, reduce, reduction), name)
    input = _float_input(input, name)
    C, tshape, flat, valid = _index_target(input, target, name, ignore_index)
    w = _class_weight(weight, C, input, name)
    x = _rows(input, C)
    m = table_of((flat,), name)
    picked = x[Tensor._wrap(m.arange(flat.size)), Tensor._wrap(flat)]
    dtype = input._array.dtype
    wt = m.ones(flat.size, dtype) if w is None else w[flat]
    if valid is not None:
        wt = wt * valid
    loss = -picked if (w is None and valid is None) else -picked * Tensor._wrap(wt.astype(dtype, copy=False))
    if valid is not None:
        loss = where(Tensor._wrap(valid), loss, 0.0)
    if reduction == "none":
        return loss.reshape(tshape)
    if reduction == "sum":
        return loss.sum()
    total_weight = wt.sum()
    if total_weight == 0:
        # PyTorch's 0/0 = NaN loss; an ignored row's gradient is 0 (it is left out), a counted row of
        # weight 0 gets -w/Σw = 0/0 = NaN.  Computed without dividing a gradient by 0 (no warning).
        with np.errstate(divide="ignore", invalid="ignore"):
            coef = wt / total_weight
        if valid is not None:
            coef = m.where(valid, coef, 0)
        return (picked * Tensor._wrap(-coef.astype(dtype, copy=False))).sum() + float("nan")
    with np.errstate(divide="ignore", invalid="ignore"):
        return loss.sum() / Tensor._wrap(m.asarray(total_weight, dtype))


def kl_div(input: Tensor, target: Tensor, size_average: Any = None, reduce: Any = None, reduction: str = "mean",
           log_target: bool = False) -> Tensor:
    """ℓ = t (log t - x) with input x = log-probabilities (0 where t = 0), or e^t (t - x) with ``log_target``.

    reduction 'batchmean' divides the sum by the batch size (the true KL divergence); 'mean' by
    the number of elements, as PyTorch."""
    name = "kl_div"
    reduction = check_reduction(legacy_reduction(size_average, reduce, reduction), name,
                                REDUCTIONS + ("batchmean",))
    input, target = _pair(input, target, name)
    if log_target:
        loss = target.exp() * (target - input)
    else:
        pos = target > 0
        safe = where(pos, target, 1.0)
        loss = where(pos, target * safe.log(), 0.0) - target * input
    if reduction == "batchmean":
        n = input.shape[0] if input.ndim else 1
        return loss.sum() / n
    return _reduce(loss, reduction)
