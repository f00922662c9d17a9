"""Walking a recorded circuit forwards, for pictures and staged listings."""

from ..errors import GraphFreedError
from .node import Wire, newest, place, stored_inputs


def topological(y, stop=(), skip=None):
    """Every wire of ``y``'s circuit, inputs before the gates that consume them.

    Wires are Tensors, or Nodes for large arrays (see ``core/node.py``); compare them by
    ``place(x)``, as the backward walk does. Iterative, so deep circuits need no deep
    stack. Constants (non-wire inputs) are not listed; read them from ``t.inputs``.
    Wires whose ``id`` is in ``stop`` are listed but their inputs are not followed; input
    wires for which ``skip(x)`` is true are left out. A circuit a backward walk has passed
    keeps its structure, so it can be listed too (its large values are stand-ins).

    >>> import circuitgrad as cg
    >>> x = cg.tensor(2.0, requires_grad=True, name="x")
    >>> [t.name or t.gate.name for t in topological(x * x + 1)]
    ['x', 'mul', 'add']
    """
    order, seen = [], set()
    stack = [(place(newest(y)), False)]  # a tensor written to: from its newest version
    while stack:
        t, expanded = stack.pop()
        if expanded:
            order.append(t)
            continue
        if id(t) in seen:
            continue
        seen.add(id(t))
        stack.append((t, True))
        if t._gate is None or id(t) in stop:
            continue
        if t._edges is None:
            raise GraphFreedError(
                f"the circuit behind gate '{t._gate.name}' was freed by backward(): a circuit "
                f"of more gates than a picture shows is not kept. Call "
                f"backward(retain_graph=True), or look at the circuit before backward()")
        for x in reversed(stored_inputs(t)):
            if isinstance(x, Wire) and id(place(x)) not in seen and not (skip and skip(x)):
                stack.append((place(x), False))
    return order
