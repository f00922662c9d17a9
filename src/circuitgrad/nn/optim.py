"""Optimizers (SGD with momentum or Nesterov, RMSProp/RMSprop, Adagrad, Adam, AdamW) and
learning-rate schedules.

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

import bisect
import math
import numbers

import numpy as np

from .. import backend
from ..tensor import changed_in_place


class Optimizer:
    """Base class: holds the parameters and the hyperparameters; subclasses define ``update``.

    ``parameters`` is an iterable of parameters, or, as in PyTorch, of parameter groups:
    dicts with ``"params"`` and the hyperparameters that group sets differently from the
    optimizer's arguments (``[{"params": body}, {"params": head, "lr": 1e-3}]``).
    """

    def __init__(self, parameters, lr, weight_decay=0.0):
        self.parameters, self._groups = [], []
        for group in list(parameters):
            self._add_group(group)
        if not self.parameters:
            raise ValueError(f"{type(self).__name__} got no parameters to optimise")
        if not lr > 0:
            raise ValueError(f"the learning rate must be positive, not {lr}")
        self.lr = float(lr)
        self.weight_decay = float(weight_decay)
        self.state = [{} for _ in self.parameters]

    def _add_group(self, group):
        """Append ``group`` (a parameter, or a dict with ``"params"``) to the parameters."""
        if isinstance(group, dict):
            if "params" not in group:
                raise ValueError(f"{type(self).__name__}: a parameter group is a dict with "
                                 f"'params', got the keys {sorted(group)}")
            members = group["params"]
            members = [members] if hasattr(members, "data") else list(members)
            settings = {k: v for k, v in group.items() if k != "params"}
        else:  # a bare parameter joins the group without settings of its own
            members, settings = [group], None
        if settings is None and self._groups and self._groups[-1][1] is None:
            self._groups[-1][0].extend(members)
        else:
            self._groups.append((members, _check_settings(type(self).__name__, settings)))
        seen = {id(q): j for j, q in enumerate(self.parameters)}
        for p in members:
            # a frozen parameter (requires_grad False) is kept and skipped while frozen,
            # as in PyTorch. Listed twice (a tied weight in two modules' lists, say), step()
            # would move it twice; model.parameters() lists a shared parameter once
            j = seen.setdefault(id(p), len(self.parameters))
            if j != len(self.parameters):
                name = f" ({p.name!r})" if getattr(p, "name", None) else ""
                raise ValueError(
                    f"parameter {len(self.parameters)}{name} is parameter {j} again: "
                    f"{type(self).__name__} would update it twice per step; list each "
                    f"parameter once")
            self.parameters.append(p)

    def add_param_group(self, group):
        """Add a group of parameters (a dict with ``"params"``), as in PyTorch."""
        if not isinstance(group, dict):
            raise ValueError(f"add_param_group takes a dict with 'params', got "
                             f"{type(group).__name__}")
        before = len(self.parameters)
        self._add_group(group)
        self._check_group_keys()
        self.state.extend({} for _ in range(len(self.parameters) - before))

    def zero_grad(self, set_to_none=True):
        """Clear the gradients: to None (PyTorch's default), or to zeros in place."""
        for p in self.parameters:
            if set_to_none or p.grad is None:
                p.grad = None
            else:
                p.grad = p.grad * 0

    @property
    def param_groups(self):
        """PyTorch's view of the groups: dicts of ``"params"`` and every hyperparameter,
        which can be read and set (``g["lr"] = 0.01``)."""
        self._check_group_keys()
        return [_Group(self, i) for i in range(len(self._groups))]

    def _check_group_keys(self):
        # subclasses set their hyperparameters after Optimizer.__init__, so a group's keys
        # are checked here, before the first step or view of the groups
        known = self._hyperparameters()
        for _members, settings in self._groups:
            for key in settings or ():
                if key not in known:
                    raise ValueError(f"{type(self).__name__} has no hyperparameter {key!r} "
                                     f"(a parameter group sets it); it has {known}")

    def state_dict(self):
        """PyTorch's layout: ``"state"`` (each parameter's running state, copied, by
        position) and ``"param_groups"`` (each group's hyperparameters and positions)."""
        position = {id(p): i for i, p in enumerate(self.parameters)}
        groups = [{**{k: v for k, v in g.items() if k != "params"},
                   "params": [position[id(p)] for p in g["params"]]}
                  for g in self.param_groups]
        return {"state": {i: {k: (v.copy() if isinstance(v, backend.ndarray) else v)
                              for k, v in st.items()} for i, st in enumerate(self.state)},
                "param_groups": groups}

    def load_state_dict(self, state):
        """Take back what :meth:`state_dict` gave, for the same parameters in the same order
        (and the form of earlier versions: ``"hyperparameters"`` and a list of states)."""
        saved = state["state"]
        saved = [saved[i] for i in sorted(saved)] if isinstance(saved, dict) else list(saved)
        if len(saved) != len(self.parameters):
            raise ValueError(f"{type(self).__name__}.load_state_dict: the state is of "
                             f"{len(saved)} parameters, this optimizer has "
                             f"{len(self.parameters)}")
        if "param_groups" in state:
            groups = state["param_groups"]
            sizes = [len(g["params"]) for g in groups]
            if sizes != [len(members) for members, _ in self._groups]:
                raise ValueError(f"{type(self).__name__}.load_state_dict: the saved groups "
                                 f"hold {sizes} parameters, this optimizer's hold "
                                 f"{[len(m) for m, _ in self._groups]}")
            known = self._hyperparameters()
            for (_members, settings), group in zip(self._groups, groups, strict=True):
                for k, v in group.items():
                    if k == "params":
                        continue
                    if k not in known:
                        raise ValueError(f"{type(self).__name__} has no hyperparameter {k!r} "
                                         f"(a saved parameter group sets it)")
                    v = float(v) if k == "lr" else v
                    if settings is not None and k in settings:
                        settings[k] = v        # the group's own setting
                    else:
                        # a value the group takes from the optimizer: restored there, so the
                        # group keeps following it (a schedule sets optimizer.lr)
                        setattr(self, k, v)
        else:
            for k, v in state["hyperparameters"].items():
                if k not in self._hyperparameters():
                    raise ValueError(f"{type(self).__name__} has no hyperparameter {k!r}")
                setattr(self, k, v)
        self.state = [{k: (v.copy() if isinstance(v, backend.ndarray) else v)
                       for k, v in st.items()} for st in saved]

    def _hyperparameters(self):
        return [k for k, v in vars(self).items()
                if k not in ("parameters", "state") and not k.startswith("_")
                and isinstance(v, (int, float, bool))]

    def step(self):
        """Apply one update to every parameter that received a gradient."""
        self._check_group_keys()
        first = 0
        for members, settings in self._groups:
            states = self.state[first:first + len(members)]
            first += len(members)
            if not settings:
                self._step_group(members, states)
                continue
            # a group's own settings stand in for the optimizer's while it is updated
            defaults = {k: getattr(self, k) for k in settings}
            try:
                for k, v in settings.items():
                    setattr(self, k, v)
                self._step_group(members, states)
            finally:
                for k, v in defaults.items():
                    setattr(self, k, v)

    def _step_group(self, members, states):
        for p, state in zip(members, states, strict=True):
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


def _check_settings(optimizer, settings):
    """A group's settings with PyTorch's ``betas`` split into ``beta1``/``beta2``, and the
    learning rate checked (the keys are checked once the optimizer has them all)."""
    if settings is None:
        return None
    settings = dict(settings)
    if "betas" in settings:
        settings["beta1"], settings["beta2"] = (float(b) for b in settings.pop("betas"))
    if "lr" in settings:
        if not settings["lr"] > 0:
            raise ValueError(f"{optimizer}: a group's learning rate must be positive, not "
                             f"{settings['lr']}")
        settings["lr"] = float(settings["lr"])
    return settings


class _Group(dict):
    """One entry of ``param_groups``: a dict whose changes reach the optimizer (the group's
    own settings; with one group and no settings, the optimizer's attributes)."""

    def __init__(self, optimizer, index):
        members, settings = optimizer._groups[index]
        values = {k: getattr(optimizer, k) for k in optimizer._hyperparameters()}
        super().__init__(params=list(members), **{**values, **(settings or {})})
        self._optimizer, self._index = optimizer, index

    def __setitem__(self, key, value):
        opt = self._optimizer
        if key not in opt._hyperparameters():
            raise KeyError(f"{type(opt).__name__} has no hyperparameter {key!r}")
        value = float(value) if key == "lr" else value
        members, settings = opt._groups[self._index]
        if settings is None and len(opt._groups) == 1:
            setattr(opt, key, value)
        else:
            if settings is None:
                opt._groups[self._index] = (members, settings := {})
            settings[key] = value
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


class RMSprop(Optimizer):
    """PyTorch's RMSprop, its spelling and arguments: ``v = alpha v + (1 - alpha) g^2``;
    ``centered`` subtracts the square of a running mean of g from v; with ``momentum`` a
    buffer ``b = momentum b + g / (sqrt(v) + eps)`` is what steps the weights."""

    def __init__(self, parameters, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0,
                 momentum=0.0, centered=False):
        super().__init__(parameters, lr, weight_decay)
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"RMSprop: alpha must be in [0, 1], not {alpha}")
        if momentum < 0:
            raise ValueError(f"RMSprop: momentum must not be negative, not {momentum}")
        self.alpha, self.eps = float(alpha), float(eps)
        self.momentum, self.centered = float(momentum), bool(centered)

    def update(self, w, g, state):
        v = state.get("square_avg")
        if v is None:
            v = state["square_avg"] = backend.zeros_like(w)
        v *= self.alpha
        v += (1 - self.alpha) * (g * g)
        if self.centered:
            mean = state.get("grad_avg")
            if mean is None:
                mean = state["grad_avg"] = backend.zeros_like(w)
            mean *= self.alpha
            mean += (1 - self.alpha) * g
            denominator = np.sqrt(v - mean * mean) + self.eps
        else:
            denominator = np.sqrt(v) + self.eps
        if self.momentum:
            b = state.get("momentum_buffer")
            if b is None:
                b = state["momentum_buffer"] = backend.zeros_like(w)
            b *= self.momentum
            b += g / denominator
            w -= self.lr * b
        else:
            w -= self.lr * g / denominator


