"""Expressions typed by a person, parsed with ``ast`` against a whitelist and evaluated as a
circuit of gates. Never ``eval`` or ``exec``.

Allowed: numbers; input names; ``+ - * / ** @``; unary ``-`` and ``+``; parentheses;
calls of the gate functions in :data:`FUNCTIONS` (``axis=`` for reductions); indexing
with whole numbers and slices (``w[0]``, ``W[:, 1]``); lists of numbers as constants; and
``name := expr`` to name an intermediate, as the notes name their stages (at the top it
needs no parentheses and names the result). Anything else (attribute access, lambda,
comparisons, strings, unknown names...) is an :class:`ExprError` whose one-line message
says what is wrong and where.

As in the notes' staged example, ``a / b`` with two varying operands is staged as
``a * (1 / b)``: the ``1/x`` gate and a multiply (``invden = 1.0 / den``;
``f = num * invden``). Constant sub-expressions are folded (``2 * 3`` is ``6``).

>>> import numpy as np
>>> e = parse("(x + y) * z")
>>> e.names
['x', 'y', 'z']
>>> f = e.evaluate({"x": -2.0, "y": 5.0, "z": -4.0})
>>> f.backward()
>>> float(f), float(e.inputs["x"].grad), float(e.inputs["z"].grad)
(-12.0, -4.0, 3.0)
>>> parse("x.real")
Traceback (most recent call last):
    ...
circuitgrad.expr.ExprError: attribute access (.real) is not allowed, at column 2: x.real
"""

import ast
import functools
import keyword
import warnings

import numpy as np

from . import functions as F
from .errors import CircuitError
from .gates import formula_gates
from .i18n import msg
from .tensor import Tensor, tensor

MAX_CHARS = 10_000
MAX_VALUE_CHARS = 1_000_000
MAX_NODES = 5_000


class ExprError(ValueError):
    """A bad expression or input value; the message is one line: what, and where.

    ``str()`` is the message in English; ``message`` keeps it as a ``msg`` (or text), which
    the command line shows in the learner's language (``circuitgrad.i18n.render``).
    """

    def __init__(self, message):
        super().__init__(str(message))
        self.message = message


def _reduce(fn):
    def call(x, axis=None):
        return fn(x, axis=axis)
    return call


def _max(*args, axis=None):
    if len(args) == 2:
        if axis is not None:
            raise ExprError(msg("max(a, b) takes no axis; max(x, axis=...) reduces one input"))
        return F.maximum(*args)
    return F.max(args[0], axis=axis)


def _min(*args, axis=None):
    if len(args) == 2:
        if axis is not None:
            raise ExprError(msg("min(a, b) takes no axis; min(x, axis=...) reduces one input"))
        return F.minimum(*args)
    return F.min(args[0], axis=axis)


def _softmaxlike(fn):
    def call(x, axis=-1):
        return fn(x, axis=axis)
    return call


# name: (function, least arguments, most arguments, takes axis=). Every elementwise gate
# whose derivative is a formula comes from its definition (exp, sin, arctan, hypot, ...);
# the rest take axes or several forms and are listed here.
FUNCTIONS = {name: (fn, len(gate.local), len(gate.local), False)
             for name, fn, gate in ((g.api, F.DERIVED[g.api], g) for g in formula_gates())}
FUNCTIONS.update({
    "maximum": (F.maximum, 2, 2, False), "minimum": (F.minimum, 2, 2, False),
    "clip": (F.clip, 3, 3, False),
    "max": (_max, 1, 2, True), "min": (_min, 1, 2, True),
    "sum": (_reduce(F.sum), 1, 1, True), "mean": (_reduce(F.mean), 1, 1, True),
    "logsumexp": (_reduce(F.logsumexp), 1, 1, True),
    "log_softmax": (_softmaxlike(F.log_softmax), 1, 1, True),
    "softmax": (_softmaxlike(F.softmax), 1, 1, True),
    "matmul": (F.matmul, 2, 2, False), "dot": (F.dot, 2, 2, False),
    "transpose": (F.transpose, 1, 1, False),
})

