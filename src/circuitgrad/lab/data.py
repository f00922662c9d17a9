"""The circuit of an expression as JSON data for the lab's page.

Everything here is read from what ``circuitgrad grad`` computes (``report.compute``): the
circuit behind the value (``draw.circuit``: values, gradients, the share each gate sends
back along each input) and the staged listing. No gradient is derived here: a step's
local gradient as a number is the gate's own VJP rule run with an upstream gradient of 1.

Steps, as the page counts them (the ``step`` of a link):

- step 0: the inputs' values;
- steps 1..G: the forward pass, one gate each, in the order it ran;
- step G+1: the backward pass starts, the output's gradient is 1 (``df = 1``);
- the steps after: the backward pass, one gate each, in reverse order.

>>> d = circuit_data("(q := x + y) * z", {"x": "-2", "y": "5", "z": "-4"})
>>> [(g["output"], g["value"]) for g in d["gates"]]
[('q', 3.0), ('f', -12.0)]
>>> mul = d["backward"][1]["inputs"][0]
>>> mul["wire"], mul["local_text"], mul["local"], mul["upstream"], mul["gradient"]
('q', 'z', -4.0, 1.0, -4.0)
"""

import ast
import math
import warnings

import numpy as np

from .. import backend
from ..draw.dot import gate_label
from ..draw.format import summary
from ..errors import CircuitError
from ..expr import ExprError, parse, parse_value
from ..gates.listing import number
from ..i18n import LANGUAGES, msg, translator
from ..report import compute

MAX_ELEMENTS = 10_000  # array elements over all inputs (and the upstream gradient)
MAX_GATES = 200        # as many as a picture holds (draw.circuit.DEFAULT_MAX_GATES)
MAX_INPUTS = 50
MAX_CALLS = 5  # backward calls a lesson on accumulating gradients steps through
MAX_WIRE_NUMBERS = 1_000_000  # numbers on all the wires: what a page's JSON holds


def circuit_data(text, inputs, upstream=None, calls=1):
    """The lab's JSON for expression ``text`` at ``inputs`` ({name: value text}); ``calls``
    backward calls (see ``values_data``).

    Raises :class:`~circuitgrad.expr.ExprError` (a one-line message) for bad input.
    """
    if len(inputs) > MAX_INPUTS:
        raise ExprError(msg("{count} inputs given; the limit is {limit}", count=len(inputs),
                                limit=MAX_INPUTS))
    values = {}
    for name, value_text in inputs.items():
        try:
            values[name] = parse_value(str(value_text))
        except ExprError as err:
            raise ExprError(msg("input {name}: {error}", name=name, error=err.message)) from None
    seed = None
    if upstream not in (None, ""):
        try:
            seed = parse_value(str(upstream))
        except ExprError as err:
            raise ExprError(msg("upstream: {error}", error=err.message)) from None
    return values_data(text, values, seed, {k: str(v) for k, v in inputs.items()},
                       None if upstream in (None, "") else str(upstream), calls)


def values_data(text, values, seed=None, shown=None, shown_upstream=None, calls=1):
    """The lab's JSON for expression ``text`` at ``values`` ({name: float64 array}) and
    upstream gradient ``seed``; ``shown`` are the values as the page writes them
    ({name: text}; by default each value's summary). With ``calls`` > 1 the steps go on
    past the backward pass: ``backward()`` called again, the inputs' ``.grad`` adding up.
    """
    if not (isinstance(calls, int) and 1 <= calls <= MAX_CALLS):
        raise ExprError(msg("'calls' must be a whole number from 1 to {limit}", limit=MAX_CALLS))
    expr = parse(text)
    elements = sum(np.size(v) for v in values.values()) + np.size(seed if seed is not None
                                                                   else [])
    if elements > MAX_ELEMENTS:
        raise ExprError(msg("the values have {count} numbers in all; the limit is {limit}",
                            count=f"{elements:,}", limit=f"{MAX_ELEMENTS:,}"))
    expr.check_inputs(values)
    if not expr.names:
        raise ExprError(msg("the expression has no inputs, so there is nothing to "
                            "differentiate"))
    gates = _operations(expr)
    if gates > MAX_GATES:  # refused before it runs; the circuit is counted again after
        raise ExprError(msg("the expression has {count} operations; the lab shows at most "
                            "{limit} gates", count=gates, limit=MAX_GATES))
    y = expr.evaluate(values)
    report = compute(expr, y, seed)
    if shown is None:
        shown = {name: summary(v) for name, v in values.items()}
    if shown_upstream is None and seed is not None:
        shown_upstream = summary(seed)
    data = from_report(report, text, shown, shown_upstream)
    if calls > 1:
        _add_backward_calls(data, expr, y, seed, calls)
    return data


