"""Tensor: the value on a wire of the circuit, and ``apply``, the one place a gate runs.

A Tensor holds its value (a NumPy array, or a NumPy scalar for 0-d data: NumPy scalars
skip most of NumPy's per-call cost, which is what makes scalar circuits fast), and, when
it came out of a recorded gate, that gate and its inputs. The circuit is nothing more than
these links; ``backward`` walks them in reverse.
"""

import numbers
import weakref

import numpy as np

from . import backend
from .core import anomaly as _anomaly
from .core import backward as _backward
from .core import gate as _gate_core
from .core import node as _node_mod
from .core import trace as _trace
from .core.node import ABSENT as _ABSENT
from .core.node import (
    Meta,
    Node,
    Wire,
    keep_all_tracked,
    keep_tracked,
    newest,
    overwritten,
    place,
    stored_inputs,
    versions_read,
)
from .core.saved import SavedArrays, is_locked
from .core.trace import levels_below, switches
from .errors import NotDifferentiableError, ShapeError

# Gate families reach this module only inside their rules, so they can be imported first.
from .gates import elementwise as _ew  # noqa: I001
from .gates import failures as _failures
from .gates import indexing as _ix
from .gates import linalg as _la
from .gates import reduce as _rd
from .gates import shape as _sh

_NO_PARAMS = {}
_ndarray = backend.ndarray  # module globals: `type(x) is _ndarray` stays one lookup
_generic = backend.generic
_NUMBERS = (float, int, np.float64, np.float32)
_FIRST, _SECOND, _BOTH = (0,), (1,), (0, 1)  # shared edge lists: no allocation per gate


def _binary(gate, a, b):
    """``a OP b`` through ``gate``: the fast path behind every arithmetic operator.

    Scalar circuits are made almost entirely of these calls, so the common case (two plain
    Tensors, or a Tensor and a number) is spelled out here; anything unusual (arrays as
    constants, Tensor subclasses, large outputs, forward mode) goes to ``apply``.
    (``ta`` and ``tb`` are typed Tensor locals in the compiled build: C field reads.)
    """
    if type(a) is Tensor:
        ta = a
        if ta._node is not None:
            return apply(gate, (a, b))
        av = ta._value
        ga = ta.requires_grad
        seen = ta._version
    elif type(a) in _NUMBERS:
        av = a
        ga = False
        seen = 0
    else:
        return apply(gate, (a, b))
    if type(b) is Tensor:
        tb = b
        if tb._node is not None:
            return apply(gate, (a, b))
        bv = tb._value
        gb = tb.requires_grad
        seen += tb._version
    elif type(b) in _NUMBERS:
        bv = b
        gb = False
    else:
        return apply(gate, (a, b))
    if switches.changed:  # no_grad() or forward mode somewhere: apply reads this thread's
        return apply(gate, (a, b))
    if ga != gb and type(bv if ga else av) is _ndarray:  # a constant array: apply locks it
        return apply(gate, (a, b))
    try:
        out = gate.forward(av, bv)
    except (ValueError, IndexError) as err:
        raise _gate_error(gate, (av, bv), err) from None
    if type(out) is _ndarray:
        if out.ndim == 0:
            out = out[()]
        elif out.size >= _node_mod.KEEP_VALUES_BELOW:
            return _finish_large(gate, (a, b), out, ga or gb, _BOTH if ga and gb else
                                 _FIRST if ga else _SECOND, _NO_PARAMS)
    t = Tensor.__new__(Tensor)
    t._value = out
    t._node = t._acc = t._epoch = t._meta = None
    t._deps = t._version = 0
    t._seen = seen
    if ga or gb:  # recording is on: nothing has changed the switches
        t.requires_grad = True
        t._gate = gate
        t._a = a
        t._b = b
        t._more = None
        t._params = _NO_PARAMS
        t._edges = _BOTH if ga and gb else _FIRST if ga else _SECOND
        if _COMPILED:
            _hide(t, a, b)
    else:
        t.requires_grad = False
        t._gate = t._a = t._b = t._more = t._params = t._edges = None
    return t


# Compiled with a compiled node.py, the fast paths hide the records they make from the cyclic
# garbage collector (core/node.py, keep_tracked).
_COMPILED = not __file__.endswith(".py") and _node_mod.hides_wires()


def _hide(t, a, b):
    """Untrack ``t``, a new record of inputs ``a`` and ``b``, from the cyclic collector when
    each input is a number, a hidden record or a leaf: then nothing ``t`` reaches can hold
    it. Otherwise ``t`` stays tracked, and so must every wire it reaches."""
    if type(a) is Tensor:
        ta = a
        if ta._gate is not None and cg_gc_is_tracked(ta):  # noqa: F821 -- tensor.pxd
            keep_tracked(b)
            return
    if type(b) is Tensor:
        tb = b
        if tb._gate is not None and cg_gc_is_tracked(tb):  # noqa: F821
            keep_tracked(a)
            return
    cg_gc_untrack(t)  # noqa: F821


def _unary(gate, a):
    """``gate`` on one tensor (``t.exp()``, ``-t``...): the fast path of one-input gates
    without parameters, like ``_binary``."""
    if switches.changed or type(a) is not Tensor:
        return apply(gate, (a,))
    ta = a
    if ta._node is not None:
        return apply(gate, (a,))
    av = ta._value
    try:
        out = gate.forward(av)
    except (ValueError, IndexError) as err:
        raise _gate_error(gate, (av,), err) from None
    if type(out) is _ndarray:
        if out.ndim == 0:
            out = out[()]
        elif out.size >= _node_mod.KEEP_VALUES_BELOW:
            return _finish_large(gate, (a,), out, ta.requires_grad, _FIRST, _NO_PARAMS)
    t = Tensor.__new__(Tensor)
    t._value = out
    t._node = t._acc = t._epoch = t._meta = None
    t._deps = t._version = 0
    t._seen = ta._version
    if ta.requires_grad:  # a float input gives a float output; recording is on
        t.requires_grad = True
        t._gate = gate
        t._a = a
        t._b = _ABSENT
        t._more = None
        t._params = _NO_PARAMS
        t._edges = _FIRST
        if _COMPILED:
            _hide(t, a, _ABSENT)
    else:
        t.requires_grad = False
        t._gate = t._a = t._b = t._more = t._params = t._edges = None
    return t


