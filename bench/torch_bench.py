#!/usr/bin/python3
"""torch_bench.py — bench.c's configurations in PyTorch, for the side-by-side table of bench/run.

Same sizes, same step (forward, backward, plain SGD update), same timing: a warm-up, then R timed
repetitions of S steps, tokens/s as the median (min, max) of the repetitions. Run it with Debian's
python3-torch (1.13) under /usr/bin/python3. bench/run sets the environment that makes the
comparison fair (OPENBLAS_CORETYPE, OMP_WAIT_POLICY, the glibc malloc settings); this script only
sets the thread counts: torch.set_num_threads(n) for its OpenMP pool and, since that call leaves
OpenBLAS alone, openblas_set_num_threads(n) in the OpenBLAS torch loaded.

    /usr/bin/python3 bench/torch_bench.py [--config a,b,c,d,tape] [--threads 1,2] [--reps N]
                                          [--quick] [--csv FILE]
"""
import argparse
import ctypes
import gc
import os
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

# The configurations of bench.c (CONFIGS there): keep the two in step.
CONFIGS = [
    dict(name="a-lstm", model="rnn_lm", cell="lstm", vocab=10000, emb=200, hidden=200, layers=2,
         batch=20, seq=35, classes=10000),
    dict(name="a-gru", model="rnn_lm", cell="gru", vocab=10000, emb=200, hidden=200, layers=2,
         batch=20, seq=35, classes=10000),
    dict(name="a-elman", model="rnn_lm", cell="elman", vocab=10000, emb=200, hidden=200, layers=2,
         batch=20, seq=35, classes=10000),
    # The char LM's embedding is 512 wide (= hidden), as in bench.c.
    dict(name="b-char", model="rnn_lm", cell="lstm", vocab=65, emb=512, hidden=512, layers=2,
         batch=64, seq=100, classes=65),
    dict(name="c-tagger", model="tagger", cell="lstm", vocab=20000, emb=100, hidden=128, layers=1,
         batch=32, seq=40, classes=45),
    dict(name="d-window", model="window_lm", cell=None, vocab=10000, emb=100, hidden=512, layers=1,
         batch=256, seq=4, classes=10000),
]
POOL = 4  # batches of random ids, cycled
CHAIN = 1000  # ops per tape in the micro-benchmark

RNN_CLASS = {"lstm": nn.LSTM, "gru": nn.GRU, "elman": nn.RNN}


def selected(items, name):
    """An item selects the configurations whose name it is, or whose name starts "item-"."""
    return any(name == it or name.startswith(it + "-") for it in items)


def tokens_per_step(c):
    return c["batch"] if c["model"] == "window_lm" else c["seq"] * c["batch"]


class RnnModel(nn.Module):
    """Embedding, a stacked (or bidirectional) RNN, a linear output: the LMs and the tagger."""

    def __init__(self, c):
        super().__init__()
        bidir = c["model"] == "tagger"
        self.emb = nn.Embedding(c["vocab"], c["emb"])
        self.rnn = RNN_CLASS[c["cell"]](c["emb"], c["hidden"], num_layers=c["layers"],
                                        bidirectional=bidir)
        self.out = nn.Linear(c["hidden"] * (2 if bidir else 1), c["classes"])

    def forward(self, x, state):  # x: T x B ids, time-major
        h, state = self.rnn(self.emb(x), state)
        return self.out(h.reshape(-1, h.shape[-1])), state


class WindowLM(nn.Module):
    """Bengio's fixed-window LM: the window's embeddings side by side, tanh hidden, output."""

    def __init__(self, c):
        super().__init__()
        self.emb = nn.Embedding(c["vocab"], c["emb"])
        self.fc = nn.Linear(c["seq"] * c["emb"], c["hidden"])
        self.out = nn.Linear(c["hidden"], c["classes"])

    def forward(self, x, state):  # x: B x window ids
        e = self.emb(x).reshape(x.shape[0], -1)
        return self.out(torch.tanh(self.fc(e))), state


def detach(state):
    if state is None:
        return None
    if isinstance(state, tuple):
        return tuple(s.detach() for s in state)
    return state.detach()


class Bench:
    def __init__(self, c, seed):
        torch.manual_seed(seed)
        self.c = c
        self.model = WindowLM(c) if c["model"] == "window_lm" else RnnModel(c)
        self.opt = torch.optim.SGD(self.model.parameters(), lr=0.05)
        T, B = c["seq"], c["batch"]
        shape = (B, T) if c["model"] == "window_lm" else (T, B)
        self.x = [torch.randint(c["vocab"], shape) for _ in range(POOL)]
        self.y = [torch.randint(c["classes"], (tokens_per_step(c),)) for _ in range(POOL)]
        self.state = None  # the LMs carry it (detached) across windows; the tagger starts at 0
        self.carry = c["model"] == "rnn_lm"
        self.k = 0
        self.loss = float("nan")

    def step(self):
        k = self.k % POOL
        self.k += 1
        self.opt.zero_grad(set_to_none=True)  # the faster of the two: no fill of the gradients
        logits, state = self.model(self.x[k], self.state if self.carry else None)
        loss = F.cross_entropy(logits, self.y[k])
        loss.backward()
        self.opt.step()
        if self.carry:
            self.state = detach(state)
        self.loss = loss.item()


