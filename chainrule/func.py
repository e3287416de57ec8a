"""Function transforms (``torch.func``): derivatives as functions.

* ``grad(f)(x)``               ∇f(x) for a scalar f (reverse mode);
* ``vjp(f, x)``                (f(x), v ↦ vᵀ J) (reverse mode, J = ∂f/∂x);
* ``jvp(f, (x,), (v,))``       (f(x), J v) by **forward mode**: the tangent v is
  pushed through every primitive's ``jvp`` rule in the same sweep as the values,
  no backward pass runs (it works under ``no_grad``);
* ``jacrev(f)(x)``, ``jacfwd(f)(x)``  the whole Jacobian, shape out.shape + x.shape,
  one reverse pass per output element / one forward pass per input element;
* ``hessian(f)(x)``            jacfwd(jacrev(f)): forward-over-reverse — the
  tangent is pushed through a ``create_graph=True`` backward pass;
* ``jacobian(f, inputs)``      ``torch.autograd.functional.jacobian``.
* ``linearize(f, x)``          (f(x), v ↦ J v), the jvp at x as a function (forward mode);
* ``vmap(f)(xs)``              f mapped over a batch, one call per element (``chainrule.batching``);
* ``functional_call(m, params, args)``  a Module called with other parameters/buffers,
  ``stack_module_state(models)``  an ensemble's parameters stacked (B, ...) for vmap;
* ``rearrange(x, "b (h w) c -> b c h w", h=4)``  einops' axis reordering (``_rearrange.py``).

``grad``, ``vjp`` and ``jacrev`` differentiate with respect to Tensors or trees of Tensors
(a dict of parameters, a tuple): the gradient has the argument's structure.

    import chainrule as cr
    from chainrule import func

    f = lambda x: (x ** 3).sum()
    func.grad(f)(cr.tensor([1.0, 2.0]))          # 3x² = [3, 12]
    func.hessian(f)(cr.tensor([1.0, 2.0]))       # diag(6x) = [[6, 0], [0, 12]]

Transforms compose: ``grad(grad(f))`` differentiates a differentiated function
(the inner backward pass is recorded when its input itself requires grad,
carries a tangent, or the function uses outside tensors that require grad,
such as model parameters: the derivative then stays differentiable with
respect to them).  Forward mode cannot be nested inside forward mode (one
tangent per tensor): use ``hessian``/``jacfwd(jacrev(f))`` rather than
``jacfwd(jacfwd(f))``.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from chainrule._pytree import tree_flatten, tree_unflatten
from chainrule._rearrange import rearrange
from chainrule.autograd import graph as _graph
from chainrule.autograd.engine import grad as _autograd_grad
from chainrule.autograd.forward_ad import _make_dual_op, _track, dual_level, make_dual, unpack_dual
from chainrule.autograd.grad_mode import STATE, enable_grad
from chainrule.autograd.primitive import apply
from chainrule.autograd.tensor import Tensor
from chainrule.autograd.version import share
from chainrule.batching import vmap

__all__ = [
    "functional_call",
    "grad",
    "grad_and_value",
    "hessian",
    "jacfwd",
    "jacfwd_columns",
    "jacobian",
    "jacrev",
    "jvp",
    "linearize",
    "rearrange",
    "stack_module_state",
    "vjp",
    "vmap",
]


# ---------------------------------------------------------------- helpers
def _argnums_tuple(argnums: Any, nargs: int, who: str) -> tuple:
    nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    if not nums:
        raise ValueError(f"{who}: argnums must name at least one argument")
    for a in nums:
        if not isinstance(a, int) or not -nargs <= a < nargs:
            raise ValueError(f"{who}: argnums {argnums!r} out of range for {nargs} positional arguments")
    return tuple(a % nargs for a in nums)


def _check_diff_tensor(x: Any, who: str, where: str) -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f"{who}: {where} must be a Tensor, got {type(x).__name__}")
    if x._array.dtype.kind != "f":
        raise TypeError(f"{who}: {where} must be floating point to differentiate, got dtype {x._array.dtype}")


def _needs_graph(xs: Sequence[Tensor]) -> bool:
    """Record the backward pass when an outer transform will differentiate it again."""
    return STATE.forward_depth > 0 or any(x.requires_grad for x in xs)


def _closes_over_grad_leaves(outs: Sequence[Tensor], inputs: Sequence[Tensor]) -> bool:
    """True if the graph of ``outs`` reaches a leaf that requires grad other than ``inputs``.

    That happens when the function uses tensors from outside (model parameters
    with ``requires_grad``): as in ``torch.func``, the derivative is then
    recorded so that it stays differentiable with respect to them.
    """
    if not STATE.enabled:
        return False
    own = {id(x) for x in inputs}
    reached = _graph.toposort([o for o in outs if o.requires_grad], leaves=True, stop=inputs)
    return any(t._op is None and id(t) not in own for t in reached)


def _track_input(x: Tensor) -> Tensor:
    """A tensor to differentiate with respect to, standing for ``x``.

    If ``x`` already requires grad (an outer transform differentiates too) the
    result is an alias recorded in the outer graph; otherwise a fresh leaf that
    keeps ``x``'s forward-mode tangent, if any.
    """
    if x.requires_grad:
        with enable_grad():
            return share(apply(_make_dual_op, x), x)  # identity op: dy/dx = 1, tangent passed on
    leaf = share(Tensor._wrap(x._array), x)  # the same memory: one version counter
    leaf.requires_grad = True
    dx = getattr(x, "_tangent", None) if STATE.forward_depth > 0 else None
    if dx is not None:
        leaf._tangent = dx
        _track(leaf)
    return leaf


def _split_aux(res: Any, has_aux: bool, who: str) -> tuple:
    if not has_aux:
        return res, None
    if not isinstance(res, tuple) or len(res) != 2:
        raise RuntimeError(f"{who}: with has_aux=True the function must return a pair (output, aux)")
    return res


def _outputs_list(out: Any, who: str) -> tuple[list, bool]:
    """(list of output Tensors, whether the function returned a tuple)."""
    if isinstance(out, Tensor):
        return [out], False
    if isinstance(out, (tuple, list)) and out and all(isinstance(o, Tensor) for o in out):
        return list(out), True
    raise TypeError(f"{who}: the function must return a Tensor or a tuple of Tensors, got {type(out).__name__}")


def _zeros(x: Tensor) -> Tensor:
    return Tensor._wrap(np.zeros(x.shape, dtype=x._array.dtype))


def _maybe_detach(t: Any, nested: bool) -> Any:
    if nested or not isinstance(t, Tensor):
        return t
    return t.detach()


# ---------------------------------------------------------------- reverse mode
def _call_tracked(func: Callable, args: tuple, kwargs: dict, argnums: Any, has_aux: bool, who: str,
                  label: str = "argument") -> tuple:
    """Call ``func`` with the ``argnums`` arguments replaced by tracked inputs (reverse-mode transforms).

    An argument may be a Tensor or a tree of Tensors (a dict of parameters, a tuple...): each
    leaf is tracked.  Returns (inputs, nested, output, aux, specs): ``inputs`` the tracked
    leaves of all the arguments in order, ``specs`` one tree spec per differentiated argument
    (see :func:`_regroup`); ``nested`` says the caller's own graph must be kept (the arguments
    themselves depend on tensors that require grad)."""
    nums = _argnums_tuple(argnums, len(args), who)
    args_l = list(args)
    flat, specs = [], []
    for a in nums:
        leaves, spec = tree_flatten(args_l[a])  # (an empty dict or tuple has no leaves: its gradient is empty)
        for k, x in enumerate(leaves):
            _check_diff_tensor(x, who, f"{label} {a}" + (f" (leaf {k})" if spec.kind is not None else ""))
        flat.append(leaves)
        specs.append(spec)
    nested = _needs_graph([x for leaves in flat for x in leaves])
    inputs = []
    for a, leaves, spec in zip(nums, flat, specs):
        tracked = [_track_input(x) for x in leaves]
        args_l[a] = tree_unflatten(tracked, spec)
        inputs.extend(tracked)
    with enable_grad():
        res = func(*args_l, **kwargs)
    out, aux = _split_aux(res, has_aux, who)
    return inputs, nested, out, aux, specs


def _regroup(gs: Sequence[Any], specs: list, argnums: Any) -> Any:
    """Per-leaf results back into the differentiated arguments' structures (one per argnum)."""
    per_arg, at = [], 0
    for spec in specs:
        per_arg.append(tree_unflatten(list(gs[at:at + spec.num_leaves]), spec))
        at += spec.num_leaves
    return per_arg[0] if isinstance(argnums, int) else tuple(per_arg)


