"""The function API: ``cg.exp(t)``, ``cg.maximum(a, b)``, ``cg.sum(t, axis=1)``, ...

Each function applies one primitive gate, or, for composites (softmax, var, norm, ...),
a few of them, so their gradients come from the primitives' rules. Arguments may be
Tensors, arrays or numbers; non-Tensor arguments are constants.
"""

import numbers

import numpy as np

from .gates import elementwise as ew
from .gates import linalg as la
from .gates import reduce as rd
from .gates import shape as sh
from .tensor import Tensor, apply, as_tensor


def _unary(gate):
    def fn(x):
        return apply(gate, (as_tensor(x),))
    fn.__name__ = gate.name
    fn.__qualname__ = gate.name
    fn.__doc__ = f"Elementwise ``{gate.name}`` as a gate of the circuit."
    return fn


exp = _unary(ew.exp)
log = _unary(ew.log)
sqrt = _unary(ew.sqrt)
abs = _unary(ew.abs)
relu = _unary(ew.relu)
sigmoid = _unary(ew.sigmoid)
tanh = _unary(ew.tanh)
sin = _unary(ew.sin)
cos = _unary(ew.cos)
log1p = _unary(ew.log1p)
expm1 = _unary(ew.expm1)
negative = _unary(ew.neg)


def add(a, b):
    return apply(ew.add, (as_tensor(a), b))


def subtract(a, b):
    return apply(ew.sub, (as_tensor(a), b))


def remainder(a, b):
    """``a % b`` with NumPy's sign rule (the result takes the sign of ``b``)."""
    return apply(ew.remainder, (as_tensor(a), b))


def multiply(a, b):
    return apply(ew.mul, (as_tensor(a), b))


def divide(a, b):
    return apply(ew.div, (as_tensor(a), b))


def power(a, b):
    """``a ** b``; a constant exponent uses the cheaper ``pow_const`` gate."""
    if isinstance(b, numbers.Real) and not isinstance(b, bool):
        return apply(ew.pow_const, (as_tensor(a),), {"p": b})
    return apply(ew.pow, (as_tensor(a), b))


def square(x):
    return apply(ew.square, (as_tensor(x),))


def maximum(a, b):
    """Elementwise max; the gradient goes to the larger input, split evenly at a tie.

    >>> import circuitgrad as cg
    >>> x, y = cg.tensor(4.0, requires_grad=True), cg.tensor(2.0, requires_grad=True)
    >>> cg.maximum(x, y).backward()
    >>> float(x.grad), float(y.grad)
    (1.0, 0.0)
    """
    return apply(ew.maximum, (as_tensor(a), b))


def minimum(a, b):
    """Elementwise min; the gradient goes to the smaller input, split evenly at a tie."""
    return apply(ew.minimum, (as_tensor(a), b))


def clip(x, lo=None, hi=None):
    """Clamp into [lo, hi]; the gradient passes where lo <= x <= hi."""
    if lo is None and hi is None:
        raise ValueError("clip needs at least one of lo and hi")
    return apply(ew.clip, (as_tensor(x),), {"lo": lo, "hi": hi})


def where(condition, x, y):
    """Pick from ``x`` where ``condition`` holds, else from ``y`` (condition not differentiated)."""
    cond = condition._value if isinstance(condition, Tensor) else np.asarray(condition)
    if cond.dtype != np.bool_:
        cond = cond.astype(bool)
    if not isinstance(x, Tensor) and not isinstance(y, Tensor):
        x = as_tensor(x)
    return apply(ew.where, (cond, x, y))


# ----- reductions --------------------------------------------------------------------------
def sum(x, axis=None, keepdims=False):
    """Sum over ``axis`` (None: all); the gradient is the upstream one, copied back."""
    return as_tensor(x).sum(axis=axis, keepdims=keepdims)


def mean(x, axis=None, keepdims=False):
    return as_tensor(x).mean(axis=axis, keepdims=keepdims)


def max(x, axis=None, keepdims=False):
    """Largest entry over ``axis``; the gradient goes to it, split evenly among ties."""
    return as_tensor(x).max(axis=axis, keepdims=keepdims)


def min(x, axis=None, keepdims=False):
    return as_tensor(x).min(axis=axis, keepdims=keepdims)


def var(x, axis=None, keepdims=False, ddof=0):
    x = as_tensor(x)
    axes = rd.normalize_axes(axis, x.ndim)
    n = x.size if axes is None else int(np.prod([x.shape[a] for a in axes]))
    centered = x - x.mean(axis=axes, keepdims=True)
    return (centered * centered).sum(axis=axes, keepdims=keepdims) / (n - ddof)


