"""Layer computations as functions of tensors: what the layer classes call in ``forward``.

Each function takes its parameters as arguments, so it also serves whoever keeps
parameters outside a Module. Everything is built from the engine's gates (conv from
``unfold`` + matmul, see :mod:`circuitgrad.gates.nn`), so gradients, including higher ones,
come from their rules.

>>> import numpy as np
>>> import circuitgrad as cg
>>> x = cg.tensor(np.arange(16.0).reshape(1, 1, 4, 4))
>>> w = cg.tensor(np.ones((1, 1, 2, 2)))
>>> conv2d(x, w, stride=2).data[0, 0]
array([[10., 18.],
       [42., 50.]])
"""

import math
import numbers

import numpy as np

from .. import backend
from .. import functions as cgf
from ..errors import ShapeError
from ..gates import nn as gates
from ..i18n import msg
from ..tensor import Tensor, apply, as_tensor
from .init import generator


def pair(value, what="value", least=None):
    """(v, v) from an int, or a pair of ints as a tuple.

    With ``least`` (1 for kernel sizes and strides, 0 for padding) a smaller entry is a
    ValueError naming ``what``, rather than a ZeroDivisionError or a broadcasting error from
    deep inside a gate.
    """
    if isinstance(value, numbers.Integral):
        out = (int(value), int(value))
    else:
        out = tuple(int(v) for v in value)
        if len(out) != 2:
            raise ValueError(f"{what} must be an int or a pair of ints, not {value}")
    if least is not None and min(out) < least:
        kind = "a positive integer" if least == 1 else "a non-negative integer"
        raise ValueError(f"{what} must be {kind} (or a pair of them), got {value!r}")
    return out


def window_options(what, kernel_size, stride, padding=0):
    """Kernel size, stride (default: the kernel size) and padding of a sliding window, as
    pairs, checked: ``what`` (the layer or function) names the culprit in the error."""
    kernel = pair(kernel_size, f"{what}: kernel_size", 1)
    stride = kernel if stride is None else pair(stride, f"{what}: stride", 1)
    return kernel, stride, pair(padding, f"{what}: padding", 0)


def linear(x, weight, bias=None):
    """``x @ weight + bias`` with ``weight`` of shape (in_features, out_features)."""
    out = as_tensor(x) @ weight
    return out if bias is None else out + bias


