"""Operators and methods of Tensor (``a + b``, ``x.sum()``, ``x.view(...)``...), attached here so that the
core depends on nothing above it; most are the function of the same name in ``chainrule.ops``."""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.autograd.grad_mode import STATE, made_in_inference
from chainrule.autograd.primitive import apply1, apply2, binary_method, kernel, table_of, unary_method
from chainrule.autograd.tensor import Tensor
from chainrule.autograd.version import bump
from chainrule.backend import registry, to_numpy_dtype
from chainrule.backend.device import CPU, device
from chainrule.backend.int_wrap import fill_value
from chainrule.backend.layout import check_layout
from chainrule.ops import arrange, creation, indexing, linalg, pointwise, reduction, shape, transfer
from chainrule.ops import elementwise as ew
from chainrule.ops import registry as op_registry
from chainrule.ops._lift import lift
from chainrule.ops.elementwise import ADD, EXP, LOG, MUL, RELU, SIGMOID, SQRT, SUB, TANH
from chainrule.ops.inplace import has_tangent, inplace_binary, rebind, write


# -- arithmetic operators (the hot path: binary_method records tensor-tensor ops of
# one dtype directly; these functions handle scalars and mixed dtypes) ----------
def _general(op: Any, fn: Any) -> Any:
    """``self op other`` off the inlined path: other lifted, then ``op``, or ``fn`` (promoting) for two dtypes."""

    def general(self, other):
        if type(other) is not Tensor:
            other = lift(other, self)
        if self._array.dtype is not other._array.dtype:
            return fn(self, other)
        return apply2(op, self, other)

    return general


def _reflected(fn: Any) -> Any:
    """``other op self`` (``2 - x``): fn(other, self) with other lifted beside self."""
    return lambda self, other: fn(lift(other, self), self)


def _compare(fn: str):
    """==, <, ... and &, |, ^ (logical on bool tensors, bitwise on integer ones, as PyTorch): the
    table entry ``fn`` through ``apply`` (no gradient)."""

    def method(self, other):
        if isinstance(other, Tensor):
            return kernel(fn, self, other)
        if other is None or isinstance(other, (str, bytes, dict, set)):
            return NotImplemented  # as PyTorch: t == None is False, t < None a TypeError
        return kernel(fn, self, lift(other, self))

    return method


def _as_dtype(a: Any, where: str) -> np.dtype:
    try:
        return to_numpy_dtype(a)
    except TypeError as e:
        raise TypeError(f"{where}: expected a dtype, got {a!r} ({e})") from None


def _is_device_like(a: Any) -> bool:
    """A device, an integer (an accelerator index) or a string that is no dtype name ('cuda:0', 'mps',
    and typos like 'cdua', which then raise PyTorch's "Expected one of cpu, cuda, ..." RuntimeError)."""
    if isinstance(a, (device, int)) and not isinstance(a, (bool, np.integer)):
        return True
    if isinstance(a, str):
        try:
            to_numpy_dtype(a)
        except TypeError:
            return True
    return False


def parse_to_args(where: str, args: tuple, kwargs: dict) -> tuple:
    """The arguments of ``Tensor.to`` / ``Module.to`` -> (device, dtype, non_blocking, copy).

    PyTorch's three forms: ``to(dtype, ...)``, ``to(device=None, dtype=None, ...)`` and ``to(other, ...)``
    (other's dtype and device), each followed by ``non_blocking=False, copy=False``; ``memory_format`` is
    ignored (arrays here are always contiguous).  Anything else raises TypeError naming ``where``."""
    dev = kwargs.pop("device", None)
    dtype = kwargs.pop("dtype", None)
    flags = [kwargs.pop("non_blocking", None), kwargs.pop("copy", None)]
    kwargs.pop("memory_format", None)
    if kwargs:
        raise TypeError(f"{where}: unexpected keyword argument(s) {sorted(kwargs)}; "
                        "expected device, dtype, non_blocking, copy, memory_format")
    rest = list(args)
    if rest:
        first = rest.pop(0)
        if isinstance(first, Tensor):
            dtype, dev = first.dtype, first.device
        elif first is None or _is_device_like(first):
            dev = first if first is not None else dev
            if rest and (rest[0] is None or not isinstance(rest[0], (bool, np.bool_))):
                dtype = rest.pop(0)  # to(device, dtype, ...)
        else:
            dtype = first
    if len(rest) > 2 or not all(isinstance(a, (bool, np.bool_)) for a in rest):
        got = ", ".join(f"dtype {a}" if isinstance(a, np.dtype) else type(a).__name__ for a in args)
        raise TypeError(f"{where}: invalid combination of arguments ({got}); expected to(dtype, non_blocking=False, "
                        "copy=False), to(device=None, dtype=None, non_blocking=False, copy=False) or "
                        "to(tensor, non_blocking=False, copy=False)")
    for i, a in enumerate(rest):
        if flags[i] is not None:
            raise TypeError(f"{where}: got {('non_blocking', 'copy')[i]} both by position and by keyword")
        flags[i] = a
    return dev, dtype, bool(flags[0]), bool(flags[1])


