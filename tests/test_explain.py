"""cg.explain: the staged NumPy code of a function, run at the traced inputs and at others,
gives what cg.value_and_grad gives (computed by the engine, independently of the code)."""

import re

import numpy as np
import pytest

import circuitgrad as cg
from circuitgrad import nn

RNG = np.random.default_rng(14)


def _diff(args):
    return tuple(k for k, a in enumerate(args)
                 if isinstance(a, float) or (isinstance(a, np.ndarray) and a.dtype.kind == "f"))


def _moved(args):
    out = []
    for a in args:
        if isinstance(a, float):
            out.append(a + 0.37)
        elif isinstance(a, np.ndarray) and a.dtype.kind == "f":
            out.append(a + 0.5 * RNG.standard_normal(a.shape))
        else:
            out.append(a)
    return out


def check(f, *args, other=None, rtol=1e-10, atol=1e-12):
    """Run the staged code at ``args`` and at other inputs; compare with value_and_grad."""
    staged = cg.explain(f)(*args)
    diff = _diff(args)
    assert len(staged.params) == len(args)
    points = [list(args), other if other is not None else _moved(args)]
    for point in points:
        value, grads = staged.function(*point)
        want_value, want_grads = cg.value_and_grad(f, argnums=diff)(*point)
        np.testing.assert_allclose(value, want_value, rtol=rtol, atol=atol,
                                   err_msg=staged.source)
        assert len(grads) == len(diff)
        for got, want in zip(grads, want_grads, strict=True):
            assert np.shape(got) == np.shape(want), staged.source
            np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, err_msg=staged.source)
    return staged


def a(*shape, positive=False):
    v = RNG.standard_normal(shape)
    return np.abs(v) + 0.5 if positive else v


# ----- gate families ------------------------------------------------------------------------
ELEMENTWISE = [
    lambda x, y: np.sum((x + y) * (x - y) / (y * y + 1.0)),
    lambda x, y: np.sum(np.exp(x) + np.log1p(y * y) + np.sqrt(y * y + 1.0)),
    lambda x, y: np.sum(cg.relu(x) * cg.sigmoid(y) + np.tanh(x * y)),
    lambda x, y: np.sum(np.maximum(x, y) - np.minimum(x, 0.25) + np.abs(x)),
    lambda x, y: np.sum(np.sin(x) * np.cos(y) + x ** 3 + (y * y + 1.0) ** 0.5),
    lambda x, y: np.sum(np.clip(x, -0.5, 0.5) * np.clip(y, 0.1, None)),
    lambda x, y: np.sum(2.0 / (x * x + 1.0) - (-y) * 3.0),
]


@pytest.mark.parametrize("k", range(len(ELEMENTWISE)))
def test_elementwise_and_broadcasting(k):
    check(ELEMENTWISE[k], a(3, 4), a(4))


REDUCTIONS = [
    lambda x: np.sum(x, axis=1).sum(),
    lambda x: np.mean(x * x, axis=(0, 2)).sum(),
    lambda x: np.max(x, axis=2).sum() + np.min(x),
    lambda x: np.sum(np.mean(x, axis=-1, keepdims=True) * x),
    lambda x: cg.logsumexp(x, axis=1).sum(),
    lambda x: np.sum(cg.log_softmax(x.reshape(6, 4), axis=1) * np.arange(24.0).reshape(6, 4)),
    lambda x: np.prod(x[0] + 2.0),
]


@pytest.mark.parametrize("k", range(len(REDUCTIONS)))
def test_reductions(k):
    check(REDUCTIONS[k], a(2, 3, 4))


def test_max_at_a_tie_then_elsewhere():
    # traced at a tie (the gradient split), run where there is none: both right
    check(lambda x: np.max(x, axis=1).sum(), np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]]),
          other=[np.array([[1.0, 3.0, 2.0], [0.0, 2.0, 5.0]])])
    check(lambda x, y: np.sum(np.maximum(x, y)), np.array([1.0, 2.0]), np.array([1.0, 3.0]),
          other=[np.array([2.0, 2.0]), np.array([1.0, 2.0])])


