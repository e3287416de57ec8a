"""L-BFGS, a quasi-Newton method with limited memory (PyTorch's ``torch.optim.LBFGS``).

Newton's method steps to w − H⁻¹ g with H the Hessian; BFGS builds an
approximation of H⁻¹ from the steps s_k = w_{k+1} − w_k and the gradient
changes y_k = g_{k+1} − g_k it has seen, and L-BFGS keeps only the last
``history_size`` pairs and applies the approximation with the "two-loop
recursion" (Nocedal & Wright, Numerical Optimization, Algorithm 7.4), never
forming a matrix.  One ``step(closure)`` runs up to ``max_iter`` iterations,
re-evaluating the loss and gradient through ``closure`` as often as it needs.

The algorithm, its stopping tests and the strong-Wolfe line search
(Nocedal & Wright, Algorithms 3.5 and 3.6, with cubic interpolation) follow
PyTorch's documented behaviour step for step, so that the iterates and the
number of closure calls are the same.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Iterable

import numpy as np

from chainrule.autograd.primitive import table_of
from chainrule.autograd.tensor import Tensor
from chainrule.autograd.version import bump
from chainrule.optim.optimizer import Optimizer, _check_nonneg

__all__ = ["LBFGS"]


def _cubic_interpolate(
    x1: float, f1: float, g1: float, x2: float, f2: float, g2: float,
    bounds: tuple[float, float] | None = None,
) -> float:
    """The minimiser of the cubic through (x1, f1) and (x2, f2) with slopes g1, g2, clipped to ``bounds``.

    Nocedal & Wright eq. 3.59: d1 = g1 + g2 − 3 (f1 − f2) / (x1 − x2), d2 = √(d1² − g1 g2),
    x = x2 − (x2 − x1) (g2 + d2 − d1) / (g2 − g1 + 2 d2).  Without a real minimiser
    (d1² < g1 g2) it returns the middle of the bounds.
    """
    lo, hi = bounds if bounds is not None else ((x1, x2) if x1 <= x2 else (x2, x1))
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    d2_square = d1**2 - g1 * g2
    if d2_square >= 0:
        d2 = math.sqrt(d2_square)
        if x1 <= x2:
            x = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
        else:
            x = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
        return min(max(x, lo), hi)
    return (lo + hi) / 2.0


def _strong_wolfe(
    obj_func: Callable[[float], tuple[float, np.ndarray]],
    t: float,
    d: np.ndarray,
    f: float,
    g: np.ndarray,
    gtd: Any,
    c1: float = 1e-4,
    c2: float = 0.9,
    tolerance_change: float = 1e-9,
    max_ls: int = 25,
) -> tuple[float, np.ndarray, float, int]:
    """A step t along d meeting the strong Wolfe conditions; returns (f(t), g(t), t, evaluations).

    Sufficient decrease f(t) ≤ f(0) + c1 t g(0)·d and curvature |g(t)·d| ≤ c2 |g(0)·d|.
    First a bracketing phase (extrapolating with cubic interpolation, up to 10×
    the step), then a zoom phase that shrinks the bracket by interpolation
    (safeguarded to stay 10% away from its ends), both limited to ``max_ls``
    evaluations of ``obj_func(t) -> (loss, flat gradient)``.
    """
    d_norm = abs(d).max()
    f_new, g_new = obj_func(t)
    evals = 1
    gtd_new = g_new.dot(d)
    t_prev, f_prev, g_prev, gtd_prev = 0.0, f, g, gtd
    done = False
    ls_iter = 0
    bracket: list[float] = []
    bracket_f: list[float] = []
    bracket_g: list[np.ndarray] = []
    bracket_gtd: list[Any] = []
    while ls_iter < max_ls:
        no_decrease = f_new > f + c1 * t * gtd or (ls_iter > 1 and f_new >= f_prev)
        if not no_decrease and abs(gtd_new) <= -c2 * gtd:  # both conditions hold: done
            bracket, bracket_f, bracket_g = [t], [f_new], [g_new]
            done = True
            break
        if no_decrease or gtd_new >= 0:  # overshot, or the slope turned positive: a minimum lies in between
            bracket, bracket_f = [t_prev, t], [f_prev, f_new]
            bracket_g, bracket_gtd = [g_prev, g_new], [gtd_prev, gtd_new]
            break
        # still descending: extrapolate, between 1.01 t and 10 t
        lo, hi = t + 0.01 * (t - t_prev), t * 10
        t_prev, t = t, _cubic_interpolate(t_prev, f_prev, gtd_prev, t, f_new, gtd_new, bounds=(lo, hi))
        f_prev, g_prev, gtd_prev = f_new, g_new, gtd_new
        f_new, g_new = obj_func(t)
        evals += 1
        gtd_new = g_new.dot(d)
        ls_iter += 1
    if ls_iter == max_ls:  # out of evaluations: bracket [0, t]
        bracket, bracket_f, bracket_g = [0.0, t], [f, f_new], [g, g_new]

    # zoom: shrink the bracket until the conditions hold (or it is too small)
    insuf_progress = False
    low, high = (0, 1) if bracket_f[0] <= bracket_f[-1] else (1, 0)
    while not done and ls_iter < max_ls:
        if abs(bracket[1] - bracket[0]) * d_norm < tolerance_change:
            break
        t = _cubic_interpolate(bracket[0], bracket_f[0], bracket_gtd[0], bracket[1], bracket_f[1], bracket_gtd[1])
        # safeguard: a point too close to an end of the bracket makes little progress
        b_max, b_min = max(bracket), min(bracket)
        eps = 0.1 * (b_max - b_min)
        if min(b_max - t, t - b_min) < eps:
            if insuf_progress or t >= b_max or t <= b_min:
                t = b_max - eps if abs(t - b_max) < abs(t - b_min) else b_min + eps
                insuf_progress = False
            else:
                insuf_progress = True
        else:
            insuf_progress = False
        f_new, g_new = obj_func(t)
        evals += 1
        gtd_new = g_new.dot(d)
        ls_iter += 1
        if f_new > f + c1 * t * gtd or f_new >= bracket_f[low]:  # t becomes the high end
            bracket[high], bracket_f[high], bracket_g[high], bracket_gtd[high] = t, f_new, g_new, gtd_new
            low, high = (0, 1) if bracket_f[0] <= bracket_f[1] else (1, 0)
        else:
            if abs(gtd_new) <= -c2 * gtd:
                done = True
            elif gtd_new * (bracket[high] - bracket[low]) >= 0:  # the old low end becomes the high end
                bracket[high], bracket_f[high] = bracket[low], bracket_f[low]
                bracket_g[high], bracket_gtd[high] = bracket_g[low], bracket_gtd[low]
            bracket[low], bracket_f[low], bracket_g[low], bracket_gtd[low] = t, f_new, g_new, gtd_new
    return bracket_f[low], bracket_g[low], bracket[low], evals


def _arr(v: Any) -> Any:
    """A state entry as NumPy: Tensors unwrapped, lists element-wise (the state holds Tensors, as PyTorch's)."""
    if isinstance(v, Tensor):
        return v._array
    if isinstance(v, list):
        return [_arr(x) for x in v]
    return v


class LBFGS(Optimizer):
    """Limited-memory BFGS (PyTorch's ``torch.optim.LBFGS``); ``step`` needs a closure.

    Each iteration k of one ``step(closure)``, with g the flat gradient of all parameters::

        d = −H_k g                      (two-loop recursion over the last history_size (s, y) pairs,
                                         H_0 = (sᵀy / yᵀy) I; d = −g on the very first iteration)
        t = lr  (min(1, 1/‖g‖₁) · lr on the very first iteration), or a strong-Wolfe line search
        w ← w + t d

    A pair (s = t d, y = g_new − g) is kept only when yᵀs > 1e-10 (so that H stays
    positive definite).  The step stops after ``max_iter`` iterations or
    ``max_eval`` closure calls, when max |g| ≤ ``tolerance_grad``, when max |t d|
    or the change of the loss is below ``tolerance_change``, or when d is not a
    descent direction.

    Args:
        params: the parameters (one group only: L-BFGS has no per-group options).
        lr: learning rate, the step length (default 1).
        max_iter: iterations per ``step`` (default 20).
        max_eval: closure calls per ``step`` (default ``max_iter * 5 // 4``).
        tolerance_grad: stop when max |g| is at most this (default 1e-7).
        tolerance_change: stop when the loss or the parameters change less (default 1e-9).
        history_size: number of (s, y) pairs kept (default 100).
        line_search_fn: None (fixed step ``lr``) or ``'strong_wolfe'``.

    The closure re-computes the loss, calls ``backward()`` and returns the loss;
    it must clear the old gradients first (``opt.zero_grad()``) as usual.
    ``step`` returns the loss of the first closure call.
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1,
        max_iter: int = 20,
        max_eval: int | None = None,
        tolerance_grad: float = 1e-7,
        tolerance_change: float = 1e-9,
        history_size: int = 100,
        line_search_fn: str | None = None,
    ) -> None:
        _check_nonneg("learning rate", lr)
        if line_search_fn not in (None, "strong_wolfe"):
            raise ValueError(f"LBFGS: line_search_fn must be None or 'strong_wolfe', got {line_search_fn!r}")
        if max_eval is None:
            max_eval = max_iter * 5 // 4
        defaults = dict(
            lr=lr, max_iter=max_iter, max_eval=max_eval, tolerance_grad=tolerance_grad,
            tolerance_change=tolerance_change, history_size=history_size, line_search_fn=line_search_fn,
        )
        super().__init__(params, defaults)
        if len(self.param_groups) != 1:
            raise ValueError("LBFGS doesn't support per-parameter options (parameter groups)")
        self._params: list[Tensor] = self.param_groups[0]["params"]
        self._m: Any = None  # the parameters' table, chosen at each step

    # -- the parameters as one flat vector --------------------------------------------
    def _gather_flat_grad(self) -> np.ndarray:
        """All gradients in one new flat array (zeros for a parameter without a gradient)."""
        m = self._m
        parts = [m.zeros(p._array.size, p._array.dtype) if p.grad is None else p.grad._array.ravel()
                 for p in self._params]
        return m.concatenate(parts) if len(parts) != 1 else parts[0].copy()

    def _add_grad(self, step: Any, update: np.ndarray) -> None:
        """w ← w + step · update, parameter by parameter (an in-place change: bumps each version)."""
        offset = 0
        for p in self._params:
            n = p._array.size
            new = p._array + step * update[offset: offset + n].reshape(p._array.shape)
            self._write(p, new)
            offset += n

    def _write(self, p: Tensor, value: np.ndarray) -> None:
        if p._array.flags.writeable:
            self._m.copyto(p._array, value)
        else:
            p._array = self._m.astype(self._m.copy(value), p._array.dtype)
        bump(p)

    def _directional_evaluate(self, closure: Callable[[], Any], x: list[np.ndarray], t: float, d: np.ndarray
                              ) -> tuple[float, np.ndarray]:
        """Loss and gradient at w + t d, then back to w (= ``x``)."""
        self._add_grad(t, d)
        loss = float(self._eval_closure(closure))
        flat_grad = self._gather_flat_grad()
        for p, v in zip(self._params, x):
            self._write(p, v)
        return loss, flat_grad

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Run up to ``max_iter`` L-BFGS iterations; return the loss of the first closure call."""
        if closure is None:
            raise RuntimeError("LBFGS.step needs a closure that re-computes the loss (and calls backward)")
        group = self.param_groups[0]
        lr = float(group["lr"])
        max_iter = group["max_iter"]
        max_eval = group["max_eval"]
        tolerance_grad = group["tolerance_grad"]
        tolerance_change = group["tolerance_change"]
        line_search_fn = group["line_search_fn"]
        history_size = group["history_size"]

        self._m = table_of([p._array for p in self._params], "LBFGS")
        state = self.state.setdefault(self._params[0], {})
        state.setdefault("func_evals", 0)
        state.setdefault("n_iter", 0)

        orig_loss = self._eval_closure(closure)
        loss = float(orig_loss)
        current_evals = 1
        state["func_evals"] += 1
        flat_grad = self._gather_flat_grad()
        if abs(flat_grad).max(initial=0.0) <= tolerance_grad:  # already optimal
            return orig_loss

        d = _arr(state.get("d"))
        t = state.get("t")
        old_dirs: list[np.ndarray] = _arr(state.get("old_dirs"))  # the y's
        old_stps: list[np.ndarray] = _arr(state.get("old_stps"))  # the s's
        ro: list[Any] = state.get("ro", [])  # 1 / yᵀs
        H_diag: Any = state.get("H_diag")
        prev_flat_grad = _arr(state.get("prev_flat_grad"))
        prev_loss = state.get("prev_loss")

        n_iter = 0
        while n_iter < max_iter:
            n_iter += 1
            state["n_iter"] += 1
            # the direction d = −H g
            if state["n_iter"] == 1:
                d = -flat_grad
                old_dirs, old_stps, ro = [], [], []
                H_diag = 1.0
            else:
                y = flat_grad - prev_flat_grad
                s = d * t
                ys = y.dot(s)
                if ys > 1e-10:  # keep the pair only with positive curvature
                    if len(old_dirs) == history_size:
                        old_dirs.pop(0)
                        old_stps.pop(0)
                        ro.pop(0)
                    old_dirs.append(y)
                    old_stps.append(s)
                    ro.append(1.0 / ys)
                    H_diag = ys / y.dot(y)  # the scaling of H_0 (N&W eq. 7.20)
                # two-loop recursion (N&W Algorithm 7.4)
                num_old = len(old_dirs)
                al: list[Any] = [None] * num_old
                q = -flat_grad
                for i in range(num_old - 1, -1, -1):
                    al[i] = old_stps[i].dot(q) * ro[i]
                    q -= al[i] * old_dirs[i]
                d = r = q * H_diag
                for i in range(num_old):
                    be_i = old_dirs[i].dot(r) * ro[i]
                    r += (al[i] - be_i) * old_stps[i]
            prev_flat_grad = flat_grad.copy()
            prev_loss = loss
            # the step length
            if state["n_iter"] == 1:
                t = min(1.0, 1.0 / abs(flat_grad).sum()) * lr
            else:
                t = lr
            gtd = flat_grad.dot(d)  # directional derivative
            if gtd > -tolerance_change:  # not a descent direction
                break

            ls_func_evals = 0
            if line_search_fn is not None:
                x_init = [p._array.copy() for p in self._params]
                loss, flat_grad, t, ls_func_evals = _strong_wolfe(
                    lambda step: self._directional_evaluate(closure, x_init, step, d),
                    t, d, loss, flat_grad, gtd, max_ls=max_eval - current_evals,
                )
                self._add_grad(t, d)
                opt_cond = abs(flat_grad).max() <= tolerance_grad
            else:
                self._add_grad(t, d)
                if n_iter != max_iter:
                    # re-evaluate (except after the last iteration: the next step does it)
                    loss = float(self._eval_closure(closure))
                    flat_grad = self._gather_flat_grad()
                    opt_cond = abs(flat_grad).max() <= tolerance_grad
                    ls_func_evals = 1
            current_evals += ls_func_evals
            state["func_evals"] += ls_func_evals

            # stopping tests
            if n_iter == max_iter or current_evals >= max_eval or opt_cond:
                break
            if abs(d * t).max() <= tolerance_change:
                break
            if abs(loss - prev_loss) < tolerance_change:
                break

        state["d"] = None if d is None else Tensor._wrap(d)
        state["t"] = float(t) if t is not None else None
        state["old_dirs"] = [Tensor._wrap(v) for v in old_dirs]
        state["old_stps"] = [Tensor._wrap(v) for v in old_stps]
        state["ro"] = [float(v) for v in ro]
        state["H_diag"] = float(H_diag)
        state["prev_flat_grad"] = None if prev_flat_grad is None else Tensor._wrap(prev_flat_grad)
        state["prev_loss"] = prev_loss
        return orig_loss