def _cast(self: Tensor, dt: Any) -> Tensor:
    """self converted to dtype ``dt`` (self itself when it has that dtype already)."""
    dt = np.dtype(dt)
    if dt == self._array.dtype:
        return self
    return apply1(Cast(dt), self)


def _to(self, *args: Any, **kwargs: Any) -> Tensor:
    """``to(dtype)``, ``to(device, dtype)``, ``to(other)`` as PyTorch: self when nothing changes (unless
    ``copy=True``); a move to another device is a differentiable copy (``ops/transfer.py``)."""
    if not kwargs and len(args) == 1:  # the common x.to(cr.float64) and x.to('cpu'): skip the parsing
        a = args[0]
        if isinstance(a, np.dtype):
            return _cast(self, a)
        if (a is CPU or (type(a) is str and a == "cpu")) and type(self._array) is np.ndarray:
            return self
    dev, dtype, _, copy = parse_to_args("to()", args, kwargs)
    target = CPU if dev is None else (registry.target_device(dev, "to()") or CPU)
    dt = self._array.dtype if dtype is None else _as_dtype(dtype, "to()")
    out = self
    if dev is not None:
        if type(self._array) is np.ndarray:
            out = _cast(out, dt)  # cast where the values are (the CPU), then move
        out = transfer.move(out, target, "to()")
    out = _cast(out, dt)
    return _clone(self) if copy and out is self else out


def _cuda(self, device: Any = None, non_blocking: bool = False, memory_format: Any = None) -> Tensor:
    """``to('cuda')`` (or ``cuda:<device>``): raises unless a 'cuda' back end is registered."""
    return transfer.move(self, cuda_device(device, "cuda()"), "cuda()")


def cuda_device(dev: Any, where: str) -> device:
    """The device ``.cuda(dev)`` means (on a tensor or a module), checked to have a back end."""
    if dev is None or (isinstance(dev, (str, device)) and device(dev).type == "cpu"):
        dev = "cuda"
    elif isinstance(dev, int) and not isinstance(dev, bool):
        dev = f"cuda:{dev}"  # .cuda(1) means the second CUDA device
    d = registry.target_device(dev, where)
    assert d is not None  # (a CUDA device is never the CPU)
    return d


def _cpu(self, memory_format: Any = None) -> Tensor:
    return self if type(self._array) is np.ndarray else transfer.move(self, CPU, "cpu()")


class Cast(ew._Elementwise):
    """y = x converted to another dtype;  vjp: convert the adjoint back."""

    __slots__ = ("dtype",)
    name = "cast"
    saves_inputs = ()
    saves_output = False

    def __init__(self, dtype: np.dtype) -> None:
        self.dtype = dtype

    def forward(self, m, x):
        return x.astype(self.dtype)

    @property
    def differentiable(self):
        return self.dtype.kind in "fc"

    def vjp(self, m, need, g, y, x):
        return (m.astype(g, x.dtype),)

    def jvp(self, m, dxs, y, x):
        return dxs[0].astype(self.dtype)


def _clone(self, *, memory_format: Any = None) -> Tensor:
    """A copy (the gradient passes through).  ``memory_format`` is accepted as PyTorch's: the copy
    keeps NumPy's layout whichever is asked (see ``contiguous``)."""
    return apply1(Clone(), self)


class Clone(ew._Elementwise):
    """y = a copy of x;  dy/dx = 1."""

    name = "clone"
    saves_inputs = ()
    saves_output = False

    def forward(self, m, x):
        return x.copy()

    def vjp(self, m, need, g, y, x):
        return (g,)

    def jvp(self, m, dxs, y, x):
        return dxs[0]


