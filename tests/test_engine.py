"""Engine behaviour: forks, deep chains, freeing, special values, ties, errors, dtypes."""

import gc
import threading
import weakref

import numpy as np
import pytest

import circuitgrad as cg


def leaf(v, **kw):
    return cg.tensor(v, requires_grad=True, **kw)


# ----- forks and accumulation ----------------------------------------------------------------
def test_fork_adds_gradients():
    a = leaf(3.0)
    b = a + a
    b.backward()
    assert float(a.grad) == 2.0


def test_fork_through_different_paths():
    x = leaf(np.array([1.0, 2.0]))
    y = (x * x).sum() + (3 * x).sum()     # d/dx = 2x + 3
    y.backward()
    np.testing.assert_array_equal(x.grad, [5.0, 7.0])


def test_grad_accumulates_across_calls_until_cleared():
    x = leaf(2.0)
    (x * 3).backward()
    (x * 3).backward()
    assert float(x.grad) == 6.0
    x.grad = None
    (x * 3).backward()
    assert float(x.grad) == 3.0


def test_retain_graph_allows_a_second_backward():
    x = leaf(2.0)
    y = x * x
    y.backward(retain_graph=True)
    y.backward()
    assert float(x.grad) == 8.0


def test_retain_grad_keeps_intermediate_gradient_only_when_asked():
    x = leaf(2.0)
    h = x * 3
    k = (x * 5).retain_grad()
    (h * k).backward()
    assert h.grad is None
    assert float(k.grad) == 6.0


# ----- deep circuits and freeing -------------------------------------------------------------
def test_million_gate_chain_backpropagates_and_is_freed():
    x = leaf(1.0)
    y = x
    for _ in range(1_000_000):
        y = y * 1.0
    y.backward()
    assert float(x.grad) == 1.0
    del y  # freeing a long chain must not recurse either


def test_million_gate_chain_can_be_deleted_without_backward():
    x = leaf(1.0)
    y = x
    for _ in range(1_000_000):
        y = y + 0.0
    del y


def test_second_backward_through_freed_graph_says_so():
    x = leaf(2.0)
    y = x * x
    y.backward()
    with pytest.raises(cg.GraphFreedError, match="retain_graph=True"):
        y.backward()


def test_large_saved_intermediates_are_released_after_backward():
    x = leaf(np.ones(5000))    # large (core.node.KEEP_VALUES_BELOW): small ones stay to draw
    h = x * 2
    ref = weakref.ref(h.data)
    y = (h * h).sum()          # mul reads h
    del h
    assert ref() is not None   # the circuit keeps it for the backward pass
    y.backward()
    assert ref() is None       # ... and lets go of it afterwards, without gc.collect()


def test_a_retained_large_intermediate_dies_with_its_last_reference():
    x = leaf(np.ones((80, 80)))              # large: the intermediate gets its own record
    h = (x * 2).retain_grad()
    (h * h).sum().backward()
    np.testing.assert_array_equal(h.grad, np.full((80, 80), 4.0))
    ref = weakref.ref(h)
    del h
    assert ref() is None                     # no reference cycle: no gc.collect() needed