def grad_and_value(func: Callable, argnums: int | tuple = 0, has_aux: bool = False) -> Callable:
    """Like :func:`grad`, but the new function returns ``(gradient, value)``.

    With ``has_aux=True``: ``(gradient, (value, aux))``.
    """

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        inputs, nested, out, aux, specs = _call_tracked(func, args, kwargs, argnums, has_aux, "grad")
        # PyTorch's check and words: a 0-dim Tensor only (a shape-(1,) output is refused too)
        if not isinstance(out, Tensor):
            raise RuntimeError(f"grad_and_value(f)(*args): Expected f(*args) to return a Tensor, got {type(out)}")
        if out.dim() != 0:
            raise RuntimeError(
                "grad_and_value(f)(*args): Expected f(*args) to return a scalar Tensor, "
                f"got tensor with {out.dim()} dims. Maybe you wanted to use the vjp or jacrev APIs instead?"
            )
        nested = nested or _closes_over_grad_leaves([out], inputs)
        if out.requires_grad and inputs:
            with enable_grad():
                gs = _autograd_grad(out, inputs, create_graph=nested, allow_unused=True)
        else:
            gs = (None,) * len(inputs)
        gs = tuple(_zeros(x) if g is None else g for g, x in zip(gs, inputs))
        g = _regroup(gs, specs, argnums)
        value = _maybe_detach(out, nested)
        return (g, (value, aux)) if has_aux else (g, value)

    return wrapper


