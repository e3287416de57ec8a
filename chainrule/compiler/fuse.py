"""Plan, fusion: a run of elementwise steps over arrays of one shape becomes one C loop.

NumPy makes one pass over memory, and pays one call, per operation: ``tanh(h * w + b)`` is three
calls and three temporary arrays.  Where the plan has a run of consecutive elementwise steps on
arrays of one shape and one floating dtype (``+ - * /``, negation, comparisons used as masks,
``exp log log1p expm1 tanh sqrt abs sigmoid maximum minimum``), :func:`fuse` writes one C function
whose loop computes the whole run element by element in registers and stores only the values
that are used after the run.  It is compiled once per machine (``backend/native.py``, cached by
the hash of its source) and called through ctypes.

Which cases it covers: the arguments of a fused step are slots of the run's shape, 0-d arrays
(read once, as a number) or Python numbers; no broadcasting of other shapes, no ``out=``, no
integer arrays, no mask used after the run.  A run needs ``MIN_RUN`` steps or more.

Exactness: ``+ - * /``, negation, comparisons, ``sqrt``, ``abs``, ``maximum``/``minimum`` give
NumPy's bits (the loop is compiled without ``-ffast-math`` and in ISO C mode, so no fused
multiply-add is formed); ``exp``, ``log``, ``log1p``, ``expm1``, ``tanh`` and ``sigmoid`` use the C
library's functions, which may differ from NumPy's in the last bit.
"""

from __future__ import annotations

import ctypes
import hashlib
import math
from typing import Any, Callable, NamedTuple

import numpy as np

from chainrule.backend import ArrayMath, native
from chainrule.compiler.trace import Ref, step_outs, step_uses

MIN_RUN = 3

# fn -> C expression over the operands {0}, {1}; {f} is the float suffix ('f' for float32)
_CALLS: dict[Any, str] = {
    np.add: "({0} + {1})", np.subtract: "({0} - {1})", np.multiply: "({0} * {1})", np.divide: "({0} / {1})",
    np.negative: "(-{0})", np.exp: "exp{f}({0})", np.log: "log{f}({0})", np.log1p: "log1p{f}({0})",
    np.expm1: "expm1{f}({0})", np.tanh: "tanh{f}({0})", np.sqrt: "sqrt{f}({0})", np.abs: "fabs{f}({0})",
    np.maximum: "MAXIMUM({0}, {1})", np.minimum: "MINIMUM({0}, {1})", ArrayMath.sigmoid: "SIGMOID{f}({0})",
    ArrayMath.copy: "{0}",
}
_OPS: dict[str, str] = {
    "+": "({0} + {1})", "-": "({0} - {1})", "*": "({0} * {1})", "/": "({0} / {1})", "neg": "(-{0})",
    ">": "({0} > {1})", "<": "({0} < {1})", ">=": "({0} >= {1})", "<=": "({0} <= {1})",
}
_COMPARE = frozenset((">", "<", ">=", "<="))
_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
# glibc's vector maths (libmvec) declared, as kernels/gelu.c does, so the loop vectorises
_SIMD = "".join(f"#pragma omp declare simd notinbranch\n{t} {f}{s}({t});\n"
                for f in ("exp", "log", "log1p", "expm1", "tanh") for t, s in (("float", "f"), ("double", "")))
_HEADER = """#include <math.h>
#if defined(__x86_64__) && defined(__GLIBC__) && !defined(__clang__) && \\
    (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 35))
""" + _SIMD + """#endif
#define MAXIMUM(a, b) (((a) > (b) || (a) != (a)) ? (a) : (b))
#define MINIMUM(a, b) (((a) < (b) || (a) != (a)) ? (a) : (b))
static inline float SIGMOIDf(float x) { float e = expf(-fabsf(x)); return (e + (x >= 0) * (1 - e)) / (1 + e); }
static inline double SIGMOID(double x) { double e = exp(-fabs(x)); return (e + (x >= 0) * (1 - e)) / (1 + e); }
"""


ANY = ("any",)


class Group(NamedTuple):
    """A fused run: steps ``first``..``last`` of the plan, reading ``inputs``, storing ``outputs``."""

    first: int
    last: int
    inputs: list[int]
    outputs: list[int]
    call: Callable[..., Any]
    source: str


