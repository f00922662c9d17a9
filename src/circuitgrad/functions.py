"""The function API: ``cg.exp(t)``, ``cg.maximum(a, b)``, ``cg.sum(t, axis=1)``, ...

Each function applies one primitive gate, or, for composites (softmax, var, norm, ...),
a few of them, so their gradients come from the primitives' rules. Arguments may be
Tensors, arrays or numbers; non-Tensor arguments are constants.
"""

import builtins
import itertools
import numbers

import numpy as np

from . import backend
from .errors import NotDifferentiableError, ShapeError
from .gates import elementwise as ew
from .gates import formula_gates
from .gates import linalg as la
from .gates import reduce as rd
from .gates import shape as sh
from .gates.define import caveat
from .i18n import msg
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


@caveat("Computed in float64, as NumPy does; a float32 input gets its gradient cast back to "
        "float32.")
def float_power(a, b):
    """``np.float_power``: ``a ** b`` computed in float64 whatever the inputs' precision."""
    return power(as_float64(a), as_float64(b))


def as_float64(v):
    """``v`` in float64: a Tensor through the cast gate (its gradient comes back in its own
    precision), an array converted; a Python number stays a number."""
    if isinstance(v, Tensor):
        return v if v.dtype == np.float64 else v.astype(np.float64)
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return v
    return np.asarray(v, dtype=np.float64)


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


@caveat("The condition is not differentiated.")
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


@caveat("Where the standard deviation is 0 (constant data) the gradient is 0, as in PyTorch.")
def std(x, axis=None, keepdims=False, ddof=0):
    return _root(var(x, axis=axis, keepdims=keepdims, ddof=ddof))


def _root(s):
    """sqrt(s) of a sum of squares (norm, std), with gradient 0 where s = 0, as PyTorch
    gives: sqrt's own derivative there, 0.5 / 0, would make it inf * 0 = NaN. Both sides of
    the ``where`` stay finite, so no NaN comes back from the side not taken either."""
    zero = s._value == 0
    if not np.any(zero):
        return sqrt(s)
    return where(zero, 0.0, sqrt(where(zero, 1.0, s)))


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


@caveat("The 2-norm and the Frobenius norm of zeros have gradient 0, as in PyTorch.")
def norm(x, ord=None, axis=None, keepdims=False):
    """``np.linalg.norm``: vector norms of any order, and every matrix norm.

    As in NumPy, a 2-tuple ``axis`` (or a 2-d input with ``axis=None`` and an ``ord``) asks
    for a matrix norm. The matrix norms 2, -2 and 'nuc' are the largest, smallest and summed
    singular values, from the svd gate (ord=2 and -2 split the gradient evenly between
    tied singular values, as max and min do).
    """
    x = as_tensor(x)
    if x.dtype.kind != "f":
        x = x.astype(np.float64)  # as NumPy does: integer data has no gradient anyway
    if axis is None:
        if ord is None or (ord in ("fro", "f") and x.ndim == 2) or (ord == 2 and x.ndim == 1):
            out = _root((x * x).sum())
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


def _singular_values(x):
    """The singular values of (a stack of) matrices: the svd gate, its s part."""
    return apply(la.svd, (x,))[..., x.shape[-2], :]


def _vector_norm(x, ord, axis, keepdims):
    if isinstance(ord, str):
        raise ValueError(f"norm has no vector norm of order {ord!r}")
    if ord is None or ord == 2:
        return _root((x * x).sum(axis=axis, keepdims=keepdims))
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
        return _root((x * x).sum(axis=(row, col), keepdims=keepdims))
    if ord in (2, -2, "nuc"):  # the largest, smallest or summed singular values
        rest = [a for a in range(x.ndim) if a not in (row, col)]
        s = _singular_values(x.transpose(tuple(rest) + (row, col)))
        out = s.max(axis=-1) if ord == 2 else s.min(axis=-1) if ord == -2 else s.sum(axis=-1)
        return expand_dims(out, tuple(sorted((row, col)))) if keepdims else out
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
        raise NotImplementedError(msg("dot of operands with more than 2 dimensions; use "
                                      "matmul or einsum"))
    return apply(la.matmul, (a, b))


