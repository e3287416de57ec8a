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
"""

from __future__ import annotations

from typing import Any, NamedTuple, Sequence

import numpy as np

from chainrule.autograd.tensor import Tensor
from chainrule.ops import shape as sh
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


def _int_array(x: Any, name: str, what: str) -> np.ndarray:
    a = x._array if isinstance(x, Tensor) else np.asarray(x)
    if a.ndim != 1 or (a.size and a.dtype.kind not in "iu"):
        raise ValueError(f"{name}: {what} must be a 1-D sequence of integers, got {a.dtype} of shape {a.shape}")
    return a.astype(np.int64)


def _long(a: np.ndarray) -> Tensor:
    return Tensor._wrap(np.ascontiguousarray(a, dtype=np.int64))


class _PackedSequenceBase(NamedTuple):
    data: Tensor
    batch_sizes: Tensor
    sorted_indices: Tensor | None
    unsorted_indices: Tensor | None


class PackedSequence(_PackedSequenceBase):
    """A packed batch of variable-length sequences (a named tuple, as PyTorch's).

    ``data`` (sum of lengths, *) the time-major rows; ``batch_sizes`` (L_max,) int64, the
    number of sequences running at each step; ``sorted_indices`` / ``unsorted_indices``
    (B,) int64, or None when the batch was already sorted by decreasing length.
    Build one with :func:`pack_padded_sequence` or :func:`pack_sequence`.
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
            s = _int_array(sorted_indices, "PackedSequence", "sorted_indices")
            unsorted_indices = _long(np.argsort(s))
        return super().__new__(cls, data, batch_sizes, sorted_indices, unsorted_indices)

    def to(self, *args: Any, **kwargs: Any) -> PackedSequence:
        """The same packing with ``data.to(*args, **kwargs)`` (dtype or CPU device)."""
        return type(self)(self.data.to(*args, **kwargs), self.batch_sizes, self.sorted_indices, self.unsorted_indices)

    def double(self) -> PackedSequence:
        return self.to(np.float64)

    def float(self) -> PackedSequence:
        return self.to(np.float32)

    @property
    def is_cuda(self) -> bool:
        return False

    def _sorted_order(self) -> np.ndarray:
        """sorted position i -> batch index (identity when the batch came sorted)."""
        B = int(self.batch_sizes._array[0]) if self.batch_sizes._array.size else 0
        return np.arange(B) if self.sorted_indices is None else self.sorted_indices._array.astype(np.int64)

    def _lengths_sorted(self) -> np.ndarray:
        bs = self.batch_sizes._array.astype(np.int64)
        B = int(bs[0]) if bs.size else 0
        # sequence i (in sorted order) runs while batch_sizes[t] > i
        return (bs[None, :] > np.arange(B)[:, None]).sum(1)


def _step_offsets(batch_sizes: np.ndarray) -> np.ndarray:
    """Row of ``data`` where time step t starts."""
    return np.concatenate([[0], np.cumsum(batch_sizes)[:-1]]).astype(np.int64)


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
    lens = _int_array(lengths, name, "lengths")
    L, B = (input.shape[1], input.shape[0]) if batch_first else (input.shape[0], input.shape[1])
    if lens.shape[0] != B:
        raise ValueError(f"{name}: expected {B} lengths for a batch of {B} (input {tuple(input.shape)}"
                         f"{', batch_first' if batch_first else ''}), got {lens.shape[0]}")
    if B and lens.min() <= 0:
        raise RuntimeError(f"{name}: Length of all samples has to be greater than 0, but found an element in "
                           f"'lengths' that is <= 0: {lens.tolist()}")
    if B and lens.max() > L:
        raise RuntimeError(f"{name}: a length ({int(lens.max())}) exceeds the padded length {L} of input "
                           f"{tuple(input.shape)}")
    if enforce_sorted:
        if np.any(np.diff(lens) > 0):
            raise RuntimeError(f"{name}: `lengths` array must be sorted in decreasing order when `enforce_sorted` "
                               f"is True, got {lens.tolist()}. You can pass `enforce_sorted=False` to "
                               "pack_padded_sequence and/or pack_sequence to sidestep this requirement if you do "
                               "not need ONNX exportability.")
        order = np.arange(B)
        sorted_t = None
    else:
        order = np.argsort(-lens, kind="stable")
        sorted_t = _long(order)
    lens_sorted = lens[order]
    T = int(lens_sorted[0]) if B else 0
    batch_sizes = (lens_sorted[None, :] > np.arange(T)[:, None]).sum(1).astype(np.int64)
    t_idx = np.repeat(np.arange(T), batch_sizes)
    b_idx = np.concatenate([order[:n] for n in batch_sizes]) if T else np.zeros(0, np.int64)
    data = getitem(input, (b_idx, t_idx) if batch_first else (t_idx, b_idx))
    return PackedSequence(data, _long(batch_sizes), sorted_t, None)


def pad_packed_sequence(
    sequence: PackedSequence,
    batch_first: bool = False,
    padding_value: float = 0.0,
    total_length: int | None = None,
) -> tuple[Tensor, Tensor]:
    """Undo :func:`pack_padded_sequence`: returns (padded (T, B, *) or (B, T, *), lengths (B,) int64),
    both in the caller's batch order; T = ``total_length`` or the longest length."""
    name = "pad_packed_sequence"
    if not isinstance(sequence, PackedSequence):
        raise TypeError(f"{name}: expected a PackedSequence, got {type(sequence).__name__}")
    data = sequence.data
    bs = sequence.batch_sizes._array.astype(np.int64)
    T = bs.shape[0]
    if total_length is not None:
        if total_length < T:
            raise ValueError(f"{name}: Expected total_length to be at least the length of the longest sequence "
                             f"({T}), but got total_length={total_length}")
        T = int(total_length)
    order = sequence._sorted_order()
    lens_sorted = sequence._lengths_sorted()
    B = order.shape[0]
    P = data.shape[0]
    # idx[t, i] = the data row of sorted sequence i at step t, or P (a padding row) past its end
    offs = np.concatenate([_step_offsets(bs), np.full(T - bs.shape[0], P, dtype=np.int64)])  # steps past the end
    t = np.arange(T)[:, None]
    idx = np.where(t < lens_sorted[None, :], offs[:, None] + np.arange(B)[None, :], P)
    inv = np.argsort(order)  # batch index b -> its sorted position
    idx = idx[:, inv]
    pad_row = Tensor._wrap(np.full((1,) + tuple(data.shape[1:]), padding_value, dtype=data.dtype))
    padded = getitem(sh.cat([data, pad_row], 0), idx.T if batch_first else idx)
    return padded, _long(lens_sorted[inv])


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
    lens = np.array([s.shape[0] for s in seqs], dtype=np.int64)
    Lmax = int(lens.max())
    flat = sh.cat(seqs + [Tensor._wrap(np.full((1,) + tuple(seqs[0].shape[1:]), padding_value,
                                                dtype=seqs[0]._array.dtype))], 0)
    P = int(lens.sum())
    starts = np.concatenate([[0], np.cumsum(lens)[:-1]])
    t = np.arange(Lmax)[:, None]
    shift = 0 if padding_side == "right" else (Lmax - lens)[None, :]  # left: sequence i starts at Lmax - l_i
    pos = t - shift
    idx = np.where((pos >= 0) & (pos < lens[None, :]), starts[None, :] + pos, P)
    return getitem(flat, idx.T if batch_first else idx)


def pack_sequence(sequences: Sequence[Tensor], enforce_sorted: bool = True) -> PackedSequence:
    """Pack a list of tensors (L_i, *): ``pack_padded_sequence(pad_sequence(seqs), lengths)``."""
    lengths = [s.shape[0] for s in sequences]
    return pack_padded_sequence(pad_sequence(sequences), lengths, enforce_sorted=enforce_sorted)


def unpad_sequence(padded_sequences: Tensor, lengths: Any, batch_first: bool = False) -> list[Tensor]:
    """Split a padded batch (L, B, *) (or (B, L, *)) into the list of its sequences (l_b, *)."""
    lens = _int_array(lengths, "unpad_sequence", "lengths")
    x = padded_sequences if batch_first else sh.transpose(padded_sequences, 0, 1)
    return [getitem(x, (b, slice(0, int(n)))) for b, n in enumerate(lens)]


def unpack_sequence(packed_sequences: PackedSequence) -> list[Tensor]:
    """The list of sequences (l_b, *) in a PackedSequence, in the caller's batch order."""
    padded, lens = pad_packed_sequence(packed_sequences, batch_first=True)
    return unpad_sequence(padded, lens, batch_first=True)


def invert_permutation(permutation: Tensor | None) -> Tensor | None:
    """The inverse of a permutation (int64): out[permutation[i]] = i; None stays None."""
    if permutation is None:
        return None
    return _long(np.argsort(_int_array(permutation, "invert_permutation", "permutation")))
