"""The errors circuitgrad raises; each message says what was wrong and where."""


class CircuitError(Exception):
    """Base class of circuitgrad's own errors."""


class ShapeError(CircuitError, ValueError):
    """Shapes that do not fit a gate, or a gradient of the wrong shape."""


class GraphFreedError(CircuitError, RuntimeError):
    """backward() through a part of the circuit whose saved values were already freed."""


class NotDifferentiableError(CircuitError, TypeError):
    """A gradient was asked of something that has none (integer data, an unsupported function)."""


class ChangedInPlaceError(CircuitError, RuntimeError):
    """backward() through a gate whose input was changed in place after the gate read it."""


class AnomalyError(CircuitError, FloatingPointError):
    """Anomaly mode found a gate whose forward value or gradient is not finite."""
