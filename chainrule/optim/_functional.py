"""The optimisers' update rules as functions (PyTorch's ``torch.optim._functional``).

One function per optimiser, with PyTorch's name and argument lists: lists of arrays in
(the parameters, their gradients, the state the rule keeps), everything updated in place.
Each :class:`~chainrule.optim.Optimizer`'s ``step()`` only gathers these lists from its
parameter groups and calls its function, so the update of a rule is written once::

    adam(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, state_steps,
         amsgrad=False, beta1=0.9, beta2=0.999, lr=1e-3, weight_decay=0.0, eps=1e-8, maximize=False)

The arrays are the back end's (``p._array``, ``p.grad._array``, the state Tensors' arrays);
all array work goes through the back-end table ``m`` (default: the parameters' own,
``table_of``).  ``state_steps`` are 0-d arrays, advanced by one
here as PyTorch advances its 0-d step Tensors.  Hyper-parameters are Python floats.

Two chainrule additions, both optional: ``work``, a :class:`Scratch` that keeps the
temporaries of an update between calls (an optimiser passes its own; without it the
temporaries are allocated per call), and, for :func:`adam`, ``flat``, a :class:`FlatAdam`
whose flat buffers hold the moments of all the parameters (then the moment arithmetic
runs once over one flat array instead of once per parameter).
"""

from __future__ import annotations

import math
from operator import is_
from typing import Any, Sequence

from chainrule.autograd.primitive import table_of
from chainrule.backend import ArrayMath, get_default_dtype

__all__ = [
    "FlatAdam", "Scratch", "adadelta", "adafactor", "adagrad", "adam", "adamax", "adamw", "asgd",
    "muon", "nadam", "radam", "rmsprop", "rprop", "sgd",
]

Arrays = Sequence[Any]


class Scratch:
    """Scratch arrays for an update's temporaries, and its hyper-parameters as 0-d arrays,
    kept across parameters and steps.

    One flat buffer per (dtype, slot), as large as the largest parameter seen; ``work(like,
    slot)`` is a view of it shaped like ``like``.  ``slot`` tells apart the temporaries one
    update needs at the same time.  ``work.scalars(dtype, values)`` are ``values`` as 0-d
    arrays of ``dtype`` (a ufunc takes those about twice as fast as Python floats), made once
    per distinct (dtype, values).
    """

    __slots__ = ("bufs", "m", "cache")

    def __init__(self, m: Any = ArrayMath) -> None:
        self.bufs: dict[tuple, Any] = {}
        self.cache: dict[tuple, tuple] = {}
        self.m = m

    def __call__(self, like: Any, slot: int = 0) -> Any:
        key = (like.dtype, slot)
        buf = self.bufs.get(key)
        if buf is None or buf.size < like.size:
            buf = self.bufs[key] = self.m.empty(like.size, like.dtype)
        return buf[: like.size].reshape(like.shape)

    def scalars(self, dtype: Any, values: tuple) -> tuple:
        key = (dtype, values)
        c = self.cache.get(key)
        if c is None:
            if len(self.cache) > 64:  # a schedule changes lr every step: keep the recent ones only
                self.cache.clear()
            c = self.cache[key] = tuple(self.m.scalar(v, dtype) for v in values)
        return c


# The 0-d state (step counters, NAdam's product of momenta, ASGD's eta and mu) stays on the
# host whatever the parameters' device, as PyTorch's CPU 'step': its arithmetic is the host
# table's, and the updates read it as Python floats.
h = ArrayMath


def _advance(step_t: Any) -> float:
    """Add one to a 0-d step counter in place and return the new count.

    Item assignment: an in-place ufunc on a 0-d array costs ~40x more.
    """
    step = float(step_t) + 1.0
    step_t[()] = step
    return step


def _grad_term(m: Any, w: Any, g: Any, weight_decay: float, maximize: bool, work: Scratch | None,
               out: Any = None) -> Any:
    """The gradient a rule uses, ``±g + λ w`` (L2 weight decay, coupled): ``g`` itself when there
    is nothing to add (no copy), else written into ``out`` (default: scratch slot 0 of ``work``)."""
    if weight_decay == 0.0 and not maximize:
        return g
    if out is None:
        out = work(w, 0)  # type: ignore[misc]
    if weight_decay == 0.0:
        return m.negative(g, out)
    m.multiply(w, m.scalar(weight_decay, w.dtype), out)
    return m.subtract(out, g, out) if maximize else m.add(out, g, out)


