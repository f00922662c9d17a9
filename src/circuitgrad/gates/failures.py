"""What a gate says when its forward pass fails on its inputs (``tensor.py`` calls
``gate_error`` on that path only, so the check costs nothing when the gate works).

NumPy's complaints are in NumPy's words ("operands could not be broadcast together...",
"mismatch in its core dimension 0, with gufunc signature..."): for the ones a learner meets
most (shapes that do not broadcast, a matmul whose inner sizes differ, an index out of
range, too many indices) the message says what is wrong in the notes' terms, as an
``i18n.msg``, so the command line and the lab show it in the learner's language. Other
complaints keep NumPy's text.

>>> import numpy as np
>>> from circuitgrad.gates.linalg import matmul
>>> err = gate_error(matmul, (np.ones((5, 10)), np.ones((3, 10))), ValueError("mismatch"))
>>> str(err)  # doctest: +NORMALIZE_WHITESPACE
"gate 'matmul' cannot take inputs of shapes (5, 10) and (3, 10): the last axis of the
 first (size 10) must match the second-to-last axis of the second (size 3)"
>>> from circuitgrad.i18n import render, translator
>>> render(err, translator("zh")).partition("：")[0]
"门 'matmul' 不能接受尺寸为 (5, 10) 和 (3, 10) 的输入"
"""

import re

import numpy as np

from .. import backend
from ..errors import ShapeError
from ..i18n import msg

SHAPE_WORDS = ("shape", "broadcast", "dimension", "axis", "axes", "size", "index")
_OUT_OF_BOUNDS = re.compile(r"index (-?\d+) is out of bounds for axis (\d+) with size (\d+)")
_TOO_MANY = re.compile(r"too many indices for array: array is (\d+)-dimensional, but (\d+) "
                       r"were indexed")


def gate_error(gate, values, err):
    """The error to raise for ``gate``'s forward failing with ``err`` on ``values``:
    NumPy's LinAlgError stays one; a ShapeError when the complaint is about shapes (the
    usual case), otherwise a ValueError; each names the gate."""
    if isinstance(err, np.linalg.LinAlgError):  # singular, not positive definite: NumPy's type
        return np.linalg.LinAlgError(f"gate '{gate.name}': {err}")
    shapes = [np.shape(v) for v in values]
    reason = _reason(gate.name, shapes, err)
    text = str(err)
    if reason is not None or any(word in text.lower() for word in SHAPE_WORDS):
        return ShapeError(msg("gate '{gate}' cannot take inputs of shapes {shapes}: {reason}",
                              gate=gate.name, shapes=shapes_text(shapes),
                              reason=text if reason is None else reason))
    return ValueError(msg("gate '{gate}' cannot compute with inputs ({inputs}): {error}",
                          gate=gate.name, inputs=describe(values), error=text))


def shapes_text(shapes):
    """``(2,) and (3,)``, as a ``msg`` where there are two or more shapes."""
    texts = [str(tuple(s)) for s in shapes]
    if len(texts) < 2:
        return texts[0] if texts else "()"
    return msg("{first} and {last}", first=", ".join(texts[:-1]), last=texts[-1])


def describe(values):
    """The kinds of a gate's inputs: ``float64 array of shape (2, 3), NoneType``."""
    return ", ".join(type(v).__name__ if not isinstance(v, (backend.ndarray, backend.generic))
                     else f"{v.dtype} scalar" if v.ndim == 0
                     else f"{v.dtype} array of shape {v.shape}" for v in values)


def _reason(name, shapes, err):
    """The failure in the notes' terms (a ``msg``), or None where it is not one of these."""
    if err.args and isinstance(err.args[0], msg):  # the gate's own message, already marked
        return err.args[0]
    text = str(err)
    if name == "matmul" and len(shapes) == 2 and all(len(s) for s in shapes):
        reason = matmul_reason(*shapes)
        if reason is not None:
            return reason
    found = _OUT_OF_BOUNDS.search(text)
    if found:
        index, axis, size = found.groups()
        return msg("index {index} is out of bounds for axis {axis}, which has size {size}",
                   index=index, axis=axis, size=size)
    if text == "slice step cannot be zero":
        return msg("a slice's step cannot be zero")
    found = _TOO_MANY.search(text)
    if found:
        ndim, count = found.groups()
        return msg("{count} indices for a tensor with {ndim} dimensions", count=count,
                   ndim=ndim)
    if "could not be broadcast" in text and len(shapes) >= 2:
        try:
            np.broadcast_shapes(*shapes)
        except ValueError:
            return msg("they do not broadcast together: counted from the last axis, each "
                       "pair of sizes must be equal or one of them 1")
    return None


def matmul_reason(a, b):
    """Why ``A @ B`` cannot be taken for shapes ``a`` and ``b`` (both with an axis), or
    None when it can. The inner sizes must match (a 1-d operand is a row on the left, a
    column on the right); the stacked axes in front of the last two must broadcast.

    >>> print(matmul_reason((2, 4, 3), (5, 3, 2)))
    the stacked axes in front of the last two, (2,) and (5,), do not broadcast together
    >>> matmul_reason((2, 4, 3), (3, 2)) is None
    True
    """
    inner_b = b[0] if len(b) == 1 else b[-2]
    if a[-1] != inner_b:
        return msg("the last axis of the first (size {a}) must match the {which} of the "
                   "second (size {b})", a=a[-1], b=inner_b,
                   which=msg("only axis") if len(b) == 1 else msg("second-to-last axis"))
    try:
        np.broadcast_shapes(a[:-2], b[:-2])
    except ValueError:
        return msg("the stacked axes in front of the last two, {a} and {b}, do not broadcast "
                   "together", a=tuple(a[:-2]), b=tuple(b[:-2]))
    return None
