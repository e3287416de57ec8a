"""The Tensor: an n-dimensional array plus what reverse mode needs to know.

* ``_array``: the array of values (a NumPy array on the CPU); only the back end and
  the recording path should touch it;
* ``requires_grad``: whether gradients flow to it;
* ``grad``: the accumulated gradient (a Tensor), filled in by ``backward`` for leaves;
* ``_op`` and ``_parents``: the primitive that produced it and its inputs (None
  for leaves).  These two fields *are* the graph: a Tensor points at its
  inputs, never at its consumers, so no reference cycle is created.

Operators and math methods (``+``, ``@``, ``.sum()``, ``.exp()``...) are attached
by ``chainrule.ops.methods``, one layer up, so that this file depends only on
the back end and the engine.
"""

from __future__ import annotations

import weakref
from collections import OrderedDict
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from chainrule.autograd.grad_mode import HOOKS, INFERRED, INFERRING, STATE, made_in_inference
from chainrule.autograd.hooks import RemovableHandle, add_hook
from chainrule.autograd.size import Size
from chainrule.autograd.size import as_size as _as_size
from chainrule.autograd.version import share, version
from chainrule.backend import ArrayMath, get_default_dtype, to_numpy_dtype
from chainrule.backend import shared_memory as _shm
from chainrule.backend.device import CPU, device
from chainrule.backend.layout import strided
from chainrule.backend.printing import tensor_body
from chainrule.backend.registry import ARRAY_TYPES, backend_of, device_of, target_device, to_device, to_host

# The operators and methods attached by chainrule.ops.methods are declared in the stub
# _tensor_methods.pyi; type checkers see Tensor inherit them, at run time the base is object.
if TYPE_CHECKING:
    from chainrule.autograd._tensor_methods import TensorMethods as _TensorMethods
else:
    _TensorMethods = object


def _as_array(data: Any, dtype: Any) -> np.ndarray:
    """chainrule's data conversion: a Tensor's array, NumPy arrays as they are, Python floats in
    the default dtype."""
    if isinstance(data, Tensor):
        data = data._array
        if type(data) is not np.ndarray:  # another back end's array: it stays on its device
            return data if dtype is None else backend_of(data).math.astype(data, to_numpy_dtype(dtype))
    # host data (Python numbers and lists, NumPy arrays) becomes a CPU array: the CPU table's from_host
    arr = ArrayMath.from_host(data, None if dtype is None else to_numpy_dtype(dtype))
    if dtype is None and arr.dtype == np.float64 and not isinstance(data, (np.ndarray, np.float64)):
        arr = arr.astype(get_default_dtype())  # Python floats become the default dtype; NumPy's keep theirs
    return arr


def legacy_array(args: tuple, dtype: np.dtype, where: str) -> np.ndarray:
    """The array of PyTorch's legacy constructors (``torch.Tensor(...)``, ``torch.FloatTensor(...)``).

    ``()`` -> shape (0,); ints -> that shape, filled with zeros (PyTorch leaves it uninitialised);
    one list, tuple or NumPy array -> that data converted to ``dtype``; one Tensor of ``dtype``
    -> its array (PyTorch refuses another dtype: TypeError)."""
    if not args:
        return ArrayMath.zeros((0,), dtype)
    if all(isinstance(a, (int, np.integer)) and not isinstance(a, (bool, np.bool_)) for a in args):
        if any(a < 0 for a in args):
            raise RuntimeError(f"{where}: sizes must be non-negative, got {tuple(int(a) for a in args)}")
        return ArrayMath.zeros(tuple(int(a) for a in args), dtype)
    if len(args) == 1:
        data = args[0]
        if isinstance(data, Tensor):
            if data._array.dtype != dtype:
                raise TypeError(f"{where}: expected a tensor of dtype {dtype}, got one of dtype {data._array.dtype} "
                                f"(convert it with .to({dtype}))")
            return data._array
        if isinstance(data, (list, tuple, np.ndarray)):
            return ArrayMath.copy(ArrayMath.from_host(data, dtype))
        if isinstance(data, (int, float, complex, np.number, np.bool_)):
            raise TypeError(f"{where}: new(): data must be a sequence (got {type(data).__name__}); "
                            f"for a 0-d tensor use chainrule.tensor({data!r})")
    raise TypeError(
        f"{where}: expected sizes (ints), or one list, tuple, array or tensor of data; got "
        f"({', '.join(type(a).__name__ for a in args)})"
    )


