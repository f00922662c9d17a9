"""The staged computation, as the notes write it: the forward pass one gate per line, then
the backward pass in reverse, one local-gradient step per line, ``+=`` where a wire forks.

The numbers are the engine's: every backward line is the gate's own VJP rule applied to the
upstream gradient, and the ``+=`` lines add up to exactly the gradients ``backward`` gives.

>>> import circuitgrad as cg
>>> x = cg.tensor(3.0, requires_grad=True, name="x")
>>> y = cg.tensor(-4.0, requires_grad=True, name="y")
>>> f = (x + y) * x
>>> print(staged(f))
# forward pass
x = 3.000
y = -4.000
xpy = x + y = -1.000     # (1)
f = xpy * x = -3.000     # (2)
<BLANKLINE>
# backward pass
df = 1.000
dxpy = x * df = 3.000    # (2)
dx = xpy * df = -1.000   # (2)
dx += (1) * dxpy = 3.000 # (1), dx is now 2.000
dy = (1) * dxpy = 3.000  # (1)
"""

import unicodedata
from dataclasses import dataclass, field

import numpy as np

from . import backend
from .draw.circuit import read_circuit
from .draw.format import SMALL, const, summary
from .gates import indexing
from .gates.listing import backward_text, forward_text, index_text
from .i18n import english, msg, render


@dataclass
class Step:
    """One line of a staged listing: ``target op expr = value``."""

    target: str
    op: str = "="
    expr: str = ""
    value: object = None
    stage: int | None = None
    total: object = None  # for '+=': the target's value after this step
    note: str = ""
    node: object = field(default=None, repr=False)  # the gate node of the circuit
    shown: str = ""  # how the value is written, when not as summary() writes it

    def code(self, _=english):
        """The line's code; an array's summary in the language of the translator ``_``."""
        value = self.shown or summary(self.value, _=_)
        rhs = f"{self.expr} = {value}" if self.expr else value
        return f"{self.target} {self.op} {rhs}"

    def comment(self, _=english):
        """The line's comment, in the language of the translator ``_``."""
        parts = []
        if self.stage is not None:
            parts.append(f"({self.stage})")
        if self.op == "+=" and self.total is not None:
            parts.append(_("{target} is now {value}").format(target=self.target,
                                                               value=summary(self.total, _=_)))
        if self.note:
            parts.append(render(self.note, _))
        return _(", ").join(parts)

    def __str__(self):
        comment = self.comment()
        return f"{self.code()}  # {comment}" if comment else self.code()


@dataclass
class Staged:
    """A staged listing: ``forward`` and ``backward`` Steps; ``str()`` prints it."""

    forward: list = field(default_factory=list)
    backward: list = field(default_factory=list)
    circuit: object = None
    note: str = ""

    def lines(self, _=english):
        """The listing's lines; headers and comments in the language of the translator
        ``_`` (the code as it is)."""
        blocks = [("# " + _("forward pass"), self.forward)]
        if self.backward:
            blocks.append(("# " + _("backward pass"), self.backward))
        width = max((_columns(s.code(_)) for s in self.forward + self.backward
                     if s.comment()), default=0)
        width = min(width, 64)
        out = []
        for k, (title, steps) in enumerate(blocks):
            if k:
                out.append("")
            out.append(title)
            for s in steps:
                comment = s.comment(_)
                code = s.code(_)
                padding = " " * max(width - _columns(code), 0)
                out.append(f"{code}{padding} # {comment}" if comment else code)
        if self.note:
            out += ["", "# " + render(self.note, _)]
        return out

    def __str__(self):
        return "\n".join(self.lines())


def _columns(text):
    """How many terminal columns ``text`` takes: a Chinese character takes two, so that
    the comments line up after names typed in Chinese."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def staged(y, g=None, *, stop_at=(), max_gates=None):
    """The staged forward and backward computation of the circuit behind ``y``.

    Intermediates are named as the notes name them (``sigy``, ``xpy``, ``num``...) unless
    they carry a ``name``. An array constant a gate reads that is not a wire (the condition
    of ``where``, the labels of a cross-entropy, array bounds of ``clip``) gets a line of
    its own, ``cond = [True, False]``, for the lines that read it to name. ``g`` is the
    upstream gradient of a non-scalar ``y``.
    """
    c = read_circuit(y, g=g, stop_at=stop_at, max_gates=max_gates)
    listing = Staged(circuit=c, note=c.note or "")
    stage = {}
    names = _Constants(n.name for n in c.nodes)
    for node in c.nodes:
        if node.kind == "gate":
            for name, value in names.add(node):  # cond = [True, False], labels = [0, 2]
                listing.forward.append(Step(name, "=", "", value, shown=_array_text(value)))
            stage[id(node)] = len(stage) + 1
            listing.forward.append(Step(node.name, "=", forward_expr(node, names), node.value,
                                        stage[id(node)], node=node))
        else:
            listing.forward.append(Step(node.name, "=", "", node.value))
    if not c.has_grads:
        return listing
    out = c.output
    seed = out.grad if out.grad is not None else backend.ones_like(out.value)
    listing.backward.append(Step("d" + out.name, "=", "", seed))
    totals = {}
    for node in reversed(c.gates):
        if node.grad is None:
            continue
        for i, (kind, operand) in enumerate(node.operands):
            share = node.shares[i] if i < len(node.shares) else None
            if kind != "node" or share is None:
                continue
            listing.backward.extend(_backward_steps(node, i, operand, share, totals,
                                                    stage[id(node)], names))
    return listing


# ----- how each gate is written ------------------------------------------------------------
class _Constants(dict):
    """Names for the array constants a gate reads that are not wires of the circuit: the
    condition of ``where``, the labels of ``softmax_cross_entropy``, array bounds of
    ``clip``. Each gets a forward line of its own (``cond = [True, False]``), so that the
    lines that read it can name it; keyed by the array's id."""

    _BASE = {("where", 0): "cond", ("softmax_cross_entropy", 1): "labels"}

    def __init__(self, taken):
        super().__init__()
        self.taken = set(taken)

    def add(self, node):
        """Name the array constants of ``node`` not named yet: [(name, value)]."""
        gate = node.gate.name
        found = [(self._BASE.get((gate, k), "c"), obj)
                 for k, (kind, obj) in enumerate(node.operands) if kind == "const"]
        if gate == "clip":
            found += [(key, node.params.get(key)) for key in ("lo", "hi")]
        new = []
        for base, obj in found:
            if obj is None or np.ndim(obj) == 0 or id(obj) in self:
                continue
            name, k = base, 2
            while name in self.taken:
                name, k = f"{base}{k}", k + 1
            self.taken.add(name)
            self[id(obj)] = name
            new.append((name, np.asarray(obj)))
        return new


