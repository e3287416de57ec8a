"""``linear_cross_entropy``: a linear layer's logits and their cross-entropy, optionally chunked.

The statement ``linear_cross_entropy(x, W, t, linear_bias=b, **kw)`` is

    z = x Wᵀ + b                       (N, C) logits (or (N, C, d1, ..., dK) for W (C, d1, ..., dK, in))
    ℓ = cross_entropy(z, t, **kw)

(PyTorch 2.13's ``torch.nn.functional.linear_cross_entropy``).  Its point is memory: for a
language model's output layer C (the vocabulary) is much larger than ``in_features`` and the
(N, C) logits, with their softmax and gradient, are the largest arrays of a training step.
With ``options`` (a :class:`LinearCrossEntropyOptions`) the loss is one primitive,
``LinearCrossEntropyChunked``, that walks the rows in chunks of B:

    forward   z_c = x_c Wᵀ + b,  ℓ_i = w_{t_i} (lse(z_i) - z_{i, t_i})          for the rows i of chunk c
    reverse   G_c = f ⊙ (softmax(z_c) - onehot(t_c)),  f_i = w_{t_i} · (dL/dℓ_i)    (z_c recomputed)
              dx_c = G_c W,   dW = Σ_c G_cᵀ x_c,   db = Σ_c Σ_i G_c[i]
    forward mode  dℓ_i = w_{t_i} Σ_j (softmax(z_i)_j - [j = t_i]) dz_ij,  dz_c = dx_c Wᵀ + x_c dWᵀ + db

so that at most a (B, C) block of logits exists at any time (three such buffers in the forward,
reused from chunk to chunk); 'mean' divides by Σ_i w_{t_i} over the rows not ignored, as
``cross_entropy``.  The backward recomputes each chunk's logits from x, W and b (one more
product than the plain composition) instead of keeping them.  Unlike PyTorch's chunked op, the
rules are written with the back-end table's functions, so ``create_graph=True`` (second
derivatives) and forward mode work too (they record one chunk at a time, but the recorded graph
then holds every chunk's logits).
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from typing import Any, Literal, NamedTuple

import numpy as np

from chainrule.autograd.primitive import Primitive, apply, table_of
from chainrule.autograd.tensor import Tensor
from chainrule.backend.dtype_check import DtypeError, mismatch_message
from chainrule.nn.functional import loss as _loss
from chainrule.nn.functional.linear import linear
from chainrule.ops import shape

__all__ = ["LinearCrossEntropyChunked", "LinearCrossEntropyOptions", "LinearCrossEntropyShapeError",
           "linear_cross_entropy"]

_NAME = "linear_cross_entropy"


class LinearCrossEntropyShapeError(RuntimeError, ValueError):
    """Shapes that do not fit ``linear_cross_entropy`` (a RuntimeError as in PyTorch, and a ValueError)."""


# ------------------------------------------------------------------------------------ options
class _AutoDefault(NamedTuple):
    acc_policy: str
    chunking_method: str


# PyTorch's picks for the "auto" sentinels, by (device type, input dtype); others take the fallback
_AUTO_DEFAULTS: dict[tuple[str, Any], _AutoDefault] = {
    ("cpu", np.dtype(np.float16)): _AutoDefault("accurate", "aspect_ratio"),
}
_AUTO_FALLBACK = _AutoDefault("compact", "aspect_ratio:2")
_ACC_DTYPES = (np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64))


def _as_dtype(d: Any) -> Any:
    """A dtype argument as a NumPy dtype, or None where it is not one."""
    try:
        return np.dtype(d)
    except TypeError:
        return None


@dataclasses.dataclass(slots=True, frozen=True)
class LinearCrossEntropyOptions:
    """How :func:`linear_cross_entropy` chunks its rows (PyTorch's ``torch.nn.LinearCrossEntropyOptions``).

    The chunked implementation processes the batch in pieces of ``batch_chunk_size`` rows, so
    that the full ``(num_batches, num_classes)`` logits are never held at once: useful when
    ``num_classes`` is much larger than ``in_features`` (a language model's vocabulary).  Pass
    ``options=None`` to :func:`linear_cross_entropy` for the reference path (linear, then
    cross_entropy), an instance of this class to opt in.  Configurations the chunked path does
    not cover fall back to the reference path with a warning (see :func:`linear_cross_entropy`).

    Attributes:
        allow_retain_graph: accepted for PyTorch's API.  chainrule's chunked backward recomputes
            the gradients from the saved inputs and consumes nothing, so a second backward
            (``retain_graph=True``) always works, whatever this says.
        batch_chunk_size: rows per chunk (a positive int), or None: one chunk, or the size
            ``chunking_method`` picks.  Giving both with different results raises ValueError.
        chunking_method: ``"auto"`` (PyTorch's pick for the device and dtype: ``"aspect_ratio:2"``
            for float32/float64 on the CPU), ``"aspect_ratio"`` (a (B, C) logits chunk about as
            large as the (N, in_features) input: B = next_pow2(ceil(N / ceil(C / in_features)))),
            ``"aspect_ratio:K"`` (that B divided by K) or None (use ``batch_chunk_size``).
        acc_policy: ``"auto"``, ``"accurate"``, ``"balanced"`` or ``"compact"``: validated and
            resolved as in PyTorch; chainrule computes every policy the same way (each chunk's
            logits, softmax and the gradients' sums in ``acc_dtype``).
        acc_dtype: the dtype of the chunks' arithmetic (float16, float32 or float64), or None:
            float32 for float16 input under ``acc_policy="auto"``, else the input's dtype.
    """

    allow_retain_graph: bool = False
    batch_chunk_size: int | None = None
    chunking_method: str | None = "auto"
    acc_policy: Literal["accurate", "balanced", "compact", "auto"] = "auto"
    acc_dtype: Any = None

    def __post_init__(self) -> None:
        if self.acc_policy not in {"auto", "accurate", "balanced", "compact"}:
            raise ValueError(f"invalid acc_policy: {self.acc_policy!r}")
        if self.chunking_method is not None and self.chunking_method != "auto":
            method, sep, factor = str(self.chunking_method).partition(":")
            if not sep:
                factor = "1"
            if not (method == "aspect_ratio" and factor.isdigit() and int(factor) > 0):
                raise ValueError(f"invalid chunking_method: {self.chunking_method!r}")
        if not (self.batch_chunk_size is None
                or (isinstance(self.batch_chunk_size, int) and self.batch_chunk_size > 0)):
            raise ValueError(f"batch_chunk_size must be positive int or None, got {self.batch_chunk_size!r}")
        if self.acc_dtype is not None and _as_dtype(self.acc_dtype) not in _ACC_DTYPES:
            raise ValueError(
                f"acc_dtype must be one of {{None, float16, float32, float64}}, got {self.acc_dtype!r}. "
                "Pass acc_dtype=None to let the op pick automatically."
            )

    @staticmethod
    def _ceil_div(a: int, b: int) -> int:
        return -(-a // b)

    def _compute_batch_chunk_size(self, num_batches: int, in_features: int, num_classes: int,
                                  method: str | None = None) -> int:
        """B for ``method`` (default: this instance's ``chunking_method``): see the class docstring."""
        method = str(method if method is not None else self.chunking_method)
        factor = int(method.split(":", 1)[1]) if ":" in method else 1
        inc = self._ceil_div(num_classes, max(in_features, 1))
        target = self._ceil_div(num_batches, max(inc, 1))
        chunk = 1 << (target - 1).bit_length() if target > 0 else 0  # the next power of 2 >= target
        return min(chunk // factor, num_batches)

    def _adjust(self, num_batches: int, in_features: int, num_classes: int, dtype: Any,
                device: Any = None) -> LinearCrossEntropyOptions:
        """These options with "auto" and None resolved for one call (PyTorch's ``_adjust``)."""
        dtype = np.dtype(dtype)
        acc_policy: Any = self.acc_policy
        method = self.chunking_method
        if method == "auto" and self.batch_chunk_size is not None:
            method = None  # an explicit size wins over the automatic one
        if acc_policy == "auto" or method == "auto":
            kind = getattr(device, "type", None) if device is not None else None
            ap, cm = _AUTO_DEFAULTS.get((kind, dtype), _AUTO_FALLBACK) if kind is not None else _AUTO_FALLBACK
            acc_policy = ap if acc_policy == "auto" else acc_policy
            method = cm if method == "auto" else method
        size = num_batches if self.batch_chunk_size is None else min(self.batch_chunk_size, num_batches)
        if method is not None:
            size = self._compute_batch_chunk_size(num_batches, in_features, num_classes, method)
            if self.batch_chunk_size is not None and self.batch_chunk_size != size:
                raise ValueError(
                    f"batch_chunk_size (={self.batch_chunk_size}) and chunking_method ('{method}') give "
                    f"different chunk sizes ({self.batch_chunk_size} vs {size}); pass only one."
                )
        if self.acc_dtype is None:
            half = dtype == np.float16 and self.acc_policy == "auto" and getattr(device, "type", "cpu") == "cpu"
            acc = np.dtype(np.float32) if half else dtype
        else:
            acc = np.dtype(self.acc_dtype)
        return dataclasses.replace(self, acc_policy=acc_policy, chunking_method=method,
                                   batch_chunk_size=max(1, size), acc_dtype=acc)


# ------------------------------------------------------------------------------------ the op
class LinearCrossEntropyChunked(Primitive):
    """ℓ = cross_entropy(x Wᵀ + b, t) for x (N, in), W (C, in), b (C,), computed ``chunk`` rows at a
    time (see the module docstring for the rules).  Class-index targets t (N,), class weights w,
    no label smoothing; ``reduction`` 'none' gives (N,), 'sum' and 'mean' a scalar."""

    __slots__ = ("target", "valid", "wt", "coef", "reduction", "chunk", "acc", "table")
    name = "linear_cross_entropy"
    saves_output = False  # the rules read x, W and b, never the loss

    def __init__(self, target: Any, valid: Any, class_weight: Any, reduction: str, chunk: int, acc: Any,
                 table: Any) -> None:
        self.target = target  # (N,) ints, the ignored rows set to 0
        self.valid = valid  # (N,) bool, or None when no row is ignored
        self.reduction = reduction
        self.chunk = int(chunk)
        self.acc = acc
        self.table = table  # the arrays' table, for the constants of the rules
        n = target.shape[0]
        # wt_i = w_{t_i} (1 without class weights), 0 for an ignored row
        wt = table.ones(n, acc) if class_weight is None else class_weight.astype(acc)[target]
        if valid is not None:
            wt = table.where(valid, wt, 0).astype(acc, copy=False)
        self.wt = wt
        # coef_i = ∂(reduced loss)/∂ℓ_i: wt_i / Σ wt for 'mean' (an ignored row 0 even when nothing counts,
        # a counted row of weight 0 then 0/0 = NaN, as cross_entropy), wt_i otherwise
        if reduction == "mean":
            with np.errstate(divide="ignore", invalid="ignore"):
                coef = wt / wt.sum()
            if valid is not None:
                coef = table.where(valid, coef, 0).astype(acc, copy=False)
            self.coef = coef
        else:
            self.coef = wt

    def _chunks(self, n: int):
        return ((s, min(s + self.chunk, n)) for s in range(0, n, self.chunk))

    def forward(self, m, x, w, b=None):
        n, c = x.shape[0], w.shape[0]
        acc = self.acc
        w_t = m.swapaxes(m.astype(w, acc), 0, 1)
        ba = None if b is None else m.astype(b, acc)
        rows = m.empty(n, acc)
        k = min(self.chunk, n)
        z, zs, e = m.empty((k, c), acc), m.empty((k, c), acc), m.empty((k, c), acc)  # reused by every chunk
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            for s, t in self._chunks(n):
                r = t - s
                zc = m.matmul(m.astype(x[s:t], acc), w_t, out=z[:r])
                if ba is not None:
                    zc += ba
                total = m.shifted_exp(zc, zs[:r], e[:r])  # zs = z - max_row z, e = exp(zs)
                rows[s:t] = m.log(total) - zs[:r][m.arange(r), self.target[s:t]]
            rows *= self.wt
            if self.valid is not None:  # an ignored row is 0, whatever its logits
                rows = m.where(self.valid, rows, 0).astype(acc, copy=False)
            if self.reduction == "none":
                return m.astype(rows, x.dtype)
            total_loss = rows.sum()
            if self.reduction == "mean":
                total_loss = total_loss / self.wt.sum()
            return m.asarray(total_loss, dtype=x.dtype)

    # the rules ---------------------------------------------------------------------------
    def _factor(self, m, g):
        """f_i = coef_i · dL/dℓ_i, (N,) (g is (N,) for 'none', 0-d otherwise)."""
        coef = self.coef if not m.is_tensor else m.const(self.coef, g)
        return coef * (g if m.is_tensor else m.astype(g, self.acc))

    def vjp(self, m, need, g, y, x, w, b=None):
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            if m.is_tensor:
                return self._vjp_recorded(m, need, g, x, w, b)
            return self._vjp_arrays(m, need, g, x, w, b)

    def _vjp_arrays(self, m, need, g, x, w, b):
        """The fast path on raw arrays: the three (B, C) buffers reused, the gradient made in place."""
        n, c = x.shape[0], w.shape[0]
        acc = self.acc
        f = self._factor(m, g)
        wa = m.astype(w, acc)
        w_t = m.swapaxes(wa, 0, 1)
        ba = None if b is None else m.astype(b, acc)
        gx = m.empty(x.shape, x.dtype) if need[0] else None
        gw = m.zeros(w.shape, acc) if need[1] else None
        gb = m.zeros(c, acc) if b is not None and need[2] else None
        k = min(self.chunk, n)
        z, zs, e = m.empty((k, c), acc), m.empty((k, c), acc), m.empty((k, c), acc)
        for s, t in self._chunks(n):
            r = t - s
            xc = m.astype(x[s:t], acc)
            zc = m.matmul(xc, w_t, out=z[:r])
            if ba is not None:
                zc += ba
            total = m.shifted_exp(zc, zs[:r], e[:r])
            p = e[:r]
            p /= m.reshape(total, (r, 1))  # softmax
            p[m.arange(r), self.target[s:t]] -= 1
            p *= m.reshape(f[s:t], (r, 1))  # G_c
            if gx is not None:
                gx[s:t] = m.matmul(p, wa)
            if gw is not None:
                gw += m.matmul(m.swapaxes(p, 0, 1), xc)
            if gb is not None:
                gb += m.sum(p, 0)
        out = (gx, None if gw is None else m.astype(gw, w.dtype))
        return out if b is None else out + (None if gb is None else m.astype(gb, b.dtype),)

    def _softmax_chunk(self, m, xc, w_t, ba):
        """(softmax(z_c), z_c) for one chunk x_c of (acc-dtype) rows, z_c = x_c Wᵀ + b, with the table m."""
        z = m.matmul(xc, w_t)
        if ba is not None:
            z = z + ba
        zd = m.raw(z)  # the shift by the row maximum is a constant: softmax does not depend on it
        shift = zd.max(axis=1, keepdims=True) if zd.size else self.table.zeros((zd.shape[0], 1), zd.dtype)
        ez = m.exp(z - m.const(shift, z))
        return ez / m.sum(ez, (1,), True), z

    def _onehot(self, m, s, t, c, like):
        q = self.table.zeros((t - s, c), self.acc)
        q[self.table.arange(t - s), self.target[s:t]] = 1
        return m.const(q, like)

    def _vjp_recorded(self, m, need, g, x, w, b):
        """The same rule on Tensors (``create_graph=True``), every step recorded."""
        n, c = x.shape[0], w.shape[0]
        acc = self.acc
        f = self._factor(m, g)
        wa = m.astype(w, acc)
        w_t = m.swapaxes(wa, 0, 1)
        ba = None if b is None else m.astype(b, acc)
        gxs, gw, gb = [], None, None
        for s, t in self._chunks(n):
            xc = m.astype(m.getitem(x, slice(s, t)), acc)
            p, z = self._softmax_chunk(m, xc, w_t, ba)
            grad = (p - self._onehot(m, s, t, c, z)) * m.reshape(m.getitem(f, slice(s, t)), (t - s, 1))
            if need[0]:
                gxs.append(m.astype(m.matmul(grad, wa), x.dtype))
            if need[1]:
                term = m.matmul(m.swapaxes(grad, 0, 1), xc)
                gw = term if gw is None else gw + term
            if b is not None and need[2]:
                term = m.sum(grad, (0,))
                gb = term if gb is None else gb + term
        gx = None
        if need[0]:
            gx = m.concatenate(gxs, 0) if gxs else m.zeros_like(x)
        if need[1]:
            gw = m.zeros_like(w) if gw is None else m.astype(gw, w.dtype)
        out = (gx, gw)
        if b is None:
            return out
        if need[2]:
            gb = m.zeros_like(b) if gb is None else m.astype(gb, b.dtype)
        return out + (gb,)

    def jvp(self, m, dxs, y, x, w, b=None):
        n = x.shape[0]
        acc = self.acc
        wa = m.astype(w, acc)
        w_t = m.swapaxes(wa, 0, 1)
        ba = None if b is None else m.astype(b, acc)
        dw_t = m.swapaxes(m.astype(dxs[1], acc), 0, 1)
        db = None if b is None else m.astype(dxs[2], acc)
        parts = []
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            for s, t in self._chunks(n):
                xc = m.astype(m.getitem(x, slice(s, t)), acc)
                p, z = self._softmax_chunk(m, xc, w_t, ba)
                dz = m.matmul(m.astype(m.getitem(dxs[0], slice(s, t)), acc), w_t) + m.matmul(xc, dw_t)
                if db is not None:
                    dz = dz + db
                parts.append(m.sum((p - self._onehot(m, s, t, w.shape[0], z)) * dz, (1,)))
            if parts:
                d = m.concatenate(parts, 0) if len(parts) > 1 else parts[0]
            else:  # no rows: an empty tangent (0,)
                d = m.zeros_like(m.astype(m.sum(dxs[0], (1,)), acc))
            d = d * m.const(self.coef, d)
            if self.reduction != "none":
                d = m.sum(d)
            return m.astype(d, x.dtype)


# ------------------------------------------------------------------------------------ the function
def _shape(t: Any) -> tuple:
    return tuple(int(s) for s in t.shape)


def _check(input: Any, linear_weight: Any, linear_bias: Any) -> tuple:
    """(num_batches, in_features, num_classes, out_features), or a clear error."""
    for what, t in (("input", input), ("linear_weight", linear_weight)):
        if not isinstance(t, Tensor):
            raise TypeError(f"{_NAME}: expected a Tensor for {what}, got {type(t).__name__}")
    if linear_bias is not None and not isinstance(linear_bias, Tensor):
        raise TypeError(f"{_NAME}: expected a Tensor or None for linear_bias, got {type(linear_bias).__name__}")
    if input.ndim < 1 or input.ndim > 2:
        raise LinearCrossEntropyShapeError(
            f"{_NAME}: expected input with dimensionality 1 or 2, (in_features,) or (N, in_features), "
            f"got {input.ndim} (shape {_shape(input)})")
    if linear_weight.ndim < 2:
        raise LinearCrossEntropyShapeError(
            f"{_NAME}: expected linear_weight with dimensionality at least 2, (C, in_features) or "
            f"(C, d1, ..., dK, in_features), got {linear_weight.ndim} (shape {_shape(linear_weight)})")
    in_features = int(input.shape[-1])
    if in_features != linear_weight.shape[-1]:
        raise LinearCrossEntropyShapeError(
            f"{_NAME}: expected equal input and linear_weight last dimensions (in_features), got "
            f"{input.shape[-1]} and {linear_weight.shape[-1]}, respectively (input shape {_shape(input)}, "
            f"linear_weight shape {_shape(linear_weight)})")
    num_classes = int(linear_weight.shape[0])
    out_features = _shape(linear_weight)[1:-1]
    if linear_bias is not None and _shape(linear_bias) != (num_classes, *out_features):
        raise LinearCrossEntropyShapeError(
            f"{_NAME}: expected linear_bias shape {(num_classes, *out_features)} (linear_weight shape "
            f"{_shape(linear_weight)} without its last dimension), got {_shape(linear_bias)}")
    if out_features and input.ndim == 1:
        raise LinearCrossEntropyShapeError(
            f"{_NAME}: K-dimensional loss defined by linear_weight shape {_shape(linear_weight)} requires "
            f"batched input, (N, {in_features}), got unbatched input with shape {_shape(input)}")
    dt = linear_weight._array.dtype
    if input._array.dtype != dt:
        raise DtypeError(mismatch_message(_NAME, "input", input._array.dtype, dt))
    if linear_bias is not None and linear_bias._array.dtype != dt:
        raise DtypeError(mismatch_message(_NAME, "linear_bias", linear_bias._array.dtype, dt))
    if dt.kind != "f":
        raise TypeError(f"{_NAME}: expected floating-point input and linear_weight, got dtype {dt}")
    return _shape(input)[:-1], in_features, num_classes, out_features


def linear_cross_entropy(
    input: Tensor,
    linear_weight: Tensor,
    target: Tensor,
    *,
    linear_bias: Tensor | None = None,
    weight: Tensor | None = None,
    reduction: str = "mean",
    ignore_index: int | None = None,
    label_smoothing: float = 0.0,
    options: LinearCrossEntropyOptions | None = None,
) -> Tensor:
    """The cross-entropy of ``input`` transformed linearly: ``cross_entropy(linear(input, W, b), target, ...)``.

    ``loss = linear_cross_entropy(x, W, t, **kw)`` equals the reference composition
    ``cross_entropy(linear(x, W, linear_bias), t, **kw)`` (with W of K + 2 dimensions reshaped
    to (C·d1···dK, in) for the product and the logits back to (N, C, d1, ..., dK)), except that
    ``ignore_index=None``, which ``cross_entropy`` does not accept, means -100 for class-index
    targets and is required for class-probability targets.  For index targets t_i,

        ℓ_i = -w_{t_i} log softmax(x_i Wᵀ + b)[t_i],  'mean' = Σ_i ℓ_i / Σ_i w_{t_i} (rows not ignored)

    and probability targets as in :func:`cross_entropy`.  Which kind the target is follows
    PyTorch: probabilities when its shape is the logits' shape.

    Shapes:
        input (in,) or (N, in); linear_weight (C, in), or (C, d1, ..., dK, in) for a K-dimensional
        loss (batched input only); linear_bias (C,) or (C, d1, ..., dK); target (), (N,) or
        (N, d1, ..., dK) of class indices in [0, C), or class probabilities (C,), (N, C) or
        (N, C, d1, ..., dK); weight (C,); output (), (N,) or (N, d1, ..., dK) for 'none', else a
        scalar.

    Chunking: with ``options`` (a :class:`LinearCrossEntropyOptions`) the loss is computed
    ``batch_chunk_size`` rows at a time by one primitive whose backward recomputes each chunk's
    logits, so the full (N, C) logits never exist (peak extra memory about three (B, C) blocks
    instead of several (N, C) arrays).  That path is taken for class-index targets (an integer
    dtype) with ``label_smoothing == 0`` and a 2-D ``linear_weight`` (``out_features == ()``),
    with or without ``linear_bias``, ``weight`` and ``ignore_index``, any reduction; every other
    case (K-dimensional loss, label smoothing, probability targets) falls back to the reference
    composition with a warning that ``options`` was ignored, as PyTorch does.  ``options=None``
    is the reference composition.  The chunked op's rules are written with the back end's table,
    so second derivatives and forward mode work on both paths (PyTorch's chunked op has neither),
    and a second backward needs no ``allow_retain_graph``.

    Args:
        input: the input samples, (in,) or (N, in).
        linear_weight: the linear weight, (C, in) or (C, d1, ..., dK, in).
        target: class indices or class probabilities (see Shapes).
        linear_bias: the bias added to the logits, (C,) or (C, d1, ..., dK), or None.
        weight: a rescaling weight for each class, (C,), or None.
        reduction: 'none' | 'mean' | 'sum'.
        ignore_index: a class-index target value that contributes nothing (None: -100); must be
            None for probability targets.
        label_smoothing: ε in [0, 1]: the target mixed with the uniform distribution.
        options: chunking options, or None for the reference composition.

    Returns:
        The loss: a scalar, or for reduction='none' one value per row (and position).
    """
    batch, in_features, num_classes, out_features = _check(input, linear_weight, linear_bias)
    reduction = _loss.check_reduction(reduction, _NAME)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"{_NAME}: label_smoothing must be between 0.0 and 1.0, got {label_smoothing}")
    t = _loss._target_array(input, target, _NAME)[1]
    logits_shape = (*batch, num_classes, *out_features)
    probabilities = tuple(t.shape) == logits_shape
    if probabilities and ignore_index is not None:
        raise RuntimeError(f"{_NAME}: ignore_index cannot be specified when target contains probabilities "
                           f"(target shape {tuple(t.shape)} = the logits' shape {logits_shape})")
    ignore = -100 if ignore_index is None else int(ignore_index)
    if options is not None:
        if not isinstance(options, LinearCrossEntropyOptions):
            raise TypeError(f"{_NAME}: options must be a LinearCrossEntropyOptions or None, "
                            f"got {type(options).__name__}")
        chunked = (not out_features and label_smoothing == 0.0 and t.dtype.kind in "iu" and num_classes > 0)
        if chunked:
            return _chunked(input, linear_weight, t, linear_bias, weight, reduction, ignore, options,
                            in_features, num_classes)
        warnings.warn(
            f"{_NAME}: ``options`` ignored; chunked path needs label_smoothing == 0, an integer target "
            f"dtype (class indices), out_features == () and num_classes > 0. Got reduction={reduction!r}, "
            f"label_smoothing={label_smoothing}, target.dtype={t.dtype}, out_features={out_features}, "
            f"linear_bias.shape={None if linear_bias is None else _shape(linear_bias)}.",
            stacklevel=2,
        )
    w2, b2 = linear_weight, linear_bias
    if out_features:
        rows = math.prod(out_features, start=num_classes)
        w2 = shape.reshape(linear_weight, (rows, in_features))
        if linear_bias is not None:
            b2 = shape.reshape(linear_bias, (rows,))
    logits = linear(input, w2, b2, _layer=_NAME)
    if out_features:
        logits = shape.reshape(logits, logits_shape)
    return _loss.cross_entropy(logits, target, weight=weight, reduction=reduction, ignore_index=ignore,
                               label_smoothing=label_smoothing)


def _chunked(input: Tensor, linear_weight: Tensor, t: Any, linear_bias: Tensor | None, weight: Any,
             reduction: str, ignore: int, options: LinearCrossEntropyOptions, in_features: int,
             num_classes: int) -> Tensor:
    """The chunked path: 2-D weight, class-index targets, no smoothing (see linear_cross_entropy)."""
    batched = input.ndim == 2
    n = int(input.shape[0]) if batched else 1
    m = table_of((input._array, t), _NAME)
    want = (n,) if batched else ()
    logits_shape = (n, num_classes) if batched else (num_classes,)
    flat, valid = _loss.check_index_target(m, t, num_classes, want, logits_shape, _NAME, ignore, what="logits")
    cw = _loss._class_weight(weight, num_classes, input, _NAME)
    opts = options._adjust(n, in_features, num_classes, input._array.dtype, getattr(input, "device", None))
    op = LinearCrossEntropyChunked(flat, valid, cw, reduction, opts.batch_chunk_size or 1, opts.acc_dtype, m)
    x = input if batched else shape.reshape(input, (1, in_features))
    args = (x, linear_weight) if linear_bias is None else (x, linear_weight, linear_bias)
    out = apply(op, *args)
    if reduction == "none" and not batched:
        out = shape.reshape(out, ())
    return out
