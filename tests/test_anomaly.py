"""Anomaly mode: the first gate whose forward value or gradient is not finite, although what
it was computed from is, raises AnomalyError naming the gate, its inputs' shapes and the
line of the user's code that made it; nn.fit reports it with the epoch and step."""

import numpy as np
import pytest

import circuitgrad as cg
from circuitgrad import nn

THIS_FILE = __file__


@pytest.fixture(autouse=True)
def _quiet():
    with np.errstate(all="ignore"):  # NumPy's own warnings: the anomaly error says more
        yield


def leaf(value):
    return cg.tensor(np.asarray(value, dtype=float), requires_grad=True)


def test_a_nan_gradient_names_the_gate_its_shapes_and_the_line_that_made_it():
    x = leaf([0.0, 1.0])
    with cg.detect_anomaly(), pytest.raises(cg.AnomalyError) as info:
        y = (np.sqrt(x) * 0).sum()  # sqrt'(0) = inf, times the upstream 0: NaN
        y.backward()
    message = str(info.value)
    assert "backward of gate 'sqrt'" in message and "1 NaN of 2 entries" in message
    assert "shapes: (2,)" in message
    assert f"{THIS_FILE}:" in message and "y = (np.sqrt(x) * 0).sum()" in message


@pytest.mark.parametrize("make, gate", [
    (lambda x: np.log(x - 1.0), "log"),             # log(-1) NaN, log(0) -inf
    (lambda x: (x - 1.0) / (x - 1.0), "div"),       # 0 / 0
    (lambda x: np.exp(x * 1000.0), "exp"),          # overflow to inf
    (lambda x: np.arccos(x + 1.5), "arccos"),       # outside [-1, 1]
])
def test_a_value_that_stops_being_finite_in_the_forward_pass_names_its_gate(make, gate):
    x = leaf([0.0, 1.0])
    with cg.detect_anomaly(), pytest.raises(cg.AnomalyError, match=f"forward value of gate "
                                                                   f"'{gate}'"):
        make(x)


@pytest.mark.parametrize("f, x0, gate", [
    (lambda x: np.arcsin(x).sum(), [1.0, 0.5], "arcsin"),          # 1 / sqrt(1 - 1): inf
    (lambda x: np.abs(x) ** 0.5, [0.0], "pow_const"),             # 0.5 * 0 ** -0.5: inf
    (lambda x: cg.tensor([-2.0, -3.0]) ** x, [2.0, 3.0], "pow"),   # d/dy at x < 0: NaN
])
def test_grad_with_the_flag_raises_at_the_gate_where_the_gradient_breaks(f, x0, gate):
    with pytest.raises(cg.AnomalyError, match="backward of gate" + (f" '{gate}'" if gate else "")):
        cg.grad(lambda x: np.sum(f(x)), detect_anomaly=True)(np.array(x0))


def test_backward_with_the_flag_checks_the_gradients():
    x = leaf([0.0, 4.0])
    y = (np.sqrt(x) * 0).sum()  # made outside anomaly mode: where is not known
    with pytest.raises(cg.AnomalyError, match="sqrt.*not known"):
        y.backward(detect_anomaly=True)


def test_finite_circuits_and_nan_data_raise_nothing():
    x = leaf(np.linspace(0.1, 1.0, 6).reshape(2, 3))
    with cg.detect_anomaly():
        (np.tanh(x @ x.T) ** 2).sum().backward()
        assert cg.is_anomaly_enabled()
    assert not cg.is_anomaly_enabled()
    np.testing.assert_allclose(x.grad, cg.grad(lambda x: (np.tanh(x @ x.T) ** 2).sum())(x.data))
    # a NaN already in the data is not the gate's doing (nansum's own where skips it)
    data = leaf([np.nan, 1.0, 2.0])
    with cg.detect_anomaly():
        np.nansum(data * 2).backward()
    np.testing.assert_array_equal(data.grad, [0.0, 2.0, 2.0])


def test_a_nan_made_by_a_rule_from_nan_inputs_says_so():
    x = leaf([np.nan, 1.0])
    with cg.detect_anomaly(), pytest.raises(cg.AnomalyError, match="input values are not finite"):
        (x * x).sum().backward()  # d(x*x)/dx = 2x: NaN at the NaN


def test_floating_point_errors_name_the_gate():
    x = leaf([0.0, 1.0])
    with np.errstate(all="raise"), pytest.raises(FloatingPointError, match="gate 'log'"):
        np.log(x)
    y = (np.sqrt(x) * 0).sum()
    with np.errstate(all="raise"), cg.detect_anomaly(), \
            pytest.raises(FloatingPointError, match="backward of gate 'sqrt'"):
        y.backward()


def test_fit_names_the_gate_where_the_loss_became_nan():
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((16, 4)), np.arange(16) % 3
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))

    def loss_fn(scores, labels):
        return nn.softmax_cross_entropy(scores, labels) + np.log(scores - 1e3).sum() * 0
    loader = nn.DataLoader(nn.Dataset(X, y), batch_size=8)
    with pytest.raises(nn.TrainingError, match=r"epoch 1, step 1 .*gate 'log'.*in loss_fn"):
        nn.fit(model, loader, loss_fn, nn.SGD(model.parameters(), lr=0.1), 1)


def test_fit_with_the_flag_catches_a_gradient_that_breaks_while_the_loss_is_finite():
    X, y = np.zeros((8, 2)), np.arange(8) % 2
    model = nn.Sequential(nn.Linear(2, 2))

    def loss_fn(scores, labels):  # sqrt(0): the loss is finite, its gradient is not
        return nn.softmax_cross_entropy(scores, labels) + np.sqrt(np.abs(scores)).sum()
    loader = nn.DataLoader(nn.Dataset(X, y), batch_size=8)
    model[0].bias.data[...] = 0.0
    with pytest.raises(nn.TrainingError, match="backward of gate"):
        nn.fit(model, loader, loss_fn, nn.SGD(model.parameters(), lr=0.1), 1,
               detect_anomaly=True)
