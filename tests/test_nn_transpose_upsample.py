"""ConvTranspose2d/1d, Upsample (interpolate), nn.init.orthogonal_/trunc_normal_ and
ParameterDict, under PyTorch's names and defaults: forward against the formula written out
here in NumPy, gradients against central differences in float64, saved and loaded models,
a compiled training step (bench/nn_more_parity.py compares them with PyTorch)."""

import math

import numpy as np
import pytest

import circuitgrad as cg
from circuitgrad import nn
from nn_steps import training_step
from test_nn_layers import check_hessian, check_layer

F = nn.functional
F64 = np.float64
RNG = np.random.default_rng(41)


def transpose_reference(x, w, b, stride, padding, output_padding, groups, dilation):
    """Every input pixel scatters its weighted kernel into the output, ``stride`` apart,
    taps ``dilation`` apart; then ``padding`` is cropped from both ends of each axis."""
    n, c_in, h, wd = x.shape
    _, per_group, kh, kw = w.shape
    (sh, sw), (ph, pw), (oph, opw), (dh, dw) = stride, padding, output_padding, dilation
    full = np.zeros((n, per_group * groups, (h - 1) * sh + dh * (kh - 1) + 1 + oph,
                     (wd - 1) * sw + dw * (kw - 1) + 1 + opw))
    per_in = c_in // groups
    for c in range(c_in):
        for o in range(per_group):
            out_channel = c // per_in * per_group + o
            for i in range(h):
                for j in range(wd):
                    for a in range(kh):
                        for e in range(kw):
                            full[:, out_channel, i * sh + a * dh, j * sw + e * dw] += \
                                x[:, c, i, j] * w[c, o, a, e]
    out = full[:, :, ph:full.shape[2] - ph, pw:full.shape[3] - pw]
    return out if b is None else out + b[None, :, None, None]


# (stride, padding, output_padding, groups, dilation)
TRANSPOSE_CASES = [
    ((1, 1), (0, 0), (0, 0), 1, (1, 1)),
    ((2, 2), (1, 1), (1, 1), 1, (1, 1)),       # the usual 2x upsampling layer
    ((2, 1), (0, 1), (1, 0), 2, (1, 1)),       # groups, output_padding on one axis
    ((1, 2), (1, 0), (0, 1), 1, (2, 1)),       # dilation, output_padding < dilation
    ((3, 3), (2, 1), (2, 0), 2, (2, 3)),       # output_padding beyond the padding
    ((2, 3), (0, 0), (0, 0), 1, (1, 1)),       # stride = kernel: windows tile exactly
]


@pytest.mark.parametrize("stride, padding, output_padding, groups, dilation", TRANSPOSE_CASES)
def test_conv_transpose2d_against_the_scatter_formula_and_its_gradients(
        stride, padding, output_padding, groups, dilation):
    layer = nn.ConvTranspose2d(4, 3 * groups, (2, 3), stride, padding, output_padding,
                               groups, dilation=dilation, rng=0, dtype=F64)
    x = RNG.standard_normal((2, 4, 3, 4))
    want = transpose_reference(x, layer.weight.data, layer.bias.data, stride, padding,
                               output_padding, groups, dilation)
    got = layer(x)
    kh, kw = 2, 3
    assert got.shape[2:] == tuple((size - 1) * s - 2 * p + d * (k - 1) + op + 1 for size, s, p,
                                  d, k, op in zip((3, 4), stride, padding, dilation, (kh, kw),
                                                  output_padding, strict=True))
    np.testing.assert_allclose(got.data, want, rtol=1e-12, atol=1e-13)
    check_layer(layer, x)


def test_conv_transpose2d_functional_without_bias_and_1d():
    x = RNG.standard_normal((2, 3, 4, 5))
    w = RNG.standard_normal((3, 2, 3, 3))
    np.testing.assert_allclose(F.conv_transpose2d(x, w, stride=2, padding=1).data,
                               transpose_reference(x, w, None, (2, 2), (1, 1), (0, 0), 1,
                                                   (1, 1)), rtol=1e-12, atol=1e-13)
    layer = nn.ConvTranspose1d(3, 4, 3, stride=2, padding=1, output_padding=1, rng=1,
                               dtype=F64)
    assert layer.weight.shape == (3, 4, 3)
    x1 = RNG.standard_normal((2, 3, 5))
    want = transpose_reference(x1[:, :, None, :], layer.weight.data[:, :, None, :],
                               layer.bias.data, (1, 2), (0, 1), (0, 1), 1, (1, 1))[:, :, 0]
    assert layer(x1).shape == (2, 4, (5 - 1) * 2 - 2 + 2 + 1 + 1)
    np.testing.assert_allclose(layer(x1).data, want, rtol=1e-12, atol=1e-13)
    check_layer(layer, x1)


