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
from chainrule.nn.modules.lazy import (
    LazyBatchNorm1d,
    LazyBatchNorm2d,
    LazyBatchNorm3d,
    LazyConv1d,
    LazyConv2d,
    LazyConv3d,
    LazyConvTranspose1d,
    LazyConvTranspose2d,
    LazyConvTranspose3d,
    LazyInstanceNorm1d,
    LazyInstanceNorm2d,
    LazyInstanceNorm3d,
    LazyLinear,
    UninitializedParameter,
)
from chainrule.nn.modules.unpool import MaxUnpool1d, MaxUnpool2d, MaxUnpool3d
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
    LinearCrossEntropyLoss,
    LinearCrossEntropyOptions,
    MSELoss,
    NLLLoss,
    SmoothL1Loss,
)

# isort: split

# --- convolution, pooling, normalisation, dropout, embedding (nn-layers) ---
from chainrule.nn.modules.adaptive import AdaptiveLogSoftmaxWithLoss
from chainrule.nn.modules.conv import CausalConv1d, Conv1d, Conv2d, Fold, Unfold
from chainrule.nn.modules.dropout import AlphaDropout, Dropout, Dropout1d, Dropout2d, Dropout3d, FeatureAlphaDropout
from chainrule.nn.modules.embedding import Embedding, EmbeddingBag
from chainrule.nn.modules.normalization import BatchNorm1d, BatchNorm2d, LayerNorm
from chainrule.nn.modules.pooling import (
    AdaptiveAvgPool1d,
    AdaptiveAvgPool2d,
    AvgPool1d,
    AvgPool2d,
    MaxPool1d,
    MaxPool2d,
)
from chainrule.nn.modules.sync_batchnorm import SyncBatchNorm

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

# --- more of torch.nn (torch parity, issue 12: activations, distances, padding, resampling, losses) ---
from chainrule.nn.modules.activation_extra import (
    CELU,
    GLU,
    Hardshrink,
    PReLU,
    RReLU,
    Softmax2d,
    Softmin,
    Softshrink,
    Tanhshrink,
    Threshold,
)
from chainrule.nn.modules.container_extra import ParameterDict
from chainrule.nn.modules.conv_transpose import ConvTranspose1d, ConvTranspose2d
from chainrule.nn.modules.ctc import CTCLoss
from chainrule.nn.modules.distance import CosineSimilarity, PairwiseDistance
from chainrule.nn.modules.loss_extra import (
    CosineEmbeddingLoss,
    GaussianNLLLoss,
    HingeEmbeddingLoss,
    MarginRankingLoss,
    MultiLabelMarginLoss,
    MultiLabelSoftMarginLoss,
    MultiMarginLoss,
    PoissonNLLLoss,
    SoftMarginLoss,
    TripletMarginLoss,
    TripletMarginWithDistanceLoss,
)
from chainrule.nn.modules.normalization_extra import (
    BatchNorm3d,
    GroupNorm,
    InstanceNorm1d,
    InstanceNorm2d,
    InstanceNorm3d,
    RMSNorm,
)
from chainrule.nn.modules.padding import (
    CircularPad1d,
    CircularPad2d,
    CircularPad3d,
    ConstantPad1d,
    ConstantPad2d,
    ConstantPad3d,
    ReflectionPad1d,
    ReflectionPad2d,
    ReflectionPad3d,
    ReplicationPad1d,
    ReplicationPad2d,
    ReplicationPad3d,
    ZeroPad1d,
    ZeroPad2d,
    ZeroPad3d,
)
from chainrule.nn.modules.pooling_extra import (
    AdaptiveMaxPool1d,
    AdaptiveMaxPool2d,
    CrossMapLRN2d,
    FractionalMaxPool2d,
    FractionalMaxPool3d,
    LocalResponseNorm,
    LPPool1d,
    LPPool2d,
    LPPool3d,
)
from chainrule.nn.modules.three_d import (
    AdaptiveAvgPool3d,
    AdaptiveMaxPool3d,
    AvgPool3d,
    Conv3d,
    ConvTranspose3d,
    MaxPool3d,
)
from chainrule.nn.modules.upsampling import (
    ChannelShuffle,
    PixelShuffle,
    PixelUnshuffle,
    Upsample,
    UpsamplingBilinear2d,
    UpsamplingNearest2d,
)

# isort: split

# --- sub-packages ---
from chainrule.nn import attention, functional, init, parallel, utils
from chainrule.nn.parallel import DataParallel

