"""Neural-network gates: sliding windows (unfold/fold), max-pooling, softmax cross-entropy,
the LSTM cell.

Convolution is not a primitive here. It is staged, the way the notes stage every backward
pass, out of gates that already have simple rules (``nn.functional.conv2d``)::

    windows = unfold(x)                                     # (KH, KW, N, C, OH, OW)
    cols = windows.transpose(2, 4, 5, 0, 1, 3).reshape(N * OH * OW, KH * KW * C)  # im2col
    Wm = W.transpose(0, 2, 3, 1).reshape(F, KH * KW * C)    # one row per filter
    out = cols @ Wm.T + b                                   # every dot product, one matmul
    out = out.reshape(N, OH, OW, F).transpose(0, 3, 1, 2)   # (N, F, OH, OW)

and the backward pass walks the same stages in reverse; each line is one local gradient::

    dout = dout.transpose(0, 2, 3, 1).reshape(N * OH * OW, F)   # undo the layout moves
    db = dout.sum(axis=0)                   # b was fanned out to every row: add up
    dWm = dout.T @ cols                     # D = X W.T: dW = dD.T @ X, shapes decide
    dcols = dout @ Wm                       #            dX = dD @ W
    dW = dWm.reshape(F, KH, KW, C).transpose(0, 3, 1, 2)
    dwindows = dcols.reshape(N, OH, OW, KH, KW, C).transpose(3, 4, 0, 5, 1, 2)
    dx = fold(dwindows)                     # a pixel seen by several windows: add up

``fold`` is the only new idea: a pixel that appears in several overlapping windows is a
wire that forks, so its gradient is the sum of what each window sends back. ``unfold`` and
``fold`` are linear and each other's adjoint (``<unfold(x), w> == <x, fold(w)>``), so each
is the other's VJP, and convolution stays differentiable to any order. docs/convolution.md
walks through it with a runnable example.

Max-pooling is the notes' max gate, applied to every window: the gradient goes to the
largest entry of each window (split evenly among exact ties, as the engine's ``max`` does)
and nothing to the others; then ``fold`` adds it back into the image::

    out = windows.max(axis=(0, 1))          # (computed as KH * KW elementwise maximums)
    dwindows = dout * (windows == out) / ties
    dx = fold(dwindows)

Softmax cross-entropy is fused for stability and speed: the loss is the mean of
``logsumexp(s) - s[y]`` and its local gradient is the famous ``(softmax(s) - onehot(y)) / N``.

>>> import numpy as np
>>> x = np.arange(16.0).reshape(1, 1, 4, 4)
>>> unfold.forward(x, kernel=(2, 2), stride=(2, 2), padding=(0, 0))[:, :, 0, 0, 1, 0]
array([[ 8.,  9.],
       [12., 13.]])
>>> max_pool2d.forward(x, kernel=(2, 2), stride=(2, 2))[0, 0]
array([[ 5.,  7.],
       [13., 15.]])
"""

import numpy as np

from .. import backend
from ..core.gate import Gate, call
from ..core.node import Wire
from ..errors import ShapeError
from .listing import Text, pair_text, window_text
from .reduce import log_softmax


def output_size(size, kernel, stride, padding):
    """How many windows of ``kernel`` fit along an axis of ``size`` (the notes' (W-F+2P)/S+1)."""
    return (size + 2 * padding - kernel) // stride + 1


def check_window_shape(shape, kernel, stride, padding, what):
    """Raise a ShapeError unless ``shape`` is (N, C, H, W) with room for at least one window."""
    if len(shape) != 4:
        raise ShapeError(f"{what} expects input of shape (N, C, H, W), got {tuple(shape)}")
    for axis, size, k, s, p in zip("HW", shape[2:], kernel, stride, padding, strict=True):
        if output_size(size, k, s, p) < 1:
            raise ShapeError(f"{what}: a kernel of {k} with padding {p} does not fit an input "
                             f"{axis} of {size} (input shape {tuple(shape)})")


