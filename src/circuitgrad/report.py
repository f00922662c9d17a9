"""What ``circuitgrad grad`` computes and shows for an expression: its value, gradients,
staged listing and picture. Shared by the command line and the demo (notes_examples),
which both import it, so that neither imports the other.
"""

import warnings

import numpy as np

from . import backend
from .i18n import english, msg


class Report:
    """What ``circuitgrad grad`` prints: value, gradients, staged listing."""

    def __init__(self, expr, y, listing, grads):
        self.expr, self.y, self.listing, self.grads = expr, y, listing, grads

    def lines(self, staged=True, _=english):
        """The lines printed, in the language of the translator ``_``."""
        from .draw.format import SMALL, summary

        name = self.listing.circuit.output.name
        data = [self.expr.inputs[n].data for n in self.expr.names]
        sep = "; " if any(np.size(d) > SMALL for d in data) else ", "
        given = sep.join(f"{n}={summary(d, _=_)}" for n, d in zip(self.expr.names, data,
                                                                  strict=True))
        out = [_("{output} = {expr}   at {inputs}").format(
                   output=name, expr=self.expr.shown(), inputs=given),
               _("value: {output} = {value}").format(output=name,
                                                    value=summary(self.y.data, _=_)),
               _("gradients:")]
        width = max(len(n) for n in self.expr.names)
        for n in self.expr.names:
            out.append(f"  d{name}/d{n.ljust(width)} = {summary(self.grads[n], _=_)}")
        if staged:
            out += ["", *self.listing.lines(_)]
        return out


def compute(expr, y, upstream=None):
    """Back-propagate the evaluated expression; check every number is finite."""
    from .draw.circuit import DrawError
    from .expr import ExprError
    from .staged import staged
    from .tensor import Tensor

    if not isinstance(y, Tensor) or not y.requires_grad:
        raise ExprError(msg("the expression does not depend on its inputs, so every "
                            "gradient is zero; nothing to show"))
    if upstream is None and y.size != 1:
        raise ExprError(msg("the expression's value has shape {shape}, not a single number: "
                            "wrap it in sum(...), or give its gradient with --upstream",
                            shape=y.shape))
    if upstream is not None and np.shape(upstream) != y.shape:
        raise ExprError(msg("--upstream has shape {upstream} but the expression's value has "
                            "shape {shape}", upstream=np.shape(upstream), shape=y.shape))
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            listing = staged(y, upstream)
    except DrawError as err:
        raise ExprError(err.args[0] if len(err.args) == 1 else str(err)) from None
    for step in listing.backward:
        value = np.asarray(step.value)
        if not np.all(np.isfinite(value)):
            place = expr.positions.get(id(step.node.tensor)) if step.node else None
            line = f"{step.target} {step.op} {step.expr}"
            if place:
                raise ExprError(msg("the gradient is not finite: the backward step '{line}' "
                                    "of {part} gives {bad}, at {where}", line=line,
                                    part=place[2], bad=_first_bad(value),
                                    where=expr.where(place[0], place[1])))
            raise ExprError(msg("the gradient is not finite: the backward step '{line}' gives "
                                "{bad}", line=line, bad=_first_bad(value)))
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


def picture_for(report, _=english):
    """The picture ``--svg``/``--png`` write: every wire named, the expression as title,
    the legend in the language of the translator ``_``."""
    from .draw import CircuitTooLargeError, Picture, to_dot
    from .draw.circuit import DEFAULT_MAX_GATES

    circuit = report.listing.circuit
    if len(circuit.gates) > DEFAULT_MAX_GATES:
        raise CircuitTooLargeError(msg(
            "the circuit has {count} gates, more than a readable picture holds ({limit}); "
            "draw a smaller expression, or part of it from Python with "
            "circuitgrad.draw(y, stop_at=[...])", count=len(circuit.gates),
            limit=DEFAULT_MAX_GATES))
    title = f"{circuit.output.name} = {report.expr.shown()}"
    if len(title) > 90:
        title = title[:87] + "..."
    return Picture(to_dot(circuit, names=True, title=title, _=_), gates=len(circuit.gates))
