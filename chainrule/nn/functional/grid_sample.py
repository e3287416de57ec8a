"""Spatial transformers: ``affine_grid`` (a sampling grid from affine matrices) and ``grid_sample``.

Coordinates are normalised: -1 and +1 are the first and the last pixel, their centres with
``align_corners=True`` and their outer edges with ``align_corners=False`` (PyTorch's default).
Along a dimension of n pixels a normalised coordinate u is the pixel coordinate

* ``align_corners=True``:   x = (u + 1)/2 · (n - 1);
* ``align_corners=False``:  x = ((u + 1) · n - 1)/2.

``grid_sample`` reads the input at those coordinates:

* ``'bilinear'`` (trilinear for 5-D input): out = Σ over the 2^d corners c of ⌊x⌋ of
  Π_k (1 - |x_k - c_k|) · in[c] (bilinear weights);
* ``'nearest'``: in[round(x)] (round half to even), whose gradient with respect to the grid is 0;
* ``'bicubic'`` (4-D input): Σ over the 4 × 4 pixels around x of Keys' cubic convolution
  weights (a = -0.75) in each direction, out-of-range taps padded by ``padding_mode``.

Pixels outside the input read 0 (``padding_mode='zeros'``), the coordinate clipped to the
border (``'border'``), or the coordinate reflected at the border (``'reflection'``: at the
pixel centres with align_corners=True, at the outer edges otherwise, then clipped).

Both are compositions of Tensor ops (a matrix product; floor, clamp and index selection with
the weights computed from the grid), so gradients flow to the input and the grid, and again
(second derivatives) where the function is smooth.
"""

from __future__ import annotations

import itertools
import warnings
from typing import Any, Sequence

import numpy as np

from chainrule.autograd.grad_mode import is_grad_enabled
from chainrule.autograd.primitive import table_of
from chainrule.autograd.tensor import Tensor
from chainrule.nn.functional._const import constant_like
from chainrule.ops import elementwise as ew
from chainrule.ops import pointwise as pw
from chainrule.ops import reduction as rd
from chainrule.ops import shape as sh
from chainrule.ops.arrange import select
from chainrule.ops.elementwise import clamp
from chainrule.ops.indexing import getitem
from chainrule.ops.linalg import matmul
from chainrule.ops.pointwise import floor

__all__ = ["affine_grid", "grid_sample"]

_ALIGN_WARNING = ("Default grid_sample and affine_grid behavior has changed to align_corners=False since 1.3.0. "
                  "Please specify align_corners=True if the old behavior is desired. See the documentation of "
                  "grid_sample for details.")


def _align(align_corners: bool | None) -> bool:
    if align_corners is None:
        warnings.warn(_ALIGN_WARNING, UserWarning, stacklevel=3)
        return False
    return bool(align_corners)


def affine_grid(theta: Tensor, size: Sequence[int], align_corners: bool | None = None) -> Tensor:
    """Sampling grid of affine maps: ``grid[n, h, w] = theta[n] @ (x_w, y_h, 1)``.

    Args:
        theta: (N, 2, 3) for a 2-D size, (N, 3, 4) for a 3-D size; float.
        size: the output size (N, C, H, W) or (N, C, D, H, W).
        align_corners: the normalised base coordinates are linspace(-1, 1, n) when True, the
            pixel centres (2i + 1)/n - 1 when False (the default, with PyTorch's warning when
            not given).

    Returns:
        (N, H, W, 2) or (N, D, H, W, 3): the last axis holds (x, y) or (x, y, z), the order
        ``grid_sample`` reads.
    """
    name = "affine_grid"
    align = _align(align_corners)
    if not isinstance(theta, Tensor):
        raise TypeError(f"{name}: expected theta to be a Tensor, got {type(theta).__name__}")
    if not theta.is_floating_point():
        raise ValueError(f"{name}: expected theta to have floating point type, but got {theta.dtype}")
    size = tuple(int(s) for s in size)
    if len(size) not in (4, 5):
        raise NotImplementedError(f"{name}: only 2-D (N, C, H, W) and 3-D (N, C, D, H, W) sizes are "
                                  f"supported, got size {size}")
    d = len(size) - 2
    if theta.ndim != 3 or tuple(theta.shape[1:]) != (d, d + 1):
        raise ValueError(f"{name}: expected a batch of {d}-D affine matrices of shape Nx{d}x{d + 1} for size "
                         f"{size}, got theta of shape {tuple(theta.shape)}")
    if theta.shape[0] != size[0]:
        raise ValueError(f"{name}: theta's batch size {theta.shape[0]} does not match size {size}")
    if align and min(size[2:]) == 1:
        warnings.warn("Since version 1.3.0, affine_grid behavior has changed for unit-size grids when "
                      "align_corners=True. This is not an intended use case of affine_grid. See the "
                      "documentation of affine_grid for details.", UserWarning, stacklevel=2)
    if min(size) <= 0:
        raise ValueError(f"{name}: expected non-zero, positive output size, got {size}")
    spatial = size[2:]
    t = table_of((theta,), name)
    axes = []  # base coordinates per output axis, in (x, y, z) order: x runs along the last axis
    for n in reversed(spatial):
        i = t.arange(n, dtype=np.float64)
        if n == 1:
            u = i * 0.0
        elif align:
            u = i * (2.0 / (n - 1)) - 1.0
        else:
            u = (2.0 * i + 1.0) / n - 1.0
        axes.append(u)
    count = 1
    for n in spatial:
        count *= n
    cols = []
    for k, u in enumerate(axes):  # coordinate k varies along spatial axis d-1-k
        shape = [1] * d
        shape[d - 1 - k] = spatial[d - 1 - k]
        cols.append(t.reshape(t.broadcast_to(t.reshape(u, tuple(shape)), spatial), (count, 1)))
    cols.append(t.ones((count, 1), dtype=np.float64))
    base_arr = t.astype(t.concatenate(cols, axis=1), theta.dtype)  # (count, d + 1)
    base = constant_like(theta, lambda m: base_arr, name)
    grid = matmul(base, sh.transpose(theta, 1, 2))  # (N, count, d)
    return sh.reshape(grid, (size[0],) + spatial + (d,))