def _add_backward_calls(data, expr, y, seed, calls):
    """Steps past the backward pass: ``y.backward()`` called ``calls`` times in all, and
    after each call every input's ``.grad`` as the engine has it (each call adds its
    gradients to what ``.grad`` held: the ``+=`` of a fork, once per call).

    >>> d = circuit_data("x * y", {"x": "4", "y": "-3"}, calls=3)
    >>> [(c["step"], c["call"], c["grads"]["x"]["value"]) for c in d["calls"]]
    [(4, 2, -6.0), (5, 3, -9.0)]
    """
    before = None
    out = []
    for call in range(1, calls + 1):
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            y.backward(seed, retain_graph=True)
        grads = {name: np.array(t.grad) for name, t in expr.inputs.items()}
        if before is not None:
            out.append({"step": data["last_step"] + len(out) + 1, "call": call, "grads": {
                name: {"value": _number(g), "text": summary(g),
                       "before_text": summary(before[name]),
                       "added_text": summary(g - before[name])}
                for name, g in grads.items()}})
        before = grads
    data["calls"] = out
    data["last_step"] += len(out)


def _operations(expr):
    """The operators, calls and indexings of an expression: about the gates it makes."""
    return sum(isinstance(node, (ast.BinOp, ast.UnaryOp, ast.Call, ast.Subscript))
               for node in ast.walk(expr.tree))


def from_report(report, text, inputs, upstream=None):
    """The JSON data of a computed report (what ``circuitgrad grad`` prints)."""
    return from_listing(report.listing, inputs, report.grads, expression=text,
                        shown=report.expr.shown(), upstream=upstream)


def tensor_data(f, upstream=None, stop_at=()):
    """The lab's JSON for the circuit recorded behind the tensor ``f`` (``cg.lab(f)``).

    Wires are named as ``cg.draw`` names them: a tensor's ``name`` where it has one, the
    notes' names (``xpy``, ``sigy``...) elsewhere. ``upstream`` is the gradient on a
    non-scalar ``f``; ``stop_at`` cuts the circuit at those tensors (they become inputs).

    >>> import circuitgrad as cg
    >>> x = cg.tensor(4.0, requires_grad=True, name="x")
    >>> y = cg.tensor(-3.0, requires_grad=True, name="y")
    >>> d = tensor_data(x * y)
    >>> d["value"], d["gradients"]["x"]["value"], d["gradients"]["y"]["value"]
    (-12.0, -3.0, 4.0)
    """
    from ..staged import forward_expr, staged
    from ..tensor import Tensor

    if not isinstance(f, Tensor):
        raise ExprError(msg("cg.lab takes a Tensor or an expression as text, not {kind}",
                            kind=type(f).__name__))
    if not f.requires_grad:
        raise ExprError(msg("the tensor does not depend on any tensor with "
                            "requires_grad=True, so it has no circuit to step through"))
    if upstream is not None:
        upstream = np.asarray(upstream.data if isinstance(upstream, Tensor) else upstream,
                              dtype=np.float64)
        if upstream.shape != f.shape:
            raise ExprError(msg("upstream has shape {upstream} but the tensor has shape "
                                "{shape}", upstream=upstream.shape, shape=f.shape))
    elif f.size != 1:
        raise ExprError(msg("the tensor has shape {shape}, not a single number: give its "
                            "gradient with upstream=..., or lab its sum", shape=f.shape))
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            listing = staged(f, upstream, stop_at=stop_at, max_gates=MAX_GATES)
    except CircuitError as err:
        raise ExprError(err.args[0] if len(err.args) == 1 and isinstance(err.args[0], msg)
                        else " ".join(str(err).split())) from None
    for step in listing.backward:
        if not np.all(np.isfinite(np.asarray(step.value))):
            raise ExprError(msg("the gradient is not finite: the backward step '{line}' "
                                "gives {bad}", line=f"{step.target} {step.op} {step.expr}",
                                bad="nan/inf"))
    inputs = listing.circuit.inputs
    grads = {n.name: n.grad if n.grad is not None else backend.zeros_like(n.value) for n in inputs}
    out = listing.circuit.output
    return from_listing(listing, {n.name: summary(n.value) for n in inputs}, grads,
                        shown=forward_expr(out) if out.kind == "gate" else out.name,
                        upstream=None if upstream is None else summary(upstream))


