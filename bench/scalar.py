"""Scalar workloads: a random circuit of scalar gates and a very deep chain.

These measure the engine's per-operation overhead (Python dispatch, graph bookkeeping,
backward traversal) against the cheapest honest alternative: a hand-written pure-Python
forward pass over floats followed by a reverse loop accumulating local gradient * upstream.
"""

from __future__ import annotations

import math
import random

import circuitgrad as cg
import harness
from harness import Config, Row

# Gate opcodes.  Both sides dispatch on the same small ints, so interpretation costs the same.
ADD, MUL, RELU, SQUARE = range(4)
OP_NAMES = ("add", "mul", "relu", "square")

N_INPUTS = 100
N_GATES = 20_000
WINDOW = 100  # operands come from the last WINDOW nodes
N_OUTPUTS = 100  # the output is the sum of the last N_OUTPUTS nodes
SEED = 20_240_601
INPUT_MAX = 0.5  # inputs are uniform in [-INPUT_MAX, INPUT_MAX]
VALUE_RANGE = (1e-6, 0.5)  # see make_circuit
OPERAND_TRIES = 10

CHAIN_STEPS = 100_000
CHAIN_A, CHAIN_B = 1.0001, 0.0001
CHAIN_X0 = 0.5


def _gate(op: int, a: float, b: float) -> float:
    if op == ADD:
        return a + b
    if op == MUL:
        return a * b
    if op == RELU:
        return a if a > 0.0 else 0.0
    return a * a


def make_circuit(
    seed: int = SEED, n_inputs: int = N_INPUTS, n_gates: int = N_GATES
) -> tuple[list[float], list[tuple[int, int, int]]]:
    """Input values and a gate list of (op, i, j) over node indices, drawn from `seed`.

    Node k < n_inputs is input k; node n_inputs + g is gate g.  Unary gates have j == i.

    Left alone, such circuits overflow or collapse to 0, and when held in a band of values
    they turn chaotic: each ulp of rounding is amplified until nothing agrees (held at values
    around 1, the input gradients reach 1e70).  So values are held small: a gate whose value
    (simulated here) would leave VALUE_RANGE in magnitude, other than relu giving 0, gets new
    operands, or after OPERAND_TRIES another op.  Products and squares of small values damp
    errors: the output's condition number is about 3e4, so rounding differences (x**2 by pow
    or by x*x, say) stay near 1e-12 relative.  The price: products often fall below the range,
    so the mix is about 40% add, 40% relu, 13% square and 6% mul.

    A node about to leave the operand window unused is taken as an operand, so that every
    gate is an ancestor of the output and the backward pass has as much to do as the forward
    pass (left to chance, more than half of the gates would be dead).
    """
    rng = random.Random(seed)
    values = [rng.uniform(-INPUT_MAX, INPUT_MAX) for _ in range(n_inputs)]
    inputs = list(values)
    used = [False] * n_inputs
    low, high = VALUE_RANGE
    gates: list[tuple[int, int, int]] = []
    while len(gates) < n_gates:
        n = len(values)
        lo = max(0, n - WINDOW)
        forced = lo if n >= WINDOW and not used[lo] else None
        while True:
            op = rng.randrange(4)
            for _ in range(OPERAND_TRIES):
                i = forced if forced is not None else rng.randrange(lo, n)
                j = rng.randrange(lo, n) if op in (ADD, MUL) else i
                v = _gate(op, values[i], values[j])
                if abs(v) <= high and (abs(v) >= low or op == RELU):
                    break
            else:
                continue
            break
        gates.append((op, i, j))
        values.append(v)
        used.append(False)
        used[i] = used[j] = True
    return inputs, gates


def python_values(inputs: list[float], gates: list[tuple[int, int, int]]) -> list[float]:
    """Baseline forward: the value of every node, as plain floats."""
    v = list(inputs)
    append = v.append
    for op, i, j in gates:
        if op == ADD:
            append(v[i] + v[j])
        elif op == MUL:
            append(v[i] * v[j])
        elif op == RELU:
            x = v[i]
            append(x if x > 0.0 else 0.0)
        else:
            x = v[i]
            append(x * x)
    return v


def python_forward(inputs: list[float], gates: list[tuple[int, int, int]]) -> float:
    return sum(python_values(inputs, gates)[-N_OUTPUTS:])


def python_circuit(
    inputs: list[float], gates: list[tuple[int, int, int]]
) -> tuple[float, list[float]]:
    """Baseline: forward over floats, then a reverse loop of grad += local * upstream."""
    v = python_values(inputs, gates)
    out = sum(v[-N_OUTPUTS:])

    g = [0.0] * len(v)
    for k in range(len(v) - N_OUTPUTS, len(v)):
        g[k] = 1.0
    n0 = len(inputs)
    for k in range(len(gates) - 1, -1, -1):
        op, i, j = gates[k]
        up = g[n0 + k]
        if op == ADD:
            g[i] += up
            g[j] += up
        elif op == MUL:
            g[i] += v[j] * up
            g[j] += v[i] * up
        elif op == RELU:
            g[i] += up if v[i] > 0.0 else 0.0
        else:
            g[i] += 2.0 * v[i] * up
    return out, g[:n0]


