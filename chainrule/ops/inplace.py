"""In-place operations (``x.add_(y)``, ``x[i] = v``, ``x.zero_()``...).

Under ``no_grad`` (initialisers, optimiser updates) they write into ``x._array``.
When a graph is recorded, the tensor object is *rebound*: its old contents
become a hidden node, and ``x`` becomes the output of the new operation, so
that gradients still flow correctly.  As in PyTorch, a leaf that requires
grad cannot be modified in place while recording.

Both ways count as a modification of ``x`` (``autograd/version.py``): a node
that saved ``x`` (or a view of its memory) before the change refuses to run
its backward with the new values.
"""

from __future__ import annotations

from typing import Callable

from chainrule.autograd.grad_mode import STATE
from chainrule.autograd.node import take_place
from chainrule.autograd.tensor import Tensor
from chainrule.autograd.version import bump, edit_tick, rebound, sharers, superseded
from chainrule.backend.views import element_positions, memory_root


def check_same_shape(x: Tensor, res: Tensor, where: str) -> None:
    """An in-place result must fit the tensor it is written into (PyTorch's rule: the other
    operands broadcast to ``x``'s shape, never ``x`` to theirs)."""
    if res.shape != x.shape:
        raise RuntimeError(
            f"{where}: output with shape {tuple(x.shape)} doesn't match the broadcast shape {tuple(res.shape)}"
        )


def rebind(
    x: Tensor, make: Callable[[Tensor], Tensor], where: str = "in-place operation", keep_shape: bool = True
) -> Tensor:
    """Replace x's contents by ``make(old_x)``, keeping the Python object (graph-aware).

    ``keep_shape`` (all but the shape-changing ``t_``/``squeeze_``...): the result must have x's
    shape, else a RuntimeError naming ``where`` (x keeps its values and shape)."""
    if x.requires_grad and x._op is None and STATE.enabled:
        raise RuntimeError(
            "a leaf Variable that requires grad is being used in an in-place operation; "
            "wrap the update in chainrule.no_grad() or use an out-of-place op"
        )
    chain = _view_chain(x) if keep_shape else []
    if chain:
        positions = [element_positions(chain[-1]._array, t._array) for t in [x, *chain[:-1]]]
        if all(p is not None for p in positions):
            return _rebind_view(x, chain, positions[0], make, where)
    others = sharers(x) if keep_shape and not chain else []
    if others:  # views of x (or detached copies) are alive: write into the memory they share
        return _rebind_in_memory(x, others, make, where)
    old = Tensor._wrap(x._array)
    take_place(old, x)
    # old keeps x's memory, hence its counter; x gets a new one (its count goes on)
    old._vc = rebound(x, old)
    new = make(old)
    if keep_shape and new.shape != x.shape:
        x._vc = old._vc  # x keeps its memory after all (its count stays one up: a harmless over-count)
        check_same_shape(x, new, where)
    x._array = new._array
    take_place(x, new)
    return x


def _view_chain(x: Tensor) -> list[Tensor]:
    """The tensors x is a view of (a slice, a transpose, a reshape... of a slice: ``_base``, set
    by the view ops) whose memory it still lies in, nearest first, the base (the farthest)
    last; [] for none."""
    root = memory_root(x._array)
    chain: list[Tensor] = []
    t = x
    while root is not None:
        b = getattr(t, "_base", None)
        if b is None or memory_root(b._array) is not root:  # (a base rebound to new memory since)
            break
        chain.append(b)
        t = b
    return chain


def _rebind_view(x: Tensor, chain: list[Tensor], positions: object, make: Callable[[Tensor], Tensor],
                 where: str) -> Tensor:
    """``rebind`` for a view x of a base (``x[:, 0].mul_(2)``, ``h.view(B, T, C)[:, 0].zero_()``),
    as in PyTorch: the new values are written into the memory x shares with its base, and the
    histories say so.  The base (``chain[-1]``) becomes its old self with x's elements
    (``positions``: their indices in the base's flattening) replaced by the new values; x, the
    views between it and the base (``chain[:-1]``) and the base's other views made before
    (``sharers``) become their elements of the new base."""
    from chainrule.autograd.primitive import apply
    from chainrule.ops import shape as sh
    from chainrule.ops.indexing import IndexPut, getitem

    base = chain[-1]
    if base._op is None and base.requires_grad:
        raise RuntimeError(
            "a view of a leaf Variable that requires grad is being used in an in-place operation; "
            "wrap the update in chainrule.no_grad() or use an out-of-place op"
        )
    done = {id(t) for t in chain} | {id(x)}
    views = chain[:-1] + [t for t in sharers(base) if id(t) not in done]  # (before this makes views of its own)
    old, new, tick = _write(x, make, where)
    old_base = Tensor._wrap(base._array)
    take_place(old_base, base)
    old_base._vc = base._vc
    superseded(base, old_base, tick)
    put = apply(IndexPut((positions.reshape(-1),)), sh.reshape(old_base, (-1,)), sh.reshape(new, (-1,)))  # type: ignore[attr-defined]
    take_place(base, sh.reshape(put, tuple(base.shape)))
    take_place(x, getitem(sh.reshape(base, (-1,)), positions))
    _follow(base, views, tick)
    return x


