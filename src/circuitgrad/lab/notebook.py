"""``cg.lab(...)`` in Jupyter: the lab's stepper as a self-contained HTML output.

The output is an ``<iframe>`` whose ``srcdoc`` is the whole page (``page.py``: script,
style and the circuit's data written in), so it needs no server, no network and no
extension: JupyterLab, Notebook 7 and VS Code show it as they show any HTML output. The
frame is sandboxed to scripts only: it cannot reach the notebook or anything else.

>>> import circuitgrad as cg
>>> view = cg.lab("x * y + z", x=3, y=-4, z=2)
>>> view
<circuit lab: f = x * y + z, 2 gates, 5 steps>
>>> view.data["value"], view.data["gradients"]["x"]["value"]
(-10.0, -4.0)
>>> x = cg.tensor(4.0, requires_grad=True, name="x")
>>> cg.lab(x * x, lang="zh")
<circuit lab: f = x * x, 1 gate, 3 steps>
"""

import html
import json

import numpy as np

from ..expr import ExprError
from .data import tensor_data, values_data
from .page import LANGS, page

# the page's parts, in pixels, for the frame's height (it cannot measure itself: sandboxed)
_CHROME, _ROW, _LINE, _MAX_HEIGHT = 640, 96, 17, 1600


def lab(f, upstream=None, *, lang=None, height=None, stop_at=(), inputs=None, live=None,
        **named):
    """The circuit lab for ``f``: step through its forward and backward pass.

    ``f`` is a Tensor (the circuit recorded behind it, wires named by the tensors'
    ``name``), or an expression as text with its inputs as keywords, as ``circuitgrad
    grad`` takes them: ``cg.lab("x * y + z", x=3, y=-4, z=2)``; an input named like one of
    this function's options goes in ``inputs={"lang": 2}``. ``upstream`` is the gradient on
    a non-scalar ``f``; ``stop_at`` (tensors only) cuts the circuit there.
    ``lang`` is ``"en"`` or ``"zh"`` (by default from the locale); ``height`` the frame's
    height in pixels (by default from the circuit's size).

    Returns a :class:`LabView`: Jupyter shows it; ``.html`` is the page, ``.save(path)``
    writes it as a file that works offline. For an expression, where ``anywidget`` is
    installed, Jupyter shows it live (``widget.py``): edits of the expression or the inputs
    are recomputed by the kernel; ``live=False`` shows the static page.
    """
    from ..tensor import Tensor

    if lang is None:
        from ..i18n import locale_lang
        lang = locale_lang()
    if lang not in LANGS:
        raise ValueError(f"lang must be one of {', '.join(LANGS)}, not {lang!r}")
    inputs = {**(inputs or {}), **named}
    if isinstance(f, str):
        if stop_at:
            raise ExprError("stop_at cuts a tensor's circuit; an expression has none")
        values = {name: _array(value, name) for name, value in inputs.items()}
        seed = None if upstream is None else _array(upstream, "upstream")
        data = values_data(f, values, seed)
        # the live view recomputes from text: the values at full precision, not as shown
        exact = {"inputs": {k: _text(v) for k, v in values.items()},
                 "upstream": None if seed is None else _text(seed)}
        return LabView(data, lang, height, live=live is not False, exact=exact)
    if inputs:
        raise ExprError(f"inputs ({', '.join(inputs)}) are given with an expression as text; "
                        f"a tensor's circuit has its values already")
    if not isinstance(f, Tensor):
        raise ExprError(f"cg.lab takes a Tensor or an expression as text, not "
                        f"{type(f).__name__}")
    return LabView(tensor_data(f, upstream, stop_at), lang, height)


def _text(array):
    """An array as the parser reads it back exactly (floats' repr is exact)."""
    return repr(float(array)) if array.ndim == 0 else json.dumps(array.tolist())


def _array(value, name):
    from ..tensor import Tensor

    try:
        return np.asarray(value.data if isinstance(value, Tensor) else value, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ExprError(f"input {name}: not a number or an array of numbers: {err}") from None


class LabView:
    """The lab for one circuit, as Jupyter shows it (``_repr_html_``)."""

    def __init__(self, data, lang="en", height=None, live=False, exact=None):
        self.data = data
        self.lang = lang
        self.height = height or self._height()
        self._live, self._exact, self._widget = live, exact, None

    def _height(self):
        rows = max(p["rows"] for p in self.data["layout"].values())
        return min(_MAX_HEIGHT, _CHROME + rows * _ROW + len(self.data["listing"]) * _LINE)

    @property
    def html(self):
        """The page: one self-contained HTML file."""
        return page(lang=self.lang, data=self.data, notebook=True)

    def save(self, path):
        """Write the page to ``path`` (it works from the file, offline)."""
        with open(path, "w", encoding="utf-8") as out:
            out.write(self.html)

    def widget(self):
        """The live view (an anywidget) of an expression's circuit, or None where it
        cannot be had: a tensor's circuit (no expression to recompute), or no anywidget."""
        if self._exact is None:
            return None
        if self._widget is None:
            try:
                from .widget import LabWidget
            except ImportError:
                return None
            self._widget = LabWidget(self, {**self.data, **self._exact})
        return self._widget

    def _repr_mimebundle_(self, include=None, exclude=None):
        bundle = {"text/plain": repr(self), "text/html": self._repr_html_()}
        live = self.widget() if self._live else None
        if live is not None:  # the static page stays beside it, for renderers without widgets
            widget_bundle = live._repr_mimebundle_(include=include, exclude=exclude)
            if isinstance(widget_bundle, tuple):  # (data, metadata), as ipywidgets gives it
                widget_bundle = widget_bundle[0]
            bundle.update({k: v for k, v in (widget_bundle or {}).items() if k != "text/plain"})
        return bundle

    def _repr_html_(self):
        return (f'<iframe class="circuitgrad-lab" srcdoc="{html.escape(self.html)}" '
                f'sandbox="allow-scripts" style="width: 100%; height: {self.height}px; '
                f'border: 1px solid #d0d7de" title="circuitgrad lab"></iframe>')

    def __repr__(self):
        gates = len(self.data["gates"])
        what = self.data["expression"] or self.data["shown"] or "the circuit"
        return (f"<circuit lab: {self.data['output']} = {what}, {gates} "
                f"gate{'s' if gates != 1 else ''}, {self.data['last_step']} steps>")
