"""Writes into tensors, as NumPy code writes them (issue 10, point 2).

Each write kind is differentiated unchanged and compared with central differences of the
same code run on plain NumPy arrays (the reference never touches circuitgrad), and with the
same function written without writes. Then the guards: a write never changes a value an
earlier gate read, views see writes into their base (and write through into it), and what
cannot be recorded raises saying what to write.
"""

import numpy as np
import pytest

import circuitgrad as cg
from support import central_differences


def check(f, x):
    """f's gradient by circuitgrad matches central differences of the same NumPy code."""
    got = cg.grad(f)(x)
    np.testing.assert_allclose(got, central_differences(f, x), rtol=1e-6, atol=1e-8)
    return got


RNG = np.random.default_rng(7)
X = RNG.standard_normal((4, 3))


# ----- each kind of write ------------------------------------------------------------------
def basic_index(x):
    h = x * 1.0
    h[0] = x[1] ** 2
    h[1:, 2] = 0.5
    return (h * h).sum()


def integer_arrays(x):
    h = x * 2.0
    h[np.arange(3), [0, 2, 1]] = x[3] * x[0]
    return (h ** 3).sum()


def boolean_mask(x):
    h = x * 3.0
    h[h < 0] = 0  # relu as NumPy code writes it
    return (h * x).sum()


def operators(x):
    h = x * 1.0
    h += x ** 2
    h -= 1.0
    h *= x
    h /= 2.0 + x * x
    h **= 2
    return h.sum()


def indexed_operators(x):
    h = x.copy()
    h[0, 0] -= 1.0  # p[0, 0] -= 1
    h[1] += x[2] * 3.0
    h[:, 1] *= x[:, 0]
    return (h * h).sum()


def add_at(x):
    h = np.zeros_like(x)
    np.add.at(h, (np.array([0, 0, 2]),), x[:3] * x[1:])  # repeated rows add up
    np.subtract.at(h, (1, 2), x[0, 0])
    return (h * h).sum()


def out_argument(x):
    h = np.zeros_like(x)
    np.multiply(x, x, out=h)
    np.exp(h, out=h)
    return h.sum()


def filled_in_a_loop(x):
    out = np.zeros_like(x)
    for i in range(x.shape[0]):
        for j in range(x.shape[1]):
            out[i, j] = np.sin(x[i, j]) * x[i, (j + 1) % x.shape[1]]
    return (out * out).sum()


def reads_what_it_replaces(x):
    h = x.copy()
    h[1:] = h[:-1] * h[1:]
    return (h ** 2).sum()


@pytest.mark.parametrize("f", [basic_index, integer_arrays, boolean_mask, operators,
                               indexed_operators, add_at, out_argument, filled_in_a_loop,
                               reads_what_it_replaces], ids=lambda f: f.__name__)
def test_each_write_kind_gives_the_gradient_of_the_numpy_code(f):
    check(f, X)


def test_a_write_gives_the_gradient_of_the_same_function_written_without_writes():
    def without_writes(x):
        h = np.concatenate([x[1:2] ** 2, x[1:] * 1.0], axis=0)
        h = np.concatenate([h[:, :2], np.where(np.arange(4)[:, None] >= 1, 0.5, h[:, 2:])],
                           axis=1)
        return (h * h).sum()
    np.testing.assert_allclose(cg.grad(basic_index)(X), cg.grad(without_writes)(X),
                               rtol=1e-12)


def test_second_order_through_writes():
    x0 = RNG.standard_normal(5)

    def f(x):
        y = x * 1.0
        y[0] = y[1] ** 3
        y[1:] = y[1:] * y[:-1]
        return (y ** 2).sum()
    check(f, x0)  # the first derivative, against the NumPy code itself
    hessian = cg.hessian(f)(x0)  # forward over reverse; against differences of the gradient
    numeric = np.array([central_differences(lambda z, i=i: _grad_i(f, z, i), x0) for i in range(5)])
    np.testing.assert_allclose(hessian, numeric, rtol=1e-5, atol=1e-6)
    tangent = RNG.standard_normal(5)
    _, jvp = cg.jvp(f, (x0,), (tangent,))
    np.testing.assert_allclose(jvp, cg.grad(f)(x0) @ tangent, rtol=1e-10)


