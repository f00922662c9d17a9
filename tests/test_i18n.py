"""English and Chinese: the gettext catalogs, and the command line speaking Chinese.

The Chinese expected here is written by hand in the words of the Chinese CS231n notes
(前向传播, 反向传播, 梯度); the English output is what the other tests check.
"""

import ast
import os
import re
import string
import subprocess
import sys
from pathlib import Path

import pytest

from circuitgrad import i18n
from circuitgrad.expr import ExprError, parse

ROOT = Path(__file__).resolve().parents[1]
SRC = str(ROOT / "src")
CJK = re.compile(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")


def run(*args, **env_vars):
    env = {k: v for k, v in os.environ.items()
           if k not in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")}
    env.update(env_vars)
    env["PYTHONPATH"] = SRC + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, "-m", "circuitgrad", *args], capture_output=True,
                          text=True, env=env, timeout=300)


def _fields(text):
    return sorted(f for _, f, _, _ in string.Formatter().parse(text) if f)


# ----- the catalogs ------------------------------------------------------------------------
def test_every_catalog_translates_every_marked_message():
    marked = i18n.marked_messages()
    assert len(marked) > 100  # the demo, the listing, the CLI and the parser's errors
    assert set(i18n.catalogs()) >= {"zh"}
    for lang, po in i18n.catalogs().items():
        have = i18n.read_po(po.read_text("utf-8"))
        missing = [f"{text!r} ({', '.join(marked[text])})" for text in marked
                   if text not in have]
        assert not missing, f"{lang} does not translate: " + "; ".join(missing)


def test_translations_keep_the_fields_of_their_message():
    for lang, po in i18n.catalogs().items():
        for msgid, msgstr in i18n.read_po(po.read_text("utf-8")).items():
            if msgid:  # the header
                assert _fields(msgid) == _fields(msgstr), (lang, msgid, msgstr)


def test_mo_files_and_template_are_built_from_the_sources():
    for po in i18n.catalogs().values():
        mo = po.with_suffix(".mo")
        assert mo.read_bytes() == i18n.write_mo(i18n.read_po(po.read_text("utf-8"))), \
            f"{mo} is stale: run python tools/catalogs.py"
    pot = i18n.LOCALE / "circuitgrad.pot"
    assert pot.read_text("utf-8") == i18n.write_pot(i18n.marked_messages()), \
        f"{pot} is stale: run python tools/catalogs.py"


def test_the_template_reads_back_as_every_message_untranslated(tmp_path):
    messages = {"plain": ["a.py"], 'with "quotes" and \\': ["b.py"], "two\nlines": []}
    text = i18n.write_pot(messages)
    filled = text.replace('msgstr ""', 'msgstr "X"')
    assert set(i18n.read_po(filled)) == set(messages) | {""}
    assert set(i18n.read_po(text)) == {""}  # the header only: nothing translated yet


def test_the_marker_scan_finds_literal_messages_only(tmp_path):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "m.py").write_text('_("one")\nmsg("two {x}", x=1)\nprint("three")\n_(name)\n')
    found = i18n.marked_messages(pkg)
    assert sorted(found) == ["one", "two {x}"]
    assert found["one"] == ["pkg/m.py"]


def test_package_data_ships_the_catalogs():
    """The wheel's package data (pyproject.toml) matches every catalog file."""
    text = (ROOT / "pyproject.toml").read_text()  # (tomllib is Python 3.11+)
    listed = re.search(r"\[tool\.setuptools\.package-data\][^\[]*?circuitgrad = (\[.*?\])",
                       text, re.S).group(1)
    patterns = ast.literal_eval(listed)
    package = ROOT / "src" / "circuitgrad"
    shipped = {p for pattern in patterns for p in package.glob(pattern)}
    for po in i18n.catalogs().values():
        assert po in shipped and po.with_suffix(".mo") in shipped


