"""Compiled training steps: ``cg.compile(step, argnums=None)``.

A training step is any function that takes its gradients itself: ``cg.value_and_grad``
(or ``cg.grad``) inside a functional step, or ``loss.backward()`` between an optimizer's
``zero_grad()`` and ``step()`` in an nn step. Its first call for a signature traces it once:

- the step's floating-point arrays (leaves of dicts, lists and tuples too) enter as traced
  tensors; integer arrays (labels) are passed to the code as they are; other arguments are
  fixed at trace time;
- the one gradient the step takes (its ``backward()`` or ``value_and_grad``) is not run by
  the engine but written as staged code, forward then backward, and the gradients the step
  receives are new traced inputs, so what it computes from them (a functional update) is
  staged too;
- calls of an optimizer's or a module's ``zero_grad()`` and ``step()`` are recorded as
  events, replayed in order around the generated code at each later call: the gradients go
  to the parameters' ``.grad`` and the optimizer updates the parameters' arrays (and its own
  state) in place, as in the eager step.

Dropout masks are drawn afresh before each call, batch norm's running statistics are
updated after it, and the modules' modes are part of the signature
(:mod:`circuitgrad.compiler.stateful`).

Later calls with that signature run the generated code and the events only, not the step's
Python. The result is the step's, with tensors as NumPy values. Semantics are those of
``torch.jit.trace``: Python control flow and other side effects of the step happen at
trace time only; a traced value turned into a Python number during the trace
(``float(loss)``, ``loss.item()``, ``if loss > 0``) is an error naming the line.

>>> import numpy as np, circuitgrad as cg
>>> def loss(p, x):
...     return np.sum((x @ p["w"]) ** 2)
>>> def step(p, x):
...     value, g = cg.value_and_grad(loss)(p, x)
...     return {"w": p["w"] - 0.1 * g["w"]}, value
>>> fast = cg.compile(step, argnums=None)
>>> p = {"w": np.array([1.0, -1.0])}
>>> x = np.array([[1.0, 2.0]])
>>> p, value = fast(p, x)         # traced: loss (1 - 2)**2, gradient 2 * (-1) * [1, 2]
>>> p["w"].tolist(), float(value)
([1.2, -0.6], 1.0)
>>> p, value = fast(p, x)         # the generated code: x @ w is now 0
>>> p["w"].tolist(), float(value), fast.traces
([1.2, -0.6], 0.0, 1)
"""

import builtins
import keyword
import linecache

import numpy as np

from .. import backend
from .. import transforms as _transforms
from ..core import backward as _backward_mod
from ..core.circuit import Var, read
from ..core.node import place
from ..core.tree import flatten, unflatten
from ..errors import CircuitError
from ..tensor import Tensor, tensor
from ..tracing import parameter_names
from . import passes as _passes
from . import staging as _staging
from . import stateful as _stateful
from .buffers import BufferPool, reuse_buffers
from .inplace import rewrite, simplify
from .staging import (
    _base_namespace,
    _check,
    _forward_line,
    _Generator,
    _grad_lines,
    _layout,
    _notes_names,
    _with_dels,
    tracing,
)
from .updates import replayed


class _Event:
    """A recorded call (``opt.step()``, ``opt.zero_grad()``), replayed at each call."""

    __slots__ = ("fn", "args", "kwargs", "after_block")

    def __init__(self, fn, args, kwargs, after_block):
        self.fn, self.args, self.kwargs, self.after_block = fn, args, kwargs, after_block


def _step_classes():
    """The classes whose ``step``/``zero_grad`` are recorded: the optimizers and modules."""
    from ..nn.module import Module  # noqa: PLC0415 -- nn imports the engine
    from ..nn.optim import Optimizer  # noqa: PLC0415

    found, stack = [], [Optimizer, Module]
    while stack:
        cls = stack.pop()
        found.append(cls)
        stack.extend(cls.__subclasses__())
    return found


