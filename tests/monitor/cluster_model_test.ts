/**
 * `ClusterModel`: status messages in, snapshot and change batches out, with
 * every bound holding.
 */
import assert from "node:assert/strict";
import { MonitorStatus, type Task } from "../../mod.ts";
import { NodeAvailability, StatusMessage } from "../../src/compute/mod.ts";
import { ClusterModel, jobKey, preview } from "../../src/monitor/mod.ts";

const A = { hostname: "10.0.0.1", port: 9706 };
const B = { hostname: "10.0.0.2", port: 9706 };

/**
 * A stand-in for a RemoteTask: what the model reads of one. Its own `key`
 * is the same on every node, as another source's could be.
 */
function job(id: number, location = A) {
  return { key: `p/1/${id}`, id, name: "compute", location, terminate: () => true };
}

function started(task: ReturnType<typeof job>, name = "compute", args: unknown[] = [id(task)]) {
  return new StatusMessage("TaskStarted", task.location, {
    server: "1",
    task,
    info: { name, args, attempt: 1 },
  });
}
const id = (t: { id: number }) => t.id;

function ended(task: ReturnType<typeof job>, type: MonitorStatus["type"], value: unknown) {
  return new MonitorStatus(task as unknown as Task, type, value);
}

function upNode(model: ClusterModel, loc = A, servers = ["1", "2"]) {
  model.apply(new StatusMessage("NodeDiscovered", loc, { info: "n1" }), 1000);
  model.apply(
    new StatusMessage("NodeInitialized", loc, { info: { name: "alpha", cpus: 2 } }),
    1001,
  );
  for (const s of servers) {
    model.apply(new StatusMessage("ServerInitialized", loc, { server: s }), 1002);
  }
}

Deno.test("model: nodes, servers and pulses make the node view", () => {
  const model = new ClusterModel({ history: 3 });
  upNode(model);
  for (let i = 0; i < 5; i++) {
    model.apply(
      new NodeAvailability(A, { cpu: i / 10, memory: 2 ** 30, memoryFraction: 0.5, load: i }),
      2000 + i,
    );
  }
  const [n] = model.snapshot(3000).nodes;
  assert.equal(n.id, "10.0.0.1:9706");
  assert.equal(n.name, "alpha");
  assert.equal(n.status, "initialized");
  assert.deepEqual([n.cpu, n.memory, n.memoryFraction, n.load], [0.4, 2 ** 30, 0.5, 4]);
  assert.deepEqual(n.history.map((p) => p.cpu), [0.2, 0.3, 0.4]);
  assert.deepEqual(n.history.map((p) => p.time), [2002, 2003, 2004]);
  assert.deepEqual(n.servers.map((s) => [s.id, s.status]), [["1", "initialized"], [
    "2",
    "initialized",
  ]]);
  model.apply(new StatusMessage("ServerClosed", A, { server: "2" }));
  model.apply(new StatusMessage("NodeAbandoned", A));
  const [m] = model.snapshot().nodes;
  assert.equal(m.status, "abandoned");
  assert.deepEqual(m.servers.map((s) => s.status), ["abandoned", "closed"]);
});

Deno.test("model: a job runs and ends with name, args, times and outcome", () => {
  const model = new ClusterModel();
  upNode(model);
  const t = job(7);
  assert.ok(model.apply(started(t, "compute", [42, "x", { deep: [1, 2] }]), 5000));
  let s = model.snapshot(5001);
  assert.equal(s.running.length, 1);
  assert.deepEqual(s.running[0], {
    key: "10.0.0.1:9706/0/7",
    id: 7,
    name: "compute",
    args: '42, "x", {deep: [1, 2]}',
    node: "10.0.0.1:9706",
    server: "1",
    attempt: 1,
    started: 5000,
    ended: null,
    duration: null,
    outcome: "running",
    result: null,
  });
  assert.equal(model.task("10.0.0.1:9706/0/7"), t);
  assert.equal(s.nodes[0].running, 1);
  assert.equal(s.nodes[0].servers[0].running, 1);
  assert.ok(model.apply(ended(t, "finished", 84), 5250));
  s = model.snapshot();
  assert.equal(s.running.length, 0);
  assert.equal(model.task("10.0.0.1:9706/0/7"), undefined);
  assert.equal(model.hasJob("10.0.0.1:9706/0/7"), true);
  const d = s.done[0];
  assert.deepEqual([d.outcome, d.ended, d.duration, d.result], ["finished", 5250, 250, "84"]);
  assert.deepEqual([s.nodes[0].running, s.nodes[0].done], [0, 1]);
  assert.deepEqual([s.totals.started, s.totals.running, s.totals.finished], [1, 0, 1]);
});

