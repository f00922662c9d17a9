"""More of what PyTorch users reach for, under PyTorch's names and defaults: activations,
losses, optimizers, schedules, containers, nn.utils and nn.init's in-place spellings. Each
differentiable one is checked against central differences in float64 and against its
formula written out here in NumPy; schedules also against numbers PyTorch 2.13 printed
(bench/nn_more_parity.py compares the rest with PyTorch where it is installed)."""

import math

import numpy as np
import pytest

import circuitgrad as cg
from circuitgrad import nn
from nn_steps import training_step
from test_nn_layers import check_layer, distinct

F = nn.functional
F64 = np.float64
RNG = np.random.default_rng(23)


def softplus(x):
    return np.log1p(np.exp(-np.abs(x))) + np.maximum(x, 0)


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


# ----- activations ---------------------------------------------------------------------------
@pytest.mark.parametrize("layer, reference", [
    (nn.ELU(), lambda x: np.where(x > 0, x, np.exp(x) - 1)),
    (nn.ELU(alpha=0.7), lambda x: np.where(x > 0, x, 0.7 * (np.exp(x) - 1))),
    (nn.SiLU(), lambda x: x * sigmoid(x)),
    (nn.Mish(), lambda x: x * np.tanh(softplus(x))),
    (nn.Softplus(), softplus),
    (nn.Softplus(beta=2.0, threshold=3.0),
     lambda x: np.where(2 * x > 3, x, np.log1p(np.exp(2 * x)) / 2)),
    (nn.Hardtanh(), lambda x: np.clip(x, -1, 1)),
    (nn.Hardtanh(-0.5, 2.0), lambda x: np.clip(x, -0.5, 2.0)),
    (nn.ReLU6(), lambda x: np.clip(x, 0, 6)),
    (nn.LogSigmoid(), lambda x: np.log(sigmoid(x))),
    (nn.SELU(), lambda x: 1.0507009873554805 * np.where(x > 0, x,
                                                        1.6732632423543772 * np.expm1(x))),
    (nn.CELU(0.6), lambda x: np.where(x > 0, x, 0.6 * np.expm1(x / 0.6))),
    (nn.Softsign(), lambda x: x / (1 + np.abs(x))),
    (nn.Hardsigmoid(), lambda x: np.clip(x / 6 + 0.5, 0, 1)),
    (nn.Hardswish(), lambda x: x * np.clip(x + 3, 0, 6) / 6),
    (nn.GLU(dim=0), lambda x: x[:3] * sigmoid(x[3:])),
])
def test_activations_match_their_formulas_and_their_gradients(layer, reference):
    # values 0.4 apart over [-8.4, 8.4], each at least 0.013 from a kink (0, +-1, -0.5, 2,
    # 6, 1.5), so some are clipped by Hardtanh and some are past Softplus' threshold
    x = distinct(RNG, (6, 7)) * 40 + 0.013
    assert (x > 6).any() and (x < -1).any()
    np.testing.assert_allclose(layer(x).data, reference(x), rtol=1e-12, atol=1e-15)
    check_layer(layer, x)


def test_prelu_learns_one_slope_or_one_per_channel():
    x = distinct(RNG, (4, 3, 5)) * 10 + 0.013
    layer = nn.PReLU(dtype=F64)
    np.testing.assert_allclose(layer(x).data, np.where(x > 0, x, 0.25 * x))
    check_layer(layer, x)
    per_channel = nn.PReLU(3, init=0.1, dtype=F64)
    per_channel.weight.data[...] = [0.1, 0.2, 0.3]
    want = np.where(x > 0, x, np.array([0.1, 0.2, 0.3])[None, :, None] * x)
    np.testing.assert_allclose(per_channel(x).data, want)
    check_layer(per_channel, x)
    with pytest.raises(cg.ShapeError, match="3 weights, one per channel, need an input with 3 "
                                            "channels on axis 1, got shape .4, 5."):
        per_channel(np.ones((4, 5)))
    with pytest.raises(cg.ShapeError, match="glu halves axis -1, which must have an even size"):
        nn.GLU()(np.ones((2, 3)))


def test_activations_stay_finite_far_out_where_exp_would_overflow():
    x = cg.tensor(np.array([-800.0, -30.0, 30.0, 800.0]), requires_grad=True)
    for fn, slope_right, slope_left in [(F.elu, 1.0, 0.0), (F.softplus, 1.0, 0.0),
                                        (F.silu, 1.0, 0.0), (F.mish, 1.0, 0.0),
                                        (F.logsigmoid, 0.0, 1.0), (F.selu, 1.0507009873554805,
                                                                   0.0)]:
        x.grad = None
        with np.errstate(over="raise"):
            out = fn(x)
        out.sum().backward()
        assert np.all(np.isfinite(out.data)), fn.__name__
        np.testing.assert_allclose(x.grad[[0, 3]], [slope_left, slope_right], atol=1e-12,
                                   err_msg=fn.__name__)
    # softplus above its threshold is x itself, as in PyTorch (there they agree anyway)
    np.testing.assert_array_equal(F.softplus(np.array([25.0])).data, [25.0])


def test_elu_and_hardtanh_gradients_at_their_kinks_are_pytorchs():
    x = cg.tensor(np.array([0.0, -1.0, 1.0]), requires_grad=True)
    F.elu(x, alpha=2.0).sum().backward()
    assert x.grad[0] == 2.0                    # PyTorch takes x <= 0 as the exp side
    x.grad = None
    F.hardtanh(x).sum().backward()
    np.testing.assert_array_equal(x.grad, [1.0, 0.0, 0.0])  # passes strictly inside only
    ends = cg.tensor(np.array([-3.0, 3.0]), requires_grad=True)
    F.hardswish(ends).sum().backward()
    np.testing.assert_array_equal(ends.grad, [0.0, 1.0])      # the outer pieces' slopes
    ends.grad = None
    F.hardsigmoid(ends).sum().backward()
    np.testing.assert_array_equal(ends.grad, [0.0, 0.0])      # 1/6 strictly inside only


