# ruff: noqa  (written as PyTorch programs are written in the wild, not to this project's style)
# DP-SGD with per-sample gradients from torch.func, as the functorch "per-sample-gradients"
# tutorial and Opacus-style hand-rolled loops write it: functional_call over detached params,
# grad + vmap(in_dims=(None, None, 0, 0)), per-sample L2 clipping, Gaussian noise, averaged
# gradients written into p.grad and an SGD step.
# Data: synthetic 2-D spirals (3 classes), made in the program.
import math
import os

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.func import functional_call, grad, vmap

seed = int(os.environ.get('SEED', 0))
torch.manual_seed(seed)
device = "cuda" if torch.cuda.is_available() else "cpu"


def make_spirals(n_per_class, n_classes=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    xs, ys = [], []
    for c in range(n_classes):
        r = torch.linspace(0.1, 1.0, n_per_class)
        t = torch.linspace(c * 4.0, (c + 1) * 4.0, n_per_class) + 0.2 * torch.randn(n_per_class, generator=g)
        xs.append(torch.stack([r * torch.sin(t), r * torch.cos(t)], dim=1))
        ys.append(torch.full((n_per_class,), c, dtype=torch.long))
    return torch.cat(xs), torch.cat(ys)


X, Y = make_spirals(200, seed=7)
X, Y = X.to(device), Y.to(device)


class MLP(nn.Module):
    def __init__(self, hidden=64, n_classes=3):
        super().__init__()
        self.fc1 = nn.Linear(2, hidden)
        self.fc2 = nn.Linear(hidden, hidden)
        self.fc3 = nn.Linear(hidden, n_classes)

    def forward(self, x):
        x = torch.tanh(self.fc1(x))
        x = torch.tanh(self.fc2(x))
        return self.fc3(x)


model = MLP().to(device)
optimizer = torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.9)


def compute_loss(params, buffers, sample, target):
    batch = sample.unsqueeze(0)
    targets = target.unsqueeze(0)
    predictions = functional_call(model, (params, buffers), (batch,))
    return F.cross_entropy(predictions, targets)


ft_compute_grad = grad(compute_loss)
ft_compute_sample_grad = vmap(ft_compute_grad, in_dims=(None, None, 0, 0))

max_grad_norm = 1.0
noise_multiplier = 0.3
batch_size = 64
epochs = 12


def full_loss():
    with torch.no_grad():
        logits = model(X)
        return F.cross_entropy(logits, Y).item(), (logits.argmax(1) == Y).float().mean().item()


loss0, acc0 = full_loss()
print(f"epoch 0: loss {loss0:.4f}, acc {acc0:.3f}")
for epoch in range(1, epochs + 1):
    perm = torch.randperm(X.size(0), device=device)
    for i in range(0, X.size(0), batch_size):
        idx = perm[i:i + batch_size]
        data, target = X[idx], Y[idx]
        params = {k: v.detach() for k, v in model.named_parameters()}
        buffers = {k: v.detach() for k, v in model.named_buffers()}
        per_sample_grads = ft_compute_sample_grad(params, buffers, data, target)

        # clip each sample's whole gradient to L2 norm max_grad_norm
        norms = torch.stack([g.reshape(g.shape[0], -1).norm(2, dim=1) for g in per_sample_grads.values()], dim=1).norm(2, dim=1)
        clip_factor = torch.clamp(max_grad_norm / (norms + 1e-6), max=1.0)
        n = data.size(0)
        for name, p in model.named_parameters():
            g = per_sample_grads[name]
            clipped = (g * clip_factor.view(-1, *([1] * (g.dim() - 1)))).sum(dim=0)
            noise = torch.normal(mean=0.0, std=noise_multiplier * max_grad_norm, size=p.shape, device=device)
            p.grad = (clipped + noise) / n
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    if epoch % 3 == 0:
        loss, acc = full_loss()
        print(f"epoch {epoch}: loss {loss:.4f}, acc {acc:.3f}, mean norm {norms.mean().item():.3f}")

# sanity check against the ordinary batched gradient of one sample
params = {k: v.detach() for k, v in model.named_parameters()}
sample_grads = ft_compute_sample_grad(params, {}, X[:4], Y[:4])
model.zero_grad()
F.cross_entropy(model(X[:1]), Y[:1]).backward()
gap = max((sample_grads[k][0] - p.grad).abs().max().item() for k, p in model.named_parameters())
print(f"per-sample vs autograd gap {gap:.2e}")
assert gap < 1e-4
noise_like = torch.randn_like(model.fc1.weight)
print(f"noise std check {noise_like.std().item():.2f}")
loss, acc = full_loss()
print(f"final loss {loss:.6f}")
