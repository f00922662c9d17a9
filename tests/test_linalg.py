"""cg.linalg and np.linalg on tensors: result types, the composites' gradients, the caveats'
errors, and the linear-algebra gates' listing lines (each evaluated as NumPy).

The primitives' gradients, first and second order in both modes, are checked by the
sweep (tests/gate_samples.py, matrix_cases).
"""

import numpy as np
import pytest

import circuitgrad as cg
from circuitgrad.staged import staged
from gate_samples import conditioned, symmetric
from test_draw import run_listing

RNG = np.random.default_rng(7)
A = conditioned(RNG, (), 3, 3)
S = np.tril(symmetric(RNG, (), 3, 0.5)) + np.tril(symmetric(RNG, (), 3, 0.5), -1).T
TALL = conditioned(RNG, (), 4, 2)
WIDE = conditioned(RNG, (), 2, 4)
B = RNG.standard_normal((3, 2))


def leaf(value, name=None):
    return cg.tensor(value, requires_grad=True, name=name)


# ----- result types ----------------------------------------------------------------------------
@pytest.mark.parametrize("fn, value, kind, fields", [
    (np.linalg.eigh, S, "EighResult", ("eigenvalues", "eigenvectors")),
    (lambda a: np.linalg.svd(a, full_matrices=False), TALL, "SVDResult", ("U", "S", "Vh")),
    (np.linalg.qr, WIDE, "QRResult", ("Q", "R")),
    (np.linalg.slogdet, A, "SlogdetResult", ("sign", "logabsdet")),
])
def test_numpy_result_types_come_back_with_tensor_fields(fn, value, kind, fields):
    got, expected = fn(leaf(value)), fn(value)
    assert type(got).__name__ == kind and got._fields == fields
    for g, e in zip(got, expected, strict=True):
        assert isinstance(g, cg.Tensor) and g.requires_grad
        np.testing.assert_allclose(g.data, e, atol=1e-12)


def test_values_match_numpy():
    t, s = leaf(A), leaf(S)
    for fn, args in [(np.linalg.inv, (A,)), (np.linalg.det, (A,)), (np.linalg.solve, (A, B)),
                     (np.linalg.cholesky, (S,)), (np.linalg.eigvalsh, (S,)),
                     (np.linalg.pinv, (TALL,)), (np.linalg.pinv, (WIDE,)),
                     (lambda a: np.linalg.matrix_power(a, -3), (A,)),
                     (lambda a: np.linalg.svd(a, compute_uv=False), (TALL,)),
                     (lambda a: np.linalg.norm(a, 2), (A,)),
                     (lambda a: np.linalg.norm(a, "nuc"), (A,)),
                     (lambda a: np.linalg.norm(a, -2), (A,))]:
        tensors = [leaf(a) for a in args]
        np.testing.assert_allclose(fn(*tensors).data, fn(*args), rtol=1e-10, atol=1e-12)
    assert np.linalg.qr(t, mode="r").shape == (3, 3)
    np.testing.assert_allclose(cg.linalg.cholesky(s, upper=True).data,
                               np.linalg.cholesky(S, upper=True))


def test_constant_inputs_run_numpy_for_any_mode():
    t = cg.tensor(TALL)
    u, s, vh = np.linalg.svd(t)  # full_matrices=True is fine without a gradient
    assert u.shape == (4, 4) and vh.shape == (2, 2)
    q, r = np.linalg.qr(t, mode="complete")
    assert q.shape == (4, 4)


# ----- composites against central differences ---------------------------------------------------
def check(fn, *arrays):
    report = cg.check_grad(fn, *arrays)
    assert report.ok, str(report)


def test_pinv_gradient_tall_wide_square_and_batched():
    for a in (TALL, WIDE, A, conditioned(RNG, (2,), 3, 2)):
        check(lambda x: (np.linalg.pinv(x) * np.arange(x.size).reshape(
            x.shape[:-2] + x.shape[-1:] + x.shape[-2:-1])).sum(), a)


def test_pinv_of_a_rank_deficient_matrix_raises_with_a_gradient_only():
    low = np.outer([1.0, 2.0, 3.0], [1.0, -1.0])  # rank 1 of 2
    np.testing.assert_allclose(np.linalg.pinv(cg.tensor(low)).data, np.linalg.pinv(low))
    with pytest.raises(cg.NotDifferentiableError, match="rank-deficient"):
        np.linalg.pinv(leaf(low))


