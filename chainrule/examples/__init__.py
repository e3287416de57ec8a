"""The lecture notes' models as runnable examples.

Each module has ``main(argv=None)`` and runs as ``python -m chainrule.examples.NAME``
(or ``chainrule example NAME``).  ``EXAMPLES`` maps each name to what it shows.
"""

EXAMPLES: dict[str, str] = {
    "linear_models": "linear regression (direct vs gradient descent), polynomial degree by validation, "
    "logistic and softmax regression with the softmax Jacobian",
    "xor": "the notes' hand-built ReLU XOR net, the same net learned, and the feature map [x1, x2, x1 x2]",
    "tabular": "an MLP on a Heart-shaped table (numeric + categorical columns, Yes/No target) vs logistic regression",
    "digits_cnn": "LeNet- and small AlexNet-style CNNs on the 8x8 digits, per-layer parameter/connection counts",
    "language_models": "n-gram, Bengio, RNN/LSTM/GRU and causal dilated-conv language models in one perplexity table",
    "glove": "GloVe embeddings on planted word groups, nearest neighbours by cosine similarity",
    "long_range": "IRNN vs tanh RNN vs LSTM on the adding problem, with gradient norms through time",
    "seq2seq": "GRU encoder-decoder with additive attention on date-to-ISO translation, greedy and beam search",
    "regularization": "dropout, weight decay, early stopping, batch norm on/off, and double descent",
}

__all__ = ["EXAMPLES"]
