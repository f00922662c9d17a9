"""Doctests of compiled core modules run in the pure-Python pass of ``make test``.

Compiled, ``circuitgrad.tensor`` (say) is the extension module, and pytest refuses to
collect the .py file of the same name beside it.
"""

import os

from circuitgrad import compiled

collect_ignore = [] if not compiled.core_is_compiled() else [
    os.path.relpath(compiled.source_path(name), os.path.dirname(__file__))
    for name in compiled.MODULES]


def pytest_report_header():
    return "circuitgrad core: " + ("compiled" if compiled.core_is_compiled() else "pure Python")