def test_lstsq_solution_residuals_rank_and_singular_values():
    b = RNG.standard_normal(4)
    x, residuals, rank, s = np.linalg.lstsq(leaf(TALL), leaf(b))
    ex, eres, erank, es = np.linalg.lstsq(TALL, b)
    np.testing.assert_allclose(x.data, ex)
    np.testing.assert_allclose(residuals.data, eres)
    assert rank == erank
    np.testing.assert_allclose(s.data, es)
    check(lambda a, y: (np.linalg.lstsq(a, y)[0] ** 2).sum(), TALL, b)
    check(lambda a, y: np.linalg.lstsq(a, y)[1].sum(), TALL, RNG.standard_normal((4, 2)))
    check(lambda a, y: (np.linalg.lstsq(a, y)[0] * np.arange(4.0)).sum(), WIDE,
          RNG.standard_normal(2))


@pytest.mark.parametrize("n", [-3, -1, 0, 1, 2, 5])
def test_matrix_power_including_negative_powers(n):
    np.testing.assert_allclose(np.linalg.matrix_power(cg.tensor(A), n).data,
                               np.linalg.matrix_power(A, n), rtol=1e-10, atol=1e-12)
    if n != 0:
        check(lambda x: (np.linalg.matrix_power(x, n) * np.arange(9.0).reshape(3, 3)).sum(), A)


def test_multi_dot_picks_numpys_order_and_takes_vectors_at_the_ends():
    shapes = [(4,), (4, 10), (10, 2), (2, 6), (6,)]
    arrays = [RNG.standard_normal(s) for s in shapes]
    np.testing.assert_allclose(np.linalg.multi_dot([cg.tensor(a) for a in arrays]).data,
                               np.linalg.multi_dot(arrays))
    check(lambda *xs: np.linalg.multi_dot(list(xs)), *arrays)
    check(lambda *xs: np.linalg.multi_dot(list(xs)).sum(), *arrays[1:4])


def test_det_and_eigvalsh_composites():
    check(np.linalg.det, A)
    check(lambda x: np.linalg.det(x).sum(), conditioned(RNG, (2,), 3, 3))
    check(lambda x: (np.linalg.eigvalsh(x) * np.array([1.0, -2.0, 3.0])).sum(), S)


def test_matrix_norms_from_singular_values():
    for ord in (2, -2, "nuc"):
        check(lambda x, ord=ord: np.linalg.norm(x, ord), A)
        check(lambda x, ord=ord: np.linalg.norm(x, ord, axis=(2, 0), keepdims=True).sum(),
              RNG.standard_normal((3, 2, 4)))
    t = leaf(RNG.standard_normal((3, 2, 4)))
    got = np.linalg.norm(t, "nuc", axis=(2, 0), keepdims=True)
    assert got.shape == np.linalg.norm(t.data, "nuc", axis=(2, 0), keepdims=True).shape


def test_numpy_functions_on_tensors_inside_grad():
    def loss(a, s, b):
        x = np.linalg.solve(a, b)
        w, v = np.linalg.eigh(s)
        l = np.linalg.cholesky(s)
        q, r = np.linalg.qr(a)
        return (np.sum(x ** 2) + np.sum(w * v[0]) + np.linalg.slogdet(a)[1]
                + np.sum(np.linalg.inv(l)) + np.sum(q * r))
    grads = cg.grad(loss, argnums=(0, 1, 2))(A, S, B)
    assert all(np.shape(g) == np.shape(x) for g, x in zip(grads, (A, S, B), strict=True))
    check(loss, A, S, B)
    # and a second derivative: the Hessian of log|det| is -inv(A).T (x) inv(A).T, transposed
    h = cg.hessian(lambda a: np.linalg.slogdet(a)[1])(A)
    inv = np.linalg.inv(A)
    np.testing.assert_allclose(h, -np.einsum("li,jk->ijkl", inv, inv), atol=1e-10)


# ----- caveats --------------------------------------------------------------------------------
def test_cholesky_of_a_matrix_that_is_not_positive_definite_raises_linalgerror():
    with pytest.raises(np.linalg.LinAlgError):
        np.linalg.cholesky(leaf(-np.eye(2)))
    with pytest.raises(np.linalg.LinAlgError):
        cg.linalg.cholesky(cg.tensor(np.diag([1.0, -1.0])))


