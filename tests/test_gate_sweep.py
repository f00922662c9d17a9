"""Every primitive gate against central differences in float64, over drawn shapes.

The cases (how to call each gate, which inputs suit it) live in ``gate_samples.py``, family
by family; this file only drives them.
"""

import contextlib

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import mutually_broadcastable_shapes

import circuitgrad as cg
from circuitgrad.core import node
from circuitgrad.gates import all_gates
from gate_samples import all_cases

CASES = all_cases()
SHAPES = mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4, min_side=0,
                                       max_side=4)
EPS = 1e-6
RTOL = 1e-6
ATOL = 1e-7  # central differences of a projected sum carry ~1e-9 of round-off


def test_every_gate_has_a_sweep_case():
    covered = {id(case.gate) for case in CASES}
    missing = [gate.name for gate in all_gates() if id(gate) not in covered]
    assert not missing, f"gates without a sweep case: {missing}"


def numeric_gradient(fn, arrays, k, g):
    """d/dx_k of sum(fn(x) * g), by central differences, element by element."""
    def projected(values):
        with np.errstate(all="ignore"):
            out = fn(*[cg.tensor(v) for v in values]).data
            return float(np.sum(np.asarray(out, dtype=np.float64) * g))

    base = arrays[k]
    grad = np.zeros_like(base)
    for j in np.ndindex(base.shape):
        values = list(arrays)
        plus, minus = base.copy(), base.copy()
        plus[j] += EPS
        minus[j] -= EPS
        values[k] = plus
        f_plus = projected(values)
        values[k] = minus
        grad[j] = (f_plus - projected(values)) / (2 * EPS)
    return grad


@contextlib.contextmanager
def values_kept_below(size):
    """Run with another size limit for keeping values no backward rule reads."""
    previous = node.KEEP_VALUES_BELOW
    node.KEEP_VALUES_BELOW = size
    try:
        yield
    finally:
        node.KEEP_VALUES_BELOW = previous


@pytest.mark.parametrize("case", CASES, ids=repr)
@settings(max_examples=40)
@given(shapes=SHAPES, seed=st.integers(0, 2**32 - 1))
def test_gradient_matches_central_differences(case, shapes, seed):
    check_against_central_differences(case, shapes, seed)


@pytest.mark.parametrize("case", CASES, ids=repr)
@settings(max_examples=15)
@given(shapes=SHAPES, seed=st.integers(0, 2**32 - 1))
def test_gradient_when_unread_values_are_released(case, shapes, seed):
    """Every array gets a separate Node, so a gate's ``saves`` declaration is put to test."""
    with values_kept_below(0):
        check_against_central_differences(case, shapes, seed)


def check_against_central_differences(case, shapes, seed):
    rng = np.random.default_rng(seed)
    arrays = case.make(rng, *shapes.input_shapes)
    assume(arrays is not None)
    arrays = [np.array(a, dtype=np.float64) for a in arrays]
    originals = [a.copy() for a in arrays]
    xs = [cg.tensor(a, requires_grad=True) for a in arrays]
    out = case.fn(*xs)
    g = rng.standard_normal(out.shape)
    g_before = g.copy()
    out.backward(g)

    for k, (x, a) in enumerate(zip(xs, arrays, strict=True)):
        assert x.grad is not None, f"input {k} got no gradient"
        assert np.shape(x.grad) == a.shape, f"input {k}: gradient shape {np.shape(x.grad)}"
        assert np.asarray(x.grad).dtype == np.float64
        numeric = numeric_gradient(case.fn, arrays, k, g)
        analytic = np.asarray(x.grad)
        err = np.abs(analytic - numeric)
        scale = np.maximum(np.abs(analytic), np.abs(numeric))
        bad = (err > RTOL * scale) & (err > ATOL)
        assert not bad.any(), (
            f"input {k}: analytic {analytic[bad][:4]} vs numeric {numeric[bad][:4]}")

    for a, original in zip(arrays, originals, strict=True):
        np.testing.assert_array_equal(a, original)  # inputs untouched
    np.testing.assert_array_equal(g, g_before)      # upstream gradient untouched
    grads = [np.asarray(x.grad) for x in xs]
    for i, gi in enumerate(grads):
        assert not np.shares_memory(gi, g), f"gradient {i} aliases the upstream gradient"
        for a in arrays:
            assert not np.shares_memory(gi, a), f"gradient {i} aliases an input"
        for j in range(i):
            assert not np.shares_memory(gi, grads[j]), f"gradients {j} and {i} alias"
