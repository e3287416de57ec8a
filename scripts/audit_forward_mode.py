"""Audit forward mode: push tangents through every differentiable function we can enumerate.

The functions and their sample inputs come from PyTorch's own operator database
(``torch.testing._internal.common_methods_invocations.op_db``: the ``torch``
namespace, ``torch.special``, ``torch.linalg``, ``torch.nn.functional``) and module
database (``common_modules.module_db``: each ``nn`` module in eval mode, differentiated in
its inputs and parameters through ``func.functional_call``), plus the whole of
``chainrule.special``, a list of further functions (``extra_cases``: what the database lacks
or calls through a lambda) and the distributions' log_prob, cdf, icdf, entropy, mean and
variance (``distribution_cases``).  For every sample, in float64, chainrule's forward mode
(``chainrule.func.jvp``, i.e. dual tensors) is compared with

* central finite differences of chainrule's own function along the same direction,
* reverse mode: <u, J v> against <Jᵀ u, v> (``chainrule.func.vjp``),
* ``torch.func.jvp`` where PyTorch has a forward-mode rule for the op.

Only functions that chainrule has and whose forward pass runs on the sample are
judged (a value that differs from PyTorch's is listed apart: not a forward-mode question).
Run::

    PYTHONPATH=. python scripts/audit_forward_mode.py [--samples N] [--only SUBSTRING] [--no-modules]

It prints one line per failing function and a summary; the exit status is 1 when
anything fails.  Disagreements explained by hand (``KNOWN``) are printed apart.  PyTorch
(CPU) is needed for the operator database and the oracle.
"""

from __future__ import annotations

import argparse
import math
import sys
import types
import unittest
import warnings
from typing import Any

import numpy as np

import chainrule as cr
import chainrule.func as crfunc
import chainrule.nn.functional  # noqa: F401  (cr.nn.functional)

# random ops: their values differ between evaluations, so differences make no sense
RANDOM = ("dropout", "bernoulli", "rrelu", "fractional_max_pool", "normal", "multinomial", "rand", "uniform",
          "lowrank", "alpha_dropout")

R = np.random.default_rng(20261207)

# operators whose value (not tangent) differs from PyTorch's on some sample: name -> the sample
VALUE_DIFFS: dict[str, str] = {}

# disagreements explained (each checked by hand): printed apart, not counted as failures
KNOWN = {
    "nn.functional.hinge_embedding_loss": "the target is a ±1 label, which PyTorch's samples perturb as a float: "
                                          "the loss jumps there (the tangents equal torch.func.jvp's)",
    "nn.functional.cosine_embedding_loss": "the same: a ±1 label perturbed (the tangents equal torch.func.jvp's)",
    "nn.functional.max_unpool1d": "duplicate indices in the samples (overlapping pooling windows): the output "
                                  "keeps one write, the vjp gathers for every duplicate, as PyTorch's backward",
    "nn.functional.max_unpool2d": "duplicate indices, as max_unpool1d",
    "nn.functional.max_unpool3d": "duplicate indices, as max_unpool1d",
    "triangular_solve": "PyTorch's jvp assumes a triangular tangent; chainrule's differentiates what the function "
                        "reads (one triangle): finite differences agree with it",
}


def _op_db() -> list:
    try:
        import expecttest  # noqa: F401
    except ImportError:  # PyTorch's test helpers import it only for their TestCase
        stub = types.ModuleType("expecttest")
        stub.TestCase = unittest.TestCase  # type: ignore[attr-defined]
        sys.modules["expecttest"] = stub
    from torch.testing._internal.common_methods_invocations import op_db

    return op_db


def _resolve(name: str) -> Any:
    obj: Any = cr
    for part in name.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            return None
    return obj if callable(obj) else None


def _to_cr(v: Any, leaves: list) -> Any:
    import torch

    if isinstance(v, torch.Tensor):
        if v.is_complex():
            raise TypeError("complex")
        arr = v.detach().cpu().numpy().copy()
        t = cr.tensor(arr)
        if v.requires_grad and arr.dtype.kind == "f":
            leaves.append((t, v))
        return t
    if isinstance(v, tuple):
        return tuple(_to_cr(a, leaves) for a in v)
    if isinstance(v, list):
        return [_to_cr(a, leaves) for a in v]
    if isinstance(v, dict):
        return {k: _to_cr(a, leaves) for k, a in v.items()}
    if isinstance(v, torch.dtype):
        return getattr(cr, str(v).split(".")[-1])
    if isinstance(v, torch.Size):
        return tuple(v)
    return v


