"""Primitive gates, one family per module; each gate's definition holds everything about it.

:func:`all_gates` lists them; the user API (``cg.*``, NumPy dispatch, the command line's
functions, the docs' table) is derived from this list, and a test checks every gate has
each surface it declares.
"""

from ..core.gate import Gate
from . import elementwise, indexing, linalg, nn, reduce, shape

FAMILIES = (elementwise, reduce, shape, indexing, linalg, nn)


def all_gates():
    """Every primitive gate, family by family, in definition order."""
    seen, gates = set(), []
    for family in FAMILIES:
        for obj in vars(family).values():
            if isinstance(obj, Gate) and id(obj) not in seen:
                seen.add(id(obj))
                gates.append(obj)
    return gates


def formula_gates():
    """The gates whose local derivative is one formula per input (``gate.local``): each has
    the calling convention ``cg.NAME(x)`` or ``cg.NAME(x, y)``, so its function is derived."""
    return [g for g in all_gates() if g.local is not None]
