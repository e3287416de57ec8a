"""Pruning: zeroing a parameter's entries or channels through a mask (PyTorch's ``torch.nn.utils.prune``).

Pruning a module's parameter ``name`` reparametrises it: the trained tensor moves to the
Parameter ``name_orig``, a buffer ``name_mask`` (0 = pruned, 1 = kept) is added, and ``name``
becomes a plain attribute, recomputed as ``name_orig * name_mask`` by a forward pre-hook (the
pruning method itself) before each call, so the gradient reaches ``name_orig`` only through the
kept entries::

    prune.l1_unstructured(layer, "weight", amount=0.3)    # the 30 % smallest |w| pruned
    prune.ln_structured(layer, "weight", amount=2, n=2, dim=0)  # then 2 rows of least L2 norm
    prune.remove(layer, "weight")                          # make it permanent: weight = orig * mask

Pruning the same tensor again composes the masks through a :class:`PruningContainer`: the new
method only sees the units still unpruned (entries for unstructured methods, channels for
structured ones).  ``amount`` is an int (a count) or a float in [0, 1] (a fraction, rounded to
the nearest count as Python's ``round``).
"""

from __future__ import annotations

import numbers
from abc import ABC, abstractmethod
from typing import Any, Callable, Iterable, Iterator

from chainrule.autograd.grad_mode import no_grad
from chainrule.autograd.tensor import Tensor
from chainrule.nn.module import Module, _bump_structure
from chainrule.nn.utils.clip_grad import parameters_to_vector
from chainrule.ops.arrange import kthvalue, topk
from chainrule.ops.creation import ones_like, rand, rand_like, zeros_like
from chainrule.ops.reduction import norm

__all__ = [
    "BasePruningMethod",
    "CustomFromMask",
    "Identity",
    "L1Unstructured",
    "LnStructured",
    "PruningContainer",
    "RandomStructured",
    "RandomUnstructured",
    "custom_from_mask",
    "global_unstructured",
    "identity",
    "is_pruned",
    "l1_unstructured",
    "ln_structured",
    "random_structured",
    "random_unstructured",
    "remove",
]