_OPERATORS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**",
              ast.MatMult: "@"}
_REFUSED_OPERATORS = {ast.Mod: "%", ast.FloorDiv: "//", ast.LShift: "<<", ast.RShift: ">>",
                      ast.BitOr: "|", ast.BitXor: "^", ast.BitAnd: "&", ast.Not: "not",
                      ast.Invert: "~"}
_COMPREHENSION = msg("comprehensions are not allowed")
_YIELD = msg("'yield' is not allowed")
_REFUSED = {
    ast.Attribute: None,
    ast.Lambda: msg("lambda is not allowed"),
    ast.Compare: msg("comparisons (<, ==, ...) are not allowed: they have no gradient"),
    ast.BoolOp: msg("'and' and 'or' are not allowed"),
    ast.IfExp: msg("'if ... else' is not allowed"),
    ast.ListComp: _COMPREHENSION, ast.SetComp: _COMPREHENSION, ast.DictComp: _COMPREHENSION,
    ast.GeneratorExp: _COMPREHENSION,
    ast.Dict: msg("dicts are not allowed"),
    ast.Set: msg("sets are not allowed"),
    ast.JoinedStr: msg("f-strings are not allowed"),
    ast.Starred: msg("'*' unpacking is not allowed"),
    ast.Await: msg("'await' is not allowed"),
    ast.Yield: _YIELD, ast.YieldFrom: _YIELD,
}
_HELP = msg("allowed are numbers, input names, + - * / ** @, parentheses, name := expr, and "
            "the functions {functions}", functions=", ".join(sorted(FUNCTIONS)))
# what _parse_tree reads, as its messages name it
_WHAT = {"expression": msg("expression"), "value": msg("value")}


def _column(text, node):
    """1-based character column (and line, for multi-line text) of an AST node."""
    line = getattr(node, "lineno", 1) or 1
    offset = getattr(node, "col_offset", 0) or 0
    lines = _lines(text)
    source_line = lines[line - 1] if line - 1 < len(lines) else ""
    col = len(source_line.encode("utf-8")[:offset].decode("utf-8", "ignore")) + 1
    return line, col


@functools.lru_cache(maxsize=8)
def _lines(text):
    return text.splitlines() or [""]


def _where(text, line, col):
    lines = _lines(text)
    here = msg("line {line}, column {col}", line=line, col=col) if len(lines) > 1 else \
        msg("column {col}", col=col)
    source = lines[line - 1] if line - 1 < len(lines) else ""
    start = max(0, col - 1 - 20)
    excerpt = source[start:col - 1 + 30]
    if start > 0:
        excerpt = "..." + excerpt
    if col - 1 + 30 < len(source):
        excerpt += "..."
    return msg("{here}: {excerpt}", here=here, excerpt=excerpt) if excerpt.strip() else here


