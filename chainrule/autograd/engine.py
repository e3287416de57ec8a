"""Reverse mode: walk the graph backwards, in reverse topological order.

The algorithm of the notes ("visit each node in reverse topological order; at
each node, add its contribution to the partial derivatives of its parents"):

1. From the outputs, list every node that leads to a leaf needing a gradient,
   parents before children (``graph.toposort``: the one graph walk, iterative,
   so a 100,000-op chain is fine).
2. Seed the outputs with dL/dL (ones for a scalar), then visit the list from
   the end: each node comes after all of its consumers, so its adjoint is
   complete when it is reached.
3. At each node, ask its primitive for the vector-Jacobian products, reduce
   each to its input's shape (``sum_to``), and *add* it to the input's adjoint.
4. Leaves receive their adjoint in ``.grad`` (accumulating with what is there);
   a leaf with a post-accumulate-grad hook gets it, and runs the hook, the
   moment its last contribution arrives, while the walk goes on.

The adjoints and the list belong to the call (not to the tensors), so a
custom op's backward may call ``autograd.grad`` on any graph, this one included.
Unless ``retain_graph`` is set, each node's link to its inputs is cut as soon
as it has been processed, so intermediate arrays are freed during the walk.
"""

from __future__ import annotations

import warnings
from functools import partial
from typing import Any, NoReturn, Sequence

import numpy as np

from chainrule.autograd import graph as _graph
from chainrule.autograd.grad_mode import DIFFERING, HOOKS, STATE
from chainrule.autograd.host_steps import untraceable
from chainrule.autograd.node import (
    GradientEdge,
    edge_target,
    run_leaf_posthooks,
    run_leaf_prehooks,
    run_posthooks,
    run_prehooks,
)
from chainrule.autograd.primitive import kernel, table_of
from chainrule.autograd.profiler import _close, _open_backward
from chainrule.autograd.saved import unpacked
from chainrule.autograd.tensor import Tensor
from chainrule.autograd.version import EDITED, check_saved
from chainrule.backend import ArrayMath, sum_to
from chainrule.backend.registry import TRACERS

_FREED_MSG = (
    "Trying to backward through the graph a second time (or to use saved values after "
    "they were freed): the graph of {op} was freed by an earlier backward(). Pass "
    "retain_graph=True to the first backward() if you need to go through it again."
)


_ndarray = np.ndarray


def _accumulate(total: Any, g: Any) -> Any:
    """total + g as a new array (NumPy returns a scalar when both are 0-d)."""
    s = total + g
    return s if type(s) is _ndarray or type(total) is not _ndarray else ArrayMath.asarray(s)


def _tensor_math():
    # The differentiable math table lives one layer up (ops); it registers itself there.
    from chainrule.ops.tensor_math import TensorMath

    return TensorMath


def _as_list(x: Any) -> list:
    if x is None:
        return []
    if isinstance(x, (Tensor, np.ndarray, GradientEdge)):  # (an edge is a tuple: one item all the same)
        return [x]
    return list(x)


def _seed(out: Tensor, grad: Any, create_graph: bool) -> Any:
    if grad is None:
        if out._array.size != 1:
            raise RuntimeError(
                f"backward: grad can be implicitly created only for scalar outputs; the output "
                f"has shape {tuple(out.shape)}: pass gradient= (dL/doutput) of that shape"
            )
        # (a 0-d array reshaped: the table's ones costs 4x more for one element)
        g: Any = table_of((out._array,), "backward").scalar(1, out._array.dtype).reshape(out.shape)
        return Tensor._wrap(g) if create_graph else g
    if isinstance(grad, Tensor):
        g = grad if create_graph else grad._array
    else:  # host data (a list, a NumPy array): onto the output's device
        g = table_of((out._array,), "backward").from_host(grad, out._array.dtype)
        if create_graph:
            g = Tensor._wrap(g)
    if tuple(g.shape) != out.shape:
        raise RuntimeError(
            f"backward: gradient has shape {tuple(g.shape)} but the output has shape {tuple(out.shape)}"
        )
    return g


def _freed(t: Tensor) -> NoReturn:
    raise RuntimeError(_FREED_MSG.format(op=t._op.name))


