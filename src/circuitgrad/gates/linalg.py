"""Linear algebra gates: matmul (NumPy's rules for 1-d, 2-d and batched) and einsum.

For D = W @ X the notes give dW = dD @ X.T and dX = W.T @ dD: the shapes say which
transposes go where. A 1-d operand is treated as a row (left) or a column (right) vector,
as NumPy does; batch axes broadcast, and the engine sums their gradients back.
"""

import numpy as np

from ..core.gate import Gate, each
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
        raise ValueError("matmul needs operands of at least one dimension; use * for scalars")
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
