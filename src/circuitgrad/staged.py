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

from dataclasses import dataclass, field

import numpy as np

from .draw.circuit import read_circuit
from .draw.format import SMALL, const, index_text, summary
from .gates.indexing import is_basic
from .gates.reduce import kept_shape


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

    def code(self):
        value = self.shown or summary(self.value)
        rhs = f"{self.expr} = {value}" if self.expr else value
        return f"{self.target} {self.op} {rhs}"

    def comment(self):
        parts = []
        if self.stage is not None:
            parts.append(f"({self.stage})")
        if self.op == "+=" and self.total is not None:
            parts.append(f"{self.target} is now {summary(self.total)}")
        if self.note:
            parts.append(self.note)
        return ", ".join(parts)

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

    def lines(self):
        blocks = [("# forward pass", self.forward)]
        if self.backward:
            blocks.append(("# backward pass", self.backward))
        width = max((len(s.code()) for s in self.forward + self.backward if s.comment()),
                    default=0)
        width = min(width, 64)
        out = []
        for k, (title, steps) in enumerate(blocks):
            if k:
                out.append("")
            out.append(title)
            for s in steps:
                comment = s.comment()
                code = s.code()
                out.append(f"{code.ljust(width)} # {comment}" if comment else code)
        if self.note:
            out += ["", f"# {self.note}"]
        return out

    def __str__(self):
        return "\n".join(self.lines())


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
    seed = out.grad if out.grad is not None else np.ones_like(out.value)
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


def _bound(value, names):
    """A bound of ``clip``: a number, ``None``, or the name of an array bound."""
    if value is None:
        return "None"
    return names.get(id(value)) or const(value)


def _window_text(stride, padding):
    """``, stride=2`` and ``, padding=1`` where they are not the defaults 1 and 0."""
    text = "" if tuple(stride) == (1, 1) else f", stride={_pair_text(stride)}"
    return text + ("" if tuple(padding) == (0, 0) else f", padding={_pair_text(padding)}")


def _pair_text(pair):
    pair = tuple(int(n) for n in pair)
    return str(pair[0]) if pair[0] == pair[1] else str(pair)


def _tuple_text(items):
    items = list(items)
    return f"({items[0]},)" if len(items) == 1 else f"({', '.join(items)})"


def _axis_text(params):
    axis = params.get("axis")
    parts = []
    if axis is not None:
        axis = tuple(axis) if isinstance(axis, (tuple, list)) else (axis,)
        parts.append(f"axis={axis[0] if len(axis) == 1 else axis}")
    if params.get("keepdims"):
        parts.append("keepdims=True")
    return "".join(", " + p for p in parts)


_BINARY = {"add": "+", "sub": "-", "mul": "*", "div": "/", "matmul": "@", "pow": "**",
           "remainder": "%"}


