"""``torch.testing``: ``assert_close`` (and the older ``assert_allclose``) and ``make_tensor``, with
PyTorch's defaults and messages, for the tests PyTorch programs carry.

Two values are close where ``|actual - expected| <= atol + rtol * |expected|`` elementwise, with
the tolerances of the pair's dtype unless both are given:

=================  ========  ======
dtype              rtol      atol
=================  ========  ======
float16            1e-3      1e-5
bfloat16           1.6e-2    1e-5
float32            1.3e-6    1e-5
float64            1e-7      1e-7
complex64          1.3e-6    1e-5
complex128         1e-7      1e-7
integers, bool     0         0
=================  ========  ======

Python floats count as float64, ints as int64.  Sequences and mappings are compared item by
item (the message says which item failed); tensors also compare their shape and, unless
``check_dtype=False`` (then both go to their common dtype first), their dtype.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any, Callable

import numpy as np

import chainrule as cr
from chainrule.autograd.tensor import Tensor

__all__ = ["assert_allclose", "assert_close", "make_tensor"]

_TOLERANCES = {  # dtype name -> (rtol, atol)
    "float16": (1e-3, 1e-5), "bfloat16": (1.6e-2, 1e-5), "float32": (1.3e-6, 1e-5), "float64": (1e-7, 1e-7),
    "complex64": (1.3e-6, 1e-5), "complex128": (1e-7, 1e-7),
}
_ALLCLOSE = {"float16": (1e-3, 1e-3), "float32": (1e-4, 1e-5), "float64": (1e-5, 1e-8)}  # assert_allclose's own
_SCALARS = (bool, int, float, complex)


def _name(dtype: Any) -> str:
    return getattr(dtype, "name", str(dtype))


def _tolerances(*dtypes: Any, table: dict = _TOLERANCES) -> tuple[float, float]:
    """The loosest of the dtypes' (rtol, atol) in ``table``, as PyTorch takes them for a pair."""
    pairs = [table.get(_name(d), (0.0, 0.0)) for d in dtypes]
    return max(p[0] for p in pairs), max(p[1] for p in pairs)


def _array(t: Any) -> np.ndarray:
    return np.asarray(t.detach().numpy() if isinstance(t, Tensor) else t)


def _fail(msg: str | Callable[[str], str] | None, text: str, where: str) -> AssertionError:
    if where:
        text += f"\n\nThe failure occurred for item {where}"
    if callable(msg):
        return AssertionError(msg(text))
    return AssertionError(text if msg is None else msg)


def _mismatch(a: np.ndarray, e: np.ndarray, rtol: float, atol: float, equal_nan: bool, scalar: bool) -> str | None:
    """None where ``a`` and ``e`` (one shape) are close, else PyTorch's description of where not.
    The differences are computed in the pair's dtype (integers and bool in float32, PyTorch's
    default dtype), as PyTorch reports them."""
    exact = rtol == 0 and atol == 0
    ct = np.result_type(a.dtype, e.dtype)
    if ct.kind in "biu":
        ct = np.dtype(np.float32)
    af, ef = a.astype(ct, copy=False), e.astype(ct, copy=False)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        close = (a == e) if exact and a.dtype.kind in "biu" and e.dtype.kind in "biu" else \
            (af == ef) | (np.isfinite(af) & np.isfinite(ef) & (np.abs(af - ef) <= atol + rtol * np.abs(ef)))
        if equal_nan:
            close = close | (np.isnan(af) & np.isnan(ef))
        if np.all(close):
            return None
        diff = np.where(af == ef, 0, np.abs(af - ef))  # (inf against inf is no difference)
        rel = diff / np.abs(ef)
    kind = "equal" if exact else "close"

    def allowed(t: float) -> str:
        return "" if exact else f" (up to {t} allowed)"

    def number(v: Any) -> str:
        return str(int(v)) if a.dtype.kind in "biu" and e.dtype.kind in "biu" else repr(float(v))

    if scalar:
        return (f"Scalars are not {kind}!\n\nExpected {e.item()} but got {a.item()}.\n"
                f"Absolute difference: {number(diff.item())}{allowed(atol)}\n"
                f"Relative difference: {float(rel.item())!r}{allowed(rtol)}")

    def worst(d: np.ndarray) -> tuple:
        return tuple(int(i) for i in np.unravel_index(int(np.argmax(np.where(close, -1.0, np.nan_to_num(
            d.astype(np.float64), nan=np.inf)))), a.shape))

    bad = int(np.size(close) - np.count_nonzero(close))
    at_abs, at_rel = worst(diff), worst(rel)
    return (f"Tensor-likes are not {kind}!\n\nMismatched elements: {bad} / {a.size} ({100 * bad / a.size:.1f}%)\n"
            f"Greatest absolute difference: {number(diff[at_abs])} at index {at_abs}{allowed(atol)}\n"
            f"Greatest relative difference: {float(rel[at_rel])!r} at index {at_rel}{allowed(rtol)}")


