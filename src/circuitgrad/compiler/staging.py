"""Staged NumPy code of your own function: ``cg.explain`` prints it, ``cg.compile`` runs it.

``explain(f)(*args)`` traces ``f`` once at ``args`` and writes its forward and backward pass
as a plain Python function over NumPy: one gate a line, the forward lines from each gate's
listing text (``gates/listing.py``), the backward lines from each gate's gradient text, in
reverse, ``+=`` where a wire forks, each marked with the forward line it comes from. The code
is built from the circuit only: names are the circuit's (``f``'s parameter names, tensor
names, the notes' naming elsewhere), constants are named and held in the namespace the code
runs in, never written from a user's string.

The masks that route gradients (relu's ``out > 0``, max's arg-max, where's condition when it
is computed from traced values) are recomputed by the code from its own values, so the code
gives circuitgrad's values and gradients at other inputs too. What is fixed at trace time:
Python control flow on values, shapes, and arrays that entered as NumPy values (integer
labels passed as an argument stay an argument).

>>> import numpy as np, circuitgrad as cg
>>> def f(x, y):
...     return np.sum(cg.relu(x * y))
>>> staged = cg.explain(f)(np.array([1.0, -2.0]), np.array([3.0, 4.0]))
>>> print(staged)
def f_staged(x, y):
    # forward pass
    xy = x * y                          # (1)
    reluxy = relu(xy)                   # (2)
    out = sum(reluxy)                   # (3)
    # backward pass
    dout = 1.0
    dreluxy = ones_like(reluxy) * dout  # (3)
    dxy = (reluxy != 0) * dreluxy       # (2)
    dx = y * dxy                        # (1)
    dy = x * dxy                        # (1)
    return out, (dx, dy)
>>> value, (dx, dy) = staged.function(np.array([-1.0, 2.0]), np.array([3.0, 4.0]))
>>> float(value), dx.tolist(), dy.tolist()
(8.0, [0.0, 4.0], [-0.0, 2.0])
"""

import ast
import builtins
import keyword
import linecache
import numbers
import os
import re
import traceback

import numpy as np

from .. import backend
from ..core import trace
from ..core.circuit import Literal, Var, read
from ..errors import CircuitError, NotDifferentiableError
from ..gates import all_gates, indexing
from ..gates.listing import backward_text, forward_text, unbroadcast_text
from ..tensor import Tensor, tensor
from ..tracing import parameter_names
from . import kernels as _kernels
from . import passes as _passes

_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # circuitgrad/

# gates whose gradient text takes a special, cheaper form when the traced values have no tie
# (or no zero, no x <= 0): the general form is asked for, so that other inputs are right too
_GENERAL = {"maximum", "minimum", "max", "min", "pow", "prod", "max_pool2d"}


def _namespace():
    """NumPy's names, then the functions the listing texts name that NumPy has not
    (``sigmoid``, ``relu``, ``softmax``, ...): the gates' own NumPy forwards."""
    ns = {name: getattr(np, name) for name in dir(np) if not name.startswith("_")}
    ns["np"] = np
    from ..nn import functional as F  # noqa: PLC0415 -- listing texts name unfold and fold

    extras = {"unfold": lambda *a, **k: F.unfold(*a, **k).data,
              "fold": lambda *a, **k: F.fold(*a, **k).data}
    from .. import functions  # noqa: PLC0415 -- cg.sigmoid, cg.logsumexp... on arrays

    for gate in all_gates():
        for name in (gate.api, gate.name):
            fn = getattr(functions, name, None) if name else None
            if name and name.isidentifier() and name not in ns:
                # one-formula gates (sigmoid, relu...) run their NumPy forward directly
                plain = fn is None or (gate.local is not None and len(gate.local) == 1)
                extras.setdefault(name, gate.forward if plain else _on_arrays(fn))
    extras["softmax"] = _softmax
    extras["max_pool2d"] = _max_pool2d
    from .inplace import xent_backward, xent_forward  # noqa: PLC0415

    extras["xent_forward"], extras["xent_backward"] = xent_forward, xent_backward
    from .kernels import namespace as kernel_namespace  # noqa: PLC0415

    extras.update(kernel_namespace())
    ns.update(extras)
    return ns


def _pair(v):
    return (v, v) if isinstance(v, numbers.Integral) else tuple(v)


def _max_pool2d(x, kernel, stride=None):
    """The listing's ``max_pool2d(x, kernel[, stride=])``: the gate's forward."""
    from ..gates.nn import max_pool2d  # noqa: PLC0415

    kernel = _pair(kernel)
    return max_pool2d.forward(x, kernel=kernel, stride=kernel if stride is None else
                              _pair(stride))


def _softmax(x, axis=-1):
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    e /= np.sum(e, axis=axis, keepdims=True)
    return e


def _on_arrays(fn):
    def run(*args, **kwargs):
        out = fn(*args, **kwargs)
        return out.data if isinstance(out, Tensor) else out
    run.__name__ = fn.__name__
    return run


_NS = None


def _base_namespace():
    global _NS
    if _NS is None:
        _NS = _namespace()
    return _NS


# ----- the result ---------------------------------------------------------------------------
class Staged:
    """Generated staged code: ``.source`` (text), ``.function`` (the compiled callable, which
    returns ``(value, (d_arg, ...))``), ``.circuit`` and ``.constants`` (the arrays the code
    reads by name). Prints as its source; a code block in Jupyter."""

    def __init__(self, source, function, circuit, constants, params):
        self.source = source
        self.function = function
        self.circuit = circuit
        self.constants = constants
        self.params = params

    def __str__(self):
        return self.source

    def __repr__(self):
        return self.source

    def _repr_markdown_(self):
        return f"```python\n{self.source}\n```"

    def _repr_html_(self):
        import html  # noqa: PLC0415

        return f"<pre><code class=\"language-python\">{html.escape(self.source)}</code></pre>"


