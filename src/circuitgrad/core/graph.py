"""Walking a recorded circuit forwards, for pictures and staged listings."""

from ..errors import GraphFreedError


def topological(y):
    """Every Tensor of ``y``'s circuit, inputs before the gates that consume them.

    Iterative, so deep circuits need no deep stack. Constants (non-Tensor inputs) are
    not listed; read them from ``t.inputs``.

    >>> import circuitgrad as cg
    >>> x = cg.tensor(2.0, requires_grad=True, name="x")
    >>> [t.name or t.gate.name for t in topological(x * x + 1)]
    ['x', 'mul', 'add']
    """
    from ..tensor import Tensor

    order, seen = [], set()
    stack = [(y, False)]
    while stack:
        t, expanded = stack.pop()
        if expanded:
            order.append(t)
            continue
        if id(t) in seen:
            continue
        seen.add(id(t))
        stack.append((t, True))
        if t._gate is None:
            continue
        if t._edges is None:
            raise GraphFreedError(
                f"the circuit behind gate '{t._gate.name}' was freed by backward(); call "
                f"backward(retain_graph=True), or look at the circuit before backward()")
        for x in reversed(t.inputs):
            if isinstance(x, Tensor) and id(x) not in seen:
                stack.append((x, False))
    return order