def test_conv_transpose_forward_takes_pytorchs_output_size():
    # a stride-2 conv2d maps 7 and 8 rows to 4: output_size says which to give back
    layer = nn.ConvTranspose2d(2, 3, 3, stride=2, padding=1, rng=0, dtype=F64)
    x = RNG.standard_normal((1, 2, 4, 4))
    assert layer(x).shape[2:] == (7, 7)
    out = layer(x, output_size=(1, 3, 8, 7))   # PyTorch takes the full shape or (H, W)
    assert out.shape[2:] == (8, 7)
    np.testing.assert_array_equal(out.data, F.conv_transpose2d(
        x, layer.weight, layer.bias, 2, 1, output_padding=(1, 0)).data)
    assert layer(x, output_size=(8, 8)).shape[2:] == (8, 8) and layer.output_padding == (0, 0)
    with pytest.raises(ValueError, match=r"output_size \(9, 8\) cannot be made from an input of "
                                         r"spatial size \(4, 4\); .* = 7 to 8"):
        layer(x, output_size=(9, 8))
    one = nn.ConvTranspose1d(2, 3, 4, stride=3, rng=0)
    assert one(np.zeros((1, 2, 5), np.float32), output_size=[17]).shape == (1, 3, 17)


def test_conv_transpose2d_is_the_adjoint_of_conv2d():
    # <conv2d(x, W), y> == <x, conv_transpose2d(y, W)>: the transposed convolution is the
    # input-gradient of the convolution with the same weight and options
    x = RNG.standard_normal((2, 3, 9, 8))
    w = RNG.standard_normal((5, 3, 3, 2))      # conv2d: (out, in); transposed: (in, out)
    y = F.conv2d(x, w, stride=2, padding=1, dilation=(1, 2)).data
    dy = RNG.standard_normal(y.shape)
    back = F.conv_transpose2d(dy, w, stride=2, padding=1, dilation=(1, 2),
                              output_padding=(0, 1)).data
    assert back.shape == x.shape
    assert float((y * dy).sum()) == pytest.approx(float((x * back).sum()), rel=1e-12)


@pytest.mark.parametrize("mode", ["nearest", "bilinear"])
def test_second_derivatives_through_conv_transpose2d_and_upsampling(mode):
    # built from fold, matmul, indexing and padding gates, whose VJPs differentiate again
    rng = np.random.default_rng(15)
    x = rng.standard_normal((1, 2, 3, 3))
    w = cg.tensor(rng.standard_normal((2, 2, 2, 2)))

    def f(x):
        y = cg.tanh(F.conv_transpose2d(x, w, stride=2, padding=1, output_padding=1,
                                       dilation=(2, 1)))
        return (F.interpolate(y, size=(5, 7), mode=mode) ** 2).sum()

    check_hessian(f, x)


def test_conv_transpose2d_is_initialised_as_pytorch_from_the_shared_generator():
    def build():
        nn.manual_seed(3)
        return nn.ConvTranspose2d(64, 32, 3, stride=2)
    layer = build()
    bound = 1 / math.sqrt(32 * 9)              # fan_in: out_channels * KH * KW, as PyTorch
    assert layer.weight.shape == (64, 32, 3, 3) and layer.weight.dtype == np.float32
    assert np.abs(layer.weight.data).max() <= bound
    assert layer.weight.data.std() == pytest.approx(bound / math.sqrt(3), rel=0.02)
    assert np.abs(layer.bias.data).max() <= bound and layer.bias.data.std() > bound / 3
    np.testing.assert_array_equal(build().weight.data, layer.weight.data)
    grouped = nn.ConvTranspose2d(4, 6, 2, groups=2, bias=False)
    assert grouped.weight.shape == (4, 3, 2, 2) and grouped.bias is None
    assert np.abs(grouped.weight.data).max() <= 1 / math.sqrt(3 * 4)
    he = nn.ConvTranspose2d(2, 3, 3, init="he", rng=0)
    np.testing.assert_array_equal(he.bias.data, 0.0)