def outer(a, b):
    a, b = as_tensor(a).flatten(), as_tensor(b).flatten()
    return a[:, None] * b[None, :]


def einsum(subscripts, *operands):
    """Einstein summation over named axes, e.g. ``einsum('ij,jk->ik', A, B)``."""
    xs = tuple(as_tensor(x) for x in operands)
    ins, out_spec = la.parse_subscripts(subscripts, [x.ndim for x in xs])
    return apply(la.einsum, xs, {"ins": tuple(ins), "out_spec": out_spec})


# ----- NumPy's array functions, as composites of the gates above ----------------------------
# Each picks, moves or combines entries with getitem (integer arrays; repeated picks add up),
# concatenate, reshape, transpose, broadcast_to, where and the reductions, so its gradient
# (of any order) is the primitives'. Index arrays are built from the shapes alone.
def fmax(a, b):
    """Elementwise max ignoring NaN (the other input is the result and gets the gradient)."""
    return apply(ew.fmax, (as_tensor(a), b))


def fmin(a, b):
    """Elementwise min ignoring NaN (the other input is the result and gets the gradient)."""
    return apply(ew.fmin, (as_tensor(a), b))


def prod(x, axis=None, keepdims=False):
    """Product over ``axis``; d/dx_i is the product of the other entries (exact at zeros)."""
    x = as_tensor(x)
    return apply(rd.prod, (x,), rd.reduce_params(x, axis, keepdims))


def cumsum(x, axis=None):
    """Running sum along ``axis`` (None: of the flattened entries); the VJP is the running
    sum of the gradient from the far end."""
    x = as_tensor(x)
    if axis is None:
        x, axis = x.reshape(-1), 0
    return apply(rd.cumsum, (x,), {"axis": _one_axis("cumsum", axis, x.ndim)})


@caveat("Exact at zeros; costs O(n**2) along the axis.")
def cumprod(x, axis=None):
    """Running product along ``axis``: out_i = prod_{j <= i} x_j, the product over the last
    axis of an (n, n) table holding x_j where j <= i and 1 elsewhere. Its gradient is then
    prod's, exact at zeros; the cost is O(n^2) along the axis."""
    x = as_tensor(x)
    if axis is None:
        x, axis = x.reshape(-1), 0
    axis = _one_axis("cumprod", axis, x.ndim)
    moved = moveaxis(x, axis, -1)
    lower = backend.tri(moved.shape[-1], dtype=bool)  # lower[i, j]: j <= i
    table = where(lower, moved[..., None, :], 1)
    return moveaxis(prod(table, axis=-1), -1, axis)


def _grid(shape, axis):
    """The positions along ``axis`` of an array of ``shape``, shaped to broadcast."""
    return backend.arange(shape[axis]).reshape([-1 if k == axis else 1 for k in range(len(shape))])


def take_along_axis(x, indices, axis=-1):
    """``x`` picked at ``indices`` along ``axis`` (None: of the flattened entries)."""
    x = as_tensor(x)
    indices = np.asarray(_raw(indices))
    if axis is None:
        x, axis = x.reshape(-1), 0
    if indices.ndim != x.ndim:
        raise ValueError(f"take_along_axis: indices and arr must have the same number of "
                         f"dimensions ({indices.ndim} and {x.ndim})")
    axis = _one_axis("take_along_axis", axis, x.ndim)
    index = tuple(indices if k == axis else _grid(x.shape, k) for k in range(x.ndim))
    return x[index]


@caveat("mode='wrap' or 'clip': an entry picked several times gets the sum of their "
        "gradients.")
