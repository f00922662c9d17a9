"""check_backward: CS231n-style layers and losses with hand-written backward passes, correct
and with the bugs learners plant (wrong axis, a factor off, a forgotten term, None)."""

import numpy as np
import pytest

import circuitgrad as cg


# ----- the layers as a learner writes them ---------------------------------------------------
def affine_forward(x, w, b):
    out = x.reshape(x.shape[0], -1).dot(w) + b
    cache = (x, w, b)
    return out, cache


def affine_backward(dout, cache):
    x, w, b = cache
    dx = dout.dot(w.T).reshape(x.shape)
    dw = x.reshape(x.shape[0], -1).T.dot(dout)
    db = np.sum(dout, axis=0)
    return dx, dw, db


def relu_forward(x):
    out = np.maximum(0, x)
    return out, x


def relu_backward(dout, cache):
    dx = dout  # writes into dout, as learners often do
    dx[cache <= 0] = 0
    return dx


def softmax_loss(x, y):
    shifted = x - np.max(x, axis=1, keepdims=True)
    probs = np.exp(shifted)
    probs = probs / np.sum(probs, axis=1, keepdims=True)
    N = x.shape[0]
    loss = -np.sum(np.log(probs[np.arange(N), y])) / N
    dx = (probs - np.eye(x.shape[1])[y]) / N
    return loss, dx


def batchnorm_forward(x, gamma, beta, bn_param):
    eps = bn_param.get("eps", 1e-5)
    mu = np.mean(x, axis=0)
    std = np.sqrt(np.var(x, axis=0) + eps)
    xhat = (x - mu) / std
    return gamma * xhat + beta, (xhat, gamma, std)


def batchnorm_backward(dout, cache):
    xhat, gamma, std = cache
    N = dout.shape[0]
    dxhat = dout * gamma
    dx = (N * dxhat - dxhat.sum(axis=0) - xhat * np.sum(dxhat * xhat, axis=0)) / (N * std)
    return dx, np.sum(dout * xhat, axis=0), dout.sum(axis=0)


def with_backward(fix):
    """affine_backward with one change: ``fix(dx, dw, db, x, dout)`` returns the three."""
    def backward(dout, cache):
        dx, dw, db = affine_backward(dout, cache)
        return fix(dx, dw, db, cache[0], dout)
    return backward


@pytest.fixture
def affine_data():
    rng = np.random.default_rng(1)
    return rng.standard_normal((4, 2, 3)), rng.standard_normal((6, 5)), rng.standard_normal(5)


@pytest.fixture
def scores():
    rng = np.random.default_rng(2)
    return rng.standard_normal((6, 4)), np.array([0, 3, 1, 1, 2, 0])


# ----- correct backward passes ---------------------------------------------------------------
def test_a_correct_affine_backward_passes(affine_data):
    x, w, b = affine_data
    report = cg.check_backward(affine_forward, affine_backward, x, w, b)
    assert report.ok and bool(report)
    assert [(r.position, r.name, r.shape) for r in report.inputs] == [
        (0, "x", (4, 2, 3)), (1, "w", (6, 5)), (2, "b", (5,))]
    assert report.max_rel_error < 1e-12
    assert str(report).splitlines()[0] == "check_backward(affine_forward, affine_backward): ok"


def test_backward_passes_that_write_into_dout_pass():
    x = np.array([[1.5, -2.0, 0.3], [-0.1, 2.0, -3.0]])
    report = cg.check_backward(relu_forward, relu_backward, x)
    assert report.ok, str(report)
    assert report.inputs[0].max_rel_error == 0.0

    def sigmoid_forward(x):
        out = 1 / (1 + np.exp(-x))
        return out, out

    def sigmoid_backward(dout, out):
        dout *= out * (1 - out)  # in place: circuitgrad must still see the dout it gave
        return dout

    assert cg.check_backward(sigmoid_forward, sigmoid_backward, x).ok


