"""Module bookkeeping: parameters, modes, casting, and saving/loading state."""

import numpy as np
import pytest

import circuitgrad as cg
from circuitgrad import nn


def convnet(seed=0):
    nn.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Dropout(0.5), nn.Linear(4 * 4 * 4, 3), nn.BatchNorm1d(3))


def batch(seed=1):
    return np.random.default_rng(seed).standard_normal((8, 1, 8, 8)).astype(np.float32)


def test_parameters_are_found_by_name_in_order():
    model = convnet()
    assert [name for name, _ in model.named_parameters()] == [
        "0.weight", "0.bias", "1.weight", "1.bias", "6.weight", "6.bias", "7.weight", "7.bias"]
    assert [name for name, _ in model.named_buffers()] == [
        "1.running_mean", "1.running_var", "7.running_mean", "7.running_var"]
    assert all(p.dtype == np.float32 and p.requires_grad for p in model.parameters())


def test_shared_parameter_appears_once():
    layer = nn.Linear(3, 3, rng=0)
    model = nn.Sequential(layer, nn.ReLU(), layer)
    assert len(model.parameters()) == 2


def test_train_and_eval_reach_every_layer():
    model = convnet()
    model.eval()
    assert not any(m.training for _, m in model.named_modules())
    model.train()
    assert all(m.training for _, m in model.named_modules())


def test_state_dict_round_trip_reproduces_predictions_exactly(tmp_path):
    model = convnet(seed=0)
    opt = nn.SGD(model.parameters(), lr=0.1)
    for _ in range(3):  # move parameters and running statistics away from their start
        loss = nn.softmax_cross_entropy(model(batch()), np.array([0, 1, 2, 0, 1, 2, 0, 1]))
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with cg.no_grad():
        before = model(batch(2)).data

    path = tmp_path / "model.npz"
    model.save(path)
    other = convnet(seed=5).eval()
    with cg.no_grad():
        assert not np.array_equal(other(batch(2)).data, before)
    other.load(path)
    with cg.no_grad():
        np.testing.assert_array_equal(other(batch(2)).data, before)

    third = convnet(seed=6).eval()
    third.load_state_dict(model.state_dict())
    with cg.no_grad():
        np.testing.assert_array_equal(third(batch(2)).data, before)


def test_state_dict_is_a_copy():
    model = nn.Linear(2, 2, rng=0)
    state = model.state_dict()
    state["weight"][:] = 99
    assert not np.any(model.weight.data == 99)


def sgd_step(model, lr=0.5):
    X = np.random.default_rng(0).standard_normal((8, 3)).astype(np.float32)
    loss = nn.softmax_cross_entropy(model(X), np.arange(8) % 2)
    model.zero_grad()
    loss.backward()
    nn.SGD(model.parameters(), lr=lr).step()  # updates p.data in place


def test_state_dict_keeps_its_values_while_training_goes_on():
    model = nn.Sequential(nn.Linear(3, 4, rng=0), nn.BatchNorm1d(4), nn.Linear(4, 2, rng=1))
    best = model.state_dict()
    saved = {k: v.copy() for k, v in best.items()}
    sgd_step(model)
    assert not np.array_equal(model[0].weight.data, saved["0.weight"])  # training moved it
    for name, value in best.items():
        np.testing.assert_array_equal(value, saved[name])


def test_load_state_dict_copies_so_training_leaves_the_dict_alone():
    model = nn.Sequential(nn.Linear(3, 2, rng=0))
    best = model.state_dict()
    saved = {k: v.copy() for k, v in best.items()}
    model.load_state_dict(best)
    for name, p in model.named_parameters():
        assert not np.shares_memory(p.data, best[name])
    sgd_step(model)
    for name, value in best.items():
        np.testing.assert_array_equal(value, saved[name])


def test_two_models_loaded_from_one_dict_do_not_share_weights():
    state = nn.Sequential(nn.Linear(3, 2, rng=0)).state_dict()
    a, b = nn.Sequential(nn.Linear(3, 2, rng=1)), nn.Sequential(nn.Linear(3, 2, rng=2))
    a.load_state_dict(state)
    b.load_state_dict(state)
    sgd_step(a)
    np.testing.assert_array_equal(b[0].weight.data, state["0.weight"])
    assert not np.array_equal(a[0].weight.data, b[0].weight.data)


