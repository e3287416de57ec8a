"""The compiled mode's settings, as PyTorch's ``torch._dynamo.config`` names them.

Programs written for PyTorch set these before they compile (``torch._dynamo.config.
cache_size_limit = 64``, ``suppress_errors = True``). The settings that mean something here
are read when they matter (a new kind of call, each call), as PyTorch reads them:

* ``recompile_limit`` (old name ``cache_size_limit``, default 8): the kinds of call one compiled
  function captures; after that, new kinds run eagerly, with one warning. ``compile``'s
  ``recompile_limit=`` argument, or ``options={"cache_size_limit": n}``, sets it for one function.
* ``accumulated_recompile_limit`` (``accumulated_cache_size_limit``, 256): the same, over all
  compiled functions together.
* ``disable`` (False): every compiled function runs its function eagerly.
* ``suppress_errors`` (False): an error of the compiler itself while it makes a plan (not one
  the function raised) makes that kind of call run eagerly, with a warning, instead of raising.
* ``verbose`` (False): such a warning carries the error's traceback.

Accepted, without effect here, because the capture already does what they ask or there is
nothing they could change: ``dynamic_shapes``, ``automatic_dynamic_shapes``,
``assume_static_by_default`` (shapes are always guarded: a new shape is a new kind of call),
``capture_scalar_outputs``, ``capture_dynamic_output_shape_ops`` (``.item()`` becomes a value
guard; a shape that follows values is guarded), ``specialize_int`` (Python numbers are
constants of the plan, guarded), ``optimize_ddp`` (there are no graphs to split by bucket).
Any other name is an ``AttributeError``, as in PyTorch.
"""

from __future__ import annotations

import contextlib
from typing import Any

_ALIASES = {"cache_size_limit": "recompile_limit", "accumulated_cache_size_limit": "accumulated_recompile_limit"}
_DEFAULTS: dict[str, Any] = {
    "recompile_limit": 8, "accumulated_recompile_limit": 256, "disable": False,
    "suppress_errors": False, "verbose": False,
    # accepted without effect (module docstring)
    "dynamic_shapes": True, "automatic_dynamic_shapes": True, "assume_static_by_default": True,
    "capture_scalar_outputs": False, "capture_dynamic_output_shape_ops": False, "specialize_int": False,
    "optimize_ddp": True,
}


class Config:
    """``torch._dynamo.config``: attributes with the names above, and :meth:`patch`."""

    def __init__(self) -> None:
        object.__setattr__(self, "_values", dict(_DEFAULTS))

    def _name(self, name: str) -> str:
        name = _ALIASES.get(name, name)
        if name not in _DEFAULTS:
            known = sorted(set(_DEFAULTS) | set(_ALIASES))
            raise AttributeError(f"torch._dynamo.config has no setting {name!r} in chainrule; known: {known}")
        return name

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return self._values[self._name(name)]

    def __setattr__(self, name: str, value: Any) -> None:
        self._values[self._name(name)] = value

    def patch(self, changes: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        """Settings changed within a ``with`` block, or for the calls of a decorated function,
        then put back (``torch._dynamo.config.patch(suppress_errors=True)``)."""
        changes = {**(changes or {}), **kwargs}
        names = {self._name(k): v for k, v in changes.items()}  # (an unknown name fails here, before anything changes)
        return _Patch(self, names)

    def __repr__(self) -> str:
        return f"torch._dynamo.config (chainrule): {self._values}"


class _Patch(contextlib.ContextDecorator):
    def __init__(self, config: Config, names: dict[str, Any]) -> None:
        self.config, self.names = config, names
        self.saved: list[dict[str, Any]] = []

    def __enter__(self) -> _Patch:
        values = self.config._values
        self.saved.append({k: values[k] for k in self.names})
        values.update(self.names)
        return self

    def __exit__(self, *exc: Any) -> None:
        self.config._values.update(self.saved.pop())


config = Config()

