"""Sample inputs for the gradient sweep: each gate family lists its gates' cases here-by.

A :class:`Case` says how to call a gate through the public API and how to draw inputs
that suit it (positive for log, away from the kink for relu, ...). The test suite draws
shapes (ranks 0-4, sides 0-4, mutually broadcastable pairs) and checks every case against
central differences; a gate without a case fails that suite, so adding a gate means adding
its case beside it.
"""

import numpy as np


class Case:
    """``fn(*tensors)`` exercises ``gate``; ``make(rng, shape_a, shape_b)`` gives its inputs.

    ``make`` returns a list of float64 arrays, or None when the drawn shapes do not suit
    the gate (the sweep then skips that draw).
    """

    def __init__(self, gate, fn, make, name=None):
        self.gate = gate
        self.fn = fn
        self.make = make
        self.name = name or gate.name

    def __repr__(self):
        return f"Case({self.name})"


# ----- input samplers ------------------------------------------------------------------------
def normal(rng, shape):
    return rng.standard_normal(shape)


def positive(rng, shape):
    return rng.uniform(0.5, 2.0, shape)


def away_from_zero(rng, shape):
    """Entries at least 0.2 from 0, so kinks at 0 are never within a finite-difference step."""
    return rng.choice([-1.0, 1.0], size=shape) * rng.uniform(0.2, 2.0, shape)


def distinct(rng, shape):
    """Entries whose pairwise gaps are at least 0.05 (no ties for max/min/sort-like gates)."""
    n = int(np.prod(shape))
    values = (rng.permutation(n) - n / 2) * 0.1 + rng.uniform(-0.02, 0.02, n)
    return values.reshape(shape)


def unary(sampler):
    return lambda rng, a, b: [sampler(rng, a)]


def binary(sampler_a, sampler_b=None):
    sampler_b = sampler_b or sampler_a
    return lambda rng, a, b: [sampler_a(rng, a), sampler_b(rng, b)]


def gapped_pair(rng, a, b):
    """Two broadcastable inputs that differ everywhere by at least 0.5 (no ties).

    x takes integer values and y half-integer ones, so no broadcast pair can meet.
    """
    return [rng.integers(-3, 4, a) * 1.0, rng.integers(-3, 4, b) + 0.5]