def _array_text(value):
    """A small boolean or integer array as NumPy prints it, ``[True, False]``, ``[0, 2]``."""
    value = np.asarray(value)
    if value.dtype.kind in "biu" and value.size <= SMALL:
        return str(value.tolist())
    return ""


def _text(operand, names=None):
    kind, obj = operand
    if kind == "node":
        return obj.name
    return (names or {}).get(id(obj)) or const(obj)


class _Site:
    """A gate node as the gates' listing texts read it (see ``gates/listing.py``)."""

    __slots__ = ("node", "names")

    def __init__(self, node, names):
        self.node = node
        self.names = names

    def arg(self, k):
        return _text(self.node.operands[k], self.names)

    def value(self, k):
        return _value(self.node.operands[k])

    @property
    def count(self):
        return len(self.node.operands)

    @property
    def gate_name(self):
        return self.node.gate.name

    @property
    def out(self):
        return self.node.name

    @property
    def g(self):
        return "d" + self.node.name

    @property
    def out_value(self):
        return self.node.value

    @property
    def params(self):
        return self.node.params

    def constant(self, value):
        """A parameter as the listing writes it: a number, ``None``, or an array's name."""
        if value is None:
            return "None"
        return self.names.get(id(value)) or const(value)


def forward_expr(node, names=None):
    """The right-hand side of a gate's forward line, e.g. ``sigmoid(y)`` or ``x + y``.

    ``names`` names the array constants the gate reads (see ``_Constants``).
    """
    site = _Site(node, names if names is not None else {})
    return forward_text(node.gate, site, len(node.operands))


def _local(node, i, names=None):
    """The local-gradient factor times the upstream gradient, as the gate's definition
    writes it; None for a gate with no text (a custom gate).

    Evaluated with NumPy on the listed values, every formula gives the listed value (summed
    to the input's shape where the line's note says so). Besides NumPy's names, the texts of
    the neural-network gates read circuitgrad's ``softmax`` and ``nn.functional``'s
    ``unfold`` and ``fold``, the functions their forward lines name.
    """
    return backward_text(node.gate, _Site(node, names if names is not None else {}), i)


def _matmul_summed(node, i):
    """Whether operand ``i`` of a batched matmul was broadcast over batch axes, so that the
    listed formula gives more axes than the operand has and its share is summed back."""
    shapes = [np.shape(_value(op)) for op in node.operands]
    core = sum(len(s) >= 2 for s in shapes)  # output axes that are not batch axes
    batch = np.shape(node.value)[:np.ndim(node.value) - core]
    return batch != shapes[i][:-2]


def _value(operand):
    kind, obj = operand
    return obj.value if kind == "node" else np.asarray(obj)


def _backward_steps(node, i, operand, share, totals, stage, names=None):
    target = "d" + operand.name
    key = id(operand)
    first = key not in totals
    steps = []
    note = ""
    if node.gate is indexing.getitem:  # dx[index] += dgate, into zeros_like(x)
        index = node.params["index"]
        if first:
            totals[key] = backend.zeros_like(operand.value, dtype=share.dtype)
            steps.append(Step(target, "=", f"zeros_like({operand.name})",
                              totals[key].copy(), stage, node=node))
        totals[key] = totals[key] + share
        # dx[index] += dgate reads as np.add.at: where an integer index repeats, each of its
        # entries adds up (NumPy's own += on a repeated index would keep only the last)
        note = msg("repeated indices add up") if _repeats(index, operand.value.shape) else ""
        steps.append(Step(f"{target}[{index_text(index)}]", "+=", "d" + node.name,
                          np.asarray(node.grad), stage, note=note, node=node))
        return steps
    if node.gate.name == "matmul":
        summed = _matmul_summed(node, i)
    else:
        summed = node.gate.broadcasts and np.shape(share) != np.shape(node.value)
    if summed:
        note = msg("summed to {name}'s shape", name=operand.name)
    expr = _local(node, i, names)
    if expr is None:  # no formula to list: the line names the local gradient, and says so
        expr = f"(d{node.name}/d{operand.name}) * d{node.name}"
        symbolic = msg("symbolic: no formula for {gate}", gate=node.gate.name)
        note = msg("{note}, {more}", note=note, more=symbolic) if note else symbolic
    totals[key] = share if first else totals[key] + share
    steps.append(Step(target, "=" if first else "+=", expr, share, stage,
                      None if first else totals[key], note, node))
    return steps


def _repeats(index, shape):
    """Whether ``index`` picks some entry of an array of ``shape`` more than once."""
    index = index if isinstance(index, tuple) else (index,)
    if indexing.is_basic(index):
        return False
    hits = backend.zeros(shape, dtype=np.int64)
    backend.add_at(hits, index, 1)
    return bool(np.any(hits > 1))