def _flat_outputs(out: Any) -> list:
    if isinstance(out, cr.Tensor):
        return [out]
    if isinstance(out, (tuple, list)):
        res = []
        for o in out:
            res.extend(_flat_outputs(o))
        return res
    return []


def _float_outs(out: Any) -> list:
    return [o for o in _flat_outputs(out) if o._array.dtype.kind == "f"]


def _substitute(struct: Any, leaves: list, values: list) -> Any:
    """The argument structure with each leaf (by identity) replaced by the matching value."""
    if isinstance(struct, cr.Tensor):
        for (leaf, _), val in zip(leaves, values):
            if struct is leaf:
                return val
        return struct
    if isinstance(struct, tuple):
        return tuple(_substitute(a, leaves, values) for a in struct)
    if isinstance(struct, list):
        return [_substitute(a, leaves, values) for a in struct]
    if isinstance(struct, dict):
        return {k: _substitute(a, leaves, values) for k, a in struct.items()}
    return struct


def _close(a: np.ndarray, b: np.ndarray, rtol: float = 1e-4, atol: float = 1e-6) -> bool:
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        return False
    fin = np.isfinite(a) & np.isfinite(b)
    if not np.array_equal(np.isfinite(a), np.isfinite(b)):
        return False
    return bool(np.allclose(a[fin], b[fin], rtol=rtol, atol=atol))


def _direction(shape: tuple, symmetric: bool) -> cr.Tensor:
    v = R.standard_normal(shape)
    if symmetric and len(shape) >= 2 and shape[-1] == shape[-2]:
        v = v + np.swapaxes(v, -1, -2)
    return cr.tensor(v)


def check(fn: Any, inputs: Any, leaves: list, torch_fn: Any = None, torch_inputs: Any = None,
          symmetric: bool = False, torch_jvp: bool = True) -> str | None:
    """None when forward mode agrees; else a short reason.  ``inputs`` = (args, kwargs).
    ``symmetric``: the function reads one triangle of a symmetric input (eigh, cholesky): the
    first direction is symmetric, as PyTorch's gradcheck makes its input."""
    args, kwargs = inputs

    def call(*vals: Any) -> Any:
        a, k = _substitute((args, kwargs), leaves, list(vals))
        return fn(*a, **k)

    primals = tuple(t for t, _ in leaves)
    tangents = tuple(_direction(tuple(t.shape), symmetric and k == 0) for k, t in enumerate(primals))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            out0 = call(*primals)
        except Exception as e:  # not a forward-mode question
            return f"SKIP forward fails: {type(e).__name__}: {str(e)[:80]}"
        outs0 = _float_outs(out0)
        if not outs0:
            return "SKIP no float output"
        if torch_inputs is not None and torch_fn is not None:  # the values first: a wrong primal is another bug
            try:
                ta, tk = torch_inputs
                ref = [x for x in _torch_flat(torch_fn(*ta, **tk)) if x.is_floating_point()]
                if len(ref) == len(outs0) and not all(
                        _close(o._array, r.detach().numpy(), 1e-6, 1e-8) for o, r in zip(outs0, ref)):
                    return "SKIP the value differs from PyTorch's (not a forward-mode question)"
            except Exception:
                pass
        try:
            _, jv = crfunc.jvp(lambda *v: tuple(_float_outs(call(*v))), primals, tangents)
        except Exception as e:
            return f"jvp raises {type(e).__name__}: {str(e)[:100]}"
        jv = [t._array for t in jv]
        # finite differences along the tangent
        eps = 1e-6
        plus = _float_outs(call(*[cr.tensor(p._array + eps * d._array) for p, d in zip(primals, tangents)]))
        minus = _float_outs(call(*[cr.tensor(p._array - eps * d._array) for p, d in zip(primals, tangents)]))
        fd = [(p._array - m._array) / (2 * eps) for p, m in zip(plus, minus)]
        bad_fd = [k for k, (a, b) in enumerate(zip(jv, fd)) if not _close(a, b, 1e-3, 1e-5)]
        # reverse mode: <u, Jv> = <J^T u, v>
        rev = None
        try:
            us = [cr.tensor(R.standard_normal(o.shape)) for o in outs0]
            _, pull = crfunc.vjp(lambda *v: tuple(_float_outs(call(*v))), *primals)
            gs = pull(tuple(us))
            lhs = sum(float((u._array * j).sum()) for u, j in zip(us, jv))
            rhs = sum(float((g._array * d._array).sum()) for g, d in zip(gs, tangents) if g is not None)
            if math.isfinite(lhs) and not math.isclose(lhs, rhs, rel_tol=1e-6, abs_tol=1e-8):
                rev = f"<u,Jv>={lhs:.6g} != <J'u,v>={rhs:.6g}"
        except Exception as e:
            rev = f"(reverse mode raises {type(e).__name__})"
        oracle = None
        if torch_fn is not None and torch_jvp:
            import torch

            try:
                tp = tuple(tv.detach() for _, tv in leaves)
                tt = tuple(torch.from_numpy(d._array.copy()) for d in tangents)

                def tcall(*vals: Any) -> Any:
                    a, k = _substitute_torch(torch_inputs, leaves, list(vals))
                    o = torch_fn(*a, **k)
                    return tuple(x for x in _torch_flat(o) if x.is_floating_point())

                _, tj = torch.func.jvp(tcall, tp, tt)
                if len(tj) == len(jv) and not all(_close(a, b.numpy()) for a, b in zip(jv, tj)):
                    oracle = "differs from torch.func.jvp"
            except Exception:
                pass
    problems = []
    if bad_fd:
        problems.append(f"finite differences disagree (outputs {bad_fd})")
    if rev:
        problems.append(rev)
    if oracle:
        problems.append(oracle)
    return "; ".join(problems) or None


