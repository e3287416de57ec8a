"""Adam: momentum on the gradient, RMSprop-style scaling, and bias correction."""

from __future__ import annotations

import math
from operator import is_
from typing import Any, Callable, Iterable

import numpy as np

from chainrule.autograd.tensor import Tensor
from chainrule.autograd.version import bump_all
from chainrule.optim.optimizer import Optimizer, _check_nonneg, _count_step, _Scalars

__all__ = ["Adam"]


def _check_adam_args(lr: float, betas: tuple, eps: float, weight_decay: float) -> None:
    _check_nonneg("learning rate", lr)
    _check_nonneg("epsilon value", eps)
    if len(betas) != 2:
        raise ValueError(f"Invalid betas: {betas} (expected two values)")
    for i, beta in enumerate(betas):
        if not 0.0 <= float(beta) < 1.0:
            raise ValueError(f"Invalid beta parameter at index {i}: {beta}")
    _check_nonneg("weight_decay value", weight_decay)


class Adam(Optimizer):
    r"""Adam (PyTorch's ``torch.optim.Adam``; Kingma & Ba, 2015).

    The notes (004), with g = ∂E/∂θ and k = 0, 1, ...::

        M_{k+1} ← β1 M_k + (1 − β1) g                 ('exp_avg')
        S_{k+1} ← β2 S_k + (1 − β2) g²                ('exp_avg_sq')
        M̂ = M_{k+1} / (1 − β1^{k+1}),   Ŝ = S_{k+1} / (1 − β2^{k+1})     (bias correction)
        θ ← θ − α M̂ / √(Ŝ + ε)

    PyTorch (and this class) put ε *outside* the square root,
    ``θ ← θ − α M̂ / (√Ŝ + ε)``, computed as
    ``θ ← θ − (α c / (1 − β1^t)) · M / (√S + ε c)``, c = √(1 − β2^t), with
    t = k + 1 the step count ('step').  Before that, g is negated when ``maximize`` and
    weight decay λ is applied either coupled (the notes' L2 term, g ← g + λθ,
    the default) or decoupled (``decoupled_weight_decay=True``, AdamW:
    θ ← (1 − αλ) θ, then the Adam step on the plain gradient).  With
    ``amsgrad`` the denominator uses the running maximum of S ('max_exp_avg_sq').

    Args:
        params: parameters, or parameter groups (dicts).
        lr: α (default 1e-3).
        betas: (β1, β2) (default (0.9, 0.999)).
        eps: ε (default 1e-8).
        weight_decay: λ (default 0).
        amsgrad: use the AMSGrad variant.
        maximize: ascend the objective instead.
        decoupled_weight_decay: decay the weights directly (AdamW) instead of through g.
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
        decoupled_weight_decay: bool = False,
    ) -> None:
        _check_adam_args(lr, betas, eps, weight_decay)
        defaults = dict(
            lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
            maximize=maximize, decoupled_weight_decay=decoupled_weight_decay,
        )
        super().__init__(params, defaults)

    def _new_state(self, w: np.ndarray, amsgrad: bool) -> dict[str, Any]:
        state = {
            "step": Tensor._wrap(np.array(0.0, dtype=np.float32)),
            "exp_avg": Tensor._wrap(np.zeros_like(w)),
            "exp_avg_sq": Tensor._wrap(np.zeros_like(w)),
        }
        if amsgrad:
            state["max_exp_avg_sq"] = Tensor._wrap(np.zeros_like(w))
        return state

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One update of every parameter that has a gradient; returns ``closure()``'s loss."""
        loss = self._eval_closure(closure)
        for group in self.param_groups:
            lr = float(group["lr"])
            beta1, beta2 = (float(b) for b in group["betas"])
            eps = float(group["eps"])
            wd = float(group["weight_decay"])
            amsgrad = bool(group["amsgrad"])
            maximize = bool(group["maximize"])
            decoupled = bool(group.get("decoupled_weight_decay", False))
            consts = _Scalars(beta1, 1.0 - beta1, beta2, 1.0 - beta2, 1.0 - lr * wd)

            def step_scalars(step: float, dtype: np.dtype) -> tuple[np.ndarray, np.ndarray]:
                # α M̂ / (√Ŝ + ε) = (α c / (1 − β1^t)) · M / (√S + ε c),  c = √(1 − β2^t):
                # the bias corrections fold into two scalars, one pass fewer over the arrays.
                c = math.sqrt(1.0 - beta2**step)
                return (np.array(lr * c / (1.0 - beta1**step), dtype=dtype), np.array(eps * c, dtype=dtype))

            params = [p for p in group["params"] if p.grad is not None]
            pack = self._pack(group, params, amsgrad)
            if pack is not None:
                # Small parameters: one set of ufunc calls over all of them at once
                # (NumPy's per-call cost dominates arrays of a few hundred elements).
                step = pack.count_steps(params, self.state)
                if step is not None:
                    dtype = params[0]._array.dtype
                    pack.update(params, consts(dtype), step_scalars(step, dtype), wd, decoupled, maximize)
                    continue
            per_step: dict[tuple, tuple] = {}  # (dtype, step) -> step scalars
            for p in params:
                w = p._array
                state = self.state.get(p)
                if state is None:
                    state = self.state[p] = self._new_state(w, amsgrad)
                step = _count_step(state)
                c = consts(w.dtype)
                if decoupled:
                    if wd != 0.0:
                        np.multiply(w, c[4], w)  # θ ← (1 − αλ) θ
                    g = self._grad_term(p, 0.0, maximize)
                else:
                    g = self._grad_term(p, wd, maximize)  # g ← ±g + λθ
                key = (w.dtype, step)
                scal = per_step.get(key)
                if scal is None:
                    scal = per_step[key] = step_scalars(step, w.dtype)
                t = self._scratch(w, 1)
                s_max = state["max_exp_avg_sq"]._array if amsgrad else None
                _adam_moments_and_step(state["exp_avg"]._array, state["exp_avg_sq"]._array, s_max, g, t, c, scal)
                np.subtract(w, t, w)
        return loss

    def _pack(self, group: dict, params: list, amsgrad: bool) -> _Pack | None:
        """The packed state of a small group (all its parameters have gradients, one dtype), else None."""
        if not params or len(params) != len(group["params"]):
            return None
        packs = self.__dict__.setdefault("_packs", {})
        pack = packs.get(id(group))
        if pack is not None and pack.valid(params, self.state, amsgrad):
            return pack
        dtype = params[0]._array.dtype
        if any(p._array.dtype != dtype for p in params) or sum(p._array.size for p in params) > _PACK_LIMIT:
            packs.pop(id(group), None)
            return None
        for p in params:
            if p not in self.state:
                self.state[p] = self._new_state(p._array, amsgrad)
        pack = packs[id(group)] = _Pack(params, self.state, amsgrad)
        return pack

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.__dict__.pop("_packs", None)
        super().load_state_dict(state_dict)


