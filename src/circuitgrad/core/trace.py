"""Recording state: whether reverse mode records, and which forward-mode levels are live.

Forward mode (``jvp``) tags every tangent with a *level*, one per nested ``jvp`` call, so
nested derivatives never mix up their perturbations: while a gate computes the tangent of
level L, only levels below L are live, exactly as if the inner computation were run by an
outer, independent differentiation.
"""

import contextlib


class _State:
    __slots__ = ("grad_enabled", "levels", "next_level")

    def __init__(self):
        self.grad_enabled = True
        self.levels = ()  # live forward-mode levels, ascending
        self.next_level = 0


state = _State()


@contextlib.contextmanager
def no_grad():
    """Stop recording gates for reverse mode inside the block.

    >>> import circuitgrad as cg
    >>> x = cg.tensor(2.0, requires_grad=True)
    >>> with cg.no_grad():
    ...     y = x * 3
    >>> y.requires_grad
    False
    """
    previous = state.grad_enabled
    state.grad_enabled = False
    try:
        yield
    finally:
        state.grad_enabled = previous


@contextlib.contextmanager
def enable_grad():
    """Turn reverse-mode recording back on inside a ``no_grad`` block."""
    previous = state.grad_enabled
    state.grad_enabled = True
    try:
        yield
    finally:
        state.grad_enabled = previous


def is_grad_enabled():
    """True when gates applied now are recorded for ``backward``."""
    return state.grad_enabled


@contextlib.contextmanager
def new_level():
    """Open a forward-mode level for one ``jvp`` call; yields its number."""
    level = state.next_level
    state.next_level += 1
    previous = state.levels
    state.levels = previous + (level,)
    try:
        yield level
    finally:
        state.levels = previous


@contextlib.contextmanager
def levels_below(level):
    """Inside a level-``level`` tangent rule only the levels below it are live."""
    previous = state.levels
    state.levels = tuple(lv for lv in previous if lv < level)
    try:
        yield
    finally:
        state.levels = previous
