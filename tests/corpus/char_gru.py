# ruff: noqa  (written as PyTorch programs are written in the wild, not to this project's style)
# A character-level GRU language model trained with AdamW from a Dataset through
# DataLoader(num_workers=2), gradient clipping, evaluation under torch.no_grad().
import math
import os

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

seed = int(os.environ.get('SEED', 1337))
torch.manual_seed(seed)
device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')

corpus = ("to be or not to be that is the question whether tis nobler in the mind to suffer "
          "the slings and arrows of outrageous fortune or to take arms against a sea of troubles ") * 6
chars = sorted(set(corpus))
stoi = {c: i for i, c in enumerate(chars)}
ids = [stoi[c] for c in corpus]
split = int(0.85 * len(ids))


class CharDataset(Dataset):
    def __init__(self, ids, seq_len):
        self.ids = ids
        self.seq_len = seq_len

    def __len__(self):
        return len(self.ids) - self.seq_len - 1

    def __getitem__(self, i):
        chunk = self.ids[i:i + self.seq_len + 1]
        x = torch.tensor(chunk[:-1], dtype=torch.long)
        y = torch.tensor(chunk[1:], dtype=torch.long)
        return x, y


class CharGRU(nn.Module):
    def __init__(self, vocab, emb=16, hidden=64):
        super().__init__()
        self.emb = nn.Embedding(vocab, emb)
        self.rnn = nn.GRU(emb, hidden, batch_first=True)
        self.head = nn.Linear(hidden, vocab)

    def forward(self, x, h=None):
        out, h = self.rnn(self.emb(x), h)
        return self.head(out), h


train_loader = DataLoader(CharDataset(ids[:split], 24), batch_size=32, shuffle=True, num_workers=2,
                          drop_last=True)
test_loader = DataLoader(CharDataset(ids[split:], 24), batch_size=64, shuffle=False)

model = CharGRU(len(chars)).to(device)
optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)

for epoch in range(2):
    model.train()
    total, count = 0.0, 0
    for x, y in train_loader:
        x, y = x.to(device), y.to(device)
        logits, _ = model(x)
        loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), y.reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        total += loss.item() * x.size(0)
        count += x.size(0)
    model.eval()
    with torch.no_grad():
        test_loss, n = 0.0, 0
        for x, y in test_loader:
            logits, _ = model(x.to(device))
            test_loss += F.cross_entropy(logits.reshape(-1, logits.size(-1)), y.to(device).reshape(-1),
                                         reduction='sum').item()
            n += y.numel()
    test_loss /= n
    print(f"epoch {epoch} | train loss {total / count:.4f} | test loss {test_loss:.4f} | "
          f"test ppl {math.exp(test_loss):.2f}")

print(f"final loss {test_loss:.6f}")
