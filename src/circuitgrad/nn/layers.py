"""Layers: Linear, Conv2d, pooling, activations, Dropout, BatchNorm, LayerNorm, Embedding,
Flatten, Identity, Sequential, ModuleList, the recurrent layers (RNN, LSTM, GRU and their
cells) and the loss classes. Names, arguments and defaults are PyTorch's, so code and habits
carry over.

Parameters are float32 unless ``dtype=`` says otherwise (float64 for gradient checks).
Weights start from He initialisation (right for ReLU networks) unless ``init=`` names
another (``"xavier"`` for tanh/sigmoid networks); biases start at zero.

>>> import numpy as np
>>> from circuitgrad import nn
>>> net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1, rng=0), nn.ReLU(), nn.MaxPool2d(2),
...                     nn.Flatten(), nn.Linear(4 * 4 * 4, 10, rng=0))
>>> net(np.zeros((2, 1, 8, 8), dtype=np.float32)).shape
(2, 10)
"""

import numbers

import numpy as np

from .. import backend
from .. import errors as cg_errors
from .. import functions as cgf
from ..tensor import Tensor, as_tensor
from . import functional as F
from .init import generator, initializer
from .module import Module, Parameter


class Linear(Module):
    """``x @ weight + bias``; weight has shape (in_features, out_features), as in the notes."""

    def __init__(self, in_features, out_features, bias=True, init="he", rng=None,
                 dtype=np.float32):
        self.in_features, self.out_features = in_features, out_features
        self.weight = Parameter(initializer(init)((in_features, out_features), rng=rng,
                                                  dtype=dtype))
        self.bias = Parameter(backend.zeros(out_features, dtype=dtype)) if bias else None

    def forward(self, x):
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self):
        return f"{self.in_features}, {self.out_features}, bias={self.bias is not None}"


class Conv2d(Module):
    """2-d convolution over (N, C, H, W) inputs; weight (out_channels, in_channels // groups,
    KH, KW). ``padding``: an int, a pair, ``"valid"`` or ``"same"``."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups=1, bias=True, init="he", rng=None, dtype=np.float32):
        name = type(self).__name__
        if groups < 1 or in_channels % groups or out_channels % groups:
            raise ValueError(f"{name}: in_channels ({in_channels}) and out_channels "
                             f"({out_channels}) must both be divisible by groups ({groups})")
        (kh, kw), self.stride, _ = F.window_options(name, kernel_size, stride)
        self.padding = padding if isinstance(padding, str) else F.pair(padding,
                                                                       f"{name}: padding", 0)
        self.dilation = F.pair(dilation, f"{name}: dilation", 1)
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size = (kh, kw)
        self.weight = Parameter(initializer(init)((out_channels, in_channels // groups, kh, kw),
                                                  rng=rng, dtype=dtype))
        self.bias = Parameter(backend.zeros(out_channels, dtype=dtype)) if bias else None

    def forward(self, x):
        x = as_tensor(x)
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            hint = " (channels last? write x.transpose(0, 3, 1, 2))" \
                if x.ndim == 4 and x.shape[3] == self.in_channels else ""
            raise cg_errors.ShapeError(
                f"{self}: expects (N, C, H, W) input with C = {self.in_channels} channels on "
                f"axis 1, got shape {x.shape}{hint}")
        return F.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation,
                        self.groups)

    def extra_repr(self):
        extra = "".join(f", {k}={v}" for k, v, default in (
            ("dilation", self.dilation, (1, 1)), ("groups", self.groups, 1)) if v != default)
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}{extra}")


class Conv1d(Module):
    """1-d convolution over (N, C, L) inputs; weight (out_channels, in_channels // groups, K)."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups=1, bias=True, init="he", rng=None, dtype=np.float32):
        if groups < 1 or in_channels % groups or out_channels % groups:
            raise ValueError(f"Conv1d: in_channels ({in_channels}) and out_channels "
                             f"({out_channels}) must both be divisible by groups ({groups})")
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size, self.stride, self.padding = int(kernel_size), int(stride), padding
        self.dilation = int(dilation)
        self.weight = Parameter(initializer(init)((out_channels, in_channels // groups,
                                                   self.kernel_size), rng=rng, dtype=dtype))
        self.bias = Parameter(backend.zeros(out_channels, dtype=dtype)) if bias else None

    def forward(self, x):
        x = as_tensor(x)
        if x.ndim != 3 or x.shape[1] != self.in_channels:
            raise cg_errors.ShapeError(
                f"{self}: expects (N, C, L) input with C = {self.in_channels} channels on axis "
                f"1, got shape {x.shape}")
        return F.conv1d(x, self.weight, self.bias, self.stride, self.padding, self.dilation,
                        self.groups)

    def extra_repr(self):
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}")


