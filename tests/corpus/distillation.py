# ruff: noqa  (written as PyTorch programs are written in the wild, not to this project's style)
# Knowledge distillation (Hinton et al.): a wide teacher MLP is trained briefly on a synthetic
# multi-class problem, then a small student learns from the teacher's softened outputs
# (KL divergence at temperature T, scaled by T^2) blended with the usual cross-entropy.
import os

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

seed = int(os.environ.get('SEED', 0))
device = "cuda" if torch.cuda.is_available() else "cpu"

# a fixed data set: points around 6 class centres in 12 dimensions, pushed through a nonlinearity
rng = np.random.RandomState(0)
num_classes, in_dim = 6, 12
centres = rng.randn(num_classes, in_dim) * 1.2


def make_split(n):
    labels = rng.randint(0, num_classes, n)
    x = centres[labels] + rng.randn(n, in_dim) * 1.0
    x = np.tanh(x) + 0.1 * x ** 2
    return torch.tensor(x, dtype=torch.float32), torch.tensor(labels, dtype=torch.long)


x_train, y_train = make_split(3000)
x_test, y_test = make_split(1000)
torch.manual_seed(seed)
train_loader = DataLoader(TensorDataset(x_train, y_train), batch_size=64, shuffle=True)
test_loader = DataLoader(TensorDataset(x_test, y_test), batch_size=500)


class Teacher(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(in_dim, 256)
        self.fc2 = nn.Linear(256, 256)
        self.fc3 = nn.Linear(256, num_classes)
        self.dropout = nn.Dropout(0.3)

    def forward(self, x):
        x = self.dropout(F.relu(self.fc1(x)))
        x = self.dropout(F.relu(self.fc2(x)))
        return self.fc3(x)


class Student(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(in_dim, 24)
        self.fc2 = nn.Linear(24, num_classes)

    def forward(self, x):
        return self.fc2(F.relu(self.fc1(x)))


def evaluate(model):
    model.eval()
    correct, total, loss = 0, 0, 0.0
    with torch.no_grad():
        for data, target in test_loader:
            data, target = data.to(device), target.to(device)
            output = model(data)
            loss += F.cross_entropy(output, target, reduction='sum').item()
            pred = output.argmax(dim=1)
            correct += (pred == target).sum().item()
            total += target.size(0)
    return loss / total, 100.0 * correct / total


def distillation_loss(student_logits, teacher_logits, labels, T=4.0, alpha=0.7):
    soft = nn.KLDivLoss(reduction='batchmean')(
        F.log_softmax(student_logits / T, dim=1),
        F.softmax(teacher_logits / T, dim=1)) * T * T
    hard = nn.CrossEntropyLoss()(student_logits, labels)
    return alpha * soft + (1.0 - alpha) * hard


# 1. the teacher
teacher = Teacher().to(device)
optimizer = torch.optim.Adam(teacher.parameters(), lr=1e-3)
criterion = nn.CrossEntropyLoss()
for epoch in range(5):
    teacher.train()
    for data, target in train_loader:
        data, target = data.to(device), target.to(device)
        optimizer.zero_grad()
        loss = criterion(teacher(data), target)
        loss.backward()
        optimizer.step()
    test_loss, acc = evaluate(teacher)
    print(f"teacher epoch {epoch} train loss {loss.item():.4f} test loss {test_loss:.4f} top-1 {acc:.1f}%")

# 2. the student, taught by the frozen teacher
student = Student().to(device)
optimizer = torch.optim.SGD(student.parameters(), lr=0.1, momentum=0.9)
scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=3, gamma=0.3)
teacher.eval()
for epoch in range(8):
    student.train()
    total = 0.0
    for data, target in train_loader:
        data, target = data.to(device), target.to(device)
        with torch.no_grad():
            teacher_logits = teacher(data)
        student_logits = student(data)
        loss = distillation_loss(student_logits, teacher_logits, target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        total += loss.item() * data.size(0)
    scheduler.step()
    test_loss, acc = evaluate(student)
    print(f"student epoch {epoch} distill loss {total / len(train_loader.dataset):.4f} "
          f"test loss {test_loss:.4f} top-1 {acc:.1f}% lr {scheduler.get_last_lr()[0]:.4f}")

print(f"final loss {test_loss:.6f}")
