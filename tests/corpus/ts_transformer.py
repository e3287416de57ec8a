# ruff: noqa  (written as PyTorch programs are written in the wild, not to this project's style)
# Time-series forecasting with nn.Transformer: the encoder reads a window of a noisy sum of
# sinusoids, the decoder is trained with teacher forcing on the shifted targets and predicts
# the horizon autoregressively at test time. The loss reported is the test MSE of that forecast.
import math
import os

import numpy as np
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset

seed = int(os.environ.get('SEED', 0))
torch.manual_seed(seed)
device = "cuda" if torch.cuda.is_available() else "cpu"

input_window, output_window = 24, 8
batch_size = 32


def make_series(n_series=30, length=120):
    # the data are fixed (drawn with NumPy); the seed drives the model
    rng = np.random.RandomState(0)
    t = np.arange(length)
    series = []
    for _ in range(n_series):
        freqs = rng.uniform(0.05, 0.25, size=2)
        phases = rng.uniform(0, 2 * np.pi, size=2)
        amps = rng.uniform(0.5, 1.0, size=2)
        s = sum(a * np.sin(f * t + p) for a, f, p in zip(amps, freqs, phases))
        series.append(s + 0.05 * rng.randn(length))
    return np.array(series, dtype=np.float32)


def create_windows(data, stride=8):
    xs, ys = [], []
    for s in data:
        for i in range(0, len(s) - input_window - output_window + 1, stride):
            xs.append(s[i:i + input_window])
            ys.append(s[i + input_window:i + input_window + output_window])
    return np.array(xs)[..., None], np.array(ys)[..., None]


data = make_series()
train_x, train_y = create_windows(data[:24])
test_x, test_y = create_windows(data[24:])
train_loader = DataLoader(TensorDataset(torch.from_numpy(train_x), torch.from_numpy(train_y)),
                          batch_size=batch_size, shuffle=True)
test_src, test_tgt = torch.from_numpy(test_x).to(device), torch.from_numpy(test_y).to(device)


class PositionalEncoding(nn.Module):
    def __init__(self, d_model, max_len=500):
        super(PositionalEncoding, self).__init__()
        pe = torch.zeros(max_len, d_model)
        position = torch.arange(0, max_len, dtype=torch.float).unsqueeze(1)
        div_term = torch.exp(torch.arange(0, d_model, 2).float() * (-math.log(10000.0) / d_model))
        pe[:, 0::2] = torch.sin(position * div_term)
        pe[:, 1::2] = torch.cos(position * div_term)
        self.register_buffer('pe', pe.unsqueeze(0))  # (1, max_len, d_model)

    def forward(self, x):
        return x + self.pe[:, :x.size(1), :]


class TimeSeriesTransformer(nn.Module):
    def __init__(self, d_model=32, nhead=4, num_encoder_layers=2, num_decoder_layers=2,
                 dim_feedforward=64, dropout=0.1):
        super().__init__()
        self.input_proj = nn.Linear(1, d_model)
        self.pos_encoder = PositionalEncoding(d_model)
        self.transformer = nn.Transformer(d_model=d_model, nhead=nhead,
                                          num_encoder_layers=num_encoder_layers,
                                          num_decoder_layers=num_decoder_layers,
                                          dim_feedforward=dim_feedforward, dropout=dropout,
                                          batch_first=True)
        self.output_proj = nn.Linear(d_model, 1)

    def forward(self, src, tgt):
        tgt_mask = nn.Transformer.generate_square_subsequent_mask(tgt.size(1)).to(src.device)
        src = self.pos_encoder(self.input_proj(src))
        tgt = self.pos_encoder(self.input_proj(tgt))
        out = self.transformer(src, tgt, tgt_mask=tgt_mask)
        return self.output_proj(out)


def predict(model, src, steps):
    model.eval()
    with torch.no_grad():
        dec_in = src[:, -1:, :]
        for _ in range(steps):
            out = model(src, dec_in)
            dec_in = torch.cat([dec_in, out[:, -1:, :]], dim=1)
    return dec_in[:, 1:, :]


model = TimeSeriesTransformer().to(device)
criterion = nn.MSELoss()
optimizer = torch.optim.Adam(model.parameters(), lr=0.002)
scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=5, gamma=0.7)

print(f"initial test loss: {criterion(predict(model, test_src, output_window), test_tgt).item():.6f}")
for epoch in range(1, 13):
    model.train()
    total_loss = 0.0
    for src, tgt in train_loader:
        src, tgt = src.to(device), tgt.to(device)
        # teacher forcing: the decoder sees the last observed value then the true targets, shifted by one
        dec_in = torch.cat([src[:, -1:, :], tgt[:, :-1, :]], dim=1)
        optimizer.zero_grad()
        output = model(src, dec_in)
        loss = criterion(output, tgt)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 0.5)
        optimizer.step()
        total_loss += loss.item() * src.size(0)
    scheduler.step()
    if epoch % 3 == 0:
        test_loss = criterion(predict(model, test_src, output_window), test_tgt).item()
        print(f"| epoch {epoch:3d} | lr {scheduler.get_last_lr()[0]:.5f} | train loss {total_loss / len(train_loader.dataset):.5f} | test loss {test_loss:.5f}")

print(f"final loss {criterion(predict(model, test_src, output_window), test_tgt).item():.6f}")
