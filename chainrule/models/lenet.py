"""LeNet- and small AlexNet-style CNNs for small images, and the notes' size table.

The notes (004, "Size of a Conv Net") count, per layer:

* output units: what backprop must store;
* weights: what training and testing must store;
* connections: the add-multiplies of the forward pass (backprop costs about 3 per connection).

For a fully connected layer with M inputs and N outputs: N output units, M·N weights, M·N
connections.  For a convolution with I input and J output channels, a K×K kernel and a W×H
output: W·H·J output units, K²·I·J weights and W·H·K²·I·J connections (every output unit
looks at K²·I inputs).  ``layer_table`` computes these for any ``nn.Sequential`` by tracing
the shapes: connections = output units × fan-in, where fan-in is K²·I/groups for a
convolution, M for a linear layer and the window size K² for a pooling layer (which has no
weights).  Biases are counted separately (one per output channel / unit); they are not
connections.

Models (input (N, C, H, W), output (N, num_classes) logits), defaults for the 8×8 digits:

``LeNet`` (LeCun et al. 1998 scaled to 8×8): tanh and average pooling, as in LeNet-5::

    C1 conv 5×5 pad 2, 6 maps  (6, 8, 8) -> S2 avg-pool 2 (6, 4, 4) -> C3 conv 3×3, 16 maps (16, 2, 2)
    -> flatten 64 -> F5 120 -> F6 84 -> output 10

``AlexNetSmall``: the notes' AlexNet tricks on a small scale: ReLU, max pooling, dropout
before the fully connected layers (weight decay, augmentation and SGD with momentum are
training choices, see ``chainrule.examples.digits_cnn``)::

    conv 3×3 pad 1, 32 (32, 8, 8) -> conv 3×3 pad 1, 32 -> max-pool 2 (32, 4, 4)
    -> conv 3×3 pad 1, 64 (64, 4, 4) -> max-pool 2 (64, 2, 2) -> flatten 256
    -> dropout -> FC 128 -> dropout -> output 10
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from chainrule import nn


def _out_size(n: int, k: int, pad: int = 0, stride: int = 1) -> int:
    """The notes' output size (in - k + 2 pad) / stride + 1 (rounded down)."""
    return (n - k + 2 * pad) // stride + 1


