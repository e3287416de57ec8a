# ruff: noqa  (written as PyTorch programs are written in the wild, not to this project's style)
# A graph attention network (Veličković et al.) on a synthetic community graph, written without
# torch_geometric/torch_scatter: edges as a (2, E) index, one attention score per edge, and a softmax
# over each target node's incoming edges made of scatter_reduce (max) and index_add_ (sums).
import os

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

seed = int(os.environ.get('SEED', 72))
torch.manual_seed(seed)
device = 'cuda' if torch.cuda.is_available() else 'cpu'

# the graph is fixed (drawn with NumPy); the seed drives the model
rng = np.random.RandomState(0)
n_nodes, n_classes, n_feat = 180, 3, 24
y = rng.randint(0, n_classes, n_nodes)
p = np.where(y[:, None] == y[None, :], 0.08, 0.01)
a = np.triu(rng.rand(n_nodes, n_nodes) < p, k=1)
a = a | a.T
np.fill_diagonal(a, True)  # self-loops, as GAT adds them
src, dst = np.nonzero(a)
centers = rng.randn(n_classes, n_feat)
x = 0.7 * centers[y] + rng.randn(n_nodes, n_feat)

edge_index = torch.from_numpy(np.stack([src, dst])).long().to(device)
features = torch.tensor(x, dtype=torch.float).to(device)
labels = torch.from_numpy(y).long().to(device)
perm = torch.from_numpy(rng.permutation(n_nodes))
train_mask = torch.zeros(n_nodes, dtype=torch.bool)
val_mask = torch.zeros(n_nodes, dtype=torch.bool)
test_mask = torch.zeros(n_nodes, dtype=torch.bool)
train_mask[perm[:60]] = True
val_mask[perm[60:90]] = True
test_mask[perm[90:]] = True
train_mask, val_mask, test_mask = train_mask.to(device), val_mask.to(device), test_mask.to(device)


def edge_softmax(scores, index, num_nodes):
    """Softmax of scores (E, H) over the edges that share a target node index (E,)."""
    index_h = index.unsqueeze(-1).expand_as(scores)
    smax = torch.zeros(num_nodes, scores.size(1), device=scores.device, dtype=scores.dtype)
    smax = smax.scatter_reduce(0, index_h, scores, reduce='amax', include_self=False)
    exp = torch.exp(scores - smax[index])
    denom = torch.zeros(num_nodes, scores.size(1), device=scores.device, dtype=scores.dtype)
    denom.index_add_(0, index, exp)
    return exp / (denom[index] + 1e-16)


class GATLayer(nn.Module):
    def __init__(self, in_features, out_features, heads=1, concat=True, dropout=0.6, alpha=0.2):
        super(GATLayer, self).__init__()
        self.heads, self.out_features, self.concat = heads, out_features, concat
        self.dropout, self.alpha = dropout, alpha
        self.W = nn.Linear(in_features, heads * out_features, bias=False)
        self.a = nn.Parameter(torch.empty(1, heads, 2 * out_features))
        self.bias = nn.Parameter(torch.zeros(heads * out_features if concat else out_features))
        nn.init.xavier_uniform_(self.W.weight, gain=1.414)
        nn.init.xavier_uniform_(self.a, gain=1.414)

    def forward(self, x, edge_index):
        N = x.size(0)
        h = self.W(x).view(N, self.heads, self.out_features)
        source, target = edge_index[0], edge_index[1]
        h_cat = torch.cat([h[source], h[target]], dim=-1)  # (E, heads, 2 * out)
        e = F.leaky_relu((h_cat * self.a).sum(dim=-1), negative_slope=self.alpha)  # (E, heads)
        attention = edge_softmax(e, target, N)
        attention = F.dropout(attention, self.dropout, training=self.training)
        out = torch.zeros(N, self.heads, self.out_features, device=x.device)
        out.index_add_(0, target, h[source] * attention.unsqueeze(-1))
        if self.concat:
            out = out.reshape(N, self.heads * self.out_features)
        else:
            out = out.mean(dim=1)
        return out + self.bias


class GAT(nn.Module):
    def __init__(self, nfeat, nhid, nclass, dropout=0.6, nheads=4):
        super(GAT, self).__init__()
        self.dropout = dropout
        self.conv1 = GATLayer(nfeat, nhid, heads=nheads, concat=True, dropout=dropout)
        self.conv2 = GATLayer(nhid * nheads, nclass, heads=1, concat=False, dropout=dropout)

    def forward(self, x, edge_index):
        x = F.dropout(x, self.dropout, training=self.training)
        x = F.elu(self.conv1(x, edge_index))
        x = F.dropout(x, self.dropout, training=self.training)
        x = self.conv2(x, edge_index)
        return F.log_softmax(x, dim=1)


model = GAT(n_feat, 8, n_classes).to(device)
optimizer = torch.optim.Adam(model.parameters(), lr=0.005, weight_decay=5e-4)


def evaluate(mask):
    model.eval()
    with torch.no_grad():
        out = model(features, edge_index)
        loss = F.nll_loss(out[mask], labels[mask]).item()
        acc = (out[mask].argmax(dim=1) == labels[mask]).float().mean().item()
    return loss, acc


best_val, best_state = float('inf'), None
for epoch in range(200):
    model.train()
    optimizer.zero_grad()
    output = model(features, edge_index)
    loss_train = F.nll_loss(output[train_mask], labels[train_mask])
    loss_train.backward()
    optimizer.step()
    loss_val, acc_val = evaluate(val_mask)
    if loss_val < best_val:
        best_val = loss_val
        best_state = {k: v.clone() for k, v in model.state_dict().items()}
    if epoch % 25 == 0:
        print(f"Epoch {epoch:03d} loss_train: {loss_train.item():.4f} loss_val: {loss_val:.4f} acc_val: {acc_val:.4f}")

model.load_state_dict(best_state)
test_loss, test_acc = evaluate(test_mask)
print(f"test accuracy {test_acc:.4f}")
print(f"final loss {test_loss:.4f}")
