"""``cg.linalg``: np.linalg on tensors, with gradients.

inv, solve, slogdet, cholesky, eigh, svd and qr are primitive gates (gates/linalg.py, where
the rules, the packing of several outputs into one gate and the caveats are described);
det, eigvalsh, pinv, lstsq, matrix_power and multi_dot are composed of gates here, so their
gradients come from those. The functions return NumPy's result types (EighResult,
SVDResult, ...) with Tensor fields, and ``np.linalg.*`` on tensors lands here.

>>> import circuitgrad as cg, numpy as np
>>> A = cg.tensor(np.array([[2.0, 1.0], [1.0, 3.0]]), requires_grad=True)
>>> cg.linalg.det(A).backward()
>>> A.grad            # the adjugate's transpose: det(A) * inv(A).T
array([[ 3., -1.],
       [-1.,  2.]])
"""

import collections
import numbers

import numpy as np

from . import backend
from . import functions as F
from .errors import NotDifferentiableError
from .gates import linalg as la
from .gates.define import caveat
from .tensor import Tensor, apply, as_tensor

try:  # NumPy 2 names its result types; they are namedtuples
    from numpy.linalg._linalg import EighResult, QRResult, SlogdetResult, SVDResult
except ImportError:  # pragma: no cover - older NumPy returned plain tuples
    EighResult = collections.namedtuple("EighResult", "eigenvalues eigenvectors")
    QRResult = collections.namedtuple("QRResult", "Q R")
    SlogdetResult = collections.namedtuple("SlogdetResult", "sign logabsdet")
    SVDResult = collections.namedtuple("SVDResult", "U S Vh")

norm = F.norm


def _needs_grad(*xs):
    return any(isinstance(x, Tensor) and bool(x.requires_grad or x._tangents) for x in xs)


def _square(fn, a):
    if a.ndim < 2 or a.shape[-1] != a.shape[-2]:
        raise np.linalg.LinAlgError(f"linalg.{fn} takes (a stack of) square matrices, "
                                    f"not shape {a.shape}")


def _matrices(fn, a):
    a = as_tensor(a)
    if a.dtype.kind != "f":
        a = a.astype(np.float64)  # as NumPy does: integer matrices decompose in float64
    if a.ndim < 2:
        raise np.linalg.LinAlgError(f"linalg.{fn} takes (a stack of) matrices, not a "
                                    f"{a.ndim}-d tensor")
    return a


def inv(a):
    """The inverse; d inv(A) = -inv(A) dA inv(A)."""
    return apply(la.inv, (_matrices("inv", a),))


def solve(a, b):
    """x with a @ x = b (b a vector when 1-d, else a stack of matrices, as in NumPy 2)."""
    return apply(la.solve, (_matrices("solve", a), b))


def slogdet(a):
    """(sign, log|det a|); the sign is piecewise constant: its gradient is zero."""
    packed = apply(la.slogdet, (_matrices("slogdet", a),))
    return SlogdetResult(packed[..., 0], packed[..., 1])


@caveat("At an exactly singular matrix the backward raises LinAlgError (the gradient "
        "there, the adjugate, is not computed).")
def det(a):
    """sign * exp(logabsdet) from slogdet: the gradient det(A) inv(A).T; at an exactly
    singular matrix the backward raises LinAlgError (the adjugate is not computed)."""
    sign, logabsdet = slogdet(a)
    return sign * F.exp(logabsdet)


def cholesky(a, /, *, upper=False):
    """The lower (``upper=True``: upper) Cholesky factor; NumPy reads only that triangle of
    ``a``. Not positive definite: NumPy's LinAlgError."""
    a = _matrices("cholesky", a)
    if upper:  # the upper factor of a is the lower factor of a.T, transposed
        return F.swapaxes(apply(la.cholesky, (F.swapaxes(a, -1, -2),)), -1, -2)
    return apply(la.cholesky, (a,))


def eigh(a, UPLO="L"):
    """Eigenvalues (ascending) and eigenvectors of symmetric matrices, read from the lower
    (``UPLO='U'``: upper) triangle. The eigenvectors' gradient is undefined at repeated
    eigenvalues: the backward raises there when they are used."""
    uplo = str(UPLO).upper()
    if uplo not in ("L", "U"):
        raise ValueError(f"UPLO must be 'L' or 'U', not {UPLO!r}")
    packed = apply(la.eigh, (_matrices("eigh", a),), {"UPLO": uplo})
    return EighResult(packed[..., 0, :], packed[..., 1:, :])


