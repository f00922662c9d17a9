"""Every worked example of the CS231n backprop notes, as data, in the notes' order.

Each :class:`Example` is an expression with its inputs (what ``circuitgrad grad`` takes) and
the numbers the notes give for it. ``circuitgrad demo`` runs each one through the same path
as ``circuitgrad grad``: evaluate, back-propagate, list the staged computation, check every
gradient against central differences and against the notes, and draw the circuit.

>>> [e.key for e in EXAMPLES]      # doctest: +NORMALIZE_WHITESPACE
['multiply', 'max', 'add-multiply', 'sigmoid-neuron-circuit', 'sigmoid-neuron-code',
 'staged', 'gradient-patterns', 'matmul']
>>> run_example(EXAMPLES[0]).value
-12.0
"""

import math
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import backend
from .i18n import msg, render, translator


@dataclass
class Example:
    """One worked example: ``expected`` maps a name (``f``, ``q``) to its value and
    ``dNAME`` to the gradient of the output with respect to NAME, with a tolerance (the
    notes round some numbers to two decimals)."""

    key: str
    section: str
    title: str
    expression: str
    inputs: dict
    expected: dict = field(default_factory=dict)
    tolerance: float = 1e-9
    upstream: object = None
    lesson: str = ""

    def command(self):
        """The ``circuitgrad grad`` command that computes the same thing, if short."""
        if self.upstream is not None or any(np.size(v) > 4 for v in self.inputs.values()):
            return None

        def value(v):
            v = np.asarray(v)
            text = str(v.tolist()).replace(".0,", ",").replace(".0]", "]")
            text = text[:-2] if text.endswith(".0") else text
            return f'"{text}"' if v.ndim else text
        args = " ".join(f"{k}={value(v)}" for k, v in self.inputs.items())
        return f'circuitgrad grad "{self.expression}" {args}'


def notes_staged_code(x, y):
    """The notes' staged example, forward and backward, exactly as the notes write it."""
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
    return {"sigy": sigy, "num": num, "sigx": sigx, "xpy": xpy, "xpysqr": xpysqr,
            "den": den, "invden": invden, "f": f, "dnum": dnum, "dinvden": dinvden,
            "dden": dden, "dsigx": dsigx, "dxpysqr": dxpysqr, "dxpy": dxpy, "dsigy": dsigy,
            "dx": dx, "dy": dy}


def _matmul_example():
    rng = backend.default_rng(231)
    W = rng.standard_normal((5, 10))
    X = rng.standard_normal((10, 3))
    dD = rng.standard_normal((5, 3))  # "suppose we had the gradient on D"
    return Example(
        "matmul", msg("Gradients for vectorized operations"),
        msg("D = W.dot(X), W 5x10, X 10x3"),
        "(D := W @ X)", {"W": W, "X": X},
        expected={"D": W.dot(X), "dW": dD.dot(X.T), "dX": W.T.dot(dD)}, upstream=dD,
        lesson=msg("dW = dD.dot(X.T) has W's shape 5x10 and dX = W.T.dot(dD) has X's shape "
                   "10x3: the shapes tell where the transposes go"))


