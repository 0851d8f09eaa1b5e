// The denocos dashboard page: a snapshot, then change batches, over
// server-sent events (/api/events); terminate through POST /api/terminate.
// Plain JavaScript, no framework; every value from the server is shown with
// textContent, never parsed as HTML.
"use strict";

/** @type {Map<string, any>} */
const nodes = new Map();
/** @type {Map<string, any>} */
const jobs = new Map();
let totals = null;
let historyLength = 60;
let selected = null; // { kind: "node" | "job", key }
let renderQueued = false;

const $ = (id) => document.getElementById(id);
const rows = { nodes: new Map(), running: new Map(), done: new Map() };

function token() {
  const m = location.hash.match(/token=([^&]+)/);
  if (m) sessionStorage.setItem("denocos-token", decodeURIComponent(m[1]));
  return sessionStorage.getItem("denocos-token");
}

function connect() {
  const conn = $("conn");
  const events = new EventSource("api/events");
  events.addEventListener("open", () => {
    conn.className = "live";
    conn.textContent = "live";
  });
  events.addEventListener("error", () => {
    conn.className = "lost";
    conn.textContent = "connection lost, reconnecting…";
  });
  events.addEventListener("snapshot", (e) => {
    const s = JSON.parse(e.data);
    nodes.clear();
    jobs.clear();
    for (const n of s.nodes) nodes.set(n.id, n);
    for (const j of s.running) jobs.set(j.key, j);
    for (const j of s.done) jobs.set(j.key, j);
    totals = s.totals;
    historyLength = s.historyLength;
    conn.className = "live";
    conn.textContent = "live";
    queueRender();
  });
  events.addEventListener("changes", (e) => {
    const b = JSON.parse(e.data);
    for (const n of b.nodes) {
      // A batch carries only the pulses since the previous one.
      const old = nodes.get(n.id);
      if (old !== undefined) n.history = old.history.concat(n.history).slice(-historyLength);
      nodes.set(n.id, n);
    }
    for (const j of b.jobs) jobs.set(j.key, j);
    for (const k of b.removed) jobs.delete(k);
    totals = b.totals;
    queueRender();
  });
}

function queueRender() {
  if (renderQueued) return;
  renderQueued = true;
  requestAnimationFrame(() => {
    renderQueued = false;
    render();
  });
}

const pct = (x) => (x === null || x === undefined ? "–" : `${Math.round(x * 100)} %`);
const mib = (b) => (b === null || b === undefined ? "–" : `${Math.round(b / 2 ** 20)} MiB`);
const time = (ms) => new Date(ms).toLocaleTimeString([], { hour12: false });

