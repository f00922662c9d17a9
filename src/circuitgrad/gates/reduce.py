"""Reductions over axes: sum, mean, max, min, logsumexp; and log_softmax beside logsumexp.

``axis`` reaches the gates normalised (None or a sorted tuple of non-negative axes), so the
rules never deal with negative or repeated axes. The VJP of a reduction broadcasts the
upstream gradient back over the reduced axes.

max/min route the gradient to the largest (smallest) entries, split evenly among exact
ties. logsumexp and log_softmax shift by the maximum, so large inputs never overflow; in
logsumexp ``-inf`` entries get weight 0 and gradient 0; an all ``-inf`` slice has logsumexp
``-inf`` (and gradient 0), and log_softmax ``-inf`` everywhere.
"""

import builtins
import numbers

import numpy as np

from ..core.gate import Gate
from ..errors import ShapeError


def reduce_params(t, axis, keepdims):
    """Normalise ``axis`` (int, tuple or None) against ``t``'s rank."""
    return {"axis": normalize_axes(axis, t.ndim), "keepdims": bool(keepdims)}


def _is_int(a):
    return type(a) is int or isinstance(a, numbers.Integral)  # the common case first


def normalize_axes(axis, ndim):
    if axis is None:
        return None
    axes = (axis,) if _is_int(axis) else tuple(axis)
    out = []
    for a in axes:
        if not _is_int(a) or not -ndim <= a < builtins.max(ndim, 1):
            raise ShapeError(f"axis {a} is out of range for a tensor with {ndim} dimensions")
        out.append(int(a) % builtins.max(ndim, 1))
    if len(set(out)) != len(out):
        raise ShapeError(f"repeated axis in {axis}")
    return tuple(sorted(out))


def kept_shape(shape, axis):
    """``shape`` with the reduced axes kept as size 1."""
    if axis is None:
        return (1,) * len(shape)
    return tuple(1 if k in axis else n for k, n in enumerate(shape))


def _keep(v, x, axis, keepdims):
    """Reshape a reduced value so it broadcasts against the input ``x``."""
    return v if keepdims else v.reshape(kept_shape(x.shape, axis))


def _spread(g, x, axis, keepdims):
    """The upstream gradient of a reduction, broadcast back over the input's shape."""
    return np.broadcast_to(_keep(g, x, axis, keepdims), x.shape)


def _count(x, axis):
    if axis is None:
        return x.size
    return int(np.prod([x.shape[a] for a in axis]))


sum = Gate("sum", lambda x, axis, keepdims: np.add.reduce(x, axis=axis, keepdims=keepdims),
           symbol="sum", saves=(), saves_out=False,
           vjp=(lambda g, out, x, axis, keepdims: _spread(g, x, axis, keepdims),),
           jvp=(lambda t, out, x, axis, keepdims: t.sum(axis=axis, keepdims=keepdims),))

def _mean_forward(x, axis, keepdims):
    # the sum over the count, as np.mean computes it, without np.mean's Python-level checks
    if x.dtype == np.float16:  # as np.mean does: a float16 sum overflows past 65504
        total = np.add.reduce(x, axis=axis, keepdims=keepdims, dtype=np.float32)
        return (total / _count(x, axis)).astype(np.float16)
    return np.add.reduce(x, axis=axis, keepdims=keepdims) / _count(x, axis)


mean = Gate("mean", _mean_forward,
            symbol="mean", saves=(), saves_out=False,
            vjp=(lambda g, out, x, axis, keepdims:
                 _spread(g * (1.0 / _count(x, axis)), x, axis, keepdims),),
            jvp=(lambda t, out, x, axis, keepdims: t.mean(axis=axis, keepdims=keepdims),))


def _arg_share(x, out, axis, keepdims):
    """Each entry's share of the gradient: 1/k for the k entries equal to the extreme."""
    hit = (x == _keep(out, x, axis, keepdims)).astype(x.dtype)  # float32 stays float32
    return hit / hit.sum(axis=axis, keepdims=True)


