"""The compiled core and its pure-Python twin: same files, chosen as documented."""

import ast
import copy
import inspect
import os
import pickle
import subprocess
import sys
import warnings
import weakref
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path

import numpy as np
import pytest

import circuitgrad as cg
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
        assert Path(compiled.source_path(name)).with_suffix(".pxd").exists(), name


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
        built = any(Path(compiled.source_path(name)[:-3] + suffix).exists()
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


# What a C type could change for users, checked in both builds (make test runs both).

def test_an_intermediate_copies_and_pickles_as_a_leaf():
    x = cg.tensor([1.0, 2.0], requires_grad=True)
    y = (x * 2).sum(axis=0)
    for clone in (copy.deepcopy(y), pickle.loads(pickle.dumps(y))):
        assert clone.is_leaf and clone.requires_grad and float(clone) == 6.0
        (clone * 3).backward()
        assert float(clone.grad) == 3.0
    y.backward()  # the original circuit is untouched
    np.testing.assert_array_equal(x.grad, [2.0, 2.0])


def test_tensors_copy_and_pickle_as_leaves_with_their_settings():


    x = cg.tensor([1.0, 2.0], requires_grad=True, name="x")
    for clone in (copy.deepcopy(x), pickle.loads(pickle.dumps(x))):
        assert type(clone) is cg.Tensor and clone is not x
        assert clone.requires_grad and clone.name == "x" and clone.is_leaf
        np.testing.assert_array_equal(clone.data, x.data)
        (clone * clone).sum().backward()
        np.testing.assert_array_equal(clone.grad, [2.0, 4.0])
    assert x.grad is None


def test_a_user_subclass_keeps_its_own_attributes_and_records_gates():
    class Labelled(cg.Tensor):
        pass

    a = Labelled(3.0, requires_grad=True)
    a.unit = "m"  # a subclass without __slots__ has a __dict__, as for any Python class
    y = a * a + 1.0
    y.backward()
    assert a.unit == "m" and float(a.grad) == 6.0 and type(y) is cg.Tensor


def test_tensors_are_hashable_by_identity_and_weakly_referenceable():
    a, b = cg.tensor(1.0), cg.tensor(1.0)
    assert len({a, b, a}) == 2
    ref = weakref.ref(a)
    assert ref() is a
    del a
    assert ref() is None


def test_signatures_and_docstrings_survive_compilation():
    assert str(inspect.signature(cg.tensor)) == (
        "(data, requires_grad=False, dtype=None, name=None)")
    params = inspect.signature(cg.Tensor.backward).parameters
    assert list(params)[1:] == ["g", "retain_graph", "create_graph", "detect_anomaly"]
    assert "upstream gradient" in cg.Tensor.backward.__doc__


def test_an_edit_of_the_pxd_after_the_build_is_reported(tmp_path):
    source = _pair(tmp_path, source_age=3600, build_age=600)
    pxd = tmp_path / "core.pxd"
    pxd.write_text("")
    os.utime(pxd, (1_700_000_000 - 60, 1_700_000_000 - 60))
    with pytest.warns(RuntimeWarning, match="newer than its compiled build"):
        compiled.warn_if_stale(source)


def test_pure_python_is_asked_for_by_any_value_but_0(monkeypatch):
    for value, asked in (("1", True), ("yes", True), ("0", False), ("", False)):
        monkeypatch.setenv("CIRCUITGRAD_PURE_PYTHON", value)
        assert compiled.pure_python_requested() is asked
