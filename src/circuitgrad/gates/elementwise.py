"""Elementwise gates: arithmetic, exp/log family, trigonometry, activations, max/min, clip,
where.

Most are one line: the forward and, per input, the local derivative written once as a
formula (see ``gates/define.py``), from which the VJP, the JVP and the staged listing's
line all come. The few whose rules need more than a formula (ties, bounds, a condition,
a dtype) write their rules out, with the listing's text beside them (``formula``).

Kinks and ties, by the notes' rule that max routes the gradient to the larger input:
``maximum``/``minimum`` split it evenly at an exact tie (so the inputs' gradients add up to
the upstream one); ``relu'(0) = 0``; ``abs'(0) = 0``; ``clip`` passes the gradient at its
bounds. A NaN input that is the output (relu, maximum, minimum, clip pass it through) gets
the gradient.
"""

import math
import operator

import numpy as np

from ..backend import ndarray as _ndarray
from ..core.gate import Gate
from ..core.node import Wire
from .define import elementwise
from .listing import Text, number


def _one(rule):
    return (rule,)


# ----- arithmetic -------------------------------------------------------------------------
add = elementwise("add", operator.add, "1", "1", numpy=np.add, symbol="+", symmetric=True)
sub = elementwise("sub", operator.sub, "1", "-1", numpy=np.subtract, api="subtract",
                  symbol="-")
mul = elementwise("mul", operator.mul, "y", "x",  # the multiply gate swaps its inputs
                  numpy=np.multiply, api="multiply", symbol="*", symmetric=True)
# d/dy of x / y is -x / y**2: for the notes' 1 / den, their (-1 / den**2)
div = elementwise("div", operator.truediv, "1 / y", "-x / y**2", numpy=np.divide,
                  api="divide", symbol="/")
# x % y = x - y * floor(x / y), with the floor piecewise constant: d/dx is 1 and d/dy is
# -floor(x / y) away from the jumps (where x / y is a whole number). np.floor on Tensors
# gives a plain tensor, so the rules also serve higher derivatives.
remainder = elementwise("remainder", np.remainder, "1", "-floor(x / y)", numpy=np.remainder,
                        caveats="Where x / y is an integer the result jumps; the gradient is "
                                "that of the side NumPy's floor picks.",
                        symbol="%")
neg = elementwise("neg", operator.neg, "-1", numpy=np.negative, api="negative", symbol="-x")
# x**2 is common enough in losses and scalar circuits to be its own gate.
square = elementwise("square", lambda x: x * x, "2 * x", numpy=np.square, symbol="**2",
                     text=Text(lambda site: f"{site.arg(0)}**2"))
copy = elementwise("copy", np.copy, "1", numpy=np.copy)  # a new array, the same values
reciprocal = elementwise("reciprocal", lambda x: 1 / x, "-out**2", numpy=np.reciprocal,
                         symbol="1/x")


# ----- exponentials and logarithms --------------------------------------------------------
def _quiet(fn):
    """``fn`` without NumPy's overflow warning: exp(+1000) is inf in floating point."""
    def forward(x):
        with np.errstate(over="ignore"):
            return fn(x)
    return forward


exp = elementwise("exp", _quiet(np.exp), "out", numpy=np.exp)
exp2 = elementwise("exp2", _quiet(np.exp2), "out * log(2)", numpy=np.exp2)
expm1 = elementwise("expm1", _quiet(np.expm1), "out + 1", numpy=np.expm1)
log = elementwise("log", np.log, "1 / x", numpy=np.log)
log2 = elementwise("log2", np.log2, "1 / (x * log(2))", numpy=np.log2)
log10 = elementwise("log10", np.log10, "1 / (x * log(10))", numpy=np.log10)
log1p = elementwise("log1p", np.log1p, "1 / (1 + x)", numpy=np.log1p)
logaddexp = elementwise("logaddexp", np.logaddexp, "exp(x - out)", "exp(y - out)",
                        numpy=np.logaddexp, symmetric=True)
