"""Variable-length sequences for the recurrent layers (PyTorch's ``torch.nn.utils.rnn``).

A batch of B sequences of lengths l_1 ≥ l_2 ≥ … ≥ l_B is *packed* by time step: the rows
of ``data`` are  x_1[0], x_2[0], …, x_B[0],  x_1[1], …  — at step t only the sequences
still running (l_b > t) contribute, and ``batch_sizes[t]`` counts them.  An RNN given a
:class:`PackedSequence` never sees padding: its output is zero past each sequence's end
and its final state h_n is the state after each sequence's own last step.

* ``pad_sequence(sequences)``: list of (L_i, *) -> (L_max, B, *) (or (B, L_max, *));
* ``pack_padded_sequence(input, lengths)`` / ``pad_packed_sequence(packed)``: between
  padded and packed form; ``pack_sequence(sequences)`` = both steps;
* ``unpad_sequence`` / ``unpack_sequence``: back to a list of (L_i, *) tensors.

Every conversion is an index selection (``getitem`` with integer arrays), so gradients
flow through packing and padding; padded positions get no gradient.

With ``enforce_sorted=False`` the sequences may come in any order: they are sorted by
decreasing length (``sorted_indices[i]`` = the batch index of the i-th longest) and
``unsorted_indices`` is the inverse permutation; padded results come back in the caller's
order.

Lengths and ``batch_sizes`` are host data (Python integers; ``batch_sizes`` and the returned
lengths are CPU tensors, as in PyTorch), so the per-sequence bookkeeping is plain Python;
the index grids that select rows of ``data`` are built by the data's table, on its device.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Sequence

import numpy as np

from chainrule.autograd.primitive import table_of
from chainrule.autograd.tensor import Tensor
from chainrule.ops import shape as sh
from chainrule.ops.creation import tensor
from chainrule.ops.indexing import getitem

__all__ = [
    "PackedSequence",
    "invert_permutation",
    "pack_padded_sequence",
    "pack_sequence",
    "pad_packed_sequence",
    "pad_sequence",
    "unpack_sequence",
    "unpad_sequence",
]


def _ints(x: Any, name: str, what: str) -> list[int]:
    """A 1-D sequence of integers (a list, a tuple or an integer Tensor) as Python ints."""
    if isinstance(x, Tensor):
        ok = x.ndim == 1 and (x.numel() == 0 or x.dtype.kind in "iu")
        got = f"{x.dtype} of shape {tuple(x.shape)}"
        return x.tolist() if ok else _not_ints(name, what, got)
    try:
        vals = list(x)
    except TypeError:
        return _not_ints(name, what, repr(x))
    if not all(isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)) for v in vals):
        return _not_ints(name, what, repr(x))
    return [int(v) for v in vals]


def _not_ints(name: str, what: str, got: str) -> list[int]:
    raise ValueError(f"{name}: {what} must be a 1-D sequence of integers, got {got}")


def _long(values: list, like: Tensor | None = None) -> Tensor:
    """An int64 tensor of ``values``: on ``like``'s device, else on the CPU (host data)."""
    return tensor(values, dtype=np.int64, device=None if like is None else like.device)


def _inverse(perm: list) -> list[int]:
    """argsort(perm) (stable): the inverse of a permutation."""
    return sorted(range(len(perm)), key=perm.__getitem__)


def _starts(counts: list) -> list[int]:
    """Where each block of a concatenation of blocks of ``counts`` rows starts."""
    out, at = [], 0
    for n in counts:
        out.append(at)
        at += n
    return out


class _PackedSequenceBase(NamedTuple):
    data: Tensor
    batch_sizes: Tensor
    sorted_indices: Tensor | None
    unsorted_indices: Tensor | None


