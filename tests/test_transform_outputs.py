"""What transforms hand back belongs to the caller: plain arrays, never shared memory."""

import numpy as np
import pytest

import circuitgrad as cg


def test_vjp_rows_from_one_refilled_cotangent_buffer_are_the_jacobian():
    x0 = np.array([1.0, 2.0, 3.0])
    for f, jac in ((lambda x: x + 1.0, np.eye(3)),         # the gradient is the cotangent
                   (lambda x: x.T, np.eye(3)),
                   (lambda x: x * x, np.diag(2 * x0))):
        _, back = cg.vjp(f, x0)
        buffer, rows = np.zeros(3), []
        for i in range(3):
            buffer[:] = 0
            buffer[i] = 1
            (row,) = back(buffer)
            assert not np.shares_memory(row, buffer)
            rows.append(row)
        np.testing.assert_array_equal(np.array(rows), jac)


def test_gradients_of_different_arguments_never_share_memory():
    gx, gy = cg.grad(lambda x, y: np.sum(x + y), argnums=(0, 1))(np.ones(3), np.ones(3))
    gx *= 5  # gradients are the caller's to change in place
    np.testing.assert_array_equal(gy, np.ones(3))


def test_a_gradient_made_by_broadcasting_is_a_writeable_array_of_its_own():
    for reduce in (np.sum, np.mean):
        g = cg.grad(reduce)(np.ones((2, 3)))
        assert g.flags.writeable and g.base is None
        g *= 0.5


def test_aux_comes_back_as_plain_arrays():
    def loss(x):
        pred = x * 2
        return np.sum(pred ** 2), {"pred": pred, "n": 3}

    (value, aux), g = cg.value_and_grad(loss, has_aux=True)(np.array([1.0, 2.0]))
    assert type(aux["pred"]) is np.ndarray and aux["n"] == 3
    np.testing.assert_array_equal(aux["pred"], [2.0, 4.0])
    g2, aux2 = cg.grad(loss, has_aux=True)(np.array([1.0, 2.0]))
    assert type(aux2["pred"]) is np.ndarray
    np.testing.assert_array_equal(g, g2)


def test_aux_stays_differentiable_for_an_enclosing_transform():
    def inner(x):
        return np.sum(x ** 2), x ** 3           # aux depends on the outer x

    def outer(x):
        _, aux = cg.grad(inner, has_aux=True)(x)
        return np.sum(aux)

    np.testing.assert_allclose(cg.grad(outer)(np.array([1.0, 2.0])), [3.0, 12.0])


def test_transforms_record_their_function_even_inside_no_grad():
    x = np.array([1.0, 2.0])
    cube = lambda a: np.sum(a ** 3)  # noqa: E731
    with cg.no_grad():
        np.testing.assert_array_equal(cg.grad(cube)(x), [3.0, 12.0])
        _, back = cg.vjp(lambda a: a ** 3, x)
        np.testing.assert_array_equal(back(np.ones(2))[0], [3.0, 12.0])
        np.testing.assert_array_equal(np.diag(cg.hessian(cube)(x)), [6.0, 12.0])
        assert not cg.is_grad_enabled()  # and the block's setting is back afterwards


def test_jacobian_checks_argnums_and_takes_one_array_in_and_out():
    f = lambda a, x: a * x  # noqa: E731
    with pytest.raises(ValueError, match="argnums 5 out of range for 2 arguments"):
        cg.jacobian(f, argnums=5)(np.ones(2), np.ones(2))
    np.testing.assert_array_equal(cg.jacobian(f, argnums=-1)(np.array([2.0, 3.0]), np.ones(2)),
                                  np.diag([2.0, 3.0]))
    with pytest.raises(TypeError, match="argument 0 is a dict"):
        cg.jacobian(lambda p: p["a"] * 2)({"a": np.ones(2)})
    for mode in ("rev", "fwd"):
        with pytest.raises(TypeError, match="returned a tuple"):
            cg.jacobian(lambda x: (x, x), mode=mode)(np.ones(2))