class BasePruningMethod(ABC):
    """Base class of pruning methods: subclasses define ``PRUNING_TYPE`` and :meth:`compute_mask`.

    ``PRUNING_TYPE`` is ``'unstructured'`` (entries), ``'structured'`` (channels along ``self.dim``)
    or ``'global'`` (the whole tensor); it tells a :class:`PruningContainer` which part of the
    tensor a later method may still prune.  An applied method is the module's forward pre-hook.
    """

    PRUNING_TYPE: str
    _tensor_name: str | None = None

    def __call__(self, module: Module, inputs: Any) -> None:
        """The forward pre-hook: ``module.<name> = <name>_orig * <name>_mask``."""
        setattr(module, self._name(module), self.apply_mask(module))

    def _name(self, module: Module) -> str:
        if self._tensor_name is None:
            raise AssertionError(f"Module {module} has to be pruned")  # (set by apply)
        return self._tensor_name

    @abstractmethod
    def compute_mask(self, t: Tensor, default_mask: Tensor) -> Tensor:
        """The mask for ``t`` (the importance scores), on top of ``default_mask`` (the previous mask).

        Args:
            t: the importance scores of the tensor to prune.
            default_mask: the mask of earlier pruning (ones if none), same shape as ``t``; its
                zeros must stay zeros.
        """

    def apply_mask(self, module: Module) -> Tensor:
        """``module.<name>_orig`` times ``module.<name>_mask`` (in the parameter's dtype)."""
        name = self._name(module)
        mask = getattr(module, name + "_mask")
        orig = getattr(module, name + "_orig")
        if mask.dtype != orig.dtype:  # (no alias of the mask otherwise: the result stays picklable)
            mask = mask.to(dtype=orig.dtype)
        return mask * orig

    @classmethod
    def apply(cls, module: Module, name: str, *args: Any, importance_scores: Tensor | None = None,
              **kwargs: Any) -> BasePruningMethod:
        """Prune ``module.<name>`` with ``cls(*args, **kwargs)`` and install the reparametrisation.

        Args:
            module: the module holding the tensor.
            name: the parameter's name in ``module``.
            args: the pruning method's arguments.
            importance_scores: the scores ranking the entries (same shape as the parameter;
                None: the parameter itself).
            kwargs: the pruning method's keyword arguments.

        Returns:
            The method now installed as the hook (a :class:`PruningContainer` when the tensor
            was pruned before).
        """
        if not isinstance(module, Module):
            raise TypeError(f"prune: module must be a Module, got {type(module).__name__}")
        method = _composite_method(cls, module, name, *args, **kwargs)
        orig = getattr(module, name)
        if importance_scores is not None:
            if tuple(importance_scores.shape) != tuple(orig.shape):
                raise AssertionError(
                    f"importance_scores should have the same shape as parameter {name} of {module}, "
                    f"got {tuple(importance_scores.shape)} vs {tuple(orig.shape)}"
                )
        else:
            importance_scores = orig
        first = not isinstance(method, PruningContainer)
        if first:
            # the trained tensor becomes `name_orig`; `name` is recomputed from it
            module.register_parameter(name + "_orig", orig)
            del module._parameters[name]
            default_mask = ones_like(orig)
        else:
            default_mask = getattr(module, name + "_mask").detach().clone()
        try:
            with no_grad():
                mask = method.compute_mask(importance_scores, default_mask=default_mask)
            module.register_buffer(name + "_mask", mask)
            setattr(module, name, method.apply_mask(module))
            module.register_forward_pre_hook(method)
        except Exception:
            if first:  # roll back: the parameter as it was
                orig = getattr(module, name + "_orig")
                del module._parameters[name + "_orig"]
                module.__dict__.pop(name, None)
                module._buffers.pop(name + "_mask", None)
                module.register_parameter(name, orig)
            raise
        return method

    def prune(self, t: Tensor, default_mask: Tensor | None = None,
              importance_scores: Tensor | None = None) -> Tensor:
        """``t`` times the mask this method computes for it (nothing is installed).

        Args:
            t: the tensor to prune.
            default_mask: the mask of earlier pruning (None: ones).
            importance_scores: the scores ranking the entries (None: ``t``).
        """
        if importance_scores is not None:
            if tuple(importance_scores.shape) != tuple(t.shape):
                raise AssertionError(
                    f"importance_scores should have the same shape as tensor t, "
                    f"got {tuple(importance_scores.shape)} vs {tuple(t.shape)}"
                )
        else:
            importance_scores = t
        default_mask = default_mask if default_mask is not None else ones_like(t)
        with no_grad():
            mask = self.compute_mask(importance_scores, default_mask=default_mask)
        return t * mask

    def remove(self, module: Module) -> None:
        """Make the pruning permanent: ``name`` becomes a Parameter holding ``orig * mask``;
        ``name_orig`` and ``name_mask`` are removed (the pruned entries stay zero)."""
        name = self._name(module)
        weight = self.apply_mask(module)
        module.__dict__.pop(name, None)
        orig = module._parameters[name + "_orig"]
        orig.data = weight.data
        del module._parameters[name + "_orig"]
        del module._buffers[name + "_mask"]
        setattr(module, name, orig)


