"""NumPy functions on tensors, checked against NumPy: clip's bounds, reshape orders, norms,
functions whose result has no gradient, axis=None, and the names in error messages."""

import numpy as np
import pytest

import circuitgrad as cg

INF = np.inf


def leaf(value):
    return cg.tensor(np.array(value, dtype=np.float64), requires_grad=True)


# ----- clip ---------------------------------------------------------------------------------
def test_np_clip_differentiates_a_tensor_bound():
    x0 = np.array([-1.0, 0.1, 2.0, 0.5])
    lo0, hi0 = np.array([-0.3, -0.2, -0.3, 0.6]), np.array([0.3, 0.4, 1.5, 0.9])
    g_lo, g_hi = cg.grad(lambda lo, hi: np.sum(np.clip(x0, lo, hi)), argnums=(0, 1))(lo0, hi0)
    np.testing.assert_array_equal(g_lo, [1.0, 0.0, 0.0, 1.0])
    np.testing.assert_array_equal(g_hi, [0.0, 0.0, 1.0, 0.0])
    report = cg.check_grad(lambda x, lo, hi: np.clip(x, lo, hi), x0, lo0, hi0)
    assert report.ok, report
    report = cg.check_grad(lambda x, lo: np.clip(x, a_min=lo, a_max=None), x0, lo0)
    assert report.ok, report


def test_cg_clip_with_a_tensor_bound_gives_array_data():
    a = leaf([-1.0, 0.1, 2.0])
    lo = leaf([-0.3, -0.3, -0.3])
    for y in (cg.clip(a, cg.tensor([-0.3, -0.3, -0.3]), 0.3), cg.clip(a, lo, 0.3)):
        assert type(y.data) is np.ndarray
        np.testing.assert_array_equal(y.data, [-0.3, 0.1, 0.3])
    cg.clip(a, lo, 0.3).sum().backward()
    np.testing.assert_array_equal(a.grad, [0.0, 1.0, 0.0])
    np.testing.assert_array_equal(lo.grad, [1.0, 0.0, 0.0])


@pytest.mark.parametrize("bound_is_tensor", [False, True])
def test_clip_bounds_may_broadcast_the_input(bound_is_tensor):
    rng = np.random.default_rng(0)
    x0, lo0 = rng.standard_normal((3, 1)), -0.5 + 0.1 * rng.standard_normal((3, 4))
    y = cg.clip(leaf(x0), leaf(lo0) if bound_is_tensor else lo0, 0.4)
    np.testing.assert_array_equal(y.data, np.clip(x0, lo0, 0.4))
    if bound_is_tensor:
        report = cg.check_grad(lambda x, lo: cg.clip(x, lo, 0.4), x0, lo0)
    else:
        report = cg.check_grad(lambda x: cg.clip(x, lo0, 0.4), x0)
    assert report.ok, report
    x = leaf(np.zeros((3, 1)))
    cg.clip(x, np.full((3, 4), -1.0), 1.0).sum().backward()
    np.testing.assert_array_equal(x.grad, np.full((3, 1), 4.0))


def test_clip_at_a_bound_passes_or_splits_the_gradient():
    x = leaf([0.5, 1.0])
    cg.clip(x, 0.5, 1.0).sum().backward()  # constant bounds: the gradient passes
    np.testing.assert_array_equal(x.grad, [1.0, 1.0])
    x, lo = leaf([0.5]), leaf([0.5])
    cg.clip(x, lo, 1.0).sum().backward()   # a tensor bound: split as maximum splits it
    assert float(x.grad[0]) == 0.5 and float(lo.grad[0]) == 0.5


# ----- reshape and ravel orders -------------------------------------------------------------
@pytest.mark.parametrize("order", ["C", "F", "A", "f"])
@pytest.mark.parametrize("shape", [(3, 2), (6,), (-1, 3), (1, 2, 3)])
def test_reshape_orders_match_numpy(order, shape):
    for a in (np.arange(6.0).reshape(2, 3), np.asfortranarray(np.arange(6.0).reshape(2, 3))):
        t = cg.tensor(a)
        np.testing.assert_array_equal(np.reshape(t, shape, order=order).data,
                                      np.reshape(a, shape, order=order))
        np.testing.assert_array_equal(cg.reshape(t, shape, order=order).data,
                                      np.reshape(a, shape, order=order))
    report = cg.check_grad(lambda x: np.reshape(x, shape, order=order) * np.arange(6.0)
                           .reshape(np.reshape(a, shape).shape), np.arange(6.0).reshape(2, 3))
    assert report.ok, report


