"""Does fusing an elementwise chain with numexpr pay, at the sizes of the MLP step?

The compiler could write a chain such as relu's backward ``g * (h > 0)`` or sigmoid's
``s * (1 - s) * g`` as one ``numexpr.evaluate`` (one pass, no temporaries) instead of
NumPy's separate passes. Both sides write into the same preallocated ``out``; alternating
blocks, CPU time, median ratio numexpr / NumPy (below 1: numexpr faster). numexpr is not a
dependency of circuitgrad; without it this says so and exits.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE .venv/bin/python bench/fusion.py [--quick]
"""

# ruff: noqa: E402 -- BLAS reads its thread count when NumPy first loads it
import os
import sys
import time

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"

import numpy as np

import harness

try:
    import numexpr
except ImportError:
    sys.exit("numexpr is not installed here (pip install numexpr in a separate venv): nothing "
             "to compare")


def chains(h, g, out):
    """(name, NumPy, numexpr) for each chain, both writing ``out``."""
    m = h.max(axis=1, keepdims=True)
    names = {"h": h, "g": g, "m": m}
    return [
        ("relu backward g*(h>0)", lambda: np.multiply(g, h > 0, out=out),
         lambda: numexpr.evaluate("where(h > 0, g, 0)", local_dict=names, out=out)),
        ("sigmoid backward s*(1-s)*g", lambda: np.multiply(np.multiply(h, 1 - h), g, out=out),
         lambda: numexpr.evaluate("h * (1 - h) * g", local_dict=names, out=out)),
        ("softmax's exp(h - max)", lambda: np.exp(np.subtract(h, m, out=out), out=out),
         lambda: numexpr.evaluate("exp(h - m)", local_dict=names, out=out)),
    ]


def main(argv):
    cfg, _limiter = harness.start("numexpr fusion against NumPy passes", 1, argv)
    print(f"numexpr {numexpr.__version__}, NumPy {np.__version__}")
    rng = np.random.default_rng(0)
    for rows in (64, 1024):
        h = rng.standard_normal((rows, 256)).astype(np.float32)
        g = rng.standard_normal((rows, 256)).astype(np.float32)
        out = np.empty_like(h)
        for name, base, cand in chains(h, g, out):
            base()
            want = out.copy()
            cand()
            harness.check_close(name, out, want, rtol=1e-6, atol=1e-6)
            harness.freeze()
            timing = harness.measure(base, cand, cfg, clock=time.process_time)
            print(f"batch {rows:4d}  {name:28s} numexpr / NumPy {timing.ratio:.2f}x "
                  f"(blocks {min(timing.ratios):.2f}-{max(timing.ratios):.2f})")


if __name__ == "__main__":
    main(sys.argv)
