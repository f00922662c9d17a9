"""Optimizers against their update rules written out by hand; schedules; data loading."""

import math

import numpy as np
import pytest

from circuitgrad import nn


def run(optimizer_class, grads, w0, **options):
    """Apply ``grads`` one step at a time; returns the parameter after each step."""
    p = nn.Parameter(np.array(w0))
    opt = optimizer_class([p], **options)
    trail = []
    for g in grads:
        p.grad = np.array(g)
        opt.step()
        trail.append(p.data.copy())
    return trail


GRADS = [[1.0, -2.0], [0.5, 0.5], [-1.0, 3.0]]
W0 = [0.3, -0.7]


def test_sgd():
    w = np.array(W0)
    for got, g in zip(run(nn.SGD, GRADS, W0, lr=0.1), GRADS, strict=True):
        w = w - 0.1 * np.array(g)
        np.testing.assert_allclose(got, w)


def test_sgd_momentum():
    w, v = np.array(W0), np.zeros(2)
    for got, g in zip(run(nn.SGD, GRADS, W0, lr=0.1, momentum=0.9), GRADS, strict=True):
        v = 0.9 * v - 0.1 * np.array(g)
        w = w + v
        np.testing.assert_allclose(got, w)


def test_sgd_nesterov():
    w, v = np.array(W0), np.zeros(2)
    trail = run(nn.SGD, GRADS, W0, lr=0.1, momentum=0.9, nesterov=True)
    for got, g in zip(trail, GRADS, strict=True):
        v_prev = v
        v = 0.9 * v - 0.1 * np.array(g)
        w = w - 0.9 * v_prev + 1.9 * v
        np.testing.assert_allclose(got, w)


def test_rmsprop():
    w, cache = np.array(W0), np.zeros(2)
    for got, g in zip(run(nn.RMSProp, GRADS, W0, lr=0.01, decay=0.9), GRADS, strict=True):
        g = np.array(g)
        cache = 0.9 * cache + 0.1 * g * g
        w = w - 0.01 * g / (np.sqrt(cache) + 1e-8)
        np.testing.assert_allclose(got, w)


def test_adam():
    w, m, v = np.array(W0), np.zeros(2), np.zeros(2)
    for t, (got, g) in enumerate(zip(run(nn.Adam, GRADS, W0, lr=0.01), GRADS, strict=True),
                                 start=1):
        g = np.array(g)
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        w = w - 0.01 * (m / (1 - 0.9 ** t)) / (np.sqrt(v / (1 - 0.999 ** t)) + 1e-8)
        np.testing.assert_allclose(got, w, rtol=1e-7)


def test_weight_decay_adds_strength_times_weight():
    got = run(nn.SGD, [[0.0, 0.0]], W0, lr=0.5, weight_decay=0.1)[0]
    np.testing.assert_allclose(got, np.array(W0) * (1 - 0.5 * 0.1))


@pytest.mark.parametrize("make", [
    lambda ps: nn.SGD(ps, lr=0.1, momentum=0.9, nesterov=True),
    lambda ps: nn.RMSProp(ps, lr=0.01),
    lambda ps: nn.Adam(ps, lr=0.01),
], ids=["nesterov", "rmsprop", "adam"])
def test_updates_are_in_place_and_keep_float32(make):
    p = nn.Parameter(np.ones(3, np.float32))
    array = p.data
    opt = make([p])
    p.grad = np.full(3, 0.5, np.float32)
    opt.step()
    assert p.data is array and p.dtype == np.float32
    assert all(v.dtype == np.float32 for s in opt.state for v in s.values()
               if isinstance(v, np.ndarray))


def test_zero_grad_and_parameters_without_gradients():
    a, b = nn.Parameter([1.0]), nn.Parameter([2.0])
    opt = nn.SGD([a, b], lr=1.0)
    a.grad = np.array([1.0])
    opt.step()  # b has no gradient: left alone
    assert a.data[0] == 0.0 and b.data[0] == 2.0
    opt.zero_grad()
    assert a.grad is None


def test_zero_dimensional_parameter():
    p = nn.Parameter(2.0)
    opt = nn.Adam([p], lr=0.5)
    p.grad = np.float64(1.0)
    opt.step()
    assert float(p.data) == pytest.approx(1.5)


@pytest.mark.parametrize("make", [
    lambda ps: nn.SGD(ps, lr=0.1, momentum=0.9),
    lambda ps: nn.SGD(ps, lr=0.1, momentum=0.9, nesterov=True),
    lambda ps: nn.RMSProp(ps, lr=0.05),
    lambda ps: nn.Adam(ps, lr=0.1),
], ids=["momentum", "nesterov", "rmsprop", "adam"])
def test_optimizers_minimise_a_quadratic(make):
    target = np.array([1.0, -2.0, 0.5])
    p = nn.Parameter(np.zeros(3))
    opt = make([p])
    for _ in range(300):
        loss = ((p - target) ** 2).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    np.testing.assert_allclose(p.data, target, atol=1e-2)


