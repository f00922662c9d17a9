"""The circuit lab: its JSON endpoint over plain HTTP, and its page in a real headless
Chromium (Playwright driving the system's ``chromium``).

Expected numbers are the notes' own: typed in here for f = (x + y) z, and for the other
lessons the numbers ``notes_examples`` records from the notes. Where no chromium is found,
the browser tests are skipped, saying so; with CIRCUITGRAD_REQUIRE_BROWSER=1 (set by
.ci/run) they fail instead.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import types
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from circuitgrad.expr import ExprError
from circuitgrad.lab import i18n
from circuitgrad.lab.data import MAX_ELEMENTS, MAX_GATES, circuit_data
from circuitgrad.lab.server import start
from circuitgrad.notes_examples import EXAMPLES, notes_staged_code

SRC = str(Path(__file__).resolve().parents[1] / "src")
BROWSER_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                "--disable-background-networking"]
# the notes' f = (x + y) z at x = -2, y = 5, z = -4: q = 3, f = -12, df/dx = df/dy = -4,
# df/dz = 3, df/dq = -4
NOTES = {"q": 3.0, "f": -12.0, "dx": -4.0, "dy": -4.0, "dz": 3.0, "dq": -4.0}


@pytest.fixture(scope="module")
def server():
    srv, thread = start()
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join(5)


def post(server, body, raw=None):
    data = raw if raw is not None else json.dumps(body).encode("utf-8")
    request = urllib.request.Request(server.url + "api/circuit", data=data,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


# ----- the JSON endpoint ---------------------------------------------------------------
def test_endpoint_gives_the_notes_numbers_for_x_plus_y_times_z(server):
    status, d = post(server, {"expr": "(q := x + y) * z",
                              "inputs": {"x": "-2", "y": "5", "z": "-4"}})
    assert status == 200
    assert d["value"] == NOTES["f"]
    assert {k: v["value"] for k, v in d["gradients"].items()} == \
        {"x": NOTES["dx"], "y": NOTES["dy"], "z": NOTES["dz"]}
    # forward order: q = x + y, then f = q * z
    assert [(g["label"], g["inputs"], g["output"], g["value"]) for g in d["gates"]] == \
        [("+", ["x", "y"], "q", NOTES["q"]), ("*", ["q", "z"], "f", NOTES["f"])]
    seed, mul, add = d["backward"]
    assert (seed["gate"], seed["gradient"]) == (None, 1.0)
    on_q = mul["inputs"][0]
    assert (on_q["wire"], on_q["local_text"], on_q["local"], on_q["upstream"],
            on_q["gradient"]) == ("q", "z", -4.0, 1.0, NOTES["dq"])
    assert [(i["wire"], i["local"], i["gradient"], i["accumulates"]) for i in add["inputs"]] \
        == [("x", 1.0, NOTES["dx"], False), ("y", 1.0, NOTES["dy"], False)]
    # every listing line names its step: the mul gate's backward lines are step 4
    assert [line["text"].split(" #")[0].strip() for line in d["listing"]
            if line["step"] == mul["step"]] == ["dq = z * df = -4.000", "dz = q * df = 3.000"]
    assert d["last_step"] == 5


def test_a_fork_adds_up_with_plus_equals(server):
    status, d = post(server, {"expr": "(x + sigmoid(y)) / (sigmoid(x) + (x + y)**2)",
                              "inputs": {"x": "3", "y": "-4"}})
    assert status == 200
    notes = next(e for e in EXAMPLES if e.key == "staged").expected  # the notes' code
    into_x = [i for b in d["backward"] for i in b["inputs"] if i["wire"] == "x"]
    assert [i["accumulates"] for i in into_x] == [False, True, True]
    assert into_x[-1]["total"] == pytest.approx(notes["dx"], rel=1e-12)
    assert np.sum([i["gradient"] for i in into_x]) == pytest.approx(notes["dx"], rel=1e-12)
    x = next(w for w in d["wires"] if w["name"] == "x")
    assert x["fork"] and len(x["consumers"]) == 3


@pytest.mark.parametrize("body, message", [
    ({"expr": "x +* y", "inputs": {"x": "1", "y": "2"}}, "syntax error"),
    ({"expr": "x.real", "inputs": {"x": "1"}}, "attribute access"),
    ({"expr": "__import__('os')", "inputs": {}}, "unknown function"),
    ({"expr": "x * y", "inputs": {"x": "1"}}, "input 'y' is used but not given"),
    ({"expr": "x" * 10_001, "inputs": {}}, "the limit is 10,000"),
    ({"expr": "sum(x)", "inputs": {"x": str([1.0] * (MAX_ELEMENTS + 1))}},
     "the limit is 10,000"),
    ({"expr": " + ".join(["x"] * (MAX_GATES + 2)), "inputs": {"x": "1"}},
     f"at most {MAX_GATES} gates"),
    ({"expr": "log(x)", "inputs": {"x": "-1"}}, "not a finite number"),
    ({"expr": 3, "inputs": {}}, "'expr' must be text"),
    ({"expr": "x", "inputs": {"x": ["1"]}}, "'inputs' must map names to values"),
])
def test_bad_input_is_a_one_line_400_and_the_server_keeps_serving(server, body, message):
    status, d = post(server, body)
    assert status == 400
    assert message in d["error"] and "\n" not in d["error"]
    status, d = post(server, {"expr": "x * y", "inputs": {"x": "4", "y": "-3"}})
    assert (status, d["value"]) == (200, -12.0)  # the notes' f = xy at x = 4, y = -3


def test_bad_input_is_explained_in_the_pages_language(server):
    body = {"expr": "__import__('os')", "inputs": {}}
    status, d = post(server, dict(body, lang="zh"))
    assert status == 400 and d["error"].startswith("未知函数 '__import__'")  # zh catalog
    status, d = post(server, dict(body, lang="en"))
    assert status == 400 and d["error"].startswith("unknown function '__import__'")


@pytest.mark.parametrize("body, chinese, english", [
    ({"expr": "sum(W @ x)", "inputs": {"W": "[[1, 2], [3, 4]]", "x": "[1, 2, 3]"}},
     "W @ x 出错：门 'matmul' 不能接受尺寸为 (2, 2) 和 (3,) 的输入：第一个输入的最后一个"
     "轴（长度 2）必须和第二个输入的唯一的轴（长度 3）一样长，位置：第 5 列：sum(W @ x)",
     "W @ x fails: gate 'matmul' cannot take inputs of shapes (2, 2) and (3,): the last axis "
     "of the first (size 2) must match the only axis of the second (size 3), at column 5"),
    ({"expr": "sum(x * y)", "inputs": {"x": "[1, 2]", "y": "[1, 2, 3]"}},
     "门 'mul' 不能接受尺寸为 (2,) 和 (3,) 的输入：它们不能一起广播",
     "gate 'mul' cannot take inputs of shapes (2,) and (3,): they do not broadcast together"),
    ({"expr": "sum(x)", "inputs": {"x": str([1.0] * (MAX_ELEMENTS + 1))}},
     "输入的值一共有 10,001 个数；上限是 10,000",
     "the values have 10,001 numbers in all; the limit is 10,000"),
    ({"expr": "x", "inputs": {"x": ["1"]}}, "'inputs' 必须把名字映射到值，例如 {\"x\": \"3\"}",
     "'inputs' must map names to values, like {\"x\": \"3\"}"),
])
def test_the_librarys_errors_come_in_the_pages_language(server, body, chinese, english):
    status, d = post(server, dict(body, lang="zh"))
    assert status == 400 and chinese in d["error"] and "\n" not in d["error"], d
    words = re.sub(r"'\w+'|sum\(\w+ [@*] \w+\)|\w+ [@*] \w+", "", d["error"])
    assert not re.search(r"[A-Za-z]{2,}", words), d["error"]  # nothing left in English
    status, d = post(server, dict(body, lang="en"))
    assert status == 400 and english in d["error"], d


def test_a_body_that_is_not_json_is_refused(server):
    status, d = post(server, None, raw=b"{not json")
    assert status == 400 and d["error"].startswith("the request is not JSON")


def test_only_127_0_0_1_and_only_its_own_pages(server):
    assert server.server_address[0] == "127.0.0.1"
    with urllib.request.urlopen(server.url, timeout=30) as reply:
        page = reply.read().decode("utf-8")
    assert "window.LAB_CONFIG" in page and "<script src" not in page  # self-contained
    for path in ("static/lab.js", "../pyproject.toml", "etc/passwd", "%2e%2e/README.md"):
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(server.url + path, timeout=30)
        assert err.value.code == 404


def test_data_needs_no_server():
    d = circuit_data("max(x, y)", {"x": "4", "y": "2"})  # the notes: max routes to x
    assert [(i["wire"], i["gradient"]) for i in d["backward"][1]["inputs"]] == \
        [("x", 1.0), ("y", 0.0)]


def test_the_gettext_catalog_is_built_from_its_po():
    for po in i18n.LOCALE.glob("*/LC_MESSAGES/circuitgrad.po"):
        mo = po.with_suffix(".mo")
        assert mo.read_bytes() == i18n.write_mo(i18n.read_po(po.read_text("utf-8"))), \
            f"{mo} is stale: run python -m circuitgrad.lab.i18n"
    assert i18n.translator("zh")("Press Ctrl+C to stop.") == "按 Ctrl+C 停止。"
    assert i18n.translator("en")("Press Ctrl+C to stop.") == "Press Ctrl+C to stop."


def run_cli(*args, cwd=None):
    env = dict(os.environ, PYTHONPATH=SRC + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "circuitgrad", *args], capture_output=True,
                          text=True, env=env, timeout=300, cwd=cwd)


def test_lab_command_prints_its_url_and_serves():
    env = dict(os.environ, PYTHONPATH=SRC + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen([sys.executable, "-m", "circuitgrad", "lab", "--no-browser",
                             "--lang", "zh"], stdout=subprocess.PIPE, text=True, env=env)
    try:
        line = proc.stdout.readline()
        assert line.startswith("计算线路实验室的地址是 http://127.0.0.1:")
        url = line.split()[-1]
        with urllib.request.urlopen(url, timeout=30) as reply:
            assert reply.status == 200
    finally:
        proc.terminate()
        proc.wait(30)


def test_lab_command_refuses_a_bad_port():
    r = run_cli("lab", "--no-browser", "--port", "70000")
    assert r.returncode == 2 and "--port must be between 0 and 65535" in r.stderr


@pytest.mark.parametrize("flag, value, message", [
    ("--time-limit", "0", "argument --time-limit: must be a finite number above 0, not 0"),
    ("--time-limit", "-3", "argument --time-limit: must be a finite number above 0, not -3"),
    ("--time-limit", "inf", "argument --time-limit: must be a finite number above 0, not inf"),
    ("--memory-limit", "abc", "argument --memory-limit: expected a number, not 'abc'"),
    ("--memory-limit", "nan", "argument --memory-limit: must be a finite number above 0"),
])
def test_lab_command_refuses_limits_that_are_not_positive_numbers(flag, value, message):
    r = run_cli("lab", "--no-browser", flag, value)
    assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    r = run_cli("lab", "--no-browser", flag, value, "--lang", "zh")
    assert r.returncode == 2 and ("必须是大于 0 的有限数" in r.stderr or "需要一个数" in r.stderr)


def test_lab_command_gives_the_server_its_time_and_memory_limits(monkeypatch):
    from circuitgrad import cli
    from circuitgrad.lab import server as lab_server
    given = []

    def refuse(port, lang, **limits):  # records what run_lab asks for, then cannot listen
        given.append(limits)
        raise OSError("not in this test")
    monkeypatch.setattr(lab_server, "LabServer", refuse)
    assert cli.main(["lab", "--no-browser", "--time-limit", "2.5", "--memory-limit",
                     "300"]) == 2
    assert cli.main(["lab", "--no-browser"]) == 2
    assert given == [{"time_limit": 2.5, "memory_limit": 300.0},
                     {"time_limit": lab_server.TIME_LIMIT,
                      "memory_limit": lab_server.MEMORY_LIMIT}]


# an outer product through broadcasting: 5,000 + 5,000 input numbers (within the lab's
# 10,000) make a 5,000 x 5,000 wire, 200 MB
OUTER = {"expr": "sum(x * y)", "inputs": {"x": str([[float(i)] for i in range(5000)]),
                                          "y": str([float(i) for i in range(5000)])}}


def test_lab_command_passes_its_limits_to_the_server():
    env = dict(os.environ, PYTHONPATH=SRC + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen([sys.executable, "-m", "circuitgrad", "lab", "--no-browser",
                             "--memory-limit", "100", "--time-limit", "30"],
                            stdout=subprocess.PIPE, text=True, env=env)
    try:
        at = types.SimpleNamespace(url=proc.stdout.readline().split()[-1])
        status, d = post(at, OUTER)
        assert status == 503 and "more than 100 MB" in d["error"], d
        status, d = post(at, {"expr": "x * y", "inputs": {"x": "4", "y": "-3"}})
        assert (status, d["value"]) == (200, -12.0)
    finally:
        proc.terminate()
        proc.wait(30)


# ----- the page in a browser ------------------------------------------------------------
@pytest.fixture(scope="module")
def browser():
    executable = shutil.which("chromium")
    why = None
    if executable is None:
        why = "no chromium on PATH (apt-get install chromium)"
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        why = why or "playwright is not installed (pip install 'circuitgrad[test]')"
    if why:
        if os.environ.get("CIRCUITGRAD_REQUIRE_BROWSER"):
            pytest.fail(f"CIRCUITGRAD_REQUIRE_BROWSER is set but {why}")
        pytest.skip(f"BROWSER TESTS SKIPPED: {why}")
    with tempfile.TemporaryDirectory() as profile, sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            profile, executable_path=executable, headless=True, args=BROWSER_ARGS,
            viewport={"width": 1400, "height": 900})
        yield context
        context.close()


# Chromium logs every 4xx response as a console error; a test that sends a bad expression
# on purpose expects exactly that one, and nothing else.
REFUSED = "Failed to load resource: the server responded with a status of 400 (Bad Request)"


@pytest.fixture
def page(browser, request):
    """A fresh page; any error in the browser console fails the test."""
    tab = browser.new_page()
    errors = []
    tab.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    tab.on("pageerror", lambda err: errors.append(str(err)))
    yield tab
    tab.close()
    if request.node.get_closest_marker("refused_requests"):
        errors = [e for e in errors if e != REFUSED]
    assert not errors, f"errors in the browser console: {errors}"


def number(page, selector):
    return float(number_text(page, selector))


def number_text(page, selector):
    return page.locator(selector).text_content()  # an SVG text has no inner_text


def lesson(page, server, key):
    page.goto(server.url)
    page.locator(f"[data-lesson='{key}']").click()
    page.wait_for_function(f"new URLSearchParams(location.search).get('lesson') === '{key}'"
                           " && document.querySelector('[data-gate]') !== null")
    page.locator("#counter").filter(has_text="step 0").wait_for()


def test_stepping_through_the_notes_x_plus_y_times_z(page, server):
    lesson(page, server, "add-multiply")
    assert page.locator("[data-grad]").count() == 0  # nothing back-propagated yet
    page.locator("#step").click()
    assert number(page, "[data-value=q]") == NOTES["q"]
    assert page.locator("[data-value=f]").count() == 0  # f not computed yet
    page.locator("#step").click()
    assert number(page, "[data-value=f]") == NOTES["f"]
    page.locator("#step").click()  # the backward pass starts: df = 1
    assert number(page, "[data-grad=f]") == 1.0
    page.keyboard.press("ArrowRight")  # the * gate
    status = page.locator("#status").inner_text()
    assert "local ∂f/∂q = z = -4, upstream 1.000, gradient on q = -4.000" in status
    assert page.locator("#listing .active").all_inner_texts()[0].startswith(
        "dq = z * df = -4.000")
    page.locator("#step").click()  # the + gate: the end
    assert "step 5 of 5" in page.locator("#counter").inner_text()
    for name in "xyz":
        assert number(page, f"[data-grad={name}]") == NOTES["d" + name]
    assert number(page, "[data-grad=q]") == NOTES["dq"]
    page.locator("#back").click()
    assert page.locator("[data-grad=x]").count() == 0
    page.keyboard.press("Home")
    assert "step 0 of 5" in page.locator("#counter").inner_text()


SCALAR_LESSONS = [e for e in EXAMPLES if e.upstream is None]


@pytest.mark.parametrize("example", SCALAR_LESSONS, ids=[e.key for e in SCALAR_LESSONS])
def test_every_lesson_runs_to_the_notes_gradients(page, server, example):
    lesson(page, server, example.key)
    assert page.locator("#explanation").inner_text().strip()
    page.locator("#run").click()
    for key, want in example.expected.items():
        if not key.startswith("d") or key[1:] not in example.inputs:
            continue
        got = json.loads(page.locator(f"[data-grad={key[1:]}]").text_content())
        assert np.allclose(got, want, atol=max(example.tolerance, 1e-3)), (key, got, want)


def test_the_matmul_lesson_shows_shapes(page, server):
    lesson(page, server, "matmul")
    page.keyboard.press("End")
    page.locator("[data-wire=W]").first.click()
    assert "shape 5×10" in page.locator("#wire-info").inner_text()
    assert page.locator("#listing .active").count() == 2  # dW = ..., dX = ...


def test_chinese(page, server):
    lesson(page, server, "add-multiply")
    page.locator("#lang").click()
    assert page.locator("#step").inner_text() == "下一步"
    assert "链式法则" in page.locator("#explanation").inner_text()
    for _ in range(4):
        page.keyboard.press("ArrowRight")
    assert "局部梯度 ∂f/∂q = z = -4，上游梯度 1.000，q 上的梯度 = -4.000" in \
        page.locator("#status").inner_text()
    assert "lang=zh" in page.url


def test_chinese_says_the_listing_and_the_arrays_summaries_in_chinese(page, server):
    big = json.dumps([[i + j / 10 for j in range(4)] for i in range(3)])  # 12 > SMALL: a summary
    page.goto(server.url + "?" + urllib.parse.urlencode(
        {"expr": "sum(W * W)", "W": big, "lang": "zh", "step": 99}))
    page.locator("#counter").filter(has_text="第 5 步").wait_for()
    listing = page.locator("#listing").inner_text()
    assert "# 前向传播" in listing and "# 反向传播" in listing
    assert "W = 3×4，均值 1.150，范围 [0.000, 2.300]" in listing
    assert "mean" not in listing and "forward pass" not in listing
    assert number_text(page, "[data-value=W]") == "均值 1.150，范围 [0.000, 2.300]"  # the picture
    page.locator("[data-wire=W]").first.dispatch_event("click")  # under its label
    info = page.locator("#wire-info").inner_text()
    assert "均值 1.150，范围 [0.000, 2.300]" in info and "mean" not in info
    page.locator("#lang").click()  # the same page in English
    assert "W = 3×4, mean 1.150, range [0.000, 2.300]" in page.locator("#listing").inner_text()


@pytest.mark.refused_requests
def test_an_invalid_expression_shows_its_message(page, server):
    lesson(page, server, "multiply")
    page.locator("#expr").fill("x +* y")
    error = page.locator("#error")
    error.wait_for(state="visible")
    assert "syntax error" in error.inner_text() and "\n" not in error.inner_text()
    page.locator("#expr").fill("x * y + 1")
    error.wait_for(state="hidden")
    page.keyboard.press("End")  # the arrow keys step only outside the input boxes
    page.locator("#picture").click()
    page.keyboard.press("End")
    assert number(page, "[data-value=f]") == -11.0


def test_a_link_reproduces_a_step(page, server):
    page.goto(server.url + "?expr=x+*+y&x=4&y=-3&lang=zh&step=3")
    page.locator("#counter").filter(has_text="第 3 步").wait_for()
    assert number(page, "[data-grad=x]") == -3.0  # the notes: df/dx = y = -3
    assert number(page, "[data-grad=y]") == 4.0   # df/dy = x = 4
    assert page.locator("#listing .active").count() == 2


def test_the_html_page_works_from_a_file(page, tmp_path):
    r = run_cli("grad", "(q := x + y) * z", "x=-2", "y=5", "z=-4", "--html", "lab.html",
                cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    page.goto((tmp_path / "lab.html").as_uri())
    page.locator("[data-gate]").first.wait_for()
    assert page.locator("#offline").is_visible()
    page.keyboard.press("End")
    for name in "xyz":
        assert number(page, f"[data-grad={name}]") == NOTES["d" + name]
    assert number(page, "[data-value=f]") == NOTES["f"]


def test_a_fork_shows_the_branches_adding_up(page, server):
    # the notes' staged example: x feeds three gates; after (4), (3) and (2) of the notes'
    # backward code, dx is dxpy, then += the sigmoid's branch, then += dnum
    notes = notes_staged_code(3.0, -4.0)
    after_4 = notes["dxpy"]
    after_3 = after_4 + (1 - notes["sigx"]) * notes["sigx"] * notes["dsigx"]
    expr = "(x + sigmoid(y)) / (sigmoid(x) + (x + y)**2)"
    page.goto(server.url + "?" + urllib.parse.urlencode({"expr": expr, "x": 3, "y": -4,
                                                          "step": 14}))
    page.locator("#counter").filter(has_text="step 14 of").wait_for()
    assert number(page, "[data-grad=x]") == pytest.approx(after_4, rel=1e-3)
    assert page.locator("[data-share^='x>']").count() == 1  # one branch has sent its share
    assert page.locator("[data-plus-equals]").count() == 0  # the first branch: dx = ...
    page.keyboard.press("ArrowRight")  # (3): the sigmoid gate's branch
    assert number(page, "[data-grad=x]") == pytest.approx(after_3, rel=1e-3)
    assert page.locator("[data-share^='x>']").count() == 2
    assert "x forks: += adds this branch's" in page.locator("#status").inner_text()
    assert page.locator("#listing .active").inner_text().startswith("dx += ")
    assert page.locator("[data-plus-equals=x]").text_content() == "+="
    page.locator("[data-wire=x]").first.click()  # the wire's branches so far, and their sum
    branches = page.locator("#wire-text").inner_text().split("\n")[1]
    shares = [float(v) for v in re.findall(r"(-?[\d.]+(?:e-?\d+)?) \(from", branches)]
    assert shares == [pytest.approx(after_4, rel=1e-3),
                      pytest.approx(after_3 - after_4, rel=1e-3)]
    assert branches.startswith("dx adds up its branches with +=: ")
    assert branches.endswith(" so far; 1 more to come")
    page.keyboard.press("ArrowRight")  # (2): the numerator's branch; dx is the notes' dx
    assert number(page, "[data-grad=x]") == pytest.approx(notes["dx"], rel=1e-3)
    assert page.locator("[data-share^='x>']").count() == 3
    total = page.locator("#wire-text").inner_text().split("\n")[1].rsplit(" = ", 1)[1]
    assert float(total) == pytest.approx(notes["dx"], rel=1e-3)


# ----- cg.lab in a notebook --------------------------------------------------------------
def named(**values):
    import circuitgrad as cg
    return [cg.tensor(float(v), requires_grad=True, name=k) for k, v in values.items()]


def notes_tensor_circuit():
    """The notes' f = (x + y) z as tensors, with the notes' names on every wire."""
    x, y, z = named(x=-2, y=5, z=-4)
    q = x + y
    q.name = "q"
    return q * z


def test_cg_lab_of_an_expression():
    import circuitgrad as cg
    d = cg.lab("x * y + z", x=3, y=-4, z=2).data
    # f = 3 (-4) + 2 = -10; df/dx = y = -4, df/dy = x = 3, df/dz = 1
    assert d["value"] == -10.0
    assert {k: v["value"] for k, v in d["gradients"].items()} == {"x": -4.0, "y": 3.0, "z": 1.0}
    arrays = cg.lab("sum(w * x)", x=np.array([1.0, 2.0]), w=[3, -1]).data
    assert arrays["gradients"]["w"]["value"] == [1.0, 2.0]  # d(w.x)/dw = x
    assert arrays["inputs"] == {"x": "[1.000, 2.000]", "w": "[3.000, -1.000]"}
    clash = cg.lab("lang * height", inputs={"lang": 2, "height": 5}, lang="zh")
    assert (clash.lang, clash.data["gradients"]["lang"]["value"]) == ("zh", 5.0)


def test_cg_lab_of_a_tensor_reads_its_circuit_with_the_tensors_names():
    import circuitgrad as cg
    d = cg.lab(notes_tensor_circuit()).data
    assert [w["name"] for w in d["wires"]] == ["x", "y", "q", "z", "f"]
    assert [(g["label"], g["inputs"], g["output"], g["value"]) for g in d["gates"]] == \
        [("+", ["x", "y"], "q", NOTES["q"]), ("*", ["q", "z"], "f", NOTES["f"])]
    assert {k: v["value"] for k, v in d["gradients"].items()} == \
        {"x": NOTES["dx"], "y": NOTES["dy"], "z": NOTES["dz"]}
    on_q = d["backward"][1]["inputs"][0]
    assert (on_q["wire"], on_q["local_text"], on_q["local"], on_q["gradient"]) == \
        ("q", "z", -4.0, NOTES["dq"])
    # the same steps and listing as the expression typed as text
    typed = circuit_data("(q := x + y) * z", {"x": "-2", "y": "5", "z": "-4"})
    for key in ("gates", "backward", "listing", "last_step"):
        assert d[key] == typed[key], key


def test_cg_lab_of_a_vector_tensor_needs_its_upstream_gradient():
    import circuitgrad as cg
    x = cg.tensor([1.0, 2.0], requires_grad=True, name="x")
    with pytest.raises(ExprError, match=r"shape \(2,\), not a single number.*upstream="):
        cg.lab(x * x)
    d = cg.lab(x * x, upstream=[1.0, -1.0]).data
    assert d["gradients"]["x"]["value"] == [2.0, -4.0]  # 2 x * upstream


@pytest.mark.parametrize("call, message", [
    (lambda cg: cg.lab(3.0), "takes a Tensor or an expression as text, not float"),
    (lambda cg: cg.lab(cg.tensor(2.0) * 3), "does not depend on any tensor with "
                                            "requires_grad=True"),
    (lambda cg: cg.lab(notes_tensor_circuit(), x=1), "a tensor's circuit has its values"),
    (lambda cg: cg.lab("x * y", x=1), "input 'y' is used but not given"),
    (lambda cg: cg.lab("x", x="three"), "input x: not a number"),
])
def test_cg_lab_says_what_is_wrong(call, message):
    import circuitgrad as cg
    with pytest.raises(ExprError, match=message):
        call(cg)


def test_cg_lab_is_the_lab_package_made_callable():
    import circuitgrad as cg
    import circuitgrad.lab.server as server_module  # the package's modules import as usual
    assert server_module.start is start
    assert "lab" in cg.__all__ and callable(cg.lab)


def test_the_notebook_output_is_one_sandboxed_frame_with_everything_inside():
    import html

    import circuitgrad as cg
    out = cg.lab("x * y", x=4, y=-3)._repr_html_()
    assert out.startswith('<iframe class="circuitgrad-lab" srcdoc="')
    assert 'sandbox="allow-scripts"' in out and out.endswith("</iframe>")
    inner = html.unescape(out.split('srcdoc="', 1)[1].split('" sandbox=', 1)[0])
    assert inner.startswith("<!DOCTYPE html>")
    assert "<script src" not in inner and "<link rel=\"stylesheet\"" not in inner
    # the one address in it is SVG's namespace, which is a name, not fetched
    assert set(re.findall(r"https?://[^\s\"'<>]+", inner)) == {"http://www.w3.org/2000/svg"}


def notebook_file(tmp_path, view):
    """A page holding a notebook's output cell: what Jupyter shows."""
    path = tmp_path / "notebook.html"
    path.write_text(f"<!DOCTYPE html><html><body><div class='output'>{view._repr_html_()}"
                    f"</div></body></html>", encoding="utf-8")
    return path.as_uri()


