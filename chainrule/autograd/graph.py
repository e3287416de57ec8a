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

from typing import Any, Callable, Iterable

from chainrule.autograd.tensor import Tensor


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
        roots = list(roots)
        try:
            return _grad_nodes(roots, on_freed)
        except RecursionError:  # a graph deeper than the recursion limit: the iterative search
            pass
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
    """``toposort``'s common case, the engine's (only nodes that require grad, no stops): the same
    search written recursively, which costs a quarter less than the iterative one (no iterator
    objects, no explicit stack).  A graph deeper than Python's recursion limit allows raises
    RecursionError, and ``toposort`` runs the iterative search instead."""
    order: list[Tensor] = []
    seen: set = set()
    for root in roots:
        if root._op is not None and root not in seen and root.requires_grad:
            seen.add(root)
            _visit(root, seen, order, on_freed)
    return order


def _visit(t: Tensor, seen: set, order: list, on_freed: Any) -> None:
    """List the unseen graph nodes among t's ancestors, then t (a module-level function, not a
    closure: a closure calling itself is a reference cycle, which would keep ``seen``, and so
    every node of the graph, alive until the garbage collector runs)."""
    ps = t._parents
    for p in ps if ps is not None else _follow(t, None, on_freed):
        if p._op is None or p in seen or not p.requires_grad:
            continue
        seen.add(p)
        _visit(p, seen, order, on_freed)
    order.append(t)


def _follow(t: Tensor, stops: set | None, on_freed: Any) -> tuple:
    """The parents of graph node ``t`` to follow: none for a stop or a freed node."""
    parents = t._parents
    if parents is None:
        if on_freed is not None:
            on_freed(t)
        return ()
    if stops is not None and id(t) in stops:
        return ()
    return parents
