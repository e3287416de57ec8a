"""Adam: momentum on the gradient, RMSprop-style scaling, and bias correction."""

from __future__ import annotations

from typing import Any, Callable, Iterable

from chainrule.autograd.tensor import Tensor
from chainrule.autograd.version import bump_all
from chainrule.optim import _functional as F
from chainrule.optim.optimizer import (
    Optimizer,
    _check_adam_args,
    _check_impl_flags,
    _scalar_state,
    _zeros_state,
    state_arrays,
)

__all__ = ["Adam"]


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
        foreach: accepted and ignored (it only selects PyTorch's implementation).
        maximize: ascend the objective instead.
        capturable: must be False (CUDA-graph capture).
        differentiable: must be False (autograd through the step).
        fused: accepted and ignored (it only selects PyTorch's implementation).
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
        foreach: bool | None = None,
        maximize: bool = False,
        capturable: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
        decoupled_weight_decay: bool = False,
    ) -> None:
        _check_adam_args(lr, betas, eps, weight_decay)
        defaults = dict(
            lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
            maximize=maximize, foreach=foreach, capturable=capturable, differentiable=differentiable, fused=fused,
            decoupled_weight_decay=decoupled_weight_decay,
        )
        _check_impl_flags(type(self).__name__, foreach, capturable, differentiable)
        super().__init__(params, defaults)

    @staticmethod
    def _init_state(p: Tensor, group: dict[str, Any]) -> dict[str, Any]:
        state = {"step": _scalar_state(0.0), "exp_avg": _zeros_state(p), "exp_avg_sq": _zeros_state(p)}
        if group["amsgrad"]:
            state["max_exp_avg_sq"] = _zeros_state(p)
        return state

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One update of every parameter that has a gradient; returns ``closure()``'s loss."""
        loss = self._eval_closure(closure)
        flats = self.__dict__.get("_flats")
        for group in self.param_groups:
            amsgrad = bool(group["amsgrad"])
            flat = None if flats is None else flats.get(id(group))
            ready = None if flat is None or flat.amsgrad != amsgrad else flat.ready(group["params"], self.state)
            if ready is not None:  # the flat update of the last step again (FlatAdam.ready)
                ws, gs, steps = ready
                bump_all(group["params"])
                moments: list = [[], [], []]
            else:
                params, ws, gs, states = self._gather(group, self._init_state)
                moments = state_arrays(states, *F.FlatAdam.KEYS[: 3 if amsgrad else 2])
                (steps,) = state_arrays(states, "step")
                flat = self._flat(group, params, moments, steps, states, amsgrad)
                if flat is not None:
                    moments = [flat.views(key) for key in flat.keys]
                    (steps,) = state_arrays(states, "step")  # (views of the flat counters once it is made)
            betas = group["betas"]
            F.adam(
                ws, gs, moments[0], moments[1], moments[2] if amsgrad else [], steps, amsgrad=amsgrad,
                beta1=float(betas[0]), beta2=float(betas[1]), lr=float(group["lr"]),
                weight_decay=float(group["weight_decay"]), eps=float(group["eps"]), maximize=bool(group["maximize"]),
                decoupled_weight_decay=bool(group.get("decoupled_weight_decay")), flat=flat, work=self._work,
            )
        return loss

    def _flat(self, group: dict, params: list[Tensor], moments: list[list], steps: list, states: list[dict],
              amsgrad: bool) -> F.FlatAdam | None:
        """The flat moment buffers of a small group (every parameter has a gradient, one dtype,
        the same step count), the state Tensors' arrays made views of them; else None."""
        flats = self.__dict__.setdefault("_flats", {})
        flat = flats.get(id(group))
        if not params or len(params) != len(group["params"]):
            if flat is not None:
                flat.steps = None  # this step advances some counters only
            return None
        if flat is not None and flat.holds(*moments) and flat.in_step(steps):
            return flat  # (the common case: no need to compare the step counts)
        first = float(steps[0])
        if any(float(s) != first for s in steps):
            if flat is not None:
                flat.steps = None
            return None
        if flat is not None and flat.holds(*moments):
            return flat
        dtype = params[0]._array.dtype
        if any(p._array.dtype != dtype for p in params) or sum(p._array.size for p in params) > _PACK_LIMIT:
            flats.pop(id(group), None)
            return None
        flat = flats[id(group)] = F.FlatAdam([p._array.shape for p in params], dtype, amsgrad, self._work.m,
                                             steps[0].dtype)
        for key, arrays in zip(flat.keys, moments):
            for st, v, a in zip(states, flat.views(key), arrays):
                self._work.m.copyto(v, a)
                st[key]._array = v
        for st, v, a in zip(states, flat.step_views, steps):  # (the counters: host arrays, as before)
            v[()] = a
            st["step"]._array = v
        return flat

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.__dict__.pop("_flats", None)
        super().load_state_dict(state_dict)


_PACK_LIMIT = 1 << 16  # groups up to this many elements keep their moments in flat buffers