def _composite_method(cls: type[BasePruningMethod], module: Module, name: str, *args: Any,
                      **kwargs: Any) -> BasePruningMethod:
    """The new method ``cls(*args, **kwargs)`` for ``module.<name>``, combined with the one already
    there (its hook removed) into a :class:`PruningContainer`."""
    old = [(k, h) for k, h in module._forward_pre_hooks.items()
           if isinstance(h, BasePruningMethod) and h._tensor_name == name]
    if len(old) > 1:
        raise AssertionError(
            f"Avoid adding multiple pruning hooks to the same tensor {name} of module {module}. "
            "Use a PruningContainer."
        )
    method = cls(*args, **kwargs)
    method._tensor_name = name
    if old:
        del module._forward_pre_hooks[old[0][0]]
        _bump_structure()
        old_method = old[0][1]
        if isinstance(old_method, PruningContainer):
            old_method.add_pruning_method(method)
            return old_method
        container = PruningContainer(old_method)
        container.add_pruning_method(method)
        return container
    return method


class PruningContainer(BasePruningMethod):
    """The sequence of pruning methods applied to one tensor (iterative pruning).

    Its mask is the last method's mask computed on the part of the tensor the earlier ones left:
    the still-unpruned entries (``'unstructured'``), the channels not yet wholly zero
    (``'structured'``), or everything (``'global'``), combined with the earlier mask.

    Args:
        args: pruning methods (acting on the same tensor name).
    """

    PRUNING_TYPE = "unstructured"  # (not used: the last method's type decides)

    def __init__(self, *args: BasePruningMethod) -> None:
        self._pruning_methods: tuple[BasePruningMethod, ...] = ()
        if len(args) == 1:
            self._tensor_name = args[0]._tensor_name
            self.add_pruning_method(args[0])
        else:
            for method in args:
                self.add_pruning_method(method)

    def add_pruning_method(self, method: BasePruningMethod) -> None:
        """Append ``method`` (it must act on this container's tensor name)."""
        if not isinstance(method, BasePruningMethod) and method is not None:
            raise TypeError(f"{type(method)} is not a BasePruningMethod subclass")
        if method is not None and self._tensor_name != method._tensor_name:
            raise ValueError(
                f"Can only add pruning methods acting on the parameter named '{self._tensor_name}' "
                f"to PruningContainer {self}. Found '{method._tensor_name}'"
            )
        self._pruning_methods += (method,)

    def __len__(self) -> int:
        return len(self._pruning_methods)

    def __iter__(self) -> Iterator[BasePruningMethod]:
        return iter(self._pruning_methods)

    def __getitem__(self, idx: int) -> BasePruningMethod:
        return self._pruning_methods[idx]

    def compute_mask(self, t: Tensor, default_mask: Tensor) -> Tensor:
        """The last method's mask on the part of ``t`` still unpruned, written into ``default_mask``'s copy."""
        method = self._pruning_methods[-1]
        new_mask = default_mask.to(dtype=t.dtype)
        slc: Any
        if method.PRUNING_TYPE == "unstructured":
            slc = default_mask == 1
        elif method.PRUNING_TYPE == "structured":
            if not hasattr(method, "dim"):
                raise AttributeError(
                    'Pruning methods of PRUNING_TYPE "structured" need to have the attribute `dim` defined.'
                )
            n_dims = t.dim()
            dim = method.dim
            if dim < 0:
                dim = n_dims + dim
            if dim < 0:
                raise IndexError(f"Index is out of bounds for tensor with dimensions {n_dims}")
            keep_channel = default_mask.sum(dim=[d for d in range(n_dims) if d != dim]) != 0
            parts: list[Any] = [slice(None)] * n_dims
            parts[dim] = keep_channel
            slc = tuple(parts)
        elif method.PRUNING_TYPE == "global":
            slc = (slice(None),) * t.dim()
        else:
            raise ValueError(f"Unrecognized PRUNING_TYPE {method.PRUNING_TYPE}")
        partial_mask = method.compute_mask(t[slc], default_mask=default_mask[slc])
        new_mask[slc] = partial_mask.to(dtype=new_mask.dtype)
        return new_mask


