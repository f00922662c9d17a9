"""Random and stateful layers in a compiled training step: dropout, batch norm, the mode.

A trace runs the step once; what the layers draw or update would be fixed by it. Three
things are recorded while the step is traced, and replayed at each call of its code:

- **dropout masks** (:func:`circuitgrad.nn.functional.dropout_scale`, which ``Dropout`` and
  ``Dropout2d`` call): each draw becomes an argument of the generated code, drawn again
  before every call with the same arguments from the same generator (the shared one that
  ``nn.manual_seed`` resets, or the layer's own ``rng``), in the order of the trace, so a
  compiled run draws what the eager run draws;
- **batch norm's running statistics** (:func:`circuitgrad.nn.functional.update_running_stats`):
  the batch's mean and variance become outputs of the code, and the running mean and
  variance are updated in place from them after each call, as the eager layer does;
- **the modules' modes and buffers**: the ``training`` flag of every module called during
  the trace (as it was at the module's first call), a copy of the buffers it held (the
  running statistics an evaluation-mode batch norm normalises with), and which arrays the
  code updates. A call whose modes or buffers differ from the trace's (or after
  ``load_state_dict`` put new buffers in place) is traced again (``model.eval()`` after
  ``model.train()`` gets its own code). A step that switches modes itself is traced at
  every call.
"""

import re

import numpy as np

from ..errors import CircuitError
from ..nn import functional as _functional
from ..nn.module import Module

_DRAW, _UPDATE = _functional.dropout_scale, _functional.update_running_stats


class Draw:
    """A dropout mask drawn afresh before each call: ``draw()`` gives the array."""

    __slots__ = ("name", "shape", "p", "dtype", "rng")

    def __init__(self, name, shape, p, dtype, rng):
        self.name, self.shape, self.p, self.dtype, self.rng = name, shape, p, dtype, rng

    def __call__(self):
        return _DRAW(self.shape, self.p, self.dtype, self.rng)


def check_draws_used(draws, body):
    """Every mask drawn during the trace is read by the code (``body``: its lines); a mask
    applied to a value that is no traced array would be fixed into a constant."""
    if not draws:
        return
    code = "\n".join(line.split("#", 1)[0] for line in body)  # names are identifiers
    for d in draws:
        if not re.search(rf"\b{d.name}\b", code):
            raise CircuitError(f"compile: a dropout mask of shape {d.shape} multiplies a "
                               f"value that is computed from no argument of the step or "
                               f"parameter of the model, so the code would keep the mask "
                               f"of the trace; apply dropout to traced values, or run the "
                               f"step eagerly")


class StatUpdate:
    """A batch norm's running statistics, updated from two outputs of the code."""

    __slots__ = ("running_mean", "running_var", "mean", "var", "momentum", "count")

    def __init__(self, running_mean, running_var, mean, var, momentum, count):
        self.running_mean, self.running_var = running_mean, running_var
        self.mean, self.var = mean, var  # traced tensors, then positions among the outputs
        self.momentum, self.count = momentum, count

    def __call__(self, outs):
        _UPDATE(self.running_mean, self.running_var, outs[self.mean], outs[self.var],
                self.momentum, self.count)


class ModeCheck:
    """The modes of the modules a trace called and the buffers they held: a call of the code
    is right only while they are the same."""

    def __init__(self, modules, modes, updated):
        self.modules = modules
        self.modes = tuple(modes)  # as each module was when the trace first called it
        held = [(m, name, getattr(m, name)) for m in modules
                for name in getattr(m, "_buffer_names", ())]
        # buffers the code reads: their values; buffers it updates: the arrays themselves
        # (load_state_dict puts new ones in their place)
        self.buffers = [(m, name, np.array(a)) for m, name, a in held if id(a) not in updated]
        self.updated = [(m, name, a) for m, name, a in held if id(a) in updated]

    def current(self):
        """The modes the traced modules are in now."""
        return tuple(m.training for m in self.modules)

    def holds(self):
        for m, mode in zip(self.modules, self.modes, strict=True):
            if m.training != mode:
                return False
        for m, name, value in self.buffers:
            now = getattr(m, name)
            if now.shape != value.shape or not np.array_equal(now, value):
                return False
        for m, name, array in self.updated:
            if getattr(m, name) is not array:
                return False
        return True


class Recording:
    """The patches in place while a step is traced (entered by the step recorder): dropout
    draws, running-statistics updates and module calls are recorded into ``st``."""

    def __init__(self, st):
        self.st = st
        st.draws, st.stat_updates, st.modules, st.modes = [], [], [], []
        self.saved = []

    def __enter__(self):
        st, gen = self.st, self.st.gen
        seen = set()

        def draw(shape, p, dtype, rng=None):
            value = _DRAW(shape, p, dtype, rng)
            name = gen.claim("dropout_scale")
            gen.const_of[id(value)] = name  # passed to the code as an argument, by identity
            gen.env[name] = value
            st.passed.add(name)
            st.keep.append(value)
            st.draws.append(Draw(name, tuple(shape), p, dtype, rng))
            return value

        def update(running_mean, running_var, mean, var, momentum, count):
            st.stat_updates.append(StatUpdate(running_mean, running_var, mean, var, momentum,
                                              count))
            return _UPDATE(running_mean, running_var, mean, var, momentum, count)

        call = Module.__call__

        def called(module, *args, **kwargs):
            if id(module) not in seen:
                seen.add(id(module))
                st.modules.append(module)
                st.modes.append(module.training)
            return call(module, *args, **kwargs)

        for owner, name, value in ((_functional, "dropout_scale", draw),
                                   (_functional, "update_running_stats", update),
                                   (Module, "__call__", called)):
            self.saved.append((owner, name, getattr(owner, name)))
            setattr(owner, name, value)
        return self

    def __exit__(self, *exc):
        for owner, name, value in reversed(self.saved):
            setattr(owner, name, value)
        self.saved.clear()

    def mode_check(self):
        updated = {id(u.running_mean) for u in self.st.stat_updates} | \
            {id(u.running_var) for u in self.st.stat_updates}
        return ModeCheck(self.st.modules, self.st.modes, updated)


class refused:  # noqa: N801 -- used as `with refused():`
    """While a loss is traced for ``cg.compile(f, argnums=...)``: dropout and batch norm's
    running statistics raise, naming what to write instead (that code returns a value and
    gradients only; it has no call before or after it to draw masks or update buffers)."""

    def __enter__(self):
        def draw(*args, **kwargs):
            raise CircuitError("compile: dropout inside a loss compiled with argnums would "
                               "keep the trace's mask; compile the training step instead, "
                               "cg.compile(step, argnums=None), which draws a mask at every "
                               "call, or call model.eval() for the loss")
        def update(*args, **kwargs):
            raise CircuitError("compile: batch norm in training mode inside a loss compiled "
                               "with argnums would update its running statistics at the "
                               "trace only; compile the training step instead, "
                               "cg.compile(step, argnums=None), or call model.eval()")
        self.saved = (_functional.dropout_scale, _functional.update_running_stats)
        _functional.dropout_scale, _functional.update_running_stats = draw, update
        return self

    def __exit__(self, *exc):
        _functional.dropout_scale, _functional.update_running_stats = self.saved