def take(x, indices, axis=None, mode="raise"):
    """``np.take``: entries at ``indices`` along ``axis`` (None: of the flattened entries);
    ``mode`` 'wrap' or 'clip' treats out-of-range indices as NumPy does."""
    x = as_tensor(x)
    indices = np.asarray(_raw(indices))
    if indices.dtype.kind not in "iu":
        raise TypeError(f"take: indices must be integers, not {indices.dtype}")
    if axis is None:
        x, axis = x.reshape(-1), 0
    axis = _one_axis("take", axis, x.ndim)
    n = x.shape[axis]
    if mode == "wrap":
        indices = indices % n
    elif mode == "clip":
        indices = np.clip(indices, 0, n - 1)
    elif mode != "raise":
        raise ValueError(f"take: mode must be 'raise', 'wrap' or 'clip', not {mode!r}")
    index = int(indices) if indices.ndim == 0 else indices
    return x[(slice(None),) * axis + (index,)]


def choose(a, choices, mode="raise"):
    """``np.choose``: entry i from ``choices[a[i]]``, everything broadcast together; the
    gradient of each choice is the upstream one where it was chosen."""
    index = np.asarray(_raw(a))
    choices = [as_tensor(c) for c in choices]
    n = len(choices)
    if mode == "wrap":
        index = index % n
    elif mode == "clip":
        index = np.clip(index, 0, n - 1)
    elif mode != "raise":
        raise ValueError(f"choose: mode must be 'raise', 'wrap' or 'clip', not {mode!r}")
    elif np.any((index < 0) | (index >= n)):
        raise ValueError("invalid entry in choice array")
    shape = np.broadcast_shapes(index.shape, *[c.shape for c in choices])
    stacked = stack([broadcast_to(c, shape) for c in choices], axis=0)
    return take_along_axis(stacked, np.broadcast_to(index, shape)[None], 0)[0]


@caveat("At ties each place gets the gradient of the entry a stable sort puts there.")
def sort(x, axis=-1):
    """Sorted along ``axis`` (None: flattened): the entries picked in a stable argsort's
    order, so each gets the gradient of the place it lands in (tied entries keep their order)."""
    x = as_tensor(x)
    if axis is None:
        x, axis = x.reshape(-1), -1
    axis = _one_axis("sort", axis, x.ndim)
    return take_along_axis(x, np.argsort(x._value, axis=axis, kind="stable"), axis)


def _merged_last(x, axes):
    """``x`` with ``axes`` moved last and merged into one (for reductions over several)."""
    rest = tuple(a for a in range(x.ndim) if a not in axes)
    moved = x.transpose(rest + tuple(axes))
    return moved.reshape(moved.shape[:len(rest)] + (int(np.prod([x.shape[a] for a in axes])),))


@caveat("At ties the gradient goes to the entry a stable sort places in the middle; an "
        "even count splits it between the two middle entries.",
        "A slice holding NaN has median NaN, as in NumPy.")
def median(x, axis=None, keepdims=False):
    """Middle entry (mean of the two middle ones for an even count) over ``axis``, from
    :func:`sort`: the gradient goes to the middle entry (halves to the two); at a tie to
    the one a stable sort places there. A slice holding NaN has median NaN, as in NumPy."""
    x = as_tensor(x)
    axes = rd.normalize_axes(axis, x.ndim)
    if axes is None:
        axes = tuple(range(x.ndim))
    merged = _merged_last(x, axes)
    n = merged.shape[-1]
    if n == 0:
        raise ValueError("median of an empty slice")
    ordered = sort(merged, axis=-1)
    mid = n // 2
    out = ordered[..., mid] if n % 2 else (ordered[..., mid - 1] + ordered[..., mid]) / 2
    nan = np.isnan(merged._value).any(axis=-1) if merged.dtype.kind == "f" else False
    if np.any(nan):
        out = where(nan, np.nan, out)
    return out.reshape(rd.kept_shape(x.shape, axes)) if keepdims else out