function duration(ms) {
  if (ms === null || ms === undefined) return "–";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)} min ${s % 60} s`;
}

const SVG = "http://www.w3.org/2000/svg";

/** A small line of `values` (0–1, null for unknown) as inline SVG. */
function sparkline(values, width = 90, height = 20) {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("class", "spark");
  svg.setAttribute("width", String(width));
  svg.setAttribute("height", String(height));
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  const bg = document.createElementNS(SVG, "rect");
  bg.setAttribute("width", String(width));
  bg.setAttribute("height", String(height));
  svg.append(bg);
  const pts = [];
  const step = values.length > 1 ? width / (values.length - 1) : 0;
  values.forEach((v, i) => {
    if (v === null || v === undefined) return;
    const y = height - 1 - Math.max(0, Math.min(1, v)) * (height - 2);
    pts.push(`${(i * step).toFixed(1)},${y.toFixed(1)}`);
  });
  if (pts.length > 0) {
    const line = document.createElementNS(SVG, "polyline");
    line.setAttribute(
      "points",
      pts.length === 1 ? `0,${pts[0].split(",")[1]} ${pts[0]}` : pts.join(" "),
    );
    svg.append(line);
  }
  svg.setAttribute("aria-label", "CPU over the last pulses");
  return svg;
}

function badge(text) {
  const b = document.createElement("span");
  b.className = `badge ${text}`;
  b.textContent = text;
  return b;
}

/**
 * Sets a row's cells from `item` (strings, or nodes for rich cells),
 * creating the row on first use; a row whose item has not changed since
 * (batches replace changed items only) is left alone.
 */
function upsert(table, key, item, cells, classes, prepend = false) {
  const map = rows[table];
  let tr = map.get(key);
  if (tr !== undefined && tr.item === item) return tr;
  const tbody = $(table).tBodies[0];
  if (tr === undefined) {
    tr = document.createElement("tr");
    tr.dataset.key = key;
    for (let i = 0; i < classes.length; i++) {
      const td = document.createElement("td");
      if (classes[i]) td.className = classes[i];
      tr.append(td);
    }
    if (prepend) tbody.prepend(tr);
    else tbody.append(tr);
    map.set(key, tr);
  }
  tr.item = item;
  cells().forEach((c, i) => {
    const td = tr.cells[i];
    if (typeof c === "string") {
      if (td.textContent !== c || td.children.length > 0) td.textContent = c;
      if (classes[i] === "args" || classes[i] === "result") td.title = c;
    } else if (c !== null) td.replaceChildren(c);
  });
  return tr;
}

function prune(table, keep) {
  for (const [key, tr] of rows[table]) {
    if (!keep.has(key)) {
      tr.remove();
      rows[table].delete(key);
    }
  }
}

function render() {
  const now = Date.now();
  for (const n of nodes.values()) {
    const up = n.servers.filter((s) => s.status === "initialized").length;
    upsert("nodes", n.id, n, () => [
      n.name,
      n.id,
      badge(n.status),
      pct(n.cpu),
      sparkline(n.history.map((p) => p.cpu)),
      n.memory === null ? "–" : `${mib(n.memory)} (${pct(n.memoryFraction)})`,
      n.load === null ? "–" : n.load.toFixed(2),
      `${up} up / ${n.servers.length}`,
      `${n.running} / ${n.done}`,
    ], ["", "", "status", "num cpu", "", "num", "num", "", "num"]).dataset.node = n.id;
  }
  prune("nodes", nodes);
  const running = new Set(), done = new Set();
  for (const j of jobs.values()) {
    if (j.outcome === "running") {
      running.add(j.key);
      const isNew = !rows.running.has(j.key);
      const tr = upsert("running", j.key, j, () => [
        `#${j.id}`,
        j.name,
        j.args,
        `${j.node} / ${j.server}`,
        time(j.started),
        "",
        isNew ? terminateButton(j.key) : null,
      ], ["", "name", "args", "", "", "num duration", ""]);
      tr.dataset.job = j.key;
      tr.cells[5].textContent = duration(now - j.started);
    } else {
      done.add(j.key);
      upsert(
        "done",
        j.key,
        j,
        () => [
          `#${j.id}`,
          j.name,
          j.args,
          `${j.node} / ${j.server}`,
          time(j.started),
          duration(j.duration),
          badge(j.outcome),
          j.result ?? "",
        ],
        ["", "name", "args", "", "", "num", "outcome", "result"],
        true,
      ).dataset.job = j.key;
    }
  }
  prune("running", running);
  prune("done", done);
  $("nodes-empty").hidden = nodes.size > 0;
  $("running-empty").hidden = running.size > 0;
  $("done-empty").hidden = done.size > 0;
  $("running-count").textContent = String(totals ? totals.running : running.size);
  $("done-count").textContent = String(done.size);
  if (totals) {
    const t = $("totals");
    t.replaceChildren();
    for (
      const [label, v] of [
        ["nodes", nodes.size],
        ["started", totals.started],
        ["running", totals.running],
        ["finished", totals.finished],
        ["failed", totals.failed],
        ["terminated", totals.terminated],
        ["lost", totals.lost],
      ]
    ) {
      const b = document.createElement("b");
      b.textContent = String(v);
      t.append(b, ` ${label}  `);
    }
  }
  renderDetail();
}

function terminateButton(key) {
  const b = document.createElement("button");
  b.type = "button";
  b.className = "terminate";
  b.textContent = "Terminate";
  b.dataset.job = key;
  return b;
}

