"""A training loop that stops with a clear message instead of producing a NaN model.

``fit`` checks the data before the first step (NaN or infinite features and, when
``num_classes=`` is given, labels that are not integers in ``[0, num_classes)``) and
watches the loss at every step: a loss that becomes NaN or infinite, or grows far beyond
where it started, means the learning rate is too large, and training stops there, naming
the epoch, the step and the learning rate. Without ``num_classes=``, labels are not
checked up front: ``softmax_cross_entropy`` and ``svm_loss`` reject a bad training label
in the first batch that holds it, and test labels are not checked at all.

>>> import numpy as np
>>> from circuitgrad import nn
>>> rng = np.random.default_rng(0)
>>> X = rng.standard_normal((200, 2)).astype(np.float32)
>>> y = (X[:, 0] > 0).astype(np.int64)
>>> model = nn.Sequential(nn.Linear(2, 8, rng=0), nn.ReLU(), nn.Linear(8, 2, rng=0))
>>> history = nn.fit(model, nn.DataLoader((X, y), batch_size=20, seed=0),
...                  nn.softmax_cross_entropy, nn.SGD(model.parameters(), lr=0.5), epochs=5)
>>> history["train_accuracy"][-1] > 0.9
True
"""

import contextlib

import numpy as np

from ..core.trace import detect_anomaly as _detect_anomaly
from ..core.trace import no_grad
from ..errors import AnomalyError, CircuitError
from ..i18n import msg
from .data import DataLoader
from .losses import check_labels


class TrainingError(CircuitError, RuntimeError):
    """Training cannot go on: bad data, or a loss that diverged."""


def check_finite(array, what):
    """Raise a TrainingError if a floating-point array holds NaN or infinite values."""
    array = np.asarray(array)
    if array.dtype.kind not in "fc":
        return
    bad = ~np.isfinite(array)
    if bad.any():
        rows = np.nonzero(bad.reshape(len(array), -1).any(axis=1))[0] if array.ndim else [0]
        nan, inf = np.isnan(array).any(), np.isinf(array).any()
        kinds = msg("NaN and infinite") if nan and inf else msg("NaN") if nan else \
            msg("infinite")
        raise TrainingError(msg("{what} contains {count} {kinds} values (in {rows} rows, the "
                                "first is row {first}); remove or fill them before training",
                                what=what, count=int(bad.sum()), kinds=kinds, rows=len(rows),
                                first=int(rows[0])))


def predict(model, X, batch_size=512):
    """The model's outputs for ``X`` as a NumPy array, in evaluation mode, without a circuit."""
    was_training = model.training
    model.eval()
    try:
        with no_grad():
            parts = [np.asarray(model(X[i:i + batch_size]).data)
                     for i in range(0, len(X), batch_size)]
    finally:
        model.train(was_training)
    return np.concatenate(parts)


def accuracy(model, X, y, batch_size=512):
    """Fraction of rows whose highest score is at the true label."""
    return float(np.mean(predict(model, X, batch_size).argmax(axis=1) == np.asarray(y)))


class DivergenceGuard:
    """Stops training when the loss is not finite or grows ``factor`` times above its start."""

    def __init__(self, factor=1e4):
        self.factor = factor
        self.first = None

    def check(self, loss, epoch, step, lr):
        where = _where(epoch, step, lr)
        if not np.isfinite(loss):
            raise TrainingError(msg("the loss became {loss} {where}: training diverged. Lower "
                                    "the learning rate, or check the data and the model",
                                    loss=loss, where=where))
        if self.first is None:
            self.first = max(abs(loss), 1e-3)
        elif self.factor is not None and loss > self.factor * self.first:
            raise TrainingError(msg("the loss grew from {first} to {loss} {where}: training "
                                    "is diverging. Lower the learning rate",
                                    first=f"{self.first:.4g}", loss=f"{loss:.4g}", where=where))


def _where(epoch, step, lr):
    return msg("at epoch {epoch}, step {step} (learning rate {lr})", epoch=epoch + 1,
               step=step + 1, lr=f"{lr:g}")


def _name_the_gate(model, loss_fn, xb, yb):
    """The loss is not finite: run the batch again under anomaly mode, which raises at the
    gate where the NaN or inf began (nothing is raised when the parameters already hold
    them; the guard then says the loss diverged)."""
    with _detect_anomaly():
        loss_fn(model(xb), yb)


