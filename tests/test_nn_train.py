"""Training end to end: digits, the train command, and the clear stops (bad data, divergence)."""

import argparse
import subprocess
import sys

import numpy as np
import pytest

from circuitgrad import nn

pytest.importorskip("sklearn")
train = pytest.importorskip("circuitgrad.nn.train")


def args(*argv):
    return train.add_arguments(argparse.ArgumentParser()).parse_args(list(argv))


def small_problem(n=60, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 4)).astype(np.float32)
    return X, (X[:, 0] > 0).astype(np.int64)


def small_model():
    return nn.Sequential(nn.Linear(4, 8, rng=0), nn.ReLU(), nn.Linear(8, 2, rng=1))


def test_small_model_learns_digits_well_above_chance():
    X_train, X_test, y_train, y_test = train.load_digits_split("mlp")
    nn.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
    history = nn.fit(model, nn.DataLoader((X_train, y_train), batch_size=64, seed=0),
                     nn.softmax_cross_entropy, nn.Adam(model.parameters(), lr=0.01), epochs=3,
                     test=(X_test, y_test), num_classes=10)
    assert history["test_accuracy"][-1] > 0.85  # chance is 0.10
    assert history["loss"][0] > history["loss"][-1]


def test_train_command_writes_plot_and_parameters_and_is_reproducible(tmp_path, capsys):
    outputs = []
    for run_dir in ("a", "b"):
        code = train.run(args("digits", "--model", "convnet", "--epochs", "1", "--seed", "3",
                              "--no-progress", "--out-dir", str(tmp_path / run_dir)))
        assert code == 0
        outputs.append(capsys.readouterr().out)
    assert "test accuracy:" in outputs[0]
    # same seed, same numbers (the timing at the end of the line may differ)
    assert outputs[0].split(" s (")[0].rsplit(",", 1)[0] == \
        outputs[1].split(" s (")[0].rsplit(",", 1)[0]
    png = (tmp_path / "a" / "digits-convnet.png").read_bytes()
    assert png.startswith(b"\x89PNG")
    saved_a = np.load(tmp_path / "a" / "digits-convnet.npz")
    saved_b = np.load(tmp_path / "b" / "digits-convnet.npz")
    assert saved_a.files == saved_b.files and "0.weight" in saved_a.files
    for key in saved_a.files:
        np.testing.assert_array_equal(saved_a[key], saved_b[key])
    model = train.build_model("convnet").load(tmp_path / "a" / "digits-convnet.npz")
    X_train, X_test, y_train, y_test = train.load_digits_split("convnet")
    assert nn.accuracy(model, X_test, y_test) > 0.5


def test_progress_bar_ends_showing_the_last_epochs_numbers(tmp_path, capsys):
    code = train.run(args("digits", "--epochs", "2", "--out-dir", str(tmp_path)))
    assert code == 0
    captured = capsys.readouterr()
    right, total = captured.out.split("(")[1].split(")")[0].split("/")
    final_bar = captured.err.strip().split("\r")[-1]
    assert "epoch 2/2" in final_bar
    assert final_bar.endswith(f"test {int(right) / int(total):.1%}]"), final_bar


def test_progress_postfix():
    assert train.progress_postfix(0, 5, 1.0, 0.5) == "epoch 1/5 loss 1.0000 acc 50.0%"
    assert train.progress_postfix(4, 5, 0.1, 0.95, 0.9639).endswith(" acc 95.0% test 96.4%")


def test_diverging_learning_rate_stops_the_command(tmp_path, capsys):
    code = train.run(args("digits", "--lr", "1000", "--epochs", "2", "--no-progress",
                          "--out-dir", str(tmp_path)))
    assert code == 1
    err = capsys.readouterr().err
    assert "diverging" in err and "learning rate 1000" in err
    assert not (tmp_path / "digits-mlp.npz").exists()  # no NaN model is saved


def test_loss_that_becomes_nan_stops_with_a_clear_message():
    X, y = small_problem()
    model = small_model()
    with pytest.raises(nn.TrainingError, match="the loss became (nan|inf).*diverged"), \
            np.errstate(all="ignore"):
        nn.fit(model, nn.DataLoader((X * 1e30, y), batch_size=10, seed=0),
               nn.softmax_cross_entropy, nn.SGD(model.parameters(), lr=1e30), epochs=3)


