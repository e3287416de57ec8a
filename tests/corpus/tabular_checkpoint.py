# ruff: noqa  (written as PyTorch programs are written in the wild, not to this project's style)
# Tabular binary classification with the usual scaffolding: a Dataset subclass over a NumPy
# table, random_split, a WeightedRandomSampler for the rare positive class, an MLP with
# BatchNorm1d and Dropout, BCEWithLogitsLoss(pos_weight=...), early stopping on the validation
# loss, a checkpoint dict saved to a temporary directory and loaded back before the evaluation.
import copy
import os
import tempfile

import numpy as np
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, Dataset, WeightedRandomSampler, random_split

seed = int(os.environ.get('SEED', 0))
device = torch.device("cuda" if torch.cuda.is_available() else "cpu")

# a fixed synthetic table (about 20% positives); the seed below drives the model and the sampling
rng = np.random.default_rng(0)
n_rows, n_test, n_features = 2400, 1000, 10
w_true = rng.normal(size=n_features)


def make_table(n):
    X = rng.normal(size=(n, n_features)).astype(np.float32)
    score = X @ w_true + 0.8 * X[:, 0] * X[:, 1] - 2.2 + 0.5 * rng.normal(size=n)
    return X, (score > 0).astype(np.float32)


X, y = make_table(n_rows)
X_test, y_test = make_table(n_test)


class TabularDataset(Dataset):
    def __init__(self, features, labels):
        self.features = features
        self.labels = labels

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, idx):
        x = torch.tensor(self.features[idx], dtype=torch.float32)
        label = torch.tensor(self.labels[idx], dtype=torch.float32)
        return x, label


class MLP(nn.Module):
    def __init__(self, in_dim, hidden=64, p_drop=0.2):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(in_dim, hidden),
            nn.BatchNorm1d(hidden),
            nn.ReLU(),
            nn.Dropout(p_drop),
            nn.Linear(hidden, hidden // 2),
            nn.BatchNorm1d(hidden // 2),
            nn.ReLU(),
            nn.Dropout(p_drop),
            nn.Linear(hidden // 2, 1),
        )

    def forward(self, x):
        return self.net(x).squeeze(1)


def evaluate(model, loader, criterion):
    model.eval()
    total_loss, correct, n = 0.0, 0, 0
    with torch.no_grad():
        for xb, yb in loader:
            xb, yb = xb.to(device), yb.to(device)
            logits = model(xb)
            total_loss += criterion(logits, yb).item() * xb.size(0)
            preds = (torch.sigmoid(logits) > 0.5).float()
            correct += (preds == yb).sum().item()
            n += xb.size(0)
    return total_loss / n, correct / n


torch.manual_seed(seed)
dataset = TabularDataset(X, y)
n_train = int(0.8 * len(dataset))
n_val = len(dataset) - n_train
train_ds, val_ds = random_split(dataset, [n_train, n_val], generator=torch.Generator().manual_seed(42))

train_labels = y[train_ds.indices]
class_counts = np.bincount(train_labels.astype(np.int64))
class_weights = 1.0 / class_counts
sample_weights = class_weights[train_labels.astype(np.int64)]
sampler = WeightedRandomSampler(torch.from_numpy(sample_weights).double(), num_samples=len(sample_weights), replacement=True)
train_loader = DataLoader(train_ds, batch_size=64, sampler=sampler)
val_loader = DataLoader(val_ds, batch_size=256, shuffle=False)
test_loader = DataLoader(TabularDataset(X_test, y_test), batch_size=256)

model = MLP(n_features).to(device)
# the sampler already balances the batches; pos_weight leans a little further towards recall
criterion = nn.BCEWithLogitsLoss(pos_weight=torch.tensor([1.5], device=device))
optimizer = torch.optim.Adam(model.parameters(), lr=3e-3, weight_decay=1e-4)

best_val, best_state, best_epoch = float('inf'), None, 0
patience, bad_epochs = 5, 0
ckpt_dir = tempfile.mkdtemp()
ckpt_path = os.path.join(ckpt_dir, 'best.pt')
for epoch in range(20):
    model.train()
    running = 0.0
    for xb, yb in train_loader:
        xb, yb = xb.to(device), yb.to(device)
        optimizer.zero_grad()
        loss = criterion(model(xb), yb)
        loss.backward()
        optimizer.step()
        running += loss.item() * xb.size(0)
    train_loss = running / len(train_loader.sampler)
    val_loss, val_acc = evaluate(model, val_loader, criterion)
    print(f"epoch {epoch:2d} train loss {train_loss:.4f} val loss {val_loss:.4f} val acc {val_acc:.3f}")
    if val_loss < best_val - 1e-4:
        best_val, best_epoch, bad_epochs = val_loss, epoch, 0
        best_state = copy.deepcopy(model.state_dict())
        torch.save({
            'epoch': epoch,
            'model_state_dict': model.state_dict(),
            'optimizer_state_dict': optimizer.state_dict(),
            'loss': val_loss,
        }, ckpt_path)
    else:
        bad_epochs += 1
        if bad_epochs >= patience:
            print(f"early stopping at epoch {epoch}")
            break

# restore the best weights, then check that the checkpoint on disk holds the same model
model.load_state_dict(best_state)
restored = MLP(n_features).to(device)
restored_opt = torch.optim.Adam(restored.parameters(), lr=3e-3, weight_decay=1e-4)
checkpoint = torch.load(ckpt_path, map_location=device)
restored.load_state_dict(checkpoint['model_state_dict'])
restored_opt.load_state_dict(checkpoint['optimizer_state_dict'])
assert checkpoint['epoch'] == best_epoch
for a, b in zip(model.state_dict().values(), restored.state_dict().values()):
    assert torch.equal(a, b)
val_loss, val_acc = evaluate(restored, val_loader, criterion)
assert abs(val_loss - checkpoint['loss']) < 1e-5
test_loss, test_acc = evaluate(restored, test_loader, criterion)
print(f"restored epoch {checkpoint['epoch']}: val loss {val_loss:.4f}, test loss {test_loss:.4f} test acc {test_acc:.3f}")
print(f"final loss {test_loss:.6f}")
