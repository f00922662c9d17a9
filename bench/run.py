"""Run the circuitgrad benchmark suite and print a results table.

    python bench/run.py [--quick] [--only NAME ...] [--list]

`make bench` runs it with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset.  Every benchmark checks
that the candidate computes what the baseline computes before timing anything.  To add one,
write a function `bench_x(cfg) -> list[Row]` in a module here and register it in BENCHMARKS.
"""

# ruff: noqa: E402 -- BLAS reads its thread count when NumPy first loads it, so the variables
# below must be in the environment before anything imports NumPy.
import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "2"  # harness.BLAS_THREADS; the machines here have 2 cores

import argparse
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

try:
    import circuitgrad as cg
except ImportError:  # not installed: use the checkout this script lives in
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
    import circuitgrad as cg

import compiled
import compiled_epochs
import dispatch
import harness
import linear_time
import matmul
import mlp
import naive_loop
import scalar
from harness import Config, Row

BUSY_WARNING = 0.1  # cores used by other processes above which the numbers are suspect

BENCHMARKS: dict[str, Callable[[Config], list[Row]]] = {
    "scalar_circuit": scalar.bench_scalar_circuit,
    "deep_chain": scalar.bench_deep_chain,
    "mlp_step": mlp.bench_mlp_step,
    "matmul": matmul.bench_matmul,
    "dispatch_mlp": dispatch.bench_dispatch_mlp,
    "naive_loop": naive_loop.bench_naive_loop,
    "linear_time": linear_time.bench_linear_time,
    "compiled_scalar": compiled.bench_compiled_scalar,
    "compiled_mlp": compiled.bench_compiled_mlp,
    "compiled_step": compiled.bench_compiled_step,
    "compiled_convnet": compiled.bench_compiled_convnet,
    "compiled_epochs": compiled_epochs.bench_compiled_epochs,
    "compiled_passes": compiled.bench_compiled_passes,
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="few short blocks: a smoke check of the harness, not a measurement")
    parser.add_argument("--only", action="append", metavar="NAME",
                        help="run only this benchmark (repeatable or comma-separated)")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    args = parser.parse_args(argv)
    if args.only:
        args.only = [n.strip() for item in args.only for n in item.split(",") if n.strip()]
        unknown = sorted(set(args.only) - set(BENCHMARKS))
        if unknown:
            parser.error(f"unknown benchmark(s) {', '.join(unknown)}; "
                         f"choose from {', '.join(BENCHMARKS)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.list:
        print("\n".join(BENCHMARKS))
        return 0
    limiter = harness.limit_blas_threads()  # noqa: F841 -- the cap lasts while it is alive
    cfg = Config.quick() if args.quick else Config()

    print("# circuitgrad benchmarks")
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    for line in harness.machine_lines():
        print(line)
    where = getattr(cg, "__file__", None) or next(iter(cg.__path__))
    core = "compiled" if cg.compiled.core_is_compiled() else "pure Python"
    print(f"circuitgrad: {where} ({harness.source_version(where)}), core {core}")
    print(f"method: alternating blocks, {cfg.blocks} per side of ~{cfg.block_seconds * 1e3:.0f} ms"
          f" ({cfg.slow_blocks} of 1 rep for matmul); median of per-block ratios candidate/"
          f"baseline; times are each side's median; gc.freeze() after set-up")
    if args.quick:
        print("QUICK MODE: smoke check only, numbers are not meaningful")
    print(flush=True)

    rows: list[Row] = []
    others: dict[str, float | None] = {}
    started = time.perf_counter()
    for name, bench in BENCHMARKS.items():
        if args.only and name not in args.only:
            continue
        print(f"running {name} ...", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        with harness.OtherLoad() as other:
            try:
                rows += bench(cfg)
            except Exception as exc:  # report and go on: one failure shouldn't hide the rest
                traceback.print_exc()
                rows.append(harness.error_row(name, f"{type(exc).__name__}: {exc}"))
        others[name] = other.cores
        print(f"  {name}: {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)

    print(harness.format_table(rows))
    print(f"\ntotal {time.perf_counter() - started:.0f} s")
    if any(v is not None for v in others.values()):
        print("cores kept busy by other processes meanwhile (0 = quiet machine): " + ", ".join(
            f"{name} {v:.2f}" for name, v in others.items() if v is not None))
        if any(v is not None and v > BUSY_WARNING for v in others.values()):
            print(f"WARNING: the machine was busy (> {BUSY_WARNING} core); rerun when it is quiet")
    missed = [r.name for r in rows if r.status == "MISS"]
    if missed:
        print(f"targets missed: {', '.join(missed)}")
    errors = [r for r in rows if r.error is not None]
    for r in errors:
        print(f"ERROR in {r.name}: {r.error}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
