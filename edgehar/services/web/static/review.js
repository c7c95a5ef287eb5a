// The review page: the folder's recordings, or one recording with its label bands, the model's
// labels and where they disagree; corrections are POSTed and the page redrawn from the answer.
"use strict";
const params = new URLSearchParams(location.search);
const state = {rec: null, model: null, charts: [], syncing: false, fetchTimer: 0};
const status = msg => { document.getElementById("status").textContent = msg; };

async function showList() {
  document.getElementById("list").hidden = false;
  const data = await getJSON("/api/recordings");
  document.getElementById("what").textContent = `${data.folder} · model ${data.model}`;
  document.getElementById("recordings").replaceChildren(...data.recordings.map(r => el("tr", {"data-name": r.name},
    el("td", {}, el("a", {href: "/?name=" + encodeURIComponent(r.name), text: r.name}),
       r.read_only ? el("span", {class: "muted", title: r.read_only, text: " read-only"}) : ""),
    el("td", {text: r.subject}), el("td", {text: r.session}),
    el("td", {class: "num", text: r.seconds == null ? "" : (r.seconds / 60).toFixed(1)}),
    el("td", {text: r.error || Object.entries(r.labels).map(([k, s]) => `${k} ${s.toFixed(0)}`).join(", ")}),
    el("td", {class: "num", text: r.unlabelled_seconds == null ? "" : r.unlabelled_seconds.toFixed(0)}),
    el("td", {class: "num", text: String(r.undo)}))));
}

function labelColour(label) {
  const rec = state.rec, k = rec.label_class[label];
  return k >= 0 ? classColour(k) : classColour(rec.classes.length + rec.choices.indexOf(label));
}
function drawBands(u) {
  const ctx = u.ctx, rec = state.rec, top = u.bbox.top, h = u.bbox.height;
  const band = (t0, t1, colour, y0, y1) => {
    const a = u.valToPos(t0, "x", true), b = u.valToPos(t1, "x", true);
    if (b < u.bbox.left || a > u.bbox.left + u.bbox.width) return;
    ctx.fillStyle = colour;
    ctx.fillRect(Math.max(a, u.bbox.left), u.valToPos(y1, "y", true), Math.max(1, Math.min(b, u.bbox.left + u.bbox.width) - Math.max(a, u.bbox.left)),
                 u.valToPos(y0, "y", true) - u.valToPos(y1, "y", true));
  };
  ctx.save();
  ctx.beginPath(); ctx.rect(u.bbox.left, top, u.bbox.width, h); ctx.clip();
  for (const [t0, t1, label] of rec.labels) band(t0, t1, labelColour(label), 2.1, 2.9);
  const m = state.model;
  if (m) {
    for (let i = 0; i < m.label.length; i++) {  // each window's hop, so that overlapping windows tile
      const t0 = i && m.t_end[i - 1] > m.t_start[i] ? m.t_end[i - 1] : m.t_start[i];
      band(t0, m.t_end[i], classColour(m.label[i]), 1.1, 1.9);
    }
    ctx.globalAlpha = 0.18;
    for (const d of m.disagreements) band(d.start, d.end, "#dc2626", 0, 3);
    ctx.globalAlpha = 1;
  }
  ctx.restore();
}
function chart(node, series, opts) {
  const width = node.clientWidth || 900;
  const u = new uPlot({width, height: opts.height || 150, series: [{}, ...series], legend: {show: opts.legend !== false, live: false},
    scales: {x: {time: false}, ...(opts.scales || {})}, axes: [{}, {size: 60, label: opts.unit, ...(opts.yAxis || {})}],
    cursor: {drag: {x: true, y: false, setScale: false}, sync: {key: "review"}},
    hooks: {setSelect: [onSelect], setScale: [onScale], ...(opts.hooks || {})}}, opts.data, node);
  state.charts.push(u);
  return u;
}
function onSelect(u) {
  if (u.select.width < 2) return;
  const a = u.posToVal(u.select.left, "x"), b = u.posToVal(u.select.left + u.select.width, "x");
  document.getElementById("from").value = a.toFixed(2);
  document.getElementById("to").value = b.toFixed(2);
}
function onScale(u, key) {
  if (key !== "x" || state.syncing) return;
  const {min, max} = u.scales.x;
  state.syncing = true;
  for (const other of state.charts) if (other !== u) other.setScale("x", {min, max});
  state.syncing = false;
  markSelection();
  clearTimeout(state.fetchTimer);
  state.fetchTimer = setTimeout(() => fetchSignal(min, max), 150);
}
async function fetchSignal(min, max) {
  const rec = state.rec, whole = min <= rec.t0 && max >= rec.t1;
  const sig = whole ? rec.signal : await getJSON(`/api/signal?name=${encodeURIComponent(rec.name)}&start=${min}&end=${max}`);
  const [acc, gyro] = state.charts;
  state.syncing = true;
  acc.setData([sig.t, sig.x[0], sig.x[1], sig.x[2]], false);
  gyro.setData([sig.t, sig.x[3], sig.x[4], sig.x[5]], false);
  acc.redraw(); gyro.redraw();
  state.syncing = false;
}
function zoom(min, max) { state.charts[0].setScale("x", {min, max}); }
// Show the stretch of the from/to fields as the charts' selection.
function markSelection() {
  const a = parseFloat(document.getElementById("from").value), b = parseFloat(document.getElementById("to").value);
  for (const u of state.charts) {
    if (!(b > a)) { u.setSelect({left: 0, width: 0, top: 0, height: 0}, false); continue; }
    const left = u.valToPos(a, "x"), right = u.valToPos(b, "x");
    u.setSelect({left, width: right - left, top: 0, height: u.bbox.height / devicePixelRatio}, false);
  }
}