class _StepTrace:
    """The state of one trace: the generator, the wires' code names, the events."""

    def __init__(self, gen):
        self.gen = gen
        self.wire_name = {}   # id(wire) -> code name
        self.keep = []        # wires and circuits whose ids are in wire_name stay alive
        self.emitted = set()  # id(wire) of equations written
        self.forward = []     # (line, note)
        self.block = []       # the backward block's lines
        self.before = []      # forward lines before the block
        self.param_args = []  # (name, Tensor): leaves the step does not pass (model weights)
        self.targets = None   # (Tensor, grad name) whose .grad the block sets (backward())
        self.block_grads = ()  # grad names returned for the targets
        self.events = []
        self.blocks = 0
        self.stage_no = 0
        self.passed = set()    # names of the function's own arguments
        self.own_args = set()  # id(wire) of the step's own traced arrays
        self.in_event = False
        self.xent_probs = {}   # id(wire) of a softmax cross-entropy -> its probabilities
        self.passes = ()       # circuit passes run on each circuit read (passes.py)
        self.outer_modules = []  # the Modules the step called (the outermost calls)
        self.merged = []       # (dropped Var, the Var it is now) of the last circuit read

    def param_names(self):
        """id(Parameter) -> its dotted name in the modules the step called
        (``fc1.weight``; a Sequential's ``0.weight``), the first name found."""
        names = {}
        for module in self.outer_modules:
            for name, p in module.named_parameters():
                names.setdefault(id(p), name)
        return names

    def read(self, *outputs, **kwargs):
        """The circuit of ``outputs``, after the passes."""
        c = read(*outputs, **kwargs)
        if self.passes:
            c, self.merged = _passes.run(c, self.passes, self._constant)
        return c

    def _constant(self, v):
        """A leaf the code holds as a constant, fixed at trace time (no argument, no
        parameter of a model, whose array a user may change between calls)."""
        from ..nn.module import Parameter  # noqa: PLC0415 -- nn imports the engine

        return v.kind == "const" and id(v.wire) not in self.wire_name and \
            self.gen.const_of.get(id(v.value)) not in self.passed and \
            not isinstance(v.wire, Parameter)

    # -- names by wire: several circuits are read, each with its own Var objects
    def bind(self, c):
        gen = self.gen
        for v in c.inputs + c.consts:
            key = id(v.wire)
            if key in self.wire_name:
                gen.names[id(v)] = self.wire_name[key]
                continue
            given = gen.const_of.get(id(v.value))
            if given is not None and v.kind == "const" and given in self.passed:
                name = given  # an integer argument passed as it is
            elif v.kind == "input" and isinstance(v.wire, Tensor):
                given = v.wire.name or self.param_names().get(id(v.wire))
                name = gen.claim(_identifier(given or v.name, "layer"))
                self.param_args.append((name, v.wire))
                self.passed.add(name)
                gen.env[name] = v.value
            else:
                if v.value is None:
                    raise CircuitError(f"compile: the value of {v.name} was released")
                name = gen.claim(v.name)
                gen.constants[name] = v.value
                gen.const_of.setdefault(id(v.value), name)
                gen.ns[name] = v.value
            self.wire_name[key] = name
            gen.names[id(v)] = name
        notes = _notes_names(c, gen)
        for v in c.wires:
            if id(v) in gen.names:
                continue
            key = id(v.wire)
            eq = c.equation_of.get(id(v))
            if key not in self.wire_name and eq is not None and eq.gate.name == "identity" \
                    and isinstance(eq.inputs[0], Var):
                self.wire_name[key] = gen.names[id(eq.inputs[0])]  # one array, one name
                self.emitted.add(key)
            if key not in self.wire_name:
                self.wire_name[key] = gen.claim(notes.get(id(v)) or v.name)
            gen.names[id(v)] = self.wire_name[key]
        for dropped, now in self.merged:  # a common subexpression: one name, one line
            self.wire_name.setdefault(id(dropped.wire), gen.names[id(now)])
            gen.names[id(dropped)] = self.wire_name[id(dropped.wire)]
            self.emitted.add(id(dropped.wire))
            self.keep.append(dropped)
        self.merged = []
        self.keep.append(c)

    def emit_forward(self, c):

        gen = self.gen
        self.bind(c)
        for eq in c.equations:
            key = id(eq.output.wire)
            if key in self.emitted:
                continue
            self.emitted.add(key)
            self.stage_no += 1
            target = gen.name_of(eq.output)
            gen.stage_of[key] = self.stage_no
            if gen.optimize and _fused_xent(eq):  # the softmax kept for the backward pass
                probs = gen.claim("probs")
                expr = f"xent_forward({gen.text_of(eq.inputs[0])}, {gen.text_of(eq.inputs[1])})"
                value, gen.env[probs] = gen.run("_", expr, eq.gate.name)
                gen.env[target] = value
                _check(eq, value)
                self.xent_probs[key] = probs
                self.forward.append((f"{target}, {probs} = {expr}", f"({self.stage_no})"))
                continue
            expr = _forward_line(gen, eq)
            gen.ns.update({k: v for k, v in gen.constants.items() if k != "_keep"})
            value = gen.run(target, expr, eq.gate.name)
            _check(eq, value)
            self.forward.append((f"{target} = {expr}", f"({self.stage_no})"))

    def emit_block(self, root, targets):
        """Forward lines up to ``root`` and the backward lines from it to ``targets``
        (wires); returns the gradients' names, in order."""
        gen = self.gen
        c = self.read(root, order_inputs=targets)
        self.emit_forward(c)
        self.before = list(self.forward)
        target_ids = {id(place(t)) for t in targets}
        reach = {id(v) for v in c.wires if id(v.wire) in target_ids}
        for eq in c.equations:  # which wires carry a gradient to a target
            if any(isinstance(x, Var) and id(x) in reach for x in eq.inputs):
                reach.add(id(eq.output))
        out = c.outputs[0]
        seed = gen.grad_name(out)
        lines = [(f"{seed} = 1.0" if out.dtype == np.float64 else
                  f"{seed} = ones_like({gen.name_of(out)})", "")]
        gen.run(seed, lines[0][0].split(" = ", 1)[1])
        gen.drop = seed if gen.optimize else None
        have, owned = {id(out)}, set()
        for eq in reversed(c.equations):
            if id(eq.output) not in have:
                continue
            probs = self.xent_probs.get(id(eq.output.wire))
            x = eq.inputs[0]
            if probs is not None and eq.output is out and id(x) in reach and id(x) not in have:
                target = gen.grad_name(x)  # the seed is 1: the gradient is (probs - onehot) / N
                expr = f"xent_backward({probs}, {gen.text_of(eq.inputs[1])})"
                gen.run(target, expr, eq.gate.name)
                lines.append((f"{target} = {expr}", f"({gen.stage_of[id(eq.output.wire)]})"))
                have.add(id(x))
                owned.add(target)
                continue
            for i, x in enumerate(eq.inputs):
                if isinstance(x, Var) and id(x) in reach:
                    note = f"({gen.stage_of[id(eq.output.wire)]})"
                    lines += [(line, note) for line in _grad_lines(gen, eq, i, x, have,
                                                                   owned)]
        names = []
        var_of = {id(v.wire): v for v in c.wires}
        for t in targets:
            v = var_of.get(id(place(t)))
            if v is None or id(v) not in have:  # no path from this input to the loss
                name = gen.claim("d" + (gen.names[id(v)] if v is not None else "x"))
                lines.append((f"{name} = zeros_like({self._value_name(t, v)})", ""))
                gen.run(name, lines[-1][0].split(" = ", 1)[1])
            else:
                name = gen.grad_name(v)
            names.append(name)
        self.block = lines
        self.keep.append(c)
        return names

    def _value_name(self, t, v):
        if v is not None:
            return self.gen.names[id(v)]
        name = self.gen.claim("zero_source")
        self.gen.ns[name] = t.data
        return name