def _fusible(step: Any, shapes: list, dtypes: list, aliases: dict[int, int], folded: Any) -> tuple | None:
    """(shape, dtype) of an elementwise step the loop can compute ("any" for a folded constant,
    which joins any run), else None."""
    out = step.out
    if type(out) is not int or step.writes or step.kwargs:
        return None
    if out in folded:
        return ANY
    if out in aliases:
        return shapes[out], dtypes[out]
    args = step.args
    if step.kind == "call" and step.fn is ArrayMath.sum_of and len(args) == 1 and type(args[0]) is list:
        args = tuple(args[0])  # the sum of a leaf's gradient parts: elementwise over the list
        if not all(type(a) is Ref for a in args):
            return None
    elif step.kind == "call":
        if step.fn not in _CALLS or (step.fn is ArrayMath.copy and len(args) != 1):
            return None
    elif step.kind != "op" or step.fn not in _OPS:
        return None
    shape, dtype = shapes[out], dtypes[out]
    compare = step.kind == "op" and step.fn in _COMPARE
    if compare:
        dtype = next((dtypes[a.slot] for a in step.args if type(a) is Ref), None)
    elif dtype not in _FLOATS:
        return None
    for a in args:
        if type(a) is Ref:
            d = dtypes[a.slot]
            if shapes[a.slot] == ():
                if d != dtype:
                    return None
            elif shapes[a.slot] != shape or not (d == dtype or d == np.dtype(bool)):
                return None
        elif not (type(a) in (int, float) and math.isfinite(a)):
            return None
    return shape, dtype


def schedule(steps: list, shapes: list, dtypes: list, aliases: dict[int, int], folded: Any) -> list:
    """``steps`` with each pure step that cannot be fused moved past the fusible steps after it
    that do not read it, so that runs grow (a loss's ``sum`` between the forward's and the
    backward's elementwise chains).  Order is kept among everything else."""
    order: list = []
    pending: list = []
    made: set[int] = set()
    for st in steps:
        kind = _fusible(st, shapes, dtypes, aliases, folded)
        if kind is not None:
            if made & set(step_uses(st)):
                order += pending
                pending, made = [], set()
            order.append(st)
        elif st.kind in ("call", "op", "method") and not st.writes and st.out is not None:
            pending.append(st)
            made |= set(step_outs(st))
        else:
            order += pending + [st]
            pending, made = [], set()
    return order + pending


def fuse(steps: list, shapes: list, dtypes: list, aliases: dict[int, int], folded: Any,
         live_after: Callable[[int, int], bool]) -> dict[int, Group]:
    """The fused groups of ``steps``, by the index of their first step.  ``live_after(slot, i)``:
    whether ``slot`` is read after step ``i`` (or leaves the plan)."""
    if not native.enabled():
        return {}
    groups: dict[int, Group] = {}
    kinds = [_fusible(st, shapes, dtypes, aliases, folded) for st in steps]
    i = 0
    while i < len(steps):
        kind = kinds[i]
        if kind is ANY or kind is None:
            i += 1
            continue
        j = i
        while j + 1 < len(steps) and (kinds[j + 1] == kind or kinds[j + 1] is ANY):
            j += 1
        while kinds[j] is ANY:  # (a trailing constant stays out)
            j -= 1
        if sum(steps[k].out not in folded for k in range(i, j + 1)) >= MIN_RUN and kind[1] in _FLOATS:
            g = _group(steps, i, j, kind, shapes, dtypes, aliases, folded, live_after)
            if g is not None:
                groups[i] = g
        i = j + 1
    return groups


