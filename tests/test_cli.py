"""The ``circuitgrad`` command, run as a user runs it: ``python -m circuitgrad ...``.

Every bad input gives one line on standard error that says what and where, exit status 2,
and no traceback. Expected numbers are computed here with plain math.
"""

import math
import os
import shutil
import subprocess
import sys
import tempfile
import types
from pathlib import Path

import pytest

from circuitgrad import cli
from support import four

SRC = str(Path(__file__).resolve().parents[1] / "src")


def run(*args, stdin=None, cwd=None):
    env = dict(os.environ)
    env["PYTHONPATH"] = SRC + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, "-m", "circuitgrad", *args], input=stdin,
                          capture_output=True, text=True, env=env, timeout=300, cwd=cwd)


STAGED = "(x + sigmoid(y)) / (sigmoid(x) + (x + y)**2)"


def test_grad_prints_value_gradients_and_the_notes_staged_computation():
    x, y = 3.0, -4.0
    sigy = 1 / (1 + math.exp(-y))
    num = x + sigy
    sigx = 1 / (1 + math.exp(-x))
    xpy = x + y
    den = sigx + xpy ** 2
    invden = 1 / den
    dden = (-1 / den ** 2) * num
    dxpy = 2 * xpy * dden
    dx = dxpy + (1 - sigx) * sigx * dden + invden
    dy = dxpy + (1 - sigy) * sigy * invden
    done = run("grad", STAGED, "x=3", "y=-4")
    assert done.returncode == 0, done.stderr
    out = done.stdout.splitlines()
    assert f"value: f = {four(num * invden)}" in out
    assert f"  df/dx = {four(dx)}" in out and f"  df/dy = {four(dy)}" in out
    code = [line.split(" #")[0].rstrip() for line in out]
    for line in [f"sigy = sigmoid(y) = {four(sigy)}", f"num = x + sigy = {four(num)}",
                 f"sigx = sigmoid(x) = {four(sigx)}", f"xpy = x + y = {four(xpy)}",
                 f"xpysqr = xpy**2 = {four(xpy ** 2)}", f"den = sigx + xpysqr = {four(den)}",
                 f"invden = 1 / den = {four(invden)}", f"f = num * invden = {four(num * invden)}",
                 f"dnum = invden * df = {four(invden)}", f"dinvden = num * df = {four(num)}",
                 f"dden = (-1 / den**2) * dinvden = {four(dden)}",
                 f"dsigx = (1) * dden = {four(dden)}", f"dxpysqr = (1) * dden = {four(dden)}",
                 f"dxpy = (2 * xpy) * dxpysqr = {four(dxpy)}",
                 f"dx = (1) * dxpy = {four(dxpy)}", f"dy = (1) * dxpy = {four(dxpy)}",
                 f"dx += ((1 - sigx) * sigx) * dsigx = {four((1 - sigx) * sigx * dden)}",
                 f"dx += (1) * dnum = {four(invden)}", f"dsigy = (1) * dnum = {four(invden)}",
                 f"dy += ((1 - sigy) * sigy) * dsigy = {four((1 - sigy) * sigy * invden)}"]:
        assert line in code, line
    backward = code[code.index("# backward pass") + 1:]
    assert [c.split(" = ")[0] for c in backward if c][:8] == [
        "df", "dnum", "dinvden", "dden", "dsigx", "dxpysqr", "dxpy", "dx"]


def test_check_and_pictures(tmp_path):
    svg, png = tmp_path / "staged.svg", tmp_path / "staged.png"
    done = run("grad", STAGED, "x=3", "y=-4", "--check", "--svg", str(svg), "--png", str(png))
    assert done.returncode == 0, done.stderr
    assert "d/dx: max relative error" in done.stdout and "MISMATCH" not in done.stdout
    assert svg.read_text().lstrip().startswith("<?xml")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "sigy" in svg.read_text()             # every wire is named as in the listing


def test_matrices_and_the_matmul_gate():
    done = run("grad", "sum(W @ x)", "W=[[1, 2], [3, 4]]", "x=[1, -1]")
    assert done.returncode == 0, done.stderr
    assert "  df/dW = [[1.000, -1.000], [1.000, -1.000]]" in done.stdout
    assert "  df/dx = [4.000, 6.000]" in done.stdout
    assert "dW = outer(dWx, x) = [[1.000, -1.000], [1.000, -1.000]]" in done.stdout