@pytest.mark.parametrize("how", ["tensor", "text"])
def test_the_notebook_output_steps_forward_and_backward(page, tmp_path, how):
    import circuitgrad as cg
    view = cg.lab(notes_tensor_circuit()) if how == "tensor" else \
        cg.lab("(q := x + y) * z", x=-2, y=5, z=-4)
    fetched = []
    page.on("request", lambda r: fetched.append(r.url))
    page.goto(notebook_file(tmp_path, view))
    lab = page.frame_locator("iframe.circuitgrad-lab")
    lab.locator("[data-gate]").first.wait_for()
    assert "step 0 of 5" in lab.locator("#counter").inner_text()
    assert [u for u in fetched if not u.startswith("file://")] == []  # no server, no CDN
    assert lab.locator("#offline").is_hidden() and lab.locator("#lessons-box").is_hidden()
    lab.locator("#step").click()
    assert number(lab, "[data-value=q]") == NOTES["q"]
    assert lab.locator("[data-value=f]").count() == 0
    lab.locator("#step").click()
    assert number(lab, "[data-value=f]") == NOTES["f"]
    lab.locator("#step").click()
    lab.locator("#step").click()  # the * gate's backward step
    assert "local ∂f/∂q = z = -4, upstream 1.000, gradient on q = -4.000" in \
        lab.locator("#status").inner_text()
    assert lab.locator("[data-grad=x]").count() == 0
    lab.locator("#step").click()
    for name in "xyz":
        assert number(lab, f"[data-grad={name}]") == NOTES["d" + name]
    lab.locator("#back").click()
    assert lab.locator("[data-grad=x]").count() == 0
    assert number(lab, "[data-grad=q]") == NOTES["dq"]
    lab.locator("#lang").click()
    assert lab.locator("#step").inner_text() == "下一步"