# ----- choosing the language ---------------------------------------------------------------
@pytest.mark.parametrize("environ, lang", [
    ({}, "en"),
    ({"LANG": "zh_CN.UTF-8"}, "zh"),
    ({"LANG": "zh_TW.UTF-8"}, "zh"),
    ({"LANG": "en_US.UTF-8"}, "en"),
    ({"LANG": "C.UTF-8"}, "en"),
    ({"LC_ALL": "zh_CN.UTF-8", "LANG": "en_US.UTF-8"}, "zh"),
    ({"LANGUAGE": "en:zh", "LANG": "zh_CN.UTF-8"}, "en"),
    ({"LANGUAGE": "zh_CN:en"}, "zh"),
    ({"LC_MESSAGES": "de_DE.UTF-8", "LANG": "zh_CN.UTF-8"}, "en"),
])
def test_the_locale_chooses_the_language(environ, lang):
    assert i18n.locale_lang(environ) == lang


def test_a_message_made_now_is_shown_in_the_language_of_its_reader():
    zh = i18n.translator("zh")
    with pytest.raises(ExprError) as caught:
        parse("")
    err = caught.value
    assert str(err) == "the expression is empty"  # the library's message stays English
    assert i18n.render(err, zh) == "表达式为空"
    assert i18n.render(err) == "the expression is empty"
    assert i18n.render("not a message", zh) == "not a message"
    assert i18n.translator("xx")("forward pass") == "forward pass"  # no catalog: English


# ----- the command line in Chinese ---------------------------------------------------------
def test_demo_in_chinese_keeps_the_code_as_written():
    done = run("demo", "--lang", "zh", "--no-pictures")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    for words in ["CS231n 反向传播笔记中的例子，按笔记的顺序。", "# 前向传播", "# 反向传播",
                  "笔记：反向传播实践：分段计算", "笔记中的数值（f, dx, dy）：一致",
                  "梯度检查（中心差分）：通过", "要点：加法门把它的梯度 -4 原样传给两个输入",
                  "全部 8 个例子都与笔记和中心差分一致", "dx 现在是 "]:
        assert words in out, words
    # code, function names and variable names as written
    for code in ['$ circuitgrad grad "x * y" x=4 y=-3', "dx = y * df = -3.000",
                 "sigy = sigmoid(y)", "f = num * invden"]:
        assert code in out, code
    english = run("demo", "--no-pictures").stdout
    assert not CJK.search(english)
    assert len(out.splitlines()) == len(english.splitlines())


def test_the_locale_is_the_default_and_lang_overrides_it():
    zh = run("grad", "x * y", "x=4", "y=-3", LANG="zh_CN.UTF-8")
    assert "值：f = -12.00" in zh.stdout and "梯度：" in zh.stdout
    en = run("grad", "x * y", "x=4", "y=-3", "--lang", "en", LANG="zh_CN.UTF-8")
    assert "value: f = -12.00" in en.stdout and not CJK.search(en.stdout)


@pytest.mark.parametrize("args, words", [
    (["grad", "x.real", "x=1"],
     "circuitgrad grad：错误：不允许访问属性（.real），位置：第 2 列：x.real"),
    (["grad", "x * y + z", "x=1", "y=2"], "用到了输入 'z' 但没有给出它的值（加上 z=VALUE）"),
    (["grad", "x +", "x=1"], "表达式有语法错误"),
    (["grad", "x", "x=abc"], "输入 x：值必须是一个数或数的列表"),
    (["grad", "x", "x=1", "x=2"], "输入 'x' 给出了两次"),
    (["grad", "x", "--bogus"], "circuitgrad：错误："),
    (["lab", "--port", "70000"], "circuitgrad lab：错误：--port 必须在 0 到 65535 之间"),
])
def test_command_line_errors_in_chinese(args, words):
    done = run(*args, "--lang", "zh")
    assert done.returncode == 2
    assert words in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr


