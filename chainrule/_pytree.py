"""Nested containers of tensors ("pytrees"), as ``torch.func``'s transforms take and return them.

A tree is a tuple (named tuples included), a list or a dict whose values are trees; anything
else is a leaf (a Tensor, a number, None).  ``tree_flatten`` lists the leaves depth first
(dict values in the dict's own key order) with a ``TreeSpec`` that ``tree_unflatten``
rebuilds the same containers from::

    leaves, spec = tree_flatten({"w": w, "b": (b1, b2)})   # [w, b1, b2]
    tree_unflatten([2 * t for t in leaves], spec)          # {"w": 2w, "b": (2b1, 2b2)}

``broadcast_prefix`` spreads a per-argument option (vmap's ``in_dims``/``out_dims``) over the
leaves of the tree it describes: an int or None stands for every leaf below it.
"""

from __future__ import annotations

from typing import Any, Callable


class TreeSpec:
    """The shape of a tree without its leaves: the container type, its keys and the children."""

    __slots__ = ("kind", "keys", "children", "num_leaves")

    def __init__(self, kind: type | None, keys: list | None = None, children: list[TreeSpec] | None = None):
        self.kind = kind  # None: a leaf
        self.keys = keys  # dict: its keys; tuple/list: None
        self.children = children or []
        self.num_leaves: int = 1 if kind is None else sum(c.num_leaves for c in self.children)

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, TreeSpec) and self.kind is other.kind and self.keys == other.keys
                and self.children == other.children)

    def __repr__(self) -> str:
        if self.kind is None:
            return "*"
        keys = f", {self.keys}" if self.keys is not None else ""
        return f"TreeSpec({self.kind.__name__}{keys}, [{', '.join(map(repr, self.children))}])"


def _is_container(x: Any) -> bool:
    return isinstance(x, (tuple, list, dict))


def tree_flatten(tree: Any) -> tuple[list, TreeSpec]:
    """(leaves depth first, spec)."""
    leaves: list = []

    def walk(node: Any) -> TreeSpec:
        if isinstance(node, dict):
            keys = list(node)
            return TreeSpec(type(node), keys, [walk(node[k]) for k in keys])
        if isinstance(node, (tuple, list)):
            return TreeSpec(type(node), None, [walk(c) for c in node])
        leaves.append(node)
        return TreeSpec(None)

    return leaves, walk(tree)


def tree_unflatten(leaves: list, spec: TreeSpec) -> Any:
    """The tree of ``spec``'s containers with ``leaves`` in order."""
    if len(leaves) != spec.num_leaves:
        raise ValueError(f"tree_unflatten: the spec has {spec.num_leaves} leaves, got {len(leaves)}")
    it = iter(leaves)

    def build(s: TreeSpec) -> Any:
        if s.kind is None:
            return next(it)
        children = [build(c) for c in s.children]
        if s.keys is not None:
            return s.kind(zip(s.keys, children))
        if hasattr(s.kind, "_fields"):  # a named tuple takes its fields as arguments
            return s.kind(*children)
        return s.kind(children)

    return build(spec)


def tree_map(fn: Callable[[Any], Any], tree: Any) -> Any:
    """The same containers with ``fn`` applied to every leaf."""
    leaves, spec = tree_flatten(tree)
    return tree_unflatten([fn(x) for x in leaves], spec)


def broadcast_prefix(prefix: Any, tree: Any, is_leaf_option: Callable[[Any], bool]) -> list | None:
    """One option per leaf of ``tree``, or None when ``prefix`` does not match its structure.

    ``prefix`` is a tree whose leaves are options (``is_leaf_option``): an option where
    ``tree`` has a container applies to every leaf below it; where ``prefix`` has a container,
    ``tree`` must have one of the same kind (tuple, list, dict) and length (dicts: the same keys).
    """
    out: list = []

    def walk(p: Any, t: Any) -> bool:
        if is_leaf_option(p) or not _is_container(p):
            out.extend([p] * tree_flatten(t)[1].num_leaves)
            return True
        if isinstance(p, dict):
            if not isinstance(t, dict) or set(p) != set(t):
                return False
            return all(walk(p[k], t[k]) for k in t)
        if not isinstance(t, (tuple, list)) or isinstance(p, list) != isinstance(t, list) or len(p) != len(t):
            return False  # (a tuple prefix matches a tuple, a list prefix a list)
        return all(walk(pc, tc) for pc, tc in zip(p, t))

    return out if walk(prefix, tree) else None
