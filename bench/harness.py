"""Shared machinery for the benchmarks: alternating timing, peak memory, machine info, report.

Every benchmark compares a *baseline* (hand-written Python or NumPy doing the same maths) with
a *candidate* (the same computation through circuitgrad) inside one process, so machine noise
hits both sides alike.  The figure that matters is the median of the per-block ratios
candidate/baseline; absolute times are reported beside it for context.
"""

from __future__ import annotations

import ctypes
import gc
import os
import platform
import statistics
import subprocess
import time
import tracemalloc
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

BLAS_THREADS = 2

# Environment variables that change which BLAS kernel OpenBLAS picks or how it blocks; they are
# unset for benchmarking (see `make bench`) and reported in the header when present.
BLAS_OVERRIDES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


@dataclass(frozen=True)
class Config:
    """How hard to measure: blocks per side and the target wall time of one block."""

    blocks: int = 11
    block_seconds: float = 0.1
    slow_blocks: int = 5  # for workloads where one rep already takes most of a second

    @classmethod
    def quick(cls) -> Config:
        return cls(blocks=3, block_seconds=0.03, slow_blocks=2)


@dataclass(frozen=True)
class Timing:
    """Seconds per repetition, one entry per block, for each side."""

    base: list[float]
    cand: list[float]

    @property
    def ratios(self) -> list[float]:
        return [c / b for b, c in zip(self.base, self.cand, strict=True)]

    @property
    def ratio(self) -> float:
        return statistics.median(self.ratios)

    @property
    def base_median(self) -> float:
        return statistics.median(self.base)

    @property
    def cand_median(self) -> float:
        return statistics.median(self.cand)


@dataclass(frozen=True)
class Row:
    """One line of the results table. `target` is the highest acceptable ratio, if any."""

    name: str
    baseline: str  # what the candidate is compared against, e.g. "pure Python", "NumPy"
    unit: str
    base: float
    cand: float
    ratio: float
    target: float | None = None
    spread: tuple[float, float] | None = None  # min and max per-block ratio
    error: str | None = None

    @property
    def status(self) -> str:
        if self.error is not None:
            return "ERROR"
        if self.target is None:
            return "info"
        return "ok" if self.ratio <= self.target else "MISS"


def freeze() -> None:
    """Move everything alive now (the inputs) out of the cycle collector's sight.

    Call after set-up: the collections that timed code triggers then scan only what that code
    allocated, not the benchmark's inputs and everything imported so far.
    """
    gc.collect()
    gc.freeze()


def time_block(fn: Callable[[], object], reps: int, clock: Callable[[], float] = time.perf_counter
               ) -> float:
    """Wall seconds (or `clock`'s: time.process_time for CPU time, which other processes on a
    busy machine disturb less) for `reps` calls of fn, including collection of the garbage they
    leave.

    Collecting before the clock starts and again before it stops bills each side for its own
    reference cycles, instead of whichever side happens to run when the collector fires.
    """
    gc.collect()
    start = clock()
    for _ in range(reps):
        fn()
    gc.collect()
    return clock() - start


def reps_for(fn: Callable[[], object], seconds: float) -> int:
    """How many calls of fn take about `seconds` (calls it a few times to find out)."""
    fn()  # warm-up: caches, lazy imports, first-touch page faults
    reps, elapsed = 1, time_block(fn, 1)
    while elapsed < 0.02 and reps < 1 << 20:
        reps *= 2
        elapsed = time_block(fn, reps)
    return max(1, round(seconds * reps / elapsed))


def alternate(
    baseline_fn: Callable[[], object],
    candidate_fn: Callable[[], object],
    blocks: int,
    reps: int | tuple[int, int],
    clock: Callable[[], float] = time.perf_counter,
) -> Timing:
    """Time the two sides in alternating blocks; `reps` is one count or (baseline, candidate).

    The order within each pair of blocks flips every time, so neither side always inherits the
    caches and clock frequency left behind by the other.
    """
    base_reps, cand_reps = (reps, reps) if isinstance(reps, int) else reps
    base: list[float] = []
    cand: list[float] = []
    sides = [(baseline_fn, base_reps, base), (candidate_fn, cand_reps, cand)]
    for block in range(blocks):
        for fn, n, out in sides if block % 2 == 0 else reversed(sides):
            out.append(time_block(fn, n, clock) / n)
    return Timing(base, cand)


