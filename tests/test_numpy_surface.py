"""NumPy's array functions on tensors: each np.f(tensor) records gates (rather than raising),
gives NumPy's value, and has the gradient central differences give (float64); cg.f is the
same function. Second derivatives for a few; the zero and NaN rules of prod, fmax, fmin,
nansum and median; ufunc methods; scipy.special's ufuncs."""

import warnings

import numpy as np
import pytest

import circuitgrad as cg

RNG = np.random.default_rng(7)
M = RNG.standard_normal((3, 4))
V = RNG.standard_normal(5)
T3 = RNG.standard_normal((2, 3, 4))
SQ = RNG.standard_normal((4, 4))
ZEROS = np.array([[1.5, 0.0, -2.0, 0.5], [0.0, 3.0, 0.0, 1.0], [2.0, -1.0, 0.5, 4.0]])
DISTINCT = RNG.permutation(12).reshape(3, 4) * 0.3 + 0.01 * RNG.standard_normal((3, 4))


def as_one(out):
    """A list or tuple of results (split, atleast_*d of several) joined into one tensor."""
    if isinstance(out, (list, tuple)):
        return np.concatenate([np.ravel(o) for o in out])
    return out


# name: (call with the function f, the inputs). Each call runs with f = np.NAME (arrays and
# tensors) and f = cg.NAME.
CASES = {
    "cumsum": (lambda f, x: f(x, axis=1), [M]),
    "cumsum flattened": (lambda f, x: f(x), [M]),
    "cumsum negative axis": (lambda f, x: f(x, axis=-2), [T3]),
    "cumprod": (lambda f, x: f(x, axis=1), [ZEROS]),
    "cumprod flattened": (lambda f, x: f(x), [M]),
    "prod": (lambda f, x: f(x, axis=1), [ZEROS]),
    "prod all": (lambda f, x: f(x), [M]),
    "prod tuple keepdims": (lambda f, x: f(x, axis=(0, 2), keepdims=True), [T3]),
    "sort": (lambda f, x: f(x), [DISTINCT]),
    "sort axis 0": (lambda f, x: f(x, axis=0), [DISTINCT]),
    "sort flattened": (lambda f, x: f(x, axis=None), [DISTINCT]),
    "median": (lambda f, x: f(x), [DISTINCT]),
    "median odd axis": (lambda f, x: f(x, axis=0), [DISTINCT]),
    "median even axis keepdims": (lambda f, x: f(x, axis=-1, keepdims=True), [DISTINCT]),
    "median tuple": (lambda f, x: f(x, axis=(0, 2)), [T3]),
    "tril": (lambda f, x: f(x), [M]),
    "tril k": (lambda f, x: f(x, k=-1), [T3]),
    "triu": (lambda f, x: f(x, 1), [M]),
    "triu 1-d": (lambda f, x: f(x), [V]),
    "diag of a matrix": (lambda f, x: f(x, 1), [M]),
    "diag of a vector": (lambda f, x: f(x, -2), [V]),
    "diagonal": (lambda f, x: f(x), [M]),
    "diagonal axes": (lambda f, x: f(x, 1, axis1=2, axis2=0), [T3]),
    "trace": (lambda f, x: f(x), [SQ]),
    "trace offset": (lambda f, x: f(x, -1, 1, 2), [T3]),
    "tile": (lambda f, x: f(x, (2, 1, 3)), [M]),
    "tile int": (lambda f, x: f(x, 2), [M]),
    "repeat": (lambda f, x: f(x, 2), [M]),
    "repeat axis": (lambda f, x: f(x, [1, 0, 3], axis=0), [M]),
    "moveaxis": (lambda f, x: f(x, 0, -1), [T3]),
    "moveaxis several": (lambda f, x: f(x, (0, 1), (2, 0)), [T3]),
    "split": (lambda f, x: f(x, 2, axis=1), [M]),
    "split at": (lambda f, x: f(x, [1, -1]), [V]),
    "array_split": (lambda f, x: f(x, 3, axis=1), [M]),
    "hsplit": (lambda f, x: f(x, 2), [M]),
    "vsplit": (lambda f, x: f(x, [1]), [M]),
    "dsplit": (lambda f, x: f(x, 2), [T3]),
    "vstack": (lambda f, x, y: f([x, y, x]), [V, V[::-1]]),
    "hstack": (lambda f, x, y: f((x, y)), [M, M[:, :2]]),
    "dstack": (lambda f, x, y: f([x, y]), [M, M * 2]),
    "column_stack": (lambda f, x, y: f([x, y]), [M[:, 0], M]),
    "atleast_1d": (lambda f, x: f(x), [np.float64(2.5)]),
    "atleast_2d": (lambda f, x, y: f(x, y), [V, M]),
    "atleast_3d": (lambda f, x, y: f(x, y), [V, M]),
    "tensordot": (lambda f, x, y: f(x, y, axes=1), [M, M.T]),
    "tensordot axes": (lambda f, x, y: f(x, y, axes=([0, 2], [1, 0])), [T3, T3.transpose(2, 0, 1)]),
    "inner": (lambda f, x, y: f(x, y), [M, T3]),
    "kron": (lambda f, x, y: f(x, y), [M[:2, :2], M]),
    "kron mixed ranks": (lambda f, x, y: f(x, y), [V[:2], M]),
    "flip": (lambda f, x: f(x), [M]),
    "flip axis": (lambda f, x: f(x, axis=(0, -1)), [T3]),
    "fliplr": (lambda f, x: f(x), [M]),
    "flipud": (lambda f, x: f(x), [M]),
    "roll": (lambda f, x: f(x, 2), [M]),
    "roll axis": (lambda f, x: f(x, -1, axis=1), [M]),
    "roll several": (lambda f, x: f(x, (1, 2), axis=(0, 1)), [M]),
    "diff": (lambda f, x: f(x), [M]),
    "diff twice axis 0": (lambda f, x: f(x, n=2, axis=0), [T3]),
    "diff prepend append": (lambda f, x, p: f(x, prepend=0.5, append=p), [M, M[:, :1]]),
    "take": (lambda f, x: f(x, [5, 0, 5, -1]), [M]),
    "take axis": (lambda f, x: f(x, [[0, 2], [2, 2]], axis=1), [M]),
    "take wrap": (lambda f, x: f(x, [7, -6], mode="wrap"), [V]),
    "take_along_axis": (lambda f, x: f(x, np.argsort(x, axis=1)[:, :2], axis=1), [DISTINCT]),
    "take_along_axis flattened": (lambda f, x: f(x, np.array([3, 3, 0]), axis=None), [M]),
    "choose": (lambda f, x, y: f(np.array([[0, 1, 1, 0]] * 3), [x, y]), [M, M[0] * 3]),
    "average": (lambda f, x: f(x, axis=1), [M]),
    "float_power": (lambda f, x, y: f(x, y), [np.abs(M) + 0.5, M]),
    "average weights": (lambda f, x, w: f(x, axis=1, weights=w), [M, np.array([1, 2, 3, .5])]),
    "average same-shape weights": (lambda f, x, w: f(x, weights=w), [M, np.abs(M) + 0.1]),
    "nansum": (lambda f, x: f(x, axis=0), [M]),
    "nanmean": (lambda f, x: f(x, axis=1, keepdims=True), [M]),
    "fmax": (lambda f, x, y: f(x, y), [M, M[0] + 0.05]),
    "fmin": (lambda f, x, y: f(x, y), [M, M[:, :1] + 0.05]),
    "pad constant": (lambda f, x: f(x, ((1, 2), (0, 1)), constant_values=((3, 4), (5, 6))),
                     [M]),
    "pad constant scalar": (lambda f, x: f(x, 1), [T3]),
    "pad edge": (lambda f, x: f(x, (2, 3), mode="edge"), [M]),
    "pad reflect": (lambda f, x: f(x, ((1, 2), (2, 1)), mode="reflect"), [M]),
    "pad symmetric": (lambda f, x: f(x, 2, mode="symmetric"), [V]),
    "pad wrap": (lambda f, x: f(x, ((0, 1), (3, 2)), mode="wrap"), [M]),
    "copy": (lambda f, x: f(x), [M]),
    "dot": (lambda f, x, y: f(x, y), [M, M.T]),
    "outer": (lambda f, x, y: f(x, y), [V, M[0]]),
    "expand_dims": (lambda f, x: f(x, (0, 2)), [M]),
    "squeeze": (lambda f, x: f(x, 1), [M[:, :1]]),
    "ravel": (lambda f, x: f(x), [T3]),
    "swapaxes": (lambda f, x: f(x, 0, 2), [T3]),
    "var": (lambda f, x: f(x, axis=1, ddof=1), [M]),
    "std": (lambda f, x: f(x, axis=(0, 2)), [T3]),
    "linalg.det": (lambda f, x: f(x), [SQ]),
    "linalg.eigvalsh": (lambda f, x: f(x), [SQ + SQ.T]),
    "linalg.lstsq": (lambda f, a, b: f(a, b, rcond=None)[0], [M.T, V[:4]]),
    "linalg.matrix_power": (lambda f, x: f(x, -2), [SQ + 4 * np.eye(4)]),
    "linalg.multi_dot": (lambda f, x, y, z: f([x, y, z]), [M[:, :3], M, M.T[:, :2]]),
    "linalg.norm": (lambda f, x: f(x, axis=1), [M]),
    "linalg.pinv": (lambda f, x: f(x), [M]),
}
if hasattr(np, "row_stack"):  # vstack's old name, deprecated in NumPy 2 (no cg.row_stack)
    def _row_stack(f, x, y):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            return f([x, y])
    CASES["row_stack"] = (_row_stack, [V, V[::-1]])


