import assert from "node:assert/strict";
import {
  allocate,
  type JobRequest,
  pickServer,
  placeJobs,
  type ServerLoad,
} from "../../src/compute/placement.ts";

function server(id: string, over: Partial<ServerLoad> = {}): ServerLoad {
  return { id, node: id.split("/")[0], capacity: 1, busy: 0, cpuJobs: 0, ...over };
}

const jobs = (...cs: string[]): JobRequest[] => cs.map((computation) => ({ computation }));

Deno.test("placement: the server with the lowest CPU occupancy wins", () => {
  const servers = [
    server("a/1", { capacity: 4, cpuJobs: 3, busy: 3 }),
    server("a/2", { capacity: 4, cpuJobs: 1, busy: 1 }),
    server("a/3", { capacity: 2, cpuJobs: 1, busy: 1 }),
  ];
  assert.equal(pickServer(servers, "c"), "a/2");
});

Deno.test("placement: a full server takes no CPU-bound job; null when all are full", () => {
  const servers = [server("a/1", { cpuJobs: 1, busy: 1 }), server("a/2", { cpuJobs: 1, busy: 1 })];
  assert.equal(pickServer(servers, "c"), null);
  assert.deepEqual(placeJobs(servers, jobs("c", "c")), []);
  assert.equal(pickServer([], "c"), null);
});

Deno.test("placement: jobs spread over nodes before piling on one", () => {
  const servers = [
    server("a/1", { cpuJobs: 1, busy: 1 }),
    server("a/2"),
    server("b/1"),
    server("b/2"),
  ];
  // a/2 and b/1 are both idle servers, but node a is half full.
  assert.equal(pickServer(servers, "c"), "b/1");
  const placed = placeJobs(servers, jobs("c", "c", "c", "c"));
  assert.deepEqual(placed.map((p) => p.server), ["b/1", "a/2", "b/2"]);
});

Deno.test("placement: measured node load breaks ties, unknown load counts as 0", () => {
  const servers = [
    server("a/1", { nodeLoad: 0.9 }),
    server("b/1", { nodeLoad: 0.2 }),
    server("c/1", { nodeLoad: 0.5 }),
  ];
  assert.equal(pickServer(servers, "x"), "b/1");
  assert.equal(pickServer([...servers, server("d/1", { nodeLoad: null })], "x"), "d/1");
  assert.equal(pickServer([...servers, server("e/1", { nodeLoad: NaN })], "x"), "e/1");
  assert.equal(pickServer([...servers, server("f/1")], "x"), "f/1");
});

Deno.test("placement: fewer jobs in total breaks the next tie, then node and id", () => {
  const servers = [
    server("n/2", { capacity: 2, busy: 3 }),
    server("n/1", { capacity: 2, busy: 5 }),
    server("n/3", { capacity: 2, busy: 3 }),
  ];
  assert.equal(pickServer(servers, "c"), "n/2");
  // All equal: lowest node, then lowest id, in code-unit order (not locale).
  const equal = [server("b/1"), server("B/9"), server("a/2"), server("a/10")];
  assert.equal(pickServer(equal, "c"), "B/9");
  assert.equal(pickServer(equal.filter((s) => s.node !== "B"), "c"), "a/10");
});

Deno.test("placement: the answer does not depend on the order of the snapshot", () => {
  const servers = [
    server("a/1", { capacity: 2, cpuJobs: 1, busy: 2, running: { A: 1 } }),
    server("a/2", { capacity: 1 }),
    server("b/1", { capacity: 2, nodeLoad: 0.3 }),
    server("b/2", { capacity: 2, nodeLoad: 0.3, busy: 1 }),
    server("c/1", { capacity: 1, suspended: true }),
  ];
  const queue = jobs("A", "B", "A", "C", "B", "A", "A", "C");
  const expected = placeJobs(servers, queue);
  let seed = 7;
  const rnd = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  for (let i = 0; i < 50; i++) {
    const shuffled = [...servers].sort(() => rnd() - 0.5);
    assert.deepEqual(placeJobs(shuffled, queue), expected);
  }
});

Deno.test("placement: suspended servers and servers of other computations are skipped", () => {
  const servers = [
    server("a/1", { suspended: true }),
    server("a/2", { computations: ["other"] }),
    server("a/3", { computations: ["c", "other"], busy: 5 }),
  ];
  assert.equal(pickServer(servers, "c"), "a/3");
  assert.equal(pickServer(servers, "c", { async: true }), "a/3");
  assert.equal(pickServer(servers, "nobody"), null);
  assert.equal(pickServer(servers, "nobody", { async: true }), null);
});