def from_listing(listing, inputs, grads, expression=None, shown=None, upstream=None):
    """The JSON data of a staged listing; ``inputs`` are the input values as text,
    ``grads`` the inputs' gradients ({name: array})."""
    circuit = listing.circuit
    if len(circuit.gates) > MAX_GATES:
        raise ExprError(msg("the circuit has {count} gates; the lab shows at most {limit}",
                            count=len(circuit.gates), limit=MAX_GATES))
    numbers = sum(np.size(n.value) for n in circuit.nodes)
    if numbers > MAX_WIRE_NUMBERS:
        raise ExprError(msg("the circuit's wires hold {count} numbers in all; the lab shows "
                            "at most {limit}", count=f"{numbers:,}",
                            limit=f"{MAX_WIRE_NUMBERS:,}"))
    gate_nodes = circuit.gates
    forward_step = {id(n): k + 1 for k, n in enumerate(gate_nodes)}
    seed_step = len(gate_nodes) + 1
    backward_step = {id(n): seed_step + 1 + k for k, n in enumerate(
        n for n in reversed(gate_nodes) if n.grad is not None)}

    wires = [_wire(n, forward_step.get(id(n), 0)) for n in circuit.nodes]
    gates = [_gate(n, forward_step[id(n)]) for n in gate_nodes]

    out = circuit.output
    backward = [{"step": seed_step, "gate": None, "output": out.name,
                 "gradient": _number(out.grad), "gradient_text": summary(out.grad),
                 "inputs": []}]
    by_gate, totals = {}, {}
    for s in listing.backward[1:]:
        by_gate.setdefault(id(s.node), []).append(s)
    for node in reversed(gate_nodes):
        if id(node) not in backward_step:
            continue
        backward.append({"step": backward_step[id(node)], "gate": node.name,
                         "output": node.name, "gradient": _number(node.grad),
                         "gradient_text": summary(node.grad),
                         "inputs": _backward_inputs(node, by_gate.get(id(node), []), totals)})

    lines = _listing_lines(listing, forward_step, backward_step, seed_step)
    return {
        "expression": expression, "shown": shown,
        "inputs": {k: str(v) for k, v in inputs.items()},
        "upstream": None if upstream in (None, "") else str(upstream),
        "output": out.name, "value": _number(out.value), "value_text": summary(out.value),
        "gradients": {n: {"value": _number(g), "text": summary(g)}
                      for n, g in grads.items()},
        "wires": wires, "gates": gates, "backward": backward, "listing": lines,
        "last_step": seed_step + len(backward_step), "calls": [],
        "layout": _layout(circuit),
    }


def _wire(node, step):
    return {"name": node.name, "kind": node.kind, "shape": list(np.shape(node.value)),
            "value": _number(node.value), "value_text": summary(node.value),
            "gradient": _number(node.grad), "gradient_text": summary(node.grad)
            if node.grad is not None else None,
            "consumers": [c.name for c, _ in node.consumers],
            "fork": len(node.consumers) > 1, "step": step}


def _gate(node, step):
    return {"name": node.gate.name, "label": gate_label(node), "output": node.name,
            "inputs": [op.name if kind == "node" else summary(op) for kind, op in
                       node.operands],
            "wires": [op.name if kind == "node" else None for kind, op in node.operands],
            "value": _number(node.value), "value_text": summary(node.value),
            "shape": list(np.shape(node.value)), "step": step}


