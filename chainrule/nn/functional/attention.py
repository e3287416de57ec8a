"""Attention: scaled dot-product, multi-head (PyTorch's layout) and additive (Bahdanau, the notes').

* ``scaled_dot_product_attention``:  softmax(Q Kᵀ · scale + mask) V,  scale = 1/√d.
* ``multi_head_attention_forward``:  project Q, K, V, split into heads, attend per
  head, concatenate, project out (``nn.MultiheadAttention``'s computation).
* ``additive_attention`` (the notes): e_ij = v_aᵀ tanh(W_a s_{i-1} + U_a h_j),
  a_ij = exp(e_ij) / Σ_j exp(e_ij),  c_i = Σ_j a_ij h_j.

All of them are compositions of Tensor ops (matmul, softmax, where), so they
support double backward and forward mode.

Mask conventions (PyTorch's, which differ between the two APIs):

* ``scaled_dot_product_attention(attn_mask=bool)``: True = the position TAKES PART;
* ``multi_head_attention_forward(attn_mask=bool, key_padding_mask=bool)``: True =
  the position is MASKED OUT (not allowed to attend);
* a float mask is always added to the scores (use -inf to mask out);
* ``additive_attention(mask=bool)``: True = a padded position, masked out.

A row in which every position is masked out (a query that sees no key) has no
defined softmax.  ``scaled_dot_product_attention`` gives it zeros, as PyTorch's does
(its safe softmax), and so does ``multi_head_attention_forward`` with
``need_weights=False``, which PyTorch runs through it; with ``need_weights=True``
PyTorch's plain softmax gives NaN, and so does this one.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from chainrule.autograd.primitive import apply
from chainrule.autograd.tensor import Tensor
from chainrule.backend import registry
from chainrule.backends.cuda import SDP_CPU_KERNEL
from chainrule.nn.functional._const import constant_like, derived
from chainrule.nn.functional._sdpa import ADD, CAUSAL, TAKE, ScaledDotProductAttention, causal_mask
from chainrule.nn.functional.recurrent import _dropout
from chainrule.ops import elementwise as ew
from chainrule.ops import reduction as rd
from chainrule.ops import shape as sh
from chainrule.ops.arrange import repeat_interleave
from chainrule.ops.indexing import getitem
from chainrule.ops.linalg import matmul
from chainrule.ops.pointwise import logical_not

__all__ = ["additive_attention", "multi_head_attention_forward", "scaled_dot_product_attention"]


def _as_mask(mask: Any, like: Tensor) -> Tensor:
    """``mask`` as a Tensor (host data such as a list goes to ``like``'s device)."""
    return mask if isinstance(mask, Tensor) else constant_like(like, lambda m: m.from_host(mask), "attention mask")


def _masked_out(scores: Tensor, masked: Tensor) -> Tensor:
    """scores with -inf where ``masked`` (a boolean Tensor broadcasting against scores) is True."""
    return ew.where(masked, -math.inf, scores)


def _check_broadcast(name: str, what: str, mask_shape: tuple, target: tuple) -> None:
    try:
        if np.broadcast_shapes(tuple(mask_shape), tuple(target)) != tuple(target):
            raise ValueError
    except ValueError:
        raise ValueError(
            f"{name}: {what} of shape {tuple(mask_shape)} does not broadcast to the attention scores' "
            f"shape {tuple(target)}"
        ) from None


def _attend(
    name: str,
    query: Tensor,
    key: Tensor,
    value: Tensor,
    take_part: Tensor | None,
    add: Tensor | None,
    dropout_p: float,
    scale: float | None,
    fused: bool = True,
    causal: bool = False,
) -> tuple:
    """softmax(Q Kᵀ·scale, masked) V; returns (output, weights after dropout).

    Where it can (``fused`` and ``_fits``: no dropout, no empty sequence, one float dtype), the
    whole of it is one primitive (``_sdpa.ScaledDotProductAttention``) and the weights returned
    are None; callers that need the weights pass ``fused=False`` for the composition.
    ``causal`` (with no other mask): key positions j > i are masked out; the primitive then
    skips them instead of computing them.
    """
    if query.shape[-1] != key.shape[-1]:
        raise ValueError(
            f"{name}: query and key need the same feature size, got query {tuple(query.shape)} "
            f"and key {tuple(key.shape)}"
        )
    if key.shape[-2] != value.shape[-2]:
        raise ValueError(
            f"{name}: key and value need the same sequence length, got key {tuple(key.shape)} "
            f"and value {tuple(value.shape)}"
        )
    if not 0.0 <= dropout_p <= 1.0:
        raise ValueError(f"{name}: dropout_p must be a probability in [0, 1], got {dropout_p}")
    if scale is None:
        scale = 1.0 / math.sqrt(query.shape[-1])
    if causal and fused and _fits(query, key, value, None, None, dropout_p):
        return apply(ScaledDotProductAttention(scale, CAUSAL), query, key, value), None
    if causal:  # the composition: the causal mask as a constant
        take_part = constant_like(query, lambda m: causal_mask(m, query.shape[-2], key.shape[-2]), name)
    if fused and _fits(query, key, value, take_part, add, dropout_p):
        shape = np.broadcast_shapes(tuple(query.shape[:-2]), tuple(key.shape[:-2])) + (query.shape[-2], key.shape[-2])
        mask = take_part if take_part is not None else add
        if mask is not None:
            _check_broadcast(name, "attn_mask", mask.shape, shape)
        kind = None if mask is None else (TAKE if take_part is not None else ADD)
        extra = () if mask is None else (mask,)
        return apply(ScaledDotProductAttention(scale, kind), query, key, value, *extra), None
    scores = matmul(query, sh.transpose(key, -2, -1)) * scale
    if take_part is not None:
        _check_broadcast(name, "attn_mask", take_part.shape, scores.shape)
        scores = _masked_out(scores, logical_not(take_part))
    if add is not None:
        _check_broadcast(name, "attn_mask", add.shape, scores.shape)
        scores = scores + add
    weights = _safe_softmax(scores) if fused and (take_part is not None or add is not None) else rd.softmax(scores, -1)
    if dropout_p > 0.0:
        weights = _dropout(weights, dropout_p)
    return matmul(weights, value), weights


def _safe_softmax(scores: Tensor) -> Tensor:
    """softmax over the last axis, with zeros for a row whose scores are all -inf (every key
    masked out), as PyTorch's scaled_dot_product_attention gives it; a plain softmax gives NaN.
    Such a row's scores become 0 before the softmax, so that its backward, which the last
    ``where`` gives a zero gradient, stays finite."""
    dead = derived(lambda m, s: m.all(m.isneginf(s), axis=-1, keepdims=True), scores, where="attention mask")
    return ew.where(dead, 0.0, rd.softmax(ew.where(dead, 0.0, scores), -1))


def _fits(query: Tensor, key: Tensor, value: Tensor, take_part: Tensor | None, add: Tensor | None, p: float) -> bool:
    """Whether the fused primitive covers this call: no dropout, L and S not 0, Q, K, V (and a
    float mask) of one float dtype; the rest goes to the composition."""
    dt = query.dtype
    if p > 0.0 or not query.shape[-2] or not key.shape[-2] or key.dtype != dt or value.dtype != dt:
        return False
    if query._array.dtype.kind != "f" or (take_part is not None and take_part.dtype != np.bool_):
        return False
    return add is None or add.dtype == dt


def scaled_dot_product_attention(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    attn_mask: Tensor | None = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    scale: float | None = None,
    enable_gqa: bool = False,
) -> Tensor:
    """Attention(Q, K, V) = softmax(Q Kᵀ · scale + M) V.

    query (..., L, E), key (..., S, E), value (..., S, Ev) -> (..., L, Ev);
    ``scale`` defaults to 1/√E.  ``attn_mask`` broadcasts to (..., L, S): boolean
    (True = the key position takes part, False = masked out) or float (added to
    the scores).  ``is_causal`` masks out key positions j > i (the upper
    triangle), and cannot be combined with ``attn_mask``.  ``dropout_p`` drops
    attention weights (scaled by 1/(1-p)) whenever it is > 0, as in PyTorch.

    Without dropout the whole of it is one primitive with hand-written rules
    (``_sdpa.ScaledDotProductAttention``), which for ``is_causal`` skips the scores above the
    diagonal instead of masking them; with dropout it is composed of Tensor ops.

    ``enable_gqa`` (grouped-query attention): query (..., Hq, L, E) with key and value
    (..., Hkv, S, ·), Hkv dividing Hq; each key/value head serves Hq / Hkv consecutive query
    heads (key and value repeated along dim -3).  ``attn_mask`` may also be a
    ``nn.attention.bias.CausalBias`` (``causal_upper_left`` / ``causal_lower_right``).

    Which kernel ``nn.attention.sdpa_kernel`` selects does not change the result: the CPU has
    this one; as on PyTorch's CPU build, it runs when the math or the flash backend is enabled,
    and with neither a RuntimeError says that no backend is left.
    """
    name = "scaled_dot_product_attention"
    if attn_mask is not None and not isinstance(attn_mask, Tensor):
        from chainrule.nn.attention.bias import CausalBias

        if isinstance(attn_mask, CausalBias):
            return CausalBias._dispatch(query, key, value, attn_mask, dropout_p, is_causal, scale, enable_gqa)
    for what, t in (("query", query), ("key", key), ("value", value)):
        if not isinstance(t, Tensor) or t.ndim < 2:
            raise ValueError(f"{name}: {what} must be a Tensor with at least 2 dimensions (..., L, E)")
    if not SDP_CPU_KERNEL[0]:
        raise RuntimeError(f"{name}: No viable backend for scaled_dot_product_attention was found. This is likely "
                           "due to turning off both the math kernel and the fused kernels (nn.attention.sdpa_kernel).")
    if enable_gqa:
        key, value = _grouped_heads(name, query, key, value)
    take_part = None
    add = None
    if is_causal:
        if attn_mask is not None:
            raise ValueError(f"{name}: pass either attn_mask or is_causal=True, not both")
    elif attn_mask is not None:
        mask = _as_mask(attn_mask, query)
        if mask.dtype == np.bool_:
            take_part = mask
        else:
            add = mask
    out, _ = _attend(name, query, key, value, take_part, add, dropout_p, scale, causal=is_causal)
    return out


def _grouped_heads(name: str, query: Tensor, key: Tensor, value: Tensor) -> tuple[Tensor, Tensor]:
    """Grouped-query attention: key and value with their heads (dim -3) repeated to query's."""
    if query.ndim < 3 or key.ndim < 3 or value.ndim < 3:
        return key, value
    hq, hk, hv = query.shape[-3], key.shape[-3], value.shape[-3]
    if hk != hv or hk == 0 or hq % hk:
        raise RuntimeError(f"{name}: with enable_gqa=True the number of heads in key and value (dim -3) must be "
                           f"equal and divide the number of heads in query: query {tuple(query.shape)}, "
                           f"key {tuple(key.shape)}, value {tuple(value.shape)}")
    if hq == hk:
        return key, value
    return repeat_interleave(key, hq // hk, dim=-3), repeat_interleave(value, hq // hk, dim=-3)


def _float_mask(mask: Any, like: Tensor) -> Tensor:
    """PyTorch's MHA masks as an additive float Tensor: bool True -> -inf, float kept."""
    m = _as_mask(mask, like)
    if m.dtype == np.bool_:
        return ew.where(m, -math.inf, constant_like(m, lambda t: t.zeros(m.shape, like.dtype), "attention mask"))
    if m.dtype.kind != "f":
        raise TypeError(f"multi_head_attention_forward: masks must be bool or float, got {m.dtype}")
    return m


def _is_causal_mask(mask: Tensor, L: int, S: int) -> bool:
    """Whether an additive mask of shape (1, L, S) is the causal one: 0 where key position j ≤
    query position i, -inf above.  PyTorch trusts ``is_causal`` as a hint that the mask is
    causal; here the hint is taken only where this holds, so a wrong hint cannot change a result."""
    if tuple(mask.shape) != (1, L, S):
        return False
    a = registry.to_host(mask._array)[0]
    keep = causal_mask(np, L, S)
    return bool((a[keep] == 0).all() and (a[~keep] == -math.inf).all())


def _project(x: Tensor, w: Tensor, b: Tensor | None) -> Tensor:
    y = matmul(x, sh.t(w))
    return y if b is None else y + b


def multi_head_attention_forward(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    embed_dim_to_check: int,
    num_heads: int,
    in_proj_weight: Tensor | None,
    in_proj_bias: Tensor | None,
    bias_k: Tensor | None,
    bias_v: Tensor | None,
    add_zero_attn: bool,
    dropout_p: float,
    out_proj_weight: Tensor,
    out_proj_bias: Tensor | None,
    training: bool = True,
    key_padding_mask: Tensor | None = None,
    need_weights: bool = True,
    attn_mask: Tensor | None = None,
    use_separate_proj_weight: bool = False,
    q_proj_weight: Tensor | None = None,
    k_proj_weight: Tensor | None = None,
    v_proj_weight: Tensor | None = None,
    average_attn_weights: bool = True,
    is_causal: bool = False,
) -> tuple:
    """Multi-head attention on sequence-first inputs (PyTorch's functional signature).

    query (L, N, E), key (S, N, kdim), value (S, N, vdim) — or unbatched (L, E),
    (S, kdim), (S, vdim).  With h = ``num_heads`` heads of size d = E/h:

        Q = query W_qᵀ + b_q,  K = key W_kᵀ + b_k,  V = value W_vᵀ + b_v
        head_i = softmax(Q_i K_iᵀ / √d + M) V_i,   out = [head_1 … head_h] W_oᵀ + b_o

    W_q, W_k, W_v are the row blocks of ``in_proj_weight`` (3E, E), or the separate
    ``q/k/v_proj_weight`` when ``use_separate_proj_weight``.  ``bias_k``/``bias_v``
    (1, 1, E) are appended to K and V as one more key position; ``add_zero_attn``
    appends a zero key/value position.  ``key_padding_mask`` (N, S) and
    ``attn_mask`` (L, S) or (N·h, L, S): bool (True = masked out) or float
    (added).  ``is_causal`` with no ``attn_mask`` masks out positions j > i.
    Dropout applies to the attention weights when ``training``.

    Returns (output (L, N, E), weights) where weights are (N, L, S) averaged over
    heads, (N, h, L, S) if not ``average_attn_weights``, None if not ``need_weights``.
    """
    name = "multi_head_attention_forward"
    batched = query.ndim == 3
    if query.ndim not in (2, 3) or key.ndim != query.ndim or value.ndim != query.ndim:
        raise ValueError(
            f"{name}: expected query, key, value all 3-D (L, N, E) or all 2-D (L, E), got "
            f"{tuple(query.shape)}, {tuple(key.shape)}, {tuple(value.shape)}"
        )
    if not batched:
        query, key, value = (sh.unsqueeze(t, 1) for t in (query, key, value))
        if key_padding_mask is not None:
            key_padding_mask = sh.unsqueeze(_as_mask(key_padding_mask, query), 0)
    L, N, E = query.shape
    S = key.shape[0]
    if E != embed_dim_to_check:
        raise ValueError(f"{name}: expected query with embed_dim {embed_dim_to_check}, got shape {tuple(query.shape)}")
    if E % num_heads:
        raise ValueError(f"{name}: embed_dim {E} is not divisible by num_heads {num_heads}")
    if key.shape[:2] != (S, N) or value.shape[:2] != (S, N):
        raise ValueError(
            f"{name}: key and value must have shape (S, N, ·) with N = {N}, got {tuple(key.shape)} and "
            f"{tuple(value.shape)}"
        )
    hd = E // num_heads
    if use_separate_proj_weight:
        if q_proj_weight is None or k_proj_weight is None or v_proj_weight is None:
            raise ValueError(f"{name}: use_separate_proj_weight needs q_proj_weight, k_proj_weight, v_proj_weight")
        w_q, w_k, w_v = q_proj_weight, k_proj_weight, v_proj_weight
    else:
        if in_proj_weight is None:
            raise ValueError(f"{name}: in_proj_weight is None; pass use_separate_proj_weight=True")
        w_q, w_k, w_v = (getitem(in_proj_weight, slice(i * E, (i + 1) * E)) for i in range(3))
    for what, w, x in (("query", w_q, query), ("key", w_k, key), ("value", w_v, value)):
        if tuple(w.shape) != (E, x.shape[-1]):
            raise ValueError(
                f"{name}: the {what} projection weight must be ({E}, {x.shape[-1]}) for a {what} of shape "
                f"{tuple(x.shape)}, got {tuple(w.shape)}"
            )
    b_q = b_k = b_v = None
    if in_proj_bias is not None:
        b_q, b_k, b_v = (getitem(in_proj_bias, slice(i * E, (i + 1) * E)) for i in range(3))
    q = _project(query, w_q, b_q)
    k = _project(key, w_k, b_k)
    v = _project(value, w_v, b_v)

    # masks as additive float (N·h or 1, L, S') tensors; or, where attention is causal and nothing
    # else masks or adds keys, no mask at all: the primitive's causal form skips the upper triangle
    plain = bias_k is None and bias_v is None and not add_zero_attn and key_padding_mask is None and not need_weights
    mask = None
    causal = False
    if attn_mask is not None:
        am = _float_mask(attn_mask, q)
        want2, want3 = (L, S), (N * num_heads, L, S)
        if tuple(am.shape) == want2:
            am = sh.unsqueeze(am, 0)
        elif tuple(am.shape) != want3:
            raise ValueError(f"{name}: attn_mask must have shape {want2} or {want3}, got {tuple(am.shape)}")
        mask = am
        if is_causal and plain and _is_causal_mask(am, L, S):  # PyTorch's hint, taken where it is true
            mask, causal = None, True
    elif is_causal and plain:
        causal = True
    elif is_causal:
        mask = constant_like(q, lambda m: m.where(causal_mask(m, L, S), 0.0, -math.inf).astype(q.dtype)[None], name)
    kpm = None
    if key_padding_mask is not None:
        kpm = _float_mask(key_padding_mask, q)
        if tuple(kpm.shape) != (N, S):
            raise ValueError(f"{name}: key_padding_mask must have shape {(N, S)}, got {tuple(kpm.shape)}")

    def pad_masks(mask: Tensor | None, kpm: Tensor | None) -> tuple:
        # one more key position: it takes part (mask 0)
        if mask is not None:
            mask = sh.pad(mask, [0, 1])
        if kpm is not None:
            kpm = sh.pad(kpm, [0, 1])
        return mask, kpm

    if bias_k is not None or bias_v is not None:
        if bias_k is None or bias_v is None:
            raise ValueError(f"{name}: bias_k and bias_v must be given together")
        k = sh.cat([k, sh.expand(bias_k, 1, N, E)], 0)
        v = sh.cat([v, sh.expand(bias_v, 1, N, E)], 0)
        mask, kpm = pad_masks(mask, kpm)

    def heads(t: Tensor) -> Tensor:
        # (S, N, E) -> (N·h, S, d): the layout of PyTorch's bmm path
        return sh.transpose(sh.reshape(t, (t.shape[0], N * num_heads, hd)), 0, 1)

    q, k, v = heads(q), heads(k), heads(v)
    if add_zero_attn:
        zeros = constant_like(k, lambda m: m.zeros((N * num_heads, 1, hd), k.dtype), name)
        k = sh.cat([k, zeros], 1)
        v = sh.cat([v, zeros], 1)
        mask, kpm = pad_masks(mask, kpm)
    S2 = k.shape[1]
    if kpm is not None:
        kpm4 = sh.reshape(sh.expand(sh.reshape(kpm, (N, 1, 1, S2)), N, num_heads, 1, S2), (N * num_heads, 1, S2))
        mask = kpm4 if mask is None else mask + kpm4
    p = dropout_p if training else 0.0
    out, weights = _attend(name, q, k, v, None, mask, p, None, not need_weights, causal)  # (N·h, L, d), (N·h, L, S2)
    out = sh.reshape(sh.transpose(out, 0, 1), (L, N, E))
    out = _project(out, out_proj_weight, out_proj_bias)
    if not batched:
        out = sh.squeeze(out, 1)
    if not need_weights:
        return out, None
    weights = sh.reshape(weights, (N, num_heads, L, S2))
    if average_attn_weights:
        weights = rd.mean(weights, 1)
    if not batched:
        weights = sh.squeeze(weights, 0)
    return out, weights


def additive_attention(
    query: Tensor,
    keys: Tensor,
    w_a: Tensor,
    u_a: Tensor,
    v_a: Tensor,
    values: Tensor | None = None,
    mask: Tensor | None = None,
) -> tuple:
    """Additive (Bahdanau) attention, the notes' equations.

        e_ij = v_aᵀ tanh(W_a s_{i-1} + U_a h_j)
        a_ij = exp(e_ij) / Σ_j exp(e_ij)          (masked positions j get a_ij = 0)
        c_i  = Σ_j a_ij h_j                          (h_j from ``values``, default ``keys``)

    query s (N, Dq) or (N, T_q, Dq); keys h (N, T, Dk); values (N, T, Dv) or None;
    w_a (A, Dq); u_a (A, Dk); v_a (A,) or (1, A); mask (N, T) or (N, T_q, T), bool,
    True = padded position (ignored).  Returns (context (N, Dv) or (N, T_q, Dv),
    weights (N, T) or (N, T_q, T)).
    """
    name = "additive_attention"
    if keys.ndim != 3:
        raise ValueError(f"{name}: keys must be (N, T, Dk), got shape {tuple(keys.shape)}")
    if query.ndim not in (2, 3) or query.shape[0] != keys.shape[0]:
        raise ValueError(
            f"{name}: query must be (N, Dq) or (N, T_q, Dq) with N = {keys.shape[0]}, got shape {tuple(query.shape)}"
        )
    if values is None:
        values = keys
    elif values.ndim != 3 or values.shape[:2] != keys.shape[:2]:
        raise ValueError(
            f"{name}: values must be (N, T, Dv) = ({keys.shape[0]}, {keys.shape[1]}, Dv), got {tuple(values.shape)}"
        )
    A = u_a.shape[0]
    if tuple(w_a.shape) != (A, query.shape[-1]) or tuple(u_a.shape) != (A, keys.shape[-1]):
        raise ValueError(
            f"{name}: expected W_a ({A}, {query.shape[-1]}) and U_a ({A}, {keys.shape[-1]}), "
            f"got {tuple(w_a.shape)} and {tuple(u_a.shape)}"
        )
    v_vec = sh.reshape(v_a, (A,))
    single = query.ndim == 2
    q = sh.unsqueeze(query, 1) if single else query  # (N, T_q, Dq)
    ws = matmul(q, sh.t(w_a))  # (N, T_q, A)
    uh = matmul(keys, sh.t(u_a))  # (N, T, A)
    e = matmul(ew.tanh(sh.unsqueeze(ws, 2) + sh.unsqueeze(uh, 1)), v_vec)  # (N, T_q, T)
    if mask is not None:
        mt = _as_mask(mask, e)
        if mt.dtype != np.bool_:
            raise TypeError(f"{name}: mask must be boolean (True = padded), got {mt.dtype}")
        if mt.ndim == 2:
            mt = sh.unsqueeze(mt, 1)
        _check_broadcast(name, "mask", mt.shape, e.shape)
        e = _masked_out(e, mt)
    a = rd.softmax(e, -1)
    context = matmul(a, values)  # (N, T_q, Dv)
    if single:
        return sh.squeeze(context, 1), sh.squeeze(a, 1)
    return context, a
