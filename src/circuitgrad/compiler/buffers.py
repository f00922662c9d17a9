"""Output buffers allocated once per traced signature and reused from call to call.

A compiled step at batch 64 spends much of its time not in arithmetic but in fresh memory:
a new 784x256 gradient, a new ``lr * g`` temporary, each touched page faulted in again
after the allocator hands the memory back to the system. :func:`reuse_buffers` rewrites a
line whose result is a new array of a shape and dtype fixed by the signature
(``a = b @ c``, ``a = b + c``, ``a = exp(b)``, ``a = sum(b, axis=0)``) so that it writes
into a buffer of the program's own: ``a = matmul(b, c, out=buffer(3))``.

What makes this safe for results handed back to the caller (the loss, gradients put into
``.grad``, new parameters a functional step returns): ``buffer(k)`` gives line ``k``'s
buffer only when nothing but the pool refers to it (a reference count, taken when the
line runs); if the caller still holds the array from an earlier call, or a view of it, the
line gets a new buffer, which replaces the old one in the pool. An array the caller kept is
therefore never overwritten. (A raw pointer to the memory, taken with ``.ctypes`` and no
Python reference, is not seen; hold the array itself.)

>>> import numpy as np
>>> pool = BufferPool([((2,), np.dtype(np.float64), None)])
>>> a = np.add(np.ones(2), 1.0, out=pool(0))
>>> b = np.add(np.ones(2), 2.0, out=pool(0))   # ``a`` is still held: a new buffer
>>> a.tolist(), b.tolist(), a is b
([2.0, 2.0], [3.0, 3.0], False)
>>> del a, b
>>> pool(0) is pool.buffers[0]                  # nobody else holds it: reused
True
"""

import ast
import math
import sys

import numpy as np

from .. import backend

_OPS = {ast.MatMult: "matmul", ast.Add: "add", ast.Sub: "subtract", ast.Mult: "multiply",
        ast.Div: "true_divide"}
# functions of the namespace that take ``out=`` and give an array of the result's shape
_REDUCTIONS = {"sum", "matmul", "dot"}


class BufferPool:
    """The buffers of one program: ``pool(k)`` is buffer ``k`` when nothing outside the pool
    holds it, else a new one (kept in its place).

    A spec is ``(shape, dtype, axes)``: ``axes`` None for C order, else the buffer is the
    C-ordered array the pool holds, seen through ``transpose(axes)``: the layout NumPy gives
    the line's result (``x.T - m`` keeps ``x``'s memory order), which a C-ordered ``out=``
    would force into strided writes. The pool holds the array that owns the memory, since
    every view of a view names that one as its base: its count is what sees the caller."""

    __slots__ = ("buffers", "specs", "free")

    def __init__(self, specs):
        self.specs = list(specs)
        self.buffers = [_owner(spec) for spec in self.specs]
        self.free = _free_count()

    def __call__(self, k):
        buffers = self.buffers
        b = buffers[k]
        if sys.getrefcount(b) > self.free:  # held elsewhere (a result the caller kept)
            b = buffers[k] = _owner(self.specs[k])
        axes = self.specs[k][2]
        return b if axes is None else b.transpose(axes)


def _owner(spec):
    """The array owning a buffer's memory: C-ordered in the buffer's memory order."""
    shape, dtype, axes = spec
    if axes is None:
        return backend.empty(shape, dtype)
    memory_order = np.argsort(axes)  # the buffer's axes, outermost in memory first
    return backend.empty(tuple(shape[a] for a in memory_order), dtype)


def _spec(array):
    """``(shape, dtype, axes)`` of a buffer laid out in memory as ``array`` is."""
    if array.flags.c_contiguous:
        return array.shape, array.dtype, None
    memory_order = np.argsort([-abs(s) for s in array.strides], kind="stable")
    return array.shape, array.dtype, tuple(int(a) for a in np.argsort(memory_order))


    def borrow(self, shape, dtype):
        """A view of ``shape`` and ``dtype`` into a buffer nobody holds now (between calls:
        one whose result the caller did not keep), or None; the view keeps the buffer from
        being handed out while it lives."""
        dtype = np.dtype(dtype)
        nbytes = dtype.itemsize * math.prod(shape)
        for b in self.buffers:
            if b.nbytes >= nbytes and sys.getrefcount(b) <= self.free:
                flat = b.reshape(-1).view(np.uint8)[:nbytes]
                return flat.view(dtype).reshape(shape)
        return None


