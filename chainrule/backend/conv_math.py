"""The convolution and pooling entries of the back-end table (a base of ``ArrayMath``): the
products of a convolution over column chunks, and pooled scratch arrays for ``ops/window.py``.
Shapes follow ``nn/functional/conv.py``: G groups, M output channels per group, K = C_in/G
times the kernel size, P = L·N columns (output positions times batch, batch last).
"""

from __future__ import annotations

import numpy as np

from chainrule.backend.pool import POOL


class ConvMath:
    """Convolution/pooling table entries on NumPy arrays."""

    # a zero-filled array from the buffer pool (the padded input of im2col, col2im's sums)
    pooled_zeros = staticmethod(POOL.zeros)

    @staticmethod
    def pooled_contiguous(a: np.ndarray) -> np.ndarray:
        """``a`` itself when C-contiguous, else its values copied into a pooled C-ordered array."""
        if a.flags.c_contiguous:
            return a
        out = POOL.empty(a.shape, a.dtype)
        out[...] = a
        return out

    @staticmethod
    def mm_cols(a: np.ndarray, b: np.ndarray, ch: int) -> np.ndarray:
        """a (G, M, K) @ b (G, K, P) -> (G, M, P) into a pooled array, ``ch`` columns of b per
        product (all chunks in one batched call; ch >= P: one product)."""
        g, m, k = a.shape
        p = b.shape[2]
        out = POOL.empty((g, m, p), np.result_type(a.dtype, b.dtype))
        nb = p // ch
        main = nb * ch
        if nb > 1:
            bv = b[:, :, :main].reshape(g, k, nb, ch).transpose(0, 2, 1, 3)  # (G, nb, K, ch) views
            ov = out[:, :, :main].reshape(g, m, nb, ch).transpose(0, 2, 1, 3)
            np.matmul(a[:, None], bv, out=ov)
        else:
            main = 0
        if main < p:
            np.matmul(a, b[:, :, main:], out=out[:, :, main:])
        return out

    @staticmethod
    def mm_reduce(a: np.ndarray, b: np.ndarray, ch: int) -> np.ndarray:
        """a (G, M, P) @ b (G, K, P)ᵀ -> (G, M, K): the sum over chunks of ``ch`` columns of the
        chunk products."""
        g, m, p = a.shape
        k = b.shape[1]
        nb = p // ch
        if nb <= 1:
            return np.matmul(a, b.transpose(0, 2, 1))
        main = nb * ch
        av = a[:, :, :main].reshape(g, m, nb, ch).transpose(0, 2, 1, 3)  # (G, nb, M, ch)
        bv = b[:, :, :main].reshape(g, k, nb, ch).transpose(0, 2, 3, 1)  # (G, nb, ch, K)
        out = np.matmul(av, bv).sum(axis=1)
        if main < p:
            out += np.matmul(a[:, :, main:], b[:, :, main:].transpose(0, 2, 1))
        return out