def test_conv_transpose_errors_name_the_layer_and_the_expected_shape():
    layer = nn.ConvTranspose2d(3, 2, 3)
    with pytest.raises(cg.ShapeError, match=r"ConvTranspose2d\(3, 2, .*expects \(N, C, H, W\) "
                                            r"input with C = 3 channels on axis 1, got shape "
                                            r"\(1, 4, 5, 5\)"):
        layer(np.zeros((1, 4, 5, 5), np.float32))
    with pytest.raises(cg.ShapeError, match=r"ConvTranspose1d\(3, 2, .*expects \(N, C, L\)"):
        nn.ConvTranspose1d(3, 2, 3)(np.zeros((1, 3, 5, 5), np.float32))
    with pytest.raises(ValueError, match="ConvTranspose2d: output_padding .* must be smaller "
                                         "than the stride"):
        nn.ConvTranspose2d(3, 2, 3, stride=2, output_padding=2)
    with pytest.raises(ValueError, match="ConvTranspose2d: in_channels .3. and out_channels "
                                         ".4. must both be divisible by groups .2."):
        nn.ConvTranspose2d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match="ConvTranspose2d: padding must be a non-negative"):
        nn.ConvTranspose2d(3, 2, 3, padding=-1)
    with pytest.raises(cg.ShapeError, match=r"conv_transpose2d: the input has 2 channels .* "
                                            r"weight of shape \(3, 2, 3, 3\)"):
        F.conv_transpose2d(np.zeros((1, 2, 4, 4)), np.zeros((3, 2, 3, 3)))
    with pytest.raises(cg.ShapeError, match=r"conv_transpose2d: padding \(3, 3\) leaves no "
                                            r"output"):
        F.conv_transpose2d(np.zeros((1, 3, 2, 2)), np.zeros((3, 2, 3, 3)), padding=3)
    with pytest.raises(cg.ShapeError, match=r"conv_transpose2d: the bias must be "
                                            r"\(out_channels,\) = \(4,\) .* got shape \(1,\)"):
        F.conv_transpose2d(np.zeros((1, 4, 2, 2)), np.zeros((4, 2, 3, 3)), np.zeros(1),
                           groups=2)
    with pytest.raises(cg.ShapeError, match=r"conv_transpose2d expects \(N, C, H, W\) input"):
        F.conv_transpose2d(np.zeros((3, 2, 2)), np.zeros((3, 2, 3, 3)))