class Adagrad(Optimizer):
    """Each element's step divided by the root of its summed squared gradients: steps
    shrink where gradients have been large. PyTorch's arguments: the rate decays as
    ``lr / (1 + (t - 1) lr_decay)``; the sums start at ``initial_accumulator_value``."""

    def __init__(self, parameters, lr=1e-2, lr_decay=0.0, weight_decay=0.0,
                 initial_accumulator_value=0.0, eps=1e-10):
        super().__init__(parameters, lr, weight_decay)
        if lr_decay < 0 or initial_accumulator_value < 0:
            raise ValueError(f"Adagrad: lr_decay ({lr_decay}) and initial_accumulator_value "
                             f"({initial_accumulator_value}) must not be negative")
        self.lr_decay, self.eps = float(lr_decay), float(eps)
        self.initial_accumulator_value = float(initial_accumulator_value)

    def update(self, w, g, state):
        total = state.get("sum")
        if total is None:
            total = state["sum"] = backend.full_like(w, self.initial_accumulator_value)
            state["step"] = 0
        state["step"] += 1
        rate = self.lr / (1 + (state["step"] - 1) * self.lr_decay)
        total += g * g
        w -= rate * g / (np.sqrt(total) + self.eps)


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


def _parameter_list(parameters):
    """A list of ``parameters``: one tensor, or any iterable (a generator is read once)."""
    return [parameters] if hasattr(parameters, "grad") else list(parameters)


