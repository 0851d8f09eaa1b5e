/**
 * `Dashboard` over HTTP with a synthetic status stream: the snapshot, the
 * event stream and its batching, actions with and without the token, and
 * bad requests answered with 4xx JSON (the server stays up).
 */
import assert from "node:assert/strict";
import { MonitorStatus, type Task } from "../../mod.ts";
import { NodeAvailability, StatusMessage } from "../../src/compute/mod.ts";
import {
  type ChangeBatch,
  Dashboard,
  type Snapshot,
  type StatusSource,
} from "../../src/monitor/mod.ts";

const NODE = { hostname: "127.0.0.1", port: 9706 };
const OTHER = { hostname: "127.0.0.2", port: 9706 };

/** A status stream the test drives. */
class FakeSource implements StatusSource {
  readonly listeners: ((m: unknown) => void)[] = [];
  addStatusListener(fn: (m: unknown) => void): () => void {
    this.listeners.push(fn);
    return () => this.listeners.splice(this.listeners.indexOf(fn), 1);
  }
  emit(m: unknown): void {
    for (const fn of this.listeners) fn(m);
  }
}

/** A stand-in for a RemoteTask; its own `key` is the same on every node, as another source's could be. */
function fakeJob(id: number, location = NODE) {
  let terminated = 0;
  return {
    key: `p/1/${id}`,
    /** What the dashboard calls it (`JobView.key`). */
    job: `${location.hostname}:${location.port}/0/${id}`,
    id,
    name: "hang",
    location,
    terminate() {
      terminated++;
      return true;
    },
    get terminated() {
      return terminated;
    },
  };
}

function start(src: FakeSource, job: ReturnType<typeof fakeJob>) {
  src.emit(
    new StatusMessage("TaskStarted", job.location, {
      server: "1",
      task: job,
      info: { name: job.name, args: [job.id] },
    }),
  );
}

