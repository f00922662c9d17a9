"""Linear algebra gates: matmul (NumPy's rules for 1-d, 2-d and batched), einsum, and the
np.linalg primitives inv, solve, slogdet, cholesky, eigh, svd and qr.

For D = W @ X the notes give dW = dD @ X.T and dX = W.T @ dD: the shapes say which
transposes go where. A 1-d operand is treated as a row (left) or a column (right) vector,
as NumPy does; batch axes broadcast, and the engine sums their gradients back.

The np.linalg gates take stacks of matrices (..., m, n) as NumPy does. Their rules are
written with ``@``, ``swapaxes`` and ``call(gate, ...)`` (solve and inv run as gates inside
the rules), so under ``create_graph`` they record gates and differentiate again.

Several outputs. slogdet, eigh, svd and qr give two or three arrays; each is one gate
whose forward returns them *packed into one array*, and ``cg.linalg`` unpacks them with
getitem (then returns NumPy's result types: SlogdetResult, EighResult, SVDResult,
QRResult, with Tensor fields):

* slogdet: ``stack([sign, logabsdet], axis=-1)``, shape (..., 2);
* eigh: the eigenvalues as a row above the eigenvectors, (..., n + 1, n);
* svd (reduced): ``[u; s; vh.T]`` stacked along the rows, (..., m + 1 + n, k);
* qr (reduced): ``[q; r.T]``, (..., m + n, k).

Why packed rather than one gate per output: the decomposition runs once, in the forward,
and the VJP sees the cotangents of all outputs together (the getitems' scatter_adds fill
the parts that were not used with zeros), which is what the formulas need: the gradient of
the eigenvectors needs the eigenvalues and vice versa. One gate per output would either
decompose once per output or need a cache outside the engine. The packed wire is an
ordinary gate output, so the engine, the listings and the pictures need nothing new.

NumPy's cholesky and eigh read only one triangle of their input (the lower one by
default); the rules say so: the gradient of the entries NumPy never reads is zero, and
an entry of the triangle read stands for itself and its mirror image.

Caveats, where the derivative does not exist or the formula breaks down:

* eigh, svd: the gradient of the eigen/singular *vectors* is undefined at repeated
  eigen/singular values (the vectors are not unique there). The VJP raises
  NotDifferentiableError when the vectors' cotangent is nonzero and two values are equal to
  within rounding; when only the values are used, tied pairs contribute nothing and the
  gradient is that of the values (a one-sided choice at a crossing). Forward mode cannot
  tell which outputs will be used: it gives NaN for the tied vectors' tangents. Near-ties
  give large, but correct, gradients. svd's vectors also need the singular values nonzero
  for a non-square matrix (the rule divides by them): it raises likewise.
* svd only with full_matrices=False (cg.linalg.svd raises otherwise when a gradient is
  needed: the extra columns of a full u or vh are arbitrary); qr only with mode='reduced'
  or 'r' (complete likewise), and its gradient needs the first min(m, n) columns of the
  input to be independent (R invertible); a singular R raises NumPy's LinAlgError.
* cholesky of a matrix that is not positive definite raises NumPy's LinAlgError, as NumPy
  does.
* slogdet (and det, made from it): the gradient is inv(A).T, so at an exactly singular
  matrix the backward raises LinAlgError (det's gradient, the adjugate, is finite there;
  it is not computed).
"""

import numpy as np

from .. import backend
from ..core.gate import Gate, call, each
from ..core.node import Wire
from ..errors import NotDifferentiableError
from ..i18n import msg
from .listing import Text, axes_text


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
        raise ValueError(msg("matmul needs operands of at least one dimension; use * for "
                             "scalars"))
    return x @ y


