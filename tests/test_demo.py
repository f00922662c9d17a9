"""``circuitgrad demo``: every worked example of the notes, in order, checked and drawn."""

import io
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from circuitgrad import notes_examples
from circuitgrad.notes_examples import EXAMPLES, run_demo, run_example

SRC = str(Path(__file__).resolve().parents[1] / "src")


def test_the_examples_come_in_the_notes_order():
    assert [e.key for e in EXAMPLES] == [
        "multiply", "max", "add-multiply", "sigmoid-neuron-circuit", "sigmoid-neuron-code",
        "staged", "gradient-patterns", "matmul"]


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.key for e in EXAMPLES])
def test_each_example_agrees_with_the_notes_and_with_central_differences(example):
    outcome = run_example(example)
    assert outcome.failures == []
    assert outcome.check.ok and outcome.check.max_rel_error < 1e-6


def test_the_notes_numbers_worked_out_here():
    """The numbers the notes print, recomputed with plain math, against the demo's."""
    def grads(key):
        nodes = {n.name: n for n in run_example(
            next(e for e in EXAMPLES if e.key == key)).report.listing.circuit.nodes}
        return lambda name: nodes[name].grad

    g = grads("multiply")
    assert (g("x"), g("y")) == (-3.0, 4.0)
    g = grads("add-multiply")
    assert (g("x"), g("y"), g("z"), g("q")) == (-4.0, -4.0, 3.0, -4.0)
    g = grads("max")
    assert (g("x"), g("y")) == (1.0, 0.0)
    f = 1 / (1 + math.exp(-(2 * -1 + -3 * -2 + -3)))
    ddot = (1 - f) * f
    g = grads("sigmoid-neuron-code")
    assert np.allclose(g("x"), [2 * ddot, -3 * ddot]) and abs(ddot - 0.2) < 0.01
    assert np.allclose(g("w"), [-1 * ddot, -2 * ddot, ddot])
    g = grads("gradient-patterns")
    assert (g("x"), g("y"), g("z"), g("w")) == (-8.0, 6.0, 2.0, 0.0)
    matmul = next(e for e in EXAMPLES if e.key == "matmul")
    g = grads("matmul")
    W, X, dD = matmul.inputs["W"], matmul.inputs["X"], matmul.upstream
    assert g("W").shape == (5, 10) and g("X").shape == (10, 3)
    assert np.allclose(g("W"), dD @ X.T) and np.allclose(g("X"), W.T @ dD)


def test_demo_prints_every_example_and_writes_its_pictures(tmp_path):
    out = io.StringIO()
    assert run_demo(tmp_path / "pictures", stream=out) == 0
    text = out.getvalue()
    for k, example in enumerate(EXAMPLES, 1):
        assert f"{k}. {example.title}" in text
        for suffix in (".svg", ".png"):
            picture = tmp_path / "pictures" / f"{k:02d}-{example.key}{suffix}"
            assert picture.stat().st_size > 1000, picture
    assert text.count("gradient check (central differences): ok") == len(EXAMPLES)
    assert "dx += ((1 - sigx) * sigx) * dsigx" in text        # the staged example, staged
    assert "dW = dD @ X.T" in text and "dX = W.T @ dD" in text
    assert "FAILED" not in text and "all 8 examples agree" in text


def test_demo_fails_loudly_when_a_number_disagrees(tmp_path, monkeypatch):
    wrong = EXAMPLES[0].__class__(**{**EXAMPLES[0].__dict__, "expected": {"dx": 3.0}})
    monkeypatch.setattr(notes_examples, "EXAMPLES", [wrong])
    out = io.StringIO()
    assert run_demo(tmp_path, pictures=False, stream=out) == 1
    assert "FAILED: dx is -3.0, the notes say 3.0" in out.getvalue()


def test_circuitgrad_demo_runs_from_the_command_line(tmp_path):
    env = dict(os.environ)
    env["PYTHONPATH"] = SRC + os.pathsep + env.get("PYTHONPATH", "")
    done = subprocess.run([sys.executable, "-m", "circuitgrad", "demo", "--out",
                           str(tmp_path / "demo")], capture_output=True, text=True, env=env,
                          timeout=600, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert len(list((tmp_path / "demo").glob("*.png"))) == len(EXAMPLES)
