"""``torch.func.rearrange``: einops' ``rearrange(tensor, pattern, **axes_lengths)`` without einops.

A pattern ``"b (h1 h) (w1 w) c -> (b h1 w1) h w c"`` names each axis of the input on the left
and says how to lay the same axes out on the right.  A parenthesised group is one tensor axis
made of several (its length is the product of theirs, the first one varying slowest), ``1`` or
``()`` an axis of length 1, and ``...`` the axes the pattern does not name (on the right it may
be grouped: ``(...)``).  Lengths that cannot be read from the input's shape are given as keyword
arguments (``h1=2``); in each left group at most one length may be left to infer.

The recipe is three steps, all differentiable views/copies of the existing ops:

1. ``reshape`` the input to its elementary axes (each left group split, ``1`` axes dropped);
2. ``permute`` them into the right side's order;
3. ``reshape`` to the right side's groups (products of elementary lengths; ``1`` axes inserted).

So gradients (both modes) and ``vmap`` come for free.  The grammar and the error messages are
those of functorch's ``rearrange`` (adapted from einops' parser; MIT licence, Alex Rogozhnikov),
which, unlike einops, accepts only length-1 anonymous axes.
"""

from __future__ import annotations

import functools
import keyword
import math
import warnings
from typing import Any, Sequence

from chainrule.autograd.tensor import Tensor

_ELLIPSIS = "\u2026"  # "..." stands as one symbol once read


class _Side:
    """One side of a pattern: ``groups`` is a list whose items are lists of axis names (a
    group; ``[]`` is an axis of length 1) or the ellipsis symbol itself (ungrouped)."""

    def __init__(self, text: str) -> None:
        self.groups: list[Any] = []
        self.names: list[str] = []  # every named axis (ellipsis included), in order
        self.ellipsis_grouped: bool | None = None
        if "." in text:
            if text.count("...") != 1 or text.count(".") != 3:
                raise ValueError(
                    "rearrange: an expression may contain dots only inside one ellipsis (...), got "
                    f"'{text.strip()}'"
                )
            text = text.replace("...", _ELLIPSIS)
        group: list[str] | None = None
        word = ""
        for ch in text + " ":
            if ch.isalnum() or ch in ("_", _ELLIPSIS):
                word += ch
                continue
            if word:
                self._add(word, group)
                word = ""
            if ch == "(":
                if group is not None:
                    raise ValueError("rearrange: axis composition is one-level (brackets inside brackets not allowed)")
                group = []
            elif ch == ")":
                if group is None:
                    raise ValueError(f"rearrange: brackets are not balanced in '{text.strip()}'")
                self.groups.append(group)
                group = None
            elif ch != " ":
                raise ValueError(f"rearrange: unknown character '{ch}' in '{text.strip()}'")
        if group is not None:
            raise ValueError(f"rearrange: imbalanced parentheses in expression '{text.strip()}'")

    def _add(self, word: str, group: list[str] | None) -> None:
        if word in self.names:
            raise ValueError(f"rearrange: indexing expression contains duplicate dimension '{word}'")
        if word == _ELLIPSIS:
            self.names.append(word)
            self.ellipsis_grouped = group is not None
            (self.groups if group is None else group).append(word)
            return
        if word.isdecimal():
            if int(word) != 1:
                raise ValueError(f"rearrange only supports unnamed axes of size 1, got '{word}'")
            if group is None:
                self.groups.append([])  # an axis of length 1 (inside a group it changes nothing)
            return
        if not word.isidentifier():
            raise ValueError(f"rearrange: invalid axis identifier '{word}': not a valid python identifier")
        if word[0] == "_" or word[-1] == "_":
            raise ValueError(f"rearrange: invalid axis identifier '{word}': it should not start or end with underscore")
        if keyword.iskeyword(word):
            warnings.warn(f"It is discouraged to use axes names that are keywords: {word}", RuntimeWarning,
                          stacklevel=4)
        self.names.append(word)
        if group is None:
            self.groups.append([word])
        else:
            group.append(word)


@functools.lru_cache(256)
def _parse(pattern: str, given: tuple[str, ...]) -> tuple[_Side, _Side]:
    if not isinstance(pattern, str) or pattern.count("->") != 1:
        raise ValueError(f"rearrange: the pattern must contain a single '->' separator, got {pattern!r}")
    left_text, right_text = pattern.split("->")
    left, right = _Side(left_text), _Side(right_text)
    if right.ellipsis_grouped is not None and left.ellipsis_grouped is None:
        raise ValueError(f"rearrange: ellipsis found in right side, but not left side of the pattern '{pattern}'")
    if left.ellipsis_grouped:
        raise ValueError(f"rearrange: ellipsis in parenthesis in the left side is not allowed: '{pattern}'")
    only_one_side = set(left.names) ^ set(right.names)
    if only_one_side:
        raise ValueError(
            f"rearrange: identifiers only on one side of the expression (should be on both): {sorted(only_one_side)} "
            f"in '{pattern}'"
        )
    unknown = set(given) - set(left.names)
    if unknown:
        raise ValueError(f"rearrange: identifiers not found in the expression '{pattern}': {sorted(unknown)}")
    return left, right