def test_a_composite_layer_and_a_gradient_that_is_zero_up_to_round_off():
    """affine then batch norm: the bias's gradient is 0 but for round-off in both codes, which
    must not count as a difference; the small data makes the round-off large."""
    def forward(x, w, b, gamma, beta):
        a, affine_cache = affine_forward(x, w, b)
        out, bn_cache = batchnorm_forward(a, gamma, beta, {})
        return out, (affine_cache, bn_cache)

    def backward(dout, cache):
        da, dgamma, dbeta = batchnorm_backward(dout, cache[1])
        return affine_backward(da, cache[0]) + (dgamma, dbeta)

    rng = np.random.default_rng(11)
    args = (rng.standard_normal((6, 4)) * 0.006, rng.standard_normal((4, 5)),
            rng.standard_normal(5), rng.standard_normal(5), rng.standard_normal(5))
    report = cg.check_backward(forward, backward, *args)
    assert report.ok, str(report)
    assert max(abs(e.circuitgrad) for e in report.inputs[2].worst) < 1e-9  # b's: round-off


def test_a_dropout_mask_from_the_global_generator_is_the_same_in_both_runs():
    def dropout_forward(x, dropout_param):
        p = dropout_param["p"]
        mask = (np.random.rand(*x.shape) < p) / p
        return x * mask, mask

    def dropout_backward(dout, mask):
        return dout * mask

    x = np.random.default_rng(3).standard_normal((50, 20))
    report = cg.check_backward(dropout_forward, dropout_backward, x, {"p": 0.5})
    assert report.ok and not report.problems, str(report)


def test_a_forward_pass_with_a_generator_of_its_own_is_reported():
    def noisy_forward(x):
        noise = np.random.default_rng().standard_normal(x.shape)  # a new draw each run
        return x * noise, noise

    report = cg.check_backward(noisy_forward, lambda dout, noise: dout * noise, np.ones(5))
    assert not report.ok
    assert "the forward pass gave different values on circuitgrad's run" in report.problems[0]


def test_unchecked_float_arrays_reach_the_forward_as_tensors_so_x_dot_w_works(affine_data):
    x, w, b = affine_data   # only w is checked: x.dot(w) has x as a constant tensor
    report = cg.check_backward(affine_forward, lambda dout, cache: affine_backward(dout,
                                                                                   cache)[1],
                               x, w, b, wrt=1)
    assert report.ok and [r.name for r in report.inputs] == ["w"]


def test_a_number_named_in_wrt_is_checked():
    def leaky_relu_forward(x, alpha):
        return np.maximum(x, alpha * x), (x, alpha)

    def leaky_relu_backward(dout, cache):
        x, alpha = cache
        return dout * np.where(x > 0, 1.0, alpha), np.sum(dout * np.minimum(x, 0))

    x = np.array([[1.0, -2.0], [-0.5, 3.0]])
    assert cg.check_backward(leaky_relu_forward, leaky_relu_backward, x, 0.1).inputs[0].ok
    report = cg.check_backward(leaky_relu_forward, leaky_relu_backward, x, 0.1, wrt=(0, 1))
    assert report.ok and [(r.name, r.shape) for r in report.inputs] == [("x", (2, 2)),
                                                                          ("alpha", ())]
    seen = {}

    def forgot_dalpha(dout, cache):
        seen["dout"] = dout.copy()
        return leaky_relu_backward(dout, cache)[0], 0.0

    wrong = cg.check_backward(leaky_relu_forward, forgot_dalpha, x, 0.1, wrt=(0, 1))
    assert [r.ok for r in wrong.inputs] == [True, False]
    (e,) = wrong.inputs[1].worst
    assert e.index == () and e.yours == 0.0
    assert e.circuitgrad == pytest.approx(np.sum(seen["dout"] * np.minimum(x, 0)))


# ----- bugs ----------------------------------------------------------------------------------
def test_db_summed_over_the_wrong_axis_is_a_shape_report(affine_data):
    x, w, b = affine_data
    backward = with_backward(lambda dx, dw, db, x, dout: (dx, dw, dout.sum(axis=1)))
    report = cg.check_backward(affine_forward, backward, x, w, b)
    assert not report.ok and not bool(report)
    assert [r.ok for r in report.inputs] == [True, True, False]
    assert report.inputs[2].problem == "shape (4,) but the input has shape (5,)"
    assert "input 2 (b), shape (5,): shape (4,) but the input has shape (5,)" in str(report)


def test_dx_not_reshaped_back_is_a_shape_report(affine_data):
    x, w, b = affine_data
    backward = with_backward(lambda dx, dw, db, x, dout: (dx.reshape(4, 6), dw, db))
    report = cg.check_backward(affine_forward, backward, x, w, b)
    assert report.inputs[0].problem == "shape (4, 6) but the input has shape (4, 2, 3)"
    assert [r.ok for r in report.inputs] == [False, True, True]
    assert report.max_rel_error < 1e-12  # of the inputs compared


