# ruff: noqa  (written as PyTorch programs are written in the wild, not to this project's style)
# A GRU encoder-decoder with additive (Bahdanau) attention that learns to reverse digit
# sequences, in the style of the well-known seq2seq translation tutorials: teacher forcing
# chosen with random.random(), greedy decoding with topk(1), NLLLoss(ignore_index=PAD) on
# log_softmax outputs, torch.stack of the step outputs, clip_grad_norm_, and one optimiser
# for the encoder and another for the decoder.
import os
import random

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import optim

SEED = int(os.environ.get("SEED", 0))
random.seed(SEED)
torch.manual_seed(SEED)
device = torch.device("cuda" if torch.cuda.is_available() else "cpu")

PAD, SOS, EOS = 0, 1, 2
N_DIGITS = 10
VOCAB = N_DIGITS + 3  # digit d is token d + 3
MIN_LEN, MAX_LEN = 3, 6
HIDDEN = 32
BATCH = 32


def random_pair(rng):
    digits = [rng.randrange(N_DIGITS) + 3 for _ in range(rng.randint(MIN_LEN, MAX_LEN))]
    return digits, digits[::-1]


def make_batch(pairs):
    """Pads a list of (src, tgt) pairs: src (batch, src_len), tgt (batch, tgt_len) ending in EOS."""
    src_len = max(len(s) for s, _ in pairs)
    tgt_len = max(len(t) for _, t in pairs) + 1
    src = torch.full((len(pairs), src_len), PAD, dtype=torch.long)
    tgt = torch.full((len(pairs), tgt_len), PAD, dtype=torch.long)
    for i, (s, t) in enumerate(pairs):
        src[i, :len(s)] = torch.tensor(s)
        tgt[i, :len(t) + 1] = torch.tensor(t + [EOS])
    return src.to(device), tgt.to(device)


data_rng = random.Random(1234)  # the data are fixed; SEED drives the weights and teacher forcing
train_pairs = [random_pair(data_rng) for _ in range(1024)]
test_pairs = [random_pair(data_rng) for _ in range(200)]


class EncoderRNN(nn.Module):
    def __init__(self, input_size, hidden_size, dropout_p=0.1):
        super(EncoderRNN, self).__init__()
        self.hidden_size = hidden_size
        self.embedding = nn.Embedding(input_size, hidden_size, padding_idx=PAD)
        self.gru = nn.GRU(hidden_size, hidden_size, batch_first=True)
        self.dropout = nn.Dropout(dropout_p)

    def forward(self, input):
        embedded = self.dropout(self.embedding(input))
        output, hidden = self.gru(embedded)
        return output, hidden


class BahdanauAttention(nn.Module):
    def __init__(self, hidden_size):
        super(BahdanauAttention, self).__init__()
        self.Wa = nn.Linear(hidden_size, hidden_size)
        self.Ua = nn.Linear(hidden_size, hidden_size)
        self.Va = nn.Linear(hidden_size, 1)

    def forward(self, query, keys, mask=None):
        # query: (batch, 1, hidden), keys: (batch, src_len, hidden)
        scores = self.Va(torch.tanh(self.Wa(query) + self.Ua(keys)))
        scores = scores.squeeze(2)  # (batch, src_len)
        if mask is not None:
            scores = scores.masked_fill(mask, -1e10)
        weights = F.softmax(scores, dim=-1)
        context = torch.bmm(weights.unsqueeze(1), keys)  # (batch, 1, hidden)
        return context, weights


