"""Resampling images and feature maps: ``interpolate`` (``upsample``), ``pixel_shuffle``, ``pixel_unshuffle``.

``interpolate`` works one spatial dimension at a time (nearest and (bi/tri)linear are separable).
Along a dimension of input size n and output size m, output position j reads source coordinate

* ``'nearest'``:        floor(j · s),              s = n/m (or 1/scale_factor when given);
* ``'nearest-exact'``:  floor((j + ½) · s);
* ``'linear'`` family:  x = (j + ½) · s - ½ (clamped at 0), or, with ``align_corners=True``,
  x = j · (n-1)/(m-1); the value is (1-λ) v[⌊x⌋] + λ v[min(⌊x⌋+1, n-1)], λ = x - ⌊x⌋;
* ``'bicubic'`` (4-D input): x as for the linear family but not clamped at 0; the value is
  Σ_{k=-1..2} w_k(λ) v[clamp(⌊x⌋+k, 0, n-1)] with Keys' cubic convolution weights (a = -0.75,
  shared with grid_sample);

as PyTorch (indices clamped to n-1).  Each step is an index selection and a weighted sum, so
gradients (and second derivatives) flow through.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from chainrule.autograd.primitive import table_of
from chainrule.autograd.tensor import Tensor
from chainrule.nn.functional._const import constant_like
from chainrule.nn.functional.grid_sample import _cubic
from chainrule.nn.functional.pooling import adaptive_avg_pool1d, adaptive_avg_pool2d
from chainrule.nn.functional.three_d import adaptive_avg_pool3d
from chainrule.ops import shape as sh
from chainrule.ops.indexing import getitem

__all__ = ["channel_shuffle", "interpolate", "pixel_shuffle", "pixel_unshuffle", "upsample", "upsample_bilinear",
           "upsample_nearest"]

_LINEAR = {"linear": 3, "bilinear": 4, "trilinear": 5, "bicubic": 4}


def _sizes(name: str, x: Tensor, size: Any, scale_factor: Any) -> tuple:
    """(output sizes, the scale used for source coordinates or None per dim)."""
    d = x.ndim - 2
    if (size is None) == (scale_factor is None):
        raise ValueError(f"{name}: exactly one of size or scale_factor must be given")
    if size is not None:
        out = (size,) * d if isinstance(size, (int, np.integer)) else tuple(size)
        if len(out) != d:
            raise ValueError(f"{name}: size {size} must have {d} entries for input {tuple(x.shape)}")
        return tuple(int(s) for s in out), (None,) * d
    sf = (scale_factor,) * d if isinstance(scale_factor, (int, float)) else tuple(scale_factor)
    if len(sf) != d:
        raise ValueError(f"{name}: scale_factor {scale_factor} must have {d} entries for input {tuple(x.shape)}")
    out = tuple(int(math.floor(n * float(f))) for n, f in zip(x.shape[2:], sf))
    return out, tuple(float(f) for f in sf)


def _take(x: Tensor, axis: int, idx: Any) -> Tensor:
    return getitem(x, (slice(None),) * axis + (idx,))


def interpolate(
    input: Tensor,
    size: Any = None,
    scale_factor: Any = None,
    mode: str = "nearest",
    align_corners: bool | None = None,
    recompute_scale_factor: bool | None = None,
    antialias: bool = False,
) -> Tensor:
    """Resize the spatial dimensions of (N, C, L), (N, C, H, W) or (N, C, D, H, W) ``input``.

    modes: 'nearest', 'nearest-exact', 'linear' (3-D input), 'bilinear' (4-D), 'bicubic' (4-D),
    'trilinear' (5-D), 'area' (adaptive average pooling, 3-D and 4-D).  ``align_corners`` only for
    the interpolating modes (default False).  ``scale_factor`` without ``recompute_scale_factor``
    sets the source step 1/scale_factor, as PyTorch.  ``antialias`` is not supported.
    """
    name = "interpolate"
    if not isinstance(input, Tensor):
        raise TypeError(f"{name}: expected a Tensor, got {type(input).__name__}")
    if input.ndim not in (3, 4, 5):
        raise ValueError(f"{name}: expected 3-D, 4-D or 5-D input (N, C, *spatial), got {tuple(input.shape)}")
    if antialias:
        raise NotImplementedError(f"{name}: antialias=True is not supported")
    linear = mode in _LINEAR
    if mode not in ("nearest", "nearest-exact", "area") and not linear:
        raise NotImplementedError(f"{name}: mode {mode!r} is not supported (nearest, nearest-exact, linear, "
                                  "bilinear, bicubic, trilinear, area)")
    if linear and input.ndim != _LINEAR[mode]:
        raise ValueError(f"{name}: mode {mode!r} needs {_LINEAR[mode]}-D input, got {tuple(input.shape)}")
    if align_corners is not None and not linear:
        raise ValueError(f"{name}: align_corners option can only be set with the interpolating modes: "
                         f"linear | bilinear | bicubic | trilinear, not {mode!r}")
    out, scales = _sizes(name, input, size, scale_factor)
    if any(m <= 0 for m in out):
        raise ValueError(f"{name}: the output size {out} must be positive (input {tuple(input.shape)})")
    if recompute_scale_factor:
        scales = (None,) * len(out)
    if mode == "area":
        if input.ndim == 3:
            return adaptive_avg_pool1d(input, out)
        if input.ndim == 4:
            return adaptive_avg_pool2d(input, out)
        return adaptive_avg_pool3d(input, out)
    x = input
    t = table_of((input,), name)  # the index grids and weights are made on input's device
    for k, (n, mo, sf) in enumerate(zip(input.shape[2:], out, scales)):
        axis = 2 + k
        j = t.arange(mo, dtype=np.float64)
        if not linear:
            s = n / mo if sf is None else 1.0 / sf
            src = t.floor((j + 0.5) * s if mode == "nearest-exact" else j * s)
            x = _take(x, axis, t.minimum(src.astype(np.int64), n - 1))
            continue
        if align_corners:
            src = j * ((n - 1) / (mo - 1) if mo > 1 else 0.0)
        else:
            s = n / mo if sf is None else 1.0 / sf
            src = (j + 0.5) * s - 0.5
            if mode != "bicubic":  # (PyTorch clamps the linear modes' coordinate, not the cubic one)
                src = t.maximum(src, 0.0)
        if mode == "bicubic":
            x = _cubic_pass(x, axis, src, n, name)
            continue
        i0 = t.minimum(t.floor(src).astype(np.int64), n - 1)
        i1 = t.minimum(i0 + 1, n - 1)
        lam = (src - i0).astype(input.dtype).reshape((mo,) + (1,) * (input.ndim - axis - 1))
        lam_t = constant_like(input, lambda m: lam, name)
        x = _take(x, axis, i0) * (1 - lam_t) + _take(x, axis, i1) * lam_t
    return x


def _held(x: Tensor, array: Any, name: str) -> Tensor:
    """``array`` (made on x's device) as a constant Tensor; one closure per array."""
    return constant_like(x, lambda m: array, name)


def _cubic_pass(x: Tensor, axis: int, src: Any, n: int, name: str) -> Tensor:
    """Σ_{k=-1..2} w_k · x[..., clamp(⌊src⌋ + k, 0, n-1), ...] along ``axis``; ``src`` (m,), an
    array of x's device, holds the source coordinates."""
    t = table_of((x,), name)
    lo = t.floor(src)
    weights = _cubic(src - lo)  # the taps at ⌊src⌋ - 1, ⌊src⌋, ⌊src⌋ + 1, ⌊src⌋ + 2
    shape = (src.shape[0],) + (1,) * (x.ndim - axis - 1)
    terms = [
        _take(x, axis, t.clip(lo.astype(np.int64) + k, 0, n - 1)) * _held(x, w.astype(x.dtype).reshape(shape), name)
        for k, w in zip((-1, 0, 1, 2), weights)
    ]
    return terms[0] + terms[1] + terms[2] + terms[3]


def upsample(input: Tensor, size: Any = None, scale_factor: Any = None, mode: str = "nearest",
             align_corners: bool | None = None) -> Tensor:
    """Deprecated PyTorch alias of :func:`interpolate`."""
    return interpolate(input, size, scale_factor, mode, align_corners)


def upsample_nearest(input: Tensor, size: Any = None, scale_factor: Any = None) -> Tensor:
    """``interpolate(mode='nearest')``."""
    return interpolate(input, size, scale_factor, mode="nearest")


def upsample_bilinear(input: Tensor, size: Any = None, scale_factor: Any = None) -> Tensor:
    """``interpolate(mode='bilinear', align_corners=True)`` (the old behaviour PyTorch keeps here)."""
    return interpolate(input, size, scale_factor, mode="bilinear", align_corners=True)


def pixel_shuffle(input: Tensor, upscale_factor: int) -> Tensor:
    """(*, C·r², H, W) -> (*, C, H·r, W·r): out[c, h·r + i, w·r + j] = in[c·r² + i·r + j, h, w]."""
    r = int(upscale_factor)
    if not isinstance(input, Tensor) or input.ndim < 3:
        raise RuntimeError(f"pixel_shuffle: expected a Tensor with at least 3 dimensions (*, C, H, W), got "
                           f"{tuple(input.shape) if isinstance(input, Tensor) else type(input).__name__}")
    *b, C, H, W = input.shape
    if r <= 0 or C % (r * r):
        raise RuntimeError(f"pixel_shuffle: expected the channel dimension ({C}) of input {tuple(input.shape)} "
                           f"to be divisible by the square of upscale_factor ({r})")
    nb = len(b)
    x = sh.reshape(input, tuple(b) + (C // (r * r), r, r, H, W))
    x = sh.permute(x, *range(nb), nb, nb + 3, nb + 1, nb + 4, nb + 2)
    return sh.reshape(x, tuple(b) + (C // (r * r), H * r, W * r))


def pixel_unshuffle(input: Tensor, downscale_factor: int) -> Tensor:
    """The inverse of :func:`pixel_shuffle`: (*, C, H·r, W·r) -> (*, C·r², H, W)."""
    r = int(downscale_factor)
    if not isinstance(input, Tensor) or input.ndim < 3:
        raise RuntimeError(f"pixel_unshuffle: expected a Tensor with at least 3 dimensions (*, C, H, W), got "
                           f"{tuple(input.shape) if isinstance(input, Tensor) else type(input).__name__}")
    *b, C, H, W = input.shape
    if r <= 0 or H % r or W % r:
        raise RuntimeError(f"pixel_unshuffle: expected height {H} and width {W} of input {tuple(input.shape)} "
                           f"to be divisible by downscale_factor ({r})")
    nb = len(b)
    x = sh.reshape(input, tuple(b) + (C, H // r, r, W // r, r))
    x = sh.permute(x, *range(nb), nb, nb + 2, nb + 4, nb + 1, nb + 3)
    return sh.reshape(x, tuple(b) + (C * r * r, H // r, W // r))


def channel_shuffle(input: Tensor, groups: int) -> Tensor:
    """ShuffleNet's channel shuffle: (N, g·k, *) viewed as (N, g, k, *), transposed to (N, k, g, *), flattened."""
    if not isinstance(input, Tensor) or input.ndim < 3:
        raise ValueError("channel_shuffle: expected input (N, C, *) with at least one spatial dimension")
    N, C = input.shape[:2]
    if groups <= 0 or C % groups:
        raise ValueError(f"channel_shuffle: number of channels ({C}) must be divisible by groups ({groups})")
    rest = tuple(input.shape[2:])
    x = sh.reshape(input, (N, groups, C // groups) + rest)
    return sh.reshape(sh.transpose(x, 1, 2), (N, C) + rest)
