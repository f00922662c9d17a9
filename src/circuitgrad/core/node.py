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
``_params``, ``_edges`` (positions of inputs that need a gradient), the walk's ``_acc``,
``_deps``, ``_epoch``, and ``_meta`` (None, or a :class:`Meta` with what few wires carry: a
gradient to keep, a name, forward-mode tangents).

After a backward walk that does not retain the circuit, each gate it passed keeps its
structure and small values (so a picture can still show that pass), its ``_deps`` is
``WALKED`` (a second walk through it raises GraphFreedError), and its large saved arrays are
replaced by stand-ins (see ``core/backward.py``, ``_release``).
"""

from .. import backend

# Arrays smaller than this are kept in the circuit even when no backward rule needs them,
# so pictures and staged listings can show every value; larger ones only where needed.
KEEP_VALUES_BELOW = 4096

ABSENT = object()  # fills _b for one-input gates; never a real input

# ``_deps`` of a gate a backward walk has passed and freed (a count is never negative).
WALKED = -1

# Compiled, the scalar fast paths hide the wires they make from Python's cyclic garbage
# collector (see keep_tracked); as pure Python every wire stays tracked.
_COMPILED = not __file__.endswith(".py")


def walked(w):
    """Has a backward walk passed this gate and freed its saved values?"""
    return w._deps == WALKED


def keep_tracked(x):
    """Show wire ``x``, and every wire it reaches that is hidden, to the cyclic collector.

    Why some wires are hidden: a circuit of a million scalar gates is a million Tensors,
    and each full collection reads all of them, so building one took time superlinear in
    its size. Compiled, ``_binary`` and ``_unary`` untrack the Tensor they make when its
    inputs are hidden wires or leaves (tensor.py, ``_hide``). Such a Tensor points only at
    older wires and values, so no reference cycle can pass through it at birth; a cycle can
    only appear when something older is later made to point at something newer. Each
    place that does that calls this, on the holder and on what it now holds: ``.grad``,
    ``_meta`` and its tangents, views and versions, a Node's inputs, the walk's gradients
    when they are Tensors (create_graph). Everything on such a cycle is then tracked, and
    the collector frees it as before. A tracked wire never reaches a hidden one, so the
    walk below stops at tracked wires, and each wire is shown at most once: linear time.
    Leaves, Nodes and records made by ``apply`` are always tracked. Limit: a user object
    that a gate's params hold, and that later comes to hold a newer hidden Tensor, would
    make a cycle the collector cannot see (nothing in circuitgrad does that; a custom
    gate's ``save_for_backward`` shows what it saves).
    """
    if not _COMPILED or not isinstance(x, Wire) or cg_gc_is_tracked(x):  # noqa: F821
        return
    stack = [x]
    while stack:
        x = stack.pop()
        if not isinstance(x, Wire):
            continue
        w = x
        if cg_gc_is_tracked(w):  # noqa: F821 -- declared in node.pxd
            continue
        cg_gc_track(w)  # noqa: F821
        stack.append(w._a)
        stack.append(w._b)
        stack.append(w._node)
        if w._more is not None:
            stack.extend(w._more)


def hides_wires():
    """Does this build hide wires from the cyclic collector (compiled node.py)?"""
    return _COMPILED


def keep_all_tracked(values):
    """``keep_tracked`` for each wire in a dict's values or a sequence (tangents)."""
    if _COMPILED and values:
        for x in values.values() if isinstance(values, dict) else values:
            keep_tracked(x)


class Wire:
    """Base of Tensor and Node: anything the backward walk can visit, with the slots both
    have. (When the core is compiled, node.pxd makes these C struct fields.)"""

    __slots__ = ("_value", "_node", "_gate", "_a", "_b", "_more", "_params", "_edges",
                 "requires_grad", "_acc", "_deps", "_epoch", "_meta", "_version", "_seen",
                 "__weakref__")
    # _version: how many times a leaf's value was changed in place (a write under no_grad,
    # .data =, an optimizer step); _seen: on a gate's record, the sum of its inputs'
    # _version when it ran. The backward walk compares them (backward.py, stale_inputs).


class Meta:
    """What only some wires carry, kept out of the per-gate slots (fewer slots to fill and
    for the garbage collector to visit): ``.grad``, a name, whether to keep the gradient
    (``retain_grad``) and where (``handle``: a weak reference to the Tensor of a Node),
    forward-mode tangents. For a tensor written in place (``t[i] = v``): ``current``, the
    wire of its newest version; ``fresh``, whether nothing has read that version since the
    write made it (the next write may then reuse its array); ``view``, what it is a view of
    (NumPy writes through a view into its base: see tensor.py, ``write``). On a version,
    ``owner``: a weak reference to the tensor it is a version of. On any wire a view was
    taken of (``x[i]``, ``x.T``), ``views``: weak references to those views, which a write
    into the wire brings up to date, as NumPy's views see writes into their base. On a
    gate's record, ``saved``: the caller's arrays it keeps, read-only until the backward
    pass has walked it (core/saved.py).
    """

    __slots__ = ("grad", "name", "retains", "handle", "tangents", "current", "fresh", "view",
                 "owner", "views", "saved")

    def __init__(self):
        self.grad = self.name = self.handle = self.tangents = self.current = None
        self.view = self.owner = self.views = self.saved = None
        self.retains = self.fresh = False


class Node(Wire):
    """The gate record of a large array, apart from the Tensor that holds the array."""

    __slots__ = ("_released", "name", "_overwritten")

    def __init__(self, gate, value, keep_value, stored, params, edges, name):
        # A Node is its own place in the circuit and always needs a gradient.
        self._node = None
        self.requires_grad = True
        self._released = not keep_value
        # True for the record of a tensor's value before a write replaced it: the gates
        # recorded before the write read their input's value from here (see overwritten).
        self._overwritten = False
        self._value = value if keep_value else stand_in(value)
        self._gate = gate
        self._a = stored[0]
        self._b = stored[1] if len(stored) > 1 else ABSENT
        self._more = tuple(stored[2:]) if len(stored) > 2 else None
        self._params = params
        self._edges = edges
        self._acc = self._epoch = self._meta = None
        self._deps = self._version = 0
        self._seen = versions_read(self._a, self._b, self._more)
        self.name = name
        if _COMPILED:  # a Node is tracked: so must be the wires it holds
            for x in stored:
                keep_tracked(x)

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
        return self._gate is None  # only the stand-in of a released leaf (released_leaf)

    @property
    def grad(self):
        return None

    def __repr__(self):
        return f"<node of gate {self._gate.name}, shape {self.shape}>"


class ReleasedValue(backend.ndarray):
    """Stands for a large value the circuit let go: shape and dtype only (pictures say so)."""


def stand_in(value):
    """A read-only, zero-filled, zero-stride array with ``value``'s shape and dtype.

    What a rule sees in place of a released value: shape and dtype are right, and it
    costs one element of memory.
    """
    return backend.zero_stride(value.shape, value.dtype)


def released(value):
    """What a walked circuit keeps of a large constant array: a stand-in marked as released."""
    return stand_in(value).view(ReleasedValue)


def released_leaf(leaf):
    """What a walked circuit keeps of a large leaf: its name, shape and dtype, not its array
    (which would otherwise live as long as the circuit, a batch of data say)."""
    n = Node(None, leaf._value, False, (None,), None, None, leaf.name)
    n._a = None
    n.requires_grad = leaf.requires_grad
    return n


def versions_read(a, b, more):
    """The sum of a gate's inputs' write counts (``_version``; numbers count 0): its
    ``_seen`` when recorded. A leaf changed in place since makes the sum differ."""
    total = 0
    if isinstance(a, Wire):
        w = a
        total += w._version
    if isinstance(b, Wire):
        w = b
        total += w._version
    if more is not None:
        for x in more:
            if isinstance(x, Wire):
                w = x
                total += w._version
    return total


def stored_inputs(w):
    """The inputs a wire's gate recorded, as a tuple (empty for leaves)."""
    if w._gate is None or w._edges is None:  # a leaf, or a gate a walk freed
        return ()
    if w._more is not None:
        return (w._a, w._b) + w._more
    return (w._a,) if w._b is ABSENT else (w._a, w._b)


def overwritten(t):
    """Keep the circuit of ``t`` as it was before a write into it (``t[i] = v``).

    The gates recorded before the write hold the Tensor ``t`` as their input. From now on
    ``t`` shows its newest value to the user, so its old value and the gate that made it
    move to a Node (``t._node``) that keeps the value: the backward walk sends those gates'
    gradients there and their rules read the old value from it (``value_of``). Returns the
    Node; the caller sets ``t``'s value and newest version.
    """
    keep_tracked(t)  # t is about to hold a newer object, its Node
    node = t._node
    if node is None:
        node = Node(t._gate, t._value, True, stored_inputs(t) or (None,), t._params, t._edges,
                    t.name)
        if t._gate is None:  # a constant leaf: nothing to walk, only a value to keep
            node._a = None
            node.requires_grad = t.requires_grad
        node._acc, node._deps, node._epoch = t._acc, t._deps, t._epoch
        node._seen = t._seen
        if t._meta is not None and t._meta.saved is not None:  # the record's locked arrays
            node._meta = Meta()
            node._meta.saved, t._meta.saved = t._meta.saved, None
        t._node = node
        t._gate = t._a = t._b = t._more = t._params = t._edges = None
        t._acc = t._epoch = None
        t._deps = 0
    else:  # a large value: its record is a Node already; it now keeps the value
        node._value = t._value
        node._released = False
    node._overwritten = True
    return node


def value_of(w):
    """The value a recorded gate's input had when the gate ran (a Wire ``w``)."""
    node = w._node
    if node is not None and node._overwritten:
        return node._value
    return w._value


def newest(x):
    """The wire holding ``x``'s current value: ``x`` itself unless it was written to."""
    meta = x._meta
    if meta is not None and meta.current is not None:
        return meta.current
    return x


def place(x):
    """The wire the walk visits for a recorded input: its Node if it has one."""
    node = x._node
    return x if node is None else node
