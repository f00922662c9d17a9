"""Every layer's gradient against central differences (float64), and forward values against
plain loops written the slow, obvious way."""

import numpy as np
import pytest

import circuitgrad as cg
from circuitgrad import nn
from circuitgrad.nn import functional as F

F64 = np.float64


def check_layer(layer, x, **options):
    """check_grad of ``layer`` with respect to its input and every parameter."""
    named = layer.named_parameters()
    names = [name for name, _ in named]

    def run(x, *params):
        with nn.substituted(layer, dict(zip(names, params, strict=True))):
            return layer(x)

    report = cg.check_grad(run, x, *[p.data for _, p in named], **options)
    assert report.ok, str(report)
    assert len(report.inputs) == 1 + len(names)
    return report


def check_hessian(f, x):
    """``cg.hessian(f)`` at ``x`` against central differences of ``cg.grad(f)``, and
    symmetric."""
    hessian = np.asarray(cg.hessian(f)(x)).reshape(x.size, x.size)
    eps = 1e-6
    numeric = np.empty_like(hessian)
    for k in range(x.size):
        step = np.zeros(x.size)
        step[k] = eps
        step = step.reshape(x.shape)
        numeric[:, k] = (np.asarray(cg.grad(f)(x + step)) -
                         np.asarray(cg.grad(f)(x - step))).ravel() / (2 * eps)
    np.testing.assert_allclose(hessian, numeric, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(hessian, hessian.T, atol=1e-10)


def distinct(rng, shape):
    """Values at least 0.01 apart, so max-pooling never meets a tie within a step."""
    n = int(np.prod(shape))
    return ((rng.permutation(n) - n / 2) * 0.01).reshape(shape)


# ----- gradients -----------------------------------------------------------------------------
def test_linear_gradient():
    rng = np.random.default_rng(0)
    check_layer(nn.Linear(4, 3, rng=1, dtype=F64), rng.standard_normal((5, 4)))


@pytest.mark.parametrize("kernel, stride, padding", [
    (3, 1, 1), (3, 2, 1), (3, 2, 0), ((2, 3), (2, 1), (0, 1)), (1, 1, 0), (4, 3, 2),
])
def test_conv2d_gradient(kernel, stride, padding):
    rng = np.random.default_rng(1)
    layer = nn.Conv2d(2, 3, kernel, stride=stride, padding=padding, rng=2, dtype=F64)
    layer.bias.data = rng.standard_normal(3)
    check_layer(layer, rng.standard_normal((2, 2, 6, 7)))


def test_conv2d_without_bias_gradient():
    rng = np.random.default_rng(2)
    check_layer(nn.Conv2d(1, 2, 3, bias=False, rng=0, dtype=F64),
                rng.standard_normal((2, 1, 5, 5)))


@pytest.mark.parametrize("kernel, stride", [(2, None), (3, 2), (2, 1), ((2, 3), (1, 2))])
def test_max_pool_gradient(kernel, stride):
    rng = np.random.default_rng(3)
    check_layer(nn.MaxPool2d(kernel, stride), distinct(rng, (2, 3, 7, 6)))


def test_max_pool_splits_ties_evenly():
    x = cg.tensor(np.ones((1, 1, 2, 2)), requires_grad=True)
    F.max_pool2d(x, 2).sum().backward()
    np.testing.assert_array_equal(x.grad, np.full((1, 1, 2, 2), 0.25))


@pytest.mark.parametrize("layer", [nn.ReLU(), nn.Sigmoid(), nn.Tanh(), nn.Flatten()],
                         ids=lambda m: type(m).__name__)
def test_activation_gradients(layer):
    rng = np.random.default_rng(4)
    x = rng.choice([-1.0, 1.0], (3, 2, 2, 2)) * rng.uniform(0.1, 2.0, (3, 2, 2, 2))
    check_layer(layer, x)


def test_dropout_gradient_with_a_fixed_mask():
    layer = nn.Dropout(0.3)
    rng = np.random.default_rng(5)

    class SameMask(nn.Module):  # a fresh generator per call: the same mask every call
        def __init__(self):
            self.inner = layer

        def forward(self, x):
            self.inner.rng = np.random.default_rng(7)
            return self.inner(x)

    check_layer(SameMask(), rng.standard_normal((4, 5)))


@pytest.mark.parametrize("make, shape", [
    (lambda: nn.BatchNorm1d(3, dtype=F64), (6, 3)),
    (lambda: nn.BatchNorm1d(3, dtype=F64), (4, 3, 2)),
    (lambda: nn.BatchNorm2d(2, dtype=F64), (3, 2, 3, 2)),
])
@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_batch_norm_gradient(make, shape, training):
    rng = np.random.default_rng(6)
    layer = make().train(training)
    layer.weight.data = rng.uniform(0.5, 2.0, layer.num_features)
    layer.bias.data = rng.standard_normal(layer.num_features)
    layer.running_mean[:] = rng.standard_normal(layer.num_features)
    layer.running_var[:] = rng.uniform(0.5, 2.0, layer.num_features)
    check_layer(layer, rng.standard_normal(shape) * 2 + 1)


def test_small_convnet_gradient():
    rng = np.random.default_rng(7)
    model = nn.Sequential(
        nn.Conv2d(1, 2, 3, padding=1, rng=0, dtype=F64), nn.BatchNorm2d(2, dtype=F64),
        nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(2, 3, 2, stride=1, rng=1, dtype=F64),
        nn.Tanh(), nn.Flatten(), nn.Linear(3, 4, rng=2, dtype=F64))
    check_layer(model, rng.standard_normal((3, 1, 4, 4)), directions=6)


# ----- losses --------------------------------------------------------------------------------
def test_softmax_cross_entropy_gradient_and_value():
    rng = np.random.default_rng(8)
    scores, labels = rng.standard_normal((5, 4)), np.array([0, 3, 1, 1, 2])
    report = cg.check_grad(lambda s: nn.softmax_cross_entropy(s, labels), scores)
    assert report.ok, str(report)
    p = np.exp(scores) / np.exp(scores).sum(axis=1, keepdims=True)
    expected = -np.mean(np.log(p[np.arange(5), labels]))
    assert float(nn.softmax_cross_entropy(scores, labels)) == pytest.approx(expected, 1e-12)


def test_softmax_cross_entropy_is_stable_for_huge_scores():
    scores = cg.tensor([[1000.0, -1000.0], [-1000.0, 1000.0]], requires_grad=True)
    loss = nn.softmax_cross_entropy(scores, np.array([1, 1]))
    loss.backward()
    assert float(loss) == pytest.approx(1000.0)
    np.testing.assert_allclose(scores.grad, [[0.5, -0.5], [0.0, 0.0]])


def test_softmax_cross_entropy_keeps_float32():
    scores = cg.tensor(np.ones((3, 4), np.float32), requires_grad=True)
    loss = nn.softmax_cross_entropy(scores, np.array([0, 1, 2]))
    loss.backward()
    assert loss.dtype == np.float32 and scores.grad.dtype == np.float32


def test_svm_loss_gradient_and_value():
    rng = np.random.default_rng(9)
    scores, labels = rng.standard_normal((6, 4)), np.array([0, 1, 2, 3, 0, 1])
    report = cg.check_grad(lambda s: nn.svm_loss(s, labels, margin=1.0), scores)
    assert report.ok, str(report)
    margins = np.maximum(0, scores - scores[np.arange(6), labels][:, None] + 1.0)
    margins[np.arange(6), labels] = 0
    assert float(nn.svm_loss(scores, labels)) == pytest.approx(margins.sum() / 6, 1e-12)


def test_mse_and_l2_gradients():
    rng = np.random.default_rng(10)
    target = rng.standard_normal((3, 2))
    assert cg.check_grad(lambda p: nn.mse_loss(p, target), rng.standard_normal((3, 2))).ok
    report = cg.check_grad(lambda a, b: nn.l2_penalty([a, b], 0.1),
                           rng.standard_normal((2, 2)), rng.standard_normal(3))
    assert report.ok, str(report)
    w = cg.tensor([1.0, -2.0], requires_grad=True)
    nn.l2_penalty([w], 0.5).backward()
    np.testing.assert_allclose(w.grad, [0.5, -1.0])  # strength * w


@pytest.mark.parametrize("labels, message", [
    (np.array([0, 4, 1]), "label 4 at position 1 is out of range"),
    (np.array([0, -1, 1]), "label -1 at position 1"),
    (np.array([[0, 1, 2]]), "1-d array"),
    (np.array([0.5, 1, 2]), "integer class indices"),
    (np.array([0, 1]), "2 labels for 3 rows"),
])
@pytest.mark.parametrize("loss", [nn.softmax_cross_entropy, nn.svm_loss])
def test_bad_labels_are_named(loss, labels, message):
    with pytest.raises(nn.LabelError, match=message):
        loss(np.zeros((3, 4)), labels)


# ----- forward values against slow loops ------------------------------------------------------
def naive_conv(x, w, b, stride, padding):
    n, c, h, wd = x.shape
    f, _, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    oh, ow = (h + 2 * padding - kh) // stride + 1, (wd + 2 * padding - kw) // stride + 1
    out = np.zeros((n, f, oh, ow))
    for i in range(n):
        for k in range(f):
            for r in range(oh):
                for s in range(ow):
                    patch = xp[i, :, r * stride:r * stride + kh, s * stride:s * stride + kw]
                    out[i, k, r, s] = np.sum(patch * w[k]) + b[k]
    return out


@pytest.mark.parametrize("stride, padding", [(1, 0), (1, 1), (2, 1), (3, 2)])
def test_conv2d_matches_a_loop(stride, padding):
    rng = np.random.default_rng(11)
    x, w, b = (rng.standard_normal((2, 3, 7, 6)), rng.standard_normal((4, 3, 3, 2)),
               rng.standard_normal(4))
    got = F.conv2d(x, cg.tensor(w), cg.tensor(b), stride, padding)
    np.testing.assert_allclose(got.data, naive_conv(x, w, b, stride, padding), atol=1e-12)
    assert got.data.strides[1] == got.data.itemsize  # channels-last in memory (NHWC)


def test_max_pool_matches_a_loop():
    rng = np.random.default_rng(12)
    x = rng.standard_normal((2, 3, 7, 7))
    got = F.max_pool2d(x, 3, stride=2).data
    want = np.array([[[[x[i, c, 2 * r:2 * r + 3, 2 * s:2 * s + 3].max() for s in range(3)]
                       for r in range(3)] for c in range(3)] for i in range(2)])
    np.testing.assert_array_equal(got, want)


def test_unfold_and_fold_are_adjoint():
    rng = np.random.default_rng(13)
    x = rng.standard_normal((2, 3, 6, 5))
    windows = F.unfold(x, 3, stride=2, padding=1).data
    w = rng.standard_normal(windows.shape)
    folded = F.fold(w, x.shape, stride=2, padding=1).data
    assert np.sum(windows * w) == pytest.approx(np.sum(x * folded), rel=1e-12)


@pytest.mark.parametrize("pool", [False, True], ids=["conv", "conv+pool"])
def test_second_derivatives_through_conv_and_pool(pool):
    # the VJPs of unfold, fold and max-pool are made of gates, so they differentiate again
    rng = np.random.default_rng(14)
    x, w = rng.standard_normal((1, 2, 4, 4)), cg.tensor(rng.standard_normal((2, 2, 2, 2)))

    def f(x):
        y = cg.tanh(F.conv2d(x, w, stride=1, padding=1))
        if pool:
            y = F.max_pool2d(y, 2)
        return (y * y).sum()

    check_hessian(f, x)


def test_svm_loss_with_a_minus_inf_score_is_finite_with_the_right_gradient():
    # s = [0, -inf, 1], y = 0: max(0, -inf) + max(0, 1 - 0 + 1) = 2; the ruled-out class
    # gets gradient 0, as softmax_cross_entropy gives it
    scores = cg.tensor([[0.0, -np.inf, 1.0], [2.0, 0.5, -np.inf]], requires_grad=True)
    loss = nn.svm_loss(scores, np.array([0, 1]))
    loss.backward()
    assert float(loss) == (2.0 + 2.5) / 2
    np.testing.assert_array_equal(scores.grad, [[-0.5, 0.0, 0.5], [0.5, -0.5, 0.0]])


def test_svm_loss_keeps_float32():
    scores = cg.tensor(np.ones((2, 3), np.float32), requires_grad=True)
    loss = nn.svm_loss(scores, np.array([0, 2]))
    loss.backward()
    assert loss.dtype == np.float32 and scores.grad.dtype == np.float32


@pytest.mark.parametrize("make, message", [
    (lambda: nn.Conv2d(1, 1, 3, stride=0), "Conv2d: stride must be a positive integer"),
    (lambda: nn.Conv2d(1, 1, 0), "Conv2d: kernel_size must be a positive integer"),
    (lambda: nn.Conv2d(1, 1, (3, -1)), r"Conv2d: kernel_size .*, got \(3, -1\)"),
    (lambda: nn.Conv2d(1, 1, 3, padding=-1), "Conv2d: padding must be a non-negative"),
    (lambda: nn.MaxPool2d(2, stride=0), "MaxPool2d: stride must be a positive integer"),
    (lambda: nn.MaxPool2d(0), "MaxPool2d: kernel_size must be a positive integer.* got 0"),
])
def test_bad_window_hyperparameters_are_refused_at_construction(make, message):
    with pytest.raises(ValueError, match=message):
        make()


@pytest.mark.parametrize("call, message", [
    (lambda x, w: F.conv2d(x, w, stride=0), "conv2d: stride must be a positive integer"),
    (lambda x, w: F.conv2d(x, w, padding=(0, -2)), "conv2d: padding must be a non-negative"),
    (lambda x, w: F.conv2d(x, w[:, :, :0]), "conv2d: kernel_size must be a positive"),
    (lambda x, w: F.max_pool2d(x, 2, stride=0), "max_pool2d: stride must be a positive"),
    (lambda x, w: F.unfold(x, 0), "unfold: kernel_size must be a positive"),
    (lambda x, w: F.fold(F.unfold(x, 2), x.shape, stride=0), "fold: stride must be"),
])
def test_bad_window_hyperparameters_are_refused_by_the_functions(call, message):
    x, w = np.zeros((1, 1, 5, 5)), cg.tensor(np.ones((1, 1, 3, 3)))
    with pytest.raises(ValueError, match=message):
        call(x, w)
