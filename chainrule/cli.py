"""The ``chainrule`` command: train and evaluate models, run the notes' examples.

    chainrule train                         the main demo: a small CNN on the 8x8 digits (>= 97% test accuracy)
    chainrule train --dataset breast_cancer --model mlp --hidden 32 --epochs 30
    chainrule train --config run.toml       the same options from a TOML file (flags override it)
    chainrule train --dataset heart.csv --target AHD     any CSV with a header (categorical columns one-hot;
                                            --task auto decides classification or regression and says why)
    chainrule train --nproc 2               data-parallel over 2 local processes (through mpiexec)
    mpiexec -n 4 chainrule train ...        the same under any MPI launcher (srun on a cluster)
    chainrule evaluate runs/digits-cnn/checkpoint.safetensors
    chainrule predict runs/heart-mlp new.csv -o predictions.csv   the saved preprocessing applied to new rows
    chainrule example                       list the runnable examples; chainrule example NAME [args...]
    chainrule datasets                      list the data sets that need no download

A training run writes into its output folder (first removing what an earlier run wrote there):
checkpoint.safetensors (model, optimiser, scheduler, epoch, random states, this run's
configuration and, for tabular data, the preprocessing state: feature columns, categories,
scaler statistics, class names or the target's mean and std; ``--resume`` continues from it,
``chainrule predict`` applies it to new rows), config.json / config.toml (every option; the
TOML file works as ``--config``), history.csv / history.json (one row per epoch), metrics.json
(task, test metrics, wall time) and, if matplotlib is installed, history.png and
confusion_matrix.png or predictions.png (and diagnostics plots with ``--diagnostics``).
A regression target is standardised for training; its metrics (MSE, MAE, R²) are reported in
its own units.

Errors: a user's mistake (a missing or corrupt file, a bad CSV, a bad option value, a
checkpoint that does not fit its model) ends the command with ONE line on stderr,
``chainrule: error: <what went wrong>``, and a non-zero exit status: 2 for a usage error
(an option's value; argparse's own errors look the same), 1 for any other error, 130 for
Ctrl-C.  An unexpected exception (a bug) also gives one line, with a hint to rerun with
``--debug``.  ``--debug`` (before or after the command) or the environment variable
``CHAINRULE_DEBUG=1`` prints the full traceback before that line.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import signal
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np

DEFAULTS: dict[str, Any] = {
    "dataset": "digits",
    "target": None,
    "task": "auto",  # CSV: auto (an integer target with few distinct values is a label), classification, regression
    "features": None,  # CSV feature columns (default: all but the target and drop)
    "drop": [],  # CSV columns to ignore
    "categorical": None,
    "delimiter": None,  # CSV: ',', ';' or '\t' (default: guessed from the header)
    "dropna": False,  # CSV: drop rows with missing values instead of stopping
    "model": None,  # cnn for image data, mlp otherwise
    "hidden": [64],
    "channels": [32, 64],
    "activation": "relu",
    "dropout": 0.0,
    "batch_norm": None,  # on for cnn, off for mlp
    "optimizer": "adam",
    "lr": None,  # 0.01 for adam/rmsprop/adagrad, 0.1 for sgd
    "momentum": 0.9,
    "weight_decay": 0.0,
    "schedule": "cosine",
    "epochs": 20,
    "batch_size": 64,
    "seed": 0,
    "val_size": 0.15,
    "test_size": 0.2,
    "augment": 0,  # max translation in pixels (0: off)
    "flip": False,
    "patience": 0,  # early stopping patience (0: off)
    "grad_clip": None,
    "compile": False,  # train through chainrule.compile (the same numbers, faster on small models)
    "out": None,  # runs/<dataset>-<model>
    "quiet": False,
    "plots": True,
    "diagnostics": False,
    "resume": False,
}
TASKS = ("auto", "classification", "regression")
DELIMITERS = {",": ",", ";": ";", "\t": "\t", "tab": "\t", "\\t": "\t", "|": "|"}
OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop", "adagrad")
SCHEDULES = ("none", "step", "exponential", "cosine", "plateau", "inverse_time")
PREFIX = "chainrule: error: "  # argparse's form for the main parser's usage errors
EXIT_ERROR, EXIT_USAGE, EXIT_INTERRUPTED = 1, 2, 130  # 2 as argparse; 130 = 128 + SIGINT, as shells report Ctrl-C


# -- errors -----------------------------------------------------------------------------------
class CommandError(SystemExit):
    """A user's mistake: ``main`` prints ``chainrule: error: <message>`` (one line) and exits with ``status``.

    A SystemExit, so that a script calling :func:`run_training` or :func:`resolve_config`
    directly still stops with the message and a non-zero status (SystemExit prints a string
    code and exits 1) rather than a traceback.
    """

    status = EXIT_ERROR

    def __init__(self, message: str) -> None:
        self.message = _one_line(message)
        super().__init__(PREFIX + self.message)


class UsageError(CommandError):
    """A bad option value (flag or config file): exit status 2, as argparse's own usage errors."""

    status = EXIT_USAGE


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during training, carrying what the user should know (where the intact checkpoint is)."""


class _CtrlC:
    """The SIGINT handler: raise KeyboardInterrupt, and remember that Ctrl-C was pressed.

    Python drops an exception raised while it runs a ``__del__`` method or a weakref callback
    ("Exception ignored in ..."), so a Ctrl-C landing there would be lost and training would go on
    for good. Training checks the flag after every batch and epoch (``_StopAfterCtrlC``)."""

    def __init__(self) -> None:
        self.pressed = False

    def __call__(self, signum: int, frame: Any) -> None:
        self.pressed = True
        raise KeyboardInterrupt


_CTRL_C = _CtrlC()


def _stop_after_ctrl_c() -> Any:
    """A training callback that raises KeyboardInterrupt if Ctrl-C was pressed but its exception was lost."""
    from chainrule.train import Callback

    class _StopAfterCtrlC(Callback):
        def on_batch_end(self, trainer: Any, batch: int, logs: dict) -> None:
            if _CTRL_C.pressed:
                raise KeyboardInterrupt

        on_epoch_end = on_batch_end  # type: ignore[assignment]

    return _StopAfterCtrlC()


def _one_line(text: str) -> str:
    """Multi-line messages (e.g. load_state_dict's list of problems) joined into one line."""
    return re.sub(r"\s*\n\s*", " ", str(text).strip())


def _describe(e: BaseException) -> str:
    """An exception as a message for the user: an OSError as 'Not a directory: path', others as their text."""
    if isinstance(e, UnicodeDecodeError):
        return f"not a UTF-8 text file ({e.reason} at byte {e.start})"
    if isinstance(e, OSError) and e.strerror:
        return e.strerror + (f": {e.filename}" if e.filename else "")
    return _one_line(str(e)) or type(e).__name__


def _debug_env() -> bool:
    """CHAINRULE_DEBUG set to anything but '', 0, false, no, off."""
    return os.environ.get("CHAINRULE_DEBUG", "").strip().lower() not in ("", "0", "false", "no", "off")


# -- argument parsing ---------------------------------------------------------------------------
def _ints(s: str) -> list[int]:
    try:
        return [int(v) for v in s.replace(" ", "").split(",") if v]
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers like 64,32, got {s!r}") from e


def _strs(s: str) -> list[str]:
    return [v.strip() for v in s.split(",") if v.strip()]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="chainrule",
        description="chainrule: a readable deep-learning library on NumPy. Train and evaluate models on small "
        "data sets, and run the lecture notes' examples.",
        epilog="Run 'chainrule train' with no options for the demo: a small CNN on the 8x8 digits data set "
        "with batch normalisation (about 99% test accuracy in well under a minute). "
        "'chainrule COMMAND --help' explains each command. Errors print one line 'chainrule: error: ...' "
        "and exit with status 1 (2 for a bad option, 130 for Ctrl-C); --debug or CHAINRULE_DEBUG=1 prints "
        "the traceback too.",
    )
    p.add_argument("--debug", action="store_true",
                   help="on an error, print the full traceback (also: environment variable CHAINRULE_DEBUG=1)")
    # every subcommand takes --debug too; SUPPRESS keeps an absent flag from resetting the main parser's value
    debug = argparse.ArgumentParser(add_help=False)
    debug.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                       help="on an error, print the full traceback (also: CHAINRULE_DEBUG=1)")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    t = sub.add_parser(
        "train",
        parents=[debug],
        help="train a model (no options: the digits CNN demo)",
        description="Train a model and write checkpoint, history, metrics and plots to the output folder. "
        "Options can also come from --config FILE.toml (keys named like the options, e.g. batch_size = 64); "
        "options given on the command line override the file.",
    )
    S = argparse.SUPPRESS  # unset flags stay absent, so config-file values survive
    t.add_argument("--config", help="TOML file with any of the options below")
    g = t.add_argument_group("data")
    g.add_argument("--dataset", default=S, help="digits (default), iris, wine, breast_cancer, diabetes, or a .csv path")
    g.add_argument("--target", default=S, help="label column of a CSV data set")
    g.add_argument("--task", default=S, choices=TASKS,
                   help="CSV: what the target is (default auto: an integer-valued target with few distinct values "
                   "is a class label, anything else a quantity to regress; the choice is printed)")
    g.add_argument("--features", type=_strs, default=S, metavar="COLS",
                   help="CSV: the feature columns, e.g. age,bmi,sex (default: every column but the target and --drop)")
    g.add_argument("--drop", type=_strs, default=S, metavar="COLS", help="CSV: columns to ignore, e.g. an id column")
    g.add_argument("--categorical", type=_strs, default=S, metavar="COLS",
                   help="CSV columns to one-hot encode (default: the columns whose values are all non-numeric)")
    g.add_argument("--delimiter", default=S, help="CSV field separator: ',', ';', tab or '|' (default: guessed)")
    g.add_argument("--dropna", action="store_true", default=S,
                   help="CSV: drop rows with a missing value (empty, NA, NaN, ?) instead of stopping at the first")
    g.add_argument("--val-size", dest="val_size", type=float, default=S, help="validation fraction (default 0.15)")
    g.add_argument("--test-size", dest="test_size", type=float, default=S, help="test fraction (default 0.2)")
    g.add_argument("--augment", type=int, default=S, metavar="PIXELS",
                   help="random translation of training images by up to PIXELS (default 0: off)")
    g.add_argument("--flip", action="store_true", default=S, help="random horizontal flips (off: wrong for digits)")
    g = t.add_argument_group("model")
    g.add_argument("--model", default=S, help="mlp or cnn (default: cnn for images, mlp otherwise)")
    g.add_argument("--hidden", type=_ints, default=S, help="MLP hidden widths, e.g. 64,32 (default 64)")
    g.add_argument("--channels", type=_ints, default=S, help="CNN channels per block (default 32,64)")
    g.add_argument("--activation", default=S, help="relu (default), tanh, sigmoid, leaky_relu, elu, gelu")
    g.add_argument("--dropout", type=float, default=S, help="dropout probability (default 0)")
    g.add_argument("--batch-norm", action=argparse.BooleanOptionalAction, default=S,
                   help="batch normalisation after each layer (default: on for cnn, off for mlp)")
    g = t.add_argument_group("optimisation")
    g.add_argument("--optimizer", default=S, choices=OPTIMIZERS, help="default adam")
    g.add_argument("--lr", type=float, default=S, help="learning rate (default 0.01; 0.1 for sgd)")
    g.add_argument("--momentum", type=float, default=S, help="SGD momentum (default 0.9)")
    g.add_argument("--weight-decay", dest="weight_decay", type=float, default=S, help="L2 weight decay (default 0)")
    g.add_argument("--schedule", default=S, choices=SCHEDULES, help="learning-rate schedule per epoch (default cosine)")
    g.add_argument("--epochs", type=int, default=S, help="default 20")
    g.add_argument("--batch-size", dest="batch_size", type=int, default=S, help="mini-batch size (default 64)")
    g.add_argument("--patience", type=int, default=S, help="early-stopping patience on val_loss (default 0: off)")
    g.add_argument("--grad-clip", dest="grad_clip", type=float, default=S, help="clip the gradient norm to this")
    g.add_argument("--seed", type=int, default=S, help="seed for split, initialisation, shuffling (default 0)")
    g.add_argument("--compile", action="store_true", default=S,
                   help="compile the training step (chainrule.compile: the same numbers, faster on small models)")
    g = t.add_argument_group("output")
    g.add_argument("--out", default=S, help="output folder (default runs/<dataset>-<model>)")
    g.add_argument("--quiet", "-q", action="store_true", default=S, help="no progress bar")
    g.add_argument("--no-plots", dest="plots", action="store_false", default=S, help="skip the PNG plots")
    g.add_argument("--diagnostics", action="store_true", default=S,
                   help="record activation/gradient statistics, warn on dead/saturated units, plot them")
    g.add_argument("--resume", action="store_true", default=S,
                   help="continue from <out>/checkpoint.safetensors up to --epochs")
    g = t.add_argument_group("parallel")
    g.add_argument("--nproc", type=int, default=S, metavar="N",
                   help="train data-parallel in N local processes started through mpiexec (needs the "
                        "'distributed' extra); --batch-size stays the global batch, split evenly. Under a launcher "
                        "(mpiexec -n N chainrule train, srun) the processes are the launcher's")

    e = sub.add_parser("evaluate", parents=[debug], help="evaluate a saved checkpoint on its data set's test split",
                       description="Rebuild the data split and model recorded in a checkpoint and report its metrics.")
    e.add_argument("checkpoint", help="a checkpoint.safetensors written by 'chainrule train'")
    e.add_argument("--split", default="test", choices=("train", "val", "test"), help="default test")

    pr = sub.add_parser(
        "predict", parents=[debug], help="apply a trained model to new rows of a CSV file",
        description="Read new rows (the training file's feature columns, in any order; the target column may be "
        "absent), apply the preprocessing saved with the model (column order, categories, scaling) and write one "
        "prediction per row: the class and each class's probability, or the value in the target's units. "
        "When the file holds the target column too, the metrics are printed.")
    pr.add_argument("run", help="a run folder written by 'chainrule train', or its checkpoint.safetensors")
    pr.add_argument("csv", help="the CSV file with the rows to predict")
    pr.add_argument("-o", "--output", help="write the predictions to this CSV file (default: standard output)")

    x = sub.add_parser("example", parents=[debug],
                       help="run one of the notes' examples: chainrule example NAME [args...]",
                       description="Run chainrule.examples.NAME.main(args); without NAME, list the examples.")
    x.add_argument("name", nargs="?", help="the example's name")
    x.add_argument("args", nargs=argparse.REMAINDER, help="arguments passed to the example")

    sub.add_parser("datasets", parents=[debug], help="list the data sets that need no download")
    return p


