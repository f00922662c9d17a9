"""Circuits as objects from the user's side: ``cg.circuit(y)`` reads the circuit behind a
tensor, ``cg.record(f)(*args)`` records a function's, and with ``backward=True`` also its
backward pass: the gates' own rules, recorded as gates.

>>> import circuitgrad as cg
>>> c = cg.record(lambda x, y: x * y + x, backward=True)(3.0, -4.0)
>>> print(c)
def circuit(x, y, g):
    mul1 = mul(x, y)
    add1 = add(mul1, x)
    mul2 = mul(g, y)
    add2 = add(g, mul2)
    mul3 = mul(g, x)
    return add1, add2, mul3
>>> [float(v) for v in c.evaluate(3.0, -4.0, 1.0)]    # f, df/dx, df/dy
[-9.0, -3.0, 3.0]
"""

import inspect

from . import backend
from .core.backward import backprop
from .core.circuit import read
from .errors import CircuitError
from .tensor import Tensor, as_tensor, tensor


def circuit(*outputs, stop_at=()):
    """The :class:`~circuitgrad.core.circuit.Circuit` that computed ``outputs``."""
    for y in outputs:
        if not isinstance(y, Tensor):
            raise TypeError(f"circuit() reads the circuit behind Tensors, not "
                            f"{type(y).__name__}")
    return read(*outputs, stop=stop_at)


def record(f, *, backward=False):
    """``record(f)(*args)``: the circuit ``f`` runs on these arguments, its inputs named after
    ``f``'s parameters. With ``backward=True`` the circuit takes one more input, ``g`` (the
    upstream gradient of ``f``'s output), and returns the output and then the gradient of
    every argument: the backward pass, recorded gate by gate from the rules themselves.

    As with any trace, what depends on the values only through Python or through a
    comparison is fixed at the values traced: ``if`` branches, and the masks that route
    gradients (relu's ``out > 0``, max's arg-max, ``where``'s condition), which are constants
    of the recorded circuit. Evaluated at other inputs, the circuit is right wherever those
    masks would not change.
    """
    def traced(*args):
        names = parameter_names(f, len(args), reserved=("g",))
        xs = [tensor(a, requires_grad=True, name=n) for a, n in zip(args, names, strict=True)]
        out = f(*xs)
        if not isinstance(out, Tensor) or not out.requires_grad:
            raise CircuitError("record: f must return a Tensor computed from its arguments")
        if not backward:
            return read(out, order_inputs=xs)
        g = tensor(backend.ones(out.shape, dtype=out.dtype), requires_grad=True, name="g")
        grads = backprop([out], [g], wrt=xs, create_graph=True, retain_graph=True)
        # a gradient that does not depend on the inputs is an array: a constant of the circuit
        grads = [as_tensor(backend.zeros(x.shape, dtype=x.dtype) if d is None else d)
                 for d, x in zip(grads, xs, strict=True)]
        return read(out, *grads, order_inputs=xs + [g])
    return traced


def parameter_names(f, n, reserved=()):
    """Names for ``f``'s first ``n`` arguments: its parameters' own names, or ``x1``, ``x2``,
    ... when they are not all there, not distinct, or one is ``reserved`` (a name the
    circuit uses itself)."""
    try:
        params = [p.name for p in inspect.signature(f).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        params = []
    if len(params) < n or len(set(params[:n])) < n or set(params[:n]) & set(reserved):
        return [f"x{k + 1}" for k in range(n)]
    return params[:n]
