"""ConvTranspose2d's speed beside Conv2d's: the same products, run the other way.

A transposed convolution from (N, C_in, H, W) to (N, C_out, OH, OW) does the multiply-adds
of the convolution from (N, C_out, OH, OW) back to (N, C_in, H, W) with the same weight.
The baseline is that conv2d (forward and backward, float32), the candidate
conv_transpose2d (forward and backward): its matmul and fold are conv2d's backward stages,
its backward conv2d's forward ones, so the ratio should be near 1. Run::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE .venv/bin/python bench/conv_transpose.py
"""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import circuitgrad as cg  # noqa: E402
import harness  # noqa: E402
from circuitgrad import nn  # noqa: E402

F = nn.functional
# (N, C_in, H, W, C_out, K, stride, padding, output_padding)
CASES = [(16, 64, 8, 8, 32, 4, 2, 1, 0), (16, 32, 16, 16, 16, 3, 2, 1, 1),
         (32, 16, 14, 14, 8, 3, 1, 1, 0)]


def main():
    harness.limit_blas_threads(1)  # one thread: steadier on a shared machine
    rng = np.random.default_rng(0)
    cfg = harness.Config()
    print("BLAS threads: 1")
    print(f"{'case':48} {'conv2d ms':>10} {'transpose ms':>13} {'ratio':>7}  blocks' ratios")
    for n, c_in, h, w, c_out, k, s, p, op in CASES:
        x = cg.tensor(rng.standard_normal((n, c_in, h, w)).astype(np.float32),
                      requires_grad=True)
        weight = cg.tensor((rng.standard_normal((c_in, c_out, k, k)) * 0.1).astype(np.float32),
                           requires_grad=True)
        out_shape = F.conv_transpose2d(x, weight, stride=s, padding=p, output_padding=op).shape
        y = cg.tensor(rng.standard_normal(out_shape).astype(np.float32), requires_grad=True)
        assert F.conv2d(y, weight, stride=s, padding=p).shape == x.shape

        def conv(y=y, weight=weight, s=s, p=p):
            F.conv2d(y, weight, stride=s, padding=p).sum().backward()

        def transpose(x=x, weight=weight, s=s, p=p, op=op):
            F.conv_transpose2d(x, weight, stride=s, padding=p, output_padding=op).sum() \
                .backward()
        harness.freeze()
        timing = harness.measure(conv, transpose, cfg)
        name = f"({n},{c_in},{h},{w}) -> {tuple(out_shape)} k={k} s={s}"
        ratios = ", ".join(f"{r:.2f}" for r in sorted(timing.ratios))
        print(f"{name:48} {timing.base_median * 1e3:10.3f} "
              f"{float(np.median(timing.cand)) * 1e3:13.3f} {timing.ratio:7.3f}  {ratios}")


if __name__ == "__main__":
    main()
