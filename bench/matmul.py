"""A single large float32 matmul, forward and backward: should cost exactly what BLAS costs."""

from __future__ import annotations

import numpy as np

import circuitgrad as cg
import harness
from harness import Config, Row

N = 2048
SEED = 1
TARGET = 1.05


def numpy_matmul(W: np.ndarray, X: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Baseline: loss = sum(D * D) with D = W @ X, and its hand-written gradients."""
    D = W @ X
    loss = (D * D).sum()
    dD = 2 * D
    dW = dD @ X.T
    dX = W.T @ dD
    return float(loss), dW, dX


def engine_matmul(W, X):
    W.grad = None
    X.grad = None
    D = W @ X
    loss = (D * D).sum()
    loss.backward()
    return loss


def bench_matmul(cfg: Config) -> list[Row]:
    rng = np.random.default_rng(SEED)
    # Scaled so D has entries of order 1 and the float32 sum stays well within range.
    W = rng.standard_normal((N, N), dtype=np.float32) / np.float32(np.sqrt(N))
    X = rng.standard_normal((N, N), dtype=np.float32)
    Wt = cg.tensor(W, requires_grad=True)
    Xt = cg.tensor(X, requires_grad=True)

    want_loss, want_dW, want_dX = numpy_matmul(W, X)
    loss = engine_matmul(Wt, Xt)
    harness.check_close("matmul loss", float(loss.data), want_loss, rtol=1e-4)
    for what, got, want in (("dW", Wt.grad, want_dW), ("dX", Xt.grad, want_dX)):
        if got is None:
            raise AssertionError(f"matmul: no gradient {what}")
        if got.dtype != np.float32:
            raise AssertionError(f"matmul: {what} is {got.dtype}; float32 must stay float32")
        harness.check_close(f"matmul {what}", got, want, rtol=1e-4,
                            atol=1e-5 * float(np.abs(want).max()))
    del loss, want_dW, want_dX

    harness.freeze()
    # One rep already takes most of a second, so: few blocks of one rep each.
    timing = harness.alternate(lambda: numpy_matmul(W, X), lambda: engine_matmul(Wt, Xt),
                               blocks=cfg.slow_blocks, reps=1)
    return [harness.timing_row(f"matmul {N}x{N} f32 fwd+bwd", "NumPy", timing, "ms/pass", 1e3,
                               target=TARGET)]
