"""Elementwise gates: arithmetic, exp/log family, activations, max/min, clip, where.

Each gate's forward, VJP rules (one per input, ``g`` = upstream gradient) and JVP rules
(one per input, ``t`` = input tangent) stand together. Rules use operators and NumPy
functions only, so they run on arrays in a plain backward pass and on Tensors (recording
new gates) when a higher derivative is wanted.

Kinks and ties, by the notes' rule that max routes the gradient to the larger input:
``maximum``/``minimum`` split it evenly at an exact tie (so the inputs' gradients add up to
the upstream one); ``relu'(0) = 0``; ``abs'(0) = 0``; ``clip`` passes the gradient at its
bounds.
"""

import operator

import numpy as np

from ..core.gate import Gate


def _one(rule):
    return (rule,)


add = Gate("add", operator.add, symbol="+", broadcasts=True, saves=(), saves_out=False,
           symmetric=True,
           vjp=(lambda g, out, x, y: g,
                lambda g, out, x, y: g),
           jvp=(lambda t, out, x, y: t,
                lambda t, out, x, y: t))

sub = Gate("sub", operator.sub, symbol="-", broadcasts=True, saves=(), saves_out=False,
           vjp=(lambda g, out, x, y: g,
                lambda g, out, x, y: -g),
           jvp=(lambda t, out, x, y: t,
                lambda t, out, x, y: -t))

mul = Gate("mul", operator.mul, symbol="*", broadcasts=True, saves_out=False, symmetric=True,
           vjp=(lambda g, out, x, y: g * y,       # the multiply gate swaps its inputs
                lambda g, out, x, y: g * x),
           jvp=(lambda t, out, x, y: t * y,
                lambda t, out, x, y: x * t))

div = Gate("div", operator.truediv, symbol="/", broadcasts=True, saves=(1,),
           vjp=(lambda g, out, x, y: g / y,
                lambda g, out, x, y: -g * out / y),
           jvp=(lambda t, out, x, y: t / y,
                lambda t, out, x, y: -t * out / y))

# x % y = x - y * floor(x / y), with the floor piecewise constant: d/dx is 1 and d/dy is
# -floor(x / y) away from the jumps (where x / y is a whole number). np.floor_divide on
# Tensors gives a plain tensor, so these rules also serve higher derivatives.
remainder = Gate("remainder", np.remainder, symbol="%", broadcasts=True, saves_out=False,
                 vjp=(lambda g, out, x, y: g,
                      lambda g, out, x, y: -g * np.floor_divide(x, y)),
                 jvp=(lambda t, out, x, y: t,
                      lambda t, out, x, y: -t * np.floor_divide(x, y)))

neg = Gate("neg", operator.neg, symbol="-x", saves=(), saves_out=False,
           vjp=_one(lambda g, out, x: -g),
           jvp=_one(lambda t, out, x: -t))


def _safe_log(x, out):
    # d(x**y)/dy = x**y * log(x); taken as 0 where x <= 0 (the power is not smooth in y there).
    # The log is taken in the output's precision: an int8 or float16 base alone would give
    # a float16 log, and a float64 exponent's gradient would keep 3 digits.
    base = np.where(x > 0, x, 1)
    return np.log(base if base.dtype == out.dtype else base.astype(out.dtype))


pow = Gate("pow", np.power, symbol="**", broadcasts=True,
           vjp=(lambda g, out, x, y: g * y * x ** (y - 1),
                lambda g, out, x, y: g * out * _safe_log(x, out)),
           jvp=(lambda t, out, x, y: t * y * x ** (y - 1),
                lambda t, out, x, y: t * out * _safe_log(x, out)))


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


pow_const = Gate("pow_const", _pow_const_forward, symbol="**", saves_out=False,
                 vjp=_one(lambda g, out, x, p: g * _pow_const_local(x, p)),
                 jvp=_one(lambda t, out, x, p: t * _pow_const_local(x, p)))


# x**2 is common enough in losses and scalar circuits to be its own gate.
square = Gate("square", lambda x: x * x, symbol="**2", saves_out=False,
              vjp=_one(lambda g, out, x: g * (2 * x)),
              jvp=_one(lambda t, out, x: t * (2 * x)))


