"""circuitgrad.nn beside PyTorch CPU on the same networks, in the same process.

Workloads, float32, 2 threads on both sides (OpenBLAS for NumPy, torch.set_num_threads;
``--threads N`` sets another count for both):

* one training epoch of the digits convnet of ``circuitgrad train digits --model convnet``
  (1,437 images, batch 64, Adam, batch-norm in training mode);
* one SGD step of the 784-256-10 ReLU MLP with softmax cross-entropy at batch 64, and of
  the same MLP with a LayerNorm after the hidden layer;
* one Adam step of a sequence classifier: an LSTM (or GRU) over T steps of batch 32, then a
  Linear on the last step's output (T = 20, hidden 64; T = 50, hidden 128);
* one SGD step of a grouped (groups=4) and of a depthwise (groups=C) 3x3 convolution on
  (32, 32, 16, 16), global average pooling and a Linear.

Both sides start from the same weights and are checked to compute the same loss before
anything is timed. Timing alternates blocks of each side (bench/harness.py), after
gc.freeze(); the figure is the median of the per-block ratios circuitgrad / PyTorch.

PyTorch is not a dependency of circuitgrad: install it in this benchmark's own environment
(the CPU wheel; a plain ``pip install torch`` would pull a CUDA build)::

    python3 -m venv /tmp/torchbench
    /tmp/torchbench/bin/pip install torch==2.13.0 numpy scikit-learn
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE PYTHONPATH=src \\
        /tmp/torchbench/bin/python bench/nn_vs_torch.py [--quick] [--blocks N] [--threads N]
        [--only NAME]

Where PyTorch cannot be imported the script says so and exits 0.
"""

# ruff: noqa: E402 -- BLAS reads its thread count when NumPy first loads it
import os
import sys


def _threads(argv):
    """``--threads N`` (default 2), read before NumPy loads BLAS; argparse only documents it."""
    for i, arg in enumerate(argv):
        if arg == "--threads" and i + 1 < len(argv):
            return int(argv[i + 1])
        if arg.startswith("--threads="):
            return int(arg.split("=", 1)[1])
    return 2


THREADS = _threads(sys.argv)
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = str(THREADS)

import argparse
from pathlib import Path

import numpy as np

try:
    import circuitgrad as cg
except ImportError:  # not installed: use the checkout this script lives in
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
    import circuitgrad as cg

import harness
from circuitgrad import nn
from circuitgrad.nn import train as digits
from harness import Row

BATCH = 64
MLP_SIZES = (784, 256, 10)
MLP_LR = 0.01
CONVNET_LR = 0.01
SEQ_BATCH, SEQ_FEATURES, SEQ_CLASSES = 32, 32, 10


# ----- the same weights on both sides ---------------------------------------------------------
def torch_twin(model, torch):
    """A torch.nn.Sequential with the layers and the current weights of a circuitgrad one."""
    layers = []
    for layer in model:
        if isinstance(layer, nn.Linear):
            twin = torch.nn.Linear(layer.in_features, layer.out_features)
            twin.weight.data = torch.from_numpy(layer.weight.data.T.copy())  # (out, in)
            twin.bias.data = torch.from_numpy(layer.bias.data.copy())
        elif isinstance(layer, nn.Conv2d):
            twin = torch.nn.Conv2d(layer.in_channels, layer.out_channels, layer.kernel_size,
                                   stride=layer.stride, padding=layer.padding,
                                   dilation=layer.dilation, groups=layer.groups)
            twin.weight.data = torch.from_numpy(layer.weight.data.copy())
            twin.bias.data = torch.from_numpy(layer.bias.data.copy())
        elif isinstance(layer, nn.LayerNorm):
            twin = torch.nn.LayerNorm(layer.normalized_shape, eps=layer.eps)
            twin.weight.data = torch.from_numpy(layer.weight.data.copy())
            twin.bias.data = torch.from_numpy(layer.bias.data.copy())
        elif isinstance(layer, nn.AdaptiveAvgPool2d):
            twin = torch.nn.AdaptiveAvgPool2d(layer.output_size)
        elif isinstance(layer, nn.BatchNorm2d):
            twin = torch.nn.BatchNorm2d(layer.num_features, eps=layer.eps,
                                        momentum=layer.momentum)
            twin.weight.data = torch.from_numpy(layer.weight.data.copy())
            twin.bias.data = torch.from_numpy(layer.bias.data.copy())
        elif isinstance(layer, nn.MaxPool2d):
            twin = torch.nn.MaxPool2d(layer.kernel_size, layer.stride)
        elif isinstance(layer, nn.ReLU):
            twin = torch.nn.ReLU()
        elif isinstance(layer, nn.Flatten):
            twin = torch.nn.Flatten()
        else:
            raise TypeError(f"no PyTorch twin for {type(layer).__name__}")
        layers.append(twin)
    return torch.nn.Sequential(*layers)