@pytest.mark.parametrize("order", ["C", "F", "A", "K"])
def test_ravel_orders_match_numpy(order):
    for a in (np.arange(24.0).reshape(2, 3, 4),
              np.asfortranarray(np.arange(24.0).reshape(2, 3, 4))):
        np.testing.assert_array_equal(np.ravel(cg.tensor(a), order=order).data,
                                      np.ravel(a, order=order))
    A = np.arange(6.0).reshape(2, 3)
    g = cg.grad(lambda x: np.sum(np.ravel(x, order="F") * np.arange(6.0)))(A)
    np.testing.assert_array_equal(g, np.arange(6.0).reshape(3, 2).T)
    report = cg.check_grad(lambda x: np.ravel(x, order=order), np.arange(24.0).reshape(2, 3, 4))
    assert report.ok, report


def test_unknown_orders_are_refused():
    t = leaf(np.ones((2, 3)))
    with pytest.raises(ValueError, match="order"):
        np.reshape(t, (3, 2), order="K")
    with pytest.raises(ValueError, match="order"):
        np.ravel(t, order="Q")
    strided = t[:, ::2]
    assert not strided.data.flags.c_contiguous and not strided.data.flags.f_contiguous
    with pytest.raises(ValueError, match="order='K'"):  # memory order of a strided view
        np.ravel(strided, order="K")


# ----- options that would change the result are refused, defaults are accepted ---------------
def test_options_numpy_functions_cannot_honour_raise():
    t = leaf([[1.0, 2.0], [3.0, 4.0]])
    out = np.empty((2, 2))
    cases = [
        ("out", lambda: np.dot(t, t, out=out)),
        ("out", lambda: np.outer(t[0], t[1], out=out)),
        ("out", lambda: np.einsum("ij,jk->ik", t, t, out=out)),
        ("dtype", lambda: np.einsum("ij,jk->ik", t, t, dtype=np.float32)),
        ("dtype", lambda: np.concatenate([t, t], dtype=np.float32)),
        ("casting", lambda: np.stack([t, t], casting="unsafe")),
        ("where", lambda: np.sum(t, where=np.array([True, False]))),
        ("where", lambda: np.max(t, where=np.array([True, False]), initial=0.0)),
        ("initial", lambda: np.max(t, initial=5.0)),
        ("out", lambda: np.max(t, 0, out)),
        ("dtype", lambda: np.mean(t, dtype=np.float32)),
    ]
    for option, call in cases:
        with pytest.raises(cg.NotDifferentiableError, match=f"{option}="):
            call()
    with pytest.raises(cg.NotDifferentiableError, match="subscripts"):
        np.einsum(t, [0, 1], t, [1, 2])


def test_default_options_are_accepted():
    a = np.array([[1.0, 2.0], [3.0, 4.5]])
    t = cg.tensor(a)
    assert float(np.sum(t, where=True)) == np.sum(a)
    assert float(np.max(t, where=np.True_)) == 4.5
    np.testing.assert_array_equal(np.concatenate([t, t], casting="same_kind").data,
                                  np.concatenate([a, a]))
    np.testing.assert_allclose(np.einsum("ij,jk->ik", t, t, optimize=True).data, a @ a)
    np.testing.assert_allclose(np.var(t, axis=0, correction=1).data, np.var(a, axis=0, ddof=1))
    np.testing.assert_allclose(np.std(t, correction=1).data, np.std(a, ddof=1))
    np.testing.assert_array_equal(np.swapaxes(t, axis1=0, axis2=1).data, a.T)


# ----- norms ----------------------------------------------------------------------------------
MATRIX_ORDS = [None, "fro", 1, -1, INF, -INF]


@pytest.mark.parametrize("ord", MATRIX_ORDS)
@pytest.mark.parametrize("shape, axis", [((3, 4), None), ((3, 4), (0, 1)), ((3, 4), (1, 0)),
                                         ((2, 3, 4), (0, 2)), ((2, 3, 4), (-1, -3)),
                                         ((2, 3, 4), (2, 1))])
@pytest.mark.parametrize("keepdims", [False, True])
def test_matrix_norms_match_numpy(ord, shape, axis, keepdims):
    x0 = np.random.default_rng(1).standard_normal(shape)
    expected = np.linalg.norm(x0, ord=ord, axis=axis, keepdims=keepdims)
    for norm in (np.linalg.norm, cg.norm):
        got = norm(cg.tensor(x0), ord=ord, axis=axis, keepdims=keepdims)
        assert got.shape == np.shape(expected)
        np.testing.assert_allclose(got.data, expected, rtol=1e-12)
    report = cg.check_grad(lambda x: np.linalg.norm(x, ord=ord, axis=axis, keepdims=keepdims),
                           x0)
    assert report.ok, report


