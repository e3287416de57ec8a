# ruff: noqa  (written as PyTorch programs are written in the wild, not to this project's style)
# A small DCGAN on synthetic 1x16x16 images (blurred blobs), as the DCGAN tutorial writes it:
# ConvTranspose2d/BatchNorm2d/ReLU/Tanh generator, Conv2d/LeakyReLU/Sigmoid discriminator,
# weights_init through netG.apply, BCELoss, Adam(betas=(0.5, 0.999)) twice, labels made with
# torch.full, fake.detach() for D's step. GAN losses are too noisy to compare across seeds, so
# the "loss" printed first and last is a fit measure: how far the statistics of images generated
# from a fixed noise batch are from the real images' (per-pixel mean and spread, and the
# distribution of pixel values).
import os
import random

import numpy as np
import torch
import torch.nn as nn
import torch.optim as optim
from torch.utils.data import DataLoader, TensorDataset

manualSeed = int(os.environ.get('SEED', 999))
random.seed(manualSeed)
torch.manual_seed(manualSeed)
device = torch.device("cuda:0" if torch.cuda.is_available() else "cpu")

batch_size = 64
image_size = 16
nc = 1      # number of channels in the training images
nz = 16     # size of the latent vector
ngf = 24    # size of feature maps in the generator
ndf = 24    # size of feature maps in the discriminator
num_epochs = 8
lr = 0.0002
beta1 = 0.5


def make_blobs(n, rng):
    """n images of one or two Gaussian blobs of random place and width, scaled to [-1, 1]."""
    yy, xx = np.mgrid[0:image_size, 0:image_size].astype(np.float32)
    images = np.zeros((n, nc, image_size, image_size), dtype=np.float32)
    for i in range(n):
        for _ in range(rng.randint(1, 3)):
            cy, cx = rng.uniform(3, image_size - 3, size=2)
            s = rng.uniform(1.5, 3.0)
            images[i, 0] += np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * s * s))
    images = np.clip(images, 0, 1)
    return torch.from_numpy(images * 2 - 1)


# the data set is fixed (drawn with NumPy); the seed drives the networks and the noise
real_images = make_blobs(512, np.random.RandomState(0))
dataloader = DataLoader(TensorDataset(real_images), batch_size=batch_size, shuffle=True, drop_last=True)


# custom weights initialization called on netG and netD
def weights_init(m):
    classname = m.__class__.__name__
    if classname.find('Conv') != -1:
        nn.init.normal_(m.weight.data, 0.0, 0.02)
    elif classname.find('BatchNorm') != -1:
        nn.init.normal_(m.weight.data, 1.0, 0.02)
        nn.init.constant_(m.bias.data, 0)


class Generator(nn.Module):
    def __init__(self):
        super(Generator, self).__init__()
        self.main = nn.Sequential(
            # input is Z, going into a convolution
            nn.ConvTranspose2d(nz, ngf * 4, 4, 1, 0, bias=False),
            nn.BatchNorm2d(ngf * 4),
            nn.ReLU(True),
            # state size. (ngf*4) x 4 x 4
            nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ngf * 2),
            nn.ReLU(True),
            # state size. (ngf*2) x 8 x 8
            nn.ConvTranspose2d(ngf * 2, nc, 4, 2, 1, bias=False),
            nn.Tanh()
            # state size. (nc) x 16 x 16
        )

    def forward(self, input):
        return self.main(input)


class Discriminator(nn.Module):
    def __init__(self):
        super(Discriminator, self).__init__()
        self.main = nn.Sequential(
            # input is (nc) x 16 x 16
            nn.Conv2d(nc, ndf, 4, 2, 1, bias=False),
            nn.LeakyReLU(0.2, inplace=True),
            # state size. (ndf) x 8 x 8
            nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ndf * 2),
            nn.LeakyReLU(0.2, inplace=True),
            # state size. (ndf*2) x 4 x 4
            nn.Conv2d(ndf * 2, 1, 4, 1, 0, bias=False),
            nn.Sigmoid()
        )

    def forward(self, input):
        return self.main(input)


netG = Generator().to(device)
netG.apply(weights_init)
netD = Discriminator().to(device)
netD.apply(weights_init)

criterion = nn.BCELoss()
fixed_noise = torch.randn(256, nz, 1, 1, device=device)
real_label = 1.
fake_label = 0.
optimizerD = optim.Adam(netD.parameters(), lr=lr, betas=(beta1, 0.999))
optimizerG = optim.Adam(netG.parameters(), lr=lr, betas=(beta1, 0.999))


def fit_loss(fake, real):
    """Distance between generated and real image statistics (0 when they match)."""
    mean_term = ((fake.mean(0) - real.mean(0)) ** 2).mean()
    std_term = ((fake.std(0) - real.std(0)) ** 2).mean()
    f_sorted, _ = torch.sort(fake.flatten())
    r_sorted, _ = torch.sort(real[:fake.size(0)].flatten())
    return (mean_term + std_term + (f_sorted - r_sorted).abs().mean()).item()


with torch.no_grad():
    fake = netG(fixed_noise).detach().cpu()
print(f"initial fit loss {fit_loss(fake, real_images):.4f}")

G_losses = []
D_losses = []
iters = 0
for epoch in range(num_epochs):
    for i, data in enumerate(dataloader, 0):
        ############################
        # (1) Update D network: maximize log(D(x)) + log(1 - D(G(z)))
        ###########################
        ## Train with all-real batch
        netD.zero_grad()
        real_cpu = data[0].to(device)
        b_size = real_cpu.size(0)
        label = torch.full((b_size,), real_label, dtype=torch.float, device=device)
        output = netD(real_cpu).view(-1)
        errD_real = criterion(output, label)
        errD_real.backward()
        D_x = output.mean().item()

        ## Train with all-fake batch
        noise = torch.randn(b_size, nz, 1, 1, device=device)
        fake = netG(noise)
        label.fill_(fake_label)
        output = netD(fake.detach()).view(-1)
        errD_fake = criterion(output, label)
        errD_fake.backward()
        D_G_z1 = output.mean().item()
        errD = errD_real + errD_fake
        optimizerD.step()

        ############################
        # (2) Update G network: maximize log(D(G(z)))
        ###########################
        netG.zero_grad()
        label.fill_(real_label)  # fake labels are real for generator cost
        output = netD(fake).view(-1)
        errG = criterion(output, label)
        errG.backward()
        D_G_z2 = output.mean().item()
        optimizerG.step()

        G_losses.append(errG.item())
        D_losses.append(errD.item())
        iters += 1

    with torch.no_grad():
        fake = netG(fixed_noise).detach().cpu()
    fit = fit_loss(fake, real_images)
    print('[%d/%d]\tfit loss %.4f\tLoss_D: %.4f\tLoss_G: %.4f\tD(x): %.4f\tD(G(z)): %.4f / %.4f'
          % (epoch, num_epochs, fit, errD.item(), errG.item(), D_x, D_G_z1, D_G_z2))

print(f"final loss {fit:.6f}")