class ConvTranspose2d(Module):
    """Transposed 2-d convolution (the input-gradient of a Conv2d) over (N, C, H, W) inputs;
    weight (in_channels, out_channels // groups, KH, KW) as in PyTorch. Output size
    ``(H - 1) * stride - 2 * padding + dilation * (KH - 1) + output_padding + 1``.

    Initialised as PyTorch does: weight and bias uniform on +-1 / sqrt(fan_in), with fan_in
    = out_channels // groups * KH * KW (PyTorch's kaiming_uniform_ with a = sqrt(5)), drawn
    from ``rng`` (default: ``nn.manual_seed``'s generator); ``init=`` names another
    initialiser for the weight (the bias then starts at zero)."""

    _dims = 2

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                 output_padding=0, groups=1, bias=True, dilation=1, init=None, rng=None,
                 dtype=np.float32):
        name = type(self).__name__
        if not isinstance(groups, numbers.Integral) or groups < 1 or in_channels % groups or \
                out_channels % groups:
            raise ValueError(f"{name}: in_channels ({in_channels}) and out_channels "
                             f"({out_channels}) must both be divisible by groups ({groups})")
        if self._dims == 2:
            options = [F.pair(v, f"{name}: {what}", least) for v, what, least in (
                (kernel_size, "kernel_size", 1), (stride, "stride", 1), (padding, "padding", 0),
                (output_padding, "output_padding", 0), (dilation, "dilation", 1))]
        else:
            options = [int(v) for v in (kernel_size, stride, padding, output_padding, dilation)]
        (self.kernel_size, self.stride, self.padding, self.output_padding,
         self.dilation) = options
        for op, s, d in zip(np.atleast_1d(self.output_padding), np.atleast_1d(self.stride),
                            np.atleast_1d(self.dilation), strict=True):
            if op >= max(s, d):
                raise ValueError(f"{name}: output_padding ({self.output_padding}) must be "
                                 f"smaller than the stride ({self.stride}) or the dilation "
                                 f"({self.dilation}), as in PyTorch")
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        shape = (in_channels, out_channels // groups) + tuple(np.atleast_1d(self.kernel_size))
        fan_in = shape[1] * int(np.prod(shape[2:]))
        bound = 1 / np.sqrt(fan_in)
        rng = generator(rng)
        if init is None:
            weight = rng.uniform(-bound, bound, shape).astype(dtype)
        else:
            weight = initializer(init)(shape, rng=rng, dtype=dtype)
        self.weight = Parameter(weight)
        self.bias = None
        if bias:
            self.bias = Parameter(rng.uniform(-bound, bound, out_channels).astype(dtype)
                                  if init is None else backend.zeros(out_channels, dtype=dtype))

    def forward(self, x, output_size=None):
        """``output_size`` (PyTorch's): the spatial size wanted, of the sizes a strided
        transposed convolution can give; it picks the output_padding for this call."""
        x = as_tensor(x)
        layout = "(N, C, H, W)" if self._dims == 2 else "(N, C, L)"
        if x.ndim != self._dims + 2 or x.shape[1] != self.in_channels:
            raise cg_errors.ShapeError(
                f"{self}: expects {layout} input with C = {self.in_channels} channels on "
                f"axis 1, got shape {x.shape}")
        transpose = F.conv_transpose2d if self._dims == 2 else F.conv_transpose1d
        output_padding = self.output_padding if output_size is None else \
            self._output_padding_for(x.shape[2:], output_size)
        return transpose(x, self.weight, self.bias, self.stride, self.padding,
                         output_padding, self.groups, self.dilation)

    def _output_padding_for(self, sizes, output_size):
        wanted = tuple(int(v) for v in np.atleast_1d(output_size))[-len(sizes):]
        options = [np.atleast_1d(v) for v in (self.kernel_size, self.stride, self.padding,
                                              self.dilation)]
        padding = []
        for size, want, k, s, p, d in zip(sizes, wanted, *options, strict=True):
            least = (size - 1) * s - 2 * p + d * (k - 1) + 1
            if not least <= want < least + max(s, d):
                raise ValueError(f"{self}: output_size {tuple(output_size)} cannot be made "
                                 f"from an input of spatial size {tuple(sizes)}; each size must "
                                 f"be from (H - 1) * stride - 2 * padding + dilation * "
                                 f"(K - 1) + 1 = {least} to {least + max(s, d) - 1}")
            padding.append(want - least)
        return tuple(padding) if self._dims == 2 else padding[0]

    def extra_repr(self):
        one = 1 if self._dims == 1 else (1, 1)
        zero = 0 if self._dims == 1 else (0, 0)
        extra = "".join(f", {k}={v}" for k, v, default in (
            ("padding", self.padding, zero), ("output_padding", self.output_padding, zero),
            ("dilation", self.dilation, one), ("groups", self.groups, 1),
            ("bias", self.bias is not None, True)) if v != default)
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}{extra}")


class ConvTranspose1d(ConvTranspose2d):
    """Transposed 1-d convolution over (N, C, L) inputs; weight (in_channels, out_channels //
    groups, K); initialised as :class:`ConvTranspose2d`."""

    _dims = 1


class Upsample(Module):
    """Resize (N, C, H, W) inputs: :func:`nn.functional.interpolate` with these options
    (``mode`` ``"nearest"`` or ``"bilinear"``)."""

    def __init__(self, size=None, scale_factor=None, mode="nearest", align_corners=None,
                 recompute_scale_factor=None):
        if mode not in F.INTERPOLATE_MODES:
            raise ValueError(f"Upsample: mode {mode!r} is not supported; choose one of "
                             f"{F.INTERPOLATE_MODES}")
        if (size is None) == (scale_factor is None):
            raise ValueError("Upsample: give exactly one of size and scale_factor")
        self.size, self.scale_factor, self.mode = size, scale_factor, mode
        self.align_corners, self.recompute_scale_factor = align_corners, recompute_scale_factor

    def forward(self, x):
        x = as_tensor(x)
        if x.ndim != 4:
            raise cg_errors.ShapeError(f"{self}: expects (N, C, H, W) input, got shape "
                                       f"{x.shape}")
        return F.interpolate(x, self.size, self.scale_factor, self.mode, self.align_corners,
                             self.recompute_scale_factor)

    def extra_repr(self):
        what = f"size={self.size}" if self.size is not None else \
            f"scale_factor={self.scale_factor}"
        return f"{what}, mode={self.mode!r}"


class UpsamplingNearest2d(Upsample):
    """PyTorch's older name for ``Upsample(size, scale_factor, mode="nearest")``."""

    def __init__(self, size=None, scale_factor=None):
        super().__init__(size, scale_factor, "nearest")


class UpsamplingBilinear2d(Upsample):
    """PyTorch's older name for ``Upsample(size, scale_factor, mode="bilinear",
    align_corners=True)`` (note: align_corners=True, unlike Upsample's default)."""

    def __init__(self, size=None, scale_factor=None):
        super().__init__(size, scale_factor, "bilinear", align_corners=True)


class _Pool2d(Module):
    """A window (``kernel_size``, ``stride``: default the kernel, ``padding``) reduced by
    ``pool``."""

    pool = None

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False):
        name = type(self).__name__
        self.kernel_size, self.stride, self.padding = F.window_options(name, kernel_size,
                                                                       stride, padding)
        if ceil_mode:
            raise ValueError(f"{name}: ceil_mode=True is not supported; pad the input "
                             f"instead (padding=) or crop it so the windows fit")
        if any(p > k // 2 for p, k in zip(self.padding, self.kernel_size, strict=True)):
            raise ValueError(f"{name}: padding {self.padding} must be at most half the "
                             f"kernel size {self.kernel_size}")

    def forward(self, x):
        return type(self).pool(x, self.kernel_size, self.stride, self.padding)

    def extra_repr(self):
        padding = f", padding={self.padding}" if any(self.padding) else ""
        return f"kernel_size={self.kernel_size}, stride={self.stride}{padding}"


class MaxPool2d(_Pool2d):
    """Max over each window; the gradient goes to each window's largest entry (padding is
    never picked)."""

    pool = F.max_pool2d


class _Pointwise(Module):
    """An activation with only PyTorch's ``inplace`` argument. ``inplace`` is accepted, as
    PyTorch code passes it (``nn.ReLU(inplace=True)``), and changes nothing: the result is
    the same, and the input is left as it was (a circuit never overwrites a value a gate
    has recorded)."""

    def __init__(self, inplace=False):
        self.inplace = bool(inplace)


class ReLU(_Pointwise):
    """max(0, x): the gradient passes where the input was positive."""

    def forward(self, x):
        return cgf.relu(x)


class Sigmoid(Module):
    def forward(self, x):
        return cgf.sigmoid(x)


class Tanh(Module):
    def forward(self, x):
        return cgf.tanh(x)


class LeakyReLU(Module):
    """x where x > 0, ``negative_slope * x`` elsewhere."""

    def __init__(self, negative_slope=0.01, inplace=False):
        self.negative_slope = float(negative_slope)
        self.inplace = bool(inplace)  # accepted and changes nothing, as in _Pointwise

    def forward(self, x):
        return F.leaky_relu(x, self.negative_slope)

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}"


