"""The function API: ``cg.exp(t)``, ``cg.maximum(a, b)``, ``cg.sum(t, axis=1)``, ...

Each function applies one primitive gate, or, for composites (softmax, var, norm, ...),
a few of them, so their gradients come from the primitives' rules. Arguments may be
Tensors, arrays or numbers; non-Tensor arguments are constants.
"""

import numbers

import numpy as np

from . import backend
from .errors import NotDifferentiableError
from .gates import elementwise as ew
from .gates import formula_gates
from .gates import linalg as la
from .gates import reduce as rd
from .gates import shape as sh
from .tensor import Tensor, apply, as_tensor, install


# ----- elementwise gates whose local derivative is a formula: derived, one per gate -----------
def _derived(gate):
    """``cg.NAME`` for a formula gate: its inputs as given (non-Tensors are constants)."""
    if len(gate.local) == 1:
        def fn(x):
            return apply(gate, (as_tensor(x),))
    else:
        def fn(x, y):
            return apply(gate, (as_tensor(x), y))
    fn.__name__ = fn.__qualname__ = gate.api
    names = ", ".join(("x", "y")[:len(gate.local)])
    rules = "; ".join(f"d/d{n} = {d}" for n, d in zip(("x", "y"), gate.local, strict=False))
    fn.__doc__ = f"Elementwise ``{gate.api}({names})`` as one gate: local derivative {rules}."
    return fn


DERIVED = {gate.api: _derived(gate) for gate in formula_gates()}
globals().update(DERIVED)
exp, sqrt, abs = DERIVED["exp"], DERIVED["sqrt"], DERIVED["abs"]  # the composites below use them


def power(a, b):
    """``a ** b``; a constant exponent uses the cheaper ``pow_const`` gate."""
    if isinstance(b, numbers.Real) and not isinstance(b, bool):
        return apply(ew.pow_const, (as_tensor(a),), {"p": b})
    return apply(ew.pow, (as_tensor(a), b))


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
    """Clamp into [lo, hi] as ``np.clip`` does; the bounds broadcast against ``x``.

    Constant bounds (numbers, arrays, tensors that need no gradient) make one ``clip``
    gate, whose gradient passes where lo <= x <= hi. A bound that needs a gradient makes
    ``minimum(maximum(x, lo), hi)``, so the bound gets the gradient where it is the output;
    at an exact tie between ``x`` and such a bound the gradient is split evenly between
    them, as ``maximum``/``minimum`` split it.
    """
    if lo is None and hi is None:
        raise ValueError("clip needs at least one of lo and hi")
    x = as_tensor(x)
    if _needs_grad(lo) or _needs_grad(hi):
        out = x if lo is None else maximum(x, lo)
        return out if hi is None else minimum(out, hi)
    lo, hi = _raw(lo), _raw(hi)
    # The gate's rules assume the output has x's shape: widen x first if the bounds do.
    shape = np.broadcast_shapes(x.shape, *[np.shape(b) for b in (lo, hi) if b is not None])
    if shape != x.shape:
        x = broadcast_to(x, shape)
    return apply(ew.clip, (x,), {"lo": lo, "hi": hi})


def _needs_grad(v):
    return isinstance(v, Tensor) and bool(v.requires_grad or v._tangents)


def _raw(v):
    return v._value if isinstance(v, Tensor) else v


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
    """x - logsumexp(x) along ``axis``, stable for large inputs.

    ``axis`` is an int, a tuple of ints (the softmax over those axes together) or None (over
    all entries).
    """
    x = as_tensor(x)
    axes = rd.normalize_axes(axis, x.ndim)
    if axes is None:
        axes = tuple(range(x.ndim))
    if len(axes) == 1:
        return apply(rd.log_softmax, (x,), {"axis": axes[0]})
    # The gate takes one axis: move the axes last and merge them into one (the gate keeps
    # its -inf handling, which x - logsumexp(x) would turn into nan on an all -inf slice).
    rest = [a for a in range(x.ndim) if a not in axes]
    perm = tuple(rest) + axes
    moved = x.transpose(perm)
    merged = moved.reshape(moved.shape[:len(rest)] + (int(np.prod([x.shape[a] for a in axes])),))
    out = apply(rd.log_softmax, (merged,), {"axis": len(rest)}).reshape(moved.shape)
    return out.transpose(tuple(int(a) for a in np.argsort(perm)))


def softmax(x, axis=-1):
    return exp(log_softmax(x, axis=axis))


def norm(x, ord=None, axis=None, keepdims=False):
    """``np.linalg.norm``: vector norms of any order, and the matrix norms 'fro', 1, -1, inf, -inf.

    As in NumPy, a 2-tuple ``axis`` (or a 2-d input with ``axis=None`` and an ``ord``) asks
    for a matrix norm. The matrix norms 2, -2 and 'nuc' need singular values, which have no
    gate: NumPy computes them when nothing needs a gradient, otherwise they raise.
    """
    x = as_tensor(x)
    if x.dtype.kind != "f":
        x = x.astype(np.float64)  # as NumPy does: integer data has no gradient anyway
    if axis is None:
        if ord is None or (ord in ("fro", "f") and x.ndim == 2) or (ord == 2 and x.ndim == 1):
            out = sqrt((x * x).sum())
            return out.reshape((1,) * x.ndim) if keepdims else out
        if x.ndim not in (1, 2):
            raise ValueError(f"norm with ord={ord!r} takes a 1-d or 2-d tensor or an axis, "
                             f"not a {x.ndim}-d tensor")
        axis = tuple(range(x.ndim))
    axes = (axis,) if isinstance(axis, numbers.Integral) else tuple(axis)
    if len(axes) == 1:
        return _vector_norm(x, ord, axes[0], keepdims)
    if len(axes) == 2:
        return _matrix_norm(x, ord, axes, keepdims)
    raise ValueError(f"norm takes one axis (a vector norm) or two (a matrix norm), not {axis}")