def _lerp_(m: Any, x: Any, end: Any, weight: float, t: Any) -> None:
    """``x ← x + weight (end − x)`` in place (PyTorch's ``lerp_``, with its formula for
    ``weight ≥ 0.5``, ``end − (end − x)(1 − weight)``, so that weight 1 gives ``end`` exactly)."""
    m.subtract(end, x, t)
    if weight < 0.5:
        m.multiply(t, m.scalar(weight, t.dtype), t)
        m.add(x, t, x)
    else:
        m.multiply(t, m.scalar(1.0 - weight, t.dtype), t)
        m.subtract(end, t, x)


def _scratch(work: Scratch | None, m: Any, params: Arrays) -> tuple[Scratch, Any]:
    """(workspace, table): the table given, else the workspace's, else the parameters' own
    (an optimiser hands its workspace, made for its parameters' table)."""
    if m is None:
        m = work.m if work is not None else table_of(params[:1], "optimizer step")
    return (work if work is not None else Scratch(m)), m


# ---- SGD -------------------------------------------------------------------------------
def sgd(params: Arrays, d_p_list: Arrays, momentum_buffer_list: list, *, weight_decay: float,
        momentum: float, lr: float, dampening: float, nesterov: bool, maximize: bool,
        work: Scratch | None = None, m: Any = None) -> None:
    """SGD (see :class:`~chainrule.optim.SGD`).  ``momentum_buffer_list[i]`` None means "no
    buffer yet": the first step creates it (v = g) and stores it in the list, as PyTorch does."""
    work, m = _scratch(work, m, params)
    values = (lr, momentum, 1.0 - dampening)
    for i, (w, g) in enumerate(zip(params, d_p_list)):
        lr_, mu_, keep_ = work.scalars(w.dtype, values)
        g = _grad_term(m, w, g, weight_decay, maximize, work)  # ±∂E/∂w + λw
        t = work(w, 1)
        if momentum == 0.0:
            m.multiply(g, lr_, t)
        else:
            v = momentum_buffer_list[i]
            if v is None:  # first step: v = g (no dampening), in the parameter's memory layout
                v = momentum_buffer_list[i] = m.empty_like(w)
                m.copyto(v, g)
            elif dampening == 0.0:  # v ← μ v + g, d, w ← w − α d: one table entry (one pass when compiled)
                m.sgd_momentum(w, g, v, t, mu_, lr_, nesterov)
                continue
            else:
                m.multiply(v, mu_, v)
                m.multiply(g, keep_, t)
                m.add(v, t, v)  # v ← μ v + (1 − τ) g
            if nesterov:  # d = g + μ v
                m.multiply(v, mu_, t)
                m.add(t, g, t)
                m.multiply(t, lr_, t)
            else:
                m.multiply(v, lr_, t)
        m.subtract(w, t, w)  # w ← w − α d


# ---- Adam / AdamW --------------------------------------------------------------------------
def _adam_moments(m: Any, g: Any, ma: Any, s: Any, s_max: Any, t: Any, c: tuple, step_size: Any,
                  eps_c: Any) -> None:
    """Update the moments M, S (and max S) in place from g; leave the step α M̂/(√Ŝ + ε) in t
    (the table's ``adam_moments``: one pass with the compiled kernel)."""
    m.adam_moments(g, ma, s, s_max, t, *c, step_size, eps_c)


