"""Reading PyTorch's checkpoints (``torch.save``'s zip archive) without running code from them.

A ``.pt`` file written by ``torch.save`` (PyTorch 1.6 and later) is a zip archive holding
``data.pkl``, a pickle of the saved object in which every tensor refers to a *storage*, and one
member ``data/<key>`` per storage with its raw bytes.  Unpickling can run any code the file
names, so this reader is what PyTorch's ``weights_only=True`` is: an unpickler whose
``find_class`` knows only the names a checkpoint of tensors needs, each mapped to chainrule's
own function or class, never an import:

* containers and plain values: ``collections.OrderedDict``, the builtins ``set``, ``frozenset``,
  ``slice``, ``complex``, ``_codecs.encode`` (bytes in pickle protocol 2);
* tensors: ``torch._utils._rebuild_tensor_v2`` / ``_rebuild_tensor`` (a strided view of a
  storage), ``_rebuild_parameter`` / ``_rebuild_parameter_with_state`` and
  ``torch._tensor._rebuild_from_type_v2`` (a Parameter), the storage classes
  (``torch.FloatStorage`` ...), ``torch.Size``, ``torch.device``, the dtypes (``torch.float32``);
* NumPy scalars and arrays of plain dtypes (``numpy.core.multiarray.scalar``, ``_reconstruct``,
  ``numpy.dtype``, ``numpy.ndarray``), which training scripts put beside their tensors.

Any other name is a :class:`~chainrule.serialization.CheckpointError` naming it.  Memory stays
bounded by the file: members must be stored uncompressed (as ``torch.save`` writes them), a
storage's bytes are what its member holds, and a tensor's view must lie inside its storage and
hold no more elements than it (a broadcast view, stride 0, is refused).  A storage is read
into memory once; a C-contiguous tensor is a view of it (tensors saved on one storage share it
again, as under PyTorch), any other layout a copy.  ``bfloat16`` storages load as float32
(exactly: bfloat16 is float32's upper half); chainrule computes with NumPy, which has no
bfloat16.  The legacy format of PyTorch before 1.6 (a bare pickle followed by storages) is not
read.
"""

from __future__ import annotations

import codecs
import io
import math
import pickle
import pickletools
import warnings
import zipfile
from collections import OrderedDict
from typing import Any, BinaryIO, NoReturn

import numpy as np

from chainrule.autograd.size import Size
from chainrule.autograd.tensor import Tensor
from chainrule.backend import numpy_backend
from chainrule.backend.device import device as _device

# torch's storage classes and dtype names -> NumPy dtypes ("bfloat16": read as float32, see above)
_STORAGES = {"FloatStorage": "float32", "DoubleStorage": "float64", "HalfStorage": "float16",
             "BFloat16Storage": "bfloat16", "LongStorage": "int64", "IntStorage": "int32", "ShortStorage": "int16",
             "CharStorage": "int8", "ByteStorage": "uint8", "BoolStorage": "bool"}
_DTYPE_NAMES = {"float32": "float32", "float64": "float64", "float16": "float16", "bfloat16": "bfloat16",
                "int64": "int64", "int32": "int32", "int16": "int16", "int8": "int8", "uint8": "uint8", "bool": "bool",
                "float": "float32", "double": "float64", "half": "float16", "long": "int64", "int": "int32",
                "short": "int16"}


class _StorageType:
    """What the pickle names for a storage's element type (``torch.FloatStorage``)."""

    def __init__(self, dtype: str) -> None:
        self.dtype = dtype


class _Storage:
    """One storage's elements, read from its member of the archive (float32 for bfloat16)."""

    def __init__(self, array: np.ndarray) -> None:
        self.array = array


def _fail(where: str, what: str) -> NoReturn:
    from chainrule.serialization import CheckpointError

    raise CheckpointError(f"load: {where} (a PyTorch checkpoint): {what}")


def _dtype_of(name: str) -> Any:
    """chainrule's dtype for torch's dtype ``name`` (``torch.float`` is float32, as in PyTorch)."""
    canonical = _DTYPE_NAMES[name]
    return numpy_backend.bfloat16 if canonical == "bfloat16" else np.dtype(canonical)


