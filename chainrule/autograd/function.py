"""Custom differentiable operations written by the user (``torch.autograd.Function``).

    class Exp(cr.autograd.Function):
        @staticmethod
        def forward(ctx, x):               # Tensors in, grad mode off
            y = x.exp()
            ctx.save_for_backward(y)
            return y

        @staticmethod
        def backward(ctx, grad_y):         # dL/dy in, one dL/dx_i per forward input out
            (y,) = ctx.saved_tensors
            return grad_y * y

        @staticmethod
        def jvp(ctx, dx):                  # optional: forward mode, dy = (dy/dx) dx
            (y,) = ctx.saved_tensors
            return dx * y

    y = Exp.apply(x)

``apply`` runs ``forward`` at once (under ``no_grad``) and records one graph
node: an adapter :class:`Primitive` whose ``vjp`` calls ``backward`` and whose
``jvp`` calls ``jvp``, so the engine, forward mode, ``gradcheck`` and anomaly
detection treat a custom Function like any built-in op.  With
``create_graph=True`` the user's ``backward`` runs with grad mode on and its
saved inputs/output are the live graph tensors, so it can be differentiated
again when it is written with differentiable tensor operations.

PyTorch 2's form is accepted too: a ``forward(*args)`` without ``ctx`` and a static
``setup_context(ctx, inputs, output)`` that fills ``ctx`` after it.

Arguments that are not Tensors (numbers, flags) are passed through and get no
gradient (``backward`` returns None for them).  ``forward`` returns a Tensor or
a tuple of Tensors; with several outputs ``backward`` receives one gradient per
output (None for outputs marked non-differentiable or not floating point) and
``jvp`` returns one tangent per output.
"""

from __future__ import annotations

import functools
import weakref
from typing import Any

import numpy as np

from chainrule.autograd.grad_mode import STATE, enable_grad, no_grad
from chainrule.autograd.primitive import Primitive, apply, table_of
from chainrule.autograd.saved import FREED_MSG, SavedTensor, bind
from chainrule.autograd.tensor import Tensor
from chainrule.autograd.version import bump, counter, share


class FunctionCtx:
    """The ``ctx`` handed to ``forward``/``backward``/``jvp``: saved tensors and any attributes."""

    def __init__(self, needs_input_grad: tuple) -> None:
        self.needs_input_grad = needs_input_grad
        self.materialize_grads = True
        self._saved: tuple = ()
        self._raw: tuple = ()  # one SavedTensor per saved tensor (grad_fn._raw_saved_tensors)
        self._non_differentiable: list = []
        self._dirty: list = []
        self._swap: dict = {}  # id(saved tensor) -> live graph tensor, during a create_graph backward

    def save_for_backward(self, *tensors: Any) -> None:
        """Keep tensors (or None) for ``backward``; read them back with ``ctx.saved_tensors``."""
        for t in tensors:
            if t is not None and not isinstance(t, Tensor):
                raise TypeError(
                    f"save_for_backward: only Tensors (or None) can be saved, got {type(t).__name__}; "
                    "store other values as ctx attributes"
                )
        self._saved = tensors
        self._raw = tuple(SavedTensor(t) for t in tensors)
        hooks = STATE.saved_hooks
        if hooks:  # an open saved_tensors_hooks context (autograd/graph.py) packs them now
            pack, unpack = hooks[-1]
            STATE.saved_hooks = []  # (ops run by the pack hook are not packed themselves)
            try:
                for s in self._raw:
                    if not s._none:
                        s.register_hooks(pack, unpack)
            finally:
                STATE.saved_hooks = hooks

    def save_for_forward(self, *tensors: Any) -> None:
        """Same as ``save_for_backward`` (PyTorch keeps two lists; the tensors are shared here)."""
        self.save_for_backward(*tensors)

    @property
    def saved_tensors(self) -> tuple:
        """The saved tensors; one whose ``SavedTensor`` has hooks is ``unpack_hook(packed)``, as
        returned by the hook (with ``create_graph=True`` the second derivative does not flow
        through it; an unhooked one is the live graph tensor then)."""
        return tuple(
            r._value() if r._hooked else None if t is None else self._swap.get(id(t), t)
            for t, r in zip(self._saved, self._raw)
        )

    def mark_dirty(self, *tensors: Tensor) -> None:
        """Declare inputs that ``forward`` modified in place; ``forward`` must return them.  As in
        PyTorch, each such input stays the same Python object and becomes this Function's output
        (its history before the call is what the node's backward differentiates through), and
        the change counts as an in-place modification: a node that saved it earlier refuses
        its backward."""
        self._dirty.extend(tensors)

    def mark_non_differentiable(self, *tensors: Tensor) -> None:
        """Declare outputs that have no gradient (indices, masks): they will not require grad."""
        self._non_differentiable.extend(tensors)

    def set_materialize_grads(self, value: bool) -> None:
        """Accepted for PyTorch compatibility; the single output's gradient is never None here."""
        self.materialize_grads = bool(value)