class FlatAdam:
    """Adam's moments for many small parameters, laid out in flat buffers.

    ``views(key)`` are the per-parameter segments of ``flat[key]`` (each shaped like its
    parameter); the optimiser's state Tensors hold them, so the flat update is seen through
    ``state[p]['exp_avg']`` and ``state_dict()``.  :func:`adam` given ``flat=`` gathers the
    gradients into ``g`` and updates the moments and every parameter in one call of the
    table's ``adam_segments``.  ``holds`` tells whether given lists are still these views (they stop being so
    after ``load_state_dict``; the optimiser then builds a new one).
    """

    KEYS = ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")

    def __init__(self, shapes: list[tuple], dtype: Any, amsgrad: bool, m: Any = ArrayMath,
                 step_dtype: Any = "float32") -> None:
        sizes = [math.prod(s) for s in shapes]
        n = sum(sizes)
        bounds = [0]
        for k in sizes:
            bounds.append(bounds[-1] + k)
        self.segments = list(zip(bounds[:-1], bounds[1:], shapes))
        self.amsgrad = amsgrad
        self.keys = self.KEYS if amsgrad else self.KEYS[:2]
        self.flat = {key: m.empty(n, dtype) for key in self.keys + ("g",)}
        self.steps: Arrays | None = None  # the step counters the last flat update set (all equal)
        self.params: Arrays | None = None  # the parameter arrays the last flat update wrote
        self._views = {key: [buf[a:b].reshape(s) for a, b, s in self.segments] for key, buf in self.flat.items()}
        # the step counters too: 0-d views of one array, so that one write advances them all
        self.step_flat = h.zeros(len(shapes), step_dtype)
        self.step_views = [self.step_flat[k:k + 1].reshape(()) for k in range(len(shapes))]

    def views(self, key: str) -> list:
        return self._views[key]

    def ready(self, params: list, state: dict) -> tuple[Arrays, list, Arrays] | None:
        """(parameter arrays, gradient arrays, step counters) when the flat update of the last
        step applies again as it is: every parameter of ``params`` (the Tensors of the whole
        group) has a gradient and the array the last flat update wrote, and its state holds
        this buffer's views and the counter that update advanced; else None (the caller then
        gathers and checks everything, as on a first step).  One pass of identity checks: on
        small parameters, gathering the lists anew costs more than the update."""
        last, steps = self.params, self.steps
        if last is None or steps is None or len(params) != len(last):
            return None
        m_views, s_views = self._views["exp_avg"], self._views["exp_avg_sq"]
        grads = []
        for k, p in enumerate(params):
            g = p.grad
            st = state.get(p)
            if g is None or st is None or p._array is not last[k] or st["exp_avg"]._array is not m_views[k] \
                    or st["exp_avg_sq"]._array is not s_views[k] or st["step"]._array is not steps[k]:
                return None
            if self.amsgrad and st["max_exp_avg_sq"]._array is not self._views["max_exp_avg_sq"][k]:
                return None
            grads.append(g._array)
        return last, grads, steps

    def in_step(self, state_steps: Arrays) -> bool:
        """Whether ``state_steps`` are the counters the last flat update advanced together (so
        they are still equal, unless something else wrote them: whoever steps a parameter
        without this buffer must set ``steps`` to None)."""
        return self.steps is not None and len(self.steps) == len(state_steps) and all(
            map(is_, state_steps, self.steps))

    def holds(self, *lists: Arrays) -> bool:
        """Whether ``lists`` (exp_avgs, exp_avg_sqs[, max_exp_avg_sqs]) are these views."""
        if len(lists) != len(self.keys):
            return False
        for key, lst in zip(self.keys, lists):
            views = self._views[key]
            if len(lst) != len(views) or not all(map(is_, lst, views)):
                return False
        return True


def adam(params: Arrays, grads: Arrays, exp_avgs: Arrays, exp_avg_sqs: Arrays, max_exp_avg_sqs: Arrays,
         state_steps: Arrays, *, amsgrad: bool, beta1: float, beta2: float, lr: float,
         weight_decay: float, eps: float, maximize: bool, decoupled_weight_decay: bool = False,
         flat: FlatAdam | None = None, work: Scratch | None = None, m: Any = None) -> None:
    """Adam (see :class:`~chainrule.optim.Adam`); AdamW with ``decoupled_weight_decay``.

    ``θ ← θ − α M̂ / (√Ŝ + ε)`` is computed as ``θ ← θ − (α c / (1 − β1^t)) · M / (√S + ε c)``,
    c = √(1 − β2^t): the bias corrections fold into two scalars, one pass fewer over the arrays.

    With ``flat`` (whose views the moment lists must be, and all step counts equal), the moment
    arithmetic runs once over the flat buffers: for parameters of a few hundred elements,
    NumPy's per-call cost, not the arithmetic, is what a step costs.
    """
    work, m = _scratch(work, m, params)
    if flat is not None:
        _adam_flat(m, flat, params, grads, state_steps, beta1, beta2, lr, weight_decay, eps, maximize,
                   decoupled_weight_decay)
        return
    values = (beta1, 1.0 - beta1, beta2, 1.0 - beta2, 1.0 - lr * weight_decay)
    decay_w = decoupled_weight_decay and weight_decay != 0.0
    coupled_wd = 0.0 if decoupled_weight_decay else weight_decay
    per_step: dict[tuple, tuple] = {}  # (dtype, step) -> the two step scalars

    def step_scalars(step: float, dtype: Any) -> tuple:
        """α c / (1 − β1^t) and ε c, c = √(1 − β2^t), as 0-d arrays of ``dtype``."""
        sc = per_step.get((dtype, step))
        if sc is None:
            c = math.sqrt(1.0 - beta2**step)
            sc = per_step[(dtype, step)] = (m.scalar(lr * c / (1.0 - beta1**step), dtype),
                                            m.scalar(eps * c, dtype))
        return sc

    for i, (w, g) in enumerate(zip(params, grads)):
        step = _advance(state_steps[i])
        c = work.scalars(w.dtype, values)
        if decay_w:
            m.multiply(w, c[4], w)  # θ ← (1 − αλ) θ
        g = _grad_term(m, w, g, coupled_wd, maximize, work)
        t = work(w, 1)
        s_max = max_exp_avg_sqs[i] if amsgrad else None
        _adam_moments(m, g, exp_avgs[i], exp_avg_sqs[i], s_max, t, c[:4], *step_scalars(step, w.dtype))
        m.subtract(w, t, w)