def moveaxis(x, source, destination):
    """Move axes to new places, the others keeping their order (a transpose)."""
    x = as_tensor(x)
    source = rd.normalize_axes(source, x.ndim) if isinstance(source, numbers.Integral) \
        else tuple(rd.normalize_axes(a, x.ndim)[0] for a in source)
    destination = rd.normalize_axes(destination, x.ndim) \
        if isinstance(destination, numbers.Integral) \
        else tuple(rd.normalize_axes(a, x.ndim)[0] for a in destination)
    if len(source) != len(destination):
        raise ValueError("moveaxis: source and destination must have the same number of "
                         "elements")
    if len(set(source)) != len(source) or len(set(destination)) != len(destination):
        raise ValueError("moveaxis: repeated axis")
    order = [a for a in range(x.ndim) if a not in source]
    for dest, src in sorted(zip(destination, source, strict=True)):
        order.insert(dest, src)
    return x.transpose(tuple(order))


def _triangle_mask(x, k, lower):
    # NumPy's rule: the mask has the last two axes' shape (a 1-d input is its one row)
    rows, cols = (x.shape[-2:] if x.ndim >= 2 else (x.shape[-1],) * 2)
    mask = backend.tri(rows, cols, k=k if lower else k - 1, dtype=bool)
    return mask if lower else ~mask


def tril(x, k=0):
    """Entries on and below diagonal ``k`` (0 elsewhere, where the gradient is 0 too)."""
    x = as_tensor(x)
    return where(_triangle_mask(x, k, True), x, 0)


def triu(x, k=0):
    """Entries on and above diagonal ``k`` (0 elsewhere, where the gradient is 0 too)."""
    x = as_tensor(x)
    return where(_triangle_mask(x, k, False), x, 0)


def diagonal(x, offset=0, axis1=0, axis2=1):
    """The diagonal ``offset`` of the (axis1, axis2) planes, as a last axis (as NumPy)."""
    x = as_tensor(x)
    a1, a2 = (rd.normalize_axes(a, x.ndim)[0] for a in (axis1, axis2))
    if a1 == a2:
        raise ValueError("diagonal: axis1 and axis2 cannot be the same")
    moved = moveaxis(x, (a1, a2), (-2, -1))
    rows, cols = moved.shape[-2:]
    row0, col0 = builtins.max(-offset, 0), builtins.max(offset, 0)
    i = backend.arange(builtins.max(0, builtins.min(rows - row0, cols - col0)))
    return moved[..., i + row0, i + col0]


def trace(x, offset=0, axis1=0, axis2=1):
    """Sum of the diagonal ``offset``: the gradient is the upstream one on that diagonal."""
    return diagonal(x, offset, axis1, axis2).sum(axis=-1)


def diag(v, k=0):
    """A 2-d input's diagonal ``k``; a 1-d input's entries placed on diagonal ``k`` of a
    square matrix (every other entry picks an appended 0, so the gradient is a pick back)."""
    v = as_tensor(v)
    if v.ndim == 2:
        return diagonal(v, k)
    if v.ndim != 1:
        raise ValueError("diag: input must be 1-d or 2-d")
    n = v.shape[0]
    side = n + builtins.abs(k)
    i = backend.arange(n)
    index = backend.full((side, side), n)
    index[i + builtins.max(-k, 0), i + builtins.max(k, 0)] = i
    return concatenate([v, backend.zeros(1, dtype=v.dtype)])[index]


def _interleaved(first, second):
    return tuple(itertools.chain.from_iterable(zip(first, second, strict=True)))


def tile(x, reps):
    """``x`` repeated ``reps`` times along each axis: out[r * s + i] = x[i], so a new axis
    of size r before each axis, broadcast and merged; the gradient sums the copies."""
    x = as_tensor(x)
    reps = (int(reps),) if isinstance(reps, numbers.Integral) else tuple(int(r) for r in reps)
    reps = (1,) * (x.ndim - len(reps)) + reps
    shape = (1,) * (len(reps) - x.ndim) + x.shape
    spread = x.reshape(_interleaved((1,) * len(shape), shape))
    spread = broadcast_to(spread, _interleaved(reps, shape))
    return spread.reshape(tuple(r * n for r, n in zip(reps, shape, strict=True)))


