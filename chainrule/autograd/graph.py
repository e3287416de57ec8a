"""The one graph walk: ``toposort(roots)`` lists the graph behind some tensors in dependency order.

A Tensor points at its inputs (``_parents``), never at its consumers, so every pass over
the graph — the engine's backward walk, the trace tables, the DOT drawing, the function
transforms' "does this depend on a parameter?" — starts from the outputs and follows
``_parents``. They all take their order from this one function.

The order it guarantees: **every tensor comes after all of its parents that are listed**
(inputs first, the roots last), each tensor once. Reversed, it is an order in which reverse
mode can visit the nodes: a node after all of its consumers.

How: collect the graph (a breadth-first search marking tensors in an identity set), then
sort the recorded nodes by the tick at which each was recorded (``Tensor._clk``,
autograd/version.py): an op's inputs exist before it runs, so they were recorded earlier.
The leaves (tensors no recorded op produced) come first, in the order the search met them.
So the nodes are listed in the order they were computed, and the same graph always gives the
same list. An in-place op while recording is the one thing that can give an input a later
tick than its consumer (``x`` becomes the output of the edit); then the search runs again
and reads such inputs as they were when the consumer was recorded (``inputs_as_recorded``).

The search keeps its state in the call (no recursion, nothing written into the tensors but
those corrected inputs), so walks may run inside one another (a custom Function's backward
calling ``autograd.grad``) or in several threads at once.
"""

from __future__ import annotations

from operator import attrgetter
from typing import Any, Callable, Iterable, Sequence

from chainrule.autograd.tensor import Tensor
from chainrule.autograd.version import EDITED, inputs_as_recorded


def toposort(
    roots: Iterable[Tensor],
    *,
    grad_only: bool = True,
    leaves: bool = False,
    stop: Iterable[Tensor] = (),
    on_freed: Callable[[Tensor], Any] | None = None,
) -> list[Tensor]:
    """The tensors that ``roots`` were computed from (roots included), parents before children.

    Args:
        roots: the tensors to start from (outputs).
        grad_only: follow only tensors that require grad (the graph reverse mode walks);
            False: every recorded tensor, constants included.
        leaves: list the leaves too (first); by default only graph nodes (tensors with an op).
        stop: tensors that are listed (when reached) but whose own inputs are not followed.
        on_freed: called with each graph node whose inputs were freed by an earlier
            ``backward()`` (it may raise); such a node is listed as an end of the graph.

    Returns:
        a list in which every tensor comes after all of its listed parents, each once.
    """
    roots = list(roots)
    stops = {id(t) for t in stop} if stop else None
    found, nodes = _reach(roots, grad_only, leaves, stops, on_freed, False)
    nodes.sort(key=_TICK_OF)
    if nodes and nodes[0]._clk < EDITED[0]:  # something was edited in place after a node
        found, nodes = _reach(roots, grad_only, leaves, stops, on_freed, True)
        nodes.sort(key=_TICK_OF)
    return found + nodes if leaves else nodes


def _reach(roots: list, grad_only: bool, leaves: bool, stops: set | None, on_freed: Any,
           as_recorded: bool) -> tuple[list, list]:
    """(the leaves if ``leaves``, the graph nodes) that lead to ``roots``, in the order the search
    met them.  (The tests are ordered for the engine's case: no leaves, only nodes needing grad.)"""
    found: list[Tensor] = []
    nodes: list[Tensor] = []
    seen: set = set()  # (Tensors hash by identity: their elementwise __eq__ is never consulted)
    mark = seen.add
    edited = EDITED[0]
    for r in roots:
        if r not in seen and (r.requires_grad or not grad_only):
            mark(r)
            (found if r._op is None else nodes).append(r)
    append = nodes.append
    # inputs to read otherwise than from _parents: none for a stop; as recorded after an edit
    special = stops is not None or as_recorded
    for t in nodes:  # (a list grows under its iterator: a breadth-first search)
        ps = t._parents
        if ps is None:
            if on_freed is not None:
                on_freed(t)
            continue
        if special:
            if stops is not None and id(t) in stops:
                continue
            if as_recorded and t._clk < edited:
                ps = inputs_as_recorded(t)
        for p in ps:
            if p._op is None:  # a leaf
                if leaves and p not in seen and (p.requires_grad or not grad_only):
                    mark(p)
                    found.append(p)
                continue
            if p in seen or (grad_only and not p.requires_grad):
                continue
            mark(p)
            append(p)
    return found, nodes