def _adam_flat(m: Any, flat: FlatAdam, params: Arrays, grads: Arrays, state_steps: Arrays, beta1: float,
               beta2: float, lr: float, weight_decay: float, eps: float, maximize: bool, decoupled: bool) -> None:
    """:func:`adam` on flat buffers: gather ±g + λθ, then one update of the moments and every parameter.
    Written for few Python operations per parameter: on small parameters they are the cost.  The
    scalars go to the table as Python floats, which it rounds to the arrays' dtype as it rounds
    0-d arrays of that dtype (NumPy takes a Python float as a "weak" scalar), so the same bits."""
    if not params:
        return
    step = float(state_steps[0]) + 1.0  # (equal counts: the caller checked)
    views = flat.step_views
    if len(state_steps) == len(views) and all(map(is_, state_steps, views)):
        flat.step_flat[...] = step  # (the counters are views of it: one write)
    else:
        for st in state_steps:
            st[()] = step
    flat.steps = state_steps  # (they are equal again: see FlatAdam.in_step)
    flat.params = params
    f = flat.flat
    g_views = flat.views("g")
    coupled_wd = 0.0 if decoupled else weight_decay
    if coupled_wd == 0.0 and not maximize:
        copyto = m.copyto
        for gv, g in zip(g_views, grads):
            copyto(gv, g)
    else:
        for w, g, gv in zip(params, grads, g_views):
            _grad_term(m, w, g, coupled_wd, maximize, None, gv)
    if decoupled and weight_decay != 0.0:
        keep = m.scalar(1.0 - lr * weight_decay, params[0].dtype)
        for w in params:
            m.multiply(w, keep, w)  # θ ← (1 − αλ) θ
    c = math.sqrt(1.0 - beta2**step)
    m.adam_segments(f["g"], f["exp_avg"], f["exp_avg_sq"], f.get("max_exp_avg_sq"), params, beta1, 1.0 - beta1,
                    beta2, 1.0 - beta2, lr * c / (1.0 - beta1**step), eps * c)


def adamw(params: Arrays, grads: Arrays, exp_avgs: Arrays, exp_avg_sqs: Arrays, max_exp_avg_sqs: Arrays,
          state_steps: Arrays, *, amsgrad: bool, beta1: float, beta2: float, lr: float,
          weight_decay: float, eps: float, maximize: bool, **kw: Any) -> None:
    """AdamW: :func:`adam` with decoupled weight decay ``θ ← (1 − αλ) θ``."""
    adam(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, state_steps, amsgrad=amsgrad,
         beta1=beta1, beta2=beta2, lr=lr, weight_decay=weight_decay, eps=eps, maximize=maximize,
         decoupled_weight_decay=True, **kw)