def _view(self, *shp):
    if len(shp) == 1 and not isinstance(shp[0], (tuple, list, int)):
        return self.to(shp[0])  # x.view(dtype)
    return shape.reshape(self, *shp)


def _iter(self):
    if self.ndim == 0:
        raise TypeError("iteration over a 0-d tensor")
    for i in range(self.shape[0]):
        yield indexing.getitem(self, i)


def _inplace(fn):
    """self ← fn(self, other, ...) in place (``x.add_(y, alpha=2)``, ``x += y``), in self's dtype (``_same_kind``)."""

    def method(self, other, *args, **kwargs):  # kwargs: add_(y, alpha=2), div_(y, rounding_mode=...)
        dtype = self._array.dtype

        def run(a, b):
            res = fn(a, b, *args, **kwargs) if args or kwargs else fn(a, b)
            return res if res._array.dtype is dtype else _same_kind(res, dtype, f"{fn.__name__}_")

        return inplace_binary(self, run, other, f"{fn.__name__}_")

    return method


def _check_leaf(self, op):
    if self.requires_grad and self._op is None and STATE.enabled:
        raise RuntimeError(f"{op}: a leaf Variable that requires grad is being used in an in-place operation")


def _fill_(self, value):
    """Every element ← value.  On a tensor in the graph this is recorded (the old values get
    gradient 0), so that ``b.zero_()`` cuts b's gradient as in PyTorch."""
    _check_leaf(self, "fill_")
    if _recording(self):
        everywhere = Tensor._wrap(table_of((self,)).ones((), np.bool_))
        return rebind(self, lambda old: indexing.masked_fill(old, everywhere, value))
    self._array[...] = value._array if isinstance(value, Tensor) else fill_value(value, self._array.dtype)
    bump(self)
    return self


def _copy_(self, src):
    """self ← src (broadcast to self's shape, cast to its dtype); recorded when a graph is
    built (dL/dsrc = dL/dself summed over the broadcast axes, the old values get 0)."""
    _check_leaf(self, "copy_")
    if not isinstance(src, Tensor):
        src = Tensor._wrap(table_of((self,)).from_host(src))
    if not shape.broadcasts_to(src.shape, self.shape):
        raise RuntimeError(f"copy_: the source of shape {tuple(src.shape)} cannot be broadcast to {tuple(self.shape)}")
    if _recording(self) or _recording(src):
        s = src if src.dtype == self.dtype else src.to(self.dtype)
        everywhere = Tensor._wrap(table_of((self,)).ones((), np.bool_))
        return rebind(self, lambda old: ew.where(everywhere, s, old))
    self._array[...] = src._array
    bump(self)
    return self


def _recording(t):
    """True when an in-place change of t must be recorded in the graph (or its tangent updated)."""
    return (STATE.enabled and t.requires_grad) or has_tangent(t)


def _random_fill(draw):
    """An in-place fill with ``draw(rng, shape, *args)``, drawn on the host (one stream for every device)."""

    def method(self, *args, generator=None, **kwargs):
        self._array[...] = table_of((self,)).from_host(draw(creation._gen(generator), self.shape, *args, **kwargs))
        bump(self)
        return self

    return method


def _bernoulli_(self, p=0.5, *, generator=None):
    u = table_of((self,)).from_host(creation._gen(generator).random(self.shape))
    self._array[...] = u < (p._array if isinstance(p, Tensor) else p)
    bump(self)
    return self


# x.type() names the tensor's legacy class, as PyTorch's does ('torch.FloatTensor')
_LEGACY_TYPE = {"float32": "Float", "float64": "Double", "float16": "Half", "bfloat16": "BFloat16", "int64": "Long",
                "int32": "Int", "int16": "Short", "int8": "Char", "uint8": "Byte", "bool": "Bool"}


def _type(self, dtype=None):
    if dtype is None:
        name = str(self.dtype)
        return f"torch.{_LEGACY_TYPE[name]}Tensor" if name in _LEGACY_TYPE else name
    return _cast(self, _as_dtype(dtype, "type()"))


def _new_tensor(self, data, dtype=None, device=None, requires_grad=False):
    dev = self.device if device is None else (registry.target_device(device, "new_tensor()") or CPU)
    return creation.tensor(data, dtype=dtype or self.dtype, device=dev, requires_grad=requires_grad)


def _factory_options(layout: Any, pin_memory: bool, where: str) -> None:
    """The ``layout=`` (dense only) and ``pin_memory=`` (False only) keywords of the ``new_*`` methods."""
    creation._check_pin_memory(pin_memory, where)
    check_layout(layout, where)


