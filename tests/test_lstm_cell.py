"""The fused LSTM-cell gate: the same numbers as the step written one gate per operation,
its staged listing runs and gives circuitgrad's gradients, bad shapes are refused. (The gate
sweep checks its rules against central differences; test_nn_recurrent checks the LSTM
through time.)"""

import numpy as np
import pytest

import circuitgrad as cg
from circuitgrad import functions as cgf
from circuitgrad import nn
from circuitgrad.core.circuit import read
from circuitgrad.errors import ShapeError
from circuitgrad.nn import functional as F
from test_explain import check

RNG = np.random.default_rng(31)


def one_gate_per_operation(pre, c):
    H = c.shape[-1]
    i, f = cgf.sigmoid(pre[..., :H]), cgf.sigmoid(pre[..., H:2 * H])
    g, o = cgf.tanh(pre[..., 2 * H:3 * H]), cgf.sigmoid(pre[..., 3 * H:])
    c = f * c + i * g
    return o * cgf.tanh(c), c


@pytest.mark.parametrize("shape", [(5, 3), (2, 4, 1), (6,)])
def test_values_and_gradients_are_those_of_the_step_gate_by_gate(shape):
    H = shape[-1]
    pre = 3 * RNG.standard_normal(shape[:-1] + (4 * H,))
    c = RNG.standard_normal(shape)
    weights = RNG.standard_normal(shape), RNG.standard_normal(shape)

    def loss(step):
        def f(pre, c):
            h, c_new = step(pre, c)
            return np.sum(h * weights[0]) + np.sum(np.tanh(c_new) * weights[1])
        return f
    fused, (dpre, dc) = cg.value_and_grad(loss(F.lstm_cell), argnums=(0, 1))(pre, c)
    plain, (want_dpre, want_dc) = cg.value_and_grad(loss(one_gate_per_operation),
                                                    argnums=(0, 1))(pre, c)
    np.testing.assert_allclose(fused, plain, rtol=1e-13)
    np.testing.assert_allclose(dpre, want_dpre, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(dc, want_dc, rtol=1e-12, atol=1e-14)


def test_float32_stays_float32_and_matches_float64():
    pre, c = RNG.standard_normal((4, 12)), RNG.standard_normal((4, 3))
    P = cg.tensor(pre.astype(np.float32), requires_grad=True)
    h, c_new = F.lstm_cell(P, c.astype(np.float32))
    assert h.dtype == c_new.dtype == np.float32
    (h.sum() + c_new.sum()).backward()
    assert P.grad.dtype == np.float32
    want = cg.grad(lambda p: np.sum(F.lstm_cell(p, c)[0]) + np.sum(F.lstm_cell(p, c)[1]))(pre)
    np.testing.assert_allclose(P.grad, want, rtol=2e-6, atol=1e-7)


def test_saturated_gates_give_finite_values_and_gradients():
    pre = np.array([[-800.0, 800.0, -800.0, 800.0]])  # exp(800) overflows float64
    dpre = cg.grad(lambda p: np.sum(F.lstm_cell(p, np.ones((1, 1)))[0]))(pre)
    h, c = F.lstm_cell(pre, np.ones((1, 1)))
    assert float(c[0, 0]) == 1.0 and np.isfinite(dpre).all()
    np.testing.assert_allclose(float(h[0, 0]), np.tanh(1.0))


def test_the_staged_listing_runs_and_gives_circuitgrads_gradients():
    W = RNG.standard_normal((3, 8))

    def step(x, h, c):
        h, c = F.lstm_cell(x @ W + h @ W[:2], c)
        return np.sum(h * h) + np.sum(c)
    staged = check(step, RNG.standard_normal((4, 3)), RNG.standard_normal((4, 2)),
                   RNG.standard_normal((4, 2)))
    assert "lstm_cell(" in staged.source
    assert "(1 - tanh_c**2)" in staged.source  # the backward formula, not a hidden call


def test_compile_runs_the_gate_and_agrees():
    def loss(pre, c):
        h, c_new = F.lstm_cell(pre, c)
        return np.sum(h) + np.sum(c_new * c_new)
    compiled = cg.compile(loss, argnums=(0, 1))
    pre, c = RNG.standard_normal((3, 8)), RNG.standard_normal((3, 2))
    value, grads = compiled(pre, c)
    want_value, want_grads = cg.value_and_grad(loss, argnums=(0, 1))(pre, c)
    np.testing.assert_allclose(value, want_value, rtol=1e-12)
    for got, want in zip(grads, want_grads, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("pre_shape, c_shape", [((4, 10), (4, 2)), ((4, 8), (3, 2)),
                                                ((4, 8), (4, 3)), ((), ())])
def test_bad_shapes_name_the_gate_and_both_shapes(pre_shape, c_shape):
    with pytest.raises(ShapeError, match=r"lstm_cell: the pre-activations must be \(\.\.\., "
                                         r"4H\).*" + re_shape(pre_shape)):
        F.lstm_cell(np.zeros(pre_shape), np.zeros(c_shape))


def re_shape(shape):
    return str(tuple(shape)).replace("(", r"\(").replace(")", r"\)")


def test_the_lstm_layer_uses_one_gate_per_cell():
    lstm = nn.LSTM(3, 4, rng=0)
    out, _ = lstm(RNG.standard_normal((5, 2, 3)).astype(np.float32))
    names = [eq.gate.name for eq in read(out).equations]
    assert names.count("lstm_cell") == 5
    assert "sigmoid" not in names and "tanh" not in names