def _torch_flat(o: Any) -> list:
    import torch

    if isinstance(o, torch.Tensor):
        return [o]
    if isinstance(o, (tuple, list)):
        res = []
        for x in o:
            res.extend(_torch_flat(x))
        return res
    return []


def _substitute_torch(struct: Any, leaves: list, values: list) -> Any:
    import torch

    if isinstance(struct, torch.Tensor):
        for (_, tv), val in zip(leaves, values):
            if struct is tv:
                return val
        return struct
    if isinstance(struct, tuple):
        return tuple(_substitute_torch(a, leaves, values) for a in struct)
    if isinstance(struct, list):
        return [_substitute_torch(a, leaves, values) for a in struct]
    if isinstance(struct, dict):
        return {k: _substitute_torch(a, leaves, values) for k, a in struct.items()}
    return struct


def audit_op_db(n_samples: int, only: str | None) -> tuple[dict, dict, int]:
    import torch

    failures: dict[str, str] = {}
    skipped: dict[str, str] = {}
    judged = 0
    for op in _op_db():
        name = op.name
        if only and only not in name:
            continue
        if not op.supports_autograd or torch.float64 not in op.supported_dtypes("cpu"):
            continue
        if any(r in name for r in RANDOM) or name.startswith("_") or name.startswith("torch.ops"):
            continue
        fn = _resolve(name)
        key = name + (f".{op.variant_test_name}" if op.variant_test_name else "")
        if fn is None:
            skipped[key] = "not in chainrule"
            continue
        if getattr(op.op, "__name__", "") == "<lambda>":  # the database wraps the call (argument order, ...)
            skipped[key] = "the database calls it through a lambda (see the list of further functions)"
            continue
        try:
            samples = list(op.sample_inputs("cpu", torch.float64, requires_grad=True))[:n_samples]
        except Exception as e:
            skipped[key] = f"samples fail: {e}"
            continue
        ok_any = False
        for s in samples:
            leaves: list = []
            try:
                args = (_to_cr(s.input, leaves), *_to_cr(tuple(s.args), leaves))
                kwargs = _to_cr(dict(s.kwargs), leaves)
            except TypeError:
                continue
            if not leaves:
                continue
            symmetric = "hermitian" in getattr(op.gradcheck_wrapper, "__name__", "")
            if symmetric:  # as PyTorch's gradcheck wrapper: the input made symmetric (A + Aᵀ), both copies
                first, tv = leaves[0]
                a = first._array
                if a.ndim >= 2 and a.shape[-1] == a.shape[-2]:
                    a[...] = a + np.swapaxes(a, -1, -2)
                    with torch.no_grad():
                        tv.copy_(torch.from_numpy(a.copy()))
            res = check(fn, (args, kwargs), leaves, op.op, ((s.input, *s.args), dict(s.kwargs)), symmetric,
                        torch_jvp=op.supports_forward_ad)
            if res is not None and res.startswith("SKIP"):
                skipped.setdefault(key, res)
                if "value differs" in res:
                    VALUE_DIFFS.setdefault(key, " ".join(str(s).split())[:160])
                continue
            ok_any = True
            if res is not None:
                failures.setdefault(key, res)
        if ok_any:
            judged += 1
            skipped.pop(key, None)
    return failures, skipped, judged