Deno.test("placement: async jobs take no CPU slot and are placed even when all slots are full", () => {
  const servers = [
    server("a/1", { cpuJobs: 1, busy: 4 }),
    server("a/2", { cpuJobs: 1, busy: 1 }),
    server("a/3", { capacity: 0, busy: 2 }),
  ];
  assert.equal(pickServer(servers, "c"), null);
  assert.equal(pickServer(servers, "c", { async: true }), "a/2");
  const queue: JobRequest[] = [
    { computation: "c", async: true },
    { computation: "c", async: true },
    { computation: "c", async: true },
    { computation: "c" },
  ];
  // Busy per capacity: a/2 1 → a/2 2 ties a/3 2 (capacity 0 counts as 1) → a/2 by id, then a/3.
  assert.deepEqual(placeJobs(servers, queue), [
    { request: 0, server: "a/2" },
    { request: 1, server: "a/2" },
    { request: 2, server: "a/3" },
  ]);
});

Deno.test("placement: async jobs do not use up the slots CPU-bound jobs need", () => {
  const servers = [server("a/1"), server("a/2")];
  const queue: JobRequest[] = [
    { computation: "c", async: true },
    { computation: "c", async: true },
    { computation: "c" },
    { computation: "c" },
  ];
  const placed = placeJobs(servers, queue);
  assert.equal(placed.length, 4);
  assert.deepEqual(placed.filter((p) => p.request >= 2).map((p) => p.server).sort(), [
    "a/1",
    "a/2",
  ]);
});

Deno.test("placement: a capacity-0 server takes async jobs only", () => {
  const servers = [server("a/1", { capacity: 0 })];
  assert.equal(pickServer(servers, "c"), null);
  assert.equal(pickServer(servers, "c", { async: true }), "a/1");
});

Deno.test("fair share: the computation with the fewest running jobs gets the next slot", () => {
  const servers = [
    server("a/1", { cpuJobs: 1, busy: 1, running: { A: 1 } }),
    server("a/2", { cpuJobs: 1, busy: 1, running: { A: 1 } }),
    server("a/3"),
    server("a/4"),
    server("a/5"),
  ];
  // A runs 2, B none: B's jobs (queued after A's) get slots first until it catches up.
  const placed = placeJobs(servers, jobs("A", "A", "A", "B", "B", "B"));
  assert.deepEqual(placed.map((p) => p.request), [3, 4, 0]);
});

Deno.test("fair share: ties go to the oldest waiting computation, then round-robin", () => {
  const one = [server("a/1")];
  assert.deepEqual(placeJobs(one, jobs("B", "A")), [{ request: 0, server: "a/1" }]);
  assert.deepEqual(placeJobs(one, jobs("A", "B")), [{ request: 0, server: "a/1" }]);
  // B(0) first (oldest); then A has fewer running; then 1–1: B was served longest ago.
  const three = [server("a/1", { capacity: 3 })];
  assert.deepEqual(placeJobs(three, jobs("B", "A", "A", "B")).map((p) => p.request), [0, 1, 3]);
  assert.deepEqual(placeJobs(three, jobs("B", "A", "B", "A")).map((p) => p.request), [0, 1, 2]);
  // Equal running counts: the slots go round.
  const six = [server("a/1", { capacity: 7 })];
  const grants = allocate(six, [
    { computation: "C", cpu: 9, since: 30 },
    { computation: "A", cpu: 9, since: 10 },
    { computation: "B", cpu: 9, since: 20 },
  ]);
  assert.deepEqual(grants.map((g) => g.computation), ["A", "B", "C", "A", "B", "C", "A"]);
});

