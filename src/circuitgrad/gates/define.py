"""Elementwise gates from one statement of their local derivative.

An elementwise gate is its forward and, per input, its local derivative written once as a
formula over the input names (``x``, then ``y``), the output ``out`` and NumPy's function
names::

    tanh = elementwise("tanh", np.tanh, "1 - out**2", numpy=np.tanh)

From that one string come the VJP (``g * (1 - out**2)``: upstream times local), the JVP
(``t * (1 - out**2)``: the input's tangent times local) and the staged listing's line
(``dx = (1 - tanhx**2) * dtanhx``). The rules are compiled once, at import, into ordinary
Python functions, so they cost what hand-written lambdas cost; run on arrays they are plain
NumPy, run on Tensors (``create_graph``, forward mode) the same code records gates, so
every rule is itself differentiable.

>>> sin = elementwise("sin", np.sin, "cos(x)", numpy=np.sin)
>>> sin.vjp[0](np.float64(2.0), None, np.float64(0.0))
np.float64(2.0)
>>> sin.local
('cos(x)',)
"""

import ast

import numpy as np

from ..core.gate import Gate

# The names a derivative formula may use: NumPy's functions, as the listing prints them.
FORMULA_NAMES = {name: getattr(np, name) for name in dir(np) if not name.startswith("_")}

_INPUT_NAMES = ("x", "y")


def elementwise(name, forward, *local, numpy=(), api=None, symbol=None, saves=None,
                saves_out=None, symmetric=False, namespace=None, text=None, caveats=()):
    """A gate whose input ``i`` has the local derivative ``local[i]`` (a formula string).

    ``numpy`` is the NumPy function (or tuple of them) the gate implements; ``api`` the
    name of its ``cg.*`` function (default: ``name``); ``text`` a listing ``Text`` for
    its forward line (``gates/listing.py``). Which values the rules read
    (``saves``, ``saves_out``) is read off the formulas unless given. ``namespace`` adds
    names a formula may use besides NumPy's (each must be listed with its meaning).
    """
    arity = len(local)
    if arity not in (1, 2):
        raise ValueError(f"elementwise gate {name!r} takes one or two inputs")
    names = _INPUT_NAMES[:arity]
    env = dict(FORMULA_NAMES, **(namespace or {}))
    used = set()
    for formula in local:
        used |= {n.id for n in ast.walk(ast.parse(formula, mode="eval"))
                 if isinstance(n, ast.Name)}
        unknown = {n for n in used if n not in env and n not in names and n != "out"}
        if unknown:
            raise NameError(f"gate {name!r}: its derivative {formula!r} uses unknown names "
                            f"{sorted(unknown)}")
    if saves is None:
        saves = tuple(k for k, n in enumerate(names) if n in used)
    if saves_out is None:
        saves_out = "out" in used
    args = ", ".join(names)
    vjp = tuple(_compile(f"lambda g, out, {args}: {_times('g', d)}", env) for d in local)
    jvp = tuple(_compile(f"lambda t, out, {args}: {_times('t', d)}", env) for d in local)
    return Gate(name, forward, vjp, jvp, broadcasts=arity > 1, symbol=symbol, saves=saves,
                saves_out=saves_out, symmetric=symmetric, numpy=numpy,
                api=name if api is None else api, local=local, text=text, caveats=caveats)


def _times(factor, formula):
    """``factor`` times the local derivative, as cheaply as the formula allows: a constant
    1 or -1 is no product, and ``1 / d`` is one division."""
    tree = ast.parse(formula, mode="eval").body
    if isinstance(tree, ast.Constant) and tree.value == 1:
        return factor
    if (isinstance(tree, ast.UnaryOp) and isinstance(tree.op, ast.USub)
            and isinstance(tree.operand, ast.Constant) and tree.operand.value == 1):
        return f"-{factor}"
    if (isinstance(tree, ast.BinOp) and isinstance(tree.op, ast.Div)
            and isinstance(tree.left, ast.Constant) and tree.left.value == 1):
        return f"{factor} / ({ast.unparse(tree.right)})"
    return f"{factor} * ({formula})"


def _compile(source, env):
    return eval(compile(source, f"<rule {source}>", "eval"), env)  # noqa: S307 -- our own text


def listed(formula, names):
    """The formula with its variables renamed for a listing: ``listed('1 - out**2',
    {'out': 'tanhx'})`` is ``'1 - tanhx**2'``.

    >>> listed("(1 - out) * out", {"out": "sigy"})
    '(1 - sigy) * sigy'
    """
    tree = ast.parse(formula, mode="eval")
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id in names:
            node.id = names[node.id]
    return ast.unparse(tree).replace(" ** ", "**")


def needs_parentheses(formula):
    """Whether ``formula * g`` would misread without parentheses around the formula (it
    keeps them unless it is one name, call, attribute or subscript)."""
    tree = ast.parse(formula, mode="eval").body
    return not isinstance(tree, (ast.Name, ast.Call, ast.Attribute, ast.Subscript))


def caveat(*sentences):
    """Gives a function composed of gates its caveats (``fn.caveats``), as ``caveats=`` gives
    a gate its own: where the gradient is a convention or is refused. The docs' tables print
    them (``python -m circuitgrad.supported``)."""
    def mark(fn):
        fn.caveats = sentences
        return fn
    return mark
