"""The computational graph as Graphviz DOT text (``cr.to_dot``).

    print(cr.to_dot(loss))          # paste into `dot -Tsvg` or an online viewer

One box per tensor: graph nodes show the op that made them, leaves show
``leaf`` (blue when they require grad: the parameters, grey when constant);
every label carries the tensor's name (if set), shape and dtype.  Edges go
parent -> child, in the direction the values flow in the forward pass
(backward walks them in reverse).
"""

from __future__ import annotations

from chainrule.autograd import graph as _graph
from chainrule.autograd.tensor import Tensor


def _label(t: Tensor, kind: str) -> str:
    parts = ([t.name] if t.name else []) + [kind, f"{tuple(t.shape)} {t._array.dtype}"]
    return "\\n".join(p.replace('"', '\\"') for p in parts)


def to_dot(output: Tensor, name: str = "chainrule") -> str:
    """DOT text of the graph that produced ``output`` (every tensor it was computed from).

    The tensors come from ``graph.toposort`` (iterative: no recursion limit).  A graph already freed
    by ``backward()`` shows the freed nodes without their inputs.
    """
    if not isinstance(output, Tensor):
        raise TypeError(f"to_dot: expected a Tensor, got {type(output).__name__}")
    order = _graph.toposort([output], grad_only=False, leaves=True)[::-1]
    ids = {id(t): f"n{k}" for k, t in enumerate(order)}
    lines = [f"digraph {name} {{", "  rankdir=LR;", '  node [shape=box, fontname="monospace"];']
    for t in order:
        if t._op is not None:
            attrs = f'label="{_label(t, t._op.name)}"'
            if t is output:
                attrs += ", style=filled, fillcolor=lightyellow"
        elif t.requires_grad:
            attrs = f'label="{_label(t, "leaf")}", style=filled, fillcolor=lightblue'
        else:
            attrs = f'label="{_label(t, "const")}", style=filled, fillcolor=lightgrey'
        lines.append(f"  {ids[id(t)]} [{attrs}];")
    for t in order:
        for p in t._parents or ():
            lines.append(f"  {ids[id(p)]} -> {ids[id(t)]};")
    lines.append("}")
    return "\n".join(lines) + "\n"
