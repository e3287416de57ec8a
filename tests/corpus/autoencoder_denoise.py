# ruff: noqa  (written as PyTorch programs are written in the wild, not to this project's style)
# A convolutional denoising autoencoder, as the usual MNIST tutorials write it: strided Conv2d
# encoder, ConvTranspose2d(output_padding=1) decoder ending in Sigmoid, Gaussian noise clamped to
# [0, 1], MSELoss, Adam with a little weight decay, ExponentialLR, and PSNR on a held-out set.
# Data: synthetic 1x28x28 images of random bright rectangles and discs on a dark background.
import copy
import io
import os

import torch
import torch.nn as nn
from torch.utils.data import DataLoader, Dataset

seed = int(os.environ.get('SEED', 0))
torch.manual_seed(seed)
device = "cuda" if torch.cuda.is_available() else "cpu"


class ShapesDataset(Dataset):
    """Images of one or two filled shapes; generated once, the same for every seed."""

    def __init__(self, n, seed):
        g = torch.Generator().manual_seed(seed)
        ys, xs = torch.meshgrid(torch.arange(28.), torch.arange(28.), indexing="ij")
        images = torch.zeros(n, 1, 28, 28)
        for i in range(n):
            for _ in range(int(torch.randint(1, 3, (1,), generator=g))):
                cx, cy = (4 + 20 * torch.rand(2, generator=g)).tolist()
                r = float(3 + 5 * torch.rand(1, generator=g))
                level = float(0.5 + 0.5 * torch.rand(1, generator=g))
                if torch.rand(1, generator=g) < 0.5:
                    mask = (xs - cx) ** 2 + (ys - cy) ** 2 <= r ** 2
                else:
                    mask = ((xs - cx).abs() <= r) & ((ys - cy).abs() <= 0.7 * r)
                images[i, 0][mask] = level
        self.images = images

    def __len__(self):
        return len(self.images)

    def __getitem__(self, idx):
        return self.images[idx]


class DenoisingAutoencoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Conv2d(1, 16, 3, stride=2, padding=1),   # 16 x 14 x 14
            nn.ReLU(True),
            nn.Conv2d(16, 32, 3, stride=2, padding=1),  # 32 x 7 x 7
            nn.ReLU(True),
        )
        self.decoder = nn.Sequential(
            nn.ConvTranspose2d(32, 16, 3, stride=2, padding=1, output_padding=1),  # 16 x 14 x 14
            nn.ReLU(True),
            nn.ConvTranspose2d(16, 1, 3, stride=2, padding=1, output_padding=1),   # 1 x 28 x 28
            nn.Sigmoid(),
        )

    def forward(self, x):
        return self.decoder(self.encoder(x))


def add_noise(x, noise_factor=0.3):
    noisy = x + noise_factor * torch.randn_like(x)
    return torch.clamp(noisy, 0., 1.)


train_loader = DataLoader(ShapesDataset(512, seed=100), batch_size=32, shuffle=True)
test_loader = DataLoader(ShapesDataset(128, seed=200), batch_size=64, shuffle=False)

model = DenoisingAutoencoder().to(device)
criterion = nn.MSELoss()
optimizer = torch.optim.Adam(model.parameters(), lr=2e-3, weight_decay=1e-5)
scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=0.9)


def evaluate():
    model.eval()
    total_mse, total_psnr, n = 0.0, 0.0, 0
    torch.manual_seed(12345)  # the same noise for every evaluation
    with torch.no_grad():
        for clean in test_loader:
            clean = clean.to(device)
            output = model(add_noise(clean))
            mse = criterion(output, clean)
            per_image = ((output - clean) ** 2).mean(dim=(1, 2, 3))
            total_psnr += (10 * torch.log10(1 / per_image)).sum().item()
            total_mse += mse.item() * clean.size(0)
            n += clean.size(0)
    model.train()
    return total_mse / n, total_psnr / n


num_epochs = 6
rng_state = torch.get_rng_state()
mse0, psnr0 = evaluate()
torch.set_rng_state(rng_state)  # evaluation must not change the training stream
print(f"before training: test loss {mse0:.5f}, PSNR {psnr0:.2f} dB")
best_loss, best_state = float('inf'), None
for epoch in range(num_epochs):
    running_loss = 0.0
    for clean in train_loader:
        clean = clean.to(device)
        noisy = add_noise(clean)
        output = model(noisy)
        loss = criterion(output, clean)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        running_loss += loss.item() * clean.size(0)
    scheduler.step()
    rng_state = torch.get_rng_state()
    test_mse, test_psnr = evaluate()
    torch.set_rng_state(rng_state)
    if test_mse < best_loss:
        best_loss, best_state = test_mse, copy.deepcopy(model.state_dict())
    print(f"epoch [{epoch + 1}/{num_epochs}], train loss {running_loss / len(train_loader.dataset):.5f}, "
          f"test loss {test_mse:.5f}, PSNR {test_psnr:.2f} dB, lr {scheduler.get_last_lr()[0]:.2e}")

# keep the best weights, through a checkpoint as if written to disk and read back
buffer = io.BytesIO()
torch.save({'model_state_dict': best_state, 'optimizer_state_dict': optimizer.state_dict(),
            'epoch': num_epochs, 'loss': best_loss}, buffer)
buffer.seek(0)
checkpoint = torch.load(buffer, map_location=device)
model.load_state_dict(checkpoint['model_state_dict'])
test_mse, test_psnr = evaluate()
psnr_mean = 10 * torch.log10(torch.tensor(1.0) / test_mse)
print(f"PSNR of the mean test MSE: {psnr_mean.item():.2f} dB")
print(f"final loss {test_mse:.6f}")
