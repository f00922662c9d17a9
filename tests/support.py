"""Helpers shared by the tests: numbers as pictures write them, central differences."""

import numpy as np


def four(v):
    """4 significant digits, trailing zeros kept: how pictures and listings write numbers."""
    v = float(v)
    if v == 0:
        return "0.000"
    s = f"{v:#.4g}"
    return s[:-1] if s.endswith(".") else s


def central_differences(f, x, eps=1e-6):
    """d f / d x in float64, of shape f(x).shape + x.shape (x.shape for a scalar f)."""
    x = np.asarray(x, dtype=np.float64)
    columns = []
    for j in np.ndindex(x.shape):
        step = np.zeros_like(x)
        step[j] = eps
        columns.append((np.asarray(f(x + step)) - np.asarray(f(x - step))) / (2 * eps))
    out_shape = np.shape(columns[0])
    return np.stack(columns, axis=-1).reshape(out_shape + x.shape)
