"""Plan, stage 2½: two rewrites chosen from the tape's structure, before the source is written.

* **Constant folding.**  A step whose arguments are all constants (a ``1.0`` turned into an
  array of the parameters' dtype, the ``ones`` that seed backward, ``1/N`` of a mean's
  gradient) gives the same array on every replay: the plan keeps the captured array and the
  step becomes a name.  Only where nothing ever writes into that memory and it does not
  leave the plan (an output, a gradient written back), since then the caller could change it.
* **Copy elision.**  ``y = copy(x)`` where ``x`` owns its memory (it is no view, no input) and
  nothing reads ``x`` afterwards: ``y`` may simply be ``x`` (the engine copies a gradient
  before keeping it as ``.grad``, in case another input holds the same array; the tape shows
  when none does).

Both return, per slot, what the step that makes it becomes: :func:`rewrites`.
"""

from __future__ import annotations

from typing import Any

from chainrule.backend import ArrayMath
from chainrule.compiler.trace import Ref, step_uses


def rewrites(steps: list, root: list[int], inputs: set[int], consts: dict[int, Any], keep: set[int]
             ) -> tuple[dict[int, Any], dict[int, int]]:
    """(folded: slot -> its constant value, aliases: slot -> the slot it may simply be).

    ``keep``: slots that leave the plan (outputs, write-backs)."""
    written = {root[w] for st in steps for w in st.writes}
    if any(st.kind == "host" for st in steps):
        written |= {root[k] for k in inputs}
    leaving = {root[k] for k in keep}
    folded: dict[int, Any] = {}
    for st in steps:
        out = st.out
        if type(out) is int and out in consts and st.kind in ("call", "op", "method") and not st.writes:
            if root[out] not in written and root[out] not in leaving:
                folded[out] = consts[out]
    last: dict[int, int] = {}
    for i, st in enumerate(steps):
        for s in step_uses(st):
            last[s] = i
    viewed = {root[k] for k in range(len(root)) if root[k] != k}
    aliases: dict[int, int] = {}
    for i, st in enumerate(steps):
        if st.kind == "call" and st.fn is ArrayMath.copy and len(st.args) == 1 and not st.kwargs \
                and type(st.out) is int and type(st.args[0]) is Ref:
            src = st.args[0].slot
            if root[src] == src and src not in inputs and src not in viewed and src not in keep \
                    and last.get(src) == i and src not in folded:
                aliases[st.out] = src
    return folded, aliases
