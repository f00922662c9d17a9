"""cg.compile against hand-written code: the notes' staged example at scalar points, and the
784-256-10 float32 MLP loss-and-gradients step (plus its SGD update).

(a) f(x, y) = (x + sigmoid(y)) / (sigmoid(x) + (x + y)**2) with its gradient, one call per
point, Python floats: the baseline is the notes' staged code written out by hand (floats and
``math``), the candidate ``cg.compile(f, argnums=(0, 1))``, whose generated code is plain
Python for Python-number inputs.
(b) The MLP step of bench/mlp.py: the baseline is its hand-written NumPy forward and backward
pass, the candidate the same loss written as NumPy code and compiled; both then apply the
same in-place SGD update.
"""

from __future__ import annotations

import math

import numpy as np

import circuitgrad as cg
import harness
import mlp
from circuitgrad import nn
from harness import Config, Row

N_POINTS = 1000  # points per repetition (one call each)
SEED = 14


def notes_staged(x: float, y: float) -> tuple[float, tuple[float, float]]:
    """The notes' staged example, forward then backward, by hand: notes_examples's
    notes_staged_code, returning the results rather than a dict of every intermediate
    (building the dict would cost the baseline more than its arithmetic)."""
    sigy = 1.0 / (1 + math.exp(-y))  # (1)
    num = x + sigy  # (2)
    sigx = 1.0 / (1 + math.exp(-x))  # (3)
    xpy = x + y  # (4)
    xpysqr = xpy**2  # (5)
    den = sigx + xpysqr  # (6)
    invden = 1.0 / den  # (7)
    f = num * invden  # (8)
    dnum = invden  # (8)
    dinvden = num  # (8)
    dden = (-1.0 / (den**2)) * dinvden  # (7)
    dsigx = (1) * dden  # (6)
    dxpysqr = (1) * dden  # (6)
    dxpy = (2 * xpy) * dxpysqr  # (5)
    dx = (1) * dxpy  # (4)
    dy = (1) * dxpy  # (4)
    dx += ((1 - sigx) * sigx) * dsigx  # (3)
    dx += (1) * dnum  # (2)
    dsigy = (1) * dnum  # (2)
    dy += ((1 - sigy) * sigy) * dsigy  # (1)
    return f, (dx, dy)


def staged_f(x, y):
    return (x + cg.sigmoid(y)) / (cg.sigmoid(x) + (x + y) ** 2)


def bench_compiled_scalar(cfg: Config) -> list[Row]:
    rng = np.random.default_rng(SEED)
    points = [(float(a), float(b)) for a, b in rng.uniform(-3, 3, (N_POINTS, 2))]
    compiled = cg.compile(staged_f, argnums=(0, 1))
    for x, y in points[:50]:
        value, grads = compiled(x, y)
        want, want_grads = notes_staged(x, y)
        harness.check_close("staged f", value, want, rtol=1e-12)
        harness.check_close("staged grads", grads, want_grads, rtol=1e-10, atol=1e-14)
    if compiled.traces != 1:
        raise AssertionError("compiled staged example traced more than once")
    harness.freeze()

    def base(points=points):
        for x, y in points:
            notes_staged(x, y)

    def cand(points=points, compiled=compiled):
        for x, y in points:
            compiled(x, y)

    timing = harness.measure(base, cand, cfg)
    return [harness.timing_row("staged example, compiled, per point", "hand staged", timing,
                               "us/point", 1e6 / N_POINTS, target=1.5)]


def mlp_loss(W1, b1, W2, b2, X, y):
    """The MLP's loss as NumPy code (what a user writes); cg.compile differentiates it."""
    h = cg.relu(X @ W1 + b1)
    scores = h @ W2 + b2
    return nn.softmax_cross_entropy(scores, y)