# ----- tensors: shapes, tables, heatmaps, the notes' dimension check ----------------------
MATMUL = next(e for e in EXAMPLES if e.key == "matmul")


def lesson_arrays():
    """The matmul lesson's W, X and dD as the page has them (its inputs as text)."""
    from circuitgrad.expr import parse_value
    lesson = next(x for x in __import__("circuitgrad.lab.lessons", fromlist=["lessons"])
                  .lessons() if x["key"] == "matmul")
    return (parse_value(lesson["inputs"]["W"]), parse_value(lesson["inputs"]["X"]),
            parse_value(lesson["upstream"]))


def cells(locator):
    return np.array([[float(td) for td in tr.locator("td").all_inner_texts()]
                     for tr in locator.locator("tr").all()])


def test_array_wires_show_their_shapes_and_a_table(page, server):
    W, X, dD = lesson_arrays()
    lesson(page, server, "matmul")
    assert [page.locator(f"[data-shape={n}]").text_content().strip() for n in "WXD"] == \
        ["5×10", "10×3", "5×3"]
    page.locator("[data-wire=X]").first.click()
    assert "shape 10×3" in page.locator("#wire-text").inner_text()
    shown = cells(page.locator("[data-array=value] table"))
    assert shown.shape == (10, 3) and np.allclose(shown, X, rtol=1e-3, atol=1e-4)
    assert page.locator("[data-array=grad]").count() == 0  # no gradient yet
    page.keyboard.press("End")
    shown = cells(page.locator("[data-array=grad] table"))
    assert np.allclose(shown, W.T @ dD, rtol=1e-3, atol=1e-3)  # the notes' dX = W.T.dot(dD)