def repeat(x, repeats, axis=None):
    """Each entry repeated along ``axis`` (None: of the flattened entries), ``repeats``
    times (a number, or one per entry); the gradient sums each entry's copies."""
    x = as_tensor(x)
    if axis is None:
        x, axis = x.reshape(-1), 0
    axis = _one_axis("repeat", axis, x.ndim)
    repeats = np.asarray(_raw(repeats))
    if repeats.ndim == 0 or repeats.size == 1:
        r = int(repeats.reshape(()))
        if r < 0:
            raise ValueError("repeat: repeats may not be negative")
        spread = expand_dims(x, axis + 1)
        spread = broadcast_to(spread, spread.shape[:axis + 1] + (r,) + spread.shape[axis + 2:])
        return spread.reshape(x.shape[:axis] + (x.shape[axis] * r,) + x.shape[axis + 1:])
    return take(x, np.repeat(backend.arange(x.shape[axis]), repeats), axis=axis)


def flip(x, axis=None):
    """Entries in reverse order along ``axis`` (None: all axes); a reversing slice."""
    x = as_tensor(x)
    axes = rd.normalize_axes(axis, x.ndim)
    axes = range(x.ndim) if axes is None else axes
    return x[tuple(slice(None, None, -1) if k in axes else slice(None) for k in range(x.ndim))]


def fliplr(x):
    x = as_tensor(x)
    if x.ndim < 2:
        raise ValueError("fliplr: input must be at least 2-d")
    return flip(x, 1)


def flipud(x):
    x = as_tensor(x)
    if x.ndim < 1:
        raise ValueError("flipud: input must be at least 1-d")
    return flip(x, 0)


def _along(axis, piece):
    return (slice(None),) * axis + (piece,)


def roll(x, shift, axis=None):
    """Entries shifted cyclically by ``shift`` along ``axis`` (None: the flattened entries):
    the last ``shift`` entries moved to the front, a slice and a concatenate."""
    x = as_tensor(x)
    if axis is None:
        return roll(x.reshape(-1), shift, 0).reshape(x.shape)
    total = {}
    for s, a in np.broadcast(shift, axis):  # shifts of the same axis add up, as in NumPy
        a = rd.normalize_axes(int(a), x.ndim)[0]
        total[a] = total.get(a, 0) + int(s)
    for a, s in total.items():
        n = x.shape[a]
        s = s % n if n else 0
        if s:
            x = concatenate([x[_along(a, slice(n - s, None))], x[_along(a, slice(None, n - s))]],
                            axis=a)
    return x


def diff(x, n=1, axis=-1, prepend=None, append=None):
    """The n-th difference along ``axis``: out_i = x_{i+1} - x_i, ``n`` times; ``prepend`` and
    ``append`` are joined on first (numbers are spread over the other axes)."""
    x = as_tensor(x)
    if n < 0:
        raise ValueError(f"diff: order n must be non-negative, not {n}")
    if n == 0:
        return x
    if x.ndim == 0:
        raise ValueError("diff requires input that is at least one dimensional")
    axis = _one_axis("diff", axis, x.ndim)
    parts = []
    for extra in (prepend, append):
        if extra is not None:
            extra = as_tensor(extra)
            if extra.ndim == 0:
                extra = broadcast_to(extra, x.shape[:axis] + (1,) + x.shape[axis + 1:])
        parts.append(extra)
    if parts[0] is not None or parts[1] is not None:
        x = concatenate([p for p in (parts[0], x, parts[1]) if p is not None], axis=axis)
    for _ in range(n):
        x = x[_along(axis, slice(1, None))] - x[_along(axis, slice(None, -1))]
    return x


