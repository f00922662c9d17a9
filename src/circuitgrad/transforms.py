"""Function transforms: grad, value_and_grad, vjp, jvp, jacobian, hessian, hvp.

They take functions of arrays (written with circuitgrad or with plain ``import numpy as
np``) and return functions that also give derivatives. Arguments and results may be
nested tuples, lists and dicts of arrays, such as a model's parameters.

Reverse mode (``grad``, ``vjp``) records the circuit and walks it back; forward mode
(``jvp``) pushes a tangent through every gate's JVP rule as the function runs, tagged
with a level of its own, so transforms nest to any order without mixing up their
perturbations: ``grad(grad(f))``, ``jvp(grad(f))`` (Hessian-vector products),
``grad(jvp(...))`` all work.

Data arguments. An argument a transform does not differentiate (one outside ``argnums``,
a keyword argument, a primal whose ``jvp`` tangent is None) that is a NumPy array, or a
tree of them, reaches ``f`` as a constant tensor: a leaf that requires no gradient, sharing
the array's memory. So code written for arrays keeps working: ``X.dot(W)``, ``X.T``,
``X[range(N), y]`` with ``y`` an integer array, ``len(X)``, ``for row in X``,
``float(X[0, 0])``. Anything else (Python numbers, strings, None, other objects) is handed
over as it is, so ``range(N)`` still takes an int ``N``. What ``f`` returns from data alone
comes back as arrays. The rule cannot reach an array ``f`` finds in a closure or an
attribute (``self.X.dot(W)``): NumPy's ``ndarray.dot`` converts its argument, which raises
for a tensor being differentiated. Pass that array as an argument, or write ``X @ W``
(``np.dot(X, W)``), which NumPy hands to circuitgrad.
"""

import numbers

import numpy as np

from . import backend
from .core import trace
from .core.backward import backprop
from .core.node import keep_tracked, place, stored_inputs, walked
from .core.saved import SavedArrays
from .core.tree import flatten, tree_map, unflatten
from .errors import NotDifferentiableError, ShapeError
from .gates.elementwise import identity
from .tensor import Tensor, _initial_cotangent, _wrap, apply, as_tensor


# ----- entering and leaving a transform -------------------------------------------------------
def _float_value(x, where):
    """A leaf argument as a float NumPy value (Python numbers become float64)."""
    value = x._value if isinstance(x, Tensor) else np.asarray(x)
    if value.dtype.kind in "iub" and not isinstance(x, Tensor):
        value = value.astype(np.float64)
    if value.dtype.kind != "f":
        raise NotDifferentiableError(
            f"{where}: cannot differentiate with respect to {value.dtype} data; pass floats")
    return value


def _lift(x, where):
    """A fresh wire for one argument, still connected to any outer transform."""
    if isinstance(x, Tensor):
        _float_value(x, where)
        t = apply(identity, (x,))  # carries outer tangents and outer reverse connections
    else:
        value = _float_value(x, where)
        t = _wrap(value[()] if value.ndim == 0 else value)
    t.requires_grad = True
    return t


def _constant(x):
    """A NumPy array ``f`` is handed but not differentiated by, as a constant tensor.

    Only plain ndarrays of the dtypes tensors hold: subclasses (np.matrix, masked arrays)
    give their operators other meanings, and NumPy scalars stay numbers.
    """
    if type(x) is backend.ndarray and x.dtype.kind in "biuf":
        return _wrap(x[()] if x.ndim == 0 else x)  # no copy: f sees the caller's array, as in NumPy
    return x


def _constants(arg):
    """A data argument with its NumPy arrays as constant tensors (see the module docstring)."""
    if not isinstance(arg, (dict, list, tuple)):
        return _constant(arg)
    leaves, treedef = flatten(arg)
    converted = [_constant(v) for v in leaves]
    if all(c is v for c, v in zip(converted, leaves, strict=True)):
        return arg  # no arrays in it: hand over the caller's own container
    return unflatten(treedef, converted)


def _is_live(t):
    """True when ``t`` still matters to an enclosing transform or to Tensor-API code."""
    if not isinstance(t, Tensor):
        return False
    if t._tangents and any(lv in trace.current().levels for lv in t._tangents):
        return True
    return t.requires_grad and _reaches_outside([t], ())


def _lower(x, keep):
    """What a transform hands back: the Tensor when ``keep``, else its plain value."""
    if isinstance(x, Tensor) and not keep:
        return x._value
    return x


