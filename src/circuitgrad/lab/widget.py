"""The lab in a notebook, live: an anywidget whose edits are computed by the kernel.

The static view (``notebook.py``) holds one circuit: its inputs cannot change. Where
``anywidget`` is installed (``pip install circuitgrad[lab]``), ``cg.lab("x * y + z", ...)``
displays as this widget instead: the same page in the same sandboxed frame, with the
expression and inputs editable. The frame has no server to ask; it posts each request to
the widget's script outside the frame (``_ESM``), which sends it to the kernel as a widget
message; :meth:`LabWidget._on_request` answers it as the lab's server does
(``server.answer``, with the same parser and limits) and the reply goes back the same way.
Without a widget manager (a notebook rendered on a web page, say) the static page shows.
"""

import json

import anywidget
import traitlets

from .page import page
from .server import answer
from .worker import reply

_ESM = """
export default {
  render({ model, el }) {
    const frame = document.createElement("iframe");
    frame.className = "circuitgrad-lab";
    frame.title = "circuitgrad lab";
    frame.setAttribute("sandbox", "allow-scripts");
    frame.style.cssText = "width: 100%; border: 1px solid #d0d7de";
    frame.style.height = model.get("height") + "px";
    frame.srcdoc = model.get("html");
    el.appendChild(frame);
    // the frame's requests go to the kernel; each reply goes back with its ticket
    const fromFrame = (e) => {
      if (e.source !== frame.contentWindow || !e.data || !e.data.circuitLab) return;
      model.send({ ticket: e.data.circuitLab, request: e.data.request });
    };
    const fromKernel = (msg) => {
      if (msg && msg.ticket) frame.contentWindow.postMessage(
        { circuitLab: msg.ticket, status: msg.status, body: msg.body }, "*");
    };
    window.addEventListener("message", fromFrame);
    model.on("msg:custom", fromKernel);
    return () => {
      window.removeEventListener("message", fromFrame);
      model.off("msg:custom", fromKernel);
    };
  },
};
"""


class LabWidget(anywidget.AnyWidget):
    """The lab's page for one expression, recomputed by the kernel as it is edited."""

    _esm = traitlets.Unicode(_ESM).tag(sync=True)
    html = traitlets.Unicode().tag(sync=True)
    height = traitlets.Int(600).tag(sync=True)

    def __init__(self, view, data):
        super().__init__(html=page(lang=view.lang, data=data, notebook=True, bridge=True),
                         height=view.height)
        self.on_msg(self._on_request)

    def _on_request(self, _widget, content, _buffers):
        if not isinstance(content, dict) or "ticket" not in content:
            return
        status, body = reply(answer, json.dumps(content.get("request")))
        self.send({"ticket": content["ticket"], "status": status.value, "body": body})