def test_the_matmul_step_shows_the_notes_dimension_reasoning(page, server):
    lesson(page, server, "matmul")
    page.keyboard.press("End")
    status = page.locator("#status").inner_text()
    # the notes: X is [10x3], dD is [5x3]; dW must be W's [5x10], so dW = dD.dot(X.T)
    assert "dW must have W's shape 5×10; dD is 5×3 and Xᵀ is 3×10, so dD·Xᵀ is 5×10" in status
    assert "dX must have X's shape 10×3; Wᵀ is 10×5 and dD is 5×3, so Wᵀ·dD is 10×3" in status
    page.locator("#lang").click()
    status = page.locator("#status").inner_text()
    assert "维度分析：dW 的尺寸必须和 W 一样，是 5×10；dD 是 5×3，Xᵀ 是 3×10，所以 dD·Xᵀ 是 5×10" \
        in status
    assert "维度分析：dX 的尺寸必须和 X 一样，是 10×3；Wᵀ 是 10×5，dD 是 5×3，所以 Wᵀ·dD 是 10×3" \
        in status


# batched matmul: (W, X shapes) -> per input, (left factor, right factor, their product,
# the input's shape); worked out by hand from NumPy's rules (a stack of matrices on the
# axes in front of the last two; a 1-d operand a row on the left, a column on the right)
STACKED = [
    ((4, 2, 3), (4, 3, 5), [("dD", (4, 2, 5), "Xᵀ", (4, 5, 3), (4, 2, 3), (4, 2, 3)),
                            ("Wᵀ", (4, 3, 2), "dD", (4, 2, 5), (4, 3, 5), (4, 3, 5))]),
    ((2, 3), (4, 3, 5), [("dD", (4, 2, 5), "Xᵀ", (4, 5, 3), (4, 2, 3), (2, 3)),
                         ("Wᵀ", (3, 2), "dD", (4, 2, 5), (4, 3, 5), (4, 3, 5))]),
    ((4, 1, 2, 3), (5, 3, 1), [("dD", (4, 5, 2, 1), "Xᵀ", (5, 1, 3), (4, 5, 2, 3), (4, 1, 2, 3)),
                               ("Wᵀ", (4, 1, 3, 2), "dD", (4, 5, 2, 1), (4, 5, 3, 1),
                                (5, 3, 1))]),
    ((4, 2, 3), (3,), [("dD", (4, 2, 1), "Xᵀ", (1, 3), (4, 2, 3), (4, 2, 3)),
                       ("Wᵀ", (4, 3, 2), "dD", (4, 2), (4, 3), (3,))]),
    ((3,), (4, 3, 5), [("X", (4, 3, 5), "dD", (4, 5), (4, 3), (3,)),
                       ("W", (3, 1), "dDᵀ", (4, 1, 5), (4, 3, 5), (4, 3, 5))]),
]