class Tensor(Wire):
    """A value on a wire: a NumPy array (0-d: a NumPy scalar) plus its place in the circuit.

    Make one with :func:`circuitgrad.tensor`. Gradients land in ``.grad`` after
    ``backward()``; they add up over calls (clear with ``x.grad = None``).

    >>> import circuitgrad as cg
    >>> x = cg.tensor(4.0, requires_grad=True)
    >>> y = cg.tensor(-3.0, requires_grad=True)
    >>> f = x * y
    >>> f.backward()
    >>> float(f), float(x.grad), float(y.grad)
    (-12.0, -3.0, 4.0)
    """

    # A recorded gate's output keeps the gate, its inputs (Wires or constants: the first
    # in _a, the second in _b, any others in the tuple _more), its params, and _edges: the
    # positions of inputs that need a gradient. _gate is None for a leaf. These are slots
    # of Wire (core/node.py) rather than a node object and an inputs tuple: one object per
    # gate keeps allocation and garbage-collector work low. Large arrays are the exception:
    # their record is a separate Node in _node. _acc, _deps and _epoch are the backward
    # walk's running gradient (left on small wires afterwards: pictures show it),
    # pending-consumer count (WALKED once the walk has freed the gate), and the walk they
    # belong to.
    # What few tensors carry (.grad, a name, retain_grad, tangents) waits in _meta.
    __slots__ = ()

    # Make ndarray op Tensor defer to Tensor's reflected operators.
    __array_priority__ = 1000

    def __init__(self, data, requires_grad=False, dtype=None, name=None):
        value = _to_value(data, dtype)
        if requires_grad and not _is_float(value):
            raise NotDifferentiableError(
                f"only floating-point tensors can require gradients; this data has dtype "
                f"{np.result_type(value)} (make it float with dtype=np.float64)")
        self._value = value
        self._node = self._gate = self._a = self._b = self._more = None
        self._params = self._edges = None
        self.requires_grad = bool(requires_grad)
        self._acc = self._epoch = self._meta = None
        self._deps = self._version = self._seen = 0
        if name is not None:
            self.name = name

    # ----- what the wire carries -------------------------------------------------------
    @property
    def data(self):
        """The value: an ndarray (for 0-d tensors a NumPy scalar). Settable, keeps the circuit."""
        return self._value

    @data.setter
    def data(self, value):
        """Replace the value (shape and, for float tensors, dtype kept); arrays are not copied.

        ``p.data -= lr * p.grad`` updates in place and stores the same array back.
        """
        if isinstance(value, _ndarray) and value.ndim and value.dtype == self._value.dtype:
            if value.shape != np.shape(self._value):
                raise ShapeError(f"cannot set .data of shape {np.shape(self._value)} "
                                 f"to a value of shape {value.shape}")
            self._value = value
            changed_in_place(self)
            return
        value = _to_value(value, None)
        if np.shape(value) != np.shape(self._value):
            raise ShapeError(f"cannot set .data of shape {np.shape(self._value)} "
                             f"to a value of shape {np.shape(value)}")
        if _is_float(self._value):
            value = value.astype(self._value.dtype, copy=False)
        self._value = value
        changed_in_place(self)

    @property
    def shape(self):
        return self._value.shape

    @shape.setter
    def shape(self, shape):
        reshape_in_place(self, shape)

    @property
    def flat(self):
        """NumPy's flat view: ``t.flat[i]`` reads entry i of the flattened tensor and
        ``t.flat[i] = v`` writes it (a recorded write); iterating gives the entries."""
        return Flat(self)

    @property
    def ndim(self):
        return self._value.ndim

    @property
    def dtype(self):
        return self._value.dtype

    @property
    def size(self):
        return self._value.size

    @property
    def T(self):
        return self.transpose()

    @property
    def grad(self):
        """The gradient ``backward()`` left here (leaves, retained intermediates), or None."""
        meta = self._meta
        return None if meta is None else meta.grad

    @grad.setter
    def grad(self, value):
        if value is None:
            if self._meta is None:
                return
        else:  # the next backward() adds into it: a wrong shape would broadcast silently
            shape = value.shape if hasattr(value, "shape") else np.shape(value)
            if shape != self._value.shape:
                raise ShapeError(f"cannot set .grad of a tensor of shape {self._value.shape} "
                                 f"to a value of shape {shape}")
        self._meta_or_new().grad = value
        keep_tracked(value)  # with create_graph, a circuit that may lead back here

    @property
    def name(self):
        """A label for pictures and listings (inputs show it; so do named intermediates)."""
        meta = self._meta
        return None if meta is None else meta.name

    @name.setter
    def name(self, value):
        self._meta_or_new().name = value
        if self._node is not None:
            self._node.name = value

    @property
    def _tangents(self):
        """Forward-mode tangents by level (see core/trace.py), or None."""
        meta = self._meta
        if meta is None:
            return None
        if meta.current is not None:  # written to: the newest version's
            return meta.current._tangents
        return meta.tangents

    @_tangents.setter
    def _tangents(self, value):
        self._meta_or_new().tangents = value
        keep_all_tracked(value)

    def _meta_or_new(self):
        meta = self._meta
        if meta is None:
            keep_tracked(self)  # what a Meta holds can be newer than self (core/node.py)
            meta = self._meta = Meta()
        return meta

    @property
    def is_leaf(self):
        """True for tensors made by the user rather than by a recorded gate."""
        return self._gate is None and self._node is None

    @property
    def gate(self):
        """The gate that produced this tensor (for one written to, its last write), or None
        for a leaf."""
        return place(newest(self))._gate

    @property
    def inputs(self):
        """The gate's inputs (Wires or constants); empty for a leaf.

        An input whose large value no backward rule needed (or, after ``backward()``, any
        input with a large value) shows as a Node, whose ``data`` is None.
        """
        return stored_inputs(place(newest(self)))

    @property
    def params(self):
        """The gate's non-tensor parameters (axis, shape, index...)."""
        return place(newest(self))._params or {}

    def item(self):
        """The value as a Python number (size-1 tensors only). Inside a transform, on a
        tensor it differentiates, this raises: the number would carry no gradient."""
        _refuse_number(self, "item()")
        return self._value.item()

    def tolist(self):
        """The value as nested Python lists (refused like ``item()`` inside a transform)."""
        _refuse_number(self, "tolist()")
        return self._value.tolist()

    def numpy(self):
        """The value as an ndarray, detached from the circuit (0-d gives a 0-d array)."""
        return np.asarray(self._value)

    def __reduce__(self):
        """Copies and pickles carry the value, ``requires_grad``, the name and ``.grad``, not
        the circuit: a copy of an intermediate is a leaf (its gates hold functions and
        other wires, which a copy could not share sensibly)."""
        return (_rebuild, (type(self), self._value, self.requires_grad, self.name, self.grad))

    def detach(self):
        """A new leaf sharing this value, cut from the circuit."""
        out = _wrap(self._value)
        if self.name is not None:
            out.name = self.name
        return out

    def retain_grad(self):
        """Keep this intermediate's gradient in ``.grad`` after ``backward()``."""
        if not self.requires_grad:
            raise NotDifferentiableError(
                "retain_grad() on a tensor that does not require gradients")
        self._meta_or_new().retains = True
        wire = place(newest(self))  # a Node, or the newest version of a written tensor
        if wire is not self:
            _hand_gradient_to(wire, self)
        return self

    def requires_grad_(self, flag=True):
        """Set ``requires_grad`` on a leaf in place; returns the tensor."""
        if not self.is_leaf:
            raise NotDifferentiableError(
                "requires_grad_ works on leaves only; use detach() first")
        if flag and not _is_float(self._value):
            raise NotDifferentiableError(
                f"only floating-point tensors can require gradients, not {self.dtype}")
        self.requires_grad = bool(flag)
        return self

    def zero_grad(self):
        """Forget the accumulated gradient (same as ``x.grad = None``)."""
        self.grad = None

    def backward(self, g=None, retain_graph=None, create_graph=False, detect_anomaly=False):
        """Back-propagate from this tensor; gradients add into each leaf's ``.grad``.

        ``g`` is the upstream gradient, of this tensor's shape; it may be left out only for
        a single-element output. Saved values are freed afterwards unless
        ``retain_graph=True``. ``create_graph=True`` makes the gradients Tensors that are
        themselves differentiable. ``detect_anomaly=True`` checks every gradient, as
        ``cg.detect_anomaly()`` does (the forward pass too, when run inside that block).
        """
        if detect_anomaly:
            with _trace.detect_anomaly():
                return self.backward(g, retain_graph, create_graph)
        if not self.requires_grad:
            raise NotDifferentiableError(
                "backward() on a tensor that does not require gradients: no input of its "
                "circuit has requires_grad=True (or it was computed under no_grad())")
        if not create_graph and isinstance(g, Tensor):
            g = g._value  # no circuit is built for the gradients: only g's value counts
        g = _initial_cotangent(self, g, "backward()")
        if retain_graph is None:
            retain_graph = create_graph
        _backward.backprop([self], [g], retain_graph=retain_graph, create_graph=create_graph)

    # ----- display -----------------------------------------------------------------------
    def __repr__(self):
        body = np.array2string(np.asarray(self._value), separator=", ", precision=4,
                               threshold=20, prefix="tensor(")
        extras = []
        if self._value.dtype != np.float64:
            extras.append(f"dtype={self._value.dtype}")
        if not self.is_leaf:
            extras.append(f"gate={self.gate.name}")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        if self.name:
            extras.append(f"name={self.name!r}")
        return "tensor(" + ", ".join([body] + extras) + ")"

    # ----- conversions -------------------------------------------------------------------
    def __float__(self):
        _refuse_number(self, "float()")
        return float(self._value)

    def __complex__(self):
        _refuse_number(self, "complex()")
        return complex(self._value)

    def __int__(self):
        if conversion_guards:
            conversion_guards[-1](self, "int()")
        return int(self._value)

    def __index__(self):
        if self._value.dtype.kind not in "iu":
            raise TypeError(f"only integer tensors can be used as an index, not {self.dtype}")
        if conversion_guards:
            conversion_guards[-1](self, "using it as an index")
        return int(self._value)

    def __bool__(self):
        if conversion_guards:  # cg.compile is tracing: a branch on a value would be fixed
            conversion_guards[-1](self, "bool() (an if or while on a value)")
        return bool(self._value)

    def __len__(self):
        if self._value.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return len(self._value)

    def __iter__(self):
        if self._value.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(len(self._value)))

    def __array__(self, dtype=None, copy=None):
        if self.requires_grad:
            raise NotDifferentiableError(
                "converting a tensor that requires gradients to a NumPy array would drop its "
                "gradient. NumPy array methods convert a tensor they are given: for X.dot(W) "
                "with X a NumPy array (one held in a closure or an attribute, self.X), pass X "
                "as an argument of the differentiated function (then it arrives as a "
                "constant tensor), or write X @ W / np.dot(X, W). Elsewhere use NumPy "
                "functions on the tensor (np.exp(t), np.sum(t), ...), or call "
                ".detach().numpy() if dropping the gradient is what you want")
        # a forward-mode tangent too
        _refuse_number(self, "converting to a NumPy array (as X.dot(t) does with a NumPy X: "
                             "pass X as an argument, with a None tangent in jvp, or write X @ t)")
        value = np.asarray(self._value, dtype=dtype)
        return value.copy() if copy else value

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        return _upper.array_ufunc(ufunc, method, inputs, kwargs)

    def __array_function__(self, func, types, args, kwargs):
        return _upper.array_function(func, args, kwargs)

    def __hash__(self):  # identity: tensors are graph nodes, usable as dict keys
        return object.__hash__(self)

    # ----- arithmetic: each operator is one gate ---------------------------------------------
    # The binary operators share one fast path, _binary (above the class). Each is written
    # out: a compiled class takes its operators only from methods defined in its body.
    def __add__(self, other):
        return _binary(_ew.add, self, other)

    def __radd__(self, other):
        return _binary(_ew.add, other, self)

    def __sub__(self, other):
        return _binary(_ew.sub, self, other)

    def __rsub__(self, other):
        return _binary(_ew.sub, other, self)

    def __mul__(self, other):
        return _binary(_ew.mul, self, other)

    def __rmul__(self, other):
        return _binary(_ew.mul, other, self)

    def __truediv__(self, other):
        return _binary(_ew.div, self, other)

    def __rtruediv__(self, other):
        return _binary(_ew.div, other, self)

    def __mod__(self, other):
        return _binary(_ew.remainder, self, other)

    def __rmod__(self, other):
        return _binary(_ew.remainder, other, self)

    # Floor division is piecewise constant: like a comparison, its result is a plain tensor.
    def __floordiv__(self, other):
        return _compare(np.floor_divide, self, other)

    def __rfloordiv__(self, other):
        return _compare(np.floor_divide, other, self)

    def __pow__(self, other):
        if type(other) in _NUMBERS and other == 2:
            return _unary(_ew.square, self)
        if isinstance(other, numbers.Real) and not isinstance(other, bool):
            return apply(_ew.pow_const, (self,), {"p": other})
        return apply(_ew.pow, (self, other))

    def __rpow__(self, other):
        return apply(_ew.pow, (other, self))

    def __matmul__(self, other):
        return _binary(_la.matmul, self, other)

    def __rmatmul__(self, other):
        return _binary(_la.matmul, other, self)

    def __neg__(self):
        return _unary(_ew.neg, self)

    def __pos__(self):
        return self

    def __abs__(self):
        return _unary(_ew.abs, self)

    # Comparisons are not differentiable: they give boolean tensors outside the circuit.
    def __lt__(self, other):
        return _compare(np.less, self, other)

    def __le__(self, other):
        return _compare(np.less_equal, self, other)

    def __gt__(self, other):
        return _compare(np.greater, self, other)

    def __ge__(self, other):
        return _compare(np.greater_equal, self, other)

    def __eq__(self, other):
        return _compare(np.equal, self, other)

    def __ne__(self, other):
        return _compare(np.not_equal, self, other)

    # Boolean logic on masks, outside the circuit like comparisons.
    def __and__(self, other):
        return _compare(np.bitwise_and, self, other)

    def __rand__(self, other):
        return _compare(np.bitwise_and, other, self)

    def __or__(self, other):
        return _compare(np.bitwise_or, self, other)

    def __ror__(self, other):
        return _compare(np.bitwise_or, other, self)

    def __xor__(self, other):
        return _compare(np.bitwise_xor, self, other)

    def __invert__(self):
        return _wrap(np.invert(self._value))

    def __getitem__(self, index):
        return apply(_ix.getitem, (self,), {"index": _ix.normalize_index(index)})

    def __setitem__(self, index, value):
        """``t[index] = value``, as NumPy writes it: a ``setitem`` gate on a new version of
        this wire (see ``write``), so gradients flow to ``value`` and to what ``t`` held."""
        index = _ix.normalize_index(index)
        write(self, index, value, f"t[{_ix.index_text(index)}] = ...")

    # ----- elementwise methods (each through the fast path _unary) --------------------------
    def exp(self):
        return _unary(_ew.exp, self)

    def log(self):
        return _unary(_ew.log, self)

    def sqrt(self):
        return _unary(_ew.sqrt, self)

    def abs(self):
        return _unary(_ew.abs, self)

    def relu(self):
        return _unary(_ew.relu, self)

    def sigmoid(self):
        return _unary(_ew.sigmoid, self)

    def tanh(self):
        return _unary(_ew.tanh, self)

    def clip(self, lo=None, hi=None):
        return _upper.clip(self, lo, hi)

    def astype(self, dtype, copy=True):
        """The values in ``dtype`` (float to float is a gate; ``copy`` is accepted as NumPy
        takes it: a tensor's value is never shared with the caller's array anyway)."""
        dtype = np.dtype(dtype)
        if dtype == self._value.dtype:
            return self
        if dtype.kind != "f":
            return _wrap(self._value.astype(dtype))
        return apply(_ew.cast, (self,), {"dtype": dtype})

    def copy(self):
        """A copy of the value on a new wire; the gradient passes through (``np.copy``)."""
        return _unary(_ew.copy, self)

    def ravel(self, order="C"):
        return _upper.ravel(self, order)

    # ----- in-place arithmetic ------------------------------------------------------------
    # ``p -= lr * p.grad`` on a leaf, with nothing recording (under no_grad(), or a tensor
    # nothing differentiates), updates the value in place, as NumPy and PyTorch do. On a
    # parameter while recording it raises: rebinding the name would leave the model as it
    # was. On an intermediate it gives a new wire (the name is rebound).
    def __iadd__(self, other):
        return _in_place(self, other, np.add)

    def __isub__(self, other):
        return _in_place(self, other, np.subtract)

    def __imul__(self, other):
        return _in_place(self, other, np.multiply)

    def __itruediv__(self, other):
        return _in_place(self, other, np.divide)

    def __ipow__(self, other):
        return _in_place(self, other, np.power)

    def dot(self, other):
        """``W.dot(X)`` as the notes write it: np.dot for 0-d, 1-d and 2-d operands."""
        return _upper.dot(self, other)

    # ----- reductions --------------------------------------------------------------------
    def sum(self, axis=None, keepdims=False):
        return apply(_rd.sum, (self,), _rd.reduce_params(self, axis, keepdims))

    def mean(self, axis=None, keepdims=False):
        return apply(_rd.mean, (self,), _rd.reduce_params(self, axis, keepdims))

    def max(self, axis=None, keepdims=False):
        return apply(_rd.max, (self,), _rd.reduce_params(self, axis, keepdims))

    def min(self, axis=None, keepdims=False):
        return apply(_rd.min, (self,), _rd.reduce_params(self, axis, keepdims))

    def var(self, axis=None, keepdims=False, ddof=0):
        return _upper.var(self, axis=axis, keepdims=keepdims, ddof=ddof)

    def std(self, axis=None, keepdims=False, ddof=0):
        return _upper.std(self, axis=axis, keepdims=keepdims, ddof=ddof)

    def logsumexp(self, axis=None, keepdims=False):
        return apply(_rd.logsumexp, (self,), _rd.reduce_params(self, axis, keepdims))

    def prod(self, axis=None, keepdims=False):
        return apply(_rd.prod, (self,), _rd.reduce_params(self, axis, keepdims))

    def cumsum(self, axis=None):
        return np.cumsum(self, axis=axis)  # NumPy dispatch: cg.cumsum (axis=None flattens)

    def cumprod(self, axis=None):
        return np.cumprod(self, axis=axis)

    def argmax(self, axis=None):
        return _wrap(np.asarray(np.argmax(self._value, axis=axis))[()])

    def argmin(self, axis=None):
        return _wrap(np.asarray(np.argmin(self._value, axis=axis))[()])

    # ----- ndarray methods NumPy code calls on its arrays (through NumPy's functions) -------
    def any(self, axis=None, keepdims=False):
        return np.any(self, axis=axis, keepdims=keepdims)

    def all(self, axis=None, keepdims=False):
        return np.all(self, axis=axis, keepdims=keepdims)

    def nonzero(self):
        return np.nonzero(self)

    def argsort(self, axis=-1):
        return np.argsort(self, axis=axis)

    def round(self, decimals=0):
        return np.round(self, decimals)

    def take(self, indices, axis=None):
        return np.take(self, indices, axis=axis)

    def repeat(self, repeats, axis=None):
        return np.repeat(self, repeats, axis=axis)

    def diagonal(self, offset=0, axis1=0, axis2=1):
        return np.diagonal(self, offset, axis1, axis2)

    def trace(self, offset=0, axis1=0, axis2=1):
        return np.trace(self, offset, axis1, axis2)

    def sort(self, axis=-1):
        """Sorts in place, as ``ndarray.sort`` does: a recorded write of ``np.sort(t)``."""
        self[...] = np.sort(self, axis=axis)

    def fill(self, value):
        """Every entry set to ``value``, in place (a recorded write)."""
        self[...] = value

    @property
    def nbytes(self):
        return self._value.nbytes

    @property
    def itemsize(self):
        return self._value.itemsize

    # ----- shape -------------------------------------------------------------------------
    def reshape(self, *shape):
        if len(shape) == 1 and not isinstance(shape[0], numbers.Integral):
            shape = shape[0]
        return _sh.reshape_tensor(self, shape)

    def flatten(self):
        return _sh.reshape_tensor(self, (-1,))

    def transpose(self, *axes):
        if len(axes) == 1 and not isinstance(axes[0], numbers.Integral):
            axes = axes[0]
        return _sh.transpose_tensor(self, axes or None)

    def swapaxes(self, a, b):
        return _sh.swapaxes(self, a, b)

    def squeeze(self, axis=None):
        return _sh.squeeze(self, axis)

    def expand_dims(self, axis):
        return _sh.expand_dims(self, axis)

    def broadcast_to(self, shape):
        return _sh.broadcast_to(self, shape)


