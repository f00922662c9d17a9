"""Gradient checks: the engine's gradient against central differences (``check_grad``), and
a backward pass written by hand against the engine's gradient (``check_backward``).

For each input, check_grad's report gives the notes' relative error |a - n| / max(|a|, |n|)
at the worst element, and that element; the verdict allows for the round-off central
differences carry when the function's value is large. A non-scalar output is checked
through a fixed random projection sum(f(x) * r), which exercises every output's gradient at
once. For big inputs, ``directions=k`` compares k random directional derivatives instead of
every element.

``check_backward`` takes CS231n-style code, ``out, cache = forward(x, w, b)`` with
``dx, dw, db = backward(dout, cache)`` (or a loss returning ``(loss, dx)``), runs the forward
pass through circuitgrad, and reports per input the worst relative error and the entries
that differ most.
"""

import copy
import inspect
import numbers
import warnings
from dataclasses import dataclass, field

import numpy as np

from . import backend
from .errors import NotDifferentiableError
from .tensor import Tensor, as_tensor, tensor
from .transforms import vjp


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


def _relative_errors(a, n, floor=0.0):
    """The notes' ``|a - n| / max(|a|, |n|)`` elementwise, the denominator never below
    ``floor``; 0 where it is 0 (a == n == 0), inf where a value is NaN (or both infinite)."""
    abs_err = np.abs(a - n)
    scale = np.maximum(np.maximum(np.abs(a), np.abs(n)), floor)
    rel = np.divide(abs_err, scale, out=backend.zeros_like(abs_err), where=scale > 0)
    return np.where(np.isnan(rel) | np.isnan(a) | np.isnan(n), np.inf, rel)


def _compare(k, shape, a, n, where, rtol, atol, noise):
    """The report of one input, and how many elements passed only within ``noise``."""
    if a.size == 0:
        return InputReport(k, shape, 0.0, None, 0.0, 0.0, True), 0
    abs_err = np.abs(a - n)
    rel = _relative_errors(a, n)
    worst = int(np.argmax(rel))
    close = (rel <= rtol) | (abs_err <= atol)
    within_noise = ~close & (abs_err <= atol + noise)
    ok = bool(np.all(close | within_noise))
    label = where[worst]
    if not (label and label[0] == "direction"):
        label = tuple(int(i) for i in label)
    return InputReport(k, shape, float(rel[worst]), label, float(a[worst]), float(n[worst]),
                       ok), int(np.sum(within_noise))


# ----- a learner's own backward pass against circuitgrad's -----------------------------------
@dataclass
class Entry:
    """One element of a gradient: where it is, your value, circuitgrad's, and their error."""

    index: tuple
    yours: float
    circuitgrad: float
    rel_error: float


@dataclass
class BackwardInputReport:
    """The check of the gradient your code gave for one input of the forward pass."""

    position: int | None  # its position among the forward pass's arguments; None: params
    name: str | None     # its parameter name in the forward pass's signature, if it has one
    shape: tuple
    problem: str | None  # "missing (None)", a wrong shape, ...: no values were compared
    max_rel_error: float  # nan when there is a problem
    worst: list          # the entries with the largest relative errors (Entry), worst first
    mismatches: int      # how many entries have a relative error above the tolerance
    ok: bool

    @property
    def label(self):
        if self.position is None:  # an entry of the params dict
            return f"params[{self.name!r}]"
        return f"input {self.position}" + (f" ({self.name})" if self.name else "")