# ---- Adagrad, RMSprop ----------------------------------------------------------------------
def adagrad(params: Arrays, grads: Arrays, state_sums: Arrays, state_steps: Arrays, *, lr: float,
            weight_decay: float, lr_decay: float, eps: float, maximize: bool,
            work: Scratch | None = None, m: Any = None) -> None:
    """Adagrad (see :class:`~chainrule.optim.Adagrad`): S ← S + g², w ← w − α_t g/(√S + ε)
    (the table's ``adagrad_update``: one pass with the compiled kernel)."""
    work, m = _scratch(work, m, params)
    for w, g, s, step_t in zip(params, grads, state_sums, state_steps):
        step = _advance(step_t)
        clr, eps_ = work.scalars(w.dtype, (lr / (1.0 + (step - 1.0) * lr_decay), eps))
        g = _grad_term(m, w, g, weight_decay, maximize, work)
        m.adagrad_update(w, g, s, work(w, 1), clr, eps_)


def rmsprop(params: Arrays, grads: Arrays, square_avgs: Arrays, grad_avgs: Arrays,
            momentum_buffer_list: Arrays, state_steps: Arrays, *, lr: float, alpha: float, eps: float,
            weight_decay: float, momentum: float, centered: bool, maximize: bool,
            work: Scratch | None = None, m: Any = None) -> None:
    """RMSprop (see :class:`~chainrule.optim.RMSprop`).  ``grad_avgs`` is read only when
    ``centered``, ``momentum_buffer_list`` only when ``momentum > 0`` (the table's
    ``rmsprop_update``: one pass with the compiled kernel)."""
    work, m = _scratch(work, m, params)
    values = (lr, alpha, 1.0 - alpha, eps, momentum)
    for i, (w, g, s) in enumerate(zip(params, grads, square_avgs)):
        _advance(state_steps[i])
        g = _grad_term(m, w, g, weight_decay, maximize, work)
        m.rmsprop_update(w, g, s, grad_avgs[i] if centered else None,
                         momentum_buffer_list[i] if momentum > 0 else None, work(w, 1),
                         *work.scalars(w.dtype, values))


# ---- the Adam family: NAdam, RAdam, Adamax ---------------------------------------------------
def _second_moment(m: Any, s: Any, g: Any, beta2: float, t: Any) -> None:
    """S ← β2 S + (1 − β2) g² in place."""
    m.multiply(s, m.scalar(beta2, s.dtype), s)
    m.multiply(g, g, t)
    m.multiply(t, m.scalar(1.0 - beta2, s.dtype), t)
    m.add(s, t, s)


def _decay(m: Any, w: Any, g: Any, lr: float, weight_decay: float, decoupled: bool, maximize: bool,
           work: Scratch) -> Any:
    """Weight decay before an Adam-family step: decoupled shrinks w (θ ← (1 − αλ) θ) and
    returns ±g; coupled returns ±g + λθ."""
    if decoupled:
        if weight_decay != 0.0:
            m.multiply(w, m.scalar(1.0 - lr * weight_decay, w.dtype), w)
        return _grad_term(m, w, g, 0.0, maximize, work)
    return _grad_term(m, w, g, weight_decay, maximize, work)


def nadam(params: Arrays, grads: Arrays, exp_avgs: Arrays, exp_avg_sqs: Arrays, mu_products: Arrays,
          state_steps: Arrays, *, beta1: float, beta2: float, lr: float, weight_decay: float,
          momentum_decay: float, eps: float, decoupled_weight_decay: bool = False, maximize: bool = False,
          work: Scratch | None = None, m: Any = None) -> None:
    """NAdam (see :class:`~chainrule.optim.NAdam`).  ``mu_products`` are 0-d arrays (Π μ_k)."""
    work, m = _scratch(work, m, params)
    for w, g, ma, s, mu_prod, step_t in zip(params, grads, exp_avgs, exp_avg_sqs, mu_products, state_steps):
        step = _advance(step_t)
        g = _decay(m, w, g, lr, weight_decay, decoupled_weight_decay, maximize, work)
        t, d = work(w, 1), work(w, 2)
        mu = beta1 * (1.0 - 0.5 * 0.96 ** (step * momentum_decay))
        mu_next = beta1 * (1.0 - 0.5 * 0.96 ** ((step + 1.0) * momentum_decay))
        h.multiply(mu_prod, h.scalar(mu, mu_prod.dtype), mu_prod)  # in the counter's own dtype
        prod = float(mu_prod)
        _lerp_(m, ma, g, 1.0 - beta1, t)  # M ← β1 M + (1 − β1) g
        _second_moment(m, s, g, beta2, t)
        m.divide(s, m.scalar(1.0 - beta2**step, s.dtype), d)
        m.sqrt(d, d)
        m.add(d, m.scalar(eps, d.dtype), d)  # D = √(S / (1 − β2^t)) + ε
        m.divide(g, d, t)
        m.multiply(t, m.scalar(-lr * (1.0 - mu) / (1.0 - prod), w.dtype), t)
        m.add(w, t, w)  # θ ← θ − α (1 − μ_t) / (1 − Π_{k≤t} μ_k) · g / D
        m.divide(ma, d, t)
        m.multiply(t, m.scalar(-lr * mu_next / (1.0 - prod * mu_next), w.dtype), t)
        m.add(w, t, w)  # θ ← θ − α μ_{t+1} / (1 − Π_{k≤t+1} μ_k) · M / D