def _reaches_outside(roots, wires):
    """Does the circuit behind ``roots`` reach a differentiable leaf other than ``wires``?

    If so an enclosing transform (or Tensor-API code) differentiates through this one,
    and the gradients must be built as circuits themselves. Wires lifted from an outer
    tensor are not leaves: the walk goes through them to what they came from.
    """
    stop = {id(place(w)) for w in wires}
    seen = set()
    stack = [place(r) for r in roots if isinstance(r, Tensor)]
    while stack:
        t = stack.pop()
        if id(t) in seen:
            continue
        seen.add(id(t))
        if t._gate is None:
            if t.requires_grad and id(t) not in stop:
                return True
            continue
        if not walked(t):  # a freed gate: nothing behind it can be reached again
            inputs = stored_inputs(t)
            stack.extend(place(inputs[i]) for i in t._edges)
    return False


def _retire(wires):
    """A finished transform's own input wires stop counting as differentiable leaves."""
    for w in wires:
        if w.is_leaf:
            w.requires_grad = False


def _argnums_tuple(argnums, nargs, where):
    nums = (argnums,) if isinstance(argnums, numbers.Integral) else tuple(argnums)
    for k in nums:
        if not -nargs <= k < nargs:
            raise ValueError(f"{where}: argnums {argnums} out of range for {nargs} arguments")
    return tuple(k % nargs for k in nums)


def _lift_args(args, nums, where):
    """Replace the differentiated arguments by lifted wires and the others' arrays by
    constant tensors; returns (args, per-arg leaves)."""
    args = [a if k in nums else _constants(a) for k, a in enumerate(args)]
    lifted = []
    for k in nums:
        leaves, treedef = flatten(args[k])
        wires = [_lift(v, where) for v in leaves]
        args[k] = unflatten(treedef, wires)
        lifted.append((treedef, wires))
    return args, lifted


def _scalar_output(out, where):
    leaves, _ = flatten(out)
    if len(leaves) != 1:
        raise ShapeError(f"{where}: the function must return one scalar, not a structure")
    t = as_tensor(leaves[0])
    if t.size != 1:
        raise ShapeError(f"{where}: the function must return a scalar, but it returned "
                         f"shape {t.shape}; use vjp or jacobian for non-scalar outputs")
    return t


def _reverse(out_leaves, cotangents, wires, retain):
    """Gradients of sum(out * cotangent) for each wire, Tensors only where they must be.

    Returns ``(grads, created)``: the engine builds the gradients as circuits (``created``)
    when forward mode is live or the walk reaches a differentiable leaf other than the
    wires, that is, when an enclosing transform differentiates through this one.
    """
    own = {id(w) for w in wires}  # an output that is an input wire itself (a retired leaf)
    pairs = [(o, c) for o, c in zip(out_leaves, cotangents, strict=True)
             if isinstance(o, Tensor) and (o.requires_grad or id(o) in own)]
    if not pairs:
        return [None] * len(wires), False
    return backprop([o for o, _ in pairs], [c for _, c in pairs], wrt=wires,
                    retain_graph=retain, create_graph=None)


def _fill(grads, wires, keep):
    out = []
    for g, w in zip(grads, wires, strict=True):
        if g is None:
            g = backend.zeros_like(w._value)[()] if w.ndim == 0 else backend.zeros_like(w._value)
        out.append(_lower(g, keep and _is_live(g)))
    return out