def rearrange(tensor: Tensor | Sequence[Tensor], pattern: str, **axes_lengths: int) -> Tensor:
    """Reorder, split, merge, add or drop (length-1) axes as an einops pattern says.

    Args:
        tensor: a Tensor, or a list/tuple of Tensors of one shape (stacked along a new first axis).
        pattern: ``"left -> right"``, e.g. ``"b h w c -> b c h w"``, ``"b (h w) c -> b h w c"``,
            ``"... c -> c ..."``, ``"a b -> a 1 b"``.
        axes_lengths: lengths of axes that cannot be inferred from the input's shape (``h=4``).

    Returns:
        The rearranged tensor (differentiable: a reshape, a permute and a reshape).

    Raises:
        ValueError: a malformed pattern, axes named on one side only, a rank or length that does
            not match the input (the message gives the pattern, the shapes and the lengths).
        TypeError: an axis length that is not an int.

    Example:
        >>> x = chainrule.randn(32, 30, 40, 3)
        >>> rearrange(x, "b (h1 h) (w1 w) c -> (b h1 w1) h w c", h1=2, w1=2).shape
        (128, 15, 20, 3)
    """
    from chainrule import ops

    if not isinstance(tensor, Tensor):
        if not isinstance(tensor, (list, tuple)) or not all(isinstance(t, Tensor) for t in tensor):
            raise TypeError(f"rearrange: expected a Tensor or a list/tuple of Tensors, got {type(tensor).__name__}")
        tensor = ops.stack(list(tensor))
    for name, length in axes_lengths.items():
        if type(length) is not int:
            raise TypeError(f"rearrange axis lengths must be integers, got {name}={length!r} ({type(length).__name__})")
    left, right = _parse(pattern, tuple(sorted(axes_lengths)))
    shape = tuple(tensor.shape)
    ndim = len(shape)
    if left.ellipsis_grouped is None:
        if len(left.groups) != ndim:
            raise ValueError(
                f"rearrange: number of dimensions in the pattern ({len(left.groups)}) must be equal to the number "
                f"of dimensions in the tensor ({ndim}): '{pattern}' for shape {shape}"
            )
        n_ellipsis = 0
    else:
        n_ellipsis = ndim - (len(left.groups) - 1)
        if n_ellipsis < 0:
            raise ValueError(
                f"rearrange: number of dimensions in the pattern ({len(left.groups) - 1}) must be less than or "
                f"equal to the number of dimensions in the tensor ({ndim}): '{pattern}' for shape {shape}"
            )
    ell = [f"{_ELLIPSIS}{k}" for k in range(n_ellipsis)]  # the axes "..." stands for

    # 1. each elementary axis's length, from the input's shape and the given lengths
    lengths: dict[str, int] = {}
    elementary: list[str] = []  # left's elementary axes, in order (length-1 axes left out)
    axis = 0
    for g in left.groups:
        if g == _ELLIPSIS:
            for e in ell:
                lengths[e] = shape[axis]
                elementary.append(e)
                axis += 1
            continue
        n = shape[axis]
        unknown = [a for a in g if a not in axes_lengths]
        known = math.prod(axes_lengths[a] for a in g if a in axes_lengths)
        if not g:
            if n != 1:
                raise ValueError(
                    f"rearrange: axis {axis} of the tensor has length {n}, but the pattern '{pattern}' says 1 "
                    f"(shape {shape})"
                )
        elif len(unknown) > 1:
            raise ValueError(
                f"rearrange: cannot infer the lengths of {unknown} at once in '{pattern}' (axis {axis} has length "
                f"{n}): give all but one of them as keyword arguments"
            )
        elif unknown:
            if known <= 0 or n % known:
                raise ValueError(
                    f"rearrange: axis {axis} of length {n} cannot be split into {g} with "
                    f"{ {a: axes_lengths[a] for a in g if a in axes_lengths} } in '{pattern}'"
                )
            lengths[unknown[0]] = n // known
        elif known != n:
            raise ValueError(
                f"rearrange: axis {axis} has length {n}, but {g} = "
                f"{ {a: axes_lengths[a] for a in g} } has product {known} in '{pattern}'"
            )
        for a in g:
            lengths.setdefault(a, axes_lengths.get(a, 0))
            elementary.append(a)
        axis += 1

    # 2. the right side: its elementary order and each output axis's length
    order: list[str] = []
    out_shape: list[int] = []
    for g in right.groups:
        if g == _ELLIPSIS:
            order.extend(ell)
            out_shape.extend(lengths[e] for e in ell)
            continue
        parts = [e for a in g for e in (ell if a == _ELLIPSIS else [a])]
        order.extend(parts)
        out_shape.append(math.prod(lengths[a] for a in parts))

    x = ops.reshape(tensor, tuple(lengths[a] for a in elementary))
    perm = tuple(elementary.index(a) for a in order)
    if perm != tuple(range(len(perm))):
        x = ops.permute(x, perm)
    return ops.reshape(x, tuple(out_shape))
