"""``torch.autograd.graph.Node`` and ``GradientEdge``: the graph shown node by node, as PyTorch shows it.

chainrule's graph nodes are the tensors themselves: a non-leaf tensor holds the primitive that
made it (``_op``) and its inputs (``_parents``), and the engine walks those (``graph.toposort``).
PyTorch gives each recorded operation a node object instead (``MulBackward0``...), with edges to
the nodes of its inputs.  This module shows chainrule's graph in PyTorch's terms without a second
graph: ``Tensor.grad_fn`` is a :class:`Node` that *views* one graph tensor (made on first use and
kept while something holds it, so ``y.grad_fn is y.grad_fn``), and

* ``next_functions``: one ``(node, output_nr)`` per input, read from ``_parents`` (an input that
  requires no grad: ``(None, 0)``; a leaf that requires grad: its ``AccumulateGrad`` node, whose
  ``variable`` is the leaf);
* ``register_prehook(fn)`` / ``register_hook(fn)`` / ``metadata``: kept in the graph tensor's
  ``_extra["node"]`` (a :class:`NodeState`), which the engine's general walk reads: ``fn(grad_outputs)``
  before the node's vjp (after the tensor's own hooks), ``fn(grad_inputs, grad_outputs)`` after it;
  either may return new gradients.  An in-place operation that makes the tensor object the output
  of a new op moves the state (and the view) to the hidden tensor that keeps the old node
  (``ops/inplace.py``), so a Node and its hooks stay with the operation they were taken from;
* ``GradientEdge(node, output_nr)`` (``get_gradient_edge(t)``) names a gradient by its node: the
  engine's ``grad``/``backward`` take edges as outputs and as inputs and use the tensor behind them.

A custom ``Function`` with several outputs records one packed node (``function.py``); its outputs
share that node's ``grad_fn`` with ``output_nr`` 0, 1... as in PyTorch, and hooks see one gradient
per output.  Unlike PyTorch, a built-in op with several outputs (``split``, ``max(dim)``) records one
node per output here, each with ``output_nr`` 0; and a backward that frees the graph drops the
node's edges, so ``next_functions`` raises afterwards (PyTorch keeps the edges).
"""

from __future__ import annotations

import abc
import weakref
from collections import OrderedDict
from typing import Any, Callable, NamedTuple

from chainrule.autograd.function import _FunctionNode, _Unpack
from chainrule.autograd.hooks import RemovableHandle, add_hook
from chainrule.autograd.host_steps import untraceable
from chainrule.autograd.saved import FREED_MSG
from chainrule.autograd.tensor import Tensor
from chainrule.autograd.version import _as_of


class Node(abc.ABC):
    """A node of the backward graph (``torch.autograd.graph.Node``): what ``Tensor.grad_fn`` returns.

    ``isinstance(t.grad_fn, Node)`` is True for every graph tensor; the concrete classes are named
    as PyTorch's nodes (``MulBackward0``, ``MyFunctionBackward``, ``AccumulateGrad``).
    """

    __slots__ = ()

    @abc.abstractmethod
    def name(self) -> str:
        """The node's name, e.g. ``"MulBackward0"``."""

    @property
    @abc.abstractmethod
    def next_functions(self) -> tuple[tuple[Node | None, int], ...]:
        """One ``(node, output_nr)`` pair per input of the node."""

    @property
    @abc.abstractmethod
    def metadata(self) -> dict:
        """A dict for the user's own data, kept with the node."""

    @abc.abstractmethod
    def register_hook(self, fn: Callable[..., Any]) -> RemovableHandle:
        """Call ``fn(grad_inputs, grad_outputs)`` after the node's backward; a non-None result
        (a tuple, one entry per input) replaces ``grad_inputs``."""

    @abc.abstractmethod
    def register_prehook(self, fn: Callable[..., Any]) -> RemovableHandle:
        """Call ``fn(grad_outputs)`` before the node's backward; a non-None result (a tuple, one
        entry per output) replaces ``grad_outputs``."""


class GradientEdge(NamedTuple):
    """A gradient named by its node: the ``output_nr``-th output of ``node`` (PyTorch's fields;
    ``ownership_token`` is kept as given)."""

    node: Node
    output_nr: int
    ownership_token: Any = None