/** Reads server-sent events from a response, one `{ event, data }` at a time. */
class EventReader {
  readonly #reader: ReadableStreamDefaultReader<string>;
  #buffer = "";
  constructor(res: Response) {
    this.#reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  }
  async next(): Promise<{ event: string; data: unknown } | null> {
    for (;;) {
      const end = this.#buffer.indexOf("\n\n");
      if (end >= 0) {
        const block = this.#buffer.slice(0, end);
        this.#buffer = this.#buffer.slice(end + 2);
        let event = "message", data = "";
        for (const line of block.split("\n")) {
          if (line.startsWith("event: ")) event = line.slice(7);
          else if (line.startsWith("data: ")) data += line.slice(6);
        }
        if (data === "") continue; // a comment or retry line
        return { event, data: JSON.parse(data) };
      }
      const { done, value } = await this.#reader.read();
      if (done) return null;
      this.#buffer += value;
    }
  }
  cancel(): Promise<void> {
    return this.#reader.cancel();
  }
}

function dashboard(src: FakeSource, options: { token?: string; interval?: number } = {}) {
  return new Dashboard(src, { port: 0, onListen: () => {}, ...options });
}

async function post(
  d: Dashboard,
  action: string,
  body: unknown,
  headers: Record<string, string> = {},
) {
  const res = await fetch(new URL(`api/${action}`, d.url), {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}

Deno.test("dashboard: the snapshot endpoint and the page's assets", async () => {
  const src = new FakeSource();
  await using d = dashboard(src);
  src.emit(new StatusMessage("NodeInitialized", NODE, { info: { name: "alpha", cpus: 1 } }));
  src.emit(new NodeAvailability(NODE, { cpu: 0.5, load: 1 }));
  const res = await fetch(new URL("api/snapshot", d.url));
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type")!, /^application\/json/);
  const s = await res.json() as Snapshot;
  assert.deepEqual(s.nodes.map((n) => [n.name, n.cpu]), [["alpha", 0.5]]);
  for (
    const [path, type] of [["", "text/html"], ["app.js", "text/javascript"], [
      "style.css",
      "text/css",
    ]]
  ) {
    const r = await fetch(new URL(path, d.url));
    assert.equal(r.status, 200);
    assert.ok(r.headers.get("content-type")!.startsWith(type));
    assert.ok((await r.text()).length > 100);
  }
});

Deno.test("dashboard: the event stream sends a snapshot, then batches at most one per interval", async () => {
  const src = new FakeSource();
  const interval = 50;
  await using d = dashboard(src, { interval });
  src.emit(new StatusMessage("NodeInitialized", NODE));
  const events = new EventReader(await fetch(new URL("api/events", d.url)));
  try {
    const first = await events.next();
    assert.equal(first?.event, "snapshot");
    assert.equal((first!.data as Snapshot).nodes.length, 1);
    // 1,000 messages at once make one batch (after, perhaps, the one pending before).
    for (let i = 0; i < 1000; i++) src.emit(new NodeAvailability(NODE, { cpu: (i % 100) / 100 }));
    let batches = 0;
    for (;;) {
      const e = await events.next();
      assert.equal(e?.event, "changes");
      batches++;
      const nodes = (e!.data as ChangeBatch).nodes;
      assert.equal(nodes.length, 1);
      if (nodes[0].cpu === 0.99) break;
    }
    assert.ok(batches <= 2, `${batches} batches`);
    // A message in every macrotask for a while: never more than one push per interval.
    const t0 = performance.now();
    let sent = 0;
    while (performance.now() - t0 < 10 * interval) {
      src.emit(new NodeAvailability(NODE, { cpu: 0.1 }));
      sent++;
      await new Promise((r) => setTimeout(r, 0));
    }
    const elapsed = performance.now() - t0;
    src.emit(new StatusMessage("NodeClosed", NODE)); // the last change: wait for it
    let pushes = 0;
    for (;;) {
      const e = await events.next();
      pushes++;
      if ((e!.data as ChangeBatch).nodes[0]?.status === "closed") break;
    }
    assert.ok(sent > pushes, `${sent} messages, ${pushes} pushes`);
    assert.ok(pushes <= Math.ceil(elapsed / interval) + 2, `${pushes} pushes in ${elapsed} ms`);
  } finally {
    await events.cancel();
  }
});

Deno.test("dashboard: terminate on loopback without a token; 404, 409 for unknown and ended jobs", async () => {
  const src = new FakeSource();
  await using d = dashboard(src);
  assert.equal(d.token, undefined);
  const job = fakeJob(1);
  start(src, job);
  assert.deepEqual(await post(d, "terminate", { job: job.job }), {
    status: 202,
    body: { job: job.job, terminating: true },
  });
  assert.equal(job.terminated, 1);
  src.emit(new MonitorStatus(job as unknown as Task, "terminated", undefined));
  assert.equal((await post(d, "terminate", { job: job.job })).status, 409);
  assert.equal((await post(d, "terminate", { job: "no/such/job" })).status, 404);
  const s = await (await fetch(new URL("api/snapshot", d.url))).json() as Snapshot;
  assert.equal(s.done[0].outcome, "terminated");
});

Deno.test("dashboard: with a token, actions need it", async () => {
  const src = new FakeSource();
  await using d = dashboard(src, { token: "s3cret-token" });
  const job = fakeJob(2);
  start(src, job);
  assert.equal((await post(d, "terminate", { job: job.job })).status, 401);
  assert.equal(
    (await post(d, "terminate", { job: job.job }, { authorization: "Bearer wrong" })).status,
    401,
  );
  assert.equal(job.terminated, 0);
  const ok = await post(d, "terminate", { job: job.job }, { authorization: "Bearer s3cret-token" });
  assert.equal(ok.status, 202);
  assert.equal(job.terminated, 1);
  // Reading needs no token.
  assert.equal(
    await fetch(new URL("api/snapshot", d.url)).then((r) => r.body?.cancel(), () => {}),
    undefined,
  );
});

Deno.test("dashboard: bad requests get 4xx JSON errors and the server stays up", async () => {
  const src = new FakeSource();
  await using d = dashboard(src);
  const cases: [string, RequestInit, number][] = [
    ["nope", {}, 404],
    ["api/nope", {}, 404],
    ["api/terminate", {}, 405],
    ["api/snapshot", { method: "POST" }, 405],
    ["api/terminate", { method: "POST", body: "{}" }, 415],
    ["api/terminate", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{not json",
    }, 400],
    ["api/terminate", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "[1]",
    }, 400],
    ["api/terminate", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: '{"job": 7}',
    }, 400],
    ["api/terminate", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "x".repeat(10_000),
    }, 413],
    ["api/terminate", {
      method: "POST",
      headers: { "content-type": "application/json", origin: "http://evil.example" },
      body: '{"job": "a"}',
    }, 403],
    ["api/suspend", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: '{"node": "a:1"}',
    }, 501],
    ["api/resume", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: '{"server": "a:1/1"}',
    }, 501],
    [
      "api/suspend",
      { method: "POST", headers: { "content-type": "application/json" }, body: "{}" },
      400,
    ],
  ];
  for (const [path, init, status] of cases) {
    const res = await fetch(new URL(path, d.url), init);
    assert.equal(res.status, status, `${init.method ?? "GET"} ${path}`);
    assert.match(res.headers.get("content-type")!, /^application\/json/);
    assert.equal(typeof (await res.json()).error, "string");
  }
  // A page asking by another name (DNS rebinding) and raw garbage on the socket.
  for (
    const raw of [
      "GET /api/snapshot HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n",
      "\x00\x01garbage\r\n\r\n",
    ]
  ) {
    using conn = await Deno.connect({ hostname: "127.0.0.1", port: d.port });
    await conn.write(new TextEncoder().encode(raw));
    const text = await new Response(conn.readable).text();
    if (raw.startsWith("GET")) assert.match(text, /^HTTP\/1\.1 403/);
  }
  assert.equal((await fetch(new URL("api/snapshot", d.url)).then((r) => r.json())).seq, 0);
});

