"""Plain NumPy on tensors: ``np.exp(t)``, ``np.sum(t, axis=0)``, ``t @ W`` all record gates.

NumPy hands calls on Tensors to ``Tensor.__array_ufunc__`` / ``__array_function__``, which
land here. Supported functions map to gates; a function with no gradient rule runs on the
raw values when nothing needs a gradient, and raises an error naming it when something
does, so a gradient is never dropped silently.
"""

import sys

import numpy as np

from . import backend
from . import functions as F
from . import linalg as LA
from .core.gate import call
from .errors import NotDifferentiableError, ShapeError
from .gates import all_gates
from .gates import elementwise as ew
from .gates.indexing import normalize_index, scatter_add
from .tensor import Tensor, _wrap, apply, as_tensor, install, write


def _pow(a, b):
    return F.power(a, b._value if isinstance(b, Tensor) and not b.requires_grad
                   and b.ndim == 0 and not b._tangents else b)


def _float_power(a, b):
    return _pow(F.as_float64(a), F.as_float64(b))  # NumPy computes it in float64


def _ufunc_rule(gate):
    return lambda *inputs: apply(gate, inputs)


# Every gate that implements a ufunc takes the ufunc's inputs as they are: derived from the
# gates' definitions; only the power functions choose between two gates.
_UFUNCS = {fn: _ufunc_rule(gate) for gate in all_gates() for fn in gate.numpy
           if isinstance(fn, np.ufunc)}
_UFUNCS.update({np.power: _pow, np.float_power: _float_power, np.positive: as_tensor})


def _function_rule(gate, fn):
    """A formula gate's NumPy function that is not a ufunc (np.copy): inputs only."""
    def rule(*inputs, **options):
        _no_extras(fn.__name__, **options)
        return apply(gate, inputs)
    return rule

# Ufuncs whose result is piecewise constant or boolean: no gradient flows, none is lost.
_CONSTANT_UFUNCS = {
    np.sign, np.floor, np.ceil, np.trunc, np.rint, np.isfinite, np.isnan, np.isinf,
    np.signbit, np.greater, np.greater_equal, np.less, np.less_equal, np.equal,
    np.not_equal, np.logical_and, np.logical_or, np.logical_not, np.logical_xor,
    np.floor_divide, np.bitwise_and, np.bitwise_or, np.invert,
}


# scipy.special's ufuncs dispatch here too. They are matched by name, and only when
# scipy.special is loaded and holds that very ufunc, so circuitgrad never imports scipy.

def _scipy_rule(ufunc):
    gate = ew.SCIPY_SPECIAL.get(ufunc.__name__)
    module = sys.modules.get("scipy.special")
    if gate is None or module is None or getattr(module, ufunc.__name__, None) is not ufunc:
        return None
    # kept apart from _UFUNCS, NumPy's own, which the docs' table lists (scipy's have a section)
    rule = _SCIPY_UFUNCS[ufunc] = _ufunc_rule(gate)
    return rule


_SCIPY_UFUNCS = {}


def _public_name(func):
    """How NumPy's documentation names ``func``: np.linalg.inv, not np.inv."""
    module = getattr(func, "__module__", None) or "numpy"
    if module == "numpy" or module.startswith("numpy."):
        module = "np" + module[len("numpy"):]
    return f"{module}.{func.__name__}"


# ufunc methods with a gradient: reduce and accumulate of the ufuncs that have one
_REDUCE = {np.add: F.sum, np.multiply: F.prod, np.maximum: F.max, np.minimum: F.min}
_ACCUMULATE = {np.add: F.cumsum, np.multiply: F.cumprod}


def _ufunc_method(ufunc, method, inputs, kwargs):
    """``np.add.reduce(t, axis=0)`` and friends, or None when there is no rule."""
    table = {"reduce": _REDUCE, "accumulate": _ACCUMULATE}.get(method)
    fn = table.get(ufunc) if table else None
    if fn is None or len(inputs) != 1:
        return None
    options = dict(kwargs)
    axis = options.pop("axis", 0)  # the methods' default is the first axis, not all
    keepdims = options.pop("keepdims", False)
    where = _unless_all(options.pop("where", True))
    _no_extras(f"{ufunc.__name__}.{method}", where=where, **options)
    if method == "accumulate":
        return fn(inputs[0], axis=axis)
    return fn(inputs[0], axis=axis, keepdims=keepdims)


