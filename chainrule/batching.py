"""``torch.func.vmap`` (also ``torch.vmap``): a function of one example mapped over a batch.

**The mechanism, and what it costs.**  ``vmap(f)(x)`` slices each mapped input along its
mapped dimension, calls ``f`` once per batch element on the slices, and stacks the results
along the output dimension::

    vmap(f, in_dims=0, out_dims=0)(x)  ==  stack([f(x[0]), f(x[1]), ..., f(x[B-1])], dim=0)

That is one Python call of ``f`` per batch element: the same numbers as a vectorised
version, not its speed (PyTorch instead rewrites every operation to act on the whole batch
at once).  What it buys is that every function works, whatever it calls, and that vmap
composes with the other transforms for free: slicing (``select``) and ``stack`` are
differentiable operations, so ``grad(vmap(f))`` differentiates through the loop,
``vmap(grad(f))`` gives per-sample gradients, and ``vmap(vmap(f))`` nests loops.
``chunk_size`` (which in PyTorch bounds the batch computed at once) is accepted and checked;
here one element is computed at a time anyway.

Arguments and results may be trees (tuples, lists, dicts) of Tensors (``chainrule._pytree``).
``in_dims`` gives one dimension per argument (an int or None for all the leaves below it, or
a tree matching the argument), ``out_dims`` likewise per output.  Keyword arguments are
passed to every call unchanged (never mapped).

**Randomness.**  ``randomness='error'`` raises if ``f`` draws from the default generator
(its state moved during a call); ``'different'`` lets each element draw its own numbers
(the calls follow each other on the generator); ``'same'`` puts the generator back to the
state it had before the first element for each element, so that all elements see the
same draws, and leaves it as one call of ``f`` would.  Draws from an explicit
``generator=`` argument are not watched.

**Where it differs from PyTorch.**  An output with ``out_dims=None`` is checked by value:
it must be equal for all elements (PyTorch refuses any output computed from the batch,
even a constant one).  In-place writes into a slice of an input write into the input
(a slice is a view), where PyTorch's batched tensors raise for some of them.  A batch of
size 0 calls ``f`` once on zeros of a slice's shape to learn the output's shape.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

from chainrule._pytree import TreeSpec, broadcast_prefix, tree_flatten, tree_unflatten
from chainrule.autograd.tensor import Tensor
from chainrule.backend import random as _random
from chainrule.ops.creation import zeros
from chainrule.ops.shape import stack

__all__ = ["vmap"]

_RANDOMNESS = ("error", "different", "same")


def _is_dim(d: Any) -> bool:
    return d is None or (isinstance(d, int) and not isinstance(d, bool))


def _name(func: Callable) -> str:
    return getattr(func, "__name__", type(func).__name__)


def _in_leaf_dims(func: Callable, in_dims: Any, args: tuple) -> list:
    """One mapped dimension (int or None) per leaf of ``args``."""
    where = f"vmap({_name(func)}, in_dims={in_dims!r}, ...)(<inputs>)"
    if not (_is_dim(in_dims) or isinstance(in_dims, tuple)):
        raise ValueError(f"{where}: expected `in_dims` to be an int, None or a (nested) tuple matching the "
                         f"structure of the inputs, got {type(in_dims).__name__}")
    if isinstance(in_dims, tuple) and len(in_dims) != len(args):
        raise ValueError(f"{where}: in_dims has {len(in_dims)} entries but the function got {len(args)} "
                         "positional inputs (give one entry per input, or a single int)")
    dims = broadcast_prefix(in_dims, args, _is_dim)
    if dims is None:
        raise ValueError(f"{where}: in_dims is not compatible with the structure of the inputs: in_dims "
                         f"{in_dims!r}, inputs {tree_flatten(args)[1]!r}")
    for d in dims:
        if not _is_dim(d):
            raise ValueError(f"{where}: every in_dim must be an int or None, got {d!r}")
    return dims


def _slicer(x: Any, d: int | None) -> Callable[[int], Any]:
    if d is None:
        return lambda b: x
    return lambda b: x.select(d, b)


def _zeros_slice(x: Any, d: int | None) -> Any:
    if d is None:
        return x
    return zeros(*(x.shape[:d] + x.shape[d + 1:]), dtype=x.dtype)


class _Randomness:
    """Watches or resets the default generator around each element's call (see the module doc)."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.start = _random.default_generator().bit_generator.state if mode == "same" else None

    def before(self) -> tuple:
        gen = _random.default_generator()
        if self.start is not None:  # (mode 'same')
            gen.bit_generator.state = self.start
        return gen, (gen.bit_generator.state if self.mode == "error" else None)

    def after(self, seen: tuple) -> None:
        if self.mode != "error":
            return
        gen, state = seen
        if _random.default_generator() is not gen or gen.bit_generator.state != state:
            raise RuntimeError(
                "vmap: called random operation while in randomness error mode. Please either use the "
                "'same' or 'different' randomness flags on vmap or perform the randomness operation out of vmap"
            )