def load_config(path: str | Path) -> dict:
    """Options from a TOML file: top-level keys, and keys inside any table (flattened), named like the flags.

    Raises CommandError for a file that is missing, unreadable or not TOML, UsageError for an
    unknown key."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # Python 3.10: the same parser as the tomli package (a dependency there)
        import tomli as tomllib

    path = Path(path)
    try:
        with open(path, "rb") as f:
            raw = tomllib.load(f)
    except FileNotFoundError as e:
        raise CommandError(f"config file {path} not found") from e
    except OSError as e:
        raise CommandError(f"cannot read config file {path}: {_describe(e)}") from e
    except ValueError as e:  # tomllib.TOMLDecodeError, or bytes that are not UTF-8
        raise CommandError(f"{path} is not valid TOML: {_describe(e)}") from e
    flat: dict = {}
    for k, v in raw.items():
        if isinstance(v, dict):
            flat.update({kk.replace("-", "_"): vv for kk, vv in v.items()})
        else:
            flat[k.replace("-", "_")] = v
    unknown = sorted(set(flat) - set(DEFAULTS))
    if unknown:
        raise UsageError(f"unknown option(s) {unknown} in {path}; known: {sorted(DEFAULTS)}")
    return flat


def resolve_config(ns: argparse.Namespace) -> dict:
    """Defaults < config file < command-line flags; every value checked (UsageError names the bad one)."""
    cfg = dict(DEFAULTS)
    if getattr(ns, "config", None):
        cfg.update(load_config(ns.config))
    cfg.update({k: v for k, v in vars(ns).items() if k in DEFAULTS})
    for k in ("hidden", "channels"):
        if isinstance(cfg[k], int) and not isinstance(cfg[k], bool):
            cfg[k] = [cfg[k]]
        elif isinstance(cfg[k], str):  # "64,32" in a config file
            try:
                cfg[k] = _ints(cfg[k])
            except argparse.ArgumentTypeError as e:
                raise UsageError(f"{k}: {e}") from None
    for k in ("categorical", "features", "drop"):
        if isinstance(cfg[k], str):  # "a,b" in a config file
            cfg[k] = _strs(cfg[k])
    if isinstance(cfg["delimiter"], str) and cfg["delimiter"].lower() in DELIMITERS:
        cfg["delimiter"] = DELIMITERS[cfg["delimiter"].lower()]
    if cfg["lr"] is None:
        cfg["lr"] = 0.1 if cfg["optimizer"] == "sgd" else 0.01
    check_config(cfg)
    return cfg


def given_options(ns: argparse.Namespace) -> set[str]:
    """The options a user set explicitly: flags on the command line and keys of the --config file."""
    given = {k for k in vars(ns) if k in DEFAULTS}
    if getattr(ns, "config", None):
        given |= set(load_config(ns.config))
    return given


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_real(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def check_config(cfg: dict) -> None:
    """Raise UsageError naming the first option whose value is of the wrong type or out of range.

    Config files can hold any TOML value, so types are checked too (flags are already typed)."""

    def bad(key: str, expected: str) -> UsageError:
        return UsageError(f"{key} must be {expected}, got {cfg[key]!r}")

    for key in ("dataset", "activation"):
        if not isinstance(cfg[key], str) or not cfg[key]:
            raise bad(key, "a non-empty string")
    if cfg["target"] is not None and not isinstance(cfg["target"], str):
        raise bad("target", "a column name")
    for key in ("categorical", "features", "drop"):
        if cfg[key] is not None and not (isinstance(cfg[key], list) and all(isinstance(c, str) for c in cfg[key])):
            raise bad(key, "a list of column names")
    if cfg["task"] not in TASKS:
        raise bad("task", "one of " + ", ".join(TASKS))
    if cfg["delimiter"] is not None and cfg["delimiter"] not in DELIMITERS.values():
        raise bad("delimiter", "one of ',', ';', tab, '|'")
    if cfg["model"] is not None and cfg["model"] not in ("mlp", "cnn"):
        raise bad("model", "mlp or cnn")
    if cfg["optimizer"] not in OPTIMIZERS:
        raise bad("optimizer", "one of " + ", ".join(OPTIMIZERS))
    if cfg["schedule"] not in SCHEDULES:
        raise bad("schedule", "one of " + ", ".join(SCHEDULES))
    for key in ("hidden", "channels"):
        v = cfg[key]
        if not isinstance(v, list) or not all(_is_int(n) and n > 0 for n in v):
            raise bad(key, "a list of positive integers like 64,32")
    if not cfg["channels"]:
        raise bad("channels", "a non-empty list of positive integers")
    for key in ("epochs", "batch_size"):
        if not _is_int(cfg[key]) or cfg[key] < 1:
            raise bad(key, "a positive integer")
    for key in ("patience", "augment"):
        if not _is_int(cfg[key]) or cfg[key] < 0:
            raise bad(key, "a non-negative integer")
    if not _is_int(cfg["seed"]) or cfg["seed"] < 0:
        raise bad("seed", "a non-negative integer")
    if not _is_real(cfg["lr"]) or cfg["lr"] <= 0:
        raise bad("lr", "a positive number")
    for key in ("momentum", "weight_decay"):
        if not _is_real(cfg[key]) or cfg[key] < 0:
            raise bad(key, "a non-negative number")
    if cfg["grad_clip"] is not None and (not _is_real(cfg["grad_clip"]) or cfg["grad_clip"] <= 0):
        raise bad("grad_clip", "a positive number")
    if not _is_real(cfg["dropout"]) or not 0 <= cfg["dropout"] < 1:
        raise bad("dropout", "a probability in [0, 1)")
    for key in ("val_size", "test_size"):
        if not _is_real(cfg[key]) or not 0 < cfg[key] < 1:
            raise bad(key, "a fraction in (0, 1)")
    if cfg["val_size"] + cfg["test_size"] >= 1:
        raise UsageError(f"val_size + test_size must be below 1 (something must be left to train on), "
                         f"got {cfg['val_size']} + {cfg['test_size']}")
    for key in ("flip", "quiet", "plots", "diagnostics", "resume", "dropna", "compile"):
        if not isinstance(cfg[key], bool):
            raise bad(key, "true or false")
    if cfg["batch_norm"] is not None and not isinstance(cfg["batch_norm"], bool):
        raise bad("batch_norm", "true or false")
    if cfg["out"] is not None and not isinstance(cfg["out"], str):
        raise bad("out", "a folder name")


# -- data and model from a configuration --------------------------------------------------------
def _is_csv(name: Any) -> bool:
    return str(name).lower().endswith((".csv", ".tsv", ".txt"))


def load_data(cfg: dict, say: Any = None) -> Any:
    """The DataSplits for a configuration (a bundled data set name or a CSV path).

    A CSV that is missing, unreadable or malformed raises CommandError naming the file (and
    load_csv's column and line); an unknown data set name raises UsageError.  A regression
    target is standardised with the training part's mean and std (``data.target_scaler``);
    ``data.targets`` keeps each part's targets in their own units, for reporting.
    ``say(message)`` hears what the task was taken to be and why."""
    from chainrule.data import load_dataset

    name = str(cfg["dataset"])
    if _is_csv(name):
        data = _load_csv_splits(cfg, say)
    else:
        if cfg.get("task", "auto") != "auto":
            known = {"digits": "classification", "iris": "classification", "wine": "classification",
                     "breast_cancer": "classification", "diabetes": "regression"}.get(name.lower())
            if known and known != cfg["task"]:
                raise UsageError(f"--task {cfg['task']} does not apply to {name}, a {known} data set "
                                 "(--task is for CSV files)")
        try:
            data = load_dataset(name, val_size=cfg["val_size"], test_size=cfg["test_size"], seed=cfg["seed"])
        except ValueError as e:  # an unknown name
            raise UsageError(f"{_describe(e)} (or a .csv path)") from e
        except ImportError as e:  # the bundled data sets come with scikit-learn, an extra
            raise CommandError(f"the bundled data set {name!r} needs scikit-learn, which is not installed: "
                               "pip install 'chainrule[data]' (or train on your own file: --dataset FILE.csv "
                               "--target COLUMN)") from e
    data.targets = {k: data[k].y for k in ("train", "val", "test")}
    if data.task == "regression":
        _standardise_target(data)
    return data


def _standardise_target(data: Any) -> None:
    """z = (y - mean) / std with the training part's statistics, so the loss and learning rate need not
    depend on the target's units (diabetes' target has a variance near 6000); std 1 for a constant target."""
    from chainrule.data import Split

    y = np.asarray(data.train.y, dtype=np.float64)
    mean, std = float(y.mean()), float(y.std())
    std = std if std > 0 else 1.0
    data.target_scaler = (mean, std)
    for k in ("train", "val", "test"):
        part = data[k]
        z = ((np.asarray(part.y, dtype=np.float64) - mean) / std).astype(np.float32)
        setattr(data, k, Split(part.X, z))


def _load_csv_splits(cfg: dict, say: Any) -> Any:
    from chainrule.data import DataSplits, Split, StandardScaler, load_csv, train_val_test_split

    name = str(cfg["dataset"])
    if not cfg.get("target"):
        raise UsageError(f"a CSV data set needs --target COLUMN (the label column of {name})")
    try:
        tab, schema = load_csv(name, target=cfg["target"], categorical=cfg.get("categorical"),
                               drop=cfg.get("drop") or (), delimiter=cfg.get("delimiter"),
                               task=cfg.get("task", "auto"), dropna=bool(cfg.get("dropna")),
                               features=cfg.get("features"), return_schema=True)
    except FileNotFoundError as e:
        raise CommandError(f"no data file {name}") from e
    except (OSError, UnicodeDecodeError) as e:  # (a UnicodeDecodeError is a ValueError that names no file)
        raise CommandError(f"cannot read {name}: {_describe(e)}") from e
    except ValueError as e:  # load_csv names the file, the column and the line
        msg = _describe(e)
        raise CommandError(msg.replace("pass dropna=True", "pass --dropna to drop such rows")) from e
    if say is not None:
        how = "detected" if cfg.get("task", "auto") == "auto" else "as asked"
        other = "classification" if schema.task == "regression" else "regression"
        numeric = all(isinstance(c, (int, float)) for c in tab.classes)  # words cannot be regressed on
        say(f"task: {schema.task} ({how}: {schema.task_reason})"
            + (f"; --task {other} to override" if how == "detected" and numeric else ""))
    classification = schema.task == "classification"
    try:
        Xtr, Xva, Xte, ytr, yva, yte = train_val_test_split(
            tab.X, tab.y, val_size=cfg["val_size"], test_size=cfg["test_size"],
            stratify=tab.y if classification else None, seed=cfg["seed"]
        )
    except ValueError as e:
        raise CommandError(f"cannot split {name} into train/validation/test parts: {_describe(e)}") from e
    sizes = {"train": len(ytr), "validation": len(yva), "test": len(yte)}
    if min(sizes.values()) == 0:
        raise CommandError(
            f"{name} has {len(tab.y)} data rows: too few for val_size={cfg['val_size']} and "
            f"test_size={cfg['test_size']} (the split is {sizes}; every part needs at least one row)"
        )
    scaler = StandardScaler().fit(Xtr)  # statistics of the training split only
    Xtr, Xva, Xte = (scaler.transform(a).astype("float32") for a in (Xtr, Xva, Xte))
    if not classification:
        ytr, yva, yte = (a.astype("float32") for a in (ytr, yva, yte))
    return DataSplits(Path(name).stem, schema.task, Split(Xtr, ytr), Split(Xva, yva), Split(Xte, yte),
                      num_classes=len(tab.classes), input_shape=(tab.X.shape[1],),
                      feature_names=tab.feature_names, target_names=[str(c) for c in tab.classes], scaler=scaler,
                      schema=schema)


def preprocessing_state(data: Any) -> dict | None:
    """What ``chainrule predict`` needs to turn new CSV rows into model inputs and outputs into answers.

    The feature columns in order, the categories of each categorical column, the scaler's
    statistics (of the training part), the class names or the target's mean and std, the task.
    None for image data (digits)."""
    if len(data.input_shape) != 1 or data.scaler is None or not hasattr(data.scaler, "mean_"):
        return None
    schema = data.schema
    if schema is not None:
        state = schema.to_dict()
    else:  # a bundled tabular data set: its columns are the feature names, all numeric
        state = {"target": "target", "task": data.task, "columns": list(data.feature_names), "categories": {},
                 "feature_names": list(data.feature_names), "classes": list(data.target_names),
                 "task_reason": "the data set's task", "rows": sum(data[k].n for k in ("train", "val", "test"))}
    sc = data.scaler
    state.update({
        "scaler": {"mean": [float(v) for v in sc.mean_], "scale": [float(v) for v in sc.scale_],
                   "dtype": str(np.asarray(sc.mean_).dtype)},
        "target_scaler": list(data.target_scaler) if data.target_scaler is not None else None,
        "input_shape": list(data.input_shape), "num_classes": data.num_classes,
    })
    return state


def model_name(cfg: dict, data: Any) -> str:
    return cfg["model"] or ("cnn" if len(data.input_shape) == 3 else "mlp")


def make_model(cfg: dict, data: Any) -> Any:
    from chainrule import nn
    from chainrule.models import build_model

    if not hasattr(nn, "Module"):
        raise CommandError("this build has no chainrule.nn modules (nn.Module, Linear, Conv2d...); "
                           "the command needs them to build a model")
    name = model_name(cfg, data)
    out = data.num_classes if data.task == "classification" else 1
    bn = cfg.get("batch_norm")
    bn = (name == "cnn") if bn is None else bool(bn)  # default: on for cnn, off for mlp
    if name == "cnn":
        opts = {"channels": cfg["channels"], "dropout": cfg["dropout"], "batch_norm": bn}
    else:
        opts = {"hidden": cfg["hidden"], "activation": cfg["activation"], "dropout": cfg["dropout"],
                "batch_norm": bn}
    try:
        return build_model(name, data.input_shape, out, **opts)
    except ValueError as e:  # an option the model does not take (cnn on tabular data, an unknown activation)
        raise UsageError(_describe(e)) from e


def make_optimizer(cfg: dict, params: Any) -> Any:
    from chainrule import optim

    lr, wd = cfg["lr"], cfg["weight_decay"]
    kind = cfg["optimizer"]
    if kind == "sgd":
        return optim.SGD(params, lr=lr, momentum=cfg["momentum"], weight_decay=wd)
    cls = {"adam": optim.Adam, "adamw": optim.AdamW, "rmsprop": optim.RMSprop, "adagrad": optim.Adagrad}[kind]
    return cls(params, lr=lr, weight_decay=wd)


def make_scheduler(cfg: dict, opt: Any) -> Any:
    from chainrule.optim import lr_scheduler as ls

    kind, epochs = cfg["schedule"], cfg["epochs"]
    if kind == "none":
        return None
    if kind == "step":
        return ls.StepLR(opt, step_size=max(1, epochs // 3), gamma=0.1)
    if kind == "exponential":
        return ls.ExponentialLR(opt, gamma=0.9)
    if kind == "cosine":
        return ls.CosineAnnealingLR(opt, T_max=epochs)
    if kind == "plateau":
        return ls.ReduceLROnPlateau(opt, factor=0.5, patience=2)
    return ls.InverseTimeLR(opt, decay_rate=0.1)


def make_loss(data: Any) -> Any:
    from chainrule import nn

    return nn.CrossEntropyLoss() if data.task == "classification" else nn.MSELoss()


# -- commands ---------------------------------------------------------------------------------
# the files a run writes into its folder (and removes first, so that none is left from an earlier run)
RUN_FILES = ("checkpoint.safetensors", "history.csv", "history.json", "metrics.json", "config.json", "config.toml",
             "history.png", "confusion_matrix.png", "predictions.png", "activations.png", "activation_stats.png",
             "gradients.png", "grad_norms.png")
# options that a resumed run may change; the others describe the data, model and optimiser in the checkpoint
RESUMABLE = ("epochs", "patience", "grad_clip", "batch_size", "quiet", "plots", "diagnostics", "out", "resume",
             "compile")


def _default_out(cfg: dict) -> Path:
    name = str(cfg["dataset"])
    stem = Path(name).stem if _is_csv(name) else name.lower().replace("-", "_")
    model = cfg["model"] or ("cnn" if stem == "digits" and not _is_csv(name) else "mlp")
    return Path("runs") / f"{stem}-{model}"


def _same(key: str, a: Any, b: Any) -> bool:
    if key == "task" and a == "auto":  # the checkpoint records what 'auto' decided
        return True
    if key == "dataset" and _is_csv(a) and _is_csv(b):
        return Path(a).resolve() == Path(b).resolve()
    return a == b


def _resume_config(cfg: dict, given: set, ckpt: Path) -> tuple[dict, dict, list[str]]:
    """The checkpoint's state, the configuration to resume with, and the notes on options kept.

    Options that describe the data, the model or the optimiser come from the checkpoint (they
    must, for its weights and optimiser state to fit); a different value given now is reported
    and ignored.  Options a resumed run may change (RESUMABLE: epochs, patience, batch size,
    output...) are taken from this command when given, else from the checkpoint."""
    if not ckpt.exists():
        raise CommandError(f"--resume but there is no checkpoint at {ckpt}")
    state, old = _read_run(ckpt, for_what="resume from")
    new = dict(cfg)
    kept = []
    for k in DEFAULTS:
        if k in ("resume", "out"):
            continue
        if k in RESUMABLE:
            if k not in given:
                new[k] = old[k]
        else:
            if k in given and not _same(k, cfg[k], old[k]):
                kept.append(f"{k}={old[k]!r} (not {cfg[k]!r})")
            new[k] = old[k]
    return state, new, kept


def _clear_run_folder(out: Path, resume: bool) -> None:
    """Remove the files an earlier run wrote (never other files): stale plots must not pass for this run's."""
    keep = ("checkpoint.safetensors", "history.csv", "history.json") if resume else ()
    for f in RUN_FILES:
        p = out / f
        if f not in keep and p.is_file():
            try:
                p.unlink()
            except OSError as e:
                raise CommandError(f"cannot remove the earlier run's {p}: {_describe(e)}") from e


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    return json.dumps(str(v))  # a JSON string is a valid TOML basic string


