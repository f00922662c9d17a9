"""The backward pass: walk the circuit in reverse, multiply local gradients by upstream ones.

Two iterative passes, no recursion (a million-gate chain needs no deep stack):

1. From the outputs, count for every tensor how many recorded gates consume it.
2. Process tensors whose consumers are all done (Kahn's order): call the gate's VJP rule
   for each input that needs a gradient and add (``+=``) the result into that input's
   running gradient. Where a wire forks, the contributions add up.

Unless ``retain_graph`` is set, each gate drops its inputs once processed, so saved
values are released as soon as the walk passes them.
"""

import contextlib

import numpy as np

from ..backend import ndarray as _ndarray
from ..errors import GraphFreedError, ShapeError
from . import trace
from .gate import together
from .node import ABSENT, Node, Wire, place, stored_inputs

_float64 = np.float64
_walks_running = 0  # backward walks in progress (more than one: one runs inside a rule)


def backprop(roots, cotangents, *, wrt=None, retain_graph=False, create_graph=False,
             every=None):
    """Back-propagate ``cotangents`` from ``roots``.

    With ``wrt=None`` gradients add into every reached leaf's ``.grad`` (and into retained
    intermediates). With ``wrt`` a list of tensors, the walk stops at them and returns
    their gradients (None where none arrived), touching no ``.grad``. With ``every`` a
    dict, the gradient of every tensor reached is stored there by ``id`` instead, and no
    ``.grad`` is touched (circuit pictures use this).

    ``create_graph=None`` decides for itself: the gradients are built as circuits when
    forward mode is live or when the walk reaches a differentiable leaf outside ``wrt``
    (an enclosing transform is watching). Returns ``(grads, created)`` in that case.
    """
    global _walks_running
    roots = [place(r) for r in roots]
    wrt = None if wrt is None else [place(t) for t in wrt]
    stop = {id(t) for t in wrt} if wrt is not None else ()
    # A backward inside another one's rule (a custom gate recomputing its block, say) may
    # reach wires of the outer walk: their counts and running gradients are put back after.
    saved = [] if _walks_running else None
    reaches_outside = _count_consumers(roots, stop, saved)
    decide = create_graph is None
    if decide:
        create_graph = bool(trace.current().levels) or reaches_outside
        retain_graph = retain_graph or create_graph
    for root, g in zip(roots, cotangents, strict=True):
        _accumulate(root, g)
    handed_out = {id(g) for g in cotangents}
    # Rules record gates only when building circuits. Plain walks hand them arrays, which
    # record nothing, so they leave the recording switch alone (and the common case fast);
    # a Tensor cotangent is the exception.
    switch = create_graph or any(isinstance(g, Wire) for g in cotangents)
    _walks_running += 1
    try:
        with trace.recording(create_graph) if switch else contextlib.nullcontext():
            if every is None and not create_graph:
                results = _walk_plain(roots, stop, retain_graph, handed_out)
            else:
                results = _walk(roots, stop, wrt, every, retain_graph, create_graph,
                                handed_out)
    finally:
        _walks_running -= 1
        if saved:
            _restore(saved)
    grads = None if wrt is None else [_owned(results.get(id(t)), handed_out) for t in wrt]
    return (grads, create_graph) if decide else grads


def _walk_plain(roots, stop, retain_graph, handed_out):
    """``_walk`` without recording: the same steps, spelled out for one- and two-input gates.

    Most circuits are made of such gates, and this loop runs once per gate, so it avoids
    building argument tuples and checks that only the general walk needs.
    """
    results = {}
    ready = [r for r in roots if r._deps == 0]
    pop, push = ready.pop, ready.append
    while ready:
        t = pop()
        g = t._acc
        t._acc = None
        if stop and id(t) in stop:
            results[id(t)] = g
            continue
        gate = t._gate
        if gate is None:  # a leaf
            if g is not None and not stop:
                _store_grad(t, g, handed_out)
            continue
        meta = t._meta
        if meta is not None and meta.retains and g is not None and not stop:
            _store_retained(t, meta, g, handed_out)
        a, b, more, params = t._a, t._b, t._more, t._params
        if g is not None and more is None and not params:
            out = t._value
            av = _value_of(a)
            unary = b is ABSENT
            if not unary:
                bv = _value_of(b)
            if not unary and b is a and gate.symmetric:  # x * x: one gradient, added twice
                _twice(a, gate, g, out, av, push)
            else:
                for i in t._edges:
                    x = a if i == 0 else b
                    if x._node is not None:
                        x = x._node
                    gi = gate.vjp[i](g, out, av) if unary else gate.vjp[i](g, out, av, bv)
                    if gi is not None:
                        xv = x._value
                        if type(gi) is not _float64 or type(xv) is not _float64:
                            gi = _fit(gi, xv, gate, i)
                        previous = x._acc
                        x._acc = gi if previous is None else previous + gi  # never in place
                    deps = x._deps - 1
                    x._deps = deps
                    if deps == 0:
                        push(x)
        elif g is not None:
            out = t._value
            args = [_value_of(w) for w in stored_inputs(t)]
            edges = t._edges
            all_at_once = together(gate)
            grads = None if all_at_once is None else all_at_once(edges, g, out, *args,
                                                                  **params)
            for k, i in enumerate(edges):
                x = place(a if i == 0 else b if i == 1 else more[i - 2])
                gi = gate.vjp[i](g, out, *args, **params) if grads is None else grads[k]
                if gi is not None:
                    gi = _fit(gi, x._value, gate, i)
                    previous = x._acc
                    x._acc = gi if previous is None else previous + gi
                deps = x._deps - 1
                x._deps = deps
                if deps == 0:
                    push(x)
        else:
            for i in t._edges:
                x = place(a if i == 0 else b if i == 1 else more[i - 2])
                deps = x._deps - 1
                x._deps = deps
                if deps == 0:
                    push(x)
        if not retain_graph:  # drop saved values now: the walk never comes back here
            t._a = t._b = t._more = t._edges = t._params = None
    return results