# ----- making tensors ----------------------------------------------------------------------
def _wrap(value):
    """A fresh leaf around an already-normalised value (internal fast path)."""
    t = Tensor.__new__(Tensor)
    t._value = value
    t._node = t._gate = t._a = t._b = t._more = t._params = t._edges = None
    t.requires_grad = False
    t._acc = t._epoch = t._meta = None
    t._deps = t._version = t._seen = 0
    return t


def _rebuild(cls, value, requires_grad, name, grad):
    """The other half of ``Tensor.__reduce__``: a leaf of class ``cls``."""
    t = cls.__new__(cls)
    t._value = value
    t._node = t._gate = t._a = t._b = t._more = t._params = t._edges = None
    t._acc = t._epoch = t._meta = None
    t._deps = t._version = t._seen = 0
    t.requires_grad = requires_grad
    if name is not None:
        t.name = name
    if grad is not None:
        t.grad = grad
    return t


def _to_value(data, dtype):
    """Normalise user data: arrays copied, Python numbers to float64, 0-d to NumPy scalars."""
    if isinstance(data, Tensor):
        value = np.array(data._value, dtype=dtype)
    elif isinstance(data, (_ndarray, _generic)):
        value = np.array(data, dtype=dtype)
    else:
        try:
            value = np.array(data, dtype=dtype)
        except NotDifferentiableError:  # a list holding tensors that need gradients
            raise NotDifferentiableError(
                "cg.tensor([...]) of tensors that need gradients would drop them; use "
                "cg.stack([...]) (or cg.concatenate) to combine them") from None
        if value.dtype == object:
            raise TypeError(
                "cannot make a tensor from this data (a list holding tensors or mixed "
                "objects?); combine tensors with cg.stack or cg.concatenate")
        if dtype is None and value.dtype.kind in "iu":
            value = value.astype(np.float64)  # Python numbers become float64
    if value.dtype.kind not in "biuf":
        raise TypeError(f"tensors hold boolean, integer or real data, not {value.dtype}")
    return value[()] if value.ndim == 0 else value


