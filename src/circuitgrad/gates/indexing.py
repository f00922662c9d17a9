"""Indexing: getitem (basic and integer-array indexing) and its adjoint, scatter_add.

The gradient of ``x[index]`` is a zero array of ``x``'s shape with ``g`` added at
``index``; with integer arrays an index may repeat, and repeated entries add up. The two
gates are each other's VJP, so indexing stays differentiable to any order.
"""

import numbers

import numpy as np

from .. import backend
from ..core.gate import Gate, call
from ..core.node import Wire
from ..errors import ShapeError
from .listing import Text, index_text


def normalize_index(index):
    """Turn tensors and lists inside an index into arrays; validate what is there."""
    items = index if isinstance(index, tuple) else (index,)
    out = []
    for item in items:
        if isinstance(item, Wire):
            item = np.asarray(item._value)
        elif isinstance(item, (list, range, bool, np.bool_)):
            item = np.asarray(item)  # a boolean is a 0-d mask, as NumPy reads it
        if isinstance(item, backend.ndarray):
            if item.dtype.kind == "f":
                raise ShapeError(f"indices must be integers or booleans, not {item.dtype}")
        elif not (item is None or item is Ellipsis or isinstance(item, slice)
                  or isinstance(item, numbers.Integral)):
            raise ShapeError(f"unsupported index {item!r}: use ints, slices, None, ..., "
                             f"or integer/boolean arrays")
        out.append(item)
    return tuple(out)


def is_basic(index):
    """True when no entry is an array: the result is a view and entries never repeat."""
    return not any(isinstance(item, backend.ndarray) for item in index)


def _scatter_add_forward(g, index, shape):
    z = backend.zeros(shape, dtype=g.dtype)
    if is_basic(index):
        z[index] = g
    else:
        backend.add_at(z, index, g)
    return z


scatter_add = Gate("scatter_add", _scatter_add_forward, symbol="scatter",
                   saves=(), saves_out=False,
                   text=Text(lambda site: f"scatter_add({site.arg(0)}, "
                                          f"index=s_[{index_text(site.params['index'])}], "
                                          f"shape={tuple(site.params['shape'])})",
                             lambda site, i: f"{site.g}[{index_text(site.params['index'])}]"),
                   vjp=(lambda g, out, v, index, shape: g[index],),
                   jvp=(lambda t, out, v, index, shape: _scatter(t, index, shape),))


def _scatter(g, index, shape):
    return call(scatter_add, g, index=index, shape=shape)


def _add_at_index(buffer, g, index):
    """getitem's VJP as an addition into x's running gradient (``Gate.vjp_add``): the
    backward walk keeps one buffer per wire, so a loop over ``x[i]`` costs O(len(x))."""
    if is_basic(index):
        buffer[index] += g
    else:  # an entry an integer array names twice gets both gradients
        backend.add_at(buffer, index, g)


# The listing writes getitem's gradient as ``dx[index] += dgetitem``: see staged.py.
getitem = Gate("getitem", lambda x, index: x[index], symbol="[]",
               caveats="An entry picked several times (repeated integer indices) gets the sum "
                       "of their gradients.",
               saves=(), saves_out=False, views=True,
               text=Text(lambda site: f"{site.arg(0)}[{index_text(site.params['index'])}]",
                         lambda site, i: site.g),
               vjp=(lambda g, out, x, index: _scatter(g, index, x.shape),),
               vjp_add=_add_at_index,
               jvp=(lambda t, out, x, index: t[index],))


# ----- writes: ``x[index] = v`` as a gate on a new version of the wire ------------------------
def _setitem_forward(x, v, index):
    out = np.array(x)  # a copy: the pure form never writes into its input
    out[index] = v
    return out[()] if out.ndim == 0 else out


def _index_of(site):
    return index_text(site.params["index"])


def _setitem(x, v, index):
    return call(setitem, x, v, index=index)


def _gradient_of_written(g, index, v):
    """``g[index]``, the part of the upstream gradient that reached the written values,
    with the leading axes of length 1 NumPy lets ``v`` carry beyond the target's."""
    gi = g[index]
    extra = np.ndim(v) - np.ndim(gi)
    if extra > 0:
        gi = gi.reshape((1,) * extra + tuple(np.shape(gi)))
    return gi


# ``out`` is ``x`` with ``v`` written at ``index``: x's gradient is g with the written
# entries zeroed (they no longer depend on x), v's is g at those entries. The Tensor layer
# runs the write in place where no other gate can see the array (tensor.py, ``write``); this
# forward is the pure form, for replays of a recorded circuit.
setitem = Gate("setitem", _setitem_forward, symbol="[]=", broadcasts=True,
               caveats="Repeated integer indices with a value that needs a gradient are "
                       "refused (which write wins is NumPy's choice); use np.add.at.",
               saves=(), saves_out=False,
               text=Text(lambda site: f"setitem({site.arg(0)}, s_[{_index_of(site)}], "
                                      f"{site.arg(1)})",
                         lambda site, i: f"setitem({site.g}, s_[{_index_of(site)}], 0)"
                         if i == 0 else f"{site.g}[{_index_of(site)}]"),
               vjp=(lambda g, out, x, v, index: _setitem(g, 0.0, index),
                    lambda g, out, x, v, index: _gradient_of_written(g, index, v)),
               jvp=(lambda t, out, x, v, index: _setitem(t, 0.0, index),
                    lambda t, out, x, v, index: _setitem(backend.zeros(np.shape(x), t.dtype), t,
                                                         index)))


def repeats(index, shape):
    """Does an integer-array index name some entry more than once? (A write there keeps
    only one of the values, so the others would get no gradient.)"""
    if is_basic(index) or all(i.dtype.kind == "b" for i in index
                              if isinstance(i, backend.ndarray)):
        return False
    hits = backend.zeros(shape, dtype=np.intp)
    backend.add_at(hits, index, 1)
    return bool(hits.max(initial=0) > 1)