def test_a_doubled_dw_names_the_input_and_the_entries_with_both_values(affine_data):
    x, w, b = affine_data
    seen = {}

    def backward(dout, cache):
        seen["dout"] = dout.copy()
        dx, dw, db = affine_backward(dout, cache)
        return dx, x.reshape(4, -1).T.dot(dout) * 2, db

    report = cg.check_backward(affine_forward, backward, x, w, b)
    assert not report.ok and [r.ok for r in report.inputs] == [True, False, True]
    dw_report = report.inputs[1]
    assert dw_report.mismatches == w.size and len(dw_report.worst) == 3
    # the right dw and the relative errors, computed here from the same dout
    right = x.reshape(4, -1).T.dot(seen["dout"])
    rel = np.abs(2 * right - right) / np.maximum(np.abs(2 * right), np.abs(right))
    for e in dw_report.worst:
        assert e.yours == pytest.approx(2 * right[e.index], rel=1e-12)
        assert e.circuitgrad == pytest.approx(right[e.index], rel=1e-12)
        assert e.rel_error == pytest.approx(rel[e.index]) == pytest.approx(0.5)
    assert dw_report.max_rel_error == pytest.approx(rel.max())
    text = str(report)
    assert "input 1 (w), shape (6, 5): max relative error 5.0e-01; 30 of 30 entries differ" in text
    e = dw_report.worst[0]
    assert f"at {e.index}: yours {e.yours:.6g}, circuitgrad {e.circuitgrad:.6g}" in text


def test_a_bug_in_some_entries_is_located_where_the_values_differ(scores):
    """The loss form, forgetting the -1 at each correct class: exactly the entries (i, y[i])
    differ, and those are the ones reported."""
    x, y = scores

    def buggy_softmax_loss(x, y):
        loss, dx = softmax_loss(x, y)
        probs = np.exp(x) / np.sum(np.exp(x), axis=1, keepdims=True)
        return loss, probs / x.shape[0]

    report = cg.check_backward(buggy_softmax_loss, None, x, y, top=len(y))
    assert [r.name for r in report.inputs] == ["x"]  # the labels are data
    (dx_report,) = report.inputs
    probs = np.exp(x) / np.sum(np.exp(x), axis=1, keepdims=True)
    right = (probs - np.eye(4)[y]) / len(y)
    wrong = probs / len(y)
    differ = set(zip(*np.nonzero(~np.isclose(wrong, right, rtol=1e-7, atol=0)), strict=True))
    assert differ == {(i, int(c)) for i, c in enumerate(y)}
    assert dx_report.mismatches == len(differ)
    assert {e.index for e in dx_report.worst} == differ
    for e in dx_report.worst:
        assert e.yours == pytest.approx(wrong[e.index], rel=1e-12)
        assert e.circuitgrad == pytest.approx(right[e.index], rel=1e-12)


def test_a_missing_gradient_is_reported(affine_data):
    x, w, b = affine_data
    backward = with_backward(lambda dx, dw, db, x, dout: (dx, None, db))
    report = cg.check_backward(affine_forward, backward, x, w, b)
    assert [r.ok for r in report.inputs] == [True, False, True]
    assert report.inputs[1].problem == "missing (None)"
    assert "input 1 (w), shape (6, 5): missing (None)" in str(report)


def test_a_backward_that_returns_nothing_is_reported(affine_data):
    report = cg.check_backward(affine_forward, lambda dout, cache: None, *affine_data)
    assert not report.ok
    assert "returned None" in report.problems[0]
    assert [r.problem for r in report.inputs] == ["missing (None)"] * 3


def test_too_few_gradients_is_reported(affine_data):
    backward = with_backward(lambda dx, dw, db, x, dout: (dx, dw))
    report = cg.check_backward(affine_forward, backward, *affine_data)
    assert not report.ok
    assert report.problems == ["2 gradient(s) for 3 checked input(s) (x, w, b); give one per "
                               "input, in order, or say which inputs they belong to with wrt="]
    assert [r.ok for r in report.inputs] == [True, True, False]