def _compare(actual: Any, expected: Any, rtol: float | None, atol: float | None, equal_nan: bool, check_dtype: bool,
             msg: Any, where: str) -> None:
    if actual is None and expected is None:
        return
    tensor_like = (Tensor, np.ndarray)
    if isinstance(actual, tensor_like) and isinstance(expected, tensor_like) \
            and isinstance(actual, Tensor) == isinstance(expected, Tensor):
        a, e = _array(actual), _array(expected)
        da, de = (actual.dtype, expected.dtype)
        if a.shape != e.shape:
            raise _fail(None, f"The values for attribute 'shape' do not match: torch.Size({list(a.shape)}) != "
                        f"torch.Size({list(e.shape)}).", where)
        if check_dtype and _name(da) != _name(de):
            raise _fail(None, f"The values for attribute 'dtype' do not match: torch.{_name(da)} != torch.{_name(de)}.",
                        where)
        if not check_dtype:
            common = np.result_type(a, e)
            a, e, da, de = a.astype(common), e.astype(common), common, common
        r, t = _tolerances(da, de) if rtol is None or atol is None else (rtol, atol)
        text = _mismatch(a, e, r, t, equal_nan, scalar=a.ndim == 0)
        if text is not None:
            raise _fail(msg, text, where)
        return
    if isinstance(actual, _SCALARS) and isinstance(expected, _SCALARS):
        if check_dtype and type(actual) is not type(expected):
            raise _fail(None, f"The (d)types do not match: {type(actual)} != {type(expected)}.", where)
        kinds = {bool: "bool", int: "int64", float: "float64", complex: "complex128"}
        r, t = _tolerances(kinds[type(actual)], kinds[type(expected)]) if rtol is None or atol is None \
            else (rtol, atol)
        text = _mismatch(np.asarray(actual), np.asarray(expected), r, t, equal_nan, scalar=True)
        if text is not None:
            raise _fail(msg, text, where)
        return
    if isinstance(actual, Mapping) and isinstance(expected, Mapping):
        if set(actual) != set(expected):
            missing = sorted(set(expected) - set(actual), key=repr)
            extra = sorted(set(actual) - set(expected), key=repr)
            raise _fail(None, f"The keys of the mappings do not match:\nMissing keys in the actual mapping: {missing}\n"
                        f"Additional keys in the actual mapping: {extra}", where)
        for k in expected:
            _compare(actual[k], expected[k], rtol, atol, equal_nan, check_dtype, msg, f"{where}[{k!r}]")
        return
    if isinstance(actual, Sequence) and isinstance(expected, Sequence) \
            and not isinstance(actual, str) and not isinstance(expected, str):
        if len(actual) != len(expected):
            raise _fail(None, f"The length of the sequences mismatch: {len(actual)} != {len(expected)}", where)
        for i, (x, y) in enumerate(zip(actual, expected)):
            _compare(x, y, rtol, atol, equal_nan, check_dtype, msg, f"{where}[{i}]")
        return
    raise TypeError(f"No comparison pair was able to handle inputs of type {type(actual)} and {type(expected)}.")


def assert_close(actual: Any, expected: Any, *, allow_subclasses: bool = True, rtol: float | None = None,
                 atol: float | None = None, equal_nan: bool = False, check_device: bool = True,
                 check_dtype: bool = True, check_layout: bool = True, check_stride: bool = False,
                 msg: str | Callable[[str], str] | None = None) -> None:
    """``torch.testing.assert_close``: raise ``AssertionError`` where ``actual`` and ``expected``
    (tensors, NumPy arrays, Python numbers, or sequences and mappings of them) are not close
    (the module docstring gives the rule and the default tolerances).  ``msg`` replaces the
    message (a callable gets it and returns the one to raise).  Devices are all the CPU, and
    strides are not compared (PyTorch's default)."""
    if (rtol is None) != (atol is None):
        raise ValueError(f"Both 'rtol' and 'atol' must be either specified or omitted, but got no "
                         f"{'atol' if atol is None else 'rtol'}.")
    _compare(actual, expected, rtol, atol, equal_nan, check_dtype, msg, "")