@dataclass
class BackwardCheckReport:
    """Per-input results of :func:`check_backward`; true when every gradient agreed."""

    title: str
    rtol: float
    inputs: list = field(default_factory=list)
    problems: list = field(default_factory=list)  # with the pass as a whole; each one fails it
    notes: list = field(default_factory=list)     # for information only

    @property
    def ok(self):
        return not self.problems and all(r.ok for r in self.inputs)

    @property
    def max_rel_error(self):
        """The worst relative error over the inputs whose values were compared."""
        return max((r.max_rel_error for r in self.inputs if r.problem is None), default=0.0)

    def __bool__(self):
        return self.ok

    def __str__(self):
        lines = [f"{self.title}: {'ok' if self.ok else 'FAILED'}"]
        lines += [f"  problem: {p}" for p in self.problems]
        lines += [f"  note: {n}" for n in self.notes]
        for r in self.inputs:
            head = f"  {r.label}, shape {r.shape}: "
            if r.problem:
                lines.append(head + r.problem)
                continue
            lines.append(head + f"max relative error {r.max_rel_error:.1e}" + (
                "" if r.ok else f"; {r.mismatches} of {int(np.prod(r.shape))} entries differ"))
            lines += [f"    at {e.index}: yours {e.yours:.6g}, circuitgrad {e.circuitgrad:.6g} "
                      f"(relative error {e.rel_error:.1e})" for e in r.worst
                      if e.rel_error > self.rtol]
        return "\n".join(lines)


