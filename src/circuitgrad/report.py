"""What ``circuitgrad grad`` computes and shows for an expression: its value, gradients,
staged listing and picture. Shared by the command line and the demo (notes_examples),
which both import it, so that neither imports the other.
"""

import warnings

import numpy as np

from . import backend


class Report:
    """What ``circuitgrad grad`` prints: value, gradients, staged listing."""

    def __init__(self, expr, y, listing, grads):
        self.expr, self.y, self.listing, self.grads = expr, y, listing, grads

    def lines(self, staged=True):
        from .draw.format import SMALL, summary

        name = self.listing.circuit.output.name
        data = [self.expr.inputs[n].data for n in self.expr.names]
        sep = "; " if any(np.size(d) > SMALL for d in data) else ", "
        given = sep.join(f"{n}={summary(d)}" for n, d in zip(self.expr.names, data,
                                                             strict=True))
        out = [f"{name} = {self.expr.shown()}   at {given}",
               f"value: {name} = {summary(self.y.data)}", "gradients:"]
        width = max(len(n) for n in self.expr.names)
        for n in self.expr.names:
            out.append(f"  d{name}/d{n.ljust(width)} = {summary(self.grads[n])}")
        if staged:
            out += ["", *self.listing.lines()]
        return out


def compute(expr, y, upstream=None):
    """Back-propagate the evaluated expression; check every number is finite."""
    from .draw.circuit import DrawError
    from .expr import ExprError
    from .staged import staged
    from .tensor import Tensor

    if not isinstance(y, Tensor) or not y.requires_grad:
        raise ExprError("the expression does not depend on its inputs, so every gradient "
                        "is zero; nothing to show")
    if upstream is None and y.size != 1:
        raise ExprError(f"the expression's value has shape {y.shape}, not a single number: "
                        f"wrap it in sum(...), or give its gradient with --upstream")
    if upstream is not None and np.shape(upstream) != y.shape:
        raise ExprError(f"--upstream has shape {np.shape(upstream)} but the expression's "
                        f"value has shape {y.shape}")
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            listing = staged(y, upstream)
    except DrawError as err:
        raise ExprError(str(err)) from None
    for step in listing.backward:
        value = np.asarray(step.value)
        if not np.all(np.isfinite(value)):
            of, where = "", ""
            place = expr.positions.get(id(step.node.tensor)) if step.node else None
            if place:
                of, where = f" of {place[2]}", ", at " + expr.where(place[0], place[1])
            raise ExprError(f"the gradient is not finite: the backward step "
                            f"'{step.target} {step.op} {step.expr}'{of} gives "
                            f"{_first_bad(value)}{where}")
    by_id = {id(n.tensor): n for n in listing.circuit.nodes}
    grads = {}
    for name, t in expr.inputs.items():
        node = by_id.get(id(t))
        g = None if node is None else node.grad
        grads[name] = backend.zeros_like(t.data) if g is None else g
    return Report(expr, y, listing, grads)


def _first_bad(value):
    bad = value[~np.isfinite(value)].flat[0]
    return "nan" if np.isnan(bad) else ("inf" if bad > 0 else "-inf")


def picture_for(report):
    """The picture ``--svg``/``--png`` write: every wire named, the expression as title."""
    from .draw import CircuitTooLargeError, Picture, to_dot
    from .draw.circuit import DEFAULT_MAX_GATES

    circuit = report.listing.circuit
    if len(circuit.gates) > DEFAULT_MAX_GATES:
        raise CircuitTooLargeError(
            f"the circuit has {len(circuit.gates)} gates, more than a readable picture "
            f"holds ({DEFAULT_MAX_GATES}); draw a smaller expression, or part of it from "
            f"Python with circuitgrad.draw(y, stop_at=[...])")
    title = f"{circuit.output.name} = {report.expr.shown()}"
    if len(title) > 90:
        title = title[:87] + "..."
    return Picture(to_dot(circuit, names=True, title=title), gates=len(circuit.gates))
