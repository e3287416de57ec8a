# ruff: noqa  (written as PyTorch programs are written in the wild, not to this project's style)
# Multi-task learning with a shared trunk and two heads (classification + regression) returning
# a dict, the two losses weighted by learned homoscedastic uncertainty (Kendall et al.: a log
# variance per task), gradient accumulation over micro-batches, clip_grad_value_, and a trunk
# that is frozen for the first epochs (heads warm up on the pretrained features) and then
# unfrozen, its parameters joining the optimizer through add_param_group.
import os

import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset, random_split

seed = int(os.environ.get('SEED', 0))
torch.manual_seed(seed)
device = "cuda" if torch.cuda.is_available() else "cpu"

# synthetic data (fixed across seeds): a class from the sign pattern of two projections,
# and a smooth regression target with a few outliers
g = torch.Generator().manual_seed(7)
n, d = 1536, 16
X = torch.randn(n, d, generator=g)
W1 = torch.randn(d, 2, generator=g) / d ** 0.5
proj = X @ W1
y_cls = (proj[:, 0] > 0).long() * 2 + (proj[:, 1] > 0).long()
y_reg = torch.sin(proj[:, 0]) + 0.5 * proj[:, 1] ** 2 + 0.1 * torch.randn(n, generator=g)
outliers = torch.rand(n, generator=g) < 0.03
y_reg[outliers] += 5.0 * torch.randn(int(outliers.sum()), generator=g)
dataset = TensorDataset(X, y_cls, y_reg.unsqueeze(1))
train_set, val_set = random_split(dataset, [1280, 256], generator=torch.Generator().manual_seed(0))


class MultiTaskNet(nn.Module):
    def __init__(self, in_dim, hidden=64, n_classes=4):
        super().__init__()
        self.trunk = nn.Sequential(
            nn.Linear(in_dim, hidden), nn.LayerNorm(hidden), nn.SiLU(),
            nn.Linear(hidden, hidden), nn.SiLU(),
        )
        self.heads = nn.ModuleDict({
            "logits": nn.Sequential(nn.Linear(hidden, 32), nn.ReLU(), nn.Linear(32, n_classes)),
            "reg": nn.Sequential(nn.Linear(hidden, 32), nn.ReLU(), nn.Linear(32, 1)),
        })

    def forward(self, x):
        h = self.trunk(x)
        return {name: head(h) for name, head in self.heads.items()}


class UncertaintyWeighting(nn.Module):
    """L = sum_i exp(-s_i) * L_i + s_i with s_i = log sigma_i^2 learned."""

    def __init__(self, n_tasks=2):
        super().__init__()
        self.log_vars = nn.Parameter(torch.zeros(n_tasks))

    def forward(self, losses):
        total = 0
        for i, loss in enumerate(losses):
            precision = torch.exp(-self.log_vars[i])
            total = total + precision * loss + self.log_vars[i]
        return total


model = MultiTaskNet(d).to(device)
weighting = UncertaintyWeighting(2).to(device)
cls_criterion = nn.CrossEntropyLoss()
reg_criterion = nn.SmoothL1Loss(beta=1.0)
val_reg_criterion = nn.HuberLoss(delta=1.0)

# a "pretrained" trunk: frozen at first, only the heads and the task weights train
model.trunk.requires_grad_(False)
optimizer = torch.optim.Adam([
    {"params": model.heads.parameters()},
    {"params": weighting.parameters(), "lr": 1e-2},
], lr=3e-3)

micro_batch = 16
accum_steps = 4
train_loader = DataLoader(train_set, batch_size=micro_batch, shuffle=True)
val_loader = DataLoader(val_set, batch_size=128)
freeze_epochs = 2
epochs = 6


def evaluate():
    model.eval()
    totals = {"cls": 0.0, "reg": 0.0}
    correct, count = 0, 0
    with torch.no_grad():
        for xb, yc, yr in val_loader:
            xb, yc, yr = xb.to(device), yc.to(device), yr.to(device)
            out = model(xb)
            totals["cls"] += cls_criterion(out["logits"], yc).item() * len(xb)
            totals["reg"] += val_reg_criterion(out["reg"], yr).item() * len(xb)
            correct += (out["logits"].argmax(1) == yc).sum().item()
            count += len(xb)
    model.train()
    return totals["cls"] / count, totals["reg"] / count, correct / count


def task_grad_norms(xb, yc, yr):
    """Each task's gradient norm over the trainable parameters (a task's loss does not reach the
    other task's head: materialize_grads gives zeros there instead of None)."""
    params = [p for p in model.parameters() if p.requires_grad]
    out = model(xb)
    task_losses = [cls_criterion(out["logits"], yc), reg_criterion(out["reg"], yr)]
    norms = []
    for loss in task_losses:
        grads = torch.autograd.grad(loss, params, retain_graph=True, materialize_grads=True)
        norms.append(torch.sqrt(sum((g ** 2).sum() for g in grads)).item())
    return norms


probe = next(iter(val_loader))
c, r, a = evaluate()
print(f"initial val loss {c + r:.4f} (cls {c:.4f}, reg {r:.4f}, acc {a:.3f})")
for epoch in range(epochs):
    if epoch == freeze_epochs:
        for p in model.trunk.parameters():
            p.requires_grad_(True)
        optimizer.add_param_group({"params": model.trunk.parameters(), "lr": 1e-3})
        print(f"epoch {epoch}: trunk unfrozen, "
              f"{sum(p.numel() for p in model.parameters() if p.requires_grad)} trainable parameters")
    model.zero_grad(set_to_none=True)
    weighting.zero_grad(set_to_none=True)
    running = 0.0
    for i, (xb, yc, yr) in enumerate(train_loader):
        xb, yc, yr = xb.to(device), yc.to(device), yr.to(device)
        out = model(xb)
        losses = [cls_criterion(out["logits"], yc), reg_criterion(out["reg"], yr)]
        loss = weighting(losses)
        (loss / accum_steps).backward()
        running += loss.item()
        if (i + 1) % accum_steps == 0 or (i + 1) == len(train_loader):
            torch.nn.utils.clip_grad_value_(model.parameters(), clip_value=1.0)
            optimizer.step()
            model.zero_grad(set_to_none=True)
            weighting.zero_grad(set_to_none=True)
    c, r, a = evaluate()
    sig = torch.exp(weighting.log_vars.detach()).tolist()
    gn = task_grad_norms(*[t.to(device) for t in probe])
    print(f"epoch {epoch}: train {running / len(train_loader):.4f}, val loss {c + r:.4f} "
          f"(cls {c:.4f}, reg {r:.4f}, acc {a:.3f}), sigma^2 {sig[0]:.3f} {sig[1]:.3f}, "
          f"grad norms {gn[0]:.3f} {gn[1]:.3f}")

print(f"final loss {c + r:.6f}")
