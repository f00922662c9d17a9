"""The picture object: DOT source, rendered to SVG or PNG on demand, shown inline in Jupyter."""

import warnings
from pathlib import Path

from ..i18n import msg
from . import glyphs
from .circuit import DrawError
from .render import INSTALL_HINT, EngineNotFoundError, render

PNG_DPI = 144


class Picture:
    """A circuit picture. ``.save("f.svg")`` / ``.save("f.png")``; Jupyter shows it inline.

    ``.source`` is the Graphviz DOT text (available without any engine); ``.svg()`` and
    ``.png()`` run the layout engine once each and keep the result. Names typed in Chinese
    are laid out and drawn by ``glyphs`` (the engine's fonts have no Chinese).
    """

    def __init__(self, source, gates=0):
        self.source = source
        self.gates = gates
        self._cache = {}
        self._runs = None
        self._layout = source
        if glyphs.needs_glyphs(source):
            self._layout, self._runs = glyphs.prepare(source)

    def _layout_svg(self):
        if "layout" not in self._cache:
            self._cache["layout"] = render(self._layout, "svg").decode("utf-8")
        return self._cache["layout"]

    def svg(self):
        """The picture as SVG text."""
        if "svg" not in self._cache:
            svg = self._layout_svg()
            self._cache["svg"] = glyphs.fill_svg(svg, self._runs) if self._runs else svg
        return self._cache["svg"]

    def texts(self):
        """Every text of the rendered SVG, in order (numbers as printed: ``-12.00``)."""
        import xml.etree.ElementTree as ET

        root = ET.fromstring(self.svg())
        texts = ("".join(t.itertext()) for t in root.iter("{http://www.w3.org/2000/svg}text"))
        return [t for t in texts if t.strip()]

    def missing_glyphs(self):
        """The characters of the picture's names the PNG draws as empty boxes (outside the
        bundled font: the hanzi of GB 2312); the SVG shows them with the system's fonts."""
        return glyphs.missing(self._runs) if self._runs else []

    def png(self, dpi=PNG_DPI):
        """The picture as PNG bytes (``dpi`` sets the resolution; 144 by default). Warns
        (``glyphs.MissingGlyphWarning``) when it draws characters as empty boxes."""
        key = ("png", dpi)
        if key not in self._cache:
            png = render(self._layout, "png", dpi=dpi)
            if self._runs:
                png = glyphs.paint_png(png, self._layout_svg(), self._runs)
                lacking = self.missing_glyphs()
                if lacking:
                    warnings.warn(glyphs.MissingGlyphWarning(glyphs.missing_message(lacking)),
                                  stacklevel=2)
            self._cache[key] = png
        return self._cache[key]

    def save(self, path, format=None):
        """Write the picture to ``path``; the format is ``format`` or the file's suffix
        (``.svg``, ``.png``, or ``.dot``/``.gv`` for the DOT source). Returns the path."""
        path = Path(path)
        kind = (format or path.suffix.lstrip(".")).lower()
        if kind == "svg":
            data = self.svg().encode("utf-8")
        elif kind == "png":
            data = self.png()
        elif kind in ("dot", "gv"):
            data = self.source.encode("utf-8")
        else:
            raise DrawError(msg("cannot save a picture as {path}: use a name ending in "
                                ".svg, .png or .dot (or pass format='svg')",
                                path=repr(str(path))))
        path.write_bytes(data)
        return path

    def _repr_svg_(self):
        try:
            return self.svg()
        except EngineNotFoundError:
            return None  # Jupyter then shows __repr__, which says what to install

    def _repr_png_(self):
        try:
            return self.png()
        except EngineNotFoundError:
            return None

    def __repr__(self):
        from .render import find_engine

        how = ".save('circuit.svg') or .save('circuit.png')"
        if find_engine() is None:
            how = f"the layout engine is missing: {INSTALL_HINT}"
        return f"<circuit picture, {self.gates} gates: {how}>"
