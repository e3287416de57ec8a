"""A Module's backward hooks (``register_full_backward_hook`` / ``register_full_backward_pre_hook``).

One Module call with backward hooks passes its tensors through two identity nodes of the graph,
each one :class:`BackwardHookFunction` (a custom ``autograd.Function``) over several tensors, so
that its ``backward`` sees all their gradients at once:

* the positional inputs that require grad, before ``forward``: its backward receives
  ``grad_input`` (dL/d input_k) once the whole module has been differentiated, runs the full
  hooks ``hook(module, grad_input, grad_output)`` and passes on what they return;
* the outputs, after ``forward`` (and the forward hooks): its backward receives ``grad_output``,
  runs the pre hooks ``hook(module, grad_output)`` (which may replace it) and keeps it for the
  full hooks.

The engine visits a node after every node recorded later, so the input node runs after the
module's own nodes and after the output node.  ``grad_input`` / ``grad_output`` hold one entry
per positional argument / per output (a tuple's elements), None where there is no gradient (a
non-Tensor, an output no gradient reached); a tensor argument that does not require grad gets
zeros when another one does (PyTorch's node takes every tensor argument), None when none does.
A node over several tensors packs them into one array (``autograd.Function``'s several
outputs, in the widest of their dtypes; each keeps its own dtype outside the node).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

from chainrule.autograd.function import Function, FunctionCtx
from chainrule.autograd.grad_mode import STATE
from chainrule.autograd.tensor import Tensor
from chainrule.ops.creation import zeros_like

__all__ = ["BackwardHook", "BackwardHookFunction"]


class BackwardHookFunction(Function):
    """y_k = x_k for every tensor given; backward hands (dL/dy_1, ...) to ``on_grads`` and passes
    on what it returns.  (PyTorch's node of the same name: ``grad_fn.name()`` agrees.)"""

    @staticmethod
    def forward(ctx: FunctionCtx, on_grads: Callable[[tuple], tuple], *xs: Tensor) -> Any:
        ctx.on_grads = on_grads  # type: ignore[attr-defined]
        return xs[0] if len(xs) == 1 else xs

    @staticmethod
    def backward(ctx: FunctionCtx, *grads: Any) -> Any:
        return (None, *ctx.on_grads(grads))  # type: ignore[attr-defined]


def _identity(on_grads: Callable[[tuple], tuple], xs: list) -> list:
    """``xs`` through one BackwardHookFunction whose backward calls ``on_grads``.

    With several tensors the node's gradient is their flat pack, where a tensor that no
    gradient reached reads as zeros; so each output goes through one more identity node, which
    notes that its gradient arrived (it is visited before the joint node, being recorded after
    it), and ``on_grads`` gets None for the others, as PyTorch's."""
    if len(xs) == 1:
        return [BackwardHookFunction.apply(on_grads, xs[0])]
    arrived = [False] * len(xs)

    def joint(grads: tuple) -> tuple:
        got = tuple(g if seen else None for g, seen in zip(grads, arrived))
        arrived[:] = [False] * len(xs)  # (a second backward through a retained graph starts afresh)
        return on_grads(got)

    def mark(k: int) -> Callable[[tuple], tuple]:
        def arrive(grads: tuple) -> tuple:
            arrived[k] = True
            return grads

        return arrive

    return [BackwardHookFunction.apply(mark(k), y) for k, y in enumerate(BackwardHookFunction.apply(joint, *xs))]


def _check_count(res: Any, n: int, what: str) -> tuple:
    res = res if isinstance(res, tuple) else tuple(res) if isinstance(res, list) else (res,)
    if len(res) != n:
        raise RuntimeError(f"Backward hook returned an invalid number of {what}, got {len(res)}, but expected {n}")
    return res


class BackwardHook:
    """The backward hooks of one Module call (a new one per call: a module used twice has two)."""

    __slots__ = ("module", "full", "pre", "n_inputs", "input_pos", "constant_pos", "constants", "grad_output")

    def __init__(self, module: Any, full: list, pre: list) -> None:
        self.module = module
        self.full = full  # hook(module, grad_input, grad_output) -> tuple | None
        self.pre = pre  # hook(module, grad_output) -> tuple | None
        self.n_inputs = 0
        self.input_pos: list[int] = []
        self.constant_pos: list[int] = []
        self.constants: list[Tensor] = []
        self.grad_output: tuple | None = None

    def setup_inputs(self, args: tuple) -> tuple:
        """``args`` with the tensors that require grad passed through the input node (full hooks only)."""
        self.n_inputs = len(args)
        if not self.full or not STATE.enabled:
            return args
        self.input_pos = [k for k, a in enumerate(args) if isinstance(a, Tensor) and a.requires_grad]
        if not self.input_pos:
            return args
        # PyTorch's grad_input holds zeros for the other tensor arguments (its node takes them all)
        self.constant_pos = [k for k, a in enumerate(args) if isinstance(a, Tensor) and not a.requires_grad]
        self.constants = [args[k] for k in self.constant_pos]
        new = list(args)
        for k, y in zip(self.input_pos, _identity(self._input_grads, [args[k] for k in self.input_pos])):
            new[k] = y
        return tuple(new)

    def setup_outputs(self, result: Any) -> Any:
        """``result`` (a Tensor, or a tuple whose Tensors count) through the output node."""
        if not STATE.enabled:
            return result
        outs = result if isinstance(result, tuple) else (result,)
        pos = [k for k, o in enumerate(outs) if isinstance(o, Tensor) and o.requires_grad]
        if not pos:
            return result
        n_out = len(outs)

        def output_grads(grads: tuple) -> tuple:
            full = [None] * n_out
            for k, g in zip(pos, grads):
                full[k] = g
            grad_output = tuple(full)
            for hook in self.pre:
                res = hook(self.module, grad_output)
                if res is not None:
                    grad_output = _check_count(res, n_out, "grad_output")
            self.grad_output = grad_output
            if self.full and not self.input_pos:  # no input needs a gradient: the full hooks run now
                warnings.warn(
                    "Full backward hook is firing when gradients are computed with respect to module outputs "
                    "since no inputs require gradients (grad_input is all None).",
                    stacklevel=2,
                )
                for hook in self.full:
                    hook(self.module, (None,) * self.n_inputs, grad_output)
            return tuple(grad_output[k] for k in pos)

        new = list(outs)
        for k, y in zip(pos, _identity(output_grads, [outs[k] for k in pos])):
            new[k] = y
        return tuple(new) if isinstance(result, tuple) else new[0]

    def _input_grads(self, grads: tuple) -> tuple:
        full: list = [None] * self.n_inputs
        for k, g in zip(self.input_pos, grads):
            full[k] = g
        for k, a in zip(self.constant_pos, self.constants):
            full[k] = zeros_like(a)
        grad_input = tuple(full)
        grad_output = self.grad_output if self.grad_output is not None else ()
        for hook in self.full:
            res = hook(self.module, grad_input, grad_output)
            if res is not None:
                grad_input = _check_count(res, self.n_inputs, "grad_input")
        return tuple(grad_input[k] for k in self.input_pos)
