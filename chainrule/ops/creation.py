"""Creating tensors: tensor, zeros, ones, full, arange, linspace, eye, rand, randn, randint...

A factory builds its array with the table of the device asked for.  Data that starts on the host (Python
lists; random draws from the default generator, one stream for every device, so a seed gives the same
numbers anywhere) is put together with ``HOST``, the CPU's table, and copied to the device.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from itertools import chain
from typing import Any, Iterator

import numpy as np

from chainrule.autograd.primitive import table_of
from chainrule.autograd.tensor import Tensor
from chainrule.backend import ArrayMath, default_generator, get_default_dtype, to_numpy_dtype
from chainrule.backend.device import device as _device
from chainrule.backend.layout import check_layout
from chainrule.backend.registry import backend_for, device_of, target_device, to_device, to_host
from chainrule.ops._lift import promote_types

HOST: Any = ArrayMath  # the table of the host (NumPy), where data built in Python is put together
_MAKER = threading.local()  # .table: the table that makes new CPU arrays on this thread (see making_with)


@contextmanager
def making_with(table: Any) -> Iterator[None]:
    """While open, the factories of this thread (``zeros``, ``ones``, ``full``, ``empty``, the
    ``*_like`` and ``new_*`` forms...) make CPU arrays with ``table`` instead of the host's.
    ``chainrule.compile``'s capture opens it with its recording table, so that an array the
    captured call makes is traced like every array it computes: a write into it, or an operation
    that meets it with a traced array, is recorded rather than run on a constant."""
    before = getattr(_MAKER, "table", None)
    _MAKER.table = table
    try:
        yield
    finally:
        _MAKER.table = before


def _dtype(dtype: Any, default: Any = None) -> np.dtype:
    if dtype is None:
        return np.dtype(default) if default is not None else get_default_dtype()
    return to_numpy_dtype(dtype)


def _check_pin_memory(pin_memory: bool, where: str) -> None:
    """``pin_memory=True`` asks for page-locked memory, which an accelerator's runtime allocates:
    with none, PyTorch's CPU-only build raises, and so does chainrule (False is accepted)."""
    if pin_memory:
        raise RuntimeError(
            f"{where}: pin_memory=True requires a CUDA or other accelerator backend; "
            "no pinned memory allocator is available on this system."
        )


def _size(size: tuple) -> tuple:
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    return tuple(int(s) for s in size)


def _make(arr: Any, requires_grad: bool, device: Any = None) -> Tensor:
    """A new leaf on ``device`` (None: the CPU) from ``arr`` (a host array, or one already there)."""
    t = Tensor._wrap(arr if device is None else to_device(arr, device))
    return t.requires_grad_(True) if requires_grad else t


def _table(dev: _device | None) -> Any:
    """The table that makes arrays on ``dev`` (None: the CPU; see :func:`making_with`)."""
    return (getattr(_MAKER, "table", None) or HOST) if dev is None else backend_for(dev, "factory").math


def _like_device(input: Tensor, device: Any, where: str) -> _device | None:
    """The device of a ``*_like`` result: ``device`` if given, else input's (as PyTorch)."""
    if device is None:
        a = input._array
        return None if type(a) is np.ndarray else device_of(a)
    return target_device(device, where)


def table_like(input: Tensor, device: Any, where: str) -> tuple[Any, _device | None]:
    """(the table that makes an array like ``input``, its device): ``device``'s if given, else the
    table that computes on input's array where that is not the host's (an array made like a traced
    one, during ``chainrule.compile``'s capture, is traced too), else the factories' own."""
    dev = _like_device(input, device, where)
    if device is None and (m := table_of((input,), where)) is not HOST:
        return m, dev
    return _table(dev), dev


def _scalar_dtype(t: type) -> np.dtype | None:
    """The dtype PyTorch gives a Python/NumPy scalar of type ``t`` (None: not a scalar type)."""
    if t is float:
        return get_default_dtype()
    if t is int or t is bool:
        return np.dtype(np.int64 if t is int else np.bool_)
    return np.dtype(t) if issubclass(t, np.generic) else None


