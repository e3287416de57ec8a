"""Gradient checking: analytic derivatives against central finite differences, in float64.

    numeric ∂f_i/∂x_j ≈ (f_i(x + ε e_j) - f_i(x - ε e_j)) / (2ε)

``gradcheck`` builds the whole Jacobian both ways (reverse mode row by row,
finite differences column by column) and compares every entry with
|analytic - numeric| <= atol + rtol·|numeric|.  ``gradgradcheck`` does the same
for the gradient itself (second order), through ``create_graph=True``.
"""

from __future__ import annotations

import itertools
from typing import Any, Callable, Sequence

import numpy as np

from chainrule.autograd.engine import grad as autograd_grad
from chainrule.autograd.primitive import table_of
from chainrule.autograd.tensor import Tensor
from chainrule.backend.random import seeded_generator


class GradcheckError(RuntimeError):
    """Raised by gradcheck when an analytic and a numeric derivative disagree."""


def _as_tuple(x: Any) -> tuple:
    return tuple(x) if isinstance(x, (tuple, list)) else (x,)


def _to_float64_leaves(inputs: Sequence[Any]) -> list:
    """Floating Tensors as new float64 leaves (copies, same requires_grad); anything else as it is."""
    return [
        Tensor._wrap(x._array.astype(np.float64)).requires_grad_(x.requires_grad)
        if isinstance(x, Tensor) and x._array.dtype.kind == "f"
        else x
        for x in inputs
    ]


def _table(tensors: Sequence[Any]) -> Any:
    """The back-end table of the tensors among ``tensors``: the Jacobians are built on their device."""
    return table_of([x for x in tensors if isinstance(x, Tensor)], "gradcheck")


def _zeros_like(x: Tensor) -> Tensor:
    return Tensor._wrap(_table((x,)).zeros(x.shape, np.float64))


def _outputs(fn: Callable, inputs: Sequence[Any]) -> list:
    outs = [o for o in _as_tuple(fn(*inputs)) if isinstance(o, Tensor)]
    if not outs:
        raise GradcheckError("gradcheck: the function returned no Tensor")
    return outs


def numerical_jacobian(fn: Callable, inputs: Sequence[Any], eps: float = 1e-6) -> list:
    """``J[k][i]`` (for input i, output k) of shape (output size, input size), by central differences."""
    diff = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    # Grad mode stays on: the function may itself differentiate (gradgradcheck).
    sizes = [o._array.size for o in _outputs(fn, inputs)]
    m = _table(inputs)
    jac = [[m.zeros((n, inputs[i]._array.size), np.float64) for i in diff] for n in sizes]
    for col, i in enumerate(diff):
        a = inputs[i]._array  # perturbed in place (any strides: a transposed input stays one), then restored
        # column j: element j in C order, as the rows of the reverse pass
        for j, at in enumerate(itertools.product(*(range(n) for n in a.shape))):
            orig = a[at]
            a[at] = orig + eps
            plus = [o._array.astype(np.float64).reshape(-1).copy() for o in _outputs(fn, inputs)]
            a[at] = orig - eps
            minus = [o._array.astype(np.float64).reshape(-1).copy() for o in _outputs(fn, inputs)]
            a[at] = orig
            for k in range(len(sizes)):
                jac[k][col][:, j] = (plus[k] - minus[k]) / (2 * eps)
    return jac


def analytical_jacobian(fn: Callable, inputs: Sequence[Any]) -> list:
    """The same Jacobian by reverse mode, one output element (one row) at a time."""
    diff = [x for x in inputs if isinstance(x, Tensor) and x.requires_grad]
    outs = _outputs(fn, inputs)
    m = _table(inputs)
    jac = [[m.zeros((o._array.size, x._array.size), np.float64) for x in diff] for o in outs]
    for k, o in enumerate(outs):
        if not o.requires_grad:
            continue  # output independent of the inputs: its rows stay zero
        for r in range(o._array.size):
            seed = m.zeros(o._array.size, o._array.dtype)
            seed[r] = 1.0
            seed_t = Tensor._wrap(seed.reshape(o.shape))
            grads = autograd_grad(o, diff, seed_t, retain_graph=True, allow_unused=True)
            for c, g in enumerate(grads):
                if g is not None:
                    jac[k][c][r, :] = g._array.reshape(-1)
    return jac


