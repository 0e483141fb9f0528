// One incident's page: its service graph (root cause and affected services marked), its
// symptom series with each action drawn at its time, and its timeline from the audit trail.
// Everything is drawn here as SVG from the API's JSON (no library, nothing fetched from
// elsewhere). The API token is the dashboard's, kept in this tab's sessionStorage.
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const TOKEN_KEY = "selfheal.token";
const REFRESH_MS = 5000;  // an open incident's page follows it
const incidentId = new URLSearchParams(window.location.search).get("id") || "";

function token() {
  return sessionStorage.getItem(TOKEN_KEY) || "";
}

async function api(path) {
  const headers = token() ? { Authorization: `Bearer ${token()}` } : {};
  const response = await fetch(path, { headers });
  const body = await response.json();
  if (!response.ok) throw new Error(`${response.status}: ${body.error || response.statusText}`);
  return body;
}

function svg(name, attrs, parent) {
  const el = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attrs || {})) el.setAttribute(key, String(value));
  if (parent) parent.appendChild(el);
  return el;
}

function label(parent, x, y, text, anchor) {
  const t = svg("text", { x, y, "text-anchor": anchor || "start" }, parent);
  t.textContent = text;
  return t;
}

function clock(ts) {
  return new Date(ts * 1000).toLocaleTimeString();
}

// -- the service graph --------------------------------------------------------------------

// Columns by call depth: a service sits one column right of its deepest caller (cycles are
// cut after as many passes as there are services), callers on the left, callees right.
function layers(nodes, edges) {
  const depth = new Map(nodes.map((n) => [n.id, 0]));
  for (let pass = 0; pass < nodes.length; pass++) {
    let moved = false;
    for (const e of edges) {
      if (e.source === e.target) continue;
      const want = depth.get(e.source) + 1;
      if (want > depth.get(e.target) && want < nodes.length) {
        depth.set(e.target, want);
        moved = true;
      }
    }
    if (!moved) break;
  }
  const columns = [];
  for (const n of nodes) {
    const d = depth.get(n.id);
    (columns[d] = columns[d] || []).push(n);
  }
  return columns.filter(Boolean);
}

function drawGraph(graph) {
  const box = document.getElementById("graph");
  const W = 150, H = 34, GAP_X = 70, GAP_Y = 22, PAD = 16;
  const columns = layers(graph.nodes, graph.edges);
  const rows = Math.max(1, ...columns.map((c) => c.length));
  const width = PAD * 2 + columns.length * W + (columns.length - 1) * GAP_X;
  const height = PAD * 2 + rows * H + (rows - 1) * GAP_Y;
  const root = svg("svg", { id: "graph-svg", width, height, viewBox: `0 0 ${width} ${height}`, role: "img" });
  svg("title", {}, root).textContent = `service graph of ${graph.incident}`;
  const arrow = svg("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 10, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto" }, svg("defs", {}, root));
  svg("path", { d: "M0,0 L10,5 L0,10 z", fill: "#9e9e9e" }, arrow);
  const at = new Map();
  columns.forEach((column, i) => {
    const top = PAD + ((rows - column.length) * (H + GAP_Y)) / 2;
    column.forEach((n, j) => at.set(n.id, { x: PAD + i * (W + GAP_X), y: top + j * (H + GAP_Y) }));
  });
  const edgeLayer = svg("g", { class: "edges" }, root);
  for (const e of graph.edges) {
    const a = at.get(e.source), b = at.get(e.target);
    if (!a || !b || e.source === e.target) continue;
    const forward = b.x > a.x;
    const x1 = forward ? a.x + W : a.x + W / 2, y1 = forward ? a.y + H / 2 : a.y + H;
    const x2 = forward ? b.x : b.x + W / 2, y2 = forward ? b.y + H / 2 : b.y + H;
    const bend = forward ? 0 : 40;  // a call back to the left or within a column arcs below
    const d = `M${x1},${y1} C${(x1 + x2) / 2},${y1 + bend} ${(x1 + x2) / 2},${y2 + bend} ${x2},${y2}`;
    const path = svg("path", { class: "edge", d, "marker-end": "url(#arrow)" }, edgeLayer);
    path.dataset.source = e.source;
    path.dataset.target = e.target;
  }
  for (const n of graph.nodes) {
    const p = at.get(n.id);
    const mark = n.mark === "root_cause" ? " root-cause" : n.mark === "affected" ? " affected" : "";
    const g = svg("g", { class: `node${mark}`, transform: `translate(${p.x},${p.y})` }, root);
    g.dataset.service = n.id;
    svg("rect", { width: W, height: H, rx: 6 }, g);
    const name = n.id.length > 20 ? `${n.id.slice(0, 19)}…` : n.id;
    label(g, W / 2, H / 2 + 4, n.mark === "root_cause" ? `⚠ ${name}` : name, "middle");
    svg("title", {}, g).textContent = `${n.id}${n.mark === "none" ? "" : ` (${n.mark.replace("_", " ")})`}`;
  }
  box.replaceChildren(root);
}

// -- the symptom series -------------------------------------------------------------------

