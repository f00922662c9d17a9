"""The layers, losses and optimizer features PyTorch users reach for, under PyTorch's names
and defaults: each gradient against central differences (float64), values against the
formulas written out in NumPy, and the optimizer changes (frozen parameters skipped, AdamW,
clip_grad_norm_, CosineAnnealingLR)."""

import math

import numpy as np
import pytest

import circuitgrad as cg
from circuitgrad import nn
from test_nn_layers import check_layer

F64 = np.float64
RNG = np.random.default_rng(11)


def erf(x):
    return np.vectorize(math.erf)(x)


@pytest.mark.parametrize("layer, reference", [
    (nn.LeakyReLU(), lambda x: np.where(x > 0, x, 0.01 * x)),
    (nn.LeakyReLU(0.2), lambda x: np.where(x > 0, x, 0.2 * x)),
    (nn.GELU(), lambda x: 0.5 * x * (1 + erf(x / np.sqrt(2)))),
    (nn.GELU("tanh"), lambda x: 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi)
                                                       * (x + 0.044715 * x ** 3)))),
    (nn.Softmax(dim=1), lambda x: np.exp(x) / np.exp(x).sum(axis=1, keepdims=True)),
    (nn.LogSoftmax(dim=-1), lambda x: x - np.log(np.exp(x).sum(axis=-1, keepdims=True))),
    (nn.Identity(7, any="argument"), lambda x: x),
])
def test_activations_match_their_formulas_and_their_gradients(layer, reference):
    x = RNG.standard_normal((4, 5)) + 0.05  # away from relu's kink at 0
    np.testing.assert_allclose(layer(x).data, reference(x), rtol=1e-12, atol=1e-14)
    check_layer(layer, x)


def test_layer_norm_normalises_each_sample_and_has_gradients():
    layer = nn.LayerNorm((3, 4), dtype=F64)
    layer.weight.data[...] = RNG.standard_normal((3, 4))
    layer.bias.data[...] = RNG.standard_normal((3, 4))
    x = RNG.standard_normal((2, 3, 4))
    mean = x.mean(axis=(1, 2), keepdims=True)
    var = x.var(axis=(1, 2), keepdims=True)
    expected = (x - mean) / np.sqrt(var + 1e-5) * layer.weight.data + layer.bias.data
    np.testing.assert_allclose(layer(x).data, expected, rtol=1e-12)
    check_layer(layer, x)
    check_layer(nn.LayerNorm(4, elementwise_affine=False, dtype=F64), x)
    with pytest.raises(cg.ShapeError, match="ending in those axes"):
        layer(np.ones((2, 4, 3)))


def test_embedding_picks_rows_and_adds_the_gradient_of_a_row_picked_twice():
    emb = nn.Embedding(5, 3, rng=0, dtype=F64)
    idx = np.array([[0, 2], [2, 4]])
    np.testing.assert_array_equal(emb(idx).data, emb.weight.data[idx])
    (emb(idx) * np.arange(12.0).reshape(2, 2, 3)).sum().backward()
    expected = np.zeros((5, 3))
    expected[0], expected[2], expected[4] = [0, 1, 2], [3, 4, 5], [9, 10, 11]
    expected[2] += [6, 7, 8]
    np.testing.assert_array_equal(emb.weight.grad, expected)
    with pytest.raises(IndexError, match="index 5 is outside 0..4"):
        emb(np.array([1, 5]))
    with pytest.raises(TypeError, match="integer indices"):
        emb(np.array([1.0]))


def test_embedding_padding_row_starts_at_zero_and_gets_no_gradient():
    emb = nn.Embedding(5, 3, padding_idx=-1, rng=0, dtype=F64)  # -1: row 4, as in PyTorch
    assert emb.padding_idx == 4
    np.testing.assert_array_equal(emb.weight.data[4], 0.0)
    assert np.abs(emb.weight.data[:4]).min() > 0
    emb.weight.data[4] = 7.0  # a changed padding row is still what the layer gives out
    idx = np.array([[0, 4], [4, 2]])
    np.testing.assert_array_equal(emb(idx).data, emb.weight.data[idx])
    (emb(idx) * np.arange(12.0).reshape(2, 2, 3)).sum().backward()
    expected = np.zeros((5, 3))
    expected[0], expected[2] = [0, 1, 2], [9, 10, 11]
    np.testing.assert_array_equal(emb.weight.grad, expected)
    with pytest.raises(ValueError, match="padding_idx must lie in -5..4, not 5"):
        nn.Embedding(5, 3, padding_idx=5)


