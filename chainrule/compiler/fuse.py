"""Plan, fusion: a run of elementwise steps over arrays of one shape becomes one C loop.

NumPy makes one pass over memory, and pays one call, per operation: ``tanh(h * w + b)`` is three
calls and three temporary arrays.  Where the plan has a run of consecutive elementwise steps on
arrays of one shape and one floating dtype (``+ - * /``, negation, comparisons used as masks,
``exp log log1p expm1 tanh sqrt abs sigmoid maximum minimum``), :func:`fuse` writes one C function
whose loop computes the whole run element by element in registers and stores only the values
that are used after the run.  It is compiled once per machine (``backend/native.py``, cached by
the hash of its source) and called through ctypes.

The table's ReLU entries (``relu``, ``relu_backward``, ``leaky_relu`` and its backward) join a
run too, as the selects their kernels compute.  An in-place operator (``a += b``, the bias added
to a product) joins when ``a`` is the plan's own array that nothing else views: the loop computes
the new ``a`` into a new array, which the replay names ``a`` from then on.

Which cases it covers: the arguments of a fused step are slots of the run's shape, 0-d or
one-element arrays (read once, as a number), Python numbers, or arrays that broadcast to the
run's shape along leading axes (a bias row, ``(C,)`` against ``(N, C)``) or trailing axes (a
column, ``(N, 1)``); with such inputs the loop runs over (rows, columns) split where they
broadcast, which must be the same place for all of them.  No other broadcasting, no ``out=``, no
integer arrays, no mask used after the run, and no array whose shape follows values (a masked
selection, ``nonzero``: a loop keeps the length it was written for, and nothing guards that length
unless Python reads it).  A run needs ``MIN_RUN`` steps or more, or one of the
table's ReLU entries (whose own call costs more than a loop's).

Exactness: ``+ - * /``, negation, comparisons, ``sqrt``, ``abs``, ``maximum``/``minimum`` give
NumPy's bits (the loop is compiled without ``-ffast-math`` and in ISO C mode, so no fused
multiply-add is formed); ``exp``, ``log``, ``log1p``, ``expm1``, ``tanh`` and ``sigmoid`` use the C
library's functions, which may differ from NumPy's in the last bit.
"""

from __future__ import annotations

import ctypes
import hashlib
import math
from typing import AbstractSet, Any, Callable, NamedTuple

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
    # the table's ReLU entries, as their kernels (masks.c) compute them
    ArrayMath.relu: "MAXIMUM({0}, (({t})0))", ArrayMath.relu_backward: "({0} * ({1} > 0 ? (({t})1) : (({t})0)))",
    ArrayMath.leaky_relu: "({0} > 0 ? {0} : {0} * {1})", ArrayMath.leaky_relu_backward: "({1} > 0 ? {0} : {0} * {2})",
}
# table entries that make a run on their own: an entry's call costs more than a loop's (ReLU's
# backward on (64, 32) float32: 4.4 µs against 3.4 for the loop's caller, 1.2 for a planned one)
_HEAVY = frozenset((ArrayMath.relu, ArrayMath.relu_backward, ArrayMath.leaky_relu, ArrayMath.leaky_relu_backward))
_OPS: dict[str, str] = {
    "+": "({0} + {1})", "-": "({0} - {1})", "*": "({0} * {1})", "/": "({0} / {1})", "neg": "(-{0})",
    ">": "({0} > {1})", "<": "({0} < {1})", ">=": "({0} >= {1})", "<=": "({0} <= {1})",
}
_COMPARE = frozenset((">", "<", ">=", "<="))
_IN_PLACE = {"+=": "+", "-=": "-", "*=": "*", "/=": "/"}  # in-place operators, as the operator they apply
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
    # (output buffers, {input index: its array or number when the same every replay}) -> a caller
    # that writes into those buffers (buffers.py)
    into: Callable[[list, dict], Callable[..., Any]] | None = None


