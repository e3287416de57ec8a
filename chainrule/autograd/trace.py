"""The notes' forward- and backward-mode tables, computed from a real graph.

``trace(L, [W])`` lists every node of the graph of ``L`` in topological order
(inputs first), one row each, with

* ``value``     the forward value of the node;
* ``partials``  the local partial derivatives ∂node/∂parent, one per parent
  that depends on the inputs (for elementwise ops and one-element outputs:
  the op's vjp applied to ones; other ops, such as a matrix product with a
  vector output, show none); a parent used twice (``x * x``) appears as
  ``x`` and ``x#1`` (its argument position);
* ``adjoint``   dL/dnode (mode ``"reverse"``): visiting the nodes in reverse
  topological order, each adds adjoint · ∂node/∂parent to its parents;
* ``tangent``   dnode/dinput along a seed direction (mode ``"forward"``):
  visiting the nodes in topological order, each sums ∂node/∂parent · tangent
  of its parents (the op's jvp rule).

Both columns are computed by re-walking the graph with the primitives' own
rules on raw arrays; the user's graph, ``.grad`` fields and grad mode are left
as they were.

    W = cr.tensor(3.0, requires_grad=True); W.name = "W"
    ...
    print(cr.trace(L, [W], mode="both"))
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from chainrule.autograd import graph as _graph
from chainrule.autograd.primitive import table_of
from chainrule.autograd.tensor import Tensor
from chainrule.backend.registry import to_host

_MODES = ("reverse", "forward", "both")


def _topological(output: Tensor, inputs: Sequence[Tensor]) -> list:
    """Nodes that depend on ``inputs`` and lead to ``output``, parents before children.

    The order is ``graph.toposort``'s (parents left to right); ``inputs`` are treated
    as sources even if they are not leaves.
    """

    def freed(t: Tensor) -> None:
        raise RuntimeError(
            f"trace: the graph of '{t._op.name}' was freed by backward(); build the table "
            "before calling backward() (or pass retain_graph=True)"
        )

    stop = {id(t) for t in inputs}
    order = _graph.toposort([output], grad_only=False, leaves=True, stop=inputs, on_freed=freed)
    depends: dict = {}  # id -> whether the node depends on an input
    for t in order:
        parents = None if t._op is None else t._parents
        depends[id(t)] = id(t) in stop or (parents is not None and any(depends.get(id(p), False) for p in parents))
    nodes = [t for t in order if depends[id(t)]]
    # inputs first, in the order given, then the rest in topological order
    ins = [t for t in inputs if depends.get(id(t))]
    return ins + [t for t in nodes if id(t) not in stop]


class Table:
    """The rows of a trace (``.rows``: list of dicts) with text and Markdown renderings."""

    def __init__(self, rows: list, mode: str, wrt: str) -> None:
        self.rows = rows
        self.mode = mode
        self.wrt = wrt

    def _grid(self) -> tuple[list, list]:
        """The header and each row's cells: the tangent column unless reverse mode, the adjoint unless forward."""
        computed = [] if self.mode == "reverse" else [("tangent", f"tangent d·/d{self.wrt}")]  # (row key, heading)
        if self.mode != "forward":
            computed.append(("adjoint", "adjoint dL/d·"))
        header = ["node", "op", "parents", "value", "local partials"] + [h for _, h in computed]
        cells = []
        for r in self.rows:
            partials = ", ".join(f"∂/∂{k}={_fmt(v)}" for k, v in r["partials"].items()) or "-"
            row = [r["label"], r["op"], ", ".join(r["parents"]) or "-", _fmt(r["value"]), partials]
            cells.append(row + [_fmt(r[k]) for k, _ in computed])
        return header, cells

    def __str__(self) -> str:
        header, cells = self._grid()
        widths = [max(len(h), *(len(c[i]) for c in cells)) if cells else len(h) for i, h in enumerate(header)]
        lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths)).rstrip()]
        lines.append("  ".join("-" * w for w in widths))
        lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return str(self)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, key: Any) -> dict:
        """A row by position or by label."""
        if isinstance(key, str):
            for r in self.rows:
                if r["label"] == key:
                    return r
            raise KeyError(f"trace table has no row labelled {key!r}")
        return self.rows[key]

    def to_markdown(self) -> str:
        header, cells = self._grid()
        lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
        for row in cells:
            lines.append("| " + " | ".join(c.replace("|", "\\|") for c in row) + " |")
        return "\n".join(lines)


def _fmt(a: np.ndarray | None) -> str:
    """A cell: a number, a short flat list (with its shape when not 1-D), or the shape alone."""
    if a is None:
        return "-"
    if a.size == 1:
        return f"{a.item():.8g}"
    if a.size <= 6:
        text = "[" + ", ".join(f"{v:.5g}" for v in a.reshape(-1).tolist()) + "]"
        return text if a.ndim == 1 else f"{text} ({'x'.join(map(str, a.shape))})"
    return f"<{a.dtype} array of shape {tuple(a.shape)}>"


def _on_host(m: Any, a: Any) -> np.ndarray:
    """A copy of array ``a`` as a NumPy array: the table's cells are host values, for printing."""
    return to_host(m.copy(a))