def explain(f, argnums=None):
    """``explain(f)(*args)``: the staged forward and backward code of ``f`` at these
    arguments (a :class:`Staged`). Gradients are taken for the arguments ``argnums`` (an int
    or a tuple; default: every floating-point argument); other arguments are passed to the
    code as they are (integer labels, shapes, flags), or fixed at trace time if they are not
    arrays. ``f`` returns one tensor (the seed gradient is ones)."""
    def traced(*args):
        return stage(f, args, argnums)
    traced.__name__ = f"explain_{getattr(f, '__name__', 'f')}"
    return traced


# ----- tracing ------------------------------------------------------------------------------
def _is_float(a):
    if isinstance(a, bool):
        return False
    if isinstance(a, float):
        return True
    return isinstance(a, (backend.ndarray, backend.generic)) and a.dtype.kind == "f"


def _user_line(tb):
    """``file:line in function: code`` of the innermost frame outside circuitgrad."""
    found = None
    for frame, lineno in traceback.walk_tb(tb):
        path = os.path.abspath(frame.f_code.co_filename)
        if not path.startswith(_PACKAGE_DIR):
            found = (path, lineno, frame.f_code.co_name)
    if found is None:
        return None
    path, lineno, name = found
    code = linecache.getline(path, lineno).strip()
    return f"{os.path.basename(path)}:{lineno} in {name}: {code}"


def _refuse_conversion(t, what):
    raise NotDifferentiableError(
        f"{what} of a traced value: the generated code would keep the value it had at trace "
        f"time (Python control flow is fixed when cg.compile traces). Compute with it as an "
        f"array instead (np.where(c, a, b), cg.relu, np.maximum), or pass the value as a "
        f"non-array argument, which is fixed per signature")


# what NumPy says when a traced value is written into one of its arrays (a[i] = t)
_WRITE_INTO_ARRAY = ("setting an array element with a sequence", "could not convert",
                     "must be real number", "argument must be a string or a real number")


class tracing:  # noqa: N801 -- used as `with tracing(f):`
    """The block where cg.compile runs a user's function on traced values: float(t),
    bool(t), int(t), a NumPy function without a rule and a write of a traced value into a
    NumPy array raise, naming the line of the user's code."""

    def __init__(self, f):
        self.name = getattr(f, "__name__", "f")
        self.running = trace.transform_running()  # float(t), t.item() of a traced value raise

    def __enter__(self):
        from ..tensor import conversion_guards  # noqa: PLC0415

        self.running.__enter__()
        conversion_guards.append(_refuse_conversion)
        return self

    def __exit__(self, kind, err, tb):
        from ..tensor import conversion_guards  # noqa: PLC0415

        conversion_guards.pop()
        self.running.__exit__(kind, err, tb)
        if err is None:
            return False
        where = _user_line(tb)
        at = f"tracing {self.name}" + (f" at {where}" if where else "")
        if isinstance(err, NotDifferentiableError) and not str(err).startswith("tracing "):
            raise NotDifferentiableError(f"{at}: {err}") from err
        if isinstance(err, (ValueError, TypeError)) and any(
                text in str(err) for text in _WRITE_INTO_ARRAY):
            raise NotDifferentiableError(
                f"{at}: a traced value is written into a NumPy array (out[i] = t), which "
                f"would drop it from the circuit ({type(err).__name__}: {err}). Build the "
                f"array from tensors instead: np.stack / cg.stack, or np.zeros_like(x) of a "
                f"tensor x, then write into that") from err
        return False


def _trace(f, args, argnums):
    names = parameter_names(f, len(args))
    if argnums is None:
        diff = tuple(k for k, a in enumerate(args) if _is_float(a))
    else:
        diff = (argnums,) if isinstance(argnums, numbers.Integral) else tuple(argnums)
    for k in diff:
        if not _is_float(args[k]):
            raise CircuitError(f"explain: argument {names[k]!r} is differentiated but is not "
                               f"a floating-point number or array")
    xs = list(args)
    for k in diff:
        xs[k] = tensor(args[k], requires_grad=True, name=names[k])
    with tracing(f):
        out = f(*xs)
    if not isinstance(out, Tensor) or not out.requires_grad:
        raise CircuitError("explain/compile: f must return a Tensor computed from its "
                           "differentiated arguments")
    return names, diff, xs, out


# ----- code generation ----------------------------------------------------------------------
class _Site:
    """One equation as the listing texts read it, naming wires and constants for code."""

    __slots__ = ("eq", "gen", "general")

    def __init__(self, eq, gen, general=False):
        self.eq = eq
        self.gen = gen
        self.general = general

    def arg(self, k):
        return self.gen.text_of(self.eq.inputs[k])

    def value(self, k):
        x = self.eq.inputs[k]
        v = self.gen.env.get(self.gen.names.get(id(x))) if isinstance(x, Var) else None
        v = np.asarray(x.value if v is None else v)
        return backend.zeros_like(v) if self.general else v

    @property
    def count(self):
        return len(self.eq.inputs)

    @property
    def gate_name(self):
        return self.eq.gate.name

    @property
    def out(self):
        return self.gen.name_of(self.eq.output)

    @property
    def g(self):
        return self.gen.grad_name(self.eq.output)

    @property
    def out_value(self):
        v = self.gen.env.get(self.gen.names.get(id(self.eq.output)))
        v = np.asarray(self.eq.output.value if v is None else v)
        return backend.zeros_like(v) if self.general else v

    @property
    def params(self):
        return self.eq.params

    def constant(self, value):
        return self.gen.literal(value)


