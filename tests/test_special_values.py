"""Special values and the crashes around them (the "Reliability" issue).

Gradients at NaN, zero and negative inputs follow PyTorch's conventions; the expected
numbers are written from those conventions (PyTorch's derivative formulas), and a comment
marks each place circuitgrad keeps a different answer. Every special-value case also runs
with warnings turned into errors: none of them may emit a NumPy RuntimeWarning.
"""

import warnings

import numpy as np
import pytest

import circuitgrad as cg
from circuitgrad import nn
from circuitgrad.staged import staged

NAN = np.nan
INF = np.inf


def _grads(f, *values):
    """The gradients of ``f(*tensors).sum()`` with respect to each input."""
    xs = [cg.tensor(np.array(v, dtype=np.float64), requires_grad=True) for v in values]
    f(*xs).sum().backward()
    return tuple(x.grad for x in xs)


# name: (the gradients, as a function of nothing, and the expected gradients)
SPECIAL = {
    # d/dy x**y = x**y * log(x): at x < 0 the power is not real-differentiable in y, and
    # PyTorch (like JAX and autograd) gives NaN; d/dx there is the formula's, 2 * -2.
    "power, negative base": (lambda: _grads(lambda x, y: x ** y, [-2.0], [2.0]),
                             ([-4.0], [NAN])),
    # PyTorch: d/dx is 0 where the exponent is 0 (the formula is 0 * 0**-1 there); d/dy is 0
    # where the base is 0 and the exponent >= 0 (0 * log 0 taken as 0).
    "power, 0 ** 0": (lambda: _grads(lambda x, y: x ** y, [0.0], [0.0]), ([0.0], [0.0])),
    "power, 0 ** 2": (lambda: _grads(lambda x, y: x ** y, [0.0], [2.0]), ([0.0], [0.0])),
    # 0.5 * 0**-0.5 is inf, in PyTorch too; no warning for it
    "power, 0 ** 0.5": (lambda: _grads(lambda x, y: x ** y, [0.0], [0.5]), ([INF], [0.0])),
    # A NaN input that is the output passes the gradient. PyTorch's relu backward
    # (threshold_backward: 0 where the output <= 0) passes it at NaN too: [1, 1, 0, 0].
    "relu of NaN": (lambda: _grads(lambda x: x.relu(), [NAN, 1.0, -1.0, 0.0]),
                    ([1.0, 1.0, 0.0, 0.0],)),
    # np.maximum(nan, 1) is the NaN input, which gets the gradient. PyTorch's maximum gives
    # the other input the gradient too (its masks, self < other and self > other, are both
    # false at a NaN): 1 and 1. circuitgrad keeps 1 and 0, so the inputs' gradients add up
    # to the upstream one, as at a tie (two NaNs: half each, where PyTorch gives 1 and 1).
    "maximum with NaN": (lambda: _grads(np.maximum, [NAN, 1.0, NAN, 3.0], [1.0, NAN, NAN, 2.0]),
                         ([1.0, 0.0, 0.5, 1.0], [0.0, 1.0, 0.5, 0.0])),
    "minimum with NaN": (lambda: _grads(np.minimum, [NAN, 1.0, NAN, 3.0], [1.0, NAN, NAN, 2.0]),
                         ([1.0, 0.0, 0.5, 0.0], [0.0, 1.0, 0.5, 1.0])),
    # np.clip(nan, 0, 1) is the NaN input: the gradient passes, as the issue asks. (PyTorch's
    # clamp backward masks with self >= min and self <= max, which reads as 0 at a NaN;
    # circuitgrad follows the rule above: the output is the input.)
    "clip of NaN": (lambda: _grads(lambda x: np.clip(x, 0.0, 1.0), [NAN, 2.0, -1.0, 0.5]),
                    ([1.0, 0.0, 0.0, 1.0],)),
    # a differentiable bound makes maximum/minimum gates: the NaN input still gets it all
    "clip of NaN, tensor bound": (lambda: _grads(lambda x, lo: cg.clip(x, lo, 1.0), [NAN], [0.0]),
                                  ([1.0], [0.0])),
    # np.max propagates NaN: the NaN entries are the max and share its gradient, as PyTorch's
    # max() (evenly_distribute_backward) shares it among the NaN entries.
    "max of NaN": (lambda: _grads(np.max, [NAN, 1.0]), ([1.0, 0.0],)),
    "max of two NaNs": (lambda: _grads(np.max, [NAN, 1.0, NAN]), ([0.5, 0.0, 0.5],)),
    "max of NaN, axis": (lambda: _grads(lambda x: np.max(x, axis=1), [[NAN, 1.0], [2.0, 3.0]]),
                         ([[1.0, 0.0], [0.0, 1.0]],)),
    "min of NaN": (lambda: _grads(np.min, [1.0, NAN]), ([0.0, 1.0],)),
    # the 2-norm at 0: PyTorch's norm backward gives 0 where the norm is 0 (not x / 0)
    "norm of zeros": (lambda: _grads(np.linalg.norm, [0.0, 0.0]), ([0.0, 0.0],)),
    "norm of zeros, per row": (lambda: _grads(lambda x: np.linalg.norm(x, axis=1),
                                              [[0.0, 0.0], [3.0, 4.0]]),
                               ([[0.0, 0.0], [0.6, 0.8]],)),
    "Frobenius norm of zeros": (lambda: _grads(lambda x: cg.linalg.norm(x, "fro"),
                                               [[0.0, 0.0], [0.0, 0.0]]),
                                ([[0.0, 0.0], [0.0, 0.0]],)),
    # std of constant data: 0, as the issue reports PyTorch gives; the other row's std is 1,
    # with gradient (x - mean) / (n * std) = [-0.5, 0.5]
    "std of a constant": (lambda: _grads(np.std, [2.0, 2.0, 2.0]), ([0.0, 0.0, 0.0],)),
    "std, a constant row": (lambda: _grads(lambda x: np.std(x, axis=1), [[1.0, 1.0], [1.0, 3.0]]),
                            ([[0.0, 0.0], [-0.5, 0.5]],)),
}


