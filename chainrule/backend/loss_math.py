"""The losses' table entries (``chainrule/nn/functional/loss.py``), part of ``ArrayMath``.

``shifted_exp`` is the fused cross-entropy's row kernel: a compiled C kernel where one is
available, else its NumPy twin (``backend/softmax_rows.py``, which picks).
"""

from __future__ import annotations

from chainrule.backend.softmax_rows import shifted_exp


class LossMath:
    """Table entries of the fused losses."""

    # z = x - max_row(x) (where finite), e = e^z, returns s = Σ_row e  (x, z, e: (M, C); s: (M,))
    shifted_exp = staticmethod(shifted_exp)
