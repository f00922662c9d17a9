"""Every gate has every surface its definition declares: adding a gate is one definition
(plus its samples in gate_samples.py), and this file fails when anything derived is missing.
"""

from pathlib import Path

import numpy as np
import pytest

import circuitgrad as cg
from circuitgrad import expr, numpy_api
from circuitgrad.gates import all_gates, formula_gates, table
from circuitgrad.gates.elementwise import FORMULA_EXTRAS
from circuitgrad.gates.listing import backward_text
from gate_samples import all_cases

GATES = all_gates()
SAMPLED = {id(case.gate): case for case in all_cases()}


@pytest.mark.parametrize("gate", GATES, ids=lambda g: g.name)
def test_gate_has_a_symbol_a_listing_text_and_samples(gate):
    assert gate.symbol, f"gate {gate.name} has no picture symbol"
    has_text = gate.local is not None or (gate.text is not None
                                          and gate.text.backward is not None)
    assert has_text, f"gate {gate.name} has neither a local derivative nor a listing text"
    assert id(gate) in SAMPLED, f"gate {gate.name} has no case in tests/gate_samples.py"


@pytest.mark.parametrize("gate", [g for g in GATES if g.api], ids=lambda g: g.name)
def test_gate_api_name_is_public(gate):
    first, *rest = gate.api.split(".")  # cg.linalg.inv: a function of the cg.linalg module
    assert first in cg.__all__, f"cg.{gate.api} (gate {gate.name}) is not exported"
    fn = getattr(cg, first)
    for name in rest:
        assert name in fn.__all__, f"cg.{gate.api} (gate {gate.name}) is not exported"
        fn = getattr(fn, name)
    assert callable(fn)


def _inputs(gate, rng):
    """Tensors inside every formula gate's domain (the sweep's samplers), needing gradients."""
    arrays = SAMPLED[id(gate)].make(rng, (3,), (3,))
    return [cg.tensor(a, requires_grad=True) for a in arrays]


@pytest.mark.parametrize("gate", formula_gates(), ids=lambda g: g.name)
def test_formula_gate_is_reached_from_cg_numpy_and_the_command_line(gate):
    rng = np.random.default_rng(0)
    xs = _inputs(gate, rng)
    assert getattr(cg, gate.api)(*xs).gate is gate
    for fn in gate.numpy:
        assert fn(*xs).gate is gate, f"{fn.__name__} on tensors does not reach {gate.name}"
    assert expr.FUNCTIONS[gate.api][0] is getattr(cg, gate.api)


@pytest.mark.parametrize("gate", [g for g in GATES if g.numpy], ids=lambda g: g.name)
def test_numpy_functions_dispatch_and_ndarray_methods_exist(gate):
    for fn in gate.numpy:
        handled = fn in numpy_api._UFUNCS or fn in numpy_api._FUNCTIONS
        assert handled, f"np.{fn.__name__} (gate {gate.name}) has no NumPy dispatch"
        if hasattr(np.ndarray, fn.__name__):  # the Tensor method where ndarray has one
            assert hasattr(cg.Tensor, fn.__name__), f"Tensor.{fn.__name__} is missing"


@pytest.mark.parametrize("gate", formula_gates(), ids=lambda g: g.name)
def test_formula_gate_listing_line_is_its_derivative(gate):
    class Site:
        out, g = "o", "do"

        @staticmethod
        def arg(k):
            return "ab"[k]
    text = backward_text(gate, Site, 0)
    assert text.endswith("* do")
    # evaluating the listed text gives the rule's number on the same values
    rng = np.random.default_rng(1)
    xs = [np.asarray(t.data) for t in _inputs(gate, rng)]
    out = gate.forward(*xs)
    env = dict(vars(np), **FORMULA_EXTRAS, o=out, do=np.ones_like(out), a=xs[0], b=xs[-1])
    np.testing.assert_allclose(eval(text, env), gate.vjp[0](np.ones_like(out), out, *xs))


def test_docs_table_is_written_from_the_gates():
    written = (Path(__file__).parents[1] / "docs" / "gates.md").read_text(encoding="utf-8")
    assert written == table.markdown(), \
            "docs/gates.md is stale: python -m circuitgrad.gates.table > docs/gates.md"
