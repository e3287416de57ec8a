"""``torch.layout``: how a tensor's elements are stored.  chainrule's are always dense (strided).

PyTorch names its layouts ``torch.strided`` (dense, elements addressed by strides: every
chainrule tensor, and ``Tensor.layout``), the sparse ones ``torch.sparse_coo``, ``sparse_csr``,
``sparse_csc``, ``sparse_bsr``, ``sparse_bsc``, ``torch._mkldnn`` (oneDNN's opaque blocked
format) and ``torch.jagged`` (nested tensors).  The factories take ``layout=``: ``None`` and
``torch.strided`` make the usual dense tensor; ``torch.jagged`` too, as in PyTorch, whose plain
factories ignore it; any other layout raises (chainrule has no sparse tensors), and an
argument that is not a layout raises PyTorch's TypeError.
"""

from __future__ import annotations

from typing import Any


class layout:  # noqa: N801  (PyTorch's name: torch.layout)
    """One storage layout; printed as PyTorch prints it (``torch.strided``).  One object per
    layout: copies and unpickled values are that object."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"torch.{self.name}"

    def __reduce__(self) -> str:
        return self.name  # (pickled by reference: the module attribute of that name)

    def __copy__(self) -> layout:
        return self

    def __deepcopy__(self, memo: Any) -> layout:
        return self


layout.__module__ = "chainrule"  # (pickle finds the instances as chainrule.strided...)

strided = layout("strided")
sparse_coo = layout("sparse_coo")
sparse_csr = layout("sparse_csr")
sparse_csc = layout("sparse_csc")
sparse_bsr = layout("sparse_bsr")
sparse_bsc = layout("sparse_bsc")
_mkldnn = layout("_mkldnn")
jagged = layout("jagged")

_DENSE = (strided, jagged)  # what a factory makes as a dense tensor (PyTorch's factories ignore jagged)


def check_layout(value: Any, where: str) -> None:
    """Accept ``layout=`` None, ``strided`` (or ``jagged``, which PyTorch's factories ignore); raise
    for a sparse or oneDNN layout (NotImplementedError, which is a RuntimeError, as PyTorch raises
    one or the other) and for a value that is not a layout (TypeError, PyTorch's message)."""
    if value is None or value is strided:
        return
    if not isinstance(value, layout):
        raise TypeError(f"{where}: argument 'layout' must be torch.layout, not {type(value).__name__}")
    if value not in _DENSE:
        raise NotImplementedError(
            f"{where}: layout={value!r} is not supported: chainrule has dense (torch.strided) tensors only, "
            "no sparse or oneDNN layouts; use layout=torch.strided (the default)"
        )