def grad(func: Callable, argnums: int | tuple = 0, has_aux: bool = False) -> Callable:
    """``grad(f)``: the function x ↦ ∇f(x) (``torch.func.grad``), by reverse mode.

    ``f`` must return a one-element Tensor.  ``argnums`` (int or tuple) picks
    the arguments to differentiate; a tuple gives a tuple of gradients, each
    of its argument's shape.  With ``has_aux=True`` ``f`` returns ``(output, aux)``
    and the new function returns ``(gradient, aux)``.
    """
    gv = grad_and_value(func, argnums, has_aux)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        g, value = gv(*args, **kwargs)
        return (g, value[1]) if has_aux else g

    return wrapper


def vjp(func: Callable, *primals: Tensor, has_aux: bool = False) -> tuple:
    """``(output, vjp_fn)``: f at ``primals`` and the function v ↦ vᵀ ∂f/∂primals (``torch.func.vjp``).

    ``vjp_fn(v)`` takes one cotangent per output (the output's shape) and
    returns a tuple with one gradient per primal; it can be called many
    times.  With ``has_aux=True`` returns ``(output, vjp_fn, aux)``.
    """
    if not primals:
        raise ValueError("vjp: give at least one primal Tensor")
    inputs, nested, out, aux, specs = _call_tracked(func, primals, {}, tuple(range(len(primals))), has_aux,
                                                    "vjp", label="primal")
    outs, is_tuple = _outputs_list(out, "vjp")
    nested = nested or _closes_over_grad_leaves(outs, inputs)

    def vjp_fn(*cotangents: Any) -> tuple:
        if len(cotangents) == 1 and is_tuple and isinstance(cotangents[0], (tuple, list)):
            cotangents = tuple(cotangents[0])
        if len(cotangents) != len(outs):
            raise ValueError(f"vjp_fn: expected {len(outs)} cotangents (one per output), got {len(cotangents)}")
        pairs = []
        for k, (o, v) in enumerate(zip(outs, cotangents)):
            v_shape = tuple(np.shape(v._array if isinstance(v, Tensor) else v))
            if v_shape != tuple(o.shape):
                raise ValueError(f"vjp_fn: cotangent {k} has shape {v_shape}, but output {k} has shape"
                                 f" {tuple(o.shape)}")
            if o.requires_grad:
                pairs.append((o, v))
        if not pairs or not inputs:
            return _regroup([_zeros(x) for x in inputs], specs, ())
        with enable_grad():
            gs = _autograd_grad(
                [p[0] for p in pairs], inputs, [p[1] for p in pairs],
                retain_graph=True, create_graph=nested, allow_unused=True,
            )
        return _regroup([_zeros(x) if g is None else g for g, x in zip(gs, inputs)], specs, ())

    shown = type(out)(_maybe_detach(o, nested) for o in outs) if is_tuple else _maybe_detach(out, nested)
    return (shown, vjp_fn, aux) if has_aux else (shown, vjp_fn)