def test_clip_with_constant_or_input_bounds():
    done = run("grad", "sum(clip(x, -1, 1) * w)", "x=[0.5, 2]", "w=[1, 2]", "--check")
    assert done.returncode == 0, done.stderr
    assert "  df/dx = [1.000, 0.000]" in done.stdout  # the second entry is clipped
    assert "dx = ((-1 <= x) & (x <= 1)) * dclip1 = [1.000, 0.000]" in done.stdout
    done = run("grad", "clip(x, lo, 1)", "x=0.5", "lo=0.7")  # the bound is the output
    assert done.returncode == 0, done.stderr
    assert "  df/dx  = 0.000" in done.stdout and "  df/dlo = 1.000" in done.stdout


def test_upstream_gradient_for_a_non_scalar_output():
    done = run("grad", "W @ x", "W=[[1, 2], [3, 4]]", "x=[1, -1]", "--upstream", "[1, 2]")
    assert done.returncode == 0, done.stderr
    assert "  df/dx = [7.000, 10.00]" in done.stdout


def test_expression_from_standard_input():
    done = run("grad", "-", "x=4", "y=-3", stdin="x * y\n")
    assert done.returncode == 0, done.stderr
    assert "value: f = -12.00" in done.stdout


def test_name_colon_equals_at_the_top_names_the_result():
    # README: "name := expr to name an intermediate"; Python itself wants parentheses there
    done = run("grad", "q := x * y", "x=-2", "y=5")
    assert done.returncode == 0, done.stderr
    out = done.stdout.splitlines()
    assert out[0].startswith("q = x * y   at")
    assert "value: q = -10.00" in out and "  dq/dx = 5.000" in out
    assert "q = x * y = -10.00   # (1)" in out
    same = run("grad", "(q := x * y)", "x=-2", "y=5")
    assert same.returncode == 0 and same.stdout == done.stdout


def test_name_colon_equals_at_the_top_with_inner_names_and_check():
    done = run("grad", "  s := (p := x + y) * p  # a comment", "x=1", "y=2", "--check",
               "--no-staged")
    assert done.returncode == 0, done.stderr
    assert "value: s = 9.000" in done.stdout and "  ds/dx = 6.000" in done.stdout
    assert "MISMATCH" not in done.stdout


BAD = [
    # (what, args, stdin, words the message must contain)
    ("syntax error", ["grad", "(x + y", "x=1", "y=2"], None,
     ["syntax error", "never closed", "column 1"]),
    ("syntax error inside", ["grad", "x +* y", "x=1", "y=2"], None,
     ["syntax error", "column 4"]),
    ("unknown name", ["grad", "x * q", "x=1"], None, ["'q'", "not given", "column 5"]),
    ("unknown function", ["grad", "x + foo(x)", "x=1"], None,
     ["unknown function 'foo'", "column 5"]),
    ("missing input", ["grad", "x * y", "x=1"], None, ["input 'y'", "add y=VALUE"]),
    ("extra input", ["grad", "x * 2", "x=1", "z=2"], None,
     ["input 'z'", "does not use it"]),
    ("non-finite result", ["grad", "x * log(y)", "x=1", "y=0"], None,
     ["log(y) is -inf", "not a finite number", "column 5"]),
    ("non-finite gradient", ["grad", "sqrt(x)", "x=0"], None,
     ["gradient is not finite", "sqrt(x)", "column 1"]),
    ("attribute access", ["grad", "x.real", "x=1"], None,
     ["attribute access (.real)", "column 2"]),
    ("__import__", ["grad", "__import__('os').system('true')"], None,
     ["unknown function '__import__'", "column 1"]),
    ("lambda", ["grad", "lambda: 1"], None, ["lambda is not allowed", "column 1"]),
    ("lambda called", ["grad", "x + (lambda: 1)()", "x=1"], None,
     ["lambda is not allowed", "column 6"]),
    ("10 MB expression", ["grad", "-", "x=1"], "x+" * (5 * 1024 * 1024) + "x",
     ["10,485,761 characters long", "limit is 10,000"]),
    ("100 kB expression", ["grad", "x+" * 50_000 + "x", "x=1"], None,
     ["100,001 characters long"]),
    ("tower of powers", ["grad", "2**2**2**99"], None,
     ["2**2**99 is inf", "not a finite number", "column 4"]),
    ("tower of powers on an input", ["grad", "x ** 2**2**99", "x=2"], None,
     ["is inf", "column"]),
    ("deep nesting", ["grad", "(" * 300 + "x" + ")" * 300, "x=1"], None,
     ["syntax error", "too many nested parentheses"]),
    ("bad value", ["grad", "x", "x=abc"], None, ["input x", "number or a list of numbers"]),
    ("ragged value", ["grad", "x", "x=[[1, 2], [3]]"], None, ["same length"]),
    ("no NAME=VALUE", ["grad", "x", "x"], None, ["NAME=VALUE"]),
    ("input given twice", ["grad", "x", "x=1", "x=2"], None, ["given twice"]),
    ("comparison", ["grad", "x < 1", "x=1"], None, ["comparisons", "column 1"]),
    ("string", ["grad", "x + 'a'", "x=1"], None, ["string", "column 5"]),
    ("shape mismatch", ["grad", "sum(x @ y)", "x=[1, 2]", "y=[1, 2, 3]"], None,
     ["(2,) and (3,)", "column 5"]),
    ("vector output", ["grad", "x * 2", "x=[1, 2]"], None, ["shape (2,)", "--upstream"]),
    ("picture too large", ["grad", "x" + " * x" * 250, "x=1", "--svg", "never.svg"], None,
     ["250 gates", "stop_at"]),
    # a top-level 'name := expr' reports columns in the text as typed
    ("syntax error after :=", ["grad", "q := (x + y", "x=1", "y=2"], None,
     ["syntax error", "never closed", "column 6"]),
    ("refused after :=", ["grad", "q := x.real", "x=1"], None,
     ["attribute access (.real)", "column 7"]),
    ("nothing after :=", ["grad", "q :="], None, ["syntax error"]),
    ("keyword before :=", ["grad", "if := x", "x=1"], None, ["syntax error", "column 1"]),
    ("input assigned at the top", ["grad", "x := x * 2", "x=1"], None,
     ["'x' is given as an input", ":="]),
    ("no command arguments", ["grad"], None, ["required", "EXPR"]),
    ("unknown command", ["frobnicate"], None, ["invalid choice"]),
]