def _backward_inputs(node, steps, totals):
    """Per input of a gate: its listing line, local gradient, upstream and product.

    The listing writes a gate's lines in its inputs' order (``x * x`` has two, both
    ``dx``), one per input that gets a share; an indexing gate's first line into a wire
    is ``dx = zeros_like(x)`` before its ``dx[...] += ...``.
    """
    out = []
    g = "d" + node.name
    steps = list(steps)
    for i, (kind, operand) in enumerate(node.operands):
        share = node.shares[i] if i < len(node.shares) else None
        if kind != "node" or share is None or not steps:
            continue
        s = steps.pop(0)
        lines = [s.code()]
        if s.expr.startswith("zeros_like(") and steps:  # dx = zeros_like(x); dx[i] += dg
            s = steps.pop(0)
            lines.append(s.code())
        local_text = _local_text(s.expr, g)
        local = _local_number(node, i)
        first = operand.name not in totals
        totals[operand.name] = share if first else totals[operand.name] + share
        out.append({
            "index": i, "wire": operand.name, "line": "; ".join(lines), "formula": s.expr,
            "local_text": local_text, "local": local,
            "local_shown": None if local is None else number(local),
            "upstream": _number(node.grad), "upstream_text": summary(node.grad),
            "gradient": _number(share), "gradient_text": summary(share),
            "accumulates": not first,
            "total": _number(totals[operand.name]),
            "total_text": summary(totals[operand.name]),
            "fork": len(operand.consumers) > 1,
            "dims": _matmul_dims(node, i) if node.gate.name == "matmul" else None,
        })
    return out


def _matmul_dims(node, i):
    """The notes' dimension check for ``dW = dD @ X.T`` (input 0 of ``D = W @ X``) and
    ``dX = W.T @ dD`` (input 1): the two factors' names and shapes, the shape of their
    product, and the shape it must have, the input's own. A 1-d operand of a 2-d matmul
    enters as a column (the listing's ``outer``).

    >>> d = circuit_data("sum(W @ x)", {"W": "[[1, 2, 3], [4, 5, 6]]", "x": "[1, 1, 1]"})
    >>> [i["dims"] for i in d["backward"][2]["inputs"]]  # doctest: +NORMALIZE_WHITESPACE
    [{'gradient': 'dW', 'of': 'W', 'shape': [2, 3], 'left': ['dWx', [2, 1]],
      'right': ['xᵀ', [1, 3]], 'product': [2, 3], 'stacked': False},
     {'gradient': 'dx', 'of': 'x', 'shape': [3], 'left': ['Wᵀ', [3, 2]],
      'right': ['dWx', [2]], 'product': [3], 'stacked': False}]

    A batched (stacked) matmul multiplies matrix by matrix on the last two axes, the axes
    in front stacking the matrices (``ᵀ`` swaps the last two axes, the listing's ``.mT``);
    where an input was broadcast along the stack, the product is summed over those axes
    to give the input's shape (``stacked``: True, ``product`` then differs from ``shape``):

    >>> d = circuit_data("sum(W @ X)", {"W": "[[1, 2], [3, 4]]",
    ...                                 "X": "[[[1], [2]], [[3], [4]], [[5], [6]]]"})
    >>> dims = [i["dims"] for i in d["backward"][2]["inputs"]]
    >>> [(x["left"], x["right"], x["product"], x["shape"]) for x in dims]
    ... # doctest: +NORMALIZE_WHITESPACE
    [(['dWX', [3, 2, 1]], ['Xᵀ', [3, 1, 2]], [3, 2, 2], [2, 2]),
     (['Wᵀ', [2, 2]], ['dWX', [3, 2, 1]], [3, 2, 1], [3, 2, 1])]
    """
    (ka, a), (kb, b) = node.operands
    if ka != "node" or kb != "node":
        return None
    sa, sb, sg = np.shape(a.value), np.shape(b.value), np.shape(node.value)
    if min(len(sa), len(sb)) == 0:
        return None
    g = "d" + node.name
    at, bt = a.name + "ᵀ", b.name + "ᵀ"

    def swap(shape):  # the last two axes swapped: .T of a matrix, .mT of a stack of them
        return shape[:-2] + shape[:-3:-1]

    if len(sa) >= 2 and len(sb) >= 2:      # D = W @ X (a matrix, or stacks of them)
        factors = [(g, sg), (bt, swap(sb))] if i == 0 else [(at, swap(sa)), (g, sg)]
        product = sg[:-2] + (sa[-2:] if i == 0 else sb[-2:])
    elif len(sb) == 1 and len(sa) >= 2:    # d = W @ x: dW = dd x.T, dx = W.T @ dd
        factors = [(g, sg + (1,)), (bt, (1,) + sb)] if i == 0 else [(at, swap(sa)), (g, sg)]
        product = sg + sb if i == 0 else sa[:-2] + sb  # dx: W.T @ dd, one per matrix
    elif len(sa) == 1 and len(sb) >= 2:    # d = x @ W: dx = W @ dd, dW = x dd.T
        factors = [(b.name, sb), (g, sg)] if i == 0 else \
            [(a.name, sa + (1,)), (g + "ᵀ", sg[:-1] + (1,) + sg[-1:])]
        product = sb[:-2] + sa if i == 0 else sg[:-1] + sa + sg[-1:]
    else:
        return None
    target = (a, b)[i]
    (left, ls), (right, rs) = factors
    return {"gradient": "d" + target.name, "of": target.name,
            "shape": list(np.shape(target.value)), "left": [left, list(ls)],
            "right": [right, list(rs)], "product": list(product),
            "stacked": max(len(sa), len(sb)) > 2}