def write_config(cfg: dict, out: Path) -> None:
    """config.json (every option) and config.toml (the same, for ``chainrule train --config``; unset options
    are left out, as TOML has no null)."""
    record = {k: cfg[k] for k in DEFAULTS}
    record["resume"] = False
    (out / "config.json").write_text(json.dumps(record, indent=1))
    lines = ["# chainrule train --config config.toml  repeats this run"]
    lines += [f"{k} = {_toml_value(v)}" for k, v in record.items() if v is not None]
    (out / "config.toml").write_text("\n".join(lines) + "\n")


def _silent(*args: Any, **kwargs: Any) -> None:
    """A ``print`` that prints nothing (ranks other than 0)."""


def run_training(cfg: dict, given: set[str] | None = None) -> dict:
    """Train as configured; write the outputs; return {'test': metrics, 'out': folder, 'wall_time_s': ...}.

    ``given``: the options the user set explicitly (for --resume: which differences to report
    and which options to take from the checkpoint); default: those that differ from DEFAULTS."""
    import chainrule as cr
    from chainrule.data import Compose, RandomHorizontalFlip, RandomTranslate
    from chainrule.train import EarlyStopping, HistoryLogger, ModelCheckpoint, Trainer
    from chainrule.train.metrics import InOriginalUnits
    from chainrule.utils.data import DataLoader, Generator

    t0 = time.perf_counter()
    rank, world = _init_distributed(cfg)
    given = {k for k in DEFAULTS if cfg[k] != DEFAULTS[k]} if given is None else set(given)
    out = Path(cfg["out"]) if cfg["out"] else _default_out(cfg)
    ckpt = out / "checkpoint.safetensors"
    state = None
    if cfg["resume"]:
        state, cfg, kept = _resume_config(cfg, given, ckpt)
        if kept and not rank:
            print("resume: keeping the checkpoint's " + ", ".join(kept)
                  + " -- they define the data, model and optimiser it holds", flush=True)
    if rank:
        cfg = {**cfg, "quiet": True}  # rank 0 alone prints, draws progress bars and writes files
    cr.manual_seed(cfg["seed"])
    # what the task was taken to be matters even with --quiet (rank 0 alone says it)
    data = load_data(cfg, say=print if rank == 0 else _silent)
    if _is_csv(cfg["dataset"]):  # recorded as an absolute path: 'chainrule evaluate' works from any folder
        # and with the task it was taken to be, so that evaluate, predict and resume need not guess again
        cfg = {**cfg, "dataset": str(Path(cfg["dataset"]).resolve()), "task": data.task}
    name = model_name(cfg, data)
    try:
        if rank == 0:
            out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise CommandError(f"cannot create the output folder {out}: {_describe(e)}") from e
    if rank == 0:
        _clear_run_folder(out, resume=state is not None)
    model = make_model(cfg, data)
    if world > 1:
        model = _sync_batchnorm(model)
        if rank:  # own dropout masks per rank (the weights come from rank 0 anyway)
            cr.manual_seed(cfg["seed"] + 1_000_003 * rank)
    opt = make_optimizer(cfg, model.parameters())
    sched = make_scheduler(cfg, opt)

    transforms: list[Any] = []
    if cfg["augment"]:
        transforms.append(RandomTranslate(cfg["augment"], generator=Generator().manual_seed(cfg["seed"] + 1)))
    if cfg["flip"]:
        transforms.append(RandomHorizontalFlip(generator=Generator().manual_seed(cfg["seed"] + 2)))
    if transforms and len(data.input_shape) != 3:
        raise UsageError("--augment/--flip apply to image data sets only (e.g. digits)")
    train_ds = data.train.dataset(transform=Compose(transforms) if transforms else None)
    if world > 1:  # each rank reads its share of every global batch (DistributedSampler's interleaving)
        from chainrule.utils.data import DistributedSampler

        train_loader = DataLoader(train_ds, batch_size=cfg["batch_size"] // world,
                                  sampler=DistributedSampler(train_ds, seed=cfg["seed"]))
    else:
        train_loader = DataLoader(train_ds, batch_size=cfg["batch_size"], shuffle=True,
                                  generator=Generator().manual_seed(cfg["seed"]))
    val_loader = DataLoader(data.val.dataset(), batch_size=512)

    callbacks: list = [_stop_after_ctrl_c(), ModelCheckpoint(out, filename="checkpoint"), HistoryLogger(out)]
    stopper = None
    if cfg["patience"] > 0:
        stopper = EarlyStopping("val_loss", patience=cfg["patience"], restore_best_weights=True)
        callbacks.insert(0, stopper)
    monitors = []
    if cfg["diagnostics"]:
        from chainrule.train import ActivationMonitor, GradientMonitor

        monitors = [ActivationMonitor(model), GradientMonitor(model)]
        callbacks += monitors
    metrics: Any = "auto"
    if data.task == "regression":  # MAE in the target's units (the loss is the MSE of the standardised target)
        metrics = [InOriginalUnits("mae", *data.target_scaler), "r2"]
    trainer = Trainer(model, make_loss(data), opt, scheduler=sched, metrics=metrics, callbacks=callbacks,
                      grad_clip=cfg["grad_clip"], verbose=0 if cfg["quiet"] else 1, compile=bool(cfg.get("compile")))
    pre = preprocessing_state(data)
    extra = {"config": json.dumps({**cfg, "out": str(out), "resume": False})}
    if pre is not None:
        extra["preprocessing"] = json.dumps(pre)
    if state is not None:
        try:
            trainer.load_state_dict(state)
        except (RuntimeError, KeyError, TypeError, ValueError) as e:  # the weights do not fit the model
            raise CommandError(f"cannot resume from {ckpt}: it does not fit this run's model and options "
                               f"({type(e).__name__}: {_describe(e)})") from e
        _say(cfg, f"resuming from {ckpt} at epoch {trainer.epoch}")
    trainer.extra = extra
    if rank == 0:
        write_config({**cfg, "out": str(out)}, out)
    _say(cfg, f"data: {data}\nmodel: {name}, {sum(p.numel() for p in model.parameters())} parameters; "
              f"optimizer {cfg['optimizer']} lr={cfg['lr']}, schedule {cfg['schedule']}, {cfg['epochs']} epochs")
    try:
        trainer.fit(train_loader, val_loader, epochs=cfg["epochs"])
        trainer.save_checkpoint(ckpt)  # the final model (best weights if early stopping restored them)
    except KeyboardInterrupt as e:
        # checkpoints are written atomically, so the file holds the last epoch saved in full
        if ckpt.exists():
            raise Interrupted(f"the checkpoint of the last finished epoch is in {ckpt}; "
                              f"continue with: chainrule train --out {out} --resume") from e
        raise
    if stopper is not None and rank == 0:
        print(_early_stopping_note(stopper, trainer))
    test = evaluate_split(trainer.model, data, "test")
    wall = time.perf_counter() - t0
    summary = {"dataset": data.name, "task": data.task, "model": name, "epochs": trainer.epoch, "test": test,
               "rows": sum(data[k].n for k in ("train", "val", "test")), "wall_time_s": round(wall, 2),
               "out": str(out)}
    if data.task == "regression":
        summary["target_mean_std"] = list(data.target_scaler)
    if world > 1:
        summary["processes"] = world
    if rank:
        return summary
    trainer.history.to_csv(out / "history.csv")
    trainer.history.to_json(out / "history.json")
    (out / "metrics.json").write_text(json.dumps(summary, indent=1))
    written = ["checkpoint.safetensors", "config.json", "config.toml", "history.csv", "history.json", "metrics.json"]
    if cfg["plots"]:
        kept_epoch = stopper.best_epoch if stopper is not None and stopper.best_epoch < trainer.epoch else None
        written += _plots(out, trainer, data, monitors, cfg, best_epoch=kept_epoch)
    print(f"test {_fmt_metrics(test)}  ({data.test.n} examples)")
    print(f"wrote {out}/: {', '.join(written)}  [{wall:.1f} s]")
    return summary


