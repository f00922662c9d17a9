"""Buffers a compiled step keeps from call to call (compiler/buffers.py) and its in-place
optimizer update (compiler/updates.py): a result handed back to the caller (the loss,
gradients in ``.grad``, new parameters of a functional step, a view of any of them) is never
overwritten by a later call; a buffer nobody holds is reused; parameters the replayed
update changes in place are marked changed."""

import gc
import weakref

import numpy as np
import pytest

import circuitgrad as cg
from circuitgrad import nn
from circuitgrad.compiler import updates
from circuitgrad.compiler.updates import sgd_step
from nn_steps import training_step

DTYPES = [np.float32, np.float64]


def _batches(dtype, count=4, n=16, seed=3):
    """Different inputs of one shape at each call, so that a reused buffer would show."""
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal((n, 12)).astype(dtype), rng.integers(0, 4, n))
            for _ in range(count)]


def _nn_step(dtype, momentum=0.0):
    nn.manual_seed(0)
    model = nn.Sequential(nn.Linear(12, 16, dtype=dtype), nn.ReLU(),
                          nn.Linear(16, 4, dtype=dtype))
    opt = nn.SGD(model.parameters(), lr=0.1, momentum=momentum)

    return model, opt, training_step(model, opt)


def _snapshot(arrays):
    return [np.array(a, copy=True) for a in arrays]


@pytest.mark.parametrize("dtype", DTYPES)
def test_nn_step_results_kept_by_the_caller_are_not_overwritten(dtype):
    model, _, step = _nn_step(dtype)
    fast = cg.compile(step, argnums=None)
    kept = []  # per call: the loss, the gradients, a view of the first gradient
    for X, y in _batches(dtype):
        loss = fast(X, y)
        grads = [p.grad for p in model.parameters()]
        kept.append((loss, grads, grads[0][1:3]))
    assert fast.traces == 1
    assert "out=buffer(" in fast.source  # the code writes into kept buffers
    assert all(p.grad.dtype == dtype for p in model.parameters())
    # each call's results as they were when the call returned, from an eager replay
    model_e, _, step_e = _nn_step(dtype)
    for (X, y), (loss, grads, view) in zip(_batches(dtype), kept, strict=True):
        want_loss = float(step_e(X, y).data)
        want = _snapshot(p.grad for p in model_e.parameters())
        tol = 1e-5 if dtype == np.float32 else 1e-12
        np.testing.assert_allclose(float(loss), want_loss, rtol=tol)
        for g, w in zip(grads, want, strict=True):
            np.testing.assert_allclose(g, w, rtol=tol * 10, atol=tol)
        np.testing.assert_allclose(view, want[0][1:3], rtol=tol * 10, atol=tol)
    assert len({id(g) for _, grads, _ in kept for g in grads}) == 4 * len(kept)


@pytest.mark.parametrize("dtype", DTYPES)
def test_nn_step_reuses_a_buffer_nobody_holds(dtype):
    model, _, step = _nn_step(dtype)
    fast = cg.compile(step, argnums=None)
    batches = _batches(dtype)
    fast(*batches[0])
    fast(*batches[1])  # the first call of the generated code
    weight = model.parameters()[0]
    held = weakref.ref(weight.grad)
    fast(*batches[2])  # zero_grad() dropped .grad: nothing else holds the buffer
    assert weight.grad is held()
    kept = weight.grad
    fast(*batches[3])  # now the caller holds it: a new buffer
    assert weight.grad is not kept


def _functional_step(p, X, y):
    def loss(p):
        h = cg.relu(X @ p["W1"] + p["b1"])
        return nn.softmax_cross_entropy(h @ p["W2"] + p["b2"], y)
    value, g = cg.value_and_grad(loss)(p)
    return {k: p[k] - 0.1 * g[k] for k in p}, g, value


def _params(dtype):
    rng = np.random.default_rng(0)
    return {"W1": (0.3 * rng.standard_normal((12, 16))).astype(dtype),
            "b1": np.zeros(16, dtype),
            "W2": (0.3 * rng.standard_normal((16, 4))).astype(dtype),
            "b2": np.zeros(4, dtype)}


def _arrays(result):
    new, g, value = result
    return [*new.values(), *g.values(), value]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("hold", ["all", "loss and gradients"])
def test_functional_step_results_kept_by_the_caller_are_not_overwritten(dtype, hold):
    fast = cg.compile(_functional_step, argnums=None)
    p_fast = p_eager = _params(dtype)
    kept, want = [], []
    for X, y in _batches(dtype):
        result = fast(p_fast, X, y)
        eager = _functional_step(p_eager, X, y)
        if hold == "all":  # the new parameters are passed back in as well
            p_fast, p_eager = result[0], eager[0]
            kept.append(_arrays(result))
        else:  # the same parameters at each call: new parameters dropped at once
            kept.append(_arrays(result)[4:])
        want.append(_snapshot(_arrays(eager) if hold == "all" else _arrays(eager)[4:]))
        gc.collect()
    assert fast.traces == 1
    assert "out=buffer(" in fast.source
    tol = 2e-5 if dtype == np.float32 else 1e-12
    for got, expected in zip(kept, want, strict=True):
        for a, b in zip(got, expected, strict=True):
            np.testing.assert_allclose(a, b, rtol=tol, atol=tol)
    # and the call's results are not the previous call's arrays
    ids = [id(a) for got in kept for a in got]
    assert len(set(ids)) == len(ids)