# ----- reverse mode ---------------------------------------------------------------------------
def value_and_grad(f, argnums=0, has_aux=False, *, detect_anomaly=False):
    """``f``'s value and its gradient with respect to argument(s) ``argnums``.

    ``f`` returns a scalar (or ``(scalar, aux)`` with ``has_aux=True``). The gradient has
    the structure of the argument: a dict of parameters gives a dict of gradients.

    >>> import circuitgrad as cg, numpy as np
    >>> loss = lambda p, x: np.sum((x @ p["W"] + p["b"]) ** 2)
    >>> p = {"W": np.ones((2, 1)), "b": np.zeros(1)}
    >>> value, g = cg.value_and_grad(loss)(p, np.array([[1.0, 2.0]]))
    >>> float(value), g["W"].ravel().tolist(), g["b"].tolist()
    (9.0, [6.0, 12.0], [6.0])
    """
    where = f"value_and_grad({getattr(f, '__name__', 'f')})"

    def wrapped(*args, **kwargs):
        if detect_anomaly:  # the forward and the backward pass checked (cg.detect_anomaly)
            with trace.detect_anomaly():
                return compute(*args, **kwargs)
        return compute(*args, **kwargs)

    def compute(*args, **kwargs):
        nums = _argnums_tuple(argnums, len(args), where)
        args, lifted = _lift_args(args, nums, where)
        kwargs = {name: _constants(v) for name, v in kwargs.items()}
        with trace.transform_running():  # records f even inside no_grad()
            result = f(*args, **kwargs)
        out, aux = result if has_aux else (result, None)
        y = _scalar_output(out, where)
        wires = [w for _, ws in lifted for w in ws]
        g0 = _initial_cotangent(y, None, where) if y.requires_grad else None
        grads, create = _reverse([y], [g0], wires, retain=False)
        _retire(wires)
        grads = _fill(grads, wires, create)
        trees, i = [], 0
        for treedef, ws in lifted:
            trees.append(unflatten(treedef, grads[i:i + len(ws)]))
            i += len(ws)
        grad_tree = trees[0] if isinstance(argnums, numbers.Integral) else tuple(trees)
        value = _lower(y if y.ndim == 0 else y.reshape(()), create and _is_live(y))
        if has_aux:  # arrays in, arrays out: aux too, unless an outer transform needs it
            aux = tree_map(lambda a: _lower(a, create and _is_live(a)), aux)
        return ((value, aux) if has_aux else value), grad_tree

    wrapped.__name__ = f"value_and_grad_{getattr(f, '__name__', 'f')}"
    return wrapped


def grad(f, argnums=0, has_aux=False, *, detect_anomaly=False):
    """The gradient of scalar-valued ``f`` with respect to argument(s) ``argnums``.

    Nests freely: ``grad(grad(f))`` is the second derivative.

    >>> import circuitgrad as cg, numpy as np
    >>> d3 = cg.grad(cg.grad(cg.grad(np.sin)))
    >>> bool(np.isclose(d3(0.5), -np.cos(0.5)))
    True
    """
    vg = value_and_grad(f, argnums, has_aux, detect_anomaly=detect_anomaly)

    def wrapped(*args, **kwargs):
        value, g = vg(*args, **kwargs)
        return (g, value[1]) if has_aux else g

    wrapped.__name__ = f"grad_{getattr(f, '__name__', 'f')}"
    return wrapped


def vjp(f, *primals):
    """``(out, vjp_fn)``: ``vjp_fn(cotangent)`` gives one gradient per primal.

    ``out`` may be any tree of arrays; the cotangent has the same structure. ``vjp_fn`` may
    be called many times.

    >>> import circuitgrad as cg, numpy as np
    >>> out, back = cg.vjp(lambda x: x * 2, np.array([1.0, 2.0]))
    >>> back(np.array([1.0, 10.0]))[0].tolist()
    [2.0, 20.0]
    """
    where = f"vjp({getattr(f, '__name__', 'f')})"
    args, lifted = _lift_args(primals, range(len(primals)), where)
    with trace.transform_running():  # records f even inside no_grad()
        out = f(*args)
    out_leaves, out_def = flatten(out)
    out_leaves = [as_tensor(o) for o in out_leaves]
    wires = [w for _, ws in lifted for w in ws]
    keep = bool(trace.current().levels) or _reaches_outside(out_leaves, wires)
    # The wires are this vjp's own: vjp_fn stops at them, and nothing else may count them
    # as differentiable leaves an enclosing transform watches (a jvp of this vjp's result
    # would keep Tensors otherwise).
    _retire(wires)

    def vjp_fn(cotangent):
        c_leaves, _ = flatten(cotangent)
        if len(c_leaves) != len(out_leaves):
            raise ShapeError(f"{where}: the cotangent has {len(c_leaves)} leaves but the "
                             f"output has {len(out_leaves)}")
        cs = [_initial_cotangent(o, c, where) for o, c in zip(out_leaves, c_leaves,
                                                               strict=True)]
        grads, create = _reverse(out_leaves, cs, wires, retain=True)
        grads = _fill(grads, wires, create)
        trees, i = [], 0
        for treedef, ws in lifted:
            trees.append(unflatten(treedef, grads[i:i + len(ws)]))
            i += len(ws)
        return tuple(trees)

    # The primals' arrays are the caller's: read-only while vjp_fn may read them (saved.py)
    vjp_fn.saved = SavedArrays([w._value for w in wires if backend.is_array(w._value)])
    return unflatten(out_def, [_lower(o, keep and _is_live(o)) for o in out_leaves]), vjp_fn