def _new_filled(fill: Any, where: str):
    """``new_zeros`` / ``new_ones``: ``size`` in self's dtype unless ``dtype`` is given."""

    def method(self, *size, dtype=None, device=None, requires_grad=False, layout=None, pin_memory=False):
        _factory_options(layout, pin_memory, where)
        return _new_on(self, shape._shape_arg(size), fill, dtype, device, requires_grad, where)

    return method


def _caster(dt: Any) -> Any:
    """x.float(), x.long()...: x converted to ``dt``."""
    return lambda self: _cast(self, dt)


def _bfloat16(self: Any, memory_format: Any = None) -> Any:
    """x.bfloat16(): chainrule computes with NumPy, which has no bfloat16, so this raises the
    error ``x.to(torch.bfloat16)`` raises, which says to use float32 (or float16 for storage)."""
    from chainrule.backend.numpy_backend import bfloat16

    return self.to(bfloat16)


def _same_names(module: Any, names: str) -> dict:
    """Methods that are the functions of the same name in ``module`` (``x.floor()`` is ``pointwise.floor(x)``)."""
    return {n: getattr(module, n) for n in names.split()}


# -- in-place forms and the other methods' helpers ----------------------------------------------
def _same_kind(res: Tensor, dtype: np.dtype, where: str) -> Tensor:
    """An in-place result in self's dtype; a float result for an integer tensor raises, as in PyTorch."""
    if res.dtype == dtype:
        return res
    if not np.can_cast(res.dtype, dtype, "same_kind"):
        raise RuntimeError(f"{where}: result type {res.dtype} can't be cast to the desired output type {dtype}")
    return _cast(res, dtype)


def _inplace_fn(fn, where: str):
    """self ← fn(self, *args, **kwargs): written into self's memory, or self rebound to the recorded result."""

    def method(self, *args, **kwargs):
        if _recording(self) or any(isinstance(a, Tensor) and _recording(a) for a in args):
            _check_leaf(self, where)
            return rebind(self, lambda old: _same_kind(fn(old, *args, **kwargs), self.dtype, where), where)
        return write(self, _same_kind(fn(Tensor._wrap(self._array), *args, **kwargs), self.dtype, where), where)

    method.__name__ = where
    return method


def _fill_diagonal_(self, fill_value, wrap=False):
    """The main diagonal (all indices equal) ← fill_value; ``wrap`` restarts it below a tall matrix."""
    if self.ndim < 2 or (self.ndim > 2 and len(set(self.shape)) != 1):
        raise RuntimeError(f"fill_diagonal_: dimensions must be >= 2 and all of equal length, got {tuple(self.shape)}")
    m = table_of((self,))
    mask = m.zeros(self.shape, np.bool_)
    mask[(m.arange(min(self.shape)),) * self.ndim] = True
    if wrap and self.ndim == 2:  # every (cols + 1)-th element of the flattened matrix
        mask.reshape(-1)[m.arange(0, self.shape[0] * self.shape[1], self.shape[1] + 1)] = True
    return _inplace_fn(indexing.masked_fill, "fill_diagonal_")(self, Tensor._wrap(mask), fill_value)


def _new_full(self, size, fill_value, *, dtype=None, device=None, requires_grad=False, layout=None, pin_memory=False):
    _factory_options(layout, pin_memory, "new_full()")
    return _new_on(self, size, fill_value, dtype, device, requires_grad, "new_full()")


def _new_on(self, size, fill, dtype, device, requires_grad, where):
    """A new leaf of ``size`` filled with ``fill``, in self's dtype and on self's device unless given."""
    dt = self.dtype if dtype is None else _as_dtype(dtype, where)
    m, dev = creation.table_like(self, device, where)
    return creation._make(m.full(creation._size((size,)), fill, dt), requires_grad, dev)


def _multinomial(self, num_samples, replacement=False, *, generator=None):
    return creation.multinomial(self, num_samples, replacement, generator)


def _random_(self, low=0, high=None, *, generator=None):
    if high is None:  # random_(to): [0, to); random_(): [0, 2^mantissa] for floats, as PyTorch
        low, high = 0, low if low else (2 ** 24 if self.dtype == np.float32 else 2 ** 53)
    return _random_fill(lambda rng, shp: rng.integers(low, high, shp))(self, generator=generator)