_MODES = ("bilinear", "nearest", "bicubic")
_PADDINGS = ("zeros", "border", "reflection")


def _unnormalize(u: Tensor, n: int, align: bool) -> Tensor:
    if align:
        return (u + 1.0) * ((n - 1) / 2.0)
    return ((u + 1.0) * n - 1.0) / 2.0


def _reflect(x: Tensor, twice_low: int, twice_high: int) -> Tensor:
    """x reflected into [low, high] (bounds given doubled, so that half-pixel edges are integers)."""
    if twice_low == twice_high:
        return x * 0.0
    low = twice_low / 2.0
    span = (twice_high - twice_low) / 2.0
    a = ew.abs(x - low)
    flips = floor(a / span).detach()
    extra = a - flips * span  # a mod span
    even = pw.eq(pw.remainder(flips, 2.0), 0.0)
    return ew.where(even, extra + low, (span - extra) + low)


def _pad_coordinate(x: Tensor, n: int, padding_mode: str, align: bool) -> Tensor:
    """The pixel coordinate the sampler reads for padding_mode 'border' / 'reflection' ('zeros': x itself)."""
    if padding_mode == "border":
        return clamp(x, 0.0, float(n - 1))
    if padding_mode == "reflection":
        x = _reflect(x, 0, 2 * (n - 1)) if align else _reflect(x, -1, 2 * n - 1)
        return clamp(x, 0.0, float(n - 1))
    return x


def _gather(input: Tensor, idx: list, spatial: tuple) -> tuple:
    """(values (N, *out, C) of input at the integer coordinates idx (one (N, *out) Tensor per
    spatial axis, in input's axis order), the mask of coordinates inside the input)."""
    inside = None
    clipped = []
    for i, n in zip(idx, spatial):
        ok = pw.logical_and(pw.ge(i, 0), pw.lt(i, n))
        inside = ok if inside is None else pw.logical_and(inside, ok)
        clipped.append(clamp(i, 0, n - 1))
    N = input.shape[0]
    batch = sh.reshape(constant_like(input, lambda m: m.arange(N), "grid_sample"), (N,) + (1,) * (idx[0].ndim - 1))
    vals = getitem(input, (batch, slice(None)) + tuple(clipped))
    return vals, inside


def _cubic(t: Tensor) -> list:
    """Keys' cubic convolution weights (a = -0.75) of the taps at -1, 0, 1, 2 from ⌊x⌋, t = x - ⌊x⌋."""
    a = -0.75

    def near(s: Tensor) -> Tensor:  # |s| <= 1
        return ((a + 2.0) * s - (a + 3.0)) * s * s + 1.0

    def far(s: Tensor) -> Tensor:  # 1 < |s| < 2
        return ((a * s - 5.0 * a) * s + 8.0 * a) * s - 4.0 * a

    return [far(t + 1.0), near(t), near(1.0 - t), far(2.0 - t)]