# The public names, listed so that type checkers see them as exported (mypy --strict does
# not re-export plain imports); tests/test_typing.py checks that every import is listed.
__all__ = [
    "AdaptiveAvgPool1d",
    "AdaptiveAvgPool2d",
    "AdaptiveAvgPool3d",
    "AdaptiveMaxPool1d",
    "AdaptiveMaxPool2d",
    "AdaptiveMaxPool3d",
    "AdditiveAttention",
    "AlphaDropout",
    "AvgPool1d",
    "AvgPool2d",
    "AvgPool3d",
    "BatchNorm1d",
    "BatchNorm2d",
    "BatchNorm3d",
    "BCELoss",
    "BCEWithLogitsLoss",
    "Bilinear",
    "Buffer",
    "CausalConv1d",
    "CELU",
    "ChannelShuffle",
    "CircularPad1d",
    "CircularPad2d",
    "CircularPad3d",
    "ConstantPad1d",
    "ConstantPad2d",
    "ConstantPad3d",
    "Conv1d",
    "Conv2d",
    "Conv3d",
    "ConvTranspose1d",
    "ConvTranspose2d",
    "ConvTranspose3d",
    "CTCLoss",
    "CosineEmbeddingLoss",
    "CosineSimilarity",
    "CrossEntropyLoss",
    "DenseConnection",
    "Dropout",
    "Dropout1d",
    "Dropout2d",
    "Dropout3d",
    "ELU",
    "Embedding",
    "EmbeddingBag",
    "AdaptiveLogSoftmaxWithLoss",
    "CrossMapLRN2d",
    "FractionalMaxPool2d",
    "FractionalMaxPool3d",
    "ESwish",
    "FeatureAlphaDropout",
    "Flatten",
    "Fold",
    "attention",
    "functional",
    "GaussianNLLLoss",
    "GELU",
    "GLU",
    "GroupNorm",
    "GRU",
    "GRUCell",
    "Hardshrink",
    "Hardsigmoid",
    "Hardswish",
    "Hardtanh",
    "Heaviside",
    "HingeEmbeddingLoss",
    "HuberLoss",
    "Identity",
    "init",
    "InstanceNorm1d",
    "InstanceNorm2d",
    "InstanceNorm3d",
    "KLDivLoss",
    "L1Loss",
    "LayerNorm",
    "LeakyReLU",
    "Linear",
    "LinearCrossEntropyLoss",
    "LinearCrossEntropyOptions",
    "LocalResponseNorm",
    "LogSigmoid",
    "LogSoftmax",
    "LPPool1d",
    "LPPool2d",
    "LPPool3d",
    "LSTM",
    "LSTMCell",
    "MarginRankingLoss",
    "Maxout",
    "MaxoutLinear",
    "MaxPool1d",
    "MaxPool2d",
    "MaxPool3d",
    "Mish",
    "Module",
    "ModuleDict",
    "ModuleList",
    "MSELoss",
    "MultiheadAttention",
    "MultiLabelMarginLoss",
    "MultiLabelSoftMarginLoss",
    "MultiMarginLoss",
    "NLLLoss",
    "parallel",
    "DataParallel",
    "PairwiseDistance",
    "Parameter",
    "ParameterDict",
    "ParameterList",
    "PiecewiseLinear",
    "PixelShuffle",
    "PixelUnshuffle",
    "PoissonNLLLoss",
    "PReLU",
    "ReflectionPad1d",
    "ReflectionPad2d",
    "ReflectionPad3d",
    "ReLU",
    "ReLU6",
    "ReplicationPad1d",
    "ReplicationPad2d",
    "ReplicationPad3d",
    "Residual",
    "RMSNorm",
    "RNN",
    "RNNBase",
    "RNNCell",
    "RNNCellBase",
    "RReLU",
    "SELU",
    "Sequential",
    "Sigmoid",
    "Sign",
    "SiLU",
    "SmoothL1Loss",
    "SoftMarginLoss",
    "Softmax",
    "Softmax2d",
    "Softmin",
    "Softplus",
    "Softshrink",
    "Softsign",
    "Step",
    "Swish",
    "SyncBatchNorm",
    "Tanh",
    "Tanhshrink",
    "Threshold",
    "Transformer",
    "TransformerDecoder",
    "TransformerDecoderLayer",
    "TransformerEncoder",
    "TransformerEncoderLayer",
    "TripletMarginLoss",
    "TripletMarginWithDistanceLoss",
    "Unflatten",
    "Unfold",
    "Upsample",
    "UpsamplingBilinear2d",
    "UpsamplingNearest2d",
    "utils",
    "ZeroPad1d",
    "ZeroPad2d",
    "ZeroPad3d",
    "LazyBatchNorm1d",
    "LazyBatchNorm2d",
    "LazyBatchNorm3d",
    "LazyConv1d",
    "LazyConv2d",
    "LazyConv3d",
    "LazyConvTranspose1d",
    "LazyConvTranspose2d",
    "LazyConvTranspose3d",
    "LazyInstanceNorm1d",
    "LazyInstanceNorm2d",
    "LazyInstanceNorm3d",
    "LazyLinear",
    "UninitializedParameter",
    "MaxUnpool1d",
    "MaxUnpool2d",
    "MaxUnpool3d",
]
