"""Circuit pictures: every wire's value and gradient, valid SVG and PNG, freed circuits,
huge circuits, and the staged listing of the notes' staged example.

Expected numbers are computed here with plain math, never read back from the code under
test; they are written with 4 significant digits, as the pictures write them.
"""

import gc
import math
import struct
import tracemalloc
import weakref
import xml.etree.ElementTree as ET
from collections import Counter

import numpy as np
import pytest

import circuitgrad as cg
from circuitgrad.core import node as core_node
from circuitgrad.core.backward import backprop
from circuitgrad.core.gate import call
from circuitgrad.draw import (
    CircuitTooLargeError,
    DrawError,
    EngineNotFoundError,
    Picture,
    draw,
    find_engine,
    read_circuit,
    to_dot,
)
from circuitgrad.draw.format import ReleasedValue
from circuitgrad.errors import GraphFreedError
from circuitgrad.gates.elementwise import FORMULA_EXTRAS, identity
from circuitgrad.gates.indexing import scatter_add
from circuitgrad.nn import functional as F
from circuitgrad.staged import staged
from circuitgrad.tensor import apply
from support import four

SVG = "{http://www.w3.org/2000/svg}"
RED, GREEN = "#cf222e", "#1a7f37"


def sigmoid(v):
    return 1.0 / (1.0 + math.exp(-v))


def leaf(value, name):
    return cg.tensor(value, requires_grad=True, name=name)


def wires(svg_text):
    """(value, gradient) texts of every wire of the picture, from the SVG's edges."""
    root = ET.fromstring(svg_text)
    out = []
    for group in root.iter(SVG + "g"):
        if group.get("class") != "edge":
            continue
        green = [t.text for t in group.iter(SVG + "text") if t.get("fill") == GREEN]
        red = [t.text for t in group.iter(SVG + "text") if t.get("fill") == RED]
        out.append((" ".join(green), " ".join(red) or None))
    return out


# ----- the notes' circuits, with their numbers worked out by hand ----------------------------
def add_multiply():
    x, y, z = leaf(-2.0, "x"), leaf(5.0, "y"), leaf(-4.0, "z")
    f = (x + y) * z
    q, dq = -2.0 + 5.0, -4.0                     # dq = z
    expected = [(-2.0, dq), (5.0, dq), (q, dq), (-4.0, q), (q * -4.0, 1.0)]
    return f, expected


def sigmoid_neuron():
    # the notes' figure: gates *, *, +, +, *-1, exp, +1, 1/x
    w0, x0, w1, x1, w2 = (leaf(v, n) for v, n in ((2.0, "w0"), (-1.0, "x0"), (-3.0, "w1"),
                                                   (-2.0, "x1"), (-3.0, "w2")))
    f = 1.0 / (1.0 + cg.exp((w0 * x0 + w1 * x1 + w2) * -1.0))
    dot = 2.0 * -1.0 + -3.0 * -2.0 + -3.0
    e = math.exp(-dot)
    out = 1.0 / (1.0 + e)
    dden = -1.0 / (1.0 + e) ** 2          # 1/x gate
    dexp = dden                           # +1 gate
    dneg = e * dexp                       # exp gate
    ddot = -1.0 * dneg                    # *-1 gate
    expected = [(2.0, -1.0 * ddot), (-1.0, 2.0 * ddot), (-3.0, -2.0 * ddot),
                (-2.0, -3.0 * ddot), (-2.0, ddot), (6.0, ddot), (4.0, ddot), (-3.0, ddot),
                (dot, ddot), (-dot, dneg), (e, dexp), (1.0 + e, dden), (out, 1.0)]
    return f, expected


def gradient_patterns():
    x, y, z, w = leaf(3.0, "x"), leaf(-4.0, "y"), leaf(2.0, "z"), leaf(-1.0, "w")
    f = 2 * (x * y + cg.maximum(z, w))
    expected = [(3.0, -8.0), (-4.0, 6.0), (2.0, 2.0), (-1.0, 0.0), (-12.0, 2.0), (2.0, 2.0),
                (-10.0, 2.0), (-20.0, 1.0)]
    return f, expected


@pytest.mark.parametrize("circuit", [add_multiply, sigmoid_neuron, gradient_patterns])
def test_svg_carries_every_wires_value_and_gradient(circuit):
    f, expected = circuit()
    picture = draw(f)
    want = Counter((four(v), four(g)) for v, g in expected)
    assert Counter(wires(picture.svg())) == want
    assert picture.gates == len(expected) - sum(1 for t in cg_inputs(f))


def cg_inputs(f):
    from circuitgrad.core.graph import topological
    return [t for t in topological(f) if t.is_leaf]


