"""The lab's lessons: the notes' worked examples (``notes_examples.EXAMPLES``, in the notes'
order), each with what the notes say it teaches, in English and in Chinese; then one the
notes do not have, on gradients adding up across backward calls.

The Chinese follows the wording of the notes' Chinese translation (门, 局部梯度, 上游梯度,
分支, ``+=``).
"""

import numpy as np

from ..notes_examples import EXAMPLES

EXPLANATIONS = {
    "multiply": {
        "en": "The gradient says how sensitive f is to each input: at x = 4, y = -3, "
              "df/dx = y = -3 and df/dy = x = 4, so nudging x up by h moves f down by 3h.",
        "zh": "梯度表示 f 对每个输入的敏感程度：在 x = 4, y = -3 时，df/dx = y = -3，"
              "df/dy = x = 4，所以 x 增加 h，f 就减少 3h。",
    },
    "max": {
        "en": "The max gate routes the gradient to the larger input: max(4, 2) is 4, so "
              "f does not depend on y at all and df/dy = 0.",
        "zh": "max 门把梯度传给较大的那个输入：max(4, 2) 是 4，所以函数对 y 不敏感，"
              "df/dy = 0。",
    },
    "add-multiply": {
        "en": "The chain rule: each gate multiplies the upstream gradient by its local "
              "gradient. The * gate sends z = -4 to q; the + gate's local gradients are 1, "
              "so x and y both get -4.",
        "zh": "链式法则：每个门把上游梯度乘以自己的局部梯度。乘法门把 z = -4 传给 q；"
              "加法门的局部梯度都是 1，所以 x 和 y 的梯度都是 -4。",
    },
    "sigmoid-neuron-circuit": {
        "en": "The sigmoid neuron drawn gate by gate (*-1, exp, +1, 1/x). The output is "
              "0.73, and the gradient on the dot product is (1 - 0.73) * 0.73 = 0.2.",
        "zh": "把 sigmoid 神经元一个门一个门地画出来（*-1、exp、+1、1/x）。输出是 0.73，"
              "点积上的梯度是 (1 - 0.73) * 0.73 ≈ 0.2。",
    },
    "sigmoid-neuron-code": {
        "en": "The same neuron with one sigmoid gate, whose local gradient (1 - f) * f is "
              "one simple expression: the same gradients in fewer steps.",
        "zh": "同一个神经元，用一个 sigmoid 门表示，它的局部梯度 (1 - f) * f 是一个简单"
              "表达式：梯度相同，步骤更少。",
    },
    "staged": {
        "en": "Staged computation: many simple intermediate variables, each with a known "
              "local gradient. x and y are used several times, so their gradients add up "
              "with += where the branches meet.",
        "zh": "分段计算：很多简单的中间变量，每个的局部梯度都已知。x 和 y 在前向传播中出现"
              "多次，所以在不同分支的梯度要用 += 相加。",
    },
    "gradient-patterns": {
        "en": "Patterns in backward flow: the add gate distributes its gradient to all "
              "inputs, the max gate routes it to the larger input, and the multiply gate "
              "swaps its inputs' values (dx = y * upstream).",
        "zh": "反向传播中的模式：加法门把梯度平均分给所有输入，max 门把梯度传给较大的输入，"
              "乘法门交换输入的值（dx = y * 上游梯度）。",
    },
    "matmul": {
        "en": "Matrix multiply D = W @ X: dW = dD @ X.T has W's shape and dX = W.T @ dD "
              "has X's shape. The shapes tell where the transposes go.",
        "zh": "矩阵乘法 D = W @ X：dW = dD @ X.T 与 W 的形状相同，dX = W.T @ dD 与 X 的"
              "形状相同。维度分析告诉我们转置放在哪里。",
    },
}


TITLES_ZH = {
    'multiply': '简单表达式：f(x, y) = xy，x = 4, y = -3',
    'max': '简单表达式：f(x, y) = max(x, y)，x = 4, y = 2',
    'add-multiply': '链式法则：f(x, y, z) = (x + y) z，x = -2, y = 5, z = -4',
    'sigmoid-neuron-circuit': '模块化：二维 sigmoid 神经元的线路图，w = [2, -3, -3], x = [-1, -2]',
    'sigmoid-neuron-code': '模块化：同一个神经元的代码，一个 sigmoid 门，向量 w 和 x',
    'staged': '分段计算：f(x, y) = (x + σ(y)) / (σ(x) + (x + y)²)，x = 3, y = -4',
    'gradient-patterns': '反向传播中的模式：f = 2 (x y + max(z, w))，x = 3, y = -4, z = 2, w = -1',
    'matmul': '矩阵乘法的梯度：D = W.dot(X)，W 是 5x10，X 是 10x3',
}


def _text(value):
    """An input value as the page's input box takes it: a number or a nested list."""
    rounded = np.round(np.asarray(value, dtype=np.float64), 4)  # random matrices, readable

    def text(v):
        return "[" + ", ".join(map(text, v)) + "]" if isinstance(v, list) else f"{v:g}"
    return text(rounded.tolist())


# After the notes' examples: what learners ask most about, shown on the notes' first example.
ACCUMULATE = {
    "key": "accumulate", "section": "Gradients add up across backward calls",
    "title": {"en": "f(x, y) = xy again: backward() called three times",
              "zh": "再看 f(x, y) = xy：调用三次 backward()"},
    "expression": "x * y", "inputs": {"x": "4", "y": "-3"}, "upstream": None, "calls": 3,
    "explanation": {
        "en": "Not in the notes, but asked about most: each backward() call adds its "
              "gradients into the inputs' .grad, as the branches of a fork add up with +=. "
              "After three calls x.grad = 3 × (-3) = -9, not -3: set the gradients to zero "
              "(x.grad = None, or optimizer.zero_grad()) before each backward pass.",
        "zh": "笔记里没有，但常常被问到：每次调用 backward() 都会把梯度加到输入的 .grad 上，"
              "就像分支处用 += 把梯度相加一样。调用三次之后 x.grad = 3 × (-3) = -9，而不是 -3："
              "所以在每次反向传播之前要把梯度清零（x.grad = None，或 optimizer.zero_grad()）。",
    },
}


def lessons():
    """Each lesson as JSON: key, title, expression, inputs (as text), explanations; the
    notes' examples, then the lesson on gradients adding up across backward calls."""
    out = []
    for e in EXAMPLES:
        out.append({"key": e.key, "section": e.section,
                    "title": {"en": e.title, "zh": TITLES_ZH[e.key]},
                    "expression": e.expression,
                    "inputs": {k: _text(v) for k, v in e.inputs.items()},
                    "upstream": None if e.upstream is None else _text(e.upstream),
                    "explanation": EXPLANATIONS[e.key]})
    return out + [ACCUMULATE]
