// The denocos dashboard page: a snapshot, then change batches, over
// server-sent events (/api/events); terminate, suspend and resume through
// POST /api/<action>.
// Plain JavaScript, no framework; every value from the server is shown with
// textContent, never parsed as HTML.
"use strict";

/** @type {Map<string, any>} */
const nodes = new Map();
/** @type {Map<string, any>} */
const jobs = new Map();
let totals = null;
let historyLength = 60;
let suspendable = false;
let selected = null; // { kind: "node" | "job", key }
let renderQueued = false;

const $ = (id) => document.getElementById(id);

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
    suspendable = s.suspendable === true;
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

function badge(text, kind = text) {
  const b = document.createElement("span");
  b.className = `badge ${kind}`;
  b.textContent = text;
  return b;
}

/** A node's or a server's status, with a "suspended" badge after it when it takes no new job. */
function statusBadges(status, suspended, of = 1) {
  const cell = document.createDocumentFragment();
  cell.append(badge(status));
  if (suspended > 0) {
    cell.append(
      " ",
      badge(of > 1 && suspended < of ? `${suspended}/${of} suspended` : "suspended", "suspended"),
    );
  }
  return cell;
}

function actionButton(action, label, data) {
  const b = document.createElement("button");
  b.type = "button";
  b.className = action;
  b.textContent = label;
  b.dataset.action = action;
  Object.assign(b.dataset, data);
  return b;
}

const terminateButton = (key) => actionButton("terminate", "Terminate", { job: key });

/** Suspend, or Resume once any of the target's servers is suspended. */
function suspendButton(field, target, suspended) {
  return suspended
    ? actionButton("resume", "Resume", { field, target })
    : actionButton("suspend", "Suspend", { field, target });
}

/** A job as the cluster knows it: its node's address and its id there (ids repeat across nodes). */
const jobLabel = (j) => `${j.node}#${j.id}`;
const nodeName = (id) => nodes.get(id)?.name ?? id;

/**
 * The one table renderer of the page (nodes, jobs running and done, a
 * node's servers). `columns` say each column's heading (`head`), its cells'
 * class (`cls`), their content (`cell(item, context)`: a string, or a DOM
 * node for a rich cell), whether it is shown (`when()`), whether it is
 * recomputed at every render (`live`, as a running time) rather than only
 * when its item changed, and whether the text is also the cell's tooltip
 * (`title`). `sync` keeps one row per item, keyed by `key(item)`: a row
 * whose item is the same object as last time (batches replace changed
 * items only) is left alone but for its live cells.
 */
class Table {
  constructor(table, columns, { key, data = () => ({}), prepend = false }) {
    this.table = table;
    this.columns = columns;
    this.key = key;
    this.data = data;
    this.prepend = prepend;
    this.rows = new Map();
    this.shown = null;
    this.signature = null;
    this.tbody = table.tBodies[0] ?? table.createTBody();
  }

  /** Builds the heading row from the columns shown; a new set of columns starts the rows over. */
  head() {
    const shown = this.columns.filter((c) => c.when === undefined || c.when());
    const signature = shown.map((c) => c.head).join("\u0000");
    if (signature === this.signature) return;
    this.signature = signature;
    this.shown = shown;
    const tr = document.createElement("tr");
    for (const c of shown) {
      const th = document.createElement("th");
      th.textContent = c.head;
      tr.append(th);
    }
    (this.table.tHead ?? this.table.createTHead()).replaceChildren(tr);
    this.tbody.replaceChildren();
    this.rows.clear();
  }

  /** Shows `items` (an iterable), in order (newest on top with `prepend`); returns how many. */
  sync(items, context) {
    this.head();
    const keep = new Set();
    for (const item of items) {
      const key = this.key(item);
      keep.add(key);
      let tr = this.rows.get(key);
      const changed = tr === undefined || tr.item !== item;
      if (tr === undefined) {
        tr = document.createElement("tr");
        tr.dataset.key = key;
        Object.assign(tr.dataset, this.data(item));
        for (const c of this.shown) {
          const td = document.createElement("td");
          if (c.cls) td.className = c.cls;
          tr.append(td);
        }
        if (this.prepend) this.tbody.prepend(tr);
        else this.tbody.append(tr);
        this.rows.set(key, tr);
      }
      tr.item = item;
      this.shown.forEach((c, i) => {
        if (changed || c.live) fill(tr.cells[i], c.cell(item, context), c.title);
      });
    }
    for (const [key, tr] of this.rows) {
      if (!keep.has(key)) {
        tr.remove();
        this.rows.delete(key);
      }
    }
    return keep.size;
  }
}

function fill(td, content, title) {
  if (typeof content === "string") {
    if (td.textContent !== content || td.children.length > 0) td.textContent = content;
    if (title) td.title = content;
  } else if (!sameButton(td.firstChild, content)) td.replaceChildren(content);
}

/**
 * Whether a cell already has that very button: it is kept (disabled while
 * its action is under way) until what it would do changes.
 */
function sameButton(old, button) {
  return old instanceof HTMLButtonElement && button instanceof HTMLButtonElement &&
    old.textContent === button.textContent &&
    JSON.stringify(old.dataset) === JSON.stringify(button.dataset);
}