def _sequence_dtype(data: Any) -> np.dtype | None:
    """The dtype ``torch.tensor`` infers for nested lists/tuples: the promotion of its elements'.

    NumPy scalars, arrays and Tensors count as their own dtype (None: an empty sequence or unknown
    elements).  Walked a level at a time (``chain``, ``set(map(type, ...))``): a long list of numbers
    costs a fraction of NumPy's own conversion."""
    out = None
    level = data
    while level:
        types = set(map(type, level))
        for t in types:
            if t is list or t is tuple:
                continue
            if t is np.ndarray or t is Tensor:
                dts = {d.dtype for d in level if type(d) is t}
            else:
                d = _scalar_dtype(t)
                if d is None:
                    return None
                dts = {d}
            for d in dts:
                out = d if out is None else promote_types(out, d)
        if list not in types and tuple not in types:
            break
        if len(types - {list, tuple}) == 0:
            level = list(chain.from_iterable(level))
        else:
            level = list(chain.from_iterable(d for d in level if type(d) is list or type(d) is tuple))
    return out


def _infer(data: Any) -> np.ndarray:
    """PyTorch's inference: Python floats -> default float dtype, ints -> int64, bools -> bool;
    NumPy scalars and arrays keep their dtype, also inside lists (promoted as PyTorch does)."""
    if isinstance(data, (Tensor, np.ndarray)):
        return (data._array if isinstance(data, Tensor) else data).copy()
    if isinstance(data, np.generic):
        arr = HOST.copy(data)  # a NumPy scalar keeps its dtype, as torch.tensor(np.float64(0.1))
    elif isinstance(data, (list, tuple)):
        want = _sequence_dtype(data)
        if Tensor in set(map(type, data)):
            data = [d._array if isinstance(d, Tensor) else d for d in data]
        arr = HOST.copy(data)
        if want is None:  # empty, or elements NumPy will judge: as for plain Python numbers
            want = get_default_dtype() if arr.dtype == np.float64 or arr.size == 0 else None
        if want is not None and arr.dtype != want:
            arr = arr.astype(want)
    else:
        arr = HOST.copy(data)
        if arr.dtype == np.float64:
            arr = arr.astype(get_default_dtype())  # a Python float
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"tensor(): can't convert data of dtype {arr.dtype} to a tensor")
    return arr


def tensor(
    data: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False, pin_memory: bool = False
) -> Tensor:
    """A new leaf tensor holding a copy of ``data`` (nested lists, numbers, arrays)."""
    _check_pin_memory(pin_memory, "tensor()")
    dev = target_device(device, "tensor()")
    if isinstance(data, Tensor) and type(data._array) is not np.ndarray:  # on another device:
        if device is None:
            dev = device_of(data._array)  # the copy stays there, as torch.tensor(cuda_tensor)
        data = to_host(data._array)
    arr = _infer(data) if dtype is None else HOST.copy(
        data._array if isinstance(data, Tensor) else data, to_numpy_dtype(dtype)
    )
    return _make(arr, requires_grad, dev)


def as_tensor(data: Any, dtype: Any = None, device: Any = None) -> Tensor:
    """Like ``tensor`` but shares memory with a NumPy array of the right dtype."""
    dev = target_device(device, "as_tensor()")
    if dev is None and device is not None and isinstance(data, Tensor):
        data = data.to(device)  # ('cpu' for a tensor on another device)
    if dev is not None:
        t = as_tensor(data, dtype)
        return t if t.device == dev else t.to(dev)
    if isinstance(data, Tensor) and (dtype is None or data.dtype == to_numpy_dtype(dtype)):
        return data
    if isinstance(data, np.ndarray) and (dtype is None or data.dtype == to_numpy_dtype(dtype)):
        return Tensor._wrap(data)
    return tensor(data, dtype=dtype)


