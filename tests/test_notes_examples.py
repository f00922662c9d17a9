"""The worked examples of the CS231n backprop notes, with the notes' numbers.

Expected values are computed here by hand-written math, never by the code under test.
"""

import math

import numpy as np
import pytest

import circuitgrad as cg


def leaf(v):
    return cg.tensor(v, requires_grad=True)


def test_multiply_gate():
    x, y = leaf(4.0), leaf(-3.0)
    f = x * y
    f.backward()
    assert float(f) == -12.0
    assert float(x.grad) == -3.0  # df/dx = y
    assert float(y.grad) == 4.0   # df/dy = x


def test_add_then_multiply_with_intermediate_gradient():
    x, y, z = leaf(-2.0), leaf(5.0), leaf(-4.0)
    q = (x + y).retain_grad()
    f = q * z
    f.backward()
    assert float(q) == 3.0 and float(f) == -12.0
    assert float(z.grad) == 3.0    # df/dz = q
    assert float(q.grad) == -4.0   # df/dq = z
    assert float(x.grad) == -4.0 and float(y.grad) == -4.0  # add passes dq through


def test_max_routes_to_the_larger_input():
    x, y = leaf(4.0), leaf(2.0)
    cg.maximum(x, y).backward()
    assert float(x.grad) == 1.0 and float(y.grad) == 0.0


def sigmoid(v):
    return 1.0 / (1.0 + math.exp(-v))


def test_sigmoid_neuron_as_primitive_gates():
    w, x = leaf([2.0, -3.0, -3.0]), leaf([-1.0, -2.0])
    dot = w[0] * x[0] + w[1] * x[1] + w[2]
    f = 1.0 / (1.0 + cg.exp(-dot))
    f.backward()
    fv = sigmoid(2 * -1 + -3 * -2 + -3)
    local = (1 - fv) * fv
    assert float(f) == pytest.approx(0.73, abs=0.005) and float(f) == pytest.approx(fv)
    assert local == pytest.approx(0.2, abs=0.01)
    np.testing.assert_allclose(x.grad, [2 * local, -3 * local])
    np.testing.assert_allclose(w.grad, [-1 * local, -2 * local, local])
    np.testing.assert_allclose(x.grad, [0.39, -0.59], atol=0.005)
    np.testing.assert_allclose(w.grad, [-0.20, -0.39, 0.20], atol=0.005)


def test_sigmoid_neuron_with_the_sigmoid_gate():
    w, x = leaf([2.0, -3.0, -3.0]), leaf([-1.0, -2.0])
    f = cg.sigmoid(w[0] * x[0] + w[1] * x[1] + w[2])
    f.backward()
    np.testing.assert_allclose(x.grad, [0.39, -0.59], atol=0.005)
    np.testing.assert_allclose(w.grad, [-0.20, -0.39, 0.20], atol=0.005)


def staged_by_hand(x, y):
    """The notes' staged forward and backward, line for line."""
    sigy = 1.0 / (1 + math.exp(-y))
    num = x + sigy
    sigx = 1.0 / (1 + math.exp(-x))
    xpy = x + y
    xpysqr = xpy ** 2
    den = sigx + xpysqr
    invden = 1.0 / den
    f = num * invden
    dnum = invden
    dinvden = num
    dden = (-1.0 / (den ** 2)) * dinvden
    dsigx = (1) * dden
    dxpysqr = (1) * dden
    dxpy = (2 * xpy) * dxpysqr
    dx = (1) * dxpy
    dy = (1) * dxpy
    dx += ((1 - sigx) * sigx) * dsigx
    dx += (1) * dnum
    dsigy = (1) * dnum
    dy += ((1 - sigy) * sigy) * dsigy
    return f, dx, dy


def staged(x, y):
    return (x + cg.sigmoid(y)) / (cg.sigmoid(x) + (x + y) ** 2)


def test_staged_example_matches_hand_written_backward_and_central_differences():
    x, y = leaf(3.0), leaf(-4.0)
    f = staged(x, y)
    f.backward()
    f_hand, dx_hand, dy_hand = staged_by_hand(3.0, -4.0)
    assert float(f) == pytest.approx(f_hand, rel=1e-12)
    assert float(x.grad) == pytest.approx(dx_hand, rel=1e-12)
    assert float(y.grad) == pytest.approx(dy_hand, rel=1e-12)
    h = 1e-6
    dx_num = (staged_by_hand(3 + h, -4)[0] - staged_by_hand(3 - h, -4)[0]) / (2 * h)
    dy_num = (staged_by_hand(3, -4 + h)[0] - staged_by_hand(3, -4 - h)[0]) / (2 * h)
    assert float(x.grad) == pytest.approx(dx_num, rel=1e-7)
    assert float(y.grad) == pytest.approx(dy_num, rel=1e-7)
    assert cg.check_grad(staged, 3.0, -4.0).ok


def test_gradient_patterns_circuit():
    x, y, z, w = leaf(3.0), leaf(-4.0), leaf(2.0), leaf(-1.0)
    f = 2 * (x * y + cg.maximum(z, w))
    f.backward()
    assert [float(t.grad) for t in (x, y, z, w)] == [-8.0, 6.0, 2.0, 0.0]


def test_matrix_multiply_gradients_follow_the_shapes():
    rng = np.random.default_rng(0)
    W_, X_ = rng.standard_normal((5, 10)), rng.standard_normal((10, 3))
    W, X = leaf(W_), leaf(X_)
    D = W.dot(X)                      # as the notes write it
    dD = rng.standard_normal(D.shape)
    D.backward(dD)
    assert W.grad.shape == (5, 10) and X.grad.shape == (10, 3)
    np.testing.assert_allclose(W.grad, dD.dot(X_.T))
    np.testing.assert_allclose(X.grad, W_.T.dot(dD))
