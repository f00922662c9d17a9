"""Plain NumPy on tensors: ``np.exp(t)``, ``np.sum(t, axis=0)``, ``t @ W`` all record gates.

NumPy hands calls on Tensors to ``Tensor.__array_ufunc__`` / ``__array_function__``, which
land here. Supported functions map to gates; a function with no gradient rule runs on the
raw values when nothing needs a gradient, and raises an error naming it when something
does, so a gradient is never dropped silently.
"""

import numpy as np

from . import functions as F
from .errors import NotDifferentiableError
from .gates import elementwise as ew
from .gates import linalg as la
from .tensor import Tensor, _wrap, apply, as_tensor


def _pow(a, b):
    return F.power(a, b._value if isinstance(b, Tensor) and not b.requires_grad
                   and b.ndim == 0 and not b._tangents else b)


_UFUNCS = {
    np.add: lambda a, b: apply(ew.add, (a, b)),
    np.subtract: lambda a, b: apply(ew.sub, (a, b)),
    np.multiply: lambda a, b: apply(ew.mul, (a, b)),
    np.divide: lambda a, b: apply(ew.div, (a, b)),
    np.remainder: lambda a, b: apply(ew.remainder, (a, b)),  # also np.mod
    np.power: _pow,
    np.float_power: _pow,
    np.matmul: lambda a, b: apply(la.matmul, (a, b)),
    np.negative: F.negative,
    np.positive: as_tensor,
    np.square: F.square,
    np.exp: F.exp,
    np.log: F.log,
    np.log1p: F.log1p,
    np.expm1: F.expm1,
    np.sqrt: F.sqrt,
    np.absolute: F.abs,
    np.maximum: lambda a, b: apply(ew.maximum, (a, b)),
    np.minimum: lambda a, b: apply(ew.minimum, (a, b)),
    np.tanh: F.tanh,
    np.sin: F.sin,
    np.cos: F.cos,
}

# Ufuncs whose result is piecewise constant or boolean: no gradient flows, none is lost.
_CONSTANT_UFUNCS = {
    np.sign, np.floor, np.ceil, np.trunc, np.rint, np.isfinite, np.isnan, np.isinf,
    np.signbit, np.greater, np.greater_equal, np.less, np.less_equal, np.equal,
    np.not_equal, np.logical_and, np.logical_or, np.logical_not, np.logical_xor,
    np.floor_divide, np.bitwise_and, np.bitwise_or, np.invert,
}


def array_ufunc(ufunc, method, inputs, kwargs):
    if method != "__call__":
        return _unsupported(f"np.{ufunc.__name__}.{method}", inputs, lambda: getattr(
            ufunc, method)(*_raw_all(inputs), **kwargs))
    if kwargs.get("out") is not None:
        raise NotDifferentiableError(
            f"np.{ufunc.__name__}(..., out=...) would write into an array in place; "
            f"tensors are immutable, assign the result instead")
    rule = _UFUNCS.get(ufunc)
    if rule is not None and not kwargs:
        return rule(*inputs)
    if ufunc in _CONSTANT_UFUNCS:
        return _wrap(_scalarize(ufunc(*_raw_all(inputs), **kwargs)))
    return _unsupported(f"np.{ufunc.__name__}", inputs,
                        lambda: ufunc(*_raw_all(inputs), **kwargs))


def _scalarize(value):
    return value[()] if isinstance(value, np.ndarray) and value.ndim == 0 else value


def _raw_all(items):
    return [_raw_deep(x) for x in items]


def _raw_deep(x):
    if isinstance(x, Tensor):
        return x._value
    if isinstance(x, (list, tuple)):
        return type(x)(_raw_deep(v) for v in x)
    return x


def _needs_gradient(items):
    for x in items:
        if isinstance(x, Tensor):
            if x.requires_grad or x._tangents:
                return True
        elif isinstance(x, (list, tuple)) and _needs_gradient(x):
            return True
        elif isinstance(x, dict) and _needs_gradient(list(x.values())):
            return True
    return False