Deno.test("allocate: works from per-computation counts, whatever the queue's length", () => {
  const servers = [
    server("a/1", { cpuJobs: 1, busy: 1, running: { A: 1 } }),
    server("a/2"),
    server("b/1"),
  ];
  const grants = allocate(servers, [
    { computation: "A", cpu: 1_000_000, async: 2 },
    { computation: "B", cpu: 1_000_000 },
  ]);
  assert.deepEqual(grants, [
    // Async jobs follow node occupancy first: node b is idle, node a half full.
    { computation: "A", server: "b/1", async: true },
    { computation: "A", server: "b/1", async: true },
    { computation: "B", server: "b/1", async: false },
    { computation: "A", server: "a/2", async: false },
  ]);
  // Without a `since`, array order breaks the first tie.
  assert.deepEqual(
    allocate([server("a/1")], [{ computation: "Y", cpu: 1 }, { computation: "X", cpu: 1 }]),
    [
      { computation: "Y", server: "a/1", async: false },
    ],
  );
  assert.deepEqual(allocate([server("a/1")], []), []);
  assert.deepEqual(allocate([], [{ computation: "X", cpu: 3, async: 3 }]), []);
});

Deno.test("allocate: malformed demands are the caller's bug (RangeError)", () => {
  const s = [server("a/1")];
  assert.throws(
    () => allocate(s, [{ computation: "A", cpu: 1 }, { computation: "A", cpu: 2 }]),
    RangeError,
  );
  assert.throws(() => allocate(s, [{ computation: "A", cpu: -1 }]), RangeError);
  assert.throws(() => allocate(s, [{ computation: "A", cpu: 1, async: 0.5 }]), RangeError);
  assert.throws(() => allocate(s, [{ computation: "A", cpu: 1, since: NaN }]), RangeError);
});

Deno.test("allocate: 10,000 calls over a 10,000-job backlog stay cheap", () => {
  // A scheduler calls allocate on every job end; its cost must not grow with the backlog.
  const servers = [server("n/1"), server("n/2", { cpuJobs: 1, busy: 1, running: { A: 1 } })];
  let placed = 0;
  for (let left = 10_000; left > 0; left--) {
    placed += allocate(servers, [{ computation: "A", cpu: left }]).length;
  }
  assert.equal(placed, 10_000);
});

Deno.test("fair share: slots are split evenly between computations with enough jobs", () => {
  const servers = ["a", "b", "c"].flatMap((n) => [server(`${n}/1`), server(`${n}/2`)]);
  const queue = jobs(...Array(10).fill("A"), ...Array(10).fill("B"), ...Array(10).fill("C"));
  const placed = placeJobs(servers, queue);
  assert.equal(placed.length, 6);
  const per = new Map<string, number>();
  for (const p of placed) {
    const c = queue[p.request].computation;
    per.set(c, (per.get(c) ?? 0) + 1);
  }
  assert.deepEqual([...per].sort(), [["A", 2], ["B", 2], ["C", 2]]);
  // Each computation's jobs are taken oldest first.
  const a = placed.filter((p) => queue[p.request].computation === "A").map((p) => p.request);
  assert.deepEqual(a, [0, 1]);
  // Every server got exactly one job.
  assert.equal(new Set(placed.map((p) => p.server)).size, 6);
});

Deno.test("fair share: work-conserving, a lone computation takes every slot", () => {
  const servers = [server("a/1", { capacity: 2 }), server("b/1", { capacity: 2 })];
  const placed = placeJobs(servers, jobs("A", "A", "A", "A", "A"));
  assert.deepEqual(placed.map((p) => p.request), [0, 1, 2, 3]);
});

Deno.test("fair share: no preemption, running jobs of a heavy computation stay", () => {
  const servers = [
    server("a/1", { cpuJobs: 1, busy: 1, running: { A: 1 } }),
    server("a/2", { cpuJobs: 1, busy: 1, running: { A: 1 } }),
    server("a/3", { cpuJobs: 1, busy: 1, running: { A: 1 } }),
  ];
  assert.deepEqual(placeJobs(servers, jobs("B")), []);
  // When one slot frees, B gets it even though A queued first.
  const freed = [...servers.slice(0, 2), server("a/3")];
  assert.deepEqual(placeJobs(freed, jobs("A", "B")), [{ request: 1, server: "a/3" }]);
});

Deno.test("fair share: a computation limited to some servers does not block the others", () => {
  const servers = [
    server("a/1", { computations: ["A"] }),
    server("b/1", { computations: ["A", "B"] }),
    server("c/1", { computations: ["B"] }),
  ];
  const placed = placeJobs(servers, jobs("A", "A", "A", "B", "B"));
  const byServer = Object.fromEntries(placed.map((p) => [p.server, placeJobsQueue(p.request)]));
  function placeJobsQueue(i: number): string {
    return ["A", "A", "A", "B", "B"][i];
  }
  assert.equal(placed.length, 3);
  assert.equal(byServer["a/1"], "A");
  assert.equal(byServer["c/1"], "B");
});