class GELU(Module):
    """x * Phi(x) (``approximate="tanh"``: the tanh approximation)."""

    def __init__(self, approximate="none"):
        F.gelu(backend.zeros(1), approximate)  # an unknown name fails here, not at the first call
        self.approximate = approximate

    def forward(self, x):
        return F.gelu(x, self.approximate)


class Softmax(Module):
    """softmax over axis ``dim``."""

    def __init__(self, dim=-1):
        self.dim = dim

    def forward(self, x):
        return cgf.softmax(x, axis=self.dim)


class LogSoftmax(Softmax):
    """log softmax over axis ``dim`` (stable: shifted by the maximum)."""

    def forward(self, x):
        return cgf.log_softmax(x, axis=self.dim)


class Identity(Module):
    """Passes its input through (a placeholder where a layer is optional)."""

    def __init__(self, *args, **kwargs):
        pass

    def forward(self, x):
        return x


class AvgPool2d(_Pool2d):
    """Mean over each window of (N, C, H, W) inputs; zero padding counts in the mean unless
    ``count_include_pad=False``."""

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False,
                 count_include_pad=True):
        super().__init__(kernel_size, stride, padding, ceil_mode)
        self.count_include_pad = bool(count_include_pad)

    def forward(self, x):
        return F.avg_pool2d(x, self.kernel_size, self.stride, self.padding,
                            count_include_pad=self.count_include_pad)


class AdaptiveAvgPool2d(Module):
    """Mean over bins that divide (H, W) into ``output_size`` cells, as PyTorch's do."""

    def __init__(self, output_size):
        self.output_size = F.pair(output_size, "AdaptiveAvgPool2d output_size", least=1)

    def forward(self, x):
        return F.adaptive_avg_pool2d(x, self.output_size)

    def extra_repr(self):
        return f"output_size={self.output_size}"


class LayerNorm(Module):
    """Normalise each sample over its last axes (``normalized_shape``), then scale and shift
    per position of those axes (``elementwise_affine``)."""

    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, dtype=np.float32):
        shape = (normalized_shape,) if isinstance(normalized_shape, int) else \
            tuple(normalized_shape)
        self.normalized_shape, self.eps = shape, eps
        self.weight = Parameter(backend.ones(shape, dtype=dtype)) if elementwise_affine else None
        self.bias = Parameter(backend.zeros(shape, dtype=dtype)) if elementwise_affine else None

    def forward(self, x):
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return f"{self.normalized_shape}, eps={self.eps}"


class GroupNorm(Module):
    """Normalise each sample's channels in ``num_groups`` groups (over the group's channels
    and all positions), then scale and shift per channel (``affine``)."""

    def __init__(self, num_groups, num_channels, eps=1e-5, affine=True, dtype=np.float32):
        if num_groups < 1 or num_channels % num_groups:
            raise ValueError(f"GroupNorm: num_channels ({num_channels}) must be divisible by "
                             f"num_groups ({num_groups})")
        self.num_groups, self.num_channels, self.eps = num_groups, num_channels, eps
        self.weight = Parameter(backend.ones(num_channels, dtype=dtype)) if affine else None
        self.bias = Parameter(backend.zeros(num_channels, dtype=dtype)) if affine else None

    def forward(self, x):
        x = as_tensor(x)
        if x.ndim < 2 or x.shape[1] != self.num_channels:
            raise cg_errors.ShapeError(f"{self}: expects (N, C, ...) input with C = "
                                       f"{self.num_channels}, got shape {x.shape}")
        n, rest = x.shape[0], x.shape[2:]
        grouped = x.reshape(n, self.num_groups, -1)
        out = F.layer_norm(grouped, grouped.shape[2:], eps=self.eps).reshape(x.shape)
        if self.weight is not None:
            shape = (1, self.num_channels) + (1,) * len(rest)
            out = out * self.weight.reshape(shape) + self.bias.reshape(shape)
        return out

    def extra_repr(self):
        return f"{self.num_groups}, {self.num_channels}, eps={self.eps}"


class Embedding(Module):
    """A table of ``num_embeddings`` vectors; integer indices pick rows (word vectors). The
    gradient adds up into each row picked, once per time it was picked. The row
    ``padding_idx`` (negative: from the end), as in PyTorch, starts at zeros and gets no
    gradient, so padding stays a zero vector."""

    def __init__(self, num_embeddings, embedding_dim, padding_idx=None, rng=None,
                 dtype=np.float32):
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        if padding_idx is not None:
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise ValueError(f"Embedding({num_embeddings}, {embedding_dim}): padding_idx "
                                 f"must lie in -{num_embeddings}..{num_embeddings - 1}, not "
                                 f"{padding_idx}")
            padding_idx %= num_embeddings
        self.padding_idx = padding_idx
        table = generator(rng).standard_normal((num_embeddings, embedding_dim)).astype(dtype)
        if padding_idx is not None:
            table[padding_idx] = 0
        self.weight = Parameter(table)

    def forward(self, indices):
        indices = np.asarray(indices.data if isinstance(indices, Tensor) else indices)
        if indices.dtype.kind not in "iu":
            raise TypeError(f"Embedding takes integer indices, not {indices.dtype}")
        outside = indices[(indices < 0) | (indices >= self.num_embeddings)]
        if outside.size:
            raise IndexError(f"Embedding({self.num_embeddings}, {self.embedding_dim}): index "
                             f"{int(outside[0])} is outside 0..{self.num_embeddings - 1}")
        rows = self.weight[indices]
        if self.padding_idx is None:
            return rows
        # the padding row's value, without a gradient: where() sends it only to the others
        return cgf.where((indices != self.padding_idx)[..., None], rows, rows.data)

    def extra_repr(self):
        return f"{self.num_embeddings}, {self.embedding_dim}"


