"""cg.compile(step, argnums=None): compiled training steps give the parameters (and optimizer
state) that the same step run eagerly gives, step after step; tracing refuses what it cannot
stage, naming the user's line."""

import subprocess
import sys

import numpy as np
import pytest

import circuitgrad as cg
from circuitgrad import nn
from circuitgrad.errors import NotDifferentiableError
from nn_steps import training_step

STEPS = 6


def _mlp_params(dtype, seed=0):
    rng = np.random.default_rng(seed)
    return {"W1": (0.3 * rng.standard_normal((12, 16))).astype(dtype),
            "b1": np.zeros(16, dtype),
            "W2": (0.3 * rng.standard_normal((16, 4))).astype(dtype),
            "b2": np.zeros(4, dtype)}


def _data(dtype, n=24, seed=1):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 12)).astype(dtype), rng.integers(0, 4, n)


def mlp_loss(p, X, y):
    h = cg.relu(X @ p["W1"] + p["b1"])
    return nn.softmax_cross_entropy(h @ p["W2"] + p["b2"], y)


def sgd_momentum_step(p, v, X, y):
    loss, g = cg.value_and_grad(mlp_loss)(p, X, y)
    v = {k: 0.9 * v[k] - 0.1 * g[k] for k in p}
    return {k: p[k] + v[k] for k in p}, v, loss


def adam_step(p, m, s, t, X, y):
    loss, g = cg.value_and_grad(mlp_loss)(p, X, y)
    m = {k: 0.9 * m[k] + 0.1 * g[k] for k in p}
    s = {k: 0.999 * s[k] + 0.001 * g[k] * g[k] for k in p}
    t = t + 1.0
    new = {k: p[k] - 0.01 * (m[k] / (1 - 0.9 ** t)) / (np.sqrt(s[k] / (1 - 0.999 ** t))
                                                       + 1e-8) for k in p}
    return new, m, s, t, loss