def forward_expr(node, names=None):
    """The right-hand side of a gate's forward line, e.g. ``sigmoid(y)`` or ``x + y``.

    ``names`` names the array constants the gate reads (see ``_Constants``).
    """
    names = names if names is not None else {}
    gate, params = node.gate.name, node.params
    args = [_text(op, names) for op in node.operands]
    if gate in _BINARY and len(args) == 2:
        return f"{args[0]} {_BINARY[gate]} {args[1]}"
    if gate == "neg":
        return f"-{args[0]}"
    if gate == "pow_const":
        return f"{args[0]}**{const(params['p'])}"
    if gate == "square":
        return f"{args[0]}**2"
    if gate in ("maximum", "minimum"):
        return f"{gate[:3]}({args[0]}, {args[1]})"
    if gate in ("sum", "mean", "max", "min", "logsumexp"):
        return f"{gate}({args[0]}{_axis_text(params)})"
    if gate == "log_softmax":
        return f"log_softmax({args[0]}, axis={params['axis']})"
    if gate == "getitem":
        return f"{args[0]}[{index_text(params['index'])}]"
    if gate == "transpose":
        axes = params.get("axes")
        return f"{args[0]}.T" if axes is None or list(axes) == list(
            range(node.value.ndim))[::-1] else f"transpose({args[0]}, {tuple(axes)})"
    if gate == "reshape":
        return f"reshape({args[0]}, {tuple(params['shape'])})"
    if gate == "clip":
        lo, hi = (_bound(params.get(k), names) for k in ("lo", "hi"))
        return f"clip({args[0]}, {lo}, {hi})"
    if gate == "cast":
        return f"{args[0]}.astype({np.dtype(params['dtype']).name})"
    if gate == "broadcast_to":
        return f"broadcast_to({args[0]}, {tuple(params['shape'])})"
    if gate in ("concatenate", "stack"):
        return f"{gate}({_tuple_text(args)}, axis={params['axis']})"
    if gate == "einsum":
        return f"einsum('{','.join(params['ins'])}->{params['out_spec']}', {', '.join(args)})"
    if gate == "unfold":
        return (f"unfold({args[0]}, {_pair_text(params['kernel'])}"
                f"{_window_text(params['stride'], params['padding'])})")
    if gate == "fold":
        return (f"fold({args[0]}, {tuple(params['shape'])}"
                f"{_window_text(params['stride'], params['padding'])})")
    if gate == "max_pool2d":
        kernel, stride = params["kernel"], params["stride"]
        more = "" if tuple(stride) == tuple(kernel) else f", stride={_pair_text(stride)}"
        return f"max_pool2d({args[0]}, {_pair_text(kernel)}{more})"
    if gate == "scatter_add":
        return (f"scatter_add({args[0]}, index=s_[{index_text(params['index'])}], "
                f"shape={tuple(params['shape'])})")
    return f"{gate}({', '.join(args)})"


def _axes_text(axis):
    return str(axis[0]) if len(axis) == 1 else str(tuple(axis))


def _kept(text, params):
    """``text`` (a reduction's output or gradient) with the reduced axes put back as size 1,
    so it broadcasts against the reduction's input; ``axis`` reaches a gate normalised."""
    axis = params.get("axis")
    if axis is None or params.get("keepdims"):
        return text
    return f"expand_dims({text}, {_axes_text(axis)})"


