"""Rewrites of generated staged code that a person writing NumPy by hand would make.

Each rewrite reads the values the code had at trace time (``env``, by name) to know the
shapes and dtypes and which arrays share memory; it changes a line only where the result
is the same array for every input of the traced signature:

- the backward of a broadcast (mean, sum) multiplies by no array of ones, and a wire read
  twice by one gate gets ``2 * (e)`` once rather than ``e`` twice (:func:`simplify`);
- ``a = b + c`` (``-``, ``*``, ``/``) becomes ``a = add(b, c, out=b)`` where ``b`` is an
  array the code made itself (no argument's, no view of another live array), read for the
  last time there, of ``a``'s shape and dtype: no new buffer;
- ``a = relu(b)`` becomes ``a = maximum(b, 0, out=b)`` on the same conditions;
- relu's backward ``a = (r != 0) * g`` becomes ``a = multiply(g, r != 0, out=g)``;
- the softmax cross-entropy's forward and backward share the softmax: the forward line
  keeps the probabilities, the backward subtracts one at the labels in place
  (:func:`xent_forward`, :func:`xent_backward`), as the notes' hand-written code does.
"""

import ast
import re

import numpy as np

from .. import backend

_BINARY = re.compile(r"^(\w+) = (\w+) ([-+*/]) (\w+|\d[\w.]*)$")
_RELU = re.compile(r"^(\w+) = relu\((\w+)\)$")
_MASK = re.compile(r"^(\w+) = \((\w+) != 0\) \* (\w+)$")
_ONES = re.compile(r"\bones_like\(\w+\) \* ")
_UFUNC = {"+": "add", "-": "subtract", "*": "multiply", "/": "true_divide"}


def xent_forward(scores, labels):
    """The mean softmax cross-entropy and the softmax probabilities (a new array)."""
    rows = backend.arange(len(labels))
    top = scores.max(axis=1, keepdims=True)
    probs = scores - top
    picked = probs[rows, labels]  # scores[y] - max: read before exp overwrites probs
    np.exp(probs, out=probs)
    total = probs.sum(axis=1, keepdims=True)
    loss = (np.log(total[:, 0]) - picked).mean()
    probs /= total
    return loss, probs


def xent_backward(probs, labels):
    """d(mean cross-entropy)/d(scores) from the forward's probabilities, in place."""
    probs[backend.arange(len(labels)), labels] -= 1
    probs /= len(labels)
    return probs


def _names(code):
    return {n.id for n in ast.walk(ast.parse(code)) if isinstance(n, ast.Name)}


def _shape_and_dtype(expr, ns, env):
    try:
        with np.errstate(all="ignore"):
            value = eval(expr, ns, dict(env))  # noqa: S307 -- the generated code's own text
    except Exception:  # noqa: BLE001 -- a text that does not run as it stands: keep the line
        return None
    return np.shape(value), np.asarray(value).dtype


def simplify(lines, ns, env):
    """Two rewrites that change no value: ``ones_like(a) * e`` (a broadcast's gradient, as
    mean's and sum's are written) becomes ``e`` where the line's result keeps its shape and
    dtype (the product by ones is exact); two identical ``x += e`` in a row (a wire read
    twice by one gate, as ``sub * sub`` is) become one ``x += 2 * (e)`` (doubling is exact)."""
    out = []
    for code, note in lines:
        target, sep, expr = code.partition(" += ") if " += " in code else code.partition(" = ")
        if sep and "ones_like(" in expr:
            plain = _ONES.sub("", expr)
            if plain != expr and _shape_and_dtype(plain, ns, env) == \
                    _shape_and_dtype(expr, ns, env) is not None:
                code = f"{target}{sep}{plain}"
        target, _, expr = code.partition(" += ")
        if out and expr and out[-1][0] == code and target not in _names(expr):
            out[-1] = (f"{target} += 2 * ({expr})", note)
            continue
        out.append((code, note))
    return out


def rewrite(lines, env, protected):
    """``lines``: [(code, note)] of a function body (no ``del`` yet); ``protected``: names
    whose arrays must not be written (arguments, constants, results)."""
    codes = [code for code, _ in lines]
    used = [_names(code) if code else set() for code in codes]
    last = {}
    for k, names in enumerate(used):
        for name in names:
            last[name] = k

    def own(name, k):
        value = env.get(name)
        if name in protected or last.get(name) != k or not isinstance(value, backend.ndarray) \
                or value.ndim == 0 or not value.flags.owndata or not value.flags.writeable:
            return False
        for other, v in env.items():  # nothing read later may see the same memory
            if other != name and isinstance(v, backend.ndarray) and (
                    other in protected or last.get(other, -1) > k) and \
                    np.may_share_memory(v, value):
                return False
        return True

    def fits(target, name):
        a, b = env.get(target), env.get(name)
        return isinstance(a, backend.ndarray) and isinstance(b, backend.ndarray) and \
            a.shape == b.shape and a.dtype == b.dtype

    out = []
    for k, (code, note) in enumerate(lines):
        m = _BINARY.match(code)
        if m and own(m[2], k) and fits(m[1], m[2]):
            code = f"{m[1]} = {_UFUNC[m[3]]}({m[2]}, {m[4]}, out={m[2]})"
        elif (m := _RELU.match(code)) and own(m[2], k) and fits(m[1], m[2]):
            code = f"{m[1]} = maximum({m[2]}, 0, out={m[2]})"
        elif (m := _MASK.match(code)) and own(m[3], k) and fits(m[1], m[3]):
            code = f"{m[1]} = multiply({m[3]}, {m[2]} != 0, out={m[3]})"
        out.append((code, note))
    return out
