"""docs/numpy.md, the table of NumPy functions on tensors, agrees with the code: it is the
table the dispatch tables and the gates' definitions give, every function it lists as
differentiable has a gradient check against central differences, and the caveats it
prints are the ones the definitions carry."""

from pathlib import Path

import numpy as np

import circuitgrad as cg
import gate_samples
import test_numpy_surface
from circuitgrad import supported
from circuitgrad.gates import elementwise as ew


def test_docs_table_is_written_from_the_code():
    written = (Path(__file__).parents[1] / "docs" / "numpy.md").read_text(encoding="utf-8")
    assert written == supported.markdown(), \
        "docs/numpy.md is stale: python -m circuitgrad.supported > docs/numpy.md"


def _checked_functions():
    """NumPy functions whose gradient a test checks against central differences: the
    NumPy-surface cases (named after the function) and every gate the sweep samples."""
    checked = {test_numpy_surface.function(np, case) for case in test_numpy_surface.CASES}
    return checked | {fn for case in gate_samples.all_cases() for fn in case.gate.numpy}


def test_every_differentiable_function_in_the_table_has_a_gradient_check():
    checked = _checked_functions()
    unchecked = [supported.numpy_name(fn) for fn, *_ in supported.rows() if fn not in checked]
    assert not unchecked, f"listed as differentiable but never checked: {unchecked}; add a " \
        "case to tests/test_numpy_surface.py CASES"


def test_rows_name_the_gate_or_the_composed_function_and_its_caveats():
    by_function = {fn: (name, gate, caveats) for fn, name, gate, caveats in supported.rows()}
    assert by_function[np.maximum] == ("cg.maximum", ew.maximum, ew.maximum.caveats)
    name, gate, caveats = by_function[np.median]
    assert (name, gate) == ("cg.median", None) and caveats == cg.median.caveats
    name, gate, caveats = by_function[np.linalg.pinv]
    assert (name, gate) == ("cg.linalg.pinv", None) and caveats == cg.linalg.pinv.caveats
    # the cg name in a row is the very function: calling it gives NumPy's value
    for _fn, name, _, _ in supported.rows():
        if name is not None:
            target = cg
            for part in name.split(".")[1:]:
                target = getattr(target, part)
            assert callable(target), name
    assert np.zeros_like not in by_function  # constant tensors: listed apart, no gradient


def test_a_documented_caveat_holds():
    """Two caveats read back from the table, checked against what the gradient does."""
    caveats = {fn: c for fn, _, _, c in supported.rows()}
    assert any("split evenly" in c for c in caveats[np.maximum])
    g = cg.grad(lambda x: np.maximum(x, 1.0).sum())(np.array([1.0, 3.0]))
    np.testing.assert_array_equal(g, [0.5, 1.0])
    assert any("gradient is 0" in c for c in caveats[np.absolute])
    np.testing.assert_array_equal(cg.grad(lambda x: np.abs(x).sum())(np.zeros(2)), [0.0, 0.0])