def _jacobian_rows(outs: list, inputs: list, nested: bool) -> list:
    """J[k][i] of shape out_k.shape + in_i.shape, one reverse pass per output element."""
    from chainrule.ops.shape import reshape, stack

    jac = []
    for o in outs:
        row = []
        n = o._array.size
        per_input: list[list] = [[] for _ in inputs]
        for r in range(n):
            seed = np.zeros(n, dtype=o._array.dtype)
            seed[r] = 1.0
            if o.requires_grad:
                with enable_grad():
                    gs = _autograd_grad(
                        o, inputs, Tensor._wrap(seed.reshape(o.shape)),
                        retain_graph=True, create_graph=nested, allow_unused=True,
                    )
            else:
                gs = (None,) * len(inputs)
            for i, (g, x) in enumerate(zip(gs, inputs)):
                per_input[i].append(_zeros(x) if g is None else g)
        for i, x in enumerate(inputs):
            if n == 0:
                row.append(Tensor._wrap(np.zeros(o.shape + x.shape, dtype=x._array.dtype)))
                continue
            with enable_grad():
                row.append(reshape(stack(per_input[i]), o.shape + x.shape))
        jac.append(row)
    return jac


def jacrev(func: Callable, argnums: int | tuple = 0, has_aux: bool = False) -> Callable:
    """``jacrev(f)(x)``: the Jacobian ∂f/∂x of shape f(x).shape + x.shape, by reverse mode.

    One backward pass per output element (cheap when outputs are few).  A
    tuple ``argnums`` gives a tuple of Jacobians; a tuple output gives a tuple
    (over outputs) of those.
    """

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        inputs, nested, out, aux, specs = _call_tracked(func, args, kwargs, argnums, has_aux, "jacrev")
        outs, is_tuple = _outputs_list(out, "jacrev")
        nested = nested or _closes_over_grad_leaves(outs, inputs)
        jac = _jacobian_rows(outs, inputs, nested)
        jac = [[_maybe_detach(j, nested) for j in row] for row in jac]
        per_out = [_regroup(row, specs, argnums) for row in jac]
        result = tuple(per_out) if is_tuple else per_out[0]
        return (result, aux) if has_aux else result

    return wrapper