def _stack_outputs(func: Callable, results: list, out_dims: Any, empty: bool = False) -> Any:
    """Stack the per-element outputs (trees of equal structure) along their ``out_dims``.

    ``empty``: ``results`` is the one probe call of a batch of size 0; the stacked outputs
    keep none of it (size 0 along their out dim)."""
    first_leaves, spec = tree_flatten(results[0])
    per_element = [first_leaves]
    for k, r in enumerate(results[1:], 1):
        leaves, s = tree_flatten(r)
        if s != spec:
            raise ValueError(f"vmap({_name(func)}, ...): the function returned differently structured outputs "
                             f"for batch elements 0 and {k}: {spec!r} and {s!r}")
        per_element.append(leaves)
    if isinstance(out_dims, tuple) and len(out_dims) == 1 and spec.kind is None:
        out_dims = out_dims[0]  # (0,) for a single output, as PyTorch accepts
    dims = broadcast_prefix(out_dims, results[0], _is_dim)
    if dims is None or not all(_is_dim(d) for d in dims):
        raise ValueError(f"vmap({_name(func)}, ..., out_dims={out_dims!r}): out_dims is not compatible with the "
                         f"structure of the outputs {spec!r}: give an int, None or a matching tuple")
    out = []
    for i, d in enumerate(dims):
        column = [leaves[i] for leaves in per_element]
        x0 = column[0]
        if d is None:
            if isinstance(x0, Tensor):
                if any(not (c is x0 or (c.shape == x0.shape and bool((c == x0).all()))) for c in column):
                    raise ValueError(f"vmap({_name(func)}, ...): `{_name(func)}` returned an output that differs "
                                     "between batch elements where out_dims is None (it can not return a "
                                     "batched value there)")
            out.append(x0)
            continue
        if not isinstance(x0, Tensor):
            raise ValueError(f"vmap({_name(func)}, ...): `{_name(func)}` must only return Tensors, got type "
                             f"{type(x0)}. Did you mean to set out_dims= to None for output?")
        n = x0.ndim + 1
        if not -n <= d < n:
            raise IndexError(f"vmap: Dimension out of range (expected to be in range of [{-n}, {n - 1}], "
                             f"but got {d}) for out_dims of output {i} of shape {tuple(x0.shape)}")
        stacked = stack(column, dim=d)
        if empty:
            stacked = stacked[(slice(None),) * (d % n) + (slice(0, 0),)]
        out.append(stacked)
    return tree_unflatten(out, spec)


