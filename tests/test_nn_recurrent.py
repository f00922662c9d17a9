"""RNN, LSTM and GRU (and their cells) as PyTorch lays them out: parameter names, gate order,
bidirectional layers, dropout between layers. Values against recurrences written out in
NumPy here, gradients against central differences in float64, through time."""

import json

import numpy as np
import pytest

import circuitgrad as cg
from circuitgrad import nn
from test_nn_layers import check_layer

F64 = np.float64
RNG = np.random.default_rng(13)


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


# ----- the recurrences in NumPy: x is (T, N, I); weights in PyTorch's (G*H, ...) layout --------
def numpy_rnn_direction(x, W_ih, W_hh, b_ih, b_hh, h, nonlinearity=np.tanh):
    outs = []
    for t in range(x.shape[0]):
        h = nonlinearity(x[t] @ W_ih.T + b_ih + h @ W_hh.T + b_hh)
        outs.append(h)
    return np.stack(outs), (h,)


def numpy_lstm_direction(x, W_ih, W_hh, b_ih, b_hh, h, c):
    H = W_hh.shape[1]
    outs = []
    for t in range(x.shape[0]):
        a = x[t] @ W_ih.T + b_ih + h @ W_hh.T + b_hh
        i, f = sigmoid(a[:, :H]), sigmoid(a[:, H:2 * H])
        g, o = np.tanh(a[:, 2 * H:3 * H]), sigmoid(a[:, 3 * H:])
        c = f * c + i * g
        h = o * np.tanh(c)
        outs.append(h)
    return np.stack(outs), (h, c)


def numpy_gru_direction(x, W_ih, W_hh, b_ih, b_hh, h):
    H = W_hh.shape[1]
    outs = []
    for t in range(x.shape[0]):
        gx, gh = x[t] @ W_ih.T + b_ih, h @ W_hh.T + b_hh
        r = sigmoid(gx[:, :H] + gh[:, :H])
        z = sigmoid(gx[:, H:2 * H] + gh[:, H:2 * H])
        n = np.tanh(gx[:, 2 * H:] + r * gh[:, 2 * H:])
        h = (1 - z) * n + z * h
        outs.append(h)
    return np.stack(outs), (h,)