def _local(node, i, names=None):
    """The local-gradient factor times the upstream gradient, as the notes write it; None
    for a gate with no formula here (a custom gate).

    Evaluated with NumPy on the listed values, every formula gives the listed value (summed
    to the input's shape where the line's note says so); special cases such as ties are
    written out only when the values have them. Besides NumPy's names, the formulas of the
    neural-network gates read circuitgrad's ``softmax`` and ``nn.functional``'s ``unfold``
    and ``fold``, the functions their forward lines name.
    """
    names = names if names is not None else {}
    gate, params = node.gate.name, node.params
    ops = node.operands
    a = _text(ops[0], names)
    b = _text(ops[1], names) if len(ops) > 1 else None
    out, g = node.name, "d" + node.name
    if gate == "add":
        return f"(1) * {g}"
    if gate == "sub":
        return f"({'1' if i == 0 else '-1'}) * {g}"
    if gate == "mul":
        return f"{b if i == 0 else a} * {g}"
    if gate == "div":
        if i == 0:
            return f"(1 / {b}) * {g}"
        return f"(-{a} / {b}**2) * {g}"
    if gate == "remainder":
        return f"(1) * {g}" if i == 0 else f"(-floor({a} / {b})) * {g}"
    if gate == "neg":
        return f"(-1) * {g}"
    if gate in ("pow_const", "square"):
        p = params.get("p", 2)
        if p == 2:
            return f"(2 * {a}) * {g}"
        if p in (0, 1):
            return f"({const(p)}) * {g}"
        return f"({const(p)} * {a}**{const(p - 1)}) * {g}"
    if gate == "pow":
        if i == 0:
            return f"({b} * {a}**({b} - 1)) * {g}"
        if np.any(_value(ops[0]) <= 0):  # the rule takes log(a) as 0 there (not smooth in b)
            return f"(where({a} > 0, log({a}), 0) * {out}) * {g}"
        return f"(log({a}) * {out}) * {g}"
    if gate == "exp":
        return f"{out} * {g}"
    if gate == "expm1":
        return f"({out} + 1) * {g}"
    if gate == "log":
        return f"(1 / {a}) * {g}"
    if gate == "log1p":
        return f"(1 / (1 + {a})) * {g}"
    if gate == "sqrt":
        return f"(0.5 / {out}) * {g}"
    if gate == "abs":
        return f"sign({a}) * {g}"
    if gate == "relu":
        return f"({a} > 0) * {g}"
    if gate == "sigmoid":
        return f"(1 - {out}) * {out} * {g}"
    if gate == "tanh":
        return f"(1 - {out}**2) * {g}"
    if gate == "sin":
        return f"cos({a}) * {g}"
    if gate == "cos":
        return f"-sin({a}) * {g}"
    if gate in ("maximum", "minimum"):
        me, other = (a, b) if i == 0 else (b, a)
        cmp = ">" if gate == "maximum" else "<"
        x, y = (_value(ops[0]), _value(ops[1]))
        if np.any(x == y):
            return f"(({me} {cmp} {other}) + 0.5 * ({me} == {other})) * {g}"
        return f"({me} {cmp} {other}) * {g}"
    if gate == "matmul":
        return _matmul_local(i, a, b, g, _value(ops[0]).ndim, _value(ops[1]).ndim)
    if gate in ("sum", "mean"):
        spread = _kept(g, params)
        if gate == "mean":
            n = node.tensor.inputs[0].size // max(node.value.size, 1)
            return f"ones_like({a}) * {spread} / {n}"
        return f"ones_like({a}) * {spread}"
    if gate in ("max", "min"):
        hit = f"{a} == {_kept(out, params)}"
        axis = params.get("axis")
        kept_out = np.reshape(node.value, kept_shape(_value(ops[0]).shape, axis))
        if np.any(np.sum(_value(ops[0]) == kept_out, axis=axis) > 1):
            # a tie: the entries equal to the extreme share the gradient evenly
            count = f"sum({hit})" if axis is None else \
                f"sum({hit}, axis={_axes_text(axis)}, keepdims=True)"
            return f"(({hit}) / {count}) * {_kept(g, params)}"
        return f"({hit}) * {_kept(g, params)}"
    if gate == "logsumexp":
        lse = _kept(out, params)
        if np.any(node.value == -np.inf):  # an all -inf slice: weights 0, as the rule has
            lse = f"where({lse} == -inf, 0, {lse})"
        return f"exp({a} - {lse}) * {_kept(g, params)}"
    if gate == "log_softmax":
        return f"{g} - exp({out}) * sum({g}, axis={params['axis']}, keepdims=True)"
    if gate == "transpose":
        axes = params.get("axes")
        ndim = np.ndim(node.value)
        if axes is None or list(axes) == list(range(ndim))[::-1]:
            return f"{g}.T"
        return f"transpose({g}, {tuple(int(k) for k in np.argsort(axes))})"  # the inverse
    if gate == "reshape":
        return f"reshape({g}, {a}.shape)"
    if gate == "clip":
        lo, hi = (params.get(k) for k in ("lo", "hi"))
        inside = ([f"({_bound(lo, names)} <= {a})"] if lo is not None else []) + \
            ([f"({a} <= {_bound(hi, names)})"] if hi is not None else [])
        return f"({' & '.join(inside)}) * {g}" if len(inside) > 1 else f"{inside[0]} * {g}"
    if gate == "where":  # the condition picks where the gradient goes, and is not differentiated
        cond = _text(ops[0], names)
        return f"where({cond}, {g}, 0)" if i == 1 else f"where({cond}, 0, {g})"
    if gate == "cast":  # back to the input's precision
        return f"{g}.astype({_value(ops[0]).dtype.name})"
    if gate == "identity":
        return f"(1) * {g}"
    if gate == "broadcast_to":
        return _unbroadcast_text(g, a, np.shape(_value(ops[0])), np.shape(node.value))
    if gate == "concatenate":
        axis = params["axis"]
        sizes = [np.shape(_value(op))[axis] for op in ops]
        start, stop = sum(sizes[:i]), sum(sizes[:i + 1])
        piece = slice(start or None, stop if stop < sum(sizes) else None)
        return f"{g}[{index_text((slice(None),) * axis + (piece,))}]"
    if gate == "stack":
        return f"{g}[{index_text((slice(None),) * params['axis'] + (i,))}]"
    if gate == "einsum":
        return _einsum_local(node, i, g, names)
    if gate == "scatter_add":
        return f"{g}[{index_text(params['index'])}]"
    if gate == "unfold":  # a pixel seen by several windows: their gradients add up
        return f"fold({g}, {a}.shape{_window_text(params['stride'], params['padding'])})"
    if gate == "fold":
        kernel = np.shape(_value(ops[0]))[:2]
        return f"unfold({g}, {_pair_text(kernel)}" \
            f"{_window_text(params['stride'], params['padding'])})"
    if gate == "max_pool2d":  # the notes' max gate, window by window
        kernel, stride = params["kernel"], params["stride"]
        windows = f"unfold({a}, {_pair_text(kernel)}{_window_text(stride, (0, 0))})"
        hit = f"{windows} == {out}"
        if _pool_ties(_value(ops[0]), node.value, kernel, stride):
            hit = f"({hit}) / sum({hit}, axis=(0, 1))"
        return f"fold(({hit}) * {g}, {a}.shape{_window_text(stride, (0, 0))})"
    if gate == "softmax_cross_entropy":  # the famous (softmax(s) - onehot(y)) / N
        n, classes = np.shape(_value(ops[0]))
        labels = _text(ops[1], names)
        return f"(softmax({a}, axis=1) - eye({classes})[{labels}]) / {n} * {g}"
    return None