def test_pytorchs_inplace_argument_is_accepted_and_leaves_the_input_alone(tmp_path):
    x = RNG.standard_normal((3, 4))
    before = x.copy()
    for plain, inplace in [(nn.ReLU(), nn.ReLU(inplace=True)),
                           (nn.LeakyReLU(0.2), nn.LeakyReLU(0.2, True)),
                           (nn.ELU(), nn.ELU(inplace=True)), (nn.SiLU(), nn.SiLU(True)),
                           (nn.Hardtanh(), nn.Hardtanh(inplace=True)),
                           (nn.Dropout(0.5, rng=1), nn.Dropout(0.5, inplace=True, rng=1))]:
        np.testing.assert_array_equal(inplace(x).data, plain(x).data)
    np.testing.assert_array_equal(x, before)
    model = nn.Sequential(nn.Linear(4, 2, rng=0), nn.ReLU(inplace=True))
    model.save(tmp_path / "m.npz")
    assert nn.load(tmp_path / "m.npz")[1].inplace is True


def test_activation_arguments_are_checked():
    with pytest.raises(ValueError, match="beta must not be 0"):
        nn.Softplus(beta=0)
    with pytest.raises(ValueError, match="min_val .2. must be less than max_val .1."):
        nn.Hardtanh(2, 1)
    assert repr(nn.ELU(0.5)) == "ELU(alpha=0.5)"


# ----- regression losses ---------------------------------------------------------------------
def reduce(losses, reduction):
    return {"mean": losses.mean(), "sum": losses.sum(), "none": losses}[reduction]


def huber(d, delta):
    return np.where(np.abs(d) < delta, 0.5 * d * d, delta * (np.abs(d) - 0.5 * delta))


def smooth_l1(d, beta):
    return np.where(np.abs(d) < beta, 0.5 * d * d / beta, np.abs(d) - 0.5 * beta)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("loss, reference", [
    (lambda r: nn.L1Loss(r), lambda d: np.abs(d)),
    (lambda r: nn.HuberLoss(r), lambda d: huber(d, 1.0)),
    (lambda r: nn.HuberLoss(reduction=r, delta=0.4), lambda d: huber(d, 0.4)),
    (lambda r: nn.SmoothL1Loss(r), lambda d: smooth_l1(d, 1.0)),
    (lambda r: nn.SmoothL1Loss(reduction=r, beta=2.5), lambda d: smooth_l1(d, 2.5)),
    (lambda r: nn.SmoothL1Loss(reduction=r, beta=0.0), lambda d: np.abs(d)),
])
def test_regression_losses_against_their_formulas_and_gradients(loss, reference, reduction):
    # d = 0.1 m + 0.0071: never at 0 or at a threshold (multiples of 0.1), on both sides
    prediction = distinct(RNG, (5, 4)) * 30 + 0.0071
    target = distinct(RNG, (5, 4)) * 20
    d = np.abs(prediction - target)
    assert (d < 0.4).any() and (d > 2.5).any()
    module = loss(reduction)
    np.testing.assert_allclose(module(prediction, target).data,
                               reduce(reference(prediction - target), reduction), rtol=1e-12)
    report = cg.check_grad(module, prediction, target)  # the target's gradient too
    assert report.ok, str(report)


def test_huber_is_delta_times_smooth_l1_with_beta_delta_as_pytorch_documents():
    p, t = RNG.standard_normal(20) * 3, RNG.standard_normal(20)
    np.testing.assert_allclose(float(F.huber_loss(p, t, delta=2.0)),
                               2.0 * float(F.smooth_l1_loss(p, t, beta=2.0)), rtol=1e-12)


def test_regression_losses_refuse_a_target_that_only_broadcasts():
    with pytest.raises(cg.ShapeError, match=r"l1_loss: the target has shape \(5,\) but the "
                                            r"input has shape \(5, 1\)"):
        nn.L1Loss()(np.ones((5, 1)), np.ones(5))
    with pytest.raises(cg.ShapeError, match="huber_loss"):
        nn.HuberLoss()(np.ones((2, 3)), np.ones((3, 2)))
    with pytest.raises(ValueError, match="delta must be positive"):
        nn.HuberLoss(delta=0)
    with pytest.raises(ValueError, match="beta must not be negative"):
        nn.SmoothL1Loss(beta=-1)
    with pytest.raises(ValueError, match="L1Loss: reduction must be 'mean', 'sum' or 'none'"):
        nn.L1Loss(reduction="avg")


def test_a_float64_target_keeps_a_float32_loss_float32():
    p = np.ones((3, 2), dtype=np.float32)
    t = np.zeros((3, 2))
    for loss in (nn.L1Loss(), nn.HuberLoss(), nn.SmoothL1Loss(), nn.BCEWithLogitsLoss(),
                 nn.BCELoss(weight=np.ones(2))):
        assert loss(p * 0.5, t).dtype == np.float32, type(loss).__name__


# ----- binary cross-entropy ------------------------------------------------------------------
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_bce_loss_against_its_formula_and_gradient(reduction):
    p = sigmoid(RNG.standard_normal((6, 3)))
    t = RNG.random((6, 3))  # soft targets are allowed, as in PyTorch
    w = RNG.random(3) + 0.5
    want = -w * (t * np.log(p) + (1 - t) * np.log(1 - p))
    loss = nn.BCELoss(weight=w, reduction=reduction)
    np.testing.assert_allclose(loss(p, t).data, reduce(want, reduction), rtol=1e-12)
    report = cg.check_grad(lambda p, t: loss(p, t), p, t)
    assert report.ok, str(report)


