"""``circuitgrad lab``: a local web server for the circuit lab (standard library only).

It listens on 127.0.0.1 only and answers:

- ``GET /``: the page (``page.py`` inlines ``static/``: one self-contained HTML file);
- ``POST /api/circuit`` with ``{"expr": ..., "inputs": {name: value text}, "upstream":
  ..., "lang": ...}``: the circuit as JSON (``data.py``), or ``{"error": "one line"}``
  with status 400 (bad input) or 503 (over the time or memory limit, or the lab is busy).

Nothing else is read: the page is built from the package's own static files, and every
other path is a 404. Each request runs in its own thread, and its circuit is computed in
a worker process (``Workers``): one that takes longer than the time limit is stopped, the
request gets a one-line error, and the server keeps serving. A bad request never stops
the server.
"""

import json
import os
import queue
import subprocess
import sys
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from ..expr import ExprError
from ..i18n import msg
from .data import circuit_data
from .i18n import translator
from .page import LANGS, page
from .worker import OUT_OF_MEMORY, READY, one_line

HOST = "127.0.0.1"
MAX_BODY = 2_100_000  # an expression and input values at their parser's length limits
TIME_LIMIT = 10.0     # seconds a request's computation may take
MEMORY_LIMIT = 2048   # megabytes it may take (worker.limit_memory); None: no limit
WORKERS = 2           # circuits computed at once (the others wait, up to the time limit)
START_LIMIT = 120.0   # seconds a new worker may take to import circuitgrad
ANSWER = "circuitgrad.lab.server:answer"  # what a worker runs for a request


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
        except (ValueError, UnicodeDecodeError) as err:  # not JSON, or not text
            self._json(HTTPStatus.BAD_REQUEST, {"error": f"the request is not JSON: "
                                                         f"{one_line(err)}"})
            return
        lang = request.get("lang") if isinstance(request, dict) else None
        lang = lang if lang in LANGS else self.server.lang
        if isinstance(request, dict):  # the worker's messages in the page's language
            request["lang"] = lang
        status, body = self.server.workers.run(request, lang)
        self._send(status, body.encode("utf-8"), "application/json; charset=utf-8")

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


def answer(request):
    """The JSON of a request (run in a worker): the circuit, or an ExprError."""
    if not isinstance(request, dict):
        raise ExprError(msg("the request must be a JSON object with 'expr' and 'inputs'"))
    expr, inputs = request.get("expr"), request.get("inputs", {})
    upstream = request.get("upstream")
    if not isinstance(expr, str):
        raise ExprError(msg("'expr' must be text"))
    if not isinstance(inputs, dict) or not all(
            isinstance(k, str) and isinstance(v, (str, int, float)) for k, v in inputs.items()):
        raise ExprError(msg("'inputs' must map names to values, like {example}",
                            example='{"x": "3"}'))
    if upstream is not None and not isinstance(upstream, (str, int, float)):
        raise ExprError(msg("'upstream' must be a value, like {example}", example='"[1, 2]"'))
    calls = request.get("calls", 1)
    return circuit_data(expr, {k: str(v) for k, v in inputs.items()},
                        None if upstream is None else str(upstream),
                        calls if type(calls) is int else -1)