def _value(x):
    return x._value if isinstance(x, Wire) else x


# ----- unfold and fold: each other's adjoint ---------------------------------------------------
# Windows are laid out offset-major, (KH, KW, N, C, OH, OW): windows[i, j] is the image of
# every window's (i, j) entry, so the work below is KH * KW whole-image operations (no loop
# over pixels), each on a block laid out like the image itself.
def _unfold_forward(x, kernel, stride, padding):
    ph, pw = padding
    if ph or pw:  # zero padding, in x's memory layout (np.pad would turn NHWC into NCHW)
        n, c, h, w = x.shape
        padded = _image((n, c, h + 2 * ph, w + 2 * pw), x.dtype, channels_last(x), fill=True)
        padded[:, :, ph:ph + h, pw:pw + w] = x
        x = padded
    windows = backend.sliding_window_view(x, kernel, axis=(2, 3))  # a view: nothing is copied
    return windows[:, :, ::stride[0], ::stride[1]].transpose(4, 5, 0, 1, 2, 3)


def channels_last(x):
    """True when an (N, C, H, W) array keeps its channels innermost in memory (NHWC)."""
    x = _value(x)
    return x.ndim == 4 and x.strides[1] < x.strides[3]


def _image(shape, dtype, last, fill):
    """A fresh (N, C, H, W) array, laid out NHWC in memory when ``last``."""
    n, c, h, w = shape
    make = backend.zeros if fill else backend.empty
    return make((n, h, w, c), dtype).transpose(0, 3, 1, 2) if last else make(shape, dtype)


def _fold_forward(windows, shape, stride, padding, channels_last=False):
    n, c, h, w = shape
    kh, kw, _, _, oh, ow = windows.shape
    (sh, sw), (ph, pw) = stride, padding
    if (sh, sw) == (kh, kw) and not (ph or pw) and (oh * kh, ow * kw) == (h, w):
        # windows tile the image exactly: every pixel is written once, nothing to add up
        image = _image(shape, windows.dtype, channels_last, fill=False)
        for i in range(kh):
            for j in range(kw):
                image[:, :, i::sh, j::sw] = windows[i, j]
        return image
    inner = abs(windows.strides[3]) < abs(windows.strides[5])  # channels innermost
    if inner != channels_last and windows.size > _SMALL:
        # the adds run several times faster in the windows' own layout (a conv's im2col
        # gradient has its channels innermost): add up there, then copy once
        image = _image(shape, windows.dtype, channels_last, fill=False)
        image[...] = _fold_forward(windows, shape, stride, padding, inner)
        return image
    padded = _image((n, c, h + 2 * ph, w + 2 * pw), windows.dtype, channels_last, fill=True)
    # a pixel covered by several windows gets the sum of their gradients: one strided add
    # per kernel offset
    for i in range(kh):
        for j in range(kw):
            padded[:, :, i:i + sh * oh:sh, j:j + sw * ow:sw] += windows[i, j]
    return padded[:, :, ph:ph + h, pw:pw + w]


_SMALL = 4096  # windows below this many entries: one layout or the other costs the same


def fold_windows(windows, shape, stride, padding, channels_last=False):
    """Sum windows back into an image of ``shape``; a Tensor input records a ``fold`` gate.

    ``channels_last`` lays the image out NHWC in memory (the values are the same).
    """
    return call(fold, windows, shape=tuple(shape), stride=stride, padding=padding,
                channels_last=channels_last)


def unfold_windows(x, kernel, stride, padding):
    """Every window of ``x``; a Tensor input records an ``unfold`` gate."""
    return call(unfold, x, kernel=kernel, stride=stride, padding=padding)