def array_ufunc(ufunc, method, inputs, kwargs):
    if method == "at":
        return _ufunc_at(ufunc, inputs, kwargs)
    if kwargs.get("out") is not None:
        return _into_out(ufunc, method, inputs, kwargs)
    if method != "__call__":
        result = _ufunc_method(ufunc, method, inputs, kwargs)
        if result is not None:
            return result
        return _unsupported(f"{_public_name(ufunc)}.{method}", inputs, lambda: getattr(
            ufunc, method)(*_raw_all(inputs), **kwargs))
    rule = _UFUNCS.get(ufunc) or _SCIPY_UFUNCS.get(ufunc) or _scipy_rule(ufunc)
    if rule is not None and not kwargs:
        return rule(*inputs)
    if ufunc in _CONSTANT_UFUNCS:
        return _wrap(_scalarize(ufunc(*_raw_all(inputs), **kwargs)))
    return _unsupported(_public_name(ufunc), inputs,
                        lambda: ufunc(*_raw_all(inputs), **kwargs))


def _into_out(ufunc, method, inputs, kwargs):
    """``np.add(a, b, out=t)``, and ``dW += x`` (NumPy's in-place operators pass ``out=``).

    Into a tensor: the result is written into it (``t[...] = result``, recorded). Into a
    NumPy array: written when no input needs a gradient; refused otherwise, since the
    array would hold the numbers without their gradient.
    """
    kwargs = dict(kwargs)
    out = kwargs.pop("out")
    targets = out if isinstance(out, tuple) else (out,)
    name = f"{_public_name(ufunc)}(..., out=...)"
    if len(targets) != 1:
        raise NotDifferentiableError(f"{name} with {len(targets)} outputs is not supported")
    target = targets[0]
    result = array_ufunc(ufunc, method, inputs, kwargs)
    if isinstance(target, Tensor):
        if np.shape(result) != target.shape:
            raise ShapeError(f"{name}: the result has shape {np.shape(result)}, the out= "
                             f"tensor has shape {target.shape}")
        write(target, (Ellipsis,), result, name)
        return target
    if _needs_gradient([result]):
        raise NotDifferentiableError(
            f"{name} would store values that carry a gradient into a NumPy array, which "
            f"holds numbers only (dW += x into an array made with np.zeros does this). Make "
            f"the array a tensor, np.zeros_like(x) from a tensor x, or write dW = dW + x")
    target[...] = result._value if isinstance(result, Tensor) else result
    return target


def _ufunc_at(ufunc, inputs, kwargs):
    """``np.add.at(t, index, v)``: every value added, repeated indices included. On a tensor
    it is the write ``t[...] = t + scatter_add(v)`` (``np.subtract.at`` likewise)."""
    name = f"{_public_name(ufunc)}.at"
    target, index, *rest = inputs
    if kwargs or len(rest) != 1 or ufunc not in (np.add, np.subtract):
        return _unsupported(name, inputs, lambda: ufunc.at(*_raw_all(inputs), **kwargs))
    value = rest[0]
    if not isinstance(target, Tensor):
        return _unsupported(name + " into a NumPy array", [value],
                            lambda: ufunc.at(target, _raw_deep(index), _raw_deep(value)))
    index = normalize_index(index)
    spots = target._value[index]  # NumPy's own checks of the index, and the values' shape
    spread = F.broadcast_to(value, np.shape(spots))
    added = call(scatter_add, spread, index=index, shape=target.shape)
    write(target, (Ellipsis,), ufunc(target, added), name)


def _scalarize(value):
    return value[()] if backend.is_array(value) and value.ndim == 0 else value


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
    def fn(a, axis=None, dtype=None, out=None, keepdims=False, initial=None, where=True):
        _no_extras(method, dtype=dtype, out=out, initial=initial, where=_unless_all(where))
        return getattr(as_tensor(a), method)(axis=axis, keepdims=keepdims)
    return fn


def _max_like(method):
    def fn(a, axis=None, out=None, keepdims=False, initial=None, where=True):
        _no_extras(method, out=out, initial=initial, where=_unless_all(where))
        return getattr(as_tensor(a), method)(axis=axis, keepdims=keepdims)
    return fn


def _unless_all(where):
    """None for NumPy's default where=True (every entry takes part), else ``where``."""
    return None if isinstance(where, (bool, np.bool_)) and where else where