def fit(model, loader, loss_fn, optimizer, epochs, *, test=None, schedule=None,
        num_classes=None, on_batch=None, on_epoch=None, divergence_factor=1e4,
        detect_anomaly=False, compile=False):  # noqa: A002 -- cg.compile's name
    """Train ``model`` for ``epochs`` passes over ``loader``; returns the history per epoch.

    ``loader`` yields (inputs, labels) batches; ``loss_fn(scores, labels)`` is a loss such
    as :func:`softmax_cross_entropy`. ``test`` is an optional (X, y) pair scored after every
    epoch. ``schedule.step()`` is called after each epoch. ``on_batch(epoch, step, loss,
    accuracy)`` and ``on_epoch(epoch, record)`` report progress. Accuracy is measured for
    classifiers (2-d scores, integer labels).

    A loss that is not finite stops training with a TrainingError naming the gate where the
    NaN or inf began (the batch's forward pass is run again under ``cg.detect_anomaly()``).
    ``detect_anomaly=True`` checks every step's forward and backward pass that way (slower),
    which also catches a gradient that goes bad while the loss is still finite.

    ``compile=True`` runs each step (forward, ``backward()``, ``optimizer.step()``) as
    generated code, ``cg.compile(step, argnums=None)``: traced once per batch shape, with the
    same updates as the eager step. A model with random or stateful layers (Dropout,
    BatchNorm) is refused, since a trace would fix their masks and statistics. The loss is
    checked after the update there (a divergent step is still reported, one update late).
    """
    if not isinstance(loader, DataLoader):
        raise TypeError("fit takes a DataLoader of (inputs, labels) batches")
    arrays = loader.dataset.arrays
    if len(arrays) != 2:
        raise ValueError(f"fit needs (inputs, labels) data, got {len(arrays)} arrays")
    check_finite(arrays[0], msg("the training data"))
    if num_classes is not None:
        check_labels(arrays[1], num_classes, len(arrays[0]))
    if test is not None:
        check_finite(test[0], msg("the test data"))
        if num_classes is not None:
            check_labels(test[1], num_classes, len(test[0]))
    compiled_step = _compiled_step(model, loss_fn, optimizer, detect_anomaly) if compile \
        else None
    guard = DivergenceGuard(divergence_factor)
    history = {"loss": [], "train_accuracy": [], "test_accuracy": [], "lr": []}
    for epoch in range(epochs):
        model.train()
        total_loss = seen = correct = 0
        for step, (xb, yb) in enumerate(loader):
            if compiled_step is not None:
                value, scores = compiled_step(np.asarray(xb), np.asarray(yb))
                value = float(value)
                if not np.isfinite(value):
                    _name_the_gate(model, loss_fn, xb, yb)
                guard.check(value, epoch, step, optimizer.lr)
            else:
                value, scores = _eager_step(model, loss_fn, optimizer, xb, yb, epoch, step,
                                            guard, detect_anomaly)
            total_loss += value * len(xb)
            seen += len(xb)
            if scores.ndim == 2 and np.asarray(yb).dtype.kind in "iu":
                correct += int(np.sum(np.argmax(scores, axis=1) == yb))
            if on_batch is not None:
                on_batch(epoch, step, total_loss / seen, correct / seen)
        for name, p in model.named_parameters():
            if not np.all(np.isfinite(p.data)):
                raise TrainingError(msg(
                    "parameter '{name}' holds NaN or infinite values after epoch {epoch} "
                    "(learning rate {lr}): training diverged. Lower the learning rate",
                    name=name, epoch=epoch + 1, lr=f"{optimizer.lr:g}"))
        history["loss"].append(total_loss / seen)
        history["train_accuracy"].append(correct / seen)
        history["lr"].append(optimizer.lr)
        if test is not None:
            history["test_accuracy"].append(accuracy(model, *test))
        if schedule is not None:
            schedule.step()
        if on_epoch is not None:
            on_epoch(epoch, {k: v[-1] for k, v in history.items() if v})
    return history


def _eager_step(model, loss_fn, optimizer, xb, yb, epoch, step, guard, detect_anomaly):
    try:
        with _detect_anomaly() if detect_anomaly else contextlib.nullcontext():
            scores = model(xb)
            loss = loss_fn(scores, yb)
            value = float(loss)
            if not np.isfinite(value):
                _name_the_gate(model, loss_fn, xb, yb)
            guard.check(value, epoch, step, optimizer.lr)
            optimizer.zero_grad()
            loss.backward()
    except AnomalyError as err:
        raise TrainingError(msg("{where}: {error}", where=_where(epoch, step, optimizer.lr),
                                error=str(err))) from err
    optimizer.step()
    return value, scores.data


_NOT_TRACEABLE = ("Dropout", "_BatchNorm")


def _compiled_step(model, loss_fn, optimizer, detect_anomaly):
    """fit's step as generated code (``compile=True``)."""
    from ..compiler import steps as stepcompile  # noqa: PLC0415 -- the compiler imports nn

    if detect_anomaly:
        raise ValueError("fit: compile=True and detect_anomaly=True do not go together (the "
                         "compiled step runs no gates to check); choose one")
    for name, m in model.named_modules():
        kinds = {c.__name__ for c in type(m).__mro__}
        if kinds & set(_NOT_TRACEABLE):
            raise ValueError(msg("fit(compile=True): module '{name}' ({kind}) draws random "
                                 "masks or keeps running statistics, which a traced step "
                                 "would fix; train it eagerly",
                                 name=name or type(m).__name__, kind=type(m).__name__))

    def train_step(xb, yb):
        scores = model(xb)
        loss = loss_fn(scores, yb)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss, scores

    return stepcompile.compile(train_step, argnums=None)