class _Generator:
    def __init__(self, circuit, params, diff_vars, raw_args):
        self.c = circuit
        self.ns = dict(_base_namespace())
        self.reserved = set(self.ns) | set(dir(builtins)) | {"f_staged"}
        self.taken = set()
        self.names = {}      # id(Var) -> code name
        self.grads = {}      # id(Var) -> gradient name
        self.constants = {}  # code name -> array
        self.const_of = {}   # id(array) -> code name
        for name, a in raw_args.items():  # arrays passed as they are: named by identity
            if isinstance(a, backend.ndarray):
                self.const_of[id(a)] = name
        self.params = params
        self.env = {}        # values at the traced arguments, to check shapes and values

    def claim(self, base):
        name = base if base.isidentifier() else "v"
        cand = name
        stem = name.rstrip("0123456789") or name
        k = int(name[len(stem):]) if name[len(stem):] else 1
        while cand in self.taken or cand in self.reserved or keyword.iskeyword(cand):
            k += 1  # exp2 is NumPy's: the second exp gate is exp3
            cand = f"{stem}{k}"
        self.taken.add(cand)
        return cand

    def name_of(self, var):
        return self.names[id(var)]

    def grad_name(self, var):
        key = id(var)
        if key not in self.grads:
            self.grads[key] = self.claim("d" + self.names[key])
        return self.grads[key]

    def add_constant(self, value, base="c"):
        key = id(value)
        if key in self.const_of:
            return self.const_of[key]
        name = self.claim(base)
        self.const_of[key] = name
        self.constants[name] = value
        return name

    def literal(self, value):
        """How a non-wire value is written in code: exactly."""
        if value is None:
            return "None"
        if isinstance(value, (bool, np.bool_)):
            return repr(bool(value))
        if isinstance(value, numbers.Integral) and not isinstance(value, backend.ndarray):
            return repr(int(value))
        if isinstance(value, float) and type(value) is float:
            return repr(value) if np.isfinite(value) else self.add_constant(value, "c")
        if isinstance(value, backend.generic) and value.dtype == np.float64:
            return self.literal(float(value))
        if isinstance(value, backend.ndarray) or isinstance(value, backend.generic):
            if isinstance(value, backend.generic):
                holder = np.asarray(value)
                self.constants.setdefault("_keep", []).append(holder)  # stays alive
                return self.add_constant(value, "c")
            return self.add_constant(value, "c")
        if isinstance(value, (tuple, list)):
            items = [self.literal(v) for v in value]
            if isinstance(value, tuple):
                return f"({items[0]},)" if len(items) == 1 else f"({', '.join(items)})"
            return f"[{', '.join(items)}]"
        if isinstance(value, slice):
            return f"slice({self.literal(value.start)}, {self.literal(value.stop)}, " \
                   f"{self.literal(value.step)})"
        if value is Ellipsis:
            return "..."
        if isinstance(value, np.dtype) or (isinstance(value, type)
                                           and issubclass(value, backend.generic)):
            return np.dtype(value).name
        raise CircuitError(f"cannot write {type(value).__name__} {value!r} as code")

    def text_of(self, x):
        if isinstance(x, Var):
            return self.names[id(x)]
        return self.literal(x.value)

    def index_text(self, index, as_value=False):
        """An index as it is written inside brackets, or (``as_value``) as a tuple's items
        outside them, where a slice must be spelled ``slice(start, stop, step)``."""
        index = index if isinstance(index, tuple) else (index,)
        parts = []
        for item in index:
            if isinstance(item, slice) and as_value:
                parts.append("slice(" + ", ".join(self.literal(v) for v in (
                    item.start, item.stop, item.step)) + ")")
            elif isinstance(item, slice):
                text = ":".join("" if v is None else self.literal(v)
                                for v in (item.start, item.stop))
                if item.step is not None:
                    text += f":{self.literal(item.step)}"
                parts.append(text)
            elif item is None:
                parts.append("None")
            else:
                parts.append(self.literal(item))
        if len(parts) == 1 and not isinstance(index[0], slice) and index[0] is not None \
                and index[0] is not Ellipsis:
            return parts[0]
        return ", ".join(parts)

    # -- evaluation at the traced values, line by line
    def run(self, target, expr, gate=None):
        try:
            with np.errstate(all="ignore"):
                value = eval(expr, self.ns, self.env)  # noqa: S307 -- text from the circuit
        except Exception as e:
            what = f"gate '{gate}'" if gate else "a line"
            raise CircuitError(f"explain/compile: {what} cannot be staged: its line "
                               f"'{target} = {expr}' fails ({type(e).__name__}: {e})") from e
        self.env[target] = value
        return value


def _fixed_mask(gen, x):
    """Whether ``x`` is a boolean array that is no argument: a comparison of traced values
    (comparisons are not recorded in the circuit), which the code would fix at trace time."""
    value = x.value
    if not isinstance(value, backend.ndarray) or value.dtype != np.bool_ or value.ndim == 0:
        return False
    if isinstance(x, Var):
        return gen.names.get(id(x)) not in gen.params
    return id(value) not in gen.const_of or gen.const_of[id(value)] not in gen.params


_MASK = ("is a boolean array computed at trace time (a comparison such as x > 0 is not "
         "recorded in the circuit), so the staged code would keep it fixed at other inputs; "
         "pass the mask as an argument, or write cg.relu, np.maximum, np.clip or np.abs")