def _count_hooked(order: list) -> dict:
    """For each leaf with a post-accumulate-grad hook: how many graph edges lead into it.

    The walks count these down and run the leaf's hooks as soon as its last contribution
    has arrived, not at the end (only computed once such a hook exists: ``HOOKS.post_acc``)."""
    hooked: dict = {}
    for t in order:
        for p in t._parents:
            if p._op is None and p.requires_grad:
                ex = getattr(p, "_extra", None)
                if ex and ex.get("post_acc"):
                    hooked[p] = hooked.get(p, 0) + 1
    return hooked


def run_backward(
    outputs: Sequence[Tensor],
    grad_outputs: Sequence[Any],
    retain_graph: bool,
    create_graph: bool,
    capture: dict | None = None,
    accumulate: bool = True,
) -> None:
    """The walk itself (see the module docstring).

    ``capture`` maps id(tensor) -> None for tensors whose adjoint should be
    returned instead of (or as well as) accumulated: ``autograd.grad``.

    All the state of one backward call lives here, not in the tensors: ``order`` (the graph
    nodes, parents first: the walk pops from the end, so each node comes after all of its
    consumers and the list lets go of it as it is visited) and ``grads`` (node -> the sum of
    the gradients its consumers have sent so far; popped when the node is visited). So a
    custom op's backward may run another backward, on any graph, in the middle of this one.
    """
    m = _tensor_math() if create_graph else table_of([o._array for o in outputs], "backward")
    order = _graph.toposort([o for o in outputs if o.requires_grad], on_freed=_freed)
    hooked: dict | None = _count_hooked(order) if HOOKS.post_acc else None  # leaf -> edges to come
    grads: dict = {}
    for out, g in zip(outputs, grad_outputs):
        if not out.requires_grad:
            raise RuntimeError(
                "backward: element 0 of tensors does not require grad and does not have a grad_fn"
            )
        if out._op is None:  # a leaf: its gradient is just the seed
            _deliver_leaf(out, g, create_graph, capture, accumulate)
            continue
        prev = grads.get(out)
        grads[out] = g if prev is None else prev + g
    # The common case (plain loss.backward()) takes the lean loop; hooks, capture
    # (autograd.grad), create_graph, anomaly checks and a recording profiler take the general one.
    # (The last two put this thread in DIFFERING: one list test when neither is on.)
    simple = not (
        create_graph or capture is not None or HOOKS.any
        or (DIFFERING and (STATE.anomaly or STATE.profiler is not None))
    )
    prev_enabled, prev_unwatched = STATE.enabled, STATE.unwatched
    STATE.enabled = create_graph
    STATE.unwatched = simple  # (nobody sees an intermediate's gradient: see grad_mode._State)
    ends: list = []  # callables to run once this call's walk is done (autograd/graph.py)
    calls = STATE.backward_ends
    calls.append(ends)
    try:
        if simple:
            _walk_simple(order, grads, retain_graph, hooked or None, m)
        else:
            _walk(order, grads, m, retain_graph, create_graph, capture, accumulate, hooked or None)
    finally:
        STATE.enabled, STATE.unwatched = prev_enabled, prev_unwatched
        calls.pop()
    for end in ends:
        end()


def _skip(t: Tensor, retain_graph: bool, hooked: dict | None, deliver: Any) -> None:
    """A node no gradient reached (its consumers' ops returned None for it): nothing to pass
    on. Its edges into hooked leaves are done all the same, and its graph is freed."""
    parents = t._parents
    if parents is None:
        _freed(t)
    if not retain_graph:
        t._parents = None
    if hooked is not None:
        for p in parents:
            if p in hooked:
                _edge_done(p, hooked, deliver)


def _edge_done(p: Tensor, hooked: dict, deliver: Any) -> None:
    """One edge into hooked leaf ``p`` is done; at the last one, ``deliver(p)`` (and its hooks)."""
    left = hooked[p] - 1
    if left:
        hooked[p] = left
    else:  # its last contribution: its gradient is final now
        del hooked[p]
        deliver(p)


