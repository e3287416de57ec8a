"""The one graph walk: ``toposort(roots)`` lists the graph behind some tensors in dependency order.

A Tensor points at its inputs (``_parents``), never at its consumers, so every pass over
the graph — the engine's backward walk, the trace tables, the DOT drawing, the function
transforms' "does this depend on a parameter?" — starts from the outputs and follows
``_parents``. They all take their order from this one function.

The order it guarantees: **every tensor comes after all of its parents that are listed**
(inputs first, the roots last), each tensor once. It is the post-order of a depth-first
search that visits the roots in the order given and each tensor's parents left to right,
so the same graph always gives the same list. Reversed, it is an order in which reverse
mode can visit the nodes: a node after all of its consumers.

The search is iterative (a 100,000-op chain needs no recursion) and keeps its state in the
call, so walks may run inside one another (a custom Function's backward calling
``autograd.grad``) or in several threads at once.
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
        roots: the tensors to start from (outputs); their order fixes the order of the search.
        grad_only: follow only tensors that require grad (the graph reverse mode walks);
            False: every recorded tensor, constants included.
        leaves: list the leaves too (tensors no recorded op produced); by default only
            graph nodes (tensors with an op) are listed.
        stop: tensors that are listed (when reached) but whose own inputs are not followed.
        on_freed: called with each graph node whose inputs were freed by an earlier
            ``backward()`` (it may raise); such a node is listed as an end of the graph.

    Returns:
        a list in which every tensor comes after all of its listed parents, each once.
    """
    if grad_only and not leaves and not stop:
        return _grad_nodes(roots, on_freed)
    stops = {id(t) for t in stop} if stop else None
    order: list[Tensor] = []
    append = order.append
    # Tensors hash by identity (Tensor.__hash__ is object.__hash__), so a set of the tensors
    # themselves is the cheapest visited-mark; nothing is written into the tensors.
    seen: set = set()
    mark = seen.add
    for root in roots:
        if root in seen or (grad_only and not root.requires_grad):
            continue
        mark(root)
        if root._op is None:
            if leaves:
                append(root)
            continue
        # the depth-first search's path: each tensor followed by an iterator over its parents
        # still to visit (one list: cheaper than a list of pairs)
        stack: list[Any] = [root, iter(_follow(root, stops, on_freed))]
        while stack:
            for p in stack[-1]:
                if p._op is None:  # a leaf: nothing to follow
                    if leaves and p not in seen and (p.requires_grad or not grad_only):
                        mark(p)
                        append(p)
                    continue
                if p in seen or (grad_only and not p.requires_grad):
                    continue
                mark(p)
                stack += (p, iter(_follow(p, stops, on_freed)))
                break
            else:  # every parent is listed: the tensor follows them
                stack.pop()
                append(stack.pop())
    return order


def _grad_nodes(roots: Iterable[Tensor], on_freed: Any) -> list[Tensor]:
    """``toposort``'s common case, the engine's (only nodes that require grad, no stops).

    It runs on every backward, so it takes a cheaper road to an order with the same guarantee:
    collect the nodes (no order), then sort them by the tick at which each was recorded
    (``Tensor._clk``, autograd/version.py): a node's inputs were recorded before it.  The
    exception is an input rebound by an in-place op after its consumer was recorded; then
    something was edited after the oldest node's tick, and the search runs again, reading each
    node's inputs as it recorded them (``inputs_as_recorded``)."""
    nodes = _reach(roots, on_freed, False)
    nodes.sort(key=_TICK_OF)
    if nodes and nodes[0]._clk < EDITED[0]:
        nodes = _reach(roots, on_freed, True)
        nodes.sort(key=_TICK_OF)
    return nodes


def _reach(roots: Iterable[Tensor], on_freed: Any, as_recorded: bool) -> list[Tensor]:
    """Every graph node that requires grad and leads to ``roots``, in no particular order."""
    nodes = [r for r in dict.fromkeys(roots) if r._op is not None and r.requires_grad]
    seen = set(nodes)
    mark = seen.add
    append = nodes.append
    edited = EDITED[0]
    for t in nodes:  # (a list grows under its iterator: a breadth-first search)
        ps = t._parents
        if ps is None:
            if on_freed is not None:
                on_freed(t)
            continue
        if as_recorded and t._clk < edited:
            ps = inputs_as_recorded(t)
        for p in ps:
            if p._op is None or p in seen or not p.requires_grad:
                continue
            mark(p)
            append(p)
    return nodes


_TICK_OF = attrgetter("_clk")


def _follow(t: Tensor, stops: set | None, on_freed: Any) -> tuple:
    """The parents of graph node ``t`` to follow: none for a stop or a freed node."""
    parents = t._parents
    if parents is None:
        if on_freed is not None:
            on_freed(t)
        return ()
    if stops is not None and id(t) in stops:
        return ()
    if t._clk < EDITED[0]:
        return inputs_as_recorded(t)
    return parents
