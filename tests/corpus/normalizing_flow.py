# ruff: noqa  (written as PyTorch programs are written in the wild, not to this project's style)
# RealNVP (Dinh et al.) on 2-D two-moons data made with NumPy, in the way the flow tutorials
# write it: affine coupling layers with alternating binary masks registered as buffers, scale
# nets ending in tanh, log-determinants summed over the layers, a standard normal base from
# torch.distributions, the negative log-likelihood as the loss, and sampling through the inverse
# under no_grad. The loss printed is the NLL on a fixed held-out set.
import math
import os

import numpy as np
import torch
import torch.nn as nn
from torch import distributions
from torch.utils.data import DataLoader, TensorDataset

seed = int(os.environ.get("SEED", 0))
torch.manual_seed(seed)
device = "cuda" if torch.cuda.is_available() else "cpu"


def make_moons(n, noise=0.08, rng=None):
    rng = rng or np.random
    n_out = n // 2
    n_in = n - n_out
    outer = np.stack([np.cos(np.linspace(0, math.pi, n_out)), np.sin(np.linspace(0, math.pi, n_out))], 1)
    inner = np.stack([1 - np.cos(np.linspace(0, math.pi, n_in)), 1 - np.sin(np.linspace(0, math.pi, n_in)) - 0.5], 1)
    X = np.concatenate([outer, inner], 0) + noise * rng.randn(n, 2)
    X = (X - np.array([0.5, 0.25])) / np.array([0.87, 0.5])  # roughly standardised
    return X.astype(np.float32)


rng = np.random.RandomState(0)
train_x = torch.from_numpy(make_moons(2048, rng=rng))
test_x = torch.from_numpy(make_moons(1024, rng=rng)).to(device)
loader = DataLoader(TensorDataset(train_x), batch_size=128, shuffle=True)


class CouplingLayer(nn.Module):
    def __init__(self, mask, hidden=64):
        super().__init__()
        self.register_buffer("mask", mask)
        self.s = nn.Sequential(nn.Linear(2, hidden), nn.LeakyReLU(), nn.Linear(hidden, hidden),
                               nn.LeakyReLU(), nn.Linear(hidden, 2), nn.Tanh())
        self.t = nn.Sequential(nn.Linear(2, hidden), nn.LeakyReLU(), nn.Linear(hidden, hidden),
                               nn.LeakyReLU(), nn.Linear(hidden, 2))

    def forward(self, x):
        # x -> z: the masked half passes through, the other half is scaled and shifted
        x_masked = x * self.mask
        s = self.s(x_masked) * (1 - self.mask)
        t = self.t(x_masked) * (1 - self.mask)
        z = x_masked + (1 - self.mask) * (x * torch.exp(s) + t)
        log_det = s.sum(dim=1)
        return z, log_det

    def inverse(self, z):
        z_masked = z * self.mask
        s = self.s(z_masked) * (1 - self.mask)
        t = self.t(z_masked) * (1 - self.mask)
        x = z_masked + (1 - self.mask) * (z - t) * torch.exp(-s)
        return x


class RealNVP(nn.Module):
    def __init__(self, n_layers=6):
        super().__init__()
        masks = [torch.tensor([1.0, 0.0]) if i % 2 == 0 else torch.tensor([0.0, 1.0]) for i in range(n_layers)]
        self.layers = nn.ModuleList([CouplingLayer(m) for m in masks])
        self.base = distributions.MultivariateNormal(torch.zeros(2, device=device), torch.eye(2, device=device))

    def forward(self, x):
        log_det_total = torch.zeros(x.shape[0], device=x.device)
        for layer in self.layers:
            x, log_det = layer(x)
            log_det_total = log_det_total + log_det
        return x, log_det_total

    def log_prob(self, x):
        z, logdet = self(x)
        return self.base.log_prob(z) + logdet

    def sample(self, n):
        z = self.base.sample((n,))
        for layer in reversed(self.layers):
            z = layer.inverse(z)
        return z


model = RealNVP().to(device)
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

with torch.no_grad():
    print(f"initial test loss {-model.log_prob(test_x).mean().item():.4f}")

for epoch in range(12):
    model.train()
    total = 0.0
    for (x,) in loader:
        x = x.to(device)
        z, logdet = model(x)
        loss = -(model.base.log_prob(z) + logdet).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        total += loss.item() * x.size(0)
    if epoch % 3 == 2:
        model.eval()
        with torch.no_grad():
            test_loss = -model.log_prob(test_x).mean().item()
            # the inverse must undo the forward pass
            z, _ = model(test_x[:8])
            x_rec = z
            for layer in reversed(model.layers):
                x_rec = layer.inverse(x_rec)
            rec_err = (x_rec - test_x[:8]).abs().max().item()
        print(f"epoch {epoch}: train loss {total / len(train_x):.4f}  test loss {test_loss:.4f}")
        print(f"  max inverse error {rec_err:.2e}")

model.eval()
with torch.no_grad():
    samples = model.sample(1000)
    # a sanity statistic of the samples: their mean should be near the data's
    print("sample mean", samples.mean(0).cpu().numpy().round(2), "data mean", test_x.mean(0).cpu().numpy().round(2))
    final = -model.log_prob(test_x).mean().item()
print(f"final loss {final:.6f}")
