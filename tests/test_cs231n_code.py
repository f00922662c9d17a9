"""CS231n-style code, written as students write it (``X.dot(W)``, ``scores[range(N), y]``,
``margins[...] = 0``, ``.copy()``, loops filling ``out``), differentiated unchanged by
cg.grad and compared with central differences of the same code run on NumPy arrays."""

import numpy as np
import pytest

import circuitgrad as cg
from support import central_differences

RNG = np.random.default_rng(231)


def svm_loss(W, X, y, reg):
    num_train = X.shape[0]
    scores = X.dot(W)
    correct = scores[range(num_train), y].copy()
    margins = np.maximum(0, scores - correct[:, np.newaxis] + 1.0)
    margins[np.arange(num_train), y] = 0
    return np.sum(margins) / num_train + reg * np.sum(W * W)


def softmax_loss(W, X, y, reg):
    scores = X.dot(W)
    scores -= np.max(scores, axis=1, keepdims=True)
    probs = np.exp(scores)
    probs /= np.sum(probs, axis=1, keepdims=True)
    return -np.mean(np.log(probs[np.arange(X.shape[0]), y])) + 0.5 * reg * np.sum(W * W)


def conv_naive(w, x, b):
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    stride, pad = 1, 1
    x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)), mode="constant")
    H_out = 1 + (H + 2 * pad - HH) // stride
    W_out = 1 + (W + 2 * pad - WW) // stride
    out = np.zeros_like(x, shape=(N, F, H_out, W_out))
    for n in range(N):
        for f in range(F):
            for i in range(H_out):
                for j in range(W_out):
                    window = x_pad[n, :, i * stride:i * stride + HH, j * stride:j * stride + WW]
                    out[n, f, i, j] = np.sum(window * w[f]) + b[f]
    return np.sum(out * np.cos(out))


def max_pool_naive(x):
    N, C, H, W = x.shape
    out = np.zeros_like(x, shape=(N, C, H // 2, W // 2))
    for i in range(H // 2):
        for j in range(W // 2):
            window = x[:, :, 2 * i:2 * i + 2, 2 * j:2 * j + 2]
            out[:, :, i, j] = np.max(window, axis=(2, 3))
    return np.sum(out ** 2)


def dropout_net(W, X):
    rng = np.random.default_rng(0)  # the same mask on every call
    h = X.dot(W)
    mask = (rng.random(h.shape) < 0.5) / 0.5
    h *= mask
    h[h < 0] = 0
    return np.sum(h ** 2)


def layer_norm(gamma, x):
    mu = x.mean(axis=1, keepdims=True)
    var = x.var(axis=1, keepdims=True)
    x_hat = (x - mu) / np.sqrt(var + 1e-5)
    out = gamma * x_hat + 0.1
    return np.sum(out * np.sin(out))


def lstm_step(Wx, x, prev_h, prev_c, Wh, b):
    H = prev_h.shape[1]
    a = x.dot(Wx) + prev_h.dot(Wh) + b
    gates = np.zeros_like(a)
    gates[:, :3 * H] = 1 / (1 + np.exp(-a[:, :3 * H]))
    gates[:, 3 * H:] = np.tanh(a[:, 3 * H:])
    i, f, o, g = gates[:, :H], gates[:, H:2 * H], gates[:, 2 * H:3 * H], gates[:, 3 * H:]
    next_c = f * prev_c + i * g
    next_h = o * np.tanh(next_c)
    return np.sum(next_h * next_c)


X = RNG.standard_normal((5, 4))
Y = np.array([0, 2, 1, 2, 0])
N_, D_, H_ = 3, 4, 2
CASES = {
    "svm": (svm_loss, RNG.standard_normal((4, 3)), (X, Y, 0.1)),
    "softmax": (softmax_loss, RNG.standard_normal((4, 3)), (X, Y, 0.1)),
    "conv": (conv_naive, RNG.standard_normal((2, 2, 3, 3)),
             (RNG.standard_normal((2, 2, 4, 4)), RNG.standard_normal(2))),
    "max pool": (max_pool_naive, RNG.standard_normal((2, 3, 4, 4)), ()),
    "dropout": (dropout_net, RNG.standard_normal((4, 6)), (X,)),
    "layer norm": (layer_norm, RNG.standard_normal(6), (RNG.standard_normal((3, 6)),)),
    "lstm step": (lstm_step, RNG.standard_normal((D_, 4 * H_)),
                  (RNG.standard_normal((N_, D_)), RNG.standard_normal((N_, H_)),
                   RNG.standard_normal((N_, H_)), RNG.standard_normal((H_, 4 * H_)),
                   RNG.standard_normal(4 * H_))),
}


@pytest.mark.parametrize("name", CASES)
def test_student_code_differentiated_unchanged(name):
    f, first, data = CASES[name]
    got = cg.grad(f)(first, *data)
    want = central_differences(lambda v: f(v, *data), first)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)