EXAMPLES = [
    Example("multiply", msg("Simple expressions and interpretation of the gradient"),
            msg("f(x, y) = xy at x = 4, y = -3"), "x * y", {"x": 4.0, "y": -3.0},
            expected={"f": -12.0, "dx": -3.0, "dy": 4.0},
            lesson=msg("increase x by a tiny h and f decreases by 3h; increase y and f grows "
                       "by 4h")),
    Example("max", msg("Simple expressions and interpretation of the gradient"),
            msg("f(x, y) = max(x, y) at x = 4, y = 2"), "max(x, y)", {"x": 4.0, "y": 2.0},
            expected={"f": 4.0, "dx": 1.0, "dy": 0.0},
            lesson=msg("f is not sensitive to y: nudging y leaves max at 4, so df/dy = 0")),
    Example("add-multiply", msg("Compound expressions with chain rule"),
            msg("f(x, y, z) = (x + y) z at x = -2, y = 5, z = -4"), "(q := x + y) * z",
            {"x": -2.0, "y": 5.0, "z": -4.0},
            expected={"q": 3.0, "f": -12.0, "dz": 3.0, "dq": -4.0, "dx": -4.0, "dy": -4.0},
            lesson=msg("the add gate hands its gradient -4 unchanged to both its inputs")),
    Example("sigmoid-neuron-circuit", msg("Modularity: Sigmoid example"),
            msg("the 2-d sigmoid neuron as the notes draw it, w = [2, -3, -3], x = [-1, -2]"),
            "1 / (1 + exp((dot := w0 * x0 + w1 * x1 + w2) * -1))",
            {"w0": 2.0, "x0": -1.0, "w1": -3.0, "x1": -2.0, "w2": -3.0},
            expected={"f": 0.73, "ddot": 0.2, "dx0": 0.39, "dx1": -0.59, "dw0": -0.20,
                      "dw1": -0.39, "dw2": 0.20},
            tolerance=0.01,
            lesson=msg("gates *-1, exp, +1 and 1/x make up the sigmoid; at the end, 0.73 and "
                       "a local gradient of (1 - 0.73) * 0.73 = 0.2")),
    Example("sigmoid-neuron-code", msg("Modularity: Sigmoid example"),
            msg("the same neuron as the notes code it: one sigmoid gate, vectors w and x"),
            "sigmoid(dot := w[0] * x[0] + w[1] * x[1] + w[2])",
            {"w": [2.0, -3.0, -3.0], "x": [-1.0, -2.0]},
            expected={"f": 0.73, "ddot": 0.2, "dx": [0.39, -0.59], "dw": [-0.20, -0.39, 0.20]},
            tolerance=0.01,
            lesson=msg("ddot = (1 - f) * f; dx = [w[0] * ddot, w[1] * ddot]; "
                       "dw = [x[0] * ddot, x[1] * ddot, 1.0 * ddot]")),
    Example("staged", msg("Backprop in practice: Staged computation"),
            msg("f(x, y) = (x + sigmoid(y)) / (sigmoid(x) + (x + y)^2) at x = 3, y = -4"),
            "(x + sigmoid(y)) / (sigmoid(x) + (x + y)**2)", {"x": 3.0, "y": -4.0},
            expected=notes_staged_code(3.0, -4.0),
            lesson=msg("x and y each feed several gates, so their gradients add up with +=")),
    Example("gradient-patterns", msg("Patterns in backward flow"),
            msg("f = 2 (x y + max(z, w)) at x = 3, y = -4, z = 2, w = -1"),
            "2 * (x * y + max(z, w))", {"x": 3.0, "y": -4.0, "z": 2.0, "w": -1.0},
            expected={"dx": -8.0, "dy": 6.0, "dz": 2.0, "dw": 0.0},
            lesson=msg("add distributes the gradient 2 to both inputs; max routes it to the "
                       "larger input z (w gets 0); multiply swaps its inputs: dx = -4 * 2 = -8")),
    _matmul_example(),
]


@dataclass
class Outcome:
    """What running one example gave: its report, the checks, and any failures."""

    example: Example
    report: object
    value: float | None
    check: object
    notes_failures: list

    @property
    def failures(self):
        check = [] if self.check.ok else [
            msg("the gradient check against central differences failed:\n{report}",
                report=str(self.check))]
        return self.notes_failures + check


def run_example(example):
    """Evaluate, back-propagate and check one example (no printing, no pictures)."""
    from .expr import parse
    from .gradcheck import check_grad
    from .report import compute

    expr = parse(example.expression)
    values = {k: np.asarray(v, dtype=np.float64) for k, v in example.inputs.items()}
    y = expr.evaluate(values)
    upstream = None if example.upstream is None else np.asarray(example.upstream)
    report = compute(expr, y, upstream)

    failures = []
    nodes = {n.name: n for n in report.listing.circuit.nodes}
    for key, want in example.expected.items():
        is_grad = key.startswith("d") and key[1:] in nodes and key not in nodes
        node = nodes.get(key[1:] if is_grad else key)
        if node is None:
            failures.append(msg("{key}: no such wire in the circuit", key=key))
            continue
        got = node.grad if is_grad else node.value
        if got is None or not np.allclose(got, want, rtol=0, atol=example.tolerance) and \
                not np.allclose(got, want, rtol=1e-9, atol=0):
            failures.append(msg("{key} is {got}, the notes say {want}", key=key,
                                got=np.round(got, 4).tolist(), want=np.round(want, 4).tolist()))

    fresh = parse(example.expression)
    names = fresh.names

    def f(*ts):
        out = fresh.evaluate(dict(zip(names, ts, strict=True)))
        return out if upstream is None else (out * upstream).sum()

    check = check_grad(f, *[values[n] for n in names])
    value = float(y.item()) if y.size == 1 else None
    return Outcome(example, report, value, check, failures)