def _matmul_text(site, i):
    """The notes' dW = dD @ X.T and dX = W.T @ dD, with NumPy's rules for 1-d and batched
    operands (a 1-d operand is a row on the left, a column on the right)."""
    a, b, g = site.arg(0), site.arg(1), site.g
    nda, ndb = np.ndim(site.value(0)), np.ndim(site.value(1))
    t = ".T" if max(nda, ndb) <= 2 else ".mT"
    if nda == 1 and ndb == 1:
        return f"{b if i == 0 else a} * {g}"
    if nda >= 2 and ndb == 1:
        if nda == 2:
            return f"outer({g}, {b})" if i == 0 else f"{a}.T @ {g}"
        return f"{g}[..., None] * {b}" if i == 0 else f"({a}.mT @ {g}[..., None])[..., 0]"
    if nda == 1 and ndb >= 2:
        if ndb == 2:
            return f"{b} @ {g}" if i == 0 else f"outer({a}, {g})"
        return f"({b} @ {g}[..., None])[..., 0]" if i == 0 else \
            f"{a}[:, None] * {g}[..., None, :]"
    return f"{g} @ {b}{t}" if i == 0 else f"{a}{t} @ {g}"


matmul = Gate("matmul", _matmul_forward, symbol="@", broadcasts=True, saves_out=False,
              numpy=np.matmul, api="matmul", text=Text(backward=_matmul_text),
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


def _einsum_forward_text(site):
    args = ", ".join(site.arg(k) for k in range(site.count))
    return f"einsum('{','.join(site.params['ins'])}->{site.params['out_spec']}', {args})"


def _einsum_text(site, i):
    """The gradient of an einsum operand: the einsum of ``g`` with the other operands, as
    the rule computes it (axes summed away inside the operand come back by broadcasting,
    size-1 axes einsum stretched are summed back)."""
    ins, out_spec, g = site.params["ins"], site.params["out_spec"], site.g
    target = ins[i]
    others = [k for k in range(len(ins)) if k != i]
    present = set(out_spec).union(*(ins[k] for k in others))
    kept = "".join(c for c in target if c in present)
    spec = ",".join([out_spec] + [ins[k] for k in others]) + "->" + kept
    operands = [g] + [site.arg(k) for k in others]
    text = g if not others and kept == out_spec else \
        f"einsum('{spec}', {', '.join(operands)})"
    shape = np.shape(site.value(i))
    size = dict(zip(target, shape, strict=True))
    full = dict(zip(out_spec, np.shape(site.out_value), strict=True))
    for k in others:
        for c, n in zip(ins[k], np.shape(site.value(k)), strict=True):
            if full.get(c, 1) == 1:
                full[c] = n
    grad_shape = tuple(full[c] for c in kept)
    stretched = tuple(k for k, c in enumerate(kept) if size[c] == 1 and grad_shape[k] != 1)
    if stretched:
        text = f"sum({text}, axis={axes_text(stretched)}, keepdims=True)"
        grad_shape = tuple(1 if k in stretched else n for k, n in enumerate(grad_shape))
    if grad_shape != shape:
        missing = tuple(k for k, c in enumerate(target) if c not in present)
        if missing != tuple(range(len(missing))):  # broadcasting puts back leading axes only
            text = f"expand_dims({text}, {axes_text(missing)})"
        text = f"broadcast_to({text}, {site.arg(i)}.shape)"
    return text


einsum = Gate("einsum",
              lambda *xs, ins, out_spec: np.einsum(",".join(ins) + "->" + out_spec, *xs),
              symbol="einsum", saves_out=False, numpy=np.einsum, api="einsum",
              text=Text(_einsum_forward_text, _einsum_text), vjp=each(_einsum_vjp),
              jvp=each(_einsum_jvp))


# ----- np.linalg: shared pieces --------------------------------------------------------------
def _raw(x):
    """A wire's value (rules receive Tensors under create_graph), for checks on numbers."""
    return x._value if isinstance(x, Wire) else x


def _eye(n, dtype):
    return backend.eye(n, dtype=dtype)  # a constant of the rules


def _half_triangle(n, dtype, upper=False):
    """1 below (above) the diagonal, 1/2 on it, 0 above (below): (G + G.T) times it is the
    gradient of the triangle NumPy reads, when G is that of the symmetric matrix it sees."""
    mask = (backend.tri(n, dtype=dtype) + backend.tri(n, k=-1, dtype=dtype)) / 2
    return mask.T if upper else mask


def _strict_lower(n, dtype):
    return backend.tri(n, k=-1, dtype=dtype)


def _read_triangle(t, upper=False):
    """The symmetric matrix NumPy sees when it reads one triangle of ``t``."""
    n = t.shape[-1]
    strict = _strict_lower(n, t.dtype)
    if upper:
        strict = strict.T
    return t * (strict + _eye(n, t.dtype)) + _mT(t * strict)


def _tied(w):
    """Off-diagonal pairs (i, j) of the last axis of ``w`` equal to within rounding."""
    w = np.asarray(_raw(w))
    n = w.shape[-1]
    scale = np.max(np.abs(w), axis=-1, initial=0.0)[..., None, None]
    eps = np.finfo(w.dtype).eps if w.dtype.kind == "f" else np.finfo(float).eps
    gap = np.abs(w[..., None, :] - w[..., :, None])
    return (gap <= 4 * n * eps * np.maximum(scale, np.finfo(float).tiny)) & \
        ~backend.eye(n, dtype=bool)


def _reciprocal_gaps(w, tied, at_ties=0.0):
    """F[..., i, j] = 1 / (w[j] - w[i]) off the diagonal, 0 on it; ``at_ties`` where
    ``tied`` (0: those pairs contribute nothing; nan: undefined)."""
    n = w.shape[-1]
    fill = _eye(n, w.dtype) + tied
    F = 1 / (w[..., None, :] - w[..., :, None] + fill) - fill
    return F + np.where(tied, at_ties, 0.0) if at_ties != 0 and tied.any() else F


def _refuse_ties(name, what, values):
    raise NotDifferentiableError(
        f"{name}: the gradient of the {what} is undefined at repeated {values} (two are "
        f"equal to within rounding, so the {what} are not unique); only the {values} "
        f"themselves have a gradient there")


def _nonzero(g):
    return bool(np.any(_raw(g)))


def _t(site, k=0):
    """``.T`` for a 2-d operand, ``.mT`` for a stack of matrices."""
    return ".T" if np.ndim(site.value(k)) <= 2 else ".mT"


def _tri_text(n, upper=False):
    mask = f"(tri({n}) + tri({n}, k=-1)) / 2"
    return f"({mask}).T" if upper else mask


# ----- inv --------------------------------------------------------------------------------------
def _inv_text(site, i):
    """d inv(A) = -inv(A) dA inv(A), so dA = -inv(A).T @ g @ inv(A).T."""
    t = _t(site)
    return f"-({site.out}{t} @ {site.g} @ {site.out}{t})"


inv = Gate("inv", np.linalg.inv, symbol="inv", saves=(), numpy=np.linalg.inv,
           caveats="A singular matrix raises NumPy's LinAlgError, as NumPy does.",
           api="linalg.inv", text=Text(backward=_inv_text),
           vjp=(lambda g, out, x: -(_mT(out) @ g @ _mT(out)),),
           jvp=(lambda t, out, x: -(out @ t @ out),))


# ----- solve ------------------------------------------------------------------------------------
def _solve_forward(a, b):
    return np.linalg.solve(a, b)


def _solve_t(a, g, b):
    """solve(A.T, g): the cotangent of b; a 1-d b makes x a (stack of) vectors."""
    if np.ndim(b) == 1:
        return call(solve, _mT(a), g[..., None])[..., 0]
    return call(solve, _mT(a), g)


def _solve_vjp_a(g, out, a, b):
    """x = inv(A) b: dx = inv(A) (db - dA x), so db = solve(A.T, g) and dA = -db x.T."""
    gb = _solve_t(a, g, b)
    if np.ndim(b) == 1:
        return -(gb[..., :, None] * out[..., None, :])
    return -(gb @ _mT(out))


def _solve_jvp_a(t, out, a, b):
    if np.ndim(b) == 1:
        return -call(solve, a, t @ out[..., None])[..., 0]
    return -call(solve, a, t @ out)


def _solve_text(site, i):
    """x = inv(A) b: db = solve(A.T, g) and dA = -db x.T."""
    a, g, x = site.arg(0), site.g, site.out
    t = _t(site)
    if np.ndim(site.value(1)) == 1:
        gb = f"linalg.solve({a}{t}, {g})" if np.ndim(site.value(0)) == 2 else \
            f"linalg.solve({a}{t}, {g}[..., None])[..., 0]"
        return gb if i == 1 else f"-({gb}[..., :, None] * {x}[..., None, :])"
    gb = f"linalg.solve({a}{t}, {g})"
    return gb if i == 1 else f"-({gb} @ {x}{t})"


solve = Gate("solve", _solve_forward, symbol="solve", broadcasts=True,
             caveats="A singular matrix raises NumPy's LinAlgError, as NumPy does.",
             saves=(0,),
             numpy=np.linalg.solve, api="linalg.solve", text=Text(backward=_solve_text),
             vjp=(_solve_vjp_a, lambda g, out, a, b: _solve_t(a, g, b)),
             jvp=(_solve_jvp_a, lambda t, out, a, b: call(solve, a, t)))


# ----- slogdet ----------------------------------------------------------------------------------
def _slogdet_forward(x):
    sign, logabsdet = np.linalg.slogdet(x)
    return np.stack([sign, logabsdet], axis=-1)


def _slogdet_vjp(g, out, x):
    """d log|det A| = trace(inv(A) dA), so dA = g * inv(A).T; the sign is piecewise
    constant, so its cotangent g[..., 0] contributes nothing."""
    return g[..., 1][..., None, None] * _mT(call(inv, x))


def _slogdet_jvp(t, out, x):
    d = (_mT(call(inv, x)) * t).sum(axis=(-2, -1))
    return np.stack([d * 0, d], axis=-1)


def _slogdet_text(site, i):
    """dA = g[..., 1] * inv(A).T: log|det A| changes by trace(inv(A) dA); the sign does not."""
    t = _t(site)
    return f"{site.g}[..., 1, None, None] * linalg.inv({site.arg(0)}){t}"


slogdet = Gate("slogdet", _slogdet_forward, symbol="slogdet",
               caveats=("The sign is piecewise constant: its gradient is 0.",
                        "The gradient of logabsdet is inv(A).T: at an exactly singular matrix "
                        "the backward raises LinAlgError."), saves_out=False,
               numpy=np.linalg.slogdet, api="linalg.slogdet",
               text=Text(lambda site: f"stack(linalg.slogdet({site.arg(0)}), axis=-1)",
                         _slogdet_text),
               vjp=(_slogdet_vjp,), jvp=(_slogdet_jvp,))


# ----- cholesky ---------------------------------------------------------------------------------
def _cholesky_vjp(g, out, x):
    """A = L L.T: dL = L Phi(inv(L) dA inv(L).T), Phi = lower half with the diagonal halved,
    so with S = inv(L).T Phi(L.T g) inv(L) the lower triangle read gets Phi(S + S.T)."""
    P = _half_triangle(out.shape[-1], out.dtype)
    W = call(solve, _mT(out), (_mT(out) @ g) * P)              # inv(L).T Phi(L.T g)
    S = _mT(call(solve, _mT(out), _mT(W)))                     # ... @ inv(L)
    return (S + _mT(S)) * P


def _cholesky_jvp(t, out, x):
    P = _half_triangle(out.shape[-1], out.dtype)
    X = call(solve, out, _mT(call(solve, out, _read_triangle(t))))  # inv(L) dA inv(L).T
    return out @ (X * P)


def _cholesky_text(site, i):
    """dA = Phi(S + S.T), S = inv(L).T Phi(L.T g) inv(L), Phi: lower half, diagonal halved."""
    L, g, t = site.out, site.g, _t(site)
    P = _tri_text(np.shape(site.value(0))[-1])
    S = f"linalg.solve({L}{t}, linalg.solve({L}{t}, ({L}{t} @ {g}) * P){t}){t}"
    return f"(lambda P: (lambda S: (S + S{t}) * P)({S}))({P})"


cholesky = Gate("cholesky", np.linalg.cholesky, symbol="cholesky", saves=(),
                caveats=("Reads one triangle, as NumPy does: the other's gradient is 0.",
                         "Not positive definite: NumPy's LinAlgError."),
                numpy=np.linalg.cholesky, api="linalg.cholesky",
                text=Text(backward=_cholesky_text),
                vjp=(_cholesky_vjp,), jvp=(_cholesky_jvp,))


# ----- eigh -------------------------------------------------------------------------------------
def _eigh_forward(x, UPLO):
    w, v = np.linalg.eigh(x, UPLO=UPLO)
    return np.concatenate([w[..., None, :], v], axis=-2)


def _eigh_vjp(g, out, x, UPLO):
    """A = V diag(w) V.T: the symmetric gradient is V (diag(gw) + F * (V.T gV)) V.T with
    F[i, j] = 1 / (w[j] - w[i]); the triangle read gets it plus its transpose."""
    w, v, gw, gv = out[..., 0, :], out[..., 1:, :], g[..., 0, :], g[..., 1:, :]
    tied = _tied(w)
    if tied.any() and _nonzero(gv):
        _refuse_ties("eigh", "eigenvectors", "eigenvalues")
    F = _reciprocal_gaps(w, tied)
    grad = (v * gw[..., None, :] + v @ (F * (_mT(v) @ gv))) @ _mT(v)
    return (grad + _mT(grad)) * _half_triangle(w.shape[-1], w.dtype, UPLO == "U")


def _eigh_jvp(t, out, x, UPLO):
    """dw = diag(V.T dA V), dV = V (F * (V.T dA V)), dA the symmetric matrix NumPy reads."""
    w, v = out[..., 0, :], out[..., 1:, :]
    dP = _mT(v) @ _read_triangle(t, UPLO == "U") @ v
    dw = (v * (_read_triangle(t, UPLO == "U") @ v)).sum(axis=-2)
    dv = v @ (_reciprocal_gaps(w, _tied(w), np.nan) * dP)
    return np.concatenate([dw[..., None, :], dv], axis=-2)


def _eigh_text(site, i):
    """The symmetric gradient V (diag(gw) + F * (V.T gV)) V.T, F[i, j] = 1 / (w[j] - w[i])
    off the diagonal, added to its transpose over the triangle NumPy read."""
    o, g, t = site.out, site.g, _t(site)
    n = np.shape(site.value(0))[-1]
    F = f"(1 / (w[..., None, :] - w[..., :, None] + eye({n})) - eye({n}))"
    G = f"(v * gw[..., None, :] + v @ ({F} * (v{t} @ gv))) @ v{t}"
    P = _tri_text(n, site.params["UPLO"] == "U")
    return (f"(lambda w, v, gw, gv: (lambda G: (G + G{t}) * {P})({G}))"
            f"({o}[..., 0, :], {o}[..., 1:, :], {g}[..., 0, :], {g}[..., 1:, :])")


def _eigh_forward_text(site):
    return (f"(lambda w, v: concatenate([w[..., None, :], v], axis=-2))"
            f"(*linalg.eigh({site.arg(0)}, '{site.params['UPLO']}'))")


eigh = Gate("eigh", _eigh_forward, symbol="eigh", saves=(), numpy=np.linalg.eigh,
            caveats=("Reads one triangle, as NumPy does: the other's gradient is 0.",
                     "At repeated eigenvalues the eigenvectors' gradient is undefined: the "
                     "backward raises when they are used (forward mode gives NaN); the "
                     "eigenvalues keep their gradient."),
            api="linalg.eigh",
            text=Text(_eigh_forward_text,
                      _eigh_text),
            vjp=(_eigh_vjp,), jvp=(_eigh_jvp,))


# ----- svd --------------------------------------------------------------------------------------
def _svd_forward(x):
    u, s, vh = np.linalg.svd(x, full_matrices=False)
    return np.concatenate([u, s[..., None, :], _mT(vh)], axis=-2)


def _svd_parts(packed, m):
    """(u, s, v) of a packed svd output or cotangent (v = vh.T)."""
    return packed[..., :m, :], packed[..., m, :], packed[..., m + 1:, :]


def _svd_vjp(g, out, x):
    """A = U S V.T: dA = U (J S + diag(gs) + S K) V.T + (I - U U.T) gU S^-1 V.T
    + U S^-1 gV.T (I - V V.T), J = F * (U.T gU - gU.T U), K = F * (V.T gV - gV.T V),
    F[i, j] = 1 / (s[j]**2 - s[i]**2)."""
    m, n = x.shape[-2:]
    u, s, v = _svd_parts(out, m)
    gu, gs, gv = _svd_parts(g, m)
    k = s.shape[-1]
    grad = (u * gs[..., None, :]) @ _mT(v)
    if not (_nonzero(gu) or _nonzero(gv)):
        # only the singular values are used (getitem's scatter left the vectors' cotangents
        # zero): the rest is zero too, and it would divide by ties and zeros
        return grad
    tied = _tied(s * s)
    if tied.any():
        _refuse_ties("svd", "singular vectors", "singular values")
    if max(m, n) > k and np.any(_raw(s) <= 4 * max(m, n) * np.finfo(s.dtype).eps *
                                np.max(_raw(s), axis=-1, initial=0.0)[..., None]):
        raise NotDifferentiableError(
            "svd: the gradient of the singular vectors of a non-square matrix is undefined "
            "at a zero singular value")
    F = _reciprocal_gaps(s * s, tied)
    J = F * (_mT(u) @ gu - _mT(gu) @ u)
    K = F * (_mT(v) @ gv - _mT(gv) @ v)
    grad = grad + u @ (J * s[..., None, :] + s[..., :, None] * K) @ _mT(v)
    if m > k:
        grad = grad + ((gu - u @ (_mT(u) @ gu)) / s[..., None, :]) @ _mT(v)
    if n > k:
        grad = grad + u @ _mT((gv - v @ (_mT(v) @ gv)) / s[..., None, :])
    return grad


def _svd_jvp(t, out, x):
    """dP = U.T dA V: ds = diag(dP), dU = U (F * (dP S + S dP.T)) + (I - U U.T) dA V S^-1,
    dV = V (F * (S dP + dP.T S)) + (I - V V.T) dA.T U S^-1."""
    m, n = x.shape[-2:]
    u, s, v = _svd_parts(out, m)
    k = s.shape[-1]
    F = _reciprocal_gaps(s * s, _tied(s * s), np.nan)
    tv, tu = t @ v, _mT(t) @ u
    dP = _mT(u) @ tv
    ds = (u * tv).sum(axis=-2)
    du = u @ (F * (dP * s[..., None, :] + s[..., :, None] * _mT(dP)))
    dv = v @ (F * (s[..., :, None] * dP + _mT(dP) * s[..., None, :]))
    if m > k:
        du = du + (tv - u @ dP) / s[..., None, :]
    if n > k:
        dv = dv + (tu - v @ _mT(dP)) / s[..., None, :]
    return np.concatenate([du, ds[..., None, :], dv], axis=-2)


def _svd_text(site, i):
    """The gradient of A = U S V.T from the cotangents of U, s and V (see the rule)."""
    o, g, t = site.out, site.g, _t(site)
    m, n = np.shape(site.value(0))[-2:]
    k = min(m, n)
    F = f"(1 / (s[..., None, :]**2 - s[..., :, None]**2 + eye({k})) - eye({k}))"
    J, K = f"{F} * (u{t} @ gu - gu{t} @ u)", f"{F} * (v{t} @ gv - gv{t} @ v)"
    terms = [f"(u * gs[..., None, :]) @ v{t}",
             f"u @ (({J}) * s[..., None, :] + s[..., :, None] * ({K})) @ v{t}"]
    if m > k:
        terms.append(f"((gu - u @ (u{t} @ gu)) / s[..., None, :]) @ v{t}")
    if n > k:
        terms.append(f"u @ ((gv - v @ (v{t} @ gv)) / s[..., None, :]){t}")
    parts = f"{{0}}[..., :{m}, :], {{0}}[..., {m}, :], {{0}}[..., {m + 1}:, :]"
    return (f"(lambda u, s, v, gu, gs, gv: {' + '.join(terms)})"
            f"({parts.format(o)}, {parts.format(g)})")


def _svd_forward_text(site):
    a = site.arg(0)
    return (f"(lambda u, s, vh: concatenate([u, s[..., None, :], vh{_t(site)}], axis=-2))"
            f"(*linalg.svd({a}, full_matrices=False))")


svd = Gate("svd", _svd_forward, symbol="svd", saves=(), numpy=np.linalg.svd,
           caveats=("Gradients need full_matrices=False (or a square matrix).",
                    "At repeated singular values (and zero ones of a non-square matrix) the "
                    "singular vectors' gradient is undefined: the backward raises when they "
                    "are used; the singular values keep their gradient."),
           api="linalg.svd", text=Text(_svd_forward_text, _svd_text),
           vjp=(_svd_vjp,), jvp=(_svd_jvp,))


# ----- qr ---------------------------------------------------------------------------------------
def _copy_lower(M):
    """The symmetric matrix with M's lower triangle (diagonal included)."""
    k = M.shape[-1]
    strict = _strict_lower(k, M.dtype)
    return M * (strict + _eye(k, M.dtype)) + _mT(M * strict)


def _qr_vjp_square(q, r, gq, gr):
    """A = Q R with R square: dA = (gQ + Q copyltu(M)) inv(R).T, M = R gR.T - gQ.T Q."""
    b = gq + q @ _copy_lower(r @ _mT(gr) - _mT(gq) @ q)
    return _mT(call(solve, r, _mT(b)))


def _qr_vjp(g, out, x):
    """Tall (m >= n): the square-R rule. Wide: A = [X Y], X = Q R_X, R_Y = Q.T Y, so
    dY = Q gR_Y and X takes the square-R rule with gQ + Y gR_Y.T."""
    m, n = x.shape[-2:]
    q, r = out[..., :m, :], _mT(out[..., m:, :])
    gq, gr = g[..., :m, :], _mT(g[..., m:, :])
    if m >= n:
        return _qr_vjp_square(q, r, gq, gr)
    y, gry = x[..., :, m:], gr[..., :, m:]
    gx = _qr_vjp_square(q, r[..., :, :m], gq + y @ _mT(gry), gr[..., :, :m])
    return np.concatenate([gx, q @ gry], axis=-1)


def _qr_jvp_square(q, r, t):
    """X = Q.T dA inv(R) = (Q.T dQ, skew) + (dR inv(R), upper): dR = (X - W) R and
    dQ = dA inv(R) - Q (X - W), W the skew part, from X's strict lower triangle."""
    tr = _mT(call(solve, _mT(r), _mT(t)))                        # dA inv(R)
    X = _mT(q) @ tr
    low = X * _strict_lower(X.shape[-1], X.dtype)
    upper = X - (low - _mT(low))
    return tr - q @ upper, upper @ r


def _qr_jvp(t, out, x):
    m, n = x.shape[-2:]
    q, r = out[..., :m, :], _mT(out[..., m:, :])
    if m >= n:
        dq, dr = _qr_jvp_square(q, r, t)
    else:
        dq, drx = _qr_jvp_square(q, r[..., :, :m], t[..., :, :m])
        dry = _mT(dq) @ x[..., :, m:] + _mT(q) @ t[..., :, m:]
        dr = np.concatenate([drx, dry], axis=-1)
    return np.concatenate([dq, _mT(dr)], axis=-2)


def _qr_text(site, i):
    """dA = (gQ + Q copyltu(R gR.T - gQ.T Q)) inv(R).T (for a wide A, on its first m columns,
    with gQ + Y gR_Y.T, and Q gR_Y for the rest Y)."""
    o, g, t = site.out, site.g, _t(site)
    m, n = np.shape(site.value(0))[-2:]
    k = min(m, n)
    low = f"tri({k}, k=-1)"
    copy = f"(lambda M: M * ({low} + eye({k})) + (M * {low}){t})"
    square = (f"(lambda q, r, gq, gr: linalg.solve(r, (gq + q @ {copy}(r @ gr{t} - gq{t} @ q))"
              f"{t}){t})")
    parts = f"{o}[..., :{m}, :], {o}[..., {m}:, :]{t}, {g}[..., :{m}, :], {g}[..., {m}:, :]{t}"
    if m >= n:
        return f"{square}({parts})"
    a = site.arg(0)
    return (f"(lambda q, r, gq, gr: concatenate([{square}(q, r[..., :{m}], gq + {a}[..., {m}:] "
            f"@ gr[..., {m}:]{t}, gr[..., :{m}]), q @ gr[..., {m}:]], axis=-1))({parts})")


def _qr_forward_text(site):
    return (f"(lambda q, r: concatenate([q, r{_t(site)}], axis=-2))"
            f"(*linalg.qr({site.arg(0)}))")


def _qr_forward(x):
    q, r = np.linalg.qr(x)
    return np.concatenate([q, _mT(r)], axis=-2)


qr = Gate("qr", _qr_forward, symbol="qr", numpy=np.linalg.qr, api="linalg.qr",
          caveats=("Gradients need mode 'reduced' or 'r'.",
                   "The first min(m, n) columns must be independent (R invertible); "
                   "otherwise the backward raises LinAlgError."),
          text=Text(_qr_forward_text, _qr_text), vjp=(_qr_vjp,), jvp=(_qr_jvp,))