def radam(params: Arrays, grads: Arrays, exp_avgs: Arrays, exp_avg_sqs: Arrays, state_steps: Arrays, *,
          beta1: float, beta2: float, lr: float, weight_decay: float, eps: float,
          decoupled_weight_decay: bool = False, maximize: bool = False,
          work: Scratch | None = None, m: Any = None) -> None:
    """RAdam (see :class:`~chainrule.optim.RAdam`)."""
    work, m = _scratch(work, m, params)
    rho_inf = 2.0 / (1.0 - beta2) - 1.0
    for w, g, ma, s, step_t in zip(params, grads, exp_avgs, exp_avg_sqs, state_steps):
        step = _advance(step_t)
        g = _decay(m, w, g, lr, weight_decay, decoupled_weight_decay, maximize, work)
        t, d = work(w, 1), work(w, 2)
        _lerp_(m, ma, g, 1.0 - beta1, t)
        _second_moment(m, s, g, beta2, t)
        bc2 = 1.0 - beta2**step
        m.divide(ma, m.scalar(1.0 - beta1**step, w.dtype), t)
        m.multiply(t, m.scalar(lr, w.dtype), t)  # α M̂
        rho_t = rho_inf - 2.0 * step * beta2**step / bc2  # the length of the approximated SMA
        if rho_t > 5.0:  # the variance is tractable: rectified adaptive step
            rect = math.sqrt((rho_t - 4.0) * (rho_t - 2.0) * rho_inf / ((rho_inf - 4.0) * (rho_inf - 2.0) * rho_t))
            m.sqrt(s, d)
            m.add(d, m.scalar(eps, w.dtype), d)
            m.divide(m.scalar(math.sqrt(bc2), w.dtype), d, d)  # √(1 − β2^t) / (√S + ε)
            m.multiply(t, d, t)
            m.multiply(t, m.scalar(rect, w.dtype), t)
        m.subtract(w, t, w)


def adamax(params: Arrays, grads: Arrays, exp_avgs: Arrays, exp_infs: Arrays, state_steps: Arrays, *,
           eps: float, beta1: float, beta2: float, lr: float, weight_decay: float, maximize: bool,
           work: Scratch | None = None, m: Any = None) -> None:
    """Adamax (see :class:`~chainrule.optim.Adamax`): Adam with the ∞-norm, u ← max(β2 u, |g| + ε)."""
    work, m = _scratch(work, m, params)
    for w, g, ma, u, step_t in zip(params, grads, exp_avgs, exp_infs, state_steps):
        step = _advance(step_t)
        g = _grad_term(m, w, g, weight_decay, maximize, work)
        t = work(w, 1)
        _lerp_(m, ma, g, 1.0 - beta1, t)
        m.multiply(u, m.scalar(beta2, u.dtype), u)
        m.abs(g, t)
        m.add(t, m.scalar(eps, t.dtype), t)
        m.maximum(u, t, out=u)
        m.divide(ma, u, t)
        m.multiply(t, m.scalar(-lr / (1.0 - beta1**step), w.dtype), t)
        m.add(w, t, w)  # θ ← θ − α / (1 − β1^t) · M / u


