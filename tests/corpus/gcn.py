# ruff: noqa  (written as PyTorch programs are written in the wild, not to this project's style)
# A two-layer graph convolutional network on a synthetic citation-like graph (stochastic block
# model), the adjacency written densely and normalised as D^-1/2 (A + I) D^-1/2.
import os

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

seed = int(os.environ.get('SEED', 42))
device = 'cuda' if torch.cuda.is_available() else 'cpu'

# the graph is fixed (drawn with NumPy, as loaders of citation graphs build it); the seed drives the model
rng = np.random.RandomState(0)
n_nodes, n_classes, n_feat = 120, 3, 16
y = np.arange(n_nodes) % n_classes
p = np.where(y[:, None] == y[None, :], 0.12, 0.01)
a = np.triu(rng.rand(n_nodes, n_nodes) < p, k=1).astype(np.float32)
x = rng.randn(n_nodes, n_feat).astype(np.float32) + 0.6 * np.eye(n_feat, dtype=np.float32)[y]
perm = rng.permutation(n_nodes)
adj = torch.from_numpy(a + a.T)
features = torch.FloatTensor(x)
labels = torch.LongTensor(y)
train_mask = torch.zeros(n_nodes, dtype=torch.bool)
train_mask[torch.from_numpy(perm[:30])] = True
test_mask = torch.zeros(n_nodes, dtype=torch.bool)
test_mask[torch.from_numpy(perm[60:])] = True

def normalize_adj(a):
    a = a + torch.eye(a.size(0))
    d = a.sum(1)
    d_inv_sqrt = d.pow(-0.5)
    d_inv_sqrt[torch.isinf(d_inv_sqrt)] = 0.0
    return torch.diag(d_inv_sqrt) @ a @ torch.diag(d_inv_sqrt)


class GraphConvolution(nn.Module):
    def __init__(self, in_features, out_features):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(in_features, out_features))
        self.bias = nn.Parameter(torch.empty(out_features))
        nn.init.xavier_uniform_(self.weight)
        nn.init.zeros_(self.bias)

    def forward(self, x, adj):
        support = torch.mm(x, self.weight)
        return torch.mm(adj, support) + self.bias


class GCN(nn.Module):
    def __init__(self, nfeat, nhid, nclass, dropout):
        super().__init__()
        self.gc1 = GraphConvolution(nfeat, nhid)
        self.gc2 = GraphConvolution(nhid, nclass)
        self.dropout = dropout

    def forward(self, x, adj):
        x = F.relu(self.gc1(x, adj))
        x = F.dropout(x, self.dropout, training=self.training)
        x = self.gc2(x, adj)
        return F.log_softmax(x, dim=1)


torch.manual_seed(seed)
model = GCN(n_feat, 16, n_classes, dropout=0.5).to(device)
optimizer = torch.optim.Adam(model.parameters(), lr=0.01, weight_decay=5e-4)
a_hat = normalize_adj(adj).to(device)
features, labels = features.to(device), labels.to(device)

for epoch in range(100):
    model.train()
    optimizer.zero_grad()
    output = model(features, a_hat)
    loss_train = F.nll_loss(output[train_mask], labels[train_mask])
    loss_train.backward()
    optimizer.step()
    if epoch % 20 == 0:
        print(f"epoch {epoch:3d} loss_train {loss_train.item():.4f}")

model.eval()
with torch.no_grad():
    output = model(features, a_hat)
    loss_test = F.nll_loss(output[test_mask], labels[test_mask])
    acc = (output[test_mask].argmax(1) == labels[test_mask]).float().mean()
print(f"test loss {loss_test.item():.4f} accuracy {acc.item():.3f}")
print(f"final loss {loss_test.item():.6f}")