class Workers:
    """Worker processes (``worker.py``) that compute the circuits, a request at a time each.

    A thread cannot be stopped, a process can: a request whose computation takes longer
    than ``time_limit`` seconds has its worker stopped, and a new worker takes its place
    (started for the next request; its start-up is not counted in the limit). ``answer``
    names the function that computes a request's JSON in the worker, as ``module:name``;
    the worker finds modules where this process does (its ``sys.path``). A request that
    needs more than ``memory_limit`` megabytes gets a one-line 503 from its worker, which
    is then replaced too.
    """

    def __init__(self, answer=ANSWER, time_limit=TIME_LIMIT, size=WORKERS,
                 memory_limit=MEMORY_LIMIT):
        self.answer = answer
        self.time_limit = time_limit
        self.memory_limit = memory_limit
        self._slots = threading.BoundedSemaphore(size)
        self._lock = threading.Lock()
        self._idle, self._running = [], set()
        self._closed = False

    def warm(self):
        """Start one worker in the background, so the first request need not wait for it."""
        # no computing slot is held while it starts: under load a start-up can take longer
        # than the time limit, and a request waiting for a slot would be told "busy"
        def start():
            try:
                self._give(self._start())
            except OSError:
                pass  # the request that needs a worker will say why it cannot start
        threading.Thread(target=start, daemon=True).start()

    def run(self, request, lang="en"):
        """``(status, JSON text)`` of a request, computed in a worker under the time limit."""
        _ = translator(lang)
        seconds = f"{self.time_limit:g}"
        if not self._slots.acquire(timeout=self.time_limit):
            return _error(HTTPStatus.SERVICE_UNAVAILABLE, _(
                "the lab is busy with other circuits for more than {seconds} s; try again"
            ).format(seconds=seconds))
        try:
            try:
                worker = self._take() or self._start()
                worker.send(request)
            except OSError as err:
                return _error(HTTPStatus.INTERNAL_SERVER_ERROR, _(
                    "internal error: cannot start a worker process: {error}").format(
                    error=one_line(err)))
            try:
                reply = worker.replies.get(timeout=self.time_limit)
            except queue.Empty:
                self._stop(worker)
                return _error(HTTPStatus.SERVICE_UNAVAILABLE, _(
                    "the computation took longer than {seconds} s, the lab's limit per "
                    "request; try a smaller expression or smaller values").format(
                    seconds=seconds))
            if reply is None:
                self._stop(worker)
                return _error(HTTPStatus.INTERNAL_SERVER_ERROR, _(
                    "internal error: the worker computing the circuit stopped (out of "
                    "memory?)"))
            status, _space, body = reply.partition(" ")
            if int(status) == OUT_OF_MEMORY:  # a worker that ran out is not trusted again
                self._stop(worker)
            else:
                self._give(worker)
            return int(status), body
        finally:
            self._slots.release()

    def _start(self):
        worker = _Worker(self.answer, self.memory_limit)
        with self._lock:
            self._running.add(worker)
        try:
            ready = worker.replies.get(timeout=START_LIMIT) == READY
        except queue.Empty:
            ready = False
        if not ready:
            self._stop(worker)
            raise OSError(f"it did not start within {START_LIMIT:g} s")
        return worker

    def _take(self):
        """An idle worker that is still alive, or None."""
        while True:
            with self._lock:
                worker = self._idle.pop() if self._idle else None
            if worker is None or worker.process.poll() is None:
                return worker
            self._stop(worker)

    def _give(self, worker):
        with self._lock:
            if not self._closed:
                self._idle.append(worker)
                return
        self._stop(worker)

    def _stop(self, worker):
        with self._lock:
            self._running.discard(worker)
            if worker in self._idle:
                self._idle.remove(worker)
        worker.stop()

    def close(self):
        """Stop every worker (idle or busy)."""
        with self._lock:
            self._closed = True
            workers = list(self._running)
        for worker in workers:
            self._stop(worker)


def _error(status, message):
    return status, json.dumps({"error": message}, ensure_ascii=False)


class _Worker:
    """One worker process and the thread that reads its replies into ``replies`` (its
    first line ``READY``; None when it ends)."""

    def __init__(self, answer, memory_limit=None):
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
        limit = [] if memory_limit is None else [repr(float(memory_limit))]
        self.process = subprocess.Popen(
            [sys.executable, "-m", "circuitgrad.lab.worker", answer, *limit],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, encoding="utf-8")
        self.replies = queue.SimpleQueue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.process.stdout:
            self.replies.put(line.rstrip("\n"))
        self.replies.put(None)

    def send(self, request):
        self.process.stdin.write(json.dumps(request, ensure_ascii=False) + "\n")
        self.process.stdin.flush()

    def stop(self):
        self.process.kill()
        self.process.wait(30)
        for pipe in (self.process.stdin, self.process.stdout):
            try:
                pipe.close()
            except OSError:
                pass


class LabServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port=0, lang="en", time_limit=TIME_LIMIT, answer=ANSWER,
                 memory_limit=MEMORY_LIMIT):
        self.lang = lang
        self.workers = Workers(answer, time_limit, memory_limit=memory_limit)
        super().__init__((HOST, port), LabHandler)
        self.workers.warm()

    @property
    def url(self):
        return f"http://{HOST}:{self.server_address[1]}/"

    def server_close(self):
        super().server_close()
        self.workers.close()


def start(port=0, lang="en", time_limit=TIME_LIMIT, answer=ANSWER, memory_limit=MEMORY_LIMIT):
    """A running server in a background thread (tests and notebooks): ``(server, thread)``;
    ``server.shutdown()`` then ``server.server_close()`` stop it."""
    server = LabServer(port, lang, time_limit, answer, memory_limit)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, thread