Deno.test("model: failed, terminated, abandoned-then-unreachable outcomes and totals", () => {
  const model = new ClusterModel();
  upNode(model);
  const [a, b, c] = [job(1), job(2), job(3)];
  for (const t of [a, b, c]) model.apply(started(t));
  model.apply(ended(a, "failed", new RangeError("no luck")));
  model.apply(ended(b, "terminated", undefined));
  model.apply(new StatusMessage("TaskAbandoned", A, { server: "1", task: c }));
  assert.equal(model.apply(ended(c, "unreachable", undefined)), false); // already ended
  const s = model.snapshot();
  assert.deepEqual(s.done.map((j) => j.outcome), ["failed", "terminated", "abandoned"]);
  assert.equal(s.done[0].result, "RangeError: no luck");
  assert.deepEqual(
    [s.totals.failed, s.totals.terminated, s.totals.lost, s.totals.running],
    [1, 1, 1, 0],
  );
});

Deno.test("model: only the last maxDone jobs are kept, and forgotten ones are reported removed", () => {
  const model = new ClusterModel({ maxDone: 3 });
  upNode(model);
  for (let i = 1; i <= 5; i++) {
    model.apply(started(job(i)));
    model.apply(ended(job(i), "finished", i));
  }
  assert.deepEqual(model.snapshot().done.map((j) => j.id), [3, 4, 5]);
  // Jobs 1 and 2 came and went within one batch: no need to tell anyone.
  let batch = model.takeChanges()!;
  assert.deepEqual(batch.removed, []);
  assert.deepEqual(batch.jobs.map((j) => j.id), [3, 4, 5]);
  model.apply(started(job(6)));
  model.apply(ended(job(6), "finished", 6));
  batch = model.takeChanges()!;
  assert.deepEqual(batch.removed, ["10.0.0.1:9706/0/3"]);
  assert.deepEqual(batch.jobs.map((j) => j.id), [6]);
  assert.equal(model.snapshot().totals.finished, 6);
});

Deno.test("model: running jobs past maxRunning are counted, not listed", () => {
  const model = new ClusterModel({ maxRunning: 2 });
  upNode(model);
  for (let i = 1; i <= 4; i++) model.apply(started(job(i)));
  let s = model.snapshot();
  assert.deepEqual([s.running.length, s.totals.running, s.nodes[0].running], [2, 4, 4]);
  model.apply(ended(job(4), "finished", 0));
  s = model.snapshot();
  assert.deepEqual([s.running.length, s.totals.running, s.totals.finished], [2, 3, 1]);
  assert.equal(s.done.length, 0);
});