def function_name(case):
    return case.split()[0]


def function(module, case):
    """np.NAME or np.linalg.NAME (cg likewise) for a case named after it."""
    for part in function_name(case).split("."):
        module = getattr(module, part)
    return module


@pytest.mark.parametrize("case", CASES)
def test_np_function_on_tensors_records_and_matches_numpy(case):
    call, arrays = CASES[case]
    fn = function(np, case)
    expected = as_one(call(fn, *arrays))
    tensors = [cg.tensor(a, requires_grad=True) for a in arrays]
    got = as_one(call(fn, *tensors))
    assert isinstance(got, cg.Tensor)
    assert got.requires_grad, f"np.{function_name(case)} on tensors recorded no gradient"
    assert got.shape == np.shape(expected)
    np.testing.assert_allclose(got.data, expected, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("case", CASES)
def test_np_function_gradient_matches_central_differences(case):
    call, arrays = CASES[case]
    fn = function(np, case)
    report = cg.check_grad(lambda *xs: as_one(call(fn, *xs)), *arrays)
    assert report.ok, report


@pytest.mark.parametrize("case", [c for c in CASES if function_name(c) != "row_stack"])
def test_cg_function_is_the_same_function(case):
    call, arrays = CASES[case]
    name = function_name(case)
    got = as_one(call(function(cg, case), *[cg.tensor(a) for a in arrays]))
    np.testing.assert_allclose(np.asarray(got.data if isinstance(got, cg.Tensor) else got),
                               as_one(call(function(np, case), *arrays)), rtol=1e-12, atol=1e-14)
    assert name.split(".")[0] in cg.__all__


@pytest.mark.parametrize("fn, x0", [
    (lambda x: np.sum(np.prod(x, axis=1) ** 2), ZEROS),
    (lambda x: np.sum(np.prod(x)), np.array([0.0, 2.0, 0.0, 3.0])),     # two zeros
    (lambda x: np.sum(np.prod(x)), np.array([0.0, 2.0, -1.5, 3.0])),    # one zero
    (lambda x: np.sum(np.cumprod(x) ** 2), np.array([0.5, 0.0, 2.0, -1.0])),
    (lambda x: np.sum(np.sin(np.cumsum(x, axis=0))), M),
    (lambda x: np.sum(np.sort(x, axis=1) ** 3 * np.arange(4.0)), DISTINCT),
    (lambda x: np.median(x ** 3), DISTINCT),
    (lambda x: np.trace(np.kron(x, x) @ np.tile(x, (2, 2)).T), SQ[:2, :2]),
    (lambda x: np.sum(np.pad(x, 1, mode="reflect") ** 3), M),
    (lambda x: np.sum(np.diff(x, axis=1) ** 3), M),
    (lambda x: np.sum(np.tensordot(x, x, axes=([1], [1])) ** 2), M),
])
def test_second_derivatives(fn, x0):
    report = cg.check_grad(cg.grad(fn), x0)
    assert report.ok, report
    h = cg.hessian(fn)(x0)
    np.testing.assert_allclose(h.reshape(x0.size, x0.size), h.reshape(x0.size, x0.size).T,
                               atol=1e-10)


# ----- zeros, NaN, ties -------------------------------------------------------------------
def test_prod_gradient_at_zeros():
    x = cg.tensor(np.array([[0.0, 2.0, 3.0], [0.0, 0.0, 5.0], [1.0, 2.0, 4.0]]),
                  requires_grad=True)
    np.prod(x, axis=1).sum().backward()
    np.testing.assert_array_equal(x.grad, [[6.0, 0.0, 0.0], [0.0, 0.0, 0.0], [8.0, 4.0, 2.0]])


def test_fmax_and_fmin_ignore_nan():
    nan = np.nan
    x0, y0 = np.array([1.0, nan, 3.0, nan, 2.0]), np.array([2.0, 1.0, nan, nan, 2.0])
    x, y = cg.tensor(x0, requires_grad=True), cg.tensor(y0, requires_grad=True)
    out = np.fmax(x, y)
    np.testing.assert_array_equal(out.data, np.fmax(x0, y0))
    out.sum().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 0.0, 1.0, 0.0, 0.5])
    np.testing.assert_array_equal(y.grad, [1.0, 1.0, 0.0, 0.0, 0.5])
    x.grad = y.grad = None
    out = np.fmin(x, y)
    np.testing.assert_array_equal(out.data, np.fmin(x0, y0))
    out.sum().backward()
    np.testing.assert_array_equal(x.grad, [1.0, 0.0, 1.0, 0.0, 0.5])
    np.testing.assert_array_equal(y.grad, [0.0, 1.0, 0.0, 0.0, 0.5])


