"""``circuitgrad lab``: a local web server for the circuit lab (standard library only).

It listens on 127.0.0.1 only and answers:

- ``GET /``: the page (``page.py`` inlines ``static/``: one self-contained HTML file);
- ``POST /api/circuit`` with ``{"expr": ..., "inputs": {name: value text}, "upstream":
  ...}``: the circuit as JSON (``data.py``), or ``{"error": "one line"}`` with status 400.

Nothing else is read: the page is built from the package's own static files, and every
other path is a 404. Each request runs in its own thread, so a slow one does not stop the
others; a bad one never stops the server.
"""

import json
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from ..errors import CircuitError
from ..expr import ExprError
from .data import circuit_data
from .page import page

HOST = "127.0.0.1"
MAX_BODY = 2_100_000  # an expression and input values at their parser's length limits


class LabHandler(BaseHTTPRequestHandler):
    server_version = "circuitgrad-lab"
    lang = "en"

    def log_message(self, format, *args):  # quiet: the terminal shows the URL only
        pass

    def do_GET(self):
        path = urlsplit(self.path).path
        if path in ("/", "/index.html"):
            self._send(HTTPStatus.OK, page(lang=self.server.lang).encode("utf-8"),
                       "text/html; charset=utf-8")
        elif path == "/favicon.ico":
            self._send(HTTPStatus.NO_CONTENT, b"", "text/plain")
        else:
            self._json(HTTPStatus.NOT_FOUND, {"error": f"no such page: {path}"})

    def do_POST(self):
        if urlsplit(self.path).path != "/api/circuit":
            self._json(HTTPStatus.NOT_FOUND, {"error": "no such endpoint"})
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if not 0 < length <= MAX_BODY:
            self._json(HTTPStatus.BAD_REQUEST if length <= MAX_BODY else
                       HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                       {"error": f"the request must have a body of at most {MAX_BODY:,} "
                                 f"bytes"})
            return
        try:
            request = json.loads(self.rfile.read(length).decode("utf-8"))
            data = _answer(request)
        except (ExprError, CircuitError) as err:
            self._json(HTTPStatus.BAD_REQUEST, {"error": _one_line(err)})
            return
        except (ValueError, UnicodeDecodeError) as err:  # not JSON, or not text
            self._json(HTTPStatus.BAD_REQUEST, {"error": f"the request is not JSON: "
                                                         f"{_one_line(err)}"})
            return
        except Exception as err:  # noqa: BLE001  the server keeps serving, whatever happens
            self._json(HTTPStatus.INTERNAL_SERVER_ERROR,
                       {"error": f"internal error: {type(err).__name__}: {_one_line(err)}"})
            return
        self._json(HTTPStatus.OK, data)

    def _json(self, status, obj):
        body = json.dumps(obj, ensure_ascii=False, allow_nan=False).encode("utf-8")
        self._send(status, body, "application/json; charset=utf-8")

    def _send(self, status, body, content_type):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)


def _answer(request):
    if not isinstance(request, dict):
        raise ExprError("the request must be a JSON object with 'expr' and 'inputs'")
    expr, inputs = request.get("expr"), request.get("inputs", {})
    upstream = request.get("upstream")
    if not isinstance(expr, str):
        raise ExprError("'expr' must be text")
    if not isinstance(inputs, dict) or not all(
            isinstance(k, str) and isinstance(v, (str, int, float)) for k, v in inputs.items()):
        raise ExprError("'inputs' must map names to values, like {\"x\": \"3\"}")
    if upstream is not None and not isinstance(upstream, (str, int, float)):
        raise ExprError("'upstream' must be a value, like \"[1, 2]\"")
    return circuit_data(expr, {k: str(v) for k, v in inputs.items()},
                        None if upstream is None else str(upstream))


def _one_line(err):
    return " ".join(str(err).split()) or type(err).__name__


class LabServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port=0, lang="en"):
        self.lang = lang
        super().__init__((HOST, port), LabHandler)

    @property
    def url(self):
        return f"http://{HOST}:{self.server_address[1]}/"


def start(port=0, lang="en"):
    """A running server in a background thread (tests and notebooks): ``(server, thread)``;
    ``server.shutdown()`` stops it."""
    server = LabServer(port, lang)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, thread
