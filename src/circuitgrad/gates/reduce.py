"""Reductions over axes: sum, mean, prod, max, min, logsumexp; log_softmax beside logsumexp;
and the running sum cumsum.

``axis`` reaches the gates normalised (None or a sorted tuple of non-negative axes), so the
rules never deal with negative or repeated axes. The VJP of a reduction broadcasts the
upstream gradient back over the reduced axes.

max/min route the gradient to the largest (smallest) entries, split evenly among exact
ties; a slice holding NaN has NaN as its extreme, and its NaN entries get the gradient.
logsumexp and log_softmax shift by the maximum, so large inputs never overflow; in
logsumexp ``-inf`` entries get weight 0 and gradient 0; an all ``-inf`` slice has logsumexp
``-inf`` (and gradient 0), and log_softmax ``-inf`` everywhere.
"""

import builtins
import numbers

import numpy as np

from ..core.gate import Gate, call
from ..core.node import Wire
from ..errors import ShapeError
from ..i18n import msg
from .listing import Text, axes_text, axis_text, kept


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
            raise ShapeError(msg("axis {axis} is out of range for a tensor with {ndim} "
                                 "dimensions", axis=a, ndim=ndim))
        out.append(int(a) % builtins.max(ndim, 1))
    if len(set(out)) != len(out):
        raise ShapeError(msg("repeated axis in {axis}", axis=axis))
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


def _reduction_forward(site):
    return f"{site.gate_name}({site.arg(0)}{axis_text(site.params)})"


def _sum_text(site, i):
    return f"ones_like({site.arg(0)}) * {kept(site.g, site.params)}"


def _mean_text(site, i):
    n = site.value(0).size // builtins.max(np.size(site.out_value), 1)
    return f"ones_like({site.arg(0)}) * {kept(site.g, site.params)} / {n}"


sum = Gate("sum", lambda x, axis, keepdims: np.add.reduce(x, axis=axis, keepdims=keepdims),
           symbol="sum", saves=(), saves_out=False, numpy=np.sum, api="sum",
           text=Text(_reduction_forward, _sum_text),
           vjp=(lambda g, out, x, axis, keepdims: _spread(g, x, axis, keepdims),),
           jvp=(lambda t, out, x, axis, keepdims: t.sum(axis=axis, keepdims=keepdims),))

def _share(x, axis):
    """What each entry gets of the mean's upstream gradient: 1 / count. A mean over no
    entries has no entry to give it to (the input is empty): 0 then, not 1 / 0."""
    n = _count(x, axis)
    return 1.0 / n if n else 0.0


def _mean_forward(x, axis, keepdims):
    # the sum over the count, as np.mean computes it, without np.mean's Python-level checks
    if x.dtype == np.float16:  # as np.mean does: a float16 sum overflows past 65504
        total = np.add.reduce(x, axis=axis, keepdims=keepdims, dtype=np.float32)
        return (total / _count(x, axis)).astype(np.float16)
    return np.add.reduce(x, axis=axis, keepdims=keepdims) / _count(x, axis)


mean = Gate("mean", _mean_forward,
            symbol="mean", saves=(), saves_out=False, numpy=np.mean, api="mean",
            text=Text(_reduction_forward, _mean_text),
            vjp=(lambda g, out, x, axis, keepdims:
                 _spread(g * _share(x, axis), x, axis, keepdims),),
            jvp=(lambda t, out, x, axis, keepdims: t.mean(axis=axis, keepdims=keepdims),))


def _value(x):
    return x._value if isinstance(x, Wire) else x


def _others(x, out, axis, keepdims):
    """Per entry, the product of the other entries of its slice: d prod / d x_i.

    Away from zeros that is prod / x_i. In a slice with one zero it is the product of the
    nonzero entries at the zero and 0 elsewhere; with two or more zeros, 0 everywhere. The
    zero-aware form is written so its own derivative is right too (second order): at a
    zero of a two-zero slice it is P * (Z - x_i), P the product of the nonzero entries and
    Z the sum of the zeros, which is 0 but moves as the other zero does.
    """
    zero = _value(x) == 0
    kept_out = _keep(out, x, axis, keepdims)
    if not np.any(zero):
        return kept_out / x
    count = np.sum(zero, axis=axis, keepdims=True)
    safe = np.where(zero, 1, x)
    nonzero = call(prod, safe, axis=axis, keepdims=True)
    zeros_sum = np.where(zero, x, 0).sum(axis=axis, keepdims=True)
    at_zero = nonzero * np.where(count == 1, 1, np.where(count == 2, zeros_sum - x, 0))
    return np.where(zero, at_zero, kept_out / safe)


def _prod_text(site, i):
    params, a = site.params, site.arg(0)
    if not np.any(site.value(0) == 0):
        return f"({kept(site.out, params)} / {a}) * {kept(site.g, params)}"
    opts = "" if params.get("axis") is None else f", axis={axes_text(params['axis'])}"
    count = f"sum({a} == 0{opts}, keepdims=True)"
    nonzero = f"prod(where({a} == 0, 1, {a}){opts}, keepdims=True)"
    return (f"where({a} == 0, {nonzero} * ({count} == 1), "
            f"{kept(site.out, params)} / where({a} == 0, 1, {a})) * {kept(site.g, params)}")


