"""Connectionist temporal classification (CTC) loss, ``ctc_loss`` (Graves et al., 2006).

For one sequence of T frames of log-probabilities lp[t, k] over C classes (class ``blank``
included) and a target l of S labels, the extended target l' = (b, l₁, b, l₂, ..., b, l_S, b)
has L = 2S + 1 states.  An alignment is a path π of length T through the classes that, with
repeats merged and blanks removed, reads l; the loss is

    loss = -log p(l | x),   p(l | x) = Σ_π Π_t exp(lp[t, π_t]).

The forward variables α_t(s) (log of the paths' mass over frames 0..t ending in state s,
emission at t included) follow, in log space (⊕ = log-sum-exp),

    α_0(0) = lp[0, b],  α_0(1) = lp[0, l₁],
    α_t(s) = lp[t, l'_s] + (α_{t-1}(s) ⊕ α_{t-1}(s-1) ⊕ [α_{t-1}(s-2) if l'_s ≠ b and l'_s ≠ l'_{s-2}]),

and p = exp(α_{T-1}(L-1) ⊕ α_{T-1}(L-2)).  The backward variables β_t(s) (frames t..T-1 from
state s, emission at t included) run the same recursion from the end, and the gradient is

    ∂loss/∂lp[t, k] = -Σ_{s: l'_s = k} exp(α_t(s) + β_t(s) - lp[t, k] + loss),

minus the posterior probability that frame t emits class k.  This is the derivative with
respect to ``log_probs`` themselves; PyTorch's kernel returns it plus exp(lp[t, k]) (it assumes
``log_probs`` come from ``log_softmax``, through which that term vanishes), so gradients on the
logits before a ``log_softmax`` agree with PyTorch's while ``log_probs.grad`` differs.
A target that no alignment can produce (T too short) has p = 0 and an infinite loss, whose
gradient is not a number (as PyTorch's) unless ``zero_infinity`` makes both 0.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from chainrule.autograd.primitive import Primitive, apply
from chainrule.autograd.tensor import Tensor
from chainrule.nn.functional._const import derived
from chainrule.nn.functional.loss import check_reduction
from chainrule.ops import reduction as rd
from chainrule.ops import shape as sh
from chainrule.ops.creation import tensor as _tensor
from chainrule.ops.elementwise import clamp

__all__ = ["ctc_loss"]

_NEG = -np.inf


def _lse(m: Any, *xs: Any) -> Any:
    """Elementwise log(Σ exp xᵢ) of arrays that may hold -inf (then -inf, never nan)."""
    top = xs[0]
    for x in xs[1:]:
        top = m.maximum(top, x)
    shift = m.where(top == _NEG, 0.0, top)
    total = m.exp(xs[0] - shift)
    for x in xs[1:]:
        total = total + m.exp(x - shift)
    with np.errstate(divide="ignore"):
        return m.log(total) + shift


class _CTC(Primitive):
    """Per-sequence CTC losses (N,) of log_probs (T, N, C); targets (N, S) padded, lengths in __init__."""

    __slots__ = ("blank", "in_len", "tg_len", "zero_infinity", "alpha", "ext", "skip", "loss")
    name = "ctc_loss"
    saves_inputs = (0,)  # the vjp reads log_probs (the targets are kept as l' by forward)
    saves_output = False  # it reads the losses forward kept, before zero_infinity

    def __init__(self, blank: int, in_len: tuple, tg_len: tuple, zero_infinity: bool) -> None:
        self.blank = blank
        self.in_len = in_len
        self.tg_len = tg_len
        self.zero_infinity = zero_infinity
        self.alpha: Any = None
        self.ext: Any = None
        self.skip: Any = None
        self.loss: Any = None

    def _extended(self, m: Any, targets: Any) -> None:
        """l' per sequence, (N, 2·S_max + 1), and where the skip s-2 -> s is allowed."""
        N = len(self.tg_len)
        width = 2 * max(self.tg_len, default=0) + 1
        ext = m.full((N, width), self.blank, dtype=np.int64)
        if targets.shape[1] > 0 and width > 1:
            ext[:, 1::2] = m.astype(targets[:, : (width - 1) // 2], np.int64)
        two_back = m.concatenate([m.full((N, 2), self.blank, dtype=np.int64), ext], axis=1)[:, :width]
        self.ext = ext
        self.skip = (ext != self.blank) & (ext != two_back)

    def forward(self, m: Any, lp: Any, targets: Any) -> Any:
        T, N, _ = lp.shape
        self._extended(m, targets)
        ext, skip = self.ext, self.skip
        width = ext.shape[1]
        states = m.reshape(m.arange(width), (1, width))
        lens = m.reshape(m.from_host(list(self.tg_len), np.int64), (N, 1))
        real = states < 2 * lens + 1  # states beyond a sequence's own 2·S + 1
        rows = m.reshape(m.arange(N), (N, 1))
        emit = lp[:, rows, ext]  # (T, N, width): lp[t, n, l'_s]
        alpha = m.full((T, N, width), _NEG, dtype=lp.dtype)
        if T > 0:
            alpha[0] = m.where(real & (states < 2), emit[0], _NEG)
        ninf = m.full((N, 2), _NEG, dtype=lp.dtype)
        frames = m.reshape(m.from_host(list(self.in_len), np.int64), (N, 1))
        for t in range(1, T):
            a = alpha[t - 1]
            shifted = m.concatenate([ninf, a], axis=1)  # shifted[:, s + 2] = α_{t-1}(s)
            one = shifted[:, 1: 1 + width]
            two = m.where(skip, shifted[:, :width], _NEG)
            new = m.where(real, emit[t] + _lse(m, a, one, two), _NEG)
            alpha[t] = m.where(frames > t, new, a)  # past its own length a sequence keeps its last α
        self.alpha = alpha
        losses = []
        for n in range(N):
            S, Tn = self.tg_len[n], self.in_len[n]
            if Tn == 0:
                losses.append(0.0 if S == 0 else np.inf)
                continue
            last = alpha[Tn - 1, n]
            end = last[2 * S] if S == 0 else _lse(m, last[2 * S], last[2 * S - 1])
            losses.append(-float(end))
        out = m.from_host(losses, lp.dtype)
        self.loss = out  # before zero_infinity: the gradient zeroes the rows of infinite losses
        if self.zero_infinity:
            out = m.where(out == np.inf, 0.0, out)
        return out

    def gradient(self, m: Any, lp: Any, loss: Any) -> Any:
        """∂loss_n/∂lp[t, n, k], (T, N, C), from α (kept by forward) and β computed here."""
        T, N, C = lp.shape
        ext, skip, alpha = self.ext, self.skip, self.alpha
        width = ext.shape[1]
        rows = m.reshape(m.arange(N), (N, 1))
        emit = lp[:, rows, ext]
        states = m.reshape(m.arange(width), (1, width))
        ends = m.reshape(m.from_host([2 * n for n in self.tg_len], np.int64), (N, 1))
        frames = m.reshape(m.from_host(list(self.in_len), np.int64), (N, 1))
        final = (states == ends) | (states == ends - 1)
        # the skip into s + 2 is allowed where skip[s + 2]
        skip_up = m.concatenate([skip, m.zeros((N, 2), dtype=bool)], axis=1)[:, 2:]
        ninf = m.full((N, 2), _NEG, dtype=lp.dtype)
        beta = m.full((T, N, width), _NEG, dtype=lp.dtype)
        nxt = m.full((N, width), _NEG, dtype=lp.dtype)
        for t in range(T - 1, -1, -1):
            shifted = m.concatenate([nxt, ninf], axis=1)  # shifted[:, s] = β_{t+1}(s)
            one = shifted[:, 1: 1 + width]
            two = m.where(skip_up, shifted[:, 2:], _NEG)
            inner = emit[t] + _lse(m, nxt, one, two)
            start = m.where(final, emit[t], _NEG)
            cur = m.where(frames - 1 == t, start, m.where(frames - 1 > t, inner, _NEG))
            beta[t] = cur
            nxt = cur
        loss_b = m.reshape(m.astype(loss, lp.dtype), (1, N, 1))
        with np.errstate(invalid="ignore"):
            occupancy = m.exp(alpha + beta - emit + loss_b)  # paths through (t, s) / p
        mask = m.reshape(frames, (1, N, 1)) > m.reshape(m.arange(T), (T, 1, 1))
        occupancy = m.where(mask & (emit > _NEG), occupancy, 0.0)  # lp = -inf: never emitted
        grad = -m.scatter_add((T, N, C), (slice(None), rows, ext), occupancy)
        if self.zero_infinity:
            grad = m.where(m.reshape(loss == np.inf, (1, N, 1)), 0.0, grad)
        return grad

    def vjp(self, m: Any, need: tuple, g: Any, y: Any, lp: Any, targets: Any) -> tuple:
        if not need[0]:
            return None, None
        if isinstance(g, Tensor):  # create_graph=True: a recorded product, not differentiable in lp
            return apply(_CTCGrad(self), g, lp), None
        return m.reshape(g, (1, -1, 1)) * self.gradient(m, lp, self.loss), None

    def jvp(self, m: Any, dxs: tuple, y: Any, lp: Any, targets: Any) -> Any:
        """d loss_n = Σ_{t,k} ∂loss_n/∂lp[t, n, k] · d lp[t, n, k]."""
        return m.sum(self.gradient(m, lp, self.loss) * dxs[0], (0, 2))


class _CTCGrad(Primitive):
    """g (N,) · ∂loss/∂lp (T, N, C), recorded for create_graph=True: linear in g, with no
    derivative in lp (double backward through ctc_loss is not implemented, as in PyTorch)."""

    __slots__ = ("ctc", "local")
    name = "ctc_loss_backward"
    saves_inputs = ()  # the vjp reads the local gradient forward kept
    saves_output = False

    def __init__(self, ctc: _CTC) -> None:
        self.ctc = ctc
        self.local: Any = None

    def forward(self, m: Any, g: Any, lp: Any) -> Any:
        self.local = self.ctc.gradient(m, lp, self.ctc.loss)
        return m.reshape(g, (1, -1, 1)) * self.local

    def vjp(self, m: Any, need: tuple, g: Any, y: Any, *xs: Any) -> tuple:  # g: the incoming gradient
        if need[1]:
            raise RuntimeError("ctc_loss: the derivative of ctc_loss's gradient with respect to log_probs "
                               "(double backward) is not implemented, as in PyTorch")
        return (m.sum(g * self.local, (0, 2)) if need[0] else None), None

    def jvp(self, m: Any, dxs: tuple, y: Any, *xs: Any) -> Any:  # forward mode through the recorded backward
        raise RuntimeError("ctc_loss: the derivative of ctc_loss's gradient with respect to log_probs "
                           "(forward-over-reverse, a Hessian) is not implemented, as in PyTorch")


def _padded_targets(m: Any, t: Any, valid: Any, starts: list | None, width: int, blank: int) -> Any:
    """The (N, width) targets, each row's labels past its length set to ``blank``: from padded
    (N, S) targets (``starts`` None) or from concatenated ones starting at ``starts``."""
    if starts is None:
        labels = m.getitem(t, (slice(None), slice(0, width)))
    else:  # row n reads t[starts[n] + j], clipped into t for the positions past its length
        at = m.reshape(m.asarray(starts, np.int64), (len(starts), 1)) + m.arange(width)
        labels = m.getitem(t, m.minimum(at, t.shape[0] - 1)) if t.shape[0] else m.zeros(at.shape, t.dtype)
    return m.astype(m.where(valid, labels, blank), t.dtype)


def _lengths(value: Any, what: str, batch: int, batched: bool) -> tuple:
    """input_lengths / target_lengths (a Tensor, a sequence or, unbatched, an int) as a tuple of ints."""
    if isinstance(value, Tensor):
        if value.is_floating_point():
            raise TypeError(f"ctc_loss: {what} must hold integers, got dtype {value.dtype}")
        items = value.tolist()
        items = items if isinstance(items, list) else [items]
    elif isinstance(value, (int, np.integer)) and not batched:
        items = [value]
    elif isinstance(value, Sequence):
        items = list(value)
    else:
        raise TypeError(f"ctc_loss: {what} must be a Tensor or a sequence of ints, got {type(value).__name__}")
    if len(items) != batch:
        raise RuntimeError(f"ctc_loss: {what} must be of size batch_size ({batch}), got {len(items)} values")
    out = tuple(int(v) for v in items)
    if any(v < 0 for v in out):
        raise RuntimeError(f"ctc_loss: {what} must be non-negative, got {out}")
    return out


def ctc_loss(
    log_probs: Tensor,
    targets: Tensor,
    input_lengths: Any,
    target_lengths: Any,
    blank: int = 0,
    reduction: str = "mean",
    zero_infinity: bool = False,
) -> Tensor:
    """Connectionist temporal classification loss -log p(target | input) (see the module docstring).

    Args:
        log_probs: (T, N, C) or unbatched (T, C) log-probabilities (``log_softmax`` over C).
        targets: (N, S) padded, or 1-D (sum(target_lengths),) concatenated targets, or unbatched
            (S,); integer class indices in [0, C), never ``blank``.
        input_lengths: the frames used per sequence (N,), each at most T: a Tensor, a tuple or a list.
        target_lengths: the labels per sequence (N,), each at most S for padded targets.
        blank: the blank class index.
        reduction: 'mean' (each loss divided by its target length, at least 1, then the mean
            over the batch), 'sum' or 'none' ((N,), or () unbatched).
        zero_infinity: set infinite losses (targets that no alignment produces) and their
            gradients to 0.

    Returns:
        The reduced loss; gradients flow to ``log_probs``.
    """
    name = "ctc_loss"
    reduction = check_reduction(reduction, name)
    if not isinstance(log_probs, Tensor) or not isinstance(targets, Tensor):
        raise TypeError(f"{name}: expected log_probs and targets to be Tensors, got {type(log_probs).__name__} "
                        f"and {type(targets).__name__}")
    if not log_probs.is_floating_point():
        raise TypeError(f"{name}: expected floating-point log_probs, got dtype {log_probs.dtype}")
    if targets.is_floating_point():
        raise TypeError(f"{name}: expected integer targets, got dtype {targets.dtype}")
    if log_probs.ndim not in (2, 3):
        raise RuntimeError(f"{name}: expected log_probs of shape (T, N, C) or (T, C), got {tuple(log_probs.shape)}")
    batched = log_probs.ndim == 3
    lp = log_probs if batched else sh.unsqueeze(log_probs, 1)
    T, N, C = lp.shape
    if not 0 <= blank < C:
        raise RuntimeError(f"{name}: blank must be in label range [0, {C}), got {blank}")
    in_len = _lengths(input_lengths, "input_lengths", N, batched)
    tg_len = _lengths(target_lengths, "target_lengths", N, batched)
    if any(v > T for v in in_len):
        raise RuntimeError(f"{name}: expected input_lengths to be at most T = {T} (log_probs "
                           f"{tuple(log_probs.shape)}), got {in_len}")
    tg = targets if batched else sh.unsqueeze(targets, 0)
    if tg.ndim == 2:
        if tg.shape[0] != N:
            raise RuntimeError(f"{name}: expected padded targets of shape (N = {N}, S), got {tuple(targets.shape)}")
        if any(v > tg.shape[1] for v in tg_len):
            raise RuntimeError(f"{name}: target_lengths {tg_len} exceed the padded targets' length S = "
                               f"{tg.shape[1]} (targets {tuple(targets.shape)})")
        starts = None
    elif tg.ndim == 1 and batched:
        if tg.shape[0] != sum(tg_len):
            raise RuntimeError(f"{name}: expected concatenated targets of size sum(target_lengths) = "
                               f"{sum(tg_len)}, got {tuple(targets.shape)}")
        starts = [sum(tg_len[:n]) for n in range(N)]
    else:
        raise RuntimeError(f"{name}: expected targets of shape (N, S) or (sum(target_lengths),) for log_probs "
                           f"{tuple(log_probs.shape)}, got {tuple(targets.shape)}")
    width = max(tg_len, default=0)
    valid = derived(lambda m, t: m.less(m.reshape(m.arange(width), (1, width)),
                                        m.reshape(m.asarray(tg_len, np.int64), (N, 1))), tg, where=name)
    padded_t = derived(lambda m, t, ok: _padded_targets(m, t, ok, starts, width, blank), tg, valid, where=name)
    bad = derived(lambda m, p, ok: ok & ((p < 0) | (p >= C) | (p == blank)), padded_t, valid, where=name)
    if bad.any().item():  # (the first bad label in the samples' order, as a loop over them would name it)
        raise RuntimeError(f"{name}: targets must be class indices in [0, {C}) other than blank = {blank}, "
                           f"got {padded_t[bad][0].item()}")
    losses = apply(_CTC(blank, in_len, tg_len, bool(zero_infinity)), lp, padded_t)
    if reduction == "none":
        return losses if batched else sh.reshape(losses, ())
    if reduction == "sum":
        return rd.sum(losses)
    lengths = _tensor(list(tg_len), dtype=log_probs.dtype) if N else losses * 0.0
    return rd.mean(losses / clamp(lengths, 1.0))