def cg_step(model, optimizer):
    def step(xb, yb):
        loss = nn.softmax_cross_entropy(model(xb), yb)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return float(loss)
    return step


def torch_step(model, optimizer, torch):
    loss_fn = torch.nn.CrossEntropyLoss()

    def step(xb, yb):
        loss = loss_fn(model(xb), yb)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return loss.item()
    return step


def check_same_losses(what, cg_losses, torch_losses):
    harness.check_close(f"{what}: losses of the first steps, circuitgrad vs PyTorch",
                        cg_losses, torch_losses, rtol=1e-4, atol=1e-5)


# ----- workloads ------------------------------------------------------------------------------
def mlp_workload(torch):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((BATCH, MLP_SIZES[0]), dtype=np.float32)
    y = rng.integers(0, MLP_SIZES[2], BATCH)
    nn.manual_seed(0)
    model = nn.Sequential(nn.Linear(*MLP_SIZES[:2]), nn.ReLU(), nn.Linear(*MLP_SIZES[1:]))
    twin = torch_twin(model, torch)
    ours = cg_step(model, nn.SGD(model.parameters(), lr=MLP_LR))
    theirs = torch_step(twin, torch.optim.SGD(twin.parameters(), lr=MLP_LR), torch)
    Xc, Xt, yt = cg.tensor(X), torch.from_numpy(X), torch.from_numpy(y)
    check_same_losses("mlp", [ours(Xc, y) for _ in range(3)],
                      [theirs(Xt, yt) for _ in range(3)])
    return (lambda: theirs(Xt, yt)), (lambda: ours(Xc, y))


def layernorm_mlp_workload(torch):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((BATCH, MLP_SIZES[0]), dtype=np.float32)
    y = rng.integers(0, MLP_SIZES[2], BATCH)
    nn.manual_seed(0)
    model = nn.Sequential(nn.Linear(*MLP_SIZES[:2]), nn.LayerNorm(MLP_SIZES[1]), nn.ReLU(),
                          nn.Linear(*MLP_SIZES[1:]))
    return sgd_workload(model, X, y, torch)


def grouped_conv_workload(groups):
    def make(torch):
        rng = np.random.default_rng(0)
        X = rng.standard_normal((32, 32, 16, 16), dtype=np.float32)
        y = rng.integers(0, 10, 32)
        nn.manual_seed(0)
        out = 64 if groups < 32 else 32
        model = nn.Sequential(nn.Conv2d(32, out, 3, padding=1, groups=groups), nn.ReLU(),
                              nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(out, 10))
        return sgd_workload(model, X, y, torch)
    return make


def sgd_workload(model, X, y, torch):
    twin = torch_twin(model, torch)
    ours = cg_step(model, nn.SGD(model.parameters(), lr=MLP_LR))
    theirs = torch_step(twin, torch.optim.SGD(twin.parameters(), lr=MLP_LR), torch)
    Xc, Xt, yt = cg.tensor(X), torch.from_numpy(X), torch.from_numpy(y)
    check_same_losses(type(model[0]).__name__, [ours(Xc, y) for _ in range(3)],
                      [theirs(Xt, yt) for _ in range(3)])
    return (lambda: theirs(Xt, yt)), (lambda: ours(Xc, y))


class SequenceClassifier(nn.Module):
    """A recurrent layer over (T, N, features), then a Linear on the last step's output."""

    def __init__(self, kind, hidden):
        self.rnn = getattr(nn, kind)(SEQ_FEATURES, hidden)
        self.head = nn.Linear(hidden, SEQ_CLASSES)

    def forward(self, x):
        out, _ = self.rnn(x)
        return self.head(out[-1])


