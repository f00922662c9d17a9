"""The circuit as an object: an ordered list of equations, each one gate.

A recorded computation is read into a :class:`Circuit`: its inputs (the leaves it starts
from), its equations in the order the forward pass ran them (``out = gate(inputs,
params)``), and its outputs. A circuit can be printed (one equation a line), evaluated on
new input values (each gate's forward, in order), and walked by the views: staged
listings, pictures, the compiler. It is plain data: nothing in it refers back to the
Tensors it was read from except ``Var.wire``, which the views use for gradients.

>>> import circuitgrad as cg
>>> x = cg.tensor(3.0, requires_grad=True, name="x")
>>> y = cg.tensor(-4.0, requires_grad=True, name="y")
>>> c = read((x + y) * x)
>>> print(c)
def circuit(x, y):
    add1 = add(x, y)
    mul1 = mul(add1, x)
    return mul1
>>> c.evaluate(2.0, 5.0)
[14.0]
"""

from ..errors import CircuitError
from .graph import topological
from .node import Wire, newest, place, stored_inputs


class Var:
    """A wire of the circuit: an input, a constant leaf, or the output of an equation.

    ``value`` is the value recorded (None where a large value no rule needed was let go);
    ``wire`` the recorded wire itself.
    """

    __slots__ = ("name", "kind", "value", "wire", "shape", "dtype")

    def __init__(self, name, kind, wire):
        self.name = name
        self.kind = kind  # "input", "const" or "gate"
        self.wire = wire
        data = wire.data
        self.value = data
        self.shape = tuple(wire.shape)
        self.dtype = wire.dtype

    def __repr__(self):
        return self.name


class Literal:
    """A constant written into an equation (a Python number or an array that is no wire)."""

    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value

    def __repr__(self):
        value = self.value
        if getattr(value, "ndim", 0):
            return f"<array {tuple(value.shape)}>"
        return repr(value.item() if hasattr(value, "item") else value)


class Equation:
    """``output = gate(*inputs, **params)``: one gate of the circuit."""

    __slots__ = ("gate", "inputs", "params", "output")

    def __init__(self, gate, inputs, params, output):
        self.gate = gate
        self.inputs = inputs    # Vars and Literals, in the gate's argument order
        self.params = params    # the gate's non-array parameters (axis, shape, index...)
        self.output = output

    def __str__(self):
        args = [repr(x) for x in self.inputs]
        args += [f"{k}={v!r}" for k, v in self.params.items()]
        return f"{self.output.name} = {self.gate.name}({', '.join(args)})"


class Circuit:
    """Inputs, equations in forward order, outputs: a recorded computation as data."""

    def __init__(self, inputs, consts, equations, outputs, wires=None):
        self.inputs = inputs        # the leaves that need a gradient (or are named)
        self.consts = consts        # the other leaves: constant tensors
        self.equations = equations
        self.outputs = outputs
        # every Var, each leaf just before the first equation that reads it (pictures and
        # listings show them in this order)
        self.wires = wires if wires is not None else inputs + consts + [
            eq.output for eq in equations]
        self.equation_of = {id(eq.output): eq for eq in equations}

    def __len__(self):
        return len(self.equations)

    def __str__(self):
        lines = [f"def circuit({', '.join(v.name for v in self.inputs)}):"]
        for c in self.consts:
            lines.append(f"    {c.name} = <constant {c.dtype} {c.shape}>")
        lines += [f"    {eq}" for eq in self.equations]
        lines.append(f"    return {', '.join(v.name for v in self.outputs)}")
        return "\n".join(lines)

    def _repr_pretty_(self, p, cycle):  # IPython shows the listing
        p.text(str(self))

    def evaluate(self, *values, run=None):
        """The outputs' values for new input values (one per ``inputs``, in order).

        Each equation runs its gate's forward on the values, in order; ``run(gate,
        inputs, params)`` replaces that (Tensor's ``apply`` records the circuit again).
        """
        if len(values) != len(self.inputs):
            raise CircuitError(f"this circuit takes {len(self.inputs)} inputs "
                               f"({', '.join(v.name for v in self.inputs)}), "
                               f"not {len(values)}")
        env = {id(v): value for v, value in zip(self.inputs, values, strict=True)}
        for c in self.consts:
            env[id(c)] = c.value
        for eq in self.equations:
            args = [env[id(x)] if isinstance(x, Var) else x.value for x in eq.inputs]
            if any(a is None for a in args):
                raise CircuitError(f"cannot evaluate '{eq}': an input's value was released")
            env[id(eq.output)] = (eq.gate.forward(*args, **eq.params) if run is None
                                  else run(eq.gate, tuple(args), eq.params))
        return [env[id(v)] for v in self.outputs]


def read(*outputs, stop=(), order_inputs=()):
    """The circuit that computed ``outputs`` (Tensors), back to its leaves (or to the wires
    in ``stop``, which become inputs). Inputs come in the order they are first met, those
    in ``order_inputs`` first. Iterative: deep circuits need no deep stack."""
    stop_ids = {id(place(t)) for t in stop}
    order, seen = [], set()
    for y in outputs:
        for w in topological(y, stop=stop_ids):
            if id(w) not in seen:
                seen.add(id(w))
                order.append(w)
    names = _Names()
    var_of, inputs, consts, equations, wires = {}, [], [], [], []
    for w in order:
        if w._gate is None or id(w) in stop_ids:
            kind = "input" if w.requires_grad or _user_name(w) or id(w) in stop_ids \
                else "const"
            given = _user_name(w)
            v = Var(names.claim(given or ("x" if kind == "input" else "c"), exact=given),
                    kind, w)
            (inputs if kind == "input" else consts).append(v)
        else:
            given = _user_name(w)
            v = Var(names.claim(given or w._gate.name, exact=given), "gate", w)
            args = [var_of[id(place(x))] if isinstance(x, Wire) else Literal(x)
                    for x in stored_inputs(w)]
            equations.append(Equation(w._gate, args, dict(w._params or {}), v))
        var_of[id(w)] = v
        wires.append(v)
    first = {id(place(t)): k for k, t in enumerate(order_inputs)}
    inputs.sort(key=lambda v: first.get(id(v.wire), len(first)))  # stable: met order after
    ends = [var_of[id(place(newest(y)))] for y in outputs]
    return Circuit(inputs, consts, equations, ends, wires)


def _user_name(w):
    meta = w._meta
    return meta.name if meta is not None and meta.name else getattr(w, "name", None)


class _Names:
    """Unique names: user names as given, others numbered (``add1``, ``x1``...)."""

    def __init__(self):
        self.taken = set()
        self.counts = {}

    def claim(self, base, exact=False):
        """``base`` itself when ``exact`` (a user's name) and free, else ``base`` numbered."""
        if exact and base not in self.taken:
            self.taken.add(base)
            return base
        while True:
            k = self.counts[base] = self.counts.get(base, 0) + 1
            name = f"{base}{k}"
            if name not in self.taken:
                self.taken.add(name)
                return name