def eigvalsh(a, UPLO="L"):
    """The eigenvalues of eigh; their gradient is V diag(g) V.T (on the triangle read)."""
    return eigh(a, UPLO).eigenvalues


def svd(a, full_matrices=True, compute_uv=True, hermitian=False):
    """U, S, Vh with a = U * S @ Vh. Gradients need ``full_matrices=False`` (or square
    matrices, where both are the same): the extra columns of a full U or Vh are arbitrary.
    The singular vectors' gradient is undefined at repeated (and, for non-square matrices,
    zero) singular values: the backward raises there when they are used. ``hermitian``
    only picks NumPy's algorithm; with a gradient the general one runs."""
    a = _matrices("svd", a)
    m, n = a.shape[-2:]
    if not _needs_grad(a):
        result = np.linalg.svd(a._value, full_matrices=full_matrices, compute_uv=compute_uv,
                               hermitian=hermitian)
        if not compute_uv:
            return as_tensor(result)
        return SVDResult(*(as_tensor(v) for v in result))
    if compute_uv and full_matrices and m != n:
        raise NotDifferentiableError(
            f"svd with full_matrices=True of a {m}x{n} matrix has no gradient (the extra "
            f"columns of U or Vh are arbitrary); use full_matrices=False")
    packed = apply(la.svd, (a,))
    s = packed[..., m, :]
    if not compute_uv:
        return s
    return SVDResult(packed[..., :m, :], s, F.swapaxes(packed[..., m + 1:, :], -1, -2))


def qr(a, mode="reduced"):
    """Q, R with a = Q @ R (``mode='r'``: R only). Gradients need mode 'reduced' or 'r'
    ('complete' where it is the same, m <= n), and the first min(m, n) columns of ``a``
    independent."""
    a = _matrices("qr", a)
    m, n = a.shape[-2:]
    if mode not in ("reduced", "r") and not (mode == "complete" and m <= n):
        if _needs_grad(a):
            raise NotDifferentiableError(
                f"qr with mode={mode!r} has no gradient for a {m}x{n} matrix; use "
                f"mode='reduced' or 'r'")
        result = np.linalg.qr(a._value, mode=mode)
        return as_tensor(result) if not isinstance(result, tuple) else \
            type(result)(*(as_tensor(v) for v in result))
    packed = apply(la.qr, (a,))
    r = F.swapaxes(packed[..., m:, :], -1, -2)
    return r if mode == "r" else QRResult(packed[..., :m, :], r)


def _rank(a, rcond, rtol):
    """The rank of each matrix: its singular values above rtol (or rcond, as pinv and lstsq
    take it; by default max(m, n) * eps) times the largest."""
    s = np.linalg.svd(a._value, compute_uv=False)
    if rtol is None:
        rtol = rcond if rcond is not None else max(a.shape[-2:]) * np.finfo(s.dtype).eps
    return (s > np.asarray(rtol)[..., None] * s.max(axis=-1, keepdims=True,
                                                    initial=0.0)).sum(axis=-1)


@caveat("Full rank only: a rank-deficient matrix raises when a gradient is needed (the "
        "pseudo-inverse jumps where the rank changes).")
def pinv(a, rcond=None, hermitian=False, *, rtol=None):
    """The Moore-Penrose pseudo-inverse of matrices of full rank, solved from a QR
    decomposition: inv(R) @ Q.T for a tall matrix (the transpose of that of a.T for a wide
    one), so the gradient is the exact one, with no condition on the singular values.

    A rank-deficient matrix (singular values at or below ``rtol``, or ``rcond``, times the
    largest) has a pseudo-inverse that jumps where its rank changes; its gradient along
    perturbations keeping the rank is not implemented: with a gradient needed it raises,
    without one NumPy computes it. ``hermitian`` only picks NumPy's algorithm.
    """
    a = _matrices("pinv", a)
    m, n = a.shape[-2:]
    if a.size == 0 or not np.all(_rank(a, rcond, rtol) == min(m, n)):
        if _needs_grad(a):
            raise NotDifferentiableError(
                "pinv of a rank-deficient matrix has no gradient in circuitgrad (it jumps "
                "where the rank changes)")
        given = {k: v for k, v in (("rcond", rcond), ("rtol", rtol)) if v is not None}
        return as_tensor(np.linalg.pinv(a._value, hermitian=hermitian, **given))
    if m < n:
        return F.swapaxes(pinv(F.swapaxes(a, -1, -2)), -1, -2)
    q, r = qr(a)
    return solve(r, F.swapaxes(q, -1, -2))


