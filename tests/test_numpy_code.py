"""Plain NumPy code, written as students write it, differentiated unchanged."""

import numpy as np
import pytest

import circuitgrad as cg


def softmax_loss(W, X, y, reg):
    """The CS231n vectorized softmax loss, as a student writes it."""
    num_train = X.shape[0]
    scores = X.dot(W)  # inside a transform X arrives as a constant tensor
    scores = scores - np.max(scores, axis=1, keepdims=True)
    exp_scores = np.exp(scores)
    probs = exp_scores / np.sum(exp_scores, axis=1, keepdims=True)
    loss = -np.sum(np.log(probs[np.arange(num_train), y])) / num_train
    return loss + reg * np.sum(W * W)


def svm_loss(W, X, y, reg):
    """The CS231n vectorized multiclass SVM loss."""
    num_train = X.shape[0]
    scores = np.dot(X, W)
    correct = scores[np.arange(num_train), y][:, np.newaxis]
    margins = np.maximum(0, scores - correct + 1.0)
    margins = margins * (np.arange(W.shape[1])[np.newaxis, :] != y[:, np.newaxis])
    return np.sum(margins) / num_train + 0.5 * reg * np.sum(W * W)


def two_layer_net(params, X, y):
    h = np.maximum(0, X @ params["W1"] + params["b1"])
    scores = h @ params["W2"] + params["b2"]
    shifted = scores - np.max(scores, axis=1, keepdims=True)
    log_probs = shifted - np.log(np.sum(np.exp(shifted), axis=1, keepdims=True))
    return -np.mean(log_probs[np.arange(len(y)), y])


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((6, 5))
    y = rng.integers(0, 3, 6)
    W = 0.1 * rng.standard_normal((5, 3))
    return W, X, y


def central_differences(f, x, eps=1e-6):
    grad = np.zeros_like(x)
    for j in np.ndindex(x.shape):
        step = np.zeros_like(x)
        step[j] = eps
        grad[j] = (f(x + step) - f(x - step)) / (2 * eps)
    return grad


def test_softmax_loss_in_plain_numpy(data):
    W, X, y = data
    value, dW = cg.value_and_grad(softmax_loss)(W, X, y, 0.1)
    assert float(value) == pytest.approx(softmax_loss(W, X, y, 0.1))
    numeric = central_differences(lambda w: softmax_loss(w, X, y, 0.1), W)
    np.testing.assert_allclose(dW, numeric, rtol=1e-6, atol=1e-9)


def test_svm_loss_in_plain_numpy(data):
    W, X, y = data
    dW = cg.grad(svm_loss)(W, X, y, 0.1)
    numeric = central_differences(lambda w: svm_loss(w, X, y, 0.1), W)
    np.testing.assert_allclose(dW, numeric, rtol=1e-6, atol=1e-9)


def test_two_layer_network_of_a_parameter_dict():
    rng = np.random.default_rng(1)
    params = {"W1": 0.5 * rng.standard_normal((4, 8)), "b1": 0.1 * rng.standard_normal(8),
              "W2": 0.5 * rng.standard_normal((8, 3)), "b2": np.zeros(3)}
    X, y = rng.standard_normal((5, 4)), rng.integers(0, 3, 5)
    grads = cg.grad(two_layer_net)(params, X, y)
    assert set(grads) == set(params)
    for name, p in params.items():
        def loss_of(v, name=name):
            return two_layer_net({**params, name: v}, X, y)
        np.testing.assert_allclose(grads[name], central_differences(loss_of, p),
                                   rtol=1e-6, atol=1e-9, err_msg=name)


