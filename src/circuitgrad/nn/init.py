"""Weight initialisation (He, Xavier) and the random generator layers draw from.

Layers take ``rng=``: a seed, a ``numpy.random.Generator``, or None for the shared default
generator, which :func:`manual_seed` resets. Seeding once before building a model makes
its initial weights (and its dropout masks) the same on every run.

He initialisation keeps the variance of ReLU activations steady from layer to layer
(std = sqrt(2 / fan_in)); Xavier (Glorot) does it for tanh-like units
(std = sqrt(2 / (fan_in + fan_out))).

>>> import numpy as np
>>> w = he_normal((1000, 500), rng=0)
>>> round(float(w.std() * np.sqrt(1000 / 2)), 1), w.dtype
(1.0, dtype('float32'))

PyTorch's in-place spellings fill an existing parameter, drawing from the same generator:

>>> from circuitgrad import nn
>>> layer = nn.Linear(256, 128)
>>> _ = nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
>>> _ = nn.init.zeros_(layer.bias)
>>> round(float(layer.weight.data.std() * np.sqrt(256 / 2)), 1), layer.weight.dtype
(1.0, dtype('float32'))
"""

import math

import numpy as np

from .. import backend
from ..tensor import Tensor, changed_in_place

_default = backend.default_rng()


def manual_seed(seed):
    """Reset the shared generator that layers use when they are given no ``rng``."""
    global _default
    _default = backend.default_rng(seed)


def generator(rng=None):
    """The generator to use: ``rng`` itself, a new one seeded by it, or the shared one."""
    if rng is None:
        return _default
    if isinstance(rng, backend.Generator):
        return rng
    return backend.default_rng(rng)


def fans(shape):
    """(fan_in, fan_out) of a weight: (in, out) for Linear, (out, in, kh, kw) for Conv2d."""
    if len(shape) == 2:
        return shape[0], shape[1]
    receptive = int(np.prod(shape[2:]))
    return shape[1] * receptive, shape[0] * receptive


def _normal(shape, std, rng, dtype):
    return (generator(rng).standard_normal(shape) * std).astype(dtype)


def _uniform(shape, limit, rng, dtype):
    return generator(rng).uniform(-limit, limit, shape).astype(dtype)


def he_normal(shape, rng=None, dtype=np.float32):
    """Normal with std sqrt(2 / fan_in): for layers followed by ReLU."""
    return _normal(shape, np.sqrt(2.0 / fans(shape)[0]), rng, dtype)


def he_uniform(shape, rng=None, dtype=np.float32):
    """Uniform with the same variance as :func:`he_normal`."""
    return _uniform(shape, np.sqrt(6.0 / fans(shape)[0]), rng, dtype)


def xavier_normal(shape, rng=None, dtype=np.float32):
    """Normal with std sqrt(2 / (fan_in + fan_out)): for tanh and sigmoid layers."""
    fan_in, fan_out = fans(shape)
    return _normal(shape, np.sqrt(2.0 / (fan_in + fan_out)), rng, dtype)


def xavier_uniform(shape, rng=None, dtype=np.float32):
    """Uniform on +-sqrt(6 / (fan_in + fan_out))."""
    fan_in, fan_out = fans(shape)
    return _uniform(shape, np.sqrt(6.0 / (fan_in + fan_out)), rng, dtype)


INITIALIZERS = {
    "he": he_normal, "he_normal": he_normal, "he_uniform": he_uniform,
    "xavier": xavier_normal, "xavier_normal": xavier_normal, "xavier_uniform": xavier_uniform,
}


def initializer(init):
    """Look up an initialiser by name, or pass a callable ``(shape, rng, dtype) -> array``."""
    if callable(init):
        return init
    try:
        return INITIALIZERS[init]
    except KeyError:
        raise ValueError(f"unknown initialisation {init!r}; choose one of "
                         f"{sorted(INITIALIZERS)} or pass a function") from None


# ----- PyTorch's in-place spellings: fill a parameter (or an array) and return it --------------
# Fans are read as circuitgrad lays weights out (see fans(): Linear (in, out), convolutions
# (out, in, kh, kw)), so fan_in is a layer's inputs as in PyTorch. Draws come from the shared
# generator of manual_seed unless ``generator=`` (a seed or a numpy Generator) says otherwise.
def calculate_gain(nonlinearity, param=None):
    """PyTorch's recommended gain for a nonlinearity (``param``: leaky_relu's slope)."""
    linear = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
              "conv_transpose3d", "sigmoid")
    if nonlinearity in linear:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else float(param)
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"calculate_gain: unknown nonlinearity {nonlinearity!r}")


def _fill(tensor, values):
    """Write ``values`` into ``tensor`` in place (a Parameter, a Tensor or an array)."""
    if not isinstance(tensor, Tensor):
        tensor[...] = values
    elif isinstance(tensor.data, backend.ndarray):
        tensor.data[...] = values
        changed_in_place(tensor)  # a circuit recorded before now read the old values
    else:  # a 0-d tensor holds an immutable NumPy scalar: replaced, in its dtype
        tensor.data = np.asarray(values, dtype=tensor.dtype).reshape(())
    return tensor