def test_gates_are_labelled_with_their_operation_and_inputs_with_their_names():
    f, _ = sigmoid_neuron()
    texts = draw(f).texts()
    for label in ("*", "+", "*-1", "exp", "+1", "1/x", "w0", "x0", "w1", "x1", "w2", "f"):
        assert label in texts, label
    patterns, _ = gradient_patterns()
    assert {"max", "*2", "+", "*"} <= set(draw(patterns).texts())


def test_svg_parses_and_png_is_a_valid_image_of_sensible_size(tmp_path):
    f, _ = gradient_patterns()
    picture = draw(f, title="f = 2 * (x * y + max(z, w))")
    svg_path = picture.save(tmp_path / "patterns.svg")
    root = ET.parse(svg_path).getroot()
    assert root.tag == SVG + "svg"
    png = picture.save(tmp_path / "patterns.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    length, kind = struct.unpack(">I4s", png[8:16])
    assert kind == b"IHDR" and length == 13
    width, height = struct.unpack(">II", png[16:24])
    assert 300 <= width <= 4000 and 150 <= height <= 3000
    assert png[-8:-4] == b"IEND"
    assert (tmp_path / "patterns.png").stat().st_size > 5000


def test_jupyter_shows_the_picture_inline():
    f, _ = add_multiply()
    picture = draw(f)
    assert "<svg" in picture._repr_svg_()
    assert picture._repr_png_()[:4] == b"\x89PNG"
    assert "2 gates" in repr(picture)


def test_gradients_are_those_backward_gives_before_and_after_backward():
    x, y = leaf(3.0, "x"), leaf(-4.0, "y")
    f = (x + cg.sigmoid(y)) / (cg.sigmoid(x) + (x + y) ** 2)
    before = wires(draw(f).svg())                # before backward: values and gradients
    f.backward(retain_graph=True)
    after = wires(draw(f).svg())                 # the circuit was kept: same picture
    assert before == after
    assert (four(3.0), four(float(x.grad))) in after
    assert x.grad is not None and y.grad is not None
    g = f * 1.0
    g.backward()                                 # walks the circuit, frees its saved values
    assert Counter(wires(draw(g).svg())) == Counter(before + [(four(float(g)), four(1.0))])


def test_grads_false_hides_gradients_and_a_non_scalar_output_needs_g():
    f, _ = add_multiply()
    assert all(grad is None for _, grad in wires(draw(f, grads=False).svg()))
    v = leaf([1.0, 2.0], "v")
    picture = draw(v * v)
    assert all(grad is None for _, grad in wires(picture.svg()))
    assert any("pass the upstream gradient" in t for t in picture.texts())
    with_g = wires(draw(v * v, g=np.array([1.0, -1.0])).svg())
    assert ("[1.000, 2.000]", "[2.000, -4.000]") in with_g   # 2 v g, before the fork
    assert ("[1.000, 4.000]", "[1.000, -1.000]") in with_g   # the output wire carries g


def test_a_fork_meets_a_dot_and_its_branches_add_up():
    x = leaf(3.0, "x")
    f = x * x + x                                # df/dx = 2x + 1 = 7
    got = Counter(wires(draw(f).svg()))
    assert got[(four(3.0), four(7.0))] == 1     # the wire before the fork: the sum
    assert got[(four(3.0), four(3.0))] == 2     # x*x sends x back along each of its wires
    assert got[(four(3.0), four(1.0))] == 1     # + sends 1 back


def test_names_given_by_the_user_are_kept_and_names_true_labels_every_wire():
    x, y = leaf(-2.0, "x"), leaf(5.0, "y")
    q = x + y
    q.name = "q"
    f = q * leaf(-4.0, "z") + (x * y)
    texts = draw(f).texts()
    assert "q" in texts and "xy" not in texts
    assert "xy" in draw(f, names=True).texts()


def test_large_tensors_show_shape_and_a_summary_small_ones_their_values():
    W = leaf(np.arange(50.0).reshape(5, 10) / 10, "W")
    X = leaf(np.ones((10, 3)), "X")
    texts = draw((W @ X).sum()).texts()
    assert "5×10" in texts and "10×3" in texts
    assert "5×10, mean 2.450, range [0.000, 4.900]" in texts
    small = draw((leaf([1.0, -2.0], "v") * 2).sum()).texts()
    assert "[1.000, -2.000]" in small and "[2.000, 2.000]" in small


def test_a_huge_circuit_is_refused_with_a_way_to_draw_part_of_it():
    x = leaf(1.0, "x")
    y = x
    for k in range(300):
        y = y * 1.001 + 0.001
        if k == 280:
            middle = y
    with pytest.raises(CircuitTooLargeError, match="stop_at") as err:
        draw(y)
    assert "more than 200 gates" in str(err.value)
    part = draw(y, stop_at=[middle])
    assert part.gates == 2 * (300 - 281)
    assert draw(y, max_gates=1000).gates == 600


def test_save_by_suffix_and_a_clear_error_for_an_unknown_one(tmp_path):
    f, _ = add_multiply()
    picture = draw(f)
    assert picture.save(tmp_path / "f.dot").read_text().startswith("digraph circuit")
    assert picture.save(tmp_path / "f", format="svg").read_text().lstrip().startswith("<?xml")
    with pytest.raises(DrawError, match=r"\.svg, \.png or \.dot"):
        picture.save(tmp_path / "f.jpg")


def test_a_missing_engine_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("CIRCUITGRAD_DOT", "/nonexistent/dot")
    assert find_engine() is None
    picture = Picture("digraph { a -> b }")
    with pytest.raises(EngineNotFoundError, match="CIRCUITGRAD_DOT"):
        picture.svg()
    assert picture._repr_svg_() is None          # Jupyter falls back to the text repr
    assert "circuitgrad[draw]" in repr(picture)


# ----- the staged listing of the notes' staged example ----------------------------------------
def notes_staged_numbers(x, y):
    """The notes' staged forward and backward pass, written out here with plain math."""
    sigy = 1.0 / (1 + math.exp(-y))
    num = x + sigy
    sigx = 1.0 / (1 + math.exp(-x))
    xpy = x + y
    xpysqr = xpy ** 2
    den = sigx + xpysqr
    invden = 1.0 / den
    f = num * invden
    dnum, dinvden = invden, num
    dden = (-1.0 / den ** 2) * dinvden
    dsigx = dxpysqr = dden
    dxpy = (2 * xpy) * dxpysqr
    dx1 = dy1 = dxpy
    dx2 = (1 - sigx) * sigx * dsigx
    dx3 = dnum
    dsigy = dnum
    dy2 = ((1 - sigy) * sigy) * dsigy
    forward = [("x", "", x), ("y", "", y), ("sigy", "sigmoid(y)", sigy),
               ("num", "x + sigy", num), ("sigx", "sigmoid(x)", sigx),
               ("xpy", "x + y", xpy), ("xpysqr", "xpy**2", xpysqr),
               ("den", "sigx + xpysqr", den), ("invden", "1 / den", invden),
               ("f", "num * invden", f)]
    backward = [("df", "=", "", 1.0),
                ("dnum", "=", "invden * df", dnum),
                ("dinvden", "=", "num * df", dinvden),
                ("dden", "=", "(-1 / den**2) * dinvden", dden),
                ("dsigx", "=", "(1) * dden", dsigx),
                ("dxpysqr", "=", "(1) * dden", dxpysqr),
                ("dxpy", "=", "(2 * xpy) * dxpysqr", dxpy),
                ("dx", "=", "(1) * dxpy", dx1),
                ("dy", "=", "(1) * dxpy", dy1),
                ("dx", "+=", "((1 - sigx) * sigx) * dsigx", dx2),
                ("dx", "+=", "(1) * dnum", dx3),
                ("dsigy", "=", "(1) * dnum", dsigy),
                ("dy", "+=", "((1 - sigy) * sigy) * dsigy", dy2)]
    return forward, backward, dx1 + dx2 + dx3, dy1 + dy2


def staged_example():
    """The notes' forward code, gate by gate, with the notes' names."""
    x, y = leaf(3.0, "x"), leaf(-4.0, "y")
    return x, y, (x + cg.sigmoid(y)) * (1.0 / (cg.sigmoid(x) + (x + y) ** 2))


def test_staged_listing_is_the_notes_backward_pass_with_the_engines_numbers():
    x, y, f = staged_example()
    forward, backward, dx, dy = notes_staged_numbers(3.0, -4.0)
    listing = staged(f)
    assert [(s.target, s.expr) for s in listing.forward] == [(t, e) for t, e, _ in forward]
    assert np.allclose([float(s.value) for s in listing.forward], [v for *_, v in forward],
                       rtol=1e-12)
    assert [(s.target, s.op, s.expr) for s in listing.backward] == \
        [(t, op, e) for t, op, e, _ in backward]
    assert np.allclose([float(s.value) for s in listing.backward],
                       [v for *_, v in backward], rtol=1e-12)
    f.backward()                                 # the engine's own gradients
    assert math.isclose(float(x.grad), dx, rel_tol=1e-12)
    assert math.isclose(float(y.grad), dy, rel_tol=1e-12)
    text = str(listing)
    assert f"dx += ((1 - sigx) * sigx) * dsigx = {four(backward[9][3])}" in text
    assert f"sigy = sigmoid(y) = {four(forward[2][2])}" in text
    assert f"dx is now {four(dx)}" in text


def test_staged_listing_agrees_with_cg_grad_where_available():
    grad = getattr(cg, "grad", None)
    if grad is None:
        pytest.skip("cg.grad is not there yet")
    dfdx, dfdy = grad(lambda a, b: (a + cg.sigmoid(b)) / (cg.sigmoid(a) + (a + b) ** 2),
                      argnums=(0, 1))(3.0, -4.0)
    _, _, dx, dy = notes_staged_numbers(3.0, -4.0)
    assert math.isclose(float(dfdx), dx, rel_tol=1e-12)
    assert math.isclose(float(dfdy), dy, rel_tol=1e-12)


def test_staged_remainder_lists_its_local_gradients_with_the_engines_numbers():
    x, y = leaf(5.5, "x"), leaf(2.0, "y")
    listing = staged((x % y) * x)
    (x % y * x).backward()
    text = str(listing)
    assert "remainder1 = x % y = 1.500" in text
    # d(x % y)/dy = -floor(x / y) = -2, times the upstream x = 5.5
    assert "dy = (-floor(x / y)) * dremainder1 = -11.00" in text
    assert float(y.grad) == -11.0 and float(x.grad) == 1.5 + 5.5


def test_every_gates_shares_add_up_to_the_gradient_backward_gives():
    rng = np.random.default_rng(0)
    W = leaf(rng.standard_normal((3, 4)), "W")
    b = leaf(rng.standard_normal(3), "b")
    v = leaf(rng.standard_normal(4), "v")
    h = cg.relu(W @ v + b)
    loss = (cg.log_softmax(h * h + h) ** 2).mean() + cg.maximum(h, 0.1).sum()
    listing = staged(loss)
    totals = {}
    for step in listing.backward[1:]:
        if "[" in step.target:
            continue
        totals[step.target] = totals.get(step.target, 0) + np.asarray(step.value)
    loss.backward()
    for t, name in ((W, "W"), (b, "b"), (v, "v")):
        assert np.allclose(totals["d" + name], t.grad, rtol=1e-12, atol=1e-15)


def test_large_value_no_rule_needed_is_drawn_by_its_shape():
    W = cg.tensor(np.full((100, 100), 0.01), requires_grad=True, name="W")
    y = (np.ones((64, 100)) @ W + 1.0).relu().sum()   # add never reads the product
    texts = " ".join(cg.draw(y).texts())
    assert "64×100, not kept" in texts
    assert "100×100" in texts


# ----- drawing after backward() -------------------------------------------------------------
def fork_and_arrays():
    """Forks, a broadcast, a reduction and a parameterised gate, all small."""
    W = leaf(np.array([[0.5, -1.0, 2.0], [1.5, 0.25, -0.5]]), "W")
    b = leaf(np.array([0.1, -0.2]), "b")
    v = leaf(np.array([1.0, -2.0, 0.5]), "v")
    h = cg.tanh(W @ v + b)
    return (h * h + h).sum() + cg.maximum(h, 0.0).mean(), None


def readme_example():
    x, y = leaf(3.0, "x"), leaf(-4.0, "y")
    return (x + cg.sigmoid(y)) / (cg.sigmoid(x) + (x + y) ** 2), None


AFTER_BACKWARD = [add_multiply, sigmoid_neuron, gradient_patterns, fork_and_arrays,
                  readme_example]


@pytest.mark.parametrize("circuit", AFTER_BACKWARD)
def test_after_backward_the_picture_and_listing_show_that_pass(circuit):
    f, _ = circuit()
    dot, listing = to_dot(read_circuit(f)), str(staged(f))
    f.backward()
    assert to_dot(read_circuit(f)) == dot
    assert str(staged(f)) == listing


def test_the_picture_shows_this_passs_gradients_not_the_accumulated_grad():
    x, y = leaf(3.0, "x"), leaf(-4.0, "y")
    f1 = x * y
    f1.backward()
    f2 = x * y * 2.0
    want = to_dot(read_circuit(f2))
    f2.backward()                             # x.grad is now -4 + -8
    assert float(x.grad) == -12.0
    assert to_dot(read_circuit(f2)) == want
    assert (four(3.0), four(-8.0)) in wires(draw(f2).svg())


def test_gradients_drawn_after_backward_survive_an_in_place_update():
    f, _ = fork_and_arrays()
    before = read_circuit(f)
    f.backward()
    leaves = [n.tensor for n in before.nodes if n.kind == "input"]
    for p in leaves:
        p.data -= 0.1 * p.grad                # what an optimizer does after backward
    after = read_circuit(f)
    for old, new in zip(before.nodes, after.nodes, strict=True):
        assert old.name == new.name
        if old.grad is not None:
            np.testing.assert_allclose(new.grad, old.grad, rtol=1e-12)
        for i, share in enumerate(old.shares):
            operand = old.operands[i][1]
            if share is not None and len(operand.consumers) == 1:  # forks: recomputed
                np.testing.assert_allclose(new.shares[i], share, rtol=1e-12)


def test_a_second_backward_through_a_drawn_circuit_still_raises():
    x = leaf(2.0, "x")
    f = x * x + 1.0
    f.backward()
    draw(f)
    with pytest.raises(GraphFreedError, match="a second time.*retain_graph=True"):
        f.backward()
    with pytest.raises(DrawError, match="retain_graph=True"):
        read_circuit(f, g=1.0)
    g = f * 3.0                               # a new output through the walked circuit
    with pytest.raises(GraphFreedError, match="another output"):
        draw(g)
    assert "*3" in draw(g, grads=False).texts()


def test_a_released_large_value_is_labelled_and_small_ones_keep_theirs():
    size = core_node.KEEP_VALUES_BELOW
    x = leaf(np.full(size, 0.5), "x")
    s = leaf(2.0, "s")
    h = x * s                                 # large: let go by backward
    f = (h * h).sum() * s
    f.backward()
    c = read_circuit(f)
    by_name = {n.name: n for n in c.nodes}
    assert isinstance(by_name["x"].value, ReleasedValue)
    assert isinstance(by_name[c.nodes[2].name].value, ReleasedValue)   # h = x * s
    texts = " ".join(draw(f).texts())
    assert f"({size},), not kept" in texts
    assert "let go of the large values" in texts
    assert four(2.0) in texts and four(float(f)) in texts   # small values stay
    # the sum's output is small: its gradient is the upstream s, passed on unchanged
    assert (four(size * 1.0), four(2.0)) in wires(draw(f).svg())


def test_a_training_loop_keeping_its_losses_keeps_no_batch_alive():
    rng = np.random.default_rng(0)
    W = leaf(rng.standard_normal((100, 10)) * 0.1, "W")
    losses, batches, activations = [], [], []
    tracemalloc.start()
    try:
        for _ in range(5):
            X = cg.tensor(rng.standard_normal((500, 100)), name="X")  # 400 kB a batch
            h = cg.relu(X @ W)
            loss = (h * h).mean()
            batches.append(weakref.ref(X))
            activations.append(weakref.ref(h.data))
            loss.backward()
            W.data -= 0.01 * W.grad
            W.grad = None
            losses.append(loss)
            del X, h, loss
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert all(ref() is None for ref in batches + activations)   # no gc.collect() needed
    assert held < 200_000                    # well under one batch
    assert "500×100, not kept" in " ".join(draw(losses[0]).texts())


def test_building_gradients_as_circuits_leaves_no_cycles_on_the_wires():
    gc.collect()
    gc.disable()
    try:
        x = leaf(np.array([0.5, 1.5]), "x")
        y = (cg.sin(x) * x * x).sum()
        (dx,) = backprop([y], [np.float64(1.0)], wrt=[x], retain_graph=True,
                        create_graph=True)
        dx.sum().backward()                   # a plain walk through the gradient's circuit
        assert x.grad is not None
        del x, y, dx
        assert gc.collect() == 0              # freed by reference counting alone
    finally:
        gc.enable()


# ----- every listed backward formula gives the listed number --------------------------------
def run_listing(listing):
    """Execute a staged listing's backward pass as the NumPy program it reads as.

    Each right-hand side is evaluated in an environment of the listed forward values and
    the gradients listed so far; it must give the value listed beside it (summed to the
    input's shape where the line's note says so). Returns the gradients the program ends
    with.
    """
    env = {name: getattr(np, name) for name in dir(np) if not name.startswith("_")}
    env.update(FORMULA_EXTRAS)  # digamma, which gammaln's derivative names
    # the functions the forward lines of the neural-network gates name, on NumPy arrays
    env.update(softmax=lambda x, axis=-1: cg.softmax(x, axis=axis).data,
               unfold=lambda *a, **k: F.unfold(*a, **k).data,
               fold=lambda *a, **k: F.fold(*a, **k).data)
    env.update({s.target: np.asarray(s.value) for s in listing.forward})
    seed = listing.backward[0]
    env[seed.target] = np.asarray(seed.value)
    grads = {}
    for step in listing.backward[1:]:
        assert "/d" not in step.expr and "symbolic" not in step.note, \
            f"no formula listed: {step}"
        with np.errstate(all="ignore"):
            value = np.asarray(eval(step.expr, env), dtype=np.float64)
        listed = np.asarray(step.value)
        if step.note.startswith("summed to"):
            value = cg.core.backward.unbroadcast(value, listed.shape)
        assert value.shape == listed.shape, f"{step}: formula gives shape {value.shape}"
        np.testing.assert_allclose(value, listed, rtol=1e-10, atol=1e-12, err_msg=str(step))
        name = step.target.split("[")[0]
        if "[" in step.target:              # dx[index] += dgate: entries add up
            np.add.at(grads[name], step.node.params["index"], value)
        elif step.op == "+=":
            grads[name] = grads[name] + value
        else:
            grads[name] = value.copy()
        wire = np.asarray(env.get(name[1:], 0.0))
        if wire.dtype.kind == "f":          # a gradient has its wire's precision, as in
            grads[name] = grads[name].astype(wire.dtype)    # the engine (float32 casts)
        env[name] = grads[name]
    return grads


def formula_circuits():
    """(circuit builder, description) pairs covering every gate with a listed formula, in
    several shapes: broadcasting, batched and 1-d matmul, reductions over no, one and
    several axes with and without keepdims, ties, -inf slices, transposes."""
    rng = np.random.default_rng(1)

    def leaves(names, *shapes, positive=False):
        values = [rng.standard_normal(shape) for shape in shapes]
        return [leaf(np.abs(v) + 0.5 if positive else v, name)
                for v, name in zip(values, names.split(), strict=True)]

    def project(y, k):  # a random upstream gradient for every entry of y (named constant)
        r = cg.tensor(rng.standard_normal(y.shape), name=f"r{k}")
        return (y * r).sum() if y.ndim else y * r

    def elementwise():
        a, b = leaves("a b", (3, 4), (4,))
        p, q = leaves("p q", (3, 4), (4,), positive=True)
        return [(a + b) * (a - b) / q, (-a) % 2 * b, p ** q, a ** 3, q ** -1, q ** 0.5,
                a ** 2, p ** 1, p ** 0, cg.exp(a), cg.expm1(b), cg.log(p), cg.log1p(q),
                cg.sqrt(p), abs(a), cg.relu(a), cg.sigmoid(b), cg.tanh(a), cg.sin(a),
                cg.cos(b), cg.maximum(a, b), cg.minimum(a, 0.5), 2 / a]

    def pow_at_zero():
        x, y = leaf(np.array([0.0, 2.0, 3.0]), "x"), leaf(np.array([2.0, 0.5, -1.0]), "y")
        return [x ** y]

    def special_values():  # NaN inputs that are the output; powers at 0 ** 0 and below 0
        n = leaf(np.array([np.nan, 1.0, -1.0, np.nan]), "n")
        m = leaf(np.array([1.0, np.nan, -1.0, np.nan]), "m")
        x, y = leaf(np.array([0.0, -2.0, 0.0, 2.0]), "x"), leaf(np.array([0.0, 2.0, 2.0, 0.0]), "y")
        return [cg.relu(n), cg.maximum(n, m), cg.minimum(m, n), cg.clip(n, 0, 0.5),
                cg.clip(m, hi=0.0), n.max(), n.reshape(2, 2).min(axis=1), x ** y]

    def ties():
        a = leaf(np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]]), "a")
        b = leaf(np.array([1.0, 3.0, 0.0]), "b")
        return [cg.maximum(a, b), cg.minimum(a, b), a.max(), a.max(axis=1),
                a.min(axis=0, keepdims=True), a.max(axis=(0, 1), keepdims=True)]

    def reductions():
        (a,) = leaves("a", (2, 3, 4))
        return [a.sum(axis=1), a.mean(axis=(0, 2)), a.max(axis=2), a.min(), a.sum(),
                a.mean(axis=-1, keepdims=True), cg.logsumexp(a, axis=1), a.mean(),
                cg.logsumexp(a, axis=(0, 2), keepdims=True), cg.logsumexp(a)]

    def minus_inf():
        a = leaf(np.array([[0.0, -np.inf, 1.0], [-np.inf, -np.inf, -np.inf]]), "a")
        # the output stays finite: the -inf slices only pass zero gradients back
        return [cg.logsumexp(a, axis=1)[:1], cg.logsumexp(a[0]),
                cg.log_softmax(a, axis=1)[0, np.array([0, 2])]]

    def softmax():
        (a,) = leaves("a", (3, 4))
        return [cg.log_softmax(a, axis=1), cg.log_softmax(a, axis=0)]

    def shapes():
        (a,) = leaves("a", (2, 3, 4))
        return [a.transpose(1, 2, 0).reshape(3, 8) @ a.reshape(8, 3), a.transpose(0, 2, 1),
                a.T, a[1, :, ::2]]

    def matmuls():
        m, n, k = 2, 3, 4
        A, x, y = leaves("A x y", (n, k), (k,), (n,))
        B, C, D = leaves("B C D", (5, n, k), (5, k, m), (1, k, m))
        return [(A @ x) @ y, (y @ A) @ x, x @ x, B @ C, B @ D, A @ C, B @ x, y @ B, A @ C[0]]

    def indexing():
        a = leaf(np.arange(6.0).reshape(2, 3), "a")
        return [a[0, 1], a[:, 1:], a[np.array([1, 1, 0]), np.array([2, 2, 0])],
                a[None, ..., 0], a[a.data > 2]]

    def selection():  # clip (bounds included, numbers and arrays), where, cast, identity
        a, b = leaves("a b", (3, 4), (4,))
        edge = leaf(np.array([-1.0, -0.5, 0.0, 1.0, 2.0]), "edge")
        lo = np.linspace(-1.0, 0.0, 4)
        return [cg.clip(a, -0.5, 0.5), cg.clip(b, lo=0.25), cg.clip(a, hi=0.0),
                cg.clip(a, lo, 1), cg.clip(b, np.array([[-1.0], [0.0]]), 1.5),
                cg.clip(edge, -1, 1), cg.where(a.data > 0, a, b), cg.where(b.data > 0, 2.0, b),
                cg.where(a.data < 0, b, a * 2), a.astype(np.float32),
                b.astype(np.float32).astype(np.float64), apply(identity, (a,))]

    def joins():  # broadcast_to, concatenate, stack; squeeze, expand_dims and swapaxes
        a, b, c, s = leaves("a b c s", (3, 4), (4,), (3, 1), ())
        d = leaf(rng.standard_normal((1, 4)), "d")
        return [cg.broadcast_to(b, (3, 4)), cg.broadcast_to(c, (2, 3, 4)),
                cg.broadcast_to(d, (3, 4)), cg.broadcast_to(s, (2, 3)),
                cg.broadcast_to(c, (3, 5)), cg.concatenate([a, c, a], axis=1),
                cg.concatenate([b, b * 2, d[0]]), cg.concatenate([a, d], axis=0),
                cg.stack([b, b * 2], axis=0), cg.stack([a, a, c * a], axis=2),
                cg.stack([b, d[0]], axis=-1), cg.squeeze(c, 1), cg.expand_dims(b, (0, 2)),
                cg.swapaxes(cg.expand_dims(a, 0), 0, 2)]

    def einsums():
        A, B, x, one = leaves("A B x one", (2, 3), (3, 4), (3,), (1,))
        T = leaf(rng.standard_normal((2, 3, 4)), "T")
        return [cg.einsum("ij,jk->ik", A, B), cg.einsum("ij->", A), cg.einsum("ij->j", A),
                cg.einsum("i,i->", x, x), cg.einsum("ij,j->i", A, one),
                cg.einsum("ij,j->ij", A, x), cg.einsum("bij,jk->bik", T[:, :, :3], B),
                cg.einsum("ijk->ki", T), cg.einsum("i,j->ij", x, one),
                cg.einsum("ij,ij->i", A, A), cg.einsum("ij,jk", A, B)]

    def windows():  # unfold, fold, max-pooling (with and without ties), cross-entropy
        (x,) = leaves("x", (2, 2, 4, 5))
        (w,) = leaves("w", (2, 2, 1, 2, 3, 4))
        tied = leaf(np.round(rng.standard_normal((1, 2, 4, 4))), "tied")
        (scores,) = leaves("scores", (3, 4))
        return [F.unfold(x, 2), F.unfold(x, (3, 2), stride=2, padding=1),
                F.fold(w, (1, 2, 4, 5)), F.fold(w[:, :, :, :, :2, :3], (1, 2, 4, 4),
                                                 stride=2, padding=(0, 1)),
                F.max_pool2d(x, 2), F.max_pool2d(x, (2, 3), stride=1),
                F.max_pool2d(tied, 2), F.max_pool2d(tied, 2, stride=1),
                cg.nn.softmax_cross_entropy(scores, np.array([0, 3, 3])),
                cg.nn.softmax_cross_entropy(scores * 2, np.array([1, 1, 2]))]

    def scatters():
        (v, u) = leaves("v u", (3, 4), (3,))
        return [call(scatter_add, v, index=(np.array([0, 0, 1]),), shape=(2, 4)),
                call(scatter_add, u, index=(1, slice(1, None)), shape=(2, 4)),
                call(scatter_add, u, index=(np.array([2, 0, 2]), np.array([1, 1, 1])),
                     shape=(3, 2))]

    builders = [elementwise, pow_at_zero, special_values, ties, reductions, minus_inf, softmax,
                shapes, matmuls, indexing, selection, joins, einsums, windows, scatters]
    return [pytest.param(lambda b=b: sum(project(t, k) for k, t in enumerate(b())), id=b.__name__)
            for b in builders]