@pytest.mark.parametrize("ord", [None, 2, 1, INF, -INF, 3, 0.5, -1.5, 0])
@pytest.mark.parametrize("shape, axis", [((5,), None), ((3, 4), 1), ((3, 4), -2),
                                         ((2, 3, 4), (1,))])
def test_vector_norms_match_numpy(ord, shape, axis):
    x0 = np.random.default_rng(2).standard_normal(shape)
    for keepdims in (False, True):
        expected = np.linalg.norm(x0, ord=ord, axis=axis, keepdims=keepdims)
        got = np.linalg.norm(cg.tensor(x0), ord=ord, axis=axis, keepdims=keepdims)
        assert got.shape == np.shape(expected)
        np.testing.assert_allclose(got.data, expected, rtol=1e-12)
    if ord != 0:  # ord=0 counts nonzero entries: no gradient
        report = cg.check_grad(lambda x: np.linalg.norm(x, ord=ord, axis=axis), x0)
        assert report.ok, report


@pytest.mark.parametrize("ord", [2, -2, "nuc"])
def test_spectral_and_nuclear_norms_have_gradients_from_the_svd(ord):
    A = np.array([[1.0, -2.0], [3.0, 4.0]])
    assert float(np.linalg.norm(cg.tensor(A), ord=ord)) == pytest.approx(
        np.linalg.norm(A, ord=ord), rel=1e-12)
    assert cg.check_grad(lambda a: np.linalg.norm(a, ord=ord, axis=(0, 1)), A).ok
    assert cg.check_grad(lambda a: cg.norm(a, ord=ord), A).ok


def test_norm_refuses_what_numpy_refuses():
    x = leaf(np.ones((2, 2, 2)))
    with pytest.raises(ValueError):
        np.linalg.norm(x, ord=1)          # an ord needs a 1-d or 2-d input, or an axis
    with pytest.raises(ValueError):
        np.linalg.norm(x, ord="fro", axis=0)
    with pytest.raises(ValueError):
        np.linalg.norm(x, ord=3, axis=(0, 1))
    with pytest.raises(ValueError):
        np.linalg.norm(x, axis=(1, 1))


# ----- functions whose result has no gradient --------------------------------------------------
def test_index_and_constant_results_inside_a_gradient():
    def loss_top(x):
        return x[np.argmax(x)] ** 2

    def loss_acc(x):
        return np.sum(np.zeros_like(x) + np.ones_like(x) * x * x)
    x0 = np.array([1.0, 3.0, 2.0])
    np.testing.assert_array_equal(cg.grad(loss_top)(x0), [0.0, 6.0, 0.0])
    np.testing.assert_array_equal(cg.grad(loss_acc)(x0), [2.0, 6.0, 4.0])
    g = cg.grad(lambda x: np.sum(x[np.argsort(x)[-2:]]) + np.sum(x[np.nonzero(x > 1.5)]))(x0)
    np.testing.assert_array_equal(g, [0.0, 2.0, 2.0])


CONSTANT_CALLS = {
    "argmax": lambda x: np.argmax(x), "argmin": lambda x: np.argmin(x, axis=0),
    "argsort": np.argsort, "nonzero": lambda x: np.nonzero(x > 0)[0],
    "nonzero of x": lambda x: np.nonzero(x)[0], "flatnonzero": np.flatnonzero,
    "isclose": lambda x: np.isclose(x, 1.0), "allclose": lambda x: np.allclose(x, x),
    "array_equal": lambda x: np.array_equal(x, x), "round": lambda x: np.round(x, 1),
    "around": lambda x: np.around(x), "shape": np.shape, "ndim": np.ndim, "size": np.size,
    "count_nonzero": np.count_nonzero, "any": np.any, "all": lambda x: np.all(x > 0),
    "searchsorted": lambda x: np.searchsorted(np.array([0.0, 1.0, 2.0]), x),
    "searchsorted in x": lambda x: np.searchsorted(x, 2.5),
}


@pytest.mark.parametrize("name", CONSTANT_CALLS)
def test_functions_without_a_gradient_give_numpy_results(name):
    x0 = np.array([1.25, -3.5, 2.0, 1.0])
    call = CONSTANT_CALLS[name]
    expected, got = call(x0), call(leaf(x0))
    assert type(got) is type(expected)
    np.testing.assert_array_equal(got, expected)