def _fused_xent(eq):
    """A softmax cross-entropy of 2-d scores and integer labels (what xent_forward does)."""
    if eq.gate.name != "softmax_cross_entropy" or len(eq.inputs) != 2:
        return False
    scores, labels = (np.asarray(x.value) if x.value is not None else None for x in eq.inputs)
    return scores is not None and labels is not None and scores.ndim == 2 and \
        labels.ndim == 1 and labels.dtype.kind in "iu"


def _identifier(text, fallback):
    text = "".join(ch if ch.isalnum() or ch == "_" else "_" for ch in str(text))
    if not text or text[0].isdigit():
        text = fallback + text
    return text


class _Recorder:
    """Patches the engine's backward and the optimizers' calls for the trace's duration."""

    def __init__(self, st):
        self.st = st
        self.saved = []
        self.stateful = _stateful.Recording(st)  # dropout draws, running statistics, modes

    def __enter__(self):
        self.stateful.__enter__()
        for module in (_backward_mod, _transforms):
            self.saved.append((module, "backprop", module.backprop))
            module.backprop = self.backprop
        for cls in _step_classes():
            for name in ("step", "zero_grad"):
                if name in vars(cls):
                    self.saved.append((cls, name, vars(cls)[name]))
                    setattr(cls, name, self._event(vars(cls)[name]))
        from ..nn.module import Module  # noqa: PLC0415 -- nn imports the engine

        self.saved.append((Module, "__call__", Module.__call__))
        Module.__call__ = self._module_call(Module.__call__)
        return self

    def __exit__(self, *exc):
        for owner, name, value in reversed(self.saved):
            setattr(owner, name, value)
        self.stateful.__exit__(*exc)

    def _module_call(self, method):
        """``Module.__call__`` noting the modules called, for their parameters' names."""
        st, depth = self.st, [0]

        def called(module, *args, **kwargs):
            if depth[0] == 0 and all(m is not module for m in st.outer_modules):
                st.outer_modules.append(module)
            depth[0] += 1
            try:
                return method(module, *args, **kwargs)
            finally:
                depth[0] -= 1
        return called

    def _event(self, method):
        st = self.st

        def recorded(obj, *args, **kwargs):
            if st.in_event:  # a subclass's step() calling its base's: one event
                return method(obj, *args, **kwargs)
            st.events.append(_Event(method, (obj, *args), kwargs, st.blocks > 0))
            st.in_event = True
            try:
                return method(obj, *args, **kwargs)
            finally:
                st.in_event = False
        recorded.__name__ = method.__name__
        return recorded

    def backprop(self, roots, cotangents, *, wrt=None, retain_graph=False,
                 create_graph=False, every=None):
        st = self.st
        if len(roots) != 1 or every is not None:
            raise CircuitError("compile: a step can take the gradient of one scalar loss "
                               "(one backward() or value_and_grad)")
        if st.blocks:
            raise CircuitError("compile: this step takes a second gradient; a compiled step "
                               "takes one (one backward() or value_and_grad per step)")
        root = roots[0]
        g = np.asarray(cotangents[0].data if isinstance(cotangents[0], Tensor)
                       else cotangents[0])
        if root.size != 1 or not np.all(g == 1):
            raise CircuitError("compile: the loss of a compiled step must be a scalar whose "
                               "gradient is taken with the seed 1 (loss.backward())")
        st.blocks += 1
        if wrt is not None:  # value_and_grad: the gradients become traced inputs
            names = st.emit_block(root, list(wrt))
            grads = []
            for name in names:
                gt = tensor(st.gen.env[name], requires_grad=True, name=name)
                st.wire_name[id(place(gt))] = name
                st.keep.append(gt)
                grads.append(gt)
            st.block_grads = tuple(names)
            return (grads, True) if create_graph is None else grads
        c = read(root)
        leaves = [v.wire for v in c.inputs if v.wire.requires_grad and isinstance(v.wire, Tensor)
                  and id(v.wire) not in st.own_args]
        names = st.emit_block(root, leaves)
        for leaf, name in zip(leaves, names, strict=True):
            value = st.gen.env[name]
            leaf.grad = value.copy() if leaf.grad is None else leaf.grad + value
        st.targets = list(zip(leaves, names, strict=True))
        st.block_grads = tuple(names)
        return (None, False) if create_graph is None else None


