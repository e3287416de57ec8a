"""Training diagnostics from the notes: activation histograms, dead and saturated units, gradient norms.

* ``ActivationMonitor`` watches the activation layers (ReLU, Sigmoid, Tanh... or any modules
  you name) with forward hooks and records per layer, per batch:

  - dead fraction (ReLU family): a unit (one position of the output, all but the batch axis)
    is dead on a batch if it is never positive: dead = mean_u [ max_n out[n, u] <= 0 ];
  - saturated fraction: sigmoid outputs outside [0.01, 0.99], tanh outputs with |y| > 0.99;
  - mean, std and a sample of values for histograms.

* ``GradientMonitor`` records each layer's gradient norm ||dL/dW_layer||_2 after every backward
  pass (vanishing: tiny norms in early layers; exploding: huge ones).

Both are ``Callback``s for the Trainer: at the end of each epoch they average the epoch's
numbers into ``history[layer]`` and issue a Python warning (``DiagnosticWarning``) when a
layer crosses its threshold.  They also work by hand: ``with ActivationMonitor(model) as m:
model(x)``; ``m.summary()``.
"""

from __future__ import annotations

import warnings
from collections import defaultdict
from typing import Any

import numpy as np

from chainrule.train.callbacks import Callback

RELU_LIKE = ("ReLU", "ReLU6", "LeakyReLU", "ELU", "GELU", "SiLU", "Softplus", "PReLU")
SIGMOID_LIKE = ("Sigmoid",)
TANH_LIKE = ("Tanh", "Hardtanh")


class DiagnosticWarning(UserWarning):
    """A training diagnostic crossed its threshold (dead units, saturation, vanishing/exploding gradients)."""


def _kind(module: Any) -> str | None:
    name = type(module).__name__
    if name in RELU_LIKE:
        return "relu"
    if name in SIGMOID_LIKE:
        return "sigmoid"
    if name in TANH_LIKE:
        return "tanh"
    return None


def activation_statistics(out: np.ndarray, kind: str | None) -> dict[str, float]:
    """mean, std, dead fraction (relu kinds) and saturated fraction (sigmoid/tanh) of one batch output.

    ``out`` has shape (N, ...): units are the positions of the trailing axes.
    """
    a = np.asarray(out, dtype=np.float64)
    stats = {"mean": float(a.mean()), "std": float(a.std())}
    units = a.reshape(a.shape[0], -1) if a.ndim >= 2 else a.reshape(-1, 1)
    if kind == "relu":
        stats["dead"] = float((units.max(axis=0) <= 0).mean())
    elif kind == "sigmoid":
        stats["saturated"] = float(((a < 0.01) | (a > 0.99)).mean())
    elif kind == "tanh":
        stats["saturated"] = float((np.abs(a) > 0.99).mean())
    return stats


def _attach(module: Any, fn: Any) -> Any:
    """Call ``fn(module, output)`` after each forward; returns a handle with ``remove()``.

    Uses ``module.register_forward_hook`` when the Module system has it; otherwise wraps
    the instance's ``forward``.
    """
    if hasattr(module, "register_forward_hook"):
        return module.register_forward_hook(lambda mod, inp, out: fn(mod, out))
    original = module.forward

    def forward(*args: Any, **kwargs: Any) -> Any:
        out = original(*args, **kwargs)
        fn(module, out)
        return out

    object.__setattr__(module, "forward", forward)

    class _Handle:
        def remove(self) -> None:
            module.__dict__.pop("forward", None)

    return _Handle()


