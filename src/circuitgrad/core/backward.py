"""The backward pass, as the CS231n notes run it: walk the circuit in reverse, and at each gate
multiply the upstream gradient by the gate's local gradient; where a wire forks, add up.

Two iterative passes, no recursion (a million-gate chain needs no deep stack):

1. ``_count_consumers``: from the outputs, count for every wire how many recorded gates
   consume it.
2. ``_walk``: take a wire whose consumers are all done (Kahn's order, the reverse of a
   topological order), so its running gradient ``_acc`` is complete: that is the upstream
   gradient of the gate that made it. The gate's VJP rule for each input gives the upstream
   gradient times the local gradient, and ``_send`` adds it (``+=``) into that input's
   running gradient. An input whose last consumer is done is ready in turn.

Unless ``retain_graph`` is set, each gate lets go of its large saved values once processed
(``_release``) and is marked walked; its structure and small values stay, so a picture
drawn afterwards shows the circuit, and each small wire keeps the gradient of this pass.
"""

import numpy as np

from .. import backend
from ..backend import ndarray as _ndarray
from ..errors import AnomalyError, ChangedInPlaceError, GraphFreedError, ShapeError
from . import anomaly, trace
from . import node as _node_mod
from .gate import together
from .node import (
    ABSENT,
    WALKED,
    Node,
    Wire,
    keep_tracked,
    newest,
    place,
    released,
    released_leaf,
    stored_inputs,
    versions_read,
)

_float64 = np.float64
_WALKED = WALKED  # a C constant in the compiled build (backward.pxd)
# Walked circuits of at most this many gates keep their structure (see backprop): far more
# than a picture shows, far fewer than a 20,000-gate scalar circuit, whose freeing in one
# go after the walk would cost it a fifth of its time.
KEEP_CIRCUITS_UP_TO = 5000
_walks_running = 0  # backward walks in progress (more than one: one runs inside a rule)
# Anomaly mode (core/anomaly.py): whether the walk checks each gradient it sends, and the
# gate being walked with its upstream gradient (C variables in the compiled build).
_checking = False
_checked = None
_checked_g = None

# Filled by tensor.py when it is imported (core sits below it and never imports it):
# wrap(value) makes a leaf Tensor; initial_cotangent(y, g, where) checks or makes the
# upstream gradient of an output.
wrap = None
initial_cotangent = None


def connect_tensor(wrap_value, make_initial_cotangent):
    """Called once by tensor.py: what the walk needs from the Tensor layer above it."""
    global wrap, initial_cotangent
    wrap = wrap_value
    initial_cotangent = make_initial_cotangent


class Walk:
    """The stamp one walk leaves on each wire it reaches (``_epoch``), with the ids of its
    roots (a picture of a walked circuit asks whether it was drawn from one)."""

    __slots__ = ("roots", "gates")

    def __init__(self, roots):
        self.roots = frozenset([id(r) for r in roots])
        self.gates = 0  # how many gates the walk reaches (set by _count_consumers)


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
    global _walks_running, _checking, _checked, _checked_g
    roots = [place(newest(r)) for r in roots]
    wrt = None if wrt is None else [place(t) for t in wrt]
    stop = {id(t) for t in wrt} if wrt is not None else ()
    # A backward inside another one's rule (a custom gate recomputing its block, say) may
    # reach wires of the outer walk: their counts and running gradients are put back after.
    saved = [] if _walks_running else None
    reaches_outside = _count_consumers(roots, stop, saved)
    # Circuits small enough to look at keep their structure after the walk (pictures and
    # listings after backward); a large one is freed as the walk goes, which is faster.
    keep = not roots or roots[0]._epoch.gates <= KEEP_CIRCUITS_UP_TO
    decide = create_graph is None
    if decide:
        create_graph = bool(trace.current().levels) or reaches_outside
        retain_graph = retain_graph or create_graph
    for root, g in zip(roots, cotangents, strict=True):
        _accumulate(root, g)
    handed_out = {id(g) for g in cotangents}
    store = wrt is None and every is None  # gradients go to .grad
    # Rules record gates only when building circuits. Plain walks hand them arrays, which
    # record nothing, so they leave the recording switch alone (and the common case fast);
    # a Tensor cotangent is the exception.
    switch = create_graph or any(isinstance(g, Wire) for g in cotangents)
    _walks_running += 1
    outer_check = _checking, _checked, _checked_g  # an inner walk puts the outer's back
    _checking = trace.current().anomaly
    try:
        if switch:
            with trace.recording(create_graph):
                results = _walk(roots, stop, store, every, retain_graph, create_graph,
                                handed_out, keep)
        else:
            results = _walk(roots, stop, store, every, retain_graph, False, handed_out, keep)
    except FloatingPointError as err:  # np.errstate(all="raise") in a rule: say which gate
        if isinstance(err, AnomalyError):
            raise
        where = f"gate '{_checked._gate.name}'" if _checking and _checked is not None else \
            "a gate (run it under cg.detect_anomaly() to learn which)"
        raise FloatingPointError(f"in the backward of {where}: {err}") from err
    finally:
        _walks_running -= 1
        _checking, _checked, _checked_g = outer_check
        if saved:
            _restore(saved)
    grads = None if wrt is None else [_owned(results.get(id(t)), handed_out) for t in wrt]
    return (grads, create_graph) if decide else grads