def test_bce_loss_clamps_its_logs_at_minus_100_as_pytorch_does():
    p = cg.tensor(np.array([0.0, 1.0, 0.0, 1.0]), requires_grad=True)
    t = np.array([1.0, 0.0, 0.0, 1.0])
    losses = F.binary_cross_entropy(p, t, reduction="none")
    np.testing.assert_array_equal(losses.data, [100.0, 100.0, 0.0, 0.0])
    losses.sum().backward()
    # a certain wrong answer is pushed hard (PyTorch: 1 / 1e-12); a certain right one gets
    # the true one-sided derivative of -log(1 - p) or -log(p), not nan
    np.testing.assert_allclose(p.grad, [-1e12, 1e12, 1.0, -1.0], rtol=1e-12)
    with pytest.raises(ValueError, match=r"probabilities in \[0, 1\]; input\[1, 0\] is 1.5 "
                                         r".*BCEWithLogitsLoss"):
        nn.BCELoss()(np.array([[0.5], [1.5]]), np.zeros((2, 1)))
    with pytest.raises(cg.ShapeError, match="binary_cross_entropy: the target has shape"):
        nn.BCELoss()(np.full((4, 1), 0.5), np.zeros(4))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_bce_with_logits_against_its_formula_pos_weight_and_gradient(reduction):
    x = RNG.standard_normal((5, 3)) * 3
    t = (RNG.random((5, 3)) > 0.5).astype(float)
    pos, w = np.array([1.0, 2.5, 0.3]), RNG.random((5, 1)) + 0.5
    s = sigmoid(x)
    want = -w * (pos * t * np.log(s) + (1 - t) * np.log(1 - s))
    loss = nn.BCEWithLogitsLoss(weight=w, reduction=reduction, pos_weight=pos)
    np.testing.assert_allclose(loss(x, t).data, reduce(want, reduction), rtol=1e-10)
    report = cg.check_grad(lambda x, t: loss(x, t), x, t)
    assert report.ok, str(report)


def test_bce_with_logits_is_stable_for_huge_scores():
    x = cg.tensor(np.array([1000.0, -1000.0, 1000.0, -1000.0]), requires_grad=True)
    t = np.array([1.0, 0.0, 0.0, 1.0])
    losses = F.binary_cross_entropy_with_logits(x, t, reduction="none")
    np.testing.assert_allclose(losses.data, [0.0, 0.0, 1000.0, 1000.0], atol=1e-300)
    losses.sum().backward()
    np.testing.assert_allclose(x.grad, [0.0, 0.0, 1.0, -1.0])  # sigmoid(x) - t
    with pytest.raises(cg.ShapeError, match="pos_weight of shape .2,. must broadcast over "
                                            "the last axis"):
        nn.BCEWithLogitsLoss(pos_weight=np.ones(2))(np.zeros((4, 3)), np.zeros((4, 3)))


# ----- negative log-likelihood -------------------------------------------------------------
def log_softmax(s, axis=1):
    return s - np.log(np.exp(s).sum(axis=axis, keepdims=True))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_nll_loss_with_weights_and_ignored_labels_against_its_formula(reduction):
    logp = log_softmax(RNG.standard_normal((6, 4)))
    labels = np.array([0, 3, -100, 2, 2, 1])
    w = np.array([0.5, 2.0, 1.0, 3.0])
    kept = labels != -100
    safe = np.where(kept, labels, 0)
    losses = -logp[np.arange(6), safe] * w[safe] * kept
    want = losses.sum() / (w[safe] * kept).sum() if reduction == "mean" else \
        reduce(losses, reduction)
    loss = nn.NLLLoss(weight=w, reduction=reduction)
    np.testing.assert_allclose(loss(logp, labels).data, want, rtol=1e-12)
    report = cg.check_grad(lambda s: loss(s, labels), logp)
    assert report.ok, str(report)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_loss_with_class_weights_and_smoothing_as_pytorch_defines_it(reduction):
    scores = RNG.standard_normal((6, 4))
    labels = np.array([0, 3, -100, 2, 2, 1])
    w = np.array([0.5, 2.0, 1.0, 3.0])
    kept = labels != -100
    safe = np.where(kept, labels, 0)
    logp = log_softmax(scores)
    # PyTorch: (1 - e) * weighted nll + e / C * sum_c w_c (-log p_c), the mean divided by
    # the summed weights of the labels counted
    per_sample = (0.9 * -logp[np.arange(6), safe] * w[safe] + 0.1 / 4 * -(logp * w).sum(1))
    per_sample = per_sample * kept
    want = per_sample.sum() / (w[safe] * kept).sum() if reduction == "mean" else \
        reduce(per_sample, reduction)
    loss = nn.CrossEntropyLoss(weight=w, reduction=reduction, label_smoothing=0.1)
    np.testing.assert_allclose(loss(scores, labels).data, want, rtol=1e-12)
    report = cg.check_grad(lambda s: loss(s, labels), scores)
    assert report.ok, str(report)
    with pytest.raises(cg.ShapeError, match="cross_entropy: weight must have one entry per "
                                            "class"):
        nn.CrossEntropyLoss(weight=np.ones(3))(scores, labels)
    with pytest.raises(TypeError, match="first argument is weight, as in PyTorch; write "
                                        "CrossEntropyLoss.reduction='sum'."):
        nn.CrossEntropyLoss("sum")


def test_log_softmax_then_nll_loss_is_cross_entropy():
    scores, labels = RNG.standard_normal((5, 3)), np.array([2, 0, 1, 1, -100])
    model = nn.Sequential(nn.LogSoftmax(dim=1))
    np.testing.assert_allclose(float(nn.NLLLoss()(model(scores), labels)),
                               float(nn.CrossEntropyLoss()(scores, labels)), rtol=1e-12)


