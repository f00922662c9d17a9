"""``nn.utils`` as in PyTorch: gradient clipping, and parameters to and from one vector.

>>> import numpy as np
>>> from circuitgrad import nn
>>> layer = nn.Linear(3, 2, rng=0)
>>> flat = nn.utils.parameters_to_vector(layer.parameters())
>>> flat.shape
(8,)
>>> nn.utils.vector_to_parameters(np.zeros(8), layer.parameters())
>>> float(np.abs(layer.weight.data).sum())
0.0
"""

import numpy as np

from ..errors import ShapeError
from ..tensor import Tensor
from .init import constant_
from .optim import _parameter_list, clip_grad_norm_, clip_grad_value_

__all__ = ["clip_grad_norm_", "clip_grad_value_", "parameters_to_vector",
           "vector_to_parameters"]


def parameters_to_vector(parameters):
    """Every parameter's values, flattened and joined (a NumPy array, a copy)."""
    return np.concatenate([np.ravel(p.data) for p in _parameter_list(parameters)])


def vector_to_parameters(vec, parameters):
    """Write the entries of ``vec`` back into ``parameters`` in place, in order."""
    vec = np.ravel(vec.data if isinstance(vec, Tensor) else np.asarray(vec))
    parameters = _parameter_list(parameters)
    total = sum(p.size for p in parameters)
    if vec.size != total:
        raise ShapeError(f"vector_to_parameters: the vector has {vec.size} entries, the "
                         f"parameters {total}")
    start = 0
    for p in parameters:
        constant_(p, vec[start:start + p.size].reshape(p.shape))  # in place, dtype kept
        start += p.size