class LeNet(nn.Sequential):
    """LeNet-style CNN: conv(k1, pad k1//2) -> act -> pool 2 -> conv(k2, valid) -> act -> (pool 2 if it fits)
    -> flatten -> FC hidden... -> output.

    Args:
        in_channels: C of the input (N, C, H, W).
        num_classes: the number of logits.
        image_size: (H, W) of the input, or one int for a square image.
        channels: (C1 maps, C3 maps), LeNet-5's (6, 16).
        kernel_sizes: (k1, k2); C1 keeps the size (padding k1 // 2), C3 is 'valid'.
        hidden: the fully connected widths, LeNet-5's (120, 84).
        activation: 'tanh' (LeNet-5) or 'relu'.
        pool: 'avg' (LeNet-5's subsampling) or 'max'.
    """

    def __init__(
        self,
        in_channels: int = 1,
        num_classes: int = 10,
        image_size: int | Sequence[int] = 8,
        channels: Sequence[int] = (6, 16),
        kernel_sizes: Sequence[int] = (5, 3),
        hidden: Sequence[int] = (120, 84),
        activation: str = "tanh",
        pool: str = "avg",
    ) -> None:
        h, w = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
        if len(channels) != 2 or len(kernel_sizes) != 2:
            raise ValueError(f"LeNet: channels and kernel_sizes need 2 entries each, got {channels}, {kernel_sizes}")
        if pool not in ("avg", "max"):
            raise ValueError(f"LeNet: pool must be 'avg' or 'max', got {pool!r}")
        act = {"tanh": nn.Tanh, "relu": nn.ReLU}.get(activation)
        if act is None:
            raise ValueError(f"LeNet: activation must be 'tanh' or 'relu', got {activation!r}")
        Pool = nn.AvgPool2d if pool == "avg" else nn.MaxPool2d
        (c1, c2), (k1, k2) = channels, kernel_sizes
        layers: list = [nn.Conv2d(in_channels, c1, k1, padding=k1 // 2), act(), Pool(2)]
        h, w = _out_size(h, k1, k1 // 2) // 2, _out_size(w, k1, k1 // 2) // 2
        if h < k2 or w < k2:
            raise ValueError(f"LeNet: after C1 and S2 the maps are {h}x{w}, too small for a {k2}x{k2} C3 kernel")
        layers += [nn.Conv2d(c1, c2, k2), act()]
        h, w = _out_size(h, k2), _out_size(w, k2)
        if h >= 4 and w >= 4:  # S4 only where there is something left to subsample
            layers.append(Pool(2))
            h, w = h // 2, w // 2
        layers.append(nn.Flatten())
        width = c2 * h * w
        for n in hidden:
            layers += [nn.Linear(width, n), act()]
            width = n
        layers.append(nn.Linear(width, num_classes))
        super().__init__(*layers)


class AlexNetSmall(nn.Sequential):
    """A small AlexNet-style CNN: [conv 3×3 pad 1 -> ReLU] blocks with max pooling, then
    dropout -> FC -> ReLU -> dropout -> output.

    Args:
        channels: the conv widths per stage; each stage is a tuple of widths followed by a
            max-pool 2, default ((32, 32), (64,)): two convs at 8×8, one at 4×4.
        hidden: the fully connected width (AlexNet's 4096, here 128).
        dropout: the drop probability before each fully connected layer (AlexNet's 0.5).
    """

    def __init__(
        self,
        in_channels: int = 1,
        num_classes: int = 10,
        image_size: int | Sequence[int] = 8,
        channels: Sequence[Sequence[int]] = ((32, 32), (64,)),
        hidden: int = 128,
        dropout: float = 0.5,
    ) -> None:
        h, w = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
        if h >> len(channels) < 1 or w >> len(channels) < 1:
            raise ValueError(f"AlexNetSmall: {len(channels)} pooling stages are too many for a {h}x{w} image")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"AlexNetSmall: dropout must be in [0, 1), got {dropout}")
        layers: list = []
        c = in_channels
        for stage in channels:
            for out_c in stage:
                layers += [nn.Conv2d(c, out_c, 3, padding=1), nn.ReLU()]
                c = out_c
            layers.append(nn.MaxPool2d(2))
            h, w = h // 2, w // 2
        layers.append(nn.Flatten())
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        layers += [nn.Linear(c * h * w, hidden), nn.ReLU()]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        layers.append(nn.Linear(hidden, num_classes))
        super().__init__(*layers)


class LayerCount(NamedTuple):
    """One row of the size table (see the module docstring for the formulas)."""

    name: str  # e.g. "conv1", "pool1", "fc1"
    kind: str  # the module's class name
    output_shape: tuple  # one example's output shape (C, H, W) or (N,)
    units: int  # output units
    weights: int  # K²·I·J (conv), M·N (linear), 0 (pooling)
    biases: int
    fan_in: int  # inputs each output unit is connected to
    connections: int  # units × fan_in


def _pair(v: Any) -> tuple[int, int]:
    return (int(v), int(v)) if isinstance(v, (int, np.integer)) else (int(v[0]), int(v[1]))


def layer_table(model: Any, input_shape: Sequence[int]) -> list[LayerCount]:
    """Units, weights, biases and connections of each conv, pooling and linear layer of a Sequential.

    ``input_shape`` is one example's shape, e.g. (1, 8, 8).  Shapes are traced by running one
    zero example through the layers (in eval mode, without recording a graph).
    """
    from chainrule import zeros
    from chainrule.autograd.grad_mode import no_grad

    if not isinstance(model, nn.Sequential):
        raise TypeError(f"layer_table: expected an nn.Sequential, got {type(model).__name__}")
    was_training = model.training
    model.eval()
    rows: list[LayerCount] = []
    counters: dict[str, int] = {}
    x = zeros((1, *input_shape))
    try:
        with no_grad():
            for layer in model:
                x = layer(x)
                shape = tuple(int(s) for s in x.shape[1:])
                units = int(math.prod(shape))
                if isinstance(layer, nn.Conv2d):
                    kind, tag = "Conv2d", "conv"
                    kh, kw = layer.kernel_size
                    fan_in = kh * kw * layer.in_channels // layer.groups
                    weights = int(layer.weight.numel())
                    biases = int(layer.bias.numel()) if layer.bias is not None else 0
                elif isinstance(layer, nn.Linear):
                    kind, tag = "Linear", "fc"
                    fan_in = layer.in_features
                    weights = int(layer.weight.numel())
                    biases = int(layer.bias.numel()) if layer.bias is not None else 0
                elif isinstance(layer, (nn.MaxPool2d, nn.AvgPool2d)):
                    kind, tag = type(layer).__name__, "pool"
                    kh, kw = _pair(layer.kernel_size)
                    fan_in, weights, biases = kh * kw, 0, 0
                else:
                    continue
                counters[tag] = counters.get(tag, 0) + 1
                rows.append(LayerCount(f"{tag}{counters[tag]}", kind, shape, units, weights, biases, fan_in,
                                       units * fan_in))
    finally:
        model.train(was_training)
    return rows


def format_layer_table(rows: Sequence[LayerCount]) -> str:
    """The table as text, with a total row (parameters = weights + biases)."""
    head = (f"{'layer':7} {'kind':9} {'output':>11} {'units':>6} {'weights':>8} {'biases':>6} {'fan-in':>6} "
            f"{'connections':>11}")
    lines = [head, "-" * len(head)]
    for r in rows:
        shape = "x".join(str(s) for s in r.output_shape)
        lines.append(f"{r.name:7} {r.kind:9} {shape:>11} {r.units:>6} {r.weights:>8} {r.biases:>6} {r.fan_in:>6} "
                     f"{r.connections:>11}")
    w, b, c = (sum(getattr(r, k) for r in rows) for k in ("weights", "biases", "connections"))
    lines.append("-" * len(head))
    lines.append(f"{'total':7} {'':9} {'':>11} {sum(r.units for r in rows):>6} {w:>8} {b:>6} {'':>6} {c:>11}")
    lines.append(f"parameters = weights + biases = {w + b}")
    return "\n".join(lines)


__all__ = ["AlexNetSmall", "LayerCount", "LeNet", "format_layer_table", "layer_table"]
