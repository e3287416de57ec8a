# ruff: noqa  (written as PyTorch programs are written in the wild, not to this project's style)
# A Transformer encoder text classifier on synthetic variable-length token sequences:
# sinusoidal PositionalEncoding in a registered buffer, nn.TransformerEncoder(batch_first=True),
# pad_sequence in a collate_fn, src_key_padding_mask, masked mean pooling, AdamW with a
# linear warmup/decay schedule from LambdaLR, and accuracy under model.eval() + no_grad.
import math
import os
import random

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.rnn import pad_sequence
from torch.utils.data import DataLoader, Dataset

SEED = int(os.environ.get("SEED", 42))
torch.manual_seed(SEED)
device = "cuda" if torch.cuda.is_available() else "cpu"

PAD = 0
VOCAB_SIZE = 24
NUM_CLASSES = 3
# tokens 1..3 are the "topic" words; the label is the topic that occurs most often
TOPICS = [1, 2, 3]


def make_example(rng):
    length = rng.randint(6, 24)
    tokens = [rng.randint(4, VOCAB_SIZE - 1) for _ in range(length)]
    counts = [rng.randint(0, 3) for _ in TOPICS]
    label = rng.randrange(NUM_CLASSES)
    counts[label] = max(counts) + 1
    for topic, c in zip(TOPICS, counts):
        for _ in range(c):
            tokens.insert(rng.randint(0, len(tokens)), topic)
    return tokens, label


class TopicDataset(Dataset):
    def __init__(self, n, seed):
        rng = random.Random(seed)
        self.examples = [make_example(rng) for _ in range(n)]

    def __len__(self):
        return len(self.examples)

    def __getitem__(self, idx):
        tokens, label = self.examples[idx]
        return torch.tensor(tokens, dtype=torch.long), label


def collate_fn(batch):
    seqs, labels = zip(*batch)
    tokens = pad_sequence(seqs, batch_first=True, padding_value=PAD)
    return tokens, torch.tensor(labels, dtype=torch.long)


class PositionalEncoding(nn.Module):
    def __init__(self, d_model, dropout=0.1, max_len=512):
        super().__init__()
        self.dropout = nn.Dropout(p=dropout)
        position = torch.arange(max_len).unsqueeze(1)
        div_term = torch.exp(torch.arange(0, d_model, 2) * (-math.log(10000.0) / d_model))
        pe = torch.zeros(1, max_len, d_model)
        pe[0, :, 0::2] = torch.sin(position * div_term)
        pe[0, :, 1::2] = torch.cos(position * div_term)
        self.register_buffer('pe', pe)

    def forward(self, x):
        # x: [batch, seq_len, d_model]
        x = x + self.pe[:, :x.size(1)]
        return self.dropout(x)


class TransformerClassifier(nn.Module):
    def __init__(self, vocab_size, d_model=32, nhead=4, dim_feedforward=64, num_layers=2,
                 num_classes=NUM_CLASSES, dropout=0.1):
        super().__init__()
        self.d_model = d_model
        self.embedding = nn.Embedding(vocab_size, d_model, padding_idx=PAD)
        self.pos_encoder = PositionalEncoding(d_model, dropout)
        encoder_layer = nn.TransformerEncoderLayer(d_model, nhead, dim_feedforward, dropout, batch_first=True)
        self.encoder = nn.TransformerEncoder(encoder_layer, num_layers)
        self.classifier = nn.Linear(d_model, num_classes)

    def forward(self, tokens):
        padding_mask = tokens == PAD  # True where padded
        x = self.embedding(tokens) * math.sqrt(self.d_model)
        x = self.pos_encoder(x)
        x = self.encoder(x, src_key_padding_mask=padding_mask)
        # masked mean pooling over the real tokens
        keep = (~padding_mask).unsqueeze(-1).float()
        pooled = (x * keep).sum(dim=1) / keep.sum(dim=1).clamp(min=1.0)
        return self.classifier(pooled)


def get_linear_schedule_with_warmup(optimizer, num_warmup_steps, num_training_steps):
    def lr_lambda(current_step):
        if current_step < num_warmup_steps:
            return float(current_step) / float(max(1, num_warmup_steps))
        return max(0.0, float(num_training_steps - current_step) /
                   float(max(1, num_training_steps - num_warmup_steps)))
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda)


def evaluate(model, loader):
    model.eval()
    correct, total, loss_sum = 0, 0, 0.0
    with torch.no_grad():
        for tokens, labels in loader:
            tokens, labels = tokens.to(device), labels.to(device)
            logits = model(tokens)
            loss_sum += F.cross_entropy(logits, labels, reduction='sum').item()
            correct += (logits.argmax(dim=-1) == labels).sum().item()
            total += labels.size(0)
    return loss_sum / total, correct / total


train_loader = DataLoader(TopicDataset(1024, seed=0), batch_size=32, shuffle=True, collate_fn=collate_fn)
val_loader = DataLoader(TopicDataset(256, seed=1), batch_size=64, shuffle=False, collate_fn=collate_fn)

model = TransformerClassifier(VOCAB_SIZE).to(device)
num_epochs = 4
optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.01)
total_steps = num_epochs * len(train_loader)
scheduler = get_linear_schedule_with_warmup(optimizer, num_warmup_steps=total_steps // 10,
                                            num_training_steps=total_steps)

for epoch in range(num_epochs):
    model.train()
    running = 0.0
    for step, (tokens, labels) in enumerate(train_loader):
        tokens, labels = tokens.to(device), labels.to(device)
        optimizer.zero_grad()
        logits = model(tokens)
        loss = F.cross_entropy(logits, labels)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
        optimizer.step()
        scheduler.step()
        running += loss.item()
        if epoch == 0 and step == 0:
            print(f"first batch loss {loss.item():.4f}")
    val_loss, val_acc = evaluate(model, val_loader)
    print(f"epoch {epoch + 1}: train loss {running / len(train_loader):.4f} | "
          f"val loss {val_loss:.4f} | val acc {val_acc:.3f} | lr {scheduler.get_last_lr()[0]:.2e}")

print(f"final loss {val_loss:.6f}")