class _FunctionNode(Primitive):
    """Adapter: one ``Function.apply`` call as a graph node (the engine only knows primitives)."""

    packs_saved = False  # (saved_tensors_hooks: ctx.save_for_backward packs what backward reads)

    # No __slots__: the per-call name/flags are instance attributes that shadow the class ones.
    elementwise = False

    def __init__(self, fn_cls: type[Function], ctx: FunctionCtx, args: tuple, tensor_pos: list, out: Tensor) -> None:
        self.name = fn_cls.__name__
        self.fn_cls = fn_cls
        self.ctx = ctx
        self.args = args  # the forward arguments (Tensors and others) in order
        self.tensor_pos = tensor_pos  # positions of the Tensor arguments = the node's inputs
        self.out = out  # the output; for several outputs, the differentiable ones packed flat
        # several outputs: forward's outputs and the (start, stop, shape) of each in the pack (None: not differentiable)
        self.outs: tuple | None = None
        self.spans: list = []

    def forward(self, m, *xs: Any) -> Any:
        return self.out._array  # already computed by Function.apply

    # What backward reads is what forward saved (ctx.save_for_backward): the in-place
    # check (autograd/version.py) looks at those inputs, the output, and the other
    # saved tensors (intermediates), as PyTorch does.
    def saved_inputs(self, need: tuple) -> tuple:
        saved = self.ctx._saved
        return tuple(k for k, p in enumerate(self.tensor_pos) if any(s is self.args[p] for s in saved))

    @property
    def saves_output(self) -> bool:  # type: ignore[override]
        # (several outputs: the node's output is their flat copy; the saved ones are "others")
        return self.outs is None and any(s is self.out for s in self.ctx._saved)

    def saved_others(self) -> list:
        ins = [self.args[p] for p in self.tensor_pos]
        if self.outs is None:
            ins.append(self.out)
        return [
            (f"tensor {k} saved for backward", s)
            for k, s in enumerate(self.ctx._saved)
            if s is not None and not any(s is t for t in ins)
        ]

    def _check_alive(self) -> None:
        ref = self.__dict__.get("graph_out")
        out = None if ref is None else ref()
        if out is not None and out._parents is None:
            raise RuntimeError(FREED_MSG)

    @property
    def saved_tensors(self) -> tuple:
        """``ctx.saved_tensors`` read from the graph node (PyTorch's ``grad_fn.saved_tensors``);
        RuntimeError once a backward without ``retain_graph`` has freed the node."""
        self._check_alive()
        return self.ctx.saved_tensors

    @property
    def _raw_saved_tensors(self) -> tuple:
        """One :class:`SavedTensor` per tensor given to ``ctx.save_for_backward`` (register
        pack/unpack hooks on them); RuntimeError once the node has been freed."""
        self._check_alive()
        return self.ctx._raw

    def _unpack(self, m: Any, flat: Any, k: int) -> Any:
        """Output k's part of ``flat`` (the packed outputs, or their packed gradients), in its shape and dtype."""
        start, stop, shape, dtype = self.spans[k]
        part = m.reshape(m.getitem(flat, slice(start, stop)), shape)
        return part if part.dtype == dtype else m.astype(part, dtype)

    def vjp(self, m: Any, need: tuple, g: Any, y: Any, *xs: Any) -> tuple:
        ctx = self.ctx
        create_graph = getattr(m, "is_tensor", False)
        if create_graph:
            # Saved inputs/outputs stand for the live graph tensors, so the result is differentiable.
            swap = {id(self.args[p]): x for p, x in zip(self.tensor_pos, xs)}
            if self.outs is None:
                swap[id(self.out)] = y
            else:
                swap.update(
                    (id(o), self._unpack(m, y, k)) for k, o in enumerate(self.outs) if self.spans[k] is not None
                )
            ctx._swap = swap
        wrap = (lambda a: a) if create_graph else Tensor._wrap
        if self.outs is None:
            grads_out: tuple[Any, ...] = (wrap(g),)
        else:  # one gradient per output, None for the non-differentiable ones
            grads_out = tuple(
                None if span is None else wrap(self._unpack(m, g, k)) for k, span in enumerate(self.spans)
            )
        try:
            with enable_grad() if create_graph else no_grad():
                res = self.fn_cls.backward(ctx, *grads_out)
        finally:
            ctx._swap = {}
        if not isinstance(res, tuple):
            res = (res,)
        if len(res) != len(self.args):
            raise RuntimeError(
                f"Function {self.name}.backward returned {len(res)} gradients, but forward took "
                f"{len(self.args)} arguments (return one per argument, None for non-Tensors)"
            )
        grads: list[Any] = []
        for k, p in enumerate(self.tensor_pos):
            gk = res[p]
            if gk is None or not need[k]:
                grads.append(None)
                continue
            if not isinstance(gk, Tensor):  # a number or host data: onto g's device, in g's dtype
                gk = Tensor._wrap(table_of((g,), self.name).from_host(gk, g.dtype))
            if not create_graph:  # (in the input's dtype: the outputs' may differ from it and each other)
                x = self.args[p]._array
                gk = m.astype(gk._array, x.dtype if x.dtype.kind in "fc" else g.dtype)
            try:
                np.broadcast_shapes(tuple(gk.shape), self.args[p].shape)
            except ValueError:
                raise RuntimeError(
                    f"Function {self.name}.backward returned a gradient of shape {tuple(gk.shape)} for "
                    f"argument {p}, which has shape {self.args[p].shape}"
                ) from None
            grads.append(gk)
        return tuple(grads)

    def jvp(self, m: Any, dxs: tuple, y: Any, *xs: Any) -> Any:
        fn_jvp = getattr(self.fn_cls, "jvp", None)
        if fn_jvp is None or fn_jvp is Function.jvp:
            raise RuntimeError(f"Function {self.name} has no forward-mode rule: define a static jvp(ctx, *tangents)")
        tangents: list = [None] * len(self.args)  # None for the arguments that are not Tensors
        for k, p in enumerate(self.tensor_pos):
            tangents[p] = Tensor._wrap(dxs[k])
        with no_grad():
            dy = fn_jvp(self.ctx, *tangents)
        if self.outs is None:
            return None if dy is None else dy._array if isinstance(dy, Tensor) else m.from_host(dy)
        if not isinstance(dy, (tuple, list)) or len(dy) != len(self.outs):
            raise RuntimeError(f"Function {self.name}.jvp must return one tangent per output ({len(self.outs)})")
        dtype = self.out._array.dtype
        parts = []
        for d, span in zip(dy, self.spans):
            if span is not None:
                d = m.zeros(span[2], dtype) if d is None else d._array if isinstance(d, Tensor) else m.from_host(d)
                parts.append(m.broadcast_view(d, span[2]).reshape(-1))
        return m.astype(m.concatenate(parts), dtype)


