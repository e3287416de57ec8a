"""Tensor methods of the functions added for issue 12's coverage (``x.det()``, ``x.svd()``,
``x.renorm_(...)``...): each is the top-level function with ``self`` as its first argument.
Bound here, next to nothing else, so that ``ops/methods.py`` keeps the core table; declared in
``autograd/_tensor_methods.pyi`` like every other method.
"""

from __future__ import annotations

import importlib
from typing import Any, Callable

from chainrule import _torch_extra as X
from chainrule.autograd.tensor import Tensor
from chainrule.ops.inplace import inplace_binary


def _bind(name: str, fn: Callable[..., Any]) -> None:
    def method(self: Tensor, *args: Any, **kwargs: Any) -> Any:
        return fn(self, *args, **kwargs)

    method.__name__ = method.__qualname__ = name
    method.__doc__ = f"``x.{name}(...)`` = ``chainrule.{getattr(fn, '__name__', name)}(x, ...)``."
    setattr(Tensor, name, method)


def _bind_inplace(name: str, fn: Callable[..., Tensor], other_arg: int | None = None) -> None:
    """``x.<name>_(...)``: x ⟵ fn(x, ...) in place (ops/inplace.py's rules); ``other_arg`` is the
    position of a Tensor argument whose gradient must be recorded too (put_'s source)."""

    def method(self: Tensor, *args: Any, **kwargs: Any) -> Tensor:
        other = args[other_arg] if other_arg is not None and len(args) > other_arg else None
        return inplace_binary(self, lambda x, _o: fn(x, *args, **kwargs), other, name)

    method.__name__ = method.__qualname__ = name
    method.__doc__ = f"In-place ``{name[:-1]}``."
    setattr(Tensor, name, method)


def _functional(name: str) -> Callable[..., Any]:
    def fn(*args: Any, **kwargs: Any) -> Any:
        return getattr(importlib.import_module("chainrule.nn.functional"), name)(*args, **kwargs)

    fn.__name__ = name
    return fn


for _name in ("det", "logdet", "slogdet", "inverse", "cholesky", "cholesky_inverse", "matrix_power", "matrix_exp",
              "pinverse", "svd", "qr", "frexp", "nextafter", "nanquantile", "renorm", "put", "histogram"):
    _bind(_name, getattr(X, _name))
_bind("cholesky_solve", X.cholesky_solve)  # x.cholesky_solve(L): x is B
_bind("triangular_solve", X.triangular_solve)  # x.triangular_solve(A): x is b
_bind("lu", X.lu)
for _name in ("geqrf", "orgqr", "ormqr"):
    _bind(_name, getattr(X, _name))
_bind("lu_solve", X.lu_solve)  # x.lu_solve(LU_data, LU_pivots): x is b
_bind("hardshrink", _functional("hardshrink"))
_bind("prelu", _functional("prelu"))
_bind_inplace("renorm_", X.renorm)
_bind_inplace("put_", X.put, other_arg=1)
_bind_inplace("nextafter_", X.nextafter)
_bind("igamma", X.igamma)
_bind("igammac", X.igammac)
_bind_inplace("igamma_", X.igamma, other_arg=0)
_bind_inplace("igammac_", X.igammac, other_arg=0)
_bind("resize_as_", X.resize_as_)  # (x itself is resized: the function works in place)

BOUND = ("det", "logdet", "slogdet", "inverse", "cholesky", "cholesky_inverse", "matrix_power", "matrix_exp",
         "pinverse", "svd", "qr", "frexp", "nextafter", "nanquantile", "renorm", "put", "histogram", "cholesky_solve",
         "triangular_solve", "lu", "lu_solve", "geqrf", "orgqr", "ormqr",
         "hardshrink", "prelu", "renorm_", "put_", "nextafter_", "igamma", "igammac", "igamma_", "igammac_",
         "resize_as_")