def test_average_pooling_and_adaptive_bins():
    x = RNG.standard_normal((2, 3, 6, 5))
    pooled = nn.AvgPool2d(2)(x).data
    np.testing.assert_allclose(pooled, x[:, :, :6, :4].reshape(2, 3, 3, 2, 2, 2).mean(axis=(3, 5)))
    check_layer(nn.AvgPool2d(3, stride=2), x)
    # PyTorch's bins for 5 -> 3: [0, 2), [1, 4), [3, 5); for 6 -> 4: [0,2) [1,3) [3,5) [4,6)
    ada = nn.AdaptiveAvgPool2d((4, 3))(x).data
    rows, cols = [(0, 2), (1, 3), (3, 5), (4, 6)], [(0, 2), (1, 4), (3, 5)]
    expected = np.stack([np.stack([x[:, :, a:b, c:d].mean(axis=(2, 3)) for c, d in cols], -1)
                         for a, b in rows], -2)
    np.testing.assert_allclose(ada, expected, rtol=1e-12)
    check_layer(nn.AdaptiveAvgPool2d(2), x)


def test_dropout2d_zeroes_whole_channels_with_a_seeded_generator():
    layer = nn.Dropout2d(0.5, rng=3)
    out = layer(np.ones((4, 6, 2, 2))).data
    per_channel = out.reshape(4, 6, 4)
    assert set(np.unique(per_channel)) <= {0.0, 2.0}
    assert np.all(per_channel.min(axis=2) == per_channel.max(axis=2))  # whole channels
    layer.eval()
    np.testing.assert_array_equal(layer(np.ones((1, 2, 2, 2))).data, np.ones((1, 2, 2, 2)))


def test_cross_entropy_loss_with_label_smoothing_and_reductions():
    scores, labels = RNG.standard_normal((4, 3)), np.array([0, 2, 1, 2])
    logp = scores - np.log(np.exp(scores).sum(axis=1, keepdims=True))
    nll = -logp[np.arange(4), labels]
    smooth = 0.9 * nll + 0.1 * (-logp).mean(axis=1)  # PyTorch: (1-e) nll + e mean(-log p)
    np.testing.assert_allclose(float(nn.CrossEntropyLoss()(scores, labels)), nll.mean())
    np.testing.assert_allclose(
        float(nn.CrossEntropyLoss(label_smoothing=0.1)(scores, labels)), smooth.mean())
    np.testing.assert_allclose(nn.CrossEntropyLoss(reduction="none")(scores, labels).data, nll)
    np.testing.assert_allclose(float(nn.CrossEntropyLoss(reduction="sum")(scores, labels)),
                               nll.sum())
    report = cg.check_grad(lambda s: nn.CrossEntropyLoss(label_smoothing=0.2)(s, labels),
                           scores)
    assert report.ok, report
    with pytest.raises(ValueError, match="reduction"):
        nn.CrossEntropyLoss(reduction="avg")(scores, labels)


def test_cross_entropy_loss_ignores_padding_labels_as_pytorch_does():
    """Numbers PyTorch 2.13 printed for these scores, with -100 (its ignore_index) twice."""
    scores = np.linspace(-2, 3, 15).reshape(5, 3) ** 2 % 1.7
    labels = np.array([2, -100, 0, 1, -100])
    for options, want in [
            ({}, 1.127338807663258), ({"label_smoothing": 0.2}, 1.138631324670061),
            ({"reduction": "sum"}, 3.382016422989773),
            ({"reduction": "none", "label_smoothing": 0.1},
             [0.682194570382741, 0.0, 1.427341599013191, 1.289419029104046, 0.0])]:
        got = nn.CrossEntropyLoss(**options)(scores, labels)
        np.testing.assert_allclose(got.data, want, rtol=1e-12)
    np.testing.assert_allclose(
        float(nn.CrossEntropyLoss(ignore_index=1)(scores, np.array([2, 1, 0, 1, 2]))),
        0.988805316242549, rtol=1e-12)
    report = cg.check_grad(lambda s: nn.CrossEntropyLoss(label_smoothing=0.2)(s, labels),
                           scores)
    assert report.ok, report
    s = cg.tensor(scores, requires_grad=True)
    nn.CrossEntropyLoss()(s, labels).backward()
    assert not s.grad[[1, 4]].any() and s.grad[[0, 2, 3]].all()  # padding rows get nothing
    # before, -100 with 200 classes silently meant class 100; now any such label is refused
    with pytest.raises(nn.LabelError, match="label -1 at position 1 is out of range"):
        nn.CrossEntropyLoss()(np.zeros((3, 200)), np.array([1, -1, 2]))