def _early_stopping_note(stopper: Any, trainer: Any) -> str:
    """When and why training stopped, and which weights the model has now."""
    best = f"the best weights, from epoch {stopper.best_epoch} (val_loss {stopper.best:.4g})"
    if stopper.stopped_epoch and stopper.stopped_epoch == trainer.epoch:
        return (f"early stopping: stopped after epoch {stopper.stopped_epoch}: val_loss did not improve for "
                f"{stopper.patience} epochs; the model has {best}")
    return f"early stopping: did not trigger in {trainer.epoch} epochs; the model has {best}"


def evaluate_split(model: Any, data: Any, split: str) -> dict[str, float]:
    """Test metrics of ``model`` on one part: loss and accuracy (classification), or MSE, MAE and R² in
    the target's own units (regression: the outputs are mapped back with the training mean and std)."""
    from chainrule.train import Trainer
    from chainrule.train.metrics import r2_score
    from chainrule.utils.data import DataLoader

    loader = DataLoader(data[split].dataset(), batch_size=512)
    trainer = Trainer(model, make_loss(data), None, verbose=0)
    if data.task == "classification":
        return trainer.evaluate(loader)
    mean, std = data.target_scaler
    yhat = trainer.predict(loader).reshape(-1).astype(np.float64) * std + mean
    y = np.asarray(data.targets[split], dtype=np.float64)
    return {"mse": float(((yhat - y) ** 2).mean()), "mae": float(np.abs(yhat - y).mean()),
            "r2": r2_score(yhat, y)}