def _no_extras(name, **options):
    """Refuse options that would change the result; None (and NumPy's _NoValue) mean unset."""
    given = {k: v for k, v in options.items() if v is not None and v is not np._NoValue}
    if given:
        raise NotDifferentiableError(
            f"np.{name} with {', '.join(f'{k}=' for k in given)} is not supported on tensors")


def _var_like(fn_name):
    def fn(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, where=True,
           correction=np._NoValue, **unused):
        _no_extras(fn_name, dtype=dtype, out=out, where=_unless_all(where), **unused)
        if correction is not np._NoValue:  # NumPy 2's other name for ddof
            ddof = correction
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
    _no_extras("clip", out=out, **unused)
    # Bounds go to F.clip as given: a Tensor bound gets its gradient there.
    return F.clip(a, None if lo is np._NoValue else lo, None if hi is np._NoValue else hi)


def _concatenate(arrays, axis=0, out=None, *, dtype=None, casting="same_kind"):
    _no_extras("concatenate", out=out, dtype=dtype, casting=_unless(casting, "same_kind"))
    return F.concatenate(arrays, axis=axis)


def _stack(arrays, axis=0, out=None, *, dtype=None, casting="same_kind"):
    _no_extras("stack", out=out, dtype=dtype, casting=_unless(casting, "same_kind"))
    return F.stack(arrays, axis=axis)


def _unless(value, default):
    return None if isinstance(value, str) and value == default else value


def _reshape(a, shape=None, order="C", *, newshape=None, copy=None):
    # copy= only says whether memory may be shared, which cannot be seen: tensors are immutable.
    return F.reshape(a, shape if shape is not None else newshape, order=order)


def _einsum(*operands, out=None, dtype=None, casting="safe", optimize=False, order="K"):
    # optimize picks the contraction order and order the result's memory layout: neither
    # changes the values.
    _no_extras("einsum", out=out, dtype=dtype, casting=_unless(casting, "safe"))
    if not operands or not isinstance(operands[0], str):
        raise NotDifferentiableError(
            "np.einsum on tensors takes a subscripts string first, e.g. "
            "np.einsum('ij,jk->ik', a, b); the operand, sublist form is not supported")
    return F.einsum(*operands)


def _without_out(name, fn):
    def wrapper(a, b, out=None):
        _no_extras(name, out=out)
        return fn(a, b)
    return wrapper


def _norm(x, ord=None, axis=None, keepdims=False):
    return F.norm(x, ord=ord, axis=axis, keepdims=keepdims)


def _full_like(a, fill_value, *args, **kwargs):
    # The result depends on fill_value: constant only when fill_value needs no gradient.
    return _unsupported("np.full_like", [fill_value], lambda: _constant_tensor(
        backend.full_like(_raw_deep(a), _raw_deep(fill_value), *_raw_all(args),
                          **{k: _raw_deep(v) for k, v in kwargs.items()})))


def _made_like(make):
    """``np.zeros_like(t)`` and friends give a constant tensor, not an array, so that NumPy
    code filling it (``out = np.zeros_like(x); out[i] = ...``) writes into a tensor, and
    the write is recorded."""
    def like(a, *args, **kwargs):
        return _constant_tensor(make(_raw_deep(a), *_raw_all(args),
                                     **{k: _raw_deep(v) for k, v in kwargs.items()}))
    return like


def _constant_tensor(value):
    return _wrap(_scalarize(value))


# ----- NumPy's array functions that are composites (functions.py) ---------------------------
def _reduction(name, fn):
    def wrapper(a, axis=None, dtype=None, out=None, keepdims=False, initial=None, where=True):
        _no_extras(name, dtype=dtype, out=out, initial=initial, where=_unless_all(where))
        return fn(a, axis=axis, keepdims=keepdims)
    return wrapper


def _scan(name, fn):
    def wrapper(a, axis=None, dtype=None, out=None):
        _no_extras(name, dtype=dtype, out=out)
        return fn(a, axis=axis)
    return wrapper


def _nan_reduction(name, fn):
    def wrapper(a, axis=None, dtype=None, out=None, keepdims=np._NoValue, initial=np._NoValue,
                where=np._NoValue):
        _no_extras(name, dtype=dtype, out=out, initial=initial,
                   where=None if where is np._NoValue else _unless_all(where))
        return fn(a, axis=axis, keepdims=False if keepdims is np._NoValue else keepdims)
    return wrapper


def _sort(a, axis=-1, kind=None, order=None, *, stable=None):
    # kind and stable pick an algorithm; the sorted values are the same
    _no_extras("sort", order=order)
    return F.sort(a, axis=axis)


