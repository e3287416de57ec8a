"""Neural-network modules (PyTorch's ``torch.nn``): layers, activations, losses, containers.

Each area adds its imports under its own heading below.
"""

# ruff: noqa: E402,F401  (the imports below are this package's public names)

# --- module system and containers (nn-core) ---
from chainrule.nn.module import Module
from chainrule.nn.modules.container import (
    Flatten,
    Identity,
    ModuleDict,
    ModuleList,
    ParameterList,
    Sequential,
    Unflatten,
)
from chainrule.nn.parameter import Buffer, Parameter

# isort: split

# --- activations, linear layers, blocks (nn-core helper) ---
from chainrule.nn.modules.activation import (
    ELU,
    GELU,
    SELU,
    ESwish,
    Hardsigmoid,
    Hardswish,
    Hardtanh,
    Heaviside,
    LeakyReLU,
    LogSigmoid,
    LogSoftmax,
    Maxout,
    Mish,
    PiecewiseLinear,
    ReLU,
    ReLU6,
    Sigmoid,
    Sign,
    SiLU,
    Softmax,
    Softplus,
    Softsign,
    Step,
    Swish,
    Tanh,
)
from chainrule.nn.modules.blocks import DenseConnection, Residual
from chainrule.nn.modules.linear import Bilinear, Linear, MaxoutLinear

# isort: split

# --- losses (nn-core losses helper) ---
from chainrule.nn.modules.loss import (
    BCELoss,
    BCEWithLogitsLoss,
    CrossEntropyLoss,
    HuberLoss,
    KLDivLoss,
    L1Loss,
    MSELoss,
    NLLLoss,
    SmoothL1Loss,
)

# isort: split

# --- convolution, pooling, normalisation, dropout, embedding (nn-layers) ---
from chainrule.nn.modules.conv import CausalConv1d, Conv1d, Conv2d, Fold, Unfold
from chainrule.nn.modules.dropout import Dropout, Dropout1d, Dropout2d
from chainrule.nn.modules.embedding import Embedding
from chainrule.nn.modules.normalization import BatchNorm1d, BatchNorm2d, LayerNorm
from chainrule.nn.modules.pooling import (
    AdaptiveAvgPool1d,
    AdaptiveAvgPool2d,
    AvgPool1d,
    AvgPool2d,
    MaxPool1d,
    MaxPool2d,
)

# isort: split

# --- recurrent layers and attention (nn-recurrent) ---
from chainrule.nn.modules.attention import AdditiveAttention, MultiheadAttention
from chainrule.nn.modules.rnn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNBase, RNNCell, RNNCellBase
from chainrule.nn.modules.transformer import (
    Transformer,
    TransformerDecoder,
    TransformerDecoderLayer,
    TransformerEncoder,
    TransformerEncoderLayer,
)

# isort: split

# --- sub-packages ---
from chainrule.nn import functional, init, utils

# The public names, listed so that type checkers see them as exported (mypy --strict does
# not re-export plain imports); tests/test_typing.py checks that every import is listed.
__all__ = [
    "AdaptiveAvgPool1d",
    "AdaptiveAvgPool2d",
    "AdditiveAttention",
    "AvgPool1d",
    "AvgPool2d",
    "BatchNorm1d",
    "BatchNorm2d",
    "BCELoss",
    "BCEWithLogitsLoss",
    "Bilinear",
    "Buffer",
    "CausalConv1d",
    "Conv1d",
    "Conv2d",
    "CrossEntropyLoss",
    "DenseConnection",
    "Dropout",
    "Dropout1d",
    "Dropout2d",
    "ELU",
    "Embedding",
    "ESwish",
    "Flatten",
    "Fold",
    "functional",
    "GELU",
    "GRU",
    "GRUCell",
    "Hardsigmoid",
    "Hardswish",
    "Hardtanh",
    "Heaviside",
    "HuberLoss",
    "Identity",
    "init",
    "KLDivLoss",
    "L1Loss",
    "LayerNorm",
    "LeakyReLU",
    "Linear",
    "LogSigmoid",
    "LogSoftmax",
    "LSTM",
    "LSTMCell",
    "Maxout",
    "MaxoutLinear",
    "MaxPool1d",
    "MaxPool2d",
    "Mish",
    "Module",
    "ModuleDict",
    "ModuleList",
    "MSELoss",
    "MultiheadAttention",
    "NLLLoss",
    "Parameter",
    "ParameterList",
    "PiecewiseLinear",
    "ReLU",
    "ReLU6",
    "Residual",
    "RNN",
    "RNNBase",
    "RNNCell",
    "RNNCellBase",
    "SELU",
    "Sequential",
    "Sigmoid",
    "Sign",
    "SiLU",
    "SmoothL1Loss",
    "Softmax",
    "Softplus",
    "Softsign",
    "Step",
    "Swish",
    "Tanh",
    "Transformer",
    "TransformerDecoder",
    "TransformerDecoderLayer",
    "TransformerEncoder",
    "TransformerEncoderLayer",
    "Unflatten",
    "Unfold",
    "utils",
]
