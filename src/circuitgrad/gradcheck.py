"""Numerical gradient checks: the engine's gradient against central differences in float64.

For each input the report gives the notes' relative error |a - n| / max(|a|, |n|) at the
worst element, and that element. A non-scalar output is checked through a fixed random
projection sum(f(x) * r), which exercises every output's gradient at once. For big inputs,
``directions=k`` compares k random directional derivatives instead of every element.
"""

import warnings
from dataclasses import dataclass, field

import numpy as np

from .tensor import Tensor, tensor


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

    ``f`` takes Tensors and returns a Tensor. An element passes when its relative error is
    at most ``rtol`` or its absolute error at most ``atol`` (both are tiny near zero
    gradients, where a relative error means little).

    >>> import circuitgrad as cg
    >>> report = cg.check_grad(lambda x, y: x * y, 4.0, -3.0)
    >>> report.ok, report.max_rel_error < 1e-9
    (True, True)
    """
    report = GradCheckReport()
    base = []
    for k, x in enumerate(inputs):
        value = x._value if isinstance(x, Tensor) else x
        if np.result_type(value) == np.float32:
            report.notes.append(
                f"input {k} is float32; checked in float64, since float32 central "
                f"differences are too coarse to judge a gradient")
        base.append(np.array(value, dtype=np.float64))
    if report.notes:
        warnings.warn("; ".join(report.notes), stacklevel=2)
    rng = np.random.default_rng(seed)

    probe = f(*[tensor(b) for b in base])
    project = None if probe.size == 1 else rng.standard_normal(probe.shape)

    def loss(values, track=False):
        ts = [tensor(v, requires_grad=track) for v in values]
        out = f(*ts)
        if project is not None:
            out = (out * project).sum()
        return out, ts

    out, ts = loss(base, track=True)
    out.backward()
    analytic = [np.zeros_like(b) if t.grad is None else np.asarray(t.grad, np.float64)
                for t, b in zip(ts, base, strict=True)]

    def value_at(k, x):
        values = list(base)
        values[k] = x
        return float(loss(values)[0].item())

    for k, b in enumerate(base):
        if directions is None:
            numeric = np.zeros_like(b)
            flat = numeric.reshape(-1)
            for j in range(b.size):
                step = np.zeros(b.size)
                step[j] = eps
                step = step.reshape(b.shape)
                flat[j] = (value_at(k, b + step) - value_at(k, b - step)) / (2 * eps)
            a, n = analytic[k].reshape(-1), flat
            where = [np.unravel_index(j, b.shape) for j in range(b.size)]
        else:
            vs = rng.standard_normal((directions,) + b.shape)
            n = np.array([(value_at(k, b + eps * v) - value_at(k, b - eps * v)) / (2 * eps)
                          for v in vs])
            a = np.array([np.sum(analytic[k] * v) for v in vs])
            where = [("direction", d) for d in range(directions)]
        report.inputs.append(_compare(k, b.shape, a, n, where, rtol, atol))
    return report


def _compare(k, shape, a, n, where, rtol, atol):
    if a.size == 0:
        return InputReport(k, shape, 0.0, None, 0.0, 0.0, True)
    abs_err = np.abs(a - n)
    scale = np.maximum(np.abs(a), np.abs(n))
    rel = np.divide(abs_err, scale, out=np.zeros_like(abs_err), where=scale > 0)
    rel = np.where(np.isnan(a) | np.isnan(n), np.inf, rel)
    worst = int(np.argmax(rel))
    ok = bool(np.all((rel <= rtol) | (abs_err <= atol)))
    label = where[worst]
    if not (label and label[0] == "direction"):
        label = tuple(int(i) for i in label)
    return InputReport(k, shape, float(rel[worst]), label, float(a[worst]), float(n[worst]),
                       ok)
