"""Optional compiled kernels: small C files in ``chainrule/backend/kernels``, built on first use.

NumPy runs one elementwise operation per call; a C loop doing a whole step in one pass with
vectorised ``expf``/``tanhf`` is several times faster.  Every kernel has a NumPy twin giving the
same numbers to rounding, so chainrule needs no compiler.  ``load(name)``:

1. ``CHAINRULE_NATIVE=0`` switches every kernel off.
2. The library is looked up in the cache folder (``CHAINRULE_CACHE``, else
   ``$XDG_CACHE_HOME/chainrule``, else ``~/.cache/chainrule``) under a name hashing the C file
   (and the kernels' headers it includes), the flags, the compiler and the CPU, so a changed kernel is rebuilt.
3. Otherwise it is compiled (``CC``, else ``cc``; ``-O3 -march=native``, without ``-march`` if
   that fails; no ``-ffast-math``) into a temporary file renamed into place (atomic).
4. Any failure leaves the kernel off: ``load`` returns None and ``status()`` says why.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import re
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Any

import numpy as np

_KERNELS = Path(__file__).with_name("kernels")

# -fno-math-errno/-fno-trapping-math let loops with expf/tanhf and selects be vectorised;
# -fopenmp-simd only reads the `omp declare simd` declarations (no OpenMP runtime).  Not
# -ffast-math: it would let NaNs vanish (and, linked in, switch the process to flush-to-zero).
_PORTABLE_FLAGS = ["-O3", "-fno-math-errno", "-fno-trapping-math", "-fopenmp-simd", "-fPIC", "-std=c99"]
_X86_FLAGS = ["-march=native", "-mprefer-vector-width=256"]  # AVX2 where the CPU has it


# Kernels with `omp parallel` loops, built with -fopenmp where the compiler has GNU OpenMP (the
# runtime oneDNN's `onednn-cpu-gomp` build uses, so the two share one team of threads); where it
# has not, built without it: the loops then run on the calling thread.
_OPENMP_KERNELS = frozenset({"lstm_cell", "packed_gemm", "team"})


def _flag_sets(name: str = "") -> list:
    """Compile flags to try, best first: tuned for this CPU, then portable (each first with
    OpenMP for a kernel in ``_OPENMP_KERNELS``)."""
    if platform.machine().lower() in ("x86_64", "amd64"):
        sets = [_PORTABLE_FLAGS + _X86_FLAGS, _PORTABLE_FLAGS]
    else:
        sets = [_PORTABLE_FLAGS + ["-mcpu=native"], _PORTABLE_FLAGS]
    if name in _OPENMP_KERNELS:
        return [f + ["-fopenmp"] for f in sets] + sets
    return sets


_LOADED: dict[str, ctypes.CDLL | None] = {}  # name -> the loaded library (None: not available)
_REASONS: dict[str, str] = {}  # name -> why (for status())
_LOAD_LOCK = threading.Lock()
_MISSING: Any = object()


def enabled() -> bool:
    """False when the environment switches the compiled kernels off (``CHAINRULE_NATIVE=0``)."""
    return os.environ.get("CHAINRULE_NATIVE", "1").strip().lower() not in ("0", "false", "no", "off")


def cache_dir() -> Path:
    """Where built kernels are kept (see the module docstring)."""
    if os.environ.get("CHAINRULE_CACHE"):
        return Path(os.environ["CHAINRULE_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "chainrule"


def _cpu_signature() -> str:
    """A line that changes with the CPU model (a cache shared between machines stays valid)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith(("model name", "flags")):
                    return line
    except OSError:
        pass
    return platform.processor()


def kernel_source(name: str) -> bytes:
    """kernels/<name>.c followed by the kernels' own headers it includes (``#include "x.h"``):
    what the library's name hashes, so that a changed header rebuilds its kernels too."""
    source = (_KERNELS / f"{name}.c").read_bytes()
    headers = re.findall(rb'^#include "([A-Za-z0-9_]+\.h)"', source, re.MULTILINE)
    return b"\0".join([source] + [(_KERNELS / h.decode()).read_bytes() for h in headers])


def _library_path(name: str, cc: str, flags: list, source: bytes | None = None) -> Path:
    if source is None:
        source = kernel_source(name)
    key = hashlib.sha256()
    for part in (source, " ".join(flags).encode(), cc.encode(), platform.machine().encode(),
                 _cpu_signature().encode()):
        key.update(part)
        key.update(b"\0")
    return cache_dir() / f"{name}-{key.hexdigest()[:16]}.so"