class _Unpack(Primitive):
    """out_k = flat[start:stop].reshape(shape), in output k's dtype: one output of a multi-output Function.

    dout_k/dflat is a selection, so the vjp pads g with zeros back to the flat size (in the
    flat pack's dtype, the widest of the outputs').
    """

    __slots__ = ("start", "stop", "shape", "dtype", "total", "output_nr")
    name = "function_output"
    saves_inputs = ()
    saves_output = False

    def __init__(self, start: int, stop: int, shape: tuple, dtype: Any, total: int, output_nr: int = 0) -> None:
        self.start, self.stop, self.shape, self.dtype, self.total = start, stop, shape, dtype, total
        self.output_nr = output_nr  # which of forward's outputs (the packed node's grad_fn output_nr)

    def forward(self, m, flat):
        part = flat[self.start : self.stop].reshape(self.shape)
        return part if part.dtype == self.dtype else m.astype(part, self.dtype)

    def vjp(self, m, need, g, y, flat):
        g = m.reshape(g, (self.stop - self.start,))
        if g.dtype != flat.dtype:
            g = m.astype(g, flat.dtype)
        return (m.pad(g, ((self.start, self.total - self.stop),)),)

    def jvp(self, m, dxs, y, flat):
        part = m.reshape(m.getitem(dxs[0], slice(self.start, self.stop)), self.shape)
        return part if part.dtype == self.dtype else m.astype(part, self.dtype)


