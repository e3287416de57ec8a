# ruff: noqa  (written as PyTorch programs are written in the wild, not to this project's style)
# A tiny U-Net segmenting synthetic circles and squares on a noisy background, as U-Net
# repositories write it: DoubleConv blocks, MaxPool2d down, ConvTranspose2d(2, stride 2) up,
# F.interpolate when the up-sampled map and the skip differ in size (22 -> 11 -> 5 -> 10),
# torch.cat([skip, x], dim=1), BCEWithLogitsLoss + soft Dice loss, ReduceLROnPlateau on the
# validation loss, IoU from (pred > 0.5).float().
import os

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

seed = int(os.environ.get('SEED', 42))
torch.manual_seed(seed)
device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')
IMG = 22


class ShapesDataset(Dataset):
    """Images with one to three filled circles or squares (brighter than a noisy background) and
    their binary masks; drawn once, from a fixed NumPy seed."""

    def __init__(self, n, seed):
        rng = np.random.RandomState(seed)
        yy, xx = np.mgrid[0:IMG, 0:IMG]
        self.images = np.zeros((n, 1, IMG, IMG), dtype=np.float32)
        self.masks = np.zeros((n, 1, IMG, IMG), dtype=np.float32)
        for i in range(n):
            mask = np.zeros((IMG, IMG), dtype=bool)
            for _ in range(rng.randint(1, 4)):
                cy, cx = rng.randint(3, IMG - 3, size=2)
                r = rng.randint(2, 5)
                if rng.rand() < 0.5:
                    mask |= (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
                else:
                    mask |= (abs(yy - cy) <= r) & (abs(xx - cx) <= r)
            self.masks[i, 0] = mask
            self.images[i, 0] = 0.8 * mask + 0.35 * rng.randn(IMG, IMG)

    def __len__(self):
        return len(self.images)

    def __getitem__(self, idx):
        return torch.from_numpy(self.images[idx]), torch.from_numpy(self.masks[idx])


class DoubleConv(nn.Module):
    """(convolution => [BN] => ReLU) * 2"""

    def __init__(self, in_channels, out_channels, mid_channels=None):
        super().__init__()
        if not mid_channels:
            mid_channels = out_channels
        self.double_conv = nn.Sequential(
            nn.Conv2d(in_channels, mid_channels, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(mid_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(mid_channels, out_channels, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True)
        )

    def forward(self, x):
        return self.double_conv(x)


class Down(nn.Module):
    """Downscaling with maxpool then double conv"""

    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.maxpool_conv = nn.Sequential(
            nn.MaxPool2d(2),
            DoubleConv(in_channels, out_channels)
        )

    def forward(self, x):
        return self.maxpool_conv(x)


class Up(nn.Module):
    """Upscaling then double conv"""

    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.up = nn.ConvTranspose2d(in_channels, in_channels // 2, kernel_size=2, stride=2)
        self.conv = DoubleConv(in_channels, out_channels)

    def forward(self, x1, x2):
        x1 = self.up(x1)
        if x1.shape[-2:] != x2.shape[-2:]:
            x1 = F.interpolate(x1, size=x2.shape[-2:], mode='bilinear', align_corners=False)
        x = torch.cat([x2, x1], dim=1)
        return self.conv(x)


class UNet(nn.Module):
    def __init__(self, n_channels=1, n_classes=1, base=8):
        super(UNet, self).__init__()
        self.inc = DoubleConv(n_channels, base)
        self.down1 = Down(base, base * 2)
        self.down2 = Down(base * 2, base * 4)
        self.up1 = Up(base * 4, base * 2)
        self.up2 = Up(base * 2, base)
        self.outc = nn.Conv2d(base, n_classes, kernel_size=1)

    def forward(self, x):
        x1 = self.inc(x)
        x2 = self.down1(x1)
        x3 = self.down2(x2)
        x = self.up1(x3, x2)
        x = self.up2(x, x1)
        return self.outc(x)


def dice_loss(logits, target, smooth=1.0):
    probs = torch.sigmoid(logits)
    probs = probs.view(probs.size(0), -1)
    target = target.view(target.size(0), -1)
    intersection = (probs * target).sum(dim=1)
    dice = (2. * intersection + smooth) / (probs.sum(dim=1) + target.sum(dim=1) + smooth)
    return 1 - dice.mean()


def iou_score(logits, target, eps=1e-6):
    pred = (torch.sigmoid(logits) > 0.5).float()
    inter = (pred * target).sum(dim=(1, 2, 3))
    union = pred.sum(dim=(1, 2, 3)) + target.sum(dim=(1, 2, 3)) - inter
    return ((inter + eps) / (union + eps)).mean()


train_loader = DataLoader(ShapesDataset(256, seed=0), batch_size=16, shuffle=True)
val_loader = DataLoader(ShapesDataset(64, seed=1), batch_size=32, shuffle=False)

model = UNet(n_channels=1, n_classes=1).to(device)
criterion = nn.BCEWithLogitsLoss()
optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode='min', factor=0.5, patience=1)

for epoch in range(10):
    model.train()
    epoch_loss = 0.0
    for images, masks in train_loader:
        images, masks = images.to(device), masks.to(device)
        logits = model(images)
        loss = criterion(logits, masks) + dice_loss(logits, masks)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        epoch_loss += loss.item() * images.size(0)
    epoch_loss /= len(train_loader.dataset)

    model.eval()
    val_loss, val_iou = 0.0, 0.0
    with torch.no_grad():
        for images, masks in val_loader:
            images, masks = images.to(device), masks.to(device)
            logits = model(images)
            val_loss += (criterion(logits, masks) + dice_loss(logits, masks)).item() * images.size(0)
            val_iou += iou_score(logits, masks).item() * images.size(0)
    val_loss /= len(val_loader.dataset)
    val_iou /= len(val_loader.dataset)
    scheduler.step(val_loss)
    print(f"Epoch {epoch + 1}: train loss {epoch_loss:.4f}, val loss {val_loss:.4f}, "
          f"val IoU {val_iou:.4f}, lr {optimizer.param_groups[0]['lr']:.2e}")

print(f"final loss {val_loss:.6f}")
