"""The circuit as an object: read from tensors or traced from functions, printed,
evaluated on new inputs, and (traced with backward=True) the backward pass as a circuit."""

import numpy as np
import pytest

import circuitgrad as cg
from circuitgrad import nn
from circuitgrad.core.graph import topological
from circuitgrad.tensor import apply


def softmax_loss(W, X, y):  # the README's plain-NumPy loss
    scores = X @ W
    scores = scores - np.max(scores, axis=1, keepdims=True)
    probs = np.exp(scores) / np.sum(np.exp(scores), axis=1, keepdims=True)
    return -np.mean(np.log(probs[np.arange(len(y)), y]))


def test_read_lists_every_gate_once_in_forward_order():
    x = cg.tensor(3.0, requires_grad=True, name="x")
    y = cg.tensor(-4.0, requires_grad=True, name="y")
    q = (x + y).retain_grad()
    q.name = "q"
    f = (x + cg.sigmoid(y)) / (cg.sigmoid(x) + q ** 2)
    c = cg.circuit(f)
    gates = [w for w in topological(f) if w.gate is not None]
    assert [eq.gate for eq in c.equations] == [w.gate for w in gates]
    assert [v.name for v in c.inputs] == ["x", "y"]
    assert "q = add(x, y)" in str(c)          # a user's name is kept
    seen = set()
    for eq in c.equations:                    # every input is defined before it is used
        for v in eq.inputs:
            if isinstance(v, cg.core.circuit.Var) and v.kind == "gate":
                assert id(v) in seen
        seen.add(id(eq.output))


def test_evaluate_reruns_the_circuit_on_new_inputs():
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((5, 4)), np.array([0, 2, 1, 1, 0])
    W = cg.tensor(rng.standard_normal((4, 3)), requires_grad=True, name="W")
    c = cg.circuit(softmax_loss(W, X, y))
    assert float(c.evaluate(W.data)[0]) == pytest.approx(float(softmax_loss(W.data, X, y)),
                                                         rel=1e-14)
    W2 = rng.standard_normal((4, 3))
    assert float(c.evaluate(W2)[0]) == pytest.approx(softmax_loss(W2, X, y), rel=1e-12)
    with pytest.raises(cg.CircuitError, match="takes 1 inputs"):
        c.evaluate(W2, W2)


def test_evaluate_through_apply_records_the_circuit_again():
    x = cg.tensor(0.7, requires_grad=True, name="x")
    c = cg.circuit(cg.tanh(x) * x)
    x2 = cg.tensor(0.3, requires_grad=True)
    (out,) = c.evaluate(x2, run=apply)
    out.backward()
    assert float(x2.grad) == pytest.approx((1 - np.tanh(0.3) ** 2) * 0.3 + np.tanh(0.3))


@pytest.mark.parametrize("f, args", [
    (lambda x, y: (x + cg.sigmoid(y)) / (cg.sigmoid(x) + (x + y) ** 2), (3.0, -4.0)),
    (lambda W, b: nn.softmax_cross_entropy(np.ones((6, 4)) @ W + b, np.arange(6) % 3),
     (np.linspace(-1, 1, 12).reshape(4, 3), np.array([0.1, -0.2, 0.3]))),
    (lambda W: softmax_loss(W, np.eye(4)[:3] + 0.5, np.array([0, 1, 2])),
     (np.linspace(-1, 1, 12).reshape(4, 3),)),
    (lambda a: cg.maximum(a, 0.2).max() + cg.logsumexp(a, axis=0).sum(),
     (np.array([[0.1, 0.5], [0.3, -0.4]]),)),
])
def test_the_backward_circuit_gives_the_gradients_grad_gives(f, args):
    c = cg.record(f, backward=True)(*args)
    assert len(c.inputs) == len(args) + 1 and c.inputs[-1].name == "g"
    assert len(c.outputs) == len(args) + 1
    seed = np.ones(np.shape(c.outputs[0].value))
    value, *grads = c.evaluate(*args, seed)
    expected_value, expected = cg.value_and_grad(f, argnums=tuple(range(len(args))))(*args)
    assert np.allclose(value, expected_value, rtol=1e-13)
    for got, want in zip(grads, expected, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)
    # and on other inputs: the backward circuit is a function, not a recording of numbers
    moved = [np.asarray(a) * 0.9 + 0.05 for a in args]
    _, *grads = c.evaluate(*moved, seed)
    _, expected = cg.value_and_grad(f, argnums=tuple(range(len(args))))(*moved)
    for got, want in zip(grads, expected, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-13)


def test_record_refuses_a_function_that_returns_no_tensor():
    with pytest.raises(cg.CircuitError, match="must return a Tensor"):
        cg.record(lambda x: 3.0)(1.0)