class _StepProgram:
    """What one trace of a step gives: the generated function and how to call it."""

    def __init__(self, source, function, layout, param_args, targets, events, result):
        self.source = source
        self.function = function
        self.layout = layout          # per argument: (treedef, kinds) of its leaves
        self.param_args = param_args  # Tensors whose .data are the last arguments
        self.targets = targets        # Tensors whose .grad the gradients go to
        self.events = events
        self.result = result          # (treedef, per leaf: ("out", k) / ("arg", k) / value)
        self.draws = ()               # dropout masks drawn before each call (stateful.py)
        self.stat_updates = ()        # running statistics updated after it
        self.mode_check = None        # the modules' modes and buffers it was traced with

    @property
    def kept_bytes(self):
        """Bytes of the arrays the program keeps from call to call: its buffers and the
        replayed optimizer's scratch arrays."""
        arrays = list(self.pool.buffers) if self.pool is not None else []
        for e in self.events:
            arrays += list(getattr(e.fn, "scratch", {}).values())
        return sum(a.nbytes for a in arrays)

    def __call__(self, args):
        passed = []
        for a, (_, kinds) in zip(args, self.layout, strict=True):
            leaves, _ = flatten(a)
            passed += [leaf for leaf, kind in zip(leaves, kinds, strict=True) if kind]
        passed += [t.data for t in self.param_args]
        passed += [draw() for draw in self.draws]  # dropout masks, drawn as eagerly
        for e in self.events:
            if not e.after_block:
                e.fn(*e.args, **e.kwargs)
        outs, grads = self.function(*passed)
        for update in self.stat_updates:  # batch norm's running statistics, in place
            update(outs)
        for t, g in zip(self.targets, grads, strict=True):
            t.grad = g if t.grad is None else t.grad + g
        for e in self.events:
            if e.after_block:
                e.fn(*e.args, **e.kwargs)
        treedef, leaves = self.result
        values = [outs[spec[1]] if type(spec) is tuple and spec[0] == "out" else
                  passed[spec[1]] if type(spec) is tuple and spec[0] == "arg" else spec
                  for spec in leaves]
        return unflatten(treedef, values)


