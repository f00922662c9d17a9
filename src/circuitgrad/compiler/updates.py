"""An optimizer's ``step()`` as a compiled step replays it, without its temporaries.

``SGD.update`` writes ``w -= lr * g``: NumPy makes a new array for ``lr * g`` at each call, as
large as the parameter (a 784x256 weight: 800 kB, faulted in page by page). Replayed by a
compiled step, plain SGD and SGD with (classic) momentum write ``lr * g`` into a scratch
array instead, kept from call to call (one per parameter shape and dtype): the same
operations in the same order, so the same bits. Anything else (Nesterov, weight decay,
parameter groups with settings of their own, a subclass with its own ``update`` or
``step``, a parameter that is no array of its gradient's shape and dtype) runs the
optimizer's own ``step()``.

Plain SGD on a large contiguous float32/float64 parameter goes one step further where
NumPy's own OpenBLAS is loaded (the NumPy wheels'; found by its ILP64 symbol names): one
BLAS ``axpy``, ``w += (-lr) * g``, in place and on BLAS's threads. That pays because the
weight was just read by both BLAS threads of the forward product: one thread writing it
back costs several times a plain pass over it (measured: bench/RESULTS.md, 2026-12-04).
``axpy`` rounds ``w - lr * g`` once (a fused multiply-add) where NumPy rounds ``lr * g``
first: results can differ from the eager optimizer's by one unit in the last place.
``BLAS_AXPY = False`` turns it off.

>>> import numpy as np
>>> from circuitgrad import nn
>>> w = nn.Parameter(np.array([1.0, -2.0]))
>>> opt = nn.SGD([w], lr=0.1)
>>> w.grad = np.array([2.0, -4.0])
>>> step = sgd_step({})
>>> step(opt)
>>> w.data.tolist()
[0.8, -1.6]
"""

import ctypes

import numpy as np

from .. import backend
from ..tensor import changed_in_place

BLAS_AXPY = True
_AXPY_SIZE = 1 << 14  # elements: below this the ctypes call costs what it saves
_axpy = None          # dtype -> NumPy's OpenBLAS ?axpy (ILP64), found at first use

# a parameter this large borrows a free buffer of the step for ``lr * g`` (memory kept
# down); a smaller one uses a scratch array of its own (a look through the pool per call
# would cost more than its update)
_BORROW_BYTES = 1 << 16


def replayed(fn, obj, pool=None):
    """What a compiled step calls for the recorded event ``fn(obj)``: ``fn`` itself, or
    :func:`sgd_step`'s update where it gives the same result (its scratch arrays borrowed
    from ``pool``, the step's :class:`~circuitgrad.compiler.buffers.BufferPool`, where one
    of its buffers is free and large enough)."""
    from ..nn.optim import SGD, Optimizer  # noqa: PLC0415 -- nn imports the engine

    cls = type(obj)
    if fn is Optimizer.step and isinstance(obj, SGD) and cls.update is SGD.update and \
            cls.step is Optimizer.step and cls._decoupled_decay is \
            Optimizer._decoupled_decay:
        return sgd_step({}, pool)
    return fn


def sgd_step(scratch, pool=None):
    """``opt.step()`` of an :class:`~circuitgrad.nn.SGD` with ``lr * g`` written into a
    free buffer of ``pool`` or else into ``scratch`` (a dict: (shape, dtype) -> array, kept),
    rather than into a new array."""
    def step(opt):
        mu = opt.momentum
        # read at each call; a parameter group with settings of its own (its lr, say) is
        # updated by the optimizer's step, which puts those settings in place
        if opt.nesterov or opt.weight_decay or opt.decoupled or \
                any(settings for _, settings in opt._groups):
            return type(opt).step(opt)
        lr = opt.lr
        for p, state in zip(opt.parameters, opt.state, strict=True):
            g = p.grad
            if g is None or not p.requires_grad:
                continue
            w = p.data
            if type(w) is not backend.ndarray or type(g) is not backend.ndarray or \
                    w.shape != g.shape or w.dtype != g.dtype:
                _one(opt, p, g, state)
                continue
            if not mu and BLAS_AXPY and _blas_update(w, g, lr):
                changed_in_place(p)
                continue
            s = pool.borrow(g.shape, g.dtype) if pool is not None and \
                g.nbytes >= _BORROW_BYTES else None
            if s is None:
                key = (g.shape, g.dtype.str)
                s = scratch.get(key)
                if s is None:
                    s = scratch[key] = backend.empty_like(g)
            np.multiply(g, lr, out=s)      # lr * g
            if mu:
                v = state.get("velocity")
                if v is None:
                    v = state["velocity"] = backend.zeros_like(w)
                v *= mu
                v -= s
                w += v
            else:
                w -= s
            changed_in_place(p)            # a circuit recorded before now is stale
        return None
    step.__name__ = "step"
    step.scratch = scratch
    return step


def _one(opt, p, g, state):
    """One parameter as ``Optimizer.step`` updates it (no weight decay: checked above)."""
    w = p.data
    if isinstance(w, backend.ndarray):
        opt.update(w, g, state)
        changed_in_place(p)
    else:
        box = np.array(w)
        opt.update(box, g, state)
        p.data = box


def blas_axpy(dtype):
    """NumPy's OpenBLAS ``?axpy`` for ``dtype`` (float32, float64), or None: the library
    NumPy loaded itself (a path under NumPy's package), its ILP64 symbols only, whose
    integer arguments are 64-bit."""
    global _axpy
    if _axpy is None:
        _axpy = {}
        try:
            with open("/proc/self/maps") as f:
                paths = sorted({line.split()[-1] for line in f if "openblas" in line.lower()
                                and "numpy" in line.lower() and line.split()[-1][:1] == "/"})
        except OSError:
            paths = []
        for path in paths:
            try:
                lib = ctypes.CDLL(path)
            except OSError:
                continue
            for kind, real, dt in (("s", ctypes.c_float, np.float32),
                                   ("d", ctypes.c_double, np.float64)):
                for symbol in (f"scipy_cblas_{kind}axpy64_", f"cblas_{kind}axpy64_"):
                    fn = getattr(lib, symbol, None)
                    if fn is not None and np.dtype(dt) not in _axpy:
                        fn.argtypes = [ctypes.c_int64, real, ctypes.c_void_p, ctypes.c_int64,
                                       ctypes.c_void_p, ctypes.c_int64]
                        fn.restype = None
                        _axpy[np.dtype(dt)] = fn
                        break
    return _axpy.get(np.dtype(dtype))


def _blas_update(w, g, lr):
    """``w -= lr * g`` as one BLAS axpy where it applies (see the module docstring); False
    where it does not, and nothing is written."""
    if w.size < _AXPY_SIZE or not w.flags.writeable or not (
            w.flags.c_contiguous and g.flags.c_contiguous and w.flags.aligned and
            g.flags.aligned) or np.may_share_memory(w, g):
        return False
    axpy = blas_axpy(w.dtype)
    if axpy is None:
        return False
    axpy(w.size, -lr, g.ctypes.data, 1, w.ctypes.data, 1)
    return True