def clip_grad_norm_(parameters, max_norm, norm_type=2.0):
    """Scale the gradients of ``parameters`` in place so that their joint norm is at most
    ``max_norm``; returns the norm before clipping (a float)."""
    parameters = _parameter_list(parameters)
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


def clip_grad_value_(parameters, clip_value):
    """Clamp every gradient entry of ``parameters`` into [-clip_value, clip_value], in place.

    >>> from circuitgrad import nn
    >>> p = nn.Parameter([0.0, 0.0, 0.0])
    >>> p.grad = np.array([-3.0, 0.5, 2.0])
    >>> clip_grad_value_([p], 1.0)
    >>> p.grad
    array([-1. ,  0.5,  1. ])
    """
    clip_value = float(clip_value)
    if not clip_value >= 0:
        raise ValueError(f"clip_grad_value_: clip_value must not be negative, not {clip_value}")
    for p in _parameter_list(parameters):
        if p.grad is not None:
            p.grad = np.clip(p.grad, -clip_value, clip_value).astype(np.result_type(p.grad),
                                                                      copy=False)


# ----- learning-rate schedules ----------------------------------------------------------------
class Schedule:
    """Changes ``optimizer.lr`` each time ``step()`` is called (once per epoch, usually),
    and each parameter group's own learning rate in the same proportion of its start."""

    def __init__(self, optimizer):
        self.optimizer = optimizer
        self.base_lr = optimizer.lr
        self._group_base = [(settings, settings["lr"]) for _, settings in optimizer._groups
                            if settings and "lr" in settings]
        self.steps = 0

    def step(self):
        self.steps += 1
        return self._apply(self.steps)

    def _apply(self, steps):
        self.optimizer.lr = float(self.lr_at(steps))
        for settings, start in self._group_base:
            settings["lr"] = float(self.lr_at(steps, start))
        return self.optimizer.lr

    def lr_at(self, steps, base_lr=None):
        """The learning rate after ``steps`` steps, for a rate that started at ``base_lr``
        (the optimizer's, by default)."""
        raise NotImplementedError

    def state_dict(self):
        """What a resumed run needs (steps taken, the starting rates), as PyTorch's
        schedulers give it; functions such as LambdaLR's ``lr_lambda`` are left out."""
        state = {k: (list(v) if isinstance(v, list) else v) for k, v in vars(self).items()
                 if k not in ("optimizer", "_group_base") and not callable(v)}
        state["group_base_lrs"] = [start for _, start in self._group_base]
        return state

    def load_state_dict(self, state):
        """Take back what :meth:`state_dict` gave, for a schedule made the same way (on an
        optimizer whose own state was loaded too)."""
        state = dict(state)
        starts = state.pop("group_base_lrs", [])
        if len(starts) != len(self._group_base):
            raise ValueError(f"{type(self).__name__}.load_state_dict: the state has the "
                             f"starting rates of {len(starts)} parameter groups with their own "
                             f"rate, this schedule's optimizer has {len(self._group_base)}")
        vars(self).update(state)
        self._group_base = [(settings, start) for (settings, _), start
                            in zip(self._group_base, starts, strict=True)]


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

    def lr_at(self, steps, base_lr=None):
        base = self.base_lr if base_lr is None else base_lr
        return base * self.gamma ** (steps // self.step_size)


class CosineLR(Schedule):
    """Cosine decay from the optimizer's learning rate to ``min_lr`` over ``total_steps``."""

    def __init__(self, optimizer, total_steps, min_lr=0.0):
        super().__init__(optimizer)
        self.total_steps = _positive_int(total_steps, "CosineLR: total_steps")
        self.min_lr = float(min_lr)

    def lr_at(self, steps, base_lr=None):
        base = self.base_lr if base_lr is None else base_lr
        progress = min(steps, self.total_steps) / self.total_steps
        return self.min_lr + 0.5 * (base - self.min_lr) * (1 + math.cos(math.pi * progress))


class CosineAnnealingLR(CosineLR):
    """PyTorch's name and arguments for :class:`CosineLR`: ``T_max`` steps to ``eta_min``."""

    def __init__(self, optimizer, T_max, eta_min=0.0):
        super().__init__(optimizer, _positive_int(T_max, "CosineAnnealingLR: T_max"), eta_min)


class ExponentialLR(Schedule):
    """Multiply the learning rate by ``gamma`` every step.

    >>> from circuitgrad import nn
    >>> schedule = ExponentialLR(SGD([nn.Parameter([1.0])], lr=1.0), gamma=0.5)
    >>> [schedule.step() for _ in range(3)]
    [0.5, 0.25, 0.125]
    """

    def __init__(self, optimizer, gamma):
        super().__init__(optimizer)
        self.gamma = float(gamma)

    def lr_at(self, steps, base_lr=None):
        base = self.base_lr if base_lr is None else base_lr
        return base * self.gamma ** steps


class MultiStepLR(Schedule):
    """Multiply the learning rate by ``gamma`` at each of the step counts ``milestones``.

    >>> from circuitgrad import nn
    >>> schedule = MultiStepLR(SGD([nn.Parameter([1.0])], lr=1.0), milestones=[2, 4])
    >>> [round(schedule.step(), 6) for _ in range(5)]
    [1.0, 0.1, 0.1, 0.01, 0.01]
    """

    def __init__(self, optimizer, milestones, gamma=0.1):
        super().__init__(optimizer)
        self.milestones = sorted(_positive_int(m, "MultiStepLR: each milestone")
                                 for m in milestones)
        self.gamma = float(gamma)

    def lr_at(self, steps, base_lr=None):
        base = self.base_lr if base_lr is None else base_lr
        return base * self.gamma ** bisect.bisect_right(self.milestones, steps)


class LambdaLR(Schedule):
    """The starting rate times ``lr_lambda(steps)``, a function of the step count. As in
    PyTorch the rate is set to ``base * lr_lambda(0)`` at once (a warm-up from 0 starts
    at 0).

    >>> from circuitgrad import nn
    >>> opt = SGD([nn.Parameter([1.0])], lr=0.1)
    >>> schedule = LambdaLR(opt, lambda step: min(1.0, (step + 1) / 3))  # warm-up
    >>> [round(opt.lr, 6)] + [round(schedule.step(), 6) for _ in range(3)]
    [0.033333, 0.066667, 0.1, 0.1]
    """

    def __init__(self, optimizer, lr_lambda):
        if not callable(lr_lambda):
            raise TypeError(f"LambdaLR: lr_lambda must be a function of the step count (one "
                            f"for all groups), not {type(lr_lambda).__name__}")
        super().__init__(optimizer)
        self.lr_lambda = lr_lambda
        self._apply(0)

    def lr_at(self, steps, base_lr=None):
        base = self.base_lr if base_lr is None else base_lr
        return base * float(self.lr_lambda(steps))


class OneCycleLR(Schedule):
    """PyTorch's one-cycle policy over ``total_steps`` (or ``epochs * steps_per_epoch``),
    stepped once per batch: the rate goes from ``max_lr / div_factor`` up to ``max_lr`` over
    the first ``pct_start`` of the steps, then down to ``initial / final_div_factor`` (cosine,
    or linear with ``anneal_strategy="linear"``); ``three_phase`` comes back down to the
    initial rate before the final descent. ``max_lr`` may be a list, one per group. As in
    PyTorch, ``cycle_momentum`` (on by default) moves the momentum (SGD's, RMSprop's) or
    Adam's beta1 the other way, from ``max_momentum`` down to ``base_momentum`` and back.

    >>> from circuitgrad import nn
    >>> opt = SGD([nn.Parameter([1.0])], lr=1.0)
    >>> schedule = OneCycleLR(opt, max_lr=1.0, total_steps=5, pct_start=0.5)
    >>> [round(opt.lr, 4)] + [round(schedule.step(), 4) for _ in range(4)]
    [0.04, 0.76, 0.9045, 0.3455, 0.0]
    >>> round(opt.momentum, 4)      # back up at the end of the cycle
    0.95
    """

    def __init__(self, optimizer, max_lr, total_steps=None, epochs=None, steps_per_epoch=None,
                 pct_start=0.3, anneal_strategy="cos", cycle_momentum=True, base_momentum=0.85,
                 max_momentum=0.95, div_factor=25.0, final_div_factor=1e4, three_phase=False):
        if total_steps is None:
            if epochs is None or steps_per_epoch is None:
                raise ValueError("OneCycleLR needs total_steps, or epochs and steps_per_epoch")
            total_steps = _positive_int(epochs, "OneCycleLR: epochs") * \
                _positive_int(steps_per_epoch, "OneCycleLR: steps_per_epoch")
        self.total_steps = _positive_int(total_steps, "OneCycleLR: total_steps")
        if not 0 < pct_start < 1:
            raise ValueError(f"OneCycleLR: pct_start must lie in (0, 1), not {pct_start}")
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(f"OneCycleLR: anneal_strategy must be 'cos' or 'linear', not "
                             f"{anneal_strategy!r}")
        groups = len(optimizer._groups)
        peaks = _per_group(max_lr, groups, "max_lr")
        self.pct_start, self.anneal_strategy = float(pct_start), anneal_strategy
        self.div_factor, self.final_div_factor = float(div_factor), float(final_div_factor)
        self.three_phase, self.cycle_momentum = bool(three_phase), bool(cycle_momentum)
        if self.cycle_momentum:
            known = optimizer._hyperparameters()
            self._momentum_name = "momentum" if "momentum" in known else \
                "beta1" if "beta1" in known else None
            if self._momentum_name is None:
                raise ValueError(f"OneCycleLR: {type(optimizer).__name__} has no momentum or "
                                 f"beta1 to cycle; pass cycle_momentum=False")
            self._momenta = list(zip(_per_group(base_momentum, groups, "base_momentum"),
                                     _per_group(max_momentum, groups, "max_momentum"),
                                     strict=True))
        # each group's rate is set to the start of its cycle; lr_at(steps, base) then reads
        # the group's peak back from that start
        for index, peak in enumerate(peaks):
            members, settings = optimizer._groups[index]
            start = float(peak) / self.div_factor
            if settings is None and groups == 1:
                optimizer.lr = start
            else:
                if settings is None:
                    optimizer._groups[index] = (members, settings := {})
                settings["lr"] = start
        super().__init__(optimizer)
        up = float(self.pct_start * self.total_steps) - 1
        self._ends = [up, 2 * up, self.total_steps - 1] if self.three_phase else \
            [up, self.total_steps - 1]
        # per phase: the rate's start and end as multiples of the initial rate, and the
        # momentum's as 0 (base) or 1 (max)
        down = 1.0 / self.final_div_factor
        self._rate_phases = [(1.0, self.div_factor), (self.div_factor, 1.0), (1.0, down)] \
            if self.three_phase else [(1.0, self.div_factor), (self.div_factor, down)]
        self._momentum_phases = [(1, 0), (0, 1), (1, 1)] if self.three_phase else \
            [(1, 0), (0, 1)]
        self._apply(0)

    def _where(self, steps):
        """(phase, share of it done) after ``steps`` steps."""
        if steps > self.total_steps:
            raise ValueError(f"OneCycleLR stepped {steps} times, past its total_steps "
                             f"({self.total_steps}); make it with more steps")
        begin, last = 0.0, len(self._ends) - 1
        for i, end in enumerate(self._ends):
            if steps <= end or i == last:
                return i, (steps - begin) / (end - begin) if end > begin else 1.0
            begin = end
        raise AssertionError("unreachable: the last phase ends at total_steps - 1")

    def _anneal(self, start, end, share):
        if self.anneal_strategy == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * share) + 1)
        return (end - start) * share + start

    def lr_at(self, steps, base_lr=None):
        initial = self.base_lr if base_lr is None else base_lr
        phase, share = self._where(steps)
        start, end = self._rate_phases[phase]
        return self._anneal(initial * start, initial * end, share)

    def _apply(self, steps):
        lr = super()._apply(steps)
        if self.cycle_momentum:
            phase, share = self._where(steps)
            start, end = self._momentum_phases[phase]
            for group, momenta in zip(self.optimizer.param_groups, self._momenta, strict=True):
                group[self._momentum_name] = self._anneal(momenta[start], momenta[end], share)
        return lr