# ----- Upsample / interpolate -----------------------------------------------------------------
def nearest_reference(x, out_h, out_w, scales=(None, None)):
    """PyTorch's rule: output pixel dst reads min(floor(dst * in / out), in - 1), with
    in / out replaced by 1 / scale_factor when a scale is given (float32 arithmetic); an
    output as large as the input copies it, one twice as large reads dst // 2."""
    def sources(size, out, scale):
        if out in (size, 2 * size):
            return [d * size // out for d in range(out)]
        ratio = np.float32(size / out if scale is None else 1 / scale)
        return [min(int(np.floor(np.float32(d) * ratio)), size - 1) for d in range(out)]
    h, w = x.shape[2:]
    return x[:, :, sources(h, out_h, scales[0])][:, :, :, sources(w, out_w, scales[1])]


def bilinear_reference(x, out_h, out_w, align_corners=False, scales=(None, None)):
    """Each output pixel, the two nearest input pixels per axis weighed by distance; an
    axis that keeps its size is copied (PyTorch's rule, whatever the scale factor)."""
    n, c, h, w = x.shape
    out = np.zeros((n, c, out_h, out_w))

    def source(dst, size, out_size, scale=None):
        if out_size == size:
            return float(dst)
        if scale is not None:
            return max((dst + 0.5) / scale - 0.5, 0.0)
        if align_corners:
            return dst * (size - 1) / (out_size - 1) if out_size > 1 else 0.0
        return max((dst + 0.5) * size / out_size - 0.5, 0.0)
    for i in range(out_h):
        sy = source(i, h, out_h, scales[0])
        y0 = min(int(sy), h - 1)
        y1, fy = min(y0 + 1, h - 1), sy - y0
        for j in range(out_w):
            sx = source(j, w, out_w, scales[1])
            x0 = min(int(sx), w - 1)
            x1, fx = min(x0 + 1, w - 1), sx - x0
            out[:, :, i, j] = ((1 - fy) * ((1 - fx) * x[:, :, y0, x0] + fx * x[:, :, y0, x1])
                               + fy * ((1 - fx) * x[:, :, y1, x0] + fx * x[:, :, y1, x1]))
    return out


@pytest.mark.parametrize("size, scale", [((7, 5), None), ((2, 9), None), (None, 2),
                                         (None, (1.5, 3)), ((3, 4), None), (None, 0.5),
                                         (None, (2.1, 1.1))])
def test_nearest_upsample_against_pytorchs_index_rule_and_its_gradient(size, scale):
    x = RNG.standard_normal((2, 3, 3, 4))
    layer = nn.Upsample(size=size, scale_factor=scale)
    out_h, out_w = size if size else (math.floor(3 * np.atleast_1d(scale)[0]),
                                      math.floor(4 * np.atleast_1d(scale)[-1]))
    scales = (None, None) if scale is None else (np.atleast_1d(scale)[0],
                                                 np.atleast_1d(scale)[-1])
    want = nearest_reference(x, out_h, out_w, scales)
    np.testing.assert_array_equal(layer(x).data, want)
    check_layer(layer, x)


@pytest.mark.parametrize("size, align_corners", [((7, 5), False), ((2, 9), None),
                                                 ((6, 8), True), ((1, 1), True)])
def test_bilinear_upsample_against_its_formula_and_its_gradient(size, align_corners):
    x = RNG.standard_normal((2, 3, 3, 4))
    layer = nn.Upsample(size=size, mode="bilinear", align_corners=align_corners)
    np.testing.assert_allclose(layer(x).data, bilinear_reference(x, *size, bool(align_corners)),
                               rtol=1e-12, atol=1e-14)
    check_layer(layer, x)
    # a scale factor reads pixels at (dst + 0.5) / scale - 0.5, the same as size = in * scale
    np.testing.assert_allclose(F.interpolate(x, scale_factor=2, mode="bilinear").data,
                               bilinear_reference(x, 6, 8), rtol=1e-12, atol=1e-14)
    # 2.1 on 3 rows gives 6, read at (dst + 0.5) / 2.1 - 0.5; 1.1 on 4 columns keeps 4: a copy
    np.testing.assert_allclose(F.interpolate(x, scale_factor=(2.1, 1.1), mode="bilinear").data,
                               bilinear_reference(x, 6, 4, scales=(2.1, 1.1)), rtol=1e-12,
                               atol=1e-14)
    np.testing.assert_array_equal(F.interpolate(x, scale_factor=(1.2, 1.1), mode="bilinear")
                                  .data, x)


def test_pytorchs_older_upsampling_names_and_their_saved_architecture(tmp_path):
    x = RNG.standard_normal((2, 3, 3, 4))
    np.testing.assert_array_equal(nn.UpsamplingNearest2d(scale_factor=2)(x).data,
                                  nearest_reference(x, 6, 8))
    bilinear = nn.UpsamplingBilinear2d(size=(5, 7))     # align_corners=True, as PyTorch's
    np.testing.assert_allclose(bilinear(x).data, bilinear_reference(x, 5, 7, True),
                               rtol=1e-12, atol=1e-14)
    check_layer(bilinear, x)
    model = nn.Sequential(bilinear, nn.UpsamplingNearest2d(size=(6, 9)))
    model.save(tmp_path / "m.npz")
    again = nn.load(tmp_path / "m.npz")
    assert [type(m) for m in again] == [nn.UpsamplingBilinear2d, nn.UpsamplingNearest2d]
    np.testing.assert_array_equal(again(x).data, model(x).data)


def test_nearest_reads_every_pixel_twice_when_the_output_is_twice_as_large():
    # PyTorch's special cases: 2.1 on 5 pixels gives 10, read as dst // 2 (floor(dst / 2.1)
    # would read pixel 0 three times and pixel 4 once); 1.1 on 5 gives 5, a copy
    x = np.arange(5.0).reshape(1, 1, 1, 5)
    np.testing.assert_array_equal(F.interpolate(x, scale_factor=(1, 2.1)).data[0, 0, 0],
                                  [0, 0, 1, 1, 2, 2, 3, 3, 4, 4])
    np.testing.assert_array_equal(F.interpolate(x, scale_factor=(1, 1.1)).data, x)


def test_interpolate_keeps_float32_and_refuses_what_it_does_not_do():
    x = np.ones((1, 2, 3, 3), np.float32)
    assert F.interpolate(x, scale_factor=2, mode="bilinear").dtype == np.float32
    with pytest.raises(ValueError, match="mode 'bicubic' is not supported; choose one of "
                                         r"\('nearest', 'bilinear'\)"):
        F.interpolate(x, size=4, mode="bicubic")
    with pytest.raises(ValueError, match="Upsample: mode 'trilinear' is not supported"):
        nn.Upsample(scale_factor=2, mode="trilinear")
    with pytest.raises(ValueError, match="give exactly one of size and scale_factor"):
        nn.Upsample()
    with pytest.raises(cg.ShapeError, match=r"Upsample\(scale_factor=2, mode='nearest'\): "
                                            r"expects \(N, C, H, W\) input, got shape "
                                            r"\(2, 3, 3\)"):
        nn.Upsample(scale_factor=2)(np.ones((2, 3, 3)))
    with pytest.raises(ValueError, match="align_corners only applies to mode='bilinear'"):
        F.interpolate(x, size=4, align_corners=True)
    with pytest.raises(ValueError, match="recompute_scale_factor=True is not supported"):
        F.interpolate(x, scale_factor=2, recompute_scale_factor=True)
    with pytest.raises(ValueError, match="scale_factor 0.2 leaves no output"):
        F.interpolate(x, scale_factor=0.2)


# ----- init ----------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(5, 5), (3, 8), (8, 3), (6, 2, 3, 3)])
def test_orthogonal_fills_orthonormal_rows_or_columns_times_the_gain(shape):
    w = nn.Parameter(np.zeros(shape))
    assert nn.init.orthogonal_(w, gain=2.0) is w
    flat = w.data.reshape(shape[0], -1)
    gram = flat @ flat.T if flat.shape[0] <= flat.shape[1] else flat.T @ flat
    np.testing.assert_allclose(gram, 4.0 * np.eye(min(flat.shape)), atol=1e-12)
    with pytest.raises(ValueError, match="orthogonal_ needs a tensor of at least 2"):
        nn.init.orthogonal_(np.zeros(3))


def test_orthogonal_and_trunc_normal_draw_from_manual_seeds_generator():
    def draw(fill):
        nn.manual_seed(5)
        return fill(np.zeros((4, 6)))
    for fill in (nn.init.orthogonal_, nn.init.trunc_normal_):
        np.testing.assert_array_equal(draw(fill), draw(fill))
    layer = nn.Linear(3, 3)
    nn.init.orthogonal_(layer.weight)
    assert layer.weight.dtype == np.float32


def test_trunc_normal_stays_within_its_bounds_with_the_truncated_moments():
    values = nn.init.trunc_normal_(np.zeros(200_000), mean=1.0, std=2.0, a=0.0, b=3.0,
                                   generator=0)
    assert values.min() >= 0.0 and values.max() <= 3.0
    # normal(1, 2) kept in [0, 3] = [mean - std / 2, mean + std]: alpha = -0.5, beta = 1

    def pdf(z):
        return math.exp(-z * z / 2) / math.sqrt(2 * math.pi)

    def cdf(z):
        return (1 + math.erf(z / math.sqrt(2))) / 2
    alpha, beta = -0.5, 1.0
    mass = cdf(beta) - cdf(alpha)
    mean = 1.0 + 2.0 * (pdf(alpha) - pdf(beta)) / mass
    var = 4.0 * (1 + (alpha * pdf(alpha) - beta * pdf(beta)) / mass
                 - ((pdf(alpha) - pdf(beta)) / mass) ** 2)
    assert values.mean() == pytest.approx(mean, abs=0.01)
    assert values.var() == pytest.approx(var, rel=0.02)
    default = nn.init.trunc_normal_(np.zeros(10_000), generator=1)
    assert default.min() >= -2.0 and default.max() <= 2.0 and default.std() > 0.8
    with pytest.raises(ValueError, match="bounds must satisfy a < b"):
        nn.init.trunc_normal_(np.zeros(3), a=1.0, b=1.0)


# ----- ParameterDict -------------------------------------------------------------------------
def test_parameter_dict_is_trained_saved_and_loaded(tmp_path):
    class Scaled(nn.Module):
        def __init__(self):
            self.params = nn.ParameterDict({"scale": np.full(2, 5.0)})

        def forward(self):
            return ((self.params["scale"] - 3.0) ** 2).sum() + (self.params["shift"] ** 2).sum()
    model = Scaled()
    model.params["shift"] = np.ones(3)
    assert [n for n, _ in model.named_parameters()] == ["params.scale", "params.shift"]
    assert model.params.keys() == ["scale", "shift"] and "shift" in model.params
    assert all(isinstance(p, nn.Parameter) for p in model.params.values())
    opt = nn.SGD(model.parameters(), lr=0.25)
    model().backward()
    opt.step()
    np.testing.assert_allclose(model.params["scale"].data, [4.0, 4.0])  # 5 - 0.25 * 2 * 2
    np.testing.assert_allclose(model.params["shift"].data, [0.5, 0.5, 0.5])
    model.params.save(tmp_path / "params.npz")
    again = nn.load(tmp_path / "params.npz")
    assert again.keys() == ["scale", "shift"]
    np.testing.assert_array_equal(again["scale"].data, [4.0, 4.0])
    assert again["shift"].dtype == model.params["shift"].dtype
    del again["scale"]
    assert again.keys() == ["shift"] and len(again) == 1
    with pytest.raises(KeyError, match=r"has no parameter 'scale'; it has \['shift'\]"):
        again["scale"]
    with pytest.raises(KeyError, match="without '.'"):
        again["a.b"] = np.ones(2)
    with pytest.raises(KeyError, match="'training' is an attribute of the ParameterDict"):
        again["training"] = np.ones(2)


# ----- saved models, a compiled step ---------------------------------------------------------
def test_a_model_of_transposed_convolutions_and_upsampling_saves_and_loads(tmp_path):
    model = nn.Sequential(
        nn.ConvTranspose2d(2, 4, 3, stride=2, padding=1, output_padding=1, rng=0), nn.ReLU(),
        nn.Upsample(scale_factor=2, mode="bilinear"),
        nn.ConvTranspose2d(4, 2, 2, groups=2, dilation=2, bias=False, rng=1),
        nn.Upsample(size=(9, 7)))
    model.save(tmp_path / "model.npz")
    again = nn.load(tmp_path / "model.npz")
    assert repr(again) == repr(model)
    x = RNG.standard_normal((2, 2, 3, 3)).astype(np.float32)
    np.testing.assert_array_equal(again(x).data, model(x).data)
    assert model(x).shape == (2, 2, 9, 7)
    one = nn.Sequential(nn.ConvTranspose1d(3, 2, 4, stride=2, padding=1, rng=2))
    one.save(tmp_path / "one.npz")
    x1 = RNG.standard_normal((2, 3, 5)).astype(np.float32)
    np.testing.assert_array_equal(nn.load(tmp_path / "one.npz")(x1).data, one(x1).data)


def test_a_step_with_conv_transpose2d_compiles_to_the_eager_result():
    runs = []
    for compiled in (False, True):
        nn.manual_seed(0)
        model = nn.Sequential(nn.Conv2d(1, 4, 3, stride=2, padding=1, dtype=F64), nn.ReLU(),
                              nn.ConvTranspose2d(4, 2, 3, stride=2, padding=1,
                                                 output_padding=1, dtype=F64),
                              nn.Upsample(scale_factor=2, mode="bilinear"),
                              nn.Upsample(size=(8, 8)), nn.Flatten(),
                              nn.Linear(2 * 64, 3, dtype=F64))
        opt = nn.SGD(model.parameters(), lr=0.1)

        step = training_step(model, opt)

        run = cg.compile(step, argnums=None) if compiled else step
        rng = np.random.default_rng(1)
        losses = [float(np.asarray(getattr(loss, "data", loss))) for loss in
                  (run(rng.standard_normal((5, 1, 8, 8)), rng.integers(0, 3, 5))
                   for _ in range(3))]
        runs.append((losses, [p.data.copy() for p in model.parameters()]))
    (eager_losses, eager), (compiled_losses, compiled) = runs
    np.testing.assert_allclose(compiled_losses, eager_losses, rtol=1e-10)
    for want, got in zip(eager, compiled, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
