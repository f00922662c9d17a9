"""Linear algebra gates: matmul (NumPy's rules for 1-d, 2-d and batched) and einsum.

For D = W @ X the notes give dW = dD @ X.T and dX = W.T @ dD: the shapes say which
transposes go where. A 1-d operand is treated as a row (left) or a column (right) vector,
as NumPy does; batch axes broadcast, and the engine sums their gradients back.
"""

import numpy as np

from ..core.gate import Gate, each


def _mT(a):
    return a.swapaxes(-1, -2)


def _matmul_vjp_x(g, out, x, y):
    if x.ndim == 1 and y.ndim == 1:
        return g * y
    if y.ndim == 1:                           # (..., n, k) @ (k,) -> (..., n)
        return g[..., None] * y
    if x.ndim == 1:                           # (k,) @ (..., k, m) -> (..., m)
        return (y @ g[..., None])[..., 0]
    return g @ _mT(y)                         # dX = dD @ Y.T


def _matmul_vjp_y(g, out, x, y):
    if x.ndim == 1 and y.ndim == 1:
        return g * x
    if x.ndim == 1:
        return x[:, None] * g[..., None, :]
    if y.ndim == 1:
        return (_mT(x) @ g[..., None])[..., 0]
    return _mT(x) @ g                         # dY = X.T @ dD


def _matmul_forward(x, y):
    if np.ndim(x) == 0 or np.ndim(y) == 0:
        raise ValueError("matmul needs operands of at least one dimension; use * for scalars")
    return x @ y


matmul = Gate("matmul", _matmul_forward, symbol="@", broadcasts=True, saves_out=False,
              vjp=(_matmul_vjp_x, _matmul_vjp_y),
              jvp=(lambda t, out, x, y: t @ y,
                   lambda t, out, x, y: x @ t))


# ----- einsum --------------------------------------------------------------------------------
def parse_subscripts(subscripts, ndims):
    """Explicit form 'ij,jk->ik' of an einsum spec (implicit output made explicit)."""
    spec = subscripts.replace(" ", "")
    if "." in spec:
        raise NotImplementedError("einsum with '...' is not supported; name every axis")
    ins, arrow, out = spec.partition("->")
    ins = ins.split(",")
    if len(ins) != len(ndims):
        raise ValueError(f"einsum spec '{subscripts}' names {len(ins)} operands "
                         f"but {len(ndims)} were given")
    if not arrow:
        counts = {}
        for term in ins:
            for c in term:
                counts[c] = counts.get(c, 0) + 1
        out = "".join(sorted(c for c, n in counts.items() if n == 1))
    return ins, out


def _einsum_vjp(i, g, out, *xs, ins, out_spec):
    """The gradient of operand i is an einsum of g with the other operands.

    Axes of operand i that appear nowhere else (summed away) come back by broadcasting,
    and size-1 axes that einsum broadcast are summed back; a repeated index within operand
    i (a diagonal) is not supported.
    """
    target = ins[i]
    if len(set(target)) != len(target):
        raise NotImplementedError("einsum gradient with a repeated index in one operand")
    others = [s for k, s in enumerate(ins) if k != i]
    other_xs = [x for k, x in enumerate(xs) if k != i]
    present = set(out_spec).union(*others) if others else set(out_spec)
    kept = "".join(c for c in target if c in present)
    spec = ",".join([out_spec] + others) + "->" + kept
    grad = np.einsum(spec, g, *other_xs)
    size = dict(zip(target, xs[i].shape, strict=True))
    stretched = tuple(k for k, c in enumerate(kept) if size[c] == 1 and grad.shape[k] != 1)
    if stretched:  # a size-1 axis of operand i that einsum broadcast: sum it back
        grad = grad.sum(axis=stretched, keepdims=True)
    if grad.shape != xs[i].shape:
        # axes summed away inside operand i, or met at size 1 in the others: broadcast back
        placed = tuple(grad.shape[kept.index(c)] if c in present else 1 for c in target)
        grad = np.broadcast_to(grad.reshape(placed), xs[i].shape)
    return grad


def _einsum_jvp(i, t, out, *xs, ins, out_spec):
    operands = list(xs)
    operands[i] = t
    return np.einsum(",".join(ins) + "->" + out_spec, *operands)


einsum = Gate("einsum",
              lambda *xs, ins, out_spec: np.einsum(",".join(ins) + "->" + out_spec, *xs),
              symbol="einsum", saves_out=False, vjp=each(_einsum_vjp),
              jvp=each(_einsum_jvp))


# ----- sample inputs for the gradient sweep (see gates/sweep.py) ---------------------------
def _sweep():
    from .. import functions as F
    from .sweep import Case

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

    return [
        Case(matmul, lambda x, y: x @ y, mat_mat, "matmul 2d"),
        Case(matmul, lambda x, y: x @ y, vec_mat, "matmul vector-batch"),
        Case(matmul, lambda x, y: x @ y, mat_vec, "matmul batch-vector"),
        Case(matmul, lambda x, y: x @ y, vec_vec, "matmul vector-vector"),
        Case(matmul, lambda x, y: x @ y, batched, "matmul broadcast batch"),
        Case(einsum, lambda x, y, z: F.einsum("ij,jk,j->ik", x, y, z), three,
             "einsum chain"),
        Case(einsum, lambda x, y, z: F.einsum("ij,jk,j->j", x, y, z), three,
             "einsum summed axes"),
        Case(einsum, lambda x, y, z: F.einsum("ij,ij,ij->i", x, y, z), size_one,
             "einsum size-1 broadcast"),
    ]