def engine_nodes(leaves: list, gates: list[tuple[int, int, int]]) -> list:
    """Candidate forward: the same gate list through circuitgrad scalar tensors."""
    v = list(leaves)
    append = v.append
    for op, i, j in gates:
        if op == ADD:
            append(v[i] + v[j])
        elif op == MUL:
            append(v[i] * v[j])
        elif op == RELU:
            append(v[i].relu())
        else:
            append(v[i] ** 2)
    return v


def engine_forward(leaves: list, gates: list[tuple[int, int, int]]):
    v = engine_nodes(leaves, gates)
    # Chained adds rather than sum(): sum() would start from int 0 and test __radd__ too.
    out = v[-N_OUTPUTS]
    for t in v[-N_OUTPUTS + 1 :]:
        out = out + t
    return out


def engine_circuit(leaves: list, gates: list[tuple[int, int, int]]):
    for leaf in leaves:
        leaf.grad = None
    out = engine_forward(leaves, gates)
    out.backward()
    return out


def check_circuit(inputs: list[float], gates: list[tuple[int, int, int]], leaves: list) -> None:
    """The candidate must give the baseline's node values, output and input gradients.

    Up to rounding, which make_circuit keeps from growing: ~1e-12 relative at worst.
    """
    want = python_values(inputs, gates)
    got = [float(t.data) for t in engine_nodes(leaves, gates)]
    for k in range(len(inputs), len(want)):
        if not math.isclose(got[k], want[k], rel_tol=1e-9, abs_tol=1e-15):
            op, i, j = gates[k - len(inputs)]
            raise AssertionError(
                f"scalar circuit: node {k} = {OP_NAMES[op]}(node {i}, node {j}) is {got[k]!r}, "
                f"expected {want[k]!r} from operands {want[i]!r}, {want[j]!r}")

    want_out, want_grads = python_circuit(inputs, gates)
    if not all(math.isfinite(g) for g in want_grads):
        raise AssertionError("scalar circuit: the generated circuit has non-finite gradients")
    out = engine_circuit(leaves, gates)
    harness.check_close("scalar circuit output", float(out.data), want_out, rtol=1e-9)
    # An input no gate reads is not in the graph and may keep grad None: fine where it is 0.
    got_grads = [0.0 if leaf.grad is None else float(leaf.grad) for leaf in leaves]
    harness.check_close("scalar circuit input gradients", got_grads, want_grads, rtol=1e-9,
                        atol=1e-12 * max(abs(g) for g in want_grads))


def bench_scalar_circuit(cfg: Config) -> list[Row]:
    inputs, gates = make_circuit()
    leaves = [cg.tensor(x, requires_grad=True) for x in inputs]

    check_circuit(inputs, gates, leaves)
    harness.freeze()
    per_gate_us = 1e6 / N_GATES
    both = harness.measure(lambda: python_circuit(inputs, gates),
                           lambda: engine_circuit(leaves, gates), cfg)
    fwd = harness.measure(lambda: python_forward(inputs, gates),
                          lambda: engine_forward(leaves, gates), cfg)
    return [
        harness.timing_row("scalar circuit fwd+bwd", "pure Python", both, "us/gate",
                           per_gate_us, target=5.0),
        harness.timing_row("scalar circuit fwd only (graph built)", "pure Python", fwd,
                           "us/gate", per_gate_us),
    ]


def python_chain(x0: float, steps: int = CHAIN_STEPS) -> tuple[float, float]:
    """Baseline: forward keeping every intermediate (a tape), then reverse accumulation."""
    tape = [x0]
    x = x0
    for _ in range(steps):
        y = x * CHAIN_A
        x = y + CHAIN_B
        tape.append(y)
        tape.append(x)
    g = [0.0] * len(tape)
    g[-1] = 1.0
    for k in range(len(tape) - 1, 0, -1):
        # Odd nodes are y = x * A (local gradient A), even ones x = y + B (local gradient 1).
        local = CHAIN_A if k % 2 else 1.0
        g[k - 1] += local * g[k]
    return x, g[0]


def engine_chain(x0, steps: int = CHAIN_STEPS):
    x0.grad = None
    x = x0
    for _ in range(steps):
        x = x * CHAIN_A + CHAIN_B
    x.backward()
    return x


def bench_deep_chain(cfg: Config) -> list[Row]:
    x0 = cg.tensor(CHAIN_X0, requires_grad=True)
    want_out, want_grad = python_chain(CHAIN_X0)
    out = engine_chain(x0)
    harness.check_close("deep chain output", float(out.data), want_out, rtol=1e-12)
    if x0.grad is None:
        raise AssertionError("deep chain: no gradient on the leaf")
    harness.check_close("deep chain gradient", float(x0.grad), want_grad, rtol=1e-9)
    del out

    harness.freeze()
    timing = harness.measure(lambda: python_chain(CHAIN_X0), lambda: engine_chain(x0), cfg)
    return [harness.timing_row(f"deep chain ({CHAIN_STEPS:,} x*a+b) fwd+bwd", "pure Python",
                               timing, "ms/pass", 1e3, target=10.0)]
