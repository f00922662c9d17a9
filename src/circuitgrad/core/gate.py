"""The record of one primitive gate: its forward, and its local-gradient rules.

A gate is defined once, with everything about it side by side::

    mul = Gate("mul", lambda x, y: x * y,
               vjp=(lambda g, out, x, y: g * y,      # d/dx, times upstream g
                    lambda g, out, x, y: g * x),     # d/dy
               jvp=(lambda t, out, x, y: t * y,      # tangent of x pushed forward
                    lambda t, out, x, y: x * t))

* ``forward(*xs, **params)`` computes the output value from input values (NumPy arrays,
  NumPy scalars or Python constants).
* ``vjp[i](g, out, *xs, **params)`` is the cotangent of input ``i``: the upstream
  gradient ``g`` times the local gradient. The engine calls only the rules of inputs that
  need a gradient.
* ``jvp[i](t, out, *xs, **params)`` is the output tangent caused by the tangent ``t`` of
  input ``i``; the engine adds them up over inputs.

Rules are written with operators and NumPy functions only. In a plain backward pass they
receive arrays and run as plain NumPy; under ``create_graph=True`` or inside ``jvp`` they
receive Tensors, and the same code records new gates, so every rule is itself
differentiable. A rule that calls something with no Tensor support must say so.

``broadcasts=True`` marks elementwise gates whose inputs broadcast: the engine sums their
cotangents back to each input's shape and broadcasts their tangents to the output's.

``views=True`` marks gates whose forward gives a view of input 0 (getitem with a basic
index, reshape, transpose): NumPy code writing into such a result means to write into the
input too, which circuitgrad does not do, so the write is refused (``tensor.write``).

``symmetric=True`` marks two-input gates whose second rule is the first with the inputs
swapped (add, mul, maximum, minimum): for ``x * x`` the engine then computes the gradient
once and counts it twice.

``vjp_add(buffer, g, **params)``, for one-input gates that read part of their input
(getitem), adds input 0's cotangent into ``buffer`` in place: an array of the input's shape
and dtype that the backward walk owns and keeps as that input's running gradient. A plain
walk (arrays, no ``create_graph``) calls it instead of ``vjp[0]``, so ``x[0] + x[1] + ...``
costs each gate the size of its part, not a zero array of ``x``'s size and a full-size
addition (quadratic in a loop). ``vjp`` stays the rule for circuits of gradients.

``saves`` lists the inputs whose *values* the VJP rules read (default: all) and
``saves_out`` whether they read the output's. A large array that no rule reads is let go
as soon as the user drops it; the rules then see a zero-filled stand-in with the right
shape and dtype, so a wrong declaration shows up as a wrong gradient in the sweep.

What the rest of circuitgrad derives from a gate (see ``gates/define.py`` for the
elementwise ones, whose local derivative is one formula):

* ``numpy``: the NumPy functions the gate implements; NumPy dispatch maps them to it.
* ``api``: the name of its ``cg.*`` function (and of the command line's function), or None.
* ``local``: per input, the local derivative as a formula string over the input names
  (``x``, ``y``), ``out`` and the params; the rules are compiled from it and the staged
  listing prints it. None for gates whose rules are written out.
* ``text``: how the staged listing writes the gate (``gates/listing.py``): its forward
  expression and, for gates without ``local``, the text of each input's gradient, written
  beside the rule it describes. None: the defaults, ``name(args)`` and ``local``.
* ``caveats``: sentences on where the gradient is a convention or is refused (ties, kinks,
  singular inputs); the docs' tables print them.
"""

from .node import Wire


class Gate:
    __slots__ = ("name", "forward", "vjp", "jvp", "broadcasts", "symbol", "saves",
                 "saves_out", "symmetric", "numpy", "api", "local", "text", "views", "caveats",
                 "vjp_add")

    def __init__(self, name, forward, vjp, jvp=None, *, broadcasts=False, symbol=None,
                 saves=None, saves_out=True, symmetric=False, numpy=(), api=None,
                 local=None, text=None, views=False, caveats=(), vjp_add=None):
        self.name = name
        self.forward = forward
        # a tuple of per-input rules, or ``each(rule)`` for any number of inputs; ``jvp`` may
        # also be one function of all tangents (None for zero), for gates such as concatenate
        self.vjp = vjp if isinstance(vjp, each) else tuple(vjp)
        self.jvp = jvp if jvp is None or callable(jvp) or isinstance(jvp, each) else tuple(jvp)
        self.broadcasts = broadcasts
        self.symbol = symbol or name  # the label a circuit picture shows
        self.saves = None if saves is None else tuple(saves)
        self.saves_out = saves_out
        self.symmetric = symmetric
        self.numpy = numpy if type(numpy) is tuple else (numpy,)
        self.api = api
        self.local = None if local is None else tuple(local)
        self.text = text
        self.views = views
        self.caveats = (caveats,) if isinstance(caveats, str) else tuple(caveats)
        self.vjp_add = vjp_add

    def __repr__(self):
        return f"<gate {self.name}>"


class each:
    """Rules of a gate with any number of inputs: ``rule(i, ...)`` serves input ``i``.

    ``gate.vjp[i]`` then works for every ``i``, as it does for fixed-arity gates. A VJP
    may also give ``together(edges, g, out, *xs, **params)``: the gradients of all the
    inputs in ``edges`` at once, in that order. The backward walk then calls it once per
    gate rather than ``rule`` once per input, so a gate of n inputs costs O(n), not O(n^2)
    (and a custom gate's backward runs once).
    """

    __slots__ = ("rule", "together")

    def __init__(self, rule, together=None):
        self.rule = rule
        self.together = together

    def __getitem__(self, i):
        rule = self.rule
        return lambda *args, **params: rule(i, *args, **params)

    def __iter__(self):
        raise TypeError("the rules of a variadic gate cannot be listed")


def together(gate):
    """The gate's all-inputs-at-once VJP rule (see ``each``), or None."""
    vjp = gate.vjp
    return vjp.together if type(vjp) is each else None


# ----- running a gate from inside the gates layer -------------------------------------------
# Gates sit below Tensor, so they cannot import it; tensor.py installs its ``apply`` here
# when it loads (before any gate runs), and gate helpers run gates through it.
_apply = None


def install_apply(apply):
    """Called once by tensor.py: the function that runs a gate on Tensors and records it."""
    global _apply
    _apply = apply


def run(gate, inputs, params=None):
    """Run ``gate`` on ``inputs`` through Tensor's ``apply`` (recorded when it must be)."""
    return _apply(gate, inputs, params if params is not None else {})


def call(gate, *args, **params):
    """Run a gate inside a rule: recorded when any argument is a wire, plain NumPy if not."""
    for a in args:
        if isinstance(a, Wire):
            return _apply(gate, args, params)
    return gate.forward(*args, **params)
