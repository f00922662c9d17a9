"""The circuit behind a tensor, read once for pictures and staged listings.

:func:`read_circuit` walks back from an output (iteratively, refusing circuits that are too
big to draw), then asks the engine for the gradient on every wire
(:func:`~circuitgrad.core.backward.wire_gradients`, the numbers ``backward`` computes) and,
for every gate input, the share of that gradient the gate sends back along that one wire
(the gate's own VJP rule applied to its upstream gradient). Where a wire forks, those
shares add up to the wire's gradient.

After ``backward()`` (without ``retain_graph``) the circuit has been walked: its structure
and small values are kept, and each small wire kept the gradient of that pass, which is
what the picture then shows (``.grad`` adds up over calls, so it is not used). A wire that
feeds one gate passes its kept gradient on unchanged; at a fork, each branch's share is
recomputed by the gate's VJP rule from the kept upstream gradient and values. Large
values (and their gradients) were let go; the picture says so.

>>> import circuitgrad as cg
>>> x = cg.tensor(3.0, requires_grad=True, name="x")
>>> c = read_circuit(x * x + 1)
>>> [(n.name, n.kind) for n in c.nodes]
[('x', 'input'), ('xx', 'gate'), ('f', 'gate')]
>>> [float(s) for s in c.nodes[1].shares]      # d(x*x)/dx = x + x: one share per wire
[3.0, 3.0]
"""

import numbers

import numpy as np

from ..core.backward import unbroadcast, wire_gradients
from ..core.circuit import read
from ..core.node import Wire, newest, place, walked
from ..errors import CircuitError, GraphFreedError
from ..i18n import msg
from .format import ReleasedValue

DEFAULT_MAX_GATES = 200


class DrawError(CircuitError):
    """A circuit could not be drawn or listed."""


class CircuitTooLargeError(DrawError, ValueError):
    """More gates than a readable picture holds; the message says how to draw a part."""


class Node:
    """One tensor of the circuit: an input, a constant, or the output of a gate.

    ``kind`` is ``'input'`` (a leaf that needs a gradient, or a named leaf), ``'const'`` (a
    constant tensor drawn as its own box), ``'cut'`` (a tensor named in ``stop_at``, drawn
    as an input) or ``'gate'``. A gate node has ``operands``: per gate input, either
    ``('node', Node)`` or ``('const', value)`` for a scalar constant folded into the gate's
    label; ``shares[i]`` is the gradient sent back along input ``i`` (None if none).
    """

    __slots__ = ("tensor", "index", "kind", "name", "user_named", "operands", "shares",
                 "consumers", "value", "grad")

    def __init__(self, tensor, index, kind):
        self.tensor = tensor
        self.index = index
        self.kind = kind
        self.name = None
        self.user_named = bool(tensor.name)
        self.operands = []
        self.shares = []
        self.consumers = []  # (gate node, input index), in circuit order
        data = tensor.data
        # a large value no backward rule needed was let go: keep its shape for the label
        self.value = np.asarray(data) if data is not None else \
            tensor._value.view(ReleasedValue)
        self.grad = None

    @property
    def gate(self):
        return self.tensor.gate if self.kind == "gate" else None

    @property
    def params(self):
        return self.tensor.params

    def __repr__(self):
        return f"<{self.kind} {self.name}>"


class Circuit:
    """The nodes of a circuit (inputs first, the output last) with values and gradients."""

    def __init__(self, nodes, output, has_grads, note=None, walked=False):
        self.nodes = nodes
        self.output = output
        self.has_grads = has_grads
        self.note = note  # why gradients are missing, when they are
        self.walked = walked  # read after backward(): that pass's gradients, large values gone

    @property
    def gates(self):
        return [n for n in self.nodes if n.kind == "gate"]

    @property
    def inputs(self):
        return [n for n in self.nodes if n.kind in ("input", "cut")]


def _is_folded_constant(x):
    """Scalar constants are written into the gate's label (``*2``, ``+1``, ``1/x``)."""
    if not isinstance(x, Wire):
        return isinstance(x, numbers.Number) or np.ndim(x) == 0
    return (x.gate is None and not x.requires_grad and not x.name and x.size == 1
            and x.ndim == 0)


def _read(y, stop_at, max_gates):
    """The circuit behind ``y`` as core's Circuit; stops at ``stop_at``; refuses huge ones."""
    c = read(y, stop=stop_at)
    if max_gates is not None and len(c.equations) > max_gates:
        raise CircuitTooLargeError(msg(
            "this circuit has more than {limit} gates, too many for a readable "
            "picture. Draw part of it: draw(t) for an intermediate tensor t shows the "
            "circuit that produced t; draw(y, stop_at=[a, b]) shows only the gates "
            "between the tensors a, b and y; or pass max_gates=N to draw it whole",
            limit=max_gates))
    return c