# unfold keeps its input: its VJP reads the input's memory layout (channels-last or not) to
# lay the gradient out the same way
# The listing names circuitgrad.nn.functional's unfold and fold, which its forward lines use.
unfold = Gate(
    "unfold", _unfold_forward, symbol="unfold", saves_out=False,
    text=Text(lambda site: f"unfold({site.arg(0)}, {pair_text(site.params['kernel'])}"
                           f"{window_text(site.params['stride'], site.params['padding'])})",
              # a pixel seen by several windows: their gradients add up
              lambda site, i: f"fold({site.g}, {site.arg(0)}.shape"
                              f"{window_text(site.params['stride'], site.params['padding'])})"),
    vjp=(lambda g, out, x, kernel, stride, padding:    # the gradient is laid out like x
         fold_windows(g, x.shape, stride, padding, channels_last(x)),),
    jvp=(lambda t, out, x, kernel, stride, padding:
         unfold_windows(t, kernel, stride, padding),))

fold = Gate(
    "fold", _fold_forward, symbol="fold", saves=(), saves_out=False,  # rules read shapes only
    text=Text(lambda site: f"fold({site.arg(0)}, {tuple(site.params['shape'])}"
                           f"{window_text(site.params['stride'], site.params['padding'])})",
              lambda site, i: f"unfold({site.g}, {pair_text(np.shape(site.value(0))[:2])}"
                              f"{window_text(site.params['stride'], site.params['padding'])})"),
    vjp=(lambda g, out, windows, shape, stride, padding, channels_last=False:
         unfold_windows(g, tuple(windows.shape[:2]), stride, padding),),
    jvp=(lambda t, out, windows, shape, stride, padding, channels_last=False:
         fold_windows(t, shape, stride, padding, channels_last),))


# ----- max-pooling -----------------------------------------------------------------------------
_NO_PADDING = (0, 0)


def _pool_forward(x, kernel, stride):
    # elementwise maximum over the KH * KW offsets: far faster than NumPy's max over two
    # short window axes
    windows = _unfold_forward(x, kernel, stride, _NO_PADDING)
    out = windows[0, 0].copy(order="K")  # laid out like x
    for i in range(kernel[0]):
        for j in range(kernel[1]):
            if i or j:
                np.maximum(out, windows[i, j], out=out)
    return out


def _pool_share(x, out, kernel, stride):
    """Each window entry's share of its window's gradient: 1/k for the k maxima, else 0.

    Piecewise constant in ``x``, so it is computed from raw values and never differentiated.
    """
    x, out = _value(x), _value(out)
    share = (_unfold_forward(x, kernel, stride, _NO_PADDING) == out).astype(x.dtype)
    ties = share[0, 0].copy(order="K")  # summed offset by offset, keeping x's memory layout
    for i in range(kernel[0]):
        for j in range(kernel[1]):
            if i or j:
                ties += share[i, j]
    if ties.size and ties.max() > 1:
        share /= ties
    return share


def pool_backward(g, out, x, kernel, stride):
    """max_pool2d's gradient on plain arrays (what compiled code calls too): each window's
    gradient to its maxima, split evenly among ties, written into an image laid out like
    ``x``, offset by offset, with no windows-sized temporaries (where windows do not
    overlap, each offset's share is written in place)."""
    (kh, kw), (sh, sw) = kernel, stride
    oh, ow = out.shape[2:]
    dtype = np.result_type(g.dtype, x.dtype)
    windows = _unfold_forward(x, kernel, stride, _NO_PADDING)
    hits = [[np.equal(windows[i, j], out) for j in range(kw)] for i in range(kh)]
    ties = hits[0][0].astype(dtype)
    for i in range(kh):
        for j in range(kw):
            if i or j:
                ties += hits[i][j]
    if ties.size and ties.max() > 1:
        with np.errstate(divide="ignore", invalid="ignore"):  # a NaN window: no hit, NaN
            g = g / ties
    apart = sh >= kh and sw >= kw  # every pixel in one window at most
    image = _image(x.shape, dtype, channels_last(x),
                   fill=not (apart and (oh * kh, ow * kw) == x.shape[2:]))
    part = None if apart else backend.empty(out.shape, dtype)
    for i in range(kh):
        for j in range(kw):
            region = image[:, :, i:i + sh * oh:sh, j:j + sw * ow:sw]
            if part is None:
                np.multiply(hits[i][j], g, out=region)
            else:
                np.multiply(hits[i][j], g, out=part)
                region += part
    return image


