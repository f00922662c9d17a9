"""A worker process of the lab's server: ``python -m circuitgrad.lab.worker MODULE:FUNCTION
[MEMORY_MB]``.

It reads one JSON request a line on stdin and writes one reply a line on stdout, ``STATUS
JSON`` (``200 {...}``), computed by ``FUNCTION(request)`` (the server's ``answer``). The
server stops a worker that takes longer than its time limit (``server.Workers``); a
process, unlike a thread, can be stopped.

With ``MEMORY_MB`` the worker, once started (imports and warm-up done), limits its address
space (``RLIMIT_AS``) to what it holds then plus that many megabytes: a request whose
computation needs more gets ``MemoryError``, answered ``503`` (``OUT_OF_MEMORY``) with a
one-line message, after which the server replaces the worker.
"""

import importlib
import json
import os
import sys
from http import HTTPStatus

READY = "ready"
OUT_OF_MEMORY = HTTPStatus.SERVICE_UNAVAILABLE  # only a MemoryError gets it from a worker


def one_line(err, lang="en"):
    """An error's message on one line, in ``lang`` where the catalog has it (or its type's
    name, when it has none)."""
    from ..i18n import render, translator

    return " ".join(render(err, translator(lang)).split()) or type(err).__name__


def serve(answer, requests, replies, memory_limit=None):
    """Answer each line of ``requests`` with a line on ``replies``, until the end; the
    computations may take ``memory_limit`` megabytes (None: no limit)."""
    _warm_up(answer)
    limited = limit_memory(memory_limit)
    print(READY, file=replies, flush=True)
    for line in requests:
        status, text = reply(answer, line, memory_limit if limited else None)
        print(f"{status.value} {text}", file=replies, flush=True)


def reply(answer, line, memory_limit=None):
    """``(HTTPStatus, JSON text)`` answering one request given as JSON text: the circuit,
    or a one-line error (a bad expression or input is the asker's; anything else ours).
    A computation that runs out of memory (over ``memory_limit`` megabytes, where the
    process is limited) gets ``OUT_OF_MEMORY``."""
    from ..errors import CircuitError
    from ..expr import ExprError
    from ..i18n import translator

    lang = "en"
    try:
        request = json.loads(line)
        lang = request.get("lang", "en") if isinstance(request, dict) else "en"
        return HTTPStatus.OK, json.dumps(answer(request), ensure_ascii=False, allow_nan=False)
    except (ExprError, CircuitError) as err:
        return HTTPStatus.BAD_REQUEST, _error(one_line(err, lang))
    except MemoryError:  # the arrays it made are freed on the way here
        _ = translator(lang)
        if memory_limit:
            message = _("the computation needed more than {limit} MB, the lab's memory limit "
                        "per request; try a smaller expression or smaller values").format(
                limit=f"{memory_limit:g}")
        else:
            message = _("the computation needed more memory than there is; try a smaller "
                        "expression or smaller values")
        return OUT_OF_MEMORY, _error(message)
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


def limit_memory(megabytes):
    """Let this process take ``megabytes`` more address space than it holds now (its
    imports, NumPy's and BLAS's reservations included, are not counted against it). True
    when the limit is set; False where it cannot be (no ``resource`` module or no
    ``/proc``: not Linux) or none is asked for."""
    if not megabytes:
        return False
    try:
        import resource

        with open("/proc/self/statm", encoding="ascii") as statm:
            held = int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (ImportError, OSError, ValueError):
        return False
    limit = held + int(megabytes * 2**20)
    _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    try:
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    except (ValueError, OSError):
        return False
    return True


def main(argv):
    module, _, name = argv[1].partition(":")
    memory_limit = float(argv[2]) if len(argv) > 2 else None
    answer = getattr(importlib.import_module(module), name)
    replies = sys.stdout
    sys.stdout = sys.stderr  # stdout carries the replies only
    serve(answer, sys.stdin, replies, memory_limit)


if __name__ == "__main__":
    main(sys.argv)
