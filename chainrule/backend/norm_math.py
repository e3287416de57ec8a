"""The normalisation layers' table entries (a base of ``ArrayMath``).  Training-mode batch norm
is one fused kernel each way, m values per channel (over ``axes``), s = 1/sqrt(σ² + ε), ẑ = (x - μ) s:

    forward:   y = γ ẑ + β
    backward:  dL/dβ = Σ g,  dL/dγ = Σ g ẑ,  dL/dx = γ s (g - (dL/dβ)/m - ẑ (dL/dγ)/m)

Large temporaries come from the buffer pool in x's memory layout (a batch-last map stays batch-last).
"""

from __future__ import annotations

import math

import numpy as np

from chainrule.backend.pool import POOL


def _like(x: np.ndarray) -> np.ndarray:
    """An uninitialised pooled array with x's shape, dtype and memory order of axes."""
    order = sorted(range(x.ndim), key=lambda i: -x.strides[i])  # outermost axis first
    buf = POOL.empty(tuple(x.shape[a] for a in order), x.dtype)
    return buf.transpose(sorted(range(x.ndim), key=order.__getitem__))  # the inverse permutation


def _channel(p: np.ndarray, ndim: int) -> np.ndarray:
    return p.reshape((-1,) + (1,) * (ndim - 2))


class NormMath:
    """Table entries of the normalisation layers."""

    @staticmethod
    def batch_norm_train(x: np.ndarray, w: np.ndarray, b: np.ndarray, axes: tuple, eps: float) -> tuple:
        """(y, μ, σ², s, ẑ) of training-mode batch norm (μ, σ², s keep the reduced axes as 1)."""
        mean = x.mean(axis=axes, keepdims=True)
        xc = np.subtract(x, mean, out=_like(x))
        tmp = np.square(xc, out=_like(x))
        var = tmp.mean(axis=axes, keepdims=True)
        inv = 1.0 / np.sqrt(var + np.asarray(eps, dtype=x.dtype))
        xc *= inv
        y = np.multiply(xc, _channel(w, x.ndim), out=tmp)
        y += _channel(b, x.ndim)
        return y, mean, var, inv, xc

    @staticmethod
    def batch_norm_train_vjp(g: np.ndarray, xhat: np.ndarray, inv: np.ndarray, w: np.ndarray, axes: tuple,
                             need_x: bool) -> tuple:
        """(dL/dx or None, dL/dγ, dL/dβ) of training-mode batch norm, the parameter gradients
        with the reduced axes kept as 1."""
        count = math.prod(g.shape) // g.shape[1]
        gb = g.sum(axis=axes, keepdims=True)
        gw = np.multiply(g, xhat, out=_like(xhat)).sum(axis=axes, keepdims=True)
        if not need_x:
            return None, gw, gb
        k = w.reshape(gb.shape) * inv
        gx = np.multiply(g, k, out=_like(xhat))
        gx -= k * gb / count
        gx -= np.multiply(xhat, k * gw / count, out=_like(xhat))
        return gx, gw, gb

    @staticmethod
    def batch_sums(x: np.ndarray, axes: tuple) -> np.ndarray:
        """(Σx per channel, Σx² per channel, the count m per channel) in one float64 array
        (2C + 1,): float64, because Σx²/m - μ² loses digits when |μ| ≫ σ."""
        c = x.shape[1]
        stats = np.empty(2 * c + 1, dtype=np.float64)
        np.sum(x, axis=axes, dtype=np.float64, out=stats[:c])
        np.sum(np.square(x, dtype=np.float64), axis=axes, out=stats[c : 2 * c])
        stats[2 * c] = x.size // c
        return stats