def _stacked_matmul(shape_w, shape_x, seed=0):
    rng = np.random.default_rng(seed)
    w, x = rng.standard_normal(shape_w).round(2), rng.standard_normal(shape_x).round(2)
    d = circuit_data("sum((D := W @ X) * D)", {"W": str(w.tolist()), "X": str(x.tolist())})
    matmul = next(b for b in d["backward"] if b["gate"] == "D")
    return w, x, d, [i["dims"] for i in matmul["inputs"]]


@pytest.mark.parametrize("shape_w, shape_x, want", STACKED,
                         ids=[f"{w}@{x}" for w, x, _ in STACKED])
def test_stacked_matmul_gets_the_dimension_check_on_its_last_two_axes(shape_w, shape_x, want):
    w, x, d, dims = _stacked_matmul(shape_w, shape_x)
    for dim, (left, ls, right, rs, product, shape), name in zip(dims, want, "WX", strict=True):
        assert dim["stacked"] and (dim["gradient"], dim["of"]) == ("d" + name, name)
        assert (dim["left"], dim["right"]) == ([left, list(ls)], [right, list(rs)])
        assert (dim["product"], dim["shape"]) == (list(product), list(shape))
        assert np.shape(d["gradients"][name]["value"]) == shape
    # and the numbers: dW and dX are those products, summed over the axes W or X was
    # broadcast along (f = sum(D * D), so dD = 2 D)
    if len(shape_w) >= 2 and len(shape_x) >= 2:
        dD = 2 * np.matmul(w, x)
        for name, value, prod in (("W", w, dD @ np.swapaxes(x, -1, -2)),
                                  ("X", x, np.swapaxes(w, -1, -2) @ dD)):
            lead = tuple(range(prod.ndim - value.ndim))
            keep = tuple(k + len(lead) for k, n in enumerate(value.shape)
                         if n == 1 and prod.shape[k + len(lead)] != 1)
            summed = prod.sum(axis=lead).sum(axis=tuple(k - len(lead) for k in keep),
                                             keepdims=True) if keep else prod.sum(axis=lead)
            assert np.allclose(d["gradients"][name]["value"], summed)


