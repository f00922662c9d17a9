"""Build circuitgrad: pure Python, with its hot core also compiled by Cython when possible.

The compiled modules are the same .py files, typed by the .pxd files beside them, so there
is one source. Without a C compiler (or with CIRCUITGRAD_PURE_PYTHON=1) the build goes on
and the package runs as plain Python, slower on scalar circuits and otherwise the same.
"""

import os

from setuptools import setup
from setuptools.command.build_ext import build_ext

COMPILED = [
    "src/circuitgrad/core/gate.py",
    "src/circuitgrad/core/trace.py",
    "src/circuitgrad/core/node.py",
    "src/circuitgrad/core/backward.py",
    "src/circuitgrad/tensor.py",
]

# Plain C methods (binding=False) are the fastest to call; the embedded signatures keep
# help() and inspect.signature() working on them (the "clinic" format is what inspect reads).
DIRECTIVES = {"binding": False, "embedsignature": True, "embedsignature.format": "clinic"}


class OptionalBuildExt(build_ext):
    """Compile what can be compiled; a failure leaves that module pure Python."""

    def run(self):
        try:
            super().run()
        except Exception as err:  # noqa: BLE001 -- any build failure means: stay pure
            print(f"circuitgrad: not compiling the core ({err}); it runs as pure Python")

    def build_extension(self, ext):
        try:
            super().build_extension(ext)
        except Exception as err:  # noqa: BLE001
            print(f"circuitgrad: not compiling {ext.name} ({err}); it runs as pure Python")


def extensions():
    if os.environ.get("CIRCUITGRAD_PURE_PYTHON"):
        return []
    try:
        from Cython.Build import cythonize
    except ImportError:
        print("circuitgrad: Cython is not installed; the core runs as pure Python")
        return []
    try:
        return cythonize(COMPILED, language_level=3, quiet=True,
                         compiler_directives=DIRECTIVES)
    except Exception as err:  # noqa: BLE001 -- a Cython that rejects the code: stay pure
        print(f"circuitgrad: Cython could not translate the core ({err}); it runs as pure "
              f"Python")
        _remove_old_builds()
        return []


def _remove_old_builds():
    """Builds of the core left in the source tree (editable installs) would be imported
    instead of the pure-Python modules, and they are older than the source: remove them."""
    import glob
    from importlib.machinery import EXTENSION_SUFFIXES

    for source in COMPILED:
        for suffix in EXTENSION_SUFFIXES:
            for path in glob.glob(source[:-3] + suffix):
                os.remove(path)


setup(ext_modules=extensions(), cmdclass={"build_ext": OptionalBuildExt})