def _plots(out: Path, trainer: Any, data: Any, monitors: list, cfg: dict, best_epoch: int | None = None) -> list[str]:
    """Draw the run's figures; returns the names written ([] and a note when matplotlib is missing)."""
    try:
        from chainrule import plot

        plot._plt()
    except ImportError:
        print("plots skipped: matplotlib is not installed (pip install 'chainrule[plot]')")
        return []
    from chainrule.train.metrics import confusion_matrix
    from chainrule.utils.data import DataLoader

    written = []
    labels = {"loss": "MSE of the standardised target"} if data.task == "regression" else {}
    plot.plot_history(trainer.history, out / "history.png", title=f"{data.name} ({data.task})", ylabels=labels,
                      best_epoch=best_epoch)
    written.append("history.png")
    test_loader = DataLoader(data.test.dataset(), batch_size=512)
    if data.task == "classification":
        pred = trainer.predict(test_loader)
        cm = confusion_matrix(pred, data.test.y, data.num_classes)
        plot.plot_confusion_matrix(cm, out / "confusion_matrix.png", labels=data.target_names or None,
                                   title="test set")
        written.append("confusion_matrix.png")
    else:
        mean, std = data.target_scaler
        yhat = trainer.predict(test_loader).reshape(-1) * std + mean
        plot.plot_predictions(data.targets["test"], yhat, out / "predictions.png", title="test set",
                              label=cfg.get("target") or "target")
        written.append("predictions.png")
    names = plot.layer_labels(trainer.model)
    for m in monitors:
        if hasattr(m, "kinds") and m.samples:
            plot.plot_histograms({names.get(n, n): v for n, v in m.samples.items()}, out / "activations.png",
                                 title="activations (last epoch)")
            written.append("activations.png")
        elif m.samples:
            plot.plot_histograms({names.get(n, n): v for n, v in m.samples.items()}, out / "gradients.png",
                                 title="gradients (last step)")
            plot.plot_series({names.get(n, n): v for n, v in m.history.items()}, out / "grad_norms.png",
                             ylabel="gradient norm (mean over the epoch)", title="gradient norm per layer")
            written += ["gradients.png", "grad_norms.png"]
    return written