def trace_step(step, args, optimize=True, passes=None):
    """Trace ``step`` at ``args`` into a :class:`_StepProgram`; ``passes`` run over each
    circuit read (default: all with ``optimize``, none without)."""
    names = parameter_names(step, len(args))
    gen = _Generator(None, [], (), {})
    gen.optimize = optimize
    gen.views = optimize  # a reduction's gradient as a broadcast view, as the engine gives
    gen.drop = None
    gen.stage_of = {}
    gen.ns = dict(_base_namespace())
    st = _StepTrace(gen)
    st.passes = _passes.check(passes) if optimize or passes is not None else ()
    gen.params = st.passed
    arg_tensors = {}  # id(wire) -> position among the passed arrays
    traced_args, layout, arg_names = [], [], []
    for name, a in zip(names, args, strict=True):
        leaves, treedef = flatten(a)
        keys = _leaf_names(name, a, len(leaves))
        new, kinds = [], []
        for key, leaf in zip(keys, leaves, strict=True):
            if isinstance(leaf, Tensor):
                raise CircuitError(f"compile: argument {name!r} holds a Tensor; pass NumPy "
                                   f"arrays to a compiled step (model parameters are read "
                                   f"from the model)")
            if isinstance(leaf, backend.generic) and leaf.dtype.kind in "fbiu":
                leaf = np.asarray(leaf)  # a NumPy scalar (what a 0-d result comes back as)
            if type(leaf) is backend.ndarray and leaf.dtype.kind in "fbiu":
                code = gen.claim(_identifier(key, "a"))
                st.passed.add(code)
                arg_names.append(code)
                gen.env[code] = leaf
                if leaf.dtype.kind == "f":
                    t = tensor(leaf, requires_grad=True, name=code)
                    st.wire_name[id(place(t))] = code
                    st.own_args.add(id(place(t)))
                    arg_tensors[id(place(t))] = len(arg_names) - 1
                    st.keep.append(t)
                    new.append(t)
                else:
                    gen.const_of[id(leaf)] = code
                    new.append(leaf)
                kinds.append(True)
            else:
                new.append(leaf)
                kinds.append(False)
        traced_args.append(unflatten(treedef, new))
        layout.append((treedef, kinds))
    recorder = _Recorder(st)
    with recorder, tracing(step):
        result = step(*traced_args)
    leaves, treedef = flatten(result)
    outputs, specs = [], []
    for leaf in leaves:
        if isinstance(leaf, Tensor) and id(place(leaf)) in arg_tensors:
            specs.append(("arg", arg_tensors[id(place(leaf))]))
        elif isinstance(leaf, Tensor) and (place(leaf)._gate is not None
                                           or id(place(leaf)) in st.wire_name):
            specs.append(("out", len(outputs)))
            outputs.append(leaf)
        elif isinstance(leaf, Tensor):
            specs.append(leaf.data)
        else:
            specs.append(leaf)
    for update in st.stat_updates:  # the batch statistics are outputs too
        for attr in ("mean", "var"):
            t = getattr(update, attr)
            if not isinstance(t, Tensor) or (place(t)._gate is None
                                             and id(place(t)) not in st.wire_name):
                raise CircuitError("compile: a batch norm's statistics are not computed from "
                                   "the step's arrays, so the code cannot update its running "
                                   "statistics; train it eagerly")
            setattr(update, attr, len(outputs))
            outputs.append(t)
    if outputs:
        st.emit_forward(st.read(*outputs))
    out_names = [st.wire_name[id(place(t))] for t in outputs]
    for t in outputs:  # an output that is a gradient or a weight is named by its wire
        gen.env.setdefault(st.wire_name[id(place(t))], t.data)
    after = st.forward[len(st.before):]
    params = arg_names + [name for name, _ in st.param_args] + [d.name for d in st.draws]
    keep = set(params) | set(out_names) | set(st.block_grads)
    before, rest = st.before, st.block + after
    if optimize:  # in-place arithmetic where the code owns a buffer at its last use
        body = simplify(before + rest, gen.ns, gen.env)
        body = rewrite(body, gen.env, keep | set(gen.constants))
        pool_name = gen.claim("buffer")  # new arrays written into buffers kept across calls
        body, buffer_specs = reuse_buffers(body, {**gen.ns, **gen.constants}, gen.env, pool_name)
        gen.ns[pool_name] = pool = BufferPool(buffer_specs)
        before, rest = body[:len(before)], body[len(before):]
    else:
        pool = None
    lines = _layout(before, rest)
    _stateful.check_draws_used(st.draws, lines)
    if optimize:
        lines = _with_dels(lines, keep)
    fname = _identifier(f"{getattr(step, '__name__', 'step')}_staged", "f")
    if keyword.iskeyword(fname):
        fname = "step_staged"
    returned = out_names
    grads = list(st.block_grads) if st.targets is not None else []
    for name in grads:  # a gradient that is a broadcast view becomes the .grad array
        value = gen.env.get(name)
        if isinstance(value, backend.ndarray) and not value.flags.writeable:
            lines.append(f"    {name} = {name}.copy()")
    ret = (f"    return ({', '.join(returned)}{',' if len(returned) == 1 else ''}), "
           f"({', '.join(grads)}{',' if len(grads) == 1 else ''})")
    source = "\n".join([f"def {fname}({', '.join(params)}):"] + lines + [ret])
    ns = dict(gen.ns)
    ns.update({k: v for k, v in gen.constants.items() if k != "_keep"})
    filename = f"<staged {fname}>"
    exec(builtins.compile(source, filename, "exec"), ns)  # noqa: S102 -- from the circuit
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    targets = [t for t, _ in st.targets] if st.targets is not None else []
    events = st.events
    if optimize:  # an optimizer's step() without its temporaries (updates.py)
        events = [_Event(replayed(e.fn, e.args[0], pool), e.args, e.kwargs, e.after_block)
                  if len(e.args) == 1 and not e.kwargs else e for e in events]
    program = _StepProgram(source, ns[fname], layout, [t for _, t in st.param_args],
                           targets, events, (treedef, specs))
    program.keep = st.keep
    program.draws, program.stat_updates = tuple(st.draws), tuple(st.stat_updates)
    program.mode_check = recorder.stateful.mode_check()
    program.pool = pool
    return program, result