def test_mse_loss_class():
    p, t = RNG.standard_normal((3, 2)), RNG.standard_normal((3, 2))
    np.testing.assert_allclose(float(nn.MSELoss()(p, t)), ((p - t) ** 2).mean())
    np.testing.assert_allclose(float(nn.MSELoss("sum")(p, t)), ((p - t) ** 2).sum())
    assert cg.check_grad(lambda p: nn.MSELoss()(p, t), p).ok


def test_module_list_children_modules_apply_and_freezing():
    blocks = nn.ModuleList([nn.Linear(2, 2, rng=0), nn.ReLU()])
    blocks.append(nn.Linear(2, 1, rng=1))

    class Net(nn.Module):
        def __init__(self):
            self.stem = nn.Sequential(nn.Linear(3, 2, rng=2), nn.Identity())
            self.blocks = blocks

        def forward(self, x):
            h = self.stem(x)
            for layer in self.blocks:
                h = layer(h)
            return h
    model = Net()
    assert [n for n, _ in model.named_parameters()] == [
        "stem.0.weight", "stem.0.bias", "blocks.0.weight", "blocks.0.bias", "blocks.2.weight",
        "blocks.2.bias"]
    assert len(blocks) == 3 and isinstance(blocks[1], nn.ReLU)
    assert model.children()[-1] is blocks and len(model.modules()) == 8
    seen = []
    model.apply(lambda m: seen.append(type(m).__name__))
    assert seen[-1] == "Net" and seen.count("Linear") == 3

    blocks.requires_grad_(False)  # frozen: the optimizer keeps and skips them
    opt = nn.SGD(model.parameters(), lr=0.1)
    before = blocks[0].weight.data.copy()
    x = np.ones((1, 3), dtype=np.float32)
    model(x).sum().backward()
    opt.step()
    np.testing.assert_array_equal(blocks[0].weight.data, before)
    assert model.stem[0].weight.grad is not None


def test_adamw_decays_the_weights_apart_from_the_gradient():
    w = nn.Parameter(np.array([2.0, -1.0]))
    opt = nn.AdamW([w], lr=0.1, weight_decay=0.5)
    w.grad = np.array([0.0, 0.0])  # no gradient: only the decay moves w
    opt.step()
    np.testing.assert_allclose(w.data, np.array([2.0, -1.0]) * (1 - 0.1 * 0.5))
    w.grad = np.array([1.0, 1.0])  # step 2 of Adam (moments were 0), after the decay
    before = w.data.copy()
    opt.step()
    m_hat = (0.1 * 1.0) / (1 - 0.9 ** 2)          # bias-corrected moments, the paper's form
    v_hat = (0.001 * 1.0) / (1 - 0.999 ** 2)
    np.testing.assert_allclose(w.data, before * 0.95 - 0.1 * m_hat / (np.sqrt(v_hat) + 1e-8),
                               rtol=1e-12)


def test_clip_grad_norm_scales_the_joint_norm():
    a, b = nn.Parameter(np.zeros(2)), nn.Parameter(np.zeros(1))
    a.grad, b.grad = np.array([3.0, 0.0]), np.array([4.0])
    total = nn.clip_grad_norm_([a, b], max_norm=1.0)
    assert total == pytest.approx(5.0)
    np.testing.assert_allclose(np.concatenate([a.grad, b.grad]), [0.6, 0.0, 0.8], rtol=1e-6)
    assert nn.clip_grad_norm_([a, b], max_norm=10.0) == pytest.approx(1.0, rel=1e-5)
    np.testing.assert_allclose(a.grad, [0.6, 0.0], rtol=1e-6)  # under the limit: unchanged