def grid_sample(input: Tensor, grid: Tensor, mode: str = "bilinear", padding_mode: str = "zeros",
                align_corners: bool | None = None) -> Tensor:
    """Sample ``input`` at the normalised coordinates of ``grid`` (see the module docstring).

    Args:
        input: (N, C, H_in, W_in) or (N, C, D_in, H_in, W_in).
        grid: (N, H_out, W_out, 2) or (N, D_out, H_out, W_out, 3); the last axis holds the
            normalised (x, y[, z]) = (width, height[, depth]) coordinates, -1 .. 1 inside.
        mode: 'bilinear' (trilinear for 5-D input), 'nearest' or 'bicubic' (4-D input only).
        padding_mode: 'zeros', 'border' or 'reflection'.
        align_corners: whether ±1 are the corner pixels' centres (True) or outer edges (False,
            the default, with PyTorch's warning when not given).

    Returns:
        (N, C, H_out, W_out) or (N, C, D_out, H_out, W_out).
    """
    name = "grid_sample"
    if mode not in _MODES:
        raise ValueError(f"{name}: nn.functional.grid_sample(): expected mode to be 'bilinear', 'nearest' or "
                         f"'bicubic', but got: '{mode}'")
    if padding_mode not in _PADDINGS:
        raise ValueError(f"{name}: nn.functional.grid_sample(): expected padding_mode to be 'zeros', 'border', "
                         f"or 'reflection', but got: '{padding_mode}'")
    align = _align(align_corners)
    if not isinstance(input, Tensor) or not isinstance(grid, Tensor):
        raise TypeError(f"{name}: expected input and grid to be Tensors, got {type(input).__name__} and "
                        f"{type(grid).__name__}")
    if input.ndim not in (4, 5):
        raise ValueError(f"{name}: expected 4-D (N, C, H, W) or 5-D (N, C, D, H, W) input, got "
                         f"{tuple(input.shape)}")
    d = input.ndim - 2
    if grid.ndim != input.ndim or grid.shape[-1] != d:
        raise ValueError(f"{name}: expected grid of shape (N, *out, {d}) with {input.ndim} dimensions for input "
                         f"{tuple(input.shape)}, got grid {tuple(grid.shape)}")
    if grid.shape[0] != input.shape[0]:
        raise ValueError(f"{name}: expected grid and input to have the same batch size, got input "
                         f"{tuple(input.shape)} and grid {tuple(grid.shape)}")
    if mode == "bicubic" and d != 2:
        raise ValueError(f"{name}: bicubic interpolation only supports 4-D input, got {tuple(input.shape)}")
    if any(n <= 0 for n in input.shape[2:]):
        raise ValueError(f"{name}: expected input to have non-empty spatial dimensions, got {tuple(input.shape)}")
    if input.dtype != grid.dtype:
        raise RuntimeError(f"{name}: expected input and grid to have the same dtype, got {input.dtype} and "
                           f"{grid.dtype}")
    spatial = tuple(input.shape[2:])
    # pixel coordinates in input's axis order (grid's last axis runs x, y, z = W, H, D)
    coords = [_unnormalize(select(grid, -1, d - 1 - k), n, align) for k, n in enumerate(spatial)]
    if mode == "bicubic":
        out = _bicubic(input, coords, spatial, padding_mode, align)
    else:
        coords = [_pad_coordinate(x, n, padding_mode, align) for x, n in zip(coords, spatial)]
        if mode == "nearest":
            idx = [pw.round(x).detach().long() for x in coords]
            vals, inside = _gather(input, idx, spatial)
            out = ew.where(sh.unsqueeze(inside, -1), vals, 0.0)
            if grid.requires_grad and is_grad_enabled():  # the grid's gradient is 0 (PyTorch's: zeros,
                # not None), through a factor that is 1
                out = out * (rd.sum(sh.stack([x * 0.0 for x in coords], -1), -1, keepdim=True) + 1.0)
        else:
            lows = [floor(x).detach() for x in coords]
            fracs = [x - lo for x, lo in zip(coords, lows)]
            out = None
            for corner in itertools.product((0, 1), repeat=d):
                idx = [(lo + c).long() for lo, c in zip(lows, corner)]
                w = None
                for f, c in zip(fracs, corner):
                    wk = f if c else 1.0 - f
                    w = wk if w is None else w * wk
                vals, inside = _gather(input, idx, spatial)
                term = vals * sh.unsqueeze(ew.where(inside, w, 0.0), -1)
                out = term if out is None else out + term
    assert out is not None
    return sh.permute(out, 0, d + 1, *range(1, d + 1))  # (N, *out, C) -> (N, C, *out)


def _bicubic(input: Tensor, coords: list, spatial: tuple, padding_mode: str, align: bool) -> Tensor:
    """Σ over 4 × 4 taps of the cubic weights times the (padded) input at the taps, (N, *out, C)."""
    lows = [floor(x).detach() for x in coords]
    weights = [_cubic(x - lo) for x, lo in zip(coords, lows)]
    out: Any = None
    for a in range(4):
        for b in range(4):
            taps = [lows[0] + (a - 1), lows[1] + (b - 1)]
            if padding_mode != "zeros":
                taps = [_pad_coordinate(t, n, padding_mode, align) for t, n in zip(taps, spatial)]
            idx = [t.detach().long() for t in taps]
            vals, inside = _gather(input, idx, spatial)
            w = weights[0][a] * weights[1][b]
            term = vals * sh.unsqueeze(ew.where(inside, w, 0.0), -1)
            out = term if out is None else out + term
    return out
