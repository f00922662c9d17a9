"""Data arrays beside the parameters: arguments a transform does not differentiate.

NumPy code written for arrays (``X.dot(W)``, ``scores[range(N), y]``, loops over rows)
is differentiated unchanged because those arguments reach ``f`` as constant tensors.
Every gradient here is checked against central differences of the same function run on
plain float64 arrays.
"""

import numpy as np
import pytest

import circuitgrad as cg
from support import central_differences


# ----- the functions, as the CS231n assignments write them -------------------------------------
def svm_loss_naive(W, X, y, reg):
    """The multiclass SVM loss with loops over examples and classes."""
    num_classes = W.shape[1]
    num_train = X.shape[0]
    loss = 0.0
    for i in range(num_train):
        scores = X[i].dot(W)
        correct_class_score = scores[y[i]]
        for j in range(num_classes):
            if j == y[i]:
                continue
            margin = scores[j] - correct_class_score + 1
            if margin > 0:
                loss = loss + margin
    return loss / num_train + reg * np.sum(W * W)


def svm_loss_vectorized(W, X, y, reg):
    num_train = X.shape[0]
    scores = X.dot(W)
    correct = scores[range(num_train), y]
    margins = np.maximum(0, scores - correct[:, np.newaxis] + 1.0)
    wrong_class = np.arange(W.shape[1]) != y[:, np.newaxis]  # a mask, not a write
    return np.sum(margins * wrong_class) / num_train + reg * np.sum(W * W)


def softmax_loss(W, X, y, reg):
    num_train = X.shape[0]
    scores = X.dot(W)
    scores = scores - np.max(scores, axis=1, keepdims=True)
    probs = np.exp(scores) / np.sum(np.exp(scores), axis=1, keepdims=True)
    loss = -np.log(probs[np.arange(num_train), y]).sum() / num_train
    return loss + reg * np.sum(W * W)


