"""Sample inputs for the gradient sweep: for every primitive gate, how to call it through the
public API and which inputs suit it (positive for log, away from the kink for relu, ...).

``tests/test_gate_sweep.py`` draws shapes (ranks 0-4, sides 0-4, mutually broadcastable
pairs) and checks every case against central differences; a gate without a case fails that
suite, so adding a gate means adding its case here, in its family's list.
"""

import numpy as np

from circuitgrad import functions as F
from circuitgrad import linalg as LA
from circuitgrad.core.gate import call
from circuitgrad.gates import elementwise as ew
from circuitgrad.gates import indexing as ix
from circuitgrad.gates import linalg as la
from circuitgrad.gates import nn as nng
from circuitgrad.gates import reduce as rd
from circuitgrad.gates import shape as sh
from circuitgrad.nn import functional as NF
from circuitgrad.tensor import apply


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


def inside_unit(rng, shape):
    """Entries in (-0.8, 0.8): inside the domains of arcsin, arccos and arctanh."""
    return rng.uniform(-0.8, 0.8, shape)


def above_one(rng, shape):
    return rng.uniform(1.2, 3.0, shape)


def some_zeros(rng, shape):
    """Normal entries with about a third set to exactly 0 (a product's zero cases: one zero
    in a slice, two, none); a product is linear in each entry, so differences stay exact."""
    x = rng.standard_normal(shape)
    return np.where(rng.uniform(size=shape) < 0.35, 0.0, x)


def probability(rng, shape):
    return rng.uniform(0.2, 0.8, shape)


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