def test_optimizer_argument_errors():
    with pytest.raises(ValueError, match="no parameters"):
        nn.SGD([], lr=0.1)
    with pytest.raises(ValueError, match="positive"):
        nn.Adam([nn.Parameter([1.0])], lr=0)
    with pytest.raises(ValueError, match="Nesterov"):
        nn.SGD([nn.Parameter([1.0])], lr=0.1, nesterov=True)


def test_step_and_cosine_schedules():
    opt = nn.SGD([nn.Parameter([1.0])], lr=0.8)
    step = nn.StepLR(opt, step_size=3, gamma=0.5)
    assert [step.step() for _ in range(7)] == [0.8, 0.8, 0.4, 0.4, 0.4, 0.2, 0.2]
    opt = nn.SGD([nn.Parameter([1.0])], lr=1.0)
    cosine = nn.CosineLR(opt, total_steps=4, min_lr=0.1)
    lrs = [cosine.step() for _ in range(6)]
    expected = [0.1 + 0.45 * (1 + math.cos(math.pi * min(k, 4) / 4)) for k in range(1, 7)]
    np.testing.assert_allclose(lrs, expected)
    assert opt.lr == pytest.approx(0.1)


# ----- data ---------------------------------------------------------------------------------
def test_loader_covers_every_row_once_per_epoch_in_batches():
    X, y = np.arange(23)[:, None] * np.ones((1, 2)), np.arange(23)
    loader = nn.DataLoader(nn.Dataset(X, y), batch_size=5, seed=3)
    assert len(loader) == 5
    batches = list(loader)
    assert [len(yb) for _, yb in batches] == [5, 5, 5, 5, 3]
    seen = np.concatenate([yb for _, yb in batches])
    assert sorted(seen) == list(range(23)) and list(seen) != list(range(23))
    for xb, yb in batches:
        np.testing.assert_array_equal(xb[:, 0], yb)  # rows stay together


def test_loader_is_reproducible_and_reshuffles_each_epoch():
    data = (np.arange(20), np.arange(20))
    a, b = nn.DataLoader(data, batch_size=4, seed=7), nn.DataLoader(data, batch_size=4, seed=7)
    first_a, second_a = [yb.tolist() for _, yb in a], [yb.tolist() for _, yb in a]
    assert first_a == [yb.tolist() for _, yb in b]
    assert second_a == [yb.tolist() for _, yb in b]
    assert first_a != second_a


def test_loader_options():
    X = np.arange(10)
    plain = nn.DataLoader(X, batch_size=4, shuffle=False, drop_last=True)
    assert [xb.tolist() for xb in plain] == [[0, 1, 2, 3], [4, 5, 6, 7]]
    with pytest.raises(ValueError, match="same length"):
        nn.Dataset(np.zeros(3), np.zeros(4))
    with pytest.raises(ValueError, match="batch_size"):
        nn.DataLoader(X, batch_size=0)


@pytest.mark.parametrize("make, message", [
    (lambda opt: nn.StepLR(opt, step_size=0), "StepLR: step_size must be a positive integer, "
                                              "got 0"),
    (lambda opt: nn.StepLR(opt, step_size=1.5), "StepLR: step_size .* got 1.5"),
    (lambda opt: nn.CosineLR(opt, total_steps=0), "CosineLR: total_steps must be a positive "
                                                  "integer, got 0"),
    (lambda opt: nn.CosineLR(opt, total_steps=-3), "CosineLR: total_steps .* got -3"),
])
def test_bad_schedule_lengths_are_refused_at_construction(make, message):
    opt = nn.SGD([nn.Parameter([1.0])], lr=1.0)
    with pytest.raises(ValueError, match=message):
        make(opt)


@pytest.mark.parametrize("make", [nn.SGD, nn.RMSProp, nn.Adam])
def test_a_parameter_listed_twice_is_refused(make):
    w, b = nn.Parameter(np.ones(2)), nn.Parameter(np.zeros(1), name="b")
    with pytest.raises(ValueError, match="parameter 2 is parameter 0 again"):
        make([w, b, w], lr=0.1)
    with pytest.raises(ValueError, match=r"parameter 1 \('b'\) is parameter 0 again"):
        make([b, b], lr=0.1)
    # a tied weight shared by two modules: each module's list has it, the model's once
    enc, dec = nn.Linear(2, 2, rng=0), nn.Linear(2, 2, rng=0)
    dec.weight = enc.weight
    with pytest.raises(ValueError, match="parameter 2 is parameter 0 again"):
        make(enc.parameters() + dec.parameters(), lr=0.1)
    make(nn.Sequential(enc, dec).parameters(), lr=0.1)


# ----- parameter groups, as in PyTorch ------------------------------------------------------
def _quadratic_grads(*params):
    """Set each parameter's gradient to 2w (of sum w**2) by a real backward pass."""
    loss = sum((p * p).sum() for p in params)
    loss.backward()


