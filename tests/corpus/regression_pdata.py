# ruff: noqa  (written as PyTorch programs are written in the wild, not to this project's style)
# Polynomial regression with a manual update through p.data, as PyTorch's examples/regression
# writes it (fixed number of steps instead of "until loss < 1e-3").
import os

import torch
import torch.nn.functional as F

seed = int(os.environ.get('SEED', 1))
torch.manual_seed(seed)
POLY_DEGREE = 4
# a fixed target (the example draws it at random) so that runs with different seeds are comparable
W_target = torch.tensor([[2.0], [-3.0], [0.5], [0.25]])
b_target = torch.tensor([1.5])


def make_features(x):
    """Builds features i.e. a matrix with columns [x, x^2, x^3, x^4]."""
    x = x.unsqueeze(1)
    return torch.cat([x ** i for i in range(1, POLY_DEGREE + 1)], 1)


def f(x):
    """Approximated function."""
    return x.mm(W_target) + b_target.item()


def get_batch(batch_size=32):
    """Builds a batch i.e. (x, f(x)) pair."""
    random = torch.rand(batch_size) * 2 - 1  # x in [-1, 1]
    x = make_features(random)
    y = f(x)
    return x, y


fc = torch.nn.Linear(W_target.size(0), 1)

for batch_idx in range(300):
    batch_x, batch_y = get_batch()
    fc.zero_grad()
    output = F.smooth_l1_loss(fc(batch_x), batch_y)
    loss = output.item()
    if batch_idx == 0:
        print('Initial loss: {:.6f}'.format(loss))
    output.backward()
    for param in fc.parameters():
        param.data.add_(-0.1 * param.grad)

print('Loss: {:.6f} after {} batches'.format(loss, batch_idx))
torch.manual_seed(12345)
test_x, test_y = get_batch(256)
with torch.no_grad():
    test_loss = F.smooth_l1_loss(fc(test_x), test_y).item()
print(f"final loss {test_loss:.6f}")
