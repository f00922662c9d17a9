"""Shape gates: reshape, transpose, broadcast_to, concatenate, stack.

They move values around without changing them, so each VJP moves the gradient back:
reshape reshapes it back, transpose applies the inverse permutation, broadcast_to sums over
the broadcast axes, concatenate slices, stack indexes. swapaxes, squeeze and expand_dims
are built from these.
"""

import numbers

import numpy as np

from .. import backend
from ..core.backward import unbroadcast
from ..core.gate import Gate, each, run
from ..errors import ShapeError
from .listing import Text, index_text, tuple_text, unbroadcast_text
from .reduce import normalize_axes


def _is_reversal(axes, ndim):
    return axes is None or list(axes) == list(range(ndim))[::-1]


def _transpose_forward(site):
    axes = site.params.get("axes")
    if _is_reversal(axes, np.ndim(site.out_value)):
        return f"{site.arg(0)}.T"
    return f"transpose({site.arg(0)}, {tuple(axes)})"


def _transpose_text(site, i):
    axes = site.params.get("axes")
    if _is_reversal(axes, np.ndim(site.out_value)):
        return f"{site.g}.T"
    return f"transpose({site.g}, {tuple(int(k) for k in np.argsort(axes))})"  # the inverse


def _concat_text(site, i):
    axis = site.params["axis"]
    sizes = [np.shape(site.value(k))[axis] for k in range(site.count)]
    start, stop = sum(sizes[:i]), sum(sizes[:i + 1])
    piece = slice(start or None, stop if stop < sum(sizes) else None)
    return f"{site.g}[{index_text((slice(None),) * axis + (piece,))}]"


def _joined(site):
    args = [site.arg(k) for k in range(site.count)]
    return f"{site.gate_name}({tuple_text(args)}, axis={site.params['axis']})"



reshape = Gate("reshape", lambda x, shape: np.reshape(x, shape), symbol="reshape",
               saves=(), saves_out=False, views=True, numpy=np.reshape, api="reshape",
               text=Text(lambda site: f"reshape({site.arg(0)}, {tuple(site.params['shape'])})",
                         lambda site, i: f"reshape({site.g}, {site.arg(0)}.shape)"),
               vjp=(lambda g, out, x, shape: g.reshape(x.shape),),
               jvp=(lambda t, out, x, shape: t.reshape(shape),))

transpose = Gate("transpose", lambda x, axes: np.transpose(x, axes), symbol="T",
                 saves=(), saves_out=False, views=True, numpy=np.transpose, api="transpose",
                 text=Text(_transpose_forward, _transpose_text),
                 vjp=(lambda g, out, x, axes: g.transpose(tuple(np.argsort(axes))),),
                 jvp=(lambda t, out, x, axes: t.transpose(axes),))

broadcast_to_gate = Gate(
    "broadcast_to", lambda x, shape: np.broadcast_to(x, shape), symbol="broadcast",
    saves=(), saves_out=False, views=True, numpy=np.broadcast_to, api="broadcast_to",
    text=Text(lambda site: f"broadcast_to({site.arg(0)}, {tuple(site.params['shape'])})",
              lambda site, i: unbroadcast_text(site.g, site.arg(0), np.shape(site.value(0)),
                                               np.shape(site.out_value))),
    vjp=(lambda g, out, x, shape: unbroadcast(g, x.shape),),
    jvp=(lambda t, out, x, shape: np.broadcast_to(t, shape),))


def _bounds(xs, axis):
    stops = np.cumsum([x.shape[axis] for x in xs])
    return [int(s) for s in stops]


def _slice_along(g, axis, start, stop):
    return g[(slice(None),) * axis + (slice(start, stop),)]


def _concat_vjp(i, g, out, *xs, axis):
    stops = _bounds(xs, axis)
    return _slice_along(g, axis, stops[i - 1] if i else 0, stops[i])


def _concat_vjp_all(edges, g, out, *xs, axis):
    stops = _bounds(xs, axis)  # once for all the inputs: n tensors cost O(n)
    return [_slice_along(g, axis, stops[i - 1] if i else 0, stops[i]) for i in edges]


def _stack_vjp(i, g, out, *xs, axis):
    return g[(slice(None),) * axis + (i,)]


