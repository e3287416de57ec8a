"""``torch.autograd.functional``: vjp, jvp, jacobian, hessian, vhp and hvp of a whole function.

Each takes ``func`` and its ``inputs`` (a Tensor or a tuple of Tensors) and returns results laid
out like PyTorch's: a single Tensor where the inputs (or outputs) were a single Tensor, a tuple
where they were a tuple; ``jacobian`` with several outputs and several inputs is a tuple (one per
output) of tuples (one per input), each entry of shape ``out.shape + in.shape``; ``hessian`` with
several inputs a tuple of tuples ``H[i][j]`` of shape ``in_i.shape + in_j.shape``.

The inputs are taken as new leaves (``detach().requires_grad_()``), or, with ``create_graph=True``
and an input that requires grad, as a differentiable alias, so that the results can be
differentiated again with respect to the caller's tensors.  Without ``create_graph`` every
result is detached.  ``strict=True`` raises PyTorch's errors where an output does not depend on
the inputs (otherwise such a gradient is zeros).

Everything runs on the reverse-mode engine (``autograd.grad``, ``create_graph`` for the second
derivatives) except ``jacobian(..., strategy="forward-mode", vectorize=True)``, which runs
forward mode (``chainrule.func.jacfwd``).  ``vectorize`` is otherwise a speed hint: chainrule
always loops over the rows.  ``jvp`` and ``hvp`` use the double-backward trick, as PyTorch does.
"""

from __future__ import annotations

from typing import Any, Callable

from chainrule.autograd.engine import grad as _grad
from chainrule.autograd.grad_mode import enable_grad, is_grad_enabled, set_grad_enabled
from chainrule.autograd.tensor import Tensor

__all__ = ["hessian", "hvp", "jacobian", "jvp", "vhp", "vjp"]


# ---------------------------------------------------------------- helpers (PyTorch's checks)
def _as_tuple(x: Any, arg_name: str, fn_name: str) -> tuple[bool, tuple]:
    """(whether ``x`` was a tuple, ``x`` as a tuple of Tensors); TypeError for anything else."""
    if isinstance(x, tuple):
        for i, el in enumerate(x):
            if not isinstance(el, Tensor):
                raise TypeError(
                    f"The {arg_name} given to {fn_name} must be either a Tensor or a tuple of Tensors but the"
                    f" value at index {i} has type {type(el)}."
                )
        return True, x
    if not isinstance(x, Tensor):
        raise TypeError(
            f"The {arg_name} given to {fn_name} must be either a Tensor or a tuple of Tensors but the"
            f" given {arg_name} has type {type(x)}."
        )
    return False, (x,)


def _post(res: Any, is_tuple: Any) -> Any:
    """Undo ``_as_tuple``: one level (a bool) or two (a pair of bools: outer, inner)."""
    if isinstance(is_tuple, bool):
        return res if is_tuple else res[0]
    outer, inner = is_tuple
    if not inner:
        res = tuple(r[0] for r in res)
    return res if outer else res[0]


def _preprocess(xs: tuple, create_graph: bool, need_graph: bool) -> tuple:
    """New tensor objects for ``xs``: differentiable aliases (``create_graph`` and requires_grad),
    else detached leaves that require grad when ``need_graph``."""
    out = []
    for x in xs:
        if create_graph and x.requires_grad:
            out.append(x.view_as(x))
        else:
            out.append(x.detach().requires_grad_(need_graph))
    return tuple(out)


def _postprocess(xs: Any, create_graph: bool) -> Any:
    """Detach the results unless ``create_graph`` (nested tuples too)."""
    if isinstance(xs, Tensor):
        return xs if create_graph else xs.detach()
    return tuple(_postprocess(x, create_graph) for x in xs)


