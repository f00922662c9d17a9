"""The circuit lab: step through the forward and backward pass of an expression in a browser.

``circuitgrad lab`` serves one page (``static/``) and a JSON endpoint (``server.py``); the
JSON is the circuit as data, read from the same circuit and staged listing that
``circuitgrad grad`` prints (``data.py``). ``circuitgrad grad ... --html FILE`` writes the
same page with the data embedded (``page.py``), and ``cg.lab(f)`` shows it in Jupyter
(``notebook.py``).

``cg.lab`` is this package, made callable: ``cg.lab(f)`` and ``cg.lab("x * y + z", x=3,
y=-4, z=2)`` call :func:`circuitgrad.lab.notebook.lab`, while ``circuitgrad.lab.server``
and the other modules import as usual.
"""

import sys
import types


class _CallableModule(types.ModuleType):
    def __call__(self, *args, **kwargs):
        from .notebook import lab
        return lab(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
