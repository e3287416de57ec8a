"""The ``chainrule`` command: train and evaluate models, run the notes' examples.

    chainrule train                         the main demo: a small CNN on the 8x8 digits (>= 97% test accuracy)
    chainrule train --dataset breast_cancer --model mlp --hidden 32 --epochs 30
    chainrule train --config run.toml       the same options from a TOML file (flags override it)
    chainrule train --dataset heart.csv --target AHD     any CSV with a header (categorical columns one-hot)
    chainrule train --nproc 2               data-parallel over 2 local processes (through mpiexec)
    mpiexec -n 4 chainrule train ...        the same under any MPI launcher (srun on a cluster)
    chainrule evaluate runs/digits-cnn/checkpoint.safetensors
    chainrule example                       list the runnable examples; chainrule example NAME [args...]
    chainrule datasets                      list the data sets that need no download

A training run writes into its output folder: checkpoint.safetensors (model, optimiser,
scheduler, epoch, random states and this run's configuration; ``--resume`` continues from it),
history.csv / history.json (one row per epoch), metrics.json (test metrics, wall time) and,
if matplotlib is installed, history.png and confusion_matrix.png (and diagnostics plots
with ``--diagnostics``).

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
import sys
import time
import traceback
from pathlib import Path
from typing import Any

DEFAULTS: dict[str, Any] = {
    "dataset": "digits",
    "target": None,
    "categorical": None,
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
    "out": None,  # runs/<dataset>-<model>
    "quiet": False,
    "plots": True,
    "diagnostics": False,
    "resume": False,
}
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
    g.add_argument("--categorical", type=_strs, default=S, help="CSV columns to one-hot encode (default: detect)")
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
    if isinstance(cfg["categorical"], str):
        cfg["categorical"] = _strs(cfg["categorical"])
    if cfg["lr"] is None:
        cfg["lr"] = 0.1 if cfg["optimizer"] == "sgd" else 0.01
    check_config(cfg)
    return cfg


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
    if cfg["categorical"] is not None and not (
            isinstance(cfg["categorical"], list) and all(isinstance(c, str) for c in cfg["categorical"])):
        raise bad("categorical", "a list of column names")
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
    for key in ("flip", "quiet", "plots", "diagnostics", "resume"):
        if not isinstance(cfg[key], bool):
            raise bad(key, "true or false")
    if cfg["batch_norm"] is not None and not isinstance(cfg["batch_norm"], bool):
        raise bad("batch_norm", "true or false")
    if cfg["out"] is not None and not isinstance(cfg["out"], str):
        raise bad("out", "a folder name")


# -- data and model from a configuration --------------------------------------------------------
def load_data(cfg: dict) -> Any:
    """The DataSplits for a configuration (a bundled data set name or a CSV path).

    A CSV that is missing, unreadable or malformed raises CommandError naming the file (and
    load_csv's column and line); an unknown data set name raises UsageError."""
    from chainrule.data import DataSplits, Split, StandardScaler, load_csv, load_dataset, train_val_test_split

    name = str(cfg["dataset"])
    if name.lower().endswith((".csv", ".tsv", ".txt")):
        if not cfg.get("target"):
            raise UsageError(f"a CSV data set needs --target COLUMN (the label column of {name})")
        try:
            tab = load_csv(name, target=cfg["target"], categorical=cfg.get("categorical"))
        except FileNotFoundError as e:
            raise CommandError(f"no data file {name}") from e
        except (OSError, UnicodeDecodeError) as e:  # (a UnicodeDecodeError is a ValueError that names no file)
            raise CommandError(f"cannot read {name}: {_describe(e)}") from e
        except ValueError as e:  # load_csv names the file, the column and the line
            raise CommandError(_describe(e)) from e
        try:
            Xtr, Xva, Xte, ytr, yva, yte = train_val_test_split(
                tab.X, tab.y, val_size=cfg["val_size"], test_size=cfg["test_size"], stratify=tab.y,
                seed=cfg["seed"]
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
        return DataSplits(Path(name).stem, "classification", Split(Xtr, ytr), Split(Xva, yva), Split(Xte, yte),
                          num_classes=len(tab.classes), input_shape=(tab.X.shape[1],),
                          feature_names=tab.feature_names, target_names=[str(c) for c in tab.classes], scaler=scaler)
    try:
        return load_dataset(name, val_size=cfg["val_size"], test_size=cfg["test_size"], seed=cfg["seed"])
    except ValueError as e:  # an unknown name
        raise UsageError(f"{_describe(e)} (or a .csv path)") from e
    except ImportError as e:  # the bundled data sets come with scikit-learn
        raise CommandError(_describe(e)) from e


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
def run_training(cfg: dict) -> dict:
    """Train as configured; write the outputs; return {'test': metrics, 'out': folder, 'wall_time_s': ...}."""
    import chainrule as cr
    from chainrule.data import Compose, RandomHorizontalFlip, RandomTranslate
    from chainrule.train import EarlyStopping, HistoryLogger, ModelCheckpoint, Trainer
    from chainrule.utils.data import DataLoader, Generator

    t0 = time.perf_counter()
    rank, world = _init_distributed(cfg)
    if rank:
        cfg = {**cfg, "quiet": True}  # rank 0 alone prints, draws progress bars and writes files
    cr.manual_seed(cfg["seed"])
    data = load_data(cfg)
    name = model_name(cfg, data)
    out = Path(cfg["out"] or f"runs/{data.name}-{name}")
    try:
        if rank == 0:
            out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise CommandError(f"cannot create the output folder {out}: {_describe(e)}") from e
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
    test_loader = DataLoader(data.test.dataset(), batch_size=512)

    callbacks: list = [ModelCheckpoint(out, filename="checkpoint"), HistoryLogger(out)]
    if cfg["patience"] > 0:
        callbacks.insert(0, EarlyStopping("val_loss", patience=cfg["patience"], restore_best_weights=True))
    monitors = []
    if cfg["diagnostics"]:
        from chainrule.train import ActivationMonitor, GradientMonitor

        monitors = [ActivationMonitor(model), GradientMonitor(model)]
        callbacks += monitors
    trainer = Trainer(model, make_loss(data), opt, scheduler=sched, callbacks=callbacks,
                      grad_clip=cfg["grad_clip"], verbose=0 if cfg["quiet"] else 1)
    trainer.extra = {"config": json.dumps({**cfg, "out": str(out)})}
    ckpt = out / "checkpoint.safetensors"
    if cfg["resume"]:
        if not ckpt.exists():
            raise CommandError(f"--resume but there is no checkpoint at {ckpt}")
        try:
            trainer.load_checkpoint(ckpt)
        except (OSError, ValueError) as e:  # unreadable or corrupt (cr.load raises ValueError naming the file)
            raise CommandError(f"cannot resume from {ckpt}: {_describe(e)}") from e
        except (RuntimeError, KeyError, TypeError) as e:  # a checkpoint of another model or optimiser
            raise CommandError(f"cannot resume from {ckpt}: it does not fit this run's model and options "
                               f"({type(e).__name__}: {_describe(e)})") from e
        trainer.extra = {"config": json.dumps({**cfg, "out": str(out)})}
        _say(cfg, f"resuming from {ckpt} at epoch {trainer.epoch}")
    _say(cfg, f"data: {data}\nmodel: {name}, {sum(p.numel() for p in model.parameters())} parameters; "
              f"optimizer {cfg['optimizer']} lr={cfg['lr']}, schedule {cfg['schedule']}, {cfg['epochs']} epochs")
    try:
        trainer.fit(train_loader, val_loader, epochs=cfg["epochs"])
        trainer.save_checkpoint(ckpt)  # the final model (best weights if early stopping restored them)
    except KeyboardInterrupt as e:
        # checkpoints are written atomically, so the file holds the last epoch saved in full
        if ckpt.exists():
            raise Interrupted(f"the checkpoint of the last finished epoch is in {ckpt}; "
                              "rerun with the same options and --resume to continue") from e
        raise
    test = trainer.evaluate(test_loader)
    wall = time.perf_counter() - t0
    summary = {"dataset": data.name, "model": name, "epochs": trainer.epoch, "test": test,
               "wall_time_s": round(wall, 2), "out": str(out)}
    if world > 1:
        summary["processes"] = world
    if rank:
        return summary
    trainer.history.to_csv(out / "history.csv")
    trainer.history.to_json(out / "history.json")
    (out / "metrics.json").write_text(json.dumps(summary, indent=1))
    if cfg["plots"]:
        _plots(out, trainer, data, test_loader, monitors, cfg)
    print(f"test {_fmt_metrics(test)}  ({data.test.n} examples)")
    print(f"wrote {out}/: checkpoint.safetensors, history.csv, history.json, metrics.json"
          + (", plots" if cfg["plots"] else "") + f"  [{wall:.1f} s]")
    return summary


def _plots(out: Path, trainer: Any, data: Any, test_loader: Any, monitors: list, cfg: dict) -> None:
    try:
        from chainrule import plot
        from chainrule.train.metrics import confusion_matrix

        plot.plot_history(trainer.history, out / "history.png", title=f"{data.name}")
        if data.task == "classification":
            pred = trainer.predict(test_loader)
            cm = confusion_matrix(pred, data.test.y, data.num_classes)
            plot.plot_confusion_matrix(cm, out / "confusion_matrix.png", labels=data.target_names or None,
                                       title="test set")
        for m in monitors:
            if hasattr(m, "kinds") and m.samples:
                named = {f"layer {n} ({m.kinds[n]})": v for n, v in m.samples.items()}
                plot.plot_histograms(named, out / "activations.png", title="activations (last epoch)")
            elif m.samples:
                plot.plot_histograms(m.samples, out / "gradients.png", title="gradients (last step)")
                plot.plot_series(m.history, out / "grad_norms.png", ylabel="gradient norm", logy=True)
    except ImportError as e:
        _say(cfg, f"(no plots: {e})")


def _say(cfg: dict, msg: str) -> None:
    if not cfg.get("quiet"):
        print(msg, file=sys.stderr)


def _fmt_metrics(m: dict) -> str:
    return " ".join(f"{k}={v:.4f}" for k, v in m.items())


def evaluate_checkpoint(path: str | Path, split: str = "test") -> dict:
    """Rebuild data and model from a checkpoint's recorded configuration and evaluate it on ``split``."""
    from chainrule.train import Trainer
    from chainrule.train.checkpoint import load_checkpoint
    from chainrule.train.metrics import confusion_matrix
    from chainrule.utils.data import DataLoader

    path = Path(path)
    if path.is_dir():
        raise CommandError(f"{path} is a folder; give the checkpoint file in it "
                           f"(e.g. {path / 'checkpoint.safetensors'})")
    try:
        state = load_checkpoint(path)
    except FileNotFoundError as e:
        raise CommandError(f"no checkpoint at {path}") from e
    except (OSError, ValueError) as e:  # unreadable, not safetensors, truncated, corrupt structure
        raise CommandError(f"cannot read checkpoint {path}: {_describe(e)}") from e
    extra = state.get("extra") if isinstance(state, dict) else None
    if not isinstance(extra, dict) or "config" not in extra or not isinstance(state.get("model"), dict):
        raise CommandError(f"{path} has no run configuration and model (it was not written by 'chainrule train')")
    try:
        cfg = json.loads(extra["config"])
        if not isinstance(cfg, dict):
            raise ValueError(f"a JSON {type(cfg).__name__}, not an object")
        cfg = {**DEFAULTS, **cfg}
        check_config(cfg)
    except (TypeError, ValueError) as e:  # json.JSONDecodeError is a ValueError, UsageError a SystemExit
        raise CommandError(f"{path} holds a corrupt run configuration: {_describe(e)}") from e
    except UsageError as e:
        raise CommandError(f"{path} holds a corrupt run configuration: {e.message}") from e
    try:
        data = load_data(cfg)
        model = make_model(cfg, data)
    except UsageError as e:  # the recorded options, not this command line, are at fault: status 1
        raise CommandError(f"{path}: {e.message}") from e
    try:
        model.load_state_dict(state["model"])
    except (RuntimeError, TypeError, ValueError) as e:
        raise CommandError(f"{path}: the weights do not match the model its configuration describes "
                           f"({_describe(e)})") from e
    part = data[split]
    trainer = Trainer(model, make_loss(data), make_optimizer(cfg, model.parameters()), verbose=0)
    loader = DataLoader(part.dataset(), batch_size=512)
    metrics = trainer.evaluate(loader)
    print(f"{data.name} {split} ({part.n} examples), model {model_name(cfg, data)} "
          f"after {state.get('epoch', '?')} epochs:")
    print(f"  {_fmt_metrics(metrics)}")
    if data.task == "classification":
        cm = confusion_matrix(trainer.predict(loader), part.y, data.num_classes)
        print("  confusion matrix (rows: true class, columns: predicted):")
        for row in cm:
            print("   " + " ".join(f"{v:4d}" for v in row))
    return metrics


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
        run_training(cfg)
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
        print("your own: chainrule train --dataset FILE.csv --target COLUMN")
        return 0
    parser.error(f"unknown command {ns.command!r}")
    return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