def test_a_dot_product_of_two_vectors_gets_no_matrix_check():
    d = circuit_data("x @ y", {"x": "[1, 2]", "y": "[3, 4]"})
    assert [i["dims"] for i in d["backward"][1]["inputs"]] == [None, None]


def test_the_stacked_matmul_step_shows_its_dimension_reasoning(page, server):
    w, x = np.ones((2, 3)), np.ones((4, 3, 5))
    page.goto(server.url + "?" + urllib.parse.urlencode(
        {"expr": "sum(W @ X)", "W": str(w.tolist()), "X": str(x.tolist())}))
    page.locator("[data-gate]").first.wait_for()
    page.locator("#picture").click()
    page.keyboard.press("End")
    status = page.locator("#status").inner_text()
    assert "matrix by matrix on the last two axes" in status
    assert ("dW must have W's shape 2×3; dWX is 4×2×5 and Xᵀ is 4×5×3, so dWX·Xᵀ is "
            "4×2×3, one product per matrix of the stack, and summed over the stacked axes W "
            "was broadcast along it is 2×3") in status
    assert "dX must have X's shape 4×3×5; Wᵀ is 3×2 and dWX is 4×2×5, so Wᵀ·dWX is 4×3×5" \
        in status
    page.locator("#lang").click()
    status = page.locator("#status").inner_text()
    assert ("所以 dWX·Xᵀ 是 4×2×3，堆叠中的每个矩阵各得一个乘积，"
            "再对 W 被广播的堆叠轴求和，就是 2×3") in status