prod = Gate("prod", lambda x, axis, keepdims: np.prod(x, axis=axis, keepdims=keepdims),
            symbol="prod", numpy=np.prod, api="prod",
            text=Text(_reduction_forward, _prod_text),
            vjp=(lambda g, out, x, axis, keepdims:
                 _keep(g, x, axis, keepdims) * _others(x, out, axis, keepdims),),
            jvp=(lambda t, out, x, axis, keepdims:
                 (t * _others(x, out, axis, keepdims)).sum(axis=axis, keepdims=keepdims),))


def _reversed_cumsum(g, axis):
    """sum_{j >= i} g_j along ``axis``: cumsum's VJP, a cumsum run from the far end."""
    return np.flip(np.cumsum(np.flip(g, axis), axis=axis), axis)


# cumsum along one axis (cg.cumsum flattens first for axis=None): out_i = sum_{j <= i} x_j,
# so d out_i / d x_j = 1 for j <= i and the VJP is the reversed running sum of g.
cumsum = Gate("cumsum", lambda x, axis: np.cumsum(x, axis=axis), symbol="cumsum",
              saves=(), saves_out=False, numpy=np.cumsum, api="cumsum",
              text=Text(lambda site: f"cumsum({site.arg(0)}, axis={site.params['axis']})",
                        lambda site, i: f"flip(cumsum(flip({site.g}, {site.params['axis']}), "
                                        f"axis={site.params['axis']}), {site.params['axis']})"),
              vjp=(lambda g, out, x, axis: _reversed_cumsum(g, axis),),
              jvp=(lambda t, out, x, axis: np.cumsum(t, axis=axis),))


def _arg_share(x, out, axis, keepdims):
    """Each entry's share of the gradient: 1/k for the k entries equal to the extreme. A
    NaN is the extreme of its slice (np.max propagates it), so its NaN entries share it."""
    hit = x == _keep(out, x, axis, keepdims)
    if np.any(np.isnan(_value(out))):  # only slices holding a NaN have NaN entries
        hit = hit | np.isnan(_value(x))
    hit = hit.astype(x.dtype)  # float32 stays float32
    return hit / hit.sum(axis=axis, keepdims=True)


def _extreme_text(site, i):
    params, a = site.params, site.arg(0)
    hit = f"{a} == {kept(site.out, params)}"
    axis = params.get("axis")
    x = site.value(0)
    kept_out = np.reshape(site.out_value, kept_shape(x.shape, axis))
    hits = x == kept_out
    if np.any(np.isnan(kept_out)):  # as the rule has it: a slice's NaN entries are its extreme
        hit, hits = f"({hit}) | isnan({a})", hits | np.isnan(x)
    if np.any(np.sum(hits, axis=axis) > 1):
        # a tie: the entries equal to the extreme share the gradient evenly
        count = f"sum({hit})" if axis is None else \
            f"sum({hit}, axis={axes_text(axis)}, keepdims=True)"
        return f"(({hit}) / {count}) * {kept(site.g, params)}"
    return f"({hit}) * {kept(site.g, params)}"


def _extreme(name, reduce_fn, numpy):
    return Gate(
        name, lambda x, axis, keepdims: reduce_fn(x, axis=axis, keepdims=keepdims),
        symbol=name, numpy=numpy, api=name, text=Text(_reduction_forward, _extreme_text),
        caveats="Entries tied for the extreme share the gradient evenly; NaN entries are "
                "the extreme of their slice (NumPy's value) and share it.",
        vjp=(lambda g, out, x, axis, keepdims:
             _keep(g, x, axis, keepdims) * _arg_share(x, out, axis, keepdims),),
        jvp=(lambda t, out, x, axis, keepdims:
             (t * _arg_share(x, out, axis, keepdims)).sum(axis=axis, keepdims=keepdims),))


max = _extreme("max", np.max, (np.max, np.amax))
min = _extreme("min", np.min, (np.min, np.amin))


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


def _lse_text(site, i):
    lse = kept(site.out, site.params)
    if np.any(site.out_value == -np.inf):  # an all -inf slice: weights 0, as the rule has
        lse = f"where({lse} == -inf, 0, {lse})"
    return f"exp({site.arg(0)} - {lse}) * {kept(site.g, site.params)}"


logsumexp = Gate(
    "logsumexp", _lse_forward, symbol="logsumexp", api="logsumexp",
    text=Text(_reduction_forward, _lse_text),
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
    "log_softmax", _log_softmax_forward, symbol="log_softmax", saves=(), api="log_softmax",
    text=Text(lambda site: f"log_softmax({site.arg(0)}, axis={site.params['axis']})",
              lambda site, i: f"{site.g} - exp({site.out}) * "
                              f"sum({site.g}, axis={site.params['axis']}, keepdims=True)"),
    vjp=(lambda g, out, x, axis: g - np.exp(out) * g.sum(axis=axis, keepdims=True),),
    jvp=(lambda t, out, x, axis: t - (np.exp(out) * t).sum(axis=axis, keepdims=True),))