def _median(a, axis=None, out=None, overwrite_input=False, keepdims=False):
    # overwrite_input only allows NumPy to reorder the input in place: tensors are immutable
    _no_extras("median", out=out)
    return F.median(a, axis=axis, keepdims=keepdims)


def _trace(a, offset=0, axis1=0, axis2=1, dtype=None, out=None):
    _no_extras("trace", dtype=dtype, out=out)
    return F.trace(a, offset, axis1, axis2)


def _joining(name, fn):
    def wrapper(tup, *, dtype=None, casting="same_kind"):
        _no_extras(name, dtype=dtype, casting=_unless(casting, "same_kind"))
        return fn(tup)
    return wrapper


def _take(a, indices, axis=None, out=None, mode="raise"):
    _no_extras("take", out=out)
    return F.take(a, indices, axis=axis, mode=mode)


def _choose(a, choices, out=None, mode="raise"):
    _no_extras("choose", out=out)
    return F.choose(a, choices, mode=mode)


def _average(a, axis=None, weights=None, returned=False, *, keepdims=np._NoValue):
    return F.average(a, axis=axis, weights=weights, returned=returned,
                     keepdims=False if keepdims is np._NoValue else keepdims)


def _diff(a, n=1, axis=-1, prepend=np._NoValue, append=np._NoValue):
    return F.diff(a, n=n, axis=axis, prepend=None if prepend is np._NoValue else prepend,
                  append=None if append is np._NoValue else append)


def _pad(array, pad_width, mode="constant", **kwargs):
    if not isinstance(mode, str) or mode not in F._PAD_MODES:
        # other modes compute the padding from the values (mean, maximum, ramps...)
        return _unsupported(f"np.pad with mode={mode!r}", [array] + list(kwargs.values()),
                            lambda: np.pad(_raw_deep(array), pad_width, mode=mode,
                                           **{k: _raw_deep(v) for k, v in kwargs.items()}))
    allowed = {"constant": ("constant_values",), "reflect": ("reflect_type",),
               "symmetric": ("reflect_type",)}.get(mode, ())
    _no_extras(f"pad(mode={mode!r})", **{k: v for k, v in kwargs.items() if k not in allowed})
    return F.pad(array, pad_width, mode=mode, **kwargs)


def _copy(a, order="K", subok=False):
    return F.copy(a)  # order is the memory layout, subok a subclass: neither changes values


