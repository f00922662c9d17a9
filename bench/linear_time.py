"""Time that should grow linearly with the size of the problem: each pattern at n and at 10n,
in alternating blocks within one process; the ratio should be about 10x.

The first three are NumPy-style loops over parts of one tensor, forward and backward: each
``x[i]`` is a getitem gate whose gradient the walk adds into one buffer for ``x`` (Gate.vjp_add);
with a zero array of x's size per gate they were quadratic. The last one only builds (and
frees) a long circuit of scalar gates with Python's cyclic garbage collector on, as it is by
default. Each gate makes a Tensor; when every one was tracked, each full collection read
the whole circuit. Compiled, the fast paths hide them from the collector (core/node.py,
keep_tracked); as pure Python they are still tracked, and this row is superlinear.
"""

from __future__ import annotations

import numpy as np

import circuitgrad as cg
import harness
from harness import Config, Row

N = 5_000  # entries (and rows) of the indexing patterns: 5,000 against 50,000
GATES = 60_000  # gates of the built circuit: 60,000 against 600,000
TARGET = 13.0  # 10x plus room for noise and caches: quadratic would be about 100x


def entries_loop(values):
    """``s = x[0]; for i in range(1, n): s = s + x[i]``, then backward."""
    x = cg.tensor(values, requires_grad=True)
    s = x[0]
    for i in range(1, len(values)):
        s = s + x[i]
    s.backward()
    return x.grad


def rows_loop(values):
    """The same over the rows of an (n, 4) tensor."""
    x = cg.tensor(values, requires_grad=True)
    s = x[0]
    for i in range(1, len(values)):
        s = s + x[i]
    s.sum().backward()
    return x.grad


def builtin_sum(values):
    """Python's ``sum(x)``: it iterates the tensor, one getitem per entry."""
    x = cg.tensor(values, requires_grad=True)
    sum(x).backward()
    return x.grad


def build_chain(gates):
    """Build a chain of ``gates`` scalar gates (``s = s * a + b``) and drop it unwalked."""
    a = cg.tensor(0.999, requires_grad=True)
    b = cg.tensor(0.001, requires_grad=True)
    s = cg.tensor(1.0, requires_grad=True)
    for _ in range(gates // 2):
        s = s * a + b
    return float(s.data)


def _ratio_row(name, fn, small, large, cfg: Config, unit_n: str) -> Row:
    # one rep of the large side (up to a second) against ten of the small: blocks of
    # similar length
    timing = harness.alternate(lambda: fn(small), lambda: fn(large), cfg.slow_blocks, (10, 1))
    return harness.timing_row(f"{name}: {unit_n} x10", "n", timing, "ms/pass", 1e3, TARGET)


def bench_linear_time(cfg: Config) -> list[Row]:
    rng = np.random.default_rng(0)
    vec_small, vec_large = rng.standard_normal(N), rng.standard_normal(10 * N)
    rows_small, rows_large = rng.standard_normal((N, 4)), rng.standard_normal((10 * N, 4))
    for fn, v in [(entries_loop, vec_small), (rows_loop, rows_small), (builtin_sum, vec_small)]:
        harness.check_close(f"{fn.__name__} gradient", fn(v), np.ones_like(v), rtol=0)
    want = 1.0
    for _ in range(1000):
        want = want * 0.999 + 0.001
    harness.check_close("chain value", build_chain(2000), want, rtol=1e-12)
    harness.freeze()
    return [
        _ratio_row("x[i] loop fwd+bwd", entries_loop, vec_small, vec_large, cfg,
                   f"{N:,} entries"),
        _ratio_row("rows of (n, 4) loop fwd+bwd", rows_loop, rows_small, rows_large, cfg,
                   f"{N:,} rows"),
        _ratio_row("sum(x) fwd+bwd", builtin_sum, vec_small, vec_large, cfg,
                   f"{N:,} entries"),
        _ratio_row("build a chain, gc on", build_chain, GATES, 10 * GATES, cfg,
                   f"{GATES:,} gates"),
    ]
