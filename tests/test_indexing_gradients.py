"""getitem's gradient added into one buffer per wire (Gate.vjp_add, core/backward.py
``_add_into``): the plain walk's in-place path must give what the rule path gives
(``create_graph=True`` still runs getitem's rule, a scatter_add gate) and what central
differences give, whatever else reaches the same wire before or after."""

import numpy as np
import pytest

import circuitgrad as cg
from support import central_differences


def _grads_both_ways(f, x):
    """x's gradient of f by the plain walk (in place) and by the rule path (create_graph)."""
    plain = cg.tensor(x, requires_grad=True)
    f(plain).backward()
    ruled = cg.tensor(x, requires_grad=True)
    f(ruled).backward(create_graph=True)
    ruled_grad = ruled.grad  # a Tensor where it depends on x, else an array
    return plain.grad, getattr(ruled_grad, "data", ruled_grad)


def _loop_sum(x):
    s = x[0]
    for i in range(1, len(x)):
        s = s + x[i]
    return s


CASES = {
    "loop over entries": lambda x: _loop_sum(x * x),
    "builtin sum": lambda x: sum(x) * 2.0,
    "repeated integer index": lambda x: (x[[0, 0, 2, 0]] * np.arange(4.0)).sum(),
    "boolean mask": lambda x: (x[np.array([True, False, True, True, False])] ** 2).sum(),
    "index with None and Ellipsis": lambda x: (x[None, ..., 1:3] * 3.0).sum(),
    # a full-size gradient arrives first, then parts, then full-size again
    "mixed with full-size uses": lambda x: ((x * 3.0).sum() + x[0] * x[1] + x[[1, 1]].sum()
                                            + (x * x).sum()),
    # parts reach an intermediate, whose gradient then goes on through mul
    "parts of an intermediate": lambda x: _loop_sum(np.sin(x) * x),
    # broadcasting: a part scaled by a full-size array, and a part broadcast against x
    "broadcast part": lambda x: (x[2] * x).sum() + (x[1:2] + x).sum(),
}


@pytest.mark.parametrize("name", list(CASES))
def test_parts_added_in_place_match_the_rule_and_central_differences(name):
    f = CASES[name]
    x = np.array([0.3, -1.2, 0.7, 2.0, -0.4])
    plain, ruled = _grads_both_ways(f, x)
    np.testing.assert_allclose(plain, ruled, rtol=1e-12, atol=1e-12)
    numeric = central_differences(lambda v: f(cg.tensor(v)).data, x)
    np.testing.assert_allclose(plain, numeric, rtol=1e-6, atol=1e-7)


def test_rows_of_a_matrix_and_a_retained_intermediate():
    x = cg.tensor(np.arange(12.0).reshape(6, 2), requires_grad=True)
    y = x * 2.0
    y.retain_grad()
    s = y[0]
    for i in range(1, 6):
        s = s + y[i] * i
    s.sum().backward()
    want = np.repeat(np.maximum(np.arange(6.0), 1.0)[:, None], 2, axis=1)
    np.testing.assert_array_equal(y.grad, want)
    np.testing.assert_array_equal(x.grad, 2 * want)


def test_a_float32_wire_keeps_its_dtype_when_float64_parts_arrive():
    x = cg.tensor(np.ones(4, dtype=np.float32), requires_grad=True)
    (x[1:3] * np.array([2.0, 3.0])).sum().backward()  # float64 upstream gradient
    assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad, [0, 2, 3, 0])


def test_a_zero_d_wire_gets_a_numpy_scalar_gradient():
    x = cg.tensor(1.5, requires_grad=True)
    (x[()] + x[None].sum()).backward()
    assert float(x.grad) == 2.0 and np.ndim(x.grad) == 0


def test_the_callers_cotangent_is_never_changed_in_place():
    # y is an output itself, so its running gradient starts as the caller's cotangent;
    # the parts that arrive through y[0:2] must go into a copy
    x = np.array([1.0, 2.0, 3.0])
    c_y, c_part = np.ones(3), np.array([10.0, 20.0])
    _, back = cg.vjp(lambda v: (v * 2.0, (v * 2.0)[0:2]), x)
    (gx,) = back((c_y, c_part))
    np.testing.assert_array_equal(gx, [22.0, 42.0, 2.0])
    np.testing.assert_array_equal(c_y, np.ones(3))
    np.testing.assert_array_equal(c_part, [10.0, 20.0])


def test_gradients_handed_out_are_separate_arrays():
    x = cg.tensor(np.zeros(3), requires_grad=True)
    (x[0] + x[2]).backward()
    first = x.grad
    x.grad = None
    (x[0] + x[2]).backward()
    assert x.grad is not first
    first *= 0  # the user changes the first gradient: the second is not touched
    np.testing.assert_array_equal(x.grad, [1.0, 0.0, 1.0])


def test_second_order_through_a_loop_of_parts():
    x = np.array([0.5, -1.0, 2.0])
    hess = cg.hessian(lambda v: _loop_sum(v ** 3))(x)
    np.testing.assert_allclose(hess, np.diag(6 * x), rtol=1e-12)
    hv = cg.hvp(lambda v: _loop_sum(v ** 3), (x,), (np.ones(3),))
    np.testing.assert_allclose(hv, 6 * x, rtol=1e-12)


def test_forward_mode_through_parts():
    x = np.array([0.5, -1.0, 2.0])
    _, tangent = cg.jvp(lambda v: _loop_sum(v * v), (x,), (np.array([1.0, 0.0, 2.0]),))
    assert float(tangent) == pytest.approx(2 * (0.5 * 1.0 + 2.0 * 2.0))