Deno.test("dashboard: close ends the viewers' streams and stops listening", async () => {
  const src = new FakeSource();
  const d = dashboard(src);
  const events = new EventReader(await fetch(new URL("api/events", d.url)));
  assert.equal((await events.next())?.event, "snapshot");
  assert.equal(d.viewers, 1);
  await d.close();
  assert.equal(await events.next(), null);
  assert.equal(src.listeners.length, 0);
  await d.close(); // twice is fine
});

Deno.test("dashboard: suspend and resume go to a source that can (a Computation can)", async () => {
  const calls: string[] = [];
  const source = {
    addStatusListener: () => () => {},
    suspend: (t: string) => (calls.push(`suspend ${t}`), t === "none" ? 0 : 2),
    resume: (t: string) => (calls.push(`resume ${t}`), 1),
  };
  await using d = new Dashboard(source, { port: 0, onListen: () => {} });
  const post = (path: string, body: unknown) =>
    fetch(new URL(path, d.url), {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
  const a = await post("api/suspend", { node: "127.0.0.1:9706" });
  assert.equal(a.status, 200);
  assert.deepEqual(await a.json(), { suspended: 2, target: "127.0.0.1:9706" });
  const b = await post("api/resume", { server: "127.0.0.1:9706/0" });
  assert.deepEqual(await b.json(), { resumed: 1, target: "127.0.0.1:9706/0" });
  const c = await post("api/suspend", { node: "none" });
  assert.equal(c.status, 404);
  await c.body?.cancel();
  assert.deepEqual(calls, ["suspend 127.0.0.1:9706", "resume 127.0.0.1:9706/0", "suspend none"]);
});

Deno.test("dashboard: two nodes' job 7 are two jobs; terminate ends exactly the one named", async () => {
  const src = new FakeSource();
  await using d = dashboard(src);
  const [a, b] = [fakeJob(7, NODE), fakeJob(7, OTHER)];
  start(src, a);
  start(src, b);
  const s = await (await fetch(new URL("api/snapshot", d.url))).json() as Snapshot;
  assert.deepEqual(s.running.map((j) => [j.key, j.id, j.node]), [
    ["127.0.0.1:9706/0/7", 7, "127.0.0.1:9706"],
    ["127.0.0.2:9706/0/7", 7, "127.0.0.2:9706"],
  ]);
  assert.deepEqual(await post(d, "terminate", { job: b.job }), {
    status: 202,
    body: { job: "127.0.0.2:9706/0/7", terminating: true },
  });
  assert.deepEqual([a.terminated, b.terminated], [0, 1]);
  // B's ends; A's, with the same id and the same reference key, runs on and can still be ended.
  src.emit(new MonitorStatus(b as unknown as Task, "terminated", undefined));
  assert.equal((await post(d, "terminate", { job: b.job })).status, 409);
  assert.equal((await post(d, "terminate", { job: a.job })).status, 202);
  assert.deepEqual([a.terminated, b.terminated], [1, 1]);
  // The reference's own key, the same on both nodes, names neither.
  assert.equal((await post(d, "terminate", { job: "p/1/7" })).status, 404);
});

Deno.test("dashboard: suspend and resume show in the snapshot and the event stream", async () => {
  const src = new (class extends FakeSource {
    readonly suspended = new Set<string>();
    readonly servers = ["127.0.0.1:9706/0", "127.0.0.1:9706/1"];
    #act(t: string, on: boolean): number {
      let n = 0;
      for (const s of this.servers) {
        if (s !== t && !s.startsWith(`${t}/`)) continue;
        if (this.suspended.has(s) !== on) n++;
        if (on) this.suspended.add(s);
        else this.suspended.delete(s);
      }
      return n;
    }
    suspend(t: string): number {
      return this.#act(t, true);
    }
    resume(t: string): number {
      return this.#act(t, false);
    }
  })();
  await using d = dashboard(src, { interval: 0 });
  src.emit(new StatusMessage("NodeInitialized", NODE));
  for (const s of ["0", "1"]) src.emit(new StatusMessage("ServerInitialized", NODE, { server: s }));
  const events = new EventReader(await fetch(new URL("api/events", d.url)));
  /**
   * The node as the first batch with `suspended` servers says (batches from
   * before, as the servers' own, may come first).
   */
  const nodeWith = async (suspended: number) => {
    for (;;) {
      const e = await events.next();
      const n = (e!.data as ChangeBatch).nodes?.[0];
      if (e!.event === "changes" && n?.suspended === suspended) return n;
    }
  };
  try {
    const first = await events.next();
    assert.equal((first!.data as Snapshot).suspendable, true);
    assert.equal((first!.data as Snapshot).nodes[0].suspended, 0);
    assert.deepEqual(await post(d, "suspend", { server: "127.0.0.1:9706/1" }), {
      status: 200,
      body: { suspended: 1, target: "127.0.0.1:9706/1" },
    });
    let n = await nodeWith(1);
    assert.deepEqual(n.servers.map((s) => s.suspended), [false, true]);
    assert.deepEqual(await post(d, "suspend", { node: "127.0.0.1:9706" }), {
      status: 200,
      body: { suspended: 1, target: "127.0.0.1:9706" },
    });
    n = await nodeWith(2);
    assert.deepEqual(n.servers.map((s) => s.suspended), [true, true]);
    // Again: nothing left to suspend there, a 409 (the page's other viewer was first).
    const again = await post(d, "suspend", { node: "127.0.0.1:9706" });
    assert.equal(again.status, 409);
    assert.equal(typeof again.body.error, "string");
    assert.equal((await post(d, "resume", { node: "127.0.0.1:9706" })).status, 200);
    n = await nodeWith(0);
    assert.deepEqual(n.servers.map((s) => s.suspended), [false, false]);
    assert.deepEqual(src.suspended, new Set());
    const s = await (await fetch(new URL("api/snapshot", d.url))).json() as Snapshot;
    assert.equal(s.nodes[0].suspended, 0);
    assert.equal((await post(d, "resume", { node: "10.9.9.9:1" })).status, 404);
  } finally {
    await events.cancel();
  }
  // A source that cannot suspend says so in its snapshot (and the page shows no buttons).
  await using plain = dashboard(new FakeSource());
  const s = await (await fetch(new URL("api/snapshot", plain.url))).json() as Snapshot;
  assert.equal(s.suspendable, false);
});