def _extreme(name, reduce_fn):
    return Gate(
        name, lambda x, axis, keepdims: reduce_fn(x, axis=axis, keepdims=keepdims),
        symbol=name,
        vjp=(lambda g, out, x, axis, keepdims:
             _keep(g, x, axis, keepdims) * _arg_share(x, out, axis, keepdims),),
        jvp=(lambda t, out, x, axis, keepdims:
             (t * _arg_share(x, out, axis, keepdims)).sum(axis=axis, keepdims=keepdims),))


max = _extreme("max", np.max)
min = _extreme("min", np.min)


def _finite_or_zero(m):
    return np.where(np.isfinite(m), m, 0)


def _lse_forward(x, axis, keepdims):
    if x.dtype.kind != "f":  # integers: computed in float64, as np.exp would
        x = x.astype(np.float64)
    shift = _finite_or_zero(np.max(x, axis=axis, keepdims=True, initial=-np.inf))
    with np.errstate(divide="ignore"):  # log(0) = -inf for an all -inf slice is the answer
        out = np.log(np.sum(np.exp(x - shift), axis=axis, keepdims=True)) + shift
    if keepdims:
        return out
    return out.reshape(() if axis is None else
                       tuple(n for k, n in enumerate(np.shape(x)) if k not in axis))


def _softmax_of(x, out_kept):
    """exp(x - logsumexp): the weights logsumexp gives each entry (0 for -inf entries)."""
    return np.exp(x - np.where(out_kept == -np.inf, 0, out_kept))


logsumexp = Gate(
    "logsumexp", _lse_forward, symbol="logsumexp",
    vjp=(lambda g, out, x, axis, keepdims:
         _keep(g, x, axis, keepdims) * _softmax_of(x, _keep(out, x, axis, keepdims)),),
    jvp=(lambda t, out, x, axis, keepdims:
         (t * _softmax_of(x, _keep(out, x, axis, keepdims))).sum(axis=axis,
                                                                  keepdims=keepdims),))


def _log_softmax_forward(x, axis):
    lse = _lse_forward(x, (axis,), True)
    # an all -inf slice: -inf - (-inf) would be NaN; its entries stay -inf instead
    return x - np.where(lse == -np.inf, 0, lse)


log_softmax = Gate(
    "log_softmax", _log_softmax_forward, symbol="log_softmax", saves=(),
    vjp=(lambda g, out, x, axis: g - np.exp(out) * g.sum(axis=axis, keepdims=True),),
    jvp=(lambda t, out, x, axis: t - (np.exp(out) * t).sum(axis=axis, keepdims=True),))


# ----- sample inputs for the gradient sweep (see gates/sweep.py) ---------------------------
def _sweep():
    from .sweep import Case, distinct, normal

    def last(x):
        return -1 if x.ndim else None

    def nonempty(sampler):
        return lambda rng, a, b: None if 0 in a else [sampler(rng, a)]

    def any_shape(sampler):
        return lambda rng, a, b: [sampler(rng, a)]

    return [
        Case(sum, lambda x: x.sum(), any_shape(normal), "sum all"),
        Case(sum, lambda x: x.sum(axis=last(x), keepdims=True), any_shape(normal),
             "sum last keepdims"),
        Case(sum, lambda x: x.sum(axis=(0, -1) if x.ndim > 1 else None),
             any_shape(normal), "sum two axes"),
        Case(mean, lambda x: x.mean(axis=last(x)), nonempty(normal)),
        Case(max, lambda x: x.max(axis=last(x)), nonempty(distinct)),
        Case(max, lambda x: x.max(), nonempty(distinct), "max all"),
        Case(min, lambda x: x.min(axis=0 if x.ndim else None, keepdims=True),
             nonempty(distinct)),
        Case(logsumexp, lambda x: x.logsumexp(axis=last(x)), nonempty(normal)),
        Case(logsumexp, lambda x: x.logsumexp(), nonempty(normal), "logsumexp all"),
        Case(log_softmax, lambda x: _log_softmax_last(x),
             lambda rng, a, b: None if not a or 0 in a else [normal(rng, a)]),
    ]


def _log_softmax_last(x):
    from ..functions import log_softmax as fn
    return fn(x, axis=-1)