Deno.test("model: change batches carry what changed once, in sequence", () => {
  const model = new ClusterModel();
  assert.equal(model.takeChanges(), null);
  upNode(model);
  upNode(model, B, ["1"]);
  let batch = model.takeChanges(10)!;
  assert.equal(batch.seq, 1);
  assert.equal(batch.time, 10);
  assert.deepEqual(batch.nodes.map((n) => n.id), ["10.0.0.1:9706", "10.0.0.2:9706"]);
  assert.equal(model.takeChanges(), null);
  model.apply(new NodeAvailability(B, { cpu: 0.5 }));
  model.apply(new NodeAvailability(B, { cpu: 0.6 }));
  batch = model.takeChanges()!;
  assert.equal(batch.seq, 2);
  assert.deepEqual(batch.nodes.map((n) => [n.id, n.cpu]), [["10.0.0.2:9706", 0.6]]);
  // A batch's history is only the pulses since the last batch; the snapshot has them all.
  assert.deepEqual(batch.nodes[0].history.map((p) => p.cpu), [0.5, 0.6]);
  model.apply(new NodeAvailability(B, { cpu: 0.7 }));
  model.apply(new StatusMessage("ServerClosed", A, { server: "1" }));
  batch = model.takeChanges()!;
  assert.deepEqual(batch.nodes.map((n) => [n.id, n.history.map((p) => p.cpu)]), [
    ["10.0.0.2:9706", [0.7]],
    ["10.0.0.1:9706", []],
  ]);
  const snap = model.snapshot();
  assert.equal(snap.seq, 3);
  assert.equal(snap.historyLength, 60);
  assert.deepEqual(snap.nodes[1].history.map((p) => p.cpu), [0.5, 0.6, 0.7]);
});

Deno.test("model: hostile or unknown messages are counted and ignored, never thrown on", () => {
  const model = new ClusterModel({ maxNodes: 2 });
  for (
    const m of [
      null,
      42,
      "NodeDiscovered",
      { type: "NodeDiscovered", node: A },
      new StatusMessage("TaskStarted", A, { task: { key: 7 } }),
      new StatusMessage("TaskStarted", A, { task: { key: "k".repeat(10_000) } }),
      new StatusMessage("ServerInitialized", A),
      new MonitorStatus({ key: "never/seen/1" } as unknown as Task, "finished", 1),
    ]
  ) {
    model.apply(m);
  }
  // A TaskStarted with a strange info still records a job, with what it can use.
  model.apply(new StatusMessage("TaskStarted", A, { task: job(9), info: "junk" }));
  const s = model.snapshot();
  assert.equal(s.totals.messages, 9);
  assert.equal(s.totals.ignored, 8);
  assert.deepEqual([s.running[0].name, s.running[0].args], ["", ""]);
  // Nodes are bounded: a closed one is forgotten for a new one; live ones are kept.
  model.apply(new StatusMessage("NodeClosed", A));
  model.apply(new StatusMessage("NodeInitialized", B));
  model.apply(new StatusMessage("NodeInitialized", { hostname: "c", port: 1 }));
  assert.deepEqual(model.snapshot().nodes.map((n) => n.hostname), ["10.0.0.2", "c"]);
  assert.equal(
    model.apply(new StatusMessage("NodeInitialized", { hostname: "d", port: 1 })),
    false,
  );
  assert.throws(() => new ClusterModel({ maxDone: -1 }), RangeError);
});

Deno.test("preview: bounded, cut with an ellipsis, never walks more than it shows", () => {
  assert.equal(
    preview([1, "two", { three: 3 }, null, undefined, 5n]),
    '[1, "two", {three: 3}, null, undefined, 5n]',
  );
  assert.equal(preview("x".repeat(1000), 10), '"xxxxxxxx…');
  assert.equal(preview(new Uint8Array(1 << 20)), "Uint8Array(1048576 bytes)");
  assert.equal(preview({ a: { b: { c: { d: 1 } } } }), "{a: {b: {c: {…}}}}");
  assert.equal(preview(new Map([[1, 2]])), "Map(1)");
  assert.equal(preview({ "odd key": 1 }), '{"odd key": 1}');
  assert.equal(preview(job(3)), "task compute");
  const huge = Array.from({ length: 1_000_000 }, (_, i) => i);
  const p = preview(huge, 50);
  assert.equal(p.length, 50);
  assert.ok(p.endsWith("…"));
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  assert.equal(preview(cyclic), "{self: {self: {self: {…}}}}");
});

Deno.test("model: long args are cut to the preview length", () => {
  const model = new ClusterModel({ previewLength: 20 });
  upNode(model);
  model.apply(started(job(1), "compute", ["a".repeat(100)]));
  const args = model.snapshot().running[0].args;
  assert.ok(args.length <= 22 && args.endsWith("…"), args);
});