class ActivationMonitor(Callback):
    """Record activation statistics of a model's activation layers (see the module docstring).

    Args:
        model: the network.
        modules: names (from ``named_modules()``) to watch; default: every ReLU/Sigmoid/Tanh-like layer.
        sample_size: values kept per layer per epoch for histograms.
        dead_threshold: warn when a layer's epoch-average dead fraction exceeds this.
        saturation_threshold: warn when a layer's epoch-average saturated fraction exceeds this.
        record_eval: also record forwards run in eval mode (validation); off by default.
    """

    def __init__(
        self,
        model: Any,
        modules: list[str] | None = None,
        sample_size: int = 2000,
        dead_threshold: float = 0.5,
        saturation_threshold: float = 0.5,
        record_eval: bool = False,
        seed: int = 0,
    ) -> None:
        self.model = model
        named = dict(model.named_modules())
        if modules is None:
            modules = [n for n, m in named.items() if _kind(m) is not None]
        missing = [n for n in modules if n not in named]
        if missing:
            raise ValueError(f"ActivationMonitor: no module named {missing}; modules are {[n for n in named if n]}")
        self.names = list(modules)
        self.kinds = {n: _kind(named[n]) for n in self.names}
        self.sample_size = int(sample_size)
        self.dead_threshold = dead_threshold
        self.saturation_threshold = saturation_threshold
        self.record_eval = record_eval
        self._rng = np.random.default_rng(seed)
        self.batches: dict[str, list[dict]] = defaultdict(list)  # this epoch's per-batch stats
        self.samples: dict[str, np.ndarray] = {}  # value samples for histograms (latest)
        self.history: dict[str, list[dict]] = defaultdict(list)  # per-epoch averages
        self._handles: list = []
        self.attach()

    # -- hooks -----------------------------------------------------------------------
    def attach(self) -> None:
        if self._handles:
            return
        named = dict(self.model.named_modules())
        for n in self.names:
            self._handles.append(_attach(named[n], lambda mod, out, n=n: self._record(n, out)))

    def remove(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []

    def __enter__(self) -> ActivationMonitor:
        self.attach()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.remove()

    def _record(self, name: str, out: Any) -> None:
        if not self.record_eval and not getattr(self.model, "training", True):
            return
        arr = np.asarray(getattr(out, "data", out))
        self.batches[name].append(activation_statistics(arr, self.kinds[name]))
        flat = arr.reshape(-1)
        if flat.size > self.sample_size:
            flat = self._rng.choice(flat, self.sample_size, replace=False)
        old = self.samples.get(name)
        self.samples[name] = flat.copy() if old is None else np.concatenate([old, flat])[-self.sample_size :]

    # -- summaries -------------------------------------------------------------------
    def summary(self) -> dict[str, dict[str, float]]:
        """Per layer: the batch-averaged statistics recorded since the last epoch end."""
        out = {}
        for n in self.names:
            rows = self.batches.get(n, [])
            if rows:
                out[n] = {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}
        return out

    def check(self, summary: dict | None = None, where: str = "") -> list[str]:
        """Warn (DiagnosticWarning) for layers over the thresholds; returns the messages."""
        msgs = []
        for n, s in (summary or self.summary()).items():
            if s.get("dead", 0.0) > self.dead_threshold:
                msgs.append(f"{where}layer {n!r}: {s['dead']:.0%} of ReLU units are dead (never active on a batch); "
                            "lower the learning rate, use a positive bias init or LeakyReLU")
            if s.get("saturated", 0.0) > self.saturation_threshold:
                msgs.append(f"{where}layer {n!r}: {s['saturated']:.0%} of {self.kinds[n]} outputs are saturated; "
                            "gradients through them vanish (scale inputs, smaller initial weights)")
        for m in msgs:
            warnings.warn(m, DiagnosticWarning, stacklevel=2)
        return msgs

    def on_epoch_end(self, trainer: Any, epoch: int, logs: dict) -> None:
        summary = self.summary()
        for n, s in summary.items():
            self.history[n].append(dict(s, epoch=epoch))
        self.check(summary, where=f"epoch {epoch}: ")
        self.batches.clear()

    def on_train_end(self, trainer: Any) -> None:
        self.remove()


class GradientMonitor(Callback):
    """Per-layer gradient norms after each backward pass, averaged per epoch into ``history``.

    A layer is the module prefix of a parameter name ("fc1" for "fc1.weight"); its norm is
    sqrt(sum over its parameters of ||grad||^2).  Warns when a layer's epoch mean is below
    ``vanishing`` or above ``exploding``.  ``samples[layer]`` keeps the latest gradient values
    for histograms.
    """

    def __init__(self, model: Any, vanishing: float = 1e-7, exploding: float = 1e3, sample_size: int = 2000) -> None:
        self.model = model
        self.vanishing = vanishing
        self.exploding = exploding
        self.sample_size = sample_size
        self.batches: dict[str, list[float]] = defaultdict(list)
        self.history: dict[str, list[float]] = defaultdict(list)
        self.samples: dict[str, np.ndarray] = {}

    @staticmethod
    def layer_of(param_name: str) -> str:
        return param_name.rsplit(".", 1)[0] if "." in param_name else param_name

    def record(self) -> dict[str, float]:
        """Read the current ``.grad`` of every parameter; returns {layer: norm}."""
        sq: dict[str, float] = defaultdict(float)
        vals: dict[str, list] = defaultdict(list)
        for name, p in self.model.named_parameters():
            if p.grad is None:
                continue
            g = np.asarray(p.grad._array, dtype=np.float64)
            layer = self.layer_of(name)
            sq[layer] += float((g * g).sum())
            vals[layer].append(g.reshape(-1))
        norms = {k: float(np.sqrt(v)) for k, v in sq.items()}
        for k, v in norms.items():
            self.batches[k].append(v)
            flat = np.concatenate(vals[k])
            self.samples[k] = flat[:: max(1, flat.size // self.sample_size)]
        return norms

    def on_after_backward(self, trainer: Any) -> None:
        self.record()

    def on_epoch_end(self, trainer: Any, epoch: int, logs: dict) -> None:
        means = {k: float(np.mean(v)) for k, v in self.batches.items() if v}
        for k, v in means.items():
            self.history[k].append(v)
        self.check(means, where=f"epoch {epoch}: ")
        self.batches.clear()

    def check(self, norms: dict[str, float], where: str = "") -> list[str]:
        msgs = []
        for k, v in norms.items():
            if v < self.vanishing:
                msgs.append(f"{where}layer {k!r}: gradient norm {v:.2e} < {self.vanishing:g} (vanishing gradients)")
            elif v > self.exploding or not np.isfinite(v):
                msgs.append(f"{where}layer {k!r}: gradient norm {v:.2e} > {self.exploding:g} (exploding gradients; "
                            "try grad_clip or a lower learning rate)")
        for m in msgs:
            warnings.warn(m, DiagnosticWarning, stacklevel=2)
        return msgs