def _check_view(where: str, storage: _Storage, offset: int, size: tuple, stride: tuple) -> None:
    n = storage.array.size
    if not (isinstance(offset, int) and all(isinstance(v, int) for v in (*size, *stride))):
        _fail(where, f"a tensor's offset, size and stride must be ints, got {offset!r}, {size!r}, {stride!r}")
    if len(size) != len(stride) or offset < 0 or any(s < 0 for s in size) or any(s < 0 for s in stride):
        _fail(where, f"a tensor has an invalid layout (offset {offset}, size {size}, stride {stride})")
    count = int(np.prod(size, dtype=np.int64)) if size else 1
    if count == 0:
        return
    last = offset + sum((s - 1) * st for s, st in zip(size, stride))
    if last >= n or count > n:
        _fail(where, f"a tensor of size {size} (stride {stride}, offset {offset}) does not lie within its "
                     f"storage of {n} elements")


class _Unpickler(pickle.Unpickler):
    """The restricted unpickler (see the module docstring)."""

    def __init__(self, data: bytes, archive: zipfile.ZipFile, prefix: str, byteorder: str, where: str) -> None:
        super().__init__(io.BytesIO(data))
        self.archive, self.prefix, self.byteorder, self.where = archive, prefix, byteorder, where
        self.storages: dict[str, _Storage] = {}

    def find_class(self, module: str, name: str) -> Any:
        module = {"__builtin__": "builtins"}.get(module, module)  # (pickle protocol 2's Python 2 name)
        trusted = _SAFE_GLOBALS.get(f"{module}.{name}")
        if trusted is not None:  # (the program named it: add_safe_globals)
            return trusted
        if (module, name) in _REBUILD_TENSOR:
            return self.rebuild_tensor
        if (module, name) == ("torch.nn.parameter", "Parameter"):
            from chainrule.nn.parameter import Parameter

            return Parameter
        found = _ALLOWED.get((module, name))
        if found is not None:
            return found
        if module == "torch" and name in _STORAGES:
            return _StorageType(_STORAGES[name])
        if module == "torch" and name in _DTYPE_NAMES:
            return _dtype_of(name)
        _fail(self.where, f"it names {module}.{name}, which a checkpoint of tensors and plain values does not need; "
                          "chainrule never runs code from a file (as PyTorch's weights_only=True)")

    def persistent_load(self, pid: Any) -> _Storage:
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage" and isinstance(pid[1], _StorageType)):
            _fail(self.where, f"unknown persistent id {pid!r:.80}")
        _, kind, key, _location, numel = pid
        if key in self.storages:
            return self.storages[key]
        member = f"{self.prefix}data/{key}"
        try:
            info = self.archive.getinfo(member)
        except KeyError:
            _fail(self.where, f"its storage {key!r} has no member {member!r}")
        if info.compress_type != zipfile.ZIP_STORED:
            _fail(self.where, f"member {member!r} is compressed; torch.save stores members uncompressed")
        itemsize = 2 if kind.dtype == "bfloat16" else np.dtype(kind.dtype).itemsize
        if not isinstance(numel, int) or numel < 0 or info.file_size < numel * itemsize:
            _fail(self.where, f"storage {key!r} claims {numel!r} elements, its member holds {info.file_size} bytes")
        raw = self.archive.read(member)
        order = "<" if self.byteorder == "little" else ">"
        if kind.dtype == "bfloat16":  # bfloat16 = float32's upper 16 bits: exact in float32
            bits = np.frombuffer(raw, dtype=order + "u2", count=numel).astype(np.uint32) << 16
            array = bits.view(np.float32)
        else:  # (astype: the one copy, writable and in the machine's byte order)
            array = np.frombuffer(raw, dtype=np.dtype(kind.dtype).newbyteorder(order), count=numel).astype(kind.dtype)
        self.storages[key] = storage = _Storage(array)
        return storage

    def rebuild_tensor(self, storage: _Storage, storage_offset: int, size: Any, stride: Any,
                       requires_grad: bool = False, backward_hooks: Any = None, metadata: Any = None) -> Tensor:
        """``torch._utils._rebuild_tensor_v2``: the tensor of ``size`` and ``stride`` at ``storage_offset``
        of ``storage``.  A C-contiguous one (what a state dict holds) is a view of the storage, so
        tensors saved on one storage share it again, as in PyTorch; any other layout is copied."""
        if not isinstance(storage, _Storage):
            _fail(self.where, "a tensor is rebuilt from something that is not a storage")
        size, stride = tuple(size), tuple(stride)
        _check_view(self.where, storage, storage_offset, size, stride)
        a = storage.array
        count = math.prod(size)
        contiguous = all(st == math.prod(size[k + 1:]) for k, st in enumerate(stride) if size[k] > 1)
        if contiguous:
            array = a[storage_offset:storage_offset + count].reshape(size)
        else:
            array = np.array(np.lib.stride_tricks.as_strided(
                a[storage_offset:], shape=size, strides=tuple(s * a.itemsize for s in stride), writeable=False))
        t = Tensor._wrap(array)
        t.requires_grad = bool(requires_grad) and t._array.dtype.kind == "f"
        return t