class Function:
    """Base class of custom differentiable operations: see the module docstring."""

    @staticmethod
    def forward(ctx: FunctionCtx, *args: Any) -> Tensor:
        raise NotImplementedError("Function subclasses must define a static forward(ctx, *args)")

    @staticmethod
    def backward(ctx: FunctionCtx, *grad_outputs: Any) -> Any:
        raise NotImplementedError("Function subclasses must define a static backward(ctx, *grad_outputs)")

    @staticmethod
    def jvp(ctx: FunctionCtx, *tangents: Any) -> Any:
        raise NotImplementedError("this Function defines no jvp (forward mode)")

    @staticmethod
    def setup_context(ctx: FunctionCtx, inputs: tuple, output: Any) -> None:
        """PyTorch 2's other form: a Function that defines ``setup_context`` has a ``forward``
        without ``ctx`` (``forward(*args)``), and ``setup_context(ctx, inputs, output)`` saves
        what ``backward`` needs, called right after ``forward`` with its arguments and result."""
        raise NotImplementedError("this Function defines no setup_context")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise RuntimeError(f"{type(self).__name__}: call {type(self).__name__}.apply(...), do not instantiate")

    @classmethod
    def apply(cls, *args: Any) -> Any:
        """Run ``forward`` on ``args`` and record the node that calls ``backward``/``jvp`` later;
        returns forward's Tensor, or its tuple of Tensors."""
        tensor_pos = [i for i, a in enumerate(args) if isinstance(a, Tensor)]
        recording = STATE.enabled
        ctx = FunctionCtx(tuple(isinstance(a, Tensor) and a.requires_grad and recording for a in args))
        # The user's forward is one opaque op: no graph inside it, and no forward-mode
        # tangents either (the node's jvp, i.e. the user's jvp, gives the output tangent).
        depth = STATE.forward_depth
        STATE.forward_depth = 0
        STATE.refresh()
        try:
            with no_grad():
                if cls.setup_context is Function.setup_context:
                    out = cls.forward(ctx, *args)
                else:  # (PyTorch 2's form: forward(*args), then setup_context(ctx, inputs, output))
                    out = cls.forward(*args)
                    cls.setup_context(ctx, args, out)
        finally:
            STATE.forward_depth = depth
            STATE.refresh()
        several = isinstance(out, (tuple, list))
        if not several and not isinstance(out, Tensor):
            raise TypeError(f"Function {cls.__name__}.forward must return a Tensor, got {type(out).__name__}")
        outs = tuple(out) if several else (out,)
        inputs = _inputs_before(cls.__name__, ctx, args, tensor_pos, outs) if ctx._dirty else None
        if several:
            return _take_dirty(ctx, cls._apply_several(ctx, args, tensor_pos, outs, inputs), outs)
        node = _FunctionNode(cls, ctx, args, tensor_pos, out)
        if out._array.dtype.kind != "f" or any(o is out for o in ctx._non_differentiable):
            node.differentiable = False
        # the node's output is forward's output array: one version counter for both
        res = share(apply(node, *(inputs or [args[i] for i in tensor_pos])), out)
        _bind(node, res)
        return _take_dirty(ctx, (res,), outs)[0]

    @classmethod
    def _apply_several(cls, ctx: FunctionCtx, args: tuple, tensor_pos: list, outs: tuple,
                       inputs: list | None = None) -> tuple:
        """Several outputs: one node whose value is the differentiable outputs packed flat, and one
        ``_Unpack`` per output (the engine sees one output per node).  ``inputs``: the node's
        inputs where they are not the Tensor arguments (see :func:`_inputs_before`)."""
        for k, o in enumerate(outs):
            if not isinstance(o, Tensor):
                raise TypeError(f"Function {cls.__name__}.forward returned a non-Tensor as output {k}")
        marked = ctx._non_differentiable
        diff = [k for k, o in enumerate(outs) if o._array.dtype.kind == "f" and not any(o is t for t in marked)]
        if not diff:
            return outs
        # outputs of several floating dtypes are packed in the widest, which holds each exactly
        m = table_of([outs[k] for k in diff], cls.__name__)
        wide = np.result_type(*[outs[k]._array.dtype for k in diff])
        spans: list = [None] * len(outs)
        start = 0
        for k in diff:
            n = outs[k]._array.size
            spans[k] = (start, start + n, tuple(outs[k].shape), outs[k]._array.dtype)
            start += n
        flat = m.concatenate([m.astype(outs[k]._array.reshape(-1), wide) for k in diff])
        node = _FunctionNode(cls, ctx, args, tensor_pos, Tensor._wrap(flat))
        node.outs = outs
        node.spans = spans
        packed = apply(node, *(inputs or [args[i] for i in tensor_pos]))
        _bind(node, packed)
        results = list(outs)
        for k, span in enumerate(spans):
            if span is not None:
                a, b, shape, dtype = span
                results[k] = apply(_Unpack(a, b, shape, dtype, start, k), packed)
        return tuple(results)