# ---------------------------------------------------------------- forward mode
def jvp(func: Callable, primals: Any, tangents: Any, has_aux: bool = False) -> tuple:
    """``(f(primals), J·tangents)`` by forward mode (``torch.func.jvp``).

    ``primals`` and ``tangents`` are tuples of Tensors of equal shapes.  Each
    op applies its ``jvp`` rule as it runs, so the directional derivative
    comes out of the single forward evaluation; nothing is recorded for
    backward and no backward pass runs.  Returns ``(output, tangent_out)``
    with the output's structure (or ``(output, tangent_out, aux)``).
    """
    if isinstance(primals, Tensor) or isinstance(tangents, Tensor):
        raise TypeError("jvp: primals and tangents must be tuples of Tensors, e.g. jvp(f, (x,), (v,))")
    primals, tangents = tuple(primals), tuple(tangents)
    if len(primals) != len(tangents):
        raise ValueError(f"jvp: got {len(primals)} primals but {len(tangents)} tangents")
    for i, (p, t) in enumerate(zip(primals, tangents)):
        _check_diff_tensor(p, "jvp", f"primal {i}")
        t_shape = tuple(np.shape(t._array if isinstance(t, Tensor) else t))
        if t_shape != tuple(p.shape):
            raise ValueError(f"jvp: tangent {i} has shape {t_shape}, but primal {i} has shape {tuple(p.shape)}")
    if STATE.forward_depth > 0:
        raise RuntimeError(
            "jvp: forward mode inside forward mode is not supported (one tangent per tensor); "
            "differentiate the inner function by reverse mode (jacfwd(jacrev(f)), hessian)"
        )
    with dual_level():
        duals = [make_dual(p, t) for p, t in zip(primals, tangents)]
        res = func(*duals)
        out, aux = _split_aux(res, has_aux, "jvp")
        outs, is_tuple = _outputs_list(out, "jvp")
        tangent_outs = []
        for o in outs:
            dy = unpack_dual(o).tangent
            tangent_outs.append(_zeros(o) if dy is None else dy)
    # leaving the level dropped the tangents; outputs keep their reverse-mode graph if any
    if is_tuple:
        result = (type(out)(outs), type(out)(tangent_outs))
    else:
        result = (outs[0], tangent_outs[0])
    return (*result, aux) if has_aux else result


def _jacfwd_core(func: Callable, args: list, nums: tuple, kwargs: dict) -> tuple:
    """(outputs, is_tuple, cols) with cols[k][i] = float arrays (out_k.size, in_i.size)."""
    outs0 = None
    is_tuple = False
    cols: list = []
    for pos, a in enumerate(nums):
        x = args[a]
        n = x._array.size
        for j in range(n):
            v = np.zeros(n, dtype=x._array.dtype)
            v[j] = 1.0

            def g(*diff: Tensor) -> Any:
                call = list(args)
                for b, d in zip(nums, diff):
                    call[b] = d
                return func(*call, **kwargs)

            tangents = [
                Tensor._wrap(v.reshape(x.shape)) if b == a else _zeros(args[b]) for b in nums
            ]
            out, dy = jvp(g, tuple(args[b] for b in nums), tuple(tangents))
            outs, is_tuple = _outputs_list(out, "jacfwd")
            douts = list(dy) if is_tuple else [dy]
            if outs0 is None:
                outs0 = outs
                cols = [[np.zeros((o._array.size, args[b]._array.size)) for b in nums] for o in outs]
            for k, d in enumerate(douts):
                cols[k][pos][:, j] = d._array.reshape(-1)
    if outs0 is None:  # every differentiated input is empty
        call_outs, is_tuple = _outputs_list(func(*args, **kwargs), "jacfwd")
        outs0 = call_outs
        cols = [[np.zeros((o._array.size, 0)) for _ in nums] for o in outs0]
    return outs0, is_tuple, cols


def jacfwd(func: Callable, argnums: int | tuple = 0, has_aux: bool = False) -> Callable:
    """``jacfwd(f)(x)``: the Jacobian ∂f/∂x of shape f(x).shape + x.shape, by forward mode.

    One forward pass (``jvp``) per input element (cheap when inputs are few).
    The result carries no reverse-mode graph.  ``has_aux`` is accepted only
    as ``False`` here.
    """
    if has_aux:
        raise NotImplementedError("jacfwd: has_aux=True is not supported; use jacrev")

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        nums = _argnums_tuple(argnums, len(args), "jacfwd")
        for a in nums:
            _check_diff_tensor(args[a], "jacfwd", f"argument {a}")
        outs, is_tuple, cols = _jacfwd_core(func, list(args), nums, kwargs)
        per_out = []
        for k, o in enumerate(outs):
            js = [
                Tensor._wrap(cols[k][i].astype(o._array.dtype).reshape(o.shape + args[a].shape))
                for i, a in enumerate(nums)
            ]
            per_out.append(js[0] if isinstance(argnums, int) else tuple(js))
        return tuple(per_out) if is_tuple else per_out[0]

    return wrapper