def array_split(x, indices_or_sections, axis=0):
    """Pieces along ``axis``: ``sections`` nearly equal ones (the first ones one longer), or
    cut at the given indices; each piece is a slice, whose gradient is put back in place."""
    x = as_tensor(x)
    axis = _one_axis("array_split", axis, x.ndim)
    n = x.shape[axis]
    if isinstance(indices_or_sections, numbers.Integral):
        sections = int(indices_or_sections)
        if sections <= 0:
            raise ValueError("number sections must be larger than 0")
        each_size, extra = divmod(n, sections)
        sizes = [each_size + 1] * extra + [each_size] * (sections - extra)
        bounds = [0, *itertools.accumulate(sizes)]
    else:
        bounds = [0, *(int(i) for i in indices_or_sections), n]
    return [x[_along(axis, slice(start, stop))]
            for start, stop in zip(bounds[:-1], bounds[1:], strict=True)]


def split(x, indices_or_sections, axis=0):
    """As :func:`array_split`, but a number of sections must divide the axis evenly."""
    x = as_tensor(x)
    if isinstance(indices_or_sections, numbers.Integral):
        n = x.shape[_one_axis("split", axis, x.ndim)]
        if indices_or_sections <= 0 or n % indices_or_sections:
            raise ValueError("array split does not result in an equal division")
    return array_split(x, indices_or_sections, axis)


def hsplit(x, indices_or_sections):
    x = as_tensor(x)
    if x.ndim == 0:
        raise ValueError("hsplit only works on arrays of 1 or more dimensions")
    return split(x, indices_or_sections, 1 if x.ndim > 1 else 0)


def vsplit(x, indices_or_sections):
    x = as_tensor(x)
    if x.ndim < 2:
        raise ValueError("vsplit only works on arrays of 2 or more dimensions")
    return split(x, indices_or_sections, 0)


def dsplit(x, indices_or_sections):
    x = as_tensor(x)
    if x.ndim < 3:
        raise ValueError("dsplit only works on arrays of 3 or more dimensions")
    return split(x, indices_or_sections, 2)


# NumPy's atleast_*d give a tuple for several inputs (a list before NumPy 2)
_SEVERAL = type(np.atleast_1d(0, 0))


def _atleast(x, ndim):
    x = as_tensor(x)
    if x.ndim >= ndim:
        return x
    if ndim == 3 and x.ndim == 1:
        return x.reshape((1, x.shape[0], 1))  # NumPy's rule: a row, then a new last axis
    if ndim == 3 and x.ndim == 2:
        return x.reshape(x.shape + (1,))
    return x.reshape((1,) * (ndim - x.ndim) + x.shape)


def _atleast_fn(ndim):
    def fn(*arrays):
        out = [_atleast(a, ndim) for a in arrays]
        return out[0] if len(out) == 1 else _SEVERAL(out)
    fn.__name__ = fn.__qualname__ = f"atleast_{ndim}d"
    fn.__doc__ = f"Each input with at least {ndim} dimensions, as ``np.atleast_{ndim}d``."
    return fn


atleast_1d, atleast_2d, atleast_3d = (_atleast_fn(n) for n in (1, 2, 3))


def vstack(xs):
    """Rows on rows: the inputs as at least 2-d, concatenated along axis 0."""
    return concatenate([_atleast(x, 2) for x in xs], axis=0)


def hstack(xs):
    """Side by side: 1-d inputs concatenated, others along axis 1."""
    xs = [_atleast(x, 1) for x in xs]
    return concatenate(xs, axis=0 if xs and xs[0].ndim == 1 else 1)


def dstack(xs):
    """Along a third axis: the inputs as at least 3-d, concatenated along axis 2."""
    return concatenate([_atleast(x, 3) for x in xs], axis=2)


def column_stack(xs):
    """1-d inputs as columns (and 2-d ones as they are), concatenated along axis 1."""
    columns = []
    for x in xs:
        x = as_tensor(x)
        columns.append(x.reshape((-1, 1)) if x.ndim < 2 else x)
    return concatenate(columns, axis=1)