def run_demo(out="circuitgrad-demo", pictures=True, stream=None, lang="en"):
    """``circuitgrad demo``: every example printed, checked and drawn, in ``lang`` (the
    code, the expressions and the names as written); returns the exit status."""
    from .draw import DrawError, find_engine
    from .report import picture_for

    stream = stream or sys.stdout
    _ = translator(lang)

    def say(text=""):
        print(text, file=stream)

    folder = Path(out)
    if pictures and find_engine() is None:
        from .draw.render import INSTALL_HINT
        say(_("note: pictures skipped, the layout engine is missing; {hint}").format(
            hint=render(INSTALL_HINT, _)))
        pictures = False
    if pictures:
        folder.mkdir(parents=True, exist_ok=True)
    say(_("The worked examples of the CS231n backprop notes, in the notes' order."))
    say(_("Green numbers in the pictures are values (forward pass), red ones gradients "
          "(backward pass)."))
    failed = 0
    for k, example in enumerate(EXAMPLES, 1):
        say()
        say("=" * 78)
        say(f"{k}. {render(example.title, _)}")
        say("   " + _("notes: {section}").format(section=render(example.section, _)))
        say("=" * 78)
        command = example.command()
        if command:
            say(f"$ {command}")
        else:
            shapes = ", ".join(f"{n}: {np.shape(v)}" for n, v in example.inputs.items())
            if example.upstream is None:
                say(_("expression: {expr}   with random {shapes}").format(
                    expr=example.expression, shapes=shapes))
            else:
                say(_("expression: {expr}   with random {shapes}, upstream gradient of "
                      "shape {shape}").format(expr=example.expression, shapes=shapes,
                                              shape=np.shape(example.upstream)))
        outcome = run_example(example)
        for line in outcome.report.lines(_=_):
            say(line)
        say()
        if example.expected:
            verdict = _("DISAGREE") if outcome.notes_failures else _("agree")
            say(_("the notes' numbers ({names}): {verdict}").format(
                names=", ".join(example.expected), verdict=verdict))
        worst = outcome.check.max_rel_error
        say(_("gradient check (central differences): {verdict}, max relative error "
              "{error}").format(verdict=_("ok") if outcome.check.ok else _("FAILED"),
                                error=f"{worst:.1e}"))
        if example.lesson:
            say(_("lesson: {lesson}").format(lesson=render(example.lesson, _)))
        for failure in outcome.failures:
            say(_("FAILED: {failure}").format(failure=render(failure, _)))
        if outcome.failures:
            failed += 1
        if pictures:
            stem = folder / f"{k:02d}-{example.key}"
            try:
                picture = picture_for(outcome.report, _)
                picture.save(stem.with_suffix(".svg"))
                picture.save(stem.with_suffix(".png"))
                say(_("picture: {stem}.svg and .png").format(stem=stem))
            except DrawError as err:
                say(_("FAILED: picture: {error}").format(error=render(err, _)))
                failed += 1
    say()
    total = len(EXAMPLES)
    if failed:
        say(_("{failed} of {total} examples FAILED").format(failed=failed, total=total))
        return 1
    if pictures:
        say(_("all {total} examples agree with the notes and with central differences; "
              "pictures in {folder}").format(total=total, folder=folder.resolve()))
    else:
        say(_("all {total} examples agree with the notes and with central "
              "differences").format(total=total))
    return 0
