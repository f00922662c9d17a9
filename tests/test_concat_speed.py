"""concatenate's backward is linear in the number of inputs: the engine calls its
all-inputs rule once per gate, so the split points are computed once per gate, not once
per input (which made concatenating n tensors O(n^2)); and every input gets its own slice."""

import numpy as np
import pytest

import circuitgrad as cg
from circuitgrad.gates import shape


def leaves(*sizes, rng=None, width=None):
    rng = rng or np.random.default_rng(0)
    shapes = [(n,) if width is None else (width, n) for n in sizes]
    return [cg.tensor(rng.standard_normal(s), requires_grad=True) for s in shapes]


@pytest.mark.parametrize("create_graph", [False, True])
def test_split_points_are_computed_once_per_gate_not_once_per_input(monkeypatch,
                                                                     create_graph):
    calls = []
    original = shape._bounds
    monkeypatch.setattr(shape, "_bounds", lambda xs, axis: calls.append(1) or original(xs, axis))
    xs = leaves(*[2] * 200)
    w = np.arange(400.0)
    (cg.concatenate(xs) * w).sum().backward(create_graph=create_graph)
    assert len(calls) == 1
    for k, x in enumerate(xs):
        g = x.grad.data if create_graph else x.grad  # a Tensor under create_graph
        np.testing.assert_array_equal(g, w[2 * k:2 * k + 2])

def test_two_gates_with_one_upstream_gradient_and_different_splits():
    # add hands both concatenations the same gradient object, and their outputs have the
    # same shape: only the split points differ
    x, y, u, v = leaves(3, 5, 5, 3)
    w = np.arange(8.0)
    ((cg.concatenate([x, y]) + cg.concatenate([u, v])) * w).sum().backward()
    for t, expected in ((x, w[:3]), (y, w[3:]), (u, w[:5]), (v, w[5:])):
        np.testing.assert_array_equal(t.grad, expected)


def test_fresh_gates_in_turn_each_get_their_own_split():
    w = np.arange(12.0).reshape(2, 6)
    for k in range(1, 6):  # outputs of one shape, freed in turn: an id may be reused
        a, b = leaves(k, 6 - k, width=2)
        (cg.concatenate([a, b], axis=1) * w).sum().backward()
        np.testing.assert_array_equal(a.grad, w[:, :k])
        np.testing.assert_array_equal(b.grad, w[:, k:])


def test_retained_graph_and_large_outputs_whose_values_are_let_go():
    x, y = leaves(3000, 2000)  # large: the output is recorded by a stand-in value
    w = np.linspace(-1, 1, 5000)
    f = (cg.concatenate([x, y]) * w).sum()
    f.backward(retain_graph=True)
    f.backward()
    np.testing.assert_allclose(x.grad, 2 * w[:3000])
    np.testing.assert_allclose(y.grad, 2 * w[3000:])


def test_second_order_through_many_inputs():
    rng = np.random.default_rng(1)
    xs = [rng.standard_normal(n) for n in range(1, 30)]

    def f(xs):
        cat = cg.concatenate(xs)
        return (cat * cat * cat).sum()

    second = cg.grad(lambda xs: sum((g * 1.0).sum() for g in cg.grad(f)(xs)))(xs)
    for x, h in zip(xs, second, strict=True):
        np.testing.assert_allclose(np.asarray(h), 6 * x)