def _is_float(value):
    return value.dtype.kind == "f"


def tensor(data, requires_grad=False, dtype=None, name=None):
    """Make a Tensor from an array, a nested list or a number.

    float32 and float64 data keep their dtype; Python numbers become float64. Integer and
    boolean tensors may flow through a circuit but cannot require gradients. The data is
    copied, so later changes to the source array do not reach the tensor.

    >>> import circuitgrad as cg
    >>> cg.tensor([[1, 2], [3, 4]]).dtype
    dtype('float64')
    >>> cg.tensor(2.5, requires_grad=True, name="w")
    tensor(2.5, requires_grad=True, name='w')
    """
    return Tensor(data, requires_grad=requires_grad, dtype=dtype, name=name)


def as_tensor(x):
    """``x`` itself if it is a Tensor, otherwise a constant (non-differentiable) leaf."""
    return x if isinstance(x, Tensor) else _wrap(_to_value(x, None))


def _compare(ufunc, a, b):
    """A non-differentiable elementwise result (comparison, mask logic) as a plain tensor."""
    return _wrap(ufunc(_raw(a), _raw(b)))


def _raw(x):
    return x._value if isinstance(x, Tensor) else x


# ----- running one gate ---------------------------------------------------------------------
def apply(gate, inputs, params=_NO_PARAMS):
    """Run ``gate`` forward on ``inputs`` (Tensors or constants); record it if needed.

    This is the only place a gate's forward runs on tensors: it computes the value,
    records the gate (when reverse mode records and some input requires a gradient) and
    pushes forward-mode tangents through the gate's JVP rules.
    """
    if len(inputs) == 1:  # reductions, reshapes, indexing: spelled out, it is the hot path
        x = inputs[0]
        if isinstance(x, Tensor):
            if x._node is not None and x._meta is not None and x._meta.current is not None:
                x = _read_newest(x)
                inputs = (x,)
            values = (x._value,)
            edges = _FIRST if x.requires_grad else ()
        else:
            values, edges = inputs, ()
    else:
        values = []
        edges = []
        lists = False
        for i, x in enumerate(inputs):
            if isinstance(x, Tensor):
                if x._node is not None and x._meta is not None and x._meta.current is not None:
                    x = _read_newest(x)
                    lists = True  # the record holds the newest version, not the handle
                values.append(x._value)
                if x.requires_grad:
                    edges.append(i)
            elif type(x) is list or type(x) is tuple:
                values.append(np.asarray(x))  # a constant written as a list, as NumPy reads it
                lists = True
            else:
                values.append(x)
        edges = tuple(edges)
        if lists:  # the rules then see the array too (and a written tensor's newest version)
            inputs = tuple([_newest_input(x) if isinstance(x, Tensor) else v
                            for x, v in zip(inputs, values, strict=True)])
    try:
        out = gate.forward(*values, **params)
    except (ValueError, IndexError) as err:
        raise _gate_error(gate, values, err) from None
    except TypeError as err:
        raise _gate_type_error(gate, values, err) from None
    except FloatingPointError as err:  # np.errstate(all="raise"): say which gate
        shapes = ", ".join([str(np.shape(v)) for v in values])  # a list: no closure (Cython)
        raise FloatingPointError(f"gate '{gate.name}' on inputs of shapes {shapes}: {err}") \
            from err
    if type(out) is _ndarray and out.ndim == 0:
        out = out[()]
    try:
        kind = out.dtype.kind
    except AttributeError:
        kind = None
    if kind is None or kind not in "biuf":
        raise _output_error(gate, values, out)
    t = _wrap(out)
    state = _trace.current()
    if edges and state.grad_enabled and kind == "f":
        _record(t, gate, inputs, params, edges, state.levels)
    if state.anomaly:
        _anomaly.check_forward(gate, values, out, t if t._node is None else t._node)
    if state.levels:
        _push_tangents(t, gate, inputs, params, state.levels)
    if gate.views and type(out) is _ndarray and out.base is not None:
        _remember_view(inputs[0], t, gate, params)
    return t