def test_nll_loss_over_positions_n_c_d():
    logp = log_softmax(RNG.standard_normal((2, 3, 4)), axis=1)
    labels = np.array([[0, 2, 1, -100], [1, 1, 0, 2]])
    n, d = np.indices(labels.shape)
    kept = labels != -100
    picked = -logp[n, np.where(kept, labels, 0), d] * kept
    np.testing.assert_allclose(F.nll_loss(logp, labels, reduction="none").data, picked)
    np.testing.assert_allclose(float(F.nll_loss(logp, labels)), picked.sum() / kept.sum())
    report = cg.check_grad(lambda s: F.nll_loss(s, labels), logp)
    assert report.ok, str(report)


def test_nll_loss_errors_name_the_loss_and_the_expected_shape():
    logp = np.zeros((4, 3))
    with pytest.raises(nn.LabelError, match=r"nll_loss: input of shape \(4, 3\) needs labels "
                                            r"of shape \(4,\).*got shape \(4, 1\)"):
        nn.NLLLoss()(logp, np.zeros((4, 1), dtype=int))
    with pytest.raises(nn.LabelError, match="label 3 at position 2 is out of range"):
        nn.NLLLoss()(logp, np.array([0, 1, 3, 2]))
    with pytest.raises(cg.ShapeError, match=r"weight must have one entry per class, shape "
                                            r"\(3,\)"):
        nn.NLLLoss(weight=np.ones(4))(logp, np.array([0, 1, 2, 2]))
    with pytest.raises(cg.ShapeError, match="nll_loss takes input of shape"):
        nn.NLLLoss()(np.zeros(3), np.array([0]))
    # every label ignored: 0 / 0, as in PyTorch
    assert math.isnan(float(nn.NLLLoss()(logp, np.full(4, -100))))


# ----- pooling over one axis ---------------------------------------------------------------
def test_pool1d_against_windows_and_gradients():
    x = distinct(RNG, (2, 3, 9))
    windows = np.stack([x[:, :, i:i + 3] for i in range(0, 7, 2)], axis=2)  # kernel 3, stride 2
    np.testing.assert_array_equal(nn.MaxPool1d(3, stride=2)(x).data, windows.max(axis=3))
    np.testing.assert_allclose(nn.AvgPool1d(3, 2)(x).data, windows.mean(axis=3), rtol=1e-12)
    np.testing.assert_array_equal(nn.MaxPool1d(4)(x).data,
                                  x[:, :, :8].reshape(2, 3, 2, 4).max(axis=3))
    check_layer(nn.MaxPool1d(3, stride=2), x)
    check_layer(nn.AvgPool1d(2), x)
    with pytest.raises(cg.ShapeError, match=r"MaxPool1d\(kernel_size=2, stride=2\): expects "
                                            r"\(N, C, L\) input"):
        nn.MaxPool1d(2)(np.ones((3, 4)))
    with pytest.raises(ValueError, match="kernel_size must be a positive integer"):
        nn.AvgPool1d(0)


# ----- optimizers ----------------------------------------------------------------------------
def cubic_grad(w):
    return 3 * w * w - 3.0


def run_steps(opt, w, steps=5):
    for _ in range(steps):
        opt.zero_grad()
        (w * w * w - 3 * w).sum().backward()
        opt.step()


def test_rmsprop_matches_pytorchs_update_with_centering_momentum_and_decay():
    start = np.array([0.5, -1.5, 2.0])
    w = nn.Parameter(start.copy())
    opt = nn.RMSprop([w], lr=0.02, alpha=0.9, eps=1e-6, weight_decay=0.1, momentum=0.7,
                     centered=True)
    run_steps(opt, w)
    # PyTorch's documented algorithm, written out
    theta, v, mean, b = start.copy(), np.zeros(3), np.zeros(3), np.zeros(3)
    for _ in range(5):
        g = cubic_grad(theta) + 0.1 * theta
        v = 0.9 * v + 0.1 * g * g
        mean = 0.9 * mean + 0.1 * g
        b = 0.7 * b + g / (np.sqrt(v - mean * mean) + 1e-6)
        theta = theta - 0.02 * b
    np.testing.assert_allclose(w.data, theta, rtol=1e-12)
    assert set(opt.state[0]) == {"square_avg", "grad_avg", "momentum_buffer"}


def test_rmsprop_defaults_are_pytorchs_and_the_old_rmsprop_still_works():
    w = nn.Parameter(np.array([1.0, -2.0]))
    opt = nn.RMSprop([w])
    assert (opt.lr, opt.alpha, opt.eps, opt.momentum, opt.centered) == (0.01, 0.99, 1e-8, 0.0,
                                                                         False)
    run_steps(opt, w, 1)
    g = cubic_grad(np.array([1.0, -2.0]))
    np.testing.assert_allclose(w.data, [1.0, -2.0] - 0.01 * g / (np.sqrt(0.01 * g * g) + 1e-8))
    old = nn.Parameter(np.array([1.0, -2.0]))
    run_steps(nn.RMSProp([old], lr=0.01, decay=0.99), old, 1)
    np.testing.assert_allclose(old.data, w.data)
    with pytest.raises(ValueError, match="alpha must be in"):
        nn.RMSprop([w], alpha=1.5)


def test_adagrad_matches_pytorchs_update_and_groups_set_their_own_rate():
    start = np.array([0.5, -1.5, 2.0])
    w, other = nn.Parameter(start.copy()), nn.Parameter(start.copy())
    opt = nn.Adagrad([{"params": [w]}, {"params": [other], "lr": 0.05}], lr=0.1,
                     lr_decay=0.2, initial_accumulator_value=0.5, weight_decay=0.01)
    for _ in range(4):
        opt.zero_grad()
        (w * w * w - 3 * w).sum().backward()
        (other * other * other - 3 * other).sum().backward()
        opt.step()
    for param, lr in ((w, 0.1), (other, 0.05)):
        theta, total = start.copy(), np.full(3, 0.5)
        for t in range(1, 5):
            g = cubic_grad(theta) + 0.01 * theta
            total = total + g * g
            theta = theta - lr / (1 + (t - 1) * 0.2) * g / (np.sqrt(total) + 1e-10)
        np.testing.assert_allclose(param.data, theta, rtol=1e-12)
    saved = opt.state_dict()
    assert saved["state"][0]["step"] == 4 and saved["param_groups"][1]["lr"] == 0.05