def audit_module_db(n_samples: int, only: str | None) -> tuple[dict, dict, int]:
    """PyTorch's module database (``common_modules.module_db``): each module built by chainrule
    with PyTorch's constructor arguments, in eval mode, differentiated in its float inputs and its
    parameters (through ``func.functional_call``) against finite differences and reverse mode."""
    import torch

    _op_db()  # (the expecttest stub)
    from torch.testing._internal.common_modules import module_db

    failures: dict[str, str] = {}
    skipped: dict[str, str] = {}
    judged = 0
    for info in module_db:
        name = "nn." + info.module_cls.__name__
        if only and only not in name:
            continue
        cls = getattr(cr.nn, info.module_cls.__name__, None)
        if cls is None or any(r in name.lower() for r in RANDOM) or "Lazy" in name:
            skipped[name] = "not in chainrule" if cls is None else "random or lazy"
            continue
        try:
            inputs = info.module_inputs_func(info, device="cpu", dtype=torch.float64, requires_grad=True,
                                             training=False)[:n_samples]
        except Exception as e:
            skipped[name] = f"samples fail: {e}"
            continue
        ok_any = False
        for k, mi in enumerate(inputs):
            leaves: list = []
            try:
                ctor_a = _to_cr(tuple(mi.constructor_input.args), [])
                ctor_k = _to_cr(dict(mi.constructor_input.kwargs), [])
                module = cls(*ctor_a, **ctor_k)
                module.eval()
                args = _to_cr(tuple(mi.forward_input.args), leaves)
                kwargs = _to_cr(dict(mi.forward_input.kwargs), leaves)
            except Exception as e:
                skipped.setdefault(name, f"SKIP construction fails: {type(e).__name__}: {str(e)[:80]}")
                continue
            params = {n: p.detach() for n, p in module.named_parameters() if p.dtype.kind == "f"}
            for p in params.values():
                leaves.append((p, None))
            if not leaves:
                continue

            def fn(*a: Any, __params__: dict, __module__: Any = module, **kw: Any) -> Any:
                return crfunc.functional_call(__module__, __params__, a, kw)

            res = check(fn, (args, {**kwargs, "__params__": params}), leaves)
            if res is not None and res.startswith("SKIP"):
                skipped.setdefault(name, res)
                continue
            ok_any = True
            if res is not None:
                failures.setdefault(f"{name}[{k}]", res)
        if ok_any:
            judged += 1
            skipped.pop(name, None)
    return failures, skipped, judged


def special_cases() -> dict:
    """chainrule.special's differentiable functions on inputs in their domains: (fn, args, kwargs)."""
    pos = R.uniform(0.5, 3.0, (2, 3))
    u = R.uniform(-2.0, 2.0, (2, 3))
    prob = R.uniform(0.1, 0.9, (2, 3))
    t = cr.tensor
    sp = cr.special
    return {
        "special.i0": (sp.i0, [t(u)], {}),
        "special.i0e": (sp.i0e, [t(u)], {}),
        "special.i1": (sp.i1, [t(u)], {}),
        "special.i1e": (sp.i1e, [t(u)], {}),
        "special.i0e(large)": (sp.i0e, [t(np.array([-40.0, -31.0, 35.0, 50.0]))], {}),
        "special.i1e(large)": (sp.i1e, [t(np.array([-40.0, -31.0, 35.0, 50.0]))], {}),
        "special.gammainc(x)": (lambda x: sp.gammainc(t(pos[::-1].copy()), x), [t(pos)], {}),
        "special.gammaincc(x)": (lambda x: sp.gammaincc(t(pos[::-1].copy()), x), [t(pos)], {}),
        "igamma(x)": (lambda x: cr.igamma(t(pos[::-1].copy()), x), [t(pos)], {}),
        "igammac(x)": (lambda x: cr.igammac(t(pos[::-1].copy()), x), [t(pos)], {}),
        "special.zeta(q)": (lambda q: sp.zeta(t(pos + 1.5), q), [t(pos)], {}),
        "special.ndtr": (sp.ndtr, [t(u)], {}),
        "special.ndtri": (sp.ndtri, [t(prob)], {}),
        "special.log_ndtr": (sp.log_ndtr, [t(u)], {}),
        "special.entr": (sp.entr, [t(pos)], {}),
        "special.xlog1py": (sp.xlog1py, [t(u), t(pos)], {}),
        "special.xlogy": (sp.xlogy, [t(u), t(pos)], {}),
        "special.erfcx": (sp.erfcx, [t(u)], {}),
        "special.erf": (sp.erf, [t(u)], {}),
        "special.erfc": (sp.erfc, [t(u)], {}),
        "special.erfinv": (sp.erfinv, [t(prob)], {}),
        "special.expit": (sp.expit, [t(u)], {}),
        "special.logit": (sp.logit, [t(prob)], {}),
        "special.exp2": (sp.exp2, [t(u)], {}),
        "special.expm1": (sp.expm1, [t(u)], {}),
        "special.log1p": (sp.log1p, [t(pos)], {}),
        "special.gammaln": (sp.gammaln, [t(pos)], {}),
        "special.digamma": (sp.digamma, [t(pos)], {}),
        "special.polygamma": (lambda x: sp.polygamma(2, x), [t(pos)], {}),
        "special.multigammaln": (lambda x: sp.multigammaln(x, 2), [t(pos + 1)], {}),
        "special.sinc": (sp.sinc, [t(u)], {}),
        "special.round": (sp.round, [t(u)], {}),
        "special.logsumexp": (lambda x: sp.logsumexp(x, 1), [t(u)], {}),
        "special.softmax": (lambda x: sp.softmax(x, 1), [t(u)], {}),
        "special.log_softmax": (lambda x: sp.log_softmax(x, 1), [t(u)], {}),
    }