_FUNCTIONS = {
    np.sum: _sum_like("sum"),
    np.mean: _sum_like("mean"),
    np.max: _max_like("max"),
    np.amax: _max_like("max"),
    np.min: _max_like("min"),
    np.amin: _max_like("min"),
    np.var: _var_like("var"),
    np.std: _var_like("std"),
    np.reshape: _reshape,
    np.transpose: lambda a, axes=None: F.transpose(a, axes),
    np.swapaxes: lambda a, axis1, axis2: F.swapaxes(a, axis1, axis2),
    np.expand_dims: lambda a, axis: F.expand_dims(a, axis),
    np.squeeze: lambda a, axis=None: F.squeeze(a, axis),
    np.ravel: lambda a, order="C": F.ravel(a, order=order),
    np.concatenate: _concatenate,
    np.stack: _stack,
    np.where: _where,
    np.clip: _clip,
    np.einsum: _einsum,
    np.outer: _without_out("outer", F.outer),
    np.dot: _without_out("dot", F.dot),
    np.linalg.norm: _norm,
    **{getattr(np.linalg, name): getattr(LA, name) for name in (
        "inv", "solve", "det", "slogdet", "cholesky", "eigh", "eigvalsh", "svd", "qr", "pinv",
        "lstsq", "matrix_power", "multi_dot")},
    # subok only asks for an ndarray subclass back; the result is a Tensor either way.
    np.broadcast_to: lambda array, shape, subok=False: F.broadcast_to(array, shape),
    np.prod: _reduction("prod", F.prod),
    np.cumsum: _scan("cumsum", F.cumsum),
    np.cumprod: _scan("cumprod", F.cumprod),
    np.nansum: _nan_reduction("nansum", F.nansum),
    np.nanmean: _nan_reduction("nanmean", F.nanmean),
    np.sort: _sort,
    np.median: _median,
    np.tril: lambda m, k=0: F.tril(m, k),
    np.triu: lambda m, k=0: F.triu(m, k),
    np.diag: lambda v, k=0: F.diag(v, k),
    np.diagonal: lambda a, offset=0, axis1=0, axis2=1: F.diagonal(a, offset, axis1, axis2),
    np.trace: _trace,
    np.tile: lambda A, reps: F.tile(A, reps),
    np.repeat: lambda a, repeats, axis=None: F.repeat(a, repeats, axis=axis),
    np.moveaxis: lambda a, source, destination: F.moveaxis(a, source, destination),
    np.split: lambda ary, indices_or_sections, axis=0: F.split(ary, indices_or_sections, axis),
    np.array_split: lambda ary, indices_or_sections, axis=0:
        F.array_split(ary, indices_or_sections, axis),
    np.hsplit: lambda ary, indices_or_sections: F.hsplit(ary, indices_or_sections),
    np.vsplit: lambda ary, indices_or_sections: F.vsplit(ary, indices_or_sections),
    np.dsplit: lambda ary, indices_or_sections: F.dsplit(ary, indices_or_sections),
    np.vstack: _joining("vstack", F.vstack),
    np.hstack: _joining("hstack", F.hstack),
    np.dstack: lambda tup: F.dstack(tup),
    np.column_stack: lambda tup: F.column_stack(tup),
    np.atleast_1d: F.atleast_1d,
    np.atleast_2d: F.atleast_2d,
    np.atleast_3d: F.atleast_3d,
    np.tensordot: lambda a, b, axes=2: F.tensordot(a, b, axes),
    np.inner: lambda a, b: F.inner(a, b),
    np.kron: lambda a, b: F.kron(a, b),
    np.flip: lambda m, axis=None: F.flip(m, axis),
    np.fliplr: lambda m: F.fliplr(m),
    np.flipud: lambda m: F.flipud(m),
    np.roll: lambda a, shift, axis=None: F.roll(a, shift, axis),
    np.diff: _diff,
    np.take: _take,
    np.take_along_axis: lambda arr, indices, axis=-1: F.take_along_axis(arr, indices, axis),
    np.choose: _choose,
    np.average: _average,
    np.pad: _pad,
    np.copy: _copy,
}
# Fresh arrays shaped like a tensor: constant tensors, so NumPy code can write into them.
MADE_LIKE = {
    np.full_like: _full_like,
    np.zeros_like: _made_like(backend.zeros_like),
    np.ones_like: _made_like(backend.ones_like),
    np.empty_like: _made_like(backend.empty_like),
}
_FUNCTIONS.update(MADE_LIKE)
if hasattr(np, "row_stack"):  # vstack's old name, gone in NumPy 2.x
    _FUNCTIONS[np.row_stack] = _joining("row_stack", F.vstack)

for _gate in all_gates():  # formula gates' non-ufunc NumPy functions, unless written above
    for _fn in _gate.numpy if _gate.local else ():
        if not isinstance(_fn, np.ufunc):
            _FUNCTIONS.setdefault(_fn, _function_rule(_gate, _fn))

# Functions whose result carries no gradient: indices, counts, booleans, shapes, values
# rounded (piecewise constant), or fresh arrays shaped like the input. They run on the raw
# values and give NumPy's own result; no gradient flows through them, so none is lost.
_CONSTANT_FUNCTIONS = {getattr(np, name) for name in (
    "argmax", "argmin", "argsort", "argpartition", "argwhere", "nonzero", "flatnonzero",
    "nanargmax", "nanargmin", "lexsort", "searchsorted", "digitize", "count_nonzero",
    "isclose", "allclose", "array_equal", "array_equiv", "isin", "isposinf", "isneginf",
    "isreal", "iscomplex", "isrealobj", "iscomplexobj", "any", "all", "round", "around",
    "fix", "shape", "ndim", "size", "result_type",
    "tril_indices_from", "triu_indices_from", "diag_indices_from", "may_share_memory",
    "shares_memory") if hasattr(np, name)}


def array_function(func, args, kwargs):
    impl = _FUNCTIONS.get(func)
    if impl is not None:
        return impl(*args, **kwargs)

    def run():
        return func(*_raw_all(args), **{k: _raw_deep(v) for k, v in kwargs.items()})
    if func in _CONSTANT_FUNCTIONS:
        return run()
    return _unsupported(_public_name(func), list(args) + list(kwargs.values()), run)


install(array_ufunc=array_ufunc, array_function=array_function)  # Tensor's dispatch hooks