# ----- schedules -----------------------------------------------------------------------------
def lrs(schedule, opt, steps, metrics=None):
    out = [opt.lr]
    for i in range(steps):
        schedule.step() if metrics is None else schedule.step(metrics[i])
        out.append(opt.lr)
    return out


def sgd(lr=0.5):
    return nn.SGD([nn.Parameter([1.0])], lr=lr)


def test_exponential_multistep_and_lambda_schedules():
    opt = sgd()
    np.testing.assert_allclose(lrs(nn.ExponentialLR(opt, gamma=0.8), opt, 4),
                               [0.5 * 0.8 ** k for k in range(5)])
    opt = sgd()
    np.testing.assert_allclose(lrs(nn.MultiStepLR(opt, milestones=[4, 2], gamma=0.5), opt, 5),
                               [0.5, 0.5, 0.25, 0.25, 0.125, 0.125])
    opt = sgd()
    warm = nn.LambdaLR(opt, lambda epoch: (epoch + 1) / 4 if epoch < 4 else 0.9 ** epoch)
    np.testing.assert_allclose(lrs(warm, opt, 5), [0.125, 0.25, 0.375, 0.5, 0.5 * 0.9 ** 4,
                                                   0.5 * 0.9 ** 5])
    with pytest.raises(TypeError, match="lr_lambda must be a function"):
        nn.LambdaLR(opt, [lambda e: 1.0])
    with pytest.raises(ValueError, match="each milestone must be a positive integer"):
        nn.MultiStepLR(opt, [0, 3])


def test_schedules_scale_each_parameter_groups_own_rate():
    body, head = nn.Parameter([1.0]), nn.Parameter([2.0])
    opt = nn.SGD([{"params": [body]}, {"params": [head], "lr": 0.01}], lr=0.1)
    schedule = nn.ExponentialLR(opt, gamma=0.5)
    schedule.step()
    schedule.step()
    assert [g["lr"] for g in opt.param_groups] == [0.025, 0.0025]
    opt = nn.SGD([{"params": [body]}, {"params": [head], "momentum": 0.5}], lr=0.1)
    cycle = nn.OneCycleLR(opt, max_lr=[1.0, 0.1], total_steps=4, pct_start=0.5)
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([0.04, 0.004])
    cycle.step()
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([1.0, 0.1])
    assert [g["momentum"] for g in opt.param_groups] == pytest.approx([0.85, 0.85])
    opt = nn.SGD([{"params": [body]}, {"params": [head], "lr": 0.01}], lr=0.1)
    plateau = nn.ReduceLROnPlateau(opt, patience=0, min_lr=[0.05, 0.0])
    for metric in (1.0, 1.0, 1.0):
        plateau.step(metric)
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([0.05, 0.0001])


@pytest.mark.parametrize("make", [
    lambda opt: nn.StepLR(opt, step_size=2, gamma=0.5),
    lambda opt: nn.MultiStepLR(opt, [1, 4]),
    lambda opt: nn.LambdaLR(opt, lambda step: 0.9 ** step),
    lambda opt: nn.OneCycleLR(opt, max_lr=[1.0, 0.1], total_steps=8),
])
def test_a_schedule_resumes_from_its_state_dict(make):
    def fresh():
        a, b = nn.Parameter([1.0]), nn.Parameter([2.0])
        opt = nn.SGD([{"params": [a]}, {"params": [b], "lr": 0.01}], lr=0.1, momentum=0.9)
        return opt, make(opt)
    opt, schedule = fresh()
    for _ in range(3):
        schedule.step()
    saved_opt, saved = opt.state_dict(), schedule.state_dict()
    going_on = [schedule.step() for _ in range(2)] + [g["lr"] for g in opt.param_groups]
    opt2, schedule2 = fresh()
    opt2.load_state_dict(saved_opt)
    schedule2.load_state_dict(saved)
    resumed = [schedule2.step() for _ in range(2)] + [g["lr"] for g in opt2.param_groups]
    assert resumed == going_on


def test_one_cycle_lr_and_momentum_as_pytorch_prints_them():
    opt = sgd()
    cycle = nn.OneCycleLR(opt, max_lr=2.0, total_steps=10)
    momenta = [opt.momentum]
    rates = [opt.lr]
    for _ in range(9):
        rates.append(cycle.step())
        momenta.append(opt.momentum)
    np.testing.assert_allclose(rates, [
        0.08, 1.04, 2.0, 1.90096926402695, 1.62349130789953, 1.22252404387258,
        0.777483956127421, 0.376516692100474, 0.0990387359730526, 8e-06], rtol=1e-12)
    np.testing.assert_allclose(momenta, [  # the other way: 0.95 down to 0.85 and back
        0.95, 0.9, 0.85, 0.854951556604879, 0.868825509907063, 0.888873953302184,
        0.911126046697816, 0.931174490092937, 0.945048443395121, 0.95], rtol=1e-12)
    opt = sgd()
    cycle = nn.OneCycleLR(opt, 2.0, epochs=2, steps_per_epoch=5, anneal_strategy="linear",
                          three_phase=True, cycle_momentum=False)
    np.testing.assert_allclose(lrs(cycle, opt, 9), [
        0.08, 1.04, 2.0, 1.04, 0.08, 0.0640016, 0.0480032, 0.0320048, 0.0160064, 8e-06],
        rtol=1e-9)
    assert opt.momentum == 0.0   # not cycled
    adam = nn.Adam([nn.Parameter([1.0])])
    cycle = nn.OneCycleLR(adam, 2.0, total_steps=10, three_phase=True)
    betas = [adam.beta1]
    for _ in range(9):
        cycle.step()
        betas.append(adam.beta1)
    np.testing.assert_allclose(betas, [0.95, 0.9, 0.85, 0.9, 0.95, 0.95, 0.95, 0.95, 0.95,
                                       0.95], rtol=1e-12)
    assert adam.beta2 == 0.999
    with pytest.raises(ValueError, match="Adagrad has no momentum or beta1 to cycle; pass "
                                         "cycle_momentum=False"):
        nn.OneCycleLR(nn.Adagrad([nn.Parameter([1.0])]), 1.0, total_steps=10)
    cycle.step()                       # PyTorch allows the step that reaches total_steps
    with pytest.raises(ValueError, match="past its total_steps"):
        cycle.step()
    with pytest.raises(ValueError, match="needs total_steps, or epochs and steps_per_epoch"):
        nn.OneCycleLR(sgd(), 1.0)