def _reshape_inplace(fn, where: str):
    """t_, transpose_, squeeze_, unsqueeze_...: self takes the new shape (same elements)."""

    def method(self, *args, **kwargs):
        if _recording(self):
            _check_leaf(self, where)
            return rebind(self, lambda old: fn(old, *args, **kwargs), where, keep_shape=False)
        self._array = fn(Tensor._wrap(self._array), *args, **kwargs)._array
        return self

    method.__name__ = where
    return method


_ORDERS = {"channels_last": (0, 2, 3, 1), "channels_last_3d": (0, 2, 3, 4, 1)}  # memory order -> axes


def _is_contiguous(self, memory_format: Any = None) -> bool:
    """Whether the elements lie in memory in C order (``channels_last``: N, H, W, C of a 4-D
    tensor; ``channels_last_3d``: N, D, H, W, C of a 5-D one), dimensions of size 1 aside, as
    PyTorch answers from its strides.  chainrule keeps NumPy's layout, so this is NumPy's."""
    a = self._array
    order = _ORDERS.get(getattr(memory_format, "name", ""))
    if order is None:
        return bool(a.flags.c_contiguous)
    return a.ndim == len(order) and bool(a.transpose(order).flags.c_contiguous)


def _contiguous(self, memory_format: Any = None) -> Tensor:
    """``self`` where it is contiguous, else a C-ordered copy (gradients pass through).  A
    channels-last request asks for a layout chainrule does not keep: C order too."""
    return self if self._array.flags.c_contiguous else _clone(self)


def _data_ptr(self) -> int:
    """``Tensor.data_ptr``: the address of the first element (an int; 0 for an empty tensor), from
    the back end: views that start at the same element answer the same address."""
    a = self._array
    return int(table_of((a,), "data_ptr").data_ptr(a))


def _is_inference(self) -> bool:
    """``Tensor.is_inference``: whether this tensor was made inside ``inference_mode()`` (or is a
    view of such a tensor, or its ``detach()``), as PyTorch's."""
    return made_in_inference(self)