class CrossEntropyLoss(Module):
    """Softmax cross-entropy of (N, classes) scores against integer labels; labels equal to
    ``ignore_index`` (PyTorch's -100, for padding) are left out; ``weight``: one per class.
    The arguments are PyTorch's, in its order."""

    def __init__(self, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
        if isinstance(weight, str):
            raise TypeError(f"CrossEntropyLoss's first argument is weight, as in PyTorch; "
                            f"write CrossEntropyLoss(reduction={weight!r})")
        self.reduction, self.label_smoothing = reduction, float(label_smoothing)
        self.ignore_index = ignore_index
        self.weight = _as_constant(weight)

    def forward(self, scores, labels):
        return F.cross_entropy(scores, labels, self.weight, self.ignore_index, self.reduction,
                               self.label_smoothing)


class MSELoss(Module):
    """Squared differences, reduced (``reduction``: 'mean', 'sum' or 'none')."""

    def __init__(self, reduction="mean"):
        self.reduction = reduction

    def forward(self, prediction, target):
        return F.mse(prediction, target, self.reduction)


class Flatten(Module):
    """(N, ...) -> (N, everything else), e.g. between convolutions and a Linear layer."""

    def forward(self, x):
        return F.flatten(x)


class Dropout(Module):
    """Zero each unit with probability ``p`` in training (scaling the rest); identity in eval."""

    def __init__(self, p=0.5, inplace=False, rng=None):
        if not 0 <= p < 1:
            raise ValueError(f"dropout probability must be in [0, 1), not {p}")
        self.p = p
        self.inplace = bool(inplace)  # accepted and changes nothing, as in _Pointwise
        self.rng = None if rng is None else backend.default_rng(rng)

    def forward(self, x):
        return F.dropout(x, self.p, self.training, self.rng)

    def extra_repr(self):
        return f"p={self.p}"


class _BatchNorm(Module):
    """Shared by BatchNorm1d and BatchNorm2d: they differ only in the shapes they accept."""

    dims = ()

    def __init__(self, num_features, momentum=0.1, eps=1e-5, dtype=np.float32):
        self.num_features, self.momentum, self.eps = num_features, momentum, eps
        self.weight = Parameter(backend.ones(num_features, dtype=dtype))   # gamma
        self.bias = Parameter(backend.zeros(num_features, dtype=dtype))    # beta
        self.register_buffer("running_mean", backend.zeros(num_features, dtype=dtype))
        self.register_buffer("running_var", backend.ones(num_features, dtype=dtype))

    def forward(self, x):
        shape = np.shape(x)
        if len(shape) not in self.dims or shape[1] != self.num_features:
            wanted = " or ".join(f"{d}-d" for d in self.dims)
            raise ValueError(f"{type(self).__name__}({self.num_features}) expects {wanted} "
                             f"input with {self.num_features} channels on axis 1, got "
                             f"shape {shape}")
        return F.batch_norm(x, self.weight, self.bias, self.running_mean, self.running_var,
                            self.training, self.momentum, self.eps)

    def extra_repr(self):
        return f"{self.num_features}, momentum={self.momentum}, eps={self.eps}"


class BatchNorm1d(_BatchNorm):
    """Batch normalisation of (N, C) or (N, C, L) inputs, per feature C."""

    dims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch normalisation of (N, C, H, W) inputs, per channel C."""

    dims = (4,)


class _Numbered(Module):
    """Sub-modules held under the names '0', '1', ...: iterated, counted and indexed."""

    def __iter__(self):
        return iter(module for _, module in self.named_children())

    def __len__(self):
        return len(self.named_children())

    def __getitem__(self, i):
        return list(self)[i]


class Sequential(_Numbered):
    """Layers applied one after another; parameters are named by position ('0.weight')."""

    def __init__(self, *layers):
        for i, layer in enumerate(layers):
            if not isinstance(layer, Module):
                raise TypeError(f"Sequential takes Modules; item {i} is {type(layer).__name__}")
            setattr(self, str(i), layer)

    def architecture(self):  # the layers it holds now, even if one was replaced since
        return {"class": type(self).__name__, "kwargs": {},
                "args": [{"module": layer.architecture()} for layer in self]}

    def forward(self, x):
        for layer in self:
            x = layer(x)
        return x


class ModuleList(_Numbered):
    """A list of modules whose parameters belong to the owner ('0.weight', '1.weight', ...);
    it has no forward of its own."""

    def __init__(self, modules=()):
        for module in modules:
            self.append(module)

    def append(self, module):
        if not isinstance(module, Module):
            raise TypeError(f"ModuleList holds Modules, not {type(module).__name__}")
        setattr(self, str(len(self)), module)
        return self

    def architecture(self):
        return {"class": "ModuleList", "kwargs": {},
                "args": [{"tuple": [{"module": m.architecture()} for m in self]}]}


class Dropout2d(Dropout):
    """Zero whole channels of (N, C, H, W) inputs with probability ``p`` in training."""

    def forward(self, x):
        x = as_tensor(x)
        if not self.training or self.p == 0:
            return x
        n, c = x.shape[:2]
        return x * F.dropout_scale((n, c) + (1,) * (np.ndim(x) - 2), self.p,
                                   np.result_type(x.dtype, np.float32), self.rng)


# ----- recurrent layers ------------------------------------------------------------------------
# PyTorch's parameter layout: weight_ih (G*H, input), weight_hh (G*H, H), bias_ih and bias_hh
# (G*H,) for G gate blocks, all drawn from uniform(-1/sqrt(H), 1/sqrt(H)).
def _recurrent_weights(gen, blocks, input_size, hidden_size, bias, dtype, proj_size=0):
    """With ``proj_size`` (the LSTM's projection, PyTorch's names and layout) h has
    ``proj_size`` features: weight_hh is (G*H, proj_size), and weight_hr (proj_size, H)
    projects o * tanh(c) to h."""
    rows, bound = blocks * hidden_size, 1.0 / np.sqrt(hidden_size)

    def uniform(*shape):
        return Parameter(gen.uniform(-bound, bound, shape).astype(dtype))
    weights = {"weight_ih": uniform(rows, input_size),
               "weight_hh": uniform(rows, proj_size or hidden_size),
               "bias_ih": uniform(rows) if bias else None,
               "bias_hh": uniform(rows) if bias else None}
    if proj_size:
        weights["weight_hr"] = uniform(proj_size, hidden_size)
    return weights


def _checked_state_parts(module, state, wants, shapes, layout):
    """The parts of a given state (h, or h and c) as tensors, part k reshaped to
    ``shapes[k]`` after checking it has shape ``wants[k]``; None for no state."""
    parts = module._state_parts(state)
    if parts is None:
        return None
    checked = []
    for name, part, want, shape in zip(module._state_names, parts, wants, shapes, strict=True):
        part = as_tensor(part)
        if part.shape != want:
            raise cg_errors.ShapeError(f"{type(module).__name__}: the initial {name} should "
                                       f"have shape {want}{layout}, got {part.shape}")
        checked.append(part.reshape(shape))
    return checked


class _OnePartState:
    """The state of an RNN or a GRU: h alone."""

    _state_names = ("h",)
    _state_count = 1

    def _state_parts(self, state):
        return None if state is None else (state,)

    def _state_of(self, parts):
        return parts[0]


class _TwoPartState:
    """The LSTM's state (h, c)."""

    _state_names = ("h", "c")
    _state_count = 2

    def _state_parts(self, state):
        if state is None:
            return None
        if not isinstance(state, (tuple, list)) or len(state) != 2:
            raise TypeError(f"{type(self).__name__}: the state is a pair (h, c), not "
                            f"{type(state).__name__}")
        return tuple(state)

    def _state_of(self, parts):
        return tuple(parts)


class _RecurrentCell(_OnePartState, Module):
    """One step of a recurrent layer, with PyTorch's names ``weight_ih``, ``weight_hh``,
    ``bias_ih``, ``bias_hh``. Input (N, input_size) or unbatched (input_size,)."""

    blocks = 1

    def __init__(self, input_size, hidden_size, bias=True, rng=None, dtype=np.float32):
        self.input_size, self.hidden_size = input_size, hidden_size
        for name, value in _recurrent_weights(generator(rng), self.blocks, input_size,
                                              hidden_size, bias, dtype).items():
            setattr(self, name, value)

    def forward(self, x, state=None):
        x = as_tensor(x)
        if x.ndim not in (1, 2) or x.shape[-1] != self.input_size:
            raise cg_errors.ShapeError(
                f"{type(self).__name__}({self.input_size}, {self.hidden_size}) expects input of "
                f"shape (batch, {self.input_size}) or ({self.input_size},), got {x.shape}")
        unbatched = x.ndim == 1
        if unbatched:
            x = x.reshape(1, -1)
        state = self._checked_state(state, x.shape[0], unbatched)
        new = self._step(F.input_gates(x, self.weight_ih, self.bias_ih), state,
                         self.weight_hh.T, self.bias_hh)
        if unbatched:
            new = new.reshape(-1) if isinstance(new, Tensor) else tuple(s.reshape(-1)
                                                                        for s in new)
        return new

    def _checked_state(self, state, batch, unbatched):
        """The state as (N, H) tensors, zeros when None."""
        want = (self.hidden_size,) if unbatched else (batch, self.hidden_size)
        count = self._state_count
        parts = _checked_state_parts(self, state, [want] * count,
                                     [(batch, self.hidden_size)] * count, "")
        if parts is None:
            zeros = as_tensor(backend.zeros((batch, self.hidden_size),
                                            dtype=self.weight_ih.dtype))
            parts = [zeros] * self._state_count
        return self._state_of(parts)

    def extra_repr(self):
        return f"{self.input_size}, {self.hidden_size}"


def _checked_nonlinearity(nonlinearity):
    if nonlinearity not in ("tanh", "relu"):
        raise ValueError(f"nonlinearity must be 'tanh' or 'relu', not {nonlinearity!r}")
    return nonlinearity


class RNNCell(_RecurrentCell):
    """h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh) (``nonlinearity="relu"``: relu)."""

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", rng=None,
                 dtype=np.float32):
        self.nonlinearity = _checked_nonlinearity(nonlinearity)
        super().__init__(input_size, hidden_size, bias, rng, dtype)

    def _step(self, gates_x, h, weight_hh_t, bias_hh):
        return F.rnn_step(gates_x, h, weight_hh_t, bias_hh, self.nonlinearity)


