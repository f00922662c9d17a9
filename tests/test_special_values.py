"""Special values (the "Reliability" issue).

Gradients at NaN, zero and negative inputs follow PyTorch's conventions; the expected
numbers are written from those conventions (PyTorch's derivative formulas), and a comment
marks each place circuitgrad keeps a different answer. Every special-value case also runs
with warnings turned into errors: none of them may emit a NumPy RuntimeWarning.
"""

import warnings

import numpy as np
import pytest

import circuitgrad as cg

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
    text = str(cg.staged.staged((x ** y).sum()))
    assert "where((x == 0) & (y == 0), 1, x)**(y - 1)" in text
    assert "log(where((x == 0) & (y >= 0), 1, x))" in text
    n = cg.tensor([np.nan, 1.0], requires_grad=True, name="n")
    text = str(cg.staged.staged(np.max(n)))
    assert "dn = ((n == f) | isnan(n)) * df = [1.000, 0.000]" in text