def _close(a, b, dtype):
    tol = 2e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(a, b, rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_functional_sgd_momentum_step_matches_eager(dtype):
    X, y = _data(dtype)
    fast = cg.compile(sgd_momentum_step, argnums=None)
    p_eager = p_fast = _mlp_params(dtype)
    v_eager = v_fast = {k: np.zeros_like(a) for k, a in p_eager.items()}
    for _ in range(STEPS):
        p_eager, v_eager, loss_eager = sgd_momentum_step(p_eager, v_eager, X, y)
        p_fast, v_fast, loss_fast = fast(p_fast, v_fast, X, y)
        _close(loss_fast, loss_eager, dtype)
        for k in p_eager:
            assert p_fast[k].dtype == dtype
            _close(p_fast[k], p_eager[k], dtype)
            _close(v_fast[k], v_eager[k], dtype)
    assert fast.traces == 1
    assert not np.allclose(p_fast["W1"], _mlp_params(dtype)["W1"])  # it trained
    assert "(X.T, " in fast.source  # the backward pass is in the generated code


def test_functional_adam_step_matches_eager():
    X, y = _data(np.float64)
    fast = cg.compile(adam_step, argnums=None)
    state_eager = state_fast = (_mlp_params(np.float64),
                                {k: np.zeros_like(a) for k, a in _mlp_params(np.float64).items()},
                                {k: np.zeros_like(a) for k, a in _mlp_params(np.float64).items()},
                                np.array(0.0))
    for _ in range(STEPS):
        *state_eager, loss_eager = adam_step(*state_eager, X, y)
        *state_fast, loss_fast = fast(*state_fast, X, y)
        _close(loss_fast, loss_eager, np.float64)
        for tree_fast, tree_eager in zip(state_fast[:3], state_eager[:3], strict=True):
            for k in tree_eager:
                _close(tree_fast[k], tree_eager[k], np.float64)
        assert float(state_fast[3]) == float(state_eager[3])
    assert fast.traces == 1


def _number(loss):
    return float(loss.data) if isinstance(loss, cg.Tensor) else float(loss)


def _model(seed=0):
    nn.manual_seed(seed)
    return nn.Sequential(nn.Linear(12, 16), nn.ReLU(), nn.Linear(16, 4))


@pytest.mark.parametrize("make_opt", [
    lambda ps: nn.SGD(ps, lr=0.1),
    lambda ps: nn.SGD(ps, lr=0.1, momentum=0.9),
    lambda ps: nn.SGD(ps, lr=0.1, momentum=0.9, nesterov=True),
    lambda ps: nn.Adam(ps, lr=0.01),
], ids=["sgd", "momentum", "nesterov", "adam"])
def test_nn_step_updates_the_model_as_eager(make_opt):
    X, y = _data(np.float32)
    runs = {}
    for compiled in (False, True):
        model = _model()
        opt = make_opt(model.parameters())

        step = training_step(model, opt)

        run = cg.compile(step, argnums=None) if compiled else step
        before = [p.data.copy() for p in model.parameters()]
        losses = [_number(run(X, y)) for _ in range(STEPS)]
        runs[compiled] = (model, opt, losses, before, run)
    (m_e, opt_e, loss_e, _, _), (m_c, opt_c, loss_c, before, run) = runs[False], runs[True]
    np.testing.assert_allclose(loss_c, loss_e, rtol=2e-5)
    for p_c, p_e, p0 in zip(m_c.parameters(), m_e.parameters(), before, strict=True):
        np.testing.assert_allclose(p_c.data, p_e.data, rtol=2e-5, atol=2e-6)
        assert not np.array_equal(p_c.data, p0)  # the model's own arrays moved
        np.testing.assert_allclose(p_c.grad, p_e.grad, rtol=1e-4, atol=1e-6)
    for st_c, st_e in zip(opt_c.state, opt_e.state, strict=True):
        assert st_c.keys() == st_e.keys()
        for k in st_e:
            np.testing.assert_allclose(st_c[k], st_e[k], rtol=2e-5, atol=2e-6)
    assert run.traces == 1


def test_gradients_accumulate_without_zero_grad():
    X, y = _data(np.float64)
    grads = {}
    for compiled in (False, True):
        model = _model()
        for p in model.parameters():
            p.data = p.data.astype(np.float64)

        def step(X, y, model=model):
            loss = nn.softmax_cross_entropy(model(X), y)
            loss.backward()
            return loss

        run = cg.compile(step, argnums=None) if compiled else step
        for _ in range(3):
            run(X, y)
        grads[compiled] = [p.grad.copy() for p in model.parameters()]
    for a, b in zip(grads[True], grads[False], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12)


def test_fit_compile_trains_the_digits_convnet_as_eager():
    pytest.importorskip("sklearn")
    from circuitgrad.nn.train import build_model, load_split

    X, _, y, _ = load_split("digits", "convnet-gn")
    X, y = X[:160], y[:160]  # two full batches of 64 and one of 32: two signatures
    result = {}
    for compiled in (False, True):
        model = build_model("convnet-gn", 0, "digits")
        opt = nn.Adam(model.parameters(), lr=0.01)
        history = nn.fit(model, nn.DataLoader((X, y), batch_size=64, seed=0),
                         nn.softmax_cross_entropy, opt, 2, compile=compiled)
        result[compiled] = (history, [p.data.copy() for p in model.parameters()])
    np.testing.assert_allclose(result[True][0]["loss"], result[False][0]["loss"], rtol=1e-4)
    assert result[True][0]["train_accuracy"] == result[False][0]["train_accuracy"]
    for a, b in zip(result[True][1], result[False][1], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-4)


def test_train_cli_compile(tmp_path):
    pytest.importorskip("sklearn")
    pytest.importorskip("tqdm")
    pytest.importorskip("matplotlib")
    run = [sys.executable, "-m", "circuitgrad", "train", "digits", "--compile", "--epochs", "1",
           "--no-progress", "--out-dir", str(tmp_path)]
    done = subprocess.run([*run, "--model", "convnet-gn"], capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr
    assert "test accuracy" in done.stdout  # the default model: test_compile_stateful.py


# ----- what tracing refuses, with the user's line ---------------------------------------------
def branch(x):
    s = np.sum(x * x)
    if s > 1:  # LINE branch
        return s
    return -s


def count(x):
    n = int(np.sum(x))  # LINE count
    return np.sum(x) * n


def to_float(x):
    return np.sum(x) * float(np.sum(x))  # LINE to_float


def no_rule(x):
    return np.sum(np.fft.fft(x).real)  # LINE no_rule


def write_into_array(x):
    out = np.zeros(3)
    out[0] = np.sum(x)  # LINE write_into_array
    return np.sum(x) + out[0]


def _line_of(tag):
    with open(__file__) as fh:
        for k, line in enumerate(fh, 1):
            if line.rstrip().endswith(f"# LINE {tag}"):
                return k
    raise AssertionError(tag)


@pytest.mark.parametrize("f,words", [
    (branch, "bool()"), (count, "int()"), (to_float, "float()"),
    (no_rule, "np.fft.fft has no gradient rule"), (write_into_array, "written into a NumPy array"),
], ids=lambda v: getattr(v, "__name__", ""))
def test_tracing_names_the_users_line(f, words):
    where = f"test_compile_step.py:{_line_of(f.__name__)}"
    with pytest.raises(NotDifferentiableError) as err:
        cg.compile(f)(np.ones(3))
    assert where in str(err.value) and words in str(err.value)

    def step(x):  # the same inside a compiled training step
        return f(x)
    with pytest.raises(NotDifferentiableError) as err:
        cg.compile(step, argnums=None)(np.ones(3))
    assert where in str(err.value) and words in str(err.value)


def test_control_flow_outside_compile_is_untouched():
    value, g = cg.value_and_grad(branch)(np.ones(3))  # eager: the branch is taken normally
    assert float(value) == 3.0 and g.tolist() == [2.0, 2.0, 2.0]


def test_a_step_taking_two_gradients_is_refused():
    def step(x):
        a = cg.grad(lambda v: np.sum(v * v))(x)
        b = cg.grad(lambda v: np.sum(v ** 3))(x)
        return a + b
    with pytest.raises(cg.errors.CircuitError, match="second gradient"):
        cg.compile(step, argnums=None)(np.ones(3))


# ----- the rewrites of the generated code -----------------------------------------------------
def test_fused_cross_entropy_matches_the_gate_and_its_gradient():
    from circuitgrad.compiler.inplace import xent_backward, xent_forward

    rng = np.random.default_rng(3)
    scores = 40 * rng.standard_normal((7, 5))  # far from 0: softmax underflows for some
    labels = rng.integers(0, 5, 7)
    loss, probs = xent_forward(scores, labels)
    want, grad = cg.value_and_grad(nn.softmax_cross_entropy)(scores, labels)
    np.testing.assert_allclose(loss, want, rtol=1e-12)
    np.testing.assert_allclose(xent_backward(probs, labels), grad, rtol=1e-10, atol=1e-15)


def test_in_place_rewrites_leave_the_arguments_and_results_alone():
    X, y = _data(np.float64)
    X_before, p = X.copy(), _mlp_params(np.float64)
    p_before = {k: v.copy() for k, v in p.items()}
    v = {k: np.zeros_like(a) for k, a in p.items()}
    fast = cg.compile(sgd_momentum_step, argnums=None)
    first = fast(p, v, X, y)
    second = fast(p, v, X, y)  # the same inputs again: the same results
    assert "out=" in fast.source  # the rewrites happened
    np.testing.assert_array_equal(X, X_before)
    for k in p:
        np.testing.assert_array_equal(p[k], p_before[k])
        np.testing.assert_array_equal(first[0][k], second[0][k])


def test_simplified_backward_of_mean_and_a_square_matches_eager():
    def loss(p, X):  # a normalisation: mean's broadcast gradient, sub * sub reads one wire twice
        h = X @ p["W"]
        c = h - np.mean(h, axis=1, keepdims=True)
        v = np.mean(c * c, axis=1, keepdims=True)
        return np.sum(np.tanh(c / np.sqrt(v + 1e-5)) * p["s"])

    def step(p, X):
        value, g = cg.value_and_grad(loss)(p, X)
        return {k: p[k] - 0.05 * g[k] for k in p}, value

    rng = np.random.default_rng(5)
    X = rng.standard_normal((6, 4))
    p_eager = p_fast = {"W": rng.standard_normal((4, 5)), "s": rng.standard_normal(5)}
    fast = cg.compile(step, argnums=None)
    for _ in range(STEPS):
        p_eager, v_eager = step(p_eager, X)
        p_fast, v_fast = fast(p_fast, X)
        np.testing.assert_allclose(v_fast, v_eager, rtol=1e-12)
        for k in p_eager:
            np.testing.assert_allclose(p_fast[k], p_eager[k], rtol=1e-12, atol=1e-14)
    assert "+= 2 * (" in fast.source


def test_a_step_reading_columns_by_an_index_array_compiles_to_the_eager_result():
    # w[:, cols]: slices beside an index array; its gradient is staged as add.at, whose
    # index is a tuple written outside brackets (slice(None, None, None), not ':')
    results = []
    for compiled in (False, True):
        w = nn.Parameter(np.arange(12.0).reshape(3, 4))
        opt = nn.SGD([w], lr=0.1)

        def step(cols, w=w, opt=opt):
            opt.zero_grad()
            loss = (w[:, cols] ** 2).sum()
            loss.backward()
            opt.step()
            return loss

        run = cg.compile(step, argnums=None) if compiled else step
        for _ in range(3):
            run(np.array([0, 0, 2]))
        results.append(w.data.copy())
    np.testing.assert_allclose(results[1], results[0], rtol=1e-12)
    # column 0 read twice: its gradient is 4 w, so it shrinks by 0.6 a step; column 1 stays
    np.testing.assert_allclose(results[0][:, 1], [1.0, 5.0, 9.0])
    np.testing.assert_allclose(results[0][:, 0], np.array([0.0, 4.0, 8.0]) * 0.6 ** 3)
