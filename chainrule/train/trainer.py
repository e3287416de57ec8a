"""The training loop: mini-batch gradient descent with validation, metrics, callbacks and checkpoints.

One epoch of ``Trainer.fit`` is the notes' mini-batch SGD:

    for each mini-batch (x, y) of the shuffled training set:
        out  = model(x)                      forward
        L    = loss_fn(out, y)               mean loss of the batch
        grads = dL/dW                        backward (reverse mode)
        (clip ||grads|| to grad_clip)        optional, against exploding gradients
        W   <- optimizer update(W, grads)    SGD / momentum / Adam ...
    then: evaluate on the validation set, step the learning-rate schedule,
    record the epoch in the history, run the callbacks (early stopping, checkpoints).

The reported epoch loss is the average over examples, sum_b n_b L_b / sum_b n_b,
of the losses computed while training (so with dropout on, and the weights
changing during the epoch); the validation numbers use the model in eval mode.

Data-parallel training: when ``chainrule.distributed``'s process group is initialised
with more than one process, the Trainer wraps the model in ``DistributedDataParallel``
(unless it already is one), so each step averages the gradients of all ranks; the sums
behind the epoch's loss and metrics (and the validation ones) are added up across ranks, so
every rank logs the values over all ranks' examples; rank 0 alone writes checkpoints,
history files and progress bars; a checkpoint holds every rank's random states and the
unwrapped model's weights (loadable in one process too); a sampler with ``set_epoch``
(``DistributedSampler``) is told the epoch before each one.
"""

from __future__ import annotations

import contextlib
import copy
import csv
import json
import signal
import sys
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from chainrule.autograd.grad_mode import no_grad
from chainrule.autograd.tensor import Tensor
from chainrule.backend import default_generator
from chainrule.backend.device import check_device
from chainrule.train.callbacks import Callback
from chainrule.train.metrics import Metric, default_metrics, make_metric
from chainrule.utils.data.distributed import _process_group
from chainrule.utils.data.sampler import rng_state, set_rng_state


class History:
    """Per-epoch records: ``history.records`` is a list of dicts; ``history['val_loss']`` a list of values."""

    def __init__(self, records: Iterable[dict] | None = None) -> None:
        self.records: list[dict] = [dict(r) for r in (records or [])]

    def append(self, logs: dict) -> None:
        self.records.append(dict(logs))

    def keys(self) -> list[str]:
        seen: dict[str, None] = {}
        for r in self.records:
            for k in r:
                seen.setdefault(k, None)
        return list(seen)

    def __getitem__(self, key: str) -> list:
        if key not in self.keys():
            raise KeyError(f"History: no {key!r}; recorded: {self.keys()}")
        return [r.get(key, float("nan")) for r in self.records]

    def __contains__(self, key: str) -> bool:
        return key in self.keys()

    def __len__(self) -> int:
        return len(self.records)

    def best(self, monitor: str = "val_loss", mode: str = "min") -> dict:
        """The record with the smallest (mode='min') or largest monitored value."""
        vals = np.array(self[monitor], dtype=np.float64)
        i = int(np.nanargmin(vals) if mode == "min" else np.nanargmax(vals))
        return self.records[i]

    def to_csv(self, path: str | Path) -> None:
        keys = self.keys()
        with open(path, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=keys)
            w.writeheader()
            for r in self.records:
                w.writerow({k: r.get(k, "") for k in keys})

    def to_json(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.records, indent=1))

    @classmethod
    def from_json(cls, path: str | Path) -> History:
        return cls(json.loads(Path(path).read_text()))

    def __repr__(self) -> str:
        return f"History({len(self)} epochs, keys={self.keys()})"


def _find_generators(loader: Any) -> list:
    """The seedable generators that drive a loader: its own, its samplers', its data set's transforms'."""
    found: list = []

    def add(obj: Any) -> None:
        g = getattr(obj, "generator", None)
        if g is not None and hasattr(g, "rng") and all(g is not h for h in found):
            found.append(g)

    if loader is None:
        return found
    add(loader)
    sampler = getattr(loader, "sampler", None)
    add(sampler)
    add(getattr(getattr(loader, "batch_sampler", None), "sampler", None))
    ds = getattr(loader, "dataset", None)
    while ds is not None:
        tf = getattr(ds, "transform", None)
        for t in getattr(tf, "transforms", [tf]):
            add(t)
        ds = getattr(ds, "dataset", None)
    return found