def bench_compiled_mlp(cfg: Config) -> list[Row]:
    rows_out = []
    compiled = cg.compile(mlp_loss, argnums=(0, 1, 2, 3))
    for batch in mlp.BATCHES:
        params, X, y = mlp.make_problem(batch)
        rows = np.arange(batch)
        want_loss, want = mlp.numpy_grads({k: v.copy() for k, v in params.items()}, X, y, rows)
        loss, grads = compiled(*(params[k] for k in mlp.PARAM_NAMES), X, y)
        harness.check_close(f"compiled MLP b={batch} loss", float(loss), want_loss, rtol=1e-5)
        for name, g in zip(mlp.PARAM_NAMES, grads, strict=True):
            if g.dtype != np.float32:
                raise AssertionError(f"compiled MLP: d{name} is {g.dtype}")
            harness.check_close(f"compiled MLP b={batch} d{name}", g, want[name], rtol=1e-4,
                                atol=1e-5 * float(np.abs(want[name]).max()))
        base_p = {k: v.copy() for k, v in params.items()}
        cand_p = {k: v.copy() for k, v in params.items()}
        harness.freeze()

        def base(base_p=base_p, X=X, y=y, rows=rows):
            mlp.numpy_step(base_p, X, y, rows)

        def cand(p=cand_p, X=X, y=y, compiled=compiled):
            _, grads = compiled(p["W1"], p["b1"], p["W2"], p["b2"], X, y)
            for name, g in zip(mlp.PARAM_NAMES, grads, strict=True):
                p[name] -= mlp.LR * g

        timing = harness.measure(base, cand, cfg)
        # the loss compiled, the update written by the caller in NumPy (as in the baseline)
        name = f"compiled loss + NumPy update b={batch}"
        rows_out.append(harness.timing_row(name, "NumPy", timing, "ms/step", 1e3,
                                           target=0.85 if batch == 64 else 0.95))
        rows_out.append(harness.memory_row(f"{name} memory", "NumPy", harness.peak_bytes(base),
                                           harness.peak_bytes(cand), mlp.MEMORY_TARGET))
    if compiled.traces != len(mlp.BATCHES):
        raise AssertionError(f"compiled MLP traced {compiled.traces} times")
    return rows_out


def _nn_mlp(params):
    """bench/mlp.py's network as an nn model holding copies of ``params``, with SGD."""
    model = nn.Sequential(nn.Linear(mlp.D_IN, mlp.D_HIDDEN), nn.ReLU(),
                          nn.Linear(mlp.D_HIDDEN, mlp.D_OUT))
    for p, name in zip(model.parameters(), mlp.PARAM_NAMES, strict=True):
        p.data = params[name].copy()
    return model, nn.SGD(model.parameters(), lr=mlp.LR)


def nn_step(model, opt):
    """The nn SGD step a user writes: zero_grad, the loss of model(X), backward, step."""
    def step(X, y):
        opt.zero_grad()
        loss = nn.softmax_cross_entropy(model(X), y)
        loss.backward()
        opt.step()
        return loss
    return step


def bench_compiled_step(cfg: Config) -> list[Row]:
    """The whole SGD step compiled (``cg.compile(step, argnums=None)``): an nn step
    (model, loss, backward(), opt.step()) against bench/mlp.py's hand-written NumPy step."""
    rows_out = []
    for batch in mlp.BATCHES:
        params, X, y = mlp.make_problem(batch)
        rows = np.arange(batch)
        model, opt = _nn_mlp(params)
        compiled = cg.compile(nn_step(model, opt), argnums=None)
        want = {k: v.copy() for k, v in params.items()}
        for _ in range(3):  # three steps each: the same parameters
            mlp.numpy_step(want, X, y, rows)
            compiled(X, y)
        for p, name in zip(model.parameters(), mlp.PARAM_NAMES, strict=True):
            harness.check_close(f"compiled step b={batch} {name}", p.data, want[name],
                                rtol=1e-4, atol=1e-6)
        base_p = {k: v.copy() for k, v in params.items()}
        harness.freeze()

        def base(base_p=base_p, X=X, y=y, rows=rows):
            mlp.numpy_step(base_p, X, y, rows)

        def cand(X=X, y=y, compiled=compiled):
            compiled(X, y)

        timing = harness.measure(base, cand, cfg)
        rows_out.append(harness.timing_row(f"compiled nn SGD step b={batch}", "NumPy", timing,
                                           "ms/step", 1e3, target=0.85 if batch == 64 else 0.95))
        base_peak, cand_peak = harness.peak_bytes(base), harness.peak_bytes(cand)
        rows_out.append(harness.memory_row(f"compiled nn SGD step b={batch} memory", "NumPy",
                                           base_peak, cand_peak, mlp.MEMORY_TARGET))
        # the buffers and scratch arrays the compiled step keeps between calls, counted too
        rows_out.append(harness.memory_row(f"compiled nn SGD step b={batch} memory + kept",
                                           "NumPy", base_peak,
                                           cand_peak + compiled.last.kept_bytes,
                                           mlp.MEMORY_TARGET))
        if compiled.traces != 1:
            raise AssertionError(f"compiled step traced {compiled.traces} times")
    return rows_out