def _walk(roots, stop, wrt, every, retain_graph, create_graph, handed_out):
    """The general walk: for gradients built as circuits (``create_graph``) or reported for
    every wire (``every``). ``_walk_plain`` takes every other backward pass."""
    results = {}
    ready = [r for r in roots if r._deps == 0]
    while ready:
        t = ready.pop()
        g = t._acc
        t._acc = None
        gate = t._gate
        if every is not None:
            every[id(t)] = g
        if stop and id(t) in stop:
            results[id(t)] = g
            continue
        if gate is None:  # a leaf
            if wrt is None and every is None and g is not None:
                _store_grad(t, g, handed_out)
            continue
        params = t._params
        edges = t._edges
        meta = t._meta
        if meta is not None and meta.retains and wrt is None and every is None \
                and g is not None:
            _store_retained(t, meta, g, handed_out)
        if g is not None:
            a, b = t._a, t._b
            if create_graph:
                out, args = _as_tensors(t)
            else:
                out = t._value
                if t._more is None:  # one or two inputs: spelled out, it is the hot path
                    av = _value_of(a)
                    args = (av,) if b is ABSENT else (av, _value_of(b))
                else:
                    args = [_value_of(w) for w in stored_inputs(t)]
            vjp = gate.vjp
            all_at_once = together(gate)
            grads = None if all_at_once is None else all_at_once(edges, g, out, *args,
                                                                  **params)
            for k, i in enumerate(edges):
                x = a if i == 0 else b if i == 1 else t._more[i - 2]
                if x._node is not None:
                    x = x._node
                if grads is not None:
                    gi = grads[k]
                else:
                    gi = vjp[i](g, out, *args, **params) if params else vjp[i](g, out, *args)
                if gi is None:
                    pass
                else:
                    xv = x._value
                    if type(gi) is not _float64 or type(xv) is not _float64:
                        gi = _fit(gi, xv, gate, i)
                    previous = x._acc
                    # never in place: ``gi`` may be shared with another input
                    x._acc = gi if previous is None else previous + gi
                deps = x._deps - 1
                x._deps = deps
                if deps == 0:
                    ready.append(x)
        else:
            for i in edges:
                x = place(t._a if i == 0 else t._b if i == 1 else t._more[i - 2])
                deps = x._deps - 1
                x._deps = deps
                if deps == 0:
                    ready.append(x)
        if not retain_graph:  # drop saved values now: the walk never comes back here
            t._a = t._b = t._more = t._edges = t._params = None
    return results


def _twice(a, gate, g, out, av, push):
    """Both inputs of a symmetric gate are one wire (``x * x``): its two rules give the
    same gradient, so compute it once and add it twice (one full-size product fewer)."""
    x = a if a._node is None else a._node
    gi = gate.vjp[0](g, out, av, av)
    if gi is not None:
        gi = _fit(gi, x._value, gate, 0)
        previous = x._acc
        x._acc = gi + gi if previous is None else previous + gi + gi
    x._deps -= 2
    if x._deps == 0:
        push(x)


def _value_of(x):
    """The value of a recorded input: a Wire's value, or the constant itself."""
    if isinstance(x, Wire):
        w = x  # typed Wire in the compiled build (backward.pxd): a C field read
        return w._value
    return x


def _as_tensors(t):
    """A gate's output and inputs as Tensors, for rules that must record (create_graph)."""
    from ..tensor import Tensor  # late: tensor.py imports this module

    out = t if isinstance(t, Tensor) else _handle(t)
    return out, tuple([_handle(x) for x in stored_inputs(t)])