def _validate_v(v: tuple, other: tuple, is_other_tuple: bool) -> None:
    if len(other) != len(v):
        if is_other_tuple:
            raise RuntimeError(f"v is a tuple of invalid length: should be {len(other)} but got {len(v)}.")
        raise RuntimeError("The given v should contain a single Tensor.")
    for idx, (el_v, el_other) in enumerate(zip(v, other)):
        if tuple(el_v.shape) != tuple(el_other.shape):
            prepend = f"Entry {idx} in " if is_other_tuple else ""
            raise RuntimeError(f"{prepend}v has invalid size: should be {el_other.size()} but got {el_v.size()}.")


def _vectors(v: Any, refs: tuple, is_refs_tuple: bool, create_graph: bool, who: str, refs_are: str) -> tuple | None:
    """``v`` as a tuple of fresh tensors checked against ``refs`` (one per ref, of its shape), or
    None where ``v`` is None, which PyTorch allows only when ``refs`` is one one-element Tensor;
    ``refs_are`` says what they are in that error ("the user-provided function returns": its outputs)."""
    if v is None:
        if len(refs) != 1 or refs[0].numel() != 1:
            raise RuntimeError(f"The vector v can only be None if {refs_are} a single Tensor with a single element.")
        return None
    _, vs = _as_tuple(v, "v", who)
    vs = _preprocess(vs, create_graph, need_graph=False)
    _validate_v(vs, refs, is_refs_tuple)
    return vs


def _check_requires_grad(xs: tuple, kind: str, strict: bool) -> None:
    if not strict:
        return
    for i, x in enumerate(xs):
        if x is None:
            raise RuntimeError(
                f"The output of the user-provided function is independent of input {i}."
                " This is not allowed in strict mode."
            )
        if x.requires_grad:
            continue
        if kind == "hessian":
            raise RuntimeError(
                f"The hessian of the user-provided function with respect to input {i}"
                " is independent of the input. This is not allowed in strict mode."
                " You should ensure that your function is thrice differentiable and that"
                " the hessian depends on the inputs."
            )
        if kind == "jacobian":
            raise RuntimeError(
                "While computing the hessian, found that the jacobian of the user-provided"
                f" function with respect to input {i} is independent of the input. This is not"
                " allowed in strict mode. You should ensure that your function is twice"
                " differentiable and that the jacobian depends on the inputs (this would be"
                " violated by a linear function for example)."
            )
        if kind == "grad_inputs":
            raise RuntimeError(
                f"The gradient with respect to input {i} is independent of the inputs of the"
                " user-provided function. This is not allowed in strict mode."
            )
        raise RuntimeError(
            f"Output {i} of the user-provided function does not require gradients."
            " The outputs must be computed in a differentiable manner from the input"
            " when running in strict mode."
        )


def _autograd_grad(outputs: tuple, inputs: tuple, grad_outputs: tuple | None, create_graph: bool,
                   retain_graph: bool | None = None) -> tuple:
    """``autograd.grad`` over the outputs that require grad; None for inputs none of them reach."""
    if grad_outputs is None:
        grad_outputs = (None,) * len(outputs)
    pairs = [(o, g) for o, g in zip(outputs, grad_outputs) if o is not None and o.requires_grad]
    if not pairs:
        return (None,) * len(inputs)
    outs = [o for o, _ in pairs]
    seeds = [g if g is not None else _ones_like(o) for o, g in pairs]
    wanted = [i for i, x in enumerate(inputs) if x.requires_grad]
    res: list = [None] * len(inputs)
    if wanted:
        gs = _grad(outs, [inputs[i] for i in wanted], seeds, retain_graph=retain_graph,
                   create_graph=create_graph, allow_unused=True)
        for i, g in zip(wanted, gs):
            res[i] = g
    return tuple(res)


def _ones_like(t: Tensor) -> Tensor:
    from chainrule.ops import ones_like

    return ones_like(t)


def _zeros_like(t: Tensor) -> Tensor:
    from chainrule.ops import zeros_like

    return zeros_like(t)


