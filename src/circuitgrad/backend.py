"""The array seam: the one module that makes arrays from nothing or asks what an array is.

The rest of circuitgrad does math on arrays it was handed (``np.exp(x)``, ``x.sum()``,
``np.where``); NumPy's dispatch protocols carry those calls to whichever library made the
arrays. Three kinds of call have no array to dispatch on, or are NumPy's alone, and live
here instead: constructors (zeros, arange, random generators, ...), type tests
(``ndarray``, NumPy scalars), and NumPy-only operations (``np.add.at``,
``sliding_window_view``, the raw ``ndarray`` constructor). tests/test_backend.py checks
that no other module calls them.

NumPy is the only backend. A second one (CuPy, once a GPU is at hand) would be selected
here, by binding these same names to its functions; nothing else would change. Layer L0:
imports only NumPy and the standard library.
"""

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

# Types. Plain names, not functions, so that the hot paths' ``type(x) is ndarray`` costs
# what it always did.
ndarray = np.ndarray
generic = np.generic  # NumPy's scalar types: a 0-d tensor holds one


def is_array(x):
    """True for an array of this backend (not for its scalars, lists or Tensors)."""
    return isinstance(x, ndarray)


# Constructors, bound to NumPy's own functions: no wrapper call, the same numbers.
zeros = np.zeros
ones = np.ones
empty = np.empty
full = np.full
arange = np.arange
eye = np.eye
tri = np.tri
linspace = np.linspace
zeros_like = np.zeros_like
ones_like = np.ones_like
empty_like = np.empty_like
full_like = np.full_like

# Random numbers: generators make arrays, so they come from the backend too.
default_rng = np.random.default_rng
Generator = np.random.Generator
# NumPy's global generator (np.random.rand, np.random.seed), which user code such as a
# dropout layer draws from: saving and restoring its state replays the same draws.
get_random_state = np.random.get_state
set_random_state = np.random.set_state

__all__ = ["ndarray", "generic", "is_array", "zeros", "ones", "empty", "full", "arange",
           "eye", "linspace", "zeros_like", "ones_like", "empty_like", "full_like",
           "default_rng", "Generator", "get_random_state", "set_random_state", "add_at",
           "sliding_window_view", "zero_stride"]


def add_at(a, index, values):
    """``a[index] += values`` in place, where an index that repeats adds every time."""
    np.add.at(a, index, values)


_ZERO_BYTES = bytes(16)  # one element of any NumPy dtype, all zero


def zero_stride(shape, dtype):
    """A read-only, zero-filled array of ``shape`` and ``dtype`` that holds one element.

    Every entry is the same zero byte pattern (all strides 0); the plain ndarray
    constructor is the cheapest way to make one.
    """
    return np.ndarray(shape, dtype, buffer=_ZERO_BYTES, strides=(0,) * len(shape))
