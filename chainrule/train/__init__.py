"""Training: the Trainer loop, callbacks, checkpoints, metrics, diagnostics, the NTK, search and ensembles."""

from chainrule.train.callbacks import (
    Callback,
    EarlyStopping,
    HistoryLogger,
    LambdaCallback,
    ModelCheckpoint,
)
from chainrule.train.checkpoint import load_checkpoint, save_checkpoint
from chainrule.train.diagnostics import (
    ActivationMonitor,
    DiagnosticWarning,
    GradientMonitor,
    activation_statistics,
)
from chainrule.train.metrics import (
    Accuracy,
    InOriginalUnits,
    MeanAbsoluteError,
    MeanSquaredError,
    Metric,
    R2Score,
    accuracy,
    confusion_matrix,
    mse,
    r2_score,
)
from chainrule.train.ntk import empirical_ntk, jacobian_wrt_parameters
from chainrule.train.search import LogUniform, SearchResult, Uniform, grid_search, log_grid, random_search
from chainrule.train.trainer import History, Trainer

__all__ = [
    "Accuracy",
    "ActivationMonitor",
    "Callback",
    "DiagnosticWarning",
    "EarlyStopping",
    "GradientMonitor",
    "History",
    "HistoryLogger",
    "LambdaCallback",
    "LogUniform",
    "InOriginalUnits",
    "MeanAbsoluteError",
    "MeanSquaredError",
    "Metric",
    "ModelCheckpoint",
    "R2Score",
    "SearchResult",
    "Trainer",
    "Uniform",
    "accuracy",
    "activation_statistics",
    "confusion_matrix",
    "empirical_ntk",
    "grid_search",
    "jacobian_wrt_parameters",
    "load_checkpoint",
    "log_grid",
    "mse",
    "r2_score",
    "random_search",
    "save_checkpoint",
]