def _forward_line(gen, eq):
    gate = eq.gate
    if gate.name == "where" and _fixed_mask(gen, eq.inputs[0]):
        raise CircuitError(f"explain/compile: the condition of gate 'where' {_MASK}")
    if gate is indexing.getitem:
        index = eq.params["index"]
        for item in index if isinstance(index, tuple) else (index,):
            if _fixed_mask(gen, Literal(item)):
                raise CircuitError(f"explain/compile: the boolean index of gate 'getitem' "
                                   f"{_MASK}")
        return f"{gen.text_of(eq.inputs[0])}[{gen.index_text(eq.params['index'])}]"
    if gate.name in ("setitem", "scatter_add"):
        raise CircuitError(f"explain/compile: gate '{gate.name}' (a write into an array) "
                           f"cannot be staged yet")
    if gate.name == "pow_const":
        return f"{gen.text_of(eq.inputs[0])}**{gen.literal(eq.params['p'])}"
    if gate.name == "identity":  # a transform's own copy of its argument (NumPy's is eye)
        return gen.text_of(eq.inputs[0])
    if getattr(gen, "optimize", False):  # the engine's array kernels (compiler/kernels.py)
        text = _kernels.forward_text(gen, eq)
        if text is not None:
            return text
    return forward_text(gate, _Site(eq, gen), len(eq.inputs))


def _backward_expr(gen, eq, i):
    gate = eq.gate
    if gate.name == "pow_const":
        p = eq.params["p"]
        x, g = gen.text_of(eq.inputs[0]), gen.grad_name(eq.output)
        if p == 1:
            return f"(1) * {g}"
        return f"({gen.literal(p)} * {x}**{gen.literal(p - 1)}) * {g}"
    if getattr(gen, "optimize", False):  # the engine's array kernels (compiler/kernels.py)
        text = _kernels.backward_text(gen, eq, i)
        if text is None and getattr(gen, "views", False):
            text = _kernels.spread_text(gen, eq)
        if text is not None:
            return text
    site = _Site(eq, gen, general=gate.name in _GENERAL)
    try:
        text = backward_text(gate, site, i)
    except Exception as e:  # a text that reads values it cannot be given here
        raise CircuitError(f"explain/compile: gate '{gate.name}' has no gradient text that "
                           f"can be staged ({type(e).__name__}: {e})") from e
    if text is None:
        raise CircuitError(f"explain/compile: gate '{gate.name}' has no gradient text "
                           f"(a custom gate?), so its backward pass cannot be staged")
    return text


def _shares(value, env, skip):
    if not isinstance(value, backend.ndarray):
        return False
    return any(isinstance(v, backend.ndarray) and k not in (skip, "_")
               and np.shares_memory(value, v) for k, v in env.items())