def test_nansum_and_nanmean_skip_nan_and_give_it_no_gradient():
    x0 = np.array([[1.0, np.nan, 3.0], [np.nan, np.nan, 2.0]])
    for fn, grad in ((np.nansum, [[1, 0, 1], [0, 0, 1]]),
                     (np.nanmean, [[0.5, 0, 0.5], [0, 0, 1]])):
        x = cg.tensor(x0, requires_grad=True)
        out = fn(x, axis=1)
        np.testing.assert_allclose(out.data, fn(x0, axis=1))
        out.sum().backward()
        np.testing.assert_array_equal(x.grad, grad)


def test_median_of_a_slice_with_nan_is_nan():
    x0 = np.array([[1.0, np.nan, 3.0], [4.0, 2.0, 0.0]])
    x = cg.tensor(x0, requires_grad=True)
    out = np.median(x, axis=1)
    np.testing.assert_array_equal(out.data, np.median(x0, axis=1))
    out[1].backward()
    np.testing.assert_array_equal(x.grad, [[0, 0, 0], [0, 1, 0]])


def test_sort_and_median_at_a_tie_give_each_place_one_entry():
    x = cg.tensor(np.array([2.0, 1.0, 2.0]), requires_grad=True)
    (np.sort(x) * np.array([1.0, 10.0, 100.0])).sum().backward()
    np.testing.assert_array_equal(x.grad, [10.0, 1.0, 100.0])  # stable: first 2.0 first


