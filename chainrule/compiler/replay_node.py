"""How a replayed Module's outputs join the autograd graph.

A compiled Module (or function) that returns tensors with graphs replays its forward plan; the
engine must still be able to run backward through what it returned.  :func:`with_graphs` makes
the returned tensors the outputs of one graph node, a :class:`ReplayNode`, whose vjp is the
plan's backward pass over the arrays the forward saved.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from chainrule.autograd.primitive import Primitive, apply
from chainrule.compiler.capture import Hole, instantiate


class ReplayNode(Primitive):
    """A replayed forward as one graph node: its output was computed by the plan, its vjp is
    the plan's backward pass over the arrays the forward saved.  Its inputs are the tensors
    the gradient flows to (parameters, arguments that require grad).

    Several outputs with graphs (``return logits, loss``) are one node too: its output is them
    packed end to end in one flat array (in the widest of their dtypes), and each returned tensor
    is a slice of it, reshaped and in its own dtype (``parts``: (start, stop, shape, dtype) of
    each; None: the one output as it is).  The backward pass
    then runs once, with each output's gradient as the engine gave it to that output (zeros for an
    output nothing used).  Each slice is a :class:`_Part`, whose vjp marks its output as reached
    (``reached``): an input that only unreached outputs depend on (``reach``: per output, the
    inputs below it) gets no gradient, None, as eager leaves it, not a zero one.

    The gradients the backward pass makes anew (``fresh``, from the plan's structure:
    ``plan.fresh_results``) go to the engine as they are; the others (the output's gradient
    passed through, one array for two inputs) are copied here, so that the node keeps the
    promise of ``fresh_grads`` and a ``.grad`` never shares memory with another array."""

    __slots__ = ("backward", "y", "saved", "parts", "reach", "reached", "fresh", "part_grads")
    name = "compiled"
    saves_output = False
    fresh_grads = True

    def __init__(self, backward: Callable[[tuple, Any], tuple], y: Any, saved: tuple,
                 parts: list[tuple] | None = None, reach: list | None = None, fresh: tuple = ()) -> None:
        self.backward = backward
        self.y = y
        self.saved = saved
        self.parts = parts
        self.reach = reach
        self.reached: set[int] = set()
        self.fresh = fresh
        self.part_grads: dict[int, Any] = {}  # output k -> its gradient, as the engine gave it

    def forward(self, m: Any, *xs: Any) -> Any:
        y, self.y = self.y, None
        return y

    def vjp(self, m: Any, need: tuple, g: Any, y: Any, *xs: Any) -> tuple:
        if m.is_tensor:
            raise NotImplementedError("backward(create_graph=True) through a compiled Module: its backward pass "
                                      "is a replayed plan, not differentiable again; use the Module uncompiled")
        if self.parts is None:
            gs: tuple = (g,)
        else:  # (each output's own gradient array, in the memory order eager's backward would get it)
            got, self.part_grads = self.part_grads, {}
            gs = tuple(got[k] if k in got else m.zeros(shape, dtype)
                       for k, (_, _, shape, dtype) in enumerate(self.parts))
        grads = self.backward(self.saved, gs)
        if self.parts is not None and self.reach is not None:
            reached, self.reached = self.reached, set()  # (a retained graph's next backward counts anew)
            below = set().union(*(self.reach[k] for k in reached))
            need = tuple(n and j in below for j, n in enumerate(need))
        fresh = self.fresh or (False,) * len(grads)
        return tuple((gr if fresh[j] else m.copy(gr)) if n else None for j, (gr, n) in enumerate(zip(grads, need)))


class _Part(Primitive):
    """Output ``k`` of a :class:`ReplayNode` with several: its slice ``[a:b]`` of the packed
    array, reshaped, in its dtype; its vjp tells the node that this output's gradient reached it."""

    __slots__ = ("node", "k", "a", "b", "shape", "dtype")
    name = "compiled_output"
    saves_output = False

    def __init__(self, node: ReplayNode, k: int, a: int, b: int, shape: tuple, dtype: Any) -> None:
        self.node, self.k, self.a, self.b, self.shape, self.dtype = node, k, a, b, shape, dtype

    def saved_inputs(self, need: tuple) -> Any:
        return ()

    def forward(self, m: Any, packed: Any) -> Any:
        part = packed[self.a:self.b].reshape(self.shape)
        return part if part.dtype == self.dtype else m.astype(part, self.dtype)

    def vjp(self, m: Any, need: tuple, g: Any, y: Any, packed: Any) -> tuple:
        # The node takes this output's gradient as it is: cut from a packed copy it would be
        # C-ordered where eager's may be F-ordered (a transposed product's), and NumPy sums
        # the two orders differently (a bias gradient's last bits).  The packed array's
        # gradient is then only the engine's way to the node: zeros, broadcast.
        self.node.reached.add(self.k)
        self.node.part_grads[self.k] = g
        return (m.broadcast_to(m.zeros((), packed.dtype), packed.shape),)


def with_graphs(backward: Callable[[tuple, Any], tuple], ys: tuple, saved: tuple, leaves: tuple, rest: Any,
                 reach: list | None = None, fresh: tuple = ()) -> Any:
    """A replayed Module's returned value, its outputs joined to one graph node (ReplayNode)."""
    if rest is None:  # the function returned that one tensor
        return apply(ReplayNode(backward, ys[0], saved, fresh=fresh), *leaves)
    parts, at = [], 0
    for y in ys:
        parts.append((at, at + y.size, y.shape, y.dtype))
        at += y.size
    flat = np.empty(at, np.result_type(*[y.dtype for y in ys]))  # (the widest holds each exactly)
    for (a, b, shape, _), y in zip(parts, ys):  # (one copy of each output, whatever its layout)
        flat[a:b].reshape(shape)[...] = y
    node = ReplayNode(backward, flat, saved, parts, reach, fresh)
    packed = apply(node, *leaves)
    return _fill(rest, [apply(_Part(node, k, *part), packed) for k, part in enumerate(parts)])


def _fill(x: Any, outs: list) -> Any:
    return instantiate(x, lambda v: outs[v.at] if type(v) is Hole else v)