def test_a_custom_gates_saved_values_are_released_after_backward():
    class Scale(cg.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(np.full_like(x, 3.0))
            return 3 * x

        @staticmethod
        def backward(ctx, g):
            (k,) = ctx.saved
            return k * g

    x = leaf(np.ones(5))
    y = Scale.apply(x)
    ref = weakref.ref(y.params["ctx"].saved[0])
    y.sum().backward()
    assert ref() is None and y is not None   # freed while the output is still alive
    np.testing.assert_array_equal(x.grad, np.full(5, 3.0))


def test_a_backward_inside_a_custom_gates_backward_leaves_the_outer_walk_intact():
    W = leaf(np.array([[1.0, 2.0], [3.0, 4.0]]))

    class Recompute(cg.Function):  # checkpointing: recompute the block, backward through it
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return (x @ W.data).sum(axis=1)

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved
            xt = cg.tensor(x, requires_grad=True)
            with cg.enable_grad():
                ((xt @ W).sum(axis=1) * g).sum().backward()   # reaches W, as the outer does
            return xt.grad

    x = leaf(np.array([[1.0, -1.0], [2.0, 0.5]]))
    loss = (Recompute.apply(x) * 1.0).sum() + (W * W).sum()
    loss.backward()
    # W gets the inner walk's x.T @ ones plus the outer 2 W; x gets ones @ W.T
    np.testing.assert_allclose(W.grad, x.data.T @ np.ones((2, 2)) + 2 * W.data)
    np.testing.assert_allclose(x.grad, np.ones((2, 2)) @ W.data.T)


def test_building_gradients_as_circuits_makes_no_reference_cycles():
    f = lambda a: np.sum(np.sin(a) * a ** 2)  # noqa: E731
    gc.collect()
    gc.disable()
    try:
        for _ in range(20):
            cg.hessian(f)(np.array([0.5, 1.5, 2.5]))
        assert gc.collect() == 0   # everything was freed by reference counting alone
    finally:
        gc.enable()


def test_large_values_no_rule_reads_are_released_before_backward():
    W = leaf(np.ones((100, 100)))
    b = leaf(np.ones(100))
    h = np.ones((64, 100)) @ W          # large: gets its own record
    ref = weakref.ref(h.data)
    z = (h + b).relu()                  # add never reads h, relu reads only its output
    del h
    assert ref() is None                # gone already, as in a hand-written forward pass
    z.sum().backward()
    np.testing.assert_array_equal(W.grad, np.full((100, 100), 64.0))
    np.testing.assert_array_equal(b.grad, np.full(100, 64.0))


def test_large_intermediate_keeps_name_and_retained_gradient():
    x = leaf(np.ones((80, 80)))
    h = (x * 2).retain_grad()
    h.name = "h"
    (h * 3).sum().backward()
    np.testing.assert_array_equal(h.grad, np.full((80, 80), 3.0))
    np.testing.assert_array_equal(x.grad, np.full((80, 80), 6.0))
    assert h.gate.name == "mul" and h.name == "h" and not h.is_leaf


def test_no_grad_records_nothing():
    x = leaf(2.0)
    with cg.no_grad():
        y = x * x
    assert not y.requires_grad and y.is_leaf


# ----- special values: no overflow, no warnings (conftest turns warnings into errors) ---------
@pytest.mark.parametrize("v", [1000.0, -1000.0])
def test_sigmoid_and_tanh_saturate_without_warnings(v):
    x = leaf(v)
    s = cg.sigmoid(x)
    s.backward()
    assert float(s) == (1.0 if v > 0 else 0.0) and float(x.grad) == 0.0
    x = leaf(v)
    t = cg.tanh(x)
    t.backward()
    assert float(t) == np.sign(v) and float(x.grad) == 0.0


def test_exp_at_plus_and_minus_1000():
    x = leaf(-1000.0)
    y = cg.exp(x)
    y.backward()
    assert float(y) == 0.0 and float(x.grad) == 0.0
    x = leaf(1000.0)
    y = cg.exp(x)   # beyond float64: inf, documented, and quiet
    y.backward()
    assert float(y) == np.inf and float(x.grad) == np.inf


def test_logsumexp_large_and_minus_inf_entries():
    x = leaf([1000.0, 1000.0])
    y = cg.logsumexp(x)
    y.backward()
    assert float(y) == pytest.approx(1000 + np.log(2))
    np.testing.assert_allclose(x.grad, [0.5, 0.5])
    x = leaf([-np.inf, 0.0, np.log(3.0)])
    y = cg.logsumexp(x)
    y.backward()
    assert float(y) == pytest.approx(np.log(4.0))
    np.testing.assert_allclose(x.grad, [0.0, 0.25, 0.75])


def test_logsumexp_of_all_minus_inf_is_minus_inf_with_zero_gradient():
    x = leaf([-np.inf, -np.inf])
    y = cg.logsumexp(x)
    y.backward()
    assert float(y) == -np.inf
    np.testing.assert_array_equal(x.grad, [0.0, 0.0])


def test_log_softmax_with_minus_inf_entries():
    x = leaf([[-np.inf, 0.0, np.log(3.0)]])
    y = cg.log_softmax(x, axis=1)
    np.testing.assert_allclose(y.data, [[-np.inf, np.log(0.25), np.log(0.75)]])
    y[:, 1:].sum().backward()
    # d/dx_j sum_{i in {1,2}} (x_i - lse) = [j in {1,2}] - 2 * softmax_j
    np.testing.assert_allclose(x.grad, [[0.0, 1 - 2 * 0.25, 1 - 2 * 0.75]])
    assert np.all(np.isfinite(x.grad))


def test_log_softmax_of_an_all_minus_inf_slice_is_minus_inf_without_nan():
    x = leaf([[1.0, -np.inf], [-np.inf, -np.inf]])
    y = cg.log_softmax(x, axis=1)
    np.testing.assert_array_equal(y.data, [[0.0, -np.inf], [-np.inf, -np.inf]])
    y[0, 0].backward()  # nothing flows into the masked row: its gradient is 0, not NaN
    np.testing.assert_array_equal(x.grad, [[0.0, 0.0], [0.0, 0.0]])


def test_float16_mean_accumulates_like_numpy():
    h = np.full(100_000, 10.0, dtype=np.float16)  # its float16 sum overflows past 65504
    x = leaf(h)
    m = x.mean()
    assert m.dtype == np.float16 and float(m) == float(np.mean(h)) == 10.0
    m.backward()
    assert x.grad.dtype == np.float16 and np.all(x.grad == np.float16(1 / h.size))


def test_logsumexp_and_softmax_take_integer_tensors_as_numpy_does():
    x = cg.tensor(np.array([1, 2]))
    want = np.log(np.exp(1.0) + np.exp(2.0))
    assert float(cg.logsumexp(x)) == pytest.approx(want)
    np.testing.assert_allclose(cg.log_softmax(x).data, [1 - want, 2 - want])


def test_list_constants_are_arrays_in_every_gate():
    x = leaf(np.array([1.0, 2.0]))
    y = ([[1.0, 2.0], [3.0, 4.0]] @ x).sum() + (x ** [1, 2]).sum() + ([2.0, 3.0] ** x).sum()
    y.backward()
    np.testing.assert_allclose(x.grad, [4.0 + 1 + 2 * np.log(2.0), 6.0 + 4 + 9 * np.log(3.0)])


def test_the_exponents_gradient_keeps_float64_over_a_low_precision_base():
    for base in (np.array([100, 50], np.int8), np.array([2.0, 3.0], np.float16)):
        y = leaf(np.array([2.0, 2.0]))
        (cg.tensor(base) ** y).sum().backward()
        wide = base.astype(np.float64)
        np.testing.assert_allclose(y.grad, wide ** 2 * np.log(wide), rtol=1e-14)


def test_a_numpy_complaint_that_is_not_about_shapes_is_a_value_error():
    with pytest.raises(ValueError, match="gate 'pow_const' cannot compute with inputs "
                                         r"\(int64 array of shape \(2,\)\): Integers"):
        cg.tensor(np.array([1, 2])) ** -1


@pytest.mark.parametrize("shape", [(), (3,), (80, 80)])  # (80, 80): a large value's Node
@pytest.mark.parametrize("keep", [False, True])
def test_a_symmetric_gate_with_one_wire_on_both_inputs(shape, keep):
    rng = np.random.default_rng(0)
    x = leaf(rng.standard_normal(shape))
    g = rng.standard_normal(shape)
    y = x * x + (x + x) + cg.maximum(x, x) + cg.minimum(x, x)
    y.backward(g, retain_graph=keep)
    np.testing.assert_allclose(x.grad, g * (2 * x.data + 2 + 1 + 1), rtol=1e-12, atol=1e-14)
    if keep:  # the circuit is still there for a second pass
        x.grad = None
        y.backward(g)
        np.testing.assert_allclose(x.grad, g * (2 * x.data + 4), rtol=1e-12, atol=1e-14)


def test_each_thread_has_its_own_recording_switches():
    inside, checked = threading.Event(), threading.Event()
    seen = {}

    def evaluator():  # holds no_grad() open in its thread ...
        with cg.no_grad():
            inside.set()
            checked.wait(10)
            seen["evaluator"] = (leaf(1.0) * 3).requires_grad

    def trainer():    # ... while this thread records
        inside.wait(10)
        seen["trainer"] = (cg.is_grad_enabled(), (leaf(2.0) * 3).requires_grad,
                           cg.tensor(2.0, requires_grad=True).exp().requires_grad)
        checked.set()

    threads = [threading.Thread(target=evaluator), threading.Thread(target=trainer)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen == {"trainer": (True, True, True), "evaluator": False}
    assert cg.is_grad_enabled() and (leaf(1.0) * 3).requires_grad


# ----- kinks and ties --------------------------------------------------------------------------
def test_maximum_and_minimum_split_ties_evenly():
    for fn in (cg.maximum, cg.minimum):
        x, y = leaf(2.0), leaf(2.0)
        fn(x, y).backward()
        assert float(x.grad) == 0.5 and float(y.grad) == 0.5


def test_max_reduction_splits_ties_evenly():
    x = leaf([1.0, 3.0, 3.0])
    x.max().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 0.5, 0.5])
    x = leaf([[1.0, 1.0], [0.0, 2.0]])
    x.min(axis=1).sum().backward()
    np.testing.assert_array_equal(x.grad, [[0.5, 0.5], [1.0, 0.0]])