def _walk(roots, stop, store, every, retain_graph, create_graph, handed_out, keep):
    """Process each wire once all its consumers are done; see the module docstring.

    ``stop``: ids of wires whose gradient is returned (by id) rather than passed on.
    ``store``: add leaves' (and retained intermediates') gradients into ``.grad``.
    ``every``: a dict that receives every wire's gradient by id. ``create_graph``: rules get
    Tensors and record the gradient's own circuit. ``keep``: a walked gate keeps its
    structure and small values (``_release``) rather than dropping its inputs.
    """
    global _checked, _checked_g
    results = {}
    keep_below = _node_mod.KEEP_VALUES_BELOW
    # Small wires keep this pass's gradient for pictures; gradients built as circuits do
    # not (a wire holding a circuit made from itself would be a reference cycle).
    keep_grads = not create_graph
    released_leaves = {} if not retain_graph else None  # one stand-in per large leaf
    # Running gradients this walk made for gates with vjp_add (x[i]), by wire id: only
    # these are added into in place (any other may be shared: a rule's result, the caller's).
    owned = {}
    ready = [r for r in roots if r._deps == 0]
    while ready:
        t = ready.pop()
        g = t._acc  # complete: every consumer has added its share. The upstream gradient.
        if owned:  # complete, so no longer added into: the walk must not hold it any more
            owned.pop(id(t), None)
        if every is not None:
            every[id(t)] = g
        if stop and id(t) in stop:
            results[id(t)] = g
            t._acc = None
            continue
        if not keep_grads or (g is not None and type(g) is not _float64
                              and g.size >= keep_below):
            t._acc = None
        gate = t._gate
        if gate is None:  # a leaf: its gradient is complete
            if store and g is not None:
                _store_grad(t, g, handed_out)
            continue
        meta = t._meta
        if store and meta is not None and meta.retains and g is not None:
            _store_retained(t, meta, g, handed_out)
        edges = t._edges
        a, b, params = t._a, t._b, t._params
        if _checking:
            _checked, _checked_g = t, g
        if g is None:  # no gradient reached this gate: its inputs only hear it is done
            for i in edges:
                _send(_input(t, i), None, gate, i, ready)
        else:
            vjp = gate.vjp
            out = _handle(t) if create_graph else t._value
            if t._more is None and not params:
                # one or two inputs and no parameters: most gates, so no argument tuples
                # (variadic gates, whose rules may come all at once, all have parameters)
                av = _argument(a, create_graph)
                if b is ABSENT:
                    _send(a, vjp[0](g, out, av), gate, 0, ready)
                elif b is a and gate.symmetric:
                    # x * x: both rules give the same gradient; compute it once, add it twice
                    gi = vjp[0](g, out, av, av)
                    _send(a, gi, gate, 0, ready)
                    _send(a, gi, gate, 1, ready)
                else:
                    bv = _argument(b, create_graph)
                    for i in edges:
                        _send(a if i == 0 else b, vjp[i](g, out, av, bv), gate, i, ready)
            else:
                added = False
                if gate.vjp_add is not None and not create_graph:
                    # x[i]: its part goes straight into x's running gradient (Gate.vjp_add)
                    added = _add_into(a, g, gate.vjp_add, params, ready, owned)
                if not added:
                    args = [_argument(w, create_graph) for w in stored_inputs(t)]
                    all_at_once = together(gate)
                    if all_at_once is not None:  # variadic: every input's gradient at once
                        grads = all_at_once(edges, g, out, *args, **params)
                        for k, i in enumerate(edges):
                            _send(_input(t, i), grads[k], gate, i, ready)
                    else:
                        for i in edges:
                            _send(_input(t, i), vjp[i](g, out, *args, **params), gate, i,
                                  ready)
        if not retain_graph:  # the walk never comes back here
            if meta is not None and meta.saved is not None:  # the caller's arrays it kept
                meta.saved.release()  # are writeable again (core/saved.py)
                meta.saved = None
            if keep:
                _release(t, keep_below, released_leaves)
            else:  # freed: its inputs, and what only they held, go now
                t._a = t._b = t._more = t._params = t._edges = None
            t._deps = _WALKED
    return results


