"""conv_transpose2d/1d, interpolate (nearest, bilinear), ConvTranspose2d's initialisation and
nn.init.orthogonal_/trunc_normal_ beside PyTorch's: the same numbers.

Forward values and the gradients of every input (of a random weighting of the output) are
compared in float64 on the same inputs, and nearest/bilinear also in float32 (PyTorch
computes the nearest index in float32; circuitgrad mirrors that). The largest difference
of each is printed: absolute up to 1, relative beyond. Initialisation is compared by its
statistics (bounds and spread), since the two libraries draw from different generators.
Not a test (the tests must not need PyTorch); run it where PyTorch is installed::

    PYTHONPATH=src /work/benchenv/bin/python bench/transpose_parity.py

Where PyTorch cannot be imported the script says so and exits 0.
"""

import sys
from pathlib import Path

import numpy as np

try:
    import circuitgrad as cg
except ImportError:  # not installed: use the checkout this script lives in
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
    import circuitgrad as cg

from circuitgrad import nn
from parity import difference

try:
    import torch
except ImportError:
    print("PyTorch is not installed here; nothing to compare")
    sys.exit(0)

RNG = np.random.default_rng(0)
ROWS = []


def compare(name, ours, theirs, inputs):
    """``ours`` on circuitgrad tensors, ``theirs`` on torch tensors made from the same
    ``inputs``; the value and every input's gradient of sum(out * weighting)."""
    cg_in = [cg.tensor(a, requires_grad=True) for a in inputs]
    t_in = [torch.tensor(a, requires_grad=True) for a in inputs]
    out_cg, out_t = ours(*cg_in), theirs(*t_in)
    weighting = RNG.standard_normal(out_t.shape).astype(inputs[0].dtype)
    (out_cg * weighting).sum().backward()
    (out_t * torch.tensor(weighting)).sum().backward()
    grads = max(difference(a.grad, b.grad.numpy()) for a, b in zip(cg_in, t_in, strict=True))
    ROWS.append((name, difference(out_cg.data, out_t.detach().numpy()), grads))


def main():
    F, TF = nn.functional, torch.nn.functional
    # (stride, padding, output_padding, groups, dilation)
    for options in [(1, 0, 0, 1, 1), (2, 1, 1, 1, 1), ((2, 1), (0, 1), (1, 0), 2, 1),
                    ((1, 2), (1, 0), (0, 1), 1, (2, 1)), (3, (2, 1), (2, 0), 2, (2, 3)),
                    (2, 0, 0, 1, 1)]:
        stride, padding, output_padding, groups, dilation = options
        x = RNG.standard_normal((2, 4, 5, 6))
        w = RNG.standard_normal((4, 3, 3, 2))
        b = RNG.standard_normal(3 * groups)
        compare(f"conv_transpose2d s={stride} p={padding} op={output_padding} g={groups} "
                f"d={dilation}",
                lambda x, w, b, o=options: F.conv_transpose2d(x, w, b, *o),
                lambda x, w, b, o=options: TF.conv_transpose2d(x, w, b, *o), [x, w, b])
    x, w, b = RNG.standard_normal((2, 3, 7)), RNG.standard_normal((3, 2, 4)), \
        RNG.standard_normal(2)
    compare("conv_transpose1d s=2 p=1 op=1", lambda x, w, b: F.conv_transpose1d(x, w, b, 2, 1, 1),
            lambda x, w, b: TF.conv_transpose1d(x, w, b, 2, 1, 1), [x, w, b])

    for dtype in (np.float64, np.float32):
        x = RNG.standard_normal((2, 3, 5, 7)).astype(dtype)
        for kwargs in [{"size": (11, 3)}, {"size": (13, 29)}, {"scale_factor": 2},
                       {"scale_factor": (1.7, 0.6)}, {"scale_factor": 3.3},
                       {"scale_factor": (2.1, 1.1)}]:
            for mode, corners in [("nearest", None), ("bilinear", False), ("bilinear", True)]:
                compare(f"interpolate {mode} {kwargs} align_corners={corners} "
                        f"{np.dtype(dtype).name}",
                        lambda x, k=kwargs, m=mode, c=corners: F.interpolate(
                            x, mode=m, align_corners=c, **k),
                        lambda x, k=kwargs, m=mode, c=corners: TF.interpolate(
                            x, mode=m, align_corners=c, **k), [x])

    x = RNG.standard_normal((2, 3, 5, 7))
    for name in ("UpsamplingNearest2d", "UpsamplingBilinear2d"):
        ours, theirs = getattr(nn, name)(size=(9, 12)), getattr(torch.nn, name)(size=(9, 12))
        compare(f"interpolate by {name}(size=(9, 12)) float64", ours, theirs, [x])

    # initialisation: the same bound and spread (different generators, so statistics only)
    ours, theirs = nn.ConvTranspose2d(64, 32, 3, stride=2), torch.nn.ConvTranspose2d(64, 32, 3, 2)
    for part in ("weight", "bias"):
        a, t = getattr(ours, part).data, getattr(theirs, part).detach().numpy()
        ROWS.append((f"ConvTranspose2d init {part}: max |w| ratio, std ratio - 1",
                     abs(np.abs(a).max() / np.abs(t).max() - 1), abs(a.std() / t.std() - 1)))
    q = nn.init.orthogonal_(np.zeros((20, 50)), gain=1.5)
    qt = torch.nn.init.orthogonal_(torch.zeros(20, 50), gain=1.5).numpy()
    ROWS.append(("orthogonal_ (20, 50): |Q Q^T - gain^2 I|, both", float(
        np.abs(q @ q.T - 2.25 * np.eye(20)).max()), float(np.abs(qt @ qt.T - 2.25 * np.eye(20))
                                                           .max())))
    t = nn.init.trunc_normal_(np.zeros(400_000), 0.5, 2.0, -1.0, 3.0)
    tt = torch.nn.init.trunc_normal_(torch.zeros(400_000, dtype=torch.float64), 0.5, 2.0,
                                     -1.0, 3.0).numpy()
    ROWS.append(("trunc_normal_ N(0.5, 2) in [-1, 3]: mean diff, std diff",
                 abs(t.mean() - tt.mean()), abs(t.std() - tt.std())))

    width = max(len(r[0]) for r in ROWS)
    print(f"torch {torch.__version__}")
    print(f"{'what':{width}}  {'value diff':>12}  {'grad diff':>12}")
    for name, value, grad in ROWS:
        print(f"{name:{width}}  {value:12.3g}  {grad:12.3g}")
    exact = [r for r in ROWS if r[0].startswith(("conv", "interpolate"))]
    worst64 = max(max(v, g) for n, v, g in exact if "float32" not in n)
    worst32 = max(max(v, g) for n, v, g in exact if "float32" in n)
    print(f"worst difference, float64: {worst64:.3g}; float32: {worst32:.3g}")
    return 0 if worst64 < 1e-12 and worst32 < 1e-5 else 1  # nan fails too


if __name__ == "__main__":
    sys.exit(main())
