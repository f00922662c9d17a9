"""Optimizers (SGD with momentum or Nesterov, RMSProp, Adam) and learning-rate schedules.

``step()`` updates every parameter in place from its ``.grad``; ``zero_grad()`` clears the
gradients, which otherwise add up across ``backward()`` calls. Updates are done on the
parameters' arrays in place and keep their dtype (hyperparameters are Python floats, which
never promote float32 to float64).

>>> import numpy as np
>>> from circuitgrad import nn
>>> w = nn.Parameter(np.array([1.0, -2.0]))
>>> opt = SGD([w], lr=0.1)
>>> (w * w).sum().backward()     # gradient 2w
>>> opt.step()
>>> w.data
array([ 0.8, -1.6])
"""

import math
import numbers

import numpy as np

from .. import backend
from ..tensor import changed_in_place


class Optimizer:
    """Base class: holds the parameters and the learning rate; subclasses define ``update``."""

    def __init__(self, parameters, lr, weight_decay=0.0):
        self.parameters = list(parameters)
        if not self.parameters:
            raise ValueError(f"{type(self).__name__} got no parameters to optimise")
        first = {}
        for i, p in enumerate(self.parameters):
            # a frozen parameter (requires_grad False) is kept and skipped while frozen,
            # as in PyTorch. Listed twice (a tied weight in two modules' lists, say), step()
            # would move it twice; model.parameters() lists a shared parameter once
            j = first.setdefault(id(p), i)
            if j != i:
                name = f" ({p.name!r})" if getattr(p, "name", None) else ""
                raise ValueError(f"parameter {i}{name} is parameter {j} again: "
                                 f"{type(self).__name__} would update it twice per step; "
                                 f"list each parameter once")
        if not lr > 0:
            raise ValueError(f"the learning rate must be positive, not {lr}")
        self.lr = float(lr)
        self.weight_decay = float(weight_decay)
        self.state = [{} for _ in self.parameters]

    def zero_grad(self):
        for p in self.parameters:
            p.grad = None

    @property
    def param_groups(self):
        """PyTorch's view of the hyperparameters: one group holding every parameter, whose
        ``"lr"`` (and other entries) can be read and set (``g["lr"] = 0.01``)."""
        return [_Group(self)]

    def state_dict(self):
        """The hyperparameters and each parameter's running state (copied), by position."""
        return {"hyperparameters": {k: getattr(self, k) for k in self._hyperparameters()},
                "state": [{k: (v.copy() if isinstance(v, backend.ndarray) else v)
                           for k, v in st.items()} for st in self.state]}

    def load_state_dict(self, state):
        """Take back what :meth:`state_dict` gave, for the same parameters in the same order."""
        saved = state["state"]
        if len(saved) != len(self.parameters):
            raise ValueError(f"{type(self).__name__}.load_state_dict: the state is of "
                             f"{len(saved)} parameters, this optimizer has "
                             f"{len(self.parameters)}")
        for k, v in state["hyperparameters"].items():
            if k not in self._hyperparameters():
                raise ValueError(f"{type(self).__name__} has no hyperparameter {k!r}")
            setattr(self, k, v)
        self.state = [{k: (v.copy() if isinstance(v, backend.ndarray) else v)
                       for k, v in st.items()} for st in saved]

    def _hyperparameters(self):
        return [k for k, v in vars(self).items()
                if k not in ("parameters", "state") and isinstance(v, (int, float, bool))]

    def step(self):
        """Apply one update to every parameter that received a gradient."""
        for p, state in zip(self.parameters, self.state, strict=True):
            g = p.grad
            if g is None or not p.requires_grad:  # no gradient arrived, or frozen
                continue
            self._decoupled_decay(p.data)
            if self.weight_decay and not self.decoupled:
                g = g + self.weight_decay * p.data  # L2 decay: its gradient is wd * w
            w = p.data
            if isinstance(w, backend.ndarray):
                self.update(w, g, state)           # in place: no copy, dtype kept
                changed_in_place(p)                # a circuit recorded before now is stale
            else:                                  # a 0-d parameter holds an immutable scalar
                box = np.array(w)
                self.update(box, g, state)
                p.data = box

    decoupled = False  # AdamW: weight decay applied to the weights, not added to g

    def _decoupled_decay(self, w):
        """AdamW's decoupled decay, ``w -= lr * weight_decay * w``; nothing for the others."""
        if self.decoupled and self.weight_decay:
            if isinstance(w, backend.ndarray):
                w *= 1.0 - self.lr * self.weight_decay

    def update(self, w, g, state):
        raise NotImplementedError

    def __repr__(self):
        return f"{type(self).__name__}(lr={self.lr:g})"


class _Group(dict):
    """One entry of ``param_groups``: a dict whose changes reach the optimizer."""

    def __init__(self, optimizer):
        super().__init__(params=optimizer.parameters,
                         **{k: getattr(optimizer, k) for k in optimizer._hyperparameters()})
        self._optimizer = optimizer

    def __setitem__(self, key, value):
        if key not in self._optimizer._hyperparameters():
            raise KeyError(f"{type(self._optimizer).__name__} has no hyperparameter {key!r}")
        setattr(self._optimizer, key, float(value) if key == "lr" else value)
        super().__setitem__(key, value)