def _inputs_before(name: str, ctx: FunctionCtx, args: tuple, tensor_pos: list, outs: tuple) -> list:
    """The node's inputs when ``forward`` marked inputs dirty: each dirty input is replaced by a
    new Tensor that takes over its history (what it was before the call), and the input itself
    counts one in-place modification; the caller then makes it the node's output (``_take_dirty``).
    Under ``no_grad`` only the modification is counted, and the outputs are new Tensors."""
    from chainrule.autograd.node import take_place  # (node.py imports this module)

    inputs = [args[i] for i in tensor_pos]
    for t in ctx._dirty:
        k = next((k for k, x in enumerate(inputs) if x is t), None)
        if k is None:
            raise RuntimeError(f"Function {name}: mark_dirty() was given a tensor that is not one of forward's inputs")
        if not any(o is t for o in outs):
            raise RuntimeError(
                f"Function {name}: an input marked dirty (modified in place) must be returned by forward as an output"
            )
        if STATE.enabled and t.requires_grad and t._op is None:
            raise RuntimeError(
                f"Function {name}: a leaf Variable that requires grad is being used in an in-place operation "
                "(mark_dirty); modify a copy, or run it under chainrule.no_grad()"
            )
        bump(t)
        if STATE.enabled:  # (without a graph the input is left as it is, as in PyTorch)
            before = inputs[k] = Tensor._wrap(t._array)
            take_place(before, t)
            before._vc = counter(t)  # (the same memory: one counter)
    return inputs


def _take_dirty(ctx: FunctionCtx, results: tuple, outs: tuple) -> tuple:
    """Each dirty input, returned by ``forward`` as output k, takes the place of result k: the
    same Python object, now the Function's output (PyTorch's in-place semantics)."""
    if not ctx._dirty or not STATE.enabled:
        return results
    from chainrule.autograd.node import take_place  # (node.py imports this module)

    done = list(results)
    for k, o in enumerate(outs):
        if any(o is t for t in ctx._dirty) and results[k] is not o:
            take_place(o, results[k])
            done[k] = o
    return tuple(done)


def _bind(node: _FunctionNode, graph_tensor: Tensor) -> None:
    """Remember the node's graph tensor (weakly): its freed graph makes the saved tensors unreadable."""
    if graph_tensor._op is node:
        node.graph_out = weakref.ref(graph_tensor)
        bind(node.ctx._raw, graph_tensor)


def once_differentiable(fn: Any) -> Any:
    """Decorator for ``backward`` (PyTorch compatibility): runs it with grad mode off."""

    @functools.wraps(fn)
    def wrapper(ctx: Any, *grads: Any) -> Any:
        with no_grad():
            return fn(ctx, *grads)

    return wrapper