def openblas():
    """The OpenBLAS library torch loaded (through libblas.so.3), or None."""
    with open("/proc/self/maps") as f:
        paths = {line.split()[-1] for line in f if "/" in line}
    for p in sorted(paths):
        base = os.path.basename(p)
        if base.startswith(("libopenblas", "libblas")) and ".so" in base:
            try:
                lib = ctypes.CDLL(p)
                lib.openblas_set_num_threads  # raises when this libblas is not OpenBLAS
                lib.openblas_get_corename.restype = ctypes.c_char_p
                return lib
            except (OSError, AttributeError):
                continue
    return None


def set_threads(n, blas):
    torch.set_num_threads(n)
    if blas is not None:
        blas.openblas_set_num_threads(n)


def run_config(b, threads, o):
    c = b.c
    gc.collect()
    t_step = 0.0
    for _ in range(o.warmup):
        t0 = time.perf_counter()
        b.step()
        t_step = time.perf_counter() - t0
    steps = max(1, int(-(-o.rep_seconds // max(t_step, 1e-6))))
    tok = tokens_per_step(c)
    tok_s, ms = [], []
    gc.disable()
    try:
        for _ in range(o.reps):
            t0 = time.perf_counter()
            for _ in range(steps):
                b.step()
            dt = time.perf_counter() - t0
            tok_s.append(steps * tok / dt)
            ms.append(1e3 * dt / steps)
    finally:
        gc.enable()
    return dict(config=c["name"], threads=threads, unit="tok/s", median=statistics.median(tok_s),
                min=min(tok_s), max=max(tok_s), tokens_per_step=tok, steps_per_rep=steps,
                reps=o.reps, step_ms=statistics.median(ms), loss=b.loss)


def bench_tape(o):
    """A chain of CHAIN add/mul on 1-element tensors: autograd's cost per recorded op."""
    torch.set_num_threads(1)
    a = torch.tensor([0.5], requires_grad=True)
    c = torch.tensor([0.5], requires_grad=True)

    def chain():
        y = a
        for _ in range(CHAIN // 2):
            y = (y + a) * c
        return y

    def fwdbwd():
        chain().backward()
        a.grad = None
        c.grad = None

    iters = 20 if o.quick else 100
    for _ in range(5):
        fwdbwd()
    fwd, both = [], []
    for _ in range(o.reps):
        t0 = time.perf_counter()
        for _ in range(iters):
            chain()
        fwd.append(1e9 * (time.perf_counter() - t0) / (iters * CHAIN))
        t0 = time.perf_counter()
        for _ in range(iters):
            fwdbwd()
        both.append(1e9 * (time.perf_counter() - t0) / (iters * CHAIN))
    rows = []
    for name, v in (("tape-fwd", fwd), ("tape-fwdbwd", both)):
        rows.append(dict(config=name, threads=1, unit="ns/op", median=statistics.median(v),
                         min=min(v), max=max(v), tokens_per_step=CHAIN, steps_per_rep=iters,
                         reps=o.reps, step_ms="", loss=""))
    return rows


FIELDS = ["config", "threads", "unit", "median", "min", "max", "tokens_per_step", "steps_per_rep",
          "reps", "step_ms", "loss"]


def fmt(v):
    return f"{v:.4f}" if isinstance(v, float) else str(v)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", default="a,b,c,d,tape")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--reps", type=int, default=0)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--rep-seconds", type=float, default=0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--csv", default="bench-torch.csv", help="- for none")
    o = ap.parse_args()
    o.warmup = 2 if o.quick else 3
    o.rep_seconds = o.rep_seconds or (0.2 if o.quick else 1.0)
    o.reps = o.reps or (5 if o.quick else 7)
    items = [s for s in o.config.split(",") if s]
    threads = [int(t) for t in o.threads.split(",") if t]

    blas = openblas()
    core = blas.openblas_get_corename().decode() if blas is not None else "not found"
    print(f"torch bench: PyTorch {torch.__version__}, {'quick' if o.quick else 'full'}; "
          f"OpenBLAS core {core} (OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', 'unset')}"
          f", OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'unset')}); "
          f"{o.reps} reps of ~{o.rep_seconds:g} s after {o.warmup} warm-up steps")
    if blas is None:
        print("warning: no OpenBLAS found in the process: its thread count is left as it is")
    print(f"\n{'config':<9} {'thr':>3} {'tok/s':>9} {'min-max':>19} {'ms/step':>8} {'loss':>7}")

    rows = []
    for c in CONFIGS:
        if not selected(items, c["name"]):
            continue
        b = Bench(c, o.seed)
        for n in threads:
            set_threads(n, blas)
            r = run_config(b, n, o)
            rows.append(r)
            rng = f"{r['min']:.0f}-{r['max']:.0f}"
            print(f"{r['config']:<9} {n:>3} {r['median']:>9.0f} {rng:>19} {r['step_ms']:>8.2f} "
                  f"{r['loss']:>7.3f}", flush=True)
        del b
    if "tape" in items:
        t = bench_tape(o)
        rows += t
        print(f"\ntape: a chain of {CHAIN} add/mul on 1-element tensors, 1 thread")
        for label, r in (("forward only", t[0]), ("forward + backward", t[1])):
            print(f"  {label:<19} {r['median']:8.1f} ns/op ({r['min']:.1f}-{r['max']:.1f})")
    if o.csv != "-":
        with open(o.csv, "w") as f:
            f.write(",".join(FIELDS) + "\n")
            for r in rows:
                f.write(",".join(fmt(r[k]) for k in FIELDS) + "\n")
        print(f"\nwrote {o.csv}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
