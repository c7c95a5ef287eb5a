// Shared by the pages: colours per class, the token for POSTs, small DOM helpers.
"use strict";
const PALETTE = ["#2563eb", "#16a34a", "#dc2626", "#9333ea", "#ea580c", "#0891b2", "#ca8a04", "#db2777",
                 "#4b5563", "#65a30d", "#7c3aed", "#0d9488"];
function classColour(i) { return i < 0 ? "#d1d5db" : PALETTE[i % PALETTE.length]; }
function floats(base64, Type) {  // little-endian floats sent as base64 (the live signal)
  const text = atob(base64), bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  return new Type(bytes.buffer);
}
function token() { return document.querySelector('meta[name="edgehar-token"]').content; }
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") node.className = v; else if (k === "text") node.textContent = v; else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c);
  return node;
}
async function getJSON(url) {
  const r = await fetch(url, {credentials: "same-origin"});
  const body = await r.json();
  if (!r.ok) throw new Error(body.error || r.statusText);
  return body;
}
async function postJSON(url, data) {
  const r = await fetch(url, {method: "POST", credentials: "same-origin",
    headers: {"Content-Type": "application/json", "X-Edgehar-Token": token()}, body: JSON.stringify(data)});
  const body = await r.json();
  if (!r.ok) throw new Error(body.error || r.statusText);
  return body;
}
function legend(node, classes) {
  node.replaceChildren(...classes.map((c, i) => el("span", {}, el("span", {class: "swatch", style: "background:" + classColour(i)}), c)));
}
// Coloured runs of class indices (t[], idx[]) on a canvas row: [t0, t1] maps to the width.
function drawRuns(ctx, t, idx, t0, t1, y, h, width, widthOf) {
  for (let i = 0; i < t.length; i++) {
    const a = i ? t[i - 1] : t[i] - widthOf, b = t[i];
    if (b < t0) continue;
    const x0 = Math.max(0, (a - t0) / (t1 - t0) * width), x1 = (b - t0) / (t1 - t0) * width;
    ctx.fillStyle = classColour(idx[i]);
    ctx.fillRect(x0, y, Math.max(1, x1 - x0 + 0.5), h);
  }
}
