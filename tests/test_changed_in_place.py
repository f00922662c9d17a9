"""A value changed in place after a gate read it never gives a gradient in silence.

A leaf that needs a gradient (a parameter) is written in place only outside the circuit:
under ``cg.no_grad()``, through ``.data =``, by an optimizer's step. A gate recorded before
such a change read the old value, and its backward rule would read the new one. The walk
compares each gate's inputs' write counts with those it saw (``_seen``) and refuses, before
any gradient is added anywhere. A constant leaf (no gradient of its own) is versioned
instead: the gate keeps the value it read, as for every other write.
"""

import numpy as np
import pytest

import circuitgrad as cg
from circuitgrad import nn


def _forward(p, x):
    return cg.sum(x * p)


@pytest.mark.parametrize("shape", [(), (3,), (200, 200)])  # a scalar, small, a Node record
def test_a_parameter_written_under_no_grad_before_backward_raises(shape):
    p = cg.tensor(np.full(shape, 2.0), requires_grad=True, name="w")
    x = cg.tensor(np.full(shape, 3.0), requires_grad=True)
    loss = _forward(p, x)
    with cg.no_grad():
        p -= 1.0
    with pytest.raises(cg.ChangedInPlaceError, match=r"gate 'mul'.*'w'.*changed in place"):
        loss.backward()
    assert x.grad is None and p.grad is None  # refused before anything was added


@pytest.mark.parametrize("change", ["setitem", "data", "iadd"])
def test_each_way_of_writing_outside_the_circuit_is_seen(change):
    p = cg.tensor(np.array([2.0, 2.0]), requires_grad=True)
    x = cg.tensor(np.array([3.0, 1.0]), requires_grad=True)
    loss = _forward(p, x)
    if change == "setitem":
        with cg.no_grad():
            p[0] = 5.0
    elif change == "data":
        p.data = np.array([5.0, 5.0])
    else:
        with cg.no_grad():
            p += 1.0
    with pytest.raises(cg.ChangedInPlaceError):
        loss.backward()


@pytest.mark.parametrize("make", [nn.SGD, nn.Adam])
def test_an_optimizer_step_between_forward_and_backward_raises(make):
    model = nn.Linear(3, 2)
    opt = make(model.parameters(), lr=0.1)
    X = np.ones((4, 3))
    cg.sum(model(X)).backward()
    opt.step()                      # the usual order: fine
    loss = cg.sum(model(X) ** 2)    # reads the updated weights
    opt.step()                      # (the first gradients again) changes them before
    with pytest.raises(cg.ChangedInPlaceError, match="optimizer step"):
        loss.backward()


def test_the_usual_training_loop_gives_the_hand_computed_gradients():
    w = cg.tensor(np.array([1.0, -2.0]), requires_grad=True)
    X = np.array([[1.0, 2.0], [3.0, 4.0]])
    for _ in range(3):
        before = w.numpy().copy()
        loss = cg.sum((X @ w) ** 2)
        loss.backward()
        np.testing.assert_allclose(w.grad, 2 * X.T @ (X @ before))
        with cg.no_grad():
            w -= 0.01 * w.grad
        w.grad = None


def test_a_second_backward_after_a_change_raises_with_retain_graph():
    p = cg.tensor(np.array([2.0, 2.0]), requires_grad=True)
    x = cg.tensor(np.array([3.0, 1.0]), requires_grad=True)
    loss = _forward(p, x)
    loss.backward(retain_graph=True)
    np.testing.assert_allclose(x.grad, [2.0, 2.0])
    with cg.no_grad():
        p *= 3.0
    with pytest.raises(cg.ChangedInPlaceError):
        loss.backward()
    np.testing.assert_allclose(x.grad, [2.0, 2.0])  # the first backward's, nothing added


def test_gates_recorded_after_the_change_read_the_new_value():
    p = cg.tensor(np.array([2.0, 2.0]), requires_grad=True)
    x = cg.tensor(np.array([3.0, 1.0]), requires_grad=True)
    with cg.no_grad():
        p += 3.0
    _forward(p, x).backward()
    np.testing.assert_allclose(x.grad, [5.0, 5.0])
    np.testing.assert_allclose(p.grad, [3.0, 1.0])


@pytest.mark.parametrize("grad_mode", [True, False])
def test_a_scalar_constant_written_after_use_keeps_the_value_the_gate_read(grad_mode):
    c = cg.tensor(2.0)
    x = cg.tensor(3.0, requires_grad=True)
    before = x * c
    with cg.enable_grad() if grad_mode else cg.no_grad():
        c[...] = 5.0
    after = x * c
    assert float(c) == 5.0 and float(before) == 6.0 and float(after) == 15.0
    before.backward()
    assert float(x.grad) == 2.0   # the value the gate read, not the one written since
    x.grad = None
    after.backward()
    assert float(x.grad) == 5.0


def test_a_scalar_parameter_through_the_fast_paths():
    # 0-d tensors take the compiled fast paths (_binary, _unary), which set _seen themselves
    a = cg.tensor(1.5, requires_grad=True)
    b = cg.tensor(-0.5, requires_grad=True)
    out = cg.tanh(a * b + a)
    with cg.no_grad():
        b -= 0.1
    with pytest.raises(cg.ChangedInPlaceError):
        out.backward()


@pytest.mark.parametrize("view", ["T", "row", "reshape"])
def test_a_view_of_a_parameter_shares_its_change(view):
    # W.T, W[0], W.reshape are views of W's array: a change to W reaches the value the
    # next gate read through the view, so the view's own gate must refuse too
    W = cg.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    X = cg.tensor(np.ones((4, 3)), requires_grad=True)
    V = {"T": lambda: W.T, "row": lambda: W[0][:, None], "reshape": lambda: W.reshape(3, 2)}
    loss = cg.sum((X @ V[view]()) ** 2)
    with cg.no_grad():
        W -= 1.0
    with pytest.raises(cg.ChangedInPlaceError):
        loss.backward()
    assert X.grad is None
