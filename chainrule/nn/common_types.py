"""``torch.nn.common_types``: the size and ratio aliases layers annotate their arguments with
(``kernel_size: _size_2_t`` is an int or a pair of ints)."""

from __future__ import annotations

from chainrule.autograd.tensor import Tensor

_size_any_t = int | tuple
_size_1_t = int | tuple
_size_2_t = int | tuple
_size_3_t = int | tuple
_size_4_t = int | tuple
_size_5_t = int | tuple
_size_6_t = int | tuple
_size_any_opt_t = int | None | tuple
_size_2_opt_t = int | None | tuple
_size_3_opt_t = int | None | tuple
_ratio_2_t = float | tuple
_ratio_3_t = float | tuple
_ratio_any_t = float | tuple
_tensor_list_t = Tensor | tuple
_maybe_indices_t = Tensor | tuple
