"""circuitgrad.nn's RNN, LSTM and GRU beside PyTorch's: same state_dict, same numbers.

Each layer's ``state_dict()`` is loaded into PyTorch's layer of the same configuration as it
is, by name (which works only because the names and shapes are PyTorch's), then both run
the same input and initial state in float64, and the outputs, final states and gradients
(of every parameter and of the input) are compared. Dropout is left out: the two libraries'
random masks differ. Not a test (the tests must not need PyTorch); run it where PyTorch is
installed (see bench/nn_vs_torch.py for the environment)::

    PYTHONPATH=src /tmp/torchbench/bin/python bench/recurrent_parity.py

Where PyTorch cannot be imported the script says so and exits 0.
"""

import itertools
import sys
from pathlib import Path

import numpy as np

try:
    import circuitgrad as cg
except ImportError:  # not installed: use the checkout this script lives in
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
    import circuitgrad as cg

from circuitgrad import nn

CONFIGS = [dict(num_layers=layers, bidirectional=bi, batch_first=bf, bias=bias)
           for layers, bi, bf, bias in itertools.product((1, 2), (False, True), (False, True),
                                                         (True, False))]


def compare(kind, config, torch, rng):
    ours = getattr(nn, kind)(3, 4, rng=rng, dtype=np.float64, **config)
    theirs = getattr(torch.nn, kind)(3, 4, dtype=torch.float64, **config)
    theirs.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})
    directions = 2 if config["bidirectional"] else 1
    x = rng.standard_normal((2, 5, 3))
    states = [rng.standard_normal((config["num_layers"] * directions, 2 if config["batch_first"]
                                   else 5, 4)) for _ in range(2 if kind == "LSTM" else 1)]
    weights = rng.standard_normal((2, 5, 4 * directions))

    xt = torch.from_numpy(x).requires_grad_()
    st = [torch.from_numpy(s) for s in states]
    out_t, final_t = theirs(xt, tuple(st) if kind == "LSTM" else st[0])
    finals_t = final_t if kind == "LSTM" else (final_t,)
    loss_t = (out_t * torch.from_numpy(weights)).sum() + sum((f * f).sum() for f in finals_t)
    loss_t.backward()

    xc = cg.tensor(x, requires_grad=True)
    out_c, final_c = ours(xc, tuple(states) if kind == "LSTM" else states[0])
    finals_c = final_c if kind == "LSTM" else (final_c,)
    loss_c = (out_c * weights).sum() + sum((f * f).sum() for f in finals_c)
    loss_c.backward()

    pairs = [("output", out_c.data, out_t.detach().numpy()),
             ("input gradient", xc.grad, xt.grad.numpy())]
    pairs += [(f"final state {i}", c.data, t.detach().numpy())
              for i, (c, t) in enumerate(zip(finals_c, finals_t, strict=True))]
    torch_params = dict(theirs.named_parameters())
    pairs += [(f"d {name}", p.grad, torch_params[name].grad.numpy())
              for name, p in ours.named_parameters()]
    return max(float(np.max(np.abs(a - b))) for _, a, b in pairs), len(pairs)


def main():
    try:
        import torch
    except ImportError:
        print("skipped: PyTorch is not importable from this Python (see bench/nn_vs_torch.py)")
        return 0
    rng = np.random.default_rng(0)
    print(f"torch {torch.__version__}; float64; largest |circuitgrad - PyTorch| over output, "
          f"final state, input and parameter gradients")
    worst = 0.0
    for kind in ("RNN", "LSTM", "GRU"):
        for config in CONFIGS:
            err, count = compare(kind, config, torch, rng)
            worst = max(worst, err)
            options = ", ".join(f"{k}={v}" for k, v in config.items())
            print(f"{kind}({options}): {count} arrays, max difference {err:.1e}")
    print(f"worst: {worst:.1e}")
    return 0 if worst < 1e-10 else 1


if __name__ == "__main__":
    sys.exit(main())
