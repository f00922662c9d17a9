"""A worker process of the lab's server: ``python -m circuitgrad.lab.worker MODULE:FUNCTION``.

It reads one JSON request a line on stdin and writes one reply a line on stdout, ``STATUS
JSON`` (``200 {...}``), computed by ``FUNCTION(request)`` (the server's ``answer``). The
server stops a worker that takes longer than its time limit (``server.Workers``); a
process, unlike a thread, can be stopped.
"""

import importlib
import json
import sys
from http import HTTPStatus

READY = "ready"


def one_line(err, lang="en"):
    """An error's message on one line, in ``lang`` where the catalog has it (or its type's
    name, when it has none)."""
    from ..i18n import render, translator

    return " ".join(render(err, translator(lang)).split()) or type(err).__name__


def serve(answer, requests, replies):
    """Answer each line of ``requests`` with a line on ``replies``, until the end."""
    _warm_up(answer)
    print(READY, file=replies, flush=True)
    for line in requests:
        status, text = reply(answer, line)
        print(f"{status.value} {text}", file=replies, flush=True)


def reply(answer, line):
    """``(HTTPStatus, JSON text)`` answering one request given as JSON text: the circuit,
    or a one-line error (a bad expression or input is the asker's; anything else ours)."""
    from ..errors import CircuitError
    from ..expr import ExprError

    lang = "en"
    try:
        request = json.loads(line)
        lang = request.get("lang", "en") if isinstance(request, dict) else "en"
        return HTTPStatus.OK, json.dumps(answer(request), ensure_ascii=False, allow_nan=False)
    except (ExprError, CircuitError) as err:
        return HTTPStatus.BAD_REQUEST, _error(one_line(err, lang))
    except Exception as err:  # noqa: BLE001  the caller keeps working, whatever happens
        return HTTPStatus.INTERNAL_SERVER_ERROR, _error(
            f"internal error: {type(err).__name__}: {one_line(err)}")


# A request answered before the worker says it is ready: its first real request then pays
# no lazy imports or first-call costs inside the time limit.
WARM_UP = {"expr": "x * y + z", "inputs": {"x": "3", "y": "-4", "z": "2"}}


def _warm_up(answer):
    try:
        answer(dict(WARM_UP))
    except Exception:  # noqa: BLE001, S110  a warm-up that fails costs nothing; requests say why
        pass


def _error(message):
    return json.dumps({"error": message}, ensure_ascii=False)


def main(argv):
    module, _, name = argv[1].partition(":")
    answer = getattr(importlib.import_module(module), name)
    replies = sys.stdout
    sys.stdout = sys.stderr  # stdout carries the replies only
    serve(answer, sys.stdin, replies)


if __name__ == "__main__":
    main(sys.argv)