class SGD(Optimizer):
    """Stochastic gradient descent, optionally with momentum (classic or Nesterov).

    With momentum ``mu`` a velocity integrates the gradient: ``v = mu*v - lr*g; w += v``.
    Nesterov evaluates the gradient at the looked-ahead point, which in the notes' form is
    ``w += -mu*v_prev + (1 + mu)*v``.
    """

    def __init__(self, parameters, lr, momentum=0.0, nesterov=False, weight_decay=0.0):
        super().__init__(parameters, lr, weight_decay)
        if nesterov and not momentum:
            raise ValueError("Nesterov momentum needs momentum > 0")
        self.momentum, self.nesterov = float(momentum), bool(nesterov)

    def update(self, w, g, state):
        lr, mu = self.lr, self.momentum
        if not mu:
            w -= lr * g
            return
        v = state.get("velocity")
        if v is None:
            v = state["velocity"] = backend.zeros_like(w)
        if self.nesterov:
            w -= mu * v                # undo the look-ahead of the previous velocity ...
            v *= mu
            v -= lr * g
            w += (1 + mu) * v          # ... and look ahead with the new one
        else:
            v *= mu
            v -= lr * g
            w += v


class RMSProp(Optimizer):
    """Divide each step by a running RMS of that parameter's gradients (per element)."""

    def __init__(self, parameters, lr=1e-3, decay=0.99, eps=1e-8, weight_decay=0.0):
        super().__init__(parameters, lr, weight_decay)
        self.decay, self.eps = float(decay), float(eps)

    def update(self, w, g, state):
        cache = state.get("cache")
        if cache is None:
            cache = state["cache"] = backend.zeros_like(w)
        cache *= self.decay
        cache += (1 - self.decay) * (g * g)
        w -= self.lr * g / (np.sqrt(cache) + self.eps)


class Adam(Optimizer):
    """Momentum on the gradient and RMSProp's scaling, both bias-corrected for early steps."""

    def __init__(self, parameters, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(parameters, lr, weight_decay)
        self.beta1, self.beta2 = (float(b) for b in betas)
        self.eps = float(eps)

    def update(self, w, g, state):
        m = state.get("m")
        if m is None:
            m = state["m"] = backend.zeros_like(w)
            state["v"] = backend.zeros_like(w)
            state["t"] = 0
        v = state["v"]
        state["t"] += 1
        t = state["t"]
        m *= self.beta1
        m += (1 - self.beta1) * g
        v *= self.beta2
        v += (1 - self.beta2) * (g * g)
        # bias correction folded into the step size: Python floats, so float32 stays float32
        step = self.lr * math.sqrt(1 - self.beta2 ** t) / (1 - self.beta1 ** t)
        eps = self.eps * math.sqrt(1 - self.beta2 ** t)
        w -= step * m / (np.sqrt(v) + eps)


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov and Hutter): each step shrinks the
    weights by ``lr * weight_decay`` apart from the gradient's update."""

    decoupled = True

    def __init__(self, parameters, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01):
        super().__init__(parameters, lr, betas, eps, weight_decay)


def clip_grad_norm_(parameters, max_norm, norm_type=2.0):
    """Scale the gradients of ``parameters`` in place so that their joint norm is at most
    ``max_norm``; returns the norm before clipping (a float)."""
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return 0.0
    if norm_type == math.inf:
        total = max(float(np.max(np.abs(g))) for g in grads)
    else:
        total = sum(float(np.sum(np.abs(g) ** norm_type)) for g in grads) ** (1.0 / norm_type)
    scale = float(max_norm) / (total + 1e-6)
    if scale < 1.0:
        for p in parameters:
            if p.grad is not None:
                p.grad = p.grad * np.asarray(scale, dtype=np.result_type(p.grad))
    return total


# ----- learning-rate schedules ----------------------------------------------------------------
class Schedule:
    """Changes ``optimizer.lr`` each time ``step()`` is called (once per epoch, usually)."""

    def __init__(self, optimizer):
        self.optimizer = optimizer
        self.base_lr = optimizer.lr
        self.steps = 0

    def step(self):
        self.steps += 1
        self.optimizer.lr = float(self.lr_at(self.steps))
        return self.optimizer.lr

    def lr_at(self, steps):
        raise NotImplementedError


def _positive_int(value, what):
    """``value`` as an int, or a ValueError naming ``what`` (schedules divide by it)."""
    if isinstance(value, numbers.Real) and float(value).is_integer() and value >= 1:
        return int(value)
    raise ValueError(f"{what} must be a positive integer, got {value!r}")


class StepLR(Schedule):
    """Multiply the learning rate by ``gamma`` every ``step_size`` steps.

    >>> from circuitgrad import nn
    >>> opt = SGD([nn.Parameter([1.0])], lr=1.0)
    >>> schedule = StepLR(opt, step_size=2, gamma=0.5)
    >>> [schedule.step() for _ in range(5)]
    [1.0, 0.5, 0.5, 0.25, 0.25]
    """

    def __init__(self, optimizer, step_size, gamma=0.1):
        super().__init__(optimizer)
        self.step_size = _positive_int(step_size, "StepLR: step_size")
        self.gamma = float(gamma)

    def lr_at(self, steps):
        return self.base_lr * self.gamma ** (steps // self.step_size)


class CosineLR(Schedule):
    """Cosine decay from the optimizer's learning rate to ``min_lr`` over ``total_steps``."""

    def __init__(self, optimizer, total_steps, min_lr=0.0):
        super().__init__(optimizer)
        self.total_steps = _positive_int(total_steps, "CosineLR: total_steps")
        self.min_lr = float(min_lr)

    def lr_at(self, steps):
        progress = min(steps, self.total_steps) / self.total_steps
        return self.min_lr + 0.5 * (self.base_lr - self.min_lr) * (1 + math.cos(math.pi * progress))


class CosineAnnealingLR(CosineLR):
    """PyTorch's name and arguments for :class:`CosineLR`: ``T_max`` steps to ``eta_min``."""

    def __init__(self, optimizer, T_max, eta_min=0.0):
        super().__init__(optimizer, _positive_int(T_max, "CosineAnnealingLR: T_max"), eta_min)
