"""Checkpoints: any nested training state in one safetensors file, written atomically.

A training state mixes arrays (weights, optimiser moments) with structure that
safetensors cannot hold directly (lists of parameter groups, integer keys,
tuples such as Adam's betas, 128-bit random-generator states).  ``pack`` splits
it into

* ``tensors``: {path: Tensor} for every array, path = the keys leading to it ("model/fc1.weight");
* ``skeleton``: a JSON string of the structure with each array replaced by {"__tensor__": path};

and ``unpack`` puts it back together exactly (dtypes and values bit for bit).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from chainrule.autograd.tensor import Tensor

FORMAT = "chainrule-checkpoint/1"


def pack(obj: Any) -> dict:
    """{'format', 'skeleton': JSON str, 'tensors': {path: Tensor}} for a nested state."""
    tensors: dict[str, Tensor] = {}

    def enc(x: Any, path: str) -> Any:
        if isinstance(x, Tensor):
            tensors[path] = Tensor._wrap(_contiguous(x.data))
            return {"__tensor__": path}
        if isinstance(x, np.ndarray):
            tensors[path] = Tensor._wrap(_contiguous(x))
            return {"__tensor__": path, "ndarray": True}
        if isinstance(x, np.generic):
            return {"__scalar__": x.item(), "dtype": str(x.dtype)}
        if isinstance(x, dict):
            if all(isinstance(k, str) and not k.startswith("__") for k in x):
                return {k: enc(v, f"{path}/{k}") for k, v in x.items()}
            items = [[enc(k, f"{path}/key{i}"), enc(v, f"{path}/{i}")] for i, (k, v) in enumerate(x.items())]
            return {"__items__": items}
        if isinstance(x, tuple):
            return {"__tuple__": [enc(v, f"{path}/{i}") for i, v in enumerate(x)]}
        if isinstance(x, list):
            return [enc(v, f"{path}/{i}") for i, v in enumerate(x)]
        if x is None or isinstance(x, (bool, int, float, str)):
            return x
        raise TypeError(f"checkpoint: can't store a value of type {type(x).__name__} at {path or '/'}")

    skeleton = enc(obj, "")
    return {"format": FORMAT, "skeleton": json.dumps(skeleton), "tensors": tensors}


def unpack(packed: dict) -> Any:
    """Inverse of :func:`pack`."""
    if not isinstance(packed, dict) or packed.get("format") != FORMAT:
        what = sorted(packed) if isinstance(packed, dict) else type(packed).__name__
        raise ValueError(f"checkpoint: not a {FORMAT} checkpoint (got {what})")
    tensors = packed.get("tensors", {}) or {}

    def dec(x: Any) -> Any:
        if isinstance(x, list):
            return [dec(v) for v in x]
        if not isinstance(x, dict):
            return x
        if "__tensor__" in x:
            t = tensors[x["__tensor__"]]
            arr = t.data if isinstance(t, Tensor) else np.asarray(t)
            return arr if x.get("ndarray") else Tensor._wrap(arr)
        if "__scalar__" in x:
            return np.dtype(x["dtype"]).type(x["__scalar__"])
        if "__tuple__" in x:
            return tuple(dec(v) for v in x["__tuple__"])
        if "__items__" in x:
            return {_hashable(dec(k)): dec(v) for k, v in x["__items__"]}
        return {k: dec(v) for k, v in x.items()}

    return dec(json.loads(packed["skeleton"]))


def _contiguous(a: np.ndarray) -> np.ndarray:
    """C-contiguous, keeping 0-d arrays 0-d (np.ascontiguousarray would make them 1-d)."""
    a = np.asarray(a)
    return a if a.flags.c_contiguous else a.copy(order="C")


def _hashable(k: Any) -> Any:
    return tuple(k) if isinstance(k, list) else k


def _safetensors() -> tuple:
    try:
        from safetensors import safe_open
        from safetensors.numpy import save
    except ImportError as e:
        raise ImportError("checkpoints are safetensors files: pip install safetensors") from e
    return save, safe_open


def save_checkpoint(state: dict, path: str | Path) -> Path:
    """Write ``state`` (nested dicts/lists of Tensors, arrays, numbers, strings) to ``path`` atomically.

    The file is a standard safetensors file: every array is a tensor named by its path, and
    the structure is the JSON string ``skeleton`` in the header's metadata.  Atomic: the bytes
    go to a temporary file in the same folder, are flushed to disk (fsync), and only then
    renamed over ``path`` with ``os.replace`` — a crash at any point leaves either the old
    checkpoint or the new one, never a half-written file.
    """
    save, _ = _safetensors()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    packed = pack(state)
    arrays = {k: t.data for k, t in packed["tensors"].items()}
    blob = save(arrays, metadata={"format": packed["format"], "skeleton": packed["skeleton"]})
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(blob)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def load_checkpoint(path: str | Path) -> dict:
    """Read a checkpoint written by :func:`save_checkpoint`."""
    _, safe_open = _safetensors()
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"load_checkpoint: no checkpoint at {path}")
    with safe_open(str(path), framework="np") as f:
        meta = f.metadata() or {}
        tensors = {k: Tensor._wrap(f.get_tensor(k)) for k in f.keys()}
    if meta.get("format") != FORMAT:
        raise ValueError(f"load_checkpoint: {path} is a safetensors file but not a {FORMAT} checkpoint")
    return unpack({"format": meta["format"], "skeleton": meta["skeleton"], "tensors": tensors})
