"""Module and Parameter: a layer is an object holding parameters and computing a forward pass.

A Module finds its parameters, buffers and sub-modules by looking at its own attributes, so
a layer is written as plainly as::

    class Affine(nn.Module):
        def __init__(self):
            self.W = nn.Parameter(np.zeros((3, 2)))
        def forward(self, x):
            return x @ self.W

Parameters are Tensors that require gradients; buffers are NumPy arrays a layer updates
itself (batch-norm's running statistics) and that belong in its saved state.
"""

import collections
import contextlib
import functools
import json
import numbers

import numpy as np

from .. import backend
from ..errors import ShapeError
from ..tensor import Tensor


class IncompatibleKeys(collections.namedtuple("IncompatibleKeys",
                                              ["missing_keys", "unexpected_keys"])):
    """What :meth:`Module.load_state_dict` returns, as PyTorch's ``_IncompatibleKeys``: the
    module's names the state lacked, and the state's names the module has not."""

    __slots__ = ()

    def __repr__(self):
        if not self.missing_keys and not self.unexpected_keys:
            return "<All keys matched successfully>"
        return super().__repr__()


class Parameter(Tensor):
    """A Tensor that a Module trains: it always requires gradients.

    >>> import numpy as np
    >>> p = Parameter(np.ones(3, dtype=np.float32))
    >>> p.requires_grad, p.dtype
    (True, dtype('float32'))
    """

    __slots__ = ()

    def __init__(self, data, dtype=None, name=None):
        super().__init__(data, requires_grad=True, dtype=dtype, name=name)


