"""Forward mode and second derivatives of every gate, over the same cases as the sweep.

First order: the JVP agrees with the VJP through <vjp(c), t> = <c, jvp(t)> (to 1e-10) and
with central differences. Second order: the gradient of <f, c> differentiated again, by
reverse-over-reverse and by forward-over-reverse, agrees both ways and with central
differences of the gradient.
"""

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import circuitgrad as cg
from test_gate_sweep import CASES, SHAPES, values_kept_below

IDENTITY_TOL = 1e-10
FD_EPS = 1e-6
FD_TOL = 1e-6


def inner(a, b):
    return float(sum(np.sum(np.asarray(x, np.float64) * np.asarray(y, np.float64))
                     for x, y in zip(a, b, strict=True)))


def close(a, b, tol, scale):
    return abs(a - b) <= tol * (1.0 + scale)


def draw(case, shapes, seed):
    rng = np.random.default_rng(seed)
    arrays = case.make(rng, *shapes.input_shapes)
    assume(arrays is not None)
    arrays = [np.array(a, dtype=np.float64) for a in arrays]
    out = np.asarray(case.fn(*[cg.tensor(a) for a in arrays]).data)
    c = rng.standard_normal(out.shape)
    ts = [rng.standard_normal(a.shape) for a in arrays]
    return arrays, c, ts


def projected(case, c):
    """x -> <f(x), c>, a scalar function of all inputs."""
    return lambda *xs: (case.fn(*xs) * c).sum()


@pytest.mark.parametrize("case", CASES, ids=repr)
@settings(max_examples=8)
@given(shapes=SHAPES, seed=st.integers(0, 2**32 - 1))
def test_jvp_agrees_with_vjp_and_central_differences(case, shapes, seed):
    arrays, c, ts = draw(case, shapes, seed)
    _, back = cg.vjp(case.fn, *arrays)
    gs = back(c)
    _, out_t = cg.jvp(case.fn, arrays, ts)
    lhs, rhs = inner(gs, ts), inner([c], [out_t])
    assert close(lhs, rhs, IDENTITY_TOL, abs(lhs)), f"<vjp(c), t> {lhs} != <c, jvp(t)> {rhs}"

    def along(s):
        return np.asarray(case.fn(*[cg.tensor(a + s * t) for a, t in zip(arrays, ts,
                                                                          strict=True)]).data)
    with np.errstate(all="ignore"):
        numeric = (along(FD_EPS) - along(-FD_EPS)) / (2 * FD_EPS)
    np.testing.assert_allclose(np.asarray(out_t, np.float64), numeric, rtol=FD_TOL,
                               atol=1e-7)


@pytest.mark.parametrize("case", CASES, ids=repr)
@settings(max_examples=6)
@given(shapes=SHAPES, seed=st.integers(0, 2**32 - 1))
def test_second_derivatives_in_both_modes(case, shapes, seed):
    check_second_derivatives(case, shapes, seed)


@pytest.mark.parametrize("case", CASES, ids=repr)
@settings(max_examples=4)
@given(shapes=SHAPES, seed=st.integers(0, 2**32 - 1))
def test_second_derivatives_when_unread_values_are_released(case, shapes, seed):
    with values_kept_below(0):
        check_second_derivatives(case, shapes, seed)


def check_second_derivatives(case, shapes, seed):
    arrays, c, ts = draw(case, shapes, seed)
    nums = tuple(range(len(arrays)))
    gradient = cg.grad(projected(case, c), argnums=nums)

    # reverse over reverse: grad of <grad <f, c>, t>
    def gradient_along_t(*xs):
        return sum((g * t).sum() for g, t in zip(gradient(*xs), ts, strict=True))
    rr = cg.grad(gradient_along_t, argnums=nums)(*arrays)
    # forward over reverse: jvp of grad <f, c> along t
    _, fr = cg.jvp(gradient, arrays, [tuple(ts)][0])
    for k in nums:
        a, b = np.asarray(rr[k], np.float64), np.asarray(fr[k], np.float64)
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-10,
                                   err_msg=f"input {k}: reverse-over-reverse vs "
                                           f"forward-over-reverse")

    def gradient_at(s):
        return gradient(*[a + s * t for a, t in zip(arrays, ts, strict=True)])
    with np.errstate(all="ignore"):
        plus, minus = gradient_at(FD_EPS), gradient_at(-FD_EPS)
    for k in nums:
        numeric = (np.asarray(plus[k]) - np.asarray(minus[k])) / (2 * FD_EPS)
        np.testing.assert_allclose(np.asarray(fr[k], np.float64), numeric, rtol=FD_TOL,
                                   atol=1e-6, err_msg=f"input {k}: vs central differences")
