"""Fractional max pooling (Graham, 2014): PyTorch's ``fractional_max_pool2d/3d``.

A spatial dimension of input size n pooled to output size m with windows of size k has window
starts s_0, ..., s_(m-1) drawn from one number u ∈ [0, 1) per (sample, channel, dimension):

    α = (n - k) / (m - 1),   s_i = ⌊(i + u) α⌋ - ⌊u α⌋  (i < m - 1),   s_(m-1) = n - k,

computed in the input's dtype as PyTorch does, so that a given ``_random_samples`` gives
PyTorch's windows exactly.  Output cell (i, j[, l]) is the maximum of the input over the window
[s_i, s_i + k_1) × [t_j, t_j + k_2)[× ...]; the first maximum in row-major window order wins
ties.  The gradient goes to that element only (the output is a ``gather`` of the input at the
chosen positions).  ``_random_samples`` has shape (N, C, 2) for 2-D pooling, entry 0 for the
width and 1 for the height; (N, C, 3) for 3-D, entries for (T, H, W); without it the samples are
drawn uniformly from chainrule's generator.  The indices are flat positions in each input plane
(h·W + w, or (t·H + h)·W + w), as ``max_unpool`` takes them.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from chainrule.autograd.grad_mode import no_grad
from chainrule.autograd.tensor import Tensor
from chainrule.ops import creation
from chainrule.ops import shape as sh

__all__ = [
    "fractional_max_pool2d",
    "fractional_max_pool2d_with_indices",
    "fractional_max_pool3d",
    "fractional_max_pool3d_with_indices",
]


def _tuple(v: Any, d: int, what: str, name: str) -> tuple:
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return (v,) * d
    t = tuple(v)
    if len(t) != d:
        raise ValueError(f"{name}: {what} must be a number or a tuple of {d}, got {v!r}")
    return t


def _starts(u: Tensor, n_in: int, n_out: int, k: int) -> Tensor:
    """(N, C, n_out) int64 window starts along one dimension from the samples u (N, C)."""
    last = creation.full((u.shape[0], u.shape[1], 1), n_in - k, dtype=np.int64)
    if n_out <= 1:
        return last[:, :, :n_out]
    alpha = creation.full((), n_in - k, dtype=u.dtype) / creation.full((), n_out - 1, dtype=u.dtype)
    i = creation.arange(n_out - 1, dtype=u.dtype)
    inner = ((i + u.unsqueeze(-1)) * alpha).long() - (u * alpha).long().unsqueeze(-1)
    return sh.cat([inner, last], 2)


def _fractional(input: Tensor, kernel_size: Any, output_size: Any, output_ratio: Any, return_indices: bool,
                samples: Tensor | None, d: int) -> Any:
    name = f"fractional_max_pool{d}d"
    if not isinstance(input, Tensor):
        raise TypeError(f"{name}: input must be a Tensor, got {type(input).__name__}")
    if input.ndim not in (d + 1, d + 2):
        raise RuntimeError(f"{name}: expected a {d + 1}-D (unbatched) or {d + 2}-D (batched) input, got shape "
                           f"{tuple(input.shape)}")
    batched = input.ndim == d + 2
    x = input if batched else input.unsqueeze(0)
    N, C, S = x.shape[0], x.shape[1], tuple(x.shape[2:])
    k = tuple(int(v) for v in _tuple(kernel_size, d, "kernel_size", name))
    if output_size is None and output_ratio is None:
        raise ValueError(f"{name} requires specifying either an output_size or an output_ratio")
    if output_size is not None:
        out = tuple(int(v) for v in _tuple(output_size, d, "output_size", name))
    else:
        ratio = _tuple(output_ratio, d, "output_ratio", name)
        if not all(0 < r < 1 for r in ratio):
            raise ValueError(f"{name}: output_ratio must be between 0 and 1 (got {output_ratio!r})")
        out = tuple(int(n * r) for n, r in zip(S, ratio, strict=True))
    for n, kk, m, what in zip(S, k, out, ("depth", "height", "width")[3 - d:], strict=True):
        if kk < 1 or m < 0 or m + kk - 1 > n:
            raise RuntimeError(f"{name}: the pool {what} {kk} is too large relative to the input {what} {n} for the "
                               f"output {what} {m} (need output + kernel - 1 <= input); input shape "
                               f"{tuple(input.shape)}, kernel_size {k}, output size {out}")
    if samples is None:
        samples = creation.rand(N, C, d, dtype=x.dtype)
    elif tuple(samples.shape) != (N, C, d):
        raise RuntimeError(f"{name}: _random_samples must have shape (N, C, {d}) = {(N, C, d)} for input "
                           f"{tuple(input.shape)}, got {tuple(samples.shape)}")
    with no_grad():
        u = samples.detach().to(x.dtype)
        # the sample of each spatial dimension: 2-D takes (W, H) = entries (0, 1), 3-D (T, H, W) = (0, 1, 2)
        order = (1, 0) if d == 2 else (0, 1, 2)
        starts = [_starts(u[:, :, order[j]], S[j], out[j], k[j]) for j in range(d)]
        # the flat in-plane index of every window element: (N, C, o_1..o_d, k_1..k_d)
        flat: Any = 0
        for j in range(d):
            stride = math.prod(S[j + 1:])
            pos = starts[j].unsqueeze(-1) + creation.arange(k[j], dtype=np.int64)  # (N, C, o_j, k_j)
            view = [N, C] + [1] * (2 * d)
            view[2 + j], view[2 + d + j] = out[j], k[j]
            flat = flat + pos.reshape(view) * stride
        P, K = math.prod(out), math.prod(k)
        flat = flat.expand(N, C, *out, *k).reshape(N, C, P, K)
        xf = x.detach().reshape(N, C, math.prod(S))
        window = xf.gather(2, flat.reshape(N, C, P * K)).reshape(N, C, P, K)
        best = window.argmax(-1, keepdim=True) if K else window.new_zeros((N, C, P, 1)).long()
        index = flat.gather(3, best).reshape(N, C, P)
    values = x.reshape(N, C, math.prod(S)).gather(2, index).reshape(N, C, *out)
    indices = index.reshape(N, C, *out)
    if not batched:
        values, indices = values.squeeze(0), indices.squeeze(0)
    return (values, indices) if return_indices else values


def fractional_max_pool2d_with_indices(input: Tensor, kernel_size: Any, output_size: Any = None,
                                       output_ratio: Any = None, return_indices: bool = False,
                                       _random_samples: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """(values, indices) of 2-D fractional max pooling: input (N, C, H, W) or (C, H, W) ->
    (N, C, oH, oW), with oH, oW = ``output_size`` or ⌊H·r_h⌋, ⌊W·r_w⌋ from ``output_ratio``;
    indices are flat positions h·W + w in each input plane.  Formulas in the module docstring."""
    return _fractional(input, kernel_size, output_size, output_ratio, True, _random_samples, 2)


def fractional_max_pool2d(input: Tensor, kernel_size: Any, output_size: Any = None, output_ratio: Any = None,
                          return_indices: bool = False, _random_samples: Tensor | None = None) -> Any:
    """2-D fractional max pooling (see :func:`fractional_max_pool2d_with_indices`); the values, or
    (values, indices) with ``return_indices``."""
    return _fractional(input, kernel_size, output_size, output_ratio, return_indices, _random_samples, 2)


def fractional_max_pool3d_with_indices(input: Tensor, kernel_size: Any, output_size: Any = None,
                                       output_ratio: Any = None, return_indices: bool = False,
                                       _random_samples: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """(values, indices) of 3-D fractional max pooling: input (N, C, T, H, W) or (C, T, H, W) ->
    (N, C, oT, oH, oW); indices are flat positions (t·H + h)·W + w in each input volume."""
    return _fractional(input, kernel_size, output_size, output_ratio, True, _random_samples, 3)


def fractional_max_pool3d(input: Tensor, kernel_size: Any, output_size: Any = None, output_ratio: Any = None,
                          return_indices: bool = False, _random_samples: Tensor | None = None) -> Any:
    """3-D fractional max pooling (see :func:`fractional_max_pool3d_with_indices`); the values, or
    (values, indices) with ``return_indices``."""
    return _fractional(input, kernel_size, output_size, output_ratio, return_indices, _random_samples, 3)