def test_pad_constant_that_is_a_tensor_gets_its_gradient():
    x0, c0 = np.ones((2, 2)), np.float64(3.0)
    gx, gc = cg.grad(lambda x, c: np.sum(np.pad(x, 1, constant_values=c) ** 2),
                     argnums=(0, 1))(x0, c0)
    np.testing.assert_array_equal(gx, 2 * x0)
    assert gc == 12 * 2 * 3.0


# ----- ufunc methods ----------------------------------------------------------------------
@pytest.mark.parametrize("call", [
    lambda x: np.add.reduce(x), lambda x: np.add.reduce(x, axis=1, keepdims=True),
    lambda x: np.add.reduce(x, axis=None), lambda x: np.multiply.reduce(x, axis=-1),
    lambda x: np.maximum.reduce(x, axis=0), lambda x: np.minimum.reduce(x),
    lambda x: np.add.accumulate(x, axis=1), lambda x: np.multiply.accumulate(x)],
    ids=["add.reduce", "add.reduce keepdims", "add.reduce all", "multiply.reduce",
         "maximum.reduce", "minimum.reduce", "add.accumulate", "multiply.accumulate"])
def test_ufunc_reduce_and_accumulate(call):
    np.testing.assert_allclose(call(cg.tensor(DISTINCT)).data, call(DISTINCT), rtol=1e-12)
    report = cg.check_grad(call, DISTINCT)
    assert report.ok, report