def test_relu_and_abs_at_zero_have_zero_gradient():
    x = leaf(0.0)
    cg.relu(x).backward()
    assert float(x.grad) == 0.0
    x = leaf(0.0)
    cg.abs(x).backward()
    assert float(x.grad) == 0.0


# ----- errors ------------------------------------------------------------------------------
def test_matmul_shape_mismatch_names_gate_and_shapes():
    with pytest.raises(cg.ShapeError, match=r"matmul.*\(5, 10\).*\(3, 10\)"):
        leaf(np.ones((5, 10))) @ leaf(np.ones((3, 10)))


def test_matmul_of_scalars_and_bad_transpose_say_what_is_wrong():
    with pytest.raises(cg.ShapeError, match="matmul.*at least one dimension"):
        leaf(2.0) @ cg.tensor(3.0)
    with pytest.raises(cg.ShapeError, match=r"axes \(1, 0\) are out of range.*\(2,\)"):
        leaf([1.0, 2.0]).transpose(1, 0)
    with pytest.raises(cg.ShapeError, match="getitem.*out of bounds"):
        leaf([1.0, 2.0])[5]


def test_broadcast_failure_names_gate_and_shapes():
    with pytest.raises(cg.ShapeError, match=r"add.*\(2, 3\).*\(4,\)"):
        leaf(np.ones((2, 3))) + np.ones(4)
    with pytest.raises(cg.ShapeError, match=r"mul.*\(2, 3\).*\(2,\)"):
        leaf(np.ones((2, 3))) * leaf(np.ones(2))