def _say(cfg: dict, msg: str) -> None:
    if not cfg.get("quiet"):
        print(msg, file=sys.stderr)


def _fmt_metrics(m: dict) -> str:
    return " ".join(f"{k}={v:.4f}" for k, v in m.items())


def _read_run(path: Path, for_what: str = "read") -> tuple[dict, dict]:
    """A checkpoint written by 'chainrule train' and its run configuration (checked); CommandError otherwise."""
    from chainrule.train.checkpoint import load_checkpoint

    if path.is_dir():
        raise CommandError(f"{path} is a folder; give the checkpoint file in it "
                           f"(e.g. {path / 'checkpoint.safetensors'})")
    try:
        state = load_checkpoint(path)
    except FileNotFoundError as e:
        raise CommandError(f"no checkpoint at {path}") from e
    except (OSError, ValueError) as e:  # unreadable, not safetensors, truncated, corrupt structure
        raise CommandError(f"cannot {for_what} checkpoint {path}: {_describe(e)}") from e
    extra = state.get("extra") if isinstance(state, dict) else None
    if not isinstance(extra, dict) or "config" not in extra or not isinstance(state.get("model"), dict):
        raise CommandError(f"{path} has no run configuration and model (it was not written by 'chainrule train')")
    try:
        cfg = json.loads(extra["config"])
        if not isinstance(cfg, dict):
            raise ValueError(f"a JSON {type(cfg).__name__}, not an object")
        if "task" not in cfg and _is_csv(cfg.get("dataset", "")):
            cfg["task"] = "classification"  # written before --task existed: a CSV target was always a label
        cfg = {**DEFAULTS, **cfg}
        check_config(cfg)
    except (TypeError, ValueError) as e:  # json.JSONDecodeError is a ValueError, UsageError a SystemExit
        raise CommandError(f"{path} holds a corrupt run configuration: {_describe(e)}") from e
    except UsageError as e:
        raise CommandError(f"{path} holds a corrupt run configuration: {e.message}") from e
    return state, cfg


