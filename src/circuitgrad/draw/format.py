"""How numbers and arrays are written on wires and in staged listings: 4 significant digits.

>>> fmt(0.017986209962091559), fmt(-12.0), fmt(3), fmt(-0.0)
('0.01799', '-12.00', '3.000', '0.000')
>>> summary([0.39322386, -0.58983579])
'[0.3932, -0.5898]'
>>> summary([[1.0, 2.0], [3.0, 4.0]])
'[[1.000, 2.000], [3.000, 4.000]]'
>>> summary(list(range(50)))
'(50,), mean 24.50, range [0.000, 49.00]'
"""

import numbers

import numpy as np

from ..core.node import ReleasedValue  # a large value the circuit let go: shape only
from ..i18n import english

SMALL = 6  # arrays with at most this many entries are written out in full


def fmt(v):
    """One number with 4 significant digits (trailing zeros kept, as the notes' 3.00)."""
    v = float(v)
    if not np.isfinite(v):
        return "nan" if np.isnan(v) else ("inf" if v > 0 else "-inf")
    if v == 0:
        return "0.000"
    s = f"{v:#.4g}"
    if "e" in s:
        mantissa, exponent = s.split("e")
        s = mantissa.rstrip(".") + "e" + str(int(exponent))
    return s.rstrip(".")


def const(c):
    """A constant as it reads in an expression: ``2`` rather than ``2.000``.

    >>> const(2.0), const(-1), const(0.5), const(1 / 3)
    ('2', '-1', '0.5', '0.3333')
    """
    if isinstance(c, numbers.Real) or np.ndim(c) == 0:
        c = float(c)
        if c.is_integer() and abs(c) < 1e15:
            return str(int(c))
        return f"{c:.4g}"
    return summary(c)


def shape_text(shape, _=english):
    """``(5, 10)`` as ``5×10``; ``(3,)`` as ``(3,)``; ``()`` as ``scalar`` (in the language
    of the translator ``_``)."""
    shape = tuple(shape)
    if not shape:
        return _("scalar")
    if len(shape) == 1:
        return f"({shape[0]},)"
    return "×".join(str(n) for n in shape)


def summary(a, rows=False, _=english):
    """A value for a label: the number, the entries of a small array, or its shape, mean
    and range (their words in the language of the translator ``_``).

    With ``rows=True`` the rows of a small matrix are returned as a list of lines.
    """
    if isinstance(a, ReleasedValue):
        out = _("{shape}, not kept").format(shape=shape_text(a.shape, _))
        return [out] if rows else out
    a = np.asarray(a)
    if a.ndim == 0:
        out = fmt(a)
        return [out] if rows else out
    if a.size <= SMALL and a.ndim <= 2:
        if a.ndim == 1:
            out = "[" + ", ".join(fmt(v) for v in a) + "]"
            return [out] if rows else out
        lines = ["[" + ", ".join(fmt(v) for v in row) + "]" for row in a]
        if rows:
            return ["[" + lines[0]] + [" " + s for s in lines[1:-1]] + [" " + lines[-1] + "]"] \
                if len(lines) > 1 else ["[" + lines[0] + "]"]
        return "[" + ", ".join(lines) + "]"
    shape = shape_text(a.shape, _)
    if a.size == 0:
        out = _("{shape}, empty").format(shape=shape)
    elif a.dtype.kind in "biuf":
        mean = np.mean(a, dtype=np.float64)
        out = _("{shape}, mean {mean}, range [{low}, {high}]").format(
            shape=shape, mean=fmt(mean), low=fmt(np.min(a)), high=fmt(np.max(a)))
    else:
        out = _("{shape} array").format(shape=shape)
    return [out] if rows else out