def test_a_larger_matrix_shows_as_a_heatmap(page, tmp_path):
    import circuitgrad as cg
    rng = np.random.default_rng(12)
    w, x = rng.standard_normal((20, 30)), rng.standard_normal(30)
    W = cg.tensor(w, requires_grad=True, name="W")
    f = cg.sum(cg.tanh(W @ cg.tensor(x, name="x")))
    page.goto(notebook_file(tmp_path, cg.lab(f)))
    lab = page.frame_locator("iframe")
    lab.locator("[data-gate]").first.wait_for()
    assert lab.locator("[data-shape=W]").text_content().strip() == "20×30"
    lab.locator("[data-wire=W]").first.click()
    heat = lab.locator("[data-array=value] canvas.heatmap")
    rows, cols, cell = (int(heat.get_attribute(f"data-{k}")) for k in ("rows", "cols", "cell"))
    assert (rows, cols) == (20, 30)
    readout = lab.locator("[data-array=value] .readout")
    for i, j in [(0, 0), (3, 7), (19, 29)]:
        heat.hover(position={"x": j * cell + cell / 2, "y": i * cell + cell / 2})
        index, value = readout.inner_text().split(" = ")
        assert index == f"[{i}, {j}]" and float(value) == pytest.approx(w[i, j], rel=1e-3)
    low, high = lab.locator("[data-array=value] .range").inner_text().split(":")[0] \
        .removeprefix("from ").split(" to ")
    assert (float(low), float(high)) == (pytest.approx(w.min(), rel=1e-3),
                                         pytest.approx(w.max(), rel=1e-3))
    lab.locator("#run").click()
    grad = lab.locator("[data-array=grad] canvas.heatmap")
    grad.hover(position={"x": 7 * cell + cell / 2, "y": 3 * cell + cell / 2})
    want = (1 - np.tanh(w @ x) ** 2)[3] * x[7]  # d sum(tanh(Wx)) / dW[3, 7]
    assert float(lab.locator("[data-array=grad] .readout").inner_text().split(" = ")[1]) == \
        pytest.approx(want, rel=1e-3)


# ----- safety: a time limit per request, and URL parameters ------------------------------
SLOW_MODULE = '''
import os, time
from circuitgrad.lab.server import answer as lab_answer

def answer(request):
    """The lab's answer, except for two expressions a test makes slow or fatal."""
    if request.get("expr") == "slow":
        with open(os.environ["SLOW_PID_FILE"], "w") as out:
            out.write(str(os.getpid()))
        time.sleep(600)
    if request.get("expr") == "crash":
        os._exit(3)
    if request.get("expr") == "pid":
        return {"pid": os.getpid()}
    return lab_answer(request)
'''


@pytest.fixture
def slow_server(tmp_path, monkeypatch):
    (tmp_path / "slowlab.py").write_text(SLOW_MODULE, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))  # the workers find modules where we do
    monkeypatch.setenv("SLOW_PID_FILE", str(tmp_path / "pid"))
    srv, thread = start(time_limit=3, answer="slowlab:answer")
    yield srv, tmp_path / "pid"
    srv.shutdown()
    srv.server_close()
    thread.join(5)