_TICK_OF = attrgetter("_clk")


# ================================================================ torch.autograd.graph
# The public names of ``torch.autograd.graph`` live in this module beside ``toposort``: ``Node``,
# ``GradientEdge`` and ``get_gradient_edge`` are views of the graph that ``toposort`` walks
# (autograd/node.py), and the saved-tensor hooks follow.

from chainrule.autograd.node import GradientEdge, Node, get_gradient_edge  # noqa: E402

__all__ = [
    "GradientEdge", "Node", "allow_mutation_on_saved_tensors", "disable_saved_tensors_hooks", "get_gradient_edge",
    "increment_version", "register_multi_grad_hook", "save_on_cpu", "saved_tensors_hooks",
]


class saved_tensors_hooks:
    """Context manager: pack every tensor saved for backward while it is open; unpack it in backward.

    Inside the context, each op that records a graph node calls ``pack_hook(tensor)`` on each
    tensor its backward will read (the inputs whose values the vjp uses, and the output when it
    uses it: what PyTorch's ``SavedVariable``s are, op by op they may differ from PyTorch's
    choice) and keeps the result instead; backward gets ``unpack_hook(packed)`` and computes
    with it (a modified tensor changes the gradient, as in PyTorch).  A custom ``Function``'s
    ``ctx.save_for_backward`` tensors are packed the same way.  Only the innermost context
    packs; ops run by ``pack_hook`` itself are not packed.  Outside any context nothing changes
    and nothing is paid (the context puts the thread on the recording slow path, as forward
    mode does).  ``chainrule.compile`` runs eagerly while a context is open (so the hooks run).

    Args:
        pack_hook: tensor -> any object to keep.
        unpack_hook: that object -> a Tensor with the saved tensor's values.
    """

    def __init__(self, pack_hook: Callable[[Tensor], Any], unpack_hook: Callable[[Any], Tensor]) -> None:
        self.pack_hook = pack_hook
        self.unpack_hook = unpack_hook

    def __enter__(self) -> saved_tensors_hooks:
        from chainrule.autograd.grad_mode import STATE

        if STATE.saved_hooks_disabled is not None:
            raise RuntimeError(STATE.saved_hooks_disabled)
        STATE.saved_hooks.append((self.pack_hook, self.unpack_hook))
        STATE.refresh()
        return self

    def __exit__(self, *args: object) -> None:
        from chainrule.autograd.grad_mode import STATE

        STATE.saved_hooks.pop()
        STATE.refresh()


class save_on_cpu(saved_tensors_hooks):
    """Keep the tensors saved for backward as copies in host memory (``saved_tensors_hooks``).

    In PyTorch this moves activations from the GPU to (optionally pinned) CPU memory during the
    forward pass and back when backward needs them.  chainrule's tensors already live in host
    memory (the CPU back end), so each saved tensor is kept as a host copy (a device back end's
    array is copied to the host) and unpacked onto its device again; ``pin_memory`` and
    ``device_type`` are accepted for compatibility and change nothing.  The copies hold values
    only: a second derivative does not flow through them (as in PyTorch).

    Args:
        pin_memory: PyTorch's page-locked copies; ignored.
        device_type: the accelerator PyTorch moves back to; ignored (the tensor's own device is used).
    """

    def __init__(self, pin_memory: bool = False, device_type: str = "cuda") -> None:
        self.pin_memory = pin_memory
        self.device_type = device_type

        def pack(t: Tensor) -> tuple:
            return t.device, t.detach().to("cpu").clone()

        def unpack(packed: tuple) -> Tensor:
            device, copy = packed
            return copy.to(device)

        super().__init__(pack, unpack)


class disable_saved_tensors_hooks:
    """Context manager (and decorator) under which ``saved_tensors_hooks`` raise ``error_message``.

    Entering it while a ``saved_tensors_hooks`` context is open raises too, as in PyTorch.

    Args:
        error_message: the RuntimeError's message.
    """

    def __init__(self, error_message: str) -> None:
        self.error_message = error_message
        self._prev: list = []

    def __enter__(self) -> disable_saved_tensors_hooks:
        from chainrule.autograd.grad_mode import STATE

        if STATE.saved_hooks:
            raise RuntimeError(self.error_message)
        self._prev.append(STATE.saved_hooks_disabled)
        STATE.saved_hooks_disabled = self.error_message
        return self

    def __exit__(self, *args: object) -> None:
        from chainrule.autograd.grad_mode import STATE

        STATE.saved_hooks_disabled = self._prev.pop()

    def __call__(self, fn: Callable) -> Callable:
        import functools

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with disable_saved_tensors_hooks(self.error_message):
                return fn(*args, **kwargs)

        return wrapper


