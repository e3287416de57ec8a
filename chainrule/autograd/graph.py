"""The one graph walk: ``toposort(roots)`` lists the graph behind some tensors in dependency order.

A Tensor points at its inputs (``_parents``), never at its consumers, so every pass over
the graph — the engine's backward walk, the trace tables, the DOT drawing, the function
transforms' "does this depend on a parameter?" — starts from the outputs and follows
``_parents``. They all take their order from this one function.

The order it guarantees: **every tensor comes after all of its parents that are listed**
(inputs first, the roots last), each tensor once. Reversed, it is an order in which reverse
mode can visit the nodes: a node after all of its consumers.

How: collect the graph (a breadth-first search marking tensors in an identity set), then
sort the recorded nodes by the tick at which each was recorded (``Tensor._clk``,
autograd/version.py): an op's inputs exist before it runs, so they were recorded earlier.
The leaves (tensors no recorded op produced) come first, in the order the search met them.
So the nodes are listed in the order they were computed, and the same graph always gives the
same list. An in-place op while recording is the one thing that can give an input a later
tick than its consumer (``x`` becomes the output of the edit); then the search runs again
and reads such inputs as they were when the consumer was recorded (``inputs_as_recorded``).

The search keeps its state in the call (no recursion, nothing written into the tensors but
those corrected inputs), so walks may run inside one another (a custom Function's backward
calling ``autograd.grad``) or in several threads at once.
"""

from __future__ import annotations

from operator import attrgetter
from typing import Any, Callable, Iterable

from chainrule.autograd.tensor import Tensor
from chainrule.autograd.version import EDITED, inputs_as_recorded


def toposort(
    roots: Iterable[Tensor],
    *,
    grad_only: bool = True,
    leaves: bool = False,
    stop: Iterable[Tensor] = (),
    on_freed: Callable[[Tensor], Any] | None = None,
) -> list[Tensor]:
    """The tensors that ``roots`` were computed from (roots included), parents before children.

    Args:
        roots: the tensors to start from (outputs).
        grad_only: follow only tensors that require grad (the graph reverse mode walks);
            False: every recorded tensor, constants included.
        leaves: list the leaves too (first); by default only graph nodes (tensors with an op).
        stop: tensors that are listed (when reached) but whose own inputs are not followed.
        on_freed: called with each graph node whose inputs were freed by an earlier
            ``backward()`` (it may raise); such a node is listed as an end of the graph.

    Returns:
        a list in which every tensor comes after all of its listed parents, each once.
    """
    roots = list(roots)
    stops = {id(t) for t in stop} if stop else None
    found, nodes = _reach(roots, grad_only, leaves, stops, on_freed, False)
    nodes.sort(key=_TICK_OF)
    if nodes and nodes[0]._clk < EDITED[0]:  # something was edited in place after a node
        found, nodes = _reach(roots, grad_only, leaves, stops, on_freed, True)
        nodes.sort(key=_TICK_OF)
    return found + nodes if leaves else nodes


def _reach(roots: list, grad_only: bool, leaves: bool, stops: set | None, on_freed: Any,
           as_recorded: bool) -> tuple[list, list]:
    """(the leaves if ``leaves``, the graph nodes) that lead to ``roots``, in the order the search
    met them.  (The tests are ordered for the engine's case: no leaves, only nodes needing grad.)"""
    found: list[Tensor] = []
    nodes: list[Tensor] = []
    seen: set = set()  # (Tensors hash by identity: their elementwise __eq__ is never consulted)
    mark = seen.add
    edited = EDITED[0]
    for r in roots:
        if r not in seen and (r.requires_grad or not grad_only):
            mark(r)
            (found if r._op is None else nodes).append(r)
    append = nodes.append
    # inputs to read otherwise than from _parents: none for a stop; as recorded after an edit
    special = stops is not None or as_recorded
    for t in nodes:  # (a list grows under its iterator: a breadth-first search)
        ps = t._parents
        if ps is None:
            if on_freed is not None:
                on_freed(t)
            continue
        if special:
            if stops is not None and id(t) in stops:
                continue
            if as_recorded and t._clk < edited:
                ps = inputs_as_recorded(t)
        for p in ps:
            if p._op is None:  # a leaf
                if leaves and p not in seen and (p.requires_grad or not grad_only):
                    mark(p)
                    found.append(p)
                continue
            if p in seen or (grad_only and not p.requires_grad):
                continue
            mark(p)
            append(p)
    return found, nodes


_TICK_OF = attrgetter("_clk")
