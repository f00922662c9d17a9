"""NumPy arrays a recorded gate keeps for its backward pass are read-only until it has run.

A gate's rules read its inputs' values when the backward pass reaches it. Tensors are safe:
writes into a tensor make a new version and leave the recorded one alone (tensor.py,
``write``). A plain NumPy array given to a gate (``x * C``, ``X @ W`` with ``X`` an array,
the arrays a transform differentiates at) is the caller's, and NumPy code may write into it
(``C[...] = 0``) between the forward and the backward pass, which would change the gradient
in silence. So, as MyGrad does, such an array (and the arrays it is a view of) is made
read-only while a recorded gate keeps it: a write raises NumPy's "assignment destination is
read-only" instead. It becomes writeable again when the backward pass has walked every gate
that keeps it (unless ``retain_graph``), or when those gates are dropped.

Arrays already read-only are left as they are. Counts are per array, so an array two
circuits keep stays locked until both are done with it. NumPy's flag belongs to one array
object: a view of the same memory made before the gate ran (``V = X[:]``, then ``X[:2]``
given to the gate) can still write into it; the array given and its bases cannot.
"""

from ..backend import ndarray as _ndarray

_locked = {}  # id(array) -> [array, number of SavedArrays holding it]


def _chain(array):
    """``array`` and the arrays it is a view of: a write into any of them reaches it."""
    while isinstance(array, _ndarray):
        yield array
        array = array.base


def _lock(array):
    entry = _locked.get(id(array))
    if entry is not None:
        entry[1] += 1
        return True
    if not array.flags.writeable:
        return False
    array.flags.writeable = False
    _locked[id(array)] = [array, 1]
    return True


def _unlock(array):
    entry = _locked.get(id(array))
    if entry is None:
        return
    entry[1] -= 1
    if entry[1] == 0:
        del _locked[id(array)]
        try:
            array.flags.writeable = True
        except ValueError:  # its base was made read-only since: leave it so
            pass


def is_locked(array):
    """Whether a recorded gate keeps ``array`` (so a write must go into a copy)."""
    return id(array) in _locked


class SavedArrays:
    """The caller's arrays one recorded gate keeps, locked while it is alive."""

    __slots__ = ("arrays",)

    def __init__(self, arrays):
        held = []
        for array in arrays:
            held.extend(a for a in _chain(array) if _lock(a))
        self.arrays = held

    def release(self):
        arrays, self.arrays = self.arrays, []
        for array in arrays:
            _unlock(array)

    def __del__(self):
        self.release()
