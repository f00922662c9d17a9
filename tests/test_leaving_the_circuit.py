"""Every way a value can leave the circuit while a gradient is taken raises, saying what to
write instead; outside transforms ``float(loss)`` keeps working; in-place updates."""

import math

import numpy as np
import pytest

import circuitgrad as cg
from circuitgrad import nn


def _fill_plain_array(x):  # the naive-conv habit: a NumPy array filled in a loop
    out = np.zeros(3)
    for i in range(3):
        out[i] = x[i] * 2
    return out.sum()


LEAKS = {
    "float": lambda x: float(x.sum()),
    "complex": lambda x: complex(x.sum()),
    "item": lambda x: x.sum().item(),
    "tolist": lambda x: np.array(x.tolist()).sum(),
    "math.exp": lambda x: math.exp(x.sum()),
    "np.float64": lambda x: np.float64(x.sum()),
    "np.fromiter": lambda x: np.fromiter(x * 1.0, dtype=float).sum(),
    "np.asarray": lambda x: np.asarray(x).sum(),
    "a NumPy array filled in a loop": _fill_plain_array,
}


def _raises_naming_the_gradient(run):
    with pytest.raises((cg.NotDifferentiableError, ValueError, TypeError)) as info:
        run()
    err = info.value
    while not isinstance(err, cg.NotDifferentiableError):  # NumPy wraps it: ... from ours
        err = err.__cause__ or err.__context__
        assert err is not None, f"no NotDifferentiableError behind {info.value!r}"
    assert "gradient" in str(err)


@pytest.mark.parametrize("leak", LEAKS.values(), ids=LEAKS.keys())
def test_a_value_leaving_the_circuit_inside_grad_raises(leak):
    _raises_naming_the_gradient(lambda: cg.grad(leak)(np.array([0.5, 1.0, 2.0])))


@pytest.mark.parametrize("leak", [LEAKS[k] for k in ("float", "np.float64", "np.asarray")])
def test_a_value_leaving_the_circuit_inside_jvp_raises(leak):
    _raises_naming_the_gradient(lambda: cg.jvp(leak, (np.array([0.5, 1.0, 2.0]),),
                                               (np.ones(3),)))


def test_float_of_a_loss_outside_transforms_works_as_in_pytorch():
    w = cg.tensor([1.0, 2.0], requires_grad=True)
    loss = (w * w).sum()
    loss.backward()
    assert float(loss) == 5.0 and loss.item() == 5.0 and loss.tolist() == 5.0
    # and inside a transform, on values that carry no gradient of it
    assert cg.grad(lambda x: x * float(w.data.sum()))(2.0) == 3.0


def test_parameter_updates_in_place_under_no_grad_and_refused_while_recording():
    nn.manual_seed(0)
    model = nn.Linear(3, 2)
    model(np.ones((4, 3))).sum().backward()
    before = {id(p): p.data.copy() for p in model.parameters()}
    with pytest.raises(cg.NotDifferentiableError, match="no_grad"):
        for p in model.parameters():
            p -= 0.1 * p.grad
    with cg.no_grad():
        for p in model.parameters():
            p -= 0.1 * p.grad
    for p in model.parameters():
        np.testing.assert_allclose(p.data, before[id(p)] - 0.1 * p.grad)


@pytest.mark.parametrize("op", ["+=", "-=", "*=", "/=", "**="])
def test_in_place_operators_on_an_intermediate_give_the_functional_gradient(op):
    def written(x):
        h = x * 1.5
        exec(f"h {op} x + 2.0", {}, env := {"h": h, "x": x})  # noqa: S102 -- the operator
        return env["h"].sum()

    plain = {"+=": np.add, "-=": np.subtract, "*=": np.multiply, "/=": np.divide,
             "**=": np.power}[op]
    x = np.array([0.5, 1.0, 2.0])
    np.testing.assert_allclose(cg.grad(written)(x),
                               cg.grad(lambda v: plain(v * 1.5, v + 2.0).sum())(x))


def test_in_place_operators_on_a_constant_update_it():
    c = cg.tensor([1.0, 2.0])
    alias = c.data
    c += 1
    c *= cg.tensor([2.0, 3.0])
    assert c.tolist() == [4.0, 9.0] and alias.tolist() == [4.0, 9.0]  # in place, as NumPy
    with pytest.raises(cg.ShapeError, match="change its shape"):
        c += np.ones((2, 2))


def test_copy_ravel_astype_and_range_indices_pass_gradients():
    x = np.arange(6.0).reshape(2, 3) / 7

    def f(t):
        return (t.copy().ravel()[range(4)] ** 2).sum() + t.astype(np.float64, copy=False).sum()

    expected = 2 * x.ravel() * (np.arange(6) < 4) + 1
    np.testing.assert_allclose(cg.grad(f)(x).ravel(), expected)
    assert cg.check_grad(lambda t: np.copy(t) * t, x).ok
