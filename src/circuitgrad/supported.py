"""The docs' table of the NumPy functions circuitgrad takes on tensors, written from NumPy
dispatch's own tables and the gates' definitions, each function with its caveats.

``python -m circuitgrad.supported > docs/numpy.md`` rewrites it; a test checks the file
matches, and that every function the table lists as differentiable has a gradient check,
so the table never drifts from the code.

A row's caveats are the gate's (``Gate(caveats=...)``) and those of the function composed
of gates that NumPy dispatch calls (``@caveat(...)`` in ``gates/define.py``).
"""

import numpy as np

from . import functions as F
from . import linalg as LA
from . import numpy_api as N
from .gates import all_gates
from .gates.elementwise import SCIPY_SPECIAL
from .gates.table import numpy_name


def _gate_of(fn):
    """The gate implementing ``fn`` (None for a function composed of gates)."""
    return next((gate for gate in all_gates() if any(f is fn for f in gate.numpy)), None)


def _composite_of(fn):
    """The cg.* function composed of gates that stands for NumPy's ``fn``, if any."""
    module = LA if getattr(fn, "__module__", "").startswith("numpy.linalg") else F
    return getattr(module, fn.__name__, None)


def _cg_name(fn, gate, composite):
    if gate is not None and gate.api:
        return f"cg.{gate.api}"
    if composite is LA.__dict__.get(fn.__name__) and fn.__name__ in LA.__all__:
        return f"cg.linalg.{fn.__name__}"
    if composite is F.__dict__.get(fn.__name__) and fn.__name__ in F.__all__:
        return f"cg.{fn.__name__}"
    return None


def rows():
    """One row per differentiable NumPy function: (function, cg name or None, gate or None,
    caveats)."""
    found = []
    for fn in list(N._UFUNCS) + list(N._FUNCTIONS):
        if fn is np.positive or fn in N.MADE_LIKE:  # its input; constants (listed apart)
            continue
        gate, composite = _gate_of(fn), _composite_of(fn)
        caveats = tuple(gate.caveats if gate else ()) + tuple(
            c for c in getattr(composite, "caveats", ()) if not gate or c not in gate.caveats)
        found.append((fn, _cg_name(fn, gate, composite), gate, caveats))
    return sorted(found, key=lambda row: numpy_name(row[0]).strip("`"))


def _names(fns):
    return ", ".join(sorted((numpy_name(fn) for fn in fns), key=lambda n: n.strip("`")))


def markdown():
    """The table as Markdown."""
    lines = [
        "# NumPy functions on tensors",
        "",
        "Written from NumPy dispatch's tables and the gates' definitions by",
        "`python -m circuitgrad.supported`; do not edit by hand. Each function below takes",
        "tensors and records gates, so its gradient comes from theirs, in both modes and to",
        "any order. *Gate* names the primitive gate when the function is one (see",
        "[gates.md](gates.md) for its local derivative); otherwise it is composed of gates.",
        "",
        "Everywhere: where a formula divides by zero (the derivative of `sqrt` or `log` at",
        "0, `arcsin` at 1) the gradient is the value the formula gives there (`inf`, `nan`).",
        "",
        "| NumPy | circuitgrad | gate | caveats |",
        "|---|---|---|---|",
    ]
    for fn, cg_name, gate, caveats in rows():
        lines.append(f"| {numpy_name(fn)} | {f'`{cg_name}`' if cg_name else ''} | "
                     f"{gate.name if gate else 'composed'} | {' '.join(caveats)} |")
    reduce_ = ", ".join(f"`np.{u.__name__}.reduce`" for u in N._REDUCE)
    accumulate = ", ".join(f"`np.{u.__name__}.accumulate`" for u in N._ACCUMULATE)
    scipy = ", ".join(f"`{name}`" for name in SCIPY_SPECIAL)
    lines += [
        "",
        "## ufunc methods",
        "",
        f"{reduce_}; {accumulate}; `np.add.at`, `np.subtract.at` into a tensor (a recorded",
        "write; repeated indices add up). Other methods raise when a gradient is needed.",
        "",
        "## scipy.special",
        "",
        f"When scipy is loaded, its ufuncs {scipy} reach the gates of the same name.",
        "",
        "## Constant tensors",
        "",
        f"{_names(N.MADE_LIKE)} of a tensor give a constant tensor (no gradient flows from",
        "the input's values), so NumPy code can write the results it computes into them:",
        "`out = np.zeros_like(x); out[i] = ...` records each write. A `full_like` fill value",
        "that needs a gradient raises.",
        "",
        "## No gradient flows",
        "",
        "These give indices, counts, booleans, shapes or values rounded to a piecewise",
        "constant: they run on the values and return NumPy's result, and no gradient is",
        "lost because there is none.",
        "",
        _names(N._CONSTANT_UFUNCS | N._CONSTANT_FUNCTIONS) + ".",
        "",
        "## Everything else",
        "",
        "Any other NumPy function given a tensor runs on the values when nothing needs a",
        "gradient, and raises NotDifferentiableError naming the function when something",
        "does: a gradient is never dropped in silence.",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown(), end="")