class _LineTracker:
    """``sys.stderr`` (looked up at each write) that remembers whether the last write left a line unfinished.

    A Ctrl-C can land anywhere, including inside tqdm after it drew a bar and before the trainer
    holds it; ``fit`` then ends the line itself, so the next message starts on a line of its own."""

    def __init__(self) -> None:
        self.line_open = False

    def write(self, text: str) -> int:
        n = sys.stderr.write(text)
        if text:
            self.line_open = not text.endswith("\n")
        return n

    def __getattr__(self, name: str) -> Any:  # flush, isatty, fileno, encoding: those of the stream
        return getattr(sys.stderr, name)


def _is_plateau(scheduler: Any) -> bool:
    return any(c.__name__ == "ReduceLROnPlateau" for c in type(scheduler).__mro__)


class Trainer:
    """Train and evaluate a model (PyTorch-style modules, losses, optimisers).

    Args:
        model: a ``chainrule.nn.Module`` (anything with parameters(), train(), eval(), state_dict()).
        loss_fn: ``loss_fn(output, target)`` -> scalar Tensor (e.g. ``nn.CrossEntropyLoss()``).
        optimizer: a ``chainrule.optim`` optimiser over the model's parameters.
        scheduler: a learning-rate scheduler stepped once per epoch; ``ReduceLROnPlateau``
            gets the validation loss (the training loss if there is no validation set).
        metrics: names ('accuracy', 'mse', 'r2') or Metric objects; 'auto' picks from the loss
            (accuracy for cross-entropy/BCE/NLL, mse and r2 for MSE/L1/Huber).
        callbacks: ``Callback`` objects (EarlyStopping, ModelCheckpoint, diagnostics...).
        grad_clip: clip the global gradient norm to this value before each step.
        device: 'cpu' (or None); any other device raises, since NumPy runs on the CPU only.
        verbose: 0 quiet, 1 a tqdm progress bar per epoch, 2 one line per epoch (rank 0 only under DDP).
        compile: run each training step through ``chainrule.compile`` (docs/how-to/compile.md):
            the same numbers; much faster for small models; a step it cannot replay runs eagerly.

    Under an initialised process group of N > 1 processes (``chainrule.distributed``),
    ``model`` is wrapped in ``nn.parallel.DistributedDataParallel`` unless it already is
    one; ``rank``, ``world_size`` and ``is_global_zero`` say where this process stands.

    Targets: a float target with as many elements as the output but another shape
    (y (N,) against output (N, 1)) is reshaped to the output's shape, avoiding the
    silent (N, N) broadcast in ``(out - y) ** 2``.
    """

    def __init__(
        self,
        model: Any,
        loss_fn: Any,
        optimizer: Any,
        scheduler: Any = None,
        metrics: str | Sequence[str | Metric] | None = "auto",
        callbacks: Sequence[Callback] | None = None,
        grad_clip: float | None = None,
        device: Any = None,
        verbose: int = 1,
        compile: bool = False,  # noqa: A002  (the name users know from torch.compile)
    ) -> None:
        check_device(device, "Trainer")
        self._dist = _process_group()
        self.rank = self._dist.get_rank() if self._dist is not None else 0
        self.world_size = self._dist.get_world_size() if self._dist is not None else 1
        if self.world_size == 1:
            self._dist = None  # one process: nothing to average, no collective calls
        else:
            from chainrule.nn.parallel import DistributedDataParallel

            if not isinstance(model, DistributedDataParallel):
                model = DistributedDataParallel(model)  # broadcasts rank 0's parameters and buffers
        self.model = model
        self.loss_fn = loss_fn
        self.optimizer = optimizer
        self.scheduler = scheduler
        if metrics == "auto":
            metrics = default_metrics(loss_fn)
        elif isinstance(metrics, (str, Metric)):
            metrics = [metrics]
        self.metric_specs = list(metrics or [])
        self.callbacks = list(callbacks or [])
        if grad_clip is not None and not grad_clip > 0:
            raise ValueError(f"Trainer: grad_clip must be a positive number, got {grad_clip!r}")
        self.grad_clip = grad_clip
        self._step = self._core_step
        if compile:
            from chainrule.compiler import compile as _compile

            self._step = _compile(self._core_step)
        self.verbose = int(verbose) if self.rank == 0 else 0  # one progress bar and log, not N
        self.history = History()
        self.epoch = 0  # number of completed epochs
        self.stop_training = False
        self.last_grad_norm: float | None = None
        self._train_loader: Any = None
        self._pending_loader_states: list | None = None
        self.extra: dict = {}  # saved with checkpoints (e.g. the command line's run configuration)
        self._open_bar: Any = None  # the current epoch's progress bar (closed by fit even when interrupted)
        self._bar_stream = _LineTracker()

    @property
    def is_global_zero(self) -> bool:
        """True in the process that writes files and logs (rank 0; always true in one process)."""
        return self.rank == 0

    def _module(self) -> Any:
        """The model without its DistributedDataParallel wrapper (its weights, without the ``module.`` prefix)."""
        is_ddp = any(c.__name__ == "DistributedDataParallel" for c in type(self.model).__mro__)
        return self.model.module if is_ddp else self.model

    def _all_sum(self, total: float, count: int, metrics: list[Metric]) -> tuple[float, int, dict[str, float]]:
        """The loss sum, the example count and the metrics' values over all ranks' examples.

        Under DDP one collective call adds up the loss sums, the counts and the metrics'
        ``sum_states`` (exact); a metric without them gets the count-weighted mean of the
        ranks' values.  In one process: the local values."""
        if self._dist is None:
            return total, count, {m.name: m.compute() for m in metrics}
        local = (total, count, [[getattr(m, k) for k in m.sum_states] if m.sum_states else [m.compute()]
                                for m in metrics])
        gathered: list = [None] * self.world_size
        self._dist.all_gather_object(gathered, local)
        values: dict[str, float] = {}
        for i, m in enumerate(metrics):
            if m.sum_states:
                for j, k in enumerate(m.sum_states):
                    setattr(m, k, sum(g[2][i][j] for g in gathered))
                values[m.name] = m.compute()
            else:
                values[m.name] = sum(g[2][i][0] * g[1] for g in gathered) / max(sum(g[1] for g in gathered), 1)
        return sum(g[0] for g in gathered), sum(g[1] for g in gathered), values

    def _set_epoch(self, loader: Any, epoch: int) -> None:
        """Tell a sampler with ``set_epoch`` (DistributedSampler) which epoch starts, so it reshuffles."""
        for s in (getattr(loader, "sampler", None), getattr(getattr(loader, "batch_sampler", None), "sampler", None)):
            set_epoch = getattr(s, "set_epoch", None)
            if set_epoch is not None:
                set_epoch(epoch)
                return

    # -- helpers -------------------------------------------------------------------
    def log(self, msg: str) -> None:
        if self.verbose:
            from tqdm.auto import tqdm

            tqdm.write(msg, file=sys.stderr)

    def _metrics(self) -> list[Metric]:
        return [make_metric(m) if isinstance(m, str) else _fresh(m) for m in self.metric_specs]

    @staticmethod
    def _split_batch(batch: Any) -> tuple[Any, Any]:
        if isinstance(batch, dict):
            keys = [k for k in ("x", "input", "inputs") if k in batch]
            tkeys = [k for k in ("y", "target", "targets", "label", "labels") if k in batch]
            if not keys or not tkeys:
                raise ValueError(
                    "Trainer: a dict batch needs an input key (x/input) and a target key (y/target), "
                    f"got {sorted(batch)}"
                )
            return batch[keys[0]], batch[tkeys[0]]
        if isinstance(batch, (list, tuple)) and len(batch) >= 2:
            return batch[0], batch[1]
        raise ValueError(f"Trainer: a batch must be (inputs, targets), got {type(batch).__name__}")

    @staticmethod
    def _align(out: Tensor, y: Any) -> Any:
        if (
            isinstance(y, Tensor)
            and y._array.dtype.kind == "f"
            and tuple(y.shape) != tuple(out.shape)
            and y.numel() == out.numel()
        ):
            return y.reshape(out.shape)
        return y

    def _parameters(self) -> list:
        return [p for p in self.model.parameters() if p.requires_grad]

    # -- one step, one epoch ---------------------------------------------------------
    def train_step(self, x: Any, y: Any) -> tuple[float, Tensor]:
        """Forward, backward, (clip), optimiser step on one batch; returns (loss value, detached output)."""
        loss, out, norm = self._step(x, y)
        if norm is not None:
            self.last_grad_norm = float(norm)
        return float(loss.item()), out

    def _core_step(self, x: Any, y: Any) -> tuple[Tensor, Tensor, Tensor | None]:
        """The step itself, reading no value back: (detached loss, detached output, the
        gradient norm before clipping or None).  What ``compile=True`` compiles; Python reads
        only whether the loss is finite (a compiled step checks that before it changes anything)."""
        out = self.model(x)
        y = self._align(out, y)
        loss = self.loss_fn(out, y)
        if loss.numel() != 1:
            raise ValueError(f"Trainer: loss_fn must return a scalar, got shape {tuple(loss.shape)}")
        if not bool(loss.detach().isfinite()):
            self._not_finite(loss)
        self.optimizer.zero_grad()
        loss.backward()
        for cb in self.callbacks:
            cb.on_after_backward(self)
        norm = None
        if self.grad_clip is not None:
            from chainrule.nn.utils import clip_grad_norm_

            norm = clip_grad_norm_(self._parameters(), self.grad_clip)
        self.optimizer.step()
        return loss.detach(), out.detach(), norm

    def _not_finite(self, loss: Tensor) -> None:
        raise FloatingPointError(
            f"Trainer: the loss became {float(loss.item())} at epoch {self.epoch + 1}; lower the learning "
            "rate or set grad_clip"
        )

    def fit(self, train_loader: Any, val_loader: Any = None, epochs: int = 1) -> History:
        """Train until ``epochs`` epochs are completed in total (a resumed trainer continues from ``self.epoch``).

        Returns the History (one record per epoch: loss, metrics, val_loss, val_metrics, lr, time).
        """
        if not isinstance(epochs, int) or epochs < 0:
            raise ValueError(f"Trainer.fit: epochs must be a non-negative int, got {epochs!r}")
        self._train_loader = train_loader
        if self._pending_loader_states is not None:
            self._restore_loader_rng(self._pending_loader_states)
            self._pending_loader_states = None
        self.stop_training = False
        for cb in self.callbacks:
            cb.on_train_begin(self)
        try:
            while self.epoch < epochs and not self.stop_training:
                self._run_epoch(train_loader, val_loader, epochs)
        finally:
            # an epoch cut short (Ctrl-C, an error) leaves its bar mid-line; closing it ends the line, so a
            # message printed next starts on its own line (tqdm's close is a no-op on a closed bar)
            bar, self._open_bar = self._open_bar, None
            if bar is not None:
                bar.close()
            if self._bar_stream.line_open:  # cut short inside tqdm itself (its constructor or close)
                self._bar_stream.write("\n")
            for cb in self.callbacks:
                cb.on_train_end(self)
        return self.history

    def _run_epoch(self, train_loader: Any, val_loader: Any, epochs: int) -> None:
        epoch = self.epoch + 1
        for cb in self.callbacks:
            cb.on_epoch_begin(self, epoch)
        t0 = time.perf_counter()
        self.model.train()
        metrics = self._metrics()
        total, count = 0.0, 0
        lr = float(self.optimizer.param_groups[0]["lr"])
        self._set_epoch(train_loader, epoch - 1)  # 0-based, as PyTorch scripts count; the same on every rank
        bar = self._bar(train_loader, epoch, epochs)
        for b, batch in enumerate(train_loader):
            x, y = self._split_batch(batch)
            value, out = self.train_step(x, y)
            n = int(out.shape[0]) if out.ndim else 1
            total += value * n
            count += n
            for m in metrics:
                m.update(out, self._align(out, y))
            logs: dict[str, Any] = {"loss": value}
            for cb in self.callbacks:
                cb.on_batch_end(self, b, logs)
            if bar is not None:
                bar.update(1)
                if b % 5 == 0:
                    bar.set_postfix(loss=f"{total / count:.4f}", refresh=False)
        total, count, values = self._all_sum(total, count, metrics)
        if count == 0:
            raise ValueError("Trainer.fit: the training loader produced no batches")
        logs = {"epoch": epoch, "loss": total / count, **values}
        if val_loader is not None:
            for k, v in self.evaluate(val_loader).items():
                logs[f"val_{k}"] = v
        logs["lr"] = lr
        if self.scheduler is not None:
            if _is_plateau(self.scheduler):
                self.scheduler.step(logs.get("val_loss", logs["loss"]))
            else:
                self.scheduler.step()
        logs["time"] = time.perf_counter() - t0
        self.epoch = epoch
        self.history.append(logs)
        if bar is not None:
            bar.set_postfix_str(_fmt(logs), refresh=False)
            bar.close()
        elif self.verbose >= 2:
            self.log(f"epoch {epoch}/{epochs} " + _fmt(logs))
        for cb in self.callbacks:
            cb.on_epoch_end(self, epoch, logs)

    def _bar(self, loader: Any, epoch: int, epochs: int) -> Any:
        if self.verbose != 1:
            return None
        from tqdm.auto import tqdm

        try:
            total = len(loader)
        except TypeError:
            total = None
        with _ctrl_c_after():  # a Ctrl-C inside tqdm's constructor left half a bar, whose __del__ raised
            self._open_bar = tqdm(total=total, desc=f"epoch {epoch}/{epochs}", file=self._bar_stream, leave=True,
                                  dynamic_ncols=True)
        return self._open_bar

    # -- evaluation --------------------------------------------------------------------
    def evaluate(self, loader: Any) -> dict[str, float]:
        """Mean loss and metrics over ``loader`` with the model in eval mode and no graph recorded.

        Under DDP every rank must call it: the sums are added up across ranks, so a loader with a
        DistributedSampler gives the values over the whole set (a plain loader, read whole by
        every rank, gives them too)."""
        model = self._module()  # no collective calls in the forward pass
        was_training = getattr(model, "training", True)
        model.eval()
        metrics = self._metrics()
        total, count = 0.0, 0
        try:
            with no_grad():
                for batch in loader:
                    x, y = self._split_batch(batch)
                    out = model(x)
                    y = self._align(out, y)
                    n = int(out.shape[0]) if out.ndim else 1
                    total += float(self.loss_fn(out, y).item()) * n
                    count += n
                    for m in metrics:
                        m.update(out, y)
        finally:
            model.train(was_training)
        total, count, values = self._all_sum(total, count, metrics)
        if count == 0:
            raise ValueError("Trainer.evaluate: the loader produced no batches")
        return {"loss": total / count, **values}

    def predict(self, data: Any) -> np.ndarray:
        """Model outputs (eval mode, no graph) for a loader (its inputs) or a Tensor/array of inputs.

        Local to this process (no collective call), so rank 0 alone may call it under DDP."""
        model = self._module()
        was_training = getattr(model, "training", True)
        model.eval()
        try:
            with no_grad():
                if isinstance(data, (Tensor, np.ndarray)):
                    x = data if isinstance(data, Tensor) else Tensor._wrap(np.asarray(data))
                    return np.asarray(model(x)._array)
                outs = []
                for batch in data:
                    x = self._split_batch(batch)[0] if isinstance(batch, (list, tuple, dict)) else batch
                    outs.append(np.asarray(model(x)._array))
                return np.concatenate(outs)
        finally:
            model.train(was_training)

    # -- state and checkpoints -----------------------------------------------------------
    def _loader_rng(self) -> list[str]:
        return [rng_state(g.rng) for g in _find_generators(self._train_loader)]

    def _restore_loader_rng(self, states: list) -> None:
        gens = _find_generators(self._train_loader)
        if len(gens) != len(states):
            raise ValueError(
                f"Trainer: the checkpoint has {len(states)} data-loader generator states but the loader has "
                f"{len(gens)} seedable generators; build the loader the same way as in the original run"
            )
        for g, s in zip(gens, states):
            set_rng_state(g.rng, s)

    def state_dict(self) -> dict:
        """Everything needed to resume: model, optimizer, scheduler, epoch, history, callbacks, RNG states.

        Under DDP every rank must call it (it gathers each rank's random states into
        ``state['rng']['ranks']``); the model's weights are the unwrapped module's."""
        rng = {"default": rng_state(default_generator()), "loader": self._loader_rng()}
        if self._dist is not None:
            ranks: list = [None] * self.world_size
            self._dist.all_gather_object(ranks, json.dumps(rng))
            rng["ranks"] = ranks
        state: dict[str, Any] = {
            "model": self._module().state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "epoch": self.epoch,
            "history": json.dumps(self.history.records),
            "rng": rng,
            "callbacks": {f"{i}:{type(cb).__name__}": cb.state_dict() for i, cb in enumerate(self.callbacks)},
        }
        if self.scheduler is not None:
            state["scheduler"] = self.scheduler.state_dict()
        if self.extra:
            state["extra"] = dict(self.extra)
        return state

    def load_state_dict(self, state: dict) -> None:
        """Restore ``state_dict()``'s output; under DDP each rank takes back its own random states.

        A checkpoint written by another number of processes (or by one) loads too; the ranks then
        all get rank 0's random states."""
        self._module().load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None and "scheduler" in state:
            self.scheduler.load_state_dict(state["scheduler"])
        self.epoch = int(state["epoch"])
        self.extra = dict(state.get("extra", {}))
        self.history = History(json.loads(state["history"]))
        rng = state["rng"]
        ranks = rng.get("ranks")
        if ranks is not None and len(ranks) == self.world_size:
            rng = json.loads(ranks[self.rank])
        set_rng_state(default_generator(), rng["default"])
        loader_states = list(rng.get("loader", []))
        if self._train_loader is not None:
            self._restore_loader_rng(loader_states)
        else:
            self._pending_loader_states = loader_states  # applied when fit() gets its loader
        saved = state.get("callbacks", {})
        for i, cb in enumerate(self.callbacks):
            key = f"{i}:{type(cb).__name__}"
            if key in saved:
                cb.load_state_dict(saved[key])

    def save_checkpoint(self, path: str | Path) -> Path:
        """Atomically write the full training state (see ``state_dict``) to a safetensors file.

        Under DDP every rank calls it and rank 0 alone writes; no rank returns before the file is
        complete (a barrier), so a run killed on every rank right after resumes from it."""
        from chainrule.train.checkpoint import save_checkpoint

        state = self.state_dict()
        if self.rank == 0:
            save_checkpoint(state, path)
        if self._dist is not None:
            self._dist.barrier()
        return Path(path)

    def load_checkpoint(self, path: str | Path) -> Trainer:
        """Restore a checkpoint written by ``save_checkpoint``; ``fit(..., epochs=N)`` then continues to N."""
        from chainrule.train.checkpoint import load_checkpoint

        self.load_state_dict(load_checkpoint(path))
        return self


def _fresh(m: Metric) -> Metric:
    """A reset copy, so training and validation never share a running sum."""
    m = copy.deepcopy(m)
    m.reset()
    return m


def _fmt(logs: dict) -> str:
    parts = []
    for k, v in logs.items():
        if k in ("epoch", "time"):
            continue
        parts.append(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}")
    return " ".join(parts)


@contextlib.contextmanager
def _ctrl_c_after() -> Iterator[None]:
    """Hold a Ctrl-C (SIGINT) that arrives inside the block and deliver it, as KeyboardInterrupt,
    when the block is done (in the main thread; elsewhere signals do not arrive anyway)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held: list = []
    previous = signal.signal(signal.SIGINT, lambda *a: held.append(a))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.SIG_DFL if previous is None else previous)
    if held:
        raise KeyboardInterrupt