def _unbroadcast_text(g, a, shape, out_shape):
    """``g`` summed over the axes broadcast_to added or stretched, to ``a``'s shape."""
    lead = len(out_shape) - len(shape)
    stretched = [lead + k for k, n in enumerate(shape) if n == 1 and out_shape[lead + k] != 1]
    axes = _axes_text(tuple(range(lead)) + tuple(stretched))
    if not stretched:
        return f"sum({g}, axis={axes})"
    if not lead:
        return f"sum({g}, axis={axes}, keepdims=True)"
    return f"reshape(sum({g}, axis={axes}), {a}.shape)"


def _einsum_local(node, i, g, names):
    """The gradient of an einsum operand: the einsum of ``g`` with the other operands, as
    the gate's rule computes it (axes summed away inside the operand come back by
    broadcasting, size-1 axes einsum stretched are summed back)."""
    ins, out_spec = node.params["ins"], node.params["out_spec"]
    target = ins[i]
    others = [k for k in range(len(ins)) if k != i]
    present = set(out_spec).union(*(ins[k] for k in others))
    kept = "".join(c for c in target if c in present)
    spec = ",".join([out_spec] + [ins[k] for k in others]) + "->" + kept
    operands = [g] + [_text(node.operands[k], names) for k in others]
    text = g if not others and kept == out_spec else \
        f"einsum('{spec}', {', '.join(operands)})"
    shape = np.shape(_value(node.operands[i]))
    size = dict(zip(target, shape, strict=True))
    full = dict(zip(out_spec, np.shape(node.value), strict=True))
    for k in others:
        for c, n in zip(ins[k], np.shape(_value(node.operands[k])), strict=True):
            if full.get(c, 1) == 1:
                full[c] = n
    grad_shape = tuple(full[c] for c in kept)
    stretched = tuple(k for k, c in enumerate(kept) if size[c] == 1 and grad_shape[k] != 1)
    if stretched:
        text = f"sum({text}, axis={_axes_text(stretched)}, keepdims=True)"
        grad_shape = tuple(1 if k in stretched else n for k, n in enumerate(grad_shape))
    if grad_shape != shape:
        missing = tuple(k for k, c in enumerate(target) if c not in present)
        if missing != tuple(range(len(missing))):  # broadcasting puts back leading axes only
            text = f"expand_dims({text}, {_axes_text(missing)})"
        text = f"broadcast_to({text}, {_text(node.operands[i], names)}.shape)"
    return text