def _adam_moments_and_step(m, s, s_max, g, t, consts, step_scalars) -> None:
    """Update the moments M, S (and max S) in place from g, and leave the step α M̂/(√Ŝ + ε) in t."""
    b1, one_b1, b2, one_b2, _ = consts
    step_size, eps_c = step_scalars
    np.multiply(m, b1, m)
    np.multiply(g, one_b1, t)
    np.add(m, t, m)  # M ← β1 M + (1 − β1) g
    np.multiply(s, b2, s)
    np.multiply(g, g, t)
    np.multiply(t, one_b2, t)
    np.add(s, t, s)  # S ← β2 S + (1 − β2) g²
    if s_max is not None:  # AMSGrad: the largest S so far
        np.maximum(s_max, s, out=s_max)
        s = s_max
    np.sqrt(s, t)
    np.add(t, eps_c, t)
    np.divide(m, t, t)
    np.multiply(t, step_size, t)


_PACK_LIMIT = 1 << 16  # groups up to this many elements are updated as one flat array


class _Pack:
    """A small group's Adam state laid out in flat arrays, one segment per parameter.

    ``state[p]['exp_avg']`` etc. stay per-parameter Tensors (for ``state_dict``);
    their ``._array`` are views of the segments, so updating the flat arrays
    updates them.  ``valid`` notices when that no longer holds (after
    ``load_state_dict``, or a parameter that got no gradient) and the pack is rebuilt.
    """

    KEYS = ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")

    def __init__(self, params: list, state: dict, amsgrad: bool) -> None:
        self.params = list(params)
        self.amsgrad = amsgrad
        dtype = params[0]._array.dtype
        sizes = [p._array.size for p in params]
        n = sum(sizes)
        bounds = np.cumsum([0] + sizes).tolist()
        self.segments = [(a, b, p._array.shape) for a, b, p in zip(bounds[:-1], bounds[1:], params)]
        keys = self.keys = self.KEYS if amsgrad else self.KEYS[:2]
        self.flat = {}
        self.view_list = []  # the views now held by the parameters' state Tensors, in (param, key) order
        for key in keys:
            self.flat[key] = np.empty(n, dtype=dtype)
        for p, (a, b, shape) in zip(params, self.segments):
            st = state[p]
            for key in keys:
                v = self.flat[key][a:b].reshape(shape)
                np.copyto(v, st[key]._array)
                st[key]._array = v
                self.view_list.append(v)
        self.m, self.s = self.flat["exp_avg"], self.flat["exp_avg_sq"]
        self.s_max = self.flat.get("max_exp_avg_sq")
        self.g = np.empty(n, dtype=dtype)
        self.t = np.empty(n, dtype=dtype)
        self.w: np.ndarray | None = None
        self.t_views = [self.t[a:b].reshape(shape) for a, b, shape in self.segments]
        self.g_views = [self.g[a:b].reshape(shape) for a, b, shape in self.segments]

    def valid(self, params: list, state: dict, amsgrad: bool) -> bool:
        """Same parameters, and their state Tensors still hold this pack's views."""
        if amsgrad != self.amsgrad or len(params) != len(self.params) or not all(map(is_, params, self.params)):
            return False
        held = [st[key]._array if st is not None else None for st in map(state.get, params) for key in self.keys]
        return all(map(is_, held, self.view_list))

    def count_steps(self, params: list, state: dict) -> float | None:
        """Advance every parameter's step and return the common count; None (nothing advanced) if they differ."""
        counters = [state[p]["step"]._array for p in params]
        step = float(counters[0])
        if any(float(c) != step for c in counters):
            return None
        step += 1.0
        for c in counters:
            c[()] = step
        return step

    def update(self, params: list, consts: tuple, step_scalars: tuple, wd: float, decoupled: bool,
               maximize: bool) -> None:
        """The Adam step of every parameter: gather g, update the flat moments, subtract per parameter."""
        g = self.gather_grads(params)
        if maximize:
            np.negative(g, g)
        if wd != 0.0 and not decoupled:
            wflat = self.gather_params(params)
            np.multiply(wflat, np.array(wd, dtype=g.dtype), wflat)
            np.add(g, wflat, g)  # g ← ±g + λθ
        _adam_moments_and_step(self.m, self.s, self.s_max, g, self.t, consts, step_scalars)
        shrink = consts[4]
        bump_all(params)  # each parameter is written in place below (p._version, as in PyTorch)
        for p, tv in zip(params, self.t_views):
            w = p._array
            if decoupled and wd != 0.0:
                np.multiply(w, shrink, w)  # θ ← (1 − αλ) θ
            np.subtract(w, tv, w)

    def gather_grads(self, params: list) -> np.ndarray:
        for p, gv in zip(params, self.g_views):
            np.copyto(gv, p.grad._array)
        return self.g

    def gather_params(self, params: list) -> np.ndarray:
        if self.w is None:
            self.w = np.empty_like(self.g)
        for p, (a, b, shape) in zip(params, self.segments):
            np.copyto(self.w[a:b].reshape(shape), p._array)
        return self.w