def test_loss_growth_is_caught_before_it_overflows():
    X, y = small_problem()
    model = small_model()
    with pytest.raises(nn.TrainingError, match=r"grew from .* at epoch 1, step \d+ "
                                               r"\(learning rate 1e\+06\)"):
        nn.fit(model, nn.DataLoader((X, y), batch_size=10, seed=0), nn.softmax_cross_entropy,
               nn.SGD(model.parameters(), lr=1e6), epochs=3)


def test_nan_in_the_data_stops_before_training():
    X, y = small_problem()
    X[17, 2] = np.nan
    X[40, 0] = np.inf
    model = small_model()
    before = model.state_dict()
    with pytest.raises(nn.TrainingError,
                       match=r"training data contains 2 NaN and infinite values .*row 17"):
        nn.fit(model, nn.DataLoader((X, y), batch_size=10), nn.softmax_cross_entropy,
               nn.SGD(model.parameters(), lr=0.1), epochs=1)
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[name])


def test_nan_in_the_test_data_is_reported():
    X, y = small_problem()
    X_test = X.copy()
    X_test[3] = np.nan
    model = small_model()
    with pytest.raises(nn.TrainingError, match="test data contains 4 NaN values"):
        nn.fit(model, nn.DataLoader((X, y)), nn.softmax_cross_entropy,
               nn.SGD(model.parameters(), lr=0.1), epochs=1, test=(X_test, y))


def test_out_of_range_labels_stop_before_training():
    X, y = small_problem()
    y[5] = 7
    model = small_model()
    with pytest.raises(nn.LabelError, match="label 7 at position 5 is out of range.*"
                                            r"\[0, 1\]"):
        nn.fit(model, nn.DataLoader((X, y), batch_size=10), nn.softmax_cross_entropy,
               nn.SGD(model.parameters(), lr=0.1), epochs=1, num_classes=2)
    with pytest.raises(nn.LabelError, match="out of range"):  # and without num_classes
        nn.fit(model, nn.DataLoader((X, y), batch_size=60), nn.softmax_cross_entropy,
               nn.SGD(model.parameters(), lr=0.1), epochs=1)


