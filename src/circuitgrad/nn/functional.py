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


def max_pool2d(x, kernel_size, stride=None):
    """Max over each ``kernel_size`` window, stepping by ``stride`` (default: the kernel)."""
    x = as_tensor(x)
    kernel, stride, _ = window_options("max_pool2d", kernel_size, stride)
    gates.check_window_shape(x.shape, kernel, stride, (0, 0), "max_pool2d")
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


def avg_pool2d(x, kernel_size, stride=None):
    """Mean over each ``kernel_size`` window of (N, C, H, W), stepping by ``stride``."""
    x = as_tensor(x)
    kernel, stride, _ = window_options("avg_pool2d", kernel_size, stride)
    gates.check_window_shape(x.shape, kernel, stride, (0, 0), "avg_pool2d")
    return unfold(x, kernel, stride).mean(axis=(0, 1))  # windows: (KH, KW, N, C, OH, OW)


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


def cross_entropy(scores, labels, reduction="mean", label_smoothing=0.0, ignore_index=-100):
    """PyTorch's cross_entropy on (N, classes) scores and integer labels: with
    ``label_smoothing`` e the target is (1 - e) on the label plus e / classes everywhere.
    Samples labelled ``ignore_index`` (padding) add nothing, and the mean is over the others;
    any other label outside 0..classes-1 is an error, not a pick from the end."""
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
    if label_smoothing:
        picked = (1.0 - label_smoothing) * picked - (label_smoothing / classes) * logp.sum(axis=1)
    if kept.all():
        return _reduced(picked, reduction, "cross_entropy")
    picked = picked * kept.astype(picked.dtype)
    if reduction == "mean":  # over the samples not ignored (none left: nan, as in PyTorch)
        with np.errstate(invalid="ignore", divide="ignore"):
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