def test_eigh_vectors_at_repeated_eigenvalues_raise_but_the_values_have_a_gradient():
    t = leaf(np.diag([2.0, 2.0, 3.0]))
    w, v = np.linalg.eigh(t)
    with pytest.raises(cg.NotDifferentiableError, match="repeated eigenvalues"):
        (v * np.arange(9.0).reshape(3, 3)).sum().backward()
    t = leaf(np.diag([2.0, 2.0, 3.0]))
    (np.linalg.eigvalsh(t) * np.array([1.0, 1.0, 5.0])).sum().backward()
    np.testing.assert_allclose(t.grad, np.diag([1.0, 1.0, 5.0]))
    assert np.all(np.isfinite(t.grad))


def test_svd_vectors_at_repeated_singular_values_raise_but_norms_work():
    t = leaf(np.eye(3) * 2)
    u, s, vh = np.linalg.svd(t)  # square: full_matrices is allowed
    with pytest.raises(cg.NotDifferentiableError, match="repeated singular values"):
        (u * np.arange(9.0).reshape(3, 3)).sum().backward()
    t = leaf(np.eye(3) * 2)
    np.linalg.norm(t, "nuc").backward()
    np.testing.assert_allclose(t.grad, np.eye(3))


def test_svd_vectors_of_a_rank_deficient_rectangular_matrix_raise():
    t = leaf(np.array([[1.0, 0.0], [0.0, 0.0], [0.0, 0.0]]))
    u, s, vh = cg.linalg.svd(t, full_matrices=False)
    with pytest.raises(cg.NotDifferentiableError):
        u.sum().backward()


def test_full_matrices_and_complete_mode_refuse_gradients():
    with pytest.raises(cg.NotDifferentiableError, match="full_matrices=False"):
        np.linalg.svd(leaf(TALL))
    with pytest.raises(cg.NotDifferentiableError, match="mode='reduced'"):
        np.linalg.qr(leaf(TALL), mode="complete")
    q, r = np.linalg.qr(leaf(WIDE), mode="complete")  # m <= n: the same as reduced
    assert q.shape == (2, 2)


def test_det_gradient_at_a_singular_matrix_raises_linalgerror():
    t = leaf(np.array([[1.0, 2.0], [2.0, 4.0]]))
    d = np.linalg.det(t)
    assert float(d) == 0.0
    with pytest.raises(np.linalg.LinAlgError):
        d.backward()


def test_inv_of_a_singular_matrix_raises_linalgerror():
    with pytest.raises(np.linalg.LinAlgError):
        np.linalg.inv(leaf(np.ones((2, 2))))


# ----- listings: every linear-algebra gate's gradient line evaluates to its value ----------------
def _listed(fn, *arrays):
    xs = [leaf(a, name) for a, name in zip(arrays, "abc", strict=False)]
    out = fn(*xs)
    r = cg.tensor(RNG.standard_normal(out.shape), name="r")
    return (out * r).sum(), xs


@pytest.mark.parametrize("fn, arrays", [
    (np.linalg.inv, (A,)), (np.linalg.inv, (np.stack([A, A.T]),)),
    (np.linalg.solve, (A, B)), (np.linalg.solve, (A, B[:, 0])),
    (np.linalg.solve, (np.stack([A, A.T]), B[:, 0])),
    (np.linalg.det, (A,)), (lambda a: np.linalg.slogdet(a)[1], (np.stack([A, A.T]),)),
    (np.linalg.cholesky, (S,)), (np.linalg.cholesky, (np.stack([S, S]),)),
    (lambda s: np.concatenate([np.linalg.eigh(s)[0][None], np.linalg.eigh(s)[1]]), (S,)),
    (lambda s: np.linalg.eigh(s, "U")[1], (np.stack([S.T, S.T]),)),
    (lambda a: sum(p.sum() for p in np.linalg.svd(a, full_matrices=False)), (TALL,)),
    (lambda a: sum(p.sum() for p in np.linalg.svd(a, full_matrices=False)), (WIDE,)),
    (lambda a: sum(p.sum() for p in np.linalg.qr(a)), (TALL,)),
    (lambda a: sum(p.sum() for p in np.linalg.qr(a)), (np.stack([WIDE, WIDE]),)),
], ids=lambda v: getattr(v, "__name__", None) if callable(v) else "")
def test_linalg_listing_lines_evaluate_to_the_listed_gradients(fn, arrays):
    y, xs = _listed(fn, *arrays)
    listing = staged(y)
    grads = run_listing(listing)
    y.backward()
    for node in listing.circuit.inputs:
        if node.tensor.requires_grad:
            np.testing.assert_allclose(grads["d" + node.name], node.tensor.grad, rtol=1e-9,
                                       atol=1e-12, err_msg=node.name)