def test_reduce_lr_on_plateau_as_pytorch_prints_it():
    opt = sgd()
    plateau = nn.ReduceLROnPlateau(opt, factor=0.5, patience=2, cooldown=1, min_lr=0.1)
    metrics = [5, 4, 4, 4, 4, 4, 3.9999, 4, 4, 4, 4, 4, 4, 4]  # 3.9999: within threshold
    assert lrs(plateau, opt, 14, metrics) == [0.5, 0.5, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.25,
                                              0.125, 0.125, 0.125, 0.125, 0.1, 0.1]
    opt = sgd()
    plateau = nn.ReduceLROnPlateau(opt, "max", patience=1, threshold=0.1, threshold_mode="abs")
    metrics = [1, 1.05, 1.2, 1.25, 1.28, 1.5, 1.5, 1.5]
    np.testing.assert_allclose(lrs(plateau, opt, 8, metrics),
                               [0.5, 0.5, 0.5, 0.5, 0.5, 0.05, 0.05, 0.05, 0.005])
    assert plateau.step(cg.tensor(2.0)) == pytest.approx(0.005)  # a 0-d tensor is read too
    with pytest.raises(ValueError, match="mode must be 'min' or 'max'"):
        nn.ReduceLROnPlateau(opt, mode="least")
    with pytest.raises(ValueError, match="2 values of min_lr for 1 parameter groups"):
        nn.ReduceLROnPlateau(opt, min_lr=[0.1, 0.2])


# ----- containers and data -----------------------------------------------------------------
def test_module_dict_names_parameters_by_key_and_saves_its_architecture(tmp_path):
    heads = nn.ModuleDict({"cls": nn.Linear(4, 3, rng=0), "act": nn.Tanh()})
    heads["box"] = nn.Linear(4, 2, rng=1)
    assert heads.keys() == ["cls", "act", "box"] and len(heads) == 3 and "box" in heads
    assert [n for n, _ in heads.named_parameters()] == ["cls.weight", "cls.bias",
                                                        "box.weight", "box.bias"]
    assert isinstance(heads["act"], nn.Tanh) and list(heads) == heads.keys()
    del heads["act"]
    assert "act" not in heads and heads.keys() == ["cls", "box"]
    with pytest.raises(KeyError, match="has no module 'act'; it has \\['cls', 'box'\\]"):
        heads["act"]
    with pytest.raises(KeyError, match="without '.'"):
        heads["a.b"] = nn.ReLU()
    with pytest.raises(KeyError, match="'training' is an attribute of the ModuleDict"):
        heads["training"] = nn.ReLU()
    with pytest.raises(TypeError, match="'x' is int"):
        heads["x"] = 3
    heads.save(tmp_path / "heads.npz")
    again = nn.load(tmp_path / "heads.npz")
    assert again.keys() == ["cls", "box"]
    x = np.ones((2, 4), dtype=np.float32)
    np.testing.assert_array_equal(again["box"](x).data, heads["box"](x).data)


def test_parameter_list_is_trained_saved_and_loaded(tmp_path):
    class Mixture(nn.Module):
        def __init__(self):
            self.centres = nn.ParameterList([np.zeros(2), np.ones(2)])

        def forward(self):
            return sum(((c - 3.0) ** 2).sum() for c in self.centres)
    model = Mixture()
    model.centres.append(np.full(2, 5.0))
    assert [n for n, _ in model.named_parameters()] == ["centres.0", "centres.1", "centres.2"]
    assert all(isinstance(p, nn.Parameter) for p in model.centres) and len(model.centres) == 3
    opt = nn.SGD(model.parameters(), lr=0.25)
    model().backward()
    opt.step()
    np.testing.assert_allclose(model.centres[2].data, [4.0, 4.0])   # 5 - 0.25 * 2 * (5 - 3)
    model.centres.save(tmp_path / "centres.npz")
    again = nn.load(tmp_path / "centres.npz")
    np.testing.assert_array_equal(again[0].data, [1.5, 1.5])
    assert again[0].dtype == model.centres[0].dtype


def test_loss_weights_are_kept_in_a_saved_architecture(tmp_path):
    model = nn.Sequential(nn.Linear(2, 3, rng=0))
    loss = nn.NLLLoss(weight=np.array([1.0, 2.0, 0.5]))
    assert loss.architecture()["kwargs"]["weight"] == {"tuple": [1.0, 2.0, 0.5]}
    model.save(tmp_path / "m.npz")
    assert isinstance(nn.load(tmp_path / "m.npz")[0], nn.Linear)


