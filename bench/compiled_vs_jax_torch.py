"""The 784-256-10 float32 MLP SGD step: JAX jit, torch.compile and cg.compile, each paired
against bench/mlp.py's hand-written NumPy step in alternating blocks, in one process.

JAX and PyTorch are not dependencies of circuitgrad; they live in this benchmark's own
environment::

    python3 -m venv /work/benchenv
    /work/benchenv/bin/pip install torch==2.13.0 jax jaxlib numpy
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE PYTHONPATH=src \\
        /work/benchenv/bin/python bench/compiled_vs_jax_torch.py [--quick] [--only jax,torch]

Where JAX or PyTorch cannot be imported its rows are skipped with a message saying so.

The steps: the same network, loss (mean softmax cross-entropy) and update (w -= lr * g) on
every side, starting from the same weights, checked to give the same loss and weights as the
NumPy step before anything is timed.

- ``jax``: ``jax.jit`` of value_and_grad plus the update, the parameters donated
  (``donate_argnums``: XLA may write the new parameters into the old ones' memory);
  ``block_until_ready`` on the result.
- ``torch.compile``: ``torch.compile`` of the forward and loss (Inductor; the backward is
  compiled by AOTAutograd), ``loss.backward()``, then the update under ``no_grad`` in place.
  ``torch eager`` is the same step without ``torch.compile``.
- ``cg.compile``: the nn step of bench/compiled.py (``Sequential``, SGD).

Threads: 2 everywhere (OpenBLAS for NumPy, torch.set_num_threads, XLA's CPU thread pool).
"""

# ruff: noqa: E402 -- BLAS reads its thread count when NumPy first loads it
import os
import sys

THREADS = 2
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, str(THREADS))
os.environ.setdefault("XLA_FLAGS", f"--xla_cpu_multi_thread_eigen=true "
                                   f"intra_op_parallelism_threads={THREADS}")

from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
try:
    import circuitgrad as cg
except ImportError:  # not installed in this environment: the checkout's
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
    import circuitgrad as cg

import harness
import mlp
from harness import Row


def _problem(batch):
    params, X, y = mlp.make_problem(batch)
    rows = np.arange(batch)
    return params, X, y, rows


def _numpy_reference(params, X, y, rows, steps=3):
    p = {k: v.copy() for k, v in params.items()}
    for _ in range(steps):
        mlp.numpy_step(p, X, y, rows)
    return p


def _check(name, got, want):
    for k in mlp.PARAM_NAMES:
        harness.check_close(f"{name} {k}", np.asarray(got[k]), want[k], rtol=1e-4, atol=1e-6)


def jax_rows(cfg, batch):
    try:
        import jax
        import jax.numpy as jnp
    except ImportError as e:
        print(f"  jax: skipped (cannot import jax: {e})")
        return []
    params, X, y, rows = _problem(batch)

    def loss(p, X, y):
        h = jnp.maximum(X @ p["W1"] + p["b1"], 0)
        scores = h @ p["W2"] + p["b2"]
        logp = jax.nn.log_softmax(scores, axis=1)
        return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1))

    def step(p, X, y):
        value, g = jax.value_and_grad(loss)(p, X, y)
        return {k: p[k] - mlp.LR * g[k] for k in p}, value

    jstep = jax.jit(step, donate_argnums=0)
    Xj, yj = jnp.asarray(X), jnp.asarray(y)
    p = {k: jnp.asarray(v) for k, v in params.items()}
    for _ in range(3):
        p, _ = jstep(p, Xj, yj)
    _check(f"jax b={batch}", {k: np.asarray(v) for k, v in p.items()},
           _numpy_reference(params, X, y, rows))
    state = [p]
    base_p = {k: v.copy() for k, v in params.items()}
    harness.freeze()

    def base():
        mlp.numpy_step(base_p, X, y, rows)

    def cand():
        new, value = jstep(state[0], Xj, yj)
        value.block_until_ready()
        state[0] = new

    timing = harness.measure(base, cand, cfg)
    return [harness.timing_row(f"JAX jit SGD step b={batch} ({jax.__version__})", "NumPy",
                               timing, "ms/step", 1e3)]


def torch_rows(cfg, batch):
    try:
        import torch
        import torch.nn.functional as F
    except ImportError as e:
        print(f"  torch: skipped (cannot import torch: {e})")
        return []
    torch.set_num_threads(THREADS)
    params, X, y, rows = _problem(batch)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    out = []
    for compiled in (False, True):
        p = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}

        def forward_loss(X, y, p=p):
            h = F.relu(X @ p["W1"] + p["b1"])
            return F.cross_entropy(h @ p["W2"] + p["b2"], y)

        run = torch.compile(forward_loss) if compiled else forward_loss
        name = "torch.compile" if compiled else "torch eager"

        def step(run=run, p=p):
            loss = run(Xt, yt)
            loss.backward()
            with torch.no_grad():
                for t in p.values():
                    t -= mlp.LR * t.grad
                    t.grad = None

        try:
            for _ in range(3):
                step()
        except Exception as e:  # noqa: BLE001 -- say why and go on with the other rows
            print(f"  {name}: failed ({type(e).__name__}: {str(e).splitlines()[0][:200]})")
            continue
        _check(f"{name} b={batch}", {k: v.detach().numpy() for k, v in p.items()},
               _numpy_reference(params, X, y, rows))
        base_p = {k: v.copy() for k, v in params.items()}
        harness.freeze()

        def base(base_p=base_p):
            mlp.numpy_step(base_p, X, y, rows)

        timing = harness.measure(base, step, cfg)
        out.append(harness.timing_row(f"{name} SGD step b={batch} ({torch.__version__})",
                                      "NumPy", timing, "ms/step", 1e3))
    return out


def cg_rows(cfg, batch):
    import compiled as compiled_bench

    params, X, y, rows = _problem(batch)
    model, opt = compiled_bench._nn_mlp(params)
    fast = cg.compile(compiled_bench.nn_step(model, opt), argnums=None)
    for _ in range(3):
        fast(X, y)
    _check(f"cg.compile b={batch}", {k: p.data for k, p in
                                     zip(mlp.PARAM_NAMES, model.parameters(), strict=True)},
           _numpy_reference(params, X, y, rows))
    base_p = {k: v.copy() for k, v in params.items()}
    harness.freeze()

    def base():
        mlp.numpy_step(base_p, X, y, rows)

    timing = harness.measure(base, lambda: fast(X, y), cfg)
    core = "compiled core" if cg.compiled.core_is_compiled() else "pure-Python core"
    return [harness.timing_row(f"cg.compile SGD step b={batch} ({core})", "NumPy", timing,
                               "ms/step", 1e3)]


SIDES = {"jax": jax_rows, "torch": torch_rows, "cg": cg_rows}


def main(argv):
    cfg, limiter = harness.start("MLP SGD step: JAX jit, torch.compile, cg.compile vs NumPy",
                                 THREADS, argv)
    only = next((a.split("=", 1)[1] for a in argv if a.startswith("--only=")), None)
    if "--only" in argv:
        only = argv[argv.index("--only") + 1]
    names = only.split(",") if only else list(SIDES)
    rows: list[Row] = []
    for batch in mlp.BATCHES:
        for name in names:
            rows += SIDES[name](cfg, batch)
    print(harness.format_table(rows))
    del limiter


if __name__ == "__main__":
    main(sys.argv[1:])