class Expression:
    """A parsed expression: ``names`` are its inputs, ``evaluate`` builds the circuit."""

    def __init__(self, text, tree):
        self.text = text
        self.tree = tree
        self.inputs = {}      # name -> Tensor, after evaluate()
        self.positions = {}   # id(Tensor) -> (line, column, text) of the code that made it
        self.bound = []       # names given with :=
        self.names = []
        self._scan()

    def shown(self):
        """The expression as a title shows it: ``(D := W @ X)`` as ``W @ X``, one line."""
        body = self.tree.body
        text = self.text
        if isinstance(body, ast.NamedExpr):
            text = ast.get_source_segment(self.text, body.value) or text
        return " ".join(text.split())

    def where(self, line, col):
        """``column 5: excerpt`` (or ``line 2, column 5: ...``) for messages."""
        return _where(self.text, line, col)

    def error(self, message, node, hint=None):
        if isinstance(message, tuple):
            message, hint = message
        line, col = _column(self.text, node)
        where = _where(self.text, line, col)
        if hint:
            return ExprError(msg("{message}, at {where} ({hint})", message=message,
                                 where=where, hint=hint))
        return ExprError(msg("{message}, at {where}", message=message, where=where))

    def segment(self, node):
        text = ast.get_source_segment(self.text, node) or type(node).__name__
        text = " ".join(text.split())
        return text if len(text) <= 40 else text[:37] + "..."

    # ----- the whitelist -----------------------------------------------------------------
    def _scan(self):
        problems = []
        nodes = list(ast.walk(self.tree))
        if len(nodes) > MAX_NODES:
            raise ExprError(msg("the expression has {count} parts; the limit is {limit}",
                                count=len(nodes), limit=MAX_NODES))
        self.bound = sorted({n.target.id for n in nodes if isinstance(n, ast.NamedExpr)})
        skip = set()
        for node in nodes:
            if id(node) in skip:
                continue
            problem = self._refusal(node, skip)
            # parts with no place of their own (a lambda's arguments) go unsaid: their
            # owner is reported; the leftmost problem wins
            if problem and hasattr(node, "lineno"):
                if isinstance(node, ast.Attribute):  # point at the dot, not at the object
                    node = _At(node.value.end_lineno, node.value.end_col_offset)
                problems.append((_column(self.text, node), problem, node))
        if problems:
            _, message, node = min(problems, key=lambda p: p[0])
            raise self.error(message, node)
        called = {id(n.func) for n in nodes if isinstance(n, ast.Call)}
        order = sorted((_column(self.text, n), n.id) for n in nodes
                       if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)
                       and n.id not in self.bound and id(n) not in called)
        for _, name in order:
            if name not in self.names:
                self.names.append(name)

    def _refusal(self, node, skip):
        kind = type(node)
        if isinstance(node, (ast.expr_context, ast.operator, ast.unaryop, ast.Expression)):
            return None
        if kind is ast.Attribute:
            return msg("attribute access (.{attr}) is not allowed", attr=node.attr)
        if kind in _REFUSED:
            return _REFUSED[kind]
        if kind is ast.BinOp:
            if type(node.op) not in _OPERATORS:
                return msg("the operator '{op}' is not supported (use + - * / ** @)",
                           op=_REFUSED_OPERATORS.get(type(node.op), "?"))
            return None
        if kind is ast.UnaryOp:
            if not isinstance(node.op, (ast.USub, ast.UAdd)):
                return msg("the operator '{op}' is not supported",
                           op=_REFUSED_OPERATORS.get(type(node.op), "?"))
            return None
        if kind is ast.Constant:
            return _constant_refusal(node.value)
        if kind is ast.Name:
            if node.id.startswith("__"):
                return msg("the name '{name}' is not allowed (no double underscores)",
                           name=node.id)
            if (node.id in FUNCTIONS and isinstance(node.ctx, ast.Load)
                    and node.id not in self.bound):
                return msg("'{name}' is a function: call it, as {name}(...)", name=node.id)
            return None
        if kind is ast.NamedExpr:
            return None
        if kind is ast.Call:
            return self._call_refusal(node, skip)
        if kind is ast.Subscript:
            skip.update(id(n) for n in ast.walk(node.slice))
            try:
                _static_index(node.slice)
            except ExprError as err:
                return err.message
            return None
        if kind in (ast.List, ast.Tuple):
            skip.update(id(n) for n in ast.walk(node))
            if kind is ast.Tuple:
                return msg("a tuple (a comma outside brackets) is not allowed: write one "
                           "expression")
            try:
                _literal(node)
            except ExprError as err:
                return err.message
            return None
        if kind is ast.keyword:
            return None
        return msg("{kind} is not allowed", kind=type(node).__name__), _HELP

    def _call_refusal(self, node, skip):
        func = node.func
        if not isinstance(func, ast.Name):
            if isinstance(func, ast.Attribute) or type(func) in _REFUSED:
                return None  # the callee itself is reported (an attribute at its dot)
            return msg("only the gate functions can be called, by name")
        skip.add(id(func))
        name = func.id
        if name not in FUNCTIONS:
            return msg("unknown function '{name}'", name=name), _HELP
        _, least, most, takes_axis = FUNCTIONS[name]
        if any(isinstance(a, ast.Starred) for a in node.args):
            return msg("'*' unpacking is not allowed")
        n = len(node.args)
        if not least <= n <= most:
            if least == most:
                return msg("{name}() takes {want} arguments, not {n}", name=name, want=least,
                           n=n) if most > 1 else \
                    msg("{name}() takes 1 argument, not {n}", name=name, n=n)
            return msg("{name}() takes {least} or {most} arguments, not {n}", name=name,
                       least=least, most=most, n=n)
        for kw in node.keywords:
            if kw.arg is None:
                return msg("'**' unpacking is not allowed")
            if kw.arg != "axis" or not takes_axis:
                if takes_axis:
                    return msg("{name}() takes no keyword '{keyword}' (only axis=)",
                               name=name, keyword=kw.arg)
                return msg("{name}() takes no keyword '{keyword}'", name=name, keyword=kw.arg)
            skip.update(id(n) for n in ast.walk(kw.value))
            try:
                _static_axis(kw.value)
            except ExprError as err:
                return str(err)
        return None

    # ----- inputs and evaluation ---------------------------------------------------------
    def check_inputs(self, given):
        """Raise ExprError for a missing input (used but not given) or an extra one."""
        for name in self.names:
            if name not in given:
                node = next(n for n in ast.walk(self.tree)
                            if isinstance(n, ast.Name) and n.id == name)
                raise self.error(msg("input '{name}' is used but not given (add {name}=VALUE)",
                                     name=name), node)
        for name in given:
            if name not in self.names:
                if name in self.bound:
                    raise ExprError(msg("'{name}' is given as an input but the expression "
                                        "assigns it with :=", name=name))
                raise ExprError(msg("input '{name}' is given but the expression does not use "
                                    "it (its inputs: {inputs})", name=name,
                                    inputs=", ".join(self.names) or msg("none")))

    def evaluate(self, values):
        """Build the circuit; ``values`` maps input names to Tensors, arrays or numbers.

        Non-Tensor values become float64 leaves that require gradients, named after their
        input. Returns a Tensor (or a NumPy value if the expression has no inputs).
        """
        self.check_inputs(values)
        self.inputs = {name: v if isinstance(v, Tensor) else
                       tensor(np.asarray(v, dtype=np.float64), requires_grad=True, name=name)
                       for name, v in values.items()}
        self.positions = {}
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            return self._run(self.tree.body)

    def _run(self, root):
        env = {}
        results = {}
        stack = [(root, False)]
        while stack:
            node, ready = stack.pop()
            children = _children(node)
            if not ready:
                stack.append((node, True))
                stack.extend((c, False) for c in reversed(children))
                continue
            args = [results.pop(id(c)) for c in children]
            value = self._apply(node, args, env)
            bad = _non_finite(value)
            if bad is not None and not isinstance(node, ast.Name):
                raise self.error(msg("{part} is {bad}, not a finite number",
                                     part=self.segment(node), bad=bad), node)
            if isinstance(value, Tensor) and id(value) not in self.positions:
                self.positions[id(value)] = (*_column(self.text, node), self.segment(node))
            results[id(node)] = value
        return results[id(root)]

    def _apply(self, node, args, env):
        kind = type(node)
        if kind is ast.Constant:
            try:
                value = np.float64(node.value)
            except OverflowError:
                value = np.float64(np.inf)
            if not np.isfinite(value):
                raise self.error(msg("the number {number} is too large",
                                     number=self.segment(node)), node)
            return value
        if kind in (ast.List,):
            return _literal(node)
        if kind is ast.Name:
            if node.id in env:
                return env[node.id]
            if node.id in self.inputs:
                return self.inputs[node.id]
            raise self.error(msg("'{name}' is used before it is assigned with :=",
                                 name=node.id), node)
        if kind is ast.NamedExpr:
            value = args[0]
            if (isinstance(value, Tensor) and value.gate is not None and not value.name):
                value.name = node.target.id
            env[node.target.id] = value
            return value
        try:
            if kind is ast.UnaryOp:
                return -args[0] if isinstance(node.op, ast.USub) else args[0]
            if kind is ast.BinOp:
                return _binary(type(node.op), args[0], args[1])
            if kind is ast.Call:
                fn = FUNCTIONS[node.func.id][0]
                kwargs = {kw.arg: _static_axis(kw.value) for kw in node.keywords}
                if all(not isinstance(a, Tensor) for a in args):
                    out = fn(*[tensor(a) for a in args], **kwargs)
                    return np.asarray(out.data)[()]
                return fn(*args, **kwargs)
            if kind is ast.Subscript:
                base = args[0]
                index = _static_index(node.slice)
                return base[index] if isinstance(base, Tensor) else np.asarray(base)[index]
        except ExprError as err:
            raise self.error(err.message, node) from None
        except (CircuitError, ValueError, TypeError, IndexError, ArithmeticError,
                NotImplementedError) as err:
            message = _message_of(err)
            raise self.error(msg("{part} fails: {error}", part=self.segment(node),
                                 error=message), node) from None
        raise self.error(msg("{kind} is not allowed", kind=type(node).__name__), node)


