"""Ensembles (notes 004: "average or combine the predictions of models from different random
initialisations, different subsets of the training data (bagging), different hyper-parameters").

``Ensemble.from_builder(build, n, seed)`` makes n members, member i built right after
``cr.manual_seed(seed + i)`` so each starts from its own random initialisation; the ensemble's
output for input x is the average

    mean:  out(x) = (1/n) sum_i f_i(x)                       (regression, or logits)
    probs: out(x) = (1/n) sum_i softmax(f_i(x))              (classification: average probabilities)

``ensemble.fit(make_trainer, train_loader, val_loader, epochs)`` trains each member with its
own Trainer; ``bagging=True`` gives each member a bootstrap resample of the training set.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

import chainrule as cr
from chainrule.nn import Module, ModuleList


class Ensemble(Module):
    """Average the outputs of several models of the same output shape.

    Input: whatever the members take, e.g. (N, D).  Output: (N, K), the mean of the members'
    outputs (``average='mean'``) or of their softmax probabilities over the last axis
    (``average='probs'``; the result is then probabilities, not logits).
    """

    def __init__(self, members: Sequence[Module], average: str = "mean") -> None:
        super().__init__()
        if average not in ("mean", "probs"):
            raise ValueError(f"Ensemble: average must be 'mean' or 'probs', got {average!r}")
        if len(members) == 0:
            raise ValueError("Ensemble: needs at least one member")
        self.members = ModuleList(list(members))
        self.average = average

    @classmethod
    def from_builder(cls, build: Callable[[], Module], n: int, seed: int = 0, average: str = "mean") -> Ensemble:
        """n members from ``build()``, member i initialised after ``cr.manual_seed(seed + i)``."""
        if n < 1:
            raise ValueError(f"Ensemble.from_builder: n must be >= 1, got {n}")
        members = []
        for i in range(n):
            cr.manual_seed(seed + i)
            members.append(build())
        return cls(members, average)

    def forward(self, x: Any) -> Any:
        outs = [m(x) for m in self.members]
        if self.average == "probs":
            outs = [cr.softmax(o, -1) for o in outs]
        return cr.stack(outs).mean(0)

    def fit(
        self,
        make_trainer: Callable[[Module], Any],
        train_loader: Any,
        val_loader: Any = None,
        epochs: int = 1,
        bagging: bool = False,
        seed: int = 0,
    ) -> list:
        """Train every member with ``make_trainer(member)`` (a Trainer); returns their histories.

        With ``bagging=True`` member i sees a bootstrap sample (N draws with replacement) of the
        training set, from a generator seeded with ``seed + i``.
        """
        from chainrule.utils.data import DataLoader, Generator, RandomSampler

        histories = []
        for i, member in enumerate(self.members):
            loader = train_loader
            if bagging:
                ds = train_loader.dataset
                sampler = RandomSampler(ds, replacement=True, num_samples=len(ds),
                                        generator=Generator().manual_seed(seed + i))
                loader = DataLoader(ds, batch_size=train_loader.batch_size, sampler=sampler)
            histories.append(make_trainer(member).fit(loader, val_loader, epochs=epochs))
        return histories


def member_disagreement(ensemble: Ensemble, x: Any) -> float:
    """Fraction of examples on which the members' predicted classes are not all the same."""
    with cr.no_grad():
        preds = np.stack([np.asarray(m(x)._array).argmax(-1) for m in ensemble.members])
    return float((preds != preds[:1]).any(axis=0).mean())