def tensordot(a, b, axes=2):
    """Sum of products over paired axes (the last ``axes`` of a with the first of b, or the
    two lists given), as one einsum."""
    a, b = as_tensor(a), as_tensor(b)
    if isinstance(axes, numbers.Integral):
        a_axes, b_axes = list(range(a.ndim - int(axes), a.ndim)), list(range(int(axes)))
    else:
        a_axes, b_axes = ([int(k)] if isinstance(k, numbers.Integral) else [int(n) for n in k]
                          for k in axes)
    a_axes = [rd.normalize_axes(k, a.ndim)[0] for k in a_axes]
    b_axes = [rd.normalize_axes(k, b.ndim)[0] for k in b_axes]
    if len(a_axes) != len(b_axes) or any(a.shape[i] != b.shape[j]
                                         for i, j in zip(a_axes, b_axes, strict=False)):
        raise ShapeError(f"tensordot: shape-mismatch for sum over axes {a_axes} of "
                            f"{a.shape} and {b_axes} of {b.shape}")
    letters = iter("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
    a_letters = [next(letters) for _ in range(a.ndim)]
    b_letters = [next(letters) for _ in range(b.ndim)]
    for i, j in zip(a_axes, b_axes, strict=True):
        b_letters[j] = a_letters[i]
    out = [c for k, c in enumerate(a_letters) if k not in a_axes] + \
        [c for k, c in enumerate(b_letters) if k not in b_axes]
    return einsum(f"{''.join(a_letters)},{''.join(b_letters)}->{''.join(out)}", a, b)


def inner(a, b):
    """Sum of products over the last axes of both (a product when one is a number)."""
    a, b = as_tensor(a), as_tensor(b)
    if a.ndim == 0 or b.ndim == 0:
        return a * b
    return tensordot(a, b, axes=([-1], [-1]))


def kron(a, b):
    """Kronecker product: out[i * m + j] = a[i] * b[j] on every axis; a broadcast product of
    interleaved axes, merged."""
    a, b = as_tensor(a), as_tensor(b)
    ndim = builtins.max(a.ndim, b.ndim)
    sa, sb = (1,) * (ndim - a.ndim) + a.shape, (1,) * (ndim - b.ndim) + b.shape
    ones = (1,) * ndim
    out = a.reshape(_interleaved(sa, ones)) * b.reshape(_interleaved(ones, sb))
    return out.reshape(tuple(m * n for m, n in zip(sa, sb, strict=True)))


def average(x, axis=None, weights=None, returned=False, keepdims=False):
    """Weighted mean sum(w * x) / sum(w) over ``axis`` (the mean without weights); 1-d
    weights run along one ``axis``. ``returned``: also the sum of the weights."""
    x = as_tensor(x)
    if weights is None:
        avg = mean(x, axis=axis, keepdims=keepdims)
        total = as_tensor(np.broadcast_to(np.asarray(x.size / builtins.max(avg.size, 1),
                                                     dtype=avg.dtype), avg.shape))
        return (avg, total) if returned else avg
    w = as_tensor(weights)
    if w.shape != x.shape:
        if axis is None:
            raise TypeError("average: axis must be specified when shapes of a and weights "
                            "differ")
        if w.ndim != 1:
            raise TypeError("average: 1-d weights expected when shapes of a and weights differ")
        axis = _one_axis("average", axis, x.ndim)
        if w.shape[0] != x.shape[axis]:
            raise ValueError("average: length of weights not compatible with specified axis")
        w = broadcast_to(w.reshape([-1 if k == axis else 1 for k in range(x.ndim)]), x.shape)
    total = w.sum(axis=axis, keepdims=keepdims)
    if np.any(total._value == 0):
        raise ZeroDivisionError("Weights sum to zero, can't be normalized")
    avg = (x * w).sum(axis=axis, keepdims=keepdims) / total
    return (avg, broadcast_to(total, avg.shape)) if returned else avg


def _finite_part(x):
    """``x`` with NaN entries replaced by 0 (where NaN entries get no gradient)."""
    x = as_tensor(x)
    nan = np.isnan(x._value) if x.dtype.kind in "fc" else None
    return x if nan is None or not np.any(nan) else where(nan, 0, x), nan


@caveat("NaN entries count as 0 and get gradient 0.")
def nansum(x, axis=None, keepdims=False):
    """Sum over ``axis`` treating NaN as 0 (NaN entries get gradient 0)."""
    return _finite_part(x)[0].sum(axis=axis, keepdims=keepdims)


@caveat("NaN entries are left out and get gradient 0; an all-NaN slice gives NaN.")
def nanmean(x, axis=None, keepdims=False):
    """Mean over ``axis`` of the entries that are not NaN (an all-NaN slice gives NaN)."""
    finite, nan = _finite_part(x)
    if nan is None:
        return finite.mean(axis=axis, keepdims=keepdims)
    count = np.sum(~nan, axis=rd.normalize_axes(axis, finite.ndim), keepdims=keepdims)
    with np.errstate(invalid="ignore", divide="ignore"):
        return finite.sum(axis=axis, keepdims=keepdims) / count.astype(finite.dtype)


_PAD_MODES = ("constant", "edge", "reflect", "symmetric", "wrap")


@caveat("Modes 'constant', 'edge', 'reflect', 'symmetric' and 'wrap' only; the modes "
        "computed from the values (maximum, mean, median, minimum, linear_ramp) raise.")
def pad(x, pad_width, mode="constant", constant_values=0, reflect_type="even"):
    """``np.pad`` in modes 'constant', 'edge', 'reflect', 'symmetric' and 'wrap': NumPy pads
    the array of entry positions, which says where each output entry comes from; the result
    is the input picked at them (a padded constant is an appended entry, so a constant
    that is a tensor gets its gradient too)."""
    x = as_tensor(x)
    if mode not in _PAD_MODES:
        raise NotDifferentiableError(
            f"np.pad with mode={mode!r} has no gradient rule in circuitgrad; the modes are "
            f"{', '.join(_PAD_MODES)}")
    if reflect_type != "even":
        raise NotDifferentiableError("np.pad with reflect_type='odd' is not supported on "
                                     "tensors")
    positions = backend.arange(x.size).reshape(x.shape)
    if mode != "constant":
        options = {"reflect_type": reflect_type} if mode in ("reflect", "symmetric") else {}
        return x.reshape(-1)[np.pad(positions, pad_width, mode=mode, **options)]
    # one marker per (axis, side), numbered past the entries, padded in place of the values
    values = as_tensor(constant_values)
    if values.dtype != x.dtype:
        values = values.astype(x.dtype) if _needs_grad(values) else \
            as_tensor(np.asarray(values._value, dtype=x.dtype))
    values = broadcast_to(values, (x.ndim, 2)).reshape(-1)
    markers = x.size + backend.arange(2 * x.ndim).reshape(x.ndim, 2)
    picks = np.pad(positions, pad_width, mode="constant", constant_values=markers)
    return concatenate([x.reshape(-1), values])[picks]


install(clip=clip, dot=dot, var=var, std=std, ravel=ravel)  # the Tensor methods of the same names

# Everything above that is public, derived or written out: what ``import circuitgrad`` gives.
__all__ = sorted(DERIVED) + [
    "broadcast_to", "clip", "concatenate", "dot", "einsum", "expand_dims", "getitem",
    "float_power", "log_softmax", "logsumexp", "matmul", "max", "maximum", "mean", "min",
    "minimum", "norm", "outer", "power", "ravel", "reshape", "softmax", "squeeze", "stack",
    "std", "sum", "swapaxes", "transpose", "var", "where",
    # NumPy's array functions (composites, and the gates prod, cumsum, fmax, fmin)
    "array_split", "atleast_1d", "atleast_2d", "atleast_3d", "average", "choose",
    "column_stack", "cumprod", "cumsum", "diag", "diagonal", "diff", "dsplit",
    "dstack", "flip", "fliplr", "flipud", "fmax", "fmin", "hsplit", "hstack", "inner", "kron",
    "median", "moveaxis", "nanmean", "nansum", "pad", "prod", "repeat", "roll", "sort",
    "split", "take", "take_along_axis", "tensordot", "tile", "tril", "triu", "vsplit",
    "trace", "vstack"]
