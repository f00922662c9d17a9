"""Recording state: whether reverse mode records, and which forward-mode levels are live.

Forward mode (``jvp``) tags every tangent with a *level*, one per nested ``jvp`` call, so
nested derivatives never mix up their perturbations: while a gate computes the tangent of
level L, only levels below L are live, exactly as if the inner computation were run by an
outer, independent differentiation.

Each thread has its own switches, as in PyTorch: one thread's ``no_grad()`` never stops
another from recording. Every gate checks them, so the common case costs one read:
``switches.changed`` counts the blocks (in any thread) that change them, and while it is 0
every thread records with no level live; only otherwise is the thread's own state read.
"""

import contextlib
import itertools
import threading


class _State:
    """One thread's switches."""

    __slots__ = ("grad_enabled", "levels", "transforms", "anomaly")

    def __init__(self):
        self.grad_enabled = True
        self.levels = ()  # live forward-mode levels, ascending
        self.transforms = 0  # reverse-mode transforms running their function (grad, vjp)
        self.anomaly = False  # check every gate's values and gradients (detect_anomaly)


class _Switches:
    __slots__ = ("changed",)

    def __init__(self):
        self.changed = 0  # blocks, in any thread, that change some thread's switches now


switches = _Switches()
_DEFAULT = _State()  # what every thread has while nothing is changed; never modified
_local = threading.local()
_level_numbers = itertools.count()  # unique across threads, so tangents never mix


def current():
    """This thread's switches (shared defaults while no block has changed any)."""
    if not switches.changed:
        return _DEFAULT
    return _mine()


def _mine():
    try:
        return _local.state
    except AttributeError:
        state = _local.state = _State()
        return state


@contextlib.contextmanager
def _switched(grad_enabled=None, levels=None, transforms=0, anomaly=None):
    """Change this thread's switches for the block; put them back after."""
    state = _mine()
    previous = state.grad_enabled, state.levels, state.transforms, state.anomaly
    if grad_enabled is not None:
        state.grad_enabled = grad_enabled
    if levels is not None:
        state.levels = levels
    if anomaly is not None:
        state.anomaly = anomaly
    state.transforms += transforms
    switches.changed += 1
    try:
        yield
    finally:
        state.grad_enabled, state.levels, state.transforms, state.anomaly = previous
        switches.changed -= 1


def no_grad():
    """Stop recording gates for reverse mode inside the block (in this thread).

    >>> import circuitgrad as cg
    >>> x = cg.tensor(2.0, requires_grad=True)
    >>> with cg.no_grad():
    ...     y = x * 3
    >>> y.requires_grad
    False
    """
    return _switched(grad_enabled=False)


def enable_grad():
    """Turn reverse-mode recording back on inside a ``no_grad`` block."""
    return _switched(grad_enabled=True)


def transform_running():
    """A reverse-mode transform runs its function inside the block: it records (even inside
    ``no_grad()``), and a tensor's value turned into a Python number there loses the
    gradient the transform is taking, so Tensor's ``float()`` and ``item()`` refuse."""
    return _switched(grad_enabled=True, transforms=1)


def recording(enabled):
    """Record (or not) inside the block: the backward walk's switch."""
    return _switched(grad_enabled=bool(enabled))


def detect_anomaly(enabled=True):
    """Inside the block (in this thread), every gate's forward value and every gradient is
    checked: the first that is not finite (NaN or inf) although what it was computed from
    is raises AnomalyError, naming the gate, its inputs' shapes and the line of your code
    that made the gate. Slower; for finding where a NaN comes from.

    >>> import numpy as np, circuitgrad as cg
    >>> x = cg.tensor([0.0, 1.0], requires_grad=True)
    >>> with cg.detect_anomaly(), np.errstate(all="ignore"):
    ...     y = (np.sqrt(x) * 0).sum()
    ...     y.backward()
    Traceback (most recent call last):
    ...
    circuitgrad.errors.AnomalyError: the backward of gate 'sqrt' ...
    """  # doctest: +ELLIPSIS
    return _switched(anomaly=bool(enabled))


def is_anomaly_enabled():
    """True inside ``detect_anomaly()`` (in this thread)."""
    return current().anomaly


def is_grad_enabled():
    """True when gates applied now (in this thread) are recorded for ``backward``."""
    return current().grad_enabled


@contextlib.contextmanager
def new_level():
    """Open a forward-mode level for one ``jvp`` call; yields its number."""
    level = next(_level_numbers)
    with _switched(levels=current().levels + (level,)):
        yield level


def levels_below(level):
    """Inside a level-``level`` tangent rule only the levels below it are live."""
    return _switched(levels=tuple(lv for lv in current().levels if lv < level))