def _load_weights(model: Any, state: dict, path: Path) -> None:
    try:
        model.load_state_dict(state["model"])
    except (RuntimeError, TypeError, ValueError, KeyError) as e:
        raise CommandError(f"{path}: the weights do not match the model its configuration describes "
                           f"({_describe(e)})") from e


def evaluate_checkpoint(path: str | Path, split: str = "test") -> dict:
    """Rebuild data and model from a checkpoint's recorded configuration and evaluate it on ``split``."""
    from chainrule.train import Trainer
    from chainrule.train.metrics import confusion_matrix
    from chainrule.utils.data import DataLoader

    path = Path(path)
    state, cfg = _read_run(path)
    try:
        data = load_data(cfg)
        model = make_model(cfg, data)
    except UsageError as e:  # the recorded options, not this command line, are at fault: status 1
        raise CommandError(f"{path}: {e.message}") from e
    _load_weights(model, state, path)
    metrics = evaluate_split(model, data, split)
    part = data[split]
    print(f"{data.name} {split} ({part.n} examples), model {model_name(cfg, data)} "
          f"after {state.get('epoch', '?')} epochs:")
    print(f"  {_fmt_metrics(metrics)}" + ("  (in the target's units)" if data.task == "regression" else ""))
    if data.task == "classification":
        loader = DataLoader(part.dataset(), batch_size=512)
        cm = confusion_matrix(Trainer(model, None, None, verbose=0).predict(loader), part.y, data.num_classes)
        print("  confusion matrix (rows: true class, columns: predicted):")
        for row in cm:
            print("   " + " ".join(f"{v:4d}" for v in row))
    return metrics


def predict_file(run: str | Path, csv_path: str | Path, output: str | Path | None = None) -> np.ndarray:
    """Apply a trained run to new CSV rows; write one prediction per row (CSV) to ``output`` or stdout.

    The rows get the preprocessing saved in the checkpoint: the training file's feature columns
    (matched by name), one-hot columns with the training categories, the training scaler.
    Classification writes ``prediction`` (the class) and ``probability_<class>`` (softmax of
    the logits); regression writes ``prediction`` in the target's units (mean + std * output).
    If the file has the target column, the metrics are printed (on stderr when the predictions
    go to stdout).  Returns the predictions (classes or values)."""
    import csv
    from types import SimpleNamespace

    from chainrule.autograd.grad_mode import no_grad
    from chainrule.autograd.tensor import Tensor
    from chainrule.data import CSVSchema, load_csv
    from chainrule.train.metrics import r2_score

    path = Path(run)
    if path.is_dir():
        path = path / "checkpoint.safetensors"
        if not path.exists():
            raise CommandError(f"no checkpoint.safetensors in {run} (give a run folder written by 'chainrule train')")
    state, cfg = _read_run(path)
    try:
        pre = json.loads(state["extra"]["preprocessing"])
        schema = CSVSchema.from_dict(pre)
        mean = np.asarray(pre["scaler"]["mean"], dtype=pre["scaler"]["dtype"])
        scale = np.asarray(pre["scaler"]["scale"], dtype=pre["scaler"]["dtype"])
    except KeyError as e:
        raise CommandError(f"{path} holds no preprocessing state for tabular rows (a run on image data, or one "
                           "written by an older 'chainrule train'): predict needs a run trained on a CSV or a "
                           "tabular data set") from e
    except (TypeError, ValueError) as e:
        raise CommandError(f"{path} holds a corrupt preprocessing state: {_describe(e)}") from e
    try:
        tab = load_csv(csv_path, schema=schema)
    except FileNotFoundError as e:
        raise CommandError(f"no data file {csv_path}") from e
    except (OSError, UnicodeDecodeError) as e:
        raise CommandError(f"cannot read {csv_path}: {_describe(e)}") from e
    except ValueError as e:
        raise CommandError(_describe(e)) from e
    shape = SimpleNamespace(input_shape=tuple(pre["input_shape"]), num_classes=int(pre["num_classes"]),
                            task=schema.task)
    try:
        model = make_model(cfg, shape)
    except UsageError as e:
        raise CommandError(f"{path}: {e.message}") from e
    _load_weights(model, state, path)
    X = ((tab.X.astype(mean.dtype) - mean) / scale).astype(np.float32)  # the training split's scaler
    model.eval()
    with no_grad():
        out = np.asarray(model(Tensor._wrap(X))._array, dtype=np.float64)
    header: list[str] = ["prediction"]
    if schema.task == "classification":
        z = np.exp(out - out.max(axis=1, keepdims=True))
        prob = z / z.sum(axis=1, keepdims=True)
        k = prob.argmax(axis=1)
        pred = np.array([schema.classes[i] for i in k], dtype=object)
        header += [f"probability_{c}" for c in schema.classes]
        rows = [[pred[i], *(f"{p:.6g}" for p in prob[i])] for i in range(len(pred))]
        score = {"accuracy": float((k == tab.y).mean())} if tab.y is not None else None
    else:
        t_mean, t_std = pre["target_scaler"]
        pred = out.reshape(-1) * t_std + t_mean
        rows = [[f"{v:.10g}"] for v in pred]
        score = None
        if tab.y is not None:
            y = np.asarray(tab.y, dtype=np.float64)
            score = {"mse": float(((pred - y) ** 2).mean()), "mae": float(np.abs(pred - y).mean()),
                     "r2": r2_score(pred, y)}
    if output is None:
        w = csv.writer(sys.stdout, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)
    else:
        try:
            with open(output, "w", newline="") as f:
                w = csv.writer(f)
                w.writerow(header)
                w.writerows(rows)
        except OSError as e:
            raise CommandError(f"cannot write {output}: {_describe(e)}") from e
        print(f"wrote {len(rows)} predictions to {output}")
    if score is not None:
        print(f"{Path(csv_path).name} ({len(rows)} rows with {schema.target!r}): {_fmt_metrics(score)}",
              file=sys.stderr if output is None else sys.stdout)
    return pred


def list_examples() -> list[str]:
    try:
        import chainrule.examples as ex
    except ImportError:
        return []
    import pkgutil

    return sorted(m.name for m in pkgutil.iter_modules(ex.__path__) if not m.name.startswith("_"))


