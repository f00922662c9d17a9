"""check_grad: constant functions, large function values, low-precision inputs, and that a
gradient off by 1% is caught at any scale."""

import warnings

import numpy as np
import pytest

import circuitgrad as cg


class SquareOff(cg.Function):
    """sum(x * x) whose backward is off by a factor ``1 + error``."""

    error = 0.01

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.sum(x * x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved
        return g * 2 * x * (1 + SquareOff.error)


@pytest.mark.parametrize("f", [lambda a: cg.tensor(3.0), lambda a: 3.0, lambda a: np.ones(2)],
                         ids=["constant tensor", "python float", "array"])
def test_a_function_that_ignores_its_input_has_zero_gradient(f):
    report = cg.check_grad(f, np.array([1.0, 2.0]))
    assert report.ok
    assert report.inputs[0].analytic == 0.0 and report.inputs[0].numeric == 0.0


def test_a_value_computed_outside_the_circuit_is_still_caught():
    assert not cg.check_grad(lambda a: float(a.data.sum()), np.array([1.0, 2.0])).ok


def test_an_input_the_function_ignores_gets_zero_gradient():
    report = cg.check_grad(lambda a, b: (a * a).sum(), np.array([1.0, 2.0]), np.ones(3))
    assert report.ok and report.inputs[1].max_rel_error == 0.0


@pytest.mark.parametrize("directions", [None, 5])
def test_a_correct_gradient_passes_when_the_function_value_is_large(directions):
    rng = np.random.default_rng(0)
    x = 300 + rng.standard_normal(100)          # sum(x * x) is about 9e6
    report = cg.check_grad(lambda a: (a * a).sum(), x, directions=directions)
    assert report.ok, str(report)
    # the relative error is still reported as it is, with a note on why it is allowed
    if report.max_rel_error > 1e-6:
        assert any("central differences are only accurate" in n for n in report.notes)


@pytest.mark.parametrize("centre", [0.0, 1.0, 300.0, 1e4])
@pytest.mark.parametrize("directions", [None, 5])
def test_a_gradient_off_by_one_percent_fails_at_any_scale(centre, directions):
    rng = np.random.default_rng(1)
    x = centre + rng.standard_normal(50)
    assert not cg.check_grad(SquareOff.apply, x, directions=directions).ok
    SquareOff.error = 0.0
    try:
        assert cg.check_grad(SquareOff.apply, x, directions=directions).ok
    finally:
        SquareOff.error = 0.01


@pytest.mark.parametrize("dtype", [np.float16, np.float32])
def test_low_precision_inputs_are_checked_in_float64_with_a_note(dtype):
    name = np.dtype(dtype).name
    with pytest.warns(UserWarning, match=name):
        report = cg.check_grad(lambda a: a * a, np.ones(2, dtype))
    assert report.ok
    assert report.notes == [f"input 0 is {name}; checked in float64, since {name} central "
                            f"differences are too coarse to judge a gradient"]


def test_float64_inputs_get_no_note():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        report = cg.check_grad(lambda a: a * a, np.ones(2))
    assert report.ok and report.notes == []