Deno.test("fair share: running counts are summed over the servers of the snapshot", () => {
  const servers = [
    server("a/1", { capacity: 3, cpuJobs: 2, busy: 2, running: { A: 1, B: 1 } }),
    server("b/1", { capacity: 3, cpuJobs: 2, busy: 2, running: { A: 2 } }),
  ];
  // A runs 3, B runs 1: B gets the next two slots, then they alternate.
  const placed = placeJobs(servers, jobs("A", "A", "B", "B"));
  assert.deepEqual(placed.map((p) => p.request), [2, 3]);
});

Deno.test("placement: malformed snapshots are the caller's bug (RangeError)", () => {
  assert.throws(() => pickServer([server("a/1"), server("a/1")], "c"), RangeError);
  assert.throws(() => pickServer([server("a/1", { capacity: -1 })], "c"), RangeError);
  assert.throws(() => pickServer([server("a/1", { busy: 1.5 })], "c"), RangeError);
  assert.throws(() => pickServer([server("a/1", { cpuJobs: NaN })], "c"), RangeError);
  assert.throws(() => placeJobs([server("a/1", { running: { A: -2 } })], jobs("A")), RangeError);
});

Deno.test("placement: the snapshot and the queue are not modified", () => {
  const servers = [server("a/1", { running: { A: 0 } }), server("a/2")];
  const queue = jobs("A", "B");
  const before = JSON.stringify([servers, queue]);
  placeJobs(servers, queue);
  assert.equal(JSON.stringify([servers, queue]), before);
});

Deno.test("placement: random snapshots respect capacity, fairness and work conservation", () => {
  let seed = 12345;
  const rnd = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  const comps = ["A", "B", "C", "D"];
  for (let round = 0; round < 300; round++) {
    const servers: ServerLoad[] = [];
    const nServers = 1 + rnd(8);
    for (let i = 0; i < nServers; i++) {
      const capacity = rnd(4);
      const running: Record<string, number> = {};
      let cpuJobs = 0;
      for (let j = 0; j < rnd(capacity + 1); j++) {
        const c = comps[rnd(comps.length)];
        running[c] = (running[c] ?? 0) + 1;
        cpuJobs++;
      }
      servers.push(server(`n${rnd(3)}/${i}`, {
        capacity,
        cpuJobs,
        busy: cpuJobs + rnd(3),
        running,
        suspended: rnd(6) === 0,
        computations: rnd(3) === 0 ? [comps[rnd(4)], comps[rnd(4)]] : undefined,
        nodeLoad: rnd(2) === 0 ? null : rnd(100) / 100,
      }));
    }
    const queue: JobRequest[] = [];
    for (let i = 0; i < rnd(20); i++) {
      queue.push({ computation: comps[rnd(comps.length)], async: rnd(4) === 0 });
    }
    const placed = placeJobs(servers, queue);
    const used = new Map<string, number>();
    const seen = new Set<number>();
    for (const p of placed) {
      assert.ok(!seen.has(p.request), "a job placed twice");
      seen.add(p.request);
      const s = servers.find((x) => x.id === p.server)!;
      const r = queue[p.request];
      assert.ok(!s.suspended);
      assert.ok(s.computations === undefined || s.computations.includes(r.computation));
      if (!r.async) used.set(s.id, (used.get(s.id) ?? 0) + 1);
    }
    const after = servers.map((s) => ({ ...s, cpuJobs: s.cpuJobs + (used.get(s.id) ?? 0) }));
    for (const s of after) {
      assert.ok(s.cpuJobs <= Math.max(s.capacity, servers.find((x) => x.id === s.id)!.cpuJobs));
    }
    // Work-conserving: no unplaced CPU-bound job has a free eligible slot left.
    for (let i = 0; i < queue.length; i++) {
      if (seen.has(i)) continue;
      assert.equal(pickServer(after, queue[i].computation, { async: queue[i].async }), null);
    }
    // Each computation's CPU-bound jobs are placed oldest first.
    for (const c of comps) {
      const mine = queue.map((r, i) => [r, i] as const).filter(([r]) =>
        r.computation === c && !r.async
      );
      const placedIdx = mine.filter(([, i]) => seen.has(i)).map(([, i]) => i);
      assert.deepEqual(placedIdx, mine.slice(0, placedIdx.length).map(([, i]) => i));
    }
  }
});