const NODE_COLUMNS = [
  { head: "Node", cell: (n) => n.name },
  { head: "Address", cell: (n) => n.id },
  {
    head: "Status",
    cls: "status",
    cell: (n) => statusBadges(n.status, n.suspended, n.servers.length),
  },
  { head: "CPU", cls: "num cpu", cell: (n) => pct(n.cpu) },
  { head: "Recent CPU", cell: (n) => sparkline(n.history.map((p) => p.cpu)) },
  {
    head: "Memory free",
    cls: "num",
    cell: (n) => (n.memory === null ? "–" : `${mib(n.memory)} (${pct(n.memoryFraction)})`),
  },
  { head: "Load", cls: "num", cell: (n) => (n.load === null ? "–" : n.load.toFixed(2)) },
  {
    head: "Servers",
    cell: (n) =>
      `${n.servers.filter((s) => s.status === "initialized").length} up / ${n.servers.length}`,
  },
  { head: "Jobs running / done", cls: "num", cell: (n) => `${n.running} / ${n.done}` },
  {
    head: "",
    cls: "actions",
    when: () => suspendable,
    cell: (n) => suspendButton("node", n.id, n.suspended > 0),
  },
];

const JOB_COLUMNS = [
  { head: "Job", cls: "job", title: true, cell: jobLabel },
  { head: "Name", cls: "name", cell: (j) => j.name },
  { head: "Arguments", cls: "args", title: true, cell: (j) => j.args },
  { head: "Node / server", cell: (j) => `${nodeName(j.node)} / ${j.server}` },
  { head: "Started", cell: (j) => time(j.started) },
];

const RUNNING_COLUMNS = [
  ...JOB_COLUMNS,
  {
    head: "Running for",
    cls: "num duration",
    live: true,
    cell: (j, now) => duration(now - j.started),
  },
  { head: "", cell: (j) => terminateButton(j.key) },
];

const DONE_COLUMNS = [
  ...JOB_COLUMNS,
  { head: "Took", cls: "num", cell: (j) => duration(j.duration) },
  { head: "Outcome", cls: "outcome", cell: (j) => badge(j.outcome) },
  { head: "Result", cls: "result", title: true, cell: (j) => j.result ?? "" },
];

const SERVER_COLUMNS = [
  { head: "Server", cell: (s) => s.id },
  { head: "Status", cls: "status", cell: (s) => statusBadges(s.status, s.suspended ? 1 : 0) },
  { head: "Running", cell: (s) => String(s.running) },
  { head: "Done", cell: (s) => String(s.done) },
  {
    head: "",
    cls: "actions",
    when: () => suspendable,
    cell: (s, node) => suspendButton("server", `${node.id}/${s.id}`, s.suspended),
  },
];

const jobData = (j) => ({ job: j.key });
const tables = {
  nodes: new Table($("nodes"), NODE_COLUMNS, { key: (n) => n.id, data: (n) => ({ node: n.id }) }),
  running: new Table($("running"), RUNNING_COLUMNS, { key: (j) => j.key, data: jobData }),
  done: new Table($("done"), DONE_COLUMNS, { key: (j) => j.key, data: jobData, prepend: true }),
  // The detail view's: kept across renders, so that its buttons are too.
  servers: new Table(document.createElement("table"), SERVER_COLUMNS, { key: (s) => s.id }),
};

function* jobsWhere(running) {
  for (const j of jobs.values()) if ((j.outcome === "running") === running) yield j;
}

function render() {
  const now = Date.now();
  const nodeCount = tables.nodes.sync(nodes.values());
  const running = tables.running.sync(jobsWhere(true), now);
  const done = tables.done.sync(jobsWhere(false));
  $("nodes-empty").hidden = nodeCount > 0;
  $("running-empty").hidden = running > 0;
  $("done-empty").hidden = done > 0;
  $("running-count").textContent = String(totals ? totals.running : running);
  $("done-count").textContent = String(done);
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

const ACTION_BODY = {
  terminate: (d) => ({ job: d.job }),
  suspend: (d) => ({ [d.field]: d.target }),
  resume: (d) => ({ [d.field]: d.target }),
};

/** POSTs a button's action; the button is enabled again only if it failed (success shows in the stream). */
async function act(button) {
  const action = button.dataset.action;
  button.disabled = true;
  const send = () =>
    fetch(`api/${action}`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        ...(token() ? { authorization: `Bearer ${token()}` } : {}),
      },
      body: JSON.stringify(ACTION_BODY[action](button.dataset)),
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
    toast(`${action} failed: ${body.error ?? "no answer"}`);
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
    tables.servers.sync(n.servers, n);
    extra.append(tables.servers.table);
  } else {
    const j = jobs.get(selected.key);
    if (j === undefined) return closeDetail();
    $("detail-title").textContent = `Job ${jobLabel(j)} ${j.name}`;
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
  const button = target.closest("button[data-action]");
  if (button) {
    e.stopPropagation();
    if (!button.disabled) act(button);
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
  if (tables.running.rows.size > 0 || selected !== null) queueRender();
}, 1000);

token();
connect();
