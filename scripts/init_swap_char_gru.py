"""Initialisation swap, see docs/how-to/porting.md (Known differences). Needs torch."""
# chainrule training only, same batches per seed; initial weights from chainrule's own initialisers
# or from PyTorch's (same seed): does the init alone move the final test loss?
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


def build(nn):
    class M(nn.Module):
        def __init__(s):
            super().__init__()
            s.emb = nn.Embedding(V, 16)
            s.rnn = nn.GRU(16, 64, batch_first=True)
            s.head = nn.Linear(64, V)

        def forward(s, x):
            return s.head(s.rnn(s.emb(x))[0])

    return M()


res = {"chainrule init": [], "torch init": []}
for seed in range(1, 9):
    for which in res:
        cr.manual_seed(seed)
        torch.manual_seed(seed)
        cm = build(cnn)
        if which == "torch init":
            cm.load_state_dict(
                {k: cr.tensor(v.detach().numpy().copy()) for k, v in build(torch.nn).state_dict().items()}
            )
        co = copt.AdamW(cm.parameters(), lr=1e-2)
        rng = np.random.default_rng(100 + seed)

        def batch(lo, hi, n):
            st = rng.integers(lo, hi - T - 1, n)
            return np.stack([ids[s : s + T] for s in st]), np.stack([ids[s + 1 : s + T + 1] for s in st])

        tx, ty = batch(split, len(ids), 128)
        for _step in range(60):
            x, y = batch(0, split, 32)
            l = cF.cross_entropy(cm(cr.tensor(x)).reshape(-1, V), cr.tensor(y).reshape(-1))
            co.zero_grad()
            l.backward()
            cnn.utils.clip_grad_norm_(cm.parameters(), 1.0)
            co.step()
        with cr.no_grad():
            res[which].append(cF.cross_entropy(cm(cr.tensor(tx)).reshape(-1, V), cr.tensor(ty).reshape(-1)).item())
for k, v in res.items():
    print(f"{k}: mean {np.mean(v):.4f} sd {np.std(v, ddof=1):.4f}  {np.round(v, 4).tolist()}")
d = np.array(res["chainrule init"]) - np.array(res["torch init"])
print(f"paired difference: mean {d.mean():+.4f}, standard error {d.std(ddof=1) / np.sqrt(len(d)):.4f}")