def _grad_i(f, z, i):
    return cg.grad(f)(z)[i]


# ----- nothing a gate read is ever changed -----------------------------------------------------
def test_a_value_an_earlier_gate_saved_is_kept_for_its_backward_pass():
    def f(x):
        h = x * 1.0
        m = h * h  # mul reads h's value in its backward pass
        h[0] = 5.0
        return (m + h).sum()
    g = check(f, X)
    expected = 2 * X + 1
    expected[0] = 2 * X[0]  # h[0] no longer depends on x; m still does
    np.testing.assert_allclose(g, expected)


def test_a_long_loop_writes_into_one_array_in_place():
    # A large array written entry by entry, read by nothing in between: one array for all
    # the writes (no copy per entry), and the gradient is still right.
    x = cg.tensor(RNG.standard_normal(5000), requires_grad=True)
    out = np.zeros_like(x)
    arrays = set()
    for i in range(40):
        out[i] = x[i] * (i + 1)
        arrays.add(id(out.data))
    out.sum().backward()
    assert len(arrays) == 1
    np.testing.assert_array_equal(x.grad[:40], np.arange(1, 41))
    assert not x.grad[40:].any()


# ----- views ---------------------------------------------------------------------------------
def views_as_numpy_has_them(x):
    out = x * 1.0
    row = out[0]
    row[1] = 3.0 * x[1, 1]  # writes into out too
    row += x[2]
    out[0, 0] -= x[0, 0] ** 2  # and row sees this
    t = out.T
    t[0] *= 2
    return (out * out).sum() + (row * x[0]).sum()


def test_views_see_writes_into_their_base_and_write_through_into_it():
    check(views_as_numpy_has_them, X)
    x = cg.tensor(X, requires_grad=True)
    out = x * 1.0
    row = out[0]
    out[0, 2] = 7.0
    assert row.data[2] == 7.0
    row[1] = -1.0
    assert out.data[0, 1] == -1.0


# ----- what is refused, and what is done in place ------------------------------------------------
def test_writing_into_the_input_of_a_gradient_is_refused():
    def f(x):
        x[0] = 1.0
        return x.sum()
    with pytest.raises(cg.NotDifferentiableError, match="requires gradients"):
        cg.grad(f)(X)


def test_repeated_indices_that_would_lose_a_gradient_are_refused():
    def f(x):
        h = x * 1.0
        h[[0, 0]] = x[1:3]
        return h.sum()
    with pytest.raises(cg.NotDifferentiableError, match="more than once.*np.add.at"):
        cg.grad(f)(X)


def test_a_gradient_written_into_an_integer_tensor_is_refused():
    def f(x):
        h = np.zeros_like(x, dtype=int)
        h[0] = x[0]
        return h.sum()
    with pytest.raises(cg.NotDifferentiableError, match="dtype int"):
        cg.grad(f)(X)


def test_storing_a_gradient_into_a_numpy_array_is_refused():
    def f(x):
        dw = np.zeros((4, 3))
        dw += x
        return dw.sum()
    with pytest.raises(cg.NotDifferentiableError, match="np.zeros_like"):
        cg.grad(f)(X)
    plain = np.zeros(3)
    plain += cg.tensor([1.0, 2.0, 3.0])  # nothing needs a gradient: NumPy's own write
    np.testing.assert_array_equal(plain, [1.0, 2.0, 3.0])


def test_a_wrong_shape_names_the_write():
    h = cg.tensor(np.zeros((2, 3)), requires_grad=True) * 1.0
    with pytest.raises(cg.ShapeError, match=r"t\[0\] = .*shape \(4,\)"):
        h[0] = np.ones(4)


