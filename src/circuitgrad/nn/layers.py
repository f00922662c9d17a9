"""Layers: Linear, Conv2d, pooling, activations, Dropout, BatchNorm, LayerNorm, Embedding,
Flatten, Identity, Sequential, ModuleList, and the loss classes. Names, arguments and
defaults are PyTorch's, so code and habits carry over.

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


class _Pool2d(Module):
    """A window (``kernel_size``, ``stride``: default the kernel) reduced by ``pool``."""

    pool = None

    def __init__(self, kernel_size, stride=None):
        self.kernel_size, self.stride, _ = F.window_options(type(self).__name__, kernel_size,
                                                            stride)

    def forward(self, x):
        return type(self).pool(x, self.kernel_size, self.stride)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}"


class MaxPool2d(_Pool2d):
    """Max over each window; the gradient goes to each window's largest entry."""

    pool = F.max_pool2d


class ReLU(Module):
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

    def __init__(self, negative_slope=0.01):
        self.negative_slope = float(negative_slope)

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
    """Mean over each window of (N, C, H, W) inputs."""

    pool = F.avg_pool2d


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
    gradient adds up into each row picked, once per time it was picked."""

    def __init__(self, num_embeddings, embedding_dim, rng=None, dtype=np.float32):
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.weight = Parameter(generator(rng).standard_normal(
            (num_embeddings, embedding_dim)).astype(dtype))

    def forward(self, indices):
        indices = np.asarray(indices.data if isinstance(indices, Tensor) else indices)
        if indices.dtype.kind not in "iu":
            raise TypeError(f"Embedding takes integer indices, not {indices.dtype}")
        outside = indices[(indices < 0) | (indices >= self.num_embeddings)]
        if outside.size:
            raise IndexError(f"Embedding({self.num_embeddings}, {self.embedding_dim}): index "
                             f"{int(outside[0])} is outside 0..{self.num_embeddings - 1}")
        return self.weight[indices]

    def extra_repr(self):
        return f"{self.num_embeddings}, {self.embedding_dim}"


class CrossEntropyLoss(Module):
    """Softmax cross-entropy of (N, classes) scores against integer labels."""

    def __init__(self, reduction="mean", label_smoothing=0.0):
        self.reduction, self.label_smoothing = reduction, float(label_smoothing)

    def forward(self, scores, labels):
        return F.cross_entropy(scores, labels, self.reduction, self.label_smoothing)


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

    def __init__(self, p=0.5, rng=None):
        if not 0 <= p < 1:
            raise ValueError(f"dropout probability must be in [0, 1), not {p}")
        self.p = p
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
        keep = generator(self.rng).random((n, c) + (1,) * (np.ndim(x) - 2)) >= self.p
        return x * (keep.astype(np.result_type(x.dtype, np.float32)) / (1.0 - self.p))


# ----- recurrent layers ------------------------------------------------------------------------
class _RecurrentCell(Module):
    """Shared by the cells: PyTorch's parameter names and layout, weight_ih (G*H, input) and
    weight_hh (G*H, H) for G gate blocks, uniform(-1/sqrt(H), 1/sqrt(H)) initialisation."""

    blocks = 1

    def __init__(self, input_size, hidden_size, bias=True, rng=None, dtype=np.float32):
        self.input_size, self.hidden_size = input_size, hidden_size
        rows, bound = self.blocks * hidden_size, 1.0 / np.sqrt(hidden_size)
        gen = generator(rng)

        def uniform(*shape):
            return Parameter(gen.uniform(-bound, bound, shape).astype(dtype))
        self.weight_ih = uniform(rows, input_size)
        self.weight_hh = uniform(rows, hidden_size)
        self.bias_ih = uniform(rows) if bias else None
        self.bias_hh = uniform(rows) if bias else None

    def _pre(self, x, h):
        """x W_ih^T + h W_hh^T (+ biases): every gate block's input at once."""
        x = as_tensor(x)
        if x.ndim != 2 or x.shape[1] != self.input_size:
            raise cg_errors.ShapeError(
                f"{type(self).__name__}({self.input_size}, {self.hidden_size}) expects input of "
                f"shape (batch, {self.input_size}), got {x.shape}")
        pre = x @ self.weight_ih.T + h @ self.weight_hh.T
        if self.bias_ih is not None:
            pre = pre + self.bias_ih + self.bias_hh
        return pre

    def _zeros(self, x):
        return backend.zeros((np.shape(x)[0], self.hidden_size), dtype=self.weight_ih.dtype)

    def extra_repr(self):
        return f"{self.input_size}, {self.hidden_size}"