def jacfwd_columns(fn: Callable, xs: Sequence[Any]) -> list:
    """The Jacobian by forward mode in ``gradcheck``'s layout.

    A list over ``fn``'s outputs of lists over the differentiable inputs (Tensors
    with ``requires_grad``) of float64 arrays of shape (output size, input size),
    built one column (one ``jvp`` along a unit vector) at a time.
    """
    xs = list(xs)
    nums = tuple(i for i, x in enumerate(xs) if isinstance(x, Tensor) and x.requires_grad)
    if not nums:
        raise ValueError("jacfwd_columns: no input requires grad")

    def fn_tuple(*args: Any) -> tuple:
        res = fn(*args)
        res = res if isinstance(res, (tuple, list)) else (res,)
        return tuple(r for r in res if isinstance(r, Tensor))

    _, _, cols = _jacfwd_core(fn_tuple, xs, nums, {})
    return [[c.astype(np.float64) for c in row] for row in cols]


def hessian(func: Callable, argnums: int | tuple = 0) -> Callable:
    """``hessian(f)(x)``: ∂²f/∂x² of shape x.shape + x.shape for a scalar f (``torch.func.hessian``).

    Forward-over-reverse, ``jacfwd(jacrev(f))``: each column H·e_j is the
    tangent of the gradient, pushed by forward mode through the recorded
    (``create_graph``) backward pass.
    """
    return jacfwd(jacrev(func, argnums), argnums)


# ---------------------------------------------------------------- torch.autograd.functional
# (``chainrule.func.jacobian`` is ``torch.autograd.functional.jacobian``: one implementation)
from chainrule.autograd.functional import jacobian  # noqa: E402


# ---------------------------------------------------------------- linearize
def linearize(func: Callable, *primals: Tensor) -> tuple[Any, Callable]:
    """``(func(*primals), jvp_fn)`` with ``jvp_fn(*tangents) = J·tangents`` (``torch.func.linearize``).

    ``J`` is ∂func/∂primals at ``primals``; ``jvp_fn`` takes one tangent per primal (each of
    its primal's shape) and returns the output's tangent (a Tensor, or a tuple for a tuple
    output).  Each call of ``jvp_fn`` runs ``func`` again under forward mode (:func:`jvp`):
    chainrule keeps no recorded linear map, so a call costs a forward pass with tangents,
    the same as ``jvp`` (PyTorch replays a traced linear graph instead).  ``func`` is thus
    expected to be deterministic.
    """
    if not primals:
        raise ValueError("linearize: give at least one primal Tensor")
    for i, p in enumerate(primals):
        _check_diff_tensor(p, "linearize", f"primal {i}")
    out = func(*primals)
    _outputs_list(out, "linearize")  # (a Tensor or a tuple of Tensors)
    shapes = [tuple(p.shape) for p in primals]

    def jvp_fn(*tangents: Tensor) -> Any:
        if len(tangents) != len(primals):
            raise ValueError(f"linearize: jvp_fn expected {len(primals)} tangents (one per primal), "
                             f"got {len(tangents)}")
        for i, (t, shape) in enumerate(zip(tangents, shapes)):
            if not isinstance(t, Tensor) or tuple(t.shape) != shape:
                got = tuple(t.shape) if isinstance(t, Tensor) else type(t).__name__
                raise ValueError(f"linearize: jvp_fn's tangent {i} must be a Tensor of shape {shape}, got {got}")
        return jvp(func, primals, tangents)[1]

    return out, jvp_fn