LIKE_CALLS = {"zeros_like": np.zeros_like, "ones_like": np.ones_like,
              "full_like": lambda x: np.full_like(x, 7.0),
              "empty_like": lambda x: np.empty_like(x) * 0.0}


@pytest.mark.parametrize("name", LIKE_CALLS)
def test_arrays_made_like_a_tensor_are_constant_tensors(name):
    # A constant tensor, not an array, so that NumPy code filling it writes into a tensor
    # (out = np.zeros_like(x); out[i] = ...) and the write is recorded.
    x0 = np.array([1.25, -3.5, 2.0, 1.0])
    made = LIKE_CALLS[name](leaf(x0))
    assert isinstance(made, cg.Tensor) and not made.requires_grad
    np.testing.assert_array_equal(made.data, LIKE_CALLS[name](x0))


def test_full_like_with_a_fill_value_that_needs_a_gradient_is_refused():
    with pytest.raises(cg.NotDifferentiableError, match="np.full_like"):
        np.full_like(leaf([1.0, 2.0]), leaf(2.0))
    np.testing.assert_array_equal(np.full_like(leaf([1.0, 2.0]), cg.tensor(3.0)), [3.0, 3.0])


# ----- axis=None and several axes ------------------------------------------------------------
def test_concatenate_with_axis_none_flattens_first():
    a0, b0 = np.arange(4.0).reshape(2, 2), np.arange(3.0)
    got = np.concatenate([cg.tensor(a0), cg.tensor(b0)], axis=None)
    np.testing.assert_array_equal(got.data, np.concatenate([a0, b0], axis=None))
    report = cg.check_grad(lambda a, b: cg.concatenate([a, b], axis=None), a0, b0)
    assert report.ok, report


def test_stack_and_concatenate_name_an_axis_they_cannot_take():
    a = leaf(np.ones((2, 2)))
    with pytest.raises(TypeError, match="stack.*axis=None"):
        cg.stack([a, a], axis=None)
    with pytest.raises(TypeError, match=r"concatenate.*axis=\(0, 1\)"):
        cg.concatenate([a, a], axis=(0, 1))


def reference_log_softmax(x, axis):
    shifted = x - np.max(x, axis=axis, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


@pytest.mark.parametrize("axis", [None, (0, 1), (1, 0), (0, 2), (-1, 0), (0, 1, 2), 1, ()])
def test_log_softmax_and_softmax_over_several_axes(axis):
    x0 = np.random.default_rng(3).standard_normal((2, 3, 4))
    expected = reference_log_softmax(x0, axis)
    np.testing.assert_allclose(cg.log_softmax(cg.tensor(x0), axis=axis).data, expected,
                               rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(cg.softmax(cg.tensor(x0), axis=axis).data, np.exp(expected),
                               rtol=1e-12)
    report = cg.check_grad(lambda x: cg.log_softmax(x, axis=axis), x0)
    assert report.ok, report
    report = cg.check_grad(lambda x: cg.softmax(x, axis=axis), x0)
    assert report.ok, report


def test_log_softmax_over_several_axes_keeps_minus_inf():
    x0 = np.array([[[-INF, -INF], [-INF, -INF]], [[0.0, -INF], [1.0, 2.0]]])
    x = leaf(x0)
    y = cg.log_softmax(x, axis=(1, 2))
    assert np.all(y.data[0] == -INF)
    np.testing.assert_allclose(y.data[1][np.isfinite(x0[1])],
                               np.array([0.0, 1.0, 2.0]) - np.log(np.exp([0.0, 1, 2]).sum()))
    y[1, 1].sum().backward()
    assert np.all(np.isfinite(x.grad)) and np.all(x.grad[0] == 0)


# ----- error messages name functions as NumPy's documentation does --------------------------
@pytest.mark.parametrize("call, name", [
    (lambda x: np.linalg.eig(x), "np.linalg.eig"),
    (lambda x: np.linalg.eigvals(x), "np.linalg.eigvals"),
    (lambda x: np.fft.fft(x), "np.fft.fft"), (lambda x: np.convolve(x[0], x[1]), "np.convolve"),
    (lambda x: np.sinc(x), "np.sinc"), (lambda x: np.add.reduceat(x, [0]), "np.add.reduceat")])
def test_refused_functions_carry_their_public_name(call, name):
    x = leaf(np.eye(2) + 1.0)
    with pytest.raises(cg.NotDifferentiableError, match=name.replace(".", r"\.") + " has no"):
        call(x)