class _MultiHandle:
    """The handle ``register_multi_grad_hook`` returns: ``remove()`` unregisters every hook."""

    def __init__(self, handles: list) -> None:
        self.handles = handles

    def remove(self) -> None:
        for h in self.handles:
            h.remove()

    def __enter__(self) -> _MultiHandle:
        return self

    def __exit__(self, *args: object) -> None:
        self.remove()


def register_multi_grad_hook(tensors: Sequence[Tensor], fn: Callable, *, mode: str = "all") -> _MultiHandle:
    """Call ``fn`` once per backward call with the gradients of several tensors.

    ``mode="all"``: ``fn(grads)`` with one entry per tensor (None for a tensor the call gave no
    gradient), once the call's walk is done (PyTorch calls it as soon as the last of them is
    computed: the same arguments, possibly later in the walk); not called when none of them got
    a gradient.  ``mode="any"``: ``fn(grad)`` with the first of their gradients to be computed,
    once per backward call.  Returns a handle whose ``remove()`` unregisters it.

    Args:
        tensors: tensors that require grad.
        fn: the hook; its return value is ignored.
        mode: ``"all"`` or ``"any"``.
    """
    from chainrule.autograd.grad_mode import STATE

    if mode not in ("all", "any"):
        raise ValueError(f"Expects mode to be one of ('all', 'any') but got {mode}")
    tensors = list(tensors)
    seen_calls: list = [None]  # the backward call (its list of end callables) last served
    grads: dict = {}

    def make(i: int) -> Callable:
        def hook(g: Tensor) -> None:
            calls = STATE.backward_ends
            call = calls[-1] if calls else None
            if mode == "any":
                if call is None or seen_calls[0] is not call:
                    seen_calls[0] = call
                    fn(g)
                return
            if call is None:  # (not inside a backward call: nothing to wait for)
                fn([g if k == i else None for k in range(len(tensors))])
                return
            if seen_calls[0] is not call:
                seen_calls[0] = call
                grads.clear()

                def end() -> None:
                    got = [grads.get(k) for k in range(len(tensors))]
                    grads.clear()
                    fn(got)

                call.append(end)
            grads[i] = g

        return hook

    return _MultiHandle([t.register_hook(make(i)) for i, t in enumerate(tensors)])


def increment_version(tensor: Tensor | Iterable[Tensor]) -> None:
    """Count one in-place modification of ``tensor`` (or of each of several) for autograd's
    saved-tensor check, as an in-place op would (for writes made behind autograd's back)."""
    from chainrule.autograd.version import bump_all

    bump_all((tensor,) if isinstance(tensor, Tensor) else tuple(tensor))


class allow_mutation_on_saved_tensors(saved_tensors_hooks):
    """Context manager under which tensors saved for backward may be modified in place.

    Backward then uses the values they had when they were saved, as in PyTorch.  PyTorch clones
    a saved tensor lazily, when it is about to be mutated; chainrule has no hook on every
    in-place op, so this is a ``saved_tensors_hooks`` that keeps a copy of each saved tensor at
    once (more memory while the graph lives) and, in backward, gives the tensor itself when it
    was not modified since (so ``create_graph`` still differentiates through it) or the copy.
    Contexts cannot be nested (RuntimeError, as in PyTorch).
    """

    _active: list = []

    def __init__(self) -> None:
        def pack(t: Tensor) -> tuple:
            return t, t._version, t.detach().clone()

        def unpack(packed: tuple) -> Tensor:
            t, version, copy = packed
            return t if t._version == version else copy

        super().__init__(pack, unpack)

    def __enter__(self) -> allow_mutation_on_saved_tensors:
        if allow_mutation_on_saved_tensors._active:
            raise RuntimeError("allow_mutation_on_saved_tensors contexts cannot be nested")
        super().__enter__()
        allow_mutation_on_saved_tensors._active.append(self)
        return self

    def __exit__(self, *args: object) -> None:
        allow_mutation_on_saved_tensors._active.pop()
        super().__exit__(*args)