def test_cosine_annealing_lr_has_pytorchs_name_and_arguments():
    opt = nn.SGD([nn.Parameter([1.0])], lr=1.0)
    schedule = nn.CosineAnnealingLR(opt, T_max=4, eta_min=0.2)
    lrs = [schedule.step() for _ in range(5)]
    expected = [0.2 + 0.4 * (1 + math.cos(math.pi * t / 4)) for t in (1, 2, 3, 4, 4)]
    np.testing.assert_allclose(lrs, expected)
    with pytest.raises(ValueError, match="T_max"):
        nn.CosineAnnealingLR(opt, T_max=0)


def test_manual_seed_repeats_a_whole_run_and_every_epoch_gets_a_new_order():
    X, y = np.arange(40.0).reshape(20, 2), np.arange(20) % 2

    def run():
        nn.manual_seed(5)
        model = nn.Sequential(nn.Linear(2, 4), nn.Dropout(0.5), nn.Linear(4, 2))
        orders, losses = [], []
        for _ in range(3):  # a loader rebuilt every epoch, as some scripts do
            loader = nn.DataLoader(nn.Dataset(X, y), batch_size=5)
            for xb, yb in loader:
                orders.append(xb[:, 0].tolist())
                losses.append(float(nn.softmax_cross_entropy(model(xb), yb)))
        return orders, losses
    first, second = run(), run()
    assert first == second  # init, shuffling and dropout all from the one seed
    epochs = [sum(first[0][i:i + 4], []) for i in range(0, 12, 4)]
    assert epochs[0] != epochs[1] != epochs[2]
    assert sorted(epochs[0]) == sorted(epochs[1]) == list(np.arange(0.0, 40.0, 2.0))


def numpy_conv(x, w, stride, pad, dilation, groups):
    """Convolution by loops, the slow obvious way: (N, C, H, W) zero-padded by pad[0..3]
    (top, bottom, left, right); weight (F, C // groups, KH, KW)."""
    x = np.pad(x, ((0, 0), (0, 0), (pad[0], pad[1]), (pad[2], pad[3])))
    n, _, h, width = x.shape
    f, cg_, kh, kw = w.shape
    oh = (h - dilation * (kh - 1) - 1) // stride + 1
    ow = (width - dilation * (kw - 1) - 1) // stride + 1
    out = np.zeros((n, f, oh, ow))
    per = f // groups
    for k in range(f):
        c0 = (k // per) * cg_
        for i in range(oh):
            for j in range(ow):
                rows = i * stride + dilation * np.arange(kh)
                cols = j * stride + dilation * np.arange(kw)
                patch = x[:, c0:c0 + cg_][:, :, rows][:, :, :, cols]
                out[:, k, i, j] = (patch * w[k]).sum(axis=(1, 2, 3))
    return out


@pytest.mark.parametrize("options, pad", [
    (dict(padding="same"), (1, 1, 1, 1)),                     # kernel 3
    (dict(kernel_size=4, padding="same"), (1, 2, 1, 2)),      # even: one more bottom, right
    (dict(dilation=2, padding=1), (1, 1, 1, 1)),
    (dict(groups=2, stride=2), (0, 0, 0, 0)),
    (dict(groups=4, dilation=(2, 1), padding="valid"), (0, 0, 0, 0)),
    (dict(groups=2, padding=1, dilation=2), (1, 1, 1, 1)),
])
def test_conv2d_same_padding_dilation_and_groups_against_loops(options, pad):
    options = dict(options)
    kernel = options.pop("kernel_size", 3)
    layer = nn.Conv2d(4, 8, kernel, rng=0, dtype=F64, **options)
    x = RNG.standard_normal((2, 4, 7, 6))
    d = layer.dilation
    stride = layer.stride[0]
    want = numpy_conv(x, layer.weight.data, stride, pad, d[0], layer.groups) if d[0] == d[1] \
        else None
    got = layer(x).data - layer.bias.data.reshape(1, -1, 1, 1)
    if want is not None:
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
    if options.get("padding") == "same":
        assert got.shape[2:] == x.shape[2:]
    check_layer(layer, x)


def test_grouped_conv2d_on_channels_last_input_against_loops():
    # several channels and filters per group, an image laid out NHWC in memory
    layer = nn.Conv2d(6, 9, 3, stride=2, padding=1, groups=3, rng=0, dtype=F64)
    x = RNG.standard_normal((2, 7, 6, 6)).transpose(0, 3, 1, 2)
    want = numpy_conv(x, layer.weight.data, 2, (1, 1, 1, 1), 1, 3)
    got = layer(x).data - layer.bias.data.reshape(1, -1, 1, 1)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
    check_layer(layer, x)


@pytest.mark.parametrize("filters", [3, 6])
def test_depthwise_conv2d_of_a_constant_input_against_loops(filters):
    # no gradient for the input: this takes the batched matmul, not the sum of taps
    layer = nn.Conv2d(3, filters, 3, padding=1, groups=3, rng=0, dtype=F64)
    x = RNG.standard_normal((2, 3, 5, 4))
    want = numpy_conv(x, layer.weight.data, 1, (1, 1, 1, 1), 1, 3)
    np.testing.assert_allclose(layer(x).data - layer.bias.data.reshape(1, -1, 1, 1), want,
                               rtol=1e-10, atol=1e-12)

    def run(weight, bias):
        with nn.substituted(layer, {"weight": weight, "bias": bias}):
            return layer(x)
    report = cg.check_grad(run, layer.weight.data, layer.bias.data)
    assert report.ok, str(report)


def test_conv1d_against_loops_and_its_gradient():
    layer = nn.Conv1d(2, 4, 3, padding=2, dilation=2, groups=2, rng=0, dtype=F64)
    x = RNG.standard_normal((3, 2, 9))
    want = numpy_conv(x[:, :, None, :], layer.weight.data[:, :, None, :], 1, (0, 0, 2, 2), 2, 2)
    np.testing.assert_allclose(layer(x).data, want[:, :, 0, :] + layer.bias.data[:, None],
                               rtol=1e-10)
    check_layer(layer, x)
    with pytest.raises(ValueError, match="divisible by groups"):
        nn.Conv1d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match="needs stride 1"):
        nn.Conv2d(1, 1, 3, stride=2, padding="same")(np.ones((1, 1, 5, 5)))


