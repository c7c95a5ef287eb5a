// The live page: a snapshot on connect, then pushed updates (server-sent events).
"use strict";
const HISTORY_S = 3600;  // what the page keeps; the timeline shows the last 5 minutes or the hour
const AXES = ["x", "y", "z"];
const live = {classes: [], results: {t: [], label: [], smoothed: [], confidence: []}, probs: [], span: 300,
              signal: {t: [], x: [[], [], [], [], [], []]}, counters: {}, signalS: 10, hop: 1.28};
let charts = null, drawPending = false;

function makeChart(node, unit, offset) {
  const series = [{}].concat(AXES.map((a, i) => ({label: a, stroke: PALETTE[i], width: 1})));
  return new uPlot({width: node.clientWidth || 320, height: 180, series, legend: {show: true, live: false},
                    scales: {x: {time: false}}, axes: [{label: "s"}, {label: unit}], cursor: {show: false}},
                   [[], [], [], []], node);
}
function setupCharts() {
  charts = {acc: makeChart(document.getElementById("acc"), "g"), gyro: makeChart(document.getElementById("gyro"), "rad/s")};
  window.addEventListener("resize", () => {
    for (const [id, chart] of Object.entries(charts)) chart.setSize({width: document.getElementById(id).clientWidth, height: 180});
    schedule();
  });
}
function append(target, source) {
  for (const k of Object.keys(target)) target[k].push(...source[k]);
}
function trimFront(obj, n) {
  if (n <= 0) return;
  for (const k of Object.keys(obj)) {
    if (k === "x") obj.x.forEach(a => a.splice(0, n)); else obj[k].splice(0, n);
  }
}
function apply(update) {
  if (update.results) append(live.results, update.results);
  const sig = update.signal, t = floats(sig.t, Float64Array), x = floats(sig.x, Float32Array);
  for (let i = 0; i < sig.n; i++) {
    live.signal.t.push(t[i]);
    for (let c = 0; c < 6; c++) live.signal.x[c].push(x[i * 6 + c]);
  }
  if (update.counters) live.counters = update.counters;
  if (update.probs) live.probs = update.probs;
  const tEnd = live.signal.t.length ? live.signal.t[live.signal.t.length - 1] : 0;
  let n = 0; while (n < live.signal.t.length && live.signal.t[n] < tEnd - live.signalS) n++;
  trimFront(live.signal, n);
  const rEnd = live.results.t.length ? live.results.t[live.results.t.length - 1] : 0;
  n = 0; while (n < live.results.t.length - 1 && live.results.t[n] < rEnd - HISTORY_S) n++;
  trimFront(live.results, n);
  schedule();
}
function schedule() { if (!drawPending) { drawPending = true; requestAnimationFrame(draw); } }

function draw() {
  drawPending = false;
  const r = live.results, last = r.t.length - 1;
  const activity = document.getElementById("activity"), detail = document.getElementById("detail");
  if (last >= 0) {
    const s = r.smoothed[last], l = r.label[last];
    activity.textContent = live.classes[s];
    activity.style.color = classColour(s);
    activity.dataset.label = live.classes[s];
    detail.textContent = `model: ${live.classes[l]} ${(r.confidence[last] * 100).toFixed(0)} % · window ending ${r.t[last].toFixed(2)} s`;
    document.querySelectorAll("#bars .bar").forEach((bar, i) => {
      const p = live.probs[i] || 0;
      bar.querySelector(".fill").style.width = (p * 100).toFixed(1) + "%";
      bar.querySelector(".value").textContent = (p * 100).toFixed(0) + " %";
    });
  }
  drawTimeline();
  const sig = live.signal;
  charts.acc.setData([sig.t, sig.x[0], sig.x[1], sig.x[2]]);
  charts.gyro.setData([sig.t, sig.x[3], sig.x[4], sig.x[5]]);
  drawCounters();
}
function drawTimeline() {
  const canvas = document.getElementById("timeline"), r = live.results;
  const w = canvas.clientWidth, h = canvas.clientHeight, dpr = window.devicePixelRatio || 1;
  if (canvas.width !== Math.round(w * dpr)) { canvas.width = Math.round(w * dpr); canvas.height = Math.round(h * dpr); }
  const ctx = canvas.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, w, h);
  if (!r.t.length) return;
  const t1 = r.t[r.t.length - 1], t0 = Math.max(r.t[0] - live.hop, t1 - live.span);
  drawRuns(ctx, r.t, r.label, t0, t1, 0, h / 2 - 2, w, live.hop);
  drawRuns(ctx, r.t, r.smoothed, t0, t1, h / 2 + 2, h / 2 - 2, w, live.hop);
  document.getElementById("timeline-axis").textContent = `${t0.toFixed(0)} s … ${t1.toFixed(0)} s`;
}
function drawCounters() {
  const c = live.counters, rows = [];
  for (const key of ["samples", "windows", "gaps", "lost", "resyncs"]) if (key in c) rows.push([key, c[key]]);
  for (const [reason, n] of Object.entries(c.skipped || {})) rows.push(["skipped: " + reason, n]);
  if (c.end) rows.push(["state", c.end]);
  document.getElementById("counters").replaceChildren(...rows.map(([k, v]) =>
    el("tr", {"data-key": k}, el("td", {text: k}), el("td", {class: "num", text: String(v)}))));
}
function reset(snapshot) {
  live.classes = snapshot.classes;
  live.signalS = snapshot.signal_s;
  live.results = {t: [], label: [], smoothed: [], confidence: []};
  live.signal = {t: [], x: [[], [], [], [], [], []]};
  live.counters = {};
  document.getElementById("model").textContent = snapshot.model;
  if (snapshot.title) { document.getElementById("title").textContent = snapshot.title; document.title = snapshot.title; }
  legend(document.getElementById("legend"), live.classes);
  document.getElementById("bars").replaceChildren(...live.classes.map((c, i) =>
    el("div", {class: "bar"}, el("span", {class: "name", text: c}),
       el("span", {class: "track"}, el("span", {class: "fill", style: "display:block;background:" + classColour(i)})),
       el("span", {class: "value", text: "–"}))));
  apply({results: snapshot.results, signal: snapshot.signal, counters: snapshot.counters, probs: snapshot.probs});
  const t = live.results.t; if (t.length > 1) live.hop = t[t.length - 1] - t[t.length - 2];
}
function connect() {
  const source = new EventSource(document.body.dataset.events);
  const status = document.getElementById("connection");
  source.addEventListener("snapshot", e => { reset(JSON.parse(e.data)); status.textContent = "live"; });
  source.addEventListener("update", e => apply(JSON.parse(e.data)));
  source.addEventListener("end", e => { live.counters = JSON.parse(e.data); status.textContent = "stream ended"; schedule(); source.close(); });
  source.onerror = () => { status.textContent = "reconnecting…"; };
}
if (document.getElementById("back").getAttribute("href")) document.getElementById("back").hidden = false;
for (const button of document.querySelectorAll("#span button")) {
  button.addEventListener("click", () => {
    live.span = Number(button.dataset.span);
    document.querySelectorAll("#span button").forEach(b => b.disabled = b === button);
    schedule();
  });
}
setupCharts();
connect();