def _send(x, gi, gate, i, ready):
    """The notes' ``dx += gi``: add the gradient gate input ``i`` receives (``gi``, the local
    gradient times the upstream one, or None) into the running gradient of that input's
    wire ``x``; once all of ``x``'s consumers are done, ``x`` is ready."""
    w = x if x._node is None else x._node
    if _checking and gi is not None:
        anomaly.check_gradient(_checked, gate, i, _checked_g, stored_inputs(_checked), gi)
    if gi is not None:
        value = w._value
        if type(gi) is not _float64 or type(value) is not _float64:
            gi = _fit(gi, value, gate, i)
            if isinstance(gi, Wire):  # create_graph: a circuit made from w, held by w
                keep_tracked(w)
                keep_tracked(gi)
        previous = w._acc
        w._acc = gi if previous is None else previous + gi  # never in place: gi may be shared
    deps = w._deps - 1
    w._deps = deps
    if deps == 0:
        ready.append(w)


def _add_into(x, g, add, params, ready, owned):
    """``_send`` for a gate with ``vjp_add`` (getitem, whose only input is ``x``): ``add``
    puts its cotangent ``g`` into x's running gradient in place. That gradient is a buffer
    of x's shape which this walk allocates once per wire (``owned``), so n gates reading
    parts of x cost O(x.size + n), where a zero array per gate would cost O(x.size * n).
    Returns False for a 0-d ``x`` (its gradient stays a NumPy scalar: ``vjp[0]`` does it)."""
    w = x if x._node is None else x._node
    value = w._value
    if not isinstance(value, _ndarray) or value.ndim == 0:
        return False
    buffer = w._acc
    if buffer is None or owned.get(id(w)) is not buffer:
        if buffer is None:
            buffer = backend.zeros(value.shape, value.dtype)
        else:  # a gradient that arrived by _send may be shared: add into a copy
            buffer = np.array(buffer, dtype=value.dtype)
        w._acc = buffer
        owned[id(w)] = buffer
    if g.dtype != value.dtype:  # as _fit does: the gradient has its input's dtype
        g = g.astype(value.dtype)
    add(buffer, g, **params)
    deps = w._deps - 1
    w._deps = deps
    if deps == 0:
        ready.append(w)
    return True


def _input(t, i):
    """Recorded input ``i`` of gate ``t``."""
    return t._a if i == 0 else t._b if i == 1 else t._more[i - 2]


def _argument(x, create_graph):
    """What a rule receives for a recorded input: its value, or a Tensor to record with."""
    if create_graph:
        return _handle(x)
    if isinstance(x, Wire):
        w = x  # typed Wire in the compiled build (backward.pxd): a C field read
        node = w._node
        if node is not None and node._overwritten:  # written to since: its value then
            return node._value
        return w._value
    return x


def _handle(w):
    """A Tensor through which a rule can use a Node; Tensors and constants as they are.
    (Module-level, not a closure: compiled, a closure and its scope would make a reference
    cycle per call.)"""
    if isinstance(w, Node):
        h = wrap(w._value)
        h._node = w
        h.requires_grad = True
        return h
    if isinstance(w, Wire) and w._node is not None and w._node._overwritten:
        h = _handle(w._node)  # the value it had when the gate ran, not its newest
        meta = w._meta
        if meta is not None and meta.tangents:  # and that value's forward-mode tangents
            h._tangents = meta.tangents
        return h
    return w


def _release(t, keep_below, released_leaves):
    """The walk has passed gate ``t``: let go of its large saved values, keep the rest.

    Inputs that are large intermediates are held through their Node (whose array goes when
    the Node is processed, or already has); large leaves become a stand-in without their
    array (one per leaf, kept in ``released_leaves``); large constant arrays and parameter
    arrays become ``released`` stand-ins; a parameter object with saved values of its own (a
    custom gate's context) is asked to drop them. Small values stay for pictures.
    """
    t._a = _let_go(t._a, keep_below, released_leaves)
    if t._b is not ABSENT:
        t._b = _let_go(t._b, keep_below, released_leaves)
    more = t._more
    if more is not None:
        t._more = tuple([_let_go(x, keep_below, released_leaves) for x in more])
    params = t._params
    if params:
        t._params = _let_go_params(params, keep_below)
    if isinstance(t, Node):
        n = t
        if not n._released and n._value.size >= keep_below:  # a small overwritten value stays
            n._value = released(n._value)
            n._released = True


