# ruff: noqa  (written as PyTorch programs are written in the wild, not to this project's style)
# A fully-connected variational autoencoder on synthetic binary 28x28 images (filled rectangles
# and discs), the way PyTorch's examples/vae writes it: encode -> mu, logvar, the
# reparameterisation trick, BCE(sum) + KL divergence, a test pass under torch.no_grad() and
# samples decoded from torch.randn(64, 20).
import os

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

seed = int(os.environ.get('SEED', 1))
torch.manual_seed(seed)
device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
batch_size = 64
epochs = 8
log_interval = 8


def make_shapes(n, rng):
    """n binary 28x28 images, each a filled rectangle or disc of random size and place."""
    yy, xx = np.mgrid[0:28, 0:28]
    images = np.zeros((n, 1, 28, 28), dtype=np.float32)
    kinds = rng.randint(0, 2, size=n)
    for i in range(n):
        cy, cx = rng.randint(8, 20, size=2)
        if kinds[i] == 0:
            h, w = rng.randint(3, 8, size=2)
            images[i, 0] = (abs(yy - cy) <= h) & (abs(xx - cx) <= w)
        else:
            r = rng.uniform(3.0, 7.5)
            images[i, 0] = (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
    return torch.from_numpy(images), torch.from_numpy(kinds).long()


# the data are fixed (drawn with NumPy); the seed drives the model and the noise
rng = np.random.RandomState(0)
train_x, train_y = make_shapes(768, rng)
test_x, test_y = make_shapes(256, rng)
kwargs = {'num_workers': 1, 'pin_memory': True} if device.type == 'cuda' else {}
train_loader = DataLoader(TensorDataset(train_x, train_y), batch_size=batch_size, shuffle=True, **kwargs)
test_loader = DataLoader(TensorDataset(test_x, test_y), batch_size=batch_size, shuffle=False, **kwargs)


class VAE(nn.Module):
    def __init__(self):
        super(VAE, self).__init__()

        self.fc1 = nn.Linear(784, 400)
        self.fc21 = nn.Linear(400, 20)
        self.fc22 = nn.Linear(400, 20)
        self.fc3 = nn.Linear(20, 400)
        self.fc4 = nn.Linear(400, 784)

    def encode(self, x):
        h1 = F.relu(self.fc1(x))
        return self.fc21(h1), self.fc22(h1)

    def reparameterize(self, mu, logvar):
        std = torch.exp(0.5 * logvar)
        eps = torch.randn_like(std)
        return mu + eps * std

    def decode(self, z):
        h3 = F.relu(self.fc3(z))
        return torch.sigmoid(self.fc4(h3))

    def forward(self, x):
        mu, logvar = self.encode(x.view(-1, 784))
        z = self.reparameterize(mu, logvar)
        return self.decode(z), mu, logvar


model = VAE().to(device)
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)


# Reconstruction + KL divergence losses summed over all elements and batch
def loss_function(recon_x, x, mu, logvar):
    BCE = F.binary_cross_entropy(recon_x, x.view(-1, 784), reduction='sum')

    # see Appendix B from VAE paper:
    # Kingma and Welling. Auto-Encoding Variational Bayes. ICLR, 2014
    # 0.5 * sum(1 + log(sigma^2) - mu^2 - sigma^2)
    KLD = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())

    return BCE + KLD


def train(epoch):
    model.train()
    train_loss = 0
    for batch_idx, (data, _) in enumerate(train_loader):
        data = data.to(device)
        optimizer.zero_grad()
        recon_batch, mu, logvar = model(data)
        loss = loss_function(recon_batch, data, mu, logvar)
        loss.backward()
        train_loss += loss.item()
        optimizer.step()
        if batch_idx % log_interval == 0:
            print('Train Epoch: {} [{}/{} ({:.0f}%)]\tLoss: {:.6f}'.format(
                epoch, batch_idx * len(data), len(train_loader.dataset),
                100. * batch_idx / len(train_loader),
                loss.item() / len(data)))

    print('====> Epoch: {} Average loss: {:.4f}'.format(
        epoch, train_loss / len(train_loader.dataset)))


def test(epoch):
    model.eval()
    test_loss = 0
    with torch.no_grad():
        for i, (data, _) in enumerate(test_loader):
            data = data.to(device)
            recon_batch, mu, logvar = model(data)
            test_loss += loss_function(recon_batch, data, mu, logvar).item()
            if i == 0:
                n = min(data.size(0), 8)
                comparison = torch.cat([data[:n],
                                        recon_batch.view(batch_size, 1, 28, 28)[:n]])

    test_loss /= len(test_loader.dataset)
    print('====> Test set loss: {:.4f}'.format(test_loss))
    return test_loss, comparison


for epoch in range(1, epochs + 1):
    train(epoch)
    test_loss, comparison = test(epoch)
    with torch.no_grad():
        sample = torch.randn(64, 20).to(device)
        sample = model.decode(sample).cpu()
        sample = sample.view(64, 1, 28, 28)
print('sample mean intensity {:.4f} (data {:.4f})'.format(sample.mean().item(), train_x.mean().item()))
print('comparison grid', tuple(comparison.shape))
print(f"final loss {test_loss:.6f}")