def from_numpy(array: np.ndarray) -> Tensor:
    """A tensor sharing memory with ``array``."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy(): expected np.ndarray, got {type(array).__name__}")
    return Tensor._wrap(array)


def zeros(
    *size: Any, dtype: Any = None, requires_grad: bool = False, device: Any = None, pin_memory: bool = False,
    layout: Any = None
) -> Tensor:
    _check_pin_memory(pin_memory, "zeros()")
    check_layout(layout, "zeros()")
    dev = target_device(device, "zeros()")
    return _make(_table(dev).zeros(_size(size), _dtype(dtype)), requires_grad, dev)


def ones(
    *size: Any, dtype: Any = None, requires_grad: bool = False, device: Any = None, pin_memory: bool = False,
    layout: Any = None
) -> Tensor:
    _check_pin_memory(pin_memory, "ones()")
    check_layout(layout, "ones()")
    dev = target_device(device, "ones()")
    return _make(_table(dev).ones(_size(size), _dtype(dtype)), requires_grad, dev)


def empty(
    *size: Any, dtype: Any = None, requires_grad: bool = False, device: Any = None, pin_memory: bool = False,
    layout: Any = None
) -> Tensor:
    _check_pin_memory(pin_memory, "empty()")
    check_layout(layout, "empty()")
    dev = target_device(device, "empty()")
    return _make(_table(dev).empty(_size(size), _dtype(dtype)), requires_grad, dev)


def empty_strided(
    size: Any, stride: Any, *, dtype: Any = None, layout: Any = None, device: Any = None, requires_grad: bool = False,
    pin_memory: bool = False
) -> Tensor:
    """A tensor of shape ``size`` whose elements lie ``stride`` elements apart in memory
    (``Tensor.stride()`` reports them), as PyTorch's ``empty_strided``; its values are zeros
    (PyTorch's are undefined).  The memory holds 1 + Σ (size_i - 1)·stride_i elements (none
    when some size is 0); strides may repeat elements (0), not go backwards."""
    where = "empty_strided()"
    _check_pin_memory(pin_memory, where)
    check_layout(layout, where)
    shape, steps = _size((size,)), _size((stride,))
    if len(shape) != len(steps):
        raise RuntimeError(
            f"dimensionality of sizes ({len(shape)}) must match dimensionality of strides ({len(steps)})"
        )
    if any(s < 0 for s in steps):
        raise RuntimeError(f"Storage size calculation overflowed with sizes={list(shape)} and strides={list(steps)}")
    extent = 0 if 0 in shape else 1 + sum((n - 1) * s for n, s in zip(shape, steps))
    memory = HOST.zeros((extent,), _dtype(dtype))
    dev = target_device(device, where)
    return _make(HOST.as_strided(memory, shape, steps), requires_grad, dev)


def full(
    size: Any, fill_value: Any, dtype: Any = None, requires_grad: bool = False, device: Any = None,
    pin_memory: bool = False, layout: Any = None
) -> Tensor:
    _check_pin_memory(pin_memory, "full()")
    check_layout(layout, "full()")
    dev = target_device(device, "full()")
    # as torch.full: a bool gives bool, an integer (Python or NumPy) int64, anything else the
    # default float dtype (a NumPy float or np.bool_ fill too: torch.full reads it as a number)
    integer = isinstance(fill_value, (int, np.integer))
    dt = _dtype(dtype, np.bool_ if isinstance(fill_value, bool) else np.int64 if integer else None)
    return _make(_table(dev).full(_size((size,)), fill_value, dt), requires_grad, dev)


def zeros_like(
    input: Tensor, dtype: Any = None, requires_grad: bool = False, device: Any = None, pin_memory: bool = False,
    layout: Any = None
) -> Tensor:
    _check_pin_memory(pin_memory, "zeros_like()")
    check_layout(layout, "zeros_like()")
    m, dev = table_like(input, device, "zeros_like()")
    return _make(m.zeros(input.shape, _dtype(dtype, input.dtype)), requires_grad, dev)


def ones_like(
    input: Tensor, dtype: Any = None, requires_grad: bool = False, device: Any = None, pin_memory: bool = False,
    layout: Any = None
) -> Tensor:
    _check_pin_memory(pin_memory, "ones_like()")
    check_layout(layout, "ones_like()")
    m, dev = table_like(input, device, "ones_like()")
    return _make(m.ones(input.shape, _dtype(dtype, input.dtype)), requires_grad, dev)


def empty_like(
    input: Tensor, dtype: Any = None, requires_grad: bool = False, device: Any = None, pin_memory: bool = False,
    layout: Any = None
) -> Tensor:
    _check_pin_memory(pin_memory, "empty_like()")
    check_layout(layout, "empty_like()")
    m, dev = table_like(input, device, "empty_like()")
    return _make(m.empty(input.shape, _dtype(dtype, input.dtype)), requires_grad, dev)


def full_like(
    input: Tensor, fill_value: Any, dtype: Any = None, requires_grad: bool = False, device: Any = None,
    pin_memory: bool = False, layout: Any = None
) -> Tensor:
    _check_pin_memory(pin_memory, "full_like()")
    check_layout(layout, "full_like()")
    m, dev = table_like(input, device, "full_like()")
    return _make(m.full(input.shape, fill_value, _dtype(dtype, input.dtype)), requires_grad, dev)


def arange(
    start: Any, end: Any = None, step: Any = 1, dtype: Any = None, requires_grad: bool = False, device: Any = None,
    pin_memory: bool = False, layout: Any = None
) -> Tensor:
    """Values from start (inclusive) to end (exclusive); integer arguments give int64."""
    _check_pin_memory(pin_memory, "arange()")
    check_layout(layout, "arange()")
    dev = target_device(device, "arange()")
    if end is None:
        start, end = 0, start
    # (a 0-d tensor bound counts as its number: an integer tensor gives int64, as in PyTorch)
    start, end, step = (v.item() if isinstance(v, Tensor) else v for v in (start, end, step))
    is_int = all(isinstance(v, (int, np.integer)) for v in (start, end, step))
    dt = _dtype(dtype, np.int64 if is_int else None)
    return _make(_table(dev).arange(start, end, step).astype(dt), requires_grad, dev)


def linspace(
    start: float, end: float, steps: int, dtype: Any = None, requires_grad: bool = False, device: Any = None,
    pin_memory: bool = False, layout: Any = None
) -> Tensor:
    _check_pin_memory(pin_memory, "linspace()")
    check_layout(layout, "linspace()")
    dev = target_device(device, "linspace()")
    return _make(_table(dev).linspace(start, end, int(steps)).astype(_dtype(dtype)), requires_grad, dev)


def logspace(
    start: float, end: float, steps: int, base: float = 10.0, dtype: Any = None, device: Any = None,
    pin_memory: bool = False, layout: Any = None
) -> Tensor:
    _check_pin_memory(pin_memory, "logspace()")
    check_layout(layout, "logspace()")
    dev = target_device(device, "logspace()")
    return _make(_table(dev).logspace(start, end, int(steps), base=base).astype(_dtype(dtype)), False, dev)


def eye(
    n: int, m: int | None = None, dtype: Any = None, requires_grad: bool = False, device: Any = None,
    pin_memory: bool = False, layout: Any = None
) -> Tensor:
    _check_pin_memory(pin_memory, "eye()")
    check_layout(layout, "eye()")
    dev = target_device(device, "eye()")
    return _make(_table(dev).eye(n, m, dtype=_dtype(dtype)), requires_grad, dev)


def _gen(generator: Any) -> Any:
    """The NumPy generator to draw from (the default one, or ``generator``'s)."""
    return default_generator() if generator is None else getattr(generator, "rng", generator)


def rand(
    *size: Any, dtype: Any = None, generator: Any = None, requires_grad: bool = False, device: Any = None,
    pin_memory: bool = False, layout: Any = None
) -> Tensor:
    """Uniform samples on [0, 1)."""
    _check_pin_memory(pin_memory, "rand()")
    check_layout(layout, "rand()")
    dev = target_device(device, "rand()")
    return _make(_gen(generator).random(_size(size)).astype(_dtype(dtype)), requires_grad, dev)


def randn(
    *size: Any, dtype: Any = None, generator: Any = None, requires_grad: bool = False, device: Any = None,
    pin_memory: bool = False, layout: Any = None
) -> Tensor:
    """Standard normal samples."""
    _check_pin_memory(pin_memory, "randn()")
    check_layout(layout, "randn()")
    dev = target_device(device, "randn()")
    return _make(_gen(generator).standard_normal(_size(size)).astype(_dtype(dtype)), requires_grad, dev)


def randint(
    low: int, high: Any = None, size: Any = None, dtype: Any = None, generator: Any = None, device: Any = None,
    pin_memory: bool = False, layout: Any = None
) -> Tensor:
    """Integers uniform on [low, high); ``randint(high, size)`` also works."""
    _check_pin_memory(pin_memory, "randint()")
    check_layout(layout, "randint()")
    dev = target_device(device, "randint()")
    if size is None:
        low, high, size = 0, low, high
    if high is None:
        low, high = 0, low
    size = tuple(size) if isinstance(size, (tuple, list)) else (int(size),)
    return _make(_gen(generator).integers(low, high, size).astype(_dtype(dtype, np.int64)), False, dev)


def randperm(
    n: int, dtype: Any = None, generator: Any = None, device: Any = None, pin_memory: bool = False,
    layout: Any = None
) -> Tensor:
    _check_pin_memory(pin_memory, "randperm()")
    check_layout(layout, "randperm()")
    dev = target_device(device, "randperm()")
    return _make(_gen(generator).permutation(int(n)).astype(_dtype(dtype, np.int64)), False, dev)


def rand_like(
    input: Tensor, dtype: Any = None, device: Any = None, pin_memory: bool = False, layout: Any = None
) -> Tensor:
    _check_pin_memory(pin_memory, "rand_like()")
    check_layout(layout, "rand_like()")
    dev = _like_device(input, device, "rand_like()")
    return rand(*input.shape, dtype=dtype or input.dtype, device=dev)


def randn_like(
    input: Tensor, dtype: Any = None, device: Any = None, pin_memory: bool = False, layout: Any = None
) -> Tensor:
    _check_pin_memory(pin_memory, "randn_like()")
    check_layout(layout, "randn_like()")
    dev = _like_device(input, device, "randn_like()")
    return randn(*input.shape, dtype=dtype or input.dtype, device=dev)


def normal(
    mean: float, std: float, size: Any, generator: Any = None, dtype: Any = None, device: Any = None,
    pin_memory: bool = False, layout: Any = None
) -> Tensor:
    _check_pin_memory(pin_memory, "normal()")
    check_layout(layout, "normal()")
    dev = target_device(device, "normal()")
    return _make((_gen(generator).standard_normal(tuple(size)) * std + mean).astype(_dtype(dtype)), False, dev)


def bernoulli(input: Tensor, generator: Any = None) -> Tensor:
    """Samples 1 with probability input[i], else 0."""
    u = Tensor._wrap(table_of((input,), "bernoulli").from_host(_gen(generator).random(input.shape)))
    return (u < input).to(input.dtype)


def multinomial(input: Tensor, num_samples: int, replacement: bool = False, generator: Any = None) -> Tensor:
    """Sample category indices with probabilities proportional to the rows of ``input``."""
    rng = _gen(generator)
    p = to_host(input._array).astype(np.float64)  # the draws are made on the host
    rows = p.reshape(-1, p.shape[-1])
    out = HOST.empty((rows.shape[0], num_samples), np.int64)
    for i, r in enumerate(rows):
        if (r < 0).any() or not HOST.isfinite(r).all() or r.sum() <= 0:
            raise RuntimeError("multinomial: probabilities must be finite, non-negative and not all zero")
        out[i] = rng.choice(r.size, size=num_samples, replace=replacement, p=r / r.sum())
    return Tensor._wrap(table_of((input,)).from_host(out.reshape(p.shape[:-1] + (num_samples,))))
