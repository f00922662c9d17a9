"""The lab's lessons: the notes' worked examples (``notes_examples.EXAMPLES``, in the notes'
order), each with what the notes say it teaches; then one the notes do not have, on
gradients adding up across backward calls.

Every text here is English, marked for the project's catalogs (``circuitgrad.i18n``), which
hold its Chinese (in the words of the notes' Chinese translation: 门, 局部梯度, 上游梯度,
分支, ``+=``): the titles and sections are the demo's own (``circuitgrad demo`` shows them),
so both speak the same words; the page gets each text in every language of ``LANGUAGES``.
"""

import numpy as np

from ..i18n import LANGUAGES, msg, render, translator
from ..notes_examples import EXAMPLES

# What each example teaches, as the page explains it (longer than the demo's one-line lesson)
EXPLANATIONS = {
    "multiply": msg(
        "The gradient says how sensitive f is to each input: at x = 4, y = -3, df/dx = y = -3 "
        "and df/dy = x = 4, so nudging x up by h moves f down by 3h."),
    "max": msg(
        "The max gate routes the gradient to the larger input: max(4, 2) is 4, so f does not "
        "depend on y at all and df/dy = 0."),
    "add-multiply": msg(
        "The chain rule: each gate multiplies the upstream gradient by its local gradient. The "
        "* gate sends z = -4 to q; the + gate's local gradients are 1, so x and y both get -4."),
    "sigmoid-neuron-circuit": msg(
        "The sigmoid neuron drawn gate by gate (*-1, exp, +1, 1/x). The output is 0.73, and the "
        "gradient on the dot product is (1 - 0.73) * 0.73 = 0.2."),
    "sigmoid-neuron-code": msg(
        "The same neuron with one sigmoid gate, whose local gradient (1 - f) * f is one simple "
        "expression: the same gradients in fewer steps."),
    "staged": msg(
        "Staged computation: many simple intermediate variables, each with a known local "
        "gradient. x and y are used several times, so their gradients add up with += where the "
        "branches meet."),
    "gradient-patterns": msg(
        "Patterns in backward flow: the add gate distributes its gradient to all inputs, the "
        "max gate routes it to the larger input, and the multiply gate swaps its inputs' values "
        "(dx = y * upstream)."),
    "matmul": msg(
        "Matrix multiply D = W @ X: dW = dD @ X.T has W's shape and dX = W.T @ dD has X's "
        "shape. The shapes tell where the transposes go."),
}


def _text(value):
    """An input value as the page's input box takes it: a number or a nested list."""
    rounded = np.round(np.asarray(value, dtype=np.float64), 4)  # random matrices, readable

    def text(v):
        return "[" + ", ".join(map(text, v)) + "]" if isinstance(v, list) else f"{v:g}"
    return text(rounded.tolist())


# After the notes' examples: what learners ask most about, shown on the notes' first example.
ACCUMULATE = {
    "key": "accumulate", "section": msg("Gradients add up across backward calls"),
    "title": msg("f(x, y) = xy again: backward() called three times"),
    "expression": "x * y", "inputs": {"x": "4", "y": "-3"}, "upstream": None, "calls": 3,
    "explanation": msg(
        "Not in the notes, but asked about most: each backward() call adds its gradients into "
        "the inputs' .grad, as the branches of a fork add up with +=. After three calls x.grad "
        "= 3 × (-3) = -9, not -3: set the gradients to zero (x.grad = None, or "
        "optimizer.zero_grad()) before each backward pass."),
}


def _in_every_language(message):
    """{lang: message in lang} for the page, which switches language without asking again."""
    return {lang: render(message, translator(lang)) for lang in LANGUAGES}


def lessons():
    """Each lesson as JSON: key, section, title, expression, inputs (as text), explanation;
    the notes' examples, then the lesson on gradients adding up across backward calls."""
    out = []
    for e in EXAMPLES:
        out.append({"key": e.key, "section": _in_every_language(e.section),
                    "title": _in_every_language(e.title),
                    "expression": e.expression,
                    "inputs": {k: _text(v) for k, v in e.inputs.items()},
                    "upstream": None if e.upstream is None else _text(e.upstream),
                    "explanation": _in_every_language(EXPLANATIONS[e.key])})
    accumulate = dict(ACCUMULATE)
    for field in ("section", "title", "explanation"):
        accumulate[field] = _in_every_language(ACCUMULATE[field])
    return out + [accumulate]