@pytest.mark.parametrize("name", SPECIAL)
def test_special_value_gradient_follows_the_convention_without_warnings(name):
    compute, expected = SPECIAL[name]
    with warnings.catch_warnings(), np.errstate(all="warn"):
        warnings.simplefilter("error")  # a NumPy RuntimeWarning fails the case
        got = compute()
    assert len(got) == len(expected)
    for g, e in zip(got, expected, strict=True):
        assert isinstance(g, np.ndarray)
        np.testing.assert_allclose(g, np.array(e), rtol=1e-12, atol=0)  # NaN == NaN here


def test_power_at_zero_with_a_negative_exponent():
    # 0 ** -1 is inf (NumPy warns in the forward, as np.power does). PyTorch: d/dx is
    # -1 * 0**-2 = -inf, d/dy is inf * log 0 = -inf (base 0 with a negative exponent is not
    # the 0 case).
    with np.errstate(divide="ignore"):
        gx, gy = _grads(lambda x, y: x ** y, [0.0], [-1.0])
    np.testing.assert_array_equal(gx, [-INF])
    np.testing.assert_array_equal(gy, [-INF])


def test_power_second_derivative_away_from_the_zero_case():
    # d/dy (d/dx x**y) = x**(y-1) + y x**(y-1) log x: 0.5 at x = 2, y = 0, where the first
    # derivative in x is 0
    def dx(x, y):
        return cg.grad(lambda x: (x ** y).sum())(x)
    g = cg.grad(lambda y: dx(np.array([2.0]), y).sum())(np.array([0.0]))
    np.testing.assert_allclose(g, [0.5])


def test_the_staged_listing_writes_the_rules_at_special_values():
    # (every listed formula is also evaluated against the engine in test_draw.py)
    x = cg.tensor([0.0, 2.0], requires_grad=True, name="x")
    y = cg.tensor([0.0, 1.0], requires_grad=True, name="y")
    text = str(staged((x ** y).sum()))
    assert "where((x == 0) & (y == 0), 1, x)**(y - 1)" in text
    assert "log(where((x == 0) & (y >= 0), 1, x))" in text
    n = cg.tensor([np.nan, 1.0], requires_grad=True, name="n")
    text = str(staged(np.max(n)))
    assert "dn = ((n == f) | isnan(n)) * df = [1.000, 0.000]" in text