def _pool_vjp(g, out, x, kernel, stride):
    if not isinstance(g, Wire):
        return pool_backward(g, _value(out), _value(x), kernel, stride)
    return fold_windows(g * _pool_share(x, out, kernel, stride), x.shape, stride, _NO_PADDING,
                        channels_last(x))


def _pool_jvp(t, out, x, kernel, stride):
    windows = unfold_windows(t, kernel, stride, _NO_PADDING)
    return (windows * _pool_share(x, out, kernel, stride)).sum(axis=(0, 1))


def _pool_forward_text(site):
    kernel, stride = site.params["kernel"], site.params["stride"]
    more = "" if tuple(stride) == tuple(kernel) else f", stride={pair_text(stride)}"
    return f"max_pool2d({site.arg(0)}, {pair_text(kernel)}{more})"


def _pool_text(site, i):  # the notes' max gate, window by window
    kernel, stride = site.params["kernel"], site.params["stride"]
    a = site.arg(0)
    windows = f"unfold({a}, {pair_text(kernel)}{window_text(stride, _NO_PADDING)})"
    hit = f"{windows} == {site.out}"
    hits = _unfold_forward(np.asarray(site.value(0)), kernel, stride, _NO_PADDING) == \
        np.asarray(site.out_value)
    if np.any(hits.sum(axis=(0, 1)) > 1):  # some window holds its maximum more than once
        hit = f"({hit}) / sum({hit}, axis=(0, 1))"
    return f"fold(({hit}) * {site.g}, {a}.shape{window_text(stride, _NO_PADDING)})"


max_pool2d = Gate("max_pool2d", _pool_forward, symbol="maxpool",
                  text=Text(_pool_forward_text, _pool_text),
                  vjp=(_pool_vjp,), jvp=(_pool_jvp,))


# ----- softmax cross-entropy, fused ----------------------------------------------------------
def _onehot(labels, num_classes, dtype):
    hot = backend.zeros((len(labels), num_classes), dtype=dtype)
    hot[backend.arange(len(labels)), labels] = 1
    return hot


def _xent_forward(scores, labels):
    logp = log_softmax.forward(scores, axis=1)
    return -logp[backend.arange(len(labels)), labels].mean()


def _xent_local(scores, labels):
    """d(loss)/d(scores) = (softmax(scores) - onehot(labels)) / N, built from gates."""
    probs = np.exp(call(log_softmax, scores, axis=1))
    return (probs - _onehot(labels, scores.shape[1], scores.dtype)) / len(labels)


def _xent_text(site, i):  # the famous (softmax(s) - onehot(y)) / N
    n, classes = np.shape(site.value(0))
    return (f"(softmax({site.arg(0)}, axis=1) - eye({classes})[{site.arg(1)}]) / {n} "
            f"* {site.g}")


softmax_cross_entropy = Gate(
    "softmax_cross_entropy", _xent_forward, symbol="xent", saves_out=False,
    text=Text(backward=_xent_text),
    vjp=(lambda g, out, scores, labels: g * _xent_local(scores, labels), None),
    jvp=(lambda t, out, scores, labels: (t * _xent_local(scores, labels)).sum(), None))