# ----- the cases, family by family ---------------------------------------------------------
def elementwise_cases():

    def remainder_sample(rng, a, b):
        # y near one value c, x = y * (whole number + a fraction in [0.3, 0.7]): x / y stays
        # well away from the jumps for every broadcast pair
        c = rng.choice([-1.0, 1.0]) * rng.uniform(0.5, 2.0)
        y = c * (1 + rng.uniform(-0.01, 0.01, b))
        x = c * (rng.integers(-3, 4, a) + rng.uniform(0.3, 0.7, a))
        return [x, y]

    def clip_sample(rng, a, b):
        x = rng.choice([-1.0, 0.0, 1.0], size=a) + rng.uniform(-0.4, 0.4, a)
        return [x]   # entries at least 0.1 from the bounds +-0.5

    return [
        Case(ew.add, lambda x, y: x + y, binary(normal)),
        Case(ew.sub, lambda x, y: x - y, binary(normal)),
        Case(ew.mul, lambda x, y: x * y, binary(normal)),
        Case(ew.div, lambda x, y: x / y, binary(normal, away_from_zero)),
        Case(ew.remainder, lambda x, y: x % y, remainder_sample),
        Case(ew.neg, lambda x: -x, unary(normal)),
        Case(ew.pow, lambda x, y: x ** y, binary(positive, normal)),
        Case(ew.pow_const, lambda x: x ** 3.5, unary(positive), "pow_const 3.5"),
        Case(ew.pow_const, lambda x: x ** 3, unary(normal), "pow_const 3"),
        Case(ew.square, lambda x: x ** 2, unary(normal)),
        Case(ew.exp, F.exp, unary(normal)),
        Case(ew.log, F.log, unary(positive)),
        Case(ew.sqrt, F.sqrt, unary(positive)),
        Case(ew.abs, F.abs, unary(away_from_zero)),
        Case(ew.relu, F.relu, unary(away_from_zero)),
        Case(ew.sigmoid, F.sigmoid, unary(normal)),
        Case(ew.tanh, F.tanh, unary(normal)),
        Case(ew.sin, F.sin, unary(normal)),
        Case(ew.cos, F.cos, unary(normal)),
        Case(ew.log1p, F.log1p, unary(positive)),
        Case(ew.expm1, F.expm1, unary(normal)),
        Case(ew.maximum, F.maximum, gapped_pair),
        Case(ew.minimum, F.minimum, gapped_pair),
        Case(ew.clip, lambda x: F.clip(x, -0.5, 0.5), clip_sample),
        Case(ew.where, lambda x, y: F.where(x.data > 0, x, y),
             binary(away_from_zero, normal)),
        Case(ew.cast, lambda x: x.astype(np.longdouble) * 2, unary(normal)),
        Case(ew.identity, lambda x: apply(ew.identity, (x,)), unary(normal)),
        Case(ew.copy, lambda x: x.copy() * 2, unary(normal)),
        Case(ew.reciprocal, lambda x: np.reciprocal(x), unary(away_from_zero)),
        Case(ew.exp2, F.exp2, unary(normal)),
        Case(ew.log2, F.log2, unary(positive)),
        Case(ew.log10, F.log10, unary(positive)),
        Case(ew.logaddexp, F.logaddexp, binary(normal)),
        Case(ew.cbrt, F.cbrt, unary(away_from_zero)),
        Case(ew.hypot, F.hypot, binary(away_from_zero)),
        Case(ew.tan, F.tan, unary(inside_unit)),
        Case(ew.arcsin, F.arcsin, unary(inside_unit)),
        Case(ew.arccos, F.arccos, unary(inside_unit)),
        Case(ew.arctan, F.arctan, unary(normal)),
        Case(ew.arctan2, F.arctan2, binary(away_from_zero)),
        Case(ew.sinh, F.sinh, unary(normal)),
        Case(ew.cosh, F.cosh, unary(normal)),
        Case(ew.arcsinh, F.arcsinh, unary(normal)),
        Case(ew.arccosh, F.arccosh, unary(above_one)),
        Case(ew.arctanh, F.arctanh, unary(inside_unit)),
        Case(ew.deg2rad, F.deg2rad, unary(normal)),
        Case(ew.rad2deg, F.rad2deg, unary(normal)),
        Case(ew.fmax, F.fmax, gapped_pair),
        Case(ew.fmin, F.fmin, gapped_pair),
        Case(ew.erf, F.erf, unary(normal)),
        Case(ew.erfc, F.erfc, unary(normal)),
        Case(ew.gammaln, F.gammaln, unary(positive)),
        Case(ew.gammaln, F.gammaln, unary(lambda rng, shape: rng.uniform(-0.8, -0.2, shape)),
             "gammaln negative"),
        Case(ew.logit, F.logit, unary(probability)),
        Case(ew.xlogy, F.xlogy, binary(normal, positive)),
    ]


def reduce_cases():

    def last(x):
        return -1 if x.ndim else None

    def nonempty(sampler):
        return lambda rng, a, b: None if 0 in a else [sampler(rng, a)]

    def any_shape(sampler):
        return lambda rng, a, b: [sampler(rng, a)]

    return [
        Case(rd.sum, lambda x: x.sum(), any_shape(normal), "sum all"),
        Case(rd.sum, lambda x: x.sum(axis=last(x), keepdims=True), any_shape(normal),
             "sum last keepdims"),
        Case(rd.sum, lambda x: x.sum(axis=(0, -1) if x.ndim > 1 else None),
             any_shape(normal), "sum two axes"),
        Case(rd.mean, lambda x: x.mean(axis=last(x)), nonempty(normal)),
        Case(rd.max, lambda x: x.max(axis=last(x)), nonempty(distinct)),
        Case(rd.max, lambda x: x.max(), nonempty(distinct), "max all"),
        Case(rd.min, lambda x: x.min(axis=0 if x.ndim else None, keepdims=True),
             nonempty(distinct)),
        Case(rd.logsumexp, lambda x: x.logsumexp(axis=last(x)), nonempty(normal)),
        Case(rd.logsumexp, lambda x: x.logsumexp(), nonempty(normal), "logsumexp all"),
        Case(rd.prod, lambda x: F.prod(x, axis=last(x)), any_shape(normal)),
        Case(rd.prod, lambda x: F.prod(x, axis=last(x), keepdims=True), any_shape(some_zeros),
             "prod at zeros"),
        Case(rd.prod, lambda x: F.prod(x), any_shape(some_zeros), "prod all at zeros"),
        Case(rd.cumsum, lambda x: F.cumsum(x, axis=last(x)), any_shape(normal)),
        Case(rd.cumsum, lambda x: F.cumsum(x), any_shape(normal), "cumsum flattened"),
        Case(rd.log_softmax, lambda x: _log_softmax_last(x),
             lambda rng, a, b: None if not a or 0 in a else [normal(rng, a)]),
    ]