class _Held:
    """A hooked tensor's hold on ``HOOKS`` (see ``Tensor._extras``), released when the tensor is
    collected.  A copy of the tensor (``copy.deepcopy``, pickle) copies its hooks but not its
    identity: the copy's hold is made anew and kept for good, so its hooks always run."""

    __slots__ = ("finalizer",)

    def __init__(self, t: Any) -> None:
        self.finalizer = None if t is None else weakref.finalize(t, HOOKS.release)

    def __reduce__(self) -> tuple:
        return (_held_for_good, ())


def _held_for_good() -> _Held:
    HOOKS.hold()
    return _Held(None)


class Tensor(_TensorMethods):
    """An n-dimensional array that can record the operations applied to it.

    Create tensors with :func:`chainrule.tensor` (or ``zeros``, ``randn``...);
    ``Tensor(data)`` also works and copies nothing when given a NumPy array.
    """

    __slots__ = (
        "_array", "requires_grad", "grad", "_op", "_parents", "_need", "_clk", "_vc", "_tangent", "_extra", "_base",
        "_inference", "__weakref__",
    )
    __array_priority__ = 1000  # ndarray <op> Tensor defers to Tensor's reflected op

    # the slots' types, for type checkers (annotations only: no class attributes are created)
    _array: np.ndarray
    requires_grad: bool
    grad: Tensor | None
    _op: Any
    _parents: Any
    _need: Any
    _clk: int  # version counting (autograd/version.py): the clock when this node was recorded,
    _vc: Any  # and the counter of in-place changes, shared with views (unset = version 0)
    _tangent: Any  # rarely used, unset until needed: the forward-mode tangent,
    _extra: dict[str, Any]  # and hooks, retain_grad, name, origin (read with getattr(t, "_extra", None))
    _base: Tensor  # unset unless a view op made this tensor from another's memory (ops/inplace.py)
    _inference: bool  # unset unless made inside inference_mode() (is_inference, autograd/grad_mode.py)

    def __init__(self, *args: Any, requires_grad: bool = False, dtype: Any = None, device: Any = None) -> None:
        """``Tensor(data)`` wraps data; ``Tensor(*sizes)`` is PyTorch's legacy constructor.

        As ``torch.Tensor``: ``Tensor(3, 4)`` (or ``Tensor(3)``, ``Tensor()``) is a tensor of that
        shape in the default float dtype (zeros; PyTorch's is uninitialised), ``Tensor([1, 2])`` that
        data in the default float dtype.  Also: a NumPy array is wrapped without a copy, a Tensor
        gives a new leaf on the same array, a number a 0-d tensor; ``Tensor(data, True)`` is read
        as ``requires_grad=True``."""
        dev = None if device is None else target_device(device, "Tensor()")
        if len(args) == 1 and dtype is None and type(args[0]) is np.ndarray:
            arr = args[0]  # Tensor(ndarray), the library's own common case: wrapped as it is
        elif len(args) == 1 and not isinstance(args[0], (int, np.integer, list, tuple)):
            arr = _as_array(args[0], dtype)  # chainrule's Tensor(data): the common case, first
        elif len(args) == 2 and isinstance(args[1], bool) and not isinstance(args[0], (int, np.integer)):
            arr = _as_array(args[0], dtype)  # Tensor(data, requires_grad), chainrule's older positional form
            requires_grad = args[1]
        else:
            arr = legacy_array(args, get_default_dtype() if dtype is None else to_numpy_dtype(dtype), "Tensor()")
        self._array = arr if dev is None else to_device(arr, dev, "Tensor()")
        self.grad = None
        self._op = None
        self._parents = None
        self.requires_grad = False
        if INFERRING and STATE.inference:  # (inside inference_mode(): an inference tensor)
            self._inference = True
        if requires_grad:
            self.requires_grad_(True)

    @staticmethod
    def _from_data(data: Any, dtype: Any = None) -> Tensor:
        """A leaf holding ``data`` as ``cr.tensor`` converts it, without its checks (``Tensor(3)`` would
        mean a shape): ints stay integers, Python floats take the default dtype, an ndarray is not copied."""
        return Tensor._wrap(_as_array(data, dtype))

    def __format__(self, format_spec: str) -> str:
        """``f"{loss:.4f}"``: a 0-d tensor formats as its Python number (as PyTorch's), others take only ``""``."""
        if self._array.ndim == 0:
            return self.item().__format__(format_spec)
        return object.__format__(self, format_spec)

    # -- construction without checks, for the ops' hot path ---------------------
    @staticmethod
    def _wrap(arr: np.ndarray) -> Tensor:
        t = _new(Tensor)
        # ._array is always an array: NumPy hands back scalars (np.float32...) for 0-d results;
        # another registered back end's array stays as it is
        t._array = arr if type(arr) is _ndarray or type(arr) in _ARRAY_TYPES else ArrayMath.asarray(arr)
        t.requires_grad = False
        t.grad = None
        t._op = None
        t._parents = None
        if INFERRING and STATE.inference:  # (inside inference_mode(): an inference tensor)
            t._inference = True
        return t

    # -- basic properties -------------------------------------------------------
    @property
    def data(self) -> Tensor:
        """A Tensor on the same memory that does not require grad, as PyTorch's ``.data``.

        Unlike ``detach()`` it does not share the version counter: changes through it (``p.data.add_(g,
        alpha=-lr)``) are invisible to the in-place checks (what this old idiom is for)."""
        return Tensor._wrap(self._array)

    @data.setter
    def data(self, value: Any) -> None:
        """``t.data = other`` makes ``t`` hold ``other``'s memory (shape and dtype may change)."""
        if isinstance(value, Tensor):
            self._array = value._array
        elif isinstance(value, np.ndarray):  # chainrule's older form: an array
            self._array = value
        else:
            raise TypeError(f"Tensor.data: assigned data must be a Tensor, got {type(value).__name__}")

    @property
    def shape(self) -> Size:
        """The shape, a ``Size`` (a tuple of ints)."""
        return _as_size(self._array.shape)

    def size(self, dim: int | None = None) -> Any:
        """The shape (a ``Size``), or the length of dimension ``dim`` (PyTorch ``Tensor.size``)."""
        return _as_size(self._array.shape) if dim is None else self._array.shape[dim]

    @property
    def ndim(self) -> int:
        return self._array.ndim

    def dim(self) -> int:
        return self._array.ndim

    @property
    def dtype(self) -> np.dtype:
        return self._array.dtype

    @property
    def device(self) -> device:
        """The device of the array: ``device('cpu')`` (which also equals the string 'cpu') for
        NumPy arrays, else the one its back end reports (``backend/registry.py``)."""
        a = self._array
        return CPU if type(a) is _ndarray else device_of(a)

    @property
    def layout(self) -> Any:
        """How the elements are stored: always ``torch.strided`` (dense) in chainrule."""
        return strided

    @property
    def is_cuda(self) -> bool:
        return type(self._array) is not _ndarray and device_of(self._array).type == "cuda"

    def numel(self) -> int:
        return int(self._array.size)

    @property
    def is_leaf(self) -> bool:
        """True for tensors made by the user (not by an op that records gradients)."""
        return self._op is None

    @property
    def grad_fn(self) -> Any:
        """The node that produced this tensor, a ``torch.autograd.graph.Node`` (None for leaves).

        Its ``name()``, ``next_functions``, ``metadata``, ``register_hook`` and ``register_prehook``
        are PyTorch's (``autograd/node.py``); the primitive itself is ``_op``."""
        if self._op is None:
            return None
        from chainrule.autograd.node import grad_fn_of

        return grad_fn_of(self)

    def is_floating_point(self) -> bool:
        return self._array.dtype.kind == "f"

    # -- conversions ------------------------------------------------------------
    def item(self) -> int | float | bool:
        if self._array.size != 1:
            raise RuntimeError(
                f"item(): only a tensor with one element can be converted to a Python number, got shape"
                f" {tuple(self.shape)}"
            )
        return _host(self._array).item()

    def numpy(self) -> np.ndarray:
        if self.requires_grad:
            raise RuntimeError(
                "numpy(): can't call numpy() on a Tensor that requires grad; use tensor.detach().numpy()"
            )
        if type(self._array) is not _ndarray:
            if device_of(self._array) is not CPU:
                raise TypeError(_not_on_host(self, "numpy()"))
            return to_host(self._array)  # (a CPU array of another class: the compiled mode's traced arrays)
        return self._array

    def tolist(self) -> Any:
        return _host(self._array).tolist()

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        a = self._array
        if type(a) is not _ndarray:
            if device_of(a) is not CPU:
                raise TypeError(_not_on_host(self, "__array__()"))
            a = to_host(a)
        return a if dtype is None else a.astype(dtype)

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __index__(self) -> int:
        if self._array.dtype.kind not in "iu" or self._array.size != 1:
            raise TypeError("only integer tensors of a single element can be used as an index")
        return int(self._array.item())

    def __bool__(self) -> bool:
        if self._array.size != 1:
            raise RuntimeError(
                f"bool(): the truth value of a tensor with {self._array.size} elements is "
                "ambiguous; use .any() or .all()"
            )
        return bool(self._array.item())

    def __len__(self) -> int:
        if self._array.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self._array.shape[0]

    __hash__ = object.__hash__  # tensors are distinct objects, even with equal values

    # -- autograd ----------------------------------------------------------------
    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        """Set ``requires_grad`` in place (leaves only); returns self."""
        if self._op is not None and not requires_grad:
            raise RuntimeError(
                "requires_grad_(False): you can only change requires_grad of leaf tensors; use detach() for a non-leaf"
            )
        if requires_grad and self._array.dtype.kind not in "fc":
            raise RuntimeError(
                f"requires_grad_(): only floating point tensors can require gradients, got dtype {self._array.dtype}"
            )
        self.requires_grad = bool(requires_grad)
        return self

    def detach(self) -> Tensor:
        """A new leaf sharing this tensor's data (and its version counter), cut off from the graph."""
        out = share(Tensor._wrap(self._array), self)
        if INFERRED[0] and made_in_inference(self):  # (as PyTorch's: detaching keeps an inference tensor one)
            out._inference = True
        return out

    @property
    def _version(self) -> int:
        """How many times this tensor's memory was modified in place (shared with its views)."""
        return version(self)

    # -- shared memory (torch.multiprocessing) ------------------------------------
    def share_memory_(self) -> Tensor:
        """Move the values into shared memory (in place; returns self), as PyTorch's.

        A shared tensor sent to another process (``chainrule.multiprocessing``: a child's
        arguments, a ``Queue``, a ``Pipe``) arrives as the *same memory*: a write on either side is
        seen by the other.  Already shared: nothing happens; a non-CPU tensor: nothing happens
        (as for PyTorch's CUDA tensors).  Unlike PyTorch, which moves the whole storage, chainrule
        moves this tensor's own array: tensors made on the old memory before the call (views,
        ``detach()``, ``.data``) keep the old memory, so call it first (``Module.share_memory()``
        right after building the model); a view of another tensor refuses (RuntimeError: share
        its base instead).  The strategy is ``chainrule.multiprocessing.get_sharing_strategy()``'s.
        """
        arr = self._array
        if type(arr) is not _ndarray or _shm.segment_of(arr) is not None:
            return self
        if getattr(self, "_base", None) is not None:
            raise RuntimeError(
                "share_memory_: this tensor is a view of another tensor's memory; chainrule moves a tensor's own "
                "array into shared memory, which would separate the view from its base: call share_memory_() on "
                "the base tensor (before making views of it)"
            )
        self._array = _shm.share(arr)
        return self

    def is_shared(self) -> bool:
        """Whether the values lie in shared memory (:meth:`share_memory_`, or received from another
        process as shared)."""
        return _shm.is_shared(self._array)

    # -- pinned (page-locked) memory: an accelerator's, and there is none ---------------------------
    def pin_memory(self, device: Any = None) -> Tensor:
        """Copy into page-locked memory for fast transfers to a GPU (``Tensor.pin_memory``).

        Pinned memory is allocated by an accelerator's runtime; with none (PyTorch's CPU-only
        build, and chainrule) PyTorch raises, and so does this.  Programs that pin conditionally
        (``if torch.cuda.is_available()``), or through ``DataLoader(pin_memory=True)`` (which
        warns and does not pin), run unchanged."""
        if device is not None:
            import warnings

            warnings.warn(
                "The argument 'device' of Tensor.pin_memory() is deprecated. Please do not pass this argument.",
                DeprecationWarning,
                stacklevel=2,
            )
        raise RuntimeError("Cannot access accelerator device when none is available.")

    def is_pinned(self, device: Any = None) -> bool:
        """Whether the values lie in pinned memory: never, without an accelerator (``Tensor.is_pinned``)."""
        return False

    def detach_(self) -> Tensor:
        """Cut this tensor off from the graph in place; a forward-mode tangent goes too (as ``detach``
        and PyTorch's ``detach_``)."""
        self._op = None
        self._parents = None
        self.requires_grad = False
        self._extras_or_empty().pop("node", None)  # (its Node's hooks and metadata go with the node)
        if getattr(self, "_tangent", None) is not None:
            self._tangent = None
        return self

    def backward(
        self,
        gradient: Any = None,
        retain_graph: bool | None = None,
        create_graph: bool = False,
        inputs: Any = None,
    ) -> None:
        """Accumulate d(self)/d(leaf) into ``leaf.grad`` for every leaf in the graph.

        ``gradient`` is dL/d(self) (needed unless self has one element);
        ``retain_graph`` keeps the graph for another backward (default: ``create_graph``);
        ``create_graph`` records the backward pass itself, for higher derivatives;
        ``inputs`` restricts accumulation to these tensors.
        """
        from chainrule.autograd.engine import backward

        backward([self], None if gradient is None else [gradient], retain_graph, create_graph, inputs)

    def retain_grad(self) -> None:
        """Keep ``.grad`` for this non-leaf tensor too during backward."""
        if not self.requires_grad:
            raise RuntimeError("retain_grad(): can't retain_grad on a Tensor that has requires_grad=False")
        if self._op is not None:
            self._extras()["retain_grad"] = True

    @property
    def retains_grad(self) -> bool:
        return bool(self._extras_or_empty().get("retain_grad"))

    def register_hook(self, hook: Any) -> RemovableHandle:
        """Call ``hook(grad)`` when this tensor's gradient is computed; a non-None result replaces it."""
        if not self.requires_grad:
            raise RuntimeError("register_hook(): cannot register a hook on a tensor that doesn't require gradient")
        return add_hook(self._extras().setdefault("hooks", OrderedDict()), hook)

    def register_post_accumulate_grad_hook(self, hook: Callable[[Tensor], None]) -> RemovableHandle:
        """Call ``hook(self)`` once this leaf's ``.grad`` is final for the current backward.

        As PyTorch's: it runs mid-walk, as soon as the leaf's last gradient contribution is
        added (the last layer's first: what ``DistributedDataParallel`` starts communicating
        from); ``autograd.grad`` runs none. Returns a handle whose ``remove()`` unregisters it.
        """
        if not self.requires_grad:
            raise RuntimeError(
                "register_post_accumulate_grad_hook(): cannot register a hook on a tensor that "
                "doesn't require gradient (requires_grad=False)"
            )
        if self._op is not None:
            raise RuntimeError(
                "register_post_accumulate_grad_hook(): post accumulate grad hooks cannot be registered "
                f"on non-leaf tensors (this one is the output of {self._op.name})"
            )
        HOOKS.post_acc = True
        return add_hook(self._extras(any_hook=False).setdefault("post_acc", OrderedDict()), hook)  # (fast walk kept)

    @property
    def _backward_hooks(self) -> OrderedDict | None:
        """The hooks of :meth:`register_hook` by handle id, None when there are none (PyTorch's
        attribute, read by ``torch.utils.hooks.warn_if_has_hooks``)."""
        return self._extras_or_empty().get("hooks") or None

    @property
    def name(self) -> str | None:
        """Optional label used by ``trace`` tables and graph drawings."""
        return self._extras_or_empty().get("name")

    @name.setter
    def name(self, value: str | None) -> None:
        self._extras(any_hook=False)["name"] = value  # (a label, not a hook: backward keeps its lean walk)

    def _extras(self, any_hook: bool = True) -> dict:
        """The rarely used fields, made on first use.  ``any_hook``: this tensor gets a hook (or
        ``retain_grad``), so the engine looks for hooks while it lives (``HOOKS.hold``, released
        when it is collected)."""
        ex = getattr(self, "_extra", None)
        if ex is None:
            ex = self._extra = {}
        if any_hook and "held" not in ex:
            HOOKS.hold()
            ex["held"] = _Held(self)
        return ex

    def _extras_or_empty(self) -> dict:
        return getattr(self, "_extra", None) or {}

    # -- printing ----------------------------------------------------------------
    def __repr__(self) -> str:
        a = self._array
        body = tensor_body(_host(a), PRINT_OPTIONS)
        extra = [] if type(a) is _ndarray else [f"device='{device_of(a)}'"]
        dt = a.dtype
        if a.size == 0:  # (as PyTorch: the shape unless it is (0,); the dtype unless the default, as no value shows it)
            if a.ndim != 1:
                extra.append(f"size={tuple(a.shape)}")
            if dt != get_default_dtype():
                extra.append(f"dtype={dt}")
        elif dt != get_default_dtype() and dt != np.int64 and dt != np.bool_:
            extra.append(f"dtype={dt}")
        if self._op is not None:
            from chainrule.autograd.node import name_of

            extra.append(f"grad_fn=<{name_of(self)}>")
        elif self.requires_grad:
            extra.append("requires_grad=True")
        return "tensor(" + body + "".join(", " + e for e in extra) + ")"


# torch.set_printoptions' state (chainrule._torch_toplevel sets it; __repr__ reads it)
PRINT_OPTIONS: dict[str, Any] = {"precision": 4, "threshold": 1000, "edgeitems": 3, "linewidth": 80,
                                 "sci_mode": None}


_new = object.__new__
_ndarray = np.ndarray
_ARRAY_TYPES = ARRAY_TYPES  # (the registry's array class -> back end dict, shared)


def _host(a: Any) -> np.ndarray:
    """The values of array ``a`` as a NumPy array (a copy for another back end's array)."""
    return a if type(a) is _ndarray else to_host(a)


def _not_on_host(t: Tensor, where: str) -> str:
    return (f"{where}: can't convert a {t.device} device type tensor to a NumPy array; use "
            "Tensor.cpu() to copy the tensor to host memory first")
