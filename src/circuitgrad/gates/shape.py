"""Shape gates: reshape, transpose, broadcast_to, concatenate, stack.

They move values around without changing them, so each VJP moves the gradient back:
reshape reshapes it back, transpose applies the inverse permutation, broadcast_to sums over
the broadcast axes, concatenate slices, stack indexes. swapaxes, squeeze and expand_dims
are built from these.
"""

import numbers

import numpy as np

from ..core.backward import unbroadcast
from ..core.gate import Gate, each
from ..errors import ShapeError
from .reduce import normalize_axes

reshape = Gate("reshape", lambda x, shape: np.reshape(x, shape), symbol="reshape",
               saves=(), saves_out=False,
               vjp=(lambda g, out, x, shape: g.reshape(x.shape),),
               jvp=(lambda t, out, x, shape: t.reshape(shape),))

transpose = Gate("transpose", lambda x, axes: np.transpose(x, axes), symbol="T",
                 saves=(), saves_out=False,
                 vjp=(lambda g, out, x, axes: g.transpose(tuple(np.argsort(axes))),),
                 jvp=(lambda t, out, x, axes: t.transpose(axes),))

broadcast_to_gate = Gate(
    "broadcast_to", lambda x, shape: np.broadcast_to(x, shape), symbol="broadcast",
    saves=(), saves_out=False,
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
    return [t if t is not None else np.zeros(np.shape(x), dtype=out_dtype(xs))
            for t, x in zip(tangents, xs, strict=True)]


def out_dtype(xs):
    return np.result_type(*[x.dtype for x in xs])


concatenate = Gate(
    "concatenate", lambda *xs, axis: np.concatenate(xs, axis=axis), symbol="concat",
    saves=(), saves_out=False,
    vjp=each(_concat_vjp, together=_concat_vjp_all),
    jvp=lambda tangents, out, *xs, axis: np.concatenate(_zeros_for(tangents, xs), axis=axis))

stack = Gate(
    "stack", lambda *xs, axis: np.stack(xs, axis=axis), symbol="stack",
    saves=(), saves_out=False,
    vjp=each(_stack_vjp, together=_stack_vjp_all),
    jvp=lambda tangents, out, *xs, axis: np.stack(_zeros_for(tangents, xs), axis=axis))


# ----- helpers the Tensor methods and cg functions call ------------------------------------
def _apply(gate, inputs, params):
    from ..tensor import apply  # late: tensor.py imports this module
    return apply(gate, inputs, params)


def reshape_tensor(t, shape):
    shape = (shape,) if isinstance(shape, numbers.Integral) else tuple(int(n) for n in shape)
    try:
        new_shape = np.empty(t.shape, dtype=np.bool_).reshape(shape).shape  # resolves -1
    except ValueError:
        raise ShapeError(f"cannot reshape a tensor of shape {t.shape} (size {t.size}) "
                         f"into shape {shape}") from None
    if new_shape == t.shape:
        return t
    return _apply(reshape, (t,), {"shape": new_shape})


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
    return _apply(transpose, (t,), {"axes": axes})


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
    shape = np.expand_dims(np.empty(t.shape, dtype=np.bool_), axes).shape
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
    return _apply(broadcast_to_gate, (t,), {"shape": shape})


# ----- sample inputs for the gradient sweep (see gates/sweep.py) ---------------------------
def _sweep():
    from .. import functions as F
    from .sweep import Case, normal

    def at_least_1d(rng, a, b):
        return [normal(rng, a)] if a else None

    def twins(rng, a, b):
        return [normal(rng, a), normal(rng, a)] if a else None

    return [
        Case(reshape, lambda x: x.reshape(-1) * 1.5, lambda rng, a, b: [normal(rng, a)]),
        Case(transpose, lambda x: x.T * 1.5,
             lambda rng, a, b: [normal(rng, a)] if len(a) > 1 else None),
        Case(broadcast_to_gate, lambda x: F.broadcast_to(x, (3,) + x.shape),
             lambda rng, a, b: [normal(rng, a)]),
        Case(concatenate, lambda x, y: F.concatenate([x, y * 2, x], axis=-1), twins),
        Case(stack, lambda x, y: F.stack([x, y * 2], axis=1), twins),
    ]