def _remember_view(base, view, gate, params):
    """Note on ``base`` that ``view`` shows part of its array (made by ``gate`` with
    ``params``): a later write into ``base`` brings the view up to date (``_refresh_views``)."""
    if not isinstance(base, Tensor):
        return
    meta = base._meta_or_new()
    views = meta.views
    if views is None:
        views = meta.views = []
    elif len(views) >= 16 and len(views) & (len(views) - 1) == 0:  # now and then: drop dead
        views[:] = [entry for entry in views if entry[0]() is not None]
    views.append((weakref.ref(view), gate, params))


def _record(t, gate, inputs, params, edges, levels=()):
    """Make ``t`` the recorded output of ``gate``: its own record, or a Node if large."""
    t.requires_grad = True
    saves = gate.saves
    if saves is not None:  # inputs whose values the rules never read: keep only their wire
        for i, x in enumerate(inputs):
            if i not in saves and isinstance(x, Tensor) and x._node is not None:
                inputs = tuple(x if i in saves or not isinstance(x, Tensor) else place(x)
                               for i, x in enumerate(inputs))
                break
    out = t._value
    kept = _callers_arrays(inputs, saves)
    if params:  # a record (tracked) holds them: so must be the wires among them
        keep_all_tracked(params)
    # Forward mode keeps tangents on Tensors, so while it is live every wire stays a Tensor.
    if (type(out) is _ndarray and out.size >= _node_mod.KEEP_VALUES_BELOW
            and not levels):
        t._node = Node(gate, out, gate.saves_out, inputs, params, edges, t.name)
        if kept is not None:
            t._node._meta = Meta()
            t._node._meta.saved = SavedArrays(kept)
        return
    if kept is not None:
        t._meta_or_new().saved = SavedArrays(kept)
    for x in inputs:  # t is tracked: so must be the wires it holds (core/node.py)
        keep_tracked(x)
    t._gate = gate
    t._a = inputs[0]
    t._b = inputs[1] if len(inputs) > 1 else _ABSENT
    t._more = tuple(inputs[2:]) if len(inputs) > 2 else None
    t._params = params
    t._edges = edges
    t._seen = versions_read(t._a, t._b, t._more)