class Identity(BasePruningMethod):
    """Prunes nothing: installs the reparametrisation with a mask of ones."""

    PRUNING_TYPE = "unstructured"

    def compute_mask(self, t: Tensor, default_mask: Tensor) -> Tensor:
        """``default_mask`` unchanged."""
        return default_mask

    @classmethod
    def apply(cls, module: Module, name: str) -> BasePruningMethod:  # type: ignore[override]
        """Install the reparametrisation of ``module.<name>`` with a mask of ones."""
        return super().apply(module, name)


def _zero_k_entries(t: Tensor, default_mask: Tensor, amount: int | float, scores: Callable[[], Tensor],
                    largest: bool) -> Tensor:
    """``default_mask`` with the k = amount (a count, or a fraction of t's entries) entries of the
    largest (or smallest) ``scores()`` zeroed; the scores are drawn only when k > 0."""
    tensor_size = t.nelement()
    k = _compute_nparams_toprune(amount, tensor_size)
    _validate_pruning_amount(k, tensor_size)
    mask = default_mask.clone()
    if k != 0:
        mask.view(-1)[topk(scores().reshape(-1), k=k, largest=largest).indices] = 0
    return mask


class RandomUnstructured(BasePruningMethod):
    """Prunes ``amount`` of the (still unpruned) entries, chosen uniformly at random.

    Args:
        amount: a count (int ≥ 0) or a fraction in [0, 1] of the entries.
    """

    PRUNING_TYPE = "unstructured"

    def __init__(self, amount: int | float) -> None:
        _validate_pruning_amount_init(amount)
        self.amount = amount

    def compute_mask(self, t: Tensor, default_mask: Tensor) -> Tensor:
        """``default_mask`` with the entries of the k largest uniform draws zeroed."""
        return _zero_k_entries(t, default_mask, self.amount, lambda: rand_like(t), largest=True)

    @classmethod
    def apply(cls, module: Module, name: str, amount: int | float) -> BasePruningMethod:  # type: ignore[override]
        """Prune ``module.<name>`` at random (see the class)."""
        return super().apply(module, name, amount=amount)


class L1Unstructured(BasePruningMethod):
    """Prunes ``amount`` of the (still unpruned) entries of smallest absolute value.

    Args:
        amount: a count (int ≥ 0) or a fraction in [0, 1] of the entries.
    """

    PRUNING_TYPE = "unstructured"

    def __init__(self, amount: int | float) -> None:
        _validate_pruning_amount_init(amount)
        self.amount = amount

    def compute_mask(self, t: Tensor, default_mask: Tensor) -> Tensor:
        """``default_mask`` with the k entries of smallest |t| zeroed."""
        return _zero_k_entries(t, default_mask, self.amount, lambda: t.abs(), largest=False)

    @classmethod
    def apply(cls, module: Module, name: str, amount: int | float,  # type: ignore[override]
              importance_scores: Tensor | None = None) -> BasePruningMethod:
        """Prune ``module.<name>``'s smallest entries (by |importance_scores|; see the class)."""
        return super().apply(module, name, amount=amount, importance_scores=importance_scores)


def _channel_mask(t: Tensor, dim: int, index: Tensor) -> Tensor:
    """Zeros shaped like ``t`` with ones in the channels ``index`` (indices or a boolean mask) along ``dim``."""
    mask = zeros_like(t)
    parts: list[Any] = [slice(None)] * t.dim()
    parts[dim] = index
    mask[tuple(parts)] = 1
    return mask


def _prune_k_channels(t: Tensor, default_mask: Tensor, amount: int | float, dim: int,
                      kept: Callable[[int, int], Tensor]) -> Tensor:
    """``default_mask`` times a mask keeping the channels along ``dim`` that ``kept(nchannels, k)``
    picks (indices or a boolean mask) when k = amount (a count, or a fraction of the channels)
    are pruned; ``default_mask`` itself when k = 0 (``kept`` is then not called)."""
    _validate_structured_pruning(t)
    _validate_pruning_dim(t, dim)
    nchannels = t.shape[dim]
    k = _compute_nparams_toprune(amount, nchannels)
    _validate_pruning_amount(k, nchannels)
    if k == 0:
        return default_mask
    mask = _channel_mask(t, dim, kept(nchannels, k))
    mask *= default_mask.to(dtype=mask.dtype)
    return mask


