"""Running the layout engine: Graphviz's ``dot`` as shipped by the ``graphviz-pure`` wheel.

The engine is looked for, in order: the program named by the ``CIRCUITGRAD_DOT``
environment variable; ``graphviz-pure`` in this Python's scripts folder (so an un-activated
virtual environment works), then on ``PATH``; a system Graphviz ``dot`` on ``PATH``.
"""

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

from ..i18n import msg
from .circuit import DrawError

INSTALL_HINT = msg("install it with: pip install 'circuitgrad[draw]' (or pip install "
                   "graphviz-pure), or point CIRCUITGRAD_DOT at a Graphviz dot program")


class EngineNotFoundError(DrawError):
    """No layout engine (graphviz-pure or Graphviz dot) could be found."""


def _script_dirs():
    dirs = [Path(sys.executable).parent]
    for scheme in (None, f"{os.name}_user"):
        try:
            path = sysconfig.get_path("scripts", scheme) if scheme else \
                sysconfig.get_path("scripts")
        except KeyError:
            continue
        if path:
            dirs.append(Path(path))
    return dirs


def find_engine():
    """The path of the layout program, or None when there is none."""
    chosen = os.environ.get("CIRCUITGRAD_DOT")
    if chosen:
        return shutil.which(chosen) or (chosen if Path(chosen).is_file() else None)
    exe = "graphviz-pure.exe" if os.name == "nt" else "graphviz-pure"
    for folder in _script_dirs():
        candidate = folder / exe
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return shutil.which("graphviz-pure") or shutil.which("dot")


def render(source, fmt, dpi=None):
    """Lay out the DOT ``source`` and render it as ``fmt`` ('svg' or 'png'); returns bytes."""
    engine = find_engine()
    if engine is None:
        if os.environ.get("CIRCUITGRAD_DOT"):
            raise EngineNotFoundError(msg(
                "CIRCUITGRAD_DOT={program} is not a program that can be run",
                program=repr(os.environ["CIRCUITGRAD_DOT"])))
        raise EngineNotFoundError(msg(
            "drawing a circuit needs the Graphviz layout engine, which was not found; {hint}",
            hint=INSTALL_HINT))
    command = [engine, f"-T{fmt}"]
    if dpi is not None:
        command.append(f"-Gdpi={dpi}")
    try:
        done = subprocess.run(command, input=source.encode("utf-8"), capture_output=True,
                              timeout=120)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise DrawError(msg("the layout engine {engine} could not be run: {error}",
                            engine=engine, error=err)) from None
    if done.returncode != 0 or not done.stdout:
        errors = [line for line in done.stderr.decode("utf-8", "replace").splitlines()
                  if "Warning" not in line]
        detail = "; ".join(errors) or f"exit status {done.returncode}"
        raise DrawError(msg("the layout engine {engine} failed: {detail}", engine=engine,
                            detail=detail))
    return done.stdout