def _walk_simple(order: list, grads: dict, retain_graph: bool, hooked: dict | None, m: Any) -> None:
    """Reverse-topological walk on raw arrays, gradients accumulated into leaves' .grad.

    A leaf's contributions are collected and added up once at the end: a weight used
    at every step of a loop gets one ``m.sum_of`` instead of one addition per use.
    """
    pop = order.pop
    take = grads.pop
    get = grads.get
    edited = EDITED
    leaf_parts: dict = {}  # leaf -> list of its gradient contributions (owned arrays)
    deliver = None if hooked is None else partial(_deliver_parts, leaf_parts, m)

    while order:
        t = pop()
        g = take(t, None)
        if g is None:
            _skip(t, retain_graph, hooked, deliver)
            continue
        if t._clk < edited[0]:  # something was modified in place since t was recorded
            check_saved(t)
        parents = t._parents
        if not retain_graph:
            t._parents = None
        # (input, its gradient) pairs; one and two inputs are spelt out (no zip, no star-args)
        try:
            n = len(parents)
        except TypeError:  # None: freed meanwhile (by a backward run inside this one)
            _freed(t)
        if n == 1:
            p = parents[0]
            edges: Any = ((p, t._op.vjp(m, t._need, g, t._array, p._array)[0]),)
        elif n == 2:
            a, b = parents
            ga, gb = t._op.vjp(m, t._need, g, t._array, a._array, b._array)
            edges = ((a, ga), (b, gb))
        else:
            edges = zip(parents, t._op.vjp(m, t._need, g, t._array, *[p._array for p in parents]))
        for p, gp in edges:
            if gp is None or not p.requires_grad:
                if hooked is not None and p in hooked:
                    _edge_done(p, hooked, deliver)
                continue
            pdata = p._array
            if gp.shape != pdata.shape:
                gp = sum_to(gp, pdata.shape)
            if gp.dtype is not pdata.dtype and gp.dtype != pdata.dtype:
                gp = gp.astype(pdata.dtype)
            if p._op is None:  # a leaf: collect its contributions
                parts = leaf_parts.get(p)
                if parts is None:
                    leaf_parts[p] = [gp if _owned(t._op, gp) else m.copy(gp)]
                elif gp.size > _SUM_AT_END:  # a large array: add now, keep one running sum
                    parts[0] = parts[0] + gp
                else:
                    parts.append(gp)
                if hooked is not None and p in hooked:  # post-accumulate-grad hooks
                    _edge_done(p, hooked, deliver)
                continue
            buf = get(p)
            grads[p] = gp if buf is None else buf + gp
    for p, parts in leaf_parts.items():
        _leaf_done(p, parts, m)


def _owned(op: Any, gp: Any) -> bool:
    """Whether gradient ``gp``, which ``op``'s vjp returned, may become a leaf's ``.grad`` as it is.

    One gradient array may be handed to several inputs (add), or be a view, or be the caller's
    seed; the copy is skipped only when the op promises new arrays and this one owns its memory
    (an ndarray, or a tracer's array, which answers ``base`` as NumPy's would: so a capture holds
    no more than eager)."""
    return op.fresh_grads and (type(gp) is _ndarray or type(gp) in TRACERS) and gp.base is None


def _deliver_parts(leaf_parts: dict, m: Any, p: Tensor) -> None:
    """The fast walk's delivery of hooked leaf p, once its gradient is final: .grad, then hooks."""
    parts = leaf_parts.pop(p, None)
    if parts is not None:
        _leaf_done(p, parts, m)
        _post_accumulate(p)


def _leaf_done(p: Tensor, parts: list, m: Any) -> None:
    """p.grad += the sum of its contributions (the fast walk's delivery)."""
    g = parts[0] if len(parts) == 1 else m.sum_of(parts)  # one pass over all contributions
    if p.grad is None:
        p.grad = Tensor._wrap(g)
    else:
        p.grad._array = _accumulate(p.grad._array, g)


def _post_accumulate(p: Tensor) -> None:
    """Run p's post-accumulate-grad hooks: ``hook(p)``, its .grad final for this backward."""
    hooks = list(p._extra["post_acc"].values())
    if hooks:
        untraceable("a post-accumulate-grad hook ran in backward (a replay would not run its Python)")
    for hook in hooks:
        hook(p)


_SUM_AT_END = 4096  # elements: smaller leaf gradients are summed once, at the end of the walk