def _callers_arrays(inputs, saves):
    """The NumPy arrays among a gate's saved inputs that the caller may still write into:
    plain arrays, and the arrays of constant leaf tensors (data handed to a transform). None
    when there are none, the common case. Tensors the gates made are safe without a lock:
    writes into them make new versions."""
    kept = None
    for i, x in enumerate(inputs):
        if saves is not None and i not in saves:
            continue
        if type(x) is _ndarray:
            value = x
        elif (isinstance(x, Tensor) and type(x._value) is _ndarray and not x.requires_grad
              and x._gate is None and x._node is None):
            value = x._value
        else:
            continue
        if kept is None:
            kept = [value]
        else:
            kept.append(value)
    return kept


def _finish_large(gate, inputs, out, needs_grad, edges, params):
    """The fast paths hand a large output over to the general record."""
    t = _wrap(out)
    if needs_grad and _trace.current().grad_enabled:
        _record(t, gate, inputs, params, edges)
    return t


def _gate_error(gate, values, err):
    """A gate's forward failed: the error that names the gate and says why
    (``gates/failures.py``, where the messages are marked for translation)."""
    return _failures.gate_error(gate, values, err)


def _describe(values):
    return _failures.describe(values)


def _gate_type_error(gate, values, err):
    return TypeError(f"gate '{gate.name}' cannot take inputs ({_describe(values)}): {err}")


def _output_error(gate, values, out):
    """Tensors hold real numbers: a complex (or non-numeric) result would lose its gradient."""
    what = f"{out.dtype} values" if hasattr(out, "dtype") else f"a {type(out).__name__}"
    return TypeError(f"gate '{gate.name}' made {what} from inputs ({_describe(values)}); "
                     f"tensors hold boolean, integer or real data")


def _push_tangents(t, gate, inputs, params, live):
    """Forward mode: the output tangent at each live level is the sum of input JVPs."""
    levels = set()
    for x in inputs:
        if isinstance(x, Tensor) and x._tangents:
            levels.update(lv for lv in x._tangents if lv in live)
    if not levels:
        return
    if gate.jvp is None:
        raise NotDifferentiableError(f"gate '{gate.name}' has no forward-mode (jvp) rule")
    if t._value.dtype.kind != "f":
        return
    for level in sorted(levels):  # lower levels first: higher ones see them as primals
        with levels_below(level):
            tangents = [x._tangents.get(level) if isinstance(x, Tensor) and x._tangents
                        else None for x in inputs]
            out_tangent = jvp_of(gate, tangents, _twin(t), inputs, params)
        if t._tangents is None:
            t._tangents = {}
        t._tangents[level] = out_tangent
        keep_tracked(out_tangent)


def _twin(t):
    """What a tangent rule gets as ``out``: the same value on a wire with the same record
    (gate and inputs) as ``t``, but not ``t``. A rule such as exp's ``t * out`` records a gate
    holding ``out``; were that ``t``, which holds the rule's result in its tangents, the two
    would be a reference cycle (left for the garbage collector by every hvp and hessian).
    Reverse mode through the twin reaches t's inputs exactly as through ``t``."""
    h = _wrap(t._value)
    if t.requires_grad:
        keep_tracked(t)  # h, tracked, is to hold what t holds
        if t._node is not None:
            h._node = t._node
        else:
            h._gate, h._a, h._b, h._more = t._gate, t._a, t._b, t._more
            h._params, h._edges = t._params, t._edges
        h.requires_grad = True
    if t._tangents:  # the lower levels' tangents, which this level's rule sees as primals
        h._tangents = dict(t._tangents)
    return h


def jvp_of(gate, tangents, out, inputs, params):
    """Output tangent of one gate given input tangents (None means zero)."""
    if callable(gate.jvp):
        total = gate.jvp(tangents, out, *inputs, **params)
    else:
        total = None
        for i, tangent in enumerate(tangents):
            if tangent is None:
                continue
            piece = gate.jvp[i](tangent, out, *inputs, **params)
            total = piece if total is None else total + piece
    shape = np.shape(_raw(out))
    if gate.broadcasts and np.shape(_raw(total)) != shape:
        total = np.broadcast_to(total, shape)
    dtype = _raw(out).dtype
    if _raw(total).dtype != dtype:
        total = total.astype(dtype)
    return total


def _in_place(t, other, ufunc):
    """``t OP= other`` (see the in-place operators of Tensor)."""
    if t.is_leaf and not _records_write(t, other) and not _kept(t):
        value = t._value
        update = ufunc(value, other._value if isinstance(other, Tensor) else other)
        if np.shape(update) != np.shape(value):
            raise ShapeError(f"in-place update of a tensor of shape {np.shape(value)} by "
                             f"a value of shape {np.shape(other)} would change its shape")
        if type(value) is _ndarray:
            value[...] = update  # in place: other references to the array see it too
        else:
            t._value = update.astype(value.dtype)[()] if hasattr(update, "astype") else update
        changed_in_place(t)
        return t
    update = ufunc(t, other)  # NumPy dispatch: the gate of OP, recorded
    if np.shape(update) != np.shape(t._value):
        raise ShapeError(f"in-place update of a tensor of shape {np.shape(t._value)} by "
                         f"a value of shape {np.shape(other)} would change its shape")
    write(t, (Ellipsis,), update, f"{ufunc.__name__} in place")
    return t