class PackedSequence(_PackedSequenceBase):
    """A packed batch of variable-length sequences (a named tuple, as PyTorch's).

    ``data`` (sum of lengths, *) the time-major rows; ``batch_sizes`` (L_max,) int64 (on the
    CPU), the number of sequences running at each step; ``sorted_indices`` /
    ``unsorted_indices`` (B,) int64 on ``data``'s device, or None when the batch was already
    sorted by decreasing length.  Build one with :func:`pack_padded_sequence` or
    :func:`pack_sequence`.
    """

    def __new__(
        cls,
        data: Tensor,
        batch_sizes: Tensor | None = None,
        sorted_indices: Tensor | None = None,
        unsorted_indices: Tensor | None = None,
    ) -> PackedSequence:
        if batch_sizes is None:
            raise ValueError("PackedSequence: batch_sizes is required (build one with pack_padded_sequence)")
        if unsorted_indices is None and sorted_indices is not None:
            unsorted_indices = invert_permutation(sorted_indices)
        return super().__new__(cls, data, batch_sizes, sorted_indices, unsorted_indices)

    def to(self, *args: Any, **kwargs: Any) -> PackedSequence:
        """The same packing with ``data.to(*args, **kwargs)`` (dtype or device); the indices follow
        ``data`` to its device, ``batch_sizes`` stays on the CPU."""
        data = self.data.to(*args, **kwargs)
        si, ui = ((None if t is None else t.to(data.device)) for t in (self.sorted_indices, self.unsorted_indices))
        return type(self)(data, self.batch_sizes, si, ui)

    def double(self) -> PackedSequence:
        return self.to(np.float64)

    def float(self) -> PackedSequence:
        return self.to(np.float32)

    @property
    def is_cuda(self) -> bool:
        return self.data.is_cuda

    def _sorted_order(self) -> list[int]:
        """sorted position i -> batch index (identity when the batch came sorted)."""
        bs = self.batch_sizes.tolist()
        B = bs[0] if bs else 0
        return list(range(B)) if self.sorted_indices is None else self.sorted_indices.tolist()

    def _lengths_sorted(self) -> list[int]:
        """The length of each sequence in sorted order (sequence i runs while batch_sizes[t] > i)."""
        bs = self.batch_sizes.tolist()
        return [sum(n > i for n in bs) for i in range(bs[0] if bs else 0)]


def pack_padded_sequence(
    input: Tensor, lengths: Any, batch_first: bool = False, enforce_sorted: bool = True
) -> PackedSequence:
    """Pack a padded batch.  input (L_max, B, *) (or (B, L_max, *) with ``batch_first``);
    ``lengths`` (B,) as a list or int64 Tensor, each in 1..L_max.  With ``enforce_sorted``
    (default) the lengths must be decreasing; pass ``enforce_sorted=False`` otherwise.
    """
    name = "pack_padded_sequence"
    if not isinstance(input, Tensor) or input.ndim < 2:
        got = tuple(input.shape) if isinstance(input, Tensor) else type(input).__name__
        raise ValueError(f"{name}: input must be a Tensor (L, B, *) or (B, L, *) with batch_first, got {got}")
    lens = _ints(lengths, name, "lengths")
    L, B = (input.shape[1], input.shape[0]) if batch_first else (input.shape[0], input.shape[1])
    if len(lens) != B:
        raise ValueError(f"{name}: expected {B} lengths for a batch of {B} (input {tuple(input.shape)}"
                         f"{', batch_first' if batch_first else ''}), got {len(lens)}")
    if B and min(lens) <= 0:
        raise RuntimeError(f"{name}: Length of all samples has to be greater than 0, but found an element in "
                           f"'lengths' that is <= 0: {lens}")
    if B and max(lens) > L:
        raise RuntimeError(f"{name}: a length ({max(lens)}) exceeds the padded length {L} of input "
                           f"{tuple(input.shape)}")
    if enforce_sorted:
        if any(a < b for a, b in zip(lens, lens[1:])):
            raise RuntimeError(f"{name}: `lengths` array must be sorted in decreasing order when `enforce_sorted` "
                               f"is True, got {lens}. You can pass `enforce_sorted=False` to "
                               "pack_padded_sequence and/or pack_sequence to sidestep this requirement if you do "
                               "not need ONNX exportability.")
        order = list(range(B))
        sorted_t = None
    else:
        order = sorted(range(B), key=lambda b: -lens[b])  # stable: equal lengths keep their order
        sorted_t = _long(order, input)
    lens_sorted = [lens[b] for b in order]
    T = lens_sorted[0] if B else 0
    batch_sizes = [sum(n > t for n in lens_sorted) for t in range(T)]
    # the rows in packed order: (t, i) for every step t and sorted sequence i still running
    m = table_of((input,), name)
    t_idx, i_idx = (m.from_host(lens_sorted, np.int64)[None, :] > m.arange(T)[:, None]).nonzero()
    b_idx = m.from_host(order, np.int64)[i_idx]
    data = getitem(input, (b_idx, t_idx) if batch_first else (t_idx, b_idx))
    return PackedSequence(data, _long(batch_sizes), sorted_t, None)