def test_backward_of_non_scalar_needs_a_gradient():
    y = leaf(np.ones(3)) * 2
    with pytest.raises(cg.ShapeError, match=r"shape \(3,\)"):
        y.backward()


def test_operands_of_the_wrong_kind_name_the_gate_and_what_it_was_given():
    x = cg.tensor(2.0, requires_grad=True)
    with pytest.raises(TypeError, match=r"gate 'add' cannot take inputs \(float64 scalar, "
                                        r"NoneType\)"):
        x + None
    with pytest.raises(TypeError, match=r"gate 'add' cannot take inputs .*str"):
        x + "s"


def test_a_complex_result_is_an_error_not_a_lost_gradient():
    x = cg.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(TypeError, match=r"gate 'mul' made complex128 values from inputs "
                                        r"\(float64 array of shape \(2,\), complex\)"):
        x * 1j
    with pytest.raises(TypeError, match="complex128"):
        np.exp(x) * np.complex128(1j)


def test_backward_with_wrong_shaped_gradient():
    y = leaf(np.ones(3)) * 2
    with pytest.raises(cg.ShapeError, match=r"\(2,\).*\(3,\)"):
        y.backward(np.ones(2))


def test_backward_with_gradient_of_matching_shape():
    x = leaf(np.ones(3))
    (x * 2).backward(np.array([1.0, 2.0, 3.0]))
    np.testing.assert_array_equal(x.grad, [2.0, 4.0, 6.0])


def test_backward_on_tensor_without_gradient_explains():
    with pytest.raises(cg.NotDifferentiableError, match="requires_grad"):
        cg.tensor(2.0).backward()


def test_integer_and_boolean_tensors_cannot_require_gradients():
    with pytest.raises(cg.NotDifferentiableError, match="int64"):
        cg.tensor(np.arange(3), requires_grad=True)
    with pytest.raises(cg.NotDifferentiableError, match="bool"):
        cg.tensor([True, False], requires_grad=True)