SHAPES = [
    lambda x: np.sum(x.transpose(1, 2, 0).reshape(3, 8) @ x.reshape(8, 3)),
    lambda x: np.sum(x.T * np.arange(24.0).reshape(4, 3, 2)),
    lambda x: np.sum(np.concatenate([x, x * 2.0], axis=1) ** 2),
    lambda x: np.sum(np.stack([x[0], x[1] * x[1]], axis=0) * 3.0),
    lambda x: np.sum(np.expand_dims(x, 0).squeeze(0) * np.swapaxes(x, 1, 2).transpose(0, 2, 1)),
    lambda x: np.sum(np.broadcast_to(x[:, :1, :], (2, 3, 4)) * x),
]


@pytest.mark.parametrize("k", range(len(SHAPES)))
def test_shapes(k):
    check(SHAPES[k], a(2, 3, 4))


INDEXING = [
    lambda x: x[0, 1] * x[1, 2],
    lambda x: np.sum(x[:, 1:] ** 2) + np.sum(x[1, ::2]),
    lambda x: np.sum(x[np.array([1, 1, 0]), np.array([2, 2, 0])] * np.array([1.0, 2.0, 3.0])),
    lambda x: np.sum(x[None, ..., 0] * 2.0),
]


@pytest.mark.parametrize("k", range(len(INDEXING)))
def test_indexing(k):
    check(INDEXING[k], a(2, 3))


def test_where_with_a_mask_argument():
    def f(x, y, mask):
        return np.sum(np.where(mask, x * 2.0, y)) + np.sum(x[mask] ** 2)
    mask = np.array([[True, False, True, False]] * 3)
    check(f, a(3, 4), a(4), mask, other=[a(3, 4), a(4), ~mask])


def test_a_mask_fixed_at_trace_time_is_refused_naming_the_gate():
    with pytest.raises(cg.CircuitError, match="gate 'where'"):
        cg.explain(lambda x, y: np.sum(np.where(x > y, x, y)))(a(3), a(3))
    with pytest.raises(cg.CircuitError, match="gate 'getitem'"):
        cg.explain(lambda x: np.sum(x[x > 0]))(a(5))


def test_integer_labels_stay_an_argument():
    def pick(s, y):
        return np.sum(np.log(cg.sigmoid(s[np.arange(4), y])))
    staged = check(pick, a(4, 3), np.array([0, 2, 1, 1]),
                   other=[a(4, 3), np.array([2, 2, 0, 1])])
    assert staged.params == ["s", "y"]


MATMUL = [
    lambda A, x: np.sum((A @ x) ** 2),
    lambda A, x: np.sum(np.einsum("ij,j->i", A, x) * np.tanh(A @ x)),
    lambda A, x: np.sum(np.linalg.inv(A[:, :3] + 3.0 * np.eye(3)) @ x[:3]),
    lambda A, x: np.linalg.det(A[:, :3] @ A[:, :3].T + np.eye(3)),
    lambda A, x: np.sum(np.linalg.solve(A[:, :3] @ A[:, :3].T + np.eye(3), x[:3])),
]


@pytest.mark.parametrize("k", range(len(MATMUL)))
def test_matmul_and_linalg(k):
    check(MATMUL[k], a(3, 4), a(4), rtol=1e-9)


def test_batched_matmul_broadcast():
    check(lambda B, D: np.sum(B @ D), a(5, 3, 4), a(1, 4, 2))


def test_nn_losses():
    labels = np.array([0, 2, 1, 2, 1])
    check(lambda s: nn.softmax_cross_entropy(s, labels), a(5, 3))
    # svm_loss's margin mask is a comparison of traced values: refused, naming the gate
    with pytest.raises(cg.CircuitError, match="gate 'where'"):
        cg.explain(lambda s: nn.svm_loss(s, labels))(a(5, 3))
    check(lambda p, t: nn.mse_loss(p, t), a(5, 3), a(5, 3))