def _leaf_names(name, tree, count):
    """Code names for an argument's leaves: dict keys where they are names."""
    if count == 1 and not isinstance(tree, (dict, list, tuple)):
        return [name]
    if isinstance(tree, dict) and all(isinstance(k, str) for k in tree) and \
            count == len(tree) and not any(isinstance(v, (dict, list, tuple))
                                           for v in tree.values()):
        return list(tree)
    return [f"{name}{k}" for k in range(count)]


class CompiledStep:
    """``cg.compile(step, argnums=None)``: see the module docstring."""

    def __init__(self, step, cache_size=8, optimize=True, passes=None):
        self.step = step
        self.cache_size = cache_size
        self.optimize = optimize
        self.passes = passes
        self.cache = {}
        self.last = None
        self.traces = 0
        self.__name__ = f"compiled_{getattr(step, '__name__', 'step')}"
        self.__wrapped__ = step

    @property
    def source(self):
        if self.last is None:
            raise CircuitError("compile: nothing traced yet; call the compiled step once")
        return self.last.source

    def __call__(self, *args):
        key = []
        for a in args:
            leaves, treedef = flatten(a)
            key.append(_tree_key(treedef))
            key += [(x.shape, x.dtype.str) if type(x) is backend.ndarray or (
                isinstance(x, backend.generic) and x.dtype.kind in "fbiu") else
                ("static", type(x), x) for x in leaves]
        try:
            key = tuple(key)
            program = self.cache.get(key)
        except TypeError:
            raise CircuitError("compile: an argument that is not an array must be hashable "
                               "(it is fixed at trace time)") from None
        if program is not None and not program.mode_check.holds():
            # another mode (model.eval()): its own trace, under the modes too; other
            # buffer values: traced again
            key += (("modes", program.mode_check.current()),)
            program = self.cache.get(key)
            if program is not None and not program.mode_check.holds():
                program = None
        if program is None:
            program, result = trace_step(self.step, args, self.optimize, self.passes)
            self.traces += 1
            if len(self.cache) >= self.cache_size:
                self.cache.pop(next(iter(self.cache)))
            self.cache[key] = program
            self.last = program
            return _values(result)
        self.last = program
        return program(args)