Deno.test("model: two nodes' jobs with the same local id are two jobs, each ending alone", () => {
  const model = new ClusterModel();
  upNode(model);
  upNode(model, B, ["1"]);
  const [a, b] = [job(7, A), job(7, B)];
  assert.ok(model.apply(started(a, "compute", ["on A"]), 100));
  assert.ok(model.apply(started(b, "compute", ["on B"]), 101));
  let s = model.snapshot();
  assert.deepEqual(s.running.map((j) => [j.key, j.id, j.node, j.args]), [
    ["10.0.0.1:9706/0/7", 7, "10.0.0.1:9706", '"on A"'],
    ["10.0.0.2:9706/0/7", 7, "10.0.0.2:9706", '"on B"'],
  ]);
  assert.equal(model.task("10.0.0.2:9706/0/7"), b);
  assert.equal(model.task("10.0.0.1:9706/0/7"), a);
  // B's job ends: A's goes on, and each node counts its own.
  assert.ok(model.apply(ended(b, "terminated", undefined), 200));
  s = model.snapshot();
  assert.deepEqual(s.running.map((j) => j.key), ["10.0.0.1:9706/0/7"]);
  assert.deepEqual(s.done.map((j) => [j.key, j.outcome]), [["10.0.0.2:9706/0/7", "terminated"]]);
  assert.deepEqual(s.nodes.map((n) => [n.id, n.running, n.done]), [
    ["10.0.0.1:9706", 1, 0],
    ["10.0.0.2:9706", 0, 1],
  ]);
  // A restarted node (another incarnation) reuses ids: its job 7 is another job again.
  const again = { ...job(7, B), incarnation: 2 };
  assert.ok(model.apply(started(again), 300));
  assert.deepEqual(model.snapshot().running.map((j) => j.key), [
    "10.0.0.1:9706/0/7",
    "10.0.0.2:9706/2/7",
  ]);
  assert.equal(jobKey(again), "10.0.0.2:9706/2/7");
  assert.equal(jobKey({ id: 7 }, "10.0.0.3:1"), "10.0.0.3:1/0/7");
  assert.equal(jobKey({ id: 7 }), null); // no node to tell it by
  assert.equal(jobKey({ key: "p/1/7" }), null);
});

Deno.test("model: suspended servers and nodes, in the snapshot and the next batch", () => {
  const model = new ClusterModel({ suspendable: true });
  upNode(model);
  upNode(model, B, ["1"]);
  model.takeChanges();
  assert.equal(model.snapshot().suspendable, true);
  assert.equal(new ClusterModel().snapshot().suspendable, false);
  assert.equal(model.setSuspended("10.0.0.1:9706/2", true, 500), 1);
  const batch = model.takeChanges()!;
  assert.deepEqual(batch.nodes.map((n) => [n.id, n.suspended, n.updated]), [
    ["10.0.0.1:9706", 1, 500],
  ]);
  assert.deepEqual(batch.nodes[0].servers.map((s) => [s.id, s.suspended]), [
    ["1", false],
    ["2", true],
  ]);
  // The whole node, then resumed; what is already so changes nothing.
  assert.equal(model.setSuspended("10.0.0.1:9706", true), 2);
  assert.equal(model.snapshot().nodes[0].suspended, 2);
  model.takeChanges();
  assert.equal(model.setSuspended("10.0.0.1:9706", true), 2);
  assert.equal(model.takeChanges(), null);
  assert.equal(model.setSuspended("10.0.0.1:9706", false), 2);
  const s = model.snapshot();
  assert.deepEqual(s.nodes.map((n) => [n.suspended, n.servers.map((v) => v.suspended)]), [
    [0, [false, false]],
    [0, [false]],
  ]);
  // Unknown targets are no one.
  for (const t of ["10.0.0.9:1", "10.0.0.1:9706/9", "nope", "", "/"]) {
    assert.equal(model.setSuspended(t, true), 0, t);
  }
});