def _log_softmax_last(x):
    return F.log_softmax(x, axis=-1)


def shape_cases():

    def at_least_1d(rng, a, b):
        return [normal(rng, a)] if a else None

    def twins(rng, a, b):
        return [normal(rng, a), normal(rng, a)] if a else None

    return [
        Case(sh.reshape, lambda x: x.reshape(-1) * 1.5, lambda rng, a, b: [normal(rng, a)]),
        Case(sh.transpose, lambda x: x.T * 1.5,
             lambda rng, a, b: [normal(rng, a)] if len(a) > 1 else None),
        Case(sh.broadcast_to_gate, lambda x: F.broadcast_to(x, (3,) + x.shape),
             lambda rng, a, b: [normal(rng, a)]),
        Case(sh.concatenate, lambda x, y: F.concatenate([x, y * 2, x], axis=-1), twins),
        Case(sh.stack, lambda x, y: F.stack([x, y * 2], axis=1), twins),
    ]


def indexing_cases():

    def rows(rng, a, b):
        return [normal(rng, a)] if a and a[0] > 0 else None

    def picked(rng, a, b):
        return [normal(rng, (3,) + tuple(a[1:]))] if a else None

    return [
        Case(ix.getitem, lambda x: x[..., ::2], rows, "getitem slice"),
        Case(ix.getitem, lambda x: x[[0, 0, -1]], rows, "getitem repeated"),
        Case(ix.getitem, lambda x: x[x.data > 0], rows, "getitem mask"),
        Case(ix.scatter_add, lambda g: call(ix.scatter_add, g, index=(np.array([0, 0, 1]),),
                                         shape=(2,) + g.shape[1:]), picked),
        Case(ix.setitem, _write_row, row_and_value, "setitem row"),
        Case(ix.setitem, _write_mask, rows, "setitem mask"),
        Case(ix.setitem, _write_shifted, rows, "setitem from itself"),
        Case(ix.setitem, _write_picked, row_and_value, "setitem integer arrays"),
    ]


def row_and_value(rng, a, b):
    """An array with at least one row, and a value the shape of one row."""
    if not a or a[0] == 0:
        return None
    return [normal(rng, a), normal(rng, tuple(a[1:]))]


def _write_row(x, v):
    h = x * 1.0
    h[0] = v * v
    return h


def _write_mask(x):
    h = x * 2.0
    h[h.data < 0] = 0.0  # relu written as NumPy code writes it
    h += x
    return h


def _write_shifted(x):
    h = x.copy()
    h[1:] = h[:-1] * h[1:]  # reads the version it replaces
    h *= x
    return h


def _write_picked(x, v):
    h = x * 1.0
    h[[-1]] = v + 1.0
    h[[0]] = h[[0]] * v
    return h


