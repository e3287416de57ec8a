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
* ``specialize_float`` (False): True makes a float argument a constant of the plan (a capture
  per value) wherever it is used; False lets one the function gives only to tensor operations
  be an input of the plan (``scalars.py``). Read at each capture.

Accepted, without effect here, because the capture already does what they ask or there is
nothing they could change: ``dynamic_shapes``, ``automatic_dynamic_shapes``,
``assume_static_by_default`` (shapes are always guarded: a new shape is a new kind of call),
``capture_scalar_outputs``, ``capture_dynamic_output_shape_ops`` (``.item()`` becomes a value
guard; a shape that follows values is guarded), ``specialize_int`` (int arguments are
constants of the plan, guarded), ``optimize_ddp`` (there are no graphs to split by bucket).
Any other name is an ``AttributeError``, as in PyTorch.

:class:`set_stance` (``torch.compiler.set_stance``) says how compiled functions behave:
normally, eagerly, or without capturing new kinds of call.
"""

from __future__ import annotations

import contextlib
from typing import Any

_ALIASES = {"cache_size_limit": "recompile_limit", "accumulated_cache_size_limit": "accumulated_recompile_limit"}
_DEFAULTS: dict[str, Any] = {
    "recompile_limit": 8, "accumulated_recompile_limit": 256, "disable": False,
    "suppress_errors": False, "verbose": False, "specialize_float": False,
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



_STANCES = ("default", "force_eager", "eager_on_recompile", "fail_on_recompile", "eager_then_compile")
STANCE = ["default"]  # (read by every compiled function's call: api.py)


class set_stance(contextlib.ContextDecorator):  # noqa: N801  (PyTorch's name: a function to its users)
    """``torch.compiler.set_stance``: how every compiled function behaves, from this call on, or
    within a ``with`` block, or during the calls of a decorated function (then put back).

    * ``"default"``: capture new kinds of call, replay plans whose guard holds;
    * ``"force_eager"``: run the functions eagerly, capturing and replaying nothing;
    * ``"eager_on_recompile"``: replay plans whose guard holds, but run a call eagerly where it
      would capture a new kind of call for a function that has one already (its first capture
      is not a recompile);
    * ``"fail_on_recompile"``: the same, raising ``RuntimeError`` instead;
    * ``"eager_then_compile"``: a function's first call runs eagerly, the calls after it as
      by default.

    ``skip_guard_eval_unsafe`` is accepted; the guards still run (skipping them could replay
    a stale plan).  ``force_backend`` goes with ``"default"`` only, as in PyTorch; there is one
    back end here."""

    def __init__(self, stance: str = "default", *, skip_guard_eval_unsafe: bool = False,
                 force_backend: Any = None) -> None:
        if stance not in _STANCES:
            raise ValueError(f"torch.compiler.set_stance: unknown stance {stance!r}; expected one of {_STANCES}")
        if force_backend is not None and stance != "default":
            raise ValueError("torch.compiler.set_stance: force_backend can only be used with the 'default' stance")
        self.stance = stance
        self.prev = STANCE[0]  # (what a ``with`` block's end, or a decorated call's, puts back)
        STANCE[0] = stance

    def __enter__(self) -> set_stance:
        STANCE[0] = self.stance
        return self

    def __exit__(self, *exc: Any) -> None:
        STANCE[0] = self.prev

    def __call__(self, fn: Any) -> Any:  # a decorator: the stance holds during fn's calls only
        STANCE[0] = self.prev
        return super().__call__(fn)
