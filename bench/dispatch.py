"""The MLP step written as a plain-NumPy function and differentiated with cg.value_and_grad.

Users with NumPy code get its gradient without rewriting it: NumPy hands calls on tensors to
circuitgrad through its dispatch protocols. This measures what that costs beside the same
network written with the Tensor API (mlp.py) and beside hand-written NumPy.
"""

from __future__ import annotations

import numpy as np

import circuitgrad as cg
import harness
import mlp
from harness import Config, Row

BATCH = 64
TARGET_VS_TENSOR_API = 1.15


def numpy_loss(p: dict, X: np.ndarray, y: np.ndarray, rows: np.ndarray):
    """The forward pass as a student writes it in NumPy; no circuitgrad in sight."""
    h = np.maximum(X @ p["W1"] + p["b1"], 0)
    scores = h @ p["W2"] + p["b2"]
    shifted = scores - np.max(scores, axis=1, keepdims=True)
    log_probs = shifted - np.log(np.sum(np.exp(shifted), axis=1, keepdims=True))
    return -np.mean(log_probs[rows, y])


loss_and_grad = cg.value_and_grad(numpy_loss)


def dispatch_step(p: dict, X: np.ndarray, y: np.ndarray, rows: np.ndarray) -> None:
    _, grads = loss_and_grad(p, X, y, rows)
    for name, g in grads.items():
        p[name] -= mlp.LR * g


def _verify() -> None:
    params, X, y = mlp.make_problem(BATCH)
    rows = np.arange(BATCH)
    want_loss, want = mlp.numpy_grads({k: v.copy() for k, v in params.items()}, X, y, rows)
    loss, grads = loss_and_grad(params, X, y, rows)
    harness.check_close("dispatch MLP loss", float(loss), want_loss, rtol=1e-5)
    for name in mlp.PARAM_NAMES:
        if grads[name].dtype != np.float32:
            raise AssertionError(f"dispatch MLP: d{name} is {grads[name].dtype}, not float32")
        harness.check_close(f"dispatch MLP d{name}", grads[name], want[name], rtol=1e-4,
                            atol=1e-5 * float(np.abs(want[name]).max()))


def bench_dispatch_mlp(cfg: Config) -> list[Row]:
    _verify()
    params, X, y = mlp.make_problem(BATCH)
    rows = np.arange(BATCH)
    base_p = {k: v.copy() for k, v in params.items()}
    numpy_p = {k: v.copy() for k, v in params.items()}
    tensor_p = mlp._engine_params(params)
    Xt = cg.tensor(X)
    harness.freeze()

    def hand_written():
        mlp.numpy_step(base_p, X, y, rows)

    def tensor_api():
        mlp.engine_step(tensor_p, Xt, y, rows)

    def plain_numpy():
        dispatch_step(numpy_p, X, y, rows)

    vs_numpy = harness.measure(hand_written, plain_numpy, cfg)
    vs_tensor = harness.measure(tensor_api, plain_numpy, cfg)
    return [
        harness.timing_row(f"MLP step, NumPy code + value_and_grad b={BATCH}", "NumPy",
                           vs_numpy, "ms/step", 1e3),
        harness.timing_row(f"MLP step, NumPy code + value_and_grad b={BATCH}", "Tensor API",
                           vs_tensor, "ms/step", 1e3, target=TARGET_VS_TENSOR_API),
    ]