# the library's own errors, met through circuitgrad grad: (arguments, the Chinese line's
# reason, the English line's reason)
LIBRARY_ERRORS = [
    (["x @ y", "x=[1, 2]", "y=[1, 2, 3]"],
     "门 'matmul' 不能接受尺寸为 (2,) 和 (3,) 的输入：第一个输入的最后一个轴（长度 2）必须和"
     "第二个输入的唯一的轴（长度 3）一样长",
     "gate 'matmul' cannot take inputs of shapes (2,) and (3,): the last axis of the first "
     "(size 2) must match the only axis of the second (size 3)"),
    (["sum(W @ X)", "W=[[1, 2], [3, 4]]", "X=[[1, 2, 3]]"],
     "第一个输入的最后一个轴（长度 2）必须和第二个输入的倒数第二个轴（长度 1）一样长",
     "must match the second-to-last axis of the second (size 1)"),
    (["sum(A @ B)", "A=[[[1, 2]], [[3, 4]]]", "B=[[[1], [2]], [[1], [2]], [[1], [2]]]"],
     "最后两个轴前面的堆叠轴 (2,) 和 (3,) 不能一起广播",
     "the stacked axes in front of the last two, (2,) and (3,), do not broadcast together"),
    (["sum(x + y)", "x=[1, 2]", "y=[1, 2, 3]"],
     "门 'add' 不能接受尺寸为 (2,) 和 (3,) 的输入：它们不能一起广播：从最后一个轴往前数，"
     "每一对长度必须相等，或者其中一个是 1",
     "gate 'add' cannot take inputs of shapes (2,) and (3,): they do not broadcast together"),
    (["sum(x, axis=3)", "x=[1, 2]"], "轴 3 超出了 1 维张量的范围",
     "axis 3 is out of range for a tensor with 1 dimensions"),
    (["sum(x, axis=(0, 0))", "x=[[1, 2]]"], "(0, 0) 中有重复的轴", "repeated axis in (0, 0)"),
    (["x[5]", "x=[1, 2]"], "下标 5 超出了轴 0 的范围（它的长度是 2）",
     "index 5 is out of bounds for axis 0, which has size 2"),
    (["x[0, 1]", "x=[1, 2]"], "1 维的张量用了 2 个下标",
     "2 indices for a tensor with 1 dimensions"),
    (["sum(x[::0])", "x=[1, 2]"], "切片的步长不能是 0", "a slice's step cannot be zero"),
    (["sum(x @ 3)", "x=[1, 2]"], "matmul 的输入至少要有一维；标量请用 *",
     "matmul needs operands of at least one dimension; use * for scalars"),
    (["dot(x, x)", "x=[[[1, 2]]]"], "dot 的输入超过 2 维；请用 matmul 或 einsum",
     "dot of operands with more than 2 dimensions; use matmul or einsum"),
]


@pytest.mark.parametrize("args, chinese, english", LIBRARY_ERRORS,
                         ids=[a[0] for a, _, _ in LIBRARY_ERRORS])
def test_the_librarys_errors_in_chinese_and_english(args, chinese, english):
    done = run("grad", *args, "--lang", "zh")
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    line, = done.stderr.strip().splitlines()
    assert chinese in line, line
    # fully Chinese: with the expression and the gate's name (code, as written) taken
    # out, no English words are left
    words = re.sub(r"'\w+'|\b(matmul|einsum|dot)\b", "", line.replace(args[0], ""))
    assert not re.search(r"[A-Za-z]{2,}", words.replace("circuitgrad grad", "")), line
    done = run("grad", *args, "--lang", "en")
    assert done.returncode == 2 and english in done.stderr and not CJK.search(done.stderr)


def test_an_arrays_summary_in_chinese_in_the_printout_listing_and_picture(tmp_path):
    big = "[[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]]"  # 12 numbers: summarised
    done = run("grad", "sum(W * W)", f"W={big}", "--svg", str(tmp_path / "c.svg"),
               "--lang", "zh")
    assert done.returncode == 0, done.stderr
    assert "W=3×4，均值 5.500，范围 [0.000, 11.00]" in done.stdout            # the inputs
    assert "df/dW = 3×4，均值 11.00，范围 [0.000, 22.00]" in done.stdout      # a gradient
    assert "W = 3×4，均值 5.500，范围 [0.000, 11.00]" in done.stdout          # the listing
    svg = (tmp_path / "c.svg").read_text(encoding="utf-8")  # Chinese and Latin in runs apart
    assert ">，均值</text>" in svg and ">，范围</text>" in svg and "mean" not in svg
    assert "mean" not in done.stdout
    english = run("grad", "sum(W * W)", f"W={big}", "--lang", "en").stdout
    assert "W = 3×4, mean 5.500, range [0.000, 11.00]" in english and not CJK.search(english)


