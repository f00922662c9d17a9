// The circuit lab's page: reads the circuit as JSON (from the server, or embedded by
// `circuitgrad grad --html`), draws it, and steps through the forward and backward pass.
// Every number shown comes from that JSON; nothing is computed here.
(function () {
  "use strict";
  const C = window.LAB_CONFIG;
  const $ = (id) => document.getElementById(id);
  const SVGNS = "http://www.w3.org/2000/svg";
  // The page's own URL parameters. An input is written NAME=VALUE, or in.NAME=VALUE when
  // NAME is one of these ("in." cannot start an input's name, so both read back exactly).
  const RESERVED = new Set(["expr", "lang", "step", "upstream", "lesson", "calls"]);
  const INPUT = "in.";
  const COLW = 210, ROWH = 96, TOP = 30, STUB = 80, R = 20, CHARW = 7.3;

  const state = { expr: "", inputs: {}, upstream: "", step: 0, lesson: null, calls: 1,
                  lang: C.lang === "zh" ? "zh" : "en" };
  let data = null, error = null, pending = 0, timer = null, selected = null;

  function t(key, vars) {
    const table = C.messages[state.lang] || C.messages.en;
    let s = table[key] !== undefined ? table[key] : (C.messages.en[key] || key);
    for (const [k, v] of Object.entries(vars || {})) s = s.split("{" + k + "}").join(said(v));
    return s;
  }

  // A large array's summary comes in English words ("3×4, mean 1.600, range [0, 3.2]", as
  // draw/format.py writes it, the same in every language's data); here they are said in
  // the page's language. Anything else is left as it is.
  function said(text) {
    text = String(text);
    if (state.lang === "en") return text;
    const sep = (lead) => (lead ? t("summary_sep") : "");
    return text
      .replace(/(^|, )mean (\S+), range \[/g, (_, lead, mean) => sep(lead) + t("summary_mean", { mean }))
      .replace(/(^|, )not kept\b/g, (_, lead) => sep(lead) + t("summary_not_kept"))
      .replace(/(^|, )empty$/, (_, lead) => sep(lead) + t("summary_empty"));
  }

  // The inputs an expression names: identifiers that are not calls, keywords (axis=) or
  // names bound with :=. The server's parser has the last word; this only makes the boxes.
  function namesOf(expr) {
    const bound = new Set([...expr.matchAll(/([A-Za-z_]\w*)\s*:=/g)].map((m) => m[1]));
    const names = [];
    for (const m of expr.matchAll(/[A-Za-z_]\w*/g)) {
      const before = expr[m.index - 1] || "", rest = expr.slice(m.index + m[0].length);
      if (/[\w.]/.test(before) || /^\s*\(/.test(rest) || /^\s*=(?!=)/.test(rest)) continue;
      if (bound.has(m[0]) || names.includes(m[0])) continue;
      names.push(m[0]);
    }
    return names;
  }

  // ----- state from and to the URL ---------------------------------------------------
  function readURL() {
    const p = new URLSearchParams(location.search);
    if (p.get("lang") === "zh" || p.get("lang") === "en") state.lang = p.get("lang");
    if (C.embedded) {
      state.expr = C.embedded.expression || "";
      state.inputs = Object.assign({}, C.embedded.inputs);
      state.upstream = C.embedded.upstream || "";
    } else if (p.get("expr")) {
      state.expr = p.get("expr");
      for (const [k, v] of p.entries()) {
        if (k.startsWith(INPUT)) state.inputs[k.slice(INPUT.length)] = v;
        else if (!RESERVED.has(k) && !(k in state.inputs)) state.inputs[k] = v;
      }
      state.upstream = p.get("upstream") || "";
      state.lesson = p.get("lesson");
      state.calls = Math.max(1, parseInt(p.get("calls") || "1", 10) || 1);
    } else {
      setLesson(C.lessons[0], false);
    }
    state.step = Math.max(0, parseInt(p.get("step") || "0", 10) || 0);
  }

  function writeURL() {
    const p = new URLSearchParams();
    if (!C.embedded) {
      p.set("expr", state.expr);
      for (const [k, v] of Object.entries(state.inputs)) p.set(RESERVED.has(k) ? INPUT + k : k, v);
      if (state.upstream) p.set("upstream", state.upstream);
      if (state.lesson) p.set("lesson", state.lesson);
      if (state.calls > 1) p.set("calls", String(state.calls));
    }
    p.set("lang", state.lang);
    p.set("step", String(state.step));
    try {
      history.replaceState(null, "", "?" + p.toString());
    } catch (e) { /* some file:// pages may not rewrite their URL; the page still works */ }
  }

  // ----- the form ----------------------------------------------------------------------
  function setLesson(lesson, run) {
    state.lesson = lesson.key;
    state.expr = lesson.expression;
    state.inputs = Object.assign({}, lesson.inputs);
    state.upstream = lesson.upstream || "";
    state.calls = lesson.calls || 1;
    state.step = 0;
    if (run) { fillForm(); compute(); }
  }

  function fillForm() {
    $("expr").value = state.expr;
    $("upstream").value = state.upstream;
    inputBoxes();
  }

  function inputBoxes() {
    const names = C.embedded ? Object.keys(C.embedded.inputs) : namesOf(state.expr);
    const box = $("inputs");
    const kept = {};
    for (const n of names) kept[n] = state.inputs[n] !== undefined ? state.inputs[n] : "1";
    state.inputs = kept;
    const have = [...box.querySelectorAll("input")].map((i) => i.dataset.name);
    if (have.join(",") === names.join(",")) {
      for (const i of box.querySelectorAll("input")) {
        if (document.activeElement !== i) i.value = state.inputs[i.dataset.name];
      }
      return;
    }
    box.textContent = "";
    for (const n of names) {
      const label = document.createElement("label");
      const span = document.createElement("span");
      span.textContent = n + " =";
      const input = document.createElement("input");
      input.type = "text";
      input.spellcheck = false;
      input.dataset.name = n;
      input.id = "input-" + n;
      input.value = state.inputs[n];
      input.readOnly = !!C.embedded && !C.bridge;
      input.addEventListener("input", () => { state.inputs[n] = input.value; changed(); });
      label.append(span, input);
      box.append(label);
    }
  }

  function changed() {
    state.lesson = lessonMatching();
    if (timer) clearTimeout(timer);
    timer = setTimeout(compute, 250);
  }

  function lessonMatching() {  // the current lesson while its expression stays
    const same = (l) => l.expression === state.expr && (l.calls || 1) === state.calls;
    const l = C.lessons.find((l) => l.key === state.lesson && same(l)) || C.lessons.find(same);
    return l ? l.key : null;
  }

  // ----- the server --------------------------------------------------------------------
  // A notebook's live view (lab/widget.py) has no server: the request goes to the frame's
  // parent, which hands it to the kernel and posts the reply back with the same ticket.
  const bridged = new Map();
  let bridgeTicket = 0;
  function viaParent(request) {
    return new Promise((resolve) => {
      const ticket = ++bridgeTicket;
      bridged.set(ticket, resolve);
      window.parent.postMessage({ circuitLab: ticket, request }, "*");
    });
  }
  window.addEventListener("message", (e) => {
    if (e.source !== window.parent || !e.data || !bridged.has(e.data.circuitLab)) return;
    bridged.get(e.data.circuitLab)({ ok: e.data.status === 200, json: () => JSON.parse(e.data.body) });
    bridged.delete(e.data.circuitLab);
  });

  async function compute() {
    if (!C.api && !C.bridge) return;
    const ticket = ++pending;
    $("status").textContent = t("loading");
    let reply, body;
    try {
      const request = { expr: state.expr, inputs: state.inputs, upstream: state.upstream || null,
                        lang: state.lang, calls: state.calls };
      reply = C.bridge ? await viaParent(request) : await fetch(C.api, {
        method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify(request) });
      body = await reply.json();
    } catch (e) {
      body = { error: String(e.message || e) };
      reply = { ok: false };
    }
    if (ticket !== pending) return; // a newer request is on its way
    if (reply.ok) {
      data = body;
      error = null;
      state.step = Math.min(state.step, data.last_step);
    } else {
      error = body.error || "?";
    }
    render();
  }

  // ----- what the current step shows --------------------------------------------------
  function wire(name) { return data.wires.find((w) => w.name === name); }

  // A wire's gradient as far as the backward pass has come at step s: {text, value}, or
  // null before any branch has sent it a share.
  // Past the backward pass, backward() called again: an input's .grad adds up (the other
  // wires' gradients are computed anew by each call, the same each time).
  function gradientAt(name, s) {
    let shown = null;
    for (const b of data.backward) {
      if (b.step > s) break;
      if (b.gate === null && b.output === name) shown = { text: b.gradient_text, value: b.gradient };
      for (const i of b.inputs) if (i.wire === name) shown = { text: i.total_text, value: i.total };
    }
    for (const c of data.calls) {
      if (c.step <= s && c.grads[name]) shown = { text: c.grads[name].text, value: c.grads[name].value };
    }
    return shown;
  }

  function callAt(s) { return (data.calls || []).find((c) => c.step === s); }

  function shapeText(shape) {
    if (!shape.length) return t("scalar");
    return shape.length === 1 ? "(" + shape[0] + ",)" : shape.join("×");
  }

  function shareAt(gateOut, index, s) {
    const b = data.backward.find((b) => b.gate === gateOut);
    if (!b || b.step > s) return null;
    const i = b.inputs.find((i) => i.index === index);
    return i ? i.gradient_text : null;
  }

  function short(text) { return text.length > 34 ? text.slice(0, 33) + "…" : text; }

  // A value on a wire of the picture: the wire's label shows the shape, so an array's
  // summary drops it ("5×3, mean 1.707, ..." reads "mean 1.707, ...").
  function onWire(text, shape) {
    const prefix = shape.length ? shapeText(shape) + ", " : null;
    return short(said(prefix && text.startsWith(prefix) ? text.slice(prefix.length) : text));
  }

  function statusText(s) {
    const n = data.gates.length;
    const seed = n + 1;
    const lines = [];
    if (s === 0) lines.push(t("start"));
    else if (s <= n) {
      const g = data.gates[s - 1];
      const line = data.listing.find((l) => l.step === s && l.text.startsWith(g.output + " ="));
      lines.push(t("forward", { k: s, n: n, line: line ? line.text.split("#")[0].trim() : "" }));
      if (s === n) lines.push(t("forward_done", { out: data.output, value: data.value_text }));
    } else if (callAt(s)) {
      const c = callAt(s);
      lines.push(t("call", { k: c.call }));
      for (const [name, g] of Object.entries(c.grads)) {
        lines.push(t("call_grad", { name: name, before: g.before_text, added: g.added_text,
                                    total: g.text }));
      }
      lines.push(t(s === data.last_step ? "calls_done" : "call_next"));
    } else {
      const b = data.backward.find((b) => b.step === s);
      if (b.gate === null) lines.push(t("seed", { out: b.output, value: b.gradient_text }));
      else {
        lines.push(t("backward", { out: b.gate }));
        for (const i of b.inputs) {
          if (i.local !== null && i.local_text !== null) {
            const formula = i.local_text === i.local_shown ? i.local_text
              : i.local_text + " = " + i.local_shown;
            lines.push(t("local", { out: b.gate, wire: i.wire, formula: formula,
                                    upstream: i.upstream_text, gradient: i.gradient_text }));
          } else {
            lines.push(t("local_array", { out: b.gate, wire: i.wire, formula: i.formula,
                                          upstream: short(i.upstream_text),
                                          gradient: short(i.gradient_text) }));
          }
          if (i.dims) {
            const d = i.dims;
            // a stack of matrices: matrix by matrix on the last two axes, summed over the
            // stacked axes the input was broadcast along (its product is then larger)
            const summed = d.product.join() !== d.shape.join();
            lines.push(t(!d.stacked ? "dims" : summed ? "dims_summed" : "dims_stacked", {
              gradient: d.gradient, of: d.of, shape: shapeText(d.shape),
              left: d.left[0], left_shape: shapeText(d.left[1]),
              right: d.right[0], right_shape: shapeText(d.right[1]),
              product: shapeText(d.product) }));
          }
          if (i.accumulates) {
            lines.push(t("fork", { wire: i.wire, gradient: i.gradient_text,
                                   total: i.total_text }));
          }
        }
      }
      if (s === data.last_step) lines.push(t("done"));
      else if (data.calls.length && s === data.calls[0].step - 1) lines.push(t("done_call_again"));
    }
    return lines.join("\n");
  }

  // ----- the picture -------------------------------------------------------------------
  function el(name, attrs, text) {
    const e = document.createElementNS(SVGNS, name);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function drawPicture(s) {
    const L = data.layout;
    const maxRows = Math.max(...Object.values(L).map((p) => p.rows));
    const cols = 1 + Math.max(...Object.values(L).map((p) => p.col));
    const shapeLabel = (w) => w.shape.length ? " " + shapeText(w.shape) : "";
    const LEFT = Math.max(40, 10 + CHARW * Math.max(0, ...data.wires.filter(
      (w) => w.kind !== "gate").map((w) => (w.name + shapeLabel(w)).length)) - 30);
    const height = TOP * 2 + maxRows * ROWH;
    const width = LEFT + cols * COLW + STUB + 60;
    const pos = (name) => {
      const p = L[name];
      return { x: LEFT + 30 + p.col * COLW, y: TOP + (p.row + 0.5) * maxRows * ROWH / p.rows };
    };
    const svg = el("svg", { width: width, height: height, viewBox: `0 0 ${width} ${height}`,
                            role: "img" });
    const active = data.backward.find((b) => b.step === s);
    const adding = new Set(active ? active.inputs.filter((i) => i.accumulates).map((i) => i.wire)
      : []);
    const activeGate = s >= 1 && s <= data.gates.length ? data.gates[s - 1].output
      : (active && active.gate) || null;
    const start = (w) => { const p = pos(w.name); return p.x + (w.kind === "gate" ? R : 6); };

    // wires: from each wire's stub end to every gate reading it
    for (const g of data.gates) {
      const q = pos(g.output);
      g.wires.forEach((name, index) => {
        if (name === null) return;
        const w = wire(name), p = pos(name), x0 = start(w) + STUB;
        const qx = q.x - R, qy = q.y + (g.wires.length > 1 ? (index - 0.5) * 12 : 0);
        const path = el("path", { d: `M${x0},${p.y} C${x0 + 50},${p.y} ${qx - 50},${qy} ${qx},${qy}`,
                                  class: "wire" + (g.output === activeGate ? " active" : ""),
                                  "data-wire": name });
        path.addEventListener("click", () => { selected = name; render(); });
        svg.append(path);
        if (w.fork) {
          const share = shareAt(g.output, index, s);
          if (share !== null) {
            svg.append(el("text", { x: qx - 70, y: qy + (index ? 14 : -5), class: "share",
                                    "data-share": name + ">" + g.output }, short(share)));
          }
        }
      });
    }
    // each wire's stub: its name, value (green) and gradient (red); a dot where it forks
    for (const w of data.wires) {
      const p = pos(w.name), x = start(w);
      const stub = el("line", { x1: x, y1: p.y, x2: x + STUB, y2: p.y,
                                class: "wire" + (w.name === activeGate ? " active" : ""),
                                "data-wire": w.name });
      stub.addEventListener("click", () => { selected = w.name; render(); });
      svg.append(stub);
      if (w.fork) svg.append(el("circle", { cx: x + STUB, cy: p.y, r: 3, class: "fork" }));
      if (adding.has(w.name)) {  // this step's branch adds into the wire's gradient
        svg.append(el("text", { x: x + STUB + 6, y: p.y + 4, class: "plus-equals",
                                "data-plus-equals": w.name }, "+="));
      }
      const name = w.kind !== "gate"
        ? el("text", { x: x - 4, y: p.y + 4, "text-anchor": "end", class: "name" }, w.name)
        : el("text", { x: x + 4, y: p.y - 20, class: "name" }, w.name);
      if (w.shape.length) name.append(el("tspan", { class: "shape", "data-shape": w.name }, shapeLabel(w)));
      svg.append(name);
      if (w.step <= s) {
        svg.append(el("text", { x: x + 4, y: p.y - 6, class: "value", "data-value": w.name },
                      onWire(w.value_text, w.shape)));
      }
      const grad = gradientAt(w.name, s);
      if (grad !== null) {
        svg.append(el("text", { x: x + 4, y: p.y + 15, class: "grad", "data-grad": w.name },
                      onWire(grad.text, w.shape)));
      }
    }
    // the gates, labelled with their operation
    for (const g of data.gates) {
      const p = pos(g.output);
      const group = el("g", { class: "gate" + (g.output === activeGate ? " active" : ""),
                              "data-gate": g.output });
      group.append(el("circle", { cx: p.x, cy: p.y, r: R }));
      const label = g.label.split("\n")[0];
      group.append(el("text", { x: p.x, y: p.y, style: label.length > 3 ? "font-size:10px" : "" },
                      label));
      svg.append(group);
    }
    return svg;
  }

  // ----- a wire's arrays: a small table, or a heatmap ----------------------------------
  const TABLE_MAX = 10;  // rows and columns a table shows; larger arrays get a heatmap

  // Python's fmt: 4 significant digits, trailing zeros kept (3.000, -12.00, 1.000e-7)
  function fmt(v) {
    if (v === null) return "nan";
    if (v === 0) return "0.000";
    return v.toPrecision(4).replace("e+", "e");
  }

  // An array as rows of numbers: 1-d as one row, n-d as its last axis by all the others.
  function rowsOf(value, shape) {
    const flat = [value].flat(Infinity);
    const cols = shape.length ? shape[shape.length - 1] : 1;
    const rows = [];
    for (let k = 0; k < flat.length; k += cols) rows.push(flat.slice(k, k + cols));
    return rows;
  }

  function table(rows, kind) {
    const tab = document.createElement("table");
    tab.className = "cells " + kind;
    for (const row of rows) {
      const tr = document.createElement("tr");
      for (const v of row) {
        const td = document.createElement("td");
        td.textContent = fmt(v);
        tr.append(td);
      }
      tab.append(tr);
    }
    return tab;
  }

  // white at 0, blue for negative and orange for positive, by |v| / the largest |v|
  function colour(v, scale) {
    if (v === null) return "rgb(128,128,128)";
    const a = scale ? Math.min(1, Math.abs(v) / scale) : 0;
    const [r, g, b] = v < 0 ? [33, 102, 172] : [230, 97, 1];
    const mix = (c) => Math.round(255 + (c - 255) * a);
    return `rgb(${mix(r)},${mix(g)},${mix(b)})`;
  }

  function heatmap(rows, kind, readout) {
    const nr = rows.length, nc = rows[0].length;
    const cell = Math.max(1, Math.min(24, Math.floor(360 / Math.max(nr, nc))));
    const canvas = document.createElement("canvas");
    canvas.width = nc * cell;
    canvas.height = nr * cell;
    canvas.className = "heatmap " + kind;
    Object.assign(canvas.dataset, { rows: nr, cols: nc, cell: cell });
    const finite = rows.flat().filter((v) => v !== null);
    const scale = Math.max(0, ...finite.map(Math.abs));
    const ctx = canvas.getContext("2d");
    rows.forEach((row, i) => row.forEach((v, j) => {
      ctx.fillStyle = colour(v, scale);
      ctx.fillRect(j * cell, i * cell, cell, cell);
    }));
    const show = (e) => {
      const box = canvas.getBoundingClientRect();
      const i = Math.floor((e.clientY - box.top) / cell), j = Math.floor((e.clientX - box.left) / cell);
      if (i < 0 || j < 0 || i >= nr || j >= nc) return;
      readout.textContent = t("cell", { index: nr > 1 ? i + ", " + j : String(j), value: fmt(rows[i][j]) });
    };
    canvas.addEventListener("mousemove", show);
    canvas.addEventListener("click", show);
    const range = document.createElement("span");
    range.className = "range";
    range.textContent = t("range", { min: fmt(Math.min(...finite)), max: fmt(Math.max(...finite)) });
    return [canvas, range];
  }

  function arrayView(kind, shape, value) {
    const box = document.createElement("figure");
    box.dataset.array = kind;
    const caption = document.createElement("figcaption");
    caption.textContent = t(kind === "value" ? "array_value" : "array_grad");
    if (shape.length > 2) caption.textContent += " " + t("flattened", { shape: shapeText(shape) });
    box.append(caption);
    const rows = rowsOf(value, shape);
    if (rows.length <= TABLE_MAX && rows[0].length <= TABLE_MAX) {
      box.append(table(rows, kind));
    } else {
      const readout = document.createElement("span");
      readout.className = "readout";
      readout.textContent = t("hover");
      const [canvas, range] = heatmap(rows, kind, readout);
      box.append(canvas, document.createElement("br"), range, " ", readout);
    }
    return box;
  }

  // At a fork: the shares the branches have sent back by step s, and how many are to come.
  function branchesText(name, s) {
    const arrived = [];
    let all = 0;
    for (const b of data.backward) {
      for (const i of b.inputs) {
        if (i.wire !== name) continue;
        all += 1;
        if (b.step <= s) arrived.push({ share: i.gradient_text, gate: b.gate, total: i.total_text });
      }
    }
    if (all < 2 || !arrived.length) return "";
    const terms = arrived.map((a) => t("branch", { gradient: a.share, gate: a.gate }));
    let text = t("branches", { wire: name, terms: terms.join(" + "),
                               total: arrived[arrived.length - 1].total });
    if (arrived.length < all) text += " " + t("branches_pending", { n: all - arrived.length });
    return text;
  }

  function wireInfo(s) {
    const w = selected && data.wires.find((w) => w.name === selected);
    const arrays = $("wire-arrays");
    arrays.textContent = "";
    $("wire-text").textContent = "";
    if (!w) return;
    const grad = gradientAt(w.name, s);
    $("wire-text").textContent = t("wire", {
      name: w.name, shape: shapeText(w.shape), value: w.step <= s ? w.value_text : "…",
      grad: grad ? grad.text : t("no_grad") });
    const branches = branchesText(w.name, s);
    if (branches) $("wire-text").textContent += "\n" + branches;
    if (!w.shape.length || w.shape.includes(0)) return;
    if (w.step <= s && Array.isArray(w.value)) arrays.append(arrayView("value", w.shape, w.value));
    if (grad && Array.isArray(grad.value)) arrays.append(arrayView("grad", w.shape, grad.value));
  }

  // ----- render ------------------------------------------------------------------------
  function render() {
    document.documentElement.lang = state.lang === "zh" ? "zh-CN" : "en";
    for (const e of document.querySelectorAll("[data-msg]")) e.textContent = t(e.dataset.msg);
    $("lang").textContent = t("lang_toggle");
    document.title = t("title");
    $("offline").hidden = !C.embedded || C.notebook;
    $("expr-row").hidden = !!C.embedded && !C.embedded.expression;
    $("lessons-box").hidden = !!C.embedded;

    const list = $("lessons");
    list.textContent = "";
    for (const l of C.lessons) {
      const li = document.createElement("li");
      if (l.key === state.lesson) li.className = "current";
      const b = document.createElement("button");
      b.type = "button";
      b.dataset.lesson = l.key;
      b.textContent = l.title[state.lang] || l.title.en;
      b.addEventListener("click", () => setLesson(l, true));
      li.append(b);
      list.append(li);
    }
    const lesson = C.lessons.find((l) => l.key === state.lesson);
    $("explanation").textContent = lesson ? lesson.explanation[state.lang] : "";

    $("error").hidden = error === null;
    $("error").textContent = error === null ? "" : t("error", { message: error });
    $("picture").style.opacity = error === null ? "1" : "0.4";
    if (!data) { $("status").textContent = ""; writeURL(); return; }

    const s = state.step = Math.max(0, Math.min(state.step, data.last_step));
    $("counter").textContent = t("counter", { step: s, last: data.last_step });
    $("status").textContent = statusText(s);
    const svg = drawPicture(s);
    $("picture").replaceChildren(svg);
    // a wide circuit shrinks to fit the box, but not below 65%: then the box scrolls
    const natural = Number(svg.getAttribute("width"));
    const room = $("picture").clientWidth - 2;
    svg.style.width = Math.max(natural * 0.65, Math.min(natural, room)) + "px";

    const seed = data.gates.length + 1;
    const listing = $("listing");
    listing.textContent = "";
    data.listing.forEach((line, k) => {
      const span = document.createElement("span");
      span.textContent = (line.texts && line.texts[state.lang]) || line.text || " ";
      span.dataset.line = k;
      const step = line.step !== null ? line.step
        : (line.text.startsWith("# backward") ? seed : null);
      if (line.step !== null && line.step === s) span.className = "active";
      else if (step !== null && step > s) span.className = "future";
      listing.append(span);
    });

    wireInfo(s);
    writeURL();
  }

  function go(step) {
    if (!data) return;
    state.step = Math.max(0, Math.min(step, data.last_step));
    render();
  }

  // ----- wiring up ---------------------------------------------------------------------
  readURL();
  fillForm();
  for (const id of ["expr", "upstream"]) $(id).readOnly = !!C.embedded && !C.bridge;
  $("expr").addEventListener("input", () => {
    state.expr = $("expr").value;
    state.step = 0;
    inputBoxes();
    changed();
  });
  $("upstream").addEventListener("input", () => { state.upstream = $("upstream").value; changed(); });
  $("form").addEventListener("submit", (e) => { e.preventDefault(); compute(); });
  $("step").addEventListener("click", () => go(state.step + 1));
  $("back").addEventListener("click", () => go(state.step - 1));
  $("run").addEventListener("click", () => go(Infinity));
  $("reset").addEventListener("click", () => go(0));
  $("lang").addEventListener("click", () => {
    state.lang = state.lang === "zh" ? "en" : "zh";
    render();
  });
  document.addEventListener("keydown", (e) => {
    if (e.target instanceof HTMLInputElement || e.altKey || e.ctrlKey || e.metaKey) return;
    const keys = { ArrowRight: 1, ArrowDown: 1, ArrowLeft: -1, ArrowUp: -1 };
    if (e.key in keys) go(state.step + keys[e.key]);
    else if (e.key === "Home") go(0);
    else if (e.key === "End") go(Infinity);
    else return;
    e.preventDefault();
  });
  if (C.embedded) { data = C.embedded; render(); } else { render(); compute(); }
})();