def _message_of(err):
    """A library error's message on one line: its ``msg`` where it was raised with one (so
    it is shown in the learner's language), else its text."""
    if len(err.args) == 1 and isinstance(err.args[0], msg):
        return err.args[0]
    return " ".join(str(err).split()) or type(err).__name__


class _At:
    """A position that is not an AST node's start (the dot of an attribute access)."""

    def __init__(self, lineno, col_offset):
        self.lineno, self.col_offset = lineno, col_offset


def _children(node):
    if isinstance(node, ast.BinOp):
        return [node.left, node.right]
    if isinstance(node, ast.UnaryOp):
        return [node.operand]
    if isinstance(node, ast.Call):
        return list(node.args)
    if isinstance(node, (ast.NamedExpr, ast.Subscript)):
        return [node.value]
    return []


def _is_const(v):
    return not isinstance(v, Tensor)


def _binary(op, a, b):
    if _is_const(a) and _is_const(b):
        a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
        out = {ast.Add: np.add, ast.Sub: np.subtract, ast.Mult: np.multiply,
               ast.Div: np.divide, ast.Pow: np.power, ast.MatMult: np.matmul}[op](a, b)
        return np.asarray(out)[()]
    if op is ast.MatMult:
        return F.matmul(a, b)
    if op is ast.Div and not _is_const(a) and not _is_const(b):
        return a * (1.0 / b)  # the notes' staging: invden = 1.0 / den; f = num * invden
    if _is_const(a) and np.ndim(a) == 0:
        a = float(a)
    if _is_const(b) and np.ndim(b) == 0:
        b = float(b)
    if _is_const(a) and not isinstance(a, float):  # an array constant on the left
        fn = {ast.Add: F.add, ast.Sub: F.subtract, ast.Mult: F.multiply, ast.Div: F.divide,
              ast.Pow: F.power}[op]
        return fn(a, b)
    if op is ast.Add:
        return a + b
    if op is ast.Sub:
        return a - b
    if op is ast.Mult:
        return a * b
    if op is ast.Div:
        return a / b
    return a ** b