@pytest.mark.parametrize("build", formula_circuits())
def test_every_listed_backward_formula_gives_the_listed_value(build):
    y = build()
    listing = staged(y)
    grads = run_listing(listing)
    y.backward()
    for node in listing.circuit.inputs:
        if node.tensor.requires_grad:
            np.testing.assert_allclose(grads["d" + node.name], node.tensor.grad, rtol=1e-12,
                                       atol=1e-15, err_msg=node.name)


def test_staged_max_tie_and_transpose_formulas_read_as_the_gradient():
    a = leaf(np.array([1.0, 3.0, 3.0]), "a")
    text = str(staged(a.max() * 2))
    assert "da = ((a == maxa) / sum(a == maxa)) * dmaxa = [0.000, 1.000, 1.000]" in text
    b = leaf(np.arange(24.0).reshape(2, 3, 4), "b")
    text = str(staged(b.transpose(1, 2, 0).sum()))
    assert "db = transpose(dtranspose1, (2, 0, 1))" in text
    assert "dc = dtranspose1.T" in str(staged(leaf(np.ones((2, 3)), "c").T.sum()))
    # a repeated index: the line lists the upstream gradient, and says the entries add up
    x = leaf(np.array([1.0, 2.0]), "x")
    text = str(staged((x[np.array([0, 0])] * np.array([1.0, 2.0])).sum()))
    assert "dx[[0, 0]] += dgetitem1 = [1.000, 2.000]" in text
    assert "repeated indices add up" in text