def test_wrong_shape_names_the_parameter_and_both_shapes():
    model = nn.Sequential(nn.Linear(4, 3, rng=0), nn.ReLU(), nn.Linear(3, 2, rng=0))
    state = model.state_dict()
    state["2.weight"] = np.zeros((5, 2), np.float32)
    before = model.state_dict()
    with pytest.raises(cg.ShapeError,
                       match=r"'2\.weight'.*shape \(5, 2\).*parameter has shape \(3, 2\)"):
        model.load_state_dict(state)
    for name, value in model.state_dict().items():  # nothing was half-loaded
        np.testing.assert_array_equal(value, before[name])


def test_missing_and_unexpected_keys_are_listed():
    model = nn.Linear(2, 2, rng=0)
    with pytest.raises(KeyError, match=r"missing \['bias'\], unexpected \['extra'\]"):
        model.load_state_dict({"weight": np.zeros((2, 2)), "extra": np.zeros(1)})


def test_strict_false_loads_what_fits_and_reports_the_rest():
    model = nn.Sequential(nn.Linear(3, 2, rng=0), nn.ReLU(), nn.Linear(2, 2, rng=1))
    before = model.state_dict()
    state = {"0.weight": np.full((3, 2), 0.5), "2.bias": np.array([1.0, -1.0]),
             "head.weight": np.zeros(4)}
    result = model.load_state_dict(state, strict=False)
    missing, unexpected = result  # unpacks as PyTorch's named tuple does
    assert missing == result.missing_keys == ["0.bias", "2.weight"]
    assert unexpected == result.unexpected_keys == ["head.weight"]
    after = model.state_dict()
    np.testing.assert_array_equal(after["0.weight"], np.full((3, 2), 0.5, np.float32))
    np.testing.assert_array_equal(after["2.bias"], np.array([1.0, -1.0], np.float32))
    for name in missing:  # left as they were
        np.testing.assert_array_equal(after[name], before[name])
    assert repr(model.load_state_dict(model.state_dict())) == "<All keys matched successfully>"
    assert model.load_state_dict(model.state_dict(), strict=False) == ([], [])


def test_strict_false_still_refuses_a_wrong_shape_and_loads_nothing():
    model = nn.Linear(2, 2, rng=0)
    before = model.state_dict()
    with pytest.raises(cg.ShapeError, match=r"'bias'.*shape \(3,\)"):
        model.load_state_dict({"weight": np.ones((2, 2)), "bias": np.zeros(3)}, strict=False)
    np.testing.assert_array_equal(model.weight.data, before["weight"])


def test_strict_error_names_the_keys_and_points_to_strict_false():
    with pytest.raises(KeyError, match=r"missing \['bias'\], unexpected \['b'\].*strict=False"):
        nn.Linear(2, 2, rng=0).load_state_dict({"weight": np.zeros((2, 2)), "b": 0})


def test_loading_keeps_the_models_dtype():
    model = nn.Linear(2, 2, rng=0)
    model.load_state_dict({"weight": np.ones((2, 2)), "bias": np.zeros(2)})  # float64 arrays
    assert model.weight.dtype == np.float32


def test_astype_casts_parameters_and_buffers():
    model = convnet().astype(np.float64)
    assert all(p.dtype == np.float64 for p in model.parameters())
    assert all(b.dtype == np.float64 for _, b in model.named_buffers())
    assert model(batch().astype(np.float64)).dtype == np.float64


def test_float32_model_stays_float32_through_training():
    model = convnet()
    opt = nn.Adam(model.parameters(), lr=1e-3)
    loss = nn.softmax_cross_entropy(model(batch()), np.arange(8) % 3)
    loss.backward()
    assert loss.dtype == np.float32
    assert all(p.grad.dtype == np.float32 for p in model.parameters())
    opt.step()
    assert all(p.dtype == np.float32 for p in model.parameters())
    assert all(b.dtype == np.float32 for _, b in model.named_buffers())


def test_substituted_restores_parameters_even_on_error():
    layer = nn.Linear(2, 2, rng=0)
    original = layer.weight
    with pytest.raises(RuntimeError), nn.substituted(layer, {"weight": cg.tensor(np.eye(2))}):
        raise RuntimeError
    assert layer.weight is original
    with pytest.raises(cg.ShapeError, match="shape"), \
            nn.substituted(layer, {"weight": cg.tensor(np.eye(3))}):
        pass


