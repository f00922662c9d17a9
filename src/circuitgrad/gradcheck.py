"""Numerical gradient checks: the engine's gradient against central differences in float64.

For each input the report gives the notes' relative error |a - n| / max(|a|, |n|) at the
worst element, and that element; the verdict allows for the round-off central differences
carry when the function's value is large. A non-scalar output is checked through a fixed random
projection sum(f(x) * r), which exercises every output's gradient at once. For big inputs,
``directions=k`` compares k random directional derivatives instead of every element.
"""

import warnings
from dataclasses import dataclass, field

import numpy as np

from . import backend
from .tensor import Tensor, as_tensor, tensor


@dataclass
class InputReport:
    """The check of one input: worst relative error and where it happened."""

    index: int
    shape: tuple
    max_rel_error: float
    worst: tuple | None  # element index (or direction number) of the worst error
    analytic: float
    numeric: float
    ok: bool


@dataclass
class GradCheckReport:
    """Per-input results of :func:`check_grad`; true when every input passed."""

    inputs: list = field(default_factory=list)
    notes: list = field(default_factory=list)

    @property
    def ok(self):
        return all(r.ok for r in self.inputs)

    @property
    def max_rel_error(self):
        return max((r.max_rel_error for r in self.inputs), default=0.0)

    def __bool__(self):
        return self.ok

    def __str__(self):
        lines = [f"check_grad: {'ok' if self.ok else 'FAILED'}"] + [f"  note: {n}"
                                                                  for n in self.notes]
        for r in self.inputs:
            lines.append(
                f"  input {r.index} {r.shape}: max relative error {r.max_rel_error:.2e} "
                f"at {r.worst} (analytic {r.analytic:.6g}, numeric {r.numeric:.6g})"
                f"{'' if r.ok else '  <-- mismatch'}")
        return "\n".join(lines)


def check_grad(f, *inputs, eps=1e-6, rtol=1e-6, atol=1e-8, directions=None, seed=0):
    """Compare the gradient of ``f`` at ``inputs`` with central differences.

    ``f`` takes Tensors and returns a Tensor (or a number: a function that does not depend
    on its inputs has gradient zero, and so do its central differences). An element passes
    when its relative error is at most ``rtol``, or its absolute error is at most ``atol``
    (for gradients near zero, where a relative error means little) plus the round-off of
    the central difference itself. That round-off grows with the function's value: each
    value of ``f`` is off by about machine epsilon times ``|f|``, so their difference over
    ``2 * eps`` is off by about ``machine_eps * |f| / eps``; errors within ten times that
    are noise, not a wrong gradient. When that allowance is what lets an element pass (as
    for ``|f|`` in the millions), a note says so. Inputs of any float type other than
    float64 are checked in float64, with a note (and a warning) saying so.

    >>> import circuitgrad as cg
    >>> report = cg.check_grad(lambda x, y: x * y, 4.0, -3.0)
    >>> report.ok, report.max_rel_error < 1e-9
    (True, True)
    """
    report = GradCheckReport()
    base = []
    for k, x in enumerate(inputs):
        value = x._value if isinstance(x, Tensor) else x
        dtype = np.result_type(value)
        if dtype.kind == "f" and dtype != np.float64:
            why = (f", since {dtype} central differences are too coarse to judge a gradient"
                   if dtype.itemsize < 8 else "")
            report.notes.append(f"input {k} is {dtype}; checked in float64{why}")
        base.append(np.array(value, dtype=np.float64))
    if report.notes:
        warnings.warn("; ".join(report.notes), stacklevel=2)
    rng = backend.default_rng(seed)

    probe = as_tensor(f(*[tensor(b) for b in base]))
    project = None if probe.size == 1 else rng.standard_normal(probe.shape)

    def loss(values, track=False):
        ts = [tensor(v, requires_grad=track) for v in values]
        out = as_tensor(f(*ts))
        if project is not None:
            out = (out * project).sum()
        return out, ts

    out, ts = loss(base, track=True)
    if out.requires_grad:  # otherwise no input reaches the output: every gradient is 0
        out.backward()
    analytic = [backend.zeros_like(b) if t.grad is None else np.asarray(t.grad, np.float64)
                for t, b in zip(ts, base, strict=True)]

    def value_at(k, x):
        values = list(base)
        values[k] = x
        return float(loss(values)[0].item())

    def central(k, step):
        """The central difference along ``step`` and the largest |f| it was taken from."""
        hi, lo = value_at(k, base[k] + step), value_at(k, base[k] - step)
        return (hi - lo) / (2 * eps), max(abs(hi), abs(lo))

    for k, b in enumerate(base):
        if directions is None:
            steps = (backend.eye(1, b.size, j).reshape(b.shape) * eps for j in range(b.size))
            a = analytic[k].reshape(-1)
            where = [np.unravel_index(j, b.shape) for j in range(b.size)]
        else:
            vs = rng.standard_normal((directions,) + b.shape)
            steps = (eps * v for v in vs)
            a = np.array([np.sum(analytic[k] * v) for v in vs])
            where = [("direction", d) for d in range(directions)]
        diffs = np.array([central(k, step) for step in steps], dtype=np.float64)
        n, size = diffs.reshape(-1, 2).T
        # the round-off of a central difference: ~machine eps * |f| / eps (see above)
        noise = 10 * np.finfo(np.float64).eps * size / eps
        noise = np.where(np.isfinite(noise), noise, 0.0)
        result, by_noise = _compare(k, b.shape, a, n, where, rtol, atol, noise)
        report.inputs.append(result)
        if by_noise:
            report.notes.append(
                f"input {k}: |f| reaches {np.max(size):.3g}, so central differences are "
                f"only accurate to about {np.max(noise):.2g} (10 * machine eps * |f| / eps); "
                f"{by_noise} element(s) passed within that allowance")
    return report


def _compare(k, shape, a, n, where, rtol, atol, noise):
    """The report of one input, and how many elements passed only within ``noise``."""
    if a.size == 0:
        return InputReport(k, shape, 0.0, None, 0.0, 0.0, True), 0
    abs_err = np.abs(a - n)
    scale = np.maximum(np.abs(a), np.abs(n))
    rel = np.divide(abs_err, scale, out=backend.zeros_like(abs_err), where=scale > 0)
    rel = np.where(np.isnan(a) | np.isnan(n), np.inf, rel)
    worst = int(np.argmax(rel))
    close = (rel <= rtol) | (abs_err <= atol)
    within_noise = ~close & (abs_err <= atol + noise)
    ok = bool(np.all(close | within_noise))
    label = where[worst]
    if not (label and label[0] == "direction"):
        label = tuple(int(i) for i in label)
    return InputReport(k, shape, float(rel[worst]), label, float(a[worst]), float(n[worst]),
                       ok), int(np.sum(within_noise))
