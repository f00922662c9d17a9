"""Dataset and DataLoader: shuffle and batch any NumPy arrays that share their first axis.

>>> import numpy as np
>>> X, y = np.arange(10).reshape(5, 2), np.arange(5)
>>> loader = DataLoader(Dataset(X, y), batch_size=2, shuffle=True, seed=0)
>>> [yb.tolist() for _, yb in loader]
[[2, 4], [3, 0], [1]]
>>> len(loader)
3
"""

import numpy as np

from .. import backend
from ..tensor import Tensor
from .init import generator


class Dataset:
    """Arrays indexed together: ``dataset[i]`` is the tuple of their rows ``i``."""

    def __init__(self, *arrays):
        if not arrays:
            raise ValueError("Dataset needs at least one array")
        self.arrays = tuple(np.asarray(a) for a in arrays)
        lengths = {len(a) for a in self.arrays}
        if len(lengths) != 1:
            raise ValueError(f"the arrays of a Dataset must have the same length along their "
                             f"first axis, got {[len(a) for a in self.arrays]}")

    def __len__(self):
        return len(self.arrays[0])

    def __getitem__(self, index):
        return tuple(a[index] for a in self.arrays)


class DataLoader:
    """Batches of a Dataset, reshuffled every epoch by a generator seeded once.

    Each ``iter()`` is one epoch, in a new order. With a ``seed`` the loader has a generator
    of its own, seeded once, so the sequence of epochs is the same on every run. Without one
    each epoch's order is drawn from the shared generator of ``nn.manual_seed`` (as layer
    initialisation and dropout are), so one ``nn.manual_seed(s)`` repeats a whole training
    run, and a loader rebuilt every epoch still gets a new order each time. A dataset of
    one array yields arrays, otherwise tuples. ``drop_last`` skips a final short batch.
    """

    def __init__(self, dataset, batch_size=64, shuffle=True, seed=None, drop_last=False):
        if not isinstance(dataset, Dataset):
            dataset = Dataset(*dataset) if isinstance(dataset, tuple) else Dataset(dataset)
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, not {batch_size}")
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.rng = None if seed is None else backend.default_rng(seed)

    def __len__(self):
        n, b = len(self.dataset), self.batch_size
        return n // b if self.drop_last else -(-n // b)

    def __iter__(self):
        n = len(self.dataset)
        order = generator(self.rng).permutation(n) if self.shuffle else backend.arange(n)
        for start in range(0, len(self) * self.batch_size, self.batch_size):
            batch = self.dataset[order[start:start + self.batch_size]]
            yield batch[0] if len(batch) == 1 else batch


class TensorDataset(Dataset):
    """PyTorch's name: tensors (or arrays) indexed together along their first axis; a
    Tensor's values are taken as they are (no gradient flows into a dataset)."""

    def __init__(self, *tensors):
        super().__init__(*[t.data if isinstance(t, Tensor) else t for t in tensors])
