# ruff: noqa  (written as PyTorch programs are written in the wild, not to this project's style)
# Deep metric learning on synthetic clustered data, in the style of the common triplet-loss
# tutorials and repositories: an L2-normalised embedding network, batch-hard triplet mining on
# a torch.cdist distance matrix (positives/negatives from label-equality masks), PyTorch's
# TripletMarginLoss on the mined triplets, a second short phase with a hand-written
# contrastive loss on pairs, and evaluation by nearest-centroid accuracy.
import os

import torch
import torch.nn as nn
import torch.nn.functional as F

seed = int(os.environ.get('SEED', 42))
torch.manual_seed(seed)
device = "cuda" if torch.cuda.is_available() else "cpu"

n_classes, in_dim, emb_dim = 8, 20, 8

# clusters around fixed class centres; the data do not depend on the seed
g = torch.Generator().manual_seed(0)
centres = 2.0 * torch.randn(n_classes, in_dim, generator=g)


def sample(n_per_class):
    labels = torch.arange(n_classes).repeat_interleave(n_per_class)
    x = centres[labels] + 1.5 * torch.randn(len(labels), in_dim, generator=g)
    perm = torch.randperm(len(labels), generator=g)
    return x[perm], labels[perm]


x_train, y_train = sample(100)
x_test, y_test = sample(40)
x_train, y_train = x_train.to(device), y_train.to(device)
x_test, y_test = x_test.to(device), y_test.to(device)


class EmbeddingNet(nn.Module):
    def __init__(self, in_dim, emb_dim, hidden=64):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(in_dim, hidden),
            nn.BatchNorm1d(hidden),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, hidden),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, emb_dim),
        )

    def forward(self, x):
        x = self.net(x)
        return F.normalize(x, p=2, dim=1)


def batch_hard_triplets(embeddings, labels):
    """For each anchor: the farthest positive and the closest negative in the batch."""
    with torch.no_grad():
        # (past 25 rows cdist goes through matrix products, which leaves the diagonal at up to ~1e-3
        # instead of 0; the differences are exact)
        dist = torch.cdist(embeddings, embeddings, p=2, compute_mode='donot_use_mm_for_euclid_dist')
        same = labels.unsqueeze(0) == labels.unsqueeze(1)
        eye = torch.eye(len(labels), dtype=torch.bool, device=labels.device)
        pos_mask = same & ~eye
        neg_mask = ~same
        hardest_pos = dist.masked_fill(~pos_mask, float('-inf')).max(dim=1)
        hardest_neg = dist.masked_fill(~neg_mask, float('inf')).min(dim=1)
        valid = pos_mask.any(dim=1) & neg_mask.any(dim=1)
    anchors = torch.nonzero(valid).squeeze(1)
    return anchors, hardest_pos.indices[anchors], hardest_neg.indices[anchors]


def pairwise_distances(embeddings, squared=False):
    """||a - b||^2 = ||a||^2 - 2 <a, b> + ||b||^2, with a safe square root at zero."""
    dot_product = torch.matmul(embeddings, embeddings.t())
    square_norm = torch.diag(dot_product)
    distances = square_norm.unsqueeze(0) - 2.0 * dot_product + square_norm.unsqueeze(1)
    distances = torch.clamp(distances, min=0.0)
    if not squared:
        # the gradient of sqrt is infinite at 0: add a tiny epsilon where the distance is 0
        mask = (distances == 0.0).float()
        distances = distances + mask * 1e-16
        distances = torch.sqrt(distances)
        distances = distances * (1.0 - mask)
    return distances


def batch_hard_loss(embeddings, labels, margin):
    """The same mining written as one differentiable loss (the 'In Defense of the Triplet Loss' form)."""
    dist = pairwise_distances(embeddings)
    same = labels.unsqueeze(0) == labels.unsqueeze(1)
    hardest_pos = (dist * same.float()).max(dim=1)[0]
    max_dist = dist.max(dim=1, keepdim=True)[0]
    hardest_neg = (dist + max_dist * same.float()).min(dim=1)[0]
    return F.relu(hardest_pos - hardest_neg + margin).mean()


@torch.no_grad()
def centroid_accuracy(model):
    model.eval()
    train_emb = model(x_train)
    test_emb = model(x_test)
    centroids = torch.stack([train_emb[y_train == c].mean(dim=0) for c in range(n_classes)])
    centroids = F.normalize(centroids, dim=1)
    pred = torch.cdist(test_emb, centroids).argmin(dim=1)
    model.train()
    return (pred == y_test).float().mean().item()


@torch.no_grad()
def eval_triplet_loss(model, criterion):
    model.eval()
    emb = model(x_test)
    a, p, n = batch_hard_triplets(emb, y_test)
    loss = criterion(emb[a], emb[p], emb[n]).item()
    model.train()
    return loss


model = EmbeddingNet(in_dim, emb_dim).to(device)
margin = 0.5
triplet_loss = nn.TripletMarginLoss(margin=margin, p=2)
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
batch_size = 64

print(f"initial: test loss {eval_triplet_loss(model, triplet_loss):.4f}, "
      f"centroid acc {centroid_accuracy(model):.3f}")

# phase 1: batch-hard triplets
for epoch in range(8):
    perm = torch.randperm(len(x_train), device=device)
    total, batches = 0.0, 0
    for i in range(0, len(perm), batch_size):
        idx = perm[i:i + batch_size]
        xb, yb = x_train[idx], y_train[idx]
        emb = model(xb)
        a, p, n = batch_hard_triplets(emb, yb)
        loss = triplet_loss(emb[a], emb[p], emb[n])
        if epoch >= 4:
            loss = 0.5 * (loss + batch_hard_loss(emb, yb, margin))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        total += loss.item()
        batches += 1
    if epoch % 2 == 1:
        print(f"triplet epoch {epoch}: loss {total / batches:.4f}, centroid acc {centroid_accuracy(model):.3f}")


# phase 2: a contrastive loss on random pairs
def contrastive_loss(e1, e2, same, margin=1.0):
    d = F.pairwise_distance(e1, e2)
    return (same * d.pow(2) + (1 - same) * torch.clamp(margin - d, min=0).pow(2)).mean() / 2


cosine_loss = nn.CosineEmbeddingLoss(margin=0.2)
for g_ in optimizer.param_groups:
    g_['lr'] = 3e-4
for step in range(40):
    i = torch.randint(0, len(x_train), (batch_size,), device=device)
    j = torch.randint(0, len(x_train), (batch_size,), device=device)
    # half the pairs forced positive: random pairs are mostly negative
    j[: batch_size // 2] = torch.stack([
        torch.nonzero(y_train == y_train[k]).squeeze(1)[step % 20] for k in i[: batch_size // 2]])
    same = (y_train[i] == y_train[j]).float()
    e1, e2 = model(x_train[i]), model(x_train[j])
    loss = contrastive_loss(e1, e2, same) + 0.1 * cosine_loss(e1, e2, 2 * same - 1)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    if step % 20 == 0:
        print(f"contrastive step {step}: loss {loss.item():.4f}")

acc = centroid_accuracy(model)
final = eval_triplet_loss(model, triplet_loss)
print(f"test centroid accuracy {acc:.3f}")
print(f"final loss {final:.6f}")