def gradcheck(
    fn: Callable,
    inputs: Any,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    raise_exception: bool = True,
    check_forward_ad: bool = False,
) -> bool:
    """Check fn's reverse-mode (and optionally forward-mode) derivatives by finite differences.

    ``inputs`` is a Tensor or a tuple; floating inputs are copied to float64
    first, and only those with ``requires_grad=True`` are checked.  Returns
    True, or raises :class:`GradcheckError` naming the worst entry (input,
    output, element, analytic and numeric values); with
    ``raise_exception=False`` returns False instead.
    """
    xs = _to_float64_leaves(_as_tuple(inputs))
    diff_idx = [i for i, x in enumerate(xs) if isinstance(x, Tensor) and x.requires_grad]
    if not diff_idx:
        raise ValueError("gradcheck: at least one input tensor must have requires_grad=True")
    numeric = numerical_jacobian(fn, xs, eps)
    checks = [("reverse mode", analytical_jacobian(fn, xs))]
    if check_forward_ad:
        from chainrule.func import jacfwd_columns

        checks.append(("forward mode", jacfwd_columns(fn, xs)))
    m = _table(xs)
    for mode, analytic in checks:
        worst = None
        for k, (a_rows, n_rows) in enumerate(zip(analytic, numeric)):
            for c, (a, n) in enumerate(zip(a_rows, n_rows)):
                excess = m.abs(a - n) - (atol + rtol * m.abs(n))
                if excess.size and (not m.all(m.isfinite(a)) or excess.max() > 0):
                    bad = m.where(m.isfinite(a), excess, np.inf)
                    r, j = divmod(int(m.argmax(bad)), bad.shape[1])  # (row, column) of the worst
                    if worst is None or float(bad[r, j]) > worst[0]:
                        worst = (float(bad[r, j]), k, c, r, j, float(a[r, j]), float(n[r, j]))
        if worst is not None:
            _, k, c, r, j, a_val, n_val = worst
            msg = (
                f"gradcheck ({mode}): Jacobian mismatch for output {k} with respect to input "
                f"{diff_idx[c]} (shape {xs[diff_idx[c]].shape}): d out[{r}] / d in[{j}] "
                f"analytic = {a_val:.10g}, numeric = {n_val:.10g} "
                f"(atol={atol}, rtol={rtol}, eps={eps})"
            )
            if raise_exception:
                raise GradcheckError(msg)
            return False
    return True


def gradgradcheck(
    fn: Callable,
    inputs: Any,
    grad_outputs: Any = None,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    raise_exception: bool = True,
    seed: int = 0,
) -> bool:
    """Check second derivatives: gradcheck of x, v ↦ vᵀ ∂f/∂x computed with create_graph=True.

    ``grad_outputs`` (v) are random float64 tensors unless given; they are
    checked as inputs too, as PyTorch does.
    """
    xs = _to_float64_leaves(_as_tuple(inputs))
    outs = _outputs(fn, xs)
    rng = seeded_generator(seed)
    if grad_outputs is None:  # drawn on the host, then moved to the outputs' device
        m = _table(outs)
        vs = [Tensor._wrap(m.from_host(rng.standard_normal(o.shape))).requires_grad_() for o in outs]
    else:
        vs = _to_float64_leaves(_as_tuple(grad_outputs))
        for v in vs:
            v.requires_grad_(True)
    n = len(xs)

    def first_derivative(*args: Any) -> tuple:
        x_args, v_args = args[:n], args[n:]
        ys = _outputs(fn, x_args)
        diff = [x for x in x_args if isinstance(x, Tensor) and x.requires_grad]
        pairs = [(y, v) for y, v in zip(ys, v_args) if y.requires_grad]
        if not pairs:
            return tuple(_zeros_like(x) for x in diff)
        grads = autograd_grad([p[0] for p in pairs], diff, [p[1] for p in pairs], create_graph=True, allow_unused=True)
        return tuple(g if g is not None else _zeros_like(x) for g, x in zip(grads, diff))

    return gradcheck(first_derivative, tuple(xs) + tuple(vs), eps, atol, rtol, raise_exception)
