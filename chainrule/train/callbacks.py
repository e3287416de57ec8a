"""Callbacks: code that runs at fixed points of ``Trainer.fit``.

Hook order in one epoch:

    on_epoch_begin -> [batch: forward, backward, on_after_backward, (clip), step, on_batch_end]*
                   -> validation -> scheduler step -> on_epoch_end(logs)

``logs`` is the epoch's record: {'epoch', 'loss', 'accuracy', ..., 'val_loss', 'val_accuracy', ..., 'lr'}.
A callback stops training by setting ``trainer.stop_training = True``.

* ``EarlyStopping``: the notes' early stopping — stop when the monitored validation
  quantity has not improved for ``patience`` epochs and put back the best weights;
* ``ModelCheckpoint``: write an atomic checkpoint (model, optimizer, scheduler, epoch,
  random states, history) every ``every_n_epochs`` and/or when the monitored value improves;
* ``HistoryLogger``: write the history as CSV and JSON after every epoch;
* ``LambdaCallback``: wrap plain functions.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from chainrule.autograd.tensor import Tensor

if TYPE_CHECKING:  # pragma: no cover
    from chainrule.train.trainer import Trainer


class Callback:
    """Base class: override the hooks you need (each gets the trainer first)."""

    def on_train_begin(self, trainer: Trainer) -> None: ...

    def on_epoch_begin(self, trainer: Trainer, epoch: int) -> None: ...

    def on_after_backward(self, trainer: Trainer) -> None: ...

    def on_batch_end(self, trainer: Trainer, batch: int, logs: dict) -> None: ...

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict) -> None: ...

    def on_train_end(self, trainer: Trainer) -> None: ...

    def state_dict(self) -> dict:
        """What a checkpoint must keep so that a resumed run behaves identically."""
        return {}

    def load_state_dict(self, state: dict) -> None: ...


def _mode_for(monitor: str, mode: str) -> str:
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")
    if mode != "auto":
        return mode
    return "max" if any(k in monitor for k in ("acc", "r2", "f1")) else "min"


def _improved(value: float, best: float, mode: str, min_delta: float) -> bool:
    if math.isnan(value):
        return False
    if mode == "min":
        return value < best - min_delta
    return value > best + min_delta


def copy_state(state: dict) -> dict:
    """A deep copy of a state dict's arrays (so later in-place updates don't change it)."""
    out: dict = {}
    for k, v in state.items():
        if isinstance(v, Tensor):
            out[k] = Tensor._wrap(np.array(v._array, copy=True))
        elif isinstance(v, np.ndarray):
            out[k] = v.copy()
        elif isinstance(v, dict):
            out[k] = copy_state(v)
        else:
            out[k] = v
    return out


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by more than ``min_delta`` for ``patience`` epochs.

    With ``restore_best_weights=True`` the model gets the weights of the best epoch back
    when training ends (whether it stopped early or ran out of epochs).  ``stopped_epoch``
    and ``best_epoch`` (1-based) say what happened.
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        patience: int = 5,
        min_delta: float = 0.0,
        mode: str = "auto",
        restore_best_weights: bool = True,
        verbose: bool = False,
    ) -> None:
        if patience < 0:
            raise ValueError(f"EarlyStopping: patience must be >= 0, got {patience}")
        self.monitor = monitor
        self.patience = int(patience)
        self.min_delta = abs(float(min_delta))
        self.mode = _mode_for(monitor, mode)
        self.restore_best_weights = restore_best_weights
        self.verbose = verbose
        self.best = math.inf if self.mode == "min" else -math.inf
        self.best_epoch = 0
        self.wait = 0
        self.stopped_epoch = 0
        self.best_weights: dict | None = None

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict) -> None:
        if self.monitor not in logs:
            raise KeyError(
                f"EarlyStopping: monitored quantity {self.monitor!r} is not in the logs {sorted(logs)}; "
                "did you pass a val_loader to fit()?"
            )
        value = float(logs[self.monitor])
        if _improved(value, self.best, self.mode, self.min_delta):
            self.best, self.best_epoch, self.wait = value, epoch, 0
            if self.restore_best_weights:
                self.best_weights = copy_state(trainer.model.state_dict())
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = epoch
            trainer.stop_training = True
            if self.verbose:
                trainer.log(f"EarlyStopping: no improvement of {self.monitor} for {self.patience} epochs; "
                            f"stopping at epoch {epoch} (best {self.best:.4g} at epoch {self.best_epoch})")

    def on_train_end(self, trainer: Trainer) -> None:
        if self.restore_best_weights and self.best_weights is not None:
            trainer.model.load_state_dict(self.best_weights)

    def state_dict(self) -> dict:
        state: dict[str, Any] = {"best": self.best, "best_epoch": self.best_epoch, "wait": self.wait,
                 "stopped_epoch": self.stopped_epoch}
        if self.best_weights is not None:
            state["best_weights"] = self.best_weights
        return state

    def load_state_dict(self, state: dict) -> None:
        self.best = float(state["best"])
        self.best_epoch = int(state["best_epoch"])
        self.wait = int(state["wait"])
        self.stopped_epoch = int(state["stopped_epoch"])
        self.best_weights = state.get("best_weights")


class ModelCheckpoint(Callback):
    """Save checkpoints during training, atomically (a crash never leaves a half-written file).

    Args:
        dirpath: folder for the files (created if needed).
        filename: a format string with ``{epoch}`` and any log key, e.g. ``"epoch{epoch:03d}"``;
            ".safetensors" is appended.  Default ``"last"`` (one file, overwritten).
        monitor: the log key whose best epoch is also kept as ``best.safetensors``.
        mode: 'min', 'max' or 'auto' (from the key's name): which value of ``monitor`` is best.
        save_best_only: keep only ``best.safetensors``, no periodic file.
        every_n_epochs: how often to write the periodic file.

    The checkpoint holds everything ``Trainer.load_checkpoint`` needs to resume with
    identical results: model, optimizer, scheduler, epoch, history, callbacks' state and
    the random generators' states.
    """

    def __init__(
        self,
        dirpath: str | Path,
        filename: str = "last",
        monitor: str | None = None,
        mode: str = "auto",
        save_best_only: bool = False,
        every_n_epochs: int = 1,
    ) -> None:
        if every_n_epochs < 1:
            raise ValueError(f"ModelCheckpoint: every_n_epochs must be >= 1, got {every_n_epochs}")
        if save_best_only and monitor is None:
            raise ValueError("ModelCheckpoint: save_best_only=True needs a monitor, e.g. monitor='val_loss'")
        self.dirpath = Path(dirpath)
        self.filename = filename
        self.monitor = monitor
        self.mode = _mode_for(monitor or "loss", mode)
        self.save_best_only = save_best_only
        self.every_n_epochs = int(every_n_epochs)
        self.best = math.inf if self.mode == "min" else -math.inf
        self.best_path: Path | None = None
        self.last_path: Path | None = None

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict) -> None:
        if getattr(trainer, "is_global_zero", True):  # under DDP rank 0 writes (save_checkpoint knows)
            self.dirpath.mkdir(parents=True, exist_ok=True)
        if self.monitor is not None:
            if self.monitor not in logs:
                raise KeyError(
                    f"ModelCheckpoint: monitored quantity {self.monitor!r} is not in the logs {sorted(logs)}"
                )
            value = float(logs[self.monitor])
            if _improved(value, self.best, self.mode, 0.0):
                self.best = value
                self.best_path = self.dirpath / "best.safetensors"
                trainer.save_checkpoint(self.best_path)
        if not self.save_best_only and epoch % self.every_n_epochs == 0:
            name = self.filename.format(**{**logs, "epoch": epoch})
            self.last_path = self.dirpath / f"{name}.safetensors"
            trainer.save_checkpoint(self.last_path)

    def state_dict(self) -> dict:
        return {"best": self.best}

    def load_state_dict(self, state: dict) -> None:
        self.best = float(state["best"])


class HistoryLogger(Callback):
    """Write ``history.csv`` and ``history.json`` into ``dirpath`` after every epoch."""

    def __init__(self, dirpath: str | Path, stem: str = "history") -> None:
        self.dirpath = Path(dirpath)
        self.stem = stem

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict) -> None:
        if not getattr(trainer, "is_global_zero", True):  # under DDP rank 0 alone writes files
            return
        self.dirpath.mkdir(parents=True, exist_ok=True)
        trainer.history.to_csv(self.dirpath / f"{self.stem}.csv")
        trainer.history.to_json(self.dirpath / f"{self.stem}.json")


class LambdaCallback(Callback):
    """A callback from plain functions: ``LambdaCallback(on_epoch_end=lambda trainer, epoch, logs: ...)``."""

    def __init__(self, **hooks: Callable[..., Any]) -> None:
        names = {
            "on_train_begin", "on_epoch_begin", "on_after_backward", "on_batch_end", "on_epoch_end", "on_train_end"
        }
        for k, f in hooks.items():
            if k not in names:
                raise TypeError(f"LambdaCallback: unknown hook {k!r}; hooks are {sorted(names)}")
            setattr(self, k, f)