class NodeState:
    """What a graph tensor keeps for its Node (``Tensor._extra["node"]``): the live view (weakly),
    its pre-hooks, its hooks and its metadata."""

    __slots__ = ("view", "pre", "post", "metadata")

    def __init__(self) -> None:
        self.view: Any = None  # weak reference to the Node object, None until one is made
        self.pre: OrderedDict = OrderedDict()
        self.post: OrderedDict = OrderedDict()
        self.metadata: dict = {}

    def __reduce__(self) -> tuple:
        # a copied or pickled tensor (copy.deepcopy, multiprocessing) is a new node: no view, hooks
        # or metadata of the original's (whose view would still point at the original tensor)
        return (NodeState, ())


def _state(t: Tensor, hooked: bool = False) -> NodeState:
    """t's NodeState, made on first use; ``hooked``: a hook is being added, so the engine takes its
    general walk while t lives (``Tensor._extras``)."""
    ex = t._extras(any_hook=hooked)
    s = ex.get("node")
    if s is None:
        s = ex["node"] = NodeState()
    return s


def move_state(dst: Tensor, src: Tensor) -> None:
    """``src``'s node becomes ``dst``'s (an in-place op hid the old node in ``dst``): its Node view,
    hooks and metadata go with it."""
    ex = getattr(src, "_extra", None)
    if not ex or "node" not in ex:
        return
    s = ex.pop("node")
    dst._extras(any_hook=bool(s.pre or s.post))["node"] = s
    view = None if s.view is None else s.view()
    if view is not None:
        view._t = dst


def take_place(dst: Tensor, src: Tensor) -> None:
    """dst takes src's place in the graph (an in-place op keeps the Python object ``dst``, its
    result is ``src``): its node (with its Node's hooks and metadata: a Node taken before an
    in-place op stays with the op it was taken from), its requires_grad flag and (forward mode)
    its tangent."""
    move_state(dst, src)
    dst._tangent = getattr(src, "_tangent", None)
    dst.requires_grad = src.requires_grad
    dst._op = src._op
    dst._parents = src._parents
    if src._op is not None:
        dst._need = src._need
        dst._clk = src._clk


class _TensorNode(Node):
    """A Node that views graph tensor ``_t`` (see the module docstring)."""

    __slots__ = ("_t", "__weakref__")

    def __init__(self, t: Tensor) -> None:
        self._t = t

    def name(self) -> str:
        return type(self).__name__

    @property
    def metadata(self) -> dict:
        return _state(self._t).metadata

    def register_hook(self, fn: Callable[..., Any]) -> RemovableHandle:
        return add_hook(_state(self._t, hooked=True).post, fn)

    def register_prehook(self, fn: Callable[..., Any]) -> RemovableHandle:
        return add_hook(_state(self._t, hooked=True).pre, fn)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} object at {hex(id(self))}>"


class _OpNode(_TensorNode):
    """The node of a recorded operation (one class per name, made by ``_class_of``)."""

    __slots__ = ()

    @property
    def next_functions(self) -> tuple[tuple[Node | None, int], ...]:
        t = self._t
        parents = t._parents
        if parents is None:  # (freed by a backward without retain_graph)
            raise RuntimeError(FREED_MSG)
        return tuple(edge_of(_as_of(p, t._clk, t._op.name)) for p in parents)

    def _sequence_nr(self) -> int:
        """The order in which the nodes were recorded (chainrule's tick of the clock)."""
        return self._t._clk


class _FunctionBackward(_OpNode):
    """The node of a custom ``Function.apply`` call.  As PyTorch's ``BackwardCFunction`` it is also
    the ctx: ``grad_fn.saved_tensors``, ``grad_fn.needs_input_grad`` and the attributes that
    ``forward`` set on ``ctx`` read through it."""

    __slots__ = ()

    def __getattr__(self, attr: str) -> Any:
        op = self._t._op
        if attr in ("saved_tensors", "_raw_saved_tensors"):
            return getattr(op, attr)
        return getattr(op.ctx, attr)


class AccumulateGrad(_TensorNode):
    """The node that adds a leaf's gradient to its ``.grad`` (``variable`` is the leaf)."""

    __slots__ = ()

    def name(self) -> str:
        return "torch::autograd::AccumulateGrad"

    @property
    def next_functions(self) -> tuple:
        return ()

    @property
    def variable(self) -> Tensor:
        return self._t


