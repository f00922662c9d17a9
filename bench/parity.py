"""What the comparisons with PyTorch (nn_more_parity.py, transpose_parity.py) share."""

import numpy as np


def difference(ours, theirs):
    """The largest |ours - theirs| / max(1, |theirs|): absolute for values up to 1, relative
    beyond; nan where the shapes differ."""
    ours, theirs = np.asarray(ours, np.float64), np.asarray(theirs, np.float64)
    if ours.shape != theirs.shape:
        return float("nan")
    return float(np.max(np.abs(ours - theirs) / np.maximum(1.0, np.abs(theirs)))) \
        if ours.size else 0.0
