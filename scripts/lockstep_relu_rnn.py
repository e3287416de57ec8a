"""Lock-step comparison, see docs/how-to/porting.md (Known differences).

Needs torch: python scripts/lockstep_relu_rnn.py [lr]
"""
# The word-language-model recipe (ReLU RNN, SGD lr=20, clip 0.25, truncated BPTT with the hidden
# state carried, uniform(-0.1, 0.1) encoder/decoder init) in both libraries in lock-step: identical
# initial weights (PyTorch's, copied) and identical batches. Any semantic difference shows up as a
# systematic gap; float rounding alone shows up as trajectories that separate at random.
import math
import sys

import numpy as np
import torch

import chainrule as cr
import chainrule.nn as cnn
import chainrule.nn.functional as cF

text = (
    "to be or not to be that is the question whether tis nobler in the mind to suffer "
    "the slings and arrows of outrageous fortune or to take arms against a sea of troubles "
) * 30
chars = sorted(set(text))
ids = np.array([chars.index(c) for c in text])
V = len(chars)
B, BPTT, H, LR, CLIP = 10, 35, 128, float(sys.argv[1]) if len(sys.argv) > 1 else 20.0, 0.25
nb = len(ids) // B
data = ids[: nb * B].reshape(B, nb).T  # (time, batch) as batchify


def build(nn):
    class RNNModel(nn.Module):
        def __init__(s):
            super().__init__()
            s.encoder = nn.Embedding(V, 64)
            s.rnn = nn.RNN(64, H, 2, nonlinearity="relu")
            s.decoder = nn.Linear(H, V)
            nn.init.uniform_(s.encoder.weight, -0.1, 0.1)
            nn.init.zeros_(s.decoder.bias)
            nn.init.uniform_(s.decoder.weight, -0.1, 0.1)

        def forward(s, x, h):
            out, h = s.rnn(s.encoder(x), h)
            return s.decoder(out), h

    return RNNModel()


def run(seed):
    torch.manual_seed(seed)
    tm = build(torch.nn)
    cm = build(cnn)
    cm.load_state_dict({k: cr.tensor(v.detach().numpy().copy()) for k, v in tm.state_dict().items()})
    ht = torch.zeros(2, B, H)
    hc = cr.zeros(2, B, H)
    out = []
    for lib, m, h, T, nnmod, F in (
        ("torch", tm, ht, torch, torch.nn, torch.nn.functional),
        ("chainrule", cm, hc, cr, cnn, cF),
    ):
        losses = []
        for _epoch in range(2):
            for i in range(0, nb - 1 - BPTT, BPTT):
                x = T.tensor(data[i : i + BPTT])
                y = T.tensor(data[i + 1 : i + 1 + BPTT].reshape(-1))
                h = h.detach()
                m.zero_grad()
                logits, h = m(x, h)
                loss = F.cross_entropy(logits.reshape(-1, V), y)
                loss.backward()
                nnmod.utils.clip_grad_norm_(m.parameters(), CLIP)
                with T.no_grad():
                    for p in m.parameters():
                        p.add_(p.grad, alpha=-LR)
                losses.append(loss.item())
        out.append((lib, losses))
    return out


for seed in range(1, 7):
    res = run(seed)
    line = []
    for lib, losses in res:
        first_bad = next((k for k, l in enumerate(losses) if not math.isfinite(l) or l > 50), None)
        line.append(f"{lib}: last {losses[-1]:.3f} max {max(losses):.3g} diverged@{first_bad}")
    sep = next((k for k, (a, b) in enumerate(zip(res[0][1], res[1][1])) if abs(a - b) > 1e-2), None)
    print(f"seed {seed}: " + " | ".join(line) + f" | curves separate (>1e-2) at step {sep} of {len(res[0][1])}")