def _walk(
    order: list,
    grads: dict,
    m: Any,
    retain_graph: bool,
    create_graph: bool,
    capture: Any,
    accumulate: bool,
    hooked: Any = None,
) -> None:
    """The general walk: hooks, retain_grad, capture for autograd.grad, create_graph, anomaly,
    a recording profiler (an event per node).

    A leaf's contributions are summed first and delivered once at the end, so that
    its hooks see the whole gradient (as in PyTorch), not one part per use.
    """
    anomaly = STATE.anomaly
    prof = STATE.profiler
    ev = None
    # autograd.grad / backward(inputs=): PyTorch runs only the nodes that lead to an input, so
    # only those run their Node hooks (the walk itself still visits the others)
    needed = _leading_to(order, capture) if capture is not None and not accumulate and HOOKS.any else None
    leaves: dict = {}  # leaf -> its summed gradient (tensors hash by identity)
    owned: set = set()  # the leaves whose summed gradient is this walk's own array (see _owned)

    def deliver(p: Tensor) -> None:
        if p in leaves:
            _deliver_leaf(p, leaves.pop(p), create_graph, capture, accumulate, p in owned)

    while order:
        t = order.pop()
        g = grads.pop(t, None)
        if g is None:
            _skip(t, retain_graph, hooked, deliver)
            continue
        op = t._op
        parents = t._parents
        if parents is None:
            _freed(t)
        extra = getattr(t, "_extra", None)
        # something was modified in place since t was recorded (values packed by
        # saved_tensors_hooks are the hooks' business: no check, as in PyTorch)
        if t._clk < EDITED[0] and not (extra and "saved" in extra):
            check_saved(t)
        if extra:
            g = _node_hooks(t, g, extra, create_graph, capture)
        if capture is not None and id(t) in capture:
            capture[id(t)] = g if capture[id(t)] is None else capture[id(t)] + g
        node = extra.get("node") if extra else None  # its Node's hooks (autograd/node.py)
        if node is not None and needed is not None and t not in needed:
            node = None
        if node is not None:
            g = run_prehooks(t, node, g, m, create_graph)
        if prof is not None:  # one event per node's backward, to the end of its gradients' hand-over
            ev = _open_backward(op, parents)
        saved = extra.get("saved") if extra else None
        if saved is not None:  # values packed by saved_tensors_hooks: the vjp reads them unpacked
            y_in, x_in = unpacked(t, parents, saved)
            if not retain_graph:
                del extra["saved"]  # type: ignore[union-attr]  # (extra is a dict here)
        else:
            y_in, x_in = t, parents
        if create_graph:
            vjps = op.vjp(m, t._need, g, y_in, *x_in)
        else:
            vjps = op.vjp(m, t._need, g, y_in._array, *[p._array for p in x_in])
        fresh = op.fresh_grads and not create_graph
        if node is not None and node.post:
            vjps = run_posthooks(t, node, parents, vjps, g, m, create_graph)
            fresh = False  # (a hook's arrays: others may hold them)
        del g
        if anomaly:
            from chainrule.autograd.anomaly import check_backward

            check_backward(t, vjps)
        if not retain_graph:
            t._parents = None
        for p, gp in zip(parents, vjps):
            if gp is None or not p.requires_grad:
                if hooked is not None and p in hooked:
                    _edge_done(p, hooked, deliver)
                continue
            if gp.shape != p._array.shape:
                gp = m.sum_to(gp, p._array.shape)
            if gp.dtype != p._array.dtype:
                gp = m.astype(gp, p._array.dtype)
            if p._op is None:
                prev = leaves.get(p)
                if prev is None:
                    leaves[p] = gp
                    if fresh and _owned(op, gp):
                        owned.add(p)
                else:
                    leaves[p] = total = prev + gp
                    if type(total) is _ndarray or type(total) in TRACERS:  # (a sum is a new array)
                        owned.add(p)
                if hooked is not None and p in hooked:
                    _edge_done(p, hooked, deliver)
                continue
            buf = grads.get(p)
            grads[p] = gp if buf is None else buf + gp
        if prof is not None:
            _close(ev)
    for p in list(leaves):  # (popped: each sum is freed once delivered, as a copy may be made of it)
        _deliver_leaf(p, leaves.pop(p), create_graph, capture, accumulate, p in owned)


def _leading_to(order: list, capture: dict) -> set:
    """The nodes of ``order`` (parents first) from which some captured tensor lies below."""
    found: set = set()
    for t in order:
        for p in t._parents:
            if id(p) in capture or p in found:
                found.add(t)
                break
    return found


