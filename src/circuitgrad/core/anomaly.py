"""Anomaly mode (``cg.detect_anomaly()``): find the gate where a NaN or an inf starts.

While it is on, each gate recorded notes where the user's code made it (the first frame
outside circuitgrad and NumPy), its forward value is checked, and the backward walk checks
every gradient a gate sends to an input. The first value that is not finite although what
it was computed from is (the gate's inputs; for a gradient, the upstream gradient too)
raises AnomalyError naming the gate, its inputs' shapes and that line. Off, none of this
runs: the gates' fast paths see the changed switches and the walk reads one C flag.
"""

import linecache
import os
import sys
import weakref

import numpy as np

from ..errors import AnomalyError

_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_NN = os.path.join(_PACKAGE, "nn")
_NUMPY = os.path.dirname(os.path.abspath(np.__file__))
_sites = {}  # id(wire) -> (weak reference to the wire, where the user's code made it)


def _ours(filename):
    path = os.path.abspath(filename)
    return path.startswith(_PACKAGE) or path.startswith(_NUMPY) or filename.startswith("<frozen")


def creation_site():
    """``file:line in function: source`` of the innermost frame outside circuitgrad and
    NumPy, and of the innermost circuitgrad.nn frame when a layer made the gate."""
    frame = sys._getframe(1)
    layer = None
    while frame is not None and _ours(frame.f_code.co_filename):
        if layer is None and frame.f_code.co_filename.startswith(_NN):
            layer = frame
        frame = frame.f_back
    where = _frame_text(frame) if frame is not None else "inside circuitgrad"
    return where if layer is None else f"{where} (in circuitgrad.nn: {_frame_text(layer)})"


def _frame_text(frame):
    code = frame.f_code
    line = linecache.getline(code.co_filename, frame.f_lineno).strip()
    return f"{code.co_filename}:{frame.f_lineno} in {code.co_name}" + (f": {line}" if line else "")


def note_site(wire):
    """Remember where the gate whose output is ``wire`` was made."""
    if len(_sites) > 4096 and len(_sites) & (len(_sites) - 1) == 0:  # now and then: drop dead
        for key in [k for k, (ref, _) in _sites.items() if ref() is None]:
            del _sites[key]
    _sites[id(wire)] = (weakref.ref(wire), creation_site())


def site_of(wire):
    entry = _sites.get(id(wire))
    if entry is None or entry[0]() is not wire:
        return "not known (the gate was made outside cg.detect_anomaly())"
    return entry[1]


def _value(x):
    return getattr(x, "_value", x)  # a Tensor's array, anything else as it is


def finite(x):
    """Whether every entry of ``x`` (an array, a number or a Tensor) is finite; non-float
    values always are."""
    value = _value(x)
    if value is None:
        return True
    try:
        kind = value.dtype.kind
    except AttributeError:
        return not isinstance(value, float) or np.isfinite(value)
    return kind not in "fc" or bool(np.isfinite(value).all())


def _shapes(values):
    return ", ".join(str(np.shape(_value(v))) for v in values) or "none"


def _count(value):
    value = np.asarray(_value(value))
    nan, inf = int(np.isnan(value).sum()), int(np.isinf(value).sum())
    parts = ([f"{nan} NaN"] if nan else []) + ([f"{inf} inf"] if inf else [])
    return f"{' and '.join(parts)} of {value.size} entries"


def check_forward(gate, values, out, wire):
    """After ``gate`` ran forward: raise if it made a value that is not finite from finite
    inputs; else note where it was made (for a later gradient check's message)."""
    note_site(wire)
    if not finite(out) and all(finite(v) for v in values):
        raise AnomalyError(
            f"the forward value of gate '{gate.name}' is not finite ({_count(out)}) although "
            f"its inputs are; inputs' shapes: {_shapes(values)}; the gate was made at "
            f"{site_of(wire)}")


def check_gradient(wire, gate, i, upstream, inputs, gi):
    """After the backward of the gate whose output is ``wire`` sent ``gi`` to input ``i``:
    raise if ``gi`` is not finite although the upstream gradient and the inputs are."""
    if finite(gi) or not finite(upstream):
        return
    values = [_value(v) for v in inputs]
    cause = "" if all(finite(v) for v in values) else \
        " (some of the gate's input values are not finite themselves)"
    raise AnomalyError(
        f"the backward of gate '{gate.name}' gave a gradient that is not finite ({_count(gi)})"
        f" for its input {i}, from a finite upstream gradient{cause}; inputs' shapes: "
        f"{_shapes(values)}; the gate was made at {site_of(wire)}")
