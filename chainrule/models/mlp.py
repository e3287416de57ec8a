"""Multi-layer perceptron builder: Flatten -> [Linear -> (BatchNorm) -> activation -> (Dropout)] x L -> Linear.

With hidden sizes h_1..h_L the network computes, as in the notes' forward pass,

    z_0 = flatten(x),   a_i = W_i z_{i-1} + b_i,   z_i = sigma(a_i)  (i = 1..L),   out = W_{L+1} z_L + b_{L+1}

and returns logits (classification) or values (regression); the loss applies softmax/sigmoid.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

ACTIVATIONS = ("relu", "tanh", "sigmoid", "leaky_relu", "elu", "gelu")


def activation(name: str) -> Any:
    """The activation module for a name: relu, tanh, sigmoid, leaky_relu (slope 0.1, as in the notes), elu, gelu."""
    from chainrule import nn

    key = name.lower()
    if key == "relu":
        return nn.ReLU()
    if key == "tanh":
        return nn.Tanh()
    if key == "sigmoid":
        return nn.Sigmoid()
    if key == "leaky_relu":
        return nn.LeakyReLU(0.1)
    if key == "elu":
        return nn.ELU()
    if key == "gelu":
        return nn.GELU()
    raise ValueError(f"unknown activation {name!r}; choose from {', '.join(ACTIVATIONS)}")


def mlp(
    in_features: int,
    out_features: int,
    hidden: Sequence[int] = (64,),
    activation_name: str = "relu",
    dropout: float = 0.0,
    batch_norm: bool = False,
) -> Any:
    """An MLP ``nn.Sequential``: input (N, in_features) (or (N, *shape) with prod(shape) = in_features),
    output (N, out_features).

    ``mlp(2, 1, hidden=[4], activation_name='tanh')`` is the notes' 2-4-1 XOR network.
    """
    from chainrule import nn

    if in_features < 1 or out_features < 1 or any(h < 1 for h in hidden):
        raise ValueError(
            f"mlp: sizes must be positive, got in={in_features}, hidden={list(hidden)}, out={out_features}"
        )
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"mlp: dropout must be in [0, 1), got {dropout}")
    layers: list = [nn.Flatten()]
    width = in_features
    for h in hidden:
        layers.append(nn.Linear(width, h))
        if batch_norm:
            layers.append(nn.BatchNorm1d(h))
        layers.append(activation(activation_name))
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        width = h
    layers.append(nn.Linear(width, out_features))
    return nn.Sequential(*layers)