def test_parameters_update_in_place_under_no_grad():
    p = cg.tensor([1.0, 2.0], requires_grad=True)
    array = p.data
    (p * p).sum().backward()
    with cg.no_grad():
        p -= 0.5 * p.grad
        p[0] = 7.0
    assert p.is_leaf and p.data is array
    np.testing.assert_array_equal(p.data, [7.0, 0.0])


def test_a_written_tensor_shows_its_last_write_in_the_circuit():
    x = cg.tensor([1.0, 2.0], requires_grad=True, name="x")
    z = x * 3
    z[0] = 0
    assert z.gate.name == "setitem"
    assert [eq.gate.name for eq in cg.circuit(z).equations] == ["mul", "setitem"]
    z.sum().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 3.0])


def test_ndarray_methods_numpy_code_calls_on_its_arrays():
    y = cg.tensor(np.array([2, 0, 1]))
    assert y.any() and not y.all() and y.argsort().tolist() == [1, 2, 0]
    assert y.nonzero()[0].tolist() == [0, 2] and y.nbytes == 3 * y.itemsize

    def f(x):
        h = x.take([0, 2]).repeat(2) * x.round()[0]
        s = x * 1.0
        s.sort()
        h2 = np.zeros_like(x)
        h2.fill(3.0)
        return (h * h).sum() + (s * h2 * np.arange(3.0)).sum() + x.reshape(3, 1).diagonal().sum()
    x0 = np.array([0.3, -1.2, 2.6])
    check(f, x0)


def test_setting_shape_and_writing_through_flat_as_numpy_code_does():
    def f(x):
        y = x * 2
        y.shape = (3, 2)                          # a recorded reshape of y's newest version
        out = np.zeros_like(y)
        out.flat[[0, 5]] = y.flat[[1, 2]] ** 2    # reads and writes through .flat
        total = 0
        for v in y.flat:
            total = total + v
        return (out * np.arange(6.0).reshape(3, 2)).sum() + total + y[2, 1] * 3
    x0 = np.arange(1.0, 7.0).reshape(2, 3)
    check(f, x0)
    t = cg.tensor(np.arange(6.0))
    t.shape = (2, 3)
    assert t.shape == (2, 3) and len(t.flat) == 6
    np.testing.assert_array_equal([float(v) for v in t.flat], np.arange(6.0))


def test_setting_shape_is_refused_where_numpy_would_refuse_or_a_gradient_would_break():
    x = cg.tensor(np.ones((2, 3)), requires_grad=True)
    with pytest.raises(cg.ShapeError, match="cannot reshape"):
        (x * 1).shape = (4,)
    with pytest.raises(cg.NotDifferentiableError, match=r"t = t.reshape\(6,\)"):
        x.shape = (6,)
    with cg.no_grad():
        x.shape = (6,)                            # a plain update, as NumPy's
    assert x.shape == (6,) and x.is_leaf


@pytest.mark.parametrize("size", [3, 5000])  # a record on the tensor, and a Node
def test_retain_grad_gives_the_gradient_of_the_value_the_tensor_shows(size):
    weights = np.arange(1.0, size + 1.0)
    x = cg.tensor(np.ones(size), requires_grad=True)
    z = x * 3
    z.retain_grad()             # before the writes
    z[0] = 0
    z[1] = z[1] * 2
    w = x * 2
    w[0] = 7.0
    w.retain_grad()             # after a write
    (z * weights).sum().backward()
    ((w * weights).sum() * 0.5).backward()
    np.testing.assert_array_equal(z.grad, weights)   # d/dz of sum(z * weights): once, newest
    np.testing.assert_array_equal(w.grad, 0.5 * weights)
    expected = 3 * weights + weights          # through z (x*3), and through w (x*2 * 0.5)
    expected[0] = 0.0                         # both overwritten there
    expected[1] = 6 * weights[1] + weights[1]
    np.testing.assert_allclose(x.grad, expected)
