"""Grouped convolution: circuitgrad's one batched matmul over all groups against one
convolution per group, joined (the code it replaced), in one process.

Both sides are ``nn.functional`` calls on the same tensors: the candidate is
``conv2d(x, w, b, padding=1, groups=G)``; the baseline slices the channels and the filters
per group, runs ``conv2d`` with groups=1 on each and concatenates. After checking the two
agree (values and gradients), alternating blocks time forward + backward in CPU time (the
machine is shared); the figure is the median ratio batched / per-group loop.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE PYTHONPATH=src \\
        .venv/bin/python bench/grouped_conv.py [--quick] [--threads N]
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
from circuitgrad.nn import functional as F


def per_group_loop(x, weight, bias, groups):
    channels, per = weight.shape[1], weight.shape[0] // groups
    outs = [F.conv2d(x[:, k * channels:(k + 1) * channels], weight[k * per:(k + 1) * per],
                     None, padding=1) for k in range(groups)]
    return cgf.concatenate(outs, axis=1) + bias.reshape(1, -1, 1, 1)


def batched(x, weight, bias, groups):
    return F.conv2d(x, weight, bias, padding=1, groups=groups)


def main():
    cfg = harness.Config.quick() if "--quick" in sys.argv else harness.Config(
        blocks=15, block_seconds=0.3)
    limiter = harness.limit_blas_threads(THREADS)  # noqa: F841 -- lasts while alive
    print(f"# grouped Conv2d(32, 64, 3, padding=1) on (32, 32, 16, 16), float32, forward + "
          f"backward ({THREADS} thread(s), {cfg.blocks} alternating blocks, CPU time)")
    for line in harness.machine_lines():
        print(line)
    rng = np.random.default_rng(0)
    for groups in (2, 4, 8):
        x = cg.tensor(rng.standard_normal((32, 32, 16, 16), dtype=np.float32),
                      requires_grad=True)
        w = cg.tensor(0.1 * rng.standard_normal((64, 32 // groups, 3, 3), dtype=np.float32),
                      requires_grad=True)
        b = cg.tensor(rng.standard_normal(64, dtype=np.float32), requires_grad=True)
        upstream = rng.standard_normal((32, 64, 16, 16), dtype=np.float32)

        def run(conv, groups=groups, x=x, w=w, b=b, upstream=upstream):
            def go():
                x.grad = w.grad = b.grad = None
                out = conv(x, w, b, groups)
                out.backward(upstream)
                return out.data, x.grad, w.grad, b.grad
            return go

        for got, want in zip(run(batched)(), run(per_group_loop)(), strict=True):
            harness.check_close(f"groups={groups}", got, want, rtol=1e-4, atol=1e-4)
        harness.freeze()
        t = harness.measure(run(per_group_loop), run(batched), cfg, clock=time.process_time)
        print(f"groups={groups}: per-group loop {t.base_median * 1e3:.2f} ms, batched "
              f"{t.cand_median * 1e3:.2f} ms, ratio {t.ratio:.3f} "
              f"(blocks {min(t.ratios):.3f}-{max(t.ratios):.3f})")


if __name__ == "__main__":
    main()
