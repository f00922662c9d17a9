"""The backward pass: walk the circuit in reverse, multiply local gradients by upstream ones.

Two iterative passes, no recursion (a million-gate chain needs no deep stack):

1. From the outputs, count for every tensor how many recorded gates consume it.
2. Process tensors whose consumers are all done (Kahn's order): call the gate's VJP rule
   for each input that needs a gradient and add (``+=``) the result into that input's
   running gradient. Where a wire forks, the contributions add up.

Unless ``retain_graph`` is set, each gate drops its inputs once processed, so saved
values are released as soon as the walk passes them.
"""

import numpy as np

from ..errors import GraphFreedError, ShapeError
from .trace import enable_grad, no_grad


def backprop(roots, cotangents, *, wrt=None, retain_graph=False, create_graph=False,
             every=None):
    """Back-propagate ``cotangents`` from ``roots``.

    With ``wrt=None`` gradients add into every reached leaf's ``.grad`` (and into retained
    intermediates). With ``wrt`` a list of tensors, the walk stops at them and returns
    their gradients (None where none arrived), touching no ``.grad``. With ``every`` a
    dict, the gradient of every tensor reached is stored there by ``id`` instead, and no
    ``.grad`` is touched (circuit pictures use this).
    """
    from ..tensor import Tensor  # the engine walks Tensors; imported late to avoid a cycle

    stop = {id(t) for t in wrt} if wrt is not None else ()
    deps = _count_consumers(roots, stop, Tensor)
    for root, g in zip(roots, cotangents, strict=True):
        _accumulate(root, g)
    results = {}
    handed_out = {id(g) for g in cotangents}
    context = enable_grad() if create_graph else no_grad()
    with context:
        ready = [r for r in roots if deps.get(id(r)) == 0]
        while ready:
            t = ready.pop()
            g = t._acc
            t._acc = None
            node = t._node
            if every is not None:
                every[id(t)] = g
            if id(t) in stop or node is None:
                if every is not None:
                    continue
                if wrt is not None:
                    results[id(t)] = g
                elif g is not None:
                    _store_grad(t, g, handed_out)
                continue
            if t._retains and wrt is None and every is None and g is not None:
                _store_grad(t, g, handed_out)
            gate, inputs, params = node
            if g is not None:
                if create_graph:
                    out, args = t, inputs
                else:
                    out = t._value
                    args = [x._value if isinstance(x, Tensor) else x for x in inputs]
            for i, x in enumerate(inputs):
                if not (isinstance(x, Tensor) and x.requires_grad):
                    continue
                if g is not None:
                    gi = gate.vjp[i](g, out, *args, **params)
                    if gi is not None:
                        _accumulate(x, _fit(gi, x, gate, i))
                key = id(x)
                deps[key] -= 1
                if deps[key] == 0:
                    ready.append(x)
            if not retain_graph:
                t._node = (gate, None, None)
    if wrt is not None:
        return [results.get(id(t)) for t in wrt]
    return None


def _count_consumers(roots, stop, Tensor):
    deps = {id(r): 0 for r in roots}
    stack = [r for r in roots]
    while stack:
        t = stack.pop()
        node = t._node
        if node is None or id(t) in stop:
            continue
        inputs = node[1]
        if inputs is None:
            raise GraphFreedError(
                f"backward through gate '{node[0].name}' a second time: its saved values "
                f"were freed by an earlier backward(); pass retain_graph=True to the first "
                f"backward() to keep them")
        for x in inputs:
            if isinstance(x, Tensor) and x.requires_grad:
                key = id(x)
                count = deps.get(key)
                if count is None:
                    deps[key] = 1
                    stack.append(x)
                else:
                    deps[key] = count + 1
    return deps


def _accumulate(x, g):
    # Never in place: ``g`` may be shared with another input (add hands the same array
    # to both), so each sum is a new array.
    previous = x._acc
    x._acc = g if previous is None else previous + g


def _fit(gi, x, gate, i):
    """Sum a broadcast gradient back to its input's shape; keep the input's dtype."""
    value = x._value
    shape = value.shape
    gshape = gi.shape
    if gshape != shape:
        if gate.broadcasts and len(gshape) >= len(shape):
            gi = unbroadcast(gi, shape)
        else:
            raise ShapeError(
                f"gate '{gate.name}' returned a gradient of shape {gshape} for its input "
                f"{i}, which has shape {shape}")
    if gi.dtype != value.dtype:
        gi = gi.astype(value.dtype)
    return gi


def unbroadcast(g, shape):
    """Sum ``g`` over the axes that broadcasting added or stretched, giving ``shape``."""
    lead = g.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + k for k, n in enumerate(shape) if n == 1 and g.shape[lead + k] != 1)
    if axes:
        g = g.sum(axis=axes, keepdims=True)
    if lead or g.shape != shape:
        g = g.reshape(shape)
    return g


def _store_grad(t, g, handed_out):
    """Add ``g`` into ``t.grad``; copy it first if it may be shared with another gradient."""
    if type(g) is np.ndarray and (g.base is not None or id(g) in handed_out):
        g = g.copy()
    handed_out.add(id(g))
    if t.grad is None:
        t.grad = g
    else:
        t.grad = t.grad + g


def wire_gradients(y, g=None):
    """The gradient of ``y`` with respect to every tensor of its circuit, by ``id``.

    Leaves' ``.grad`` are left alone and the circuit is kept, so this can be called before
    or after ``backward(retain_graph=True)``.
    """
    from ..tensor import _initial_cotangent

    grads = {}
    if y.requires_grad:
        backprop([y], [_initial_cotangent(y, g, "wire_gradients")], retain_graph=True,
                 every=grads)
    return grads