def test_a_gradient_that_is_not_an_array_is_reported(affine_data):
    backward = with_backward(lambda dx, dw, db, x, dout: (dx, {"w": dw}, db))
    report = cg.check_backward(affine_forward, backward, *affine_data)
    assert report.inputs[1].problem == "not an array of numbers but a dict"


def test_a_factor_off_is_caught_in_small_gradients_too():
    rng = np.random.default_rng(4)
    x, w, b = rng.standard_normal((3, 4)), 1e-7 * rng.standard_normal((4, 2)), np.zeros(2)
    backward = with_backward(lambda dx, dw, db, x, dout: (dx * 1.01, dw, db))
    report = cg.check_backward(affine_forward, backward, x, w, b)
    assert np.max(np.abs(affine_backward(np.ones((3, 2)), (x, w, b))[0])) < 1e-6
    assert [r.ok for r in report.inputs] == [False, True, True]


# ----- the user's arrays, and the loss form ---------------------------------------------------
def test_the_users_arrays_are_not_changed(affine_data):
    x, w, b = affine_data
    before = [a.copy() for a in (x, w, b)]

    def scribbling_backward(dout, cache):
        grads = affine_backward(dout, cache)
        for a in cache:
            a *= 0  # the cache holds the inputs: writing into it must not reach the user's
        return grads

    report = cg.check_backward(affine_forward, scribbling_backward, x, w, b)
    assert report.ok, str(report)
    for a, copy in zip((x, w, b), before, strict=True):
        assert np.array_equal(a, copy)


def test_float32_inputs_are_checked_in_float64_and_left_as_they_were(affine_data):
    x, w, b = (a.astype(np.float32) for a in affine_data)
    report = cg.check_backward(affine_forward, affine_backward, x, w, b)
    assert report.ok and report.max_rel_error < 1e-12  # float64 arithmetic throughout
    assert report.notes[0] == "input 0 (x) is float32; checked in float64"
    assert x.dtype == np.float32


def test_the_loss_form(scores):
    x, y = scores
    report = cg.check_backward(softmax_loss, None, x, y, wrt=(0,))
    assert report.ok and report.max_rel_error < 1e-12, str(report)
    assert str(report).splitlines()[0] == "check_backward(softmax_loss): ok"

    def forgot_to_divide(x, y):
        loss, dx = softmax_loss(x, y)
        return loss, dx * x.shape[0]

    wrong = cg.check_backward(forgot_to_divide, None, x, y)
    assert not wrong.ok and wrong.inputs[0].mismatches == x.size
    e = wrong.inputs[0].worst[0]
    assert e.yours == pytest.approx(e.circuitgrad * x.shape[0])


def test_the_loss_form_with_several_gradients():
    rng = np.random.default_rng(5)
    X, W, y = rng.standard_normal((5, 3)), rng.standard_normal((3, 4)), rng.integers(0, 4, 5)

    def linear_softmax(W, X, y):
        loss, dscores = softmax_loss(X.dot(W), y)
        return loss, X.T.dot(dscores), dscores.dot(W.T)

    assert cg.check_backward(linear_softmax, None, W, X, y).ok
    report = cg.check_backward(linear_softmax, None, W, X, y, wrt=0)
    assert not report.ok and "2 gradient(s) for 1 checked input(s) (W)" in report.problems[0]
    assert report.max_rel_error < 1e-12  # dW, the one compared, is right


def softmax_loss_as_students_write_it(x, y):
    probs = np.exp(x - np.max(x, axis=1, keepdims=True))
    probs /= np.sum(probs, axis=1, keepdims=True)
    N = x.shape[0]
    loss = -np.sum(np.log(probs[np.arange(N), y])) / N
    dx = probs.copy()
    dx[np.arange(N), y] -= 1
    dx /= N
    return loss, dx


def test_the_loss_form_with_writes_as_students_write_it():
    x = np.random.default_rng(3).standard_normal((4, 5))
    y = np.array([0, 4, 2, 2])
    assert cg.check_backward(softmax_loss_as_students_write_it, None, x, y).ok

    def forgets_to_subtract(x, y):
        loss, dx = softmax_loss_as_students_write_it(x, y)
        dx[0, y[0]] += 1.0 / x.shape[0]  # the planted bug: one entry
        return loss, dx
    report = cg.check_backward(forgets_to_subtract, None, x, y)
    assert not report.ok
    assert report.inputs[0].worst[0].index == (0, 0) and report.inputs[0].mismatches == 1