def test_cs231n_softmax_loss():
    def softmax_loss(W, X, y, reg):
        N = X.shape[0]
        scores = X @ W
        scores = scores - np.max(scores, axis=1, keepdims=True)
        probs = np.exp(scores) / np.sum(np.exp(scores), axis=1, keepdims=True)
        loss = -np.sum(np.log(probs[np.arange(N), y])) / N
        return loss + reg * np.sum(W * W)
    W, X, y = 0.01 * a(6, 4), a(10, 6), RNG.integers(0, 4, size=10)
    staged = cg.explain(softmax_loss, argnums=0)(W, X, y, 0.1)
    W2, X2, y2 = 0.01 * a(6, 4), a(10, 6), RNG.integers(0, 4, size=10)
    for args in ((W, X, y), (W2, X2, y2)):
        value, (dW,) = staged.function(*args)
        want, want_dW = cg.value_and_grad(softmax_loss)(*args, 0.1)
        np.testing.assert_allclose(value, want, rtol=1e-10)
        np.testing.assert_allclose(dW, want_dW, rtol=1e-10, atol=1e-14)


def test_float32_mlp_loss_keeps_float32():
    def loss(W1, b1, W2, b2, X, y):
        h = np.maximum(X @ W1 + b1, 0)
        return nn.softmax_cross_entropy(h @ W2 + b2, y)
    f32 = np.float32
    args = [(0.1 * a(8, 6)).astype(f32), np.zeros(6, f32), (0.1 * a(6, 3)).astype(f32),
            np.zeros(3, f32), a(5, 8).astype(f32), np.array([0, 1, 2, 1, 0])]
    staged = cg.explain(loss, argnums=(0, 1, 2, 3))(*args)
    value, grads = staged.function(*args)
    want, want_grads = cg.value_and_grad(loss, argnums=(0, 1, 2, 3))(*args)
    np.testing.assert_allclose(value, want, rtol=1e-5)
    for got, w in zip(grads, want_grads, strict=True):
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, w, rtol=1e-4, atol=1e-6)


# ----- the notes' examples ------------------------------------------------------------------
NOTES = [
    (lambda x, y: x * y, (4.0, -3.0)),
    (lambda x, y: np.maximum(x, y), (4.0, 2.0)),
    (lambda x, y, z: (x + y) * z, (-2.0, 5.0, -4.0)),
    (lambda w0, x0, w1, x1, w2: 1 / (1 + np.exp((w0 * x0 + w1 * x1 + w2) * -1)),
     (2.0, -1.0, -3.0, -2.0, -3.0)),
    (lambda w, x: cg.sigmoid(w[0] * x[0] + w[1] * x[1] + w[2]),
     (np.array([2.0, -3.0, -3.0]), np.array([-1.0, -2.0]))),
    (lambda x, y: (x + cg.sigmoid(y)) / (cg.sigmoid(x) + (x + y) ** 2), (3.0, -4.0)),
    (lambda x, y, z, w: 2 * (x * y + np.maximum(z, w)), (3.0, -4.0, 2.0, -1.0)),
]


@pytest.mark.parametrize("k", range(len(NOTES)))
def test_notes_examples(k):
    f, args = NOTES[k]
    check(f, *args)


def test_notes_matmul_example_with_its_upstream_gradient():
    dD = a(5, 3)
    check(lambda W, X: np.sum((W @ X) * dD), a(5, 10), a(10, 3))


def test_staged_example_against_the_notes_code():
    from circuitgrad.notes_examples import notes_staged_code
    f = NOTES[5][0]
    staged = cg.explain(f)(3.0, -4.0)
    for x, y in ((3.0, -4.0), (0.5, 1.5)):
        value, (dx, dy) = staged.function(x, y)
        notes = notes_staged_code(x, y)
        np.testing.assert_allclose([value, dx, dy], [notes["f"], notes["dx"], notes["dy"]],
                                   rtol=1e-12)
    assert "+=" in staged.source  # x and y fork