# ----- size-0 tensors ---------------------------------------------------------------------
@pytest.mark.parametrize("name", ["sum", "mean", "var", "std"])
@pytest.mark.parametrize("axis", [None, 0, 1])
def test_reductions_of_an_empty_tensor_have_an_empty_gradient(name, axis):
    x = cg.tensor(np.zeros((0, 3)), requires_grad=True)
    with warnings.catch_warnings(), np.errstate(all="ignore"):  # NumPy warns: empty mean
        warnings.simplefilter("ignore")
        y = getattr(np, name)(x, axis=axis)
        expected = getattr(np, name)(np.zeros((0, 3)), axis=axis)
        y.sum().backward()
    np.testing.assert_array_equal(y.data, expected)  # NumPy's value: 0, NaN or empty
    assert isinstance(x.grad, np.ndarray) and x.grad.shape == (0, 3)


def test_mean_of_an_empty_axis_backward():
    # was a bare ZeroDivisionError; PyTorch gives a zero gradient of the input's shape
    x = cg.tensor(np.zeros((0, 3)), requires_grad=True)
    with np.errstate(invalid="ignore"):  # the forward is 0 / 0 = NaN, as in NumPy
        m = x.mean(axis=0)
    np.testing.assert_array_equal(m.data, [NAN, NAN, NAN])
    m.backward(np.ones(3))
    assert x.grad.shape == (0, 3) and x.grad.dtype == np.float64


def test_max_of_an_empty_tensor_raises_numpys_value_error():
    x = cg.tensor(np.zeros((0, 3)), requires_grad=True)
    with pytest.raises(ValueError, match="zero-size array"):
        np.max(x)
    with pytest.raises(ValueError, match="zero-size array"):
        x.max(axis=0)
    y = x.max(axis=1)  # each of the zero rows has three entries: shape (0,), as in NumPy
    y.sum().backward()
    assert y.shape == (0,) and x.grad.shape == (0, 3)


# ----- the upstream gradient given as a Tensor ----------------------------------------------
def test_backward_with_a_tensor_gradient_leaves_an_array():
    x = cg.tensor([1.0, 2.0], requires_grad=True)
    (x * x).backward(cg.tensor([1.0, 3.0]))
    assert type(x.grad) is np.ndarray
    np.testing.assert_array_equal(x.grad, [2.0, 12.0])
    (x * x).backward(cg.tensor([1.0, 1.0]))  # adds up as arrays
    np.testing.assert_array_equal(x.grad, [4.0, 16.0])


@pytest.mark.parametrize("optimizer", [nn.SGD, nn.Adam])
def test_optimizers_step_after_backward_with_a_tensor_gradient(optimizer):
    p = cg.tensor([1.0, 2.0], requires_grad=True)
    opt = optimizer([p], lr=0.1)
    (p * p).backward(cg.tensor([1.0, 1.0]))  # gradient [2, 4]
    opt.step()
    # SGD: p - 0.1 * [2, 4]; Adam's first step moves each entry by lr (m / sqrt(v) = 1)
    expected = [0.8, 1.6] if optimizer is nn.SGD else [0.9, 1.9]
    np.testing.assert_allclose(p.data, expected)


def test_a_tensor_gradient_that_needs_one():
    x = cg.tensor([1.0, 2.0], requires_grad=True)
    g = cg.tensor([1.0, 3.0], requires_grad=True)
    # without create_graph nothing is built for the gradients: only g's value counts
    (x * x).backward(g)
    assert type(x.grad) is np.ndarray and g.grad is None
    np.testing.assert_array_equal(x.grad, [2.0, 12.0])
    # with create_graph the gradient 2 x g is a circuit in g (and x): d sum(x.grad) / dg = 2x
    x.grad = None
    (x * x).backward(g, create_graph=True)
    assert isinstance(x.grad, cg.Tensor)
    x.grad.sum().backward()
    np.testing.assert_array_equal(g.grad, [2.0, 4.0])