def test_optimizer_state_dict_resumes_exactly_and_param_groups_set_the_rate():
    def model_and_opt():
        w = nn.Parameter(np.array([1.0, -2.0, 0.5]))
        return w, nn.Adam([w], lr=0.05, betas=(0.8, 0.9))

    def step(w, opt):
        opt.zero_grad()
        (w * w * w).sum().backward()
        opt.step()
    w1, opt1 = model_and_opt()
    for _ in range(3):
        step(w1, opt1)
    saved, saved_w = opt1.state_dict(), w1.data.copy()
    step(w1, opt1)                                   # the run that goes on
    w2, opt2 = model_and_opt()                       # a fresh one, resumed
    w2.data[...] = saved_w
    opt2.load_state_dict(saved)
    step(w2, opt2)
    np.testing.assert_array_equal(w2.data, w1.data)
    assert opt2.beta1 == 0.8 and opt2.state[0]["t"] == 4

    group, = opt2.param_groups
    assert group["lr"] == 0.05 and group["params"] == [w2]
    for g in opt2.param_groups:
        g["lr"] = 0.01
    assert opt2.lr == 0.01
    with pytest.raises(KeyError, match="no hyperparameter 'momentum'"):
        opt2.param_groups[0]["momentum"] = 0.9
    with pytest.raises(ValueError, match="state is of 1 parameters"):
        nn.SGD([nn.Parameter([1.0]), nn.Parameter([2.0])], lr=0.1).load_state_dict(saved)


def test_group_norm_against_its_formula_and_gradients():
    layer = nn.GroupNorm(2, 4, dtype=F64)
    layer.weight.data[...] = RNG.standard_normal(4)
    layer.bias.data[...] = RNG.standard_normal(4)
    x = RNG.standard_normal((3, 4, 2, 5))
    g = x.reshape(3, 2, -1)
    normed = ((g - g.mean(axis=2, keepdims=True)) / np.sqrt(g.var(axis=2, keepdims=True) + 1e-5))
    want = normed.reshape(x.shape) * layer.weight.data[:, None, None] + \
        layer.bias.data[:, None, None]
    np.testing.assert_allclose(layer(x).data, want, rtol=1e-12, atol=1e-14)
    check_layer(layer, x)
    with pytest.raises(ValueError, match="divisible by num_groups"):
        nn.GroupNorm(3, 4)
