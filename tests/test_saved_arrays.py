"""A NumPy array a recorded gate keeps cannot change under it: the caller's arrays are
read-only until the backward pass has walked the gate (or the circuit is dropped), and a
constant tensor written after a gate read it keeps the old value for that gate. Each case
was a silent wrong gradient before (the issue "Reliability")."""

import gc

import numpy as np
import pytest

import circuitgrad as cg

READ_ONLY = "read-only"


def leaf(value):
    return cg.tensor(np.asarray(value, dtype=float), requires_grad=True)


def test_a_constant_array_is_read_only_until_the_backward_pass_and_the_gradient_is_right():
    C = np.array([1.0, 2.0, 3.0])
    x = leaf([1.0, 1.0, 1.0])
    y = (x * C).sum()
    with pytest.raises(ValueError, match=READ_ONLY):
        C[...] = 0
    y.backward()
    np.testing.assert_array_equal(x.grad, [1.0, 2.0, 3.0])
    C[...] = 0  # the walk is done with it: writeable again, as it was
    assert C.flags.writeable


def test_the_data_matrix_of_a_product_and_the_views_it_came_from():
    X = np.array([[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]])
    W = leaf(np.ones((3, 1)))
    y = (X[:, :2] @ W[:2]).sum()  # a view of X: X itself is locked too
    with pytest.raises(ValueError, match=READ_ONLY):
        X[0, 0] = 100.0
    y.backward()
    np.testing.assert_array_equal(W.grad, [[3.0], [5.0], [0.0]])
    X[0, 0] = 100.0


def test_the_array_cg_vjp_differentiates_at_is_read_only_while_its_vjp_function_lives():
    xa = np.array([1.0, 2.0])
    _, back = cg.vjp(lambda x: (x ** 2).sum(), xa)
    with pytest.raises(ValueError, match=READ_ONLY):
        xa[...] = 0
    np.testing.assert_array_equal(back(1.0)[0], [2.0, 4.0])
    np.testing.assert_array_equal(back(1.0)[0], [2.0, 4.0])  # may be called again
    del back
    xa[...] = 0


def test_a_constant_tensor_written_after_a_gate_read_it_keeps_the_old_value_for_that_gate():
    def f(x):
        c = np.ones_like(x)      # a constant tensor
        y = (x * c).sum()        # reads c = [1, 1]
        c[0] = 5.0               # a new version of c: y's gate keeps [1, 1]
        c += 1                   # [6, 2]
        return y + (x * c).sum()
    np.testing.assert_array_equal(cg.grad(f)(np.array([1.0, 2.0])), [7.0, 3.0])

    def g(x):
        c = np.arange(4.0)
        c_t = np.zeros_like(x) + 0  # not a leaf: its own versions protect it
        y = (x * cg.tensor(c)).sum() + (x * c_t).sum()
        return y
    np.testing.assert_array_equal(cg.grad(g)(np.ones(4)), [0.0, 1.0, 2.0, 3.0])


def test_two_circuits_keeping_one_array_unlock_it_when_both_are_done():
    C = np.array([2.0, 3.0])
    x = leaf([1.0, 1.0])
    y1, y2 = (x * C).sum(), (x * C * 2).sum()
    y1.backward()
    with pytest.raises(ValueError, match=READ_ONLY):
        C[0] = 0
    y2.backward()
    np.testing.assert_array_equal(x.grad, [6.0, 9.0])
    C[0] = 0


def test_retain_graph_keeps_the_lock_until_the_circuit_is_dropped():
    C = np.array([2.0, 3.0])
    x = leaf([1.0, 1.0])
    y = (x * C).sum()
    y.backward(retain_graph=True)
    with pytest.raises(ValueError, match=READ_ONLY):
        C[0] = 0
    del y
    gc.collect()
    C[0] = 0


def test_a_dropped_circuit_unlocks_and_read_only_arrays_stay_read_only():
    C = np.array([2.0, 3.0])
    x = leaf([1.0, 1.0])
    y = (x * C).sum()
    del y
    C[0] = 0  # nothing keeps it
    R = np.array([1.0, 2.0])
    R.flags.writeable = False
    x2 = leaf([1.0, 1.0])
    (x2 * R).sum().backward()
    assert not R.flags.writeable  # the caller's own setting, untouched


def test_arrays_the_rules_never_read_are_not_locked():
    B = np.array([1.0, 2.0])
    x = leaf([1.0, 1.0])
    y = (x + B).sum()  # add's rules read neither input
    B[0] = 10.0
    y.backward()
    np.testing.assert_array_equal(x.grad, [1.0, 1.0])
