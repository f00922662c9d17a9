"""User-defined gates: a forward that saves what its backward needs, and that backward.

The notes' sigmoid neuron as one gate (its backward is the notes' staged code)::

    class Neuron(cg.Function):
        @staticmethod
        def forward(ctx, w, x):
            f = 1.0 / (1 + np.exp(-(w[0] * x[0] + w[1] * x[1] + w[2])))
            ctx.save_for_backward(w, x, f)
            return f

        @staticmethod
        def backward(ctx, g):
            w, x, f = ctx.saved
            ddot = (1 - f) * f * g
            return np.array([x[0], x[1], 1.0]) * ddot, w[:2] * ddot

    f = Neuron.apply(w, x)

``forward`` and ``backward`` see plain NumPy values. ``backward`` returns one gradient per
input (None for "no gradient"), each of its input's exact shape, or the engine raises
naming the gate and both shapes. An optional ``jvp(ctx, *tangents)`` gives forward mode.
Custom gates are differentiable once: a second derivative through one raises an error.
"""

import numpy as np

from . import backend
from .core.gate import Gate, each
from .core.node import keep_all_tracked
from .errors import NotDifferentiableError
from .tensor import Tensor, apply


class Context:
    """Per-call scratch space between a custom gate's forward and backward."""

    def __init__(self):
        self.saved = ()

    def save_for_backward(self, *values):
        keep_all_tracked(values)  # a gate's record (tracked) holds this context (core/node.py)
        self.saved = values

    def release_saved(self):
        """The backward walk has passed this gate (without retain_graph): let go of what
        forward saved (core/backward.py asks any gate parameter that has this method)."""
        self.saved = None


class Function:
    """Base class of user-defined gates; subclass it and call ``YourGate.apply(*inputs)``."""

    @staticmethod
    def forward(ctx, *inputs):
        raise NotImplementedError("a custom gate must define forward(ctx, *inputs)")

    @staticmethod
    def backward(ctx, g):
        raise NotImplementedError("a custom gate must define backward(ctx, g)")

    jvp = None

    @classmethod
    def apply(cls, *inputs):
        gate = cls.__dict__.get("_gate")
        if gate is None:
            gate = cls._gate = _make_gate(cls)
        return apply(gate, inputs, {"ctx": Context()})


def _plain(value, what, name):
    if isinstance(value, Tensor):
        if value.requires_grad or value._tangents:
            raise NotDifferentiableError(
                f"custom gate '{name}' is differentiable once: a second derivative through "
                f"it needs its {what} differentiated, but its backward runs on plain NumPy "
                f"values; write it with circuitgrad operations to differentiate it again")
        return value._value
    return value


def _make_gate(cls):
    name = cls.__name__

    def forward(*values, ctx):
        out = cls.forward(ctx, *values)
        if isinstance(out, Tensor):
            raise TypeError(f"custom gate '{name}': forward must return a NumPy value, "
                            f"not a Tensor")
        return np.asarray(out)[()] if np.ndim(out) == 0 else np.asarray(out)

    def backward(g, values, ctx):
        for v in values:  # a circuit of the gradient is being built (a second derivative)
            _plain(v, "input", name)
        grads = cls.backward(ctx, _plain(g, "backward", name))
        if not isinstance(grads, tuple):
            grads = (grads,)
        if len(grads) != len(values):
            raise ValueError(f"custom gate '{name}': backward returned {len(grads)} "
                             f"gradients for {len(values)} inputs")
        return [None if grad is None else _as_value(grad) for grad in grads]

    def vjp(i, g, out, *values, ctx):  # one input's gradient (pictures ask this way)
        return backward(g, values, ctx)[i]

    def vjp_all(edges, g, out, *values, ctx):  # what the backward walk asks: one call
        grads = backward(g, values, ctx)
        return [grads[i] for i in edges]

    def jvp(tangents, out, *inputs, ctx):
        if cls.jvp is None:
            raise NotDifferentiableError(f"custom gate '{name}' defines no jvp")
        plain = [backend.zeros(np.shape(_plain(x, "input", name)))
                 if t is None else _plain(t, "tangent", name)
                 for t, x in zip(tangents, inputs, strict=True)]
        return _as_value(cls.jvp(ctx, *plain))

    # backward reads ctx.saved, never the recorded values
    return Gate(name, forward, vjp=each(vjp, together=vjp_all), jvp=jvp, symbol=name, saves=(),
                saves_out=False)


def _as_value(x):
    x = np.asarray(x)
    return x[()] if x.ndim == 0 else x