def test_check_and_files_in_chinese(tmp_path):
    done = run("grad", "x * y", "x=4", "y=-3", "--check", "--no-staged", "--svg",
               str(tmp_path / "c.svg"), "--lang", "zh")
    assert done.returncode == 0, done.stderr
    assert "梯度检查（中心差分，float64）：" in done.stdout
    assert "d/dx：最大相对误差" in done.stdout and "通过" in done.stdout
    assert f"已写入 {tmp_path / 'c.svg'}" in done.stdout


def test_every_message_the_cli_prints_is_marked():
    """No print of a literal English sentence in the command line's modules escapes the
    catalogs: each is a _() or msg() call (code and names are printed as they are)."""
    for name in ("cli.py", "notes_examples.py", "report.py", "staged.py", "outdir.py"):
        tree = ast.parse((Path(SRC) / "circuitgrad" / name).read_text("utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) in ("print",
                                                                                   "say"):
                for arg in node.args:
                    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                        assert not re.search(r"[a-z]{3,} [a-z]{3,}", arg.value), \
                            f"{name}:{node.lineno}: {arg.value!r} is not marked for translation"


def test_picture_legend_in_chinese():
    from circuitgrad.expr import parse as parse_expr
    from circuitgrad.report import compute, picture_for

    expr = parse_expr("(x + y) * z")
    report = compute(expr, expr.evaluate({"x": -2.0, "y": 5.0, "z": -4.0}))
    zh = "".join(picture_for(report, i18n.translator("zh")).texts())  # spans of the legend
    assert "绿色：值（前向传播）" in zh and "红色：f 的梯度（反向传播）" in zh
    en = picture_for(report).texts()
    assert "green: value (forward pass)" in en and not any(CJK.search(t) for t in en)


# ----- argparse's words and the help texts -------------------------------------------------
def _columns(line):
    import unicodedata
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in line)


def test_the_argparse_catalog_translates_every_message_of_this_pythons_argparse():
    po = i18n.catalogs("argparse")["zh"]
    have = i18n.read_po(po.read_text("utf-8"))
    wanted = i18n.argparse_messages()
    assert {"usage: ", "options", "positional arguments", "unrecognized arguments: %s",
            "expected %s argument\0expected %s arguments"} <= wanted  # the scan finds them
    assert not sorted(wanted - set(have))
    for msgid, msgstr in have.items():
        if msgid:
            fields = re.compile(r"%\(\w+\)[sr]|%[sr]")
            for form in msgstr.split("\0"):  # each plural form keeps the singular's fields
                assert sorted(fields.findall(msgid.split("\0")[0])) == \
                    sorted(fields.findall(form)), (msgid, msgstr)
    plural = i18n.gettext.translation("argparse", i18n.LOCALE, languages=["zh"])
    assert plural.ngettext("expected %s argument", "expected %s arguments", 2) == "需要 %s 个值"