def generate(f, names, diff, args, out, optimize=False, scalar=False, passes=None):
    """The :class:`Staged` code of the traced function; ``passes`` over its circuit first
    (:mod:`circuitgrad.compiler.passes`; default: all of them with ``optimize``, none
    without)."""
    xs = [args[k] for k in diff]
    c = read(out, order_inputs=xs)
    passes = _passes.check(passes) if optimize or passes is not None else ()
    if passes:
        wires = {id(_place(args[k])) for k in diff}
        passed = {id(args[k]) for k in range(len(args)) if k not in diff}
        c, _ = _passes.run(c, passes, lambda v: id(v.wire) not in wires and
                           id(v.value) not in passed)
    raw = {names[k]: args[k] for k in range(len(args)) if k not in diff}
    gen = _Generator(c, names, diff, raw)
    gen.optimize = optimize
    param_var = {}
    for k in diff:
        param_var[names[k]] = None
    # parameters first: their names are the user's
    params_code = []
    for k, a in enumerate(args):
        if k in diff or isinstance(a, backend.ndarray):
            params_code.append(gen.claim(names[k]))
        else:
            gen.taken.add(names[k])  # fixed at trace time; the name is not reused
    by_wire = {id(xs[j].wire if hasattr(xs[j], "wire") else None): j for j in range(len(xs))}
    del by_wire
    for k in diff:
        gen.env[names[k]] = args[k].data
    diff_var = {}
    for v in c.inputs:
        for k in diff:
            if v.wire is _place(args[k]):
                diff_var[k] = v
                gen.names[id(v)] = names[k]
                break
    for name, a in raw.items():
        if isinstance(a, backend.ndarray):
            gen.env[name] = a
    for v in c.inputs + c.consts:
        if id(v) in gen.names:
            continue
        given = gen.const_of.get(id(v.value))
        if given in gen.params and v.kind == "const":  # an argument passed as it is
            gen.names[id(v)] = given
            continue
        if v.value is None:
            raise CircuitError(f"explain/compile: the value of {v.name} was released")
        name = gen.claim(v.name)
        gen.names[id(v)] = name
        gen.constants[name] = v.value
        gen.const_of.setdefault(id(v.value), name)
    notes = _notes_names(c, gen)
    for v in c.wires:
        if id(v) not in gen.names:
            gen.names[id(v)] = gen.claim("out" if v is c.outputs[0]
                                         else notes.get(id(v)) or v.name)
    out_var = c.outputs[0]
    gen.ns.update({k: v for k, v in gen.constants.items() if k != "_keep"})

    forward, stage = [], {}
    for n, eq in enumerate(c.equations, 1):
        stage[id(eq)] = n
        target = gen.name_of(eq.output)
        expr = _forward_line(gen, eq)
        gen.ns.update({k: v for k, v in gen.constants.items() if k != "_keep"})
        value = gen.run(target, expr, eq.gate.name)
        _check(eq, value)
        forward.append((f"{target} = {expr}", f"({n})"))

    backward = []
    seed_name = gen.grad_name(out_var)
    seed = "1.0" if out_var.shape == () and out_var.dtype == np.float64 else \
        f"ones_like({gen.name_of(out_var)})"
    if id(out_var) in {id(v) for v in c.inputs}:
        seed = f"ones_like({gen.name_of(out_var)})"
    backward.append((f"{seed_name} = {seed}", ""))
    gen.run(seed_name, seed)
    # the seed is 1: times it is nothing (dropped before the lines are evaluated, so that a
    # gradient that is now another array's name is seen as shared)
    gen.drop = seed_name if optimize and out_var.shape == () and out_var.dtype.kind == "f" \
        else None
    have = {id(out_var)}
    owned = set()
    for eq in reversed(c.equations):
        if id(eq.output) not in have:
            continue
        for i, x in enumerate(eq.inputs):
            if not isinstance(x, Var) or not x.wire.requires_grad:
                continue
            lines = _grad_lines(gen, eq, i, x, have, owned)
            backward += [(line, f"({stage[id(eq)]})") for line in lines]
    grads = []
    for k in diff:
        v = diff_var.get(k)
        if v is None or id(v) not in have:  # no path from the argument to the output
            name = gen.claim("d" + names[k])
            backward.append((f"{name} = zeros_like({names[k]})", ""))
            gen.run(name, f"zeros_like({names[k]})")
            grads.append(name)
        else:
            grads.append(gen.grad_name(v))
    ret = f"    return {gen.name_of(out_var)}, ({', '.join(grads)}{',' if len(grads) == 1 else ''})"
    scalar = scalar and all(v.shape == () for v in c.wires)
    if optimize and not scalar:  # in place where the code owns a buffer; kept buffers
        from .buffers import BufferPool, reuse_buffers  # noqa: PLC0415 -- import cycle
        from .inplace import rewrite, simplify  # noqa: PLC0415

        keep = set(params_code) | set(grads) | {gen.name_of(out_var)} | set(gen.constants)
        lines = simplify(forward + backward, gen.ns, gen.env)
        lines = rewrite(lines, gen.env, keep)
        pool_name = gen.claim("buffer")
        lines, specs = reuse_buffers(lines, gen.ns, gen.env, pool_name)
        gen.ns[pool_name] = BufferPool(specs)
        forward, backward = lines[:len(forward)], lines[len(forward):]
    body = _layout(forward, backward)
    if optimize:  # values dropped at their last use (arrays), dead assignments removed
        body = _with_dels(body, set(params_code) | set(grads) | {gen.name_of(out_var)},
                          dels=not scalar)
    fname = f"{getattr(f, '__name__', 'f')}_staged"
    if not fname.isidentifier() or keyword.iskeyword(fname):
        fname = "f_staged"
    source = "\n".join([f"def {fname}({', '.join(params_code)}):"] + body + [ret])
    ns = dict(gen.ns)
    code = builtins.compile(source, f"<staged {fname}>", "exec")
    exec(code, ns)  # noqa: S102 -- source generated from the circuit and the gates' texts
    function = ns[fname]
    fallback = None
    entry = None
    if scalar:  # plain Python on floats; NumPy's code where math raises (overflow, 1/0)
        fast = _SIGMOID.sub(r"1.0 / (1.0 + exp(-\1))", source)
        fast_ns = dict(gen.ns)
        fast_ns.update(_scalar_namespace())
        exec(builtins.compile(fast, f"<staged {fname}>", "exec"), fast_ns)  # noqa: S102
        function, fallback = fast_ns[fname], function
        entry = (fast, fast_ns)
    # the source, importable elsewhere, is shown as it reads; its lines go to linecache so
    # that tracebacks through the generated function show them
    linecache.cache[f"<staged {fname}>"] = (len(source), None, source.splitlines(True),
                                            f"<staged {fname}>")
    constants = {k: v for k, v in gen.constants.items() if k != "_keep"}
    staged = Staged(source, function, c, constants, params_code)
    staged.fallback = fallback
    staged.float_source, staged.float_ns = entry or (None, None)
    staged.fname, staged.returns = fname, (gen.name_of(out_var), grads)
    return staged


class _Missing:
    """The default of a float entry's parameters: a call with fewer arguments is no float
    call and goes the general way (which says what is wrong)."""


def float_entry(staged, single, general):
    """The code over floats as the whole call (``staged`` traced at Python floats only):
    its body behind one type test per argument, returning what ``cg.compile`` returns,
    with no argument tuple, no cache key, no repacking of the result. Any other call goes
    to ``general(*args)``; math's errors (overflow, 1/0) to the NumPy version. Built from
    the staged source, never from a user's text."""
    params, (value, grads) = staged.params, staged.returns
    lines = [line.strip() for line in staged.float_source.splitlines()[1:-1]]
    body = [f"            {line}" for line in lines if line and not line.startswith("#")]
    result = f"{value}, {grads[0]}" if single else \
        f"{value}, ({', '.join(grads)}{',' if len(grads) == 1 else ''})"
    finish = "(_got[0], _got[1][0])" if single else "_got"
    args = ", ".join(params)
    name = f"{staged.fname}_floats"
    source = "\n".join([
        f"def {name}({', '.join(f'{p}=_missing' for p in params)}, *_more):",
        f"    if {' and '.join(f'type({p}) is float' for p in params)} and not _more:",
        "        try:",
        *body,
        f"            return {result}",
        "        except _math_errors:",
        f"            _got = _fallback({args})",
        f"            return {finish}",
        f"    return _general(*[_a for _a in ({args},) if _a is not _missing], *_more)"])
    ns = dict(staged.float_ns)
    ns.update(_missing=_Missing(), _math_errors=_MATH_ERRORS, _fallback=staged.fallback,
              _general=general)
    exec(builtins.compile(source, f"<staged {name}>", "exec"), ns)  # noqa: S102
    linecache.cache[f"<staged {name}>"] = (len(source), None, source.splitlines(True),
                                           f"<staged {name}>")
    function = ns[name]
    function.source = source
    return function


_PREFIX = {"sigmoid": "sig", "exp": "exp", "log": "log", "sqrt": "sqrt", "abs": "abs",
           "relu": "relu", "tanh": "tanh", "sin": "sin", "cos": "cos", "neg": "neg"}