def _exp_forward(x):
    # exp(+1000) is inf in floating point; say so quietly rather than warn
    with np.errstate(over="ignore"):
        return np.exp(x)


exp = Gate("exp", _exp_forward, saves=(),
           vjp=_one(lambda g, out, x: g * out),
           jvp=_one(lambda t, out, x: t * out))

log = Gate("log", np.log, saves_out=False,
           vjp=_one(lambda g, out, x: g / x),
           jvp=_one(lambda t, out, x: t / x))

sqrt = Gate("sqrt", np.sqrt, symbol="sqrt", saves=(),
            vjp=_one(lambda g, out, x: g * 0.5 / out),
            jvp=_one(lambda t, out, x: t * 0.5 / out))

abs = Gate("abs", np.abs, symbol="|x|", saves_out=False,
           vjp=_one(lambda g, out, x: g * np.sign(x)),
           jvp=_one(lambda t, out, x: t * np.sign(x)))


def _routed(g, x, y):
    """What ``maximum`` sends back to ``x``: all of ``g`` where x > y, half of it at a tie.

    Ties are rare in real data, so the half-shares are only computed when there is one.
    """
    share = g * (x > y)
    tie = x == y
    if np.any(tie):
        share = share + 0.5 * g * tie
    return share


maximum = Gate("maximum", np.maximum, symbol="max", broadcasts=True, saves_out=False,
               symmetric=True,
               vjp=(lambda g, out, x, y: _routed(g, x, y),
                    lambda g, out, x, y: _routed(g, y, x)),
               jvp=(lambda t, out, x, y: _routed(t, x, y),
                    lambda t, out, x, y: _routed(t, y, x)))

minimum = Gate("minimum", np.minimum, symbol="min", broadcasts=True, saves_out=False,
               symmetric=True,
               vjp=(lambda g, out, x, y: _routed(g, y, x),
                    lambda g, out, x, y: _routed(g, x, y)),
               jvp=(lambda t, out, x, y: _routed(t, y, x),
                    lambda t, out, x, y: _routed(t, x, y)))


def _relu_forward(x):
    if type(x) is np.ndarray:
        return np.maximum(x, 0)
    return x if not x < 0 else type(x)(0)  # a NumPy scalar: skip the ufunc call


relu = Gate("relu", _relu_forward, saves=(),  # out > 0 exactly where x > 0
            vjp=_one(lambda g, out, x: g * (out > 0)),
            jvp=_one(lambda t, out, x: t * (out > 0)))


def _sigmoid_forward(x):
    # exp of -|x| never overflows; each branch is accurate in its own tail
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


sigmoid = Gate("sigmoid", _sigmoid_forward, symbol="σ", saves=(),
               vjp=_one(lambda g, out, x: g * (out * (1 - out))),
               jvp=_one(lambda t, out, x: t * (out * (1 - out))))

tanh = Gate("tanh", np.tanh, saves=(),
            vjp=_one(lambda g, out, x: g * (1 - out * out)),
            jvp=_one(lambda t, out, x: t * (1 - out * out)))

sin = Gate("sin", np.sin, saves_out=False,
           vjp=_one(lambda g, out, x: g * np.cos(x)),
           jvp=_one(lambda t, out, x: t * np.cos(x)))

cos = Gate("cos", np.cos, saves_out=False,
           vjp=_one(lambda g, out, x: -g * np.sin(x)),
           jvp=_one(lambda t, out, x: -t * np.sin(x)))

log1p = Gate("log1p", np.log1p, saves_out=False,
             vjp=_one(lambda g, out, x: g / (1 + x)),
             jvp=_one(lambda t, out, x: t / (1 + x)))


def _expm1_forward(x):
    with np.errstate(over="ignore"):
        return np.expm1(x)


expm1 = Gate("expm1", _expm1_forward, saves=(),
             vjp=_one(lambda g, out, x: g * (out + 1)),
             jvp=_one(lambda t, out, x: t * (out + 1)))


def _inside(x, lo, hi):
    keep = True
    if lo is not None:
        keep = keep & (x >= lo)
    if hi is not None:
        keep = keep & (x <= hi)
    return keep