def _tree_key(treedef):
    if treedef.kind == "leaf":
        return "leaf"
    keys = tuple(treedef.keys) if treedef.keys is not None else None
    return (treedef.kind, keys, tuple(_tree_key(c) for c in treedef.children))


def _values(result):
    """The traced call's result as the compiled calls give it: Tensors as their values."""
    leaves, treedef = flatten(result)
    return unflatten(treedef, [x.data if isinstance(x, Tensor) else x for x in leaves])


def compile(f, argnums=0, *, cache_size=8, optimize=True, passes=None):  # noqa: A001
    """``cg.compile``. With ``argnums`` (an int or a tuple), ``f`` is a loss and the result
    returns ``(value, grad)`` as ``cg.value_and_grad(f, argnums)`` does
    (:func:`circuitgrad.compiler.staging.compile`). With ``argnums=None``, ``f`` is a training step
    that takes its gradient itself (``cg.value_and_grad`` inside, or ``loss.backward()`` and
    an optimizer's ``step()``): the result returns what ``f`` returns, with the same effects
    on a model's parameters and an optimizer's state (this module's docstring says how).
    ``passes`` chooses the circuit passes run before code is written (``"cse"``,
    ``"fold"``: :mod:`circuitgrad.compiler.passes`; default all of them with ``optimize``,
    ``()`` none)."""
    if argnums is None:
        return CompiledStep(f, cache_size, optimize, passes)
    return _staging.compile(f, argnums, cache_size=cache_size, optimize=optimize,
                            passes=passes)

