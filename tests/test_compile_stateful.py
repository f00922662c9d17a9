"""Compiled training steps with random and stateful layers (circuitgrad.compiler.stateful):
dropout masks drawn afresh from the eager layer's generator, batch norm's running statistics
updated in place, and the modules' modes part of a trace's signature; fit(compile=True)
keeps its traces across batches and fits; the window gates' compiled kernels."""

import subprocess
import sys

import numpy as np
import pytest

import circuitgrad as cg
from circuitgrad import nn
from nn_steps import training_step

STEPS = 5


def _data(n=32, features=12, seed=1, images=False):
    rng = np.random.default_rng(seed)
    shape = (n, 2, 6, 6) if images else (n, features)
    return rng.standard_normal(shape), rng.integers(0, 4, n)


def _model(kind):
    nn.manual_seed(0)
    if kind == "dropout":
        layers = [nn.Linear(12, 16), nn.ReLU(), nn.Dropout(0.5), nn.Linear(16, 4)]
    elif kind == "dropout-own-rng":
        layers = [nn.Linear(12, 16), nn.Dropout(0.3, rng=7), nn.ReLU(), nn.Dropout(0.5),
                  nn.Linear(16, 4)]
    elif kind == "dropout2d":
        layers = [nn.Conv2d(2, 4, 3, padding=1), nn.Dropout2d(0.5), nn.ReLU(), nn.Flatten(),
                  nn.Linear(4 * 36, 4)]
    elif kind == "batchnorm1d":
        layers = [nn.Linear(12, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 4)]
    elif kind == "batchnorm2d":
        layers = [nn.Conv2d(2, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                  nn.MaxPool2d(2), nn.Flatten(), nn.Linear(4 * 9, 4)]
    else:  # dropout and batch norm together
        layers = [nn.Linear(12, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.4),
                  nn.Linear(16, 4)]
    return nn.Sequential(*layers).astype(np.float64)


def _buffers(model):
    return [np.array(getattr(m, name)) for _, m in model.named_modules()
            for name in m._buffer_names]


def _number(loss):
    """A step's loss as a float: a Tensor (eager) or an array (compiled)."""
    return float(loss.data if isinstance(loss, cg.Tensor) else loss)


def _run(kind, compiled, steps=STEPS, seed=5):
    """``steps`` SGD steps on batches of 8, eager or compiled, after nn.manual_seed(seed)."""
    images = kind in ("dropout2d", "batchnorm2d")
    X, y = _data(images=images)
    model = _model(kind)
    opt = nn.SGD(model.parameters(), lr=0.1, momentum=0.9)

    step = training_step(model, opt)

    run = cg.compile(step, argnums=None) if compiled else step
    nn.manual_seed(seed)
    losses = []
    for k in range(steps):
        rows = slice(8 * (k % 4), 8 * (k % 4) + 8)
        losses.append(_number(run(X[rows], y[rows])))
    return losses, [p.data.copy() for p in model.parameters()], _buffers(model), run


@pytest.mark.parametrize("kind", ["dropout", "dropout-own-rng", "dropout2d", "batchnorm1d",
                                  "batchnorm2d", "both"])
def test_compiled_steps_match_eager_steps(kind):
    eager_losses, eager_params, eager_buffers, _ = _run(kind, False)
    losses, params, buffers, fast = _run(kind, True)
    assert fast.traces == 1
    np.testing.assert_allclose(losses, eager_losses, rtol=1e-12, atol=1e-12)
    for a, b in zip(params, eager_params, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    for a, b in zip(buffers, eager_buffers, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    if "batch" in kind or kind == "both":  # the running statistics did move
        assert not np.allclose(buffers[0], 0)


def test_dropout_masks_are_drawn_at_every_call():
    """The same batch twice with a zero learning rate: the losses differ (a new mask each
    call), and each is the eager step's with the same seed."""
    X, y = _data()
    model = _model("dropout")
    opt = nn.SGD(model.parameters(), lr=1e-300)

    step = training_step(model, opt)

    fast = cg.compile(step, argnums=None)
    nn.manual_seed(11)
    compiled = [_number(fast(X, y)) for _ in range(4)]
    nn.manual_seed(11)
    eager = [_number(step(X, y)) for _ in range(4)]
    assert len(set(compiled)) == 4
    assert compiled == eager


def test_the_mode_is_part_of_the_signature():
    """model.eval() after training gets its own trace (no dropout, the running statistics),
    which follows the running statistics as later training changes them; back in training
    mode the first trace runs again."""
    X, y = _data()
    results = {}
    for compiled in (False, True):
        model = _model("both")
        opt = nn.SGD(model.parameters(), lr=0.1)

        step = training_step(model, opt)

        run = cg.compile(step, argnums=None) if compiled else step
        nn.manual_seed(3)
        losses = []
        for mode in ("train", "train", "eval", "eval", "train", "eval", "train"):
            model.train(mode == "train")
            losses.append(_number(run(X[:8], y[:8])))
        results[compiled] = (losses, [p.data.copy() for p in model.parameters()],
                             _buffers(model))
        if compiled:
            # train, eval, then eval again after training changed the running statistics
            assert run.traces == 3
    np.testing.assert_allclose(results[True][0], results[False][0], rtol=1e-12)
    for a, b in zip(results[True][1] + results[True][2],
                    results[False][1] + results[False][2], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_fit_compile_with_dropout_and_batchnorm_matches_eager_fit():
    X, y = _data(n=36)
    X = X.astype(np.float32)
    result = {}
    for compiled in (False, True):
        model = _model("both").astype(np.float32)
        opt = nn.SGD(model.parameters(), lr=0.1)
        nn.manual_seed(2)
        history = nn.fit(model, nn.DataLoader((X, y), batch_size=8, seed=0),
                         nn.softmax_cross_entropy, opt, 3, compile=compiled)
        result[compiled] = (history, [p.data.copy() for p in model.parameters()],
                            _buffers(model))
    np.testing.assert_allclose(result[True][0]["loss"], result[False][0]["loss"], rtol=1e-5)
    for a, b in zip(result[True][1] + result[True][2], result[False][1] + result[False][2],
                    strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_fit_compile_traces_once_per_batch_shape_across_fits():
    X, y = _data(n=36)
    model = _model("dropout")
    opt = nn.SGD(model.parameters(), lr=0.1)
    loader = nn.DataLoader((X, y), batch_size=8, seed=0)  # four batches of 8, one of 4
    traced = []
    from circuitgrad.compiler import steps

    original = steps.trace_step

    def counting(*args, **kwargs):
        traced.append(args[1][0].shape)
        return original(*args, **kwargs)

    steps.trace_step = counting
    try:
        nn.fit(model, loader, nn.softmax_cross_entropy, opt, 2, compile=True)
        nn.fit(model, loader, nn.softmax_cross_entropy, opt, 1, compile=True)
        assert traced == [(8, 12), (4, 12)]
        list(model.parameters())[0].requires_grad = False  # another step: traced again
        nn.fit(model, loader, nn.softmax_cross_entropy, opt, 1, compile=True)
        assert traced == [(8, 12), (4, 12)] * 2
    finally:
        steps.trace_step = original


def test_train_cli_compile_default_model(tmp_path):
    pytest.importorskip("sklearn")
    pytest.importorskip("tqdm")
    pytest.importorskip("matplotlib")
    run = [sys.executable, "-m", "circuitgrad", "train", "digits", "--compile", "--epochs", "1",
           "--batch-size", "256", "--no-progress", "--out-dir", str(tmp_path)]
    done = subprocess.run(run, capture_output=True, text=True, timeout=600)  # mlp: Dropout
    assert done.returncode == 0, done.stderr
    assert "test accuracy" in done.stdout and "- mlp," in done.stdout
    assert (tmp_path / "digits-mlp.npz").exists()


# ----- the window gates' compiled kernels ---------------------------------------------------
@pytest.mark.parametrize("kernel, stride", [((2, 2), (2, 2)), ((3, 3), (1, 1)),
                                            ((2, 3), (1, 2))])
def test_compiled_window_gates_give_the_engines_values_and_gradients(kernel, stride):
    """Max-pooling with overlapping windows and ties, and a padded convolution: the
    compiled code calls the engine's kernels; values and gradients are the engine's."""
    rng = np.random.default_rng(4)
    x = np.round(rng.standard_normal((2, 3, 7, 7)), 1)  # rounded: ties within windows
    w = rng.standard_normal((4, 3, 3, 3))

    def loss(x, w):
        h = nn.functional.conv2d(x, w, padding=1)
        p = nn.functional.max_pool2d(cg.relu(h) + x[:, :1], kernel, stride)
        return np.sum(p * p)

    value, grads = cg.compile(loss, argnums=(0, 1))(x, w)
    want_value, want_grads = cg.value_and_grad(loss, argnums=(0, 1))(x, w)
    np.testing.assert_allclose(value, want_value, rtol=1e-12)
    for got, want in zip(grads, want_grads, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
    fast = cg.compile(loss, argnums=(0, 1))
    fast(x, w)
    assert "max_pool2d_vjp(" in fast.source and "unfold_vjp(" in fast.source
    x2 = np.round(rng.standard_normal(x.shape), 1)  # other inputs, other ties: still right
    got_value, got_grads = fast(x2, w)
    want_value, want_grads = cg.value_and_grad(loss, argnums=(0, 1))(x2, w)
    np.testing.assert_allclose(got_value, want_value, rtol=1e-12)
    for got, want in zip(got_grads, want_grads, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


def test_reduction_gradients_are_views_and_the_step_still_matches():
    """A step whose gradients go through means (GroupNorm): its code spreads them with
    broadcast_to, and the parameters' gradients it leaves are writeable arrays."""
    X, y = _data(images=True)
    nn.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.GroupNorm(2, 4), nn.ReLU(),
                          nn.Flatten(), nn.Linear(4 * 36, 4)).astype(np.float64)
    opt = nn.SGD(model.parameters(), lr=0.1)

    def step(xb, yb):
        opt.zero_grad()
        loss = nn.softmax_cross_entropy(model(xb), yb)
        loss.backward()
        return loss

    fast = cg.compile(step, argnums=None)
    fast(X, y)
    fast(X, y)
    assert "broadcast_to(" in fast.source and "ones_like" not in fast.source
    got = [p.grad.copy() for p in model.parameters()]
    assert all(p.grad.flags.writeable for p in model.parameters())
    step(X, y)
    for a, p in zip(got, model.parameters(), strict=True):
        np.testing.assert_allclose(a, p.grad, rtol=1e-10, atol=1e-12)


def test_a_gradient_that_is_a_broadcast_is_left_as_a_writeable_array():
    w = nn.Parameter(np.ones((3, 4)))
    opt = nn.SGD([w], lr=0.1)

    def step(x):
        opt.zero_grad()
        loss = np.mean(w) * np.sum(x)
        loss.backward()
        return loss

    fast = cg.compile(step, argnums=None)
    for _ in range(2):
        fast(np.arange(3.0))
        assert w.grad.flags.writeable and w.grad.shape == (3, 4)
        np.testing.assert_allclose(w.grad, np.full((3, 4), 3.0 / 12))
        w.grad *= 2  # a user's in-place clipping or scaling works


@pytest.mark.parametrize("channels_last", [False, True])
def test_fold_of_channels_inner_windows_in_either_layout(channels_last):
    """A conv's input gradient arrives as windows with the channels innermost; fold adds
    them up in that layout and hands the image over in the layout asked for."""
    from circuitgrad.gates import nn as window_gates

    rng = np.random.default_rng(2)
    cols = rng.standard_normal((2 * 5 * 5, 3 * 3 * 8))
    windows = cols.reshape(2, 5, 5, 3, 3, 8).transpose(3, 4, 0, 5, 1, 2)  # (KH, KW, N, C, ..)
    image = window_gates.fold.forward(windows, shape=(2, 8, 5, 5), stride=(1, 1),
                                      padding=(1, 1), channels_last=channels_last)
    want = np.zeros((2, 8, 7, 7))
    for i in range(3):
        for j in range(3):
            want[:, :, i:i + 5, j:j + 5] += windows[i, j]
    np.testing.assert_allclose(image, want[:, :, 1:6, 1:6], rtol=1e-12)
    assert window_gates.channels_last(image) == channels_last


def test_a_mask_on_a_value_of_no_traced_array_is_refused():
    """Dropout of a constant array (no traced value flows into it) would be fixed
    into the code; tracing says so."""
    model = _model("dropout")
    opt = nn.SGD(model.parameters(), lr=0.1)
    offset = np.ones(4)

    def step(xb, yb):
        opt.zero_grad()
        noisy = nn.functional.dropout(offset, 0.5)  # no traced value: a fixed mask
        loss = nn.softmax_cross_entropy(model(xb) + noisy, yb)
        loss.backward()
        opt.step()
        return loss

    X, y = _data()
    with pytest.raises(cg.CircuitError, match="dropout mask"):
        cg.compile(step, argnums=None)(X, y)


@pytest.mark.parametrize("layer", ["dropout", "batch_norm"])
def test_a_loss_compiled_with_argnums_refuses_dropout_and_batchnorm(layer):
    """Its code returns a value and gradients and nothing else: no mask drawn, no running
    statistics updated at later calls. It says what to compile instead."""
    F = nn.functional
    X, y = _data()
    W = np.random.default_rng(0).standard_normal((12, 4))
    running_mean, running_var = np.zeros(4), np.ones(4)

    def loss(W, X, y, training=True):
        h = X @ W
        if layer == "dropout":
            h = F.dropout(h, 0.5, training)
        else:
            h = F.batch_norm(h, np.ones(4), np.zeros(4), running_mean, running_var, training)
        return nn.softmax_cross_entropy(h, y)

    with pytest.raises(cg.CircuitError, match=r"argnums=None"):
        cg.compile(loss, argnums=0)(W, X, y)
    value, grad = cg.compile(loss, argnums=0)(W, X, y, False)  # evaluation: nothing drawn
    want_value, want_grad = cg.value_and_grad(loss)(W, X, y, False)
    np.testing.assert_allclose(value, want_value, rtol=1e-12)
    np.testing.assert_allclose(grad, want_grad, rtol=1e-10)


def test_running_statistics_follow_buffers_that_load_state_dict_replaced():
    """load_state_dict puts new arrays in the buffers' place: the compiled step updates
    those, as the eager layer does, not the arrays it was traced with."""
    X, y = _data()
    results = {}
    for compiled in (False, True):
        model = _model("batchnorm1d")
        opt = nn.SGD(model.parameters(), lr=0.1)

        step = training_step(model, opt)

        run = cg.compile(step, argnums=None) if compiled else step
        saved = model.state_dict()
        for k in range(4):
            if k == 2:
                model.load_state_dict(saved)  # back to the start, new buffer arrays
            run(X[8 * k:8 * k + 8], y[8 * k:8 * k + 8])
        results[compiled] = _buffers(model)
    for a, b in zip(results[True], results[False], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    assert not np.allclose(results[True][0], 0)
