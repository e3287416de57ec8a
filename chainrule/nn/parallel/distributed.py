"""DistributedDataParallel: data-parallel training over MPI, PyTorch's ``nn.parallel.DistributedDataParallel``.

Every rank holds the same model and trains on its own share of each batch. At
construction the parameters and buffers are broadcast from rank 0, so every rank
starts from the same values; after each ``backward()`` every rank holds the
*average* over ranks of the gradients, so the optimisers take the same step.

Communication overlaps the backward pass, as in PyTorch:

* the parameters are grouped into **buckets** of at most ``bucket_cap_mb`` MB
  (25 MB; the first bucket at most 1 MB, so communication starts early), in
  *reverse* parameter order -- roughly the order in which backward finishes
  their gradients (the last layer first);
* a post-accumulate-grad hook on each parameter copies its gradient into its
  bucket's flat buffer as soon as the gradient is final; when a bucket is full,
  a non-blocking MPI all-reduce (``Iallreduce``) of the whole bucket starts while
  the engine goes on computing the earlier layers' gradients;
* buckets start in their index order on every rank (MPI needs the ranks to start
  their collectives in the same order), and the hook of the last gradient waits
  for all of them, divides by the world size and writes the averages back into
  ``.grad``: ``backward()`` returns with the averaged gradients.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any, Iterator

import numpy as np

from chainrule.autograd.grad_mode import is_grad_enabled
from chainrule.autograd.graph import toposort
from chainrule.autograd.primitive import table_of
from chainrule.autograd.tensor import Tensor
from chainrule.autograd.version import bump
from chainrule.backend import ArrayMath as _HOST
from chainrule.backend import registry
from chainrule.backend.device import check_device
from chainrule.nn.module import Module

__all__ = ["DistributedDataParallel"]

_FIRST_BUCKET_BYTES = 1024 * 1024  # PyTorch's dist._DEFAULT_FIRST_BUCKET_BYTES


class _Bucket:
    """Parameters whose gradients travel in one all-reduce, and their flat buffer.

    MPI reads and writes host memory: the buffer is a host array (the host table ``_HOST``'s),
    and gradients on another device are copied to and from it through the registry."""

    __slots__ = ("params", "offsets", "buffer", "pending", "work", "started_at")

    def __init__(self, params: list, dtype: np.dtype) -> None:
        self.params = params
        self.offsets = []
        n = 0
        for p in params:
            self.offsets.append(n)
            n += p._array.size
        self.buffer = _HOST.zeros(n, dtype)
        self.pending = len(params)
        self.work: Any = None
        self.started_at = 0.0  # time.perf_counter() when its all-reduce started (for profiling)

    def view(self, i: int) -> np.ndarray:
        p = self.params[i]
        o = self.offsets[i]
        return self.buffer[o : o + p._array.size].reshape(p._array.shape)


class DistributedDataParallel(Module):
    """Wrap ``module`` for data-parallel training (PyTorch's constructor and behaviour; see the module docstring).

    Args:
        module: the model; ``ddp.module`` is it (and DDP's own ``state_dict`` keys
            have the ``module.`` prefix, as PyTorch's; save ``ddp.module.state_dict()``).
        device_ids: accepted for compatibility: None or CPU devices only.
        output_device: accepted for compatibility: None or a CPU device.
        dim: the batch dimension; must be 0.
        broadcast_buffers: broadcast rank 0's buffers (BatchNorm's running statistics)
            at the start of each training forward.
        init_sync: broadcast rank 0's parameters and buffers at construction.
        process_group: None (the default group).
        bucket_cap_mb: the bucket size in MB (default 25).
        find_unused_parameters: look, after each forward, for parameters that the output
            does not depend on, and count them as ready (their gradients then are the
            average over the ranks that used them; left as they are where no rank did).
            Without it, a parameter that gets no gradient leaves the reduction
            unfinished, and the next forward raises.
        check_reduction: ignored (deprecated in PyTorch).
        gradient_as_bucket_view: make each ``.grad`` a view of its bucket's buffer
            (saves one copy per parameter after the all-reduce).
        static_graph: accepted (the graph is re-examined each iteration anyway).
    """

    def __init__(
        self,
        module: Module,
        device_ids: Any = None,
        output_device: Any = None,
        dim: int = 0,
        broadcast_buffers: bool = True,
        init_sync: bool = True,
        process_group: Any = None,
        bucket_cap_mb: float | None = None,
        find_unused_parameters: bool = False,
        check_reduction: bool = False,
        gradient_as_bucket_view: bool = False,
        static_graph: bool = False,
        delay_all_reduce_named_params: Any = None,
        param_to_hook_all_reduce: Any = None,
        mixed_precision: Any = None,
        device_mesh: Any = None,
    ) -> None:
        from chainrule import distributed as dist

        super().__init__()
        if not isinstance(module, Module):
            raise TypeError(f"DistributedDataParallel: module must be an nn.Module, got {type(module).__name__}")
        for d in device_ids or ():
            check_device(d, "DistributedDataParallel(device_ids=...)")
        check_device(output_device, "DistributedDataParallel(output_device=...)")
        if dim != 0:
            raise ValueError(f"DistributedDataParallel: only dim=0 (the batch dimension first) is supported, got {dim}")
        for name, value in (
            ("delay_all_reduce_named_params", delay_all_reduce_named_params),
            ("param_to_hook_all_reduce", param_to_hook_all_reduce),
            ("mixed_precision", mixed_precision),
            ("device_mesh", device_mesh),
        ):
            if value is not None:
                raise NotImplementedError(f"DistributedDataParallel: {name} is not supported in chainrule")
        if bucket_cap_mb is None:
            bucket_cap_mb = 25.0
        if not bucket_cap_mb > 0:
            raise ValueError(f"DistributedDataParallel: bucket_cap_mb must be positive, got {bucket_cap_mb}")
        pg = dist._group(process_group, "DistributedDataParallel")
        self.module = module
        self.process_group = process_group
        self.device_ids = device_ids
        self.output_device = output_device
        self.dim = dim
        self.broadcast_buffers = broadcast_buffers
        self.find_unused_parameters = find_unused_parameters
        self.gradient_as_bucket_view = gradient_as_bucket_view
        self.static_graph = static_graph
        self.bucket_bytes_cap = int(bucket_cap_mb * 1024 * 1024)
        self.require_backward_grad_sync = True  # False inside no_sync()
        self._world = pg.size()
        params = [p for p in module.parameters() if p.requires_grad]
        self._params = params
        self._verify_shapes(params)
        if init_sync and self._world > 1:
            for t in list(module.parameters()) + [b for b in module.buffers() if b is not None]:
                dist.broadcast(t, 0, process_group)
        self._buckets = self._make_buckets(params)
        self._where: dict = {}  # parameter -> (bucket index, index in the bucket)
        for bi, bucket in enumerate(self._buckets):
            for i, p in enumerate(bucket.params):
                self._where[p] = (bi, i)
        self._armed = False  # a syncing forward ran: this backward's hooks reduce
        self._next = 0  # the next bucket to start
        self._ready: set = set()  # parameters marked ready this iteration
        self._unused: list = []  # found by find_unused_parameters after the forward
        self._hooks = [p.register_post_accumulate_grad_hook(self._grad_ready) for p in params]

    # -- construction -----------------------------------------------------------------------------
    def _verify_shapes(self, params: list) -> None:
        from chainrule import distributed as dist

        mine = [(tuple(p.shape), str(p._array.dtype)) for p in params]
        every: list = [None] * self._world
        dist.all_gather_object(every, mine, self.process_group)
        for r, theirs in enumerate(every):
            if theirs != mine:
                raise RuntimeError(
                    f"DistributedDataParallel: rank {r}'s model has parameters {theirs} but rank "
                    f"{dist.get_rank(self.process_group)}'s has {mine}: every rank must build the same model"
                )

    def _make_buckets(self, params: list) -> list[_Bucket]:
        """Buckets in reverse parameter order, one dtype each, the first at most 1 MB, the others bucket_cap_mb."""
        buckets: list[_Bucket] = []
        open_: dict = {}  # dtype -> (params, bytes) being filled
        for p in reversed(params):
            dt = p._array.dtype
            group, size = open_.get(dt, ([], 0))
            cap = min(_FIRST_BUCKET_BYTES, self.bucket_bytes_cap) if not buckets else self.bucket_bytes_cap
            if group and size + p._array.nbytes > cap:
                buckets.append(_Bucket(group, dt))
                group, size = [], 0
            group.append(p)
            open_[dt] = (group, size + p._array.nbytes)
        for dt, (group, _) in open_.items():
            if group:
                buckets.append(_Bucket(group, dt))
        return buckets

    # -- forward --------------------------------------------------------------------------------
    def forward(self, *inputs: Any, **kwargs: Any) -> Any:
        from chainrule import distributed as dist

        if self._armed and self._ready:
            missing = self._names(p for p in self._params if p not in self._ready)
            self._armed = False
            self._ready = set()
            for bucket in self._buckets:  # start the next iteration afresh (its buckets empty)
                bucket.pending = len(bucket.params)
                bucket.work = None
            raise RuntimeError(
                "DistributedDataParallel: expected to have finished reduction in the prior iteration before "
                "starting a new one: some parameters got no gradient in the last backward (they were not used "
                "to compute the loss). Pass find_unused_parameters=True to DistributedDataParallel, or make "
                "every parameter take part in the loss. Parameters without a gradient: "
                + ", ".join(missing)
            )
        sync = is_grad_enabled() and self.require_backward_grad_sync
        if sync and self.broadcast_buffers and self._world > 1 and self.module.training:
            for b in self.module.buffers():
                if b is not None:
                    dist.broadcast(b, 0, self.process_group)
        out = self.module(*inputs, **kwargs)
        self._armed = sync
        self._next = 0
        self._ready = set()
        self._unused = self._find_unused(out) if sync and self.find_unused_parameters else []
        return out

    def _names(self, params: Any) -> list[str]:
        names = {p: n for n, p in self.module.named_parameters()}
        return [names.get(p, "?") for p in params]

    def _find_unused(self, out: Any) -> list:
        """The parameters that ``out`` does not depend on (a walk of its graph)."""
        reached = toposort([t for t in _tensors(out) if t.requires_grad], leaves=True)
        used = {t for t in reached if t._op is None}
        return [p for p in self._params if p not in used]

    # -- backward: the hooks ------------------------------------------------------------------------
    def _grad_ready(self, p: Tensor) -> None:
        """Post-accumulate-grad hook: p.grad is final; copy it into its bucket, start full buckets."""
        if not self._armed:
            return
        if not self._ready and self._unused:
            for q in self._unused:  # never get a gradient this iteration: ready now (as zeros)
                self._mark(q)
        self._mark(p)

    def _mark(self, p: Tensor) -> None:
        if p in self._ready:
            raise RuntimeError(
                f"DistributedDataParallel: parameter {self._names([p])[0]} was marked ready twice in one "
                "iteration (backward through the same forward twice?)"
            )
        self._ready.add(p)
        bi, i = self._where[p]
        bucket = self._buckets[bi]
        view = bucket.view(i)
        if p.grad is None:
            view[...] = 0
        else:
            _HOST.copyto(view, registry.to_host(p.grad._array))
        bucket.pending -= 1
        # drive MPI's progress on the buckets in flight: without a progress thread, MPI moves a
        # non-blocking collective's data only inside MPI calls, so a test now (a few µs) lets it
        # advance while backward computes instead of all at the final wait
        for k in range(self._next):
            w = self._buckets[k].work
            if w is not None and not w._done:
                w.is_completed()
        # start every bucket that is full, in index order (the same order on every rank)
        while self._next < len(self._buckets) and self._buckets[self._next].pending == 0:
            self._start(self._buckets[self._next])
            self._next += 1
        if self._next == len(self._buckets):
            self._finish()

    def _start(self, bucket: _Bucket) -> None:
        from chainrule import distributed as dist

        bucket.started_at = time.perf_counter()
        bucket.work = dist._all_reduce_array(bucket.buffer, dist.ReduceOp.SUM, self.process_group, async_op=True)

    def _finish(self) -> None:
        """Wait for every bucket, then .grad ← the average over ranks (backward returns after this)."""
        from chainrule import distributed as dist

        self._armed = False
        used_somewhere = None
        if self.find_unused_parameters:
            # which parameters did *some* rank use? (an unused one keeps its .grad as it was);
            # every rank takes part, even one that used everything: MPI matches collectives by order
            flags = _HOST.zeros(len(self._params), np.int32)
            unused = set(self._unused)
            for k, p in enumerate(self._params):
                flags[k] = p not in unused
            dist._all_reduce_array(flags, dist.ReduceOp.MAX, self.process_group)
            used_somewhere = {p for k, p in enumerate(self._params) if flags[k]}
        n = self._world
        for bucket in self._buckets:
            bucket.work.wait()
            bucket.work = None
            if self.gradient_as_bucket_view:  # the gradients are the buffer: average it in place
                _HOST.divide(bucket.buffer, n, out=bucket.buffer)
            for i, p in enumerate(bucket.params):
                if used_somewhere is not None and p not in used_somewhere:
                    continue
                view: Any = bucket.view(i)
                dev = registry.device_of(p._array)  # (a CPU gradient may be a view of the bucket)
                if self.gradient_as_bucket_view:
                    p.grad = Tensor._wrap(registry.to_device(view, dev))
                elif p.grad is None:
                    p.grad = Tensor._wrap(registry.to_device(_HOST.divide(view, n), dev))
                elif type(p.grad._array) is np.ndarray:  # the sum, divided on its way into .grad: one pass
                    g: Any = p.grad._array
                    _HOST.divide(view, n, out=g)
                    bump(p.grad)
                else:
                    g = p.grad._array
                    table_of((g,), "DistributedDataParallel").copyto(g, registry.to_device(_HOST.divide(view, n), dev))
                    bump(p.grad)
            bucket.pending = len(bucket.params)

    # -- gradient accumulation ----------------------------------------------------------------------
    @contextlib.contextmanager
    def no_sync(self) -> Iterator[None]:
        """Inside, backward passes accumulate gradients locally, without communication; the first
        backward after it averages the accumulated gradients (gradient accumulation)."""
        old = self.require_backward_grad_sync
        self.require_backward_grad_sync = False
        try:
            yield
        finally:
            self.require_backward_grad_sync = old

    def extra_repr(self) -> str:
        cap = self.bucket_bytes_cap / 2**20
        return f"world_size={self._world}, buckets={len(self._buckets)}, bucket_cap_mb={cap:g}"


def _tensors(obj: Any) -> Iterator[Tensor]:
    """The Tensors in a forward's output (a tensor, or tuples/lists/dicts of them)."""
    if isinstance(obj, Tensor):
        yield obj
    elif isinstance(obj, (list, tuple)):
        for o in obj:
            yield from _tensors(o)
    elif isinstance(obj, dict):
        for o in obj.values():
            yield from _tensors(o)