def softmax_grad_by_hand(W, X, y, reg):
    """The analytic gradient of softmax_loss in NumPy (what the Hessian checks difference)."""
    scores = X.dot(W)
    probs = np.exp(scores - scores.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    probs[np.arange(len(y)), y] -= 1
    return X.T.dot(probs) / len(y) + 2 * reg * W


def two_layer_loss(params, batch, reg):
    """A two-layer net; ``batch`` is a tuple ``(X, y)``, a tree of data."""
    X, y = batch
    hidden = np.maximum(0, X.dot(params["W1"]) + params["b1"])
    scores = hidden.dot(params["W2"]) + params["b2"]
    shifted = scores - np.max(scores, axis=1, keepdims=True)
    log_probs = shifted - np.log(np.sum(np.exp(shifted), axis=1, keepdims=True))
    data_loss = -np.mean(log_probs[np.arange(len(y)), y])
    return data_loss + reg * (np.sum(params["W1"] ** 2) + np.sum(params["W2"] ** 2))


def ridge_loss(W, X, t, reg):
    """Least squares with a penalty accumulated from np.zeros_like(W) and a copy of W."""
    residual = X.dot(W) - t
    penalty = np.zeros_like(W)
    penalty = penalty + reg * W.copy() * W
    return 0.5 * np.mean(residual ** 2) + np.sum(penalty)


# ----- helpers ----------------------------------------------------------------------------------
@pytest.fixture
def problem():
    rng = np.random.default_rng(7)
    N, D, C = 8, 5, 4
    X = rng.standard_normal((N, D))
    y = np.array([0, 1, 2, 3, 0, 1, 2, 3])  # every class present (np.bincount below)
    W = 0.1 * rng.standard_normal((D, C))
    return W, X, y


def assert_close_to_differences(analytic, f, x):
    np.testing.assert_allclose(analytic, central_differences(f, x), rtol=1e-6, atol=1e-8)


# ----- reverse mode -----------------------------------------------------------------------------
@pytest.mark.parametrize("loss", [svm_loss_naive, svm_loss_vectorized, softmax_loss])
def test_grad_of_a_loss_written_with_x_dot_w(problem, loss):
    W, X, y = problem
    dW = cg.grad(loss)(W, X, y, 0.1)
    assert type(dW) is np.ndarray and dW.shape == W.shape
    assert_close_to_differences(dW, lambda w: loss(w, X, y, 0.1), W)


def test_naive_and_vectorized_svm_agree_inside_grad(problem):
    W, X, y = problem
    naive = cg.value_and_grad(svm_loss_naive)(W, X, y, 0.1)
    vectorized = cg.value_and_grad(svm_loss_vectorized)(W, X, y, 0.1)
    assert float(naive[0]) == pytest.approx(svm_loss_vectorized(W, X, y, 0.1))
    assert float(naive[0]) == pytest.approx(float(vectorized[0]))
    np.testing.assert_allclose(naive[1], vectorized[1], rtol=1e-12, atol=1e-15)


def test_value_and_grad_of_softmax_loss(problem):
    W, X, y = problem
    value, dW = cg.value_and_grad(softmax_loss)(W, X, y, 0.05)
    assert not isinstance(value, cg.Tensor)
    assert float(value) == pytest.approx(softmax_loss(W, X, y, 0.05), rel=1e-12)
    np.testing.assert_allclose(dW, softmax_grad_by_hand(W, X, y, 0.05), rtol=1e-10)


@pytest.mark.parametrize("loss", [svm_loss_vectorized, softmax_loss])
def test_argnums_0_1_differentiates_the_data_too(problem, loss):
    W, X, y = problem
    dW, dX = cg.grad(loss, argnums=(0, 1))(W, X, y, 0.1)
    assert_close_to_differences(dW, lambda w: loss(w, X, y, 0.1), W)
    assert_close_to_differences(dX, lambda x: loss(W, x, y, 0.1), X)


def test_two_layer_net_with_a_tuple_of_data(problem):
    _, X, y = problem
    rng = np.random.default_rng(3)
    params = {"W1": 0.5 * rng.standard_normal((5, 6)), "b1": 0.1 * rng.standard_normal(6),
              "W2": 0.5 * rng.standard_normal((6, 4)), "b2": 0.1 * rng.standard_normal(4)}
    value, grads = cg.value_and_grad(two_layer_loss)(params, (X, y), 1e-2)
    assert float(value) == pytest.approx(two_layer_loss(params, (X, y), 1e-2))
    assert set(grads) == set(params)
    for name, p in params.items():
        assert_close_to_differences(
            grads[name], lambda v, name=name: two_layer_loss({**params, name: v}, (X, y), 1e-2),
            p)


def test_zeros_like_and_copy_of_the_differentiated_argument(problem):
    W, X, _ = problem
    t = np.random.default_rng(4).standard_normal((8, 4))
    dW = cg.grad(ridge_loss)(W, X, t, 0.3)
    assert_close_to_differences(dW, lambda w: ridge_loss(w, X, t, 0.3), W)


def test_data_in_keyword_arguments_and_numpy_functions_on_it(problem):
    W, X, y = problem

    def weighted_loss(W, X, y, class_weight=None):
        N, C = len(X), W.shape[1]
        onehot = np.eye(C)[y]                           # an ndarray indexed by a tensor
        balance = (N / (C * np.bincount(y, minlength=C)))[y]
        rows = np.random.default_rng(0).choice(X.shape[0], 6, replace=False)
        scale = float(np.abs(X).max())                  # a constant: no gradient lost
        scores = X[rows].dot(W) / scale
        log_probs = scores - np.log(np.sum(np.exp(scores), axis=1, keepdims=True))
        picked = np.sum(onehot[rows] * log_probs, axis=1)
        return -np.sum(class_weight[y[rows]] * balance[rows] * picked) / len(rows)

    class_weight = np.array([1.0, 2.0, 0.5, 1.5])
    dW = cg.grad(weighted_loss)(W, X, y, class_weight=class_weight)
    assert_close_to_differences(dW, lambda w: weighted_loss(w, X, y, class_weight), W)


def test_iterating_over_data_rows(problem):
    W, X, y = problem

    def per_row_loss(W, X, y):
        total = 0.0
        for row, label in zip(X, y, strict=True):  # rows of X and 0-d labels, as tensors
            s = row.dot(W)
            total = total + np.log(np.sum(np.exp(s))) - s[label]
        return total / len(X)

    dW = cg.grad(per_row_loss)(W, X, y)
    np.testing.assert_allclose(dW, softmax_grad_by_hand(W, X, y, 0.0), rtol=1e-10)


def test_what_f_is_handed():
    seen = {}

    def f(w, X, y, n, name, scale, nothing, extras):
        seen.update(X=X, y=y, n=n, name=name, scale=scale, nothing=nothing, extras=extras)
        return np.sum(X.dot(w)) * scale + n

    X, y = np.ones((3, 2)), np.array([0, 2, 1])
    mask, z = np.array([True, False, True]), np.array([1j, 2j])
    masked, step = np.ma.masked_array([1.0, 2.0], mask=[0, 1]), np.float64(0.5)
    extras = {"mask": mask, "k": 2, "z": z, "masked": masked, "step": step, "rows": [0, 1]}
    g = cg.grad(f)(np.ones(2), X, y, 3, "svm", 0.5, None, extras)
    np.testing.assert_allclose(g, [1.5, 1.5])
    for key, source in (("X", X), ("y", y)):
        t = seen[key]
        assert isinstance(t, cg.Tensor) and not t.requires_grad and t.dtype == source.dtype
        assert np.shares_memory(t.data, source)         # no per-call copy of the data
    got = seen["extras"]
    assert isinstance(got["mask"], cg.Tensor) and got["mask"].dtype == bool
    assert type(seen["n"]) is int and seen["name"] == "svm" and type(seen["scale"]) is float
    assert seen["nothing"] is None and got["k"] == 2 and got["rows"] == [0, 1]
    assert got["z"] is z and got["masked"] is masked and got["step"] is step  # left alone
    assert extras["mask"] is mask  # the caller's dict is not changed


def test_a_tree_without_arrays_is_handed_over_as_it_is():
    seen = []
    config = {"sizes": [2, 3], "name": "net"}
    cg.grad(lambda w, c: seen.append(c) or np.sum(w * c["sizes"][0]))(np.ones(2), config)
    assert seen[0] is config


# ----- forward mode and second order ------------------------------------------------------------
def test_jvp_with_data_arguments_has_none_tangents(problem):
    W, X, y = problem
    V = np.random.default_rng(5).standard_normal(W.shape)
    value, slope = cg.jvp(svm_loss_vectorized, (W, X, y, 0.1), (V, None, None, None))
    assert float(value) == pytest.approx(svm_loss_vectorized(W, X, y, 0.1))
    eps = 1e-6
    numeric = (svm_loss_vectorized(W + eps * V, X, y, 0.1)
               - svm_loss_vectorized(W - eps * V, X, y, 0.1)) / (2 * eps)
    assert float(slope) == pytest.approx(numeric, rel=1e-7)


def test_jvp_none_tangent_inside_a_tree(problem):
    _, X, y = problem
    w, v = np.ones(5), np.arange(5.0)
    out, tangent = cg.jvp(lambda w, batch: batch[0].dot(w) * batch[1],
                          (w, (X, y)), (v, (None, None)))
    np.testing.assert_allclose(out, X.dot(w) * y)
    np.testing.assert_allclose(tangent, X.dot(v) * y)


def test_hessian_and_hvp_with_data_arguments(problem):
    W, X, y = problem
    H = cg.hessian(softmax_loss)(W, X, y, 0.1)
    assert type(H) is np.ndarray and H.shape == W.shape + W.shape
    # H[i, j, k, l] = d(dW[i, j]) / dW[k, l]: differences of the gradient written by hand
    np.testing.assert_allclose(
        H, central_differences(lambda w: softmax_grad_by_hand(w, X, y, 0.1), W),
        rtol=1e-6, atol=1e-8)
    V = np.random.default_rng(6).standard_normal(W.shape)
    hv = cg.hvp(softmax_loss, (W, X, y, 0.1), (V, None, None, None))
    assert type(hv) is np.ndarray
    np.testing.assert_allclose(hv, np.tensordot(H, V, axes=2), rtol=1e-10, atol=1e-12)


def test_grad_of_a_gradient_that_takes_data(problem):
    W, X, y = problem

    def half_squared_gradient_norm(w):
        g = cg.grad(softmax_loss)(w, X, y, 0.1)   # X, y passed on: constants inside
        return 0.5 * np.sum(g * g)

    want = np.tensordot(cg.hessian(softmax_loss)(W, X, y, 0.1),
                        softmax_grad_by_hand(W, X, y, 0.1), axes=2)
    np.testing.assert_allclose(cg.grad(half_squared_gradient_norm)(W), want, rtol=1e-8)


@pytest.mark.parametrize("mode", ["rev", "fwd"])
def test_jacobian_with_a_data_argument(problem, mode):
    W, X, _ = problem
    w = W[:, 0]
    J = cg.jacobian(lambda w, X: np.tanh(X.dot(w)), mode=mode)(w, X)
    assert_close_to_differences(J, lambda v: np.tanh(X.dot(v)), w)


# ----- the case the design cannot reach: data the function finds by itself ------------------
class SVMProblem:
    def __init__(self, X, y):
        self.X, self.y = X, y

    def loss(self, W):
        return svm_loss_vectorized(W, self.X, self.y, 0.1)   # self.X.dot(W): an ndarray method

    def loss_with_matmul(self, W):
        scores = self.X @ W
        correct = scores[np.arange(len(self.y)), self.y]
        margins = np.maximum(0, scores - correct[:, None] + 1.0)
        return (np.sum(margins * (np.arange(W.shape[1]) != self.y[:, None])) / len(self.y)
                + 0.1 * np.sum(W * W))


def test_data_in_an_attribute_or_closure_raises_saying_what_to_do(problem):
    W, X, y = problem
    svm = SVMProblem(X, y)
    for f in (svm.loss, lambda w: softmax_loss(w, X, y, 0.1)):
        with pytest.raises(cg.NotDifferentiableError) as info:
            cg.grad(f)(W)
        message = str(info.value)
        assert "pass X as an argument of the differentiated function" in message
        assert "X @ W / np.dot(X, W)" in message
    # and both ways out give the gradient
    want = cg.grad(svm_loss_vectorized)(W, X, y, 0.1)
    np.testing.assert_allclose(cg.grad(svm.loss_with_matmul)(W), want, rtol=1e-12)
    assert_close_to_differences(want, svm.loss, W)


def test_data_in_a_closure_under_jvp_raises_saying_what_to_do(problem):
    W, X, y = problem
    with pytest.raises(cg.NotDifferentiableError, match="with a None tangent in jvp"):
        cg.jvp(lambda w: softmax_loss(w, X, y, 0.1), (W,), (np.ones_like(W),))


def test_hvp_needs_a_tangent():
    with pytest.raises(ValueError, match="every tangent is None"):
        cg.hvp(lambda w, x: np.sum(w * x), (np.ones(2), np.ones(2)), (None, None))