def _unsupported(name, args, run):
    if _needs_gradient(args):
        raise NotDifferentiableError(
            f"{name} has no gradient rule in circuitgrad, and one of its arguments needs a "
            f"gradient; write it with supported functions, or define a custom gate "
            f"(cg.Function)")
    return run()


def _sum_like(method):
    def fn(a, axis=None, dtype=None, out=None, keepdims=False, **unused):
        _no_extras(method, dtype=dtype, out=out, **unused)
        return getattr(as_tensor(a), method)(axis=axis, keepdims=keepdims)
    return fn


def _no_extras(name, **options):
    given = {k: v for k, v in options.items() if v is not None and v is not np._NoValue}
    if given:
        raise NotDifferentiableError(
            f"np.{name} with {', '.join(given)}= is not supported on tensors")


def _var_like(fn_name):
    def fn(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, **unused):
        _no_extras(fn_name, dtype=dtype, out=out, **unused)
        return getattr(F, fn_name)(a, axis=axis, keepdims=keepdims, ddof=ddof)
    return fn


def _where(condition, x=None, y=None):
    if x is None and y is None:
        return np.where(_raw_deep(condition))
    return F.where(condition, x, y)


def _clip(a, a_min=np._NoValue, a_max=np._NoValue, out=None, *, min=np._NoValue,
          max=np._NoValue, **unused):
    lo = a_min if a_min is not np._NoValue else min
    hi = a_max if a_max is not np._NoValue else max
    lo = None if lo is np._NoValue else _raw_deep(lo)
    hi = None if hi is np._NoValue else _raw_deep(hi)
    _no_extras("clip", out=out, **unused)
    return F.clip(a, lo, hi)


def _concatenate(arrays, axis=0, out=None, **unused):
    _no_extras("concatenate", out=out, **unused)
    return F.concatenate(arrays, axis=axis)


def _stack(arrays, axis=0, out=None, **unused):
    _no_extras("stack", out=out, **unused)
    return F.stack(arrays, axis=axis)


def _norm(x, ord=None, axis=None, keepdims=False):
    return F.norm(x, ord=ord, axis=axis, keepdims=keepdims)


_FUNCTIONS = {
    np.sum: _sum_like("sum"),
    np.mean: _sum_like("mean"),
    np.max: _sum_like("max"),
    np.amax: _sum_like("max"),
    np.min: _sum_like("min"),
    np.amin: _sum_like("min"),
    np.var: _var_like("var"),
    np.std: _var_like("std"),
    np.reshape: lambda a, shape=None, **kw: as_tensor(a).reshape(
        shape if shape is not None else kw.pop("newshape")),
    np.transpose: lambda a, axes=None: F.transpose(a, axes),
    np.swapaxes: F.swapaxes,
    np.expand_dims: F.expand_dims,
    np.squeeze: lambda a, axis=None: F.squeeze(a, axis),
    np.ravel: lambda a, order="C": as_tensor(a).flatten(),
    np.concatenate: _concatenate,
    np.stack: _stack,
    np.where: _where,
    np.clip: _clip,
    np.einsum: lambda subscripts, *operands, **kw: F.einsum(subscripts, *operands),
    np.outer: lambda a, b, out=None: F.outer(a, b),
    np.dot: lambda a, b, out=None: F.dot(a, b),
    np.linalg.norm: _norm,
    np.broadcast_to: lambda array, shape, subok=False: F.broadcast_to(array, shape),
    np.shape: lambda a: np.shape(_raw_deep(a)),
    np.ndim: lambda a: np.ndim(_raw_deep(a)),
    np.size: lambda a, axis=None: np.size(_raw_deep(a), axis),
}


def array_function(func, args, kwargs):
    impl = _FUNCTIONS.get(func)
    if impl is not None:
        return impl(*args, **kwargs)
    return _unsupported(f"np.{func.__name__}", list(args) + list(kwargs.values()),
                        lambda: func(*_raw_all(args), **{k: _raw_deep(v)
                                                         for k, v in kwargs.items()}))
