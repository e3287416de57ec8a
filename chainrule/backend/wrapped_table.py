"""A back-end table made from ``ArrayMath``'s by wrapping each of its entries.

A back end whose arrays wrap NumPy's (the compiled mode's traced arrays, the test suite's
strict arrays) needs the same table as NumPy's, each entry doing one more thing around the
NumPy call: record it, or unwrap the arguments and wrap the result.  :class:`WrappedTable`
finds an entry of ``ArrayMath`` by name on first use, wraps it with the subclass's
:meth:`wrap_entry` and keeps the wrapped function, so a new entry of ``ArrayMath`` is there
without a line here.  Constants and exception classes (``LinAlgError``) are passed through.
"""

from __future__ import annotations

from typing import Any, Callable

from chainrule.backend.numpy_backend import ArrayMath


class WrappedTable:
    """``ArrayMath``'s entries, each wrapped once by :meth:`wrap_entry` (see the module docstring)."""

    is_tensor = False

    def wrap_entry(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        """The table's ``name`` entry made from ``ArrayMath``'s ``fn``."""
        raise NotImplementedError

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        fn = getattr(ArrayMath, name)
        if not callable(fn) or isinstance(fn, type):  # (a constant, or an exception class: LinAlgError)
            return fn
        entry = self.wrap_entry(name, fn)
        entry.__name__ = name
        setattr(self, name, entry)  # (made once per name)
        return entry