def _non_finite(value):
    data = value.data if isinstance(value, Tensor) else value
    data = np.asarray(data)
    if data.dtype.kind not in "fc" or np.all(np.isfinite(data)):
        return None
    bad = data[~np.isfinite(data)].flat[0]
    return "nan" if np.isnan(bad) else ("inf" if bad > 0 else "-inf")


def _constant_refusal(value):
    if isinstance(value, bool) or value is None:
        return msg("'{value}' is not a number", value=value)
    if isinstance(value, str):
        return msg("text (a string) is not allowed")
    if isinstance(value, bytes):
        return msg("bytes are not allowed")
    if isinstance(value, complex):
        return msg("complex numbers are not supported")
    if value is Ellipsis:
        return msg("'...' is not allowed")
    return None


def _int_of(node, what):
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -_int_of(node.operand, what)
    if (isinstance(node, ast.Constant) and isinstance(node.value, int)
            and not isinstance(node.value, bool)):
        return node.value
    raise ExprError(msg("{what} must be whole numbers, like x[0], W[1, :] or axis=0",
                        what=what))


_INDICES, _AXES = msg("indices"), msg("axes")


def _static_index(node):
    if isinstance(node, ast.Tuple):
        return tuple(_static_index_item(n) for n in node.elts)
    return _static_index_item(node)


