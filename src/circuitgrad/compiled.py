"""Which parts of circuitgrad run compiled, and how to run them as plain Python instead.

The engine's hot core (the wire records, the operators' fast paths, the backward walk) is
written in Python and, when the package is built with a C compiler, also compiled by
Cython from the same files (setup.py; the .pxd files beside them give the types). Both
run the same code; the compiled one is several times faster on scalar circuits.

Set ``CIRCUITGRAD_PURE_PYTHON=1`` before importing circuitgrad to run the Python files
even where a compiled build exists: to step through the engine in a debugger, say.
``core_is_compiled()`` tells which one runs.
"""

import importlib.util
import os
import sys
import warnings
from importlib.machinery import EXTENSION_SUFFIXES

# Compiled in this order (setup.py lists the same files; a test checks they agree).
MODULES = ("circuitgrad.core.gate", "circuitgrad.core.trace", "circuitgrad.core.node",
           "circuitgrad.core.backward", "circuitgrad.tensor")

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


def source_path(name):
    """The .py file of core module ``name``."""
    return os.path.join(_PACKAGE_DIR, *name.split(".")[1:]) + ".py"


def pure_python_requested():
    return os.environ.get("CIRCUITGRAD_PURE_PYTHON", "") not in ("", "0")


def core_is_compiled():
    """True when the core modules in use are the compiled ones."""
    return all(not sys.modules[name].__file__.endswith(".py") for name in MODULES)


class _PythonSourceFinder:
    """Finds the core modules' .py files ahead of any compiled build beside them."""

    @staticmethod
    def find_spec(name, path=None, target=None):
        if name in MODULES:
            return importlib.util.spec_from_file_location(name, source_path(name))
        return None


def prepare():
    """Called first thing on import: honour CIRCUITGRAD_PURE_PYTHON, or check the build."""
    if pure_python_requested():
        if _PythonSourceFinder not in sys.meta_path:
            sys.meta_path.insert(0, _PythonSourceFinder)
        return
    for name in MODULES:
        warn_if_stale(source_path(name))


# A wheel's files are unpacked within moments of each other; an edit comes much later.
_STALE_AFTER_SECONDS = 5.0


def warn_if_stale(source):
    """Warn when a module's .py (or its .pxd) changed after its compiled build (Python
    would import the build, and the edit would silently not run)."""
    base = source[:-3]
    for suffix in EXTENSION_SUFFIXES:
        if os.path.exists(base + suffix):
            try:
                edited = max(os.path.getmtime(p) for p in (source, base + ".pxd")
                             if os.path.exists(p))
                newer = edited - os.path.getmtime(base + suffix)
            except (OSError, ValueError):
                return
            if newer > _STALE_AFTER_SECONDS:
                warnings.warn(
                    f"{source} is newer than its compiled build {base + suffix}, which is "
                    f"what Python imports; rebuild (make, or pip install -e .) or set "
                    f"CIRCUITGRAD_PURE_PYTHON=1", RuntimeWarning, stacklevel=3)
            return