def check_backward(forward, backward, *args, wrt=None, params=None, rtol=1e-7, floor=1e-6,
                   top=3, seed=0):
    """Check a backward pass written by hand against circuitgrad's gradients of the forward.

    Two forms, as the CS231n assignments write layers and losses:

    * layer form: ``out, cache = forward(*args)`` and ``grads = backward(dout, cache)``.
      ``dout`` is a fixed random array (float64, seeded by ``seed``) of ``out``'s shape;
      circuitgrad's gradients are the VJP of ``forward(*args)[0]`` with that ``dout``.
    * loss form, ``backward=None``: ``forward(*args)`` returns ``(loss, grads)`` (or
      ``(loss, grad_1, grad_2, ...)``); circuitgrad's gradients are those of ``loss``.

    * model form, a loss form with ``params=model.params``: the loss reads its parameters
      from that dict (CS231n's ``loss, grads = model.loss(X, y)``) and ``grads`` is a dict
      with the same keys. Each parameter is checked; the dict's own arrays are put back
      after each run (they are never changed).

    ``grads`` is one gradient per checked input, in order (a single array when only one
    input is checked). The checked inputs are ``wrt`` (positions among ``args``); by default
    every float array argument. Integer arrays (labels), Python numbers (hyperparameters
    such as ``reg``) and other objects (``conv_param`` dicts) are data; name a number in
    ``wrt`` to check it too. Float arrays are checked in float64.

    The forward pass runs twice, each time on copies of ``args`` (they are never changed):
    once on NumPy arrays for your backward pass, once on circuitgrad's tensors (unchecked
    float arrays as constant tensors, so ``x.dot(w)`` works). NumPy's global random state
    is replayed for the second run, so a dropout mask drawn with ``np.random.rand`` is the
    same in both. In the loss form your gradient code runs on tensors as well (writes such as
    ``dx[np.arange(N), y] -= 1`` are recorded like any other).

    An entry agrees when its relative error, the notes' ``|a - n| / max(|a|, |n|)``, is at
    most ``rtol``. Both gradients are exact, so a correct backward pass agrees to about
    1e-12 or better; ``rtol=1e-7`` is the notes' "you should be happy" level. Entries near
    zero are the exception: one that came out of a subtraction (``p - 1`` with ``p`` close to
    1, or a bias before a batch norm, whose gradient is 0 up to round-off) carries the
    round-off of what was subtracted, so relative to itself it can be off by far more. The
    denominator is therefore never less than ``floor * max(1, S)``, ``S`` being the largest
    entry (in size) of circuitgrad's gradients: entries below that size are judged by how
    far apart they are, and pass when within ``rtol * floor * max(1, S)`` (with the
    defaults 1e-13, or 1e-13 times ``S`` when ``S`` is above 1).

    A missing gradient (``None``), a wrong shape or a wrong number of gradients is
    reported, as is a forward pass whose two runs give different outputs.

    The report is true when everything agreed; ``print(report)`` shows, per input, the
    worst relative error and, where they differ, the ``top`` worst entries with both values.

    >>> import circuitgrad as cg, numpy as np
    >>> def affine_forward(x, w, b):
    ...     return x.dot(w) + b, (x, w)
    >>> def affine_backward(dout, cache):
    ...     x, w = cache
    ...     return dout.dot(w.T), x.T.dot(dout) * 2, dout.sum(axis=1)   # two bugs
    >>> x, w, b = np.ones((2, 3)), np.full((3, 4), 0.5), np.zeros(4)
    >>> report = cg.check_backward(affine_forward, affine_backward, x, w, b)
    >>> bool(report)
    False
    >>> print(report)  # doctest: +ELLIPSIS
    check_backward(affine_forward, affine_backward): FAILED
      input 0 (x), shape (2, 3): max relative error ...
      input 1 (w), shape (3, 4): max relative error 5.0e-01; 12 of 12 entries differ
        at (...): yours ..., circuitgrad ... (relative error 5.0e-01)
        at (...): yours ..., circuitgrad ... (relative error 5.0e-01)
        at (...): yours ..., circuitgrad ... (relative error 5.0e-01)
      input 2 (b), shape (4,): shape (2,) but the input has shape (4,)
    """
    title = (f"check_backward({_name(forward)})" if backward is None
             else f"check_backward({_name(forward)}, {_name(backward)})")
    report = BackwardCheckReport(title, rtol)
    if params is not None:
        if backward is not None or wrt is not None:
            raise ValueError("check_backward: params= is for a loss that returns (loss, "
                             "grads) with grads a dict (backward=None, no wrt=)")
        return _check_params(report, forward, args, params, rtol, floor, top)
    names = _parameter_names(forward)
    args = [_plain_float64(a, k, names, report.notes) for k, a in enumerate(args)]
    wrt = _checked_positions(args, wrt, names)
    checked = [args[k] for k in wrt]
    labels = ", ".join(names.get(k, f"input {k}") for k in wrt)

    random_state = backend.get_random_state()
    result = forward(*copy.deepcopy(args))
    out, grads = _split(result, backward, forward)
    backend.set_random_state(random_state)  # the same draws again for circuitgrad's run

    if backward is None:
        dout = backend.ones_like(np.asarray(out, dtype=np.float64))
    else:
        dout = backend.default_rng(seed).standard_normal(np.shape(out))
        # a copy of dout: your backward may write into it (dx = dout; dx[x <= 0] = 0)
        grads = _as_list(backward(dout.copy(), result[1]))

    # circuitgrad's run: the checked inputs are the VJP's arguments; other float arrays
    # become constant tensors, so that array methods such as x.dot(w) take them
    reference_args = [a if k in wrt or not _is_float_array(a) else tensor(a)
                      for k, a in enumerate(copy.deepcopy(args))]

    def output(*values):
        full = list(reference_args)
        for k, v in zip(wrt, values, strict=True):
            full[k] = v
        return forward(*full)[0]

    reference_out, pull_back = vjp(output, *copy.deepcopy(checked))

    out = np.asarray(out, dtype=np.float64)
    reference_out = np.asarray(reference_out, dtype=np.float64)
    if reference_out.shape != out.shape:
        report.problems.append(
            f"the forward pass gave shape {out.shape} on NumPy arrays but "
            f"{reference_out.shape} on circuitgrad's tensors; nothing was compared")
        return report
    if not np.allclose(out, reference_out, rtol=1e-9, atol=1e-12, equal_nan=True):
        report.problems.append(
            "the forward pass gave different values on circuitgrad's run (largest difference "
            f"{np.max(np.abs(out - reference_out)):.3g}): does it draw random numbers from a "
            "generator of its own, or change its arguments? The gradients are of two "
            "different functions")
    if grads is None:
        report.problems.append(
            f"{'backward' if backward else _name(forward)} returned None for the gradients "
            f"(a missing return?)")
        grads = [None] * len(wrt)
    elif len(grads) != len(wrt):
        report.problems.append(
            f"{len(grads)} gradient(s) for {len(wrt)} checked input(s) ({labels}); give one "
            f"per input, in order, or say which inputs they belong to with wrt=")
        grads = (list(grads) + [None] * len(wrt))[:len(wrt)]

    references = [np.asarray(g, dtype=np.float64) for g in pull_back(dout)]
    floor = _floor(references, floor)
    for k, x, mine, theirs in zip(wrt, checked, grads, references, strict=True):
        report.inputs.append(_compare_gradient(k, names, np.shape(x), mine, theirs, rtol,
                                               floor, top))
    return report


