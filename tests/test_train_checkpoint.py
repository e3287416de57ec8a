"""Checkpoints: exact round trips, identical resumed training, and atomic writes."""

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn, optim
from chainrule.data import RandomTranslate
from chainrule.train import ModelCheckpoint, Trainer, load_checkpoint
from chainrule.utils.data import DataLoader, Generator, TensorDataset


def _problem(seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((64, 1, 4, 4)).astype(np.float32)
    y = (X[:, 0, :2].sum((1, 2)) > 0).astype(np.int64)
    return X, y


def _run(tmp_path, stop_at=None, resume_from=None, epochs=6):
    """A run with every source of randomness: init, dropout, shuffling, augmentation, Adam + StepLR."""
    cr.manual_seed(123)
    X, y = _problem()
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 12), nn.ReLU(), nn.Dropout(0.3), nn.Linear(12, 2))
    opt = optim.Adam(model.parameters(), lr=0.01)
    sched = optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    ds = TensorDataset(X, y, transform=RandomTranslate(1, generator=Generator().manual_seed(5)))
    loader = DataLoader(ds, batch_size=16, shuffle=True, generator=Generator().manual_seed(7))
    cbs = [ModelCheckpoint(tmp_path, filename="epoch{epoch}")] if stop_at else []
    trainer = Trainer(model, nn.CrossEntropyLoss(), opt, scheduler=sched, callbacks=cbs, verbose=0)
    if resume_from is not None:
        cr.manual_seed(999)  # disturb the global generator: the checkpoint must restore it
        trainer.load_checkpoint(resume_from)
    trainer.fit(loader, epochs=stop_at or epochs)
    return trainer


def test_resumed_training_gives_identical_weights(tmp_path):
    full = _run(tmp_path, epochs=6)
    _run(tmp_path, stop_at=3)  # writes epoch1..epoch3 checkpoints, then "crashes"
    resumed = _run(tmp_path, resume_from=tmp_path / "epoch3.safetensors", epochs=6)
    assert resumed.epoch == 6 and len(resumed.history) == 6
    a, b = full.model.state_dict(), resumed.model.state_dict()
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k].detach().numpy(), b[k].detach().numpy(), err_msg=k)  # exact, not approximate
    assert full.history["loss"] == resumed.history["loss"]
    assert full.optimizer.param_groups[0]["lr"] == resumed.optimizer.param_groups[0]["lr"] == 0.01 * 0.5**3


def test_load_checkpoint_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        load_checkpoint(tmp_path / "nope.safetensors")