sqrt = elementwise("sqrt", np.sqrt, "0.5 / out", numpy=np.sqrt, symbol="sqrt")
cbrt = elementwise("cbrt", np.cbrt, "1 / (3 * out**2)", numpy=np.cbrt)
abs = elementwise("abs", np.abs, "sign(x)", numpy=np.absolute, symbol="|x|",
                  caveats="At x = 0 the gradient is 0 (the subgradient PyTorch and JAX pick).")
hypot = elementwise("hypot", np.hypot, "x / out", "y / out", numpy=np.hypot,
                    symmetric=True)


# ----- trigonometry -------------------------------------------------------------------------
sin = elementwise("sin", np.sin, "cos(x)", numpy=np.sin)
cos = elementwise("cos", np.cos, "-sin(x)", numpy=np.cos)
tan = elementwise("tan", np.tan, "1 + out**2", numpy=np.tan)
arcsin = elementwise("arcsin", np.arcsin, "1 / sqrt(1 - x**2)", numpy=np.arcsin)
arccos = elementwise("arccos", np.arccos, "-1 / sqrt(1 - x**2)", numpy=np.arccos)
arctan = elementwise("arctan", np.arctan, "1 / (1 + x**2)", numpy=np.arctan)
# arctan2(x, y) is the angle of the point (y, x), as np.arctan2 reads its arguments
arctan2 = elementwise("arctan2", np.arctan2, "y / (x**2 + y**2)", "-x / (x**2 + y**2)",
                      numpy=np.arctan2)
sinh = elementwise("sinh", _quiet(np.sinh), "cosh(x)", numpy=np.sinh)
cosh = elementwise("cosh", _quiet(np.cosh), "sinh(x)", numpy=np.cosh)
arcsinh = elementwise("arcsinh", np.arcsinh, "1 / sqrt(x**2 + 1)", numpy=np.arcsinh)
arccosh = elementwise("arccosh", np.arccosh, "1 / sqrt(x**2 - 1)", numpy=np.arccosh)
arctanh = elementwise("arctanh", np.arctanh, "1 / (1 - x**2)", numpy=np.arctanh)
deg2rad = elementwise("deg2rad", np.deg2rad, "pi / 180", numpy=(np.deg2rad, np.radians))
rad2deg = elementwise("rad2deg", np.rad2deg, "180 / pi", numpy=(np.rad2deg, np.degrees))


# ----- special functions (scipy.special's ufuncs reach these; scipy is not needed) ----------
def digamma(x):
    """psi(x) = d/dx log|Gamma(x)|, which NumPy lacks: psi(z) = psi(z + 10) - sum 1/(z + k)
    for k < 10, then the asymptotic series at z + 10 >= 10 (truncation below 3e-14); below
    1/2 by reflection, psi(x) = psi(1 - x) - pi / tan(pi x). Only operators and NumPy
    functions: on Tensors it records gates, so its own derivatives (trigamma, ...) follow."""
    reflect = _value(x) < 0.5
    z = np.where(reflect, 1 - x, x)
    shifted = 0
    for k in range(10):
        shifted = shifted + 1 / (z + k)
    w = z + 10
    w2 = 1 / (w * w)
    psi = np.log(w) - 0.5 / w - w2 * (1 / 12 - w2 * (1 / 120 - w2 * (
        1 / 252 - w2 * (1 / 240 - w2 / 132)))) - shifted
    # the reflection's cotangent is taken at a harmless 1/4 where it is not used
    cot = np.pi / np.tan(np.pi * np.where(reflect, x, 0.25))
    return np.where(reflect, psi - cot, psi)


# Names the special gates' derivative formulas use besides NumPy's (a listing line using
# them evaluates with these added).
FORMULA_EXTRAS = {"digamma": digamma}


def _value(x):
    """The NumPy value of a wire (a Tensor inside a rule) or of an array."""
    return x._value if isinstance(x, Wire) else x