def linalg_cases():

    def sides(a, k):
        return (tuple(a) + (2, 3, 1, 2))[:k]

    def mat_mat(rng, a, b):
        n, k, m = sides(a, 3)
        return [rng.standard_normal((n, k)), rng.standard_normal((k, m))]

    def vec_mat(rng, a, b):
        k, m = sides(a, 2)
        return [rng.standard_normal(k), rng.standard_normal((2, k, m))]

    def mat_vec(rng, a, b):
        n, k = sides(a, 2)
        return [rng.standard_normal((3, n, k)), rng.standard_normal(k)]

    def vec_vec(rng, a, b):
        (k,) = sides(a, 1)
        return [rng.standard_normal(k), rng.standard_normal(k)]

    def batched(rng, a, b):
        n, k, m, p = sides(a, 4)
        return [rng.standard_normal((p, 1, n, k)), rng.standard_normal((3, k, m))]

    def three(rng, a, b):
        n, k, m = sides(a, 3)
        return [rng.standard_normal((n, k)), rng.standard_normal((k, m)),
                rng.standard_normal(k)]

    def size_one(rng, a, b):
        n, k = sides(a, 2)
        return [rng.standard_normal((n, 1)), rng.standard_normal((n, k)),
                rng.standard_normal((1, k))]

    return [*matrix_cases(),
        Case(la.matmul, lambda x, y: x @ y, mat_mat, "matmul 2d"),
        Case(la.matmul, lambda x, y: x @ y, vec_mat, "matmul vector-batch"),
        Case(la.matmul, lambda x, y: x @ y, mat_vec, "matmul batch-vector"),
        Case(la.matmul, lambda x, y: x @ y, vec_vec, "matmul vector-vector"),
        Case(la.matmul, lambda x, y: x @ y, batched, "matmul broadcast batch"),
        Case(la.einsum, lambda x, y, z: F.einsum("ij,jk,j->ik", x, y, z), three,
             "einsum chain"),
        Case(la.einsum, lambda x, y, z: F.einsum("ij,jk,j->j", x, y, z), three,
             "einsum summed axes"),
        Case(la.einsum, lambda x, y, z: F.einsum("ij,ij,ij->i", x, y, z), size_one,
             "einsum size-1 broadcast"),
    ]


# ----- np.linalg: well-conditioned matrices with well-separated spectra ----------------------
def _batch_and_sides(a, k=2):
    """From a drawn shape: at most one batch axis (size 0-2) and k matrix sides in 1-4."""
    a = tuple(a)
    sides = tuple(max(1, n) for n in (a[-k:] + (3, 2, 4))[:k])
    return a[:1] if len(a) > k and a[0] <= 2 else (), sides


def orthonormal(rng, batch, m, k):
    """(batch..., m, k) with orthonormal columns."""
    q, r = np.linalg.qr(rng.standard_normal(batch + (m, k)))
    return q * np.sign(np.diagonal(r, axis1=-2, axis2=-1))[..., None, :]


def spread(rng, batch, k, start=1.0):
    """k values per matrix, sorted, at least 0.4 apart (distinct eigen/singular values)."""
    steps = 0.4 + rng.uniform(0.0, 0.6, batch + (k,))
    return start + np.cumsum(steps, axis=-1) - steps[..., :1]


def conditioned(rng, batch, m, n):
    """U diag(s) V.T with distinct singular values in [1, 4]: invertible when square."""
    k = min(m, n)
    u, v = orthonormal(rng, batch, m, k), orthonormal(rng, batch, n, k)
    return (u * spread(rng, batch, k)[..., None, :]) @ np.swapaxes(v, -1, -2)


def symmetric(rng, batch, n, start):
    """Q diag(w) Q.T with eigenvalues from ``start``, 0.4 or more apart, and noise in the
    strict upper triangle, which NumPy's cholesky and eigh do not read (so its gradient is
    zero and central differences check that)."""
    q = orthonormal(rng, batch, n, n)
    a = (q * spread(rng, batch, n, start)[..., None, :]) @ np.swapaxes(q, -1, -2)
    return a + np.triu(rng.standard_normal(batch + (n, n)), 1)


