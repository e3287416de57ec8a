"""A small convolutional network for small images such as the 8x8 digits.

Each block is Conv2d(k x k, padding k // 2) -> (BatchNorm2d) -> ReLU -> MaxPool2d(2), so a block
keeps the spatial size through the convolution (out = (in - k + 2 pad) / 1 + 1 = in) and halves
it in the pooling.  For digits (1, 8, 8) with channels (16, 32):

    (N, 1, 8, 8) -> conv 16 -> pool -> (N, 16, 4, 4) -> conv 32 -> pool -> (N, 32, 2, 2)
                 -> flatten (N, 128) -> (Dropout) -> Linear -> (N, num_classes) logits

The ``chainrule train`` demo uses channels (32, 64) with batch normalisation (21,578 parameters):
flatten (N, 256) -> Linear(256, 10).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def cnn(
    in_channels: int = 1,
    num_classes: int = 10,
    image_size: int | Sequence[int] = 8,
    channels: Sequence[int] = (16, 32),
    kernel_size: int = 3,
    dropout: float = 0.0,
    batch_norm: bool = False,
    hidden: int = 0,
) -> Any:
    """A ``nn.Sequential`` CNN: input (N, in_channels, H, W), output (N, num_classes) logits.

    ``hidden > 0`` adds a fully connected ReLU layer of that width before the output.
    """
    from chainrule import nn

    h, w = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
    if kernel_size % 2 == 0:
        raise ValueError(f"cnn: kernel_size must be odd (so 'same' padding keeps the size), got {kernel_size}")
    if h >> len(channels) < 1 or w >> len(channels) < 1:
        raise ValueError(
            f"cnn: {len(channels)} pooling blocks halve a {h}x{w} image {len(channels)} times: too many for its size"
        )
    layers: list = []
    c = in_channels
    for out_c in channels:
        layers.append(nn.Conv2d(c, out_c, kernel_size, padding=kernel_size // 2))
        if batch_norm:
            layers.append(nn.BatchNorm2d(out_c))
        layers += [nn.ReLU(), nn.MaxPool2d(2)]
        c, h, w = out_c, h // 2, w // 2
    layers.append(nn.Flatten())
    if dropout > 0:
        layers.append(nn.Dropout(dropout))
    width = c * h * w
    if hidden > 0:
        layers += [nn.Linear(width, hidden), nn.ReLU()]
        width = hidden
    layers.append(nn.Linear(width, num_classes))
    return nn.Sequential(*layers)