def _special(name, scalar):
    """A forward computing scipy.special.NAME where scipy is installed, else ``scalar``
    (from math) entry by entry; float32 stays float32, integers give float64."""
    def forward(x):
        fn = _scipy_special(name)
        if fn is not None:
            return fn(x)
        x = np.asarray(x)
        dtype = x.dtype if x.dtype.kind == "f" else np.dtype(np.float64)
        out = np.array([scalar(float(v)) for v in x.ravel()], dtype=np.float64)
        out = out.reshape(x.shape).astype(dtype)
        return out[()] if out.ndim == 0 else out
    forward.__name__ = name
    return forward


_SCIPY = {}


def _scipy_special(name):
    """scipy.special's ufunc ``name``, imported on first use; None without scipy."""
    if "module" not in _SCIPY:
        try:
            import scipy.special as module
        except ImportError:
            module = None
        _SCIPY["module"] = module
    module = _SCIPY["module"]
    return None if module is None else getattr(module, name)


def _lgamma(v):
    try:
        return math.lgamma(v)
    except ValueError:  # a pole (0, -1, -2, ...): Gamma is infinite there
        return math.inf


def _logit(x):
    with np.errstate(divide="ignore"):
        return np.log(x / (1 - x))


def _xlogy(x, y):
    # x * log(y), taken as 0 where x == 0 (unless y is NaN), as scipy.special.xlogy does
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where((x == 0) & ~np.isnan(y), 0, x * np.log(y))[()]


erf = elementwise("erf", _special("erf", math.erf), "2 / sqrt(pi) * exp(-x**2)")
erfc = elementwise("erfc", _special("erfc", math.erfc), "-2 / sqrt(pi) * exp(-x**2)")
gammaln = elementwise("gammaln", _special("gammaln", _lgamma), "digamma(x)",
                      namespace=FORMULA_EXTRAS)
logit = elementwise("logit", _logit, "1 / (x * (1 - x))")
xlogy = elementwise("xlogy", _xlogy, "log(y)", "x / y")


# ----- activations --------------------------------------------------------------------------
def _relu_forward(x):
    if type(x) is _ndarray:
        return np.maximum(x, 0)
    return x if not x < 0 else type(x)(0)  # a NumPy scalar: skip the ufunc call


# out != 0 is where x > 0, and where x is NaN: relu passes a NaN through, and the gradient
# with it (as PyTorch's relu does)
relu = elementwise("relu", _relu_forward, "out != 0",
                   caveats="At x = 0 the gradient is 0; a NaN input is the output and gets "
                           "the gradient.")


def _sigmoid_forward(x):
    # 1 / (1 + exp(-x)) is accurate in both tails: for x << 0 exp(-x) is large and the
    # quotient keeps its relative precision; where exp(-x) overflows the sigmoid is below the
    # smallest normal number, and 1 / inf gives 0. Four array passes: the LSTM's hot spot.
    with np.errstate(over="ignore"):
        return 1 / (1 + np.exp(-x))


sigmoid = elementwise("sigmoid", _sigmoid_forward, "(1 - out) * out", symbol="σ")
tanh = elementwise("tanh", np.tanh, "1 - out**2", numpy=np.tanh)

# scipy.special's ufuncs that are these gates: NumPy dispatch maps them when scipy is loaded
SCIPY_SPECIAL = {"expit": sigmoid, "logit": logit, "erf": erf, "erfc": erfc,
                 "gammaln": gammaln, "xlogy": xlogy}