def _pattern(arg: tuple, shape: tuple) -> tuple | None:
    """How an input of shape ``arg`` is read in a loop over ``shape``: ("full", None) element by
    element, ("one", None) a single number, ("inner", k) a row broadcast over ``shape[:k]``,
    ("outer", k) a column broadcast over ``shape[k:]``; None for any other broadcast."""
    nd = len(shape)
    if len(arg) > nd:
        return None
    p = (1,) * (nd - len(arg)) + tuple(arg)
    if p == tuple(shape):
        return "full", None
    if all(d == 1 for d in p):
        return "one", None
    lead = 0
    while p[lead] == 1:
        lead += 1
    if p[lead:] == tuple(shape[lead:]):
        return "inner", lead
    trail = nd
    while p[trail - 1] == 1:
        trail -= 1
    if p[:trail] == tuple(shape[:trail]):
        return "outer", trail
    return None


def _target(step: Any, private: AbstractSet[int]) -> int | None:
    """The slot an in-place operator rewrites when a loop may compute it as a new array (the
    plan's own, viewed by nothing: see :func:`private_slots`), else None."""
    if step.kind == "op" and step.fn in _IN_PLACE and step.out is None and len(step.writes) == 1 \
            and type(step.args[0]) is Ref and step.args[0].slot == step.writes[0] and step.writes[0] in private:
        return step.writes[0]
    return None


def private_slots(root: list[int], inputs: set[int], pinned: set[int]) -> set[int]:
    """The slots whose memory only the plan's own steps see: made by the plan (not read from
    outside, not an array made outside and written through ``out=``), viewed by no other slot."""
    viewed = {root[k] for k in range(len(root)) if root[k] != k}
    return {k for k in range(len(root)) if root[k] == k and k not in viewed and k not in inputs and k not in pinned}


def _fusible(step: Any, shapes: list, dtypes: list, aliases: dict[int, int], folded: Any,
             private: AbstractSet[int] = frozenset(), dynamic: AbstractSet[int] = frozenset()) -> tuple | None:
    """(shape, dtype) of an elementwise step the loop can compute ("any" for a folded constant,
    which joins any run), else None.  ``dynamic``: the slots whose shape follows values (a masked
    selection): a loop keeps its length, so no step that reads or makes one is fused."""
    out = step.out
    target = _target(step, private)
    if target is not None:
        out = target
    elif type(out) is not int or step.writes or step.kwargs:
        return None
    if dynamic and (out in dynamic or any(s in dynamic for s in step_uses(step))):
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
    elif step.kind != "op" or (step.fn not in _OPS and target is None):
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
            if d is None:  # (a Python value in a slot: a float argument, scalars.py)
                return None
            if shapes[a.slot] == ():
                if d != dtype:
                    return None
            elif _pattern(shapes[a.slot], shape) is None or not (d == dtype or d == np.dtype(bool)):
                return None
        elif not (type(a) in (int, float) and math.isfinite(a)):
            return None
    return shape, dtype


def schedule(steps: list, shapes: list, dtypes: list, aliases: dict[int, int], folded: Any,
             private: AbstractSet[int] = frozenset(), dynamic: AbstractSet[int] = frozenset()) -> list:
    """``steps`` with each pure step that cannot be fused moved past the fusible steps after it
    that do not read it (nor rewrite what it reads), so that runs grow (a loss's ``sum`` between
    the forward's and the backward's elementwise chains).  Order is kept among everything else."""
    order: list = []
    pending: list = []
    made: set[int] = set()
    run: tuple | None = None  # the kind of the last fusible step placed
    for st in steps:
        kind = _fusible(st, shapes, dtypes, aliases, folded, private, dynamic)
        if kind is not None and st.out in aliases and kind != run:
            kind = None  # (another array's name, of another shape than the run: it need not split it)
        if kind is not None:
            if kind is not ANY:
                run = kind
            if made & set(step_uses(st)) or st.writes and any(
                    w in step_uses(p) for p in pending for w in st.writes):
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
         live_after: Callable[[int, int], bool], private: AbstractSet[int] = frozenset(),
         dynamic: AbstractSet[int] = frozenset()) -> dict[int, Group]:
    """The fused groups of ``steps``, by the index of their first step.  ``live_after(slot, i)``:
    whether ``slot`` is read after step ``i`` (or leaves the plan); ``private``: the slots an
    in-place operator may rewrite as a new array (:func:`private_slots`); ``dynamic``: the slots
    whose shape follows values (never fused)."""
    if not native.enabled():
        return {}
    groups: dict[int, Group] = {}
    kinds = [_fusible(st, shapes, dtypes, aliases, folded, private, dynamic) for st in steps]
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
        weight = sum(MIN_RUN if steps[k].kind == "call" and steps[k].fn in _HEAVY else 1
                     for k in range(i, j + 1) if steps[k].out not in folded)
        if weight >= MIN_RUN and kind[1] in _FLOATS:
            g = _group(steps, i, j, kind, shapes, dtypes, aliases, folded, live_after, private)
            if g is not None:
                groups[i] = g
        i = j + 1
    return groups