# ----- the LSTM cell's pointwise part, fused --------------------------------------------------
# An LSTM step (PyTorch's gate order i, f, g, o) as one gate: from the pre-activations
# ``pre`` (..., 4H) and the old cell state ``c_prev`` (..., H)
#
#     i, f, o = sigmoid(pre_i), sigmoid(pre_f), sigmoid(pre_o);  g = tanh(pre_g)
#     c = f * c_prev + i * g;  h = o * tanh(c)
#
# The output is packed, as linalg's several-output gates are (gates/linalg.py), along a new
# first axis: [h, c, i, f, g, o, tanh(c)], shape (7, ..., H). h and c are what the layer
# reads (out[0], out[1]); the activations ride along because the backward pass needs them,
# and computing them again would cost the forward's transcendental passes over. The VJP
# takes the cotangent of every block, so reading an activation is differentiated correctly
# too. Backward, with dh, dc, ... the cotangents of the blocks:
#
#     dc_total = dc + (dh * o + dtanh_c) * (1 - tanh_c**2)     # c reaches h through tanh
#     dpre = [(dc_total * g + di) * (1 - i) * i,  (dc_total * c_prev + df) * (1 - f) * f,
#             (dc_total * i + dg) * (1 - g**2),   (dh * tanh_c + do) * (1 - o) * o]
#     dc_prev = dc_total * f
#
# On arrays (a plain backward pass) the rules run as NumPy passes over whole blocks into
# preallocated arrays: each block is contiguous, and ``pre``'s interleaved layout is read
# once (forward) and written once (backward); NumPy is several times slower on the strided
# (N, H) pieces of an (N, 4H) array. On Tensors (create_graph, forward mode) the same
# formulas are written with operators, so they record gates and differentiate again.
LSTM_BLOCKS = ("h", "c", "i", "f", "g", "o", "tanh_c")


def _side_by_side(a, hidden):
    """(..., 4H) seen as its four blocks, (4, ..., H): a strided view."""
    lead = a.ndim - 1  # (np.moveaxis says the same, at many times the cost per call)
    return a.reshape(a.shape[:-1] + (4, hidden)).transpose((lead,) + tuple(range(lead))
                                                           + (lead + 1,))