# ----- forward mode ---------------------------------------------------------------------------
def jvp(f, primals, tangents):
    """``(out, out_tangent)``: the directional derivative of ``f`` along ``tangents``.

    True forward mode: the tangent travels with the values through each gate's JVP rule
    as ``f`` runs; nothing is recorded for a backward pass. A tangent of None marks its
    primal as data: ``f`` gets it as constants (``jvp(loss, (W, X, y), (V, None, None))``).

    >>> import circuitgrad as cg, numpy as np
    >>> out, tangent = cg.jvp(np.exp, (0.0,), (2.0,))
    >>> float(out), float(tangent)
    (1.0, 2.0)
    """
    where = f"jvp({getattr(f, '__name__', 'f')})"
    primals, tangents = tuple(primals), tuple(tangents)
    if len(primals) != len(tangents):
        raise ValueError(f"{where}: {len(primals)} primals but {len(tangents)} tangents")
    with trace.new_level() as level:
        args = []
        for p, t in zip(primals, tangents, strict=True):
            if t is None:  # a data argument: nothing to push through f
                args.append(_constants(p))
                continue
            p_leaves, p_def = flatten(p)
            t_leaves, _ = flatten(t)
            if len(p_leaves) != len(t_leaves):
                raise ShapeError(f"{where}: a tangent's structure differs from its primal's")
            args.append(unflatten(p_def, [_constant(pv) if tv is None
                                          else _seed(pv, tv, level, where)
                                          for pv, tv in zip(p_leaves, t_leaves,
                                                            strict=True)]))
        out = f(*args)
        out_leaves, out_def = flatten(out)
        out_leaves = [as_tensor(o) for o in out_leaves]
        out_tangents = [_tangent_at(o, level) for o in out_leaves]
    # back in the enclosing levels: hand back Tensors only where an outer transform needs them
    return (unflatten(out_def, [_lower(o, _is_live(o)) for o in out_leaves]),
            unflatten(out_def, [_lower(t, _is_live(t)) for t in out_tangents]))


def _seed(primal, tangent, level, where):
    wire = _lift(primal, where)
    wire.requires_grad = isinstance(primal, Tensor) and primal.requires_grad
    tangent_value = tangent._value if isinstance(tangent, Tensor) else np.asarray(tangent)
    if np.asarray(tangent_value).dtype.kind not in "biuf":
        raise TypeError(f"{where}: tangents hold real numbers, not {tangent_value.dtype}")
    if np.shape(tangent_value) != wire.shape:
        raise ShapeError(f"{where}: tangent of shape {np.shape(tangent_value)} for a primal "
                         f"of shape {wire.shape}")
    if isinstance(tangent, Tensor):
        tangent = tangent.astype(wire.dtype)
    else:
        tangent = tangent_value.astype(wire.dtype)
        tangent = tangent[()] if tangent.ndim == 0 else tangent
    wire._tangents = dict(wire._tangents or {})
    wire._tangents[level] = tangent
    keep_tracked(tangent)  # the wire holds it (core/node.py)
    return wire


def _tangent_at(t, level):
    tangent = t._tangents.get(level) if t._tangents else None
    if tangent is None:
        zeros = backend.zeros_like(np.asarray(t._value))
        return zeros[()] if zeros.ndim == 0 else zeros
    return tangent