def vmap(
    func: Callable,
    in_dims: Any = 0,
    out_dims: Any = 0,
    randomness: str = "error",
    *,
    chunk_size: int | None = None,
) -> Callable:
    """``vmap(f)``: ``f`` of one example, mapped over a batch (``torch.func.vmap``, ``torch.vmap``).

    ``vmap(f, in_dims, out_dims)(*args)[b] == f(*(a.select(in_dim, b) for a in args))``, one
    call of ``f`` per batch element, the outputs stacked along ``out_dims`` (see the module
    documentation for the mechanism and its cost).  With ``x`` of shape (B, n):
    ``vmap(torch.dot)(x, y)`` has shape (B,); ``vmap(f, in_dims=(0, None))(x, w)`` maps ``x``
    only and passes ``w`` whole to every call.

    Args:
        func: the function of one example; it returns a Tensor or a tree of Tensors.
        in_dims: an int (negative counts from the end) or None (not mapped) for every
            argument, or a tuple with one entry per positional argument, each an int, None
            or a tree matching the argument (tuples for tuples, lists for lists, dicts with
            the same keys).
        out_dims: per output, the dimension the batch is stacked along (an int or a tree
            matching the outputs); None returns an output that is the same for all elements.
        randomness: ``'error'`` (raise if ``func`` draws random numbers), ``'different'``
            (fresh draws per element) or ``'same'`` (the same draws for every element).
        chunk_size: None or a positive int; accepted for PyTorch's signature (the elements are
            computed one at a time).

    Returns:
        The batched function, taking the same arguments as ``func`` with the mapped
        dimensions added.
    """
    if randomness not in _RANDOMNESS:
        raise RuntimeError(f"Only allowed values for randomness are 'error', 'different', or 'same'. Got {randomness}")
    if chunk_size is not None and (not isinstance(chunk_size, int) or chunk_size <= 0):
        raise ValueError(f"vmap: chunk_size should be None or greater than 0. (got {chunk_size})")
    if not callable(func):
        raise TypeError(f"vmap: func must be callable, got {type(func).__name__}")

    @functools.wraps(func)
    def batched(*args: Any, **kwargs: Any) -> Any:
        if not args:
            raise ValueError(f"vmap({_name(func)})(<inputs>): got no inputs. vmap maps over the positional "
                             "inputs; a function without any is unsupported")
        leaves, spec = tree_flatten(args)
        dims = _in_leaf_dims(func, in_dims, args)
        sizes: list[int] = []
        norm_dims: list[int | None] = []
        for x, d in zip(leaves, dims):
            if d is None:
                norm_dims.append(None)
                continue
            if not isinstance(x, Tensor):
                raise ValueError(f"vmap({_name(func)}, in_dims={in_dims!r}, ...)(<inputs>): Got in_dim={d} for an "
                                 f"input but the input is of type {type(x)}. We cannot vmap over non-Tensor "
                                 "arguments, please use None as the respective in_dim")
            if not -x.ndim <= d < x.ndim:
                raise ValueError(f"vmap({_name(func)}, in_dims={in_dims!r}, ...)(<inputs>): Got in_dim={d} for some "
                                 f"input, but that input is a Tensor of dimensionality {x.ndim} so expected in_dim "
                                 f"to satisfy {-x.ndim} <= in_dim < {x.ndim}.")
            norm_dims.append(d % x.ndim)
            sizes.append(x.shape[d % x.ndim])
        if not sizes:
            raise ValueError("vmap: Expected at least one Tensor to vmap over (every in_dim is None or no input "
                             "is a Tensor)")
        if len(set(sizes)) != 1:
            raise ValueError(f"vmap: Expected all tensors to have the same size in the mapped dimension, got sizes "
                             f"{sizes} for the mapped dimension")
        return _run(func, leaves, spec, norm_dims, sizes[0], kwargs, out_dims, randomness)

    return batched


def _run(func: Callable, leaves: list, spec: TreeSpec, dims: list, size: int, kwargs: dict, out_dims: Any,
         randomness: str) -> Any:
    """Call ``func`` on each batch element's slices and stack the outputs."""
    rng = _Randomness(randomness)
    if size == 0:  # one call on zeros of a slice's shape gives the outputs' shapes
        seen = rng.before()
        probe = func(*tree_unflatten([_zeros_slice(x, d) for x, d in zip(leaves, dims)], spec), **kwargs)
        rng.after(seen)
        return _stack_outputs(func, [probe], out_dims, empty=True)
    slicers = [_slicer(x, d) for x, d in zip(leaves, dims)]
    results = []
    for b in range(size):
        seen = rng.before()
        results.append(func(*tree_unflatten([s(b) for s in slicers], spec), **kwargs))
        rng.after(seen)
    return _stack_outputs(func, results, out_dims)