def _kept(t):
    """Whether a recorded gate may keep the value of constant leaf ``t``: a write must then
    make a new version, leaving the gate the old value. An array is locked while a gate
    keeps it (core/saved.py); a 0-d value cannot be locked, so it is always versioned."""
    if type(t._value) is _ndarray:
        return is_locked(t._value)
    return not t.requires_grad


def changed_in_place(t):
    """``t``'s value was changed in place outside the circuit (a write under no_grad, ``.data
    =``, an optimizer step): gates recorded before read the old value, so a backward pass
    through them refuses (core/backward.py) rather than use the new one."""
    t._version += 1


def _records_write(t, v):
    """Must a write of ``v`` into ``t`` be recorded (a gradient or a tangent flows)?"""
    state = _trace.current()
    if state.grad_enabled and (t.requires_grad or _needs_grad(v)):
        return True
    return bool(state.levels) and (_live_tangent(t, state.levels)
                                   or _live_tangent(v, state.levels))


def _live_tangent(x, levels):
    if not isinstance(x, Tensor):
        return False
    tangents = x._tangents
    return bool(tangents) and any(lv in levels for lv in tangents)


def _read_newest(t):
    """The newest version of a written tensor, for a gate about to read it: a later write
    must then leave that version's array alone."""
    meta = t._meta
    meta.fresh = False
    return meta.current


def _newest_input(x):
    meta = x._meta
    if x._node is not None and meta is not None and meta.current is not None:
        return _read_newest(x)
    return x


def write(t, index, v, what):
    """Write ``v`` into ``t`` at ``index``: ``t[index] = v``, ``t += v``, ``out=t``.

    ``t`` stays the user's tensor: it shows the new value, and gates recorded from now on
    read its new version, the output of a ``setitem`` gate whose inputs are the version
    before and ``v``. Gates recorded before the write keep the version they read (see
    core/node.py, ``overwritten``), so no gate's saved value ever changes and no gradient
    can be wrong. The write goes into a copy of the array, except into a large array that
    the previous write made and nothing has read since (the loops that fill ``out`` one
    entry at a time): there it writes in place, so such a loop costs no copy per entry.
    A leaf that nothing records (a parameter under ``cg.no_grad()``) is written in place.
    """
    if type(v) is list or type(v) is tuple:
        v = np.asarray(v)
    elif isinstance(v, Tensor):
        v = _newest_input(v)
    raw = _raw(v)
    if t.is_leaf and not _records_write(t, v) and not _kept(t):  # a plain NumPy write
        value = t._value
        if type(value) is _ndarray:
            _assign(value, index, raw, t, what)
        else:
            array = np.array(value)
            _assign(array, index, raw, t, what)
            t._value = array[()]
        changed_in_place(t)
        return
    if t.is_leaf and t.requires_grad:
        raise NotDifferentiableError(
            f"{what} on a tensor that requires gradients while gates are recorded: a "
            f"write would replace the input the gradient is taken for. Write into a copy "
            f"(x = x.copy(); x[i] = v), or update parameters under cg.no_grad()")
    cur = newest(t)
    value = cur._value
    state = _trace.current()
    levels = state.levels
    v_needs = _needs_grad(v) or _live_tangent(v, levels)
    if value.dtype.kind != "f" and v_needs:
        raise NotDifferentiableError(
            f"{what}: writing values that carry a gradient into a tensor of dtype "
            f"{value.dtype} would drop the gradient (NumPy casts them); make the tensor "
            f"float (np.zeros_like(x, dtype=float))")
    view = _view_of(t) if cur is t else None  # before the write moves t's record
    if v_needs and _ix.repeats(index, np.shape(value)):
        raise NotDifferentiableError(
            f"{what}: the index names some entries more than once; NumPy keeps one of the "
            f"values written there, so the others would get no gradient. Use unique "
            f"indices, or np.add.at(t, index, v) to add every value")
    reuse = (cur is not t and t._meta.fresh and type(value) is _ndarray and not levels
             and value.size >= _node_mod.KEEP_VALUES_BELOW and cur._node is not None)
    new = value if reuse else np.array(value)  # np.array: a copy, 0-d as a 0-d array
    _assign(new, index, raw, t, what)
    out = _wrap(new[()] if new.ndim == 0 else new)
    inputs, params = (cur, v), {"index": index}
    if state.grad_enabled and (cur.requires_grad or _needs_grad(v)) and value.dtype.kind == "f":
        edges = tuple([i for i, x in enumerate(inputs) if _needs_grad(x)])
        _record(out, _ix.setitem, inputs, params, edges, levels)
    if levels:
        _push_tangents(out, _ix.setitem, inputs, params, levels)
    meta = _show_version(t, out, True)
    if view is not None:
        meta.view = view
        keep_tracked(view)
    if cur._meta is not None and cur._meta.views:
        _refresh_views(t, cur._meta)
    if meta.view is not None:
        _write_through(t, meta, what)


def reshape_in_place(t, shape):
    """``t.shape = shape``: ``t`` shows its value reshaped (NumPy's rule: the same number of
    entries). Recorded as a reshape gate on a new version of ``t``, as a write is."""
    shape = (shape,) if isinstance(shape, numbers.Integral) else tuple(shape)
    try:
        reshaped = np.reshape(t._value, shape)
    except ValueError as err:
        raise ShapeError(f"t.shape = {shape}: cannot reshape a tensor of shape "
                         f"{np.shape(t._value)}: {err}") from None
    if t.is_leaf and not _records_write(t, None) and not _kept(t):  # NumPy's own change
        t._value = reshaped
        return
    if t.is_leaf and t.requires_grad:
        what = "a tensor that requires gradients while gates are recorded"
    elif t._meta is not None and t._meta.view is not None:
        what = "a view of another tensor"
    else:
        _show_version(t, _sh.reshape_tensor(newest(t), shape), False)
        return
    raise NotDifferentiableError(f"t.shape = {shape} on {what}: write t = t.reshape{shape} "
                                 f"instead")


class Flat:
    """``t.flat``: the entries of ``t`` in C order, to read, write and iterate."""

    def __init__(self, t):
        self.base = t

    def _index(self, index):
        t = self.base
        if isinstance(index, Tensor):
            index = index._value
        flat = backend.arange(t.size)[index]
        return np.unravel_index(flat, t.shape)

    def __getitem__(self, index):
        return self.base[self._index(index)]

    def __setitem__(self, index, value):
        write(self.base, self._index(index), value, "t.flat[...] =")

    def __len__(self):
        return self.base.size

    def __iter__(self):
        return iter(self.base.reshape(-1))


