"""The examples run and do what their docstrings say (short versions)."""

import importlib.util
from pathlib import Path

import numpy as np


def load(name):
    path = Path(__file__).parents[1] / "examples" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_character_lstm_learns_its_text():
    example = load("char_lstm")
    model, chars, losses = example.train(steps=120, log_every=0)
    assert np.mean(losses[:5]) > 2.5                 # about log(vocabulary) at the start
    assert np.mean(losses[-20:]) < 0.5 * np.mean(losses[:5]) and np.mean(losses[-20:]) < 1.0
    text = example.generate(model, chars, "gradients ", 20)
    assert len(text) == 30 and set(text) <= set(chars)