def _parameter(data: Tensor, requires_grad: bool = True, backward_hooks: Any = None, state: Any = None) -> Any:
    from chainrule.nn.parameter import Parameter

    return Parameter(data.detach(), requires_grad=bool(requires_grad))


def _from_type(func: Any, new_type: Any, args: tuple, state: Any) -> Any:
    """``torch._tensor._rebuild_from_type_v2``: ``func(*args)``, as a Parameter when ``new_type`` is one."""
    from chainrule.nn.parameter import Parameter

    t = func(*args)
    return Parameter(t.detach(), requires_grad=t.requires_grad) if new_type is Parameter else t


def _encode(text: str, encoding: str = "utf-8") -> bytes:
    """``_codecs.encode``, which pickle protocol 2 uses for bytes (text encoded with latin-1)."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1", "utf-8", "utf8"):
        raise pickle.UnpicklingError(f"_codecs.encode({type(text).__name__}, {encoding!r}) is not bytes data")
    return codecs.encode(text, encoding)


def _numpy_dtype(*args: Any) -> np.dtype:
    dt = np.dtype(args[0])
    if dt.kind in "OV":
        raise pickle.UnpicklingError(f"NumPy dtype {dt} is not a plain dtype")
    return dt


def _numpy_scalar(dtype: np.dtype, data: bytes | None = None) -> Any:
    if not isinstance(dtype, np.dtype) or dtype.kind in "OV" or not isinstance(data, bytes):
        raise pickle.UnpicklingError("a NumPy scalar of a dtype other than a plain one")
    return np.frombuffer(data, dtype=dtype, count=1)[0]


def _numpy_reconstruct(cls: Any, shape: Any, dtype: Any) -> np.ndarray:
    if cls is not np.ndarray:
        raise pickle.UnpicklingError("a NumPy array of a class other than ndarray")
    return np.ndarray.__new__(np.ndarray, (0,), np.uint8)


_REBUILD_TENSOR = {("torch._utils", "_rebuild_tensor_v2"), ("torch._utils", "_rebuild_tensor")}
_ALLOWED: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): OrderedDict,
    ("builtins", "set"): set, ("builtins", "frozenset"): frozenset, ("builtins", "slice"): slice,
    ("builtins", "complex"): complex, ("_codecs", "encode"): _encode,
    ("torch._utils", "_rebuild_parameter"): _parameter, ("torch._utils", "_rebuild_parameter_with_state"): _parameter,
    ("torch._tensor", "_rebuild_from_type_v2"): _from_type, ("torch", "Tensor"): Tensor,
    ("torch", "Size"): Size, ("torch", "device"): _device,
    ("numpy", "dtype"): _numpy_dtype, ("numpy", "ndarray"): np.ndarray,
    **{(core, "scalar"): _numpy_scalar for core in ("numpy.core.multiarray", "numpy._core.multiarray")},
    **{(core, "_reconstruct"): _numpy_reconstruct for core in ("numpy.core.multiarray", "numpy._core.multiarray")},
}


# the globals a program trusts on top of the allow-list (torch.serialization.add_safe_globals)
_SAFE_GLOBALS: dict[str, Any] = {}


def _name_of(entry: Any) -> tuple[str, Any]:
    if isinstance(entry, tuple):
        if len(entry) != 2 or not isinstance(entry[1], str):
            raise TypeError(f"add_safe_globals: expected a callable or (callable, 'module.name'), got {entry!r}")
        return entry[1], entry[0]
    return f"{entry.__module__}.{entry.__qualname__}", entry


def add_safe_globals(safe_globals: list) -> None:
    """``torch.serialization.add_safe_globals``: let checkpoints name these classes and functions
    too (each a callable, or (callable, "module.name") for one saved under another name).  Loading
    a checkpoint that names one calls it: the program vouches for it, as under PyTorch."""
    for entry in safe_globals:
        name, obj = _name_of(entry)
        _SAFE_GLOBALS[name] = obj


def get_safe_globals() -> list:
    """The globals added by :func:`add_safe_globals`."""
    return list(_SAFE_GLOBALS.values())


def clear_safe_globals() -> None:
    """Forget every global added by :func:`add_safe_globals`."""
    _SAFE_GLOBALS.clear()


class safe_globals:  # noqa: N801  (PyTorch's name)
    """``with torch.serialization.safe_globals([...]):`` -- :func:`add_safe_globals` for the block."""

    def __init__(self, safe_globals: list) -> None:
        self.entries = [_name_of(e) for e in safe_globals]

    def __enter__(self) -> None:
        self.before = dict(_SAFE_GLOBALS)
        _SAFE_GLOBALS.update(self.entries)

    def __exit__(self, *exc: Any) -> None:
        _SAFE_GLOBALS.clear()
        _SAFE_GLOBALS.update(self.before)


def _check_opcodes(data: bytes, where: str) -> None:
    """Read the pickle's opcodes once before running them: it must parse to its end, and no memo
    index may exceed the pickle's length (the unpickler grows its memo to the largest index it is
    given, so a claimed index of 2^31 would allocate gigabytes from a few bytes)."""
    try:
        with warnings.catch_warnings():  # (pickletools warns on a damaged STRING opcode's escapes)
            warnings.simplefilter("ignore")
            ops = list(pickletools.genops(data))
        for op, arg, _ in ops:
            if op.name in ("PUT", "BINPUT", "LONG_BINPUT") and not (isinstance(arg, int) and 0 <= arg <= len(data)):
                _fail(where, f"its pickle stores to memo index {arg!r}, beyond its own length")
    except ValueError as e:
        _fail(where, f"its pickle does not parse ({e})")


def is_torch_zip(head: bytes) -> bool:
    """Whether a file that begins with ``head`` is a zip archive (torch.save's format since 1.6)."""
    return head[:4] == b"PK\x03\x04"


def load_torch_zip(fh: BinaryIO, where: str) -> Any:
    """The object a ``torch.save`` zip archive holds (see the module docstring)."""
    try:
        return _read_archive(fh, where)
    except pickle.UnpicklingError as e:
        _fail(where, str(e))
    except (TypeError, ValueError, AttributeError, IndexError, KeyError, EOFError, OverflowError, RecursionError,
            zipfile.BadZipFile, NotImplementedError) as e:  # (a damaged file)
        if type(e).__name__ == "CheckpointError":
            raise
        _fail(where, f"it could not be read ({type(e).__name__}: {e})")


def _read_archive(fh: BinaryIO, where: str) -> Any:
    with zipfile.ZipFile(fh) as archive:
        pickles = [n for n in archive.namelist() if n.endswith("data.pkl") and n.count("/") == 1]
        if len(pickles) != 1:
            _fail(where, "it has no single '<name>/data.pkl' member (is it a torch.save file?)")
        prefix = pickles[0][: -len("data.pkl")]
        if archive.getinfo(pickles[0]).compress_type != zipfile.ZIP_STORED:
            _fail(where, "its data.pkl is compressed; torch.save stores members uncompressed")
        byteorder = "little"
        if f"{prefix}byteorder" in archive.namelist():
            byteorder = archive.read(f"{prefix}byteorder")[:16].decode("ascii", "replace").strip()
            if byteorder not in ("little", "big"):
                _fail(where, f"unknown byte order {byteorder!r}")
        data = archive.read(pickles[0])
        _check_opcodes(data, where)
        return _Unpickler(data, archive, prefix, byteorder, where).load()
