"""Grouped convolution: circuitgrad's one batched matmul over all groups against one
convolution per group, joined (the code it replaced), in one process; and for depthwise
convolution (one input channel per group) the same batched matmul against the sum of taps.

Grouped: both sides are ``nn.functional`` calls on the same tensors: the candidate is
``conv2d(x, w, b, padding=1, groups=G)``; the baseline slices the channels and the filters
per group, runs ``conv2d`` with groups=1 on each and concatenates. Depthwise: the two
stagings conv2d chooses between (``_depthwise``, ``_grouped``) on the same windows, with
and without the input's gradient, one and two filters per channel. After checking the two
sides agree (values and gradients), alternating blocks time forward + backward in CPU time
(the machine is shared); the figure is the median ratio candidate / baseline.

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
from circuitgrad.gates import nn as gates
from circuitgrad.nn import functional as F
from circuitgrad.tensor import apply


def per_group_loop(x, weight, bias, groups):
    channels, per = weight.shape[1], weight.shape[0] // groups
    outs = [F.conv2d(x[:, k * channels:(k + 1) * channels], weight[k * per:(k + 1) * per],
                     None, padding=1) for k in range(groups)]
    return cgf.concatenate(outs, axis=1) + bias.reshape(1, -1, 1, 1)


def batched(x, weight, bias, groups):
    return F.conv2d(x, weight, bias, padding=1, groups=groups)


def depthwise_staging(staging):
    def conv(x, weight, bias, groups):
        windows = apply(gates.unfold, (x,), {"kernel": (3, 3), "stride": (1, 1),
                                             "padding": (1, 1)})
        return staging(windows, weight, bias, groups)
    return conv


def compare(what, baseline, candidate, x, w, b, groups, cfg, rng):
    """Check the two convolutions agree, then time forward + backward alternately."""
    upstream = rng.standard_normal((32, w.shape[0], 16, 16), dtype=np.float32)

    def run(conv):
        def go():
            x.grad = w.grad = b.grad = None
            out = conv(x, w, b, groups)
            out.backward(upstream)
            return out.data, w.grad, b.grad
        return go
    for got, want in zip(run(candidate)(), run(baseline)(), strict=True):
        harness.check_close(what, got, want, rtol=1e-4, atol=1e-4)
    harness.freeze()
    return harness.measure(run(baseline), run(candidate), cfg, clock=time.process_time)


def main():
    cfg, limiter = harness.start("grouped and depthwise Conv2d(32, F, 3, padding=1) on "
                                 "(32, 32, 16, 16), float32, forward + backward", THREADS,
                                 sys.argv)
    rng = np.random.default_rng(0)

    def tensors(filters, groups, x_grad=True):
        return (cg.tensor(rng.standard_normal((32, 32, 16, 16), dtype=np.float32),
                          requires_grad=x_grad),
                cg.tensor(0.1 * rng.standard_normal((filters, 32 // groups, 3, 3),
                                                    dtype=np.float32), requires_grad=True),
                cg.tensor(rng.standard_normal(filters, dtype=np.float32), requires_grad=True))
    for groups in (2, 4, 8):
        t = compare(f"groups={groups}", per_group_loop, batched, *tensors(64, groups), groups,
                    cfg, rng)
        print(f"groups={groups}, 64 filters: per-group loop {t.base_median * 1e3:.2f} ms, "
              f"batched {t.cand_median * 1e3:.2f} ms, ratio {t.ratio:.3f} "
              f"(blocks {min(t.ratios):.3f}-{max(t.ratios):.3f})")
    for x_grad in (True, False):
        for filters in (32, 64):
            t = compare(f"depthwise, {filters} filters", depthwise_staging(F._depthwise),
                        depthwise_staging(F._grouped), *tensors(filters, 32, x_grad), 32,
                        cfg, rng)
            print(f"depthwise, {filters} filters, input gradient {x_grad}: sum of taps "
                  f"{t.base_median * 1e3:.2f} ms, batched matmul {t.cand_median * 1e3:.2f} ms, "
                  f"ratio {t.ratio:.3f} (blocks {min(t.ratios):.3f}-{max(t.ratios):.3f})")


if __name__ == "__main__":
    main()