def std(x, axis=None, keepdims=False, ddof=0):
    return sqrt(var(x, axis=axis, keepdims=keepdims, ddof=ddof))


def logsumexp(x, axis=None, keepdims=False):
    """log(sum(exp(x))) computed without overflow (shifted by the max).

    >>> import circuitgrad as cg
    >>> float(cg.logsumexp(cg.tensor([1000.0, 1000.0])))
    1000.6931471805599
    """
    return as_tensor(x).logsumexp(axis=axis, keepdims=keepdims)


def log_softmax(x, axis=-1):
    """x - logsumexp(x) along ``axis``, stable for large inputs."""
    x = as_tensor(x)
    (axis,) = rd.normalize_axes(axis, x.ndim)
    return apply(rd.log_softmax, (x,), {"axis": axis})


def softmax(x, axis=-1):
    return exp(log_softmax(x, axis=axis))


def norm(x, ord=None, axis=None, keepdims=False):
    """Vector norms: 2 (default, and Frobenius for matrices), 1 and inf."""
    x = as_tensor(x)
    if ord is None or ord == "fro" or (ord == 2 and (axis is not None or x.ndim == 1)):
        return sqrt((x * x).sum(axis=axis, keepdims=keepdims))
    if ord == 1 and (axis is not None or x.ndim == 1):
        return abs(x).sum(axis=axis, keepdims=keepdims)
    if ord == np.inf and (axis is not None or x.ndim == 1):
        return abs(x).max(axis=axis, keepdims=keepdims)
    raise NotImplementedError(f"norm with ord={ord!r} of a {x.ndim}-d tensor is not supported")


# ----- shapes ------------------------------------------------------------------------------
def reshape(x, shape):
    return as_tensor(x).reshape(shape)


def transpose(x, axes=None):
    return as_tensor(x).transpose(axes)


def swapaxes(x, a, b):
    return sh.swapaxes(as_tensor(x), a, b)


def expand_dims(x, axis):
    return sh.expand_dims(as_tensor(x), axis)


def squeeze(x, axis=None):
    return sh.squeeze(as_tensor(x), axis)


def broadcast_to(x, shape):
    return sh.broadcast_to(as_tensor(x), shape)


def concatenate(xs, axis=0):
    """Join tensors along an existing axis; the gradient is sliced back to each."""
    xs = [as_tensor(x) for x in xs]
    if not xs:
        raise ValueError("concatenate needs at least one tensor")
    (axis,) = rd.normalize_axes(axis, xs[0].ndim)
    return apply(sh.concatenate, tuple(xs), {"axis": axis})


def stack(xs, axis=0):
    """Join tensors along a new axis."""
    xs = [as_tensor(x) for x in xs]
    if not xs:
        raise ValueError("stack needs at least one tensor")
    (axis,) = rd.normalize_axes(axis, xs[0].ndim + 1)
    return apply(sh.stack, tuple(xs), {"axis": axis})


def getitem(x, index):
    return as_tensor(x)[index]


# ----- linear algebra ----------------------------------------------------------------------
def matmul(a, b):
    """Matrix product by NumPy's rules (1-d, 2-d, batched).

    >>> import circuitgrad as cg, numpy as np
    >>> W = cg.tensor(np.ones((5, 10)), requires_grad=True)
    >>> X = cg.tensor(np.ones((10, 3)), requires_grad=True)
    >>> (W @ X).sum().backward()
    >>> W.grad.shape, X.grad.shape
    ((5, 10), (10, 3))
    """
    return apply(la.matmul, (as_tensor(a), b))


def dot(a, b):
    """np.dot for 0-d, 1-d and 2-d operands."""
    a, b = as_tensor(a), as_tensor(b)
    if a.ndim == 0 or b.ndim == 0:
        return a * b
    if a.ndim > 2 or b.ndim > 2:
        raise NotImplementedError("dot of operands with more than 2 dimensions; use matmul "
                                  "or einsum")
    return apply(la.matmul, (a, b))


def outer(a, b):
    a, b = as_tensor(a).flatten(), as_tensor(b).flatten()
    return a[:, None] * b[None, :]


def einsum(subscripts, *operands):
    """Einstein summation over named axes, e.g. ``einsum('ij,jk->ik', A, B)``."""
    xs = tuple(as_tensor(x) for x in operands)
    ins, out_spec = la.parse_subscripts(subscripts, [x.ndim for x in xs])
    return apply(la.einsum, xs, {"ins": tuple(ins), "out_spec": out_spec})
