"""Reusable model builders (used by the ``chainrule`` command) and the notes' models.

``build_model(name, input_shape, out_features, **options)`` makes a model by name:
'mlp' (any input, flattened) or 'cnn' (images (C, H, W)).
"""

from __future__ import annotations

from typing import Any

from chainrule.models.cnn import cnn
from chainrule.models.mlp import mlp

MODELS = ("mlp", "cnn")


def build_model(name: str, input_shape: tuple, out_features: int, **options: Any) -> Any:
    """Build model ``name`` for examples of shape ``input_shape`` with ``out_features`` outputs.

    Options for 'mlp': hidden (list of widths), activation, dropout, batch_norm.
    Options for 'cnn': channels (list), kernel_size, dropout, batch_norm, hidden.
    """
    import math

    key = name.lower()
    if key == "mlp":
        allowed = {"hidden", "activation", "dropout", "batch_norm"}
        _check(options, allowed, key)
        opts = dict(options)
        if "activation" in opts:
            opts["activation_name"] = opts.pop("activation")
        return mlp(int(math.prod(input_shape)), out_features, **opts)
    if key == "cnn":
        if len(input_shape) != 3:
            raise ValueError(f"build_model: 'cnn' needs image inputs of shape (C, H, W), got {input_shape}; use 'mlp'")
        allowed = {"channels", "kernel_size", "dropout", "batch_norm", "hidden"}
        _check(options, allowed, key)
        c, h, w = input_shape
        return cnn(c, out_features, (h, w), **options)
    raise ValueError(f"build_model: unknown model {name!r}; available: {', '.join(MODELS)}")


def _check(options: dict, allowed: set, name: str) -> None:
    bad = sorted(set(options) - allowed)
    if bad:
        raise ValueError(f"build_model: option(s) {bad} do not apply to {name!r}; it takes {sorted(allowed)}")


__all__ = ["MODELS", "build_model", "cnn", "mlp"]

# --- the notes' models (examples engineer adds imports here) ---
from chainrule.models.language import (  # noqa: E402
    RNNLM,
    BengioLM,
    CausalConvLM,
    NeuralLM,
    batchify,
    generate,
    train_lm,
)

__all__ += ["BengioLM", "CausalConvLM", "NeuralLM", "RNNLM", "batchify", "generate", "train_lm"]

from chainrule.models.seq2seq import (  # noqa: E402
    Seq2Seq,
    Translation,
    date_vocabs,
    encode_texts,
    exact_match,
    train_seq2seq,
    translate,
)

__all__ += ["Seq2Seq", "Translation", "date_vocabs", "encode_texts", "exact_match", "train_seq2seq", "translate"]

from chainrule.models.lenet import AlexNetSmall, LayerCount, LeNet, format_layer_table, layer_table  # noqa: E402

__all__ += ["AlexNetSmall", "LayerCount", "LeNet", "format_layer_table", "layer_table"]
