"""Wires and gate records: what the backward walk visits.

Every wire of a circuit is a ``Wire``. Most are Tensors that record the gate that made
them: for scalars and small arrays one object is both the value and its place in the
circuit, which keeps scalar circuits cheap. A large array made by a gate gets a separate
:class:`Node` instead, so that a consumer whose backward rule does not need that value
(``add`` never does, ``relu`` needs only its own output) can hold the Node and let the
array go when the user drops the Tensor. That keeps peak memory near what a hand-written
backward pass needs, the way PyTorch saves only what each gate's derivative uses.

Slots shared by both kinds (the walk reads them the same way):
``_gate`` (None for a leaf), inputs ``_a``, ``_b``, ``_more`` (Wires or constants),
``_params``, ``_edges`` (positions of inputs that need a gradient; None once freed),
the walk's ``_acc``, ``_deps``, ``_epoch``, and ``_meta`` (None, or a :class:`Meta` with
what few wires carry: a gradient to keep, a name, forward-mode tangents).
"""

from .. import backend

# Arrays smaller than this are kept in the circuit even when no backward rule needs them,
# so pictures and staged listings can show every value; larger ones only where needed.
KEEP_VALUES_BELOW = 4096

ABSENT = object()  # fills _b for one-input gates; never a real input


class Wire:
    """Base of Tensor and Node: anything the backward walk can visit, with the slots both
    have. (When the core is compiled, node.pxd makes these C struct fields.)"""

    __slots__ = ("_value", "_node", "_gate", "_a", "_b", "_more", "_params", "_edges",
                 "requires_grad", "_acc", "_deps", "_epoch", "_meta", "__weakref__")


class Meta:
    """What only some wires carry, kept out of the per-gate slots (fewer slots to fill and
    for the garbage collector to visit): ``.grad``, a name, whether to keep the gradient
    (``retain_grad``) and where (``handle``: a weak reference to the Tensor of a Node),
    forward-mode tangents.
    """

    __slots__ = ("grad", "name", "retains", "handle", "tangents")

    def __init__(self):
        self.grad = self.name = self.handle = self.tangents = None
        self.retains = False


class Node(Wire):
    """The gate record of a large array, apart from the Tensor that holds the array."""

    __slots__ = ("_released", "name")

    def __init__(self, gate, value, keep_value, stored, params, edges, name):
        # A Node is its own place in the circuit and always needs a gradient.
        self._node = None
        self.requires_grad = True
        self._released = not keep_value
        self._value = value if keep_value else stand_in(value)
        self._gate = gate
        self._a = stored[0]
        self._b = stored[1] if len(stored) > 1 else ABSENT
        self._more = tuple(stored[2:]) if len(stored) > 2 else None
        self._params = params
        self._edges = edges
        self._acc = self._epoch = self._meta = None
        self._deps = 0
        self.name = name

    @property
    def _tangents(self):
        return None  # forward mode keeps every wire a Tensor

    # ----- the read-only view pictures use, matching Tensor's ------------------------------
    @property
    def gate(self):
        return self._gate

    @property
    def inputs(self):
        return stored_inputs(self)

    @property
    def params(self):
        return self._params or {}

    @property
    def data(self):
        """The value, or None when no backward rule needed it and it was let go."""
        return None if self._released else self._value

    @property
    def shape(self):
        return self._value.shape

    @property
    def dtype(self):
        return self._value.dtype

    @property
    def ndim(self):
        return self._value.ndim

    @property
    def size(self):
        return self._value.size

    @property
    def is_leaf(self):
        return False

    @property
    def grad(self):
        return None

    def __repr__(self):
        return f"<node of gate {self._gate.name}, shape {self.shape}>"


def stand_in(value):
    """A read-only, zero-filled, zero-stride array with ``value``'s shape and dtype.

    What a rule sees in place of a released value: shape and dtype are right, and it
    costs one element of memory.
    """
    return backend.zero_stride(value.shape, value.dtype)


def stored_inputs(w):
    """The inputs a wire's gate recorded, as a tuple (empty for leaves and freed gates)."""
    if w._edges is None:
        return ()
    if w._more is not None:
        return (w._a, w._b) + w._more
    return (w._a,) if w._b is ABSENT else (w._a, w._b)


def place(x):
    """The wire the walk visits for a recorded input: its Node if it has one."""
    node = x._node
    return x if node is None else node
