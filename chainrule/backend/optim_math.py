"""Table entries of the optimisers' updates: Adam's moments in one pass, with the compiled
kernel ``kernels/adam.c`` where it is available (contiguous float32/float64 arrays of 4096
elements or more) and else its NumPy twin, which gives the same bits (the kernel does the
twin's operations in its order).  330k float32 elements: 348 µs (twin) -> 105 µs (kernel)."""

from __future__ import annotations

import ctypes
from typing import Any

import numpy as np

from chainrule.backend import native

_PTR = ctypes.c_void_p


def adam_moments_twin(g: Any, ma: Any, s: Any, s_max: Any, t: Any, b1: Any, one_b1: Any, b2: Any, one_b2: Any,
                      step_size: Any, eps_c: Any) -> None:
    """M ← β1 M + (1 − β1) g;  S ← β2 S + (1 − β2) g² (AMSGrad: max S so far);  t ← M / (√S + ε c) · α c'."""
    np.multiply(ma, b1, ma)
    np.multiply(g, one_b1, t)
    np.add(ma, t, ma)
    np.multiply(s, b2, s)
    np.multiply(g, g, t)
    np.multiply(t, one_b2, t)
    np.add(s, t, s)
    if s_max is not None:  # AMSGrad: the largest S so far
        np.maximum(s_max, s, out=s_max)
        s = s_max
    np.sqrt(s, t)
    np.add(t, eps_c, t)
    np.divide(ma, t, t)
    np.multiply(t, step_size, t)


class OptimMath:
    @staticmethod
    def adam_moments(g: Any, ma: Any, s: Any, s_max: Any, t: Any, b1: Any, one_b1: Any, b2: Any, one_b2: Any,
                     step_size: Any, eps_c: Any) -> None:
        """Adam's moments M (``ma``), S (``s``, and ``s_max`` for AMSGrad, else None) updated in
        place from the gradient ``g``; the step α M̂ / (√Ŝ + ε) left in ``t`` (see the module
        docstring; the scalars are 0-d arrays of the arrays' dtype)."""
        dt = g.dtype
        arrays = (g, ma, s, t) if s_max is None else (g, ma, s, s_max, t)
        # below a few thousand elements NumPy's ten calls cost what the kernel's one call does
        if g.size >= 4096 and all(a.dtype == dt and a.flags.c_contiguous and a.shape == g.shape for a in arrays):
            scalar = ctypes.c_float if dt == np.float32 else ctypes.c_double
            fn = native.typed_function("adam", "adam_moments", dt, [ctypes.c_ssize_t] + [_PTR] * 5 + [scalar] * 6)
            if fn is not None:
                at = native.address
                fn(g.size, at(g), at(ma), at(s), None if s_max is None else at(s_max), at(t),
                   float(b1), float(one_b1), float(b2), float(one_b2), float(step_size), float(eps_c))
                return
        adam_moments_twin(g, ma, s, s_max, t, b1, one_b1, b2, one_b2, step_size, eps_c)