def test_tensor_dataset_takes_tensors_and_batches_them():
    X = cg.tensor(np.arange(12.0).reshape(6, 2), requires_grad=True)
    y = np.arange(6)
    loader = nn.DataLoader(nn.TensorDataset(X, y), batch_size=4, shuffle=False)
    (xb, yb), (xb2, yb2) = list(loader)
    np.testing.assert_array_equal(xb, X.data[:4])
    np.testing.assert_array_equal(yb2, [4, 5])
    with pytest.raises(ValueError, match="same length"):
        nn.TensorDataset(X, np.arange(5))


# ----- nn.utils ------------------------------------------------------------------------------
def test_utils_clip_the_gradients_of_a_generator_of_parameters():
    model = nn.Sequential(nn.Linear(2, 2, rng=0, dtype=F64))
    model[0].weight.grad = np.array([[3.0, 0.0], [0.0, 0.0]])
    model[0].bias.grad = np.array([0.0, 4.0])
    # a generator, as model.parameters() is in PyTorch: read once, and still clipped
    total = nn.utils.clip_grad_norm_((p for p in model.parameters()), max_norm=1.0)
    assert total == pytest.approx(5.0)
    np.testing.assert_allclose(model[0].bias.grad, [0.0, 0.8], rtol=1e-6)
    assert nn.utils.clip_grad_norm_ is nn.clip_grad_norm_
    model[0].bias.grad = np.array([-2.0, 0.3])
    nn.utils.clip_grad_value_(model[0].bias, 0.5)   # one tensor, as PyTorch also takes
    np.testing.assert_array_equal(model[0].bias.grad, [-0.5, 0.3])
    with pytest.raises(ValueError, match="clip_value must not be negative"):
        nn.utils.clip_grad_value_(model.parameters(), -1)


def test_utils_parameters_to_vector_and_back():
    model = nn.Sequential(nn.Linear(3, 2, rng=0, dtype=F64), nn.Linear(2, 1, rng=1, dtype=F64))
    flat = nn.utils.parameters_to_vector(model.parameters())
    assert flat.shape == (11,)
    np.testing.assert_array_equal(flat[:6], model[0].weight.data.ravel())
    nn.utils.vector_to_parameters(flat * 2, model.parameters())
    np.testing.assert_array_equal(nn.utils.parameters_to_vector(model.parameters()), flat * 2)
    with pytest.raises(cg.ShapeError, match="the vector has 3 entries, the parameters 11"):
        nn.utils.vector_to_parameters(np.zeros(3), model.parameters())


# ----- nn.init in place ----------------------------------------------------------------------
def test_init_in_place_has_pytorchs_scales_and_fans():
    nn.manual_seed(0)
    layer = nn.Linear(400, 300)                            # weight (in, out) = (400, 300)
    same = nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
    assert same is layer.weight and layer.weight.dtype == np.float32
    assert layer.weight.data.std() == pytest.approx(math.sqrt(2 / 400), rel=0.02)
    nn.init.kaiming_normal_(layer.weight, mode="fan_out", nonlinearity="relu")
    assert layer.weight.data.std() == pytest.approx(math.sqrt(2 / 300), rel=0.02)
    nn.init.kaiming_uniform_(layer.weight, a=math.sqrt(5))  # PyTorch's Linear default
    bound = math.sqrt(2 / 6) * math.sqrt(3 / 400)
    assert np.abs(layer.weight.data).max() == pytest.approx(bound, rel=0.01)
    assert np.abs(layer.weight.data).max() <= bound
    nn.init.xavier_uniform_(layer.weight, gain=nn.init.calculate_gain("tanh"))
    bound = 5 / 3 * math.sqrt(6 / 700)
    assert np.abs(layer.weight.data).max() == pytest.approx(bound, rel=0.01)
    nn.init.xavier_normal_(layer.weight)
    assert layer.weight.data.std() == pytest.approx(math.sqrt(2 / 700), rel=0.02)
    conv = nn.Conv2d(8, 64, 3)                             # fan_in 8 * 9
    nn.init.kaiming_normal_(conv.weight, nonlinearity="relu")
    assert conv.weight.data.std() == pytest.approx(math.sqrt(2 / 72), rel=0.05)
    nn.init.normal_(layer.bias, mean=3.0, std=0.0)
    np.testing.assert_array_equal(layer.bias.data, 3.0)
    nn.init.uniform_(layer.bias, -2.0, -1.0)
    assert -2.0 <= layer.bias.data.min() and layer.bias.data.max() < -1.0
    for fill, value in ((nn.init.zeros_, 0.0), (nn.init.ones_, 1.0),
                        (lambda t: nn.init.constant_(t, 0.25), 0.25)):
        fill(layer.bias)
        np.testing.assert_array_equal(layer.bias.data, value)
    assert nn.init.calculate_gain("leaky_relu", 0.2) == pytest.approx(math.sqrt(2 / 1.04))
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        nn.init.kaiming_uniform_(layer.bias)
    with pytest.raises(ValueError, match="mode must be 'fan_in' or 'fan_out'"):
        nn.init.kaiming_normal_(layer.weight, mode="fan_avg")
    with pytest.raises(ValueError, match="unknown nonlinearity 'swish'"):
        nn.init.calculate_gain("swish")


def test_init_in_place_is_seeded_by_manual_seed_and_the_next_forward_sees_it():
    def draw():
        nn.manual_seed(4)
        w = nn.Parameter(np.zeros((5, 3)))
        return nn.init.xavier_uniform_(w).data.copy()
    np.testing.assert_array_equal(draw(), draw())
    w = nn.Parameter(np.zeros((2, 1)))
    np.testing.assert_array_equal(nn.init.uniform_(w, generator=7).data,
                                  nn.init.uniform_(np.zeros((2, 1)), generator=7))
    scale = nn.Parameter(2.0)                    # 0-d: its value is a NumPy scalar
    assert nn.init.constant_(scale, 3.0).data == 3.0 and scale.dtype == F64
    layer = nn.Linear(2, 1, dtype=F64)
    nn.init.ones_(layer.weight)
    nn.init.zeros_(layer.bias)
    np.testing.assert_array_equal(layer(np.array([[2.0, 3.0]])).data, [[5.0]])


