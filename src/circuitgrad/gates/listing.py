"""How the staged listing writes a gate: its forward expression and its inputs' gradients.

A gate whose local derivative is a formula (``gate.local``) needs nothing here: its lines
are that formula with the wires' names put in. A gate whose rules are written out carries
a :class:`Text` beside them, whose functions receive a *site*: the gate as it sits in one
circuit, with ``site.arg(k)`` (how operand ``k`` is named), ``site.value(k)`` (its value),
``site.out`` and ``site.g`` (the names of the output and of its gradient),
``site.out_value``, ``site.params`` and ``site.constant(obj)`` (how an array parameter is
named). The texts are NumPy expressions: evaluated on the listed values, each gives the
number listed beside it (the tests run every listing to check that).

>>> number(2.0), number(-1), number(0.5), number(1 / 3)
('2', '-1', '0.5', '0.3333')
"""

import numbers

import numpy as np

from .. import backend
from .define import listed, needs_parentheses

# Gates written as an operator between their two inputs: their symbol is the operator.
OPERATORS = ("+", "-", "*", "/", "@", "**", "%")


class Text:
    """``forward(site)``: the right-hand side of the gate's forward line; ``backward(site,
    i)``: the gradient of input ``i``, upstream included. Either may be None (defaults)."""

    __slots__ = ("forward", "backward")

    def __init__(self, forward=None, backward=None):
        self.forward = forward
        self.backward = backward


def forward_text(gate, site, n):
    """The forward line's right-hand side for a gate with ``n`` operands."""
    text = gate.text
    if text is not None and text.forward is not None:
        return text.forward(site)
    args = [site.arg(k) for k in range(n)]
    if gate.symbol in OPERATORS and n == 2:
        return f"{args[0]} {gate.symbol} {args[1]}"
    if gate.symbol == "-x":
        return f"-{args[0]}"
    return f"{gate.api or gate.name}({', '.join(args)})"


def backward_text(gate, site, i):
    """The text of input ``i``'s gradient, or None when the gate has none to list."""
    if gate.local is not None:
        names = {"out": site.out}
        names.update({v: site.arg(k) for k, v in enumerate(("x", "y")[:len(gate.local)])})
        formula = gate.local[i]
        local = listed(formula, names)
        return f"({local}) * {site.g}" if needs_parentheses(formula) else f"{local} * {site.g}"
    text = gate.text
    if text is not None and text.backward is not None:
        return text.backward(site, i)
    return None


# ----- pieces of text the gates' Texts share ------------------------------------------------
def number(c):
    """A scalar constant as it reads in an expression: ``2`` rather than ``2.000``."""
    c = float(c)
    if c.is_integer() and abs(c) < 1e15:
        return str(int(c))
    return f"{c:.4g}"


def axes_text(axis):
    return str(axis[0]) if len(axis) == 1 else str(tuple(axis))


def tuple_text(items):
    items = list(items)
    return f"({items[0]},)" if len(items) == 1 else f"({', '.join(items)})"


def pair_text(pair):
    pair = tuple(int(n) for n in pair)
    return str(pair[0]) if pair[0] == pair[1] else str(pair)


def window_text(stride, padding):
    """``, stride=2`` and ``, padding=1`` where they are not the defaults 1 and 0."""
    text = "" if tuple(stride) == (1, 1) else f", stride={pair_text(stride)}"
    return text + ("" if tuple(padding) == (0, 0) else f", padding={pair_text(padding)}")


def axis_text(params):
    """``, axis=1`` and ``, keepdims=True`` as a reduction's params say."""
    axis = params.get("axis")
    parts = []
    if axis is not None:
        axis = tuple(axis) if isinstance(axis, (tuple, list)) else (axis,)
        parts.append(f"axis={axis[0] if len(axis) == 1 else axis}")
    if params.get("keepdims"):
        parts.append("keepdims=True")
    return "".join(", " + p for p in parts)


def kept(text, params):
    """``text`` (a reduction's output or gradient) with the reduced axes put back as size 1,
    so it broadcasts against the reduction's input; ``axis`` reaches a gate normalised."""
    axis = params.get("axis")
    if axis is None or params.get("keepdims"):
        return text
    return f"expand_dims({text}, {axes_text(axis)})"


def index_text(index):
    """An index as it is written between brackets: ``0, 1:, ::2, None, ...``."""
    index = index if isinstance(index, tuple) else (index,)
    parts = []
    for item in index:
        if isinstance(item, slice):
            text = ":".join("" if v is None else str(v) for v in (item.start, item.stop))
            if item.step is not None:
                text += f":{item.step}"
            parts.append(text)
        elif item is None:
            parts.append("None")
        elif item is Ellipsis:
            parts.append("...")
        elif backend.is_array(item):
            parts.append(np.array2string(item, separator=", ", threshold=6))
        elif isinstance(item, numbers.Integral):
            parts.append(str(int(item)))
        else:
            parts.append(str(item))
    return ", ".join(parts)


def unbroadcast_text(g, a, shape, out_shape):
    """``g`` summed over the axes broadcasting added or stretched, to ``a``'s shape."""
    lead = len(out_shape) - len(shape)
    stretched = [lead + k for k, n in enumerate(shape) if n == 1 and out_shape[lead + k] != 1]
    axes = axes_text(tuple(range(lead)) + tuple(stretched))
    if not stretched:
        return f"sum({g}, axis={axes})"
    if not lead:
        return f"sum({g}, axis={axes}, keepdims=True)"
    return f"reshape(sum({g}, axis={axes}), {a}.shape)"