@pytest.mark.parametrize("what, args, stdin, words", BAD, ids=[b[0] for b in BAD])
def test_bad_input_is_one_line_with_what_and_where_and_status_2(what, args, stdin, words):
    done = run(*args, stdin=stdin)
    assert done.returncode == 2, (what, done.stdout, done.stderr)
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert "error:" in lines[0] and "Traceback" not in done.stderr
    for word in words:
        assert word in lines[0], (word, lines[0])
    assert done.stdout == ""


@pytest.mark.parametrize("args", [["--help"], ["grad", "--help"], ["demo", "--help"]])
def test_help_is_there_for_every_command(args):
    done = run(*args)
    assert done.returncode == 0 and done.stdout.startswith("usage: circuitgrad")
    assert "Traceback" not in done.stderr


def test_grad_help_lists_the_functions_and_examples():
    text = run("grad", "--help").stdout
    assert "sigmoid" in text and "examples:" in text and "--png FILE" in text


# (what, args ({file} is a file, {dir} a folder), words the message must contain);
# each would otherwise train (or run the demo) first, or end in a traceback
BAD_OPTIONS = [
    ("train --out-dir a file", ["train", "digits", "--out-dir", "{file}"],
     ["--out-dir", "{file} exists and is not a folder"]),
    ("train --out-dir under a file", ["train", "digits", "--out-dir", "{file}/sub"],
     ["--out-dir", "cannot create", "{file} is not a folder"]),
    ("train --out-dir empty", ["train", "digits", "--out-dir", ""], ["--out-dir", "empty"]),
    ("train output is a folder", ["train", "digits", "--out-dir", "{dir}"],
     ["--out-dir", "digits-mlp.npz: it is a folder"]),
    ("train --seed -1", ["train", "digits", "--seed", "-1"], ["--seed", "at least 0"]),
    ("train --lr inf", ["train", "digits", "--lr", "inf"], ["--lr", "finite number above 0"]),
    ("train --lr nan", ["train", "digits", "--lr", "nan"], ["--lr", "finite number above 0"]),
    ("train --lr 1e999", ["train", "digits", "--lr", "1e999"], ["--lr", "finite number"]),
    ("train --lr 0", ["train", "digits", "--lr", "0"], ["--lr", "finite number above 0"]),
    ("train --lr text", ["train", "digits", "--lr", "fast"], ["--lr", "not 'fast'"]),
    ("train --epochs 0", ["train", "digits", "--epochs", "0"], ["--epochs", "at least 1"]),
    ("train --epochs 1.5", ["train", "digits", "--epochs", "1.5"],
     ["--epochs", "whole number"]),
    ("train --batch-size 0", ["train", "digits", "--batch-size", "0"],
     ["--batch-size", "at least 1"]),
    ("demo --out a file", ["demo", "--out", "{file}"],
     ["--out", "{file} exists and is not a folder"]),
    ("demo --out under a file", ["demo", "--out", "{file}/sub"],
     ["--out", "cannot create", "{file} is not a folder"]),
]


