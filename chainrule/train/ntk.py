"""The empirical Neural Tangent Kernel (notes 004: how the outputs move under a small weight change).

For a network f(x; W) with K outputs and P parameters, J(x) = df(x)/dW is (K, P).  A gradient
step dW = -alpha dL/dW changes the outputs on a batch by dZ ~ J dW, and the kernel that
governs this is

    Theta(x, x') = J(x) J(x')^T                                      (K, K) for each pair,

computed here for all pairs of two batches: ``empirical_ntk(model, x1, x2)`` returns an
array of shape (N1, N2, K, K) (mode='full') or (N1, N2) with the trace over the outputs
(mode='trace'; for a single output the two agree).  Each row of J is one reverse-mode
pass (``autograd.grad`` with a one-hot output gradient), so this is for small batches.

Check by hand: a linear model f(x) = w . x + b has J(x) = [x, 1], so Theta(x, x') = x . x' + 1.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.autograd.engine import grad
from chainrule.autograd.tensor import Tensor


def jacobian_wrt_parameters(model: Any, x: Any, params: list | None = None) -> np.ndarray:
    """J of shape (N, K, P): d f(x_n)_k / d theta_p, parameters flattened and concatenated in order.

    The model runs in eval mode (no dropout noise, batch norm with running statistics),
    so the rows of different examples do not interact.
    """
    params = [p for p in model.parameters() if p.requires_grad] if params is None else list(params)
    if not params:
        raise ValueError("jacobian_wrt_parameters: the model has no parameters that require grad")
    x = x if isinstance(x, Tensor) else Tensor._wrap(np.asarray(x, dtype=np.float32))
    was_training = getattr(model, "training", False)
    model.eval()
    try:
        out = model(x)
    finally:
        model.train(was_training)
    n = out.shape[0]
    k = int(np.prod(out.shape[1:])) if out.ndim > 1 else 1
    sizes = [p.numel() for p in params]
    J = np.zeros((n, k, sum(sizes)), dtype=np.float64)
    flat_out_shape = (n, k)
    for i in range(n):
        for j in range(k):
            seed = np.zeros(flat_out_shape, dtype=out.dtype)
            seed[i, j] = 1.0
            gs = grad(out, params, grad_outputs=Tensor._wrap(seed.reshape(out.shape)), retain_graph=True,
                      allow_unused=True)
            J[i, j] = np.concatenate(
                [np.zeros(s) if g is None else np.asarray(g._array, np.float64).reshape(-1) for g, s in zip(gs, sizes)]
            )
    return J


def empirical_ntk(model: Any, x1: Any, x2: Any = None, mode: str = "full") -> np.ndarray:
    """Theta[n, m, k, l] = sum_p J(x1_n)[k, p] J(x2_m)[l, p]; mode='trace' sums k = l -> (N1, N2)."""
    if mode not in ("full", "trace"):
        raise ValueError(f"empirical_ntk: mode must be 'full' or 'trace', got {mode!r}")
    J1 = jacobian_wrt_parameters(model, x1)
    J2 = J1 if x2 is None else jacobian_wrt_parameters(model, x2)
    if mode == "trace":
        return np.einsum("nkp,mkp->nm", J1, J2)
    return np.einsum("nkp,mlp->nmkl", J1, J2)