def extra_cases() -> dict:
    """Differentiable functions that PyTorch's database lacks or wraps in a lambda (argument order),
    or that are chainrule's own: (fn, args, kwargs); every float array argument is differentiated."""
    t = cr.tensor
    F = cr.nn.functional

    def u(*shape: int, lo: float = -2.0, hi: float = 2.0) -> cr.Tensor:
        return t(R.uniform(lo, hi, shape))

    lstm_params = [u(12, 3), u(12, 3), u(12), u(12)]
    gru_params = [u(9, 3), u(9, 3), u(9), u(9)]
    lp = u(6, 2, 4)
    ctc_lp = cr.log_softmax(lp, -1).detach()
    sym = R.standard_normal((3, 3))
    return {
        "einsum": (lambda a, b: cr.einsum("ij,jk->ik", a, b), [u(2, 3), u(3, 4)], {}),
        "expand": (lambda x: x.expand(2, 3, 4), [u(3, 1)], {}),
        "view": (lambda x: x.view(3, 4), [u(2, 6)], {}),
        "reshape_as": (lambda x, y: x.reshape_as(y), [u(2, 6), u(3, 4)], {}),
        "where": (lambda a, b: cr.where(a > 0, a, b), [u(3, 4), u(3, 4)], {}),
        "repeat": (lambda x: x.repeat(2, 3), [u(2, 2)], {}),
        "Tensor.unfold": (lambda x: x.unfold(1, 2, 1), [u(2, 5)], {}),
        "mT": (lambda x: x.mT, [u(2, 3, 4)], {}),
        "polygamma": (lambda x: cr.polygamma(1, x), [u(2, 3, lo=0.5, hi=3)], {}),
        "linalg.lstsq": (lambda a, b: cr.linalg.lstsq(a, b).solution, [u(5, 3), u(5, 2)], {}),
        "linalg.pinv": (cr.linalg.pinv, [u(4, 3)], {}),
        "linalg.matrix_exp": (cr.linalg.matrix_exp, [u(3, 3, lo=-0.5, hi=0.5)], {}),
        "linalg.eigh(sym)": (lambda a: cr.linalg.eigh(0.5 * (a + a.mT))[0], [t(sym)], {}),
        "linalg.cholesky(sym)": (lambda a: cr.linalg.cholesky(a @ a.mT + 3 * cr.eye(3, dtype=cr.float64)),
                                 [t(sym)], {}),
        "nn.functional.embedding": (lambda w: F.embedding(cr.tensor([[0, 2], [1, 1]]), w), [u(4, 3)], {}),
        "nn.functional.embedding_bag": (lambda w, psw: F.embedding_bag(cr.tensor([0, 2, 1, 1, 3]), w,
                                                                       cr.tensor([0, 2]), mode="sum",
                                                                       per_sample_weights=psw),
                                        [u(4, 3), u(5)], {}),
        "nn.functional.scaled_dot_product_attention": (F.scaled_dot_product_attention,
                                                       [u(2, 3, 4), u(2, 5, 4), u(2, 5, 4)], {}),
        "nn.functional.scaled_dot_product_attention(causal)": (
            lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True), [u(1, 4, 3), u(1, 4, 3),
                                                                                      u(1, 4, 3)], {}),
        "nn.functional.multi_head_attention_forward": (
            lambda q, w, b, ow: F.multi_head_attention_forward(q, q, q, 4, 2, w, b, None, None, False, 0.0, ow,
                                                               None, training=False)[0],
            [u(3, 2, 4), u(12, 4), u(12), u(4, 4)], {}),
        "nn.functional.ctc_loss": (lambda x: F.ctc_loss(cr.log_softmax(x, -1), cr.tensor([[1, 2], [3, 3]]),
                                                        (6, 5), (2, 2)), [ctc_lp], {}),
        "nn.functional.grid_sample": (lambda x, g: F.grid_sample(x, g, align_corners=False),
                                      [u(1, 2, 4, 4), u(1, 3, 3, 2, lo=-0.9, hi=0.9)], {}),
        "nn.functional.affine_grid": (lambda th: F.affine_grid(th, [1, 1, 3, 4], align_corners=False),
                                      [u(1, 2, 3)], {}),
        "nn.functional.fold": (lambda x: F.fold(x, (3, 3), 2), [u(1, 4, 4)], {}),
        "nn.functional.lstm": (lambda x, *p: F.lstm(x, None, list(p))[0], [u(4, 2, 3), *lstm_params], {}),
        "nn.functional.lstm_cell": (lambda x, h, c, *p: F.lstm_cell(x, (h, c), *p)[1],
                                    [u(2, 3), u(2, 3), u(2, 3), *lstm_params], {}),
        "nn.functional.gru": (lambda x, *p: F.gru(x, None, list(p))[0], [u(4, 2, 3), *gru_params], {}),
        "nn.functional.gru_cell": (lambda x, h, *p: F.gru_cell(x, h, *p), [u(2, 3), u(2, 3), *gru_params], {}),
        "nn.functional.rnn_tanh": (lambda x, *p: F.rnn_tanh(x, None, list(p))[0],
                                   [u(4, 2, 3), u(3, 3), u(3, 3), u(3), u(3)], {}),
        "nn.functional.rnn_relu_cell": (F.rnn_relu_cell, [u(2, 3), u(2, 3), u(3, 3), u(3, 3), u(3), u(3)], {}),
        "nn.functional.lp_pool1d": (lambda x: F.lp_pool1d(x, 2.0, 2), [u(1, 2, 6, lo=0.2)], {}),
        "nn.functional.lp_pool2d": (lambda x: F.lp_pool2d(x, 3.0, 2), [u(1, 2, 4, 4, lo=0.2)], {}),
        "nn.functional.maxout": (lambda x: F.maxout(x, 2), [u(3, 6)], {}),
        "nn.functional.swish": (F.swish, [u(3, 4)], {}),
        "nn.functional.eswish": (F.eswish, [u(3, 4)], {}),
        "nn.functional.causal_conv1d": (F.causal_conv1d, [u(1, 2, 6), u(3, 2, 2), u(3)], {}),
        "nn.functional.upsample": (lambda x: F.upsample(x, scale_factor=2, mode="bilinear", align_corners=False),
                                   [u(1, 1, 3, 3)], {}),
        "nn.functional.additive_attention": (lambda q, k, wa, ua, va: F.additive_attention(q, k, wa, ua, va)[0],
                                             [u(2, 3), u(2, 4, 3), u(3, 3), u(3, 3), u(3)], {}),
        "nn.functional.multi_margin_loss": (lambda x: F.multi_margin_loss(x, cr.tensor([1, 0, 3])), [u(3, 4)], {}),
        "nn.functional.multilabel_margin_loss": (lambda x: F.multilabel_margin_loss(
            x, cr.tensor([[1, 0, -1, 0], [3, -1, 0, 0]])), [u(2, 4)], {}),
        "nn.functional.cross_entropy(probs)": (lambda x, p: F.cross_entropy(x, cr.softmax(p, -1)), [u(3, 4), u(3, 4)],
                                               {}),
        "nn.functional.kl_div(log_target)": (lambda x, y: F.kl_div(x, y, reduction="batchmean", log_target=True),
                                             [u(3, 4), u(3, 4)], {}),
        "nn.functional.rms_norm": (lambda x, w: F.rms_norm(x, (4,), w), [u(3, 4), u(4)], {}),
        "nn.functional.local_response_norm": (lambda x: F.local_response_norm(x, 3), [u(1, 5, 3, 3)], {}),
        "nn.functional.pdist": (F.pdist, [u(4, 3)], {}),
        "cdist": (cr.cdist, [u(3, 2), u(4, 2)], {}),
        "Tensor.trace": (lambda x: x.trace(), [u(3, 3)], {}),
        "nn.functional.pairwise_distance": (F.pairwise_distance, [u(3, 4), u(3, 4)], {}),
    }


