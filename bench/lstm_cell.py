"""The fused LSTM-cell gate against the same step composed of single gates, in one process.

The unfused step is the LSTM's earlier code: slices of the pre-activations, three sigmoids,
two tanh, the products and the sum, each a gate. The fused one is ``nn.functional.lstm_step``
(one ``lstm_cell`` gate for the pointwise part). Both run the same model (nn.LSTM, then a
Linear on the last step, softmax cross-entropy); the layer's step function is swapped between
blocks. After checking the two give the same loss and gradients, alternating blocks time an
Adam step and the forward pass alone, in CPU time (the machine is shared); the figure is
the median ratio fused / unfused.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE PYTHONPATH=src \\
        .venv/bin/python bench/lstm_cell.py [--quick] [--threads N]
"""

# ruff: noqa: E402 -- BLAS reads its thread count when NumPy first loads it
import os
import sys
import time

THREADS = int(sys.argv[sys.argv.index("--threads") + 1]) if "--threads" in sys.argv else 1
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = str(THREADS)

import numpy as np

import circuitgrad as cg
import harness
from circuitgrad import functions as cgf
from circuitgrad import nn
from circuitgrad.nn import functional as F

BATCH, FEATURES, CLASSES = 32, 32, 10


def unfused_step(gates_x, state, weight_hh_t, bias_hh=None):
    """The LSTM step as it was before the fused gate: one gate per operation."""
    h, c = state
    pre = gates_x + h @ weight_hh_t
    if bias_hh is not None:
        pre = pre + bias_hh
    H = h.shape[-1]
    i, f = cgf.sigmoid(pre[:, :H]), cgf.sigmoid(pre[:, H:2 * H])
    g, o = cgf.tanh(pre[:, 2 * H:3 * H]), cgf.sigmoid(pre[:, 3 * H:])
    c = f * c + i * g
    return o * cgf.tanh(c), c


class Classifier(nn.Module):
    def __init__(self, hidden):
        self.rnn = nn.LSTM(FEATURES, hidden)
        self.head = nn.Linear(hidden, CLASSES)

    def forward(self, x):
        out, _ = self.rnn(x)
        return self.head(out[-1])


def with_step(step, fn):
    def run():
        nn.LSTM._step = staticmethod(step)
        return fn()
    return run


def workload(steps, hidden, cfg):
    rng = np.random.default_rng(0)
    X = cg.tensor(rng.standard_normal((steps, BATCH, FEATURES), dtype=np.float32))
    y = rng.integers(0, CLASSES, BATCH)
    nn.manual_seed(0)
    model = Classifier(hidden)
    opt = nn.Adam(model.parameters(), lr=1e-3)

    def grads():
        model.zero_grad()
        loss = nn.softmax_cross_entropy(model(X), y)
        loss.backward()
        return float(loss), [p.grad.copy() for p in model.parameters()]

    (loss_a, ga), (loss_b, gb) = with_step(unfused_step, grads)(), with_step(F.lstm_step,
                                                                            grads)()
    harness.check_close(f"T={steps} H={hidden}: loss", loss_b, loss_a, rtol=1e-6)
    for a, b in zip(ga, gb, strict=True):
        harness.check_close(f"T={steps} H={hidden}: gradients", b, a, rtol=1e-4, atol=1e-6)

    def adam_step():
        opt.zero_grad()
        nn.softmax_cross_entropy(model(X), y).backward()
        opt.step()

    def forward():
        nn.softmax_cross_entropy(model(X), y)

    harness.freeze()
    rows = []
    for what, fn in (("Adam step", adam_step), ("forward", forward)):
        timing = harness.measure(with_step(unfused_step, fn), with_step(F.lstm_step, fn), cfg,
                                 clock=time.process_time)
        rows.append((f"T={steps}, hidden {hidden}, {what}", timing))
    nn.LSTM._step = staticmethod(F.lstm_step)
    return rows


def main():
    cfg, limiter = harness.start("fused LSTM cell vs one gate per operation", THREADS,
                                 sys.argv)
    for steps, hidden in ((20, 64), (50, 128)):
        for name, t in workload(steps, hidden, cfg):
            print(f"{name}: unfused {t.base_median * 1e3:.2f} ms, fused "
                  f"{t.cand_median * 1e3:.2f} ms, ratio fused/unfused {t.ratio:.3f} "
                  f"(blocks {min(t.ratios):.3f}-{max(t.ratios):.3f})")


if __name__ == "__main__":
    main()
