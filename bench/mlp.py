"""One SGD step of a 784-256-10 ReLU MLP with mean softmax cross-entropy, in float32.

The baseline is the hand-derived NumPy forward and backward pass in the CS231n staged style;
the candidate writes only the forward pass with circuitgrad tensors and calls backward().
Array-heavy, so the engine's overhead should vanish into the BLAS calls as the batch grows.
"""

from __future__ import annotations

import numpy as np

import circuitgrad as cg
import harness
from harness import Config, Row

D_IN, D_HIDDEN, D_OUT = 784, 256, 10
LR = 0.01
SEED = 0
BATCHES = (64, 1024)
TIME_TARGETS = {64: 1.25, 1024: 1.05}
MEMORY_TARGET = 1.2
PARAM_NAMES = ("W1", "b1", "W2", "b2")


def make_problem(batch: int) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """He-initialised float32 parameters, a random float32 batch and integer labels."""
    rng = np.random.default_rng(SEED)
    params = {
        "W1": rng.standard_normal((D_IN, D_HIDDEN), dtype=np.float32) * np.float32(
            np.sqrt(2 / D_IN)),
        "b1": np.zeros(D_HIDDEN, np.float32),
        "W2": rng.standard_normal((D_HIDDEN, D_OUT), dtype=np.float32) * np.float32(
            np.sqrt(2 / D_HIDDEN)),
        "b2": np.zeros(D_OUT, np.float32),
    }
    X = rng.standard_normal((batch, D_IN), dtype=np.float32)
    y = rng.integers(0, D_OUT, batch)
    return params, X, y


def numpy_grads(
    p: dict[str, np.ndarray], X: np.ndarray, y: np.ndarray, rows: np.ndarray
) -> tuple[float, dict[str, np.ndarray]]:
    """Baseline forward and hand-written backward (CS231n style)."""
    N = X.shape[0]
    h = np.maximum(0, X @ p["W1"] + p["b1"])
    scores = h @ p["W2"] + p["b2"]
    scores -= scores.max(axis=1, keepdims=True)  # stable softmax
    exp_scores = np.exp(scores)
    probs = exp_scores / exp_scores.sum(axis=1, keepdims=True)
    loss = -np.log(probs[rows, y]).mean()

    dscores = probs
    dscores[rows, y] -= 1
    dscores /= N
    dW2 = h.T @ dscores
    db2 = dscores.sum(0)
    dh = dscores @ p["W2"].T
    dh[h <= 0] = 0
    dW1 = X.T @ dh
    db1 = dh.sum(0)
    return float(loss), {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}


def numpy_step(p: dict[str, np.ndarray], X: np.ndarray, y: np.ndarray, rows: np.ndarray) -> None:
    _, grads = numpy_grads(p, X, y, rows)
    for name, g in grads.items():
        p[name] -= LR * g


def engine_loss(p: dict, X, y: np.ndarray, rows: np.ndarray):
    """Candidate forward: the same network written with circuitgrad tensors."""
    h = (X @ p["W1"] + p["b1"]).relu()
    scores = h @ p["W2"] + p["b2"]
    logp = cg.log_softmax(scores, axis=-1)
    return -logp[rows, y].mean()


def engine_step(p: dict, X, y: np.ndarray, rows: np.ndarray) -> None:
    engine_loss(p, X, y, rows).backward()
    for t in p.values():
        t.data -= LR * t.grad
        t.grad = None


def _engine_params(params: dict[str, np.ndarray]) -> dict:
    return {k: cg.tensor(v.copy(), requires_grad=True, name=k) for k, v in params.items()}


def _verify(batch: int) -> None:
    """One step's loss and gradients must match the baseline's, in float32."""
    params, X, y = make_problem(batch)
    rows = np.arange(batch)
    want_loss, want = numpy_grads({k: v.copy() for k, v in params.items()}, X, y, rows)
    p = _engine_params(params)
    loss = engine_loss(p, cg.tensor(X), y, rows)
    loss.backward()
    harness.check_close(f"MLP b={batch} loss", float(loss.data), want_loss, rtol=1e-5)
    for name in PARAM_NAMES:
        grad = p[name].grad
        if grad is None:
            raise AssertionError(f"MLP b={batch}: no gradient on {name}")
        if grad.dtype != np.float32 or p[name].data.dtype != np.float32:
            raise AssertionError(f"MLP b={batch}: {name} is {p[name].data.dtype} with a "
                                 f"{grad.dtype} gradient; float32 must stay float32")
        scale = float(np.abs(want[name]).max())
        harness.check_close(f"MLP b={batch} d{name}", grad, want[name], rtol=1e-4,
                            atol=1e-5 * scale)


def bench_mlp_step(cfg: Config) -> list[Row]:
    for batch in BATCHES:
        _verify(batch)

    rows_out = []
    for batch in BATCHES:
        params, X, y = make_problem(batch)
        rows = np.arange(batch)
        # Each side trains its own copy; both start from the same weights.
        base_p = {k: v.copy() for k, v in params.items()}
        cand_p = _engine_params(params)
        Xt = cg.tensor(X)
        harness.freeze()

        def base(base_p=base_p, X=X, y=y, rows=rows):
            numpy_step(base_p, X, y, rows)

        def cand(cand_p=cand_p, Xt=Xt, y=y, rows=rows):
            engine_step(cand_p, Xt, y, rows)

        timing = harness.measure(base, cand, cfg)
        rows_out.append(harness.timing_row(f"MLP SGD step b={batch}", "NumPy", timing,
                                           "ms/step", 1e3, target=TIME_TARGETS[batch]))
        rows_out.append(harness.memory_row(f"MLP SGD step b={batch} memory", "NumPy",
                                           harness.peak_bytes(base), harness.peak_bytes(cand),
                                           MEMORY_TARGET))
    return rows_out
