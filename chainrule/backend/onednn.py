"""oneDNN, the library under PyTorch's CPU convolutions and LSTM, for float32 convolutions and LSTM
layers (an optional extra).

A convolution as im2col + BLAS (``conv_math.py``) copies its input K times over (K the kernel's
size) and runs OpenBLAS's products at 70-100 GFLOP/s on a ResNet block's shapes.  oneDNN's own
convolution kernels, in the layouts they choose (channels in blocks of 16), run the same
convolution at about 125 GFLOP/s on one core of the development machine (PyTorch's: 117).  This
module calls oneDNN's C API through ctypes; the convolution ops use it for float32 on the CPU
when it is installed, and im2col + BLAS otherwise (float64 and gradcheck always take that way).
The LSTM layers likewise (``rnn_onednn.py``), and their own time loop otherwise.

Installed with ``pip install "chainrule[onednn]"``: the ``onednn-cpu-gomp`` wheel (Linux x86-64,
the library alone, threads by GNU OpenMP; 39 MB).  The library is looked for at
``CHAINRULE_ONEDNN`` (a path), in this environment's ``lib/`` (where the wheel puts it), then on
the loader's path; ``CHAINRULE_ONEDNN=0`` switches it off.

One direction of one convolution (or LSTM layer) shape is a :class:`Step`: the primitive oneDNN
chose, the reorders between the caller's arrays (any strides) and the layouts the primitive
wants, and the buffers of those reordered copies.  Making one costs milliseconds (oneDNN
generates its kernel's code), so steps are kept by shape (``_STEPS``, the 64 most recent of each kind).

Each Python thread has scratch memory and a stream of its own.  oneDNN's default, one scratch
area shared by every primitive, let an LSTM in one thread and a convolution in another
overwrite each other's; one area per step would hold an LSTM's hundreds of MiB twice (forward
and backward), so a thread's area is as large as the largest need (:func:`_scratch_buffer`).

Threads: oneDNN runs on OpenMP's threads, ``threads.intra_threads()`` of them
(``torch.set_num_threads``); once it runs, NumPy's BLAS runs on one thread (:func:`take_threads`
says why).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
import threading
from collections import OrderedDict
from typing import Any

import numpy as np

from chainrule.backend import native, threads

_P = ctypes.c_void_p
_DIMS = ctypes.c_int64 * 12  # dnnl_dims_t
_F32 = 3  # dnnl_f32
_ANY = 1  # dnnl_format_tag_any
_CPU = 1  # dnnl_cpu
FORWARD_TRAINING, FORWARD_INFERENCE, BACKWARD = 64, 96, 128  # dnnl_prop_kind_t
CONVOLUTION_DIRECT = 1  # dnnl_convolution_direct
_QUERY_EXEC_ARG_MD = 255  # dnnl_query_exec_arg_md: the memory descriptor of one DNNL_ARG_*
_QUERY_IMPL_INFO_STR = 8  # dnnl_query_impl_info_str: the implementation's name
_SCRATCHPAD_USER = 1  # dnnl_scratchpad_mode_user
_ARG_SCRATCHPAD = 80
# DNNL_ARG_*: a recurrent layer's arguments are numbered 0, 1, 2 after their kind (src_layer =
# src, src_iter, src_iter_c; weights_layer = weights, weights_iter)
ARG = {"src": 1, "dst": 17, "weights": 33, "bias": 41, "diff_src": 129, "diff_dst": 145, "diff_weights": 161,
       "diff_bias": 169, "workspace": 64,
       "src_layer": 1, "src_iter": 2, "src_iter_c": 3, "dst_layer": 17, "dst_iter": 18, "dst_iter_c": 19,
       "weights_layer": 33, "weights_iter": 34, "diff_src_layer": 129, "diff_src_iter": 130, "diff_src_iter_c": 131,
       "diff_dst_layer": 145, "diff_dst_iter": 146, "diff_dst_iter_c": 147, "diff_weights_layer": 161,
       "diff_weights_iter": 162}


class _Arg(ctypes.Structure):  # dnnl_exec_arg_t
    _fields_ = [("arg", ctypes.c_int), ("memory", _P)]


_state: dict[str, Any] = {"lib": None, "tried": False, "why": "", "engine": None, "attr": None, "omp": None}
# the thread setting (threads.settings()) under which oneDNN last took the threads from BLAS, or
# None: see take_threads and holds_threads (threads' list: read on every product,
# gemm_onednn.matmul, and every threaded kernel, threads.run_ranges)
HELD: list = threads.OPENMP_HELD
_LOCK = threading.Lock()


def _candidates() -> list[str]:
    env = os.environ.get("CHAINRULE_ONEDNN", "").strip()
    if env:
        return [env]
    found = ctypes.util.find_library("dnnl")
    return [os.path.join(sys.prefix, "lib", "libdnnl.so.3")] + ([found] if found else [])


class _Version(ctypes.Structure):  # dnnl_version_t
    _fields_ = [("major", ctypes.c_int), ("minor", ctypes.c_int), ("patch", ctypes.c_int), ("hash", ctypes.c_char_p),
                ("cpu_runtime", ctypes.c_uint), ("gpu_runtime", ctypes.c_uint)]


def _open(path: str) -> Any:
    """The library at ``path`` with its engine made; raises OSError if it cannot be used
    (this module speaks oneDNN 3's C API)."""
    lib = ctypes.CDLL(path)
    lib.dnnl_version.restype = ctypes.POINTER(_Version)
    version = lib.dnnl_version().contents
    if version.major != 3:
        raise OSError(f"{path} is oneDNN {version.major}.{version.minor}; chainrule needs 3.x")
    lib.dnnl_primitive_desc_query_md.restype = _P
    lib.dnnl_memory_desc_get_size.restype = ctypes.c_size_t
    lib.dnnl_memory_desc_equal.restype = ctypes.c_int
    engine, attr = _P(), _P()
    if lib.dnnl_engine_create(ctypes.byref(engine), _CPU, ctypes.c_size_t(0)):
        raise OSError(f"{path}: no CPU engine")
    # every primitive gets scratch memory of its own (see Step): oneDNN's default, one scratch
    # area shared by all primitives, is unsafe when two Python threads run primitives at once
    if lib.dnnl_primitive_attr_create(ctypes.byref(attr)) or \
            lib.dnnl_primitive_attr_set_scratchpad_mode(attr, _SCRATCHPAD_USER):
        raise OSError(f"{path}: no primitive attributes")
    _state.update(engine=engine, attr=attr, why=f"loaded {path} (oneDNN {version.major}.{version.minor})")
    return lib


def _load() -> Any:
    if os.environ.get("CHAINRULE_ONEDNN", "").strip().lower() in ("0", "false", "no", "off"):
        _state["why"] = "switched off by CHAINRULE_ONEDNN=0"
        return None
    errors = []
    for path in _candidates():
        try:
            lib = _open(path)
        except (OSError, AttributeError) as err:
            errors.append(str(err))
            continue
        try:  # oneDNN's OpenMP runtime: the libgomp it was linked with, already loaded by now
            _state["omp"] = ctypes.CDLL("libgomp.so.1")
        except OSError:
            _state["omp"] = None
        return lib
    _state["why"] = "not installed (pip install 'chainrule[onednn]'): " + " | ".join(errors)
    return None


def library() -> Any:
    """The loaded oneDNN library, or None (``status()`` says why)."""
    if not _state["tried"]:
        with _LOCK:
            if not _state["tried"]:
                _state["lib"] = _load()
                _state["tried"] = True
    return _state["lib"]


def available() -> bool:
    return library() is not None


def status() -> str:
    """One line: is oneDNN in use, and if not, why."""
    library()
    return _state["why"]


def reset() -> None:
    """Forget the library and the kept steps (a test switching CHAINRULE_ONEDNN calls this)."""
    with _LOCK:
        _STEPS.clear()
        _state.update(lib=None, tried=False, why="", engine=None, attr=None, omp=None)
        HELD[0] = None
        _PER_THREAD.setting = None
        _PER_THREAD.stream = None
        _PER_THREAD.scratch = None


def engine() -> Any:
    """The CPU engine every primitive is made for."""
    return _state["engine"]


def attr() -> Any:
    """The attributes every primitive descriptor is made with (scratch memory given by the caller)."""
    return _state["attr"]


class _Stream:
    """One thread's oneDNN stream (a stream must not be used by two threads at once)."""

    def __init__(self) -> None:
        self.handle = _P()
        check(library().dnnl_stream_create(ctypes.byref(self.handle), engine(), ctypes.c_uint(1)), "stream")
        self.lib = library()

    def __del__(self) -> None:
        try:
            self.lib.dnnl_stream_destroy(self.handle)
        except (TypeError, AttributeError):  # (the interpreter is shutting down)
            pass


def _stream() -> Any:
    s = getattr(_PER_THREAD, "stream", None)
    if s is None or s.lib is not library():
        s = _PER_THREAD.stream = _Stream()
    return s.handle


def check(status: int, what: str) -> None:
    if status != 0:
        raise RuntimeError(f"oneDNN: {what} failed (dnnl_status_t {status})")


def dims(values: Any) -> Any:
    d = _DIMS()
    for i, v in enumerate(values):
        d[i] = int(v)
    return d


def plain_md(shape: tuple, strides: tuple) -> Any:
    """A float32 memory descriptor of ``shape`` with ``strides`` in elements (a NumPy array's
    layout, whatever it is)."""
    md = _P()
    check(library().dnnl_memory_desc_create_with_strides(ctypes.byref(md), len(shape), dims(shape), _F32,
                                                          dims(strides)), "memory descriptor")
    return md


def any_md(shape: tuple) -> Any:
    """A float32 memory descriptor whose layout the primitive chooses."""
    md = _P()
    check(library().dnnl_memory_desc_create_with_tag(ctypes.byref(md), len(shape), dims(shape), _F32, _ANY),
           "memory descriptor")
    return md


def destroy(*mds: Any) -> None:
    """Free memory descriptors made here (None: skipped); a primitive descriptor keeps its own copies."""
    for md in mds:
        if md is not None:
            library().dnnl_memory_desc_destroy(md)


def readable(a: np.ndarray) -> np.ndarray:
    """``a``, or a C-ordered copy where oneDNN cannot describe its layout (a broadcast's zero or
    a negative stride)."""
    if all(st > 0 or n == 1 for st, n in zip(a.strides, a.shape)):
        return a
    return np.ascontiguousarray(a)


def layout(a: np.ndarray) -> tuple:
    """``a``'s strides in elements (what :func:`plain_md` takes)."""
    return tuple(s // a.itemsize for s in a.strides)


class Step:
    """One oneDNN primitive with its reorders: ``run({name: array})`` reads the inputs' arrays
    and writes the outputs' arrays (each in the layout given when the step was made).

    ``user``: name -> (DNNL_ARG, shape, strides, is_output), the caller's side; the primitive's
    side of each is queried from ``pd``.  Where the two differ, a reorder primitive and a buffer
    for the primitive's copy are made here once.  A shape of None means an opaque argument (a
    workspace): the caller passes a uint8 array of :meth:`nbytes` bytes, in the primitive's own
    layout.  ``accumulates`` names outputs the primitive adds to rather than writes (a
    recurrent layer's weight gradients): they are zeroed before each run."""

    def __init__(self, pd: Any, user: dict[str, tuple], accumulates: tuple = ()) -> None:
        lib = library()
        eng = engine()
        self._lock = threading.Lock()
        self.prim = _P()
        check(lib.dnnl_primitive_create(ctypes.byref(self.prim), pd), "primitive")
        self.user_mem: dict[str, Any] = {}
        self.before: list[tuple] = []  # (reorder, argument count, arguments: from, to[, scratch])
        self.after: list[tuple] = []
        self.keep: list[Any] = []  # the buffers of the primitive's copies (their memory is used by address)
        self.owned: list[tuple] = [("dnnl_primitive_destroy", self.prim)]  # destroyed with the step
        self.nbytes: dict[str, int] = {}  # the opaque arguments' sizes
        self.scratch: list[Any] = []  # the scratch memories (of the primitive and its reorders)
        self.scratch_bytes = 0
        self.zero_user: list[str] = []  # accumulated outputs the primitive writes in the caller's array
        self.zero_bufs: list[np.ndarray] = []  # ... or in a buffer of its own
        args = []
        for name, (arg, shape, strides, is_output) in user.items():
            pmd = _P(lib.dnnl_primitive_desc_query_md(pd, _QUERY_EXEC_ARG_MD, arg))
            if shape is None:  # opaque: the primitive's own descriptor (a memory keeps a copy of it)
                self.nbytes[name] = lib.dnnl_memory_desc_get_size(pmd)
                umd = pmd
            else:
                umd = plain_md(shape, strides)
            umem = _P()
            check(lib.dnnl_memory_create(ctypes.byref(umem), umd, eng, None), "memory")
            self.user_mem[name] = umem
            self.owned.append(("dnnl_memory_destroy", umem))
            if shape is None or lib.dnnl_memory_desc_equal(umd, pmd):
                if shape is not None:
                    lib.dnnl_memory_desc_destroy(umd)
                if name in accumulates:
                    self.zero_user.append(name)
                args.append(_Arg(arg, umem))
                continue
            buf = np.empty(max(1, lib.dnnl_memory_desc_get_size(pmd)), np.uint8)
            self.keep.append(buf)
            if name in accumulates:
                self.zero_bufs.append(buf)
            pmem = _P()
            check(lib.dnnl_memory_create(ctypes.byref(pmem), pmd, eng, _P(native.address(buf))), "memory")
            src, dst = (pmd, umd) if is_output else (umd, pmd)
            rpd, reorder = _P(), _P()
            check(lib.dnnl_reorder_primitive_desc_create(ctypes.byref(rpd), src, eng, dst, eng, attr()),
                   "reorder")
            check(lib.dnnl_primitive_create(ctypes.byref(reorder), rpd), "reorder primitive")
            frm, to = (pmem, umem) if is_output else (umem, pmem)
            rargs = [_Arg(1, frm), _Arg(17, to)] + self._scratch(rpd)
            lib.dnnl_primitive_desc_destroy(rpd)
            lib.dnnl_memory_desc_destroy(umd)
            self.owned += [("dnnl_memory_destroy", pmem), ("dnnl_primitive_destroy", reorder)]
            (self.after if is_output else self.before).append((reorder, len(rargs), (_Arg * len(rargs))(*rargs)))
            args.append(_Arg(arg, pmem))
        args += self._scratch(pd)
        self.args = (_Arg * len(args))(*args)
        self.nargs = len(args)
        lib.dnnl_primitive_desc_destroy(pd)

    def _scratch(self, pd: Any) -> list:
        """The scratch-memory argument of the primitive of ``pd`` (none if it needs none).  Its
        memory is the running thread's scratch buffer (:func:`_scratch_buffer`), set at each run:
        one buffer per thread, as large as the largest step's need (an LSTM's is hundreds of
        MiB), rather than one per step."""
        lib = library()
        md = _P(lib.dnnl_primitive_desc_query_md(pd, _QUERY_EXEC_ARG_MD, _ARG_SCRATCHPAD))
        size = lib.dnnl_memory_desc_get_size(md) if md.value else 0
        if not size:
            return []
        mem = _P()
        check(lib.dnnl_memory_create(ctypes.byref(mem), md, engine(), None), "memory")
        self.owned.append(("dnnl_memory_destroy", mem))
        self.scratch.append(mem)
        self.scratch_bytes = max(self.scratch_bytes, size)
        return [_Arg(_ARG_SCRATCHPAD, mem)]

    def __del__(self) -> None:
        try:
            lib = _state["lib"]
            if lib is not None:
                for fn, obj in getattr(self, "owned", ()):
                    getattr(lib, fn)(obj)
        except (TypeError, AttributeError):  # (the interpreter is shutting down: the library goes too)
            pass

    def run(self, arrays: dict[str, np.ndarray]) -> None:
        lib = library()
        stream = _stream()
        take_threads()
        with self._lock:
            for name, a in arrays.items():
                check(lib.dnnl_memory_set_data_handle(self.user_mem[name], _P(native.address(a))), "data handle")
            if self.scratch:
                buf = _scratch_buffer(self.scratch_bytes)
                for mem in self.scratch:
                    check(lib.dnnl_memory_set_data_handle(mem, buf), "data handle")
            for name in self.zero_user:
                arrays[name].fill(0)
            for buf in self.zero_bufs:
                buf.fill(0)
            for reorder, n, args in self.before:
                check(lib.dnnl_primitive_execute(reorder, stream, n, args), "reorder")
            check(lib.dnnl_primitive_execute(self.prim, stream, self.nargs, self.args), "execute")
            for reorder, n, args in self.after:
                check(lib.dnnl_primitive_execute(reorder, stream, n, args), "reorder")
            check(lib.dnnl_stream_wait(stream), "wait")


_PER_THREAD = threading.local()  # .setting: threads.settings() when this thread last set them


def _scratch_buffer(nbytes: int) -> Any:
    """The calling thread's scratch buffer for oneDNN primitives, at least ``nbytes`` long (grown,
    never shrunk).  A step runs under its lock on one thread, so no two runs share a buffer."""
    buf = getattr(_PER_THREAD, "scratch", None)
    if buf is None or buf.nbytes < nbytes:
        buf = _PER_THREAD.scratch = np.empty(nbytes, np.uint8)
    return _P(native.address(buf))


def take_threads() -> None:
    """OpenMP's thread count for the calling thread (an OpenMP setting is per thread):
    chainrule's intra-op threads; and, when that is more than one, NumPy's BLAS on one thread.

    Two thread pools on the same cores stall each other: OpenBLAS's workers keep spinning for
    about 0.1 s after a product, OpenMP's after a parallel region, and a multi-threaded
    convolution then waits for a core a spinning worker holds.  LeNet-5's step (w3), whose
    products come between its convolutions, went 6.4 -> 27.8 ms at two threads that way.  So,
    as in PyTorch (one OpenMP pool for everything), the threads go to oneDNN: from the first
    convolution on, BLAS products run on one thread (threadpoolctl; measured at two threads:
    w3 6.8 -> 6.4 ms, cifar_cnn 29.5 -> 25.7 ms against im2col with two BLAS threads).  Set
    again whenever ``chainrule.set_num_threads`` changes the count, and whenever the hold was
    dropped since this thread took it (the hold is the process's, the record of having taken it
    the thread's): else this thread's products stayed on BLAS while another thread's went to
    sgemm, and the same step summed differently in the two.  Not in a forked child, which keeps
    BLAS (``_forget_in_child``)."""
    setting = threads.settings()
    if getattr(_PER_THREAD, "setting", None) == setting and (
            HELD[0] == setting or setting[0] <= 1 or threads.in_forked_child()):
        return
    n = setting[0]
    omp = _state["omp"]
    if omp is not None:
        omp.omp_set_num_threads(n)
    if n > 1:
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=1, user_api="blas")  # (called, not used with `with`: the limit stays)
        HELD[0] = setting
    _PER_THREAD.setting = setting


def _forget_in_child() -> None:
    """A forked child (a DataLoader worker) must not start GNU OpenMP again: its products stay
    with BLAS (still held to one thread)."""
    HELD[0] = None  # (threads' own fork handler records the fork: threads.in_forked_child)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_in_child)


def holds_threads() -> bool:
    """Whether oneDNN holds the threads: a primitive ran with more than one thread since the
    thread count was last set, so NumPy's BLAS runs on one (:func:`take_threads`), and float32
    products go to oneDNN's sgemm (``gemm_onednn.py``)."""
    held = HELD[0]
    return held is not None and held == threads.settings()


_NOT_KEPT = object()
_STEPS: dict[Any, OrderedDict] = {}  # kind (a key's first item) -> that kind's steps, least recently used first
_KEEP = 64  # steps kept per kind


def cached(key: tuple, make: Any) -> Any:
    """The step kept under ``key``, made by ``make()`` the first time (``make`` may return None
    where it has no step for the key; that answer is kept too).  ``key[0]`` names the kind of
    step ("forward", "matmul", ...); each kind keeps its ``_KEEP`` most recently used steps, so
    that a model with many products' shapes does not push its convolutions' steps out."""
    with _LOCK:
        kind = _STEPS.setdefault(key[0], OrderedDict())
        step = kind.get(key, _NOT_KEPT)
        if step is not _NOT_KEPT:
            kind.move_to_end(key)
            return step
    take_threads()  # (a primitive takes OpenMP's thread count when it is made)
    step = make()
    with _LOCK:
        kind[key] = step
        while len(kind) > _KEEP:
            kind.popitem(last=False)
    return step


def implementation(pd: Any) -> str:
    """The name of the implementation oneDNN chose for primitive descriptor ``pd``
    ("brg:avx512_core", "gemm:jit", "ref:any"...)."""
    name = ctypes.c_char_p()
    check(library().dnnl_primitive_desc_query(pd, _QUERY_IMPL_INFO_STR, 0, ctypes.byref(name)), "implementation")
    return (name.value or b"").decode()


def kept() -> list[tuple]:
    """(key, step) of every step kept now, every kind."""
    with _LOCK:
        return [item for kind in _STEPS.values() for item in kind.items()]