def _per_group(value, groups, what):
    """One value of a schedule's argument per parameter group (a list, or one for all)."""
    values = list(value) if isinstance(value, (list, tuple)) else [value] * groups
    if len(values) != groups:
        raise ValueError(f"{len(values)} values of {what} for {groups} parameter groups")
    return [float(v) for v in values]


class ReduceLROnPlateau:
    """Divide the learning rate by ``1 / factor`` when a measured value (a validation
    loss, say) has stopped improving for ``patience`` calls of ``step(metric)``, as
    PyTorch's does: ``mode`` "min" or "max"; an improvement must beat the best by
    ``threshold`` (relative, or absolute with ``threshold_mode="abs"``); after a cut
    ``cooldown`` calls pass before counting again; no rate goes below ``min_lr`` (one value,
    or one per group), and a cut smaller than ``eps`` is not made.

    >>> from circuitgrad import nn
    >>> opt = SGD([nn.Parameter([1.0])], lr=1.0)
    >>> plateau = ReduceLROnPlateau(opt, factor=0.5, patience=1)
    >>> [plateau.step(loss) for loss in [3.0, 2.0, 2.0, 2.0, 2.0, 1.0]]
    [1.0, 1.0, 1.0, 0.5, 0.5, 0.5]
    """

    def __init__(self, optimizer, mode="min", factor=0.1, patience=10, threshold=1e-4,
                 threshold_mode="rel", cooldown=0, min_lr=0.0, eps=1e-8):
        if mode not in ("min", "max"):
            raise ValueError(f"ReduceLROnPlateau: mode must be 'min' or 'max', not {mode!r}")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(f"ReduceLROnPlateau: threshold_mode must be 'rel' or 'abs', not "
                             f"{threshold_mode!r}")
        if not 0 < factor < 1:
            raise ValueError(f"ReduceLROnPlateau: factor must lie in (0, 1), not {factor}")
        floors = _per_group(min_lr, len(optimizer._groups), "min_lr")
        self.optimizer, self.mode, self.factor = optimizer, mode, float(factor)
        self.patience, self.cooldown = int(patience), int(cooldown)
        self.threshold, self.threshold_mode = float(threshold), threshold_mode
        self.min_lrs, self.eps = [float(f) for f in floors], float(eps)
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs = self.cooldown_counter = 0
        self.steps = 0

    def is_better(self, value):
        """Does ``value`` improve on the best so far by more than the threshold?"""
        if self.threshold_mode == "rel":
            scale = 1.0 - self.threshold if self.mode == "min" else 1.0 + self.threshold
            bar = self.best * scale
        else:
            bar = self.best - self.threshold if self.mode == "min" else \
                self.best + self.threshold
        return value < bar if self.mode == "min" else value > bar

    def step(self, metrics):
        """Note the value measured this epoch; returns the optimizer's learning rate."""
        value = float(metrics.data if hasattr(metrics, "data") else metrics)
        self.steps += 1
        if self.is_better(value):
            self.best, self.num_bad_epochs = value, 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            for group, floor in zip(self.optimizer.param_groups, self.min_lrs, strict=True):
                new = max(group["lr"] * self.factor, floor)
                if group["lr"] - new > self.eps:
                    group["lr"] = new
            self.cooldown_counter, self.num_bad_epochs = self.cooldown, 0
        return self.optimizer.lr

    def state_dict(self):
        return {k: v for k, v in vars(self).items() if k != "optimizer"}

    def load_state_dict(self, state):
        vars(self).update(state)