# ----- boolean indices ----------------------------------------------------------------------
@pytest.mark.parametrize("index", [np.True_, np.False_, True, False])
@pytest.mark.parametrize("shape", [(), (2,)])
def test_indexing_with_a_boolean_scalar_is_numpys(index, shape):
    data = np.arange(1.0, 1.0 + np.prod(shape)).reshape(shape)
    x = cg.tensor(data, requires_grad=True)
    y = x[index]
    np.testing.assert_array_equal(y.data, data[index])  # a new axis of length 1 (or 0)
    (3 * y).sum().backward()
    np.testing.assert_array_equal(x.grad, np.full(shape, 3.0 if index else 0.0))


def test_a_zero_dim_mask_picks_a_zero_dim_tensor():
    x = cg.tensor(2.0, requires_grad=True)
    y = x[x.data > 0]  # np.bool_: NumPy's 0-d mask
    np.testing.assert_array_equal(y.data, [2.0])
    y.sum().backward()
    assert x.grad == 1.0
    z = cg.tensor(-2.0, requires_grad=True)
    assert z[z > 0].shape == (0,)
    v = cg.tensor([1.0, 2.0], requires_grad=True)
    v[np.True_, 1].sum().backward()
    np.testing.assert_array_equal(v.grad, [0.0, 1.0])


# ----- jacobian at a size-0 input -------------------------------------------------------------
@pytest.mark.parametrize("mode", ["fwd", "rev"])
@pytest.mark.parametrize("shape", [(0,), (0, 3)])
def test_jacobian_of_an_empty_input(mode, shape):
    seen = []

    def f(x):
        seen.append(type(x))
        return np.concatenate([np.ravel(x) * 2, np.ones(2)])
    jac = cg.jacobian(f, mode=mode)(np.zeros(shape))
    assert jac.shape == (2,) + shape
    assert seen and all(t is cg.Tensor for t in seen)  # f gets tensors, as everywhere

    seen.clear()
    jac = cg.jacobian(lambda x: (seen.append(type(x)), np.sum(x))[1], mode=mode)(np.zeros(shape))
    assert jac.shape == shape and all(t is cg.Tensor for t in seen)


@pytest.mark.parametrize("mode", ["fwd", "rev"])
def test_jacobian_of_an_empty_output(mode):
    jac = cg.jacobian(lambda x: x[:0] * 2, mode=mode)(np.ones(3))
    assert jac.shape == (0, 3)


# ----- cg.tensor of tensors -----------------------------------------------------------------
def test_tensor_of_tensors_that_need_gradients_says_to_stack():
    a, b = cg.tensor(1.0, requires_grad=True), cg.tensor(2.0, requires_grad=True)
    with pytest.raises(cg.NotDifferentiableError, match=r"use cg\.stack"):
        cg.tensor([a, b])
    # constants are values: the list is a tensor of them
    np.testing.assert_array_equal(cg.tensor([cg.tensor(1.0), cg.tensor(2.0)]).data, [1.0, 2.0])
    # what to write instead: a gradient for each
    s = cg.stack([a, b])
    (s * np.array([3.0, 4.0])).sum().backward()
    assert (a.grad, b.grad) == (3.0, 4.0)


# ----- float_power --------------------------------------------------------------------------
def test_float_power_of_float32_is_float64_with_float32_gradients():
    x = cg.tensor(np.float32([2.0, 3.0]), requires_grad=True)
    y = cg.tensor(np.float32([2.0, 0.5]), requires_grad=True)
    z = np.float_power(x, y)
    assert z.dtype == np.float64 == np.float_power(x.data, y.data).dtype
    np.testing.assert_allclose(z.data, [4.0, np.sqrt(3.0)])
    z.sum().backward()
    # d/dx = y x**(y-1) = [4, 0.5 / sqrt 3]; d/dy = x**y log x = [4 log 2, sqrt 3 log 3],
    # computed in float64 and cast back at the float32 inputs
    assert x.grad.dtype == np.float32 and y.grad.dtype == np.float32
    np.testing.assert_allclose(x.grad, [4.0, 0.5 / np.sqrt(3.0)], rtol=1e-6)
    np.testing.assert_allclose(y.grad, [4 * np.log(2.0), np.sqrt(3.0) * np.log(3.0)], rtol=1e-6)
    assert np.float_power(x, 2).dtype == np.float64  # a number exponent too
    assert np.float_power(2, x).dtype == np.float64
    assert cg.float_power(x, y).dtype == np.float64