def run_example(name: str | None, args: list[str]) -> int:
    import importlib

    names = list_examples()
    if not name or name not in names:
        if name:
            print(f"{PREFIX}no example named {name!r}", file=sys.stderr)
        print("available examples: " + (", ".join(names) if names else "(none installed)"))
        print("run one with: chainrule example NAME [args...]")
        return 0 if not name else 2
    mod = importlib.import_module(f"chainrule.examples.{name}")
    if not hasattr(mod, "main"):
        raise CommandError(f"example {name!r} has no main(args) function")
    result = mod.main(list(args))
    return int(result) if isinstance(result, int) else 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``chainrule`` console script and ``python -m chainrule``; returns the exit status.

    0 on success; 2 for a usage error; 1 for any other error; 130 for Ctrl-C.  An error prints
    one line ``chainrule: error: ...`` on stderr (after the traceback with --debug or
    CHAINRULE_DEBUG=1).  Usage errors found by argparse exit from ``parse_args`` as usual."""
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    ns = parser.parse_args(argv)
    debug = bool(getattr(ns, "debug", False)) or _debug_env()
    handles_ctrl_c = (threading.current_thread() is threading.main_thread()
                      and signal.getsignal(signal.SIGINT) is signal.default_int_handler)
    if handles_ctrl_c:
        _CTRL_C.pressed = False
        signal.signal(signal.SIGINT, _CTRL_C)
    try:
        nproc = getattr(ns, "nproc", None)
        if nproc is not None and nproc < 1:
            raise UsageError(f"--nproc must be a positive integer, got {nproc}")
        if nproc is not None and nproc > 1 and launcher_world_size() == 1:
            return launch(nproc, argv)  # the N processes run this same command line under mpiexec
        return _run_command(parser, ns)
    except KeyboardInterrupt as e:
        note = f"; {_one_line(str(e))}" if str(e) else ""
        return _report(e, f"interrupted (Ctrl-C){note}", EXIT_INTERRUPTED, debug)
    except CommandError as e:
        return _report(e, e.message, e.status, debug)
    except (OSError, ValueError) as e:  # the library's convention for bad input and unusable files
        return _report(e, _describe(e), EXIT_ERROR, debug)
    except Exception as e:  # a bug: still one line, and how to see more
        hint = "" if debug else (" -- this looks like a bug in chainrule; rerun with --debug (or CHAINRULE_DEBUG=1) "
                                 "for the traceback and report it")
        return _report(e, f"internal error: {type(e).__name__}: {_describe(e)}{hint}", EXIT_ERROR, debug)
    finally:
        if handles_ctrl_c:
            signal.signal(signal.SIGINT, signal.default_int_handler)


def _report(e: BaseException, message: str, status: int, debug: bool) -> int:
    """Print the traceback (debug only) and the one ``chainrule: error:`` line; return the exit status.

    In a data-parallel run the other ranks would wait for this one in their next collective
    call: MPI_Abort stops the whole job with ``status`` instead."""
    try:
        sys.stdout.flush()  # what the command printed comes before the error
    except (OSError, ValueError):
        pass
    rank = launcher_rank()
    if rank and isinstance(e, UsageError):
        return status  # the options are the same on every rank: rank 0 alone says what is wrong with them
    if debug:
        traceback.print_exception(e)
    where = f"[rank {rank}] " if launcher_world_size() > 1 else ""
    sys.stderr.write(PREFIX + where + _one_line(message) + "\n")  # one write: ranks' lines do not interleave
    sys.stderr.flush()
    _abort_job(status)
    return status


# -- data-parallel runs (--nproc, mpiexec, srun) ----------------------------------------------------
# environment variables by which MPI launchers tell a process the job's size and its rank: MPICH/Hydra
# and Intel MPI (PMI_*), Open MPI (OMPI_COMM_WORLD_*), Slurm's srun (SLURM_STEP_NUM_TASKS, SLURM_PROCID)
_LAUNCHER_SIZE_VARS = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "SLURM_STEP_NUM_TASKS")
_LAUNCHER_RANK_VARS = ("PMI_RANK", "OMPI_COMM_WORLD_RANK", "SLURM_PROCID")


def launcher_world_size() -> int:
    """The number of processes an MPI launcher started this one among (1 when not launched by one)."""
    for var in _LAUNCHER_SIZE_VARS:
        v = os.environ.get(var, "").strip()
        if v.isdigit() and int(v) > 0:
            return int(v)
    return 1


def launcher_rank() -> int:
    """This process's rank as the MPI launcher set it (0 when not launched by one)."""
    for size_var, rank_var in zip(_LAUNCHER_SIZE_VARS, _LAUNCHER_RANK_VARS):
        v = os.environ.get(rank_var, "").strip()
        if os.environ.get(size_var) and v.isdigit():
            return int(v)
    return 0


def _init_distributed(cfg: dict) -> tuple[int, int]:
    """(rank, world size) of this training process; joins the MPI process group under a launcher of N > 1."""
    world = launcher_world_size()
    nproc = cfg.get("nproc")
    if nproc is not None and world > 1 and nproc != world:
        raise UsageError(f"--nproc {nproc} but the MPI launcher started {world} processes")
    if world == 1:
        return 0, 1
    if cfg["batch_size"] % world:  # checked before MPI starts: every rank exits alike, nobody waits
        raise UsageError(f"batch_size {cfg['batch_size']} is the global batch and must be divisible by the "
                         f"number of processes, {world}")
    from chainrule import distributed as dist

    if not dist.is_available():
        raise CommandError(_NEEDS_MPI)
    if not dist.is_initialized():
        dist.init_process_group("mpi")
    return dist.get_rank(), dist.get_world_size()


def _sync_batchnorm(model: Any) -> Any:
    """Batch norm with statistics over the global batch (SyncBatchNorm), so N processes train as one."""
    from chainrule import nn

    sync = getattr(nn, "SyncBatchNorm", None)
    return sync.convert_sync_batchnorm(model) if sync is not None else model


def _abort_job(status: int) -> None:
    """MPI_Abort the job when this process is one rank of several (a no-op otherwise)."""
    if launcher_world_size() == 1 or "mpi4py" not in sys.modules:
        return
    from mpi4py import MPI

    MPI.COMM_WORLD.Abort(status or 1)


_NEEDS_MPI = ('data-parallel training needs MPI: pip install "chainrule[distributed]" (mpi4py and the mpich '
              "wheel), or on a cluster pip install mpi4py against its MPI")


def find_mpiexec() -> str | None:
    """``mpiexec`` beside this Python (a venv with the mpich wheel) or else on PATH; None if there is none."""
    import shutil

    here = Path(sys.executable).parent / "mpiexec"
    if here.is_file() and os.access(here, os.X_OK):
        return str(here)
    return shutil.which("mpiexec")


def launch(nproc: int, argv: list[str]) -> int:
    """Run ``chainrule <argv>`` in ``nproc`` processes through mpiexec; returns the job's exit status."""
    import importlib.util
    import subprocess

    mpiexec = find_mpiexec()
    if mpiexec is None or importlib.util.find_spec("mpi4py") is None:
        raise CommandError(f"--nproc {nproc}: " + _NEEDS_MPI)
    cmd = [mpiexec, "-n", str(nproc), sys.executable, "-m", "chainrule", *argv]
    return subprocess.run(cmd).returncode


def _run_command(parser: argparse.ArgumentParser, ns: argparse.Namespace) -> int:
    if ns.command is None:
        parser.print_help()
        return 0
    if ns.command == "train":
        cfg = resolve_config(ns)
        if getattr(ns, "nproc", None) is not None:
            cfg["nproc"] = ns.nproc
        run_training(cfg, given=given_options(ns))
        return 0
    if ns.command == "predict":
        predict_file(ns.run, ns.csv, ns.output)
        return 0
    if ns.command == "evaluate":
        evaluate_checkpoint(ns.checkpoint, ns.split)
        return 0
    if ns.command == "example":
        return run_example(ns.name, ns.args)
    if ns.command == "datasets":
        from chainrule.data import DATASETS

        print("bundled with scikit-learn: " + ", ".join(DATASETS))
        print("generated (chainrule.data): make_xor, make_spirals, make_moons, make_circles, "
              "make_linear_regression, make_polynomial_regression")
        print("your own: chainrule train --dataset FILE.csv --target COLUMN, then chainrule predict RUN NEW.csv")
        return 0
    parser.error(f"unknown command {ns.command!r}")
    return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