def test_ufunc_methods_refuse_options_and_other_methods_still_raise():
    x = cg.tensor(M, requires_grad=True)
    with pytest.raises(cg.NotDifferentiableError, match="dtype="):
        np.add.reduce(x, dtype=np.float32)
    with pytest.raises(cg.NotDifferentiableError, match=r"np\.add\.reduceat has no"):
        np.add.reduceat(x, [0, 2])


# ----- options NumPy has and circuitgrad does not -----------------------------------------
@pytest.mark.parametrize("call, option", [
    (lambda x: np.cumsum(x, dtype=np.float32), "dtype"),
    (lambda x: np.prod(x, initial=2.0), "initial"),
    (lambda x: np.sort(x, order="a"), "order"),
    (lambda x: np.trace(x, out=np.zeros(())), "out"),
    (lambda x: np.take(x, [0], out=np.zeros(1)), "out"),
    (lambda x: np.nansum(x, where=np.array([True, False])), "where"),
    (lambda x: np.vstack([x, x], dtype=np.float32), "dtype"),
    (lambda x: np.pad(x, 1, mode="edge", constant_values=2), "constant_values"),
])
def test_unsupported_options_raise_naming_them(call, option):
    with pytest.raises(cg.NotDifferentiableError, match=f"{option}="):
        call(cg.tensor(np.array([1.0, 2.0]), requires_grad=True))


def test_pad_modes_computed_from_the_values_are_refused():
    x = cg.tensor(np.array([1.0, 2.0]), requires_grad=True)
    with pytest.raises(cg.NotDifferentiableError, match="mode='mean'"):
        np.pad(x, 1, mode="mean")
    np.testing.assert_array_equal(np.pad(cg.tensor([1.0, 2.0]), 1, mode="mean"),
                                  [1.5, 1.0, 2.0, 1.5])


def test_numpy_errors_for_bad_arguments():
    x = cg.tensor(M, requires_grad=True)
    with pytest.raises(ValueError, match="equal division"):
        np.split(x, 3, axis=1)
    with pytest.raises(cg.ShapeError):
        np.cumsum(x, axis=2)
    with pytest.raises(ValueError):
        np.choose(np.array([0, 2]), [x[0, :2], x[1, :2]])
    with pytest.raises(TypeError, match="axis"):
        np.average(x, weights=np.ones(4))


# ----- scipy.special ----------------------------------------------------------------------
SPECIAL = {"expit": M, "logit": np.abs(M) / 3 + 0.1, "erf": M, "erfc": M,
           "gammaln": np.abs(M) + 0.2}


@pytest.mark.parametrize("name", sorted(SPECIAL))
def test_scipy_special_ufuncs_dispatch_to_gates(name):
    special = pytest.importorskip("scipy.special")
    fn, x0 = getattr(special, name), SPECIAL[name]
    out = fn(cg.tensor(x0, requires_grad=True))
    np.testing.assert_allclose(out.data, fn(x0), rtol=1e-12)
    report = cg.check_grad(fn, x0)
    assert report.ok, report
    report = cg.check_grad(cg.grad(lambda x: np.sum(fn(x))), x0)
    assert report.ok, report


def test_scipy_xlogy_and_the_gates_without_scipy_agree():
    special = pytest.importorskip("scipy.special")
    x0, y0 = np.array([0.0, 1.5, -2.0]), np.array([0.5, 2.0, 3.0])
    np.testing.assert_allclose(special.xlogy(cg.tensor(x0), cg.tensor(y0)).data,
                               special.xlogy(x0, y0), rtol=1e-12)
    report = cg.check_grad(special.xlogy, x0, y0)
    assert report.ok, report
    from circuitgrad.gates import elementwise as ew
    ew._SCIPY["module"] = None  # as if scipy were not installed: math, entry by entry
    try:
        for name in ("erf", "erfc", "gammaln"):
            x = np.array([0.3, 1.7, -0.4], dtype=np.float32)
            got = getattr(cg, name)(cg.tensor(x)).data
            assert got.dtype == np.float32
            np.testing.assert_allclose(got, getattr(special, name)(x), rtol=1e-6)
        np.testing.assert_allclose(ew.digamma(np.array([0.25, 3.0, -1.5, 40.0])),
                                   special.digamma([0.25, 3.0, -1.5, 40.0]), rtol=1e-12)
    finally:
        ew._SCIPY.clear()