def _static_index_item(node):
    if isinstance(node, ast.Slice):
        return slice(*(None if part is None else _int_of(part, _INDICES)
                       for part in (node.lower, node.upper, node.step)))
    return _int_of(node, _INDICES)


def _static_axis(node):
    if isinstance(node, ast.Tuple):
        return tuple(_int_of(n, _AXES) for n in node.elts)
    return _int_of(node, _AXES)


def _literal(node):
    """A nested list of numbers, as a float64 array (constants in expressions, input values)."""
    def build(n):
        if isinstance(n, (ast.List, ast.Tuple)):
            return [build(e) for e in n.elts]
        if isinstance(n, ast.UnaryOp) and isinstance(n.op, (ast.USub, ast.UAdd)):
            v = build(n.operand)
            if isinstance(v, list):
                raise ExprError(msg("a sign goes before a number, not before a list"))
            return -v if isinstance(n.op, ast.USub) else v
        if (isinstance(n, ast.Constant) and isinstance(n.value, (int, float))
                and not isinstance(n.value, bool)):
            return float(n.value)
        raise ExprError(msg("a value must be a number or a list of numbers, like 3, -0.5, "
                            "[1, 2] or [[1, 2], [3, 4]]"))

    values = build(node)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            array = np.array(values, dtype=np.float64)
    except ValueError:
        raise ExprError(msg("the rows of a nested list must all have the same length")) \
            from None
    if not np.all(np.isfinite(array)):
        raise ExprError(msg("the value has a number too large to be finite"))
    return array[()] if array.ndim == 0 else array


def _parse_tree(text, what):
    named = _WHAT[what]
    if len(text) > (MAX_CHARS if what == "expression" else MAX_VALUE_CHARS):
        limit = MAX_CHARS if what == "expression" else MAX_VALUE_CHARS
        raise ExprError(msg("the {what} is {length} characters long; the limit is {limit}",
                            what=named, length=f"{len(text):,}", limit=f"{limit:,}"))
    if not text.strip():
        raise ExprError(msg("the {what} is empty", what=named))
    try:
        if what == "expression" and _named_at_top(text):
            return _parse_named(text)
        return ast.parse(text.strip() if what != "expression" else text, mode="eval")
    except SyntaxError as err:
        message = (err.msg or "invalid syntax").split(" (")[0]
        if "null bytes" in message:
            raise ExprError(msg("the {what} contains a null byte", what=named)) from None
        line, col = err.lineno or 1, err.offset or 0
        lines = text.splitlines() or [""]
        if col <= 0 or line > len(lines):
            line, col = len(lines), len(lines[-1]) + 1
        raise ExprError(msg("syntax error in the {what}: {error}, at {where}", what=named,
                            error=message, where=_where(text, line, col))) from None
    except (MemoryError, RecursionError):
        raise ExprError(msg("the {what} is nested too deeply to parse", what=named)) from None
    except ValueError as err:  # e.g. 'source code string cannot contain null bytes'
        raise ExprError(msg("the {what} cannot be parsed: {error}", what=named,
                            error=err)) from None