def read_circuit(y, *, grads=True, g=None, stop_at=(), max_gates=DEFAULT_MAX_GATES):
    """Read the circuit behind ``y``: nodes, names, values, gradients and per-wire shares.

    Gradients are those of ``y`` (seeded with ``g``, needed when ``y`` has more than one
    element); they are left out when ``grads`` is false or ``y`` needs no gradient. After
    ``y.backward()`` (without ``retain_graph``) they are the gradients of that pass, as its
    walk left them on the wires (see the module docstring); ``g`` is then refused.
    """
    from ..tensor import Tensor

    if not isinstance(y, Tensor):
        raise TypeError(f"expected a circuitgrad Tensor, got {type(y).__name__}")
    stop = {id(place(t)) for t in stop_at}
    c = _read(y, stop_at, max_gates)
    nodes, by_id, equation_of = [], {}, {}
    for v in c.wires:  # each wire once, inputs before the gates that read them
        t = v.wire
        if v.kind == "const" and _is_folded_constant(t):
            continue  # written into its gate's label instead (``*2``, ``+1``)
        kind = "cut" if id(t) in stop else v.kind
        node = Node(t, len(nodes), kind)
        nodes.append(node)
        by_id[id(v)] = node
        if kind == "gate":
            equation_of[id(node)] = c.equation_of[id(v)]
    order = [n.tensor for n in nodes]
    for node in nodes:
        if node.kind != "gate":
            continue
        for i, x in enumerate(equation_of[id(node)].inputs):
            operand = by_id.get(id(x))
            if operand is not None:
                node.operands.append(("node", operand))
                operand.consumers.append((node, i))
            else:  # a literal, or a folded scalar constant
                node.operands.append(("const", x.value))
    output = by_id[id(c.outputs[0])]
    output.value = np.asarray(y.data)  # the caller holds y, so its value is always there
    was_walked = walked(place(newest(y)))
    if not was_walked and grads and y.requires_grad:
        for t in order:
            if t.gate is not None and walked(t):
                raise GraphFreedError(
                    f"gate '{t.gate.name}' of this circuit was freed by a backward() from "
                    f"another output: draw that output, draw with grads=False, or pass "
                    f"retain_graph=True to that backward()")

    has_grads, note = False, None
    if not grads:
        note = "gradients hidden"
    elif not y.requires_grad:
        note = msg("no gradients: nothing in this circuit requires a gradient")
    elif was_walked:
        if g is not None:
            raise DrawError(
                "g= for a circuit backward() has walked: the picture shows the gradients "
                "of that pass; to draw with another upstream gradient, pass "
                "retain_graph=True to backward()")
        has_grads = True
        _read_walked_gradients(nodes, place(newest(y)), whole=not stop)
    elif g is None and y.size != 1:
        note = msg("no gradients: the output has shape {shape}; pass the upstream gradient g "
                   "of that shape", shape=y.shape)
    else:
        totals = wire_gradients(y, g)
        has_grads = True
        for node in nodes:
            node.grad = totals.get(id(node.tensor))
        for node in nodes:
            if node.kind == "gate":
                node.shares = _shares(node)
    _name_nodes(nodes, output)
    return Circuit(nodes, output, has_grads, note, walked=was_walked)


def _read_walked_gradients(nodes, root, whole):
    """Gradients of the backward pass that walked ``root``'s circuit, as it left them.

    Each small wire the walk reached kept its gradient (``_acc``, stamped with the walk in
    ``_epoch``). A wire whose gradient all comes through one gate of the picture passes it
    on unchanged, which needs no values (so it stays right after ``p.data -= lr * p.grad``);
    that holds when the picture starts from the walk's own output (``whole``). Fork
    branches are recomputed by the gate's rule where the values it reads were kept. A leaf
    a later walk has reached since (a shared parameter) gets the sum of its shares.
    """
    walk = root._epoch
    whole = whole and id(root) in walk.roots
    for node in nodes:
        t = node.tensor
        node.grad = t._acc if t._epoch is walk else None
    for node in nodes:
        if node.kind != "gate":
            continue
        node.shares = [None] * len(node.operands)
        recomputed = None
        for i, (kind, operand) in enumerate(node.operands):
            if kind != "node" or not operand.tensor.requires_grad:
                continue
            if whole and len(operand.consumers) == 1 and operand.grad is not None:
                node.shares[i] = operand.grad
                continue
            if recomputed is None:
                recomputed = _shares(node) if _rule_values_kept(node.tensor) else []
            if recomputed:
                node.shares[i] = recomputed[i]
    for node in nodes:
        if node.grad is None and node.kind != "gate" and node.consumers \
                and not isinstance(node.value, ReleasedValue):
            shares = [_share_of(head, i) for head, i in node.consumers]
            if all(s is not None for s in shares):
                node.grad = sum(shares[1:], shares[0])


def _share_of(head, i):
    return head.shares[i] if i < len(head.shares) else None


def _rule_values_kept(t):
    """Did the walk keep every value gate ``t``'s VJP rule reads (``saves``, ``saves_out``)?"""
    gate, inputs = t.gate, t.inputs
    if gate.saves_out and t.data is None:
        return False
    reads = range(len(inputs)) if gate.saves is None else gate.saves
    for j in reads:
        x = inputs[j] if j < len(inputs) else None
        if isinstance(x, ReleasedValue) or (isinstance(x, Wire) and x.data is None):
            return False
    return not any(isinstance(v, ReleasedValue) for v in t.params.values())