class LSTMCell(_TwoPartState, _RecurrentCell):
    """The LSTM step with PyTorch's gate order (input, forget, cell, output):
    c' = f * c + i * g, h' = o * tanh(c'). ``state`` is (h, c), zeros when None."""

    blocks = 4
    _step = staticmethod(F.lstm_step)


class GRUCell(_RecurrentCell):
    """The GRU step with PyTorch's gate order (reset, update, new):
    r = sigma(W_ir x + b_ir + W_hr h + b_hr), z likewise, n = tanh(W_in x + b_in +
    r * (W_hn h + b_hn)), h' = (1 - z) * n + z * h."""

    blocks = 3
    _step = staticmethod(F.gru_step)


class _Recurrent(_OnePartState, Module):
    """A recurrent step run over time, ``num_layers`` deep, as PyTorch lays it out.

    Input (T, N, input_size), (N, T, input_size) with ``batch_first``, or unbatched
    (T, input_size). Parameters ``weight_ih_l{k}``, ``weight_hh_l{k}``, ``bias_ih_l{k}``,
    ``bias_hh_l{k}`` per layer k, and the same with ``_reverse`` for the backward direction of a
    ``bidirectional`` layer, whose output is the two directions' concatenated on the feature
    axis. ``dropout`` applies to each layer's output but the last's, in training mode only.
    Returns the output of the last layer at every step, (T, N, D*H) (D = 2 if bidirectional),
    and the final state: h_n (and c_n for the LSTM) of shape (num_layers*D, N, H), layer k's
    directions at 2k and 2k+1.
    """

    blocks = 1
    _folds_bias = True  # b_hh adds to the pre-activations as b_ih does (not so in the GRU)
    _projects = False   # takes proj_size (the LSTM)

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, rng=None, dtype=np.float32, proj_size=0):
        name = type(self).__name__
        for what, value in (("input_size", input_size), ("hidden_size", hidden_size),
                            ("num_layers", num_layers)):
            if not isinstance(value, numbers.Integral) or value < 1:
                raise ValueError(f"{name}: {what} must be a positive integer, not {value!r}")
        if proj_size and not self._projects:
            raise ValueError(f"{name}: proj_size is only for the LSTM (as in PyTorch)")
        if not isinstance(proj_size, numbers.Integral) or not 0 <= proj_size < hidden_size:
            raise ValueError(f"{name}: proj_size must be an integer from 0 (no projection) to "
                             f"hidden_size - 1 = {hidden_size - 1}, not {proj_size!r}")
        self.proj_size = int(proj_size)
        if not (isinstance(dropout, numbers.Real) and 0 <= dropout < 1):
            raise ValueError(f"{name}: dropout must be a probability in [0, 1), not {dropout!r}")
        self.input_size, self.hidden_size = input_size, hidden_size
        self.num_layers, self.bias, self.batch_first = num_layers, bias, batch_first
        self.dropout, self.bidirectional = float(dropout), bool(bidirectional)
        gen = generator(rng)
        self._dropout_rng = None if rng is None else gen
        directions = 2 if bidirectional else 1
        for k in range(num_layers):
            width = input_size if k == 0 else self._out_size * directions
            for suffix in self._suffixes(k):
                for pname, value in _recurrent_weights(gen, self.blocks, width, hidden_size,
                                                       bias, dtype, self.proj_size).items():
                    setattr(self, pname + suffix, value)

    @property
    def _out_size(self):
        """The features of h: the output's per direction."""
        return self.proj_size or self.hidden_size

    def _state_sizes(self):
        """The features of each part of the state: h's, then (the LSTM's) c's."""
        return (self._out_size, self.hidden_size)[:self._state_count]

    def _suffixes(self, k):
        return (f"_l{k}", f"_l{k}_reverse") if self.bidirectional else (f"_l{k}",)

    def _legacy_state_names(self):
        # checkpoints of circuitgrad's first LSTM/RNN kept each layer in a cell, cells.{k}
        return {f"cells.{k}.{pname}": f"{pname}_l{k}" for k in range(self.num_layers)
                for pname in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")}

    def forward(self, x, state=None):
        x = as_tensor(x)
        name = type(self).__name__
        if x.ndim not in (2, 3) or x.shape[-1] != self.input_size:
            layout = "(batch, time, features)" if self.batch_first else \
                "(time, batch, features)"
            raise cg_errors.ShapeError(
                f"{name}({self.input_size}, {self.hidden_size}) expects input of shape "
                f"{layout} or unbatched (time, features), with {self.input_size} features, "
                f"got {x.shape}")
        unbatched = x.ndim == 2
        if unbatched:
            x = x.reshape(x.shape[0], 1, x.shape[1])
        elif self.batch_first:
            x = x.transpose(1, 0, 2)
        steps, batch = x.shape[:2]
        initial = self._initial(state, batch, unbatched)
        finals, layer_input = [], x
        for k in range(self.num_layers):
            outputs = []
            for d, suffix in enumerate(self._suffixes(k)):
                bias_ih = getattr(self, "bias_ih" + suffix)
                bias_hh = getattr(self, "bias_hh" + suffix)
                if self._folds_bias and bias_hh is not None:
                    # b_hh is added to every step's pre-activations alongside b_ih: add
                    # both once, over all steps (one gate and one gradient sum, not T)
                    bias_ih, bias_hh = bias_ih + bias_hh, None
                gates_x = F.input_gates(layer_input, getattr(self, "weight_ih" + suffix),
                                        bias_ih)
                weight_hh_t = getattr(self, "weight_hh" + suffix).T
                weight_hr = getattr(self, "weight_hr" + suffix, None)
                weight_hr_t = None if weight_hr is None else weight_hr.T
                s = initial[len(finals)]
                hs = [None] * steps
                for t in (range(steps) if d == 0 else range(steps - 1, -1, -1)):
                    s = self._step(gates_x[t], s, weight_hh_t, bias_hh)
                    if weight_hr_t is not None:  # proj_size: h = (o * tanh(c)) W_hr^T
                        s = (s[0] @ weight_hr_t, s[1])
                    hs[t] = s if isinstance(s, Tensor) else s[0]
                outputs.append(cgf.stack(hs, axis=0))
                finals.append(s)
            layer_input = outputs[0] if len(outputs) == 1 else cgf.concatenate(outputs, axis=2)
            if self.dropout and self.training and k < self.num_layers - 1:
                layer_input = F.dropout(layer_input, self.dropout, True, self._dropout_rng)
        out = layer_input
        if unbatched:
            out = out.reshape(steps, -1)
        elif self.batch_first:
            out = out.transpose(1, 0, 2)
        return out, self._final(finals, unbatched)

    def _initial(self, state, batch, unbatched):
        """Per (layer, direction): the initial state, zeros when None."""
        count = self.num_layers * (2 if self.bidirectional else 1)
        sizes = self._state_sizes()
        wants = [(count, n) if unbatched else (count, batch, n) for n in sizes]
        layout = (f" (num_layers * directions, {'' if unbatched else 'batch, '}"
                  f"{'proj_size' if self.proj_size else 'hidden_size'}"
                  f"{', and hidden_size for c' if self.proj_size else ''})")
        parts = _checked_state_parts(self, state, wants, [(count, batch, n) for n in sizes],
                                     layout)
        if parts is None:
            zeros = [as_tensor(backend.zeros((batch, n), dtype=self.weight_ih_l0.dtype))
                     for n in sizes]
            return [self._state_of(zeros)] * count
        return [self._state_of([p[i] for p in parts]) for i in range(count)]

    def _final(self, finals, unbatched):
        parts = [[s] if isinstance(s, Tensor) else list(s) for s in finals]
        stacked = [cgf.stack([p[j] for p in parts], axis=0) for j in range(self._state_count)]
        if unbatched:
            stacked = [s.reshape(len(finals), n) for s, n in zip(stacked, self._state_sizes(),
                                                               strict=True)]
        return self._state_of(stacked)

    _state_names = ("h_0",)

    def extra_repr(self):
        text = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            text += f", num_layers={self.num_layers}"
        for option, default in (("bias", True), ("batch_first", False), ("dropout", 0.0),
                                ("bidirectional", False), ("proj_size", 0)):
            if getattr(self, option) != default:
                text += f", {option}={getattr(self, option)}"
        return text


class RNN(_Recurrent):
    """Elman RNN over time (``nonlinearity`` "tanh" or "relu"); ``state`` and the final
    state are h of shape (num_layers * directions, N, H)."""

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True,
                 batch_first=False, dropout=0.0, bidirectional=False, rng=None,
                 dtype=np.float32):
        self.nonlinearity = _checked_nonlinearity(nonlinearity)
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, rng, dtype)

    def _step(self, gates_x, h, weight_hh_t, bias_hh):
        return F.rnn_step(gates_x, h, weight_hh_t, bias_hh, self.nonlinearity)