@pytest.mark.parametrize("what, args, words", BAD_OPTIONS, ids=[b[0] for b in BAD_OPTIONS])
def test_bad_options_of_train_and_demo_stop_up_front_in_one_line(tmp_path, what, args, words):
    if args[0] == "train":
        pytest.importorskip("circuitgrad.nn.train")
        if "--epochs" not in args:  # should a check be missing, the run stays short
            args = [*args, "--epochs", "1", "--no-progress"]
    fill = {"file": tmp_path / "blocker", "dir": tmp_path / "results"}
    fill["file"].write_text("not a folder")
    (fill["dir"] / "digits-mlp.npz").mkdir(parents=True)
    done = run(*[a.format(**fill) for a in args], cwd=tmp_path)  # cwd: default --out-dir
    assert done.returncode == 2, (what, done.stdout, done.stderr)
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and "error:" in lines[0], done.stderr
    for word in words:
        assert word.format(**fill) in lines[0], (word, lines[0])
    assert done.stdout == ""  # nothing ran: no training, no demo
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blocker", "results"]


def test_out_dir_problem_says_what_is_wrong(tmp_path, monkeypatch):
    assert cli.out_dir_problem(str(tmp_path)) is None
    assert cli.out_dir_problem(str(tmp_path / "new" / "deeper")) is None
    assert (tmp_path / "new" / "deeper").is_dir()  # made now, before any long run
    with monkeypatch.context() as m:  # what os.access cannot see (root, special folders)
        m.setattr(tempfile, "TemporaryFile",
                  lambda dir: (_ for _ in ()).throw(OSError(30, "Read-only file system")))
        assert cli.out_dir_problem(str(tmp_path)) == \
            f"cannot write in {tmp_path}: Read-only file system"
    monkeypatch.setattr(os, "access", lambda path, mode: False)  # as if not root
    assert cli.out_dir_problem(str(tmp_path / "other")) == \
        f"cannot write in {tmp_path}: permission denied"
    assert not (tmp_path / "other").exists()


def _nn_package(monkeypatch):
    try:
        import circuitgrad.nn as nn
    except ImportError:  # the nn package is someone else's work in progress
        nn = types.ModuleType("circuitgrad.nn")
        monkeypatch.setitem(sys.modules, "circuitgrad.nn", nn)
    return nn


def test_train_is_dispatched_to_circuitgrad_nn_train(monkeypatch, capsys):
    seen = {}
    fake = types.ModuleType("circuitgrad.nn.train")
    fake.add_arguments = lambda parser: parser.add_argument("--epochs", type=int, default=1)
    fake.run = lambda args: seen.setdefault("epochs", args.epochs) and 0
    monkeypatch.setitem(sys.modules, "circuitgrad.nn.train", fake)
    monkeypatch.setattr(_nn_package(monkeypatch), "train", fake, raising=False)
    assert cli.main(["train", "--epochs", "3"]) == 0
    assert seen == {"epochs": 3}
    with pytest.raises(SystemExit) as done:
        cli.main(["train", "--help"])
    assert done.value.code == 0 and "--epochs" in capsys.readouterr().out


def test_train_says_clearly_when_it_is_not_there(monkeypatch, capsys):
    monkeypatch.delattr(_nn_package(monkeypatch), "train", raising=False)
    monkeypatch.setitem(sys.modules, "circuitgrad.nn.train", None)  # import fails
    assert cli.main(["train", "--epochs", "3"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "training is not available" in err[0]


def test_the_console_script_is_installed_where_pip_put_it():
    script = shutil.which("circuitgrad", path=str(Path(sys.executable).parent))
    if script is None:
        pytest.skip("circuitgrad is not installed in this Python's environment")
    done = subprocess.run([script, "grad", "x * y", "x=4", "y=-3", "--no-staged"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and "df/dx = -3.000" in done.stdout