function drawSeries(data) {
  const box = document.getElementById("series");
  if (!data.series.length) {
    const p = document.createElement("p");
    p.className = "note";
    p.id = "no-series";
    p.textContent = "The loop's history no longer holds this incident's time (it keeps the last 600 samples of each series).";
    box.replaceChildren(p);
    return;
  }
  // the time the points, the opening and the actions span, a little margin either side
  const times = [
    ...data.series.flatMap((s) => s.points.map((p) => p[0])),
    data.opened_at,
    ...data.actions.map((a) => a.at),
  ];
  const first = Math.min(...times), last = Math.max(...times, first + 1);
  const margin = (last - first) * 0.03;
  const charts = data.series.map((s) => chart(s, data, first - margin, last + margin));
  box.replaceChildren(...charts);
}

function chart(line, data, t0, t1) {
  const W = 760, H = 150, L = 56, R = 12, T = 18, B = 24;
  const values = line.points.map((p) => p[1]).filter((v) => v !== null);
  let lo = Math.min(0, ...values), hi = Math.max(...values, lo + 1e-9);
  if (hi === lo) hi = lo + 1;
  const x = (t) => L + ((t - t0) / (t1 - t0)) * (W - L - R);
  const y = (v) => T + (1 - (v - lo) / (hi - lo)) * (H - T - B);
  const wrap = document.createElement("div");
  wrap.className = "chart";
  const title = document.createElement("h3");
  const where = Object.entries(line.labels).filter(([k]) => k !== "service").map(([k, v]) => `${k}=${v}`).join(", ");
  title.textContent = `${line.indicator} · ${line.service}${where ? ` (${where})` : ""}`;
  const root = svg("svg", { class: "series-chart", width: W, height: H, viewBox: `0 0 ${W} ${H}`, role: "img" });
  root.dataset.indicator = line.indicator;
  root.dataset.service = line.service;
  svg("line", { class: "axis", x1: L, y1: H - B, x2: W - R, y2: H - B }, root);
  svg("line", { class: "axis", x1: L, y1: T, x2: L, y2: H - B }, root);
  label(root, L - 6, T + 4, fmt(hi), "end");
  label(root, L - 6, H - B, fmt(lo), "end");
  label(root, L, H - 6, clock(t0), "start");
  label(root, W - R, H - 6, clock(t1), "end");
  let d = "", pen = false;
  for (const [t, v] of line.points) {
    if (v === null) { pen = false; continue; }  // a stale point breaks the line
    d += `${pen ? "L" : "M"}${x(t).toFixed(1)},${y(v).toFixed(1)} `;
    pen = true;
  }
  svg("path", { class: "series-line", d: d.trim() }, root);
  svg("line", { class: "opened-mark", x1: x(data.opened_at), y1: T, x2: x(data.opened_at), y2: H - B }, root);
  data.actions.forEach((a) => {
    const g = svg("g", { class: `action-mark o-${a.outcome}` }, root);
    g.dataset.describe = a.describe;
    g.dataset.outcome = a.outcome;
    svg("line", { x1: x(a.at), y1: T, x2: x(a.at), y2: H - B }, g);
    svg("circle", { cx: x(a.at), cy: T, r: 5 }, g);
    svg("title", {}, g).textContent = `${clock(a.at)} ${a.describe}: ${a.outcome}`;
  });
  wrap.append(title, root);
  return wrap;
}

function fmt(v) {
  return Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 1 ? v.toFixed(2) : v.toPrecision(2);
}

// -- the timeline -------------------------------------------------------------------------

function drawTimeline(data) {
  const list = document.getElementById("timeline");
  list.replaceChildren(...data.steps.map((s) => {
    const li = document.createElement("li");
    li.className = `step step-${s.step.replace(/ /g, "-")}`;
    li.dataset.step = s.step;
    li.dataset.seq = String(s.seq);
    const when = document.createElement("span");
    when.className = "when";
    when.textContent = clock(s.at);
    const name = document.createElement("span");
    name.className = "step-name";
    name.textContent = s.step;
    const detail = document.createElement("span");
    detail.textContent = s.detail;
    li.append(when, name, detail);
    return li;
  }));
}

// -- the page -----------------------------------------------------------------------------

async function load() {
  const error = document.getElementById("error");
  document.getElementById("incident-id").textContent = incidentId;
  if (!incidentId) {
    error.textContent = "no incident id in the address (?id=...)";
    return;
  }
  const id = encodeURIComponent(incidentId);
  try {
    const [incident, graph, series, timeline] = await Promise.all([
      api(`/incidents/${id}`),
      api(`/incidents/${id}/graph`),
      api(`/incidents/${id}/series`),
      api(`/incidents/${id}/timeline`),
    ]);
    const status = document.getElementById("status");
    status.textContent = incident.status;
    status.className = `pill s-${incident.status}`;
    document.getElementById("opened").textContent = `opened ${new Date(incident.opened_at * 1000).toLocaleString()}`;
    const c = (incident.causes || [])[0];
    document.getElementById("cause").textContent = c
      ? `root cause: ${c.service} · ${c.failure_type} · ${Number(c.confidence).toFixed(2)}`
      : "not diagnosed yet";
    drawGraph(graph);
    drawSeries(series);
    drawTimeline(timeline);
    error.textContent = "";
    document.body.dataset.loaded = "true";
    if (incident.status === "resolved" || incident.status === "escalated") clearInterval(timer);
  } catch (err) {
    error.textContent = err.message.startsWith("401")
      ? `${err.message}: sign in on the dashboard first`
      : err.message;
  }
}

const timer = setInterval(load, REFRESH_MS);  // until the incident is closed
load();