def _local_partials(t: Tensor, m: Any, label_of: Any, in_rows: set) -> dict:
    """{parent label: ∂t/∂parent on the host} for the parents with a row: the vjp applied to ones.

    For elementwise ops this is the elementwise derivative; for a one-element output the gradient
    of t with respect to the parent; other ops show none.  A parent used twice (x * x) gets
    ``label#argument`` the second time.
    """
    op = t._op
    if not (op.elementwise or t._array.size == 1):
        return {}
    need = tuple(p.requires_grad for p in t._parents)
    grads = op.vjp(m, need, m.ones_like(t._array), t._array, *[p._array for p in t._parents])
    out: dict = {}
    for i, (p, g, n) in enumerate(zip(t._parents, grads, need)):
        if g is None or not n or id(p) not in in_rows:
            continue
        g = m.asarray(g)
        if not op.elementwise and g.shape != p.shape:
            g = m.sum_to(g, p.shape)
        elif op.elementwise and g.shape != t.shape:
            g = m.broadcast_view(g, t.shape)
        key = label_of(p)
        out[key if key not in out else f"{key}#{i}"] = _on_host(m, g)
    return out


def trace(
    output: Tensor,
    inputs: Sequence[Tensor] | Tensor,
    mode: str = "reverse",
    direction: Any = None,
) -> Table:
    """The forward/backward table of the computation of ``output`` from ``inputs``.

    ``mode`` is ``"reverse"`` (adjoints dL/dnode, L = ``output``, seeded with
    ones), ``"forward"`` (tangents dnode/dinput along ``direction``: an
    array shaped like ``inputs[0]``, default all ones, i.e. d/d``inputs[0]``
    for a one-element input; the other inputs get zero tangent) or ``"both"``.
    Node labels are ``tensor.name`` when set, else the op name and its
    position (``mul3``); inputs without a name are ``input0``, ``input1``...
    Nodes that do not depend on an input (constants) get no row; they are
    shown in the parents list by their name, or ``const``.
    """
    if mode not in _MODES:
        raise ValueError(f"trace: mode must be one of {_MODES}, got {mode!r}")
    inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    if not inputs:
        raise ValueError("trace: give at least one input tensor")
    for i, x in enumerate(inputs):
        if not isinstance(x, Tensor):
            raise TypeError(f"trace: input {i} must be a Tensor, got {type(x).__name__}")
    if not isinstance(output, Tensor):
        raise TypeError(f"trace: output must be a Tensor, got {type(output).__name__}")
    nodes = _topological(output, inputs)
    if not nodes or nodes[-1] is not output:
        raise ValueError("trace: the output does not depend on any of the inputs")
    input_ids = {id(x) for x in inputs}

    labels = {id(x): x.name or f"input{i}" for i, x in enumerate(inputs)}
    for k, t in enumerate(nodes):
        if id(t) not in labels:
            labels[id(t)] = t.name or f"{t._op.name}{k}"
    in_rows = set(labels)

    def label_of(p: Tensor) -> str:
        return labels.get(id(p)) or p.name or "const"

    m = table_of([output, *inputs], "trace")
    rows = []
    for t in nodes:
        is_source = id(t) in input_ids
        rows.append(
            {
                "label": labels[id(t)],
                "op": "input" if is_source else t._op.name,
                "parents": [] if is_source else [label_of(p) for p in t._parents],
                "value": _on_host(m, t._array),
                "partials": {} if is_source else _local_partials(t, m, label_of, in_rows),
                "tangent": None,
                "adjoint": None,
            }
        )

    if mode in ("forward", "both"):
        x0 = inputs[0]
        dtype = x0._array.dtype
        if direction is None:
            seed = m.ones_like(x0._array)
        else:
            seed = m.astype(direction._array, dtype) if isinstance(direction, Tensor) else m.from_host(direction, dtype)
        if seed.shape != x0.shape:
            raise ValueError(f"trace: direction must have inputs[0]'s shape {tuple(x0.shape)}, got {tuple(seed.shape)}")
        tangent: dict = {}

        def zero(p: Tensor) -> Any:  # the tangent of a parent that depends on no input
            return m.zeros(p.shape, p.dtype if p.dtype.kind == "f" else np.float64)

        for t, row in zip(nodes, rows):
            if id(t) in input_ids:
                dx = seed if t is x0 else m.zeros_like(t._array)
            else:
                dxs = tuple(tangent[id(p)] if id(p) in tangent else zero(p) for p in t._parents)
                dy = t._op.jvp(m, dxs, t._array, *[p._array for p in t._parents])
                dx = m.broadcast_view(m.asarray(dy), t.shape)
            tangent[id(t)] = dx
            row["tangent"] = _on_host(m, dx)

    if mode in ("reverse", "both"):
        adjoint: dict = {id(output): m.ones_like(output._array)}
        for t in reversed(nodes):
            if id(t) not in adjoint:
                adjoint[id(t)] = m.zeros_like(t._array)
            g = adjoint[id(t)]
            if id(t) in input_ids:
                continue
            need = tuple(id(p) in in_rows for p in t._parents)
            grads = t._op.vjp(m, need, g, t._array, *[p._array for p in t._parents])
            for p, gp, n in zip(t._parents, grads, need):
                if gp is None or not n:
                    continue
                gp = m.asarray(gp)
                if gp.shape != p.shape:
                    gp = m.sum_to(gp, p.shape)
                adjoint[id(p)] = gp if id(p) not in adjoint else adjoint[id(p)] + gp
        for t, row in zip(nodes, rows):
            row["adjoint"] = _on_host(m, adjoint[id(t)])

    return Table(rows, mode, labels[id(inputs[0])])