_STAGE_NONE = {
    "back": "The output of the user-provided function is independent of input {i}. This is not allowed in "
            "strict mode.",
    "back_trick": "The gradient with respect to the input is independent of entry {i} in the grad_outputs when "
                  "using the double backward trick to compute forward mode gradients. This is not allowed in "
                  "strict mode.",
    "double_back": "The jacobian of the user-provided function is independent of input {i}. This is not allowed "
                   "in strict mode.",
    "double_back_trick": "The hessian of the user-provided function is independent of entry {i} in the "
                         "grad_jacobian. This is not allowed in strict mode as it prevents from using the double "
                         "backward trick to replace forward mode AD.",
}


def _fill_in_zeros(grads: tuple, refs: tuple, strict: bool, create_graph: bool, stage: str) -> tuple:
    """Zeros of ``refs[i]``'s shape where ``grads[i]`` is None; strict mode raises there instead."""
    res = []
    for i, g in enumerate(grads):
        if g is None:
            if strict:
                raise RuntimeError(_STAGE_NONE[stage].format(i=i))
            g = _zeros_like(refs[i])
        elif strict and create_graph and not g.requires_grad:
            what = "hessian" if "double" in stage else "jacobian"
            raise RuntimeError(f"The {what} of the user-provided function is independent of input {i}. "
                               "This is not allowed in strict mode when create_graph=True.")
        res.append(g)
    return tuple(res)


def _backward_of_grads(grads: tuple, vs: tuple | None, wrt: tuple, refs: tuple, create_graph: bool,
                       strict: bool, stage: str) -> tuple:
    """Σᵢ ∂(grads[i]·vs[i])/∂wrt over the ``grads`` that exist (the second pass of jvp's
    double-backward trick and of the Hessian products); zeros of ``refs``' shapes where nothing
    depends on ``wrt`` (strict mode raises there: ``_fill_in_zeros``'s ``stage``)."""
    pairs = [(g, w) for g, w in zip(grads, vs if vs is not None else (None,) * len(grads)) if g is not None]
    with set_grad_enabled(True if create_graph else is_grad_enabled()):
        if pairs:
            res = _autograd_grad(tuple(g for g, _ in pairs), wrt, tuple(w for _, w in pairs), create_graph)
        else:
            res = (None,) * len(wrt)
        return _fill_in_zeros(res, refs, strict, create_graph, stage)


# ---------------------------------------------------------------- vjp / jvp
_INPUT_IS = "the input to the user-provided function is"  # (when v may be None: jvp, vhp, hvp)


def vjp(func: Callable, inputs: Any, v: Any = None, create_graph: bool = False, strict: bool = False) -> tuple:
    """``(func(inputs), vᵀ·J)``: the vector-Jacobian product of ``func`` at ``inputs``.

    Args:
        func: Tensors in, a Tensor or a tuple of Tensors out.
        inputs: a Tensor or a tuple of Tensors.
        v: one Tensor per output, of its shape; may be None only when ``func`` returns a single
            one-element Tensor.
        create_graph: make the results differentiable.
        strict: raise where an output does not depend on the inputs instead of giving zeros.

    Returns:
        (outputs, vjp): the outputs as ``func`` gave them (detached unless ``create_graph``), and
        one gradient per input, a Tensor or a tuple like ``inputs``.
    """
    with enable_grad():
        is_inputs_tuple, ins = _as_tuple(inputs, "inputs", "vjp")
        ins = _preprocess(ins, create_graph, need_graph=True)
        outputs = func(*ins)
        is_outputs_tuple, outs = _as_tuple(outputs, "outputs of the user-provided function", "vjp")
        _check_requires_grad(outs, "outputs", strict)
        vs = _vectors(v, outs, is_outputs_tuple, create_graph, "vjp", "the user-provided function returns")
    with set_grad_enabled(True if create_graph else is_grad_enabled()):
        res = _autograd_grad(outs, ins, vs, create_graph)
        res = _fill_in_zeros(res, ins, strict, create_graph, "back")
    return (_post(_postprocess(outs, create_graph), is_outputs_tuple),
            _post(_postprocess(res, create_graph), is_inputs_tuple))