def distribution_cases() -> dict:
    """``torch.distributions``: log_prob, cdf, icdf, entropy, mean and variance of each family,
    differentiated in the parameters and (continuous families with an open support) the value."""
    import chainrule.distributions as D

    t = cr.tensor

    def pos(*s: int) -> cr.Tensor:
        return t(R.uniform(0.5, 2.0, s))

    def un(*s: int) -> cr.Tensor:
        return t(R.uniform(-1.5, 1.5, s))

    def prob(*s: int) -> cr.Tensor:
        return t(R.uniform(0.2, 0.8, s))

    def spd_of(c: cr.Tensor) -> cr.Tensor:
        return c @ c.mT + 3 * cr.eye(c.shape[-1], dtype=c.dtype)

    simplex = t(np.array([0.2, 0.3, 0.5]))
    counts = t(np.array([0.0, 2.0, 5.0]))
    spd = spd_of(t(R.standard_normal((3, 3))))
    corr_l = t(np.linalg.cholesky(np.array([[1.0, 0.3, 0.1], [0.3, 1.0, 0.2], [0.1, 0.2, 1.0]])))
    # name -> (make(*params), params, value or None, the value differentiated?, methods)
    every = ("log_prob", "cdf", "icdf", "entropy", "mean", "variance")
    families: dict = {
        "Normal": (D.Normal, [un(3), pos(3)], un(3), True, every),
        "LogNormal": (D.LogNormal, [un(3), pos(3)], pos(3), True, every),
        "Gamma": (D.Gamma, [pos(3), pos(3)], pos(3), True, every),
        "Beta": (D.Beta, [pos(3), pos(3)], prob(3), True, every),
        "Exponential": (D.Exponential, [pos(3)], pos(3), True, every),
        "Laplace": (D.Laplace, [un(3), pos(3)], un(3), True, every),
        "Cauchy": (D.Cauchy, [un(3), pos(3)], un(3), True, ("log_prob", "cdf", "icdf", "entropy")),
        "HalfCauchy": (D.HalfCauchy, [pos(3)], pos(3), True, ("log_prob", "cdf", "icdf", "entropy")),
        "Gumbel": (D.Gumbel, [un(3), pos(3)], un(3), True, every),
        "StudentT": (D.StudentT, [pos(3) + 2, un(3), pos(3)], un(3), True, every),
        "Chi2": (D.Chi2, [pos(3) + 1], pos(3), True, every),
        "InverseGamma": (D.InverseGamma, [pos(3) + 2, pos(3)], pos(3), True, every),
        "Weibull": (D.Weibull, [pos(3), pos(3)], pos(3), True, every),
        "Pareto": (D.Pareto, [pos(3), pos(3) + 2], pos(3) + 3, True, every),
        "HalfNormal": (D.HalfNormal, [pos(3)], pos(3), True, every),
        "Kumaraswamy": (D.Kumaraswamy, [pos(3), pos(3)], prob(3), True, every),
        "VonMises": (D.VonMises, [un(3), pos(3)], un(3), True, every),
        "FisherSnedecor": (D.FisherSnedecor, [pos(3) + 4, pos(3) + 4], pos(3), True, every),
        "Uniform": (D.Uniform, [un(3) - 2, un(3) + 2], un(3) * 0.5, True, every),
        "ContinuousBernoulli": (D.ContinuousBernoulli, [prob(3)], prob(3), True, every),
        "GeneralizedPareto": (D.GeneralizedPareto, [un(3), pos(3), prob(3) * 0.3], pos(3), True, every),
        "Dirichlet": (D.Dirichlet, [pos(3)], simplex, False, every),
        "Bernoulli": (lambda p: D.Bernoulli(probs=p), [prob(3)], t(np.array([0.0, 1.0, 1.0])), False, every),
        "Binomial": (lambda p: D.Binomial(5, probs=p), [prob(3)], counts, False, every),
        "Poisson": (D.Poisson, [pos(3)], counts, False, every),
        "Geometric": (lambda p: D.Geometric(probs=p), [prob(3)], counts, False, every),
        "NegativeBinomial": (lambda c, p: D.NegativeBinomial(c, probs=p), [pos(3), prob(3)], counts, False, every),
        "Categorical": (lambda logits: D.Categorical(logits=logits), [un(4)], t(np.array(2)), False,
                        ("log_prob", "entropy")),
        "MultivariateNormal": (lambda m, c: D.MultivariateNormal(m, covariance_matrix=spd_of(c)),
                               [un(3), un(3, 3)], un(3), True, every),
        "LowRankMultivariateNormal": (D.LowRankMultivariateNormal, [un(3), un(3, 2), pos(3)], un(3), True, every),
        "Wishart": (lambda df, c: D.Wishart(df, covariance_matrix=spd_of(c)), [pos(1)[0] + 4, un(3, 3)], spd,
                    False, every),
        "LKJCholesky": (lambda c: D.LKJCholesky(3, c), [pos(1)[0]], corr_l, False, every),
        "RelaxedBernoulli": (lambda tmp, p: D.RelaxedBernoulli(tmp, probs=p), [pos(1)[0], prob(3)], prob(3), True,
                             every),
        "LogisticNormal": (D.LogisticNormal, [un(2), pos(2)], simplex, False, every),
    }
    cases: dict = {}
    for name, (make, params, value, diff_value, methods) in families.items():
        for meth in methods:
            try:  # only what the family defines (PyTorch raises NotImplementedError for the rest)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    d = make(*params)
                    attr = getattr(d, meth)
                    res = attr(value) if meth in ("log_prob", "cdf", "icdf") else attr() if callable(attr) else attr
                if not isinstance(res, cr.Tensor) or not np.isfinite(res._array).all():
                    continue
            except (NotImplementedError, ValueError):
                continue
            if meth in ("log_prob", "cdf", "icdf"):
                if diff_value:
                    cases[f"{name}.{meth}"] = (lambda *xs, mk=make, m=meth: getattr(mk(*xs[:-1]), m)(xs[-1]),
                                               [*params, value], {})
                else:
                    cases[f"{name}.{meth}"] = (lambda *xs, mk=make, m=meth, v=value: getattr(mk(*xs), m)(v),
                                               list(params), {})
            else:
                def prop(*xs: Any, mk: Any = make, m: str = meth) -> Any:
                    a = getattr(mk(*xs), m)
                    return a() if callable(a) else a

                cases[f"{name}.{meth}"] = (prop, list(params), {})
    return cases