def _run_hooks(t: Tensor, hooks: Any, g: Any, create_graph: bool) -> Any:
    """g = dL/dt after t's hooks: each gets the gradient as a Tensor and may return a new one."""
    if not hooks:
        return g
    untraceable("a tensor hook ran in backward (a replay would not run its Python)")
    for hook in list(hooks.values()):  # (a hook may remove itself)
        res = hook(g if create_graph else Tensor._wrap(g))
        if res is not None:
            g = res if create_graph else (res._array if isinstance(res, Tensor) else
                                          table_of((t,), "hook").asarray(res, t._array.dtype))
    return g


def _node_hooks(t: Tensor, g: Any, extra: dict, create_graph: bool, capture: Any) -> Any:
    g = _run_hooks(t, extra.get("hooks"), g, create_graph)
    if extra.get("retain_grad"):
        untraceable("retain_grad() kept a gradient in backward (a replay would not set .grad)")
        gt = g if create_graph else Tensor._wrap(table_of((t,), "retain_grad").copy(g))
        t.grad = gt if t.grad is None else Tensor._wrap(t.grad._array + gt._array)
    return g


def _deliver_leaf(p: Tensor, g: Any, create_graph: bool, capture: Any, accumulate: bool,
                  owned: bool = False) -> None:
    """Leaf p's summed gradient g: its hooks, then ``autograd.grad``'s capture or ``.grad``.
    ``owned``: g is the walk's own array, which ``.grad`` may take without a copy (a hook that
    ran may have kept it, so then it is copied)."""
    extra = getattr(p, "_extra", None)
    if extra and "hooks" in extra:
        g = _run_hooks(p, extra["hooks"], g, create_graph)
        owned = False
    if capture is not None:
        owned = False  # (the capture keeps g too)
        if id(p) in capture:
            capture[id(p)] = g if capture[id(p)] is None else capture[id(p)] + g
        if not accumulate:
            return
    _accumulate_leaf(p, g, create_graph, extra, owned)


def _accumulate_leaf(p: Tensor, g: Any, create_graph: bool, extra: Any, owned: bool = False) -> None:
    """What PyTorch's AccumulateGrad node does: its pre-hooks, p.grad += g, the post-accumulate-grad
    hooks, its hooks."""
    node = extra.get("node") if extra and p._op is None else None  # (a non-leaf's is its op's node)
    if node is not None:
        g = run_leaf_prehooks(p, node, g, create_graph)
        owned = False
    _add_to_grad(p, g, create_graph, owned)
    if extra and "post_acc" in extra:
        _post_accumulate(p)
    if node is not None:
        run_leaf_posthooks(node, g, create_graph)


def _add_to_grad(p: Tensor, g: Any, create_graph: bool, owned: bool = False) -> None:
    """p.grad += g (a Tensor with create_graph, else an array; ``owned``: nobody else holds g)."""
    if create_graph:
        p.grad = g if p.grad is None else p.grad + g
    elif p.grad is None:
        # Own the array: the same gradient array may be handed to several inputs (add).
        p.grad = Tensor._wrap(g if owned else table_of((p,), "backward").copy(g))  # (g may be a NumPy scalar)
    else:
        p.grad._array = _accumulate(p.grad._array, g)


def _seeds(outs: list, grad_outputs: Any, create_graph: bool, where: str) -> list:
    """dL/d(output) for each output: the given ones (None for a one-element output: 1).

    An output given as a ``GradientEdge`` is replaced in ``outs`` by the graph tensor behind it."""
    gouts = _as_list(grad_outputs) if grad_outputs is not None else [None] * len(outs)
    if len(gouts) != len(outs):
        raise RuntimeError(f"{where}: got {len(outs)} tensors and {len(gouts)} gradients")
    seeds = []
    for i, (o, g) in enumerate(zip(outs, gouts)):
        if not isinstance(o, GradientEdge):
            seeds.append(_seed(o, g, create_graph))
            continue
        t, k = edge_target(o)
        outs[i] = t
        if k is None:
            seeds.append(_seed(t, g, create_graph))
            continue
        # one output of a packed custom Function: its seed, placed in its part of the packed gradient
        op = t._op
        table = table_of((t._array,), where)
        start, stop = op.spans[k][:2]
        s = _seed(Tensor._wrap(op._unpack(table, t._array, k)), g, create_graph)
        m = _tensor_math() if create_graph else table
        s = m.astype(m.reshape(s, (stop - start,)), t._array.dtype)  # (into the pack's dtype)
        seeds.append(m.pad(s, ((start, t._array.size - stop),)))
    return seeds


