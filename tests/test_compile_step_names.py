"""The generated source of a compiled nn step names the model's parameters as the model does
(``fc1.weight`` -> ``fc1_weight``), not x1..xN."""

import numpy as np

import circuitgrad as cg
from circuitgrad import nn
from nn_steps import training_step


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(6, 8)
        self.fc2 = nn.Linear(8, 3)

    def forward(self, x):
        return self.fc2(cg.relu(self.fc1(x)))


def _train(model, compiled, steps=3):
    opt = nn.SGD(model.parameters(), lr=0.1)

    step = training_step(model, opt)

    run = cg.compile(step, argnums=None) if compiled else step
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((5, 6)).astype(np.float32), rng.integers(0, 3, 5)
    for _ in range(steps):
        run(X, y)
    return run


def test_module_attribute_names_name_the_parameters():
    nn.manual_seed(1)
    model = Net()
    run = _train(model, True)
    header = run.source.splitlines()[0]
    assert header == "def step_staged(X, y, fc1_weight, fc1_bias, fc2_weight, fc2_bias):"
    assert "matmul(X, fc1_weight" in run.source
    nn.manual_seed(1)
    eager = Net()
    _train(eager, False)
    for p, q in zip(model.parameters(), eager.parameters(), strict=True):
        np.testing.assert_allclose(p.data, q.data, rtol=1e-5, atol=1e-6)


def test_a_sequentials_numbered_layers_become_identifiers():
    nn.manual_seed(1)
    model = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))
    run = _train(model, True)
    assert run.source.splitlines()[0] == \
        "def step_staged(X, y, layer0_weight, layer0_bias, layer2_weight, layer2_bias):"