def run_cases(cases: dict) -> dict:
    """name -> reason for each failing case of ``cases`` (name -> (fn, args, kwargs)); no PyTorch
    needed (finite differences and reverse mode only)."""
    failures = {}
    for name, (fn, args, kwargs) in cases.items():
        res = check(fn, (args, kwargs), [(a, None) for a in args])
        if res is not None:
            failures[name] = res
    return failures


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--samples", type=int, default=3, help="sample inputs per operator (default 3)")
    p.add_argument("--only", default=None, help="only operators whose name contains this")
    p.add_argument("--no-modules", action="store_true", help="skip PyTorch's module database")
    ns = p.parse_args()
    cr.set_default_dtype(cr.float64)
    failures, skipped, judged = audit_op_db(ns.samples, ns.only)
    if ns.only is None or "special" in ns.only:
        for k, v in run_cases(special_cases()).items():
            failures["chainrule." + k] = v
    extras = {k: c for k, c in {**extra_cases(), **distribution_cases()}.items() if ns.only is None or ns.only in k}
    for k, v in run_cases(extras).items():
        failures["extra " + k] = v
    print(f"{len(extras)} further functions judged (a list of others, and torch.distributions' families)")
    if not ns.no_modules:
        mfail, mskip, mjudged = audit_module_db(ns.samples, ns.only)
        failures.update(mfail)
        skipped.update({k: v for k, v in mskip.items() if v != "not in chainrule"})
        print(f"{mjudged} modules of PyTorch's module database judged")
    known = {k: v for k, v in failures.items() if k in KNOWN}
    failures = {k: v for k, v in failures.items() if k not in KNOWN}
    for k in sorted(known):
        print(f"known {k}: {known[k]}\n      ({KNOWN[k]})")
    for k in sorted(failures):
        print(f"FAIL {k}: {failures[k]}")
    print(f"\n{judged} operators of PyTorch's database judged, {len(failures)} failing, {len(skipped)} skipped")
    for k in sorted(VALUE_DIFFS):
        print(f"  value differs from PyTorch's on a sample (not a forward-mode question): {k}: {VALUE_DIFFS[k]}")
    for k in sorted(skipped):
        print(f"  skipped {k}: {skipped[k]}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