def _targets(inputs: list) -> list:
    """(tensor, output index or None) for each input; a ``GradientEdge`` names the graph tensor behind
    it (and, for one output of a packed custom Function, which part of its gradient)."""
    return [edge_target(t) if isinstance(t, GradientEdge) else (t, None) for t in inputs]


def _gradients_of(inputs: list, outs: list, seeds: list, retain_graph: bool, create_graph: bool) -> list:
    """Walk back from ``outs`` and return dL/dinput for each of ``inputs`` (None where no gradient
    arrived), leaving every ``.grad`` as it was."""
    capture = {id(t): None for t in inputs}
    run_backward(outs, seeds, retain_graph, create_graph, capture=capture, accumulate=False)
    return [capture[id(t)] for t in inputs]


def backward(
    tensors: Any,
    grad_tensors: Any = None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
    inputs: Any = None,
) -> None:
    """``chainrule.autograd.backward``: accumulate gradients of ``tensors`` into leaves' ``.grad``."""
    outs = _as_list(tensors)
    seeds = _seeds(outs, grad_tensors, create_graph, "backward")
    retain_graph = create_graph if retain_graph is None else retain_graph
    if inputs is None:
        run_backward(outs, seeds, retain_graph, create_graph)
        return
    targets = _targets(_as_list(inputs))
    inputs = []
    for t, k in targets:
        if k is not None:
            raise RuntimeError(
                "backward(inputs=...): an edge to one output of a custom Function with several outputs "
                "has no tensor whose .grad could accumulate it; use autograd.grad(outputs, edge)"
            )
        inputs.append(t)
    for t, g in zip(inputs, _gradients_of(inputs, outs, seeds, retain_graph, create_graph)):
        if g is not None:
            _accumulate_leaf(t, g, create_graph, getattr(t, "_extra", None))


def grad(
    outputs: Any,
    inputs: Any,
    grad_outputs: Any = None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
    only_inputs: bool = True,
    allow_unused: bool | None = None,
    materialize_grads: bool = False,
) -> tuple:
    """Return d(outputs)/d(inputs) as a tuple, without touching ``.grad`` (``torch.autograd.grad``).

    With ``create_graph=True`` the returned gradients are themselves differentiable. An input the
    outputs do not depend on is an error, or gets None with ``allow_unused=True``, or zeros of
    its shape with ``materialize_grads=True`` (which makes ``allow_unused`` default to True).
    ``only_inputs`` is deprecated and ignored, as in PyTorch (it warns when False).
    """
    if not only_inputs:
        warnings.warn(
            "only_inputs argument is deprecated and is ignored now (defaults to True). To accumulate "
            "gradient for other parts of the graph, please use torch.autograd.backward.",
            FutureWarning,
            stacklevel=2,
        )
    if materialize_grads and allow_unused is False:
        raise ValueError(
            "Expected allow_unused to be True or not passed when materialize_grads=True, "
            "but got: allow_unused=False."
        )
    if allow_unused is None:
        allow_unused = materialize_grads
    outs = _as_list(outputs)
    targets = _targets(_as_list(inputs))
    ins = [t for t, _ in targets]
    for t in ins:
        if not isinstance(t, Tensor) or not t.requires_grad:
            raise RuntimeError("grad: one of the differentiated Tensors does not require grad")
    seeds = _seeds(outs, grad_outputs, create_graph, "grad")
    retain_graph = create_graph if retain_graph is None else retain_graph
    result: list[Any] = []
    for i, (t, g) in enumerate(zip(ins, _gradients_of(ins, outs, seeds, retain_graph, create_graph))):
        k = targets[i][1]
        if g is not None and k is not None:  # an edge to one output of a packed custom Function
            g = t._op._unpack(_tensor_math() if create_graph else table_of((g,), "grad"), g, k)
        if g is None and not allow_unused:
            raise RuntimeError(
                f"grad: input {i} (shape {tuple(t.shape)}) was not used in the graph; "
                "pass allow_unused=True to get None for it"
            )
        if g is None and materialize_grads:
            zeros = kernel("zeros_like", t)
            result.append(zeros.requires_grad_(True) if create_graph else zeros)
            continue
        result.append(g if g is None or create_graph else Tensor._wrap(g))
    return tuple(result)