def matrix_cases():

    def square(rng, a, b):
        batch, (n,) = _batch_and_sides(a, 1)
        return [conditioned(rng, batch, n, n)]

    def system(vector):
        def make(rng, a, b):
            batch, (n, k) = _batch_and_sides(a)
            rhs = rng.standard_normal((n,) if vector else batch + (n, k))
            return [conditioned(rng, batch, n, n), rhs]
        return make

    def positive_definite(rng, a, b):
        batch, (n,) = _batch_and_sides(a, 1)
        return [symmetric(rng, batch, n, 0.5)]

    def eigen(upper=False):
        def make(rng, a, b):
            batch, (n,) = _batch_and_sides(a, 1)
            x = symmetric(rng, batch, n, -1.0)
            return [np.swapaxes(x, -1, -2) if upper else x]
        return make

    def rectangular(rng, a, b):
        batch, (m, n) = _batch_and_sides(a)
        return [conditioned(rng, batch, m, n)]

    def svd_parts(x):
        u, s, vh = LA.svd(x, full_matrices=False)
        return F.concatenate([u, s[..., None, :], F.swapaxes(vh, -1, -2)], axis=-2)

    def qr_parts(x):
        q, r = LA.qr(x)
        return F.concatenate([q, F.swapaxes(r, -1, -2)], axis=-2)

    def eigh_parts(upper=False):
        def fn(x):
            w, v = LA.eigh(x, "U" if upper else "L")
            return F.concatenate([w[..., None, :] * 2, v], axis=-2)
        return fn

    return [
        Case(la.inv, LA.inv, square),
        Case(la.solve, LA.solve, system(False), "solve matrices"),
        Case(la.solve, LA.solve, system(True), "solve vector"),
        Case(la.slogdet, lambda x: LA.slogdet(x).logabsdet, square, "slogdet"),
        Case(la.slogdet, LA.det, square, "det"),
        Case(la.cholesky, LA.cholesky, positive_definite),
        Case(la.cholesky, lambda x: LA.cholesky(F.swapaxes(x, -1, -2), upper=True),
             positive_definite, "cholesky upper"),
        Case(la.eigh, eigh_parts(), eigen(), "eigh values and vectors"),
        Case(la.eigh, eigh_parts(upper=True), eigen(upper=True), "eigh upper"),
        Case(la.eigh, LA.eigvalsh, eigen(), "eigvalsh"),
        Case(la.svd, svd_parts, rectangular, "svd"),
        Case(la.svd, lambda x: LA.svd(x, compute_uv=False), rectangular, "svd values"),
        Case(la.svd, lambda x: F.norm(x, "nuc", axis=(-2, -1)), rectangular, "norm nuc"),
        Case(la.svd, lambda x: F.norm(x, 2, axis=(-1, -2)), rectangular, "norm 2"),
        Case(la.qr, qr_parts, rectangular, "qr"),
    ]


