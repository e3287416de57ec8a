"""Checkpoints: any nested training state in one safetensors file, written atomically.

The general machinery lives in :mod:`chainrule.serialization` (``cr.save`` /
``cr.load``): a training state mixes arrays (weights, optimiser moments) with
structure that safetensors cannot hold directly (lists of parameter groups,
integer keys, tuples such as Adam's betas, 128-bit random-generator states);
``pack`` splits it into the arrays and a JSON skeleton, ``unpack`` puts it back
together exactly (dtypes and values bit for bit).  This module adds the
checkpoint conveniences: the folder is created, the path is returned, and a
missing file is a clear error.  Files written before ``cr.save`` existed
(format "chainrule-checkpoint/1") still load.
"""

from __future__ import annotations

from pathlib import Path

from chainrule.serialization import FORMAT, load, pack, save, unpack

__all__ = ["FORMAT", "load_checkpoint", "pack", "save_checkpoint", "unpack"]


def save_checkpoint(state: dict, path: str | Path) -> Path:
    """Write ``state`` (nested dicts/lists of Tensors, arrays, numbers, strings) to ``path`` atomically.

    ``cr.save`` with the folder created and the path returned (format and atomic write:
    :func:`chainrule.serialization.save`).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save(state, path)
    return path


def load_checkpoint(path: str | Path) -> dict:
    """Read a checkpoint written by :func:`save_checkpoint` (or ``cr.save``)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"load_checkpoint: no checkpoint at {path}")
    return load(path)