def assert_allclose(actual: Any, expected: Any, rtol: float | None = None, atol: float | None = None,
                    equal_nan: bool = True, msg: str = "") -> None:
    """``torch.testing.assert_allclose`` (deprecated in PyTorch for :func:`assert_close`, with a
    ``FutureWarning`` as there): ``expected`` made a tensor of ``actual``'s dtype where it is not a
    tensor, dtypes not checked, NaN equal to NaN by default, and its own default tolerances
    (float16 1e-3 and 1e-3, float32 1e-4 and 1e-5, float64 1e-5 and 1e-8, others exact)."""
    warnings.warn("`torch.testing.assert_allclose()` is deprecated since 1.12 and will be removed in a future "
                  "release. Please use `torch.testing.assert_close()` instead.", FutureWarning, stacklevel=2)

    if not isinstance(actual, Tensor):
        actual = cr.as_tensor(np.asarray(actual))
    if not isinstance(expected, Tensor):
        expected = cr.as_tensor(np.asarray(expected, dtype=_array(actual).dtype))
    if rtol is None and atol is None:
        rtol, atol = _tolerances(actual.dtype, expected.dtype, table=_ALLCLOSE)
    assert_close(actual, expected, rtol=rtol, atol=atol, equal_nan=equal_nan, check_dtype=False, msg=msg or None)


def make_tensor(*shape: Any, dtype: Any, device: Any = None, low: float | None = None, high: float | None = None,
                requires_grad: bool = False, noncontiguous: bool = False, exclude_zero: bool = False,
                memory_format: Any = None) -> Tensor:
    """``torch.testing.make_tensor``: a tensor of ``shape`` with values drawn uniformly from
    [low, high) (floating: [-9, 9) by default; integers [-9, 10), unsigned from 0; bool: True or
    False), from chainrule's default generator.  ``exclude_zero`` moves zeros to the dtype's
    smallest normal number (1 for integers); ``noncontiguous`` returns a strided view."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    shape = tuple(int(s) for s in shape)
    dt = np.dtype(dtype) if _name(dtype) != "bfloat16" else np.dtype(np.float32)
    if requires_grad and dt.kind not in "fc":
        raise ValueError(f"`requires_grad=True` is not supported for boolean and integral dtypes, but got "
                         f"dtype=torch.{_name(dtype)}")
    if dt.kind == "b":
        values = cr.randint(0, 2, shape).numpy().astype(bool)
    else:
        lo = (0.0 if dt.kind == "u" else -9.0) if low is None else float(low)
        hi = (10.0 if dt.kind in "iu" else 9.0) if high is None else float(high)
        if math.isnan(lo) or math.isnan(hi):
            raise ValueError(f"`low` and `high` cannot be NaN, but got low={low} and high={high}")
        if lo >= hi:
            raise ValueError(f"`low` must be less than `high`, but got {lo:g} >= {hi:g}")
        if dt.kind in "iu":
            values = cr.randint(int(math.ceil(lo)), int(math.ceil(hi)), shape).numpy().astype(dt)
        else:
            u = cr.rand(*shape, dtype=cr.float64).numpy()
            values = (lo + (hi - lo) * u).astype(dt if dt.kind == "f" else np.float64)
            if dt.kind == "c":
                v = cr.rand(*shape, dtype=cr.float64).numpy()
                values = (values + 1j * (lo + (hi - lo) * v)).astype(dt)
        if exclude_zero:
            values[values == 0] = 1 if dt.kind in "iu" else np.finfo(dt).tiny
    if noncontiguous and values.size > 1:  # every other element of a doubled last axis
        wide = np.repeat(values, 2, axis=-1)
        t = cr.as_tensor(wide)[..., ::2]
    else:
        t = cr.as_tensor(np.ascontiguousarray(values))
    if _name(dtype) == "bfloat16":
        t = t.to(dtype)
    if requires_grad:
        t.requires_grad_(True)
    return t