def _shape(tensor, what, least=1):
    shape = tuple(np.shape(tensor))
    if len(shape) < least:
        raise ValueError(f"{what} needs a tensor of at least {least} dimensions to find its "
                         f"fans, got shape {shape}")
    return shape


def _fan(shape, mode, what):
    fan_in, fan_out = fans(shape)
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"{what}: mode must be 'fan_in' or 'fan_out', not {mode!r}")
    return fan_in if mode == "fan_in" else fan_out


def _generator(rng):  # the functions below take PyTorch's ``generator=``, hiding generator()
    return generator(rng)


def uniform_(tensor, a=0.0, b=1.0, generator=None):
    """Fill with draws from uniform(a, b)."""
    return _fill(tensor, _generator(generator).uniform(a, b, np.shape(tensor)))


def normal_(tensor, mean=0.0, std=1.0, generator=None):
    """Fill with draws from normal(mean, std)."""
    return _fill(tensor, mean + std * _generator(generator).standard_normal(np.shape(tensor)))


def constant_(tensor, val):
    """Fill with ``val``."""
    return _fill(tensor, val)


def zeros_(tensor):
    """Fill with zeros."""
    return _fill(tensor, 0.0)


def ones_(tensor):
    """Fill with ones."""
    return _fill(tensor, 1.0)


def xavier_uniform_(tensor, gain=1.0, generator=None):
    """uniform(-b, b) with b = gain * sqrt(6 / (fan_in + fan_out)) (Glorot)."""
    fan_in, fan_out = fans(_shape(tensor, "xavier_uniform_", 2))
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(tensor, -bound, bound, generator)


def xavier_normal_(tensor, gain=1.0, generator=None):
    """normal(0, std) with std = gain * sqrt(2 / (fan_in + fan_out))."""
    fan_in, fan_out = fans(_shape(tensor, "xavier_normal_", 2))
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)), generator)


def kaiming_uniform_(tensor, a=0.0, mode="fan_in", nonlinearity="leaky_relu",
                     generator=None):
    """uniform(-b, b) with b = gain * sqrt(3 / fan) (He); ``a``: leaky_relu's slope."""
    fan = _fan(_shape(tensor, "kaiming_uniform_", 2), mode, "kaiming_uniform_")
    bound = calculate_gain(nonlinearity, a) * math.sqrt(3.0 / fan)
    return uniform_(tensor, -bound, bound, generator)


def kaiming_normal_(tensor, a=0.0, mode="fan_in", nonlinearity="leaky_relu", generator=None):
    """normal(0, std) with std = gain / sqrt(fan) (He)."""
    fan = _fan(_shape(tensor, "kaiming_normal_", 2), mode, "kaiming_normal_")
    return normal_(tensor, 0.0, calculate_gain(nonlinearity, a) / math.sqrt(fan), generator)


def orthogonal_(tensor, gain=1.0, generator=None):
    """Fill with a (semi-)orthogonal matrix times ``gain``, as PyTorch does: the tensor seen
    as (shape[0], rest), the Q of a QR decomposition of normal draws, its columns' signs
    fixed by R's diagonal (so Q is uniform over orthogonal matrices). Rows are orthonormal
    when there are fewer rows than columns, else columns."""
    shape = _shape(tensor, "orthogonal_", 2)
    rows, cols = shape[0], int(np.prod(shape[1:]))
    flat = _generator(generator).standard_normal((rows, cols))
    if rows < cols:
        flat = flat.T
    q, r = np.linalg.qr(flat)
    q *= np.sign(np.diag(r))
    if rows < cols:
        q = q.T
    return _fill(tensor, gain * q.reshape(shape))


def trunc_normal_(tensor, mean=0.0, std=1.0, a=-2.0, b=2.0, generator=None):
    """Fill with draws from normal(mean, std) kept within [a, b] (``a`` and ``b`` in the
    tensor's units, as in PyTorch); draws outside are drawn again, so the distribution is
    exactly the truncated normal."""
    if not a < b:
        raise ValueError(f"trunc_normal_: the bounds must satisfy a < b, got a={a}, b={b}")
    rng = _generator(generator)
    values = mean + std * rng.standard_normal(np.shape(tensor))
    outside = (values < a) | (values > b)
    for _ in range(1000):  # each round keeps the draws that fell inside
        if not outside.any():
            break
        values[outside] = mean + std * rng.standard_normal(int(outside.sum()))
        outside = (values < a) | (values > b)
    else:
        raise ValueError(f"trunc_normal_: [{a}, {b}] is too far out in normal({mean}, {std}) "
                         f"to draw from by rejection")
    return _fill(tensor, values)
