"""Wires hidden from the cyclic garbage collector (core/node.py, keep_tracked).

Compiled, the scalar fast paths untrack the Tensors they make, so a full collection does not
read a whole circuit (building one was superlinear in its size). What must hold: a reference
cycle through hidden wires is still found and freed, a tracked wire never reaches a hidden
one, and nothing leaks. Leaks are measured by memory (tracemalloc), which sees hidden
objects, rather than by ``gc.collect()``'s count, which does not.
"""

import gc
import tracemalloc
import weakref

import numpy as np
import pytest

import circuitgrad as cg
from circuitgrad.core.node import Wire, hides_wires

hiding = pytest.mark.skipif(not hides_wires(), reason="pure Python: every wire is tracked")


def _chain(x, n=20):
    y = x
    for _ in range(n):
        y = y * x + 0.5
    return y


def _wires_reached_from(roots):
    seen, stack = {}, list(roots)
    while stack:
        w = stack.pop()
        if not isinstance(w, Wire) or id(w) in seen:
            continue
        seen[id(w)] = w
        stack += [w._a, w._b, w._node] + list(w._more or ())
    return list(seen.values())


@hiding
def test_the_fast_paths_hide_a_chain_of_scalar_gates():
    x = cg.tensor(0.5, requires_grad=True)
    y = _chain(x)
    assert gc.is_tracked(x)  # a leaf stays tracked
    assert not gc.is_tracked(y)
    assert not gc.is_tracked(y._a)


@hiding
def test_a_tracked_wire_never_reaches_a_hidden_one():
    # the fast path, then a gate through apply (tracked), then the fast path again
    x = cg.tensor(np.array([0.3, 0.7]), requires_grad=True)
    a = _chain(x, 5)
    b = np.sin(a)  # apply: a tracked record whose input is hidden
    c = _chain(b, 5) + a
    tracked = [w for w in _wires_reached_from([c]) if gc.is_tracked(w)]
    assert any(w is b for w in tracked)
    hidden_below_tracked = [w for w in _wires_reached_from(tracked) if not gc.is_tracked(w)]
    assert hidden_below_tracked == []
    c.sum().backward()
    want = cg.grad(lambda v: np.sum(_chain(np.sin(_chain(v, 5)), 5) + _chain(v, 5)))(x.data)
    np.testing.assert_allclose(x.grad, want)


def _kept_by_a_cycle_then_freed(make):
    """``make()`` builds something with a reference cycle and returns a weak reference to a
    wire on it: refcounting alone must not free it (the cycle is real), the collector must."""
    gc.collect()
    was = gc.isenabled()
    gc.disable()
    try:
        ref = make()
        assert ref() is not None, "no cycle: the case tests nothing"
        gc.collect()
        assert ref() is None, "a reference cycle through hidden wires was not freed"
    finally:
        if was:
            gc.enable()


def test_create_graph_gradient_cycle_is_freed():
    def make():
        x = cg.tensor(0.5, requires_grad=True)
        y = _chain(x)
        inner = y._a._a  # the chain's previous value, which mul's rule reads
        y.backward(create_graph=True)  # x.grad is a circuit that reaches x: x -> grad -> x
        return weakref.ref(inner)
    _kept_by_a_cycle_then_freed(make)


def test_retained_gradient_of_a_hidden_wire_with_create_graph_is_freed():
    def make():
        x = cg.tensor(0.5, requires_grad=True)
        q = _chain(x, 3).retain_grad()
        f = q * q
        f.backward(create_graph=True)
        assert q.grad is not None
        return weakref.ref(q)
    _kept_by_a_cycle_then_freed(make)


def test_write_into_a_hidden_wire_is_freed():
    def make():
        x = cg.tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
        v = x * 2.0
        v[0] = v[1] * 3.0  # v now holds its newer version, which reads v's old value
        return weakref.ref(v)
    _kept_by_a_cycle_then_freed(make)


def _memory_growth(call, warm=10, more=60):
    """Bytes still held after ``more`` further calls (and a collection) beyond ``warm``."""
    for _ in range(warm):
        call()
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(more):
            call()
        gc.collect()
        return tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()


def _create_graph_call():
    x = cg.tensor(0.5, requires_grad=True)
    y = _chain(x)
    y.backward(create_graph=True)
    x.grad.backward()


def _write_call():
    x = cg.tensor(np.linspace(0.1, 1.0, 8), requires_grad=True)
    v = _chain(x, 4)
    for i in range(7):
        v[i] = v[i + 1] * 2.0
    v.sum().backward()


def _retain_call():
    x = cg.tensor(0.5, requires_grad=True)
    q = _chain(x, 4).retain_grad()
    (q * q).backward(create_graph=True)


def _transforms_call():
    f = lambda v: np.sum(np.exp(v) * v ** 2 + v[0] * v[-1])  # noqa: E731
    x = np.linspace(0.1, 1.0, 6)
    cg.grad(f)(x)
    cg.hessian(f)(x)
    cg.hvp(f, (x,), (np.ones_like(x),))
    cg.jvp(f, (x,), (np.ones_like(x),))
    cg.grad(lambda v: np.sum(cg.grad(f)(v)))(x)


@pytest.mark.parametrize("call", [_create_graph_call, _write_call, _retain_call,
                                  _transforms_call],
                         ids=["create_graph", "writes", "retain_grad", "transforms"])
def test_nothing_leaks(call):
    # one leaked circuit per call would be tens of kilobytes over the calls
    assert _memory_growth(call) < 16_000
