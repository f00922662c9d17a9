"""cg.lab live in a notebook (lab/widget.py): edits go to the kernel and come back.

The browser test stands in for Jupyter's widget manager: a page imports the widget's own
script with a model whose messages reach the real ``LabWidget`` in this process.
"""

import json

import pytest

import circuitgrad as cg
from test_lab import browser, number, page  # noqa: F401  the lab's browser fixtures

pytest.importorskip("anywidget", reason="the live view needs anywidget (circuitgrad[lab])")


def kernel_of(widget):
    """Hand one frontend message to ``widget`` and return what it sends back."""
    def deliver(content):
        sent = []
        widget.send = sent.append
        widget._on_request(widget, content, [])
        return sent
    return deliver


def config_of(html):
    start = html.index("window.LAB_CONFIG = ") + len("window.LAB_CONFIG = ")
    return json.JSONDecoder().raw_decode(html[start:])[0]


def test_an_expression_shows_live_beside_the_static_page():
    view = cg.lab("x * y + z", x=3, y=-4, z=2)
    bundle = view._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert bundle["text/html"] == view._repr_html_()  # for renderers without widgets
    assert "application/vnd.jupyter.widget-view+json" not in \
        cg.lab("x * y", x=1, y=2, live=False)._repr_mimebundle_()


def test_a_tensors_circuit_has_no_live_view():
    x = cg.tensor(2.0, requires_grad=True, name="x")
    view = cg.lab(x * x)
    assert view.widget() is None
    assert set(view._repr_mimebundle_()) == {"text/plain", "text/html"}


def test_the_live_page_recomputes_from_the_inputs_at_full_precision():
    view = cg.lab("sum(x * y + z)", x=3, y=1.23456789, z=[2.0, 0.125])
    config = config_of(view.widget().html)
    assert config["bridge"] is True
    assert config["embedded"]["inputs"] == {"x": "3.0", "y": "1.23456789",
                                            "z": "[2.0, 0.125]"}
    assert view.data["inputs"]["y"] == "1.235"  # what the static page shows, rounded


def test_the_kernel_answers_as_the_server_does():
    deliver = kernel_of(cg.lab("x * y", x=1, y=2).widget())
    (reply,) = deliver({"ticket": 7, "request": {"expr": "x * y", "inputs": {"x": "4",
                                                                           "y": "-3"}}})
    assert reply["ticket"] == 7 and reply["status"] == 200
    assert json.loads(reply["body"])["value"] == -12.0
    (reply,) = deliver({"ticket": 8, "request": {"expr": "x *", "inputs": {}, "lang": "zh"}})
    assert reply["status"] == 400 and "\n" not in json.loads(reply["body"])["error"]
    assert deliver({"no ticket": 1}) == []  # not the page's message: ignored


HOST = """<!DOCTYPE html><html><body><div id="cell"></div><script type="module">
const handlers = [];
const model = {
  get: (key) => window.TRAITS[key],
  send: async (content) => {
    for (const m of await window.kernel(content)) for (const h of handlers) h(m);
  },
  on: (event, handler) => { if (event === "msg:custom") handlers.push(handler); },
  off: () => {},
};
const url = URL.createObjectURL(new Blob([window.TRAITS._esm], { type: "text/javascript" }));
const widget = (await import(url)).default;
widget.render({ model, el: document.getElementById("cell") });
</script></body></html>"""


def test_editing_an_input_in_the_live_page_recomputes_in_the_kernel(page, tmp_path):  # noqa: F811
    widget = cg.lab("(y - 1.2345) * 1000000 * x + z", x=3, y=1.23456789, z=2).widget()
    page.expose_function("kernel", kernel_of(widget))
    traits = {"_esm": widget._esm, "html": widget.html, "height": widget.height}
    page.add_init_script(f"window.TRAITS = {json.dumps(traits)};")
    path = tmp_path / "host.html"
    path.write_text(HOST, encoding="utf-8")
    page.goto(path.as_uri())
    lab = page.frame_locator("iframe.circuitgrad-lab")
    lab.locator("#run").click()
    assert number(lab, "[data-value=f]") == pytest.approx(205.7)
    assert not lab.locator("#input-x").evaluate("e => e.readOnly")
    lab.locator("#input-x").fill("5")
    # (y - 1.2345) * 1e6 * 5 + 2 = 341.45 from y as given; y as shown (1.235) gives 2502
    lab.locator("[data-value=f]").filter(has_text="341").wait_for()
    assert number(lab, "[data-grad=x]") == pytest.approx(67.89, rel=1e-3)
    lab.locator("#expr").fill("x *")
    lab.locator("#error").filter(has_text="syntax error").wait_for()
