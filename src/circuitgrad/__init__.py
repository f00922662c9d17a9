"""circuitgrad: gradients of NumPy programs, computed as the CS231n notes draw them.

A program is a circuit of gates. The forward pass computes every wire's value; the
backward pass walks the circuit in reverse, and each gate multiplies the upstream gradient
by its local gradient; where a wire forks, the gradients add up.

>>> import circuitgrad as cg
>>> x, y, z = (cg.tensor(v, requires_grad=True) for v in (-2.0, 5.0, -4.0))
>>> q = (x + y).retain_grad()
>>> f = q * z
>>> f.backward()
>>> float(f), float(q.grad), float(x.grad), float(z.grad)
(-12.0, -4.0, -4.0, 3.0)
"""

# ruff: noqa: E402 -- the core modules must load after compiled.prepare()
from . import compiled

compiled.prepare()  # before the core modules load: pure Python if asked for

from . import lab as lab  # cg.lab(f): the circuit lab in Jupyter (a callable package)
from . import linalg as linalg  # cg.linalg, as np.linalg
from . import numpy_api  # noqa: F401 -- installs NumPy dispatch on Tensor
from ._version import __version__ as __version__
from .compiler import compile, explain  # noqa: A004 -- cg.compile
from .core.trace import detect_anomaly, enable_grad, is_anomaly_enabled, is_grad_enabled, no_grad
from .custom import Function
from .draw import draw
from .errors import (
    AnomalyError,
    ChangedInPlaceError,
    CircuitError,
    GraphFreedError,
    NotDifferentiableError,
    ShapeError,
)
from .functions import *  # noqa: F403 -- cg.exp, cg.sum, ...: functions.__all__
from .functions import __all__ as _function_names
from .gradcheck import BackwardCheckReport, GradCheckReport, check_backward, check_grad
from .tensor import Tensor, as_tensor, tensor
from .tracing import circuit, record
from .transforms import grad, hessian, hvp, jacobian, jvp, value_and_grad, vjp

__all__ = [
    "AnomalyError", "BackwardCheckReport", "ChangedInPlaceError", "CircuitError",
    "detect_anomaly", "is_anomaly_enabled",
    "Function", "GradCheckReport", "GraphFreedError", "NotDifferentiableError", "ShapeError",
    "Tensor", "as_tensor", "check_backward", "check_grad", "draw", "enable_grad", "grad",
    "hessian", "hvp", "is_grad_enabled", "jacobian", "jvp", "linalg", "no_grad", "tensor",
    "value_and_grad", "vjp", "circuit", "record", "explain", "compile", "lab"]
__all__ += _function_names