def test_a_request_over_the_time_limit_gets_a_one_line_error(slow_server):
    import threading
    srv, pid_file = slow_server
    replies = {}
    slow = threading.Thread(target=lambda: replies.update(slow=post(srv, {"expr": "slow"})))
    slow.start()
    # while the slow one computes, the server answers others
    status, d = post(srv, {"expr": "x * y", "inputs": {"x": "4", "y": "-3"}})
    assert (status, d["value"]) == (200, -12.0)
    slow.join(60)
    status, d = replies["slow"]
    assert status == 503 and "\n" not in d["error"]
    assert d["error"] == ("the computation took longer than 3 s, the lab's limit per request; "
                          "try a smaller expression or smaller values")
    with pytest.raises(ProcessLookupError):  # its worker was stopped, not left running
        os.kill(int(pid_file.read_text()), 0)
    status, d = post(srv, {"expr": "x * y", "inputs": {"x": "4", "y": "-3"}})
    assert (status, d["value"]) == (200, -12.0)
    status, d = post(srv, {"expr": "slow", "lang": "zh"})
    assert status == 503 and d["error"].startswith("计算超过了 3 秒")


@pytest.fixture
def small_server(tmp_path, monkeypatch):
    (tmp_path / "slowlab.py").write_text(SLOW_MODULE, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    srv, thread = start(time_limit=60, memory_limit=100, answer="slowlab:answer")
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join(5)


def test_a_request_over_the_memory_limit_gets_a_one_line_error(small_server):
    srv = small_server
    status, d = post(srv, {"expr": "pid"})
    first = d["pid"]
    status, d = post(srv, OUTER)
    assert status == 503 and d["error"] == (
        "the computation needed more than 100 MB, the lab's memory limit per request; try a "
        "smaller expression or smaller values")
    with pytest.raises(ProcessLookupError):  # that worker was replaced, not used again
        os.kill(first, 0)
    status, d = post(srv, {"expr": "pid"})
    assert status == 200 and d["pid"] != first
    status, d = post(srv, {"expr": "x * y", "inputs": {"x": "4", "y": "-3"}})
    assert (status, d["value"]) == (200, -12.0)  # small circuits fit in the limit
    status, d = post(srv, dict(OUTER, lang="zh"))
    assert status == 503 and d["error"].startswith("计算需要的内存超过了 100 MB") \
        and "\n" not in d["error"]


def test_without_the_memory_limit_the_same_request_is_refused_after_it_ran(server):
    # the default limit leaves room for it: it runs, and the wires are too many to show
    status, d = post(server, OUTER)
    assert status == 400 and "wires hold 25,010,001 numbers" in d["error"]


def test_a_worker_that_dies_gets_a_one_line_error(slow_server):
    srv, _ = slow_server
    status, d = post(srv, {"expr": "crash"})
    assert status == 500 and "the worker computing the circuit stopped" in d["error"]
    status, d = post(srv, {"expr": "x * y", "inputs": {"x": "4", "y": "-3"}})
    assert (status, d["value"]) == (200, -12.0)


def test_inputs_named_like_the_pages_own_parameters_survive_a_link(page, server, browser):
    lesson(page, server, "multiply")
    page.locator("#expr").fill("step * lang + expr")
    for name, value in [("step", "2"), ("lang", "3"), ("expr", "4")]:
        page.locator(f"#input-{name}").fill(value)
    page.locator("#counter").filter(has_text="of 5").wait_for()
    page.wait_for_function("new URLSearchParams(location.search).get('in.expr') === '4'")
    page.locator("#picture").click()
    page.keyboard.press("End")
    assert number(page, "[data-value=f]") == 10.0  # 2 * 3 + 4
    page.keyboard.press("ArrowLeft")
    link = page.url
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(link).query)
    assert query["in.step"] == ["2"] and query["in.lang"] == ["3"] and query["in.expr"] == ["4"]
    assert query["step"] == ["4"] and query["expr"] == ["step * lang + expr"]

    other = browser.new_page()
    try:
        other.goto(link)
        other.locator("#counter").filter(has_text="step 4 of 5").wait_for()
        assert [other.locator(f"#input-{n}").input_value() for n in ("step", "lang", "expr")] \
            == ["2", "3", "4"]
        assert other.locator("#expr").input_value() == "step * lang + expr"
        assert number(other, "[data-grad=expr]") == 1.0     # df/dexpr = 1
        other.keyboard.press("End")
        assert number(other, "[data-grad=step]") == 3.0     # df/dstep = lang
        assert number(other, "[data-grad=lang]") == 2.0     # df/dlang = step
    finally:
        other.close()


# ----- the lesson on gradients adding up across backward calls ----------------------------
def test_backward_calls_add_up_in_the_inputs_grad(page, server):
    lesson(page, server, "accumulate")
    assert "not -3" in page.locator("#explanation").inner_text()
    assert "step 0 of 5" in page.locator("#counter").inner_text()  # 3 steps, then 2 calls
    for _ in range(3):
        page.locator("#step").click()
    # the first backward pass gives the notes' df/dx = y = -3, df/dy = x = 4
    assert (number(page, "[data-grad=x]"), number(page, "[data-grad=y]")) == (-3.0, 4.0)
    assert "call backward() again" in page.locator("#status").inner_text()
    page.locator("#step").click()
    status = page.locator("#status").inner_text()
    assert "x.grad = -3.000 + -3.000 = -6.000" in status
    assert "y.grad = 4.000 + 4.000 = 8.000" in status
    assert (number(page, "[data-grad=x]"), number(page, "[data-grad=y]")) == (-6.0, 8.0)
    assert "calls=3" in page.url
    page.locator("#step").click()
    assert (number(page, "[data-grad=x]"), number(page, "[data-grad=y]")) == (-9.0, 12.0)
    assert number(page, "[data-grad=f]") == 1.0  # not an input: each call computes it anew
    assert "zero" in page.locator("#status").inner_text()
    page.locator("#lang").click()
    assert "x.grad = -6.000 + -3.000 = -9.000" in page.locator("#status").inner_text()


def test_backward_calls_are_limited(server):
    status, d = post(server, {"expr": "x * y", "inputs": {"x": "4", "y": "-3"}, "calls": 99})
    assert status == 400 and d["error"] == "'calls' must be a whole number from 1 to 5"
    status, d = post(server, {"expr": "x * y", "inputs": {"x": "4", "y": "-3"}, "calls": 2})
    assert status == 200 and d["calls"][0]["grads"]["y"]["value"] == 8.0
