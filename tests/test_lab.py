"""The circuit lab: its JSON endpoint over plain HTTP, and its page in a real headless
Chromium (Playwright driving the system's ``chromium``).

Expected numbers are the notes' own: typed in here for f = (x + y) z, and for the other
lessons the numbers ``notes_examples`` records from the notes. Where no chromium is found,
the browser tests are skipped, saying so; with CIRCUITGRAD_REQUIRE_BROWSER=1 (set by
.ci/run) they fail instead.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import numpy as np
import pytest

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
    return float(page.locator(selector).text_content())  # an SVG text has no inner_text


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
    page.keyboard.press("ArrowRight")  # (3): the sigmoid gate's branch
    assert number(page, "[data-grad=x]") == pytest.approx(after_3, rel=1e-3)
    assert page.locator("[data-share^='x>']").count() == 2
    assert "x forks: += adds this branch's" in page.locator("#status").inner_text()
    assert page.locator("#listing .active").inner_text().startswith("dx += ")
    page.keyboard.press("ArrowRight")  # (2): the numerator's branch; dx is the notes' dx
    assert number(page, "[data-grad=x]") == pytest.approx(notes["dx"], rel=1e-3)
    assert page.locator("[data-share^='x>']").count() == 3