def test_a_model_of_the_new_layers_saves_and_loads_with_its_architecture(tmp_path):
    model = nn.Sequential(
        nn.Conv1d(2, 4, 3, padding=1, rng=0), nn.PReLU(4, init=0.1), nn.MaxPool1d(2),
        nn.AvgPool1d(2, stride=1), nn.Flatten(), nn.Linear(4 * 3, 6, rng=1),
        nn.Softplus(beta=2.0, threshold=10.0), nn.GLU(), nn.Hardtanh(-0.5, 0.5, inplace=True),
        nn.ModuleDict({"head": nn.Linear(3, 2, rng=2)})["head"], nn.CELU(0.5))
    model[1].weight.data[...] = [0.1, 0.2, 0.3, 0.4]  # a trained slope is saved and loaded
    model.save(tmp_path / "model.npz")
    again = nn.load(tmp_path / "model.npz")
    assert repr(again) == repr(model)
    x = RNG.standard_normal((3, 2, 8)).astype(np.float32)
    np.testing.assert_array_equal(again(x).data, model(x).data)
    np.testing.assert_array_equal(again[1].weight.data, model[1].weight.data)


# ----- pooling with padding, as PyTorch pads --------------------------------------------------
def _windows(padded, k, s):
    view = np.lib.stride_tricks.sliding_window_view(padded, (k, k), axis=(2, 3))
    return view[:, :, ::s, ::s]


def test_max_pool_padding_is_never_picked():
    x = distinct(RNG, (2, 3, 7, 6)) - 10.0  # all negative: zero padding would win the max
    want = _windows(np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)), constant_values=-np.inf),
                    3, 2).max(axis=(-2, -1))
    layer = nn.MaxPool2d(3, stride=2, padding=1)
    np.testing.assert_array_equal(layer(x).data, want)
    check_layer(layer, x)
    line = distinct(RNG, (2, 3, 9)) - 10.0
    want = np.lib.stride_tricks.sliding_window_view(
        np.pad(line, ((0, 0), (0, 0), (1, 1)), constant_values=-np.inf), 3, axis=2)[:, :, ::2]
    np.testing.assert_array_equal(nn.MaxPool1d(3, 2, 1)(line).data, want.max(axis=-1))


@pytest.mark.parametrize("include", [True, False])
def test_avg_pool_padding_counts_as_pytorch_counts_it(include):
    x = RNG.standard_normal((2, 3, 7, 6))
    padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    sums = _windows(padded, 3, 2).sum(axis=(-2, -1))
    counts = _windows(np.pad(np.ones((1, 1, 7, 6)), ((0, 0), (0, 0), (1, 1), (1, 1))),
                      3, 2).sum(axis=(-2, -1))
    want = sums / (9 if include else counts)
    layer = nn.AvgPool2d(3, 2, 1, count_include_pad=include)
    np.testing.assert_allclose(layer(x).data, want, rtol=1e-12, atol=1e-14)
    check_layer(layer, x)
    line = RNG.standard_normal((2, 3, 8))
    got = nn.functional.avg_pool1d(line, 3, 2, 1, count_include_pad=include).data
    windows = np.lib.stride_tricks.sliding_window_view(
        np.pad(line, ((0, 0), (0, 0), (1, 1))), 3, axis=2)[:, :, ::2]
    inside = np.lib.stride_tricks.sliding_window_view(
        np.pad(np.ones(8), 1), 3)[::2].sum(axis=-1)
    np.testing.assert_allclose(got, windows.sum(axis=-1) / (3 if include else inside),
                               rtol=1e-12)


def test_pooling_padding_errors_and_a_saved_model_keeps_its_padding(tmp_path):
    with pytest.raises(ValueError, match=r"MaxPool2d: padding \(2, 2\) must be at most half "
                                         r"the kernel size \(3, 3\)"):
        nn.MaxPool2d(3, padding=2)
    with pytest.raises(ValueError, match="ceil_mode=True is not supported"):
        nn.AvgPool2d(2, ceil_mode=True)
    with pytest.raises(ValueError, match="max_pool1d: padding 2 must be at most half the "
                                         "kernel size 2"):
        nn.MaxPool1d(2, padding=2)(np.ones((1, 1, 8)))
    model = nn.Sequential(nn.MaxPool2d(3, 2, 1), nn.AvgPool2d(3, 1, 1, count_include_pad=False))
    path = tmp_path / "pools.npz"
    model.save(path)
    again = nn.load(path)
    x = RNG.standard_normal((1, 2, 6, 6))
    np.testing.assert_array_equal(again(x).data, model(x).data)
    assert repr(again) == repr(model)


def test_a_step_with_padded_pooling_compiles_to_the_eager_result():
    runs = []
    for compiled in (False, True):
        nn.manual_seed(0)
        model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1, dtype=F64), nn.ReLU(),
                              nn.MaxPool2d(3, 2, 1), nn.AvgPool2d(3, 1, 1, count_include_pad=False),
                              nn.Flatten(), nn.Linear(64, 3, dtype=F64))
        opt = nn.SGD(model.parameters(), lr=0.1)

        step = training_step(model, opt)

        run = cg.compile(step, argnums=None) if compiled else step
        rng = np.random.default_rng(1)
        for _ in range(3):
            run(rng.standard_normal((5, 1, 8, 8)), rng.integers(0, 3, 5))
        runs.append([p.data.copy() for p in model.parameters()])
    for eager, compiled in zip(*runs, strict=True):
        np.testing.assert_allclose(compiled, eager, rtol=1e-10, atol=1e-12)