# ---- Adadelta, ASGD, Rprop -------------------------------------------------------------------
def adadelta(params: Arrays, grads: Arrays, square_avgs: Arrays, acc_deltas: Arrays, state_steps: Arrays, *,
             lr: float, rho: float, eps: float, weight_decay: float, maximize: bool,
             work: Scratch | None = None, m: Any = None) -> None:
    """Adadelta (see :class:`~chainrule.optim.Adadelta`)."""
    work, m = _scratch(work, m, params)
    for w, g, s, acc, step_t in zip(params, grads, square_avgs, acc_deltas, state_steps):
        _advance(step_t)
        g = _grad_term(m, w, g, weight_decay, maximize, work)
        t, d = work(w, 1), work(w, 2)
        eps_ = m.scalar(eps, w.dtype)
        _second_moment(m, s, g, rho, t)  # S ← ρ S + (1 − ρ) g²
        m.add(s, eps_, t)
        m.sqrt(t, t)  # √(S + ε)
        m.add(acc, eps_, d)
        m.sqrt(d, d)  # √(A + ε)
        m.divide(d, t, d)
        m.multiply(d, g, d)  # Δ = √(A + ε) / √(S + ε) · g
        _second_moment(m, acc, d, rho, t)  # A ← ρ A + (1 − ρ) Δ²
        m.multiply(d, m.scalar(lr, w.dtype), d)
        m.subtract(w, d, w)  # θ ← θ − α Δ


def asgd(params: Arrays, grads: Arrays, axs: Arrays, mus: Arrays, etas: Arrays, state_steps: Arrays, *,
         lambd: float, lr: float, t0: float, alpha: float, weight_decay: float, maximize: bool,
         work: Scratch | None = None, m: Any = None) -> None:
    """ASGD (see :class:`~chainrule.optim.ASGD`).  ``mus`` and ``etas`` are 0-d arrays."""
    work, m = _scratch(work, m, params)
    default = get_default_dtype()
    for w, g, ax, mu, eta, step_t in zip(params, grads, axs, mus, etas, state_steps):
        step = _advance(step_t)
        g = _grad_term(m, w, g, weight_decay, maximize, work)
        t = work(w, 1)
        eta_v = float(eta)
        m.multiply(w, m.scalar(1.0 - lambd * eta_v, w.dtype), w)  # θ ← (1 − λ η) θ
        m.multiply(g, m.scalar(-eta_v, w.dtype), t)
        m.add(w, t, w)  # θ ← θ − η g
        if float(mu) != 1.0:
            m.subtract(w, ax, t)
            m.multiply(t, m.scalar(float(mu), w.dtype), t)
            m.add(ax, t, ax)  # ā ← ā + μ (θ − ā)
        else:
            m.copyto(ax, w)
        # PyTorch makes the new values with torch.as_tensor, in the default dtype, whatever the
        # dtype of 'eta' and 'mu' (float64 after a load_state_dict): round them the same way.
        eta[()] = h.scalar(lr / (1.0 + lambd * lr * step) ** alpha, default)
        mu[()] = h.scalar(1.0 / max(1.0, step - t0), default)


def rprop(params: Arrays, grads: Arrays, prevs: Arrays, step_sizes: Arrays, state_steps: Arrays, *,
          step_size_min: float, step_size_max: float, etaminus: float, etaplus: float, maximize: bool,
          work: Scratch | None = None, m: Any = None) -> None:
    """Rprop (see :class:`~chainrule.optim.Rprop`): only the gradient's sign is used."""
    work, m = _scratch(work, m, params)
    for w, g, prev, size, step_t in zip(params, grads, prevs, step_sizes, state_steps):
        _advance(step_t)
        t = work(w, 1)
        if maximize:
            g = m.negative(g, work(w, 0))
        m.multiply(g, prev, t)
        flipped = t < 0  # the sign changed: the last step went past a minimum
        factor = m.where(t > 0, m.scalar(etaplus, w.dtype),
                         m.where(flipped, m.scalar(etaminus, w.dtype), m.scalar(1.0, w.dtype)))
        m.multiply(size, factor, size)
        m.clip(size, step_size_min, step_size_max, out=size)
        m.copyto(prev, g)
        prev[flipped] = 0  # no step this time, and no sign to compare with next time
        m.sign(prev, t)
        m.multiply(t, size, t)
        m.subtract(w, t, w)  # θ ← θ − sign(g) · step size


