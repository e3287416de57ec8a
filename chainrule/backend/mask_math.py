"""Table entries of the piecewise activations and dropout, forward and backward: the compiled
kernels of ``kernels/masks.c`` where they apply, else their NumPy twins.

    relu(x)                      y = max(x, 0)                        (relu(NaN) = NaN)
    relu_backward(g, y)          dx = g · [y > 0]
    leaky_relu(x, s)             y = x where x > 0, else s x
    leaky_relu_backward(g, x, s) dx = g where x > 0, else s g
    elu(x, a)                    y = x where x > 0, else a (e^min(x, 0) - 1)
    elu_backward(g, x, y, a)     dx = g where x > 0, else g (y + a)   (a e^x = y + a)
    dropout(x, u, p)             y = x · [u >= p] / (1 - p)

Each backward is also its forward-mode rule (dy = dx · dy/dx, with dx in place of g), and
``dropout`` is linear in x: its backward is ``dropout(g, u, p)``.

NumPy makes two or three passes with temporaries for each (``g * (y > 0)``: a bool array, then a
mixed-type multiply; ``where(x > 0, x, s x)`` branches on each element, about 4 ns each when the
signs are mixed); a kernel reads each element once.  The kernel runs for float32/float64
arrays of one shape and dtype whose elements fill one block of memory in the same order (C order,
or the batch-last layout convolutions leave); anything else takes the twin.  A kernel does its
twin's operations in its order, so it gives the twin's bits, except ``elu``'s e^x - 1 (glibc's
vector expm1 against NumPy's: the last bit may differ).  From a size per kernel (``_SIZES``)
the work is cut into ``threads.intra_threads()`` ranges run at once (elementwise, and the ranges
start at multiples of ``threads.LANES`` elements: the bits do not change with the thread count).
"""

from __future__ import annotations

import ctypes
from typing import Any

import numpy as np

from chainrule.backend import native, threads
from chainrule.backend.pool import memory_order

_PTR = ctypes.c_void_p
_SCALAR = {"f": ctypes.c_float, "d": ctypes.c_double}
# symbol -> (from how many elements the kernel runs, from how many it is cut over threads).
# Kernel: below 16k elements the twins of one or two ufunc passes (relu, relu_backward, dropout)
# cost less than the kernel's call (about 3 µs with the checks); the twins through np.where
# branch on each element and lose from 2k.  Threads (measured on the 2-core machine, median
# µs, 1 -> 2 threads): the memory-bound kernels gain from 1M elements (relu 2M: 278 -> 186,
# below 1M the threads' start costs more than the halved pass saves), elu's expm1 from 256k
# (512k: 417 -> 279).
_SIZES: dict[str, tuple[int, int]] = {
    "relu": (1 << 14, 1 << 20),
    "relu_backward": (1 << 14, 1 << 20),
    "dropout": (1 << 14, 1 << 20),
    "leaky_relu": (1 << 11, 1 << 20),
    "leaky_relu_backward": (1 << 11, 1 << 20),
    "elu": (1 << 11, 1 << 18),
    "elu_backward": (1 << 11, 1 << 20),
}



def _same_block(arrays: tuple) -> bool:
    """Whether the kernel can run over the arrays' memory as one flat run: NumPy arrays of one
    shape and one float dtype, each filling one block of memory, with the same strides (so
    element k of the block is the same index in each)."""
    first = arrays[0]
    dt, shape, strides = first.dtype, first.shape, first.strides
    if dt.char not in _SCALAR:
        return False
    if not first.flags.c_contiguous and not first.transpose(memory_order(first)).flags.c_contiguous:
        return False  # not a dense permutation of the axes (batch-last feature maps are one)
    for a in arrays[1:]:
        if type(a) is not np.ndarray or a.dtype != dt or a.shape != shape:
            return False
        if a.strides != strides and any(s != t for s, t, n in zip(a.strides, strides, shape) if n > 1):
            return False
    return True


def _compiled(symbol: str, arrays: tuple, *scalars: float) -> np.ndarray | None:
    """Kernel ``symbol`` of masks.c on ``arrays`` (its inputs) with ``scalars`` (in the arrays'
    precision), into a new array laid out like ``arrays[0]``; None when it does not apply (fewer
    elements than ``_SIZES`` says, among others)."""
    at_least, threaded_from = _SIZES[symbol]
    if type(arrays[0]) is not np.ndarray or arrays[0].size < at_least or not _same_block(arrays):
        return None
    x = arrays[0]
    dt = x.dtype
    ctype = _SCALAR[dt.char]
    fn = native.typed_function(
        "masks", symbol, dt, [ctypes.c_ssize_t] + [_PTR] * (len(arrays) + 1) + [ctype] * len(scalars)
    )
    if fn is None:
        return None
    out = np.empty_like(x)  # (order K: x's layout, so its strides match x's)
    if not x.flags.c_contiguous and not _same_block((x, out)):
        return None
    # the block starts at the element of the lowest address: index (0, ..., 0), strides being > 0
    ptrs = [native.address(a) if a.flags.c_contiguous else a.ctypes.data for a in (*arrays, out)]
    threads.run_elementwise(fn, x.size, ptrs, dt.itemsize, threads.threads_for(x.size, threaded_from), *scalars)
    return out