def _named_at_top(text):
    """Does ``text`` start with ``name :=``? (Python takes that only in parentheses.)"""
    head, sep, _ = text.partition(":=")
    name = head.strip(" \t")
    return bool(sep) and name.isidentifier() and not keyword.iskeyword(name)


def _parse_named(text):
    """Parse a top-level ``name := value``: the value as an expression of its own, with
    columns (and syntax errors' columns) counted in ``text``."""
    head, _, rest = text.partition(":=")
    value_text = rest.lstrip(" \t")
    start = len(text) - len(value_text)  # characters before the value
    try:
        value = ast.parse(value_text, mode="eval").body
    except SyntaxError as err:
        if (err.lineno or 1) == 1 and err.offset:
            err.offset += start
        raise
    shift = len(text[:start].encode("utf-8"))  # AST columns count UTF-8 bytes
    for node in ast.walk(value):
        if getattr(node, "lineno", None) == 1:
            node.col_offset += shift
        if getattr(node, "end_lineno", None) == 1:
            node.end_col_offset += shift
    name = head.strip(" \t")
    col = len(head[:len(head) - len(head.lstrip(" \t"))].encode("utf-8"))
    target = ast.Name(name, ast.Store(), lineno=1, col_offset=col, end_lineno=1,
                      end_col_offset=col + len(name.encode("utf-8")))
    return ast.Expression(ast.NamedExpr(target, value, lineno=1, col_offset=col,
                                        end_lineno=value.end_lineno,
                                        end_col_offset=value.end_col_offset))


def parse(text):
    """Parse an expression; raises :class:`ExprError` for anything off the whitelist.

    >>> parse("2 * (x * y + max(z, w))").names
    ['x', 'y', 'z', 'w']
    >>> parse("q := x * (r := y) + r").names      # 'q := ...' at the top names the result
    ['x', 'y']
    >>> parse("__import__('os')")
    Traceback (most recent call last):
        ...
    circuitgrad.expr.ExprError: unknown function '__import__', at column 1: __import__('os') (...)
    """
    if not isinstance(text, str):
        raise ExprError(msg("the expression must be text"))
    return Expression(text, _parse_tree(text, "expression"))


def parse_value(text):
    """An input value typed as text: a number or a nested list of numbers (float64).

    >>> parse_value("[[1, 2], [3, 4]]").shape
    (2, 2)
    >>> float(parse_value("-4"))
    -4.0
    """
    tree = _parse_tree(text, "value")
    return _literal(tree.body)


def parse_assignment(arg):
    """``NAME=VALUE`` from the command line as ``(name, float64 array)``."""
    name, sep, value = arg.partition("=")
    name = name.strip()
    if not sep:
        raise ExprError(msg("expected an input as NAME=VALUE, like x=3, but got {arg}",
                            arg=repr(arg)))
    if not name.isidentifier() or keyword.iskeyword(name):
        raise ExprError(msg("{name} in {arg} is not a valid input name", name=repr(name),
                            arg=repr(arg)))
    if name in FUNCTIONS:
        raise ExprError(msg("'{name}' is a function, so it cannot be an input name",
                            name=name))
    if name.startswith("__"):
        raise ExprError(msg("the input name '{name}' is not allowed (no double underscores)",
                            name=name))
    try:
        return name, parse_value(value)
    except ExprError as err:
        raise ExprError(msg("input {name}: {error}", name=name, error=err.message)) from None