def _floor(references, floor):
    """The smallest denominator of a relative error: ``floor * max(1, S)``, S the largest
    finite entry (in size) of circuitgrad's gradients (see check_backward)."""
    finite = [np.abs(g[np.isfinite(g)]) for g in references]
    return floor * max(1.0, max((float(f.max()) for f in finite if f.size), default=0.0))


def _check_params(report, loss, args, params, rtol, floor, top):
    """check_backward's model form: ``loss(*args)`` reads ``params`` and returns
    ``(loss, grads)``, ``grads`` a dict keyed like ``params``."""
    originals = dict(params)
    keys = [k for k, v in originals.items() if _is_float_array(np.asarray(v))]
    start = {k: np.array(originals[k], dtype=np.float64) for k in keys}

    def run(values, arguments):
        params.update(zip(keys, values, strict=True))
        try:
            return loss(*arguments)
        finally:
            params.update(originals)  # the caller's arrays, whatever happened

    random_state = backend.get_random_state()
    result = run([start[k].copy() for k in keys], copy.deepcopy(args))
    value, grads = _split(result, None, loss)
    backend.set_random_state(random_state)
    if len(grads) != 1 or not isinstance(grads[0], dict):
        report.problems.append(f"{_name(loss)} must return (loss, grads) with grads a dict "
                               f"keyed like params, not {len(grads)} gradient(s) "
                               f"of type {type(grads[0]).__name__}")
        return report
    grads = grads[0]
    extra = sorted(str(k) for k in grads if k not in start)
    if extra:
        report.problems.append(f"grads has keys params does not: {', '.join(extra)}")
    arguments = [tensor(a) if _is_float_array(a) else a for a in copy.deepcopy(args)]
    reference, pull_back = vjp(lambda *values: run(values, arguments)[0],
                               *[start[k] for k in keys])
    if not np.allclose(np.asarray(value, dtype=np.float64), reference, rtol=1e-9, atol=1e-12,
                       equal_nan=True):
        report.problems.append("the loss differs between the two runs: is it random?")
    references = [np.asarray(g, dtype=np.float64) for g in
                  pull_back(backend.ones_like(np.asarray(reference, dtype=np.float64)))]
    floor = _floor(references, floor)
    names = dict(enumerate(keys))
    for i, (k, theirs) in enumerate(zip(keys, references, strict=True)):
        entry = _compare_gradient(i, names, start[k].shape, grads.get(k), theirs, rtol,
                                  floor, top)
        entry.position = None
        report.inputs.append(entry)
    return report


def _split(result, backward, forward):
    """(out, grads) from what the forward pass returned; grads is None in the layer form."""
    wanted = "(out, cache)" if backward is not None else "(loss, grads)"
    if not (isinstance(result, tuple)
            and (len(result) == 2 if backward is not None else len(result) >= 2)):
        got = (f"a tuple of length {len(result)}" if isinstance(result, tuple)
               else f"a {type(result).__name__}")
        raise TypeError(f"check_backward: {_name(forward)} must return {wanted}, but it "
                        f"returned {got}")
    if backward is not None:
        return result[0], None
    grads = result[1:]
    if len(grads) == 1:
        grads = grads[0] if isinstance(grads[0], (tuple, list)) else [grads[0]]
    return result[0], list(grads)