def _show_version(t, version, fresh):
    """From now on ``t`` shows ``version``, its newest: its value, and the wire later gates
    read. The first time, ``t``'s own record moves aside for the gates recorded before
    (``overwritten``). Returns ``t``'s Meta."""
    meta = t._meta
    if meta is None or meta.current is None:
        overwritten(t)
        meta = t._meta_or_new()
    previous = meta.current
    meta.current = version
    keep_tracked(version)  # t now holds its newer version
    meta.fresh = fresh
    version._meta_or_new().owner = weakref.ref(t)  # weak: t holds its versions
    t._value = version._value
    t.requires_grad = version.requires_grad
    if meta.retains:  # retain_grad(): t.grad is the gradient of the value t shows
        # the version before: a previous write's, or t's own record (now in t._node)
        _hand_gradient_to(place(previous) if previous is not None else t._node, None)
        if version.requires_grad:
            _hand_gradient_to(place(version), t)
    return meta


def _hand_gradient_to(w, t):
    """The walk visits wire ``w`` for tensor ``t``'s value: it hands ``t`` that gradient
    (``t`` None: no longer)."""
    meta = w._meta
    if meta is None:
        if t is None:
            return
        keep_tracked(w)
        meta = w._meta = Meta()
    meta.retains = t is not None
    meta.handle = None if t is None else weakref.ref(t)  # weak: t holds the wire


def _refresh_views(t, meta):
    """Views taken of ``t``'s previous version (``row = t[i]``) show NumPy's view of its new
    one: each still alive becomes the same view taken again of the new version, recorded
    (so ``row`` then reads, and differentiates through, what was written)."""
    views, meta.views = meta.views, None
    for ref, gate, params in views:
        v = ref()
        if v is None or (v._meta is not None and v._meta.owner is not None):
            continue  # gone, or a version (its tensor is on the list itself)
        again = apply(gate, (t,), params)
        _show_version(v, again, False).view = (newest(t), gate, params)
        _remember_view(newest(t), v, gate, params)


def _assign(array, index, raw, t, what):
    """``array[index] = raw``, NumPy's errors told in terms of the tensor written."""
    try:
        array[index] = raw
    except (ValueError, IndexError) as err:
        raise ShapeError(f"{what}: cannot write a value of shape {np.shape(raw)} into a "
                         f"tensor of shape {np.shape(t._value)} at "
                         f"[{_ix.index_text(index)}]: {err}") from None


def _view_of(t):
    """``(base, gate, params)`` when ``t``'s value is a view its gate made of the wire
    ``base`` (``x[i]``, ``x.reshape(...)``, ``x.T``), else None."""
    w = place(t)
    gate = w._gate
    value = t._value
    if gate is None or not gate.views or type(value) is not _ndarray or value.base is None:
        return None
    return (w._a, gate, w._params)


def _write_through(t, meta, what):
    """``t`` is a view of another tensor: NumPy's write into ``t`` changes that tensor too,
    so write ``t``'s new value back into it (``base[index] = t``, or the whole base for a
    reshape or transpose), a recorded write of its own."""
    seen, gate, params = meta.view
    owner = seen._meta.owner if isinstance(seen, Tensor) and seen._meta is not None else None
    base = seen if owner is None else owner()
    if base is None or not isinstance(base, Tensor):  # no one can see the base any more
        return
    if newest(base) is not seen:
        raise NotDifferentiableError(
            f"{what}: this tensor is a view of a tensor that was written to after the view "
            f"was taken; NumPy's view would show that write, circuitgrad's does not. Take "
            f"the view again after the write (row = x[i])")
    new = meta.current
    if gate is _ix.getitem:
        write(base, params["index"], new, what)
    elif gate is _sh.reshape:
        write(base, (Ellipsis,), new.reshape(base.shape), what)
    elif gate is _sh.transpose:
        axes = params["axes"]
        write(base, (Ellipsis,), new.transpose(None if axes is None else
                                               tuple(np.argsort(axes))), what)
    else:
        raise NotDifferentiableError(
            f"{what}: this tensor is a read-only view made by '{gate.name}' (NumPy refuses "
            f"this write too); take a copy first (y = y.copy())")
    meta.view = (newest(base), gate, params)


def _needs_grad(x):
    return isinstance(x, Tensor) and x.requires_grad


# cg.compile's tracer puts a check here while it traces: a tensor turned into a Python bool
# or int then fixes a value (a branch, a count) in the generated code
conversion_guards = []


def _refuse_number(t, what):
    """Inside a transform, a differentiated tensor turned into a Python number would leave
    the circuit with its gradient silently dropped (``math.exp(t)``, ``np.float64(t)``,
    ``out[i] = t`` into a NumPy array all call ``float``): raise, saying what to write.
    Outside transforms ``float(loss)`` works, as in PyTorch (printing, logging)."""
    if not (t.requires_grad or t._meta is not None) or not switches.changed:
        return
    state = _trace.current()
    if (state.transforms and t.requires_grad) or (state.levels and t._tangents):
        raise NotDifferentiableError(
            f"{what} of a tensor inside a gradient transform would drop its gradient: the "
            f"Python number it gives is outside the circuit (so would math.exp(t), "
            f"np.float64(t), or storing it into a NumPy array with out[i] = t). Keep it a "
            f"tensor: np.exp(t) rather than math.exp(t); build arrays with np.stack or "
            f"cg.stack, or fill one made with np.zeros_like(x) from a tensor x; print(t) "
            f"shows its value")


def _initial_cotangent(y, g, where):
    """Check (or make, for single-element outputs) the upstream gradient of ``y``."""
    value = y._value
    if g is None:
        if value.size != 1:
            raise ShapeError(
                f"{where} without a gradient needs a single-element output, but this output "
                f"has shape {value.shape}; pass a gradient of that shape, e.g. "
                f"y.backward(np.ones({value.shape}))")
        return backend.ones_like(value)[()] if value.ndim == 0 else backend.ones_like(value)
    if isinstance(g, Tensor) and not (g.requires_grad or g._tangents):
        g = g._value  # a constant: its value, so the gradients stay arrays
    graw = g._value if isinstance(g, Tensor) else np.asarray(g)
    if graw.shape != value.shape:
        raise ShapeError(f"{where}: the gradient has shape {graw.shape} but the output has "
                         f"shape {value.shape}; they must match")
    if isinstance(g, Tensor):
        return g if g.dtype == value.dtype else g.astype(value.dtype)
    graw = graw.astype(value.dtype, copy=False)
    return graw[()] if graw.ndim == 0 else graw


_backward.connect_tensor(_wrap, _initial_cotangent)  # core is below this module


class _Upper:
    """What Tensor's methods hand to the layer above: NumPy dispatch (numpy_api) and the
    composites clip, dot, var, std and ravel (functions). Those modules import this one, so they
    fill these slots when they load (``install``); ``import circuitgrad`` loads both."""

    __slots__ = ("array_ufunc", "array_function", "clip", "dot", "var", "std", "ravel")


_upper = _Upper()


def install(**functions):
    """Called by numpy_api and functions when they load: see ``_Upper``."""
    for name, fn in functions.items():
        setattr(_upper, name, fn)


_gate_core.install_apply(apply)  # gates run gates (inside their rules) through apply