def jvp(func: Callable, inputs: Any, v: Any = None, create_graph: bool = False, strict: bool = False) -> tuple:
    """``(func(inputs), J·v)``: the Jacobian-vector product of ``func`` at ``inputs``.

    Computed as PyTorch does, by the double-backward trick: ``J·v = ∂(uᵀJ)/∂u · v`` for a dummy
    ``u`` (the backward pass is linear in ``u``).

    Args:
        func: Tensors in, a Tensor or a tuple of Tensors out.
        inputs: a Tensor or a tuple of Tensors.
        v: one Tensor per input, of its shape; may be None only for a single one-element input.
        create_graph: make the results differentiable.
        strict: raise where an output does not depend on the inputs instead of giving zeros.

    Returns:
        (outputs, jvp): the outputs, and one tangent per output (a Tensor or a tuple like the outputs).
    """
    with enable_grad():
        is_inputs_tuple, ins = _as_tuple(inputs, "inputs", "jvp")
        ins = _preprocess(ins, create_graph, need_graph=True)
        vs = _vectors(v, ins, is_inputs_tuple, create_graph, "jvp", _INPUT_IS)
        outputs = func(*ins)
        is_outputs_tuple, outs = _as_tuple(outputs, "outputs of the user-provided function", "jvp")
        _check_requires_grad(outs, "outputs", strict)
        dummies = tuple(_zeros_like(o).requires_grad_(True) for o in outs)
        grad_inputs = _autograd_grad(outs, ins, dummies, create_graph=True)
        _check_requires_grad(grad_inputs, "grad_inputs", strict)
    res = _backward_of_grads(grad_inputs, vs, dummies, outs, create_graph, strict, "back_trick")
    return (_post(_postprocess(outs, create_graph), is_outputs_tuple),
            _post(_postprocess(res, create_graph), is_outputs_tuple))


# ---------------------------------------------------------------- jacobian / hessian
def jacobian(
    func: Callable,
    inputs: Any,
    create_graph: bool = False,
    strict: bool = False,
    vectorize: bool = False,
    strategy: str = "reverse-mode",
) -> Any:
    """The Jacobian of ``func`` at ``inputs``: entries of shape ``out.shape + in.shape``.

    Layout: a Tensor for one input and one output; a tuple over the inputs (one output) or
    over the outputs (one input); a tuple over the outputs of tuples over the inputs for both.

    Args:
        func: Tensors in, a Tensor or a tuple of Tensors out.
        inputs: a Tensor or a tuple of Tensors.
        create_graph: make the Jacobian differentiable (reverse mode only).
        strict: raise where an output does not depend on an input instead of giving zeros
            (not with ``vectorize`` nor forward mode, as in PyTorch).
        vectorize: PyTorch's vmap switch; here a hint (rows are always computed in a loop),
            required by ``strategy="forward-mode"`` as in PyTorch.
        strategy: ``"reverse-mode"`` (one backward pass per output element) or
            ``"forward-mode"`` (one forward-mode pass per input element).
    """
    if strategy not in ("forward-mode", "reverse-mode"):
        raise AssertionError(
            'Expected strategy to be either "forward-mode" or "reverse-mode". Hint: If your '
            'function has more outputs than inputs, "forward-mode" tends to be more performant. '
            'Otherwise, prefer to use "reverse-mode".'
        )
    if strategy == "forward-mode":
        if create_graph:
            raise NotImplementedError(
                "torch.autograd.functional.jacobian: `create_graph=True` "
                'and `strategy="forward-mode"` are not supported together (yet). '
                "Please either set `create_graph=False` or "
                '`strategy="reverse-mode"`.'
            )
        return _jacfwd(func, inputs, strict, vectorize)
    with enable_grad():
        is_inputs_tuple, ins = _as_tuple(inputs, "inputs", "jacobian")
        ins = _preprocess(ins, create_graph, need_graph=True)
        outputs = func(*ins)
        is_outputs_tuple, outs = _as_tuple(outputs, "outputs of the user-provided function", "jacobian")
        _check_requires_grad(outs, "outputs", strict)
        if vectorize and strict:
            raise RuntimeError(
                "torch.autograd.functional.jacobian: `strict=True` "
                "and `vectorized=True` are not supported together. "
                "Please either set `strict=False` or "
                "`vectorize=False`."
            )
        jac: list = []
        for i, out in enumerate(outs):
            flat = out.reshape(-1)
            rows: list[list] = [[] for _ in ins]
            for j in range(flat.numel()):
                gs = _autograd_grad((flat[j],), ins, None, create_graph, retain_graph=True)
                for k, (g, x) in enumerate(zip(gs, ins)):
                    if g is None:
                        if strict:
                            raise RuntimeError(
                                f"Output {i} of the user-provided function is independent of input {k}. "
                                "This is not allowed in strict mode."
                            )
                        g = _zeros_like(x)
                    rows[k].append(g)
            per_in = []
            for k, x in enumerate(ins):
                if rows[k]:
                    from chainrule.ops import stack

                    block = stack(rows[k], 0)
                else:  # an empty output
                    from chainrule.ops import zeros

                    block = zeros((0,) + tuple(x.shape), dtype=x.dtype)
                per_in.append(block.reshape(tuple(out.shape) + tuple(x.shape)))
            jac.append(tuple(per_in))
        result = _postprocess(tuple(jac), create_graph)
    return _post(result, (is_outputs_tuple, is_inputs_tuple))