def _as_list(grads):
    """What a backward pass returned, as a list of gradients (None stays None)."""
    if grads is None:
        return None
    if isinstance(grads, (tuple, list)):
        return list(grads)
    return [grads]  # one array: the gradient of the one input, or a wrong count (reported)


def _compare_gradient(k, names, shape, mine, reference, rtol, floor, top):
    """The report of one input's gradient against circuitgrad's ``reference``; ``floor`` is
    the smallest denominator of a relative error (see check_backward)."""
    def problem(text):
        return BackwardInputReport(k, names.get(k), shape, text, float("nan"), [], 0, False)

    if mine is None:
        return problem("missing (None)")
    try:
        mine = np.asarray(mine, dtype=np.float64)
    except (TypeError, ValueError):
        return problem(f"not an array of numbers but a {type(mine).__name__}")
    if mine.shape != shape:
        return problem(f"shape {mine.shape} but the input has shape {shape}")
    a, n = mine.reshape(-1), reference.reshape(-1)
    rel = _relative_errors(a, n, floor)
    order = np.argsort(-rel, kind="stable")[:top]
    worst = [Entry(tuple(int(i) for i in np.unravel_index(j, shape)), float(a[j]),
                   float(n[j]), float(rel[j])) for j in order]
    mismatches = int(np.sum(rel > rtol))
    return BackwardInputReport(k, names.get(k), shape, None,
                               float(rel.max()) if rel.size else 0.0, worst, mismatches,
                               mismatches == 0)


def _name(f):
    return getattr(f, "__name__", type(f).__name__)


def _parameter_names(f):
    """{position: name} of the function's positional parameters (empty if unknown)."""
    try:
        parameters = inspect.signature(f).parameters.values()
    except (TypeError, ValueError):  # some builtins have no signature
        return {}
    positional = [p.name for p in parameters
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return dict(enumerate(positional))


def _label(k, names):
    return f"input {k}" + (f" ({names[k]})" if k in names else "")


def _is_float_array(a):
    return backend.is_array(a) and a.dtype.kind == "f"


def _plain_float64(a, k, names, notes):
    """An argument as your code gets it: tensors as arrays, float arrays in float64."""
    if isinstance(a, Tensor):
        a = np.array(a.data)
    if _is_float_array(a) and a.dtype != np.float64:
        notes.append(f"{_label(k, names)} is {a.dtype}; checked in float64")
        a = a.astype(np.float64)
    return a


def _checked_positions(args, wrt, names):
    """The positions of the checked inputs: ``wrt``, or every float array argument. A
    number named in ``wrt`` becomes a float in ``args``."""
    if wrt is None:
        wrt = tuple(k for k, a in enumerate(args) if _is_float_array(a))
        if not wrt:
            raise ValueError("check_backward: no argument is a float array; say which "
                             "inputs to check with wrt=")
        return wrt
    wrt = (wrt,) if isinstance(wrt, numbers.Integral) else tuple(wrt)
    positions = []
    for k in wrt:
        if not -len(args) <= k < len(args):
            raise ValueError(f"check_backward: wrt={wrt} names input {k}, but there are "
                             f"{len(args)} inputs")
        k %= len(args)
        a = args[k]
        if isinstance(a, numbers.Real) and not isinstance(a, bool):
            args[k] = float(a)  # a number checked: a float in both runs
        elif not _is_float_array(a):
            kind = f"{a.dtype} data" if backend.is_array(a) else f"a {type(a).__name__}"
            raise NotDifferentiableError(f"check_backward: {_label(k, names)} is {kind}, "
                                         f"which has no gradient; wrt names float arrays "
                                         f"or numbers")
        positions.append(k)
    return tuple(positions)