def _random_channels(nchannels: int, k: int) -> Tensor:
    """All channels but the k with the smallest uniform draws (a boolean mask)."""
    prob = rand(nchannels)
    return prob > kthvalue(prob, k=k).values


class RandomStructured(BasePruningMethod):
    """Prunes ``amount`` of the channels along ``dim``, chosen uniformly at random.

    Args:
        amount: a count (int ≥ 0) or a fraction in [0, 1] of the channels.
        dim: the dimension whose slices are the channels.
    """

    PRUNING_TYPE = "structured"

    def __init__(self, amount: int | float, dim: int = -1) -> None:
        _validate_pruning_amount_init(amount)
        self.amount = amount
        self.dim = dim

    def compute_mask(self, t: Tensor, default_mask: Tensor) -> Tensor:
        """``default_mask`` times a mask zeroing the k channels with the smallest uniform draws."""
        return _prune_k_channels(t, default_mask, self.amount, self.dim, _random_channels)

    @classmethod
    def apply(cls, module: Module, name: str, amount: int | float, dim: int = -1) -> BasePruningMethod:  # type: ignore[override]
        """Prune random channels of ``module.<name>`` (see the class)."""
        return super().apply(module, name, amount=amount, dim=dim)


class LnStructured(BasePruningMethod):
    """Prunes ``amount`` of the channels along ``dim`` with the smallest Lₙ norm.

    Args:
        amount: a count (int ≥ 0) or a fraction in [0, 1] of the channels.
        n: the norm's order, as ``p`` of :func:`chainrule.norm` (1, 2, ``inf``, ``-inf``, ...).
        dim: the dimension whose slices are the channels.
    """

    PRUNING_TYPE = "structured"

    def __init__(self, amount: int | float, n: Any, dim: int = -1) -> None:
        _validate_pruning_amount_init(amount)
        self.amount = amount
        self.n = n
        self.dim = dim

    def compute_mask(self, t: Tensor, default_mask: Tensor) -> Tensor:
        """``default_mask`` times a mask keeping the channels of largest ‖t_c‖ₙ."""
        return _prune_k_channels(
            t, default_mask, self.amount, self.dim,
            lambda nchannels, k: topk(_compute_norm(t, self.n, self.dim), k=nchannels - k, largest=True).indices)

    @classmethod
    def apply(cls, module: Module, name: str, amount: int | float, n: Any, dim: int,  # type: ignore[override]
              importance_scores: Tensor | None = None) -> BasePruningMethod:
        """Prune the channels of ``module.<name>`` of smallest norm (see the class)."""
        return super().apply(module, name, amount=amount, n=n, dim=dim, importance_scores=importance_scores)


class CustomFromMask(BasePruningMethod):
    """Prunes with a given mask (combined with any earlier one).

    Args:
        mask: the mask, shaped like the tensor (nonzero = kept).
    """

    PRUNING_TYPE = "global"

    def __init__(self, mask: Tensor) -> None:
        self.mask = mask

    def compute_mask(self, t: Tensor, default_mask: Tensor) -> Tensor:
        """``default_mask * mask``."""
        if tuple(default_mask.shape) != tuple(self.mask.shape):
            raise AssertionError(
                f"default_mask shape {tuple(default_mask.shape)} must match self.mask shape {tuple(self.mask.shape)}"
            )
        return default_mask * self.mask.to(dtype=default_mask.dtype)

    @classmethod
    def apply(cls, module: Module, name: str, mask: Tensor) -> BasePruningMethod:  # type: ignore[override]
        """Prune ``module.<name>`` with ``mask``."""
        return super().apply(module, name, mask=mask)


