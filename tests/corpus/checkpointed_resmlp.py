# ruff: noqa  (written as PyTorch programs are written in the wild, not to this project's style)
# A deep residual MLP trained with activation checkpointing, the way memory-hungry repos write
# it: each pre-norm block (LayerNorm -> weight-normed Linear -> SiLU -> Linear) runs under
# torch.utils.checkpoint.checkpoint(block, x, use_reentrant=False), gradients are accumulated
# over micro-batches, clipped with clip_grad_norm_(error_if_nonfinite=True), and the learning
# rate follows CosineAnnealingWarmRestarts stepped with fractional epochs.
# Data: synthetic regression, y = a smooth nonlinear function of 16 inputs plus noise.
import os

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.parametrizations import spectral_norm, weight_norm
from torch.utils.checkpoint import checkpoint
from torch.utils.data import DataLoader, TensorDataset

seed = int(os.environ.get('SEED', 0))
torch.manual_seed(seed)
device = "cuda" if torch.cuda.is_available() else "cpu"

g = torch.Generator().manual_seed(42)
n_train, n_val, d_in = 2048, 1024, 16
# a fixed teacher, so the task is equally hard whatever stream draws the inputs
W_true = torch.cos(1.7 * torch.arange(d_in * 4.0)).reshape(d_in, 4) * (2.0 / d_in) ** 0.5
X_all = torch.randn(n_train + n_val, d_in, generator=g)
h = X_all @ W_true
y_all = (torch.sin(2 * h[:, 0]) + h[:, 1] * h[:, 2] + 0.5 * torch.tanh(3 * h[:, 3])).unsqueeze(1)
y_all = y_all + 0.05 * torch.randn(y_all.shape, generator=g)
train_ds = TensorDataset(X_all[:n_train], y_all[:n_train])
X_val, y_val = X_all[n_train:].to(device), y_all[n_train:].to(device)


class ResidualBlock(nn.Module):
    def __init__(self, dim, expansion=2, dropout=0.0):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.fc1 = weight_norm(nn.Linear(dim, dim * expansion))
        self.act = nn.SiLU()
        self.fc2 = nn.Linear(dim * expansion, dim)
        self.drop = nn.Dropout(dropout)

    def forward(self, x):
        return x + self.drop(self.fc2(self.act(self.fc1(self.norm(x)))))


class ResMLP(nn.Module):
    def __init__(self, d_in, dim=64, depth=6, use_checkpoint=True):
        super().__init__()
        self.stem = spectral_norm(nn.Linear(d_in, dim))
        self.blocks = nn.ModuleList([ResidualBlock(dim) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, 1)
        self.use_checkpoint = use_checkpoint

    def forward(self, x):
        x = self.stem(x)
        for block in self.blocks:
            if self.use_checkpoint and self.training:
                x = checkpoint(block, x, use_reentrant=False)
            else:
                x = block(x)
        return self.head(self.norm(x))


model = ResMLP(d_in).to(device)
optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-4)
loader = DataLoader(train_ds, batch_size=256, shuffle=True, drop_last=True)
scheduler = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(optimizer, T_0=4, T_mult=2, eta_min=1e-5)
accum_steps = 4
epochs = 12


@torch.no_grad()
def evaluate():
    model.eval()
    loss = F.mse_loss(model(X_val), y_val).item()
    model.train()
    return loss


# checkpointing must give the same gradients as the plain forward (one block: the spectral-norm
# stem runs a power iteration on every training forward, so two whole-model passes differ)
block = model.blocks[0]
xb = torch.randn(32, 64, device=device, requires_grad=True)
checkpoint(block, xb, use_reentrant=False).pow(2).sum().backward()
ckpt_grads = [xb.grad.clone()] + [p.grad.clone() for p in block.parameters()]
xb.grad = None
block.zero_grad(set_to_none=True)
block(xb).pow(2).sum().backward()
plain_grads = [xb.grad] + [p.grad for p in block.parameters()]
gap = max((a - b).abs().max().item() for a, b in zip(ckpt_grads, plain_grads))
print(f"checkpoint gradient gap {gap:.2e}")
assert gap < 1e-4
optimizer.zero_grad(set_to_none=True)

print(f"epoch 0: val loss {evaluate():.5f}")
iters = len(loader)
for epoch in range(epochs):
    model.train()
    running = 0.0
    optimizer.zero_grad(set_to_none=True)
    for i, (xb, yb) in enumerate(loader):
        xb, yb = xb.to(device), yb.to(device)
        micro_x, micro_y = xb.chunk(accum_steps), yb.chunk(accum_steps)
        for mx, my in zip(micro_x, micro_y):
            loss = F.mse_loss(model(mx), my) / accum_steps
            loss.backward()
            running += loss.item()
        total_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0, error_if_nonfinite=True)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        scheduler.step(epoch + i / iters)
    if epoch % 3 == 2:
        print(f"epoch {epoch + 1}: train loss {running / iters:.5f}, val loss {evaluate():.5f}, "
              f"lr {scheduler.get_last_lr()[0]:.2e}, grad norm {float(total_norm):.3f}")

# a non-finite gradient must be refused, not silently clipped
model.head.weight.grad = torch.full_like(model.head.weight, float('nan'))
try:
    torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0, error_if_nonfinite=True)
    raise AssertionError("clip_grad_norm_ accepted a NaN gradient")
except RuntimeError as e:
    print("non-finite norm refused:", str(e).split('.')[0])
optimizer.zero_grad(set_to_none=True)
print(f"final loss {evaluate():.6f}")