def _pool_ties(x, out, kernel, stride):
    """Whether some pooling window holds its maximum more than once."""
    from .gates.nn import _unfold_forward

    hits = (_unfold_forward(np.asarray(x), kernel, stride, (0, 0)) == np.asarray(out))
    return bool(np.any(hits.sum(axis=(0, 1)) > 1))


def _matmul_local(i, a, b, g, nda, ndb):
    """The notes' dW = dD @ X.T and dX = W.T @ dD, with NumPy's rules for 1-d and batched
    operands (a 1-d operand is a row on the left, a column on the right)."""
    t = ".T" if max(nda, ndb) <= 2 else ".mT"
    if nda == 1 and ndb == 1:
        return f"{b if i == 0 else a} * {g}"
    if nda >= 2 and ndb == 1:
        if nda == 2:
            return f"outer({g}, {b})" if i == 0 else f"{a}.T @ {g}"
        return f"{g}[..., None] * {b}" if i == 0 else f"({a}.mT @ {g}[..., None])[..., 0]"
    if nda == 1 and ndb >= 2:
        if ndb == 2:
            return f"{b} @ {g}" if i == 0 else f"outer({a}, {g})"
        return f"({b} @ {g}[..., None])[..., 0]" if i == 0 else \
            f"{a}[:, None] * {g}[..., None, :]"
    return f"{g} @ {b}{t}" if i == 0 else f"{a}{t} @ {g}"


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
    if node.gate.name == "getitem":
        index = node.params["index"]
        if first:
            totals[key] = np.zeros_like(operand.value, dtype=share.dtype)
            steps.append(Step(target, "=", f"zeros_like({operand.name})",
                              totals[key].copy(), stage, node=node))
        totals[key] = totals[key] + share
        # dx[index] += dgate reads as np.add.at: where an integer index repeats, each of its
        # entries adds up (NumPy's own += on a repeated index would keep only the last)
        note = "repeated indices add up" if _repeats(index, operand.value.shape) else ""
        steps.append(Step(f"{target}[{index_text(index)}]", "+=", "d" + node.name,
                          np.asarray(node.grad), stage, note=note, node=node))
        return steps
    if node.gate.name == "matmul":
        summed = _matmul_summed(node, i)
    else:
        summed = node.gate.broadcasts and np.shape(share) != np.shape(node.value)
    if summed:
        note = f"summed to {operand.name}'s shape"
    expr = _local(node, i, names)
    if expr is None:  # no formula to list: the line names the local gradient, and says so
        expr = f"(d{node.name}/d{operand.name}) * d{node.name}"
        note = ", ".join(filter(None, [note, f"symbolic: no formula for {node.gate.name}"]))
    totals[key] = share if first else totals[key] + share
    steps.append(Step(target, "=" if first else "+=", expr, share, stage,
                      None if first else totals[key], note, node))
    return steps


def _repeats(index, shape):
    """Whether ``index`` picks some entry of an array of ``shape`` more than once."""
    index = index if isinstance(index, tuple) else (index,)
    if is_basic(index):
        return False
    hits = np.zeros(shape, dtype=np.int64)
    np.add.at(hits, index, 1)
    return bool(np.any(hits > 1))