class LSTM(_TwoPartState, _Recurrent):
    """LSTM over time; ``state`` and the final state are (h, c), each of shape
    (num_layers * directions, N, H). With ``proj_size`` P > 0 (PyTorch's LSTM with
    projections) h_t = (o_t * tanh(c_t)) W_hr^T has P features, by a weight
    ``weight_hr_l{k}`` of shape (P, H) per layer and direction: the output is
    (T, N, directions * P), h_n (num_layers * directions, N, P), c_n keeps H.

    >>> import numpy as np
    >>> from circuitgrad import nn
    >>> lstm = nn.LSTM(3, 8, proj_size=2, rng=0)
    >>> out, (h, c) = lstm(np.zeros((5, 4, 3), np.float32))
    >>> out.shape, h.shape, c.shape, lstm.weight_hr_l0.shape, lstm.weight_hh_l0.shape
    ((5, 4, 2), (1, 4, 2), (1, 4, 8), (2, 8), (32, 2))
    """

    blocks = 4
    _projects = True

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, proj_size=0, rng=None, dtype=np.float32):
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, rng, dtype, proj_size)
    _state_names = ("h_0", "c_0")
    _step = staticmethod(F.lstm_step)


class GRU(_Recurrent):
    """GRU over time (PyTorch's equations, see :class:`GRUCell`); ``state`` and the final
    state are h of shape (num_layers * directions, N, H)."""

    blocks = 3
    _folds_bias = False  # b_hn sits inside r * (h W_hn^T + b_hn)
    _step = staticmethod(F.gru_step)


# ----- more activations (PyTorch's names; the functions are in nn.functional) -------------------
class ELU(Module):
    """x where x > 0, ``alpha * (exp(x) - 1)`` elsewhere."""

    def __init__(self, alpha=1.0, inplace=False):
        self.alpha, self.inplace = float(alpha), bool(inplace)

    def forward(self, x):
        return F.elu(x, self.alpha)

    def extra_repr(self):
        return f"alpha={self.alpha}"


class SiLU(_Pointwise):
    """x * sigmoid(x) (swish)."""

    def forward(self, x):
        return F.silu(x)


class Mish(_Pointwise):
    """x * tanh(softplus(x))."""

    def forward(self, x):
        return F.mish(x)


class Softplus(Module):
    """``log(1 + exp(beta * x)) / beta``; x itself where ``beta * x > threshold``."""

    def __init__(self, beta=1.0, threshold=20.0):
        if beta == 0:
            raise ValueError("Softplus: beta must not be 0 (it divides by beta)")
        self.beta, self.threshold = float(beta), float(threshold)

    def forward(self, x):
        return F.softplus(x, self.beta, self.threshold)

    def extra_repr(self):
        return f"beta={self.beta}, threshold={self.threshold}"