def test_integer_tensors_flow_through_a_circuit():
    x = leaf([1.0, 2.0, 3.0])
    idx = cg.tensor(np.array([2, 0]))
    y = (x * cg.tensor(np.array([1, 2, 3]))).sum() + x[idx].sum()
    y.backward()
    np.testing.assert_array_equal(x.grad, [2.0, 2.0, 4.0])


def test_converting_a_tensor_that_needs_gradients_to_an_array_is_an_error():
    x = leaf([1.0, 2.0])
    with pytest.raises(cg.NotDifferentiableError, match="detach"):
        np.asarray(x)
    np.testing.assert_array_equal(np.asarray(cg.tensor([1.0, 2.0])), [1.0, 2.0])


# ----- values and dtypes -------------------------------------------------------------------
def test_dtypes_are_kept():
    assert cg.tensor(1).dtype == np.float64
    assert cg.tensor([1, 2]).dtype == np.float64
    assert cg.tensor(np.arange(3)).dtype == np.int64
    x = leaf(np.ones(3, dtype=np.float32))
    y = (x * 2.5 + 1).exp().sum()
    assert y.dtype == np.float32
    y.backward()
    assert x.grad.dtype == np.float32


def test_mixed_precision_gradient_takes_each_inputs_dtype():
    x = leaf(np.ones(3, dtype=np.float32))
    w = leaf(np.ones(3))
    (x * w).sum().backward()
    assert x.grad.dtype == np.float32 and w.grad.dtype == np.float64


def test_comparisons_give_boolean_tensors_outside_the_circuit():
    x = leaf([1.0, -1.0])
    mask = x > 0
    assert mask.dtype == np.bool_ and not mask.requires_grad
    np.testing.assert_array_equal(mask.data, [True, False])


def test_tensor_basics():
    x = cg.tensor([[1.0, 2.0], [3.0, 4.0]], name="x")
    assert x.shape == (2, 2) and x.ndim == 2 and x.size == 4 and x.name == "x"
    assert x[1, 0].item() == 3.0
    assert isinstance(x.numpy(), np.ndarray)
    assert x.T.data[0, 1] == 3.0
    d = leaf(1.0).detach()
    assert not d.requires_grad and d.is_leaf


def test_source_array_is_copied():
    a = np.ones(3)
    x = cg.tensor(a)
    a[0] = 5
    assert x.data[0] == 1.0


def test_grad_can_be_cleared_or_set_only_to_the_tensors_shape():
    x = leaf(np.ones(2))
    with pytest.raises(cg.ShapeError, match=r"\.grad of a tensor of shape \(2,\).*\(1,\)"):
        x.grad = [1.0]
    x.grad = np.array([0.5, 0.5])
    (x * 2).sum().backward()
    np.testing.assert_array_equal(x.grad, [2.5, 2.5])
    x.grad = None
    assert x.grad is None


def test_data_update_keeps_shape_and_dtype():
    p = leaf(np.ones(3, dtype=np.float32))
    p.data -= 0.5 * np.ones(3)
    assert p.dtype == np.float32
    np.testing.assert_array_equal(p.data, [0.5, 0.5, 0.5])
    with pytest.raises(cg.ShapeError):
        p.data = np.ones(4)


def test_indexing_with_repeated_integers_adds_up():
    x = leaf([1.0, 2.0, 3.0])
    x[[0, 0, 2, 0]].sum().backward()
    np.testing.assert_array_equal(x.grad, [3.0, 0.0, 1.0])


# ----- custom gates --------------------------------------------------------------------------
class Neuron(cg.Function):
    """The notes' sigmoid neuron as a single gate."""

    @staticmethod
    def forward(ctx, w, x):
        f = 1.0 / (1 + np.exp(-(w[0] * x[0] + w[1] * x[1] + w[2])))
        ctx.save_for_backward(w, x, f)
        return f

    @staticmethod
    def backward(ctx, g):
        w, x, f = ctx.saved
        ddot = (1 - f) * f * g
        return np.array([x[0], x[1], 1.0]) * ddot, w[:2] * ddot


