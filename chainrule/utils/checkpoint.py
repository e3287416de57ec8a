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

The two variants, as PyTorch's:

* ``use_reentrant=True`` (and None, PyTorch's default, which warns there): the function runs
  without grad mode; the node's inputs are the call's tensor arguments only.  Its output
  requires grad only if one of them does (else a warning says the gradients will be None, as
  PyTorch's), and the parameters' gradients are accumulated by a backward pass run inside
  the outer one, so they reach ``.grad`` (``loss.backward()``), not ``autograd.grad``'s results.
* ``use_reentrant=False``: the function runs with grad mode, and the tensors requiring grad
  that its graph reads from outside the call (the parameters, the arguments, a tensor it closed
  over) become the node's inputs; then the graph is let go, so that only the inputs and the
  outputs are kept.  Its output requires grad whenever a parameter does, even if no argument
  does (a block given the data), and ``autograd.grad(loss, params)`` works through it.  PyTorch
  gets there with saved-tensor hooks, keeping no intermediate tensor even during the call's
  forward; here the call's own graph exists while the call runs.
"""

from __future__ import annotations

import warnings
from typing import Any, Callable, Iterable

from chainrule.autograd import backward as _backward
from chainrule.autograd import grad as _grad
from chainrule.autograd import version
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
        inputs, pairs = _again(ctx, grads)
        if pairs:
            _backward([o for o, _ in pairs], [g for _, g in pairs])
        return (None, None, *[a.grad if isinstance(a, Tensor) and a.requires_grad else None for a in inputs])


class _NonReentrant(Function):
    """One node for a call already run with grad mode (``checkpoint(use_reentrant=False)``): its
    inputs are the call's tensor arguments and the tensors from outside the call that its graph
    read (``extra``); ``backward`` runs the call again and differentiates that run."""

    @staticmethod
    def forward(ctx: Any, run: Callable[..., Any], state: Any, outs: tuple, n: int, *tensors: Any) -> Any:
        ctx.run, ctx.state, ctx.args, ctx.extra = run, state, tensors[:n], tensors[n:]
        return outs if len(outs) > 1 else outs[0]

    @staticmethod
    def backward(ctx: Any, *grads: Any) -> Any:
        inputs, pairs = _again(ctx, grads)
        wrt = [a for a in inputs if isinstance(a, Tensor) and a.requires_grad] + list(ctx.extra)
        # (retain_graph: the walk may go on into the graph of an outer tensor in ``extra``, which
        # the outer backward still has to go through)
        got = list(_grad([o for o, _ in pairs], wrt, [g for _, g in pairs], retain_graph=True, allow_unused=True)) \
            if pairs and wrt else [None] * len(wrt)
        got.reverse()  # (handed out in the order of wrt)
        args = [got.pop() if isinstance(a, Tensor) and a.requires_grad else None for a in inputs]
        return (None, None, None, None, *args, *reversed(got))


def _again(ctx: Any, grads: tuple) -> tuple[list, list]:
    """The checkpointed call run again from its saved arguments (detached, requiring grad as they
    did), and the (output, gradient) pairs of that run to differentiate."""
    inputs = [a.detach().requires_grad_(a.requires_grad) if isinstance(a, Tensor) else a for a in ctx.args]
    out = _rerun(ctx.run, ctx.state, inputs)
    outs = out if isinstance(out, tuple) else (out,)
    return inputs, [(o, g) for o, g in zip(outs, grads) if g is not None and o.requires_grad]


def _rerun(run: Callable[..., Any], state: Any, inputs: list) -> Any:
    """``run(*inputs)`` with grad mode, from the default generator's ``state`` (None: as it is)."""
    gen = _random.default_generator()
    now = gen.bit_generator.state
    if state is not None:
        gen.bit_generator.state = state
    try:
        with enable_grad():
            return run(*inputs)
    finally:
        gen.bit_generator.state = now


def _from_outside(outs: tuple, start: int) -> list[Tensor]:
    """The tensors requiring grad that the graph behind ``outs`` read from outside the call that
    began at tick ``start``: leaves (parameters), and nodes recorded before it (an outer tensor),
    each once, in the order the walk meets them."""
    found: list[Tensor] = []
    seen: set[int] = set()
    todo = [o for o in reversed(outs) if o.requires_grad]
    while todo:
        t = todo.pop()
        if id(t) in seen:
            continue
        seen.add(id(t))
        if t._op is not None and t._clk > start:
            todo.extend(p for p in reversed(t._parents) if isinstance(p, Tensor) and p.requires_grad)
        else:
            found.append(t)
    return found


def _checkpoint_non_reentrant(run: Callable[..., Any], preserve: bool, args: tuple) -> Any:
    state = _random.default_generator().bit_generator.state if preserve else None
    start = version.TICK()
    out = run(*args)
    outs = out if isinstance(out, tuple) else (out,)
    if not all(isinstance(o, Tensor) for o in outs):
        raise TypeError(f"checkpoint: the function must return a Tensor or a tuple of Tensors, got "
                        f"{type(out).__name__}")
    given = {id(a) for a in args if isinstance(a, Tensor)}
    extra = [t for t in _from_outside(outs, start) if id(t) not in given]
    detached = tuple(o.detach() for o in outs)  # (the call's graph goes with ``out``)
    del out, outs
    return _NonReentrant.apply(run, state, detached, len(args), *args, *extra)


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

    if use_reentrant is False:
        return _checkpoint_non_reentrant(run, bool(preserve_rng_state), args)
    if not any(isinstance(a, Tensor) and a.requires_grad for a in args):
        warnings.warn("None of the inputs have requires_grad=True. Gradients will be None", stacklevel=2)
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
