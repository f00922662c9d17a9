"""Circuit passes before code generation (compiler/passes.py): common subexpressions are
computed once, equations of constants become constants; each can be switched off, and the
results are the same with each on and off."""

import numpy as np
import pytest

import circuitgrad as cg
from circuitgrad import nn
from circuitgrad.compiler.passes import eliminate_common, fold_constants
from circuitgrad.core.circuit import read
from circuitgrad.errors import CircuitError

CHOICES = [None, (), ("cse",), ("fold",), ("cse", "fold")]
FIXED = np.linspace(-1.0, 1.0, 5)


def repeated(x, W):
    """sigmoid(x @ W) written twice, as a user might (no shared variable)."""
    a = cg.sigmoid(x @ W) * 2.0
    b = cg.sigmoid(x @ W) + 1.0
    return np.sum(a * b)


def with_constant(x):
    c = cg.tensor(FIXED, requires_grad=True)  # a leaf of the function's own: a constant
    return np.sum(x * np.exp(c) + np.tanh(c))


def _args(seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((3, 4)), rng.standard_normal((4, 5))


def _np(t):
    return t.data if isinstance(t, cg.Tensor) else t


def _products(source):
    """How many times the code multiplies x by W (``x @ W`` or ``matmul(x, W, out=...)``)."""
    return source.count("x @ W") + source.count("matmul(x, W,")


def _forward(source):
    return source.split("# backward pass")[0]


@pytest.mark.parametrize("passes", CHOICES, ids=repr)
def test_results_are_the_same_with_each_pass_on_and_off(passes):
    x, W = _args()
    want_value, want_grads = cg.value_and_grad(repeated, argnums=(0, 1))(x, W)
    fast = cg.compile(repeated, argnums=(0, 1), passes=passes)
    for seed in (0, 1, 2):  # the traced arguments, then others through the same code
        x, W = _args(seed)
        want_value, want_grads = cg.value_and_grad(repeated, argnums=(0, 1))(x, W)
        value, grads = fast(x, W)
        np.testing.assert_allclose(value, _np(want_value), rtol=1e-12)
        for g, w in zip(grads, want_grads, strict=True):
            np.testing.assert_allclose(g, _np(w), rtol=1e-11, atol=1e-13)
    assert fast.traces == 1
    x = np.random.default_rng(3).standard_normal(5)
    value, grad = cg.compile(with_constant, passes=passes)(x)
    want_value, want_grad = cg.value_and_grad(with_constant)(x)
    np.testing.assert_allclose(value, _np(want_value), rtol=1e-12)
    np.testing.assert_allclose(grad, _np(want_grad), rtol=1e-12)


def test_a_repeated_subexpression_is_computed_once():
    x, W = _args()
    on = cg.compile(repeated, argnums=(0, 1))
    off = cg.compile(repeated, argnums=(0, 1), passes=())
    on(x, W)
    off(x, W)
    assert _forward(off.source).count("sigmoid(") == 2
    assert _products(_forward(off.source)) == 2
    assert _forward(on.source).count("sigmoid(") == 1
    assert _products(_forward(on.source)) == 1


def test_an_equation_of_constants_is_folded():
    x = np.ones(5)
    on = cg.compile(with_constant, passes=("fold",))
    off = cg.compile(with_constant, passes=())
    on(x)
    off(x)
    assert "exp(" in off.source and "tanh(" in off.source
    assert "exp(" not in on.source and "tanh(" not in on.source
    # the folded values are the constants the code reads
    folded = [v for v in on.cache[next(iter(on.cache))].constants.values()
              if isinstance(v, np.ndarray) and v.shape == (5,)]
    assert any(np.array_equal(v, np.exp(FIXED)) for v in folded)


def _step(p, X, y):
    def loss(p):
        h1 = cg.relu(X @ p["W1"])
        h2 = cg.relu(X @ p["W1"])  # the same layer again: one matmul, one relu
        return nn.softmax_cross_entropy((h1 + h2) @ p["W2"], y)
    value, g = cg.value_and_grad(loss)(p)
    return {k: p[k] - 0.1 * g[k] for k in p}, value


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_compiled_step_with_and_without_cse(dtype):
    rng = np.random.default_rng(4)
    p0 = {"W1": (0.3 * rng.standard_normal((6, 8))).astype(dtype),
          "W2": (0.3 * rng.standard_normal((8, 3))).astype(dtype)}
    X, y = rng.standard_normal((10, 6)).astype(dtype), rng.integers(0, 3, 10)
    runs = {}
    for passes in (None, ()):
        fast = cg.compile(_step, argnums=None, passes=passes)
        p = p0
        for _ in range(4):
            p, value = fast(p, X, y)
        runs[passes] = (p, float(value), fast.source)
    p_eager = p0
    for _ in range(4):
        p_eager, value_eager = _step(p_eager, X, y)
    tol = 2e-5 if dtype == np.float32 else 1e-12
    for p, value, _ in runs.values():
        np.testing.assert_allclose(value, float(_np(value_eager)), rtol=tol)
        for k in p0:
            np.testing.assert_allclose(p[k], _np(p_eager[k]), rtol=tol, atol=tol)
    assert _forward(runs[None][2]).count("(X, W1") == 1
    assert _forward(runs[()][2]).count("(X, W1") == 2


def test_signed_zeros_and_different_arrays_are_not_merged():
    x = cg.tensor(np.ones(3), requires_grad=True, name="x")
    a, b = np.arange(3.0), np.arange(3.0)
    c, merged = eliminate_common(read(x * 0.0 + x * -0.0 + x * a + x * b))
    assert merged == []
    assert len(c.equations) == 7
    c, merged = eliminate_common(read(x * a + x * a))
    assert len(merged) == 1 and len(c.equations) == 2


def test_folding_keeps_equations_that_read_an_argument():
    x = cg.tensor(np.ones(3), requires_grad=True, name="x")
    k = cg.tensor(np.full(3, 2.0), requires_grad=True, name="k")
    c = read(x * np.exp(k))
    folded, _ = fold_constants(c, lambda v: v.wire is k)
    assert [eq.gate.name for eq in folded.equations] == ["mul"]
    kept, _ = fold_constants(c, lambda v: False)
    assert [eq.gate.name for eq in kept.equations] == ["exp", "mul"]


def test_an_unknown_pass_is_refused():
    with pytest.raises(CircuitError, match="unknown pass 'cs'.*cse, fold"):
        cg.compile(repeated, argnums=(0, 1), passes=("cs",))(*_args())


def test_a_large_float32_sum_summed_in_another_order_is_not_refused():
    """CSE reorders the sums of this loss; the float32 gradient's near-zero entries then
    differ by more than 1e-4 of themselves, not of the gradient: accepted."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((256, 784)).astype(np.float32)
    W = rng.standard_normal((784, 256)).astype(np.float32)

    def f(W, X):
        h = X @ W
        c = h - h.mean(axis=0)
        return (c * c).sum() + ((X @ W) * c).sum()

    value, grad = cg.compile(f)(W, X)
    want_value, want_grad = cg.value_and_grad(f)(W, X)
    assert grad.dtype == np.float32
    np.testing.assert_allclose(value, want_value.data, rtol=1e-5)
    np.testing.assert_allclose(grad, want_grad, rtol=0, atol=1e-5 * np.abs(want_grad).max())


@pytest.mark.parametrize("wrong", ["scaled", "one entry"])
def test_generated_code_that_disagrees_with_the_engine_is_refused(monkeypatch, wrong):
    from circuitgrad.compiler import staging

    run = staging._run

    def planted(staged, args):
        value, grads = run(staged, args)
        g = np.array(grads[0], copy=True)
        if wrong == "scaled":
            g *= 1.001
        else:
            g.flat[3] += 0.01 * np.abs(g).max()
        return value, (g, *grads[1:])

    monkeypatch.setattr(staging, "_run", planted)
    with pytest.raises(cg.CircuitError, match="disagrees with circuitgrad"):
        cg.compile(lambda w: (np.tanh(w) ** 2).sum())(np.linspace(-1, 1, 12).astype(np.float32))