# ---------------------------------------------------------------- modules as functions
def functional_call(
    module: Any,
    parameter_and_buffer_dicts: dict[str, Tensor] | Sequence[dict[str, Tensor]],
    args: Any = None,
    kwargs: dict[str, Any] | None = None,
    *,
    tie_weights: bool = True,
    strict: bool = False,
) -> Any:
    """``module(*args, **kwargs)`` with the given tensors as its parameters and buffers (``torch.func``).

    Names are dotted as in ``named_parameters()`` (``"0.weight"``, ``"bn.running_mean"``); the
    module's own tensors are put back afterwards, even when the call raises.  Nothing is
    copied, so gradients flow to the given tensors: ``grad(lambda p: loss(functional_call(m, p,
    (x,))))(params)`` is ∂loss/∂params as a dict of the parameters' shapes.

    Args:
        module: the Module to call.
        parameter_and_buffer_dicts: a dict name -> Tensor, or a tuple/list of such dicts
            (e.g. ``(params, buffers)``) whose keys must not repeat.
        args: the positional argument(s): a tuple, or one argument that is not a tuple.
        kwargs: keyword arguments for the call.
        tie_weights: a tensor given for one name of a tied group (one tensor registered under
            several names) stands for the whole group.
        strict: the names must be exactly the module's parameters and buffers.

    Returns:
        What the module's forward returns.
    """
    if isinstance(parameter_and_buffer_dicts, dict):
        tensors = dict(parameter_and_buffer_dicts)
    elif isinstance(parameter_and_buffer_dicts, (tuple, list)):
        if not all(isinstance(d, dict) for d in parameter_and_buffer_dicts):
            raise ValueError("functional_call: expected every element of parameter_and_buffer_dicts to be a dict")
        tensors = {}
        repeated = []
        for d in parameter_and_buffer_dicts:
            repeated += [k for k in d if k in tensors]
            tensors.update(d)
        if repeated:
            raise ValueError(f"functional_call: {sorted(set(repeated))} appeared in multiple dictionaries; "
                             "which tensor to use is ambiguous")
    else:
        raise ValueError("functional_call: expected parameter_and_buffer_dicts to be a dict, or a list/tuple of "
                         f"dicts, but got {type(parameter_and_buffer_dicts).__name__}")
    call_args = () if args is None else args if isinstance(args, tuple) else (args,)
    # (the swap is the Module's business; a Module exists, so chainrule.nn is already imported)
    from chainrule.nn.utils.stateless import reparametrized

    with reparametrized(module, tensors, tie_weights=tie_weights, strict=strict):
        return module(*call_args, **(kwargs or {}))


def stack_module_state(models: Sequence[Any]) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
    """``(params, buffers)``: the models' tensors stacked along a new first axis (``torch.func``).

    For ``M`` models of the same architecture, ``params[name]`` has shape (M, *p.shape): new
    leaves (their own memory), requiring grad where the models' parameters do;
    ``buffers[name]`` likewise, without grad.  With ``vmap(fmodel, in_dims=(0, 0, None))``
    and :func:`functional_call` this evaluates an ensemble of models on one batch.
    """
    from chainrule.ops.shape import stack

    models = list(models)
    if not models:
        raise RuntimeError("stack_module_state: Expected at least one model, got 0.")
    if len({bool(m.training) for m in models}) > 1:
        raise RuntimeError("stack_module_state: Expected all models to have the same training/eval mode.")

    def stacked(kind: str) -> dict[str, Tensor]:
        tables = [dict(getattr(m, f"named_{kind}")()) for m in models]
        out = {}
        for name in tables[0]:
            ts = []
            for k, table in enumerate(tables):
                if name not in table or len(table) != len(tables[0]):
                    raise RuntimeError(f"stack_module_state: model {k} does not have the {kind} of model 0 "
                                       f"(looking for {name!r}); the models must have the same architecture")
                ts.append(table[name])
            if len({t.requires_grad for t in ts}) > 1:
                raise RuntimeError(f"stack_module_state: Expected {name} from each model to have the same "
                                   ".requires_grad")
            s = stack([t.detach() for t in ts])  # (detached: a new leaf, no graph)
            out[name] = s.requires_grad_(ts[0].requires_grad) if kind == "parameters" else s
        return out

    return stacked("parameters"), stacked("buffers")