def test_a_group_with_its_own_learning_rate_and_decay_moves_only_its_parameters_so():
    body, head = nn.Parameter(np.array([1.0, -2.0])), nn.Parameter(np.array([4.0]))
    opt = nn.SGD([{"params": [body]}, {"params": head, "lr": 0.01, "weight_decay": 0.5}],
                 lr=0.1)
    _quadratic_grads(body, head)
    opt.step()
    np.testing.assert_allclose(body.data, [1.0 - 0.1 * 2.0, -2.0 - 0.1 * -4.0])
    np.testing.assert_allclose(head.data, [4.0 - 0.01 * (8.0 + 0.5 * 4.0)])
    assert opt.lr == 0.1 and opt.weight_decay == 0.0  # the group's settings were put back
    first, second = opt.param_groups
    assert (first["lr"], second["lr"], second["weight_decay"]) == (0.1, 0.01, 0.5)
    assert first["params"] == [body] and second["params"] == [head]


def test_setting_one_groups_rate_leaves_the_other_and_a_schedule_scales_each():
    a, b = nn.Parameter(np.array([1.0])), nn.Parameter(np.array([1.0]))
    opt = nn.SGD([{"params": [a]}, {"params": [b], "lr": 0.4}], lr=0.2)
    schedule = nn.StepLR(opt, step_size=1, gamma=0.5)
    schedule.step()
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.2]
    opt.param_groups[0]["lr"] = 0.05
    assert [g["lr"] for g in opt.param_groups] == [0.05, 0.2]
    _quadratic_grads(a, b)
    opt.step()
    np.testing.assert_allclose([a.data[0], b.data[0]], [1 - 0.05 * 2, 1 - 0.2 * 2])


def test_adam_groups_take_pytorchs_betas_and_the_state_dict_round_trips():
    def build():
        w, v = nn.Parameter(np.array([1.0, -1.0])), nn.Parameter(np.array([0.5]))
        return (w, v), nn.Adam([{"params": [w]}, {"params": [v], "betas": (0.5, 0.6),
                                                   "lr": 0.2}], lr=0.1)
    (w1, v1), opt1 = build()
    for _ in range(2):
        opt1.zero_grad()
        _quadratic_grads(w1, v1)
        opt1.step()
    saved = opt1.state_dict()
    assert [g["params"] for g in saved["param_groups"]] == [[0], [1]]
    assert saved["param_groups"][1]["beta1"] == 0.5 and saved["param_groups"][0]["beta1"] == 0.9
    assert sorted(saved["state"]) == [0, 1] and saved["state"][1]["t"] == 2
    (w2, v2), opt2 = build()
    w2.data[...], v2.data[...] = w1.data, v1.data
    opt2.load_state_dict(saved)
    for (w, v), opt in (((w1, v1), opt1), ((w2, v2), opt2)):
        opt.zero_grad()
        _quadratic_grads(w, v)
        opt.step()
    np.testing.assert_array_equal(np.r_[w2.data, v2.data], np.r_[w1.data, v1.data])
    with pytest.raises(ValueError, match=r"saved groups hold \[1, 1\] parameters, this "
                                         r"optimizer's hold \[2\]"):
        nn.Adam([nn.Parameter([1.0]), nn.Parameter([2.0])]).load_state_dict(saved)


def test_bad_groups_are_refused_with_what_was_wrong():
    w = nn.Parameter(np.array([1.0]))
    with pytest.raises(ValueError, match="a parameter group is a dict with 'params'"):
        nn.SGD([{"weights": [w]}], lr=0.1)
    with pytest.raises(ValueError, match="SGD has no hyperparameter 'betas1'"):
        nn.SGD([{"params": [w], "betas1": 0.9}], lr=0.1).step()
    with pytest.raises(ValueError, match="a group's learning rate must be positive"):
        nn.SGD([{"params": [w], "lr": -1}], lr=0.1)
    with pytest.raises(ValueError, match="is parameter 0 again"):
        nn.SGD([{"params": [w]}, {"params": [w], "lr": 0.2}], lr=0.1)


def test_add_param_group_and_zero_grad_to_zeros():
    a, b = nn.Parameter(np.array([1.0])), nn.Parameter(np.array([3.0]))
    opt = nn.SGD([a], lr=0.1)
    opt.add_param_group({"params": [b], "lr": 0.5})
    _quadratic_grads(a, b)
    opt.zero_grad(set_to_none=False)
    assert a.grad.tolist() == [0.0] and b.grad.tolist() == [0.0]
    _quadratic_grads(a, b)
    opt.step()
    np.testing.assert_allclose([a.data[0], b.data[0]], [1 - 0.1 * 2, 3 - 0.5 * 6])
    with pytest.raises(ValueError, match="add_param_group takes a dict"):
        opt.add_param_group(a)


def test_a_state_saved_in_the_earlier_form_still_loads():
    w = nn.Parameter(np.array([1.0, 2.0]))
    opt = nn.SGD([w], lr=0.1, momentum=0.9)
    velocity = np.array([0.5, -0.5])
    opt.load_state_dict({"hyperparameters": {"lr": 0.3, "momentum": 0.8},
                         "state": [{"velocity": velocity}]})
    assert (opt.lr, opt.momentum) == (0.3, 0.8)
    _quadratic_grads(w)
    opt.step()
    np.testing.assert_allclose(w.data, [1.0, 2.0] + (0.8 * velocity - 0.3 * np.array([2.0, 4.0])))