# ---------------------------------------------------------------- the NumPy twins
def relu_twin(x: np.ndarray) -> np.ndarray:
    """max(x, 0) with NumPy (the kernel's twin; NaN wins, -0 gives 0)."""
    return np.maximum(x, 0)


def relu_backward_twin(g: np.ndarray, y: np.ndarray) -> np.ndarray:
    """g · [y > 0] with NumPy (the kernel's twin)."""
    return g * (y > 0)


def leaky_relu_twin(x: np.ndarray, negative_slope: float) -> np.ndarray:
    """x where x > 0, else s x, with NumPy (the kernel's twin)."""
    return np.where(x > 0, x, x * negative_slope)


def leaky_relu_backward_twin(g: np.ndarray, x: np.ndarray, negative_slope: float) -> np.ndarray:
    """g where x > 0, else s g, with NumPy (the kernel's twin)."""
    return np.where(x > 0, g, g * negative_slope)


def elu_twin(x: np.ndarray, alpha: float) -> np.ndarray:
    """x where x > 0, else α (e^min(x, 0) - 1), with NumPy (the kernel's twin)."""
    return np.where(x > 0, x, np.expm1(np.minimum(x, 0)) * alpha)


def elu_backward_twin(g: np.ndarray, x: np.ndarray, y: np.ndarray, alpha: float) -> np.ndarray:
    """g where x > 0, else g (y + α), with NumPy (the kernel's twin)."""
    return np.where(x > 0, g, g * (y + alpha))


def dropout_twin(x: np.ndarray, u: np.ndarray, p: float) -> np.ndarray:
    """x · ([u >= p] · c), c = 1 / (1 - p) in x's dtype, with NumPy (the kernel's twin: the mask
    holds c or 0, and a NaN or inf in x stays NaN where it is dropped)."""
    return x * ((u >= p) * x.dtype.type(1.0 / (1.0 - p)))


class MaskMath:
    """The entries listed in the module docstring (shapes: every array like ``x``; a twin takes
    what NumPy broadcasts)."""

    @staticmethod
    def relu(x: Any) -> Any:
        """y = max(x, 0) (any dtype; NaN stays NaN)."""
        y = _compiled("relu", (x,))
        return relu_twin(x) if y is None else y

    @staticmethod
    def relu_backward(g: Any, y: Any) -> Any:
        """dx = g · [y > 0] (y: ReLU's output; a product, so a NaN or inf in g stays NaN)."""
        dx = _compiled("relu_backward", (y, g))
        return relu_backward_twin(g, y) if dx is None else dx

    @staticmethod
    def leaky_relu(x: Any, negative_slope: float) -> Any:
        """y = x where x > 0, else negative_slope · x."""
        y = _compiled("leaky_relu", (x,), negative_slope)
        return leaky_relu_twin(x, negative_slope) if y is None else y

    @staticmethod
    def leaky_relu_backward(g: Any, x: Any, negative_slope: float) -> Any:
        """dx = g where x > 0, else negative_slope · g."""
        dx = _compiled("leaky_relu_backward", (x, g), negative_slope)
        return leaky_relu_backward_twin(g, x, negative_slope) if dx is None else dx

    @staticmethod
    def elu(x: Any, alpha: float) -> Any:
        """y = x where x > 0, else α (e^x - 1), e^x taken of min(x, 0) only (no overflow)."""
        y = _compiled("elu", (x,), alpha)
        return elu_twin(x, alpha) if y is None else y

    @staticmethod
    def elu_backward(g: Any, x: Any, y: Any, alpha: float) -> Any:
        """dx = g where x > 0, else g (y + α) (y: ELU's output; y + α = α e^x there)."""
        dx = _compiled("elu_backward", (x, y, g), alpha)
        return elu_backward_twin(g, x, y, alpha) if dx is None else dx

    @staticmethod
    def dropout(x: Any, u: Any, p: float) -> Any:
        """y = x · [u >= p] / (1 - p), u the uniform draws (x's shape; u's dtype x's when x is
        float32/float64), 0 <= p < 1.  Linear in x: the backward is ``dropout(g, u, p)``."""
        y = None
        if x.dtype == u.dtype and x.size >= _SIZES["dropout"][0]:
            y = _compiled("dropout", (x, u), p, float(x.dtype.type(1.0 / (1.0 - p))))  # (the twin's factor)
        return dropout_twin(x, u, p) if y is None else y