class AttnDecoderRNN(nn.Module):
    def __init__(self, hidden_size, output_size, dropout_p=0.1):
        super(AttnDecoderRNN, self).__init__()
        self.embedding = nn.Embedding(output_size, hidden_size)
        self.attention = BahdanauAttention(hidden_size)
        self.gru = nn.GRU(2 * hidden_size, hidden_size, batch_first=True)
        self.out = nn.Linear(hidden_size, output_size)
        self.dropout = nn.Dropout(dropout_p)

    def forward_step(self, input, hidden, encoder_outputs, src_mask):
        embedded = self.dropout(self.embedding(input))  # (batch, 1, hidden)
        query = hidden.permute(1, 0, 2)
        context, attn_weights = self.attention(query, encoder_outputs, src_mask)
        input_gru = torch.cat((embedded, context), dim=2)
        output, hidden = self.gru(input_gru, hidden)
        output = self.out(output)
        return output, hidden, attn_weights

    def forward(self, encoder_outputs, encoder_hidden, src_mask, max_len, target_tensor=None,
                teacher_forcing_ratio=0.5):
        batch_size = encoder_outputs.size(0)
        decoder_input = torch.empty(batch_size, 1, dtype=torch.long, device=device).fill_(SOS)
        decoder_hidden = encoder_hidden
        decoder_outputs = []
        for i in range(max_len):
            decoder_output, decoder_hidden, _ = self.forward_step(
                decoder_input, decoder_hidden, encoder_outputs, src_mask)
            decoder_outputs.append(decoder_output.squeeze(1))
            use_teacher_forcing = target_tensor is not None and random.random() < teacher_forcing_ratio
            if use_teacher_forcing:
                decoder_input = target_tensor[:, i].unsqueeze(1)  # Teacher forcing
            else:
                # Without teacher forcing: use its own predictions as the next input
                _, topi = decoder_output.topk(1)
                decoder_input = topi.squeeze(-1).detach()  # detach from history as input
        decoder_outputs = torch.stack(decoder_outputs, dim=1)  # (batch, max_len, vocab)
        decoder_outputs = F.log_softmax(decoder_outputs, dim=-1)
        return decoder_outputs, decoder_hidden


encoder = EncoderRNN(VOCAB, HIDDEN).to(device)
decoder = AttnDecoderRNN(HIDDEN, VOCAB).to(device)
encoder_optimizer = optim.Adam(encoder.parameters(), lr=3e-3)
decoder_optimizer = optim.Adam(decoder.parameters(), lr=3e-3)
criterion = nn.NLLLoss(ignore_index=PAD)


def train_step(src, tgt, teacher_forcing_ratio=0.5):
    encoder_optimizer.zero_grad()
    decoder_optimizer.zero_grad()
    encoder_outputs, encoder_hidden = encoder(src)
    decoder_outputs, _ = decoder(encoder_outputs, encoder_hidden, src == PAD, tgt.size(1), tgt,
                                 teacher_forcing_ratio)
    loss = criterion(decoder_outputs.view(-1, decoder_outputs.size(-1)), tgt.view(-1))
    loss.backward()
    torch.nn.utils.clip_grad_norm_(encoder.parameters(), 1.0)
    torch.nn.utils.clip_grad_norm_(decoder.parameters(), 1.0)
    encoder_optimizer.step()
    decoder_optimizer.step()
    return loss.item()


def evaluate(pairs):
    encoder.eval()
    decoder.eval()
    with torch.no_grad():
        src, tgt = make_batch(pairs)
        encoder_outputs, encoder_hidden = encoder(src)
        decoder_outputs, _ = decoder(encoder_outputs, encoder_hidden, src == PAD, tgt.size(1))
        loss = criterion(decoder_outputs.view(-1, decoder_outputs.size(-1)), tgt.view(-1)).item()
        _, topi = decoder_outputs.topk(1)
        decoded_ids = topi.squeeze()
        keep = tgt != PAD
        token_acc = ((decoded_ids == tgt) & keep).sum().item() / keep.sum().item()
        seq_acc = ((decoded_ids == tgt) | ~keep).all(dim=1).float().mean().item()
    encoder.train()
    decoder.train()
    return loss, token_acc, seq_acc


n_epochs = 6
for epoch in range(1, n_epochs + 1):
    random.shuffle(train_pairs)
    total = 0.0
    n_batches = 0
    for b in range(0, len(train_pairs), BATCH):
        src, tgt = make_batch(train_pairs[b:b + BATCH])
        total += train_step(src, tgt)
        n_batches += 1
    test_loss, token_acc, seq_acc = evaluate(test_pairs)
    print(f"epoch {epoch}: train loss {total / n_batches:.4f} | test loss {test_loss:.4f} | "
          f"token acc {token_acc:.3f} | sequence acc {seq_acc:.3f}")

src, _ = make_batch(test_pairs[:1])
with torch.no_grad():
    enc_out, enc_hidden = encoder.eval()(src)
    out, _ = decoder.eval()(enc_out, enc_hidden, src == PAD, MAX_LEN + 1)
decoded = []
for idx in out.topk(1)[1].squeeze().tolist():
    if idx == EOS:
        break
    decoded.append(idx - 3)
print("input", [d - 3 for d in test_pairs[0][0]], "->", decoded)
print(f"final loss {test_loss:.6f}")