# ----- the code itself ----------------------------------------------------------------------
def test_source_is_a_plain_function_with_stage_marks():
    staged = cg.explain(lambda x, y: np.sum(cg.relu(x * y)))(a(3), a(3))
    lines = staged.source.splitlines()
    assert lines[0] == "def <lambda>_staged(x, y):" or lines[0].startswith("def f_staged(x, y)")
    back = lines[lines.index("    # backward pass") + 1:]
    assert all("# (" in line for line in back[1:-1])  # every step says its forward line
    assert lines[-1].strip().startswith("return out, (")
    assert "(reluxy != 0)" in staged.source   # the mask is recomputed from the code's values
    assert staged._repr_markdown_().startswith("```python\n")
    assert "<pre>" in staged._repr_html_()
    namespace = {name: getattr(np, name) for name in dir(np) if not name.startswith("_")}
    namespace["relu"] = lambda v: np.maximum(v, 0)
    exec(staged.source, namespace)  # runnable as printed, given NumPy's names
    fn = next(v for k, v in namespace.items() if k.endswith("_staged"))
    x, y = a(3), a(3)
    np.testing.assert_allclose(fn(x, y)[1], staged.function(x, y)[1])


def test_a_python_number_from_a_traced_value_names_the_line():
    def f(x):
        scale = float(x.sum())  # the traced value leaves the circuit here
        return np.sum(x * scale)
    with pytest.raises(cg.NotDifferentiableError, match="scale = float"):
        cg.explain(f)(a(3))


def test_unsupported_gate_is_named():
    class Twice(cg.Function):
        @staticmethod
        def forward(ctx, x):
            return 2 * x

        @staticmethod
        def backward(ctx, g):
            return 2 * g
    with pytest.raises(cg.CircuitError, match="gate 'Twice'|gate '.*[Tt]wice"):
        cg.explain(lambda x: np.sum(Twice.apply(x)))(a(3))


# ----- cg.compile ---------------------------------------------------------------------------
def test_compile_traces_once_per_signature_and_matches_value_and_grad():
    def loss(W, X, y):
        scores = np.maximum(X @ W, 0)
        return nn.softmax_cross_entropy(scores, y)
    compiled = cg.compile(loss)
    for n in (5, 5, 5, 7):
        W, X, y = a(4, 3), a(n, 4), RNG.integers(0, 3, size=n)
        value, dW = compiled(W, X, y)
        want, want_dW = cg.value_and_grad(loss)(W, X, y)
        np.testing.assert_allclose(value, want, rtol=1e-12)
        np.testing.assert_allclose(dW, want_dW, rtol=1e-10, atol=1e-14)
    assert compiled.traces == 2  # batch 5 once, batch 7 once
    assert compiled.source.startswith("def loss_staged(W, X, y):")


def test_compile_python_floats_is_plain_python():
    f = NOTES[5][0]
    compiled = cg.compile(f, argnums=(0, 1))
    for x, y in ((3.0, -4.0), (0.5, 1.5), (-2.0, 0.25)):
        value, (dx, dy) = compiled(x, y)
        want, (wx, wy) = cg.value_and_grad(f, argnums=(0, 1))(x, y)
        np.testing.assert_allclose([value, dx, dy], [want, wx, wy], rtol=1e-12)
    assert compiled.traces == 1
    assert type(value) is float and type(dx) is float
    assert "(1) *" not in compiled.source  # unit factors dropped


def test_compile_static_arguments_retrace():
    compiled = cg.compile(lambda x, p: np.sum(x ** p))
    x = a(3)
    for p in (2, 3, 2):
        value, dx = compiled(x, p)
        want, want_dx = cg.value_and_grad(lambda x, p: np.sum(x ** p))(x, p)
        np.testing.assert_allclose(dx, want_dx, rtol=1e-12)
    assert compiled.traces == 2


def test_compile_labels_held_as_a_constant_are_compared():
    def loss(s, y):
        return np.sum(s[np.arange(3), y.reshape(-1)])  # y.reshape: a new array, a constant
    compiled = cg.compile(loss)
    s = a(3, 2)
    for y in (np.array([0, 1, 1]), np.array([1, 1, 0])):
        np.testing.assert_allclose(compiled(s, y)[1], cg.grad(loss)(s, y))