def test_staged_clip_where_and_cross_entropy_read_as_numpy_and_constants_get_lines():
    x, w = leaf(np.array([0.5, 2.0]), "x"), leaf(np.array([1.0, 2.0]), "w")
    text = str(staged((cg.clip(x, -1, 1) * w).sum()))
    assert "clip1 = clip(x, -1, 1) = [0.5000, 1.000]" in text
    assert "dx = ((-1 <= x) & (x <= 1)) * dclip1 = [1.000, 0.000]" in text
    # where's condition is a constant, not a wire: it gets a line of its own to be named by
    text = str(staged(cg.where(np.array([True, False]), x, w).sum()))
    assert "cond = [True, False]\nwhere1 = where(cond, x, w) = [0.5000, 2.000]" in text
    assert "dx = where(cond, dwhere1, 0) = [1.000, 0.000]" in text
    assert "dw = where(cond, 0, dwhere1) = [0.000, 1.000]" in text
    s = leaf(np.array([[0.0, 0.0], [0.0, math.log(3.0)]]), "s")
    text = str(staged(cg.nn.softmax_cross_entropy(s, np.array([0, 1]))))
    assert "labels = [0, 1]\nf = softmax_cross_entropy(s, labels)" in text
    # (softmax(s) - onehot) / N: [[0.5 - 1, 0.5], [0.25, 0.75 - 1]] / 2
    assert ("ds = (softmax(s, axis=1) - eye(2)[labels]) / 2 * df = "
            "[[-0.2500, 0.2500], [0.1250, -0.1250]]") in text