def numpy_stack(direction, layer, x, state_parts, masks=()):
    """A whole multi-layer, maybe bidirectional, layer: the reverse direction runs on the
    reversed sequence and its outputs are reversed back; directions concatenate on the last
    axis; masks[k] multiplies layer k's output (dropout). Returns out and [h_n(, c_n)]."""
    params = layer.state_dict()
    directions = ("", "_reverse") if layer.bidirectional else ("",)
    finals, index = [], 0
    for k in range(layer.num_layers):
        outs = []
        for suffix in directions:
            w = [params.get(f"{name}_l{k}{suffix}", 0.0) for name in  # bias=False: 0
                 ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
            start = [part[index] for part in state_parts]
            seq = x if suffix == "" else x[::-1]
            out, final = direction(seq, *w, *start)
            outs.append(out if suffix == "" else out[::-1])
            finals.append(final)
            index += 1
        x = np.concatenate(outs, axis=2)
        if k < len(masks):
            x = x * masks[k]
    return x, [np.stack([f[j] for f in finals]) for j in range(len(state_parts))]


def zeros_state(layer, batch, parts):
    count = layer.num_layers * (2 if layer.bidirectional else 1)
    return [np.zeros((count, batch, layer.hidden_size))] * parts


# ----- names -------------------------------------------------------------------------------------
def test_parameter_names_and_shapes_are_pytorchs():
    lstm = nn.LSTM(3, 4, num_layers=2, bidirectional=True, dtype=F64)
    expected = []
    for k, width in ((0, 3), (1, 8)):  # layer 1 reads both directions of layer 0: 2 * 4
        for suffix in ("", "_reverse"):
            expected += [(f"weight_ih_l{k}{suffix}", (16, width)),
                         (f"weight_hh_l{k}{suffix}", (16, 4)),
                         (f"bias_ih_l{k}{suffix}", (16,)), (f"bias_hh_l{k}{suffix}", (16,))]
    assert [(k, v.shape) for k, v in lstm.state_dict().items()] == expected
    gru = nn.GRU(5, 2, bias=False)
    assert [(k, v.shape) for k, v in gru.state_dict().items()] == [
        ("weight_ih_l0", (6, 5)), ("weight_hh_l0", (6, 2))]
    cell = nn.GRUCell(5, 2)
    assert list(cell.state_dict()) == ["weight_ih", "weight_hh", "bias_ih", "bias_hh"]
    assert repr(nn.LSTM(3, 4, 2, batch_first=True, dropout=0.25, bidirectional=True)) == \
        "LSTM(3, 4, num_layers=2, batch_first=True, dropout=0.25, bidirectional=True)"


def test_initial_values_keep_the_uniform_bound_one_over_sqrt_hidden():
    values = np.concatenate([p.data.ravel() for p in nn.GRU(8, 16, num_layers=2,
                                                              rng=0).parameters()])
    assert np.abs(values).max() <= 0.25 and np.abs(values).max() > 0.24


# ----- values and gradients -----------------------------------------------------------------------
def test_lstm_matches_the_numpy_recurrence_and_its_gradient_through_10_steps():
    lstm = nn.LSTM(3, 4, rng=0, dtype=F64)
    x = RNG.standard_normal((10, 2, 3))
    h0, c0 = RNG.standard_normal((1, 2, 4)), RNG.standard_normal((1, 2, 4))
    out, (h, c) = lstm(x, (h0, c0))
    want_out, (want_h, want_c) = numpy_stack(numpy_lstm_direction, lstm, x, [h0, c0])
    np.testing.assert_allclose(out.data, want_out, rtol=1e-12)
    np.testing.assert_allclose(h.data, want_h, rtol=1e-12)
    np.testing.assert_allclose(c.data, want_c, rtol=1e-12)
    weights = RNG.standard_normal((10, 2, 4))

    class Loss(nn.Module):  # everything through time into one number: out and final c
        def __init__(self):
            self.lstm = lstm

        def forward(self, x):
            out, (_, c) = self.lstm(x, (h0, c0))
            return (out * weights).sum() + c.sum()
    check_layer(Loss(), x)


DIRECTIONS = {"RNN": (numpy_rnn_direction, 1), "LSTM": (numpy_lstm_direction, 2),
              "GRU": (numpy_gru_direction, 1)}


@pytest.mark.parametrize("make", [
    lambda: nn.RNN(3, 4, num_layers=2, bidirectional=True, rng=1, dtype=F64),
    lambda: nn.RNN(3, 4, nonlinearity="relu", batch_first=True, rng=1, dtype=F64),
    lambda: nn.LSTM(3, 4, num_layers=2, batch_first=True, bidirectional=True, rng=1,
                    dtype=F64),
    lambda: nn.LSTM(3, 4, num_layers=3, rng=1, dtype=F64),
    lambda: nn.GRU(3, 4, rng=1, dtype=F64),
    lambda: nn.GRU(3, 4, num_layers=2, bidirectional=True, batch_first=True, rng=1,
                   dtype=F64),
    lambda: nn.GRU(3, 4, bias=False, rng=1, dtype=F64),
], ids=["rnn-2-bi", "rnn-relu-bf", "lstm-2-bi-bf", "lstm-3", "gru", "gru-2-bi-bf",
        "gru-nobias"])
def test_recurrent_layers_match_numpy_and_central_differences(make):
    layer = make()
    name = type(layer).__name__
    direction, parts = DIRECTIONS[name]
    if name == "RNN" and layer.nonlinearity == "relu":
        def direction(*args):
            return numpy_rnn_direction(*args, nonlinearity=lambda z: np.maximum(z, 0))
    x = RNG.standard_normal((2, 5, 3)) + 0.1
    batch = 2 if layer.batch_first else 5
    time_major = x.transpose(1, 0, 2) if layer.batch_first else x
    out, state = layer(x)
    want_out, want_state = numpy_stack(direction, layer, time_major,
                                       zeros_state(layer, batch, parts))
    if layer.batch_first:
        want_out = want_out.transpose(1, 0, 2)
    directions = 2 if layer.bidirectional else 1
    assert out.shape == (2, 5, 4 * directions)
    np.testing.assert_allclose(out.data, want_out, rtol=1e-11, atol=1e-13)
    state = [state] if isinstance(state, cg.Tensor) else list(state)
    for got, want in zip(state, want_state, strict=True):
        assert got.shape == (layer.num_layers * directions, batch, 4)
        np.testing.assert_allclose(got.data, want, rtol=1e-11, atol=1e-13)
    weights = RNG.standard_normal(out.shape)

    class Loss(nn.Module):
        def __init__(self):
            self.layer = layer

        def forward(self, x):
            out, state = self.layer(x)
            h = state if isinstance(state, cg.Tensor) else state[-1]
            return (out * weights).sum() + (h * h).sum()
    check_layer(Loss(), x)


def test_the_reverse_direction_reads_the_sequence_backwards():
    """Layer 0's reverse direction at step 0 has seen every step: changing the last input
    changes it, while the forward direction at step 0 stays the same."""
    lstm = nn.GRU(2, 3, bidirectional=True, rng=4, dtype=F64)
    x = RNG.standard_normal((6, 1, 2))
    later = x.copy()
    later[-1] += 1.0
    a, b = lstm(x)[0].data, lstm(later)[0].data
    np.testing.assert_array_equal(a[0, :, :3], b[0, :, :3])
    assert np.abs(a[0, :, 3:] - b[0, :, 3:]).min() > 1e-6
    # h_n[1] is the reverse direction's last step, which is output step 0
    np.testing.assert_array_equal(lstm(x)[1].data[1], a[0, :, 3:])
    np.testing.assert_array_equal(lstm(x)[1].data[0], a[-1, :, :3])


def test_gru_cell_one_step_is_pytorchs_formula():
    cell = nn.GRUCell(3, 2, rng=0, dtype=F64)
    x, h = RNG.standard_normal((4, 3)), RNG.standard_normal((4, 2))
    W_ir, W_iz, W_in = np.split(cell.weight_ih.data, 3)
    W_hr, W_hz, W_hn = np.split(cell.weight_hh.data, 3)
    b_ir, b_iz, b_in = np.split(cell.bias_ih.data, 3)
    b_hr, b_hz, b_hn = np.split(cell.bias_hh.data, 3)
    r = sigmoid(x @ W_ir.T + b_ir + h @ W_hr.T + b_hr)
    z = sigmoid(x @ W_iz.T + b_iz + h @ W_hz.T + b_hz)
    n = np.tanh(x @ W_in.T + b_in + r * (h @ W_hn.T + b_hn))
    np.testing.assert_allclose(cell(x, h).data, (1 - z) * n + z * h, rtol=1e-12)

    class Step(nn.Module):
        def __init__(self):
            self.cell = cell

        def forward(self, x):
            return self.cell(x, h)
    check_layer(Step(), x)
    check_layer(cell, x)  # h = zeros


PYTORCH_GRU_OUT = np.array([[-0.368117138337, -0.50825124129],
                            [0.18773604861, 0.141015446521],
                            [0.069285809551, -0.056911761381]])


def test_gru_numbers_from_pytorch():
    """Numbers PyTorch 2.13 (CPU) printed for torch.nn.GRU(2, 2) with these weights, so the
    equations are PyTorch's and not only the ones written in this file."""
    gru = nn.GRU(2, 2, dtype=F64)
    gru.load_state_dict({
        "weight_ih_l0": np.linspace(-1, 1, 12).reshape(6, 2),
        "weight_hh_l0": np.linspace(1, -0.5, 12).reshape(6, 2),
        "bias_ih_l0": np.linspace(-0.3, 0.3, 6), "bias_hh_l0": np.linspace(0.2, -0.4, 6)})
    x = np.array([[[1.0, -2.0]], [[0.5, 0.25]], [[-1.5, 1.0]]])
    out, h = gru(x)
    np.testing.assert_allclose(out.data[:, 0], PYTORCH_GRU_OUT, rtol=1e-6)
    np.testing.assert_allclose(h.data[0], PYTORCH_GRU_OUT[-1:], rtol=1e-6)


def test_cells_take_states_and_unbatched_input():
    cell = nn.RNNCell(3, 2, rng=0, dtype=F64)
    x, h = RNG.standard_normal((4, 3)), RNG.standard_normal((4, 2))
    want = np.tanh(x @ cell.weight_ih.data.T + cell.bias_ih.data + h @ cell.weight_hh.data.T
                   + cell.bias_hh.data)
    np.testing.assert_allclose(cell(x, h).data, want, rtol=1e-12)
    np.testing.assert_allclose(cell(x[1], h[1]).data, want[1], rtol=1e-12)
    lstm_cell = nn.LSTMCell(3, 2, rng=0, dtype=F64)
    h1, c1 = lstm_cell(x)
    assert h1.shape == c1.shape == (4, 2)
    h1, c1 = lstm_cell(x[0], (h[0], h[0]))
    assert h1.shape == c1.shape == (2,)
    c = RNG.standard_normal((4, 2))

    class Steps(nn.Module):  # both cells, two steps each, from given states
        def __init__(self):
            self.rnn, self.lstm = cell, lstm_cell

        def forward(self, x):
            h_rnn = self.rnn(x, self.rnn(x, h))
            h_lstm, c_lstm = self.lstm(x, self.lstm(x, (h, c)))
            return h_rnn * h_lstm + c_lstm
    check_layer(Steps(), x)


def test_unbatched_sequences_as_pytorch_takes_them():
    lstm = nn.LSTM(3, 4, num_layers=2, rng=2, dtype=F64)
    x = RNG.standard_normal((6, 3))
    out, (h, c) = lstm(x)
    batched, (hb, cb) = lstm(x[:, None, :])
    assert out.shape == (6, 4) and h.shape == c.shape == (2, 4)
    np.testing.assert_array_equal(out.data, batched.data[:, 0])
    np.testing.assert_array_equal(h.data, hb.data[:, 0])
    out2, _ = lstm(x, (h.data, c.data))  # an unbatched state is (layers, H)
    assert out2.shape == (6, 4)


# ----- dropout between layers -------------------------------------------------------------------
def test_dropout_between_layers_only_in_training_and_not_after_the_last():
    nn.manual_seed(5)  # no rng=: the masks come from the shared generator
    lstm = nn.LSTM(3, 4, num_layers=3, dropout=0.4, dtype=F64)
    x = RNG.standard_normal((5, 2, 3))
    plain, _ = numpy_stack(numpy_lstm_direction, lstm, x, zeros_state(lstm, 2, 2))
    lstm.eval()
    np.testing.assert_allclose(lstm(x)[0].data, plain, rtol=1e-12)
    lstm.train()
    nn.manual_seed(9)
    out, (h, _) = lstm(x)
    # the masks the shared generator gives next, one per layer but the last, scaled by 1/(1-p)
    nn.manual_seed(9)
    masks = [(nn.init.generator().random((5, 2, 4)) >= 0.4) / 0.6 for _ in range(2)]
    want, (want_h, _) = numpy_stack(numpy_lstm_direction, lstm, x, zeros_state(lstm, 2, 2),
                                    masks)
    np.testing.assert_allclose(out.data, want, rtol=1e-12)
    np.testing.assert_allclose(h.data, want_h, rtol=1e-12)  # h_n is taken before dropout
    assert np.abs(out.data - plain).max() > 1e-3

    class Seeded(nn.Module):  # the same masks on every call, for central differences
        def __init__(self):
            self.lstm = lstm

        def forward(self, x):
            nn.manual_seed(9)
            return self.lstm(x)[0]
    check_layer(Seeded(), x)


def test_dropout_with_its_own_generator_draws_new_masks_each_call():
    gru = nn.GRU(3, 4, num_layers=2, dropout=0.5, rng=0)
    x = np.ones((4, 2, 3), dtype=np.float32)
    assert not np.array_equal(gru(x)[0].data, gru(x)[0].data)
    gru.eval()
    np.testing.assert_array_equal(gru(x)[0].data, gru(x)[0].data)


# ----- checkpoints and errors --------------------------------------------------------------------
def test_checkpoints_with_the_first_names_still_load(tmp_path):
    """circuitgrad's first LSTM kept its layers as cells.0, cells.1: such files still load,
    with nn.load and model.load."""
    ref = nn.LSTM(3, 4, num_layers=2, batch_first=True, rng=0, dtype=F64)
    old = {f"cells.{k}.{name}": value for (key, value) in ref.state_dict().items()
           for k in (int(key[-1]),) for name in (key.rsplit("_l", 1)[0],)}
    assert sorted(old)[:2] == ["cells.0.bias_hh", "cells.0.bias_ih"]
    architecture = {"class": "LSTM", "args": [3, 4],
                    "kwargs": {"num_layers": 2, "batch_first": True, "dtype": {"dtype": "float64"}}}
    path = tmp_path / "old.npz"
    np.savez(path, **old, __architecture__=np.array(json.dumps(architecture)))
    x = RNG.standard_normal((2, 5, 3))
    np.testing.assert_array_equal(nn.load(path)(x)[0].data, ref(x)[0].data)
    again = nn.LSTM(3, 4, num_layers=2, batch_first=True, rng=1, dtype=F64).load(path)
    np.testing.assert_array_equal(again(x)[0].data, ref(x)[0].data)


def test_new_checkpoints_round_trip(tmp_path):
    gru = nn.GRU(3, 4, num_layers=2, bidirectional=True, dropout=0.1, rng=0)
    gru.save(tmp_path / "gru.npz")
    back = nn.load(tmp_path / "gru.npz")
    assert back.bidirectional and back.dropout == 0.1 and back.num_layers == 2
    x = RNG.standard_normal((5, 2, 3)).astype(np.float32)
    gru.eval()
    back.eval()
    np.testing.assert_array_equal(back(x)[0].data, gru(x)[0].data)


def test_errors_name_the_layer_and_the_shape_expected():
    with pytest.raises(cg.ShapeError, match=r"LSTMCell\(3, 2\) expects input of shape "
                                            r"\(batch, 3\)"):
        nn.LSTMCell(3, 2)(np.ones((4, 5)))
    with pytest.raises(cg.ShapeError, match=r"LSTM\(3, 2\) expects input of shape "
                                            r"\(time, batch, features\)"):
        nn.LSTM(3, 2)(np.ones((4, 2, 5)))
    with pytest.raises(cg.ShapeError, match=r"\(batch, time, features\)"):
        nn.GRU(3, 2, batch_first=True)(np.ones((4, 3, 2)))
    with pytest.raises(cg.ShapeError, match=r"GRU: the initial h_0 should have shape "
                                            r"\(4, 5, 2\) \(num_layers \* directions"):
        nn.GRU(3, 2, num_layers=2, bidirectional=True)(np.ones((7, 5, 3)), np.zeros((2, 5, 2)))
    with pytest.raises(TypeError, match=r"LSTM: the state is a pair \(h, c\)"):
        nn.LSTM(3, 2)(np.ones((7, 5, 3)), np.zeros((1, 5, 2)))
    with pytest.raises(cg.ShapeError, match=r"GRUCell: the initial h should have shape "
                                            r"\(4, 2\)"):
        nn.GRUCell(3, 2)(np.ones((4, 3)), np.zeros((2,)))
    with pytest.raises(ValueError, match="dropout must be a probability"):
        nn.LSTM(3, 2, dropout=1.0)
    with pytest.raises(ValueError, match="num_layers must be a positive integer"):
        nn.RNN(3, 2, num_layers=0)
    with pytest.raises(ValueError, match="nonlinearity must be 'tanh' or 'relu'"):
        nn.RNN(3, 2, nonlinearity="sigmoid")


# ----- proj_size: the LSTM with projections -------------------------------------------------------
def numpy_projected_lstm(layer, x, h0, c0):
    """PyTorch's LSTM with proj_size, written out: h_t = (o * tanh(c_t)) W_hr^T, and layer
    k + 1 reads layer k's projected outputs (both directions). Returns out, h_n, c_n."""
    params = layer.state_dict()
    directions = ("", "_reverse") if layer.bidirectional else ("",)
    H = layer.hidden_size
    hs, cs, index = [], [], 0
    for k in range(layer.num_layers):
        outs = []
        for suffix in directions:
            W_ih, W_hh, b_ih, b_hh, W_hr = (params[f"{name}_l{k}{suffix}"] for name in (
                "weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr"))
            h, c = h0[index], c0[index]
            steps = range(x.shape[0]) if suffix == "" else range(x.shape[0] - 1, -1, -1)
            out = [None] * x.shape[0]
            for t in steps:
                a = x[t] @ W_ih.T + b_ih + h @ W_hh.T + b_hh
                i, f = sigmoid(a[:, :H]), sigmoid(a[:, H:2 * H])
                g, o = np.tanh(a[:, 2 * H:3 * H]), sigmoid(a[:, 3 * H:])
                c = f * c + i * g
                h = (o * np.tanh(c)) @ W_hr.T
                out[t] = h
            outs.append(np.stack(out))
            hs.append(h)
            cs.append(c)
            index += 1
        x = np.concatenate(outs, axis=2)
    return x, np.stack(hs), np.stack(cs)


@pytest.mark.parametrize("options", [dict(), dict(num_layers=2, bidirectional=True)],
                         ids=["one-layer", "2-layers-bi"])
def test_proj_size_matches_the_recurrence_and_central_differences_through_time(options):
    lstm = nn.LSTM(3, 5, proj_size=2, rng=2, dtype=F64, **options)
    D = 2 if lstm.bidirectional else 1
    count = lstm.num_layers * D
    names = [(k, v.shape) for k, v in lstm.state_dict().items()][:5]
    assert names == [("weight_ih_l0", (20, 3)), ("weight_hh_l0", (20, 2)),
                     ("bias_ih_l0", (20,)), ("bias_hh_l0", (20,)), ("weight_hr_l0", (2, 5))]
    if lstm.num_layers > 1:
        assert lstm.weight_ih_l1.shape == (20, 2 * D)  # reads the projected outputs
    x = RNG.standard_normal((6, 2, 3))
    h0, c0 = RNG.standard_normal((count, 2, 2)), RNG.standard_normal((count, 2, 5))
    out, (h, c) = lstm(x, (h0, c0))
    want_out, want_h, want_c = numpy_projected_lstm(lstm, x, h0, c0)
    assert out.shape == (6, 2, 2 * D) and h.shape == (count, 2, 2) and c.shape == (count, 2, 5)
    np.testing.assert_allclose(out.data, want_out, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(h.data, want_h, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(c.data, want_c, rtol=1e-12, atol=1e-14)
    weights = RNG.standard_normal(out.shape)

    class Loss(nn.Module):  # through all six steps into one number, the final c included
        def __init__(self):
            self.lstm = lstm

        def forward(self, x):
            out, (_, c) = self.lstm(x, (h0, c0))
            return (out * weights).sum() + (c * c).sum()
    loss = Loss()
    assert "lstm.weight_hr_l0" in dict(loss.named_parameters())  # checked with the others
    check_layer(loss, x)


def test_proj_size_zero_state_unbatched_and_errors():
    lstm = nn.LSTM(3, 4, proj_size=1, rng=0)
    out, (h, c) = lstm(np.ones((5, 3), np.float32))  # unbatched, zero initial state
    assert out.shape == (5, 1) and h.shape == (1, 1) and c.shape == (1, 4)
    assert repr(lstm) == "LSTM(3, 4, proj_size=1)"
    with pytest.raises(cg.ShapeError, match=r"initial h_0 should have shape \(1, 2, 1\).*"
                                            r"proj_size.*got \(1, 2, 4\)"):
        lstm(np.ones((5, 2, 3)), (np.zeros((1, 2, 4)), np.zeros((1, 2, 4))))
    for bad in (4, 5, -1, 1.5):
        with pytest.raises(ValueError, match="proj_size must be an integer from 0"):
            nn.LSTM(3, 4, proj_size=bad)
    with pytest.raises(ValueError, match="proj_size is only for the LSTM"):
        nn.GRU(3, 4, proj_size=2)
    with pytest.raises(TypeError, match="proj_size"):  # RNN's own signature has none
        nn.RNN(3, 4, proj_size=2)


def test_proj_size_survives_save_and_load(tmp_path):
    lstm = nn.LSTM(3, 4, proj_size=2, num_layers=2, rng=0)
    lstm.save(tmp_path / "lstm.npz")
    again = nn.load(tmp_path / "lstm.npz")
    x = RNG.standard_normal((4, 2, 3)).astype(np.float32)
    np.testing.assert_array_equal(again(x)[0].data, lstm(x)[0].data)
    assert again.proj_size == 2