# ----- gates whose rules are written out ----------------------------------------------------
def _pow_dx(x, y):
    """d(x**y)/dx = y * x**(y - 1), taken as 0 at x = y = 0 (as PyTorch): there the formula
    is 0 * inf. The base is swapped for 1 only there, so higher derivatives elsewhere keep
    the formula's; x = 0 with 0 < y < 1 is inf, the formula's value, without a warning."""
    zero = (_value(x) == 0) & (_value(y) == 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return y * (np.where(zero, 1, x) if np.any(zero) else x) ** (y - 1)


def _pow_dy(x, y, out):
    """d(x**y)/dy = x**y * log(x), PyTorch's convention at the edges: NaN where x < 0 (the
    power is not real-differentiable in y there), 0 at x = 0 with y >= 0 (0 * log 0 taken
    as 0: the base is swapped for 1 there, so no NaN comes from its derivatives either),
    -inf at x = 0 with y < 0. The log is taken in the output's precision: an int8 or float16
    base alone would give a float16 log, and a float64 exponent's gradient would keep 3
    digits."""
    zero = (_value(x) == 0) & (_value(y) >= 0)
    base = np.where(zero, 1, x) if np.any(zero) else x
    if _value(base).dtype != _value(out).dtype:
        base = base.astype(_value(out).dtype)
    with np.errstate(divide="ignore", invalid="ignore"):
        return out * np.log(base)


def _pow_text(site, i):
    x, y, g = site.arg(0), site.arg(1), site.g
    zero = site.value(0) == 0
    if i == 0:
        if np.any(zero & (site.value(1) == 0)):  # the rule takes the base as 1 there
            return f"({y} * where(({x} == 0) & ({y} == 0), 1, {x})**({y} - 1)) * {g}"
        return f"({y} * {x}**({y} - 1)) * {g}"
    if np.any(zero & (site.value(1) >= 0)):  # the rule takes log(x) as 0 there
        return f"(log(where(({x} == 0) & ({y} >= 0), 1, {x})) * {site.out}) * {g}"
    return f"(log({x}) * {site.out}) * {g}"


pow = Gate("pow", np.power, symbol="**", broadcasts=True, numpy=np.power,
           api="power", text=Text(backward=_pow_text),
           caveats="d/dx at x = y = 0 is 0; d/dy is NaN where x < 0 and 0 at x = 0 with "
                   "y >= 0 (PyTorch's conventions).",
           vjp=(lambda g, out, x, y: g * _pow_dx(x, y),
                lambda g, out, x, y: g * _pow_dy(x, y, out)),
           jvp=(lambda t, out, x, y: t * _pow_dx(x, y),
                lambda t, out, x, y: t * _pow_dy(x, y, out)))


def _pow_const_forward(x, p):
    return x ** p


def _pow_const_local(x, p):
    # p * x**(p-1), with the p == 0 case kept at exactly 0 (x**-1 would give inf at x = 0)
    if p == 0:
        return x * 0
    if p == 1:
        return x * 0 + 1
    if p == 2:
        return 2 * x
    return p * x ** (p - 1)


def _pow_const_text(site, i):
    p, x = site.params["p"], site.arg(0)
    if p == 2:
        return f"(2 * {x}) * {site.g}"
    if p in (0, 1):
        return f"({number(p)}) * {site.g}"
    return f"({number(p)} * {x}**{number(p - 1)}) * {site.g}"


# x ** p for a constant p (cg.power and ``**`` pick it when the exponent is a number)
pow_const = Gate("pow_const", _pow_const_forward, symbol="**", saves_out=False,
                 text=Text(lambda site: f"{site.arg(0)}**{number(site.params['p'])}",
                           _pow_const_text),
                 vjp=_one(lambda g, out, x, p: g * _pow_const_local(x, p)),
                 jvp=_one(lambda t, out, x, p: t * _pow_const_local(x, p)))


def _routed(g, me, other, wins):
    """What ``maximum`` (``wins``: np.greater) or ``minimum`` (np.less) sends back to
    ``me``: all of ``g`` where it wins, half of it at a tie. A NaN is the output (np.maximum
    and np.minimum propagate it), so a NaN ``me`` gets all of ``g``, half of it when
    ``other`` is NaN too.

    Ties and NaNs are rare in real data, so their shares are only computed when there is one.
    """
    share = g * wins(me, other)
    tie = me == other
    if np.any(tie):
        share = share + 0.5 * g * tie
    nan = np.isnan(_value(me))
    if np.any(nan):
        share = np.where(nan, g * np.where(np.isnan(_value(other)), 0.5, 1.0), share)
    return share


def _extreme_text(cmp):
    def backward(site, i):
        me, other = (site.arg(0), site.arg(1)) if i == 0 else (site.arg(1), site.arg(0))
        text = f"({me} {cmp} {other})"
        if np.any(site.value(0) == site.value(1)):
            text = f"({text} + 0.5 * ({me} == {other}))"
        if np.any(np.isnan(site.value(i))):
            text = f"where(isnan({me}), where(isnan({other}), 0.5, 1), {text})"
        return f"{text} * {site.g}"
    return Text(backward=backward)


_TIE = "At an exact tie the gradient is split evenly between the two inputs."
_NAN = "A NaN input is the output and gets the gradient (half of it when both are NaN)."

maximum = Gate("maximum", np.maximum, symbol="max", broadcasts=True, saves_out=False,
               caveats=(_TIE, _NAN),
               symmetric=True, numpy=np.maximum, api="maximum", text=_extreme_text(">"),
               vjp=(lambda g, out, x, y: _routed(g, x, y, np.greater),
                    lambda g, out, x, y: _routed(g, y, x, np.greater)),
               jvp=(lambda t, out, x, y: _routed(t, x, y, np.greater),
                    lambda t, out, x, y: _routed(t, y, x, np.greater)))

minimum = Gate("minimum", np.minimum, symbol="min", broadcasts=True, saves_out=False,
               caveats=(_TIE, _NAN),
               symmetric=True, numpy=np.minimum, api="minimum", text=_extreme_text("<"),
               vjp=(lambda g, out, x, y: _routed(g, x, y, np.less),
                    lambda g, out, x, y: _routed(g, y, x, np.less)),
               jvp=(lambda t, out, x, y: _routed(t, x, y, np.less),
                    lambda t, out, x, y: _routed(t, y, x, np.less)))


def _nan_routed(g, me, other, wins):
    """What ``fmax``/``fmin`` send back to ``me``: all of ``g`` where it wins (``wins``:
    np.greater or np.less) or where ``other`` is NaN and ``me`` is not (the NaN is
    ignored), half of it at a tie; nothing where both are NaN."""
    me, other = _value(me), _value(other)
    share = g * (wins(me, other) | (np.isnan(other) & ~np.isnan(me)))
    tie = me == other
    if np.any(tie):
        share = share + 0.5 * g * tie
    return share


def _nan_extreme_text(cmp):
    def backward(site, i):
        me, other = (site.arg(0), site.arg(1)) if i == 0 else (site.arg(1), site.arg(0))
        text = f"({me} {cmp} {other})"
        if np.any(np.isnan(site.value(0))) or np.any(np.isnan(site.value(1))):
            text = f"({text} | (isnan({other}) & ~isnan({me})))"
        if np.any(site.value(0) == site.value(1)):
            text = f"({text} + 0.5 * ({me} == {other}))"
        return f"{text} * {site.g}"
    return Text(backward=backward)


# fmax/fmin: maximum/minimum that ignore a NaN (the other input is the output and gets the
# gradient); both NaN gives NaN, with gradient 0.
fmax = Gate("fmax", np.fmax, symbol="fmax", broadcasts=True, saves_out=False,
            caveats=(_TIE, "A NaN input is ignored: the other input is the output and gets "
                           "the gradient; where both are NaN neither does."),
            symmetric=True, numpy=np.fmax, api="fmax", text=_nan_extreme_text(">"),
            vjp=(lambda g, out, x, y: _nan_routed(g, x, y, np.greater),
                 lambda g, out, x, y: _nan_routed(g, y, x, np.greater)),
            jvp=(lambda t, out, x, y: _nan_routed(t, x, y, np.greater),
                 lambda t, out, x, y: _nan_routed(t, y, x, np.greater)))

fmin = Gate("fmin", np.fmin, symbol="fmin", broadcasts=True, saves_out=False,
            caveats=(_TIE, "A NaN input is ignored: the other input is the output and gets "
                           "the gradient; where both are NaN neither does."),
            symmetric=True, numpy=np.fmin, api="fmin", text=_nan_extreme_text("<"),
            vjp=(lambda g, out, x, y: _nan_routed(g, x, y, np.less),
                 lambda g, out, x, y: _nan_routed(g, y, x, np.less)),
            jvp=(lambda t, out, x, y: _nan_routed(t, x, y, np.less),
                 lambda t, out, x, y: _nan_routed(t, y, x, np.less)))


def _inside(x, lo, hi):
    # not below lo and not above hi, rather than lo <= x <= hi: a NaN input is the output
    # (np.clip passes it through), and gets the gradient
    keep = True
    if lo is not None:
        keep = keep & ~(x < lo)
    if hi is not None:
        keep = keep & ~(x > hi)
    return keep


def _clip_forward(x, lo, hi):
    if lo is not None:
        x = np.maximum(x, lo)
    if hi is not None:
        x = np.minimum(x, hi)
    return x


def _clip_text(site, i):
    x = site.arg(0)
    lo, hi = (site.params.get(k) for k in ("lo", "hi"))
    if np.any(np.isnan(site.value(0))):  # as the rule has it: NaN is inside
        inside = ([f"~({x} < {site.constant(lo)})"] if lo is not None else []) + \
            ([f"~({x} > {site.constant(hi)})"] if hi is not None else [])
    else:
        inside = ([f"({site.constant(lo)} <= {x})"] if lo is not None else []) + \
            ([f"({x} <= {site.constant(hi)})"] if hi is not None else [])
    return f"({' & '.join(inside)}) * {site.g}" if len(inside) > 1 else \
        f"{inside[0]} * {site.g}"


# clip with constant bounds (cg.clip makes maximum/minimum gates for a bound that needs a
# gradient); the bounds are params, named in the listing when they are arrays
clip = Gate("clip", _clip_forward, saves_out=False, api="clip", numpy=np.clip,
            caveats="At a bound the gradient passes: the bounds count as inside. A NaN "
                    "input is the output and gets the gradient.",
            text=Text(lambda site: f"clip({site.arg(0)}, "
                                   f"{site.constant(site.params.get('lo'))}, "
                                   f"{site.constant(site.params.get('hi'))})", _clip_text),
            vjp=_one(lambda g, out, x, lo, hi: g * _inside(x, lo, hi)),
            jvp=_one(lambda t, out, x, lo, hi: t * _inside(x, lo, hi)))


def _where_text(site, i):  # the condition picks where the gradient goes; not differentiated
    cond, g = site.arg(0), site.g
    return f"where({cond}, {g}, 0)" if i == 1 else f"where({cond}, 0, {g})"


# where(cond, x, y): cond is boolean and never differentiated.
where = Gate("where", np.where, symbol="where", broadcasts=True, saves=(0,),
             saves_out=False, api="where", numpy=np.where, text=Text(backward=_where_text),
             vjp=(None,
                  lambda g, out, c, x, y: np.where(c, g, 0),
                  lambda g, out, c, x, y: np.where(c, 0, g)),
             jvp=(None,
                  lambda t, out, c, x, y: np.where(c, t, 0),
                  lambda t, out, c, x, y: np.where(c, 0, t)))

# Changing float precision: the gradient changes it back (Tensor.astype makes this gate).
cast = Gate("cast", lambda x, dtype: x.astype(dtype), saves=(), saves_out=False,
            text=Text(lambda site: f"{site.arg(0)}.astype({np.dtype(site.params['dtype']).name})",
                      lambda site, i: f"{site.g}.astype({site.value(0).dtype.name})"),
            vjp=_one(lambda g, out, x, dtype: g.astype(x.dtype)),
            jvp=_one(lambda t, out, x, dtype: t.astype(dtype)))

# Passes its input through; transforms use it to start a new, separately tracked wire.
identity = Gate("identity", lambda x: x, saves=(), saves_out=False,
                text=Text(backward=lambda site, i: f"(1) * {site.g}"),
                vjp=_one(lambda g, out, x: g),
                jvp=_one(lambda t, out, x: t))