# ----- Jacobians and Hessians -----------------------------------------------------------------
def jacobian(f, argnums=0, mode="rev"):
    """The Jacobian of array-valued ``f`` with respect to one array argument.

    Shape: ``out.shape + arg.shape``. ``mode="rev"`` takes one reverse pass per output
    element, ``mode="fwd"`` one forward pass per input element: pick the smaller side.

    >>> import circuitgrad as cg, numpy as np
    >>> cg.jacobian(lambda x: x ** 2)(np.array([1.0, 3.0])).tolist()
    [[2.0, 0.0], [0.0, 6.0]]
    """
    if not isinstance(argnums, numbers.Integral):
        raise ValueError("jacobian differentiates with respect to one argument; "
                         "pass an int argnums")
    if mode not in ("rev", "fwd"):
        raise ValueError(f"jacobian mode must be 'rev' or 'fwd', not {mode!r}")

    where = f"jacobian({getattr(f, '__name__', 'f')})"

    def wrapped(*args):
        (k,) = _argnums_tuple(argnums, len(args), where)
        # f_of_x below holds the other arguments in a closure: make them constants here
        args = [a if i == k else _constants(a) for i, a in enumerate(args)]
        x = args[k]
        if isinstance(x, (dict, list, tuple)):
            raise TypeError(f"{where}: argument {k} is a {type(x).__name__}; jacobian "
                            f"differentiates with respect to one array (for a tree of "
                            f"arrays, take the jacobian of each leaf, or use vjp)")
        x_shape = np.shape(x._value if isinstance(x, Tensor) else x)

        def f_of_x(xk):
            return f(*args[:k], xk, *args[k + 1:])

        if mode == "rev":
            out, back = vjp(f_of_x, x)
            _one_array_out(out, where)
            out_shape = np.shape(out._value if isinstance(out, Tensor) else out)
            rows = []
            for j in range(int(np.prod(out_shape))):
                e = backend.zeros(int(np.prod(out_shape)))
                e[j] = 1.0
                rows.append(back(e.reshape(out_shape))[0])
            return _assemble(rows, out_shape, x_shape, by="rows")
        columns, out_shape = [], None
        for j in range(int(np.prod(x_shape))):
            e = backend.zeros(int(np.prod(x_shape)))
            e[j] = 1.0
            out, col = jvp(f_of_x, (x,), (e.reshape(x_shape),))
            _one_array_out(out, where)
            out_shape = np.shape(out._value if isinstance(out, Tensor) else out)
            columns.append(col)
        if out_shape is None:  # empty input: no columns; one pass (a zero tangent) for the shape
            out, _ = jvp(f_of_x, (x,), (backend.zeros(x_shape),))
            _one_array_out(out, where)
            out_shape = np.shape(out._value if isinstance(out, Tensor) else out)
        return _assemble(columns, out_shape, x_shape, by="columns")

    wrapped.__name__ = f"jacobian_{getattr(f, '__name__', 'f')}"
    return wrapped


def _one_array_out(out, where):
    if isinstance(out, (dict, list, tuple)):
        raise TypeError(f"{where}: the function returned a {type(out).__name__}; jacobian "
                        f"takes functions that return one array (take the jacobian of each "
                        f"output separately)")


def _assemble(pieces, out_shape, x_shape, by):
    """Stack per-row (or per-column) results into an out_shape + x_shape Jacobian."""
    from . import functions as F

    n_out, n_in = int(np.prod(out_shape)), int(np.prod(x_shape))
    if not pieces:
        return backend.zeros(tuple(out_shape) + tuple(x_shape))
    if any(isinstance(p, Tensor) for p in pieces):
        flat = F.stack([as_tensor(p).reshape(-1) for p in pieces], axis=0)
        matrix = flat if by == "rows" else flat.T
        return matrix.reshape(tuple(out_shape) + tuple(x_shape))
    flat = np.stack([np.reshape(p, -1) for p in pieces])
    matrix = flat if by == "rows" else flat.T
    return matrix.reshape((n_out,) + (n_in,)).reshape(tuple(out_shape) + tuple(x_shape))


def hessian(f, argnums=0):
    """The Hessian of scalar-valued ``f``: forward mode over the reverse-mode gradient.

    >>> import circuitgrad as cg, numpy as np
    >>> A = np.array([[1.0, 2.0], [0.0, 3.0]])
    >>> cg.hessian(lambda x: x @ A @ x)(np.ones(2)).tolist()   # A + A.T
    [[2.0, 2.0], [2.0, 6.0]]
    """
    return jacobian(grad(f, argnums), argnums, mode="fwd")


def hvp(f, primals, tangents):
    """Hessian-vector product of scalar ``f`` at ``primals`` along ``tangents``.

    Forward over reverse: one gradient evaluation's cost, never the whole Hessian. A
    tangent of None marks its primal as data, as in ``jvp``; the result has one entry per
    primal with a tangent (the array itself when there is one).
    """
    primals, tangents = tuple(primals), tuple(tangents)
    nums = tuple(k for k, t in enumerate(tangents) if t is not None)
    if not nums:
        raise ValueError("hvp: every tangent is None; give one for at least one primal")
    return jvp(grad(f, argnums=nums[0] if len(nums) == 1 else nums), primals, tangents)[1]