def _let_go(x, keep_below, released_leaves):
    """A recorded input as a walked circuit keeps it (see ``_release``)."""
    if isinstance(x, Wire):
        w = x
        if w._node is not None:
            return w._node
        value = w._value
        if w._gate is None and type(value) is not _float64 and value.size >= keep_below:
            held = released_leaves.get(id(w))
            if held is None:  # the leaf is held too, so that its id stays its own
                held = released_leaves[id(w)] = (w, released_leaf(w))
            return held[1]
        return x
    if type(x) is _ndarray and x.size >= keep_below:
        return released(x)
    return x


def _let_go_params(params, keep_below):
    for v in params.values():
        if (type(v) is _ndarray and v.size >= keep_below) or hasattr(v, "release_saved"):
            break
    else:
        return params
    kept = {}
    for k, v in params.items():
        if type(v) is _ndarray and v.size >= keep_below:
            v = released(v)
        elif hasattr(v, "release_saved"):
            v.release_saved()
        kept[k] = v
    return kept


def _freed_error(t):
    return GraphFreedError(
        f"backward through gate '{t._gate.name}' a second time: its saved values "
        f"were freed by an earlier backward() (also by one that raised partway); "
        f"pass retain_graph=True to the first backward() to keep them")


def _changed_error(t):
    changed = [x for x in stored_inputs(t) if isinstance(x, Wire) and x._version]
    names = ", ".join([f"'{x.name}'" if getattr(x, "name", None) else
                       f"a tensor of shape {np.shape(x._value)}" for x in changed])
    return ChangedInPlaceError(
        f"backward through gate '{t._gate.name}': its input ({names}) was changed in place "
        f"after the gate read it (a write under cg.no_grad(), .data = ..., or an optimizer "
        f"step), so its gradient would use the new value. Call backward() before changing "
        f"the input, or run the forward pass again after the change")


def _count_consumers(roots, stop, saved=None):
    """Set each tensor's ``_deps`` to its number of consuming gates in this walk.

    Each walk stamps the tensors it reaches with a fresh ``Walk``, so counts and running
    gradients left over from an earlier walk (one that raised halfway, say) never leak in.
    With ``saved`` a list, each wire's earlier stamp, count and running gradient are
    appended to it first (see ``_restore``). A gate an earlier walk freed raises
    GraphFreedError before its stamp is touched (a picture still reads that walk's
    gradients from it). Returns whether a differentiable leaf outside ``stop`` was reached.
    """
    epoch = Walk(roots)
    stack = []
    for r in roots:
        if r._epoch is not epoch:
            if r._deps < 0 and not (stop and id(r) in stop):  # WALKED
                raise _freed_error(r)
            if saved is not None:
                saved.append((r, r._epoch, r._deps, r._acc))
            r._epoch = epoch
            r._deps = 0
            r._acc = None
            stack.append(r)
    pop, push = stack.pop, stack.append
    outside = False
    gates = 0
    while stack:
        t = pop()
        if stop and id(t) in stop:
            # a target with a gate of its own was lifted from a tensor someone differentiates
            outside = outside or t._gate is not None
            continue
        if t._gate is None:
            outside = outside or t.requires_grad
            continue
        gates += 1
        a, b = t._a, t._b
        if t._seen != versions_read(a, b, t._more):
            raise _changed_error(t)
        for i in t._edges:
            x = a if i == 0 else b if i == 1 else t._more[i - 2]
            if x._node is not None:
                x = x._node
            if x._epoch is epoch:
                x._deps += 1
            else:
                if x._deps < 0 and not (stop and id(x) in stop):  # WALKED
                    raise _freed_error(x)
                if saved is not None:
                    saved.append((x, x._epoch, x._deps, x._acc))
                x._epoch = epoch
                x._deps = 1
                x._acc = None
                push(x)
    epoch.gates = gates
    return outside


def _restore(saved):
    """Put back what ``_count_consumers`` saved: an enclosing walk's state of each wire."""
    for w, epoch, deps, acc in saved:
        w._epoch = epoch
        w._deps = deps
        w._acc = acc


def _accumulate(x, g):
    if isinstance(g, Wire):
        keep_tracked(x)
        keep_tracked(g)
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
        # the gradient the wire keeps for pictures must not be the array handed out, which
        # users change in place (p.grad *= 0.5)
        if t._acc is g and type(g) is _ndarray:
            t._acc = g.copy()
    else:
        t.grad = t.grad + g


def wire_gradients(y, g=None):
    """The gradient of ``y`` with respect to every tensor of its circuit, by ``id``.

    Leaves' ``.grad`` are left alone and the circuit is kept, so this can be called before
    or after ``backward(retain_graph=True)``.
    """
    grads = {}
    if y.requires_grad:
        backprop([y], [initial_cotangent(y, g, "wire_gradients")], retain_graph=True,
                 every=grads)
        grads[id(y)] = grads.get(id(place(newest(y))))
    return grads