def test_custom_gate_sigmoid_neuron():
    w, x = leaf([2.0, -3.0, -3.0]), leaf([-1.0, -2.0])
    f = Neuron.apply(w, x)
    f.backward()
    assert f.gate.name == "Neuron"
    np.testing.assert_allclose(x.grad, [0.39, -0.59], atol=0.005)
    np.testing.assert_allclose(w.grad, [-0.20, -0.39, 0.20], atol=0.005)
    assert cg.check_grad(Neuron.apply, np.array([2.0, -3.0, -3.0]), np.array([-1.0, -2.0])).ok


class WrongShape(cg.Function):
    @staticmethod
    def forward(ctx, x):
        return x * 2

    @staticmethod
    def backward(ctx, g):
        return g[:1] * 2


def test_custom_gate_with_wrong_gradient_shape_names_gate_and_shapes():
    x = leaf(np.ones(3))
    y = WrongShape.apply(x).sum()
    with pytest.raises(cg.ShapeError, match=r"WrongShape.*\(1,\).*\(3,\)"):
        y.backward()


class Cube(cg.Function):
    @staticmethod
    def forward(ctx, x, y):
        ctx.save_for_backward(x, y)
        return x ** 3 * y

    @staticmethod
    def backward(ctx, g):
        x, y = ctx.saved
        return 3 * x ** 2 * y * g, x ** 3 * g


def test_a_custom_gates_backward_runs_once_per_pass_for_all_its_inputs():
    calls = []

    class Sum3(cg.Function):
        @staticmethod
        def forward(ctx, x, y, z):
            return x + y + z

        @staticmethod
        def backward(ctx, g):
            calls.append(1)
            return g, 2 * g, 3 * g

    x, y, z = leaf(1.0), leaf(2.0), leaf(3.0)
    Sum3.apply(x, y, z).backward()
    assert len(calls) == 1
    assert (float(x.grad), float(y.grad), float(z.grad)) == (1.0, 2.0, 3.0)


def test_a_second_derivative_through_a_custom_gate_raises_instead_of_being_wrong():
    class Sq(cg.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved
            return 2 * x * g

    for second in (lambda: cg.grad(cg.grad(lambda x: Sq.apply(x)))(3.0),
                   lambda: cg.hessian(lambda x: Sq.apply(x).sum())(np.array([0.5, 1.0])),
                   lambda: Sq.apply(leaf(3.0)).backward(create_graph=True)):
        with pytest.raises(cg.NotDifferentiableError, match="custom gate 'Sq'"):
            second()
    np.testing.assert_array_equal(cg.grad(lambda x: Sq.apply(x).sum())(np.array([0.5, 1.0])),
                                  [1.0, 2.0])


def test_custom_gate_backward_runs_again_for_a_refilled_gradient():
    x, y = leaf(np.array([1.0, 2.0])), leaf(np.array([3.0, 4.0]))
    out = Cube.apply(x, y)
    g = np.ones(2)
    out.backward(g, retain_graph=True)
    g *= 10  # the same array, refilled: a cached answer would be the first one again
    x.grad = y.grad = None
    out.backward(g)
    np.testing.assert_array_equal(x.grad, 10 * 3 * np.array([1.0, 4.0]) * [3.0, 4.0])
    np.testing.assert_array_equal(y.grad, 10 * np.array([1.0, 8.0]))


# ----- check_grad ----------------------------------------------------------------------------
class BadSquare(cg.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved
        return g * x   # wrong: should be 2 * x * g


def test_check_grad_catches_a_wrong_gradient_and_reports_where():
    report = cg.check_grad(BadSquare.apply, np.array([1.0, 2.0, 3.0]))
    assert not report.ok
    assert report.inputs[0].max_rel_error == pytest.approx(0.5)
    assert "mismatch" in str(report)


def test_check_grad_random_directions_for_big_inputs():
    rng = np.random.default_rng(1)
    a = rng.standard_normal((30, 40))
    report = cg.check_grad(lambda x: (cg.tanh(x) ** 2).sum(), a, directions=5)
    assert report.ok and len(report.inputs) == 1
    assert not cg.check_grad(BadSquare.apply, a, directions=3).ok


def test_check_grad_says_so_when_handed_float32():
    with pytest.warns(UserWarning, match="float32"):
        report = cg.check_grad(lambda x: (x * x).sum(), np.ones(3, dtype=np.float32))
    assert report.ok and "float32" in str(report)