def _stack_vjp_all(edges, g, out, *xs, axis):
    return [g[(slice(None),) * axis + (i,)] for i in edges]


def _zeros_for(tangents, xs):
    return [t if t is not None else backend.zeros(np.shape(x), dtype=out_dtype(xs))
            for t, x in zip(tangents, xs, strict=True)]


def out_dtype(xs):
    return np.result_type(*[x.dtype for x in xs])


concatenate = Gate(
    "concatenate", lambda *xs, axis: np.concatenate(xs, axis=axis), symbol="concat",
    saves=(), saves_out=False, numpy=np.concatenate, api="concatenate",
    text=Text(_joined, _concat_text),
    vjp=each(_concat_vjp, together=_concat_vjp_all),
    jvp=lambda tangents, out, *xs, axis: np.concatenate(_zeros_for(tangents, xs), axis=axis))

stack = Gate(
    "stack", lambda *xs, axis: np.stack(xs, axis=axis), symbol="stack",
    saves=(), saves_out=False, numpy=np.stack, api="stack",
    text=Text(_joined, lambda site, i:
              f"{site.g}[{index_text((slice(None),) * site.params['axis'] + (i,))}]"),
    vjp=each(_stack_vjp, together=_stack_vjp_all),
    jvp=lambda tangents, out, *xs, axis: np.stack(_zeros_for(tangents, xs), axis=axis))


# ----- helpers the Tensor methods and cg functions call ------------------------------------
def reshape_tensor(t, shape):
    shape = (shape,) if isinstance(shape, numbers.Integral) else tuple(int(n) for n in shape)
    try:
        new_shape = backend.empty(t.shape, dtype=np.bool_).reshape(shape).shape  # resolves -1
    except ValueError:
        raise ShapeError(f"cannot reshape a tensor of shape {t.shape} (size {t.size}) "
                         f"into shape {shape}") from None
    if new_shape == t.shape:
        return t
    return run(reshape, (t,), {"shape": new_shape})


def transpose_tensor(t, axes):
    if axes is None:
        axes = tuple(range(t.ndim - 1, -1, -1))
    axes = tuple(int(a) for a in axes)
    if any(not -t.ndim <= a < t.ndim for a in axes):
        raise ShapeError(f"transpose axes {axes} are out of range for a tensor of shape "
                         f"{t.shape}")
    axes = tuple(a % t.ndim for a in axes)
    if sorted(axes) != list(range(t.ndim)):
        raise ShapeError(f"transpose axes {axes} are not a permutation of the "
                         f"{t.ndim} axes of a tensor of shape {t.shape}")
    if axes == tuple(range(t.ndim)):
        return t
    return run(transpose, (t,), {"axes": axes})


def swapaxes(t, a, b):
    a, b = normalize_axes(a, t.ndim)[0], normalize_axes(b, t.ndim)[0]
    axes = list(range(t.ndim))
    axes[a], axes[b] = axes[b], axes[a]
    return transpose_tensor(t, axes)


def squeeze(t, axis=None):
    axes = normalize_axes(axis, t.ndim)
    if axes is None:
        axes = tuple(k for k, n in enumerate(t.shape) if n == 1)
    for a in axes:
        if t.shape[a] != 1:
            raise ShapeError(f"cannot squeeze axis {a} of shape {t.shape}: its size is not 1")
    return reshape_tensor(t, tuple(n for k, n in enumerate(t.shape) if k not in axes))


def expand_dims(t, axis):
    axes = (axis,) if isinstance(axis, numbers.Integral) else tuple(axis)
    shape = np.expand_dims(backend.empty(t.shape, dtype=np.bool_), axes).shape
    return reshape_tensor(t, shape)


def broadcast_to(t, shape):
    shape = (shape,) if isinstance(shape, numbers.Integral) else tuple(int(n) for n in shape)
    try:
        np.broadcast_shapes(t.shape, shape)
        if len(shape) < t.ndim or np.broadcast_shapes(t.shape, shape) != shape:
            raise ValueError
    except ValueError:
        raise ShapeError(f"cannot broadcast a tensor of shape {t.shape} to shape {shape}") \
            from None
    if shape == t.shape:
        return t
    return run(broadcast_to_gate, (t,), {"shape": shape})
