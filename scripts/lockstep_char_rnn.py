"""Lock-step comparison, see docs/how-to/porting.md (Known differences).

Needs torch: python scripts/lockstep_char_rnn.py [gru|relu]
"""
# The same char-level GRU LM in both libraries, in lock-step: identical initial weights (PyTorch's,
# copied), identical batches (NumPy indices), AdamW + clip_grad_norm_; any semantic difference in
# the training step shows up as a drift between the two loss curves.
import sys

import numpy as np
import torch

import chainrule as cr
import chainrule.nn as cnn
import chainrule.nn.functional as cF
import chainrule.optim as copt

text = (
    "to be or not to be that is the question whether tis nobler in the mind to suffer "
    "the slings and arrows of outrageous fortune or to take arms against a sea of troubles "
) * 6
chars = sorted(set(text))
ids = np.array([chars.index(c) for c in text])
V = len(chars)
split = int(0.85 * len(ids))
T = 24
nonlin = sys.argv[1] if len(sys.argv) > 1 else "gru"


def build(nn):
    class M(nn.Module):
        def __init__(s):
            super().__init__()
            s.emb = nn.Embedding(V, 16)
            s.rnn = (
                nn.GRU(16, 64, batch_first=True)
                if nonlin == "gru"
                else nn.RNN(16, 64, nonlinearity="relu", batch_first=True)
            )
            s.head = nn.Linear(64, V)

        def forward(s, x):
            return s.head(s.rnn(s.emb(x))[0])

    return M()


torch.manual_seed(0)
tm = build(torch.nn)
cm = build(cnn)
cm.load_state_dict({k: cr.tensor(v.detach().numpy().copy()) for k, v in tm.state_dict().items()})
lr = 1e-2 if nonlin == "gru" else 2e-2
to = torch.optim.AdamW(tm.parameters(), lr=lr)
co = copt.AdamW(cm.parameters(), lr=lr)
rng = np.random.default_rng(0)


def batch(lo, hi, n):
    st = rng.integers(lo, hi - T - 1, n)
    x = np.stack([ids[s : s + T] for s in st])
    y = np.stack([ids[s + 1 : s + T + 1] for s in st])
    return x, y


testx, testy = batch(split, len(ids), 64)
for step in range(301):
    x, y = batch(0, split, 32)
    lt = torch.nn.functional.cross_entropy(tm(torch.from_numpy(x)).reshape(-1, V), torch.from_numpy(y).reshape(-1))
    lc = cF.cross_entropy(cm(cr.tensor(x)).reshape(-1, V), cr.tensor(y).reshape(-1))
    to.zero_grad()
    lt.backward()
    torch.nn.utils.clip_grad_norm_(tm.parameters(), 1.0)
    to.step()
    co.zero_grad()
    lc.backward()
    cnn.utils.clip_grad_norm_(cm.parameters(), 1.0)
    co.step()
    if step % 100 == 0:
        with torch.no_grad():
            tt = torch.nn.functional.cross_entropy(
                tm(torch.from_numpy(testx)).reshape(-1, V), torch.from_numpy(testy).reshape(-1)
            ).item()
        with cr.no_grad():
            ct = cF.cross_entropy(cm(cr.tensor(testx)).reshape(-1, V), cr.tensor(testy).reshape(-1)).item()
        wd = max(
            float(np.abs(p.detach().numpy() - q.detach().numpy()).max())
            for p, q in zip(tm.parameters(), cm.parameters())
        )
        print(
            f"step {step}: train {lt.item():.6f} vs {lc.item():.6f}  test {tt:.6f} vs {ct:.6f}  max |w diff| {wd:.2e}"
        )