def _group(steps: list, first: int, last: int, kind: tuple, shapes: list, dtypes: list, aliases: dict[int, int],
           folded: Any, live_after: Callable[[int, int], bool], private: AbstractSet[int]) -> Group | None:
    shape, dtype = kind
    f = "f" if dtype == np.float32 else ""
    ctype = "float" if f else "double"
    made: dict[int, str] = {}  # slot -> its C expression inside the loop
    rewritten: set[int] = set()  # slots an in-place operator gave a new value
    inputs: list[int] = []
    reads: list[tuple] = []  # per input: its pattern (_pattern)
    body: list[str] = []

    def operand(a: Any) -> str:
        if type(a) is not Ref:
            return f"(({ctype}){float(a)!r})"
        s = a.slot
        if s in made:
            return made[s]
        if s not in inputs:
            inputs.append(s)
            found = ("one", None) if shapes[s] == () else _pattern(shapes[s], shape)
            assert found is not None  # (_fusible admitted only these)
            reads.append(found)
        k = inputs.index(s)
        how = reads[k][0]
        read = {"one": f"s{k}", "full": f"in{k}[j]", "inner": f"in{k}[c]", "outer": f"in{k}[i]"}[how]
        return f"(({ctype}){read})" if how == "one" or dtypes[s] == np.dtype(bool) else read

    for st in steps[first:last + 1]:
        out = st.out
        if out in folded:  # a constant: an input of the loop (its line comes before the call)
            continue
        if out in aliases:
            made[out] = operand(Ref(aliases[out]))
            continue
        target = _target(st, private)
        if st.kind == "call" and st.fn is ArrayMath.sum_of:
            expr = "(" + " + ".join(operand(a) for a in st.args[0]) + ")"
        else:
            template = _CALLS[st.fn] if st.kind == "call" else _OPS[_IN_PLACE.get(st.fn, st.fn)]
            expr = template.format(*(operand(a) for a in st.args), f=f, t=ctype)
        if target is not None:
            out = target
            rewritten.add(target)
        is_mask = st.kind == "op" and st.fn in _COMPARE
        local = f"t{len(body)}"  # (numbered in order, not by slot: the same loop, the same text)
        body.append(f"        {'int' if is_mask else ctype} {local} = {expr};")
        made[out] = local
    outputs = [s for s in made if live_after(s, last) and (s not in inputs or s in rewritten)]
    if not outputs or any(dtypes[s] not in _FLOATS for s in outputs):
        return None
    splits = {k for how, k in reads if how in ("inner", "outer")}
    if len(splits) > 1:  # rows and columns split at different axes: not one (rows, columns) loop
        return None
    split = splits.pop() if splits else None
    params = ["long n"] if split is None else ["long rows", "long cols"]
    for k, (how, _) in enumerate(reads):  # (a mask made before the loop: NumPy's one-byte bools)
        elem = "unsigned char" if dtypes[inputs[k]] == np.dtype(bool) else ctype
        params.append(f"double s{k}" if how == "one" else f"const {elem}* restrict in{k}")
    params += [f"{ctype}* restrict out{k}" for k in range(len(outputs))]
    stores = [f"        out{k}[j] = {made[s]};" for k, s in enumerate(outputs)]
    body_text = "\n".join(body + stores)
    if split is None:
        loop = "    #pragma omp simd\n    for (long j = 0; j < n; j++) {\n"
    else:  # element j = i * cols + c: a row input is read at c, a column input at i
        loop = ("    for (long i = 0; i < rows; i++) {\n    #pragma omp simd\n    for (long c = 0; c < cols; c++) {\n"
                "        long j = i * cols + c;\n")
    # named by its text, so that the same loop in another plan (or process) is the cached library
    name = f"fused_{hashlib.sha256((', '.join(params) + loop + body_text).encode()).hexdigest()[:16]}"
    src = _HEADER + f"void {name}({', '.join(params)}) {{\n" + loop + body_text + "\n    }\n" + \
        ("" if split is None else "    }\n") + "}\n"
    lib = native.load_source(name, src)
    if lib is None:
        return None
    cfn = getattr(lib, name)
    kinds = [how for how, _ in reads]
    cfn.argtypes = [ctypes.c_long] * len(params[:1 if split is None else 2]) \
        + [ctypes.c_double if how == "one" else ctypes.c_void_p for how in kinds] + [ctypes.c_void_p] * len(outputs)
    cfn.restype = None
    sizes = None if split is None else (math.prod(shape[:split]), math.prod(shape[split:]))
    return Group(first, last, inputs, outputs, _caller(cfn, shape, dtype, kinds, len(outputs), sizes), src,
                 lambda outs, fixed: _caller(cfn, shape, dtype, kinds, len(outputs), sizes, outs, fixed))