@caveat("The gradient needs a of full rank, as pinv's does.")
def lstsq(a, b, rcond=None):
    """(x, residuals, rank, s) as NumPy gives them; x = pinv(a) @ b, the least-squares
    solution of least norm, so its gradient is pinv's (a of full rank)."""
    a = _matrices("lstsq", a)
    if a.ndim != 2:
        raise np.linalg.LinAlgError("lstsq takes one matrix a, as NumPy's does")
    b = as_tensor(b)
    m, n = a.shape
    rank = int(_rank(a, rcond, None)) if a.size else 0
    x = pinv(a, rcond=rcond) @ b
    if rank == n and m > n:
        r = b - a @ x
        residuals = (r * r).sum(axis=0)
        residuals = residuals.reshape((1,)) if b.ndim == 1 else residuals
    else:
        residuals = as_tensor(backend.empty((0,), dtype=x.dtype))
    return x, residuals, rank, svd(a, compute_uv=False)


@caveat("A negative exponent needs an invertible matrix (inv's LinAlgError).")
def matrix_power(a, n):
    """a @ a @ ... (n times); n = 0 gives the identity, a negative n powers of inv(a)."""
    if not isinstance(n, numbers.Integral):
        raise TypeError("matrix_power takes an integer exponent")
    a = as_tensor(a)
    _square("matrix_power", a)
    if n == 0:  # a constant: the identity does not depend on a
        return as_tensor(np.broadcast_to(backend.eye(a.shape[-1], dtype=a.dtype), a.shape).copy())
    if n < 0:
        a, n = inv(a), -n
    result, power = None, a
    while n:  # square and multiply: about log2(n) products
        if n & 1:
            result = power if result is None else result @ power
        n >>= 1
        if n:
            power = power @ power
    return result


def multi_dot(arrays, *, out=None):
    """A chain of matrix products in the cheapest order (as NumPy picks it); the first and
    last operands may be 1-d (a row and a column)."""
    if out is not None:
        raise NotDifferentiableError("multi_dot(..., out=...) would write in place; "
                                     "assign the result instead")
    xs = [as_tensor(x) for x in arrays]
    if len(xs) < 2:
        raise ValueError("multi_dot takes at least two arrays")
    dims = [1 if xs[0].ndim == 1 else xs[0].shape[0]] + \
        [x.shape[-1] if x.ndim == 2 else x.shape[0] for x in xs]
    return _chain(xs, _order(dims), 0, len(xs) - 1)


def _order(dims):
    """split[i][j]: where the cheapest product of matrices i..j splits (dynamic programming
    over the chain's dimensions, matrix i being dims[i] x dims[i + 1])."""
    n = len(dims) - 1
    cost = [[0] * n for _ in range(n)]
    split = [[0] * n for _ in range(n)]
    for length in range(1, n):
        for i in range(n - length):
            j = i + length
            cost[i][j] = None
            for k in range(i, j):
                c = cost[i][k] + cost[k + 1][j] + dims[i] * dims[k + 1] * dims[j + 1]
                if cost[i][j] is None or c < cost[i][j]:
                    cost[i][j], split[i][j] = c, k
    return split


def _chain(xs, split, i, j):
    if i == j:
        return xs[i]
    k = split[i][j]
    return _chain(xs, split, i, k) @ _chain(xs, split, k + 1, j)


__all__ = ["EighResult", "QRResult", "SVDResult", "SlogdetResult", "cholesky", "det", "eigh",
           "eigvalsh", "inv", "lstsq", "matrix_power", "multi_dot", "norm", "pinv", "qr",
           "slogdet", "solve", "svd"]
