"""Householder QR on NumPy arrays: the table's ``geqrf`` (for ``chainrule/ops/householder.py``)."""

from __future__ import annotations

import numpy as np


class HouseholderMath:
    """Householder entries of the back-end table (static methods, one of ``ArrayMath``'s bases)."""

    @staticmethod
    def geqrf(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(QR, tau) of A (*, m, n), k = min(m, n), in LAPACK's ``geqrf`` representation: R in the
        upper triangle, and below the diagonal of column i the Householder vector v_i (v_i[i] = 1
        implied, v_i[:i] = 0) with A = H_0 H_1 ⋯ H_{k-1} R, H_i = I - tau_i v_i v_iᵀ.
        ``numpy.linalg.qr(mode='raw')`` calls LAPACK's ``geqrf`` and returns its (Fortran-order)
        output transposed, so it is transposed back here."""
        m, n = a.shape[-2], a.shape[-1]
        if a.size == 0:
            return np.array(a, copy=True), np.zeros(a.shape[:-2] + (min(m, n),), dtype=a.dtype)
        h, tau = np.linalg.qr(a, mode="raw")
        qr = np.ascontiguousarray(np.swapaxes(h, -1, -2))
        return qr.astype(a.dtype, copy=False), tau.astype(a.dtype, copy=False)
