"""The training step a user writes for a model and an optimizer, for the tests that run it
eagerly and compiled (``cg.compile(step, argnums=None)``) and compare the two."""

from circuitgrad import nn


def training_step(model, opt):
    """``step(X, y)``: zero_grad, the softmax cross-entropy of ``model(X)`` against ``y``,
    backward, ``opt.step()``; returns the loss."""
    def step(X, y):
        opt.zero_grad()
        loss = nn.softmax_cross_entropy(model(X), y)
        loss.backward()
        opt.step()
        return loss
    return step