async function terminate(key, button) {
  button.disabled = true;
  const send = () =>
    fetch("api/terminate", {
      method: "POST",
      headers: {
        "content-type": "application/json",
        ...(token() ? { authorization: `Bearer ${token()}` } : {}),
      },
      body: JSON.stringify({ job: key }),
    });
  let res = await send().catch(() => null);
  if (res && res.status === 401) {
    const t = prompt("This dashboard needs its token (printed where it started):");
    if (t) {
      sessionStorage.setItem("denocos-token", t);
      res = await send().catch(() => null);
    }
  }
  if (!res || !res.ok) {
    button.disabled = false;
    const body = res ? await res.json().catch(() => ({})) : {};
    toast(`terminate failed: ${body.error ?? "no answer"}`);
  }
}

function toast(text) {
  let t = $("toast");
  if (!t) {
    t = document.createElement("div");
    t.id = "toast";
    document.body.append(t);
  }
  t.textContent = text;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => t.remove(), 4000);
}

function field(dl, name, value) {
  const dt = document.createElement("dt");
  dt.textContent = name;
  const dd = document.createElement("dd");
  dd.textContent = value;
  dl.append(dt, dd);
}

function renderDetail() {
  const aside = $("detail");
  if (selected === null) {
    aside.hidden = true;
    return;
  }
  const dl = $("detail-fields");
  const extra = $("detail-extra");
  dl.replaceChildren();
  extra.replaceChildren();
  $("detail-spark").replaceChildren();
  if (selected.kind === "node") {
    const n = nodes.get(selected.key);
    if (n === undefined) return closeDetail();
    $("detail-title").textContent = `Node ${n.name}`;
    $("detail-spark").append(sparkline(n.history.map((p) => p.cpu), 380, 60));
    field(dl, "address", n.id);
    field(dl, "status", n.status);
    field(dl, "CPU", pct(n.cpu));
    field(dl, "memory free", `${mib(n.memory)} (${pct(n.memoryFraction)})`);
    field(dl, "load", n.load === null ? "–" : n.load.toFixed(2));
    field(dl, "jobs running", String(n.running));
    field(dl, "jobs done", String(n.done));
    field(dl, "last change", time(n.updated));
    const t = document.createElement("table");
    const head = t.createTHead().insertRow();
    for (const h of ["Server", "Status", "Running", "Done"]) {
      const th = document.createElement("th");
      th.textContent = h;
      head.append(th);
    }
    const body = t.createTBody();
    for (const s of n.servers) {
      const tr = body.insertRow();
      tr.insertCell().textContent = s.id;
      tr.insertCell().append(badge(s.status));
      tr.insertCell().textContent = String(s.running);
      tr.insertCell().textContent = String(s.done);
    }
    extra.append(t);
  } else {
    const j = jobs.get(selected.key);
    if (j === undefined) return closeDetail();
    $("detail-title").textContent = `Job #${j.id} ${j.name}`;
    field(dl, "key", j.key);
    field(dl, "export", j.name);
    field(dl, "arguments", j.args);
    field(dl, "node", j.node);
    field(dl, "server", j.server);
    field(dl, "attempt", String(j.attempt));
    field(dl, "started", new Date(j.started).toLocaleString());
    field(dl, "duration", duration(j.duration ?? Date.now() - j.started));
    field(dl, "outcome", j.outcome);
    if (j.result !== null) field(dl, "result", j.result);
    if (j.outcome === "running") extra.append(terminateButton(j.key));
  }
  aside.hidden = false;
}

function closeDetail() {
  selected = null;
  $("detail").hidden = true;
}

document.addEventListener("click", (e) => {
  const target = e.target instanceof Element ? e.target : null;
  if (target === null) return;
  const button = target.closest("button.terminate");
  if (button) {
    e.stopPropagation();
    terminate(button.dataset.job, button);
    return;
  }
  if (target.closest("#detail-close")) return closeDetail();
  const tr = target.closest("tbody tr[data-key]");
  if (tr && tr.closest("main")) {
    selected = { kind: tr.dataset.node !== undefined ? "node" : "job", key: tr.dataset.key };
    renderDetail();
  }
});

document.addEventListener("keydown", (e) => {
  if (e.key === "Escape") closeDetail();
});

// Running jobs' durations tick even when nothing changes.
setInterval(() => {
  if (rows.running.size > 0 || selected !== null) queueRender();
}, 1000);

token();
connect();