def _rebind_in_memory(x: Tensor, others: list[Tensor], make: Callable[[Tensor], Tensor], where: str) -> Tensor:
    """``rebind`` for a tensor whose memory its views (``others``) share: as in PyTorch, the new
    values are written into that memory, so the views see them, and their histories become
    their elements of the new x (``y = x[0]; x.add_(1)``: y reads the new values, and its
    gradient goes through the add).  Without views, ``rebind`` gives x new memory instead (no
    copy of the old values)."""
    _, new, tick = _write(x, make, where)
    take_place(x, new)
    _follow(x, others, tick)
    return x


def _write(x: Tensor, make: Callable[[Tensor], Tensor], where: str) -> tuple[Tensor, Tensor, int]:
    """The write both in-memory rebinds share: x's old values kept in a hidden tensor (a copy,
    for the operation's own backward) that takes x's place, ``new = make(old)`` written into
    x's memory; returns (old, new, the tick from which x stands for its new self)."""
    old = Tensor._wrap(x._array.copy())
    take_place(old, x)
    bump(x)  # (the memory's counter: before the new nodes, whose clocks come after the write)
    new = make(old)
    check_same_shape(x, new, where)
    x._array[...] = new._array
    tick = edit_tick()  # (after the write's own nodes, which read x as it was)
    superseded(x, old, tick)
    return old, new, tick


def _follow(base: Tensor, tensors: list[Tensor], tick: int) -> None:
    """After a write into base's memory: each view among ``tensors`` becomes its elements of
    the new base (a tensor with no history of its own, ``detach()``, only sees the values)."""
    from chainrule.ops import shape as sh
    from chainrule.ops.indexing import getitem

    flat = None
    for t in tensors:
        if getattr(t, "_base", None) is None:
            continue
        pos = element_positions(base._array, t._array)
        if pos is None:
            continue
        if flat is None:
            flat = sh.reshape(base, (-1,))
        before = Tensor._wrap(t._array)
        take_place(before, t)
        superseded(t, before, tick)
        take_place(t, getitem(flat, pos))


def has_tangent(t: object) -> bool:
    """True inside forward mode when ``t`` carries a tangent (then in-place ops must rebind)."""
    return STATE.forward_depth > 0 and getattr(t, "_tangent", None) is not None


def inplace_binary(x: Tensor, fn: Callable, other, where: str = "in-place operation") -> Tensor:
    """x ⟵ fn(x, other) in place (``other`` broadcasts to x's shape; ``where`` names the op in errors)."""
    if (not STATE.enabled or not (x.requires_grad or getattr(other, "requires_grad", False))) and (
        STATE.forward_depth == 0 or not (has_tangent(x) or has_tangent(other))
    ):
        return write(x, fn(Tensor._wrap(x._array), other), where)
    return rebind(x, lambda old: fn(old, other), where)


def write(x: Tensor, res: Tensor, where: str = "in-place operation") -> Tensor:
    """x ⟵ res written into x's memory (nothing recorded): res must have x's shape."""
    check_same_shape(x, res, where)
    x._array[...] = res._array
    bump(x)
    return x


def in_place(input: Tensor, fn: Callable[[Tensor], Tensor], name: str) -> Tensor:
    """input ← fn(input), returning ``input`` itself: the ``inplace=True`` form of an activation
    or a dropout, as PyTorch's (other references to ``input``, a forward hook's saved output, a
    view, see the new values).  Recording a graph, the tensor is rebound to the new node
    (``ops.inplace.rebind``: the node that made ``input`` keeps the values it saw, so its
    backward is right whatever it saved); otherwise its memory is overwritten and its version
    bumped.  A leaf that requires grad can only be changed under ``no_grad``, as in PyTorch."""
    if not isinstance(input, Tensor):
        raise TypeError(f"{name}: expected a Tensor, got {type(input).__name__}")
    if (STATE.enabled and input.requires_grad) or has_tangent(input):
        return rebind(input, fn, name)
    input._array[...] = fn(Tensor._wrap(input._array))._array
    bump(input)
    return input
