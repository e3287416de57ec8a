# ruff: noqa  (written as PyTorch programs are written in the wild, not to this project's style)
# A bidirectional two-layer LSTM sentiment-style classifier on variable-length synthetic
# "reviews", in the style of the popular sentiment-analysis tutorials: pack_padded_sequence
# with enforce_sorted=False, pad_packed_sequence, the last forward and backward hidden states
# joined with torch.cat, BCEWithLogitsLoss, and binary accuracy with round(sigmoid(preds)).
import os
import random
import time

import torch
import torch.nn as nn
import torch.optim as optim

SEED = int(os.environ.get('SEED', 1234))
random.seed(SEED)
torch.manual_seed(SEED)
device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')

# ---- synthetic data: filler words plus a few sentiment words; "not" flips the next one ----
PAD_IDX, UNK_IDX = 0, 1
positive = ['good', 'great', 'fun', 'superb', 'lovely']
negative = ['bad', 'awful', 'dull', 'boring', 'poor']
filler = ['the', 'movie', 'film', 'plot', 'actor', 'was', 'and', 'it', 'a', 'scene', 'story', 'very', 'quite']
itos = ['<pad>', '<unk>', 'not'] + positive + negative + filler
stoi = {w: i for i, w in enumerate(itos)}


def make_review(rng):
    words = [rng.choice(filler) for _ in range(rng.randint(4, 20))]
    label = rng.random() < 0.5
    n_cues = rng.randint(1, 2)
    for _ in range(n_cues):
        negate = rng.random() < 0.25
        cue = rng.choice(negative if label == negate else positive)
        pos = rng.randint(0, len(words))
        words[pos:pos] = ['not', cue] if negate else [cue]
    return [stoi[w] for w in words], float(label)


data_rng = random.Random(0)
train_data = [make_review(data_rng) for _ in range(1024)]
valid_data = [make_review(data_rng) for _ in range(256)]


def batches(data, batch_size, shuffle):
    order = list(range(len(data)))
    if shuffle:
        random.shuffle(order)
    for b in range(0, len(order), batch_size):
        chunk = [data[i] for i in order[b:b + batch_size]]
        lengths = torch.tensor([len(x) for x, _ in chunk], dtype=torch.long)
        text = torch.full((len(chunk), int(lengths.max())), PAD_IDX, dtype=torch.long)
        for i, (x, _) in enumerate(chunk):
            text[i, :len(x)] = torch.tensor(x, dtype=torch.long)
        labels = torch.tensor([y for _, y in chunk])
        yield text.to(device), lengths, labels.to(device)


class RNN(nn.Module):
    def __init__(self, vocab_size, embedding_dim, hidden_dim, output_dim, n_layers,
                 bidirectional, dropout, pad_idx):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=pad_idx)
        self.rnn = nn.LSTM(embedding_dim,
                           hidden_dim,
                           num_layers=n_layers,
                           bidirectional=bidirectional,
                           dropout=dropout,
                           batch_first=True)
        self.fc = nn.Linear(hidden_dim * 2, output_dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, text, text_lengths):
        # text = [batch size, sent len]
        embedded = self.dropout(self.embedding(text))
        # pack sequence; lengths need to be on the CPU
        packed_embedded = nn.utils.rnn.pack_padded_sequence(embedded, text_lengths.cpu(), batch_first=True,
                                                            enforce_sorted=False)
        packed_output, (hidden, cell) = self.rnn(packed_embedded)
        # unpack sequence
        output, output_lengths = nn.utils.rnn.pad_packed_sequence(packed_output, batch_first=True)
        # output = [batch size, sent len, hid dim * num directions]
        # hidden = [num layers * num directions, batch size, hid dim]
        # concat the final forward (hidden[-2,:,:]) and backward (hidden[-1,:,:]) hidden layers
        hidden = self.dropout(torch.cat((hidden[-2, :, :], hidden[-1, :, :]), dim=1))
        return self.fc(hidden)


def count_parameters(model):
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


model = RNN(len(itos), 32, 32, 1, 2, True, 0.25, PAD_IDX)
print(f'The model has {count_parameters(model):,} trainable parameters')
model.embedding.weight.data[UNK_IDX] = torch.zeros(32)
model.embedding.weight.data[PAD_IDX] = torch.zeros(32)
optimizer = optim.Adam(model.parameters(), lr=5e-3)
criterion = nn.BCEWithLogitsLoss()
model = model.to(device)
criterion = criterion.to(device)


def binary_accuracy(preds, y):
    """Returns accuracy per batch, i.e. if you get 8/10 right, this returns 0.8, NOT 8."""
    rounded_preds = torch.round(torch.sigmoid(preds))
    correct = (rounded_preds == y).float()
    acc = correct.sum() / len(correct)
    return acc


def train(model, optimizer, criterion):
    epoch_loss, epoch_acc, n = 0, 0, 0
    model.train()
    for text, text_lengths, labels in batches(train_data, 32, shuffle=True):
        optimizer.zero_grad()
        predictions = model(text, text_lengths).squeeze(1)
        loss = criterion(predictions, labels)
        acc = binary_accuracy(predictions, labels)
        loss.backward()
        optimizer.step()
        epoch_loss += loss.item()
        epoch_acc += acc.item()
        n += 1
    return epoch_loss / n, epoch_acc / n


def evaluate(model, criterion):
    epoch_loss, epoch_acc, n = 0, 0, 0
    model.eval()
    with torch.no_grad():
        for text, text_lengths, labels in batches(valid_data, 64, shuffle=False):
            predictions = model(text, text_lengths).squeeze(1)
            loss = criterion(predictions, labels)
            acc = binary_accuracy(predictions, labels)
            epoch_loss += loss.item()
            epoch_acc += acc.item()
            n += 1
    return epoch_loss / n, epoch_acc / n


N_EPOCHS = 5
best_valid_loss = float('inf')
for epoch in range(N_EPOCHS):
    start_time = time.time()
    train_loss, train_acc = train(model, optimizer, criterion)
    valid_loss, valid_acc = evaluate(model, criterion)
    if valid_loss < best_valid_loss:
        best_valid_loss = valid_loss
    secs = time.time() - start_time
    print(f'Epoch: {epoch + 1:02} | Epoch Time: {secs:.2f}s')
    print(f'\tTrain Loss: {train_loss:.3f} | Train Acc: {train_acc * 100:.2f}%')
    print(f'\t Val. Loss: {valid_loss:.3f} |  Val. Acc: {valid_acc * 100:.2f}%')

print(f"final loss {valid_loss:.6f}")