class Hardtanh(Module):
    """x clamped to [min_val, max_val]."""

    def __init__(self, min_val=-1.0, max_val=1.0, inplace=False):
        if not min_val < max_val:
            raise ValueError(f"{type(self).__name__}: min_val ({min_val}) must be less than "
                             f"max_val ({max_val})")
        self.min_val, self.max_val = float(min_val), float(max_val)
        self.inplace = bool(inplace)

    def forward(self, x):
        return F.hardtanh(x, self.min_val, self.max_val)

    def extra_repr(self):
        return f"min_val={self.min_val}, max_val={self.max_val}"


class ReLU6(_Pointwise):
    """min(max(0, x), 6)."""

    def forward(self, x):
        return F.relu6(x)


class LogSigmoid(Module):
    """log(sigmoid(x)), stable."""

    def forward(self, x):
        return F.logsigmoid(x)


class SELU(_Pointwise):
    """``scale * elu(x, alpha)``, the self-normalising constants."""

    def forward(self, x):
        return F.selu(x)


class CELU(Module):
    """x where x > 0, ``alpha * (exp(x / alpha) - 1)`` elsewhere."""

    def __init__(self, alpha=1.0, inplace=False):
        if alpha == 0:
            raise ValueError("CELU: alpha must not be 0 (it divides by alpha)")
        self.alpha, self.inplace = float(alpha), bool(inplace)

    def forward(self, x):
        return F.celu(x, self.alpha)

    def extra_repr(self):
        return f"alpha={self.alpha}"


class PReLU(Module):
    """Leaky ReLU whose negative slope is learnt: one (``num_parameters=1``) or one per
    channel, starting at ``init``."""

    def __init__(self, num_parameters=1, init=0.25, dtype=np.float32):
        if num_parameters < 1:
            raise ValueError(f"PReLU: num_parameters must be at least 1, not {num_parameters}")
        self.num_parameters = int(num_parameters)
        self.weight = Parameter(backend.full(self.num_parameters, init, dtype=dtype))

    def forward(self, x):
        return F.prelu(x, self.weight)

    def extra_repr(self):
        return f"num_parameters={self.num_parameters}"


class GLU(Module):
    """``a * sigmoid(b)`` for the two halves a, b of axis ``dim``."""

    def __init__(self, dim=-1):
        self.dim = int(dim)

    def forward(self, x):
        return F.glu(x, self.dim)


class Softsign(Module):
    """x / (1 + |x|)."""

    def forward(self, x):
        return F.softsign(x)


class Hardsigmoid(_Pointwise):
    """relu6(x + 3) / 6."""

    def forward(self, x):
        return F.hardsigmoid(x)


class Hardswish(_Pointwise):
    """x * relu6(x + 3) / 6 (MobileNetV3's)."""

    def forward(self, x):
        return F.hardswish(x)


# ----- 1-d pooling ---------------------------------------------------------------------------
class _Pool1d(Module):
    pool = None

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False):
        name = type(self).__name__
        self.kernel_size = F.window_options(name, int(kernel_size), None)[0][1]
        self.stride = self.kernel_size if stride is None else \
            F.window_options(name, self.kernel_size, int(stride))[1][1]
        self.padding = F.window_options(name, 1, None, int(padding))[2][1]
        self.ceil_mode = ceil_mode  # checked by the pooling itself, with the rest

    def forward(self, x):
        x = as_tensor(x)
        if x.ndim != 3:
            raise cg_errors.ShapeError(f"{self}: expects (N, C, L) input, got shape {x.shape}")
        return type(self).pool(x, self.kernel_size, self.stride, self.padding,
                               **self.pool_options())

    def pool_options(self):
        """The pooling function's options beyond the window."""
        return {"ceil_mode": self.ceil_mode}

    def extra_repr(self):
        padding = f", padding={self.padding}" if self.padding else ""
        return f"kernel_size={self.kernel_size}, stride={self.stride}{padding}"


class MaxPool1d(_Pool1d):
    """Max over each window of (N, C, L) inputs."""

    pool = F.max_pool1d


class AvgPool1d(_Pool1d):
    """Mean over each window of (N, C, L) inputs; zero padding counts in the mean unless
    ``count_include_pad=False``."""

    pool = F.avg_pool1d

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False,
                 count_include_pad=True):
        super().__init__(kernel_size, stride, padding, ceil_mode)
        self.count_include_pad = bool(count_include_pad)

    def pool_options(self):
        return {**super().pool_options(), "count_include_pad": self.count_include_pad}


# ----- more loss classes ---------------------------------------------------------------------
def _checked_reduction(what, reduction):
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"{what}: reduction must be 'mean', 'sum' or 'none', not "
                         f"{reduction!r}")
    return reduction


def _as_constant(value):
    """A weight given to a loss, kept as an array (a buffer, as PyTorch keeps it)."""
    return None if value is None else np.asarray(value.data if isinstance(value, Tensor)
                                                 else value)


class NLLLoss(Module):
    """Negative log-likelihood of integer labels under log-probabilities (``LogSoftmax``
    before it; together they are ``CrossEntropyLoss``). ``weight``: one per class."""

    def __init__(self, weight=None, ignore_index=-100, reduction="mean"):
        self.reduction = _checked_reduction("NLLLoss", reduction)
        self.ignore_index = int(ignore_index)
        self.weight = _as_constant(weight)

    def forward(self, input, target):
        return F.nll_loss(input, target, self.weight, self.ignore_index, self.reduction)

    def extra_repr(self):
        return f"reduction={self.reduction!r}"


class BCELoss(Module):
    """Binary cross-entropy of probabilities in [0, 1] (logs clamped at -100)."""

    def __init__(self, weight=None, reduction="mean"):
        self.reduction = _checked_reduction("BCELoss", reduction)
        self.weight = _as_constant(weight)

    def forward(self, input, target):
        return F.binary_cross_entropy(input, target, self.weight, self.reduction)


class BCEWithLogitsLoss(Module):
    """Sigmoid and binary cross-entropy in one stable expression, from scores (logits);
    ``pos_weight`` weighs the positive term, one value per class."""

    def __init__(self, weight=None, reduction="mean", pos_weight=None):
        self.reduction = _checked_reduction("BCEWithLogitsLoss", reduction)
        self.weight, self.pos_weight = _as_constant(weight), _as_constant(pos_weight)

    def forward(self, input, target):
        return F.binary_cross_entropy_with_logits(input, target, self.weight, self.reduction,
                                                  self.pos_weight)


class L1Loss(Module):
    """Absolute differences, reduced."""

    def __init__(self, reduction="mean"):
        self.reduction = _checked_reduction("L1Loss", reduction)

    def forward(self, input, target):
        return F.l1_loss(input, target, self.reduction)