def _build(name: str, cc: str, flags: list, target: Path, source: bytes | None = None) -> None:
    """Compile kernels/<name>.c (or the C ``source`` given) into ``target`` (atomically:
    temporary files, then a rename)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".build-") as tmp:
        obj = Path(tmp) / f"{name}.o"
        lib = Path(tmp) / f"{name}.so"
        src = str(_KERNELS / f"{name}.c")
        if source is not None:
            src = str(Path(tmp) / f"{name}.c")
            Path(src).write_bytes(source)
        compile_ = [cc, *flags, "-c", src, "-o", str(obj)]
        link = [cc, "-shared", *(f for f in flags if f == "-fopenmp"), str(obj), "-o", str(lib), "-lm"]
        for cmd in (compile_, link):
            run = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
            if run.returncode != 0:
                raise RuntimeError(f"{' '.join(cmd)} failed:\n{run.stderr.strip()[-2000:]}")
        os.replace(lib, target)


def load(name: str) -> ctypes.CDLL | None:
    """The compiled kernel library ``name`` (kernels/<name>.c), or None when it is not available."""
    lib = _LOADED.get(name, _MISSING)
    if lib is not _MISSING:
        return lib
    with _LOAD_LOCK:  # two threads asking at once build and load it once
        if name not in _LOADED:
            _LOADED[name] = _load(name)
        return _LOADED[name]


def load_source(name: str, source: str) -> ctypes.CDLL | None:
    """A library compiled from generated C ``source`` (the compiled mode's fused loops), cached
    like the kernels' under a name hashing the source; None when it is not available."""
    key = f"{name}:{hashlib.sha256(source.encode()).hexdigest()[:16]}"
    lib = _LOADED.get(key, _MISSING)
    if lib is not _MISSING:
        return lib
    with _LOAD_LOCK:
        if key not in _LOADED:
            _LOADED[key] = _load(name, source.encode())
        return _LOADED[key]


def _load(name: str, source: bytes | None = None) -> ctypes.CDLL | None:
    lib = None
    if not enabled():
        _REASONS[name] = "switched off by CHAINRULE_NATIVE=0"
    elif (cc := shutil.which(os.environ.get("CC", "cc"))) is None:
        _REASONS[name] = "no C compiler found (set CC)"
    else:
        errors = []
        for flags in _flag_sets(name):
            try:
                path = _library_path(name, cc, flags, source)
                if not path.exists():
                    _build(name, cc, flags, path, source)
                lib = ctypes.CDLL(str(path))
                _REASONS[name] = f"compiled: {path}"
                break
            except (OSError, RuntimeError, subprocess.SubprocessError) as err:
                errors.append(str(err))
        if lib is None:
            _REASONS[name] = "not available: " + " | ".join(errors)
    return lib


_TYPED: dict = {}


def typed_function(name: str, symbol: str, dtype, argtypes: list, restype: Any = None):
    """Function ``{symbol}_f32``/``_f64`` of kernel ``name`` for ``dtype``, its argument types (and
    result type: None for void) set; None for another dtype or when the kernel is not available.
    Kernels ask for it on every call, so a second ask is one dictionary lookup (``reset()``
    empties the dictionary)."""
    key = (name, symbol, dtype)
    fn = _TYPED.get(key, _MISSING)
    if fn is not _MISSING:
        return fn
    dt = np.dtype(dtype)
    lib = load(name) if dt in (np.float32, np.float64) else None
    fn = None
    if lib is not None:
        fn = getattr(lib, f"{symbol}_{'f32' if dt == np.float32 else 'f64'}")
        fn.argtypes = argtypes
        fn.restype = restype
    _TYPED[key] = fn
    return fn


def address(a: np.ndarray) -> int:
    """The address of a contiguous array's data, for a kernel's pointer argument (through the
    buffer protocol, about 4x cheaper than ``a.ctypes.data``; read-only arrays take that way)."""
    try:
        return ctypes.addressof(_BYTE.from_buffer(a))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return a.ctypes.data


_BYTE = ctypes.c_byte


def status(name: str) -> str:
    """One line: is kernel ``name`` in use, and if not, why (loads it if not tried yet)."""
    load(name)
    return _REASONS[name]


def reset() -> None:
    """Forget what was loaded (the next ``load`` looks again)."""
    _LOADED.clear()
    _REASONS.clear()
    _TYPED.clear()