def _lstm_cell_forward(pre, c_prev):
    if np.ndim(pre) < 1 or pre.shape[-1] % 4 or np.shape(c_prev) != pre.shape[:-1] + \
            (pre.shape[-1] // 4,):
        raise ShapeError(f"lstm_cell: the pre-activations must be (..., 4H) and the cell state "
                         f"(..., H) with the same leading axes; got {np.shape(pre)} and "
                         f"{np.shape(c_prev)}")
    out = backend.empty((7,) + c_prev.shape, np.result_type(pre, c_prev))
    h, c, i, f, g, o, tanh_c = out
    acts = out[2:6]
    np.negative(_side_by_side(pre, c_prev.shape[-1]), out=acts)  # the one strided read
    with np.errstate(over="ignore"):  # exp(-x) -> inf where the sigmoid is 0: 1 / inf
        for s in (out[2:4], o):       # sigmoid = 1 / (1 + exp(-x)) for i, f, o
            np.exp(s, out=s)
            s += 1
            np.reciprocal(s, out=s)
    np.tanh(g, out=g)                 # tanh(-x) = -tanh(x)
    np.negative(g, out=g)
    np.multiply(f, c_prev, out=c)
    np.multiply(i, g, out=tanh_c)     # tanh_c as scratch
    c += tanh_c
    np.tanh(c, out=tanh_c)
    np.multiply(o, tanh_c, out=h)
    return out


def _is_plain(*values):
    return not any(isinstance(v, Wire) for v in values)


def _lstm_cell_dc_total(g, out):
    """The whole gradient reaching the new cell state c: its own, and through tanh(c) what
    h and the tanh_c block send."""
    if _is_plain(g, out):
        total = np.multiply(g[0], out[5])
        total += g[6]
        slope = np.multiply(out[6], out[6])
        np.subtract(1, slope, out=slope)
        total *= slope
        total += g[1]
        return total
    return (g[0] * out[5] + g[6]) * (1 - out[6] * out[6]) + g[1]


def _lstm_cell_vjp_pre(g, out, pre, c_prev):
    total = _lstm_cell_dc_total(g, out)
    if _is_plain(g, out, c_prev):
        acts = out[2:6]
        d = np.multiply(g[2:6], 1, dtype=acts.dtype)  # (4, ..., H): the blocks' own cotangents
        d[0] += np.multiply(total, out[4])  # plus what reaches them through c and h
        d[1] += np.multiply(total, c_prev)
        d[2] += np.multiply(total, out[2])
        d[3] += np.multiply(g[0], out[6])
        local = np.multiply(acts, acts)    # the local derivatives:
        np.subtract(acts[:2], local[:2], out=local[:2])  # sigmoid: (1 - s) * s = s - s**2
        np.subtract(acts[3], local[3], out=local[3])
        np.subtract(1, local[2], out=local[2])           # tanh: 1 - g**2
        d *= local
        dpre = backend.empty(c_prev.shape[:-1] + (4 * c_prev.shape[-1],), acts.dtype)
        _side_by_side(dpre, c_prev.shape[-1])[...] = d    # the one strided write
        return dpre
    h, c, i, f, gg, o, tanh_c = (out[k] for k in range(7))
    return np.concatenate([(total * gg + g[2]) * ((1 - i) * i),
                           (total * c_prev + g[3]) * ((1 - f) * f),
                           (total * i + g[4]) * (1 - gg * gg),
                           (g[0] * tanh_c + g[5]) * ((1 - o) * o)], axis=-1)


def _lstm_cell_vjp_c(g, out, pre, c_prev):
    total = _lstm_cell_dc_total(g, out)
    if _is_plain(total, out):
        total *= out[3]
        return total
    return total * out[3]


def _lstm_cell_jvp_pre(t, out, pre, c_prev):
    hidden = np.shape(c_prev)[-1]
    h, c, i, f, gg, o, tanh_c = (out[k] for k in range(7))
    ti = t[..., :hidden] * ((1 - i) * i)
    tf = t[..., hidden:2 * hidden] * ((1 - f) * f)
    tg = t[..., 2 * hidden:3 * hidden] * (1 - gg * gg)
    to = t[..., 3 * hidden:] * ((1 - o) * o)
    tc = tf * c_prev + ti * gg + tg * i
    t_tanh_c = tc * (1 - tanh_c * tanh_c)
    return np.stack([t_tanh_c * o + to * tanh_c, tc, ti, tf, tg, to, t_tanh_c])


def _lstm_cell_jvp_c(t, out, pre, c_prev):
    tc = t * out[3]
    t_tanh_c = tc * (1 - out[6] * out[6])
    zero = backend.zeros(np.shape(c_prev), np.result_type(out.dtype, t.dtype))
    return np.stack([t_tanh_c * out[5], tc, zero, zero, zero, zero, t_tanh_c])


def _lstm_cell_text(site, i):
    """The backward formulas above, one expression over the packed output and gradient."""
    total = "(dh * o + dtanh_c) * (1 - tanh_c**2) + dc"
    if i == 1:
        return (f"(lambda h, c, i, f, g, o, tanh_c, dh, dc, di, df, dg, do, dtanh_c: "
                f"({total}) * f)(*{site.out}, *{site.g})")
    return (f"(lambda c_prev, h, c, i, f, g, o, tanh_c, dh, dc, di, df, dg, do, dtanh_c: "
            f"(lambda dc_total: concatenate([(dc_total * g + di) * (1 - i) * i, "
            f"(dc_total * c_prev + df) * (1 - f) * f, (dc_total * i + dg) * (1 - g**2), "
            f"(dh * tanh_c + do) * (1 - o) * o], axis=-1))({total}))"
            f"({site.arg(1)}, *{site.out}, *{site.g})")


lstm_cell = Gate(
    "lstm_cell", _lstm_cell_forward, symbol="lstm", saves=(1,),  # reads c_prev, not pre
    text=Text(backward=_lstm_cell_text),
    vjp=(_lstm_cell_vjp_pre, _lstm_cell_vjp_c), jvp=(_lstm_cell_jvp_pre, _lstm_cell_jvp_c))