def _shares(node):
    """Per input of a gate: the gradient it sends back along that wire (its VJP rule)."""
    t, g = node.tensor, node.grad
    inputs = t.inputs
    shares = [None] * len(inputs)
    if g is None:
        return shares
    gate, params = t.gate, t.params
    # the values the rule saw (a value no rule reads may be a zero-filled stand-in)
    args = [x._value if isinstance(x, Wire) else x for x in inputs]
    for i, x in enumerate(inputs):
        if not (isinstance(x, Wire) and x.requires_grad):
            continue
        try:
            with np.errstate(all="ignore"):
                share = gate.vjp[i](g, t._value, *args, **params)
        except Exception:  # a rule that cannot be replayed: show the wire without a share
            share = None
        if share is None:
            continue
        share = np.asarray(share)
        if share.shape != x.shape and share.ndim >= x.ndim:
            share = unbroadcast(share, x.shape)
        shares[i] = share
    return shares


# ----- names ------------------------------------------------------------------------------
_PREFIX = {"sigmoid": "sig", "exp": "exp", "log": "log", "sqrt": "sqrt", "abs": "abs",
           "relu": "relu", "tanh": "tanh", "sin": "sin", "cos": "cos", "neg": "neg",
           "sum": "sum", "mean": "mean", "max": "max", "min": "min"}
_JOIN = {"add": "p", "sub": "m", "mul": "", "matmul": ""}
_LONGEST = 10


def _name_nodes(nodes, output):
    """Give every node a name for the staged listing, as the notes name their stages.

    User names win. The output is ``f``. Otherwise names are built from the operands'
    names: ``sigy = sigmoid(y)``, ``xpy = x + y``, ``xpysqr = xpy**2``, ``invden = 1/den``,
    ``w0 = w[0]``; the compound numerator and denominator of a division are ``num`` and
    ``den``. Names too long to read become the gate's name and a number (``add3``).
    """
    taken = {n.tensor.name for n in nodes if n.tensor.name}
    counters = {}

    def claim(base):
        name, k = base, 2
        while name in taken:
            name, k = f"{base}{k}", k + 1
        taken.add(name)
        return name

    role = {}
    for node in nodes:  # the notes' num and den
        if node.kind != "gate":
            continue
        gate, ops = node.gate.name, node.operands
        if gate == "div" and ops[0][0] == "node":
            role.setdefault(id(ops[0][1]), "num")
        if gate == "div" and ops[1][0] == "node":
            role.setdefault(id(ops[1][1]), "den")
        if gate == "mul":
            for k in (0, 1):
                other = ops[1 - k]
                if (ops[k][0] == "node" and other[0] == "node" and _is_reciprocal(other[1])):
                    role.setdefault(id(ops[k][1]), "num")
    unnamed_inputs = 0
    for node in nodes:
        if node.tensor.name:
            node.name = node.tensor.name
            continue
        if node is output:
            node.name = claim("f")
            continue
        if node.kind != "gate":
            if node.kind == "const":
                node.name = claim("c")
            else:
                unnamed_inputs += 1
                node.name = claim(f"in{unnamed_inputs}")
            continue
        base = role.get(id(node)) or _compose(node)
        if not base or len(base) > _LONGEST or not base.isidentifier():
            gate = node.gate.name
            counters[gate] = counters.get(gate, 0) + 1
            base = f"{gate}{counters[gate]}"
        node.name = claim(base)


def _is_reciprocal(node):
    ops = node.operands
    return (node.kind == "gate" and node.gate.name == "div" and ops[0][0] == "const"
            and np.ndim(ops[0][1]) == 0 and float(ops[0][1]) == 1.0)


def _compose(node):
    gate, ops = node.gate.name, node.operands
    names = [op[1].name if op[0] == "node" else None for op in ops]
    if _is_reciprocal(node) and names[1]:
        return "inv" + names[1]
    if gate in ("pow_const", "square") and names[0]:
        p = node.params.get("p", 2)
        if p == 2:
            return names[0] + "sqr"
        if p == -1:
            return "inv" + names[0]
        if p == 0.5:
            return "sqrt" + names[0]
        return None
    if gate == "mul" and len(ops) == 2 and sum(map(bool, names)) == 1:
        other = ops[0][1] if ops[0][0] == "const" else ops[1][1]
        if np.ndim(other) == 0 and float(other) == -1:
            return "neg" + (names[0] or names[1])
    if gate in _JOIN and len(names) == 2 and all(names):
        return names[0] + _JOIN[gate] + names[1]
    if gate in ("maximum", "minimum") and len(names) == 2 and all(names):
        return gate[:3] + names[0] + names[1]
    if gate in _PREFIX and names and names[0] and len(ops) == 1:
        return _PREFIX[gate] + names[0]
    if gate == "getitem" and names[0]:
        index = node.params.get("index", ())
        if all(isinstance(i, numbers.Integral) for i in index):
            return names[0] + "".join(str(int(i)).replace("-", "m") for i in index)
    return None