def _group(steps: list, first: int, last: int, kind: tuple, shapes: list, dtypes: list, aliases: dict[int, int],
           folded: Any, live_after: Callable[[int, int], bool]) -> Group | None:
    shape, dtype = kind
    f = "f" if dtype == np.float32 else ""
    ctype = "float" if f else "double"
    made: dict[int, str] = {}  # slot -> its C expression inside the loop
    inputs: list[int] = []
    body: list[str] = []

    def operand(a: Any) -> str:
        if type(a) is not Ref:
            return f"(({ctype}){float(a)!r})"
        s = a.slot
        if s in made:
            return made[s]
        if s not in inputs:
            inputs.append(s)
        k = inputs.index(s)
        return f"(({ctype})s{k})" if shapes[s] == () else f"in{k}[j]"

    for st in steps[first:last + 1]:
        out = st.out
        if out in folded:  # a constant: an input of the loop (its line comes before the call)
            continue
        if out in aliases:
            made[out] = operand(Ref(aliases[out]))
            continue
        if st.kind == "call" and st.fn is ArrayMath.sum_of:
            expr = "(" + " + ".join(operand(a) for a in st.args[0]) + ")"
        else:
            template = _CALLS[st.fn] if st.kind == "call" else _OPS[st.fn]
            expr = template.format(*(operand(a) for a in st.args), f=f)
        is_mask = st.kind == "op" and st.fn in _COMPARE
        local = f"t{len(body)}"  # (numbered in order, not by slot: the same loop, the same text)
        body.append(f"        {'int' if is_mask else ctype} {local} = {expr};")
        made[out] = local
    outputs = [s for s in made if live_after(s, last) and s not in inputs]
    if not outputs or any(dtypes[s] not in _FLOATS for s in outputs):
        return None
    params = ["long n"]
    for k, s in enumerate(inputs):
        params.append(f"double s{k}" if shapes[s] == () else f"const {ctype}* restrict in{k}")
    params += [f"{ctype}* restrict out{k}" for k in range(len(outputs))]
    stores = [f"        out{k}[j] = {made[s]};" for k, s in enumerate(outputs)]
    body_text = "\n".join(body + stores)
    # named by its text, so that the same loop in another plan (or process) is the cached library
    name = f"fused_{hashlib.sha256((', '.join(params) + body_text).encode()).hexdigest()[:16]}"
    src = (_HEADER + f"void {name}({', '.join(params)}) {{\n    #pragma omp simd\n"
           f"    for (long j = 0; j < n; j++) {{\n" + body_text + "\n    }\n}\n")
    lib = native.load_source(name, src)
    if lib is None:
        return None
    cfn = getattr(lib, name)
    scalar = [shapes[s] == () for s in inputs]
    cfn.argtypes = [ctypes.c_long] + [ctypes.c_double if sc else ctypes.c_void_p for sc in scalar] \
        + [ctypes.c_void_p] * len(outputs)
    cfn.restype = None
    return Group(first, last, inputs, outputs, _caller(cfn, shape, dtype, scalar, len(outputs)), src)


def _caller(cfn: Any, shape: tuple, dtype: Any, is_scalar: list[bool], n_out: int) -> Callable[..., Any]:
    """The Python side of a fused loop: contiguous inputs, new outputs, one C call.  Small
    outputs share one new block (each a view of one row: one allocation, one address); large
    ones are arrays of their own, so that each is freed when its last use is past.

    It is written out for this loop's arguments, as the replay is (``plan.py``): a generic
    function looping over its arguments cost 4 µs a call, three times the C call itself."""
    n = math.prod(shape)
    step = n * np.dtype(dtype).itemsize
    small = n * n_out < 4096
    ins = [f"a{k}" for k in range(len(is_scalar))]
    lines = [f"def call({', '.join(ins)}):"]
    args = []
    for a, sc in zip(ins, is_scalar):
        if sc:
            args.append(f"float({a})")
        else:  # (a strided input is copied; the copy lives until the call returns)
            lines.append(f"    if not {a}.flags.c_contiguous: {a} = ascontiguousarray({a})")
            args.append(f"address({a})")
    if small:
        lines.append("    block = empty(BLOCK, dtype)")
        outs = [f"block[{k}]" for k in range(n_out)]
        lines.append("    o = address(block)")
        addresses = ["o"] + [f"o + {k * step}" for k in range(1, n_out)]
    else:
        outs = [f"o{k}" for k in range(n_out)]
        lines += [f"    {o} = empty(SHAPE, dtype)" for o in outs]
        addresses = [f"address({o})" for o in outs]
    lines.append(f"    cfn({n}, {', '.join(args + addresses)})")  # (n = 0: the loop runs no times)
    lines.append(f"    return {outs[0] if n_out == 1 else ', '.join(outs)}")
    ns: dict[str, Any] = {"cfn": cfn, "empty": np.empty, "ascontiguousarray": np.ascontiguousarray,
                          "address": native.address, "BLOCK": (n_out, *shape), "SHAPE": shape, "dtype": dtype}
    exec(compile("\n".join(lines), f"<fused loop caller {cfn.__name__}>", "exec"), ns)
    return ns["call"]