class HuberLoss(Module):
    """Squared below ``delta``, linear (slope ``delta``) above it."""

    def __init__(self, reduction="mean", delta=1.0):
        if not delta > 0:
            raise ValueError(f"HuberLoss: delta must be positive, not {delta}")
        self.reduction = _checked_reduction("HuberLoss", reduction)
        self.delta = float(delta)

    def forward(self, input, target):
        return F.huber_loss(input, target, self.reduction, self.delta)


class SmoothL1Loss(Module):
    """Squared (divided by ``beta``) below ``beta``, |d| - beta/2 above it."""

    def __init__(self, reduction="mean", beta=1.0):
        if beta < 0:
            raise ValueError(f"SmoothL1Loss: beta must not be negative, not {beta}")
        self.reduction = _checked_reduction("SmoothL1Loss", reduction)
        self.beta = float(beta)

    def forward(self, input, target):
        return F.smooth_l1_loss(input, target, self.reduction, self.beta)


# ----- more containers -----------------------------------------------------------------------
class ModuleDict(Module):
    """Modules held by name, in insertion order; their parameters are named
    ``'<key>.weight'``. Like a dict: ``d["conv"]``, ``"conv" in d``, ``keys()``,
    ``items()``, ``update()``; it has no forward of its own."""

    def __init__(self, modules=None):
        if modules is not None:
            self.update(modules)

    def _check_key(self, key):
        if not isinstance(key, str) or not key or "." in key:
            raise KeyError(f"ModuleDict keys are non-empty strings without '.', not {key!r}")
        if key in vars(self) and not isinstance(vars(self)[key], Module) or \
                hasattr(type(self), key):
            raise KeyError(f"ModuleDict: {key!r} is an attribute of the ModuleDict itself; "
                           f"choose another key")

    def __setitem__(self, key, module):
        self._check_key(key)
        if not isinstance(module, Module):
            raise TypeError(f"ModuleDict holds Modules; {key!r} is {type(module).__name__}")
        setattr(self, key, module)

    def __getitem__(self, key):
        children = dict(self.named_children())
        if key not in children:
            raise KeyError(f"ModuleDict has no module {key!r}; it has {list(children)}")
        return children[key]

    def __delitem__(self, key):
        self[key]  # noqa: B018 -- the KeyError for a missing key
        delattr(self, key)

    def __contains__(self, key):
        return key in dict(self.named_children())

    def __len__(self):
        return len(self.named_children())

    def __iter__(self):
        return iter(self.keys())

    def keys(self):
        return [k for k, _ in self.named_children()]

    def values(self):
        return [m for _, m in self.named_children()]

    def items(self):
        return self.named_children()

    def update(self, modules):
        pairs = modules.items() if hasattr(modules, "items") else modules
        for key, module in pairs:
            self[key] = module

    def pop(self, key):
        module = self[key]
        delattr(self, key)
        return module

    def architecture(self):  # the modules it holds now, as (key, module) pairs
        return {"class": "ModuleDict", "kwargs": {},
                "args": [{"tuple": [{"tuple": [k, {"module": m.architecture()}]}
                                    for k, m in self.items()]}]}


class ParameterList(Module):
    """Parameters held in a list, named '0', '1', ... (arrays given are made Parameters)."""

    def __init__(self, values=None, _shapes=None):
        for value in values or ():
            self.append(value)
        for shape, dtype in _shapes or ():  # made again by nn.load: the state fills them
            self.append(backend.zeros(shape, dtype=dtype))

    def append(self, value):
        if not isinstance(value, Parameter):
            value = Parameter(value.data if isinstance(value, Tensor) else value)
        setattr(self, str(len(self)), value)
        return self

    def extend(self, values):
        for value in values:
            self.append(value)
        return self

    def __len__(self):
        return sum(isinstance(v, Parameter) for v in vars(self).values())

    def __iter__(self):
        return iter([getattr(self, str(i)) for i in range(len(self))])

    def __getitem__(self, i):
        return list(self)[i]

    def __setitem__(self, i, value):
        i = range(len(self))[i]
        setattr(self, str(i), value if isinstance(value, Parameter) else Parameter(value))

    def architecture(self):  # shapes and dtypes: the values come from the saved state
        return {"class": "ParameterList", "args": [],
                "kwargs": {"_shapes": {"tuple": [
                    {"tuple": [{"tuple": list(p.shape)}, {"dtype": p.dtype.name}]}
                    for p in self]}}}

    def extra_repr(self):
        return ", ".join(f"({i}): Parameter of shape {p.shape}" for i, p in enumerate(self))


class ParameterDict(Module):
    """Parameters held by name, in insertion order (arrays given are made Parameters). Like a
    dict: ``d["scale"]``, ``"scale" in d``, ``keys()``, ``items()``, ``update()``."""

    def __init__(self, parameters=None, _shapes=None):
        if parameters is not None:
            self.update(parameters)
        for key, (shape, dtype) in _shapes or ():  # made again by nn.load: the state fills them
            self[key] = backend.zeros(shape, dtype=dtype)

    def __setitem__(self, key, value):
        if not isinstance(key, str) or not key or "." in key:
            raise KeyError(f"ParameterDict keys are non-empty strings without '.', not {key!r}")
        if key in vars(self) and not isinstance(vars(self)[key], Parameter) or \
                hasattr(type(self), key):
            raise KeyError(f"ParameterDict: {key!r} is an attribute of the ParameterDict "
                           f"itself; choose another key")
        if not isinstance(value, Parameter):
            value = Parameter(value.data if isinstance(value, Tensor) else value)
        setattr(self, key, value)

    def __getitem__(self, key):
        held = dict(self.items())
        if key not in held:
            raise KeyError(f"ParameterDict has no parameter {key!r}; it has {list(held)}")
        return held[key]

    def __delitem__(self, key):
        self[key]  # noqa: B018 -- the KeyError for a missing key
        delattr(self, key)

    def __contains__(self, key):
        return key in dict(self.items())

    def __len__(self):
        return len(self.items())

    def __iter__(self):
        return iter(self.keys())

    def keys(self):
        return [k for k, _ in self.items()]

    def values(self):
        return [p for _, p in self.items()]

    def items(self):
        return [(k, v) for k, v in vars(self).items() if isinstance(v, Parameter)]

    def update(self, parameters):
        pairs = parameters.items() if hasattr(parameters, "items") else parameters
        for key, value in pairs:
            self[key] = value

    def pop(self, key):
        value = self[key]
        delattr(self, key)
        return value

    def architecture(self):  # keys, shapes and dtypes: the values come from the saved state
        return {"class": "ParameterDict", "args": [],
                "kwargs": {"_shapes": {"tuple": [
                    {"tuple": [k, {"tuple": [{"tuple": list(p.shape)}, {"dtype": p.dtype.name}]}]}
                    for k, p in self.items()]}}}

    def extra_repr(self):
        return ", ".join(f"({k}): Parameter of shape {p.shape}" for k, p in self.items())
