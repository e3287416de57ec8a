# ruff: noqa  (written as PyTorch programs are written in the wild, not to this project's style)
# A small CIFAR-style ResNet (BasicBlock, 1x1 projection shortcuts) trained on synthetic 3x16x16
# class-pattern images, the way CIFAR training scripts on GitHub write it: kaiming init over
# self.modules(), SGD with Nesterov momentum and weight decay, OneCycleLR stepped per batch,
# label smoothing, random flips and padded random crops on the batch, TensorDataset + DataLoader.
import os

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim
from torch.utils.data import DataLoader, TensorDataset

seed = int(os.environ.get('SEED', 0))
torch.manual_seed(seed)
device = 'cuda' if torch.cuda.is_available() else 'cpu'
num_classes = 4


def make_patterns(n, rng):
    """Class 0: horizontal stripes, 1: vertical stripes, 2: diagonal stripes, 3: checkerboard;
    random period, phase and colour, plus noise."""
    yy, xx = np.mgrid[0:16, 0:16].astype(np.float32)
    x = np.empty((n, 3, 16, 16), dtype=np.float32)
    y = rng.randint(0, num_classes, size=n)
    for i in range(n):
        period = rng.uniform(3.0, 6.0)
        phase = rng.uniform(0, 2 * np.pi)
        w = 2 * np.pi / period
        if y[i] == 0:
            pat = np.sin(w * yy + phase)
        elif y[i] == 1:
            pat = np.sin(w * xx + phase)
        elif y[i] == 2:
            pat = np.sin(w * (xx + yy) / np.sqrt(2) + phase)
        else:
            pat = np.sin(w * yy + phase) * np.sin(w * xx + phase)
        colour = rng.uniform(0.3, 1.0, size=3).astype(np.float32)
        x[i] = colour[:, None, None] * pat[None] + 0.6 * rng.randn(3, 16, 16)
    return torch.from_numpy(x), torch.from_numpy(y).long()


# the data are fixed (drawn with NumPy); the seed drives the model, the shuffling and the augmentation
rng = np.random.RandomState(0)
x_train, y_train = make_patterns(640, rng)
x_test, y_test = make_patterns(256, rng)
mean = x_train.mean(dim=(0, 2, 3), keepdim=True)
std = x_train.std(dim=(0, 2, 3), keepdim=True)
x_train, x_test = (x_train - mean) / std, (x_test - mean) / std

trainloader = DataLoader(TensorDataset(x_train, y_train), batch_size=64, shuffle=True, drop_last=True)
testloader = DataLoader(TensorDataset(x_test, y_test), batch_size=128, shuffle=False)


def conv3x3(in_planes, out_planes, stride=1):
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=False)


def conv1x1(in_planes, out_planes, stride=1):
    return nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, in_planes, planes, stride=1):
        super(BasicBlock, self).__init__()
        self.conv1 = conv3x3(in_planes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)

        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != self.expansion * planes:
            self.shortcut = nn.Sequential(
                conv1x1(in_planes, self.expansion * planes, stride),
                nn.BatchNorm2d(self.expansion * planes)
            )

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += self.shortcut(x)
        out = F.relu(out)
        return out


class ResNet(nn.Module):
    def __init__(self, block, num_blocks, num_classes=10):
        super(ResNet, self).__init__()
        self.in_planes = 16

        self.conv1 = conv3x3(3, 16)
        self.bn1 = nn.BatchNorm2d(16)
        self.layer1 = self._make_layer(block, 16, num_blocks[0], stride=1)
        self.layer2 = self._make_layer(block, 32, num_blocks[1], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(32 * block.expansion, num_classes)

        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode='fan_out', nonlinearity='relu')
            elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)

    def _make_layer(self, block, planes, num_blocks, stride):
        strides = [stride] + [1] * (num_blocks - 1)
        layers = []
        for stride in strides:
            layers.append(block(self.in_planes, planes, stride))
            self.in_planes = planes * block.expansion
        return nn.Sequential(*layers)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer1(out)
        out = self.layer2(out)
        out = self.avgpool(out)
        out = torch.flatten(out, 1)
        out = self.fc(out)
        return out


def augment(x):
    """Random horizontal flip of half the batch and a random 16x16 crop of the 2-pixel padded batch."""
    flip = torch.rand(x.size(0), device=x.device) < 0.5
    x = torch.where(flip[:, None, None, None], torch.flip(x, dims=[3]), x)
    x = F.pad(x, (2, 2, 2, 2), mode='reflect')
    i, j = torch.randint(0, 5, (2,)).tolist()
    return x[:, :, i:i + 16, j:j + 16]


net = ResNet(BasicBlock, [1, 1], num_classes=num_classes).to(device)
epochs = 6
criterion = nn.CrossEntropyLoss(label_smoothing=0.1)
optimizer = optim.SGD(net.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4)
scheduler = optim.lr_scheduler.OneCycleLR(optimizer, max_lr=0.1, epochs=epochs,
                                          steps_per_epoch=len(trainloader))


def train(epoch):
    net.train()
    train_loss = 0
    correct = 0
    total = 0
    for batch_idx, (inputs, targets) in enumerate(trainloader):
        inputs, targets = inputs.to(device), targets.to(device)
        inputs = augment(inputs)
        optimizer.zero_grad()
        outputs = net(inputs)
        loss = criterion(outputs, targets)
        loss.backward()
        optimizer.step()
        scheduler.step()

        train_loss += loss.item()
        _, predicted = outputs.max(1)
        total += targets.size(0)
        correct += predicted.eq(targets).sum().item()
    print('Epoch: %d | Loss: %.3f | Acc: %.3f%% (%d/%d) | lr %.4f'
          % (epoch, train_loss / (batch_idx + 1), 100. * correct / total, correct, total,
             scheduler.get_last_lr()[0]))


def test(epoch):
    net.eval()
    test_loss = 0
    correct = 0
    total = 0
    with torch.no_grad():
        for batch_idx, (inputs, targets) in enumerate(testloader):
            inputs, targets = inputs.to(device), targets.to(device)
            outputs = net(inputs)
            loss = criterion(outputs, targets)

            test_loss += loss.item()
            _, predicted = outputs.max(1)
            total += targets.size(0)
            correct += predicted.eq(targets).sum().item()
    test_loss /= len(testloader)
    print('  test loss: %.3f | Acc: %.3f%% (%d/%d)' % (test_loss, 100. * correct / total, correct, total))
    return test_loss


for epoch in range(epochs):
    train(epoch)
    test_loss = test(epoch)

print(f"final loss {test_loss:.6f}")