def recurrent_workload(kind, steps, hidden):
    def make(torch):
        rng = np.random.default_rng(0)
        X = rng.standard_normal((steps, SEQ_BATCH, SEQ_FEATURES), dtype=np.float32)
        y = rng.integers(0, SEQ_CLASSES, SEQ_BATCH)
        nn.manual_seed(0)
        model = SequenceClassifier(kind, hidden)

        class TorchTwin(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.rnn = getattr(torch.nn, kind)(SEQ_FEATURES, hidden)
                # PyTorch's names and layout: the state dict goes across as it is
                self.rnn.load_state_dict({k: torch.from_numpy(v)
                                          for k, v in model.rnn.state_dict().items()})
                self.head = torch.nn.Linear(hidden, SEQ_CLASSES)
                self.head.weight.data = torch.from_numpy(model.head.weight.data.T.copy())
                self.head.bias.data = torch.from_numpy(model.head.bias.data.copy())

            def forward(self, x):
                out, _ = self.rnn(x)
                return self.head(out[-1])
        twin = TorchTwin()
        ours = cg_step(model, nn.Adam(model.parameters(), lr=1e-3))
        theirs = torch_step(twin, torch.optim.Adam(twin.parameters(), lr=1e-3), torch)
        Xc, Xt, yt = cg.tensor(X), torch.from_numpy(X), torch.from_numpy(y)
        check_same_losses(kind, [ours(Xc, y) for _ in range(3)],
                          [theirs(Xt, yt) for _ in range(3)])
        return (lambda: theirs(Xt, yt)), (lambda: ours(Xc, y))
    return make


def convnet_workload(torch):
    X_train, _, y_train, _ = digits.load_digits_split("convnet")
    model = digits.build_model("convnet", seed=0)
    twin = torch_twin(model, torch)
    ours = cg_step(model, nn.Adam(model.parameters(), lr=CONVNET_LR))
    theirs = torch_step(twin, torch.optim.Adam(twin.parameters(), lr=CONVNET_LR), torch)
    first = slice(0, BATCH)
    check_same_losses(
        "convnet",
        [ours(X_train[first], y_train[first]) for _ in range(3)],
        [theirs(torch.from_numpy(X_train[first]), torch.from_numpy(y_train[first]))
         for _ in range(3)])
    cg_loader = nn.DataLoader((X_train, y_train), batch_size=BATCH, seed=0)
    torch_loader = nn.DataLoader((X_train, y_train), batch_size=BATCH, seed=0)

    def cg_epoch():
        for xb, yb in cg_loader:
            ours(xb, yb)

    def torch_epoch():
        for xb, yb in torch_loader:
            theirs(torch.from_numpy(xb), torch.from_numpy(yb))

    return torch_epoch, cg_epoch


# name, title, workload, unit, target (the aims for the first two: within 2x, no slower)
WORKLOADS = [
    ("convnet", "digits convnet epoch (1,437 images, batch 64, Adam)",
     convnet_workload, "ms/epoch", 2.0),
    ("mlp", "784-256-10 MLP SGD step, batch 64", mlp_workload, "ms/step", 1.0),
    ("layernorm", "784-256-LayerNorm-10 MLP SGD step, batch 64", layernorm_mlp_workload,
     "ms/step", None),
    ("lstm20", "LSTM(32, 64) over T=20, batch 32, Adam step", recurrent_workload("LSTM", 20, 64),
     "ms/step", None),
    ("lstm50", "LSTM(32, 128) over T=50, batch 32, Adam step",
     recurrent_workload("LSTM", 50, 128), "ms/step", None),
    ("gru20", "GRU(32, 64) over T=20, batch 32, Adam step", recurrent_workload("GRU", 20, 64),
     "ms/step", None),
    ("grouped", "Conv2d(32, 64, 3, groups=4) on (32, 32, 16, 16), SGD step",
     grouped_conv_workload(4), "ms/step", None),
    ("depthwise", "Conv2d(32, 32, 3, groups=32) on (32, 32, 16, 16), SGD step",
     grouped_conv_workload(32), "ms/step", None),
]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke check, not a measurement")
    parser.add_argument("--blocks", type=int, default=None, help="blocks per side")
    parser.add_argument("--threads", type=int, default=2,
                        help="threads on both sides: OpenBLAS's and torch.set_num_threads")
    parser.add_argument("--only", action="append", choices=[w[0] for w in WORKLOADS],
                        help="run only this workload (repeatable)")
    args = parser.parse_args(argv)
    try:
        import torch
    except ImportError:
        print("skipped: PyTorch is not importable from this Python; see the set-up in "
              "bench/nn_vs_torch.py's docstring (it is deliberately not a dependency)")
        return 0
    torch.set_num_threads(THREADS)
    limiter = harness.limit_blas_threads(THREADS)  # noqa: F841 -- lasts while alive
    cfg = harness.Config.quick() if args.quick else harness.Config(blocks=15,
                                                                    block_seconds=0.3)
    blocks = args.blocks or cfg.blocks

    print("# circuitgrad.nn vs PyTorch CPU")
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    for line in harness.machine_lines():
        print(line)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"method: alternating blocks, {blocks} per side of ~{cfg.block_seconds:.1f} s; "
          f"median of per-block ratios circuitgrad/PyTorch; gc.freeze() after set-up")
    if args.quick:
        print("QUICK MODE: smoke check only, numbers are not meaningful")
    print(flush=True)

    rows: list[Row] = []
    for key, name, make, unit, target in WORKLOADS:
        if args.only and key not in args.only:
            continue
        print(f"running {key} ...", file=sys.stderr, flush=True)
        torch_fn, cg_fn = make(torch)
        harness.freeze()
        reps = (harness.reps_for(torch_fn, cfg.block_seconds),
                harness.reps_for(cg_fn, cfg.block_seconds))
        with harness.OtherLoad() as other:
            timing = harness.alternate(torch_fn, cg_fn, blocks, reps)
        rows.append(harness.timing_row(name, "PyTorch", timing, unit, 1e3, target))
        if other.cores is not None:
            print(f"  {key}: other processes kept {other.cores:.2f} cores busy meanwhile",
                  file=sys.stderr, flush=True)
    print(harness.format_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