def test_numpy_functions_on_tensors_record_gates():
    x = cg.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    y = np.sum(np.exp(x) * np.transpose(x)) + np.linalg.norm(x) + np.var(x) \
        + np.einsum("ij,ij->", x, x) + np.std(x, axis=0).sum()
    assert isinstance(y, cg.Tensor) and y.requires_grad
    report = cg.check_grad(lambda t: np.sum(np.exp(t) * np.transpose(t))
                           + np.linalg.norm(t) + np.var(t) + np.einsum("ij,ij->", t, t)
                           + np.std(t, axis=0).sum() + np.squeeze(np.expand_dims(t, 0))[0, 1]
                           + np.concatenate([t, np.stack([t[0], t[1]])]).max()
                           + np.outer(t[0], t[1]).sum() + np.clip(t, 1.5, 3.5).sum()
                           + np.where(t > 2.5, t, -t).sum() + np.swapaxes(t, 0, 1)[0, 1]
                           + np.broadcast_to(t, (3, 2, 2)).mean() + np.tanh(t).sum()
                           + np.sin(t).sum() + np.cos(t).sum() + np.log1p(t).sum()
                           + np.expm1(t).sum() + np.sqrt(t).sum() + np.abs(t).sum()
                           + np.square(t).sum() + np.amax(t) + np.amin(t) + np.mean(t)
                           + np.minimum(t, 2.5).sum() + np.power(t, 1.5).sum()
                           + np.reshape(t, (4,))[1] + np.dot(t, t).sum() + np.matmul(t, t)[0, 0]
                           + np.true_divide(t, 2).sum() + np.subtract(t, 1).sum()
                           + np.mod(t, 0.7).sum() + np.remainder(3.3, t).sum(),
                           x.data)
    assert report.ok, report


def test_methods_like_numpy():
    x = cg.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    y = x.T.reshape(3, 2).sum(axis=1).max() + x.mean(axis=0).min()
    y.backward()
    assert x.grad.shape == (2, 3)


def test_unsupported_numpy_function_names_itself():
    x = cg.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(cg.NotDifferentiableError, match="np.sinc"):
        np.sinc(x)
    with pytest.raises(cg.NotDifferentiableError, match="np.interp"):
        np.interp(0.5, np.array([0.0, 1.0]), x)


def test_unsupported_functions_work_when_no_gradient_is_needed():
    x = cg.tensor([3.0, 1.0, 2.0])
    np.testing.assert_allclose(np.sinc(x), np.sinc([3.0, 1.0, 2.0]))
    np.testing.assert_allclose(np.arctan(x), np.arctan([3.0, 1.0, 2.0]))


def test_accidental_conversion_to_array_is_an_error():
    a = cg.tensor(1.0, requires_grad=True)
    b = cg.tensor(2.0, requires_grad=True)
    with pytest.raises(cg.NotDifferentiableError, match="drop its gradient"):
        np.array([a, b])
    with pytest.raises(cg.NotDifferentiableError, match="drop its gradient"):
        np.asarray(a)


def test_create_graph_gives_differentiable_gradients():
    x = cg.tensor(2.0, requires_grad=True)
    y = x ** 3
    y.backward(create_graph=True)
    dx = x.grad                  # 3x^2, itself a circuit
    assert isinstance(dx, cg.Tensor) and float(dx) == 12.0
    x.grad = None
    dx.backward()
    assert float(x.grad) == 12.0  # d/dx 3x^2 = 6x


def test_hessian_of_quadratic_form_is_a_plus_a_transpose():
    A = np.random.default_rng(2).standard_normal((4, 4))
    H = cg.hessian(lambda x: x @ A @ x)(np.ones(4))
    np.testing.assert_allclose(H, A + A.T, rtol=1e-12)