def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-d convolution (cross-correlation, as in every deep-learning library), batched.

    ``x`` is (N, C, H, W), ``weight`` (F, C // groups, KH, KW), ``bias`` (F,); zero padding
    (``padding`` an int, a pair, ``"valid"`` or ``"same"``, which needs stride 1 and pads an
    even kernel one more on the bottom and right, as PyTorch does). ``dilation`` spaces the
    kernel's taps; ``groups`` splits the channels into groups convolved separately.
    Staged as unfold -> im2col (one row of patch values per output pixel) -> one matmul for
    the whole batch -> (N, F, OH, OW). The result is laid out channels-last (NHWC) in memory:
    the next convolution's im2col and its backward fold then copy runs of C values instead
    of runs of W, which NumPy does several times faster. See :mod:`circuitgrad.gates.nn`
    for the stages of the backward pass.
    """
    x = as_tensor(x)
    filters, channels, kh, kw = weight.shape
    dilation = pair(dilation, "conv2d: dilation", 1)
    span = (dilation[0] * (kh - 1) + 1, dilation[1] * (kw - 1) + 1)  # what one window covers
    if x.ndim != 4:
        raise ShapeError(f"conv2d expects (N, C, H, W) input, got shape {x.shape}")
    if isinstance(padding, str):
        x, padding = _string_padding(x, padding, stride, span)
    _, stride, padding = window_options("conv2d", span, stride, padding)
    if groups < 1 or channels * groups != x.shape[1] or filters % groups:
        hint = " (channels last? write x.transpose(0, 3, 1, 2) for (N, C, H, W))" \
            if x.shape[-1] == channels * groups else ""
        raise ShapeError(f"conv2d: the input has {x.shape[1]} channels on axis 1 (shape "
                         f"{x.shape}) but the weight of shape {weight.shape} with groups={groups} "
                         f"expects {channels * groups}{hint}")
    gates.check_window_shape(x.shape, span, stride, padding, "conv2d")
    n = x.shape[0]
    windows = apply(gates.unfold, (x,), {"kernel": span, "stride": stride,
                                         "padding": padding})
    if dilation != (1, 1):  # the taps of a dilated kernel: every dilation-th entry of a span
        windows = windows[::dilation[0], ::dilation[1]]
    oh, ow = windows.shape[4:]
    if groups > 1 and channels == 1 and filters == groups and x.requires_grad:
        # depthwise, one filter per channel, and the input's gradient wanted: the batched
        # matmul's backward would be an outer product per group (an inner size of 1, BLAS's
        # worst case); the sum of taps takes 0.7x its time. With two filters per channel,
        # or without the input's gradient, the matmul takes 0.4-0.8x the sum's time
        # (bench/grouped_conv.py)
        return _depthwise(windows, weight, bias, groups)
    if groups > 1:  # each group's channels with its own filters
        return _grouped(windows, weight, bias, groups)
    patch = kh * kw * channels
    # rows: output pixels (n, oh, ow); columns: patch entries in (kh, kw, c) order
    cols = windows.transpose(2, 4, 5, 0, 1, 3).reshape(n * oh * ow, patch)
    out = cols @ weight.transpose(0, 2, 3, 1).reshape(filters, patch).T
    if bias is not None:
        out = out + bias
    return out.reshape(n, oh, ow, filters).transpose(0, 3, 1, 2)


def _grouped(windows, weight, bias, groups):
    """Grouped convolution as one batched matmul over the groups: the patches laid out
    group-major, (G, C/G * KH * KW, N * OH * OW), so the (G, F/G, C/G * KH * KW) filters @
    patches is G large products (NumPy's stacked matmul calls BLAS once per group) giving
    (F, N, OH, OW), returned as an (N, F, OH, OW) view with no copy. Alternating blocks
    (bench/grouped_conv.py, forward + backward): 0.7-1.0x the time of one convolution per
    group joined (groups=4: no gain when the input's gradient is wanted too). The
    batch-major layout (N, G, C/G * KH * KW, OH * OW), tried first, took 1.05-1.3x this
    one's: its N * G small products suit BLAS less."""
    kh, kw, n, _, oh, ow = windows.shape
    filters, channels = weight.shape[:2]
    patch = channels * kh * kw  # (c, kh, kw) order, as the weight's rows flatten
    cols = windows.transpose(3, 0, 1, 2, 4, 5).reshape(groups, patch, n * oh * ow)
    out = weight.reshape(groups, filters // groups, patch) @ cols
    out = out.reshape(filters, n, oh, ow).transpose(1, 0, 2, 3)
    return out if bias is None else out + bias.reshape(1, -1, 1, 1)


def _depthwise(windows, weight, bias, groups):
    """Filters that each read one input channel (groups = channels, ``per`` filters each):
    out[n, g * per + j] = sum over taps of windows[tap, n, g] * weight[g * per + j, 0, tap],
    the taps added up one by one, each a product over the whole batch."""
    kh, kw, n, _, oh, ow = windows.shape
    filters = weight.shape[0]
    per = filters // groups
    taps = weight.reshape(groups, per, kh, kw)
    out = None
    for i in range(kh):
        for j in range(kw):
            term = windows[i, j].reshape(n, groups, 1, oh, ow) * \
                taps[:, :, i, j].reshape(groups, per, 1, 1)
            out = term if out is None else out + term
    out = out.reshape(n, filters, oh, ow)
    return out if bias is None else out + bias.reshape(1, -1, 1, 1)


def _string_padding(x, padding, stride, span):
    """``"valid"``: none. ``"same"``: the output as large as the input (stride 1 only)."""
    if padding == "valid":
        return x, 0
    if padding != "same":
        raise ValueError(f"conv2d: padding must be an int, a pair, 'valid' or 'same', not "
                         f"{padding!r}")
    if pair(stride, "conv2d: stride", 1) != (1, 1):
        raise ValueError("conv2d: padding='same' needs stride 1 (as in PyTorch)")
    total = (span[0] - 1, span[1] - 1)
    if total[0] % 2 == 0 and total[1] % 2 == 0:
        return x, (total[0] // 2, total[1] // 2)
    widths = ((0, 0), (0, 0), (total[0] // 2, total[0] - total[0] // 2),
              (total[1] // 2, total[1] - total[1] // 2))
    return cgf.pad(x, widths), 0


def conv1d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """1-d convolution of (N, C, L) inputs with weight (F, C // groups, K): conv2d of height 1."""
    x = as_tensor(x)
    if x.ndim != 3:
        raise ShapeError(f"conv1d expects (N, C, L) input, got shape {x.shape}")
    pad = padding if isinstance(padding, str) else (0, int(padding))
    out = conv2d(x[:, :, None, :], weight[:, :, None, :], bias, (1, int(stride)), pad,
                 (1, int(dilation)), groups)
    return out[:, :, 0, :]


def _transpose_options(what, x, weight, stride, padding, output_padding, groups, dilation):
    """conv_transpose's options as pairs, checked as PyTorch checks them."""
    stride = pair(stride, f"{what}: stride", 1)
    padding = pair(padding, f"{what}: padding", 0)
    output_padding = pair(output_padding, f"{what}: output_padding", 0)
    dilation = pair(dilation, f"{what}: dilation", 1)
    if x.ndim != 4:
        raise ShapeError(f"{what} expects (N, C, H, W) input, got shape {x.shape}")
    if weight.ndim != 4:
        raise ShapeError(f"{what}: the weight must be (in_channels, out_channels // groups, "
                         f"KH, KW), got shape {weight.shape}")
    if not isinstance(groups, numbers.Integral) or groups < 1 or weight.shape[0] % groups or \
            weight.shape[0] != x.shape[1]:
        raise ShapeError(f"{what}: the input has {x.shape[1]} channels on axis 1 (shape "
                         f"{x.shape}) but the weight of shape {weight.shape} with groups="
                         f"{groups} expects {weight.shape[0]} (divisible by groups)")
    for axis, op, s, d in zip("HW", output_padding, stride, dilation, strict=True):
        if op >= max(s, d):
            raise ValueError(f"{what}: output_padding ({op}) must be smaller than the stride "
                             f"or the dilation along {axis} ({s}, {d}), as in PyTorch")
    return stride, padding, output_padding, dilation


def conv_transpose2d(x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1):
    """The transposed convolution (the input-gradient of :func:`conv2d`), batched.

    ``x`` is (N, C_in, H, W), ``weight`` (C_in, C_out // groups, KH, KW) as in PyTorch,
    ``bias`` (C_out,). Each input pixel scatters its weighted kernel into the output, ``stride``
    pixels apart; the output is (N, C_out, OH, OW) with
    ``OH = (H - 1) * stride - 2 * padding + dilation * (KH - 1) + output_padding + 1``.
    Staged as conv2d's backward pass: one matmul of every input pixel's channels with the
    weight gives each pixel's (KH, KW) window of the output, and ``fold`` adds the windows
    up where they overlap; so the backward pass is an ``unfold`` and a matmul (a conv2d).

    >>> import numpy as np
    >>> import circuitgrad as cg
    >>> x = cg.tensor(np.array([[[[1.0, 2.0]]]]))
    >>> conv_transpose2d(x, cg.tensor(np.ones((1, 1, 1, 3))), stride=2).data[0, 0]
    array([[1., 1., 3., 2., 2.]])
    """
    x, weight = as_tensor(x), as_tensor(weight)
    stride, padding, output_padding, dilation = _transpose_options(
        "conv_transpose2d", x, weight, stride, padding, output_padding, groups, dilation)
    n, c_in, h, w = x.shape
    _, per_group, kh, kw = weight.shape
    c_out = per_group * groups
    span = (dilation[0] * (kh - 1) + 1, dilation[1] * (kw - 1) + 1)
    full = ((h - 1) * stride[0] + span[0], (w - 1) * stride[1] + span[1])  # before cropping
    out_size = tuple(f - 2 * p + op for f, p, op in zip(full, padding, output_padding,
                                                          strict=True))
    if min(out_size) < 1:
        raise ShapeError(f"conv_transpose2d: padding {padding} leaves no output for an input "
                         f"of shape {x.shape} and a kernel of {(kh, kw)} (output size "
                         f"{out_size})")
    if bias is not None and tuple(np.shape(bias)) != (c_out,):
        raise ShapeError(f"conv_transpose2d: the bias must be (out_channels,) = ({c_out},) for "
                         f"a weight of shape {weight.shape} with groups={groups}, got shape "
                         f"{tuple(np.shape(bias))}")
    # one row per input pixel (n, h, w), its channels as columns, as conv2d's im2col
    pixels = x.transpose(0, 2, 3, 1).reshape(n * h * w, c_in)
    if groups == 1:
        windows = pixels @ weight.reshape(c_in, c_out * kh * kw)
        windows = windows.reshape(n, h, w, c_out, kh, kw).transpose(4, 5, 0, 3, 1, 2)
    else:  # each group's channels with its own filters: one batched matmul
        per_in = c_in // groups
        grouped = pixels.reshape(n * h * w, groups, per_in).transpose(1, 0, 2)
        windows = grouped @ weight.reshape(groups, per_in, per_group * kh * kw)
        windows = windows.reshape(groups, n, h, w, per_group, kh, kw) \
            .transpose(5, 6, 1, 0, 4, 2, 3).reshape(kh, kw, n, c_out, h, w)
    if dilation != (1, 1):  # the taps of a dilated kernel, with zeros between them
        windows = _spread(_spread(windows, 0, dilation[0]), 1, dilation[1])
    out = apply(gates.fold, (windows,), {"shape": (n, c_out) + full, "stride": stride,
                                         "padding": (0, 0), "channels_last": True})
    # PyTorch crops padding on both sides, then output_padding gives back rows at the end
    # (zeros where no window reached)
    ends = [p + size for p, size in zip(padding, out_size, strict=True)]
    extra = [max(0, end - f) for end, f in zip(ends, full, strict=True)]
    out = out[:, :, padding[0]:min(ends[0], full[0]), padding[1]:min(ends[1], full[1])]
    if any(extra):
        out = cgf.pad(out, ((0, 0), (0, 0), (0, extra[0]), (0, extra[1])))
    return out if bias is None else out + bias.reshape(1, -1, 1, 1)


def _spread(windows, axis, step):
    """Zeros between the entries of ``windows`` along ``axis``: entry i moves to i * step."""
    size = windows.shape[axis]
    gaps = list(windows.shape)
    gaps.insert(axis + 1, step - 1)
    spaced = cgf.concatenate([cgf.expand_dims(windows, axis + 1),
                              as_tensor(backend.zeros(gaps, windows.dtype))], axis=axis + 1)
    merged = spaced.shape[:axis] + (size * step,) + spaced.shape[axis + 2:]
    return spaced.reshape(merged)[(slice(None),) * axis + (slice(0, (size - 1) * step + 1),)]


def conv_transpose1d(x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1):
    """conv_transpose2d of height 1: ``x`` (N, C_in, L), ``weight`` (C_in, C_out // groups, K)."""
    x, weight = as_tensor(x), as_tensor(weight)
    if x.ndim != 3:
        raise ShapeError(f"conv_transpose1d expects (N, C, L) input, got shape {x.shape}")
    if weight.ndim != 3:
        raise ShapeError(f"conv_transpose1d: the weight must be (in_channels, out_channels // "
                         f"groups, K), got shape {weight.shape}")
    out = conv_transpose2d(x[:, :, None, :], weight[:, :, None, :], bias, (1, int(stride)),
                           (0, int(padding)), (0, int(output_padding)), groups,
                           (1, int(dilation)))
    return out[:, :, 0, :]


INTERPOLATE_MODES = ("nearest", "bilinear")


def interpolate(x, size=None, scale_factor=None, mode="nearest", align_corners=None,
                recompute_scale_factor=None):
    """Resize the (H, W) of an (N, C, H, W) input, as PyTorch's interpolate.

    Give ``size`` (an int or a pair) or ``scale_factor`` (a number or a pair; the output is
    ``floor(H * scale_factor)``). ``"nearest"`` reads pixel ``floor(dst * scale)`` (PyTorch's
    rule, its float32 arithmetic included), ``"bilinear"`` weighs the two nearest pixels per
    axis at ``(dst + 0.5) * scale - 0.5`` (``align_corners=False``, the default) or
    ``dst * (H - 1) / (OH - 1)`` (``align_corners=True``); ``scale`` is ``1 / scale_factor``
    when that is given, else ``H / OH``. As in PyTorch, an axis whose size does not change
    is copied, and one that doubles reads ``dst // 2`` in ``"nearest"``, whatever the scale.
    Gradients add up where an input pixel is read more than once.

    >>> import numpy as np
    >>> interpolate(np.array([[[[1.0, 2.0]]]]), scale_factor=2).data[0, 0]
    array([[1., 1., 2., 2.],
           [1., 1., 2., 2.]])
    """
    x = as_tensor(x)
    if x.ndim != 4:
        raise ShapeError(f"interpolate expects (N, C, H, W) input, got shape {x.shape} (only "
                         f"2-d resizing is supported)")
    if mode not in INTERPOLATE_MODES:
        raise ValueError(f"interpolate: mode {mode!r} is not supported; choose one of "
                         f"{INTERPOLATE_MODES}")
    if align_corners is not None and mode == "nearest":
        raise ValueError("interpolate: align_corners only applies to mode='bilinear' (as in "
                         "PyTorch)")
    if recompute_scale_factor:
        raise ValueError("interpolate: recompute_scale_factor=True is not supported; pass "
                         "size=(OH, OW) instead")
    if (size is None) == (scale_factor is None):
        raise ValueError("interpolate: give exactly one of size and scale_factor")
    h, w = x.shape[2:]
    if size is not None:
        out_size, scales = pair(size, "interpolate: size", 1), (None, None)
    else:
        scales = tuple(float(v) for v in (scale_factor if isinstance(scale_factor, (tuple, list))
                                          else (scale_factor, scale_factor)))
        if len(scales) != 2 or min(scales) <= 0:
            raise ValueError(f"interpolate: scale_factor must be a positive number or a pair "
                             f"of them, got {scale_factor!r}")
        out_size = (math.floor(h * scales[0]), math.floor(w * scales[1]))
        if min(out_size) < 1:
            raise ValueError(f"interpolate: scale_factor {scale_factor!r} leaves no output for "
                             f"an input of shape {x.shape}")
    if mode == "nearest":
        rows, cols = (_nearest_sources(n, out, scale) for n, out, scale
                      in zip((h, w), out_size, scales, strict=True))
        return x[:, :, rows][:, :, :, cols]
    down, across = (_bilinear_weights(n, out, scale, bool(align_corners), x.dtype)
                    for n, out, scale in zip((h, w), out_size, scales, strict=True))
    return down @ x @ across.T


def _nearest_sources(size, out, scale):
    """PyTorch's nearest index, min(floor(dst * scale), size - 1), in its float32; like
    PyTorch, an output of the input's size copies it and one of twice its size reads
    ``dst // 2`` whatever the scale factor (2.1 on 5 pixels: 10 pixels, each read twice)."""
    if out == size:
        return backend.arange(out)
    if out == 2 * size:
        return backend.arange(out) // 2
    scale = np.float32(size / out if scale is None else 1 / scale)
    return np.minimum(np.floor(backend.arange(out, dtype=np.float32) * scale).astype(int),
                      size - 1)


def _bilinear_weights(size, out, scale, align_corners, dtype):
    """The (out, size) matrix of linear interpolation along one axis (PyTorch's formula;
    like PyTorch, an axis that keeps its size is copied whatever the scale factor)."""
    if out == size:
        return backend.eye(size, dtype=dtype)
    dst = backend.arange(out, dtype=np.float64)
    if align_corners:
        src = dst * ((size - 1) / (out - 1) if out > 1 else 0.0)
    else:
        src = np.maximum((dst + 0.5) * (size / out if scale is None else 1 / scale) - 0.5, 0)
    low = np.minimum(src.astype(int), size - 1)
    high = np.minimum(low + 1, size - 1)
    frac = src - low
    weights = backend.zeros((out, size), dtype=np.float64)
    backend.add_at(weights, (backend.arange(out), low), 1 - frac)
    backend.add_at(weights, (backend.arange(out), high), frac)
    return weights.astype(dtype)


def unfold(x, kernel_size, stride=1, padding=0):
    """Every ``kernel_size`` window of ``x`` (N, C, H, W), as (KH, KW, N, C, OH, OW).

    ``unfold(x)[i, j]`` is the image of every window's (i, j) entry. The result is a view
    that copies no window: of ``x`` itself when ``padding`` is 0, else of one zero-padded
    copy of ``x``.
    """
    x = as_tensor(x)
    kernel, stride, padding = window_options("unfold", kernel_size, stride, padding)
    gates.check_window_shape(x.shape, kernel, stride, padding, "unfold")
    return apply(gates.unfold, (x,), {"kernel": kernel, "stride": stride, "padding": padding})


def fold(windows, shape, stride=1, padding=0, channels_last=False):
    """The adjoint of :func:`unfold`: add windows back into an (N, C, H, W) image of ``shape``.

    A pixel that lies in several windows receives the sum of their values. ``channels_last``
    lays the result out NHWC in memory.
    """
    windows = as_tensor(windows)
    shape = tuple(int(n) for n in shape)
    kernel, stride, padding = window_options("fold", windows.shape[:2], stride, padding)
    gates.check_window_shape(shape, kernel, stride, padding, "fold")
    expected = kernel + shape[:2] + tuple(gates.output_size(size, k, s, p) for size, k, s, p
                                          in zip(shape[2:], kernel, stride, padding,
                                                 strict=True))
    if windows.shape != expected:
        raise ShapeError(f"fold: windows of shape {windows.shape} do not fit an image of "
                         f"shape {shape}; expected {expected}")
    return apply(gates.fold, (windows,), {"shape": shape, "stride": stride,
                                          "padding": padding, "channels_last": channels_last})


def _pool_options(what, x, kernel_size, stride, padding, ceil_mode):
    """A pooling's kernel, stride and padding, checked as PyTorch checks them."""
    kernel, stride, padding = window_options(what, kernel_size, stride, padding)
    if ceil_mode:
        raise ValueError(f"{what}: ceil_mode=True is not supported; pad the input instead "
                         f"(padding=) or crop it so the windows fit")
    if any(p > k // 2 for p, k in zip(padding, kernel, strict=True)):
        raise ValueError(f"{what}: padding {padding} must be at most half the kernel size "
                         f"{kernel}")
    gates.check_window_shape(x.shape, kernel, stride, padding, what)
    return kernel, stride, padding


def max_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False):
    """Max over each ``kernel_size`` window, stepping by ``stride`` (default: the kernel).

    ``padding`` adds rows and columns no window picks: the dtype's lowest value, which every
    window (padding at most half the kernel, as in PyTorch) outranks with an entry of ``x``.
    """
    x = as_tensor(x)
    kernel, stride, padding = _pool_options("max_pool2d", x, kernel_size, stride, padding,
                                            ceil_mode)
    if any(padding):
        (ph, pw), kind = padding, np.dtype(x.dtype)
        lowest = np.finfo(kind).min if kind.kind == "f" else np.iinfo(kind).min
        x = cgf.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=lowest)
    return apply(gates.max_pool2d, (x,), {"kernel": kernel, "stride": stride})


def batch_norm(x, gamma, beta, running_mean, running_var, training, momentum=0.1, eps=1e-5):
    """Normalise each channel (axis 1) to zero mean and unit variance, then scale and shift.

    In training the batch's statistics are used and the running ones (NumPy arrays of shape
    (C,)) are updated in place; in evaluation the running ones are used.
    """
    x = as_tensor(x)
    axes = (0,) + tuple(range(2, x.ndim))
    shape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
    gamma, beta = gamma.reshape(shape), beta.reshape(shape)
    if not training:
        scale = (running_var + eps) ** -0.5
        return (x - running_mean.reshape(shape)) * scale.reshape(shape) * gamma + beta
    count = x.size // x.shape[1]
    if count < 2:
        raise ShapeError(f"batch_norm in training mode needs more than one value per channel "
                         f"to estimate a variance; the input has shape {x.shape}")
    mean = x.mean(axis=axes, keepdims=True)
    centered = x - mean
    var = (centered * centered).mean(axis=axes, keepdims=True)
    out = centered * (var + eps) ** -0.5 * gamma + beta
    update_running_stats(running_mean, running_var, mean, var, momentum, count)
    return out


def update_running_stats(running_mean, running_var, mean, var, momentum, count):
    """Batch norm's running statistics, updated in place from the batch's ``mean`` and
    ``var`` (tensors or arrays over ``count`` values a channel): an exponential average, with
    the unbiased variance as PyTorch keeps. A compiled training step makes the batch's
    statistics outputs of its code and calls this after it (circuitgrad.compiler.stateful)."""
    mean = mean.data if isinstance(mean, Tensor) else mean
    var = var.data if isinstance(var, Tensor) else var
    keep = 1.0 - momentum
    running_mean *= keep
    running_mean += momentum * mean.reshape(-1)
    running_var *= keep
    running_var += (momentum * count / (count - 1)) * var.reshape(-1)


def dropout(x, p, training=True, rng=None):
    """Inverted dropout: zero each unit with probability ``p``, scale the rest by 1/(1-p).

    Scaling at training time means evaluation needs no change: it passes ``x`` through.
    """
    if not 0 <= p < 1:
        raise ValueError(f"dropout probability must be in [0, 1), not {p}")
    x = as_tensor(x)
    if not training or p == 0:
        return x
    return x * dropout_scale(x.shape, p, x.dtype, rng)


def dropout_scale(shape, p, dtype, rng=None):
    """The inverted-dropout factor: 0 with probability ``p``, else 1/(1-p), drawn from
    ``generator(rng)`` (the shared generator when ``rng`` is None). A compiled training step
    draws it afresh at every call, from the same generator (circuitgrad.compiler.stateful)."""
    keep = generator(rng).random(shape) >= p
    return keep.astype(dtype) / (1.0 - p)


def leaky_relu(x, negative_slope=0.01):
    """x where x > 0, ``negative_slope * x`` elsewhere (PyTorch's default slope)."""
    x = as_tensor(x)
    return cgf.where(x.data > 0, x, x * negative_slope)


def gelu(x, approximate="none"):
    """x * Phi(x), Phi the standard normal CDF; ``approximate="tanh"``: PyTorch's tanh form."""
    x = as_tensor(x)
    if approximate == "none":
        return 0.5 * x * (1.0 + cgf.erf(x * (1.0 / math.sqrt(2.0))))
    if approximate == "tanh":
        inner = math.sqrt(2.0 / math.pi) * (x + 0.044715 * x * x * x)
        return 0.5 * x * (1.0 + cgf.tanh(inner))
    raise ValueError(f"gelu: approximate must be 'none' or 'tanh', not {approximate!r}")


def layer_norm(x, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Normalise over the last ``len(normalized_shape)`` axes of each sample, then scale and
    shift (per position of those axes), as the course's layer norm does."""
    x = as_tensor(x)
    shape = tuple(normalized_shape)
    if x.shape[x.ndim - len(shape):] != shape:
        raise ShapeError(f"layer_norm over {shape} needs an input ending in those axes, got "
                         f"shape {x.shape}")
    axes = tuple(range(x.ndim - len(shape), x.ndim))
    mean = x.mean(axis=axes, keepdims=True)
    centered = x - mean
    var = (centered * centered).mean(axis=axes, keepdims=True)
    out = centered * (var + eps) ** -0.5
    if weight is not None:
        out = out * weight
    if bias is not None:
        out = out + bias
    return out


def avg_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True):
    """Mean over each ``kernel_size`` window of (N, C, H, W), stepping by ``stride``.

    ``padding`` adds zeros around ``x``; they count in a window's mean unless
    ``count_include_pad=False``, which divides by the entries of ``x`` in the window.
    """
    x = as_tensor(x)
    kernel, stride, padding = _pool_options("avg_pool2d", x, kernel_size, stride, padding,
                                            ceil_mode)
    means = unfold(x, kernel, stride, padding).mean(axis=(0, 1))  # windows: (KH, KW, N, ...)
    if count_include_pad or not any(padding):
        return means
    inside = backend.ones((1, 1, *x.shape[2:]), dtype=np.dtype(x.dtype))
    share = gates.unfold.forward(inside, kernel=kernel, stride=stride, padding=padding)
    return means * (kernel[0] * kernel[1] / share.sum(axis=(0, 1)))  # of the window: x's


def adaptive_avg_pool2d(x, output_size):
    """Mean over PyTorch's adaptive bins: output cell i of an axis of length n averages
    entries floor(i*n/out) to ceil((i+1)*n/out) - 1."""
    x = as_tensor(x)
    if x.ndim != 4:
        raise ShapeError(f"adaptive_avg_pool2d expects (N, C, H, W) input, got {x.shape}")
    out_h, out_w = pair(output_size, "adaptive_avg_pool2d output_size", least=1)
    rows = []
    for i in range(out_h):
        top, bottom = (i * x.shape[2]) // out_h, -((-(i + 1) * x.shape[2]) // out_h)
        cells = []
        for j in range(out_w):
            left, right = (j * x.shape[3]) // out_w, -((-(j + 1) * x.shape[3]) // out_w)
            cells.append(x[:, :, top:bottom, left:right].mean(axis=(2, 3)))
        rows.append(cgf.stack(cells, axis=-1))
    return cgf.stack(rows, axis=-2)


# ----- losses ------------------------------------------------------------------------------------
class LabelError(ValueError):
    """Labels that do not fit the scores: wrong shape, not integers, or out of range."""


def check_labels(labels, num_classes, num_samples=None):
    """Labels as an integer array, or a LabelError saying exactly what is wrong with them."""
    labels = labels.data if isinstance(labels, Tensor) else labels
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise LabelError(msg("labels must be a 1-d array of class indices, got shape {shape}",
                             shape=labels.shape))
    if labels.dtype.kind not in "iu":
        if labels.dtype.kind != "f" or not np.all(np.isfinite(labels)) \
                or np.any(labels != np.round(labels)):
            raise LabelError(msg("labels must be integer class indices, got dtype {dtype}",
                                 dtype=labels.dtype))
        labels = labels.astype(np.int64)
    if num_samples is not None and len(labels) != num_samples:
        raise LabelError(msg("{count} labels for {rows} rows of scores", count=len(labels),
                             rows=num_samples))
    if labels.size:
        bad = (labels < 0) | (labels >= num_classes)
        if bad.any():
            where = int(np.argmax(bad))
            raise LabelError(msg("label {label} at position {where} is out of range: with "
                                 "{classes} classes labels must lie in [0, {last}] ({bad} bad "
                                 "labels in all)", label=labels[where], where=where,
                                 classes=num_classes, last=num_classes - 1,
                                 bad=int(bad.sum())))
    return labels


def cross_entropy(scores, labels, weight=None, ignore_index=-100, reduction="mean",
                  label_smoothing=0.0):
    """PyTorch's cross_entropy on (N, classes) scores and integer labels: with
    ``label_smoothing`` e the target is (1 - e) on the label plus e / classes everywhere.
    Samples labelled ``ignore_index`` (padding) add nothing, and the mean is over the others;
    any other label outside 0..classes-1 is an error, not a pick from the end. ``weight``
    (one per class) scales each class's terms, and the mean then divides by the summed
    weights of the labels counted, as PyTorch's does."""
    scores = as_tensor(scores)
    if scores.ndim != 2:
        raise ShapeError(f"cross_entropy takes scores of shape (N, classes), got {scores.shape}")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1], not {label_smoothing}")
    n, classes = scores.shape
    labels = np.asarray(labels.data if isinstance(labels, Tensor) else labels)
    kept = labels != ignore_index
    labels = check_labels(np.where(kept, labels, 0), classes, n)
    logp = cgf.log_softmax(scores, axis=1)
    picked = -logp[backend.arange(n), labels]
    if weight is not None:
        weight = _class_weights(weight, scores, classes, "cross_entropy")
        counts = weight[labels] * kept.astype(scores.dtype)
        picked = picked * weight[labels]
    if label_smoothing:  # the uniform part of the target, weighted per class
        spread = -(logp.sum(axis=1) if weight is None else (logp * weight).sum(axis=1))
        picked = (1.0 - label_smoothing) * picked + (label_smoothing / classes) * spread
    if weight is None and kept.all():
        return _reduced(picked, reduction, "cross_entropy")
    picked = picked * kept.astype(picked.dtype)
    if reduction == "mean":  # over the samples not ignored (none left: nan, as in PyTorch)
        with np.errstate(invalid="ignore", divide="ignore"):
            if weight is not None:
                return picked.sum() / counts.sum()
            return picked.sum() / picked.dtype.type(kept.sum())
    return _reduced(picked, reduction, "cross_entropy")


def _reduced(losses, reduction, what):
    if reduction == "mean":
        return losses.mean()
    if reduction == "sum":
        return losses.sum()
    if reduction == "none":
        return losses
    raise ValueError(f"{what}: reduction must be 'mean', 'sum' or 'none', not {reduction!r}")


def mse(prediction, target, reduction="mean"):
    """PyTorch's mse_loss: squared differences, reduced."""
    diff = as_tensor(prediction) - target
    if diff.shape != np.shape(prediction):
        raise ShapeError(f"mse_loss: prediction of shape {np.shape(prediction)} and target "
                         f"of shape {np.shape(target)} would broadcast to {diff.shape}")
    return _reduced(diff * diff, reduction, "mse_loss")


def flatten(x):
    """(N, ...) -> (N, everything else)."""
    x = as_tensor(x)
    return x.reshape(x.shape[0], -1)




# ----- recurrent steps -------------------------------------------------------------------------
# Each step takes ``gates_x``, the input's share of every gate block (x W_ih^T + b_ih), so a
# layer over time projects all steps' inputs in one matmul and only h W_hh^T is per step.
# ``weight_hh_t`` is W_hh already transposed, (H, G*H), for the same reason.
def rnn_step(gates_x, h, weight_hh_t, bias_hh=None, nonlinearity="tanh"):
    """h' = tanh(gates_x + h W_hh^T + b_hh) (or relu)."""
    pre = gates_x + h @ weight_hh_t
    if bias_hh is not None:
        pre = pre + bias_hh
    return cgf.tanh(pre) if nonlinearity == "tanh" else cgf.relu(pre)


def lstm_step(gates_x, state, weight_hh_t, bias_hh=None):
    """PyTorch's gate order (i, f, g, o): c' = f * c + i * g, h' = o * tanh(c').

    The pointwise part is one gate, ``lstm_cell`` (see :mod:`circuitgrad.gates.nn`)."""
    h, c = state
    pre = gates_x + h @ weight_hh_t
    if bias_hh is not None:
        pre = pre + bias_hh
    return lstm_cell(pre, c)


def lstm_cell(pre, c):
    """The LSTM cell's pointwise part: from the pre-activations ``pre`` (..., 4H), blocks
    (i, f, g, o), and the cell state ``c`` (..., H), the new ``(h, c)``.

    >>> import numpy as np
    >>> h, c = lstm_cell(np.zeros((1, 4)), np.ones((1, 1)))   # every gate half open
    >>> float(c[0, 0]), round(float(h[0, 0]), 4)               # c = 0.5 * 1 + 0.5 * 0
    (0.5, 0.2311)
    """
    packed = apply(gates.lstm_cell, (as_tensor(pre), as_tensor(c)))  # h, c, what the
    return packed[0], packed[1]                                       # backward reads


def gru_step(gates_x, h, weight_hh_t, bias_hh=None):
    """PyTorch's GRU, gate order (r, z, n): r = sigma(x_r + h_r), z = sigma(x_z + h_z),
    n = tanh(x_n + r * h_n) where h_n = h W_hn^T + b_hn, and h' = (1 - z) * n + z * h."""
    hidden = h @ weight_hh_t
    if bias_hh is not None:
        hidden = hidden + bias_hh
    H = h.shape[-1]
    r = cgf.sigmoid(gates_x[:, :H] + hidden[:, :H])
    z = cgf.sigmoid(gates_x[:, H:2 * H] + hidden[:, H:2 * H])
    n = cgf.tanh(gates_x[:, 2 * H:] + r * hidden[:, 2 * H:])
    return n + z * (h - n)


def input_gates(x, weight_ih, bias_ih=None):
    """x W_ih^T + b_ih over the last axis: every gate block's input share at once."""
    x = as_tensor(x)
    lead = x.shape[:-1]
    out = x.reshape(-1, x.shape[-1]) @ weight_ih.T
    if bias_ih is not None:
        out = out + bias_ih
    return out.reshape(*lead, weight_ih.shape[0])


# ----- more activations, PyTorch's names (nn.functional) -----------------------------------------
# Each is a few existing gates. A branch picked by where() is computed everywhere, so the
# branch not taken is fed a harmless value (exp of a clamped input): its overflow would
# otherwise send 0 * inf = nan back through where.
def relu(x):
    """max(0, x)."""
    return cgf.relu(x)


def sigmoid(x):
    """1 / (1 + exp(-x))."""
    return cgf.sigmoid(x)


def tanh(x):
    """The hyperbolic tangent."""
    return cgf.tanh(x)


def softmax(x, dim=-1):
    """softmax over axis ``dim`` (PyTorch's argument name)."""
    return cgf.softmax(x, axis=dim)


def log_softmax(x, dim=-1):
    """log softmax over axis ``dim``, shifted by the maximum (stable)."""
    return cgf.log_softmax(x, axis=dim)


def elu(x, alpha=1.0):
    """x where x > 0, ``alpha * (exp(x) - 1)`` elsewhere.

    >>> [round(float(v), 4) for v in elu(np.array([-1.0, 0.0, 2.0])).data]
    [-0.6321, 0.0, 2.0]
    """
    x = as_tensor(x)
    positive = x.data > 0
    return cgf.where(positive, x, alpha * cgf.expm1(cgf.where(positive, 0.0, x)))


def softplus(x, beta=1.0, threshold=20.0):
    """``log(1 + exp(beta * x)) / beta``, and x itself where ``beta * x > threshold`` (as
    PyTorch does: there the two agree to within float precision). Computed as
    ``logaddexp(beta * x, 0)``, which never overflows."""
    if beta == 0:
        raise ValueError("softplus: beta must not be 0 (it divides by beta)")
    x = as_tensor(x)
    smooth = cgf.logaddexp(x * beta, 0.0) * (1.0 / beta)
    return cgf.where(x.data * beta > threshold, x, smooth)


def silu(x):
    """x * sigmoid(x) (also called swish)."""
    x = as_tensor(x)
    return x * cgf.sigmoid(x)


def mish(x):
    """x * tanh(softplus(x))."""
    x = as_tensor(x)
    return x * cgf.tanh(softplus(x))


def hardtanh(x, min_val=-1.0, max_val=1.0):
    """x clamped to [min_val, max_val]; the gradient passes strictly inside, as in PyTorch."""
    if not min_val < max_val:
        raise ValueError(f"hardtanh: min_val ({min_val}) must be less than max_val ({max_val})")
    x = as_tensor(x)
    inside = (x.data > min_val) & (x.data < max_val)
    return cgf.where(inside, x, np.clip(x.data, min_val, max_val))


def relu6(x):
    """min(max(0, x), 6): ``hardtanh(x, 0, 6)``."""
    return hardtanh(x, 0.0, 6.0)


def logsigmoid(x):
    """log(sigmoid(x)) = -softplus(-x), stable for large |x|."""
    return -cgf.logaddexp(-as_tensor(x), 0.0)


SELU_ALPHA = 1.6732632423543772848170429916717  # Klambauer et al.'s constants, PyTorch's
SELU_SCALE = 1.0507009873554804934193349852946


def selu(x):
    """``scale * elu(x, alpha)`` with the self-normalising constants."""
    return elu(x, SELU_ALPHA) * SELU_SCALE


def celu(x, alpha=1.0):
    """x where x > 0, ``alpha * (exp(x / alpha) - 1)`` elsewhere."""
    if alpha == 0:
        raise ValueError("celu: alpha must not be 0 (it divides by alpha)")
    x = as_tensor(x)
    positive = x.data > 0
    return cgf.where(positive, x, alpha * cgf.expm1(cgf.where(positive, 0.0, x) / alpha))


def prelu(x, weight):
    """x where x > 0, ``weight * x`` elsewhere; a weight of several entries is one per
    channel (axis 1; axis 0 of a 1-d input)."""
    x, weight = as_tensor(x), as_tensor(weight)
    if weight.size > 1:
        axis = 1 if x.ndim >= 2 else 0
        if x.ndim == 0 or x.shape[axis] != weight.size:
            raise ShapeError(f"prelu: {weight.size} weights, one per channel, need an input "
                             f"with {weight.size} channels on axis {axis}, got shape {x.shape}")
        weight = weight.reshape((weight.size,) + (1,) * (x.ndim - axis - 1))
    return cgf.where(x.data > 0, x, x * weight)


def glu(x, dim=-1):
    """The gated linear unit: ``a * sigmoid(b)`` for the halves a, b of axis ``dim``."""
    x = as_tensor(x)
    size = x.shape[dim] if x.ndim else 0
    if size % 2 or not size:
        raise ShapeError(f"glu halves axis {dim}, which must have an even size; the input "
                         f"has shape {x.shape}")
    a, b = cgf.split(x, 2, axis=dim)
    return a * cgf.sigmoid(b)


def softsign(x):
    """x / (1 + |x|)."""
    x = as_tensor(x)
    return x / (1.0 + cgf.abs(x))


def hardsigmoid(x):
    """0 below -3, 1 above 3, x / 6 + 1/2 between (the gradient: 1/6 strictly inside)."""
    x = as_tensor(x)
    inside = (x.data > -3.0) & (x.data < 3.0)
    return cgf.where(inside, x * (1.0 / 6) + 0.5, (x.data >= 3.0).astype(x.dtype))


def hardswish(x):
    """x * hardsigmoid(x): 0 up to -3, x from 3 on, x (x + 3) / 6 between; at -3 and 3 the
    gradient is that of the outer pieces (0 and 1), as PyTorch 2.13's is."""
    x = as_tensor(x)
    middle = (x.data > -3.0) & (x.data < 3.0)
    outside = cgf.where(x.data >= 3.0, x, 0.0)
    return cgf.where(middle, x * (x + 3.0) * (1.0 / 6), outside)


# ----- more losses, PyTorch's names and reductions ---------------------------------------------
def _same_shape(what, prediction, target):
    """Prediction and target as tensors of one shape, or a ShapeError naming the loss (a
    target that merely broadcasts would silently average the wrong pairs)."""
    prediction, target = as_tensor(prediction), _constant_like(target, as_tensor(prediction))
    if prediction.shape != target.shape:
        raise ShapeError(f"{what}: the target has shape {target.shape} but the input has "
                         f"shape {prediction.shape}; they must be the same (reshape one, "
                         f"e.g. target.reshape({', '.join(map(str, prediction.shape)) or '()'}))")
    return prediction, target


def _class_weights(weight, like, classes, what):
    """A loss's ``weight``, one entry per class, as ``_constant_like`` makes it; ``what``
    (the loss) names the culprit of a wrong shape."""
    weight = _constant_like(weight, like)
    if weight.shape != (classes,):
        raise ShapeError(f"{what}: weight must have one entry per class, shape ({classes},), "
                         f"got {weight.shape}")
    return weight


def _constant_like(value, like):
    """``value`` as a tensor; one that needs no gradient in the dtype of ``like``, so a
    float64 target or weight does not turn a float32 model's loss into float64."""
    if isinstance(value, Tensor) and value.requires_grad:
        return value
    value = value.data if isinstance(value, Tensor) else value
    if like.dtype.kind == "f":
        return as_tensor(np.asarray(value, dtype=like.dtype))
    return as_tensor(value)


def _weighted(losses, weight, what):
    """``losses * weight``, where ``weight`` broadcasts to the losses' shape."""
    if weight is None:
        return losses
    weight = _constant_like(weight, losses)
    try:
        shape = np.broadcast_shapes(weight.shape, losses.shape)
    except ValueError:
        shape = None
    if shape != losses.shape:
        raise ShapeError(f"{what}: weight of shape {weight.shape} does not broadcast to the "
                         f"input's shape {losses.shape}")
    return losses * weight


def mse_loss(input, target, reduction="mean"):
    """PyTorch's name for :func:`mse`."""
    return mse(input, target, reduction)


def l1_loss(input, target, reduction="mean"):
    """|input - target|, reduced."""
    input, target = _same_shape("l1_loss", input, target)
    return _reduced(cgf.abs(input - target), reduction, "l1_loss")


def huber_loss(input, target, reduction="mean", delta=1.0):
    """0.5 d^2 where |d| < delta, else delta * (|d| - 0.5 delta), for d = input - target."""
    if not delta > 0:
        raise ValueError(f"huber_loss: delta must be positive, not {delta}")
    input, target = _same_shape("huber_loss", input, target)
    d = input - target
    small = np.abs(d.data) < delta
    losses = cgf.where(small, 0.5 * d * d, delta * (cgf.abs(d) - 0.5 * delta))
    return _reduced(losses, reduction, "huber_loss")


def smooth_l1_loss(input, target, reduction="mean", beta=1.0):
    """0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta; beta = 0 is the L1 loss."""
    if beta < 0:
        raise ValueError(f"smooth_l1_loss: beta must not be negative, not {beta}")
    input, target = _same_shape("smooth_l1_loss", input, target)
    d = input - target
    if beta == 0:
        return _reduced(cgf.abs(d), reduction, "smooth_l1_loss")
    small = np.abs(d.data) < beta
    losses = cgf.where(small, (0.5 / beta) * d * d, cgf.abs(d) - 0.5 * beta)
    return _reduced(losses, reduction, "smooth_l1_loss")


_LOG_FLOOR = math.exp(-100.0)  # PyTorch clamps each log of binary_cross_entropy at -100


def _clamped_log(p):
    """log(p) clamped at -100 as PyTorch's binary_cross_entropy does. Where it is clamped the
    gradient is 1e12, PyTorch's (its backward divides by max(p (1 - p), 1e-12)), rather
    than 0: a probability of exactly 0 for a true label still gets pushed up."""
    kept = p.data > _LOG_FLOOR
    safe = cgf.where(kept, p, 1.0)  # log of the branch not taken: no -inf, no nan
    return cgf.where(kept, cgf.log(safe), -100.0 + (p - p.data) * 1e12)


def binary_cross_entropy(input, target, weight=None, reduction="mean"):
    """-weight * (t log p + (1 - t) log(1 - p)) for probabilities p in [0, 1] (after a
    sigmoid); each log clamped at -100, as in PyTorch. From scores (logits) use
    :func:`binary_cross_entropy_with_logits`, which is stable and needs no clamp.

    At p exactly 0 with t = 0 (or 1 with 1) the gradient is the true derivative, 1 (or -1),
    where PyTorch's formula (p - t) / max(p (1 - p), 1e-12) gives 0."""
    input, target = _same_shape("binary_cross_entropy", input, target)
    outside = (input.data < 0) | (input.data > 1) | np.isnan(input.data)
    if outside.any():
        where = tuple(int(i) for i in np.argwhere(outside)[0])
        raise ValueError(f"binary_cross_entropy: the input must hold probabilities in [0, 1]; "
                         f"input{list(where)} is {input.data[where]} (for scores, use "
                         f"binary_cross_entropy_with_logits / BCEWithLogitsLoss)")
    losses = -(target * _clamped_log(input) + (1.0 - target) * _clamped_log(1.0 - input))
    return _reduced(_weighted(losses, weight, "binary_cross_entropy"), reduction,
                    "binary_cross_entropy")


def binary_cross_entropy_with_logits(input, target, weight=None, reduction="mean",
                                     pos_weight=None):
    """Binary cross-entropy of sigmoid(input), computed from the scores stably:
    ``pos_weight * t * softplus(-x) + (1 - t) * softplus(x)`` (softplus as logaddexp, so
    no exp overflows and no log meets 0), times ``weight``. ``pos_weight`` weighs the
    positive term, one value per class (it broadcasts over the last axis)."""
    what = "binary_cross_entropy_with_logits"
    input, target = _same_shape(what, input, target)
    positive = cgf.logaddexp(-input, 0.0)    # -log sigmoid(x)
    negative = cgf.logaddexp(input, 0.0)     # -log(1 - sigmoid(x))
    if pos_weight is not None:
        pos_weight = _constant_like(pos_weight, input)
        try:
            np.broadcast_shapes(pos_weight.shape, input.shape[-1:])
        except ValueError:
            raise ShapeError(f"{what}: pos_weight of shape {pos_weight.shape} must broadcast "
                             f"over the last axis of the input, of shape {input.shape} (one "
                             f"weight per class)") from None
        positive = positive * pos_weight
    losses = target * positive + (1.0 - target) * negative
    return _reduced(_weighted(losses, weight, what), reduction, what)


def nll_loss(input, target, weight=None, ignore_index=-100, reduction="mean"):
    """The negative log-likelihood of integer labels under log-probabilities ``input`` (after
    ``log_softmax``): ``-weight[t] * input[n, t]``. ``input`` is (N, C), or (N, C, d1, ...)
    with labels (N, d1, ...); labels equal to ``ignore_index`` add nothing. The mean divides
    by the sum of the weights of the labels counted, as PyTorch's does."""
    input = as_tensor(input)
    labels = np.asarray(target.data if isinstance(target, Tensor) else target)
    if input.ndim < 2:
        raise ShapeError(f"nll_loss takes input of shape (N, C) or (N, C, d1, ...), got "
                         f"{input.shape}")
    classes = input.shape[1]
    want = (input.shape[0],) + input.shape[2:]
    if labels.shape != want:
        raise LabelError(f"nll_loss: input of shape {input.shape} needs labels of shape {want} "
                         f"(one class index per row{' and position' if input.ndim > 2 else ''})"
                         f", got shape {labels.shape}")
    if input.ndim > 2:  # classes last, then one row per (sample, position)
        input = cgf.moveaxis(input, 1, -1).reshape(-1, classes)
    flat = labels.reshape(-1)
    kept = flat != ignore_index
    flat = check_labels(np.where(kept, flat, 0), classes, len(flat))
    picked = -input[backend.arange(len(flat)), flat]
    if weight is not None:
        weight = _class_weights(weight, input, classes, "nll_loss")
        counts = weight[flat] * kept.astype(input.dtype)
    else:
        counts = as_tensor(kept.astype(input.dtype))
    losses = picked * counts
    if reduction == "mean":  # no label counted: 0 / 0 = nan, as in PyTorch
        with np.errstate(invalid="ignore", divide="ignore"):
            return losses.sum() / counts.sum()
    if reduction == "none":
        return _reduced(losses.reshape(labels.shape), reduction, "nll_loss")
    return _reduced(losses, reduction, "nll_loss")


# ----- 1-d pooling ---------------------------------------------------------------------------
def _pool1d(pool, what, x, kernel_size, stride, padding, **options):
    x = as_tensor(x)
    if x.ndim != 3:
        raise ShapeError(f"{what} expects (N, C, L) input, got shape {x.shape}")
    stride = kernel_size if stride is None else stride
    if int(padding) > int(kernel_size) // 2:  # said here, in one dimension's words
        raise ValueError(f"{what}: padding {padding} must be at most half the kernel size "
                         f"{kernel_size}")
    return pool(x[:, :, None, :], (1, int(kernel_size)), (1, int(stride)),
                (0, int(padding)), **options)[:, :, 0, :]


def max_pool1d(x, kernel_size, stride=None, padding=0, ceil_mode=False):
    """Max over each ``kernel_size`` window of (N, C, L), stepping by ``stride``."""
    return _pool1d(max_pool2d, "max_pool1d", x, kernel_size, stride, padding,
                   ceil_mode=ceil_mode)


def avg_pool1d(x, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True):
    """Mean over each ``kernel_size`` window of (N, C, L), stepping by ``stride``."""
    return _pool1d(avg_pool2d, "avg_pool1d", x, kernel_size, stride, padding,
                   ceil_mode=ceil_mode, count_include_pad=count_include_pad)
