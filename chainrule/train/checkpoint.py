"""Checkpoints: any nested training state in one safetensors file, written atomically by ``cr.save``.

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
            tensors[path] = Tensor._wrap(np.ascontiguousarray(x.data))
            return {"__tensor__": path}
        if isinstance(x, np.ndarray):
            tensors[path] = Tensor._wrap(np.ascontiguousarray(x))
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


def _hashable(k: Any) -> Any:
    return tuple(k) if isinstance(k, list) else k


def save_checkpoint(state: dict, path: str | Path) -> Path:
    """Write ``state`` (nested dicts/lists of Tensors, arrays, numbers, strings) to ``path`` atomically.

    The file is a safetensors file written by ``chainrule.save``, which writes a temporary
    file and renames it over ``path`` with ``os.replace``: a crash leaves the previous
    checkpoint intact.
    """
    from chainrule.serialization import save

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save(pack(state), path)
    return path


def load_checkpoint(path: str | Path) -> dict:
    """Read a checkpoint written by :func:`save_checkpoint`."""
    from chainrule.serialization import load

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"load_checkpoint: no checkpoint at {path}")
    return unpack(load(path))
