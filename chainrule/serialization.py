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

What ``load`` accepts is exactly what ``save`` writes, and both check it the same way:

* arrays and NumPy scalars of the dtypes in ``_DTYPES`` (bool, (u)int8-64, float16/32/64);
  a scalar's JSON value must be one ``save`` writes for its dtype (a bool for bool, an int
  in range for an integer dtype, a float the dtype holds exactly);
* at most ``MAX_DEPTH`` nested containers (lists, tuples, dicts);
* dict keys: bool, int, float, str, None, or tuples of these;
* the tags above and no others (a plain dict's keys never start with "__").

Anything else in a file is a :class:`CheckpointError` (a ``ValueError``) naming the file and
the key path; a dtype, shape or nesting depth is checked before NumPy or ``json`` acts on it.
Memory: the arrays are read once from the file (so they take no more than the file holds); a
scalar is at most 8 bytes; the structure is JSON parsed into Python objects (at most about 50
bytes per byte of file, for a file of nothing but empty dicts).
"""

from __future__ import annotations

import io
import json
import math
import os
import secrets
from collections import OrderedDict
from typing import Any, BinaryIO, NoReturn

import numpy as np

from chainrule.autograd.tensor import Tensor
from chainrule.backend.device import DeviceUnavailableError, check_device
from chainrule.backend.registry import to_host
from chainrule.torch_checkpoint import (
    add_safe_globals,
    clear_safe_globals,
    get_safe_globals,
    is_torch_zip,
    load_torch_zip,
    safe_globals,
)

try:  # POSIX: a writer locks its temporary file, so a cleaner can tell a live writer from a dead one
    import fcntl
except ImportError:  # pragma: no cover (Windows: an open file can't be removed, which is enough)
    fcntl = None  # type: ignore[assignment]

__all__ = ["CheckpointError", "MAX_DEPTH", "add_safe_globals", "clear_safe_globals", "get_safe_globals", "load", "pack",
           "safe_globals", "save", "unpack"]

FORMAT = "chainrule/1"
LEGACY_FORMATS = ("chainrule-checkpoint/1",)  # chainrule.train.checkpoint files before cr.save existed
_SCALARS = (bool, int, float, str, type(None))
# dtypes a safetensors file can hold (the safetensors.numpy mapping, without complex64)
_DTYPES = {"bool", "uint8", "int8", "uint16", "int16", "uint32", "int32", "uint64", "int64",
           "float16", "float32", "float64"}
_NP_DTYPES = frozenset(np.dtype(n) for n in _DTYPES)  # (a set lookup: dtype.name is slow Python code)
# their names in a safetensors header, with their sizes in bytes
_ST_DTYPES = {"BOOL": 1, "U8": 1, "I8": 1, "U16": 2, "I16": 2, "U32": 4, "I32": 4, "U64": 8, "I64": 8,
              "F16": 2, "F32": 4, "F64": 8}
# nested containers (lists, tuples, dicts) save writes and load reads: a real state is < 10 deep
MAX_DEPTH = 64
# deepest skeleton JSON a valid file holds: a container costs at most 3 JSON levels
# ({"__items__": [[k, v]]}), a leaf 1 ({"__tensor__": ...})
_MAX_JSON_DEPTH = 3 * MAX_DEPTH + 1
# the skeleton's tags, each with the other keys its dict may hold
_TAGS = {"__tensor__": {"ndarray", "requires_grad"}, "__scalar__": {"dtype"}, "__tuple__": set(),
         "__items__": {"odict"}}
_TAG_NAMES = frozenset(_TAGS)
_NESTED = f"nested deeper than {MAX_DEPTH} containers (the limit save keeps to)"


class CheckpointError(ValueError):
    """A file ``load`` refuses: not a safetensors file, truncated, or holding something ``save``
    never writes.  The message names the file and, inside the structure, the key path."""


def _where(keys: tuple) -> str:
    """The key path of a value as Python indexing: obj['state'][0]['exp_avg']."""
    return "obj" + "".join(f"[{k!r}]" for k in keys)


def _contiguous(a: np.ndarray) -> np.ndarray:
    """C-contiguous and little-endian, keeping 0-d arrays 0-d (np.ascontiguousarray would make them 1-d)."""
    a = np.asarray(a)
    if a.dtype.byteorder == ">":
        a = a.astype(a.dtype.newbyteorder("<"))
    return a if a.flags.c_contiguous else a.copy(order="C")


def _is_key(k: Any) -> bool:
    """A dict key save writes and load reads back equal: a JSON scalar or a tuple of keys."""
    if isinstance(k, tuple):
        return all(_is_key(v) for v in k)
    return isinstance(k, _SCALARS) and not isinstance(k, np.generic)


def _too_deep(keys: tuple) -> str:
    return f"{_where(keys)} is nested deeper than {MAX_DEPTH} containers (the limit; a cycle?)"


def pack(obj: Any) -> dict:
    """{'format', 'skeleton': JSON str, 'tensors': {name: ndarray}} for a nested state.

    Raises TypeError naming the key path of anything that is not a Tensor, NumPy array or
    scalar (of a dtype in ``_DTYPES``), dict, list, tuple, bool, int, float, str or None, and
    ValueError where containers nest deeper than ``MAX_DEPTH`` (a cycle, say)."""
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
        if a.dtype not in _NP_DTYPES:
            raise TypeError(f"save: can't store an array of dtype {a.dtype} at {_where(keys)} "
                            f"(safetensors holds bool, integer and float16/32/64 arrays)")
        name = name_for(keys)
        arrays[name] = a
        seen[id(x)] = name
        return name

    def enc(x: Any, keys: tuple) -> Any:
        if isinstance(x, Tensor):
            out: dict = {"__tensor__": store(x, to_host(x._array), keys)}  # (a copy from another device)
            if x.requires_grad:
                out["requires_grad"] = True
            return out
        if isinstance(x, np.ndarray):
            return {"__tensor__": store(x, x, keys), "ndarray": True}
        if isinstance(x, np.generic):
            if x.dtype.name not in _DTYPES:  # (longdouble, complex, str_, datetime64: load refuses them)
                raise TypeError(f"save: can't store a NumPy scalar of dtype {x.dtype} at {_where(keys)} "
                                f"(only {', '.join(sorted(_DTYPES))})")
            return {"__scalar__": x.item(), "dtype": x.dtype.name}
        if isinstance(x, (dict, tuple, list)) and len(keys) >= MAX_DEPTH:
            raise ValueError(f"save: {_too_deep(keys)}")
        if isinstance(x, dict):  # (other dict subclasses than OrderedDict come back as dicts)
            tag = {"odict": True} if isinstance(x, OrderedDict) else {}
            if not tag and all(type(k) is str and not k.startswith("__") for k in x):
                return {k: enc(v, keys + (k,)) for k, v in x.items()}
            items = []
            for k, v in x.items():
                if not _is_key(k):
                    raise TypeError(f"save: can't store a dict key of type {type(k).__name__} at {_where(keys)} "
                                    "(keys are bool, int, float, str, None or tuples of these)")
                items.append([enc(k, keys + ("key",)), enc(v, keys + (k,))])
            return {"__items__": items, **tag}
        if isinstance(x, tuple):  # (a namedtuple is stored as a tuple)
            return {"__tuple__": [enc(v, keys + (i,)) for i, v in enumerate(x)]}
        if isinstance(x, list):
            return [enc(v, keys + (i,)) for i, v in enumerate(x)]
        if isinstance(x, _SCALARS):
            return x
        if callable(getattr(x, "state_dict", None)):  # a Module, an Optimizer, a scheduler...
            raise TypeError(
                f"save: can't store the {type(x).__name__} object at {_where(keys)}: whole objects would need "
                "pickle, which chainrule never writes (loading a pickle can run any code). Save its "
                f"state_dict() instead, e.g. save({{'model': model.state_dict(), 'optimizer': opt.state_dict()}}, "
                "path), then rebuild the object and call load_state_dict(load(path)[...]) — PyTorch's "
                "weights_only way"
            )
        raise TypeError(
            f"save: can't store a value of type {type(x).__name__} at {_where(keys)}: only Tensors, NumPy arrays "
            "and scalars, dicts, lists, tuples, bool, int, float, str and None can be saved (no pickle)"
        )

    skeleton = enc(obj, ())
    return {"format": FORMAT, "skeleton": json.dumps(skeleton), "tensors": arrays}


def _scalar(value: Any, dtype: Any) -> np.generic | str:
    """The NumPy scalar {"__scalar__": value, "dtype": dtype} stands for, or why it is not one save writes.

    Checked before NumPy sees the dtype: np.dtype("V").type(2**31 - 1) alone allocates 2 GiB."""
    if not isinstance(dtype, str) or dtype not in _DTYPES:
        return f"dtype {dtype!r} is not one chainrule writes ({', '.join(sorted(_DTYPES))})"
    dt = np.dtype(dtype)
    if dt.kind == "b":
        ok = type(value) is bool
    elif dt.kind in "iu":
        ok = type(value) is int and np.iinfo(dt).min <= value <= np.iinfo(dt).max
    else:  # save writes float(x): a float the dtype holds exactly (or NaN)
        with np.errstate(over="ignore"):
            ok = type(value) is float and (math.isnan(value) or float(dt.type(value)) == value)
    if not ok:
        return f"value {value!r} is not one save writes for a {dtype} scalar"
    return dt.type(value)


def _unpack(packed: dict, source: str) -> Any:
    """:func:`unpack`, with errors that start with ``source`` (the file, or "unpack")."""
    if not isinstance(packed, dict) or packed.get("format") not in (FORMAT, *LEGACY_FORMATS):
        what = sorted(packed) if isinstance(packed, dict) else type(packed).__name__
        raise CheckpointError(f"{source}: not a {FORMAT} file (got {what})")
    tensors = packed.get("tensors") or {}
    made: dict[tuple, Any] = {}  # one object per stored array (shared references stay shared)

    def fail(keys: tuple, why: str) -> NoReturn:
        raise CheckpointError(f"{source}: {_where(keys)}: {why}")

    def tensor(x: dict, keys: tuple) -> Any:
        name, as_array, grad = x["__tensor__"], x.get("ndarray", False), x.get("requires_grad", False)
        if type(as_array) is not bool or type(grad) is not bool:
            fail(keys, f"'ndarray' and 'requires_grad' are true or false, not {as_array!r} and {grad!r}")
        if not isinstance(name, str) or name not in tensors:
            fail(keys, f"refers to a missing tensor {name!r} (corrupt file?)")
        if (name, as_array) not in made:
            t = tensors[name]
            arr = t._array if isinstance(t, Tensor) else np.asarray(t)
            if arr.dtype not in _NP_DTYPES:
                fail(keys, f"tensor {name!r} has dtype {arr.dtype}, not one chainrule writes")
            if grad and arr.dtype.kind != "f":
                fail(keys, f"tensor {name!r} of dtype {arr.dtype} can't require grad (save never writes that)")
            made[name, as_array] = arr if as_array else Tensor._wrap(arr)
            if grad:
                made[name, as_array].requires_grad_(True)
        return made[name, as_array]

    def key(x: Any, keys: tuple) -> Any:
        if isinstance(x, dict) and set(x) == {"__tuple__"} and isinstance(x["__tuple__"], list):
            if len(keys) >= MAX_DEPTH:
                fail(keys, _NESTED)
            return tuple(key(v, keys + (i,)) for i, v in enumerate(x["__tuple__"]))
        if not isinstance(x, (dict, list)):
            return x
        fail(keys, f"a dict key is a bool, int, float, str, None or a tuple of these, not {json.dumps(x)[:80]}")

    def dec(x: Any, keys: tuple) -> Any:
        if isinstance(x, dict):
            if _TAG_NAMES.isdisjoint(x):  # a plain dict (str keys; none starts with "__")
                if any(k.startswith("__") for k in x):
                    fail(keys, f"keys {sorted(x)} are not a structure save writes (an unknown tag)")
                if len(keys) >= MAX_DEPTH:
                    fail(keys, _NESTED)
                return {k: dec(v, keys + (k,)) for k, v in x.items()}
            tag, *others = _TAG_NAMES.intersection(x)
            if others or (len(x) > 1 and not x.keys() - {tag} <= _TAGS[tag]):
                fail(keys, f"keys {sorted(x)} are not a structure save writes")
            if tag == "__tensor__":
                return tensor(x, keys)
            if tag == "__scalar__":
                got = _scalar(x["__scalar__"], x.get("dtype"))
                if isinstance(got, str):
                    fail(keys, got)
                return got
            return tagged(tag, x, keys)
        if isinstance(x, list):
            if len(keys) >= MAX_DEPTH:
                fail(keys, _NESTED)
            return [dec(v, keys + (i,)) for i, v in enumerate(x)]
        return x  # (JSON gives only None, bool, int, float, str here)

    def tagged(tag: str, x: dict, keys: tuple) -> tuple | dict:
        body = x[tag]
        if not isinstance(body, list):
            fail(keys, f"{tag} holds a list, not {type(body).__name__}")
        if len(keys) >= MAX_DEPTH:
            fail(keys, _NESTED)
        if tag == "__tuple__":
            return tuple(dec(v, keys + (i,)) for i, v in enumerate(body))
        odict = x.get("odict", False)
        if type(odict) is not bool:
            fail(keys, f"'odict' is true or false, not {odict!r}")
        out = OrderedDict() if odict else {}
        for i, item in enumerate(body):
            if not isinstance(item, list) or len(item) != 2:
                fail(keys, f"__items__[{i}] is not a [key, value] pair")
            k = key(item[0], keys + ("key",))
            out[k] = dec(item[1], keys + (k,))
        return out

    skeleton = packed.get("skeleton")
    if not isinstance(skeleton, str):
        raise CheckpointError(f"{source}: the skeleton is a JSON string, not {type(skeleton).__name__}")
    return dec(_parse_json(skeleton, _MAX_JSON_DEPTH, f"{source}: the skeleton"), ())


def unpack(packed: dict) -> Any:
    """Inverse of :func:`pack` (``tensors`` may hold arrays or Tensors); a structure ``pack``
    never makes is a :class:`CheckpointError` naming its key path."""
    return _unpack(packed, "unpack")


def _json_depth(text: str) -> int:
    """How deeply ``[`` and ``{`` nest in JSON ``text``, not counting those inside string literals.

    Vectorised (NumPy, no recursion, a few bytes per character): a quote opens or closes a
    string unless it follows a backslash that an odd number of backslashes in a row ends."""
    b = np.frombuffer(text.encode("utf-8", "surrogatepass"), dtype=np.uint8)
    at = np.flatnonzero((b == ord('"')) | (b == ord("[")) | (b == ord("]")) | (b == ord("{")) | (b == ord("}")))
    c = b[at]  # only the characters that matter, with their positions `at`
    quote = c == ord('"')
    slashes = np.flatnonzero(b == ord("\\"))
    if slashes.size:
        i = np.arange(slashes.size)
        first = np.ones(slashes.size, dtype=bool)  # first backslash of a run
        first[1:] = slashes[1:] != slashes[:-1] + 1
        run = i - np.maximum.accumulate(np.where(first, i, 0))  # 0 for the first of a run, 1, 2, ...
        escaped = np.zeros(b.size + 1, dtype=bool)
        escaped[slashes[run % 2 == 0] + 1] = True  # the character after a backslash that is not itself escaped
        quote &= ~escaped[at]
    in_string = (np.cumsum(quote, dtype=np.int32 if c.size < 2**31 else np.int64) & 1).astype(bool)
    step = ((c == ord("[")) | (c == ord("{"))).astype(np.int8)
    step -= (c == ord("]")) | (c == ord("}"))
    step[in_string] = 0
    return int(np.cumsum(step, dtype=np.int64).max(initial=0))


def _parse_json(text: str, max_depth: int, what: str) -> Any:
    """json.loads(text), refusing nesting deeper than ``max_depth`` before parsing it, so that
    json's recursive parser never gets deep enough to raise RecursionError (50,000 nested
    lists would)."""
    if _json_depth(text) > max_depth:
        raise CheckpointError(f"{what} is nested deeper than {max_depth} levels")
    try:
        return json.loads(text)
    except ValueError as e:  # (JSONDecodeError, or an integer of more than sys.get_int_max_str_digits())
        raise CheckpointError(f"{what} is not valid JSON ({e})") from None


def _writer_gone(pid: int) -> bool:
    """Whether process ``pid`` (the writer named in a temporary file's name) is surely gone."""
    if pid == os.getpid():
        return False  # (another thread of this process may be writing)
    if os.name != "posix":
        return True  # (no os.kill(pid, 0) there: it would terminate the process; removing an open file fails)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # it exists (another user's), or we can't tell
        return False
    return False


def _remove_stale_temporaries(folder: str, base: str) -> None:
    """Remove ``.<base>.tmp-<pid>-<random>`` files that interrupted saves to ``base`` left behind.

    A temporary file is stale when its writer is gone: its process has exited and (POSIX) no
    one holds the lock the writer takes, which also covers a process id seen from another PID
    namespace (a container sharing the folder)."""
    prefix = f".{base}.tmp-"
    try:
        names = [n for n in os.listdir(folder) if n.startswith(prefix)]
    except OSError:
        return
    for name in names:
        pid = name[len(prefix):].split("-", 1)[0]
        if not pid.isdigit() or not _writer_gone(int(pid)):
            continue
        path = os.path.join(folder, name)
        try:
            if fcntl is None:
                os.unlink(path)
                continue
            with open(path, "rb") as fh:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)  # fails while a writer holds it
                os.unlink(path)
        except OSError:
            continue


def _write_atomically(path: str, blob: bytes) -> None:
    """Write ``blob`` to ``path`` through a temporary file in the same folder and ``os.replace``.

    The temporary file is ``.<name>.tmp-<pid>-<random>``, created like ``open(path, "wb")``
    would (mode 0o666 less the umask, so 0o644 by default), locked while written, flushed and
    fsync'ed before the rename.  Stale temporary files of earlier, interrupted saves to the same
    path are removed first."""
    folder, base = os.path.split(os.path.abspath(path))
    _remove_stale_temporaries(folder, base)
    tmp = os.path.join(folder, f".{base}.tmp-{os.getpid()}-{secrets.token_hex(6)}")
    # The name is chosen before the file exists and os.open runs inside the try, so that a Ctrl-C
    # landing just after the file is created (Python checks for signals after each system call)
    # still removes it here; the writer's own pid would keep the next save from removing it.
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
        with os.fdopen(fd, "wb") as out:
            if fcntl is not None:
                fcntl.flock(out.fileno(), fcntl.LOCK_EX)
            out.write(blob)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        # (FileExistsError: another writer's file by that random name, not ours to remove)
        if not isinstance(e, FileExistsError) and os.path.exists(tmp):
            os.unlink(tmp)
        raise


def save(obj: Any, f: str | os.PathLike | BinaryIO, pickle_module: Any = None, pickle_protocol: int = 2,
         _use_new_zipfile_serialization: bool = True, _disable_byteorder_record: bool = False) -> None:
    """Write ``obj`` (nested dicts/lists/tuples of Tensors, arrays, numbers, strings, None) to ``f``.

    ``torch.save``'s signature; the pickle arguments are accepted and unused (nothing is pickled).
    A Module, an optimiser or another object with a ``state_dict()`` is refused with a TypeError
    that says to save its ``state_dict()`` instead (see docs/how-to/porting.md).

    ``f`` is a path or a binary file object.  A path is written atomically: the bytes go to a
    temporary file in the same folder, are flushed and fsync'ed, and only then renamed over
    ``f`` with ``os.replace`` — a crash at any point leaves the old file or the new one, never
    a half-written file; the next save to ``f`` removes a temporary file a crash left behind.
    The file gets the mode ``open()`` would give it (0o644 under the usual umask).

    Raises TypeError / ValueError (naming the key path) for what :func:`load` would refuse:
    see :func:`pack`."""
    from safetensors.numpy import save as st_save

    packed = pack(obj)
    blob = st_save(packed["tensors"], metadata={"format": packed["format"], "skeleton": packed["skeleton"]})
    if isinstance(f, (str, os.PathLike)):
        _write_atomically(os.fspath(f), blob)
    else:
        f.write(blob)


def _header(fh: BinaryIO, size: int, where: str) -> dict:
    """The JSON header of a safetensors file (8-byte little-endian length, then the JSON), read from ``fh``.

    Checked as safetensors defines it (a JSON object of {"dtype", "shape", "data_offsets"} entries
    and "__metadata__"), with the tensors' dtypes limited to those chainrule writes."""
    if size < 8:
        raise CheckpointError(f"load: {where} is not a safetensors file (only {size} bytes)")
    n = int.from_bytes(fh.read(8), "little")
    if n > size - 8 or n < 2:
        raise CheckpointError(f"load: {where} is not a safetensors file, or is truncated (header length {n}, "
                              f"file size {size} bytes)")
    try:
        header = json.loads(fh.read(n).decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise CheckpointError(f"load: {where} is not a safetensors file (its header is not JSON: {e})") from None
    except RecursionError:  # (a valid header is 3 levels deep, so only a hostile one gets here)
        raise CheckpointError(f"load: {where} is not a safetensors file (its header is nested too deeply)") from None
    if not isinstance(header, dict):
        raise CheckpointError(f"load: {where} is not a safetensors file (its header is not a JSON object)")
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        dtype = entry.get("dtype") if isinstance(entry, dict) else None
        if not isinstance(dtype, str) or dtype not in _ST_DTYPES:
            raise CheckpointError(f"load: {where}: tensor {name!r} has dtype {dtype!r}, not one chainrule "
                                  f"reads ({', '.join(sorted(_ST_DTYPES))})")
        # safetensors checks that a shape's bytes are the bytes the file holds, which bounds every
        # shape but a zero-size one: NumPy refuses [0, 2**62, 2**62] ("array is too big"); say which
        shape = entry.get("shape")
        if isinstance(shape, list) and 0 in shape and (
                len(shape) > 64 or not all(type(d) is int and d >= 0 for d in shape)
                or math.prod(max(d, 1) for d in shape) * _ST_DTYPES[dtype] >= 2**63):
            raise CheckpointError(f"load: {where}: tensor {name!r} has shape {shape!r}, not one NumPy can hold")
    return header


class MapLocationError(DeviceUnavailableError, ValueError):
    """``load(map_location=<not the CPU>)``: a RuntimeError as PyTorch's CPU-only build raises (see
    ``DeviceUnavailableError``), and a ValueError, what ``load`` raised before it followed PyTorch."""


def _check_map_location(target: Any) -> None:
    """A map_location target other than the CPU raises as PyTorch's CPU-only build does."""
    try:
        check_device(target, "load()")
    except DeviceUnavailableError as e:
        raise MapLocationError(
            f"load: map_location={target!r}: Attempting to deserialize object on a {str(target).split(':')[0].upper()} "
            "device but it is not available (chainrule computes on the CPU only). Use "
            "map_location=torch.device('cpu') (or leave map_location out)."
        ) from e


def _refuse_pickle(head: bytes, where: str) -> None:
    """A bare pickle (PyTorch's format before 1.6, or any pickle) gets a message saying so and how
    to convert it.  ``head``: the file's first 9 bytes; a safetensors file has its JSON header's
    '{' at byte 8 (after the header's length), which a zip or pickle file never has there."""
    if head[8:9] != b"{" and head[:1] == b"\x80":
        raise CheckpointError(
            f"load: {where} is not a safetensors file: it is a bare pickle (PyTorch's format before 1.6), "
            "which chainrule does not read: unpickling it could run any code. Save it again with a recent "
            "torch.save (a zip archive, which chainrule reads as weights_only=True does), or convert it where "
            "PyTorch is installed: safetensors.torch.save_file(torch.load(path, weights_only=True), "
            "'model.safetensors')"
        )


def load(f: str | os.PathLike | BinaryIO, map_location: Any = None, pickle_module: Any = None, *,
         weights_only: bool | None = None, mmap: bool | None = None, **pickle_load_args: Any) -> Any:
    """Read what :func:`save` wrote; arrays come back bit for bit, Tensors as Tensors.

    ``torch.load``'s signature.  A plain safetensors file (from another tool) loads as
    {name: Tensor}.  A checkpoint written by ``torch.save`` (its zip archive, PyTorch 1.6 and
    later) loads as PyTorch's ``weights_only=True`` loads it: tensors, Parameters, plain
    containers and values, nothing else (``chainrule/torch_checkpoint.py``).  Loading never runs
    code from the file, so ``weights_only`` (True, None or False) changes nothing, and
    ``weights_only=False`` does not open a general pickle path (a bare pickle, PyTorch's format
    before 1.6, is refused with a message saying how to convert it).  ``map_location`` may be None, a CPU device ('cpu',
    ``device('cpu')``), a dict or a callable (every array is already on the CPU, so they are not
    called); a non-CPU device raises as PyTorch's CPU-only build does.  ``mmap`` and the pickle
    arguments are accepted and unused; an explicit ``pickle_module`` is a TypeError.

    A file that is not what ``save`` writes (see the module docstring) raises one exception,
    :class:`CheckpointError` (a ``ValueError``), naming the file and the key path; nothing is
    allocated from a size the file claims, so memory stays bounded by the file's size."""
    if pickle_module is not None:
        raise TypeError(
            f"load: pickle_module={getattr(pickle_module, '__name__', pickle_module)!r}: chainrule files hold no "
            "pickle (they are safetensors files), so there is nothing for a pickle module to read"
        )
    if isinstance(map_location, dict):
        targets = list(map_location.values())
    elif map_location is None or callable(map_location):
        targets = []
    else:
        targets = [map_location]
    for target in targets:
        _check_map_location(target)
    from safetensors import safe_open
    from safetensors.numpy import load as st_load

    if isinstance(f, (str, os.PathLike)):
        where = repr(os.fspath(f))
    else:
        where = f"the file object {f.name!r}" if isinstance(getattr(f, "name", None), str) else "the file object"
    try:
        if isinstance(f, (str, os.PathLike)):  # the tensors are read straight from the file (no second copy in memory)
            if not os.path.exists(f):
                raise FileNotFoundError(f"load: no such file: {os.fspath(f)!r}")
            with open(f, "rb") as fh:
                head = fh.read(9)
                _refuse_pickle(head, where)
                fh.seek(0)
                if is_torch_zip(head):  # torch.save's zip archive: read as weights_only=True reads it
                    return load_torch_zip(fh, where)
                header = _header(fh, os.fstat(fh.fileno()).st_size, where)
            with safe_open(os.fspath(f), framework="np") as sf:
                arrays = {k: sf.get_tensor(k) for k in sf.keys()}
        else:
            data = f.read()
            _refuse_pickle(data[:9], where)
            if is_torch_zip(data[:9]):
                return load_torch_zip(io.BytesIO(data), where)
            header = _header(io.BytesIO(data), len(data), where)
            arrays = st_load(data)
    except (OSError, MemoryError, CheckpointError):
        raise
    except Exception as e:  # safetensors raises its own SafetensorError, NumPy ValueError ("array is too big")
        raise CheckpointError(f"load: {where} is not a valid safetensors file ({type(e).__name__}: {e})") from None
    meta = header.get("__metadata__") or {}
    fmt = meta.get("format") if isinstance(meta, dict) else None
    if fmt is None or "skeleton" not in meta:
        return {k: Tensor._wrap(v) for k, v in arrays.items()}
    if fmt not in (FORMAT, *LEGACY_FORMATS):
        raise CheckpointError(f"load: {where} has format {fmt!r}; this version reads {FORMAT!r}")
    return _unpack({"format": fmt, "skeleton": meta["skeleton"], "tensors": arrays}, f"load: {where}")