@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_eager_circuit_from_before_a_compiled_step_is_stale_after_it(momentum):
    model, _, step = _nn_step(np.float32, momentum)
    fast = cg.compile(step, argnums=None)
    (X, y), (X2, y2), _, _ = _batches(np.float32)
    fast(X, y)
    fast(X, y)  # the generated code and the replayed update now
    stale = nn.softmax_cross_entropy(model(X2), y2)  # an eager circuit over the weights
    fast(X, y)  # moves the weights in place
    with pytest.raises(cg.ChangedInPlaceError):
        stale.backward()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_sgd_update_with_a_scratch_array_gives_the_optimizers_bits(dtype, momentum,
                                                                   monkeypatch):
    monkeypatch.setattr(updates, "BLAS_AXPY", False)
    rng = np.random.default_rng(2)
    start = [rng.standard_normal(s).astype(dtype) for s in ((5, 3), (3,), (200, 100))]
    runs = []
    for fast in (False, True):
        ps = [nn.Parameter(a.copy()) for a in start]
        opt = nn.SGD(ps, lr=0.07, momentum=momentum)
        update = sgd_step({}) if fast else type(opt).step
        for k in range(3):
            for j, p in enumerate(ps):
                p.grad = np.full_like(p.data, 0.3 * (k + 1) - 0.1 * j) + start[j]
            update(opt)
        runs.append([p.data for p in ps] + [st.get("velocity") for st in opt.state])
    for a, b in zip(*runs, strict=True):
        if momentum or a is not None:
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("dtype", DTYPES)
def test_compiled_loss_results_kept_by_the_caller_are_not_overwritten(dtype):
    def loss(W1, b1, W2, b2, X, y):
        h = cg.relu(X @ W1 + b1)
        return nn.softmax_cross_entropy(h @ W2 + b2, y)

    p = _params(dtype)
    args = [p[k] for k in ("W1", "b1", "W2", "b2")]
    fast = cg.compile(loss, argnums=(0, 1, 2, 3))
    kept, want = [], []
    for X, y in _batches(dtype):
        value, grads = fast(*args, X, y)
        kept.append([value, *grads, grads[0][:2]])
        w_value, w_grads = cg.value_and_grad(loss, argnums=(0, 1, 2, 3))(*args, X, y)
        w = [np.asarray(t.data) for t in (w_value, *w_grads)]
        want.append(_snapshot([*w, w[1][:2]]))
    assert "out=buffer(" in fast.source
    tol = 2e-5 if dtype == np.float32 else 1e-12
    for got, expected in zip(kept, want, strict=True):
        for a, b in zip(got, expected, strict=True):
            np.testing.assert_allclose(a, b, rtol=tol, atol=tol)


@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_a_compiled_step_keeps_each_parameter_groups_own_settings(momentum):
    runs = []
    for compiled in (False, True):
        nn.manual_seed(0)
        model = nn.Sequential(nn.Linear(12, 16), nn.ReLU(), nn.Linear(16, 4))
        first, second = model[0], model[2]
        opt = nn.SGD([{"params": first.parameters()},
                      {"params": second.parameters(), "lr": 0.5, "weight_decay": 0.1}],
                     lr=0.05, momentum=momentum)

        step = training_step(model, opt)

        run = cg.compile(step, argnums=None) if compiled else step
        for X, y in _batches(np.float32):
            run(X, y)
        runs.append([p.data.copy() for p in model.parameters()])
    # the same up to float32 rounding (the compiled gradient sums in another order); the
    # optimizer-wide settings on the second group would move it by whole steps
    for eager, compiled in zip(*runs, strict=True):
        np.testing.assert_allclose(compiled, eager, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("dtype", DTYPES)
def test_sgd_update_through_blas_axpy_rounds_once(dtype):
    """Where NumPy's OpenBLAS is found, plain SGD on a large parameter is one axpy:
    ``w - lr * g`` rounded once. The optimizer rounds ``lr * g`` and then the difference,
    so the two differ by at most a few units in the last place of ``max(|w|, |lr * g|)``
    (half of one for ``lr * g``, half of two for each final rounding)."""
    if updates.blas_axpy(dtype) is None:
        pytest.skip("NumPy's OpenBLAS (ILP64 symbols) is not loaded here")
    rng = np.random.default_rng(5)
    w0 = rng.standard_normal((300, 200)).astype(dtype)
    g = rng.standard_normal((300, 200)).astype(dtype)
    ps = [nn.Parameter(w0.copy()) for _ in range(2)]
    for p in ps:
        p.grad = g
    eager, fast = (nn.SGD([p], lr=0.05) for p in ps)
    eager.step()
    version = ps[1]._version
    sgd_step({})(fast)
    assert ps[1]._version > version  # marked changed in place
    bound = 3 * np.spacing(np.maximum(np.abs(w0), np.abs(0.05 * g)).astype(dtype))
    assert np.all(np.abs(ps[1].data - ps[0].data) <= bound)
    assert not np.array_equal(ps[1].data, w0)


def test_a_buffer_has_the_layout_numpy_gives_the_result_and_views_of_it_are_seen():
    from circuitgrad.compiler.buffers import BufferPool, _spec

    want = np.ones((3, 4)).T - 1.0            # NumPy keeps the transposed memory order
    assert not want.flags.c_contiguous
    pool = BufferPool([_spec(want)])
    b = pool(0)
    assert b.shape == want.shape and b.strides == want.strides
    memory = b.__array_interface__["data"][0]
    kept = b[1:]                               # a view of the view: its base is the owner
    del b
    again = pool(0)
    assert not np.shares_memory(again, kept)  # the kept view is not written over
    del again, kept
    assert pool(0).__array_interface__["data"][0] != memory  # the first owner was let go
    reused = pool(0).__array_interface__["data"][0]
    assert pool(0).__array_interface__["data"][0] == reused  # nobody holds it: reused
