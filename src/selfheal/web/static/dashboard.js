// The dashboard polls the REST API every two seconds and renders four tables; an incident's
// id links to its page (incident.html: graph, series, timeline).
// It asks for an API token (kept in this tab's sessionStorage, or taken once from a
// "#token=..." link) and sends it as "Authorization: Bearer ..." on every call.
"use strict";

const POLL_MS = 2000;
const TOKEN_KEY = "selfheal.token";
let actionError = "";  // the last refused click, shown until the next one succeeds

function takeTokenFromLink() {
  const match = /^#token=(.+)$/.exec(window.location.hash);
  if (match) {
    sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(match[1]));
    history.replaceState(null, "", window.location.pathname + window.location.search);
  }
}

function token() {
  return sessionStorage.getItem(TOKEN_KEY) || "";
}

function text(value) {
  const span = document.createElement("span");
  span.textContent = value === null || value === undefined ? "—" : String(value);
  return span;
}

function row(cells, className) {
  const tr = document.createElement("tr");
  if (className) tr.className = className;
  for (const cell of cells) {
    const td = document.createElement("td");
    td.appendChild(cell instanceof Node ? cell : text(cell));
    tr.appendChild(td);
  }
  return tr;
}

function fill(id, rows, empty) {
  const body = document.querySelector(`#${id} tbody`);
  body.replaceChildren(...(rows.length ? rows : [row([empty])]));
}

function when(ts) {
  return ts ? new Date(ts * 1000).toLocaleTimeString() : "—";
}

function incidentLink(id) {
  const a = document.createElement("a");
  a.href = `/incident?id=${encodeURIComponent(id)}`;
  a.textContent = id;
  return a;
}

function cause(causes) {
  const c = (causes || [])[0];
  return c ? `${c.service} · ${c.failure_type} · ${Number(c.confidence).toFixed(2)}` : "—";
}

async function api(path, options) {
  const opts = Object.assign({}, options || {});
  opts.headers = Object.assign({}, opts.headers || {});
  if (token()) opts.headers.Authorization = `Bearer ${token()}`;
  const response = await fetch(path, opts);
  const body = await response.json();
  if (!response.ok) throw new Error(`${response.status}: ${body.error || response.statusText}`);
  return body;
}

async function post(path, body) {
  try {
    await api(path, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body || {}),
    });
    actionError = "";
  } catch (err) {
    actionError = err.message;
  }
  refresh();
}

function decide(id, verdict) {
  return post(`/approvals/${id}/${verdict}`, {});
}

async function showWho() {
  const who = document.getElementById("who");
  try {
    const me = await api("/whoami");
    who.textContent = me.name ? `signed in as ${me.name} (${me.role})`
      : (me.tokens_configured ? "not signed in" : "no tokens configured: read-only");
    who.className = "pill";
    return true;
  } catch (err) {
    who.textContent = token() ? "token refused: sign in again" : "sign in with an API token";
    who.className = "pill paused";
    document.getElementById("error").textContent = err.message;
    for (const id of ["open", "approvals", "actions", "incidents"]) fill(id, [], "sign in to see");
    return false;
  }
}

async function refresh() {
  if (!(await showWho())) return;
  try {
    const [status, incidents, approvals, actions] = await Promise.all([
      api("/status"),
      api("/incidents?limit=30"),
      api("/approvals?pending=true"),
      api("/audit?kind=action_result&newest_first=true&limit=30"),
    ]);
    const state = document.getElementById("state");
    state.textContent = status.paused ? "paused" : (status.dry_run ? "watching (dry-run)" : "watching and acting");
    state.className = "pill" + (status.paused ? " paused" : "");
    const source = status.metrics_source;
    const metrics = !source ? "" : ` · metrics: ${source.source}` +
      (source.ok ? "" : ` unavailable since ${when(source.since)} (last view kept)`);
    document.getElementById("cycles").textContent =
      `cycles ${status.cycles} · series ${status.series} · last cycle ${when(status.last_cycle_at)}` +
      metrics;
    document.getElementById("error").textContent = actionError || status.last_error || "";

    fill("open", status.open_incidents.map((i) => row([
      incidentLink(i.id), i.services.join(", "), cause(i.causes),
      i.remediation ? `${i.remediation.strategy}: ${i.remediation.action.describe} (${i.remediation.state})` : i.status,
    ])), "no open incident");

    const now = Date.now() / 1000;
    fill("approvals", approvals.approvals.map((a) => {
      const buttons = document.createElement("span");
      for (const verdict of ["approve", "deny"]) {
        const b = document.createElement("button");
        b.textContent = verdict === "approve" ? "Approve" : "Deny";
        b.dataset.approval = String(a.id);
        b.dataset.verdict = verdict;
        b.addEventListener("click", () => decide(a.id, verdict));
        buttons.appendChild(b);
      }
      return row([a.id, a.incident_id, a.action.describe || a.action.kind,
        Number(a.risk).toFixed(2), `${Math.max(0, Math.round(a.expires_at - now))} s`, buttons]);
    }), "nothing waits for a human");

    fill("actions", actions.entries.map((e) => row([
      when(e.at), e.payload.incident, e.payload.action.describe,
      e.payload.outcome, e.payload.detail || (e.payload.verification || {}).detail || "",
    ], `o-${e.payload.outcome}`)), "no action yet");

    fill("incidents", incidents.incidents.map((i) => row([
      incidentLink(i.id), when(i.opened_at), i.status, i.services.join(", "), cause(i.causes),
    ], `s-${i.status}`)), "no incident yet");
  } catch (err) {
    document.getElementById("error").textContent = `API unreachable: ${err.message}`;
  }
}

document.getElementById("signin").addEventListener("submit", (event) => {
  event.preventDefault();
  const field = document.getElementById("token");
  sessionStorage.setItem(TOKEN_KEY, field.value.trim());
  field.value = "";
  actionError = "";
  document.getElementById("error").textContent = "";
  refresh();
});
document.getElementById("signout").addEventListener("click", () => {
  sessionStorage.removeItem(TOKEN_KEY);
  refresh();
});
document.getElementById("pause").addEventListener("click", () => post("/pause"));
document.getElementById("resume").addEventListener("click", () => post("/resume"));
takeTokenFromLink();
refresh();
setInterval(refresh, POLL_MS);