def pad_packed_sequence(
    sequence: PackedSequence,
    batch_first: bool = False,
    padding_value: float = 0.0,
    total_length: int | None = None,
) -> tuple[Tensor, Tensor]:
    """Undo :func:`pack_padded_sequence`: returns (padded (T, B, *) or (B, T, *), lengths (B,) int64
    on the CPU), both in the caller's batch order; T = ``total_length`` or the longest length."""
    name = "pad_packed_sequence"
    if not isinstance(sequence, PackedSequence):
        raise TypeError(f"{name}: expected a PackedSequence, got {type(sequence).__name__}")
    data = sequence.data
    bs = sequence.batch_sizes.tolist()
    T = len(bs)
    if total_length is not None:
        if total_length < T:
            raise ValueError(f"{name}: Expected total_length to be at least the length of the longest sequence "
                             f"({T}), but got total_length={total_length}")
        T = int(total_length)
    inv = _inverse(sequence._sorted_order())  # batch index b -> its sorted position
    lens_sorted = sequence._lengths_sorted()
    lens = [lens_sorted[i] for i in inv]
    P = data.shape[0]
    # idx[t, b] = the data row of sequence b at step t (offset of step t + b's sorted position),
    # or P (a padding row) past its end
    m = table_of((data,), name)
    offs = m.from_host(_starts(bs) + [P] * (T - len(bs)), np.int64)[:, None]
    t = m.arange(T)[:, None]
    idx = m.where(t < m.from_host(lens, np.int64)[None, :], offs + m.from_host(inv, np.int64)[None, :], P)
    pad_row = data.new_full((1,) + tuple(data.shape[1:]), padding_value)
    padded = getitem(sh.cat([data, pad_row], 0), idx.T if batch_first else idx)
    return padded, _long(lens)


def pad_sequence(
    sequences: Sequence[Tensor] | Tensor,
    batch_first: bool = False,
    padding_value: float = 0.0,
    padding_side: str = "right",
) -> Tensor:
    """Stack tensors of shapes (L_i, *) into (L_max, B, *) (or (B, L_max, *) with ``batch_first``),
    filling with ``padding_value`` after (``padding_side='right'``) or before ('left') each."""
    name = "pad_sequence"
    if padding_side not in ("left", "right"):
        raise ValueError(f"{name}: padding_side must be 'left' or 'right', got {padding_side!r}")
    seqs = list(sh.unbind(sequences, 0)) if isinstance(sequences, Tensor) else list(sequences)
    if not seqs:
        raise RuntimeError(f"{name}: received an empty list of sequences")
    for k, s in enumerate(seqs):
        if not isinstance(s, Tensor) or s.ndim < 1:
            raise TypeError(f"{name}: sequence {k} must be a Tensor with at least 1 dimension, got "
                            f"{type(s).__name__ if not isinstance(s, Tensor) else tuple(s.shape)}")
        if s.shape[1:] != seqs[0].shape[1:]:
            raise RuntimeError(f"{name}: every sequence needs the same trailing shape {tuple(seqs[0].shape[1:])}, "
                               f"sequence {k} has shape {tuple(s.shape)}")
    lens = [s.shape[0] for s in seqs]
    Lmax, P = max(lens), sum(lens)
    flat = sh.cat(seqs + [seqs[0].new_full((1,) + tuple(seqs[0].shape[1:]), padding_value)], 0)
    # idx[t, b] = the row of flat holding step t of sequence b, or P (the padding row)
    m = table_of((flat,), name)
    n = m.from_host(lens, np.int64)[None, :]
    pos = m.arange(Lmax)[:, None]
    if padding_side == "left":
        pos = pos - (Lmax - n)  # sequence b starts at Lmax - l_b
    idx = m.where((pos >= 0) & (pos < n), m.from_host(_starts(lens), np.int64)[None, :] + pos, P)
    return getitem(flat, idx.T if batch_first else idx)


def pack_sequence(sequences: Sequence[Tensor], enforce_sorted: bool = True) -> PackedSequence:
    """Pack a list of tensors (L_i, *): ``pack_padded_sequence(pad_sequence(seqs), lengths)``."""
    lengths = [s.shape[0] for s in sequences]
    return pack_padded_sequence(pad_sequence(sequences), lengths, enforce_sorted=enforce_sorted)


def unpad_sequence(padded_sequences: Tensor, lengths: Any, batch_first: bool = False) -> list[Tensor]:
    """Split a padded batch (L, B, *) (or (B, L, *)) into the list of its sequences (l_b, *)."""
    lens = _ints(lengths, "unpad_sequence", "lengths")
    x = padded_sequences if batch_first else sh.transpose(padded_sequences, 0, 1)
    return [getitem(x, (b, slice(0, n))) for b, n in enumerate(lens)]


def unpack_sequence(packed_sequences: PackedSequence) -> list[Tensor]:
    """The list of sequences (l_b, *) in a PackedSequence, in the caller's batch order."""
    padded, lens = pad_packed_sequence(packed_sequences, batch_first=True)
    return unpad_sequence(padded, lens, batch_first=True)


def invert_permutation(permutation: Tensor | None) -> Tensor | None:
    """The inverse of a permutation (int64, on its device): out[permutation[i]] = i; None stays None."""
    if permutation is None:
        return None
    perm = _ints(permutation, "invert_permutation", "permutation")
    return _long(_inverse(perm), permutation if isinstance(permutation, Tensor) else None)
