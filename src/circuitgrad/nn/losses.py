"""Losses: softmax cross-entropy, the multiclass SVM (hinge) loss, mean squared error, L2.

Classification losses take scores of shape (N, C) and integer labels of shape (N,) and
check the labels first, so a label outside [0, C) is reported as such, instead of turning
into an index error deep inside a gate or a silently wrong loss.

>>> import numpy as np
>>> import circuitgrad as cg
>>> scores = cg.tensor([[2.0, 1.0, 0.1]], requires_grad=True)
>>> loss = softmax_cross_entropy(scores, np.array([0]))
>>> round(float(loss), 4)
0.417
>>> loss.backward()
>>> np.round(scores.grad, 3)   # softmax minus one-hot
array([[-0.341,  0.242,  0.099]])
"""


from .. import backend
from .. import functions as cgf
from ..errors import ShapeError
from ..gates import nn as gates
from ..tensor import apply, as_tensor
from . import functional
from .functional import LabelError, check_labels  # noqa: F401 -- nn's names for them


def _scores(scores, what):
    scores = as_tensor(scores)
    if scores.ndim != 2:
        raise ShapeError(f"{what} takes scores of shape (N, classes), got {scores.shape}")
    return scores


def softmax_cross_entropy(scores, labels):
    """Mean over the batch of -log softmax(scores)[label]: one fused, stable gate."""
    scores = _scores(scores, "softmax_cross_entropy")
    labels = check_labels(labels, scores.shape[1], scores.shape[0])
    return apply(gates.softmax_cross_entropy, (scores, labels))


def svm_loss(scores, labels, margin=1.0):
    """Multiclass SVM (hinge) loss: mean over the batch of sum_{j != y} max(0, s_j - s_y + margin).

    >>> import numpy as np
    >>> round(float(svm_loss(np.array([[3.2, 5.1, -1.7]]), np.array([0]))), 6)  # cat image
    2.9
    """
    scores = _scores(scores, "svm_loss")
    labels = check_labels(labels, scores.shape[1], scores.shape[0])
    n, classes = scores.shape
    rows = backend.arange(n)
    # picked by indexing and masked by where: a one-hot product would turn a -inf score
    # (a class ruled out) into 0 * -inf = nan
    correct = scores[rows, labels].reshape(n, 1)
    others = backend.ones((n, classes), dtype=bool)
    others[rows, labels] = False
    margins = cgf.where(others, cgf.relu(scores - correct + margin), 0.0)
    return margins.sum() / n


def mse_loss(prediction, target):
    """Mean of the squared differences."""
    return functional.mse(prediction, target)


def l2_penalty(parameters, strength):
    """0.5 * strength * sum of squares of ``parameters`` (weight decay, as a loss term).

    Its gradient is ``strength * w``. Usually given weights only, not biases.
    """
    total = None
    for p in parameters:
        term = (p * p).sum()
        total = term if total is None else total + term
    if total is None:
        raise ValueError("l2_penalty needs at least one parameter")
    return total * (0.5 * strength)