def _stride(self, dim=None):
    """Element strides of the array (NumPy's byte strides / itemsize)."""
    st = tuple(s // self._array.itemsize for s in self._array.strides)
    return st if dim is None else st[dim]


_BINDINGS = {
    **_same_names(reduction, """
        sum mean prod norm max min amax amin var std logsumexp softmax log_softmax argmax argmin any all
    """),
    **_same_names(shape, """
        reshape flatten unflatten transpose t squeeze unsqueeze expand_as broadcast_to split chunk
        unbind flip movedim permute expand repeat
    """),
    **_same_names(pointwise, """
        div divide true_divide floor_divide positive reciprocal rsqrt square sgn signbit floor ceil
        trunc fix round frac sinh cosh tan asin arcsin acos arccos atan arctan asinh arcsinh acosh
        arccosh atanh arctanh atan2 arctan2 log2 log10 exp2 expm1 erf erfc erfinv logit xlogy logaddexp
        logaddexp2 hypot lerp fmod remainder float_power clamp_min clamp_max addcmul addcdiv nan_to_num
        heaviside eq ne not_equal gt greater ge greater_equal lt less le less_equal logical_and
        logical_or logical_xor logical_not isnan isinf isfinite isposinf isneginf isreal isclose
        allclose equal fmax fmin copysign deg2rad rad2deg sinc bitwise_and bitwise_or bitwise_xor
        bitwise_not bitwise_left_shift bitwise_right_shift gcd lcm lgamma digamma mvlgamma multiply
        subtract negative absolute
    """),
    **_same_names(arrange, """
        tril triu diagonal diag_embed diag diagflat trace sort argsort msort topk kthvalue median
        quantile cummax cummin cumsum cumprod logcumsumexp diff roll narrow select swapaxes swapdims
        moveaxis ravel repeat_interleave tensor_split hsplit vsplit dsplit fliplr flipud rot90
        masked_select take nonzero argwhere count_nonzero index_add index_copy index_fill index_reduce scatter
        bincount unique unique_consecutive aminmax nansum nanmean inner vdot mv addmm addmv addr baddbmm
        addbmm kron cross histc masked_scatter index_put select_scatter slice_scatter diagonal_scatter
        dist cov corrcoef mode scatter_reduce nanmedian sum_to_size is_floating_point is_complex is_signed is_nonzero
        is_same_size split_with_sizes unsafe_split unsafe_chunk
    """),
    **_same_names(ew, """
        add sub mul pow neg log1p abs sign sin cos maximum minimum clamp
    """),
    **_same_names(linalg, """
        matmul mm bmm dot outer
    """),
    **_same_names(indexing, """
        gather index_select masked_fill scatter_add take_along_dim
    """),
    "bfloat16": _bfloat16,
    **{name: _caster(dt) for name, dt in [
        ("float", np.float32), ("double", np.float64), ("half", np.float16), ("long", np.int64), ("int", np.int32),
        ("bool", np.bool_), ("byte", np.uint8), ("char", np.int8), ("short", np.int16),
    ]},
    **{f"__{name}__": binary_method(op, _general(op, fn)) for name, op, fn in [
        ("add", ADD, ew.add), ("sub", SUB, ew.sub), ("mul", MUL, ew.mul),
    ]},
    **{f"__r{name}__": _reflected(fn) for name, fn in [
        ("add", ew.add), ("sub", ew.sub), ("mul", ew.mul), ("truediv", ew.div), ("pow", ew.pow),
        ("matmul", linalg.matmul), ("floordiv", pointwise.floor_divide), ("mod", pointwise.remainder),
    ]},
    **{f"__i{name}__": _inplace(fn) for name, fn in [
        ("add", ew.add), ("sub", ew.sub), ("mul", ew.mul), ("truediv", ew.div),
    ]},
    **{f"__{name}__": _compare(fn) for name, fn in [
        ("eq", "equal"), ("ne", "not_equal"), ("lt", "less"), ("le", "less_equal"), ("gt", "greater"),
        ("ge", "greater_equal"), ("and", "bitwise_and"), ("rand", "bitwise_and"), ("or", "bitwise_or"),
        ("ror", "bitwise_or"), ("xor", "bitwise_xor"), ("rxor", "bitwise_xor"),
    ]},
    "__truediv__": ew.div,
    "__pow__": ew.pow,
    "__matmul__": linalg.matmul,
    "__neg__": ew.neg,
    "__pos__": lambda self: self,
    "__abs__": ew.abs,
    "__floordiv__": pointwise.floor_divide,
    "__mod__": pointwise.remainder,
    # shifts of integer tensors (x << 1, 1 << x, x <<= 1), as PyTorch's
    "__lshift__": lambda self, other: pointwise.bitwise_left_shift(self, lift(other, self)),
    "__rshift__": lambda self, other: pointwise.bitwise_right_shift(self, lift(other, self)),
    "__rlshift__": _reflected(pointwise.bitwise_left_shift),
    "__rrshift__": _reflected(pointwise.bitwise_right_shift),
    "__ilshift__": _inplace(pointwise.bitwise_left_shift),
    "__irshift__": _inplace(pointwise.bitwise_right_shift),
    "__invert__": lambda self: kernel("invert", self),  # (logical not on bool tensors)
    "__getitem__": indexing.getitem,
    "__setitem__": indexing.setitem,
    "__iter__": _iter,
    # math
    **{name: unary_method(op, getattr(ew, name)) for name, op in [
        ("exp", EXP), ("log", LOG), ("sqrt", SQRT), ("tanh", TANH), ("sigmoid", SIGMOID), ("relu", RELU),
    ]},
    "clip": ew.clamp,
    "where": lambda self, condition, other: ew.where(condition, self, other),
    "polygamma": lambda self, n: pointwise.polygamma(n, self),
    "multinomial": _multinomial,
    "bernoulli": lambda self, p=None, *, generator=None: _bernoulli_(self.new_zeros(self.shape),
                                                                     self if p is None else p, generator=generator),
    # shape
    "view": _view,
    **dict.fromkeys(["view_as", "reshape_as"], lambda self, other: shape.reshape(self, other.shape)),
    "T": property(lambda self: shape.permute(self, *reversed(range(self.ndim))) if self.ndim >= 2 else self),
    "mT": property(lambda self: shape.transpose(self, -2, -1)),
    "tile": lambda self, *dims: arrange.tile(self, shape._shape_arg(dims)),
    "ger": linalg.outer,
    "unfold": arrange.unfold_windows,
    # dtypes, devices, sizes, memory, copies
    "to": _to,
    "type": _type,
    "type_as": lambda self, other: _cast(self, other.dtype),
    "cpu": _cpu,
    "cuda": _cuda,
    "clone": _clone,
    "new_tensor": _new_tensor,
    "new_zeros": _new_filled(0, "new_zeros()"),
    "new_ones": _new_filled(1, "new_ones()"),
    "new_empty": _new_filled(0, "new_empty()"),
    "new_full": _new_full,
    "nelement": lambda self: self.numel(),
    "ndimension": lambda self: self.ndim,
    "contiguous": _contiguous,
    "is_contiguous": _is_contiguous,
    "is_cpu": property(lambda self: True),
    "get_device": lambda self: -1,
    "element_size": lambda self: self._array.itemsize,
    "itemsize": property(lambda self: self._array.itemsize),
    "nbytes": property(lambda self: self._array.nbytes),
    "stride": _stride,
    "storage_offset": lambda self: 0,
    "data_ptr": _data_ptr,
    "const_data_ptr": _data_ptr,
    "is_inference": _is_inference,
    # in place
    **{f"{name}_": _inplace(fn) for name, fn in [
        ("add", ew.add), ("sub", ew.sub), ("mul", ew.mul), ("div", pointwise.div), ("pow", ew.pow),
    ]},
    "zero_": lambda self: _fill_(self, 0),
    "fill_": _fill_,
    "copy_": _copy_,
    "fill_diagonal_": _fill_diagonal_,
    "polygamma_": _inplace_fn(lambda x, n: pointwise.polygamma(n, x), "polygamma_"),
    "uniform_": _random_fill(lambda rng, shp, a=0.0, b=1.0: rng.uniform(a, b, shp)),
    "normal_": _random_fill(lambda rng, shp, mean=0.0, std=1.0: rng.standard_normal(shp) * std + mean),
    "exponential_": _random_fill(lambda rng, shp, lambd=1.0: rng.exponential(1.0 / lambd, shp)),
    "log_normal_": _random_fill(lambda rng, shp, mean=1.0, std=2.0: rng.lognormal(mean, std, shp)),
    "cauchy_": _random_fill(lambda rng, shp, median=0.0, sigma=1.0: median + sigma * rng.standard_cauchy(shp)),
    "geometric_": _random_fill(lambda rng, shp, p: rng.geometric(p, shp)),
    "bernoulli_": _bernoulli_,
    "random_": _random_,
    **{f"{name}_": _reshape_inplace(fn, f"{name}_") for name, fn in [
        ("t", shape.t), ("transpose", shape.transpose), ("swapaxes", shape.transpose), ("swapdims", shape.transpose),
        ("squeeze", shape.squeeze), ("unsqueeze", shape.unsqueeze),
    ]},
}
# the in-place forms (x.exp_()): self <- f(self), for the same-shape ops (t_, squeeze_... are above)
_INPLACE = """
    exp log log1p sqrt rsqrt abs neg sign sin cos tanh sigmoid relu square reciprocal floor ceil trunc
    round frac sinh cosh tan asin acos atan log2 log10 exp2 expm1 erf erfc erfinv logit nan_to_num
    clamp_min clamp_max tril triu fmod remainder atan2 hypot xlogy float_power negative sgn fix cumsum
    cumprod clip eq ne lt le gt ge logical_not logical_and logical_or logical_xor multiply subtract
    true_divide divide floor_divide absolute acosh asinh atanh arccos arcsin arctan arccosh arcsinh
    arctanh arctan2 addmm addmv addr baddbmm addbmm greater greater_equal less less_equal not_equal
    heaviside fmax fmin copysign deg2rad rad2deg sinc bitwise_and bitwise_or bitwise_xor bitwise_not
    bitwise_left_shift bitwise_right_shift gcd lcm addcmul addcdiv lerp index_add index_copy index_fill
    scatter scatter_add masked_scatter index_put lgamma digamma mvlgamma scatter_reduce clamp masked_fill
    index_reduce
"""
for _name in _INPLACE.split():
    _BINDINGS[_name + "_"] = _inplace_fn(_BINDINGS[_name], _name + "_")
for _name, _fn in op_registry.METHODS.items():  # ops added with ops.registry.register (HACKING.md's recipe)
    _BINDINGS[_name] = _fn
    _BINDINGS[_name + "_"] = _inplace_fn(_fn, _name + "_")
for _name, _fn in _BINDINGS.items():
    setattr(Tensor, _name, _fn)
# (setattr does not reset __hash__ as an __eq__ in a class body would: Tensor's body sets it anyway)