class RNNCell(_RecurrentCell):
    """h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh) (``nonlinearity="relu"``: relu)."""

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", rng=None,
                 dtype=np.float32):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"nonlinearity must be 'tanh' or 'relu', not {nonlinearity!r}")
        super().__init__(input_size, hidden_size, bias, rng, dtype)
        self.nonlinearity = nonlinearity

    def forward(self, x, h=None):
        pre = self._pre(x, self._zeros(x) if h is None else h)
        return cgf.tanh(pre) if self.nonlinearity == "tanh" else cgf.relu(pre)


class LSTMCell(_RecurrentCell):
    """The LSTM step with PyTorch's gate order (input, forget, cell, output):
    c' = f * c + i * g, h' = o * tanh(c'). ``state`` is (h, c), zeros when None."""

    blocks = 4

    def forward(self, x, state=None):
        h, c = (self._zeros(x), self._zeros(x)) if state is None else state
        pre = self._pre(x, h)
        H = self.hidden_size
        i, f = cgf.sigmoid(pre[:, :H]), cgf.sigmoid(pre[:, H:2 * H])
        g, o = cgf.tanh(pre[:, 2 * H:3 * H]), cgf.sigmoid(pre[:, 3 * H:])
        c = f * c + i * g
        return o * cgf.tanh(c), c


class _Recurrent(Module):
    """A cell run over time, ``num_layers`` deep; input (T, N, I), or (N, T, I) with
    ``batch_first``. Returns the last layer's output at every step and the final state."""

    cell = None

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, rng=None, dtype=np.float32, **cell_options):
        if bidirectional:
            raise NotImplementedError(f"{type(self).__name__}: bidirectional=True is not "
                                      f"supported; run a second layer on the reversed input")
        if dropout:
            raise NotImplementedError(f"{type(self).__name__}: dropout between layers is not "
                                      f"supported; put nn.Dropout between single layers")
        self.input_size, self.hidden_size = input_size, hidden_size
        self.num_layers, self.batch_first = num_layers, batch_first
        gen = generator(rng)
        self.cells = ModuleList([
            self.cell(input_size if k == 0 else hidden_size, hidden_size, bias, rng=gen,
                      dtype=dtype, **cell_options) for k in range(num_layers)])

    def forward(self, x, state=None):
        x = as_tensor(x)
        if x.ndim != 3:
            raise cg_errors.ShapeError(
                f"{type(self).__name__} expects input of shape "
                f"{'(batch, time, features)' if self.batch_first else '(time, batch, features)'}"
                f", got {x.shape}")
        if self.batch_first:
            x = x.transpose(1, 0, 2)
        steps = [x[t] for t in range(x.shape[0])]
        finals = []
        for k, cell in enumerate(self.cells):
            s = None if state is None else self._layer_state(state, k)
            outputs = []
            for xt in steps:
                s = cell(xt, s)
                outputs.append(s if isinstance(s, Tensor) else s[0])
            steps = outputs
            finals.append(s)
        out = cgf.stack(steps, axis=1 if self.batch_first else 0)
        return out, self._final(finals)

    def extra_repr(self):
        return f"{self.input_size}, {self.hidden_size}, num_layers={self.num_layers}"


class RNN(_Recurrent):
    """Elman RNN over time; ``state`` and the final state are h of shape (layers, N, H)."""

    cell = RNNCell

    def _layer_state(self, state, k):
        return state[k]

    def _final(self, finals):
        return cgf.stack(finals, axis=0)


class LSTM(_Recurrent):
    """LSTM over time; ``state`` and the final state are (h, c), each (layers, N, H)."""

    cell = LSTMCell

    def _layer_state(self, state, k):
        return state[0][k], state[1][k]

    def _final(self, finals):
        return cgf.stack([h for h, _ in finals], axis=0), cgf.stack([c for _, c in finals], axis=0)