class Module:
    """Base class of layers and models: override ``forward``; call the module like a function.

    >>> import numpy as np
    >>> from circuitgrad import nn
    >>> model = nn.Sequential(nn.Linear(4, 3, rng=0), nn.ReLU(), nn.Linear(3, 2, rng=0))
    >>> [name for name, _ in model.named_parameters()]
    ['0.weight', '0.bias', '2.weight', '2.bias']
    >>> model(np.ones((5, 4), dtype=np.float32)).shape
    (5, 2)
    """

    # Class-level defaults, so a subclass that forgets super().__init__() still works.
    training = True
    _buffer_names = ()
    _made_by = None  # (class, args, kwargs) of the constructor call: the architecture

    def __init_subclass__(cls, **kwargs):
        """Every layer notes the arguments it was made with (its outermost constructor
        call), so a saved model carries its architecture (:func:`load`)."""
        super().__init_subclass__(**kwargs)
        init = cls.__dict__.get("__init__")
        if cls.__module__.startswith(__package__ + "."):
            _CLASSES[cls.__name__] = cls
        if init is None:
            return

        @functools.wraps(init)
        def noting_init(self, *args, **kw):
            if "_made_by" not in vars(self):
                vars(self)["_made_by"] = (type(self), args, kw)
            init(self, *args, **kw)
        cls.__init__ = noting_init

    def architecture(self):
        """How to make this module again: its class and constructor arguments, nested (a
        JSON-able dict). Layers given arguments that are not numbers, strings, dtypes,
        tuples or layers cannot be described; the error names the argument."""
        made_by = vars(self).get("_made_by")
        cls, args, kwargs = made_by if made_by is not None else (type(self), (), {})
        where = type(self).__name__
        return {"class": cls.__name__,
                "args": [_describe(a, f"{where} argument {i}") for i, a in enumerate(args)],
                "kwargs": {k: _describe(v, f"{where} argument {k}")
                           for k, v in kwargs.items() if k != "rng"}}

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    # ----- what a module holds ------------------------------------------------------------
    def register_buffer(self, name, value):
        """Keep a NumPy array as part of the module's state (saved, loaded, cast)."""
        if name not in self._buffer_names:
            self._buffer_names = (*self._buffer_names, name)
        setattr(self, name, np.asarray(value))

    def named_children(self):
        """(attribute name, sub-module) pairs, in the order they were assigned."""
        return [(k, v) for k, v in vars(self).items() if isinstance(v, Module)]

    def named_modules(self, prefix=""):
        """This module and every module below it, with dotted names ('' for this one)."""
        found = [(prefix, self)]
        for name, child in self.named_children():
            found += child.named_modules(f"{prefix}{name}.")
        return [(name.rstrip("."), module) for name, module in found]

    def named_parameters(self):
        """(dotted name, Parameter) pairs; a parameter shared by two layers appears once."""
        seen = set()
        found = []
        for prefix, module in self.named_modules():
            for k, v in vars(module).items():
                if isinstance(v, Parameter) and id(v) not in seen:
                    seen.add(id(v))
                    found.append((_join(prefix, k), v))
        return found

    def parameters(self):
        return [p for _, p in self.named_parameters()]

    def children(self):
        return [module for _, module in self.named_children()]

    def modules(self):
        return [module for _, module in self.named_modules()]

    def apply(self, fn):
        """Call ``fn`` on every sub-module, then on this one (as PyTorch does, for init)."""
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    def requires_grad_(self, requires_grad=True):
        """Freeze (False) or unfreeze every parameter; optimizers skip frozen ones."""
        for p in self.parameters():
            p.requires_grad = bool(requires_grad)
        return self

    def named_buffers(self):
        return [(_join(prefix, k), getattr(module, k))
                for prefix, module in self.named_modules() for k in module._buffer_names]

    def zero_grad(self):
        """Forget every parameter's accumulated gradient."""
        for p in self.parameters():
            p.grad = None

    # ----- modes and precision ------------------------------------------------------------
    def train(self, mode=True):
        """Training mode (dropout drops, batch-norm uses batch statistics); returns self."""
        for _, module in self.named_modules():
            module.training = bool(mode)
        return self

    def eval(self):
        """Evaluation mode: dropout passes through, batch-norm uses running statistics."""
        return self.train(False)

    def astype(self, dtype):
        """Cast every floating-point parameter and buffer to ``dtype``; returns self.

        Parameters of another dtype are replaced by new ones, so cast before making an
        optimizer (which holds on to the parameters it was given).
        """
        dtype = np.dtype(dtype)
        for _, module in self.named_modules():
            for k, v in list(vars(module).items()):
                if isinstance(v, Parameter) and v.dtype != dtype:
                    setattr(module, k, Parameter(v.data.astype(dtype), name=v.name))
            for k in module._buffer_names:
                value = getattr(module, k)
                if value.dtype.kind == "f":
                    setattr(module, k, value.astype(dtype))
        return self

    # ----- saving and loading -------------------------------------------------------------
    def state_dict(self):
        """Copies of every parameter and buffer, by dotted name (a plain dict of arrays).

        The arrays share no memory with the module (unlike PyTorch's ``state_dict``), so
        ``best = model.state_dict()`` keeps its values while training goes on, and editing
        the dict does not change the model.
        """
        state = {name: np.array(p.data) for name, p in self.named_parameters()}
        state.update((name, np.array(b)) for name, b in self.named_buffers())
        return state

    def load_state_dict(self, state, strict=True):
        """Set parameters and buffers from ``state``; returns ``(missing_keys,
        unexpected_keys)`` as PyTorch does (an :class:`IncompatibleKeys`).

        With ``strict=True`` the names must match exactly (a KeyError names the missing and
        the unexpected keys); with ``strict=False`` the entries whose names match are loaded
        and the others are only reported. Shapes must match either way. Everything is
        checked before anything is changed, so a bad state leaves the module as it was. The
        values are copied: training the module afterwards does not change ``state``, and
        two modules loaded from one dict do not share their parameters.

        >>> import numpy as np
        >>> from circuitgrad import nn
        >>> layer = nn.Linear(2, 1, rng=0)
        >>> layer.load_state_dict({"weight": np.ones((2, 1)), "scale": 3.0}, strict=False)
        IncompatibleKeys(missing_keys=['bias'], unexpected_keys=['scale'])
        """
        state = self._renamed_legacy_keys(state)
        params = dict(self.named_parameters())
        buffers = dict(self.named_buffers())
        expected = {**{k: p.shape for k, p in params.items()},
                    **{k: b.shape for k, b in buffers.items()}}
        missing = [k for k in expected if k not in state]
        unexpected = [k for k in state if k not in expected]
        if strict and (missing or unexpected):
            raise KeyError(f"state does not fit {type(self).__name__}: missing {missing}, "
                           f"unexpected {unexpected} (load_state_dict(state, strict=False) "
                           f"loads the entries that fit and returns the others' names)")
        for name, shape in expected.items():
            got = np.shape(state[name]) if name in state else shape
            if got != shape:
                raise ShapeError(f"cannot load '{name}': the saved value has shape {got} but "
                                 f"the parameter has shape {shape}")
        for name, p in params.items():
            if name in state:
                # np.array copies: the .data setter keeps the array it is given, and
                # optimizers update it in place, which would otherwise write into the
                # caller's dict
                p.data = np.array(state[name], dtype=p.dtype)
        for name, b in buffers.items():
            if name in state:
                owner, attr = self._owner(name)
                setattr(owner, attr, np.array(state[name], dtype=b.dtype))
        return IncompatibleKeys(missing, unexpected)

    def _legacy_state_names(self):
        """{old name: current name} of state entries this layer once saved under another
        name, relative to the layer; files written before a rename keep loading."""
        return {}

    def _renamed_legacy_keys(self, state):
        renames = {_join(prefix, old): _join(prefix, new)
                   for prefix, module in self.named_modules()
                   for old, new in module._legacy_state_names().items()}
        return {renames.get(k, k): v for k, v in state.items()}

    def save(self, path):
        """Write the state and the architecture to a ``.npz`` file (``nn.load`` makes the
        model again from it; ``model.load`` reads the state into an existing model)."""
        state = self.state_dict()
        try:
            state[_ARCHITECTURE] = np.array(json.dumps(self.architecture()))
        except TypeError:  # a layer whose arguments cannot be described: the state alone
            pass
        np.savez(path, **state)

    def load(self, path):
        """Read a state written by :meth:`save`; returns self."""
        with np.load(path) as archive:
            self.load_state_dict({k: archive[k] for k in archive.files if k != _ARCHITECTURE})
        return self

    def _owner(self, dotted):
        *path, attr = dotted.split(".")
        module = self
        for part in path:
            module = getattr(module, part)
        return module, attr

    def __repr__(self):
        children = self.named_children()
        if not children:
            return f"{type(self).__name__}({self.extra_repr()})"
        lines = [f"  ({name}): {child!r}".replace("\n", "\n  ") for name, child in children]
        return f"{type(self).__name__}(\n" + "\n".join(lines) + "\n)"

    def extra_repr(self):
        return ""


