# ruff: noqa  (written as PyTorch programs are written in the wild, not to this project's style)
# WGAN-GP (Gulrajani et al.) on a 2-D ring of eight Gaussians, as the toy-data WGAN-GP scripts
# write it: MLP critic and generator, the gradient penalty through torch.autograd.grad with
# create_graph=True on random interpolates between real and fake points, n_critic critic steps
# per generator step, Adam(betas=(0.5, 0.9)). Critic losses are not comparable across seeds, so
# the "loss" printed is a sliced Wasserstein distance between samples from a fixed noise batch
# and a fixed real batch (random projections fixed with NumPy).
import math
import os

import numpy as np
import torch
import torch.nn as nn
import torch.optim as optim

seed = int(os.environ.get("SEED", 0))
torch.manual_seed(seed)
np.random.seed(seed)
device = "cuda" if torch.cuda.is_available() else "cpu"

DIM = 64
BATCH_SIZE = 128
CRITIC_ITERS = 5
LAMBDA = 0.1   # small, as in the toy-data script (the ring is only a few units wide)
ITERS = 150


def ring_of_gaussians(n, rng):
    centers = [(math.cos(2 * math.pi * k / 8), math.sin(2 * math.pi * k / 8)) for k in range(8)]
    centers = 2.0 * np.array(centers, dtype=np.float32)
    idx = rng.randint(0, 8, size=n)
    pts = centers[idx] + 0.05 * rng.randn(n, 2).astype(np.float32)
    return torch.from_numpy(pts / 1.414)


class Generator(nn.Module):
    def __init__(self):
        super(Generator, self).__init__()
        self.main = nn.Sequential(
            nn.Linear(2, DIM), nn.ReLU(True),
            nn.Linear(DIM, DIM), nn.ReLU(True),
            nn.Linear(DIM, DIM), nn.ReLU(True),
            nn.Linear(DIM, 2),
        )

    def forward(self, noise):
        return self.main(noise)


class Critic(nn.Module):
    def __init__(self):
        super(Critic, self).__init__()
        self.main = nn.Sequential(
            nn.Linear(2, DIM), nn.ReLU(True),
            nn.Linear(DIM, DIM), nn.ReLU(True),
            nn.Linear(DIM, DIM), nn.ReLU(True),
            nn.Linear(DIM, 1),
        )

    def forward(self, inputs):
        return self.main(inputs).view(-1)


def calc_gradient_penalty(netD, real_data, fake_data):
    b = real_data.size(0)
    alpha = torch.rand(b, 1, device=device)
    alpha = alpha.expand(real_data.size())
    interpolates = alpha * real_data + ((1 - alpha) * fake_data)
    interpolates = interpolates.to(device).requires_grad_(True)
    disc_interpolates = netD(interpolates)
    gradients = torch.autograd.grad(outputs=disc_interpolates, inputs=interpolates,
                                    grad_outputs=torch.ones_like(disc_interpolates),
                                    create_graph=True, retain_graph=True, only_inputs=True)[0]
    gradient_penalty = ((gradients.norm(2, dim=1) - 1) ** 2).mean() * LAMBDA
    return gradient_penalty


# fixed evaluation batches and projections (independent of the seed)
eval_rng = np.random.RandomState(1234)
real_eval = ring_of_gaussians(512, eval_rng).to(device)
fixed_noise = torch.from_numpy(eval_rng.randn(512, 2).astype(np.float32)).to(device)
proj = eval_rng.randn(2, 32).astype(np.float32)
proj = torch.from_numpy(proj / np.linalg.norm(proj, axis=0, keepdims=True)).to(device)


def sliced_distance(fake, real):
    a, _ = torch.sort(fake @ proj, dim=0)
    b, _ = torch.sort(real @ proj, dim=0)
    return (a - b).abs().mean().item()


netG = Generator().to(device)
netD = Critic().to(device)
optimizerD = optim.Adam(netD.parameters(), lr=5e-4, betas=(0.5, 0.9))
optimizerG = optim.Adam(netG.parameters(), lr=5e-4, betas=(0.5, 0.9))
data_rng = np.random.RandomState(seed)

with torch.no_grad():
    print(f"initial sliced loss {sliced_distance(netG(fixed_noise), real_eval):.4f}")

for iteration in range(ITERS):
    ############################
    # (1) Update D network
    ###########################
    for p in netD.parameters():
        p.requires_grad = True
    for iter_d in range(CRITIC_ITERS):
        real_data = ring_of_gaussians(BATCH_SIZE, data_rng).to(device)
        netD.zero_grad()
        D_real = netD(real_data).mean()
        noise = torch.randn(BATCH_SIZE, 2, device=device)
        with torch.no_grad():
            fake = netG(noise)
        D_fake = netD(fake).mean()
        gradient_penalty = calc_gradient_penalty(netD, real_data, fake)
        D_cost = D_fake - D_real + gradient_penalty
        Wasserstein_D = D_real - D_fake
        D_cost.backward()
        optimizerD.step()

    ############################
    # (2) Update G network
    ###########################
    for p in netD.parameters():
        p.requires_grad = False  # to avoid computation
    netG.zero_grad()
    noise = torch.randn(BATCH_SIZE, 2, device=device)
    fake = netG(noise)
    G_cost = -netD(fake).mean()
    G_cost.backward()
    optimizerG.step()

    if iteration % 50 == 49:
        with torch.no_grad():
            dist = sliced_distance(netG(fixed_noise), real_eval)
        print(f"iter {iteration + 1}: sliced loss {dist:.4f}  D_cost {D_cost.item():.4f}  "
              f"G_cost {G_cost.item():.4f}  W_D {Wasserstein_D.item():.4f}")

with torch.no_grad():
    final = sliced_distance(netG(fixed_noise), real_eval)
print(f"final loss {final:.6f}")