def _jacfwd(func: Callable, inputs: Any, strict: bool, vectorize: bool) -> Any:
    """The forward-mode Jacobian (PyTorch's ``_jacfwd``: strict unsupported, vectorize required)."""
    if strict:
        raise RuntimeError(
            "torch.autograd.functional.jacobian: `strict=True` "
            'and `strategy="forward-mode"` are not supported together (yet). '
            "Please either set `strict=False` or "
            '`strategy="reverse-mode"`.'
        )
    is_inputs_tuple, ins = _as_tuple(inputs, "inputs", "jacobian")
    if not vectorize:
        raise NotImplementedError(
            "Computing Jacobian using forward-AD or forward-over-reverse Hessian is"
            "only implemented for `vectorize=True`."
        )
    from chainrule.func import jacfwd

    ins = tuple(x.detach() for x in ins)
    kinds: list = []

    def checked(*args: Any) -> Any:
        out = func(*args)
        is_tuple, outs = _as_tuple(out, "outputs of the user-provided function", "jacobian")
        kinds.append(is_tuple)
        return outs

    res = jacfwd(checked, argnums=tuple(range(len(ins))))(*ins)
    # jacfwd of a tuple-returning function: one tuple (over the inputs) per output
    result = tuple(tuple(r.detach() for r in row) for row in res)
    return _post(result, (kinds[0], is_inputs_tuple))