def measure(
    baseline_fn: Callable[[], object],
    candidate_fn: Callable[[], object],
    cfg: Config,
    *,
    blocks: int | None = None,
    reps: int | tuple[int, int] | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> Timing:
    """`alternate` with each side's repetitions calibrated to fill cfg.block_seconds."""
    if reps is None:
        reps = (reps_for(baseline_fn, cfg.block_seconds), reps_for(candidate_fn, cfg.block_seconds))
    return alternate(baseline_fn, candidate_fn, blocks or cfg.blocks, reps, clock)


def timing_row(
    name: str,
    baseline: str,
    timing: Timing,
    unit: str,
    scale: float,
    target: float | None = None,
) -> Row:
    """A table row from a Timing; `scale` turns seconds per rep into `unit`."""
    ratios = timing.ratios
    return Row(
        name,
        baseline,
        unit,
        timing.base_median * scale,
        timing.cand_median * scale,
        timing.ratio,
        target,
        (min(ratios), max(ratios)),
    )


def start(title: str, threads: int, argv: list[str]) -> tuple[Config, object | None]:
    """A benchmark script's set-up: the Config (``--quick`` in argv: a smoke check), BLAS
    held to ``threads`` (keep the second value alive while timing), the header printed."""
    cfg = Config.quick() if "--quick" in argv else Config(blocks=15, block_seconds=0.3)
    limiter = limit_blas_threads(threads)
    print(f"# {title} ({threads} thread(s), {cfg.blocks} alternating blocks, CPU time)")
    for line in machine_lines():
        print(line)
    return cfg, limiter


def peak_bytes(fn: Callable[[], object], warmup: int = 2) -> int:
    """Peak bytes allocated above the starting level during one steady-state call of fn.

    tracemalloc sees NumPy's data buffers as well as Python objects.  The warm-up calls run
    under tracing so that buffers freed by the measured call were also allocated under it.
    """
    gc.collect()
    tracemalloc.start()
    try:
        for _ in range(warmup):
            fn()
        gc.collect()
        tracemalloc.reset_peak()
        start = tracemalloc.get_traced_memory()[0]
        fn()
        return tracemalloc.get_traced_memory()[1] - start
    finally:
        tracemalloc.stop()


def memory_row(name: str, baseline: str, base_bytes: int, cand_bytes: int, target: float) -> Row:
    mib = 1 / 2**20
    return Row(name, baseline, "MiB peak", base_bytes * mib, cand_bytes * mib,
               cand_bytes / base_bytes, target)


def error_row(name: str, message: str) -> Row:
    return Row(name, "", "", float("nan"), float("nan"), float("nan"), error=message)


def check_close(what: str, got: object, want: object, rtol: float, atol: float = 0.0) -> None:
    """Fail loudly when the candidate computes something else than the baseline."""
    got_a = np.asarray(got, dtype=np.float64)
    want_a = np.asarray(want, dtype=np.float64)
    if got_a.shape != want_a.shape:
        raise AssertionError(f"{what}: shape {got_a.shape}, expected {want_a.shape}")
    if not np.allclose(got_a, want_a, rtol=rtol, atol=atol):
        err = np.abs(got_a - want_a)
        worst = tuple(int(i) for i in np.unravel_index(np.argmax(err), err.shape))
        raise AssertionError(
            f"{what}: candidate differs from baseline (max abs error {err.max():.3g} at "
            f"{worst}: got {float(got_a[worst])!r}, expected {float(want_a[worst])!r}; "
            f"rtol={rtol}, atol={atol:.3g})"
        )


class OtherLoad:
    """How many cores other processes (and the hypervisor) kept busy during a `with` block.

    With BLAS threads on every core, a single busy neighbour stalls them: small matmuls were
    seen to run 10-40x slower, in bursts, so a timing taken beside one is not worth much.
    Reads /proc/stat (Linux); `cores` stays None elsewhere.
    """

    def __init__(self) -> None:
        self.cores: float | None = None

    @staticmethod
    def _snapshot() -> tuple[float, float, float] | None:
        try:
            with open("/proc/stat") as f:
                fields = [int(x) for x in f.readline().split()[1:]]
        except (OSError, ValueError):
            return None
        idle = fields[3] + fields[4]  # idle + iowait; the rest, steal included, is busy
        busy = (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")
        own = sum(os.times()[:2])
        return time.perf_counter(), busy, own

    def __enter__(self) -> OtherLoad:
        self._start = self._snapshot()
        return self

    def __exit__(self, *exc: object) -> None:
        end = self._snapshot()
        if self._start is None or end is None or end[0] <= self._start[0]:
            return
        wall, busy, own = (e - s for e, s in zip(end, self._start, strict=True))
        self.cores = max(0.0, (busy - own) / wall)


# ---------------------------------------------------------------------------------------------
# Machine description


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _openblas_via_ctypes() -> list[str]:
    """Ask each loaded OpenBLAS for its kernel directly (used when threadpoolctl is absent)."""
    try:
        with open("/proc/self/maps") as f:
            paths = sorted({ln.split()[-1] for ln in f if "openblas" in ln.lower()})
    except OSError:
        return []
    found = []
    for path in paths:
        if not path.startswith("/"):
            continue
        lib = ctypes.CDLL(path)

        def call(base: str, restype: type, lib: ctypes.CDLL = lib) -> object:
            # Wheels rename the symbols: scipy-openblas adds a prefix and a 64_ suffix.
            for sym in (f"openblas_{base}", f"scipy_openblas_{base}64_",
                        f"scipy_openblas_{base}", f"openblas_{base}64_"):
                fn = getattr(lib, sym, None)
                if fn is not None:
                    fn.restype = restype
                    return fn()
            return None

        core = call("get_corename", ctypes.c_char_p)
        config = call("get_config", ctypes.c_char_p)
        threads = call("get_num_threads", ctypes.c_int)
        if core is None:
            continue
        found.append(
            f"openblas kernel={core.decode()} threads={threads} ({config.decode().strip()}) "
            f"{os.path.basename(path)}"
        )
    return found


def blas_info() -> list[str]:
    """One line per BLAS library loaded by NumPy: kernel (architecture), threads, version."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return _openblas_via_ctypes() or ["unknown (no threadpoolctl, no OpenBLAS found)"]
    return [
        f"{d.get('internal_api')} kernel={d.get('architecture')} threads={d.get('num_threads')} "
        f"version={d.get('version')} {os.path.basename(d.get('filepath', ''))}"
        for d in threadpool_info()
        if d.get("user_api") == "blas"
    ]


def limit_blas_threads(n: int = BLAS_THREADS) -> object | None:
    """Cap BLAS threads at run time too, when threadpoolctl is there (env vars cover the rest).

    Returns the limiter, which must be kept alive for the cap to hold.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return None
    return threadpool_limits(limits=n, user_api="blas")


def source_version(path: str) -> str:
    """The git commit a file belongs to, and whether its folder has uncommitted changes."""
    folder = os.path.dirname(os.path.abspath(path))

    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", folder, *args], capture_output=True, text=True,
                              timeout=10).stdout.strip()

    try:
        commit = git("rev-parse", "--short", "HEAD")
        dirty = git("status", "--porcelain", "--", ".")
    except (OSError, subprocess.SubprocessError):
        return "not in git"
    if not commit:
        return "not in git"
    return f"git {commit}" + (" + uncommitted changes" if dirty else "")


def machine_lines() -> list[str]:
    lines = [
        f"date: {time.strftime('%Y-%m-%d %H:%M:%S %Z')}",
        f"machine: {os.cpu_count()} CPUs, {cpu_model()}, {platform.system()} "
        f"{platform.release()} {platform.machine()}",
        f"python {platform.python_version()}, numpy {np.__version__}",
    ]
    lines += [f"BLAS: {line}" for line in blas_info()]
    # With BLAS on every core, any other busy process stalls its threads (seen: 30x slower).
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    lines.append(f"load average at start: {load} (the timings assume an otherwise idle machine)")
    for var in BLAS_OVERRIDES:
        if var in os.environ:
            lines.append(f"WARNING: {var}={os.environ[var]} is set; `make bench` unsets it")
    return lines


# ---------------------------------------------------------------------------------------------
# Report


def _fmt(x: float) -> str:
    if x != x:  # NaN
        return "-"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    return f"{x:.4g}"


def format_table(rows: Iterable[Row]) -> str:
    """A Markdown table: readable in a terminal and pasteable into RESULTS.md as it is."""
    header = ("benchmark", "vs", "unit", "baseline", "candidate", "ratio c/b", "ratio range",
              "target", "status")
    body = []
    for r in rows:
        spread = f"{r.spread[0]:.3f}-{r.spread[1]:.3f}" if r.spread else ""
        target = f"<= {r.target:g}x" if r.target is not None else ""
        ratio = f"{r.ratio:.3f}x" if r.ratio == r.ratio else "-"
        body.append((r.name, r.baseline, r.unit, _fmt(r.base), _fmt(r.cand), ratio, spread,
                     target, r.status))
    widths = [max(len(row[i]) for row in [header, *body]) for i in range(len(header))]
    numeric = {3, 4, 5}

    def line(cells: tuple[str, ...]) -> str:
        padded = (c.rjust(w) if i in numeric else c.ljust(w)
                  for i, (c, w) in enumerate(zip(cells, widths, strict=True)))
        return "| " + " | ".join(padded) + " |"

    rule = "|" + "|".join(
        ("-" * (w + 1) + ":" if i in numeric else "-" * (w + 2)) for i, w in enumerate(widths)
    ) + "|"
    return "\n".join([line(header), rule, *(line(b) for b in body)])