def test_hessian_of_the_notes_staged_example():
    def f(v):
        x, y = v[0], v[1]
        return (x + cg.sigmoid(y)) / (cg.sigmoid(x) + (x + y) ** 2)
    v = np.array([3.0, -4.0])
    H = cg.hessian(f)(v)
    grad_f = cg.grad(f)
    eps = 1e-6
    numeric = np.stack([(grad_f(v + eps * e) - grad_f(v - eps * e)) / (2 * eps)
                        for e in np.eye(2)], axis=1)
    np.testing.assert_allclose(H, numeric, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(H, H.T, rtol=1e-12)


@pytest.mark.parametrize("x", [0.3, -1.2])
def test_third_derivatives_of_exp_and_sin(x):
    d3 = cg.grad(cg.grad(cg.grad(np.exp)))
    assert float(d3(x)) == pytest.approx(np.exp(x), rel=1e-12)
    d3 = cg.grad(cg.grad(cg.grad(np.sin)))
    assert float(d3(x)) == pytest.approx(-np.cos(x), rel=1e-12)
    # forward over forward over reverse gives the same
    def d1(v):
        return cg.grad(np.sin)(v)

    def d2(v):
        return cg.jvp(d1, (v,), (1.0,))[1]
    assert float(cg.jvp(d2, (x,), (1.0,))[1]) == pytest.approx(-np.cos(x), rel=1e-12)


PERTURBATION_CASES = {
    "rev-rev": lambda: cg.grad(lambda x: x * cg.grad(lambda y: x + y)(1.0))(1.0),
    "fwd-fwd": lambda: cg.jvp(
        lambda x: x * cg.jvp(lambda y: x + y, (1.0,), (1.0,))[1], (1.0,), (1.0,))[1],
    "fwd-rev": lambda: cg.jvp(lambda x: x * cg.grad(lambda y: x + y)(1.0), (1.0,), (1.0,))[1],
    "rev-fwd": lambda: cg.grad(lambda x: x * cg.jvp(lambda y: x + y, (1.0,), (1.0,))[1])(1.0),
}


@pytest.mark.parametrize("modes", PERTURBATION_CASES)
def test_nested_derivatives_do_not_confuse_perturbations(modes):
    assert float(PERTURBATION_CASES[modes]()) == 1.0


def test_hessian_vector_product_matches_the_hessian():
    rng = np.random.default_rng(3)
    x, v = rng.standard_normal(5), rng.standard_normal(5)

    def f(t):
        return np.sum(np.tanh(t) ** 2) + np.sum(t[:-1] * t[1:])
    np.testing.assert_allclose(cg.hvp(f, (x,), (v,)), cg.hessian(f)(x) @ v, rtol=1e-10)


def test_jacobian_modes_agree():
    rng = np.random.default_rng(4)
    W = rng.standard_normal((3, 4))

    def f(x):
        return np.tanh(W @ x)
    x = rng.standard_normal(4)
    J_rev, J_fwd = cg.jacobian(f)(x), cg.jacobian(f, mode="fwd")(x)
    assert J_rev.shape == (3, 4)
    np.testing.assert_allclose(J_rev, J_fwd, rtol=1e-12)
    np.testing.assert_allclose(J_rev, (1 - np.tanh(W @ x) ** 2)[:, None] * W, rtol=1e-12)


def test_transforms_take_and_return_trees():
    def f(p):
        return np.sum(p["a"][0] * p["a"][1]) + np.sum(p["b"][0] ** 2)
    p = {"a": [np.array([1.0, 2.0]), np.array([3.0, 4.0])], "b": (np.array(2.0),)}
    g = cg.grad(f)(p)
    assert isinstance(g["a"], list) and isinstance(g["b"], tuple)
    np.testing.assert_array_equal(g["a"][0], [3.0, 4.0])
    out, tangent = cg.jvp(f, (p,), ({"a": [np.ones(2), np.zeros(2)], "b": (np.array(0.0),)},))
    assert float(tangent) == 7.0
    (out, back) = cg.vjp(lambda a, b: {"s": a * b, "t": a + b}, np.ones(2), 2 * np.ones(2))
    ga, gb = back({"s": np.ones(2), "t": np.ones(2)})
    np.testing.assert_array_equal(ga, [3.0, 3.0])
    np.testing.assert_array_equal(gb, [2.0, 2.0])


def test_grad_of_non_scalar_function_explains():
    with pytest.raises(cg.ShapeError, match="scalar"):
        cg.grad(lambda x: x * 2)(np.ones(3))
