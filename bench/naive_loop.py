"""A convolution written with loops that fill ``out`` entry by entry, as students first write
it, against the same convolution vectorized (im2col and one matmul), both differentiated by
cg.grad. This is what the in-place writes cost: each ``out[n, f, i, j] = ...`` is a
recorded write (issue 10). The vectorized form is the baseline; the ratio says how much a
learner pays for keeping the loops.
"""

from __future__ import annotations

import numpy as np

import circuitgrad as cg
import harness
from harness import Config, Row

N, C, H, W, F, K = 2, 3, 8, 8, 4, 3  # out is 2 x 4 x 6 x 6: 288 writes per forward pass


def conv_loops(x, w, b):
    """The naive forward pass: loops over every output entry, writing into ``out``."""
    n_, _, h, wd = x.shape
    f_, _, kh, kw = w.shape
    out = np.zeros_like(x, shape=(n_, f_, h - kh + 1, wd - kw + 1))  # a tensor in cg.grad
    for n in range(n_):
        for f in range(f_):
            for i in range(h - kh + 1):
                for j in range(wd - kw + 1):
                    out[n, f, i, j] = np.sum(x[n, :, i:i + kh, j:j + kw] * w[f]) + b[f]
    return (out * out).sum()


def conv_vectorized(x, w, b):
    """The same convolution as one matmul over all windows (im2col by stacking slices)."""
    n_, c_, h, wd = x.shape
    f_, _, kh, kw = w.shape
    ho, wo = h - kh + 1, wd - kw + 1
    cols = np.stack([x[:, :, i:i + ho, j:j + wo] for i in range(kh) for j in range(kw)],
                    axis=2)  # (N, C, kh*kw, ho, wo)
    cols = cols.reshape(n_, c_ * kh * kw, ho * wo)
    out = np.einsum("fk,nkp->nfp", w.reshape(f_, -1), cols) + b[None, :, None]
    return (out * out).sum()


grad_loops = cg.grad(conv_loops, argnums=(0, 1, 2))
grad_vectorized = cg.grad(conv_vectorized, argnums=(0, 1, 2))


def bench_naive_loop(cfg: Config) -> list[Row]:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((N, C, H, W))
    w = rng.standard_normal((F, C, K, K))
    b = rng.standard_normal(F)
    for got, want, name in zip(grad_loops(x, w, b), grad_vectorized(x, w, b), "xwb", strict=True):
        harness.check_close(f"naive conv d{name}", got, want, rtol=1e-10)
    harness.freeze()
    vs = harness.measure(lambda: grad_vectorized(x, w, b), lambda: grad_loops(x, w, b), cfg)
    return [harness.timing_row(f"conv fwd+bwd, loops filling out ({N * F * 36} writes)",
                               "vectorized", vs, "ms/pass", 1e3)]
