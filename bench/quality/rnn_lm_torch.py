#!/usr/bin/python3
"""The RNN language model of examples/rnn_lm written in PyTorch, trained the same way: for
bench/quality/rnn_lm_vs_torch.sh, which checks that seqgrad's validation loss is within 2% of it.

Same everything but the library:
  - data: the id files `rnn_lm train --dump-ids PREFIX` writes (PREFIX.train.i32, .valid.i32),
    cut into lanes as models/text.h does (lane b holds tokens [b L, (b+1) L), L = n // B; window w
    reads steps [w T, w T + T) of every lane and predicts the token after each; the last window
    may be shorter);
  - initial weights: the checkpoint `rnn_lm train --save-init PATH` writes (safetensors, read here
    with json and numpy), converted from seqgrad's row form (x W) to PyTorch's (W x);
  - truncated BPTT with the state carried across windows and zeroed at each epoch's start;
    Adam (betas 0.9, 0.999, eps 1e-8), the gradient's norm clipped; float32;
  - validation: the dumped validation ids in B lanes and windows of T, the state carried, dropout
    off; the mean cross-entropy over every predicted token.

Prints progress lines and, last, "torch: valid_loss X train_seconds Y".
"""
import argparse
import json
import math
import struct
import sys
import time

import numpy as np
import torch
import torch.nn as nn


def read_safetensors(path):
    """{name: float32 array} of a safetensors file (8-byte length, JSON header, raw data)."""
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dtype = {"F32": np.float32, "F64": np.float64}[info["dtype"]]
        a, b = info["data_offsets"]
        out[name] = np.frombuffer(data[a:b], dtype=dtype).reshape(info["shape"]).astype(np.float32)
    return out


class RNNLM(nn.Module):
    """embedding -> dropout -> RNN (dropout between layers) -> dropout -> linear."""

    def __init__(self, cell, vocab, embed, hidden, layers, dropout):
        super().__init__()
        self.embed = nn.Embedding(vocab, embed)
        rnn = {"lstm": nn.LSTM, "gru": nn.GRU, "elman": nn.RNN}[cell]
        kw = {"nonlinearity": "tanh"} if cell == "elman" else {}
        self.rnn = rnn(embed, hidden, layers, dropout=dropout if layers > 1 else 0, **kw)
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(hidden, vocab)
        self.cell = cell

    def forward(self, x, state):
        h, state = self.rnn(self.drop(self.embed(x)), state)
        return self.out(self.drop(h)), state

    def load_seqgrad(self, w, layers):
        """Weights of a seqgrad checkpoint: E as is; x Wx + bx + h Wh + bh is PyTorch's
        W_ih x + b_ih + W_hh h + b_hh with W_ih = Wxᵀ, same gate order; out.W is Wᵀ."""
        t = lambda a: torch.from_numpy(np.ascontiguousarray(a))
        with torch.no_grad():
            self.embed.weight.copy_(t(w["embed.E"]))
            for k in range(layers):
                getattr(self.rnn, f"weight_ih_l{k}").copy_(t(w[f"rnn.l{k}.Wx"].T))
                getattr(self.rnn, f"weight_hh_l{k}").copy_(t(w[f"rnn.l{k}.Wh"].T))
                getattr(self.rnn, f"bias_ih_l{k}").copy_(t(w[f"rnn.l{k}.bx"].reshape(-1)))
                getattr(self.rnn, f"bias_hh_l{k}").copy_(t(w[f"rnn.l{k}.bh"].reshape(-1)))
            self.out.weight.copy_(t(w["out.W"].T))
            self.out.bias.copy_(t(w["out.b"].reshape(-1)))


def lanes(ids, B):
    """(L, B): column b is lane b, tokens [b L, (b+1) L)."""
    L = len(ids) // B
    return torch.from_numpy(ids[: L * B].reshape(B, L).T.astype(np.int64).copy())


def windows(L, T):
    return (L - 1 + T - 1) // T


def window(data, T, w):
    t0 = w * T
    Tw = min(T, data.shape[0] - 1 - t0)
    return data[t0 : t0 + Tw], data[t0 + 1 : t0 + Tw + 1]


def detach(state):
    return tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()


def zeros(model, layers, B, hidden):
    h = torch.zeros(layers, B, hidden)
    return (h, torch.zeros(layers, B, hidden)) if model.cell == "lstm" else h


def evaluate(model, data, T, layers, B, hidden):
    model.eval()
    total, count = 0.0, 0
    state = zeros(model, layers, B, hidden)
    with torch.no_grad():
        for w in range(windows(data.shape[0], T)):
            x, y = window(data, T, w)
            logits, state = model(x, state)
            loss = nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
            total += loss.item() * y.numel()
            count += y.numel()
    model.train()
    return total / count


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--ids", required=True, help="PREFIX of PREFIX.train.i32 and PREFIX.valid.i32")
    p.add_argument("--init", required=True, help="initial weights (rnn_lm --save-init)")
    p.add_argument("--cell", default="lstm", choices=["lstm", "gru", "elman"])
    p.add_argument("--layers", type=int, default=1)
    p.add_argument("--embed", type=int, required=True)
    p.add_argument("--hidden", type=int, required=True)
    p.add_argument("--dropout", type=float, default=0.0)
    p.add_argument("--bptt", type=int, required=True)
    p.add_argument("--batch", type=int, required=True)
    p.add_argument("--lr", type=float, required=True)
    p.add_argument("--clip", type=float, default=5.0)
    p.add_argument("--steps", type=int, required=True)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)  # dropout masks only: the weights come from --init

    train = lanes(np.fromfile(a.ids + ".train.i32", dtype="<i4"), a.batch)
    valid = lanes(np.fromfile(a.ids + ".valid.i32", dtype="<i4"), a.batch)
    w = read_safetensors(a.init)
    V = w["embed.E"].shape[0]
    model = RNNLM(a.cell, V, a.embed, a.hidden, a.layers, a.dropout)
    model.load_seqgrad(w, a.layers)
    opt = torch.optim.Adam(model.parameters(), lr=a.lr, betas=(0.9, 0.999), eps=1e-8)
    per_epoch = windows(train.shape[0], a.bptt)
    print(f"torch: {V} tokens in the vocabulary, {train.numel()} training tokens in {a.batch} "
          f"lanes, {per_epoch} windows per epoch, {a.steps} steps, {a.threads} threads",
          flush=True)

    t0 = time.time()
    state = None
    done, loss_sum = 0, 0.0
    for step in range(a.steps):
        wi = step % per_epoch
        if wi == 0:
            state = zeros(model, a.layers, a.batch, a.hidden)
        x, y = window(train, a.bptt, wi)
        logits, state = model(x, state)
        state = detach(state)
        loss = nn.functional.cross_entropy(logits.reshape(-1, V), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        if a.clip > 0:
            nn.utils.clip_grad_norm_(model.parameters(), a.clip)
        opt.step()
        if not math.isfinite(loss.item()):
            sys.exit(f"torch: the loss is {loss.item()} at step {step + 1}")
        loss_sum += loss.item()
        done += 1
        if step == 0 or (step + 1) % 250 == 0 or step + 1 == a.steps:
            print(f"torch: step {step + 1} train_loss {loss_sum / done:.4f} "
                  f"({time.time() - t0:.0f} s)", flush=True)
            loss_sum, done = 0.0, 0
    seconds = time.time() - t0
    v = evaluate(model, valid, a.bptt, a.layers, a.batch, a.hidden)
    print(f"torch: valid_loss {v:.6f} train_seconds {seconds:.1f}", flush=True)


if __name__ == "__main__":
    main()