def _vector_norm(x, ord, axis, keepdims):
    if isinstance(ord, str):
        raise ValueError(f"norm has no vector norm of order {ord!r}")
    if ord is None or ord == 2:
        return sqrt((x * x).sum(axis=axis, keepdims=keepdims))
    if ord == np.inf:
        return abs(x).max(axis=axis, keepdims=keepdims)
    if ord == -np.inf:
        return abs(x).min(axis=axis, keepdims=keepdims)
    if ord == 1:
        return abs(x).sum(axis=axis, keepdims=keepdims)
    if ord == 0:  # a count of nonzero entries: piecewise constant, no gradient
        count = (x._value != 0).sum(axis=axis, keepdims=keepdims)
        return as_tensor(np.asarray(count, dtype=x.dtype))
    return power(power(abs(x), ord).sum(axis=axis, keepdims=keepdims), 1.0 / ord)


def _matrix_norm(x, ord, axes, keepdims):
    # Each axis on its own: their order matters (ord=1 sums over rows, inf over columns).
    row, col = (rd.normalize_axes(a, x.ndim)[0] for a in axes)
    if row == col:
        raise ValueError(f"norm over axis {axes} repeats an axis")
    if ord is None or ord in ("fro", "f"):
        return sqrt((x * x).sum(axis=(row, col), keepdims=keepdims))
    if ord in (2, -2, "nuc"):
        if _needs_grad(x):
            raise NotDifferentiableError(
                f"norm with ord={ord!r} of a matrix needs singular values, which have no "
                f"gradient rule in circuitgrad; use ord='fro', 1, -1, inf or -inf")
        return as_tensor(np.linalg.norm(x._value, ord=ord, axis=(row, col), keepdims=keepdims))
    if ord in (1, -1):  # largest (smallest) column sum of |x|
        sums, over = abs(x).sum(axis=row, keepdims=True), col
    elif ord in (np.inf, -np.inf):  # largest (smallest) row sum of |x|
        sums, over = abs(x).sum(axis=col, keepdims=True), row
    else:
        raise ValueError(f"norm has no matrix norm of order {ord!r}")
    out = sums.max(axis=over, keepdims=True) if ord > 0 else sums.min(axis=over, keepdims=True)
    return out if keepdims else sh.squeeze(out, (row, col))


# ----- shapes ------------------------------------------------------------------------------
def reshape(x, shape, order="C"):
    """Reshape as ``np.reshape`` does; ``order='F'`` reads and writes first index fastest."""
    x = as_tensor(x)
    if _memory_order("reshape", x, order) == "C":
        return x.reshape(shape)
    # Fortran order is C order on the reversed axes: reverse, reshape reversed, reverse back.
    shape = (shape,) if isinstance(shape, numbers.Integral) else tuple(shape)
    return x.transpose().reshape(shape[::-1]).transpose()


def ravel(x, order="C"):
    """The entries as a 1-d tensor, in ``np.ravel``'s ``order``."""
    x = as_tensor(x)
    return reshape(x, (-1,), _memory_order("ravel", x, order, memory_ok=True))


def _memory_order(fn, x, order, memory_ok=False):
    """'C' or 'F': NumPy's orders 'A' (and 'K' for ravel) follow how the values lie in memory."""
    order = "C" if order is None else str(order).upper()
    value = x._value
    if backend.is_array(value):
        c, f = value.flags.c_contiguous, value.flags.f_contiguous
    else:
        c = f = True  # a 0-d value lies the same way in both orders
    if order == "A":
        return "F" if f and not c else "C"
    if order == "K" and memory_ok and (c or f):
        return "C" if c else "F"
    if order in ("C", "F"):
        return order
    allowed = "'C', 'F', 'A' or (for values contiguous in memory) 'K'" if memory_ok \
        else "'C', 'F' or 'A'"
    raise ValueError(f"{fn} takes order={allowed}, not order={order!r}")


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
    """Join tensors along an existing axis (None: flattened first, as NumPy does); the
    gradient is sliced back to each."""
    xs = [as_tensor(x) for x in xs]
    if not xs:
        raise ValueError("concatenate needs at least one tensor")
    if axis is None:
        xs, axis = [x.flatten() for x in xs], 0
    axis = _one_axis("concatenate", axis, xs[0].ndim)
    return apply(sh.concatenate, tuple(xs), {"axis": axis})


def stack(xs, axis=0):
    """Join tensors along a new axis."""
    xs = [as_tensor(x) for x in xs]
    if not xs:
        raise ValueError("stack needs at least one tensor")
    axis = _one_axis("stack", axis, xs[0].ndim + 1)
    return apply(sh.stack, tuple(xs), {"axis": axis})


def _one_axis(fn, axis, ndim):
    if not isinstance(axis, numbers.Integral):
        raise TypeError(f"{fn} takes one integer axis, not axis={axis!r}")
    return rd.normalize_axes(axis, ndim)[0]


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


install(clip=clip, dot=dot, var=var, std=std)  # the Tensor methods of the same names

# Everything above that is public, derived or written out: what ``import circuitgrad`` gives.
__all__ = sorted(DERIVED) + [
    "broadcast_to", "clip", "concatenate", "dot", "einsum", "expand_dims", "getitem",
    "log_softmax", "logsumexp", "matmul", "max", "maximum", "mean", "min", "minimum", "norm",
    "outer", "power", "ravel", "reshape", "softmax", "squeeze", "stack", "std", "sum",
    "swapaxes", "transpose", "var", "where"]
