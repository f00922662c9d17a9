"""Every transform frees what it made by reference counting alone: no reference cycle is
left for the garbage collector (which would hold the circuit's arrays until it runs).

Forward mode used to make one per gate whose tangent rule reads the output (exp's
``t * out``): the tangent's gate held the output, which held the tangent. Tangent rules now
get a twin of the output (tensor.py, ``_twin``). The collector cannot count wires hidden from
it (core/node.py, keep_tracked): tests/test_hidden_wires.py measures leaks by memory."""

import gc

import numpy as np
import pytest

import circuitgrad as cg

A = np.array([[2.0, 0.5, 0.0], [0.5, 1.0, 0.3], [0.0, 0.3, 3.0]])

# exp and tanh read their output in the tangent rule; the rest covers the other families
FUNCTIONS = {
    "exp": lambda x: np.sum(np.exp(x)),
    "tanh": lambda x: np.sum(np.tanh(x) * x),
    "sin and power": lambda x: np.sum(np.sin(x) * x ** 2),
    "log mean": lambda x: np.mean(np.log(x + 2.0) ** 3),
    "softmax-like": lambda x: np.log(np.sum(np.exp(x - np.max(x)))),
    "indexing": lambda x: x[0] * x[-1] + np.sum(x[1:] ** 2),
}


def _vjp_of(f, x):
    _, back = cg.vjp(f, x)
    return back(1.0)


TRANSFORMS = {
    "grad": lambda f, x: cg.grad(f)(x),
    "value_and_grad": lambda f, x: cg.value_and_grad(f)(x),
    "vjp": _vjp_of,
    "jvp": lambda f, x: cg.jvp(f, (x,), (np.ones_like(x),)),
    "jacobian rev": lambda f, x: cg.jacobian(lambda v: np.exp(v) * f(v))(x),
    "jacobian fwd": lambda f, x: cg.jacobian(lambda v: np.exp(v) * f(v), mode="fwd")(x),
    "hessian": lambda f, x: cg.hessian(f)(x),
    "hvp": lambda f, x: cg.hvp(f, (x,), (np.ones_like(x),)),
    "grad of grad": lambda f, x: cg.grad(lambda v: np.sum(cg.grad(f)(v)))(x),
}


def _garbage_left_by(call, times=3):
    """How many objects only the cycle collector could free after ``times`` calls (with
    the collector off meanwhile), and their types, after two warm-up calls (which may fill
    caches)."""
    call()
    call()
    gc.collect()
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(times):
            call()
        gc.set_debug(gc.DEBUG_SAVEALL)  # keep what it finds, to say what it was
        found = gc.collect()
        kinds = sorted({type(o).__name__ for o in gc.garbage})
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        if was_enabled:
            gc.enable()
    return found, kinds


@pytest.mark.parametrize("transform", list(TRANSFORMS))
@pytest.mark.parametrize("function", list(FUNCTIONS))
def test_transforms_leave_no_reference_cycles(transform, function):
    f, run = FUNCTIONS[function], TRANSFORMS[transform]
    x = np.array([0.3, 0.9, 1.4])
    found, kinds = _garbage_left_by(lambda: run(f, x))
    assert found == 0, f"{found} objects in reference cycles: {kinds}"


@pytest.mark.parametrize("transform", ["grad", "jvp", "hvp", "vjp"])
def test_large_arrays_leave_no_reference_cycles(transform):
    # 5000 entries: above KEEP_VALUES_BELOW, so the records are Nodes
    x = np.linspace(0.1, 1.0, 5000)
    found, kinds = _garbage_left_by(lambda: TRANSFORMS[transform](FUNCTIONS["tanh"], x))
    assert found == 0, f"{found} objects in reference cycles: {kinds}"


def test_the_tangent_rules_twin_gives_the_same_derivatives_to_any_order():
    x = np.array([0.3, -0.7, 1.1])
    v = np.array([1.0, 2.0, -1.0])
    # d/dx (v . exp(x)) = exp(x) * v, and its own hvp: exp(x) * v * v
    hv = cg.hvp(lambda a: np.sum(np.exp(a)), (x,), (v,))
    np.testing.assert_allclose(hv, np.exp(x) * v, rtol=1e-12)
    third = cg.jvp(lambda a: cg.hvp(lambda b: np.sum(np.exp(b)), (a,), (v,)), (x,), (v,))[1]
    np.testing.assert_allclose(third, np.exp(x) * v * v, rtol=1e-12)
    # three nested forward levels through tanh: d3/dt3 tanh(x + t) at t = 0
    t1 = lambda a: cg.jvp(np.tanh, (a,), (np.ones(3),))[1]  # noqa: E731
    t2 = lambda a: cg.jvp(t1, (a,), (np.ones(3),))[1]  # noqa: E731
    t3 = cg.jvp(t2, (x,), (np.ones(3),))[1]
    th = np.tanh(x)
    np.testing.assert_allclose(t3, -2 * (1 - th ** 2) * (1 - 3 * th ** 2), rtol=1e-10)
    np.testing.assert_allclose(cg.hessian(lambda a: np.sum(np.tanh(a)))(x),
                               np.diag(-2 * th * (1 - th ** 2)), rtol=1e-12)


class _Labelled(cg.Tensor):
    """A Tensor subclass: instances have a __dict__, so user code can make cycles."""


def test_cycles_through_tensors_are_still_collected():
    # The engine's own objects stay visible to the collector (Tensor, Node and Meta are
    # members of real cycles: a user's attribute, a leaf's .grad built with create_graph,
    # a write through a view), so whatever cycle they are in is freed by gc.collect().
    import weakref

    p = _Labelled(np.ones(3), requires_grad=True)
    q = (p * 2.0).sum()
    p.total = q  # p -> its __dict__ -> q -> q's gate inputs -> p
    x = cg.tensor(np.ones(3), requires_grad=True)
    (x * x).sum().backward(create_graph=True)  # x -> .grad -> its circuit -> x
    refs = [weakref.ref(p), weakref.ref(q), weakref.ref(x)]
    del p, q, x
    gc.collect()
    assert [r() for r in refs] == [None, None, None]