_JOIN = {"add": "p", "sub": "m", "mul": ""}


def _notes_names(c, gen):
    """The notes' names for unnamed wires, as the staged listing gives them (``sigy``,
    ``xpy``, ``xpysqr``, ``num``, ``den``, ``invden``); None where a name would be long."""
    role, names = {}, {}
    for eq in c.equations:
        if eq.gate.name == "div":
            for k, r in ((0, "num"), (1, "den")):
                x = eq.inputs[k]
                if isinstance(x, Var) and x.kind == "gate" and not x.wire.name:
                    role.setdefault(id(x), r)

    def name(x):
        if not isinstance(x, Var):
            return None
        return gen.names.get(id(x)) or names.get(id(x))
    for eq in c.equations:
        v = eq.output
        if v.wire.name or not isinstance(v.wire.name, (str, type(None))):
            continue
        gate = eq.gate.name
        ops = [name(x) for x in eq.inputs]
        base = role.get(id(v))
        if base is None and gate in _JOIN and len(ops) == 2 and all(ops):
            base = ops[0] + _JOIN[gate] + ops[1]
        elif base is None and gate in ("square", "pow_const") and ops[0]:
            p = eq.params.get("p", 2)
            base = {2: ops[0] + "sqr", -1: "inv" + ops[0], 0.5: "sqrt" + ops[0]}.get(p)
        elif base is None and gate == "div" and ops[1] and isinstance(eq.inputs[0], Literal) \
                and np.ndim(eq.inputs[0].value) == 0 and eq.inputs[0].value == 1:
            base = "inv" + ops[1]
        elif base is None and gate in _PREFIX and len(ops) == 1 and ops[0]:
            base = _PREFIX[gate] + ops[0]
        if base and len(base) <= 10 and base.isidentifier():
            names[id(v)] = base
    return names


def _place(t):
    from ..core.node import place  # noqa: PLC0415

    return place(t)


def _check(eq, value):
    """The generated forward line gives the value the engine recorded (a text that wrote
    a number rounded, or lost an option, shows up here, at the gate)."""
    want = eq.output.value
    if want is None:
        return
    got = np.asarray(value)
    want = np.asarray(want)
    if got.shape != want.shape:
        raise CircuitError(f"explain/compile: the staged line of gate '{eq.gate.name}' gives "
                           f"shape {got.shape}, the engine {want.shape}")
    with np.errstate(all="ignore"):
        ok = np.allclose(got, want, rtol=1e-5, atol=1e-8, equal_nan=True)
    if not ok:
        raise CircuitError(f"explain/compile: the staged line of gate '{eq.gate.name}' does "
                           f"not reproduce the engine's value")


def _grad_lines(gen, eq, i, x, have, owned):
    target = gen.grad_name(x)
    first = id(x) not in have
    g = gen.grad_name(eq.output)
    lines = []
    if eq.gate is indexing.getitem:
        index = eq.params["index"]
        idx = gen.index_text(index)
        xname = gen.name_of(x)
        basic = indexing.is_basic(index if isinstance(index, tuple) else (index,))
        if first:
            line = f"{target} = zeros_like({xname}, dtype={g}.dtype)" \
                if not _is_arr(gen.env[g]) else f"{target} = zeros_like({xname})"
            if _is_arr(gen.env[g]) and gen.env[g].dtype != np.asarray(x.value).dtype:
                line = f"{target} = zeros_like({xname}, dtype={g}.dtype)"
            lines.append(line)
            gen.run(target, line.split(" = ", 1)[1])
            owned.add(target)
        elif target not in owned:
            lines.append(f"{target} = {target}.copy()")
            gen.run(target, f"{target}.copy()")
            owned.add(target)
        stmt = f"{target}[{idx}] += {g}" if basic else \
            f"add.at({target}, ({gen.index_text(index, as_value=True)},), {g})"
        lines.append(stmt)
        exec(stmt, gen.ns, gen.env)  # noqa: S102
        have.add(id(x))
        return lines
    expr = _backward_expr(gen, eq, i)
    want_dtype = np.asarray(x.value).dtype if x.value is not None else x.dtype
    if gen.optimize and want_dtype == np.float32:  # a one-hot made in float32 directly
        expr = re.sub(r"\beye\((\d+)\)", r"eye(\1, dtype=float32)", expr)
    if gen.optimize:
        expr = _UNIT.sub(r"\1\2", expr)
        if expr.startswith("(-1) * ") and expr[7:].isidentifier():
            expr = "-" + expr[7:]
        if gen.drop and expr.endswith(" * " + gen.drop):
            expr = expr[:-len(" * " + gen.drop)]
            if expr.startswith("(") and expr.endswith(")") and _balanced(expr[1:-1]):
                expr = expr[1:-1]
    value = gen.run("_", expr, eq.gate.name)
    shape = tuple(np.shape(x.value)) if x.value is not None else x.shape
    vshape = np.shape(value)
    if vshape != shape:
        if len(vshape) >= len(shape) and all(
                a == b or a == 1 for a, b in zip(shape, vshape[len(vshape) - len(shape):],
                                                  strict=True)):
            expr = unbroadcast_text(expr, gen.name_of(x), shape, vshape)
        else:
            expr = f"broadcast_to({expr}, {gen.name_of(x)}.shape)"
        with np.errstate(all="ignore"):
            value = eval(expr, gen.ns, gen.env)  # noqa: S307
        if np.shape(value) != shape:
            raise CircuitError(f"explain/compile: the gradient text of gate '{eq.gate.name}' "
                               f"gives shape {np.shape(value)} for an input of shape {shape}")
    want = np.asarray(x.value).dtype if x.value is not None else x.dtype
    if np.asarray(value).dtype != want and want.kind == "f":
        expr = f"({expr}).astype({want.name})" if _is_arr(value) else f"{want.name}({expr})"
        value = eval(expr, gen.ns, gen.env)  # noqa: S307
    if first:  # a read-only value (a broadcast view) is added to, later, into a new array
        if not _is_arr(value) or value.flags.writeable and not _shares(value, gen.env, target):
            owned.add(target)
        lines.append(f"{target} = {expr}")
        gen.env[target] = value
    elif not _is_arr(gen.env[target]) or target in owned:
        lines.append(f"{target} += {expr}")
        if _is_arr(gen.env[target]):
            gen.env[target] += value
        else:
            gen.env[target] = gen.env[target] + value
    else:
        lines.append(f"{target} = {target} + {expr}")
        gen.env[target] = gen.env[target] + value
        owned.add(target)
    have.add(id(x))
    return lines