def test_batch_norm_running_statistics():
    rng = np.random.default_rng(0)
    layer = nn.BatchNorm1d(3, momentum=0.5, dtype=np.float64)
    x = rng.standard_normal((10, 3)) * 2 + 5
    out = layer(x).data
    np.testing.assert_allclose(out.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(out.std(axis=0), 1, atol=1e-4)
    np.testing.assert_allclose(layer.running_mean, 0.5 * x.mean(axis=0))
    np.testing.assert_allclose(layer.running_var, 0.5 + 0.5 * x.var(axis=0, ddof=1))
    layer.eval()
    expected = (x - layer.running_mean) / np.sqrt(layer.running_var + layer.eps)
    np.testing.assert_allclose(layer(x).data, expected)


def test_dropout_scales_in_training_and_passes_in_eval():
    layer = nn.Dropout(0.25, rng=0)
    x = np.ones((1000, 10))
    out = layer(x).data
    assert set(np.unique(out)) == {0.0, 1 / 0.75}
    assert abs(out.mean() - 1) < 0.05
    layer.eval()
    np.testing.assert_array_equal(layer(x).data, x)


def test_layer_shape_errors_are_clear():
    with pytest.raises(cg.ShapeError, match=r"expects \(N, C, H, W\) input with C = 1 "
                                            r"channels on axis 1, got shape \(1, 3, 5, 5\)"):
        nn.Conv2d(1, 2, 3)(np.zeros((1, 3, 5, 5), np.float32))
    with pytest.raises(cg.ShapeError, match=r"channels last\? write x.transpose\(0, 3, 1, 2\)"):
        nn.Conv2d(3, 2, 3)(np.zeros((1, 8, 8, 3), np.float32))  # NHWC
    with pytest.raises(cg.ShapeError, match="does not fit an input H of 2"):
        nn.Conv2d(1, 2, 3)(np.zeros((1, 1, 2, 5), np.float32))
    with pytest.raises(ValueError, match=r"BatchNorm2d\(4\) expects 4-d"):
        nn.BatchNorm2d(4)(np.zeros((2, 4), np.float32))


def test_repr_shows_the_layers():
    text = repr(convnet())
    assert "(0): Conv2d(1, 4, kernel_size=(3, 3)" in text and "(5): Dropout(p=0.5)" in text


def test_a_saved_model_carries_its_architecture(tmp_path):
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding="same", rng=0), nn.BatchNorm2d(4),
                          nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 3, rng=1))
    model[1].running_mean[...] = 0.25
    setattr(model, "4", nn.Linear(4 * 6 * 6, 3, dtype=np.float64, rng=2))  # replaced later
    model.save(tmp_path / "m.npz")
    again = nn.load(tmp_path / "m.npz")
    x = np.random.default_rng(0).standard_normal((2, 1, 6, 6)).astype(np.float32)
    model.eval()
    again.eval()
    np.testing.assert_array_equal(again(x).data, model(x).data)
    assert repr(again) == repr(model) and again[4].weight.dtype == np.float64
    model.load(tmp_path / "m.npz")  # the state alone, into a model built in code, still works


def test_loading_your_own_module_class_and_what_cannot_be_described(tmp_path):
    class Net(nn.Module):
        def __init__(self, width, act=None):
            self.blocks = nn.ModuleList([nn.Linear(2, width, rng=0), act or nn.Tanh()])
            self.out = nn.Linear(width, 1, rng=1)

        def forward(self, x):
            for layer in self.blocks:
                x = layer(x)
            return self.out(x)
    net = Net(5, act=nn.LeakyReLU(0.1))
    net.save(tmp_path / "net.npz")
    with pytest.raises(ValueError, match="pass classes="):
        nn.load(tmp_path / "net.npz")
    again = nn.load(tmp_path / "net.npz", classes={"Net": Net})
    x = np.ones((3, 2), dtype=np.float32)
    np.testing.assert_array_equal(again(x).data, net(x).data)
    assert again.blocks[1].negative_slope == 0.1

    class Odd(nn.Module):
        def __init__(self, table):
            self.table = table
            self.w = nn.Parameter(np.ones(2))
    Odd({"a": 1}).save(tmp_path / "odd.npz")  # the state is saved; the architecture cannot be
    with pytest.raises(ValueError, match="no architecture"):
        nn.load(tmp_path / "odd.npz")
    with pytest.raises(TypeError, match="Odd argument 0 is a dict"):
        Odd({"a": 1}).architecture()