def test_a_complex_tangent_is_an_error_not_a_dropped_imaginary_part():
    with pytest.raises(TypeError, match="tangents hold real numbers, not complex128"):
        cg.jvp(np.sin, (np.ones(2),), (np.ones(2) * 1j,))


# ----- nested transforms hand back arrays, at every depth ------------------------------------
def _f(x):
    return np.sin(np.sin(x) + np.sin(x))


def _f1(x):  # f' by hand
    return np.cos(2 * np.sin(x)) * 2 * np.cos(x)


def _f2(x):  # f'' by hand
    return -np.sin(2 * np.sin(x)) * (2 * np.cos(x)) ** 2 - np.cos(2 * np.sin(x)) * 2 * np.sin(x)


def _no_tensors(tree):
    leaves, _ = cg.core.tree.flatten(tree)
    return all(not isinstance(v, cg.Tensor) for v in leaves)


def test_jvp_of_vjp_returns_arrays():  # forward-over-reverse, the usual Hessian-vector product
    out, tangent = cg.jvp(lambda x, w: cg.vjp(_f, x)[1](w), (0.3, 1.5), (1.0, 0.0))
    assert _no_tensors(out) and _no_tensors(tangent)
    assert np.isclose(out[0], 1.5 * _f1(0.3)) and np.isclose(tangent[0], 1.5 * _f2(0.3))


def test_vjp_of_jvp_and_jvp_of_grad_return_arrays():
    out, back = cg.vjp(lambda x: cg.jvp(_f, (x,), (1.0,))[1], 0.3)
    (g,) = back(1.0)
    assert _no_tensors((out, g)) and np.isclose(out, _f1(0.3)) and np.isclose(g, _f2(0.3))
    value, tangent = cg.jvp(cg.grad(_f), (0.3,), (1.0,))
    assert _no_tensors((value, tangent)) and np.isclose(tangent, _f2(0.3))


def test_grad_of_jacobian_and_hessian_of_grad_return_arrays():
    x = np.array([0.2, 0.4])
    g = cg.grad(lambda v: np.sum(cg.jacobian(lambda y: np.sin(y) * y)(v)))(x)
    assert _no_tensors(g)
    np.testing.assert_allclose(g, 2 * np.cos(x) - x * np.sin(x))  # d/dx of the diagonal
    h = cg.hessian(lambda v: np.sum(cg.grad(lambda y: np.sum(np.sin(y) ** 2))(v) ** 2))(x)
    assert _no_tensors(h)
    # sum((sin 2y)^2): second derivative 8 cos(4y) on the diagonal
    np.testing.assert_allclose(h, np.diag(8 * np.cos(4 * x)), atol=1e-12)


# ----- data arguments arrive as constant tensors, and leave as arrays ------------------------
def test_outputs_made_from_data_arguments_are_arrays():
    X, y, w = np.arange(6.0).reshape(3, 2), np.array([1, 0, 1]), np.array([0.5, -1.0])

    def loss(w, X, y):
        scores = X.dot(w)
        aux = {"scores": scores, "X_T": X.T, "labels": y, "is_one": y == 1, "n": X.shape[0]}
        return np.sum(scores[np.arange(len(y))] * y), aux

    (value, aux), g = cg.value_and_grad(loss, has_aux=True)(w, X, y)
    assert _no_tensors((value, aux, g))
    assert type(aux["X_T"]) is np.ndarray and type(aux["is_one"]) is np.ndarray
    np.testing.assert_array_equal(aux["labels"], y)
    assert type(aux["n"]) is int and aux["n"] == 3
    np.testing.assert_allclose(g, X.T @ y)
    out, tangent = cg.jvp(lambda w, X: (X.dot(w), X.sum(axis=0)), (w, X), (np.ones(2), None))
    assert _no_tensors((out, tangent))
    np.testing.assert_array_equal(tangent[1], np.zeros(2))  # data alone: no tangent
    for mode in ("rev", "fwd"):
        J = cg.jacobian(lambda w, X: X.sum(axis=1), mode=mode)(w, X)  # does not use w
        assert type(J) is np.ndarray
        np.testing.assert_array_equal(J, np.zeros((3, 2)))