def _clip_forward(x, lo, hi):
    if lo is not None:
        x = np.maximum(x, lo)
    if hi is not None:
        x = np.minimum(x, hi)
    return x


clip = Gate("clip", _clip_forward, saves_out=False,
            vjp=_one(lambda g, out, x, lo, hi: g * _inside(x, lo, hi)),
            jvp=_one(lambda t, out, x, lo, hi: t * _inside(x, lo, hi)))

# where(cond, x, y): cond is boolean and never differentiated.
where = Gate("where", np.where, symbol="where", broadcasts=True, saves=(0,),
             saves_out=False,
             vjp=(None,
                  lambda g, out, c, x, y: np.where(c, g, 0),
                  lambda g, out, c, x, y: np.where(c, 0, g)),
             jvp=(None,
                  lambda t, out, c, x, y: np.where(c, t, 0),
                  lambda t, out, c, x, y: np.where(c, 0, t)))

# Changing float precision: the gradient changes it back.
cast = Gate("cast", lambda x, dtype: x.astype(dtype), saves=(), saves_out=False,
            vjp=_one(lambda g, out, x, dtype: g.astype(x.dtype)),
            jvp=_one(lambda t, out, x, dtype: t.astype(dtype)))

# Passes its input through; transforms use it to start a new, separately tracked wire.
identity = Gate("identity", lambda x: x, saves=(), saves_out=False,
                vjp=_one(lambda g, out, x: g),
                jvp=_one(lambda t, out, x: t))


# ----- sample inputs for the gradient sweep (see gates/sweep.py) ---------------------------
def _sweep():
    from .. import functions as F
    from ..tensor import apply
    from .sweep import Case, away_from_zero, binary, gapped_pair, normal, positive, unary

    def remainder_sample(rng, a, b):
        # y near one value c, x = y * (whole number + a fraction in [0.3, 0.7]): x / y stays
        # well away from the jumps for every broadcast pair
        c = rng.choice([-1.0, 1.0]) * rng.uniform(0.5, 2.0)
        y = c * (1 + rng.uniform(-0.01, 0.01, b))
        x = c * (rng.integers(-3, 4, a) + rng.uniform(0.3, 0.7, a))
        return [x, y]

    def clip_sample(rng, a, b):
        x = rng.choice([-1.0, 0.0, 1.0], size=a) + rng.uniform(-0.4, 0.4, a)
        return [x]   # entries at least 0.1 from the bounds +-0.5

    return [
        Case(add, lambda x, y: x + y, binary(normal)),
        Case(sub, lambda x, y: x - y, binary(normal)),
        Case(mul, lambda x, y: x * y, binary(normal)),
        Case(div, lambda x, y: x / y, binary(normal, away_from_zero)),
        Case(remainder, lambda x, y: x % y, remainder_sample),
        Case(neg, lambda x: -x, unary(normal)),
        Case(pow, lambda x, y: x ** y, binary(positive, normal)),
        Case(pow_const, lambda x: x ** 3.5, unary(positive), "pow_const 3.5"),
        Case(pow_const, lambda x: x ** 3, unary(normal), "pow_const 3"),
        Case(square, lambda x: x ** 2, unary(normal)),
        Case(exp, F.exp, unary(normal)),
        Case(log, F.log, unary(positive)),
        Case(sqrt, F.sqrt, unary(positive)),
        Case(abs, F.abs, unary(away_from_zero)),
        Case(relu, F.relu, unary(away_from_zero)),
        Case(sigmoid, F.sigmoid, unary(normal)),
        Case(tanh, F.tanh, unary(normal)),
        Case(sin, F.sin, unary(normal)),
        Case(cos, F.cos, unary(normal)),
        Case(log1p, F.log1p, unary(positive)),
        Case(expm1, F.expm1, unary(normal)),
        Case(maximum, F.maximum, gapped_pair),
        Case(minimum, F.minimum, gapped_pair),
        Case(clip, lambda x: F.clip(x, -0.5, 0.5), clip_sample),
        Case(where, lambda x, y: F.where(x.data > 0, x, y),
             binary(away_from_zero, normal)),
        Case(cast, lambda x: x.astype(np.longdouble) * 2, unary(normal)),
        Case(identity, lambda x: apply(identity, (x,)), unary(normal)),
    ]