def _local_text(expr, g):
    """``z`` out of the listing's ``z * df``: the local gradient's formula, as listed."""
    suffix = " * " + g
    if not expr.endswith(suffix):
        return None
    text = expr[:-len(suffix)]
    if text.startswith("(") and text.endswith(")") and _balanced(text[1:-1]):
        text = text[1:-1]
    return text


def _balanced(text):
    depth = 0
    for ch in text:
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if depth < 0:
            return False
    return depth == 0


def _local_number(node, i):
    """The local gradient of a scalar gate: its VJP rule with upstream gradient 1."""
    t = node.tensor
    if np.size(node.value) != 1 or any(np.size(v) != 1 for v in
                                       (x.value if k == "node" else x
                                        for k, x in node.operands)):
        return None
    from ..core.node import Wire
    args = [x._value if isinstance(x, Wire) else x for x in t.inputs]
    try:
        with np.errstate(all="ignore"):
            local = t.gate.vjp[i](backend.ones_like(np.asarray(node.value)), t._value, *args,
                                  **t.params)
    except Exception:  # a rule that cannot be replayed: the line still has the product
        return None
    return _number(np.sum(local))


def _listing_lines(listing, forward_step, backward_step, seed_step):
    """The staged listing's lines, each with the step it belongs to (None: a title) and its
    text in each of the page's languages (``texts``; ``text`` is the English)."""
    spoken = {lang: listing.lines(translator(lang)) for lang in LANGUAGES}
    texts = spoken["en"]  # the source language: the catalog's fallback, as written
    steps = []
    for s in listing.forward:
        steps.append(forward_step.get(id(s.node), 0))
    kinds = [None] + steps
    if listing.backward:
        kinds += [None, None, seed_step]
        kinds += [backward_step.get(id(s.node)) for s in listing.backward[1:]]
    kinds += [None] * (len(texts) - len(kinds))
    return [{"text": t, "step": k, "phase": None if k is None else
             ("forward" if k < seed_step else "backward"),
             "texts": {lang: lines[j] for lang, lines in spoken.items()}}
            for j, (t, k) in enumerate(zip(texts, kinds, strict=True))]


def _layout(circuit):
    """Columns and rows for the picture: a wire's column is its depth from the inputs."""
    depth = {}
    for n in circuit.nodes:
        ops = [op for kind, op in n.operands if kind == "node"] if n.kind == "gate" else []
        depth[id(n)] = 1 + max((depth[id(o)] for o in ops), default=-1)
    columns = {}
    for n in circuit.nodes:
        columns.setdefault(depth[id(n)], []).append(n)
    row = {}
    for d in sorted(columns):
        nodes = columns[d]
        if d:  # order by the mean row of what feeds each gate, to keep wires short
            def key(n):
                rows = [row[id(o)] for kind, o in n.operands if kind == "node"]
                return sum(rows) / len(rows) if rows else 0
            nodes.sort(key=key)
        for k, n in enumerate(nodes):
            row[id(n)] = k
    return {n.name: {"col": depth[id(n)], "row": row[id(n)],
                     "rows": len(columns[depth[id(n)]])} for n in circuit.nodes}


def _number(v):
    """A value as JSON: a number, or nested lists of numbers (None for no value)."""
    if v is None:
        return None
    a = np.asarray(v, dtype=np.float64)
    if a.ndim == 0:
        f = float(a)
        return f if math.isfinite(f) else None
    if not np.all(np.isfinite(a)):  # JSON has no inf or nan: null, as for a number
        a = np.where(np.isfinite(a), a, None)
    return a.tolist()
