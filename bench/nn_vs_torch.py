"""circuitgrad.nn beside PyTorch CPU on the same networks, in the same process.

Two workloads, float32, 2 threads on both sides:

* one training epoch of the digits convnet of ``circuitgrad train digits --model convnet``
  (1,437 images, batch 64, Adam, batch-norm in training mode);
* one SGD step of the 784-256-10 ReLU MLP with softmax cross-entropy at batch 64.

Both sides start from the same weights and are checked to compute the same loss before
anything is timed. Timing alternates blocks of each side (bench/harness.py), after
gc.freeze(); the figure is the median of the per-block ratios circuitgrad / PyTorch.

PyTorch is not a dependency of circuitgrad: install it in this benchmark's own environment
(the CPU wheel; a plain ``pip install torch`` would pull a CUDA build)::

    python3 -m venv /tmp/torchbench
    /tmp/torchbench/bin/pip install torch==2.13.0 numpy scikit-learn
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE PYTHONPATH=src \\
        /tmp/torchbench/bin/python bench/nn_vs_torch.py [--quick] [--blocks N]

Where PyTorch cannot be imported the script says so and exits 0.
"""

# ruff: noqa: E402 -- BLAS reads its thread count when NumPy first loads it
import os

THREADS = 2
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = str(THREADS)

import argparse
import sys
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
TARGETS = {"mlp": 1.0, "convnet": 2.0}  # the aims: no slower, within 2x


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
                                   stride=layer.stride, padding=layer.padding)
            twin.weight.data = torch.from_numpy(layer.weight.data.copy())
            twin.bias.data = torch.from_numpy(layer.bias.data.copy())
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


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke check, not a measurement")
    parser.add_argument("--blocks", type=int, default=None, help="blocks per side")
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
    for name, make, unit, scale in [
            ("digits convnet epoch (1,437 images, batch 64, Adam)", convnet_workload,
             "ms/epoch", 1e3),
            ("784-256-10 MLP SGD step, batch 64", mlp_workload, "ms/step", 1e3)]:
        key = "convnet" if "convnet" in name else "mlp"
        print(f"running {key} ...", file=sys.stderr, flush=True)
        torch_fn, cg_fn = make(torch)
        harness.freeze()
        reps = (harness.reps_for(torch_fn, cfg.block_seconds),
                harness.reps_for(cg_fn, cfg.block_seconds))
        with harness.OtherLoad() as other:
            timing = harness.alternate(torch_fn, cg_fn, blocks, reps)
        rows.append(harness.timing_row(name, "PyTorch", timing, unit, scale, TARGETS[key]))
        if other.cores is not None:
            print(f"  {key}: other processes kept {other.cores:.2f} cores busy meanwhile",
                  file=sys.stderr, flush=True)
    print(harness.format_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
