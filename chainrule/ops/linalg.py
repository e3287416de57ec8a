"""Matrix products: matmul (1-D, 2-D, batched, broadcast batch dims), and friends."""

from __future__ import annotations

from typing import Any

from chainrule.autograd.primitive import Primitive, apply2
from chainrule.autograd.tensor import Tensor
from chainrule.ops._lift import as_tensor_arg


def product(m: Any, a: Any, b: Any) -> Any:
    """a @ b through table ``m``'s matmul.  Where the summed axis has length 1 (a (n, 1),
    b (1, p): a Linear layer with one input or one output, a batch of one) the product is an
    outer product, computed as the broadcast ``a * b``: the same single multiplication per element as BLAS makes (a zero
    product may differ in its sign), 1.5-4x cheaper (w1's (64, 1) @ (1, 32): 4.2 -> 1.0 µs;
    512 x 512: 297 -> 71 µs)."""
    if a.ndim == 2 and b.ndim == 2 and a.shape[1] == 1 and b.shape[0] == 1:
        return a * b
    return m.matmul(a, b)


class MatMul(Primitive):
    """y = a @ b (NumPy/PyTorch matmul semantics).

    With A (..., n, k) and B (..., k, p):  dL/dA = G Bᵀ,  dL/dB = Aᵀ G.
    A 1-D operand is treated as a row (left) or a column (right) vector, and
    the added axis is removed again from its gradient.  Broadcast batch axes
    are summed away by the engine's ``sum_to``.
    """

    name = "matmul"
    saves_output = False

    def saved_inputs(self, need):  # dL/da reads b and dL/db reads a
        return (1,) if not need[1] else ((0,) if not need[0] else (0, 1))
    fresh_grads = True  # G Bᵀ and Aᵀ G are new arrays (the engine keeps a leaf's without copying)

    def forward(self, m, a, b):  # y = a @ b
        if b.ndim == 2 and a.ndim > 2:  # a stack of rows times one matrix: one product over the rows
            return m.matmul_rows(a, b)
        return product(m, a, b)

    def vjp(self, m, need, g, y, a, b):
        if a.ndim == 1 and b.ndim == 1:  # dot product: y is a scalar
            return (g * b if need[0] else None), (g * a if need[1] else None)
        if a.ndim == 1:  # (k,) @ (..., k, p) -> (..., p)
            g2 = m.expand_dims(g, -2)  # (..., 1, p)
            ga = m.sum_to(g2 @ m.swapaxes(b, -1, -2), a.shape) if need[0] else None
            gb = m.reshape(a, (a.shape[0], 1)) @ g2 if need[1] else None
            return ga, gb
        if b.ndim == 1:  # (..., n, k) @ (k,) -> (..., n)
            g2 = m.expand_dims(g, -1)  # (..., n, 1)
            ga = g2 @ m.reshape(b, (1, b.shape[0])) if need[0] else None
            gb = m.sum_to(m.squeeze(m.swapaxes(a, -1, -2) @ g2, -1), b.shape) if need[1] else None
            return ga, gb
        flags = getattr(b, "flags", None)  # raw arrays only (not under create_graph)
        # b a transposed view (x @ W.T, as in Linear): (Gᵀ A)ᵀ has b's layout, so W's gradient
        # comes out C-contiguous like W (same BLAS cost; a strided gradient makes every
        # optimiser pass over it several times slower)
        transposed = flags is not None and b.ndim == 2 and flags.f_contiguous and not flags.c_contiguous
        if b.ndim == 2 and a.ndim > 2 and not m.is_tensor:  # as forward: products over all the rows
            ga = m.matmul_rows(g, m.swapaxes(b, 0, 1)) if need[0] else None
            return ga, (m.matmul_rows_grad(a, g, transposed) if need[1] else None)
        ga = product(m, g, m.swapaxes(b, -1, -2)) if need[0] else None
        gb = None
        if need[1]:
            if transposed:
                gb = m.swapaxes(product(m, m.swapaxes(g, -1, -2), a), -1, -2)
            else:
                gb = product(m, m.swapaxes(a, -1, -2), g)
        return ga, gb

    def jvp(self, m, dxs, y, a, b):
        return dxs[0] @ b + a @ dxs[1]


MATMUL = MatMul()


def matmul(input: Any, other: Any) -> Tensor:
    """Matrix product with broadcasting of batch dimensions (``input @ other``)."""
    a = as_tensor_arg(input, "matmul")
    b = as_tensor_arg(other, "matmul")
    if a.ndim == 0 or b.ndim == 0:
        raise RuntimeError(f"matmul: both arguments need at least 1 dimension, got shapes {tuple(a.shape)} and"
                           f" {tuple(b.shape)}")
    ka = a.shape[-1]
    kb = b.shape[0] if b.ndim == 1 else b.shape[-2]
    if ka != kb:
        raise RuntimeError(f"matmul: shapes {tuple(a.shape)} and"
                           f" {tuple(b.shape)} cannot be multiplied (inner dimensions {ka} and "
                           f"{kb} differ)")
    if a._array.dtype != b._array.dtype and a._array.dtype.kind == b._array.dtype.kind == "f":
        raise RuntimeError(f"matmul: expected both operands to have the same dtype, got {a.dtype} and {b.dtype}")
    return apply2(MATMUL, a, b)


def mm(input: Tensor, mat2: Tensor) -> Tensor:
    """2-D matrix product."""
    if input.ndim != 2 or mat2.ndim != 2:
        raise RuntimeError(f"mm: expected 2-D tensors, got shapes {tuple(input.shape)} and {tuple(mat2.shape)}")
    return matmul(input, mat2)


def bmm(input: Tensor, mat2: Tensor) -> Tensor:
    """Batched (B, n, k) @ (B, k, p)."""
    if input.ndim != 3 or mat2.ndim != 3 or input.shape[0] != mat2.shape[0]:
        raise RuntimeError(f"bmm: expected (B, n, k) and (B, k, p), got {tuple(input.shape)} and {tuple(mat2.shape)}")
    return matmul(input, mat2)


def dot(input: Tensor, other: Tensor) -> Tensor:
    """Inner product of two 1-D tensors."""
    if input.ndim != 1 or other.ndim != 1:
        raise RuntimeError(f"dot: expected 1-D tensors, got shapes {tuple(input.shape)} and {tuple(other.shape)}")
    return matmul(input, other)


def outer(input: Tensor, vec2: Tensor) -> Tensor:
    """Outer product a bᵀ of two 1-D tensors."""
    return matmul(input.reshape(-1, 1), vec2.reshape(1, -1))
