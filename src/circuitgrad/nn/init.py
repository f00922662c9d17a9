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
"""

import numpy as np

from .. import backend

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
