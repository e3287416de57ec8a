"""Plan, buffers: the arrays that never leave a replay get memory planned once.

A replay that allocates each intermediate anew pays NumPy's allocation, and a fused loop's
caller the address of each new array, on every call.  Here, before the replay's source is
written, each intermediate that stays inside the replay is given a buffer, made once and kept
by the plan: a fused loop then writes into its buffers at addresses known in advance, and a
matrix product writes through ``out=``.  Buffers are reused by liveness: once the last step
that reads an array (or a view or another name of it) is past, its buffer serves the next
intermediate of its dtype that fits in it (the smallest that fits), as the front of the buffer
shaped as that array.

Which arrays it covers: the results of fused loops, of the table's ``matmul`` and of its
uninitialised allocations (``m.empty``, ``m.pooled_empty``: an array a product then writes
through ``out=``, or rows written one by one), when the array is new memory (no view),
smaller than ``PLAN_BELOW`` elements, of a shape known in advance (not one that follows
values), and does not leave the replay: not an output, not written back to a tensor (a gradient, before a
host step), not saved for a compiled Module's backward, and no view or other name of it does
either, and not an array a fused loop rewrites in place (``y += b`` whose old and new values
are both read).  Everything else is allocated as eager allocates it.

A buffer is first sought among the free arrays of the buffer pool that eager steps draw from
(``POOL.adopt``): the captures ran eagerly and left their large arrays there, and a plan that
made fresh ones beside them would hold both for good.

Because the buffers are the plan's, one plan runs at most once at a time: a call that finds it
running (from another thread, or from inside itself) runs eagerly instead (``Plan.run``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from chainrule.backend import ArrayMath
from chainrule.backend.pool import POOL
from chainrule.compiler.trace import step_uses

# elements: larger arrays are allocated as eager allocates them.  Their allocation is small next
# to the work on them, and a planned buffer is memory the plan holds even where eager's allocator
# would give it to another array at the step's peak (LeNet-5's 221k-element activations planned:
# a peak 3 MiB above eager's)
PLAN_BELOW = 1 << 17


def is_product(step: Any) -> bool:
    """Whether ``step`` is a call of the table's ``matmul`` that may take ``out=``."""
    return step.kind == "call" and step.fn is ArrayMath.matmul and type(step.out) is int and not step.kwargs \
        and len(step.args) == 2


_ALLOCATIONS = (ArrayMath.empty, ArrayMath.pooled_empty)


def is_allocation(step: Any) -> bool:
    """Whether ``step`` only allocates an uninitialised array (its values are whatever a later
    step writes into it, so a buffer holding an earlier array's values serves as well)."""
    return step.kind == "call" and step.fn in _ALLOCATIONS and type(step.out) is int


def plan_buffers(steps: list, groups: dict, inside: set[int], tape: Any, keep: set[int],
                 aliases: dict[int, int], folded: dict[int, Any]) -> dict[int, np.ndarray]:
    """slot -> its buffer, for the intermediates of ``steps`` that qualify (module docstring).

    ``groups``: the fused loops by their first step, ``inside``: the indices of the other steps
    they contain, ``keep``: the slots that leave the replay."""
    root = tape.root

    def origin(s: int) -> int:  # the slot whose memory s is: through other names, then views
        while s in aliases:
            s = aliases[s]
        return root[s]

    leaving = {origin(k) for k in keep}
    end: dict[int, int] = {}  # memory (its origin slot) -> the last step reading it under any name
    for i, st in enumerate(steps):
        for s in step_uses(st):
            end[origin(s)] = i
    for k in keep:  # (leaving memory is never planned; this only keeps the map whole)
        end[origin(k)] = len(steps)

    # a slot a loop rewrites in place (its output is also its input) names two arrays, the one
    # before the loop and the one after: one buffer for both would be read and written at once
    rewritten = {s for g in groups.values() for s in g.outputs if s in g.inputs}

    def qualifies(s: int) -> bool:
        return root[s] == s and math.prod(tape.shapes[s]) < PLAN_BELOW and s not in leaving and s not in rewritten \
            and s not in tape.inputs and s not in tape.pinned \
            and s not in tape.value_shaped and s not in folded and s not in aliases \
            and isinstance(tape.dtypes[s], np.dtype)

    planned: dict[int, np.ndarray] = {}
    free: dict[Any, list] = {}  # dtype -> flat buffers whose arrays are past their last use
    holder: dict[int, list] = {}  # step index -> the buffers released after it
    for i, st in enumerate(steps):
        if i in inside:
            made: list[int] = []
        elif i in groups:
            made = list(groups[i].outputs) if all(qualifies(s) for s in groups[i].outputs) else []
        elif (is_product(st) or is_allocation(st)) and qualifies(st.out):
            made = [st.out]
        else:
            made = []
        for s in made:
            shape, dtype = tape.shapes[s], tape.dtypes[s]
            n = math.prod(shape)
            pool = free.setdefault(dtype, [])
            fits = [k for k, b in enumerate(pool) if b.size >= n]
            if fits:  # the best fit (by position: arrays do not compare as objects)
                base = pool.pop(min(fits, key=lambda k: pool[k].size))
            else:
                base = POOL.adopt(max(n, 1), dtype)
            planned[s] = base[:n].reshape(shape)
            holder.setdefault(end.get(s, i), []).append((dtype, base))
        for dtype, base in holder.pop(i, ()):  # (after this step's results took theirs: never in and out at once)
            free[dtype].append(base)
    return planned