def test_wrong_arguments_are_refused(affine_data, scores):
    with pytest.raises(cg.NotDifferentiableError, match=r"input 1 \(y\) is int64 data"):
        cg.check_backward(softmax_loss, None, *scores, wrt=(1,))
    with pytest.raises(ValueError, match="wrt=.* names input 3"):
        cg.check_backward(affine_forward, affine_backward, *affine_data, wrt=(3,))
    with pytest.raises(TypeError, match=r"must return \(out, cache\), but it returned a "
                                        r"ndarray"):
        cg.check_backward(lambda x: x * 2, affine_backward, affine_data[0])
    with pytest.raises(ValueError, match="no argument is a float array"):
        cg.check_backward(relu_forward, relu_backward, [1.0, 2.0])


class TwoLayerNet:
    """As the CS231n assignment writes it: parameters in self.params, loss returns grads."""

    def __init__(self, rng, bug=None):
        self.params = {"W1": rng.standard_normal((4, 5)) * 0.5, "b1": rng.standard_normal(5),
                       "W2": rng.standard_normal((5, 3)) * 0.5, "b2": np.zeros(3)}
        self.reg, self.bug = 0.1, bug

    def loss(self, X, y):
        W1, b1, W2, b2 = (self.params[k] for k in ("W1", "b1", "W2", "b2"))
        N = X.shape[0]
        h = np.maximum(0, X.dot(W1) + b1)
        scores = h.dot(W2) + b2
        shifted = scores - scores.max(axis=1, keepdims=True)
        probs = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
        loss = -np.log(probs[np.arange(N), y]).mean() + 0.5 * self.reg * (W1 * W1).sum()
        dscores = probs.copy()
        dscores[np.arange(N), y] -= 1
        dscores /= N
        grads = {"W2": h.T.dot(dscores), "b2": dscores.sum(axis=0)}
        dh = dscores.dot(W2.T)
        dh[h <= 0] = 0
        grads["W1"] = X.T.dot(dh) + (0 if self.bug == "no reg" else self.reg * W1)
        grads["b1"] = dh.sum(axis=0) * (2 if self.bug == "b1" else 1)
        return loss, grads


def test_the_model_form_checks_every_parameter_of_a_cs231n_net():
    rng = np.random.default_rng(3)
    X, y = rng.standard_normal((6, 4)), rng.integers(0, 3, 6)
    net = TwoLayerNet(rng)
    before = {k: v.copy() for k, v in net.params.items()}
    report = cg.check_backward(net.loss, None, X, y, params=net.params)
    assert report.ok, report
    assert [r.label for r in report.inputs] == ["params['W1']", "params['b1']",
                                                 "params['W2']", "params['b2']"]
    for k, v in net.params.items():  # the model's own arrays, unchanged and put back
        assert type(v) is np.ndarray and np.array_equal(v, before[k])


@pytest.mark.parametrize("bug, wrong", [("no reg", "params['W1']"), ("b1", "params['b1']")])
def test_the_model_form_finds_a_planted_bug_in_one_parameter(bug, wrong):
    rng = np.random.default_rng(3)
    X, y = rng.standard_normal((6, 4)), rng.integers(0, 3, 6)
    net = TwoLayerNet(rng, bug=bug)
    report = cg.check_backward(net.loss, None, X, y, params=net.params)
    assert not report.ok
    assert [r.label for r in report.inputs if not r.ok] == [wrong]
    assert wrong in str(report)


def test_the_model_form_reports_a_missing_key_and_a_wrong_return():
    rng = np.random.default_rng(3)
    X, y = rng.standard_normal((6, 4)), rng.integers(0, 3, 6)
    net = TwoLayerNet(rng)

    def partial(X, y):
        loss, grads = net.loss(X, y)
        del grads["b2"]
        return loss, grads
    report = cg.check_backward(partial, None, X, y, params=net.params)
    assert [r.problem for r in report.inputs if not r.ok] == ["missing (None)"]
    report = cg.check_backward(lambda X, y: (net.loss(X, y)[0], [1.0]), None, X, y,
                               params=net.params)
    assert not report.ok and "a dict keyed like params" in str(report)
    with pytest.raises(ValueError, match="params="):
        cg.check_backward(net.loss, lambda d, c: None, X, y, params=net.params)