def _join(prefix, name):
    return f"{prefix}.{name}" if prefix else name


@contextlib.contextmanager
def substituted(module, tensors):
    """Run ``module`` with some parameters replaced by other tensors, by dotted name.

    Gradients then flow to the given tensors; the module's own parameters come back
    afterwards. Handy for checking a layer's gradients or differentiating with respect to
    parameters that the module does not own.

    >>> import numpy as np
    >>> import circuitgrad as cg
    >>> from circuitgrad import nn
    >>> layer = nn.Linear(2, 1, rng=0, dtype=np.float64)
    >>> W = cg.tensor(np.ones((2, 1)), requires_grad=True)
    >>> with substituted(layer, {"weight": W}):
    ...     layer(np.array([[1.0, 2.0]])).sum().backward()
    >>> W.grad.ravel().tolist(), layer.weight.grad is None
    ([1.0, 2.0], True)
    """
    params = dict(module.named_parameters())
    originals = []
    try:
        for name, t in tensors.items():
            if name not in params:
                raise KeyError(f"{type(module).__name__} has no parameter '{name}'; it has "
                               f"{list(params)}")
            if np.shape(t) != params[name].shape:
                raise ShapeError(f"cannot substitute '{name}': shape {np.shape(t)} for a "
                                 f"parameter of shape {params[name].shape}")
            owner, attr = module._owner(name)
            originals.append((owner, attr, getattr(owner, attr)))
            setattr(owner, attr, t)
        yield module
    finally:
        for owner, attr, original in reversed(originals):
            setattr(owner, attr, original)


_ARCHITECTURE = "__architecture__"
_CLASSES = {}  # circuitgrad.nn's own layers by name: what load() may make


def _describe(value, what):
    if value is None or isinstance(value, (bool, str, numbers.Real)):
        return value.item() if isinstance(value, backend.generic) else value
    if isinstance(value, Module):
        return {"module": value.architecture()}
    if isinstance(value, (tuple, list)):
        return {"tuple": [_describe(v, what) for v in value]}
    if isinstance(value, backend.ndarray) and value.dtype.kind in "biuf":  # a loss's weight
        return _describe(value.tolist(), what)
    if isinstance(value, type) and issubclass(value, backend.generic) or isinstance(value,
                                                                              np.dtype):
        return {"dtype": np.dtype(value).name}
    raise TypeError(f"{what} is a {type(value).__name__}, which a saved architecture cannot "
                    f"hold; save the state alone and rebuild the model in code")


def _made(spec, classes):
    if isinstance(spec, dict):
        if "module" in spec:
            return _build(spec["module"], classes)
        if "tuple" in spec:
            return tuple(_made(v, classes) for v in spec["tuple"])
        if "dtype" in spec:
            return np.dtype(spec["dtype"]).type
    return spec


def _build(spec, classes):
    cls = classes.get(spec["class"]) or _CLASSES.get(spec["class"])
    if cls is None:
        raise ValueError(f"the saved model uses a layer {spec['class']!r} that is not part of "
                         f"circuitgrad.nn; pass classes={{'{spec['class']}': ...}} to load()")
    module = cls(*[_made(a, classes) for a in spec["args"]],
                 **{k: _made(v, classes) for k, v in spec["kwargs"].items()})
    return module


def load(path, classes=None):
    """The model a ``model.save(path)`` (or ``circuitgrad train``) wrote, made again from its
    saved architecture, with its saved parameters and buffers. Only circuitgrad.nn's layers
    are made, unless ``classes`` maps the names of your own Module classes to them (their
    constructor arguments must be numbers, strings, dtypes, tuples or layers)."""
    with np.load(path) as archive:
        if _ARCHITECTURE not in archive.files:
            raise ValueError(f"{path} holds parameters but no architecture (saved by an older "
                             f"circuitgrad, or a layer's arguments could not be described): "
                             f"build the model in code and call model.load(path)")
        spec = json.loads(str(archive[_ARCHITECTURE]))
        state = {k: archive[k] for k in archive.files if k != _ARCHITECTURE}
    model = _build(spec, dict(classes or {}))
    model.load_state_dict(state)
    return model
