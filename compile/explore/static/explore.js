/* derivax explorer: the page that shows a network's derivation and lets one edit, check, verify and train it.

   Live mode talks to `derivax explore`'s JSON API; frozen mode (a `derivax report` page) renders the record
   embedded in the page and never calls the network. Math arrives as MathML (lhs_ml, rhs_ml, note_html, and the
   lines of a long equation's breakings, record.breaks) and is the only thing inserted as HTML: every other
   server or user text goes in with textContent.
   Plain script, no modules: it may be inlined into a self-contained report page. */
(function () {
  "use strict";

  const SVGNS = "http://www.w3.org/2000/svg";
  const POLL_MS = 300;

  const state = {
    mode: "live",
    record: null,       // the derivation record shown
    network: null,      // the model fields the shown record was derived from
    edits: [],          // edits of the shown record
    pendingEdits: null, // edits of the request in flight, if any
    selected: null,     // the open target key ("P:W1", "L2", "D:1", "J")
    reqId: 0,
    abort: null,
    checkId: 0,
    jobs: { verify: null, train: null, scalar: null },
    curves: null,
  };

  /* ---------- small DOM helpers ---------- */

  const $ = (sel, root) => (root || document).querySelector(sel);
  const $$ = (sel, root) => Array.from((root || document).querySelectorAll(sel));

  /** An element with attributes ("text" sets textContent, "class" the class) and children (strings as text). */
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "text") e.textContent = v;
      else if (k === "class") e.className = v;
      else e.setAttribute(k, v === true ? "" : String(v));
    }
    for (const c of children) if (c !== null && c !== undefined) e.append(c);
    return e;
  }

  /** An element holding server MathML/HTML (only for the *_ml and note_html fields). */
  function math(tag, markup, cls) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    e.innerHTML = markup || "";
    return e;
  }

  function svg(tag, attrs) {
    const e = document.createElementNS(SVGNS, tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "text") e.textContent = v;
      else e.setAttribute(k, String(v));
    }
    return e;
  }

  function setStatus(text, kind) {
    const s = $("#status");
    s.textContent = text;
    s.dataset.state = kind || "";
  }

  /* ---------- the server ---------- */

  /** fetch + JSON; a non-2xx answer throws an Error carrying the server's {message, field, position} as .api. */
  async function api(method, path, body, signal) {
    const opts = { method, headers: {}, signal };
    if (body !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(body);
    }
    const res = await fetch(path, opts);
    let data = null;
    try { data = await res.json(); } catch (e) { data = null; }
    if (!res.ok) {
      const info = (data && data.error) || { message: `the server answered ${res.status} ${res.statusText}` };
      const err = new Error(info.message);
      // busy: the server's queue is full (429) or it is stopping (503): nothing was wrong with the request
      err.api = { message: info.message, field: info.field || null, position: info.position ?? null,
                  busy: res.status === 429 || res.status === 503 };
      throw err;
    }
    return data;
  }

  /** The error record of any failure: the server's, or one saying the server could not be reached. */
  function errorOf(err) {
    return err.api || { message: `the server did not answer (${err.message})`, field: null, position: null };
  }

  /* ---------- errors under their fields ---------- */

  function errorBox(field) {
    if (field === "model") return $("#error-model");
    if (field === "loss") return $("#error-loss");
    if (field === "formula") return $("#error-formula");
    if (field && field.startsWith("edit:")) return $("#error-edit");
    return $("#error-general");
  }

  /** The text the field named by an error held in request `body` (for the caret line). */
  function fieldText(field, body) {
    if (!field || !body) return null;
    if (field.startsWith("edit:")) {
      const edit = (body.edits || [])[Number(field.slice(5))];
      return edit ? (edit.op === "activation" ? edit.value : edit.op === "insert" ? edit.activation : null) : null;
    }
    return typeof body[field] === "string" ? body[field] : null;
  }

  /** Words for an edit, to say which one an error is about. */
  function describeEdit(edit) {
    if (!edit) return "";
    if (edit.op === "activation") return `layer ${edit.layer}'s activation`;
    if (edit.op === "insert") return `the layer added after layer ${edit.after}`;
    return `removing layer ${edit.layer}`;
  }

  /** Shows `err` in `box` (message, then the text with a caret under err.position), or hides the box. */
  function showError(box, err, text, prefix) {
    box.replaceChildren();
    box.hidden = !err;
    box.classList.toggle("busy", Boolean(err && err.busy));
    if (!err) return;
    box.append(el("div", { class: "msg", text: (prefix ? prefix + ": " : "") + err.message }));
    if (err.position !== null && err.position !== undefined && text !== null && text !== undefined) {
      const pos = Math.max(0, Math.min(Number(err.position), text.length));
      box.append(el("pre", { class: "caret", text: `${text}\n${" ".repeat(pos)}^ at character ${pos + 1}` }));
    }
  }

  function clearDeriveErrors() {
    for (const id of ["#error-model", "#error-loss", "#error-edit", "#error-general"]) showError($(id), null);
    $$("[aria-invalid]").forEach((e) => e.removeAttribute("aria-invalid"));
  }

  /* ---------- deriving ---------- */

  function fieldsFromInputs() {
    return {
      model: $("#model").value.trim(),
      loss: $("#loss").value.trim() || null,
      edits: (state.pendingEdits || state.edits).slice(),
      convention: $("#convention").value,
    };
  }

  /** The fields of what is shown (check, verify and train act on it), else what the inputs say. */
  function appliedFields() {
    const f = state.network || fieldsFromInputs();
    return { model: f.model, loss: f.loss || null, edits: state.edits.slice(), convention: f.convention || "rows" };
  }

  /** `edits` plus `edit`; a second change of the same layer's activation replaces the first. */
  function withEdit(edits, edit) {
    const last = edits[edits.length - 1];
    if (edit.op === "activation" && last && last.op === "activation" && last.layer === edit.layer)
      return edits.slice(0, -1).concat([edit]);
    return edits.concat([edit]);
  }

  /** POSTs /api/derive with the inputs (plus a new edit) and shows the answer if it is still the latest. */
  function derive(edit, source) {
    if (state.mode !== "live") return;
    const body = fieldsFromInputs();
    if (edit && state.network) body.model = state.network.model;               // an edit is of what is shown
    else if (state.network && body.model !== state.network.model) body.edits = []; // edits belong to their model
    if (edit) body.edits = withEdit(body.edits, edit);
    if (!body.model) {
      showError($("#error-model"), { message: "name a model: an example such as xor, or a spec such as 2-3:tanh-1:sigmoid" });
      return;
    }
    const id = ++state.reqId;
    if (state.abort) state.abort.abort();
    const ctrl = new AbortController();
    state.abort = ctrl;
    state.pendingEdits = body.edits;
    setStatus("deriving…", "busy");
    $("#layout").setAttribute("aria-busy", "true");
    api("POST", "/api/derive", body, ctrl.signal).then((data) => {
      if (id !== state.reqId) return;
      finishRequest();
      clearDeriveErrors();
      state.network = Object.assign({}, body, data.network || {});
      state.edits = (data.network && data.network.edits) || body.edits;
      render(data.record);
      setStatus("ready", "ok");
    }).catch((err) => {
      if (id !== state.reqId || err.name === "AbortError") return;
      finishRequest();
      clearDeriveErrors();
      const e = errorOf(err);
      const n = e.field && e.field.startsWith("edit:") ? Number(e.field.slice(5)) : null;
      showError(errorBox(e.field), e, fieldText(e.field, body), n !== null ? describeEdit(body.edits[n]) : "");
      if (e.busy) { /* nothing in the request was wrong */ }
      else if (source && (n !== null || !e.field)) source.setAttribute("aria-invalid", "true");
      else if (e.field === "model" || e.field === "loss") $("#" + e.field).setAttribute("aria-invalid", "true");
      setStatus(failWord(e), e.busy ? "" : "bad");
    });
  }

  function finishRequest() {
    state.abort = null;
    state.pendingEdits = null;
    $("#layout").removeAttribute("aria-busy");
  }

  /* ---------- rendering a record ---------- */

  function render(record) {
    const keep = { y: window.scrollY, left: $(".left").scrollTop, panel: $("#panel").scrollTop };
    if (state.record && state.record !== record) {   // results of the network shown before are no longer this one's
      if (!state.jobs.scalar) { $("#scalar-result").replaceChildren(); $("#scalar-status").textContent = ""; }
      if (!state.jobs.verify) { $("#verify-result").replaceChildren(); $("#verify-status").textContent = ""; }
    }
    state.record = record;
    renderTitle(record);
    renderLayers(record);
    renderGraph(record);
    renderSections(record);
    renderCheckParams(record);
    const sel = state.selected;
    if (sel && (sel === "J" || record.targets[sel])) select(sel);
    else closePanel();
    fitEquations();
    window.scrollTo(window.scrollX, keep.y);
    $(".left").scrollTop = keep.left;
    $("#panel").scrollTop = keep.panel;
  }

  function renderTitle(r) {
    $("#title").textContent = r.name || "network";
    const conv = r.convention === "columns" ? "examples as columns" : "examples as rows";
    $("#subtitle").textContent = `${r.size_text} · loss ${r.loss} · ${conv}`;
    $("#loss").placeholder = `${r.loss} (the model's own), mse, or a formula in yhat and y`;
    const ul = $("#layout-lines");
    ul.replaceChildren(...(r.layout || []).map((t) => el("li", { text: t })));
    ul.hidden = !(r.layout || []).length;
    const tbody = $("#summary tbody");
    tbody.replaceChildren(...r.summary.map((row) => el("tr", {},
      el("td", { text: row.layer }), el("td", { text: row.output }),
      el("td", { text: row.parameters }), el("td", { class: "num", text: row.count.toLocaleString("en") }))));
    const total = r.summary.reduce((s, row) => s + row.count, 0);
    $("#summary-title").textContent = `Parameters: ${total.toLocaleString("en")} in all`;
  }

  /** Activation texts the edits set, by layer index after every edit: a formula shows as the user wrote it. */
  function editedActivations(edits) {
    let map = new Map();
    const shift = (from, by) => new Map([...map].map(([k, v]) => [k > from ? k + by : k, v]));
    for (const e of edits) {
      if (e.op === "activation") map.set(e.layer, e.value);
      else if (e.op === "insert") { map = shift(e.after, 1); map.set(e.after + 1, e.activation); }
      else if (e.op === "remove") { map.delete(e.layer); map = shift(e.layer, -1); }
    }
    return map;
  }

  function renderLayers(r) {
    const typed = editedActivations(state.edits);
    const rows = r.layers.map((layer) => {
      const k = layer.index;
      let act = el("span", { class: "muted", text: layer.activation || "" });
      if (layer.editable) {
        act = el("input", { type: "text", class: "activation", spellcheck: "false", "data-layer": k,
                            "aria-label": `layer ${k} activation`, title: "a name (relu, tanh, …) or a formula in z; Enter applies" });
        act.value = typed.get(k) || layer.activation || "";
      }
      const remove = layer.kind === "dense"
        ? el("button", { type: "button", class: "remove", "data-layer": k, "aria-label": `remove layer ${k}`, title: `remove layer ${k}`, text: "×" })
        : null;
      return el("tr", { "data-layer": k }, el("td", { text: k }), el("td", { text: layer.kind.replace(/_/g, " ") }),
        el("td", { class: "num", text: layer.units }), el("td", {}, act), el("td", {}, remove));
    });
    $("#layers tbody").replaceChildren(...rows);
    const after = $("#add-after");
    const before = after.value;
    after.replaceChildren(el("option", { value: 0, text: "after the input" }),
      ...r.layers.map((l) => el("option", { value: l.index, text: `after layer ${l.index}` })));
    const last = r.layers.length ? r.layers[r.layers.length - 1].index : 0;
    after.value = before && Number(before) <= last ? before : String(Math.max(0, last - 1));
    const n = state.edits.length;
    $("#edits-count").textContent = n ? `${n} edit${n > 1 ? "s" : ""} applied` : "";
    $("#reset-edits").hidden = !n || state.mode !== "live";
  }

  function renderSections(r) {
    const box = $("#sections");
    box.replaceChildren(...r.sections.map((sec) => {
      const table = el("table", { class: "eqs" });
      table.append(...sec.lines.map((line) => lineRow(line, r.breaks)));
      return el("section", { class: "section" }, el("h2", { text: sec.title }), table);
    }));
  }

  /* ---------- long equations: the breaking that fits the room ---------- */

  /** The breakings of `line`'s right side in `breaks` (by the LaTeX its rhs_ml renders), or null: a record
      without them (an older one) shows every equation whole. */
  function breaksOf(line, breaks) {
    const key = (line.lhs ? "= " : "") + (line.rhs || "");
    return breaks && Object.prototype.hasOwnProperty.call(breaks, key) ? breaks[key] : null;
  }

  /** An element holding `line`'s right side: its MathML whole, or, where it has breakings, in a holder that
      fitEquations fills with the lines that fit the room it has. */
  function rhsMath(tag, line, cls, breaks) {
    const entry = breaksOf(line, breaks);
    if (!entry || !(entry.fits || []).length) return math(tag, line.rhs_ml, cls);
    const e = el(tag, { class: `${cls} breakable` }, math("span", line.rhs_ml, "eqn"));
    e._fit = { entry, whole: line.rhs_ml, shown: -1 };
    return e;
  }

  /** The breaking for `room` px: -1 (whole) where it fits whole, else the widest that fits, else the narrowest. */
  function breakingFor(entry, room) {
    if (room >= entry.px) return -1;
    const k = entry.fits.findIndex((f) => f.px <= room);
    return k < 0 ? entry.fits.length - 1 : k;
  }

  /** Shows breaking `k` of `box` (rhsMath's element): its lines, each a step in but those that start with "=". */
  function showBreaking(box, k) {
    const fit = box._fit;
    if (fit.shown === k) return;
    fit.shown = k;
    const holder = box.querySelector(".eqn");
    if (k < 0) holder.innerHTML = fit.whole;
    else holder.replaceChildren(...fit.entry.fits[k].lines.map((l) => math("span", l.ml, l.more ? "brk more" : "brk")));
    box.classList.toggle("broken", k >= 0);
    const row = box.closest("tr.line, .eq");
    if (row) row.classList.toggle("broken", k >= 0);
  }

  /** Every long equation shown, broken for the room its right side has: in a section's table the section's
      width less the left sides' column (the copy buttons take none: they show over the row's right end); in the
      panel its line less the left side.
      All widths are read before any equation changes, so the page is laid out once. */
  function fitEquations() {
    const todo = [];
    for (const table of $$("table.eqs")) {
      const boxes = $$("td.rhs.breakable", table);
      if (!boxes.length) continue;
      const row = boxes[0].parentElement, lhs = $("td.lhs", row), tools = $("td.tools", row);
      const style = getComputedStyle(boxes[0]);
      const room = table.parentElement.clientWidth - (lhs ? lhs.offsetWidth : 0) - (tools ? tools.offsetWidth : 0)
        - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
      for (const box of boxes) todo.push([box, room]);
    }
    for (const box of $("#panel").hidden ? [] : $$("#panel-body .eq > .breakable")) {
      const eq = box.parentElement, lhs = $(".lhs", eq);
      const gap = parseFloat(getComputedStyle(eq).columnGap) || 0;
      todo.push([box, eq.clientWidth - (lhs ? lhs.offsetWidth + gap : 0)]);
    }
    for (const [box, room] of todo) showBreaking(box, breakingFor(box._fit.entry, room));
  }

  /** Refits the equations when the column or the panel changes width (the window, the panel opened or closed). */
  function watchWidths() {
    if (typeof ResizeObserver === "undefined") {
      window.addEventListener("resize", () => fitEquations());
      return;
    }
    const widths = new Map();
    let pending = false;
    const observer = new ResizeObserver((entries) => {
      let changed = false;
      for (const e of entries) {
        const w = Math.round(e.contentRect.width);
        if (widths.get(e.target) !== w) { widths.set(e.target, w); changed = true; }
      }
      if (!changed || pending) return;
      pending = true;   // after this frame's layout: fitting inside the callback would resize what is observed
      requestAnimationFrame(() => { pending = false; fitEquations(); });
    });
    observer.observe($(".derivation"));
    observer.observe($("#panel"));
  }

  /** One equation of a section: lhs | = rhs (and its note) | copy buttons; clickable when it opens a target. */
  function lineRow(line, breaks) {
    const rhs = rhsMath("td", line, "rhs", breaks);
    if (line.note_html) rhs.append(math("div", line.note_html, "note"));
    const tr = el("tr", { class: "line", "data-line": line.id },
      math("td", line.lhs_ml, "lhs"), rhs, el("td", { class: "tools" }, el("div", { class: "tool-box" }, ...copyButtons(line))));
    if (line.click) {
      tr.dataset.click = line.click;
      tr.classList.add("clickable");
      tr.tabIndex = 0;
      tr.title = line.click === "J" ? "show the loss in the graph" : "show how this line is derived";
    }
    return tr;
  }

  /** A step (or a panel line): the equation, the rule that made it in words, copy buttons. */
  function stepBlock(line, cls) {
    const eq = el("div", { class: "eq" }, math("span", line.lhs_ml, "lhs"), " ",
                  rhsMath("span", line, "rhs", state.record && state.record.breaks));
    const div = el("div", { class: cls }, el("div", { class: "eq-row" }, eq, el("div", { class: "tools" }, ...copyButtons(line))));
    if (line.note_html) div.append(math("div", line.note_html, "rule"));
    return div;
  }

  /* ---------- copying ---------- */

  function copyButtons(line) {
    const latex = line.lhs ? `${line.lhs} = ${line.rhs}` : line.rhs;
    const out = [copyButton("LaTeX", latex, "copy-latex")];
    if (line.formula) out.push(copyButton("formula", line.formula, "copy-formula"));
    return out;
  }

  function copyButton(label, text, cls) {
    const b = el("button", { type: "button", class: `copy ${cls}`, title: `copy as ${label}`, text: label });
    b.addEventListener("click", (ev) => { ev.stopPropagation(); copyText(b, text, label); });
    return b;
  }

  function copyText(button, text, label) {
    button.setAttribute("data-copied", text);
    const done = () => {
      button.textContent = "copied";
      setTimeout(() => { button.textContent = label; }, 1200);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, () => { fallbackCopy(text); done(); });
    } else {
      fallbackCopy(text);
      done();
    }
  }

  function fallbackCopy(text) {
    const ta = el("textarea", { class: "offscreen", readonly: true, "aria-hidden": "true" });
    ta.value = text;
    document.body.append(ta);
    ta.select();
    try { document.execCommand("copy"); } catch (e) { /* nothing more to try */ }
    ta.remove();
  }

  /* ---------- the graph ---------- */

  /** Draws record.graph: X, the layers and J in a column, parameters in small boxes beside their layer,
      edges between neighbours straight, other edges (residual, skipping) as arcs on the left. */
  function renderGraph(r) {
    const box = $("#graph");
    box.replaceChildren();
    const note = $("#graph-note");
    note.hidden = !!r.graph;
    note.textContent = r.graph ? "" : r.graph_note || "the network is too large to draw";
    box.style.display = r.graph ? "" : "none";
    if (!r.graph) return;
    const { nodes, edges } = r.graph;
    const column = nodes.filter((n) => n.kind !== "param").sort((a, b) => a.layer - b.layer);
    const order = new Map(column.map((n, i) => [n.id, i]));
    const params = new Map();
    for (const n of nodes) if (n.kind === "param") {
      if (!params.has(n.layer)) params.set(n.layer, []);
      params.get(n.layer).push(n);
    }
    const arcs = edges.filter((e) => e.kind !== "param" && Math.abs(order.get(e.to) - order.get(e.from)) !== 1);
    const span = (e) => Math.abs(order.get(e.to) - order.get(e.from));
    const bulge = (e) => Math.min(64, 16 + 10 * (span(e) - 1) + 7 * (arcs.indexOf(e) % 3));
    const charW = 6.6, perRow = 3;
    const NW = Math.max(118, Math.max(...column.map((n) => Math.max(n.label.length, (n.text || "").length + (n.steps ? 4 : 0)))) * charW + 22);
    const NH = 40, PH = 20, GAP = 26;
    const PW = Math.max(34, Math.max(0, ...nodes.filter((n) => n.kind === "param").map((n) => n.label.length)) * charW + 14);
    const x0 = arcs.length ? Math.max(...arcs.map(bulge)) + 8 : 8;
    const maxParams = Math.max(0, ...[...params.values()].map((ps) => ps.length));
    const pos = new Map();
    let y = 8;
    for (const n of column) {
      const ps = params.get(n.layer) || [];
      const rows = n.kind === "layer" ? Math.ceil(ps.length / perRow) : 0;
      const h = Math.max(NH, rows * (PH + 5) - 5);
      pos.set(n.id, { x: x0, y: y + (h - NH) / 2, w: NW, h: NH });
      if (n.kind === "layer") ps.forEach((p, i) => {
        pos.set(p.id, { x: x0 + NW + 26 + (i % perRow) * (PW + 6),
                        y: y + (h - (rows * (PH + 5) - 5)) / 2 + Math.floor(i / perRow) * (PH + 5), w: PW, h: PH });
      });
      y += h + GAP;
    }
    const W = x0 + NW + (maxParams ? 26 + Math.min(maxParams, perRow) * (PW + 6) : 0) + 6;
    const H = y - GAP + 8;
    box.setAttribute("viewBox", `0 0 ${W} ${H}`);
    box.style.maxWidth = `${W}px`;
    box.append(markers());
    const edgeLayer = svg("g", { class: "edges" });
    for (const e of edges) edgeLayer.append(drawEdge(e, pos, order, bulge, x0 + NW + 14));
    box.append(edgeLayer);
    for (const n of nodes) if (pos.has(n.id)) box.append(drawNode(n, pos.get(n.id)));
  }

  function markers() {
    const defs = svg("defs");
    for (const id of ["arrow", "arrow-on"]) {
      const m = svg("marker", { id, class: id, viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" });
      m.append(svg("path", { d: "M0,0 L10,5 L0,10 z" }));
      defs.append(m);
    }
    return defs;
  }

  /** An edge's path; a parameter's runs along its row of boxes (under them) to a bus beside its layer. */
  function drawEdge(e, pos, order, bulge, bus) {
    const a = pos.get(e.from), b = pos.get(e.to);
    let d;
    if (e.kind === "param") {
      const ya = a.y + a.h / 2;
      d = `M${a.x},${ya} L${bus},${ya} L${b.x + b.w},${b.y + b.h / 2}`;
    } else if (Math.abs(order.get(e.to) - order.get(e.from)) === 1) {
      const x = a.x + a.w / 2;
      d = `M${x},${a.y + a.h} L${x},${b.y - 1}`;
    } else {
      const k = bulge(e), ya = a.y + a.h / 2, yb = b.y + b.h / 2;
      d = `M${a.x},${ya} C${a.x - k},${ya} ${b.x - k},${yb} ${b.x - 1},${yb}`;
    }
    const p = svg("path", { d, class: `edge ${e.kind}`, "data-from": e.from, "data-to": e.to });
    if (e.kind !== "param") p.setAttribute("marker-end", "url(#arrow)");
    return p;
  }

  function drawNode(n, p) {
    const g = svg("g", { class: `node ${n.kind}`, "data-node": n.id, tabindex: 0, role: "button",
                         "aria-label": `${n.label}: ${n.text || ""}` });
    const steps = n.steps ? `runs ${n.steps} steps` : "";   // a recurrent layer
    g.append(svg("title", { text: [n.text, typeof n.shape === "string" ? `output ${n.shape}` : "", steps].filter(Boolean).join(", ") }));
    g.append(svg("rect", { x: p.x, y: p.y, width: p.w, height: p.h, rx: n.kind === "param" ? 4 : 8 }));
    if (n.kind === "param") {
      g.append(svg("text", { x: p.x + p.w / 2, y: p.y + p.h / 2 + 4, "text-anchor": "middle", class: "plabel", text: n.label }));
    } else {
      g.append(svg("text", { x: p.x + p.w / 2, y: p.y + 16, "text-anchor": "middle", class: "label", text: n.label }));
      g.append(svg("text", { x: p.x + p.w / 2, y: p.y + 31, "text-anchor": "middle", class: "sub",
                             text: (n.text || "") + (n.steps ? ` ×${n.steps}` : "") }));
    }
    return g;
  }

  /** The target a graph node opens: its layer, its parameter's gradient, or just itself (X, J). */
  function nodeTarget(id) {
    const t = state.record && state.record.targets;
    if (id.startsWith("P:") || /^L\d+$/.test(id)) return t && t[id] ? id : null;
    return id === "J" ? "J" : null;
  }

  function highlightGraph(path, key) {
    const on = new Set(path);
    $$("#graph .node").forEach((g) => {
      g.classList.toggle("on-path", on.has(g.dataset.node));
      g.classList.toggle("selected", g.dataset.node === key);
    });
    $$("#graph .edge").forEach((p) => {
      const lit = on.has(p.dataset.from) && on.has(p.dataset.to);
      p.classList.toggle("on-path", lit);
      if (p.hasAttribute("marker-end")) p.setAttribute("marker-end", lit ? "url(#arrow-on)" : "url(#arrow)");
    });
  }

  /* ---------- selection and the side panel ---------- */

  function select(key) {
    const r = state.record;
    if (!r || !key) return;
    state.selected = key;
    const t = r.targets[key];
    highlightGraph(t ? t.path : [key], key);
    $$("#sections .line").forEach((tr) => tr.classList.toggle("selected", tr.dataset.click === key));
    if (t) openPanel(key, t);
    else hidePanel();
  }

  function openPanel(key, t) {
    const labels = new Map(((state.record.graph || {}).nodes || []).map((n) => [n.id, n.label]));
    $("#panel-title").textContent = t.title;
    $("#panel-path").textContent = t.path && t.path.length
      ? "error signal's path: " + t.path.map((id) => labels.get(id) || id.replace(/^P:/, "").replace(/^L(\d+)$/, "layer $1")).join(" → ") : "";
    const body = $("#panel-body");
    body.replaceChildren();
    if (t.kind === "layer") {
      const node = ((state.record.graph || {}).nodes || []).find((n) => n.id === key);
      if (node) body.append(el("p", { class: "muted layer-text", text: `${node.text}${node.shape ? ", output " + node.shape : ""}` }));
      body.append(el("h3", { text: "Forward" }), ...(t.forward || []).map((l) => stepBlock(l, "pline")));
      body.append(el("h3", { text: "Error signal" }),
        t.adjoint ? stepBlock(t.adjoint, "pline") : el("p", { class: "muted", text: "no gradient flows back to this layer" }));
      body.append(relatedButtons(key));
    } else {
      if (t.line) body.append(el("p", {}, jumpButton(t.line)));
      // a target lists the numbers of its lines in the record's step_lines (shared by every target)
      const lines = (t.steps || []).map((k) => state.record.step_lines[k]);
      body.append(el("h3", { text: `Steps (${lines.length})` }));
      if (!lines.length) body.append(el("p", { class: "muted", text: "no steps recorded" }));
      lines.forEach((s, i) => {
        const b = stepBlock(s, "step");
        b.dataset.index = i + 1;
        body.append(b);
      });
    }
    const panel = $("#panel");
    panel.hidden = false;
    panel.dataset.target = key;
    document.body.classList.add("panel-open");
    fitEquations();   // the panel's lines, and the derivation's column that the panel narrows
  }

  /** For a layer: buttons to its error signal's steps and its parameters' gradients. */
  function relatedButtons(key) {
    const k = key.slice(1), t = state.record.targets;
    const keys = Object.keys(t).filter((x) => x === `D:${k}` || (x.startsWith("P:") && String(t[x].layer) === k));
    if (!keys.length) return el("span");
    const wrap = el("p", { class: "related" }, el("span", { class: "muted", text: "steps of " }));
    for (const x of keys) {
      const b = el("button", { type: "button", class: "link", text: t[x].title });
      b.addEventListener("click", () => select(x));
      wrap.append(b, " ");
    }
    return wrap;
  }

  function jumpButton(lineId) {
    const b = el("button", { type: "button", class: "link", text: "show its line in the derivation" });
    b.addEventListener("click", () => {
      const tr = $(`#sections [data-line="${CSS.escape(lineId)}"]`);
      if (tr) { tr.scrollIntoView({ block: "center", behavior: "smooth" }); tr.focus({ preventScroll: true }); }
    });
    return b;
  }

  function hidePanel() {
    const open = !$("#panel").hidden;
    $("#panel").hidden = true;
    document.body.classList.remove("panel-open");
    if (open) fitEquations();   // the derivation's column is wide again
  }

  function closePanel() {
    hidePanel();
    state.selected = null;
    highlightGraph([], null);
    $$("#sections .line.selected").forEach((tr) => tr.classList.remove("selected"));
  }

  /* ---------- check ---------- */

  function renderCheckParams(r) {
    const sel = $("#check-param");
    const before = sel.value;
    sel.replaceChildren(...r.params.map((p) => el("option", { value: p, text: p })));
    if (r.params.includes(before)) sel.value = before;
  }

  function runCheck() {
    if (state.mode !== "live") return;
    const formula = $("#check-formula").value;
    const result = $("#check-result");
    showError($("#error-formula"), null);
    $("#check-formula").removeAttribute("aria-invalid");
    if (!formula.trim()) {
      showError($("#error-formula"), { message: "write a formula for the gradient, e.g. A1.T @ delta2 / m" });
      return;
    }
    const body = Object.assign(appliedFields(), { param: $("#check-param").value, formula });
    const id = ++state.checkId;
    result.replaceChildren(el("p", { class: "muted", text: "checking…" }));
    api("POST", "/api/check", body).then((data) => {
      if (id !== state.checkId) return;
      result.replaceChildren(
        el("p", { class: `verdict ${data.ok ? "ok" : "bad"}`, text: data.ok ? "✓ equal to the derived gradient" : "✗ differs from the derived gradient" }),
        el("pre", { class: "verdict-text", text: data.text || "" }));
    }).catch((err) => {
      if (id !== state.checkId) return;
      result.replaceChildren();
      const e = errorOf(err);
      const where = e.field === "param" ? "∂J/∂" + body.param : e.field && e.field !== "formula" ? e.field : "";
      showError($("#error-formula"), e, e.field === "formula" ? body.formula : null, where);
      if (e.field === "formula") $("#check-formula").setAttribute("aria-invalid", "true");
    });
  }

  /* ---------- jobs: verify and train ---------- */

  /** POSTs a job and polls it: handlers.events(list) for new events, handlers.end(job answer), handlers.fail(error). */
  function startJob(kind, extra, handlers) {
    const body = Object.assign(appliedFields(), { kind }, extra);
    const job = { id: null, next: 0, stopped: false, timer: null };
    api("POST", "/api/jobs", body).then((data) => {
      job.id = data.id;
      if (!job.stopped) poll(job, handlers);
    }).catch((err) => { if (!job.stopped) handlers.fail(errorOf(err)); });
    return job;
  }

  function poll(job, h) {
    api("GET", `/api/jobs/${encodeURIComponent(job.id)}?since=${job.next}`).then((data) => {
      if (job.stopped) return;
      const events = data.events || [];
      if (events.length) h.events(events);
      job.next = typeof data.next === "number" ? data.next : job.next + events.length;
      if (data.state === "running") job.timer = setTimeout(() => poll(job, h), POLL_MS);
      else { job.stopped = true; h.end(data); }
    }).catch((err) => { if (!job.stopped) { job.stopped = true; h.fail(errorOf(err)); } });
  }

  function runVerify() {
    if (state.mode !== "live" || state.jobs.verify) return;
    const status = $("#verify-status"), button = $("#verify-run");
    button.disabled = true;
    status.textContent = "running…";
    $("#verify-result").replaceChildren();
    const finish = () => { button.disabled = false; state.jobs.verify = null; };
    state.jobs.verify = startJob("verify", {}, {
      events: (evs) => { const n = evs.filter((e) => e.note).pop(); if (n) status.textContent = n.note; },
      end: (data) => {
        finish();
        if (data.state === "done" && data.result) { status.textContent = "done"; drawVerify(data.result); }
        else if (data.state === "cancelled") status.textContent = "stopped";
        else { status.textContent = "error"; showJobError($("#verify-result"), data.error); }
      },
      fail: (e) => { finish(); status.textContent = failWord(e); showJobError($("#verify-result"), e); },
    });
  }

  /** The scalar view of a small network: its sections below the derivation, and the exact check's verdict. */
  function runScalar() {
    if (state.mode !== "live" || state.jobs.scalar) return;
    const status = $("#scalar-status"), button = $("#scalar-run"), box = $("#scalar-result");
    button.disabled = true;
    status.textContent = "expanding…";
    box.replaceChildren();
    const finish = () => { button.disabled = false; state.jobs.scalar = null; };
    state.jobs.scalar = startJob("scalar", {}, {
      events: (evs) => { const n = evs.filter((e) => e.note).pop(); if (n) status.textContent = n.note; },
      end: (data) => {
        finish();
        if (data.state !== "done" || !data.result) {
          status.textContent = data.state === "cancelled" ? "stopped" : "error";
          if (data.state !== "cancelled") showJobError(box, data.error);
          return;
        }
        const res = data.result;
        status.textContent = res.ok ? "done: the matrix form equals the scalar derivatives" : "done: MISMATCH";
        const verdict = el("ul", { class: "layout-lines" }, ...(res.verdict || []).map((t) => el("li", { text: t })));
        box.replaceChildren(el("h2", { class: "scalar-title", text: "Weight by weight (one example)" }),
          el("p", { class: `verdict ${res.ok ? "ok" : "bad"}`, text: (res.verdict || []).slice(-1)[0] || "" }),
          ...res.sections.map((sec) => {
            const table = el("table", { class: "eqs" });
            table.append(...sec.lines.map((line) => lineRow(line, res.breaks)));
            return el("section", { class: "section" }, el("h2", { text: sec.title }), table);
          }), verdict);
        fitEquations();
        box.scrollIntoView({ behavior: "smooth", block: "start" });
      },
      fail: (e) => { finish(); status.textContent = failWord(e); showJobError(box, e); },
    });
  }

  /** The status word of a failed request: "busy" where the server could not take it now (try again shortly). */
  function failWord(e) {
    return e && e.busy ? "busy: try again shortly" : "error";
  }

  function showJobError(box, e) {
    const div = el("div", { class: "error" });
    showError(div, e || { message: "the job failed" });
    box.replaceChildren(div);
  }

  function fmtErr(x) {
    return typeof x === "number" && isFinite(x) ? x.toExponential(1) : x === null || x === undefined ? "—" : String(x);
  }

  function drawVerify(result) {
    const rows = (result.rows || []).map((row) => el("tr", {},
      el("td", { text: row.param }), el("td", { text: row.reference }),
      el("td", { class: "num", text: fmtErr(row.max_rel_err) }),
      el("td", row.ok === null ? { class: "muted", text: "– inconclusive" }
        : { class: row.ok ? "ok" : "bad", text: row.ok ? "✓ agrees" : "✗ differs" })));
    const table = el("table", { class: "verify" },
      el("thead", {}, el("tr", {}, ...["parameter", "reference", "max rel err", "verdict"].map((h) => el("th", { scope: "col", text: h })))),
      el("tbody", {}, ...rows));
    if (result.problem) {   // nothing could be compared (values that overflow float64): no verdict either way
      $("#verify-result").replaceChildren(
        el("p", { class: "verdict bad", text: `– not checked: nothing was compared: ${result.problem}` }));
      return;
    }
    $("#verify-result").replaceChildren(
      el("p", { class: `verdict ${result.ok ? "ok" : "bad"}`, text: result.ok ? "✓ every gradient agrees" : "✗ some gradients differ" }),
      table, result.note ? el("p", { class: "muted", text: result.note }) : "");
  }

  function emptyCurves(total) {
    return { total, epochs: [], train_loss: [], test_loss: [], train_accuracy: [], test_accuracy: [] };
  }

  function runTrain() {
    if (state.mode !== "live" || state.jobs.train) return;
    const epochs = Math.max(1, parseInt($("#train-epochs").value, 10) || 5);
    const data = $("#train-data").value.trim() || null;
    const status = $("#train-status");
    showError($("#error-train"), null);
    state.curves = emptyCurves(epochs);
    drawCurves(state.curves);
    status.textContent = "starting…";
    $("#train-run").disabled = true;
    $("#train-stop").disabled = false;
    state.jobs.train = startJob("train", { epochs, data }, {
      events: (evs) => {
        for (const ev of evs) {
          if (ev.note) { status.textContent = ev.note; continue; }
          const c = state.curves;
          c.epochs.push(ev.epoch);
          c.train_loss.push(ev.loss ?? null);
          c.test_loss.push(ev.test_loss ?? null);
          c.train_accuracy.push(ev.accuracy ?? null);
          c.test_accuracy.push(ev.test_accuracy ?? null);
          if (ev.epochs) c.total = ev.epochs;
          status.textContent = epochLine(ev);
        }
        drawCurves(state.curves);
      },
      end: (job) => {
        trainOver();
        if (job.state === "done") {
          status.textContent = "done" + (state.curves.epochs.length ? ": " + epochLine(lastEvent()) : "");
          const why = job.result && job.result.stopped;
          if (typeof why === "string") showError($("#error-train"), { message: why });
        }
        else if (job.state === "cancelled") status.textContent = "stopped";
        else { status.textContent = "error"; showError($("#error-train"), job.error || { message: "training failed" }); }
      },
      fail: (e) => { trainOver(); status.textContent = failWord(e); showError($("#error-train"), e); },
    });
  }

  function lastEvent() {
    const c = state.curves, i = c.epochs.length - 1;
    return { epoch: c.epochs[i], epochs: c.total, loss: c.train_loss[i], accuracy: c.train_accuracy[i] };
  }

  function epochLine(ev) {
    const acc = typeof ev.accuracy === "number" ? `, accuracy ${(100 * ev.accuracy).toFixed(1)}%` : "";
    return `epoch ${ev.epoch}/${ev.epochs}: loss ${fmtNum(ev.loss)}${acc}`;
  }

  function fmtNum(x) {
    return typeof x === "number" && isFinite(x) ? (Math.abs(x) >= 1e-3 || x === 0 ? x.toPrecision(4) : x.toExponential(2)) : "—";
  }

  function trainOver() {
    state.jobs.train = null;
    $("#train-run").disabled = false;
    $("#train-stop").disabled = true;
  }

  function stopTrain() {
    const job = state.jobs.train;
    if (!job) return;
    job.stopped = true;
    clearTimeout(job.timer);
    trainOver();
    const status = $("#train-status");
    status.textContent = "stopping…";
    if (!job.id) { status.textContent = "stopped"; return; }
    api("DELETE", `/api/jobs/${encodeURIComponent(job.id)}`).then((data) => {
      status.textContent = data && data.state && data.state !== "cancelled" ? data.state : "stopped";
    }).catch(() => { status.textContent = "stopped"; });
  }

  /* ---------- curves ---------- */

  function drawCurves(c) {
    const box = $("#curves");
    box.replaceChildren();
    if (!c || !c.epochs.length) return;
    const xMax = Math.max(c.total || 0, ...c.epochs);
    box.append(chart("loss", c.epochs, xMax, [["train", c.train_loss], ["test", c.test_loss]], null));
    if (c.train_accuracy.concat(c.test_accuracy).some((v) => typeof v === "number"))
      box.append(chart("accuracy", c.epochs, xMax, [["train", c.train_accuracy], ["test", c.test_accuracy]], [0, 1]));
  }

  /** One small line chart: series [[name, values]] over epochs xs; yRange fixed or from the values. */
  function chart(title, xs, xMax, series, yRange) {
    const W = 320, H = 150, L = 44, R = 10, T = 22, B = 24;
    const vals = series.flatMap(([, v]) => v).filter((v) => typeof v === "number" && isFinite(v));
    let [lo, hi] = yRange || [Math.min(...vals), Math.max(...vals)];
    if (!yRange) { if (lo > 0 && lo < 0.5 * hi) lo = 0; if (hi - lo < 1e-12) { hi += 0.5; lo -= 0.5; } }
    const xMin = Math.min(1, ...xs);
    const sx = (x) => L + (xMax > xMin ? (x - xMin) / (xMax - xMin) : 0.5) * (W - L - R);
    const sy = (y) => T + (1 - (y - lo) / (hi - lo)) * (H - T - B);
    const s = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: `chart chart-${title}`, role: "img", "aria-label": `${title} by epoch` });
    s.append(svg("text", { x: L, y: 14, class: "ctitle", text: title }));
    s.append(svg("path", { d: `M${L},${T} L${L},${H - B} L${W - R},${H - B}`, class: "axis" }));
    for (const y of [lo, (lo + hi) / 2, hi]) {
      s.append(svg("line", { x1: L, x2: W - R, y1: sy(y), y2: sy(y), class: "grid" }));
      s.append(svg("text", { x: L - 4, y: sy(y) + 3, "text-anchor": "end", class: "tick", text: fmtTick(y, (hi - lo) / 2) }));
    }
    for (const x of [xMin, xMax]) s.append(svg("text", { x: sx(x), y: H - B + 14, "text-anchor": "middle", class: "tick", text: x }));
    s.append(svg("text", { x: (L + W - R) / 2, y: H - 2, "text-anchor": "middle", class: "tick", text: "epoch" }));
    let lx = W - R - 90;
    for (const [name, values] of series) {
      const pts = xs.map((x, i) => [x, values[i]]).filter(([, v]) => typeof v === "number" && isFinite(v));
      if (!pts.length) continue;
      s.append(svg("polyline", { points: pts.map(([x, v]) => `${sx(x)},${sy(v)}`).join(" "), class: `curve ${name}` }));
      const shown = pts.length > 40 ? [pts[pts.length - 1]] : pts;
      for (const [x, v] of shown) s.append(svg("circle", { cx: sx(x), cy: sy(v), r: 2.5, class: `pt ${name}` }));
      s.append(svg("line", { x1: lx, x2: lx + 16, y1: 10, y2: 10, class: `curve ${name}` }));
      s.append(svg("text", { x: lx + 20, y: 14, class: "tick", text: name }));
      lx += 48;
    }
    return s;
  }

  /** A tick label with as many decimals as the axis's range needs to tell its ticks apart. */
  function fmtTick(y, range) {
    const digits = Math.max(0, Math.min(6, Math.ceil(-Math.log10(range || 1)) + 1));
    return Math.abs(y) >= 1e4 ? y.toExponential(1) : y.toFixed(digits);
  }

  /* ---------- wiring ---------- */

  function wire() {
    $("#model-form").addEventListener("submit", (ev) => { ev.preventDefault(); derive(); });
    $("#convention").addEventListener("change", () => derive());
    const tbody = $("#layers tbody");
    tbody.addEventListener("keydown", (ev) => {
      const input = ev.target.closest(".activation");
      if (!input || ev.key !== "Enter") return;
      ev.preventDefault();
      derive({ op: "activation", layer: Number(input.dataset.layer), value: input.value.trim() }, input);
    });
    tbody.addEventListener("click", (ev) => {
      const b = ev.target.closest(".remove");
      if (b) derive({ op: "remove", layer: Number(b.dataset.layer) }, b);
    });
    const add = () => derive({ op: "insert", after: Number($("#add-after").value),
                               units: Math.max(1, parseInt($("#add-units").value, 10) || 1),
                               activation: $("#add-activation").value.trim() || "identity" }, $("#add-activation"));
    $("#add-layer").addEventListener("click", add);
    for (const id of ["#add-units", "#add-activation"])
      $(id).addEventListener("keydown", (ev) => { if (ev.key === "Enter") { ev.preventDefault(); add(); } });
    $("#reset-edits").addEventListener("click", () => { state.edits = []; derive(); });
    $("#check-run").addEventListener("click", runCheck);
    $("#check-formula").addEventListener("keydown", (ev) => { if (ev.key === "Enter") { ev.preventDefault(); runCheck(); } });
    $("#verify-run").addEventListener("click", runVerify);
    $("#scalar-run").addEventListener("click", runScalar);
    $("#train-run").addEventListener("click", runTrain);
    $("#train-stop").addEventListener("click", stopTrain);
    $("#panel-close").addEventListener("click", closePanel);
    // lines and graph nodes open their targets, by mouse or by keyboard
    const open = (ev) => {
      const line = ev.target.closest("#sections [data-click]");
      if (line) {
        select(line.dataset.click);
        return true;
      }
      const node = ev.target.closest && ev.target.closest("#graph [data-node]");
      if (node) {
        const key = nodeTarget(node.dataset.node);
        key ? select(key) : highlightGraph([node.dataset.node], node.dataset.node);
        return true;
      }
      return false;
    };
    document.addEventListener("click", (ev) => { open(ev); });
    document.addEventListener("keydown", (ev) => {
      if (ev.key === "Escape" && !$("#panel").hidden) closePanel();
      else if ((ev.key === "Enter" || ev.key === " ") && ev.target.matches("[data-click], [data-node]") && open(ev)) ev.preventDefault();
    });
  }

  /* ---------- frozen mode ---------- */

  function freeze(boot) {
    document.body.classList.add("frozen");
    const r = boot.record;
    const command = `derivax explore ${r.name || "MODEL"}`;
    const note = () => el("p", { class: "frozen-note small" }, "Run ", el("code", { text: command }), " to edit, check and train.");
    const top = $("#frozen-note");
    top.replaceChildren("This is a saved report. Run ", el("code", { text: command }), " to edit, check and train.");
    top.hidden = false;
    $("#model").value = r.name || "";
    $("#loss").value = r.loss || "";
    $("#convention").value = r.convention === "columns" ? "columns" : "rows";
    render(r);
    const areas = ["#model-form", "#layers", ".add", "#check-heading", "#verify-heading", "#scalar-heading",
                   "#train-heading"];
    for (const sel of areas) {
      const area = sel.endsWith("-heading") ? $(sel).parentElement : $(sel);
      $$("input, select, button", area).forEach((c) => { c.disabled = true; });
    }
    $("#reset-edits").hidden = true;
    for (const id of ["#layers-heading", "#check-heading", "#scalar-heading", "#train-heading"])
      $(id).parentElement.append(note());
    if (boot.verify) drawVerify(boot.verify);
    else $("#verify-heading").parentElement.append(note());
    if (boot.curves) {
      const c = boot.curves;
      const n = Math.max(...["train_loss", "test_loss", "train_accuracy", "test_accuracy"].map((k) => (c[k] || []).length));
      state.curves = Object.assign(emptyCurves(n), { epochs: Array.from({ length: n }, (_, i) => i + 1) });
      for (const k of ["train_loss", "test_loss", "train_accuracy", "test_accuracy"])
        state.curves[k] = Array.from({ length: n }, (_, i) => (c[k] || [])[i] ?? null);
      drawCurves(state.curves);
      $("#train-epochs").value = n;
      $("#train-status").textContent = `${n} epoch${n === 1 ? "" : "s"} trained for this report`;
    }
    setStatus("saved report", "ok");
  }

  /* ---------- start ---------- */

  function readBoot() {
    const tag = document.getElementById("derivax-boot");
    try { return JSON.parse(tag.textContent); } catch (e) { return { mode: "live", network: null }; }
  }

  function loadExamples() {
    api("GET", "/api/examples").then((data) => {
      $("#examples").replaceChildren(...(data.examples || []).map((x) => el("option", { value: x.name, label: x.summary || "" })));
    }).catch(() => { /* the list is a convenience */ });
  }

  function init() {
    const boot = readBoot();
    wire();
    watchWidths();
    if (boot.mode === "frozen" && boot.record) {
      state.mode = "frozen";
      freeze(boot);
      return;
    }
    const net = boot.network || {};
    $("#model").value = net.model || "";
    $("#loss").value = net.loss || "";
    $("#convention").value = net.convention === "columns" ? "columns" : "rows";
    state.edits = net.edits || [];
    state.network = net.model ? { model: net.model, loss: net.loss || null, edits: state.edits, convention: $("#convention").value } : null;
    loadExamples();
    if (net.model) derive();
    else setStatus("name a model and derive", "");
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
