"""The array kernels compiled code calls for the window gates, and broadcast views.

The listing texts of ``unfold``, ``fold`` and ``max_pool2d`` are written for a reader: the
max-pool backward recomputes every window and compares it with the output (twice, where
there are ties), and ``unfold``/``fold`` name :mod:`circuitgrad.nn.functional`'s functions,
which make and drop Tensors at each call. Compiled code (``optimize=True``) calls instead
the plain-array functions the eager engine runs (:mod:`circuitgrad.gates.nn`): the same
values, laid out in memory as the engine lays them out (a channels-last input gets a
channels-last gradient, which the next fold copies several times faster).

A reduction's gradient (``sum``, ``mean``) is the upstream gradient spread over the input's
shape; the eager engine returns it as a broadcast view (``np.broadcast_to``), and so does the
code of a compiled training step, instead of multiplying an array of ones.

>>> import numpy as np
>>> x = np.arange(16.0).reshape(1, 1, 4, 4)
>>> windows = unfold_arrays(x, (2, 2), (2, 2), (0, 0))
>>> out = max_pool2d_arrays(x, (2, 2), (2, 2))
>>> max_pool2d_vjp(np.ones_like(out), out, x, (2, 2), (2, 2))[0, 0]
array([[0., 0., 0., 0.],
       [0., 1., 0., 1.],
       [0., 0., 0., 0.],
       [0., 1., 0., 1.]])
>>> bool(np.array_equal(fold_arrays(windows, x.shape, (2, 2), (0, 0)), x))
True
"""

import numpy as np

from ..gates import nn as _window

_NO_PADDING = (0, 0)


def unfold_arrays(x, kernel, stride, padding):
    """Every window of ``x``, (KH, KW, N, C, OH, OW): the ``unfold`` gate's forward."""
    return _window.unfold.forward(x, kernel=kernel, stride=stride, padding=padding)


def fold_arrays(windows, shape, stride, padding, channels_last=False):
    """Windows added back into an image of ``shape``: the ``fold`` gate's forward."""
    return _window.fold.forward(windows, shape=shape, stride=stride, padding=padding,
                                channels_last=channels_last)


def unfold_vjp(g, x, stride, padding):
    """``unfold``'s gradient: ``fold``, laid out in memory as ``x`` is (the engine's rule)."""
    return _window.fold.forward(g, shape=x.shape, stride=stride, padding=padding,
                                channels_last=_window.channels_last(x))


def max_pool2d_arrays(x, kernel, stride):
    """The ``max_pool2d`` gate's forward."""
    return _window.max_pool2d.forward(x, kernel=kernel, stride=stride)


def max_pool2d_vjp(g, out, x, kernel, stride):
    """``max_pool2d``'s gradient on arrays: the engine's own rule
    (:func:`circuitgrad.gates.nn.pool_backward`)."""
    return _window.pool_backward(g, out, x, kernel, stride)


def namespace():
    """The names the compiled window lines call."""
    return {"unfold_arrays": unfold_arrays, "fold_arrays": fold_arrays,
            "unfold_vjp": unfold_vjp, "max_pool2d_arrays": max_pool2d_arrays,
            "max_pool2d_vjp": max_pool2d_vjp}


def forward_text(gen, eq):
    """The compiled forward line of a window gate, or None for the other gates."""
    name, p, x = eq.gate.name, eq.params, gen.text_of(eq.inputs[0])
    lit = gen.literal
    if name == "unfold":
        return f"unfold_arrays({x}, {lit(p['kernel'])}, {lit(p['stride'])}, " \
               f"{lit(p['padding'])})"
    if name == "fold":
        return f"fold_arrays({x}, {lit(tuple(p['shape']))}, {lit(p['stride'])}, " \
               f"{lit(p['padding'])}, {lit(bool(p.get('channels_last', False)))})"
    if name == "max_pool2d":
        return f"max_pool2d_arrays({x}, {lit(p['kernel'])}, {lit(p['stride'])})"
    return None


def backward_text(gen, eq, i):
    """The compiled gradient expression of a window gate, or None for the other gates."""
    name, p = eq.gate.name, eq.params
    if name not in ("unfold", "fold", "max_pool2d"):
        return None
    x, g, lit = gen.text_of(eq.inputs[0]), gen.grad_name(eq.output), gen.literal
    if name == "unfold":
        return f"unfold_vjp({g}, {x}, {lit(p['stride'])}, {lit(p['padding'])})"
    if name == "fold":
        kernel = tuple(int(n) for n in eq.inputs[0].shape[:2])
        return f"unfold_arrays({g}, {lit(kernel)}, {lit(p['stride'])}, {lit(p['padding'])})"
    return f"max_pool2d_vjp({g}, {gen.name_of(eq.output)}, {x}, {lit(p['kernel'])}, " \
           f"{lit(p['stride'])})"


def spread_text(gen, eq):
    """A ``sum``'s or ``mean``'s gradient as a broadcast view of the upstream gradient (what
    the engine's rule gives), or None for the other gates."""
    name = eq.gate.name
    if name not in ("sum", "mean"):
        return None
    from ..gates.listing import kept  # noqa: PLC0415

    x = gen.text_of(eq.inputs[0])
    g = kept(gen.grad_name(eq.output), eq.params)
    if name == "mean":
        x_value = gen.env.get(gen.names.get(id(eq.inputs[0])))
        out_value = gen.env.get(gen.names.get(id(eq.output)))
        if x_value is None or out_value is None:
            return None
        n = np.size(x_value) // max(np.size(out_value), 1)
        g = f"{g} / {n}"
    return f"broadcast_to({g}, {x}.shape)"
