"""``save`` / ``load``: nested state (state dicts, optimiser states, ...) in one safetensors file.

Why not pickle (what ``torch.save`` writes)?  Unpickling runs code named in the
file, so loading an untrusted checkpoint can run anything.  A safetensors file
is a JSON header plus raw array bytes: loading it only parses JSON and copies
bytes, never executes code.

Layout of a file written by :func:`save`:

* every array (Tensor or NumPy array) is a safetensors tensor named by the keys leading
  to it ("fc.weight", "state/0/exp_avg"; a suffix "~n" keeps names unique);
* the header's metadata holds ``format`` ("chainrule/1") and ``skeleton``: the structure as
  JSON with each array replaced by {"__tensor__": name} and tags where JSON alone would
  lose the type: {"__tuple__": [...]}, {"__items__": [[key, value], ...]} for dicts whose keys
  are not all plain strings (int keys of an optimiser's state), "odict" for an OrderedDict,
  "ndarray" (a NumPy array rather than a Tensor), "requires_grad", {"__scalar__", "dtype"}
  for NumPy scalars.

Arrays keep their dtype and bits exactly (float32 stays float32, 0-d stays 0-d).
``pack`` / ``unpack`` do the split and the reassembly without a file.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
from collections import OrderedDict
from typing import Any, BinaryIO

import numpy as np

from chainrule.autograd.tensor import Tensor

__all__ = ["load", "pack", "save", "unpack"]

FORMAT = "chainrule/1"
LEGACY_FORMATS = ("chainrule-checkpoint/1",)  # chainrule.train.checkpoint files before cr.save existed
_SCALARS = (bool, int, float, str, type(None))
# dtypes a safetensors file can hold (the safetensors.numpy mapping)
_DTYPES = {"bool", "uint8", "int8", "uint16", "int16", "uint32", "int32", "uint64", "int64",
           "float16", "float32", "float64"}


def _where(keys: tuple) -> str:
    """The key path of a value as Python indexing: obj['state'][0]['exp_avg']."""
    return "obj" + "".join(f"[{k!r}]" for k in keys)


def _contiguous(a: np.ndarray) -> np.ndarray:
    """C-contiguous and little-endian, keeping 0-d arrays 0-d (np.ascontiguousarray would make them 1-d)."""
    a = np.asarray(a)
    if a.dtype.byteorder == ">":
        a = a.astype(a.dtype.newbyteorder("<"))
    return a if a.flags.c_contiguous else a.copy(order="C")


def pack(obj: Any) -> dict:
    """{'format', 'skeleton': JSON str, 'tensors': {name: ndarray}} for a nested state.

    Raises TypeError naming the key path of anything that is not a Tensor, NumPy array or
    scalar, dict, list, tuple, bool, int, float, str or None."""
    arrays: dict[str, np.ndarray] = {}
    seen: dict[int, str] = {}  # id(array object) -> name: a Tensor stored twice is written once

    def name_for(keys: tuple) -> str:
        base = "/".join(str(k) for k in keys) or "tensor"
        name, n = base, 1
        while name in arrays:
            name, n = f"{base}~{n}", n + 1
        return name

    def store(x: Any, a: np.ndarray, keys: tuple) -> str:
        if id(x) in seen:
            return seen[id(x)]
        a = _contiguous(a)
        if a.dtype.name not in _DTYPES:
            raise TypeError(f"save: can't store an array of dtype {a.dtype} at {_where(keys)} "
                            f"(safetensors holds bool, integer and float16/32/64 arrays)")
        name = name_for(keys)
        arrays[name] = a
        seen[id(x)] = name
        return name

    def enc(x: Any, keys: tuple) -> Any:
        if isinstance(x, Tensor):
            out: dict = {"__tensor__": store(x, x.data, keys)}
            if x.requires_grad:
                out["requires_grad"] = True
            return out
        if isinstance(x, np.ndarray):
            return {"__tensor__": store(x, x, keys), "ndarray": True}
        if isinstance(x, np.generic):
            if x.dtype.kind not in "biuf":
                raise TypeError(f"save: can't store a NumPy scalar of dtype {x.dtype} at {_where(keys)}")
            return {"__scalar__": x.item(), "dtype": x.dtype.name}
        if isinstance(x, dict):  # (other dict subclasses than OrderedDict come back as dicts)
            tag = {"odict": True} if isinstance(x, OrderedDict) else {}
            if not tag and all(type(k) is str and not k.startswith("__") for k in x):
                return {k: enc(v, keys + (k,)) for k, v in x.items()}
            items = []
            for k, v in x.items():
                if not isinstance(k, (*_SCALARS, tuple)) or isinstance(k, np.generic):
                    raise TypeError(f"save: can't store a dict key of type {type(k).__name__} at {_where(keys)}")
                items.append([enc(k, keys + ("key",)), enc(v, keys + (k,))])
            return {"__items__": items, **tag}
        if isinstance(x, tuple):  # (a namedtuple is stored as a tuple)
            return {"__tuple__": [enc(v, keys + (i,)) for i, v in enumerate(x)]}
        if isinstance(x, list):
            return [enc(v, keys + (i,)) for i, v in enumerate(x)]
        if isinstance(x, _SCALARS):
            return x
        raise TypeError(
            f"save: can't store a value of type {type(x).__name__} at {_where(keys)}: only Tensors, NumPy arrays "
            "and scalars, dicts, lists, tuples, bool, int, float, str and None can be saved (no pickle)"
        )

    skeleton = enc(obj, ())
    return {"format": FORMAT, "skeleton": json.dumps(skeleton), "tensors": arrays}


def unpack(packed: dict) -> Any:
    """Inverse of :func:`pack` (``tensors`` may hold arrays or Tensors)."""
    if not isinstance(packed, dict) or packed.get("format") not in (FORMAT, *LEGACY_FORMATS):
        what = sorted(packed) if isinstance(packed, dict) else type(packed).__name__
        raise ValueError(f"load: not a {FORMAT} file (got {what})")
    tensors = packed.get("tensors") or {}
    made: dict[tuple, Any] = {}  # one object per stored array (shared references stay shared)

    def dec(x: Any) -> Any:
        if isinstance(x, list):
            return [dec(v) for v in x]
        if not isinstance(x, dict):
            return x
        if "__tensor__" in x:
            name = x["__tensor__"]
            if name not in tensors:
                raise ValueError(f"load: the file's structure refers to a missing tensor {name!r} (corrupt file?)")
            key = (name, bool(x.get("ndarray")))
            if key not in made:
                t = tensors[name]
                arr = t.data if isinstance(t, Tensor) else np.asarray(t)
                if x.get("ndarray"):
                    made[key] = arr
                else:
                    made[key] = Tensor._wrap(arr)
                    if x.get("requires_grad"):
                        made[key].requires_grad_(True)
            return made[key]
        if "__scalar__" in x:
            return np.dtype(x["dtype"]).type(x["__scalar__"])
        if "__tuple__" in x:
            return tuple(dec(v) for v in x["__tuple__"])
        if "__items__" in x:
            kind = OrderedDict if x.get("odict") else dict
            return kind((dec(k), dec(v)) for k, v in x["__items__"])
        return {k: dec(v) for k, v in x.items()}

    return dec(json.loads(packed["skeleton"]))


def save(obj: Any, f: str | os.PathLike | BinaryIO) -> None:
    """Write ``obj`` (nested dicts/lists/tuples of Tensors, arrays, numbers, strings, None) to ``f``.

    ``f`` is a path or a binary file object.  A path is written atomically: the bytes go to a
    temporary file in the same folder, are flushed and fsync'ed, and only then renamed over
    ``f`` with ``os.replace`` — a crash at any point leaves the old file or the new one, never
    a half-written file."""
    from safetensors.numpy import save as st_save

    packed = pack(obj)
    blob = st_save(packed["tensors"], metadata={"format": packed["format"], "skeleton": packed["skeleton"]})
    if not isinstance(f, (str, os.PathLike)):  # a file object
        f.write(blob)
        return
    path = os.fspath(f)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(blob)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _header(fh: BinaryIO, size: int, where: str) -> dict:
    """The JSON header of a safetensors file (8-byte little-endian length, then the JSON), read from ``fh``."""
    if size < 8:
        raise ValueError(f"load: {where} is not a safetensors file (only {size} bytes)")
    n = int.from_bytes(fh.read(8), "little")
    if n > size - 8 or n < 2:
        raise ValueError(f"load: {where} is not a safetensors file, or is truncated (header length {n}, "
                         f"file size {size} bytes)")
    try:
        header = json.loads(fh.read(n).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"load: {where} is not a safetensors file (its header is not JSON: {e})") from None
    if not isinstance(header, dict):
        raise ValueError(f"load: {where} is not a safetensors file (its header is not a JSON object)")
    return header


def load(f: str | os.PathLike | BinaryIO, map_location: Any = None, weights_only: bool = True) -> Any:
    """Read what :func:`save` wrote; arrays come back bit for bit, Tensors as Tensors.

    A plain safetensors file (from another tool) loads as {name: Tensor}.  Loading never
    runs code from the file, whatever ``weights_only`` says (it is accepted for PyTorch
    compatibility; there is no pickle path).  ``map_location`` may be None or 'cpu' (the
    only device)."""
    if map_location is not None and str(map_location) != "cpu" and not callable(map_location) \
            and not isinstance(map_location, dict):
        raise ValueError(f"load: map_location={map_location!r}: chainrule arrays live on the CPU only")
    from safetensors import safe_open
    from safetensors.numpy import load as st_load

    where = repr(os.fspath(f)) if isinstance(f, (str, os.PathLike)) else "the file object"
    try:
        if isinstance(f, (str, os.PathLike)):  # the tensors are read straight from the file (no second copy in memory)
            if not os.path.exists(f):
                raise FileNotFoundError(f"load: no such file: {os.fspath(f)!r}")
            with open(f, "rb") as fh:
                meta = _header(fh, os.path.getsize(f), where).get("__metadata__") or {}
            with safe_open(os.fspath(f), framework="np") as sf:
                arrays = {k: sf.get_tensor(k) for k in sf.keys()}
        else:
            data = f.read()
            meta = _header(io.BytesIO(data), len(data), where).get("__metadata__") or {}
            arrays = st_load(data)
    except (OSError, ValueError):
        raise
    except Exception as e:  # safetensors raises its own SafetensorError for malformed files
        raise ValueError(f"load: {where} is not a valid safetensors file ({type(e).__name__}: {e})") from None
    fmt = meta.get("format")
    if fmt is None or "skeleton" not in meta:
        return {k: Tensor._wrap(v) for k, v in arrays.items()}
    if fmt not in (FORMAT, *LEGACY_FORMATS):
        raise ValueError(f"load: {where} has format {fmt!r}; this version reads {FORMAT!r}")
    try:
        return unpack({"format": fmt, "skeleton": meta["skeleton"], "tensors": arrays})
    except json.JSONDecodeError as e:
        raise ValueError(f"load: {where} has a corrupt structure (skeleton is not JSON: {e})") from None
