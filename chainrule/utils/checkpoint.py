"""``torch.utils.checkpoint``: activation checkpointing, computation traded for memory.

``checkpoint(function, *args, use_reentrant=..., **kwargs)`` runs ``function(*args, **kwargs)``
without recording a graph inside it, so none of its intermediate tensors is kept for the
backward pass: only its inputs and its outputs are.  The backward pass runs ``function`` again,
with grad mode on, from the same inputs, and backpropagates through that second run: the
inputs get their gradients, and so do the parameters the function uses (their ``.grad``, as a
``backward()`` through the function would give them).  The default generator's state is taken
before the first run and put back for the second, so that dropout draws the same masks
(``preserve_rng_state=True``, PyTorch's default).

``checkpoint_sequential(functions, segments, input)`` cuts a ``Sequential`` (or a list of
modules) into ``segments`` runs of consecutive modules and checkpoints each but the last.

As PyTorch's re-entrant variant, the parameters' gradients are accumulated by a backward pass
run inside the outer one, so they reach ``.grad`` (``loss.backward()``), not the results of
``autograd.grad(loss, params)``; ``use_reentrant=False`` is accepted with the same behaviour.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

from chainrule.autograd import backward as _backward
from chainrule.autograd.function import Function
from chainrule.autograd.grad_mode import enable_grad, is_grad_enabled, no_grad
from chainrule.autograd.tensor import Tensor
from chainrule.backend import random as _random

__all__ = ["checkpoint", "checkpoint_sequential"]


class _Checkpoint(Function):
    """One node for the whole checkpointed call: ``backward`` runs the call again."""

    @staticmethod
    def forward(ctx: Any, run: Callable[..., Any], preserve: bool, *args: Any) -> Any:
        ctx.run = run
        ctx.state = _random.default_generator().bit_generator.state if preserve else None
        ctx.args = args  # (the tensors among them are the node's inputs: kept by the graph anyway)
        with no_grad():
            out = run(*args)
        if not (isinstance(out, Tensor) or isinstance(out, tuple) and all(isinstance(o, Tensor) for o in out)):
            raise TypeError(f"checkpoint: the function must return a Tensor or a tuple of Tensors, got "
                            f"{type(out).__name__}")
        return out

    @staticmethod
    def backward(ctx: Any, *grads: Any) -> Any:
        inputs = [a.detach().requires_grad_(a.requires_grad) if isinstance(a, Tensor) else a for a in ctx.args]
        gen = _random.default_generator()
        now = gen.bit_generator.state
        if ctx.state is not None:
            gen.bit_generator.state = ctx.state
        try:
            with enable_grad():
                out = ctx.run(*inputs)
        finally:
            gen.bit_generator.state = now
        outs = out if isinstance(out, tuple) else (out,)
        pairs = [(o, g) for o, g in zip(outs, grads) if g is not None and o.requires_grad]
        if pairs:
            _backward([o for o, _ in pairs], [g for _, g in pairs])
        return (None, None, *[a.grad if isinstance(a, Tensor) and a.requires_grad else None for a in inputs])


def checkpoint(function: Callable[..., Any], *args: Any, use_reentrant: bool | None = None,
               preserve_rng_state: bool = True, **kwargs: Any) -> Any:
    """``function(*args, **kwargs)``, its intermediate tensors not kept but computed again during
    the backward pass (module docstring).  Without grad mode, or with no tensor input and no
    parameter to differentiate, it is simply the call."""
    if use_reentrant not in (None, True, False):
        raise ValueError(f"checkpoint: use_reentrant must be a bool or None, got {use_reentrant!r}")
    if not is_grad_enabled():
        return function(*args, **kwargs)

    def run(*xs: Any) -> Any:
        return function(*xs, **kwargs)

    return _Checkpoint.apply(run, bool(preserve_rng_state), *args)


def checkpoint_sequential(functions: Any, segments: int, input: Tensor, use_reentrant: bool | None = None,
                          **kwargs: Any) -> Tensor:
    """Run ``functions`` (a ``Sequential`` or a list of modules) one after the other on ``input``,
    in ``segments`` runs of consecutive ones; each run but the last is checkpointed."""
    layers = list(functions.children()) if hasattr(functions, "children") else list(functions)
    if segments < 1:
        raise ValueError(f"checkpoint_sequential: segments must be at least 1, got {segments}")
    size = -(-len(layers) // segments) if layers else 0

    def run_part(part: Iterable[Any]) -> Callable[[Tensor], Tensor]:
        def go(x: Tensor) -> Tensor:
            for f in part:
                x = f(x)
            return x

        return go

    x = input
    parts = [layers[i:i + size] for i in range(0, len(layers), size)] if size else []
    for k, part in enumerate(parts):
        x = run_part(part)(x) if k == len(parts) - 1 else checkpoint(run_part(part), x, use_reentrant=use_reentrant,
                                                                      **kwargs)
    return x