# ---- Adafactor -----------------------------------------------------------------------------------
def adafactor(params: Arrays, grads: Arrays, row_vars: Arrays, col_vars: Arrays, variances: Arrays,
              state_steps: Arrays, *, d: float, lr: float, beta2_decay: float, weight_decay: float,
              eps1: float | None, eps2: float, maximize: bool, m: Any = None, **_: Any) -> None:
    """Adafactor (see :class:`~chainrule.optim.Adafactor`).  A parameter of 2 or more dimensions
    keeps row and column means of g² (``row_vars`` (..., n, 1), ``col_vars`` (..., 1, k)); a
    vector keeps the full ``variances``; the others' entries are None."""
    m = table_of(params[:1], "adafactor") if m is None else m
    for i, (w, g) in enumerate(zip(params, grads)):
        if maximize:
            g = m.negative(g)
        if eps1 is None:
            eps1 = m.machine_eps(w.dtype)
        step = _advance(state_steps[i])
        one_minus_beta2 = step**beta2_decay
        rho = min(lr, 1.0 / step**0.5)
        alpha = max(eps2, m.norm(w) / w.size**0.5) * rho  # relative step: scaled by RMS(θ)
        if weight_decay != 0.0:
            m.multiply(w, m.scalar(1.0 - lr * weight_decay, w.dtype), w)
        g2 = g * g
        if g.ndim > 1:
            r, c = row_vars[i], col_vars[i]
            _lerp_(m, r, m.mean(g2, -1, True), one_minus_beta2, m.empty_like(r))
            _lerp_(m, c, m.mean(g2, -2, True), one_minus_beta2, m.empty_like(c))
            var = m.matmul(r, c)  # R C / mean(R): the rank-1 estimate of E[g²]
            m.divide(var, m.maximum(m.mean(r, -2, True), m.scalar(eps1, r.dtype)), var)
        else:
            v = variances[i]
            _lerp_(m, v, g2, one_minus_beta2, m.empty_like(v))
            var = m.empty_like(v)
            m.copyto(var, v)
        m.maximum(var, m.scalar(eps1 * eps1, var.dtype), out=var)
        m.sqrt(var, var)
        update = m.divide(g, var, var)  # U = g / max(√V̂, ε1)
        denom = max(1.0, m.norm(update) / (update.size**0.5 * d))  # clip RMS(U) to d
        m.multiply(update, m.scalar(-alpha / denom, w.dtype), update)
        m.add(w, update, w)


# ---- Muon ------------------------------------------------------------------------------------
def _newton_schulz(m: Any, x: Any, coefficients: tuple[float, float, float], steps: int, eps: float) -> Any:
    """The approximate orthogonalisation U S' Vᵀ of X = U S Vᵀ (S'ᵢᵢ ≈ 1) by ``steps`` quintic
    Newton–Schulz iterations  X ← a X + (b A + c A²) X,  A = X Xᵀ, on X / ‖X‖_F."""
    a, b, c = coefficients
    tall = x.shape[0] > x.shape[1]
    if tall:  # iterate on the wide side: A is the smaller Gram matrix
        x = m.transpose(x, (1, 0))
    x = x / max(m.norm(x), eps)
    for _ in range(steps):
        gram = m.matmul(x, m.transpose(x, (1, 0)))
        x = a * x + m.matmul(b * gram + c * m.matmul(gram, gram), x)
    return m.transpose(x, (1, 0)) if tall else x


def muon(params: Arrays, grads: Arrays, muon_momentum_bufs: Arrays, *, lr: float, weight_decay: float,
         momentum: float, nesterov: bool, ns_coefficients: tuple[float, float, float], eps: float,
         ns_steps: int, adjust_lr_fn: str | None, m: Any = None, **_: Any) -> None:
    """Muon (see :class:`~chainrule.optim.Muon`), on 2-D parameters."""
    m = table_of(params[:1], "muon") if m is None else m
    if ns_steps >= 100:
        raise ValueError("Muon: ns_steps must be less than 100 for computational efficiency")
    for w, g, buf in zip(params, grads, muon_momentum_bufs):
        _lerp_(m, buf, g, 1.0 - momentum, m.empty_like(buf))  # B ← μ B + (1 − μ) g
        update = g + momentum * (buf - g) if nesterov else buf  # Nesterov: g + μ (B − g)
        o = _newton_schulz(m, update, ns_coefficients, ns_steps, eps)
        rows, cols = w.shape[:2]
        if adjust_lr_fn is None or adjust_lr_fn == "original":
            ratio = math.sqrt(max(1.0, rows / cols))
        else:  # "match_rms_adamw"
            ratio = 0.2 * math.sqrt(max(rows, cols))
        m.multiply(w, m.scalar(1.0 - lr * weight_decay, w.dtype), w)  # decoupled weight decay
        m.multiply(o, m.scalar(-lr * ratio, w.dtype), o)
        m.add(w, o, w)
