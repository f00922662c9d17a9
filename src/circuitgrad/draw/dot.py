"""The circuit as a Graphviz DOT graph: gates as nodes, wires as labelled edges, left to right.

Every wire carries its value (green) and, when gradients are shown, its gradient (red):
the gradient of the output with respect to the value on that wire. Where a wire forks (a
value used by several gates) it meets a small dot; each branch then carries the share of
the gradient that its gate sends back, and the wire before the dot carries their sum.

>>> import circuitgrad as cg
>>> from circuitgrad.draw.circuit import read_circuit
>>> x = cg.tensor(4.0, requires_grad=True, name="x")
>>> y = cg.tensor(-3.0, requires_grad=True, name="y")
>>> source = to_dot(read_circuit(x * y))
>>> source.startswith("digraph circuit {"), "-12.00" in source, "-3.000" in source
(True, True, True)
"""

import numpy as np

from ..gates.listing import index_text
from ..i18n import english, render
from .format import ReleasedValue, const, shape_text, summary

GREEN = "#1a7f37"
RED = "#cf222e"
GREY = "#57606a"
FONT = "Helvetica"


def _esc(text):
    return (str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;"))


def _lines(value, _=english):
    return summary(value, rows=True, _=_)


def wire_label(value, grad=None, name=None, show_grad=True, _=english):
    """The HTML label of one wire: its name (if any), value in green, gradient in red.

    Matrices are written a row per line, left-aligned so their columns line up; the words of
    an array's summary are in the language of the translator ``_``.
    """
    lines = []
    if name:
        lines.append(f'<FONT COLOR="{GREY}"><I>{_esc(name)}</I></FONT>')
    values = _lines(value, _)
    grads = _lines(grad, _) if show_grad and grad is not None else []
    lines += [f'<FONT COLOR="{GREEN}">{_esc(s)}</FONT>' for s in values]
    lines += [f'<FONT COLOR="{RED}">{_esc(s)}</FONT>' for s in grads]
    if len(values) > 1 or len(grads) > 1:
        return "<" + "".join(f'{s}<BR ALIGN="LEFT"/>' for s in lines) + ">"
    return "<" + "<BR/>".join(lines) + ">"


def gate_label(node):
    """The operation a gate node shows, with scalar constants folded in (``*2``, ``1/x``)."""
    gate, params, ops = node.gate, node.params, node.operands
    name, symbol = gate.name, gate.symbol
    consts = [k for k, (kind, v) in enumerate(ops) if kind == "const" and np.ndim(v) == 0]
    if len(ops) == 2 and len(consts) == 1:
        k = consts[0]
        c = const(ops[k][1])
        if name == "add":
            return f"+{c}"
        if name == "mul":
            return f"*{c}"
        if name == "sub":
            return f"-{c}" if k == 1 else f"{c}-x"
        if name == "div":
            return f"/{c}" if k == 1 else f"{c}/x"
        if name == "pow":
            return f"**{c}" if k == 1 else f"{c}**x"
        if name in ("maximum", "minimum"):
            return f"{symbol}(x, {c})" if k == 1 else f"{symbol}({c}, x)"
    if name == "pow_const":
        return f"**{const(params['p'])}"
    if name in ("sum", "mean", "max", "min", "logsumexp", "log_softmax"):
        axis = params.get("axis")
        if axis is not None:
            axis = tuple(axis) if isinstance(axis, (tuple, list)) else (axis,)
            return f"{symbol}\naxis={axis[0] if len(axis) == 1 else axis}"
        return symbol
    if name == "getitem":
        return f"[{index_text(params['index'])}]"
    return symbol


def _node_attrs(label, html=False, **attrs):
    text = label if html else '"' + label.replace("\\", "\\\\").replace('"', '\\"') \
        .replace("\n", "\\n") + '"'
    attrs = "".join(f', {k}="{v}"' for k, v in attrs.items())
    return f"[label={text}{attrs}]"


def to_dot(circuit, *, names=False, title=None, show_grads=True, _=english):
    """DOT source for a :class:`~circuitgrad.draw.circuit.Circuit`.

    ``names=True`` writes every intermediate's staged name on its wire (otherwise only
    names the user gave); ``title`` goes above the circuit with the colour legend, which
    is in the language of the translator ``_`` (``circuitgrad.i18n.translator``).
    """
    grads = circuit.has_grads and show_grads
    out = ["digraph circuit {",
           f'  graph [rankdir=LR, bgcolor="white", fontname="{FONT}", fontsize=12, '
           f'nodesep=0.3, ranksep=0.35, pad=0.25, labelloc=t, labeljust=l, '
           f'label={_legend(circuit, title, grads, _)}];',
           f'  node [fontname="{FONT}", fontsize=13, color="#24292f", penwidth=1.2];',
           f'  edge [fontname="{FONT}", fontsize=11, color="#57606a", arrowsize=0.6];']
    ids = {id(n): f"n{n.index}" for n in circuit.nodes}
    extra = 0
    if any(len(n.consumers) > 1 for n in circuit.nodes):
        # forks make wires cross; tie each label to its wire with a thin line
        out[3] = out[3].replace("edge [", "edge [decorate=true, ")

    for node in circuit.nodes:
        nid = ids[id(node)]
        if node.kind == "gate":
            label = gate_label(node)
            if len(label) <= 3:
                attrs = _node_attrs(label, shape="circle", width="0.5", margin="0.02",
                                    ordering="in")
            else:
                attrs = _node_attrs(label, shape="box", style="rounded", margin="0.12,0.06",
                                    ordering="in")
            out.append(f"  {nid} {attrs};")
        else:
            title_ = f"<B>{_esc(node.name)}</B>"
            if node.value.ndim:
                shape = _esc(shape_text(node.value.shape, _))
                title_ += f'<BR/><FONT POINT-SIZE="10">{shape}</FONT>'
            if node.kind == "const":
                out.append(f'  {nid} [label=<{title_}>, shape=box, style="rounded,dashed", '
                           f'color="{GREY}", fontcolor="{GREY}"];')
            else:
                out.append(f"  {nid} [label=<{title_}>, shape=plaintext];")

    for node in circuit.nodes:
        nid = ids[id(node)]
        named = (node.kind == "gate" and (names or node.user_named)
                 and node is not circuit.output)
        wire_name = node.name if named else None
        show_grad = grads and node.tensor.requires_grad
        consumers = list(node.consumers)
        if node is circuit.output:
            out.append(f'  out [label=<<B>{_esc(node.name)}</B>>, shape=plaintext];')
            consumers.append((None, None))
        if len(consumers) == 1:
            head, i = consumers[0]
            grad = node.grad if head is None else _share(head, i)
            target = "out" if head is None else ids[id(head)]
            out.append(f"  {nid} -> {target} "
                       f"[label={wire_label(node.value, grad, wire_name, show_grad, _)}];")
            continue
        fork = f"fork{node.index}"
        out.append(f'  {fork} [shape=point, width=0.07, color="#57606a"];')
        out.append(f"  {nid} -> {fork} [arrowhead=none, "
                   f"label={wire_label(node.value, node.grad, wire_name, show_grad, _)}];")
        for head, i in consumers:
            grad = node.grad if head is None else _share(head, i)
            target = "out" if head is None else ids[id(head)]
            out.append(f"  {fork} -> {target} "
                       f"[label={wire_label(node.value, grad, None, show_grad, _)}];")

    for node in circuit.gates:  # array constants that are not tensors get a box of their own
        for kind, value in node.operands:
            if kind == "const" and np.ndim(value) > 0:
                extra += 1
                cid = f"const{extra}"
                out.append(f'  {cid} [label=<<FONT POINT-SIZE="10">'
                           f'{_esc(shape_text(np.shape(value), _))}</FONT>>, shape=box, '
                           f'style="rounded,dashed", color="{GREY}", fontcolor="{GREY}"];')
                out.append(f"  {cid} -> {ids[id(node)]} "
                           f"[label={wire_label(value, None, None, False, _)}];")
    out.append("}")
    return "\n".join(out) + "\n"


def _share(head, i):
    shares = head.shares
    return shares[i] if i is not None and i < len(shares) else None


def _legend(circuit, title, grads, _=english):
    lines = []
    if title:
        lines.append(f'<FONT POINT-SIZE="14"><B>{_esc(title)}</B></FONT>')
    legend = f'<FONT COLOR="{GREEN}">{_esc(_("green: value (forward pass)"))}</FONT>'
    if grads:
        red = _("red: gradient of {output} (backward pass)").format(output=circuit.output.name)
        legend += f'    <FONT COLOR="{RED}">{_esc(red)}</FONT>'
    lines.append(legend)
    if circuit.note and not grads and circuit.note != "gradients hidden":
        lines.append(f'<FONT COLOR="{GREY}">{_esc(render(circuit.note, _))}</FONT>')
    if circuit.walked and any(isinstance(n.value, ReleasedValue) for n in circuit.nodes):
        released = _('drawn after backward(), which let go of the large values ("not kept") '
                     'and their gradients')
        lines.append(f'<FONT COLOR="{GREY}">{_esc(released)}</FONT>')
    return "<" + "<BR ALIGN=\"LEFT\"/>".join(lines) + '<BR ALIGN="LEFT"/>>'