def nn_cases():

    def image(a, kernel, stride=1, padding=0):
        """(N, C, H, W) from the drawn shape, with room for at least one window."""
        n, c, h, w = (tuple(a) + (2, 2, 1, 2))[:4]
        return (n, c + 1, h + kernel - 2 * padding, w + kernel - 2 * padding + stride)

    def images(sampler, kernel, stride=1, padding=0):
        return lambda rng, a, b: [sampler(rng, image(a, kernel, stride, padding))]

    def window_sets(kernel, stride, padding):
        def make(rng, a, b):
            shape = image(a, kernel, stride, padding)
            oh, ow = (gate_output(shape[2:], kernel, stride, padding))
            return [normal(rng, (kernel, kernel) + shape[:2] + (oh, ow))]
        return make

    def gate_output(hw, kernel, stride, padding):
        return tuple(nng.output_size(size, kernel, stride, padding) for size in hw)

    def conv_inputs(rng, a, b):
        x = normal(rng, image(a, 3, 2, 1))
        return [x, normal(rng, (3, x.shape[1], 3, 3)), normal(rng, 3)]

    def scores(rng, a, b):
        n, c = (tuple(a) + (3, 4))[:2]
        return [normal(rng, (max(n, 1), max(c, 1)))]

    def fold_fn(kernel, stride, padding, last=False):
        def fn(windows):
            n, c, oh, ow = windows.shape[2:]
            h = (oh - 1) * stride + kernel - 2 * padding
            w = (ow - 1) * stride + kernel - 2 * padding + stride - 1  # a column no window sees
            return NF.fold(windows, (n, c, h, w), stride, padding, channels_last=last)
        return fn

    def nhwc(x):  # the same image, laid out channels-last in memory
        return x.transpose(0, 2, 3, 1).reshape(x.shape[0], x.shape[2], x.shape[3],
                                               x.shape[1]).transpose(0, 3, 1, 2)

    return [
        Case(nng.unfold, lambda x: NF.unfold(x, 3, 1, 1), images(normal, 3, 1, 1),
             "unfold 3x3 padded"),
        Case(nng.unfold, lambda x: NF.unfold(x, 2, 2, 0), images(normal, 2, 2), "unfold 2x2 tiles"),
        Case(nng.fold, fold_fn(3, 2, 1), window_sets(3, 2, 1), "fold 3x3 stride 2 padded"),
        Case(nng.fold, fold_fn(2, 2, 0), window_sets(2, 2, 0), "fold 2x2 tiles"),
        Case(nng.fold, fold_fn(3, 1, 1, last=True), window_sets(3, 1, 1), "fold channels-last"),
        Case(nng.fold, lambda w: NF.fold(w, (w.shape[2], w.shape[3], 2 * w.shape[4],
                                        2 * w.shape[5]), 2, 0),
             window_sets(2, 2, 0), "fold 2x2 exact tiling"),
        Case(nng.unfold, lambda x, w, b: NF.conv2d(x, w, b, stride=2, padding=1), conv_inputs,
             "conv2d stride 2 padding 1"),
        Case(nng.max_pool2d, lambda x: NF.max_pool2d(x, 2), images(distinct, 2, 2),
             "max_pool2d 2x2"),
        Case(nng.max_pool2d, lambda x: NF.max_pool2d(x, 3, stride=2), images(distinct, 3, 2),
             "max_pool2d 3x3 stride 2 (overlapping)"),
        Case(nng.max_pool2d, lambda x: NF.max_pool2d(nhwc(x), 2), images(distinct, 2, 2),
             "max_pool2d channels-last"),
        Case(nng.softmax_cross_entropy,
             lambda s: _xent_case(s), scores, "softmax_cross_entropy"),
        # every block of the packed output gets a cotangent, activations included
        Case(nng.lstm_cell, lambda pre, c: apply(nng.lstm_cell, (pre, c)), lstm_inputs,
             "lstm_cell, all seven blocks"),
        Case(nng.lstm_cell, _lstm_h_and_c, lstm_inputs, "lstm_cell as the LSTM reads it"),
    ]


def lstm_inputs(rng, a, b):
    """Pre-activations (..., 4H), wide enough to reach the saturated ends, and c (..., H)."""
    dims = tuple(a)
    hidden = max(dims[-1], 1) if dims else 2
    lead = dims[:-1]
    return [2 * normal(rng, lead + (4 * hidden,)), normal(rng, lead + (hidden,))]


def _lstm_h_and_c(pre, c):
    h, c_new = NF.lstm_cell(pre, c)  # the getitems of h and c only: the other blocks get 0
    return h * c_new + c_new


def _xent_case(s):
    labels = np.arange(s.shape[0]) % s.shape[1]
    return apply(nng.softmax_cross_entropy, (s, labels))


def all_cases():
    return [case for family in (elementwise_cases, reduce_cases, shape_cases, indexing_cases,
                                linalg_cases, nn_cases) for case in family()]
