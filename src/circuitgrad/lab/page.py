"""The lab's page as one self-contained HTML file: ``static/lab.html`` with the style,
the script, the message catalog and the lessons written into it (no CDN, nothing fetched
but the circuit itself). With ``data`` the circuit is embedded too, and the page works
from a file (``circuitgrad grad ... --html FILE``).
"""

import json
from importlib import resources

from .lessons import lessons

LANGS = ("en", "zh")


def _static(name):
    return resources.files(__package__).joinpath("static", name).read_text(encoding="utf-8")


def messages():
    """The page's message catalog: {lang: {key: text}}."""
    return json.loads(_static("messages.json"))


def _script_json(obj):
    # JSON inside <script>: "</" would end the element early
    return json.dumps(obj, ensure_ascii=False, allow_nan=False).replace("</", "<\\/")


def page(lang="en", data=None, notebook=False, bridge=False):
    """The HTML page; ``data`` (from ``data.from_report``) embeds a circuit, offline;
    ``notebook`` for a notebook's output (no note about the saved copy); ``bridge`` for a
    live notebook view, whose edits are computed by the kernel (``widget.py``)."""
    config = {"lang": lang if lang in LANGS else "en", "messages": messages(),
              "lessons": lessons(), "embedded": data, "notebook": notebook, "bridge": bridge,
              "api": None if data is not None else "/api/circuit"}
    html = _static("lab.html")
    html = html.replace("/*LAB_CSS*/", _static("lab.css"))
    html = html.replace("/*LAB_CONFIG*/", "window.LAB_CONFIG = " + _script_json(config) + ";")
    return html.replace("/*LAB_JS*/", _static("lab.js"))
