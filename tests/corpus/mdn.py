# ruff: noqa  (written as PyTorch programs are written in the wild, not to this project's style)
# A mixture density network (Bishop 1994) on the classic inverse problem: the forward map
# x = y + 0.3 sin(2 pi y) + noise is easy, but predicting y from x is multi-valued, so the net
# outputs a K-component Gaussian mixture (pi logits, means, log-stds). The loss is the negative
# log-likelihood from torch.distributions.MixtureSameFamily, cross-checked against a hand-written
# logsumexp form; samples are drawn with .sample() under no_grad.
import math
import os

import torch
import torch.nn as nn
from torch.distributions import Categorical, MixtureSameFamily, Normal

seed = int(os.environ.get('SEED', 0))
torch.manual_seed(seed)
device = "cuda" if torch.cuda.is_available() else "cpu"

g = torch.Generator().manual_seed(1234)
n = 1500
y_data = torch.rand(n, 1, generator=g)
x_data = y_data + 0.3 * torch.sin(2 * math.pi * y_data) + 0.05 * torch.randn(n, 1, generator=g)
x_data, y_data = x_data.to(device), y_data.to(device)


class MDN(nn.Module):
    def __init__(self, n_hidden=32, n_gaussians=5):
        super().__init__()
        self.hidden = nn.Sequential(nn.Linear(1, n_hidden), nn.Tanh(), nn.Linear(n_hidden, n_hidden), nn.Tanh())
        self.pi = nn.Linear(n_hidden, n_gaussians)
        self.mu = nn.Linear(n_hidden, n_gaussians)
        self.log_sigma = nn.Linear(n_hidden, n_gaussians)

    def forward(self, x):
        h = self.hidden(x)
        return self.pi(h), self.mu(h), self.log_sigma(h).clamp(-7, 3)


def mdn_loss(pi_logits, mu, log_sigma, y):
    mix = Categorical(logits=pi_logits)
    comp = Normal(mu, log_sigma.exp())
    gmm = MixtureSameFamily(mix, comp)
    return -gmm.log_prob(y.squeeze(-1)).mean()


def mdn_loss_manual(pi_logits, mu, log_sigma, y):
    log_pi = torch.log_softmax(pi_logits, dim=-1)
    z = (y - mu) / log_sigma.exp()
    log_normal = -0.5 * z ** 2 - log_sigma - 0.5 * math.log(2 * math.pi)
    return -torch.logsumexp(log_pi + log_normal, dim=-1).mean()


model = MDN().to(device)
optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
batch_size = 100
epochs = 40

for epoch in range(epochs):
    perm = torch.randperm(n, device=device)
    for i in range(0, n, batch_size):
        idx = perm[i:i + batch_size]
        pi_logits, mu, log_sigma = model(x_data[idx])
        loss = mdn_loss(pi_logits, mu, log_sigma, y_data[idx])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    if epoch % 10 == 0 or epoch == epochs - 1:
        with torch.no_grad():
            out = model(x_data)
            full = mdn_loss(*out, y_data)
            manual = mdn_loss_manual(*out, y_data)
        print(f"epoch {epoch}: loss {full.item():.4f}, logsumexp gap {abs(full.item() - manual.item()):.2e}")
        assert abs(full.item() - manual.item()) < 1e-4

# draw samples of y for a grid of x and check they land near the true inverse branches
with torch.no_grad():
    x_test = torch.linspace(0.0, 1.0, 200, device=device).unsqueeze(1)
    pi_logits, mu, log_sigma = model(x_test)
    gmm = MixtureSameFamily(Categorical(logits=pi_logits), Normal(mu, log_sigma.exp()))
    samples = gmm.sample()
    print("samples", tuple(samples.shape), "mean", f"{gmm.mean.mean().item():.3f}")
    residual = (samples + 0.3 * torch.sin(2 * math.pi * samples) - x_test.squeeze(1)).abs()
    print(f"median forward residual of samples {residual.median().item():.4f}")
    out = model(x_data)
    final = mdn_loss(*out, y_data)
print(f"final loss {final.item():.6f}")