_CLASSES: dict = {}


def _class_of(t: Tensor) -> type:
    """The Node class for graph tensor t, named as PyTorch names it (made once per name)."""
    op = t._op
    if op is None:
        return AccumulateGrad
    if type(op) is _FunctionNode:
        base: type = _FunctionBackward
        name = f"{op.fn_cls.__name__}Backward"
    else:
        base = _OpNode
        name = node_name(op)
    cls = _CLASSES.get((name, base))
    if cls is None:
        cls = _CLASSES[(name, base)] = type(name, (base,), {"__slots__": (), "__module__": __name__})
    return cls


# primitives whose PyTorch node is not their name in CamelCase
_TORCH_NAMES = {"swish": "SiluBackward0", "log1p": "Log1PBackward0"}


def node_name(op: Any) -> str:
    """PyTorch's spelling of an op's node: ``mul`` -> ``MulBackward0``, ``log_softmax`` ->
    ``LogSoftmaxBackward0``; a custom Function ``F`` -> ``FBackward``.  (Where chainrule's primitive
    is not PyTorch's op, the name is the primitive's: ``x @ w`` is ``MatmulBackward0``, not ``MmBackward0``.)"""
    if type(op) is _FunctionNode:
        return f"{op.fn_cls.__name__}Backward"
    name = str(op.name)
    return _TORCH_NAMES.get(name) or "".join(w[:1].upper() + w[1:] for w in name.split("_")) + "Backward0"


def _view(t: Tensor) -> Node:
    """The Node viewing t (the same object while one is alive)."""
    s = _state(t)
    v = None if s.view is None else s.view()
    if v is None:
        v = _class_of(t)(t)
        s.view = weakref.ref(v)
    return v


def _packed_output(t: Tensor) -> tuple[Tensor, int] | None:
    """(the packed node, output index) when t is one output of a multi-output custom Function."""
    op = t._op
    if type(op) is _Unpack and t._parents is not None and type(t._parents[0]._op) is _FunctionNode:
        return t._parents[0], op.output_nr
    return None


def edge_of(t: Tensor) -> tuple[Node | None, int]:
    """(node, output_nr) through which gradients reach t: its grad_fn, its AccumulateGrad for a
    leaf that requires grad, (None, 0) for a tensor that requires none."""
    if not t.requires_grad:
        return None, 0
    packed = _packed_output(t)
    if packed is not None:
        return _view(packed[0]), packed[1]
    return _view(t), 0


def grad_fn_of(t: Tensor) -> Node | None:
    """``Tensor.grad_fn``: the node that made t (None for a leaf)."""
    return None if t._op is None else edge_of(t)[0]


def name_of(t: Tensor) -> str:
    """The name of t's grad_fn, without making the Node (for ``Tensor.__repr__``)."""
    packed = _packed_output(t)
    return node_name((packed[0] if packed is not None else t)._op)


def get_gradient_edge(tensor: Tensor) -> GradientEdge:
    """The edge that ``tensor``'s gradient arrives by: ``GradientEdge(tensor.grad_fn, output_nr)``,
    or the AccumulateGrad node for a leaf.  ``autograd.grad`` takes it in place of the tensor, as
    outputs or inputs (and it keeps naming the same gradient after an in-place op changes the
    tensor's grad_fn)."""
    if not tensor.requires_grad:
        raise RuntimeError("It is not possible to get the gradient edge for a Tensor that does not require gradients")
    node, nr = edge_of(tensor)
    return GradientEdge(node, nr)  # type: ignore[arg-type]  # (requires grad: never None)


def edge_target(edge: GradientEdge) -> tuple[Tensor, int | None]:
    """The graph tensor behind an edge, and the output index when it is a packed custom Function
    node (its gradient is that output's part of the packed tensor's)."""
    node = edge.node
    if not isinstance(node, _TensorNode):
        raise TypeError(f"GradientEdge: expected a node of chainrule's graph, got {type(node).__name__}")
    t = node._t
    if type(t._op) is _FunctionNode and t._op.outs is not None:
        return t, int(edge.output_nr)
    return t, None