function drawAll() {
  const bands = state.charts[2], m = state.model;
  bands.setData(m ? [m.t_end, m.confidence] : [[], []], false);
  bands.redraw();
}
function renderModel() {
  const m = state.model, rec = state.rec, node = document.getElementById("disagreements");
  document.getElementById("model-state").textContent = m.disagreements.length ?
    `${m.disagreements.length} stretches (${m.label.length} windows of ${rec.model})` : `none: ${rec.model} agrees with every labelled window`;
  node.replaceChildren(...m.disagreements.map(d => {
    const row = el("tr", {class: "disagreement"},
      el("td", {class: "num", text: `${d.start.toFixed(1)}–${d.end.toFixed(1)} s`}),
      el("td", {text: `labelled ${rec.classes[d.truth]}, model ${d.predicted.map(k => rec.classes[k]).join("/")}`}),
      el("td", {}, el("button", {type: "button", text: "show"})));
    row.querySelector("button").addEventListener("click", () => {
      document.getElementById("from").value = d.start.toFixed(2);
      document.getElementById("to").value = d.end.toFixed(2);
      const pad = Math.max(5, (d.end - d.start) / 2);
      zoom(d.start - pad, d.end + pad);
    });
    return row;
  }));
  drawAll();
}
async function loadModel() {
  state.model = await getJSON("/api/model?name=" + encodeURIComponent(state.rec.name));
  renderModel();
}
function setRecording(rec) {
  state.rec = rec;
  document.getElementById("what").textContent = `${rec.name} · ${(rec.samples / rec.rate_hz / 60).toFixed(1)} min · model ${rec.model}`;
  const select = document.getElementById("label");
  select.replaceChildren(el("option", {value: "", text: "(none: unlabelled)"}), ...rec.choices.map(c => el("option", {value: c, text: c})));
  const undo = document.getElementById("undo");
  undo.textContent = `Undo (${rec.undo})`; undo.disabled = !rec.undo || !!rec.read_only;
  const redo = document.getElementById("redo");
  redo.textContent = `Redo (${rec.redo})`; redo.disabled = !rec.redo || !!rec.read_only;
  document.getElementById("apply").disabled = !!rec.read_only;
  const ro = document.getElementById("read-only");
  ro.hidden = !rec.read_only; ro.textContent = rec.read_only ? "read-only: " + rec.read_only : "";
  legend(document.getElementById("legend"), rec.choices.concat(rec.classes.filter(c => !rec.choices.includes(c))));
  document.querySelectorAll("#legend .swatch").forEach((s, i) => { s.style.background = labelColour(s.parentNode.textContent) || classColour(i); });
}
async function showRecording(name) {
  document.getElementById("recording").hidden = false;
  status("loading…");
  const rec = await getJSON("/api/recording?name=" + encodeURIComponent(name));
  setRecording(rec);
  const sig = rec.signal, axes = ["x", "y", "z"].map((a, i) => ({label: a, stroke: PALETTE[i], width: 1}));
  chart(document.getElementById("acc"), axes, {unit: "g", data: [sig.t, sig.x[0], sig.x[1], sig.x[2]]});
  chart(document.getElementById("gyro"), axes, {unit: "rad/s", data: [sig.t, sig.x[3], sig.x[4], sig.x[5]]});
  chart(document.getElementById("bands"), [{label: "confidence", stroke: "#111827", width: 1}], {
    height: 170, unit: "conf.", data: [[], []], scales: {y: {range: [0, 3]}},
    yAxis: {splits: () => [0, 0.5, 1, 1.5, 2.5], values: (u, splits) => splits.map(v => v === 1.5 ? "model" : v === 2.5 ? "labels" : v)},
    hooks: {drawClear: [drawBands]}});
  for (const u of state.charts) u.setScale("x", {min: rec.t0, max: rec.t1});
  status("");
  loadModel().catch(err => { document.getElementById("model-state").textContent = "model: " + err.message; });
  document.getElementById("correct").addEventListener("submit", async event => {
    event.preventDefault();
    const start = parseFloat(document.getElementById("from").value), end = parseFloat(document.getElementById("to").value);
    const label = document.getElementById("label").value;
    status("saving…");
    try {
      setRecording(await postJSON("/api/label", {name: state.rec.name, start, end, label}));
      status(`saved: ${start.toFixed(2)}–${end.toFixed(2)} s ${label || "unlabelled"}`);
      await loadModel();
    } catch (err) { status("not saved: " + err.message); }
  });
  for (const [step, done] of [["undo", "undone"], ["redo", "redone"]]) {
    document.getElementById(step).addEventListener("click", async () => {
      try {
        setRecording(await postJSON("/api/" + step, {name: state.rec.name}));
        status(done);
        await loadModel();
      } catch (err) { status(step + " failed: " + err.message); }
    });
  }
  document.getElementById("zoom").addEventListener("click", () => {
    const a = parseFloat(document.getElementById("from").value), b = parseFloat(document.getElementById("to").value);
    if (b > a) zoom(a - (b - a) * 0.25, b + (b - a) * 0.25);
  });
  for (const id of ["from", "to"]) document.getElementById(id).addEventListener("change", markSelection);
  document.getElementById("whole").addEventListener("click", () => zoom(state.rec.t0, state.rec.t1));
  window.addEventListener("resize", () => { for (const u of state.charts) u.setSize({width: u.root.parentNode.clientWidth, height: u.height}); });
}
const name = params.get("name");
(name ? showRecording(name) : showList()).catch(err => status("error: " + err.message));