def _free_count():
    """The reference count ``BufferPool.__call__`` sees for a buffer held by the pool only
    (measured on the running interpreter, rather than assumed)."""
    probe = BufferPool.__new__(BufferPool)
    probe.buffers = [backend.empty(1)]
    buffers = probe.buffers
    b = buffers[0]
    return sys.getrefcount(b)


def _array(value):
    return isinstance(value, backend.ndarray) and value.ndim > 0 and value.dtype.kind in "fc" \
        and value.flags.owndata


def _with_out(expr, ns):
    """``expr`` (an ast expression) written with ``out=_out_``, or None where it is no single
    operation that takes ``out=``."""
    if isinstance(expr, ast.BinOp) and type(expr.op) in _OPS:
        return f"{_OPS[type(expr.op)]}({ast.unparse(expr.left)}, {ast.unparse(expr.right)}, " \
               f"out=_out_)"
    if isinstance(expr, ast.UnaryOp) and isinstance(expr.op, ast.USub):
        return f"negative({ast.unparse(expr.operand)}, out=_out_)"
    if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Name) and \
            not any(k.arg == "out" for k in expr.keywords) and \
            not any(isinstance(a, ast.Starred) for a in expr.args):
        fn = ns.get(expr.func.id)
        plain_ufunc = isinstance(fn, np.ufunc) and len(expr.args) == fn.nin and \
            not expr.keywords
        if plain_ufunc or (expr.func.id in _REDUCTIONS and fn is getattr(np, expr.func.id)):
            return ast.unparse(expr)[:-1] + ", out=_out_)"
    return None


def _same(a, b):
    return isinstance(b, backend.ndarray) and a.shape == b.shape and a.dtype == b.dtype and \
        np.array_equal(a, b, equal_nan=True)


def reuse_buffers(lines, ns, env, pool_name="buffer"):
    """``lines``: [(code, note)] of a function body; ``env``: the values at trace time.
    Returns the rewritten lines and the buffers' (shape, dtype), by number, read in the code
    as ``pool_name(k)`` (a :class:`BufferPool` of those specs). A line is
    rewritten where its result at trace time is a new floating-point array and the rewritten
    text gives the same array there (checked)."""
    out, specs = [], []
    for code, note in lines:
        target, sep, text = code.partition(" += ") if " += " in code else \
            code.partition(" = ")
        if not sep or not target.isidentifier() or not text:
            out.append((code, note))
            continue
        try:
            expr = ast.parse(text, mode="eval").body
        except SyntaxError:
            out.append((code, note))
            continue
        with_out = _with_out(expr, ns)
        if with_out is None or (sep == " += " and not with_out.startswith(
                ("matmul(", "dot(", "sum("))):  # ``x += 2 * (e)`` stays as it reads
            out.append((code, note))
            continue
        try:
            with np.errstate(all="ignore"):
                want = eval(text, ns, dict(env))  # noqa: S307 -- the generated code's text
        except Exception:  # noqa: BLE001 -- a line that does not run alone: keep it
            out.append((code, note))
            continue
        if not _array(want):
            out.append((code, note))
            continue
        spec = _spec(want)
        trial = dict(env)
        trial["_out_"] = BufferPool([spec])(0)
        try:
            with np.errstate(all="ignore"):
                got = eval(with_out, ns, trial)  # noqa: S307
        except Exception:  # noqa: BLE001 -- out= refused (a dtype it cannot cast to)
            got = None
        if got is not trial["_out_"] or not _same(want, got):
            out.append((code, note))
            continue
        k = len(specs)
        specs.append(spec)
        out.append((f"{target}{sep}{with_out.replace('out=_out_', f'out={pool_name}({k})')}", note))
    return out, specs