# -- the functions ---------------------------------------------------------------------------------


def identity(module: Module, name: str) -> Module:
    """Install the pruning reparametrisation of ``module.<name>`` with a mask of ones; returns ``module``."""
    Identity.apply(module, name)
    return module


def random_unstructured(module: Module, name: str, amount: int | float) -> Module:
    """Prune ``amount`` of the entries of ``module.<name>`` at random; returns ``module``.

    Args:
        module: the module holding the parameter.
        name: the parameter's name.
        amount: a count (int ≥ 0) or a fraction in [0, 1] of the entries.
    """
    RandomUnstructured.apply(module, name, amount)
    return module


def l1_unstructured(module: Module, name: str, amount: int | float,
                    importance_scores: Tensor | None = None) -> Module:
    """Prune ``amount`` of the entries of ``module.<name>`` with the smallest |value|; returns ``module``.

    Args:
        module: the module holding the parameter.
        name: the parameter's name.
        amount: a count (int ≥ 0) or a fraction in [0, 1] of the entries.
        importance_scores: scores ranking the entries instead of the parameter (same shape).
    """
    L1Unstructured.apply(module, name, amount=amount, importance_scores=importance_scores)
    return module


def random_structured(module: Module, name: str, amount: int | float, dim: int) -> Module:
    """Prune ``amount`` of the channels of ``module.<name>`` along ``dim`` at random; returns ``module``.

    Args:
        module: the module holding the parameter.
        name: the parameter's name.
        amount: a count (int ≥ 0) or a fraction in [0, 1] of the channels.
        dim: the dimension whose slices are the channels.
    """
    RandomStructured.apply(module, name, amount, dim)
    return module


def ln_structured(module: Module, name: str, amount: int | float, n: Any, dim: int,
                  importance_scores: Tensor | None = None) -> Module:
    """Prune ``amount`` of the channels of ``module.<name>`` along ``dim`` with the smallest Lₙ norm.

    Args:
        module: the module holding the parameter.
        name: the parameter's name.
        amount: a count (int ≥ 0) or a fraction in [0, 1] of the channels.
        n: the norm's order (as ``p`` of :func:`chainrule.norm`).
        dim: the dimension whose slices are the channels.
        importance_scores: scores ranking the entries instead of the parameter (same shape).

    Returns:
        ``module``.
    """
    LnStructured.apply(module, name, amount, n, dim, importance_scores=importance_scores)
    return module


def global_unstructured(parameters: Iterable[tuple[Module, str]], pruning_method: type[BasePruningMethod],
                        importance_scores: dict[tuple[Module, str], Tensor] | None = None,
                        **kwargs: Any) -> None:
    """Prune the parameters together: the method ranks all their entries as one vector.

    Args:
        parameters: ``(module, name)`` pairs.
        pruning_method: an unstructured pruning class (``L1Unstructured``, ``RandomUnstructured``,
            or one of your own with ``PRUNING_TYPE = 'unstructured'``).
        importance_scores: ``(module, name)`` -> scores, for the pairs not ranked by the parameter.
        kwargs: the method's arguments (``amount``: a count or a fraction of all the entries).
    """
    if not isinstance(parameters, Iterable):
        raise TypeError("global_unstructured(): parameters is not an Iterable")
    parameters = list(parameters)
    importance_scores = importance_scores if importance_scores is not None else {}
    if not isinstance(importance_scores, dict):
        raise TypeError("global_unstructured(): importance_scores must be of type dict")
    with no_grad():
        scores = parameters_to_vector(
            [importance_scores.get((module, name), getattr(module, name)) for module, name in parameters]
        )
        default_mask = parameters_to_vector(
            [getattr(module, name + "_mask", ones_like(getattr(module, name))) for module, name in parameters]
        )
    container = PruningContainer()
    container._tensor_name = "temp"
    method = pruning_method(**kwargs)
    method._tensor_name = "temp"
    if method.PRUNING_TYPE != "unstructured":
        raise TypeError(
            'Only "unstructured" PRUNING_TYPE supported for the `pruning_method`. '
            f"Found method {pruning_method} of type {method.PRUNING_TYPE}"
        )
    container.add_pruning_method(method)
    with no_grad():
        final_mask = container.compute_mask(scores, default_mask)
    pointer = 0
    for module, name in parameters:
        param = getattr(module, name)
        num = param.numel()
        custom_from_mask(module, name, mask=final_mask[pointer:pointer + num].view_as(param))
        pointer += num