def _handle(w):
    """A Tensor through which a rule can use a Node (module-level, not a closure: compiled,
    a closure and its scope would make a reference cycle per call)."""
    if isinstance(w, Node):
        from ..tensor import _wrap

        h = _wrap(w._value)
        h._node = w
        h.requires_grad = True
        return h
    return w


def _count_consumers(roots, stop, saved=None):
    """Set each tensor's ``_deps`` to its number of consuming gates in this walk.

    Each walk stamps the tensors it reaches with a fresh epoch, so counts and running
    gradients left over from an earlier walk (one that raised halfway, say) never leak in.
    With ``saved`` a list, each wire's earlier stamp, count and running gradient are
    appended to it first (see ``_restore``). Returns whether a differentiable leaf outside
    ``stop`` was reached.
    """
    epoch = object()
    stack = []
    for r in roots:
        if r._epoch is not epoch:
            if saved is not None:
                saved.append((r, r._epoch, r._deps, r._acc))
            r._epoch = epoch
            r._deps = 0
            r._acc = None
            stack.append(r)
    pop, push = stack.pop, stack.append
    outside = False
    while stack:
        t = pop()
        if stop and id(t) in stop:
            # a target with a gate of its own was lifted from a tensor someone differentiates
            outside = outside or t._gate is not None
            continue
        if t._gate is None:
            outside = outside or t.requires_grad
            continue
        edges = t._edges
        if edges is None:
            raise GraphFreedError(
                f"backward through gate '{t._gate.name}' a second time: its saved values "
                f"were freed by an earlier backward() (also by one that raised partway); "
                f"pass retain_graph=True to the first backward() to keep them")
        a, b = t._a, t._b
        for i in edges:
            x = a if i == 0 else b if i == 1 else t._more[i - 2]
            if x._node is not None:
                x = x._node
            if x._epoch is epoch:
                x._deps += 1
            else:
                if saved is not None:
                    saved.append((x, x._epoch, x._deps, x._acc))
                x._epoch = epoch
                x._deps = 1
                x._acc = None
                push(x)
    return outside


def _restore(saved):
    """Put back what ``_count_consumers`` saved: an enclosing walk's state of each wire."""
    for w, epoch, deps, acc in saved:
        w._epoch = epoch
        w._deps = deps
        w._acc = acc


def _accumulate(x, g):
    previous = x._acc
    x._acc = g if previous is None else previous + g


def _fit(gi, value, gate, i):
    """Sum a broadcast gradient back to its input's shape; keep the input's dtype."""
    shape = value.shape
    gshape = gi.shape
    if gshape != shape:
        if gate.broadcasts and len(gshape) >= len(shape):
            gi = unbroadcast(gi, shape)
        else:
            raise ShapeError(
                f"gate '{gate.name}' returned a gradient of shape {gshape} for its input "
                f"{i}, which has shape {shape}")
    if gi.dtype is not value.dtype and gi.dtype != value.dtype:
        gi = gi.astype(value.dtype)
    return gi


def unbroadcast(g, shape):
    """Sum ``g`` over the axes that broadcasting added or stretched, giving ``shape``.

    Each step is a reduction into a fresh array (never a reshaped view), so the result
    can be stored as a gradient without a defensive copy.
    """
    lead = g.ndim - len(shape)
    if lead:
        g = g.sum(axis=tuple(range(lead)))
    stretched = tuple(k for k, n in enumerate(shape) if n == 1 and g.shape[k] != 1)
    if stretched:
        g = g.sum(axis=stretched, keepdims=True)
    return g


def _owned(g, handed_out):
    """``g``, or a copy of it where it may be shared: with the caller's upstream gradient,
    with another gradient handed out, or with an array (a broadcast view, say). Gradients
    handed to users are theirs to change in place."""
    if type(g) is _ndarray and (g.base is not None or id(g) in handed_out):
        g = g.copy()
    handed_out.add(id(g))
    return g


def _store_retained(t, meta, g, handed_out):
    """A retained intermediate's gradient goes to its ``.grad``; a Node's, to the Tensor
    that holds the Node, if the user still has it (a weak reference: the Tensor holds the
    Node, and a strong one back would keep both, and the circuit, alive in a cycle)."""
    target = t if meta.handle is None else meta.handle()
    if target is not None:
        _store_grad(target, g, handed_out)


def _store_grad(t, g, handed_out):
    """Add ``g`` into ``t.grad`` (a gradient of its own, see ``_owned``)."""
    g = _owned(g, handed_out)
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
        grads[id(y)] = grads.get(id(place(y)))
    return grads