def _caller(cfn: Any, shape: tuple, dtype: Any, kinds: list[str], n_out: int, sizes: tuple | None,
            into: list | None = None, fixed: dict | None = None) -> Callable[..., Any]:
    """The Python side of a fused loop: contiguous inputs, new outputs, one C call.  Small
    outputs share one new block (each a view of one row: one allocation, one address); large
    ones are arrays of their own, so that each is freed when its last use is past.  ``kinds``:
    each input's pattern ("one": read as a number); ``sizes``: (rows, columns) of a loop with
    broadcast inputs, None for a flat loop.

    With ``into`` (buffers planned once, contiguous, of the loop's shape and dtype) the loop
    writes there and returns them; ``fixed[k]``: input k is that array (or that array's number)
    on every call, so its address (or value) is found here once and it is no argument.

    It is written out for this loop's arguments, as the replay is (``plan.py``): a generic
    function looping over its arguments cost 4 µs a call, three times the C call itself."""
    n = math.prod(shape)
    step = n * np.dtype(dtype).itemsize
    small = n * n_out < 4096
    ins = [f"a{k}" for k in range(len(kinds))]
    lines = [f"def call({', '.join(a for k, a in enumerate(ins) if fixed is None or k not in fixed)}):"]
    args = []
    kept: list = []  # the fixed inputs' arrays, held as long as the caller (their addresses are in it)
    for k, (a, how) in enumerate(zip(ins, kinds)):
        if fixed is not None and k in fixed:
            value = fixed[k]
            if how == "one":
                args.append(repr(float(np.asarray(value).item())))
            else:
                value = np.ascontiguousarray(value)
                kept.append(value)
                args.append(str(native.address(value)))
        elif how == "one":
            args.append(f"{a}.item()")
        else:  # (a strided input is copied; the copy lives until the call returns)
            lines.append(f"    if not {a}.flags.c_contiguous: {a} = ascontiguousarray({a})")
            args.append(f"address({a})")
    if into is not None:
        outs = [f"O{k}" for k in range(n_out)]
        addresses = [str(native.address(b)) for b in into]
    elif small:
        lines.append("    block = empty(BLOCK, dtype)")
        outs = [f"block[{k}]" for k in range(n_out)]
        lines.append("    o = address(block)")
        addresses = ["o"] + [f"o + {k * step}" for k in range(1, n_out)]
    else:
        outs = [f"o{k}" for k in range(n_out)]
        lines += [f"    {o} = empty(SHAPE, dtype)" for o in outs]
        addresses = [f"address({o})" for o in outs]
    counts = [str(n)] if sizes is None else [str(sizes[0]), str(sizes[1])]
    lines.append(f"    cfn({', '.join(counts + args + addresses)})")  # (n = 0: the loop runs no times)
    lines.append(f"    return {outs[0] if n_out == 1 else ', '.join(outs)}")
    ns: dict[str, Any] = {"cfn": cfn, "empty": np.empty, "ascontiguousarray": np.ascontiguousarray,
                          "address": native.address, "BLOCK": (n_out, *shape), "SHAPE": shape, "dtype": dtype,
                          "KEPT": kept, **{f"O{k}": b for k, b in enumerate(into or ())}}
    exec(compile("\n".join(lines), f"<fused loop caller {cfn.__name__}>", "exec"), ns)
    return ns["call"]
