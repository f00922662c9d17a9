"""The compiled core and its pure-Python twin: same files, chosen as documented."""

import ast
import os
import subprocess
import sys
import warnings
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path

import pytest

from circuitgrad import compiled

ROOT = Path(__file__).resolve().parent.parent


def test_setup_compiles_exactly_the_modules_compiled_py_names():
    tree = ast.parse((ROOT / "setup.py").read_text())
    listed = next(ast.literal_eval(node.value) for node in ast.walk(tree)
                  if isinstance(node, ast.Assign) and node.targets[0].id == "COMPILED")
    as_modules = tuple(p.removeprefix("src/").removesuffix(".py").replace("/", ".")
                       for p in listed)
    assert as_modules == compiled.MODULES
    for name in compiled.MODULES:  # each has the .pxd that types it
        assert Path(compiled._source(name)).with_suffix(".pxd").exists(), name


def test_pure_python_setting_loads_the_python_files():
    code = ("import sys, circuitgrad as cg; "
            "print(cg.compiled.core_is_compiled(), "
            "all(sys.modules[m].__file__.endswith('.py') for m in cg.compiled.MODULES))")
    env = dict(os.environ, CIRCUITGRAD_PURE_PYTHON="1")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, check=True).stdout.split()
    assert out == ["False", "True"]


def test_the_core_in_use_is_the_one_asked_for():
    if compiled.pure_python_requested():
        assert not compiled.core_is_compiled()
    else:  # compiled wherever a build sits beside the sources
        built = any(Path(compiled._source(name)[:-3] + suffix).exists()
                    for name in compiled.MODULES for suffix in EXTENSION_SUFFIXES)
        assert compiled.core_is_compiled() == built


def _pair(tmp_path, source_age, build_age):
    source = tmp_path / "core.py"
    build = tmp_path / ("core" + EXTENSION_SUFFIXES[0])
    source.write_text("")
    build.write_bytes(b"")
    now = 1_700_000_000
    os.utime(source, (now - source_age, now - source_age))
    os.utime(build, (now - build_age, now - build_age))
    return str(source)


def test_an_edit_after_the_build_is_reported(tmp_path):
    with pytest.warns(RuntimeWarning, match="newer than its compiled build"):
        compiled.warn_if_stale(_pair(tmp_path, source_age=60, build_age=3600))


@pytest.mark.parametrize("source_age, build_age", [(3600, 60), (60, 61)])
def test_a_current_build_is_not_reported(tmp_path, source_age, build_age):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        compiled.warn_if_stale(_pair(tmp_path, source_age, build_age))
        compiled.warn_if_stale(str(tmp_path / "absent.py"))  # no build at all: nothing to say
