"""Passes over a traced circuit before code is generated from it.

- :func:`eliminate_common` (common subexpressions): an equation of the same gate, on the
  same wires and literals, with the same parameters as an earlier one is dropped and its
  readers read the earlier one's output. Only the library's own gates, which are pure
  functions of their inputs, are merged; an array literal is the same only when it is the
  same array object, a float the same only when it is the same float (``0.0`` and ``-0.0``
  differ).
- :func:`fold_constants` (constant folding): an equation whose inputs are all constants
  (literals, and the wires ``is_constant`` says the code holds as constants rather than
  receives as arguments) is dropped, its output becoming a constant of the code with the
  value the engine recorded at trace time. The gradient of a constant is never asked for,
  so its backward lines go too.

Both return a new :class:`~circuitgrad.core.circuit.Circuit` and ``merged``, a list of
``(dropped Var, the Var it is now)`` (a folded output stays itself, now a constant).
``cg.compile(..., passes=...)`` chooses the passes (:data:`DEFAULT`).

>>> import numpy as np, circuitgrad as cg
>>> from circuitgrad.core.circuit import read
>>> x = cg.tensor(np.ones(2), requires_grad=True, name="x")
>>> c = read(cg.sigmoid(x) * cg.sigmoid(x))
>>> print(eliminate_common(c)[0])
def circuit(x):
    sigmoid1 = sigmoid(x)
    mul1 = mul(sigmoid1, sigmoid1)
    return mul1
"""

import numbers

from ..core.circuit import Circuit, Literal, Var
from ..errors import CircuitError

PASSES = ("cse", "fold")
DEFAULT = PASSES


def check(passes):
    """``passes`` as a tuple of known pass names (None: the default; () none)."""
    if passes is None:
        return DEFAULT
    if isinstance(passes, str):
        passes = (passes,)
    passes = tuple(passes)
    unknown = [p for p in passes if p not in PASSES]
    if unknown:
        raise CircuitError(f"compile: unknown pass {unknown[0]!r}; the passes are "
                           f"{', '.join(PASSES)} (passes=() for none)")
    return passes


def _pure_gates():
    from ..gates import all_gates  # noqa: PLC0415 -- the gates import the engine

    return {id(g) for g in all_gates()}


def _key(value):
    """A hashable key equal for two parameter or literal values only where they are the same
    value for the gate."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return (type(value), value)
    if isinstance(value, numbers.Integral) and not hasattr(value, "shape"):
        return (int, int(value))
    if isinstance(value, float):
        return (float, repr(value))  # 0.0 and -0.0 are different constants
    if isinstance(value, (tuple, list)):
        return (type(value), tuple(_key(v) for v in value))
    if isinstance(value, dict):
        return (dict, tuple(sorted((repr(k), _key(v)) for k, v in value.items())))
    if isinstance(value, slice):
        return (slice, _key(value.start), _key(value.stop), _key(value.step))
    if value is Ellipsis:
        return (type(value),)
    return ("object", id(value))  # arrays, NumPy scalars, dtypes: the same object only


def _rebuilt(c, equations, consts, aliases):
    def sub(v):
        return aliases.get(id(v), v) if isinstance(v, Var) else v
    kept = {id(eq.output) for eq in equations} | {id(v) for v in c.inputs} | \
        {id(v) for v in consts}
    wires = [v for v in c.wires if id(v) in kept]
    wires += [v for v in consts if v not in wires]
    return Circuit(c.inputs, consts, equations, [sub(v) for v in c.outputs], wires)


def eliminate_common(c):
    """Common subexpressions of ``c`` computed once (see the module docstring)."""
    pure = _pure_gates()
    seen, aliases, equations, merged = {}, {}, [], []
    for eq in c.equations:
        inputs = [aliases.get(id(x), x) if isinstance(x, Var) else x for x in eq.inputs]
        if inputs != list(eq.inputs):
            eq = type(eq)(eq.gate, inputs, eq.params, eq.output)
        if id(eq.gate) in pure:
            key = (id(eq.gate), tuple(("var", id(x)) if isinstance(x, Var) else
                                      ("literal", _key(x.value)) for x in inputs),
                   _key(dict(eq.params)))
            first = seen.get(key)
            if first is not None:
                aliases[id(eq.output)] = first
                merged.append((eq.output, first))
                continue
            seen[key] = eq.output
        equations.append(eq)
    return _rebuilt(c, equations, list(c.consts), aliases), merged


def fold_constants(c, is_constant):
    """Equations of constants only made constants (see the module docstring);
    ``is_constant(var)`` says which leaves of ``c`` the code holds as constants."""
    constant = {id(v) for v in c.inputs + c.consts if is_constant(v)}
    consts, equations = list(c.consts), []
    for eq in c.equations:
        out = eq.output
        if out.value is not None and all(isinstance(x, Literal) or id(x) in constant
                                         for x in eq.inputs) and eq.inputs:
            constant.add(id(out))
            out.kind = "const"
            consts.append(out)
            continue
        equations.append(eq)
    return _rebuilt(c, equations, consts, {}), []


def run(c, passes, is_constant):
    """``c`` after the chosen ``passes`` (names; folding first) and the Vars merged."""
    merged = []
    if "fold" in passes:
        c, _ = fold_constants(c, is_constant)
    if "cse" in passes:
        c, merged = eliminate_common(c)
    return c, merged