def bench_compiled_convnet(cfg: Config) -> list[Row]:
    """One epoch of the digits convnet (``circuitgrad train digits --model convnet-gn``'s
    network, Adam, batch 64), ``nn.fit(compile=True)`` against eager ``nn.fit``. Each block
    is one epoch from the same start, so the compiled side's traces (two batch shapes) are
    in its first block only; the median leaves them out."""
    from circuitgrad.nn.train import build_model, load_split

    X, _, y, _ = load_split("digits", "convnet-gn")

    def epoch(compile_step, cache={}):  # noqa: B006 -- one compiled model per side
        key = bool(compile_step)
        if key not in cache:
            model = build_model("convnet-gn", 0, "digits")
            cache[key] = (model, nn.Adam(model.parameters(), lr=0.01),
                          [p.data.copy() for p in model.parameters()])
        model, opt, start = cache[key]
        for p, s in zip(model.parameters(), start, strict=True):
            p.data[...] = s
        return nn.fit(model, nn.DataLoader((X, y), batch_size=64, seed=0),
                      nn.softmax_cross_entropy, opt, 1, compile=compile_step)

    harness.freeze()
    timing = harness.measure(lambda: epoch(False), lambda: epoch(True), cfg,
                             blocks=cfg.slow_blocks, reps=1)
    return [harness.timing_row("digits convnet-gn epoch, fit(compile=True)", "eager fit",
                               timing, "s/epoch", 1.0)]


def repeated_norm(W, X):
    """A loss as a user might write it, with subexpressions repeated rather than named: the
    centred activations twice, their variance computed from them again."""
    h = X @ W
    centred = h - np.mean(h, axis=1, keepdims=True)
    spread = np.sqrt(np.mean((h - np.mean(h, axis=1, keepdims=True)) ** 2, axis=1,
                             keepdims=True) + 1e-5)
    return np.sum(np.tanh(centred / spread) * cg.sigmoid(X @ W))


def bench_compiled_passes(cfg: Config) -> list[Row]:
    """The circuit passes' effect (common subexpressions; constant folding has nothing to fold
    here): ``cg.compile(f, passes=())`` against the default passes, same function, same
    arguments, float64 (256, 784) @ (784, 256). (float64: at float32 the trace-time check
    of the generated code against the engine is stricter than float32 sums of 65,536 terms
    agree, with or without the passes.)"""
    rng = np.random.default_rng(SEED)
    W = rng.standard_normal((784, 256)) * 0.05
    X = rng.standard_normal((256, 784))
    off = cg.compile(repeated_norm, passes=())
    on = cg.compile(repeated_norm)
    v_off, g_off = off(W, X)
    v_on, g_on = on(W, X)
    harness.check_close("passes value", float(v_on), float(v_off), rtol=1e-5)
    harness.check_close("passes grad", g_on, g_off, rtol=1e-4,
                        atol=1e-5 * float(np.abs(g_off).max()))
    harness.freeze()
    timing = harness.measure(lambda: off(W, X), lambda: on(W, X), cfg)
    return [harness.timing_row("compiled repeated-subexpression loss, cse on", "cse off",
                               timing, "ms/call", 1e3)]