def test_a_gate_without_a_formula_is_listed_symbolically_and_says_so():
    class Twice(cg.Function):
        @staticmethod
        def forward(ctx, a):
            return 2 * a

        @staticmethod
        def backward(ctx, g):
            return 2 * g

    x = leaf(np.array([0.5, 2.0]), "x")
    step = staged(Twice.apply(x).sum()).backward[-1]
    assert step.expr == "(dTwice1/dx) * dTwice1"
    assert "symbolic: no formula for Twice" in str(step)
    np.testing.assert_array_equal(step.value, [2.0, 2.0])


def test_a_circuit_too_large_to_look_at_is_freed_by_backward():
    from circuitgrad.core.backward import KEEP_CIRCUITS_UP_TO
    x = leaf(0.5, "x")
    y = x
    for _ in range(KEEP_CIRCUITS_UP_TO + 1):
        y = y * 1.0001
    y.backward()
    assert float(x.grad) == pytest.approx(1.0001 ** (KEEP_CIRCUITS_UP_TO + 1))
    with pytest.raises(cg.GraphFreedError, match="freed by backward"):
        cg.draw(y, max_gates=None)
    with pytest.raises(cg.GraphFreedError):
        y.backward()
    small = leaf(0.5, "s") * 2.0   # at the limit or below, the circuit stays
    small.backward()
    assert "digraph" in cg.draw(small).source