def _is_arr(v):
    return isinstance(v, backend.ndarray) and v.ndim > 0


def _layout(forward, backward):
    width = max((len(line) for line, note in forward + backward if note), default=0)
    width = min(width, 72)
    out = ["    # forward pass"]
    for line, note in forward:
        out.append(f"    {line.ljust(width)}  # {note}" if note else f"    {line}")
    out.append("    # backward pass")
    for line, note in backward:
        out.append(f"    {line.ljust(width)}  # {note}" if note else f"    {line}")
    return [s.rstrip() for s in out]


def stage(f, args, argnums=None, optimize=False, scalar=False, passes=None):
    names, diff, xs, out = _trace(f, args, argnums)
    return generate(f, names, diff, xs, out, optimize=optimize, scalar=scalar, passes=passes)


def _used_names(source):
    tree = ast.parse(source)
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}


# ----- cg.compile ---------------------------------------------------------------------------
_SIGMOID = re.compile(r"\bsigmoid\(([A-Za-z_]\w*)\)")
_MATH_ERRORS = (OverflowError, ZeroDivisionError, ValueError)

def _scalar_namespace():
    """Plain Python for code over Python numbers: ``math`` instead of NumPy calls (a NumPy
    call on a scalar costs more than the whole gate)."""
    import math  # noqa: PLC0415

    def sigmoid(v):
        if v >= 0:
            return 1.0 / (1.0 + math.exp(-v))
        e = math.exp(v)
        return e / (1.0 + e)

    # math.exp itself: an overflow raises, and the caller runs the NumPy version instead
    return {"exp": math.exp, "log": math.log, "sqrt": math.sqrt, "sin": math.sin,
            "cos": math.cos, "tanh": math.tanh, "sigmoid": sigmoid, "abs": abs,
            "log1p": math.log1p, "expm1": math.expm1,
            "relu": lambda v: v if v > 0 else 0.0, "ones_like": lambda v: 1.0,
            "zeros_like": lambda v: 0.0}


_UNIT = re.compile(r"(^|\(|, )\(1\) \* ([A-Za-z_]\w*)(?=[,)]|$)")


def _with_dels(body, keep, dels=True):
    """``del name`` after the line that uses an assigned name for the last time; a name
    assigned and never read loses its line."""
    assigned, last, count = set(), {}, {}
    for k, line in enumerate(body):
        code = line.split("#", 1)[0].strip()
        if not code:
            continue
        tree = ast.parse(code)
        for node in ast.walk(tree):
            if isinstance(node, ast.Name):
                last[node.id] = k
                count[node.id] = count.get(node.id, 0) + 1
                if isinstance(node.ctx, ast.Store):
                    assigned.add(node.id)
    after, dead = {}, set()
    for name in assigned - keep:
        if count[name] == 1 and body[last[name]].strip().startswith(f"{name} = "):
            dead.add(last[name])
        elif dels:
            after.setdefault(last[name], []).append(name)
    out = []
    for k, line in enumerate(body):
        if k in dead:
            continue
        out.append(line)
        if k in after:
            out.append(f"    del {', '.join(sorted(after[k]))}")
    return out


def _balanced(text):
    depth = 0
    for ch in text:
        depth += (ch == "(") - (ch == ")")
        if depth < 0:
            return False
    return depth == 0