def test_compile_python_number_from_traced_value_names_the_line():
    def f(x):
        n = x.sum().item()
        return np.sum(x) * n
    with pytest.raises(cg.NotDifferentiableError, match=r"n = x.sum\(\).item\(\)"):
        cg.compile(f)(a(3))


def test_compiled_gradients_that_alias_are_not_written_through():
    def f(x, y):  # dx starts as y (the seed 1 dropped), then adds up: y must stay y
        return np.sum(x * y) + np.sum(x * x) + np.sum(y)
    compiled = cg.compile(f, argnums=(0, 1))
    x, y = a(4), a(4)
    y0 = y.copy()
    for _ in range(2):
        value, (dx, dy) = compiled(x, y)
        want, (wx, wy) = cg.value_and_grad(f, argnums=(0, 1))(x, y)
        np.testing.assert_allclose(dx, wx, rtol=1e-12)
        np.testing.assert_allclose(dy, wy, rtol=1e-12)
        np.testing.assert_array_equal(y, y0)
    assert "del " in compiled.source  # values dropped at their last use


def test_compiled_python_floats_fall_back_to_numpy_where_math_raises():
    f = NOTES[5][0]  # sigmoid(-800) overflows math.exp; NumPy's code gives 0 as the engine
    compiled = cg.compile(f, argnums=(0, 1))
    for x, y in ((3.0, -4.0), (-800.0, 2.0), (1.0, -800.0)):
        value, grads = compiled(x, y)
        want, want_grads = cg.value_and_grad(f, argnums=(0, 1))(x, y)
        np.testing.assert_allclose([value, *grads], [want, *want_grads], rtol=1e-12)
    assert "1.0 / (1.0 + exp(" not in compiled.source  # .source shows the staged text


def test_compiled_float_entry_agrees_with_the_engine_and_the_general_way():
    f = NOTES[5][0]
    compiled = cg.compile(f, argnums=(0, 1))
    single = cg.compile(f, argnums=0)
    points = ((3.0, -4.0), (-800.0, 2.0), (0.5, 1.5), (1.0, -800.0), (0.5, 1.5))
    for x, y in points:  # float calls after a float trace: the generated float entry
        want, (wx, wy) = cg.value_and_grad(f, argnums=(0, 1))(x, y)
        value, (dx, dy) = compiled(x, y)
        np.testing.assert_allclose([value, dx, dy], [want, wx, wy], rtol=1e-12)
        value1, dx1 = single(x, y)
        np.testing.assert_allclose([value1, dx1], [want, wx], rtol=1e-12)
    assert compiled.traces == 1 and single.traces == 4  # y fixed per value: 4 values
    # the same compiled function on 0-d arrays: traced the general way
    xs, ys = np.array(0.5), np.array(-800.0)
    value, (dx, dy) = compiled(xs, ys)
    want, (wx, wy) = cg.value_and_grad(f, argnums=(0, 1))(xs, ys)
    np.testing.assert_allclose([value, dx, dy], [want, wx, wy], rtol=1e-12)
    assert compiled.traces == 2
    value, _ = compiled(0.5, 1.5)  # and floats again: still the float entry, no new trace
    assert type(value) is float and compiled.traces == 2


def test_compiled_float_entry_refuses_wrong_calls_as_the_general_way_does():
    f = NOTES[5][0]
    compiled = cg.compile(f, argnums=(0, 1))
    compiled(0.5, 1.5)  # from here on, calls enter through the float entry
    for args in ((0.5,), (0.5, 1.5, 2.5), (0.5, 2)):
        fresh = cg.compile(f, argnums=(0, 1))  # never traced: the general way
        with pytest.raises(Exception) as general:
            fresh(*args)
        with pytest.raises(type(general.value), match=re.escape(str(general.value))):
            compiled(*args)