@pytest.mark.parametrize("args, words", [
    (["--help"], ["用法：circuitgrad [-h] [--version] COMMAND ...", "位置参数：", "选项：",
                  "  -h, --help  显示此帮助信息并退出", "显示 circuitgrad 的版本号并退出",
                  "NumPy 代码的反向模式梯度", "笔记中的每个例子，带检查和图片",
                  "运行 'circuitgrad COMMAND --help' 查看一个命令的选项。"]),
    (["grad", "--help"], ["用法：circuitgrad grad [-h]", "位置参数：", "选项：",
                          "把计算线路的图片写成 SVG", "用中心差分检查每个梯度", "例子：",
                          '  circuitgrad grad "x * y" x=4 y=-3', "表达式：数、输入的名字",
                          "sigmoid"]),
    (["lab", "--help"], ["用法：circuitgrad lab", "启动计算线路实验室", "不打开浏览器"]),
    (["demo", "--help"], ["用法：circuitgrad demo", "按顺序演示", "不生成图片"]),
    (["train", "--help"], ["用法：circuitgrad train", "训练一个由 circuitgrad 的层构成的神经网络。",
                           "要训练的网络（默认：mlp）", "不显示进度条", "消息的语言"]),
])
def test_help_in_chinese(args, words):
    done = run(*args, "--lang", "zh", COLUMNS="80")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    for word in words:
        assert word in out, (word, out)
    for english in ("usage:", "options:", "positional arguments:", "show this help"):
        assert english not in out
    # what is not code reads Chinese: no two English words in a row outside the examples
    prose = out.split("例子：")[0]
    for line in prose.splitlines():
        assert _columns(line) <= 80, line  # Chinese wrapped by the columns it takes
        if not line.lstrip().startswith(("用法：", "[", "--", "-h", "{", "circuitgrad")):
            assert not re.search(r"[A-Za-z]{3,} [a-z]{3,} [a-z]{3,}", line), line
    same = run(*args, COLUMNS="80", LANG="zh_CN.UTF-8")  # the locale chooses it too
    assert same.stdout == out


@pytest.mark.parametrize("args", [["--help"], ["grad", "--help"], ["train", "--help"]])
def test_help_in_english_is_unchanged(args):
    out = run(*args, "--lang", "en").stdout
    assert out.startswith("usage: circuitgrad") and "options:" in out
    assert "show this help message and exit" in out and not CJK.search(out)


@pytest.mark.parametrize("args, line", [  # each line ends "（参见 PROG --help）"
    (["grad", "x", "--bogus"], "circuitgrad：错误：无法识别的参数：--bogus"),
    (["train"], "circuitgrad train：错误：缺少以下必需的参数：dataset"),
    (["gradd"], "circuitgrad：错误：参数 COMMAND：无效的选择：'gradd'（可选：'grad', 'lab', "
                "'demo', 'train'）"),
    (["demo", "--out"], "circuitgrad demo：错误：参数 --out：需要一个值"),
    (["lab", "--port", "x"], "circuitgrad lab：错误：参数 --port：无效的 int 值：'x'"),
    (["train", "digits", "--seed", "-1"],
     "circuitgrad train：错误：参数 --seed：必须至少为 0，而不是 -1"),
    (["train", "digits", "--lr", "fast"],
     "circuitgrad train：错误：参数 --lr：需要一个数，而不是 'fast'"),
])
def test_argparse_errors_in_chinese(args, line):
    if sys.version_info < (3, 11) and "参数 " in line:  # 3.10 does not translate "argument"
        pytest.skip("Python 3.10's argparse writes 'argument X:' untranslated")
    done = run(*args, "--lang", "zh")
    assert done.returncode == 2
    prog = line.split("：")[0]
    assert done.stderr.strip() == f"{line}（参见 {prog} --help）"
    english = run(*args, "--lang", "en")
    assert english.returncode == 2 and not CJK.search(english.stderr)
    assert "error:" in english.stderr


def test_argparse_speaks_chinese_only_for_the_command_line(capsys):
    """Inside one process: the CLI's help in Chinese leaves argparse English for the rest."""
    import argparse
    import gettext

    from circuitgrad import cli

    with pytest.raises(SystemExit):
        cli.main(["grad", "--help", "--lang", "zh"])
    assert "用法：circuitgrad grad" in capsys.readouterr().out
    assert argparse._ is gettext.gettext and argparse.ngettext is gettext.ngettext
    other = argparse.ArgumentParser(prog="other")
    other.add_argument("n")
    assert other.format_help().startswith("usage: other [-h] n")
    assert "positional arguments:" in other.format_help()
    with pytest.raises(SystemExit):
        other.parse_args(["1", "2"])
    assert "other: error: unrecognized arguments: 2" in capsys.readouterr().err