# ---------------------------------------------------------------- the engine's calls (engine._walk)
def _split(t: Tensor, g: Any, m: Any, create_graph: bool) -> tuple:
    """The node's output gradients as a tuple of Tensors (one per output of a packed Function,
    None for its non-differentiable outputs)."""
    wrap = _same if create_graph else Tensor._wrap
    op = t._op
    if type(op) is _FunctionNode and op.outs is not None:
        return tuple(None if s is None else wrap(op._unpack(m, g, k)) for k, s in enumerate(op.spans))
    return (wrap(g),)


def _same(x: Any) -> Any:
    return x


def _array_of(x: Any, create_graph: bool) -> Any:
    return x if create_graph or not isinstance(x, Tensor) else x._array


def _join(t: Tensor, gs: tuple, m: Any, create_graph: bool) -> Any:
    """The inverse of ``_split``: one gradient for the graph tensor (a missing one: zeros)."""
    op = t._op
    if type(op) is not _FunctionNode or op.outs is None:
        return _array_of(gs[0], create_graph)
    parts = []
    for k, s in enumerate(op.spans):
        if s is not None:
            gk = gs[k]
            gk = m.zeros(s[2], t._array.dtype) if gk is None else _array_of(gk, create_graph)
            parts.append(m.astype(m.reshape(gk, (s[1] - s[0],)), t._array.dtype))  # (into the pack's dtype)
    return m.concatenate(parts)


def _result(res: Any, n: int, where: str) -> tuple:
    if not isinstance(res, (tuple, list)) or len(res) != n:
        raise RuntimeError(f"{where}: the hook returned {res!r}; expected None or a tuple of {n} gradients (or None)")
    return tuple(res)


def run_prehooks(t: Tensor, state: NodeState, g: Any, m: Any, create_graph: bool) -> Any:
    """g (the gradient of graph tensor t) after the node's pre-hooks: ``fn(grad_outputs)``."""
    hooks = list(state.pre.values())
    if not hooks:
        return g
    untraceable("a node pre-hook ran in backward (a replay would not run its Python)")
    gs = _split(t, g, m, create_graph)
    for fn in hooks:
        res = fn(gs)
        if res is not None:
            gs = _result(res, len(gs), f"{_class_of(t).__name__} pre-hook")
    return _join(t, gs, m, create_graph)


def run_posthooks(t: Tensor, state: NodeState, parents: Any, vjps: Any, g: Any, m: Any, create_graph: bool) -> list:
    """The node's input gradients after its hooks, ``fn(grad_inputs, grad_outputs)``: each in its
    input's shape and dtype (None for an input that needs none)."""
    hooks = list(state.post.values())
    wrap = _same if create_graph else Tensor._wrap
    gi: list = []
    for p, gp in zip(parents, vjps):
        if gp is None or not p.requires_grad:
            gi.append(None)
            continue
        shape = p._array.shape
        if tuple(gp.shape) != shape:
            gp = m.sum_to(gp, shape)
        if gp.dtype != p._array.dtype:
            gp = m.astype(gp, p._array.dtype)
        gi.append(wrap(gp))
    if hooks:
        untraceable("a node hook ran in backward (a replay would not run its Python)")
        go = _split(t, g, m, create_graph)
        for fn in hooks:
            res = fn(tuple(gi), go)
            if res is not None:
                gi = list(_result(res, len(gi), f"{_class_of(t).__name__} hook"))
    return [None if x is None else _array_of(x, create_graph) for x in gi]


def run_leaf_prehooks(p: Tensor, state: NodeState, g: Any, create_graph: bool) -> Any:
    """A leaf's gradient after its AccumulateGrad node's pre-hooks."""
    for fn in list(state.pre.values()):
        res = fn((g if create_graph else Tensor._wrap(g),))
        if res is not None:
            g = _array_of(_result(res, 1, "AccumulateGrad pre-hook")[0], create_graph)
    return g


def run_leaf_posthooks(state: NodeState, g: Any, create_graph: bool) -> None:
    """A leaf's AccumulateGrad hooks, once its gradient is accumulated: ``fn((), (grad,))``."""
    for fn in list(state.post.values()):
        fn((), (g if create_graph else Tensor._wrap(g),))