class Compiled:
    """``cg.compile(f, argnums=0)``: call it as ``value, grads = compiled(*args)``, what
    ``cg.value_and_grad(f, argnums)`` gives. The first call for given argument shapes and
    dtypes (and values of the arguments that are not arrays) traces ``f`` and generates its
    staged code; later calls with the same signature run only that code."""

    def __init__(self, f, argnums=0, cache_size=8, optimize=True, passes=None):
        self.f = f
        self.argnums = argnums
        self.cache_size = cache_size
        self.optimize = optimize
        self.passes = passes
        self.cache = {}
        self.last = None
        self.traces = 0
        self._single = isinstance(argnums, numbers.Integral)
        self._nums = {argnums} if self._single else set(argnums or ())
        self.on_float_entry = None  # compile(): takes the float entry of a float trace
        self.__name__ = f"compiled_{getattr(f, '__name__', 'f')}"
        self.__wrapped__ = f

    @property
    def source(self):
        """The generated code of the most recent signature."""
        if self.last is None:
            raise CircuitError("compile: nothing traced yet; call the compiled function once")
        return self.last.source

    def __call__(self, *args):
        # a float that is not differentiated is fixed at trace time: its value is in the key
        nums = self._nums
        key = tuple([(a.shape, a.dtype.str) if type(a) is backend.ndarray else
                     float if type(a) is float and k in nums else ("static", type(a), a)
                     for k, a in enumerate(args)])
        try:
            entry = self.cache.get(key)
        except TypeError:
            raise CircuitError("compile: an argument that is not an array must be hashable "
                               "(it is fixed at trace time)") from None
        if entry is None:
            entry = self._trace(args, key)
        elif entry.fixed_labels and any(not np.array_equal(args[k], v)
                                        for k, v in entry.fixed_labels):
            entry = self._trace(args, key)
        self.last = entry
        passed = args if entry.all_passed else [args[k] for k in entry.passed]
        value, grads = _run(entry, passed)
        return (value, grads[0]) if self._single else (value, grads)

    def _trace(self, args, key):
        argnums = self.argnums
        nums = (argnums,) if isinstance(argnums, numbers.Integral) else tuple(argnums)
        scalar = all(type(args[k]) is float for k in nums)
        from .stateful import refused  # noqa: PLC0415 -- stateful imports nn

        with refused():  # a loss's code would fix dropout masks, skip running statistics
            staged = stage(self.f, args, nums, optimize=self.optimize, scalar=scalar,
                           passes=self.passes)
        self.traces += 1
        names = parameter_names(self.f, len(args))
        staged.passed = [names.index(p) for p in staged.params]
        staged.all_passed = staged.passed == list(range(len(args)))
        # an integer/bool array argument whose values the code holds as a constant (used
        # other than as it was passed, y.reshape(-1), say): the cached code is only right for
        # those values, so they are compared at each call
        staged.fixed_labels = [
            (k, np.array(a)) for k, a in enumerate(args)
            if isinstance(a, backend.ndarray) and a.dtype.kind in "biu" and any(
                isinstance(c, backend.ndarray) and c.size == a.size and (
                    np.shares_memory(c, a) or np.array_equal(c.ravel(), a.ravel()))
                for c in staged.constants.values())]
        _check_against_engine(self.f, nums, args, staged)
        if len(self.cache) >= self.cache_size:
            self.cache.pop(next(iter(self.cache)))
        self.cache[key] = staged
        if staged.fallback is not None and staged.all_passed and all(
                type(a) is float for a in args) and self.on_float_entry is not None:
            self.on_float_entry(staged)
        return staged


def _run(staged, passed):
    """The generated code on ``passed``; where plain-float arithmetic fails (math's domain
    and range errors), its NumPy version, which gives NaN and inf as the engine does."""
    try:
        return staged.function(*passed)
    except _MATH_ERRORS:
        if staged.fallback is None:
            raise
        return staged.fallback(*passed)


def _check_against_engine(f, nums, args, staged):
    """At the traced arguments the code gives what value_and_grad gives (else: a bug here,
    refused rather than run)."""
    from ..transforms import value_and_grad  # noqa: PLC0415

    want_value, want_grads = value_and_grad(f, argnums=nums)(*args)
    value, grads = _run(staged, [args[k] for k in staged.passed])
    for got, want in zip((value, *grads), (want_value, *want_grads), strict=True):
        want = np.asarray(want.data if isinstance(want, Tensor) else want)  # (a leaf of f's
        # own that requires grad leaves the value one that does too)
        tol = 1e-4 if want.dtype == np.float32 else 1e-8
        # near-zero entries of a large float32 sum differ in relative terms once the code sums
        # in another order (a shared subexpression, a fused line): each entry is held to
        # ``tol`` of the largest, as well as to ``tol`` of itself
        with np.errstate(all="ignore"):
            scale = float(np.max(np.abs(want), initial=0.0, where=np.isfinite(want)))
            ok = np.shape(got) == want.shape and np.allclose(got, want, rtol=tol,
                                                             atol=tol * scale, equal_nan=True)
        if not ok:
            raise CircuitError("compile: the generated code disagrees with circuitgrad at the "
                               "traced arguments:\n" + staged.source)


def compile(f, argnums=0, *, cache_size=8, optimize=True, passes=None):  # noqa: A001
    """``cg.compile(loss, argnums=0)``: a callable with ``loss``'s signature returning
    ``(value, grad)`` as ``cg.value_and_grad(loss, argnums)`` does, which runs generated
    staged NumPy code (see :func:`explain`). Each signature (argument shapes and dtypes,
    values of non-array arguments) is traced once and cached (``cache_size`` of them).
    Python control flow on values is fixed at trace time, as in ``torch.jit.trace``.
    ``optimize`` drops unit factors (``(1) * g``) from the backward and arrays after their
    last use, and runs the circuit passes ``passes`` (names from
    :data:`circuitgrad.compiler.passes.PASSES`: ``"cse"``, ``"fold"``; default all, ``()``
    none) before it writes code; with Python-float arguments only, the code is plain Python
    arithmetic with ``math`` (NumPy's code where ``math`` raises: overflow, 1/0), and once
    such a signature is traced, float calls enter that code directly (one type test per
    argument, no cache look-up); a float argument that is not differentiated is fixed per
    value.

    The result has ``.source`` (the code of the most recent signature traced or run),
    ``.traces`` (how many traces so far) and ``.cache``.

    ``cg.compile(step, argnums=None)`` compiles a training step instead
    (:func:`circuitgrad.compiler.compile`).
    """
    impl = Compiled(f, argnums, cache_size, optimize, passes)
    entry = [None]  # the call's way in: the general one, or a float trace's own entry

    def general(*args):
        out = impl(*args)
        compiled.source, compiled.traces = impl.last.source, impl.traces
        return out

    def take_float_entry(staged):
        entry[0] = float_entry(staged, impl._single, general)

    def compiled(*args):
        return entry[0](*args)

    entry[0] = general
    impl.on_float_entry = take_float_entry

    compiled.__name__ = impl.__name__
    compiled.__qualname__ = impl.__name__
    compiled.__doc__ = getattr(f, "__doc__", None)
    compiled.__wrapped__ = f  # inspect.signature(compiled) is f's
    compiled.source, compiled.traces, compiled.cache = None, 0, impl.cache
    return compiled