def custom_from_mask(module: Module, name: str, mask: Tensor) -> Module:
    """Prune ``module.<name>`` with the given ``mask`` (nonzero = kept); returns ``module``.

    Args:
        module: the module holding the parameter.
        name: the parameter's name.
        mask: the mask, shaped like the parameter.
    """
    CustomFromMask.apply(module, name, mask)
    return module


def remove(module: Module, name: str) -> Module:
    """Make the pruning of ``module.<name>`` permanent: ``name`` is a Parameter again, equal to
    ``name_orig * name_mask``; ``name_orig``, ``name_mask`` and the hook are removed. Returns ``module``.

    Raises:
        ValueError: when ``module.<name>`` is not pruned.
    """
    for k, hook in module._forward_pre_hooks.items():
        if isinstance(hook, BasePruningMethod) and hook._tensor_name == name:
            hook.remove(module)
            del module._forward_pre_hooks[k]
            _bump_structure()
            return module
    raise ValueError(f"Parameter '{name}' of module {module} has to be pruned before pruning can be removed")


def is_pruned(module: Module) -> bool:
    """Whether ``module`` or one of its sub-modules has a pruning hook."""
    for _, submodule in module.named_modules():
        for hook in submodule._forward_pre_hooks.values():
            if isinstance(hook, BasePruningMethod):
                return True
    return False


# -- validation ------------------------------------------------------------------------------------


def _validate_pruning_amount_init(amount: Any) -> None:
    """``amount`` must be an int ≥ 0 or a float in [0, 1]."""
    if not isinstance(amount, numbers.Real):
        raise TypeError(f"Invalid type for amount: {amount}. Must be int or float.")
    if (isinstance(amount, numbers.Integral) and amount < 0) or (
        not isinstance(amount, numbers.Integral) and (float(amount) > 1.0 or float(amount) < 0.0)
    ):
        raise ValueError(f"amount={amount} should either be a float in the range [0, 1] or a non-negative integer")


def _validate_pruning_amount(amount: int, tensor_size: int) -> None:
    if amount > tensor_size:
        raise ValueError(f"amount={amount} should be smaller than the number of parameters to prune={tensor_size}")


def _validate_structured_pruning(t: Tensor) -> None:
    if t.dim() <= 1:
        raise ValueError(
            "Structured pruning can only be applied to multidimensional tensors. "
            f"Found tensor of shape {tuple(t.shape)} with {t.dim()} dims"
        )


def _compute_nparams_toprune(amount: int | float, tensor_size: int) -> int:
    """The count to prune: ``amount`` itself if an int, else ``round(amount * tensor_size)``."""
    if isinstance(amount, numbers.Integral):
        return int(amount)
    return round(amount * tensor_size)


def _validate_pruning_dim(t: Tensor, dim: int) -> None:
    if dim >= t.dim():
        raise IndexError(f"Invalid index {dim} for tensor of size {tuple(t.shape)}")


def _compute_norm(t: Tensor, n: Any, dim: int) -> Tensor:
    """The Lₙ norm of each channel of ``t`` along ``dim`` (over all the other dims)."""
    dims = list(range(t.dim()))
    if dim < 0:
        dim = dims[dim]
    dims.remove(dim)
    return norm(t, p=n, dim=dims)