def hessian(
    func: Callable,
    inputs: Any,
    create_graph: bool = False,
    strict: bool = False,
    vectorize: bool = False,
    outer_jacobian_strategy: str = "reverse-mode",
) -> Any:
    """The Hessian of the scalar function ``func`` at ``inputs``: the Jacobian of its gradient.

    A Tensor of shape ``in.shape + in.shape`` for one input; for a tuple of inputs a tuple of
    tuples, ``H[i][j]`` of shape ``in_i.shape + in_j.shape`` (∂²f/∂in_i∂in_j).

    Args:
        func: Tensors in, a single one-element Tensor out.
        inputs: a Tensor or a tuple of Tensors.
        create_graph: make the Hessian differentiable.
        strict: raise where the gradient or Hessian does not depend on the inputs.
        vectorize: as for :func:`jacobian` (required by the forward-mode outer Jacobian).
        outer_jacobian_strategy: ``"reverse-mode"`` or ``"forward-mode"``: how the Jacobian of
            the gradient is taken.
    """
    is_inputs_tuple, ins = _as_tuple(inputs, "inputs", "hessian")
    if outer_jacobian_strategy not in ("forward-mode", "reverse-mode"):
        raise AssertionError('Expected strategy to be either "forward-mode" or "reverse-mode".')

    def single_output(*inp: Tensor) -> Tensor:
        out = func(*inp)
        is_out_tuple, t_out = _as_tuple(out, "outputs of the user-provided function", "hessian")
        _check_requires_grad(t_out, "outputs", strict)
        if is_out_tuple or not isinstance(out, Tensor):
            raise RuntimeError("The function given to hessian should return a single Tensor")
        if out.numel() != 1:
            raise RuntimeError("The Tensor returned by the function given to hessian should contain a single element")
        return out.squeeze()

    def jac_func(*inp: Tensor) -> Any:
        if outer_jacobian_strategy == "forward-mode":
            inp = tuple(t.requires_grad_(True) for t in inp)
        jac = jacobian(single_output, inp, create_graph=True)
        _check_requires_grad(jac, "jacobian", strict)
        return jac

    res = jacobian(jac_func, ins, create_graph=create_graph, strict=strict, vectorize=vectorize,
                   strategy=outer_jacobian_strategy)
    return _post(res, (is_inputs_tuple, is_inputs_tuple))


def _scalar_output(outs: tuple, is_outputs_tuple: bool, who: str) -> None:
    if is_outputs_tuple or not isinstance(outs[0], Tensor):
        raise RuntimeError(f"The function given to {who} should return a single Tensor")
    if outs[0].numel() != 1:
        raise RuntimeError(f"The Tensor returned by the function given to {who} should contain a single element")


def vhp(func: Callable, inputs: Any, v: Any = None, create_graph: bool = False, strict: bool = False) -> tuple:
    """``(func(inputs), vᵀ·H)``: the vector-Hessian product of the scalar ``func`` at ``inputs``.

    Args:
        func: Tensors in, a single one-element Tensor out.
        inputs: a Tensor or a tuple of Tensors.
        v: one Tensor per input, of its shape; None only for a single one-element input.
        create_graph: make the results differentiable.
        strict: raise where the gradient does not depend on the inputs instead of giving zeros.

    Returns:
        (output, vhp): the output, and one Tensor per input (a Tensor or a tuple like ``inputs``).
    """
    return _hessian_product(func, inputs, v, create_graph, strict, "vhp")


def hvp(func: Callable, inputs: Any, v: Any = None, create_graph: bool = False, strict: bool = False) -> tuple:
    """``(func(inputs), H·v)``: the Hessian-vector product of the scalar ``func`` at ``inputs``.

    For a twice continuously differentiable function H is symmetric, so H·v = vᵀ·H: PyTorch
    computes it with a double-backward trick, chainrule as :func:`vhp` (the same numbers).
    Arguments and results as for :func:`vhp`.
    """
    return _hessian_product(func, inputs, v, create_graph, strict, "hvp")


def _hessian_product(func: Callable, inputs: Any, v: Any, create_graph: bool, strict: bool, who: str) -> tuple:
    with enable_grad():
        is_inputs_tuple, ins = _as_tuple(inputs, "inputs", who)
        ins = _preprocess(ins, create_graph, need_graph=True)
        vs = _vectors(v, ins, is_inputs_tuple, create_graph, who, _INPUT_IS)
        outputs = func(*ins)
        is_outputs_tuple, outs = _as_tuple(outputs, "outputs of the user-provided function", who)
        _check_requires_grad(outs, "outputs", strict)
        _scalar_output(outs, is_outputs_tuple, who)
        jac = _autograd_grad(outs, ins, None, create_graph=True)
        _check_requires_grad(jac, "jacobian", strict)
    res = _backward_of_grads(jac, vs, ins, ins, create_graph, strict, "double_back")
    return (_post(_postprocess(outs, create_graph), is_outputs_tuple),
            _post(_postprocess(res, create_graph), is_inputs_tuple))
