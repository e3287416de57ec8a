"""``torch.utils._pytree``: nested containers as (leaves, spec), defined in :mod:`chainrule._pytree`
(which ``chainrule.func`` uses); programs import it under PyTorch's path."""

from chainrule._pytree import TreeSpec, tree_flatten, tree_map, tree_unflatten

__all__ = ["TreeSpec", "tree_flatten", "tree_map", "tree_unflatten"]