def test_train_needs_no_optional_dependency_to_import():
    code = ("import sys, circuitgrad, circuitgrad.nn, circuitgrad.nn.train\n"
            "heavy = {'sklearn', 'matplotlib', 'tqdm', 'rich'} & set(sys.modules)\n"
            "assert not heavy, heavy\n")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_module_runs_as_a_script(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "circuitgrad.nn.train", "digits", "--epochs", "1",
         "--no-progress", "--out-dir", str(tmp_path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "test accuracy" in result.stdout


def test_spiral_example_learns_and_draws(tmp_path):
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "examples" / "spiral.py"
    spec = importlib.util.spec_from_file_location("spiral_example", path)
    spiral = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(spiral)
    out = tmp_path / "regions.png"
    assert spiral.main(["--steps", "600", "--out", str(out)]) == 0
    assert out.read_bytes().startswith(b"\x89PNG")
    X, y = spiral.spiral()
    assert X.shape == (300, 2) and np.bincount(y).tolist() == [100, 100, 100]


def test_unusable_out_dir_stops_before_any_training(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(train, "fit", lambda *a, **k: pytest.fail("trained first"))
    blocker = tmp_path / "blocker"
    blocker.write_text("")
    (tmp_path / "taken" / "digits-mlp.png").mkdir(parents=True)
    for out_dir, words in ((blocker, "exists and is not a folder"),
                           (blocker / "sub", f"cannot create {blocker / 'sub'}"),
                           (tmp_path / "taken", "digits-mlp.png: it is a folder")):
        assert train.run(args("digits", "--no-progress", "--out-dir", str(out_dir))) == 2
        err = capsys.readouterr().err.splitlines()
        assert len(err) == 1 and err[0].startswith("circuitgrad train: error: --out-dir: ")
        assert words in err[0], err[0]


@pytest.mark.parametrize("option, value", [
    ("--seed", "-1"), ("--lr", "inf"), ("--lr", "nan"), ("--lr", "0"), ("--lr", "-0.1"),
    ("--epochs", "0"), ("--batch-size", "0"), ("--epochs", "two")])
def test_bad_numbers_are_refused_by_the_parser(option, value, capsys):
    with pytest.raises(SystemExit) as stop:
        args("digits", option, value)
    assert stop.value.code == 2
    assert f"argument {option}: " in capsys.readouterr().err


def test_results_that_cannot_be_saved_end_in_one_line(tmp_path, capsys, monkeypatch):
    def full(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(train, "plot_history", full)
    code = train.run(args("digits", "--epochs", "1", "--no-progress",
                          "--out-dir", str(tmp_path)))
    assert code == 2
    err = capsys.readouterr().err.splitlines()
    assert err == [f"circuitgrad train: error: cannot save the results in {tmp_path}: "
                   f"No space left on device"]


def test_the_wine_data_set_with_the_normalised_mlp_and_a_checkpoint_nn_load_reads(tmp_path,
                                                                                   capsys):
    code = train.run(args("wine", "--model", "mlp-norm", "--epochs", "10", "--no-progress",
                          "--out-dir", str(tmp_path)))
    assert code == 0
    out = capsys.readouterr().out
    right, total = out.split("(")[1].split(")")[0].split("/")
    assert int(total) == 36 and int(right) >= 32  # 3 classes: chance is a third
    model = nn.load(tmp_path / "wine-mlp-norm.npz")  # the architecture came with it
    assert isinstance(model[1], nn.LayerNorm) and isinstance(model[2], nn.GELU)
    _, X_test, _, y_test = train.load_split("wine", "mlp-norm")
    assert round(nn.accuracy(model, X_test, y_test) * 36) == int(right)
    assert train.run(args("wine", "--model", "convnet")) == 2
    assert "needs images" in capsys.readouterr().err


# ----- in Chinese (the command line's --lang zh) -------------------------------------------
def zh_args(*argv):
    parsed = args(*argv)
    parsed.lang = "zh"  # what `circuitgrad train ... --lang zh` adds
    return parsed


def test_a_diverging_run_stops_with_a_chinese_line(tmp_path, capsys):
    code = train.run(zh_args("digits", "--lr", "1000", "--epochs", "2", "--no-progress",
                             "--out-dir", str(tmp_path)))
    assert code == 1
    line, = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("circuitgrad train：损失在第 1 轮第 ") and "（学习率 1000）从 " in line
    assert line.endswith("训练正在发散。请降低学习率"), line


def test_the_progress_bar_speaks_chinese(tmp_path, capsys):
    code = train.run(zh_args("digits", "--epochs", "2", "--out-dir", str(tmp_path)))
    assert code == 0
    captured = capsys.readouterr()
    final_bar = captured.err.strip().split("\r")[-1]
    assert "第 2/2 轮 损失 " in final_bar and " 准确率 " in final_bar and "批/s" in final_bar
    assert "测试 " in final_bar and "epoch" not in final_bar, final_bar
    assert captured.out.startswith("测试准确率：")
    assert (tmp_path / "digits-mlp.png").read_bytes().startswith(b"\x89PNG")


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_plot_draws_every_character_of_its_words(tmp_path, lang):
    """Matplotlib warns of each character its fonts lack (and draws a box): Chinese labels
    fall back to the package's Chinese font, so none is missing."""
    import warnings

    from circuitgrad.i18n import translator
    history = {"loss": [1.0, 0.5], "train_accuracy": [0.5, 0.8], "test_accuracy": [0.4, 0.7]}
    _ = translator(lang)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        train.plot_history(history, tmp_path / "p.png", title=_("{dataset}, {model}, seed "
                                                                "{seed}").format(
            dataset="digits", model="mlp", seed=0), _=_)
    assert (tmp_path / "p.png").read_bytes().startswith(b"\x89PNG")
    from matplotlib.figure import Figure
    figure = Figure()  # without the fallback: the warning this test relies on
    figure.suptitle("训练损失")
    with pytest.warns(UserWarning, match="missing from font"):
        figure.savefig(tmp_path / "q.png")


def test_label_and_data_errors_in_chinese():
    from circuitgrad.i18n import render, translator
    X, y = small_problem()
    y[5] = 7
    model = small_model()
    with pytest.raises(nn.LabelError) as err:
        nn.fit(model, nn.DataLoader((X, y), batch_size=10), nn.softmax_cross_entropy,
               nn.SGD(model.parameters(), lr=0.1), epochs=1, num_classes=2)
    assert render(err.value, translator("zh")).startswith(
        "位置 5 上的标签 7 超出了范围：有 2 个类别时，标签必须在 [0, 1] 之中")
    X[17, 2] = np.nan
    with pytest.raises(nn.TrainingError) as err:
        nn.fit(model, nn.DataLoader((X, y), batch_size=10), nn.softmax_cross_entropy,
               nn.SGD(model.parameters(), lr=0.1), epochs=1)
    assert render(err.value, translator("zh")) == \
        "训练数据中有 1 个值为 NaN（在 1 行中，第一个在第 17 行）；训练之前请删除或填补它们"
