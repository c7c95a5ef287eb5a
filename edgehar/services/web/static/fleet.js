// The fleet page: one row per device, created once; later events change only the cells of the
// rows that changed (a list of 1,000 devices is never rebuilt).
"use strict";
const fleet = {classes: [], rows: new Map(), clockSkew: 0};
const tbody = document.getElementById("devices");

function makeRow(name) {
  const cells = {};
  const tr = el("tr", {"data-device": name});
  const link = el("a", {href: "/device?name=" + encodeURIComponent(name), text: name});
  tr.append(el("td", {}, link));
  for (const key of ["status", "label", "confidence", "windows", "samples", "dropped", "age"]) {
    cells[key] = el("td", {class: ["status", "label"].includes(key) ? "" : "num"});
    tr.append(cells[key]);
  }
  cells.badge = el("span", {class: "status"});
  cells.status.append(cells.badge);
  return {tr, cells, data: null};
}
function setText(node, text) { if (node.textContent !== text) node.textContent = text; }
function fill(row, d) {
  const [name, status, label, confidence, windows, samples, dropped, lastSeen] = d;
  row.data = {name, status, label: label >= 0 ? fleet.classes[label] : "", lastSeen};
  setText(row.cells.badge, status);
  row.cells.badge.className = "status " + status;
  setText(row.cells.label, row.data.label || "–");
  row.cells.label.style.color = classColour(label);
  setText(row.cells.confidence, label >= 0 ? (confidence * 100).toFixed(0) + " %" : "");
  setText(row.cells.windows, String(windows));
  setText(row.cells.samples, String(samples));
  setText(row.cells.dropped, String(dropped));
  row.tr.dataset.status = status;
}
function ages() {
  const now = Date.now() / 1000 - fleet.clockSkew;
  let online = 0;
  for (const row of fleet.rows.values()) {
    const age = now - row.data.lastSeen;  // "now" while a device keeps sending: no cell changes each second
    setText(row.cells.age, age < 5 ? "now" : age.toFixed(0) + " s ago");
    online += row.data.status === "online";
  }
  setText(document.getElementById("totals"), `${fleet.rows.size} devices, ${online} online`);
}
function matches(row, text) { return !text || row.data.name.toLowerCase().includes(text) || row.data.label.toLowerCase().includes(text); }
function applyFilter() {
  const text = document.getElementById("filter").value.trim().toLowerCase();
  let shown = 0;
  for (const row of fleet.rows.values()) { const on = matches(row, text); row.tr.hidden = !on; shown += on; }
  setText(document.getElementById("shown"), text ? `${shown} shown` : "");
}
function update(devices, now, removed = []) {
  fleet.clockSkew = Date.now() / 1000 - now;
  for (const name of removed) {  // dropped from the page (offline, older than the newest kept)
    const row = fleet.rows.get(name);
    if (row) { row.tr.remove(); fleet.rows.delete(name); }
  }
  const added = [];
  for (const d of devices) {
    let row = fleet.rows.get(d[0]);
    if (!row) { row = makeRow(d[0]); fleet.rows.set(d[0], row); added.push(row); }
    fill(row, d);
  }
  if (added.length) {  // keep the table in name order: insert the new rows, then re-append in order once
    const sorted = [...fleet.rows.values()].sort((a, b) => a.data.name.localeCompare(b.data.name, undefined, {numeric: true}));
    const frag = document.createDocumentFragment();
    for (const row of sorted) frag.append(row.tr);
    tbody.append(frag);
    applyFilter();
  }
  ages();
}
function connect() {
  const source = new EventSource("/events");
  const status = document.getElementById("connection");
  source.addEventListener("snapshot", e => {
    const s = JSON.parse(e.data);
    fleet.classes = s.classes;
    legend(document.getElementById("legend"), s.classes);
    fleet.rows.clear(); tbody.replaceChildren();
    update(s.devices, s.now);
    status.textContent = "live";
  });
  source.addEventListener("devices", e => { const u = JSON.parse(e.data); update(u.devices, u.now, u.removed); });
  source.onerror = () => { status.textContent = "reconnecting…"; };
}
document.getElementById("filter").addEventListener("input", applyFilter);
setInterval(ages, 1000);
connect();
